"""Sweep: every lowered binary math op on a grid of special values (0, -0, +-inf, nan, +-1, halves,
large), fp32 and fp16 compute precision, and torch's type promotion over dtype combinations (bool,
int, float tensors and Python numbers). One converted model per op and precision computes the whole
grid. References: torch in fp32; for fp16 the inputs are rounded to half first and the result too.
Plus the regressions: atan2(0, 0) = 0, bool + bool = True, nan_to_num's default replacement in fp16."""
import re

import numpy as np
import pytest
import torch

import pt2coreml as ct
from parity import need_torch2
from cov_common import Fn

INF, NAN = float("inf"), float("nan")
LARGE = {"fp32": 1e30, "fp16": 3e4}


def grid(precision):
    big = LARGE[precision]
    vals = torch.tensor([0.0, -0.0, INF, -INF, NAN, 1.0, -1.0, 0.5, -2.5, 3.0, 7.0, big, -big])
    return vals[:, None].expand(13, 13).contiguous(), vals[None, :].expand(13, 13).contiguous()


def convert_predict(fn, inputs, precision, out_float=True):
    """Trace fn on inputs, convert at the precision, predict; (ours, torch's) as float64 arrays."""
    sm = torch.jit.trace(Fn(fn).eval(), tuple(inputs), check_trace=False)
    dt = {torch.float32: np.float32, torch.int64: np.int32, torch.int32: np.int32, torch.bool: np.bool_}
    types = [ct.TensorType(name=f"x{i}", shape=tuple(x.shape), dtype=dt[x.dtype]) for i, x in enumerate(inputs)]
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    ml = ct.convert(sm, inputs=types, compute_precision=prec)
    outs = ml.predict({f"x{i}": x.numpy() for i, x in enumerate(inputs)})
    got = [np.asarray(outs[o["name"]], dtype=np.float64) for o in ml._desc["outputs"]]
    if precision == "fp16":  # torch on the half-rounded inputs, computed in fp32, rounded to half
        inputs = [x.half().float() if x.dtype == torch.float32 else x for x in inputs]
    with torch.no_grad():
        ref = sm(*inputs)
    ref = ref if isinstance(ref, tuple) else (ref,)
    if precision == "fp16":
        ref = tuple(r.half().float() if r.is_floating_point() else r for r in ref)
    return got, [r.double().numpy() for r in ref]


def mismatches(got, ref, rtol):
    """Positions where got and ref differ: nan must meet nan, infinities must match exactly, finite
    values within rtol of max(|ref|, 1)."""
    both_nan = np.isnan(got) & np.isnan(ref)
    with np.errstate(invalid="ignore"):
        same = (got == ref) | both_nan
        near = np.isfinite(got) & np.isfinite(ref) & (np.abs(got - ref) <= rtol * np.maximum(np.abs(ref), 1))
    return np.argwhere(~(same | near))


RTOL = {"fp32": 2e-6, "fp16": 2e-3}


def check_grid(fn, inputs, precision, labels=None):
    got, ref = convert_predict(fn, inputs, precision)
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        bad = mismatches(g, r, RTOL[precision])
        if len(bad):
            where = [tuple(int(i) for i in b) for b in bad[:6]]
            desc = "; ".join(f"{labels(w) if labels else w}: got {g[w]!r}, torch {r[w]!r}" for w in where)
            raise AssertionError(f"{len(bad)} of {r.size} differ: {desc}")


FLOAT_OPS = {
    "add": lambda x, y: x + y,
    "add_alpha": lambda x, y: torch.add(x, y, alpha=-2),
    "sub": lambda x, y: x - y,
    "rsub": lambda x, y: torch.rsub(x, y),
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "div_floor": lambda x, y: torch.div(x, y, rounding_mode="floor"),
    "div_trunc": lambda x, y: torch.div(x, y, rounding_mode="trunc"),
    "floor_divide": lambda x, y: torch.floor_divide(x, y),
    "remainder": lambda x, y: torch.remainder(x, y),
    "fmod": lambda x, y: torch.fmod(x, y),
    "pow": lambda x, y: torch.pow(x, y),
    "float_power": lambda x, y: torch.float_power(x, y).float(),
    "maximum": lambda x, y: torch.maximum(x, y),
    "minimum": lambda x, y: torch.minimum(x, y),
    "fmax": lambda x, y: torch.fmax(x, y),
    "fmin": lambda x, y: torch.fmin(x, y),
    "atan2": lambda x, y: torch.atan2(x, y),
    "hypot": lambda x, y: torch.hypot(x, y),
    "copysign": lambda x, y: torch.copysign(x, y),
    "logaddexp": lambda x, y: torch.logaddexp(x, y),
    "logaddexp2": lambda x, y: torch.logaddexp2(x, y),
    "xlogy": lambda x, y: torch.xlogy(x, y),
    "heaviside": lambda x, y: torch.heaviside(x, y),
    "lerp": lambda x, y: torch.stack([torch.lerp(x, y, 0.25), torch.lerp(x, y, 0.5), torch.lerp(x, y, -0.75)]),
    "lerp_tensor_weight": lambda x, y: torch.lerp(x, y, torch.tensor([0.25, 0.5, 0.75, -1.0, 2.0] * 2 + [0.0] * 3)),
    "compare": lambda x, y: torch.stack([x == y, x != y, x < y, x <= y, x > y, x >= y]).float(),
    "logical": lambda x, y: torch.stack([torch.logical_and(x, y), torch.logical_or(x, y),
                                         torch.logical_xor(x, y)]).float(),
}

@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("op", sorted(FLOAT_OPS))
def test_binary_special_values(op, precision):
    if op.startswith("lerp"):
        need_torch2("lerp's special values as torch 2 computes them (torch 1.13 uses another formula)")
    x, y = grid(precision)
    vals = x[:, 0].tolist()
    check_grid(FLOAT_OPS[op], [x, y], precision, labels=lambda w: f"({vals[w[-2]]}, {vals[w[-1]]})")


SCALAR_OPS = {k: FLOAT_OPS[k] for k in ("add", "sub", "mul", "div", "div_floor", "div_trunc", "floor_divide",
                                         "remainder", "fmod", "pow", "compare")}
SCALARS = [0.0, -0.0, INF, -INF, NAN, 1.0, -1.0, 2.0, 0.5, -0.5, -2.5, 3, -2]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("op", sorted(SCALAR_OPS))
def test_binary_special_numbers(op, precision):
    """x op c and c op x for special Python numbers c (constants in the graph: other lowering paths,
    e.g. pow by 2 or 0.5), x the special values."""
    fn = SCALAR_OPS[op]
    x = grid(precision)[0][:, 0].contiguous()

    def model(t):
        outs = []
        for c in SCALARS:
            outs.append(fn(t, c))
            if op not in ("compare",) and not (op == "pow" and c != c):  # torch has no pow(nan number, tensor)
                outs.append(fn(c, t) if op not in ("div_floor", "div_trunc", "floor_divide", "fmod") else fn(t * 0 + c, t))
        return torch.stack(outs)
    check_grid(model, [x], precision)


# ---------------------------------------------------------------- type promotion
TENSORS = {
    "b": torch.tensor([True, False, True, False, True, True]),
    "i": torch.tensor([3, -2, 5, -7, 1, 4]),  # no zero: torch raises for integer division by zero
    "f": torch.tensor([1.5, -2.0, 0.0, 3.0, -0.5, 7.0]),
}
# Python numbers (a Python bool does not trace) and 0-d tensor constants, which promote like numbers
NUMBERS = {"2": 2, "-3": -3, "1.5": 1.5, "t(True)": torch.tensor(True), "t(2)": torch.tensor(2), "t(-2.5)": torch.tensor(-2.5)}

DTYPE_OPS = {
    **{k: FLOAT_OPS[k] for k in ("add", "sub", "mul", "div", "div_floor", "div_trunc", "remainder", "fmod", "pow",
                                 "maximum", "minimum", "fmax", "fmin", "atan2", "copysign", "hypot", "xlogy",
                                 "logaddexp", "float_power", "heaviside")},
    "floordiv": lambda x, y: x // y,
    "mod_op": lambda x, y: x % y,
    "pow_op": lambda x, y: x ** y,
    "eq": lambda x, y: x == y,
    "lt": lambda x, y: x < y,
    "ge": lambda x, y: x >= y,
    "bitwise_and": lambda x, y: x & y,
    "bitwise_or": lambda x, y: x | y,
    "bitwise_xor": lambda x, y: x ^ y,
    "logical_and": lambda x, y: torch.logical_and(x, y),
    "logical_xor": lambda x, y: torch.logical_xor(x, y),
}


def dtype_cases(fn, only_bool=False):
    """(name, fn of the three tensors) for every tensor / tensor and tensor / number pairing torch accepts."""
    cases = []
    for a in TENSORS:
        for b in list(TENSORS) + list(NUMBERS):
            pairs = [(a, b)] if b in TENSORS else [(a, b), (b, a)]
            for l, r in pairs:
                def case(t, l=l, r=r):
                    return fn(t[l] if l in t else NUMBERS[l], t[r] if r in t else NUMBERS[r])
                if only_bool and not all(isinstance(v, bool) or getattr(v, "dtype", None) == torch.bool
                                         for v in (TENSORS.get(l, NUMBERS.get(l)), TENSORS.get(r, NUMBERS.get(r)))):
                    continue
                try:
                    case(TENSORS)
                except (RuntimeError, TypeError, ZeroDivisionError):
                    continue
                cases.append((f"{l},{r}", case))
    return cases


def _outputs_cast_from_bool(ml):
    """Names of outputs that are a bool value cast to fp32 (Core ML outputs hold no bools: a bool result
    leaves the program as 0 / 1 in fp32, as coremltools writes it)."""
    text = ml.get_program_text()
    types = dict(re.findall(r"%(\w+): (\w+)\[", text))
    cast_of = dict(re.findall(r"%(\w+): \w+\[[^\]]*\] = cast\(x=%(\w+)", text))
    found = set()
    for o in ml._desc["outputs"]:
        v = o["name"]
        while v in cast_of and types.get(v) != "bool":  # fp32 <- (fp16 <-) bool
            v = cast_of[v]
        if types.get(v) == "bool":
            found.add(o["name"])
    return found


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("op", sorted(DTYPE_OPS))
def test_binary_type_promotion(op, precision):
    """Values and dtype (bool / integer / float) of every accepted operand pairing, one model per op."""
    cases = dtype_cases(DTYPE_OPS[op], only_bool=op.startswith("bitwise"))  # integer bitwise ops are not lowered
    assert cases

    def fn(b, i, f):
        t = {"b": b, "i": i, "f": f}
        return tuple(c(t) for _, c in cases)
    ins = [TENSORS["b"], TENSORS["i"], TENSORS["f"]]
    sm = torch.jit.trace(Fn(fn).eval(), tuple(ins), check_trace=False)
    types = [ct.TensorType(name=n, shape=(6,), dtype=d) for n, d in zip("bif", [np.bool_, np.int32, np.float32])]
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    ml = ct.convert(sm, inputs=types, compute_precision=prec)
    outs = ml.predict({n: x.numpy() for n, x in zip("bif", ins)})
    refs = fn(*ins)  # eager: the trace records a 0-d bool constant as a Python bool, which torch cannot run
    kind = {torch.bool: "b", torch.float32: "f", torch.float64: "f", torch.int64: "i"}
    cast_from_bool = _outputs_cast_from_bool(ml)
    bad = []
    for (name, _), o, ref in zip(cases, ml._desc["outputs"], refs):
        got = np.asarray(outs[o["name"]])
        gk = "b" if got.dtype == np.bool_ or o["name"] in cast_from_bool else \
            "i" if np.issubdtype(got.dtype, np.integer) else "f"
        g, r = got.astype(np.float64), ref.double().numpy()
        if precision == "fp16" and kind[ref.dtype] == "f":
            r = ref.half().double().numpy()
        if gk != kind[ref.dtype] or len(mismatches(g, r, RTOL[precision])):
            bad.append(f"{op}({name}): got {got.tolist()} ({got.dtype}), torch {ref.tolist()} ({ref.dtype})")
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------- regressions
def test_atan2_of_zeros():
    """atan2(+-0, +-0) is 0 / pi with the zeros' signs, as in C (was NaN: atan(0 / 0))."""
    x = torch.tensor([0.0, 0.0, -0.0, -0.0, 1.0])
    y = torch.tensor([0.0, -0.0, 0.0, -0.0, 0.0])
    got, ref = convert_predict(lambda a, b: torch.atan2(a, b), [x, y], "fp32")
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-6)
    assert np.array_equal(np.signbit(got[0]), np.signbit(ref[0]))


@pytest.mark.parametrize("op", ["add", "mul", "maximum"])
def test_bool_with_bool_stays_bool(op):
    """bool + bool is logical or in torch (True, not 2), bool * bool logical and."""
    fn = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "maximum": torch.maximum}[op]
    a, b = torch.tensor([True, True, False]), torch.tensor([True, False, False])
    sm = torch.jit.trace(Fn(lambda a, b: fn(a, b).float() * 3), (a, b))
    ml = ct.convert(sm, inputs=[ct.TensorType(name="a", shape=(3,), dtype=np.bool_), ct.TensorType(name="b", shape=(3,), dtype=np.bool_)])
    got = list(ml.predict({"a": a.numpy(), "b": b.numpy()}).values())[0]
    np.testing.assert_array_equal(got, (fn(a, b).float() * 3).numpy())


@pytest.mark.parametrize("args", [{}, {"nan": 1.0}, {"posinf": 100.0}, {"neginf": -7.0}])
def test_nan_to_num_default_in_fp16(args):
    """Under fp16 compute precision the default replacement of +-inf is fp16's largest finite value, as
    torch's for half (the fp32 maximum overflowed to inf); a given replacement is kept."""
    x = torch.tensor([NAN, INF, -INF, 1.5, -2.0, 0.0])
    got, ref = convert_predict(lambda t: torch.nan_to_num(t, **args), [x], "fp16")
    want = torch.nan_to_num(x.half(), **args).double().numpy()
    np.testing.assert_array_equal(got[0], want)
    got32, ref32 = convert_predict(lambda t: torch.nan_to_num(t, **args), [x], "fp32")
    np.testing.assert_array_equal(got32[0], ref32[0])


def test_rsqrt_special_values():
    """rsqrt(0) = inf and rsqrt(-0) = -inf as torch (MIL's rsqrt adds an epsilon)."""
    x = torch.tensor([0.0, -0.0, INF, -1.0, 4.0, NAN])
    got, ref = convert_predict(torch.rsqrt, [x], "fp32")
    assert not len(mismatches(got[0], ref[0], 1e-6)), (got[0], ref[0])


def test_angle_special_values():
    """angle(complex(x, y)) is atan2(y, x) (angle(0) = 0, was NaN); the angle of a real NaN is NaN;
    complex(x, y) and a real tensor joining complex ones in cat keep infinite parts (were made by
    products with 0: NaN); complex + real stays torch's x + 1 * y in complex (NaN there is torch's)."""
    x, y = grid("fp32")
    got, ref = convert_predict(lambda a, b: (torch.complex(a, b).angle(), torch.angle(a),
                                             torch.view_as_real(torch.complex(a, b)),
                                             torch.view_as_real(torch.complex(a, b) + b[0]),
                                             torch.view_as_real(torch.cat([torch.complex(a, b), a]))), [x, y], "fp32")
    for g, r in zip(got, ref):
        assert not len(mismatches(g, r, 2e-6))
