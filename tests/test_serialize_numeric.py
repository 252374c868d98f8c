"""Numbers: a package coremltools wrote, read by us and run in our reference
runtime, gives PyTorch's outputs; after our write and re-read it gives the very
same numbers (bit for bit)."""
import numpy as np
import pytest
import torch

import _ser_models as M
from pt2coreml import _core

CASES = {  # kind: (input shape, rtol/atol)
    "cnn32": ((1, 3, 8, 8), 1e-4),
    "cnn16": ((1, 3, 8, 8), 3e-2),
    "image": ((1, 3, 8, 8), 3e-2),
    "flex": ((3, 3, 8, 8), 1e-4),
    "misc": ((2, 12), 1e-4),
    "misc18": ((2, 12), 1e-4),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_read_run_matches_torch_and_survives_rewrite(kind, tmp_path):
    shape, tol = CASES[kind]
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)
    if kind == "image":
        x = rng.uniform(0, 255, shape).astype(np.float32)
    prog, desc = _core.load(M.package(kind))
    prog.check()
    (y,) = prog.run([x])
    with torch.no_grad():
        tx = torch.from_numpy(x)
        if kind == "image":  # the program's preprocessing: x * scale + bias per channel
            tx = tx / 255.0 + torch.tensor([-0.5, -0.4, -0.3]).reshape(1, 3, 1, 1)
        ref = M.torch_model(kind)(tx).numpy()
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)

    out = str(tmp_path / "again.mlpackage")
    prog.save(out, desc)
    again, _ = _core.load(out)
    again.check()
    (y2,) = again.run([x])
    assert y2.tobytes() == y.tobytes()
