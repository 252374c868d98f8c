"""GRAYSCALE_FLOAT16 image outputs (iOS16 and later: the program returns fp16 and predict() gives a PIL image of
mode 'F', as coremltools does) and EnumeratedShapes on image inputs (the description lists the sizes as
ImageFeatureType.enumeratedSizes; predict() takes a PIL image of each listed size and refuses others).
Compared with PyTorch on the same pixels, in fp32 and fp16 compute; every package is read by coremltools."""
import numpy as np
import pytest
import torch
from PIL import Image

import pt2coreml as ct
from parity import TOL, compare, coremltools_check

try:
    import coremltools
except Exception:  # pragma: no cover
    coremltools = None

PRECISION = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}


def _saved(mlmodel, tmp_path):
    path = str(tmp_path / "m.mlpackage")
    mlmodel.save(path)
    coremltools_check(path)
    return path


def _spec(path):
    return coremltools.models.MLModel(path, skip_model_load=True).get_spec() if coremltools is not None else None


class Depth(torch.nn.Module):
    """An RGB picture -> a one-channel float map (a depth-estimation head in miniature)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c = torch.nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(self.c(x)) * 4.0 - 1.0


def _rgb(w, h, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_grayscale_float16_output(precision, tmp_path):
    tr = torch.jit.trace(Depth().eval(), torch.rand(1, 3, 6, 10))
    inputs = [ct.ImageType(name="img", shape=(1, 3, 6, 10), scale=1 / 255.0)]
    outputs = [ct.ImageType(name="depth", color_layout=ct.colorlayout.GRAYSCALE_FLOAT16)]
    m = ct.convert(tr, inputs=inputs, outputs=outputs, minimum_deployment_target=ct.target.iOS16,
                   compute_precision=PRECISION[precision])
    feat = m._desc["outputs"][0]
    assert (feat["kind"], feat["dtype"], feat["width"], feat["height"], feat["color_space"]) == \
        ("image", "fp16", 10, 6, 40)
    img = _rgb(10, 6)
    ref = tr(torch.tensor(np.asarray(img, np.float32).transpose(2, 0, 1)[None] / 255.0)).detach().numpy()
    out = m.predict({"img": img})["depth"]
    assert isinstance(out, Image.Image) and out.mode == "F" and out.size == (10, 6)
    got = np.asarray(out)
    compare("depth", got[None, None], ref, TOL["fp16"])  # the output is fp16 in both precisions
    assert np.array_equal(got, got.astype(np.float16).astype(np.float32))  # fp16 values
    path = _saved(m, tmp_path)
    if coremltools is not None:
        t = _spec(path).description.output[0].type.imageType
        assert (t.width, t.height, t.colorSpace) == (10, 6, 40)
    again = ct.models.MLModel(path).predict({"img": img})["depth"]
    np.testing.assert_array_equal(np.asarray(again), got)


def test_grayscale_float16_output_of_an_fp16_model(tmp_path):
    """The model itself returns fp16 (a .half() at the end): no cast needed; a GRAYSCALE output of it is cast to fp32."""
    class Half(torch.nn.Module):
        def forward(self, x):
            return (x * 0.5).half()

    tr = torch.jit.trace(Half().eval(), torch.rand(1, 1, 4, 5))
    x = np.random.default_rng(2).random((1, 1, 4, 5)).astype(np.float32) * 200
    ref = (x * 0.5).astype(np.float16)
    for layout, dtype in ((ct.colorlayout.GRAYSCALE_FLOAT16, "fp16"), (ct.colorlayout.GRAYSCALE, "fp32")):
        m = ct.convert(tr, inputs=[ct.TensorType(name="x", shape=(1, 1, 4, 5))],
                       outputs=[ct.ImageType(name="y", color_layout=layout)], minimum_deployment_target=ct.target.iOS16,
                       compute_precision=ct.precision.FLOAT32)
        assert m._desc["outputs"][0]["dtype"] == dtype
        out = np.asarray(m.predict({"x": x})["y"], np.float32)
        want = ref.astype(np.float32)[0, 0]
        if dtype == "fp32":
            want = np.clip(np.rint(want), 0, 255)
        np.testing.assert_array_equal(out, want)
        _saved(m, tmp_path)


def test_grayscale_float16_output_needs_ios16():
    tr = torch.jit.trace(Depth().eval(), torch.rand(1, 3, 4, 4))
    outputs = [ct.ImageType(name="depth", color_layout=ct.colorlayout.GRAYSCALE_FLOAT16)]
    for tgt in (None, ct.target.iOS15):
        with pytest.raises(TypeError, match=r"float16 dtype for outputs .* only supported for deployment target "
                                            r">= iOS16"):
            ct.convert(tr, inputs=[ct.TensorType(name="x", shape=(1, 3, 4, 4))], outputs=outputs,
                       minimum_deployment_target=tgt)
    with pytest.raises(ValueError, match=r"shape \(1, 1, H, W\)"):  # three channels are not a grayscale image
        ct.convert(torch.jit.trace(torch.nn.Identity().eval(), torch.rand(1, 3, 4, 4)),
                   inputs=[ct.TensorType(name="x", shape=(1, 3, 4, 4))], outputs=outputs,
                   minimum_deployment_target=ct.target.iOS16)


def test_grayscale_float16_input_and_output(tmp_path):
    """GRAYSCALE_FLOAT16 in and out: a float image through an fp16 model, mode 'F' both ways."""
    class Blur(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)

    tr = torch.jit.trace(Blur().eval(), torch.rand(1, 1, 7, 9))
    g16 = ct.colorlayout.GRAYSCALE_FLOAT16
    m = ct.convert(tr, inputs=[ct.ImageType(name="g", shape=(1, 1, 7, 9), color_layout=g16)],
                   outputs=[ct.ImageType(name="o", color_layout=g16)], minimum_deployment_target=ct.target.iOS16)
    arr = np.random.default_rng(3).random((7, 9)).astype(np.float32) * 10
    out = m.predict({"g": Image.fromarray(arr)})["o"]
    assert out.mode == "F"
    ref = tr(torch.tensor(arr.astype(np.float16).astype(np.float32))[None, None]).numpy()
    compare("o", np.asarray(out)[None, None], ref, TOL["fp16"])
    path = _saved(m, tmp_path)
    if coremltools is not None:
        spec = _spec(path)
        assert spec.description.input[0].type.imageType.colorSpace == 40
        assert spec.description.output[0].type.imageType.colorSpace == 40


# ---- EnumeratedShapes on image inputs ----

class Pool(torch.nn.Module):
    def __init__(self, cin):
        super().__init__()
        torch.manual_seed(1)
        self.c = torch.nn.Conv2d(cin, 4, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.c(x)).mean(dim=(2, 3))


SIZES = [(1, 3, 8, 8), (1, 3, 12, 10), (1, 3, 6, 14)]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_enumerated_image_sizes(precision, tmp_path):
    tr = torch.jit.trace(Pool(3).eval(), torch.rand(*SIZES[0]))
    it = ct.ImageType(name="img", shape=ct.EnumeratedShapes(shapes=SIZES, default=SIZES[1]), scale=1 / 255.0)
    m = ct.convert(tr, inputs=[it], compute_precision=PRECISION[precision])
    feat = m._desc["inputs"][0]
    assert (feat["kind"], feat["width"], feat["height"]) == ("image", 10, 12)
    assert [list(s) for s in feat["enumerated"]] == [list(s) for s in SIZES]
    path = _saved(m, tmp_path)
    if coremltools is not None:
        t = _spec(path).description.input[0].type.imageType
        assert t.WhichOneof("SizeFlexibility") == "enumeratedSizes"
        assert [(s.width, s.height) for s in t.enumeratedSizes.sizes] == [(8, 8), (10, 12), (14, 6)]
        assert (t.width, t.height) == (10, 12)
    out_name = m._desc["outputs"][0]["name"]
    for model in (m, ct.models.MLModel(path)):
        for k, (_, _, h, w) in enumerate(SIZES):
            img = _rgb(w, h, seed=k)
            ref = tr(torch.tensor(np.asarray(img, np.float32).transpose(2, 0, 1)[None] / 255.0)).detach().numpy()
            compare(out_name, model.predict({"img": img})[out_name], ref, TOL[precision])
        with pytest.raises(ValueError, match=r"'img'.* 9x8 .*not one of the sizes the model takes: 8x8, 10x12, 14x6"):
            model.predict({"img": _rgb(9, 8)})
        with pytest.raises(ValueError, match=r"'img' has shape \(1, 3, 8, 10\), which is not one of the shapes"):
            model.predict({"img": np.zeros((1, 3, 8, 10), np.float32)})


def test_enumerated_image_sizes_grayscale_and_channel_last(tmp_path):
    class NHWC(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2)) * 2.0

    tr = torch.jit.trace(NHWC().eval(), torch.rand(1, 5, 4, 1))
    shapes = [(1, 5, 4, 1), (1, 7, 3, 1)]
    m = ct.convert(tr, inputs=[ct.ImageType(name="g", shape=ct.EnumeratedShapes(shapes=shapes), channel_first=False,
                                            color_layout=ct.colorlayout.GRAYSCALE)],
                   compute_precision=ct.precision.FLOAT32)
    assert [list(s) for s in m._desc["inputs"][0]["enumerated"]] == [[1, 1, 5, 4], [1, 1, 7, 3]]
    out_name = m._desc["outputs"][0]["name"]
    for h, w in ((5, 4), (7, 3)):
        arr = np.random.default_rng(h).integers(0, 256, (h, w), dtype=np.uint8)
        got = m.predict({"g": Image.fromarray(arr)})[out_name]
        compare(out_name, got, np.array([[arr.mean() * 2.0]], np.float32), TOL["fp32"])
    with pytest.raises(ValueError, match="not one of the sizes"):
        m.predict({"g": Image.fromarray(np.zeros((4, 5), np.uint8))})
    path = _saved(m, tmp_path)
    if coremltools is not None:
        t = _spec(path).description.input[0].type.imageType
        assert [(s.width, s.height) for s in t.enumeratedSizes.sizes] == [(4, 5), (3, 7)]


def test_enumerated_image_shapes_errors():
    tr = torch.jit.trace(Pool(3).eval(), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"every enumerated shape must be \(1, C, H, W\) with 3 channel"):
        ct.convert(tr, inputs=[ct.ImageType(name="i", shape=ct.EnumeratedShapes(shapes=[(1, 3, 8, 8), (1, 1, 8, 8)]))])
    with pytest.raises(ValueError, match=r"needs a shape \(1, C, H, W\)"):  # a batch of 2 in one of them
        ct.convert(tr, inputs=[ct.ImageType(name="i", shape=ct.EnumeratedShapes(shapes=[(1, 3, 8, 8), (2, 3, 8, 8)]))])
