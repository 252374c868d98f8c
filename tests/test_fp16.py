"""fp16 rounding (used by the blob writer and the runtime) matches numpy bit for bit,
on the hardware (F16C) path and its scalar tail alike."""
import numpy as np
import pytest

from pt2coreml import _core


@pytest.mark.parametrize("n_extra", [0, 3, 7])  # lengths that leave a scalar tail after 8-wide blocks
def test_cast_to_fp16_matches_numpy(n_extra):
    rng = np.random.RandomState(0)
    edge = np.array([65504, 65520, 65519.99, 1e-8, 6e-8, -6e-8, 5.96e-8, 2.98e-8, 3e-8, np.inf, -np.inf, 0, -0.0,
                     1e5, 6.1e-5, 6.09e-5, 1.0009765625, 1.00048828125, 2049.0, 2051.0], np.float32)
    x = np.concatenate([rng.randn(4096).astype(np.float32) * 1000, edge, rng.rand(n_extra).astype(np.float32)])
    n = x.size
    p = _core.parse(f'program(CoreML5)\nfunc main(%x: fp32[{n}]) {{\n  %d: string[] = const(val="fp16")\n'
                    f'  %y: fp16[{n}] = cast(x=%x, dtype=%d)\n}} -> (%y)\n')
    y = p.run([x])[0]
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y.view(np.uint16), ref.view(np.uint16))
    back = _core.parse(f'program(CoreML5)\nfunc main(%x: fp16[{n}]) {{\n  %d: string[] = const(val="fp32")\n'
                       f'  %y: fp32[{n}] = cast(x=%x, dtype=%d)\n}} -> (%y)\n').run([ref])[0]
    np.testing.assert_array_equal(back, ref.astype(np.float32))
