"""Batch norm on the batch's own statistics: a module traced in training mode, track_running_stats=False and
F.batch_norm(training=True) normalize each channel over (N, spatial) with the biased variance, as PyTorch did
when tracing (a module traced in training mode also warns once). Compared with PyTorch's train-mode output of the
same input, in fp32 and fp16, batch sizes above 1; every package is opened by coremltools' reader."""
import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import pt2coreml as ct
from cov_common import Fn, r
from parity import TOL, compare, coremltools_check

PRECISION = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}


def _perturbed(m):
    """Running statistics and affine parameters away from their defaults, so eval semantics would differ."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        if m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        if m.affine:
            m.weight.copy_(torch.randn(m.num_features, generator=g))
            m.bias.copy_(torch.randn(m.num_features, generator=g))
    return m


def _convert_and_compare(sm, x, ref, precision, tmp_path):
    mlmodel = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=tuple(x.shape))],
                         compute_precision=PRECISION[precision])
    out = list(mlmodel.predict({"x": x.numpy()}).values())[0]
    compare("out", out, ref, TOL[precision])
    path = str(tmp_path / "m.mlpackage")
    mlmodel.save(path)
    coremltools_check(path)
    return mlmodel


# (module factory, input shape)
TRAIN_CASES = {
    "bn1d_2d_input": (lambda: nn.BatchNorm1d(5), (4, 5)),
    "bn1d_3d_input": (lambda: nn.BatchNorm1d(5), (3, 5, 7)),
    "bn1d_no_affine": (lambda: nn.BatchNorm1d(5, affine=False), (3, 5, 7)),
    "bn2d": (lambda: nn.BatchNorm2d(4), (2, 4, 6, 5)),
    "bn2d_no_affine": (lambda: nn.BatchNorm2d(4, affine=False), (3, 4, 5, 5)),
    "bn2d_eps": (lambda: nn.BatchNorm2d(4, eps=1e-2), (2, 4, 3, 3)),
    "bn3d": (lambda: nn.BatchNorm3d(3), (2, 3, 4, 5, 3)),
    "bn3d_no_affine": (lambda: nn.BatchNorm3d(3, affine=False), (2, 3, 3, 4, 4)),
}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", sorted(TRAIN_CASES))
def test_traced_in_training_mode_uses_batch_statistics(name, precision, tmp_path):
    make, shape = TRAIN_CASES[name]
    m = _perturbed(make()).train()
    x = r(*shape, scale=2.0) + 0.5
    with torch.no_grad():
        ref = copy.deepcopy(m)(x).numpy()  # PyTorch's train-mode output of this input
        assert not np.allclose(copy.deepcopy(m).eval()(x).numpy(), ref, atol=1e-3)  # eval semantics differ
    sm = torch.jit.trace(m, (x,), check_trace=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _convert_and_compare(sm, x, ref, precision, tmp_path)
    batch = [w for w in caught if "not the running statistics" in str(w.message)]
    assert len(batch) == 1, [str(w.message) for w in caught]


NO_STATS_CASES = {
    "bn1d_2d_input": (lambda: nn.BatchNorm1d(6, track_running_stats=False), (5, 6)),
    "bn1d_3d_input": (lambda: nn.BatchNorm1d(6, affine=False, track_running_stats=False), (2, 6, 9)),
    "bn2d": (lambda: nn.BatchNorm2d(3, track_running_stats=False), (2, 3, 7, 7)),
    "bn2d_no_affine": (lambda: nn.BatchNorm2d(3, affine=False, track_running_stats=False), (2, 3, 4, 6)),
    "bn3d": (lambda: nn.BatchNorm3d(2, track_running_stats=False), (3, 2, 3, 3, 4)),
}


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", sorted(NO_STATS_CASES))
def test_track_running_stats_false(name, precision, mode, tmp_path):
    """No running statistics: the batch's statistics in both modes (what instance norm does per sample);
    only the training-mode module warns (about the mode), nothing about batch statistics."""
    make, shape = NO_STATS_CASES[name]
    m = _perturbed(make())
    m.train(mode == "train")
    x = r(*shape, scale=3.0) - 1.0
    with torch.no_grad():
        ref = m(x).numpy()
    sm = torch.jit.trace(m, (x,), check_trace=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _convert_and_compare(sm, x, ref, precision, tmp_path)
    assert not [w for w in caught if "not the running statistics" in str(w.message)]


class ConvBnTrain(nn.Module):
    """conv -> bn -> relu -> bn1d over the pooled features, traced in training mode (conv + bn must not fuse)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 6)
        self.bn1 = nn.BatchNorm1d(6)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.bn1(self.fc(y.mean((2, 3))))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_conv_bn_model_traced_in_training_mode(precision, tmp_path):
    torch.manual_seed(0)
    m = ConvBnTrain().train()
    for bn in (m.bn, m.bn1):
        _perturbed(bn)
    x = r(4, 3, 8, 8)
    with torch.no_grad():
        ref = copy.deepcopy(m)(x).numpy()
    sm = torch.jit.trace(m, (x,), check_trace=False)
    with pytest.warns(UserWarning, match="not the running statistics"):
        _convert_and_compare(sm, x, ref, precision, tmp_path)
    assert sm.training  # the user's module is left as it was


FUNCTIONAL = {
    # F.batch_norm(training=True) with running statistics given (not updated in the converted model)
    "running_given": lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=True, eps=1e-3),
    "no_running": lambda x, rm, rv, w, b: F.batch_norm(x, None, None, w, b, training=True),
    "no_affine": lambda x, rm, rv, w, b: F.batch_norm(x, None, None, training=True, eps=1e-4),
}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_batch_norm_training(name, precision, tmp_path):
    c = 4
    g = torch.Generator().manual_seed(1)
    rm, rv = torch.randn(c, generator=g), torch.rand(c, generator=g) + 0.5
    w, b = torch.randn(c, generator=g), torch.randn(c, generator=g)
    fn = FUNCTIONAL[name]
    x = r(3, c, 5, 4) * 2 + 1
    with torch.no_grad():
        ref = fn(x, rm.clone(), rv.clone(), w, b).numpy()
    sm = torch.jit.trace(Fn(lambda x: fn(x, rm.clone(), rv.clone(), w, b)).eval(), (x,), check_trace=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _convert_and_compare(sm, x, ref, precision, tmp_path)
    n = len([w_ for w_ in caught if "not the running statistics" in str(w_.message)])
    assert n == (1 if name == "running_given" else 0)


def test_scripted_functional_batch_norm_training(tmp_path):
    @torch.jit.script
    def f(x, w, b):
        return F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5)

    x = r(2, 3, 4) * 2
    w, b = r(3, seed=2), r(3, seed=3)
    with torch.no_grad():
        ref = f(x, w, b).numpy()
    mlmodel = ct.convert(f, inputs=[ct.TensorType(name="x", shape=(2, 3, 4)), ct.TensorType(name="w", shape=(3,)),
                                    ct.TensorType(name="b", shape=(3,))], compute_precision=ct.precision.FLOAT32)
    out = list(mlmodel.predict({"x": x.numpy(), "w": w.numpy(), "b": b.numpy()}).values())[0]
    compare("out", out, ref, TOL["fp32"])


def test_flexible_batch_traced_in_training_mode(tmp_path):
    """A RangeDim batch: each prediction normalizes over its own batch, as PyTorch does for that batch."""
    m = _perturbed(nn.BatchNorm2d(3)).train()
    sm = torch.jit.trace(m, (r(4, 3, 5, 5),), check_trace=False)
    with pytest.warns(UserWarning):
        mlmodel = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=(ct.RangeDim(2, 8, default=4), 3, 5, 5))],
                             compute_precision=ct.precision.FLOAT32)
    for n in (2, 3, 7):
        x = r(n, 3, 5, 5, seed=n) * 3
        with torch.no_grad():
            ref = copy.deepcopy(m)(x).numpy()
        compare("out", list(mlmodel.predict({"x": x.numpy()}).values())[0], ref, TOL["fp32"])
    path = str(tmp_path / "m.mlpackage")
    mlmodel.save(path)
    coremltools_check(path)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_instance_norm_with_running_stats_traced_in_training_mode(precision, tmp_path):
    """InstanceNorm with track_running_stats=True traced in training mode used the input's statistics."""
    m = nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
    with torch.no_grad():
        m.running_mean.normal_()
        m.running_var.uniform_(0.5, 2.0)
        m.weight.normal_()
    m.train()
    x = r(2, 3, 6, 6) * 2 + 1
    with torch.no_grad():
        ref = copy.deepcopy(m)(x).numpy()
        assert not np.allclose(copy.deepcopy(m).eval()(x).numpy(), ref, atol=1e-3)
    sm = torch.jit.trace(m, (x,), check_trace=False)
    with pytest.warns(UserWarning, match="training mode"):
        _convert_and_compare(sm, x, ref, precision, tmp_path)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_batch_statistics_of_large_values(precision, tmp_path):
    """Activations of a few hundred: their squared deviations overflow fp16 (max 65504) if computed as written, so
    the normalization must not square fp16 data."""
    m = nn.BatchNorm2d(3).train()
    x = r(2, 3, 6, 6) * 400 + 100
    with torch.no_grad():
        ref = copy.deepcopy(m)(x).numpy()
    sm = torch.jit.trace(m, (x,), check_trace=False)
    with pytest.warns(UserWarning):
        _convert_and_compare(sm, x, ref, precision, tmp_path)
