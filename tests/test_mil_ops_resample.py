"""The MIL image ops that sample at computed positions, and conv_quantized, as packages coremltools writes
them: resize (iOS17), crop_resize (iOS15/16 roi, iOS17 boxes), affine (iOS15) and conv_quantized (iOS15).
Each program is built with coremltools' MIL builder, saved, loaded and predicted by pt2coreml (see
test_runtime_mil_ops.run_mil) and compared with numpy (or torch) written from the op's MIL documentation,
over the sampling modes, box conventions, align_corners and quantization layouts. Where coremltools' own op
tests state expected numbers, those are checked too. Skipped when coremltools is not importable."""
import numpy as np
import pytest

pytest.importorskip("coremltools")

from test_runtime_mil_ops import run_mil  # noqa: E402

RNG = np.random.default_rng(11)
MODES = ["STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT", "OFFSET_CORNERS", "UNALIGN_CORNERS"]


def grid_points(mode, X, Y):
    """resize_bilinear's grid (coremltools iOS15 image_resizing.py, Notes): Y points sampled from an input
    interval [0, X - 1], clipped into it."""
    i = np.arange(Y, dtype=np.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if Y == 1:
            g = np.full(1, 0.0 if mode == "STRICT_ALIGN_CORNERS" else (X - 1) / 2)
        else:
            g = i * (X - 1) / (Y - 1)
    elif mode == "DEFAULT":
        g = i * ((X - X / Y) / (Y - 1)) if Y > 1 else np.zeros(1)
    elif mode == "OFFSET_CORNERS":
        delta = max(1, X - 1) / Y
        g = 0.5 * delta + i * delta
    else:
        spacing = X / Y
        g = i * spacing + 0.5 * spacing - 0.5
    return np.clip(g, 0, X - 1)


def lerp_axis(a, axis, pos):
    """a sampled at fractional positions pos along axis (linear between neighbours)."""
    n = a.shape[axis]
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0).reshape([-1 if k == axis else 1 for k in range(a.ndim)])
    return np.take(a, i0, axis=axis) * (1 - w) + np.take(a, i1, axis=axis) * w


# ---------------------------------------------------------------- resize (iOS17)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(7, 3), (1, 5), (4, 1)])
def test_resize_linear_sampling_modes(tmp_path, mode, size):
    x = RNG.standard_normal((2, 3, 4, 6)).astype(np.float32)
    (y,), ops = run_mil(tmp_path, lambda mb, x: mb.resize(x=x, shape=np.array(size, np.int32), resized_dims=np.uint32(2),
                                                          sampling_mode=mode), {"x": x})
    assert "resize" in ops
    ref = lerp_axis(x.astype(np.float64), 2, grid_points(mode, 4, size[0]))
    ref = lerp_axis(ref, 3, grid_points(mode, 6, size[1]))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_resize_keeps_dims_given_as_zero_and_one_resized_dim(tmp_path):
    x = RNG.standard_normal((2, 5, 6)).astype(np.float32)
    # shape [1, 0, 9] with resized_dims 2: dim 1 keeps x's 5, dim 2 becomes 9; dim 0 is not resized
    (y, z), _ = run_mil(tmp_path, lambda mb, x: [
        mb.resize(x=x, shape=np.array([1, 0, 9], np.int32), resized_dims=np.uint32(2)),
        mb.resize(x=x, shape=np.array([3], np.int32), resized_dims=np.uint32(1), sampling_mode="ALIGN_CORNERS")], {"x": x})
    assert y.shape == (2, 5, 9) and z.shape == (2, 5, 3)
    x64 = x.astype(np.float64)
    ref = lerp_axis(lerp_axis(x64, 1, grid_points("DEFAULT", 5, 5)), 2, grid_points("DEFAULT", 6, 9))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(z, lerp_axis(x64, 2, grid_points("ALIGN_CORNERS", 6, 3)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_resize_nearest_neighbor(tmp_path, dtype):
    x = (RNG.standard_normal((1, 2, 5, 4)) * 100).astype(dtype)
    (y,), _ = run_mil(tmp_path, lambda mb, x: mb.resize(x=x, shape=np.array([8, 3], np.int32), resized_dims=np.uint32(2),
                                                        interpolation_mode="NEAREST_NEIGHBOR"), {"x": x})
    # TensorFlow's ResizeNearestNeighbor (what coremltools maps to it): source floor(i * in / out)
    rows, cols = np.arange(8) * 5 // 8, np.arange(3) * 4 // 3
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y, x[:, :, rows][:, :, :, cols])


def test_resize_to_a_shape_known_at_run_time(tmp_path):
    x = RNG.standard_normal((1, 2, 4, 5)).astype(np.float32)
    s = np.array([6, 3], np.int32)
    (y,), _ = run_mil(tmp_path, lambda mb, x, y: mb.resize(x=x, shape=y, resized_dims=np.uint32(2),
                                                           sampling_mode="UNALIGN_CORNERS"), {"x": x, "y": s})
    ref = lerp_axis(lerp_axis(x.astype(np.float64), 2, grid_points("UNALIGN_CORNERS", 4, 6)), 3,
                    grid_points("UNALIGN_CORNERS", 5, 3))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_resize_fp16(tmp_path):
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    (y,), _ = run_mil(tmp_path, lambda mb, x: mb.resize(x=x, shape=np.array([9, 4], np.int32), resized_dims=np.uint32(2),
                                                        sampling_mode="ALIGN_CORNERS"), {"x": x}, fp16=True)
    ref = lerp_axis(lerp_axis(x.astype(np.float64), 2, grid_points("ALIGN_CORNERS", 6, 9)), 3,
                    grid_points("ALIGN_CORNERS", 6, 4))
    np.testing.assert_allclose(y, ref, rtol=1e-2, atol=1e-2)


# ---------------------------------------------------------------- crop_resize
def corners(box, mode):
    """[h_start, w_start, h_end, w_end] of a box in one of MIL's four box_coordinate_modes."""
    a, b, c, d = (float(v) for v in box)
    if mode == "CORNERS_HEIGHT_FIRST":
        return a, b, c, d
    if mode == "CORNERS_WIDTH_FIRST":
        return b, a, d, c
    if mode == "CENTER_SIZE_HEIGHT_FIRST":
        return a - c / 2, b - d / 2, a + c / 2, b + d / 2
    return b - d / 2, a - c / 2, b + d / 2, a + c / 2


def crop_ref(img, box, th, tw, mode, box_mode="CORNERS_HEIGHT_FIRST", normalized=False, scale=1.0, pad=0.0):
    """One crop of img [C, H, W]: the box is an interval [start, end] per axis whose grid points follow
    `mode` as resize_bilinear's do over [0, Xin - 1], Xin - 1 being the box's extent; points off the image
    are pad_value (tf.image.crop_and_resize's extrapolation_value)."""
    C, H, W = img.shape
    h0, w0, h1, w1 = corners(box, box_mode)
    fy, fx = (H - 1 if normalized else 1) * scale, (W - 1 if normalized else 1) * scale
    h0, h1, w0, w1 = h0 * fy, h1 * fy, w0 * fx, w1 * fx

    def pts(a, b, n):
        span = abs(b - a)
        return a + np.sign(b - a if b != a else 1) * np.clip(grid_points(mode, span + 1, n), 0, span)

    ys, xs = pts(h0, h1, th), pts(w0, w1, tw)
    out = np.full((C, th, tw), pad, np.float64)
    for i, py in enumerate(ys):
        for j, px in enumerate(xs):
            if 0 <= py <= H - 1 and 0 <= px <= W - 1:
                out[:, i, j] = lerp_axis(lerp_axis(img.astype(np.float64), 1, np.array([py])), 2, np.array([px]))[:, 0, 0]
    return out


def test_crop_resize_matches_coremltools_stated_values(tmp_path):
    # coremltools' TestCropResize (ops/tests/iOS14/test_image_resizing.py): x = 1..16 as 4 x 4, ALIGN_CORNERS
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
    roi = np.array([1, 1, 2, 2], np.float32).reshape(1, 1, 4, 1, 1)
    roi_norm = np.array([0, 0, 0, 1 / 3, 1 / 3], np.float32).reshape(1, 1, 5, 1, 1)
    roi_inv = np.array([2, 2, 1, 1], np.float32).reshape(1, 1, 4, 1, 1)

    def build(mb, x):
        kw = dict(box_coordinate_mode="CORNERS_HEIGHT_FIRST", sampling_mode="ALIGN_CORNERS")
        return [mb.crop_resize(x=x, roi=roi, target_height=2, target_width=2, **kw),
                mb.crop_resize(x=x, roi=roi, target_height=4, target_width=4, **kw),
                mb.crop_resize(x=x, roi=roi, target_height=1, target_width=1, **kw),
                mb.crop_resize(x=x, roi=roi_norm, target_height=2, target_width=2, normalized_coordinates=True, **kw),
                mb.crop_resize(x=x, roi=roi_inv, target_height=2, target_width=2, **kw)]

    outs, ops = run_mil(tmp_path, build, {"x": x}, target="iOS15")
    assert "crop_resize" in ops
    third = 1 / 3
    want = [np.array([6, 7, 10, 11]).reshape(2, 2),
            6 + np.add.outer(np.arange(4) * 4 * third, np.arange(4) * third),
            np.array([[8.5]]),
            np.array([1, 2, 5, 6]).reshape(2, 2),
            np.array([11, 10, 7, 6]).reshape(2, 2)]
    for y, w in zip(outs, want):
        assert y.shape == (1, 1, 1) + w.shape
        np.testing.assert_allclose(y[0, 0, 0], w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("box_mode", ["CORNERS_HEIGHT_FIRST", "CORNERS_WIDTH_FIRST", "CENTER_SIZE_HEIGHT_FIRST",
                                      "CENTER_SIZE_WIDTH_FIRST"])
def test_crop_resize_iOS17_boxes(tmp_path, mode, box_mode):
    x = RNG.standard_normal((3, 2, 7, 9)).astype(np.float32)
    boxes = np.array([[0.5, 1.0, 5.0, 7.5], [2.0, 0.0, 4.0, 3.0], [1.0, 6.0, 6.5, 2.0]], np.float32)
    idx = np.array([2, 0, 2], np.int32)
    (y,), ops = run_mil(tmp_path, lambda mb, x, y: mb.crop_resize(
        x=x, boxes=y, box_indices=idx, target_height=3, target_width=4, box_coordinate_mode=box_mode,
        sampling_mode=mode, pad_value=-2.0), {"x": x, "y": boxes})
    assert "crop_resize" in ops and y.shape == (3, 2, 3, 4)
    for n in range(3):
        ref = crop_ref(x[idx[n]], boxes[n], 3, 4, mode, box_mode, pad=-2.0)
        np.testing.assert_allclose(y[n], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("normalized,scale", [(False, 0.5), (True, 1.0), (True, 2.0)])
def test_crop_resize_iOS16_roi_every_image_and_pad(tmp_path, normalized, scale):
    # roi [N, 1, 4, 1, 1]: every box crops every image of the batch; boxes reach off the image (pad_value)
    x = RNG.standard_normal((2, 3, 6, 5)).astype(np.float32)
    boxes = np.array([[0.1, 0.2, 0.9, 0.7], [-0.3, 0.5, 0.6, 1.4]], np.float32)
    if not normalized:
        boxes = boxes * 8
    roi = boxes.reshape(2, 1, 4, 1, 1)
    (y,), _ = run_mil(tmp_path, lambda mb, x: mb.crop_resize(
        x=x, roi=roi, target_height=4, target_width=3, normalized_coordinates=normalized, spatial_scale=scale,
        sampling_mode="OFFSET_CORNERS", pad_value=1.5), {"x": x}, target="iOS16")
    assert y.shape == (2, 2, 3, 4, 3)
    for n in range(2):
        for b in range(2):
            ref = crop_ref(x[b], boxes[n], 4, 3, "OFFSET_CORNERS", normalized=normalized, scale=scale, pad=1.5)
            np.testing.assert_allclose(y[n, b], ref, rtol=1e-5, atol=1e-5)


def test_crop_resize_iOS17_default_box_indices_fp16(tmp_path):
    x = RNG.standard_normal((2, 2, 5, 5)).astype(np.float32)
    boxes = np.array([[0.0, 0.0, 0.5, 1.0], [0.25, 0.25, 1.0, 0.75]], np.float32)
    (y,), _ = run_mil(tmp_path, lambda mb, x: mb.crop_resize(
        x=x, boxes=boxes, target_height=3, target_width=3, normalized_coordinates=True,
        sampling_mode="ALIGN_CORNERS"), {"x": x}, fp16=True)
    for n in range(2):  # box n crops image n
        ref = crop_ref(x[n], boxes[n], 3, 3, "ALIGN_CORNERS", normalized=True)
        np.testing.assert_allclose(y[n], ref, rtol=1e-2, atol=1e-2)


# ---------------------------------------------------------------- affine (iOS15)
def test_affine_matches_coremltools_stated_values(tmp_path):
    # coremltools' TestAffine (ops/tests/iOS15/test_image_resizing.py)
    x = np.array([11.0, 22.0, 33.0, 44.0], np.float32).reshape(1, 1, 2, 2)
    m = np.array([-1.0, -2.0, -3.7, -1.0, 3.5, 1.2], np.float32).reshape(1, 6)
    kw = dict(sampling_mode="bilinear", padding_mode="constant", padding_value=0.0,
              coordinates_mode="normalized_minus_one_to_one", align_corners=True)
    (a, b), ops = run_mil(tmp_path, lambda mb, x, y: [mb.affine(x=x, transform_matrix=y, output_height=3, output_width=3, **kw),
                                                      mb.affine(x=x, transform_matrix=y, output_height=2, output_width=5, **kw)],
                          {"x": x, "y": m}, target="iOS15")
    assert "affine" in ops
    np.testing.assert_allclose(a.ravel(), [10.752501, 2.5025, 0.0, 1.9799997, 0, 0, 0, 0, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.ravel(), [10.752501, 5.94, 2.5025, 0.44000006, 0, 0, 0, 0, 0, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("out", [(5, 4), (1, 6)])
def test_affine_is_torch_affine_grid_then_grid_sample(tmp_path, align_corners, rows, out):
    # coremltools writes torch's affine_grid + grid_sample (bilinear, zeros) as one affine op
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = RNG.standard_normal((3, 2, 6, 7)).astype(np.float32)
    theta = (np.eye(2, 3) + RNG.normal(0, 0.4, (rows, 2, 3))).astype(np.float32)
    (y,), _ = run_mil(tmp_path, lambda mb, x, y: mb.affine(
        x=x, transform_matrix=y, output_height=out[0], output_width=out[1], sampling_mode="bilinear",
        padding_mode="constant", padding_value=0.0, coordinates_mode="normalized_minus_one_to_one",
        align_corners=align_corners), {"x": x, "y": theta.reshape(rows, 6)}, target="iOS15")
    th = torch.from_numpy(np.broadcast_to(theta, (3, 2, 3)).astype(np.float64).copy())
    grid = F.affine_grid(th, [3, 2, *out], align_corners=align_corners)
    ref = F.grid_sample(torch.from_numpy(x.astype(np.float64)), grid, mode="bilinear", padding_mode="zeros",
                        align_corners=align_corners).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- conv_quantized (iOS15)
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("conv", [dict(), dict(strides=[2, 1], pad_type="same", groups=2),
                                  dict(pad_type="custom", pad=[1, 0, 2, 1], dilations=[1, 2])])
def test_conv_quantized_linear(tmp_path, per_channel, conv):
    torch = pytest.importorskip("torch")
    groups = conv.get("groups", 1)
    x = RNG.standard_normal((2, 4, 7, 8)).astype(np.float32)
    q = RNG.integers(0, 256, (6, 4 // groups, 3, 3)).astype(np.uint8)
    scale = (RNG.uniform(0.005, 0.02, 6) if per_channel else np.array([0.01])).astype(np.float32)
    zero = (RNG.uniform(-1.5, -0.5, 6) if per_channel else np.array([-1.25])).astype(np.float32)
    # the conv bias shares the weight's type domain (uint8) and is added as it is (NeuralNetwork's conv bias)
    bias = RNG.integers(0, 6, 6).astype(np.uint8) if per_channel else None

    def build(mb, x):
        kw = dict(conv, bias=bias) if bias is not None else dict(conv)
        return mb.conv_quantized(x=x, weight=q, quantization_type="linear", nbits=8, quant_scale=scale,
                                 quant_bias=zero, **kw)

    (y,), ops = run_mil(tmp_path, build, {"x": x}, target="iOS15")
    assert "conv_quantized" in ops
    # W_float = W_quantized * scale + bias (MIL conv_quantized), per output channel when given per channel
    w = q.astype(np.float64) * scale.reshape(-1, 1, 1, 1) + zero.reshape(-1, 1, 1, 1)
    xt = torch.from_numpy(x.astype(np.float64))
    if conv.get("pad_type") == "custom":
        p = conv["pad"]
        xt = torch.nn.functional.pad(xt, (p[2], p[3], p[0], p[1]))
    elif conv.get("pad_type") == "same":  # stride 2 on H (7 -> 4): total pad 2 rows, 2 columns, half before
        xt = torch.nn.functional.pad(xt, (1, 1, 1, 1))
    ref = torch.nn.functional.conv2d(xt, torch.from_numpy(w), None if bias is None else torch.from_numpy(bias.astype(np.float64)),
                                     stride=conv.get("strides", [1, 1]), dilation=conv.get("dilations", [1, 1]),
                                     groups=groups).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_conv_quantized_fp16(tmp_path):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    q = RNG.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)
    (y,), _ = run_mil(tmp_path, lambda mb, x: mb.conv_quantized(
        x=x, weight=q, quantization_type="linear", quant_scale=np.float32(0.004), quant_bias=np.float32(-0.5)),
        {"x": x}, target="iOS15", fp16=True)
    w = q.astype(np.float64) * 0.004 - 0.5
    ref = torch.nn.functional.conv2d(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w)).numpy()
    np.testing.assert_allclose(y, ref, rtol=2e-2, atol=2e-2)
