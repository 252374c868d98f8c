"""Whole models (random weights, fixed seeds, small inputs): torchvision classifiers and
segmentation networks, and our own small GPT-2-style decoder, BERT-style encoder and LSTM language model,
converted and compared with PyTorch in fp32 and fp16 through the reference runtime. Every random vision
model is first checked to be a fair fp16 parity subject (models_common.check_regime); the ones that are
not with torchvision's init get their batch norm re-estimated and damped (models_common.init_batch_norm)."""
import functools
import math
import time

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from lower_common import CHECK_COREMLTOOLS
from models_common import check_regime, init_batch_norm
from parity import check_parity, need_torch2, torch_outputs

tv = torchvision.models
seg = torchvision.models.segmentation


def _random_head(m):
    nn.init.normal_(m.heads.head.weight, std=0.02)  # torchvision starts ViT's head at zero
    return m


class OutOnly(nn.Module):
    """torchvision's segmentation models return a dict ({"out": ...}); Core ML outputs are tensors."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


# name: (constructor, input size, batch norm gain or None). None keeps torchvision's init and BatchNorm's
# default statistics (those models pass check_regime as they are). A gain re-estimates the statistics and
# damps them (init_batch_norm); these models are degenerate without it and chaotic with gain 1. Each gain
# comes from a scan of 1, 0.95, 0.9, ...: the largest that leaves room under check_regime's bound (fp16
# input rounding ~1e-4 x scale, PyTorch's own fp16 model within ~2e-3) while the output still moves by
# several percent between inputs.
VISION_MODELS = {
    "resnet18": (lambda: tv.resnet18(), 64, None),
    "resnet50": (lambda: tv.resnet50(), 64, None),
    "mobilenet_v2": (lambda: tv.mobilenet_v2(), 64, 0.85),
    "mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(), 64, 0.9),
    "mobilenet_v3_large": (lambda: tv.mobilenet_v3_large(), 64, 0.9),
    "efficientnet_b0": (lambda: tv.efficientnet_b0(), 64, 0.95),
    "squeezenet1_1": (lambda: tv.squeezenet1_1(), 64, None),
    "shufflenet_v2_x1_0": (lambda: tv.shufflenet_v2_x1_0(), 64, 0.85),
    "densenet121": (lambda: tv.densenet121(), 64, None),
    "regnet_y_400mf": (lambda: tv.regnet_y_400mf(), 64, None),
    "convnext_tiny": (lambda: tv.convnext_tiny(), 64, None),
    "vit_b_16": (lambda: _random_head(tv.vit_b_16(image_size=32)), 32, None),
    "swin_t": (lambda: tv.swin_t(), 64, None),
    "googlenet": (lambda: tv.googlenet(aux_logits=False, init_weights=False), 64, 0.8),
    "inception_v3": (lambda: tv.inception_v3(aux_logits=False, init_weights=False), 80, 0.75),
    "fcn_resnet50": (lambda: OutOnly(seg.fcn_resnet50(weights_backbone=None, aux_loss=False)), 64, None),
    "deeplabv3_resnet50": (lambda: OutOnly(seg.deeplabv3_resnet50(weights_backbone=None, aux_loss=False)), 64, None),
    "lraspp_mobilenet_v3_large": (lambda: OutOnly(seg.lraspp_mobilenet_v3_large(weights_backbone=None)), 64, 0.8),
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
        x = self.wte(ids) + self.wpe.weight[: ids.shape[1]]
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
        return self.out(y), h, c


def _bert_inputs(g):
    am = torch.ones(2, 10)
    am[1, 7:] = 0
    return [torch.randint(0, 60, (2, 10), generator=g), torch.randint(0, 2, (2, 10), generator=g), am]


# name: (constructor, inputs from a generator)
TEXT_MODELS = {
    "gpt2_tiny": (lambda: TinyGPT(), lambda g: [torch.randint(0, 50, (2, 12), generator=g)]),
    "bert_tiny": (lambda: TinyBERT(), _bert_inputs),
    "lstm_lm": (lambda: LSTMLM(), lambda g: [torch.randint(0, 40, (2, 9), generator=g)]),
}


def convert_and_compare(traced, inputs, precision, refs=None):
    t0 = time.time()
    _, err = check_parity(traced, inputs, precision=precision, check_coremltools=CHECK_COREMLTOOLS, refs=refs)
    print(f"{precision}: max error {err:.2e} x scale ({time.time() - t0:.1f} s)")
    return err


@functools.lru_cache(maxsize=1)  # the fp32 and fp16 cases of a model run one after the other, on one PyTorch run
def vision_subject(name):
    make, size, gain = VISION_MODELS[name]
    torch.manual_seed(0)
    m = make().eval()
    if gain is not None:
        init_batch_norm(m, size, gain)
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    sens, floor = check_regime(m, x)
    with torch.no_grad():
        traced = torch.jit.trace(m, (x,), check_trace=False)
    return traced, x, sens, floor, torch_outputs(traced, [x])


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", list(VISION_MODELS))
def test_vision_model(name, precision):
    traced, x, sens, floor, refs = vision_subject(name)
    print(f"{name}: another input moves the output {sens:.2e}, fp16 input rounding {floor:.2e} (x scale)")
    convert_and_compare(traced, [x], precision, refs)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", list(TEXT_MODELS))
def test_text_model(name, precision):
    if name == "gpt2_tiny":
        need_torch2("F.scaled_dot_product_attention in its attention")
    make, inputs = TEXT_MODELS[name]
    torch.manual_seed(0)
    m = make().eval()
    x = inputs(torch.Generator().manual_seed(1))
    with torch.no_grad():
        traced = torch.jit.trace(m, tuple(x), check_trace=False)
    convert_and_compare(traced, x, precision)
