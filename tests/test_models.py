"""Whole torchvision models (random weights): convert, save, load back, run, compare with PyTorch."""
import os
import struct

import numpy as np
import pytest
import torch
import torchvision

import pt2coreml as ct
from models_common import check_regime, init_batch_norm
from parity import check_parity, coremltools_check, compare, TOL

# At full ImageNet resolution. MobileNet V2's activations vanish with BatchNorm's default statistics
# (output ~1e-10), so its statistics are estimated and damped (models_common explains the recipe).
MODELS = {
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "resnet50": lambda: torchvision.models.resnet50(weights=None),
    "mobilenet_v2": lambda: init_batch_norm(torchvision.models.mobilenet_v2(weights=None), 224, 0.9, images=8),
}


@pytest.fixture(scope="module")
def traced_models():
    out = {}
    for name, make in MODELS.items():
        torch.manual_seed(0)
        m = make().eval()
        x = torch.rand(1, 3, 224, 224)
        check_regime(m, x)
        with torch.no_grad():
            out[name] = (m, torch.jit.trace(m, x, check_trace=False), x)
    return out


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_model_parity(traced_models, name, precision):
    m, traced, x = traced_models[name]
    _, worst = check_parity(traced, [x], precision=precision, names=["x"])
    print(f"{name} {precision}: worst relative error {worst:.2e}")


def test_resnet18_save_load_roundtrip(traced_models, tmp_path):
    m, traced, x = traced_models["resnet18"]
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, 224, 224))])
    mlmodel.short_description = "ResNet-18"
    mlmodel.author = "tests"
    mlmodel.license = "BSD"
    mlmodel.version = "1.2"
    mlmodel.user_defined_metadata["k"] = "v"
    mlmodel.input_description["x"] = "an image tensor"
    path = str(tmp_path / "resnet18.mlpackage")
    mlmodel.save(path)

    loaded = ct.models.MLModel(path)
    assert loaded.short_description == "ResNet-18"
    assert (loaded.author, loaded.license, loaded.version) == ("tests", "BSD", "1.2")
    assert loaded.user_defined_metadata["k"] == "v"
    assert loaded.input_description["x"] == "an image tensor"
    assert loaded.op_histogram() == mlmodel.op_histogram()
    out_name = loaded._desc["outputs"][0]["name"]
    a = mlmodel.predict({"x": x.numpy()})[out_name]
    b = loaded.predict({"x": x.numpy()})[out_name]
    np.testing.assert_array_equal(a, b)  # the saved model computes exactly what the in-memory one does
    with torch.no_grad():
        compare(out_name, b, m(x).numpy(), TOL["fp16"])

    spec = loaded.get_spec()
    assert spec.specificationVersion == 6
    assert spec.description.input[0].name == "x"
    assert list(spec.description.input[0].type.multiArrayType.shape) == [1, 3, 224, 224]
    assert spec.description.metadata.shortDescription == "ResNet-18"
    fn = spec.mlProgram.functions["main"]
    assert fn.opset == "CoreML5"

    hist = loaded.op_histogram()
    assert hist["conv"] == 20 and hist["linear"] == 1 and hist["max_pool"] == 1
    assert "batch_norm" not in hist  # folded into the convolutions

    prog = coremltools_check(path)
    if prog is not None:
        ops = [op.op_type for op in prog.functions["main"].operations]
        assert ops.count("conv") == 20


def test_blob_file_layout(traced_models, tmp_path):
    _, traced, _ = traced_models["resnet18"]
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, 224, 224))])
    path = str(tmp_path / "r.mlpackage")
    mlmodel.save(path)
    blob = open(os.path.join(path, "Data", "com.apple.CoreML", "weights", "weight.bin"), "rb").read()
    count, version = struct.unpack_from("<II", blob, 0)
    assert version == 2 and count > 20
    off = 64
    total = 0
    for i in range(count):
        sentinel, dtype, size, data_off = struct.unpack_from("<IIQQ", blob, off)
        assert sentinel == 0xDEADBEEF, f"blob {i}: bad sentinel at {off}"
        assert dtype == 1, "fp16 weights by default"
        assert off % 64 == 0 and data_off == off + 64 and data_off % 64 == 0
        assert data_off + size <= len(blob)
        total += size
        off = (data_off + size + 63) // 64 * 64
    assert total >= 11_000_000 * 2  # resnet18's ~11.7M params as fp16


def test_torchscript_file_path(traced_models, tmp_path):
    m, traced, x = traced_models["resnet18"]
    p = str(tmp_path / "r18.pt")
    torch.jit.save(traced, p)
    mlmodel = ct.convert(p, inputs=[ct.TensorType(name="x", shape=(1, 3, 224, 224))],
                         compute_precision=ct.precision.FLOAT32)
    out = mlmodel.predict({"x": x.numpy()})
    with torch.no_grad():
        compare("out", next(iter(out.values())), m(x).numpy(), TOL["fp32"])


@pytest.mark.parametrize("tgt,opset", [(ct.target.iOS16, "CoreML6"), (ct.target.iOS17, "CoreML7"),
                                       (ct.target.macOS15, "CoreML8")])
def test_deployment_targets(tmp_path, tgt, opset):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 4)).eval()
    x = torch.rand(1, 3, 8, 8)
    mlmodel, _ = check_parity(m, [x], precision="fp16", minimum_deployment_target=tgt)
    path = str(tmp_path / "t.mlpackage")
    mlmodel.save(path)
    spec = ct.models.MLModel(path).get_spec()
    assert spec.specificationVersion == int(tgt)
    assert spec.mlProgram.functions["main"].opset == opset
