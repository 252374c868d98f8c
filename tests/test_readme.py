"""The README's op table is generated from the lowering registry, never kept by hand."""
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def test_readme_op_table_is_fresh():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_op_table.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_registry_kind_is_in_the_readme():
    from pt2coreml import _core
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    missing = [k for k, _ in _core.lowered_ops() if f"`{k}`" not in readme]
    assert not missing, missing
