"""Corrupt or truncated packages fail with a ValueError naming the problem, never
a crash: protobuf, weight blobs, manifest JSON, types and references."""
import os
import random
import shutil
import struct

import pytest

import _ser_models as M
from pt2coreml import _core


@pytest.fixture
def pkg(tmp_path):
    p = str(tmp_path / "m.mlpackage")
    shutil.copytree(M.package("cnn32"), p)
    return p


def model_file(p):
    return os.path.join(p, "Data", "com.apple.CoreML", "model.mlmodel")


def weight_file(p):
    return os.path.join(p, "Data", "com.apple.CoreML", "weights", "weight.bin")


def patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def truncate(path, n):
    with open(path, "r+b") as f:
        f.truncate(n)


def rewrite_spec(p, edit):
    spec = M.spec_of(p)
    edit(spec)
    with open(model_file(p), "wb") as f:
        f.write(spec.SerializeToString())


def main_ops(spec):
    return spec.mlProgram.functions["main"].block_specializations["CoreML5"].operations


def first_blob_op(spec):
    return next(op for op in main_ops(spec) if op.type == "const" and
                op.attributes["val"].WhichOneof("value") == "blobFileValue")


def load_fails(p, *fragments):
    with pytest.raises(ValueError) as ei:
        _core.load(p)
    msg = str(ei.value)
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


# ---- model.mlmodel ----

def test_truncated_model(pkg):
    size = os.path.getsize(model_file(pkg))
    truncate(model_file(pkg), size // 2)
    load_fails(pkg, "model.mlmodel", "truncated")


def test_empty_model(pkg):
    truncate(model_file(pkg), 0)
    load_fails(pkg, "model.mlmodel", "empty")


def test_every_truncation_fails_cleanly(pkg):
    with open(model_file(pkg), "rb") as f:
        data = f.read()
    for n in range(1, len(data), max(1, len(data) // 150)):
        with open(model_file(pkg), "wb") as f:
            f.write(data[:n])
        try:
            _core.load(pkg)  # a cut on a field boundary may still parse
        except ValueError:
            pass


def test_random_corruption_never_crashes(pkg):
    with open(model_file(pkg), "rb") as f:
        data = f.read()
    rng = random.Random(1234)
    failures = 0
    for _ in range(300):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        with open(model_file(pkg), "wb") as f:
            f.write(bytes(b))
        try:
            _core.load(pkg)
        except ValueError:
            failures += 1
    assert failures > 50


def test_garbage_model(pkg):
    with open(model_file(pkg), "wb") as f:
        f.write(bytes(range(256)) * 4)
    load_fails(pkg, "model.mlmodel")


def test_deeply_nested_message(tmp_path):
    def ld(field, payload):  # a length-delimited field
        tag = bytes([(field << 3) | 2]) if field < 16 else _varint((field << 3) | 2)
        return tag + _varint(len(payload)) + payload

    vt = b""
    for _ in range(5000):  # ValueType.listType -> ListType.type -> ValueType ...
        vt = ld(2, ld(1, vt))
    nvt = ld(1, b"x") + ld(2, vt)
    fn = ld(1, nvt)
    prog = _varint(1 << 3) + b"\x01" + ld(2, ld(1, b"main") + ld(2, fn))
    model = _varint(1 << 3) + b"\x06" + ld(502, prog)
    p = tmp_path / "deep.mlmodel"
    p.write_bytes(model)
    with pytest.raises(ValueError, match="nested deeper"):
        _core.load(str(p))


def _varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def test_not_an_ml_program(tmp_path):
    spec = M.spec_of(M.package("cnn32"))
    spec.ClearField("mlProgram")
    spec.neuralNetwork.SetInParent()
    p = tmp_path / "nn.mlmodel"
    p.write_bytes(spec.SerializeToString())
    with pytest.raises(ValueError, match="neuralNetwork model, not an ML Program"):
        _core.load(str(p))


def test_unknown_dtype_code(pkg):
    def edit(spec):
        relu = next(op for op in main_ops(spec) if op.type == "relu")
        relu.outputs[0].type.tensorType.dataType = 99
    rewrite_spec(pkg, edit)
    load_fails(pkg, "unknown data type code 99", "relu")


def test_unsupported_dtype(pkg):
    def edit(spec):
        relu = next(op for op in main_ops(spec) if op.type == "relu")
        relu.outputs[0].type.tensorType.dataType = 25  # int4
    rewrite_spec(pkg, edit)
    load_fails(pkg, "int4")


def test_const_dtype_mismatch(pkg):
    def edit(spec):
        op = next(op for op in main_ops(spec) if op.type == "const" and
                  op.attributes["val"].immediateValue.tensor.WhichOneof("value") == "ints")
        for t in (op.outputs[0].type, op.attributes["val"].type):
            t.tensorType.dataType = 11  # fp32, while the values are ints
    rewrite_spec(pkg, edit)
    load_fails(pkg, "dtype mismatch")


def test_const_type_differs_from_output(pkg):
    def edit(spec):
        op = first_blob_op(spec)
        op.outputs[0].type.tensorType.dataType = 10  # fp16, the value says fp32
    rewrite_spec(pkg, edit)
    load_fails(pkg, "mismatch")


def test_const_value_count_mismatch(pkg):
    def edit(spec):
        op = next(op for op in main_ops(spec) if op.type == "const" and
                  op.attributes["val"].immediateValue.tensor.WhichOneof("value") == "ints" and
                  len(op.attributes["val"].immediateValue.tensor.ints.values) > 1)
        op.attributes["val"].immediateValue.tensor.ints.values.append(7)
    rewrite_spec(pkg, edit)
    load_fails(pkg, "values, its type has")


def test_unknown_value_reference(pkg):
    def edit(spec):
        relu = next(op for op in main_ops(spec) if op.type == "relu")
        relu.inputs["x"].arguments[0].name = "nowhere"
    rewrite_spec(pkg, edit)
    load_fails(pkg, "unknown value 'nowhere'")


def test_output_shape_whose_element_count_overflows(pkg):
    def edit(spec):
        relu = next(op for op in main_ops(spec) if op.type == "relu")
        dims = relu.outputs[0].type.tensorType.dimensions
        for d in dims:
            d.constant.size = 1 << 40
    rewrite_spec(pkg, edit)
    load_fails(pkg, "absurdly large shape")


def test_missing_block_for_opset(pkg):
    def edit(spec):
        spec.mlProgram.functions["main"].opset = "CoreML9"
    rewrite_spec(pkg, edit)
    load_fails(pkg, "no block for its opset CoreML9")


def test_weight_file_outside_model(pkg):
    def edit(spec):
        first_blob_op(spec).attributes["val"].blobFileValue.fileName = "@model_path/../../../etc/passwd"
    rewrite_spec(pkg, edit)
    load_fails(pkg, "outside the model")


# ---- weight.bin ----

def test_truncated_weights(pkg):
    size = os.path.getsize(weight_file(pkg))
    truncate(weight_file(pkg), size - 100)
    load_fails(pkg, "weight.bin", "outside the file")


def test_weights_shorter_than_header(pkg):
    truncate(weight_file(pkg), 20)
    load_fails(pkg, "weight.bin", "truncated weight file")


def test_missing_weights(pkg):
    os.remove(weight_file(pkg))
    load_fails(pkg, "weight.bin")


def test_wrong_blob_offset(pkg):
    def edit(spec):
        first_blob_op(spec).attributes["val"].blobFileValue.offset = 10 ** 9
    rewrite_spec(pkg, edit)
    load_fails(pkg, "weight.bin", "offset 1000000000 is out of range")


def test_blob_offset_not_at_a_record(pkg):
    def edit(spec):
        first_blob_op(spec).attributes["val"].blobFileValue.offset += 8
    rewrite_spec(pkg, edit)
    load_fails(pkg, "bad sentinel")


def test_bad_sentinel(pkg):
    patch(weight_file(pkg), 64, struct.pack("<I", 0xCAFEBABE))
    load_fails(pkg, "weight.bin", "bad sentinel 0xCAFEBABE")


def test_blob_dtype_mismatch(pkg):
    patch(weight_file(pkg), 68, struct.pack("<I", 1))  # says fp16, the const is fp32
    load_fails(pkg, "holds fp16 data", "the const is fp32")


def test_blob_size_mismatch(pkg):
    (size,) = struct.unpack_from("<Q", open(weight_file(pkg), "rb").read(), 72)
    patch(weight_file(pkg), 72, struct.pack("<Q", size + 4))
    load_fails(pkg, "holds %d bytes" % (size + 4))


def test_blob_data_offset_out_of_range(pkg):
    patch(weight_file(pkg), 80, struct.pack("<Q", 2 ** 62))
    load_fails(pkg, "lies outside the file")


def test_blob_storage_version(pkg):
    patch(weight_file(pkg), 4, struct.pack("<I", 3))
    load_fails(pkg, "version 3, expected 2")


# ---- Manifest.json ----

def manifest(p):
    return os.path.join(p, "Manifest.json")


def test_missing_manifest(pkg):
    os.remove(manifest(pkg))
    load_fails(pkg, "Manifest.json is missing")


@pytest.mark.parametrize("text,problem", [
    ('{"fileFormatVersion": "1.0.0",', "unterminated object"),
    ('{"a": 1,}', "object key"),
    ('{"a": "\\x"}', "bad escape"),
    ('{"a": "\\ud800"}', "lone high surrogate"),
    ('{"a": 1} x', "trailing characters"),
    ('{"a": 01}', "',' or '}' expected"),
    ('{"a": 1, "a": 2}', "duplicate object key"),
    ('{"a": "\x01"}', "control character"),
    ('[' * 100, "nesting too deep"),
    ('', "unexpected end"),
])
def test_bad_manifest_json(pkg, text, problem):
    with open(manifest(pkg), "w") as f:
        f.write(text)
    msg = load_fails(pkg, "Manifest.json", "bad JSON at line", problem)
    assert "column" in msg


def _edit_manifest(p, edit):
    import json
    with open(manifest(p)) as f:
        m = json.load(f)
    edit(m)
    with open(manifest(p), "w") as f:
        json.dump(m, f)


def test_manifest_newer_version(pkg):
    _edit_manifest(pkg, lambda m: m.update(fileFormatVersion="2.0.0"))
    load_fails(pkg, "newer")


def test_manifest_unknown_root(pkg):
    _edit_manifest(pkg, lambda m: m.update(rootModelIdentifier="nope"))
    load_fails(pkg, "rootModelIdentifier 'nope'")


def test_manifest_path_escapes(pkg):
    def edit(m):
        m["itemInfoEntries"][m["rootModelIdentifier"]]["path"] = "../../model.mlmodel"
    _edit_manifest(pkg, edit)
    load_fails(pkg, "leaves the package")


def test_manifest_unicode_escapes_ok(pkg):
    """Valid JSON with escapes and surrogate pairs is read (strict, not fussy)."""
    with open(manifest(pkg)) as f:
        text = f.read()
    text = text.replace('"fileFormatVersion"', '"extra": ["\\ud83d\\ude00", "\\u00e9\\n", -1.5e3, true, null],\n'
                        '    "fileFormatVersion"')
    with open(manifest(pkg), "w") as f:
        f.write(text)
    _core.load(pkg)


def test_missing_package():
    with pytest.raises(ValueError, match="cannot open model"):
        _core.load("/nonexistent/path/m.mlpackage")
