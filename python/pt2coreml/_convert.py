"""convert(): PyTorch TorchScript -> Core ML ML Program, as coremltools' ct.convert."""
import warnings

import numpy as np

from . import __version__, _core, _registry
from ._frontend import check_graph_outputs, forward_graph, forward_signature, load_module
from ._types import (OPSET_OF_SPEC, ClassifierConfig, EnumeratedShapes, ImageType, RangeDim, Shape, TensorType,
                     colorlayout, precision, target)


def _input_spec(i, t):
    """One input type -> (name, dtype name, shape with None for flexible dims, desc feature)."""
    if not isinstance(t, (TensorType, ImageType)):
        raise TypeError(f"inputs[{i}] must be ct.TensorType or ct.ImageType, got {type(t).__name__}")
    if t.shape is None:
        raise ValueError(f"inputs[{i}] ({t.name or 'unnamed'}) needs a shape: TorchScript graphs do not record one")
    enumerated = None
    if isinstance(t.shape, EnumeratedShapes):
        # the program gets a symbolic dim wherever the shapes differ; the description lists them
        shapes = [tuple(int(d) for d in sh.shape) for sh in t.shape.shapes]
        if any(isinstance(d, RangeDim) for sh in t.shape.shapes for d in sh.shape):
            raise ValueError(f"inputs[{i}]: EnumeratedShapes entries must be fixed shapes (no RangeDim)")
        rank = len(shapes[0])
        if any(len(sh) != rank for sh in shapes):
            raise ValueError(f"inputs[{i}]: EnumeratedShapes entries must all have rank {rank}")
        default = tuple(int(d) for d in t.shape.default)
        if default not in shapes:
            raise ValueError(f"inputs[{i}]: the default shape {default} is not one of the enumerated shapes")
        dims = [shapes[0][k] if all(sh[k] == shapes[0][k] for sh in shapes) else None for k in range(rank)]
        lower = [min(sh[k] for sh in shapes) for k in range(rank)]
        upper = [max(sh[k] for sh in shapes) for k in range(rank)]
        enumerated = [list(sh) for sh in shapes]
    else:
        shape = t.shape if hasattr(t.shape, "default") else Shape(t.shape)
        default = list(shape.default)
        dims, lower, upper = [], [], []
        for d in shape.shape:
            if isinstance(d, RangeDim):
                dims.append(None)
                lower.append(d.lower_bound)
                upper.append(d.upper_bound)
            else:
                dims.append(d)
                lower.append(d)
                upper.append(d)
    shape = Shape(dims if None not in dims else [d if d is not None else RangeDim(lo, up)
                                                 for d, lo, up in zip(dims, lower, upper)])
    if isinstance(t, ImageType):
        if enumerated is not None:
            raise ValueError(f"ImageType {t.name!r}: EnumeratedShapes are supported on TensorType inputs only")
        if len(dims) != 4 or dims[0] != 1:
            raise ValueError(f"ImageType {t.name!r} needs a shape (1, C, H, W), got {tuple(shape.shape)}")
        if dims[1] != t.channels:
            raise ValueError(f"ImageType {t.name!r}: {t.color_layout.name} has {t.channels} channel(s) but the "
                             f"shape says {dims[1]}")
        dtype = "fp32"
    else:
        dtype = t.dtype_name or "fp32"
    return t.name, dtype, dims, lower, upper, list(default), enumerated


_INT_TORCH = ("Long", "Int", "Short", "Char", "Byte")
_FLOAT_TORCH = ("Float", "Double", "Half", "BFloat16")


def _check_input(i, arg, tdtype, tshape, t, spec):
    """Compare one declared input with what the trace recorded for forward's argument `arg`."""
    label = f"inputs[{i}] ({t.name or arg})"
    if isinstance(t, TensorType) and t.dtype is not None:
        try:
            dt = np.dtype(t.dtype)
        except TypeError:
            dt = None
        if dt == np.int64:
            warnings.warn(f"{label}: Core ML has no int64 tensors; the input is int32 (values must fit in int32). "
                          "Pass dtype=np.int32 to silence this.", UserWarning, stacklevel=3)
        elif dt == np.float64:
            warnings.warn(f"{label}: Core ML has no float64 tensors; the input is float32.", UserWarning,
                          stacklevel=3)
    dtype = spec[1]
    if tdtype is not None:
        declared_int = dtype.startswith("int")
        declared_float = dtype.startswith("fp")
        hint = {"Long": "np.int32 (Core ML has no int64)", "Int": "np.int32", "Bool": "np.bool_"}.get(
            tdtype, "np.float32 (the default)")
        if (tdtype in _INT_TORCH and not declared_int) or (tdtype in _FLOAT_TORCH and not declared_float) or \
                (tdtype == "Bool" and dtype != "bool"):
            raise ValueError(f"{label}: forward's argument '{arg}' was traced with a {tdtype} tensor but the input "
                             f"is declared {dtype}: pass dtype={hint}")
    if tshape is not None and len(tshape) != len(spec[2]):
        raise ValueError(f"{label}: forward's argument '{arg}' was traced with shape {tshape} (rank {len(tshape)}) "
                         f"but the input is declared with shape {tuple(t.shape.shape)} (rank {len(spec[2])})")


def convert(model, source="auto", inputs=None, outputs=None, classifier_config=None,
            minimum_deployment_target=None, convert_to=None, compute_precision=None, skip_model_load=False,
            compute_units=None, package_dir=None, debug=False, pass_pipeline=None, states=None):
    """Convert a TorchScript model (traced, scripted or a saved file) to a Core ML ML Program.

    Returns a ct.models.MLModel that can be saved (.mlpackage) and run with predict().
    """
    from .models import MLModel

    if source not in ("auto", "pytorch", "torch"):
        raise ValueError(f"source={source!r}: pt2coreml converts PyTorch (TorchScript) models only")
    if convert_to not in (None, "mlprogram"):
        raise ValueError(f"convert_to={convert_to!r} is not supported: pt2coreml writes ML Programs "
                         "(convert_to='mlprogram')")
    if states:
        raise NotImplementedError("stateful models (states=) are not supported yet")
    if pass_pipeline is not None:
        raise NotImplementedError("custom pass pipelines are not supported yet")
    spec = int(minimum_deployment_target) if minimum_deployment_target is not None else int(target.iOS15)
    if spec not in OPSET_OF_SPEC:
        raise ValueError(f"minimum_deployment_target {target(spec).name} cannot hold an ML Program: use iOS15 "
                         "(macOS12) or later")
    if compute_precision is None:
        compute_precision = precision.FLOAT16
    if not isinstance(compute_precision, precision):
        raise TypeError("compute_precision must be ct.precision.FLOAT16 or ct.precision.FLOAT32")
    if inputs is None:
        raise ValueError("inputs= is required for PyTorch models, e.g. inputs=[ct.TensorType(shape=(1, 3, 224, 224))]")
    if not isinstance(inputs, (list, tuple)):
        raise TypeError("inputs must be a list of ct.TensorType / ct.ImageType")
    if classifier_config is not None:
        raise NotImplementedError("classifier_config is not supported yet")

    module = load_module(model)
    signature = forward_signature(module)
    arg_names = [a[0] for a in signature]
    if len(inputs) != len(signature):
        raise ValueError(f"the model's forward takes {len(signature)} input(s) but inputs= lists {len(inputs)}: "
                         f"give one ct.TensorType per argument of forward({', '.join(arg_names)}), in order")
    specs = [_input_spec(i, t) for i, t in enumerate(inputs)]
    names = [s[0] for s in specs if s[0]]
    if len(set(names)) != len(names):
        raise ValueError(f"input names must be unique, got {names}")
    if len(names) == len(arg_names) and set(names) == set(arg_names) and names != arg_names:
        raise ValueError(f"inputs= are matched to forward's arguments by position, but they are named {names} "
                         f"while forward takes ({', '.join(arg_names)}): list them in forward's order")
    for i, ((arg, tdtype, tshape), t, s) in enumerate(zip(signature, inputs, specs)):
        _check_input(i, arg, tdtype, tshape, t, s)
    graph, frozen = forward_graph(module)
    check_graph_outputs(graph)
    out_names = None
    if outputs is not None:
        if not isinstance(outputs, (list, tuple)):
            raise TypeError("outputs must be a list of ct.TensorType (or ct.ImageType)")
        out_names = []
        for i, o in enumerate(outputs):
            if isinstance(o, str):
                raise TypeError(f"outputs[{i}] is the string {o!r}: name outputs with "
                                f"outputs=[ct.TensorType(name={o!r}), ...]")
            if not isinstance(o, (TensorType, ImageType)):
                raise TypeError(f"outputs[{i}] must be ct.TensorType or ct.ImageType, got {type(o).__name__}")
            out_names.append(o.name)
        given = [n for n in out_names if n]
        if any(not isinstance(n, str) or not n.strip() for n in given):
            raise ValueError("output names must be non-empty strings")
        if len(set(given)) != len(given):
            raise ValueError(f"output names must be unique, got {given}")
        clash = set(given) & set(names)
        if clash:
            raise ValueError(f"output name(s) {sorted(clash)} clash with input names")

    prog = _core.convert(graph, [(s[0], s[1], s[2]) for s in specs], out_names,
                         OPSET_OF_SPEC[spec], compute_precision.value, bool(debug), _registry.handlers())
    del frozen  # tensors the program points into are held by the program itself

    in_io, out_io = prog.io()
    desc_inputs = []
    for (name, (dtype, shape)), t, s in zip(in_io, inputs, specs):
        feat = {"name": name, "kind": "array", "dtype": dtype if dtype != "fp16" or spec >= 7 else "fp32",
                "shape": list(s[5]), "lower": list(s[3]), "upper": list(s[4])}
        if s[6] is not None:
            feat["enumerated"] = s[6]
        if isinstance(t, ImageType):
            feat.update(kind="image", width=s[2][3], height=s[2][2], color_space=t.color_layout.value)
        desc_inputs.append(feat)
    desc_outputs = [{"name": name, "kind": "array", "dtype": dtype,
                     "shape": [d if d is not None else 1 for d in shape],
                     "upper": [d if d is not None else -1 for d in shape]}
                    for name, (dtype, shape) in out_io]
    desc = {"spec_version": spec, "inputs": desc_inputs, "outputs": desc_outputs,
            "short_description": "", "version": "", "author": "", "license": "",
            "user_defined": {"pt2coreml.source": "torch==" + _torch_version(),
                             "pt2coreml.version": __version__},
            "class_labels": None}
    return MLModel._from_program(prog, desc)


def _torch_version():
    import torch
    return torch.__version__.split("+")[0]
