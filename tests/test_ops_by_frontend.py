"""docs/ops_by_frontend.md (which op kinds convert from TorchScript and from torch.export) is generated from
the registry and the per-frontend record of a full run (tests/op_coverage_frontends.txt), never kept by hand;
the record itself is checked against a full run's tally by test_zz_op_coverage.py."""
import importlib.util
import os

import op_coverage
from pt2coreml import _core

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _gen():
    spec = importlib.util.spec_from_file_location("gen_op_table", os.path.join(ROOT, "tools", "gen_op_table.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ops_by_frontend_is_fresh():
    gen = _gen()
    with open(gen.FRONTENDS_DOC, encoding="utf-8") as f:
        assert f.read() == gen.render_frontends(""), "docs/ops_by_frontend.md is stale: run tools/gen_op_table.py"


def test_record_names_lowered_kinds_and_known_frontends():
    lowered = {k for k, _ in _core.lowered_ops()}
    rec = op_coverage.read_record()
    assert rec, "tests/op_coverage_frontends.txt is empty"
    gone = sorted(set(rec) - lowered)
    assert not gone, f"the record names kinds the registry no longer has (rerun with PT2COREML_OP_FRONTENDS=add): {gone}"
    odd = sorted(k for k, f in rec.items() if not f or not f <= set(op_coverage.FRONTENDS))
    assert not odd, odd


def test_table_marks_what_the_record_says():
    """Spot check of the rendering: a kind the record gives both frontends shows both marks."""
    rec = op_coverage.read_record()
    both = next(k for k in sorted(rec) if len(rec[k]) == 2)
    assert f"| `{both}` | yes | yes |" in _gen().frontend_table(rec)
