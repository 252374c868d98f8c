"""Op coverage, math family: inverse hyperbolics, frac / sinc / logit / xlogy / hypot / logaddexp /
copysign / heaviside / float_power / addcmul / addcdiv, windows, cross / vecdot / cosine similarity /
pairwise distance / cdist, trace / diagonal / diag_embed / det / inv, atleast_*d, broadcast_tensors,
matrix transposes, cumsum / cumprod / logcumsumexp, vector and matrix norms, renorm, var / std with
correction, and the losses. Each case is traced (some scripted), converted, run in our runtime and
compared with PyTorch (fp32; an fp16 subset)."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import pt2coreml as ct
from cov_seeded import Fn, r, run
from parity import need_torch2

A = r(3, 4, scale=2.0)
B = r(3, 4, seed=1)
X3 = r(2, 3, 4, seed=2)
Y3 = r(2, 3, 4, seed=3)
P = A.abs() + 0.1                      # positive
U = torch.sigmoid(r(3, 4, seed=4) * 2)  # in (0, 1)
I = (r(3, 4, seed=5) * 3).round().to(torch.int32)
SMALL = torch.tensor([[0.0, 1e-7, -1e-6, 1e-4], [-1e-3, 0.02, -0.3, 0.9], [2.5, -30.0, 1e5, -3e-5]])
NEAR1 = torch.tensor([1.0, 1.0 + 1e-6, 1.0001, 1.3, 2.0, 1.99, 7.5, 1e6])
V3 = r(4, 3, seed=6)
W3 = r(4, 3, seed=7)
M4 = r(2, 4, 4, seed=8) + 3 * torch.eye(4)

CASES = {
    # inverse hyperbolics: accuracy near 0 / 1, large values, ints
    "asinh": (torch.asinh, [A]),
    "asinh_small": (torch.asinh, [SMALL]),
    "acosh": (torch.acosh, [P + 1]),
    "acosh_near1": (torch.acosh, [NEAR1]),
    "atanh": (torch.atanh, [torch.tanh(A)]),
    "atanh_small": (lambda x: torch.atanh(x.clamp(-0.99, 0.99)), [SMALL]),
    "asinh_int": (torch.asinh, [I]),
    # unary
    "frac": (torch.frac, [A * 3]),
    "frac_inplace": (lambda x: (x * 3).frac_(), [A]),
    "sinc": (torch.sinc, [torch.cat([A, torch.zeros(1, 4)])]),
    "deg2rad": (torch.deg2rad, [A * 90]),
    "rad2deg": (torch.rad2deg, [A]),
    "logit": (torch.logit, [U]),
    "logit_eps": (lambda x: torch.logit(x, eps=0.2), [U]),
    "logit_inplace": (lambda x: x.clone().logit_(1e-3), [U]),
    "sgn": (torch.sgn, [torch.cat([A, torch.zeros(1, 4)])]),
    "sgn_int": (torch.sgn, [I]),
    # binary, broadcast and scalar operands
    "xlogy": (torch.xlogy, [torch.cat([A, torch.zeros(1, 4)]), torch.cat([P, P[:1]])]),
    "xlogy_bcast_scalar": (lambda x, y: torch.xlogy(x, y[0]) + torch.xlogy(2.0, y) + torch.xlogy(x, 3.0), [A, P]),
    "xlogy_inplace": (lambda x, y: x.clone().xlogy_(y), [A, P]),
    "hypot": (torch.hypot, [A, B]),
    "hypot_bcast": (lambda x, y: torch.hypot(x, y[:, :1]), [A, B]),
    "logaddexp": (torch.logaddexp, [A * 30, B * 30]),
    "logaddexp_bcast": (lambda x, y: torch.logaddexp(x, y[0]), [A, B]),
    "logaddexp2": (torch.logaddexp2, [A * 10, B]),
    "copysign": (torch.copysign, [A, B]),
    "copysign_scalar_negzero": (lambda x, y: torch.copysign(x, -0.0) + torch.copysign(y, x[0]), [A, B]),
    "copysign_int": (torch.copysign, [I, B]),
    "heaviside": (lambda x, v: torch.heaviside(x.round(), v), [A, B]),
    "heaviside_int": (lambda x: torch.heaviside(x, torch.tensor([7], dtype=torch.int32)), [I]),
    "float_power": (lambda x: torch.float_power(x, 2.5), [P]),
    "float_power_tensor": (torch.float_power, [P, B]),
    "float_power_int": (lambda x: torch.float_power(x, 2), [I]),
    "true_divide": (torch.true_divide, [A, P]),
    "true_divide_int_scalar": (lambda x: torch.true_divide(x, 4), [I]),
    "addcmul": (lambda x, y: torch.addcmul(x, y, x, value=0.5), [A, B]),
    "addcmul_bcast_int": (lambda x: torch.addcmul(x, x[:1], x[:, :1], value=3), [I]),
    "addcdiv": (lambda x, y, p: torch.addcdiv(x, y, p, value=-2), [A, B, P]),
    "addcmul_inplace": (lambda x, y: x.clone().addcmul_(y, y), [A, B]),
    "addcdiv_inplace": (lambda x, y, p: x.clone().addcdiv_(y, p), [A, B, P]),
    "clamp_tensors": (lambda x, lo, hi: torch.clamp(x, lo, hi + 1), [A, B, B]),
    "clamp_tensor_min_bcast": (lambda x, lo: torch.clamp(x, min=lo[0]), [A, B]),
    "clamp_int_tensor_max": (lambda x, hi: torch.clamp(x, max=hi), [I, I.flip(0)]),
    # windows (length from the input's size, so not folded away)
    "hann": (lambda x: x * torch.hann_window(x.shape[-1]), [A]),
    "hann_symmetric": (lambda x: x * torch.hann_window(x.size(-1), periodic=False), [A]),
    "hamming": (lambda x: x * torch.hamming_window(x.size(0)), [r(8)]),
    "hamming_alpha_beta": (lambda x: x * torch.hamming_window(x.size(-1), False, 0.5, 0.4), [A]),
    "blackman": (lambda x: x * torch.blackman_window(x.size(-1)) + torch.blackman_window(x.size(-1), False), [A]),
    "bartlett": (lambda x: x * torch.bartlett_window(x.size(-1)) * torch.bartlett_window(x.size(-1), False), [A]),
    "kaiser": (lambda x: x * torch.kaiser_window(x.size(-1), True, 5.0) + torch.kaiser_window(x.size(-1)), [A]),
    "window_len1": (lambda x: x * torch.hann_window(x.size(0)), [r(1)]),
    # cross / vecdot / similarity / distances
    "cross": (lambda a, b: torch.cross(a, b, dim=1), [V3, W3]),
    "cross_dim0_neg": (lambda a, b: torch.cross(a.t(), b.t(), dim=-2), [V3, W3]),
    "linalg_cross_bcast": (lambda a, b: torch.linalg.cross(a, b[:1]), [V3, W3]),
    "linalg_cross_int": (lambda a: torch.linalg.cross(a[:, :3], a[:, 1:]), [I]),
    "vecdot": (torch.linalg.vecdot, [A, B]),
    "vecdot_dim_bcast": (lambda a, b: torch.linalg.vecdot(a, b[:1], dim=0), [X3, Y3]),
    "cosine_similarity": (F.cosine_similarity, [A, B]),
    "cosine_similarity_dim_eps": (lambda a, b: F.cosine_similarity(a, b, dim=-1, eps=0.5), [X3 * 0.1, Y3]),
    "cosine_similarity_bcast": (lambda a, b: F.cosine_similarity(a, b[:, :1], dim=2), [X3, Y3]),
    "cosine_similarity_zero": (lambda a, b: F.cosine_similarity(a * 0, b), [A, B]),
    "pairwise_distance": (F.pairwise_distance, [A, B]),
    "pairwise_distance_p1_keep": (lambda a, b: F.pairwise_distance(a, b, p=1, keepdim=True), [X3, Y3]),
    "pairwise_distance_inf_eps": (lambda a, b: F.pairwise_distance(a, b, p=float("inf"), eps=0.1), [A, B]),
    "pairwise_distance_p3_bcast": (lambda a, b: F.pairwise_distance(a, b[0], p=3), [A, B]),
    "cdist": (torch.cdist, [r(5, 3, seed=9), r(4, 3, seed=10)]),
    "cdist_p1_batched": (lambda a, b: torch.cdist(a, b, p=1), [r(2, 5, 3, seed=9), r(2, 4, 3, seed=10)]),
    "cdist_inf_p0": (lambda a, b: torch.cdist(a, b, p=float("inf")) + torch.cdist(a.round(), b.round(), p=0), [r(5, 3, seed=9), r(4, 3, seed=10)]),
    "cdist_mm": (torch.cdist, [r(30, 4, seed=11), r(27, 4, seed=12)]),
    "cdist_mm_mode": (lambda a, b: torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist"), [r(6, 4, seed=11), r(5, 4, seed=13)]),
    "cdist_p1_5": (lambda a, b: torch.cdist(a, b, p=1.5), [r(5, 3, seed=9), r(4, 3, seed=10)]),
    # trace / diagonal / diag_embed
    "trace": (torch.trace, [A]),
    "trace_int": (torch.trace, [I]),
    "diagonal": (torch.diagonal, [A]),
    "diagonal_offset": (lambda x: torch.diagonal(x, 1) + torch.diagonal(x, -1)[:2].sum(), [A]),
    "diagonal_dims": (lambda x: torch.diagonal(x, offset=-1, dim1=2, dim2=0), [X3]),
    "diagonal_neg_dims": (lambda x: torch.diagonal(x, 2, -1, -2), [X3]),
    "diagonal_int": (lambda x: x.diagonal(), [I]),
    "diag_embed": (torch.diag_embed, [A]),
    "diag_embed_offset": (lambda x: torch.diag_embed(x, 1) + torch.diag_embed(x, -1), [A]),
    "diag_embed_dims": (lambda x: torch.diag_embed(x, offset=-2, dim1=0, dim2=2), [A]),
    "diag_embed_int": (lambda x: torch.diag_embed(x, 0, -1, 1), [I]),
    # det / inv of small matrices
    "det": (torch.linalg.det, [M4]),
    "det_sizes": (lambda x: torch.linalg.det(x[:, :1, :1]) + torch.linalg.det(x[:, :2, :2]) + torch.det(x[:, 1:, 1:]), [M4]),
    "inv": (torch.linalg.inv, [M4]),
    "inv_sizes": (lambda x: (torch.linalg.inv(x[0, :3, :3]), torch.inverse(x[:, :2, :2]), torch.linalg.inv(x[:, :1, :1])), [M4]),
    # shape helpers
    "atleast": (lambda x: (torch.atleast_1d(x[0, 0]), torch.atleast_2d(x[0]), torch.atleast_3d(x), torch.atleast_3d(x[0]),
                           torch.atleast_2d(x[0, 0]), torch.atleast_3d(x[0, 0]), torch.atleast_1d(x)), [A]),
    "broadcast_tensors": (lambda x, y: torch.broadcast_tensors(x, y[:1], y[0, 0]), [A, B]),
    "broadcast_tensors_int_rank": (lambda x, y: torch.broadcast_tensors(x[:, :1], y), [I, X3]),
    "numpy_T": (lambda x: x.T, [A]),
    "numpy_T_3d": (lambda x: x.permute(2, 1, 0).T, [X3]),
    "mT_mH": (lambda x: x.mT + x.mH * 2 + x.adjoint(), [X3]),
    # scans
    "cumsum": (lambda x: torch.cumsum(x, -1), [X3]),
    "cumsum_dim0_int": (lambda x: torch.cumsum(x, 0), [I]),
    "cumprod_neg_zero": (lambda x: torch.cumprod(x.round(), 1), [X3]),
    "cumprod_long_int": (lambda x: torch.cumprod(x.clamp(-2, 2), 0), [(r(13, 2, seed=13) * 2).round().to(torch.int32)]),
    "cumprod_dtype": (lambda x: torch.cumprod(x, -1, dtype=torch.float32), [I]),
    "logcumsumexp": (lambda x: torch.logcumsumexp(x, 1), [X3 * 5]),
    "logcumsumexp_wide": (lambda x: torch.logcumsumexp(x, -1), [torch.tensor([[-200.0, 0.0, 90.0, -90.0, 100.0, 3.0, 1e-3]])]),
    "logcumsumexp_dim0": (lambda x: torch.logcumsumexp(x, 0), [r(9, 2, seed=14)]),
    # vector norms
    "vector_norm_ords": (lambda x: [torch.linalg.vector_norm(x, o) for o in (2, 1, 0, 3, 0.5, float("inf"), float("-inf"))], [A.round()]),
    "vector_norm_dim_keep": (lambda x: torch.linalg.vector_norm(x, 3, dim=(0, -1), keepdim=True), [X3]),
    "vector_norm_dtype": (lambda x: torch.linalg.vector_norm(x, dim=-1, dtype=torch.float32), [X3]),
    "norm_p_dim": (lambda x: torch.norm(x, 1, dim=1) + x.norm(dim=-2) + x.norm(p=float("inf"), dim=1, keepdim=True)[:, 0], [X3]),
    "norm_fro": (lambda x: torch.norm(x, "fro") + torch.norm(x, p="fro", dim=(1, 2)).sum(), [X3]),
    "frobenius": (lambda x: torch.frobenius_norm(x, (0, 2), True), [X3]),
    # matrix norms
    "matrix_norm_ords": (lambda x: [torch.linalg.matrix_norm(x, o) for o in ("fro", 1, -1, float("inf"), float("-inf"))], [X3]),
    "matrix_norm_dims_keep": (lambda x: [torch.linalg.matrix_norm(x, o, dim=(2, 0), keepdim=k)
                                         for o in (1, float("-inf")) for k in (False, True)], [X3]),
    "linalg_norm_matrix": (lambda x: [torch.linalg.norm(x, o) for o in ("fro", 1, float("inf"))], [A]),
    "linalg_norm_dims": (lambda x: torch.linalg.norm(x, -1, dim=(-1, 0)) + torch.linalg.norm(x, 3, dim=1).sum(), [X3]),
    "linalg_norm_vector": (lambda x: torch.linalg.norm(x[0], float("inf")) + torch.linalg.norm(x), [X3]),
    "norm_nuc_2d_fro": (lambda x: torch.norm(x, "fro", dim=(0, 1)), [A]),
    "renorm": (lambda x: torch.renorm(x, 2, 0, 2.0), [X3]),
    "renorm_p1_dim": (lambda x: torch.renorm(x, 1, -1, 3.0), [X3]),
    # var / std correction overloads
    "var_correction": (lambda x: torch.var(x, dim=1, correction=2), [X3]),
    "std_correction_keep": (lambda x: torch.std(x, dim=(0, -1), correction=0, keepdim=True), [X3]),
    "var_correction_all": (lambda x: torch.var(x, None, correction=3), [X3]),  # dim spelled out for torch 1.13
    "std_mean_correction": (lambda x: torch.std_mean(x, dim=-1, correction=0), [X3]),
    "var_mean_correction_keep": (lambda x: torch.var_mean(x, dim=(0, 1), correction=2, keepdim=True), [X3]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_math(name):
    fn, xs = CASES[name]
    run(Fn(fn), xs)


# ---- losses ----
T = r(3, 4, seed=20)
LOGITS = r(4, 5, seed=21)
TGT = torch.tensor([1, 0, 4, 2])
LOGITS4 = r(2, 3, 2, 2, seed=22)
TGT4 = torch.tensor([[[0, 2], [1, 1]], [[2, 0], [1, 0]]])
CW = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.25])


class Loss(nn.Module):
    def __init__(self, fn, weight=None):
        super().__init__()
        self.fn = fn
        if weight is not None:
            self.register_buffer("w", weight)
        else:
            self.w = None

    def forward(self, *xs):
        return self.fn(self, *xs)


LOSSES = {
    "mse": (lambda s, a, b: [F.mse_loss(a, b, reduction=red) for red in ("none", "mean", "sum")], [A, T]),
    "mse_bcast": (lambda s, a, b: F.mse_loss(a, b[0].expand_as(a)), [A, T]),
    "l1": (lambda s, a, b: [F.l1_loss(a, b, reduction=red) for red in ("none", "mean", "sum")], [A, T]),
    "smooth_l1": (lambda s, a, b: [F.smooth_l1_loss(a, b, reduction=red, beta=0.5) for red in ("none", "mean", "sum")], [A, T]),
    "smooth_l1_beta0": (lambda s, a, b: F.smooth_l1_loss(a, b, beta=0.0), [A, T]),
    "huber": (lambda s, a, b: [F.huber_loss(a, b, reduction=red, delta=0.7) for red in ("none", "mean", "sum")], [A, T]),
    "huber_module": (lambda s, a, b: nn.HuberLoss()(a, b) + nn.SmoothL1Loss()(a, b), [A, T]),
    "bce": (lambda s, a, b: [F.binary_cross_entropy(torch.sigmoid(a), b, reduction=red) for red in ("none", "mean", "sum")], [A, U]),
    "bce_weight_clamp": (lambda s, a, b: F.binary_cross_entropy(torch.cat([a.clamp(0, 1), torch.ones(1, 4)]),
                                                                torch.cat([b, torch.zeros(1, 4)]), weight=b[0]), [U.round(), U]),
    "bce_logits": (lambda s, a, b: [F.binary_cross_entropy_with_logits(a * 20, b, reduction=red) for red in ("none", "mean", "sum")], [A, U]),
    "bce_logits_weights": (lambda s, a, b: F.binary_cross_entropy_with_logits(a, b, weight=b[:, :1], pos_weight=torch.tensor([1.0, 2.0, 0.5, 3.0])), [A, U]),
    "nll": (lambda s, x: [F.nll_loss(F.log_softmax(x, 1), TGT, reduction=red) for red in ("none", "mean", "sum")], [LOGITS]),
    "nll_weight_ignore": (lambda s, x: [F.nll_loss(F.log_softmax(x, 1), TGT, weight=s.w, ignore_index=4, reduction=red)
                                        for red in ("none", "mean", "sum")], [LOGITS], CW),
    "nll_4d": (lambda s, x: F.nll_loss(x, TGT4) + F.nll_loss(x, TGT4, reduction="none").sum(), [LOGITS4]),
    "nll_unbatched": (lambda s, x: F.nll_loss(x[0], TGT[0]), [LOGITS]),
    "ce": (lambda s, x: [F.cross_entropy(x, TGT, reduction=red) for red in ("none", "mean", "sum")], [LOGITS]),
    "ce_weight_ignore_smooth": (lambda s, x: [F.cross_entropy(x, TGT, weight=s.w, ignore_index=0, label_smoothing=0.2, reduction=red)
                                              for red in ("none", "mean", "sum")], [LOGITS], CW),
    "ce_smooth": (lambda s, x: [F.cross_entropy(x, TGT, label_smoothing=0.1, reduction=red) for red in ("none", "mean", "sum")], [LOGITS]),
    "ce_4d_weight": (lambda s, x: F.cross_entropy(x, TGT4, weight=s.w[:3], label_smoothing=0.05), [LOGITS4], CW),
    "ce_probs": (lambda s, x, p: [F.cross_entropy(x, p.softmax(1), reduction=red, label_smoothing=0.1) for red in ("none", "mean", "sum")],
                 [LOGITS, r(4, 5, seed=23)]),
    "ce_probs_weight": (lambda s, x, p: F.cross_entropy(x, p.softmax(1), weight=s.w), [LOGITS, r(4, 5, seed=23)], CW),
    "ce_module": (lambda s, x: nn.CrossEntropyLoss()(x, TGT) + nn.NLLLoss()(x.log_softmax(-1), TGT), [LOGITS]),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss(name):
    if name == "bce_weight_clamp":
        need_torch2("tracing F.binary_cross_entropy with a broadcast weight (torch 1.13's _infer_size)")
    fn, xs, *w = LOSSES[name]
    run(Loss(fn, w[0] if w else None), xs)


def test_nll_target_input():
    """Class indices fed at run time (int32 input), ignore_index hit."""
    m = Fn(lambda x, t: (F.cross_entropy(x, t, ignore_index=2), F.nll_loss(x.log_softmax(1), t, reduction="sum")))
    run(m, [LOGITS, torch.tensor([1, 2, 4, 2])])


# ---- scripted: kinds only the script compiler keeps ----
class Scripted(nn.Module):
    def forward(self, x, y):
        a = x * 2.0 if x.is_floating_point() else x
        s = torch.ops.aten._local_scalar_dense(x.sum())
        t = y.sum().item()
        w = torch.hann_window(x.size(-1))
        return (a + s + t, w, x.T, x.mT, torch.atleast_1d(x), torch.std(x, dim=[1], correction=0),
                torch.var_mean(x, dim=[0], correction=2), torch.logcumsumexp(x, -1), torch.cdist(x, y),
                torch.linalg.norm(x, "fro"), torch.linalg.matrix_norm(x, 1.0), F.nll_loss(x.log_softmax(1), torch.tensor([0, 3, 1])),
                torch.ops.aten.nll_loss(x.log_softmax(1), torch.tensor([0, 3, 1])),
                torch.ops.aten.nll_loss2d(x.view(1, 3, 2, 2).log_softmax(1), torch.tensor([[[0, 2], [1, 1]]])))


def test_scripted():
    run(Scripted(), [A, B], script=True)


class ScriptedInt(nn.Module):
    def forward(self, x):
        if x.is_floating_point():
            return x + 1
        return x * 3


def test_is_floating_point_int():
    run(ScriptedInt(), [I], script=True)


# ---- fp16 ----
FP16 = {
    "asinh_acosh_atanh": (lambda x: torch.asinh(x) + torch.acosh(x.abs() + 1) + torch.atanh(torch.tanh(x) * 0.9), [A]),
    "logaddexp_hypot": (lambda x, y: torch.logaddexp(x, y) + torch.hypot(x, y), [A, B]),
    "cumsum_logcumsumexp": (lambda x: torch.cumsum(x, 1) + torch.logcumsumexp(x, 1), [X3]),
    "cosine_cdist": (lambda x, y: (F.cosine_similarity(x, y), torch.cdist(x, y)), [A, B]),
    "matrix_norm_inv": (lambda x: (torch.linalg.matrix_norm(x, 1), torch.linalg.inv(x)), [M4]),
    "ce": (lambda x: F.cross_entropy(x, TGT, label_smoothing=0.1), [LOGITS]),
}


@pytest.mark.parametrize("name", sorted(FP16))
def test_fp16(name):
    fn, xs = FP16[name]
    run(Fn(fn), xs, precision="fp16")


# ---- histograms and errors ----
def test_cumsum_is_mil_cumsum():
    run(Fn(lambda x: torch.cumsum(x, 1)), [X3], ops=("cumsum",), absent=("pad",))
    run(Fn(lambda x: torch.cumprod(x, 1)), [X3], absent=("pad",))


def _convert(fn, *xs):
    tm = torch.jit.trace(Fn(fn).eval(), xs)
    return ct.convert(tm, inputs=[ct.TensorType(shape=x.shape) for x in xs])


@pytest.mark.parametrize("fn, msg", [
    (lambda x: torch.linalg.matrix_norm(x, "nuc"), r"aten::linalg_matrix_norm.*nuclear norm needs singular values"),
    (lambda x: torch.linalg.matrix_norm(x, 2), r"aten::linalg_matrix_norm.*order 2 needs singular values"),
    (lambda x: torch.linalg.norm(x[0], -2), r"aten::linalg_norm.*order -2 needs singular values"),
    (lambda x: torch.nuclear_norm(x[0]), r"aten::nuclear_norm"),  # 2-D: torch 1.13 refuses 3-D when tracing
    (lambda x: torch.linalg.inv(x.repeat(1, 7, 7)[:, :33, :33] + 40 * torch.eye(33)), r"aten::linalg_inv.*to 32 x 32"),
])
def test_errors(fn, msg):
    with pytest.raises(ct.ConversionError, match=msg):
        _convert(fn, r(2, 5, 5))


def test_window_values():
    """The constants themselves, both periodic forms, against torch at a length where errors show."""
    for f in (torch.hann_window, torch.hamming_window, torch.blackman_window, torch.bartlett_window, torch.kaiser_window):
        for periodic in (True, False):
            run(Fn(lambda x, f=f, periodic=periodic: x + f(x.size(-1), periodic)), [r(33)])
    assert math.isfinite(float(torch.hann_window(3).sum()))


def test_losses_flexible_batch():
    """broadcast_tensors (traced before every regression loss) with batch sizes known only at run time."""
    from lower_common import CHECK_COREMLTOOLS
    from parity import check_parity
    m = Fn(lambda a, b: (F.mse_loss(a, b), F.l1_loss(a, b, reduction="none"), torch.broadcast_tensors(a, b[:, :1])[1]))
    types = [ct.TensorType(name=f"input_{i}", shape=(ct.RangeDim(1, 8), 4)) for i in range(2)]
    check_parity(m, [A, T], input_types=types, check_coremltools=CHECK_COREMLTOOLS)
    # a dim of size 1 cannot grow to a size known only at run time
    tm = torch.jit.trace(Fn(lambda a, b: torch.broadcast_tensors(a, b[0])[1]).eval(), (A, T))
    with pytest.raises(ct.ConversionError, match=r"aten::broadcast_tensors.*known only at run time"):
        ct.convert(tm, inputs=types)


def _predict(fn, x):
    tm = torch.jit.trace(Fn(fn).eval(), (x,))
    m = ct.convert(tm, inputs=[ct.TensorType(name="x", shape=x.shape)], compute_precision=ct.precision.FLOAT32)
    return next(iter(m.predict({"x": x.numpy()}).values()))


TINY = torch.tensor([1e-30, -1e-20, 1e-12, -3e-9, 1e-7, -2e-6, 1e-5, 3e-4, -1e-3, 0.05, -0.5, 2.0, 30.0, 0.0])


@pytest.mark.parametrize("name", ["log1p", "expm1", "asinh", "atanh"])
def test_relative_accuracy_near_zero(name):
    """Element-wise relative error (not scaled by the largest output) stays at a few ulp near 0."""
    import numpy as np
    fn = getattr(torch, name)
    x = TINY.clamp(-0.9, 0.9) if name == "atanh" else TINY
    ref = getattr(np, {"asinh": "arcsinh", "atanh": "arctanh"}.get(name, name))(x.numpy().astype(np.float64))
    got = _predict(fn, x).astype(np.float64)
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)
    assert rel.max() < 1e-6, (name, rel.max(), x[int(rel.argmax())])


def test_infinities():
    """-inf operands (masked scores) as torch: logaddexp / logcumsumexp stay -inf, atanh(+-1) = +-inf."""
    import numpy as np
    ninf = float("-inf")
    x = torch.tensor([[ninf, ninf, 0.0, ninf, 2.0], [ninf, 1.0, ninf, ninf, ninf]])
    for fn in (lambda x: torch.logaddexp(x, x.flip(1)), lambda x: torch.logcumsumexp(x, 1), lambda x: torch.logaddexp(x, x),
               lambda x: torch.atanh(x.clamp(-1, 1))):
        np.testing.assert_allclose(_predict(fn, x), fn(x).numpy(), rtol=1e-6)
