"""Op coverage, the normalization, pooling and resampling families: rms_norm, the native_* norm forms
with their statistics outputs, weight norm, max pooling with indices (and max_unpool), adaptive max pooling
with indices, lp pooling, 1-D / 3-D / bicubic / nearest-exact / antialiased interpolation, unfold / fold,
affine_grid (+ grid_sample), channel_shuffle. Each is converted, run in our runtime and compared with PyTorch
(fp32; fp16 for a subset); ops we cannot express raise a clear conversion error."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import pt2coreml as ct
from cov_seeded import Fn, r, run
from parity import need_torch2

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
    "rms_module": nn.RMSNorm([4, 6], eps=1e-6) if hasattr(nn, "RMSNorm") else None,  # torch >= 2.4
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


# cases written with APIs newer than torch 1.13 (Debian 12's, `make test-torch1`): skipped there
TORCH2_CASES = {
    "rms_last": "F.rms_norm", "rms_weight_eps": "F.rms_norm", "rms_two_dims": "F.rms_norm", "rms_module": "nn.RMSNorm",
    "bn_legit_no_training": "aten::_native_batch_norm_legit_no_training",
    "bn_legit_eval": "aten::_native_batch_norm_legit", "bn_legit_no_stats": "aten::_native_batch_norm_legit",
    "lp3d": "F.lp_pool3d",
}


@pytest.mark.parametrize("name", list(NORMS))
def test_norm_forms(name):
    if name in TORCH2_CASES:
        need_torch2(TORCH2_CASES[name])
    f = NORMS[name]
    run(f if isinstance(f, nn.Module) else Fn(f), [r(2, 4, 6, scale=2.0)])


def test_native_bn_2d_input():
    run(Fn(lambda x: A.native_batch_norm(x, C4, B4, B4, C4, False, 0.1, 1e-5)[0]), [r(3, 4)])
    need_torch2("aten::_native_batch_norm_legit")
    run(Fn(lambda x: A._native_batch_norm_legit(x, C4, None, True, 0.1, 1e-5)), [r(5, 4)])


@pytest.mark.parametrize("name", ["rms_two_dims", "native_gn_stats", "native_bn_train"])
def test_norm_forms_fp16(name):
    if name in TORCH2_CASES:
        need_torch2(TORCH2_CASES[name])
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
    need_torch2("nn.utils.parametrizations.weight_norm")
    torch.manual_seed(0)
    m = nn.utils.parametrizations.weight_norm(nn.Linear(5, 3))
    run(Fn(lambda x: m(x), m=m), [r(2, 5)])


def test_native_bn_eval_stats_refused():
    conv_error(lambda x: A.native_batch_norm(x, None, None, B4, C4, False, 0.1, 1e-5)[1] + 1, r(2, 4, 3),
               match="empty tensors")


# ---- pooling: indices, dilation, unpool, lp ----

POOL_IDX = {  # name: (fn, input shape)
    "mp2d_idx": (lambda x: F.max_pool2d(x, 2, return_indices=True), (2, 3, 6, 8)),
    "mp2d_idx_stride_pad": (lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True), (1, 2, 7, 9)),
    "mp2d_idx_ceil": (lambda x: F.max_pool2d(x, (2, 3), (2, 2), ceil_mode=True, return_indices=True), (1, 2, 7, 8)),
    "mp2d_idx_dil": (lambda x: F.max_pool2d(x, 3, 1, 1, dilation=2, return_indices=True), (1, 2, 7, 6)),
    "mp2d_idx_unbatched": (lambda x: F.max_pool2d(x, 2, return_indices=True), (3, 4, 6)),
    "mp2d_idx_only": (lambda x: F.max_pool2d(x, 2, 1, return_indices=True)[1], (1, 2, 5, 5)),
    "mp2d_module": (nn.MaxPool2d(3, 2, return_indices=True), (1, 3, 9, 9)),
    "mp1d_idx": (lambda x: F.max_pool1d(x, 3, 2, 1, return_indices=True), (2, 3, 10)),
    "mp1d_idx_ceil_dil": (lambda x: F.max_pool1d(x, 2, 2, 0, 2, ceil_mode=True, return_indices=True), (1, 2, 10)),
    "mp3d_idx": (lambda x: F.max_pool3d(x, 2, return_indices=True), (1, 2, 4, 4, 6)),
    "mp3d_idx_pad": (lambda x: F.max_pool3d(x, (3, 2, 2), (2, 1, 2), (1, 0, 1), return_indices=True), (1, 2, 5, 3, 4)),
    "mp2d_values_dilated": (lambda x: F.max_pool2d(x, 2, 2, 1, dilation=(2, 1)), (1, 3, 8, 8)),
    "mp1d_values_dilated": (lambda x: F.max_pool1d(x, 3, 1, 0, 2), (2, 3, 9)),
    "mp2d_idx_unused": (lambda x: F.max_pool2d(x, 2, return_indices=True)[0] * 2, (1, 2, 6, 6)),
    "amp2d_idx": (lambda x: F.adaptive_max_pool2d(x, (3, 4), return_indices=True), (2, 2, 7, 9)),
    "amp2d_idx_even": (lambda x: F.adaptive_max_pool2d(x, 2, return_indices=True), (1, 3, 6, 6)),
    "amp2d_idx_none": (lambda x: F.adaptive_max_pool2d(x, (None, 2), return_indices=True), (1, 2, 5, 7)),
    "amp1d_idx": (lambda x: F.adaptive_max_pool1d(x, 4, return_indices=True), (2, 3, 10)),
    "amp3d_idx": (lambda x: F.adaptive_max_pool3d(x, (2, 3, 2), return_indices=True), (1, 2, 5, 4, 3)),
    "amp1d_idx_global": (lambda x: F.adaptive_max_pool1d(x, 1, return_indices=True), (2, 3, 7)),
}


@pytest.mark.parametrize("name", list(POOL_IDX))
def test_pool_indices(name):
    fn, shape = POOL_IDX[name]
    run(fn if isinstance(fn, nn.Module) else Fn(fn), [ints(*shape)])


def test_pool_indices_ties():
    """Equal values in a window: torch keeps the first in row-major order, so do we."""
    x = torch.randint(0, 3, (1, 2, 7, 7), generator=torch.Generator().manual_seed(3)).float()
    run(Fn(lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True)), [x])
    run(Fn(lambda x: F.adaptive_max_pool2d(x, (3, 2), return_indices=True)), [x])


@pytest.mark.parametrize("name", ["mp2d_idx_stride_pad", "amp2d_idx", "mp2d_values_dilated"])
def test_pool_indices_fp16(name):
    fn, shape = POOL_IDX[name]
    run(Fn(fn), [ints(*shape)], precision="fp16")


UNPOOL = {
    "unpool2d": (lambda x: A.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), [6, 8]), (2, 3, 6, 8)),
    "unpool2d_larger": (lambda x: A.max_unpool2d(*F.max_pool2d(x, 3, 2, 1, return_indices=True), [8, 9]), (1, 2, 7, 9)),
    "unpool2d_unbatched": (lambda x: A.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), [4, 6]), (2, 4, 6)),
    "unpool3d": (lambda x: A.max_unpool3d(*F.max_pool3d(x, 2, return_indices=True), [4, 4, 6], [2, 2, 2], [0, 0, 0]),
                 (1, 2, 4, 4, 6)),
}


@pytest.mark.parametrize("name", list(UNPOOL))
def test_max_unpool(name):
    fn, shape = UNPOOL[name]
    run(Fn(fn), [ints(*shape)])


LP = {
    "lp1d": (lambda x: F.lp_pool1d(x, 2, 3, 2), (2, 3, 11)),
    "lp2d": (lambda x: F.lp_pool2d(x, 3.0, (2, 3), 2), (1, 2, 6, 7)),
    "lp2d_ceil": (lambda x: F.lp_pool2d(x, 1.5, 2, ceil_mode=True), (1, 2, 5, 5)),
    "lp3d": (lambda x: F.lp_pool3d(x, 2, 2), (1, 2, 4, 4, 4)),
}


@pytest.mark.parametrize("name", list(LP))
def test_lp_pool(name):
    if name in TORCH2_CASES:
        need_torch2(TORCH2_CASES[name])
    fn, shape = LP[name]
    run(Fn(fn), [r(*shape).abs() + 0.1])  # p-th roots of negative averages are NaN


def test_fractional_max_pool_refused():
    conv_error(lambda x: F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=torch.rand(1, 2, 2)),
               r(1, 2, 6, 6), match="fractional_max_pool2d")


# ---- interpolation ----

INTERP = {  # name: (interpolate kwargs, input shape)
    "near1d_x2": (dict(scale_factor=2), (2, 3, 5)),
    "near1d_frac": (dict(scale_factor=1.7), (1, 2, 7)),
    "near1d_size_down": (dict(size=4), (1, 2, 9)),
    "near3d_x2": (dict(scale_factor=2), (1, 2, 2, 3, 4)),
    "near3d_size": (dict(size=(3, 5, 7)), (1, 2, 4, 3, 5)),
    "nex1d": (dict(scale_factor=2, mode="nearest-exact"), (1, 2, 5)),
    "nex1d_size": (dict(size=7, mode="nearest-exact"), (1, 2, 5)),
    "nex2d": (dict(scale_factor=(1.5, 3), mode="nearest-exact"), (1, 2, 4, 3)),
    "nex2d_down": (dict(size=(3, 2), mode="nearest-exact"), (1, 2, 7, 5)),
    "nex3d": (dict(size=(3, 4, 5), mode="nearest-exact"), (1, 1, 2, 3, 4)),
    "lin1d": (dict(scale_factor=2, mode="linear"), (2, 3, 6)),
    "lin1d_ac": (dict(scale_factor=2, mode="linear", align_corners=True), (2, 3, 6)),
    "lin1d_size": (dict(size=11, mode="linear"), (1, 2, 6)),
    "lin1d_size_ac": (dict(size=11, mode="linear", align_corners=True), (1, 2, 6)),
    "lin1d_frac": (dict(scale_factor=1.3, mode="linear"), (1, 2, 7)),
    "lin1d_down": (dict(size=3, mode="linear"), (1, 2, 8)),
    "tri3d": (dict(scale_factor=2, mode="trilinear"), (1, 2, 3, 3, 4)),
    "tri3d_ac": (dict(size=(4, 5, 3), mode="trilinear", align_corners=True), (1, 2, 3, 3, 4)),
    "tri3d_mixed": (dict(scale_factor=(1, 2, 0.5), mode="trilinear"), (1, 1, 3, 4, 6)),
    "bicubic": (dict(scale_factor=2, mode="bicubic"), (1, 2, 5, 6)),
    "bicubic_ac": (dict(scale_factor=2, mode="bicubic", align_corners=True), (1, 2, 5, 6)),
    "bicubic_size": (dict(size=(7, 4), mode="bicubic"), (2, 2, 5, 6)),
    "bicubic_frac": (dict(scale_factor=1.6, mode="bicubic"), (1, 1, 5, 5)),
    "bilinear_aa_down": (dict(size=(4, 3), mode="bilinear", antialias=True), (1, 2, 13, 10)),
    "bilinear_aa_up": (dict(scale_factor=2, mode="bilinear", antialias=True), (1, 2, 4, 5)),
    "bilinear_aa_ac": (dict(size=(5, 3), mode="bilinear", antialias=True, align_corners=True), (1, 2, 11, 9)),
    "bicubic_aa_down": (dict(scale_factor=0.4, mode="bicubic", antialias=True), (1, 2, 15, 10)),
    "bicubic_aa_up": (dict(size=(7, 9), mode="bicubic", antialias=True), (1, 1, 4, 5)),
    "bilinear_frac": (dict(scale_factor=1.3, mode="bilinear"), (1, 2, 7, 7)),
    "bilinear_frac_ac": (dict(scale_factor=(1.3, 0.7), mode="bilinear", align_corners=True), (1, 2, 7, 9)),
    "nearest2d_frac": (dict(scale_factor=1.3), (1, 2, 7, 7)),
    "recompute_scale": (dict(scale_factor=1.3, mode="bilinear", recompute_scale_factor=True), (1, 2, 7, 7)),
    "recompute_scale_1d": (dict(scale_factor=1.3, mode="linear", recompute_scale_factor=True), (1, 2, 7)),
}


@pytest.mark.parametrize("name", list(INTERP))
def test_interpolate(name):
    kw, shape = INTERP[name]
    run(Fn(lambda x: F.interpolate(x, **kw)), [r(*shape)])


@pytest.mark.parametrize("name", ["lin1d_frac", "tri3d", "bicubic_size", "bilinear_aa_down", "nex2d"])
def test_interpolate_fp16(name):
    kw, shape = INTERP[name]
    run(Fn(lambda x: F.interpolate(x, **kw)), [r(*shape)], precision="fp16")


def test_upsample_modules():
    m = nn.Sequential(nn.Upsample(scale_factor=2, mode="trilinear"), nn.Conv3d(2, 2, 1), nn.Upsample(size=(5, 7, 9)))
    run(m, [r(1, 2, 2, 3, 4)])


# ---- unfold / fold, affine_grid, channel_shuffle ----

UNFOLD = {  # name: (kwargs, input shape)
    "k2": (dict(kernel_size=2), (2, 3, 4, 5)),
    "k3_pad_stride": (dict(kernel_size=3, padding=1, stride=2), (1, 2, 7, 6)),
    "rect_dil": (dict(kernel_size=(2, 3), dilation=(2, 1), padding=(1, 0), stride=(1, 2)), (1, 2, 6, 8)),
    "unbatched": (dict(kernel_size=2, stride=2), (3, 4, 6)),
}


@pytest.mark.parametrize("name", list(UNFOLD))
def test_unfold(name):
    kw, shape = UNFOLD[name]
    run(Fn(lambda x: F.unfold(x, **kw)), [r(*shape)])


FOLD = {  # name: (output_size, kwargs, input shape [N, C*kh*kw, L])
    "k2_s2": ((4, 6), dict(kernel_size=2, stride=2), (2, 12, 6)),
    "k3_overlap": ((5, 5), dict(kernel_size=3, padding=1), (1, 18, 25)),
    "stride_gap": ((7, 6), dict(kernel_size=2, stride=3), (1, 8, 4)),  # rows past the last block are zeros
    "rect_dil": ((6, 8), dict(kernel_size=(2, 3), dilation=(2, 1), padding=(1, 0), stride=(1, 2)), (1, 12, 18)),
    "unbatched": ((4, 4), dict(kernel_size=2), (4, 9)),
}


@pytest.mark.parametrize("name", list(FOLD))
def test_fold(name):
    os_, kw, shape = FOLD[name]
    run(Fn(lambda x: F.fold(x, os_, **kw)), [r(*shape)])


def test_unfold_fold_roundtrip_fp16():
    run(Fn(lambda x: F.fold(F.unfold(x, 3, padding=1), (5, 6), 3, padding=1)), [r(1, 2, 5, 6)], precision="fp16")


@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (1, 1, 1, 3)])
def test_affine_grid(ac, size):
    run(Fn(lambda t: F.affine_grid(t, size, align_corners=ac)), [r(size[0], 2, 3)])


@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid_3d(ac):
    run(Fn(lambda t: F.affine_grid(t, (1, 2, 3, 4, 5), align_corners=ac)), [r(1, 3, 4)])


@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_spatial_transformer(ac, precision):
    """affine_grid + grid_sample: the spatial transformer's sampling, theta as a second input."""
    fn = lambda x, t: F.grid_sample(x, F.affine_grid(t, (2, 3, 5, 7), align_corners=ac), align_corners=ac)
    theta = torch.tensor([[[0.9, 0.2, 0.1], [-0.1, 1.1, -0.2]], [[1.2, 0.0, 0.3], [0.1, 0.8, 0.0]]])
    run(Fn(fn), [r(2, 3, 5, 7), theta], precision=precision)


SHUFFLE = {
    "module": (nn.ChannelShuffle(2), (2, 6, 3, 4)),
    "fn_3groups": (lambda x: F.channel_shuffle(x, 3), (1, 6, 5)),
    "native": (lambda x: torch.native_channel_shuffle(x, 2), (1, 4, 2, 3, 2)),
    "native_one_group": (lambda x: torch.native_channel_shuffle(x, 1) + 1, (1, 4, 3)),
}


@pytest.mark.parametrize("name", list(SHUFFLE))
def test_channel_shuffle(name):
    fn, shape = SHUFFLE[name]
    run(fn if isinstance(fn, nn.Module) else Fn(fn), [r(*shape)])


class _Up3(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2.0, mode="trilinear")


class _Lin(nn.Module):
    def forward(self, x):
        return F.interpolate(x, size=9, mode="linear", align_corners=True)


class _Fold(nn.Module):
    def forward(self, x):
        return F.fold(F.unfold(x, 2), (4, 6), 2)


class _Idx(nn.Module):
    def forward(self, x):
        return F.max_pool2d(x, 2, 2, 0, 1, False, True)


@pytest.mark.parametrize("mod,shape", [(_Up3, (1, 2, 2, 3, 4)), (_Lin, (1, 2, 5)), (_Fold, (1, 2, 4, 6)), (_Idx, (1, 2, 4, 6))],
                         ids=["trilinear", "linear", "unfold_fold", "pool_indices"])
def test_scripted(mod, shape):
    run(mod(), [ints(*shape)], script=True)


@pytest.mark.parametrize("kw,shape", [(dict(size=(3, 4), mode="area"), (1, 2, 7, 9)), (dict(size=3, mode="area"), (1, 2, 8))],
                         ids=["area2d", "area1d"])
def test_interpolate_area(kw, shape):
    run(Fn(lambda x: F.interpolate(x, **kw)), [r(*shape)])


def test_symbolic_spatial_dim_refused():
    tr = torch.jit.trace(Fn(lambda x: F.interpolate(x, scale_factor=2, mode="bicubic")).eval(), r(1, 2, 4, 5))
    with pytest.raises(ct.ConversionError, match="upsample_bicubic2d.*static spatial dims"):
        ct.convert(tr, inputs=[ct.TensorType(shape=(1, 2, ct.RangeDim(2, 8), 5))])
    tr = torch.jit.trace(Fn(lambda x: F.max_pool2d(x, 2, return_indices=True)).eval(), r(1, 2, 4, 6))
    with pytest.raises(ct.ConversionError, match="max_pool2d_with_indices.*static spatial dims"):
        ct.convert(tr, inputs=[ct.TensorType(shape=(1, 2, 4, ct.RangeDim(2, 8)))])
