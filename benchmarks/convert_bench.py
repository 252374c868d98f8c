"""Conversion speed and memory, side by side in one run: pt2coreml vs coremltools vs the I/O floor.

Each measurement runs in a fresh subprocess: the model is built and traced (not timed), then the timed
region runs convert + save while a thread samples RSS every millisecond. Peak memory is reported above the
RSS right before the timed region (torch's baseline: model + traced module). The I/O floor writes
the same weights as fp16 with numpy (`w.astype(np.float16).tofile(f)`).

    .venv/bin/python benchmarks/convert_bench.py [--models resnet50 deeplabv3_resnet101] [--repeat 3]

Two source trees side by side (before / after a change), pt2coreml only, runs interleaved so that load on the
machine weighs on both alike; the ratio is B / A of the best times:

    .venv/bin/python benchmarks/convert_bench.py --trees /path/to/A /path/to/B --models resnet50 --repeat 3

--inner K repeats the timed region K times in each subprocess and keeps the best (less noise on a busy machine).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
from _proc import PeakSampler as _PeakSampler, rss_kb as _rss_kb  # noqa: E402

MODELS = {
    "resnet18": (224, lambda tv: tv.models.resnet18(weights=None)),
    "resnet50": (224, lambda tv: tv.models.resnet50(weights=None)),
    "mobilenet_v2": (224, lambda tv: tv.models.mobilenet_v2(weights=None)),
    "deeplabv3_resnet101": (448, lambda tv: _SegWrap(tv.models.segmentation.deeplabv3_resnet101(
        weights=None, weights_backbone=None))),
}


class _SegWrap:  # replaced by a real nn.Module subclass in build(); kept simple for pickling-free use
    def __init__(self, m):
        self.m = m


def build(name):
    import torch
    import torchvision
    torch.manual_seed(0)
    size, make = MODELS[name]
    m = make(torchvision)
    if isinstance(m, _SegWrap):
        inner = m.m

        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = inner

            def forward(self, x):
                return self.m(x)["out"]
        m = Wrapped()
    m = m.eval()
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        traced = torch.jit.trace(m, x)
    return m, traced, size


def run_one(tool, name, tree=None, inner=1):
    import warnings
    warnings.filterwarnings("ignore")
    if tree:  # pt2coreml from that tree's python/ (built in place)
        sys.path.insert(0, os.path.join(os.path.abspath(tree), "python"))
    import numpy as np
    import torch
    torch.set_num_threads(2)
    model, traced, size = build(name)
    weights = [p.detach().numpy() for p in model.state_dict().values() if p.dtype == torch.float32]
    wbytes = sum(w.nbytes for w in weights)
    tmp = tempfile.mkdtemp(prefix="bench-")
    out = os.path.join(tmp, "m.mlpackage")
    if tool == "pt2coreml":
        import pt2coreml as ct
        if tree and not os.path.realpath(ct.__file__).startswith(os.path.realpath(tree) + os.sep):
            raise SystemExit(f"pt2coreml imported from {ct.__file__}, not from {tree}")
    elif tool == "coremltools":
        import coremltools as ct
    import gc
    dt = cpu = peak = base = None
    for i in range(inner):  # the best of `inner` timed regions; the peak memory of the first
        gc.collect()
        if i == 0:
            base = _rss_kb("VmRSS")
        with _PeakSampler() as sampler:
            c0 = time.process_time()
            t0 = time.perf_counter()
            if tool == "io_floor":
                with open(os.path.join(tmp, "w.bin"), "wb") as f:
                    for w in weights:
                        w.astype(np.float16).tofile(f)
            else:
                ml = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, size, size))])
                ml.save(out)
                del ml
            d, c = time.perf_counter() - t0, time.process_time() - c0
        dt, cpu = (d, c) if dt is None else (min(dt, d), min(cpu, c))
        if i == 0:
            peak = sampler.peak
        shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return {"tool": tool, "model": name, "seconds": dt, "cpu_seconds": cpu, "peak_above_base_mb": (peak - base) / 1024,
            "weights_mb": wbytes / 2**20}


def measure_once(tool, name, tree=None, inner=1):
    cmd = [sys.executable, __file__, "--one", tool, name, "--inner", str(inner)] + (["--tree", tree] if tree else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"tool": tool, "model": name, "error": r.stderr.strip().splitlines()[-1:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(tool, name, repeat):
    best = None
    for _ in range(repeat):
        res = measure_once(tool, name)
        if "error" in res:
            return res
        if best is None or res["seconds"] < best["seconds"]:
            best = res
    return best


def compare_trees(trees, models, repeat, inner=1):
    """pt2coreml of each tree, runs interleaved (A B A B ...); per tree the best wall and CPU time of the timed
    region (CPU time suffers less from a loaded machine), and B / A of each."""
    print(f"{'model':22s} {'tree':32s} {'wall s':>8s} {'cpu s':>8s}  all runs wall / cpu (s)")
    for name in models:
        wall = {t: [] for t in trees}
        cpu = {t: [] for t in trees}
        for _ in range(repeat):
            for t in trees:
                res = measure_once("pt2coreml", name, t, inner)
                if "error" in res:
                    print(f"{name:22s} {t:32s} error: {res['error']}")
                    return
                wall[t].append(res["seconds"])
                cpu[t].append(res["cpu_seconds"])
        for t in trees:
            runs = " ".join(f"{w:.3f}/{c:.3f}" for w, c in zip(wall[t], cpu[t]))
            print(f"{name:22s} {t:32s} {min(wall[t]):8.3f} {min(cpu[t]):8.3f}  {runs}")
        a = trees[0]
        for t in trees[1:]:
            print(f"{name:22s} ratio {t} / {a}: wall {min(wall[t]) / min(wall[a]):.3f}, "
                  f"cpu {min(cpu[t]) / min(cpu[a]):.3f} (best of {repeat} x {inner})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=["resnet50", "deeplabv3_resnet101"])
    ap.add_argument("--tools", nargs="*", default=["io_floor", "pt2coreml", "coremltools"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trees", nargs="+", help="compare pt2coreml of these source trees (the first is the baseline)")
    ap.add_argument("--one", nargs=2)
    ap.add_argument("--inner", type=int, default=1, help="timed regions per subprocess (the best is kept)")
    ap.add_argument("--tree", help=argparse.SUPPRESS)  # with --one: pt2coreml from this tree
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(*a.one, tree=a.tree, inner=a.inner)))
        return
    if a.trees:
        if len(a.trees) < 2:
            ap.error("--trees needs at least two trees")
        compare_trees(a.trees, a.models, a.repeat, a.inner)
        return
    print(f"{'model':22s} {'tool':12s} {'seconds':>8s} {'peak MB':>8s} {'vs floor':>9s} {'ct / us':>8s}")
    for name in a.models:
        res = {t: measure(t, name, a.repeat if t != "coremltools" else 1) for t in a.tools}
        floor = res.get("io_floor", {}).get("seconds")
        ours = res.get("pt2coreml", {}).get("seconds")
        for t, r in res.items():
            if "error" in r:
                print(f"{name:22s} {t:12s} error: {r['error']}")
                continue
            vs = f"{r['seconds'] / floor:8.2f}x" if floor else ""
            ct_us = f"{r['seconds'] / ours:7.1f}x" if (ours and t == "coremltools") else ""
            print(f"{name:22s} {t:12s} {r['seconds']:8.3f} {r['peak_above_base_mb']:8.1f} {vs:>9s} {ct_us:>8s}"
                  f"   (weights {r['weights_mb']:.0f} MB fp32)")


if __name__ == "__main__":
    main()
