"""Forms that library code and scripted torch.nn modules bring: Python's range() in scripted loops,
scripted LSTM / LSTMCell / GRUCell / MultiheadAttention (grad, autocast and device queries, `in`,
all()), RNN cells, bilinear, median along a dim, LSTM projections, grouped-query attention, diff and
torch.cat's legacy empty tensors (transformers' decoders). Each converts and matches PyTorch."""
import numpy as np
import pytest
import torch

import pt2coreml as ct
from parity import check_parity, need_torch2

PRECISIONS = ["fp32", "fp16"]


class RangeSum(torch.nn.Module):
    def forward(self, x):
        s = x[0]
        for i in range(1, x.size(0)):
            s = s + x[i] * i
        return s


class RangeStep(torch.nn.Module):
    def forward(self, x):
        out = []
        for i in range(10, 0, -3):
            out.append(x * i)
        return torch.stack(out)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("mod", [RangeSum, RangeStep])
def test_scripted_range(mod, precision):
    check_parity(mod(), [torch.randn(5, 3)], precision=precision, script=True)


def test_scripted_range_runtime_bounds():
    """range() over a size known only at run time: __range_length / __derive_index become ops."""
    sm = torch.jit.script(RangeSum().eval())
    ml = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=(ct.RangeDim(2, 8), 3))],
                    compute_precision=ct.precision.FLOAT32)
    for n in (2, 5, 8):
        x = torch.randn(n, 3)
        got = ml.predict({"x": x.numpy()})
        np.testing.assert_allclose(list(got.values())[0], sm(x).numpy(), rtol=1e-5, atol=1e-5)


class _CellHolder(torch.nn.Module):
    def __init__(self, cell, with_state):
        super().__init__()
        self.cell = cell
        self.with_state = with_state


class LSTMCellUse(_CellHolder):
    def forward(self, x, h):
        if self.with_state:
            a, b = self.cell(x, (h, h * 0.5))
        else:
            a, b = self.cell(x)
        return a + b


class CellUse(_CellHolder):
    def forward(self, x, h):
        if self.with_state:
            return self.cell(x, h)
        return self.cell(x) + h


def Cell(cell, with_state):
    return (LSTMCellUse if isinstance(cell, torch.nn.LSTMCell) else CellUse)(cell, with_state)


@pytest.mark.parametrize("script", [False, True], ids=["traced", "scripted"])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell", "RNNCell_relu"])
def test_rnn_cells(kind, with_state, script):
    torch.manual_seed(0)
    cell = getattr(torch.nn, kind.split("_")[0])(4, 8, **({"nonlinearity": "relu"} if "relu" in kind else {}))
    check_parity(Cell(cell, with_state), [torch.randn(3, 4), torch.randn(3, 8)], script=script)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell"])
def test_scripted_cell_optional_state(kind):
    """forward(input, hx=None) scripted and converted with one input: hx takes its default."""
    torch.manual_seed(0)
    check_parity(getattr(torch.nn, kind)(4, 8), [torch.randn(2, 4)], script=True)


def test_unbatched_cell():
    torch.manual_seed(0)
    check_parity(torch.nn.GRUCell(4, 8), [torch.randn(4), torch.randn(8)])


class ScriptedLSTM(torch.nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.rnn = torch.nn.LSTM(4, 8, batch_first=True, **kw)

    def forward(self, x):
        return self.rnn(x)[0]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_scripted_lstm_module(precision):
    torch.manual_seed(0)
    check_parity(ScriptedLSTM(num_layers=2), [torch.randn(2, 5, 4)], precision=precision, script=True)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_lstm_proj_size(layers, bidirectional):
    torch.manual_seed(0)
    m = torch.nn.LSTM(4, 8, num_layers=layers, proj_size=3, bidirectional=bidirectional, batch_first=True)
    check_parity(m, [torch.randn(2, 5, 4)])


class MHA(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.m = torch.nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        return self.m(x, x, x)[0]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_scripted_multihead_attention(precision):
    need_torch2("scripted nn.MultiheadAttention as torch 2 writes it (torch 1.13's calls str(device) and str.find)")
    torch.manual_seed(0)
    check_parity(MHA(), [torch.randn(2, 5, 16)], precision=precision, script=True)


class Bilinear(torch.nn.Module):
    def __init__(self, bias):
        super().__init__()
        self.b = torch.nn.Bilinear(4, 5, 6, bias=bias)

    def forward(self, x1, x2):
        return self.b(x1, x2)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("shape", [(3,), (2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear(bias, shape, precision):
    torch.manual_seed(0)
    check_parity(Bilinear(bias), [torch.randn(*shape, 4), torch.randn(*shape, 5)], precision=precision)


class Median(torch.nn.Module):
    def __init__(self, dim, keepdim):
        super().__init__()
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x):
        if self.dim is None:
            return torch.median(x)
        v, i = torch.median(x, dim=self.dim, keepdim=self.keepdim)
        return v, i


@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (-1, True), (0, False)])
@pytest.mark.parametrize("n", [6, 7])
def test_median(n, dim, keepdim):
    torch.manual_seed(0)
    x = torch.randperm(3 * n).float().reshape(3, n)  # distinct values: the index is unique
    check_parity(Median(dim, keepdim), [x])


class GQA(torch.nn.Module):
    def __init__(self, causal):
        super().__init__()
        self.causal = causal

    def forward(self, q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.causal, enable_gqa=True)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_grouped_query(causal, precision):
    need_torch2("scaled_dot_product_attention(enable_gqa=)")
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 6, 5, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    check_parity(GQA(causal), [q, k, v], precision=precision)


class Diff(torch.nn.Module):
    def __init__(self, n, dim, pre, app):
        super().__init__()
        self.n, self.dim, self.pre, self.app = n, dim, pre, app

    def forward(self, x):
        pre = x[..., :1] * 2 if self.pre else None
        app = x[..., -2:] - 1 if self.app else None
        return torch.diff(x, n=self.n, dim=self.dim, prepend=pre, append=app)


@pytest.mark.parametrize("n,dim,pre,app", [(1, -1, False, False), (2, -1, False, False), (1, 0, False, False),
                                           (1, -1, True, False), (1, -1, False, True), (3, -1, True, True)])
def test_diff(n, dim, pre, app):
    torch.manual_seed(0)
    check_parity(Diff(n, dim, pre, app), [torch.randn(4, 6)])


class DiffTypes(torch.nn.Module):
    def forward(self, x):
        return torch.diff(x > 0).int(), torch.diff((x * 10).int(), dim=0)


def test_diff_bool_int():
    torch.manual_seed(0)
    check_parity(DiffTypes(), [torch.randn(4, 6)])


class CatEmpty(torch.nn.Module):
    """transformers' cache: torch.cat([torch.tensor([]), states], dim=-2) (1-D empty tensors are skipped)."""

    def forward(self, x):
        empty = torch.tensor([])
        return torch.cat([empty, x, empty], dim=-2)


def test_cat_skips_legacy_empty():
    torch.manual_seed(0)
    check_parity(CatEmpty(), [torch.randn(2, 3, 4)])


class Contains(torch.nn.Module):
    def forward(self, x):
        if x.device.type in ["cpu", "cuda"] and not torch.is_grad_enabled() and not x.requires_grad:
            return x + 1
        return x - 1


def test_scripted_environment_queries():
    check_parity(Contains(), [torch.randn(3)], script=True)


class NewGELU(torch.nn.Module):
    """GPT-2's gelu_new as transformers writes it, and the same with the halving last."""

    def __init__(self, half_last):
        super().__init__()
        self.half_last = half_last

    def forward(self, x):
        inner = torch.tanh(0.7978845608028654 * (x + 0.044715 * torch.pow(x, 3.0)))
        if self.half_last:
            return x * (1.0 + inner) * 0.5
        return 0.5 * x * (1.0 + inner)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("half_last", [False, True])
def test_written_out_gelu_is_one_op(half_last, precision):
    torch.manual_seed(0)
    ml, _ = check_parity(NewGELU(half_last), [torch.randn(4, 16) * 3], precision=precision)
    hist = ml.op_histogram()
    assert hist.get("gelu") == 1 and "tanh" not in hist and "pow" not in hist, hist


class TensorSplit(torch.nn.Module):
    def __init__(self, arg, dim):
        super().__init__()
        self.arg, self.dim = arg, dim

    def forward(self, x):
        return [p * (i + 1) for i, p in enumerate(torch.tensor_split(x, self.arg, dim=self.dim)) if p.numel()]


@pytest.mark.parametrize("arg,dim", [(3, 1), (4, -1), ([2, 5], 1), ([0, 3], 1), ([-2], -1), ([3, 3, 9], 1), (2, 0)])
def test_tensor_split(arg, dim):
    """mamba's form: tensor_split(x, [k], dim) with k possibly 0 (an empty piece) and sections that do
    not divide the size."""
    torch.manual_seed(0)
    check_parity(TensorSplit(arg, dim), [torch.randn(2, 7, 3)])


class Windows(torch.nn.Module):
    def __init__(self, dim, size, step):
        super().__init__()
        self.dim, self.size, self.step = dim, size, step

    def forward(self, x):
        return x.unfold(self.dim, self.size, self.step).flip(-1)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("dim,size,step", [(-1, 3, 1), (1, 2, 2), (0, 1, 1), (-1, 7, 1), (2, 2, 3)])
def test_tensor_unfold(dim, size, step, precision):
    torch.manual_seed(0)
    check_parity(Windows(dim, size, step), [torch.randn(2, 4, 7)], precision=precision)


class LSTMState(torch.nn.Module):
    """An LSTM whose (h, c) state comes in as one tuple argument."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.LSTM(4, 8, batch_first=True)

    def forward(self, x, state):
        y, (h, c) = self.rnn(x, state)
        return y, h, c


def test_tuple_input_flattened():
    """forward(x, state=(h, c)): the tuple is one input per element (named state_0, state_1 unless
    named), as coremltools does."""
    torch.manual_seed(0)
    m = LSTMState().eval()
    x, st = torch.randn(2, 5, 4), (torch.randn(1, 2, 8), torch.randn(1, 2, 8))
    t = torch.jit.trace(m, (x, st))
    ml = ct.convert(t, inputs=[ct.TensorType(shape=x.shape), ct.TensorType(shape=(1, 2, 8)),
                               ct.TensorType(shape=(1, 2, 8))], compute_precision=ct.precision.FLOAT32)
    assert [f["name"] for f in ml._desc["inputs"]] == ["x", "state_0", "state_1"]
    out = ml.predict({"x": x.numpy(), "state_0": st[0].numpy(), "state_1": st[1].numpy()})
    with torch.no_grad():
        ref = m(x, st)
    for got, want in zip(out.values(), ref):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)


class Einsum(torch.nn.Module):
    def __init__(self, eq):
        super().__init__()
        self.eq = eq

    def forward(self, *xs):
        return torch.einsum(self.eq, *xs)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("eq,shapes", [
    ("ii->i", [(4, 4)]), ("ii", [(4, 4)]), ("ii->", [(3, 3)]), ("bii->bi", [(2, 3, 3)]),
    ("iji->j", [(3, 2, 3)]), ("jiii,ijjk->jk", [(2, 3, 3, 3), (3, 2, 2, 4)]), ("ij,jj->ij", [(2, 3), (3, 3)]),
])
def test_einsum_repeated_index(eq, shapes, precision):
    """An index repeated within one operand reads the diagonal, as torch computes it."""
    torch.manual_seed(0)
    check_parity(Einsum(eq), [torch.randn(*s) for s in shapes], precision=precision)


class TensorQueries(torch.nn.Module):
    def forward(self, x):
        off = x.is_cuda or x.is_sparse or x.is_mkldnn or x.is_meta or x.is_quantized or x.is_mps
        if off or torch.is_autocast_cpu_enabled() or x.is_nested:
            return x - 1
        return x + 1


def test_scripted_tensor_queries():
    """x.is_cuda, is_sparse, is_mkldnn, is_meta, is_quantized, is_mps, is_nested and the autocast query
    are false in a converted model."""
    check_parity(TensorQueries(), [torch.randn(3)], script=True)
