"""Shared by the op-coverage parity tests of tests/test_cov_{conv,linalg,norm,pool,shape,seq,models}.py:
a module around a lambda and one call that converts, runs in our runtime and compares with PyTorch."""
import torch
import torch.nn as nn

from lower_common import CHECK_COREMLTOOLS
from parity import check_parity


class Fn(nn.Module):
    """A module around a lambda fn(*inputs), with optional submodules / parameters as attributes."""

    def __init__(self, fn, **mods):
        super().__init__()
        self.fn = fn
        for k, v in mods.items():
            setattr(self, k, v)

    def forward(self, *xs):
        return self.fn(*xs)


def r(*shape, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed + 7 * len(shape) + sum(shape))
    return torch.randn(*shape, generator=g) * scale


def run(module, inputs, precision="fp32", script=False, ops=(), absent=(), tol=None, **kw):
    """Convert (traced, or scripted), run and compare every output; optionally check the MIL op histogram."""
    mlmodel, err = check_parity(module, inputs, precision=precision, script=script, tol=tol,
                                check_coremltools=CHECK_COREMLTOOLS, **kw)
    if ops or absent:
        hist = mlmodel._prog.histogram()
        for op in ops:
            assert op in hist, f"expected a '{op}' op, got {hist}"
        for op in absent:
            assert op not in hist, f"unexpected '{op}' op in {hist}"
    return mlmodel
