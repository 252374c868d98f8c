"""Op coverage, creation and casts: arange/zeros/ones/full/empty (+_like, new_), sizes from other
tensors, linspace, eye, scalar_tensor/tensor, dtype casts; traced and scripted, run in our
runtime and compared with PyTorch."""
import pytest
import torch
import torch.nn as nn

from cov_common import Fn, r, run

A = r(2, 3, 4, scale=3.0)
I = (r(2, 3, 4, seed=3) * 3).round().to(torch.int32)

CASES = {
    "arange_end": lambda x: x + torch.arange(4),
    "arange_start_end": lambda x: x * torch.arange(1, 5),
    "arange_step": lambda x: x + torch.arange(0, 8, 2),
    "arange_float": lambda x: x + torch.arange(0.5, 2.5, 0.5),
    "arange_neg_step": lambda x: x + torch.arange(3, -1, -1),
    "arange_dtype": lambda x: x + torch.arange(4, dtype=torch.float32),
    "arange_from_size": lambda x: x + torch.arange(x.size(-1)),
    "arange_int_out": lambda x: torch.arange(x.shape[1]) * 2,
    "zeros": lambda x: x + torch.zeros(3, 4),
    "ones": lambda x: x * torch.ones(4),
    "ones_int": lambda x: torch.ones(2, 3, dtype=torch.int32) + x.shape[0],
    "full": lambda x: x + torch.full((3, 1), 2.5),
    "full_int": lambda x: torch.full((2, 2), 7),
    "ones_bool": lambda x: (torch.ones(2, 3, 4, dtype=torch.bool) & (x > 0)).float(),
    "empty": lambda x: torch.empty(0, 4).sum(0) + x,
    "zeros_size_of": lambda x: x + torch.zeros(x.size()),
    "ones_size_of_dims": lambda x: torch.ones(x.size(0), x.size(2)) * 3,
    "zeros_like": lambda x: torch.zeros_like(x) + 1,
    "ones_like": lambda x: torch.ones_like(x) * x,
    "ones_like_dtype": lambda x: torch.ones_like(x, dtype=torch.int32),
    "full_like": lambda x: torch.full_like(x, -2.0) - x,
    "empty_like": lambda x: torch.empty_like(x).zero_() + x,
    "new_zeros": lambda x: x.new_zeros((3, 4)) + x,
    "new_ones": lambda x: x.new_ones(4) + x,
    "new_full": lambda x: x.new_full((2, 1, 4), 0.25) * x,
    "new_empty": lambda x: x.new_empty(0).sum() + x,
    "fill_": lambda x: x.clone().fill_(1.5) + x,
    "zero_": lambda x: x.clone().zero_() + 3,
    "linspace": lambda x: x + torch.linspace(-1, 1, 4),
    "linspace_odd": lambda x: x[..., :1] * torch.linspace(0, 10, 7),
    "eye": lambda x: x[0, :, :3] @ torch.eye(3),
    "eye_rect": lambda x: x[0] @ torch.eye(4, 2),
    "to_dtype": lambda x: x.to(torch.int32),
    "to_other": lambda x: x.round().to(torch.int32).to(x),
    "type_as": lambda x: (x * 2).int().type_as(x) / 3,
    "float_int_long": lambda x: x.int().float() + x.long() + x.float(),
    "bool_cast": lambda x: x.round().bool().float(),
    "to_half_back": lambda x: x.half().float(),
    "int_input_float": lambda x: x.float() / 2,
    "long_div": lambda x: x.long() // 2,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_creation(name):
    x = I if name in ("int_input_float", "long_div") else A
    run(Fn(CASES[name]), [x])


class Scripted(nn.Module):
    def forward(self, x):
        n = x.size(1)
        a = torch.arange(n) + torch.arange(0, n, 1, dtype=torch.float32)
        z = torch.zeros(x.size(0), n, x.size(2)) + torch.ones([4]) + torch.full([1], 0.5)
        t = torch.tensor([1.0, 2.0, 3.0, 4.0]) + torch.tensor(2.0) + torch.scalar_tensor(1)
        e = torch.eye(n)
        s = torch.tensor(x.size(0)).float() + torch.as_tensor(x.int(), dtype=torch.float32)
        return (x + z + t + s, a.unsqueeze(0) @ e, torch.linspace(0.0, 1.0, 5), x.new_zeros(2, 2), x.to(torch.int32),
                torch.zeros_like(x, dtype=torch.int32), x.int().float(), x.type_as(a))


def test_scripted():
    run(Scripted(), [A], script=True)


def test_tensor_2d_and_int_of_tensor():
    class M(nn.Module):
        def forward(self, x):
            k = int(x.sum() > 0)
            return x * torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]) + k
    run(M(), [A], script=True)


def test_fp16():
    run(Fn(lambda x: x + torch.arange(4) * 0.5 + torch.linspace(0, 1, 4) + torch.ones_like(x)), [A], precision="fp16")
    run(Fn(lambda x: x.half().float() * torch.full((3, 4), 2.0)), [A], precision="fp16")


def test_like_with_run_time_shape():
    import numpy as np
    import pt2coreml as ct
    from parity import compare

    class M(nn.Module):
        def forward(self, x):
            return (torch.zeros_like(x) + torch.ones_like(x) * 2 + torch.full_like(x, 0.5)
                    + torch.empty_like(x).fill_(1.0) + torch.ones_like(x, dtype=torch.int32))
    sm = torch.jit.trace(M().eval(), (A,))
    shape = ct.Shape(shape=(ct.RangeDim(1, 8, default=2), 3, 4))
    m = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=shape)], compute_precision=ct.precision.FLOAT32)
    for b in (1, 5):
        x = torch.randn(b, 3, 4)
        x[0, 0, 0] = float("inf")
        x[0, 0, 1] = float("nan")
        compare("out", list(m.predict({"x": x.numpy()}).values())[0], sm(x).numpy(), 1e-6)


def test_fill_with_run_time_value():
    """fill_ with a tensor value computed from the input (not a constant), also through a view."""
    class M(nn.Module):
        def forward(self, x):
            y = torch.zeros(2, 3, 4)
            y.fill_(x.mean())
            z = x.clone()
            z[:, 0].fill_(x.max())
            return y + z

    run(M(), [A])
    run(M(), [A], script=True)
