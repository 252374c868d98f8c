"""The built-in example: convert a traced torchvision ResNet-18 (random weights, fixed seed),
save it as an .mlpackage, load it back, run it in pt2coreml's runtime and compare with PyTorch.

    make demo        (installs what is missing, builds, then runs this file)
"""
import os
import sys
import time
import warnings

import numpy as np
import torch
import torchvision

import pt2coreml as ct  # installed by make build (editable)

warnings.filterwarnings("ignore", category=FutureWarning)


def main(out_dir="out"):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    example = torch.rand(1, 3, 224, 224)
    traced = torch.jit.trace(model, example)

    t0 = time.perf_counter()
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, 224, 224))])
    t_convert = time.perf_counter() - t0
    mlmodel.short_description = "ResNet-18 (random weights), converted by pt2coreml"
    mlmodel.author = "pt2coreml demo"

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "resnet18.mlpackage")
    t0 = time.perf_counter()
    mlmodel.save(path)
    t_save = time.perf_counter() - t0
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)

    loaded = ct.models.MLModel(path)
    t0 = time.perf_counter()
    out = loaded.predict({"x": example.numpy()})
    t_predict = time.perf_counter() - t0
    name = loaded._desc["outputs"][0]["name"]
    with torch.no_grad():
        ref = model(example).numpy()
    err = float(np.max(np.abs(out[name] - ref)))
    scale = float(np.max(np.abs(ref)))

    print(f"converted  resnet18 in {t_convert * 1000:.0f} ms (fp16 weights), saved in {t_save * 1000:.0f} ms")
    print(f"package    {path} ({size / 1e6:.1f} MB)")
    print(f"model      {loaded}")
    print(f"ops        {loaded.op_histogram()}")
    print(f"predict    {t_predict * 1000:.0f} ms in pt2coreml's runtime; output '{name}' {out[name].shape}")
    print(f"vs torch   max abs error {err:.3g} (output scale {scale:.3g}, relative {err / scale:.2g}); "
          f"top-1 {'matches' if out[name].argmax() == ref.argmax() else 'DIFFERS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
