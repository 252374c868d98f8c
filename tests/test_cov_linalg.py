"""Op coverage, linear algebra: linear, addmm/addmv/baddbmm/addbmm (beta/alpha), matmul over rank
combinations 1-D..4-D, mm, mv, bmm, einsum (common equations, ellipsis, implicit output, 3 operands),
outer, dot. Converted, run in our runtime, compared with PyTorch (fp32; fp16 subset)."""
import pytest
import torch
import torch.nn as nn

from cov_seeded import Fn, r, run

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


def _tri(*shape, upper=False, seed=0):
    """A matrix whose upper (lower) triangle is well conditioned: diagonal 1..2, other entries ~0.3 (both
    triangles are filled: a solve must read only its own)."""
    d = 1 + torch.rand(*shape[:-1], generator=torch.Generator().manual_seed(seed + 1))
    return r(*shape, seed=seed) * 0.3 + torch.diag_embed(d)


SOLVE = [((5, 5), (5, 3)), ((8, 8), (2, 8, 4)), ((2, 3, 6, 6), (3, 6, 2)), ((1, 1), (1, 4)), ((33, 33), (33, 2))]


@pytest.mark.parametrize("sa,sb", SOLVE, ids=[f"{a}x{b}" for a, b in SOLVE])
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_left(sa, sb, upper, unit):
    run(Fn(lambda a, b: torch.linalg.solve_triangular(a, b, upper=upper, unitriangular=unit)),
        [_tri(*sa, upper=upper), r(*sb, seed=3)], tol=1e-3)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_right(upper, unit):
    run(Fn(lambda a, b: torch.linalg.solve_triangular(a, b, upper=upper, left=False, unitriangular=unit)),
        [_tri(2, 7, 7, upper=upper), r(2, 3, 7, seed=4)], tol=1e-3)


def test_solve_triangular_ignores_other_triangle():
    a = _tri(6, 6) + torch.triu(r(6, 6, seed=9) * 5, 1)   # garbage above the diagonal of a lower solve
    run(Fn(lambda a, b: torch.linalg.solve_triangular(a, b, upper=False)), [a, r(6, 2)], tol=1e-3)


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("upper", [False, True])
def test_triangular_solve_legacy(transpose, upper):
    run(Fn(lambda b, a: torch.triangular_solve(b, a, upper=upper, transpose=transpose)),
        [r(2, 6, 3, seed=5), _tri(2, 6, 6, upper=upper)], tol=1e-3)


def test_solve_triangular_chunked_delta_rule_form():
    """The form transformers' gated delta-rule layers (Qwen3-Next, Qwen3.5, OLMo-hybrid) use: a unit
    lower-triangular system built in the model, solved for two right-hand sides."""
    def f(k, beta, v):
        attn = -((k * beta) @ k.transpose(-1, -2)).masked_fill(torch.triu(torch.ones(8, 8, dtype=torch.bool)), 0)
        eye = torch.eye(8)
        ut = eye + attn
        return torch.linalg.solve_triangular(ut, v * beta, upper=False, unitriangular=True)
    run(Fn(f), [r(2, 2, 8, 4, scale=0.5), torch.rand(2, 2, 8, 1), r(2, 2, 8, 4, seed=2)], tol=1e-3)


@pytest.mark.parametrize("upper", [False, True])
def test_solve_triangular_fp16(upper):
    run(Fn(lambda a, b: torch.linalg.solve_triangular(a, b, upper=upper)),
        [_tri(6, 6, upper=upper), r(6, 3, seed=3)], precision="fp16")
