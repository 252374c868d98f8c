"""Sizes computed from x.size() on inputs of run-time shape (RangeDim, EnumeratedShapes): the ops that
take them (pad, interpolate, reshape / view, expand, repeat, slicing, arange, zeros / ones / full,
meshgrid, repeat_interleave, unfold, einsum) read them at run time. Each model is converted once and
predicted at several sizes inside the declared range, each compared with PyTorch, and the written
package is read back by coremltools' MIL loader. Where MIL needs a conversion-time constant, the
conversion fails naming the TorchScript op, the MIL op and input."""
import math
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pt2coreml as ct
from parity import TOL, compare, coremltools_check, torch_outputs

HW = (1, 3, ct.RangeDim(8, 64, default=16), ct.RangeDim(8, 64, default=16))
SIZES = [(16, 16), (8, 8), (9, 13), (31, 20), (64, 47)]


def _run_shapes(module, shape, sizes, script=False, example=(16, 16), precision="fp32"):
    """Convert `module` once for input shape `shape` and compare predict() with PyTorch at each size in
    `sizes` ((h, w) pairs, or whole shapes); the package is checked by coremltools' reader."""
    torch.manual_seed(0)
    ex = torch.randn(1, 3, *example)
    module = module.eval()
    sm = torch.jit.script(module) if script else torch.jit.trace(module, (ex,), check_trace=False)
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    ml = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=shape)], compute_precision=prec)
    names = [f["name"] for f in ml._desc["outputs"]]
    for s in sizes:
        full = s if len(s) == 4 else (1, 3) + tuple(s)
        x = torch.randn(*full)
        refs = torch_outputs(sm, [x])
        # the eager module too: a trace that baked in the example's sizes would differ from it
        with torch.no_grad():
            eager = module(x)
        eager = [eager] if isinstance(eager, torch.Tensor) else list(eager)
        out = ml.predict({"x": x.numpy()})
        assert len(names) == len(refs)
        for n, r, e in zip(names, refs, eager):
            compare(f"{n} at {full}", out[n], e.numpy(), TOL[precision])
            compare(f"{n} at {full} (script)", out[n], r, TOL[precision])
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.mlpackage")
        ml.save(path)
        coremltools_check(path)
        back = ct.models.MLModel(path)
        x = torch.randn(1, 3, *sizes[-1][-2:])
        with torch.no_grad():
            ref = module(x)
        ref = ref if isinstance(ref, torch.Tensor) else ref[0]
        compare("reloaded", back.predict({"x": x.numpy()})[names[0]], ref.numpy(), TOL[precision])
    return ml


# ---- pad ----
def _same(x, k, s):
    """timm's get_same_padding: an int in eager mode and scripting, a tensor under tracing."""
    if isinstance(x, torch.Tensor):
        return torch.clamp(((x / s).ceil() - 1) * s + (k - 1) + 1 - x, min=0)
    return max((math.ceil(x / s) - 1) * s + (k - 1) + 1 - x, 0)


class SamePad(torch.nn.Module):
    """timm's pad_same followed by a stride-2 conv (Conv2dSame)."""

    def __init__(self, mode="constant"):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=2)
        self.mode = mode

    def forward(self, x):
        ih, iw = x.size()[-2:]
        ph, pw = _same(ih, 3, 2), _same(iw, 3, 2)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=self.mode)
        return self.conv(x)


class SamePadScript(torch.nn.Module):
    """The same padding as scripted code writes it (ints and math.ceil)."""

    def __init__(self, mode: str = "constant"):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        ih, iw = x.shape[-2], x.shape[-1]
        ph = max((math.ceil(ih / 2) - 1) * 2 + 3 - ih, 0)
        pw = max((math.ceil(iw / 3) - 1) * 3 + 5 - iw, 0)
        return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2], mode=self.mode)


class PadToMultiple(torch.nn.Module):
    """Pad H and W up to a multiple of 8 (the form detectors and swin write)."""

    def forward(self, x):
        h, w = x.shape[-2:]
        return F.pad(x, (0, (8 - w % 8) % 8, 0, (8 - h % 8) % 8), value=1.5)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
def test_same_padding_traced(mode):
    _run_shapes(SamePad(mode), HW, SIZES)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_same_padding_scripted(mode):
    _run_shapes(SamePadScript(mode), HW, SIZES, script=True)


# ---- interpolate ----
class InterpSize(torch.nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        h, w = x.shape[-2:]
        if self.mode == "nearest":
            return F.interpolate(x, size=(h * 2, w * 3), mode="nearest")
        return F.interpolate(x, size=(h * 2, w * 3), mode=self.mode, align_corners=False)


class InterpHalf(torch.nn.Module):
    """Down to a computed size (not an integer ratio of every input)."""

    def forward(self, x):
        h, w = x.shape[-2:]
        return F.interpolate(x, size=(h // 2 + 1, w // 3 + 2), mode="bilinear", align_corners=True)


class InterpScale(torch.nn.Module):
    def __init__(self, mode, scale):
        super().__init__()
        self.mode, self.scale = mode, scale

    def forward(self, x):
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return F.interpolate(x, scale_factor=self.scale, mode=self.mode, align_corners=False)


class InterpLike(torch.nn.Module):
    """FPN's top-down path: upsample one map to another's size."""

    def forward(self, x):
        small = F.avg_pool2d(x, 2, ceil_mode=True)
        return x + F.interpolate(small, size=x.shape[-2:], mode="nearest")


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_computed_size(mode):
    _run_shapes(InterpSize(mode), HW, SIZES)


def test_interpolate_computed_size_scripted():
    _run_shapes(InterpSize("bilinear"), HW, SIZES, script=True)


def test_interpolate_computed_size_align_corners():
    _run_shapes(InterpHalf(), HW, SIZES)


class InterpRunTimeScale(torch.nn.Module):
    """Scale factors known only at run time (a number read from an input in scripted code)."""

    def __init__(self, mode, align_corners=None):
        super().__init__()
        self.mode = mode
        self.ac = align_corners

    def forward(self, x, s):
        f = float(s)
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=f, mode="nearest")
        return F.interpolate(x, scale_factor=[f, f * 0.5 + 1.0], mode="bilinear", align_corners=self.ac)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("mode,ac", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_interpolate_run_time_scale_factor(mode, ac, precision):
    """The output size floor(in * scale) and torch's source positions (1 / scale) are computed at run time,
    with a static input and with a RangeDim one."""
    sm = torch.jit.script(InterpRunTimeScale(mode, ac).eval())
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    for shape in [(1, 3, 9, 13), HW]:
        ml = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=shape), ct.TensorType(name="s", shape=(1,))],
                        compute_precision=prec)
        name = ml._desc["outputs"][0]["name"]
        for hw, sv in [((9, 13), 1.5), ((9, 13), 2.0), ((9, 13), 2.7), ((9, 13), 0.6), ((16, 8), 1.25)]:
            if shape != HW and hw != (9, 13):
                continue
            x, s = torch.randn(1, 3, *hw), torch.tensor([sv])
            with torch.no_grad():
                ref = sm(x, s).numpy()
            compare(f"{mode} scale {sv} at {hw}", ml.predict({"x": x.numpy(), "s": s.numpy()})[name], ref, TOL[precision])


@pytest.mark.parametrize("mode,scale", [("nearest", 2.0), ("bilinear", 2.0), ("nearest", 0.5), ("bilinear", 1.5)])
def test_interpolate_scale_factor(mode, scale):
    _run_shapes(InterpScale(mode, scale), HW, SIZES)


# ---- reshape, view, flatten, expand ----
class Heads(torch.nn.Module):
    """Patch tokens: flatten H*W, split channels into heads, and back."""

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.view(b, c, h * w).transpose(1, 2)            # [b, hw, c]
        t = t.reshape(b, h * w, c, 1).flatten(2)            # [b, hw, c]
        y = t.transpose(1, 2).reshape(b, c, h, w)
        return y * 2 + x.reshape(b, -1, w).sum(1, keepdim=True).unsqueeze(1)


class ViewNeg(torch.nn.Module):
    def forward(self, x):
        n = x.size(2)
        return x.view(-1, n).softmax(-1).view(x.shape)


class Expand(torch.nn.Module):
    def forward(self, x):
        b, c, h, w = x.shape
        m = x.mean(dim=(1, 2), keepdim=True)                # [1, 1, 1, w]
        return m.expand(b, c, h, w) + m.expand_as(x) * 0.5 + x[:, :1].expand(-1, c, -1, -1)


# ---- repeat / tile ----
class Repeat(torch.nn.Module):
    def forward(self, x):
        h = x.size(2)
        m = x.mean(dim=2, keepdim=True)                     # [1, 3, 1, w]
        return m.repeat(1, 1, h, 1) - x + x[..., :1].repeat(1, 1, 1, x.size(3) // 4 + 1).sum(-1, keepdim=True)


class Tile(torch.nn.Module):
    def forward(self, x):
        w = x.shape[-1]
        return torch.tile(x[..., :2], (1, 1, 1, w // 2 + 1))


# ---- slicing ----
class SliceComputed(torch.nn.Module):
    def forward(self, x):
        h, w = x.shape[-2:]
        a = x[:, :, : h // 2, w // 4:]
        b = x[:, :, h - 3:, : w - 2]
        c = x.narrow(3, 1, w // 2)
        return a.sum(dim=(2, 3)) + b.sum(dim=(2, 3)) * 2 + c.mean(dim=(2, 3))


class SliceStep(torch.nn.Module):
    def forward(self, x):
        n = x.size(2)
        return x[:, :, 1:n - 1:2, ::2] * x[:, :, : (n - 1) // 2 * 2 + 1:2][:, :, 1:, ::2]


# ---- creation from sizes ----
class Arange(torch.nn.Module):
    def forward(self, x):
        h, w = x.size(2), x.size(3)
        r = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
        c = torch.arange(0, w, 2, dtype=torch.float32)
        return (x + r)[..., ::2] * c


class ZerosLike(torch.nn.Module):
    def forward(self, x):
        z = torch.zeros(x.shape)
        o = torch.ones(x.size(0), x.size(1), x.size(2), 1)
        f = torch.full((1, 1, x.size(2), x.size(3)), 2.5)
        e = x.new_zeros(x.shape) + x.new_ones((1, x.shape[1], 1, 1))
        return z + o + f * x + e


class Meshgrid(torch.nn.Module):
    """Position grids from the input size (the grid DETR and RoPE-2D build)."""

    def forward(self, x):
        h, w = x.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                indexing="ij")
        grid = torch.stack((xs / w, ys / h), 0).unsqueeze(0)
        return x[:, :2] * grid


# ---- repeat_interleave, unfold, einsum ----
class RepeatInterleave(torch.nn.Module):
    def forward(self, x):
        m = x.mean(dim=(2, 3))                              # [1, 3]
        r = m.repeat_interleave(x.size(2), dim=1)          # [1, 3 * h]
        s = x.repeat_interleave(2, dim=3)                  # [1, 3, h, 2w]
        return r.sum(-1, keepdim=True) + s.sum(dim=(1, 2, 3))


class Unfold(torch.nn.Module):
    def forward(self, x):
        p = F.unfold(x, kernel_size=3, padding=1, stride=2)   # [1, 27, L]
        return p.sum(-1)


class UnfoldTensor(torch.nn.Module):
    """Tensor.unfold: sliding windows along one axis."""

    def forward(self, x):
        return x.unfold(3, 4, 2).mean(-1)


def test_functional_unfold_dynamic():
    _run_shapes(Unfold(), HW, SIZES)


def test_tensor_unfold_dynamic():
    _run_shapes(UnfoldTensor(), HW, SIZES)


class Einsum(torch.nn.Module):
    def forward(self, x):
        a = torch.einsum("bchw,bcvw->bhv", x, x)
        b = torch.einsum("bchw->bwh", x)
        return a.sum(-1) + b.sum(1) + torch.einsum("bchw,c->bhw", x, torch.tensor([1.0, 2.0, 3.0])).sum(-1)


# ---- EnumeratedShapes ----
def test_enumerated_shapes_same_padding_and_interpolate():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pad = SamePad("constant")

        def forward(self, x):
            y = self.pad(x)
            h, w = x.shape[-2:]
            return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False) + x.mean(1, keepdim=True)

    shapes = ct.EnumeratedShapes([(1, 3, 16, 16), (1, 3, 9, 13), (1, 3, 32, 24)], default=(1, 3, 16, 16))
    _run_shapes(Net(), shapes, [(16, 16), (9, 13), (32, 24)])


# ---- values MIL's ops take as constants, given at run time ----
class FullOfSize(torch.nn.Module):
    """torch.full with a value from the input's size (MIL's fill takes a constant value)."""

    def forward(self, x):
        return x + torch.full((1, 1, 1, 1), x.size(2)) + torch.full_like(x, x.size(3) * 0.5)


class StepFromSize(torch.nn.Module):
    """A slice step from the input's size (MIL's slice_by_index takes a constant stride)."""

    def forward(self, x):
        k = x.size(2) // 4
        return x[:, :, ::k] + 1, x[:, :, 1 : x.size(2) - 1 : k, -x.size(3) // 2 :: 2]


class RollBySize(torch.nn.Module):
    def forward(self, x):
        return torch.roll(x, x.size(2) // 3, 2) + torch.roll(x, (1, -x.size(3) // 2), (2, 3))


class CircularPad(torch.nn.Module):
    def forward(self, x):
        return F.pad(x, (x.size(3) // 4, 1, 2, x.size(2) // 3), mode="circular")


def test_roll_by_size_scripted():
    """(tracing records torch.roll's shifts as numbers: only scripting keeps them computed)"""
    _run_shapes(RollBySize(), HW, SIZES, script=True)


def test_roll_on_run_time_shape_traced():
    class Roll(torch.nn.Module):
        def forward(self, x):
            return torch.roll(x, (2, -3), (2, 3)) - torch.roll(x, 5)

    _run_shapes(Roll(), HW, SIZES)


class ScaleFromSize(torch.nn.Module):
    """A scale factor computed from the input's run-time size in scripted code."""

    def forward(self, x):
        return F.interpolate(x, scale_factor=float(x.size(2)) / 8.0, mode="nearest")


def test_run_time_scale_factor_from_size():
    _run_shapes(ScaleFromSize(), HW, [(16, 16), (8, 8), (9, 13), (31, 20)], script=True)


# ---- fp16 compute: the positions a run-time resize reads are computed in fp32 ----
@pytest.mark.parametrize("module", [InterpSize("nearest"), InterpSize("bilinear"), InterpHalf(),
                                    InterpScale("bilinear", 1.5), InterpScale("nearest", 0.5)],
                         ids=["nearest_size", "bilinear_size", "bilinear_align_corners", "bilinear_scale",
                              "nearest_scale"])
def test_interpolate_run_time_size_fp16(module):
    _run_shapes(module, HW, SIZES + [(47, 61), (23, 37)], precision="fp16")


# ---- every form above that both tracing and scripting keep computed ----
TRACED_AND_SCRIPTED = [
    ("pad_to_multiple", PadToMultiple),
    ("interpolate_to_other_size", InterpLike),
    ("reshape_view_flatten", Heads),
    ("view_with_minus_one", ViewNeg),
    ("expand_to_computed_size", Expand),
    ("repeat_computed_reps", Repeat),
    ("tile_computed_reps", Tile),
    ("slice_computed_bounds", SliceComputed),
    ("slice_computed_with_step", SliceStep),
    ("arange_from_size", Arange),
    ("zeros_ones_full_from_shape", ZerosLike),
    ("meshgrid_from_size", Meshgrid),
    ("repeat_interleave_dynamic", RepeatInterleave),
    ("einsum_dynamic", Einsum),
    ("full_with_value_from_size", FullOfSize),
    ("slice_step_from_size", StepFromSize),
    ("circular_pad_by_size", CircularPad),
]


@pytest.mark.parametrize("script", [False, True], ids=["traced", "scripted"])
@pytest.mark.parametrize("make", [c for _, c in TRACED_AND_SCRIPTED], ids=[n for n, _ in TRACED_AND_SCRIPTED])
def test_sizes_from_the_input(make, script):
    _run_shapes(make(), HW, SIZES, script=script)
