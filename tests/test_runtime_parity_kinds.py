"""Parity through the runtime for lowered TorchScript kinds that the model and op tests
do not reach: in-place variants, scripted-only forms (conv2d and friends, scalar int
arithmetic on sizes, control flow with static conditions, Optional checks), math and
comparison ops. Each module is converted, predicted and compared with PyTorch
(tests/parity.py); test_zz_op_coverage.py checks that every lowered kind is reached."""
from typing import List, Optional

import pytest
import torch
import torch.nn.functional as F

from parity import check_parity

torch.manual_seed(0)


class InPlace(torch.nn.Module):
    def forward(self, x):
        a = x.clone()
        a.clamp_(-0.5, 0.5)
        b = x.clone()
        b.div_(3.0)
        c = F.elu(x.clone(), inplace=True)
        d = F.leaky_relu(x.clone(), 0.1, inplace=True)
        e = F.relu6(x.clone() * 8, inplace=True)
        f = x.clone().sigmoid_()
        g = F.silu(x.clone(), inplace=True)
        h = x.clone().tanh_()
        i = F.dropout(x.clone(), 0.5, training=False, inplace=True)
        j = x.clone().detach_()
        return a + b + c + d + e + f + g + h + i + j.detach()


class Math(torch.nn.Module):
    def forward(self, x):
        y = torch.ceil(x * 3) + torch.floor(x * 3) + torch.cos(x) + torch.sin(x) + torch.erf(x)
        y = y + torch.square(x) + torch.true_divide(x, 2.0) + torch.remainder(x * 5, 1.5)
        y = y + x.clamp_min(-0.2) + x.clamp_max(0.3) + x.type_as(y)
        return torch.concat([y, x], dim=1)


class Dropouts(torch.nn.Module):
    """Eval-mode dropouts (traced: scripted F.dropout2d carries warning checks)."""

    def forward(self, x):
        return F.alpha_dropout(x, 0.5, training=False) + F.dropout2d(x, 0.5, training=False) + x.detach()


class Compare(torch.nn.Module):
    def forward(self, x, z):
        return (torch.eq(x, z).float() + torch.ne(x, z).float() + torch.ge(x, 0.1).float()
                + torch.lt(x, z).float() + (x == z).float())


class Convs(torch.nn.Module):
    """Scripted convs appear as aten::conv1d/2d/3d and conv_transpose1d/2d (traced ones as
    aten::_convolution)."""

    def __init__(self):
        super().__init__()
        self.w1 = torch.nn.Parameter(torch.randn(4, 3, 3) * 0.3)
        self.w2 = torch.nn.Parameter(torch.randn(4, 3, 3, 3) * 0.3)
        self.w3 = torch.nn.Parameter(torch.randn(2, 3, 2, 2, 2) * 0.3)
        self.t1 = torch.nn.Parameter(torch.randn(3, 2, 3) * 0.3)
        self.t2 = torch.nn.Parameter(torch.randn(3, 2, 3, 3) * 0.3)

    def forward(self, x1, x2, x3):
        a = F.conv1d(x1, self.w1, padding=1)
        b = F.conv2d(x2, self.w2, stride=2, padding=1)
        c = F.conv3d(x3, self.w3)
        d = F.conv_transpose1d(x1, self.t1, stride=2)
        e = F.conv_transpose2d(x2, self.t2, stride=2, padding=1)
        return a, b, c, d, e


class Scalars(torch.nn.Module):
    """Shape arithmetic on Python ints, static control flow, Optional and tuple plumbing:
    all resolved at conversion time, the tensor math runs in the runtime."""

    def __init__(self):
        super().__init__()
        self.bias: Optional[torch.Tensor] = None

    def pair(self, x: torch.Tensor):
        return x * 2.0, x + 1.0

    def forward(self, x):
        n = x.dim()
        s: List[int] = x.size()
        h = s[2]
        k = len(s)
        hi = max(h, 3)
        lo = min(h, 3)
        q = h // 2
        y = x
        if n == 4 and not (k != 4):
            y = y * float(hi - lo + q)
        for i in range(2):
            y = y + float(i)
        if self.bias is not None:
            y = y + self.bias
        if self.bias is None:
            y = y - 1.0
        t = self.pair(y)
        a, b = t
        z = (x * 0.0).to(x.device).to(x.dtype)
        c = t[1] + z
        flag = bool(x.numel() > 4)
        m = x.mean()
        return a + b + c + float(flag) + x * x.numel() + m


def test_inplace_variants():
    check_parity(InPlace(), [torch.randn(2, 3, 4, 4)], script=True)
    check_parity(InPlace(), [torch.randn(2, 3, 4, 4)])


@pytest.mark.parametrize("script", [False, True])
def test_math_ops(script):
    check_parity(Math(), [torch.randn(2, 3, 4, 4)], script=script)


def test_eval_dropouts():
    check_parity(Dropouts(), [torch.randn(2, 3, 4, 4)])


def test_comparisons():
    x = torch.randn(2, 8)
    z = x.clone()
    z[:, ::2] = torch.randn(2, 4)
    check_parity(Compare(), [x, z], script=True)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_scripted_convs(precision):
    check_parity(Convs(), [torch.randn(1, 3, 9), torch.randn(1, 3, 7, 7), torch.randn(1, 3, 4, 4, 4)],
                 precision=precision, script=True)


def test_scalar_plumbing():
    check_parity(Scalars(), [torch.randn(1, 3, 6, 5)], script=True)
