"""Writing packages: read coremltools' packages, write them back, and check with
coremltools that the result is the same model: equal description and program
protobufs, a program coremltools rebuilds (re-running type inference on every
op), bit-identical weights, and a weight.bin laid out as MIL blob storage."""
import json
import os
import re
import shutil
import struct

import numpy as np
import pytest

import _ser_models as M
from _pkg_helpers import tree
from pt2coreml import _core

BLOB_CODE = {10: 1, 11: 2, 31: 3, 21: 4, 22: 6, 32: 7, 23: 14, 33: 15}  # MIL dtype -> blob dtype
MIL_ITEMSIZE = {10: 2, 11: 4, 31: 1, 21: 1, 22: 2, 32: 2, 23: 4, 33: 4}


def _save_copy(kind, tmp_path):
    prog, desc = _core.load(M.package(kind))
    out = str(tmp_path / (kind + "_out.mlpackage"))
    prog.save(out, desc)
    return out


def _funcs(spec):
    return spec.mlProgram.functions


def _ops(block):
    for op in block.operations:
        yield op
        for b in op.blocks:
            yield from _ops(b)


def _const_names(spec):
    return {op.outputs[0].name for fn in _funcs(spec).values()
            for op in _ops(fn.block_specializations[fn.opset]) if op.type == "const"}


def _shape(fn):
    """Op types, input parameter names and output types, without value names."""
    return [(op.type, sorted(op.inputs), [o.type for o in op.outputs])
            for op in _ops(fn.block_specializations[fn.opset])]


@pytest.mark.parametrize("kind", M.KINDS)
def test_round_trip_matches_coremltools(kind, tmp_path):
    src = M.package(kind)
    out = _save_copy(kind, tmp_path)
    s_in, s_out = M.spec_of(src), M.spec_of(out)
    assert s_out.specificationVersion == s_in.specificationVersion
    assert s_out.description == s_in.description
    assert s_out.mlProgram.version == 1
    assert set(_funcs(s_out)) == set(_funcs(s_in))
    for name in _funcs(s_in):
        if kind == "loop":
            # the two loop blocks call their inputs alike; we rename one (IR names
            # are unique per function), so compare the program's shape instead
            assert _shape(_funcs(s_out)[name]) == _shape(_funcs(s_in)[name])
        else:
            assert _funcs(s_out)[name] == _funcs(s_in)[name], name
    # coremltools rebuilds our program (type inference on every op) ...
    p_in, p_out = M.mil_program(src), M.mil_program(out)
    # ... and every weight is bit-identical to the original package's
    names = _const_names(s_in)
    a, b = M.const_values(p_in), M.const_values(p_out)
    assert names <= a.keys() and names <= b.keys()
    for n in names:
        assert a[n].dtype == b[n].dtype and a[n].shape == b[n].shape, n
        assert a[n].tobytes() == b[n].tobytes(), n


@pytest.mark.parametrize("kind", ["cnn16", "cnn32", "misc18"])
def test_weight_file_identical_to_coremltools(kind, tmp_path):
    out = _save_copy(kind, tmp_path)
    with open(os.path.join(M.weights_dir(M.package(kind)), "weight.bin"), "rb") as f:
        theirs = f.read()
    with open(os.path.join(M.weights_dir(out), "weight.bin"), "rb") as f:
        ours = f.read()
    assert ours == theirs


def _blob_refs(spec):
    """[(metadata offset, MIL dtype, element count)] of every blob the program uses."""
    refs = []

    def walk(block):
        for op in block.operations:
            for v in op.attributes.values():
                if v.WhichOneof("value") == "blobFileValue":
                    tt = v.type.tensorType
                    n = int(np.prod([d.constant.size for d in tt.dimensions])) if tt.dimensions else 1
                    assert v.blobFileValue.fileName == "@model_path/weights/weight.bin"
                    refs.append((v.blobFileValue.offset, tt.dataType, n))
            for b in op.blocks:
                walk(b)

    for fn in spec.mlProgram.functions.values():
        walk(fn.block_specializations[fn.opset])
    return sorted(refs)


def check_blob_layout(pkg):
    spec = M.spec_of(pkg)
    refs = _blob_refs(spec)
    path = os.path.join(M.weights_dir(pkg), "weight.bin")
    with open(path, "rb") as f:
        data = f.read()
    count, version = struct.unpack_from("<II", data, 0)
    assert (count, version) == (len(refs), 2)
    assert data[8:64] == bytes(56)
    end = 64
    for off, mil_dt, n in refs:
        assert off % 64 == 0 and off >= end and off - end < 64
        assert data[end:off] == bytes(off - end)  # padding is zeros
        sentinel, dt, size, dataoff, pad = struct.unpack_from("<IIQQQ", data, off)
        assert sentinel == 0xDEADBEEF
        assert dt == BLOB_CODE[mil_dt]
        assert size == n * MIL_ITEMSIZE[mil_dt]
        assert dataoff == off + 64 and dataoff % 64 == 0 and pad == 0
        assert data[off + 40:off + 64] == bytes(24)
        end = dataoff + size
    assert end == len(data)
    return refs


@pytest.mark.parametrize("kind", ["cnn16", "cnn32", "image", "misc18"])
def test_blob_layout(kind, tmp_path):
    refs = check_blob_layout(_save_copy(kind, tmp_path))
    assert refs


def test_package_layout_and_manifest(tmp_path):
    out = _save_copy("cnn32", tmp_path)
    assert sorted(os.listdir(out)) == ["Data", "Manifest.json"]
    assert sorted(os.listdir(os.path.join(out, "Data", "com.apple.CoreML"))) == ["model.mlmodel", "weights"]
    with open(os.path.join(out, "Manifest.json")) as f:
        man = json.load(f)
    assert man["fileFormatVersion"] == "1.0.0"
    entries = man["itemInfoEntries"]
    uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    assert len(entries) == 2 and all(uuid.match(k) for k in entries)
    root = entries[man["rootModelIdentifier"]]
    assert root == {"author": "com.apple.CoreML", "description": "CoreML Model Specification",
                    "name": "model.mlmodel", "path": "com.apple.CoreML/model.mlmodel"}
    (w,) = [v for k, v in entries.items() if k != man["rootModelIdentifier"]]
    assert w == {"author": "com.apple.CoreML", "description": "CoreML Model Weights", "name": "weights",
                 "path": "com.apple.CoreML/weights"}
    # no leftovers of the temporary directory
    assert os.listdir(tmp_path) == ["cnn32_out.mlpackage"]


def test_no_blobs_gives_empty_weights_dir(tmp_path):
    """Like coremltools: the weights directory exists, without a weight.bin."""
    out = _save_copy("cond", tmp_path)
    assert os.listdir(M.weights_dir(out)) == []
    assert os.listdir(M.weights_dir(M.package("cond"))) == []
    M.mil_program(out)


CONV16 = """program(CoreML5)
func main(%x: fp32[1,3,8,8]) {
  %dt: string[] = const(val="fp16")
  %xh: fp16[1,3,8,8] = cast(x=%x, dtype=%dt)
  %w: fp16[4,3,1,1] = const(val=[0.1, -0.2, 0.3, 1, 2, 3, 4, 5, 6, 7, 8, 65504])
  %b: fp16[4] = const(val=[0, 1e-07, 0.5, -2])
  %pt: string[] = const(val="valid")
  %st: int32[2] = const(val=[1, 1])
  %pad: int32[4] = const(val=[0, 0, 0, 0])
  %dil: int32[2] = const(val=[1, 1])
  %g: int32[] = const(val=1)
  %y: fp16[1,4,8,8] = conv(x=%xh, weight=%w, bias=%b, pad_type=%pt, strides=%st, pad=%pad, dilations=%dil, groups=%g)
  %z: fp16[1,4,8,8] = relu(x=%y)
  %dt2: string[] = const(val="fp32")
  %out: fp32[1,4,8,8] = cast(x=%z, dtype=%dt2)
} -> (%out)
"""


def test_fp16_weights_from_fp32_payload(tmp_path):
    """The IR parser keeps fp16 constants as fp32 payloads: the writer converts
    them on the way into weight.bin, rounding to nearest even like numpy."""
    vals = np.array([0.1, -0.2, 0.3, 1, 2, 3, 4, 5, 6, 7, 8, 65504], np.float32)
    prog = _core.parse(CONV16)
    out = str(tmp_path / "c16.mlpackage")
    prog.save(out, {})
    check_blob_layout(out)
    consts = M.const_values(M.mil_program(out))
    assert consts["w"].dtype == np.float16
    assert consts["w"].tobytes() == vals.astype(np.float16).reshape(4, 3, 1, 1).tobytes()
    assert consts["b"].tobytes() == np.array([0, 1e-07, 0.5, -2], np.float32).astype(np.float16).tobytes()
    back, desc = _core.load(out)
    assert back.histogram() == prog.histogram() and back.io() == prog.io()
    # a description derived from main when none is given
    assert [(f["name"], f["dtype"], f["shape"]) for f in desc["inputs"]] == [("x", "fp32", [1, 3, 8, 8])]
    assert [(f["name"], f["shape"]) for f in desc["outputs"]] == [("out", [1, 4, 8, 8])]


def test_fp16_io_needs_ios16(tmp_path):
    text = """program(CoreML6)
func main(%x: fp16[4]) {
  %y: fp16[4] = relu(x=%x)
} -> (%y)
"""
    prog = _core.parse(text)
    with pytest.raises(ValueError, match="iOS16"):
        prog.save(str(tmp_path / "a.mlpackage"), {"spec_version": 6})
    assert os.listdir(tmp_path) == []
    prog.save(str(tmp_path / "b.mlpackage"), {"spec_version": 7})
    arr = M.spec_of(str(tmp_path / "b.mlpackage")).description.input[0].type.multiArrayType
    assert arr.dataType == 65552  # FLOAT16


def test_large_fp16_streamed_through_buffer(tmp_path):
    """Enough elements to take several conversion chunks."""
    n = 40000
    rng = np.random.default_rng(0)
    vals = (rng.standard_normal(n) * 100).astype(np.float32)
    body = ", ".join(repr(float(v)) for v in vals)
    text = (f"program(CoreML5)\nfunc main(%x: fp16[{n}]) {{\n"
            f"  %w: fp16[{n}] = const(val=[{body}])\n"
            f"  %y: fp16[{n}] = add(x=%x, y=%w)\n}} -> (%y)\n")
    prog = _core.parse(text)
    out = str(tmp_path / "big.mlpackage")
    prog.save(out, {"spec_version": 7})
    check_blob_layout(out)
    w = M.const_values(M.mil_program(out))["w"]
    assert w.tobytes() == vals.astype(np.float16).tobytes()


def test_ir_features_round_trip(tmp_path):
    """Nested blocks, unknown ops, several functions, every immediate dtype."""
    text = """program(CoreML6)
func main(%x: fp32[2], %n: int32[]) {
  %zero: int32[] = const(val=0)
  %p: bool[] = less(x=%n, y=%zero)
  %r: fp32[2] = cond(pred=%p) {
    block() {
      %t: fp32[2] = relu(x=%x)
    } -> (%t)
    block() {
    } -> (%x)
  }
  (%i: int32[], %acc: fp32[2]) = while_loop(loop_vars=(%p, %r)) {
    block(%i0: int32[], %a0: fp32[2]) {
      %lim: int32[] = const(val=3)
      %c: bool[] = less(x=%i0, y=%lim)
    } -> (%c)
    block(%i1: int32[], %a1: fp32[2]) {
      %a2: fp32[2] = add(x=%a1, y=%r)
    } -> (%i1, %a2)
  }
  () = custom_thing(x=%acc) [name="side"]
  %s: string[2] = const(val=["a \\"q\\"", "tab\\tnl\\n"])
  %h: fp16[3] = const(val=[0.5, nan, 65504])
  %i8: int8[2] = const(val=[-128, 127])
  %u8: uint8[12] = const(val=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255])
  %s8: int8[10] = const(val=[-128, 1, 2, 3, 4, 5, 6, 7, 8, 127])
  %i16: int16[2] = const(val=[-32768, 32767])
  %u16: uint16[2] = const(val=[0, 65535])
  %u32: uint32[2] = const(val=[0, 4294967295])
  %i64: int64[2] = const(val=[-9223372036854775808, 9223372036854775807])
  %u: uint64[1] = const(val=[18446744073709551615])
  %d: fp64[] = const(val=0.1)
  %bb: bool[3] = const(val=[true, false, true])
  %e: fp32[0,3] = const(val=[])
} -> (%acc)
func other<CoreML7>(%q: int32[4]) {
} -> (%q)
"""
    prog = _core.parse(text)
    out = str(tmp_path / "f.mlpackage")
    prog.save(out, {})
    back, _ = _core.load(out)
    assert back.text(-1) == prog.text(-1)
    refs = check_blob_layout(out)
    assert sorted((dt, n) for _, dt, n in refs) == [(21, 10), (31, 12)]  # int8[10], uint8[12]


def test_symbolic_dims_written_as_unknown(tmp_path):
    text = """program(CoreML6)
func main(%x: fp32[s0,6]) {
  %y: fp32[s0,6] = relu(x=%x)
} -> (%y)
"""
    out = str(tmp_path / "s.mlpackage")
    _core.parse(text).save(out, {})
    spec = M.spec_of(out)
    dims = spec.mlProgram.functions["main"].inputs[0].type.tensorType.dimensions
    assert [d.WhichOneof("dimension") for d in dims] == ["unknown", "constant"]
    arr = spec.description.input[0].type.multiArrayType
    assert list(arr.shape) == [1, 6]
    assert [(r.lowerBound, r.upperBound) for r in arr.shapeRange.sizeRanges] == [(1, -1), (6, 6)]
    back, _ = _core.load(out)
    assert back.io()[0] == [("x", ("fp32", (None, 6)))]
    M.mil_program(out)


# ---- atomic save ----

@pytest.fixture
def old_package(tmp_path):
    pkg = str(tmp_path / "model.mlpackage")
    shutil.copytree(M.package("cnn32"), pkg)
    with open(os.path.join(pkg, "marker.txt"), "w") as f:
        f.write("the old package")
    return pkg


def test_save_replaces_existing_package_whole(old_package, tmp_path):
    prog, desc = _core.load(M.package("cnn16"))
    prog.save(old_package, desc)
    assert not os.path.exists(os.path.join(old_package, "marker.txt"))
    assert M.spec_of(old_package).description == M.spec_of(M.package("cnn16")).description
    assert sorted(os.listdir(tmp_path)) == ["model.mlpackage"]


def test_failed_save_keeps_old_package(old_package, tmp_path):
    before = tree(old_package)
    prog, desc = _core.load(M.package("cnn16"))
    bad = dict(desc, inputs=[dict(desc["inputs"][0], name="not_an_input")])
    with pytest.raises(ValueError, match="not_an_input"):
        prog.save(old_package, bad)
    bad = dict(desc, inputs=[dict(desc["inputs"][0], dtype="int64")])  # no Core ML array type
    with pytest.raises(ValueError, match="int64"):
        prog.save(old_package, bad)
    assert tree(old_package) == before
    assert sorted(os.listdir(tmp_path)) == ["model.mlpackage"]  # temp dirs removed


def test_save_into_missing_directory(tmp_path):
    prog, desc = _core.load(M.package("cnn32"))
    with pytest.raises(OSError, match="no_such_dir"):
        prog.save(str(tmp_path / "no_such_dir" / "m.mlpackage"), desc)
    assert os.listdir(tmp_path) == []


def test_save_over_a_file_keeps_it(tmp_path):
    target = tmp_path / "m.mlpackage"
    target.write_bytes(b"precious")
    prog, desc = _core.load(M.package("cnn32"))
    with pytest.raises(OSError, match="not a directory"):
        prog.save(str(target), desc)
    assert target.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["m.mlpackage"]


def test_save_with_trailing_slash(tmp_path):
    prog, desc = _core.load(M.package("cnn32"))
    prog.save(str(tmp_path / "m.mlpackage") + "/", desc)
    assert os.listdir(tmp_path) == ["m.mlpackage"]
    M.mil_program(str(tmp_path / "m.mlpackage"))
