"""convert(): PyTorch TorchScript -> Core ML ML Program, as coremltools' ct.convert."""
import numpy as np

from . import __version__, _core
from ._frontend import forward_graph, load_module
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
    graph, frozen = forward_graph(module)
    n_graph_inputs = len(list(graph.inputs())) - 1  # minus self
    if len(inputs) != n_graph_inputs:
        raise ValueError(f"the model's forward takes {n_graph_inputs} input(s) but inputs= lists {len(inputs)}")
    specs = [_input_spec(i, t) for i, t in enumerate(inputs)]
    names = [s[0] for s in specs if s[0]]
    if len(set(names)) != len(names):
        raise ValueError(f"input names must be unique, got {names}")
    out_names = None
    if outputs is not None:
        if not isinstance(outputs, (list, tuple)):
            raise TypeError("outputs must be a list of ct.TensorType (or ct.ImageType)")
        out_names = []
        for i, o in enumerate(outputs):
            if not isinstance(o, (TensorType, ImageType)):
                raise TypeError(f"outputs[{i}] must be ct.TensorType or ct.ImageType, got {type(o).__name__}")
            out_names.append(o.name)
        given = [n for n in out_names if n]
        if len(set(given)) != len(given):
            raise ValueError(f"output names must be unique, got {given}")
        clash = set(given) & set(names)
        if clash:
            raise ValueError(f"output name(s) {sorted(clash)} clash with input names")

    prog = _core.convert(graph, [(s[0], s[1], s[2]) for s in specs], out_names,
                         OPSET_OF_SPEC[spec], compute_precision.value, bool(debug))
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
