"""What a model is, in words: its inputs and outputs with types and shapes, metadata, op histogram and
weight bytes by dtype. `pt2coreml inspect` prints it as text, MLModel._repr_html_ as an HTML table."""
import html
import os
import shutil
import struct
import tempfile
from typing import Any, Dict, List, Tuple

# MIL blob storage dtype codes (weight.bin metadata records) -> names
_BLOB_DTYPES = {1: "fp16", 2: "fp32", 3: "uint8", 4: "int8", 5: "bf16", 6: "int16", 7: "uint16", 8: "int4",
                9: "uint1", 10: "uint2", 11: "uint4", 12: "uint3", 13: "uint6", 14: "int32", 15: "uint32"}
_SENTINEL = 0xDEADBEEF
_COLOR_SPACES = {10: "GRAYSCALE", 20: "RGB", 30: "BGR", 40: "GRAYSCALE_FLOAT16"}
_WEIGHTS = os.path.join("Data", "com.apple.CoreML", "weights", "weight.bin")


def weight_bytes_by_dtype(weight_bin: str) -> Dict[str, int]:
    """{dtype name: bytes} over the blobs of a weight.bin file (MIL blob storage), in file order of first use."""
    out: Dict[str, int] = {}
    with open(weight_bin, "rb") as f:
        head = f.read(64)
        if len(head) < 64:
            return out
        count = struct.unpack_from("<I", head)[0]
        pos = 64
        for _ in range(count):
            f.seek(pos)
            rec = f.read(64)
            if len(rec) < 24:
                raise ValueError(f"{weight_bin}: truncated blob record at offset {pos}")
            sentinel, code, size, offset = struct.unpack_from("<IIQQ", rec)
            if sentinel != _SENTINEL:
                raise ValueError(f"{weight_bin}: no blob record at offset {pos}")
            name = _BLOB_DTYPES.get(code, f"dtype {code}")
            out[name] = out.get(name, 0) + size
            pos = (offset + size + 63) // 64 * 64
    return out


def _dir_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def package_stats(mlmodel: Any) -> Tuple[Dict[str, int], int]:
    """(weight bytes by dtype, package bytes on disk) of a model: read from its package when it was loaded
    from one, else from a temporary save."""
    path = getattr(mlmodel, "_path", None)
    if path and os.path.isdir(path):
        wb = os.path.join(path, _WEIGHTS)
        return (weight_bytes_by_dtype(wb) if os.path.isfile(wb) else {}), _dir_bytes(path)
    tmp = tempfile.mkdtemp(prefix="pt2coreml-describe-")
    try:
        pkg = os.path.join(tmp, "model.mlpackage")
        mlmodel.save(pkg)
        wb = os.path.join(pkg, _WEIGHTS)
        return (weight_bytes_by_dtype(wb) if os.path.isfile(wb) else {}), _dir_bytes(pkg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _dims(f: Dict[str, Any]) -> str:
    """A feature's shape: fixed dims as numbers, flexible ones as lo..hi (hi '?' when unbounded)."""
    if f.get("enumerated"):
        return " | ".join("[" + ", ".join(str(d) for d in sh) + "]" for sh in f["enumerated"])
    shape = list(f.get("shape", []))
    lower, upper = f.get("lower", shape), f.get("upper", shape)
    dims = []
    for k, d in enumerate(shape):
        lo = lower[k] if k < len(lower) else d
        up = upper[k] if k < len(upper) else d
        if lo == up:
            dims.append(str(up))
        else:
            dims.append(f"{lo}..{up if up >= 0 else '?'}")
    return "[" + ", ".join(dims) + "]"


def feature_type(f: Dict[str, Any]) -> str:
    """One feature's type in words: `fp32 [1, 3, 224, 224]`, `image RGB 224x224`, `string`, `dict`."""
    kind = f.get("kind", "array")
    if kind == "image":
        cs = _COLOR_SPACES.get(f.get("color_space"), "?")
        if f.get("enumerated") or f.get("lower", f.get("shape")) != f.get("upper", f.get("shape")):
            return f"image {cs} {_dims(f)}"
        return f"image {cs} {f.get('width')}x{f.get('height')}"
    if kind in ("array", "state"):
        return f"{'state ' if kind == 'state' else ''}{f.get('dtype', '?')} {_dims(f)}"
    if kind == "dict":
        return f"dict ({'int' if f.get('dict_key_int') else 'string'} -> probability)"
    return kind


def describe(mlmodel: Any) -> Dict[str, Any]:
    """The model's description as plain data: inputs, outputs, states, metadata, op histogram, weights."""
    d = mlmodel._desc
    weights, size = package_stats(mlmodel)

    def feats(key: str) -> List[Dict[str, str]]:
        return [{"name": f["name"], "type": feature_type(f), "description": f.get("short_description", "")}
                for f in d.get(key) or []]

    meta = {k: d.get(k) or "" for k in ("short_description", "author", "license", "version")}
    return {"inputs": feats("inputs"), "outputs": feats("outputs"), "states": feats("states"),
            "spec_version": d.get("spec_version"), "metadata": {k: v for k, v in meta.items() if v},
            "user_defined": dict(d.get("user_defined") or {}), "ops": mlmodel.op_histogram(),
            "weights": weights, "size": size}


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n} B"  # pragma: no cover


def as_text(info: Dict[str, Any], title: str = "") -> str:
    """describe()'s result as the lines `pt2coreml inspect` prints."""
    lines = [title] if title else []
    lines.append(f"specification version {info['spec_version']}, package {human_bytes(info['size'])}")
    for key in ("inputs", "outputs", "states"):
        if info[key] or key != "states":
            lines.append(f"{key}:")
            for f in info[key]:
                desc = f"  ({f['description']})" if f["description"] else ""
                lines.append(f"  {f['name']}: {f['type']}{desc}")
    if info["metadata"] or info["user_defined"]:
        lines.append("metadata:")
        lines += [f"  {k}: {v}" for k, v in info["metadata"].items()]
        lines += [f"  {k}: {v}" for k, v in sorted(info["user_defined"].items())]
    total = sum(info["ops"].values())
    lines.append(f"ops ({total}):")
    lines += [f"  {n:<28} {c}" for n, c in sorted(info["ops"].items(), key=lambda kv: (-kv[1], kv[0]))]
    lines.append(f"weights ({human_bytes(sum(info['weights'].values()))}):")
    lines += [f"  {k:<8} {human_bytes(v)} ({v} bytes)" for k, v in info["weights"].items()] or ["  none"]
    return "\n".join(lines)


def as_html(info: Dict[str, Any]) -> str:
    """describe()'s result as an HTML block for notebooks (MLModel._repr_html_)."""
    e = html.escape

    def table(rows: List[Tuple[str, ...]], head: Tuple[str, ...]) -> str:
        th = "".join(f"<th style='text-align:left'>{e(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{e(str(c))}</td>" for c in r) + "</tr>"
                       for r in rows)
        return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"

    parts = [f"<div class='pt2coreml-mlmodel'><b>MLModel</b> (specification version {e(str(info['spec_version']))}, "
             f"package {e(human_bytes(info['size']))})"]
    for key in ("inputs", "outputs", "states"):
        if info[key]:
            parts.append(f"<p><b>{key.capitalize()}</b></p>")
            parts.append(table([(f["name"], f["type"], f["description"]) for f in info[key]],
                               ("name", "type", "description")))
    meta = list(info["metadata"].items()) + sorted(info["user_defined"].items())
    if meta:
        parts.append("<p><b>Metadata</b></p>" + table(meta, ("key", "value")))
    ops = sorted(info["ops"].items(), key=lambda kv: (-kv[1], kv[0]))
    parts.append(f"<p><b>Ops</b> ({sum(info['ops'].values())})</p>" + table(ops, ("op", "count")))
    w = [(k, human_bytes(v)) for k, v in info["weights"].items()]
    parts.append(f"<p><b>Weights</b> ({e(human_bytes(sum(info['weights'].values())))})</p>" +
                 (table(w, ("dtype", "bytes")) if w else "<p>none</p>"))
    parts.append("</div>")
    return "\n".join(parts)
