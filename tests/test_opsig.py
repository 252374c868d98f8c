"""MIL op signatures live in one place, csrc/ir/ops.def: every row carries the op's parameters, its first
opset and its shape rule, and everything else (the IR checker, shape inference, the runtime's parameter
readers, the writer, the Python `mb` builder) reads the rows. These tests fail when a row lacks its
signature, a table indexed by op kind is kept by hand beside ops.def, or `mb` drifts from the C rows."""
import glob
import importlib.util
import os
import re

import numpy as np
import pytest

from pt2coreml import _core, _mb

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TYPES = {"tensor", "int", "ints", "bool", "bools", "float", "str"}


def _mil_ops_table():
    spec = importlib.util.spec_from_file_location("gen_mil_table", os.path.join(ROOT, "tools", "gen_mil_table.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.MIL_OPS


def test_every_op_row_has_a_signature():
    sigs = _core.mil_op_signatures()  # raises when a row's parameter string does not parse
    assert list(sigs) == _core.mil_ops()
    first = {op: int(opsets.split()[0][3:]) for op, opsets in _mil_ops_table().items()}
    for op, row in sigs.items():
        assert row["opset"] == first[op], f"{op}: ops.def says iOS{row['opset']}, coremltools' defs iOS{first[op]}"
        if op != "const":
            assert row["params"], f"ops.def row '{op}' has no parameters"
        names = [p["name"] for p in row["params"]]
        assert len(names) == len(set(names)), op
        for p in row["params"]:
            assert p["type"] in TYPES, (op, p)
            assert not (p["required"] and p["written"]), f"{op}.{p['name']}: a required parameter's default is not written"
            if p["default_spatial"]:
                assert p["type"] == "ints" and p["default"] is None, (op, p)


def test_kind_indexed_tables_come_from_ops_def():
    """A C array indexed by op kind is filled by including ops.def, never written out by hand."""
    bad = []
    for path in sorted(glob.glob(os.path.join(ROOT, "csrc", "**", "*.[ch]"), recursive=True)):
        src = open(path, encoding="utf-8").read()
        rel = os.path.relpath(path, ROOT)
        if re.search(r"\[\s*IR_OP_COUNT\s*\]", src) and '#include "ir/ops.def"' not in src:
            bad.append(f"{rel}: an array sized IR_OP_COUNT not generated from ops.def")
        for m in re.finditer(r"\[\s*IR_OP_(?!COUNT\b)[A-Z0-9_]+\s*\]\s*=", src):
            bad.append(f"{rel}: hand-written entry {m.group(0)!r} of a kind-indexed table")
    assert not bad, "\n".join(bad)


def test_rules_named_by_rows_are_the_only_inference_dispatch():
    rules = set(re.findall(r"IR_OP\(\w+,\s*\"\w+\",\s*\d+,\s*(\w+),", open(os.path.join(ROOT, "csrc", "ir", "ops.def")).read()))
    assert len(rules) > 50
    for path in glob.glob(os.path.join(ROOT, "csrc", "ir", "infer*.c")):
        src = open(path, encoding="utf-8").read()
        assert "switch (c->op->kind)" not in src, f"{os.path.basename(path)} dispatches by kind; name a rule in the ops.def row"
        for rule in re.findall(r"^int (inf_\w+)\(infer_ctx \*c\) \{", src, re.M):
            if rule in rules:
                rules.discard(rule)
    assert not rules, f"rules named in ops.def but defined nowhere: {sorted(rules)}"


def test_mb_parameters_equal_the_c_rows():
    sigs = _core.mil_op_signatures()
    assert set(_mb.PARAMS) == set(sigs) - {"const"}
    for op, row in sigs.items():
        if op == "const":
            continue
        want = {p["name"]: {"required": p["required"], "const": p["const"], "list": p["variadic"]} for p in row["params"]}
        assert _mb.PARAMS[op] == want, op
        assert list(_mb.PARAMS[op]) == [p["name"] for p in row["params"]], op
        doc = getattr(_mb.mb, op).__doc__
        assert doc.startswith(f"mb.{op}(" + ", ".join(p["name"] + ("" if p["required"] else "=None")
                                                       for p in row["params"])), op
        for rank in (None, 2, 3, 4, 5):
            written = {p["name"] for p in row["params"] if p["written"] and (p["default_spatial"] is None or (rank or 0) >= 3)}
            assert set(_mb._defaults(op, rank)) == written, (op, rank)


@pytest.mark.parametrize("op,rank,want", [
    ("conv", 4, dict(pad_type="valid", groups=1, strides=[1, 1], pad=[0, 0, 0, 0], dilations=[1, 1])),
    ("conv_transpose", 3, dict(pad_type="valid", groups=1, strides=[1], pad=[0, 0], dilations=[1])),
    ("max_pool", None, dict(ceil_mode=False)),
    ("reduce_argmax", 2, dict(axis=-1, keep_dims=False)),
    ("layer_norm", 3, dict(epsilon=1e-5)),
    ("l2_norm", 4, dict(epsilon=1e-6)),
    ("lstm", 3, dict(direction="forward", output_sequence=False, recurrent_activation="sigmoid",
                     cell_activation="tanh", activation="tanh")),
    ("log", 2, {}),  # epsilon: assumed by the readers, not written
])
def test_mb_writes_the_row_defaults(op, rank, want):
    got = _mb._defaults(op, rank)
    assert got == want and list(got) == list(want)


def test_checker_requires_what_the_row_requires():
    for op, row in _core.mil_op_signatures().items():
        req = [p["name"] for p in row["params"] if p["required"]]
        if op == "const" or not req or op in ("cond", "while_loop", "read_state", "write_state"):
            continue
        text = f"program(CoreML5)\nfunc main(%x: fp32[2]) {{\n  %y: fp32[2] = {op}()\n}} -> (%y)\n"
        with pytest.raises(RuntimeError, match=f"missing required input '{req[0]}'"):
            _core.parse(text).check()


def _run_one(body, x):
    p = _core.parse(f"program(CoreML5)\nfunc main(%x: fp32[{x.size}]) {{\n{body}\n}} -> (%y)\n")
    return p.run([x])[0]


def test_readers_take_defaults_from_the_row():
    """Shape inference and the runtime assume the row's defaults for parameters a package leaves out."""
    x = np.array([0.0, 4.0], dtype=np.float32)
    out = _run_one("  %y: fp32[2] = rsqrt(x=%x)", x)
    y = np.asarray(out)
    assert y[1] == pytest.approx(0.5) and np.isfinite(y[0])  # epsilon ~1e-12
    out = _run_one("  %y: fp32[2] = clip(x=%x)", np.array([-1.0, 9.0], dtype=np.float32))
    assert np.asarray(out).tolist() == [0.0, 6.0]  # clip's lenient 0 / 6
