"""_core.read_spec: the Model protobuf of a package as nested dicts/lists with
Apple's field names, checked field by field against coremltools' own parse."""
import math

import pytest

import _ser_models as M
from pt2coreml import _core


def _is_map(fd):
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _repeated(fd):
    if hasattr(fd, "is_repeated"):
        return fd.is_repeated
    return fd.label == fd.LABEL_REPEATED


def check(ours, msg, path="spec"):
    """ours (dict from read_spec) holds exactly what the protobuf message holds."""
    assert isinstance(ours, dict), path
    set_fields = {fd.name for fd, _ in msg.ListFields()}
    missing = set_fields - set(ours)
    assert not missing, f"{path}: fields set in the file but absent from read_spec: {missing}"
    for key, val in ours.items():
        fd = msg.DESCRIPTOR.fields_by_name[key]  # our names are Apple's
        theirs = getattr(msg, key)
        where = f"{path}.{key}"
        if _is_map(fd):
            assert set(val) == set(theirs.keys()), where
            vfd = fd.message_type.fields_by_name["value"]
            for k in val:
                if vfd.message_type is not None:
                    check(val[k], theirs[k], f"{where}[{k!r}]")
                else:
                    assert val[k] == theirs[k], where
        elif _repeated(fd):
            assert len(val) == len(theirs), where
            for i, (a, b) in enumerate(zip(val, theirs)):
                if fd.message_type is not None:
                    check(a, b, f"{where}[{i}]")
                else:
                    _eq(a, b, f"{where}[{i}]")
        elif fd.message_type is not None:
            assert msg.HasField(key), where
            check(val, theirs, where)
        else:
            if fd.containing_oneof is not None:
                assert msg.WhichOneof(fd.containing_oneof.name) == key, where
            _eq(val, theirs, where)


def _eq(a, b, where):
    if isinstance(b, float) and math.isnan(b):
        assert math.isnan(a), where
    else:
        assert a == b and type(a) is type(b), (where, a, b)


@pytest.mark.parametrize("kind", M.KINDS)
def test_read_spec_matches_coremltools(kind):
    pkg = M.package(kind)
    spec = M.spec_of(pkg)
    ours = _core.read_spec(pkg)
    check(ours, spec)


def test_read_spec_paths():
    s = _core.read_spec(M.package("cnn16"))
    assert s["specificationVersion"] == 6
    x = s["description"]["input"][0]
    assert x["name"] == "x" and x["shortDescription"] == "an image tensor"
    assert x["type"]["multiArrayType"]["shape"] == [1, 3, 8, 8]
    assert x["type"]["multiArrayType"]["dataType"] == 65568  # FLOAT32, enums as ints
    assert s["description"]["metadata"]["userDefined"]["note"] == "héllo \"quoted\""
    assert s["description"]["metadata"]["author"] == "pt2coreml tests"
    main = s["mlProgram"]["functions"]["main"]
    assert main["opset"] == "CoreML5"
    ops = main["block_specializations"]["CoreML5"]["operations"]
    conv = next(op for op in ops if op["type"] == "conv")
    assert set(conv["inputs"]) >= {"x", "weight", "strides", "pad_type"}
    assert conv["outputs"][0]["type"]["tensorType"]["dataType"] == 10  # FLOAT16
    w = next(op for op in ops if op["outputs"][0]["name"] == conv["inputs"]["weight"]["arguments"][0]["name"])
    blob = w["attributes"]["val"]["blobFileValue"]
    assert blob["fileName"] == "@model_path/weights/weight.bin" and blob["offset"] % 64 == 0
    assert "immediateValue" not in w["attributes"]["val"]


def test_read_spec_of_our_own_package(tmp_path):
    prog, desc = _core.load(M.package("image"))
    out = str(tmp_path / "o.mlpackage")
    prog.save(out, desc)
    ours = _core.read_spec(out)
    check(ours, M.spec_of(out))
    assert ours["description"]["input"][0]["type"]["imageType"]["colorSpace"] == 30


def test_read_spec_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot open model"):
        _core.read_spec(str(tmp_path / "missing.mlpackage"))
    bad = tmp_path / "bad.mlmodel"
    bad.write_bytes(b"\x0a\xff\xff")
    with pytest.raises(ValueError, match="truncated"):
        _core.read_spec(str(bad))
