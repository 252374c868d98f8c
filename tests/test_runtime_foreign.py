"""Models another tool wrote: coremltools 9 converts whole networks (its own op
choices, passes, fp16 casts and blob layout), we load the saved .mlpackage with
pt2coreml.models.MLModel and predict on Linux, and the result matches PyTorch.
Skipped when coremltools is not importable (it is a test reference only)."""
import numpy as np
import pytest
import torch

import pt2coreml as ct
from _ser_models import ct as reference_ct
from models_common import check_regime, init_batch_norm

pytest.importorskip("coremltools")


def _resnet18():
    import torchvision
    return torchvision.models.resnet18(weights=None)


def _mobilenet_v2():
    import torchvision
    return torchvision.models.mobilenet_v2(weights=None)


class _Encoder(torch.nn.Module):
    """Embedding, one attention block written out (as in GPT/BERT code), GELU MLP, head."""

    def __init__(self, vocab=50, d=32, heads=4, t=7):
        super().__init__()
        self.heads, self.d, self.t = heads, d, t  # fixed sizes: coremltools 9 fails on traced x.shape unpacking
        self.emb = torch.nn.Embedding(vocab, d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.ln1 = torch.nn.LayerNorm(d)
        self.ln2 = torch.nn.LayerNorm(d)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(d, 2 * d), torch.nn.GELU(), torch.nn.Linear(2 * d, d))
        self.head = torch.nn.Linear(d, vocab)

    def forward(self, ids):
        x = self.emb(ids)
        b, t, d = 1, self.t, self.d
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / (d // self.heads) ** 0.5
        att = att.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf")).softmax(-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, d))
        return self.head(x + self.mlp(self.ln2(x)))


MODELS = {  # name: (builder, input, batch-norm gain or None, fp32 tolerance, fp16 tolerance) relative to the output scale
    "resnet18": (_resnet18, lambda: torch.rand(1, 3, 64, 64), None, 1e-4, 1e-2),
    "mobilenet_v2": (_mobilenet_v2, lambda: torch.rand(1, 3, 64, 64), 0.85, 1e-4, 1e-2),
    "encoder": (_Encoder, lambda: torch.randint(0, 50, (1, 7)), None, 1e-4, 1e-2),
}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_coremltools_package_runs_in_our_runtime(name, precision, tmp_path):
    build, make_x, gain, tol32, tol16 = MODELS[name]
    torch.manual_seed(0)
    model = build().eval()
    x = make_x()
    if name != "encoder":  # a random network whose output depends on its input, and not chaotically
        if gain is not None:
            init_batch_norm(model, x.shape[-1], gain)
        check_regime(model, x)
    with torch.no_grad():
        ref = model(x).numpy()
    traced = torch.jit.trace(model, x)
    c = reference_ct()
    prec = c.precision.FLOAT16 if precision == "fp16" else c.precision.FLOAT32
    dtype = np.int32 if x.dtype == torch.int64 else np.float32
    mm = c.convert(traced, inputs=[c.TensorType(name="x", shape=x.shape, dtype=dtype)], convert_to="mlprogram",
                   compute_precision=prec, minimum_deployment_target=c.target.iOS16)
    path = str(tmp_path / f"{name}.mlpackage")
    mm.save(path)
    ours = ct.models.MLModel(path)
    (out,) = ours.predict({"x": x.numpy().astype(dtype)}).values()
    assert out.shape == ref.shape
    err = float(np.abs(out.astype(np.float64) - ref).max()) / max(float(np.abs(ref).max()), 1e-6)
    assert err <= (tol16 if precision == "fp16" else tol32), f"{name} {precision}: relative error {err:.2e}"
