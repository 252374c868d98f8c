"""Shared by the op-coverage parity tests (tests/test_cov_*.py): a module around a lambda
(traced) and one call that converts, runs in our runtime and compares with PyTorch."""
import torch
import torch.nn as nn

from lower_common import CHECK_COREMLTOOLS
from parity import check_parity


class Fn(nn.Module):
    """A module around a lambda (trace only), with optional submodules for parameters."""

    def __init__(self, fn, **mods):
        super().__init__()
        self.fn = fn
        for k, v in mods.items():
            setattr(self, k, v)

    def forward(self, *xs):
        return self.fn(*xs)


def r(*shape, scale=1.0, seed=None):
    g = torch.Generator().manual_seed(seed if seed is not None else hash(shape) & 0xFFFF)
    return torch.randn(*shape, generator=g) * scale


def run(module, inputs, precision="fp32", script=False, ops=(), absent=(), tol=None, **kw):
    """Convert (traced, or scripted), run and compare every output (kw: more check_parity arguments);
    optionally check the MIL op histogram."""
    mlmodel, _ = check_parity(module, inputs, precision=precision, script=script, tol=tol,
                              check_coremltools=CHECK_COREMLTOOLS, **kw)
    if ops or absent:
        hist = mlmodel._prog.histogram()
        for op in ops:
            assert op in hist, f"expected a '{op}' op, got {hist}"
        for op in absent:
            assert op not in hist, f"unexpected '{op}' op in {hist}"
    return mlmodel
