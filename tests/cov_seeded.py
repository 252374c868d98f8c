"""cov_common's module around a lambda and run(), with seeded random inputs r(): shared by the op-coverage
parity tests that draw their inputs this way (tests/test_cov_{alias,conv,index_sort,linalg,math,norm,
norm_pool_resample,pool,seq,shape}.py; the seeding is kept so their test data stays as it was)."""
import torch

from cov_common import Fn, run  # noqa: F401  (re-exported for the test files)


def r(*shape, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed + 7 * len(shape) + sum(shape))
    return torch.randn(*shape, generator=g) * scale
