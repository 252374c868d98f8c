"""Parity tests for the TorchScript kinds no traced or scripted model reaches: aliases torch's compiler
rewrites to their canonical name (torch.greater -> aten::gt), ops a traced nn.Module records under a
lower-level name (conv_transpose3d -> aten::_convolution), and plumbing freezing folds away (detach,
`is None`, implicit tensor -> number conversions). Each case is a hand-written TorchScript graph
(torch._C.parse_ir) made into a ScriptFunction, converted as written (ct.convert of a ScriptFunction
inlines calls but folds nothing), run in our runtime and compared with PyTorch running the same graph.
Warnings, exception messages and Optional refinement come from scripted functions whose result
depends on the path taken."""
import math
import warnings
from typing import Optional

import pytest
import torch
from torch import Tensor

import pt2coreml as ct
from cov_common import run
from parity import need_torch2

# ---- hand-written graphs ----
_DT = {"float": 6, "int": 3, "long": 4, "bool": 11}  # ScalarType codes


def _const(name, v):
    if v is None:
        return f"%{name} : NoneType = prim::Constant()"
    if isinstance(v, bool):
        return f"%{name} : bool = prim::Constant[value={int(v)}]()"
    if isinstance(v, int):
        return f"%{name} : int = prim::Constant[value={v}]()"
    if isinstance(v, float):
        return f"%{name} : float = prim::Constant[value={v!r}]()"
    if isinstance(v, str):
        return f'%{name} : str = prim::Constant[value="{v}"]()'
    if isinstance(v, list) and all(isinstance(i, int) for i in v):
        return f"%{name} : int[] = prim::Constant[value={v}]()"
    raise TypeError(f"no constant for {v!r}")


def graph_text(kind, args, nin, nout=1, bool_inputs=(), float_output=False):
    """IR text of a graph with tensor inputs %x0.. calling `kind` once. Arguments: '%xN' (an input),
    '%cN' (a clone of input N, for in-place ops), a tuple of those (a Tensor[] list), or a constant.
    Core ML models neither take nor return bool arrays: inputs listed in bool_inputs are float in the
    model and made bool by `> 0`, and float_output casts the (bool) result to float."""
    lines, refs, clones = [], [], set()

    def ref(a):
        if isinstance(a, str) and a.startswith("%c"):
            clones.add(int(a[2:]))
        return a

    for i, a in enumerate(args):
        if isinstance(a, str) and a.startswith("%"):
            refs.append(ref(a))
        elif isinstance(a, tuple):
            lines.append(f"%l{i} : Tensor[] = prim::ListConstruct({', '.join(ref(t) for t in a)})")
            refs.append(f"%l{i}")
        else:
            lines.append(_const(f"a{i}", a))
            refs.append(f"%a{i}")
    pre = ["%none : NoneType = prim::Constant()", "%zero : int = prim::Constant[value=0]()",
           "%false : bool = prim::Constant[value=0]()", "%f32 : int = prim::Constant[value=6]()"]
    pre += [f"%x{k} : Tensor = aten::gt(%in{k}, %zero)" for k in bool_inputs]
    pre += [f"%c{k} : Tensor = aten::clone(%x{k}, %none)" for k in sorted(clones)]
    outs = ", ".join(f"%r{k} : Tensor" for k in range(nout))
    body = pre + lines + [f"{outs} = {kind}({', '.join(refs)})"]
    ret = "%r0"
    if float_output:
        body.append("%rf : Tensor = aten::to(%r0, %f32, %false, %false, %none)")
        ret = "%rf"
    sig = ", ".join(f"%{'in' if k in bool_inputs else 'x'}{k} : Tensor" for k in range(nin))
    return f"graph({sig}):\n  " + "\n  ".join(body) + f"\n  return ({ret})\n"


def graph_fn(text, consts=None):
    """A ScriptFunction of IR text; inputs listed in `consts` ({index: tensor}) become tensor constants."""
    g = torch._C.parse_ir(text)
    for i in sorted(consts or {}, reverse=True):
        with g.insert_point_guard(next(iter(g.nodes()))):
            c = g.insertConstant(consts[i])
        list(g.inputs())[i].replaceAllUsesWith(c)
        g.eraseInput(i)
    return torch._C._create_function_from_graph("f", g)


def kinds(graph):
    out, stack = set(), [graph.nodes()]
    while stack:
        for n in stack.pop():
            out.add(n.kind())
            stack.extend(b.nodes() for b in n.blocks())
    return out


# ---- inputs ----
def f32(*shape, lo=-2.0, hi=2.0, seed=0):
    g = torch.Generator().manual_seed(seed * 131 + sum(shape) + 7 * len(shape))
    return torch.rand(*shape, generator=g) * (hi - lo) + lo


def i64(*shape, lo=-5, hi=6, seed=0):
    g = torch.Generator().manual_seed(seed * 131 + sum(shape) + 3)
    return torch.randint(lo, hi, shape, generator=g)


def bools(*shape, seed=0):  # fed to the model as floats, made bool by `> 0` in the graph
    return f32(*shape, seed=seed) > 0


def whole(*shape, seed=0):  # small integers as floats: comparisons see ties
    return f32(*shape, lo=-3, hi=3, seed=seed).round()


A, B = f32(2, 3, 4), f32(2, 3, 4, seed=1)
V, W = f32(5), f32(5, seed=1)
UNIT = f32(2, 3, 4, lo=-0.95, hi=0.95)
POS = f32(2, 3, 4, lo=0.1, hi=3.0)

# name: (kind, arguments, inputs[, indices of inputs made tensor constants of the graph[, node outputs]])
CASES = {
    # softmax family under their internal names
    "_log_softmax_dim1": ("aten::_log_softmax", ["%x0", 1, False], [A]),
    "_log_softmax_neg": ("aten::_log_softmax", ["%x0", -1, False], [A]),
    "_softmax_dim0": ("aten::_softmax", ["%x0", 0, False], [A]),
    "_softmax_neg": ("aten::_softmax", ["%x0", -1, False], [A]),
    # dtype copies: _to_copy(self, dtype, layout, device, pin_memory, non_blocking, memory_format)
    "_to_copy_int": ("aten::_to_copy", ["%x0", _DT["int"], None, None, None, False, None], [A * 3]),
    "_to_copy_long_float": ("aten::_to_copy", ["%x0", _DT["float"], None, None, None, False, None], [i64(2, 3)]),
    "_to_copy_bool": ("aten::_to_copy", ["%x0", _DT["bool"], None, None, None, False, None], [whole(2, 3)]),
    "_to_copy_same": ("aten::_to_copy", ["%x0", None, None, None, None, False, None], [A]),
    # padding
    "_pad_circular_1d": ("aten::_pad_circular", ["%x0", [1, 2]], [f32(1, 2, 5)]),
    "_pad_circular_2d": ("aten::_pad_circular", ["%x0", [1, 1, 2, 0]], [f32(1, 2, 3, 4)]),
    "_pad_circular_3d": ("aten::_pad_circular", ["%x0", [1, 0, 0, 1, 1, 1]], [f32(1, 1, 2, 3, 4)]),
    "constant_pad_nd": ("aten::constant_pad_nd", ["%x0", [1, 2], 3.0], [A]),
    "constant_pad_nd_crop": ("aten::constant_pad_nd", ["%x0", [-1, 1, 0, 2], 0], [A]),
    "constant_pad_nd_3d": ("aten::constant_pad_nd", ["%x0", [1, 0, 0, 1, 2, 1], -1.5], [A]),
    "reflection_pad1d": ("aten::reflection_pad1d", ["%x0", [1, 2]], [f32(1, 2, 5)]),
    "reflection_pad1d_2d_input": ("aten::reflection_pad1d", ["%x0", [3, 0]], [f32(2, 5)]),
    "reflection_pad2d": ("aten::reflection_pad2d", ["%x0", [1, 1, 2, 0]], [f32(1, 2, 4, 5)]),
    "reflection_pad3d": ("aten::reflection_pad3d", ["%x0", [1, 1, 1, 0, 0, 1]], [f32(1, 1, 3, 3, 4)]),
    "replication_pad1d": ("aten::replication_pad1d", ["%x0", [2, 1]], [f32(1, 2, 5)]),
    "replication_pad2d": ("aten::replication_pad2d", ["%x0", [0, 2, 1, 1]], [f32(1, 2, 3, 4)]),
    "replication_pad2d_3d_input": ("aten::replication_pad2d", ["%x0", [1, 0, 0, 2]], [f32(2, 3, 4)]),
    "replication_pad3d": ("aten::replication_pad3d", ["%x0", [1, 0, 2, 1, 1, 1]], [f32(1, 2, 2, 3, 3)]),
    # pooling, convolution
    "adaptive_max_pool3d": ("aten::adaptive_max_pool3d", ["%x0", [2, 2, 2]], [f32(1, 2, 4, 4, 6)], (), 2),
    "adaptive_max_pool3d_uneven": ("aten::adaptive_max_pool3d", ["%x0", [2, 3, 1]], [f32(1, 2, 3, 5, 4)], (), 2),
    "conv_transpose3d_stride": ("aten::conv_transpose3d", ["%x0", "%x1", "%x2", [2, 2, 2], [0, 0, 0], [0, 0, 0], 1,
                                                          [1, 1, 1]],
                                [f32(1, 2, 3, 3, 2), f32(2, 3, 2, 2, 2, seed=1), f32(3, seed=2)], (1, 2)),
    "conv_transpose3d_groups": ("aten::conv_transpose3d", ["%x0", "%x1", None, [2, 1, 2], [1, 0, 1], [1, 0, 0], 2,
                                                          [1, 2, 1]],
                                [f32(1, 4, 3, 3, 3), f32(4, 1, 3, 2, 2, seed=1)], (1,)),
    "conv_transpose3d_outpad_bias": ("aten::conv_transpose3d", ["%x0", "%x1", "%x2", [2, 2, 1], [0, 0, 0], [1, 1, 0], 1,
                                                               [1, 1, 1]],
                                     [f32(1, 2, 2, 3, 2), f32(2, 2, 1, 2, 3, seed=1), f32(2, seed=2)], (1, 2)),
    "conv2d_run_time_bias": ("aten::conv2d", ["%x0", "%x1", "%x2", [1, 1], [1, 0], [1, 1], 1],
                             [f32(1, 2, 4, 5), f32(3, 2, 3, 3, seed=1), f32(3, seed=2)], (1,)),
    "conv1d_run_time_weight": ("aten::conv1d", ["%x0", "%x1", None, [2], [1], [1], 1],
                               [f32(2, 3, 7), f32(4, 3, 3, seed=1)]),
    # unary
    "absolute": ("aten::absolute", ["%x0"], [A]),
    "arccos": ("aten::arccos", ["%x0"], [UNIT]),
    "arcsin": ("aten::arcsin", ["%x0"], [UNIT]),
    "arctan": ("aten::arctan", ["%x0"], [A * 3]),
    "fix": ("aten::fix", ["%x0"], [A * 3]),
    "negative": ("aten::negative", ["%x0"], [A]),
    "negative_int": ("aten::negative", ["%x0"], [i64(2, 3)]),
    "rsqrt_": ("aten::rsqrt_", ["%c0"], [POS]),
    "rrelu_": ("aten::rrelu_", ["%c0", 0.1, 0.3, False, None], [A]),
    "rrelu_defaults": ("aten::rrelu_", ["%c0", 0.125, 1.0 / 3.0, False, None], [A]),
    # binary
    "arctan2": ("aten::arctan2", ["%x0", "%x1"], [A, B]),
    "arctan2_broadcast": ("aten::arctan2", ["%x0", "%x1"], [f32(2, 3), f32(3, seed=1)]),
    "divide": ("aten::divide", ["%x0", "%x1"], [A, POS]),
    "divide_scalar": ("aten::divide", ["%x0", 2.5], [A]),
    "divide_floor": ("aten::divide", ["%x0", "%x1", "floor"], [A * 3, f32(3, 1, lo=0.5, hi=2)]),
    "divide_trunc": ("aten::divide", ["%x0", "%x1", "trunc"], [A * 3, POS]),
    "divide_scalar_floor": ("aten::divide", ["%x0", -1.5, "floor"], [A]),
    "fmax": ("aten::fmax", ["%x0", "%x1"], [A, B]),
    "fmax_broadcast": ("aten::fmax", ["%x0", "%x1"], [A, f32(4, seed=2)]),
    "fmin": ("aten::fmin", ["%x0", "%x1"], [A, B]),
    "fmin_broadcast": ("aten::fmin", ["%x0", "%x1"], [f32(3, 1), A]),
    "multiply": ("aten::multiply", ["%x0", "%x1"], [A, f32(3, 1)]),
    "multiply_scalar": ("aten::multiply", ["%x0", -0.75], [A]),
    "multiply_int": ("aten::multiply", ["%x0", "%x1"], [i64(2, 3), i64(3, seed=1)]),
    "subtract": ("aten::subtract", ["%x0", "%x1", 2], [A, B]),
    "subtract_scalar": ("aten::subtract", ["%x0", 1.5, 1], [A]),
    "subtract_broadcast": ("aten::subtract", ["%x0", "%x1", 0.5], [f32(4), A]),
    "true_divide": ("aten::true_divide", ["%x0", "%x1"], [A, POS]),
    "true_divide_scalar": ("aten::true_divide", ["%x0", 4.0], [A]),
    "true_divide_int": ("aten::true_divide", ["%x0", "%x1"], [i64(2, 3), i64(2, 3, lo=1, seed=1)]),
    "true_divide_": ("aten::true_divide_", ["%c0", "%x1"], [A, POS]),
    "true_divide__scalar": ("aten::true_divide_", ["%c0", -2.0], [A]),
    # bool logic (bool tensors)
    "bitwise_and": ("aten::bitwise_and", ["%x0", "%x1"], [bools(2, 3), bools(2, 3, seed=1)]),
    "bitwise_and_broadcast": ("aten::bitwise_and", ["%x0", "%x1"], [bools(2, 3), bools(3, seed=1)]),
    "bitwise_or": ("aten::bitwise_or", ["%x0", "%x1"], [bools(2, 3), bools(2, 3, seed=1)]),
    "bitwise_or_broadcast": ("aten::bitwise_or", ["%x0", "%x1"], [bools(2, 1), bools(2, 3, seed=1)]),
    "bitwise_xor": ("aten::bitwise_xor", ["%x0", "%x1"], [bools(2, 3), bools(2, 3, seed=1)]),
    "bitwise_xor_broadcast": ("aten::bitwise_xor", ["%x0", "%x1"], [bools(4), bools(3, 4, seed=1)]),
    # comparisons under their long names
    "greater": ("aten::greater", ["%x0", "%x1"], [whole(2, 3, 4), whole(3, 4, seed=1)]),
    "greater_scalar": ("aten::greater", ["%x0", 0.5], [A]),
    "greater_equal": ("aten::greater_equal", ["%x0", "%x1"], [whole(2, 3, 4), whole(2, 3, 4, seed=1)]),
    "greater_equal_int": ("aten::greater_equal", ["%x0", 1], [i64(2, 3)]),
    "less": ("aten::less", ["%x0", "%x1"], [whole(2, 3, 4), whole(2, 1, 4, seed=1)]),
    "less_scalar": ("aten::less", ["%x0", -1], [i64(2, 3)]),
    "less_equal": ("aten::less_equal", ["%x0", "%x1"], [whole(2, 3, 4), whole(2, 3, 4, seed=1)]),
    "less_equal_scalar": ("aten::less_equal", ["%x0", 0.0], [whole(2, 3)]),
    "not_equal": ("aten::not_equal", ["%x0", "%x1"], [whole(2, 3, 4), whole(4, seed=1)]),
    "not_equal_int": ("aten::not_equal", ["%x0", 2], [i64(2, 3)]),
    # clamping
    "clip": ("aten::clip", ["%x0", -0.5, 0.5], [A]),
    "clip_min_only": ("aten::clip", ["%x0", 0.25, None], [A]),
    "clip_max_only": ("aten::clip", ["%x0", None, 1], [A]),
    "clip_int": ("aten::clip", ["%x0", -2, 3], [i64(2, 3)]),
    "clip_": ("aten::clip_", ["%c0", -1.0, 0.0], [A]),
    "clip__max_only": ("aten::clip_", ["%c0", None, -0.25], [A]),
    # stacking, layout
    "column_stack_1d": ("aten::column_stack", [("%x0", "%x1")], [V, W]),
    "column_stack_mixed": ("aten::column_stack", [("%x0", "%x1", "%x2")], [f32(3, 2), f32(3, seed=1), f32(3, 1, seed=2)]),
    "dstack_1d": ("aten::dstack", [("%x0", "%x1")], [V, W]),
    "dstack_2d": ("aten::dstack", [("%x0", "%x1")], [f32(2, 3), f32(2, 3, seed=1)]),
    "dstack_3d": ("aten::dstack", [("%x0", "%x1")], [A, f32(2, 3, 1, seed=2)]),
    "concat_dim0": ("aten::concat", [("%x0", "%x1"), 0], [A, f32(1, 3, 4, seed=1)]),
    "concat_neg": ("aten::concat", [("%x0", "%x1", "%x2"), -1], [A, f32(2, 3, 1, seed=1), B]),
    "flipud_2d": ("aten::flipud", ["%x0"], [f32(3, 4)]),
    "flipud_3d": ("aten::flipud", ["%x0"], [A]),
    "moveaxis": ("aten::moveaxis", ["%x0", 0, -1], [A]),
    "moveaxis_list": ("aten::moveaxis", ["%x0", [0, 1], [-1, 0]], [A]),
    "swapaxes": ("aten::swapaxes", ["%x0", 0, 2], [A]),
    "swapaxes_neg": ("aten::swapaxes", ["%x0", -1, 1], [A]),
    "swapdims": ("aten::swapdims", ["%x0", 1, 0], [A]),
    "swapdims_neg": ("aten::swapdims", ["%x0", -3, -2], [A]),
    "reshape_as": ("aten::reshape_as", ["%x0", "%x1"], [A, f32(4, 6)]),
    "reshape_as_flat": ("aten::reshape_as", ["%x0", "%x1"], [A, f32(24)]),
    "view_as": ("aten::view_as", ["%x0", "%x1"], [A, f32(6, 4)]),
    "view_as_4d": ("aten::view_as", ["%x0", "%x1"], [A, f32(2, 1, 3, 4)]),
    # linear algebra
    "ger": ("aten::ger", ["%x0", "%x1"], [V, f32(3, seed=1)]),
    "vdot": ("aten::vdot", ["%x0", "%x1"], [V, W]),
    # norms: norm.Scalar(self, p) and norm.ScalarOpt_dim(self, p, dim, keepdim)
    "norm_default": ("aten::norm", ["%x0", 2], [A]),
    "norm_p1": ("aten::norm", ["%x0", 1.0], [A]),
    "norm_dim": ("aten::norm", ["%x0", 2.0, [1], False], [A]),
    "norm_dim_keepdim_neg": ("aten::norm", ["%x0", 1, [-1], True], [A]),
    "norm_dims_p3": ("aten::norm", ["%x0", 3.0, [0, 2], False], [A]),
    "norm_inf": ("aten::norm", ["%x0", math.inf, [-1], True], [A]),
    "norm_p_none": ("aten::norm", ["%x0", None, [0], False], [A]),
    # creation (values known at conversion time), added to an input so the output is computed
    "empty_filled": ("aten::fill_", ["%e", 2.5], [A]),
    "full": ("aten::full", [[2, 3, 4], 2.5, None, None, None, None], [A]),
    "full_int": ("aten::full", [[2, 3], 7, _DT["int"], None, None, None], [i64(2, 3)]),
    "linspace": ("aten::linspace", [0.0, 1.0, 4, None, None, None, None], [A]),
    "linspace_neg": ("aten::linspace", [2, -1.0, 7, None, None, None, None], [f32(3, 7)]),
    "linspace_one": ("aten::linspace", [-3.0, 5.0, 1, None, None, None, None], [A]),
    "scalar_tensor": ("aten::scalar_tensor", [2.5, None, None, None, None], [A]),
    "scalar_tensor_int": ("aten::scalar_tensor", [3, _DT["long"], None, None, None], [i64(2, 3)]),
}

# kinds whose result is a constant: the graph adds it to the first input
_ADDED = {"aten::full", "aten::linspace", "aten::scalar_tensor"}


def case_graph(name):
    """(kind, ScriptFunction, model inputs) of a case."""
    kind, args, inputs, *rest = CASES[name]
    const_at = rest[0] if rest else ()
    nout = rest[1] if len(rest) > 1 else 1
    consts = {i: inputs[i] for i in const_at}
    if name == "empty_filled":
        text = """graph(%x0 : Tensor):
  %none : NoneType = prim::Constant()
  %size : int[] = prim::Constant[value=[2, 3, 4]]()
  %v : float = prim::Constant[value=2.5]()
  %one : int = prim::Constant[value=1]()
  %e : Tensor = aten::empty(%size, %none, %none, %none, %none, %none)
  %f : Tensor = aten::fill_(%e, %v)
  %r0 : Tensor = aten::add(%x0, %f, %one)
  return (%r0)
"""
        return "aten::empty", graph_fn(text), inputs
    bool_inputs = [k for k, x in enumerate(inputs) if x.dtype == torch.bool]
    inputs = [x.float() if x.dtype == torch.bool else x for x in inputs]
    text = graph_text(kind, args, len(inputs), nout, bool_inputs)
    with torch.no_grad():
        if graph_fn(text)(*inputs).dtype == torch.bool:
            text = graph_text(kind, args, len(inputs), nout, bool_inputs, float_output=True)
    if kind in _ADDED:
        text = text.replace("return (%r0)", "%one : int = prim::Constant[value=1]()\n  %s : Tensor = aten::add(%x0, %r0, %one)\n  return (%s)")
    return kind, graph_fn(text, consts), [x for i, x in enumerate(inputs) if i not in consts]


@pytest.mark.parametrize("name", list(CASES))
def test_kind(name):
    if name == "norm_inf":
        need_torch2("torch._C.parse_ir reading an inf float constant")
    kind, fn, inputs = case_graph(name)
    assert kind in kinds(fn.graph), f"{kind} not in {fn.graph}"
    run(fn, inputs)


@pytest.mark.parametrize("name", ["conv_transpose3d_groups", "adaptive_max_pool3d_uneven", "norm_dims_p3", "arctan2",
                                  "_log_softmax_neg", "divide_floor"])
def test_kind_fp16(name):
    _, fn, inputs = case_graph(name)
    run(fn, inputs, precision="fp16")


def test_conv_transpose_run_time_weight_is_a_clear_error():
    """Core ML's conv_transpose takes its weight at compile time: a weight computed at run time fails
    conversion naming the node (instead of writing a program Core ML rejects)."""
    text = graph_text("aten::conv_transpose3d", CASES["conv_transpose3d_stride"][1], 3)
    fn = graph_fn(text, {2: f32(3)})
    x, w = f32(1, 2, 3, 3, 2), f32(2, 3, 2, 2, 2)
    with pytest.raises(ct.ConversionError, match="aten::conv_transpose3d.*weight at compile time"):
        ct.convert(fn, inputs=[ct.TensorType(shape=x.shape), ct.TensorType(shape=w.shape)])


# ---- plumbing that freezing folds away, written by hand ----
_IF = """
  %r : Tensor = prim::If(%b)
    block0():
      %p : Tensor = aten::neg(%x0)
      -> (%p)
    block1():
      %q : Tensor = aten::exp(%x0)
      -> (%q)
  return (%r)
"""

PLUMBING = {
    "is_none": ("aten::__is__", "%b : bool = aten::__is__(%x0, %none)" + _IF),
    "is_same": ("aten::__is__", "%b : bool = aten::__is__(%x0, %x0)" + _IF),
    "is_none_none": ("aten::__is__", "%b : bool = aten::__is__(%none, %none)" + _IF),
    "isnot_none": ("aten::__isnot__", "%b : bool = aten::__isnot__(%x0, %none)" + _IF),
    "isnot_same": ("aten::__isnot__", "%b : bool = aten::__isnot__(%x0, %x0)" + _IF),
    "detach": ("aten::detach", """%d : Tensor = aten::detach(%x0)
  %two : int = prim::Constant[value=2]()
  %r : Tensor = aten::mul(%d, %two)
  return (%r)"""),
    "FloatImplicit": ("aten::FloatImplicit", """%s : Tensor = aten::sum(%x0, %none)
  %f : float = aten::FloatImplicit(%s)
  %r : Tensor = aten::mul(%x0, %f)
  return (%r)"""),
    "FloatImplicit_add": ("aten::FloatImplicit", """%one : int = prim::Constant[value=1]()
  %s : Tensor = aten::amax(%x0, %all, %false)
  %f : float = aten::FloatImplicit(%s)
  %g : float = aten::mul(%f, %f)
  %r : Tensor = aten::add(%x0, %g, %one)
  return (%r)"""),
    "IntImplicit": ("aten::IntImplicit", """%one : int = prim::Constant[value=1]()
  %s : Tensor = aten::sum(%x0, %none)
  %i : int = aten::IntImplicit(%s)
  %r : Tensor = aten::add(%x0, %i, %one)
  return (%r)"""),
    "ScalarImplicit": ("aten::ScalarImplicit", """%one : int = prim::Constant[value=1]()
  %s : Tensor = aten::mean(%x0, %none)
  %v : Scalar = aten::ScalarImplicit(%s)
  %r : Tensor = aten::sub(%x0, %v, %one)
  return (%r)"""),
    "ScalarImplicit_int": ("aten::ScalarImplicit", """%two : int = prim::Constant[value=2]()
  %s : Tensor = aten::sum(%x0, %none)
  %v : Scalar = aten::ScalarImplicit(%s)
  %r : Tensor = aten::mul(%x0, %v)
  return (%r)"""),
}
_PLUMBING_INPUT = {"IntImplicit": i64(2, 3), "ScalarImplicit_int": i64(3, 2)}


@pytest.mark.parametrize("name", list(PLUMBING))
def test_plumbing(name):
    kind, body = PLUMBING[name]
    text = ("graph(%x0 : Tensor):\n  %none : NoneType = prim::Constant()\n  %false : bool = prim::Constant[value=0]()\n"
            "  %all : int[] = prim::Constant[value=[0, 1, 2]]()\n  " + body.strip() + "\n")
    fn = graph_fn(text)
    assert kind in kinds(fn.graph)
    run(fn, [_PLUMBING_INPUT.get(name, A)])


# ---- scripted functions: warnings, formatted messages, uninitialized values, Optional refinement ----
@torch.jit.script
def warn_in_branch(x):
    if bool(x.sum() > 0):
        warnings.warn("positive sum over {} rows".format(x.shape[0]))
        return x * 2
    return x - 1


@torch.jit.script
def raise_leaves_uninitialized(x):
    if x.dim() == 3:
        y = x + 1
    else:
        raise RuntimeError("expected a 3-d input")
    return y * 2


@torch.jit.script
def refine_optional(x):
    y: Optional[Tensor] = x * 2
    if y is not None:
        return y + 1
    return x


@torch.jit.script
def refine_optional_none(x):
    y: Optional[Tensor] = None
    if x.dim() == 3:
        y = x.sum(0)
    if y is None:
        return x
    return x + y


@pytest.mark.parametrize("fn,kind,sign", [
    (warn_in_branch, "aten::warn", 1.0), (warn_in_branch, "aten::warn", -1.0), (warn_in_branch, "aten::format", 1.0),
    (raise_leaves_uninitialized, "prim::Uninitialized", 1.0), (refine_optional, "prim::unchecked_cast", 1.0),
    (refine_optional_none, "prim::unchecked_cast", 1.0)],
    ids=["warn_taken", "warn_not_taken", "format", "uninitialized", "unchecked_cast", "unchecked_cast_if"])
def test_scripted_path(fn, kind, sign):
    assert kind in kinds(fn.graph)
    x = POS * sign
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        run(fn, [x])


# ---- converting a ScriptFunction ----
def test_script_function_signature_and_names():
    @torch.jit.script
    def two(a, b):
        return a * b + a, a - b

    x, y = f32(2, 3), f32(2, 3, seed=1)
    m = ct.convert(two, inputs=[ct.TensorType(shape=(2, 3), name="a"), ct.TensorType(shape=(2, 3), name="b")],
                   compute_precision=ct.precision.FLOAT32)
    assert [f["name"] for f in m._desc["inputs"]] == ["a", "b"]
    assert len(m._desc["outputs"]) == 2
    out = m.predict({"a": x.numpy(), "b": y.numpy()})
    ref = two(x, y)
    for f, r in zip(m._desc["outputs"], ref):
        assert abs(out[f["name"]] - r.numpy()).max() < 1e-5, f["name"]
    with pytest.raises(ValueError, match=r"the function two takes 2 input\(s\) .*two\(a, b\)"):
        ct.convert(two, inputs=[ct.TensorType(shape=(2, 3))])


def test_script_function_graph_not_folded():
    """The function's graph is converted as written: no freezing or constant propagation removes
    a kind, and the function object itself is left unchanged."""
    fn = graph_fn(graph_text("aten::detach", ["%x0"], 1))
    before = str(fn.graph)
    run(fn, [A])
    assert str(fn.graph) == before


@torch.jit.script
def _inner(x):
    return x.relu() * 2


@torch.jit.script
def _outer(x):
    return _inner(x) + _inner(-x)


def test_script_function_calls_are_inlined():
    """Calls to other scripted functions are inlined into a copy; the function keeps its calls."""
    assert _outer.graph.findNode("prim::CallFunction") is not None
    run(_outer, [A])
    assert _outer.graph.findNode("prim::CallFunction") is not None
