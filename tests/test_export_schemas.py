"""csrc/export/aten_schemas.def, the aten schemas the torch.export reader fills defaults from, is what
torch's own schemas say (tools/gen_aten_schemas.py writes it), and covers every aten kind the lowering
registry has, so the table cannot go stale."""
import os
import sys

import pytest
import torch

from parity import TORCH_MAJOR
from pt2coreml import _core

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import gen_aten_schemas as gen  # noqa: E402

if TORCH_MAJOR < 2:
    pytest.skip("the table is generated from torch 2's schemas", allow_module_level=True)


@pytest.fixture(scope="module")
def table():
    with open(gen.DEF) as f:
        return gen.parse_def(f.read())


def test_rows_sorted_and_unique():
    with open(gen.DEF) as f:
        keys = [k.encode() for k in gen.parse_def(f.read())]
        f.seek(0)
        n = f.read().count("\nEX_SCHEMA(")
    assert len(keys) == n, "a row the test cannot read"
    assert all(a < b for a, b in zip(keys, keys[1:])), "rows out of order (the C lookup is a binary search)"


def test_rows_match_torch(table):
    """Every row is torch's schema of that overload, as the generator writes it."""
    live = gen.rows()
    differ = sorted(k for k in table if k in live and table[k] != live[k])
    gone = sorted(k for k in table if k not in live)
    new = sorted(k for k in live if k not in table)
    assert not (differ or gone or new), (
        f"csrc/export/aten_schemas.def is stale (run tools/gen_aten_schemas.py): rows differing from torch: "
        f"{differ[:5]}; rows torch no longer has: {gone[:5]}; overloads missing: {new[:5]}")


def test_every_registry_kind_has_rows(table):
    """Each kind the registry lowers (prim:: aside: torch.export writes none) has the rows of every overload the
    generator can write (out= variants, named tensors and script-object types are left out)."""
    gen.load_libraries()
    ops = {k.split(".", 1)[0] for k in table}
    missing = []
    for kind in _core.registry_rows():
        op = kind.split(".", 1)[0]
        if kind.startswith("prim::") or op in ops:
            continue
        for s in torch._C._jit_get_schemas_for_operator(op):
            try:
                gen.row(s)
            except gen.Skip:
                continue
            missing.append(kind)
            break
    assert not missing, f"registry kinds without schema rows (run tools/gen_aten_schemas.py): {missing}"
    assert "torchvision::nms.default" in table and "quantized_decomposed::quantize_per_tensor.default" in table


def test_c_lookup_reads_the_rows(table):
    """The C side finds a row by "ns::op.overload" (and "ns::op" for the default overload)."""
    args, rets = table["aten::conv2d.default"]
    assert "groups:i=1" in args and rets == "T"
    assert _core.export_schema("aten::conv2d.default") == (args, rets)
    assert _core.export_schema("aten::conv2d") == (args, rets)
    assert _core.export_schema("aten::add.Tensor") == table["aten::add.Tensor"]
    assert _core.export_schema("aten::no_such_op.default") is None


def test_defaults_are_torch_defaults(table):
    """The row of an op writes torch's defaults: what the reader fills in for a left-out argument."""
    op = torch.ops.aten.max_pool2d.default._schema
    args = dict(a.split("=", 1) if "=" in a else (a, None) for a in table["aten::max_pool2d.default"][0].split())
    for a in op.arguments:
        key = next(k for k in args if k.startswith(a.name + ":"))
        if a.has_default_value():
            assert args[key] == gen.default_code(a.default_value)
    assert table["aten::gelu.default"][0] == "self:T * approximate:s='none'"
