"""Op coverage, embeddings and sequence models: lstm / gru / rnn_tanh / rnn_relu (uni/bidirectional,
stacked, batch_first, with and without initial states, unbatched), MultiheadAttention (traced
decomposition and the _native_multi_head_attention fast path), TransformerEncoderLayer
(_transformer_encoder_layer_fwd), scaled_dot_product_attention (bool/float masks, is_causal, scale)
and hand-written attention. Converted, run in our runtime, compared with PyTorch (fp32; fp16 subset)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cov_seeded import Fn, r, run
from parity import check_parity, need_torch2
from lower_common import CHECK_COREMLTOOLS

RNNS = [
    ("lstm", dict(input_size=4, hidden_size=5), False, True),
    ("lstm", dict(input_size=4, hidden_size=5, batch_first=True, num_layers=2), False, True),
    ("lstm", dict(input_size=4, hidden_size=3, bidirectional=True), True, True),
    ("lstm", dict(input_size=4, hidden_size=3, bidirectional=True, num_layers=2, batch_first=True), True, True),
    ("lstm", dict(input_size=4, hidden_size=5, bias=False), False, False),  # unbatched
    ("gru", dict(input_size=4, hidden_size=5), False, True),
    ("gru", dict(input_size=4, hidden_size=5, num_layers=2, bidirectional=True, batch_first=True), True, True),
    ("rnn_tanh", dict(input_size=4, hidden_size=5, num_layers=2), True, True),
    ("rnn_relu", dict(input_size=4, hidden_size=5, nonlinearity="relu", bidirectional=True), False, True),
]


class WithState(nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, *state):
        if len(state) == 2:
            return self.rnn(x, (state[0], state[1]))
        return self.rnn(x, state[0]) if state else self.rnn(x)


def make_rnn(kind, kw):
    torch.manual_seed(0)
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}[kind]
    return cls(**kw).eval()


@pytest.mark.parametrize("i", range(len(RNNS)))
def test_rnn(i):
    kind, kw, with_state, batched = RNNS[i]
    rnn = make_rnn(kind, kw)
    T, B, H = 5, 2, kw["hidden_size"]
    shape = ((B, T, 4) if kw.get("batch_first") else (T, B, 4)) if batched else (T, 4)
    inputs = [r(*shape)]
    if with_state:
        LD = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        inputs.append(r(LD, B, H, seed=1))
        if kind == "lstm":
            inputs.append(r(LD, B, H, seed=2))
    run(WithState(rnn), inputs)


def test_rnn_fp16():
    kind, kw, with_state, _ = RNNS[3]
    rnn = make_rnn(kind, kw)
    run(WithState(rnn), [r(2, 5, 4), r(4, 2, 3, seed=1), r(4, 2, 3, seed=2)], precision="fp16")


def attn_inputs(L=4, S=6, E=8):
    return r(2, 2, L, E), r(2, 2, S, E, seed=1), r(2, 2, S, E, seed=2)


SDPA = {
    "plain": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
    "causal": lambda q, k, v: F.scaled_dot_product_attention(q, k, v[..., :4, :] if False else v, is_causal=True),
    "scale": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.3),
    "bool_mask": lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=torch.tensor([[True, False, True, True, False, True]] * 4)),
    "float_mask": lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=torch.linspace(-1, 1, 24).reshape(4, 6)),
}


@pytest.mark.parametrize("name", list(SDPA))
def test_sdpa(name):
    need_torch2("F.scaled_dot_product_attention")
    q, k, v = attn_inputs(L=6 if name == "causal" else 4)
    run(Fn(SDPA[name]), [q, k, v])


def test_sdpa_fp16():
    need_torch2("F.scaled_dot_product_attention")
    run(Fn(SDPA["causal"]), list(attn_inputs(L=6)), precision="fp16")


CAUSAL = torch.triu(torch.full((6, 6), -1e9), 1)


def handwritten(q, k, v):
    s = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5)
    return torch.softmax(s + CAUSAL, -1) @ v


def test_handwritten_attention():
    run(Fn(handwritten), list(attn_inputs(L=6)))


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_traced(batch_first, need_weights):
    torch.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, batch_first=batch_first).eval()
    x = r(2, 5, 8) if batch_first else r(5, 2, 8)
    y = r(2, 3, 8, seed=1) if batch_first else r(3, 2, 8, seed=1)
    needs_other_families(lambda: run(
        Fn(lambda a, b: m(a, b, b, need_weights=need_weights)[0] if not need_weights else m(a, b, b), m=m), [x, y]))


def needs_other_families(fn):
    """Run fn; the traced MultiheadAttention decomposition divides with rounding_mode='trunc', which the
    elementwise family (another branch) adds: until it lands, that one failure is an expected failure."""
    import pt2coreml as ct
    try:
        fn()
    except ct.ConversionError as e:
        if "rounding_mode 'trunc'" in str(e):
            pytest.xfail("needs aten::div rounding_mode='trunc' (elementwise family)")
        raise


def trace_no_grad(m, inputs):
    with torch.no_grad():
        return torch.jit.trace(m.eval(), tuple(inputs), check_trace=False)


def test_mha_native_fast_path():
    torch.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = r(2, 5, 8)
    t = trace_no_grad(Fn(lambda a: m(a, a, a), m=m), [x])
    kinds = {n.kind() for n in t.inlined_graph.nodes()}
    assert "aten::_native_multi_head_attention" in kinds, kinds
    check_parity(t, [x], check_coremltools=CHECK_COREMLTOOLS)
    t2 = trace_no_grad(Fn(lambda a: m(a, a, a, need_weights=False)[0], m=m), [x])
    assert "aten::_native_multi_head_attention" in {n.kind() for n in t2.inlined_graph.nodes()}
    check_parity(t2, [x], check_coremltools=CHECK_COREMLTOOLS)
    check_parity(t2, [x], precision="fp16", check_coremltools=CHECK_COREMLTOOLS)


@pytest.mark.parametrize("norm_first,act", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_layer_fast_path(norm_first, act):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, norm_first=norm_first, activation=act).eval()
    x = r(2, 5, 8)
    t = trace_no_grad(layer, [x])
    kinds = {n.kind() for n in t.inlined_graph.nodes()}
    assert "aten::_transformer_encoder_layer_fwd" in kinds, kinds
    check_parity(t, [x], check_coremltools=CHECK_COREMLTOOLS)
    check_parity(t, [x], precision="fp16", check_coremltools=CHECK_COREMLTOOLS)


def test_transformer_encoder_layer_traced():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0).eval()
    x = r(2, 5, 8)
    t = torch.jit.trace(layer, (x,), check_trace=False)  # grad on: the decomposed (slow) path
    needs_other_families(lambda: check_parity(t, [x], check_coremltools=CHECK_COREMLTOOLS))


def test_long_unrolled_lstm_converts_in_linear_time():
    """A 6-layer bidirectional LSTM over 60 steps unrolls to ~10000 ops that ask for the same few names;
    finding each a free "_<i>" suffix from 1 again made the conversion quadratic (minutes; timm's
    sequencer2d_s, 36 such LSTMs, over 4 minutes). Now it takes a few seconds."""
    import time
    m = nn.LSTM(16, 16, num_layers=6, batch_first=True, bidirectional=True).eval()
    x = r(4, 60, 16)
    t0 = time.process_time()
    check_parity(m, [x], check_coremltools=False)
    assert time.process_time() - t0 < 30, f"conversion + predict took {time.process_time() - t0:.0f} s of CPU"
