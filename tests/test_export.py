"""torch.export programs: ct.convert(ep) reads the serialized program in C (csrc/export/) and lowers it
through the TorchScript pipeline. Each model is exported (random weights, fixed seeds), converted as
export() returns it (training IR: aten.conv2d, aten.linear, ...) and after run_decompositions() (core
ATen), predicted in our runtime and compared with the PyTorch program's own outputs."""
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pt2coreml as ct
from export_common import PREC, export, malformed_outcomes, predict_compare
from parity import TOL, TORCH_MAJOR, compare, coremltools_check

if TORCH_MAJOR < 2:
    pytest.skip("torch.export needs torch >= 2", allow_module_level=True)

_CORE = {}  # id(ep) -> (ep, its core ATen form): a program's decomposition is made once


def core_aten(ep):
    if id(ep) not in _CORE:
        _CORE[id(ep)] = (ep, ep.run_decompositions())
    return _CORE[id(ep)][1]


def export_parity(ep, args, precision="fp32", decompose=False, tol=None, check_coremltools=False, **kw):
    """Convert ep (or its core ATen form), predict on args, compare each output with ep.module()'s."""
    if decompose:
        ep = core_aten(ep)
    mlmodel = ct.convert(ep, compute_precision=PREC[precision], **kw)
    predict_compare(ep, mlmodel, [args], precision, tol)
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


@pytest.fixture(scope="module")
def mobilenet_v2():
    import torchvision
    from models_common import init_batch_norm
    torch.manual_seed(0)
    m = init_batch_norm(torchvision.models.mobilenet_v2().eval(), 64, 0.85)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    return export(m, [x]), [x]


@pytest.mark.parametrize("decompose", [False, True], ids=["export", "core_aten"])
def test_mobilenet_v2(mobilenet_v2, decompose):
    ep, args = mobilenet_v2
    export_parity(ep, args, "fp32", decompose)


@pytest.mark.parametrize("decompose", [False, True], ids=["export", "core_aten"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_transformer_encoder_layer(precision, decompose):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.1)
    x = torch.randn(2, 5, 32)
    export_parity(export(layer, [x]), [x], precision, decompose)


class LSTMHead(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.out = torch.nn.Linear(16, 4)

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        return self.out(y), h, c


@pytest.mark.parametrize("decompose", [False, True], ids=["export", "core_aten"])
def test_lstm(decompose):
    torch.manual_seed(0)
    x = torch.randn(2, 7, 8)
    export_parity(export(LSTMHead(), [x]), [x], "fp32", decompose)


class BuffersAndConstants(torch.nn.Module):
    """BatchNorm's buffers, a registered buffer, a non-persistent buffer and a tensor constant (lifted)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.register_buffer("shift", torch.linspace(-1, 1, 8).view(1, 8, 1, 1))
        self.register_buffer("gain", torch.full((1, 8, 1, 1), 0.5), persistent=False)
        self.table = torch.tensor([1.0, -2.0, 3.0, 0.25])  # a plain tensor attribute: a lifted constant

    def forward(self, x):
        y = self.bn(self.conv(x)) * self.gain + self.shift
        return y.mean(dim=(2, 3))[:, :4] * self.table


@pytest.mark.parametrize("decompose", [False, True], ids=["export", "core_aten"])
def test_buffers_and_constants(decompose):
    torch.manual_seed(0)
    m = BuffersAndConstants()
    with torch.no_grad():  # statistics other than BatchNorm's defaults
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 8, 8)
    ep = export(m, [x])
    kinds = {s.kind.name for s in ep.graph_signature.input_specs}
    assert {"PARAMETER", "BUFFER", "CONSTANT_TENSOR", "USER_INPUT"} <= kinds
    export_parity(ep, [x], "fp32", decompose)


class TwoInTwoOut(torch.nn.Module):
    def forward(self, image, scale):
        y = torch.relu(image) * scale
        return y.sum(dim=1), y.amax(dim=(2, 3))


def test_multiple_inputs_and_outputs_with_names():
    torch.manual_seed(0)
    a, b = torch.randn(1, 3, 4, 4), torch.rand(1, 3, 1, 1)
    ep = export(TwoInTwoOut(), [a, b])
    m = export_parity(ep, [a, b], "fp32", outputs=[ct.TensorType(name="plane"), ct.TensorType(name="peaks")])
    assert [f["name"] for f in m._desc["inputs"]] == ["image", "scale"]
    assert [f["name"] for f in m._desc["outputs"]] == ["plane", "peaks"]
    # inputs= by name, in another order than the program's: mapped by name
    m = ct.convert(ep, inputs=[ct.TensorType(name="scale", shape=(1, 3, 1, 1)),
                               ct.TensorType(name="image", shape=(1, 3, 4, 4))])
    out = m.predict({"image": a.numpy(), "scale": b.numpy()})
    ref = ep.module()(a, b)
    for got, r in zip(out.values(), ref):
        compare("out", got, r.numpy(), TOL["fp16"])
    # inputs= by position, renamed
    m = ct.convert(ep, inputs=[ct.TensorType(name="x", shape=(1, 3, 4, 4)), ct.TensorType(name="s", shape=(1, 3, 1, 1))])
    assert [f["name"] for f in m._desc["inputs"]] == ["x", "s"]


class SmallCNN(torch.nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.fc = torch.nn.Linear(8, classes)

    def forward(self, x):
        return torch.softmax(self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))), dim=-1)


def test_image_input_and_classifier():
    torch.manual_seed(0)
    img = torch.randint(0, 256, (1, 3, 16, 16)).float()
    scale, bias = 1 / 255.0, [-0.5, -0.4, -0.3]
    m = SmallCNN()
    ep = export(m, [img * scale])
    labels = ["a", "b", "c", "d", "e"]
    mlmodel = ct.convert(ep, inputs=[ct.ImageType(name="image", shape=(1, 3, 16, 16), scale=scale, bias=bias)],
                         classifier_config=ct.ClassifierConfig(labels), compute_precision=ct.precision.FLOAT32)
    assert mlmodel._desc["inputs"][0]["kind"] == "image"
    from PIL import Image
    pil = Image.fromarray(img[0].permute(1, 2, 0).numpy().astype(np.uint8))
    out = mlmodel.predict({"image": pil})
    x = img * scale + torch.tensor(bias).view(1, 3, 1, 1)
    probs = ep.module()(x)[0]
    assert out["classLabel"] == labels[int(probs.argmax())]
    got = out[mlmodel._desc["outputs"][1]["name"]]
    np.testing.assert_allclose([got[k] for k in labels], probs.detach().numpy(), atol=1e-5)


def test_metadata_and_save_roundtrip(resnet18, tmp_path):
    ep, (x,) = resnet18
    m = ct.convert(ep, compute_precision=ct.precision.FLOAT32, minimum_deployment_target=ct.target.iOS16)
    m.author = "tests"
    path = str(tmp_path / "r18.mlpackage")
    m.save(path)
    loaded = ct.models.MLModel(path)
    assert loaded.author == "tests" and loaded.user_defined_metadata["pt2coreml.source"].startswith("torch==")
    compare("out", list(loaded.predict({"x": x.numpy()}).values())[0], ep.module()(x).detach().numpy(), TOL["fp32"])


class Unsupported(torch.nn.Module):
    def forward(self, x):
        y = x + 1
        return torch.lgamma(y)  # the line the error names


def test_unsupported_op_names_op_and_source_line():
    ep = export(Unsupported(), [torch.rand(2, 3)])
    with pytest.raises(ct.ConversionError) as e:
        ct.convert(ep)
    msg = str(e.value)
    assert "aten::lgamma" in msg and "test_export.py:" in msg and "return torch.lgamma(y)" in msg, msg


def test_bad_input_shapes():
    ep = export(SmallCNN(), [torch.rand(1, 3, 16, 16)])
    with pytest.raises(ValueError, match=r"rank 3 but the exported program's input 'x' has shape \(1, 3, 16, 16\)"):
        ct.convert(ep, inputs=[ct.TensorType(shape=(3, 16, 16))])
    with pytest.raises(ValueError, match=r"dim 2 is 32 but the program was exported with x.shape\[2\] == 16"):
        ct.convert(ep, inputs=[ct.TensorType(shape=(1, 3, 32, 16))])
    with pytest.raises(ValueError, match="takes 1 input"):
        ct.convert(ep, inputs=[ct.TensorType(shape=(1, 3, 16, 16))] * 2)


def test_debug_output_names_export_nodes(capsys):
    ep = export(SmallCNN(), [torch.rand(1, 3, 16, 16)])
    ct.convert(ep, debug=True)
    out = capsys.readouterr().out
    assert "[lower] aten::conv2d -> %conv2d" in out and "test_export.py:" in out, out[:2000]


@torch.library.custom_op("pt2coreml_test::scale_shift", mutates_args=())
def _scale_shift(x: torch.Tensor, k: float) -> torch.Tensor:
    return x * k + 1.0


@_scale_shift.register_fake
def _(x, k):
    return torch.empty_like(x)


class CustomOp(torch.nn.Module):
    def forward(self, x):
        return torch.ops.pt2coreml_test.scale_shift(torch.relu(x), 3.0) - x


def test_custom_op_with_register_torch_op():
    """A custom op has no aten schema row: it reaches a register_torch_op converter by its kind, with the
    serialized arguments in order; without one the error names it and the user's line."""
    x = torch.randn(2, 3)
    ep = export(CustomOp(), [x])
    with pytest.raises(ct.ConversionError, match=r"pt2coreml_test::scale_shift \(1 use, first at test_export.py:\d+"):
        ct.convert(ep)
    seen = []

    @ct.register_torch_op(torch_alias=["pt2coreml_test::scale_shift"])
    def scale_shift(context, node):
        x, k = context[node.inputs[0]], context[node.inputs[1]]
        seen.append((node.kind, k, node.loc))
        context.add(ct.mb.add(x=ct.mb.mul(x=x, y=float(k)), y=1.0, name=node.name))

    try:
        export_parity(ep, [x], "fp32")
    finally:
        ct.unregister_torch_op("scale_shift")
        ct.unregister_torch_op("pt2coreml_test::scale_shift")
    assert seen[0][0] == "pt2coreml_test::scale_shift" and seen[0][1] == 3.0 and "test_export.py:" in seen[0][2]


class TokenModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(20, 6)

    def forward(self, ids, mask):
        return self.emb(ids) * mask.unsqueeze(-1)


def test_int_inputs_default_to_int32_and_kinds_are_checked():
    """The program's int64 token ids become an int32 input (Core ML has no int64); a declared dtype of another
    kind is refused. export_inputs reads the user inputs from the serialized program, as a .pt2 has them."""
    ids, mask = torch.randint(0, 20, (2, 5)), torch.rand(2, 5)
    ep = export(TokenModel(), [ids, mask])
    from pt2coreml import _core, _export
    assert _core.export_inputs(_export.serialize(ep)) == [("ids", 4, [2, 5]), ("mask", 6, [2, 5])]
    m = export_parity(ep, [ids, mask], "fp32")
    assert [f["dtype"] for f in m._desc["inputs"]] == ["int32", "fp32"]
    with pytest.raises(ValueError, match=r"inputs\[1\] \(mask\): declared int32 but the exported program's input "
                                         r"'mask' is a float tensor"):
        ct.convert(ep, inputs=[ct.TensorType(shape=(2, 5), dtype=np.int32), ct.TensorType(shape=(2, 5), dtype=np.int32)])


class Fn(torch.nn.Module):
    def __init__(self, f, *mods):
        super().__init__()
        self.f, self.mods = f, torch.nn.ModuleList(mods)

    def forward(self, *args):
        return self.f(self, *args)


def _slice_assign(s, x):
    y = x.clone()
    y[:, 1:3] = 0.5
    y[:, 0] = x[:, 4] * 2
    return y


def _in_place(s, x):
    y = x * 1
    y.add_(1).mul_(2)
    return torch.relu_(y)


_x2, _x3, _x4 = torch.randn(3, 5), torch.randn(2, 5, 6), torch.randn(1, 4, 8, 8)

# Small programs whose two forms (training IR, core ATen) reach the reader's argument kinds (lists of
# tensors, optional tensors, int lists, dtypes, devices, memory formats, left-out defaults, multiple and
# list outputs) and the core ATen ops TorchScript never produces (convolution, copy, _adaptive_avg_pool*,
# empty_strided / empty_permuted, native_layer_norm, _to_copy, full, scalar_tensor, ...).
FORMS = {
    "slice_assign": (_slice_assign, [_x2]),
    "in_place": (_in_place, [_x2]),
    "index_gather_scatter": (lambda s, x: x[torch.tensor([2, 0])][:, torch.tensor([1, 3])]
                             + torch.gather(x, 1, torch.tensor([[0, 2], [1, 1], [4, 0]]))[:2]
                             + torch.zeros(2, 2).scatter(1, torch.tensor([[1], [0]]), 1.0), [_x2]),
    "index_put": (lambda s, x: x.index_put((torch.tensor([0, 2]),), torch.tensor(9.0)), [_x2]),
    "interpolate_pad": (lambda s, x: F.pad(F.interpolate(x, scale_factor=2, mode="bilinear"), (1, 2, 3, 1),
                                           mode="reflect"), [_x4]),
    "pools": (lambda s, x: F.adaptive_avg_pool2d(x, (3, 2)).sum() + F.max_pool2d(x, 3, 2, 1, ceil_mode=True).mean()
              + F.avg_pool2d(x, 3, 2, 1, count_include_pad=False) .mean()
              + F.adaptive_avg_pool3d(x[None], (2, 2, 2)).sum(), [_x4]),
    "topk_sort_max": (lambda s, x: tuple(torch.topk(x, 2, dim=1)) + tuple(torch.sort(x, dim=1, descending=True))
                      + tuple(torch.max(x, dim=1)), [_x2]),
    "split_chunk_unbind": (lambda s, x: torch.split(x, [2, 4], dim=2)[1].sum(2) + torch.chunk(x, 2, dim=2)[0].sum(2)
                           + sum(torch.unbind(x, 0))[None, :, 0], [_x3]),
    "creation": (lambda s, x: x + torch.arange(5.0) + torch.full((3, 5), 2.0) + torch.zeros_like(x) + x.new_ones(3, 5)
                 + torch.empty_strided((3, 5), (5, 1)).fill_(0.5) + torch.scalar_tensor(1.5)
                 + torch.empty_like(x).fill_(1.0), [_x2]),
    "dtypes": (lambda s, x: (x * 3).to(torch.int32).to(torch.float32) + (x > 0).float() + x.half().float()
               + torch.div(x * 10, 3, rounding_mode="floor"), [_x2]),
    "norms": (lambda s, x: s.mods[1](s.mods[0](x)), [_x4], torch.nn.GroupNorm(2, 4), torch.nn.InstanceNorm2d(4)),
    "layer_norm_gelu_where": (lambda s, x: torch.where(x > 0, F.gelu(s.mods[0](x)), x.masked_fill(x < -1, 0.0)),
                              [_x3], torch.nn.LayerNorm(6)),
    "attention": (lambda s, x: s.mods[0](x, x, x)[0] + F.scaled_dot_product_attention(
        x, x, x, attn_mask=torch.ones(5, 5, dtype=torch.bool).tril()), [_x3],
        torch.nn.MultiheadAttention(6, 2, batch_first=True)),
    "gru_bilstm": (lambda s, x: s.mods[0](x)[0].sum(-1) + s.mods[1](x)[0].sum(-1), [_x3],
                   torch.nn.GRU(6, 4, batch_first=True), torch.nn.LSTM(6, 4, batch_first=True, bidirectional=True)),
    "conv_transpose_depthwise": (lambda s, x: s.mods[0](s.mods[1](x)), [_x4],
                                 torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1),
                                 torch.nn.Conv2d(4, 4, 3, groups=4)),
}


@pytest.mark.parametrize("decompose", [False, True], ids=["export", "core_aten"])
@pytest.mark.parametrize("name", list(FORMS))
def test_forms(name, decompose):
    f, args, *mods = FORMS[name]
    torch.manual_seed(0)
    export_parity(export(Fn(f, *mods), args), args, "fp32", decompose)


class SizeArithmetic(torch.nn.Module):
    def forward(self, x):
        b = x.shape[0]
        return x.view(b * 2, -1).sum(0) + x.shape[1] // 2, torch.ones(b // 2 + 1)


def test_dynamic_batch_sizes_and_their_arithmetic():
    """A dynamic dim's sym_size and Python arithmetic on it (operator.mul, floordiv, add) lower as TorchScript's
    int ops: folded for a static input shape, computed at run time for a RangeDim."""
    x = torch.randn(4, 6)
    ep = torch.export.export(SizeArithmetic(), (x,), dynamic_shapes=({0: torch.export.Dim("b", min=2, max=64)},))
    m = ct.convert(ep)  # inputs= left out: the dynamic dim is a RangeDim over the program's range
    arr = m.get_spec().description.input[0].type.multiArrayType
    assert [(r.lowerBound, r.upperBound) for r in arr.shapeRange.sizeRanges] == [(2, 64), (6, 6)]
    export_parity(ep, [x], "fp32", inputs=[ct.TensorType(shape=(4, 6))])
    m = ct.convert(ep, inputs=[ct.TensorType(shape=(ct.RangeDim(2, 64), 6))], compute_precision=ct.precision.FLOAT32)
    for b in (2, 6, 10):
        xb = torch.randn(b, 6)
        out, refs = m.predict({"x": xb.numpy()}), ep.module()(xb)
        for got, ref in zip(out.values(), refs):
            compare(f"batch {b}", got, ref.numpy(), TOL["fp32"])


def test_malformed_programs_fail_cleanly():
    """A serialized program is untrusted input (a .pt2 file): edited at random, it converts or fails with a Python
    exception, never a crash."""
    import random
    x, y = torch.randn(1, 3, 6, 6), torch.randn(1, 6)
    ep = export(Fn(lambda s, x, y: (torch.cat([s.mods[0](x).mean((2, 3)), torch.split(y, 3, 1)[0]], 1).max(1)[0],
                                    s.mods[1](y[None, :, :4])[0]), torch.nn.Conv2d(3, 4, 3), torch.nn.LSTM(4, 4)),
                [x, y])
    inputs = [("x", "fp32", [1, 3, 6, 6], None), ("y", "fp32", [1, 6], None)]
    outcomes = malformed_outcomes([(ep, inputs), (ep.run_decompositions(), inputs)], random.Random(0), 60)
    assert outcomes.get("ValueError", 0) > 10 and outcomes.get("converted", 0) > 10, outcomes


class Cond(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: x + 1, lambda x: x - 1, (x,))


def test_unsupported_higher_order_op_fails_naming_the_op_and_the_users_line(monkeypatch):
    """cond, while_loop and map convert (tests/test_export_control.py); another higher-order op fails naming
    itself and the user's line."""
    from pt2coreml import _export
    ep = export(Cond(), [torch.randn(3)])
    real = _export.serialize
    monkeypatch.setattr(_export, "serialize", lambda e: real(e).replace(b"higher_order.cond", b"higher_order.scan"))
    with pytest.raises(ct.ConversionError, match=r"higher_order.scan at test_export.py:\d+: return torch.cond\(x.sum"
                                                 r".*the higher-order op scan cannot be converted"):
        ct.convert(ep)


class GroupedMM(torch.nn.Module):
    """transformers' mixture-of-experts layers export their expert matmuls as its own operator."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(3, 4, 5))

    def forward(self, x, offs):
        return torch.ops.transformers.grouped_mm_fallback(x, self.w, offs) * 2


def test_transformers_grouped_mm_fallback():
    pytest.importorskip("transformers.integrations.moe")
    torch.manual_seed(0)
    x, offs = torch.randn(6, 4), torch.tensor([2, 2, 6], dtype=torch.int32)
    ep = export(GroupedMM(), [x, offs])
    export_parity(ep, [x, offs], "fp32")


class NamedTupleOut(torch.nn.Module):
    def forward(self, x):
        return torch.max(x, dim=1)  # a torch.return_types.max, which torch's serializer cannot name


def test_unserializable_program_is_a_clear_error():
    ep = export(NamedTupleOut(), [torch.randn(2, 3)])
    with pytest.raises(ValueError, match="torch cannot serialize this exported program .*return plain tuples"):
        ct.convert(ep)
