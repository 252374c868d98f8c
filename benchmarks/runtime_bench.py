"""Predict latency and memory of the reference runtime vs PyTorch CPU eager, whole models.

    PYTHONPATH=python .venv/bin/python benchmarks/runtime_bench.py [--models resnet50 mobilenet_v2]
        [--threads 1 2] [--precisions fp32 fp16] [--runs 4] [--blocks 6]

Every configuration (model, precision, threads) runs in a fresh subprocess so runs do not share
allocator state, thread pools or caches. In it: torchvision model with random weights
(weights=None, torch.manual_seed(0)), traced, converted with pt2coreml (compute_precision fp32 or
fp16), then, with torch.set_num_threads(n) and _core.set_num_threads(n):
MLModel.predict and torch eager (no_grad) on the same input, each warmed up, then timed in
alternating blocks of runs (our block, torch block, --blocks times; blocks rather than single runs
so neither side's spinning workers steal the other's cores, many short blocks so that a slow stretch
of a shared machine hits both sides alike). Reported: the median over all timed runs
of wall time and of process CPU time (the machine may be shared: CPU time does not count time the
process was descheduled, so at 1 thread it is the fair measure), and ratios ours / torch
(below 1 = faster than PyTorch).

Memory (`--mem`, a separate subprocess per model and precision, torch never imported in it): the
model is saved as an .mlpackage first, then the child loads it with ct.models.MLModel and the RSS
high-water mark (VmHWM, reset through /proc/self/clear_refs) is read around predict:
  first  = peak of the first predict above the RSS right before it,
  steady = peak of a later predict above the RSS before it (activations + scratch only),
next to the runtime's static figures (Program.memory_plan()): weights as held (the model's
constants in their own dtype, plus fp32 copies of small fp16 constants; large fp16 weights are
converted in blocks while running, so an fp16 model holds them once, as fp16) and the largest set of activations alive at one step, computed from the
program's value types; bound = weights + 2 x largest activation set.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
from _proc import rss_kb as _rss_kb  # noqa: E402

MODELS = ("resnet50", "mobilenet_v2", "resnet18")


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _build(name):
    import warnings
    warnings.filterwarnings("ignore")
    import torch
    import torchvision
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        # batch-norm statistics from random images and damped scales (tests/models_common.py's recipe):
        # with torchvision's default statistics mobilenet_v2's output is ~1e-10 and the error column
        # would compare nothing
        bns = [b for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)]
        for b in bns:
            b.reset_running_stats()
            b.momentum = None
            b.train()
        m(torch.rand(8, 3, 224, 224, generator=torch.Generator().manual_seed(3)))
        for b in bns:
            b.weight.fill_(0.9)
        m.eval()
        traced = torch.jit.trace(m, x)
    return m, traced, x


def _convert(traced, precision):
    import pt2coreml as ct
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, 224, 224))], compute_precision=prec)


def _timed(f, runs):
    wall, cpu = [], []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        f()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def run_latency(name, precision, threads, runs, blocks):
    import numpy as np
    import torch
    from pt2coreml import _core
    torch.set_num_threads(threads)
    _core.set_num_threads(threads)
    m, traced, x = _build(name)
    ml = _convert(traced, precision)
    feed = {"x": x.numpy()}
    out_name = ml._desc["outputs"][0]["name"]
    with torch.no_grad():
        ref = m(x).numpy()
        got = ml.predict(feed)[out_name]
        err = float(np.max(np.abs(got.astype(np.float64) - ref))) / max(float(np.max(np.abs(ref))), 1e-3)
        ours = lambda: ml.predict(feed)  # noqa: E731
        theirs = lambda: m(x)  # noqa: E731
        for _ in range(2):  # warm-up
            ours()
            theirs()
        res = {"ours_wall": [], "ours_cpu": [], "torch_wall": [], "torch_cpu": []}
        for _ in range(blocks):
            w, c = _timed(ours, runs)
            res["ours_wall"] += w
            res["ours_cpu"] += c
            time.sleep(0.05)
            w, c = _timed(theirs, runs)
            res["torch_wall"] += w
            res["torch_cpu"] += c
            time.sleep(0.05)
    out = {k: statistics.median(v) for k, v in res.items()}
    out.update(model=name, precision=precision, threads=threads, rel_err=err)
    return out


def run_memory(name, precision, path):
    import numpy as np
    import pt2coreml as ct
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    rss0 = _rss_kb("VmRSS")
    ml = ct.models.MLModel(path)
    plan = ml._prog.memory_plan()  # prepares the runtime
    rss1 = _rss_kb("VmRSS")
    _reset_peak()
    ml.predict({"x": x})
    peak = _rss_kb("VmHWM")
    return {"model": name, "precision": precision, "held_kb": rss1 - rss0, "predict_kb": peak - rss1,
            "total_kb": peak - rss0, **plan}


def _child(args):
    r = subprocess.run([sys.executable, __file__] + args, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=["resnet50", "mobilenet_v2"])
    ap.add_argument("--precisions", nargs="*", default=["fp32", "fp16"])
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--runs", type=int, default=4, help="timed runs per block")
    ap.add_argument("--blocks", type=int, default=6, help="alternating blocks per side")
    ap.add_argument("--no-mem", action="store_true")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--mem", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_latency(a.one[0], a.one[1], int(a.one[2]), a.runs, a.blocks)))
        return
    if a.mem:
        print(json.dumps(run_memory(*a.mem)))
        return
    if not a.no_latency:
        print(f"median of {a.blocks * a.runs} runs; ratio = ours / torch eager (below 1: faster)")
        print(f"{'model':13s} {'prec':4s} {'thr':>3s} {'ours ms':>8s} {'torch ms':>8s} {'wall':>5s} "
              f"{'ours cpu':>8s} {'torch cpu':>9s} {'cpu':>5s}  rel err")
        for name in a.models:
            for prec in a.precisions:
                for t in a.threads:
                    r = _child(["--one", name, prec, str(t), "--runs", str(a.runs), "--blocks", str(a.blocks)])
                    if "error" in r:
                        print(f"{name:13s} {prec:4s} {t:3d} error: {r['error']}")
                        continue
                    print(f"{name:13s} {prec:4s} {t:3d} {r['ours_wall'] * 1e3:8.1f} {r['torch_wall'] * 1e3:8.1f} "
                          f"{r['ours_wall'] / r['torch_wall']:5.2f} {r['ours_cpu'] * 1e3:8.1f} "
                          f"{r['torch_cpu'] * 1e3:9.1f} {r['ours_cpu'] / r['torch_cpu']:5.2f}  {r['rel_err']:.1e}",
                          flush=True)
    if not a.no_mem:
        print("\npredict memory, MB: weights = constants as held (memory_plan), act = largest live "
              "activation set,\nbound = weights + 2 act; held = RSS growth of load + prepare, predict = peak of the "
              "first predict above that, total = held + predict")
        print(f"{'model':13s} {'prec':4s} {'weights':>7s} {'act':>6s} {'bound':>6s} {'held':>6s} {'predict':>7s} "
              f"{'total':>6s}")
        for name in a.models:
            for prec in a.precisions:
                tmp = tempfile.mkdtemp(prefix="rtbench-")
                try:
                    path = os.path.join(tmp, "m.mlpackage")
                    _m, traced, _x = _build(name)
                    _convert(traced, prec).save(path)
                    r = _child(["--mem", name, prec, path])
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                if "error" in r:
                    print(f"{name:13s} {prec:4s} error: {r['error']}")
                    continue
                mb = 2.0 ** 20
                w = (r["const_bytes"] + r["const_f32_bytes"]) / mb
                act = r["peak_live_bytes"] / mb
                print(f"{name:13s} {prec:4s} {w:7.1f} {act:6.1f} {w + 2 * act:6.1f} {r['held_kb'] / 1024:6.1f} "
                      f"{r['predict_kb'] / 1024:7.1f} {r['total_kb'] / 1024:6.1f}", flush=True)


if __name__ == "__main__":
    main()
