"""mb: build MIL ops from Python, inside a converter registered with register_torch_op.

    y = mb.elu(x=x, alpha=1.6732632)
    z = mb.mul(x=y, y=1.0507010, name=node.name)

There is one function per MIL op the C core knows (``_core.mil_ops()``). Inputs are
keyword arguments: Vars, or Python / numpy constants (made into const ops; float64
narrows to fp32 and int64 to int32, as Core ML has neither). ``name=`` names the op's
output. Types and shapes are inferred by the C core as each op is built, so a wrong
input fails right there with a ValueError naming the op and the problem. Ops with
several outputs (split) return a tuple of Vars.
"""
import threading

import numpy as np

from . import _core

Var = _core.Var

# MIL parameters of each op and their defaults: the rows of the C core's op table (csrc/ir/ops.def,
# `_core.mil_op_signatures()`), in the row's order. "required": no "?" there; "const": "!", a constant
# known at conversion time; "list": "*", a list of values (variadic).
SIGNATURES = {op: row for op, row in _core.mil_op_signatures().items() if op != "const"}
PARAMS = {op: {p["name"]: {"required": p["required"], "const": p["const"], "list": p["variadic"]} for p in row["params"]}
          for op, row in SIGNATURES.items()}
_WITH_BLOCKS = {"cond", "while_loop"}  # need nested blocks: made by lowering scripted control flow
_STATE_OPS = {"read_state", "write_state"}  # states exist only in conversions with states=: made by the lowering


def _defaults(op, rank):
    """The defaults the builder writes into an op when not given (as coremltools does, "=" in the
    row), so the program states every parameter Core ML reads: plain values first, then the ones
    per spatial dim of x (only when x's rank, 3 or more, is known), each in the row's order."""
    out, spatial = {}, {}
    for p in SIGNATURES[op]["params"]:
        if not p["written"]:
            continue
        if p["default_spatial"] is None:
            out[p["name"]] = p["default"]
        elif rank is not None and rank >= 3:
            s = rank - 2
            spatial[p["name"]] = [1] * s if p["default_spatial"] == "ones(s)" else [0] * (2 * s)
    out.update(spatial)
    return out


_state = threading.local()


def _push(builder, node):
    prev = getattr(_state, "cur", None)
    _state.cur = (builder, node)
    return prev


def _pop(prev):
    _state.cur = prev


def _current(op):
    cur = getattr(_state, "cur", None)
    if cur is None:
        raise RuntimeError(f"mb.{op}() builds into the program being converted: call it inside a converter "
                           "registered with @register_torch_op")
    return cur


_I32 = np.iinfo(np.int32)


def _as_array(op, pname, value, float_dtype):
    """A Python / numpy constant as an array of a MIL dtype."""
    if isinstance(value, (bool, np.bool_)):
        return np.array(value, dtype=np.bool_)
    if isinstance(value, float):
        return np.array(value, dtype=float_dtype)
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise TypeError(f"mb.{op}: input '{pname}' must be a Var or a constant, got {type(value).__name__}") from exc
    if arr.dtype == object:
        raise TypeError(f"mb.{op}: input '{pname}' must be a Var or a numeric constant, got {value!r}")
    if arr.dtype.kind in "iu" and arr.dtype not in (np.int32, np.int16, np.int8, np.uint8, np.uint16):
        if arr.size and (arr.max() > _I32.max or arr.min() < _I32.min):
            raise ValueError(f"mb.{op}: input '{pname}' has values outside int32 (Core ML has no int64)")
        arr = arr.astype(np.int32)
    elif arr.dtype == np.float64:
        arr = arr.astype(float_dtype if not isinstance(value, np.ndarray) else np.float32)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"mb.{op}: input '{pname}' has dtype {arr.dtype}, which MIL cannot hold")
    return arr if arr.flags.c_contiguous and arr.flags.aligned else arr.copy(order="C")  # keeps rank 0


def _as_var(builder, op, pname, value, base, float_dtype):
    if isinstance(value, Var):
        return value
    if isinstance(value, str):
        return builder.const(value, f"{base}_{pname}")
    return builder.const(_as_array(op, pname, value, float_dtype), f"{base}_{pname}")


def _build(op, kwargs):
    builder, node = _current(op)
    name = kwargs.pop("name", None)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"mb.{op}: name must be a str, got {type(name).__name__}")
    params = PARAMS.get(op)
    if op in _WITH_BLOCKS:
        raise NotImplementedError(f"mb.{op}: ops with nested blocks cannot be built from Python; script the "
                                  "loop or branch in the model (prim::If / prim::Loop convert to cond / while_loop)")
    if op in _STATE_OPS:
        raise NotImplementedError(f"mb.{op}: model states are read and written by the conversion itself; declare "
                                  "the buffer with convert(states=[ct.StateType(...)])")
    if params is None:
        raise ValueError(f"mb.{op}: this MIL op has no parameter table in pt2coreml")
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ValueError(f"mb.{op}: unknown input(s) {unknown}; {op} takes {list(params)}")
    missing = [p for p, s in params.items() if s["required"] and kwargs.get(p) is None]
    if missing:
        raise ValueError(f"mb.{op}: missing required input(s) {missing}")
    x = kwargs.get("x")
    rank = x.rank if isinstance(x, Var) else None
    for k, v in _defaults(op, rank).items():
        if kwargs.get(k) is None:
            kwargs[k] = v
    float_dtype = np.float32
    for v in kwargs.values():
        if isinstance(v, Var) and v.dtype == "fp16":
            float_dtype = np.float16
            break
    base = name or (node.name if node is not None else op)
    base = f"{base}_{op}" if name is None else base
    inputs = {}
    for p, v in kwargs.items():
        if v is None:
            continue
        spec = params[p]
        if spec["list"]:
            if not isinstance(v, (list, tuple)) or not v:
                raise ValueError(f"mb.{op}: input '{p}' takes a non-empty list of values")
            inputs[p] = [_as_var(builder, op, f"{p}{i}", e, base, float_dtype) for i, e in enumerate(v)]
            continue
        var = _as_var(builder, op, p, v, base, float_dtype)
        if spec["const"] and var.op_type != "const":
            raise ValueError(f"mb.{op}: input '{p}' must be a constant known at conversion time, got {var!r} "
                             f"(computed by {var.op_type or 'a model input'})")
        inputs[p] = var
    outs = builder.op(op, base, inputs)
    return outs[0] if len(outs) == 1 else outs


def _make(op):
    def build(**kwargs):
        return _build(op, kwargs)
    params = PARAMS.get(op, {})
    sig = ", ".join(p + ("" if s["required"] else "=None") for p, s in params.items())
    build.__name__ = op
    build.__qualname__ = f"mb.{op}"
    build.__doc__ = f"mb.{op}({sig}, name=None): the MIL op '{op}'."
    return build


def _const(val, name=None):
    builder, node = _current("const")
    if isinstance(val, Var):
        raise TypeError("mb.const: val must be a Python / numpy constant, not a Var")
    base = name or (f"{node.name}_const" if node is not None else "const")
    if isinstance(val, str):
        return builder.const(val, base)
    return builder.const(_as_array("const", "val", val, np.float32), base)


class _Builder:
    """The `mb` namespace: one function per MIL op of the C core."""

    def __init__(self):
        self._ops = [op for op in _core.mil_ops() if op != "const"]
        for op in self._ops:
            setattr(self, op, _make(op))
        self.const = _const

    def __dir__(self):
        return sorted(self._ops + ["const"])

    def __repr__(self):
        return f"<pt2coreml.mb: {len(self._ops) + 1} MIL ops>"


mb = _Builder()
