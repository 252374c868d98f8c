"""Conv and pool kernel speed of the reference runtime vs torch CPU at ResNet / MobileNet sizes.

    PYTHONPATH=python python benchmarks/rt_kernels.py [--threads N] [--reps R] [--blocks B] [--warm W] [--cpu] [--best]

--cpu times process CPU time instead of wall time: with --threads 1 that is the
fair measure on a shared, oversubscribed machine (descheduled time is not
counted), so it is what the ratios in reports quote.

Each case is a one-op program (x and weight fed as inputs) run through
Program.run, timed against torch.nn.functional.conv2d with the same thread
count (pools: max_pool2d / avg_pool2d; an fp16 case runs our fp16 kernel against
torch's fp32 one). Each side runs in its own block of reps (interleaving single runs lets
one side's spinning workers steal the cores from the other's); the blocks alternate
--blocks times, so a slow stretch of a shared machine hits both sides alike, and the
median over all runs of each side is reported (--best: the best run instead). Each
block starts with --warm untimed runs: after the pause between blocks, the first
millisecond or so of a 2-thread run finds the other vCPU idle and slow to wake on
this VM, which says more about the VM than about the kernel (inside a predict the
kernels run back to back).
ratio = ours / torch (below 1 means we are faster)."""
import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from pt2coreml import _core

CASES = [
    # name, x shape, Cout, k, stride, pad, dilation, groups
    ("resnet stem 7x7 s2", (1, 3, 224, 224), 64, 7, 2, 3, 1, 1),
    ("resnet 3x3 64", (1, 64, 56, 56), 64, 3, 1, 1, 1, 1),
    ("resnet 3x3 256@14", (1, 256, 14, 14), 256, 3, 1, 1, 1, 1),
    ("resnet 3x3 128 s2", (1, 128, 56, 56), 128, 3, 2, 1, 1, 1),
    ("resnet 1x1 256->64", (1, 256, 56, 56), 64, 1, 1, 0, 1, 1),
    ("resnet 1x1 64->256", (1, 64, 56, 56), 256, 1, 1, 0, 1, 1),
    ("resnet 1x1 s2 512->1024", (1, 512, 28, 28), 1024, 1, 2, 0, 1, 1),
    ("resnet 3x3 64 batch 4", (4, 64, 56, 56), 64, 3, 1, 1, 1, 1),
    ("mobilenet dw 32@112", (1, 32, 112, 112), 32, 3, 1, 1, 1, 32),
    ("mobilenet dw 96@112 s2", (1, 96, 112, 112), 96, 3, 2, 1, 1, 96),
    ("mobilenet dw 144@56", (1, 144, 56, 56), 144, 3, 1, 1, 1, 144),
    ("mobilenet dw 576@14", (1, 576, 14, 14), 576, 3, 1, 1, 1, 576),
    ("efficientnet dw 5x5 240@28", (1, 240, 28, 28), 240, 5, 1, 2, 1, 240),
    ("dilated 3x3 d2 256@28", (1, 256, 28, 28), 256, 3, 1, 2, 2, 1),
    ("dilated 3x3 d4 512@28", (1, 512, 28, 28), 512, 3, 1, 4, 4, 1),
    ("dilated dw 3x3 d2 384@28", (1, 384, 28, 28), 384, 3, 1, 2, 2, 384),
]

POOL_CASES = [
    # name, op, x shape, k, stride, pad, dtype
    ("resnet maxpool 3x3 s2 64@112", "max_pool", (1, 64, 112, 112), 3, 2, 1, "fp32"),
    ("resnet maxpool fp16", "max_pool", (1, 64, 112, 112), 3, 2, 1, "fp16"),
    ("avgpool 2x2 s2 256@56", "avg_pool", (1, 256, 56, 56), 2, 2, 0, "fp32"),
    ("inception maxpool 3x3 s1 192@28", "max_pool", (1, 192, 28, 28), 3, 1, 1, "fp32"),
    ("inception avgpool 3x3 s1 192@28", "avg_pool", (1, 192, 28, 28), 3, 1, 1, "fp32"),
]


def pool_program(op, xs, k, s, p, dt):
    n, c, h, w = xs
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    excl = "\n  %ex: bool[] = const(val=false)" if op == "avg_pool" else ""
    exa = ", exclude_padding_from_average=%ex" if op == "avg_pool" else ""
    return f"""program(CoreML5)
func main(%x: {dt}[{n},{c},{h},{w}]) {{
  %pt: string[] = const(val="custom")
  %pd: int32[4] = const(val=[{p}, {p}, {p}, {p}])
  %st: int32[2] = const(val=[{s}, {s}])
  %ks: int32[2] = const(val=[{k}, {k}])
  %cm: bool[] = const(val=false){excl}
  %y: {dt}[{n},{c},{oh},{ow}] = {op}(x=%x, kernel_sizes=%ks, strides=%st, pad_type=%pt, pad=%pd, ceil_mode=%cm{exa})
}} -> (%y)
"""


def program(xs, cout, k, s, p, d, g):
    n, c, h, w = xs
    oh = (h + 2 * p - d * (k - 1) - 1) // s + 1
    ow = (w + 2 * p - d * (k - 1) - 1) // s + 1
    return f"""program(CoreML5)
func main(%x: fp32[{n},{c},{h},{w}], %w: fp32[{cout},{c // g},{k},{k}], %b: fp32[{cout}]) {{
  %pt: string[] = const(val="custom")
  %pd: int32[4] = const(val=[{p}, {p}, {p}, {p}])
  %st: int32[2] = const(val=[{s}, {s}])
  %dl: int32[2] = const(val=[{d}, {d}])
  %g: int32[] = const(val={g})
  %y: fp32[{n},{cout},{oh},{ow}] = conv(x=%x, weight=%w, bias=%b, pad_type=%pt, pad=%pd, strides=%st, dilations=%dl, groups=%g)
}} -> (%y)
"""


CLOCK = time.perf_counter


def timed(f, reps):
    ts = []
    for _ in range(reps):
        t0 = CLOCK()
        f()
        ts.append(CLOCK() - t0)
    return ts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--reps", type=int, default=20, help="runs per block (the first of a block may find idle threads asleep)")
    ap.add_argument("--blocks", type=int, default=6, help="alternating blocks per side")
    ap.add_argument("--warm", type=int, default=5, help="untimed runs at the start of each block")
    ap.add_argument("--best", action="store_true", help="report each side's best run, not the median")
    ap.add_argument("--only", default="")
    ap.add_argument("--cpu", action="store_true", help="process CPU time instead of wall time")
    a = ap.parse_args()
    global CLOCK
    if a.cpu:
        CLOCK = time.process_time
    torch.set_num_threads(a.threads)
    _core.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    print(f"threads={a.threads}  {'cpu' if a.cpu else 'wall'} time, {'best' if a.best else 'median'} of {a.blocks} alternating blocks x {a.reps} runs per side")
    print(f"{'case':30s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s}  max|diff|")
    ratios = {}

    def measure(name, ours, ref):
        with torch.no_grad():
            got = ours()[0]
            diff = float(np.abs(got.astype(np.float32) - ref().numpy()).max())
            to, tt = [], []
            for _ in range(a.blocks):
                timed(ours, a.warm)
                to += timed(ours, a.reps)
                time.sleep(0.02)
                timed(ref, a.warm)
                tt += timed(ref, a.reps)
                time.sleep(0.02)
        pick = min if a.best else statistics.median
        o, t = pick(to), pick(tt)
        ratios[name] = o / t
        print(f"{name:30s} {o * 1e3:9.2f} {t * 1e3:9.2f} {o / t:6.2f}  {diff:.1e}")

    for name, xs, cout, k, s, p, d, g in CASES:
        if a.only and a.only not in name:
            continue
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal((cout, xs[1] // g, k, k)) * 0.1).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        prog = _core.parse(program(xs, cout, k, s, p, d, g))
        tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
        measure(name, lambda: prog.run([x, w, b]), lambda: F.conv2d(tx, tw, tb, stride=s, padding=p, dilation=d, groups=g))
    for name, op, xs, k, s, p, dt in POOL_CASES:
        if a.only and a.only not in name:
            continue
        x = rng.standard_normal(xs).astype(np.float32)
        prog = _core.parse(pool_program(op, xs, k, s, p, dt))
        xo = x.astype(np.float16) if dt == "fp16" else x
        tx = torch.from_numpy(xo.astype(np.float32))
        tf = F.max_pool2d if op == "max_pool" else F.avg_pool2d
        measure(name, lambda: prog.run([xo]), lambda: tf(tx, k, s, p))
    return ratios


if __name__ == "__main__":
    main()
