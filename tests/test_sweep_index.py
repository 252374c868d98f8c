"""Sweep: advanced indexing against PyTorch with positive, negative and mixed index tensors on 1-4 axes
(x[i], x[:, i], x[i, j], x[i, :, j], broadcast index shapes, bool masks with int indices, a number
with a tensor), index_put / index_put_ (accumulate or not), take_along_dim and index_fill with negative
indices; the indices are constants (traced) or model inputs, fp32 and fp16. One converted model per
form computes all its index variants. Plus the regression x[:, [-1, 1], [-1]]."""
import numpy as np
import pytest
import torch

import pt2coreml as ct
from cov_common import Fn
from parity import need_torch2

X3 = torch.arange(60.0).reshape(3, 4, 5)
X4 = torch.arange(360.0).reshape(3, 4, 5, 6)
T = torch.tensor


class Idx(tuple):
    """Index tensors that know the sizes of the dims they index."""
    sizes = ()


def variants(*dims_and_shapes):
    """Positive, negative and mixed index tensors for the given (dim size, index shape) pairs."""
    out = []
    for kind in ("pos", "neg", "mixed"):
        g = torch.Generator().manual_seed(len(out) + 17 * len(dims_and_shapes))
        idx = []
        for size, shape in dims_and_shapes:
            p = torch.randint(0, size, shape, generator=g)
            if kind == "neg":
                p = p - size
            elif kind == "mixed":
                flip = torch.rand(shape, generator=g) < 0.5
                p = torch.where(flip, p - size, p)
                p.view(-1)[0] = -size  # the most negative entry
            idx.append(p)
        t = Idx(idx)
        t.sizes = tuple(size for size, _ in dims_and_shapes)
        out.append(t)
    return out


M0 = T([True, False, True])  # a mask over X's dim 0
M12 = torch.zeros(4, 5, dtype=torch.bool)
M12[[0, 1, 3, 3], [4, 0, 2, -1]] = True  # a mask over X3's dims 1, 2

# form: (x, fn(x, *idx), [variants])
GET = {
    "x[i]": (X3, lambda x, i: x[i], variants((3, (4,)))),
    "x[i2d]": (X3, lambda x, i: x[i], variants((3, (2, 3)))),
    "x[:,i]": (X3, lambda x, i: x[:, i], variants((4, (3,)))),
    "x[...,i]": (X4, lambda x, i: x[..., i], variants((6, (4,)))),
    "x[i,j]": (X3, lambda x, i, j: x[i, j], variants((3, (4,)), (4, (4,)))),
    "x[:,i,j]": (X3, lambda x, i, j: x[:, i, j], variants((4, (2,)), (5, (2,)))),
    "x[:,i,j]_bcast_scalar_idx": (X3, lambda x, i, j: x[:, i, j], variants((4, (2,)), (5, (1,)))),
    "x[i,:,j]": (X3, lambda x, i, j: x[i, :, j], variants((3, (3,)), (5, (3,)))),
    "x[i,:,:,j]": (X4, lambda x, i, j: x[i, :, :, j], variants((3, (2,)), (6, (2,)))),
    "x[:,i,:,j]": (X4, lambda x, i, j: x[:, i, :, j], variants((4, (3,)), (6, (3,)))),
    "x[i,j,k]": (X3, lambda x, i, j, k: x[i, j, k], variants((3, (5,)), (4, (5,)), (5, (5,)))),
    "x[i,j,k,l]": (X4, lambda x, i, j, k, l: x[i, j, k, l], variants((3, (4,)), (4, (4,)), (5, (4,)), (6, (4,)))),
    "x[:,i,j,k]": (X4, lambda x, i, j, k: x[:, i, j, k], variants((4, (3,)), (5, (3,)), (6, (3,)))),
    "x[i,j]_broadcast": (X3, lambda x, i, j: x[i, j], variants((3, (2, 1)), (4, (3,)))),
    "x[i,:,j]_broadcast": (X4, lambda x, i, j: x[i, :, j], variants((3, (2, 1)), (5, (1, 3)))),
    "x[i,j,k]_broadcast": (X3, lambda x, i, j, k: x[i, j, k], variants((3, (2, 1, 1)), (4, (1, 3, 1)), (5, (4,)))),
    "x[n,i]": (X3, lambda x, i: x[-1, i], variants((4, (3,)))),
    "x[i,n,j]": (X4, lambda x, i, j: x[i, 2, j], variants((3, (2,)), (5, (2,)))),
    "x[mask,:,i]": (X3, lambda x, i: x[M0, :, i], variants((5, (2,)))),
    "x[i,mask12]": (X3, lambda x, i: x[i, M12], variants((3, (4,)))),
    "x[mask,i]": (X3, lambda x, i: x[M0, i], variants((4, (2,)))),
}

def put(key, value, acc=False):
    """x with x[key(*idx)] = value (or += value: index_put_ with accumulate) on a copy."""
    def fn(x, *idx):
        y = x.clone()
        k = key(*idx)
        if acc:
            return y.index_put_(tuple(k), value, accumulate=True)
        y[k] = value
        return y
    return fn


SET = {
    "x[i]=v": (X3, put(lambda i: (i,), torch.tensor(-1.0)), variants((3, (2,)))),
    "x[:,i]=v": (X3, put(lambda i: (slice(None), i), torch.ones(5)), variants((4, (3,)))),
    "x[i,j]=v": (X3, put(lambda i, j: (i, j), torch.arange(5.0) - 9), variants((3, (2,)), (4, (2,)))),
    "x[i,j]=v_acc": (X3, put(lambda i, j: (i, j), torch.tensor(0.5), acc=True), variants((3, (3,)), (4, (3,)))),
    "x[:,i,j]=v": (X3, put(lambda i, j: (slice(None), i, j), torch.tensor(-3.0)), variants((4, (2,)), (5, (2,)))),
    "x[i,:,j]=v": (X3, put(lambda i, j: (i, slice(None), j), torch.tensor(7.0)), variants((3, (2,)), (5, (2,)))),
    "x[i,j,k]=v_acc": (X3, put(lambda i, j, k: (i, j, k), torch.tensor(2.0), acc=True),
                       variants((3, (4,)), (4, (4,)), (5, (4,)))),
    "x[i,j]=v_bcast": (X3, put(lambda i, j: (i, j), torch.tensor(-2.0)), variants((3, (2, 1)), (4, (3,)))),
    "x[i,:,j]=v_rows": (X3, put(lambda i, j: (i, slice(None), j), torch.arange(4.0) * -1), variants((3, (2,)), (5, (2,)))),
    "take_along_dim": (X3, lambda x, i: torch.take_along_dim(x, i, 1), variants((4, (3, 2, 5)))),
    "take_along_dim_bcast_index": (X3, lambda x, i: torch.take_along_dim(x, i, 0), variants((3, (2, 1, 1)))),
    "take_along_dim_bcast_both": (X3[:, :1], lambda x, i: torch.take_along_dim(x, i, 2), variants((5, (1, 3, 2)))),
    "index_fill": (X3, lambda x, i: x.index_fill(2, i, -5.0), variants((5, (2,)))),
}


def no_repeats(idx_sets):
    """index_put without accumulate is only defined without repeated positions."""
    out = []
    for idx in idx_sets:
        b = torch.broadcast_tensors(*idx)
        pos = torch.stack([t.reshape(-1) for t in b], 1).tolist()
        wrapped = {tuple(p % s for p, s in zip(row, idx.sizes)) for row in pos}
        if len(wrapped) == len(pos):
            out.append(idx)
    return out


CASES = {**{f"get {k}": v for k, v in GET.items()}, **{f"put {k}": v for k, v in SET.items()}}


def run_case(name, source, precision):
    x, fn, idx_sets = CASES[name]
    if name.startswith("put x") and "acc" not in name:
        idx_sets = no_repeats(idx_sets) or idx_sets[:1]
    if source == "const":
        def model(x_):
            return tuple(fn(x_, *idx) for idx in idx_sets)
        inputs = [x]
    else:
        counts = [len(idx) for idx in idx_sets]

        def model(x_, *flat):
            out, k = [], 0
            for c in counts:
                out.append(fn(x_, *flat[k:k + c]))
                k += c
            return tuple(out)
        inputs = [x] + [t for idx in idx_sets for t in idx]
    sm = torch.jit.trace(Fn(model).eval(), tuple(inputs), check_trace=False)
    types = [ct.TensorType(name=f"x{i}", shape=tuple(t.shape), dtype=np.float32 if t.is_floating_point() else np.int32)
             for i, t in enumerate(inputs)]
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    ml = ct.convert(sm, inputs=types, compute_precision=prec)
    outs = ml.predict({f"x{i}": t.numpy() for i, t in enumerate(inputs)})
    refs = model(*inputs)
    for o, ref, idx in zip(ml._desc["outputs"], refs, idx_sets):
        got = np.asarray(outs[o["name"]])
        assert got.shape == tuple(ref.shape), f"{name} {[t.tolist() for t in idx]}: shape {got.shape}, torch {tuple(ref.shape)}"
        assert np.array_equal(got.astype(np.float64), ref.double().numpy()), \
            f"{name} with indices {[t.tolist() for t in idx]}:\ngot   {got.reshape(-1)[:12].tolist()}\ntorch {ref.reshape(-1)[:12].tolist()}"


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("source", ["const", "input"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_index_sweep(name, source, precision):
    if name.startswith("put take_along_dim"):
        need_torch2("take_along_dim with negative indices (torch 1.13 refuses them)")
    run_case(name, source, precision)


def test_index_negative_on_two_axes():
    """x[:, [-1, 1], [-1]] wraps each index against its own dim (was [14, 4, 34, 24, 54, 44])."""
    sm = torch.jit.trace(Fn(lambda x: x[:, torch.tensor([-1, 1]), torch.tensor([-1])]).eval(), (X3,))
    ml = ct.convert(sm, inputs=[ct.TensorType(name="x", shape=(3, 4, 5))], compute_precision=ct.precision.FLOAT32)
    got = list(ml.predict({"x": X3.numpy()}).values())[0]
    assert got.reshape(-1).tolist() == [19, 9, 39, 29, 59, 49]
