"""The numerical debugger (ct.debug.compare): every intermediate value of a converted model against PyTorch's,
the first op out of tolerance with its source line, the fp16 report and its FP16ComputePrecision, packages
written by coremltools, and the command line's compare."""
import inspect
import warnings

import numpy as np
import pytest
import torch

import pt2coreml as ct
from models_common import SmallConvLayers
from pt2coreml import cli, mb


class Net(SmallConvLayers):
    def forward(self, x):
        x = self.bn(self.c1(x))
        x = torch.relu(x)  # RELU LINE
        x = self.c2(x)
        x = torch.sigmoid(x) * x
        x = x.mean(dim=(2, 3))
        return self.fc(x)


class Overflow(torch.nn.Module):
    """Values past fp16's 65504 in the middle, back in range at the end."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 6)

    def forward(self, x):
        y = torch.tanh(self.fc(x)) + 2.0
        z = y * 1e3
        z = z * 1e3  # OVERFLOW LINE
        return z / 1e4


def _line(marker):
    src, first = inspect.getsourcelines(inspect.getmodule(Net))
    return next(i for i, text in enumerate(src, 1) if marker in text and "def _line" not in text)


def _traced(cls, *shape):
    """A module of class cls (seed 0, eval), a random input of that shape, and the module traced on it."""
    torch.manual_seed(0)
    m = cls().eval()
    x = torch.randn(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m, x, torch.jit.trace(m, x)


def _net():
    torch.manual_seed(0)
    m = Net().eval()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m, torch.jit.trace(m, x), x


def _wrong_relu_model(traced):
    """The model converted with a deliberately wrong relu converter (it halves its input)."""
    @ct.register_torch_op(override=True)
    def relu(context, node):
        context.add(mb.mul(x=context[node.inputs[0]], y=0.5, name=node.name))
    try:
        return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, 8, 8))],
                          compute_precision=ct.precision.FLOAT32)
    finally:
        ct.unregister_torch_op("relu")


def test_names_the_first_wrong_op_with_its_source_line(tmp_path):
    m, traced, x = _net()
    ml = _wrong_relu_model(traced)
    report = ct.debug.compare(traced, ml, {"x": x.numpy()})
    bad = report.first_bad
    assert bad is not None and bad.kind == "aten::relu" and bad.mil_type == "mul"
    assert bad.loc == f"test_debugger.py:{_line('RELU LINE')}" and bad.source.startswith("x = torch.relu(x)")
    assert bad.max_rel == pytest.approx(0.5, rel=1e-3)  # half of each (non-negative) value is missing
    # everything before it is right, and the path from the inputs ends at it with the error growing there
    before = report.ops[:bad.index]
    assert before and all(r.ok and r.max_rel < 1e-5 for r in before)
    assert report.path[-1] is bad and all(r.ok for r in report.path[:-1])
    assert report.path[0].kind == "aten::batch_norm" and report.path[0].mil_type == "conv"  # conv + bn fused
    # after it, every value differs; the output too
    assert all(not r.ok for r in report.ops[bad.index:])
    assert report.worst[0].max_rel >= report.worst[-1].max_rel and not report.worst[0].ok
    # every op's value has its MIL counterpart but the first conv's, which the conv + batch_norm fusion removed
    assert len(report.ops) == 7 and len(report.unmatched) == 1
    text = str(report)
    assert "FIRST BAD: aten::relu" in text and f"test_debugger.py:{_line('RELU LINE')}: x = torch.relu(x)" in text
    assert "x = torch.relu(x)" in report._repr_html_()
    # the torch module itself (traced by compare) and the saved package (matched by name) say the same
    assert ct.debug.compare(m, ml, (x,)).first_bad.torch_name == bad.torch_name
    ml.save(str(tmp_path / "wrong.mlpackage"))
    again = ct.debug.compare(traced, ct.models.MLModel(str(tmp_path / "wrong.mlpackage")), {"x": x})
    assert again.matched_by_name and again.first_bad.torch_name == bad.torch_name
    assert again.first_bad.max_abs == pytest.approx(bad.max_abs)


def test_a_right_conversion_is_within_tolerance():
    m, traced, x = _net()
    ml = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, 8, 8))], compute_precision=ct.precision.FLOAT32)
    report = ct.debug.compare(traced, ml, {"x": x.numpy()})
    assert report.ok and len(report.ops) == 7 and max(r.max_rel for r in report.ops) < 1e-5
    assert not report.fp16 and report.compute_precision is None
    ref = m(x).detach().numpy()
    out = ml.predict({"x": x.numpy()})
    # the captured values are the values the run computed: the output's equals predict()'s
    _, caps = ml._prog.run_capture([x.numpy()])
    assert np.array_equal(caps[next(iter(out))], out[next(iter(out))])
    np.testing.assert_allclose(out[next(iter(out))], ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(KeyError, match="no op output named"):
        ml._prog.run_capture([x.numpy()], ["no_such_value"])


def test_fp16_overflow_is_named_and_the_suggested_selector_fixes_it():
    m, x, traced = _traced(Overflow, 3, 4)
    spec = [ct.TensorType(name="x", shape=(3, 4))]
    ml = ct.convert(traced, inputs=spec)  # fp16 compute, coremltools' default
    ref = m(x).detach().numpy()
    out = next(iter(ml.predict({"x": x.numpy()}).values()))
    assert not np.all(np.isfinite(out))  # (y * 1e3) * 1e3 is past fp16's range
    report = ct.debug.compare(traced, ml, {"x": x.numpy()})
    assert report.fp16_program and report.first_bad.kind == "aten::mul"
    assert report.first_bad.loc == f"test_debugger.py:{_line('OVERFLOW LINE')}"
    kinds = {f.mil_type: f for f in report.fp16}
    assert sorted(kinds) == ["mul", "real_div"] and len(report.fp16) == 2  # the overflowing mul, and its reader
    assert "65504" in kinds["mul"].reason and kinds["mul"].max_value > 65504
    assert report.suggestion.startswith("compute_precision=ct.transform.FP16ComputePrecision(op_selector=")
    fixed = ct.convert(traced, inputs=spec, compute_precision=report.compute_precision)
    got = next(iter(fixed.predict({"x": x.numpy()}).values()))
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=1e-3)
    # exactly those ops compute in fp32; every other op that computes floats stays fp16
    for name, typ, _ins, outs, _loc, _depth in fixed._prog.ops():
        dtypes = {dt for _, (dt, _), _ in outs}
        if name in report.fp32_ops:
            assert dtypes == {"fp32"}, name
        elif typ != "cast" and dtypes & {"fp16", "fp32"}:
            assert dtypes == {"fp16"}, (name, typ)
    after = ct.debug.compare(traced, fixed, {"x": x.numpy()})
    assert after.ok and not after.fp16


class Norm3(torch.nn.Module):
    def forward(self, x):
        return torch.linalg.vector_norm(x * 50.0, ord=3, dim=1) / 10  # NORM LINE


def test_fp16_overflow_inside_one_torch_op_is_found_in_its_mil_ops():
    """The ord-3 norm lowers to abs, pow, reduce_sum, pow: the sum of cubes leaves fp16's range although the norm
    does not. PyTorch has no such value; the program's fp32 copy (fp32_compute) does."""
    m, x, traced = _traced(Norm3, 2, 8)
    spec = [ct.TensorType(name="x", shape=(2, 8))]
    ml = ct.convert(traced, inputs=spec)
    report = ct.debug.compare(traced, ml, {"x": x.numpy()})
    assert report.first_bad.kind == "aten::linalg_vector_norm"
    assert {(f.mil_type, f.reason.split()[0]) for f in report.fp16} == {("pow", "|x|"), ("reduce_sum", "|x|"),
                                                                        ("pow", "reads")}
    inner = next(f for f in report.fp16 if f.mil_type == "reduce_sum")
    assert inner.torch_name is None and inner.where == f"aten::linalg_vector_norm at test_debugger.py:{_line('NORM LINE')}"
    fixed = ct.convert(traced, inputs=spec, compute_precision=report.compute_precision)
    got = next(iter(fixed.predict({"x": x.numpy()}).values()))
    np.testing.assert_allclose(got, m(x).numpy(), rtol=2e-3)


def test_fp16_compute_precision_is_coremltools_op_selector():
    m, x, traced = _traced(Overflow, 3, 4)
    seen = []

    def keep_linear_fp32(op):
        seen.append(op)
        return op.op_type != "linear"

    ml = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(3, 4))],
                    compute_precision=ct.transform.FP16ComputePrecision(op_selector=keep_linear_fp32))
    lin = next(op for op in seen if op.op_type == "linear")
    assert lin.inputs["x"].dtype == "fp16" and lin.inputs["weight"].shape == (6, 4)
    assert [o.name for o in lin.outputs] == [lin.name] and lin.outputs[0].shape == (3, 6)
    row = next(r for r in ml._prog.ops() if r[1] == "linear")
    assert row[0] == lin.name and row[3][0][1][0] == "fp32"  # its name as the program keeps it, computed in fp32
    assert all(r[3][0][1][0] == "fp16" for r in ml._prog.ops() if r[1] in ("tanh", "add"))
    # the linear reads the fp32 input itself, not its fp16 cast
    assert ct.debug.compare(traced, ml, {"x": x.numpy()}).ops[0].max_rel < 1e-6
    with pytest.raises(TypeError, match="op_selector"):
        ct.transform.FP16ComputePrecision(op_selector=3)
    with pytest.raises(ValueError, match="op_selector failed on op") as info:
        ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(3, 4))],
                   compute_precision=ct.transform.FP16ComputePrecision(op_selector=lambda op: 1 / 0))
    assert isinstance(info.value.__context__, ZeroDivisionError)


def test_a_package_written_by_coremltools(tmp_path):
    coremltools = pytest.importorskip("coremltools")
    m, traced, x = _net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cml = coremltools.convert(traced, inputs=[coremltools.TensorType(name="x", shape=(1, 3, 8, 8))],
                                      convert_to="mlprogram", skip_model_load=True)
        except Exception as exc:  # pragma: no cover - a coremltools that cannot convert here
            pytest.skip(f"coremltools cannot convert on this machine: {exc}")
    path = str(tmp_path / "cml.mlpackage")
    cml.save(path)
    report = ct.debug.compare(traced, ct.models.MLModel(path), {"x": x.numpy()})
    assert report.matched_by_name and report.fp16_program and report.ok, str(report)
    # coremltools names values after TorchScript's (input.3 -> input_3_cast_fp16): the convs, relu, silu, mean
    assert {r.kind for r in report.ops} >= {"aten::batch_norm", "aten::relu", "aten::_convolution", "aten::mean"}
    relu = next(r for r in report.ops if r.kind == "aten::relu")
    assert relu.mil_type == "relu" and 0 < relu.max_rel < 1e-2 and relu.loc.endswith(f":{_line('RELU LINE')}")

    # an overflowing fp16 package of coremltools: the ops named as coremltools' op selector sees them, so that
    # coremltools converts with the suggested FP16ComputePrecision into a package that matches PyTorch here
    m, x, traced = _traced(Overflow, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = dict(inputs=[coremltools.TensorType(name="x", shape=(3, 4))], convert_to="mlprogram", skip_model_load=True)
        coremltools.convert(traced, **kw).save(str(tmp_path / "over.mlpackage"))
        report = ct.debug.compare(traced, ct.models.MLModel(str(tmp_path / "over.mlpackage")), {"x": x.numpy()})
        assert report.first_bad.loc.endswith(f":{_line('OVERFLOW LINE')}") and len(report.fp16) == 2, str(report)
        assert not any(name.endswith("_cast_fp16") for name in report.fp32_ops)
        fixed = coremltools.convert(traced, compute_precision=coremltools.transform.FP16ComputePrecision(
            op_selector=report.op_selector), **kw)
    fixed.save(str(tmp_path / "fixed.mlpackage"))
    got = next(iter(ct.models.MLModel(str(tmp_path / "fixed.mlpackage")).predict({"x": x.numpy()}).values()))
    np.testing.assert_allclose(got, m(x).detach().numpy(), rtol=2e-3, atol=1e-3)


def test_cli_compare_prints_the_debugger_report(tmp_path, capsys):
    m, traced, x = _net()
    pt = tmp_path / "net.pt"
    traced.save(str(pt))
    pkg = tmp_path / "wrong.mlpackage"
    _wrong_relu_model(torch.jit.load(str(pt))).save(str(pkg))  # the file is what the command line converts
    code = cli.main(["compare", str(pt), str(pkg)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("output ")  # the outputs' table first, then the report
    # a saved TorchScript file's source lines are its serialized code
    assert "FIRST BAD: aten::relu" in out and "torch.relu(" in out.split("FIRST BAD")[1].splitlines()[1]
    code = cli.main(["compare", str(pt), str(pkg), "--outputs-only"])
    assert code == 0 and "FIRST BAD" not in capsys.readouterr().out


def test_image_inputs_reach_pytorch_preprocessed():
    class Cnn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.relu(self.conv(x)).mean((2, 3))

    torch.manual_seed(0)
    m = Cnn().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(m, torch.rand(1, 3, 8, 8))
    ml = ct.convert(traced, inputs=[ct.ImageType(name="img", shape=(1, 3, 8, 8), scale=1 / 255, bias=[-0.5, 0, 0.5])],
                    compute_precision=ct.precision.FLOAT32)
    pixels = np.random.default_rng(0).integers(0, 256, (1, 3, 8, 8)).astype(np.float32)
    report = ct.debug.compare(traced, ml, {"img": pixels})
    assert report.ok and [r.kind for r in report.ops] == ["aten::_convolution", "aten::relu", "aten::mean"]
    assert max(r.max_rel for r in report.ops) < 1e-5


def test_fp32_compute_pass_computes_an_fp16_program_in_fp32():
    from pt2coreml import _core
    p = _core.parse(
        "program(CoreML6)\n"
        "func main(%x: fp16[2], %i: int32[2]) {\n"
        "  %dt: string[] = const(val=\"fp16\")\n"
        "  %f: fp16[2] = cast(x=%i, dtype=%dt)\n"
        "  %k: fp16[] = const(val=300)\n"
        "  %a: fp16[2] = mul(x=%x, y=%k)\n"
        "  %b: fp16[2] = mul(x=%a, y=%k)\n"
        "  %c: fp16[2] = add(x=%b, y=%f)\n"
        "} -> (%c)\n")
    x, i = np.array([1.0, -2.0], np.float16), np.array([3, 4], np.int32)
    assert not np.all(np.isfinite(p.run([x, i])[0]))  # 90000 is past fp16's range
    p.run_pass("fp32_compute")
    p.check()
    p.run_pass("reinfer")
    text = p.text()
    assert "fp16[2] = " not in text.split("{", 1)[1] and "%c: fp32[2] = add" in text  # names and order kept
    np.testing.assert_array_equal(p.run([x, i])[0], np.array([90003.0, 180004.0], np.float32) * [1, -1] +
                                  np.array([0, 8], np.float32))
