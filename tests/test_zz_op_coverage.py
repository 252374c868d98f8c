"""Every TorchScript kind the converter lowers (_core.lowered_ops()) is run through the
runtime by some test: converted, predicted and (in those tests) compared with PyTorch.
Named to run last; it needs the whole suite, so it skips when only part of tests/ ran.
Kinds torch's own compiler and freezing rewrite away (aliases, detach, `is None`, implicit
conversions) are reached by hand-written graphs (torch._C.parse_ir, tests/test_cov_hand_written_graphs.py)."""
import glob
import os

import pytest

import op_coverage
from parity import TORCH_MAJOR
from pt2coreml import _core

HERE = os.path.dirname(os.path.abspath(__file__))

# kind -> why no test reaches it through ct.convert + predict(): reported by the test, not failing it.
# Empty: kinds torch's compiler or freezing rewrites away are reached by hand-written graphs
# (tests/test_cov_hand_written_graphs.py). Keep it that way; an entry here needs a reason that no graph can hold the kind.
UNREACHED = {}

# Kinds registered whose tests do not yet reach them through ct.convert + predict(). Known gaps to
# close; the test fails for any kind that is in neither table. Empty: don't add to it.
KNOWN_GAPS = set()

def test_registry_has_one_entry_per_torch_op():
    """Every registered kind is registered once (a second entry would never run) and every aten:: kind
    is an operator torch has (a kind torch never emits can be in no TorchScript graph)."""
    import torch
    from collections import Counter
    kinds = Counter(k for k, _ in _core.lowered_ops())
    twice = sorted(k for k, c in kinds.items() if c > 1)
    assert not twice, f"registered more than once (only the first entry is used): {twice}"
    if TORCH_MAJOR < 2:  # torch 1.x lacks the operators added since; torch 2 (the main venv) checks them
        return
    unknown = sorted(k for k in kinds if k.startswith("aten::") and not torch._C._jit_get_schemas_for_operator(k))
    assert not unknown, f"not torch operators: {unknown}"


def test_every_lowered_kind_runs_through_the_runtime(request):
    if TORCH_MAJOR < 2:  # `make test-torch1`: the tests of every kind torch 2 added (int4, quantized_decomposed,
        # sym_*, flash attention, ...) skip there, so the tally is the main venv's (torch 2) job
        pytest.skip("op coverage is checked under torch 2, where every kind's tests run")
    files = {os.path.basename(p) for p in glob.glob(os.path.join(HERE, "test_*.py"))}
    ran = {os.path.basename(str(item.fspath)) for item in request.session.items} | op_coverage.SKIPPED_FILES
    if not files <= ran:
        pytest.skip(f"needs the whole suite (not collected: {sorted(files - ran)[:5]}...)")
    lowered = sorted({k for k, _ in _core.lowered_ops()})
    missing = [k for k in lowered if k not in op_coverage.COVERED and k not in UNREACHED and k not in KNOWN_GAPS]
    if os.environ.get("PT2COREML_OP_COVERAGE_OUT"):  # for a report of the gaps
        with open(os.environ["PT2COREML_OP_COVERAGE_OUT"], "w") as f:
            f.write("\n".join(missing) + "\n")
    if request.session.testsfailed:
        pytest.skip("other tests failed; coverage would be incomplete")
    assert not missing, f"{len(missing)} lowered kinds are never run through predict() by a test: {missing}"
    reached = sorted(k for k in UNREACHED if k in op_coverage.COVERED)
    assert not reached, f"now covered, remove from UNREACHED: {reached}"
    gaps = [k for k in lowered if k in UNREACHED]
    print(f"{len(lowered) - len(gaps)} of {len(lowered)} lowered kinds run through predict(); known gaps: {gaps}")
    _check_frontend_record(set(lowered))


def _check_frontend_record(lowered):
    """The per-frontend tally of this full run is what tests/op_coverage_frontends.txt records (and so what
    docs/ops_by_frontend.md says): a kind a frontend now reaches, or no longer reaches, makes it stale."""
    run = op_coverage.tally(lowered)
    if os.environ.get("PT2COREML_OP_FRONTENDS") == "write":
        op_coverage.write_record(run)
    rec = op_coverage.read_record()
    new = sorted(f"{k} ({f})" for k in lowered for f in run[k] - rec.get(k, set()))
    lost = sorted(f"{k} ({f})" for k in lowered for f in rec.get(k, set()) - run[k])
    import importlib.util
    if op_coverage.SKIPPED_FILES or not all(importlib.util.find_spec(m) for m in ("transformers", "timm")):
        lost = []  # an optional package is missing: its tests' evidence cannot be checked here
    if new or lost:
        import tempfile
        out = os.path.join(tempfile.gettempdir(), "op_coverage_frontends.txt")
        op_coverage.write_record(run, out)
        raise AssertionError(
            f"tests/op_coverage_frontends.txt is stale: this run reached {new[:8]} ({len(new)}) that it does not "
            f"record, and not {lost[:8]} ({len(lost)}) that it does. This run's record is {out}: copy it over "
            "tests/op_coverage_frontends.txt (or rerun with PT2COREML_OP_FRONTENDS=write), then run "
            "tools/gen_op_table.py (docs/ops_by_frontend.md)")
