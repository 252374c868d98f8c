"""pt2coreml: convert PyTorch TorchScript models to Apple Core ML, with a C core."""
from ._core import ConversionError  # noqa: F401

__version__ = "0.1.0"
