"""A GPT-2-medium-sized .pt2 (torch.export.save) converted side by side: pt2coreml from the archive, without
torch in the process, vs coremltools from the ExportedProgram (ct.convert(ep)).

The parent builds the model (random init, fixed seed: --model plain, the default, a plain torch decoder of GPT-2 medium's size
(24 layers of width 1024, 16 heads, tied embedding and head: about 355M parameters), or --model gpt2,
transformers' GPT2LMHeadModel with n_embd=1024, n_layer=24, n_head=16, which coremltools 9 does not convert
(its exported program has aten.diff)),
exports it at a fixed sequence length (ATen dialect: run_decompositions({}), which coremltools asks for) and
saves it as .pt2 in a temp dir. Each tool then runs in a fresh
subprocess, convert + save timed, its RSS sampled every millisecond (and the kernel's VmHWM read at the
end): the peak is the whole process's, imports included, so pt2coreml's must stay below the weights' fp32
size. coremltools' process loads the archive first (torch.export.load, not timed: the ep a user of
ct.convert(ep) already holds); its peak counts that too, and is also given above the RSS after loading.

    nice .venv/bin/python benchmarks/export_bench.py [--model plain|gpt2] [--layers 24] [--width 1024]
        [--tools pt2coreml coremltools]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from _proc import PeakSampler as _PeakSampler, rss_kb as _status_kb

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "..", "python")


# ---- the child processes ----

def child_pt2coreml(path, out):
    class NoTorch:  # the archive path must not need torch: fail loudly if anything imports it
        def find_spec(self, name, *a, **k):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this process")
    sys.meta_path.insert(0, NoTorch())
    sys.path.insert(0, PKG)
    with _PeakSampler() as s:
        import pt2coreml as ct
        t0 = time.perf_counter()
        ml = ct.convert(path, verbose=False)
        t1 = time.perf_counter()
        ml.save(out)
        t2 = time.perf_counter()
    return {"convert_s": t1 - t0, "save_s": t2 - t1, "peak_mb": max(s.peak, _status_kb("VmHWM")) / 1024,
            "torch_loaded": "torch" in sys.modules}


def child_coremltools(path, out):
    import warnings
    warnings.filterwarnings("ignore")
    with _PeakSampler() as s:
        import coremltools as ct
        import torch
        torch.set_num_threads(2)
        ep = torch.export.load(path)
        base = _status_kb("VmRSS")
        t0 = time.perf_counter()
        ml = ct.convert(ep, minimum_deployment_target=ct.target.iOS16)
        t1 = time.perf_counter()
        ml.save(out)
        t2 = time.perf_counter()
    peak = max(s.peak, _status_kb("VmHWM"))
    return {"convert_s": t1 - t0, "save_s": t2 - t1, "peak_mb": peak / 1024, "peak_above_loaded_mb": (peak - base) / 1024}


# ---- the parent ----

def build(kind, layers, width, seq):
    import torch
    torch.manual_seed(0)
    if kind == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel
        cfg = GPT2Config(n_embd=width, n_layer=layers, n_head=width // 64, n_positions=1024, use_cache=False)
        model = GPT2LMHeadModel(cfg).eval()

        class Logits(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = model

            def forward(self, ids):
                return self.m(input_ids=ids, use_cache=False, return_dict=False)[0]
        m = Logits().eval()
    else:
        m = PlainDecoder(layers, width).eval()
    ids = torch.randint(0, 50257, (1, seq))
    with torch.no_grad():  # ATen dialect: coremltools converts no other (run_decompositions({}) keeps the ops)
        ep = torch.export.export(m, (ids,)).run_decompositions({})
    uniq = {t.untyped_storage().data_ptr(): t for t in list(ep.state_dict.values()) +
            [c for c in ep.constants.values() if hasattr(c, "numel")]}.values()
    return ep, sum(t.numel() for t in uniq), sum(t.numel() * 4 for t in uniq)


def PlainDecoder(layers, width, vocab=50257, seq_max=1024):  # noqa: N802 - a module factory
    import torch
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
            self.heads = width // 64

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
            q, k, v = (z.view(b, t, self.heads, 64).transpose(1, 2) for z in (q, k, v))
            a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(a.transpose(1, 2).reshape(b, t, c))
            return x + self.out(torch.nn.functional.gelu(self.fc(self.ln2(x))))

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(seq_max, width)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln = nn.LayerNorm(width)
            self.head = nn.Linear(width, vocab, bias=False)
            self.head.weight = self.wte.weight  # tied, as GPT-2's (the archive stores it once, two names)

        def forward(self, ids):
            x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln(x))
    return Decoder()


def run_child(tool, path, tmp):
    out = os.path.join(tmp, tool + ".mlpackage")
    t0 = time.perf_counter()
    r = subprocess.run(["nice", sys.executable, __file__, "--child", tool, path, out], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1][:400]}
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["wall_s"] = wall
    shutil.rmtree(out, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["gpt2", "plain"], default="plain")
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--tools", nargs="*", default=["pt2coreml", "coremltools"])
    ap.add_argument("--child", nargs=3)
    a = ap.parse_args()
    if a.child:
        tool, path, out = a.child
        res = child_pt2coreml(path, out) if tool == "pt2coreml" else child_coremltools(path, out)
        print(json.dumps(res))
        return
    tmp = tempfile.mkdtemp(prefix="export-bench-")
    try:
        import torch
        t0 = time.perf_counter()
        ep, params, wbytes = build(a.model, a.layers, a.width, a.seq)
        path = os.path.join(tmp, "model.pt2")
        torch.export.save(ep, path)
        print(f"{a.model}: {a.layers} layers, width {a.width}, {params / 1e6:.0f}M parameters, weights "
              f"{wbytes / 2**20:.0f} MB fp32, archive {os.path.getsize(path) / 2**20:.0f} MB "
              f"(built, exported and saved in {time.perf_counter() - t0:.0f} s)")
        del ep
        res = {t: run_child(t, path, tmp) for t in a.tools}
        print(f"{'tool':12s} {'convert s':>9s} {'save s':>7s} {'wall s':>7s} {'peak RSS MB':>11s}  notes")
        for t, r in res.items():
            if "error" in r:
                print(f"{t:12s} error: {r['error']}")
                continue
            note = ""
            if t == "pt2coreml":
                note = (f"peak {'below' if r['peak_mb'] * 2**20 < wbytes else 'ABOVE'} the weights' fp32 size; "
                        f"torch loaded: {r['torch_loaded']}")
            if t == "coremltools":
                note = f"{r['peak_above_loaded_mb']:.0f} MB above the loaded program"
            print(f"{t:12s} {r['convert_s']:9.1f} {r['save_s']:7.1f} {r['wall_s']:7.1f} {r['peak_mb']:11.0f}  {note}")
        ours, theirs = res.get("pt2coreml", {}), res.get("coremltools", {})
        if "convert_s" in ours and "convert_s" in theirs:
            tot = lambda r: r["convert_s"] + r["save_s"]  # noqa: E731
            print(f"coremltools / pt2coreml: convert+save time {tot(theirs) / tot(ours):.1f}x, "
                  f"wall {theirs['wall_s'] / ours['wall_s']:.1f}x, peak RSS {theirs['peak_mb'] / ours['peak_mb']:.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
