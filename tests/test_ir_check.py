"""IR checker (ir_check) on parsed programs."""
import pytest

from pt2coreml import _core

from test_ir_text import BLOCKS, CONV, MULTI


@pytest.mark.parametrize("text", [CONV, MULTI, BLOCKS])
def test_valid_programs_pass(text):
    _core.parse(text).check()


@pytest.mark.parametrize("body,msg", [
    ("%y: fp32[2] = relu(y=%x)", "relu 'y': missing required input 'x'"),
    ("%k: int32[2] = const(val=[3, 3])\n  %y: fp32[2] = max_pool(x=%x, kernel_sizes=%k)", "missing required input 'pad_type'"),
    ("%y: fp32[2] = conv(x=%x)", "missing required input 'weight'"),
    ("%y: fp32[2] = concat(values=(%x, %x))", "missing required input 'axis'"),
])
def test_missing_required_params(body, msg):
    text = "program(CoreML5)\nfunc main(%%x: fp32[2]) {\n  %s\n} -> (%%y)\n" % body
    p = _core.parse(text)
    with pytest.raises(RuntimeError, match=msg):
        p.check()


def test_function_without_outputs():
    p = _core.parse("program(CoreML5)\nfunc main(%x: fp32[2]) {\n} -> ()\n")
    with pytest.raises(RuntimeError, match="no outputs"):
        p.check()
