"""docs/architecture.md stays true as the code moves: every file and C symbol it names exists."""
import glob
import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DOC = os.path.join(ROOT, "docs", "architecture.md")
SYMBOL = re.compile(r"^(ir|lower|lb|rt|pass|ser|ts|pc|py|drv|ex|exa)_[a-z0-9_]+$")
FILE = re.compile(r"^[\w./-]+\.(c|h|def|py|proto|md)$")


def _names():
    text = open(DOC).read()
    return sorted({m.group(1).split("(")[0] for m in re.finditer(r"`([^`\s]+)`", text)})


def _all_files():
    files = []
    for pattern in ("csrc/**/*", "python/**/*", "tests/**/*", "tools/*", "benchmarks/*", "docs/*", "*"):
        files += [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern), recursive=True)]
    return files


def test_files_named_exist():
    files = _all_files()
    missing = []
    for name in _names():
        if not FILE.match(name):
            continue
        if "/" in name:
            ok = any(f == name or f.endswith("/" + name) for f in files)
        else:
            ok = any(os.path.basename(f) == name for f in files)
        if not ok:
            missing.append(name)
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_symbols_named_exist():
    source = ""
    for p in glob.glob(os.path.join(ROOT, "csrc", "**", "*.[ch]"), recursive=True) + \
            glob.glob(os.path.join(ROOT, "csrc", "**", "*.def"), recursive=True) + \
            glob.glob(os.path.join(ROOT, "python", "**", "*.py"), recursive=True):
        source += open(p, errors="replace").read()
    missing = [n for n in _names() if SYMBOL.match(n) and not re.search(r"\b" + re.escape(n) + r"\b", source)]
    assert not missing, f"docs/architecture.md names symbols that do not exist: {missing}"
