"""Shared by the lowering tests: whether the package writer is built in, so conversions
are also checked by coremltools' reader (MIL type inference re-run on every op)."""
import os
import tempfile

import torch

import pt2coreml as ct


def _writer_available():
    m = ct.convert(torch.jit.trace(torch.nn.ReLU().eval(), torch.zeros(2)), inputs=[ct.TensorType(shape=(2,))],
                   compute_precision=ct.precision.FLOAT32)
    with tempfile.TemporaryDirectory() as d:
        try:
            m.save(os.path.join(d, "m.mlpackage"))
            return True
        except Exception:
            return False


CHECK_COREMLTOOLS = _writer_available()
