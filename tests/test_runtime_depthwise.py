"""Depthwise conv kernels (csrc/runtime/depthwise.c) over the geometries models
use and odd ones: strides, dilations, kernel sizes, channel multipliers and
paddings, against a float64 reference. Unpadded stride-1 planes with widths that
are multiples of 8 run in place; the rest run flattened over phase planes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from test_runtime_ops import program

RNG = np.random.default_rng(11)

GEOMS = [
    # (H, W), kernel, stride, dilation, pads (top, bottom, left, right)
    ((14, 14), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),
    ((16, 16), (3, 3), (1, 1), (1, 1), (0, 0, 0, 0)),   # in place
    ((13, 29), (3, 3), (2, 2), (1, 1), (1, 1, 1, 1)),
    ((28, 28), (5, 5), (1, 1), (1, 1), (2, 2, 2, 2)),
    ((27, 25), (5, 5), (2, 2), (1, 1), (2, 2, 2, 2)),
    ((28, 28), (3, 3), (1, 1), (2, 2), (2, 2, 2, 2)),
    ((20, 23), (3, 3), (1, 1), (3, 2), (3, 1, 2, 0)),
    ((17, 40), (3, 5), (2, 3), (1, 2), (1, 0, 4, 4)),
    ((9, 70), (7, 7), (1, 1), (1, 1), (3, 3, 3, 3)),
    ((3, 3), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),     # one vector holds the plane
    # column stride 2 deals each row to both phase planes in one pass: every left pad parity
    ((112, 112), (3, 3), (2, 2), (1, 1), (1, 1, 1, 1)),  # MobileNet
    ((30, 64), (3, 3), (2, 2), (1, 1), (0, 1, 0, 1)),    # TF-style "same"
    ((21, 50), (5, 5), (2, 2), (1, 1), (0, 0, 0, 0)),    # unpadded
    ((11, 15), (3, 3), (1, 2), (1, 2), (0, 0, 3, 3)),    # W < 16 (no full vector), dilated columns
    ((9, 47), (3, 3), (3, 2), (1, 1), (2, 0, 5, 2)),     # row stride 3
    # flat runs whose rows nearly fill 32-float blocks, odd and even row counts, tall kernels
    ((28, 28), (5, 5), (1, 1), (1, 1), (2, 2, 2, 2)),
    ((7, 60), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),
    ((6, 24), (3, 3), (1, 1), (1, 1), (0, 1, 0, 0)),
    ((12, 88), (7, 3), (1, 1), (1, 2), (3, 3, 2, 2)),
    ((5, 64), (2, 5), (1, 2), (1, 1), (0, 0, 2, 2)),
]


@pytest.mark.parametrize("geom", GEOMS, ids=lambda g: "%dx%d_k%s_s%s_d%s_p%s" % (
    g[0][0], g[0][1], "".join(map(str, g[1])), "".join(map(str, g[2])), "".join(map(str, g[3])),
    "".join(map(str, g[4]))))
@pytest.mark.parametrize("mult", [1, 2])
@pytest.mark.parametrize("kernels", ["avx2", "portable"])
def test_depthwise_matches_reference(geom, mult, kernels, monkeypatch):
    if kernels == "portable":  # the generic-vector loops a CPU without AVX2 runs
        monkeypatch.setenv("PT2COREML_RT_PORTABLE", "1")
    (h, w_), k, s, d, p = geom
    c = 12
    x = RNG.standard_normal((2, c, h, w_)).astype(np.float32)
    w = (RNG.standard_normal((c * mult, 1) + k) / np.sqrt(k[0] * k[1])).astype(np.float32)
    b = RNG.standard_normal(c * mult).astype(np.float32)
    t = F.pad(torch.tensor(x, dtype=torch.float64), (p[2], p[3], p[0], p[1]))
    ref = F.conv2d(t, torch.tensor(w, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), stride=s,
                   dilation=d, groups=c).numpy()
    params = {"weight": w, "bias": b, "strides": list(s), "dilations": list(d), "groups": c, "pad_type": "custom",
              "pad": list(p)}
    from pt2coreml import _core
    got = _core.parse(program("conv", {"x": x}, params, [ref.astype(np.float32)])).run([x])[0]
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
