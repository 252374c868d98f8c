"""The `pt2coreml` command line (also `python -m pt2coreml`): convert, inspect, predict, compare.

Everything goes through the public API (pt2coreml.convert, pt2coreml.models.MLModel, predict()).
"""
import argparse
import os
import re
import sys
import time
import traceback
import warnings
from fractions import Fraction
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

EXIT_OK = 0
EXIT_FAILED = 1     # the conversion, the prediction or the comparison's run failed
EXIT_USAGE = 2      # bad command line: unknown option, malformed --input, wrong file kind
EXIT_FILE = 3       # a file to read is missing or unreadable, or the output cannot be written
EXIT_MISMATCH = 4   # compare: an output's error is above --max-rel-error
EXIT_INTERRUPTED = 130

EXIT_CODES = f"""exit status:
  {EXIT_OK}    success
  {EXIT_FAILED}    conversion, prediction or comparison failed (the model cannot be converted or run)
  {EXIT_USAGE}    usage error (unknown option, malformed --input, wrong kind of file)
  {EXIT_FILE}    a file cannot be read (missing model, input array or picture) or the output cannot be written
  {EXIT_MISMATCH}    compare: an output differs from PyTorch by more than --max-rel-error
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
errors print one line, "pt2coreml: error: ..."; --verbose prints the traceback too."""

_DTYPES = {"fp32": np.float32, "float32": np.float32, "fp16": np.float16, "float16": np.float16,
           "int32": np.int32, "int64": np.int64, "bool": np.bool_}
_PICTURES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


class UsageError(Exception):
    """A malformed command line the parser could not catch (exit status 2)."""


class FileProblem(Exception):
    """A file that cannot be read or written (exit status 3)."""


class Mismatch(Exception):
    """compare: outputs differ by more than allowed (exit status 4)."""


# ---- --input specs of convert / compare ----

def _dim(text: str, spec: str):
    import pt2coreml as ct
    m = re.fullmatch(r"(\d+)\.\.(\d*|-1)", text)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2)) if m.group(2) else -1
        if hi != -1 and hi < lo:
            raise UsageError(f"--input {spec!r}: range {text} has its upper bound below its lower bound")
        return ct.RangeDim(lower_bound=lo, upper_bound=hi)
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--input {spec!r}: dim {text!r} is not a positive number or a range like 1..64")
    return int(text)


def _number(text: str, what: str, spec: str) -> float:
    try:
        return float(Fraction(text)) if "/" in text else float(text)  # scale=1/255
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--input {spec!r}: {what}={text!r} is not a number") from None


def parse_input_spec(spec: str):
    """'x:1x3x224x224[:dtype][,image][,scale=S][,bias=B or B1/B2/B3][,color=RGB|BGR|GRAYSCALE]' ->
    ct.TensorType or ct.ImageType."""
    import pt2coreml as ct
    head, *opts = spec.split(",")
    parts = head.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise UsageError(f"--input {spec!r}: expected NAME:DIMS[:DTYPE], e.g. x:1x3x224x224 or ids:1x1..64:int32")
    name, dims_text = parts[0], parts[1]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"--input {spec!r}: the name {name!r} must be an identifier (letters, digits, _)")
    shape = [_dim(d, spec) for d in dims_text.split("x")]
    dtype = None
    if len(parts) == 3:
        if parts[2] not in _DTYPES:
            raise UsageError(f"--input {spec!r}: unknown dtype {parts[2]!r} (one of {', '.join(_DTYPES)})")
        dtype = _DTYPES[parts[2]]
    image, kw = False, {}
    for opt in opts:
        key, eq, val = opt.partition("=")
        if key == "image" and not eq:
            image = True
        elif key == "scale" and eq:
            kw["scale"] = _number(val, "scale", spec)
        elif key == "bias" and eq:
            kw["bias"] = [_number(v, "bias", spec) for v in val.split("/")]
        elif key == "color" and eq:
            if val.upper() not in ct.colorlayout.__members__:
                raise UsageError(f"--input {spec!r}: color={val} is not one of {', '.join(ct.colorlayout.__members__)}")
            kw["color_layout"] = ct.colorlayout[val.upper()]
        else:
            raise UsageError(f"--input {spec!r}: unknown option {opt!r} (image, scale=S, bias=B or B1/B2/B3, "
                             "color=RGB|BGR|GRAYSCALE)")
    if kw and not image:
        raise UsageError(f"--input {spec!r}: {', '.join(sorted(kw))} only apply to image inputs: add ',image'")
    if image:
        if dtype is not None:
            raise UsageError(f"--input {spec!r}: an image input takes no dtype")
        if "bias" in kw and len(kw["bias"]) == 1:
            kw["bias"] = kw["bias"][0]
        try:
            return ct.ImageType(name=name, shape=shape, **kw)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--input {spec!r}: {exc}") from None
    return ct.TensorType(name=name, shape=shape, dtype=dtype)


def _target(text: str):
    import pt2coreml as ct
    for name in ct.target.__members__:
        if name.lower() == text.lower():
            return ct.target[name]
    raise UsageError(f"--target {text!r}: expected one of iOS15, iOS16, iOS17, iOS18 (or macOS12 ... macOS15)")


# ---- files ----

def _check_readable(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise FileProblem(f"{what} '{path}' does not exist")
    if not os.access(path, os.R_OK):
        raise FileProblem(f"{what} '{path}' cannot be read")


def _load_mlmodel(path: str):
    import pt2coreml as ct
    _check_readable(path, "model package")
    if not os.path.isdir(path):
        raise UsageError(f"'{path}' is not an .mlpackage directory")
    return ct.models.MLModel(path)


def _load_torch(path: str):
    _check_readable(path, "TorchScript file")
    if os.path.isdir(path):
        raise UsageError(f"'{path}' is a directory; expected a TorchScript file saved with torch.jit.save")
    import torch
    try:
        return torch.jit.load(path, map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError with pages of C++ context
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"'{path}' is not a TorchScript file saved with torch.jit.save ({first})") from None


def _picture(path: str, feat: Dict[str, Any], name: str):
    from PIL import Image
    try:
        img = Image.open(path)
        img.load()
    except OSError as exc:
        raise FileProblem(f"cannot read the picture '{path}': {exc}") from None
    mode = {10: "L", 40: "F"}.get(feat.get("color_space"), "RGB")
    if img.mode != mode:
        img = img.convert(mode)
    w, h = feat.get("width"), feat.get("height")
    fixed = feat.get("lower", feat.get("shape")) == feat.get("upper", feat.get("shape")) and not feat.get("enumerated")
    if fixed and w and h and img.size != (w, h):
        print(f"pt2coreml: note: {os.path.basename(path)} resized from {img.size[0]}x{img.size[1]} to {w}x{h} "
              f"for input {name!r}", file=sys.stderr)
        img = img.resize((w, h))
    return img


def _read_inputs(items: Sequence[str], feats: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """predict's --input NAME=FILE (.npy array or a picture for image inputs) and --input FILE.npz."""
    data: Dict[str, Any] = {}
    for item in items:
        name, eq, path = item.partition("=")
        if not eq:
            if item.endswith(".npz"):
                _check_readable(item, "input archive")
                with np.load(item) as z:
                    data.update({k: z[k] for k in z.files})
                continue
            raise UsageError(f"--input {item!r}: expected NAME=FILE (a .npy array or a picture) or FILE.npz")
        if name not in feats:
            raise UsageError(f"--input {item!r}: the model has no input {name!r}; its inputs are {list(feats)}")
        _check_readable(path, f"input file for {name!r}")
        if path.lower().endswith(_PICTURES):
            if feats[name].get("kind") != "image":
                raise UsageError(f"--input {item!r}: input {name!r} is an array, not an image; give a .npy file")
            data[name] = _picture(path, feats[name], name)
        elif path.endswith(".npy"):
            try:
                data[name] = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise FileProblem(f"cannot read the array '{path}': {exc}") from None
        else:
            raise UsageError(f"--input {item!r}: give a .npy array or a picture ({', '.join(_PICTURES)})")
    return data


def random_inputs(mlmodel, seed: int = 0, int_high: int = 10) -> Dict[str, np.ndarray]:
    """Seeded random arrays for every input of `mlmodel`, at its default shape: normal floats, ints in
    [0, int_high), random bools; image inputs get pixels 0..255 as the (1, C, H, W) array Core ML feeds."""
    rng = np.random.default_rng(seed)
    out = {}
    for f in mlmodel._desc["inputs"]:
        shape = tuple(int(d) for d in f.get("shape", []))
        dtype = np.dtype(_DTYPES.get(f.get("dtype"), np.float32))
        if f.get("kind") == "image":
            out[f["name"]] = rng.integers(0, 256, size=shape).astype(dtype)
        elif dtype.kind == "f":
            out[f["name"]] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            out[f["name"]] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            out[f["name"]] = rng.integers(0, int_high, size=shape).astype(dtype)
    return out


# ---- output summaries ----

def _summary(name: str, value: Any) -> str:
    if isinstance(value, np.ndarray):
        head = f"{name}: {value.dtype.name} {list(value.shape)}"
        if value.size == 0:
            return head + "  (empty)"
        if value.dtype.kind in "fiub":
            v = value.astype(np.float64)
            fin = v[np.isfinite(v)]
            stats = (f"  min {fin.min():.6g}  max {fin.max():.6g}  mean {fin.mean():.6g}" if fin.size
                     else "  (no finite values)")
            if fin.size != v.size:
                stats += f"  non-finite {v.size - fin.size}"
            if value.size <= 8:
                stats += "  values " + np.array2string(value.reshape(-1), precision=5, separator=", ")
            elif value.ndim >= 1 and value.shape[-1] > 1 and value.dtype.kind == "f":
                stats += f"  argmax(last axis) {np.argmax(value.reshape(-1, value.shape[-1])[0])}"
            return head + stats
        return head
    if isinstance(value, dict):
        top = sorted(value.items(), key=lambda kv: -kv[1])[:5]
        return f"{name}: {len(value)} class probabilities, top " + ", ".join(f"{k!s}: {v:.4f}" for k, v in top)
    if hasattr(value, "mode") and hasattr(value, "size"):  # PIL image
        return f"{name}: image {value.mode} {value.size[0]}x{value.size[1]}"
    return f"{name}: {value!r}"


# ---- subcommands ----

def cmd_convert(args) -> int:
    import pt2coreml as ct
    from ._describe import human_bytes
    from ._log import Progress
    if not args.output_path.endswith(".mlpackage"):
        raise UsageError(f"-o {args.output_path!r}: the output must be an .mlpackage path")
    inputs = [parse_input_spec(s) for s in args.input]
    outputs = [ct.TensorType(name=n) for n in args.output] if args.output else None
    kwargs = {"compute_precision": ct.precision.FLOAT32 if args.precision == "fp32" else ct.precision.FLOAT16}
    if args.target:
        kwargs["minimum_deployment_target"] = _target(args.target)
    from . import _pt2
    if _pt2.is_archive(args.model):  # read by the C core, without torch
        _check_readable(args.model, ".pt2 archive")
        module, inputs = args.model, inputs or None
    elif not inputs:
        raise UsageError("--input is required for a TorchScript model (one per forward argument, e.g. "
                         "-i x:1x3x224x224); only a .pt2 archive may leave it out")
    else:
        module = _load_torch(args.model)
    verbose = not args.quiet
    t0 = time.perf_counter()
    stages = ("reading the model", "preparing the graph", "lowering and passes", "describing", "writing")
    with Progress("pt2coreml: converting", stages, verbose) as progress:
        mlmodel = ct.convert(module, inputs=inputs, outputs=outputs, verbose=verbose, **kwargs)
        progress.stage("writing")
        try:
            mlmodel.save(args.output_path)
        except OSError as exc:
            raise FileProblem(f"cannot write '{args.output_path}': {exc}") from None
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.output_path) for f in fs)
    ops = sum(mlmodel.op_histogram().values())
    print(f"wrote {args.output_path} ({human_bytes(size)}, {ops} ops) in {time.perf_counter() - t0:.2f} s")
    return EXIT_OK


def cmd_inspect(args) -> int:
    from ._describe import as_text, describe
    mlmodel = _load_mlmodel(args.package)
    print(as_text(describe(mlmodel), title=args.package))
    return EXIT_OK


def cmd_predict(args) -> int:
    mlmodel = _load_mlmodel(args.package)
    feats = {f["name"]: f for f in mlmodel._desc["inputs"]}
    data = random_inputs(mlmodel, args.seed) if args.random else {}
    data.update(_read_inputs(args.input, feats))
    missing = [n for n in feats if n not in data and feats[n].get("default_value") is None]
    if missing:
        raise UsageError(f"no value for input(s) {missing}: give --input NAME=FILE for each (the model's inputs: "
                         f"{', '.join(f'{n} ({_type(feats[n])})' for n in feats)}), or --random")
    t0 = time.perf_counter()
    out = mlmodel.predict(data)
    dt = time.perf_counter() - t0
    for name, value in out.items():
        print(_summary(name, value))
    print(f"predict: {dt * 1000:.1f} ms", file=sys.stderr)
    if args.save:
        arrays = {k: np.asarray(v) for k, v in out.items() if not isinstance(v, dict)}
        try:
            np.savez(args.save, **arrays)
        except OSError as exc:
            raise FileProblem(f"cannot write '{args.save}': {exc}") from None
        print(f"saved {', '.join(arrays)} to {args.save}", file=sys.stderr)
    return EXIT_OK


def _type(f):
    from ._describe import feature_type
    return feature_type(f)


def _torch_outputs(result) -> List[Any]:
    """A torch model's result flattened to its tensors, in order (tuples, lists and dict values)."""
    import torch
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, dict):
        result = list(result.values())
    if isinstance(result, (list, tuple)):
        return [t for r in result for t in _torch_outputs(r)]
    return []


def cmd_compare(args) -> int:
    import torch
    module = _load_torch(args.model)
    mlmodel = _load_mlmodel(args.package)
    feats = mlmodel._desc["inputs"]
    specs = {s.name: s for s in (parse_input_spec(x) for x in args.input)}
    images = [f["name"] for f in feats if f.get("kind") == "image" and f["name"] not in specs]
    if images:
        raise UsageError(f"input(s) {images} are images: give --input NAME:DIMS,image,scale=S,bias=B as when "
                         "converting, so that PyTorch gets the preprocessed pixels")
    data = random_inputs(mlmodel, args.seed)
    out = mlmodel.predict(data)
    from ._frontend import forward_signature
    traced = forward_signature(module)
    args_t = []
    for i, f in enumerate(feats):
        x = torch.from_numpy(np.ascontiguousarray(data[f["name"]]))
        spec = specs.get(f["name"])
        if spec is not None and hasattr(spec, "scale"):  # ImageType: Core ML feeds x * scale + bias
            bias = torch.tensor(np.broadcast_to(np.asarray(spec.bias, np.float32), (x.shape[1],)).copy())
            x = x.float() * spec.scale + bias.reshape(1, -1, 1, 1)
            if spec.channel_first is False:
                x = x.permute(0, 2, 3, 1)
        tdtype = traced[i][1] if i < len(traced) else None
        want = {"Long": torch.long, "Int": torch.int32, "Float": torch.float32, "Half": torch.float16,
                "Double": torch.float64, "Bool": torch.bool}.get(tdtype)
        if want is not None:
            x = x.to(want)
        elif x.dtype == torch.int32:
            x = x.long()  # scripted models record no dtype; torch's index arguments are int64
        elif x.dtype == torch.float16:
            x = x.float()
        args_t.append(x)
    with torch.no_grad():
        ref = _torch_outputs(module(*args_t))
    ours = [(n, v) for n, v in out.items() if isinstance(v, np.ndarray)]
    if len(ref) != len(ours):
        raise RuntimeError(f"PyTorch returned {len(ref)} tensor(s) but the package has {len(ours)} array output(s)")
    worst = 0.0
    print(f"{'output':<24} {'shape':<20} {'max abs error':>14} {'max rel error':>14}")
    for (name, ours_v), ref_t in zip(ours, ref):
        r = ref_t.detach().to(torch.float64).numpy() if ref_t.is_floating_point() else ref_t.numpy().astype(np.float64)
        o = ours_v.astype(np.float64)
        if o.shape != r.shape and o.size == r.size:
            o = o.reshape(r.shape)  # a scalar output comes back with shape (1,)
        if o.shape != r.shape:
            raise RuntimeError(f"output {name!r}: shape {list(o.shape)} here, {list(r.shape)} in PyTorch")
        abs_err = float(np.max(np.abs(o - r))) if r.size else 0.0
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        rel = abs_err / scale if scale > 0 else abs_err
        worst = max(worst, rel)
        print(f"{name:<24} {str(list(r.shape)):<20} {abs_err:>14.4g} {rel:>14.4g}")
    print(f"(seed {args.seed}; relative error = max abs error / max |PyTorch output|)", file=sys.stderr)
    if not args.outputs_only:
        _debug_report(module, mlmodel, data, feats, args)
    if args.max_rel_error is not None and worst > args.max_rel_error:
        raise Mismatch(f"max relative error {worst:.4g} is above --max-rel-error {args.max_rel_error:g}")
    return EXIT_OK


def _debug_report(module, mlmodel, data, feats, args) -> None:
    """compare's second part: every intermediate value against PyTorch (pt2coreml.debug), the first op out of
    tolerance with its source line, the worst ops and, for an fp16 program, the ops to keep fp32."""
    from . import debug
    try:
        report = debug.compare(module, mlmodel, {f["name"]: data[f["name"]] for f in feats}, rtol=args.rtol,
                               atol=args.atol)
    except Exception as exc:  # the outputs were compared; say why the intermediate values were not
        print(f"(intermediate values not compared: {_one_line(exc)})", file=sys.stderr)
        return
    print()
    print(report)


# ---- the parser ----

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's usage errors: our one-line format, exit status 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"pt2coreml: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="print the traceback of an error")
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="pt2coreml", formatter_class=fmt, parents=[common],
                description="Convert PyTorch TorchScript models to Core ML packages, look inside them and run them.",
                epilog=EXIT_CODES)
    p.add_argument("--version", action="version", version=f"pt2coreml {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    c = sub.add_parser("convert", parents=[common], formatter_class=fmt, epilog=EXIT_CODES,
                       help="convert a saved TorchScript model or .pt2 archive to an .mlpackage",
                       description="Convert a TorchScript file (torch.jit.save of a traced or scripted model) or a "
                                   ".pt2 archive (torch.export.save; read without torch).")
    c.add_argument("model", metavar="MODEL", help="TorchScript file (.pt) or torch.export archive (.pt2)")
    c.add_argument("--input", "-i", action="append", default=[], metavar="SPEC",
                   help="(required for TorchScript; a .pt2 archive's default to its program's) "
                        "one per forward argument, in order: NAME:DIMS[:DTYPE][,image][,scale=S][,bias=B|B1/B2/B3]"
                        "[,color=RGB|BGR|GRAYSCALE]; DIMS like 1x3x224x224, a dim may be a range 1..64 (1.. for no "
                        "upper bound); DTYPE fp32 (default), fp16, int32, bool")
    c.add_argument("--output", action="append", default=[], metavar="NAME", help="name the outputs, in order")
    c.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="compute precision (default fp16)")
    c.add_argument("--target", metavar="TARGET", help="minimum deployment target: iOS15 (default) ... iOS18")
    c.add_argument("-o", dest="output_path", metavar="OUT", required=True, help="the .mlpackage to write")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_convert)

    i = sub.add_parser("inspect", parents=[common], formatter_class=fmt, epilog=EXIT_CODES,
                       help="describe an .mlpackage: inputs, outputs, metadata, ops, weights")
    i.add_argument("package", metavar="OUT", help="an .mlpackage")
    i.set_defaults(func=cmd_inspect)

    r = sub.add_parser("predict", parents=[common], formatter_class=fmt, epilog=EXIT_CODES,
                       help="run an .mlpackage in the reference runtime")
    r.add_argument("package", metavar="OUT", help="an .mlpackage")
    r.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE",
                   help="an input's value: a .npy array, or a picture for an image input; or FILE.npz for all")
    r.add_argument("--random", action="store_true", help="random values (seeded) for inputs not given")
    r.add_argument("--seed", type=int, default=0, help="seed of --random (default 0)")
    r.add_argument("--save", metavar="FILE.npz", help="save the outputs' arrays")
    r.set_defaults(func=cmd_predict)

    m = sub.add_parser("compare", parents=[common], formatter_class=fmt, epilog=EXIT_CODES,
                       help="run PyTorch and the converted model on the same random inputs and report the errors: "
                            "the outputs, then the first intermediate op out of tolerance, its source line and the "
                            "worst ops (pt2coreml.debug)")
    m.add_argument("model", metavar="MODEL", help="the TorchScript file that was converted")
    m.add_argument("package", metavar="OUT", help="the .mlpackage converted from it")
    m.add_argument("--input", "-i", action="append", default=[], metavar="SPEC",
                   help="the --input SPEC of an image input, as given to convert (scale and bias)")
    m.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    m.add_argument("--max-rel-error", type=float, metavar="E",
                   help=f"exit with status {EXIT_MISMATCH} when an output's max relative error is above E")
    m.add_argument("--rtol", type=float, metavar="R", help="the debugger's relative tolerance per intermediate "
                   "value (default 1e-4 for fp32 programs, 1e-2 for fp16)")
    m.add_argument("--atol", type=float, metavar="A", help="the debugger's absolute tolerance (default 1e-5 / 1e-3)")
    m.add_argument("--outputs-only", action="store_true",
                   help="compare the outputs only, not every intermediate value")
    m.set_defaults(func=cmd_compare)
    return p


def _one_line(exc: BaseException) -> str:
    text = " / ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    return text or type(exc).__name__


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    with warnings.catch_warnings():
        # torch.jit.load's own deprecation notice says nothing about the user's model
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
        warnings.showwarning = _show_warning
        return _run(args, verbose)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"pt2coreml: warning: {_one_line(message)}", file=sys.stderr)


def _run(args, verbose: bool) -> int:
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("pt2coreml: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # one line per error; the traceback with --verbose
        code = (EXIT_USAGE if isinstance(exc, UsageError) else
                EXIT_FILE if isinstance(exc, (FileProblem, FileNotFoundError, PermissionError)) else
                EXIT_MISMATCH if isinstance(exc, Mismatch) else EXIT_FAILED)
        if verbose:
            traceback.print_exc()
        label = "" if isinstance(exc, (UsageError, FileProblem, Mismatch)) else type(exc).__name__ + ": "
        print(f"pt2coreml: error: {label}{_one_line(exc)}", file=sys.stderr)
        return code


def entry_point() -> None:  # [project.scripts]
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry_point()
