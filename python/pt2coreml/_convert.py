"""convert(): PyTorch TorchScript -> Core ML ML Program, as coremltools' ct.convert."""
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Union

import numpy as np

from . import __version__, _core, _export, _pt2, _registry
from ._log import Progress, warn
from .transform import FP16ComputePrecision
from ._frontend import (bind_defaults, cast_inputs, check_buffer_writes, check_graph_outputs, flatten_tuple_inputs,
                        forward_graph, forward_signature, load_module, state_inputs, trailing_defaults,
                        warn_batch_statistics)
from ._types import (OPSET_OF_SPEC, ClassifierConfig, EnumeratedShapes, ImageType, RangeDim, Shape, StateType,
                     TensorType, colorlayout, precision, target)


def _input_spec(i, t, spec):
    """One input type -> (name, dtype name, shape with None for flexible dims, lower bounds, upper bounds,
    default shape, enumerated shapes or None, image preprocessing or None). An ImageType's program input is NCHW even when the graph is NHWC."""
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
    pre = None
    if isinstance(t, ImageType):
        channel_last = t.channel_first is False
        layout = "(1, H, W, C)" if channel_last else "(1, C, H, W)"
        if len(dims) != 4 or dims[0] != 1:
            raise ValueError(f"ImageType {t.name!r} needs a shape {layout}, got {tuple(shape.shape)}")
        if enumerated is not None and any(sh[0] != 1 or sh[3 if channel_last else 1] != t.channels
                                           for sh in enumerated):
            bad = next(sh for sh in enumerated if sh[0] != 1 or sh[3 if channel_last else 1] != t.channels)
            raise ValueError(f"ImageType {t.name!r}: every enumerated shape must be {layout} with {t.channels} "
                             f"channel(s), got {tuple(bad)}")
        if channel_last:  # the model takes NHWC; Core ML feeds NCHW and a transpose follows the scale/bias
            dims, lower, upper, default = ([v[0], v[3], v[1], v[2]] for v in (dims, lower, upper, default))
            if enumerated is not None:
                enumerated = [[sh[0], sh[3], sh[1], sh[2]] for sh in enumerated]
        if dims[1] != t.channels:
            raise ValueError(f"ImageType {t.name!r}: {t.color_layout.name} has {t.channels} channel(s) but the "
                             f"shape says {dims[1]}")
        if t.color_layout == colorlayout.GRAYSCALE_FLOAT16:
            if spec < int(target.iOS16):
                raise ValueError(f"ImageType {t.name!r}: GRAYSCALE_FLOAT16 images need "
                                 "minimum_deployment_target=ct.target.iOS16 (macOS13) or later")
            dtype = "fp16"
        else:
            dtype = "fp32"
        pre = (t.scale, list(t.bias), channel_last)
    else:
        dtype = t.dtype_name or "fp32"
        if dtype == "fp16" and spec < int(target.iOS16):
            raise ValueError(f"inputs[{i}] ({t.name or 'unnamed'}): fp16 inputs need minimum_deployment_target="
                             "ct.target.iOS16 (macOS13) or later; Core ML before that takes fp32 inputs")
    return t.name, dtype, dims, lower, upper, list(default), enumerated, pre


def _image_output_dtype(o):
    """The element type Core ML returns an image output in: fp16 for GRAYSCALE_FLOAT16, else fp32."""
    return "fp16" if o.color_layout == colorlayout.GRAYSCALE_FLOAT16 else "fp32"


def _image_output_feature(i, o, feat):
    """Describe output `feat` as the image `o` asks for: rank 4 (1, C, H, W) of known size, C from the layout."""
    shape = feat["shape"]
    if len(shape) != 4 or shape[0] != 1 or shape[1] != o.channels:
        raise ValueError(f"outputs[{i}] ({feat['name']!r}) is a {o.color_layout.name} image, so the model must return "
                         f"a tensor of shape (1, {o.channels}, H, W); it returns {tuple(shape)}")
    if feat["upper"] != shape:
        raise ValueError(f"outputs[{i}] ({feat['name']!r}): image outputs need a fixed size, got {tuple(shape)} "
                         "with flexible dims")
    if feat["dtype"] != _image_output_dtype(o):
        raise ValueError(f"outputs[{i}] ({feat['name']!r}): {o.color_layout.name} image outputs must be "
                         f"{_image_output_dtype(o)}, the model returns {feat['dtype']}")
    feat.update(kind="image", width=shape[3], height=shape[2], color_space=o.color_layout.value)


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
            warn(f"{label}: Core ML has no int64 tensors; the input is int32 (values must fit in int32). "
                 "Pass dtype=np.int32 to silence this.", UserWarning, stacklevel=4)
        elif dt == np.float64:
            warn(f"{label}: Core ML has no float64 tensors; the input is float32.", UserWarning, stacklevel=4)
    dtype = spec[1]
    cast_to = None
    if tdtype is not None:
        declared_int = dtype.startswith("int")
        declared_float = dtype.startswith("fp")
        if (tdtype in _INT_TORCH and not declared_int) or (tdtype in _FLOAT_TORCH and not declared_float) or \
                (tdtype == "Bool" and dtype != "bool"):
            cast_to = tdtype  # as coremltools does: the program casts the declared input to the traced dtype
    if tshape is not None and len(tshape) != len(spec[2]):
        raise ValueError(f"{label}: forward's argument '{arg}' was traced with shape {tshape} (rank {len(tshape)}) "
                         f"but the input is declared with shape {tuple(t.shape.shape)} (rank {len(spec[2])})")
    return cast_to


if TYPE_CHECKING:  # pragma: no cover
    from .models import MLModel

_CONVERT_STAGES = ("reading the model", "preparing the graph", "lowering and passes", "describing")


def convert(model: Any, source: str = "auto",
            inputs: Optional[Sequence[Union[TensorType, ImageType]]] = None,
            outputs: Optional[Sequence[Union[TensorType, ImageType]]] = None,
            classifier_config: Optional[ClassifierConfig] = None,
            minimum_deployment_target: Optional[target] = None, convert_to: Optional[str] = None,
            compute_precision: Optional[Union[precision, FP16ComputePrecision]] = None, skip_model_load: bool = False,
            compute_units: Any = None, package_dir: Optional[str] = None, debug: bool = False,
            pass_pipeline: Any = None, states: Optional[List[StateType]] = None,
            verbose: bool = True) -> "MLModel":
    """Convert a TorchScript model (traced, scripted or a saved file) or a torch.export program to a Core ML
    ML Program.

    `model` is a torch.jit.ScriptModule, a ScriptFunction, the path of a saved one, or a
    torch.export.ExportedProgram (inputs= optional: names, shapes and dtypes default to its own). Returns a
    ct.models.MLModel that can be saved (.mlpackage) and run with predict(). A conversion that takes
    longer than about two seconds shows its stages (and the ops lowered) in a progress bar when stderr is a
    terminal; verbose=False turns that off.
    """
    with Progress("pt2coreml: converting", _CONVERT_STAGES, verbose) as progress:
        return _convert(progress, model, source, inputs, outputs, classifier_config, minimum_deployment_target,
                        convert_to, compute_precision, debug, pass_pipeline, states)


def _convert(progress, model, source, inputs, outputs, classifier_config, minimum_deployment_target, convert_to,
             compute_precision, debug, pass_pipeline, states):
    from .models import MLModel

    if source not in ("auto", "pytorch", "torch"):
        raise ValueError(f"source={source!r}: pt2coreml converts PyTorch (TorchScript or torch.export) models only")
    if states and (convert_to not in (None, "mlprogram") or minimum_deployment_target is None or
                   int(minimum_deployment_target) < int(target.iOS18)):
        got = f"convert_to={convert_to!r}" if convert_to not in (None, "mlprogram") else \
            f"minimum_deployment_target={target(int(minimum_deployment_target)).name if minimum_deployment_target else None}"
        raise ValueError("stateful models (states=) are supported only from iOS18: convert with "
                         f"minimum_deployment_target=ct.target.iOS18 (macOS15) or later, as an ML Program ({got})")
    if convert_to not in (None, "mlprogram"):
        raise ValueError(f"convert_to={convert_to!r} is not supported: pt2coreml writes ML Programs "
                         "(convert_to='mlprogram')")
    if pass_pipeline is not None:
        raise NotImplementedError("custom pass pipelines are not supported yet")
    spec = int(minimum_deployment_target) if minimum_deployment_target is not None else int(target.iOS15)
    if spec not in OPSET_OF_SPEC:
        raise ValueError(f"minimum_deployment_target {target(spec).name} cannot hold an ML Program: use iOS15 "
                         "(macOS12) or later")
    if compute_precision is None:
        compute_precision = precision.FLOAT16
    fp16_selector = None
    if isinstance(compute_precision, FP16ComputePrecision):
        fp16_selector = compute_precision._c_selector()
        compute_precision = precision.FLOAT16
    if not isinstance(compute_precision, precision):
        raise TypeError("compute_precision must be ct.precision.FLOAT16, ct.precision.FLOAT32 or "
                        "ct.transform.FP16ComputePrecision(op_selector=...)")
    if inputs is not None and not isinstance(inputs, (list, tuple)):
        raise TypeError("inputs must be a list of ct.TensorType / ct.ImageType")
    if inputs is not None and any(isinstance(t, StateType) for t in inputs):
        raise ValueError("inputs cannot contain a ct.StateType: pass the model's states with states=[...]")
    classifier = _classifier_spec(classifier_config)
    weights, archive, source = None, None, None
    graph_is_export = _pt2.is_archive(model) or _export.is_exported_program(model)
    if graph_is_export:
        progress.stage("reading the model")
        if _pt2.is_archive(model):  # a .pt2 file, read by the C core: torch is not imported
            archive = _pt2.path_of(model)
            info = _core.pt2_archive(archive)
            graph, program_inputs, source = None, _pt2.user_inputs(info), _pt2.torch_version(info)
            program_json = info["program"]
        else:
            graph, weights = _export.serialize(model), _export.weights(model)
            program_inputs, program_json = _export.user_inputs(graph), graph
        frozen = None
        written = _export.written_user_inputs(program_json)
        if written:
            warn(f"the exported program writes its input(s) {', '.join(written)} in place: the model's outputs "
                 "see the written values, but a Core ML model does not write its inputs back", UserWarning,
                 stacklevel=3)
        inputs = _export.input_types(program_inputs, inputs, _export.dim_ranges(program_json))
        specs = [_input_spec(i, t, spec) for i, t in enumerate(inputs)]
        names = [s[0] for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"input names must be unique, got {names}")
        state_specs = _state_specs(states, _export.buffers(program_json), compute_precision) if states else []
        _export._document.cache_clear()  # the parsed program is not kept past this conversion
        clash = {s[0] for s in state_specs} & set(names)
        if clash:
            raise ValueError(f"state name(s) {sorted(clash)} clash with input names")
        progress.stage("preparing the graph")
    else:
        graph, frozen, specs, names, state_specs = _torchscript_graph(progress, model, inputs, states, spec,
                                                                        compute_precision)
    out_names = _output_names(outputs, spec, names)

    progress.stage("lowering and passes")
    prog = _core.convert(graph, [(s[0], s[1], s[2], s[7]) for s in specs], out_names,
                         OPSET_OF_SPEC[spec], compute_precision.value, bool(debug), _registry.handlers(),
                         classifier=classifier,
                         states=[tuple(s) if graph_is_export else s[:3] for s in state_specs] or None,
                         fp16_selector=fp16_selector, progress=progress.reporter(), weights=weights,
                         custom_ops=_export.custom_op_rows(program_json) if graph_is_export else None,
                         **({"archive": archive} if archive else {}))
    del frozen  # tensors the program points into are held by the program itself

    progress.stage("describing")
    in_io, out_io = prog.io()
    if outputs is not None:  # image outputs in the type Core ML returns them in (fp16 only for GRAYSCALE_FLOAT16)
        first = 2 if classifier is not None else 0
        for i, o in enumerate(outputs):
            k = first + i
            if isinstance(o, ImageType) and k < len(out_io) and out_io[k][1][0] in ("fp16", "fp32") and \
                    out_io[k][1][0] != _image_output_dtype(o):
                prog.cast_output(k, _image_output_dtype(o))
        in_io, out_io = prog.io()
    desc_inputs = []
    for (name, (dtype, shape)), t, s in zip(in_io, inputs, specs):
        feat = {"name": name, "kind": "array", "dtype": dtype,
                "shape": list(s[5]), "lower": list(s[3]), "upper": list(s[4])}
        if s[6] is not None:
            feat["enumerated"] = s[6]
        if isinstance(t, ImageType):
            feat.update(kind="image", width=s[5][3], height=s[5][2], color_space=t.color_layout.value)
        desc_inputs.append(feat)
    desc_outputs = [{"name": name, "kind": "array", "dtype": dtype,
                     "shape": [d if d is not None else 1 for d in shape],
                     "upper": [d if d is not None else -1 for d in shape]}
                    for name, (dtype, shape) in out_io]
    label_name = probs_name = None
    if classifier is not None:  # classify's outputs come first: the label, then the probabilities dict
        int_labels = isinstance(classifier[0][0], int)
        label_name, probs_name = desc_outputs[0]["name"], desc_outputs[1]["name"]
        desc_outputs[0] = {"name": label_name, "kind": "int64" if int_labels else "string",
                           "dtype": "int64" if int_labels else "string", "shape": [], "upper": []}
        desc_outputs[1] = {"name": probs_name, "kind": "dict", "dict_key_int": int(int_labels), "shape": [], "upper": []}
    if outputs is not None:
        tensor_outs = desc_outputs[2:] if classifier is not None else desc_outputs
        for i, (o, feat) in enumerate(zip(outputs, tensor_outs)):
            if isinstance(o, ImageType):
                _image_output_feature(i, o, feat)
    desc = {"spec_version": spec, "inputs": desc_inputs, "outputs": desc_outputs,
            "states": [{"name": name, "kind": "state", "dtype": "fp16", "shape": list(shape), "upper": list(shape)}
                       for name, _, shape, _ in state_specs],
            "short_description": "", "version": "", "author": "", "license": "",
            "user_defined": {"pt2coreml.source": "torch==" + (source or _torch_version()),
                             "pt2coreml.version": __version__},
            "class_labels": None, "predicted_feature_name": label_name, "predicted_probabilities_name": probs_name}
    return MLModel._from_program(prog, desc)


def _torchscript_graph(progress, model, inputs, states, spec, compute_precision):
    """A TorchScript module's forward graph, prepared for the C reader, and its inputs' specs."""
    if inputs is None:
        raise ValueError("inputs= is required for PyTorch models, e.g. inputs=[ct.TensorType(shape=(1, 3, 224, 224))]")
    progress.stage("reading the model")
    module = load_module(model)
    state_specs = _state_specs(states, _module_buffers(module), compute_precision) if states else []
    signature = forward_signature(module)
    arg_names = [a[0] for a in signature]
    is_fn = not hasattr(module, "forward")  # a ScriptFunction
    fwd = getattr(module, "name", "f") if is_fn else "forward"
    defaults = trailing_defaults(module, len(inputs)) if len(inputs) < len(signature) else None
    if defaults is not None:  # trailing arguments with defaults (None state of an RNN cell) take them
        signature = signature[:len(inputs)]
    if len(inputs) != len(signature):
        raise ValueError(f"{'the function ' + fwd if is_fn else 'the model' + chr(39) + 's forward'} takes "
                         f"{len(signature)} input(s) but inputs= lists {len(inputs)}: give one ct.TensorType per "
                         f"argument of {fwd}({', '.join(arg_names)}), in order")
    specs = [_input_spec(i, t, spec) for i, t in enumerate(inputs)]
    names = [s[0] for s in specs if s[0]]
    if len(set(names)) != len(names):
        raise ValueError(f"input names must be unique, got {names}")
    if len(names) == len(arg_names) and set(names) == set(arg_names) and names != arg_names:
        raise ValueError(f"inputs= are matched to forward's arguments by position, but they are named {names} "
                         f"while forward takes ({', '.join(arg_names)}): list them in forward's order")
    casts = [_check_input(i, arg, tdtype, tshape, t, s)
             for i, ((arg, tdtype, tshape), t, s) in enumerate(zip(signature, inputs, specs))]
    progress.stage("preparing the graph")
    graph, frozen = forward_graph(module, preserve=[s[3] for s in state_specs])
    flatten_tuple_inputs(graph, is_fn)
    cast_inputs(graph, casts, is_fn)
    if defaults is not None:
        bind_defaults(graph, len(inputs), defaults, is_fn)
    if state_specs:
        state_inputs(graph, [s[3] for s in state_specs])
    check_buffer_writes(graph, module)
    check_graph_outputs(graph)
    warn_batch_statistics(graph)
    return graph, frozen, specs, names, state_specs


def _output_names(outputs, spec, names):
    """outputs= checked: the names given (None where not), or None when outputs= is not given."""
    if outputs is None:
        return None
    if not isinstance(outputs, (list, tuple)):
        raise TypeError("outputs must be a list of ct.TensorType (or ct.ImageType)")
    out_names = []
    for i, o in enumerate(outputs):
        if isinstance(o, str):
            raise TypeError(f"outputs[{i}] is the string {o!r}: name outputs with "
                            f"outputs=[ct.TensorType(name={o!r}), ...]")
        if not isinstance(o, (TensorType, ImageType)):
            raise TypeError(f"outputs[{i}] must be ct.TensorType or ct.ImageType, got {type(o).__name__}")
        if isinstance(o, ImageType) and o.color_layout == colorlayout.GRAYSCALE_FLOAT16 and spec < int(target.iOS16):
            raise TypeError(f"outputs[{i}]: float16 dtype for outputs (a GRAYSCALE_FLOAT16 image) is only supported "
                            "for deployment target >= iOS16/macOS13/watchOS9/tvOS16: pass "
                            "minimum_deployment_target=ct.target.iOS16")
        out_names.append(o.name)
    given = [n for n in out_names if n]
    if any(not isinstance(n, str) or not n.strip() for n in given):
        raise ValueError("output names must be non-empty strings")
    if len(set(given)) != len(given):
        raise ValueError(f"output names must be unique, got {given}")
    clash = set(given) & set(names)
    if clash:
        raise ValueError(f"output name(s) {sorted(clash)} clash with input names")
    return out_names


def _module_buffers(module):
    """{name: (shape, dtype name as torch spells it)} of a module's named_buffers()."""
    items = module.named_buffers() if hasattr(module, "named_buffers") else []
    return {name: (tuple(b.shape), str(b.dtype)) for name, b in items}


def _state_specs(states, buffers, compute_precision):
    """ct.StateType list -> [(Core ML name, buffer dtype, shape, buffer name)], checked as coremltools checks
    them: each names a buffer of the model (buffers: {name: (shape, "torch.float32"...)}, the module's
    named_buffers() or an exported program's lifted buffers), has its shape and is fp16."""
    if not isinstance(states, (list, tuple)):
        raise TypeError("states must be a list of ct.StateType")
    out, seen = [], set()
    for i, st in enumerate(states):
        if not isinstance(st, StateType):
            raise TypeError(f"states[{i}] must be a ct.StateType, got {type(st).__name__}")
        if st.name is None or st.name not in buffers:
            raise ValueError(f"StateType named {st.name!r} not provided or not found in the source torch model: the "
                             "name in ct.StateType(name=..., wrapped_type=ct.TensorType(...)) must be one of the "
                             f"model's named_buffers(): {list(buffers)}")
        if st.name in seen:
            raise ValueError(f"states: buffer {st.name!r} is listed twice")
        seen.add(st.name)
        buf_shape, buf_dtype = buffers[st.name]
        if st.shape is None:
            raise ValueError(f"state {st.name!r} needs a shape: ct.TensorType(shape={tuple(buf_shape)}, dtype=np.float16)")
        if isinstance(st.shape, EnumeratedShapes) or st.shape.has_symbolic:
            raise ValueError(f"state {st.name!r}: flexible shape model states are not supported; give the fixed "
                             f"shape {tuple(buf_shape)}")
        shape = tuple(int(d) for d in st.shape.shape)
        if shape != tuple(buf_shape):
            raise ValueError(f"StateType shape {shape} must match the torch buffer shape {tuple(buf_shape)} "
                             f"(state {st.name!r})")
        dtype = st.wrapped_type.dtype_name or ("fp16" if compute_precision == precision.FLOAT16 else "fp32")
        if dtype != "fp16":
            raise ValueError(f"state {st.name!r} is {dtype}: Core ML states are fp16 only; declare "
                             f"ct.StateType(wrapped_type=ct.TensorType(shape={shape}, dtype=np.float16), name={st.name!r})")
        if buf_dtype not in ("torch.float32", "torch.float16", "torch.float64"):
            raise ValueError(f"state {st.name!r}: the buffer is {buf_dtype}; Core ML states hold fp16, so only "
                             "floating-point buffers can be states")
        name = "".join(c if c.isalnum() or c == "_" else "_" for c in st.name)
        out.append((name, "fp16" if buf_dtype == "torch.float16" else "fp32", list(shape), st.name))
    names = [s[0] for s in out]
    if len(set(names)) != len(names):
        raise ValueError(f"states: buffer names {[s[3] for s in out]} give the same Core ML name twice")
    return out


def _classifier_spec(cfg):
    """ClassifierConfig -> (labels, predicted_feature_name, probabilities output) for the C core, or None."""
    if cfg is None:
        return None
    if not isinstance(cfg, ClassifierConfig):
        raise TypeError(f"classifier_config must be a ct.ClassifierConfig, got {type(cfg).__name__}")
    labels = list(cfg.class_labels)
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in labels):
        labels = [int(x) for x in labels]
    elif not all(isinstance(x, str) for x in labels):
        bad = next(x for x in labels if not isinstance(x, str))
        raise TypeError(f"class labels must be all str or all int, got {bad!r} ({type(bad).__name__}) among them")
    if len(set(labels)) != len(labels):
        dup = sorted({str(x) for x in labels if labels.count(x) > 1})
        raise ValueError(f"class labels must be unique; repeated: {dup[:5]}")
    return labels, cfg.predicted_feature_name, cfg.predicted_probabilities_output or None


def _torch_version():
    import torch
    return torch.__version__.split("+")[0]
