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
        # freeze in eval mode, then give every submodule its training flag back (scripted modules have no
        # cheap copy: copy.copy shares submodules, deepcopy copies every weight)
        flags = [(m, m.training) for m in module.modules()]
        module.eval()
        try:
            frozen = torch._C._freeze_module(module._c, [], True, False)
        finally:
            for m, t in flags:
                m.training = t
    else:
        frozen = torch._C._freeze_module(module._c, [], True, False)
    graph = frozen._get_method("forward").graph
    torch._C._jit_pass_inline(graph)
    return graph, frozen
