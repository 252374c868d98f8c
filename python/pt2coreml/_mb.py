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

# MIL parameters of each op (coremltools ops/defs/iOS15 input specs): "?" optional,
# "!" must be a constant known at conversion time, "*" a list of values (variadic).
_PARAMS = {
    "abs": "x", "acos": "x", "add": "x y",
    "affine": "x transform_matrix output_height! output_width! sampling_mode! padding_mode! padding_value! "
              "coordinates_mode! align_corners!",
    "asin": "x", "atan": "x", "atanh": "x",
    "avg_pool": "x kernel_sizes! strides?! pad_type! pad?! exclude_padding_from_average?! ceil_mode?!",
    "batch_norm": "x mean! variance! gamma?! beta?! epsilon?!",
    "cast": "x dtype!", "ceil": "x", "classify": "probabilities classes!", "clip": "x alpha! beta!",
    "concat": "values* axis! interleave?!",
    "conv": "x weight bias?! strides?! pad_type?! pad?! dilations?! groups?!",
    "conv_quantized": "x weight! bias?! quantization_type! nbits?! quant_scale! quant_bias! strides?! pad_type?! pad?! "
                      "dilations?! groups?!",
    "conv_transpose": "x weight! bias?! pad?! output_shape?! pad_type?! strides?! dilations?! groups?!",
    "cos": "x", "cosh": "x", "elu": "x alpha!", "equal": "x y", "erf": "x", "exp": "x", "exp2": "x",
    "expand_dims": "x axes!", "floor": "x", "floor_div": "x y", "gather": "x indices axis?!", "gelu": "x mode?!",
    "greater": "x y", "greater_equal": "x y", "identity": "x", "inverse": "x epsilon?!",
    "layer_norm": "x axes?! gamma?! beta?! epsilon?!", "leaky_relu": "x alpha!", "less": "x y",
    "less_equal": "x y", "linear": "x weight! bias?!", "log": "x epsilon?!", "logical_and": "x y",
    "logical_not": "x", "logical_or": "x y", "matmul": "x y transpose_x?! transpose_y?!", "maximum": "x y",
    "max_pool": "x kernel_sizes! strides?! pad_type! pad?! ceil_mode?!", "minimum": "x y", "mod": "x y",
    "mul": "x y", "not_equal": "x y", "pad": "x pad mode?! constant_val?!", "pow": "x y", "real_div": "x y",
    "reduce_argmax": "x axis?! keep_dims?!", "reduce_argmin": "x axis?! keep_dims?!",
    "reduce_max": "x axes?! keep_dims?!", "reduce_mean": "x axes?! keep_dims?!", "reduce_min": "x axes?! keep_dims?!",
    "reduce_prod": "x axes?! keep_dims?!", "reduce_sum": "x axes?! keep_dims?!", "relu": "x", "relu6": "x",
    "reshape": "x shape", "round": "x", "rsqrt": "x epsilon?!", "select": "cond a b", "shape": "x",
    "sigmoid": "x", "sign": "x", "silu": "x", "sin": "x", "sinh": "x",
    "slice_by_index": "x begin end stride?! begin_mask?! end_mask?! squeeze_mask?!", "softmax": "x axis?!",
    "slice_update": "x update begin end stride?! begin_mask?! end_mask?! squeeze_mask?!",
    "softplus": "x", "split": "x num_splits?! split_sizes?! axis!", "sqrt": "x", "square": "x",
    "squeeze": "x axes?!", "stack": "values* axis!", "sub": "x y", "tan": "x", "tanh": "x", "tile": "x reps",
    "transpose": "x perm!",
    "argsort": "x axis?! ascending?!",
    "band_part": "x lower?! upper?!",
    "batch_to_space": "x block_shape! crops!",
    "clamped_relu": "x alpha! beta!",
    "constexpr_affine_dequantize": "quantized_data! zero_point! scale! axis!",
    "constexpr_blockwise_shift_scale": "data! scale! offset?!",
    "constexpr_cast": "source_val! output_dtype!",
    "constexpr_lut_to_dense": "indices! lut! shape?! vector_axis?!",  # iOS16: shape; iOS18: vector_axis
    "constexpr_lut_to_sparse": "indices_mask indices_nonzero_data lut! vector_axis?!",
    "constexpr_sparse_blockwise_shift_scale": "data_mask! nonzero_data! scale! offset?!",
    "constexpr_sparse_to_dense": "nonzero_data mask shape?!",  # iOS16: shape
    "crop": "x crop_height! crop_width!",
    "crop_resize": "x roi? boxes? box_indices? target_height?! target_width?! normalized_coordinates?! spatial_scale?! "
                   "box_coordinate_mode?! sampling_mode?! pad_value?!",
    "cumsum": "x axis?! exclusive?! reverse?!",
    "depth_to_space": "x block_size!",
    "dequantize": "input zero_point?! scale! axis?!",
    "fill": "shape value?!",
    "fill_like": "ref_tensor value?!",
    "flatten2d": "x axis?!",
    "gather_along_axis": "x indices axis?!",
    "gather_nd": "x indices",
    "gru": "x initial_h weight_ih! weight_hh! bias?! direction?! output_sequence?! recurrent_activation?! activation?!",
    "instance_norm": "x gamma?! beta?! epsilon?!",
    "einsum": "values* equation!",
    "l2_norm": "x epsilon?!",
    "l2_pool": "x kernel_sizes! strides?! pad_type! pad?!",
    "linear_activation": "x alpha! beta!",
    "list_gather": "ls indices", "list_length": "ls", "list_read": "ls index", "list_scatter": "ls indices value",
    "list_write": "ls index value",
    "local_response_norm": "x size! alpha?! beta?! k?!",
    "make_list": "init_length? dynamic_length?! elem_shape*! dtype?!",
    "logical_xor": "x y",
    "lstm": "x initial_h initial_c weight_ih! weight_hh! bias?! peephole?! weight_ih_back?! weight_hh_back?! "
            "bias_back?! peephole_back?! direction?! output_sequence?! recurrent_activation?! cell_activation?! "
            "activation?! clip?!",
    "non_maximum_suppression": "boxes scores iou_threshold! score_threshold?! max_boxes! per_class_suppression?!",
    "non_zero": "x",
    "one_hot": "indices one_hot_vector_size axis?! on_value?! off_value?!",
    "pixel_shuffle": "x upscale_factor!",
    "pixel_unshuffle": "x downscale_factor!",
    "prelu": "x alpha!",
    "quantize": "input zero_point?! scale! axis?! output_dtype!",
    "random_bernoulli": "shape prob?! seed?!",
    "random_categorical": "x mode?! size?! seed?!",
    "random_normal": "shape mean?! stddev?! seed?!",
    "random_uniform": "shape low?! high?! seed?!",
    "range_1d": "end start step",
    "reduce_l1_norm": "x axes?! keep_dims?!",
    "reduce_l2_norm": "x axes?! keep_dims?!",
    "reduce_log_sum": "x axes?! keep_dims?!",
    "reduce_log_sum_exp": "x axes?! keep_dims?!",
    "reduce_sum_square": "x axes?! keep_dims?!",
    "resample": "x coordinates sampling_mode! padding_mode! padding_value! coordinates_mode! align_corners!",
    "resize": "x shape resized_dims! interpolation_mode?! sampling_mode?!",
    "resize_bilinear": "x target_size_height?! target_size_width?! sampling_mode?!",
    "resize_nearest_neighbor": "x target_size_height! target_size_width!",
    "reshape_like": "x ref_tensors* begins*! ends*! end_masks*!",
    "reverse": "x axes?!",
    "rnn": "x initial_h weight_ih! weight_hh! bias?! direction?! output_sequence?! activation?!",
    "reverse_sequence": "x lengths seq_axis?! batch_axis?!",
    "scaled_dot_product_attention": "query key value attn_mask?",
    "scaled_tanh": "x alpha! beta!",
    "scatter": "data indices updates axis?! mode?!",
    "scatter_along_axis": "data indices updates axis?! mode?!",
    "scatter_nd": "data indices updates mode?!",
    "sigmoid_hard": "x alpha! beta!",
    "slice_by_size": "x begin size",
    "sliding_windows": "x axis! size! stride?!",
    "softplus_parametric": "x alpha! beta!",
    "softsign": "x",
    "space_to_batch": "x block_shape! paddings!",
    "space_to_depth": "x block_size!",
    "threshold": "x alpha!",
    "thresholded_relu": "x alpha!",
    "topk": "x k?! axis?! ascending?!",
    "upsample_bilinear": "x scale_factor_height?! scale_factor_width?! align_corners?!",
    "upsample_nearest_neighbor": "x scale_factor_height?! scale_factor_width?!",
    "cond": "pred",
    "while_loop": "loop_vars*",
    "read_state": "input",
    "write_state": "input data",
}
_WITH_BLOCKS = {"cond", "while_loop"}  # need nested blocks: made by lowering scripted control flow
_STATE_OPS = {"read_state", "write_state"}  # states exist only in conversions with states=: made by the lowering


def _parse_params(spec):
    out = {}
    for tok in spec.split():
        name = tok.rstrip("?!*")
        out[name] = {"required": "?" not in tok, "const": "!" in tok, "list": "*" in tok}
    return out


PARAMS = {op: _parse_params(s) for op, s in _PARAMS.items()}


def _spatial(rank, f):
    return {} if rank is None or rank < 3 else f(rank - 2)


# Defaults written into the op when not given (as coremltools does), so the program
# states every parameter Core ML reads. Keyed by op; called with x's rank (or None).
_DEFAULTS = {
    "conv": lambda r: dict(pad_type="valid", groups=1, **_spatial(r, lambda s: dict(
        strides=[1] * s, pad=[0] * (2 * s), dilations=[1] * s))),
    "conv_quantized": lambda r: dict(pad_type="valid", groups=1, nbits=8, **_spatial(r, lambda s: dict(
        strides=[1] * s, pad=[0] * (2 * s), dilations=[1] * s))),
    "conv_transpose": lambda r: dict(pad_type="valid", groups=1, **_spatial(r, lambda s: dict(
        strides=[1] * s, pad=[0] * (2 * s), dilations=[1] * s))),
    "avg_pool": lambda r: dict(exclude_padding_from_average=False, ceil_mode=False, **_spatial(
        r, lambda s: dict(strides=[1] * s, pad=[0] * (2 * s)))),
    "max_pool": lambda r: dict(ceil_mode=False, **_spatial(r, lambda s: dict(strides=[1] * s, pad=[0] * (2 * s)))),
    "concat": lambda r: dict(interleave=False),
    "gather": lambda r: dict(axis=0),
    "gelu": lambda r: dict(mode="EXACT"),
    "matmul": lambda r: dict(transpose_x=False, transpose_y=False),
    "pad": lambda r: dict(mode="constant", constant_val=0.0),
    "reduce_argmax": lambda r: dict(axis=-1, keep_dims=False),
    "reduce_argmin": lambda r: dict(axis=-1, keep_dims=False),
    "softmax": lambda r: dict(axis=-1),
    "batch_norm": lambda r: dict(epsilon=1e-5),
    "layer_norm": lambda r: dict(epsilon=1e-5),
}
_DEFAULTS.update({
    "argsort": lambda r: dict(axis=-1, ascending=False),
    "cumsum": lambda r: dict(axis=0, exclusive=False, reverse=False),
    "topk": lambda r: dict(k=1, axis=-1, ascending=False),
    "instance_norm": lambda r: dict(epsilon=1e-5),
    "l2_norm": lambda r: dict(epsilon=1e-6),
    "local_response_norm": lambda r: dict(alpha=1e-4, beta=0.75, k=1.0),
    "scatter": lambda r: dict(axis=0, mode="add"),
    "scatter_along_axis": lambda r: dict(axis=0, mode="add"),
    "scatter_nd": lambda r: dict(mode="add"),
    "gather_along_axis": lambda r: dict(axis=0),
    "lstm": lambda r: dict(direction="forward", output_sequence=False, recurrent_activation="sigmoid",
                           cell_activation="tanh", activation="tanh"),
    "gru": lambda r: dict(direction="forward", output_sequence=False, recurrent_activation="sigmoid", activation="tanh"),
    "rnn": lambda r: dict(direction="forward", output_sequence=False, activation="tanh"),
})
for _op in ("reduce_l1_norm", "reduce_l2_norm", "reduce_log_sum", "reduce_log_sum_exp", "reduce_sum_square",
            "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum"):
    _DEFAULTS[_op] = lambda r: dict(keep_dims=False)

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
    if op in _DEFAULTS:
        for k, v in _DEFAULTS[op](rank).items():
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
