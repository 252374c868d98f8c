"""ct.debug: the numerical debugger. Where does a converted model start to differ from PyTorch?

    report = ct.debug.compare(traced, mlmodel, {"x": x})
    print(report)                 # first op out of tolerance, its source line, the error along its path, worst ops
    report.first_bad              # OpResult (None when every op is within tolerance)
    report.compute_precision      # for an fp16 program: FP16ComputePrecision keeping the ops fp16 breaks in fp32

PyTorch's side runs the frozen, inlined TorchScript graph that convert() lowers, every tensor a node computes
copied out as it is made (a later in-place op cannot change it). Our side runs the program in the reference
runtime keeping its intermediate values (Program.run_capture). A MIL value is matched with the TorchScript
value it computes through the debug info the lowering records (Program.ops(): each value's TorchScript debug
name, carried through the passes); a package read from disk has none, so its values are matched by name
(TorchScript's debug name made a MIL identifier, as our lowering and coremltools name them; coremltools'
"_cast_fp16" suffix ignored). The comparisons are numpy.
"""
import html
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core

FP16_MAX = 65504.0

__all__ = ["compare", "Report", "OpResult", "FP16Op"]


class OpResult:
    """One TorchScript value compared with the MIL value computing it."""
    __slots__ = ("index", "torch_name", "kind", "mil_name", "mil_op", "mil_type", "shape", "dtype", "max_abs",
                 "max_rel", "scale", "ok", "loc", "source", "note", "inputs")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    @property
    def where(self) -> str:
        """'file.py:12: the source line' (or what is known of it)."""
        if self.loc and self.source:
            return f"{self.loc}: {self.source}"
        return self.loc or ""

    def __repr__(self):
        return (f"OpResult({self.kind} -> %{self.torch_name} = MIL {self.mil_type} %{self.mil_name}, "
                f"max_abs={self.max_abs:.4g}, max_rel={self.max_rel:.4g}, ok={self.ok}"
                + (f", at {self.where}" if self.loc else "") + ")")


class FP16Op:
    """An op of an fp16 program that should stay fp32: its values leave fp16's range, it reads such a value,
    or it is where fp16 rounding first loses more than the threshold."""
    __slots__ = ("mil_op", "mil_type", "reason", "torch_name", "max_value", "max_rel", "where")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def __repr__(self):
        return f"FP16Op({self.mil_type} {self.mil_op!r}: {self.reason})"


class _KeepFP32:
    """An op_selector: fp16 for every op but the named ones (a class, so that it prints as what it does)."""

    def __init__(self, names):
        self.names = frozenset(names)

    def __call__(self, op) -> bool:
        return op.name not in self.names

    def __repr__(self):
        return f"lambda op: op.name not in {set(sorted(self.names)) if self.names else 'set()'}"


class Report:
    """What compare() found. Fields: ops (every compared value, in graph order), first_bad, path (the values
    from the inputs to first_bad along the largest errors), worst, fp16 (ops to keep fp32 in an fp16 program),
    rtol / atol, unmatched (TorchScript values without a MIL counterpart), outputs (name -> max error)."""

    def __init__(self, ops, first_bad, path, worst, fp16, fp16_program, rtol, atol, unmatched, outputs, by_name,
                 threshold):
        self.ops: List[OpResult] = ops
        self.first_bad: Optional[OpResult] = first_bad
        self.path: List[OpResult] = path
        self.worst: List[OpResult] = worst
        self.fp16: List[FP16Op] = fp16
        self.fp16_program = fp16_program
        self.rtol, self.atol = rtol, atol
        self.unmatched: List[str] = unmatched
        self.outputs: Dict[str, float] = outputs
        self.matched_by_name = by_name
        self.fp16_threshold = threshold

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    @property
    def fp32_ops(self) -> List[str]:
        """Names of the MIL ops fp16 breaks (keep them fp32)."""
        return sorted({f.mil_op for f in self.fp16})

    @property
    def op_selector(self):
        """op_selector for ct.transform.FP16ComputePrecision: fp16 for every op but fp32_ops."""
        return _KeepFP32(self.fp32_ops)

    @property
    def compute_precision(self):
        """ct.transform.FP16ComputePrecision(op_selector=...) keeping fp32_ops in fp32 (None: nothing to keep)."""
        from .transform import FP16ComputePrecision
        return FP16ComputePrecision(op_selector=self.op_selector) if self.fp16 else None

    @property
    def suggestion(self) -> str:
        if not self.fp16:
            return ""
        return f"compute_precision=ct.transform.FP16ComputePrecision(op_selector={self.op_selector!r})"

    def _rows(self, items):
        return [(r.kind or "", r.torch_name, f"{r.mil_type} {r.mil_name}", str(list(r.shape or ())),
                 f"{r.max_abs:.3g}", f"{r.max_rel:.3g}", "ok" if r.ok else "BAD", r.where) for r in items]

    def __str__(self):
        head = ("op", "torch value", "MIL op value", "shape", "max abs", "max rel", "", "source")
        lines = [f"pt2coreml numerical comparison: {len(self.ops)} values compared"
                 f" ({'fp16' if self.fp16_program else 'fp32'} program; an op fails when"
                 f" max|ours - torch| > {self.atol:g} + {self.rtol:g} * max|torch|)"]
        if self.matched_by_name:
            lines.append("(the package carries no debug info: values matched by name)")
        if self.first_bad is None:
            lines.append("every compared value is within tolerance")
        else:
            b = self.first_bad
            lines.append(f"FIRST BAD: {b.kind} -> %{b.torch_name} (MIL {b.mil_type} '{b.mil_op}'): max abs error "
                         f"{b.max_abs:.4g}, relative {b.max_rel:.4g}" + (f"  [{b.note}]" if b.note else ""))
            if b.loc:
                lines.append(f"  at {b.where}")
            if len(self.path) > 1:
                lines.append("  error along the path from the inputs:")
                lines += _table(head, self._rows(self.path), indent="    ")
        if self.worst:
            lines.append(f"worst {len(self.worst)}:")
            lines += _table(head, self._rows(self.worst), indent="  ")
        if self.fp16:
            lines.append("fp16: these ops leave fp16's range or lose precision in fp16; keep them fp32 with")
            lines.append("  " + self.suggestion)
            for f in self.fp16:
                lines.append(f"  {f.mil_type} '{f.mil_op}': {f.reason}" + (f"  ({f.where})" if f.where else ""))
        if self.outputs:
            lines.append("outputs (max relative error): " +
                         ", ".join(f"{k} {v:.3g}" for k, v in self.outputs.items()))
        return "\n".join(lines)

    def __repr__(self):
        bad = f"first_bad={self.first_bad.torch_name!r}" if self.first_bad else "ok"
        return f"<pt2coreml.debug.Report {len(self.ops)} values, {bad}>"

    def _repr_html_(self):
        e = html.escape
        out = [f"<p><b>pt2coreml numerical comparison</b>: {len(self.ops)} values compared, "
               f"{'fp16' if self.fp16_program else 'fp32'} program, rtol {self.rtol:g}, atol {self.atol:g}</p>"]
        if self.first_bad is not None:
            b = self.first_bad
            out.append(f"<p style='color:#b00'><b>First bad</b>: {e(b.kind or '')} &rarr; %{e(b.torch_name)} "
                       f"(MIL {e(b.mil_type or '')} '{e(b.mil_op or '')}'), max abs {b.max_abs:.4g}, "
                       f"relative {b.max_rel:.4g}<br><code>{e(b.where)}</code></p>")
        else:
            out.append("<p>Every compared value is within tolerance.</p>")
        head = ("op", "torch value", "MIL op value", "shape", "max abs", "max rel", "", "source")

        def table(title, rows):
            t = [f"<p>{e(title)}</p><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"]
            for r in rows:
                color = "" if r[6] == "ok" else " style='color:#b00'"
                t.append(f"<tr{color}>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
            return "".join(t) + "</table>"
        if len(self.path) > 1:
            out.append(table("Error along the path from the inputs", self._rows(self.path)))
        if self.worst:
            out.append(table("Worst ops", self._rows(self.worst)))
        if self.fp16:
            out.append(f"<p>fp16: keep these ops fp32 with <code>{e(self.suggestion)}</code></p><ul>" +
                       "".join(f"<li>{e(f.mil_type)} '{e(f.mil_op)}': {e(f.reason)}</li>" for f in self.fp16) +
                       "</ul>")
        return "".join(out)


def _table(head, rows, indent=""):
    rows = [tuple(head)] + [tuple(r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]


# ---- PyTorch's side ----

def _mil_identifier(name: str) -> str:
    """A TorchScript debug name as the lowering names values ("input.1" -> "input_1", "5" -> "var_5")."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return "var_" + s if not s or s[0].isdigit() else s


def _module(model, args):
    import torch
    from ._frontend import load_module
    if isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule):
        with torch.no_grad():
            return torch.jit.trace(model.eval(), tuple(args))
    return load_module(model)


def _torch_values(module, args):
    """Run the graph convert() lowers, every tensor a top-level node computes copied out as made.
    Returns ({value name: ndarray}, [value names in graph order], {value name: [input value names]},
    {value name: (kind, loc, source line)}, [graph output names])."""
    import torch
    from ._frontend import bind_defaults, flatten_tuple_inputs, forward_graph, forward_signature, trailing_defaults
    is_fn = isinstance(module, torch.jit.ScriptFunction)
    graph, _frozen = forward_graph(module)
    flatten_tuple_inputs(graph, is_fn)
    if len(forward_signature(module)) > len(args):  # trailing arguments take their defaults, as in convert()
        defaults = trailing_defaults(module, len(args))
        if defaults is not None:
            bind_defaults(graph, len(args), defaults, is_fn)
    sources = _core.graph_sources(graph)
    order, preds, kept = [], {}, []
    none = None
    for node in list(graph.nodes()):
        if node.kind() in ("prim::Constant", "prim::ListConstruct", "prim::TupleConstruct", "prim::GetAttr"):
            continue
        for v in node.outputs():
            if not isinstance(v.type(), torch._C.TensorType):
                continue
            if none is None:
                with graph.insert_point_guard(list(graph.nodes())[0]):
                    none = graph.insertConstant(None)
            clone = graph.create("aten::clone", [v, none])
            clone.insertAfter(node)
            clone.output().setType(v.type())
            order.append(v.debugName())
            preds[v.debugName()] = [i.debugName() for i in node.inputs()]
            kept.append(clone.output())
    out_names = []
    for o in graph.outputs():
        if isinstance(o.type(), torch._C.TensorType):
            out_names.append(o.debugName())
        elif o.node().kind() == "prim::TupleConstruct":
            out_names += [i.debugName() for i in o.node().inputs()]
    while len(list(graph.outputs())):
        graph.eraseOutput(0)
    tup = graph.create("prim::TupleConstruct", kept)
    graph.appendNode(tup)
    tup.output().setType(torch._C.TupleType([k.type() for k in kept]))
    graph.registerOutput(tup.output())
    ins = list(graph.inputs())
    if not is_fn:
        if ins[0].uses():
            raise ValueError("the frozen graph still reads module attributes; the debugger cannot run it")
        graph.eraseInput(0)
    fn = torch._C._create_function_from_graph("pt2coreml_debug", graph)
    with torch.no_grad():
        res = fn(*args) if kept else ()
    vals = {}
    for name, t in zip(order, res if isinstance(res, tuple) else (res,)):
        if isinstance(t, torch.Tensor):
            t = t.detach()
            if t.is_complex() or t.is_quantized:
                continue
            vals[name] = t.to(torch.float64).numpy() if t.is_floating_point() else t.numpy()
    return vals, order, preds, sources, out_names


def torch_arguments(module, mlmodel, arrays: Dict[str, np.ndarray]):
    """The model's inputs as the tensors PyTorch takes: each array in forward's traced dtype (scripted
    models record none: int32 becomes int64, fp16 fp32), in the order of the mlmodel's inputs."""
    import torch
    from ._frontend import forward_signature
    try:
        traced = forward_signature(module)
    except Exception:
        traced = []
    want = {"Long": torch.long, "Int": torch.int32, "Float": torch.float32, "Half": torch.float16,
            "Double": torch.float64, "Bool": torch.bool}
    args = []
    for i, f in enumerate(mlmodel._desc["inputs"]):
        x = torch.from_numpy(np.ascontiguousarray(arrays[f["name"]]))
        dt = want.get(traced[i][1]) if i < len(traced) and traced[i][1] is not None else None
        if dt is not None:
            x = x.to(dt)
        elif x.dtype == torch.int32:
            x = x.long()
        elif x.dtype == torch.float16:
            x = x.float()
        args.append(x)
    return args


# ---- the comparison ----

def _errors(ours: np.ndarray, ref: np.ndarray) -> Tuple[float, float, str]:
    """(max abs error, max |ref| over finite values, note)."""
    o = np.asarray(ours).astype(np.float64)
    r = np.asarray(ref).astype(np.float64)
    note = ""
    if o.shape != r.shape:
        if o.size != r.size:
            return float("inf"), 0.0, f"shape {list(o.shape)} here, {list(r.shape)} in PyTorch"
        o = o.reshape(r.shape)
    if r.size == 0:
        return 0.0, 0.0, note
    fin = np.isfinite(r)
    scale = float(np.max(np.abs(r[fin]))) if fin.any() else 0.0
    same_special = (~fin) & (o == r) | (np.isnan(o) & np.isnan(r))
    d = np.where(same_special, 0.0, np.abs(o - r))
    d = np.where(np.isnan(d), np.inf, d)
    err = float(np.max(d))
    if not np.all(np.isfinite(o[fin])):
        note = "non-finite values where PyTorch's are finite"
    return err, scale, note


def compare(model: Any, mlmodel: Any, inputs: Union[Dict[str, Any], Sequence[Any], Any], rtol: Optional[float] = None,
            atol: Optional[float] = None, fp16_threshold: float = 1e-2, top: int = 10) -> Report:
    """Run `model` (the torch module, traced or scripted module, or TorchScript file that was converted) and
    `mlmodel` (what convert() returned, or an .mlpackage read with MLModel, ours or coremltools') on `inputs`
    (dict input name -> array, or the forward arguments in order; an image input takes the (1, C, H, W) pixels
    Core ML feeds, or a PIL image, and PyTorch gets them as the program preprocesses them) and compare every intermediate value that has
    a PyTorch counterpart. A value fails when max|ours - torch| > atol + rtol * max|torch| (the tolerance scales
    with the tensor, so values that cancel to near zero do not trip it); defaults: rtol 1e-4, atol 1e-5 for an
    fp32 program, rtol 1e-2, atol 1e-3 for an fp16 one. For an fp16 program, `fp16_threshold` is the relative
    error at which an op counts as losing too much in fp16. Returns a Report."""
    from .models import MLModel
    if not isinstance(mlmodel, MLModel):
        mlmodel = MLModel(mlmodel)
    prog = mlmodel._prog
    feats = mlmodel._desc["inputs"]
    names = [f["name"] for f in feats]
    if isinstance(inputs, dict):
        unknown = sorted(set(inputs) - set(names))
        missing = [n for n in names if n not in inputs]
        if unknown or missing:
            raise ValueError(f"compare(): inputs must name the model's inputs {names}"
                             + (f"; missing {missing}" if missing else "") + (f"; unknown {unknown}" if unknown else ""))
        given = [inputs[n] for n in names]
    else:
        given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(given) != len(names):
            raise ValueError(f"compare(): the model takes {len(names)} input(s) {names}, got {len(given)}")
    arrays = {}
    for f, v in zip(feats, given):
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        if f.get("kind") == "image" and not isinstance(v, np.ndarray):
            from .models.model import _image_to_array
            v = _image_to_array(f["name"], v, f)
        arrays[f["name"]] = np.asarray(v)
    ops = prog.ops()
    producer = {v: op for op in ops for (v, _t, _src) in op[3]}  # MIL value -> its op's row
    feed = [_prepare(mlmodel, n, arrays[n]) for n in names]
    torch_arrays = dict(arrays)
    images = [f["name"] for f in feats if f.get("kind") == "image"]
    if images:  # PyTorch takes the pixels after the program's preprocessing (scale, bias, channel-last)
        pre = {}
        for n in images:
            for cand in (n + sfx + cast for sfx in ("__channel_last__", "__biased__", "__scaled__")
                         for cast in ("", "_cast_fp16")):
                if cand in producer:
                    pre[n] = cand
                    break
        if pre:
            got = prog.run_capture(feed, sorted(pre.values()))[1]
            torch_arrays.update({n: got[v].astype(np.float32) for n, v in pre.items()})
    import torch
    if isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule):
        args0 = [torch.from_numpy(np.ascontiguousarray(torch_arrays[n])) for n in names]
        module = _module(model, args0)
    else:
        module = _module(model, [])
    args = torch_arguments(module, mlmodel, torch_arrays)
    ref, order, preds, sources, out_names = _torch_values(module, args)

    fp16_program = any(dt == "fp16" for op in ops for (_, (dt, _), _) in op[3])
    rtol = (1e-2 if fp16_program else 1e-4) if rtol is None else float(rtol)
    atol = (1e-3 if fp16_program else 1e-5) if atol is None else float(atol)

    # TorchScript value -> MIL value
    has_src = any(src for op in ops for (_, _, src) in op[3])
    in_names = {n for n, _ in prog.io()[0]}
    mil_of = {}
    if has_src:
        for op in ops:
            if op[5]:
                continue  # nested blocks: PyTorch's side compares the top level only
            for (vname, _t, src) in op[3]:
                if src and src not in mil_of and src in ref and vname not in in_names:
                    mil_of[src] = vname
    else:  # by name; a value of another element count is not the same value
        for t in order:
            s = _mil_identifier(t)
            for cand in (s, s + "_cast_fp16"):
                if cand in producer and producer[cand][5] == 0 and t in ref and \
                        _numel(dict((n, ty) for n, ty, _ in producer[cand][3])[cand]) in (None, np.size(ref[t])):
                    mil_of[t] = cand
                    break
    _outs, ours = prog.run_capture(feed, None if fp16_program else sorted(set(mil_of.values())))

    results, by_torch = [], {}
    for t in order:
        if t not in mil_of or t not in ref or mil_of[t] not in ours:
            continue
        m = mil_of[t]
        op = producer[m]
        err, scale, note = _errors(ours[m], ref[t])
        rel = err / scale if scale > 0 else err
        kind, loc, src = sources.get(t, (None, None, None))
        r = OpResult(index=len(results), torch_name=t, kind=kind, mil_name=m, mil_op=op[0], mil_type=op[1],
                     shape=tuple(np.shape(ref[t])), dtype=str(ours[m].dtype), max_abs=err, max_rel=rel, scale=scale,
                     ok=bool(err <= atol + rtol * scale), loc=loc, source=src, note=note,
                     inputs=[p for p in preds.get(t, [])])
        results.append(r)
        by_torch[t] = r
    first_bad = next((r for r in results if not r.ok), None)
    path = []
    r = first_bad
    while r is not None:
        path.append(r)
        prev = [by_torch[p] for p in r.inputs if p in by_torch]
        r = max(prev, key=lambda x: (x.max_rel, x.index)) if prev else None
    path.reverse()
    worst = sorted(results, key=lambda x: (-x.max_rel if np.isfinite(x.max_rel) else -np.inf, x.index))[:top]
    worst = [w for w in worst if w.max_rel > 0 or not w.ok]
    fp16 = []
    if fp16_program:
        torch_of = {r.mil_name: r for r in results}
        try:
            ref32 = _fp32_reference(mlmodel).run_capture(feed)[1]
        except Exception:  # a program the fp32 copy cannot run: PyTorch's values stand in for fp32's
            fp16 = _fp16_ops(results, by_torch, ops, producer, fp16_threshold, has_src)
        else:
            fp16 = _fp16_ops_fp32(ops, ours, ref32, torch_of, fp16_threshold, has_src)
    unmatched = [t for t in order if t in ref and t not in by_torch]
    outputs = {o: by_torch[o].max_rel for o in out_names if o in by_torch}
    return Report(results, first_bad, path, worst, fp16, fp16_program, rtol, atol, unmatched, outputs,
                  not has_src, fp16_threshold)


def _numel(ty):
    """Element count of a (dtype, shape) type, None when a dim is symbolic."""
    shape = ty[1]
    return None if any(d is None for d in shape) else int(np.prod(shape, dtype=np.int64))


def _prepare(mlmodel, name, arr):
    from .models.model import _NP
    ins = dict(mlmodel._prog.io()[0])
    dtype, _shape = ins[name]
    return np.ascontiguousarray(np.asarray(arr).astype(_NP.get(dtype, np.float32)))


def _fp32_reference(mlmodel):
    """A copy of mlmodel's program with every fp16 value computed in fp32 (the fp32_compute pass): the same ops
    under the same names, so each value answers for the fp16 program's value of that name."""
    import os
    import shutil
    import tempfile
    if getattr(mlmodel, "_path", None):
        prog, _desc = _core.load(mlmodel._path)
    else:
        tmp = tempfile.mkdtemp(prefix="pt2coreml-debug-")
        try:
            path = os.path.join(tmp, "reference.mlpackage")
            mlmodel._prog.save(path, mlmodel._desc)
            prog, _desc = _core.load(path)  # weights are read into memory
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    prog.run_pass("fp32_compute")
    return prog


def _selector_name(name, has_src):
    # coremltools names an op <name>_cast_fp16 after its fp16 pass; its op selector saw <name>
    return name[:-len("_cast_fp16")] if not has_src and name.endswith("_cast_fp16") else name


def _fp16_ops_fp32(ops, v16, v32, torch_of, threshold, has_src):
    """The ops of an fp16 program to keep fp32, from the program run as it is (v16) and its fp32 copy (v32), value
    by value: ops with an fp16 output past fp16's range in fp32, ops reading such a value, and ops where the
    relative error first passes `threshold` (none of their inputs is past it). Casts are left out (no selector
    chooses them), but a cast of an input past the range makes its readers count."""
    rel, scale, out = {}, {}, []
    for op in ops:
        for (v, _t, _src) in op[3]:
            if v in v16 and v in v32:
                err, sc, _ = _errors(v16[v], v32[v])
                rel[v], scale[v] = (err / sc if sc > 0 else err), sc
    big = {v for op in ops for (v, (dt, _), _) in op[3] if dt == "fp16" and scale.get(v, 0.0) > FP16_MAX}
    for op in ops:
        outs = [v for (v, (dt, _), _) in op[3] if dt == "fp16" and v in rel]
        if not outs or op[1] in ("cast", "const"):
            continue
        past = [v for v in outs if v in big]
        reads = [i for i in op[2] if i in big]
        if past:
            reason = f"|x| reaches {max(scale[v] for v in past):.4g} in fp32, past fp16's 65504"
        elif reads:
            reason = f"reads {reads[0]}, which is past fp16's range"
        elif max(rel[v] for v in outs) > threshold and all(rel.get(i, 0.0) <= threshold for i in op[2]):
            reason = f"relative error {max(rel[v] for v in outs):.3g} in fp16 (threshold {threshold:g})"
        else:
            continue
        r = next((torch_of[v] for v in outs if v in torch_of), None)
        out.append(FP16Op(mil_op=_selector_name(op[0], has_src), mil_type=op[1], reason=reason,
                          torch_name=r.torch_name if r else None, max_value=max(scale[v] for v in outs),
                          max_rel=max(rel[v] for v in outs), where=r.where if r else (op[4] or "")))
    return out


def _fp16_ops(results, by_torch, ops, producer, threshold, has_src):
    """The MIL ops of an fp16 program to keep fp32: those whose PyTorch (fp32) values leave fp16's range, those
    that read such a value, and those where the relative error first passes `threshold` (none of the op's
    compared inputs is past it)."""
    out, seen = [], set()

    def add(op, reason, r):
        if not any(dt == "fp16" for (_, (dt, _), _) in op[3]):
            return  # computes in fp32 already
        name = _selector_name(op[0], has_src)
        if name in seen:
            return
        seen.add(name)
        out.append(FP16Op(mil_op=name, mil_type=op[1], reason=reason, torch_name=r.torch_name if r else None,
                          max_value=r.scale if r else None, max_rel=r.max_rel if r else None,
                          where=r.where if r else ""))
    big = set()
    for r in results:
        if r.scale > FP16_MAX:
            add(producer[r.mil_name], f"|x| reaches {r.scale:.4g} in fp32, past fp16's 65504", r)
            big.add(r.mil_name)
    if big:
        for op in ops:  # readers of an out-of-range value (their own outputs may be back in range)
            for i in op[2]:
                if i in big:
                    r = next((x for x in results if x.mil_op == op[0]), None)
                    add(op, f"reads {i}, which is past fp16's range", r)
                    break
    for r in results:
        if r.max_rel > threshold and r.scale <= FP16_MAX:
            prev = [by_torch[p] for p in r.inputs if p in by_torch]
            if all(p.max_rel <= threshold for p in prev):
                add(producer[r.mil_name], f"relative error {r.max_rel:.3g} in fp16 (threshold {threshold:g})", r)
    return out
