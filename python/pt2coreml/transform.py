"""ct.transform: coremltools' FP16ComputePrecision, to choose which ops of an fp16 program stay fp32.

    mlmodel = ct.convert(traced, inputs=[...],
                         compute_precision=ct.transform.FP16ComputePrecision(op_selector=lambda op: op.op_type != "mul"))

As in coremltools, ``op_selector(op)`` is called on the program's ops and returns True for an op that computes in
fp16 and False for one that stays fp32 (its fp16 inputs are cast to fp32, its outputs cast back for fp16
readers). The op has ``.op_type``, ``.name``, ``.inputs`` (parameter -> var, or tuple of vars) and ``.outputs``
(vars with ``.name``, ``.dtype`` and ``.shape``). The names are those of the converted program
(``mlmodel.get_program_text()``), so a selector can name ops that ``ct.debug.compare`` reports.
"""
from typing import Any, Callable, Dict, List, Optional, Tuple


class Var:
    """A value an op reads or writes, as the op selector sees it."""
    __slots__ = ("name", "dtype", "shape")

    def __init__(self, name: str, dtype: str, shape: Tuple[Optional[int], ...]) -> None:
        self.name, self.dtype, self.shape = name, dtype, tuple(shape)

    def __repr__(self) -> str:
        return f"%{self.name}: {self.dtype}{list(self.shape)}"


class Operation:
    """An op of the program being converted, as the op selector sees it."""
    __slots__ = ("op_type", "name", "inputs", "outputs")

    def __init__(self, op_type: str, name: str, inputs: Dict[str, Any], outputs: List[Var]) -> None:
        self.op_type, self.name, self.inputs, self.outputs = op_type, name, inputs, outputs

    def __repr__(self) -> str:
        return f"{self.op_type}(name={self.name!r})"


class FP16ComputePrecision:
    """fp16 compute for the ops ``op_selector`` returns True for (every op when it is None); the others stay fp32."""

    def __init__(self, op_selector: Optional[Callable[[Operation], bool]] = None) -> None:
        if op_selector is not None and not callable(op_selector):
            raise TypeError("Argument `op_selector` needs to be a callable function which accepts a MIL operation "
                            "object and returns a boolean value.")
        self.op_selector = op_selector

    def _c_selector(self):
        """The callable the C fp16 pass calls: (op_type, name, {param: [(name, (dtype, shape))]}, outputs)."""
        sel = self.op_selector
        if sel is None:
            return None

        def var(item):
            name, (dtype, shape) = item
            return Var(name, dtype, shape)

        def call(op_type, name, inputs, outputs):
            ins = {k: (var(v[0]) if len(v) == 1 else tuple(var(x) for x in v)) for k, v in inputs.items()}
            return bool(sel(Operation(op_type, name, ins, [var(o) for o in outputs])))
        return call

    def __repr__(self) -> str:
        return f"FP16ComputePrecision(op_selector={self.op_selector!r})"
