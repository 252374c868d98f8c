"""Op coverage, indexing and sorting: scatter / scatter_add / scatter_reduce, index_add,
index_fill, select_scatter, slice_scatter, masked_scatter, topk / kthvalue / sort / argsort / msort,
searchsorted / bucketize, unique / unique_consecutive, one_hot, nonzero / argwhere / where(cond) /
nonzero_numpy / masked_select, x[mask] with run-time masks, index_put with masks and int tensors.
Converted, run in our runtime, compared with PyTorch; ops whose result length depends on the data
are run again on a second input with a different count."""
import numpy as np
import pytest
import torch

import pt2coreml as ct
from cov_seeded import Fn, r, run
from cov_common import ints, run_sets
from parity import need_torch2


def perm_index(shape, dim, seed=0):
    """An index for scatter without repeats along dim (a permutation along dim)."""
    g = torch.Generator().manual_seed(seed)
    return torch.argsort(torch.rand(*shape, generator=g), dim=dim)


# ---------------------------------------------------------------- scatter family
IDX_FULL = perm_index((3, 4), 1)          # scatter_along_axis (index matches self off the dim)
IDX_SMALL = perm_index((2, 4), 1)[:, :3]  # scatter_nd (index smaller than self)
IDX_DIM0 = perm_index((3, 4), 0)
IDX_DUP = torch.tensor([[0, 1, 0, 3], [2, 2, 2, 0], [1, 1, 3, 3]])

SCATTER = {
    "src_dim1": (lambda x, s: x.scatter(1, IDX_FULL, s), [r(3, 4), r(3, 4, seed=1)], "scatter_along_axis"),
    "src_dim_neg": (lambda x, s: x.scatter(-1, IDX_FULL, s), [r(3, 4), r(3, 4, seed=1)], "scatter_along_axis"),
    "src_dim0": (lambda x, s: x.scatter(0, IDX_DIM0, s), [r(3, 4), r(3, 4, seed=1)], None),
    "src_smaller_index": (lambda x, s: x.scatter(1, IDX_SMALL, s), [r(3, 4), r(3, 5, seed=1)], "scatter_nd"),
    "value": (lambda x: x.scatter(1, IDX_SMALL, -2.5), [r(3, 4)], None),
    "reduce_add": (lambda x, s: x.scatter(1, IDX_DUP, s, reduce="add"), [r(3, 4), r(3, 4, seed=1)], None),
    "reduce_multiply": (lambda x, s: x.scatter(1, IDX_DUP, s, reduce="multiply"), [r(3, 4), r(3, 4, seed=1)], None),
    "value_reduce_add": (lambda x: x.scatter(1, IDX_DUP, 1.5, reduce="add"), [r(3, 4)], None),
    "inplace": (lambda x, s: x.clone().scatter_(1, IDX_FULL, s) * 2, [r(3, 4), r(3, 4, seed=1)], None),
    "add": (lambda x, s: x.scatter_add(1, IDX_DUP, s), [r(3, 4), r(3, 4, seed=1)], None),
    "add_dim0": (lambda x, s: torch.scatter_add(x, 0, IDX_DUP[:2] % 3, s), [r(3, 4), r(2, 4, seed=1)], None),
    "add_inplace": (lambda x, s: x.clone().scatter_add_(-1, IDX_DUP, s), [r(3, 4), r(3, 4, seed=1)], None),
    "add_int": (lambda x, s: x.scatter_add(1, IDX_DUP, s), [ints(3, 4), ints(3, 4, seed=1)], None),
    "runtime_index": (lambda x, i, s: x.scatter_add(1, i, s), [r(3, 4), IDX_DUP, r(3, 4, seed=1)], None),
}


@pytest.mark.parametrize("name", sorted(SCATTER))
def test_scatter(name):
    fn, xs, op = SCATTER[name]
    run(Fn(fn), xs, ops=(op,) if op else ())


@pytest.mark.parametrize("reduce", ["sum", "prod", "amax", "amin", "mean"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce, include_self):
    idx = torch.tensor([[0, 1, 0, 1], [3, 3, 3, 0], [1, 1, 0, 0]])  # column 2 untouched in some rows
    run(Fn(lambda x, s: x.scatter_reduce(1, idx, s, reduce, include_self=include_self)), [r(3, 4), r(3, 4, seed=1)])


@pytest.mark.parametrize("reduce", ["sum", "amax", "amin", "prod"])
def test_scatter_reduce_int(reduce):
    idx = torch.tensor([[0, 1, 0], [2, 2, 2]])
    run(Fn(lambda x, s: x.scatter_reduce(0, idx, s, reduce, include_self=False)), [ints(3, 3, lo=-4), ints(2, 3, seed=1, lo=-4)])


def test_scatter_inplace_reduce():
    run(Fn(lambda x, s: x.clone().scatter_reduce_(1, IDX_DUP, s, "amax")), [r(3, 4), r(3, 4, seed=1)])


def test_scatter_fp16():
    run(Fn(lambda x, s: x.scatter_add(1, IDX_DUP, s)), [r(3, 4), r(3, 4, seed=1)], precision="fp16")


INDEX_ADD_FILL = {
    "add": lambda x, s: x.index_add(0, torch.tensor([2, 0, 2]), s),
    "add_alpha_neg_dim": lambda x, s: x.index_add(-2, torch.tensor([2, 0, 2]), s, alpha=-0.5),
    "add_inplace": lambda x, s: x.clone().index_add_(0, torch.tensor([1]), s[:1]) + 1,
    "fill": lambda x, s: x.index_fill(1, torch.tensor([0, 3]), -1.0) + s.sum(),
    "fill_neg_index": lambda x, s: x.index_fill(-1, torch.tensor([-1]), 7.0) + s.sum(),
    "fill_tensor_value": lambda x, s: x.index_fill(1, torch.tensor([1, 2]), s[0, 0]),
    "fill_inplace": lambda x, s: x.clone().index_fill_(0, torch.tensor(1), 3.0) + s.sum(),
}


@pytest.mark.parametrize("name", sorted(INDEX_ADD_FILL))
def test_index_add_fill(name):
    run(Fn(INDEX_ADD_FILL[name]), [r(3, 4), r(3, 4, seed=1)], ops=("scatter",))


def test_index_add_int_fill_bool():
    run(Fn(lambda x, s: (x.index_add(1, torch.tensor([0, 0]), s),
                         (x > 2).index_fill(0, torch.tensor([1]), 1).int())), [ints(2, 3), ints(2, 2, seed=1)])


SLICE_SCATTER = {
    "select": (lambda x, s: torch.select_scatter(x, s, 1, 2), [(3, 4, 2), (3, 2)]),
    "select_neg": (lambda x, s: torch.select_scatter(x, s, -1, -1), [(3, 4, 2), (3, 4)]),
    "slice": (lambda x, s: torch.slice_scatter(x, s, 1, 1, 3), [(3, 5), (3, 2)]),
    "slice_step": (lambda x, s: torch.slice_scatter(x, s, 0, 1, None, 2), [(6, 3), (3, 3)]),
    "slice_neg": (lambda x, s: torch.slice_scatter(x, s, -1, -4, -1), [(2, 6), (2, 3)]),
    "slice_default": (lambda x, s: torch.slice_scatter(x, s), [(2, 3), (2, 3)]),
    "slice_clamped": (lambda x, s: torch.slice_scatter(x, s, 1, 2, 100, 3), [(2, 7), (2, 2)]),
}


@pytest.mark.parametrize("name", sorted(SLICE_SCATTER))
def test_slice_scatter(name):
    if name in ("slice", "slice_neg", "slice_default"):  # eager torch 1.13 reads step=1 wrong here
        need_torch2("torch.slice_scatter with the default step")
    fn, shapes = SLICE_SCATTER[name]
    run(Fn(fn), [r(*s, seed=i) for i, s in enumerate(shapes)])


def test_masked_scatter():
    run_sets(lambda x, s: x.masked_scatter(x > 0, s), [[r(3, 4), r(3, 4, seed=1)], [r(3, 4, seed=5), r(3, 4, seed=1)]],
             ops=("cumsum",))


def test_masked_scatter_broadcast_mask():
    run(Fn(lambda x, s: x.masked_scatter(x[0] > 0, s)), [r(3, 4), r(15, seed=1)])


def test_masked_scatter_inplace_int():
    run(Fn(lambda x, s: x.clone().masked_scatter_(x > 2, s) * 2), [ints(3, 4), ints(2, 6, seed=1)])


# ---------------------------------------------------------------- sorting
def distinct(*shape, seed=0):
    n = int(np.prod(shape))
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g).reshape(shape).float() - n / 2


SORT = {
    "topk": (lambda x: torch.topk(x, 3), [distinct(3, 6)]),
    "topk_dim0_smallest": (lambda x: torch.topk(x, 2, dim=0, largest=False), [distinct(4, 5)]),
    "topk_neg_dim": (lambda x: x.topk(1, -2), [distinct(2, 4, 3)]),
    "topk_unsorted": (lambda x: torch.sort(torch.topk(x, 3, sorted=False)[0])[0], [distinct(3, 6)]),
    "topk_int": (lambda x: torch.topk(x, 2), [distinct(3, 5).long()]),
    "kthvalue": (lambda x: torch.kthvalue(x, 2), [distinct(3, 5)]),
    "kthvalue_keepdim": (lambda x: torch.kthvalue(x, 3, 0, True), [distinct(4, 5)]),
    "sort": (lambda x: torch.sort(x), [distinct(3, 6)]),
    "sort_dim0_desc": (lambda x: torch.sort(x, 0, descending=True), [distinct(4, 3)]),
    "sort_int": (lambda x: x.sort(-1, True), [distinct(2, 5).long()]),
    "sort_stable_ties": (lambda x: torch.sort(x, stable=True, dim=1), [ints(3, 8, hi=3)]),
    "sort_stable_desc_ties": (lambda x: torch.sort(x, stable=True, descending=True), [ints(3, 8, hi=3, seed=2)]),
    "sort_bool": (lambda x: torch.sort(x > 0, stable=True)[0].int(), [r(2, 6)]),
    "argsort": (lambda x: torch.argsort(x), [distinct(3, 6)]),
    "argsort_desc_dim0": (lambda x: torch.argsort(x, 0, True), [distinct(4, 3)]),
    "argsort_stable": (lambda x: torch.argsort(x, stable=True, descending=True), [ints(2, 9, hi=3)]),
    "msort": (lambda x: torch.msort(x), [distinct(5, 3)]),
}


@pytest.mark.parametrize("name", sorted(SORT))
def test_sort(name):
    fn, xs = SORT[name]
    run(Fn(fn), xs)


def test_sort_fp16():
    run(Fn(lambda x: (torch.sort(x, descending=True)[0], torch.topk(x, 2)[0])), [distinct(3, 5) / 8], precision="fp16")


SEARCH = {
    "left": lambda x: torch.searchsorted(torch.tensor([-1.0, 0.0, 0.5, 2.0]), x),
    "right": lambda x: torch.searchsorted(torch.tensor([-1.0, 0.0, 0.5, 2.0]), x, right=True),
    "side_right_int32": lambda x: torch.searchsorted(torch.tensor([-1.0, 0.0, 0.5, 2.0]), x, side="right", out_int32=True),
    "nd": lambda x: torch.searchsorted(torch.sort(x, dim=-1)[0][:, :3], x),
    "scalar": lambda x: torch.searchsorted(torch.sort(x.flatten())[0], 0.25) + x.sum().int() * 0,
    "sorter": lambda x: torch.searchsorted(torch.tensor([2.0, -1.0, 0.5, 0.0]), x, sorter=torch.tensor([1, 3, 2, 0])),
    "bucketize": lambda x: torch.bucketize(x, torch.tensor([-1.0, 0.0, 0.5, 2.0])),
    "bucketize_right": lambda x: torch.bucketize(x, torch.tensor([-1.0, 0.0, 0.5, 2.0]), right=True),
}


@pytest.mark.parametrize("name", sorted(SEARCH))
def test_searchsorted(name):
    x = torch.tensor([[-2.0, -1.0, 0.0, 0.3], [0.5, 1.0, 2.0, 3.0]])  # hits every boundary, both sides
    run(Fn(SEARCH[name]), [x])


def test_searchsorted_int():
    run(Fn(lambda s, v: torch.searchsorted(s, v, right=True)), [torch.tensor([0, 2, 2, 5]), ints(2, 3, hi=7)])


UNIQUE = {
    "sorted": lambda x: torch.unique(x),
    "inverse_counts": lambda x: torch.unique(x, return_inverse=True, return_counts=True),
    "counts": lambda x: torch.unique(x, return_counts=True)[1] * 2,
    "consecutive": lambda x: torch.unique_consecutive(x, return_inverse=True, return_counts=True),
    "float": lambda x: torch.unique(x.float() / 2, return_inverse=True),
}


@pytest.mark.parametrize("name", sorted(UNIQUE))
def test_unique(name):
    a = torch.tensor([[3, 1, 1, 4], [4, 4, 0, 3]])
    b = torch.tensor([[2, 2, 2, 2], [5, 2, 2, 7]])  # another number of distinct values
    run_sets(UNIQUE[name], [[a], [b]])


# ---------------------------------------------------------------- data-dependent sizes
CHAINS = {  # a run-time length flowing into later ops
    "reduce": lambda x: x[x > 0].mean() + x[x > 0].sum(),
    "size": lambda x: x.sum() / torch.nonzero(x > 0).size(0),
    "sort": lambda x: torch.sort(x[x > 0], descending=True),
    "where_index": lambda x: x[torch.where(x > 0)] * 2,
    "unique": lambda x: torch.unique((x[x > -0.5] * 2).round(), return_inverse=True, return_counts=True),
    "unique_consecutive": lambda x: torch.unique_consecutive((x[x > -0.5] * 2).round(), return_counts=True),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_dynamic_chain(name):
    run_sets(CHAINS[name], [[r(3, 4)], [r(3, 4, seed=3)]])


def test_nonzero_counts():
    run_sets(lambda x: (torch.nonzero(x > 0), torch.argwhere(x < -0.5)), [[r(3, 4)], [r(3, 4, seed=3)], [r(3, 4) * 0]],
             ops=("non_zero",))


def test_where_cond_and_nonzero_tuple():
    run_sets(lambda x: torch.where(x > 0) + torch.nonzero(x < 0, as_tuple=True), [[r(2, 3, 4)], [r(2, 3, 4, seed=4)]])


def test_nonzero_int_input():
    run_sets(lambda x: torch.nonzero(x), [[ints(3, 4, hi=3)], [ints(3, 4, hi=2, seed=1)]])


def test_masked_select():
    run_sets(lambda x, y: (torch.masked_select(x, y > 0), torch.masked_select(y, x[0] > 0),
                           torch.masked_select(x > 0, y < 0).int()),
             [[r(3, 4), r(3, 4, seed=1)], [r(3, 4, seed=2), r(3, 4, seed=3)]])


def test_masked_select_fp16():
    run_sets(lambda x: torch.masked_select(x, x > 0.2), [[r(3, 4)], [r(3, 4, seed=7)]], precision="fp16")


ONE_HOT = {
    "classes": (lambda x: torch.nn.functional.one_hot(x, 6), [ints(2, 3)]),
    "classes_1d": (lambda x: torch.nn.functional.one_hot(x, num_classes=5) * 2, [ints(4)]),
    "const_input": (lambda x: torch.nn.functional.one_hot(torch.tensor([0, 3, 1])) + x, [ints(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(ONE_HOT))
def test_one_hot(name):
    fn, xs = ONE_HOT[name]
    run(Fn(fn), xs, ops=("one_hot",) if name != "const_input" else ())  # a constant input folds


def test_one_hot_runtime_classes():
    run_sets(lambda x: torch.nn.functional.one_hot(x), [[ints(2, 3)], [ints(2, 3, hi=8, seed=2)]])


MASK_INDEX = {
    "flat": lambda x: x[x > 0],
    "rows": lambda x: x[x[:, 0, 0] > 0],
    "dim1": lambda x: x[:, x[0] > 0],
    "two_dims": lambda x: x[x.sum(-1) > 0] * 2,
    "bool_values": lambda x: (x > 0)[x[:, 0, 0] > -0.3].int(),
    "int_and_mask": lambda x: x[torch.tensor([1]), x[0, :, 0] > 0],
}


@pytest.mark.parametrize("name", sorted(MASK_INDEX))
def test_mask_index(name):
    run_sets(MASK_INDEX[name], [[r(3, 4, 2)], [r(3, 4, 2, seed=9)]], ops=("non_zero",))


def put_mask_scalar(x):
    y = x.clone()
    y[x > 0] = 0.5
    return y


def put_mask_packed(x):
    y = x.clone()
    y[x > 0] = x[x > 0] * 10
    return y


def put_mask_rows(x):
    y = x.clone()
    y[x[:, 0] > 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    return y


def put_mask_rows_packed(x):
    y = x.clone()
    m = x[:, 0] > 0
    y[m] = x[m] * -1
    return y


def put_mask_dim1(x):
    y = x.clone()
    y[:, x[0] > 0] = -7.0
    return y


def put_mask_acc(x):
    return x.index_put((x > 0,), x[x > 0], accumulate=True)


def put_mask_bool(x):
    y = x > 0
    y[x < -1] = True
    return y.int()


def put_mask_int(x):
    y = x * 3
    y[x > 2] = x[x > 2] - 5
    return y


PUT_MASK = {"scalar": put_mask_scalar, "packed": put_mask_packed, "rows": put_mask_rows,
            "rows_packed": put_mask_rows_packed, "dim1": put_mask_dim1, "acc": put_mask_acc, "bool": put_mask_bool}


@pytest.mark.parametrize("name", sorted(PUT_MASK))
def test_put_mask(name):
    run_sets(PUT_MASK[name], [[r(3, 4)], [r(3, 4, seed=11)]], ops=("select",))


def test_put_mask_int():
    run_sets(put_mask_int, [[ints(3, 4)], [ints(3, 4, seed=5)]])


def put_idx(x, i):
    y = x.clone()
    y[i] = -1.0
    return y


def put_idx_rows(x, i):
    y = x.clone()
    y[i] = torch.arange(4.0)
    return y


def put_idx_dim1(x, i):
    y = x.clone()
    y[:, i] = x[:, :2] * 3
    return y


def put_idx_pairs(x, i):
    y = x.clone()
    y[i, i + 1] = torch.tensor([5.0, 6.0])
    return y


def put_idx_acc(x, i):
    return torch.index_put(x, (i,), torch.ones(2, 4), accumulate=True)


def put_idx_acc_dups(x, i):
    return torch.index_put(x, (torch.cat([i, i]),), torch.ones(4, 4), accumulate=True)


def put_idx_neg(x, i):
    y = x.clone()
    y[i - 3] = 9.0
    return y


def put_idx_const_dups(x):
    return torch.index_put(x, (torch.tensor([0, 2, 0]),), torch.full((3, 4), 2.0), accumulate=True)


def put_idx_nonadjacent(x, i):
    y = x.clone()
    y[i, :, i] = torch.tensor([1.0, 2.0])
    return y


PUT_IDX = {"idx": put_idx, "rows": put_idx_rows, "dim1": put_idx_dim1, "pairs": put_idx_pairs, "acc": put_idx_acc,
           "acc_dups": put_idx_acc_dups, "neg": put_idx_neg}


@pytest.mark.parametrize("name", sorted(PUT_IDX))
def test_put_index(name):
    run(Fn(PUT_IDX[name]), [r(3, 4), torch.tensor([2, 0])])


def test_put_index_const_dups():
    run(Fn(put_idx_const_dups), [r(3, 4)], ops=("scatter",))


def test_put_index_nonadjacent():
    run(Fn(put_idx_nonadjacent), [r(3, 2, 3), torch.tensor([2, 0])], ops=("scatter_nd",))


def test_put_index_fp16():
    run(Fn(put_idx_rows), [r(3, 4), torch.tensor([2, 0])], precision="fp16")


# ---------------------------------------------------------------- errors
def _convert(fn, xs):
    sm = torch.jit.trace(Fn(fn).eval(), tuple(xs))
    types = [ct.TensorType(shape=tuple(x.shape), dtype=np.int32 if x.dtype == torch.int64 else np.float32) for x in xs]
    return ct.convert(sm, inputs=types, compute_precision=ct.precision.FLOAT32)


def test_errors_name_the_node():
    with pytest.raises(ct.ConversionError, match=r"aten::scatter_reduce.*integer"):
        _convert(lambda x: x.scatter_reduce(1, torch.tensor([[0, 1]]), x[:, :2], "mean"), [ints(1, 3)])
    with pytest.raises(ct.ConversionError, match=r"aten::unique_consecutive.*unique along a dim"):  # run-time rows
        _convert(lambda x: torch.unique_consecutive(x[x > 1].reshape(-1, 1), dim=0), [ints(3, 2)])
    with pytest.raises(ct.ConversionError, match=r"aten::index_put.*mixing a bool mask"):
        _convert(put_mixed, [r(3, 4)])


def put_mixed(x):
    y = x.clone()
    y[torch.tensor([1]), x[0] > 0] = 1.0
    return y
