"""Shared by the op-coverage parity tests (tests/test_cov_*.py): a module around a lambda
(traced), one call that converts, runs in our runtime and compares with PyTorch, and one that does
so over several input sets (ops whose output shapes depend on the data)."""
import numpy as np
import torch
import torch.nn as nn

from lower_common import CHECK_COREMLTOOLS
from parity import check_parity, compare, torch_outputs


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


def ints(*shape, lo=0, hi=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(lo, hi, shape, generator=g)


def run_sets(fn, sets, precision="fp32", ops=(), tol=None):
    """Convert fn (a ScriptFunction, or a lambda traced on the first input set) with the first set, then
    predict every other set and compare with torch."""
    mod = fn if isinstance(fn, torch.jit.ScriptFunction) else torch.jit.trace(Fn(fn).eval(), tuple(sets[0]))
    ml = run(mod, sets[0], precision=precision, ops=ops, tol=tol)
    names = [f["name"] for f in ml._desc["inputs"]]
    outs = [f["name"] for f in ml._desc["outputs"]]
    t = tol if tol is not None else {"fp32": 1e-4, "fp16": 1e-2}[precision]
    for xs in sets[1:]:
        got = ml.predict({n: x.numpy().astype(np.int32) if x.dtype == torch.int64 else x.numpy()
                          for n, x in zip(names, xs)})
        for n, ref in zip(outs, torch_outputs(mod, xs)):
            compare(n, got[n], ref, t)
    return ml
