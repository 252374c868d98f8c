"""Which lowered TorchScript kinds the suite runs through the runtime.

install() (called from conftest) wraps _core.convert and MLModel.predict for the test
session: every conversion records the node kinds of the TorchScript graph it was given
(nested blocks included), and a predict() that returns marks that model's kinds as run.
Only kinds that went through convert -> predict count: a conversion-only test does not.
test_zz_op_coverage.py compares the result with _core.lowered_ops() at the end of a
full run. The recorder only reads graphs; conversions and results are unchanged."""
import threading

COVERED = set()
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
        _last.kinds = _kinds(graph)
        return real_convert(graph, *a, **k)

    def api_convert(*a, **k):
        _last.kinds = set()
        ml = real_api_convert(*a, **k)
        try:
            ml._lowered_kinds = frozenset(_last.kinds)
        except AttributeError:
            pass
        return ml

    def predict(self, *a, **k):
        out = real_predict(self, *a, **k)
        COVERED.update(getattr(self, "_lowered_kinds", ()))
        return out

    _core.convert = convert
    _core._coverage_installed = True
    _convert.convert = api_convert
    import pt2coreml
    pt2coreml.convert = api_convert
    model_mod.MLModel.predict = predict
