"""The torch.export frontend's Python side: an ExportedProgram goes to the C reader (csrc/export/) as the
JSON torch's own serializer writes (in memory), with its parameters, buffers and tensor constants as
numpy views read in place. inputs= is optional: names, shapes and dtypes default to the program's."""
import copy
import functools

import numpy as np

from . import _core
from ._types import EnumeratedShapes, ImageType, RangeDim, Shape, TensorType, _dtype_name


def is_exported_program(model):
    t = type(model)
    return t.__name__ == "ExportedProgram" and t.__module__.startswith("torch.export")


def serialize(ep):
    """The serialized program (torch._export.serde's JSON, as a .pt2 stores it) as bytes, weights left out."""
    from torch._export.serde.serialize import serialize as _serialize
    try:
        art = _serialize(ep, serialize_state_dict=False, serialize_constants=False, serialize_example_inputs=False)
    except NotImplementedError as e:  # e.g. a torch.return_types namedtuple output, which its serializer has no name for
        raise ValueError(f"torch cannot serialize this exported program ({e}); return plain tuples of tensors "
                         "from forward (torch.export.save fails on it too)") from e
    except Exception as e:  # torch's SerializeError, e.g. a Python int carried through while_loop
        if type(e).__name__ != "SerializeError":
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"torch cannot serialize this exported program: {first} (torch.export.save fails on it "
                         "too; a while_loop or cond must carry tensors, e.g. torch.tensor(0), not Python "
                         "numbers)") from e
    return art.exported_program


def custom_op_rows(program_json):
    """[(key, arguments, returns)]: the schema rows (marking the tensors each writes) of the custom ops a
    serialized program calls, for those torch has registered; the program itself does not hold them. torch is
    only asked when it is already imported (a .pt2 converts without it; its custom ops then keep their
    serialized arguments, and one called through auto_functionalized fails naming the op)."""
    import sys
    torch = sys.modules.get("torch")
    rows = []
    if torch is None:
        return rows
    from ._schema_rows import Skip, row
    for key in _core.export_custom_ops(program_json):
        ns, rest = key.split("::", 1)
        op, _, overload = rest.partition(".")
        try:
            schema = getattr(getattr(getattr(torch.ops, ns), op), overload or "default")._schema
            rows.append(row(schema, mark_writes=True))
        except (AttributeError, RuntimeError, Skip):  # not registered here, or a type the rows cannot say
            continue
    return rows


def _array(t):
    import torch
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    if t.is_complex() or t.device.type != "cpu" or t.is_quantized:
        raise ValueError(f"a {t.dtype} tensor on {t.device} cannot be read (Core ML takes real CPU tensors)")
    return t.contiguous().numpy()


def weights(ep):
    """{fully-qualified name: numpy view} of the program's parameters, buffers and tensor constants."""
    import torch
    out = {}
    for name, t in list(ep.state_dict.items()) + list(ep.constants.items()):
        if isinstance(t, torch.Tensor):
            try:
                out[name] = _array(t)
            except ValueError as e:
                raise ValueError(f"the exported program's tensor '{name}': {e}") from None
    return out


# TorchScript ScalarType codes (ts_scalar_type) -> the numpy dtype of the Core ML input that feeds a program
# input of that type (Core ML inputs are fp32, fp16 from iOS16, int32 or bool; fp16 is declared, not defaulted)
_NP_OF_CODE = {0: np.int32, 1: np.int32, 2: np.int32, 3: np.int32, 4: np.int32, 5: np.float32, 6: np.float32,
               7: np.float32, 11: np.bool_, 15: np.float32}


def user_inputs(program_json):
    """[(name, shape with None for symbolic dims, numpy dtype)] of a serialized program's user inputs, in
    order, as the C reader sees them (the same for a live program and a .pt2 archive's)."""
    from . import _core
    return [(name, shape, _NP_OF_CODE.get(code, np.float32)) for name, code, shape in _core.export_inputs(program_json)]


_TORCH_DTYPE = {1: "torch.uint8", 2: "torch.int8", 3: "torch.int16", 4: "torch.int32", 5: "torch.int64",
                6: "torch.float16", 7: "torch.float32", 8: "torch.float64", 12: "torch.bool", 13: "torch.bfloat16"}


@functools.lru_cache(maxsize=1)
def _document(program_json):
    """The serialized program parsed once per conversion (buffers, written_user_inputs and dim_ranges read it;
    convert() clears the cache when it is done with them); callers do not change it."""
    import json
    return json.loads(program_json)


def buffers(program_json):
    """{buffer name: (shape, dtype as torch spells it)} of a serialized program's lifted buffers (what
    states= may name); a symbolic dim is -1."""
    doc = _document(program_json)
    tv = doc["graph_module"]["graph"].get("tensor_values", {})
    out = {}
    for spec in doc["graph_module"]["signature"]["input_specs"]:
        b = spec.get("buffer")
        if not b or b.get("arg", {}).get("name") not in tv:
            continue
        meta = tv[b["arg"]["name"]]
        shape = tuple(d["as_int"] if "as_int" in d else -1 for d in meta["sizes"])
        out[b["buffer_name"]] = (shape, _TORCH_DTYPE.get(meta.get("dtype"), "another dtype"))
    return out


def written_user_inputs(program_json):
    """The user inputs a serialized program writes in place (its user_input_mutation outputs, in the
    functional form; the form as exported writes them with in-place ops, which the outputs already see)."""
    doc = _document(program_json)
    return [s["user_input_mutation"].get("user_input_name", "?")
            for s in doc["graph_module"]["signature"]["output_specs"] if "user_input_mutation" in s]


def dim_ranges(program_json):
    """{user input name: [None for a static dim, (min, max) for a symbolic one (max -1: unbounded)]} from a
    serialized program's range_constraints (keyed by each dim's expression, derived dims such as 2*s0 too)."""
    import re
    doc = _document(program_json)
    ranges = doc.get("range_constraints") or {}
    graph = doc["graph_module"]["graph"]
    tv = graph.get("tensor_values", {})
    out = {}
    for spec in doc["graph_module"]["signature"]["input_specs"]:
        arg = spec.get("user_input", {}).get("arg", {}).get("as_tensor")
        if not arg or arg["name"] not in tv:
            continue
        dims = []
        for d in tv[arg["name"]]["sizes"]:
            if "as_int" in d:
                dims.append(None)
                continue
            expr = d.get("as_expr", {}).get("expr_str", "")
            m = re.fullmatch(r"Symbol\('([^']+)'.*\)", expr)
            key = m.group(1) if m else None
            if key is None:
                try:
                    import sympy
                    key = str(sympy.sympify(expr))
                except Exception:  # no sympy, or an expression it cannot read: no range known
                    key = None
            vr = ranges.get(key) if key else None
            if vr is None:
                dims.append((1, -1))
                continue
            hi = vr.get("max_val")
            dims.append((max(int(vr.get("min_val") or 0), 0),
                         -1 if hi is None or not isinstance(hi, int) or hi >= 2 ** 62 else int(hi)))
        out[arg["name"]] = dims
    return out


_MAX_DIM = 2 ** 31 - 1  # an unbounded dim's upper bound, as coremltools writes it for an exported program


def _range_shape(shape, ranges):
    """The program's shape with a RangeDim(min, max) for each symbolic dim."""
    return Shape([RangeDim(r[0], _MAX_DIM if r[1] == -1 else r[1]) if p is None else p
                  for p, r in zip(shape, ranges)])


def input_types(prog, inputs, ranges=None):
    """inputs= for a program whose user inputs are prog (user_inputs()): each input's type, given or
    derived, in the program's order. Given types map by position, or by name when their names are the
    program's."""
    names = [p[0] for p in prog]
    if inputs is None:
        inputs = [None] * len(prog)
    if not isinstance(inputs, (list, tuple)):
        raise TypeError("inputs must be a list of ct.TensorType / ct.ImageType")
    if len(inputs) != len(prog):
        raise ValueError(f"the exported program takes {len(prog)} input(s) ({', '.join(names)}) but inputs= lists "
                         f"{len(inputs)}")
    given = [getattr(t, "name", None) for t in inputs]
    if all(given) and set(given) == set(names) and given != names:
        inputs = [inputs[given.index(n)] for n in names]
    out = []
    for i, (t, (name, shape, dtype)) in enumerate(zip(inputs, prog)):
        rng = (ranges or {}).get(name) or [None if p is not None else (1, -1) for p in shape]
        if t is None:
            out.append(TensorType(name=name, shape=_range_shape(shape, rng) if None in shape else shape, dtype=dtype))
            continue
        if not isinstance(t, (TensorType, ImageType)):
            raise TypeError(f"inputs[{i}] must be ct.TensorType or ct.ImageType, got {type(t).__name__}")
        t = copy.copy(t)
        if t.name is None:
            t.name = name
        if t.shape is None:
            t.shape = _range_shape(shape, rng) if None in shape else Shape(shape)
        if isinstance(t, TensorType) and t.dtype is None:
            t.dtype, t.dtype_name = dtype, _dtype_name(dtype)
        _check_dtype(i, t, name, dtype)
        _check_shape(i, t, name, shape, rng)
        out.append(t)
    return out


def _check_dtype(i, t, name, dtype):
    """A declared dtype of another kind (int / float / bool) than the program's input would change what the
    program computes: refused (a float input declared int32 would need a cast the reader does not add)."""
    declared = _dtype_name(t.dtype) if isinstance(t, TensorType) else "fp32"
    kind = {"fp32": "float", "fp16": "float", "int32": "int", "bool": "bool"}
    want = kind[_dtype_name(dtype)]
    if kind.get(declared, declared) != want:
        raise ValueError(f"inputs[{i}] ({t.name}): declared {declared} but the exported program's input '{name}' is "
                         f"{'a ' + want if want != 'int' else 'an int'} tensor: declare a {want} dtype")


def _check_shape(i, t, name, shape, ranges=None):
    """A declared shape must have the program's rank and, where the program's dims are static, its sizes
    (the program was specialized to them: its views and reshapes hold those numbers); where they are
    symbolic, sizes within the range the program was exported for."""
    shapes = t.shape.shapes if isinstance(t.shape, EnumeratedShapes) else [t.shape]
    for sh in shapes:
        dims = list(sh.shape if hasattr(sh, "shape") else sh)
        if isinstance(t, ImageType) and t.channel_first is False and len(dims) == 4:
            pass  # NHWC as declared; the program's own input is NHWC too
        if len(dims) != len(shape):
            raise ValueError(f"inputs[{i}] ({t.name}): shape {tuple(dims)} has rank {len(dims)} but the exported "
                             f"program's input '{name}' has shape {tuple(shape)} (rank {len(shape)})")
        for k, (d, p) in enumerate(zip(dims, shape)):
            if p is None:
                _check_range(i, t, name, k, d, ranges[k] if ranges else None)
                continue
            if isinstance(d, RangeDim) or int(d) != p:
                raise ValueError(f"inputs[{i}] ({t.name}): dim {k} is {d} but the program was exported with "
                                 f"{name}.shape[{k}] == {p} (static): export with dynamic_shapes to convert "
                                 "other sizes")


def _check_range(i, t, name, k, d, rng):
    """A declared size (int or RangeDim) of a symbolic dim must lie within the program's [min, max]."""
    if rng is None:
        return
    lo, hi = rng
    d_lo, d_hi = (d.lower_bound, d.upper_bound) if isinstance(d, RangeDim) else (int(d), int(d))
    if d_lo < lo or (hi != -1 and (d_hi == -1 or d_hi > hi)):
        have = f"[{d_lo}, {'inf' if d_hi == -1 else d_hi}]" if isinstance(d, RangeDim) else str(d_lo)
        raise ValueError(f"inputs[{i}] ({t.name}): dim {k} allows {have} but the program was exported for "
                         f"{name}.shape[{k}] in [{lo}, {'inf' if hi == -1 else hi}] (its dynamic_shapes range)")
