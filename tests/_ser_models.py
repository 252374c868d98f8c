"""Small ML Program packages made by coremltools (the reference), shared by the
serialize tests. Built once per test session into a temporary directory."""
import atexit
import functools
import os
import shutil
import tempfile
import warnings

import numpy as np

_DIR = None


def _workdir():
    global _DIR
    if _DIR is None:
        _DIR = tempfile.mkdtemp(prefix="pt2coreml_ser_")
        atexit.register(shutil.rmtree, _DIR, True)
    return _DIR


def ct():
    """coremltools, which makes these packages; the calling test skips when it is not installed
    (e.g. under `make test-torch1`, whose Debian venv has no coremltools)."""
    import logging
    import pytest
    pytest.importorskip("coremltools", reason="the reference packages are made by coremltools")
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import coremltools
    return coremltools


def _cnn():
    import torch

    class CNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.fc = torch.nn.Linear(8 * 4 * 4, 10)

        def forward(self, x):
            y = torch.relu(self.bn(self.conv(x)))
            y = torch.nn.functional.max_pool2d(y, 2)
            return self.fc(y.flatten(1))

    torch.manual_seed(0)
    m = CNN().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
    return m



def _misc():
    import torch

    class Misc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("idx", torch.tensor([11, 0, 3, 3, 7, 1, 2, 9, 10, 4, 5, 6]))
            self.w = torch.nn.Parameter(torch.randn(12, 6))

        def forward(self, x):
            g = x[:, self.idx]                       # gather with a 12-element int index
            y = torch.where(g > 0, g, g * 0.5) @ self.w
            return torch.cat([y, y.mean(dim=1, keepdim=True)], dim=1)

    torch.manual_seed(1)
    return Misc().eval()


def _control_flow(kind):
    import torch

    class Loop(torch.nn.Module):
        def forward(self, x):
            for _ in range(x.shape[0]):
                x = x * 2.0 + 1.0
            return x

    class Cond(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return x - 1

    return torch.jit.script((Loop if kind == "loop" else Cond)().eval())


def torch_model(kind):
    """The PyTorch module a package of this kind was converted from (same weights)."""
    if kind in ("cnn16", "cnn32", "image", "flex"):
        return _cnn()
    if kind in ("misc", "misc18"):
        return _misc()
    return _control_flow(kind)


@functools.lru_cache(maxsize=None)
def package(kind):
    """Path of a coremltools-made .mlpackage of the given kind."""
    import torch

    c = ct()
    path = os.path.join(_workdir(), kind + ".mlpackage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind in ("cnn16", "cnn32"):
            m = _cnn()
            x = torch.randn(1, 3, 8, 8)
            prec = c.precision.FLOAT16 if kind == "cnn16" else c.precision.FLOAT32
            mm = c.convert(torch.jit.trace(m, x), inputs=[c.TensorType(name="x", shape=x.shape)],
                           outputs=[c.TensorType(name="logits")], convert_to="mlprogram",
                           compute_precision=prec)
            mm.author = "pt2coreml tests"
            mm.license = "MIT"
            mm.short_description = "a small CNN"
            mm.version = "1.2.3"
            mm.user_defined_metadata["com.apple.coreml.model.preview.type"] = "imageClassifier"
            mm.user_defined_metadata["note"] = "héllo \"quoted\""
            mm.input_description["x"] = "an image tensor"
            mm.output_description["logits"] = "class scores"
        elif kind == "image":
            m = _cnn()
            x = torch.randn(1, 3, 8, 8)
            mm = c.convert(torch.jit.trace(m, x),
                           inputs=[c.ImageType(name="img", shape=x.shape, scale=1 / 255.0,
                                               bias=[-0.5, -0.4, -0.3], color_layout=c.colorlayout.BGR)],
                           convert_to="mlprogram")
        elif kind == "flex":
            m = _cnn()
            x = torch.randn(1, 3, 8, 8)
            shape = c.Shape(shape=(c.RangeDim(1, 4, default=1), 3, 8, 8))
            mm = c.convert(torch.jit.trace(m, x), inputs=[c.TensorType(name="x", shape=shape)],
                           convert_to="mlprogram", compute_precision=c.precision.FLOAT32)
        elif kind in ("misc", "misc18"):
            m = _misc()
            x = torch.randn(2, 12)
            kw = {}
            if kind == "misc18":
                kw["minimum_deployment_target"] = c.target.iOS18
            mm = c.convert(torch.jit.trace(m, x), inputs=[c.TensorType(name="x", shape=x.shape)],
                           convert_to="mlprogram", compute_precision=c.precision.FLOAT32, **kw)
        elif kind in ("loop", "cond"):
            mm = c.convert(_control_flow(kind), inputs=[c.TensorType(name="x", shape=(3, 4))],
                           convert_to="mlprogram")
        else:
            raise KeyError(kind)
        mm.save(path)
    return path


KINDS = ["cnn16", "cnn32", "image", "flex", "misc", "misc18", "loop", "cond"]


def weights_dir(pkg):
    return os.path.join(pkg, "Data", "com.apple.CoreML", "weights")


def spec_of(pkg):
    return ct().models.MLModel(pkg, skip_model_load=True).get_spec()


def mil_program(pkg):
    """coremltools' own rebuild of the package's program (re-runs type inference)."""
    spec = spec_of(pkg)
    from coremltools.converters.mil.frontend.milproto.load import load
    return load(spec, spec.specificationVersion, weights_dir(pkg))


def const_values(prog):
    """{const output name: numpy value} over every function and nested block."""
    out = {}

    def walk(block):
        for op in block.operations:
            if op.op_type == "const":
                out[op.outputs[0].name] = np.asarray(op.outputs[0].val)
            for b in op.blocks:
                walk(b)

    for f in prog.functions.values():
        walk(f)
    return out


def fresh(name):
    """A path in the work directory that does not exist yet."""
    p = os.path.join(_workdir(), name)
    shutil.rmtree(p, ignore_errors=True)
    return p
