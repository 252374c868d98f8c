"""Sweep: F.unfold (aten::im2col) and F.fold (aten::col2im) against PyTorch over kernel sizes (square and
rectangular), strides, paddings, dilations and input sizes (odd, even, rectangular; batched and not), fp32
and fp16. One converted model per kernel size and precision computes every geometry (the fold inputs are
cut from one flat input). Plus the regression: a VOLO-style outlook attention block (unfold of the values,
attention from the pooled input, fold back to (H, W) with kernel 3, padding 1, stride 2, sizes from
x.shape arithmetic), written here after timm's OutlookAttention."""
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import pt2coreml as ct
from cov_common import Fn, run
from parity import compare

KERNELS = [1, 2, 3, (2, 3), (3, 1)]
STRIDES = [1, 2, 3, (2, 1)]
PADDINGS = [0, 1, (2, 0)]
DILATIONS = [1, 2, (1, 3)]
SIZES = [(7, 7), (8, 6), (5, 9)]
C = 2


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


def blocks(size, k, d, p, s):
    span = size + 2 * p - d * (k - 1) - 1
    return span // s + 1 if span >= 0 else 0


def geometries(kernel):
    """(size, stride, padding, dilation, batched, L) for every combination whose kernel fits."""
    out = []
    for n, (size, s, p, d) in enumerate(itertools.product(SIZES, STRIDES, PADDINGS, DILATIONS)):
        k = pair(kernel)
        nb = [blocks(size[a], k[a], pair(d)[a], pair(p)[a], pair(s)[a]) for a in range(2)]
        if min(nb) < 1 or any(pair(p)[a] > k[a] * pair(d)[a] for a in range(2)):
            continue
        out.append((size, s, p, d, n % 2 == 0, nb[0] * nb[1]))
    return out


def fold_model(kernel):
    geos = geometries(kernel)
    K = pair(kernel)[0] * pair(kernel)[1]
    lens = [C * K * L for *_, L in geos]

    def fn(x, flat):
        outs, at = [], 0
        for (size, s, p, d, batched, L), n in zip(geos, lens):
            xi = x[..., :size[0], :size[1]]
            u = flat[at:at + n].reshape(1, C * K, L)
            at += n
            if not batched:
                xi, u = xi[0], u[0]
            outs.append(F.unfold(xi, kernel, d, p, s))
            outs.append(F.fold(u, size, kernel, d, p, s))
        return tuple(outs)
    return fn, sum(lens), geos


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("kernel", KERNELS, ids=str)
def test_fold_unfold_sweep(kernel, precision):
    fn, n, geos = fold_model(kernel)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, C, 8, 9, generator=g)
    flat = torch.randn(n, generator=g)
    sm = torch.jit.trace(Fn(fn).eval(), (x, flat), check_trace=False)
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    ml = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=x.shape), ct.TensorType(name="flat", shape=flat.shape)],
                    compute_precision=prec)
    outs = ml.predict({"x": x.numpy(), "flat": flat.numpy()})
    refs = fn(x, flat)
    names = [o["name"] for o in ml._desc["outputs"]]
    bad = []
    for i, (name, ref) in enumerate(zip(names, refs)):
        size, s, p, d, batched, _ = geos[i // 2]
        what = f"{'unfold' if i % 2 == 0 else 'fold'}(size={size}, kernel={kernel}, stride={s}, padding={p}, " \
               f"dilation={d}, batched={batched})"
        try:
            compare(what, outs[name], ref.numpy(), {"fp32": 1e-5, "fp16": 1e-2}[precision])
        except AssertionError as e:
            bad.append(str(e))
    assert not bad, f"{len(bad)} of {len(refs)} differ:\n" + "\n".join(bad[:8])


class OutlookAttention(nn.Module):
    """VOLO's outlook attention (after timm's OutlookAttention): x [B, H, W, C] -> [B, H, W, C]."""

    def __init__(self, dim, num_heads, kernel_size=3, padding=1, stride=2):
        super().__init__()
        self.num_heads, self.kernel_size, self.padding, self.stride = num_heads, kernel_size, padding, stride
        self.scale = (dim // num_heads) ** -0.5
        self.v = nn.Linear(dim, dim, bias=False)
        self.attn = nn.Linear(dim, kernel_size ** 4 * num_heads)
        self.proj = nn.Linear(dim, dim)
        self.unfold = nn.Unfold(kernel_size=kernel_size, padding=padding, stride=stride)
        self.pool = nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True)

    def forward(self, x):
        B, H, W, C = x.shape
        v = self.v(x).permute(0, 3, 1, 2)
        h, w = math.ceil(H / self.stride), math.ceil(W / self.stride)
        k2 = self.kernel_size * self.kernel_size
        v = self.unfold(v).reshape(B, self.num_heads, C // self.num_heads, k2, h * w).permute(0, 1, 4, 3, 2)
        attn = self.pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        attn = self.attn(attn).reshape(B, h * w, self.num_heads, k2, k2).permute(0, 2, 1, 3, 4)
        attn = (attn * self.scale).softmax(dim=-1)
        x = (attn @ v).permute(0, 1, 4, 3, 2).reshape(B, C * k2, h * w)
        x = F.fold(x, output_size=(H, W), kernel_size=self.kernel_size, padding=self.padding, stride=self.stride)
        return self.proj(x.permute(0, 2, 3, 1))


class OutlookBlock(nn.Module):
    """A VOLO stage-1 block: x + outlook(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), OutlookAttention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


@pytest.mark.parametrize("size", [8, 7, 6])
def test_outlook_attention(size):
    """Even sizes used to lose the fold's last row and column (error 0.2 of the output's scale)."""
    torch.manual_seed(0)
    run(OutlookBlock(), [torch.randn(2, size, size, 16)])


def test_outlook_attention_fp16():
    torch.manual_seed(1)
    run(OutlookBlock(), [torch.randn(1, 8, 8, 16)], precision="fp16")
