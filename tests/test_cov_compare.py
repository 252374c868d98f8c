"""Op coverage, comparison and logic: comparisons (tensor/scalar, broadcast, int/bool), logical
and bitwise-on-bool ops, where, masked_fill, any/all; traced (and scripted), run in our runtime
and compared with PyTorch. Core ML models cannot output bool arrays, so bool results leave the
model as float (or int) through .float()."""
import pytest
import torch
import torch.nn as nn

from cov_common import Fn, r, run
from parity import need_torch2

A = r(2, 3, 4, scale=2.0)
B = r(3, 4, scale=2.0)
I = (r(2, 3, 4, seed=3) * 3).round().to(torch.int32)
J = (r(3, 4, seed=4) * 3).round().to(torch.int32)
# bool tensors come from float inputs (Core ML model inputs cannot be bool)
MF = r(2, 3, 4, seed=9)
NF = r(3, 4, seed=10)


def bools(fn):
    return lambda x, y: fn(x > 0, y > 0.3)

COMPARE = {
    "eq_tensor": (lambda x, y: (x.round() == y.round()).float(), [A, B]),
    "ne_scalar": (lambda x: (x.round() != 1).float(), [A]),
    "lt": (lambda x, y: (x < y).float(), [A, B]),
    "le_scalar": (lambda x: (x <= 0.5).float(), [A]),
    "gt_rscalar": (lambda x: (0.5 > x).float(), [A]),
    "ge": (lambda x, y: torch.ge(x, y).float(), [A, B]),
    "greater_alias": (lambda x, y: torch.greater(x, y).int() + torch.less_equal(x, y).int(), [A, B]),
    "not_equal_alias": (lambda x, y: torch.not_equal(x, y).float() + torch.less(x, 0).float(), [A, B]),
    "int_eq": (lambda x, y: (x == y).int(), [I, J]),
    "int_lt_float_scalar": (lambda x: (x < 0.5).float(), [I]),
    "int_vs_float": (lambda x, y: (x > y).float(), [I, B]),
    "bool_eq": (bools(lambda x, y: (x == y).float()), [MF, NF]),
    "bool_ne": (bools(lambda x, y: (x != y).float()), [MF, NF]),
    "mask_arith": (lambda x, y: x * (x > y) + (x <= 0), [A, B]),
}


@pytest.mark.parametrize("name", sorted(COMPARE))
def test_compare(name):
    fn, inputs = COMPARE[name]
    run(Fn(fn), inputs)


LOGIC = {
    "logical_and": lambda a, b: torch.logical_and(a, b).float(),
    "logical_or": lambda a, b: torch.logical_or(a, b).float(),
    "logical_xor": lambda a, b: torch.logical_xor(a, b).float(),
    "logical_not": lambda a, b: torch.logical_not(a).float(),
    "logical_float_inputs": lambda a, b: torch.logical_and(a.float() - 0.5, b.float()).float(),
    "and_op": lambda a, b: (a & b).float(),
    "or_op": lambda a, b: (a | b).float(),
    "xor_op": lambda a, b: (a ^ b).float(),
    "invert": lambda a, b: (~a).float(),
    "bitwise_not_int": lambda a, b: torch.bitwise_not(a.int() * 3 - 1),
    "logical_inplace": lambda a, b: a.clone().logical_and_(b).logical_or_(b).logical_xor_(a).logical_not_().float(),
    "cmp_combo": lambda a, b: ((a.float() > 0.5) & (b.float() < 0.5) | ~a).float(),
}


@pytest.mark.parametrize("name", sorted(LOGIC))
def test_logic(name):
    run(Fn(bools(LOGIC[name])), [MF, NF])


def _ints(*shape, lo=-2**31, hi=2**31 - 1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(lo, hi, shape, generator=g, dtype=torch.int64).int()


INT_BITWISE = {
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b,
    "functions": lambda a, b: torch.bitwise_or(torch.bitwise_and(a, b), torch.bitwise_xor(a, 12345)),
    "with_bool": lambda a, b: (a | (b > 0)) + (a & (b < 0)) * 3 + (a ^ (b > 100)),
    "scalar": lambda a, b: (a & 255) + (a | -256) + (a ^ 7),
    "broadcast": lambda a, b: a[:1] | b[:, :1],
    "inplace": lambda a, b: a.clone().bitwise_or_(b).bitwise_and_(b ^ 0x0F0F0F0F).bitwise_xor_(a),
}


@pytest.mark.parametrize("name", sorted(INT_BITWISE))
def test_int_bitwise(name):
    """Integer &, |, ^ over the whole int32 range (negative values: two's complement bits)."""
    a = _ints(3, 5)
    a[0, :4] = torch.tensor([0, -1, -2**31, 2**31 - 1], dtype=torch.int32)
    run(Fn(INT_BITWISE[name]), [a, _ints(3, 5, seed=1)])


def test_int_bitwise_mask_form():
    """transformers' CPM-Ant builds its attention mask as int | (bool & bool)."""
    ctx = torch.tensor([[1, 1, 0, 0, 1], [0, 1, 1, 1, 1]])
    def f(c):
        d = torch.arange(5) <= torch.arange(5).view(-1, 1)
        return (c[:, None, :] | (c[:, :, None].logical_not() & d.view(1, 5, 5))).float()
    run(Fn(f), [ctx])


WHERE = {
    "tensors": (lambda x, y: torch.where(x > y, x, y), [A, B]),
    "scalar_other": (lambda x, y: torch.where(x > 0, x, 0.0), [A, B]),
    "scalar_self": (lambda x, y: torch.where(y > 0, 1.5, x), [A, B]),
    "two_scalars_bigger_cond": (lambda x, y: torch.where(x > 0, 1.0, -1.0), [A, B]),
    "cond_bigger_than_values": (lambda x, y: torch.where(x > 0, y, y * 2), [A, B]),
    "int_values": (lambda x, y: torch.where(x > 0, x.int(), 7), [A, B]),
    "int_and_float": (lambda x, y: torch.where(x > 0, x.int(), y), [A, B]),
    "bool_values": (lambda x, y: torch.where(x > 0, x > 1, y > 1).float(), [A, B]),
    "method": (lambda x, y: x.where(x < y, y - 1), [A, B]),
}


@pytest.mark.parametrize("name", sorted(WHERE))
def test_where(name):
    fn, inputs = WHERE[name]
    run(Fn(fn), inputs)


MASKED = {
    "scalar": lambda x, y: x.masked_fill(x > y, -1.0),
    "neg_inf_softmax": lambda x, y: torch.softmax(x.masked_fill(y < 0, float("-inf")), -1),
    "tensor_value": lambda x, y: x.masked_fill(y > 0, torch.tensor(2.5)),
    "mask_broadcast": lambda x, y: x.masked_fill(torch.tensor([True, False, True, False]), 0.0),
    "inplace": lambda x, y: x.clone().masked_fill_(x < 0, 0.0),
    "int_tensor": lambda x, y: (x * 3).int().masked_fill(y > 0, -5),
    "big_mask": lambda x, y: y.masked_fill(x > 0, 3.0),
}


@pytest.mark.parametrize("name", sorted(MASKED))
def test_masked_fill(name):
    fn = MASKED[name]
    if name == "big_mask":  # mask larger than self is an error in torch: use a broadcastable self
        run(Fn(lambda x, y: (y + torch.zeros(2, 3, 4)).masked_fill(x > 0, 3.0)), [A, B])
        return
    run(Fn(fn), [A, B])


ANYALL = {
    "any": lambda x: torch.any(x > 1).float(),
    "all": lambda x: torch.all(x > -3).float(),
    "any_dim": lambda x: (x > 1).any(1).float(),
    "all_dim_keep": lambda x: (x > -1).all(-1, keepdim=True).float(),
    "any_float_input": lambda x: torch.any(x.round(), dim=0).float(),
    "all_int_input": lambda x: x.round().int().all(2).float(),
    "any_dims": lambda x: torch.any(x > 1.5, dim=(0, 2)).float(),
}


@pytest.mark.parametrize("name", sorted(ANYALL))
def test_any_all(name):
    if name == "any_dims":
        need_torch2("torch.any with a tuple of dims")
    run(Fn(ANYALL[name]), [A])


class Scripted(nn.Module):
    def forward(self, x, y):
        m = (x > y) & (y < 1.0)
        z = torch.where(m, x, y).masked_fill(~m, 0.5)
        return z, torch.logical_xor(x > 0, y > 0).float(), torch.any(m, 1).float(), (x == y).all().float()


def test_scripted():
    run(Scripted(), [A, B], script=True)


def test_fp16():
    run(Fn(lambda x, y: torch.where(x > y, x, y * 2).masked_fill(x < -1, 0.25)), [A, B], precision="fp16")
    run(Fn(lambda x, y: ((x > 0) ^ (y > 0)).float() + (x > y).any(-1, keepdim=True).float()), [A, B], precision="fp16")


def test_where_one_arg():  # indices of the true elements: non_zero (more in test_cov_index_sort.py)
    run(Fn(lambda x: torch.where(x > 0)[0].float()), [A])
