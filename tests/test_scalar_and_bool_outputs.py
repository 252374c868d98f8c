"""Outputs Core ML describes and returns its own way, checked against coremltools' spec:
a rank-0 output is described as an array without a shape and predict() returns it with
shape (1,), as Core ML does; a bool output (Core ML arrays hold no bools) is cast to fp32
0 / 1, as coremltools does, so the model saves and loads."""
import numpy as np
import pytest
import torch

import _ser_models as M
import pt2coreml as ct


def _reference_spec(traced, shape, **kw):
    c = M.ct()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm = c.convert(traced, inputs=[c.TensorType(name="x", shape=shape)], convert_to="mlprogram",
                       skip_model_load=True, **kw)
    path = M.fresh("ref_outputs.mlpackage")
    mm.save(path)
    return M.spec_of(path), path


def _our_spec(m, tmp_path):
    path = str(tmp_path / "ours.mlpackage")
    m.save(path)
    return M.spec_of(path), path


class Sum(torch.nn.Module):
    def forward(self, x):
        return torch.sum(x * x)


class Count(torch.nn.Module):
    def forward(self, x):
        return (x > 0.5).int().sum()


class Mask(torch.nn.Module):
    def forward(self, x):
        return x > 0.5, x + 1


@pytest.mark.parametrize("module", [Sum, Count])
def test_scalar_output_described_and_returned_as_core_ml_does(module, tmp_path):
    x = torch.rand(2, 3)
    tr = torch.jit.trace(module().eval(), x)
    ref_spec, ref_path = _reference_spec(tr, (2, 3))
    m = ct.convert(tr, inputs=[ct.TensorType(name="x", shape=(2, 3))], compute_precision=ct.precision.FLOAT32)
    spec, path = _our_spec(m, tmp_path)
    (ours,), (theirs,) = spec.description.output, ref_spec.description.output
    assert ours.type == theirs.type, (ours.type, theirs.type)
    assert list(ours.type.multiArrayType.shape) == []
    want = tr(x).numpy()
    for model in (m, ct.models.MLModel(path), ct.models.MLModel(ref_path)):
        (got,) = model.predict({"x": x.numpy()}).values()
        assert got.shape == (1,), got.shape
        np.testing.assert_allclose(got[0], want, rtol=1e-2 if model is not m else 1e-6)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_bool_output_is_cast_to_fp32(precision, tmp_path):
    x = torch.rand(2, 3)
    tr = torch.jit.trace(Mask().eval(), x)
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    m = ct.convert(tr, inputs=[ct.TensorType(name="x", shape=(2, 3))], compute_precision=prec)
    assert [f["dtype"] for f in m._desc["outputs"]] == ["fp32", "fp32"]
    ref_spec, _ = _reference_spec(tr, (2, 3))
    spec, path = _our_spec(m, tmp_path)
    assert [o.type for o in spec.description.output] == [o.type for o in ref_spec.description.output]
    mask, plus = tr(x)
    for model in (m, ct.models.MLModel(path)):
        out = model.predict({"x": x.numpy()})
        names = [f["name"] for f in model._desc["outputs"]]
        assert out[names[0]].dtype == np.float32
        np.testing.assert_array_equal(out[names[0]], mask.numpy().astype(np.float32))
        np.testing.assert_allclose(out[names[1]], plus.numpy(), rtol=1e-3)


def test_named_bool_output_keeps_its_name(tmp_path):
    x = torch.rand(4)
    tr = torch.jit.trace(Mask().eval(), x)
    m = ct.convert(tr, inputs=[ct.TensorType(name="x", shape=(4,))],
                   outputs=[ct.TensorType(name="mask"), ct.TensorType(name="y")])
    path = str(tmp_path / "named.mlpackage")
    m.save(path)
    out = ct.models.MLModel(path).predict({"x": np.array([0.1, 0.6, 0.4, 0.9], np.float32)})
    np.testing.assert_array_equal(out["mask"], [0.0, 1.0, 0.0, 1.0])
    assert set(out) == {"mask", "y"}
