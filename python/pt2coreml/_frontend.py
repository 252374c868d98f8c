"""Getting a TorchScript graph ready for the C core: load, freeze, inline.

This is the only place that touches torch. It imports torch lazily so that
loading and running saved models does not need it.
"""
import os
import warnings

from . import _quant


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


def _is_training(module):
    try:
        return bool(module.training) or any(m.training for m in module.modules())
    except Exception:
        return False


_TRAIN_FLAG = {"aten::batch_norm": 5, "aten::instance_norm": 5, "aten::dropout": 2, "aten::dropout_": 2,
               "aten::feature_dropout": 2, "aten::alpha_dropout": 2, "aten::feature_alpha_dropout": 2,
               "aten::native_dropout": 2}


def _to_eval_graph(torch, frozen):
    """A graph traced in training mode keeps training=True constants and batch-norm counter
    updates even when frozen in eval mode: turn the flags off, drop the counter updates (their
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
    return torch._C._freeze_module(frozen, [], True, False)


def _is_function(torch, module):
    return isinstance(module, torch.jit.ScriptFunction)


def forward_graph(module):
    """Freeze `module` (parameters become constants, submodule calls are inlined) and
    return (graph, frozen_module). The user's module is not changed (a module in training
    mode is frozen in eval mode, its flags restored after). A ScriptFunction has no state to
    freeze: a copy of its graph is converted as written, calls inlined and nothing folded."""
    torch = _torch()
    if _is_function(torch, module):
        graph = module.graph.copy()
        torch._C._jit_pass_inline(graph)
        _quant.rewrite_quantized_constants(torch, graph)
        _split_tensor_list_constants(graph)
        return graph, module
    training = _is_training(module)
    if training:
        warnings.warn("the model is in training mode; converting with eval semantics (dropout off, batch "
                      "norm on running statistics). Call model.eval() before tracing to silence this.",
                      stacklevel=3)
        flags = [(m, m.training) for m in module.modules()]
        module.eval()
        try:
            frozen = torch._C._freeze_module(module._c, [], True, False)
        finally:
            for m, f in flags:
                m.training = f
        frozen = _to_eval_graph(torch, frozen)
    else:
        frozen = torch._C._freeze_module(module._c, [], True, False)
    # A copy: torch never frees a frozen module's graph (its class stays registered), so passes
    # run on the original would grow memory that is never returned, once per convert().
    graph = frozen._get_method("forward").graph.copy()
    torch._C._jit_pass_inline(graph)
    _fold_attribute_reads(torch, graph, frozen)
    # calls inlined only now (functions such as F.nll_loss's reduction lookup) may compare or
    # branch on constants: fold them as freezing folded the rest
    torch._C._jit_pass_constant_propagation(graph)
    _quant.rewrite_quantized_constants(torch, graph)
    _split_tensor_list_constants(graph)
    return graph, frozen


def _fold_attribute_reads(torch, graph, frozen):
    """Freezing keeps a parameter read (prim::GetAttr) when alias analysis cannot rule out a write to
    it, e.g. an in-place op on a fresh tensor next to a list holding the parameters
    (pack_padded_sequence(enforce_sorted=False) in front of an RNN). A read nothing in the graph writes
    through is the parameter's value: make it a constant (tensors and lists of tensors)."""
    inputs = list(graph.inputs())
    if not inputs:
        return
    owners = {inputs[0].unique(): frozen}
    changed = False
    stack = [graph.nodes()]
    while stack:
        for node in stack.pop():
            for b in node.blocks():
                stack.append(b.nodes())
            if node.kind() != "prim::GetAttr" or node.input().unique() not in owners:
                continue
            owner = owners[node.input().unique()]
            name = node.s("name")
            if not owner.hasattr(name):
                continue
            val = owner.getattr(name)
            out = node.output()
            if isinstance(val, torch._C.ScriptModule):
                owners[out.unique()] = val
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
        out.append((name, dtype, tuple(sizes) if sizes is not None else None))
    return out


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
