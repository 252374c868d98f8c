"""Op coverage, issue 4 (normalization, pooling, resampling families): rms_norm, the native_* norm forms
with their statistics outputs, weight norm, max pooling with indices (and max_unpool), adaptive max pooling
with indices, lp pooling, 1-D / 3-D / bicubic / nearest-exact / antialiased interpolation, unfold / fold,
affine_grid (+ grid_sample), channel_shuffle. Each is converted, run in our runtime and compared with PyTorch
(fp32; fp16 for a subset); ops we cannot express raise a clear conversion error."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import pt2coreml as ct
from cov2_common import Fn, r, run

A = torch.ops.aten


def ints(*shape, seed=0):
    """Distinct integer-valued floats (exact in fp16, no ties): a permutation of 0..n-1, centred."""
    n = 1
    for s in shape:
        n *= s
    g = torch.Generator().manual_seed(seed)
    return (torch.randperm(n, generator=g).float() - n // 2).reshape(shape)


def conv_error(fn, *xs, match):
    tr = torch.jit.trace(Fn(fn).eval(), tuple(xs))
    with pytest.raises(ct.ConversionError, match=match):
        ct.convert(tr, inputs=[ct.TensorType(shape=tuple(x.shape)) for x in xs])


# ---- normalization ----

W6 = torch.linspace(0.5, 1.5, 6)
W46 = torch.linspace(0.5, 1.5, 24).reshape(4, 6)
C4 = torch.linspace(0.5, 1.5, 4)
B4 = torch.linspace(-1, 1, 4)

NORMS = {
    "rms_last": lambda x: F.rms_norm(x, (6,)),
    "rms_weight_eps": lambda x: F.rms_norm(x, (6,), W6, 1e-3),
    "rms_two_dims": lambda x: F.rms_norm(x, (4, 6), W46),
    "rms_module": nn.RMSNorm([4, 6], eps=1e-6),
    "native_ln": lambda x: A.native_layer_norm(x, [6], W6, W6 - 1, 1e-5)[0],
    "native_ln_stats": lambda x: A.native_layer_norm(x, [4, 6], None, None, 1e-5),
    "native_gn": lambda x: A.native_group_norm(x, C4, B4, 2, 4, 6, 2, 1e-5)[0],
    "native_gn_stats": lambda x: A.native_group_norm(x, None, None, 2, 4, 6, 4, 1e-3),
    "native_bn_eval": lambda x: A.native_batch_norm(x, C4, B4, B4 * 0.3, C4, False, 0.1, 1e-5)[0],
    "native_bn_train": lambda x: A.native_batch_norm(x, C4, None, None, None, True, 0.1, 1e-5),
    "bn_legit_no_training": lambda x: A._native_batch_norm_legit_no_training(x, None, B4, B4, C4, 0.1, 1e-3)[0],
    "bn_legit_eval": lambda x: A._native_batch_norm_legit(x, C4, B4, B4, C4, False, 0.1, 1e-5)[0],
    "bn_legit_no_stats": lambda x: A._native_batch_norm_legit(x, None, None, True, 0.1, 1e-5),
    "in_stats_ignored": lambda x: F.instance_norm(x, B4.clone(), C4.clone(), C4, B4, use_input_stats=True),
    "in_running_noaffine": lambda x: F.instance_norm(x, B4, C4, use_input_stats=False),
    "softmin": lambda x: F.softmin(x, dim=1),
    "softmin_last": lambda x: F.softmin(x, dim=-1),
}


@pytest.mark.parametrize("name", list(NORMS))
def test_norm_ext(name):
    f = NORMS[name]
    run(f if isinstance(f, nn.Module) else Fn(f), [r(2, 4, 6, scale=2.0)])


def test_native_bn_2d_input():
    run(Fn(lambda x: A.native_batch_norm(x, C4, B4, B4, C4, False, 0.1, 1e-5)[0]), [r(3, 4)])
    run(Fn(lambda x: A._native_batch_norm_legit(x, C4, None, True, 0.1, 1e-5)), [r(5, 4)])


@pytest.mark.parametrize("name", ["rms_two_dims", "native_gn_stats", "native_bn_train"])
def test_norm_ext_fp16(name):
    run(Fn(NORMS[name]), [r(2, 4, 6)], precision="fp16")


WN = {
    "wn_dim0": lambda v: torch._weight_norm(v, torch.linspace(0.5, 2, 4).reshape(4, 1, 1), 0),
    "wn_dim1": lambda v: torch._weight_norm(v, torch.linspace(0.5, 2, 3).reshape(1, 3, 1), 1),
    "wn_whole": lambda v: torch._weight_norm(v, torch.tensor(2.0).reshape(1, 1, 1), -1),
    "wn_iface_last": lambda v: torch._weight_norm_interface(v, torch.linspace(1, 2, 5).reshape(1, 1, 5), 2),
    "wn_iface_dim0": lambda v: torch._weight_norm_interface(v, torch.linspace(1, 2, 4).reshape(4, 1, 1), 0)[0],
}


@pytest.mark.parametrize("name", list(WN))
def test_weight_norm(name):
    run(Fn(WN[name]), [r(4, 3, 5)])


def test_weight_norm_module():
    torch.manual_seed(0)
    m = nn.utils.parametrizations.weight_norm(nn.Linear(5, 3))
    run(Fn(lambda x: m(x), m=m), [r(2, 5)])


def test_native_bn_eval_stats_refused():
    conv_error(lambda x: A.native_batch_norm(x, None, None, B4, C4, False, 0.1, 1e-5)[1] + 1, r(2, 4, 3),
               match="empty tensors")
