"""register_torch_op: convert TorchScript ops in Python, as coremltools' register_torch_op.

    from pt2coreml import register_torch_op, mb

    @register_torch_op
    def selu(context, node):
        x = context[node.inputs[0]]
        y = mb.elu(x=x, alpha=1.6732632)
        context.add(mb.mul(x=y, y=1.0507010, name=node.name))

A converter receives the TorchScript node and a context: ``context[name]`` is the value
of one of the node's inputs (an ``mb`` Var for tensors; a Python int / float / bool /
str / list / None when it is known at conversion time), and ``context.add(value)``
binds the node's outputs. An op that writes some of its inputs in place (a custom op's
``mutates_args``, ``Tensor(a!)`` in its schema) lists them in ``node.written``; its converter
gives each one's new value with ``context.add(value, torch_name=name)``, and the model's
later reads of that tensor (or of the tensor it is a slice of) see it. A function's name (or each name in ``torch_alias``) selects
the TorchScript kinds it converts: a bare name ``selu`` means ``aten::selu`` (and the
in-place ``aten::selu_``); a name with a namespace (``my_ns::op``) means exactly that.
Names pt2coreml already converts need ``override=True``.
"""
import functools

from . import _core, _mb

_REGISTRY = {}  # registered name -> function
_builtin_kinds = None


def _builtins():
    global _builtin_kinds
    if _builtin_kinds is None:
        _builtin_kinds = frozenset(k for k, _ in _core.lowered_ops())
    return _builtin_kinds


def _kinds(name):
    """TorchScript kinds a registered name converts."""
    if "::" in name:
        return [name]
    kinds = [f"aten::{name}"]
    if not name.endswith("_"):
        kinds.append(f"aten::{name}_")
    return kinds


def register_torch_op(_func=None, torch_alias=None, override=False):
    """Register a converter ``f(context, node)`` for a TorchScript op (decorator, with or without arguments)."""
    if torch_alias is not None and (isinstance(torch_alias, str) or
                                    not all(isinstance(a, str) for a in torch_alias)):
        raise TypeError("torch_alias must be a list of op names, e.g. torch_alias=['my_ns::my_op']")

    def register(func):
        if not callable(func):
            raise TypeError("register_torch_op decorates a function f(context, node)")
        names = [func.__name__] + list(torch_alias or [])
        for name in names:
            if not override:
                if name in _REGISTRY:
                    raise ValueError(f"Torch op '{name}' already has a registered converter; pass override=True "
                                     "to replace it")
                built = sorted(k for k in _kinds(name) if k in _builtins())
                if built:
                    raise ValueError(f"Torch op '{name}' is already converted by pt2coreml ({', '.join(built)}); "
                                     "pass override=True to use your converter instead")
        for name in names:
            _REGISTRY[name] = func
        return func

    if _func is None:
        return register
    return register(_func)


def unregister_torch_op(name):
    """Remove a registered converter (built-in conversions are unaffected)."""
    if name not in _REGISTRY:
        raise KeyError(f"no converter registered for '{name}'")
    del _REGISTRY[name]


def handlers():
    """{TorchScript kind: callable(builder, node_info)} for the C core."""
    out = {}
    for name, func in _REGISTRY.items():
        h = functools.partial(_dispatch, func)
        for k in _kinds(name):
            if k not in out or "::" in name:  # an explicit kind wins over a bare name's in-place variant
                out[k] = h
    return out


class Node:
    """A TorchScript node being converted."""

    __slots__ = ("kind", "inputs", "outputs", "written", "loc", "source", "_values", "_written_at")

    def __init__(self, kind, inputs, outputs, loc, source, values, written=()):
        self.kind = kind                 # "aten::selu", "my_ns::op", ...
        self.inputs = list(inputs)       # input value names (keys of context)
        self.outputs = list(outputs)     # output value names
        self.written = [self.inputs[i] for i in written]  # inputs the op writes in place (Tensor(a!))
        self.loc = loc                   # "model.py:12" or None
        self.source = source             # that source line, or None
        self._values = dict(zip(self.inputs, values))
        self._written_at = {}            # written input name -> its index
        for i in written:
            self._written_at.setdefault(self.inputs[i], i)

    @property
    def name(self):
        """The name of the first output (coremltools' node.name): name the op producing it after it."""
        return self.outputs[0] if self.outputs else self.kind.replace("::", "_")

    @property
    def op_type(self):
        return self.kind.split("::", 1)[-1]

    @property
    def const_inputs(self):
        """{input name: value} for the inputs known at conversion time (not tensors)."""
        return {k: v for k, v in self._values.items() if not _has_var(v)}

    def __repr__(self):
        where = f" at {self.loc}" if self.loc else ""
        return f"Node({self.kind}: ({', '.join(self.inputs)}) -> ({', '.join(self.outputs)}){where})"


def _has_var(v):
    if isinstance(v, _core.Var):
        return True
    if isinstance(v, (list, tuple)):
        return any(_has_var(e) for e in v)
    return False


class Context:
    """What a converter reads its inputs from and binds its outputs to."""

    def __init__(self, builder, node):
        self._builder = builder
        self._node = node
        self._bound = set()

    def __getitem__(self, name):
        if name in self._node._values:
            return self._node._values[name]
        raise KeyError(f"'{name}' is not an input of {self._node.kind} (its inputs are {self._node.inputs})")

    def __contains__(self, name):
        return name in self._node._values

    def add(self, value, torch_name=None):
        """Bind `value` (a Var, a compile-time value, or a list/tuple of them) to an output of the node:
        `torch_name` if given, else the output named like the Var, else the next unbound output.
        A list/tuple as long as the node's outputs (when it has several) binds them in order."""
        outs = self._node.outputs
        if torch_name is not None and torch_name not in outs and torch_name in self._node._written_at:
            self._builder.write(self._node._written_at[torch_name], value)  # the written input's new value
            self._node._values[torch_name] = value
            return
        if torch_name is not None:
            if torch_name not in outs:
                written = f"; the inputs it writes are {self._node.written}" if self._node.written else ""
                raise ValueError(f"context.add: '{torch_name}' is not an output of {self._node.kind} "
                                 f"(its outputs are {outs}{written})")
            self._bind(outs.index(torch_name), value)
            return
        if isinstance(value, (list, tuple)) and len(outs) > 1 and len(value) == len(outs) and not self._bound:
            for i, v in enumerate(value):
                self._bind(i, v)
            return
        if isinstance(value, _core.Var):
            for i, o in enumerate(outs):
                if value.name in (o, _sanitize(o)):
                    self._bind(i, value)
                    return
        for i in range(len(outs)):
            if i not in self._bound:
                self._bind(i, value)
                return
        raise ValueError(f"context.add: every output of {self._node.kind} is already bound ({outs}); pass "
                         "torch_name= to rebind one")

    def _bind(self, i, value):
        self._builder.bind(i, value)
        self._bound.add(i)


def _sanitize(name):
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return "var_" + s if not s or s[0].isdigit() else s


def _dispatch(func, builder, info):
    kind, inputs, outputs, loc, source, values, written = info
    node = Node(kind, inputs, outputs, loc, source, values, written)
    prev = _mb._push(builder, node)
    try:
        func(Context(builder, node), node)
    finally:
        _mb._pop(prev)
