"""torch.export programs: ct.convert(ep) reads the serialized program in C (csrc/export/) and lowers it
through the TorchScript pipeline. Each model is exported (random weights, fixed seeds), converted as
export() returns it (training IR: aten.conv2d, aten.linear, ...) and after run_decompositions() (core
ATen), predicted in our runtime and compared with the PyTorch program's own outputs."""
import os
import tempfile

import numpy as np
import pytest
import torch

import pt2coreml as ct
from parity import TOL, TORCH_MAJOR, compare, coremltools_check

if TORCH_MAJOR < 2:
    pytest.skip("torch.export needs torch >= 2", allow_module_level=True)

PREC = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}


def _flat(out):
    if isinstance(out, torch.Tensor):
        return [out]
    flat = []
    for o in out:
        flat.extend(_flat(o) if isinstance(o, (list, tuple)) else [o])
    return flat


def export(module, args):
    torch.manual_seed(0)
    module = module.eval()
    with torch.no_grad():
        return torch.export.export(module, tuple(args))


def export_parity(ep, args, precision="fp32", decompose=False, tol=None, check_coremltools=False, **kw):
    """Convert ep (or its core ATen form), predict on args, compare each output with ep.module()'s."""
    if decompose:
        ep = ep.run_decompositions()
    with torch.no_grad():
        refs = [r.detach().numpy() for r in _flat(ep.module()(*args))]
    mlmodel = ct.convert(ep, compute_precision=PREC[precision], **kw)
    names = [f["name"] for f in mlmodel._desc["inputs"]]
    out = mlmodel.predict({n: a.numpy() for n, a in zip(names, args)})
    out_names = [f["name"] for f in mlmodel._desc["outputs"]]
    assert len(out_names) == len(refs), f"{len(out_names)} outputs, torch has {len(refs)}"
    for n, r in zip(out_names, refs):
        compare(n, out[n], r, tol if tol is not None else TOL[precision])
    if check_coremltools:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.mlpackage")
            mlmodel.save(path)
            coremltools_check(path)
    return mlmodel


@pytest.fixture(scope="module")
def resnet18():
    import torchvision
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    return export(torchvision.models.resnet18(weights=None), [x]), [x]


@pytest.mark.parametrize("decompose", [False, True], ids=["export", "core_aten"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_resnet18(resnet18, precision, decompose):
    ep, args = resnet18
    m = export_parity(ep, args, precision, decompose, check_coremltools=precision == "fp32" and not decompose)
    assert [f["name"] for f in m._desc["inputs"]] == ["x"]  # the program's own input name
