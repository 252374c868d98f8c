"""Image inputs/outputs (ct.ImageType), classifiers (ct.ClassifierConfig), metadata round trips and the
errors of this path. Every conversion is run in our runtime and compared with PyTorch applied to the same
preprocessed tensor; every saved package is read back by coremltools (parity.coremltools_check)."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import pt2coreml as ct
from parity import compare, coremltools_check

try:
    import coremltools
except Exception:  # pragma: no cover
    coremltools = None

TOL = {"fp32": 1e-4, "fp16": 1e-2}


class Net(torch.nn.Module):
    def __init__(self, cin, cout=4):
        super().__init__()
        torch.manual_seed(0)
        self.c = torch.nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.c(x))


def _trace(m, shape):
    return torch.jit.trace(m.eval(), torch.rand(*shape))


def _rgb(w, h, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _gray(w, h, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8))


def _saved(mlmodel, tmp_path, name="m"):
    path = str(tmp_path / f"{name}.mlpackage")
    mlmodel.save(path)
    coremltools_check(path)
    return path


SCALE, BIAS = 1 / (0.226 * 255.0), [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]


@pytest.mark.parametrize("layout", ["RGB", "BGR"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_color_image_input(layout, precision, tmp_path):
    tr = _trace(Net(3), (1, 3, 10, 12))
    it = ct.ImageType(name="image", shape=(1, 3, 10, 12), scale=SCALE, bias=BIAS,
                      color_layout=getattr(ct.colorlayout, layout))
    m = ct.convert(tr, inputs=[it], compute_precision=getattr(ct.precision, "FLOAT32" if precision == "fp32" else "FLOAT16"))
    hist = m.op_histogram()
    assert hist.get("mul", 0) >= 1 and hist.get("add", 0) >= 1
    img = _rgb(12, 10)
    px = np.asarray(img, np.float32).transpose(2, 0, 1)[None]
    if layout == "BGR":
        px = px[:, ::-1]
    x = px * SCALE + np.array(BIAS, np.float32).reshape(1, 3, 1, 1)
    ref = tr(torch.tensor(np.ascontiguousarray(x))).detach().numpy()
    out_pil = m.predict({"image": img})
    out_np = m.predict({"image": np.ascontiguousarray(px)})
    name = m._desc["outputs"][0]["name"]
    compare(name, out_pil[name], ref, TOL[precision])
    np.testing.assert_array_equal(out_pil[name], out_np[name])
    path = _saved(m, tmp_path)
    m2 = ct.models.MLModel(path)
    np.testing.assert_array_equal(m2.predict({"image": img})[name], out_pil[name])
    feat = m2._desc["inputs"][0]
    assert (feat["kind"], feat["width"], feat["height"], feat["color_space"]) == ("image", 12, 10, 20 if layout == "RGB" else 30)
    if coremltools is not None:
        spec = coremltools.models.MLModel(path, skip_model_load=True).get_spec()
        t = spec.description.input[0].type.imageType
        assert (t.width, t.height, t.colorSpace) == (12, 10, 20 if layout == "RGB" else 30)


def test_scale_and_bias_ops_skipped_when_trivial():
    tr = _trace(Net(3), (1, 3, 6, 6))
    m = ct.convert(tr, inputs=[ct.ImageType(name="i", shape=(1, 3, 6, 6))], compute_precision=ct.precision.FLOAT32)
    text = m.get_program_text()
    assert "i__scaled__" not in text and "i__biased__" not in text
    m = ct.convert(tr, inputs=[ct.ImageType(name="i", shape=(1, 3, 6, 6), scale=0.5)],
                   compute_precision=ct.precision.FLOAT32)
    assert "i__scaled__" in m.get_program_text() and "i__biased__" not in m.get_program_text()
    m = ct.convert(tr, inputs=[ct.ImageType(name="i", shape=(1, 3, 6, 6), bias=[1, 0, 0])],
                   compute_precision=ct.precision.FLOAT32)
    assert "i__scaled__" not in m.get_program_text() and "i__biased__" in m.get_program_text()


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_grayscale_input(precision, tmp_path):
    tr = _trace(Net(1), (1, 1, 9, 7))
    m = ct.convert(tr, inputs=[ct.ImageType(name="g", shape=(1, 1, 9, 7), scale=1 / 255.0, bias=-0.5,
                                            color_layout=ct.colorlayout.GRAYSCALE)],
                   compute_precision=getattr(ct.precision, "FLOAT32" if precision == "fp32" else "FLOAT16"))
    img = _gray(7, 9)
    x = np.asarray(img, np.float32)[None, None] / 255.0 - 0.5
    ref = tr(torch.tensor(x)).detach().numpy()
    name = m._desc["outputs"][0]["name"]
    compare(name, m.predict({"g": img})[name], ref, TOL[precision])
    _saved(m, tmp_path)


def test_grayscale_float16_input(tmp_path):
    tr = _trace(Net(1), (1, 1, 8, 8))
    it = ct.ImageType(name="g", shape=(1, 1, 8, 8), scale=2.0, color_layout=ct.colorlayout.GRAYSCALE_FLOAT16)
    with pytest.raises(ValueError, match="iOS16"):
        ct.convert(tr, inputs=[it])
    m = ct.convert(tr, inputs=[it], minimum_deployment_target=ct.target.iOS16)
    assert m._desc["inputs"][0]["dtype"] == "fp16"
    arr = np.random.default_rng(1).random((8, 8)).astype(np.float32)
    img = Image.fromarray(arr)  # mode "F"
    x = arr.astype(np.float16).astype(np.float32)[None, None] * 2.0
    ref = tr(torch.tensor(x)).detach().numpy()
    name = m._desc["outputs"][0]["name"]
    compare(name, m.predict({"g": img})[name], ref, TOL["fp16"])
    _saved(m, tmp_path)


def test_channel_last_image_input():
    class NHWC(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2)) * torch.tensor([1.0, 2.0, 3.0])

    tr = _trace(NHWC(), (1, 5, 4, 3))
    m = ct.convert(tr, inputs=[ct.ImageType(name="i", shape=(1, 5, 4, 3), scale=0.1, channel_first=False)],
                   compute_precision=ct.precision.FLOAT32)
    assert m._desc["inputs"][0]["shape"] == [1, 3, 5, 4]
    img = _rgb(4, 5)
    x = np.asarray(img, np.float32)[None] * 0.1
    ref = tr(torch.tensor(x)).detach().numpy()
    name = m._desc["outputs"][0]["name"]
    compare(name, m.predict({"i": img})[name], ref, 1e-5)


def test_image_errors():
    tr = _trace(Net(3), (1, 3, 10, 12))
    m = ct.convert(tr, inputs=[ct.ImageType(name="image", shape=(1, 3, 10, 12))])
    with pytest.raises(ValueError, match=r"expected a 12x10 image.*got 10x12"):
        m.predict({"image": _rgb(10, 12)})
    with pytest.raises(ValueError, match=r"mode 'RGB'.*got mode 'L'.*convert"):
        m.predict({"image": _gray(12, 10)})
    with pytest.raises(ValueError, match=r"mode 'RGB'.*got mode 'RGBA'"):
        m.predict({"image": _rgb(12, 10).convert("RGBA")})
    with pytest.raises(TypeError, match="PIL.Image"):
        m.predict({"image": [[1, 2]]})
    with pytest.raises(ValueError, match=r"shape \(1, 3, 10, 12\)"):
        m.predict({"image": np.zeros((1, 3, 12, 10), np.float32)})
    with pytest.raises(ValueError, match=r"1 channel\(s\) but the shape says 3"):
        ct.convert(tr, inputs=[ct.ImageType(name="image", shape=(1, 3, 10, 12), color_layout=ct.colorlayout.GRAYSCALE)])
    with pytest.raises(ValueError, match="bias needs 3"):
        ct.ImageType(name="image", shape=(1, 3, 10, 12), bias=[1.0, 2.0])


class ToImage(torch.nn.Module):
    def forward(self, x):
        return torch.clamp(255.0 - x, 0.0, 255.0)


@pytest.mark.parametrize("layout", ["RGB", "BGR", "GRAYSCALE"])
def test_image_output(layout, tmp_path):
    ch = 1 if layout == "GRAYSCALE" else 3
    tr = _trace(ToImage(), (1, ch, 6, 8))
    cl = getattr(ct.colorlayout, layout)
    m = ct.convert(tr, inputs=[ct.ImageType(name="img", shape=(1, ch, 6, 8), color_layout=cl)],
                   outputs=[ct.ImageType(name="out", color_layout=cl)], compute_precision=ct.precision.FLOAT32)
    img = _gray(8, 6) if ch == 1 else _rgb(8, 6)
    out = m.predict({"img": img})["out"]
    assert isinstance(out, Image.Image) and out.size == (8, 6) and out.mode == ("L" if ch == 1 else "RGB")
    np.testing.assert_array_equal(np.asarray(out), 255 - np.asarray(img))  # BGR in, BGR out: the same picture
    feat = m._desc["outputs"][0]
    assert (feat["kind"], feat["width"], feat["height"], feat["color_space"]) == ("image", 8, 6, cl.value)
    path = _saved(m, tmp_path)
    if coremltools is not None:
        t = coremltools.models.MLModel(path, skip_model_load=True).get_spec().description.output[0].type
        assert (t.imageType.width, t.imageType.height, t.imageType.colorSpace) == (8, 6, cl.value)
    np.testing.assert_array_equal(np.asarray(ct.models.MLModel(path).predict({"img": img})["out"]), np.asarray(out))


def test_image_output_errors():
    tr = _trace(Net(3, 4), (1, 3, 6, 8))
    with pytest.raises(ValueError, match=r"shape \(1, 3, H, W\).*\(1, 4, 6, 8\)"):
        ct.convert(tr, inputs=[ct.TensorType(name="x", shape=(1, 3, 6, 8))], outputs=[ct.ImageType(name="o")])


# ---- classifiers ----

class Probs(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        torch.manual_seed(0)
        self.l = torch.nn.Linear(5, n)

    def forward(self, x):
        return torch.softmax(self.l(x), dim=-1)


@pytest.mark.parametrize("labels", [["cat", "dög", "bird 🐦", "fish"], [10, 3, 7, 42]], ids=["str", "int"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_classifier(labels, precision, tmp_path):
    tr = _trace(Probs(len(labels)), (1, 5))
    m = ct.convert(tr, inputs=[ct.TensorType(name="x", shape=(1, 5))], classifier_config=ct.ClassifierConfig(labels),
                   compute_precision=getattr(ct.precision, "FLOAT32" if precision == "fp32" else "FLOAT16"))
    assert m.op_histogram().get("classify") == 1
    tol = TOL[precision]
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((1, 5)).astype(np.float32)
        ref = tr(torch.tensor(x)).detach().numpy()[0]
        out = m.predict({"x": x})
        assert set(out) == {"classLabel", "classLabel_probs"}
        probs = out["classLabel_probs"]
        assert list(probs) == labels
        compare("probs", np.array([probs[k] for k in labels]), ref, tol)
        assert out["classLabel"] == labels[int(np.argmax([probs[k] for k in labels]))]
        if precision == "fp32":
            assert out["classLabel"] == labels[int(np.argmax(ref))]
    path = _saved(m, tmp_path)
    m2 = ct.models.MLModel(path)
    x = np.ones((1, 5), np.float32)
    assert m2.predict({"x": x}) == m.predict({"x": x})
    assert m2._desc["predicted_feature_name"] == "classLabel"
    assert m2._desc["predicted_probabilities_name"] == "classLabel_probs"
    kinds = [f["kind"] for f in m2._desc["outputs"]]
    assert kinds == ["int64" if isinstance(labels[0], int) else "string", "dict"]
    if coremltools is not None:
        d = coremltools.models.MLModel(path, skip_model_load=True).get_spec().description
        assert d.predictedFeatureName == "classLabel" and d.predictedProbabilitiesName == "classLabel_probs"
        assert d.output[0].type.WhichOneof("Type") == ("int64Type" if isinstance(labels[0], int) else "stringType")
        key = d.output[1].type.dictionaryType.WhichOneof("KeyType")
        assert key == ("int64KeyType" if isinstance(labels[0], int) else "stringKeyType")


def test_classifier_labels_from_file_and_names(tmp_path):
    labels = ["alpha", "beta", "gamma"]
    f = tmp_path / "labels.txt"
    f.write_text("\n".join(labels) + "\n", encoding="utf-8")
    tr = _trace(Probs(3), (1, 5))
    cfg = ct.ClassifierConfig(str(f), predicted_feature_name="species")
    m = ct.convert(tr, inputs=[ct.TensorType(name="x", shape=(1, 5))], classifier_config=cfg)
    x = np.random.default_rng(0).standard_normal((1, 5)).astype(np.float32)
    out = m.predict({"x": x})
    ref = tr(torch.tensor(x)).detach().numpy()[0]
    assert out["species"] == labels[int(np.argmax(ref))]
    assert list(out["species_probs"]) == labels
    _saved(m, tmp_path)


def test_classifier_with_image_input(tmp_path):
    class Cls(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.c = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.softmax(self.c(x).mean(dim=(2, 3)), dim=1)

    tr = _trace(Cls(), (1, 3, 8, 8))
    m = ct.convert(tr, inputs=[ct.ImageType(name="img", shape=(1, 3, 8, 8), scale=1 / 255.0)],
                   classifier_config=ct.ClassifierConfig(["a", "b", "c", "d"]), compute_precision=ct.precision.FLOAT32)
    img = _rgb(8, 8)
    x = np.asarray(img, np.float32).transpose(2, 0, 1)[None] / 255.0
    ref = tr(torch.tensor(x)).detach().numpy()[0]
    out = m.predict({"img": img})
    compare("probs", np.array(list(out["classLabel_probs"].values())), ref, 1e-4)
    _saved(m, tmp_path)


def test_classifier_errors():
    tr = _trace(Probs(3), (1, 5))
    inputs = [ct.TensorType(name="x", shape=(1, 5))]
    with pytest.raises(ValueError, match="2 class labels.*3 elements"):
        ct.convert(tr, inputs=inputs, classifier_config=ct.ClassifierConfig(["a", "b"]))
    with pytest.raises(TypeError, match="all str or all int"):
        ct.convert(tr, inputs=inputs, classifier_config=ct.ClassifierConfig(["a", 1, "c"]))
    with pytest.raises(ValueError, match="unique"):
        ct.convert(tr, inputs=inputs, classifier_config=ct.ClassifierConfig(["a", "a", "c"]))
    with pytest.raises(ValueError, match="'nope' is not a value"):
        ct.convert(tr, inputs=inputs, classifier_config=ct.ClassifierConfig(["a", "b", "c"],
                                                                            predicted_probabilities_output="nope"))


# ---- metadata ----

def test_metadata_round_trip(tmp_path):
    tr = _trace(Net(3), (1, 3, 8, 8))
    m = ct.convert(tr, inputs=[ct.ImageType(name="input", shape=(1, 3, 8, 8), scale=SCALE, bias=BIAS)])
    out_name = m._desc["outputs"][0]["name"]
    labels = ["background", "chat", "Hund 🐕", "鳥"]
    meta = {"author": "Zoë Ünïcode 作者", "license": "BSD-3-Clause © 2026", "short_description": "Segmentation — démo",
            "version": "1.2.3-β"}
    for k, v in meta.items():
        setattr(m, k, v)
    m.user_defined_metadata["com.apple.coreml.model.preview.type"] = "imageSegmenter"
    m.user_defined_metadata["com.apple.coreml.model.preview.params"] = json.dumps({"labels": labels}, ensure_ascii=False)
    m.user_defined_metadata["clé ü"] = "välue\nwith newline"
    m.input_description["input"] = "An RGB image, 8×8"
    m.output_description[out_name] = "Scores per class — ✓"
    path = _saved(m, tmp_path)
    m2 = ct.models.MLModel(path)
    for k, v in meta.items():
        assert getattr(m2, k) == v
    ud = m2.user_defined_metadata
    assert ud["com.apple.coreml.model.preview.type"] == "imageSegmenter"
    assert json.loads(ud["com.apple.coreml.model.preview.params"]) == {"labels": labels}
    assert ud["clé ü"] == "välue\nwith newline"
    assert ud["pt2coreml.source"].startswith("torch==")
    assert m2.input_description["input"] == "An RGB image, 8×8"
    assert m2.output_description[out_name] == "Scores per class — ✓"
    # saved again: still exact
    path2 = str(tmp_path / "again.mlpackage")
    m2.save(path2)
    m3 = ct.models.MLModel(path2)
    assert m3.user_defined_metadata == m2.user_defined_metadata
    assert m3.author == meta["author"] and m3.input_description["input"] == "An RGB image, 8×8"
    if coremltools is not None:
        spec = coremltools.models.MLModel(path, skip_model_load=True).get_spec()
        md = spec.description.metadata
        assert (md.author, md.license, md.shortDescription, md.versionString) == (
            meta["author"], meta["license"], meta["short_description"], meta["version"])
        assert md.userDefined["com.apple.coreml.model.preview.type"] == "imageSegmenter"
        assert json.loads(md.userDefined["com.apple.coreml.model.preview.params"]) == {"labels": labels}
        assert spec.description.input[0].shortDescription == "An RGB image, 8×8"
    with pytest.raises(KeyError, match="no feature named"):
        m2.input_description["nope"] = "x"
    with pytest.raises(TypeError):
        m2.author = 3


# ---- errors of this path ----

def test_nn_module_instead_of_torchscript():
    with pytest.raises(TypeError, match=r"torch.jit.trace\(model.eval\(\), example_input\)"):
        ct.convert(Net(3), inputs=[ct.TensorType(shape=(1, 3, 8, 8))])


def test_dict_output_explains_wrapping():
    class D(torch.nn.Module):
        def forward(self, x):
            return {"out": x * 2, "aux": x + 1}

    tr = torch.jit.trace(D().eval(), torch.rand(1, 3), strict=False)
    with pytest.raises(ValueError, match=r"(?s)returns a dict.*class Wrapped.*return out\['logits'\]"):
        ct.convert(tr, inputs=[ct.TensorType(shape=(1, 3))])
    with pytest.raises(RuntimeError):  # tracing itself refuses dicts in strict mode: the user's step
        torch.jit.trace(D().eval(), torch.rand(1, 3))
