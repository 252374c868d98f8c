"""torch.export control flow: torch.cond -> MIL cond (prim::If), while_loop -> MIL while_loop (prim::Loop with
the condition inlined before the loop and after the body), map -> a loop stacking its results. Each program is
converted, predicted in our runtime on inputs taking every path, and compared with the program's own outputs."""
import pytest
import torch

import pt2coreml as ct
from export_common import PREC, export, malformed_outcomes, predict_compare
from parity import TORCH_MAJOR, coremltools_check

if TORCH_MAJOR < 2 or not hasattr(torch, "cond"):
    pytest.skip("torch.cond needs torch >= 2.5", allow_module_level=True)

from torch._higher_order_ops.map import map as hop_map  # noqa: E402

while_loop = getattr(torch, "while_loop", None)
if while_loop is None:
    from torch._higher_order_ops.while_loop import while_loop


def check(ep, arg_sets, precision, tol=None, apple_reader=None):
    """Convert once, predict on each argument set, compare with ep.module(); with apple_reader (a tmp_path),
    coremltools' reader loads the saved package too."""
    m = ct.convert(ep, compute_precision=PREC[precision])
    if apple_reader is not None:
        path = str(apple_reader / "m.mlpackage")
        m.save(path)
        coremltools_check(path)
    predict_compare(ep, m, arg_sets, precision, tol)
    return m


def mil_ops(m):
    return m._prog.text()


class CondTwoInputs(torch.nn.Module):
    def forward(self, x, y):
        return torch.cond(x.sum() > 0, lambda x, y: (x + y) * 2, lambda x, y: x - y.exp(), (x, y))


class CondWithWeights(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 4)
        self.b = torch.nn.Linear(4, 4)
        self.register_buffer("shift", torch.arange(4.0))

    def forward(self, x):
        def t(x):
            return torch.relu(self.a(x)) + self.shift

        def f(x):
            return self.b(x).sigmoid()
        return torch.cond(x.mean() > 0, t, f, (x,))


class NestedCond(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)

    def forward(self, x, y):
        def inner_t(x, y):
            return self.lin(x) * y

        def inner_f(x, y):
            return x + y

        def outer_t(x, y):
            return torch.cond(y.sum() > 0, inner_t, inner_f, (x, y)) + 1

        def outer_f(x, y):
            return x * 3 - y
        return torch.cond(x.sum() > 0, outer_t, outer_f, (x, y))


def _sign_sets(shape, n_inputs, signs):
    torch.manual_seed(1)
    sets = []
    for s in signs:
        sets.append([(torch.rand(*shape) + 0.1) * s[i] for i in range(n_inputs)])
    return sets


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cond_two_inputs(precision):
    x, y = torch.rand(2, 3), torch.rand(2, 3)
    ep = export(CondTwoInputs(), [x, y])
    m = check(ep, _sign_sets((2, 3), 2, [(1, 1), (-1, 1)]), precision)
    assert "cond(" in mil_ops(m)


@pytest.mark.parametrize("decompose", [False, True], ids=["export", "core_aten"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cond_branches_use_weights(precision, decompose):
    ep = export(CondWithWeights(), [torch.rand(2, 4)])
    if decompose:  # the branches' subgraphs are decomposed too (linear -> addmm / permute)
        ep = ep.run_decompositions()
    check(ep, _sign_sets((2, 4), 1, [(1,), (-1,)]), precision)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_nested_cond(precision, tmp_path):
    ep = export(NestedCond(), [torch.rand(2, 3), torch.rand(2, 3)])
    m = check(ep, _sign_sets((2, 3), 2, [(1, 1), (1, -1), (-1, 1)]), precision,
              apple_reader=tmp_path if precision == "fp32" else None)
    assert mil_ops(m).count("cond(") == 2


class CondOnShape(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.shape[0] > 2, lambda x: x * 2, lambda x: x - 1, (x,))


def test_cond_on_static_shape_is_folded():
    ep = export(CondOnShape(), [torch.rand(4, 3)])
    m = check(ep, [[torch.rand(4, 3)]], "fp32")
    assert "cond(" not in mil_ops(m)


class CountTo(torch.nn.Module):
    def forward(self, n, x):
        def cond_fn(i, x):
            return i < n.max()  # n: shape (1,) (Core ML inputs have rank >= 1)

        def body_fn(i, x):
            return i + 1, x * 0.5 + 1.0
        return while_loop(cond_fn, body_fn, (torch.zeros((), dtype=torch.int32), x))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_while_loop_input_bound(precision, tmp_path):
    ep = export(CountTo(), [torch.tensor([3], dtype=torch.int32), torch.rand(2, 3)])
    torch.manual_seed(2)
    m = check(ep, [[torch.tensor([k], dtype=torch.int32), torch.rand(2, 3)] for k in (0, 1, 5)], precision,
              apple_reader=tmp_path if precision == "fp32" else None)
    assert "while_loop(" in mil_ops(m)


class MapBatch(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 5)

    def forward(self, xs, y):
        def body(x, y):
            return torch.tanh(self.lin(x + y)), x.sum(0, keepdim=True)
        return hop_map(body, xs, y)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_map_over_batch(precision):
    ep = export(MapBatch(), [torch.rand(4, 3), torch.rand(3)])
    torch.manual_seed(3)
    check(ep, [[torch.rand(4, 3) - 0.5, torch.rand(3)]], precision)


def test_unknown_higher_order_op_names_it(monkeypatch):
    from pt2coreml import _export
    ep = export(CondTwoInputs(), [torch.rand(2, 3), torch.rand(2, 3)])
    real = _export.serialize
    monkeypatch.setattr(_export, "serialize", lambda e: real(e).replace(b"higher_order.cond", b"higher_order.scan"))
    with pytest.raises(Exception, match="higher-order op scan"):
        ct.convert(ep)


class CondOnDynamicShape(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.shape[0] > 4, lambda x: x * 2, lambda x: x - 1, (x,))


def test_cond_on_dynamic_shape_runs_at_run_time():
    from torch.export import Dim
    with torch.no_grad():
        ep = torch.export.export(CondOnDynamicShape(), (torch.rand(3, 4),),
                                 dynamic_shapes={"x": {0: Dim("b", min=2, max=9)}})
    torch.manual_seed(5)
    m = check(ep, [[torch.rand(3, 4)], [torch.rand(6, 4)]], "fp32")
    assert "cond(" in mil_ops(m)


def test_while_loop_over_dynamic_batch():
    from torch.export import Dim
    with torch.no_grad():
        ep = torch.export.export(CountTo(), (torch.tensor([3], dtype=torch.int32), torch.rand(2, 3)),
                                 dynamic_shapes={"n": None, "x": {0: Dim("b", min=1, max=9)}})
    torch.manual_seed(7)
    check(ep, [[torch.tensor([4], dtype=torch.int32), torch.rand(5, 3)],
               [torch.tensor([2], dtype=torch.int32), torch.rand(1, 3)]], "fp32")


def test_map_over_dynamic_batch(tmp_path):
    from torch.export import Dim
    torch.manual_seed(0)
    with torch.no_grad():
        ep = torch.export.export(MapBatch().eval(), (torch.rand(4, 3), torch.rand(3)),
                                 dynamic_shapes={"xs": {0: Dim("b", min=2, max=9)}, "y": None})
    torch.manual_seed(6)
    m = check(ep, [[torch.rand(2, 3), torch.rand(3)], [torch.rand(7, 3), torch.rand(3)]], "fp32", apple_reader=tmp_path)
    assert "while_loop(" in mil_ops(m)


def test_malformed_branch_fails_naming_it(monkeypatch):
    import json
    from pt2coreml import _export
    ep = export(CondTwoInputs(), [torch.rand(2, 3), torch.rand(2, 3)])
    real = _export.serialize

    def drop_output(e):
        doc = json.loads(real(e))
        for n in doc["graph_module"]["graph"]["nodes"]:
            if n["target"].endswith("higher_order.cond"):
                n["inputs"][2]["arg"]["as_graph"]["graph"]["outputs"] = []
        return json.dumps(doc).encode()
    monkeypatch.setattr(_export, "serialize", drop_output)
    with pytest.raises(Exception, match="the branch false_graph_0 returns 0 values for 1 outputs"):
        ct.convert(ep)


def test_malformed_control_flow_programs_fail_cleanly():
    """Programs with subgraphs, edited at random (export_common.mutations): each converts or fails with a Python
    exception, never a crash."""
    import random
    progs = [(export(NestedCond(), [torch.rand(2, 3), torch.rand(2, 3)]),
              [("x", "fp32", [2, 3], None), ("y", "fp32", [2, 3], None)]),
             (export(CountTo(), [torch.tensor([3], dtype=torch.int32), torch.rand(2, 3)]),
              [("n", "int32", [1], None), ("x", "fp32", [2, 3], None)]),
             (export(MapBatch(), [torch.rand(4, 3), torch.rand(3)]),
              [("xs", "fp32", [4, 3], None), ("y", "fp32", [3], None)])]
    outcomes = malformed_outcomes(progs, random.Random(1), 50)
    assert outcomes.get("ValueError", 0) > 10 and outcomes.get("converted", 0) > 10, outcomes


def test_error_inside_a_branch_names_the_users_line(monkeypatch):
    """A node of a subgraph is located at the user's torch.cond call (its stack trace's other frames are
    torch's and the generated code of the subgraph)."""
    from pt2coreml import _export
    ep = export(CondTwoInputs(), [torch.rand(2, 3), torch.rand(2, 3)])
    real = _export.serialize
    monkeypatch.setattr(_export, "serialize", lambda e: real(e).replace(b"aten.exp.default", b"aten.nope.default"))
    with pytest.raises(Exception, match=r"aten::nope.* at test_export_control\.py:\d+: return torch\.cond\(") as ei:
        ct.convert(ep)
    assert "eval_with_key" not in str(ei.value)


def test_a_while_loop_carrying_a_python_number_names_the_cause():
    """torch's serializer (torch.export.save too) cannot write a Python int carried through while_loop."""
    from torch._higher_order_ops.while_loop import while_loop

    class CountsInPython(torch.nn.Module):
        def forward(self, x):
            return while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2), (0, x))[1]

    try:
        ep = torch.export.export(CountsInPython(), (torch.ones(2),))
    except Exception as e:  # a torch that refuses it at export time
        pytest.skip(f"torch does not export it: {type(e).__name__}")
    with pytest.raises(ValueError, match=r"torch cannot serialize this exported program: .*while_loop.*"
                                         r"must carry tensors, e\.g\. torch\.tensor\(0\)"):
        ct.convert(ep)
