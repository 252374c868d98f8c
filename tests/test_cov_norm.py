"""Op coverage, normalization: batch_norm (1-D/2-D/3-D inputs, with and without affine), layer_norm
(multi-dim normalized_shape, with/without affine), group_norm, instance_norm (affine, running stats),
F.normalize (linalg_vector_norm / clamp_min / div), vector norms, local_response_norm.
Converted, run in our runtime, compared with PyTorch (fp32; fp16 subset)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cov_seeded import Fn, r, run
from parity import need_torch2


def bn(cls, c, affine=True):
    torch.manual_seed(0)
    m = cls(c, affine=affine).eval()
    m.running_mean.uniform_(-1, 1)
    m.running_var.uniform_(0.5, 2)
    if affine:
        m.weight.data.uniform_(0.5, 1.5)
        m.bias.data.uniform_(-1, 1)
    return m


def affine(m):
    torch.manual_seed(1)
    if getattr(m, "weight", None) is not None:
        m.weight.data.uniform_(0.5, 1.5)
        if m.bias is not None:
            m.bias.data.uniform_(-1, 1)
    return m


def in_running():
    torch.manual_seed(0)
    m = nn.InstanceNorm2d(3, affine=True, track_running_stats=True).eval()
    m.running_mean.uniform_(-1, 1)
    m.running_var.uniform_(0.5, 2)
    return affine(m)


CASES = {
    "bn1d_2d": (lambda: bn(nn.BatchNorm1d, 4), (3, 4)),
    "bn1d_3d": (lambda: bn(nn.BatchNorm1d, 4), (2, 4, 6)),
    "bn2d": (lambda: bn(nn.BatchNorm2d, 3), (2, 3, 4, 5)),
    "bn2d_noaffine": (lambda: bn(nn.BatchNorm2d, 3, affine=False), (2, 3, 4, 5)),
    "bn3d": (lambda: bn(nn.BatchNorm3d, 2), (1, 2, 3, 4, 5)),
    "ln_last": (lambda: affine(nn.LayerNorm(6)), (2, 3, 6)),
    "ln_multi": (lambda: affine(nn.LayerNorm([4, 6])), (2, 3, 4, 6)),
    "ln_noaffine": (lambda: nn.LayerNorm([3, 4], elementwise_affine=False), (2, 3, 4)),
    "ln_nobias": (lambda: affine(nn.LayerNorm(5, bias=False)), (2, 5)),
    "gn": (lambda: affine(nn.GroupNorm(2, 6)), (2, 6, 4, 5)),
    "gn_1d": (lambda: affine(nn.GroupNorm(3, 6)), (2, 6, 7)),
    "gn_noaffine": (lambda: nn.GroupNorm(1, 4, affine=False), (2, 4, 3, 3)),
    "gn_per_channel": (lambda: affine(nn.GroupNorm(4, 4)), (1, 4, 3, 5)),
    "in2d": (lambda: nn.InstanceNorm2d(3), (2, 3, 5, 6)),
    "in2d_affine": (lambda: affine(nn.InstanceNorm2d(3, affine=True)), (2, 3, 5, 6)),
    "in1d": (lambda: affine(nn.InstanceNorm1d(3, affine=True)), (2, 3, 7)),
    "in3d": (lambda: nn.InstanceNorm3d(2), (1, 2, 3, 4, 5)),
    "in_running": (in_running, (2, 3, 4, 4)),
    "lrn": (lambda: nn.LocalResponseNorm(3), (1, 5, 4, 4)),
    "lrn_3d": (lambda: nn.LocalResponseNorm(2, alpha=0.01, beta=0.5, k=2.0), (2, 6, 5)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_norm(name):
    if name == "ln_nobias":
        need_torch2("nn.LayerNorm(bias=False)")
    make, shape = CASES[name]
    run(make(), [r(*shape)])


FNS = {
    "normalize_dim1": lambda x: F.normalize(x, dim=1),
    "normalize_last_p1": lambda x: F.normalize(x, p=1.0, dim=-1),
    "normalize_eps": lambda x: F.normalize(x * 1e-9, dim=-1, eps=1e-6),
    "vector_norm_all": lambda x: torch.linalg.vector_norm(x) * x,
    "norm_dim_keep": lambda x: x.norm(dim=(1, 2), keepdim=True),
    "norm_p3": lambda x: x.norm(p=3, dim=1),
    "norm_inf": lambda x: torch.linalg.vector_norm(x, ord=float("inf"), dim=-1),
    "fro": lambda x: torch.norm(x, p="fro", dim=(1, 2)),
}


@pytest.mark.parametrize("name", list(FNS))
def test_vector_norms(name):
    run(Fn(FNS[name]), [r(2, 3, 4)])


@pytest.mark.parametrize("name", ["bn2d", "ln_multi", "gn", "in2d_affine", "lrn"])
def test_norm_fp16(name):
    make, shape = CASES[name]
    run(make(), [r(*shape)], precision="fp16")


def test_normalize_fp16():
    run(Fn(FNS["normalize_dim1"]), [r(2, 3, 4)], precision="fp16")
