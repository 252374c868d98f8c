"""Which lowered TorchScript kinds the suite runs through the runtime.

install() (called from conftest) wraps _core.convert and MLModel.predict for the test
session: every conversion records the node kinds of the TorchScript graph it was given
(nested blocks included), and a predict() that returns marks that model's kinds as run.
Only kinds that went through convert -> predict count: a conversion-only test does not.
test_zz_op_coverage.py compares the result with _core.lowered_ops() at the end of a
full run. The recorder only reads graphs; conversions and results are unchanged.

The kinds are also tallied per frontend (COVERED_BY: a TorchScript graph or a torch.export program given
to convert); tests/op_coverage_frontends.txt records the tally of a full run, docs/ops_by_frontend.md
(tools/gen_op_table.py) is written from it, and test_zz_op_coverage.py fails when a full run's tally
differs from the record. PT2COREML_OP_FRONTENDS=write (a full run) rewrites the record from the run;
=add (any run) adds the run's evidence to it."""
import os
import threading

COVERED = set()
FRONTENDS = ("TorchScript", "torch.export")
COVERED_BY = {f: set() for f in FRONTENDS}
RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "op_coverage_frontends.txt")
_RECORD_HEAD = """\
# The lowered kinds each frontend's tests run through convert -> predict (tests/op_coverage.py), one line
# per kind: the kind, a tab, the frontends. Written by a test run with PT2COREML_OP_FRONTENDS=write (the
# whole suite; test_zz_op_coverage.py fails when a full run's tally differs from this record) or =add (adds
# a run's evidence). tools/gen_op_table.py writes docs/ops_by_frontend.md from it. Do not edit by hand.
"""
SKIPPED_FILES = set()  # test files skipped whole at collection (an optional package is missing)
_last = threading.local()


def _export_kinds(text):
    """The kinds the torch.export reader makes of a serialized program's nodes (csrc/export/read.c)."""
    import json
    from pt2coreml import _core
    rows = _core.registry_rows()
    out = set()
    try:
        nodes = json.loads(text)["graph_module"]["graph"]["nodes"]
        targets = [n["target"] for n in nodes]
    except (ValueError, KeyError, TypeError):  # a malformed program (the reader's tests): nothing to record
        return out
    for t in targets:
        if not isinstance(t, str) or not t.startswith("torch.ops.") or "." not in t[10:]:
            continue
        ns, rest = t[10:].split(".", 1)
        op, ov = rest.rsplit(".", 1) if "." in rest else (rest, "default")
        i = _core.registry_row(f"{ns}::{op}.{ov}")
        out.add(rows[i] if i is not None and "." in rows[i] else f"{ns}::{op}")
    return out


def _archive_kinds(path):
    """A .pt2 archive's program (convert(path) hands the C core only the path)."""
    import zipfile
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.split("/")[1:2] == ["models"] and n.endswith(".json")]
        name = next((n for n in names if n.endswith("/model.json")), names[0])
        return _export_kinds(z.read(name))


def _kinds(graph):
    if isinstance(graph, bytes):
        return _export_kinds(graph)
    out = set()
    stack = [graph.nodes()]
    while stack:
        for n in stack.pop():
            out.add(n.kind())
            for b in n.blocks():
                stack.append(b.nodes())
    return out


def install():
    from pt2coreml import _convert, _core
    from pt2coreml.models import model as model_mod
    if getattr(_core, "_coverage_installed", False):
        return
    real_convert, real_api_convert = _core.convert, _convert.convert
    real_predict = model_mod.MLModel.predict

    def convert(graph, *a, **k):
        _last.kinds = _kinds(graph) if graph is not None else _archive_kinds(k["archive"])
        _last.frontend = FRONTENDS[0] if graph is not None and not isinstance(graph, bytes) else FRONTENDS[1]
        return real_convert(graph, *a, **k)

    def api_convert(*a, **k):
        _last.kinds = set()
        ml = real_api_convert(*a, **k)
        try:
            ml._lowered_kinds = frozenset(_last.kinds)
            ml._lowered_frontend = getattr(_last, "frontend", None)
        except AttributeError:
            pass
        return ml

    def predict(self, *a, **k):
        out = real_predict(self, *a, **k)
        kinds = getattr(self, "_lowered_kinds", ())
        COVERED.update(kinds)
        if getattr(self, "_lowered_frontend", None) in COVERED_BY:
            COVERED_BY[self._lowered_frontend].update(kinds)
        return out

    _core.convert = convert
    _core._coverage_installed = True
    _convert.convert = api_convert
    import pt2coreml
    pt2coreml.convert = api_convert
    model_mod.MLModel.predict = predict


def read_record(path=RECORD):
    """{kind: set of frontends} as the record holds it."""
    out = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    kind, fronts = line.rstrip("\n").split("\t")
                    out[kind] = set(fronts.split(", "))
    return out


def tally(lowered):
    """{kind: set of frontends} of this run, for the lowered kinds."""
    return {k: {f for f in FRONTENDS if k in COVERED_BY[f]} for k in lowered}


def write_record(by_kind, path=RECORD):
    with open(path, "w", encoding="utf-8") as f:
        f.write(_RECORD_HEAD)
        for kind in sorted(by_kind, key=lambda k: k.encode()):
            fronts = [fr for fr in FRONTENDS if fr in by_kind[kind]]
            if fronts:
                f.write(f"{kind}\t{', '.join(fronts)}\n")


def add_to_record(lowered):
    """PT2COREML_OP_FRONTENDS=add: the record gains this run's evidence (kinds no longer lowered go)."""
    rec = read_record()
    for kind, fronts in tally(lowered).items():
        rec.setdefault(kind, set()).update(fronts)
    write_record({k: v for k, v in rec.items() if k in lowered})
