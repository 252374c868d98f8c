"""Memory that stays allocated after conversions, predicts and save/load round trips, in one process.

torch itself keeps memory per freeze (a frozen module's class stays registered with its graph and
constants, ~60 KB per convert of the model below), so a conversion is measured against a loop of
bare freezes of the same module: the difference is ours. The figures are malloc'd bytes in use
(glibc's mallinfo2, exact and independent of page reuse), RSS where that is missing.

Bounds (per iteration, averaged over the loop): our share of a convert < 1 KB (it was ~1.5 KB when
the frontend ran its passes on torch's own copy of the frozen graph, which torch never frees);
predict and save + load < 0.1 KB.
"""
import ctypes
import gc
import os

import numpy as np
import pytest
import torch

import pt2coreml as ct

# Under make test-asan (ASan preloaded) malloc is ASan's, with its quarantine: these figures mean nothing there.
pytestmark = pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                                reason="memory figures under AddressSanitizer are its allocator's, not ours")

CONVERTS = 200
PREDICTS = 1000
ROUND_TRIPS = 50
CONVERT_KB = 1.0
PREDICT_KB = 0.1
ROUND_TRIP_KB = 0.1


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _meter():
    """() -> bytes in use: malloc'd bytes (glibc >= 2.33), else the resident set."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        f = libc.mallinfo2
        f.restype = _MallInfo2

        def used():
            mi = f()
            return mi.uordblks + mi.hblkhd
        return used
    except (OSError, AttributeError):  # pragma: no cover - non-glibc
        page = os.sysconf("SC_PAGE_SIZE")

        def rss():
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * page
        return rss


def _growth_kb(fn, n, warmup=20):
    """Average KB that stay allocated per call of fn over n calls (after warm-up calls that fill caches)."""
    used = _meter()
    for _ in range(warmup):
        fn()
    gc.collect()
    before = used()
    for _ in range(n):
        fn()
    gc.collect()
    return (used() - before) / n / 1024


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 2, 3, padding=1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return torch.relu(self.fc(self.conv(x))) * 2


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 8)
    return torch.jit.trace(_Tiny().eval(), x), x


def measure_convert():
    """(KB kept per convert, KB kept per bare freeze) for the tiny model, in this process."""
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 8)
    traced = torch.jit.trace(_Tiny().eval(), x)
    inputs = [ct.TensorType(name="x", shape=x.shape)]
    freeze = _growth_kb(lambda: torch._C._freeze_module(traced._c, [], True, False), CONVERTS)
    convert = _growth_kb(lambda: ct.convert(traced, inputs=inputs), CONVERTS)
    return convert, freeze


def test_convert_keeps_no_memory_beyond_torchs_freeze():
    """Measured in a fresh interpreter: late in the suite, caches that earlier tests filled (torch's, the
    interpreter's) move by about 1 KB per call on their own."""
    import json
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    code = "import json, test_leaks; print(json.dumps(test_leaks.measure_convert()))"
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.abspath(__file__)), env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    convert, freeze = json.loads(r.stdout.strip().splitlines()[-1])
    ours = convert - freeze
    assert ours < CONVERT_KB, (f"{CONVERTS} converts keep {convert:.2f} KB each, a bare freeze {freeze:.2f} KB: "
                               f"ours is {ours:.2f} KB per convert (bound {CONVERT_KB} KB)")


def test_predict_keeps_no_memory(tiny):
    traced, x = tiny
    model = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=x.shape)])
    data = {"x": x.numpy()}
    out = model.predict(data)
    np.testing.assert_allclose(next(iter(out.values())), traced(x).detach().numpy(), rtol=1e-2, atol=1e-2)
    kb = _growth_kb(lambda: model.predict(data), PREDICTS, warmup=50)
    assert kb < PREDICT_KB, f"{PREDICTS} predicts keep {kb:.3f} KB each (bound {PREDICT_KB} KB)"


def test_save_and_load_keep_no_memory(tiny, tmp_path):
    traced, x = tiny
    model = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=x.shape)])
    path = str(tmp_path / "tiny.mlpackage")
    data = {"x": x.numpy()}

    def round_trip():
        model.save(path)
        ct.models.MLModel(path).predict(data)
    kb = _growth_kb(round_trip, ROUND_TRIPS, warmup=5)
    assert kb < ROUND_TRIP_KB, f"{ROUND_TRIPS} save + load + predict round trips keep {kb:.3f} KB each " \
                               f"(bound {ROUND_TRIP_KB} KB)"


def test_run_capture_keeps_no_memory(tiny):
    """The numerical debugger's capture (every intermediate value copied out of the run) frees what it kept."""
    traced, x = tiny
    model = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=x.shape)])
    outs, values = model._prog.run_capture([x.numpy()])
    assert len(values) >= 4 and np.array_equal(values[model._prog.io()[1][0][0]], outs[0])
    kb = _growth_kb(lambda: model._prog.run_capture([x.numpy()]), PREDICTS, warmup=50)
    assert kb < PREDICT_KB, f"{PREDICTS} run_capture calls keep {kb:.3f} KB each (bound {PREDICT_KB} KB)"
    with pytest.raises(KeyError):
        model._prog.run_capture([x.numpy()], ["missing"])
    kb = _growth_kb(lambda: pytest.raises(KeyError, model._prog.run_capture, [x.numpy()], ["missing"]), 200)
    assert kb < PREDICT_KB, f"a refused run_capture keeps {kb:.3f} KB"


def test_get_spec_keeps_no_memory(tiny, tmp_path):
    """get_spec()'s message, walked every way (fields, maps, repeated fields, descriptors, text, bytes, errors)."""
    from pt2coreml import _core
    traced, x = tiny
    model = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=x.shape)])
    path = str(tmp_path / "tiny.mlpackage")
    model.save(path)

    def walk():
        s = _core.read_spec(path)
        str(s), s.SerializeToString(), s.description.SerializeToString(), s.WhichOneof("Type")
        for fd, _ in s.ListFields():
            fd.message_type, fd.containing_oneof, fd.full_name, fd.containing_type
        s.DESCRIPTOR.oneofs_by_name["Type"].fields, s.DESCRIPTOR.fields_by_number
        ops = s.mlProgram.functions["main"].block_specializations["CoreML5"].operations
        [(op.type, dict(op.inputs), list(op.attributes["name"].immediateValue.tensor.strings.values)) for op in ops]
        s.description.metadata.userDefined["missing"], list(s.description.input[0].type.multiArrayType.shape)
        try:
            s.HasField("nope")
        except ValueError:
            pass
    # A leak repeats in every window; a one-time growth of an interpreter-wide table (the interned strings, a
    # dict resized once, which a long test session can leave for this test) shows in one window at most.
    kb = min(_growth_kb(walk, 4 * ROUND_TRIPS, warmup=5) for _ in range(2))
    assert kb < ROUND_TRIP_KB, f"{4 * ROUND_TRIPS} get_spec walks keep {kb:.3f} KB each (bound {ROUND_TRIP_KB} KB)"


def test_export_reader_keeps_nothing():
    """The torch.export path's C part (read the serialized program, lower, passes, free) keeps nothing per
    conversion: the same JSON and weights converted in a loop, failures (a missing weight) too."""
    pytest.importorskip("torch.export")
    from pt2coreml import _core, _export
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 8)
    ep = torch.export.export(_Tiny().eval(), (x,))
    text, weights = _export.serialize(ep), _export.weights(ep)
    spec = [("x", "fp32", [1, 2, 4, 8], None)]
    missing = dict(list(weights.items())[1:])

    def once():
        _core.convert(text, spec, None, "CoreML5", "fp16", False, {}, weights=weights)
        with pytest.raises(ValueError):
            _core.convert(text, spec, None, "CoreML5", "fp16", False, {}, weights=missing)
    kb = _growth_kb(once, CONVERTS)
    print(f"export convert + failed convert: {kb:.3f} KB per iteration")
    assert kb < CONVERT_KB
