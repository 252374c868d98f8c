"""Custom ops that write their arguments in place (torch.library's mutates_args, `Tensor(a!)`): the converter
gives each written input's new value with context.add(value, torch_name=name) (node.written lists them), and
the model's later reads of that tensor, or of the tensor it is a slice of, see it. The same converter serves
TorchScript, torch.export as exported (the op called directly) and after run_decompositions()
(auto_functionalized_v2, and v1 as torch before 2.6 wrote it), live and from a .pt2. Each conversion runs in
our runtime against PyTorch, and coremltools reads each package."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import pt2coreml as ct
from pt2coreml import mb, register_torch_op
from parity import TORCH_MAJOR, coremltools_check

if TORCH_MAJOR < 2 or not hasattr(torch.library, "custom_op"):
    pytest.skip("torch.library.custom_op needs torch >= 2.4", allow_module_level=True)

TOL = {"fp32": 1e-5, "fp16": 1e-2}
PREC = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}


@torch.library.custom_op("pt2coreml_mut::scale_into", mutates_args=("out",))
def scale_into(x: torch.Tensor, out: torch.Tensor, k: float) -> torch.Tensor:
    out.copy_(x * k)
    return x + 1


@scale_into.register_fake
def _(x, out, k):
    return torch.empty_like(x)


@torch.library.custom_op("pt2coreml_mut::bump", mutates_args=("a", "b"))
def bump(a: torch.Tensor, b: torch.Tensor, step: float = 1.0) -> None:
    """Writes both arguments, returns nothing: a += step; b = b * a."""
    a.add_(step)
    b.mul_(a)


@register_torch_op(torch_alias=["pt2coreml_mut::scale_into"])
def _scale_into(context, node):
    assert node.written == [node.inputs[1]]
    x, k = context[node.inputs[0]], context[node.inputs[2]]
    context.add(mb.mul(x=x, y=float(k)), torch_name=node.inputs[1])
    context.add(mb.add(x=x, y=1.0), torch_name=node.outputs[0])


@register_torch_op(torch_alias=["pt2coreml_mut::bump"])
def _bump(context, node):
    a, b, step = (context[n] for n in node.inputs[:3])
    a = mb.add(x=a, y=float(step))
    context.add(a, torch_name=node.inputs[0])
    context.add(mb.mul(x=b, y=a), torch_name=node.inputs[1])


class IntoSlice(torch.nn.Module):
    """The op writes a slice of a tensor the model made: the whole tensor is read afterwards."""

    def forward(self, x):
        buf = torch.zeros(2, 5)
        r = scale_into(x, buf[:, 1:4], 3.0)
        return r * 2, buf + 1


class Whole(torch.nn.Module):
    """Two written arguments, no result; the second is a slice of the first's copy's sibling."""

    def forward(self, x):
        a = x * 1.5
        b = torch.ones(2, 6)
        bump(a, b[:, 2:5], 0.5)
        return a - 1, b


class SharedBase(torch.nn.Module):
    """Two written arguments that are slices of one tensor."""

    def forward(self, x):
        buf = torch.ones(2, 8)
        bump(buf[:, 0:3], buf[:, 4:7], 2.0)
        return buf * x


MODELS = [(IntoSlice, (2, 3)), (Whole, (2, 3)), (SharedBase, (2, 1))]


def _check(ml, model, x, prec, tmp_path):
    want = model(torch.from_numpy(x.copy()))  # a model may write its input
    want = [t.detach().numpy() for t in (want if isinstance(want, tuple) else (want,))]
    got = list(ml.predict({ml._desc["inputs"][0]["name"]: x}).values())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=TOL[prec], atol=TOL[prec])
    path = str(tmp_path / f"m_{prec}.mlpackage")
    ml.save(path)
    coremltools_check(path)


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _export(model, x, form):
    if form == "v1":
        cfg = torch._export.config
        saved = cfg.enable_auto_functionalized_v2_for_export
        cfg.enable_auto_functionalized_v2_for_export = False
        try:
            return torch.export.export(model, (torch.from_numpy(x),)).run_decompositions({})
        finally:
            cfg.enable_auto_functionalized_v2_for_export = saved
    ep = torch.export.export(model, (torch.from_numpy(x),))
    return ep.run_decompositions({}) if form == "v2" else ep


def _hops(ep):
    return {str(n.target) for n in ep.graph.nodes if "auto_functionalized" in str(n.target)}


@pytest.mark.parametrize("prec", ["fp32", "fp16"])
@pytest.mark.parametrize("model,shape", MODELS, ids=[m.__name__ for m, _ in MODELS])
def test_torchscript(model, shape, prec, tmp_path):
    x = _x(shape)
    m = model().eval()
    tm = torch.jit.trace(m, (torch.from_numpy(x),), check_trace=False)
    ml = ct.convert(tm, inputs=[ct.TensorType(name="x", shape=shape)], compute_precision=PREC[prec])
    _check(ml, m, x, prec, tmp_path)


@pytest.mark.parametrize("prec", ["fp32", "fp16"])
@pytest.mark.parametrize("form", ["exported", "v2", "v1"])
@pytest.mark.parametrize("model,shape", MODELS, ids=[m.__name__ for m, _ in MODELS])
def test_export(model, shape, form, prec, tmp_path):
    x = _x(shape, 1)
    m = model().eval()
    ep = _export(m, x, form)
    want_hop = {"exported": set(), "v2": {"auto_functionalized_v2"}, "v1": {"auto_functionalized"}}[form]
    assert _hops(ep) == want_hop
    _check(ct.convert(ep, compute_precision=PREC[prec]), m, x, prec, tmp_path)


def test_scripted_custom_op_writing_its_input(tmp_path):
    class Scripted(torch.nn.Module):
        def forward(self, x):
            buf = torch.zeros(2, 5)
            r = torch.ops.pt2coreml_mut.scale_into(x, buf[:, 1:4], 2.0)
            return r, buf

    x = _x((2, 3), 2)
    m = Scripted().eval()
    ml = ct.convert(torch.jit.script(m), inputs=[ct.TensorType(name="x", shape=(2, 3))],
                    compute_precision=ct.precision.FLOAT32)
    _check(ml, m, x, "fp32", tmp_path)


def test_a_converter_that_does_not_write_is_named():
    @register_torch_op(torch_alias=["pt2coreml_mut::scale_into"], override=True)
    def _forgets(context, node):
        context.add(mb.add(x=context[node.inputs[0]], y=1.0))

    try:
        x = _x((2, 3))
        ep = _export(IntoSlice().eval(), x, "v2")
        for model in (ep, torch.jit.trace(IntoSlice().eval(), (torch.from_numpy(x),), check_trace=False)):
            with pytest.raises(Exception, match=r"pt2coreml_mut::scale_into.*writes its input 1 .*"
                                                r"context.add\(new_value, torch_name=node.inputs\[1\]\)"):
                ct.convert(model, inputs=[ct.TensorType(name="x", shape=(2, 3))])
    finally:
        register_torch_op(torch_alias=["pt2coreml_mut::scale_into"], override=True)(_scale_into)


def test_writing_an_input_the_op_does_not_write_is_refused():
    @register_torch_op(torch_alias=["pt2coreml_mut::scale_into"], override=True)
    def _writes_x(context, node):
        context.add(mb.add(x=context[node.inputs[0]], y=1.0), torch_name=node.outputs[0])
        context.add(context[node.inputs[1]], torch_name=node.inputs[1])
        context.add(context[node.inputs[0]], torch_name=node.inputs[0])

    try:
        ep = _export(IntoSlice().eval(), _x((2, 3)), "exported")
        with pytest.raises(Exception, match=r"'x' is not an output .* the inputs it writes are \['slice_1'\]"):
            ct.convert(ep)
    finally:
        register_torch_op(torch_alias=["pt2coreml_mut::scale_into"], override=True)(_scale_into)


@pytest.mark.parametrize("form", ["exported", "v2"])
def test_pt2_with_the_op_registered_matches_the_live_program(form, tmp_path):
    x = _x((2, 3), 3)
    m = IntoSlice().eval()
    ep = _export(m, x, form)
    path = str(tmp_path / "m.pt2")
    torch.export.save(ep, path)
    a, b = str(tmp_path / "live.mlpackage"), str(tmp_path / "file.mlpackage")
    ct.convert(ep).save(a)
    ml = ct.convert(path)
    ml.save(b)
    _check(ml, m, x, "fp16", tmp_path)
    assert _files(a) == _files(b)


def _files(package):
    out = {}
    for d, _, names in os.walk(os.path.join(package, "Data")):
        for f in names:
            with open(os.path.join(d, f), "rb") as fh:
                out[os.path.relpath(os.path.join(d, f), package)] = fh.read()
    assert "Data/com.apple.CoreML/model.mlmodel" in out
    return out


def test_pt2_without_torch_names_the_op_whose_schema_it_lacks(tmp_path):
    """A torch-free process has no schema of the op: auto_functionalized cannot place what it writes."""
    path = str(tmp_path / "m.pt2")
    torch.export.save(_export(IntoSlice().eval(), _x((2, 3)), "v2"), path)
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # import torch raises
        import pt2coreml as ct
        try:
            ct.convert({path!r})
        except Exception as e:
            print(type(e).__name__, e)
        """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "pt2coreml_mut::scale_into.default writes its arguments" in out.stdout, out.stdout + out.stderr
    assert "import the module that defines it" in out.stdout


@torch.library.custom_op("pt2coreml_mut::accumulate", mutates_args=("acc",))
def accumulate(acc: torch.Tensor, x: torch.Tensor) -> None:
    acc.add_(x)


@register_torch_op(torch_alias=["pt2coreml_mut::accumulate"])
def _accumulate(context, node):
    context.add(mb.add(x=context[node.inputs[0]], y=context[node.inputs[1]]), torch_name=node.inputs[0])


class CustomAccumulator(torch.nn.Module):
    """A state written by a custom op (its row 1:3 only), read after the write."""

    def __init__(self):
        super().__init__()
        self.register_buffer("acc", torch.zeros(2, 3))

    def forward(self, x):
        accumulate(self.acc[1:2], x)
        return self.acc * 2


@pytest.mark.parametrize("form", ["torchscript", "exported", "v2"])
def test_a_state_written_by_a_custom_op(form):
    """states= (iOS18): the op's write of the buffer is the state's update, step after step."""
    from test_stateful import IOS18, _run_steps, state
    m = CustomAccumulator().eval()
    x0 = torch.ones(1, 3)
    if form == "torchscript":
        import copy
        model = torch.jit.trace(copy.deepcopy(m), (x0,), check_trace=False)
    else:
        import copy
        model = torch.export.export(copy.deepcopy(m), (x0,))
        model = model.run_decompositions({}) if form == "v2" else model
    ml = ct.convert(model, inputs=[ct.TensorType(name="x", shape=(1, 3))], states=[state("acc", (2, 3))],
                    minimum_deployment_target=IOS18, compute_precision=ct.precision.FLOAT32)
    rng = np.random.default_rng(4)
    steps = []
    for _ in range(4):
        x = rng.standard_normal((1, 3)).astype(np.float32)
        steps.append(({"x": x}, (torch.from_numpy(x),)))
    _run_steps(ml, m, steps, 2e-3)


def test_an_undeclared_buffer_written_by_a_custom_op_is_refused():
    ep = torch.export.export(CustomAccumulator().eval(), (torch.ones(1, 3),))
    with pytest.raises(ValueError, match=r"buffer 'acc' in place.*shape=\(2, 3\)"):
        ct.convert(ep)


def test_out_variants_in_scripted_code_write_their_out_argument(tmp_path):
    """torch.add(x, y, out=c) scripted is aten::add.out: its keyword-only `out` (Tensor(a!)) holds the result,
    and c read afterwards is it (it used to keep its old value)."""

    class Out(torch.nn.Module):
        def forward(self, x, y):
            c = torch.zeros(2, 3)
            torch.add(x, y, out=c)
            d = torch.empty(2, 3)
            torch.mul(c, 2.0, out=d)
            return c + d

    m = Out().eval()
    x, y = _x((2, 3), 5), _x((2, 3), 6)
    ml = ct.convert(torch.jit.script(m), inputs=[ct.TensorType(name="x", shape=(2, 3)),
                                                 ct.TensorType(name="y", shape=(2, 3))],
                    compute_precision=ct.precision.FLOAT32)
    got = list(ml.predict({"x": x, "y": y}).values())[0]
    np.testing.assert_allclose(got, m(torch.from_numpy(x), torch.from_numpy(y)).numpy(), rtol=1e-5, atol=1e-5)
    path = str(tmp_path / "out.mlpackage")
    ml.save(path)
    coremltools_check(path)


@pytest.mark.parametrize("form", ["exported", "v2"])
def test_a_program_writing_its_input_warns_and_its_outputs_see_the_write(form, tmp_path):
    class WritesInput(torch.nn.Module):
        def forward(self, x):
            x.add_(1.0)
            buf = torch.zeros(2, 3)
            r = scale_into(x, buf, 2.0)
            return x * 2, r + buf

    x = _x((2, 3), 7)
    ep = _export(WritesInput().eval(), x, form)
    if form == "v2":
        with pytest.warns(UserWarning, match="writes its input.*x in place"):
            ml = ct.convert(ep, compute_precision=ct.precision.FLOAT32)
    else:
        ml = ct.convert(ep, compute_precision=ct.precision.FLOAT32)
    _check(ml, WritesInput().eval(), x, "fp32", tmp_path)


@torch.library.custom_op("pt2coreml_mut::unconverted", mutates_args=())
def unconverted(x: torch.Tensor) -> torch.Tensor:
    return x * 3


@unconverted.register_fake
def _(x):
    return torch.empty_like(x)


def test_an_op_without_converter_is_named_in_the_exported_programs_words():
    class M(torch.nn.Module):
        def forward(self, x):
            return unconverted(x) + 1

    ep = torch.export.export(M().eval(), (torch.ones(2, 3),))
    with pytest.raises(ct.ConversionError, match=r"^1 op cannot be converted:\n  pt2coreml_mut::unconverted "
                                                 r"\(1 use, first at test_mutating_ops.py:\d+: return unconverted"):
        ct.convert(ep)


_LIB = torch.library.Library("pt2coreml_mut2", "DEF")  # kept alive: the op lives as long as the library
_LIB.define("scale_(Tensor(a!) self, float k) -> Tensor(a!)")
_LIB.impl("scale_", lambda self, k: self.mul_(k), "CompositeExplicitAutograd")


@torch.library.register_fake("pt2coreml_mut2::scale_")
def _(self, k):
    return self


@register_torch_op(torch_alias=["pt2coreml_mut2::scale_"])
def _scale_(context, node):
    y = mb.mul(x=context[node.inputs[0]], y=float(context[node.inputs[1]]))
    context.add(y, torch_name=node.inputs[0])
    context.add(y, torch_name=node.outputs[0])


class InPlaceAlias(torch.nn.Module):
    """An in-place custom op returning the tensor it writes (Tensor(a!) -> Tensor(a!)), on a slice."""

    def forward(self, x):
        buf = x + 1
        r = torch.ops.pt2coreml_mut2.scale_(buf[:, 1:3], 3.0)
        return r * 2, buf


@pytest.mark.parametrize("form", ["torchscript", "exported"])
def test_an_in_place_custom_op_returning_what_it_writes(form, tmp_path):
    """(torch cannot functionalize an op whose output aliases an input: run_decompositions() refuses it.)"""
    x = _x((2, 4), 8)
    m = InPlaceAlias().eval()
    if form == "torchscript":
        model = torch.jit.trace(m, (torch.from_numpy(x.copy()),), check_trace=False)
    else:
        model = torch.export.export(m, (torch.from_numpy(x.copy()),))
    ml = ct.convert(model, inputs=[ct.TensorType(name="x", shape=(2, 4))], compute_precision=ct.precision.FLOAT32)
    _check(ml, m, x, "fp32", tmp_path)


@torch.library.custom_op("pt2coreml_mut::add_to_all", mutates_args=("xs",))
def add_to_all(xs: list[torch.Tensor], y: torch.Tensor) -> None:
    for x in xs:
        x.add_(y)


@register_torch_op(torch_alias=["pt2coreml_mut::add_to_all"])
def _add_to_all(context, node):
    xs, y = context[node.inputs[0]], context[node.inputs[1]]
    assert node.written == [node.inputs[0]] and isinstance(xs, list)
    context.add([mb.add(x=x, y=y) for x in xs], torch_name=node.inputs[0])


class WritesAList(torch.nn.Module):
    """A custom op writing a list of tensors: a whole tensor, and two slices of one buffer. (TorchScript drops
    such a call, traced or scripted: its alias analysis does not see the write of a list's tensors.)"""

    def forward(self, x):
        a = x * 2
        buf = torch.zeros(2, 6)
        add_to_all([a, buf[:, 0:3], buf[:, 3:6]], x)
        return a, buf


@pytest.mark.parametrize("form", ["exported", "v2"])
def test_a_custom_op_writing_a_list_of_tensors(form, tmp_path):
    x = _x((2, 3), 9)
    m = WritesAList().eval()
    model = _export(m, x.copy(), form)
    ml = ct.convert(model, inputs=[ct.TensorType(name="x", shape=(2, 3))], compute_precision=ct.precision.FLOAT32)
    _check(ml, m, x, "fp32", tmp_path)
