"""The op table (docs/ops.md) and the README's counts are generated from the lowering registry, never kept by
hand; the README stays a front page that links the documents it sends readers to."""
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def test_op_table_and_readme_counts_are_fresh():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_op_table.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_registry_kind_is_in_the_op_table():
    from pt2coreml import _core
    ops = _read("docs", "ops.md")
    missing = [k for k, _ in _core.lowered_ops() if f"`{k}`" not in ops]
    assert not missing, missing


def test_readme_gives_the_counts_and_links_the_tables():
    from pt2coreml import _core
    readme = _read("README.md")
    n = len(_core.lowered_ops())
    assert re.search(rf"\b{n} TorchScript ops lower to \d+ MIL op types", readme)
    assert "(docs/ops.md)" in readme and "(docs/mil_ops.md)" in readme
    assert "| `aten::" not in readme  # the table itself lives in docs/ops.md


def test_readme_links_resolve():
    """Every relative link of the README and docs/*.md names a file of the checkout."""
    docs = ["README.md"] + ["docs/" + f for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")]
    broken = []
    for doc in docs:
        base = os.path.dirname(os.path.join(ROOT, doc))
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", _read(doc)):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not os.path.exists(os.path.join(base, target)):
                broken.append(f"{doc}: {target}")
    assert not broken, broken


def test_readme_is_a_front_page():
    readme = _read("README.md")
    assert len(readme.splitlines()) < 300
    for needed in ("make demo", "make test", "ct.ImageType", "compute_precision", ".predict(", "pt2coreml convert",
                   "## Limits", "## Dependencies"):
        assert needed in readme, needed


def test_no_internal_issue_numbers_in_user_docs():
    """User documents say what the software does, not which tracker entry changed it."""
    paths = ["README.md"] + [os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))]
    nb = os.path.join(ROOT, "notebooks")
    if os.path.isdir(nb):
        paths += [os.path.join("notebooks", f) for f in os.listdir(nb) if f.endswith(".ipynb")]
    bad = []
    for p in paths:
        if not p.endswith((".md", ".ipynb")):
            continue
        for i, line in enumerate(_read(p).splitlines(), 1):
            if re.search(r"\bissues?\s*#?\d+|(?<![\w&/])#\d{1,5}\b|\bgh-\d+", line, re.I):
                bad.append(f"{p}:{i}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)
