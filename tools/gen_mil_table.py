"""Write docs/mil_ops.md: every MIL op of the ML Program opsets iOS15-iOS18 and whether pt2coreml
emits it (some lowering produces it), reads it from a package and runs it.

    .venv/bin/python tools/gen_mil_table.py          # rewrite docs/mil_ops.md
    .venv/bin/python tools/gen_mil_table.py --check  # exit 1 if it is stale (tests/test_mil_table.py runs this)

MIL_OPS is the op list of coremltools' MIL op definitions (converters/mil/mil/ops/defs/iOS15..iOS18), with the
opsets that (re)define each op; tests/test_mil_table.py compares it with coremltools' own registry when
coremltools is importable. "read" and "run" come from the C core (`_core.mil_ops()`: the ops.def table, and
every row of it has a kernel, or the runtime does not compile); "emit" is every op a lowering or pass names
(`IR_OP_<X>` in csrc/lower and csrc/passes, comparisons left out), so a new lowering shows up at the next check.
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "python"))
OUT = os.path.join(ROOT, "docs", "mil_ops.md")

# op -> the opsets that define it (the first one introduces it, later ones redefine its inputs)
MIL_OPS = {
    "abs": "iOS15",
    "acos": "iOS15",
    "add": "iOS15",
    "affine": "iOS15",
    "argsort": "iOS15",
    "asin": "iOS15",
    "atan": "iOS15",
    "atanh": "iOS15",
    "avg_pool": "iOS15",
    "band_part": "iOS15",
    "batch_norm": "iOS15 iOS17",
    "batch_to_space": "iOS15",
    "cast": "iOS15 iOS17",
    "ceil": "iOS15",
    "clamped_relu": "iOS15 iOS17",
    "classify": "iOS15",
    "clip": "iOS15 iOS17",
    "concat": "iOS15",
    "cond": "iOS15",
    "const": "iOS15",
    "constexpr_affine_dequantize": "iOS16",
    "constexpr_blockwise_shift_scale": "iOS18",
    "constexpr_cast": "iOS16 iOS18",
    "constexpr_lut_to_dense": "iOS16 iOS18",
    "constexpr_lut_to_sparse": "iOS18",
    "constexpr_sparse_blockwise_shift_scale": "iOS18",
    "constexpr_sparse_to_dense": "iOS16 iOS18",
    "conv": "iOS15 iOS17",
    "conv_quantized": "iOS15",
    "conv_transpose": "iOS15 iOS17",
    "cos": "iOS15",
    "cosh": "iOS15",
    "crop": "iOS15",
    "crop_resize": "iOS15 iOS16 iOS17",
    "cumsum": "iOS15",
    "depth_to_space": "iOS15",
    "dequantize": "iOS17",
    "einsum": "iOS15",
    "elu": "iOS15 iOS17",
    "equal": "iOS15",
    "erf": "iOS15",
    "exp": "iOS15",
    "exp2": "iOS15",
    "expand_dims": "iOS15 iOS17",
    "fill": "iOS15",
    "fill_like": "iOS16",
    "flatten2d": "iOS15",
    "floor": "iOS15",
    "floor_div": "iOS15",
    "gather": "iOS15 iOS16 iOS17",
    "gather_along_axis": "iOS15 iOS16 iOS17",
    "gather_nd": "iOS15 iOS16 iOS17",
    "gelu": "iOS15",
    "greater": "iOS15",
    "greater_equal": "iOS15",
    "gru": "iOS15 iOS17 iOS18",
    "identity": "iOS15",
    "instance_norm": "iOS15 iOS17",
    "inverse": "iOS15 iOS17",
    "l2_norm": "iOS15 iOS17",
    "l2_pool": "iOS15",
    "layer_norm": "iOS15 iOS17",
    "leaky_relu": "iOS15 iOS17",
    "less": "iOS15",
    "less_equal": "iOS15",
    "linear": "iOS15 iOS17",
    "linear_activation": "iOS15 iOS17",
    "list_gather": "iOS15",
    "list_length": "iOS15",
    "list_read": "iOS15",
    "list_scatter": "iOS15",
    "list_write": "iOS15",
    "local_response_norm": "iOS15 iOS17",
    "log": "iOS15 iOS17",
    "logical_and": "iOS15",
    "logical_not": "iOS15",
    "logical_or": "iOS15",
    "logical_xor": "iOS15",
    "lstm": "iOS15 iOS17",
    "make_list": "iOS15",
    "matmul": "iOS15 iOS17",
    "max_pool": "iOS15",
    "maximum": "iOS15",
    "minimum": "iOS15",
    "mod": "iOS15",
    "mul": "iOS15",
    "non_maximum_suppression": "iOS15 iOS17",
    "non_zero": "iOS15",
    "not_equal": "iOS15",
    "one_hot": "iOS15",
    "pad": "iOS15",
    "pixel_shuffle": "iOS15",
    "pixel_unshuffle": "iOS16",
    "pow": "iOS15",
    "prelu": "iOS15 iOS17",
    "quantize": "iOS17",
    "random_bernoulli": "iOS15",
    "random_categorical": "iOS15",
    "random_normal": "iOS15",
    "random_uniform": "iOS15",
    "range_1d": "iOS15",
    "read_state": "iOS18",
    "real_div": "iOS15",
    "reduce_argmax": "iOS15 iOS17",
    "reduce_argmin": "iOS15 iOS17",
    "reduce_l1_norm": "iOS15",
    "reduce_l2_norm": "iOS15",
    "reduce_log_sum": "iOS15",
    "reduce_log_sum_exp": "iOS15",
    "reduce_max": "iOS15",
    "reduce_mean": "iOS15",
    "reduce_min": "iOS15",
    "reduce_prod": "iOS15",
    "reduce_sum": "iOS15",
    "reduce_sum_square": "iOS15",
    "relu": "iOS15",
    "relu6": "iOS15",
    "resample": "iOS15 iOS16 iOS17",
    "reshape": "iOS15 iOS17",
    "reshape_like": "iOS16 iOS17",
    "resize": "iOS17",
    "resize_bilinear": "iOS15",
    "resize_nearest_neighbor": "iOS15",
    "reverse": "iOS15 iOS17",
    "reverse_sequence": "iOS15 iOS17",
    "rnn": "iOS15 iOS17",
    "round": "iOS15",
    "rsqrt": "iOS15 iOS17",
    "scaled_dot_product_attention": "iOS18",
    "scaled_tanh": "iOS15 iOS17",
    "scatter": "iOS15 iOS17",
    "scatter_along_axis": "iOS15 iOS17",
    "scatter_nd": "iOS15 iOS17",
    "select": "iOS15",
    "shape": "iOS15",
    "sigmoid": "iOS15",
    "sigmoid_hard": "iOS15 iOS17",
    "sign": "iOS15",
    "silu": "iOS15",
    "sin": "iOS15",
    "sinh": "iOS15",
    "slice_by_index": "iOS15 iOS17",
    "slice_by_size": "iOS15 iOS17",
    "slice_update": "iOS18",
    "sliding_windows": "iOS15 iOS17",
    "softmax": "iOS15",
    "softplus": "iOS15",
    "softplus_parametric": "iOS15 iOS17",
    "softsign": "iOS15",
    "space_to_batch": "iOS15",
    "space_to_depth": "iOS15",
    "split": "iOS15",
    "sqrt": "iOS15",
    "square": "iOS15",
    "squeeze": "iOS15 iOS17",
    "stack": "iOS15",
    "sub": "iOS15",
    "tan": "iOS15",
    "tanh": "iOS15",
    "threshold": "iOS15",
    "thresholded_relu": "iOS15 iOS17",
    "tile": "iOS15",
    "topk": "iOS15 iOS16 iOS17",
    "transpose": "iOS15 iOS17",
    "upsample_bilinear": "iOS15 iOS16",
    "upsample_nearest_neighbor": "iOS15",
    "while_loop": "iOS15",
    "write_state": "iOS18",
}

# Why an op does not run yet (shown only while it does not).
NOTES = {
    "lstm": "recurrent layers: work in progress", "gru": "recurrent layers: work in progress",
    "rnn": "recurrent layers: work in progress",
    "read_state": "model state (iOS18): work in progress", "write_state": "model state (iOS18): work in progress",
}


def emitted():
    """MIL op types the lowering and the passes create (the IR_OP_ names they use, comparisons excluded; the
    registry rows' .mil included)."""
    names = set()
    files = glob.glob(os.path.join(ROOT, "csrc", "lower", "*.[ch]")) + glob.glob(os.path.join(ROOT, "csrc", "lower", "*.def")) + \
        glob.glob(os.path.join(ROOT, "csrc", "passes", "*.c"))
    for path in sorted(files):
        with open(path, encoding="utf-8") as f:
            text = re.sub(r"(==|!=|case)\s*IR_OP_\w+", "", f.read())
        names |= {m.lower() for m in re.findall(r"\bIR_OP_(\w+)", text)}
    return names


def table():
    from pt2coreml import _core
    known = set(_core.mil_ops())
    emit = emitted() & known
    yes = lambda b: "yes" if b else ""
    lines = [f"MIL ops of the ML Program opsets iOS15-iOS18: {len(MIL_OPS)}; pt2coreml reads and runs "
             f"{len(known & set(MIL_OPS))} of them and its lowering emits {len(emit & set(MIL_OPS))}.", "",
             "| MIL op | opsets defining it | emit | read | run | note |", "|---|---|---|---|---|---|"]
    for op in sorted(MIL_OPS):
        lines.append(f"| `{op}` | {MIL_OPS[op].replace(' ', ', ')} | {yes(op in emit)} | {yes(op in known)} | "
                     f"{yes(op in known)} | {'' if op in known else NOTES.get(op, '')} |")
    extra = sorted(known - set(MIL_OPS) - {"const"})
    if extra:
        lines += ["", "Ops the IR knows beyond these: " + ", ".join(f"`{op}`" for op in extra) + "."]
    return "\n".join(lines)


def render():
    return ("# MIL ops\n\n"
            "Generated by `tools/gen_mil_table.py` from the C core's op table and the lowering sources; do not edit.\n"
            "*emit*: some lowering or pass produces the op; *read*: a package holding it loads as that op "
            "(ops outside the table load as unknown ops and are refused when the model is prepared); *run*: the "
            "runtime has its kernel. iOS18 compressed weights stored in sub-byte types (uint1-uint6) load and run, "
            "but a model holding them cannot be saved again yet.\n\n" + table() + "\n")


def main():
    from _generated import write_or_check
    return write_or_check(OUT, lambda old: render(), "docs/mil_ops.md", "gen_mil_table.py")


if __name__ == "__main__":
    sys.exit(main())
