"""A package's model description must say what its program takes and returns.

Core ML feeds inputs and reads outputs through the description; a package whose
description renames, retypes or drops an input/output (or whose main block
returns another value) is refused at load with the feature, the description's
words and the program's type named. Everything coremltools writes still loads:
packages made with its MIL builder and torch frontend (flexible shapes, image
inputs, fp16 I/O, classifiers, scalar outputs) are read and run here."""
import functools
import os
import shutil
import warnings

import numpy as np
import pytest

import _ser_models as M
import pt2coreml
from pt2coreml import _core


def _save(mm, name):
    path = M.fresh(name + ".mlpackage")
    mm.save(path)
    return path


@functools.lru_cache(maxsize=None)
def built(kind):
    """A coremltools-made package of the given kind: (path, {input: example array})."""
    import torch

    c = M.ct()
    from coremltools.converters.mil import Builder as mb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "mb_two_io":  # two inputs, two outputs, built with the MIL builder
            @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3)), mb.TensorSpec(shape=(2, 3))])
            def prog(a, b):
                return mb.add(x=a, y=b, name="s"), mb.relu(x=mb.sub(x=a, y=b), name="d")
            mm = c.convert(prog, convert_to="mlprogram", skip_model_load=True,
                           compute_precision=c.precision.FLOAT32)
            ex = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones((2, 3), np.float32)}
        elif kind == "mb_int":  # an int32 input and a scalar output
            @mb.program(input_specs=[mb.TensorSpec(shape=(4,), dtype=c.converters.mil.mil.types.int32)])
            def prog(i):
                return mb.reduce_sum(x=i, axes=[0], keep_dims=False, name="total")
            mm = c.convert(prog, convert_to="mlprogram", skip_model_load=True)
            ex = {"i": np.array([1, 2, 3, 4], np.int32)}
        else:
            class Net(torch.nn.Module):
                def forward(self, x):
                    return torch.relu(x) * 2 - 1

            t = torch.jit.trace(Net().eval(), torch.rand(1, 3, 4, 4))
            kw = dict(convert_to="mlprogram", skip_model_load=True)
            ex = {"x": np.random.default_rng(0).random((1, 3, 4, 4), dtype=np.float32)}
            if kind == "fp16_io":
                kw.update(minimum_deployment_target=c.target.iOS16,
                          inputs=[c.TensorType(name="x", shape=(1, 3, 4, 4), dtype=np.float16)],
                          outputs=[c.TensorType(name="y", dtype=np.float16)])
                ex = {"x": ex["x"].astype(np.float16)}
            elif kind == "range":
                kw.update(inputs=[c.TensorType(name="x", shape=(1, 3, c.RangeDim(2, 16, default=4), c.RangeDim(2, 16)))])
            elif kind == "enumerated":
                kw.update(inputs=[c.TensorType(name="x", shape=c.EnumeratedShapes(
                    shapes=[(1, 3, 4, 4), (1, 3, 8, 8)], default=(1, 3, 4, 4)))])
            elif kind == "enumerated18":
                kw.update(minimum_deployment_target=c.target.iOS18, inputs=[c.TensorType(
                    name="x", shape=c.EnumeratedShapes(shapes=[(1, 3, 4, 4), (1, 3, 8, 8)], default=(1, 3, 4, 4)))])
                ex = {"x": ex["x"].astype(np.float16)}
            elif kind == "image_range":
                kw.update(inputs=[c.ImageType(name="x", shape=(1, 3, c.RangeDim(2, 16, default=4),
                                                               c.RangeDim(2, 16, default=4)))])
            elif kind == "gray":
                t = torch.jit.trace(Net().eval(), torch.rand(1, 1, 4, 4))
                kw.update(inputs=[c.ImageType(name="x", shape=(1, 1, 4, 4), color_layout=c.colorlayout.GRAYSCALE)])
                ex = {"x": ex["x"][:, :1]}
            elif kind == "optional_default":  # an optional input with a default value, at iOS16
                class Add(torch.nn.Module):
                    def forward(self, x, y):
                        return x + y

                t = torch.jit.trace(Add().eval(), (torch.rand(2, 3), torch.rand(2, 3)))
                kw.update(minimum_deployment_target=c.target.iOS16,
                          inputs=[c.TensorType(name="x", shape=(2, 3)),
                                  c.TensorType(name="y", shape=(2, 3), default_value=np.full((2, 3), 0.5, np.float32))])
                ex = {"x": np.ones((2, 3), np.float16), "y": np.ones((2, 3), np.float32)}
            elif kind == "classifier":
                class Cls(torch.nn.Module):
                    def forward(self, x):
                        return torch.softmax(x.flatten(1)[:, :3], dim=1)

                t = torch.jit.trace(Cls().eval(), torch.rand(1, 3, 4, 4))
                kw.update(inputs=[c.TensorType(name="x", shape=(1, 3, 4, 4))],
                          classifier_config=c.ClassifierConfig(["cat", "dog", "eel"]))
            else:
                raise KeyError(kind)
            mm = c.convert(t, **kw)
    return _save(mm, kind), ex


KINDS = ["mb_two_io", "mb_int", "fp16_io", "range", "enumerated", "enumerated18", "image_range", "gray",
         "optional_default", "classifier"]


@pytest.mark.parametrize("kind", KINDS)
def test_coremltools_packages_still_load_and_run(kind):
    path, ex = built(kind)
    m = pt2coreml.models.MLModel(path)
    spec = M.spec_of(path)
    assert [f["name"] for f in m._desc["outputs"]] == [o.name for o in spec.description.output]
    ins = {}
    for name, arr in ex.items():
        feat = next(f for f in m._desc["inputs"] if f["name"] == name)
        ins[name] = arr.astype(np.float32) if feat["kind"] == "image" else arr
    out = m.predict(ins)
    assert set(out) == {o.name for o in spec.description.output}


# ---- tampered descriptions ----

def _tampered(kind, edit, name):
    src, _ = built(kind)
    path = M.fresh(name + ".mlpackage")
    shutil.copytree(src, path)
    spec = M.spec_of(path)
    edit(spec)
    with open(os.path.join(path, "Data", "com.apple.CoreML", "model.mlmodel"), "wb") as f:
        f.write(spec.SerializeToString())
    return path


def _refused(path, *fragments):
    with pytest.raises(ValueError) as ei:
        pt2coreml.models.MLModel(path)
    msg = str(ei.value)
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


def _main_block(spec):
    fn = spec.mlProgram.functions["main"]
    return fn.block_specializations[fn.opset]


def _array_type(code_name):
    return getattr(M.ct().proto.FeatureTypes_pb2.ArrayFeatureType, code_name)


def _rename_input(spec):
    spec.description.input[1].name = "bee"


def _retype_input(spec):
    spec.description.input[0].type.multiArrayType.dataType = _array_type("INT32")


def _reshape_input(spec):
    spec.description.input[0].type.multiArrayType.shape[1] = 5


def _flexible_fixed_input(spec):
    arr = spec.description.input[0].type.multiArrayType
    for lo, up in ((2, 2), (1, 8)):
        r = arr.shapeRange.sizeRanges.add()
        r.lowerBound, r.upperBound = lo, up


def _drop_input(spec):
    del spec.description.input[1]


def _rename_output(spec):
    spec.description.output[0].name = "sum"


def _retype_output(spec):
    spec.description.output[1].type.multiArrayType.dataType = _array_type("FLOAT16")


def _drop_output(spec):
    del spec.description.output[0]


TAMPERED = {  # edit of the description of a two-input, two-output program -> what the error names
    "renamed_input": (_rename_input, ["input 'bee'", "not one the program's main function takes", "'a', 'b'"]),
    "retyped_input": (_retype_input, ["input 'a'", "description says int32 array [2,3]", "takes fp32[2,3]"]),
    "reshaped_input": (_reshape_input, ["input 'a'", "fp32 array [2,5]", "takes fp32[2,3]"]),
    "flexible_fixed_input": (_flexible_fixed_input, ["input 'a'", "[2,1..8]", "takes fp32[2,3]"]),
    "dropped_input": (_drop_input, ["takes input 'b' (fp32[2,3]), which the model description does not list"]),
    "renamed_output": (_rename_output, ["output 'sum'", "not one the program's main function returns", "'s', 'd'"]),
    "retyped_output": (_retype_output, ["output 'd'", "description says fp16 array [2,3]", "returns fp32[2,3]"]),
    "dropped_output": (_drop_output, ["returns output 's' (fp32[2,3]), which the model description does not list"]),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_description_is_refused(case):
    edit, fragments = TAMPERED[case]
    _refused(_tampered("mb_two_io", edit, case), *fragments)


def test_main_block_returning_another_value_is_refused():
    """The main block returns the fp16 value the final cast reads instead of the described output."""
    def edit(spec):
        blk = _main_block(spec)
        cast = next(op for op in blk.operations if op.outputs[0].name == blk.outputs[0])
        blk.outputs[0] = cast.inputs["x"].arguments[0].name
    p = _tampered("range", edit, "other_value")
    spec = M.spec_of(p)
    inner, described = _main_block(spec).outputs[0], spec.description.output[0].name
    assert inner.endswith("_cast_fp16") and described != inner
    _refused(p, f"output '{described}'", "is not one the program's main function returns", f"it returns '{inner}'")


def test_output_retyped_behind_its_name_is_refused():
    """Same name, but the block output is the fp16 value: the dtype differs from the description's fp32."""
    src, _ = built("range")
    path = M.fresh("other_value_named.mlpackage")
    shutil.copytree(src, path)
    spec = M.spec_of(path)
    blk = _main_block(spec)
    name = blk.outputs[0]
    cast = next(op for op in blk.operations if op.outputs[0].name == name)
    inner = cast.inputs["x"].arguments[0].name
    for op in blk.operations:  # swap the two names throughout
        for o in op.outputs:
            o.name = {name: inner, inner: name}.get(o.name, o.name)
        for arg in op.inputs.values():
            for b in arg.arguments:
                if b.WhichOneof("binding") == "name":
                    b.name = {name: inner, inner: name}.get(b.name, b.name)
    with open(os.path.join(path, "Data", "com.apple.CoreML", "model.mlmodel"), "wb") as f:
        f.write(spec.SerializeToString())
    _refused(path, f"output '{name}'", "description says fp32 array", "returns fp16[")


def test_image_input_with_wrong_channels_is_refused():
    def edit(spec):
        spec.description.input[0].type.imageType.colorSpace = M.ct().proto.FeatureTypes_pb2.ImageFeatureType.GRAYSCALE
    p = _tampered("image_range", edit, "image_gray")
    _refused(p, "input 'x'", "GRAYSCALE image", "takes fp32[1,3,")


def test_classifier_label_retyped_is_refused():
    def edit(spec):
        spec.description.output[0].type.int64Type.SetInParent()
    src, _ = built("classifier")
    spec = M.spec_of(src)
    label = spec.description.predictedFeatureName
    assert spec.description.output[0].name == label
    p = _tampered("classifier", edit, "classifier_int_label")
    _refused(p, f"output '{label}'", "description says int64", "returns string")


def test_classifier_names_must_be_outputs():
    def edit(spec):
        spec.description.predictedProbabilitiesName = "nope"
    p = _tampered("classifier", edit, "classifier_probs_name")
    _refused(p, "predictedProbabilitiesName 'nope' is not one of its outputs")


def test_set_description_checks_a_program_against_a_description():
    """The C entry point for descriptions made in Python checks the same way."""
    path, _ = built("mb_two_io")
    prog, desc = _core.load(path)
    desc["outputs"][0]["dtype"] = "int32"
    with pytest.raises(ValueError, match=r"output 's': the model description says int32 array \[2,3\], but the "
                                         r"program's main function returns fp32\[2,3\]"):
        prog.set_description(desc)


def test_fp16_input_needs_ios16(tmp_path):
    """Before iOS16 the description cannot say fp16, so an fp16 program input would not be the described one."""
    import torch

    class Twice(torch.nn.Module):
        def forward(self, x):
            return x * 2

    tr = torch.jit.trace(Twice().eval(), torch.rand(2, 3))
    with pytest.raises(ValueError, match=r"inputs\[0\] \(x\): fp16 inputs need minimum_deployment_target=ct.target.iOS16"):
        pt2coreml.convert(tr, inputs=[pt2coreml.TensorType(name="x", shape=(2, 3), dtype=np.float16)])
    m = pt2coreml.convert(tr, inputs=[pt2coreml.TensorType(name="x", shape=(2, 3), dtype=np.float16)],
                          minimum_deployment_target=pt2coreml.target.iOS16)
    path = str(tmp_path / "h.mlpackage")
    m.save(path)
    loaded = pt2coreml.models.MLModel(path)
    assert loaded._desc["inputs"][0]["dtype"] == "fp16"
    x = np.array([[0.5, 1, 2], [3, 4, 5]], np.float16)
    (y,) = loaded.predict({"x": x}).values()
    np.testing.assert_array_equal(y, x * 2)


def test_optional_input_default_value(tmp_path):
    """coremltools' default_value for an optional input: kept through our save, and predict() fills a
    left-out input with it, as Core ML does."""
    path, ex = built("optional_default")
    m = pt2coreml.models.MLModel(path)
    y = next(f for f in m._desc["inputs"] if f["name"] == "y")
    assert (y["optional"], y["default_value"], y["default_type"]) == (1, 0.5, "float")
    again = str(tmp_path / "again.mlpackage")
    m.save(again)
    spec = M.spec_of(again)
    assert spec.description.input[1].type.multiArrayType.floatDefaultValue == 0.5
    assert spec.description.input[1].type.isOptional
    for model in (m, pt2coreml.models.MLModel(again)):
        (out,) = model.predict({"x": ex["x"]}).values()
        np.testing.assert_allclose(out, np.full((2, 3), 1.5))
        (out,) = model.predict(ex).values()
        np.testing.assert_allclose(out, np.full((2, 3), 2.0))
