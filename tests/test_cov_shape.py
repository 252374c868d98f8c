"""Op coverage, shape and indexing: view/reshape/flatten/unflatten, permute/transpose/t/movedim,
squeeze/unsqueeze, expand/expand_as/repeat/repeat_interleave/tile, cat/stack/hstack/vstack, split/chunk/
unbind/narrow, slice (steps, negative, open ends), select, index_select, advanced indexing, slice
assignment (copy_/fill_/in-place through views), index_put, gather/take_along_dim, flip, roll,
triu/tril, diag, padding, meshgrid, embedding. Converted, run in our runtime, compared with PyTorch."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import pt2coreml as ct

from cov_seeded import Fn, r, run
from parity import need_torch2

X = (2, 3, 4, 5)

CASES = {
    "view": (lambda x: x.view(2, -1, 5), [X]),
    "reshape_neg": (lambda x: x.reshape(-1, 20), [X]),
    "flatten": (lambda x: x.flatten(1, 2), [X]),
    "flatten_all": (lambda x: torch.flatten(x), [X]),
    "unflatten": (lambda x: x.unflatten(2, (2, 2)), [X]),
    "unflatten_neg": (lambda x: x.unflatten(-1, (-1, 1)), [X]),
    "permute": (lambda x: x.permute(3, 1, 0, 2).contiguous(), [X]),
    "transpose_neg": (lambda x: x.transpose(-1, -3), [X]),
    "t": (lambda x: x.t(), [(3, 4)]),
    "movedim": (lambda x: torch.movedim(x, 1, -1), [X]),
    "movedim_multi": (lambda x: torch.movedim(x, (0, 1), (2, 3)), [X]),
    "swapaxes": (lambda x: x.swapaxes(0, 2), [X]),
    "squeeze_all": (lambda x: x.squeeze(), [(2, 1, 3, 1)]),
    "squeeze_dim": (lambda x: x.squeeze(-1), [(2, 1, 3, 1)]),
    "squeeze_tuple": (lambda x: x.squeeze((1, 3)), [(2, 1, 3, 1)]),
    "squeeze_noop": (lambda x: x.squeeze(0) * 2, [(2, 1, 3, 1)]),
    "unsqueeze": (lambda x: x.unsqueeze(0).unsqueeze(-1), [(3, 4)]),
    "expand": (lambda x: x.expand(2, 3, 4), [(3, 1)]),
    "expand_neg": (lambda x: x.expand(-1, 4, -1) + 0, [(2, 1, 3)]),
    "expand_as": (lambda x, y: x.expand_as(y) * y, [(1, 4), (3, 4)]),
    "broadcast_to": (lambda x: torch.broadcast_to(x, (2, 3, 4)), [(4,)]),
    "repeat": (lambda x: x.repeat(2, 1, 3), [(3, 4)]),
    "tile": (lambda x: x.tile((2,)), [(3, 4)]),
    "repeat_interleave": (lambda x: x.repeat_interleave(2, dim=1), [(2, 3, 4)]),
    "repeat_interleave_flat": (lambda x: x.repeat_interleave(3), [(2, 3)]),
    "repeat_interleave_tensor": (lambda x: x.repeat_interleave(torch.tensor([1, 0, 2]), dim=0), [(3, 4)]),
    "cat": (lambda x, y: torch.cat([x, y, x], dim=-1), [(2, 3), (2, 5)]),
    "cat_neg_dim": (lambda x, y: torch.cat((x, y), -2), [(2, 3, 4), (2, 1, 4)]),
    "stack": (lambda x, y: torch.stack([x, y], 1), [(2, 3), (2, 3)]),
    "hstack": (lambda x, y: torch.hstack([x, y]), [(2, 3), (2, 2)]),
    "hstack_1d": (lambda x, y: torch.hstack([x, y]), [(3,), (2,)]),
    "vstack": (lambda x, y: torch.vstack([x, y]), [(3,), (2, 3)]),
    "split_int": (lambda x: torch.split(x, 2, dim=1), [(2, 5, 3)]),
    "split_sizes": (lambda x: torch.split(x, [1, 3, 1], dim=-2), [(2, 5, 3)]),
    "chunk": (lambda x: torch.chunk(x, 3, dim=-1), [(2, 3, 7)]),
    "unbind": (lambda x: torch.unbind(x, 1), [(2, 3, 4)]),
    "narrow": (lambda x: x.narrow(1, 1, 2), [(2, 4, 3)]),
    "narrow_neg": (lambda x: x.narrow(-1, -3, 2), [(2, 4, 3)]),
    "slice_steps": (lambda x: x[:, 1::2, ::3], [(3, 7, 8)]),
    "slice_neg": (lambda x: x[-2:, :-1, -5:-1], [(3, 7, 8)]),
    "slice_open": (lambda x: x[1:, :3], [(3, 7, 8)]),
    "select": (lambda x: x[:, 2] + x[1, :, -1].sum(), [(3, 4, 5)]),
    "ellipsis": (lambda x: x[..., 0, 1:3], [(2, 3, 4, 5)]),
    "none_index": (lambda x: x[:, None, 1], [(2, 3, 4)]),
    "index_select": (lambda x: torch.index_select(x, 1, torch.tensor([2, 0, 2])), [(2, 3, 4)]),
    "index_int_tensor": (lambda x: x[torch.tensor([1, 0, 1])], [(3, 4)]),
    "index_dim1": (lambda x: x[:, torch.tensor([3, 0])], [(2, 4, 5)]),
    "index_two": (lambda x: x[torch.tensor([0, 1, 1]), torch.tensor([2, 0, 3])], [(2, 4, 5)]),
    "index_two_adjacent_mid": (lambda x: x[:, torch.tensor([0, 2]), torch.tensor([1, 4])], [(2, 3, 5, 2)]),
    "index_two_apart": (lambda x: x[torch.tensor([0, 1]), :, torch.tensor([2, 0])], [(2, 3, 4)]),
    "index_2d_idx": (lambda x: x[torch.tensor([[0, 2], [1, 1]])], [(3, 4)]),
    "index_bool_const": (lambda x: x[torch.tensor([True, False, True])], [(3, 4)]),
    "index_bool_2d_const": (lambda x: x[torch.tensor([[True, False], [False, True]])], [(2, 2, 3)]),
    "gather": (lambda x: torch.gather(x, 1, torch.tensor([[0, 2, 1], [1, 1, 0]])), [(2, 3)]),
    "gather_dim0": (lambda x: torch.gather(x, 0, torch.tensor([[1, 0], [0, 0]])), [(2, 3)]),
    "take_along_dim": (lambda x: torch.take_along_dim(x, x.argsort(dim=-1)[..., :2] if False else
                                                      torch.tensor([[[1, 0]], [[2, 2]]]), dim=-1), [(2, 1, 3)]),
    "flip": (lambda x: torch.flip(x, [0, -1]), [(2, 3, 4)]),
    "fliplr": (lambda x: torch.fliplr(x), [(2, 3)]),
    "roll": (lambda x: torch.roll(x, shifts=(1, -2), dims=(1, 2)), [(2, 3, 4)]),
    "roll_flat": (lambda x: torch.roll(x, 4), [(2, 3)]),
    "triu": (lambda x: torch.triu(x), [(2, 4, 4)]),
    "tril_k": (lambda x: torch.tril(x, -1) + torch.triu(x, 2), [(3, 5)]),
    "diag_vec": (lambda x: torch.diag(x), [(4,)]),
    "diag_vec_k": (lambda x: torch.diag(x, 1) + torch.diag(x, -1)[:5, :5], [(4,)]),
    "diag_mat": (lambda x: torch.diag(x, -1), [(4, 5)]),
    "pad_const": (lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), [(1, 2, 3, 4)]),
    "pad_neg": (lambda x: F.pad(x, (-1, 2)), [(2, 5)]),
    "pad_reflect1d": (lambda x: F.pad(x, (2, 1), mode="reflect"), [(1, 2, 5)]),
    "pad_reflect2d": (lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"), [(1, 2, 4, 5)]),
    "pad_replicate2d": (lambda x: F.pad(x, (1, 2, 3, 0), mode="replicate"), [(1, 2, 4, 5)]),
    "pad_circular": (lambda x: F.pad(x, (1, 2), mode="circular"), [(1, 2, 5)]),
    "reflection_pad2d_mod": (lambda x: nn.ReflectionPad2d(2)(x), [(1, 2, 4, 4)]),
    "replication_pad1d_mod": (lambda x: nn.ReplicationPad1d((3, 1))(x), [(1, 2, 4)]),
    "zero_pad2d": (lambda x: nn.ZeroPad2d((1, 0, 2, 1))(x), [(1, 2, 3, 3)]),
    "meshgrid_ij": (lambda x, y: torch.meshgrid(x, y, indexing="ij"), [(3,), (4,)]),
    "meshgrid_xy": (lambda x, y: torch.meshgrid(x, y, indexing="xy"), [(3,), (4,)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_shape(name):
    if name == "squeeze_tuple":
        need_torch2("Tensor.squeeze with a tuple of dims")
    fn, shapes = CASES[name]
    run(Fn(fn), [r(*s, seed=i) for i, s in enumerate(shapes)])


class SliceAssign(nn.Module):
    def forward(self, x, v):
        y = x * 2
        y[:, 1:3] = 0
        y[..., 0] = v
        y[0, 1] += 1
        y[:, ::2] *= 3
        return y


class MaskAssign(nn.Module):
    def forward(self, x):
        y = x.clone()
        y[y > 0.5] = 0.5
        y[torch.tensor([0, 2])] = -1.0
        return y


class IndexPutAcc(nn.Module):
    def forward(self, x, v):
        return x.index_put((torch.tensor([2, 0]),), v, accumulate=True)


def test_slice_assignment():
    run(SliceAssign(), [r(3, 5), r(3, seed=1)])


def test_masked_and_index_assignment():
    run(MaskAssign(), [r(3, 4)])
    run(IndexPutAcc(), [r(3, 4), r(2, 4, seed=1)])


def test_embedding():
    torch.manual_seed(0)
    emb = nn.Embedding(10, 4, padding_idx=0)
    run(emb, [torch.tensor([[1, 0, 9], [3, 3, 2]])])
    run(Fn(lambda i: F.embedding(i, torch.arange(12.0).reshape(6, 2))), [torch.tensor([5, 0, 2])])


def test_index_runtime_indices():
    run(Fn(lambda x, i: x[i]), [r(5, 3), torch.tensor([4, 0, 2])])
    run(Fn(lambda x, i: torch.gather(x, 1, i)), [r(2, 4), torch.tensor([[3, 0], [1, 1]])])
    run(Fn(lambda x, i: torch.index_select(x, 0, i)), [r(5, 3), torch.tensor([1, 1, 4])])


@pytest.mark.parametrize("name", ["permute", "slice_steps", "gather", "roll", "pad_reflect2d", "index_two"])
def test_shape_fp16(name):
    fn, shapes = CASES[name]
    run(Fn(fn), [r(*s, seed=i) for i, s in enumerate(shapes)], precision="fp16")


def _chunk_overlap(h, w=2):
    """transformers' Longformer: chunks of 2w rows overlapping by w, by as_strided on a view."""
    h = h.view(h.size(0), h.size(1) // (2 * w), 2 * w, h.size(2))
    size = list(h.size())
    size[1] = size[1] * 2 - 1
    stride = list(h.stride())
    stride[1] = stride[1] // 2
    return h.as_strided(size=size, stride=stride)


AS_STRIDED = {
    "overlapping_chunks": (_chunk_overlap, [(2, 8, 3)]),
    "windows_offset": (lambda x: torch.as_strided(x, (3, 4), (2, 1), 1) * 2, [(12,)]),
    "broadcast_stride_0": (lambda x: x.as_strided((3, 2, 4), (0, 4, 1)) + 1, [(2, 4)]),
    "after_contiguous": (lambda x: x.t().contiguous().as_strided((2, 3), (1, 2)), [(3, 4)]),
    # the strides refer to the storage of the tensor the views came from
    "of_transpose": (lambda x: x.t().as_strided((2, 3), (1, 2)), [(3, 4)]),
    "of_viewing_reshape": (lambda x: x.transpose(1, 2).reshape(4, 8, 16).view(4, 2, 4, 16).as_strided(
        (4, 3, 4, 16), (128, 32, 16, 1)), [(1, 8, 4, 16)]),
    "of_copying_reshape": (lambda x: x.transpose(1, 2).reshape(32, 4).as_strided((3, 8), (4, 1), 2), [(2, 4, 16)]),
    "of_permute_movedim": (lambda x: torch.movedim(x.permute(2, 0, 1), 0, 2).as_strided((5, 4), (3, 2)), [(2, 3, 4)]),
    "longformer_chunk_of_transposes": (lambda x: _chunk_overlap(x.transpose(0, 1).transpose(1, 2).reshape(8, 8, 4)),
                                       [(8, 2, 4, 4)]),
}


@pytest.mark.parametrize("name", sorted(AS_STRIDED))
def test_as_strided(name):
    fn, shapes = AS_STRIDED[name]
    run(Fn(fn), [r(*s) for s in shapes])


def test_as_strided_of_a_slice_is_a_clear_error():
    mod = torch.jit.trace(Fn(lambda x: x[1:].as_strided((2, 3), (1, 2))).eval(), (r(3, 4),))
    with pytest.raises(ct.ConversionError, match="view made by aten::slice"):
        ct.convert(mod, inputs=[ct.TensorType(name="x", shape=(3, 4))])
