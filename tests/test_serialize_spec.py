"""get_spec() / _core.read_spec: the Model protobuf of a package as a read-only message that answers as Apple's
protobuf objects do. Code of the kind written against coremltools' spec objects runs on ours and on
coremltools' own message parsed from the same bytes (`Model_pb2.Model.FromString`), and the results are compared;
the whole tree is compared field by field (ListFields, WhichOneof, HasField), and SerializeToString() gives the
bytes of model.mlmodel."""
import math
import os

import numpy as np
import pytest
import torch

import _ser_models as M
import pt2coreml
from pt2coreml import _core


def _model_file(pkg):
    return os.path.join(pkg, "Data", "com.apple.CoreML", "model.mlmodel")


def _theirs(pkg):
    M.ct()
    from coremltools.proto import Model_pb2
    with open(_model_file(pkg), "rb") as f:
        return Model_pb2.Model.FromString(f.read())


def _is_map(fd):
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def check(ours, theirs, path="spec"):
    """ours holds exactly what coremltools' message holds, asked the way protobuf is asked."""
    known = {fd.name: fd.number for fd in theirs.DESCRIPTOR.fields}
    assert all(known.get(fd.name) == fd.number for fd in ours.DESCRIPTOR.fields), path  # our schema: a subset
    got = [(fd.name, fd.number) for fd, _ in ours.ListFields()]
    want = [(fd.name, fd.number) for fd, _ in theirs.ListFields()]
    assert got == want, path
    for name in theirs.DESCRIPTOR.oneofs_by_name:
        assert ours.WhichOneof(name) == theirs.WhichOneof(name), f"{path}.WhichOneof({name!r})"
        assert ours.HasField(name) == theirs.HasField(name), path
    for (fd, a), (tfd, b) in zip(ours.ListFields(), theirs.ListFields()):
        where = f"{path}.{fd.name}"
        assert getattr(ours, fd.name) is a, where  # one object per field, as protobuf gives
        assert fd.type == tfd.type and fd.cpp_type == tfd.cpp_type and fd.is_repeated == tfd.is_repeated, where
        assert (fd.containing_oneof and fd.containing_oneof.name) == (tfd.containing_oneof and tfd.containing_oneof.name)
        if _is_map(tfd):
            assert sorted(a) == sorted(b) and len(a) == len(b), where
            for k in b:
                if tfd.message_type.fields_by_name["value"].message_type is not None:
                    check(a[k], b[k], f"{where}[{k!r}]")
                else:
                    assert a[k] == b[k], where
        elif tfd.is_repeated:
            assert len(a) == len(b), where
            if tfd.message_type is not None:
                for i in range(len(b)):
                    check(a[i], b[i], f"{where}[{i}]")
            else:
                assert list(a) == list(b) and a == list(b), where
                for x, y in zip(a, b):
                    _eq(x, y, where)
        elif tfd.message_type is not None:
            assert ours.HasField(fd.name) and theirs.HasField(fd.name), where
            check(a, b, where)
        else:
            _eq(a, b, where)


def _eq(a, b, where):
    if isinstance(b, float) and math.isnan(b):
        assert math.isnan(a), where
    else:
        assert a == b and type(a) is type(b), (where, a, b)


# Spec-reading code as it is written against coremltools (each is evaluated with `spec` bound to one message).
SNIPPETS = [
    'spec.WhichOneof("Type")',
    "spec.specificationVersion",
    "spec.isUpdatable",
    '[f.name for f, _ in spec.ListFields()]',
    '[(f.name, f.number, f.type, f.is_repeated, f.has_presence) for f, _ in spec.description.ListFields()]',
    'spec.HasField("description"), spec.HasField("mlProgram"), spec.HasField("Type"), "mlProgram" in spec',
    'spec.description.HasField("metadata")',
    "[i.name for i in spec.description.input]",
    "[o.name for o in spec.description.output]",
    "[i.shortDescription for i in spec.description.input]",
    '[i.type.WhichOneof("Type") for i in spec.description.input]',
    '[(i.type.multiArrayType.dataType, list(i.type.multiArrayType.shape)) for i in spec.description.input]',
    "[i.type.multiArrayType.shape == list(i.type.multiArrayType.shape) for i in spec.description.input]",
    '[i.type.multiArrayType.WhichOneof("ShapeFlexibility") for i in spec.description.input]',
    "[[(r.lowerBound, r.upperBound) for r in i.type.multiArrayType.shapeRange.sizeRanges] for i in spec.description.input]",
    "[(i.type.imageType.width, i.type.imageType.height, i.type.imageType.colorSpace) for i in spec.description.input]",
    '[i.type.HasField("imageType") for i in spec.description.input]',
    "[len(o.type.multiArrayType.shape) for o in spec.description.output]",
    "spec.description.input[-1].name, spec.description.output[0:1][0].name, len(spec.description.input)",
    "spec.description.predictedFeatureName, spec.description.predictedProbabilitiesName",
    "dict(spec.description.metadata.userDefined)",
    'spec.description.metadata.userDefined.get("com.github.apple.coremltools.source_dialect")',
    "(spec.description.metadata.author, spec.description.metadata.license, spec.description.metadata.shortDescription,"
    " spec.description.metadata.versionString)",
    "spec.mlProgram.version, sorted(spec.mlProgram.functions)",
    '[(name, f.opset, sorted(f.block_specializations)) for name, f in spec.mlProgram.functions.items()]',
    '[[(v.name, v.type.WhichOneof("type"), v.type.tensorType.dataType, v.type.tensorType.rank,'
    ' [d.WhichOneof("dimension") for d in v.type.tensorType.dimensions]) for v in f.inputs]'
    " for f in spec.mlProgram.functions.values()]",
    "[op.type for f in spec.mlProgram.functions.values() for b in f.block_specializations.values() for op in b.operations]",
    "[sorted(op.inputs) for b in spec.mlProgram.functions['main'].block_specializations.values() for op in b.operations]",
    "[[(a.WhichOneof('binding'), a.name) for k in sorted(op.inputs) for a in op.inputs[k].arguments]"
    " for b in spec.mlProgram.functions['main'].block_specializations.values() for op in b.operations]",
    "[(op.attributes['val'].WhichOneof('value'), op.attributes['val'].immediateValue.WhichOneof('value'),"
    "  op.attributes['val'].immediateValue.tensor.WhichOneof('value'), op.attributes['val'].blobFileValue.offset)"
    " for b in spec.mlProgram.functions['main'].block_specializations.values() for op in b.operations"
    " if op.type == 'const']",
    "[list(op.attributes['val'].immediateValue.tensor.ints.values) + list(op.attributes['val'].immediateValue.tensor.floats.values)"
    " for b in spec.mlProgram.functions['main'].block_specializations.values() for op in b.operations if op.type == 'const']",
    "[(len(op.blocks), [list(bb.outputs) for bb in op.blocks])"
    " for b in spec.mlProgram.functions['main'].block_specializations.values() for op in b.operations]",
    "[list(b.outputs) for b in spec.mlProgram.functions['main'].block_specializations.values()]",
    "len(spec.SerializeToString())",
    "spec.ByteSize()",
    "spec.description.SerializeToString() == spec.description.SerializeToString()",
    "[i.SerializeToString() for i in spec.description.input]",
    "str(spec.description.input[0]), str(spec.description.output[-1])",
    "spec.description.input[0].type.multiArrayType.shape[-1:] if len(spec.description.input[0].type.multiArrayType.shape) else []",
    "spec.DESCRIPTOR.name, spec.description.DESCRIPTOR.name, spec.mlProgram.DESCRIPTOR.name",
    "spec.DESCRIPTOR.fields_by_name['description'].message_type.name",
    "spec.mlProgram.functions['main'].block_specializations is spec.mlProgram.functions['main'].block_specializations",
    # errors, as protobuf raises them
    'spec.HasField("specificationVersion")',
    'spec.description.HasField("input")',
    'spec.HasField("nope")',
    'spec.WhichOneof("nope")',
    "spec.nope",
    "spec.description.input[99]",
    "spec.description.metadata.userDefined['no such key']",
]


def _run(snippet, spec):
    try:
        return "ok", eval(snippet, {"spec": spec})
    except Exception as e:  # the exception type is part of the behaviour compared
        return "raised", type(e).__name__


def _our_packages(tmp_path_factory):
    """Packages pt2coreml writes: a classifier with an image input and metadata, a RangeDim input."""
    out = tmp_path_factory.mktemp("ours")
    torch.manual_seed(0)
    m = M.torch_model("cnn16")
    x = torch.randn(1, 3, 8, 8)
    labels = [f"c{i}" for i in range(10)]
    img = pt2coreml.convert(torch.jit.trace(m, x), inputs=[pt2coreml.ImageType(name="img", shape=(1, 3, 8, 8),
                                                                                  scale=1 / 255.0)],
                            classifier_config=pt2coreml.ClassifierConfig(labels), verbose=False)
    img.author, img.short_description = "tests", "a CNN \"classifier\" é"
    img.user_defined_metadata["b"], img.user_defined_metadata["a"] = "2", "1"
    flex = pt2coreml.convert(torch.jit.trace(m, x),
                             inputs=[pt2coreml.TensorType(name="x", shape=(pt2coreml.RangeDim(1, 4), 3, 8, 8))],
                             compute_precision=pt2coreml.precision.FLOAT32, verbose=False)
    paths = []
    for name, mm in (("img", img), ("flex", flex)):
        p = str(out / f"{name}.mlpackage")
        mm.save(p)
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    M.ct()
    return [M.package(k) for k in M.KINDS] + _our_packages(tmp_path_factory)


def test_spec_matches_coremltools_field_by_field(packages):
    for pkg in packages:
        ours, theirs = _core.read_spec(pkg), _theirs(pkg)
        check(ours, theirs, os.path.basename(pkg))
        with open(_model_file(pkg), "rb") as f:
            assert ours.SerializeToString() == f.read()  # the real bytes of model.mlmodel
        assert type(theirs.description).FromString(ours.description.SerializeToString()) == theirs.description


def test_coremltools_spec_reading_code_runs_unchanged(packages):
    for pkg in packages:
        ours, theirs = _core.read_spec(pkg), _theirs(pkg)
        for snippet in SNIPPETS:
            assert _run(snippet, ours) == _run(snippet, theirs), (os.path.basename(pkg), snippet)


def test_text_format_reads_back(packages):
    """str(spec) is protobuf's text format: coremltools' parser reads ours back into the same message."""
    from google.protobuf import text_format
    for pkg in packages:
        ours, theirs = _core.read_spec(pkg), _theirs(pkg)
        assert text_format.Parse(str(ours), type(theirs)()) == theirs, pkg
        for a, b in zip(ours.description.input, theirs.description.input):
            assert str(a) == str(b)


def test_coremltools_utils_take_our_spec(packages, tmp_path):
    ct = M.ct()
    from coremltools.models import utils
    pkg = packages[0]
    ours, theirs = _core.read_spec(pkg), _theirs(pkg)
    assert utils._get_input_names(ours) == utils._get_input_names(theirs)
    assert utils._get_feature(ours, "logits").name == "logits"
    assert utils._get_nn_layers(ours) == utils._get_nn_layers(theirs) == []
    assert utils._has_custom_layer(ours) == utils._has_custom_layer(theirs)
    out = str(tmp_path / "saved.mlpackage")
    utils.save_spec(ours, out, weights_dir=M.weights_dir(pkg))
    again = ct.models.MLModel(out, skip_model_load=True).get_spec()
    assert again == theirs


def test_spec_paths_and_defaults():
    s = _core.read_spec(M.package("cnn16"))
    assert s.specificationVersion == 6 and s.WhichOneof("Type") == "mlProgram"
    x = s.description.input[0]
    assert x.name == "x" and x.shortDescription == "an image tensor"
    assert list(x.type.multiArrayType.shape) == [1, 3, 8, 8] and x.type.multiArrayType.shape == [1, 3, 8, 8]
    assert x.type.multiArrayType.dataType == 65568  # FLOAT32: enums read as ints
    assert s.description.metadata.userDefined["note"] == "héllo \"quoted\""
    main = s.mlProgram.functions["main"]
    ops = main.block_specializations["CoreML5"].operations
    conv = next(op for op in ops if op.type == "conv")
    assert set(conv.inputs) >= {"x", "weight", "strides", "pad_type"}
    w = next(op for op in ops if op.outputs[0].name == conv.inputs["weight"].arguments[0].name)
    val = w.attributes["val"]
    assert val.WhichOneof("value") == "blobFileValue" and val.blobFileValue.offset % 64 == 0
    assert not val.HasField("immediateValue") and val.immediateValue.tensor.floats.values == []  # unset: defaults
    assert x.type.imageType.width == 0 and not x.type.HasField("imageType")
    fd = s.DESCRIPTOR.fields_by_name["description"]
    assert fd.type == fd.TYPE_MESSAGE and fd.number == 2 and fd.message_type.name == "ModelDescription"
    kinds = [f.name for f in s.DESCRIPTOR.oneofs_by_name["Type"].fields]
    assert "mlProgram" in kinds and "neuralNetwork" in kinds and "pipeline" in kinds
    assert s.mlProgram.DESCRIPTOR.fields_by_name["functions"].is_repeated
    import copy
    assert copy.deepcopy(s) is s and copy.copy(s.description) is s.description  # immutable: its own copy
    listed = dict(s.description.ListFields())
    fields = s.description.DESCRIPTOR.fields_by_name
    assert set(listed) == {fields["input"], fields["output"], fields["metadata"]}  # descriptors compare equal
    assert fields["input"] != fields["output"] and fields["input"].containing_type == s.description.DESCRIPTOR
    assert x.type.DESCRIPTOR.fields_by_name["imageType"].containing_oneof == \
        x.type.DESCRIPTOR.fields_by_name["multiArrayType"].containing_oneof
    with pytest.raises(AttributeError, match="read-only"):
        s.specificationVersion = 7
    with pytest.raises(TypeError):
        s.description.metadata.userDefined["x"] = "y"
    with pytest.raises(TypeError):
        hash(s)


def test_get_spec_of_a_converted_model_without_coremltools(tmp_path):
    """MLModel.get_spec() needs neither coremltools nor protobuf (the C schema reads it)."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()
    mm = pt2coreml.convert(torch.jit.trace(m, torch.rand(2, 4)), inputs=[pt2coreml.TensorType(name="x", shape=(2, 4))],
                           verbose=False)
    mm.user_defined_metadata["k"] = "v"
    spec = mm.get_spec()
    assert spec.WhichOneof("Type") == "mlProgram" and spec.specificationVersion == 6
    assert [i.name for i in spec.description.input] == ["x"]
    assert spec.description.input[0].type.WhichOneof("Type") == "multiArrayType"
    assert list(spec.description.input[0].type.multiArrayType.shape) == [2, 4]
    assert spec.description.metadata.userDefined["k"] == "v"
    ops = [op.type for op in spec.mlProgram.functions["main"].block_specializations["CoreML5"].operations]
    assert "linear" in ops and "relu" in ops
    path = str(tmp_path / "m.mlpackage")
    mm.save(path)
    with open(_model_file(path), "rb") as f:
        assert pt2coreml.models.MLModel(path).get_spec().SerializeToString() == f.read()
    text = str(spec)
    assert text.startswith("specificationVersion: 6\ndescription {\n  input {\n    name: \"x\"\n")
    assert '    userDefined {\n      key: "k"\n      value: "v"\n    }\n' in text
    out = mm.predict({"x": np.ones((2, 4), np.float32)})
    assert set(out) == {o.name for o in spec.description.output}


def test_read_spec_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot open model"):
        _core.read_spec(str(tmp_path / "missing.mlpackage"))
    bad = tmp_path / "bad.mlmodel"
    bad.write_bytes(b"\x0a\xff\xff")
    with pytest.raises(ValueError, match="truncated"):
        _core.read_spec(str(bad))
