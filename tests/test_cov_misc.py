"""Op coverage, odd leftovers (coremltools registry names we did not lower): prim::ConstantChunk,
aten::sym_size, aten::sym_constrain_range(_for_size), aten::_reshape_from_tensor,
aten::_scaled_dot_product_flash_attention_for_cpu; the overloads coremltools names apart
(arange.start_step, std/var.correction, where.ScalarSelf) under their TorchScript kinds; fmax / fmin
with NaN; unique(dim=...); det / inverse / slogdet / logdet of any static size (Gauss-Jordan / LU with
partial pivoting beyond 4 x 4). Each is converted, run in our runtime and compared with PyTorch."""

import numpy as np
import pytest
import torch
from torch import Tensor

import pt2coreml as ct
from cov_common import Fn, ints, r, run, run_sets
from parity import need_torch2
from test_cov_hand_written_graphs import graph_fn, kinds


# ---------------------------------------------------------------- prim::ConstantChunk
def chunk_fn(chunks, dim, nout, ret=None):
    """A graph of one prim::ConstantChunk with nout outputs, returning the first `ret` of them."""
    ret = nout if ret is None else ret
    outs = ", ".join(f"%o{i} : Tensor" for i in range(nout))
    refs = ", ".join(f"%o{i}" for i in range(ret))
    text = (f"graph(%x : Tensor):\n  {outs} = prim::ConstantChunk[chunks={chunks}, dim={dim}](%x)\n"
            f"  %t : ({', '.join(['Tensor'] * ret)}) = prim::TupleConstruct({refs})\n  return (%t)\n")
    return graph_fn(text)


@pytest.mark.parametrize("chunks,dim,shape,nout", [(2, 0, (4, 3), 2), (3, -1, (2, 7), 3), (3, 1, (2, 6, 2), 3),
                                                   (4, -2, (1, 7, 3), 4), (1, 0, (3, 2), 1)],
                         ids=["even", "uneven_neg", "mid", "uneven_4", "one"])
def test_constant_chunk(chunks, dim, shape, nout):
    fn = chunk_fn(chunks, dim, nout)
    assert "prim::ConstantChunk" in kinds(fn.graph)
    run(fn, [r(*shape)])


def test_constant_chunk_fp16_int():
    run(chunk_fn(2, 1, 2), [r(2, 4, 3)], precision="fp16")
    run(chunk_fn(3, 0, 3), [ints(6, 2)])


@pytest.mark.parametrize("nout", [4, 2])
def test_constant_chunk_piece_count_is_checked(nout):
    fn = chunk_fn(4, 0, nout)  # 5 rows in pieces of 2 make 3 chunks (torch raises for 4 outputs)
    with pytest.raises(ct.ConversionError, match=rf"prim::ConstantChunk.*3 chunks.*{nout} outputs"):
        ct.convert(fn, inputs=[ct.TensorType(shape=(5, 2))])


# ---------------------------------------------------------------- sym_size, sym_constrain_range
SYM = """graph(%x : Tensor):
  %d : int = prim::Constant[value=1]()
  %nd : int = prim::Constant[value=-1]()
  %lo : int = prim::Constant[value=0]()
  %hi : int = prim::Constant[value=16]()
  %none : NoneType = prim::Constant()
  %s : int = aten::sym_size(%x, %d)
  %l : int[] = aten::sym_size(%x)
  %s0 : int = aten::__getitem__(%l, %lo)
  %sl : int = aten::sym_size(%x, %nd)
  %p : int = aten::mul(%s, %s0)
  %q : int = aten::add(%p, %sl)
  %r : Tensor = aten::mul(%x, %q)
  %v : Tensor = aten::view(%x, %l)
  %t : (Tensor, Tensor) = prim::TupleConstruct(%r, %v)
  return (%t)
"""


def sym_fn(extra=()):
    """SYM with output-less aten::<name>(args) nodes (names of SYM's values) inserted before the return."""
    g = torch._C.parse_ir(SYM)
    names = [ln.split(":")[0].strip()[1:] for ln in SYM.splitlines()[1:] if " = " in ln]
    vals = dict(zip(names, [nd.output() for nd in g.nodes()]))  # parse_ir renames values: match by position
    last = list(g.nodes())[-1]
    for name, args in extra:
        node = g.create(f"aten::{name}", [vals[a] for a in args], 0)
        with g.insert_point_guard(last):
            g.insertNode(node)
    return torch._C._create_function_from_graph("f", g)


def test_sym_size():
    need_torch2("aten::sym_size")
    fn = sym_fn()
    assert "aten::sym_size" in kinds(fn.graph)
    run(fn, [r(3, 4, 2)])


@pytest.mark.parametrize("name", ["sym_constrain_range", "sym_constrain_range_for_size"])
def test_sym_constrain_range(name):
    need_torch2(f"aten::{name}")
    fn = sym_fn([(name, ["s", "lo", "hi"]), (name, ["sl", "none", "none"]), (name, ["s0", "lo", "none"])])
    assert f"aten::{name}" in kinds(fn.graph)
    run(fn, [r(3, 4, 2)])


def test_sym_constrain_range_known_outside_is_a_clear_error():
    fn = sym_fn([("sym_constrain_range", ["s", "lo", "d"])])  # size 4 outside [0, 1]
    with pytest.raises(ct.ConversionError, match=r"aten::sym_constrain_range.*4 is outside .*\[0, 1\]"):
        ct.convert(fn, inputs=[ct.TensorType(shape=(3, 4, 2))])


# ---------------------------------------------------------------- _reshape_from_tensor
@torch.jit.script
def reshape_like(x, y):
    return torch.ops.aten._reshape_from_tensor(x, torch._shape_as_tensor(y)) * 2


@torch.jit.script
def reshape_given(x, s):
    return torch.ops.aten._reshape_from_tensor(x, s) + 1


def test_reshape_from_tensor_constant_shape():
    text = """graph(%x : Tensor, %s : Tensor):
  %r : Tensor = aten::_reshape_from_tensor(%x, %s)
  return (%r)
"""
    fn = graph_fn(text, {1: torch.tensor([4, 6, -1])})
    assert "aten::_reshape_from_tensor" in kinds(fn.graph)
    run(fn, [r(2, 3, 8)])
    run(fn, [r(2, 3, 8)], precision="fp16")


def test_reshape_from_tensor_shape_of_input():
    run(reshape_like, [r(2, 3, 4), r(6, 4)])


def test_reshape_from_tensor_run_time_shape():
    ml = run_sets(reshape_given, [[r(2, 6), torch.tensor([3, 4])], [r(2, 6), torch.tensor([4, 3])],
                                  [r(2, 6), torch.tensor([-1, 2])]])
    assert ml is not None


def test_reshape_from_tensor_float_shape_is_a_clear_error():
    with pytest.raises(ct.ConversionError, match=r"aten::_reshape_from_tensor.*integer tensor"):
        ct.convert(reshape_given, inputs=[ct.TensorType(shape=(2, 6)), ct.TensorType(shape=(2,))])


# ---------------------------------------------------------------- _scaled_dot_product_flash_attention_for_cpu
def _has_flash():
    try:
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
        return True
    except Exception:  # torch 1.x has no such operator (a RuntimeError there)
        return False


HAS_FLASH = _has_flash()
needs_flash = pytest.mark.skipif(not HAS_FLASH, reason=f"torch {torch.__version__} has no "
                                 "aten::_scaled_dot_product_flash_attention_for_cpu")


def script_if_flash(f):
    return torch.jit.script(f) if HAS_FLASH else f


@script_if_flash
def flash(q, k, v):
    o, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)
    return o, lse


@script_if_flash
def flash_causal_scale(q, k, v):
    o, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True, scale=0.3)
    return o, lse


@script_if_flash
def flash_mask(q, k, v, m):
    o, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, attn_mask=m)
    return o, lse


@script_if_flash
def flash_dropout(q, k, v):
    o, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.25)
    return o


Q, K, V = r(2, 3, 5, 4), r(2, 3, 6, 4, seed=1), r(2, 3, 6, 4, seed=2)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@needs_flash
def test_flash_attention_for_cpu(precision):
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in kinds(flash.graph)
    run(flash, [Q, K, V], precision=precision)


@needs_flash
def test_flash_attention_for_cpu_causal_scale():
    run(flash_causal_scale, [Q, r(2, 3, 5, 4, seed=3), r(2, 3, 5, 4, seed=4)])
    run(flash_causal_scale, [Q, K, V])  # causal with more keys than queries: the top-left triangle


@needs_flash
def test_flash_attention_for_cpu_mask():
    run(flash_mask, [Q, K, V, r(5, 6, seed=5)])
    run(flash_mask, [Q, K, V, r(2, 1, 5, 6, seed=6)])


@needs_flash
def test_flash_attention_for_cpu_dropout_is_a_clear_error():
    with pytest.raises(ct.ConversionError, match=r"aten::_scaled_dot_product_flash_attention_for_cpu.*dropout_p"):
        ct.convert(flash_dropout, inputs=[ct.TensorType(shape=Q.shape), ct.TensorType(shape=K.shape),
                                          ct.TensorType(shape=V.shape)])


# ---------------------------------------------------------------- overloads coremltools names apart
# (TorchScript kinds carry no overload name: these run under aten::arange / std / var / where)
@torch.jit.script
def arange_start_step(x):
    n = x.shape[0] + 1
    a = torch.arange(1, n, 2)
    b = torch.arange(0.5, 3.0, 0.75)
    c = torch.arange(5, -3, -2, dtype=torch.float32)
    return x[: a.shape[0]] * a, b, c + x.sum()


def test_arange_start_step():
    assert "aten::arange" in kinds(arange_start_step.graph)
    run(arange_start_step, [r(8)])


@torch.jit.script
def softsign_truediv(x, y):
    n = x.shape[0]
    return torch.nn.functional.softsign(x) * (n / 3) + y / 2  # int / int and tensor / number: aten::div


def test_softsign_truediv():
    """coremltools' softsign and truediv: not TorchScript kinds, recorded as aten::abs / add / div."""
    assert "aten::div" in kinds(torch.jit.trace(Fn(torch.nn.functional.softsign), (r(3),)).graph)
    run(Fn(torch.nn.functional.softsign), [r(3, 4) * 3])
    run(softsign_truediv, [r(4, 5) * 3, r(4, 5, seed=1)])


OVERLOADS = {
    "std_correction": lambda x: torch.std(x, dim=1, correction=0),
    "std_correction_2_keepdim": lambda x: torch.std(x, dim=(0, 2), correction=2, keepdim=True),
    "std_correction_all": lambda x: torch.std(x, correction=1),
    "var_correction": lambda x: torch.var(x, dim=-1, correction=0),
    "var_correction_half": lambda x: torch.var(x, dim=[1], correction=0.5, keepdim=True),
    "var_correction_none": lambda x: torch.var(x, dim=0, correction=None),
    "where_scalarself": lambda x: torch.where(x > 0, 2.5, x),
    "where_scalarself_int": lambda x: torch.where(x > 0, 3, x * 2),
}


@pytest.mark.parametrize("name", sorted(OVERLOADS))
def test_overload(name):
    if "correction" in name:
        need_torch2("the correction= overloads of std / var")
    run(Fn(OVERLOADS[name]), [r(3, 4, 5)])


# ---------------------------------------------------------------- fmax / fmin with NaN
def nan_inputs():
    a = r(3, 4)
    b = r(3, 4, seed=1)
    a[0, 1] = a[1, 0] = float("nan")
    b[0, 2] = b[2, 0] = float("nan")  # no place NaN in both, also when b's row 0 or column 0 is broadcast
    return a, b


@pytest.mark.parametrize("name", ["fmax", "fmin"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_fmax_fmin_nan(name, precision):
    a, b = nan_inputs()
    f = getattr(torch, name)
    run(Fn(lambda x, y: f(x, y)), [a, b], precision=precision)
    run(Fn(lambda x, y: f(x, y)), [a, b[0]], precision=precision)  # broadcast: y's NaN reaches every row
    run(Fn(lambda x, y: f(y, x)), [a, b[:, :1]], precision=precision)


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_both_nan(name):
    a, b = nan_inputs()
    b[1, 0] = float("nan")  # NaN in both: NaN
    sm = torch.jit.trace(Fn(lambda x, y: getattr(torch, name)(x, y)), (a, b))
    ml = ct.convert(sm, inputs=[ct.TensorType(shape=a.shape), ct.TensorType(shape=b.shape)],
                    compute_precision=ct.precision.FLOAT32)
    names = [f["name"] for f in ml._desc["inputs"]]
    got = list(ml.predict(dict(zip(names, [a.numpy(), b.numpy()]))).values())[0]
    np.testing.assert_allclose(got, getattr(torch, name)(a, b).numpy(), rtol=1e-6, equal_nan=True)
    assert np.isnan(got[1, 0]) and not np.isnan(got[0, 1]) and not np.isnan(got[2, 0])


def test_fmax_int():
    run(Fn(lambda x, y: torch.fmax(x, y) + torch.fmin(x, y)), [ints(3, 4), ints(4, seed=1)])


# ---------------------------------------------------------------- det / inverse / slogdet / logdet, any static n
def well(*shape, seed=0):
    """identity * n + randn: well-conditioned, with a row order that needs pivoting (columns permuted)."""
    n = shape[-1]
    a = r(*shape, seed=seed) + n * torch.eye(n)
    return a[..., torch.randperm(n, generator=torch.Generator().manual_seed(seed))]


LINALG = {
    "det": lambda x: torch.linalg.det(x),
    "inv": lambda x: torch.linalg.inv(x),
    "slogdet": lambda x: torch.linalg.slogdet(x),
    "slogdet_old": lambda x: torch.slogdet(x),
    "logdet": lambda x: torch.logdet(x),
    "inv_ex": lambda x: torch.linalg.inv_ex(x),
}


@pytest.mark.parametrize("n", [5, 8, 16])
@pytest.mark.parametrize("name", sorted(LINALG))
def test_linalg_elimination(name, n):
    x = well(2, n, n, seed=n)
    if name == "logdet":  # logdet is NaN for det < 0: flip a row of those matrices
        x[torch.linalg.det(x) < 0, 0] *= -1
    run(Fn(LINALG[name]), [x])


@pytest.mark.parametrize("name", ["det", "inv", "slogdet", "logdet"])
def test_linalg_small_closed_forms(name):
    x = well(3, 3, 3, seed=3)
    x[torch.linalg.det(x) < 0, 0] *= -1  # logdet needs det > 0
    run(Fn(LINALG[name]), [x])


@pytest.mark.parametrize("name", ["det", "inv", "slogdet"])
def test_linalg_elimination_fp16(name):
    run(Fn(LINALG[name]), [well(6, 6, seed=1)], precision="fp16")


def test_linalg_elimination_batch_dims_and_2d():
    run(Fn(lambda x: (torch.linalg.inv(x), torch.linalg.det(x[0, 1]))), [well(2, 3, 7, 7, seed=4)])


def test_linalg_zero_pivot_needs_swap():
    """A zero on the diagonal (a permutation matrix plus a small part): only pivoting finds a row."""
    p = torch.eye(9)[torch.tensor([3, 0, 8, 1, 2, 7, 4, 6, 5])]
    x = (p * 5 + 0.1 * r(9, 9, seed=2)).unsqueeze(0)
    x[0, 0, 0] = 0.0
    run(Fn(lambda a: (torch.linalg.inv(a), torch.linalg.slogdet(a), torch.linalg.det(a))), [x])


def test_linalg_negative_det_logdet_nan():
    x = well(5, 5, seed=7)
    x[0] *= -1 if torch.linalg.det(x) > 0 else 1  # det < 0: logdet is NaN, slogdet's sign -1
    sm = torch.jit.trace(Fn(lambda a: (torch.logdet(a), torch.linalg.slogdet(a)[0])), (x,))
    ml = ct.convert(sm, inputs=[ct.TensorType(shape=x.shape)], compute_precision=ct.precision.FLOAT32)
    got = list(ml.predict({ml._desc["inputs"][0]["name"]: x.numpy()}).values())
    assert np.isnan(got[0]) and torch.isnan(torch.logdet(x)) and got[1] == -1


# det / inverse under their old names: scripting and tracing record linalg_det / linalg_inv
@pytest.mark.parametrize("kind", ["aten::det", "aten::inverse"])
@pytest.mark.parametrize("n", [3, 6])
def test_det_inverse_old_names(kind, n):
    fn = graph_fn(f"graph(%x : Tensor):\n  %r : Tensor = {kind}(%x)\n  return (%r)\n")
    assert kind in kinds(fn.graph)
    run(fn, [well(2, n, n, seed=n)])


def test_linalg_too_large_is_a_clear_error():
    sm = torch.jit.trace(Fn(lambda x: torch.linalg.det(x)), (well(33, 33),))
    with pytest.raises(ct.ConversionError, match=r"aten::linalg_det.*to 32 x 32.*33 x 33"):
        ct.convert(sm, inputs=[ct.TensorType(shape=(33, 33))])


# ---------------------------------------------------------------- unique along a dim
UNIQUE_DIM = {
    "dim1_all": lambda x: torch.unique(x, dim=1, return_inverse=True, return_counts=True),
    "dim0": lambda x: torch.unique(x, dim=0),
    "dim_neg_counts": lambda x: torch.unique(x, dim=-1, return_counts=True),
    "unsorted_flag": lambda x: torch.unique(x, sorted=False, dim=1, return_inverse=True),
    "mid_dim_3d": lambda x: torch.unique(x.reshape(3, 3, 2), dim=1, return_inverse=True, return_counts=True),
    "float": lambda x: torch.unique(x.float() / 2 - 1, dim=1, return_inverse=True, return_counts=True),
    "bool": lambda x: torch.unique(x > 2, dim=1, return_counts=True)[0].float(),
    "consecutive_dim": lambda x: torch.unique_consecutive(x, dim=1, return_inverse=True, return_counts=True),
    "consecutive_dim0": lambda x: torch.unique_consecutive(x.t(), dim=0, return_counts=True),
}
# columns 0 / 2 and 1 / 3 equal (and 3 / 4 equal in B): repeats, ties in the first row, runs
UA = torch.tensor([[3, 1, 3, 1, 0, 1], [2, 5, 2, 5, 1, 5], [1, 1, 1, 1, 0, 0]])
UB = torch.tensor([[2, 2, 2, 0, 0, 4], [1, 1, 1, 3, 3, 4], [4, 4, 4, 2, 2, 4]])


@pytest.mark.parametrize("name", sorted(UNIQUE_DIM))
def test_unique_dim(name):
    run_sets(UNIQUE_DIM[name], [[UA], [UB], [UA * 0 + 2]])  # another count of distinct slices; one value


def test_unique_dim_scripted_kinds():
    @torch.jit.script
    def f(x):
        a = torch.ops.aten.unique_dim(x, 1, True, True, True)
        b = torch.ops.aten.unique_dim_consecutive(x, 0, True, True)
        return a[0], a[1], a[2], b[0], b[1], b[2]

    assert {"aten::unique_dim", "aten::unique_dim_consecutive"} <= kinds(f.graph)
    run_sets(f, [[UA], [UB]])


def test_unique_dim_fp16():
    run_sets(lambda x: torch.unique(x, dim=0, return_inverse=True, return_counts=True),
             [[UA.t().float() * 0.5], [UB.t().float() * 0.25]], precision="fp16")


def test_unique_dim_too_large_is_a_clear_error():
    sm = torch.jit.trace(Fn(lambda x: torch.unique(x, dim=0)), (ints(300, 200),))
    with pytest.raises(ct.ConversionError, match=r"aten::unique_dim.*300 rows of 200.*pairwise"):
        ct.convert(sm, inputs=[ct.TensorType(shape=(300, 200), dtype=np.int32)])
