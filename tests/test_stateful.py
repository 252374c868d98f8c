"""Stateful models (iOS18): convert(states=[ct.StateType(...)]) turns registered buffers a model updates in
place into Core ML states (read_state / write_state), make_state() / predict(state=) run them step by step,
and each step is compared with the PyTorch module run on its own copy of the buffers."""
import copy
import math
import os

import numpy as np
import pytest
import torch

import pt2coreml as ct
from parity import coremltools_check

IOS18 = ct.target.iOS18
TOL = {"fp32": 2e-3, "fp16": 2e-2}  # states are fp16, so even fp32 compute rounds the buffers each step
PREC = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}


def state(name, shape, dtype=np.float16):
    return ct.StateType(wrapped_type=ct.TensorType(shape=shape, dtype=dtype), name=name)


def trace(m, *example):
    return torch.jit.trace(copy.deepcopy(m).eval(), example, check_trace=False)


class Accumulator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("acc", torch.zeros(1, 3))

    def forward(self, x):
        self.acc += x
        return self.acc * 2


class KVCache(torch.nn.Module):
    """One attention step: this token's key and value go into the caches at `pos` (slice assignment and
    index_put_), the query attends over the cache up to `pos`."""

    def __init__(self, length=8, dim=16):
        super().__init__()
        self.length, self.dim = length, dim
        self.register_buffer("k_cache", torch.zeros(1, length, dim))
        self.register_buffer("v_cache", torch.zeros(1, length, dim))
        self.q = torch.nn.Linear(dim, dim)
        self.k = torch.nn.Linear(dim, dim)
        self.v = torch.nn.Linear(dim, dim)

    def forward(self, x, pos):
        self.k_cache[:, pos] = self.k(x)
        self.v_cache.index_put_((torch.tensor([0]), pos), self.v(x)[0])
        att = self.q(x) @ self.k_cache.transpose(1, 2) / math.sqrt(self.dim)
        att = att.masked_fill(torch.arange(self.length) > pos, float("-inf")).softmax(-1)
        return att @ self.v_cache


class Nested(torch.nn.Module):
    """A submodule's buffer (named_buffers() says 'inner.last') written with copy_, plus a counter."""

    def __init__(self):
        super().__init__()
        self.inner = torch.nn.Module()
        self.inner.register_buffer("last", torch.zeros(2, 4))
        self.register_buffer("steps", torch.zeros(1))

    def forward(self, x):
        prev = self.inner.last.clone()
        self.inner.last.copy_(x)
        self.steps.add_(1.0)
        return x - prev + self.steps


def _run_steps(ml, module, steps, tol, st=None):
    """predict() each step's inputs with one state and compare with the module run on its own copy."""
    ref = copy.deepcopy(module).eval()
    st = st if st is not None else ml.make_state()
    out_name = ml._desc["outputs"][0]["name"]
    worst = 0.0
    for feed, args in steps:
        with torch.no_grad():
            want = ref(*args).numpy()
        got = ml.predict(feed, state=st)[out_name]
        err = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-3))
        assert err <= tol, f"step error {err} > {tol}"
        worst = max(worst, err)
    return ref, st, worst


def steps_1x3(n=6, seed=0):
    """n steps of a (1, 3) random input x: (predict() feed, the module's args)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.standard_normal((1, 3)).astype(np.float32)
        out.append(({"x": x}, (torch.from_numpy(x),)))
    return out


def kv_steps(n):
    """n attention steps of KVCache (draws from torch's generator): x (1, 1, 16) at positions 0..n-1."""
    steps = []
    for i in range(n):
        x = torch.randn(1, 1, 16)
        steps.append(({"x": x.numpy(), "pos": np.array([i], np.int32)}, (x, torch.tensor([i]))))
    return steps


def check_accumulator(ml, m, tol):
    """The converted Accumulator ml against the module m over 6 steps: each output, the state at the end, and
    one read_state and one write_state in the program."""
    ref, st, _ = _run_steps(ml, m, steps_1x3(), tol)
    np.testing.assert_allclose(st.read_state("acc"), ref.acc.numpy(), atol=1e-2)
    hist = ml.op_histogram()
    assert hist["read_state"] == 1 and hist["write_state"] == 1


def convert_kv_cache(model, **kw):
    """ct.convert of a traced or exported KVCache: inputs x (1, 1, 16) and pos (int32), both caches states."""
    return ct.convert(model, inputs=[ct.TensorType(name="x", shape=(1, 1, 16)),
                                     ct.TensorType(name="pos", shape=(1,), dtype=np.int32)],
                      states=[state("k_cache", (1, 8, 16)), state("v_cache", (1, 8, 16))],
                      minimum_deployment_target=IOS18, **kw)


def check_states_independent(ml):
    """Two states of the converted Accumulator ml: each starts at zero, keeps what its predicts added and
    nothing of the other's, and reads back what write_state put in."""
    a, b = ml.make_state(), ml.make_state()
    assert not a.read_state("acc").any()  # Core ML allocates states as zeros
    one = {"x": np.ones((1, 3), np.float32)}
    for _ in range(3):
        ml.predict(one, state=a)
    out_b = ml.predict({"x": np.full((1, 3), 5, np.float32)}, state=b)
    out_a = ml.predict(one, state=a)
    assert np.allclose(list(out_a.values())[0], 8) and np.allclose(list(out_b.values())[0], 10)
    assert np.allclose(a.read_state("acc"), 4) and np.allclose(b.read_state("acc"), 5)
    a.write_state("acc", np.full((1, 3), -1.0))
    assert np.allclose(list(ml.predict(one, state=a).values())[0], 0)


def check_kv_cache(ml, m, tol):
    """The converted KVCache ml against the module m over 8 steps: each output and both caches at the end."""
    ref, st, _ = _run_steps(ml, m, kv_steps(8), tol)
    for name in ("k_cache", "v_cache"):
        np.testing.assert_allclose(st.read_state(name), getattr(ref, name).numpy(), atol=2e-2)


def check_nested(ml, m):
    """The converted Nested ml (states inner_last and steps) against the module m over 4 steps."""
    assert [f["name"] for f in ml._desc["states"]] == ["inner_last", "steps"]  # a MIL name: the dot becomes _
    steps = []
    for k in range(4):
        x = np.full((2, 4), k + 0.5, np.float32)
        steps.append(({"x": x}, (torch.from_numpy(x),)))
    _, st, _ = _run_steps(ml, m, steps, 1e-3)
    assert st.read_state("steps").tolist() == [4.0]


@pytest.mark.parametrize("prec", ["fp32", "fp16"])
def test_accumulator_matches_torch_step_by_step(prec):
    m = Accumulator()
    ml = ct.convert(trace(m, torch.ones(1, 3)), inputs=[ct.TensorType(name="x", shape=(1, 3))],
                    states=[state("acc", (1, 3))], minimum_deployment_target=IOS18, compute_precision=PREC[prec])
    check_accumulator(ml, m, TOL[prec])


@pytest.mark.parametrize("prec", ["fp32", "fp16"])
def test_kv_cache_attention_matches_torch_step_by_step(prec):
    torch.manual_seed(0)
    m = KVCache()
    tr = trace(m, torch.randn(1, 1, 16), torch.tensor([0]))
    ml = convert_kv_cache(tr, compute_precision=PREC[prec])
    check_kv_cache(ml, m, TOL[prec])


def test_nested_buffer_copy_and_counter():
    m = Nested()
    ml = ct.convert(trace(m, torch.ones(2, 4)), inputs=[ct.TensorType(name="x", shape=(2, 4))],
                    states=[state("inner.last", (2, 4)), state("steps", (1,))], minimum_deployment_target=IOS18)
    check_nested(ml, m)


def test_states_persist_and_are_independent():
    m = Accumulator()
    ml = ct.convert(trace(m, torch.ones(1, 3)), inputs=[ct.TensorType(name="x", shape=(1, 3))],
                    states=[state("acc", (1, 3))], minimum_deployment_target=IOS18)
    check_states_independent(ml)


def test_read_only_state_starts_at_zero_not_at_the_buffer():
    """A declared state the model only reads is read from the state (zeros until written), as in Core ML,
    not folded to the buffer's value; nothing is written back."""

    class ReadOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("bias", torch.full((3,), 7.0))

        def forward(self, x):
            return x + self.bias

    ml = ct.convert(trace(ReadOnly(), torch.ones(3)), inputs=[ct.TensorType(name="x", shape=(3,))],
                    states=[state("bias", (3,))], minimum_deployment_target=IOS18)
    assert "write_state" not in ml.op_histogram()
    st = ml.make_state()
    x = {"x": np.arange(3, dtype=np.float32)}
    assert np.allclose(list(ml.predict(x, state=st).values())[0], [0, 1, 2])
    st.write_state("bias", [1, 2, 3])
    assert np.allclose(list(ml.predict(x, state=st).values())[0], [1, 3, 5])


def test_scripted_model_with_in_place_add():
    class Counter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("total", torch.zeros(4))

        def forward(self, x):
            self.total.add_(x.sum(0))
            return self.total * 1.0

    m = Counter()
    ml = ct.convert(torch.jit.script(copy.deepcopy(m).eval()), inputs=[ct.TensorType(name="x", shape=(2, 4))],
                    states=[state("total", (4,))], minimum_deployment_target=IOS18)
    rng = np.random.default_rng(1)
    steps = [({"x": x}, (torch.from_numpy(x),)) for x in (rng.standard_normal((2, 4)).astype(np.float32)
                                                          for _ in range(3))]
    _run_steps(ml, m, steps, 1e-2)


def test_scripted_loop_with_chained_in_place_ops():
    """A run-time loop decays and feeds the state with a chained in-place op (h.mul_(a).add_(x)): the state
    is carried through while_loop and the chain updates it, not only its first op."""

    class Decay(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("h", torch.zeros(1, 4))

        def forward(self, x, n):
            for _ in range(int(n)):
                self.h.mul_(0.5).add_(x)
            return self.h.clone()

    m = Decay().eval()
    ml = ct.convert(torch.jit.script(copy.deepcopy(m)), inputs=[ct.TensorType(name="x", shape=(1, 4)),
                                                              ct.TensorType(name="n", shape=(1,), dtype=np.int32)],
                    states=[state("h", (1, 4))], minimum_deployment_target=IOS18)
    assert "while_loop" in ml.op_histogram()
    rng = np.random.default_rng(3)
    steps = []
    for n in (3, 1, 2, 0):
        x = rng.standard_normal((1, 4)).astype(np.float32)
        steps.append(({"x": x, "n": np.array([n], np.int32)}, (torch.from_numpy(x), torch.tensor([n]))))
    _run_steps(ml, m, steps, TOL["fp16"])


def test_saved_package_holds_states_and_loads_back(tmp_path):
    torch.manual_seed(0)
    m = KVCache()
    ml = convert_kv_cache(trace(m, torch.randn(1, 1, 16), torch.tensor([0])))
    path = os.path.join(tmp_path, "kv.mlpackage")
    ml.save(path)
    loaded = ct.models.MLModel(path)
    assert [f["name"] for f in loaded._desc["states"]] == ["k_cache", "v_cache"]
    assert [f["name"] for f in loaded._desc["inputs"]] == ["x", "pos"]
    spec = loaded.get_spec()
    assert spec.specificationVersion == 9
    _run_steps(loaded, m, kv_steps(4), TOL["fp16"])
    coremltools_check(path)


def test_coremltools_reads_the_state_description(tmp_path):
    ctools = pytest.importorskip("coremltools")
    m = Accumulator()
    ml = ct.convert(trace(m, torch.ones(1, 3)), inputs=[ct.TensorType(name="x", shape=(1, 3))],
                    states=[state("acc", (1, 3))], minimum_deployment_target=IOS18)
    path = os.path.join(tmp_path, "acc.mlpackage")
    ml.save(path)
    prog = coremltools_check(path)
    spec = ctools.models.MLModel(path, skip_model_load=True).get_spec()
    assert spec.specificationVersion == 9
    assert [f.name for f in spec.description.input] == ["x"]
    (st,) = spec.description.state
    assert st.name == "acc" and st.type.WhichOneof("Type") == "stateType"
    arr = st.type.stateType.arrayType
    assert list(arr.shape) == [1, 3] and arr.dataType == ctools.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT16
    fn = spec.mlProgram.functions["main"]
    kinds = {i.name: i.type.WhichOneof("type") for i in fn.inputs}
    assert kinds == {"x": "tensorType", "acc": "stateType"}
    ops = [op.type for op in fn.block_specializations[fn.opset].operations]
    assert "read_state" in ops and "write_state" in ops
    if prog is not None:
        assert "read_state" in [op.op_type for op in prog.functions["main"].operations]


class Slots(torch.nn.Module):
    """An accumulator and a cache written at a position given as input (`kc[:, pos] = x`: coremltools
    makes it slice_update)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("acc", torch.zeros(1, 3))
        self.register_buffer("kc", torch.zeros(1, 4, 3))

    def forward(self, x, pos):
        self.acc.add_(x)
        self.kc[:, pos] = x
        return self.acc * 2 + self.kc.sum(1)


def test_coremltools_stateful_package_runs_in_our_runtime(tmp_path):
    """A stateful model converted by coremltools itself (coreml_update_state saved as write_state +
    read_state, the position write as slice_update) loads and runs here, step by step as PyTorch."""
    ctools = pytest.importorskip("coremltools")
    m = Slots()
    st_types = [ctools.StateType(wrapped_type=ctools.TensorType(shape=shape, dtype=np.float16), name=name)
                for name, shape in (("acc", (1, 3)), ("kc", (1, 4, 3)))]
    try:
        ref_ml = ctools.convert(trace(m, torch.ones(1, 3), torch.tensor(1)),
                                inputs=[ctools.TensorType(name="x", shape=(1, 3)),
                                        ctools.TensorType(name="pos", shape=(1,), dtype=np.int32)],
                                states=st_types, minimum_deployment_target=ctools.target.iOS18, skip_model_load=True)
    except Exception as exc:  # pragma: no cover - coremltools versions without torch support for this torch
        pytest.skip(f"coremltools cannot convert here: {exc}")
    path = os.path.join(tmp_path, "ref.mlpackage")
    ref_ml.save(path)
    ml = ct.models.MLModel(path)
    assert ml.op_histogram()["slice_update"] == 1
    rng = np.random.default_rng(2)
    steps = []
    for pos in (0, 2, 1, 2, 3):
        x = rng.standard_normal((1, 3)).astype(np.float16)  # coremltools makes the inputs fp16 here
        steps.append(({"x": x, "pos": np.array([pos], np.int32)}, (torch.from_numpy(x.astype(np.float32)),
                                                                     torch.tensor(pos))))
    ref, st, _ = _run_steps(ml, m, steps, TOL["fp16"])
    np.testing.assert_allclose(st.read_state("kc"), ref.kc.numpy(), atol=1e-2)


@pytest.mark.parametrize("begin, end, stride, squeeze", [
    ([0, 1, 0], [2, 3, 4], [1, 1, 2], [0, 0, 0]),
    ([1, 2, 0], [2, 3, 4], [1, 1, 1], [1, 0, 0]),
    ([-1, 0, 3], [0, 3, 0], [-1, 2, -1], [0, 0, 0]),
])
def test_slice_update_writes_what_slice_by_index_reads(begin, end, stride, squeeze):
    """slice_update (iOS18) replaces exactly the elements slice_by_index selects, numpy's rule."""
    from pt2coreml import _core
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    sl = tuple(b if sq else slice(b, e, s) for b, e, s, sq in zip(begin, end, stride, squeeze))
    want = x.copy()
    shape = x[sl].shape
    upd = -np.arange(1, int(np.prod(shape)) + 1, dtype=np.float32).reshape(shape)
    want[sl] = upd

    def ints(v):
        return "[" + ", ".join(str(int(a)) for a in v) + "]"

    sq = "[" + ", ".join("true" if q else "false" for q in squeeze) + "]"
    text = f"""program(CoreML8)
func main(%x: fp32[2,3,4], %u: fp32[{','.join(str(d) for d in shape)}]) {{
  %b: int32[3] = const(val={ints(begin)})
  %e: int32[3] = const(val={ints(end)})
  %s: int32[3] = const(val={ints(stride)})
  %q: bool[3] = const(val={sq})
  %y: fp32[2,3,4] = slice_update(x=%x, update=%u, begin=%b, end=%e, stride=%s, squeeze_mask=%q)
}} -> (%y)
"""
    (got,) = _core.parse(text).run([x, upd])
    np.testing.assert_array_equal(got, want)


def test_state_type_in_text_ir_round_trips():
    from pt2coreml import _core
    text = """program(CoreML8)
func main(%x: fp16[2], %s: state<fp16[2]>) {
  %r: fp16[2] = read_state(input=%s)
  %y: fp16[2] = add(x=%r, y=%x)
  () = write_state(input=%s, data=%y) [name="w"]
} -> (%y)
"""
    p = _core.parse(text)
    assert "state<fp16[2]>" in p.text() and "write_state" in p.text()
    assert p.states() == [("s", ("fp16", (2,)))]
    buf = np.array([1, 2], np.float16)
    (y,) = p.run([np.array([10, 20], np.float16)], [buf])
    assert y.tolist() == [11, 22] and buf.tolist() == [11, 22]


# ---- errors ----

def _convert_acc(**kw):
    kw.setdefault("minimum_deployment_target", IOS18)
    kw.setdefault("states", [state("acc", (1, 3))])
    return ct.convert(trace(Accumulator(), torch.ones(1, 3)), inputs=[ct.TensorType(name="x", shape=(1, 3))], **kw)


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(states=[state("nope", (1, 3))]), ValueError, "StateType named 'nope' not provided or not found.*'acc'"),
    (dict(states=[state(None, (1, 3))]), ValueError, "not provided or not found"),
    (dict(states=[state("acc", (1, 4))]), ValueError, r"StateType shape \(1, 4\) must match the torch buffer shape \(1, 3\)"),
    (dict(states=[state("acc", (1, ct.RangeDim(1, 4)))]), ValueError, "flexible shape"),
    (dict(minimum_deployment_target=ct.target.iOS17), ValueError, "only from iOS18.*iOS17"),
    (dict(minimum_deployment_target=None), ValueError, "only from iOS18"),
    (dict(convert_to="neuralnetwork"), ValueError, "only from iOS18.*neuralnetwork"),
    (dict(states=[state("acc", (1, 3), np.float32)]), ValueError, "'acc' is fp32: Core ML states are fp16"),
    (dict(states=[state("acc", (1, 3), None)], compute_precision=ct.precision.FLOAT32), ValueError, "fp16 only"),
    (dict(states=[state("acc", (1, 3)), state("acc", (1, 3))]), ValueError, "listed twice"),
    (dict(states=[ct.TensorType(name="acc", shape=(1, 3))]), TypeError, "must be a ct.StateType"),
])
def test_convert_state_errors(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        _convert_acc(**kw)


def test_state_default_dtype_is_fp16_under_fp16_compute():
    ml = _convert_acc(states=[state("acc", (1, 3), None)])
    assert ml._desc["states"][0]["dtype"] == "fp16"


def test_state_type_and_input_errors():
    with pytest.raises(ValueError, match="only supports ct.TensorType"):
        ct.StateType(wrapped_type=ct.ImageType(shape=(1, 3, 4, 4)), name="s")
    with pytest.raises(ValueError, match="name cannot be set"):
        ct.StateType(wrapped_type=ct.TensorType(name="s", shape=(1,)), name="s")
    with pytest.raises(ValueError, match="default_value cannot be set"):
        ct.StateType(wrapped_type=ct.TensorType(shape=(1,), default_value=0.0), name="s")
    with pytest.raises(ValueError, match="inputs cannot contain a ct.StateType"):
        ct.convert(trace(Accumulator(), torch.ones(1, 3)), inputs=[state("acc", (1, 3))], minimum_deployment_target=IOS18)


def test_integer_buffer_cannot_be_a_state():
    class Steps(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("n", torch.zeros(1, dtype=torch.int64))

        def forward(self, x):
            self.n.add_(1)
            return x * 2

    with pytest.raises(ValueError, match="buffer is torch.int64.*floating-point"):
        ct.convert(trace(Steps(), torch.ones(2)), inputs=[ct.TensorType(name="x", shape=(2,))],
                   states=[state("n", (1,))], minimum_deployment_target=IOS18)


def test_buffer_written_in_place_without_states_says_how_to_declare_it():
    with pytest.raises(ValueError, match=r"updates its buffer 'inner.last' in place.*states=\[ct.StateType.*"
                                         r"shape=\(2, 4\).*name='inner.last'"):
        ct.convert(trace(Nested(), torch.ones(2, 4)), inputs=[ct.TensorType(name="x", shape=(2, 4))],
                   states=[state("steps", (1,))], minimum_deployment_target=IOS18)
    with pytest.raises(ValueError, match="updates its buffer 'acc' in place"):
        ct.convert(trace(Accumulator(), torch.ones(1, 3)), inputs=[ct.TensorType(name="x", shape=(1, 3))])


def test_predict_state_errors():
    ml = _convert_acc()
    x = {"x": np.ones((1, 3), np.float32)}
    with pytest.raises(ValueError, match="stateful.*make_state"):
        ml.predict(x)
    with pytest.raises(TypeError, match="MLState"):
        ml.predict(x, state={"acc": np.zeros((1, 3), np.float16)})
    other = ct.convert(trace(Nested(), torch.ones(2, 4)), inputs=[ct.TensorType(name="x", shape=(2, 4))],
                       states=[state("inner.last", (2, 4)), state("steps", (1,))], minimum_deployment_target=IOS18)
    with pytest.raises(ValueError, match="make it with this model's make_state"):
        ml.predict(x, state=other.make_state())
    st = ml.make_state()
    with pytest.raises(KeyError, match="no state named 'nope'.*'acc'"):
        st.read_state("nope")
    with pytest.raises(ValueError, match=r"shape \(1, 3\)"):
        st.write_state("acc", np.zeros(3))
    stateless = ct.convert(torch.jit.trace(torch.nn.ReLU(), torch.ones(2)), inputs=[ct.TensorType(name="x", shape=(2,))])
    empty = stateless.make_state()  # Core ML: a stateless model's state is empty and predicts as without one
    assert list(stateless.predict({"x": np.array([-1.0, 1.0], np.float32)}, state=empty).values())[0].tolist() == [0, 1]
    with pytest.raises(ValueError, match="no states"):
        stateless.predict({"x": np.ones(2, np.float32)}, state=st)
