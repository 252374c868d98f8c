"""Input sizes a model declares (RangeDim bounds, EnumeratedShapes, image size ranges) are
enforced as Core ML enforces them: by predict() and by the C entry point (Program.run), for
converted models and for packages read from disk. The message names the input, the dim, the
size given and what is allowed. Rank, fixed dims and dtype get clear errors too."""
import os
import shutil

import numpy as np
import pytest
import torch

import pt2coreml as ct
from parity import compare


class Softmax(torch.nn.Module):
    def forward(self, x):
        return torch.softmax(x * 2.0, dim=-1)


def _convert(shape, module=None, example=(1, 16), **kw):
    tr = torch.jit.trace((module or Softmax()).eval(), torch.rand(*example))
    return ct.convert(tr, inputs=[ct.TensorType(name="x", shape=shape)], compute_precision=ct.precision.FLOAT32, **kw)


def _both_refuse(m, arr, *fragments):
    """predict() and the C run() both refuse arr, naming what is wrong."""
    for call in (lambda: m.predict({"x": arr}), lambda: m._prog.run([arr])):
        with pytest.raises(ValueError) as ei:
            call()
        for frag in fragments:
            assert frag in str(ei.value), (frag, str(ei.value))


def _runs(m, arr):
    ref = torch.softmax(torch.from_numpy(arr) * 2.0, dim=-1).numpy()
    compare("y", m.predict({"x": arr})[m._desc["outputs"][0]["name"]], ref, 1e-5)
    compare("y", m._prog.run([arr])[0], ref, 1e-5)


@pytest.fixture(scope="module")
def range_8_64():
    return _convert((1, ct.RangeDim(8, 64, default=16)))


@pytest.mark.parametrize("n", [7, 65, 1000, 0])
def test_range_dim_refuses_sizes_outside(range_8_64, n):
    _both_refuse(range_8_64, np.ones((1, n), np.float32),
                 "input 'x'", "dim 1", f"size {n}", "range 8..64")


@pytest.mark.parametrize("n", [8, 16, 33, 64])
def test_range_dim_accepts_sizes_inside(range_8_64, n):
    _runs(range_8_64, np.random.default_rng(n).standard_normal((1, n)).astype(np.float32))


@pytest.mark.parametrize("n", [2, 99])
def test_small_range(n):
    m = _convert((ct.RangeDim(3, 5), 4), example=(4, 4))
    _both_refuse(m, np.ones((n, 4), np.float32), "input 'x'", "dim 0", f"size {n}", "range 3..5")
    _runs(m, np.ones((3, 4), np.float32))


def test_unbounded_range_keeps_its_lower_bound():
    m = _convert((1, ct.RangeDim(4)))
    _both_refuse(m, np.ones((1, 3), np.float32), "input 'x'", "dim 1", "size 3", "lower bound 4")
    _runs(m, np.ones((1, 300), np.float32))


def test_enumerated_shapes_refuse_other_shapes():
    m = _convert(ct.EnumeratedShapes([(1, 8), (1, 16), (2, 16)], default=(1, 16)))
    for bad in [(1, 12), (2, 8), (1, 32)]:
        _both_refuse(m, np.ones(bad, np.float32), "input 'x'", "shape " + str(bad), "[1,8] or [1,16] or [2,16]")
    for good in [(1, 8), (2, 16)]:
        _runs(m, np.random.default_rng(1).standard_normal(good).astype(np.float32))


def test_bounds_survive_save_and_load(range_8_64, tmp_path):
    path = str(tmp_path / "r.mlpackage")
    range_8_64.save(path)
    m = ct.models.MLModel(path)
    for n in (7, 65, 0):
        _both_refuse(m, np.ones((1, n), np.float32), "input 'x'", "dim 1", f"size {n}", "range 8..64")
    _runs(m, np.ones((1, 9), np.float32))


def test_enumerated_shapes_survive_save_and_load(tmp_path):
    path = str(tmp_path / "e.mlpackage")
    _convert(ct.EnumeratedShapes([(1, 8), (1, 16)], default=(1, 8))).save(path)
    m = ct.models.MLModel(path)
    _both_refuse(m, np.ones((1, 12), np.float32), "input 'x'", "shape (1, 12)", "[1,8] or [1,16]")
    _runs(m, np.ones((1, 16), np.float32))


def test_coremltools_range_package_enforced():
    """A coremltools-made package: its description's RangeDim(1, 4) on the batch holds here too."""
    import _ser_models as M
    m = ct.models.MLModel(M.package("flex"))
    x = np.random.default_rng(2).standard_normal((5, 3, 8, 8)).astype(np.float32)
    _both_refuse(m, x, "input 'x'", "dim 0", "size 5", "range 1..4")
    assert m.predict({"x": x[:4]})[m._desc["outputs"][0]["name"]].shape[0] == 4


def test_flexible_image_input_sizes(tmp_path):
    class Net(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    tr = torch.jit.trace(Net().eval(), torch.rand(1, 3, 8, 8))
    m = ct.convert(tr, inputs=[ct.ImageType(name="x", shape=(1, 3, ct.RangeDim(4, 16, default=8),
                                                                    ct.RangeDim(4, 16, default=8)))],
                   compute_precision=ct.precision.FLOAT32)
    path = str(tmp_path / "img.mlpackage")
    m.save(path)
    for model in (m, ct.models.MLModel(path)):
        _both_refuse(model, np.ones((1, 3, 3, 8), np.float32), "input 'x'", "dim 2", "size 3", "range 4..16")
        _both_refuse(model, np.ones((1, 3, 8, 17), np.float32), "input 'x'", "dim 3", "size 17", "range 4..16")
        out = model._prog.run([np.full((1, 3, 5, 16), 2.0, np.float32)])[0]
        np.testing.assert_allclose(out, np.full((1, 3), 2.0))


def test_rank_fixed_dims_and_dtype_errors(range_8_64):
    m = range_8_64
    with pytest.raises(ValueError, match=r"input 'x' must have shape \(1, '\?'\), got \(1, 16, 1\)"):
        m.predict({"x": np.ones((1, 16, 1), np.float32)})
    with pytest.raises(ValueError, match=r"input 'x': expected rank 2 .* got rank 3"):
        m._prog.run([np.ones((1, 16, 1), np.float32)])
    with pytest.raises(ValueError, match=r"input 'x' must have shape \(1, '\?'\), got \(2, 16\)"):
        m.predict({"x": np.ones((2, 16), np.float32)})
    with pytest.raises(ValueError, match=r"input 'x': expected shape .* \(dim 0 is 2, must be 1\)"):
        m._prog.run([np.ones((2, 16), np.float32)])
    with pytest.raises(TypeError, match=r"input 'x' must be float32, got complex64"):
        m.predict({"x": np.ones((1, 16), np.complex64)})
    with pytest.raises(TypeError, match=r"input 'x' must be fp32, got numpy.complex64"):
        m._prog.run([np.ones((1, 16), np.complex64)])


def test_int_input_refuses_float_arrays_in_run():
    class Emb(torch.nn.Module):
        def forward(self, i):
            return i * 2

    tr = torch.jit.trace(Emb().eval(), torch.zeros(4, dtype=torch.int32))
    m = ct.convert(tr, inputs=[ct.TensorType(name="i", shape=(4,), dtype=np.int32)])
    with pytest.raises(TypeError, match=r"input 'i' must be int32, got fp32"):
        m._prog.run([np.ones(4, np.float32)])
    with pytest.raises(TypeError, match=r"input 'i' must be int32, got float32"):
        m.predict({"i": np.ones(4, np.float32)})
    np.testing.assert_array_equal(m._prog.run([np.arange(4, dtype=np.int64)])[0], [0, 2, 4, 6])
