"""Op coverage, reductions and scans: dims (negative, several, none), keepdim, dtype, int/bool
inputs, indices outputs; traced (and scripted), run in our runtime and compared with PyTorch
(fp32, and an fp16 subset)."""
import pytest
import torch
import torch.nn as nn

from cov_common import Fn, r, run

A = r(2, 3, 4, scale=2.0)
P = A.abs() + 0.5
I = (r(2, 3, 4, seed=3) * 3).round().to(torch.int32)

CASES = {
    # sum / mean
    "sum_all": (lambda x: x.sum(), A),
    "sum_dim_neg": (lambda x: x.sum(-1), A),
    "sum_dims_keep": (lambda x: torch.sum(x, (0, 2), keepdim=True), A),
    "sum_dtype": (lambda x: torch.sum(x, dtype=torch.float32), I),
    "sum_dim_dtype": (lambda x: x.sum(1, dtype=torch.float32), I),
    "sum_int": (lambda x: x.sum(0), I),
    "sum_bool": (lambda x: (x > 0).sum(-1), A),
    "mean_dims": (lambda x: x.mean((-1, 0)), A),
    "mean_keep": (lambda x: x.mean(1, keepdim=True), A),
    "mean_dtype": (lambda x: x.mean(dtype=torch.float32), A),
    "mean_int_dtype": (lambda x: torch.mean(x, 2, dtype=torch.float32), I),
    # max / min
    "max_global": (lambda x: x.max(), A),
    "min_global": (lambda x: torch.min(x), A),
    "max_dim": (lambda x: x.max(1), A),
    "max_dim_keep": (lambda x: torch.max(x, -1, keepdim=True), A),
    "min_dim": (lambda x: torch.min(x, 0), A),
    "max_values_only": (lambda x: x.max(dim=2)[0] + x.min(dim=2).values, A),
    "max_indices_use": (lambda x: x.max(-1)[1].float() * 2, A),
    "max_int": (lambda x: x.max(1), I),
    "max_elementwise": (lambda x: torch.max(x, 0.5 - x), A),
    "min_elementwise": (lambda x: torch.min(x, x * 0.5), A),
    "amax": (lambda x: x.amax(), A),
    "amax_dims": (lambda x: torch.amax(x, (0, -1)), A),
    "amin_keep": (lambda x: torch.amin(x, 1, keepdim=True), A),
    "amax_int": (lambda x: x.amax(-1), I),
    # prod
    "prod_all": (lambda x: x.prod(), P[0]),
    "prod_dim": (lambda x: x.prod(1), A),
    "prod_dim_keep": (lambda x: torch.prod(x, -1, keepdim=True), A),
    "prod_int": (lambda x: x.prod(2), I),
    "prod_dtype": (lambda x: torch.prod(x, 0, dtype=torch.float32), I),
    # argmax / argmin
    "argmax_flat": (lambda x: x.argmax(), A),
    "argmin_flat": (lambda x: torch.argmin(x), A),
    "argmax_dim": (lambda x: x.argmax(1), A),
    "argmax_dim_keep": (lambda x: x.argmax(-1, keepdim=True), A),
    "argmin_dim": (lambda x: torch.argmin(x, dim=0), A),
    "argmax_flat_keep": (lambda x: torch.argmax(x, keepdim=True), A),
    "argmax_int": (lambda x: x.argmax(2), I),
    # var / std
    "var": (lambda x: x.var(), A),
    "var_biased": (lambda x: torch.var(x, unbiased=False), A),
    "var_dim": (lambda x: x.var(1), A),
    "var_dims_keep": (lambda x: torch.var(x, (0, 2), keepdim=True), A),
    "var_dim_biased": (lambda x: x.var(-1, unbiased=False), A),
    "var_correction": (lambda x: torch.var(x, dim=1, correction=2), A),
    "var_correction0": (lambda x: torch.var(x, dim=(1, 2), correction=0, keepdim=True), A),
    "std": (lambda x: x.std(), A),
    "std_dim": (lambda x: x.std(-1, keepdim=True), A),
    "std_biased": (lambda x: torch.std(x, 0, unbiased=False), A),
    "std_correction": (lambda x: torch.std(x, dim=2, correction=0), A),
    "var_mean": (lambda x: torch.var_mean(x, 1), A),
    "std_mean_keep": (lambda x: torch.std_mean(x, -1, keepdim=True), A),
    # norms
    "norm": (lambda x: x.norm(), A),
    "norm_p1_dim": (lambda x: x.norm(1, dim=-1), A),
    "norm_inf": (lambda x: x.norm(float("inf"), dim=1, keepdim=True), A),
    "norm_p3": (lambda x: torch.norm(x, 3, dim=(1, 2)), A),
    "norm_p0": (lambda x: torch.norm(x.round(), 0, dim=1), A),
    "norm_fro": (lambda x: torch.norm(x, "fro", dim=(1, 2)), A),
    "norm_dim_keep": (lambda x: torch.norm(x, dim=1, keepdim=True), A),
    "vector_norm": (lambda x: torch.linalg.vector_norm(x), A),
    "vector_norm_ord1": (lambda x: torch.linalg.vector_norm(x, 1, dim=-1), A),
    "vector_norm_inf": (lambda x: torch.linalg.vector_norm(x, float("inf"), dim=(0, 1), keepdim=True), A),
    "vector_norm_neginf": (lambda x: torch.linalg.vector_norm(x, float("-inf"), dim=0), A),
    "linalg_norm": (lambda x: torch.linalg.norm(x), A),
    "linalg_norm_dim": (lambda x: torch.linalg.norm(x, dim=2), A),
    "linalg_norm_ord": (lambda x: torch.linalg.norm(x, 1, dim=-1), A),
    "linalg_norm_fro": (lambda x: torch.linalg.norm(x, "fro", dim=(0, 1)), A),
    "frobenius": (lambda x: torch.frobenius_norm(x, (1, 2)), A),
    "count_nonzero": (lambda x: torch.count_nonzero(x.round()), A),
    "count_nonzero_dims": (lambda x: torch.count_nonzero(x.round(), dim=(0, -1)), A),
    # logsumexp
    "logsumexp": (lambda x: torch.logsumexp(x, -1), A),
    "logsumexp_dims_keep": (lambda x: torch.logsumexp(x * 10, (0, 2), keepdim=True), A),
    # scans
    "cumsum": (lambda x: x.cumsum(-1), A),
    "cumsum_dim0": (lambda x: torch.cumsum(x, 0), A),
    "cumsum_dim1": (lambda x: torch.cumsum(x, 1), r(2, 11, 3)),
    "cumsum_int": (lambda x: x.cumsum(2), I),
    "cumsum_dtype": (lambda x: torch.cumsum(x, 1, dtype=torch.float32), I),
    "cumsum_bool": (lambda x: (x > 0).cumsum(-1), A),
    "cumsum_inplace": (lambda x: x.clone().cumsum_(1), A),
    "cumprod": (lambda x: x.cumprod(-1), A),
    "cumprod_negatives_zeros": (lambda x: torch.cumprod(x.round(), 1), A),
    "cumprod_long": (lambda x: torch.cumprod(x, 0), r(9, 2, scale=1.2)),
    "cumprod_int": (lambda x: x.cumprod(2), I),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reduce(name):
    fn, x = CASES[name]
    run(Fn(fn), [x])


class Scripted(nn.Module):
    def forward(self, x):
        v, i = torch.max(x, 1)
        return (v, i, x.sum(-1, keepdim=True), x.var(1, unbiased=False), torch.linalg.vector_norm(x, 2, dim=-1),
                x.argmin(), torch.logsumexp(x, 2), x.cumsum(1), x.std(dim=(0, 1), correction=0),
                torch.amax(x, dim=(0, 2)), x.prod(-1))


def test_scripted():
    run(Scripted(), [A], script=True)


FP16 = {
    "sum_mean": lambda x: x.sum(-1) + x.mean(-1),
    "max_min": lambda x: x.max(1)[0] - torch.amin(x, 1),
    "var_std": lambda x: torch.var(x, 1) + x.std(1),
    "norm": lambda x: torch.linalg.vector_norm(x, dim=-1) + x.norm(1, dim=-1),
    "logsumexp": lambda x: torch.logsumexp(x, -1),
    "cumsum": lambda x: x.cumsum(1),
    "cumprod": lambda x: x.cumprod(-1),
}


@pytest.mark.parametrize("name", sorted(FP16))
def test_fp16(name):
    run(Fn(FP16[name]), [A], precision="fp16")
