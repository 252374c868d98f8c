"""Op coverage, random ops: rand, randn, rand_like, randn_like, randint, randint_like, multinomial,
bernoulli / bernoulli_, normal / normal_, uniform_ -> MIL random_uniform / random_normal /
random_bernoulli / random_categorical (seed -1: a new draw on every prediction, as torch).

Values cannot be compared with PyTorch's, so each op is proved two ways, through ct.convert +
MLModel.predict in fp32 and fp16: (1) exact parity of models where only the range, shape or dtype of
the random part reaches the output (x + 0 * randn_like(x), x * (rand_like(x) < 1), one-hot
multinomial weights, bernoulli of 0 / 1 probabilities); (2) statistics of large samples: ranges,
mean and variance within 6 standard errors, category frequencies by a chi-square bound (a false
alarm has probability below 1e-6 per check). The seeded generator is checked at the MIL level:
one seed repeats its values, another seed and seed -1 do not."""
import os
import tempfile

import numpy as np
import pytest
import torch

import pt2coreml as ct
from cov_common import Fn, run
from parity import _SCRATCH, coremltools_check, need_torch2
from pt2coreml import _core

PRECISIONS = ["fp32", "fp16"]


def sample(fn, inputs, precision="fp32", check_reader=False):
    """Trace fn, convert, predict once; the outputs as numpy arrays (in order)."""
    inputs = [torch.as_tensor(x) for x in inputs]
    sm = torch.jit.trace(Fn(fn).eval(), tuple(inputs), check_trace=False)
    types = [ct.TensorType(name=f"x{i}", shape=tuple(x.shape),
                           dtype=np.float32 if x.dtype == torch.float32 else np.int32) for i, x in enumerate(inputs)]
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    ml = ct.convert(sm, inputs=types, compute_precision=prec)
    out = ml.predict({f"x{i}": x.numpy() for i, x in enumerate(inputs)})
    if check_reader:
        with tempfile.TemporaryDirectory(dir=_SCRATCH) as d:
            path = os.path.join(d, "m.mlpackage")
            ml.save(path)
            coremltools_check(path)
    return [out[f["name"]] for f in ml._desc["outputs"]], ml


def near(got, want, se, what):
    assert abs(got - want) <= 6 * se, f"{what}: {got} is more than 6 standard errors ({se:.3g}) from {want}"


def chi2_ok(counts, probs, what):
    """Pearson's chi-square of counts against probs (cells with p = 0 must be empty); the bound is
    the df + 10 sqrt(2 df) + 10 (p-value far below 1e-6 for df <= 30)."""
    counts = np.asarray(counts, np.float64)
    probs = np.asarray(probs, np.float64)
    assert (counts[probs == 0] == 0).all(), f"{what}: a zero-probability category was drawn: {counts}"
    n = counts.sum()
    e = n * probs[probs > 0]
    stat = float(((counts[probs > 0] - e) ** 2 / e).sum())
    df = int((probs > 0).sum()) - 1
    assert stat <= df + 10 * np.sqrt(2 * df) + 10, f"{what}: chi-square {stat:.1f} with {df} df; counts {counts}"


X = torch.rand(200, 300)
XP = X * 0.4 + 0.6 * (X > 0.5).float()  # no value near 0.5 (fp16 rounding cannot move one across it)


# ---------------------------------------------------------------- exact parity (range / shape / dtype only)
PARITY = {
    "rand": lambda x: x + 0 * torch.rand(200, 300),
    "rand_range": lambda x: x * (torch.rand(200, 300) < 1).float() * (torch.rand(200, 300) >= 0).float(),
    "rand_like": lambda x: x * (torch.rand_like(x) < 1).float(),
    "randn": lambda x: x + 0 * torch.randn(x.shape[0], 300),
    "randn_like": lambda x: x + 0 * torch.randn_like(x),
    "randint": lambda x: ((torch.randint(2, 5, (200, 300)) >= 2) & (torch.randint(2, 5, (200, 300)) < 5)).int(),
    "randint_high": lambda x: (torch.randint(7, (3, 4)) < 7).int() + torch.randint(1, (3, 4)),
    "randint_like": lambda x: x + 0 * torch.randint_like(x, 3, 7),
    "bernoulli_p01": lambda x: torch.bernoulli((x > 0.5).float()),
    "bernoulli_float": lambda x: x + torch.bernoulli(x, 0.0) + torch.bernoulli(x, 1.0),
    "bernoulli_": lambda x: x.clone().bernoulli_(1.0) + x,
    "normal_std0": lambda x: torch.normal(x, 0.0),
    "normal_": lambda x: x.clone().normal_(3.0, 0.0) * x,
    "uniform_": lambda x: x.clone().uniform_(2.0, 2.0) + x,
}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", sorted(PARITY))
def test_parity(name, precision):
    run(Fn(PARITY[name]), [XP.clone()], precision=precision)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_multinomial_one_hot_parity(precision):
    """One-hot weights leave no choice: with replacement every sample is that category; without,
    the first sample is."""
    idx = torch.tensor([3, 0, 4, 1])
    w = torch.nn.functional.one_hot(idx, 5).float() * torch.tensor([[2.0], [0.5], [1.0], [7.0]])
    run(Fn(lambda w: torch.multinomial(w, 6, replacement=True)), [w], precision=precision)
    run(Fn(lambda w: torch.multinomial(w, 1)), [w], precision=precision)
    run(Fn(lambda w: torch.multinomial(w[0], 3, replacement=True)), [w], precision=precision)


# ---------------------------------------------------------------- statistics
@pytest.mark.parametrize("precision", PRECISIONS)
def test_rand_statistics(precision):
    (u, v), ml = sample(lambda x: (torch.rand(200, 300), torch.rand_like(x) * 4 - 1), [X], precision,
                        check_reader=precision == "fp32")
    assert u.shape == (200, 300) and u.dtype == np.float32
    assert u.min() >= 0 and u.max() < 1, (u.min(), u.max())
    n = u.size
    near(u.mean(), 0.5, np.sqrt(1 / 12 / n), "rand mean")
    near(u.var(), 1 / 12, np.sqrt(1 / 180 / n), "rand variance")
    assert v.min() >= -1 and v.max() < 3
    near(v.mean(), 1.0, 4 * np.sqrt(1 / 12 / n), "rand_like mean")
    # two ops, two predictions: independent draws
    assert abs(np.corrcoef(u.ravel(), v.ravel())[0, 1]) < 6 / np.sqrt(n)
    (u2, _) = [o for o in ml.predict({"x0": X.numpy()}).values()][:2]
    assert not np.array_equal(u, u2), "two predictions drew the same values"


@pytest.mark.parametrize("precision", PRECISIONS)
def test_randn_statistics(precision):
    (z, w), _ = sample(lambda x: (torch.randn(200, 300), torch.randn_like(x)), [X], precision,
                       check_reader=precision == "fp32")
    for a, what in ((z, "randn"), (w, "randn_like")):
        n = a.size
        near(a.mean(), 0.0, np.sqrt(1 / n), what + " mean")
        near(a.var(), 1.0, np.sqrt(2 / n), what + " variance")
        # tails: P(|z| > 2) = 0.0455
        near((np.abs(a) > 2).mean(), 0.0455, np.sqrt(0.0455 * 0.9545 / n), what + " tail")
    assert abs(np.corrcoef(z.ravel(), w.ravel())[0, 1]) < 6 / np.sqrt(z.size)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_normal_statistics(precision):
    mean = torch.linspace(-3, 3, 300).repeat(200, 1)
    (a, b, c), _ = sample(lambda m: (torch.normal(m, 2.0), torch.normal(1.5, 0.5, (200, 300)),
                                     m.clone().normal_(-2.0, 3.0)), [mean], precision)
    za = (a - mean.numpy()) / 2.0
    n = za.size
    near(za.mean(), 0.0, np.sqrt(1 / n), "normal(Tensor, float) mean")
    near(za.var(), 1.0, np.sqrt(2 / n), "normal(Tensor, float) variance")
    near(b.mean(), 1.5, 0.5 * np.sqrt(1 / n), "normal(float, float, size) mean")
    near(b.std(), 0.5, 0.5 * np.sqrt(1 / (2 * n)), "normal(float, float, size) std")
    near(c.mean(), -2.0, 3.0 * np.sqrt(1 / n), "normal_ mean")
    near(c.std(), 3.0, 3.0 * np.sqrt(1 / (2 * n)), "normal_ std")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_normal_tensor_std_statistics(precision):
    std = torch.linspace(0.5, 2.0, 300).repeat(200, 1)
    (a, b), _ = sample(lambda s: (torch.normal(torch.zeros(200, 300) + 1.0, s), torch.normal(0.0, s)), [std],
                       precision)
    for y, m, what in ((a, 1.0, "normal(Tensor, Tensor)"), (b, 0.0, "normal(float, Tensor)")):
        z = (y - m) / std.numpy()
        near(z.mean(), 0.0, np.sqrt(1 / z.size), what + " mean")
        near(z.var(), 1.0, np.sqrt(2 / z.size), what + " variance")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_uniform_statistics(precision):
    (y,), _ = sample(lambda x: x.clone().uniform_(-2.0, 6.0), [X], precision)
    assert y.min() >= -2 and y.max() < 6
    n = y.size
    near(y.mean(), 2.0, 8 * np.sqrt(1 / 12 / n), "uniform_ mean")
    near(y.var(), 64 / 12, 64 * np.sqrt(1 / 180 / n), "uniform_ variance")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_randint_statistics(precision):
    (a, b, c), _ = sample(lambda x: (torch.randint(-3, 4, (200, 300)), torch.randint(10, (50, 40)),
                                     torch.randint_like(x, 5, 9)), [X], precision, check_reader=precision == "fp32")
    assert a.dtype == np.int32 and b.dtype == np.int32 and c.dtype == np.float32
    assert a.shape == (200, 300) and b.shape == (50, 40) and c.shape == (200, 300)
    assert set(np.unique(a)) == set(range(-3, 4))
    assert set(np.unique(b)) == set(range(10))
    assert set(np.unique(c)) == {5.0, 6.0, 7.0, 8.0}
    chi2_ok(np.bincount(a.ravel() + 3, minlength=7), np.full(7, 1 / 7), "randint(-3, 4)")
    chi2_ok(np.bincount(b.ravel(), minlength=10), np.full(10, 0.1), "randint(10)")
    chi2_ok(np.bincount(c.ravel().astype(int) - 5, minlength=4), np.full(4, 0.25), "randint_like(5, 9)")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_bernoulli_statistics(precision):
    p = torch.tensor([0.0, 0.2, 0.5, 0.9, 1.0]).repeat(20000, 1)
    (a, b, c), _ = sample(lambda p: (torch.bernoulli(p), torch.bernoulli(p, 0.3), p.clone().bernoulli_(p * 0.5)),
                          [p], precision, check_reader=precision == "fp32")
    assert a.shape == (20000, 5) and set(np.unique(a)) <= {0.0, 1.0}
    n = a.shape[0]
    for k, pk in enumerate([0.0, 0.2, 0.5, 0.9, 1.0]):
        near(a[:, k].mean(), pk, np.sqrt(pk * (1 - pk) / n) + 1e-9, f"bernoulli(p={pk})")
        near(c[:, k].mean(), pk / 2, np.sqrt(pk / 2 * (1 - pk / 2) / n) + 1e-9, f"bernoulli_(p={pk / 2})")
    near(b.mean(), 0.3, np.sqrt(0.21 / b.size), "bernoulli(x, 0.3)")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_multinomial_with_replacement_statistics(precision):
    probs = np.array([[0.1, 0.2, 0.3, 0.4, 0.0], [0.0, 0.0, 5.0, 0.0, 5.0], [1, 1, 1, 1, 1]], np.float32)
    (y,), _ = sample(lambda w: torch.multinomial(w, 20000, replacement=True), [probs], precision,
                     check_reader=precision == "fp32")
    assert y.shape == (3, 20000) and y.dtype == np.int32
    for row, p in zip(y, probs):
        chi2_ok(np.bincount(row, minlength=5), p / p.sum(), f"multinomial row {p}")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_multinomial_without_replacement_statistics(precision):
    """Rows of one weight vector: distinct picks, no zero-weight category, and the laws of the
    first pick (p) and of the second (sum_i p_i p_j / (1 - p_i))."""
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.0], np.float64)
    w = np.tile(p.astype(np.float32) * 3, (8000, 1))
    (y,), _ = sample(lambda w: torch.multinomial(w, 3), [w], precision)
    assert y.shape == (8000, 3) and y.dtype == np.int32
    assert (y != 4).all(), "a zero-weight category was drawn"
    assert all(len(set(r)) == 3 for r in y.tolist()), "a category was drawn twice"
    chi2_ok(np.bincount(y[:, 0], minlength=5), p, "first pick")
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(5) if i != j) for j in range(5)])
    chi2_ok(np.bincount(y[:, 1], minlength=5), second, "second pick")


def test_multinomial_1d_and_flexible_shape():
    """A 1-D weight vector; rand_like of an input whose size is known only at run time (shape op)."""
    (y,), _ = sample(lambda w: torch.multinomial(w, 4000, replacement=True), [np.array([1, 3], np.float32)])
    assert y.shape == (4000,)
    chi2_ok(np.bincount(y, minlength=2), [0.25, 0.75], "1-D multinomial")
    sm = torch.jit.trace(Fn(lambda x: torch.rand_like(x) + x * 0).eval(), (X,), check_trace=False)
    shape = ct.Shape(shape=(ct.RangeDim(1, 500, default=200), 300))
    ml = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=shape)])
    out = list(ml.predict({"x": np.zeros((321, 300), np.float32)}).values())[0]
    assert out.shape == (321, 300) and out.min() >= 0 and out.max() < 1
    near(out.mean(), 0.5, np.sqrt(1 / 12 / out.size), "rand_like of a flexible input")


# ---------------------------------------------------------------- the generator (MIL level)
def _prog(op, params, seed):
    return ("program(CoreML5)\nfunc main() {\n  %%s: int32[2] = const(val=[64, 64])\n"
            "  %%seed: int32[] = const(val=%d)\n  %%y: fp32[64,64] = %s(shape=%%s, seed=%%seed%s)\n} -> (%%y)\n"
            % (seed, op, params))


@pytest.mark.parametrize("op", ["random_uniform", "random_normal", "random_bernoulli"])
def test_seed_reproducible(op):
    a = _core.parse(_prog(op, "", 7)).run([])[0]
    b = _core.parse(_prog(op, "", 7)).run([])[0]
    c = _core.parse(_prog(op, "", 8)).run([])[0]
    d = _core.parse(_prog(op, "", -1)).run([])[0]
    e = _core.parse(_prog(op, "", -1)).run([])[0]
    assert np.array_equal(a, b), "one seed, two runs: values differ"
    assert not np.array_equal(a, c) and not np.array_equal(d, e)


def test_seed_categorical_and_threads():
    """random_categorical with a seed repeats; one seeded program run from several threads at once
    gives the same values in each (no shared state)."""
    from concurrent.futures import ThreadPoolExecutor
    text = ("program(CoreML5)\nfunc main(%x: fp32[4,6]) {\n  %m: string[] = const(val=\"logits\")\n"
            "  %n: int32[] = const(val=500)\n  %seed: int32[] = const(val=3)\n"
            "  %y: fp32[4,500] = random_categorical(x=%x, mode=%m, size=%n, seed=%seed)\n} -> (%y)\n")
    x = np.log(np.array([[1, 2, 3, 4, 5, 6]] * 4, np.float32))
    prog = _core.parse(text)
    ref = prog.run([x])[0]
    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda _: _core.parse(text).run([x])[0], range(8)))
    assert all(np.array_equal(o, ref) for o in outs)
    chi2_ok(np.bincount(ref.astype(int).ravel(), minlength=6), np.arange(1, 7) / 21, "categorical logits")


# ---------------------------------------------------------------- unsupported variants
def test_generator_is_refused():
    need_torch2("TorchScript Generator arguments")
    """A torch.Generator's state is not in the graph: a clear error naming the node."""
    g = torch._C.parse_ir("""graph(%x : Float(3, 4)):
      %g : Generator = prim::Constant[value=torch.Generator(device="cpu", seed=5)]()
      %r : float = prim::Constant[value=0.5]()
      %y : Tensor = aten::bernoulli(%x, %r, %g)
      return (%y)""")
    fn = torch._C._create_function_from_graph("gen", g)
    with pytest.raises(ct.ConversionError, match=r"aten::bernoulli.*Generator"):
        ct.convert(fn, inputs=[ct.TensorType(name="x", shape=(3, 4))])


def test_randint_bad_bounds():
    sm2 = torch.jit.trace(Fn(lambda x: x + torch.randint(5, 5 + (1 << 25), (3, 4))).eval(), (torch.zeros(3, 4),),
                          check_trace=False)
    with pytest.raises(ct.ConversionError, match=r"aten::randint.*2\^24"):
        ct.convert(sm2, inputs=[ct.TensorType(name="x", shape=(3, 4))])
