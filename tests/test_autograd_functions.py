"""Custom autograd Functions (torch.autograd.Function.apply) in traced models: the tracer records a
prim::PythonOp that keeps the ops forward ran as a subgraph (transformers: BLOOM's GeLUFunction,
SEW-D's XSoftmax, YOSO's cumulation, RecurrentGemma's SqrtBoundDerivative). They are inlined, with
the outputs paired by value: the subgraph lists them in the order their ops ran, not the order
forward returned them. Each model converts and matches PyTorch."""
import numpy as np
import pytest
import torch

import pt2coreml as ct
from parity import check_parity

PRECISIONS = ["fp32", "fp16"]


class TanhGelu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))

    @staticmethod
    def backward(ctx, g):
        return g


class MaskedSoftmax(torch.autograd.Function):
    """Returns (probabilities, mask), but computes the mask first: the subgraph lists it first."""

    @staticmethod
    def forward(ctx, x, mask, dim):
        rmask = ~(mask.to(torch.bool))
        out = x.masked_fill(rmask, torch.finfo(x.dtype).min)
        out = torch.softmax(out, dim)
        out = out.masked_fill(rmask, 0)
        return out, rmask

    @staticmethod
    def backward(ctx, g, h):
        return g, None, None


class Swapped(torch.autograd.Function):
    """Two outputs of one type, returned in the reverse of the order they were computed, and an input
    returned as it is (the subgraph has no output for it)."""

    @staticmethod
    def forward(ctx, x, y, scale):
        a = x * scale
        b = x - y
        return b, a, y

    @staticmethod
    def backward(ctx, gb, ga, gy):
        return ga, gb, None


class GeluNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x):
        return TanhGelu.apply(self.fc(x)) + 1


class SoftmaxNet(torch.nn.Module):
    def forward(self, x, mask):
        p, m = MaskedSoftmax.apply(x * 2, mask, -1)
        return p + m.float()


class SwappedNet(torch.nn.Module):
    def forward(self, x, y):
        b, a, y2 = Swapped.apply(x, y, 3.0)
        return b * 10 + a, y2


def _mask():
    m = torch.ones(2, 4, 6, dtype=torch.int32)
    m[:, :, 4:] = 0
    m[1, 2, 0] = 0
    return m


@pytest.mark.parametrize("precision", PRECISIONS)
def test_autograd_function_single_output(precision):
    check_parity(GeluNet(), [torch.randn(3, 8)], precision=precision)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_autograd_function_outputs_in_computed_order(precision):
    check_parity(SoftmaxNet(), [torch.randn(2, 4, 6), _mask()], precision=precision,
                 input_types=[ct.TensorType(name="x", shape=(2, 4, 6)),
                              ct.TensorType(name="mask", shape=(2, 4, 6), dtype=np.int32)])


@pytest.mark.parametrize("precision", PRECISIONS)
def test_autograd_function_swapped_same_type_outputs(precision):
    check_parity(SwappedNet(), [torch.randn(5), torch.randn(5)], precision=precision)

