"""Control flow: scripted loops and branches on run-time values become MIL
while_loop / cond; lists and numbers known only at run time; dynamic input shapes;
traced submodules called from scripted code. Every model is converted, run in our runtime
at two or more input sizes and compared with PyTorch; check_parity also saves the package
and has coremltools' MIL loader read it back."""
import os
import re
from typing import List, Optional, Tuple

import numpy as np
import pytest
import torch

import pt2coreml as ct
from pt2coreml import _core
from parity import check_parity, coremltools_check

torch.manual_seed(0)


def run_sizes(module, make_inputs, sizes, input_types, precision="fp32", **kw):
    """Script `module`, convert it once per size (inputs built by make_inputs(size)) and
    compare with PyTorch; returns the last mlmodel."""
    sm = torch.jit.script(module.eval())
    ml = None
    for s in sizes:
        ml, _ = check_parity(sm, make_inputs(s), input_types=input_types, precision=precision, **kw)
    return ml


def ops_of(ml):
    return ml.get_program_text(-1)


# ---- loops ----
class ForCarried(torch.nn.Module):
    def forward(self, x, n):
        acc = x
        h = x * 0
        for i in range(int(n.sum())):
            h = torch.tanh(h + acc)
            acc = acc * 0.5 + i
        return acc, h


def test_for_loop_carried_tensors_runtime_trip_count():
    sm = torch.jit.script(ForCarried().eval())
    types = [ct.TensorType(name="x", shape=(2, 3)), ct.TensorType(name="n", shape=(1,), dtype=np.int32)]
    ml = None
    for n in (0, 1, 5):
        ml, _ = check_parity(sm, [torch.randn(2, 3), torch.tensor([n], dtype=torch.int32)], input_types=types)
    assert "while_loop" in ops_of(ml)


class WhileBreak(torch.nn.Module):
    def forward(self, x):
        i = 0
        total = x[0] * 0
        while True:
            total = total + x[i]
            i += 1
            if bool(total.sum() > 3.0) or i >= x.size(0):
                break
        return total, total * 0 + i


def test_while_with_break():
    ml = run_sizes(WhileBreak(), lambda n: [torch.rand(n, 1) * 2], (1, 4, 9),
                   [ct.TensorType(name="x", shape=(ct.RangeDim(1, 16), 1))])
    assert "while_loop" in ops_of(ml)


class ForBreakGrow(torch.nn.Module):
    """The issue's shape: a for loop with a break whose carried tensor grows each iteration."""

    def forward(self, tokens):
        for _ in range(10):
            nxt = (tokens.sum() * 7 + 3) % 11
            tokens = torch.cat((tokens, nxt.reshape(1, 1)), dim=1)
            if bool(nxt == 4):
                break
        return tokens


def test_for_with_break_growing_tensor():
    types = [ct.TensorType(name="tokens", shape=(1, ct.RangeDim(1, 32)), dtype=np.int32)]
    sm = torch.jit.script(ForBreakGrow())
    seen = set()
    for t in ([[1]], [[2, 5]], [[3, 3, 3]], [[0, 1, 2, 6]]):
        x = torch.tensor(t)
        ml, _ = check_parity(sm, [x], input_types=types)
        seen.add(sm(x).shape[1] - x.shape[1])
    assert len(seen) > 1  # the break fires at different iterations


class Nested(torch.nn.Module):
    def forward(self, x):
        out = x * 0
        for i in range(x.size(0)):
            row = x[i]
            j = 0
            while j < i + 1:
                row = row * 0.9 + 0.1
                j += 1
            out = out + row.unsqueeze(0) * (i + 1)
        return out


def test_nested_loops():
    run_sizes(Nested(), lambda n: [torch.randn(n, 4)], (1, 3, 6), [ct.TensorType(name="x", shape=(ct.RangeDim(1, 8), 4))])


def test_static_short_loop_is_unrolled():
    class M(torch.nn.Module):
        def forward(self, x):
            for _ in range(3):
                x = x * 2 + 1
            return x

    ml, _ = check_parity(torch.jit.script(M()), [torch.randn(2, 2)])
    assert "while_loop" not in ops_of(ml)


def test_static_long_loop_becomes_while_loop():
    class M(torch.nn.Module):
        def forward(self, x):
            for i in range(1000):  # (freezing unrolls it 8x: 125 trips, still too long)
                x = x * 0.999 + i * 0.00001
            return x

    ml, _ = check_parity(torch.jit.script(M()), [torch.randn(2, 2)])
    assert "while_loop" in ops_of(ml)


# ---- branches ----
class IfElse(torch.nn.Module):
    def forward(self, x):
        if bool(x.sum() > 0):
            y = x * 2
            k = 3
            t = (y, x + 1)
        else:
            y = -x
            k = 5
            t = (x - 1, y)
        return y * k, t[0] + t[1]


def test_if_else_runtime_condition_both_branches():
    sm = torch.jit.script(IfElse())
    for x in (torch.rand(2, 3) + 0.1, -torch.rand(2, 3) - 0.1):
        ml, _ = check_parity(sm, [x])
    assert "cond" in ops_of(ml)


class IfShapes(torch.nn.Module):
    """Branch outputs of different lengths: the cond output gets a symbolic dim."""

    def forward(self, x):
        if bool(x[0, 0] > 0):
            y = torch.cat((x, x), dim=1)
        else:
            y = x[:, :1]
        return y


def test_if_branches_with_different_shapes():
    # our runtime takes it; coremltools' MIL loader insists both branches have one static type
    sm = torch.jit.script(IfShapes())
    for x in (torch.ones(2, 3), -torch.ones(2, 3)):
        check_parity(sm, [x], check_coremltools=False)


class RaisesOnBadInput(torch.nn.Module):
    def forward(self, x):
        if x.size(1) > 100:
            raise ValueError("too long")
        if bool(x.sum() < -1000.0):
            raise RuntimeError("bad values")
        return x + 1


def test_raise_branch_dropped():
    ml = run_sizes(RaisesOnBadInput(), lambda n: [torch.randn(1, n)], (2, 5),
                   [ct.TensorType(name="x", shape=(1, ct.RangeDim(1, 50)))])
    assert "cond" not in ops_of(ml)


class OptionalAttr(torch.nn.Module):
    def __init__(self, bias: Optional[torch.Tensor]):
        super().__init__()
        self.bias = bias

    def forward(self, x):
        y = x * 2
        b = self.bias
        if b is not None:
            y = y + b
        if bool(y.sum() > 0):  # a run-time branch next to the static None check
            y = y - 1
        return y


def test_none_checks_and_unchecked_cast():
    for bias in (None, torch.ones(3)):
        sm = torch.jit.script(OptionalAttr(bias).eval())
        for x in (torch.rand(3) + 1, -torch.rand(3) - 2):
            check_parity(sm, [x])


# ---- lists and numbers ----
class AppendCat(torch.nn.Module):
    def forward(self, x):
        rows: List[torch.Tensor] = []
        i = 0
        while i < x.size(0):
            rows.append(x[i] * (i + 1))
            i += 1
        return torch.cat(rows, dim=0), torch.stack(rows, dim=1), x[0] * 0 + len(rows)


def test_list_append_in_loop_then_cat_and_stack():
    run_sizes(AppendCat(), lambda n: [torch.randn(n, 3)], (1, 2, 5), [ct.TensorType(name="x", shape=(ct.RangeDim(1, 8), 3))])


class LoopOverList(torch.nn.Module):
    def forward(self, x):
        parts = [x, x * 2, x - 1]
        acc = x * 0
        for p in parts:
            acc = acc + torch.relu(p)
        sizes: List[int] = []
        for k in range(x.size(0)):
            sizes.append(k * 2)
        total = 0
        for s in sizes:
            total += s
        return acc + total + sizes[-1]


def test_loop_over_lists():
    run_sizes(LoopOverList(), lambda n: [torch.randn(n, 2)], (1, 4), [ct.TensorType(name="x", shape=(ct.RangeDim(1, 8), 2))])


class IntArith(torch.nn.Module):
    def forward(self, x):
        n = x.size(0)
        m = x.size(1)
        a = (n * 3 + m) // 2
        b = n % 3
        c = int(x.sum().item() > 0)
        flag = not (n == m)
        if flag and a > 2:
            r = x[: a // 2 + 1]
        else:
            r = x[:1]
        return r * (b + 1) + c


def test_int_arithmetic_on_runtime_sizes():
    run_sizes(IntArith(), lambda n: [torch.randn(n, 3)], (1, 3, 6), [ct.TensorType(name="x", shape=(ct.RangeDim(1, 8), 3))])


def test_tuple_return_from_loop():
    class M(torch.nn.Module):
        def forward(self, x):
            state: Tuple[torch.Tensor, torch.Tensor] = (x, x * 0)
            for i in range(x.size(0)):
                a, b = state
                state = (a * 0.5, b + a)
            return state[1]

    run_sizes(M(), lambda n: [torch.randn(n, 2)], (1, 5), [ct.TensorType(name="x", shape=(ct.RangeDim(1, 8), 2))])


# ---- dynamic shapes ----
class SizeMath(torch.nn.Module):
    def forward(self, x):
        b, t, c = x.shape
        y = x.reshape(b * t, c)
        y = y - y.mean(dim=0, keepdim=True)
        return y.view(b, t, c)[:, t // 2:] * t


def test_range_dim_size_becomes_shape_computation():
    ml = run_sizes(SizeMath(), lambda t: [torch.randn(2, t, 4)], (2, 5, 9),
                   [ct.TensorType(name="x", shape=(2, ct.RangeDim(2, 16, default=4), 4))])
    assert re.search(r"shape\(", ops_of(ml))


def test_range_dim_described_as_shape_range(tmp_path):
    sm = torch.jit.script(SizeMath())
    ml = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=(2, ct.RangeDim(2, 16, default=4), 4))],
                    compute_precision=ct.precision.FLOAT32)
    path = str(tmp_path / "r.mlpackage")
    ml.save(path)
    coremltools = pytest.importorskip("coremltools", reason="the shape range is read back with coremltools")
    spec = coremltools.models.MLModel(path, skip_model_load=True).get_spec()
    arr = spec.description.input[0].type.multiArrayType
    assert list(arr.shape) == [2, 4, 4]
    assert [(r.lowerBound, r.upperBound) for r in arr.shapeRange.sizeRanges] == [(2, 2), (2, 16), (4, 4)]
    coremltools_check(path)


def test_enumerated_shapes():
    sm = torch.jit.script(SizeMath())
    shapes = ct.EnumeratedShapes(shapes=[(2, 3, 4), (2, 6, 4), (2, 8, 4)], default=(2, 6, 4))
    ml = None
    for t in (3, 6, 8):
        ml, _ = check_parity(sm, [torch.randn(2, t, 4)], input_types=[ct.TensorType(name="x", shape=shapes)])
    feat = ml._desc["inputs"][0]
    assert feat["enumerated"] == [[2, 3, 4], [2, 6, 4], [2, 8, 4]]
    assert feat["shape"] == [2, 6, 4]
    with pytest.raises(Exception, match="enumerated|shape"):
        ml.predict({"x": np.zeros((2, 5, 4), np.float32)})


def test_shape_type_input():
    sm = torch.jit.script(SizeMath())
    check_parity(sm, [torch.randn(2, 4, 4)], input_types=[ct.TensorType(name="x", shape=ct.Shape((2, 4, 4)))])


# ---- mixed trace + script ----
class TinyLM(torch.nn.Module):
    def __init__(self, vocab=11, dim=8):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, dim)
        self.mix = torch.nn.Linear(dim, dim)
        self.out = torch.nn.Linear(dim, vocab)

    def forward(self, tokens):
        h = self.emb(tokens)
        h = torch.tanh(self.mix(h)) + h
        return self.out(h)


class Finish(torch.nn.Module):
    def __init__(self, predictor, eos: int, max_len: int):
        super().__init__()
        self.predictor = predictor
        self.eos = eos
        self.max_len = max_len

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        for _ in range(self.max_len):
            nxt = self.predictor(tokens)[0, -1].argmax()
            tokens = torch.cat((tokens, nxt.reshape(1, 1)), dim=1)
            if nxt == self.eos:
                break
        return tokens


def test_traced_predictor_in_scripted_loop():
    torch.manual_seed(3)
    lm = TinyLM().eval()
    predictor = torch.jit.trace(lm, torch.randint(11, (1, 4)))
    sm = torch.jit.script(Finish(predictor, 5, 12))
    types = [ct.TensorType(name="context", shape=(1, ct.RangeDim(1, 64)), dtype=np.int32)]
    for ctx in ([[1]], [[2, 7, 3]], [[4, 4, 9, 10, 0]]):
        ml, _ = check_parity(sm, [torch.tensor(ctx)], input_types=types)
    assert "while_loop" in ops_of(ml)


def test_fp16_loop():
    sm = torch.jit.script(ForCarried().eval())
    types = [ct.TensorType(name="x", shape=(2, 3)), ct.TensorType(name="n", shape=(1,), dtype=np.int32)]
    check_parity(sm, [torch.randn(2, 3), torch.tensor([4], dtype=torch.int32)], input_types=types, precision="fp16",
                 tol=3e-2)


# ---- errors ----
def test_loop_changing_rank_names_node_and_line():
    class M(torch.nn.Module):
        def forward(self, x):
            for _ in range(x.size(0)):
                x = x.unsqueeze(0)
            return x

    sm = torch.jit.script(M())
    with pytest.raises(ct.ConversionError if hasattr(ct, "ConversionError") else Exception) as ei:
        ct.convert(sm, inputs=[ct.TensorType(name="x", shape=(ct.RangeDim(1, 4),))])
    msg = str(ei.value)
    assert "prim::Loop" in msg and "test_control_flow.py" in msg and "rank" in msg


# ---- the IR and runtime directly ----
WHILE_PROGRAM = """program(CoreML5)
func main(%x: int32[1,s0], %n1: int32[1]) {
  %n: int32[] = squeeze(x=%n1)
  %zero: int32[] = const(val=0)
  %one: int32[] = const(val=1)
  (%i_out: int32[], %t_out: int32[1,s1]) = while_loop(loop_vars=(%zero, %x)) {
    block(%ci: int32[], %ct: int32[1,s2]) {
      %go: bool[] = less(x=%ci, y=%n)
    } -> (%go)
    block(%bi: int32[], %bt: int32[1,s3]) {
      %i2: int32[] = add(x=%bi, y=%one)
      %shp: int32[2] = const(val=[1, 1])
      %r: int32[1,1] = reshape(x=%i2, shape=%shp)
      %ax: int32[] = const(val=1)
      %il: bool[] = const(val=false)
      %t2: int32[1,s4] = concat(values=(%bt, %r), axis=%ax, interleave=%il)
    } -> (%i2, %t2)
  }
  %p: bool[] = greater(x=%i_out, y=%one)
  %y: int32[1,s5] = cond(pred=%p) {
    block() {
      %d: int32[1,s6] = mul(x=%t_out, y=%i_out)
    } -> (%d)
    block() {
      %e: int32[1,s7] = identity(x=%t_out)
    } -> (%e)
  }
} -> (%y, %i_out)
"""


def test_ir_while_and_cond_run_save_and_coremltools(tmp_path):
    prog = _core.parse(WHILE_PROGRAM)
    y, i = prog.run([np.array([[7, 8]], np.int32), np.array([4], np.int32)])
    assert y.tolist() == [[28, 32, 4, 8, 12, 16]] and int(i) == 4
    y, i = prog.run([np.array([[7]], np.int32), np.array([0], np.int32)])
    assert y.tolist() == [[7]] and int(i) == 0
    path = str(tmp_path / "w.mlpackage")
    prog.save(path, {})
    back, _ = _core.load(path)
    y, _ = back.run([np.array([[1, 2, 3]], np.int32), np.array([2], np.int32)])
    assert y.tolist() == [[2, 4, 6, 2, 4]]
    mil = coremltools_check(path)
    if mil is not None:
        text = str(mil)
        assert "while_loop" in text and "cond" in text


def test_ir_checker_rejects_malformed_while():
    bad = WHILE_PROGRAM.replace("} -> (%i2, %t2)", "} -> (%i2)")
    with pytest.raises(Exception, match="loop var|output"):
        _core.parse(bad).run([np.array([[1]], np.int32), np.array([1], np.int32)])


def test_runtime_reports_op_inside_loop():
    bad = WHILE_PROGRAM.replace("%shp: int32[2] = const(val=[1, 1])", "%shp: int32[2] = const(val=[2, 1])")
    with pytest.raises(Exception, match="r|reshape"):
        _core.parse(bad).run([np.array([[1]], np.int32), np.array([1], np.int32)])


class AppendUnderCondition(torch.nn.Module):
    """A list appended to only on some iterations (a run-time if inside a loop), then stacked."""

    def forward(self, x):
        kept: List[torch.Tensor] = [x[0] * 0]
        for i in range(x.size(0)):
            if bool(x[i].sum() > 0):
                kept.append(x[i])
        return torch.stack(kept, dim=0).sum(dim=0), x[0] * 0 + len(kept)


def test_list_append_under_runtime_condition():
    torch.manual_seed(1)
    run_sizes(AppendUnderCondition(), lambda n: [torch.randn(n, 3)], (1, 4, 7),
              [ct.TensorType(name="x", shape=(ct.RangeDim(1, 8), 3))])


class InnerBreak(torch.nn.Module):
    def forward(self, x):
        total = x[0, 0] * 0
        for i in range(x.size(0)):
            for j in range(x.size(1)):
                if bool(x[i, j] < 0):
                    break
                total = total + x[i, j]
        return total


def test_break_in_inner_loop():
    torch.manual_seed(2)
    run_sizes(InnerBreak(), lambda n: [torch.randn(n, 5)], (1, 3, 6), [ct.TensorType(name="x", shape=(ct.RangeDim(1, 8), 5))])
