"""Op coverage, pooling: max_pool1d/2d/3d (ceil_mode, padding, kernel < stride), avg_pool1d/2d/3d
(count_include_pad, divisor_override, ceil_mode), adaptive_avg_pool1d/2d/3d and adaptive_max_pool1d/2d
(evenly dividing, uneven windows, global, None entries), unbatched inputs. Converted, run in our
runtime, compared with PyTorch (fp32; fp16 subset)."""
import pytest
import torch
import torch.nn as nn

from cov_seeded import r, run

POOLS = [
    (nn.MaxPool1d(3, stride=2), (2, 3, 11)),
    (nn.MaxPool1d(2, stride=2, padding=1, ceil_mode=True), (2, 3, 10)),
    (nn.MaxPool1d(1, stride=2, ceil_mode=True), (1, 2, 6)),  # kernel < stride: torch drops the last window
    (nn.MaxPool2d(2), (1, 3, 9, 10)),
    (nn.MaxPool2d(3, stride=2, padding=1), (1, 3, 9, 10)),
    (nn.MaxPool2d(3, stride=2, ceil_mode=True), (1, 3, 8, 10)),
    (nn.MaxPool2d((2, 3), stride=(2, 1), padding=(1, 1), ceil_mode=True), (1, 2, 7, 7)),
    (nn.MaxPool2d(1, stride=3, ceil_mode=True), (1, 2, 9, 7)),
    (nn.MaxPool2d(3, stride=2), (3, 9, 9)),  # unbatched
    (nn.MaxPool3d(2), (1, 2, 4, 6, 6)),
    (nn.MaxPool3d(3, stride=2, padding=1, ceil_mode=True), (1, 2, 5, 6, 7)),
    (nn.AvgPool1d(3, stride=2, padding=1), (2, 3, 10)),
    (nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True), (2, 3, 10)),
    (nn.AvgPool2d(2), (1, 3, 8, 8)),
    (nn.AvgPool2d(3, stride=2, padding=1), (1, 3, 9, 10)),
    (nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (1, 3, 9, 10)),
    (nn.AvgPool2d(3, stride=2, ceil_mode=True), (1, 3, 8, 10)),
    (nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (1, 3, 8, 10)),
    (nn.AvgPool2d(3, stride=2, divisor_override=5), (1, 3, 9, 9)),
    (nn.AvgPool2d(2, stride=2, padding=1, divisor_override=3), (1, 3, 6, 6)),
    (nn.AvgPool3d(2, stride=2), (1, 2, 4, 6, 6)),
    (nn.AvgPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), count_include_pad=False), (1, 2, 3, 7, 7)),
    (nn.AvgPool3d(2, divisor_override=3), (1, 2, 4, 4, 4)),
]


@pytest.mark.parametrize("mod,shape", POOLS, ids=[f"{i}-{type(m).__name__}" for i, (m, _) in enumerate(POOLS)])
def test_pool(mod, shape):
    run(mod, [r(*shape)])


ADAPTIVE = [
    (nn.AdaptiveAvgPool1d(1), (2, 3, 7)),
    (nn.AdaptiveAvgPool1d(3), (2, 3, 9)),
    (nn.AdaptiveAvgPool1d(4), (2, 3, 10)),  # uneven windows
    (nn.AdaptiveAvgPool2d(1), (2, 3, 7, 9)),
    (nn.AdaptiveAvgPool2d((2, 3)), (1, 3, 8, 9)),
    (nn.AdaptiveAvgPool2d((3, 5)), (1, 3, 7, 9)),  # uneven
    (nn.AdaptiveAvgPool2d(7), (1, 2, 10, 10)),  # uneven, overlapping windows
    (nn.AdaptiveAvgPool2d((None, 2)), (1, 2, 5, 6)),
    (nn.AdaptiveAvgPool2d((2, 2)), (3, 5, 5)),  # unbatched
    (nn.AdaptiveAvgPool3d((1, 2, 3)), (1, 2, 3, 4, 7)),
    (nn.AdaptiveMaxPool1d(3), (2, 3, 8)),
    (nn.AdaptiveMaxPool2d(1), (1, 3, 7, 9)),
    (nn.AdaptiveMaxPool2d((2, 3)), (1, 3, 8, 9)),
    (nn.AdaptiveMaxPool2d((3, 4)), (1, 3, 7, 9)),
]


@pytest.mark.parametrize("mod,shape", ADAPTIVE, ids=[f"{i}-{type(m).__name__}" for i, (m, _) in enumerate(ADAPTIVE)])
def test_adaptive(mod, shape):
    run(mod, [r(*shape)])


@pytest.mark.parametrize("i", [5, 14, 16])
def test_pool_fp16(i):
    mod, shape = POOLS[i]
    run(mod, [r(*shape)], precision="fp16")


@pytest.mark.parametrize("i", [5, 13])
def test_adaptive_fp16(i):
    mod, shape = ADAPTIVE[i]
    run(mod, [r(*shape)], precision="fp16")
