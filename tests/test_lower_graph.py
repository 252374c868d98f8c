"""The TorchScript reader and the lowering driver: unsupported-op reports, input / output
handling, constants of every kind read in place, symbolic dims, torchvision models."""

import numpy as np
import pytest
import torch
import torch.nn as nn

import pt2coreml as ct
from pt2coreml import _core
from lower_common import CHECK_COREMLTOOLS
from parity import check_parity, compare


def graph_of(module, example, script=False):
    sm = torch.jit.script(module.eval()) if script else torch.jit.trace(module.eval(), example)
    frozen = torch._C._freeze_module(sm._c, [], True, False)
    g = frozen._get_method("forward").graph
    torch._C._jit_pass_inline(g)
    return g, frozen


def convert(module, example, specs, script=False, outputs=None):
    g, frozen = graph_of(module, example, script)
    return _core.convert(g, specs, outputs, "CoreML5", "fp32")


# ---- unsupported ops: every missing kind at once ----
class Unsupported(nn.Module):
    def forward(self, x):
        a = torch.special.bessel_j0(x)
        b = torch.special.bessel_j0(a)
        c = torch.special.bessel_j1(b)
        return torch.special.bessel_y0(c) + torch.relu(x)


def test_unsupported_lists_every_kind_with_counts():
    x = torch.randn(3, 4)
    with pytest.raises(ct.ConversionError) as ei:
        convert(Unsupported(), (x,), [("x", "fp32", (3, 4))])
    msg = str(ei.value)
    assert "3 TorchScript op kinds cannot be converted" in msg
    assert "aten::special_bessel_j0 (2 uses, first at test_lower_graph.py:" in msg
    assert "aten::special_bessel_j1 (1 use" in msg and "aten::special_bessel_y0 (1 use" in msg
    assert "aten::relu" not in msg
    assert "register_torch_op" in msg


def test_lowered_ops_table():
    ops = dict(_core.lowered_ops())
    for k in ["aten::_convolution", "aten::linear", "aten::batch_norm", "prim::Constant", "aten::hardtanh_"]:
        assert k in ops
    assert "relu6" in ops["aten::hardtanh"]


def test_error_names_node_and_source():
    class M(nn.Module):
        def forward(self, x):
            return nn.functional.elu(x, 1.0, True)[:, :, :2, :2] * nn.functional.avg_pool2d(
                x, 2, divisor_override=3, ceil_mode=True)
    with pytest.raises(ct.ConversionError) as ei:
        convert(M(), (torch.randn(1, 2, 4, 4),), [("x", "fp32", (1, 2, 4, 4))])
    msg = str(ei.value)
    assert "aten::avg_pool2d" in msg and "test_lower_graph.py:" in msg and "divisor_override" in msg


# ---- inputs and outputs ----
class TwoIn(nn.Module):
    def forward(self, a, b):
        return a * 2, a + b, b


def test_input_output_names_and_identity():
    p = convert(TwoIn(), (torch.randn(2, 3), torch.randn(2, 3)), [("first", "fp32", (2, 3)), (None, "fp32", (2, 3))],
                outputs=["o1", None, "o3"])
    ins, outs = p.io()
    assert [n for n, _ in ins] == ["first", "b"]
    assert outs[0][0] == "o1" and outs[2][0] == "o3"
    # output 3 is the input b itself: an identity makes it a distinct value
    assert p.histogram().get("identity", 0) >= 1
    a, b = np.random.rand(2, 3).astype(np.float32), np.random.rand(2, 3).astype(np.float32)
    o1, o2, o3 = p.run([a, b])
    compare("o1", o1, a * 2, 1e-6)
    compare("o2", o2, a + b, 1e-6)
    compare("o3", o3, b, 0)


def test_input_count_mismatch():
    with pytest.raises(ValueError, match="takes 2 inputs but 1"):
        convert(TwoIn(), (torch.randn(2, 3), torch.randn(2, 3)), [("a", "fp32", (2, 3))])


def test_int64_input_narrowed_to_int32():
    class M(nn.Module):
        def forward(self, i):
            return i * 3 + 1
    p = convert(M(), (torch.arange(6).reshape(2, 3),), [("i", "int64", (2, 3))])
    assert p.io()[0][0][1][0] == "int32"
    (o,) = p.run([np.arange(6, dtype=np.int32).reshape(2, 3)])
    assert (o == np.arange(6).reshape(2, 3) * 3 + 1).all()


def test_constant_output_is_materialized():
    class M(nn.Module):
        def forward(self, x):
            return x + 1, x.shape[1]
    p = convert(M(), (torch.randn(2, 5),), [("x", "fp32", (2, 5))])
    o, n = p.run([np.zeros((2, 5), np.float32)])
    assert int(n) == 5 and (o == 1).all()


# ---- constants read in place ----
class Consts(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("nc", torch.arange(12, dtype=torch.float32).reshape(3, 4).t())  # non-contiguous
        self.register_buffer("bf", torch.linspace(-1, 1, 4).to(torch.bfloat16))
        self.register_buffer("f64", torch.linspace(0, 1, 4, dtype=torch.float64))
        self.register_buffer("i64", torch.tensor([1, -2, 3, 4]))
        self.register_buffer("h16", torch.tensor([0.5, 1.5, 2.5, 3.5], dtype=torch.float16))

    def forward(self, x):
        y = x + self.nc.sum(1) + self.bf.float() + self.f64.float() + self.i64.float() + self.h16.float()
        return y


def test_tensor_constants_of_every_dtype():
    check_parity(Consts(), [torch.randn(2, 4)], check_coremltools=CHECK_COREMLTOOLS)
    check_parity(Consts(), [torch.randn(2, 4)], script=True, check_coremltools=CHECK_COREMLTOOLS)


def test_weights_are_not_copied():
    lin = nn.Linear(64, 32)
    g, frozen = graph_of(lin, (torch.randn(1, 64),))
    p = _core.convert(g, [("x", "fp32", (1, 64))], None, "CoreML5", "fp32")
    del frozen, g
    # the program holds the tensor buffers itself: it still runs after the graph is gone
    x = np.random.rand(1, 64).astype(np.float32)
    (o,) = p.run([x])
    compare("linear", o, lin(torch.from_numpy(x)).detach().numpy(), 1e-4)


def test_scripted_constants_lists_and_none():
    class M(nn.Module):
        def forward(self, x, scale: float = 2.0):
            dims = [0, 2, 1]
            y = x.permute(dims)
            z = None
            if z is None:
                y = y * 2.5
            return torch.cat([y, y], dim=-1).contiguous()

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = M()

        def forward(self, x):
            return self.m(x)
    check_parity(Wrap(), [torch.randn(2, 3, 4)], script=True, check_coremltools=CHECK_COREMLTOOLS)


# ---- symbolic dims ----
def test_symbolic_batch_dim():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(12, 4)

        def forward(self, x):
            return self.l(x.view(x.size(0), -1)), torch.flatten(x, 1) * 2
    m = M().eval()
    p = convert(m, (torch.randn(2, 3, 4),), [("x", "fp32", (None, 3, 4))])
    assert "shape" in p.histogram() and "gather" in p.histogram()
    for n in (1, 5):
        x = np.random.rand(n, 3, 4).astype(np.float32)
        o1, o2 = p.run([x])
        r1, r2 = m(torch.from_numpy(x))
        compare("linear", o1, r1.detach().numpy(), 1e-4)
        compare("flatten", o2, r2.detach().numpy(), 1e-6)


# ---- torchvision ----
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision(name):
    import torchvision
    torch.manual_seed(0)
    from models_common import check_regime, init_batch_norm
    m = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.rand(1, 3, 224, 224)
    if name == "mobilenet_v2":  # default statistics shrink its output to ~1e-10: nothing to compare
        init_batch_norm(m, 224, 0.9)
    check_regime(m, x)
    mlmodel, err = check_parity(m, [x], check_coremltools=CHECK_COREMLTOOLS)
    hist = mlmodel._prog.histogram()
    assert hist.get("conv", 0) >= 20


