"""Errors and warnings users meet when converting, each asserted by its message."""
import copy
import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pt2coreml as ct
from parity import check_parity, compare

_lib = torch.library.Library("pt2c_err", "DEF")
_lib.define("mystery(Tensor x) -> Tensor")
_lib.define("enigma(Tensor x, int k) -> Tensor")
_lib.impl("mystery", lambda x: x * 3, "CPU")
_lib.impl("enigma", lambda x, k: x + k, "CPU")


def _t(*shape, **kw):
    return ct.TensorType(shape=shape, **kw)


# ---- unsupported ops ----
def test_unsupported_ops_listed_with_counts_lines_and_hint():
    class M(torch.nn.Module):
        def forward(self, x):
            a = torch.ops.pt2c_err.mystery(x)
            b = torch.ops.pt2c_err.enigma(a, 2)
            return torch.ops.pt2c_err.mystery(b).relu()

    sm = torch.jit.trace(M().eval(), (torch.randn(2, 3),))
    with pytest.raises(ct.ConversionError) as ei:
        ct.convert(sm, inputs=[_t(2, 3)])
    msg = str(ei.value)
    assert msg.startswith("2 TorchScript op kinds cannot be converted:")
    assert "pt2c_err::mystery (2 uses, first at test_errors.py:" in msg
    assert "a = torch.ops.pt2c_err.mystery(x)" in msg  # the source line
    assert "pt2c_err::enigma (1 use, first at test_errors.py:" in msg
    assert "@pt2coreml.register_torch_op" in msg


# ---- training mode ----
class BnDropTraced(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(3)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.bn(x))


class BnDropScripted(torch.nn.Module):
    """batch_norm and dropout reading self.training, as scripted code does."""

    def __init__(self):
        super().__init__()
        self.register_buffer("rm", torch.randn(3))
        self.register_buffer("rv", torch.rand(3) + 0.5)
        self.w = torch.nn.Parameter(torch.randn(3))
        self.b = torch.nn.Parameter(torch.randn(3))

    def forward(self, x):
        y = F.batch_norm(x, self.rm, self.rv, self.w, self.b, self.training, 0.1, 1e-5)
        return F.dropout(y, 0.5, self.training)


@pytest.mark.parametrize("mode", ["trace", "script"])
def test_training_mode_warns_and_converts_with_dropout_off(mode):
    """Dropout is off in the converted model; a traced batch norm normalizes with the batch's statistics as
    PyTorch did when tracing, scripted code reads self.training as False (running statistics)."""
    torch.manual_seed(0)
    m = BnDropTraced() if mode == "trace" else BnDropScripted()
    if mode == "trace":
        m.bn.running_mean.normal_()
        m.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 5, 5)
    m.train()
    sm = torch.jit.trace(m, (x,), check_trace=False) if mode == "trace" else torch.jit.script(m)
    with torch.no_grad():
        ref = m.eval()(x).numpy()  # after tracing: tracing in train mode moved the running stats
        m.train()
        assert not np.allclose(copy.deepcopy(m)(x).numpy(), ref)  # train mode really differs
        if mode == "trace":
            ref = copy.deepcopy(m.bn)(x).numpy()  # batch statistics, dropout off
    with pytest.warns(UserWarning, match="the model is in training mode; converting with dropout off"):
        mlmodel = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=x.shape)],
                             compute_precision=ct.precision.FLOAT32)
    assert sm.training  # the user's module is left as it was
    out = mlmodel.predict({"x": x.numpy()})
    compare("out", list(out.values())[0], ref, 1e-4)


def test_eval_mode_no_warning():
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=UserWarning)
        check_parity(BnDropTraced(), [torch.randn(1, 3, 4, 4)])


# ---- outputs ----
def test_dict_output_explains_how_to_wrap():
    class M(torch.nn.Module):
        def forward(self, x):
            return {"a": x + 1, "b": x * 2}

    sm = torch.jit.trace(M().eval(), (torch.randn(2),), strict=False)
    with pytest.raises(ValueError, match=r"(?s)the model returns a dict.*Return a tuple instead.*class Wrapped"):
        ct.convert(sm, inputs=[_t(2)])


def test_list_output_from_trace_is_flattened():
    class M(torch.nn.Module):
        def forward(self, x):
            return [x + 1, x * 2]

    sm = torch.jit.trace(M().eval(), (torch.randn(2, 3),), strict=False)
    check_parity(sm, [torch.randn(2, 3)])


def test_output_names():
    class M(torch.nn.Module):
        def forward(self, x):
            return x + 1, x * 2

    sm = torch.jit.trace(M().eval(), (torch.randn(2),))
    with pytest.raises(ValueError, match=r"output names must be unique, got \['a', 'a'\]"):
        ct.convert(sm, inputs=[_t(2)], outputs=[ct.TensorType(name="a"), ct.TensorType(name="a")])
    with pytest.raises(ValueError, match=r"output name\(s\) \['x'\] clash with input names"):
        ct.convert(sm, inputs=[_t(2, name="x")], outputs=[ct.TensorType(name="x"), ct.TensorType(name="y")])
    with pytest.raises(ValueError, match="1 output name was given but the model returns 2 tensors"):
        ct.convert(sm, inputs=[_t(2)], outputs=[ct.TensorType(name="a")])
    with pytest.raises(TypeError, match=r"outputs\[0\] is the string 'a': name outputs with "
                                        r"outputs=\[ct.TensorType\(name='a'\)"):
        ct.convert(sm, inputs=[_t(2)], outputs=["a", "b"])
    m = ct.convert(sm, inputs=[_t(2)], outputs=[ct.TensorType(name="plus"), ct.TensorType(name="times")])
    out = m.predict({m.input_description.__iter__().__next__(): np.ones(2, np.float32)})
    assert sorted(out) == ["plus", "times"] and np.allclose(out["times"], 2)


# ---- inputs ----
class TwoIn(torch.nn.Module):
    def forward(self, x, idx):
        return x * 2 + idx.float()


def _two_in():
    return torch.jit.trace(TwoIn().eval(), (torch.randn(4, 2), torch.tensor([1, 2])))


def test_input_count_names_forward_arguments():
    with pytest.raises(ValueError, match=r"forward takes 2 input\(s\) but inputs= lists 1: .*forward\(x, idx\)"):
        ct.convert(_two_in(), inputs=[_t(4, 2)])


def test_input_names_in_wrong_order():
    with pytest.raises(ValueError, match=r"matched to forward's arguments by position.*\['idx', 'x'\].*"
                                         r"forward takes \(x, idx\)"):
        ct.convert(_two_in(), inputs=[_t(2, name="idx", dtype=np.int32), _t(4, 2, name="x")])


def test_input_rank_mismatch():
    with pytest.raises(ValueError, match=r"inputs\[0\] \(x\): forward's argument 'x' was traced with shape \(4, 2\) "
                                         r"\(rank 2\) but the input is declared with shape \(4, 2, 1\) \(rank 3\)"):
        ct.convert(_two_in(), inputs=[_t(4, 2, 1, name="x"), _t(2, dtype=np.int32)])


def test_input_declared_dtype_is_cast():
    """An index input declared fp32 (traced Long) and a float input declared int32 are cast to the traced
    dtypes at the program's start, as coremltools does."""
    m = ct.convert(_two_in(), inputs=[_t(4, 2, name="x", dtype=np.int32), _t(2, name="idx")],
                   compute_precision=ct.precision.FLOAT32)
    assert m._desc["inputs"][0]["dtype"] == "int32" and m._desc["inputs"][1]["dtype"] == "fp32"
    assert m.op_histogram().get("cast", 0) >= 2
    x = np.arange(8, dtype=np.int32).reshape(4, 2)
    out = m.predict({"x": x, "idx": np.array([3, 0], np.float32)})
    assert np.allclose(list(out.values())[0], x * 2 + [3, 0])


def test_int64_input_narrowed_with_warning():
    with pytest.warns(UserWarning, match=r"inputs\[1\] \(idx\): Core ML has no int64 tensors; the input is int32"):
        m = ct.convert(_two_in(), inputs=[_t(4, 2, name="x"), _t(2, name="idx", dtype=np.int64)],
                       compute_precision=ct.precision.FLOAT32)
    x = np.random.rand(4, 2).astype(np.float32)
    out = m.predict({"x": x, "idx": np.array([3, 0], np.int64)})
    assert np.allclose(list(out.values())[0], x * 2 + [3, 0])
    assert m._desc["inputs"][1]["dtype"] == "int32"


# ---- model files ----
def test_missing_file(tmp_path):
    p = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="no TorchScript file at '.*nope.pt'"):
        ct.convert(str(p), inputs=[_t(2)])


def test_not_torchscript_file(tmp_path):
    p = tmp_path / "weights.pt"
    torch.save({"w": torch.randn(2)}, str(p))  # a state dict, not TorchScript
    with pytest.raises(ValueError, match="is not a TorchScript file saved with torch.jit.save"):
        ct.convert(str(p), inputs=[_t(2)])
    q = tmp_path / "junk.pt"
    q.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a TorchScript file"):
        ct.convert(os.fspath(q), inputs=[_t(2)])


def test_saved_torchscript_file_converts(tmp_path):
    p = tmp_path / "m.pt"
    torch.jit.save(_two_in(), str(p))
    m = ct.convert(str(p), inputs=[_t(4, 2, name="x"), _t(2, name="idx", dtype=np.int32)])
    x = np.random.rand(4, 2).astype(np.float32)
    out = m.predict({"x": x, "idx": np.array([1, 5], np.int32)})
    assert np.allclose(list(out.values())[0], x * 2 + [1, 5], atol=1e-2)


def test_plain_module_is_rejected():
    with pytest.raises(TypeError, match="trace or script it first"):
        ct.convert(torch.nn.ReLU(), inputs=[_t(2)])
