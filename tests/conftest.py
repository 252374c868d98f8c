import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)

# TorchScript is deprecated upstream; our users still have TorchScript models.
warnings.filterwarnings("ignore", message=r".*torch\.jit\..*deprecated.*")
warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")

# Record which lowered TorchScript kinds reach predict() (checked by test_zz_op_coverage.py).
import op_coverage  # noqa: E402

op_coverage.install()
