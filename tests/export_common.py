"""What the torch.export tests share: the precision names, exporting a module the same way in each file, and
predicting a converted program on argument sets against the program's own outputs, and converting serialized
programs edited at random."""
import copy
import json

import torch

import pt2coreml as ct
from pt2coreml import _core, _export
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


def mutations(doc, rng, count):
    """count copies of the JSON tree doc, each with 1-3 random edits (a key or element removed or duplicated, a
    value replaced by one of another kind)."""
    values = [None, 0, -1, 2**63 - 1, 1.5, "x", "", [], {}, [1, 2], {"as_int": 3}, {"as_tensor": {"name": "x"}},
              {"as_tensors": []}, {"as_none": True}, {"as_sym_int": {"as_name": "nope"}}, True, "Infinity",
              {"as_ints": [1]}, {"as_scalar_type": 99}]

    def paths(t, p=()):
        yield p
        items = t.items() if isinstance(t, dict) else enumerate(t) if isinstance(t, list) else ()
        for k, v in items:
            yield from paths(v, p + (k,))

    every = [p for p in paths(doc) if p]
    for _ in range(count):
        d = copy.deepcopy(doc)
        for _ in range(rng.randint(1, 3)):
            p, parent = rng.choice(every), d
            try:
                for k in p[:-1]:
                    parent = parent[k]
                r = rng.random()
                if r < 0.3 and isinstance(parent, (dict, list)):
                    del parent[p[-1]]
                elif r < 0.4 and isinstance(parent, list):
                    parent.append(copy.deepcopy(parent[p[-1]]))
                else:
                    parent[p[-1]] = copy.deepcopy(rng.choice(values))
            except (KeyError, IndexError, TypeError):
                pass
        yield json.dumps(d).encode()


def malformed_outcomes(programs, rng, count):
    """Convert count mutations of each (exported program, inputs) serialized, through _core.convert; each converts
    or raises a Python exception (a crash fails the whole run). Returns {"converted" or the exception's class
    name: how many}."""
    outcomes = {}
    for ep, inputs in programs:
        doc, weights = json.loads(_export.serialize(ep)), _export.weights(ep)
        for text in mutations(doc, rng, count):
            try:
                _core.convert(text, inputs, None, "CoreML5", "fp32", False, {}, weights=weights)
                outcomes["converted"] = outcomes.get("converted", 0) + 1
            except (ValueError, TypeError, RuntimeError, ct.ConversionError) as e:
                outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
    return outcomes
