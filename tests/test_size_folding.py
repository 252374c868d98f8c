"""Sizes computed from x.size() fold to constants when every input shape is static: a model that computes
its padding, reshape, interpolation or repeat sizes from x.size() converts to the same program as the model
with those numbers written as literals (byte-identical model.mlmodel and weight.bin: anonymous value names
are numbered in program order, not by TorchScript's value count) and matches PyTorch."""
import math
import os
import re

import pytest
import torch
import torch.nn.functional as F

import pt2coreml as ct
from parity import check_parity


def _same_padding(x, k, s):
    """timm's get_same_padding: a tensor under tracing, an int in eager mode."""
    if isinstance(x, torch.Tensor):
        return torch.clamp(((x / s).ceil() - 1) * s + (k - 1) + 1 - x, min=0)
    return max((math.ceil(x / s) - 1) * s + (k - 1) + 1 - x, 0)


class SamePad(torch.nn.Module):
    """timm's Conv2dSame: pad_same from the input's size, then a stride-2 conv."""

    def __init__(self, literal):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.literal = literal

    def forward(self, x):
        if self.literal:
            return self.conv(F.pad(x, (1, 1, 1, 1)))
        ih, iw = x.size()[-2:]
        ph, pw = _same_padding(ih, 3, 2), _same_padding(iw, 3, 2)
        return self.conv(F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)))


class Flatten(torch.nn.Module):
    """The classifier-head reshape: view(x.size(0), x.size(1) * x.size(2) * x.size(3))."""

    def __init__(self, literal):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(3 * 17 * 17, 10)
        self.literal = literal

    def forward(self, x):
        if self.literal:
            return self.fc(x.view(1, 867))
        return self.fc(x.view(x.size(0), x.size(1) * x.size(2) * x.size(3)))


class Upsample(torch.nn.Module):
    """interpolate to twice the input's size, computed from x.shape."""

    def __init__(self, literal):
        super().__init__()
        self.literal = literal

    def forward(self, x):
        size = (34, 34) if self.literal else (x.shape[2] * 2, x.shape[3] * 2)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Heads(torch.nn.Module):
    """Attention's head split: reshape(b, n, heads, d // heads), then repeat to a computed count."""

    def __init__(self, literal):
        super().__init__()
        self.literal = literal

    def forward(self, x):
        if self.literal:
            return x.reshape(1, 17, 3, 17).repeat(1, 1, 2, 1)
        b, c, h, w = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, h, c, w).repeat(1, 1, max(b * 2, 1), 1)


class HeadsLiteral(Heads):
    def forward(self, x):
        return x.permute(0, 2, 1, 3).reshape(1, 17, 3, 17).repeat(1, 1, 2, 1)


class TimmSame(torch.nn.Module):
    """timm's own "same" padding layer (create_conv2d(padding="same") with stride 2 pads from the input size);
    the literal form is the same conv after F.pad with the numbers written out."""

    def __init__(self, literal):
        super().__init__()
        timm_layers = pytest.importorskip("timm.layers")
        torch.manual_seed(0)
        self.conv = timm_layers.create_conv2d(3, 8, 3, stride=2, padding="same")
        self.literal = literal

    def forward(self, x):
        if self.literal:  # timm's pad_same and conv2d_same with the numbers written out
            x = F.pad(x, [1, 1, 1, 1], value=0.0)
            return F.conv2d(x, self.conv.weight, self.conv.bias, (2, 2), (0, 0), (1, 1), 1)
        return self.conv(x)


CASES = [(SamePad, SamePad), (TimmSame, TimmSame), (Flatten, Flatten), (Upsample, Upsample), (Heads, HeadsLiteral)]
IDS = ["same_padding", "timm_create_conv2d_same", "flatten_view", "interpolate_size", "head_split_repeat"]

_NAME = re.compile(r"%[A-Za-z_][A-Za-z0-9_]*")


def _canonical(text):
    """Program text with value names replaced by their order of first appearance."""
    names = {}
    return _NAME.sub(lambda m: names.setdefault(m.group(0), f"%v{len(names)}"), text)


def _convert(mod, x, precision):
    t = torch.jit.trace(mod.eval(), (x,), check_trace=False)
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    return ct.convert(t, inputs=[ct.TensorType(name="x", shape=tuple(x.shape))], compute_precision=prec)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("computed,literal", CASES, ids=IDS)
def test_sizes_fold_like_literals(computed, literal, precision, tmp_path):
    x = torch.randn(1, 3, 17, 17)
    check_parity(computed(False), [x], precision=precision)
    a = _convert(computed(False), x, precision)
    b = _convert(literal(True), x, precision)
    assert _canonical(a.get_program_text(max_const=-1)) == _canonical(b.get_program_text(max_const=-1))
    assert a.op_histogram() == b.op_histogram()
    pa, pb = str(tmp_path / "a.mlpackage"), str(tmp_path / "b.mlpackage")
    a.save(pa)
    b.save(pb)
    for part in ("model.mlmodel", os.path.join("weights", "weight.bin")):
        fa = os.path.join(pa, "Data", "com.apple.CoreML", part)
        fb = os.path.join(pb, "Data", "com.apple.CoreML", part)
        assert os.path.exists(fa) == os.path.exists(fb)
        if os.path.exists(fa):
            assert open(fa, "rb").read() == open(fb, "rb").read(), part


def test_user_names_are_kept_by_the_numbering():
    """Names the user gives (inputs, outputs) are never renumbered, and anonymous values skip the numbers they
    hold, so names stay unique."""
    class M(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x * 2) + 1, x.sum(1)

    x = torch.randn(2, 3)
    t = torch.jit.trace(M().eval(), (x,))
    ml = ct.convert(t, inputs=[ct.TensorType(name="var_1", shape=(2, 3))],
                    outputs=[ct.TensorType(name="var_0"), ct.TensorType(name="var_2_s")],
                    compute_precision=ct.precision.FLOAT32)
    names = [o["name"] for o in ml._desc["outputs"]]
    assert names == ["var_0", "var_2_s"]
    text = ml.get_program_text()
    assert "%var_1: fp32[2,3]" in text  # the input
    decl = re.findall(r"^\s*%([A-Za-z0-9_]+):", text, re.M)
    assert len(decl) == len(set(decl)), text
    out = ml.predict({"var_1": x.numpy()})
    with torch.no_grad():
        r0, r1 = M()(x)
    assert abs(out["var_0"] - r0.numpy()).max() < 1e-5 and abs(out["var_2_s"] - r1.numpy()).max() < 1e-5
