"""MIL's list ops (make_list, list_write, list_read, list_gather, list_scatter, list_length; iOS15), as packages
coremltools writes them (its TensorFlow frontend makes TensorArrays into them): built with coremltools' MIL
builder, saved, loaded and predicted by pt2coreml (test_runtime_mil_ops.run_mil), compared with numpy following
the ops' MIL documentation (control_flow.py): a list is an auto-resizing array of same-shaped tensors, written
and read by index, gathered into one tensor. Skipped when coremltools is not importable."""
import numpy as np
import pytest

pytest.importorskip("coremltools")

from test_runtime_mil_ops import run_mil  # noqa: E402

RNG = np.random.default_rng(5)


def test_list_write_read_gather_length(tmp_path):
    x = RNG.standard_normal((3, 4)).astype(np.float32)

    def build(mb, x):
        rows = [mb.squeeze(x=r, axes=[0]) for r in mb.split(x=x, num_splits=3, axis=0)]
        ls = mb.make_list(init_length=3, elem_shape=[4], dtype="fp32", dynamic_length=False)
        for i, r in zip([2, 0, 1], rows):  # row k goes to slot [2, 0, 1][k]
            ls = mb.list_write(ls=ls, index=i, value=r)
        return [mb.list_gather(ls=ls, indices=[0, 2, 2, 1]), mb.list_read(ls=ls, index=2), mb.list_length(ls=ls)]

    # without coremltools' passes, which fold the length of a fixed-length list
    (g, r, n), ops = run_mil(tmp_path, build, {"x": x}, target="iOS15", passes=False)
    assert {"make_list", "list_write", "list_gather", "list_read", "list_length"} <= ops
    slots = x[[1, 2, 0]]
    np.testing.assert_array_equal(g, slots[[0, 2, 2, 1]])
    np.testing.assert_array_equal(r, x[0])
    assert n.item() == 3


def test_list_grows_past_its_length_and_scatter(tmp_path):
    x = RNG.standard_normal((2, 5)).astype(np.float32)

    def build(mb, x):
        ls = mb.make_list(init_length=1, elem_shape=[5], dtype="fp32")  # dynamic length (the default)
        ls = mb.list_scatter(ls=ls, indices=[3, 1], value=x)  # grows to 4, slots 0 and 2 stay zero
        return [mb.list_gather(ls=ls, indices=[0, 1, 2, 3]), mb.list_length(ls=ls)]

    (g, n), ops = run_mil(tmp_path, build, {"x": x}, target="iOS15")
    assert {"make_list", "list_scatter", "list_gather", "list_length"} <= ops
    want = np.zeros((4, 5), np.float32)
    want[3], want[1] = x[0], x[1]
    np.testing.assert_array_equal(g, want)
    assert n.item() == 4


def test_list_in_a_while_loop_like_a_tensorarray(tmp_path):
    # the TensorFlow TensorArray pattern: a loop writes step i's value at index i, then the list is stacked
    x = RNG.standard_normal((4, 3)).astype(np.float32)

    def build(mb, x):
        ls0 = mb.make_list(init_length=0, elem_shape=[3], dtype="fp32")

        def cond(i, acc, ls):
            return mb.less(x=i, y=4)

        def body(i, acc, ls):
            row = mb.squeeze(x=mb.slice_by_size(x=x, begin=mb.concat(values=[mb.expand_dims(x=i, axes=[0]), [0]], axis=0),
                                                size=[1, 3]), axes=[0])
            acc = mb.add(x=acc, y=row)
            return mb.add(x=i, y=1), acc, mb.list_write(ls=ls, index=i, value=acc)

        _, _, ls = mb.while_loop(_cond=cond, _body=body, loop_vars=(np.int32(0), np.zeros(3, np.float32), ls0))
        return [mb.list_gather(ls=ls, indices=[0, 1, 2, 3]), mb.list_length(ls=ls)]

    (g, n), ops = run_mil(tmp_path, build, {"x": x}, target="iOS15")
    assert {"while_loop", "make_list", "list_gather", "list_length"} <= ops  # list_write is in the loop body
    np.testing.assert_allclose(g, np.cumsum(x, axis=0), rtol=1e-6, atol=1e-6)
    assert n.item() == 4


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_list_with_element_shape_known_at_run_time(tmp_path, dtype):
    x = (RNG.standard_normal((2, 3)) * 10).astype(dtype)

    def build(mb, x):
        ls = mb.make_list(init_length=2, elem_shape=["a", "b"], dtype="int32" if dtype == np.int32 else "fp32")
        ls = mb.list_write(ls=ls, index=1, value=x)
        ls = mb.list_write(ls=ls, index=0, value=mb.mul(x=x, y=np.array(2, dtype)))
        return [mb.list_gather(ls=ls, indices=[1, 0]), mb.list_read(ls=ls, index=0)]

    (g, r), ops = run_mil(tmp_path, build, {"x": x}, target="iOS15")
    assert {"make_list", "list_write", "list_gather", "list_read"} <= ops
    np.testing.assert_array_equal(g, np.stack([x, x * 2]))
    np.testing.assert_array_equal(r, x * 2)


def test_list_read_out_of_range_is_a_clear_error(tmp_path):
    x = RNG.standard_normal((3,)).astype(np.float32)

    def build(mb, x):
        ls = mb.list_write(ls=mb.make_list(init_length=1, elem_shape=[3]), index=0, value=x)
        return mb.list_read(ls=ls, index=mb.cast(x=mb.reduce_sum(x=mb.relu(x=x)), dtype="int32"))

    with pytest.raises(Exception, match="outside the list of 1 elements"):
        run_mil(tmp_path, build, {"x": np.full(3, 2.0, np.float32)}, target="iOS15")
