"""Getting a TorchScript graph ready for the C core: load, freeze, inline.

This is the only place that touches torch. It imports torch lazily so that
loading and running saved models does not need it.
"""
import contextlib
import os

from . import _quant
from ._log import warn


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is present wherever convert() is used
        raise ImportError("converting a PyTorch model needs torch installed") from exc
    return torch


def load_module(model):
    """Return a torch.jit.ScriptModule for `model` (a ScriptModule or a path to one), or `model`
    itself when it is a torch.jit.ScriptFunction (a scripted function, or one made from a graph)."""
    torch = _torch()
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no TorchScript file at '{path}'")
        try:
            return torch.jit.load(path, map_location="cpu")
        except Exception as exc:
            raise ValueError(f"'{path}' is not a TorchScript file saved with torch.jit.save ({exc})") from None
    if isinstance(model, torch.jit.ScriptModule):
        return model
    if isinstance(model, torch.jit.ScriptFunction):
        return model
    if isinstance(model, torch.nn.Module):
        raise TypeError(
            f"convert() takes TorchScript, not a plain {type(model).__name__} (nn.Module): trace or script it "
            "first, e.g. traced = torch.jit.trace(model.eval(), example_input), then ct.convert(traced, ...)")
    raise TypeError(f"convert() takes a torch.jit.ScriptModule, a torch.jit.ScriptFunction or a path to a TorchScript file, "
                    f"got {type(model).__name__}")


def _add_input(graph, name):
    """A new graph input named `name` (torch 1.13's Graph.addInput takes no name)."""
    v = graph.addInput()
    v.setDebugName(name)
    return v


def _is_training(module):
    try:
        return bool(module.training) or any(m.training for m in module.modules())
    except Exception:
        return False


# the training flags turned off in a module converted in training mode: dropout only (batch norm keeps its flag and
# normalizes with the batch's statistics, as torch did when tracing)
_TRAIN_FLAG = {"aten::dropout": 2, "aten::dropout_": 2,
               "aten::feature_dropout": 2, "aten::alpha_dropout": 2, "aten::feature_alpha_dropout": 2,
               "aten::native_dropout": 2}


def _to_eval_graph(torch, frozen, preserve):
    """A graph traced in training mode keeps training=True constants and batch-norm counter
    updates even when frozen in eval mode: turn the dropout flags off, drop the counter updates (their
    results are unused) and freeze again so the running statistics become constants."""
    graph = frozen._get_method("forward").graph
    changed = False
    for node in list(graph.nodes()):
        kind = node.kind()
        i = _TRAIN_FLAG.get(kind)
        if i is not None and i < len(list(node.inputs())):
            flag = node.inputsAt(i)
            if flag.node().kind() == "prim::Constant" and flag.toIValue() is True:
                with graph.insert_point_guard(node):
                    off = graph.insertConstant(False)
                node.replaceInput(i, off)
                changed = True
        elif kind == "aten::add_" and not node.output().uses():
            src = node.inputsAt(0).node()
            if src.kind() == "prim::GetAttr" and src.s("name") == "num_batches_tracked":
                node.destroy()
                changed = True
    if not changed:
        return frozen
    torch._C._jit_pass_dce(graph)
    return torch._C._freeze_module(frozen, list(preserve), True, False)


def warn_batch_statistics(graph):
    """One warning per conversion when a batch_norm has running statistics but training=True (a module traced
    in training mode, F.batch_norm(training=True)): the converted model normalizes with each batch's own
    statistics, as PyTorch computed the traced outputs. Without running statistics (track_running_stats=False)
    batch statistics are the only meaning, so nothing is said."""
    for node in graph.findAllNodes("aten::batch_norm"):
        ins = list(node.inputs())
        flag, rm = ins[5].node(), ins[3].node()
        if flag.kind() == "prim::Constant" and flag.output().toIValue() is True and not (
                rm.kind() == "prim::Constant" and rm.output().toIValue() is None):
            warn("batch_norm was traced in training mode (training=True): the converted model normalizes "
                 "with each batch's own statistics, as PyTorch did when tracing, not the running "
                 "statistics. Call model.eval() before tracing for inference behaviour.", stacklevel=4)
            return


def _is_function(torch, module):
    return isinstance(module, torch.jit.ScriptFunction)


def forward_graph(module, preserve=()):
    """Freeze `module` (parameters become constants, submodule calls are inlined) and
    return (graph, frozen_module). The user's module is not changed (a module in training
    mode is frozen in eval mode, its flags restored after). A ScriptFunction has no state to
    freeze: a copy of its graph is converted as written, calls inlined and nothing folded.
    Attributes named in `preserve` (dotted paths: a stateful model's buffers) stay attribute reads."""
    torch = _torch()
    if _is_function(torch, module):
        graph = module.graph.copy()
        torch._C._jit_pass_inline(graph)
        _inline_autograd_functions(torch, graph)
        _quant.rewrite_quantized_constants(torch, graph)
        _split_tensor_list_constants(graph)
        return graph, module
    training = _is_training(module)
    if training:
        warn("the model is in training mode; converting with dropout off (batch norm traced in training "
             "mode uses each batch's own statistics, as PyTorch did; scripted code reads self.training as "
             "False). Call model.eval() before tracing to silence this.", stacklevel=4)
        flags = [(m, m.training) for m in module.modules()]
        module.eval()
        try:
            frozen = torch._C._freeze_module(module._c, list(preserve), True, False)
        finally:
            for m, f in flags:
                m.training = f
        frozen = _to_eval_graph(torch, frozen, preserve)
    else:
        frozen = torch._C._freeze_module(module._c, list(preserve), True, False)
    # A copy: torch never frees a frozen module's graph (its class stays registered), so passes
    # run on the original would grow memory that is never returned, once per convert().
    graph = frozen._get_method("forward").graph.copy()
    torch._C._jit_pass_inline(graph)
    _inline_autograd_functions(torch, graph)
    _fold_attribute_reads(torch, graph, frozen, preserve)
    # calls inlined only now (functions such as F.nll_loss's reduction lookup) may compare or
    # branch on constants: fold them as freezing folded the rest
    torch._C._jit_pass_constant_propagation(graph)
    _quant.rewrite_quantized_constants(torch, graph)
    _split_tensor_list_constants(graph)
    return graph, frozen


def _fold_attribute_reads(torch, graph, frozen, preserve=()):
    """Freezing keeps a parameter read (prim::GetAttr) when alias analysis cannot rule out a write to
    it, e.g. an in-place op on a fresh tensor next to a list holding the parameters
    (pack_padded_sequence(enforce_sorted=False) in front of an RNN). A read nothing in the graph writes
    through is the parameter's value: make it a constant (tensors and lists of tensors)."""
    inputs = list(graph.inputs())
    if not inputs:
        return
    owners = {inputs[0].unique(): (frozen, "")}
    changed = False
    stack = [graph.nodes()]
    while stack:
        for node in stack.pop():
            for b in node.blocks():
                stack.append(b.nodes())
            if node.kind() != "prim::GetAttr" or node.input().unique() not in owners:
                continue
            owner, prefix = owners[node.input().unique()]
            name = node.s("name")
            if not owner.hasattr(name) or prefix + name in preserve:
                continue
            val = owner.getattr(name)
            out = node.output()
            if isinstance(val, torch._C.ScriptModule):
                owners[out.unique()] = (val, prefix + name + ".")
                continue
            is_tensors = isinstance(val, torch.Tensor) or (
                isinstance(val, (list, tuple)) and val and all(isinstance(v, torch.Tensor) for v in val))
            written = any(u.user.kind().endswith("_") and not u.user.kind().endswith("__") and u.offset == 0
                          for u in out.uses())
            if not is_tensors or written:
                continue
            with graph.insert_point_guard(node):
                c = graph.insertConstant([v.detach() for v in val] if isinstance(val, (list, tuple)) else val.detach())
            out.replaceAllUsesWith(c)
            changed = True
    if changed:
        torch._C._jit_pass_dce(graph)


def _autograd_outputs(torch, node, sub):
    """The subgraph the tracer keeps for a custom autograd Function (prim::PythonOp) lists the
    Function's outputs in the order their ops ran, not in the order forward returned them, and leaves
    out an output that is one of its inputs. Match them by value: run the subgraph and the Function
    on the same random inputs (shapes and dtypes as traced) and pair outputs that are equal. Returns
    one subgraph value (output or input) per Function output, or None when they cannot be paired."""
    outs = list(node.outputs())
    if len(outs) == 1 and isinstance(outs[0].type(), torch._C.TupleType):
        n_out = len(outs[0].type().elements())
    else:
        n_out = len(outs)
    sub_outs, sub_ins = list(sub.outputs()), list(sub.inputs())
    if n_out == 1 and len(sub_outs) == 1:
        return sub_outs
    try:
        gen = torch.Generator().manual_seed(0)
        tensors = []
        for v in sub_ins:      # the node's own inputs lose their traced types when the module is frozen
            t = v.type()
            shape, dtype = t.sizes(), t.dtype()
            if shape is None or dtype is None:
                return None
            if dtype.is_floating_point or dtype.is_complex:
                tensors.append(torch.randn(shape, generator=gen).to(dtype))
            elif dtype == torch.bool:
                tensors.append(torch.randint(0, 2, shape, generator=gen).bool())
            else:
                tensors.append(torch.randint(0, 3, shape, generator=gen).to(dtype))
        scalars, ti, si, args = list(node.scalar_args()), 0, 0, []
        for c in node.cconv():
            if c == "d":
                args.append(tensors[ti]); ti += 1
            else:
                args.append(scalars[si]); si += 1
        with torch.no_grad():
            want = node.pyobj()(*args)      # the Function's apply
            runnable = sub.copy()
            if len(sub_outs) != 1:
                runnable.makeMultiOutputIntoTuple()
            fn = torch._C._create_function_from_graph("autograd_function_subgraph", runnable)
            got = fn(*tensors)
    except Exception:      # the Function or its subgraph does not run on made-up inputs
        return None
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    got = list(got) if isinstance(got, (tuple, list)) else [got]
    candidates = list(zip(sub_outs, got)) + list(zip(sub_ins, tensors))
    pairs = []
    for w in want:
        hit = [v for v, g in candidates
               if isinstance(w, torch.Tensor) and isinstance(g, torch.Tensor) and w.shape == g.shape
               and w.dtype == g.dtype and (torch.equal(w, g) or (w.is_floating_point() and torch.allclose(
                   w, g, rtol=1e-6, atol=1e-6, equal_nan=True)))]
        if not hit:
            return None
        pairs.append(hit[0])
    return pairs if len(pairs) == n_out else None


def _inline_autograd_functions(torch, graph):
    """Replace each call of a custom autograd Function (prim::PythonOp: GeLUFunction.apply, XSoftmax.apply
    in transformers) by the ops its forward ran while tracing, which the tracer keeps as the node's
    Subgraph. A Function whose outputs cannot be paired with the subgraph's stays as it is and is reported
    as an op that cannot be converted."""
    calls, stack = [], [graph.block()]
    while stack:
        for node in stack.pop().nodes():
            stack.extend(node.blocks())
            if node.kind() == "prim::PythonOp" and node.hasAttribute("Subgraph"):
                calls.append(node)
    if not calls:
        return
    for node in calls:
        sub = node.g("Subgraph")
        vals = _autograd_outputs(torch, node, sub)
        if vals is None:
            continue
        with graph.insert_point_guard(node):
            ins = list(node.inputs())
            made = graph.insertGraph(sub, ins)
            # each subgraph value paired with a Function output, as the value it became in this graph
            here = {v.unique(): h for v, h in zip(list(sub.inputs()) + list(sub.outputs()), ins + list(made))}
            results = [here[v.unique()] for v in vals]
            outs = list(node.outputs())
            if len(outs) == 1 and isinstance(outs[0].type(), torch._C.TupleType):
                for use in list(outs[0].uses()):
                    if use.user.kind() == "prim::TupleUnpack":
                        for o, r in zip(list(use.user.outputs()), results):
                            o.replaceAllUsesWith(r)
                        use.user.destroy()
                if outs[0].uses():
                    tup = graph.create("prim::TupleConstruct", results)
                    tup.output().setType(outs[0].type())
                    graph.insertNode(tup)
                    outs[0].replaceAllUsesWith(tup.output())
            else:
                for o, r in zip(outs, results):
                    o.replaceAllUsesWith(r)
        node.destroy()
    torch._C._jit_pass_dce(graph)
    torch._C._jit_pass_constant_propagation(graph)


def _attribute_reads(graph):
    """[(dotted attribute name, value)] of every prim::GetAttr chain from self (blocks included) that
    reads something other than a submodule."""
    inputs = list(graph.inputs())
    if not inputs:
        return []
    path = {inputs[0].unique(): ""}
    reads = []
    stack = [graph.nodes()]
    while stack:
        for node in list(stack.pop()):
            stack.extend(b.nodes() for b in node.blocks())
            if node.kind() != "prim::GetAttr" or node.input().unique() not in path:
                continue
            full = path[node.input().unique()] + node.s("name")
            out = node.output()
            if out.type().kind() == "ClassType":
                path[out.unique()] = full + "."
            else:
                reads.append((full, out))
    return reads


def state_inputs(graph, names):
    """A stateful model's buffers (dotted names, as named_buffers() gives them): every read of one
    (a prim::GetAttr chain from self) becomes a new graph input, one per buffer, after the others, in
    the order of `names`."""
    found = {}
    for full, out in _attribute_reads(graph):
        if full in names:
            found.setdefault(full, []).append(out)
    for name in names:
        v = _add_input(graph, name.replace(".", "_"))
        for out in found.get(name, []):
            v.setType(out.type())
            out.replaceAllUsesWith(v)
    _torch()._C._jit_pass_dce(graph)


def check_buffer_writes(graph, module):
    """Freezing keeps the reads of a buffer the model writes in place: without states= such a model
    cannot keep the buffer between predictions, so say how to declare it."""
    buffers = dict(module.named_buffers()) if hasattr(module, "named_buffers") else {}
    for full, _ in _attribute_reads(graph):
        if full in buffers:
            b = buffers[full]
            raise ValueError(
                f"the model updates its buffer {full!r} in place; a Core ML model keeps such a buffer between "
                "predictions only as a state (iOS18): convert with states=[ct.StateType(wrapped_type=ct.TensorType("
                f"shape={tuple(b.shape)}, dtype=np.float16), name={full!r})] and "
                "minimum_deployment_target=ct.target.iOS18, then predict with state=mlmodel.make_state()")


def _split_tensor_list_constants(graph):
    """Freezing folds `x[idx]`'s index list (Tensor?[]) into one constant, which the C reader keeps
    opaque: rebuild it as tensor constants + prim::ListConstruct."""
    for node in list(graph.nodes()):
        if node.kind() != "prim::Constant" or not node.hasAttribute("value") or node.kindOf("value") != "ival":
            continue
        out = node.output()
        val = node.ival("value")
        if not isinstance(val, (list, tuple)) or not val or not any(hasattr(v, "dtype") for v in val):
            continue
        with graph.insert_point_guard(node):
            items = [graph.insertConstant(v) for v in val]
            lst = graph.create("prim::ListConstruct", items)
            lst.output().setType(out.type())
            graph.insertNode(lst)
        out.replaceAllUsesWith(lst.output())
        node.destroy()


def forward_signature(module):
    """[(argument name, traced dtype name or None, traced shape or None)] of forward's inputs after
    self (a ScriptFunction has no self). Traced modules record dtype and shape of the example inputs;
    scripted ones do not."""
    skip = 0 if _is_function(_torch(), module) else 1
    try:
        schema = module.schema if skip == 0 else module.forward.schema
        names = [a.name for a in schema.arguments][skip:]
    except Exception:
        names = None
    out = []
    for i, v in enumerate(list(module.graph.inputs())[skip:]):
        t = v.type()
        dtype = sizes = None
        try:
            dtype = t.scalarType()
            sizes = t.sizes()
        except Exception:
            pass
        name = names[i] if names and i < len(names) else v.debugName().split(".")[0]
        elems = _tuple_elements(t)
        if elems is not None:  # a tuple of tensors (an RNN's (h, c)) is one input per element, as coremltools does
            out.extend((f"{name}_{k}", None, None) for k in range(elems))
            continue
        out.append((name, dtype, tuple(sizes) if sizes is not None else None))
    return out


def _tuple_elements(t):
    """The element count of a (flat) tuple-of-tensors type, else None."""
    try:
        if t.kind() != "TupleType":
            return None
        elems = t.elements()
        return len(elems) if all(e.kind() == "TensorType" for e in elems) else None
    except Exception:
        return None


def flatten_tuple_inputs(graph, is_function):
    """Graph inputs that are tuples of tensors become one input per element, in order, rebuilt into the
    tuple (prim::TupleConstruct) where the graph reads them."""
    first = 0 if is_function else 1
    old = list(graph.inputs())[first:]
    if not any(_tuple_elements(v.type()) is not None for v in old):
        return
    nodes = list(graph.nodes())
    for v in old:
        n = _tuple_elements(v.type())
        if n is None:
            nv = _add_input(graph, v.debugName().split(".")[0])
            nv.setType(v.type())
            v.replaceAllUsesWith(nv)
            continue
        parts = []
        for k in range(n):
            p = _add_input(graph, f"{v.debugName().split('.')[0]}_{k}")
            p.setType(v.type().elements()[k])
            parts.append(p)
        tc = graph.create("prim::TupleConstruct", parts)
        if nodes:
            tc.insertBefore(nodes[0])
        else:
            graph.insertNode(tc)
        tc.output().setType(v.type())
        v.replaceAllUsesWith(tc.output())
    for i in reversed(range(first, first + len(old))):
        graph.eraseInput(i)


def trailing_defaults(module, given):
    """The default values of forward's arguments after the first `given` (scripted code such as
    nn.LSTMCell's `hx: Optional[Tensor] = None`), or None when one of them has no default."""
    skip = 0 if _is_function(_torch(), module) else 1
    try:
        schema = module.schema if skip == 0 else module.forward.schema
        args = list(schema.arguments)[skip + given:]
    except Exception:
        return None
    if not args or not all(a.has_default_value() for a in args):
        return None
    return [a.default_value for a in args]


def bind_defaults(graph, given, defaults, is_function):
    """Give forward's trailing arguments their default values: each becomes a constant of the graph
    (so `hx is None` branches fold) and is no longer an input."""
    torch = _torch()
    first = (0 if is_function else 1) + given
    inputs = list(graph.inputs())
    for k, value in enumerate(defaults):
        with _at_start(graph):
            c = graph.insertConstant(value)
        inputs[first + k].replaceAllUsesWith(c)
    for k in reversed(range(len(defaults))):
        graph.eraseInput(first + k)
    torch._C._jit_pass_constant_propagation(graph)
    torch._C._jit_pass_dce(graph)


# torch scalar type name (as traced signatures report it) -> (ScalarType code, torch dtype attribute)
_SCALAR_TYPE = {"Byte": (0, "uint8"), "Char": (1, "int8"), "Short": (2, "int16"), "Int": (3, "int32"),
                "Long": (4, "int64"), "Half": (5, "float16"), "Float": (6, "float32"), "Double": (7, "float64"),
                "Bool": (11, "bool")}


def _at_start(graph):
    """A context in which inserted nodes go before the graph's first node (its end when it has none)."""
    nodes = list(graph.nodes())
    return graph.insert_point_guard(nodes[0]) if nodes else contextlib.nullcontext()


def cast_inputs(graph, casts, is_function):
    """Inputs declared with a dtype other than the traced one (an index input declared fp32, a float input
    declared int32) are cast to the traced dtype at the program's start, as coremltools does: an aten::to
    after the graph input, which every use of the input then reads."""
    first = 0 if is_function else 1
    inputs = list(graph.inputs())
    for k, tdtype in enumerate(casts):
        if tdtype not in _SCALAR_TYPE:
            continue
        code, name = _SCALAR_TYPE[tdtype]
        v = inputs[first + k]
        with _at_start(graph):
            dt = graph.insertConstant(code)
            no = graph.insertConstant(False)
            none = graph.insertConstant(None)
            node = graph.create("aten::to", [v, dt, no, no, none])
            graph.insertNode(node)
        out = node.output()
        try:
            out.setType(v.type().with_dtype(getattr(_torch(), name)))
        except Exception:
            pass
        v.replaceAllUsesWith(out)
        node.replaceInput(0, v)


def check_graph_outputs(graph):
    """Core ML outputs are tensors: a dict (or a non-tensor) returned by forward cannot be converted."""
    for i, o in enumerate(graph.outputs()):
        kind = o.type().kind()
        if kind == "DictType":
            raise ValueError(
                f"the model returns a dict ({o.type()}); Core ML outputs are tensors. Return a tuple instead, "
                "e.g. wrap the model:\n"
                "    class Wrapped(torch.nn.Module):\n"
                "        def __init__(self, m):\n"
                "            super().__init__()\n"
                "            self.m = m\n"
                "        def forward(self, x):\n"
                "            out = self.m(x)\n"
                "            return out['logits'], out['boxes']   # the entries you need, in a fixed order\n"
                "and trace Wrapped(model).eval(); name the outputs with outputs=[ct.TensorType(name=...), ...]")
