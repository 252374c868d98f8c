"""pt2coreml: convert PyTorch TorchScript models to Apple Core ML, with a C core.

    import pt2coreml as ct
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, 224, 224))])
    mlmodel.save("model.mlpackage")
    mlmodel.predict({"x": x})          # runs in pt2coreml's reference runtime, on any OS
"""
__version__ = "0.1.0"

from . import models, utils  # noqa: E402,F401
from ._mb import mb  # noqa: E402,F401
from . import debug, transform  # noqa: E402,F401
from ._registry import register_torch_op, unregister_torch_op  # noqa: E402,F401
from ._convert import convert  # noqa: E402,F401
from ._core import ConversionError  # noqa: E402,F401
from ._types import (ClassifierConfig, ComputeUnit, EnumeratedShapes, ImageType, RangeDim, Shape,  # noqa: E402,F401
                     StateType, TensorType, colorlayout, precision, target)

__all__ = ["convert", "ConversionError", "TensorType", "ImageType", "StateType", "RangeDim", "Shape", "EnumeratedShapes",
           "precision", "target", "colorlayout", "ComputeUnit", "ClassifierConfig", "models", "utils", "mb",
           "register_torch_op", "unregister_torch_op", "debug", "transform", "__version__"]
