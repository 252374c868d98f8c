"""Reference runtime: every op in ops.def, run through a one-op textual program and
compared with numpy / torch. Programs declare the reference's output type, so the
runtime's own shape computation is checked too (rt_out compares them)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pt2coreml import _core

RNG = np.random.default_rng(0)

NP2IR = {np.float32: "fp32", np.float16: "fp16", np.float64: "fp64", np.int32: "int32", np.int64: "int64",
         np.bool_: "bool", np.int8: "int8", np.uint8: "uint8", np.int16: "int16", np.uint16: "uint16"}


def irdt(a):
    return NP2IR[np.asarray(a).dtype.type]


def ty(a):
    a = np.asarray(a)
    return "%s[%s]" % (irdt(a), ",".join(str(d) for d in a.shape))


def lit(a):
    a = np.asarray(a)
    def one(v):
        if a.dtype == np.bool_:
            return "true" if v else "false"
        if a.dtype.kind == "f":
            v = float(v)
            return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else "%.9g" % v)
        return str(int(v))
    if a.ndim == 0:
        return one(a.item())
    return "[" + ", ".join(one(v) for v in a.reshape(-1).tolist()) + "]"


def const_arr(v):
    if isinstance(v, bool):
        return np.array(v)
    if isinstance(v, int):
        return np.array(v, np.int32)
    if isinstance(v, float):
        return np.array(v, np.float32)
    if isinstance(v, (list, tuple)):
        return np.array(v, np.int32)
    return np.asarray(v)


def program(op, inputs, params, outs, extra=""):
    """Text of a one-op program. inputs: name -> array fed at run time (a list of
    arrays binds a variadic parameter); params: name -> const value; outs: arrays
    whose dtype/shape are the declared output types."""
    fin, body, args = [], [], []
    for name, v in inputs.items():
        if isinstance(v, list):
            names = []
            for i, a in enumerate(v):
                fin.append("%%%s%d: %s" % (name, i, ty(a)))
                names.append("%%%s%d" % (name, i))
            args.append("%s=(%s)" % (name, ", ".join(names)))
        else:
            fin.append("%%%s: %s" % (name, ty(v)))
            args.append("%s=%%%s" % (name, name))
    for name, v in params.items():
        if isinstance(v, str):
            body.append('  %%c_%s: string[] = const(val="%s")' % (name, v))
        else:
            a = const_arr(v)
            body.append("  %%c_%s: %s = const(val=%s)" % (name, ty(a), lit(a)))
        args.append("%s=%%c_%s" % (name, name))
    onames = ["%%out%d" % i for i in range(len(outs))]
    decl = ", ".join("%s: %s" % (n, ty(o)) for n, o in zip(onames, outs))
    if len(outs) > 1:
        decl = "(" + decl + ")"
    body.append("  %s = %s(%s)" % (decl, op, ", ".join(args)))
    return "program(CoreML5)\nfunc main(%s) {\n%s\n%s} -> (%s)\n" % (", ".join(fin), extra, "\n".join(body),
                                                                     ", ".join(onames))


def flat_inputs(inputs):
    out = []
    for v in inputs.values():
        out.extend(v if isinstance(v, list) else [v])
    return out


def run(op, inputs, params, refs, rtol=None, atol=None):
    refs = refs if isinstance(refs, (list, tuple)) else [refs]
    refs = [np.asarray(r) for r in refs]
    text = program(op, inputs, params, refs)
    got = _core.parse(text).run(flat_inputs(inputs))
    assert len(got) == len(refs)
    for g, r in zip(got, refs):
        assert g.dtype == r.dtype, (g.dtype, r.dtype)
        assert g.shape == r.shape, (g.shape, r.shape)
        if r.dtype.kind == "f":
            tol_r = rtol if rtol is not None else (1e-2 if r.dtype == np.float16 else 1e-5)
            tol_a = atol if atol is not None else (1e-2 if r.dtype == np.float16 else 1e-5)
            np.testing.assert_allclose(g.astype(np.float64), r.astype(np.float64), rtol=tol_r, atol=tol_a)
        else:
            np.testing.assert_array_equal(g, r)
    return got


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- elementwise unary
UNARY = {
    "abs": np.abs, "acos": np.arccos, "asin": np.arcsin, "atan": np.arctan, "ceil": np.ceil, "cos": np.cos,
    "cosh": np.cosh, "erf": lambda x: torch.erf(torch.tensor(x)).numpy(), "exp": np.exp, "exp2": np.exp2,
    "floor": np.floor, "round": np.round, "sign": np.sign, "sin": np.sin, "sinh": np.sinh,
    "sqrt": lambda x: np.sqrt(np.abs(x)), "square": np.square, "tan": np.tan, "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0), "relu6": lambda x: np.clip(x, 0, 6),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "silu": lambda x: x / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    x = randn(2, 3, 5) * 3
    if name in ("acos", "asin"):
        x = np.tanh(x)
    if name == "sqrt":
        x = np.abs(x)
    if name == "round":
        x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.4, -2.6, 3.0], np.float32)
    run(name, {"x": x}, {}, UNARY[name](x).astype(np.float32))


@pytest.mark.parametrize("name", ["abs", "sign", "square"])
def test_unary_int(name):
    x = np.array([[-3, 0, 2], [7, -1, 5]], np.int32)
    run(name, {"x": x}, {}, UNARY[name](x).astype(np.int32))


def test_unary_scalar_and_8d():
    run("exp", {"x": np.array(0.5, np.float32)}, {}, np.exp(np.float32(0.5)))
    x = randn(1, 2, 1, 2, 1, 2, 1, 2)
    run("tanh", {"x": x}, {}, np.tanh(x))


def test_inverse_rsqrt_log_eps():
    x = np.abs(randn(4, 5)) + 0.1
    run("inverse", {"x": x}, {}, 1 / (x + 1e-4))
    run("inverse", {"x": x}, {"epsilon": 0.5}, 1 / (x + 0.5))
    run("rsqrt", {"x": x}, {"epsilon": 1e-3}, 1 / np.sqrt(x + 1e-3))
    run("log", {"x": x}, {}, np.log(x))
    run("log", {"x": x}, {"epsilon": 1.0}, np.log(x + 1.0))


def test_logical_not():
    x = np.array([True, False, True])
    run("logical_not", {"x": x}, {}, ~x)


# ---------------------------------------------------------------- activations
@pytest.mark.parametrize("mode", ["EXACT", "TANH_APPROXIMATION", "SIGMOID_APPROXIMATION", None])
def test_gelu(mode):
    x = randn(3, 7) * 2
    t = torch.tensor(x)
    if mode in ("EXACT", None):
        ref = F.gelu(t).numpy()
    elif mode == "TANH_APPROXIMATION":
        ref = F.gelu(t, approximate="tanh").numpy()
    else:
        ref = x / (1 + np.exp(-1.702 * x))
    run("gelu", {"x": x}, {"mode": mode} if mode else {}, ref)


def test_gelu_bad_mode():
    with pytest.raises(RuntimeError, match="unknown gelu mode 'FAST'"):
        _core.parse(program("gelu", {"x": randn(2)}, {"mode": "FAST"}, [randn(2)])).run([randn(2)])


def test_elu_leaky_softplus_clip():
    x = randn(4, 6) * 3
    run("elu", {"x": x}, {"alpha": 0.7}, F.elu(torch.tensor(x), 0.7).numpy())
    run("leaky_relu", {"x": x}, {"alpha": 0.2}, F.leaky_relu(torch.tensor(x), 0.2).numpy())
    run("clip", {"x": x}, {"alpha": -1.0, "beta": 2.5}, np.clip(x, -1, 2.5))
    big = np.array([-100, -5, 0, 5, 100], np.float32)
    run("softplus", {"x": big}, {}, F.softplus(torch.tensor(big)).numpy())


@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
def test_softmax(axis):
    x = randn(3, 4, 5) * 4
    run("softmax", {"x": x}, {"axis": axis}, torch.softmax(torch.tensor(x), axis).numpy())


# ---------------------------------------------------------------- binary
BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "real_div": np.divide, "maximum": np.maximum,
    "minimum": np.minimum, "pow": np.power, "floor_div": np.floor_divide, "mod": np.mod,
}
COMPARE = {"equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
           "greater": np.greater, "greater_equal": np.greater_equal}
SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5, 1, 1, 3), (1, 4, 2, 1)),
          ((1,), ())]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "x".join(map(str, s[0])) + "_" + "x".join(map(str, s[1])))
def test_binary_float(name, shapes):
    x, y = randn(*shapes[0]), randn(*shapes[1])
    if name == "pow":
        x = np.abs(x) + 0.5
    if name in ("real_div", "floor_div", "mod"):
        y = np.where(np.abs(y) < 0.3, 0.7, y).astype(np.float32)
    run(name, {"x": x, "y": y}, {}, BINARY[name](x, y).astype(np.float32), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "maximum", "minimum", "floor_div", "mod", "pow"])
def test_binary_int(name):
    x = np.array([[7, -7, 3, 0], [-9, 9, 2, 5]], np.int32)
    y = np.array([2, 3, -4, 1], np.int32)
    if name == "pow":
        x, y = np.abs(x), np.abs(y)
    run(name, {"x": x, "y": y}, {}, BINARY[name](x, y).astype(np.int32))


@pytest.mark.parametrize("name", sorted(COMPARE))
def test_compare(name):
    x = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    y = np.array([3, 2, 1], np.float32)
    run(name, {"x": x, "y": y}, {}, COMPARE[name](x, y))
    xi = x.astype(np.int32)
    run(name, {"x": xi}, {"y": np.array(2, np.int32)}, COMPARE[name](xi, 2))


def test_logical():
    a = np.array([[True, False], [True, True]])
    b = np.array([False, True])
    run("logical_and", {"x": a, "y": b}, {}, a & b)
    run("logical_or", {"x": a, "y": b}, {}, a | b)


def test_broadcast_error():
    with pytest.raises(RuntimeError, match=r"do not broadcast"):
        x, y = randn(2, 3), randn(4)
        _core.parse(program("add", {"x": x, "y": y}, {}, [randn(2, 3)])).run([x, y])


def test_select():
    c = RNG.random((2, 1, 4)) > 0.5
    a, b = randn(2, 3, 4), randn(3, 1)
    run("select", {"cond": c, "a": a, "b": b}, {}, np.where(c, a, b).astype(np.float32))
    ai, bi = np.arange(4, dtype=np.int32), np.int32(-1) * np.ones(4, np.int32)
    run("select", {"cond": c[0, 0], "a": ai, "b": bi}, {}, np.where(c[0, 0], ai, bi))


# ---------------------------------------------------------------- fp16
def test_fp16_rounding_at_op_boundaries():
    x = (randn(64) * 10).astype(np.float16)
    y = (randn(64) * 10).astype(np.float16)
    run("add", {"x": x, "y": y}, {}, (x + y).astype(np.float16), rtol=0, atol=0)
    run("mul", {"x": x, "y": y}, {}, (x * y), rtol=0, atol=0)
    big = np.array([300, -300, 70000 / 300], np.float16)
    with np.errstate(over="ignore"):
        ref = big * big
    got = run("mul", {"x": big, "y": big}, {}, ref, rtol=0, atol=0)[0]
    assert np.isinf(got[0]) and np.isinf(got[1])  # overflows in fp16, as the program says


def test_fp16_conv_and_const_weights():
    x = randn(1, 3, 6, 6).astype(np.float16)
    w = (randn(4, 3, 3, 3) * 0.3).astype(np.float16)
    ref = F.conv2d(torch.tensor(x.astype(np.float32)), torch.tensor(w.astype(np.float32))).numpy().astype(np.float16)
    run("conv", {"x": x}, {"weight": w}, ref, rtol=2e-3, atol=2e-3)


def test_cast_to_fp16_rounds():
    x = np.array([1.0001, 65519, 65520, 1e-8, -2.5e-5, 3.14159], np.float32)
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16)
    run("cast", {"x": x}, {"dtype": "fp16"}, ref, rtol=0, atol=0)


@pytest.mark.parametrize("dt", ["fp32", "int32", "bool", "int8", "uint8", "fp16", "int64"])
def test_cast(dt):
    x = np.array([-2.7, -0.5, 0, 0.5, 1.9, 100.2], np.float32)
    npdt = {"fp32": np.float32, "int32": np.int32, "bool": np.bool_, "int8": np.int8, "uint8": np.uint8,
            "fp16": np.float16, "int64": np.int64}[dt]
    src = np.abs(x) if dt == "uint8" else x
    run("cast", {"x": src}, {"dtype": dt}, src.astype(npdt))
    xi = np.array([0, 1, -3, 300], np.int32)
    if dt not in ("uint8", "int8"):
        run("cast", {"x": xi}, {"dtype": dt}, xi.astype(npdt))


# ---------------------------------------------------------------- conv
def same_pads(n, k, s, d, lower=False):
    keff = (k - 1) * d + 1
    total = max(0, (math.ceil(n / s) - 1) * s + keff - n)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)


def torch_conv(x, w, b, strides, dil, groups, pads):
    """pads: per spatial dim (before, after)."""
    t = torch.tensor(x)
    flat = []
    for pb, pa in reversed(pads):
        flat += [pb, pa]
    t = F.pad(t, flat)
    conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[x.ndim]
    return conv(t, torch.tensor(w), None if b is None else torch.tensor(b), stride=strides, dilation=dil,
                groups=groups).numpy()


CONV_CASES = [
    # (x shape, Cout, k, strides, dil, groups, pad_type, custom pad)
    ((1, 3, 9, 9), 4, (3, 3), (1, 1), (1, 1), 1, "valid", None),
    ((2, 4, 10, 7), 6, (3, 2), (2, 1), (1, 1), 2, "custom", (1, 2, 0, 1)),
    ((1, 4, 9, 9), 8, (3, 3), (2, 2), (2, 2), 1, "same", None),
    ((1, 4, 8, 8), 4, (2, 2), (2, 2), (1, 1), 1, "same_lower", None),
    ((1, 6, 8, 8), 6, (3, 3), (1, 1), (1, 1), 6, "same", None),            # depthwise
    ((2, 6, 11, 9), 12, (3, 3), (2, 2), (1, 1), 6, "custom", (1, 1, 1, 1)),  # depthwise x2, stride 2
    ((1, 5, 12, 12), 5, (3, 3), (1, 1), (3, 2), 5, "custom", (3, 3, 2, 2)),  # depthwise dilated
    ((1, 4, 9, 40), 4, (5, 5), (1, 3), (1, 1), 4, "same", None),           # depthwise wide rows
    ((1, 8, 6, 6), 16, (1, 1), (1, 1), (1, 1), 1, "valid", None),          # 1x1
    ((1, 8, 7, 7), 4, (1, 1), (2, 2), (1, 1), 2, "valid", None),           # 1x1 stride 2 grouped
    ((1, 3, 20), 5, (4,), (2,), (1,), 1, "same", None),                     # 1-D
    ((1, 4, 20), 4, (3,), (1,), (2,), 4, "custom", (2, 2)),                 # 1-D depthwise dilated
    ((1, 2, 5, 6, 7), 3, (3, 2, 3), (1, 2, 1), (1, 1, 2), 1, "custom", (1, 1, 0, 0, 2, 1)),  # 3-D
    ((1, 3, 9, 9), 4, (3, 3), (1, 1), (2, 3), 1, "valid", None),          # dilated
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "%s_k%s_s%s_d%s_g%d_%s" % (
    "x".join(map(str, c[0])), "".join(map(str, c[2])), "".join(map(str, c[3])), "".join(map(str, c[4])), c[5], c[6]))
@pytest.mark.parametrize("bias", [True, False])
def test_conv(case, bias):
    xs, cout, k, s, d, g, pt, pad = case
    x = randn(*xs)
    w = randn(cout, xs[1] // g, *k) * 0.3
    b = randn(cout) if bias else None
    nsp = len(k)
    if pt == "valid":
        pads = [(0, 0)] * nsp
    elif pt == "custom":
        pads = [(pad[2 * i], pad[2 * i + 1]) for i in range(nsp)]
    else:
        pads = [same_pads(xs[2 + i], k[i], s[i], d[i], pt == "same_lower") for i in range(nsp)]
    ref = torch_conv(x, w, b, s, d, g, pads)
    params = {"weight": w, "strides": list(s), "dilations": list(d), "groups": g, "pad_type": pt}
    if b is not None:
        params["bias"] = b
    if pad is not None:
        params["pad"] = list(pad)
    run("conv", {"x": x}, params, ref, rtol=1e-4, atol=1e-4)


def test_conv_dynamic_weight_and_defaults():
    x, w = randn(1, 2, 5, 5), randn(3, 2, 2, 2)
    run("conv", {"x": x, "weight": w}, {}, F.conv2d(torch.tensor(x), torch.tensor(w)).numpy(), rtol=1e-4, atol=1e-4)


def test_conv_channel_mismatch():
    x, w = randn(1, 3, 5, 5), randn(2, 2, 3, 3)
    text = program("conv", {"x": x}, {"weight": w}, [randn(1, 2, 3, 3)])
    with pytest.raises(RuntimeError, match="weight has 2 input channels per group"):
        _core.parse(text).run([x])


CONVT_CASES = [
    # (x shape, Cout, k, strides, dil, groups, pad_type, pad, output_shape)
    ((1, 4, 5, 5), 3, (3, 3), (2, 2), (1, 1), 1, "valid", None, None),
    ((2, 4, 5, 6), 6, (3, 3), (2, 2), (1, 1), 2, "custom", (1, 1, 1, 1), None),
    ((1, 4, 5, 5), 2, (4, 4), (2, 2), (1, 1), 1, "custom", (1, 1, 1, 1), (10, 10)),
    ((1, 4, 5, 5), 2, (3, 3), (2, 2), (1, 1), 1, "custom", (1, 1, 1, 1), (10, 10)),  # output_padding 1
    ((1, 3, 4, 4), 3, (3, 3), (1, 1), (2, 2), 1, "valid", None, None),
    ((1, 2, 4, 4), 2, (3, 3), (2, 2), (1, 1), 1, "same", None, None),
    ((1, 3, 7), 2, (5,), (3,), (1,), 1, "valid", None, None),
]


@pytest.mark.parametrize("case", CONVT_CASES, ids=lambda c: "%s_%s_%s" % ("x".join(map(str, c[0])), c[6], c[8]))
def test_conv_transpose(case):
    xs, cout, k, s, d, g, pt, pad, oshape = case
    x = randn(*xs)
    w = randn(xs[1], cout // g, *k) * 0.3
    b = randn(cout)
    nsp = len(k)
    fn = {3: F.conv_transpose1d, 4: F.conv_transpose2d}[x.ndim]
    if pt == "same":
        # out = in * s; the full transposed conv is cropped by total // 2 at the start
        outs = [xs[2 + i] * s[i] for i in range(nsp)]
        tot = [(xs[2 + i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - outs[i] for i in range(nsp)]
        full = fn(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=s, groups=g, dilation=d).numpy()
        ref = full[(slice(None), slice(None)) + tuple(slice(t // 2, t // 2 + o) for t, o in zip(tot, outs))]
    else:
        padding = [pad[2 * i] for i in range(nsp)] if pad else [0] * nsp
        full = [(xs[2 + i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - 2 * padding[i] for i in range(nsp)]
        opad = [oshape[i] - full[i] for i in range(nsp)] if oshape else [0] * nsp
        ref = fn(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=s, padding=padding, output_padding=opad,
                 groups=g, dilation=d).numpy()
    params = {"weight": w, "bias": b, "strides": list(s), "dilations": list(d), "groups": g, "pad_type": pt}
    if pad:
        params["pad"] = list(pad)
    if oshape:
        params["output_shape"] = [xs[0], cout] + list(oshape)
    run("conv_transpose", {"x": x}, params, ref, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- linear / matmul
def test_linear():
    x, w, b = randn(2, 3, 5), randn(4, 5), randn(4)
    run("linear", {"x": x}, {"weight": w, "bias": b}, x @ w.T + b, rtol=1e-5, atol=1e-5)
    run("linear", {"x": x[0, 0]}, {"weight": w}, x[0, 0] @ w.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("xs,ys,tx,ty", [
    ((3, 4), (4, 5), False, False), ((4, 3), (4, 5), True, False), ((3, 4), (5, 4), False, True),
    ((2, 3, 4), (4, 5), False, False), ((2, 1, 3, 4), (5, 4, 6), False, False), ((4,), (2, 4, 3), False, False),
    ((2, 3, 4), (4,), False, False), ((4,), (4,), False, False), ((2, 4, 3), (1, 5, 4), True, True),
    ((3, 2, 4), (4, 6), False, False),
])
def test_matmul(xs, ys, tx, ty):
    x, y = randn(*xs), randn(*ys)
    xx = np.swapaxes(x, -1, -2) if tx else x
    yy = np.swapaxes(y, -1, -2) if ty else y
    run("matmul", {"x": x, "y": y}, {"transpose_x": tx, "transpose_y": ty}, np.matmul(xx, yy), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- normalization
def test_batch_norm():
    x = randn(2, 3, 4, 5)
    m, v, g, b = randn(3), np.abs(randn(3)) + 0.1, randn(3), randn(3)
    ref = F.batch_norm(torch.tensor(x), torch.tensor(m), torch.tensor(v), torch.tensor(g), torch.tensor(b),
                       eps=1e-3).numpy()
    run("batch_norm", {"x": x}, {"mean": m, "variance": v, "gamma": g, "beta": b, "epsilon": 1e-3}, ref)
    ref = F.batch_norm(torch.tensor(x[:, :, 0]), torch.tensor(m), torch.tensor(v), eps=1e-5).numpy()
    run("batch_norm", {"x": x[:, :, 0]}, {"mean": m, "variance": v}, ref)


@pytest.mark.parametrize("axes", [None, [-1], [2, 3], [1], [1, 3]])
def test_layer_norm(axes):
    x = randn(2, 3, 4, 5) * 2 + 1
    ax = list(range(4)) if axes is None else [a % 4 for a in axes]
    nshape = [x.shape[a] for a in sorted(ax)]
    g, b = randn(*nshape), randn(*nshape)
    m = x.mean(axis=tuple(ax), keepdims=True)
    v = ((x - m) ** 2).mean(axis=tuple(ax), keepdims=True)
    bshape = [x.shape[i] if i in ax else 1 for i in range(4)]
    ref = (x - m) / np.sqrt(v + 1e-5) * g.reshape(bshape) + b.reshape(bshape)
    params = {"gamma": g, "beta": b}
    if axes is not None:
        params["axes"] = axes
    run("layer_norm", {"x": x}, params, ref.astype(np.float32), rtol=1e-4, atol=1e-4)
    run("layer_norm", {"x": x}, {"axes": [-1], "epsilon": 0.1},
        F.layer_norm(torch.tensor(x), [5], eps=0.1).numpy(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- pools
@pytest.mark.parametrize("op", ["max_pool", "avg_pool"])
@pytest.mark.parametrize("k,s,pt,pad,ceil,excl", [
    ((3, 3), (2, 2), "valid", None, False, False), ((3, 3), (2, 2), "custom", (1, 1, 1, 1), False, False),
    ((3, 3), (2, 2), "custom", (1, 1, 1, 1), False, True), ((3, 3), (2, 2), "custom", (1, 1, 0, 0), True, False),
    ((2, 2), (2, 2), "valid", None, True, False), ((3, 3), (2, 2), "custom", (1, 1, 1, 1), True, True),
    ((2, 3), (1, 2), "custom", (1, 1, 1, 1), True, False), ((2, 2), (2, 2), "same", None, False, False),
])
def test_pool2d(op, k, s, pt, pad, ceil, excl):
    x = randn(2, 3, 9, 10)
    t = torch.tensor(x)
    if pt == "same":
        pads = [same_pads(x.shape[2 + i], k[i], s[i], 1) for i in range(2)]
        fill = -math.inf if op == "max_pool" else 0.0
        tp = F.pad(t, [pads[1][0], pads[1][1], pads[0][0], pads[0][1]], value=fill)
        ref = (F.max_pool2d(tp, k, s) if op == "max_pool" else F.avg_pool2d(tp, k, s)).numpy()
    else:
        padding = (pad[0], pad[2]) if pad else (0, 0)
        if op == "max_pool":
            ref = F.max_pool2d(t, k, s, padding, ceil_mode=ceil).numpy()
        else:
            ref = F.avg_pool2d(t, k, s, padding, ceil_mode=ceil, count_include_pad=not excl).numpy()
    params = {"kernel_sizes": list(k), "strides": list(s), "pad_type": pt, "ceil_mode": ceil}
    if pad:
        params["pad"] = list(pad)
    if op == "avg_pool":
        params["exclude_padding_from_average"] = excl
    run(op, {"x": x}, params, ref, rtol=1e-5, atol=1e-5)


def test_pool_1d_3d():
    x = randn(1, 2, 11)
    run("max_pool", {"x": x}, {"kernel_sizes": [3], "strides": [2], "pad_type": "valid"},
        F.max_pool1d(torch.tensor(x), 3, 2).numpy())
    x = randn(1, 2, 5, 6, 7)
    run("avg_pool", {"x": x}, {"kernel_sizes": [2, 2, 3], "strides": [1, 2, 2], "pad_type": "valid"},
        F.avg_pool3d(torch.tensor(x), (2, 2, 3), (1, 2, 2)).numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- reductions
RED = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_prod": np.prod, "reduce_max": np.max,
       "reduce_min": np.min}


@pytest.mark.parametrize("name", sorted(RED))
@pytest.mark.parametrize("axes", [None, [1], [-1], [0, 2], [1, 2], [0, 1, 2, 3]])
@pytest.mark.parametrize("keep", [False, True])
def test_reduce(name, axes, keep):
    x = randn(2, 3, 4, 5) * 0.8 + (1.0 if name == "reduce_prod" else 0.0)
    ax = None if axes is None else tuple(axes)
    ref = RED[name](x, axis=ax, keepdims=keep).astype(np.float32)
    params = {"keep_dims": keep}
    if axes is not None:
        params["axes"] = axes
    run(name, {"x": x}, params, ref, rtol=1e-5, atol=1e-5)


def test_reduce_int():
    x = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 10
    run("reduce_sum", {"x": x}, {"axes": [1]}, x.sum(axis=1).astype(np.int32))
    run("reduce_max", {"x": x}, {"axes": [0, 2], "keep_dims": True}, x.max(axis=(0, 2), keepdims=True))


@pytest.mark.parametrize("name", ["reduce_argmax", "reduce_argmin"])
@pytest.mark.parametrize("axis,keep", [(None, False), (0, False), (1, True), (-2, False)])
def test_argmax(name, axis, keep):
    x = randn(3, 4, 5)
    x[0, 1, :2] = 5.0  # ties: first index wins
    x[1, 2, 1:3] = -5.0
    f = np.argmax if name == "reduce_argmax" else np.argmin
    a = -1 if axis is None else axis
    ref = f(x, axis=a)
    if keep:
        ref = np.expand_dims(ref, a)
    params = {"keep_dims": keep} if axis is None else {"axis": axis, "keep_dims": keep}
    run(name, {"x": x}, params, ref.astype(np.int32))


# ---------------------------------------------------------------- shape ops
def test_reshape():
    x = randn(2, 3, 4)
    run("reshape", {"x": x}, {"shape": [4, -1]}, x.reshape(4, -1))
    run("reshape", {"x": x}, {"shape": [0, -1, 2]}, x.reshape(2, -1, 2))
    run("reshape", {"x": x}, {"shape": [24]}, x.reshape(24))
    run("reshape", {"x": np.arange(6, dtype=np.int32)}, {"shape": [3, 2]}, np.arange(6, dtype=np.int32).reshape(3, 2))
    with pytest.raises(RuntimeError, match=r"cannot reshape x\[2,3,4\] \(24 elements\) to \[5,5\]"):
        _core.parse(program("reshape", {"x": x}, {"shape": [5, 5]}, [randn(5, 5)])).run([x])


def test_reshape_dynamic_shape():
    # shape computed at run time from another input: shape -> slice -> concat -> reshape
    text = """program(CoreML5)
func main(%x: fp32[s0,6], %z: fp32[s1]) {
  %s: int32[2] = shape(x=%x)
  %m: int32[1] = const(val=[-1])
  %b: int32[1] = const(val=[0])
  %e: int32[1] = const(val=[1])
  %s0: int32[1] = slice_by_index(x=%s, begin=%b, end=%e)
  %three: int32[1] = const(val=[3])
  %ax: int32[] = const(val=0)
  %ns: int32[3] = concat(values=(%s0, %m, %three), axis=%ax)
  %y: fp32[s0,2,3] = reshape(x=%x, shape=%ns)
} -> (%y, %s)
"""
    p = _core.parse(text)
    for n in (1, 5):
        x = randn(n, 6)
        y, s = p.run([x, randn(3)])
        np.testing.assert_array_equal(y, x.reshape(n, 2, 3))
        np.testing.assert_array_equal(s, [n, 6])


def test_transpose():
    x = randn(2, 3, 4, 5)
    run("transpose", {"x": x}, {"perm": [3, 1, 0, 2]}, x.transpose(3, 1, 0, 2))
    run("transpose", {"x": x}, {"perm": [0, -1, 1, 2]}, x.transpose(0, 3, 1, 2))
    h = x.astype(np.float16)
    run("transpose", {"x": h}, {"perm": [1, 0, 2, 3]}, h.transpose(1, 0, 2, 3), rtol=0, atol=0)


def test_squeeze_expand_dims():
    x = randn(1, 3, 1, 4)
    run("squeeze", {"x": x}, {}, x.squeeze())
    run("squeeze", {"x": x}, {"axes": [-2]}, x.squeeze(2))
    one = randn(1, 1)
    run("squeeze", {"x": one}, {}, np.array(one[0, 0]))
    run("expand_dims", {"x": x}, {"axes": [0, -1]}, x[None, ..., None])
    run("expand_dims", {"x": np.array(2.0, np.float32)}, {"axes": [0]}, np.array([2.0], np.float32))


def test_shape_identity():
    x = randn(2, 3, 4)
    run("shape", {"x": x}, {}, np.array([2, 3, 4], np.int32))
    run("shape", {"x": np.array(1.0, np.float32)}, {}, np.zeros(0, np.int32))
    run("identity", {"x": x}, {}, x)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("interleave", [False, True])
def test_concat(axis, interleave):
    a, b, c = randn(2, 3, 4), randn(2, 3, 4), randn(2, 3, 4)
    if interleave:
        ref = np.stack([a, b, c], axis=(axis % 3) + 1).reshape(
            [d * (3 if i == axis % 3 else 1) for i, d in enumerate(a.shape)])
    else:
        ref = np.concatenate([a, b, c], axis=axis)
    run("concat", {"values": [a, b, c]}, {"axis": axis, "interleave": interleave}, ref)


def test_concat_uneven_int():
    a, b = np.arange(6, dtype=np.int32).reshape(2, 3), np.arange(4, dtype=np.int32).reshape(2, 2)
    run("concat", {"values": [a, b]}, {"axis": 1}, np.concatenate([a, b], 1))


def test_split():
    x = randn(2, 6, 3)
    run("split", {"x": x}, {"num_splits": 3, "axis": 1}, np.split(x, 3, axis=1))
    run("split", {"x": x}, {"split_sizes": [1, 4, 1], "axis": -2}, np.split(x, [1, 5], axis=1))
    with pytest.raises(RuntimeError, match="does not divide"):
        _core.parse(program("split", {"x": x}, {"num_splits": 4, "axis": 1}, [x[:, :1]] * 4)).run([x])


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack(axis):
    a, b = randn(3, 4), randn(3, 4)
    run("stack", {"values": [a, b]}, {"axis": axis}, np.stack([a, b], axis=axis))


SLICES = [
    # begin, end, stride, begin_mask, end_mask, squeeze_mask
    ([0, 1, 0], [2, 3, 5], None, None, None, None),
    ([0, -3, 1], [1, -1, 4], [1, 1, 2], None, None, None),
    ([1, 0, 4], [0, 0, 0], [1, 1, -1], [False, True, False], [True, True, True], None),
    ([1, 2, 0], [2, 3, 5], [1, 1, 3], None, None, [True, False, False]),
    ([-1, 0, -1], [0, 4, 0], [-1, 2, -2], [True, False, False], [True, False, True], None),
    ([0, 2, 3], [3, 3, 4], None, None, None, [False, True, True]),
    ([0, 10, -10], [3, 20, 10], None, None, None, None),  # clamped
]


@pytest.mark.parametrize("case", SLICES, ids=[str(i) for i in range(len(SLICES))])
def test_slice_by_index(case):
    b, e, s, bm, em, sm = case
    x = randn(3, 4, 5)
    idx = []
    for i in range(3):
        st = s[i] if s else 1
        if sm and sm[i]:
            idx.append(b[i])
            continue
        lo = None if (bm and bm[i]) else b[i]
        hi = None if (em and em[i]) else e[i]
        idx.append(slice(lo, hi, st))
    ref = x[tuple(idx)]
    params = {"begin": b, "end": e}
    for name, v in (("stride", s), ("begin_mask", bm), ("end_mask", em), ("squeeze_mask", sm)):
        if v is not None:
            params[name] = np.array(v, np.bool_ if "mask" in name else np.int32)
    run("slice_by_index", {"x": x}, params, np.ascontiguousarray(ref))


@pytest.mark.parametrize("axis,bd", [(0, 0), (1, 0), (-1, 0), (1, 1), (2, 1)])
def test_gather(axis, bd):
    x = randn(3, 4, 5)
    if bd == 0:
        ind = np.array([[0, -1], [2, 1]], np.int32)
        ref = np.take(x, ind, axis=axis)
    else:
        a = axis % 3
        ind = np.array([[0, 2], [1, 1], [-1, 0]], np.int32)
        ref = np.stack([np.take(x[i], ind[i], axis=a - 1) for i in range(3)])
    run("gather", {"x": x, "indices": ind}, {"axis": axis, "batch_dims": bd} if bd else {"axis": axis}, ref)
    with pytest.raises(RuntimeError, match="index 7 out of range"):
        bad = np.array([7], np.int32)
        _core.parse(program("gather", {"x": x, "indices": bad}, {}, [x[:1]])).run([x, bad])


def test_gather_scalar_index():
    x = randn(4, 3)
    run("gather", {"x": x}, {"indices": np.array(2, np.int32), "axis": 0}, x[2])


def test_tile():
    x = randn(2, 3)
    run("tile", {"x": x}, {"reps": [2, 3]}, np.tile(x, (2, 3)))
    run("tile", {"x": x}, {"reps": [1, 1]}, x)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
def test_pad(mode):
    x = randn(2, 3, 4, 5)
    pads = [1, 2, 3, 1]
    npmode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}[mode]
    kw = {"constant_values": 1.5} if mode == "constant" else {}
    ref = np.pad(x, [(0, 0), (0, 0), (1, 2), (3, 1)], mode=npmode, **kw)
    params = {"pad": pads, "mode": mode}
    if mode == "constant":
        params["constant_val"] = 1.5
    run("pad", {"x": x}, params, ref)
    ref = np.pad(x, [(0, 0), (1, 1), (1, 2), (3, 1)], mode=npmode, **kw)
    run("pad", {"x": x}, dict(params, pad=[1, 1, 1, 2, 3, 1]), ref)


# ---------------------------------------------------------------- rt_run input checks
def test_run_errors():
    text = """program(CoreML5)
func main(%x: fp32[s0,3], %y: fp32[s0,3]) {
  %z: fp32[s0,3] = add(x=%x, y=%y)
} -> (%z)
"""
    p = _core.parse(text)
    got = p.run([np.ones((2, 3), np.float32), np.ones((2, 3), np.float32)])[0]
    np.testing.assert_array_equal(got, 2 * np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"input 'x': expected shape fp32\[s0,3\], got fp32\[2,4\]"):
        p.run([np.ones((2, 4), np.float32), np.ones((2, 3), np.float32)])
    with pytest.raises(ValueError, match=r"input 'y': dim 0 is 5 but symbol s0 is already bound to 2"):
        p.run([np.ones((2, 3), np.float32), np.ones((5, 3), np.float32)])
    with pytest.raises(ValueError, match=r"input 'x': expected rank 2"):
        p.run([np.ones((3,), np.float32), np.ones((2, 3), np.float32)])
    with pytest.raises(ValueError, match="takes 2 inputs, got 1"):
        p.run([np.ones((2, 3), np.float32)])


def test_unknown_op_fails_in_prepare():
    text = """program(CoreML5)
func main(%x: fp32[2]) {
  %z: fp32[2] = frobnicate(x=%x) [name="frob_1"]
} -> (%z)
"""
    with pytest.raises(Exception, match="frob_1.*frobnicate|frobnicate.*frob_1"):
        _core.parse(text).run([np.ones(2, np.float32)])


def test_declared_shape_mismatch_is_reported():
    x = randn(2, 3)
    text = program("relu", {"x": x}, {}, [randn(3, 2)])
    with pytest.raises(RuntimeError, match=r"op 'out0' \(relu\).*computed output shape \[2,3\]"):
        _core.parse(text).run([x])


def test_chain_frees_and_reuses_values():
    # a longer chain: values die along the way, outputs repeated and a const output
    text = """program(CoreML5)
func main(%x: fp32[4,4]) {
  %a: fp32[4,4] = relu(x=%x)
  %b: fp32[4,4] = add(x=%a, y=%x)
  %c: fp32[4,4] = mul(x=%b, y=%b)
  %d: fp32[4,4] = sub(x=%c, y=%a)
  %k: fp32[2] = const(val=[1, 2])
} -> (%d, %d, %k, %x)
"""
    x = randn(4, 4)
    a = np.maximum(x, 0)
    d = (a + x) ** 2 - a
    outs = _core.parse(text).run([x])
    np.testing.assert_allclose(outs[0], d, rtol=1e-6)
    np.testing.assert_allclose(outs[1], d, rtol=1e-6)
    np.testing.assert_array_equal(outs[2], [1, 2])
    np.testing.assert_array_equal(outs[3], x)
