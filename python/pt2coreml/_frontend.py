"""Getting a TorchScript graph ready for the C core: load, freeze, inline.

This is the only place that touches torch. It imports torch lazily so that
loading and running saved models does not need it.
"""
import os
import warnings


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is present wherever convert() is used
        raise ImportError("converting a PyTorch model needs torch installed") from exc
    return torch


def load_module(model):
    """Return a torch.jit.ScriptModule for `model` (a ScriptModule or a path to one)."""
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
        raise TypeError("convert() takes a TorchScript module; wrap the function in an nn.Module and script "
                        "or trace the module")
    if isinstance(model, torch.nn.Module):
        raise TypeError(
            f"convert() takes TorchScript, not a plain {type(model).__name__} (nn.Module): trace or script it "
            "first, e.g. traced = torch.jit.trace(model.eval(), example_input), then ct.convert(traced, ...)")
    raise TypeError(f"convert() takes a torch.jit.ScriptModule or a path to a TorchScript file, "
                    f"got {type(model).__name__}")


def _non_tensor_outputs(ty, path):
    """Paths of the parts of an output type that are not tensors (tuples and lists of tensors are fine)."""
    torch = _torch()
    if isinstance(ty, torch.TensorType):
        return []
    if isinstance(ty, torch.TupleType):
        return [p for i, t in enumerate(ty.elements()) for p in _non_tensor_outputs(t, f"{path}[{i}]")]
    if isinstance(ty, torch.ListType) and isinstance(ty.getElementType(), torch.TensorType):
        return []
    return [(path, ty)]


def check_outputs(graph):
    """Fail early, with the fix, when forward returns something other than tensors (a dict, a str, ...)."""
    torch = _torch()
    bad = [b for i, o in enumerate(graph.outputs()) for b in _non_tensor_outputs(o.type(), f"output {i}")]
    if not bad:
        return
    where, ty = bad[0]
    if isinstance(ty, torch.DictType) or "Dict" in str(ty):
        keys = ""
        node = next(iter(graph.outputs())).node()
        if node.kind() == "prim::DictConstruct":
            ks = [i.toIValue() for i in list(node.inputs())[0::2] if i.node().kind() == "prim::Constant"]
            keys = f" (keys {ks})" if ks else ""
        key = repr(ks[0]) if keys else '"out"'
        raise TypeError(
            f"the model returns a dict{keys}; Core ML outputs must be tensors. Wrap the model so forward returns "
            f"tensors and trace the wrapper:\n"
            f"    class Wrapped(torch.nn.Module):\n"
            f"        def __init__(self, m):\n"
            f"            super().__init__(); self.m = m\n"
            f"        def forward(self, x):\n"
            f"            return self.m(x)[{key}]\n"
            f"    traced = torch.jit.trace(Wrapped(model).eval(), example_input)")
    raise TypeError(f"{where} of the model is a {ty}, not a tensor; Core ML outputs must be tensors (or tuples/lists "
                    "of tensors). Wrap the model so forward returns only tensors, then trace the wrapper.")


def _is_training(module):
    try:
        return bool(module.training) or any(m.training for m in module.modules())
    except Exception:
        return False


def forward_graph(module):
    """Freeze `module` (parameters become constants, submodule calls are inlined) and
    return (graph, frozen_module). The user's module is not changed."""
    torch = _torch()
    if _is_training(module):
        warnings.warn("the model is in training mode; converting with eval semantics (dropout off, batch "
                      "norm on running statistics). Call model.eval() before tracing to silence this.",
                      stacklevel=3)
        if hasattr(module, "copy"):
            module = module.copy()  # ScriptModule.copy shares tensors; eval() then stays on the copy
        else:  # traced modules (RecursiveScriptModule) have no copy(): a deep copy keeps the user's module as is
            import copy
            module = copy.deepcopy(module)
        module.eval()
    frozen = torch._C._freeze_module(module._c, [], True, False)
    graph = frozen._get_method("forward").graph
    torch._C._jit_pass_inline(graph)
    return graph, frozen
