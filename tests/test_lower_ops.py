"""Lowering, one op family at a time: small torch modules are traced (or scripted),
converted, the MIL op histogram is checked and the outputs are compared with PyTorch's
through our runtime (fp32, max abs error <= 1e-4 x output scale)."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lower_common import CHECK_COREMLTOOLS
from parity import check_parity

torch.manual_seed(0)


class Fn(nn.Module):
    """A module around a lambda, with optional submodules for parameters."""

    def __init__(self, fn, **mods):
        super().__init__()
        self.fn = fn
        for k, v in mods.items():
            setattr(self, k, v)

    def forward(self, *xs):
        return self.fn(self, *xs)


def r(*shape):
    return torch.randn(*shape)


def run(module, inputs, ops=(), absent=(), script=False):
    mlmodel, err = check_parity(module, inputs, precision="fp32", script=script, check_coremltools=CHECK_COREMLTOOLS)
    hist = mlmodel._prog.histogram()
    for op in ops:
        assert op in hist, f"expected a '{op}' op, got {hist}"
    for op in absent:
        assert op not in hist, f"unexpected '{op}' op in {hist}"
    return mlmodel


# ---- conv ----
@pytest.mark.parametrize("kw", [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=3, out_channels=6, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
    dict(in_channels=4, out_channels=8, kernel_size=3, groups=2, padding=1, bias=False),
    dict(in_channels=4, out_channels=4, kernel_size=3, groups=4, padding="same"),
    dict(in_channels=3, out_channels=4, kernel_size=4, padding="same", dilation=2),
])
def test_conv2d(kw):
    run(nn.Conv2d(**kw), [r(2, kw["in_channels"], 11, 12)], ops=["conv"])


def test_conv1d_and_unbatched():
    run(nn.Conv1d(3, 5, 3, stride=2, padding=1), [r(2, 3, 16)], ops=["conv"])
    run(nn.Conv1d(3, 5, 3, padding=1), [r(3, 16)], ops=["conv", "expand_dims", "squeeze"])


@pytest.mark.parametrize("kw", [
    dict(kernel_size=3, stride=2),
    dict(kernel_size=4, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, output_padding=1),
    dict(kernel_size=3, stride=1, padding=1, groups=2, bias=False),
])
def test_conv_transpose2d(kw):
    run(nn.ConvTranspose2d(4, 6, **kw), [r(1, 4, 7, 9)], ops=["conv_transpose"])


def test_conv_transpose1d():
    run(nn.ConvTranspose1d(4, 3, 3, stride=2, padding=1, output_padding=1), [r(2, 4, 10)], ops=["conv_transpose"])


# ---- linear ----
def test_linear_ranks():
    lin = nn.Linear(6, 5)
    run(lin, [r(4, 6)], ops=["linear"])
    run(lin, [r(2, 3, 6)], ops=["linear"])
    run(nn.Linear(6, 5, bias=False), [r(6)], ops=["linear"])
    run(lin, [r(2, 2, 3, 6)], ops=["matmul"])  # rank 4: matmul + add


def test_matmul_family():
    run(Fn(lambda s, a, b: torch.matmul(a, b)), [r(2, 3, 4, 5), r(2, 3, 5, 6)], ops=["matmul"])
    run(Fn(lambda s, a, b: torch.mm(a, b)), [r(3, 4), r(4, 2)], ops=["matmul"])
    run(Fn(lambda s, a, b: torch.bmm(a, b)), [r(2, 3, 4), r(2, 4, 2)], ops=["matmul"])
    run(Fn(lambda s, a, b: a @ b), [r(4), r(4, 3)], ops=["matmul"])
    run(Fn(lambda s, c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2.0)), [r(3, 2), r(3, 4), r(4, 2)],
        ops=["matmul", "add"])


# ---- norm ----
def test_batch_norm():
    bn = nn.BatchNorm2d(4)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-1, 1)
    run(bn, [r(2, 4, 5, 5)], ops=["batch_norm"])
    bn1 = nn.BatchNorm1d(6).eval()
    bn1.running_var.fill_(3.0)
    run(bn1, [r(4, 6)], ops=["batch_norm"])
    run(bn1, [r(4, 6, 7)], ops=["batch_norm"])


def test_layer_norm():
    ln = nn.LayerNorm([5, 6])
    ln.weight.data.uniform_(0.5, 1.5)
    ln.bias.data.uniform_(-1, 1)
    run(ln, [r(2, 3, 5, 6)], ops=["layer_norm"])
    run(nn.LayerNorm(6, elementwise_affine=False), [r(3, 6)], ops=["layer_norm"])


# ---- pooling ----
@pytest.mark.parametrize("kw", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, ceil_mode=True),
])
def test_max_pool2d(kw):
    run(nn.MaxPool2d(**kw), [r(1, 3, 9, 10)], ops=["max_pool"])


@pytest.mark.parametrize("kw", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, divisor_override=4),
])
def test_avg_pool2d(kw):
    run(nn.AvgPool2d(**kw), [r(1, 3, 9, 10)], ops=["avg_pool"])


def test_pool1d_and_unbatched():
    run(nn.MaxPool1d(3, stride=2), [r(2, 3, 11)], ops=["max_pool"])
    run(nn.AvgPool1d(2), [r(2, 3, 10)], ops=["avg_pool"])
    run(nn.MaxPool2d(2), [r(3, 8, 8)], ops=["max_pool", "expand_dims"])


def test_adaptive_avg_pool():
    run(nn.AdaptiveAvgPool2d(1), [r(2, 3, 7, 9)], ops=["reduce_mean"], absent=["avg_pool"])
    run(nn.AdaptiveAvgPool2d((2, 3)), [r(2, 3, 8, 9)], ops=["avg_pool"])
    run(nn.AdaptiveAvgPool1d(1), [r(2, 3, 7)], ops=["reduce_mean"])


def test_reductions():
    run(Fn(lambda s, x: x.mean(dim=(2, 3), keepdim=True)), [r(2, 3, 4, 5)], ops=["reduce_mean"])
    run(Fn(lambda s, x: x.sum(-1)), [r(2, 3, 4)], ops=["reduce_sum"])
    run(Fn(lambda s, x: x.mean()), [r(2, 3)], ops=["reduce_mean"])


# ---- activations ----
@pytest.mark.parametrize("mod,op", [
    (nn.ReLU(), "relu"), (nn.ReLU(inplace=True), "relu"), (nn.ReLU6(), "relu6"),
    (nn.Hardtanh(), "clip"), (nn.Hardtanh(-2.0, 3.0), "clip"), (nn.Sigmoid(), "sigmoid"), (nn.Tanh(), "tanh"),
    (nn.GELU(), "gelu"), (nn.GELU(approximate="tanh"), "gelu"), (nn.SiLU(), "silu"),
    (nn.LeakyReLU(0.2), "leaky_relu"), (nn.ELU(0.7), "elu"), (nn.Softplus(), "softplus"),
    (nn.Softmax(dim=1), "softmax"), (nn.LogSoftmax(dim=-1), "reduce_max"),
])
def test_activation(mod, op):
    run(mod, [r(2, 5, 6) * 4], ops=[op])


def test_relu6_from_hardtanh():
    run(Fn(lambda s, x: F.hardtanh(x, 0.0, 6.0)), [r(2, 5) * 5], ops=["relu6"], absent=["clip"])


# ---- elementwise ----
def test_binary_tensor_ops():
    a, b = r(2, 3, 4), r(3, 4)
    run(Fn(lambda s, x, y: x + y), [a, b], ops=["add"])
    run(Fn(lambda s, x, y: torch.add(x, y, alpha=2.5)), [a, b], ops=["add", "mul"])
    run(Fn(lambda s, x, y: torch.sub(x, y, alpha=0.5)), [a, b], ops=["sub"])
    run(Fn(lambda s, x, y: x * y), [a, b], ops=["mul"])
    run(Fn(lambda s, x, y: x / (y.abs() + 1)), [a, b], ops=["real_div"])
    run(Fn(lambda s, x, y: torch.maximum(x, y) - torch.minimum(x, y)), [a, b], ops=["maximum", "minimum"])


def test_scalar_operands():
    a = r(2, 3)
    run(Fn(lambda s, x: x + 1), [a], ops=["add"])
    run(Fn(lambda s, x: 2 - x), [a], ops=["sub"])
    run(Fn(lambda s, x: torch.rsub(x, 3.0, alpha=2)), [a], ops=["sub"])
    run(Fn(lambda s, x: x * 0.5 / 3), [a], ops=["mul", "real_div"])
    run(Fn(lambda s, x: x.pow(2) + x.abs().pow(0.5)), [a], ops=["pow"])


class InPlace(nn.Module):
    def forward(self, x):
        y = x.clone()
        y.add_(1.0)
        y.mul_(2.0)
        y.sub_(x)
        y.relu_()
        return y


def test_inplace_variants():
    run(InPlace(), [r(2, 3)], ops=["add", "mul", "sub", "relu"])
    # scripted graphs keep using the mutated value's old name: the lowering must rebind it
    run(InPlace(), [r(2, 3)], ops=["add", "mul", "sub", "relu"], script=True)


class InPlaceChain(nn.Module):
    def forward(self, x):
        y = x.clone()
        y.mul_(2).add_(1)  # add_ mutates y through mul_'s result
        z = x.clone()
        z.abs_().sub_(0.5).relu_()
        return y, z


def test_chained_inplace_ops_update_the_first_tensor():
    run(InPlaceChain(), [r(2, 3)], ops=["add", "mul", "sub", "relu"], script=True)


def test_unary_math():
    a = r(2, 3, 4)
    # rsqrt is 1 / sqrt: MIL's rsqrt adds an epsilon (rsqrt(0) would be finite, rsqrt(-0) +inf)
    run(Fn(lambda s, x: torch.sqrt(x.abs()) + torch.rsqrt(x.abs() + 1)), [a], ops=["sqrt", "real_div", "abs"], absent=["rsqrt"])
    run(Fn(lambda s, x: torch.exp(x) - torch.log(x.abs() + 0.1)), [a], ops=["exp", "log"])
    run(Fn(lambda s, x: -x), [a], ops=["mul"])
    run(Fn(lambda s, x: torch.reciprocal(x.abs() + 1)), [a], ops=["real_div"])


def test_clamp():
    a = r(3, 4) * 3
    run(Fn(lambda s, x: x.clamp(-1.0, 2.0)), [a], ops=["clip"])
    run(Fn(lambda s, x: x.clamp(min=0.5)), [a], ops=["maximum"])
    run(Fn(lambda s, x: x.clamp(max=0.5)), [a], ops=["minimum"])
    run(Fn(lambda s, x: x.clamp(min=0)), [a], ops=["relu"])
    run(Fn(lambda s, x: torch.clamp(x, 0, 6)), [a], ops=["relu6"])


def test_comparisons():
    a, b = r(3, 4), r(3, 4)
    run(Fn(lambda s, x, y: (x > y).float() + (x <= 0.5).float()), [a, b], ops=["greater", "less_equal", "cast"])


# ---- shapes ----
def test_flatten_view_reshape():
    a = r(2, 3, 4, 5)
    run(Fn(lambda s, x: torch.flatten(x, 1)), [a], ops=["reshape"])
    run(Fn(lambda s, x: x.flatten(1, 2)), [a], ops=["reshape"])
    run(Fn(lambda s, x: x.view(x.size(0), -1)), [a], ops=["reshape"])
    run(Fn(lambda s, x: x.reshape(6, 20)), [a], ops=["reshape"])


def test_permute_transpose():
    a = r(2, 3, 4, 5)
    run(Fn(lambda s, x: x.permute(0, 2, 3, 1)), [a], ops=["transpose"])
    run(Fn(lambda s, x: x.transpose(1, -1).contiguous()), [a], ops=["transpose"])
    run(Fn(lambda s, x: x.t()), [r(3, 4)], ops=["transpose"])


def test_cat_stack():
    run(Fn(lambda s, x, y: torch.cat([x, y, x], dim=1)), [r(2, 3, 4), r(2, 5, 4)], ops=["concat"])
    run(Fn(lambda s, x, y: torch.stack([x, y], dim=-1)), [r(2, 3), r(2, 3)], ops=["stack"])


def test_unsqueeze_squeeze():
    run(Fn(lambda s, x: x.unsqueeze(1).unsqueeze(-1)), [r(2, 3)], ops=["expand_dims"])
    run(Fn(lambda s, x: x.squeeze(1)), [r(2, 1, 3)], ops=["squeeze"])
    run(Fn(lambda s, x: x.squeeze()), [r(2, 1, 3, 1)], ops=["squeeze"])


def test_slice_select():
    a = r(4, 6, 8)
    run(Fn(lambda s, x: x[:, 1:5:2, -3:]), [a], ops=["slice_by_index"])
    run(Fn(lambda s, x: x[1] + x[:, -1, :].sum()), [a], ops=["slice_by_index"])
    run(Fn(lambda s, x: x.select(2, 3)), [a], ops=["slice_by_index"])


def test_chunk_split():
    a = r(2, 7, 3)
    run(Fn(lambda s, x: torch.chunk(x, 3, dim=1)), [a], ops=["split"])
    run(Fn(lambda s, x: torch.split(x, [2, 5], dim=1)), [a], ops=["split"])

    def f(s, x):
        p, q = x.split(4, dim=1)
        return p.sum(1) * q.sum(1)
    run(Fn(f), [a], ops=["split"])


def test_size_arithmetic_constant():
    def f(s, x):
        n = x.size(0) * x.size(1) // 2
        return x.reshape(n, -1) * float(x.shape[-1])
    run(Fn(f), [r(4, 3, 5)], ops=["reshape", "mul"])


# ---- plumbing ----
def test_dtype_casts_and_identity_ops():
    def f(s, x):
        y = F.dropout(x, 0.5, training=False).detach()
        i = (y * 10).to(torch.int32)
        return i.to(torch.float32) + 0.5, i
    run(Fn(f), [r(3, 4)], ops=["cast"])


def test_tuple_outputs_and_passthrough():
    def f(s, x):
        return (x, (x * 2, x + 1))
    m = run(Fn(f), [r(2, 2)], ops=["identity"])
    assert len(m._desc["outputs"]) == 3


def test_scripted_control_flow():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.flag = True

        def forward(self, x):
            if self.flag:
                x = x + 1
            else:
                x = x - 1
            for i in range(3):
                x = x * 2 + i
            return x
    run(M(), [r(2, 3)], ops=["add", "mul"], script=True)


def test_registry_has_one_entry_per_kind():
    import collections
    from pt2coreml import _core
    counts = collections.Counter(k for k, _ in _core.lowered_ops())
    assert not [k for k, c in counts.items() if c > 1], "kinds registered more than once (only the first runs)"
