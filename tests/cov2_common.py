"""Shared by the op-coverage parity tests of tests/test_cov_{conv,linalg,norm,pool,shape,seq,models}.py:
cov_common's module around a lambda and run(), with these files' own seeding of random inputs (kept so
their test data stays as it was)."""
import torch

from cov_common import Fn, run  # noqa: F401  (re-exported for the test files)


def r(*shape, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed + 7 * len(shape) + sum(shape))
    return torch.randn(*shape, generator=g) * scale
