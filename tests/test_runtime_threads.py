"""predict() from several Python threads: same results as sequential calls, the GIL is
released while the runtime computes, and a model stays valid while any reference to
its program lives."""
import gc
import threading
import time

import numpy as np
import pytest
import torch

import pt2coreml as ct
from pt2coreml import _core


class Net(torch.nn.Module):
    """conv (im2col and 1x1 paths), depthwise conv, pooling, residual add, linear."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 32, 3, padding=1)
        self.dw = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw = torch.nn.Conv2d(32, 32, 1)
        self.fc = torch.nn.Linear(32, 10)

    def forward(self, x):
        y = torch.relu(self.c1(x))
        y = y + torch.nn.functional.relu6(self.pw(self.dw(y)))
        y = torch.nn.functional.max_pool2d(y, 2)
        return self.fc(y.mean((2, 3)))


@pytest.fixture(scope="module", params=["fp32", "fp16"])
def model(request):
    torch.manual_seed(0)
    m = Net().eval()
    x = torch.rand(1, 3, 48, 48)
    prec = ct.precision.FLOAT32 if request.param == "fp32" else ct.precision.FLOAT16
    ml = ct.convert(torch.jit.trace(m, x), inputs=[ct.TensorType(name="x", shape=(1, 3, 48, 48))],
                    compute_precision=prec)
    return ml, m


@pytest.fixture(autouse=True)
def two_threads():
    _core.set_num_threads(2)  # our parallel-for threads inside each call (GEMMs split over them too)
    yield
    _core.set_num_threads(0)


def _inputs(n):
    rng = np.random.default_rng(1)
    return [rng.random((1, 3, 48, 48), dtype=np.float32) for _ in range(n)]


def test_concurrent_predict_matches_sequential(model):
    ml, m = model
    xs = _inputs(8)
    out_name = ml._desc["outputs"][0]["name"]
    seq = [ml.predict({"x": x})[out_name] for x in xs]
    with torch.no_grad():  # and the sequential results are right
        for x, s in zip(xs, seq):
            ref = m(torch.from_numpy(x)).numpy()
            assert np.max(np.abs(s - ref)) <= 1e-2 * max(np.max(np.abs(ref)), 1e-3)
    results = [[None] * len(xs) for _ in range(4)]
    errors = []
    barrier = threading.Barrier(4)

    def worker(t):
        try:
            barrier.wait()
            for rep in range(3):
                for i in range(len(xs)):
                    j = (i + t + rep) % len(xs)  # threads run different inputs at the same time
                    r = ml.predict({"x": xs[j]})[out_name]
                    if results[t][j] is None:
                        results[t][j] = r
                    else:
                        np.testing.assert_array_equal(r, results[t][j])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for t in range(4):
        for i in range(len(xs)):
            np.testing.assert_array_equal(results[t][i], seq[i], err_msg=f"thread {t}, input {i}")


def _long_program():
    # a chain of 3x3 convs: ~0.5 GFLOP per run, all in C
    lines = ["program(CoreML5)", "func main(%x: fp32[1,64,64,64]) {",
             '  %pt: string[] = const(val="same")']
    w = np.zeros((64, 64, 3, 3), np.float32).ravel()
    lit = "[" + ", ".join("0.001" for _ in w) + "]"
    lines.append(f"  %w: fp32[64,64,3,3] = const(val={lit})")
    prev = "%x"
    for i in range(6):
        lines.append(f"  %y{i}: fp32[1,64,64,64] = conv(x={prev}, weight=%w, pad_type=%pt)")
        prev = f"%y{i}"
    lines.append("} -> (%y5)")
    return _core.parse("\n".join(lines) + "\n")


def test_gil_released_during_predict():
    _core.set_num_threads(1)
    prog = _long_program()
    x = np.random.default_rng(0).random((1, 64, 64, 64), dtype=np.float32)
    prog.run([x])
    t0 = time.perf_counter()
    prog.run([x])
    single = time.perf_counter() - t0
    done = threading.Event()

    def runner():
        for _ in range(3):
            prog.run([x])
        done.set()

    th = threading.Thread(target=runner)
    gaps, ticks = [], 0
    th.start()
    last = time.perf_counter()
    while not done.is_set():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        ticks += 1
        time.sleep(0.001)
    th.join()
    # with the GIL held the main thread would stall for a whole run (~single seconds) at a time
    assert ticks > 10, ticks
    assert max(gaps) < max(0.5 * single, 0.05) or np.median(gaps) < 0.02, (max(gaps), single)


def test_model_outlives_other_references(model):
    ml, m = model
    x = _inputs(1)[0]
    out_name = ml._desc["outputs"][0]["name"]
    ref = ml.predict({"x": x})[out_name]
    copy = ct.models.MLModel(ml)  # shares the compiled program
    prog = ml._prog
    del ml
    gc.collect()
    np.testing.assert_array_equal(copy.predict({"x": x})[out_name], ref)
    del copy
    gc.collect()
    np.testing.assert_array_equal(prog.run([x])[0], ref)


def test_delete_while_predicting(model):
    ml, _ = model
    x = _inputs(1)[0]
    out_name = ml._desc["outputs"][0]["name"]
    ref = ml.predict({"x": x})[out_name]
    holder = [ct.models.MLModel(ml)]
    out = []
    started = threading.Event()

    def runner():
        mm = holder[0]
        started.set()
        for _ in range(5):
            out.append(mm.predict({"x": x})[out_name])

    th = threading.Thread(target=runner)
    th.start()
    started.wait()
    holder.clear()  # the last reference outside the running thread goes away mid-run
    gc.collect()
    th.join()
    for o in out:
        np.testing.assert_array_equal(o, ref)


def test_outputs_survive_the_model(model):
    ml, _ = model
    x = _inputs(1)[0]
    copy = ct.models.MLModel(ml)
    out = copy.predict({"x": x})
    del copy
    gc.collect()
    arr = next(iter(out.values()))
    assert np.isfinite(arr).all() and arr.base is not None  # the runtime buffer, owned by the array


def _predict_in_child(ml, x, out_name, q):
    try:
        q.put(("ok", ml.predict({"x": x})[out_name]))
    except Exception as e:  # noqa: BLE001 - sent to the parent
        q.put(("error", repr(e)))


def test_predict_in_forked_child(model):
    """The runtime's thread pool is process-wide: a child forked after the parent used
    it (as DataLoader workers and multiprocessing pools are) starts a fresh pool of its
    own and predicts the same result instead of waiting on workers it did not inherit."""
    import multiprocessing as mp
    ml, _ = model
    x = _inputs(1)[0]
    out_name = ml._desc["outputs"][0]["name"]
    want = ml.predict({"x": x})[out_name]  # the parent's pool is running now
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_predict_in_child, args=(ml, x, out_name, q))
    p.start()
    status, got = q.get(timeout=120)
    p.join(timeout=60)
    assert status == "ok", got
    np.testing.assert_array_equal(got, want)
    assert p.exitcode == 0


def test_workers_keep_the_process_cpu_mask(model):
    """A worker that moves itself off its caller's CPU restores its own CPU mask right after: after many
    predicts every thread of the process may still run on every CPU the main thread may."""
    import os
    ml, _ = model
    x = np.random.default_rng(0).random((1, 3, 48, 48), dtype=np.float32)
    for _ in range(50):
        ml.predict({"x": x})

    def allowed(tid):
        with open(f"/proc/self/task/{tid}/status") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("Cpus_allowed_list"))

    if not os.path.isdir("/proc/self/task"):
        pytest.skip("no /proc task list")
    main = allowed(threading.get_native_id())
    masks = {tid: allowed(tid) for tid in os.listdir("/proc/self/task")}
    assert all(m == main for m in masks.values()), masks
