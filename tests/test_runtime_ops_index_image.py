"""Reference runtime, the indexing and image ops (gather / scatter, sorting, pixel and
image-resampling ops) with parametric activations, norm / log reductions and the image
normalizations. Each test runs a one-op textual program (helpers from test_runtime_ops) and
compares with torch / numpy."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pt2coreml import _core

from test_runtime_ops import RNG, program, randn, run


def T(a):
    return torch.tensor(np.asarray(a))


# ---------------------------------------------------------------- activations
ACT2 = {
    "sigmoid_hard": ({"alpha": 0.2, "beta": 0.5}, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    "scaled_tanh": ({"alpha": 1.7, "beta": 0.6}, lambda x: 1.7 * np.tanh(0.6 * x)),
    "clamped_relu": ({"alpha": 0.1, "beta": 2.0}, lambda x: np.minimum(np.where(x >= 0, x, 0.1 * x), 2.0)),
    "thresholded_relu": ({"alpha": 0.5}, lambda x: np.where(x >= 0.5, x, 0)),
    "linear_activation": ({"alpha": -2.0, "beta": 0.25}, lambda x: -2 * x + 0.25),
    "softsign": ({}, lambda x: x / (1 + np.abs(x))),
}


@pytest.mark.parametrize("name", sorted(ACT2))
@pytest.mark.parametrize("dt", [np.float32, np.float16])
def test_scalar_activations(name, dt):
    x = (randn(2, 3, 7) * 3).astype(dt)
    params, f = ACT2[name]
    run(name, {"x": x}, params, f(x.astype(np.float32)).astype(dt))


def test_hardsigmoid_matches_torch():
    x = randn(50) * 5
    run("sigmoid_hard", {"x": x}, {"alpha": 1 / 6, "beta": 0.5}, F.hardsigmoid(T(x)).numpy(), atol=1e-6)


def test_activation_missing_alpha():
    x = randn(3)
    with pytest.raises(RuntimeError, match="missing required input 'beta'"):
        _core.parse(program("scaled_tanh", {"x": x}, {"alpha": 1.0}, [x])).run([x])


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 4, 3, 3), (2, 3, 2, 2, 2)])
def test_prelu(shape):
    x = randn(*shape) * 2
    C = shape[1]
    alpha = np.full(C, 0.25, np.float32) if len(shape) != 4 else RNG.random(C).astype(np.float32)
    run("prelu", {"x": x}, {"alpha": alpha}, F.prelu(T(x), T(alpha)).numpy())


def test_prelu_fp16():
    x = (randn(1, 3, 4, 4) * 2).astype(np.float16)
    alpha = np.array([0.1, 0.2, 0.3], np.float16)
    ref = F.prelu(T(x.astype(np.float32)), T(alpha.astype(np.float32))).numpy().astype(np.float16)
    run("prelu", {"x": x}, {"alpha": alpha}, ref)


def test_softplus_parametric():
    x = randn(2, 3, 4, 5) * 4
    a = np.array([1.0, 0.5, 2.0], np.float32)
    b = np.array([1.0, 3.0, 0.5], np.float32)
    ref = a[None, :, None, None] * np.log1p(np.exp(b[None, :, None, None] * x.astype(np.float64)))
    run("softplus_parametric", {"x": x}, {"alpha": a, "beta": b}, ref.astype(np.float32))
    # torch.nn.Softplus(beta, threshold=inf) == softplus_parametric(alpha=1/beta, beta=beta)
    ref2 = F.softplus(T(x), beta=2.0, threshold=1e9).numpy()
    run("softplus_parametric", {"x": x}, {"alpha": np.full(3, 0.5, np.float32), "beta": np.full(3, 2.0, np.float32)}, ref2)


def test_logical_xor():
    a = np.array([[True, False], [True, True]])
    b = np.array([False, True])
    run("logical_xor", {"x": a, "y": b}, {}, a ^ b)


# ---------------------------------------------------------------- reductions
REDUCE_NORM_LOG = {
    "reduce_l1_norm": lambda x, ax, k: np.sum(np.abs(x), axis=ax, keepdims=k),
    "reduce_l2_norm": lambda x, ax, k: np.sqrt(np.sum(x * x, axis=ax, keepdims=k)),
    "reduce_log_sum": lambda x, ax, k: np.log(np.sum(x, axis=ax, keepdims=k)),
    "reduce_log_sum_exp": lambda x, ax, k: torch.logsumexp(T(x), dim=ax if ax is not None else tuple(range(x.ndim)),
                                                           keepdim=k).numpy(),
    "reduce_sum_square": lambda x, ax, k: np.sum(x * x, axis=ax, keepdims=k),
}


@pytest.mark.parametrize("name", sorted(REDUCE_NORM_LOG))
@pytest.mark.parametrize("axes,keep", [(None, False), ((1,), True), ((0, 2), False), ((-1,), False), ((0, -1), True)])
def test_reduce_norm_log(name, axes, keep):
    x = randn(3, 4, 5).astype(np.float64)
    if name == "reduce_log_sum":
        x = np.abs(x) + 0.1
    ref = REDUCE_NORM_LOG[name](x, axes, keep)
    params = {"keep_dims": keep}
    if axes is not None:
        params["axes"] = list(axes)
    run(name, {"x": x.astype(np.float32)}, params, np.asarray(ref, np.float32), rtol=1e-5, atol=1e-5)


def test_reduce_log_sum_exp_large_and_fp16():
    x = np.array([[1000.0, 1000.0, -5.0], [-np.inf, -np.inf, -np.inf]], np.float32)
    run("reduce_log_sum_exp", {"x": x}, {"axes": [1]}, torch.logsumexp(T(x), 1).numpy())
    h = (randn(4, 6) * 3).astype(np.float16)
    run("reduce_l2_norm", {"x": h}, {"axes": [1]}, np.linalg.norm(h.astype(np.float32), axis=1).astype(np.float16))


# ---------------------------------------------------------------- normalization
@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 4, 5, 6)])
@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm(shape, affine):
    x = randn(*shape) * 3 + 1
    C = shape[1]
    g, b = randn(C), randn(C)
    params = {"epsilon": 1e-3}
    if affine:
        params.update(gamma=g, beta=b)
    ref = F.instance_norm(T(x), weight=T(g) if affine else None, bias=T(b) if affine else None, eps=1e-3).numpy()
    run("instance_norm", {"x": x}, params, ref, rtol=1e-4, atol=1e-4)


def test_instance_norm_fp16_default_eps():
    x = (randn(1, 2, 4, 4) * 2).astype(np.float16)
    ref = F.instance_norm(T(x.astype(np.float32))).numpy().astype(np.float16)
    run("instance_norm", {"x": x}, {}, ref)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (2, 2, 2, 3, 4)])
def test_l2_norm(shape):
    x = randn(*shape)
    flat = x.reshape(-1, int(np.prod(shape[-3:]))).astype(np.float64)
    ref = (flat / np.sqrt((flat ** 2).sum(1, keepdims=True) + 1e-6)).reshape(shape)
    run("l2_norm", {"x": x}, {}, ref.astype(np.float32))
    ref = (flat / np.sqrt((flat ** 2).sum(1, keepdims=True) + 0.5)).reshape(shape)
    run("l2_norm", {"x": x}, {"epsilon": 0.5}, ref.astype(np.float32))


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("shape", [(2, 7, 4, 4), (1, 6, 9)])
def test_local_response_norm(size, shape):
    x = randn(*shape) * 3
    ref = F.local_response_norm(T(x), size, alpha=0.01, beta=0.6, k=2.0).numpy()
    run("local_response_norm", {"x": x}, {"size": size, "alpha": 0.01, "beta": 0.6, "k": 2.0}, ref, rtol=1e-5, atol=1e-5)
    ref = F.local_response_norm(T(x), size).numpy()
    run("local_response_norm", {"x": x}, {"size": size}, ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- gather / scatter
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dt", [np.float32, np.float16, np.int32])
def test_gather_along_axis(axis, dt):
    x = (randn(3, 4, 5) * 10).astype(dt)
    ishape = list(x.shape)
    ishape[axis] = 6
    idx = RNG.integers(0, x.shape[axis], ishape).astype(np.int32)
    ref = torch.gather(T(x), axis, T(idx).long()).numpy()
    neg = np.where(RNG.random(idx.shape) < 0.3, idx - x.shape[axis], idx).astype(np.int32)
    run("gather_along_axis", {"x": x, "indices": neg}, {"axis": axis}, ref, rtol=0, atol=0)


def test_gather_along_axis_out_of_range():
    x, idx = randn(2, 3), np.array([[0, 3, 1], [0, 0, 0]], np.int32)
    with pytest.raises(RuntimeError, match="index 3 out of range for dim 1 of size 3"):
        _core.parse(program("gather_along_axis", {"x": x, "indices": idx}, {"axis": 1}, [x])).run([x, idx])


def np_gather_nd(x, idx, bd=0):
    if bd == 0:
        flat = idx.reshape(-1, idx.shape[-1])
        out = np.stack([x[tuple(t)] for t in flat]) if len(flat) else np.zeros((0,) + x.shape[idx.shape[-1]:], x.dtype)
        return out.reshape(idx.shape[:-1] + x.shape[idx.shape[-1]:])
    return np.stack([np_gather_nd(x[b], idx[b], bd - 1) for b in range(x.shape[0])])


@pytest.mark.parametrize("xs,ish,bd", [((4, 5, 6), (3, 2), 0), ((4, 5, 6), (2, 3, 3), 0), ((4, 5, 6), (7, 1), 0),
                                       ((4, 5, 6), (4, 3, 1), 1), ((2, 3, 5, 6), (2, 3, 4, 2), 2)])
def test_gather_nd(xs, ish, bd):
    x = randn(*xs)
    K = ish[-1]
    idx = np.stack([RNG.integers(0, xs[bd + k], ish[:-1]) for k in range(K)], -1).astype(np.int32)
    ref = np_gather_nd(x, idx, bd)
    run("gather_nd", {"x": x, "indices": idx}, {"batch_dims": bd} if bd else {}, ref, rtol=0, atol=0)


MODES = {"update": lambda d, u: u, "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
         "max": np.maximum, "min": np.minimum}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("axis", [0, -1])
def test_scatter(mode, axis):
    data = randn(4, 5)
    idx = np.array([3, 0, 3, -1], np.int32) if axis == 0 else np.array([1, 4, 4], np.int32)
    ush = list(data.shape)
    ush[axis] = len(idx)
    upd = randn(*ush) + (2.0 if mode == "div" else 0.0)
    ref = data.copy().astype(np.float64)
    f = MODES[mode]
    for j, q in enumerate(idx):
        if axis == 0:
            ref[q] = f(ref[q], upd[j])
        else:
            ref[:, q] = f(ref[:, q], upd[:, j])
    run("scatter", {"data": data, "indices": idx, "updates": upd}, {"axis": axis, "mode": mode}, ref.astype(np.float32))


def test_scatter_default_mode_is_add_and_int():
    data = np.arange(12, dtype=np.int32).reshape(3, 4)
    idx = np.array([2, 2], np.int32)
    upd = np.ones((2, 4), np.int32) * 5
    ref = data.copy()
    ref[2] += 10
    run("scatter", {"data": data, "indices": idx, "updates": upd}, {}, ref)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_scatter_along_axis_matches_torch(axis):
    data = randn(3, 4, 5)
    ish = list(data.shape)
    ish[axis] = 2
    # distinct indices per line so "update" is deterministic in torch
    perm = np.argsort(RNG.random(list(data.shape[:axis]) + [data.shape[axis]] + list(data.shape[axis + 1:]) if axis != -1
                                 else list(data.shape)), axis=axis)
    idx = np.take(perm, np.arange(2), axis=axis).astype(np.int32)
    upd = randn(*ish)
    ref = torch.scatter(T(data), axis, T(idx).long(), T(upd)).numpy()
    run("scatter_along_axis", {"data": data, "indices": idx, "updates": upd}, {"axis": axis, "mode": "update"}, ref)
    ref = torch.scatter_add(T(data), axis, T(idx).long(), T(upd)).numpy()
    run("scatter_along_axis", {"data": data, "indices": idx, "updates": upd}, {"axis": axis}, ref)
    ref = torch.scatter_reduce(T(data), axis, T(idx).long(), T(upd), "amax").numpy()
    run("scatter_along_axis", {"data": data, "indices": idx, "updates": upd}, {"axis": axis, "mode": "max"}, ref)


@pytest.mark.parametrize("mode", ["update", "add", "mul"])
def test_scatter_nd(mode):
    data = randn(4, 5, 3)
    idx = np.array([[0, 1], [3, 4], [0, 1]], np.int32)
    upd = randn(3, 3)
    ref = data.copy()
    for t, u in zip(idx, upd):
        ref[tuple(t)] = MODES[mode](ref[tuple(t)], u)
    run("scatter_nd", {"data": data, "indices": idx, "updates": upd}, {"mode": mode}, ref)
    idx1 = np.array([[2], [-1]], np.int32)
    upd1 = randn(2, 5, 3)
    ref = data.copy()
    ref[2] += upd1[0]
    ref[3] += upd1[1]
    run("scatter_nd", {"data": data, "indices": idx1, "updates": upd1}, {}, ref)


# ---------------------------------------------------------------- slicing and layout
def test_slice_by_size():
    x = randn(5, 6, 7)
    run("slice_by_size", {"x": x}, {"begin": [1, 0, -3], "size": [2, -1, 3]}, x[1:3, :, 4:7])
    b, s = np.array([0, 2, 1], np.int32), np.array([5, 3, -1], np.int32)
    run("slice_by_size", {"x": x, "begin": b, "size": s}, {}, x[:, 2:5, 1:])
    with pytest.raises(RuntimeError, match="out of range"):
        run("slice_by_size", {"x": x}, {"begin": [4, 0, 0], "size": [2, 1, 1]}, x[4:6, :1, :1])


@pytest.mark.parametrize("axes", [None, [0], [-1], [0, 2], [1, 2]])
def test_reverse(axes):
    x = randn(3, 4, 5)
    ref = np.flip(x, axis=tuple(axes) if axes is not None else None).copy()
    run("reverse", {"x": x}, {"axes": axes} if axes is not None else {}, ref)
    xi = np.arange(6, dtype=np.int32).reshape(2, 3)
    run("reverse", {"x": xi}, {"axes": [1]}, xi[:, ::-1].copy())


@pytest.mark.parametrize("lower,upper", [(-1, 0), (0, -1), (0, 0), (1, 2), (-1, -1), (2, -1)])
def test_band_part(lower, upper):
    x = randn(2, 5, 6)
    m = np.arange(5)[:, None]
    n = np.arange(6)[None, :]
    keep = ((lower < 0) | (m - n <= lower)) & ((upper < 0) | (n - m <= upper))
    run("band_part", {"x": x}, {"lower": lower, "upper": upper}, np.where(keep, x, 0).astype(np.float32))
    if (lower, upper) == (-1, 0):
        np.testing.assert_array_equal(np.where(keep, x, 0), torch.tril(T(x)).numpy())


def test_flatten2d():
    x = randn(2, 3, 4, 5)
    for axis, shape in [(1, (2, 60)), (0, (1, 120)), (-1, (24, 5)), (4, (120, 1)), (-4, (1, 120))]:
        run("flatten2d", {"x": x}, {"axis": axis}, x.reshape(shape))
    run("flatten2d", {"x": x}, {}, x.reshape(2, 60))


# ---------------------------------------------------------------- sorting
@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("ascending", [False, True])
def test_topk(axis, ascending):
    x = RNG.permutation(60).astype(np.float32).reshape(3, 4, 5)
    k = 2
    v, i = torch.topk(T(x), k, dim=axis, largest=not ascending)
    run("topk", {"x": x}, {"k": k, "axis": axis, "ascending": ascending}, [v.numpy(), i.numpy().astype(np.int32)])


def test_topk_variants():
    x = RNG.permutation(30).astype(np.int32).reshape(5, 6)
    v, i = torch.topk(T(x), 1)
    run("topk", {"x": x}, {}, [v.numpy(), i.numpy().astype(np.int32)])
    v, i = torch.sort(T(x), dim=0, descending=True)
    run("topk", {"x": x}, {"k": -1, "axis": 0}, [v.numpy(), i.numpy().astype(np.int32)])
    h = RNG.permutation(40).astype(np.float16).reshape(4, 10)
    v, i = torch.topk(T(h.astype(np.float32)), 3)
    run("topk", {"x": h}, {"k": 3}, [v.numpy().astype(np.float16), i.numpy().astype(np.int32)])
    run("topk", {"x": h}, {"k": 3, "return_indices": False}, [v.numpy().astype(np.float16)])
    nan = np.array([1.0, np.nan, 3.0, -2.0], np.float32)
    v, i = torch.topk(T(nan), 2)
    run("topk", {"x": nan}, {"k": 2}, [v.numpy(), i.numpy().astype(np.int32)])


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("ascending", [False, True])
def test_argsort(axis, ascending):
    x = RNG.integers(0, 5, (6, 7)).astype(np.float32)  # ties: stable order
    ref = torch.argsort(T(x), dim=axis, descending=not ascending, stable=True).numpy().astype(np.int32)
    run("argsort", {"x": x}, {"axis": axis, "ascending": ascending}, ref)
    xi = x.astype(np.int32)
    run("argsort", {"x": xi}, {"axis": axis, "ascending": ascending}, ref)


# ---------------------------------------------------------------- cumsum, one_hot, non_zero, fill, range
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum(axis, exclusive, reverse):
    x = randn(3, 4, 5)
    t = np.flip(x, axis) if reverse else x
    ref = np.cumsum(t.astype(np.float64), axis=axis)
    if exclusive:
        ref = ref - t
    if reverse:
        ref = np.flip(ref, axis)
    run("cumsum", {"x": x}, {"axis": axis, "exclusive": exclusive, "reverse": reverse}, ref.astype(np.float32),
        rtol=1e-5, atol=1e-5)
    xi = np.arange(12, dtype=np.int32).reshape(3, 4)
    run("cumsum", {"x": xi}, {"axis": -1}, np.cumsum(xi, -1).astype(np.int32))


@pytest.mark.parametrize("axis", [-1, 0, 1, -2])
def test_one_hot(axis):
    idx = np.array([[0, 3, 1], [2, 2, 7]], np.int32)
    ref = F.one_hot(T(np.clip(idx, 0, 4)).long(), 5).numpy().astype(np.int32)
    ref[1, 2] = 0  # out-of-range index: all off
    ref = np.moveaxis(ref, -1, axis if axis >= 0 else axis + 3)
    run("one_hot", {"indices": idx}, {"one_hot_vector_size": 5, "axis": axis}, ref)
    run("one_hot", {"indices": idx}, {"one_hot_vector_size": 5, "axis": axis, "on_value": 2.5, "off_value": -1.0},
        np.where(ref == 1, 2.5, -1.0).astype(np.float32))
    # depth from a run-time tensor
    run("one_hot", {"indices": idx, "one_hot_vector_size": np.array(5, np.int32)}, {"axis": axis}, ref)


@pytest.mark.parametrize("dt", [np.float32, np.int32, np.bool_, np.float16])
def test_non_zero(dt):
    x = (RNG.random((3, 4, 2)) < 0.4).astype(dt)
    run("non_zero", {"x": x}, {}, torch.nonzero(T(x)).numpy().astype(np.int32))
    run("non_zero", {"x": np.zeros((2, 3), dt)}, {}, np.zeros((0, 2), np.int32))


def test_non_zero_runtime_shapes():
    """non_zero's row count is only known at run time; later ops run on it."""
    text = """program(CoreML5)
func main(%x: fp32[s0,3]) {
  %z: fp32[] = const(val=0.5)
  %m: bool[s0,3] = greater(x=%x, y=%z)
  %i: int32[s1,2] = non_zero(x=%m)
  %g: fp32[s1] = gather_nd(x=%x, indices=%i)
  %ax: int32[1] = const(val=[0])
  %s: fp32[] = reduce_sum(x=%g, axes=%ax)
} -> (%i, %g, %s)
"""
    p = _core.parse(text)
    for n in (1, 4, 9):
        x = RNG.random((n, 3)).astype(np.float32)
        i, g, s = p.run([x])
        np.testing.assert_array_equal(i, np.argwhere(x > 0.5))
        np.testing.assert_array_equal(g, x[x > 0.5])
        np.testing.assert_allclose(s, x[x > 0.5].sum(), rtol=1e-6)
    p.run_pass("reinfer")


def test_fill_and_fill_like():
    run("fill", {}, {"shape": [2, 3], "value": 1.5}, np.full((2, 3), 1.5, np.float32))
    run("fill", {}, {"shape": [4]}, np.zeros(4, np.float32))
    run("fill", {"shape": np.array([3, 1, 2], np.int32)}, {"value": np.array(7, np.int32)}, np.full((3, 1, 2), 7, np.int32))
    run("fill", {}, {"shape": [2], "value": np.array(True)}, np.ones(2, np.bool_))
    ref = randn(2, 5)
    run("fill_like", {"ref_tensor": ref}, {"value": -2.0}, np.full((2, 5), -2.0, np.float32))
    run("fill_like", {"ref_tensor": ref.astype(np.float16)}, {"value": np.array(3, np.int32)}, np.full((2, 5), 3, np.int32))
    run("fill_like", {"ref_tensor": ref}, {}, np.zeros((2, 5), np.float32))


@pytest.mark.parametrize("se", [(0, 10, 1), (2, 11, 3), (10, 0, -3), (5, 5, 1), (5, 0, 1), (-4, 4, 3)])
def test_range_1d(se):
    s, e, d = se
    run("range_1d", {}, {"start": s, "end": e, "step": d}, np.arange(s, e, d, dtype=np.int32))
    f = np.arange(np.float32(s * 0.5), np.float32(e * 0.5 + 0.1), np.float32(d * 0.7), dtype=np.float64).astype(np.float32)
    run("range_1d", {}, {"start": s * 0.5, "end": e * 0.5 + 0.1, "step": d * 0.7}, f)
    run("range_1d", {"start": np.array(s, np.int32), "end": np.array(e, np.int32), "step": np.array(d, np.int32)}, {},
        np.arange(s, e, d, dtype=np.int32))


# ---------------------------------------------------------------- pixel rearranging
@pytest.mark.parametrize("f", [1, 2, 3])
@pytest.mark.parametrize("dt", [np.float32, np.float16])
def test_pixel_shuffle_unshuffle(f, dt):
    x = randn(2, 2 * f * f, 3, 5).astype(dt)
    y = F.pixel_shuffle(T(x.astype(np.float32)), f).numpy().astype(dt)
    run("pixel_shuffle", {"x": x}, {"upscale_factor": f}, y, rtol=0, atol=0)
    run("pixel_unshuffle", {"x": y}, {"downscale_factor": f}, x, rtol=0, atol=0)
    assert np.array_equal(F.pixel_unshuffle(T(y.astype(np.float32)), f).numpy().astype(dt), x)


def np_depth_to_space(x, b):  # TensorFlow DCR order on NCHW
    n, c, h, w = x.shape
    t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    return t.reshape(n, c // (b * b), h * b, w * b)


@pytest.mark.parametrize("b", [2, 3])
def test_depth_space(b):
    x = randn(2, 3 * b * b, 4, 3)
    y = np_depth_to_space(x, b)
    run("depth_to_space", {"x": x}, {"block_size": b}, y, rtol=0, atol=0)
    run("space_to_depth", {"x": y}, {"block_size": b}, x, rtol=0, atol=0)
    # matches the MIL op's own example (one channel per block)
    v = np.array([[[[9.0]], [[5.0]], [[1.0]], [[3.0]]]], np.float32)
    run("depth_to_space", {"x": v}, {"block_size": 2}, np.array([[[[9.0, 5.0], [1.0, 3.0]]]], np.float32))


def np_space_to_batch(x, bs, pads):  # TensorFlow SpaceToBatchND on the H, W dims of NCHW
    x = np.pad(x, ((0, 0), (0, 0), tuple(pads[0]), tuple(pads[1])))
    n, c, h, w = x.shape
    t = x.reshape(n, c, h // bs[0], bs[0], w // bs[1], bs[1]).transpose(3, 5, 0, 1, 2, 4)
    return t.reshape(n * bs[0] * bs[1], c, h // bs[0], w // bs[1])


@pytest.mark.parametrize("bs,pads", [((2, 2), ((0, 0), (0, 0))), ((2, 3), ((1, 1), (2, 1))), ((1, 2), ((0, 1), (1, 0)))])
def test_space_batch(bs, pads):
    x = randn(2, 3, 4 + 2 - sum(pads[0]), 6 - sum(pads[1]))
    y = np_space_to_batch(x, bs, pads)
    run("space_to_batch", {"x": x}, {"block_shape": list(bs), "paddings": np.array(pads, np.int32)}, y, rtol=0, atol=0)
    run("batch_to_space", {"x": y}, {"block_shape": list(bs), "crops": np.array(pads, np.int32)}, x, rtol=0, atol=0)


# ---------------------------------------------------------------- resampling
def interp(x, **kw):
    return F.interpolate(T(x), **kw).numpy()


@pytest.mark.parametrize("hw,s", [((4, 5), (2, 2)), ((5, 3), (3, 2)), ((7, 6), (1.5, 2.5)), ((6, 9), (0.5, 1 / 3))])
@pytest.mark.parametrize("dt", [np.float32, np.float16])
def test_upsample_nearest(hw, s, dt):
    x = randn(1, 2, *hw).astype(dt)
    oh, ow = int(np.floor(np.float32(s[0]) * hw[0])), int(np.floor(np.float32(s[1]) * hw[1]))
    # scale = out / in, as a converter derives it from the output size
    ref = interp(x.astype(np.float32), size=(oh, ow), mode="nearest").astype(dt)
    sc = {"scale_factor_height": float(oh / hw[0]), "scale_factor_width": float(ow / hw[1])}
    run("upsample_nearest_neighbor", {"x": x}, sc, ref, rtol=0, atol=0)
    if all(float(v).is_integer() for v in s):
        run("upsample_nearest_neighbor", {"x": x}, {"scale_factor_height": int(s[0]), "scale_factor_width": int(s[1])}, ref)


def test_upsample_nearest_given_scale_and_rank3():
    x = randn(3, 5, 5)
    ref = interp(x[None], scale_factor=1.7, mode="nearest")[0]  # torch uses floor(i / 1.7)
    run("upsample_nearest_neighbor", {"x": x}, {"scale_factor_height": 1.7, "scale_factor_width": 1.7}, ref)


@pytest.mark.parametrize("hw,out", [((4, 5), (8, 10)), ((5, 3), (11, 7)), ((6, 8), (3, 5)), ((1, 4), (3, 1))])
def test_resize_nearest(hw, out):
    x = randn(2, 3, *hw)
    run("resize_nearest_neighbor", {"x": x}, {"target_size_height": out[0], "target_size_width": out[1]},
        interp(x, size=out, mode="nearest"), rtol=0, atol=0)


@pytest.mark.parametrize("hw,s", [((4, 5), (2, 2)), ((5, 3), (3, 2)), ((6, 7), (1.5, 2.5)), ((8, 6), (0.5, 0.5))])
@pytest.mark.parametrize("mode", ["align_corners", "half_pixel", "asymmetric"])
def test_upsample_bilinear(hw, s, mode):
    x = randn(1, 2, *hw)
    oh, ow = int(np.floor(np.float32(s[0]) * hw[0])), int(np.floor(np.float32(s[1]) * hw[1]))
    params = {"scale_factor_height": float(s[0]), "scale_factor_width": float(s[1])}
    if mode == "align_corners":
        ref = interp(x, size=(oh, ow), mode="bilinear", align_corners=True)
        run("upsample_bilinear", {"x": x}, params, ref, rtol=1e-5, atol=1e-5)  # align_corners defaults to True
    elif mode == "half_pixel":
        ref = interp(x, size=(oh, ow), mode="bilinear", align_corners=False)
        run("upsample_bilinear", {"x": x}, dict(params, align_corners=False), ref, rtol=1e-5, atol=1e-5)
        run("upsample_bilinear", {"x": x}, dict(params, align_corners=False, half_pixel_centers=True), ref, rtol=1e-5,
            atol=1e-5)
    else:  # TF's asymmetric (align_corners=False, half_pixel_centers=False): src = i * in / out
        ys, xs = np.arange(oh) * hw[0] / oh, np.arange(ow) * hw[1] / ow
        ref = np_bilinear(x, ys, xs)
        run("upsample_bilinear", {"x": x}, dict(params, align_corners=False, half_pixel_centers=False), ref,
            rtol=1e-5, atol=1e-5)


def np_bilinear(x, ys, xs):
    H, W = x.shape[-2:]
    ys, xs = np.clip(ys, 0, H - 1), np.clip(xs, 0, W - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, H - 1), np.minimum(x0 + 1, W - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = x[..., y0[:, None], x0[None, :]], x[..., y0[:, None], x1[None, :]]
    c, d = x[..., y1[:, None], x0[None, :]], x[..., y1[:, None], x1[None, :]]
    return ((a * (1 - wx) + b * wx) * (1 - wy) + (c * (1 - wx) + d * wx) * wy).astype(np.float32)


def grid_points(mode, X, Y):
    i = np.arange(Y, dtype=np.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if Y == 1:
            return np.array([0.0 if mode == "STRICT_ALIGN_CORNERS" else (X - 1) / 2])
        return i * (X - 1) / (Y - 1)
    if mode == "DEFAULT":
        return i * X / Y
    if mode == "OFFSET_CORNERS":
        delta = max(1, X - 1) / Y
        return 0.5 * delta + i * delta
    return (i + 0.5) * X / Y - 0.5


@pytest.mark.parametrize("mode", ["STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT", "OFFSET_CORNERS", "UNALIGN_CORNERS"])
@pytest.mark.parametrize("hw,out", [((4, 5), (7, 10)), ((6, 6), (3, 4)), ((2, 3), (1, 5))])
def test_resize_bilinear(mode, hw, out):
    x = randn(1, 3, *hw)
    ref = np_bilinear(x.astype(np.float64), grid_points(mode, hw[0], out[0]), grid_points(mode, hw[1], out[1]))
    params = {"target_size_height": out[0], "target_size_width": out[1], "sampling_mode": mode}
    run("resize_bilinear", {"x": x}, params, ref, rtol=1e-5, atol=1e-5)
    if mode == "UNALIGN_CORNERS":
        run("resize_bilinear", {"x": x}, params, interp(x, size=out, mode="bilinear", align_corners=False),
            rtol=1e-5, atol=1e-5)
    if mode == "STRICT_ALIGN_CORNERS" and min(out) > 1:
        run("resize_bilinear", {"x": x}, params, interp(x, size=out, mode="bilinear", align_corners=True),
            rtol=1e-5, atol=1e-5)


def test_resize_bilinear_doc_grid():
    # the grid points MIL documents for Xin = 2, Xout = 5 / 6, probed with x = [0, 1]
    x = np.array([[[[0.0, 1.0]]]], np.float32)
    docs = {("DEFAULT", 5): [0, .4, .8, 1, 1], ("OFFSET_CORNERS", 5): [.1, .3, .5, .7, .9],
            ("UNALIGN_CORNERS", 6): [0, 0, 1 / 3, 2 / 3, 1, 1], ("ALIGN_CORNERS", 6): [0, .2, .4, .6, .8, 1]}
    for (mode, n), want in docs.items():
        run("resize_bilinear", {"x": x}, {"target_size_height": 1, "target_size_width": n, "sampling_mode": mode},
            np.array(want, np.float32).reshape(1, 1, 1, n), atol=1e-6)


@pytest.mark.parametrize("sampling", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_resample_matches_grid_sample(sampling, padding, align):
    x = randn(2, 3, 5, 7)
    g = (RNG.random((2, 4, 6, 2)) * 3 - 1.5).astype(np.float32)  # reaches outside [-1, 1]
    if sampling == "nearest":  # keep clear of .5 ties, where rounding conventions may differ
        for k, n in ((0, 7), (1, 5)):
            u = ((g[..., k] + 1) / 2 * (n - 1)) if align else (((g[..., k] + 1) * n - 1) / 2)
            u = np.where(np.abs(u - np.floor(u) - 0.5) < 0.05, u + 0.2, u)
            g[..., k] = (u / (n - 1) * 2 - 1) if align else ((2 * u + 1) / n - 1)
    ref = F.grid_sample(T(x), T(g), mode=sampling, padding_mode=padding, align_corners=align).numpy()
    pm = {"zeros": "constant", "border": "border", "reflection": "reflection" if align else "symmetric"}[padding]
    params = {"sampling_mode": sampling, "padding_mode": pm, "padding_value": 0.0,
              "coordinates_mode": "normalized_minus_one_to_one", "align_corners": align}
    run("resample", {"x": x, "coordinates": g}, params, ref, rtol=1e-4, atol=1e-4)


def test_resample_other_modes():
    x = randn(1, 1, 3, 4)
    g = np.array([[[[0.0, 0.0], [3.0, 2.0], [1.5, 0.5], [-1.0, 0.0]]]], np.float32)  # unnormalized (x, y)
    p = {"sampling_mode": "bilinear", "padding_mode": "constant", "padding_value": 9.0, "coordinates_mode": "unnormalized",
         "align_corners": True}
    v = x[0, 0]
    mid = (v[0, 1] + v[0, 2] + v[1, 1] + v[1, 2]) / 4
    left = 0.0 * v[0, 0] + 9.0  # entirely in the padding
    run("resample", {"x": x, "coordinates": g}, p, np.array([[[[v[0, 0], v[2, 3], mid, left]]]], np.float32))
    g01 = (g + np.array([1, 1], np.float32)) / np.array([5.0, 4.0], np.float32)  # [0, 1] coordinates, align_corners
    gm = g01 * 2 - 1
    ref = F.grid_sample(T(x), T(gm * np.array([3 / 3, 2 / 2], np.float32)), align_corners=True).numpy()
    p01 = dict(p, coordinates_mode="normalized_zero_to_one", padding_value=0.0)
    run("resample", {"x": x, "coordinates": g01}, p01, ref, rtol=1e-5, atol=1e-5)
