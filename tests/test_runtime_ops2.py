"""Reference runtime, second op table: activations, reductions, normalization,
indexing, pixel and image-resampling ops. Each test runs a one-op textual program
(helpers from test_runtime_ops) and compares with torch / numpy."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pt2coreml import _core

from test_runtime_ops import RNG, program, randn, run


def T(a):
    return torch.tensor(np.asarray(a))


# ---------------------------------------------------------------- activations
ACT2 = {
    "sigmoid_hard": ({"alpha": 0.2, "beta": 0.5}, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    "scaled_tanh": ({"alpha": 1.7, "beta": 0.6}, lambda x: 1.7 * np.tanh(0.6 * x)),
    "clamped_relu": ({"alpha": 0.1, "beta": 2.0}, lambda x: np.minimum(np.where(x >= 0, x, 0.1 * x), 2.0)),
    "thresholded_relu": ({"alpha": 0.5}, lambda x: np.where(x >= 0.5, x, 0)),
    "linear_activation": ({"alpha": -2.0, "beta": 0.25}, lambda x: -2 * x + 0.25),
    "softsign": ({}, lambda x: x / (1 + np.abs(x))),
}


@pytest.mark.parametrize("name", sorted(ACT2))
@pytest.mark.parametrize("dt", [np.float32, np.float16])
def test_scalar_activations(name, dt):
    x = (randn(2, 3, 7) * 3).astype(dt)
    params, f = ACT2[name]
    run(name, {"x": x}, params, f(x.astype(np.float32)).astype(dt))


def test_hardsigmoid_matches_torch():
    x = randn(50) * 5
    run("sigmoid_hard", {"x": x}, {"alpha": 1 / 6, "beta": 0.5}, F.hardsigmoid(T(x)).numpy(), atol=1e-6)


def test_activation_missing_alpha():
    x = randn(3)
    with pytest.raises(RuntimeError, match="missing required input 'beta'"):
        _core.parse(program("scaled_tanh", {"x": x}, {"alpha": 1.0}, [x])).run([x])


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 4, 3, 3), (2, 3, 2, 2, 2)])
def test_prelu(shape):
    x = randn(*shape) * 2
    C = shape[1]
    alpha = np.full(C, 0.25, np.float32) if len(shape) != 4 else RNG.random(C).astype(np.float32)
    run("prelu", {"x": x}, {"alpha": alpha}, F.prelu(T(x), T(alpha)).numpy())


def test_prelu_fp16():
    x = (randn(1, 3, 4, 4) * 2).astype(np.float16)
    alpha = np.array([0.1, 0.2, 0.3], np.float16)
    ref = F.prelu(T(x.astype(np.float32)), T(alpha.astype(np.float32))).numpy().astype(np.float16)
    run("prelu", {"x": x}, {"alpha": alpha}, ref)


def test_softplus_parametric():
    x = randn(2, 3, 4, 5) * 4
    a = np.array([1.0, 0.5, 2.0], np.float32)
    b = np.array([1.0, 3.0, 0.5], np.float32)
    ref = a[None, :, None, None] * np.log1p(np.exp(b[None, :, None, None] * x.astype(np.float64)))
    run("softplus_parametric", {"x": x}, {"alpha": a, "beta": b}, ref.astype(np.float32))
    # torch.nn.Softplus(beta, threshold=inf) == softplus_parametric(alpha=1/beta, beta=beta)
    ref2 = F.softplus(T(x), beta=2.0, threshold=1e9).numpy()
    run("softplus_parametric", {"x": x}, {"alpha": np.full(3, 0.5, np.float32), "beta": np.full(3, 2.0, np.float32)}, ref2)


def test_logical_xor():
    a = np.array([[True, False], [True, True]])
    b = np.array([False, True])
    run("logical_xor", {"x": a, "y": b}, {}, a ^ b)


# ---------------------------------------------------------------- reductions
REDUCE2 = {
    "reduce_l1_norm": lambda x, ax, k: np.sum(np.abs(x), axis=ax, keepdims=k),
    "reduce_l2_norm": lambda x, ax, k: np.sqrt(np.sum(x * x, axis=ax, keepdims=k)),
    "reduce_log_sum": lambda x, ax, k: np.log(np.sum(x, axis=ax, keepdims=k)),
    "reduce_log_sum_exp": lambda x, ax, k: torch.logsumexp(T(x), dim=ax if ax is not None else tuple(range(x.ndim)),
                                                           keepdim=k).numpy(),
    "reduce_sum_square": lambda x, ax, k: np.sum(x * x, axis=ax, keepdims=k),
}


@pytest.mark.parametrize("name", sorted(REDUCE2))
@pytest.mark.parametrize("axes,keep", [(None, False), ((1,), True), ((0, 2), False), ((-1,), False), ((0, -1), True)])
def test_reduce2(name, axes, keep):
    x = randn(3, 4, 5).astype(np.float64)
    if name == "reduce_log_sum":
        x = np.abs(x) + 0.1
    ref = REDUCE2[name](x, axes, keep)
    params = {"keep_dims": keep}
    if axes is not None:
        params["axes"] = list(axes)
    run(name, {"x": x.astype(np.float32)}, params, np.asarray(ref, np.float32), rtol=1e-5, atol=1e-5)


def test_reduce_log_sum_exp_large_and_fp16():
    x = np.array([[1000.0, 1000.0, -5.0], [-np.inf, -np.inf, -np.inf]], np.float32)
    run("reduce_log_sum_exp", {"x": x}, {"axes": [1]}, torch.logsumexp(T(x), 1).numpy())
    h = (randn(4, 6) * 3).astype(np.float16)
    run("reduce_l2_norm", {"x": h}, {"axes": [1]}, np.linalg.norm(h.astype(np.float32), axis=1).astype(np.float16))


# ---------------------------------------------------------------- normalization
@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 4, 5, 6)])
@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm(shape, affine):
    x = randn(*shape) * 3 + 1
    C = shape[1]
    g, b = randn(C), randn(C)
    params = {"epsilon": 1e-3}
    if affine:
        params.update(gamma=g, beta=b)
    ref = F.instance_norm(T(x), weight=T(g) if affine else None, bias=T(b) if affine else None, eps=1e-3).numpy()
    run("instance_norm", {"x": x}, params, ref, rtol=1e-4, atol=1e-4)


def test_instance_norm_fp16_default_eps():
    x = (randn(1, 2, 4, 4) * 2).astype(np.float16)
    ref = F.instance_norm(T(x.astype(np.float32))).numpy().astype(np.float16)
    run("instance_norm", {"x": x}, {}, ref)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (2, 2, 2, 3, 4)])
def test_l2_norm(shape):
    x = randn(*shape)
    flat = x.reshape(-1, int(np.prod(shape[-3:]))).astype(np.float64)
    ref = (flat / np.sqrt((flat ** 2).sum(1, keepdims=True) + 1e-6)).reshape(shape)
    run("l2_norm", {"x": x}, {}, ref.astype(np.float32))
    ref = (flat / np.sqrt((flat ** 2).sum(1, keepdims=True) + 0.5)).reshape(shape)
    run("l2_norm", {"x": x}, {"epsilon": 0.5}, ref.astype(np.float32))


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("shape", [(2, 7, 4, 4), (1, 6, 9)])
def test_local_response_norm(size, shape):
    x = randn(*shape) * 3
    ref = F.local_response_norm(T(x), size, alpha=0.01, beta=0.6, k=2.0).numpy()
    run("local_response_norm", {"x": x}, {"size": size, "alpha": 0.01, "beta": 0.6, "k": 2.0}, ref, rtol=1e-5, atol=1e-5)
    ref = F.local_response_norm(T(x), size).numpy()
    run("local_response_norm", {"x": x}, {"size": size}, ref, rtol=1e-5, atol=1e-5)
