"""The torch.export frontend's Python side: an ExportedProgram goes to the C reader (csrc/export/) as the
JSON torch's own serializer writes (in memory), with its parameters, buffers and tensor constants as
numpy views read in place. inputs= is optional: names, shapes and dtypes default to the program's."""
import copy

import numpy as np

from ._types import EnumeratedShapes, ImageType, RangeDim, Shape, TensorType

_NP_OF_TORCH = {"float32": np.float32, "float16": np.float16, "float64": np.float32, "bfloat16": np.float32,
                "int64": np.int32, "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8,
                "bool": np.bool_}


def is_exported_program(model):
    t = type(model)
    return t.__name__ == "ExportedProgram" and t.__module__.startswith("torch.export")


def serialize(ep):
    """The serialized program (torch._export.serde's JSON, as a .pt2 stores it) as bytes, weights left out."""
    from torch._export.serde.serialize import serialize as _serialize
    art = _serialize(ep, serialize_state_dict=False, serialize_constants=False, serialize_example_inputs=False)
    return art.exported_program


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


def user_inputs(ep):
    """[(name, shape with None for symbolic dims, numpy dtype)] of the program's user inputs, in order."""
    import torch
    from torch.export.graph_signature import InputKind
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    out = []
    for spec in ep.graph_signature.input_specs:
        if spec.kind != InputKind.USER_INPUT:
            continue
        name = spec.arg.name
        val = placeholders[name].meta.get("val") if name in placeholders else None
        if not isinstance(val, torch.Tensor):
            raise ValueError(f"the exported program's input '{name}' is a {type(val).__name__}; only tensor inputs "
                             "can be converted")
        shape = [int(d) if isinstance(d, int) or (hasattr(d, "node") and d.node.is_constant()) else None
                 for d in val.shape]
        out.append((name, shape, _NP_OF_TORCH.get(str(val.dtype).replace("torch.", ""), np.float32)))
    return out


def input_types(ep, inputs, prog=None):
    """inputs= for the program: each user input's type (given or derived), in the program's order, and the
    program's input list. Given types map by position, or by name when their names are the program's.
    prog: the program's user inputs as user_inputs() gives them, when there is no ep (a .pt2 archive)."""
    if prog is None:
        prog = user_inputs(ep)
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
        if t is None:
            if None in shape:
                raise ValueError(f"the exported program's input '{name}' has dynamic dims {tuple(shape)}: give its "
                                 "shape in inputs= (a ct.RangeDim for each dynamic dim)")
            out.append(TensorType(name=name, shape=shape, dtype=dtype))
            continue
        if not isinstance(t, (TensorType, ImageType)):
            raise TypeError(f"inputs[{i}] must be ct.TensorType or ct.ImageType, got {type(t).__name__}")
        t = copy.copy(t)
        if t.name is None:
            t.name = name
        if t.shape is None:
            if None in shape:
                raise ValueError(f"inputs[{i}] ({t.name}): the program's input '{name}' has dynamic dims "
                                 f"{tuple(shape)}: give its shape")
            t.shape = Shape(shape)
        if isinstance(t, TensorType) and t.dtype is None:
            t.dtype, t.dtype_name = dtype, TensorType(dtype=dtype).dtype_name
        _check_shape(i, t, name, shape)
        out.append(t)
    return out


def _check_shape(i, t, name, shape):
    """A declared shape must have the program's rank and, where the program's dims are static, its sizes
    (the program was specialized to them: its views and reshapes hold those numbers)."""
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
                continue
            if isinstance(d, RangeDim) or int(d) != p:
                raise ValueError(f"inputs[{i}] ({t.name}): dim {k} is {d} but the program was exported with "
                                 f"{name}.shape[{k}] == {p} (static): export with dynamic_shapes to convert "
                                 "other sizes")
