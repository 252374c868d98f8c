"""Parity of the resampling family (csrc/lower/resample.c): upsample_bilinear2d (align_corners both ways,
size and scale_factor forms), upsample_nearest2d, pixel_shuffle / pixel_unshuffle, grid_sampler."""
import pytest
import torch
import torch.nn.functional as F

import pt2coreml as ct
from parity import check_parity


class Interp(torch.nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, x):
        return F.interpolate(x, **self.kw)


BILINEAR = [
    dict(scale_factor=2, mode="bilinear", align_corners=False),
    dict(scale_factor=2, mode="bilinear", align_corners=True),
    dict(scale_factor=3.0, mode="bilinear", align_corners=False),
    dict(scale_factor=1.5, mode="bilinear", align_corners=False),  # 6 * 1.5 = 9: whole output size
    dict(size=(13, 9), mode="bilinear", align_corners=False),
    dict(size=(13, 9), mode="bilinear", align_corners=True),
    dict(size=(3, 4), mode="bilinear", align_corners=False),  # downsampling
    dict(size=(12, 18), mode="bilinear", align_corners=True),
    dict(scale_factor=(2, 3), mode="bilinear", align_corners=False),
]
NEAREST = [
    dict(scale_factor=2, mode="nearest"),
    dict(scale_factor=(3, 2), mode="nearest"),
    dict(size=(12, 18), mode="nearest"),
    dict(size=(9, 7), mode="nearest"),
    dict(size=(4, 5), mode="nearest"),
]


@pytest.mark.parametrize("kw", BILINEAR + NEAREST, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_interpolate(kw, precision):
    x = torch.rand(1, 3, 6, 6 if "size" not in kw else 6)
    check_parity(Interp(**kw), [x], precision=precision)


def test_upsample_modules_and_batch():
    m = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Upsample(scale_factor=4, mode="bilinear"),
                            torch.nn.UpsamplingNearest2d(scale_factor=2))
    check_parity(m, [torch.rand(2, 2, 5, 7)])


def test_fractional_scale():
    """torch maps pixels with 1 / scale_factor, MIL's resize with in / out: where they differ the
    conversion builds torch's map (gathers) instead of a resize op."""
    m, _ = check_parity(Interp(scale_factor=1.3, mode="bilinear", align_corners=False), [torch.rand(1, 3, 7, 7)])
    assert "resize_bilinear" not in m._prog.histogram()


class Shuffle(torch.nn.Module):
    def __init__(self, up, r):
        super().__init__()
        self.f = torch.nn.PixelShuffle(r) if up else torch.nn.PixelUnshuffle(r)

    def forward(self, x):
        return self.f(x) * 2.0


@pytest.mark.parametrize("target", [None, ct.target.iOS16])
def test_pixel_shuffle_unshuffle(target):
    kw = {} if target is None else {"minimum_deployment_target": target}
    check_parity(Shuffle(True, 2), [torch.rand(1, 8, 3, 5)], **kw)
    check_parity(Shuffle(False, 2), [torch.rand(2, 3, 6, 4)], **kw)
    check_parity(Shuffle(False, 3), [torch.rand(1, 2, 9, 6)], **kw)


class Grid(torch.nn.Module):
    def __init__(self, mode, pad, ac):
        super().__init__()
        self.kw = dict(mode=mode, padding_mode=pad, align_corners=ac)

    def forward(self, x, g):
        return F.grid_sample(x, g, **self.kw)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sampler(mode, pad, ac):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 5, 6)
    g = torch.rand(2, 4, 7, 2) * 2.6 - 1.3  # some samples fall outside [-1, 1]
    if mode == "nearest":  # keep samples away from pixel boundaries, where rounding may go either way
        g = torch.round(g * 4) / 4 + 0.01
    check_parity(Grid(mode, pad, ac), [x, g])
