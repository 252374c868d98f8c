"""Bad names, shapes and numbers get a clear exception naming them: invalid UTF-8 or a NUL in a
string of model.mlmodel is a ValueError naming the file and the field (not a bare
UnicodeDecodeError, nor a name silently cut short), a NUL in a name given from Python is refused,
shapes that int64 cannot hold and non-finite image scale / bias are refused where they are declared."""
import math
import os

import pytest
import torch

import pt2coreml as ct
from pt2coreml import _core

from _pkg_helpers import package_fixtures

X = torch.randn(1, 3, 8, 8)
IN, OUT = "inp_\u00e9", "out_\u00e9"  # 'é' is c3 a9 in UTF-8; c3 28 is invalid


def _converted(**kw):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval()
    return ct.convert(torch.jit.trace(m, X), inputs=[ct.TensorType(name=IN, shape=X.shape)],
                      outputs=[ct.TensorType(name=OUT)], **kw)


saved, pkg = package_fixtures(_converted)


def _model_file(p):
    return os.path.join(p, "Data", "com.apple.CoreML", "model.mlmodel")


def _patch_name(p, name, bad, which):
    """Replace the UTF-8 of `name` by `bad` (same length) at occurrence `which` (None: all)."""
    f = _model_file(p)
    data = open(f, "rb").read()
    old = name.encode()
    assert len(bad) == len(old)
    starts = [i for i in range(len(data)) if data.startswith(old, i)]
    assert starts, name
    for i in starts if which is None else [starts[which]]:
        data = data[:i] + bad + data[i + len(old):]
    with open(f, "wb") as fh:
        fh.write(data)
    return f


@pytest.mark.parametrize("name", [IN, OUT])
@pytest.mark.parametrize("which", [None, 0, -1], ids=["everywhere", "first", "last"])
def test_invalid_utf8_name_in_model_file(pkg, name, which):
    f = _patch_name(pkg, name, name[:4].encode() + b"\xc3\x28", which)
    for load in (_core.load, _core.read_spec, ct.models.MLModel):
        with pytest.raises(ValueError) as ei:
            load(pkg)
        msg = str(ei.value)
        assert f in msg and "invalid UTF-8" in msg and name[:4] in msg, msg


def test_nul_in_name_in_model_file(pkg):
    f = _patch_name(pkg, IN, b"in\x00_\xc3\xa9", None)
    with pytest.raises(ValueError, match="a NUL character") as ei:
        _core.load(pkg)
    assert f in str(ei.value)


def test_valid_utf8_names_round_trip(pkg):
    ml = ct.models.MLModel(pkg)
    out = ml.predict({IN: X.numpy()})
    assert list(out) == [OUT]


# ---- names given from Python ----

def test_input_name_with_nul_is_refused():
    with pytest.raises(ValueError, match=r"input name 'a\\x00b' contains a NUL character"):
        ct.TensorType(name="a\0b", shape=(1, 3))


def test_output_name_with_nul_is_refused():
    with pytest.raises(ValueError, match="NUL character"):
        ct.TensorType(name="out\0put")


def test_input_name_with_nul_is_refused_by_the_core():
    # a type whose name was changed after it was checked still does not reach C cut short
    t = ct.TensorType(name="x", shape=tuple(X.shape))
    t.name = "x\0y"
    m = torch.nn.ReLU().eval()
    with pytest.raises(ValueError, match=r"input name 'x\\x00y' contains a NUL character"):
        ct.convert(torch.jit.trace(m, X), inputs=[t])


@pytest.mark.parametrize("field", ["author", "short_description"])
def test_metadata_with_nul_is_refused_at_save(tmp_path, field):
    ml = _converted()
    setattr(ml, field, "ab\0cd")
    with pytest.raises(ValueError, match="NUL character"):
        ml.save(str(tmp_path / "m.mlpackage"))
    assert not os.listdir(tmp_path)


def test_user_metadata_with_nul_is_refused_at_save(tmp_path):
    ml = _converted()
    ml.user_defined_metadata["k\0ey"] = "v"
    with pytest.raises(ValueError, match="user_defined metadata key .* NUL"):
        ml.save(str(tmp_path / "m.mlpackage"))


# ---- shapes int64 cannot hold ----

@pytest.mark.parametrize("shape", [(2 ** 40, 2 ** 40), (2 ** 62, 4), (3, 2 ** 21, 2 ** 21, 2 ** 21)])
def test_element_count_over_int64(shape):
    with pytest.raises(ValueError) as ei:
        ct.TensorType(name="big", shape=shape)
    msg = str(ei.value)
    assert "'big'" in msg and str(list(shape)) in msg and "int64" in msg, msg


@pytest.mark.parametrize("dim", [2 ** 63, 2 ** 64, 2 ** 65])
def test_dim_over_int64(dim):
    with pytest.raises(ValueError) as ei:
        ct.TensorType(name="big", shape=(1, dim))
    msg = str(ei.value)
    assert "'big'" in msg and str(dim) in msg and "int64" in msg, msg


def test_range_dim_over_int64():
    with pytest.raises(ValueError, match="upper_bound .* int64"):
        ct.RangeDim(1, 2 ** 64)


def test_bounded_ranges_over_int64():
    with pytest.raises(ValueError, match="'r'.*int64"):
        ct.TensorType(name="r", shape=(ct.RangeDim(1, 2 ** 40), ct.RangeDim(1, 2 ** 40)))


def test_largest_int64_shape_is_accepted():
    ct.TensorType(name="ok", shape=(2 ** 31, 2 ** 31))  # 2**62 elements: declared, not allocated


def test_convert_refuses_element_count_over_int64():
    m = torch.nn.ReLU().eval()
    with pytest.raises(ValueError, match="int64"):
        ct.convert(torch.jit.trace(m, torch.randn(2, 3)), inputs=[ct.TensorType(name="x", shape=(2 ** 40, 2 ** 40))])


# ---- image preprocessing numbers ----

@pytest.mark.parametrize("scale", [math.nan, math.inf, -math.inf])
def test_image_scale_must_be_finite(scale):
    with pytest.raises(ValueError, match=r"ImageType 'img': scale must be a finite number"):
        ct.ImageType(name="img", shape=(1, 3, 8, 8), scale=scale)


@pytest.mark.parametrize("bias", [math.nan, [0.0, math.inf, 0.0], [0.0, 0.0, -math.inf]])
def test_image_bias_must_be_finite(bias):
    with pytest.raises(ValueError, match=r"ImageType 'img': bias must be finite"):
        ct.ImageType(name="img", shape=(1, 3, 8, 8), bias=bias)
