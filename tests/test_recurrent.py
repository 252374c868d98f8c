"""Recurrent layers as Core ML ops: nn.LSTM / nn.RNN become one MIL lstm / rnn op per layer (bidirectional LSTM
one op, bidirectional RNN a forward and a reverse op), nn.GRU a while_loop per layer and direction, so the
sequence length may be a RangeDim; converted with
a symbolic time axis, run at several lengths in our runtime and compared with PyTorch (fp32 and fp16).
The MIL ops' own semantics (gru's reset gate, reverse and bidirectional outputs, peepholes, clip, activations)
are checked on programs coremltools' builder writes, and packages coremltools converts (an LSTM, a GRU, a
hard-swish network) predict in our runtime (both skipped without coremltools)."""
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.nn as nn

import pt2coreml as ct
from parity import TOL, compare, coremltools_check, torch_outputs
from test_cov_seq import WithState as Seq  # the layer called with the states given (or none)

try:
    import coremltools as cml
    from coremltools.converters.mil.mil import Builder as cmb
except Exception:  # noqa: BLE001 - optional reference
    cml = None

need_coremltools = pytest.mark.skipif(cml is None, reason="coremltools is not importable")


FORMS = [  # (class, kwargs, initial states given, MIL op, ops expected)
    (nn.LSTM, dict(input_size=6, hidden_size=5), False, "lstm", 1),
    (nn.LSTM, dict(input_size=6, hidden_size=5, num_layers=2, batch_first=True), True, "lstm", 2),
    (nn.LSTM, dict(input_size=6, hidden_size=4, bidirectional=True, num_layers=2), True, "lstm", 2),
    (nn.LSTM, dict(input_size=6, hidden_size=4, bidirectional=True, batch_first=True, bias=False), False, "lstm", 1),
    (nn.RNN, dict(input_size=6, hidden_size=5, num_layers=2), True, "rnn", 2),
    (nn.RNN, dict(input_size=6, hidden_size=5, nonlinearity="relu", bidirectional=True, batch_first=True), True, "rnn", 2),
    (nn.RNN, dict(input_size=6, hidden_size=5, bias=False), False, "rnn", 1),
    # torch's GRU is not MIL gru (see test_mil_gru_...): a while_loop per layer and direction, as coremltools writes
    (nn.GRU, dict(input_size=6, hidden_size=5, num_layers=2), True, "while_loop", 2),
    (nn.GRU, dict(input_size=6, hidden_size=4, bidirectional=True, batch_first=True), False, "while_loop", 2),
    (nn.GRU, dict(input_size=6, hidden_size=4, bias=False), True, "while_loop", 1),
]


def _x(kw, T, B=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (B, T, kw["input_size"]) if kw.get("batch_first") else (T, B, kw["input_size"])
    return torch.randn(*shape, generator=g)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("i", range(len(FORMS)))
def test_layer_is_one_op_per_layer_with_a_rangedim_sequence(i, precision):
    cls, kw, with_state, op, nops = FORMS[i]
    torch.manual_seed(i)
    m = Seq(cls(**kw).eval()).eval()
    B = 2
    LD = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    g = torch.Generator().manual_seed(7)
    states = [torch.randn(LD, B, kw["hidden_size"], generator=g) for _ in range(2 if cls is nn.LSTM else 1)]
    states = states if with_state else []
    x = _x(kw, 9)
    traced = torch.jit.trace(m, (x, *states), check_trace=False)
    t_axis = 1 if kw.get("batch_first") else 0
    xshape = list(x.shape)
    xshape[t_axis] = ct.RangeDim(1, 64)
    inputs = [ct.TensorType(name="x", shape=tuple(xshape))]
    inputs += [ct.TensorType(name=f"s{k}", shape=tuple(s.shape)) for k, s in enumerate(states)]
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    ml = ct.convert(traced, inputs=inputs, compute_precision=prec)
    hist = ml.op_histogram()
    assert hist.get(op, 0) == nops, hist
    if op != "while_loop":
        assert "sigmoid" not in hist and "tanh" not in hist, hist  # nothing unrolled
    outs = [f["name"] for f in ml._desc["outputs"]]
    for T in (1, 5, 23):
        xt = _x(kw, T, seed=T)
        refs = torch_outputs(traced, [xt, *states])
        feed = {"x": xt.numpy(), **{f"s{k}": s.numpy() for k, s in enumerate(states)}}
        got = ml.predict(feed)
        for n, r in zip(outs, refs):
            compare(f"{n} (T={T})", got[n], r, TOL[precision])
    if i in (2, 5, 8):  # coremltools reads the symbolic-length lstm / rnn / gru loop programs
        with tempfile.TemporaryDirectory() as d:
            ml.save(os.path.join(d, "m.mlpackage"))
            coremltools_check(os.path.join(d, "m.mlpackage"))


def test_lstm_language_model_converts_to_lstm_ops():
    from test_cov_models import LSTMLM
    torch.manual_seed(0)
    m = LSTMLM().eval()
    ids = torch.randint(0, 40, (2, 9))
    traced = torch.jit.trace(m, (ids,), check_trace=False)
    ml = ct.convert(traced, inputs=[ct.TensorType(name="ids", shape=(2, ct.RangeDim(1, 64)), dtype=np.int32)],
                    compute_precision=ct.precision.FLOAT32)
    hist = ml.op_histogram()
    # what coremltools writes for it: gather, transpose, 2 lstm, transpose, linear, 2 stack (final h, c)
    assert hist["lstm"] == 2 and sum(v for k, v in hist.items() if k != "const") <= 8, hist
    outs = [f["name"] for f in ml._desc["outputs"]]
    for T in (1, 9, 40):
        x = torch.randint(0, 40, (2, T), generator=torch.Generator().manual_seed(T))
        got = ml.predict({"ids": x.numpy().astype(np.int32)})
        for n, r in zip(outs, torch_outputs(traced, [x])):
            compare(f"{n} (T={T})", got[n], r, TOL["fp32"])


# ---- the MIL ops as coremltools' builder writes them, against numpy references ----

def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def _act(name, v):
    return {"sigmoid": _sig, "tanh": np.tanh, "relu": lambda a: np.maximum(a, 0), "linear": lambda a: a,
            "hard_sigmoid": lambda a: np.clip(0.2 * a + 0.5, 0, 1), "scaled_tanh": np.tanh}[name](v)


def _run_builder(build, specs, feed):
    """A coremltools MIL program (mb ops) saved as a package and predicted in our runtime."""
    prog = cmb.program(input_specs=[cmb.TensorSpec(shape=s) for s in specs])(build)
    m = cml.convert(prog, convert_to="mlprogram", compute_precision=cml.precision.FLOAT32,
                    minimum_deployment_target=cml.target.iOS15, skip_model_load=True)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.mlpackage")
        m.save(path)
        ours = ct.models.MLModel(path)
        names = [f["name"] for f in ours._desc["inputs"]]
        out = ours.predict(dict(zip(names, feed)))
        return [out[f["name"]] for f in ours._desc["outputs"]]


def _ref_steps(T, step, reverse):
    order = range(T - 1, -1, -1) if reverse else range(T)
    return [step(t) for t in order]


@need_coremltools
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_mil_gru_applies_the_reset_gate_before_the_weights(direction):
    rng = np.random.default_rng(1)
    T, B, I, H = 4, 3, 5, 6
    wi, wh = rng.uniform(-1, 1, (3 * H, I)).astype(np.float32), rng.uniform(-1, 1, (3 * H, H)).astype(np.float32)
    b = rng.uniform(-1, 1, 3 * H).astype(np.float32)
    x, h0 = rng.standard_normal((T, B, I)).astype(np.float32), rng.standard_normal((B, H)).astype(np.float32)
    W, R, bb = np.split(wi, 3), np.split(wh, 3), np.split(b, 3)  # [r, o, z]
    h = h0.copy()

    def step(t):
        nonlocal h
        r = _sig(x[t] @ W[0].T + h @ R[0].T + bb[0])
        z = _sig(x[t] @ W[2].T + h @ R[2].T + bb[2])
        o = np.tanh(x[t] @ W[1].T + (r * h) @ R[1].T + bb[1])
        h = (1 - z) * o + z * h
        return h
    ref = np.stack(_ref_steps(T, step, direction == "reverse"))

    def build(xv, hv):
        return cmb.gru(x=xv, initial_h=hv, weight_ih=wi, weight_hh=wh, bias=b, direction=direction, output_sequence=True)
    seq, hT = _run_builder(build, [(T, B, I), (B, H)], [x, h0])
    np.testing.assert_allclose(seq, ref, atol=1e-5)
    np.testing.assert_allclose(hT, ref[-1], atol=1e-5)


@need_coremltools
@pytest.mark.parametrize("direction,out_seq,acts,clip", [
    ("forward", True, ("sigmoid", "tanh", "tanh"), None),
    ("reverse", False, ("hard_sigmoid", "relu", "linear"), 0.5),
    ("bidirectional", True, ("sigmoid", "tanh", "scaled_tanh"), 2.0),
    ("bidirectional", False, ("sigmoid", "tanh", "tanh"), None),
])
def test_mil_lstm_directions_peepholes_and_clip(direction, out_seq, acts, clip):
    rng = np.random.default_rng(2)
    T, B, I, H = 5, 2, 3, 4
    D = 2 if direction == "bidirectional" else 1
    w = [(rng.uniform(-1, 1, (4 * H, I)).astype(np.float32), rng.uniform(-1, 1, (4 * H, H)).astype(np.float32),
          rng.uniform(-1, 1, 4 * H).astype(np.float32), rng.uniform(-1, 1, 3 * H).astype(np.float32)) for _ in range(D)]
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0, c0 = (rng.standard_normal((B, D * H)).astype(np.float32) for _ in range(2))
    ra, ca, oa = acts
    seqs, hs, cs = [], [], []
    for d in range(D):
        Wi, Wh, bias, p = w[d]
        h, c = h0[:, d * H:(d + 1) * H].copy(), c0[:, d * H:(d + 1) * H].copy()
        rev = direction == "reverse" or d == 1
        out = np.zeros((T, B, H), np.float32)
        for k, t in enumerate(range(T - 1, -1, -1) if rev else range(T)):
            g = x[t] @ Wi.T + h @ Wh.T + bias
            gi, gf, go, gz = np.split(g, 4, axis=1)
            i = _act(ra, gi + p[:H] * c)
            f = _act(ra, gf + p[H:2 * H] * c)
            c = f * c + i * _act(ca, gz)
            if clip is not None:
                c = np.clip(c, -clip, clip)
            o = _act(ra, go + p[2 * H:] * c)
            h = o * _act(oa, c)
            out[t if D == 2 else k] = h
        seqs.append(out if out_seq else h[None])
        hs.append(h)
        cs.append(c)
    ref = [np.concatenate(seqs, 2), np.concatenate(hs, 1), np.concatenate(cs, 1)]

    def build(xv, hv, cv):
        kw = dict(x=xv, initial_h=hv, initial_c=cv, weight_ih=w[0][0], weight_hh=w[0][1], bias=w[0][2], peephole=w[0][3],
                  direction=direction, output_sequence=out_seq, recurrent_activation=ra, cell_activation=ca, activation=oa)
        if clip is not None:
            kw["clip"] = np.float32(clip)
        if D == 2:
            kw.update(weight_ih_back=w[1][0], weight_hh_back=w[1][1], bias_back=w[1][2], peephole_back=w[1][3])
        return cmb.lstm(**kw)
    got = _run_builder(build, [(T, B, I), (B, D * H), (B, D * H)], [x, h0, c0])
    for g_, r_ in zip(got, ref):
        np.testing.assert_allclose(g_, r_, atol=1e-5)


@need_coremltools
def test_mil_rnn_reverse_runs_in_step_order():
    rng = np.random.default_rng(3)
    T, B, I, H = 4, 2, 3, 5
    wi, wh = rng.uniform(-1, 1, (H, I)).astype(np.float32), rng.uniform(-1, 1, (H, H)).astype(np.float32)
    b = rng.uniform(-1, 1, H).astype(np.float32)
    x, h0 = rng.standard_normal((T, B, I)).astype(np.float32), rng.standard_normal((B, H)).astype(np.float32)
    h = h0.copy()

    def step(t):
        nonlocal h
        h = np.maximum(x[t] @ wi.T + h @ wh.T + b, 0)
        return h
    ref = np.stack(_ref_steps(T, step, True))

    def build(xv, hv):
        return cmb.rnn(x=xv, initial_h=hv, weight_ih=wi, weight_hh=wh, bias=b, direction="reverse",
                       output_sequence=True, activation="relu")
    seq, hT = _run_builder(build, [(T, B, I), (B, H)], [x, h0])
    np.testing.assert_allclose(seq, ref, atol=1e-5)
    np.testing.assert_allclose(hT, ref[-1], atol=1e-5)


# ---- packages coremltools converts from torch, predicted in our runtime ----

class HardSwishNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = nn.functional.hardswish(self.conv(x))
        return self.fc(nn.functional.hardswish(y.mean((2, 3))))


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(6, 5, num_layers=2, batch_first=True)

    def forward(self, x, h0):
        y, h = self.gru(x, h0)
        return y, h


# (the recurrent layers get their initial states: coremltools fails on the size -> int torch traces for a missing hx)
CML_MODELS = {
    "lstm": (lambda: Seq(nn.LSTM(6, 5, num_layers=2, bidirectional=True)),
             lambda g: [torch.randn(7, 2, 6, generator=g), torch.randn(4, 2, 5, generator=g), torch.randn(4, 2, 5, generator=g)]),
    "gru": (GRUNet, lambda g: [torch.randn(2, 7, 6, generator=g), torch.randn(2, 2, 5, generator=g)]),
    "hardswish": (HardSwishNet, lambda g: [torch.randn(1, 3, 10, 10, generator=g)]),
}


@need_coremltools
@pytest.mark.parametrize("name", list(CML_MODELS))
def test_coremltools_package_predicts_in_our_runtime(name):
    make, inp = CML_MODELS[name]
    torch.manual_seed(0)
    m = make().eval()
    xs = inp(torch.Generator().manual_seed(1))
    traced = torch.jit.trace(m, tuple(xs), check_trace=False)
    refs = torch_outputs(traced, xs)
    feed = {f"x{k}": x.numpy() for k, x in enumerate(xs)}
    for prec, tol in ((cml.precision.FLOAT32, TOL["fp32"]), (cml.precision.FLOAT16, TOL["fp16"])):
        mm = cml.convert(traced, inputs=[cml.TensorType(name=f"x{k}", shape=tuple(x.shape)) for k, x in enumerate(xs)],
                         convert_to="mlprogram", compute_precision=prec, skip_model_load=True)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, f"{name}.mlpackage")
            mm.save(path)
            ours = ct.models.MLModel(path)
            got = ours.predict(feed)
            outs = [f["name"] for f in ours._desc["outputs"]]
            assert len(outs) == len(refs)
            for n, r in zip(outs, refs):
                compare(f"{name} {n}", got[n], r, tol * (3 if prec == cml.precision.FLOAT16 else 1))
