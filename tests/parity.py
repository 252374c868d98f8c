"""The one parity helper the suite uses: TorchScript -> convert -> predict -> compare with PyTorch.

Tolerances (max abs error relative to the output's scale, scale = max(|ref|, 1e-3)):
fp32 1e-4, fp16 1e-2. On failure the worst element is printed with both values.
"""
import os
import shutil
import tempfile

import numpy as np
import pytest
import torch

import pt2coreml as ct

TOL = {"fp32": 1e-4, "fp16": 1e-2}
TORCH_MAJOR = int(torch.__version__.split(".")[0])


def need_torch2(what):
    """Skip the calling test under torch 1.x (Debian 12's python3-torch 1.13, `make test-torch1`),
    naming the torch >= 2 feature the test's model is written with."""
    if TORCH_MAJOR < 2:
        pytest.skip(f"needs torch >= 2: {what} (this is torch {torch.__version__})")


def _scratch_dir():
    """Packages written for coremltools' reader go to memory when it has room (the disk is shared and
    slow); a small /dev/shm (64 MB in a default container) would fail the big models, so then the disk."""
    d = "/dev/shm"
    try:
        if os.access(d, os.W_OK) and shutil.disk_usage(d).free >= 2 << 30:
            return d
    except OSError:
        pass
    return None


_SCRATCH = _scratch_dir()


def to_script(module, example_inputs, script=False):
    if isinstance(module, torch.jit.ScriptFunction):  # a scripted function or one built from a graph
        return module
    module = module.eval()
    if isinstance(module, torch.jit.ScriptModule):
        return module
    if script:
        return torch.jit.script(module)
    # no check_trace: it re-traces and re-runs the model, and the comparison below runs the trace anyway
    return torch.jit.trace(module, tuple(example_inputs), check_trace=False)


def torch_outputs(script_module, example_inputs):
    """The script module's outputs, flattened. Run by the plain interpreter: the profiling executor's
    first calls (profile, then optimize) cost more than the run, and the graph computes the same."""
    with torch.no_grad(), torch.jit.optimized_execution(False):
        out = script_module(*example_inputs)
    if isinstance(out, torch.Tensor):
        out = (out,)
    flat = []
    for o in out:
        if isinstance(o, (list, tuple)):
            flat.extend(o)
        else:
            flat.append(o)
    return [o.detach().numpy() for o in flat]


def compare(name, got, ref, tol, rel_scale=None):
    got = np.asarray(got)
    ref = np.asarray(ref)
    if ref.shape == () and got.shape == (1,):  # predict() returns a scalar as Core ML does, shape (1,)
        got = got.reshape(())
    assert got.shape == ref.shape, f"{name}: shape {got.shape} != torch's {ref.shape}"
    if ref.dtype == np.bool_ or np.issubdtype(ref.dtype, np.integer):
        bad = np.flatnonzero(got.astype(ref.dtype) != ref)
        assert bad.size == 0, f"{name}: {bad.size} of {ref.size} elements differ; first at {bad[0]}: " \
                              f"got {got.flat[bad[0]]}, torch {ref.flat[bad[0]]}"
        return 0.0
    scale = rel_scale if rel_scale is not None else max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-3)
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    worst = int(np.argmax(err)) if err.size else 0
    m = float(err.flat[worst]) if err.size else 0.0
    assert np.isfinite(got).all() == np.isfinite(ref).all() or m <= tol * scale, f"{name}: non-finite mismatch"
    assert m <= tol * scale, (f"{name}: max abs error {m:.3g} > {tol:g} x scale {scale:.3g} at index "
                              f"{np.unravel_index(worst, ref.shape)}: got {got.flat[worst]!r}, torch {ref.flat[worst]!r}")
    return m / scale


def check_parity(module, example_inputs, precision="fp32", script=False, input_types=None, tol=None,
                 check_coremltools=True, names=None, refs=None, **convert_kwargs):
    """Convert `module` (an nn.Module, traced/scripted here, a ScriptModule or a ScriptFunction), run it
    in our runtime and compare every output with PyTorch's (`refs`: torch_outputs() already computed
    for this module and inputs). Returns (mlmodel, max relative error)."""
    example_inputs = list(example_inputs)
    sm = to_script(module, example_inputs, script=script)
    if refs is None:
        refs = torch_outputs(sm, example_inputs)
    if input_types is None:
        input_types = []
        for i, x in enumerate(example_inputs):
            dt = {torch.float32: np.float32, torch.int64: np.int32, torch.int32: np.int32,
                  torch.bool: np.bool_, torch.float16: np.float16}[x.dtype]
            nm = names[i] if names else f"input_{i}"
            input_types.append(ct.TensorType(name=nm, shape=tuple(x.shape), dtype=dt))
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    mlmodel = ct.convert(sm, inputs=input_types, compute_precision=prec, **convert_kwargs)
    feed = {}
    for t, x in zip(input_types, example_inputs):
        name = t.name
        feed[name] = x.numpy()
    if any(t.name is None for t in input_types):
        names_ = [f["name"] for f in mlmodel._desc["inputs"]]
        feed = {n: x.numpy() for n, x in zip(names_, example_inputs)}
    out = mlmodel.predict(feed)
    out_names = [f["name"] for f in mlmodel._desc["outputs"]]
    assert len(out_names) == len(refs), f"{len(out_names)} outputs, torch has {len(refs)}"
    worst = 0.0
    t = tol if tol is not None else TOL[precision]
    for n, r in zip(out_names, refs):
        worst = max(worst, compare(n, out[n], r, t))
    if check_coremltools:
        with tempfile.TemporaryDirectory(dir=_SCRATCH) as d:
            path = os.path.join(d, "m.mlpackage")
            mlmodel.save(path)
            coremltools_check(path)
    return mlmodel, worst


def coremltools_check(path):
    """Apple's reading of our package: coremltools opens it and rebuilds its ML Program with the
    MIL proto loader, re-running type inference on every op. Skipped when coremltools is absent."""
    try:
        import coremltools
        from coremltools.converters.mil.frontend.milproto.load import load as milproto_load
    except Exception:
        return None
    m = coremltools.models.MLModel(path, skip_model_load=True)
    spec = m.get_spec()
    weights = os.path.join(path, "Data", "com.apple.CoreML", "weights")
    return milproto_load(spec, spec.specificationVersion, file_weights_dir=weights)
