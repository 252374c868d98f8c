"""Reading ML Program packages written by coremltools 9.0 into our IR.

Each package is made by coremltools itself (tests/_ser_models.py); what we read
(inputs/outputs, op histogram, description, metadata) is compared with
coremltools' own view of the same spec."""
import collections
import re

import pytest

import _ser_models as M
from pt2coreml import _core

MIL_DTYPE = {1: "bool", 2: "string", 10: "fp16", 11: "fp32", 12: "fp64", 21: "int8", 22: "int16",
             23: "int32", 24: "int64", 31: "uint8", 32: "uint16", 33: "uint32", 34: "uint64"}


def _type_tuple(vt):
    tt = vt.tensorType
    dims = tuple(d.constant.size if d.WhichOneof("dimension") == "constant" else None for d in tt.dimensions)
    return MIL_DTYPE[tt.dataType], dims


def _blocks(fn):
    return fn.block_specializations[fn.opset]


def _walk_ops(block):
    for op in block.operations:
        yield op
        for b in op.blocks:
            yield from _walk_ops(b)


def spec_io(spec):
    fn = spec.mlProgram.functions["main"]
    ins = [(i.name, _type_tuple(i.type)) for i in fn.inputs]
    types = {}
    for op in _walk_ops(_blocks(fn)):
        for o in op.outputs:
            types[o.name] = _type_tuple(o.type)
    outs = [(n, types[n]) for n in _blocks(fn).outputs]
    return ins, outs


def spec_histogram(spec):
    h = collections.Counter()
    for fn in spec.mlProgram.functions.values():
        for op in _walk_ops(_blocks(fn)):
            h[op.type] += 1
    return dict(h)


@pytest.mark.parametrize("kind", M.KINDS)
def test_io_and_histogram_match_coremltools(kind):
    pkg = M.package(kind)
    spec = M.spec_of(pkg)
    prog, desc = _core.load(pkg)
    prog.check()  # the IR checker accepts what we built
    ins, outs = prog.io()
    sins, souts = spec_io(spec)
    assert [(n, (t, tuple(s))) for n, (t, s) in ins] == sins
    assert [(n, (t, tuple(s))) for n, (t, s) in outs] == souts
    assert prog.histogram() == spec_histogram(spec)
    assert desc["spec_version"] == spec.specificationVersion
    assert [f["name"] for f in desc["inputs"]] == [f.name for f in spec.description.input]
    assert [f["name"] for f in desc["outputs"]] == [f.name for f in spec.description.output]


def test_text_of_cnn16():
    prog, _ = _core.load(M.package("cnn16"))
    text = prog.text()
    assert text.startswith("program(CoreML5)\nfunc main(%x: fp32[1,3,8,8])")
    for frag in ("= conv(", "= relu(", "= max_pool(", "= linear(", ": fp16[8,3,3,3] = const(",
                 "= cast(", "-> (%logits)"):
        assert frag in text, frag


@pytest.mark.parametrize("kind", ["cnn32", "loop", "cond", "misc"])
def test_text_round_trips_through_ir_parser(kind):
    prog, _ = _core.load(M.package(kind))
    text = prog.text(-1)
    assert _core.parse(text).text(-1) == text


def test_description_and_metadata():
    _, d = _core.load(M.package("cnn16"))
    assert d["author"] == "pt2coreml tests"
    assert d["license"] == "MIT"
    assert d["short_description"] == "a small CNN"
    assert d["version"] == "1.2.3"
    ud = d["user_defined"]
    assert ud["com.apple.coreml.model.preview.type"] == "imageClassifier"
    assert ud["note"] == "héllo \"quoted\""
    assert ud["com.github.apple.coremltools.version"] == "9.0"
    (x,), (y,) = d["inputs"], d["outputs"]
    assert (x["name"], x["kind"], x["dtype"], x["shape"]) == ("x", "array", "fp32", [1, 3, 8, 8])
    assert x["short_description"] == "an image tensor"
    assert (y["name"], y["dtype"], y["short_description"]) == ("logits", "fp32", "class scores")


def test_image_input():
    prog, d = _core.load(M.package("image"))
    (img,) = d["inputs"]
    assert img["kind"] == "image"
    assert (img["width"], img["height"], img["color_space"]) == (8, 8, 30)  # BGR
    assert img["shape"] == [1, 3, 8, 8]
    # the MIL input stays a plain fp32 tensor; scale and bias are ops at the start
    assert prog.io()[0] == [("img", ("fp32", (1, 3, 8, 8)))]
    text = prog.text(-1)
    assert re.search(r"= mul\([^)]*=%img[,)]", text) and "= add(" in text


def test_flexible_shape():
    prog, d = _core.load(M.package("flex"))
    (x,) = d["inputs"]
    assert x["shape"] == [1, 3, 8, 8] and x["upper"] == [4, 3, 8, 8]
    assert prog.io()[0] == [("x", ("fp32", (None, 3, 8, 8)))]


def test_nested_blocks():
    prog, _ = _core.load(M.package("loop"))
    text = prog.text(-1)
    assert "= while_loop(" in text and text.count("block(") == 2
    # both loop blocks name their inputs alike in the file; our names stay unique
    names = [ln.split("%")[1].split(":")[0] for ln in text.splitlines() if "block(" in ln]
    assert len(names) == 2 and names[0] != names[1]
    prog, _ = _core.load(M.package("cond"))
    assert "= cond(" in prog.text(-1)


def test_bare_model_file_without_weights(tmp_path):
    """A model.mlmodel on its own loads when it needs no weight file."""
    import shutil
    src = M.package("cond")
    dst = tmp_path / "model.mlmodel"
    shutil.copy(f"{src}/Data/com.apple.CoreML/model.mlmodel", dst)
    prog, d = _core.load(str(dst))
    assert prog.histogram() == spec_histogram(M.spec_of(src))


def test_unknown_op_kept_by_type_name(tmp_path):
    import shutil
    pkg = str(tmp_path / "u.mlpackage")
    shutil.copytree(M.package("cnn32"), pkg)
    spec = M.spec_of(pkg)
    ops = spec.mlProgram.functions["main"].block_specializations["CoreML5"].operations
    relu = next(op for op in ops if op.type == "relu")
    relu.type = "my_custom_relu"
    with open(f"{pkg}/Data/com.apple.CoreML/model.mlmodel", "wb") as f:
        f.write(spec.SerializeToString())
    prog, d = _core.load(pkg)
    h = prog.histogram()
    assert h["my_custom_relu"] == 1 and "relu" not in h
    assert "= my_custom_relu(x=" in prog.text()
    out = str(tmp_path / "u2.mlpackage")
    prog.save(out, d)
    ops2 = M.spec_of(out).mlProgram.functions["main"].block_specializations["CoreML5"].operations
    assert [op.type for op in ops2] == [op.type for op in ops]
