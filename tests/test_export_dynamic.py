"""torch.export dynamic shapes: a program exported with dynamic_shapes converts with a RangeDim per symbolic
input dim (its [min, max] from the program's range_constraints) when inputs= is left out, or with the
declared RangeDim / EnumeratedShapes (checked against that range); sym_size and the int arithmetic on it
lower to run-time shape ops. Each model is predicted at several sizes and compared with the program."""
import pytest
import torch

import pt2coreml as ct
from export_common import PREC, export, predict_compare
from models_common import SmallConvLayers
from parity import TORCH_MAJOR, coremltools_check

if TORCH_MAJOR < 2:
    pytest.skip("torch.export needs torch >= 2", allow_module_level=True)

from torch.export import Dim  # noqa: E402


class ConvNet(SmallConvLayers):
    def forward(self, x):
        y = torch.relu(self.bn(self.c1(x)))
        y = torch.relu(self.c2(y) + y)
        y = torch.nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.fc(y)


@pytest.fixture(scope="module")
def convnet():
    torch.manual_seed(0)
    m = ConvNet()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.2, 0.2)
        m.bn.running_var.uniform_(0.5, 1.5)
    return export(m, [torch.rand(2, 3, 16, 16)], {"x": {0: Dim("batch", min=1, max=8)}})


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_conv_net_dynamic_batch(convnet, precision, tmp_path):
    m = ct.convert(convnet, compute_precision=PREC[precision])
    torch.manual_seed(1)
    predict_compare(convnet, m, [[torch.rand(1, 3, 16, 16)], [torch.rand(5, 3, 16, 16)]], precision)
    if precision == "fp32":
        spec = m.get_spec()
        arr = spec.description.input[0].type.multiArrayType
        assert [(r.lowerBound, r.upperBound) for r in arr.shapeRange.sizeRanges] == [(1, 8), (3, 3), (16, 16),
                                                                                      (16, 16)]
        lo, hi = [(v.lower, v.upper) for v in convnet.range_constraints.values()][0]
        assert (lo, hi) == (1, 8)
        path = str(tmp_path / "m.mlpackage")
        m.save(path)
        back = ct.models.MLModel(path).get_spec()  # our reader
        arr = back.description.input[0].type.multiArrayType
        assert [(r.lowerBound, r.upperBound) for r in arr.shapeRange.sizeRanges][0] == (1, 8)
        try:
            import coremltools
        except Exception:
            coremltools = None
        if coremltools is not None:  # Apple's reader sees the same range
            arr = coremltools.models.MLModel(path, skip_model_load=True).get_spec().description.input[0].type
            assert [(r.lowerBound, r.upperBound) for r in arr.multiArrayType.shapeRange.sizeRanges][0] == (1, 8)
        coremltools_check(path)


def test_declared_range_dim_and_enumerated_shapes(convnet):
    fp32 = ct.precision.FLOAT32
    m = ct.convert(convnet, inputs=[ct.TensorType(shape=ct.Shape((ct.RangeDim(1, 4), 3, 16, 16)))],
                   compute_precision=fp32)
    assert [(r.lowerBound, r.upperBound) for r in
            m.get_spec().description.input[0].type.multiArrayType.shapeRange.sizeRanges][0] == (1, 4)
    torch.manual_seed(2)
    predict_compare(convnet, m, [[torch.rand(3, 3, 16, 16)]], "fp32")
    m = ct.convert(convnet, inputs=[ct.TensorType(shape=ct.EnumeratedShapes([(1, 3, 16, 16), (6, 3, 16, 16)]))],
                   compute_precision=fp32)
    predict_compare(convnet, m, [[torch.rand(6, 3, 16, 16)], [torch.rand(1, 3, 16, 16)]], "fp32")


def test_declared_shape_outside_the_programs_range(convnet):
    with pytest.raises(ValueError, match=r"dim 0 allows \[1, 16\].*\[1, 8\]"):
        ct.convert(convnet, inputs=[ct.TensorType(shape=(ct.RangeDim(1, 16), 3, 16, 16))])
    with pytest.raises(ValueError, match=r"dim 0 allows 9 .*\[1, 8\]"):
        ct.convert(convnet, inputs=[ct.TensorType(shape=ct.EnumeratedShapes([(1, 3, 16, 16), (9, 3, 16, 16)]))])
    with pytest.raises(ValueError, match=r"dim 2 is .*static"):
        ct.convert(convnet, inputs=[ct.TensorType(shape=(ct.RangeDim(1, 8), 3, ct.RangeDim(8, 32), 16))])


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        b, t, d = x.shape
        y = self.layer(x)
        y = y.reshape(b * t, d)
        return self.head(y).view(b, t, 4)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_transformer_dynamic_sequence(precision):
    ep = export(Encoder(), [torch.rand(1, 6, 16)], {"x": {1: Dim("seq", min=2, max=32)}})
    m = ct.convert(ep, compute_precision=PREC[precision])
    torch.manual_seed(3)
    predict_compare(ep, m, [[torch.rand(1, 5, 16)], [torch.rand(1, 12, 16)]], precision,
                    tol=None if precision == "fp32" else 3e-2)
    arr = m.get_spec().description.input[0].type.multiArrayType
    assert [(r.lowerBound, r.upperBound) for r in arr.shapeRange.sizeRanges][1] == (2, 32)


class Derived(torch.nn.Module):
    def forward(self, x, y):
        n = y.shape[0]
        pairs = x.reshape(n, 2, -1).sum(1)    # x has 2*n rows
        tail = x[n:] * 2                       # the second half, by a run-time slice
        return pairs + y, tail - y, torch.arange(n * 2, dtype=torch.float32)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_derived_dim(precision):
    n = Dim("n", min=1, max=10)
    ep = export(Derived(), [torch.rand(6, 4), torch.rand(3, 4)], {"x": {0: 2 * n}, "y": {0: n}})
    m = ct.convert(ep, compute_precision=PREC[precision])
    sizes = [[(r.lowerBound, r.upperBound) for r in f.type.multiArrayType.shapeRange.sizeRanges]
             for f in m.get_spec().description.input]
    assert sizes == [[(2, 20), (4, 4)], [(1, 10), (4, 4)]]
    torch.manual_seed(4)  # torch's guards exclude n == 1
    predict_compare(ep, m, [[torch.rand(2 * k, 4), torch.rand(k, 4)] for k in (2, 4, 7)], precision)


class SymArith(torch.nn.Module):
    def forward(self, x):
        n = x.numel()                                               # aten.sym_numel
        rows = x.shape[0] * 2 - 1                                   # operator.mul, operator.sub
        return x.reshape(n) * 2, torch.full((rows, max(x.shape[0], 3)), 1.5)  # torch.sym_max


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_symbolic_int_arithmetic(precision):
    ep = export(SymArith(), [torch.rand(3, 4)], {"x": {0: Dim("b", min=2, max=9)}})
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert {"aten.sym_numel.default", "<built-in function mul>", "<built-in function sub>"} <= targets
    m = ct.convert(ep, compute_precision=PREC[precision])
    torch.manual_seed(5)
    predict_compare(ep, m, [[torch.rand(2, 4)], [torch.rand(5, 4)]], precision)


def test_storage_offset_and_identity_ops(monkeypatch):
    """sym_storage_offset (0) and operator.pos, which torch writes for other programs, spliced into one:
    rows = pos(storage_offset(x) + 2 * b) - 1 computes what the program computes."""
    import json
    from pt2coreml import _export
    ep = export(SymArith(), [torch.rand(3, 4)], {"x": {0: Dim("b", min=2, max=9)}})
    real = _export.serialize

    def splice(e):
        doc = json.loads(real(e))
        nodes = doc["graph_module"]["graph"]["nodes"]
        k = next(i for i, n in enumerate(nodes) if n["target"] == "_operator.sub")
        mul = nodes[k]["inputs"][0]["arg"]["as_sym_int"]["as_name"]
        sym = lambda name: {"as_sym_int": {"as_name": name}}  # noqa: E731
        nodes[k]["inputs"][0]["arg"] = sym("pos_0")
        nodes[k:k] = [
            {"target": "torch.ops.aten.sym_storage_offset.default", "inputs": [
                {"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1}], "outputs": [sym("off_0")]},
            {"target": "_operator.add", "inputs": [{"name": "a", "arg": sym("off_0"), "kind": 1},
                                                   {"name": "b", "arg": sym(mul), "kind": 1}],
             "outputs": [sym("add_0")]},
            {"target": "_operator.pos", "inputs": [{"name": "a", "arg": sym("add_0"), "kind": 1}],
             "outputs": [sym("pos_0")]}]
        return json.dumps(doc).encode()
    monkeypatch.setattr(_export, "serialize", splice)
    m = ct.convert(ep, compute_precision=ct.precision.FLOAT32)
    torch.manual_seed(6)
    predict_compare(ep, m, [[torch.rand(2, 4)], [torch.rand(6, 4)]], "fp32")


def test_unbounded_dim_range_as_coremltools_writes_it():
    """A Dim without max: upper bound 2**31 - 1 (coremltools' bound for an exported program's unbounded dim),
    lower bound the program's."""
    n = Dim("n")
    ep = export(Derived(), [torch.rand(6, 4), torch.rand(3, 4)], {"x": {0: 2 * n}, "y": {0: n}})
    lows = {str(k): v.lower for k, v in ep.range_constraints.items()}
    m = ct.convert(ep, compute_precision=ct.precision.FLOAT32)
    sizes = [[(r.lowerBound, r.upperBound) for r in f.type.multiArrayType.shapeRange.sizeRanges]
             for f in m.get_spec().description.input]
    sym = [k for k in lows if "*" not in k][0]
    assert sizes == [[(int(lows[f"2*{sym}"]), 2 ** 31 - 1), (4, 4)], [(int(lows[sym]), 2 ** 31 - 1), (4, 4)]]
    torch.manual_seed(7)
    predict_compare(ep, m, [[torch.rand(2 * k, 4), torch.rand(k, 4)] for k in (3, 20)], "fp32")
    # a declared bounded or unbounded range fits an unbounded program dim
    ct.convert(ep, inputs=[ct.TensorType(shape=(ct.RangeDim(2, 40), 4)),
                           ct.TensorType(shape=(ct.RangeDim(1, -1), 4))])
