"""Whole models of issue 4 (random weights, fixed seeds, small inputs): torchvision classifiers and our
own small GPT-2-style decoder, BERT-style encoder and LSTM language model, converted and compared with
PyTorch in fp32 and fp16 through the reference runtime. A model that still needs an op of a family
another branch adds (activations, elementwise, creation, comparison) is an expected failure naming it."""
import functools
import math
import os
import re
import time

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import pt2coreml as ct
from lower_common import CHECK_COREMLTOOLS
from parity import check_parity, need_torch2, torch_outputs

tv = torchvision.models

def _random_head(m):
    nn.init.normal_(m.heads.head.weight, std=0.02)  # torchvision starts ViT's head at zero
    return m


def _calibrated(m, size):
    """Batch norm statistics from a few random batches: with torchvision's init and unit running
    statistics EfficientNet's activations vanish (~1e-14) and the comparison would say nothing."""
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.momentum = None
    m.train()
    with torch.no_grad():
        m(torch.rand(4, 3, size, size, generator=torch.Generator().manual_seed(3)))
    return m.eval()


VISION = {  # name: (constructor, input size, slow)
    "resnet18": (lambda: tv.resnet18(), 64, False),
    "resnet50": (lambda: tv.resnet50(), 64, True),
    "mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(), 64, False),
    "mobilenet_v3_large": (lambda: tv.mobilenet_v3_large(), 64, True),
    "efficientnet_b0": (lambda: _calibrated(tv.efficientnet_b0(), 64), 64, True),
    "squeezenet1_1": (lambda: tv.squeezenet1_1(), 64, False),
    "shufflenet_v2_x1_0": (lambda: tv.shufflenet_v2_x1_0(), 64, False),
    "densenet121": (lambda: tv.densenet121(), 64, True),
    "regnet_y_400mf": (lambda: tv.regnet_y_400mf(), 64, False),
    "convnext_tiny": (lambda: tv.convnext_tiny(), 64, True),
    "vit_b_16": (lambda: _random_head(tv.vit_b_16(image_size=32)), 32, True),
    "swin_t": (lambda: tv.swin_t(), 64, True),
    "googlenet": (lambda: tv.googlenet(aux_logits=False, init_weights=False), 64, False),
    "inception_v3": (lambda: tv.inception_v3(aux_logits=False, init_weights=False), 80, True),
}


# ---- our own small language models ----
class Block(nn.Module):
    """Pre-norm transformer block; causal attention through scaled_dot_product_attention."""

    def __init__(self, d, h, causal):
        super().__init__()
        self.h, self.causal = h, causal
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def attn(self, x, mask):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        if self.causal:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # written by hand, with an additive padding mask
            s = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(d // self.h)) + mask
            y = torch.softmax(s, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, d))

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln1(x), mask)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh" if self.causal else "none"))


class TinyGPT(nn.Module):
    def __init__(self, vocab=50, d=32, h=4, layers=2, ctx=16):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(Block(d, h, True) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight  # tied

    def forward(self, ids):
        pos = torch.arange(ids.shape[1]) if False else self.wpe.weight[: ids.shape[1]]
        x = self.wte(ids) + pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


class TinyBERT(nn.Module):
    def __init__(self, vocab=60, d=32, h=4, layers=2, ctx=16):
        super().__init__()
        self.tok, self.pos, self.typ = nn.Embedding(vocab, d), nn.Embedding(ctx, d), nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d)
        self.blocks = nn.ModuleList(Block(d, h, False) for _ in range(layers))
        self.pool = nn.Linear(d, d)

    def forward(self, ids, types, attention_mask):
        x = self.ln(self.tok(ids) + self.pos.weight[: ids.shape[1]] + self.typ(types))
        mask = (1.0 - attention_mask[:, None, None, :]) * -10000.0
        for b in self.blocks:
            x = b(x, mask)
        return x, torch.tanh(self.pool(x[:, 0]))


class LSTMLM(nn.Module):
    def __init__(self, vocab=40, d=16, hidden=24):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, ids):
        y, (h, c) = self.lstm(self.emb(ids))
        return F.log_softmax(self.out(y), dim=-1) if False else self.out(y), h, c


def text_model(name):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    if name == "gpt2_tiny":
        return TinyGPT().eval(), [torch.randint(0, 50, (2, 12), generator=g)]
    if name == "bert_tiny":
        am = torch.ones(2, 10)
        am[1, 7:] = 0
        return TinyBERT().eval(), [torch.randint(0, 60, (2, 10), generator=g), torch.randint(0, 2, (2, 10), generator=g), am]
    return LSTMLM().eval(), [torch.randint(0, 40, (2, 9), generator=g)]


OTHER_FAMILIES = re.compile(r"aten::(hardswish|hardsigmoid|masked_fill|new_zeros|new_ones|ones|full|zeros_like|"
                            r"ones_like|arange|div)\b|rounding_mode")


# EfficientNet-B0 with calibrated statistics reaches activations ~60: fp16 compute through 16 MBConv
# blocks with squeeze-excitation drifts ~2 % (fp32 matches to 1e-5). Looser bound, to be investigated.
FP16_TOL = {"efficientnet_b0": 5e-2}


@functools.lru_cache(maxsize=3)
def traced(kind, name):
    """(traced model, inputs, torch's outputs) of a model, shared by its fp32 and fp16 tests (tracing
    and the first TorchScript run cost more than a conversion)."""
    if kind == "vision":
        make, size, _ = VISION[name]
        torch.manual_seed(0)
        model = make().eval()
        inputs = [torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))]
    else:
        model, inputs = text_model(name)
    with torch.no_grad():
        tr = torch.jit.trace(model, tuple(inputs), check_trace=False)
    return tr, inputs, torch_outputs(tr, inputs)


def convert_and_compare(kind, name, precision, tol=None):
    tr, inputs, refs = traced(kind, name)
    try:
        t0 = time.time()
        _, err = check_parity(tr, inputs, precision=precision, tol=tol, check_coremltools=CHECK_COREMLTOOLS, refs=refs)
    except ct.ConversionError as e:
        missing = str(e)
        if OTHER_FAMILIES.search(missing) and ("cannot be converted" in missing or "rounding_mode" in missing):
            pytest.xfail("needs ops of another family: " + " ".join(sorted(set(OTHER_FAMILIES.findall(missing)))))
        raise
    print(f"{precision}: max error {err:.2e} x scale ({time.time() - t0:.1f} s)")
    return err


RUN_SLOW = os.environ.get("PT2COREML_SLOW") == "1"
slow = pytest.mark.skipif(not RUN_SLOW, reason="slow model (run with PT2COREML_SLOW=1)")


def vision_params():
    for name, (_, _, is_slow) in VISION.items():
        for prec in ("fp32", "fp16"):
            marks = [slow] if is_slow else []
            yield pytest.param(name, prec, marks=marks, id=f"{name}-{prec}")


@pytest.mark.parametrize("name,precision", list(vision_params()))
def test_vision_model(name, precision):
    convert_and_compare("vision", name, precision, tol=FP16_TOL.get(name) if precision == "fp16" else None)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", ["gpt2_tiny", "bert_tiny", "lstm_lm"])
def test_text_model(name, precision):
    if name == "gpt2_tiny":
        need_torch2("F.scaled_dot_product_attention in its attention")
    convert_and_compare("text", name, precision)
