"""Op coverage, packed sequences: torch.nn.utils.rnn.pack_padded_sequence / pad_packed_sequence around
nn.LSTM / nn.GRU / nn.RNN (aten::_pack_padded_sequence, aten::_pad_packed_sequence and the RNN data
overloads taking packed data + batch_sizes), traced. Parity with PyTorch for batches of sequences of
different lengths: padded steps hold padding_value, final states are taken at each sequence's own
length (the reverse direction starts there), enforce_sorted True and False, batch_first both ways,
bidirectional and stacked, lengths as a model input or a constant, a given initial state,
total_length, and one converted model run on lengths whose maximum is shorter than the padded input
(the output gets shorter, as torch's)."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import pt2coreml as ct
from cov_common import run

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN,
         "rnn_relu": lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k)}


class Packed(nn.Module):
    """pack -> rnn -> pad; returns the padded output, the final state(s) and the lengths."""

    def __init__(self, cell="lstm", batch_first=True, enforce_sorted=True, total_length=None, padding_value=0.0,
                 const_lengths=None, with_h0=False, **kw):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = CELLS[cell](3, 4, batch_first=batch_first, **kw)
        self.cell, self.bf, self.sorted, self.total, self.pad = cell, batch_first, enforce_sorted, total_length, padding_value
        self.const_lengths = const_lengths
        self.with_h0 = with_h0

    def forward(self, x, lengths=None):
        if self.const_lengths is not None:
            lengths = torch.tensor(self.const_lengths)
        p = pack_padded_sequence(x, lengths, batch_first=self.bf, enforce_sorted=self.sorted)
        if self.with_h0:
            nd = self.rnn.num_layers * (2 if self.rnn.bidirectional else 1)
            b = x.shape[0] if self.bf else x.shape[1]
            h0 = torch.ones(nd, b, 4) * 0.5
            o, h = self.rnn(p, (h0, -h0) if self.cell == "lstm" else h0)
        else:
            o, h = self.rnn(p)
        y, n = pad_packed_sequence(o, batch_first=self.bf, padding_value=self.pad, total_length=self.total)
        return (y, *h, n) if isinstance(h, tuple) else (y, h, n)


def data(batch_first, lengths, T=6, B=None):
    B = B or len(lengths)
    g = torch.Generator().manual_seed(len(lengths) * 7 + T)
    x = torch.randn(B, T, 3, generator=g) if batch_first else torch.randn(T, B, 3, generator=g)
    return x, torch.tensor(lengths)


SORTED = [6, 4, 4, 1]
UNSORTED = [3, 6, 1, 4]


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_cells(cell, batch_first, enforce_sorted):
    x, n = data(batch_first, SORTED if enforce_sorted else UNSORTED)
    run(Packed(cell, batch_first, enforce_sorted), [x, n])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_bidirectional_stacked(cell, enforce_sorted):
    x, n = data(True, SORTED if enforce_sorted else UNSORTED)
    run(Packed(cell, True, enforce_sorted, num_layers=2, bidirectional=True), [x, n])
    x, n = data(False, SORTED if enforce_sorted else UNSORTED)
    run(Packed(cell, False, enforce_sorted, bidirectional=True), [x, n])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_packed_initial_state_and_padding(cell):
    """A given initial state (permuted by the sort when unsorted), padding_value, total_length."""
    x, n = data(True, UNSORTED)
    run(Packed(cell, True, False, with_h0=True, padding_value=-2.5, num_layers=2), [x, n])
    x, n = data(False, SORTED)
    run(Packed(cell, False, True, total_length=9, padding_value=1.0), [x, n])


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_constant_lengths(enforce_sorted):
    lengths = [5, 5, 2] if enforce_sorted else [2, 5, 3]
    x, _ = data(True, lengths, T=5)
    run(Packed("lstm", True, enforce_sorted, const_lengths=lengths, bidirectional=True), [x])
    run(Packed("gru", True, enforce_sorted, const_lengths=lengths, total_length=7), [x])


def test_packed_roundtrip():
    """pack -> pad with no RNN between: the input with zeros past each length."""
    class Roundtrip(nn.Module):
        def forward(self, x, n):
            y, m = pad_packed_sequence(pack_padded_sequence(x, n, batch_first=True, enforce_sorted=False),
                                       batch_first=True, padding_value=7.0)
            return y, m
    x, n = data(True, UNSORTED)
    run(Roundtrip(), [x, n])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_packed_fp16(cell):
    x, n = data(True, UNSORTED)
    run(Packed(cell, True, False, bidirectional=True), [x, n], precision="fp16")


def test_packed_runtime_lengths_shorter_output():
    """One converted model, run on lengths whose maximum (4, then 2) is below the padded length 6:
    torch's output has max(lengths) steps, and so has ours."""
    for sorted_ in (True, False):
        m = Packed("lstm", True, sorted_, bidirectional=True).eval()
        x, n = data(True, SORTED if sorted_ else UNSORTED)
        sm = torch.jit.trace(m, (x, n), check_trace=False)
        ml = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=tuple(x.shape)),
                                    ct.TensorType(name="n", shape=(4,), dtype=np.int32)],
                        compute_precision=ct.precision.FLOAT32)
        for lens in ([4, 4, 3, 1], [2, 1, 1, 1]) if sorted_ else ([1, 4, 2, 3], [2, 1, 1, 2]):
            nn_ = torch.tensor(lens)
            with torch.no_grad():
                want = [t.numpy() for t in sm(x, nn_)]
            out = ml.predict({"x": x.numpy(), "n": nn_.numpy().astype(np.int32)})
            got = [out[f["name"]] for f in ml._desc["outputs"]]
            assert got[0].shape == want[0].shape == (4, max(lens), 8)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_packed_data_from_elsewhere_is_refused():
    """Packed data not made by pack_padded_sequence in the graph cannot be unpacked: a clear error
    naming the node."""
    g = torch._C.parse_ir("""graph(%d : Float(7, 3), %bs : Long(3)):
      %t : bool = prim::Constant[value=1]()
      %p : float = prim::Constant[value=0.]()
      %n : int = prim::Constant[value=3]()
      %y : Tensor, %l : Tensor = aten::_pad_packed_sequence(%d, %bs, %t, %p, %n)
      return (%y)""")
    fn = torch._C._create_function_from_graph("pad_dyn", g)
    with pytest.raises(ct.ConversionError, match=r"aten::_pad_packed_sequence.*pack_padded_sequence"):
        ct.convert(fn, inputs=[ct.TensorType(name="d", shape=(7, 3)), ct.TensorType(name="bs", shape=(3,), dtype=np.int32)])
