"""What the torch.export tests share: the precision names, exporting a module the same way in each file, and
predicting a converted program on argument sets against the program's own outputs."""
import torch

import pt2coreml as ct
from parity import TOL, compare

PREC = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}


def flat(out):
    """A program's outputs (a tensor, or nested lists and tuples of them) as one flat list."""
    if isinstance(out, torch.Tensor):
        return [out]
    res = []
    for o in out:
        res.extend(flat(o) if isinstance(o, (list, tuple)) else [o])
    return res


def export(module, args, dynamic_shapes=None):
    """torch.export.export of module in eval mode, under a fixed seed and no_grad."""
    torch.manual_seed(0)
    with torch.no_grad():
        return torch.export.export(module.eval(), tuple(args), dynamic_shapes=dynamic_shapes)


def predict_compare(ep, m, arg_sets, precision, tol=None):
    """Predict the converted program m on each argument set (a list of tensors, in ep's input order) and compare
    every output with ep.module()'s, within TOL[precision] unless tol is given."""
    names = [f["name"] for f in m._desc["inputs"]]
    outs = [f["name"] for f in m._desc["outputs"]]
    for args in arg_sets:
        with torch.no_grad():
            refs = [r.detach().numpy() for r in flat(ep.module()(*args))]
        got = m.predict({n: a.numpy() for n, a in zip(names, args)})
        assert len(outs) == len(refs), f"{len(outs)} outputs, torch has {len(refs)}"
        for n, r in zip(outs, refs):
            compare(n, got[n], r, tol if tol is not None else TOL[precision])
