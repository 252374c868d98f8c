"""The Python API's argument checking: clear exceptions before any conversion work."""
import numpy as np
import pytest
import torch

import pt2coreml as ct


def traced_linear():
    return torch.jit.trace(torch.nn.Linear(3, 2).eval(), torch.rand(1, 3))


def test_plain_module_is_rejected_with_a_hint():
    with pytest.raises(TypeError, match=r"trace or script it first"):
        ct.convert(torch.nn.Linear(3, 2), inputs=[ct.TensorType(shape=(1, 3))])


def test_inputs_are_required():
    with pytest.raises(ValueError, match=r"inputs= is required"):
        ct.convert(traced_linear())


def test_input_count_must_match_the_graph():
    with pytest.raises(ValueError, match=r"forward takes 1 input\(s\) but inputs= lists 2"):
        ct.convert(traced_linear(), inputs=[ct.TensorType(shape=(1, 3)), ct.TensorType(shape=(1, 3))])


def test_input_needs_a_shape():
    with pytest.raises(ValueError, match=r"needs a shape"):
        ct.convert(traced_linear(), inputs=[ct.TensorType(name="x")])


def test_missing_torchscript_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no TorchScript file"):
        ct.convert(str(tmp_path / "nope.pt"), inputs=[ct.TensorType(shape=(1, 3))])


def test_file_that_is_not_torchscript(tmp_path):
    p = tmp_path / "junk.pt"
    p.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match=r"is not a TorchScript file"):
        ct.convert(str(p), inputs=[ct.TensorType(shape=(1, 3))])


def test_targets_below_ios15_cannot_hold_an_ml_program():
    with pytest.raises(ValueError, match=r"cannot hold an ML Program"):
        ct.convert(traced_linear(), inputs=[ct.TensorType(shape=(1, 3))],
                   minimum_deployment_target=ct.target.iOS14)


def test_neuralnetwork_is_refused_clearly():
    with pytest.raises(ValueError, match=r"convert_to='neuralnetwork' is not supported"):
        ct.convert(traced_linear(), inputs=[ct.TensorType(shape=(1, 3))], convert_to="neuralnetwork")


def test_output_names_must_not_clash_with_inputs():
    with pytest.raises(ValueError, match=r"clash with input names"):
        ct.convert(traced_linear(), inputs=[ct.TensorType(name="x", shape=(1, 3))],
                   outputs=[ct.TensorType(name="x")])


def test_bad_dtype_and_shape_entries():
    with pytest.raises(TypeError, match=r"unsupported input dtype"):
        ct.TensorType(shape=(1, 3), dtype=np.complex64)
    with pytest.raises(ValueError, match=r"non-negative ints or RangeDim"):
        ct.TensorType(shape=(1, -3))
    with pytest.raises(ValueError, match=r"bias needs 3 value"):
        ct.ImageType(shape=(1, 3, 8, 8), bias=[0.1, 0.2])


def test_rangedim_bounds():
    with pytest.raises(ValueError, match=r"below lower_bound"):
        ct.RangeDim(4, 2)
    d = ct.RangeDim(1, 64, default=8)
    assert (d.lower_bound, d.upper_bound, d.default) == (1, 64, 8)


def test_targets_map_to_spec_versions():
    assert int(ct.target.iOS15) == 6 and int(ct.target.macOS13) == 7 and int(ct.target.iOS18) == 9


def test_missing_model_path():
    with pytest.raises(FileNotFoundError, match=r"no Core ML model"):
        ct.models.MLModel("/nonexistent/model.mlpackage")
