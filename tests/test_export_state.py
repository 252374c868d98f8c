"""Stateful models through torch.export (iOS18): convert(ep, states=[ct.StateType(...)]) makes each lifted
buffer the program mutates (its buffer_mutation output) a Core ML state, as the TorchScript path does
(test_stateful.py, whose models are used here); each step is compared with the PyTorch module run on its
own copy of the buffers."""
import warnings

import numpy as np
import pytest
import torch

import pt2coreml as ct
from parity import TORCH_MAJOR, coremltools_check
from test_stateful import (IOS18, PREC, TOL, Accumulator, KVCache, Nested, _run_steps, check_accumulator,
                          check_kv_cache, check_nested, check_states_independent, convert_kv_cache, state,
                          steps_1x3)

if TORCH_MAJOR < 2:
    pytest.skip("torch.export needs torch >= 2", allow_module_level=True)


def export(m, *example):
    """The program as torch.export gives it: buffers written by in-place ops (add_, copy_, index_put_)."""
    import copy
    return torch.export.export(copy.deepcopy(m).eval(), example)


def functional(m, *example):
    """The functionalized program: each written buffer's new value is a buffer_mutation output."""
    ep = export(m, *example).run_decompositions({})
    assert any(s.kind.name == "BUFFER_MUTATION" for s in ep.graph_signature.output_specs)
    return ep


@pytest.mark.parametrize("how", [export, functional])
@pytest.mark.parametrize("prec", ["fp32", "fp16"])
def test_accumulator_matches_torch_step_by_step(prec, how):
    m = Accumulator()
    ml = ct.convert(how(m, torch.ones(1, 3)), states=[state("acc", (1, 3))], minimum_deployment_target=IOS18,
                    compute_precision=PREC[prec])
    assert [f["name"] for f in ml._desc["inputs"]] == ["x"] and len(ml._desc["outputs"]) == 1
    check_accumulator(ml, m, TOL[prec])


@pytest.mark.parametrize("how", [export, functional])
@pytest.mark.parametrize("prec", ["fp32", "fp16"])
def test_kv_cache_attention_matches_torch_step_by_step(prec, how):
    torch.manual_seed(0)
    m = KVCache()
    ep = how(m, torch.randn(1, 1, 16), torch.tensor([0]))
    ml = convert_kv_cache(ep, compute_precision=PREC[prec])
    check_kv_cache(ml, m, TOL[prec])
    assert ml.op_histogram()["write_state"] == 2


@pytest.mark.parametrize("how", [export, functional])
def test_nested_buffer_copy_and_counter_loads_in_coremltools(tmp_path, how):
    m = Nested()
    ml = ct.convert(how(m, torch.ones(2, 4)), states=[state("inner.last", (2, 4)), state("steps", (1,))],
                    minimum_deployment_target=IOS18)
    check_nested(ml, m)
    path = str(tmp_path / "nested.mlpackage")
    ml.save(path)
    coremltools_check(path)


def test_states_persist_and_are_independent():
    ml = ct.convert(export(Accumulator(), torch.ones(1, 3)), states=[state("acc", (1, 3))],
                    minimum_deployment_target=IOS18)
    check_states_independent(ml)


def test_read_only_buffer_state_and_plain_buffers():
    """A buffer listed as a state but never written is only read; other buffers stay constants."""

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("bias", torch.full((1, 3), 0.5))
            self.register_buffer("acc", torch.zeros(1, 3))

        def forward(self, x):
            self.acc.add_(x)
            return self.acc + self.bias

    m = M()
    ml = ct.convert(export(m, torch.ones(1, 3)), states=[state("acc", (1, 3))], minimum_deployment_target=IOS18)
    _run_steps(ml, m, steps_1x3(3), 2e-3)


def test_pt2_archive_with_states(tmp_path):
    path = str(tmp_path / "acc.pt2")
    m = Accumulator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(functional(m, torch.ones(1, 3)), path)
    ml = ct.convert(path, states=[state("acc", (1, 3))], minimum_deployment_target=IOS18)
    ref, st, _ = _run_steps(ml, m, steps_1x3(4, seed=1), TOL["fp16"])
    np.testing.assert_allclose(st.read_state("acc"), ref.acc.numpy(), atol=1e-2)


@pytest.mark.parametrize("how", [export, functional])
def test_errors(how):
    ep = how(Accumulator(), torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"states=\[ct.StateType\(wrapped_type=ct.TensorType\(shape=\(1, 3\), "
                                         r"dtype=np.float16\), name='acc'\)\]"):
        ct.convert(ep, minimum_deployment_target=IOS18)
    with pytest.raises(ValueError, match="named 'nope' not provided or not found.*'acc'"):
        ct.convert(ep, states=[state("nope", (1, 3))], minimum_deployment_target=IOS18)
    with pytest.raises(ValueError, match=r"shape \(2, 3\) must match the torch buffer shape \(1, 3\)"):
        ct.convert(ep, states=[state("acc", (2, 3))], minimum_deployment_target=IOS18)
    with pytest.raises(ValueError, match="only from iOS18"):
        ct.convert(ep, states=[state("acc", (1, 3))], minimum_deployment_target=ct.target.iOS17)
    with pytest.raises(ValueError, match="Core ML states are fp16 only"):
        ct.convert(ep, states=[state("acc", (1, 3), np.float32)], minimum_deployment_target=IOS18)
    nested = how(Nested(), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"buffer 'steps' in place.*shape=\(1,\)"):  # one of two declared
        ct.convert(nested, states=[state("inner.last", (2, 4))], minimum_deployment_target=IOS18)


def test_state_name_clashing_with_an_input_is_refused():
    ep = export(Accumulator(), torch.ones(1, 3))
    with pytest.raises(ValueError, match="clash with input names"):
        ct.convert(ep, inputs=[ct.TensorType(name="acc", shape=(1, 3))], states=[state("acc", (1, 3))],
                   minimum_deployment_target=IOS18)


def test_undeclared_write_through_a_view_is_refused():
    """KVCache writes its cache through a slice (k_cache[:, pos] = ...): declaring only v_cache names k_cache."""
    ep = export(KVCache(), torch.randn(1, 1, 16), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"buffer 'k_cache' in place.*shape=\(1, 8, 16\)"):
        ct.convert(ep, inputs=[ct.TensorType(name="x", shape=(1, 1, 16)),
                               ct.TensorType(name="pos", shape=(1,), dtype=np.int32)],
                   states=[state("v_cache", (1, 8, 16))], minimum_deployment_target=IOS18)
