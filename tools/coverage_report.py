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
    """aten::add_ / add.Tensor / __and__ / _abs -> add / add / and / abs."""
    name = kind.split("::", 1)[-1].lower().split(".", 1)[0]
    return name.strip("_")


def ours():
    from pt2coreml import _core
    return sorted(k for k, _ in _core.lowered_ops())


def theirs():
    try:
        from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY as reg
    except Exception:
        return None
    names = set(getattr(reg, "name_to_func_mapping", reg))
    return sorted({norm(n) for n in names})


def model_tests():
    """Whole-model parity tests in tests/ (functions named test_* in files with 'model' in their name)."""
    found = []
    tdir = os.path.join(ROOT, "tests")
    for fn in sorted(os.listdir(tdir)):
        if "model" not in fn or not fn.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(tdir, fn), encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and isinstance(k.value, str) and isinstance(v, ast.Lambda):
                        found.append((fn, k.value))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown")
    a = ap.parse_args()
    mine = ours()
    mine_norm = {norm(k) for k in mine}
    ref = theirs()
    lines = [f"# Op coverage", "", f"pt2coreml lowers {len(mine)} TorchScript kinds "
             f"({len(mine_norm)} distinct names once in-place forms and namespaces are folded)."]
    if ref is not None:
        both = [n for n in ref if n in mine_norm]
        missing = [n for n in ref if n not in mine_norm]
        extra = sorted(mine_norm - set(ref))
        lines += ["", f"coremltools' torch frontend registry: {len(ref)} names; pt2coreml covers {len(both)} of them "
                      f"({100.0 * len(both) / len(ref):.0f} %) and lowers {len(extra)} names it lacks.", "",
                  "Names in coremltools' registry that pt2coreml does not lower (many are torch.export-only or "
                  "quantization ops):", "", ", ".join(f"`{n}`" for n in missing) or "(none)", "",
                  "Names pt2coreml lowers that coremltools' registry lacks:", "", ", ".join(f"`{n}`" for n in extra)]
    models = model_tests()
    if models:
        lines += ["", f"Whole models with parity tests: {len(models)}", ""]
        lines += [f"- {name} ({fn})" for fn, name in models]
    text = "\n".join(lines) + "\n"
    if a.markdown:
        with open(a.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
