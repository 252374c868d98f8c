"""Conversion speed and memory, side by side in one run: pt2coreml vs coremltools vs the I/O floor.

Each measurement runs in a fresh subprocess: the model is built and traced (not timed), then the timed
region runs convert + save while a thread samples RSS every millisecond. Peak memory is reported above the
RSS right before the timed region (torch's baseline: model + traced module). The I/O floor writes
the same weights as fp16 with numpy (`w.astype(np.float16).tofile(f)`).

    .venv/bin/python benchmarks/convert_bench.py [--models resnet50 deeplabv3_resnet101] [--repeat 3]
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
from _proc import rss_kb as _rss_kb  # noqa: E402

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


class _PeakSampler:
    """Samples VmRSS every millisecond in a thread: the peak of the timed region. (Resetting the
    kernel's VmHWM through /proc/self/clear_refs does not work in every container.)"""

    def __init__(self):
        import threading
        self.peak = _rss_kb("VmRSS")
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
        with open("/proc/self/statm") as f:
            while not self._stop.is_set():
                f.seek(0)
                self.peak = max(self.peak, int(f.read().split()[1]) * page_kb)
                self._stop.wait(0.001)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


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


def run_one(tool, name):
    import warnings
    warnings.filterwarnings("ignore")
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
    elif tool == "coremltools":
        import coremltools as ct
    import gc
    gc.collect()
    base = _rss_kb("VmRSS")
    with _PeakSampler() as sampler:
        t0 = time.perf_counter()
        if tool == "io_floor":
            with open(os.path.join(tmp, "w.bin"), "wb") as f:
                for w in weights:
                    w.astype(np.float16).tofile(f)
        else:
            ml = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, size, size))])
            ml.save(out)
        dt = time.perf_counter() - t0
    peak = sampler.peak
    shutil.rmtree(tmp, ignore_errors=True)
    return {"tool": tool, "model": name, "seconds": dt, "peak_above_base_mb": (peak - base) / 1024,
            "weights_mb": wbytes / 2**20}


def measure(tool, name, repeat):
    best = None
    for _ in range(repeat):
        r = subprocess.run([sys.executable, __file__, "--one", tool, name], capture_output=True, text=True)
        if r.returncode != 0:
            return {"tool": tool, "model": name, "error": r.stderr.strip().splitlines()[-1:]}
        res = json.loads(r.stdout.strip().splitlines()[-1])
        if best is None or res["seconds"] < best["seconds"]:
            best = res
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=["resnet50", "deeplabv3_resnet101"])
    ap.add_argument("--tools", nargs="*", default=["io_floor", "pt2coreml", "coremltools"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--one", nargs=2)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(*a.one)))
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
