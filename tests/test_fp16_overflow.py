"""fp16 compute precision keeps an op in fp32 when it reads an fp32 constant with a finite value past fp16's
range (|v| > 65504, below 1e38), as coremltools' fp16_overflow rule does: in fp16 that constant would be inf.
Larger constants (an attention mask's float32 minimum) stand for infinity and stay fp16."""
import numpy as np
import torch

import pt2coreml as ct
from parity import coremltools_check


class Scaled(torch.nn.Module):
    def forward(self, x):
        return (x * 1e5) / 2e5 + x


class Masked(torch.nn.Module):
    def forward(self, x):
        mask = torch.tensor([[0.0, 0.0, torch.finfo(torch.float32).min]])
        return torch.softmax(x + mask, dim=-1)


def _convert(m, shape):
    return ct.convert(torch.jit.trace(m.eval(), torch.zeros(shape)), inputs=[ct.TensorType(name="x", shape=shape)])


def _ops(ml):
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ct.utils.print_program(ml)
    return buf.getvalue()


def test_an_op_with_a_constant_past_fp16_range_computes_in_fp32(tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    ml = _convert(Scaled(), (2, 3))
    got = ml.predict({"x": x})
    got = got[next(iter(got))]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, Scaled()(torch.from_numpy(x)).numpy(), rtol=1e-2, atol=1e-2)
    text = _ops(ml)
    assert "fp32[2,3] = mul(" in text and "fp32[2,3] = real_div(" in text, text
    path = str(tmp_path / "s.mlpackage")
    ml.save(path)
    coremltools_check(path)


def test_an_infinite_standing_constant_stays_fp16():
    x = np.random.default_rng(1).standard_normal((1, 3)).astype(np.float32)
    ml = _convert(Masked(), (1, 3))
    got = ml.predict({"x": x})
    got = got[next(iter(got))]
    np.testing.assert_allclose(got, Masked()(torch.from_numpy(x)).numpy(), rtol=1e-2, atol=1e-3)
    assert "fp16[1,3] = add(" in _ops(ml)
