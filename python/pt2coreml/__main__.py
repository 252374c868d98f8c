"""python -m pt2coreml: the command line (see pt2coreml.cli)."""
from .cli import entry_point

entry_point()
