"""Input/output specification classes, named and shaped as in coremltools."""
import enum
import math
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

__all__ = ["TensorType", "ImageType", "RangeDim", "Shape", "EnumeratedShapes", "precision", "target",
           "colorlayout", "ComputeUnit", "ClassifierConfig", "StateType"]


class precision(enum.Enum):
    """Compute precision of an ML Program (``compute_precision=`` of convert())."""
    FLOAT16 = "fp16"
    FLOAT32 = "fp32"


class target(enum.IntEnum):
    """Minimum deployment targets; the value is the Core ML specificationVersion."""
    iOS13 = 4
    macOS10_15 = 4
    watchOS6 = 4
    tvOS13 = 4
    iOS14 = 5
    macOS11 = 5
    watchOS7 = 5
    tvOS14 = 5
    iOS15 = 6
    macOS12 = 6
    watchOS8 = 6
    tvOS15 = 6
    iOS16 = 7
    macOS13 = 7
    watchOS9 = 7
    tvOS16 = 7
    iOS17 = 8
    macOS14 = 8
    watchOS10 = 8
    tvOS17 = 8
    iOS18 = 9
    macOS15 = 9
    watchOS11 = 9
    tvOS18 = 9


#: MIL opset of each specification version that can hold an ML Program.
OPSET_OF_SPEC = {6: "CoreML5", 7: "CoreML6", 8: "CoreML7", 9: "CoreML8"}


class colorlayout(enum.Enum):
    """Pixel layout of an ImageType; values are Core ML's ImageFeatureType.ColorSpace codes."""
    RGB = 20
    BGR = 30
    GRAYSCALE = 10
    GRAYSCALE_FLOAT16 = 40


class ComputeUnit(enum.Enum):
    """Accepted for API compatibility; the reference runtime always runs on the CPU."""
    ALL = 1
    CPU_AND_GPU = 2
    CPU_ONLY = 3
    CPU_AND_NE = 4


#: Largest dim and element count a shape may have (Core ML and the runtime count in int64).
_INT64_MAX = 2 ** 63 - 1


def _fits_int64(what, v):
    if int(v) > _INT64_MAX:
        raise ValueError(f"{what} {int(v)} does not fit in int64 (at most 2**63 - 1)")


class RangeDim:
    """A dimension that may take any size in [lower_bound, upper_bound] (-1: unbounded)."""

    def __init__(self, lower_bound: int = 1, upper_bound: int = -1, default: Optional[int] = None,
                 symbol: Optional[str] = None) -> None:
        _fits_int64("RangeDim lower_bound", lower_bound)
        _fits_int64("RangeDim upper_bound", upper_bound)
        if default is not None:
            _fits_int64("RangeDim default", default)
        if int(lower_bound) < 0:
            raise ValueError(f"RangeDim lower_bound must be >= 0, got {lower_bound}")
        if int(upper_bound) != -1 and int(upper_bound) < int(lower_bound):
            raise ValueError(f"RangeDim upper_bound {upper_bound} is below lower_bound {lower_bound}")
        self.lower_bound = int(lower_bound)
        self.upper_bound = int(upper_bound)
        self.default = int(default) if default is not None else self.lower_bound
        if not (self.lower_bound <= self.default and (self.upper_bound == -1 or self.default <= self.upper_bound)):
            raise ValueError(f"RangeDim default {default} is outside [{lower_bound}, {upper_bound}]")
        self.symbol = symbol

    def __repr__(self):
        return f"RangeDim(lower_bound={self.lower_bound}, upper_bound={self.upper_bound}, default={self.default})"


class Shape:
    """A shape whose entries are ints or RangeDims."""

    def __init__(self, shape: Union["Shape", Sequence[Union[int, RangeDim]]],
                 default: Optional[Sequence[int]] = None) -> None:
        if isinstance(shape, Shape):
            shape = shape.shape
        dims = []
        for d in shape:
            if isinstance(d, RangeDim):
                dims.append(d)
            elif isinstance(d, (int, np.integer)) and int(d) >= 0:
                _fits_int64("shape entry", d)
                dims.append(int(d))
            else:
                raise ValueError(f"shape entries must be non-negative ints or RangeDim, got {d!r}")
        self.shape = tuple(dims)
        self.default = tuple(default) if default is not None else tuple(
            d.default if isinstance(d, RangeDim) else d for d in dims)

    @property
    def has_symbolic(self) -> bool:
        return any(isinstance(d, RangeDim) for d in self.shape)

    def __repr__(self):
        return f"Shape({list(self.shape)})"


class EnumeratedShapes:
    """A fixed set of allowed shapes (stored; conversion support comes with dynamic shapes)."""

    def __init__(self, shapes: Iterable[Union[Shape, Sequence[int]]], default: Optional[Sequence[int]] = None) -> None:
        self.shapes = [Shape(s) for s in shapes]
        if not self.shapes:
            raise ValueError("EnumeratedShapes needs at least one shape")
        self.default = tuple(default) if default is not None else self.shapes[0].default


#: What a TensorType / ImageType shape may be.
ShapeLike = Union[Shape, EnumeratedShapes, Sequence[Union[int, RangeDim]]]

_DTYPES = {
    np.float32: "fp32", np.float16: "fp16", np.float64: "fp32", np.int32: "int32", np.int64: "int32",
    np.bool_: "bool", bool: "bool", float: "fp32", int: "int32",
}


def _dtype_name(dtype):
    """numpy dtype (or None) -> our dtype name; int64/float64 narrow as Core ML has neither."""
    if dtype is None:
        return "fp32"
    for k, v in _DTYPES.items():
        try:
            if np.dtype(dtype) == np.dtype(k):
                return v
        except TypeError:
            pass
    raise TypeError(f"unsupported input dtype {dtype!r}: use np.float32, np.float16, np.int32 or np.bool_")


def _largest_numel(shape):
    """Element count of the largest shape `shape` (a Shape) allows: bounded ranges at their upper bound."""
    n = 1
    for d in shape.shape:
        if isinstance(d, RangeDim):
            d = d.upper_bound if d.upper_bound != -1 else max(d.lower_bound, d.default)
        n *= d
    return n


class _InputType:
    def __init__(self, name=None, shape=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"input name must be a str, got {type(name).__name__}")
        if name is not None and "\0" in name:
            raise ValueError(f"input name {name!r} contains a NUL character")
        self.name = name
        if shape is None:
            self.shape = None
        elif isinstance(shape, (Shape, EnumeratedShapes)):
            self.shape = shape
        else:
            try:
                self.shape = Shape(tuple(shape))
            except TypeError:
                raise TypeError(f"shape must be a tuple of ints/RangeDim, a Shape or EnumeratedShapes, got {shape!r}")
            except ValueError as e:
                raise ValueError(f"{type(self).__name__} {name!r}: shape {tuple(shape)!r}: {e}") from None
        if self.shape is not None:
            for sh in self.shape.shapes if isinstance(self.shape, EnumeratedShapes) else [self.shape]:
                n = _largest_numel(sh)
                if n > _INT64_MAX:
                    raise ValueError(f"{type(self).__name__} {name!r}: shape {list(sh.shape)} has {n} elements, more "
                                     "than int64 can count")


class TensorType(_InputType):
    """A multi-array input or output: name, shape (ints, RangeDim, Shape or EnumeratedShapes) and dtype."""

    def __init__(self, name: Optional[str] = None, shape: "Optional[ShapeLike]" = None, dtype: Any = None,
                 default_value: Optional[float] = None) -> None:
        super().__init__(name, shape)
        self.dtype = dtype
        self.dtype_name = _dtype_name(dtype) if dtype is not None else None
        self.default_value = default_value

    def __repr__(self):
        return f"TensorType(name={self.name!r}, shape={self.shape}, dtype={self.dtype})"


class StateType:
    """A state of a stateful model (iOS18): a registered buffer the model updates in place, named as
    ``named_buffers()`` names it, wrapping a ``TensorType`` of its shape (Core ML states are fp16)::

        ct.StateType(wrapped_type=ct.TensorType(shape=(1, 8, 64), dtype=np.float16), name="k_cache")
    """

    def __init__(self, wrapped_type: "TensorType", name: Optional[str] = None) -> None:
        if not isinstance(wrapped_type, TensorType):
            raise ValueError(f"StateType only supports ct.TensorType as wrapped_type, got {type(wrapped_type).__name__}")
        if wrapped_type.name is not None:
            raise ValueError("name cannot be set in the state wrapped_type: name the StateType instead")
        if wrapped_type.default_value is not None:
            raise ValueError("default_value cannot be set in the state wrapped_type")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"state name must be a str, got {type(name).__name__}")
        self.name = name
        self.wrapped_type = wrapped_type
        self.shape = wrapped_type.shape
        self.dtype = wrapped_type.dtype

    def can_be_output(self):
        return False

    def __repr__(self):
        return f"StateType[{self.wrapped_type}]"


class ImageType(_InputType):
    """An image input (or output): the program sees ``x * scale + bias`` per channel, NCHW float."""

    def __init__(self, name: Optional[str] = None, shape: "Optional[ShapeLike]" = None, scale: float = 1.0,
                 bias: Union[None, float, Sequence[float]] = None, color_layout: colorlayout = colorlayout.RGB,
                 channel_first: Optional[bool] = None) -> None:
        super().__init__(name, shape)
        if isinstance(color_layout, str):
            try:
                color_layout = colorlayout[color_layout]
            except KeyError:
                raise ValueError(f"unknown color_layout {color_layout!r}: use ct.colorlayout.RGB, BGR, "
                                 "GRAYSCALE or GRAYSCALE_FLOAT16")
        if not isinstance(color_layout, colorlayout):
            raise TypeError("color_layout must be a ct.colorlayout value")
        self.color_layout = color_layout
        self.scale = float(scale)
        if not math.isfinite(self.scale):
            raise ValueError(f"ImageType {name!r}: scale must be a finite number, got {scale!r}")
        nch = 1 if color_layout in (colorlayout.GRAYSCALE, colorlayout.GRAYSCALE_FLOAT16) else 3
        if bias is None:
            bias = [0.0] * nch
        elif isinstance(bias, (int, float)):
            bias = [float(bias)] * nch
        bias = [float(b) for b in bias]
        if not all(math.isfinite(b) for b in bias):
            raise ValueError(f"ImageType {name!r}: bias must be finite numbers, got {bias!r}")
        if len(bias) != nch:
            raise ValueError(f"ImageType bias needs {nch} value(s) for {color_layout.name}, got {len(bias)}")
        self.bias = bias
        self.channel_first = channel_first

    @property
    def channels(self):
        return len(self.bias)

    def __repr__(self):
        return (f"ImageType(name={self.name!r}, shape={self.shape}, scale={self.scale}, bias={self.bias}, "
                f"color_layout={self.color_layout.name})")


class ClassifierConfig:
    """Class labels (a list, or a path to a file with one label per line) for a classifier model."""

    def __init__(self, class_labels: Union[str, Sequence[Union[str, int]]], predicted_feature_name: str = "classLabel",
                 predicted_probabilities_output: Optional[str] = None) -> None:
        if isinstance(class_labels, str):
            with open(class_labels, encoding="utf-8") as f:
                class_labels = [line.strip() for line in f if line.strip()]
        self.class_labels = list(class_labels)
        if not self.class_labels:
            raise ValueError("ClassifierConfig needs at least one class label")
        self.predicted_feature_name = predicted_feature_name
        self.predicted_probabilities_output = predicted_probabilities_output
