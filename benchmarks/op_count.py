"""Program size, side by side in one run: the number of MIL ops (consts excluded) pt2coreml and coremltools
write for the same traced models, as a ratio (ours / coremltools'; lower is better).

    .venv/bin/python benchmarks/op_count.py [--models resnet18 lstm_lm ...]

Both convert with fp32 compute (no casts) for ML Program iOS15. A model coremltools cannot convert is
listed with its error; the ratio is then not defined.
"""
import argparse
import collections
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402


class LSTMLM(torch.nn.Module):
    """The word-level LSTM language model of PyTorch's examples: embedding, 2-layer LSTM, decoder."""

    def __init__(self, vocab=1000, emb=64, hid=64):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, emb)
        self.rnn = torch.nn.LSTM(emb, hid, num_layers=2)
        self.dec = torch.nn.Linear(hid, vocab)

    def forward(self, ids):
        return self.dec(self.rnn(self.emb(ids))[0])


class Logits(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, ids):
        return self.m(ids)[0]


def _tv(name):
    import torchvision
    return getattr(torchvision.models, name)(weights=None), torch.randn(1, 3, 224, 224)


def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=512, torchscript=True)
    return Logits(GPT2LMHeadModel(cfg)), torch.randint(0, 512, (1, 16))


def _bert():
    from transformers import BertConfig, BertModel
    cfg = BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                     vocab_size=512, torchscript=True)
    return Logits(BertModel(cfg)), torch.randint(0, 512, (1, 16))


MODELS = {
    "resnet18": lambda: _tv("resnet18"),
    "mobilenet_v2": lambda: _tv("mobilenet_v2"),
    "mobilenet_v3_small": lambda: _tv("mobilenet_v3_small"),
    "efficientnet_b0": lambda: _tv("efficientnet_b0"),
    "lstm_lm": lambda: (LSTMLM(), torch.randint(0, 1000, (35, 1))),
    "gpt2_2layer": _gpt2,
    "bert_2layer": _bert,
}


def _count_ours(traced, x):
    import pt2coreml as ct
    dt = np.int32 if x.dtype == torch.int64 else np.float32
    ml = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=tuple(x.shape), dtype=dt)],
                    compute_precision=ct.precision.FLOAT32)
    return sum(v for k, v in ml.op_histogram().items() if k != "const")


def _count_coremltools(traced, x):
    import coremltools as cml
    dt = np.int32 if x.dtype == torch.int64 else np.float32
    ml = cml.convert(traced, inputs=[cml.TensorType(name="x", shape=tuple(x.shape), dtype=dt)],
                     convert_to="mlprogram", compute_precision=cml.precision.FLOAT32,
                     minimum_deployment_target=cml.target.iOS15, skip_model_load=True)
    ops = collections.Counter()
    for op in ml._mil_program.functions["main"].operations:
        ops[op.op_type] += 1
    return sum(v for k, v in ops.items() if k != "const")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    print(f"{'model':22s} {'ours':>6s} {'coremltools':>12s} {'ratio':>6s}")
    for name in a.models:
        torch.manual_seed(0)
        model, x = MODELS[name]()
        traced = torch.jit.trace(model.eval(), (x,), check_trace=False)
        ours = _count_ours(traced, x)
        try:
            theirs = _count_coremltools(traced, x)
            ratio = f"{ours / theirs:6.2f}"
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            theirs, ratio = f"failed: {type(e).__name__}", "-"
        print(f"{name:22s} {ours:6d} {str(theirs):>12s} {ratio:>6s}", flush=True)


if __name__ == "__main__":
    main()
