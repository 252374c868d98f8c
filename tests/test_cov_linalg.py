"""Op coverage, linear algebra: linear, addmm/addmv/baddbmm/addbmm (beta/alpha), matmul over rank
combinations 1-D..4-D, mm, mv, bmm, einsum (common equations, ellipsis, implicit output, 3 operands),
outer, dot. Converted, run in our runtime, compared with PyTorch (fp32; fp16 subset)."""
import pytest
import torch
import torch.nn as nn

from cov2_common import Fn, r, run

MATMUL_SHAPES = [
    ((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
    ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (1, 4, 5)), ((2, 2, 3, 4), (2, 2, 4, 5)), ((2, 2, 3, 4), (4, 5)), ((1, 2, 3, 4), (3, 1, 4, 2)),
    ((2, 3, 4, 5), (5,)), ((5,), (2, 3, 5, 4)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}x{b}" for a, b in MATMUL_SHAPES])
def test_matmul_ranks(sa, sb):
    run(Fn(lambda a, b: torch.matmul(a, b)), [r(*sa), r(*sb, seed=1)])


def test_matmul_const_weight():
    w = r(4, 6)
    run(Fn(lambda a: a @ w), [r(2, 3, 4)])
    run(Fn(lambda a: w.t() @ a), [r(2, 4, 5)])


@pytest.mark.parametrize("shape", [(6,), (3, 6), (2, 3, 6), (2, 2, 3, 6)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    torch.manual_seed(0)
    run(nn.Linear(6, 4, bias=bias), [r(*shape)])


def test_linear_functional_tensor_weight():
    run(Fn(lambda x, w, b: nn.functional.linear(x, w, b)), [r(2, 5), r(3, 5), r(3)])


@pytest.mark.parametrize("beta,alpha", [(1.0, 1.0), (0.5, 2.0), (0.0, 1.5)])
def test_addmm_family(beta, alpha):
    run(Fn(lambda c, a, b: torch.addmm(c, a, b, beta=beta, alpha=alpha)), [r(3, 2), r(3, 4), r(4, 2)])
    run(Fn(lambda c, a, b: torch.addmm(c, a, b, beta=beta, alpha=alpha)), [r(2), r(3, 4), r(4, 2)])
    run(Fn(lambda c, a, b: torch.baddbmm(c, a, b, beta=beta, alpha=alpha)), [r(2, 3, 5), r(2, 3, 4), r(2, 4, 5)])
    run(Fn(lambda c, a, b: torch.addbmm(c, a, b, beta=beta, alpha=alpha)), [r(3, 5), r(2, 3, 4), r(2, 4, 5)])
    run(Fn(lambda c, a, b: torch.addmv(c, a, b, beta=beta, alpha=alpha)), [r(3), r(3, 4), r(4)])


def test_mm_mv_bmm_outer_dot():
    run(Fn(lambda a, b: torch.mm(a, b)), [r(3, 4), r(4, 2)], ops=["matmul"])
    run(Fn(lambda a, b: torch.mv(a, b)), [r(3, 4), r(4)])
    run(Fn(lambda a, b: torch.bmm(a, b)), [r(2, 3, 4), r(2, 4, 2)])
    run(Fn(lambda a, b: torch.outer(a, b)), [r(3), r(4)])
    run(Fn(lambda a, b: torch.ger(a, b) + 1), [r(3), r(4)])
    run(Fn(lambda a, b: torch.dot(a, b) * a), [r(5), r(5, seed=2)])


EINSUM = [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("bhqk,bhkd->bhqd", [(2, 3, 4, 6), (2, 3, 6, 5)]),
    ("ij->ji", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bi,bi->b", [(3, 5), (3, 5)]),
    ("ij,jk", [(3, 4), (4, 2)]),  # implicit output
    ("ii->i", None),  # diagonal: not supported (skipped below)
    ("ij->", [(3, 4)]),
    ("ijk->kij", [(2, 3, 4)]),
    ("bn,nd->bd", [(2, 5), (5, 3)]),
    ("...ij,...jk->...ik", [(2, 2, 3, 4), (2, 4, 5)]),
    ("bnd,md->bnm", [(2, 3, 4), (5, 4)]),
    ("i,i->", [(6,), (6,)]),
    ("bij,bkj,bk->bi", [(2, 3, 4), (2, 5, 4), (2, 5)]),
    ("nchw,oc->nohw", [(1, 3, 4, 5), (2, 3)]),
    ("b i d, b j d -> b i j", [(2, 3, 4), (2, 5, 4)]),
]


@pytest.mark.parametrize("eq,shapes", [e for e in EINSUM if e[1]], ids=[e[0] for e in EINSUM if e[1]])
def test_einsum(eq, shapes):
    run(Fn(lambda *xs: torch.einsum(eq, *xs)), [r(*s, seed=i) for i, s in enumerate(shapes)])


@pytest.mark.parametrize("i", [0, 1, 9])
def test_linalg_fp16(i):
    eq, shapes = EINSUM[i]
    run(Fn(lambda *xs: torch.einsum(eq, *xs)), [r(*s, seed=k) for k, s in enumerate(shapes)], precision="fp16")


def test_matmul_fp16():
    run(Fn(lambda a, b: torch.matmul(a, b)), [r(2, 2, 3, 4), r(4, 5)], precision="fp16")
    torch.manual_seed(0)
    run(nn.Linear(6, 4), [r(2, 3, 6)], precision="fp16")
