"""Op coverage report: the TorchScript kinds pt2coreml lowers, compared with coremltools' torch frontend
registry when coremltools is importable (a reference only), and the whole models the test suite converts.

    .venv/bin/python tools/coverage_report.py [--markdown benchmarks/coverage.md]

coremltools' registry keys are lower-case names without a namespace (in-place forms and many aliases
share a key, and it also holds torch.export-only ops), so the comparison is by that normalized name.
"""
import argparse
import ast
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "python"))


def norm(kind):
    """aten::add_ / add.Tensor / __and__ / _abs -> add / add / and / abs; quantized::add -> quantized_add
    (the quantized namespace keeps its prefix, as coremltools' function names do)."""
    ns, _, rest = kind.rpartition("::")
    name = rest.lower().split(".", 1)[0].strip("_")
    return f"quantized_{name}" if ns == "quantized" else name


# Names in coremltools' registry that are no TorchScript kind, so no graph we convert can hold them:
# name -> why (and what TorchScript writes instead). Reported apart from the names we lack.
NOT_TORCHSCRIPT = {
    "arange_start_step": "the overload arange.start_step: TorchScript kinds carry no overload name (aten::arange, lowered)",
    "std_correction": "the overload std.correction (aten::std, lowered)",
    "var_correction": "the overload var.correction (aten::var, lowered)",
    "where_scalarself": "the overload where.ScalarSelf (aten::where, lowered)",
    "implicittensortonum": "prim::ImplicitTensorToNum has no operator in torch 2; TorchScript writes aten::IntImplicit / "
                           "FloatImplicit / ScalarImplicit (lowered)",
    "softsign": "no aten operator: F.softsign is x / (1 + |x|) in Python, recorded as aten::abs / add / div (lowered)",
    "truediv": "operator.truediv of torch.export (FX) graphs; TorchScript writes aten::div / true_divide (lowered)",
    "noop": "coremltools' name for its group of no-ops (clone, detach, dropout, _assert_scalar, ...: each lowered "
            "under its own kind)",
    "sdpa": "coreml::sdpa, a custom op of coremltools' torch.export flow, not a torch operator",
    "coreml": "coreml.sdpa (the same custom op, FX spelling), not a torch operator",
    "to_dim_order_copy": "dim_order_ops::_to_dim_order_copy, an ExecuTorch edge-dialect op, not a torch operator",
    "empty_dim_order": "dim_order_ops::_empty_dim_order, an ExecuTorch edge-dialect op, not a torch operator",
    "internal_op_tensor_inplace_copy": "made by coremltools' own graph passes (its rewrite of slice copy_), not a "
                                       "torch operator",
    "internal_op_tensor_inplace_fill": "made by coremltools' own graph passes (its rewrite of slice fill_), not a "
                                       "torch operator",
    "torchao": "torchao.dequantize_affine, an op of the torchao library in torch.export graphs, not a torch operator",
}

# TorchScript kinds in coremltools' registry that pt2coreml deliberately does not lower: name -> why.
# Reported apart from the names we lack.
NOT_CONVERTIBLE = {
    "convert_weight_to_int4pack": "aten::_convert_weight_to_int4pack packs for GPU backends (CUDA's tiled int32 layout "
                                  "[N/8, K/(16*innerKTiles), 32, innerKTiles/2]; MPS / XPU have their own); torch's CPU build has no kernel for "
                                  "it, so its output cannot be made or checked here (the CPU form "
                                  "_convert_weight_to_int4pack_for_cpu is lowered)",
    "weight_int4pack_mm": "aten::_weight_int4pack_mm reads those GPU layouts and has no CPU kernel in "
                          "torch's CPU build, so the converter cannot unpack its weight with torch nor test a lowering "
                          "(the CPU form _weight_int4pack_mm_for_cpu is lowered)",
}


def ns_name(kind):
    """torchvision::nms -> torchvision_nms: coremltools also keys ops outside aten / prim by namespace and
    name; None for aten / prim kinds."""
    ns, _, name = kind.partition("::")
    return None if not name or ns in ("aten", "prim", "quantized") else f"{ns}_{norm(kind)}"


def ours():
    from pt2coreml import _core
    return sorted(k for k, _ in _core.lowered_ops())


def theirs():
    try:
        from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY as reg
    except Exception:
        return None
    mapping = getattr(reg, "name_to_func_mapping", None) or dict(reg)
    return sorted({norm(n) for n in mapping})


def theirs_groups():
    """coremltools' names grouped by the converter function they share (a function's name and its torch
    aliases, e.g. quant_noop / quantized::linear_prepack), normalized; None without coremltools."""
    try:
        from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY as reg
    except Exception:
        return None
    mapping = getattr(reg, "name_to_func_mapping", None) or dict(reg)
    groups = {}
    for n, f in mapping.items():
        groups.setdefault(id(f), set()).add(norm(n))
    return list(groups.values())


def model_tests():
    """Whole models with parity tests: the string keys of the module-level model tables in tests/test_*.py,
    the dicts named MODELS or *_MODELS (name: constructor, or a tuple of constructor and settings).
    Returns [(name, [test files])]."""
    files = {}
    tdir = os.path.join(ROOT, "tests")
    for fn in sorted(os.listdir(tdir)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        tree = ast.parse(open(os.path.join(tdir, fn), encoding="utf-8").read())
        for node in tree.body:
            if isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets = [node.target.id]
            else:
                continue
            if not any(t == "MODELS" or t.endswith("_MODELS") for t in targets) or not isinstance(node.value, ast.Dict):
                continue
            for k in node.value.keys:
                if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                    continue
                files.setdefault(k.value, [])
                if fn not in files[k.value]:
                    files[k.value].append(fn)
    return sorted(files.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown")
    a = ap.parse_args()
    mine = ours()
    mine_norm = {norm(k) for k in mine} | {ns_name(k) for k in mine if ns_name(k)}
    ref = theirs()
    lines = [f"# Op coverage", "", f"pt2coreml lowers {len(mine)} TorchScript kinds "
             f"({len({norm(k) for k in mine})} distinct names once in-place forms and namespaces are folded)."]
    if ref is not None:
        # a name counts as covered when we lower it or another name of the same coremltools converter
        for group in theirs_groups() or []:
            if group & mine_norm:
                mine_norm |= group - set(NOT_CONVERTIBLE)  # a sibling we decline is not covered by its alias
        both = [n for n in ref if n in mine_norm]
        other = [n for n in ref if n not in mine_norm and n in NOT_TORCHSCRIPT]
        declined = [n for n in ref if n not in mine_norm and n in NOT_CONVERTIBLE]
        missing = [n for n in ref if n not in mine_norm and n not in NOT_TORCHSCRIPT and n not in NOT_CONVERTIBLE]
        extra = sorted(mine_norm - set(ref))
        lines += ["", f"coremltools' torch frontend registry: {len(ref)} names; pt2coreml covers {len(both)} of them "
                      f"({100.0 * len(both) / len(ref):.0f} %), {len(other)} more are not TorchScript kinds, and it "
                      f"lowers {len(extra)} names the registry lacks.", "",
                  "Names in coremltools' registry that pt2coreml does not lower (many are torch.export-only or "
                  "quantization ops):", "", ", ".join(f"`{n}`" for n in missing) or "(none)", "",
                  "Names in coremltools' registry that are not TorchScript kinds (no graph we convert holds them):", ""]
        lines += [f"- `{n}`: {NOT_TORCHSCRIPT[n]}" for n in other] or ["(none)"]
        lines += ["", "Names in coremltools' registry that pt2coreml does not convert on purpose:", ""]
        lines += [f"- `{n}`: {NOT_CONVERTIBLE[n]}" for n in declined] or ["(none)"]
        lines += ["", "Names pt2coreml lowers that coremltools' registry lacks:", "", ", ".join(f"`{n}`" for n in extra)]
    models = model_tests()
    if models:
        lines += ["", f"Whole models with parity tests: {len(models)}", ""]
        lines += [f"- {name} ({', '.join(fns)})" for name, fns in models]
    text = "\n".join(lines) + "\n"
    if a.markdown:
        with open(a.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
