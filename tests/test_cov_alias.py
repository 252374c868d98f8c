"""Op coverage, aliases: the functional *_copy forms of view ops (view_copy, permute_copy, transpose_copy,
t_copy, squeeze_copy, unsqueeze_copy, expand_copy, select_copy, slice_copy, split_copy,
split_with_sizes_copy, unbind_copy, diagonal_copy, alias / alias_copy / detach_copy), internal spellings
(lift_fresh, _unsafe_view, _reshape_alias, _unsafe_index, native_dropout, _shape_as_tensor, _add_relu),
the _assert_* checks, and where / arange overloads with number operands. Each is traced (or scripted)
through torch.ops.aten, converted, run in our runtime and compared with PyTorch."""
import pytest
import torch

import pt2coreml as ct
from cov_seeded import Fn, r, run
from parity import TORCH_MAJOR, need_torch2

A = torch.ops.aten
X = (2, 3, 4, 5)


def op(name):
    """torch.ops.aten.<name>[.<overload>], skipping under torch 1.x when that torch lacks it."""
    try:
        f = A
        for part in name.split("."):
            f = getattr(f, part)
        return f
    except (AttributeError, RuntimeError):
        need_torch2(f"torch.ops.aten.{name}")
        raise


def _dropout_eval(x):
    y, m = op("native_dropout")(x, 0.5, False)
    return torch.where(m, y, -y), m.int()


CASES = {
    "view_copy": (lambda x: op("view_copy")(x, [6, -1]), [X]),
    "view_copy_same": (lambda x: op("view_copy")(x, [2, 3, 4, 5]) * 2, [X]),
    "view_copy_dtype": (lambda x: op("view_copy.dtype")(x, torch.float32) * 2, [X]),
    "unsafe_view": (lambda x: op("_unsafe_view")(x, [-1, 5]), [X]),
    "reshape_alias": (lambda x: op("_reshape_alias")(x, [6, 20], [20, 1]), [X]),
    "reshape_alias_copy": (lambda x: op("_reshape_alias_copy")(x, [3, 2, 20], [40, 20, 1]), [X]),
    "reshape_alias_unit": (lambda x: op("_reshape_alias")(x, [6, 1, 20], [20, 7, 1]), [X]),
    "permute_copy": (lambda x: op("permute_copy")(x, [3, 1, -4, 2]), [X]),
    "transpose_copy": (lambda x: op("transpose_copy")(x, 0, -1), [X]),
    "t_copy": (lambda x: op("t_copy")(x), [(3, 4)]),
    "t_copy_1d": (lambda x: op("t_copy")(x) + 1, [(4,)]),
    "squeeze_copy": (lambda x: op("squeeze_copy")(x), [(2, 1, 3, 1)]),
    "squeeze_copy_dim": (lambda x: op("squeeze_copy.dim")(x, -1), [(2, 1, 3, 1)]),
    "squeeze_copy_dims": (lambda x: op("squeeze_copy.dims")(x, [1, 3]), [(2, 1, 3, 1)]),
    "squeeze_copy_noop": (lambda x: op("squeeze_copy.dim")(x, 0) * 2, [(2, 1, 3, 1)]),
    "unsqueeze_copy": (lambda x: op("unsqueeze_copy")(x, -1), [(3, 4)]),
    "expand_copy": (lambda x: op("expand_copy")(x, [2, 3, 4]), [(3, 1)]),
    "expand_copy_neg": (lambda x: op("expand_copy")(x, [-1, 4, -1]), [(2, 1, 3)]),
    "select_copy": (lambda x: op("select_copy")(x, 1, -1), [X]),
    "slice_copy": (lambda x: op("slice_copy")(x, 2, 1, 4), [X]),
    "slice_copy_step": (lambda x: op("slice_copy")(x, -1, 0, 5, 2), [X]),
    "slice_copy_open": (lambda x: op("slice_copy")(x, 1, -2), [X]),
    "split_copy": (lambda x: tuple(op("split_copy")(x, 2, 2)), [X]),
    "split_with_sizes_copy": (lambda x: tuple(op("split_with_sizes_copy")(x, [1, 3, 1], -1)), [X]),
    "unsafe_split": (lambda x: tuple(op("unsafe_split")(x, 3, 1)), [X]),
    "unsafe_split_with_sizes": (lambda x: tuple(op("unsafe_split_with_sizes")(x, [3, 1], -2)), [X]),
    "unbind_copy": (lambda x: tuple(op("unbind_copy")(x, 1)), [X]),
    "diagonal_copy": (lambda x: op("diagonal_copy")(x), [(4, 4)]),
    "diagonal_copy_off": (lambda x: op("diagonal_copy")(x, -1, 1, -1), [X]),
    "alias": (lambda x: op("alias")(x) * 3, [X]),
    "alias_copy": (lambda x: op("alias_copy")(x) + 1, [X]),
    "detach_copy": (lambda x: op("detach_copy")(x) - 1, [X]),
    "lift_fresh": (lambda x: op("lift_fresh")(x) * x, [X]),
    "lift_fresh_copy": (lambda x: op("lift_fresh_copy")(x) * 2, [X]),
    "shape_as_tensor": (lambda x: (x * 2, op("_shape_as_tensor")(x)), [X]),
    "add_relu": (lambda x, y: op("_add_relu")(x, y), [X, (5,)]),
    "add_relu_alpha": (lambda x, y: op("_add_relu")(x, y, alpha=-2.0), [X, X]),
    "add_relu_scalar": (lambda x: op("_add_relu")(x, 0.5), [X]),
    "add_relu_scalar_alpha": (lambda x: op("_add_relu.Scalar")(x, 0.5, 3), [X]),
    "add_relu_inplace": (lambda x, y: op("_add_relu_")(x * 1, y), [X, X]),
    "native_dropout_eval": (lambda x: _dropout_eval(x), [X]),
    "native_dropout_p0": (lambda x: op("native_dropout")(x, 0.0, True)[0] + 1, [X]),
    "where_scalar_self": (lambda x: torch.where(x > 0, 2.0, x), [X]),
    "where_scalar_other": (lambda x: torch.where(x > 0, x, -1.5), [X]),
    "where_scalars": (lambda x: torch.where(x > 0, 1.0, 0.0) + x, [X]),
    "arange_start_step": (lambda x: x + torch.arange(1, 11, 2), [(3, 5)]),
    "arange_float_step": (lambda x: x + torch.arange(0.5, 3.0, 0.5), [(3, 5)]),
    "arange_neg_step": (lambda x: x + torch.arange(5, 0, -1), [(3, 5)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_alias(name):
    fn, shapes = CASES[name]
    run(Fn(fn), [r(*s, seed=i) for i, s in enumerate(shapes)])


def test_unsafe_index():
    x = r(5, 6)
    i = torch.tensor([4, 0, 2])
    j = torch.tensor([1, 1, 5])
    run(Fn(lambda x: op("_unsafe_index")(x, [i, None]) + op("_unsafe_index")(x, [i, j]).sum()), [x])


def test_unsafe_index_put():
    i = torch.tensor([4, 0, 2])
    v = r(3, 6, seed=3)
    run(Fn(lambda x: op("_unsafe_index_put")(x, [i], v) * 2), [r(5, 6)])
    run(Fn(lambda x: op("_unsafe_index_put")(x, [i], v, True) + 1), [r(5, 6)])


def test_view_copy_other_dtype_is_a_clear_error():
    fn = torch.jit.trace(Fn(lambda x: op("view_copy.dtype")(x, torch.int32) + 0).eval(), [r(3, 4)])
    with pytest.raises(Exception, match="view_copy.*reinterpreting the bits"):
        ct.convert(fn, inputs=[ct.TensorType(shape=(3, 4))])


def test_add_relu_int():
    run(Fn(lambda x: op("_add_relu")(x, x, alpha=-2)), [torch.arange(-6, 6).reshape(3, 4)])


def test_slice_copy_is_not_a_view():
    """An in-place op on a slice_copy / select_copy result leaves the input alone (slice would not)."""
    def f(x):
        y = op("slice_copy")(x, 1, 0, 2)
        y.add_(10)
        z = op("select_copy")(x, 0, 1)
        z.mul_(0)
        return x + 0, y, z
    run(Fn(f), [r(*X)])


def test_native_dropout_mask_scripted():
    """Both outputs (input and all-true mask) of the inference form, with symbolic dims too."""
    def f(x):
        y, m = torch.ops.aten.native_dropout(x, 0.25, False)
        return torch.where(m, y * 2, -y), m.int()
    fn = torch.jit.script(f)
    run(fn, [r(*X)])
    mlmodel = ct.convert(fn, inputs=[ct.TensorType(name="x", shape=(ct.RangeDim(1, 8), 3))])
    out = mlmodel.predict({"x": r(5, 3).numpy()})
    masks = [v for v in out.values() if v.dtype != "float32"]
    assert masks and masks[0].shape == (5, 3) and (masks[0] == 1).all()


def _dropout_train(x):
    return op("native_dropout")(x, 0.5, True)[0]


def test_native_dropout_training_is_a_clear_error():
    """train=True in a model traced in eval mode is random dropping: a clear error."""
    fn = torch.jit.trace(Fn(_dropout_train).eval(), [r(3, 4)], check_trace=False)
    with pytest.raises(Exception, match="native_dropout.*training mode"):
        ct.convert(fn, inputs=[ct.TensorType(shape=(3, 4))])


def test_native_dropout_training_module_converts_in_eval_mode():
    """A model still in training mode converts with dropout off (a warning), like aten::dropout."""
    fn = torch.jit.trace(Fn(_dropout_train), [r(3, 4)], check_trace=False)
    fn.train()
    with pytest.warns(UserWarning, match="training mode"):
        mlmodel = ct.convert(fn, inputs=[ct.TensorType(name="x", shape=(3, 4))])
    x = r(3, 4).numpy()
    out = list(mlmodel.predict({"x": x}).values())[0]
    assert abs(out - x).max() <= 1e-2 * abs(x).max()  # fp16 by default


def test_reshape_alias_strided_is_a_clear_error():
    fn = torch.jit.trace(Fn(lambda x: op("_reshape_alias")(x, [4, 3], [1, 4]) + 0).eval(), [r(3, 4)])
    with pytest.raises(Exception, match="_reshape_alias.*as_strided"):
        ct.convert(fn, inputs=[ct.TensorType(shape=(3, 4))])


ASSERT_GRAPH = """graph(%x : Tensor):
  %none : NoneType = prim::Constant()
  %n : int = prim::Constant[value=3]()
  %msg : str = prim::Constant[value="checked"]()
  %zero : float = prim::Constant[value=-1000.]()
  %s : Tensor = aten::sum(%x, %none)
  %b : Tensor = aten::gt(%s, %zero)
  %three : int = prim::Constant[value=3]()
  %four : int = prim::Constant[value=4]()
  %sz : int[] = prim::ListConstruct(%three, %four)
  %f32 : int = prim::Constant[value=6]()
  %i0 : int = prim::Constant[value=0]()
  %two : int = prim::Constant[value=2]()
  %y : Tensor = aten::mul(%x, %two)
  return (%y)"""
ASSERT_NAMES = ["none", "n", "msg", "zero", "s", "b", "three", "four", "sz", "f32", "i0", "two", "y"]


def assert_fn(name, args):
    """A ScriptFunction of ASSERT_GRAPH with an output-less aten::<name>(args) before its last node:
    torch's dead-code pass would drop it, but a ScriptFunction's graph is converted as written."""
    op(name)
    if name == "_assert_async" and len(args) > 1:
        op("_assert_async.msg")
    if name == "_assert_tensor_metadata" and TORCH_MAJOR < 2:
        args = args[:4]  # torch 1.13's schema has no device / layout
    g = torch._C.parse_ir(ASSERT_GRAPH)
    nodes = list(g.nodes())  # parse_ir renames values: match them by position
    vals = dict(zip(ASSERT_NAMES, [nd.output() for nd in nodes]))
    vals["x"] = next(iter(g.inputs()))
    node = g.create(f"aten::{name}", [vals[a] for a in args], 0)
    with g.insert_point_guard(nodes[-1]):
        g.insertNode(node)
    assert f"aten::{name}" in str(g)
    return torch._C._create_function_from_graph("f", g)


@pytest.mark.parametrize("name,args", [
    ("_assert_async", ["b"]), ("_assert_async", ["b", "msg"]), ("_assert_scalar", ["n", "msg"]),
    ("_assert_tensor_metadata", ["x", "none", "none", "none", "none", "none"]),
    ("_assert_tensor_metadata", ["x", "sz", "none", "f32", "none", "none"])])
def test_assert_ops(name, args):
    run(assert_fn(name, args), [r(3, 4)])


@pytest.mark.parametrize("name,args,match", [
    ("_assert_scalar", ["i0", "msg"], "false at conversion time: checked"),
    ("_assert_tensor_metadata", ["x", "sz", "none", "none", "none", "none"], "dim 1 is 5, asserted 4"),
    ("_assert_tensor_metadata", ["x", "none", "none", "n", "none", "none"], "dtype differs")])
def test_assert_ops_fail_when_known_false(name, args, match):
    with pytest.raises(Exception, match=f"aten::{name}.*{match}"):
        ct.convert(assert_fn(name, args), inputs=[ct.TensorType(shape=(3, 5))])
