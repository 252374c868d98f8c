"""rt_sgemm (csrc/runtime/gemm.c) splits each GEMM into column or row blocks over the
runtime's threads. Every split must give the product numpy gives: matmul and linear with
transposes, sizes that are not multiples of the 16-column / 4-row blocks, one to five
threads (uneven parts), and shapes too small to split."""
import numpy as np
import pytest

from pt2coreml import _core


@pytest.fixture(autouse=True)
def reset_threads():
    yield
    _core.set_num_threads(0)


def matmul_prog(xs, ys, tx, ty):
    m = xs[-1] if tx else xs[-2]
    n = ys[-2] if ty else ys[-1]
    out = list(xs[:-2]) + [m, n]
    dims = lambda s: ",".join(map(str, s))
    return _core.parse(f"""program(CoreML5)
func main(%x: fp32[{dims(xs)}], %y: fp32[{dims(ys)}]) {{
  %tx: bool[] = const(val={str(tx).lower()})
  %ty: bool[] = const(val={str(ty).lower()})
  %o: fp32[{dims(out)}] = matmul(x=%x, y=%y, transpose_x=%tx, transpose_y=%ty)
}} -> (%o)
""")


def linear_prog(m, k, n):
    return _core.parse(f"""program(CoreML5)
func main(%x: fp32[{m},{k}], %w: fp32[{n},{k}], %b: fp32[{n}]) {{
  %o: fp32[{m},{n}] = linear(x=%x, weight=%w, bias=%b)
}} -> (%o)
""")


# (M, K, N): wide (split by columns), tall (split by rows), odd sizes, tiny (not split)
SHAPES = [(64, 96, 1000), (999, 64, 37), (129, 257, 131), (7, 5, 3), (1, 2048, 1000), (300, 300, 17)]


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
@pytest.mark.parametrize("tx,ty", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("mkn", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_split_matches_numpy(mkn, tx, ty, threads):
    M, K, N = mkn
    rng = np.random.default_rng(M * 7 + N)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    x = np.ascontiguousarray(a.T) if tx else a
    y = np.ascontiguousarray(b.T) if ty else b
    _core.set_num_threads(threads)
    got = matmul_prog(x.shape, y.shape, tx, ty).run([x, y])[0]
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * np.sqrt(K) * np.abs(ref).max())


@pytest.mark.parametrize("threads", [2, 3])
def test_batched_matmul_split(threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 100, 70)).astype(np.float32)
    y = rng.standard_normal((3, 70, 90)).astype(np.float32)
    _core.set_num_threads(threads)
    got = matmul_prog(x.shape, y.shape, False, False).run([x, y])[0]
    ref = x.astype(np.float64) @ y.astype(np.float64)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("mkn", [(1, 512, 1000), (200, 128, 64), (33, 77, 19)], ids=lambda s: "x".join(map(str, s)))
def test_linear_split_matches_numpy(mkn, threads):
    M, K, N = mkn
    rng = np.random.default_rng(N)
    x = rng.standard_normal((M, K)).astype(np.float32)
    w = rng.standard_normal((N, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    _core.set_num_threads(threads)
    got = linear_prog(M, K, N).run([x, w, b])[0]
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + b
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * np.sqrt(K) * np.abs(ref).max())

