"""Pool kernels of the runtime (csrc/runtime/pool.c): max_pool / avg_pool converted from
torch modules and run against PyTorch over many geometries (kernel 1-5, stride 1-3,
padding, ceil_mode, count_include_pad, non-square, odd sizes, rows narrower than a
vector or not a multiple of 8, batch > 1, 1-D and 3-D), fp32 and fp16. Every model
also runs through the portable loops (PT2COREML_RT_PORTABLE=1) besides the AVX2
kernels. NaN inputs: max_pool gives NaN exactly in the windows where torch does."""
import numpy as np
import pytest
import torch
import torch.nn as nn

import pt2coreml as ct
from cov_common import r
from parity import TOL, check_parity, compare
from pt2coreml import _core
from test_runtime_ops import program

PORTABLE = "PT2COREML_RT_PORTABLE"

# (N, C, H, W), kernel, stride, padding, ceil_mode
GEOMS = [
    ((1, 3, 5, 7), 1, 1, 0, False),
    ((2, 3, 8, 8), 2, 2, 0, False),
    ((1, 2, 9, 11), 2, 2, 0, True),
    ((1, 2, 9, 11), 2, 2, 1, True),
    ((1, 4, 17, 19), 3, 2, 1, False),      # resnet stem pool, odd sizes
    ((1, 2, 56, 56), 3, 2, 1, False),
    ((1, 2, 16, 17), 3, 2, 1, True),
    ((1, 3, 10, 13), 3, 1, 1, False),      # inception-like
    ((1, 2, 10, 10), 3, 3, 0, True),
    ((1, 2, 11, 11), 3, 3, 1, True),
    ((1, 2, 13, 15), 4, 3, 2, True),
    ((1, 2, 9, 20), 5, 1, 2, False),
    ((1, 2, 23, 21), 5, 2, 2, True),
    ((1, 2, 12, 33), 5, 3, 0, False),
    ((1, 2, 12, 40), (2, 4), (1, 3), (1, 2), False),  # non-square
    ((1, 2, 15, 9), (5, 1), (2, 1), (2, 0), True),
    ((1, 3, 6, 5), 3, 1, 1, False),        # W narrower than a vector
    ((1, 2, 4, 3), 2, 1, 0, True),
    ((1, 2, 9, 1), (3, 1), (2, 1), (1, 0), False),  # W == 1
    ((1, 2, 7, 8), 2, 1, 1, False),
    ((1, 2, 6, 17), 3, 2, 0, True),
    ((1, 2, 7, 9), 1, 2, 0, True),         # kernel < stride
    ((1, 2, 10, 11), 2, 3, 1, True),
    ((3, 5, 11, 12), 3, 2, 1, True),       # batch > 1
]


def gid(g):
    shape, k, s, p, c = g
    return "x".join(map(str, shape)) + f"-k{k}-s{s}-p{p}" + ("-ceil" if c else "")


def pools(g):
    _, k, s, p, c = g
    mods = [("max", nn.MaxPool2d(k, s, p, ceil_mode=c)), ("avg", nn.AvgPool2d(k, s, p, ceil_mode=c))]
    if p != 0:
        mods.append(("avg_excl", nn.AvgPool2d(k, s, p, ceil_mode=c, count_include_pad=False)))
    return mods


def check_both(mod, x, precision, monkeypatch, check_coremltools=False):
    """check_parity (AVX2 kernels where the CPU has them), then the same model through the
    portable loops, compared with torch at the same tolerance."""
    ml, _ = check_parity(mod, [x], precision=precision, check_coremltools=check_coremltools)
    ref = mod(x).detach().numpy()
    feed = {ml._desc["inputs"][0]["name"]: x.numpy()}
    out = ml._desc["outputs"][0]["name"]
    fast = ml.predict(feed)[out]
    with monkeypatch.context() as m:
        m.setenv(PORTABLE, "1")
        slow = ml.predict(feed)[out]
    compare("portable", slow, ref, TOL[precision])
    if "Max" in type(mod).__name__:  # max is exact: both paths return the same values
        np.testing.assert_array_equal(fast, slow)
    return ml


@pytest.mark.parametrize("g", GEOMS, ids=gid)
def test_pool2d(g, monkeypatch):
    x = r(*g[0], seed=7)
    for i, (_, mod) in enumerate(pools(g)):
        check_both(mod, x, "fp32", monkeypatch, check_coremltools=i == 0 and g is GEOMS[4])


@pytest.mark.parametrize("g", [GEOMS[i] for i in (2, 4, 8, 11, 14, 16, 23)], ids=gid)
def test_pool2d_fp16(g, monkeypatch):
    x = r(*g[0], seed=8)
    for _, mod in pools(g):
        check_both(mod, x, "fp16", monkeypatch)


OTHER = [
    nn.MaxPool1d(3, 2, 1),
    nn.MaxPool1d(4, 3, 2, ceil_mode=True),
    nn.AvgPool1d(5, 2, 2, ceil_mode=True),
    nn.AvgPool1d(5, 2, 2, ceil_mode=True, count_include_pad=False),
    nn.MaxPool3d(3, 2, 1),
    nn.MaxPool3d((2, 3, 1), (1, 2, 1), (1, 1, 0), ceil_mode=True),
    nn.AvgPool3d(3, 2, 1, ceil_mode=True, count_include_pad=False),
    nn.AvgPool3d(2, 2, 1),
    nn.AvgPool3d((3, 2, 3), (2, 1, 2), (1, 1, 1), count_include_pad=False),
]


@pytest.mark.parametrize("i", range(len(OTHER)))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_pool_1d_3d(i, precision, monkeypatch):
    mod = OTHER[i]
    shape = (2, 3, 29) if "1d" in type(mod).__name__ else (1, 2, 6, 9, 11)
    check_both(mod, r(*shape, seed=9), precision, monkeypatch)


def nan_input(shape, seed):
    x = r(*shape, seed=seed)
    g = torch.Generator().manual_seed(seed)
    x[torch.rand(shape, generator=g) < 0.03] = float("nan")
    x[..., 0] = float("nan")  # first and last columns: windows with padding
    x[..., -1] = float("nan")
    if x.dim() == 3:
        x[0, 0, 5:9] = float("nan")
        x[0, -1, 12] = float("inf")
    else:
        x[0, 0, ..., 1, :] = float("nan")  # a whole row
        x[0, -1, ..., 2] = float("inf")
    return x


@pytest.mark.parametrize("mod", [nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(2, 2, ceil_mode=True), nn.MaxPool2d(3, 1, 1),
                                 nn.MaxPool2d((2, 4), (1, 3), (1, 2)), nn.MaxPool2d(5, 3, 2, ceil_mode=True),
                                 nn.AvgPool2d(3, 2, 1), nn.MaxPool1d(3, 2, 1), nn.MaxPool3d(3, 2, 1)],
                         ids=lambda m: repr(m).replace(" ", ""))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_pool_nan(mod, precision, monkeypatch):
    """NaN where torch has NaN, equal values elsewhere (ct.convert + predict: parity refuses NaN)."""
    name = type(mod).__name__
    shape = (2, 3, 37) if "1d" in name else (1, 2, 5, 9, 11) if "3d" in name else (2, 3, 13, 21)
    x = nan_input(shape, seed=len(name) + shape[-1])
    x = x.numpy()
    tm = torch.jit.trace(mod.eval(), torch.zeros(shape))
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    ml = ct.convert(tm, inputs=[ct.TensorType(name="x", shape=shape)], compute_precision=prec)
    ref = mod(torch.from_numpy(x)).numpy()
    assert np.isnan(ref).any() and not np.isnan(ref).all()
    out = ml._desc["outputs"][0]["name"]
    for portable in ("0", "1"):
        with monkeypatch.context() as m:
            m.setenv(PORTABLE, portable)
            got = ml.predict({"x": x})[out]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        if "Max" in name and precision == "fp32":
            np.testing.assert_array_equal(got, ref)
        else:
            np.testing.assert_allclose(got, ref, rtol=TOL[precision], atol=TOL[precision], equal_nan=True)


@pytest.mark.parametrize("op", ["max_pool", "avg_pool"])
@pytest.mark.parametrize("o16", [False, True])
def test_pool_fp16_tensors(op, o16, monkeypatch):
    """fp16 x read in the kernel (with a NaN), fp16 or fp32 y, wide rows with a tail."""
    x = nan_input((2, 3, 12, 29), seed=3).numpy().astype(np.float16)
    t = torch.from_numpy(x.astype(np.float32))
    ref = (torch.nn.functional.max_pool2d(t, 3, 2, 1) if op == "max_pool"
           else torch.nn.functional.avg_pool2d(t, 3, 2, 1)).numpy()
    ref = ref.astype(np.float16) if o16 else ref
    params = {"kernel_sizes": [3, 3], "strides": [2, 2], "pad_type": "custom", "pad": [1, 1, 1, 1]}
    prog = _core.parse(program(op, {"x": x}, params, [ref]))
    for portable in ("0", "1"):
        with monkeypatch.context() as m:
            m.setenv(PORTABLE, portable)
            got = prog.run([x])[0]
        assert got.dtype == ref.dtype and got.shape == ref.shape
        np.testing.assert_allclose(got.astype(np.float32), ref.astype(np.float32), rtol=1e-3, atol=1e-3,
                                   equal_nan=True)


@pytest.mark.parametrize("op", ["max_pool", "avg_pool"])
def test_pool_big_padding(op, monkeypatch):
    """MIL custom pads wider than the kernel: windows wholly in the padding give -inf (max) or 0 (avg)."""
    x = r(1, 2, 5, 6, seed=4).numpy()
    t = torch.from_numpy(x)
    fill = -np.inf if op == "max_pool" else 0.0
    tp = torch.nn.functional.pad(t, [4, 5, 3, 3], value=fill)
    for excl in [False, True] if op == "avg_pool" else [False]:
        if op == "max_pool":
            ref = torch.nn.functional.max_pool2d(tp, 2, 2).numpy()
        elif not excl:
            ref = torch.nn.functional.avg_pool2d(tp, 2, 2).numpy()
        else:
            ones = torch.nn.functional.pad(torch.ones_like(t), [4, 5, 3, 3])
            cnt = torch.nn.functional.avg_pool2d(ones, 2, 2)
            s = torch.nn.functional.avg_pool2d(tp, 2, 2)
            ref = torch.where(cnt > 0, s / cnt.clamp(min=1e-9), torch.zeros_like(s)).numpy()
        params = {"kernel_sizes": [2, 2], "strides": [2, 2], "pad_type": "custom", "pad": [3, 3, 4, 5]}
        if op == "avg_pool":
            params["exclude_padding_from_average"] = excl
        prog = _core.parse(program(op, {"x": x}, params, [ref]))
        for portable in ("0", "1"):
            with monkeypatch.context() as m:
                m.setenv(PORTABLE, portable)
                got = prog.run([x])[0]
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_pool_threads_agree():
    """One thread and two give the same planes (per-range scratch)."""
    mod = nn.MaxPool2d(3, 2, 1)
    x = r(2, 7, 40, 37, seed=5)
    ml, _ = check_parity(mod, [x], check_coremltools=False)
    feed = {ml._desc["inputs"][0]["name"]: x.numpy()}
    out = ml._desc["outputs"][0]["name"]
    try:
        _core.set_num_threads(1)
        one = ml.predict(feed)[out]
        _core.set_num_threads(2)
        two = ml.predict(feed)[out]
    finally:
        _core.set_num_threads(0)  # back to the default (online CPUs)
    np.testing.assert_array_equal(one, two)


def test_pool_kernel_too_large():
    """An absurd kernel (padded to fit) fails with a clear error instead of huge row buffers."""
    x = r(1, 1, 4, seed=6).numpy()
    params = {"kernel_sizes": [2000000], "strides": [1], "pad_type": "custom", "pad": [2000000, 0]}
    prog = _core.parse(program("max_pool", {"x": x}, params, [np.zeros((1, 1, 5), np.float32)]))
    with pytest.raises(RuntimeError, match="max_pool.*kernel size 2000000 is too large"):
        prog.run([x])
