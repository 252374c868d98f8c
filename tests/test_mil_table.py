"""docs/mil_ops.md (every MIL op of iOS15-iOS18: emitted, read, run) is generated, never kept by hand,
and its op list is coremltools' own."""
import importlib.util
import os
import subprocess
import sys
import warnings

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
GEN = os.path.join(ROOT, "tools", "gen_mil_table.py")


def _gen():
    spec = importlib.util.spec_from_file_location("gen_mil_table", GEN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mil_op_table_is_fresh():
    r = subprocess.run([sys.executable, GEN, "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mil_op_list_matches_coremltools():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct = pytest.importorskip("coremltools")
        import coremltools.converters.mil.mil.ops.defs  # noqa: F401 (registers the ops)
        from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry
    targets = [(ct.target.iOS15, "iOS15"), (ct.target.iOS16, "iOS16"), (ct.target.iOS17, "iOS17"), (ct.target.iOS18, "iOS18")]
    want = {}
    for name, by_target in SSAOpRegistry.core_ops.items():
        prev, defs = None, []
        for t, label in targets:
            cls = by_target.get(t)
            if cls is not None and cls is not prev:
                defs.append(label)
            prev = cls
        if defs and not name.startswith("_"):
            want[name] = " ".join(defs)
    want["write_state"] = "iOS18"  # coremltools' backend writes its coreml_update_state as write_state + read_state
    assert _gen().MIL_OPS == want


def test_every_op_we_know_is_a_mil_op():
    from pt2coreml import _core
    extra = set(_core.mil_ops()) - set(_gen().MIL_OPS) - {"const"}
    assert not extra, f"ops.def rows that are no MIL op of iOS15-iOS18: {sorted(extra)}"
