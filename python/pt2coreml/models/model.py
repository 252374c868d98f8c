"""MLModel: a converted or loaded Core ML model, as coremltools' ct.models.MLModel.

It holds the compiled program (in the C core) and the model description as a
plain dict (inputs, outputs, metadata). save() writes an .mlpackage; predict()
runs the program in pt2coreml's reference runtime, on any OS.
"""
import os
import shutil
import tempfile
from typing import Any, Dict, Optional, Union

import numpy as np

from .. import _core
from .._log import Progress

_NP = {"fp32": np.float32, "fp16": np.float16, "fp64": np.float64, "int32": np.int32, "int64": np.int64,
       "bool": np.bool_, "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16}


class _Descriptions:
    """input_description / output_description: name -> short description, editable."""

    def __init__(self, features):
        self._features = features

    def _find(self, name):
        for f in self._features:
            if f["name"] == name:
                return f
        raise KeyError(f"no feature named {name!r}; the model has {[f['name'] for f in self._features]}")

    def __getitem__(self, name):
        return self._find(name).get("short_description", "")

    def __setitem__(self, name, text):
        if not isinstance(text, str):
            raise TypeError("a feature description must be a str")
        self._find(name)["short_description"] = text

    def __iter__(self):
        return iter(f["name"] for f in self._features)

    def __len__(self):
        return len(self._features)

    def __repr__(self):
        return repr({f["name"]: f.get("short_description", "") for f in self._features})


class MLModel:
    """A Core ML model: ``MLModel(path)`` loads an .mlpackage; convert() returns one too."""

    def __init__(self, model: Union[str, "os.PathLike[str]", "MLModel"], is_temp_package: bool = False,
                 mil_program: Any = None, skip_model_load: bool = False, compute_units: Any = None,
                 weights_dir: Optional[str] = None, function_name: Optional[str] = None) -> None:
        if isinstance(model, MLModel):
            self._prog, self._desc, self._path = model._prog, _copy_desc(model._desc), model._path
            return
        if not isinstance(model, (str, os.PathLike)):
            raise TypeError("MLModel() takes a path to an .mlpackage (or another MLModel)")
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no Core ML model at '{path}'")
        self._prog, self._desc = _core.load(path)
        self._path = path

    @classmethod
    def _from_program(cls, prog, desc):
        prog.set_description(desc)  # checks it against the program; run() enforces its input bounds
        m = cls.__new__(cls)
        m._prog, m._desc, m._path = prog, desc, None
        return m

    # ---- metadata ----
    def _meta(key):  # noqa: N805 - property factory
        def get(self):
            return self._desc.get(key) or ""

        def set_(self, value):
            if not isinstance(value, str):
                raise TypeError(f"{key} must be a str")
            self._desc[key] = value
        return property(get, set_)

    author = _meta("author")
    license = _meta("license")
    short_description = _meta("short_description")
    version = _meta("version")
    del _meta

    @property
    def user_defined_metadata(self) -> Dict[str, str]:
        return self._desc.setdefault("user_defined", {})

    @property
    def input_description(self):
        return _Descriptions(self._desc["inputs"])

    @property
    def output_description(self):
        return _Descriptions(self._desc["outputs"])

    # ---- program ----
    def get_spec(self) -> Any:
        """The Model protobuf, read-only, answering as coremltools' spec object does: fields named as in Apple's
        schema, `WhichOneof`, `HasField`, `ListFields`, `SerializeToString()` (the bytes of model.mlmodel)."""
        tmp = tempfile.mkdtemp(prefix="pt2coreml-spec-")
        try:
            path = os.path.join(tmp, "model.mlpackage")
            self.save(path)
            return _core.read_spec(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def print_program(self, max_const: int = 16) -> None:
        """Print the ML Program in pt2coreml's textual MIL form."""
        print(self._prog.text(max_const=max_const))

    def get_program_text(self, max_const: int = 16) -> str:
        return self._prog.text(max_const=max_const)

    def op_histogram(self) -> Dict[str, int]:
        return dict(sorted(self._prog.histogram().items()))

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the model as an .mlpackage directory. An existing package there (or an empty directory) is
        replaced whole; any other directory, a file or a symbolic link at `path` is refused (OSError) and left
        as it was."""
        path = os.fspath(path)
        if not path.endswith(".mlpackage"):
            raise ValueError(f"pt2coreml saves ML Programs as .mlpackage directories; got '{path}'")
        with Progress("pt2coreml: saving", ["writing"]) as progress:  # a bar when it takes long, on a terminal
            progress.stage("writing")
            self._prog.save(path, self._desc, progress.reporter())

    # ---- prediction ----
    def make_state(self) -> "MLState":
        """A new state for a stateful model (iOS18): its buffers start as zeros, as Core ML's MLModel.makeState()
        allocates them. Pass it to predict(data, state=...), which reads and updates it; a stateless model gives
        an empty state."""
        return MLState(self._prog.states())

    def predict(self, data: Dict[str, Any], state: Optional["MLState"] = None) -> Dict[str, Any]:
        """Run the model in the reference runtime: dict name -> np.ndarray in, dict out. A stateful model
        takes state=make_state(), updated in place."""
        if not isinstance(data, dict):
            raise TypeError("predict() takes a dict mapping input names to numpy arrays")
        state_arrays = _state_arrays(self._prog.states(), state)
        ins, outs = self._prog.io()
        names = [n for n, _ in ins]
        in_feats = {f["name"]: f for f in self._desc["inputs"]}
        unknown = sorted(set(data) - set(names))
        defaults = {n: _default_input(in_feats[n], dt) for n, (dt, _) in ins
                    if n not in data and n in in_feats and in_feats[n].get("default_value") is not None}
        data = {**defaults, **data}
        missing = [n for n in names if n not in data]
        if unknown or missing:
            parts = []
            if missing:
                parts.append(f"missing input(s) {missing}")
            if unknown:
                parts.append(f"unknown input(s) {unknown}")
            raise ValueError(f"predict(): {', '.join(parts)}; the model's inputs are {names}")
        arrays = []
        for name, (dtype, shape) in ins:
            arrays.append(_prepare_input(name, data[name], dtype, shape, in_feats.get(name, {})))
        results = self._prog.run(arrays, state_arrays) if state_arrays else self._prog.run(arrays)
        feats = {f["name"]: f for f in self._desc["outputs"]}
        return {name: _finish_output(r, feats.get(name)) for (name, _), r in zip(outs, results)}

    def _repr_html_(self) -> str:
        """Inputs, outputs, metadata, op histogram and size, as a notebook shows the model."""
        from .._describe import as_html, describe
        return as_html(describe(self))

    def __repr__(self):
        ins = ", ".join(f"{f['name']}: {f['kind']} {f.get('dtype', '')}{list(f.get('shape', []))}"
                        for f in self._desc["inputs"])
        outs = ", ".join(f"{f['name']}: {f.get('dtype', '')}{list(f.get('shape', []))}" for f in self._desc["outputs"])
        return f"MLModel(inputs=[{ins}], outputs=[{outs}], spec_version={self._desc.get('spec_version')})"


class MLState:
    """The state buffers of a stateful model (MLModel.make_state()): fp16 arrays, zeros at first, that
    predict(data, state=...) reads and updates in place. Two states of one model are independent."""

    def __init__(self, specs):
        self._specs = [(name, tuple(shape)) for name, (_, shape) in specs]
        self._bufs = {name: np.zeros(shape, dtype=np.float16) for name, shape in self._specs}

    def _buf(self, name):
        if name not in self._bufs:
            raise KeyError(f"no state named {name!r}; the model's states are {list(self._bufs)}")
        return self._bufs[name]

    def read_state(self, name):
        """A copy of state `name` (np.float16 array)."""
        return self._buf(name).copy()

    def write_state(self, name, value):
        """Set state `name` to `value` (an array of its shape, converted to fp16)."""
        buf = self._buf(name)
        value = np.asarray(value)
        if value.shape != buf.shape:
            raise ValueError(f"state {name!r} has shape {buf.shape}, got an array of shape {value.shape}")
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            raise TypeError(f"state {name!r} holds fp16 numbers, got an array of {value.dtype}")
        np.copyto(buf, value.astype(np.float16))

    def __repr__(self):
        return f"MLState({', '.join(f'{n}: fp16{list(s)}' for n, s in self._specs)})"


def _state_arrays(specs, state):
    """The buffers of `state` in the order of the model's states (None when the model has none)."""
    if state is not None and not isinstance(state, MLState):
        raise TypeError(f"state must be an MLState from model.make_state(), got {type(state).__name__}")
    if not specs:
        if state is not None and state._specs:
            raise ValueError("predict(): this model has no states, but state= holds some (from another model)")
        return None
    if state is None:
        raise ValueError(f"predict(): the model is stateful (states {[n for n, _ in specs]}): pass "
                         "state=model.make_state() (and the same state again for the next step)")
    want = [(name, tuple(shape)) for name, (_, shape) in specs]
    if state._specs != want:
        raise ValueError(f"predict(): the state holds {state._specs} but the model's states are {want}: make it with "
                         "this model's make_state()")
    return [state._bufs[name] for name, _ in want]


# Color spaces (ImageFeatureType.ColorSpace) -> (name, PIL mode, channels).
_COLOR = {10: ("GRAYSCALE", "L", 1), 20: ("RGB", "RGB", 3), 30: ("BGR", "RGB", 3), 40: ("GRAYSCALE_FLOAT16", "F", 1)}


def _pil_image_class():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is installed wherever images are used
        return None
    return Image.Image


def _image_to_array(name, img, feat):
    """A PIL image for image input `name` -> the (1, C, H, W) array Core ML would feed the program:
    pixel values 0..255 (RGB, or channels swapped for BGR; one channel for grayscale)."""
    pil = _pil_image_class()
    cs, mode, ch = _COLOR.get(feat.get("color_space"), ("?", "RGB", 3))
    if pil is None or not isinstance(img, pil):
        raise TypeError(f"input {name!r} is a {cs} image input: pass a PIL.Image (mode {mode!r}) or a float array of "
                        f"shape (1, {ch}, H, W), not {type(img).__name__}")
    w, h = feat.get("width"), feat.get("height")
    lo, up = feat.get("lower", feat.get("shape", [0] * 4)), feat.get("upper", [0] * 4)
    flexible = len(lo) == 4 and (lo[2] != up[2] or lo[3] != up[3])
    sizes = [(int(sh[3]), int(sh[2])) for sh in feat.get("enumerated") or []]
    if sizes:
        if (img.width, img.height) not in sizes:
            listed = ", ".join(f"{a}x{b}" for a, b in sizes)
            raise ValueError(f"input {name!r}: the image is {img.width}x{img.height} (width x height), which is not "
                             f"one of the sizes the model takes: {listed}; resize it first")
    elif flexible:
        ok = (lo[3] <= img.width and (up[3] < 0 or img.width <= up[3]) and
              lo[2] <= img.height and (up[2] < 0 or img.height <= up[2]))
        if not ok:
            raise ValueError(f"input {name!r}: the image is {img.width}x{img.height} (width x height) but the model "
                             f"takes widths {lo[3]}..{up[3] if up[3] >= 0 else 'any'} and heights "
                             f"{lo[2]}..{up[2] if up[2] >= 0 else 'any'}")
    elif (img.width, img.height) != (w, h):
        raise ValueError(f"input {name!r}: expected a {w}x{h} image (width x height), got {img.width}x{img.height}; "
                         f"resize it first, e.g. img.resize(({w}, {h}))")
    if img.mode != mode:
        raise ValueError(f"input {name!r}: expected a PIL image of mode {mode!r} ({cs}), got mode {img.mode!r}; "
                         f"convert it first, e.g. img.convert({mode!r})")
    arr = np.asarray(img, dtype=np.float32)
    if ch == 1:
        arr = arr[None, None, :, :]
    else:
        arr = arr.transpose(2, 0, 1)[None]
        if cs == "BGR":
            arr = arr[:, ::-1]
    return np.ascontiguousarray(arr, dtype=np.float16 if cs == "GRAYSCALE_FLOAT16" else np.float32)


def _array_to_image(arr, feat):
    """An image output (1, C, H, W), values 0..255 -> a PIL image (RGB or L), as Core ML returns it."""
    from PIL import Image
    cs, mode, ch = _COLOR.get(feat.get("color_space"), ("RGB", "RGB", 3))
    a = np.asarray(arr, dtype=np.float32).reshape(arr.shape[-3:])
    if cs == "GRAYSCALE_FLOAT16":
        return Image.fromarray(np.ascontiguousarray(a[0], dtype=np.float32))
    px = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if ch == 1:
        return Image.fromarray(np.ascontiguousarray(px[0]))
    if cs == "BGR":
        px = px[::-1]
    return Image.fromarray(np.ascontiguousarray(px.transpose(1, 2, 0)))


def _finish_output(r, feat):
    if feat is not None and feat.get("kind") == "image" and isinstance(r, np.ndarray):
        return _array_to_image(r, feat)
    if isinstance(r, np.ndarray) and r.ndim == 0:
        return r.reshape(1)  # Core ML has no rank-0 arrays: a scalar output comes back as shape (1,)
    return r


def _copy_desc(d):
    import copy
    return copy.deepcopy(d)


def _default_input(feat, dtype):
    """An optional input left out: Core ML fills it with the description's default value, in the
    default shape."""
    return np.full(feat.get("shape", []), feat["default_value"], dtype=_NP.get(dtype, np.float32))


def _check_bounds(name, shape, feat):
    """The sizes the description allows (EnumeratedShapes, RangeDim bounds), as Core ML enforces them."""
    enum = feat.get("enumerated")
    if enum:
        if [list(e) for e in enum].count(list(shape)) == 0:
            shapes = " or ".join("[" + ",".join(str(d) for d in e) + "]" for e in enum)
            raise ValueError(f"input {name!r} has shape {tuple(shape)}, which is not one of the shapes the model "
                             f"allows: {shapes}")
        return
    lo = feat.get("lower", feat.get("shape", []))
    up = feat.get("upper", lo)
    if len(lo) != len(shape) or len(up) != len(shape):
        return
    for k, s in enumerate(shape):
        if s < lo[k] or (up[k] >= 0 and s > up[k]):
            allowed = f"the range {lo[k]}..{up[k]}" if up[k] >= 0 else f"the lower bound {lo[k]}"
            raise ValueError(f"input {name!r}: dim {k} has size {s}, outside {allowed} the model allows "
                             f"(given shape {tuple(shape)})")


def _prepare_input(name, value, dtype, shape, feat):
    """Check one input against the model's declared type and make it a C-contiguous array."""
    want = _NP.get(dtype)
    if feat.get("kind") == "image" and not isinstance(value, np.ndarray):
        value = _image_to_array(name, value, feat)
    arr = np.asarray(value)
    if arr.dtype == np.float64 and want == np.float32:
        arr = arr.astype(np.float32)
    elif arr.dtype == np.int64 and want == np.int32:
        if arr.size and (arr.max() > np.iinfo(np.int32).max or arr.min() < np.iinfo(np.int32).min):
            raise ValueError(f"input {name!r}: int64 values do not fit int32 (Core ML has no int64)")
        arr = arr.astype(np.int32)
    if arr.dtype != want:
        try:
            safe = np.can_cast(arr.dtype, want, casting="same_kind")
        except TypeError:
            safe = False
        if not safe:
            raise TypeError(f"input {name!r} must be {np.dtype(want).name}, got {arr.dtype.name}")
        arr = arr.astype(want)
    if arr.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape, arr.shape)):
        want_s = tuple("?" if d is None else d for d in shape)
        raise ValueError(f"input {name!r} must have shape {want_s}, got {tuple(arr.shape)}")
    _check_bounds(name, arr.shape, feat)
    return np.ascontiguousarray(arr)
