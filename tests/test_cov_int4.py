"""int4 weight-only quantized linear layers (csrc/lower/int4.c, python/pt2coreml/_quant.py unpack_int4_weights):
torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, group_size, scales_and_zeros) with the weight packed by
_convert_weight_to_int4pack_for_cpu, as torchao's int4 weight-only layers write them. Traced and scripted
modules (freezing folds the packing into a constant the frontend unpacks with torch's own op), traced
functions (the packing kept as a node on a constant), converted and run in our runtime against torch.
"""
import warnings

import pytest
import torch
import torch.nn as nn

import pt2coreml as ct
from cov_common import r, run
from parity import TORCH_MAJOR

if TORCH_MAJOR < 2:
    pytest.skip(f"torch {torch.__version__} has no int4 weight packing ops", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore")
warnings.filterwarnings("ignore", category=FutureWarning)


def int4_params(n, k, group, seed):
    """Random int4 weight [n, k] (0..15) and its [k / group, n, 2] scales and zeros."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randint(0, 16, (n, k), dtype=torch.int32, generator=g)
    scales = torch.rand(k // group, n, generator=g) * 0.02 + 0.005
    zeros = torch.randn(k // group, n, generator=g) * 0.05
    return w, torch.stack([scales, zeros], dim=-1).contiguous()


class Int4Linear(nn.Module):
    """An int4 weight-only linear layer: x [..., K] -> [..., N], packed in forward from an int buffer."""

    def __init__(self, n, k, group, tiles, bias=False, seed=0):
        super().__init__()
        w, sz = int4_params(n, k, group, seed)
        self.register_buffer("w", w)
        self.register_buffer("sz", sz)
        self.register_buffer("b", r(n, seed=seed + 1) if bias else torch.zeros(0))
        self.group, self.tiles, self.k, self.n, self.has_bias = group, tiles, k, n, bias

    def forward(self, x):
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(self.w, self.tiles)
        shape = x.shape
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(x.reshape(-1, self.k), packed, self.group, self.sz)
        y = y.reshape(list(shape[:-1]) + [self.n])
        if self.has_bias:
            y = y + self.b
        return y


class PrePacked(nn.Module):
    """The weight packed once at build time (a uint8 buffer), as a loaded checkpoint holds it."""

    def __init__(self, n, k, group, tiles, seed=0):
        super().__init__()
        w, sz = int4_params(n, k, group, seed)
        self.register_buffer("packed", torch.ops.aten._convert_weight_to_int4pack_for_cpu(w, tiles))
        self.register_buffer("sz", sz)
        self.group = group

    def forward(self, x):
        return torch.relu(torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.packed, self.group, self.sz))


def reference(w, sz, group, x):
    """The dequantized linear by its definition, checking torch's op itself."""
    s = sz[..., 0].repeat_interleave(group, 0).t()
    z = sz[..., 1].repeat_interleave(group, 0).t()
    return x @ ((w.float() - 8) * s + z).t()


@pytest.mark.parametrize("group,tiles", [(32, 2), (32, 8), (64, 4), (128, 2), (128, 8)])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_int4_linear_groups_tiles(group, tiles, precision):
    m = Int4Linear(32, 256, group, tiles, seed=group + tiles).eval()
    x = r(5, 256, seed=3)
    assert torch.allclose(m(x), reference(m.w, m.sz, group, x), atol=1e-4)
    run(m, [x], precision=precision, ops=("linear",))


@pytest.mark.parametrize("script", [False, True])
@pytest.mark.parametrize("shape", [(7, 128), (2, 3, 128), (128,)])
def test_int4_linear_ranks_bias(shape, script):
    m = Int4Linear(48, 128, 64, 4, bias=True, seed=11).eval()
    run(m, [r(*shape, seed=5)], script=script)
    run(m, [r(*shape, seed=5)], precision="fp16", script=script)


@pytest.mark.parametrize("script", [False, True])
def test_int4_prepacked_buffer(script):
    m = PrePacked(16, 96, 32, 2, seed=7).eval()
    run(m, [r(4, 96, seed=8)], script=script)


def test_int4_two_layers_share_input():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Int4Linear(64, 128, 32, 8, seed=1)
            self.b = Int4Linear(16, 64, 64, 2, bias=True, seed=2)

        def forward(self, x):
            return self.b(torch.nn.functional.gelu(self.a(x)))

    run(Two().eval(), [r(3, 128, seed=9)])


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_int4_traced_function_keeps_pack_node(precision):
    """A traced function holds the packing as a node on a constant weight: lowered as the plain weight."""
    w, sz = int4_params(32, 128, 32, 4)

    def f(x):
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(w, 4)
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, 32, sz)

    x = r(6, 128, seed=2)
    fn = torch.jit.trace(f, x)
    kinds = {n.kind() for n in fn.graph.nodes()}
    assert "aten::_convert_weight_to_int4pack_for_cpu" in kinds
    run(fn, [x], precision=precision)


def test_int4_runtime_weight_fails_naming_the_node():
    """A weight computed at run time cannot be packed at conversion time: a clear error naming the node."""
    _, sz = int4_params(32, 128, 32, 0)

    def f(x, w):
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(w, 2)
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, 32, sz)

    fn = torch.jit.trace(f, (r(2, 128), torch.randint(0, 16, (32, 128), dtype=torch.int32)))
    with pytest.raises(Exception, match=r"_convert_weight_to_int4pack_for_cpu.*constant"):
        ct.convert(fn, inputs=[ct.TensorType(name="x", shape=(2, 128)),
                               ct.TensorType(name="w", shape=(32, 128), dtype="int32")])


def test_int4_runtime_scales_fail_naming_the_node():
    w, _ = int4_params(32, 128, 32, 0)

    def f(x, sz):
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(w, 2)
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, 32, sz)

    fn = torch.jit.trace(f, (r(2, 128), r(4, 32, 2)))
    with pytest.raises(Exception, match=r"_weight_int4pack_mm_for_cpu.*scales and zeros.*constant"):
        ct.convert(fn, inputs=[ct.TensorType(name="x", shape=(2, 128)), ct.TensorType(name="sz", shape=(4, 32, 2))])


def test_int4_unreadable_packed_weight_fails_naming_the_node():
    """A group size torch's kernel refuses (16) leaves the packed constant unread: a clear error, no crash."""
    m = torch.jit.script(PrePacked(16, 96, 32, 2).eval())
    m.group = 16
    with pytest.raises(Exception, match=r"_weight_int4pack_mm_for_cpu.*packed byte layout"):
        ct.convert(m, inputs=[ct.TensorType(name="x", shape=(4, 96))])
