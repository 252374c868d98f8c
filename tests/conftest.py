import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
# PT2COREML_PKG_DIR: a built copy of the package to test instead of python/ (make test-torch1 uses it,
# so a second interpreter's build never overwrites the in-place one).
sys.path.insert(0, os.environ.get("PT2COREML_PKG_DIR") or os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)

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
