"""Errors through the whole user path: ct.models.MLModel(path) on corrupt packages, and
predict() on bad inputs, raise ValueError / TypeError with messages that say what is wrong
(the serializer's tests cover the reader itself; these cover MLModel + predict on top)."""
import os
import shutil
import struct

import numpy as np
import pytest
import torch

import pt2coreml as ct


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x, k):
        y = torch.relu(self.conv(x)).flatten(1)
        return self.fc(y) * k


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    m = Net().eval()
    x, k = torch.rand(2, 3, 4, 4), torch.tensor([3], dtype=torch.int32)
    ml = ct.convert(torch.jit.trace(m, (x, k)),
                    inputs=[ct.TensorType(name="x", shape=(2, 3, 4, 4)),
                            ct.TensorType(name="k", shape=(1,), dtype=np.int32)],
                    compute_precision=ct.precision.FLOAT32)
    path = str(tmp_path_factory.mktemp("err") / "net.mlpackage")
    ml.save(path)
    with torch.no_grad():
        ref = m(x, k).numpy()
    return path, x.numpy(), k.numpy(), ref


@pytest.fixture
def pkg(saved, tmp_path):
    p = str(tmp_path / "m.mlpackage")
    shutil.copytree(saved[0], p)
    return p


def model_file(p):
    return os.path.join(p, "Data", "com.apple.CoreML", "model.mlmodel")


def weight_file(p):
    return os.path.join(p, "Data", "com.apple.CoreML", "weights", "weight.bin")


def truncate(path, n):
    with open(path, "r+b") as f:
        f.truncate(n)


def patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def mlmodel_fails(p, *fragments):
    with pytest.raises(ValueError) as ei:
        ct.models.MLModel(p)
    for frag in fragments:
        assert frag in str(ei.value), (frag, str(ei.value))


def test_intact_package_predicts(saved):
    path, x, k, ref = saved
    out = ct.models.MLModel(path).predict({"x": x, "k": k})
    np.testing.assert_allclose(next(iter(out.values())), ref, rtol=1e-5, atol=1e-5)


# ---- corrupt packages ----

def test_truncated_model_file(pkg):
    truncate(model_file(pkg), os.path.getsize(model_file(pkg)) // 2)
    mlmodel_fails(pkg, "model.mlmodel", "truncated")


def test_every_model_truncation_raises(pkg):
    data = open(model_file(pkg), "rb").read()
    step = max(1, len(data) // 97)
    for n in list(range(0, len(data), step)) + [len(data) - 1]:
        with open(model_file(pkg), "wb") as f:
            f.write(data[:n])
        with pytest.raises(ValueError):
            ct.models.MLModel(pkg)


def test_truncated_weights(pkg):
    truncate(weight_file(pkg), os.path.getsize(weight_file(pkg)) - 10)
    mlmodel_fails(pkg, "weight.bin")


def test_every_weight_truncation_raises(pkg):
    data = open(weight_file(pkg), "rb").read()
    for n in [0, 10, 63, 64, 70, 127, 128, 200, len(data) // 2, len(data) - 1]:
        with open(weight_file(pkg), "wb") as f:
            f.write(data[:n])
        with pytest.raises(ValueError):
            ct.models.MLModel(pkg)


def test_wrong_blob_data_offset(pkg):
    # first blob record at 64: sentinel u32, dtype u32, size u64, data offset u64
    patch(weight_file(pkg), 80, struct.pack("<Q", os.path.getsize(weight_file(pkg)) + 64))
    mlmodel_fails(pkg, "weight.bin")


def test_blob_reference_not_at_a_record(pkg):
    # the model's reference to its first weight blob moved off the record header
    pytest.importorskip("coremltools")
    import _ser_models as M
    spec = M.spec_of(pkg)
    ops = spec.mlProgram.functions["main"].block_specializations["CoreML5"].operations
    op = next(o for o in ops if o.type == "const" and o.attributes["val"].WhichOneof("value") == "blobFileValue")
    op.attributes["val"].blobFileValue.offset += 64
    with open(model_file(pkg), "wb") as f:
        f.write(spec.SerializeToString())
    mlmodel_fails(pkg, "weight.bin")


def test_garbage_weights(pkg):
    size = os.path.getsize(weight_file(pkg))
    with open(weight_file(pkg), "wb") as f:
        f.write(bytes(range(256)) * (size // 256 + 1))
    mlmodel_fails(pkg, "weight.bin")


def test_missing_weight_file(pkg):
    os.remove(weight_file(pkg))
    mlmodel_fails(pkg, "weight.bin")


def test_missing_package(tmp_path):
    with pytest.raises(FileNotFoundError):
        ct.models.MLModel(str(tmp_path / "nope.mlpackage"))


# ---- bad predict inputs ----

@pytest.fixture(scope="module")
def model(saved):
    return ct.models.MLModel(saved[0])


def test_missing_input(model, saved):
    with pytest.raises(ValueError, match=r"missing input\(s\) \['k'\].*inputs are \['x', 'k'\]"):
        model.predict({"x": saved[1]})


def test_unknown_input(model, saved):
    with pytest.raises(ValueError, match=r"unknown input\(s\) \['y'\]"):
        model.predict({"x": saved[1], "k": saved[2], "y": saved[1]})


def test_not_a_dict(model, saved):
    with pytest.raises(TypeError, match="dict"):
        model.predict([saved[1], saved[2]])


def test_wrong_shape(model, saved):
    with pytest.raises(ValueError, match=r"input 'x' must have shape \(2, 3, 4, 4\), got \(1, 3, 4, 4\)"):
        model.predict({"x": saved[1][:1], "k": saved[2]})


def test_wrong_rank(model, saved):
    with pytest.raises(ValueError, match=r"input 'x' must have shape \(2, 3, 4, 4\), got \(2, 3, 16\)"):
        model.predict({"x": saved[1].reshape(2, 3, 16), "k": saved[2]})


def test_wrong_dtype_float_for_int(model, saved):
    with pytest.raises(TypeError, match="input 'k' must be int32, got float32"):
        model.predict({"x": saved[1], "k": saved[2].astype(np.float32)})


def test_wrong_dtype_strings(model, saved):
    with pytest.raises(TypeError, match="input 'x' must be float32"):
        model.predict({"x": np.full((2, 3, 4, 4), "a"), "k": saved[2]})


def test_wrong_dtype_object(model, saved):
    with pytest.raises(TypeError, match="input 'x' must be float32, got object"):
        model.predict({"x": None, "k": saved[2]})


def test_complex_input(model, saved):
    with pytest.raises(TypeError, match="input 'x' must be float32, got complex64"):
        model.predict({"x": saved[1].astype(np.complex64), "k": saved[2]})


def test_int64_out_of_int32_range(model, saved):
    with pytest.raises(ValueError, match="int64 values do not fit int32"):
        model.predict({"x": saved[1], "k": np.array([2 ** 40])})


def test_accepted_conversions(model, saved):
    path, x, k, ref = saved
    # float64 -> float32, int64 in range -> int32, a non-contiguous view, a nested list
    got = [next(iter(model.predict(feed).values())) for feed in (
        {"x": x.astype(np.float64), "k": k.astype(np.int64)},
        {"x": np.asfortranarray(x), "k": k},
        {"x": x.tolist(), "k": [3]},
    )]
    for g in got:
        np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-5)


def test_error_then_success(model, saved):
    # a failed call leaves the model usable
    with pytest.raises(ValueError):
        model.predict({"x": saved[1][:1], "k": saved[2]})
    out = model.predict({"x": saved[1], "k": saved[2]})
    np.testing.assert_allclose(next(iter(out.values())), saved[3], rtol=1e-5, atol=1e-5)


def test_runtime_checks_behind_the_python_layer(model, saved):
    # the C layer re-checks what reaches it (Program.run bypasses predict's checks)
    with pytest.raises(ValueError, match="the model takes 2 inputs, got 1"):
        model._prog.run([saved[1]])
    with pytest.raises(ValueError, match=r"input 'x': expected shape"):
        model._prog.run([saved[1][:1], saved[2]])
