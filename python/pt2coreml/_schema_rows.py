"""Operator schemas as the torch.export reader's rows (csrc/export/export.h, the format at the top of
tools/gen_aten_schemas.py): the generated aten table and, at conversion time, the custom ops a program calls
(torch.library ops), whose schemas the serialized program does not carry. A custom op's row marks each tensor
it writes (mutates_args, `Tensor(a!)`) with `!` after its type, so that the reader knows what it writes."""
import math

_BASE = {"Tensor": "T", "int": "i", "SymInt": "i", "float": "f", "SymFloat": "f", "bool": "b", "SymBool": "b",
         "str": "s", "number": "S", "Scalar": "S", "ScalarType": "dtype", "Layout": "layout", "Device": "device",
         "MemoryFormat": "mformat", "Generator": "gen", "Storage": "storage", "Stream": "stream", "t": "any",
         "Any": "any", "complex": "complex"}


class Skip(Exception):
    pass


def type_code(t, n=None):
    """torch's real_type string ("Optional[List[int]]") -> our type code ("i[]?")."""
    if t.startswith("Optional[") and t.endswith("]"):
        return type_code(t[9:-1], n) + "?"
    if t.startswith("List[") and t.endswith("]"):
        return type_code(t[5:-1]) + (f"[{n}]" if n else "[]")
    if t == "Dimname":
        raise Skip("named tensors")
    if t[:1] == "t" and t[1:].isdigit():  # a type variable (aten::__is__(t1 self, t2 obj))
        return "any"
    if t not in _BASE:
        raise Skip(f"type {t}")
    return _BASE[t]


def default_code(v):
    """A default value as the row writes it."""
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if math.isnan(v):
            return "nan"
        return repr(v)
    if isinstance(v, str):
        if any(c in v for c in "'\"\\ "):
            raise Skip(f"string default {v!r}")
        return f"'{v}'"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(default_code(x) for x in v) + "]"
    import torch
    if isinstance(v, torch.dtype):  # ScalarType defaults come as ints in torch's schemas; kept just in case
        raise Skip(f"dtype default {v}")
    raise Skip(f"default {v!r} ({type(v).__name__})")


def is_out_variant(s):
    return any(a.alias_info is not None and a.alias_info.is_write and a.kwarg_only for a in s.arguments)


def row(s, mark_writes=False):
    """One schema (torch._C.FunctionSchema) -> (key, arguments, returns), or raise Skip; with mark_writes, a
    tensor the op writes has `!` after its type ("out:T!"), and out= variants are kept."""
    if is_out_variant(s) and not mark_writes:
        raise Skip("out= variant")
    args, kw = [], False
    for a in s.arguments:
        if a.kwarg_only and not kw:
            args.append("*")
            kw = True
        code = f"{a.name}:{type_code(str(a.real_type), a.N)}"
        if mark_writes and a.alias_info is not None and a.alias_info.is_write:
            code += "!"
        if a.has_default_value():
            code += "=" + default_code(a.default_value)
        args.append(code)
    rets = ",".join(type_code(str(r.real_type) if hasattr(r, "real_type") else str(r.type)) for r in s.returns)
    return f"{s.name}.{s.overload_name or 'default'}", " ".join(args), rets
