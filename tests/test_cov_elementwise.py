"""Op coverage, elementwise math: tensor/scalar operands both sides, broadcasting, int
dtypes, rounding modes, in-place forms; traced (and scripted modules), run in our runtime
and compared with PyTorch (fp32, and an fp16 subset)."""
import math

import pytest
import torch
import torch.nn as nn

from cov_common import Fn, r, run

A = r(2, 3, 4, scale=3.0)
B = r(3, 4, scale=3.0)
POS = A.abs() + 0.1
I = (r(2, 3, 4, seed=5) * 10).round().to(torch.int32)
J = torch.tensor([[3, -2, 5, 7], [-3, 4, 1, -6], [2, 9, -7, 3]], dtype=torch.int32)
U = r(2, 3, 4, seed=7).clamp(-0.95, 0.95)

BINARY = {
    "add": (lambda x, y: x + y, [A, B]),
    "add_alpha": (lambda x, y: torch.add(x, y, alpha=2.5), [A, B]),
    "add_scalar_int": (lambda x: x + 2, [A]),
    "radd_scalar": (lambda x: 1.5 + x, [A]),
    "sub": (lambda x, y: x - y, [A, B]),
    "sub_alpha_scalar": (lambda x: torch.sub(x, 3, alpha=2), [A]),
    "rsub_scalar": (lambda x: 2 - x, [A]),
    "rsub_alpha": (lambda x, y: torch.rsub(x, y, alpha=0.5), [A, B]),
    "mul": (lambda x, y: x * y, [A, B]),
    "mul_scalar": (lambda x: x * -0.25, [A]),
    "div": (lambda x, y: x / y, [A, B]),
    "div_scalar": (lambda x: x / 3, [A]),
    "rdiv_scalar": (lambda x: 2 / x, [POS]),
    "div_floor": (lambda x, y: torch.div(x, y, rounding_mode="floor"), [A, B]),
    "div_trunc": (lambda x, y: torch.div(x, y, rounding_mode="trunc"), [A, B]),
    "div_trunc_scalar": (lambda x: torch.div(x, 0.7, rounding_mode="trunc"), [A]),
    "floor_divide": (lambda x, y: torch.floor_divide(x, y), [A, B]),
    "floordiv_op": (lambda x: x // 0.6, [A]),
    "remainder": (lambda x, y: torch.remainder(x, y), [A, B]),
    "remainder_scalar": (lambda x: x % 1.3, [A]),
    "fmod": (lambda x, y: torch.fmod(x, y), [A, B]),
    "fmod_scalar": (lambda x: torch.fmod(x, -1.3), [A]),
    "pow_scalar": (lambda x: x.pow(2), [A]),
    "pow_float_exp": (lambda x: x ** 0.5, [POS]),
    "pow_scalar_base": (lambda x: 2 ** x, [A]),
    "pow_tensors": (lambda x, y: torch.pow(x, y), [POS, B]),
    "maximum": (lambda x, y: torch.maximum(x, y), [A, B]),
    "minimum": (lambda x, y: torch.minimum(x, y), [A, B]),
    "atan2": (lambda x, y: torch.atan2(x, y), [A, B]),
    "lerp_scalar": (lambda x, y: torch.lerp(x, y, 0.3), [A, B]),
    "lerp_tensor": (lambda x, y: torch.lerp(x, y, torch.sigmoid(y)), [A, B]),
    # int tensors
    "int_add": (lambda x, y: x + y, [I, J]),
    "int_mul_scalar": (lambda x: x * 3 - 1, [I]),
    "int_div_true": (lambda x, y: x / y, [I, J]),
    "int_div_floor": (lambda x, y: torch.div(x, y, rounding_mode="floor"), [I, J]),
    "int_div_trunc": (lambda x, y: torch.div(x, y, rounding_mode="trunc"), [I, J]),
    "int_floordiv_op": (lambda x, y: x // y, [I, J]),
    "int_remainder": (lambda x, y: x % y, [I, J]),
    "int_fmod": (lambda x, y: torch.fmod(x, y), [I, J]),
    "int_pow": (lambda x: x.pow(2), [I]),
    "int_plus_float": (lambda x: x + 0.5, [I]),
    "int_float_tensor": (lambda x, y: x * y, [I, B]),
    "int_max": (lambda x, y: torch.maximum(x, y), [I, J]),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name):
    fn, inputs = BINARY[name]
    run(Fn(fn), inputs)


UNARY = {
    "sqrt": (torch.sqrt, POS), "rsqrt": (torch.rsqrt, POS), "exp": (torch.exp, A), "exp2": (torch.exp2, A),
    "expm1": (torch.expm1, A), "log": (torch.log, POS), "log2": (torch.log2, POS), "log10": (torch.log10, POS),
    "log1p": (torch.log1p, POS), "abs": (torch.abs, A), "neg": (torch.neg, A), "reciprocal": (torch.reciprocal, POS),
    "floor": (torch.floor, A), "ceil": (torch.ceil, A), "round": (torch.round, A * 2),
    "round_half": (torch.round, torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49])),
    "round_decimals": (lambda x: torch.round(x, decimals=2), A), "trunc": (torch.trunc, A), "fix": (torch.fix, A),
    "sign": (torch.sign, torch.cat([A.flatten(), torch.zeros(3)])), "sin": (torch.sin, A), "cos": (torch.cos, A),
    "tan": (torch.tan, U), "asin": (torch.asin, U), "acos": (torch.acos, U), "atan": (torch.atan, A),
    "sinh": (torch.sinh, A), "cosh": (torch.cosh, A), "tanh": (torch.tanh, A), "erf": (torch.erf, A),
    "square": (torch.square, A), "int_abs": (torch.abs, I), "int_neg": (torch.neg, I), "int_square": (torch.square, I),
    "int_sign": (torch.sign, I), "int_floor": (torch.floor, I), "int_sqrt": (lambda x: torch.sqrt(x.abs()), I),
    "int_exp": (torch.exp, J), "int_round": (torch.round, I),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    fn, x = UNARY[name]
    run(Fn(fn), [x])


SPECIAL = torch.tensor([[1.0, float("nan"), float("inf"), -float("inf")], [0.0, -2.5, 3.0e38, -7.0]])
CLAMPS = {
    "clamp_both": lambda x: x.clamp(-1.0, 2.0),
    "clamp_int_bounds": lambda x: torch.clamp(x, -1, 1),
    "clamp_min_only": lambda x: x.clamp(min=0.5),
    "clamp_max_only": lambda x: x.clamp(max=-0.5),
    "clamp_relu": lambda x: x.clamp(min=0),
    "clamp_relu6": lambda x: torch.clamp(x, 0, 6),
    "clip": lambda x: torch.clip(x, -0.5, 0.5),
    "clamp_tensor_bounds": lambda x: torch.clamp(x, x.mean(0, keepdim=True), x.mean(0) + 0.5),
    "clamp_tensor_min": lambda x: torch.clamp(x, min=torch.zeros(4) + 0.3),
    "clamp_min_fn": lambda x: torch.clamp_min(x, 0.2),
    "clamp_max_fn": lambda x: torch.clamp_max(x, 0.2),
    "clamp_inplace": lambda x: x.clone().clamp_(-0.1, 0.1),
    "clamp_min_inplace": lambda x: x.clone().clamp_min_(0.1),
    "clamp_max_inplace": lambda x: x.clone().clamp_max_(0.1),
    "clip_inplace": lambda x: x.clone().clip_(max=1.0),
}


@pytest.mark.parametrize("name", sorted(CLAMPS))
def test_clamp(name):
    run(Fn(CLAMPS[name]), [A])


def test_clamp_int():
    run(Fn(lambda x: torch.clamp(x, -3, 4)), [I])
    run(Fn(lambda x, y: torch.clamp(x, min=y)), [I, J])


SPECIALS = {
    "isnan": lambda x: torch.isnan(x).float(),  # bool model outputs are not Core ML arrays
    "isinf": lambda x: torch.isinf(x).int(),
    "isfinite": lambda x: torch.isfinite(x).float(),
    "nan_to_num": lambda x: torch.nan_to_num(x, nan=0.5, posinf=100.0, neginf=-100.0),
    "nan_to_num_default": lambda x: torch.nan_to_num(x),
    "nan_to_num_inplace": lambda x: x.clone().nan_to_num_(1.0),
}


@pytest.mark.parametrize("name", sorted(SPECIALS))
def test_special_values(name):
    run(Fn(SPECIALS[name]), [SPECIAL])


INPLACE = {
    "add_": lambda x, y: x.clone().add_(y, alpha=2),
    "sub_": lambda x, y: x.clone().sub_(1.5),
    "mul_": lambda x, y: x.clone().mul_(y),
    "div_": lambda x, y: x.clone().div_(y),
    "div_floor_": lambda x, y: x.clone().div_(y, rounding_mode="floor"),
    "pow_": lambda x, y: x.clone().abs().pow_(1.5),
    "remainder_": lambda x, y: x.clone().remainder_(y),
    "fmod_": lambda x, y: x.clone().fmod_(2.0),
    "floor_divide_": lambda x, y: x.clone().floor_divide_(y),
    "lerp_": lambda x, y: x.clone().lerp_(y, 0.25),
    "unary_chain_": lambda x, y: x.clone().abs_().sqrt_().exp_().log_().neg_().floor_().ceil_().sin_().cos_(),
    "round_trunc_": lambda x, y: x.clone().mul_(3).round_() + x.clone().mul_(3).trunc_(),
    "reciprocal_square_": lambda x, y: (x.clone().abs_() + 1).reciprocal_().square_() + x.clone().erf_(),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace(name):
    run(Fn(INPLACE[name]), [A, B])


class Scripted(nn.Module):
    def forward(self, x, y):
        a = torch.div(x, y, rounding_mode="trunc") + torch.fmod(x, y) - torch.remainder(x, 2.0)
        b = torch.atan2(x, y) * torch.lerp(x, y, 0.25) + torch.clamp(x, max=0.5)
        c = torch.log1p(x.abs()) + torch.log2(x.abs() + 1) + torch.trunc(x) + torch.round(x) + torch.sign(y)
        d = torch.nan_to_num(x / y, posinf=1.0, neginf=-1.0) + torch.isnan(x).float()
        e = x.clone()
        e.clamp_(-1.0, 1.0)
        e.mul_(2.0)
        return a, b, c, d, e


class ScriptedInt(nn.Module):
    def forward(self, x, y):
        return x // y, x % y, torch.div(x, y, rounding_mode="trunc"), x / y, torch.fmod(x, y), x * 2 + 1


def test_scripted():
    run(Scripted(), [A, B], script=True)
    run(ScriptedInt(), [I, J], script=True)


FP16 = {
    "add_mul": (lambda x, y: x * y + x, [A, B]),
    "div_trunc": (lambda x, y: torch.div(x, y, rounding_mode="trunc"), [A, B]),
    "fmod": (lambda x, y: torch.fmod(x, y), [A, B]),
    "atan2": (lambda x, y: torch.atan2(x, y), [A, B]),
    "pow": (lambda x, y: x.abs().pow(1.5) + 2 ** y, [A, B]),
    "unary": (lambda x, y: torch.exp(y / 4) + torch.log1p(x.abs()) + torch.sin(x) + torch.erf(y) + torch.rsqrt(x.abs() + 1),
              [A, B]),
    "clamp_lerp": (lambda x, y: torch.lerp(x.clamp(-1, 1), y, 0.5), [A, B]),
    "trunc_sign": (lambda x, y: torch.trunc(x) * torch.sign(y), [A, B]),
}


@pytest.mark.parametrize("name", sorted(FP16))
def test_fp16(name):
    fn, inputs = FP16[name]
    run(Fn(fn), inputs, precision="fp16")


def test_constant_math_folds():
    def f(x):
        n = x.size(-1)
        return x * math.sqrt(n) + float(n) ** 0.5
    run(Fn(f), [A])
