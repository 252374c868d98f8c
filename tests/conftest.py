import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
# The tests import the package of the tree they run from (python/, built in place), ahead of any installed
# copy: the venv's editable install may point at another checkout. PT2COREML_PKG_DIR: a built copy of the
# package to test instead (make test-torch1 and make test-asan use it, so a second build never overwrites
# the in-place one). Subprocesses (notebook kernels, `python -m pt2coreml`) get the same through PYTHONPATH.
PKG_DIR = os.path.abspath(os.environ.get("PT2COREML_PKG_DIR") or os.path.join(HERE, "..", "python"))
sys.path.insert(0, PKG_DIR)
sys.path.insert(0, HERE)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [PKG_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != PKG_DIR])

# TorchScript is deprecated upstream; our users still have TorchScript models.
warnings.filterwarnings("ignore", message=r".*torch\.jit\..*deprecated.*")
warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")

# Record which lowered TorchScript kinds reach predict() (checked by test_zz_op_coverage.py).
import op_coverage  # noqa: E402

op_coverage.install()


def pytest_collectreport(report):
    """A test file skipped whole (importorskip of an optional package such as coremltools) still
    counts as run for test_zz_op_coverage.py: it reaches no kind in this environment."""
    if report.skipped:
        op_coverage.SKIPPED_FILES.add(os.path.basename(report.nodeid.split("::")[0]))


def pytest_sessionfinish(session):
    """PT2COREML_OP_FRONTENDS=add: this run's per-frontend evidence goes into tests/op_coverage_frontends.txt
    (=write, a full run, is test_zz_op_coverage.py's)."""
    if os.environ.get("PT2COREML_OP_FRONTENDS") == "add":
        from pt2coreml import _core
        op_coverage.add_to_record({k for k, _ in _core.lowered_ops()})
