"""Op coverage, convolution: conv1d/2d/3d, _convolution, groups/depthwise, dilation, padding
'same'/'valid'/explicit, unbatched inputs, conv_transpose1d/2d/3d with output_padding (also larger
than padding). Converted, run in our runtime, compared with PyTorch (fp32; fp16 subset)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cov_seeded import Fn, r, run

CONV = [
    (nn.Conv1d, dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 17)),
    (nn.Conv1d, dict(in_channels=4, out_channels=4, kernel_size=5, groups=4, padding="same", dilation=2), (1, 4, 16)),
    (nn.Conv1d, dict(in_channels=3, out_channels=6, kernel_size=4, stride=3, padding=2, bias=False), (2, 3, 20)),
    (nn.Conv1d, dict(in_channels=3, out_channels=2, kernel_size=3, padding="valid"), (3, 12)),  # unbatched
    (nn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 9, 10)),
    (nn.Conv2d, dict(in_channels=3, out_channels=6, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
     (1, 3, 11, 12)),
    (nn.Conv2d, dict(in_channels=6, out_channels=6, kernel_size=3, groups=6, padding=1, stride=2), (1, 6, 9, 9)),
    (nn.Conv2d, dict(in_channels=4, out_channels=8, kernel_size=2, groups=2, padding="same"), (1, 4, 7, 8)),
    (nn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="reflect"), (1, 3, 8, 8)),
    (nn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3, padding=2, padding_mode="replicate"), (1, 3, 8, 8)),
    (nn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="circular"), (1, 3, 8, 8)),
    (nn.Conv2d, dict(in_channels=2, out_channels=3, kernel_size=3, padding="same"), (2, 6, 7)),  # unbatched
    (nn.Conv3d, dict(in_channels=2, out_channels=3, kernel_size=3), (1, 2, 5, 6, 7)),
    (nn.Conv3d, dict(in_channels=4, out_channels=4, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1),
                     groups=2, dilation=(1, 1, 1)), (2, 4, 3, 8, 8)),
    (nn.Conv3d, dict(in_channels=2, out_channels=2, kernel_size=3, padding="same", dilation=2), (1, 2, 6, 6, 6)),
]


@pytest.mark.parametrize("cls,kw,shape", CONV, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CONV)])
def test_conv(cls, kw, shape):
    torch.manual_seed(0)
    run(cls(**kw), [r(*shape)])


TRANSPOSED = [
    (nn.ConvTranspose1d, dict(in_channels=3, out_channels=4, kernel_size=3, stride=2), (2, 3, 9)),
    (nn.ConvTranspose1d, dict(in_channels=4, out_channels=2, kernel_size=4, stride=3, padding=1, output_padding=2),
     (1, 4, 7)),  # output_padding > padding
    (nn.ConvTranspose2d, dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1),
     (1, 4, 5, 6)),
    (nn.ConvTranspose2d, dict(in_channels=4, out_channels=4, kernel_size=4, stride=2, padding=1, groups=4, bias=False),
     (1, 4, 5, 5)),
    (nn.ConvTranspose2d, dict(in_channels=3, out_channels=2, kernel_size=3, stride=(2, 3), output_padding=(1, 2),
                              dilation=1), (2, 3, 4, 5)),  # padding 0 < output_padding
    (nn.ConvTranspose2d, dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, dilation=2, padding=2,
                              output_padding=1, groups=2), (1, 2, 5, 5)),
    (nn.ConvTranspose3d, dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1, output_padding=1),
     (1, 2, 3, 4, 4)),
    (nn.ConvTranspose3d, dict(in_channels=2, out_channels=2, kernel_size=2, stride=2, output_padding=1), (1, 2, 2, 3, 3)),
]


@pytest.mark.parametrize("cls,kw,shape", TRANSPOSED, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(TRANSPOSED)])
def test_conv_transpose(cls, kw, shape):
    torch.manual_seed(0)
    run(cls(**kw), [r(*shape)], ops=["conv_transpose"])


def test_functional_conv_with_tensor_weight():
    # weight as a graph input: conv with a non-const weight
    run(Fn(lambda x, w: F.conv2d(x, w, stride=2, padding=1)), [r(1, 3, 8, 8), r(5, 3, 3, 3)], ops=["conv"])


def test_convolution_op_directly():
    w, b = r(4, 3, 3, 3), r(4)

    def f(x):
        return torch._convolution(x, w, b, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, False, False, True, True)
    run(Fn(f), [r(1, 3, 6, 6)], ops=["conv"])
    wt = r(3, 2, 3, 3)

    def g(x):
        return torch._convolution(x, wt, None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1, False, False, True, True)
    run(Fn(g), [r(1, 3, 4, 4)], ops=["conv_transpose"])


@pytest.mark.parametrize("i", [1, 6, 13])
def test_conv_fp16(i):
    cls, kw, shape = CONV[i]
    torch.manual_seed(0)
    run(cls(**kw), [r(*shape)], precision="fp16")


@pytest.mark.parametrize("i", [1, 2, 6])
def test_conv_transpose_fp16(i):
    cls, kw, shape = TRANSPOSED[i]
    torch.manual_seed(0)
    run(cls(**kw), [r(*shape)], precision="fp16")
