"""The lowering registry (csrc/lower/registry.def): sorted and unique (its lookup is a binary search), in-place
spellings found by rule, and torch.export's op names finding the same rows as TorchScript's kinds."""
import pytest

from pt2coreml import _core


def test_rows_sorted_and_unique():
    rows = _core.registry_rows()
    keys = [k.encode() for k in rows]  # strcmp order: bytewise
    out_of_order = [(a.decode(), b.decode()) for a, b in zip(keys, keys[1:]) if a >= b]
    assert not out_of_order, f"registry rows out of order or repeated (keep registry*.def sorted): {out_of_order[:5]}"


def test_every_row_found_by_its_kind():
    rows = _core.registry_rows()
    assert [_core.registry_row(k) for k in rows] == list(range(len(rows)))


def test_in_place_spellings_resolve_to_their_rows():
    rows = _core.registry_rows()
    listed = {k for k, _ in _core.lowered_ops()}
    for kind in listed - set(rows):  # listed only through a row's in-place flag
        assert kind.endswith("_") and rows[_core.registry_row(kind)] == kind[:-1]
    assert rows[_core.registry_row("aten::add_")] == "aten::add"
    assert rows[_core.registry_row("aten::relu_")] == "aten::relu"
    # a kind with a row of its own is that row; an op without the in-place flag has no in-place spelling
    assert rows[_core.registry_row("aten::copy_")] == "aten::copy_"
    assert rows[_core.registry_row("aten::normal_")] == "aten::normal_"
    assert _core.registry_row("aten::gelu") is not None and _core.registry_row("aten::gelu_") is None
    assert _core.registry_row("aten::__and__") is not None and _core.registry_row("aten::__and_") is None


@pytest.mark.parametrize("export_name, kind", [
    ("aten.add.Tensor", "aten::add"),
    ("aten::add.Tensor", "aten::add"),
    ("aten.add_.Tensor", "aten::add"),
    ("aten.relu.default", "aten::relu"),
    ("aten::div.Tensor_mode", "aten::div"),
    ("aten._softmax.default", "aten::_softmax"),
    ("aten._convolution.default", "aten::_convolution"),
    ("torch.ops.aten.mul.Scalar", "aten::mul"),
    ("prim.device", "prim::device"),
    ("quantized.conv2d.new", "quantized::conv2d"),
])
def test_export_names_resolve_to_the_torchscript_rows(export_name, kind):
    row = _core.registry_row(export_name)
    assert row is not None and row == _core.registry_row(kind)
    assert _core.registry_rows()[row] == kind


@pytest.mark.parametrize("name", ["aten.no_such_op.default", "aten::no_such_op", "add", "", "aten.", "nons::add",
                                  "aten::" + "x" * 300])
def test_unknown_names_have_no_row(name):
    assert _core.registry_row(name) is None
