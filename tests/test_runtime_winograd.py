"""Winograd F(4x4, 3x3) for 3x3 stride-1 convs (csrc/runtime/winograd.c): every
geometry it takes (dilations, paddings, groups, batches, odd sizes, chunked tiles
and blocked filters, fp16 streaming) against a float64 reference, and against the
im2col path it replaces (_core.set_winograd(False)), which also shows whether
Winograd was taken: its rounding differs from im2col's."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from parity import check_parity
from pt2coreml import _core
from test_runtime_ops import program as op_program

RNG = np.random.default_rng(7)


def conv_text(xs, cout, pads, dil, groups, dt="fp32"):
    n, c, h, w = xs
    oh = h + pads[0] + pads[1] - 2 * dil[0]
    ow = w + pads[2] + pads[3] - 2 * dil[1]
    return f"""program(CoreML5)
func main(%x: {dt}[{n},{c},{h},{w}], %w: {dt}[{cout},{c // groups},3,3], %b: {dt}[{cout}]) {{
  %pt: string[] = const(val="custom")
  %pd: int32[4] = const(val=[{pads[0]}, {pads[1]}, {pads[2]}, {pads[3]}])
  %st: int32[2] = const(val=[1, 1])
  %dl: int32[2] = const(val=[{dil[0]}, {dil[1]}])
  %g: int32[] = const(val={groups})
  %y: {dt}[{n},{cout},{oh},{ow}] = conv(x=%x, weight=%w, bias=%b, pad_type=%pt, pad=%pd, strides=%st, dilations=%dl, groups=%g)
}} -> (%y)
"""


def reference(x, w, b, pads, dil, groups):
    t = F.pad(torch.tensor(x, dtype=torch.float64), (pads[2], pads[3], pads[0], pads[1]))
    return F.conv2d(t, torch.tensor(w, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), dilation=dil,
                    groups=groups).numpy()


def run_both(text, feeds):
    prog = _core.parse(text)
    was = _core.set_winograd(True)
    try:
        on = prog.run(feeds)[0]
        _core.set_winograd(False)
        off = prog.run(feeds)[0]
    finally:
        _core.set_winograd(was)
    return on, off


CASES = [
    # x shape, Cout, pads (top, bottom, left, right), dilation, groups, Winograd expected
    ((1, 16, 24, 24), 16, (1, 1, 1, 1), (1, 1), 1, True),
    ((1, 32, 25, 29), 24, (0, 0, 0, 0), (1, 1), 1, True),           # odd sizes, width not a multiple of 4
    ((2, 24, 18, 19), 32, (2, 2, 2, 2), (2, 2), 1, True),           # batch, dilation 2
    ((1, 16, 27, 20), 16, (3, 3, 1, 1), (3, 1), 1, True),           # different dilations per axis
    ((1, 32, 19, 21), 32, (2, 2, 3, 3), (2, 3), 1, True),
    ((1, 16, 20, 20), 32, (0, 2, 1, 0), (1, 1), 1, True),           # asymmetric padding
    ((2, 64, 14, 14), 64, (1, 1, 1, 1), (1, 1), 2, True),           # groups
    ((1, 16, 33, 30), 8, (4, 4, 4, 4), (4, 4), 1, True),            # padding as wide as the dilation
    ((1, 8, 9, 30), 8, (4, 4, 4, 4), (4, 4), 1, False),             # mostly padding tiles: im2col
    ((1, 128, 64, 64), 128, (1, 1, 1, 1), (1, 1), 1, True),         # several chunks of tile rows
    ((1, 256, 56, 56), 256, (2, 2, 2, 2), (2, 2), 1, True),         # chunks and blocks of filters
    ((1, 4, 9, 9), 8, (1, 1, 1, 1), (1, 1), 1, False),              # too few channels: im2col
    ((1, 256, 7, 7), 256, (1, 1, 1, 1), (1, 1), 1, False),          # too few tiles: im2col
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x%s_o%d_p%s_d%s_g%d" % (
    "x".join(map(str, c[0])), c[1], "".join(map(str, c[2])), "".join(map(str, c[3])), c[4]))
def test_winograd_matches_reference(case):
    xs, cout, pads, dil, groups, expected = case
    x = RNG.standard_normal(xs).astype(np.float32)
    w = (RNG.standard_normal((cout, xs[1] // groups, 3, 3)) / np.sqrt(9 * xs[1] // groups)).astype(np.float32)
    b = RNG.standard_normal(cout).astype(np.float32)
    on, off = run_both(conv_text(xs, cout, pads, dil, groups), [x, w, b])
    ref = reference(x, w, b, pads, dil, groups)
    scale = np.abs(ref).max()
    # im2col + GEMM is within ~2e-6 of the output scale; Winograd's transforms add
    # rounding (~1e-5 at 2304-term sums), well inside the 1e-4 parity tolerance
    for got, bound in ((on, 3e-5), (off, 5e-6)):
        assert got.shape == ref.shape
        err = np.abs(got - ref).max() / scale
        assert err <= bound, (err, np.unravel_index(np.abs(got - ref).argmax(), ref.shape))
    assert (not np.array_equal(on, off)) == expected


def test_winograd_fp16_streaming():
    """fp16 x, y and a weight big enough to stay fp16 in memory (converted in blocks)."""
    xs, cout = (1, 64, 30, 30), 64
    x = RNG.standard_normal(xs).astype(np.float16)
    w = (RNG.standard_normal((cout, 64, 3, 3)) / 24).astype(np.float16)
    params = {"weight": w, "strides": [1, 1], "dilations": [2, 2], "groups": 1, "pad_type": "custom",
              "pad": [2, 2, 2, 2]}
    ref = reference(x.astype(np.float32), w.astype(np.float32), np.zeros(cout, np.float32), (2, 2, 2, 2), (2, 2), 1)
    prog = _core.parse(op_program("conv", {"x": x}, params, [ref.astype(np.float16)]))
    was = _core.set_winograd(True)
    try:
        on = prog.run([x])[0]
        _core.set_winograd(False)
        off = prog.run([x])[0]
    finally:
        _core.set_winograd(was)
    assert on.dtype == np.float16 and on.shape == ref.shape
    scale = np.abs(ref).max()
    assert np.abs(on.astype(np.float64) - ref).max() <= 1e-2 * scale
    # same rounding points as im2col: results differ by at most one fp16 step (or by
    # the fp32 arithmetic's own error where the values are tiny)
    step = np.spacing(np.abs(off).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(on.astype(np.float64) - off.astype(np.float64)) <= step + 1e-5 * scale)
    assert not np.array_equal(on, off)


class ASPP(nn.Module):
    """DeepLab-style atrous branches: 3x3 convs at dilations 1, 2, 3 and 6, concatenated."""

    def __init__(self, c=32):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(c, c, 3, padding=d, dilation=d) for d in (1, 2, 3, 6))
        self.proj = nn.Conv2d(4 * c, c, 1)

    def forward(self, x):
        return self.proj(torch.cat([F.relu(b(x)) for b in self.branches], 1))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_winograd_in_converted_model(precision):
    torch.manual_seed(0)
    check_parity(ASPP().eval(), [torch.randn(1, 32, 33, 29)], precision=precision)
