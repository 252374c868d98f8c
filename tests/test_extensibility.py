"""register_torch_op + mb: user converters for TorchScript ops, checked numerically against PyTorch."""
import gc
import sys

import numpy as np
import pytest
import torch

import pt2coreml as ct
from pt2coreml import _core, _mb, _registry, mb, register_torch_op
from parity import check_parity

# ---- custom TorchScript ops (torch.library), defined once per process ----
_lib = torch.library.Library("pt2c_test", "DEF")
_lib.define("scaled_add(Tensor x, Tensor y, float a) -> Tensor")
_lib.define("rms_norm(Tensor x, float eps) -> Tensor")
_lib.define("halves(Tensor x) -> (Tensor, Tensor)")
_lib.impl("scaled_add", lambda x, y, a: x + a * y, "CPU")
_lib.impl("rms_norm", lambda x, eps: x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps), "CPU")
_lib.impl("halves", lambda x: (x[..., : x.shape[-1] // 2].clone(), x[..., x.shape[-1] // 2:].clone()), "CPU")


@pytest.fixture(autouse=True)
def clean_registry():
    saved = dict(_registry._REGISTRY)
    _registry._REGISTRY.clear()
    yield
    _registry._REGISTRY.clear()
    _registry._REGISTRY.update(saved)


class ScaledAdd(torch.nn.Module):
    def forward(self, x, y):
        return torch.ops.pt2c_test.scaled_add(x, y, 0.5).relu()


class RmsNorm(torch.nn.Module):
    def forward(self, x):
        return torch.ops.pt2c_test.rms_norm(x, 1e-6)


class Halves(torch.nn.Module):
    def forward(self, x):
        a, b = torch.ops.pt2c_test.halves(x)
        return a * b


# ---- overriding built-ins ----
def test_selu_composite():
    # override=True works whether or not pt2coreml converts aten::selu itself

    @register_torch_op(override=True)
    def selu(context, node):
        x = context[node.inputs[0]]
        y = mb.elu(x=x, alpha=1.6732632)
        context.add(mb.mul(x=y, y=1.0507010, name=node.name))

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.selu(x) + 1

    m, _ = check_parity(M(), [torch.randn(2, 3, 5) * 3])
    hist = ct.utils.op_histogram(m)
    assert hist.get("elu") == 1, hist


def test_override_relu_is_used_and_scripted():
    calls = []

    @register_torch_op(override=True)
    def relu(context, node):
        calls.append(node.kind)
        x = context[node.inputs[0]]
        context.add(mb.maximum(x=x, y=0.0, name=node.name))

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x * 2) - torch.nn.functional.relu(x)

    m, _ = check_parity(M(), [torch.randn(4, 6)], script=True)
    hist = m.op_histogram()
    assert "relu" not in hist and hist["maximum"] == 2, hist
    assert calls == ["aten::relu", "aten::relu"]


def test_override_needed_for_builtin():
    def relu(context, node):
        pass

    with pytest.raises(ValueError, match=r"'relu' is already converted by pt2coreml \(aten::relu.*override=True"):
        register_torch_op(relu)
    register_torch_op(relu, override=True)  # fine with override
    with pytest.raises(TypeError, match="torch_alias must be a list"):
        register_torch_op(torch_alias="my::op")(relu)


def test_duplicate_registration_needs_override():
    @register_torch_op(torch_alias=["pt2c_test::scaled_add"])
    def my_add(context, node):
        pass

    with pytest.raises(ValueError, match="'pt2c_test::scaled_add' already has a registered converter"):
        register_torch_op(torch_alias=["pt2c_test::scaled_add"])(lambda c, n: None)


# ---- new ops in a custom namespace ----
def test_custom_namespace_op_traced():
    seen = {}

    @register_torch_op(torch_alias=["pt2c_test::scaled_add"])
    def scaled_add(context, node):
        x, y, a = (context[n] for n in node.inputs)
        seen.update(kind=node.kind, a=a, const=node.const_inputs, x=(x.shape, x.dtype))
        context.add(mb.add(x=x, y=mb.mul(x=y, y=a)), torch_name=node.outputs[0])

    m, _ = check_parity(ScaledAdd(), [torch.randn(2, 8), torch.randn(2, 8)])
    assert seen["kind"] == "pt2c_test::scaled_add"
    assert isinstance(seen["a"], float) and seen["a"] == 0.5
    assert list(seen["const"].values()) == [0.5]
    assert seen["x"] == ((2, 8), "fp32")
    assert m.op_histogram()["relu"] == 1


def test_custom_op_emitting_several_ops_scripted_fp16():
    @register_torch_op(torch_alias=["pt2c_test::rms_norm"])
    def custom_rms_norm(context, node):  # not `rms_norm`: aten::rms_norm is built in
        x = context[node.inputs[0]]
        eps = context[node.inputs[1]]
        ms = mb.reduce_mean(x=mb.mul(x=x, y=x), axes=[-1], keep_dims=True)
        r = mb.rsqrt(x=mb.add(x=ms, y=eps))
        context.add(mb.mul(x=x, y=r, name=node.name))

    for prec in ("fp32", "fp16"):
        m, _ = check_parity(RmsNorm(), [torch.randn(3, 16)], precision=prec, script=True)
    hist = m.op_histogram()
    assert hist["reduce_mean"] == 1 and hist["rsqrt"] == 1 and hist["mul"] == 2, hist


def test_custom_op_with_two_outputs_split():
    @register_torch_op(torch_alias=["pt2c_test::halves"])
    def halves(context, node):
        x = context[node.inputs[0]]
        parts = mb.split(x=x, num_splits=2, axis=-1)
        assert isinstance(parts, tuple) and len(parts) == 2
        context.add(parts)  # binds both outputs in order

    check_parity(Halves(), [torch.randn(2, 3, 10)])


def test_symbolic_shapes_and_var_properties():
    seen = {}

    @register_torch_op(torch_alias=["pt2c_test::scaled_add"])
    def scaled_add(context, node):
        x, y, a = (context[n] for n in node.inputs)
        seen["x"] = x
        seen["shape"], seen["dtype"], seen["name"] = x.shape, x.dtype, x.name
        out = mb.add(x=x, y=mb.mul(x=y, y=a), name=node.name)
        seen["repr"] = repr(out)
        context.add(out)

    x = torch.randn(3, 8)
    t = [ct.TensorType(name="x", shape=(ct.RangeDim(1, 10), 8)), ct.TensorType(name="y", shape=(ct.RangeDim(1, 10), 8))]
    check_parity(ScaledAdd(), [x, torch.randn(3, 8)], input_types=t, check_coremltools=False)
    assert seen["shape"] == (None, 8) and seen["dtype"] == "fp32" and seen["name"] == "x"
    assert seen["repr"].startswith("Var(") and "fp32[" in seen["repr"]
    # after conversion a Var keeps its description but cannot be used to build ops
    assert seen["x"].name == "x" and seen["x"].shape == (None, 8)
    with pytest.raises(RuntimeError, match="finished"):
        seen["x"].val


# ---- mb: every op, errors at build time ----
def test_mb_has_every_mil_op():
    ops = set(_core.mil_ops())
    assert set(dir(mb)) == ops
    assert set(_mb.PARAMS) == ops - {"const"}, "mb parameter table out of date with ops.def"
    for op in ops:
        assert callable(getattr(mb, op))


def test_mb_outside_a_converter():
    with pytest.raises(RuntimeError, match=r"mb.relu\(\) builds into the program being converted"):
        mb.relu(x=1.0)


def test_mb_errors_name_op_and_problem():
    errors = {}

    @register_torch_op(override=True)
    def _convolution(context, node):
        x, w = context[node.inputs[0]], context[node.inputs[1]]
        bad = np.zeros((4, 5, 3, 3), np.float32)  # 5 input channels, x has 3
        for key, call in [
            ("channels", lambda: mb.conv(x=x, weight=bad)),
            ("unknown", lambda: mb.conv(x=x, weight=w, stride=[1, 1])),
            ("missing", lambda: mb.conv(x=x)),
            ("nonconst", lambda: mb.transpose(x=x, perm=mb.shape(x=x))),
            ("type", lambda: mb.add(x=x, y=object())),
            ("broadcast", lambda: mb.add(x=x, y=np.zeros((7,), np.float32))),
        ]:
            with pytest.raises((ValueError, TypeError)) as ei:
                call()
            errors[key] = str(ei.value)
        y = mb.conv(x=x, weight=w, pad_type="same", name=node.name)  # defaults are filled in
        context.add(y)

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)

        def forward(self, x):
            return self.c(x)

    m, _ = check_parity(M(), [torch.randn(1, 3, 8, 8)])
    assert "conv" in errors["channels"] and "channel" in errors["channels"], errors["channels"]
    assert errors["unknown"].startswith("mb.conv: unknown input(s) ['stride']")
    assert errors["missing"] == "mb.conv: missing required input(s) ['weight']"
    assert "mb.transpose: input 'perm' must be a constant" in errors["nonconst"]
    assert "mb.add: input 'y'" in errors["type"]
    assert "add" in errors["broadcast"] and "broadcast" in errors["broadcast"]
    text = m.get_program_text()
    assert "dilations=" in text and "groups=" in text


# ---- failures inside converters: reported with the node, nothing leaks ----
def test_converter_exception_names_node_and_is_released():
    class Boom(Exception):
        pass

    held = []

    def scaled_add(context, node):
        held.append(context[node.inputs[0]])
        raise Boom("no luck")

    register_torch_op(scaled_add, torch_alias=["pt2c_test::scaled_add"])
    sm = torch.jit.trace(ScaledAdd().eval(), (torch.randn(2, 8), torch.randn(2, 8)))
    types = [ct.TensorType(shape=(2, 8)), ct.TensorType(shape=(2, 8))]
    gc.collect()
    before = sys.getrefcount(scaled_add)
    for _ in range(3):
        with pytest.raises(ct.ConversionError) as ei:
            ct.convert(sm, inputs=types)
        msg = str(ei.value)
        assert "pt2c_test::scaled_add" in msg and "raised Boom: no luck" in msg and "test_extensibility.py" in msg
        assert isinstance(ei.value.__context__, Boom)
        del ei
    gc.collect()
    assert sys.getrefcount(scaled_add) == before
    assert held[0].name and held[0].dtype == "fp32"  # cached description survives
    assert repr(held[0]) == f"Var({held[0].name})"
    with pytest.raises(RuntimeError):
        held[0].val


def test_converter_must_bind_outputs():
    @register_torch_op(torch_alias=["pt2c_test::scaled_add"])
    def scaled_add(context, node):
        mb.relu(x=context[node.inputs[0]])

    sm = torch.jit.trace(ScaledAdd().eval(), (torch.randn(2, 8), torch.randn(2, 8)))
    with pytest.raises(ct.ConversionError, match=r"did not bind output 0 .*context.add"):
        ct.convert(sm, inputs=[ct.TensorType(shape=(2, 8)), ct.TensorType(shape=(2, 8))])


def test_context_add_unknown_output():
    @register_torch_op(torch_alias=["pt2c_test::scaled_add"])
    def scaled_add(context, node):
        context.add(context[node.inputs[0]], torch_name="nope")

    sm = torch.jit.trace(ScaledAdd().eval(), (torch.randn(2, 8), torch.randn(2, 8)))
    with pytest.raises(ct.ConversionError, match=r"'nope' is not an output of pt2c_test::scaled_add"):
        ct.convert(sm, inputs=[ct.TensorType(shape=(2, 8)), ct.TensorType(shape=(2, 8))])


# ---- debug output ----
def test_debug_prints_nodes_and_ops(capsys):
    @register_torch_op(torch_alias=["pt2c_test::scaled_add"])
    def scaled_add(context, node):
        x, y, a = (context[n] for n in node.inputs)
        context.add(mb.add(x=x, y=mb.mul(x=y, y=a), name=node.name))

    sm = torch.jit.trace(ScaledAdd().eval(), (torch.randn(2, 8), torch.randn(2, 8)))
    ct.convert(sm, inputs=[ct.TensorType(shape=(2, 8)), ct.TensorType(shape=(2, 8))], debug=True)
    out = capsys.readouterr().out
    assert "[lower] pt2c_test::scaled_add" in out and "= mul(" in out and "= add(" in out
    assert "[lower] aten::relu" in out and "= relu(" in out


def test_debug_on_failure_prints_partial_program(capsys):
    @register_torch_op(torch_alias=["pt2c_test::scaled_add"])
    def scaled_add(context, node):
        raise ValueError("stop")

    class M(torch.nn.Module):
        def forward(self, x, y):
            return torch.ops.pt2c_test.scaled_add(torch.sigmoid(x), y, 2.0)

    sm = torch.jit.trace(M().eval(), (torch.randn(2, 8), torch.randn(2, 8)))
    with pytest.raises(ct.ConversionError):
        ct.convert(sm, inputs=[ct.TensorType(shape=(2, 8)), ct.TensorType(shape=(2, 8))], debug=True)
    out = capsys.readouterr().out
    assert "the program so far" in out and "sigmoid(" in out
    assert "[lower] failing node: pt2c_test::scaled_add" in out


def test_print_program_and_repr(capsys):
    class M(torch.nn.Module):
        def forward(self, x):
            return torch.sigmoid(x)

    m, _ = check_parity(M(), [torch.randn(2, 3)])
    m.print_program()
    assert "sigmoid(x=" in capsys.readouterr().out
    assert len(repr(m)) < 300 and str(m) == repr(m)
    assert ct.utils.op_histogram(m) == {"sigmoid": 1}
    with pytest.raises(TypeError):
        ct.utils.op_histogram("model")
