"""IR text form: parse -> print round trips exactly, and malformed text fails cleanly."""
import pytest

from pt2coreml import _core

CONV = """program(CoreML5)
func main(%x: fp32[1,3,8,8]) {
  %w: fp32[4,3,1,1] = const(val=[0.1, -0.2, 0.3, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  %b: fp32[4] = const(val=[0, 1e-07, inf, -inf])
  %pt: string[] = const(val="valid")
  %st: int32[2] = const(val=[1, 1])
  %pad: int32[4] = const(val=[0, 0, 0, 0])
  %dil: int32[2] = const(val=[1, 1])
  %g: int32[] = const(val=1)
  %y: fp32[1,4,8,8] = conv(x=%x, weight=%w, bias=%b, pad_type=%pt, strides=%st, pad=%pad, dilations=%dil, groups=%g)
  %z: fp32[1,4,8,8] = relu(x=%y)
} -> (%z)
"""

MULTI = """program(CoreML6)
func main(%x: fp32[s0,6], %m: bool[s0,6]) {
  %n: int32[] = const(val=2)
  %ax: int32[] = const(val=1)
  (%a: fp32[s0,3], %b: fp32[s0,3]) = split(x=%x, num_splits=%n, axis=%ax)
  %f: bool[] = const(val=false)
  %c: fp32[s0,6] = concat(values=(%b, %a), axis=%ax, interleave=%f) [name="cat_0"]
  %"weird name/1": fp32[s0,6] = select(cond=%m, a=%c, b=%x)
  %s: string[2] = const(val=["a \\"q\\"", "tab\\tnl\\n"])
  %h: fp16[3] = const(val=[0.5, nan, 65504])
  %i8: int8[2] = const(val=[-128, 127])
  %u: uint64[1] = const(val=[18446744073709551615])
  %d: fp64[] = const(val=0.1)\n  %d2: fp64[] = const(val=0.30000000000000004)
} -> (%"weird name/1", %b)
func other<CoreML7>(%q: int32[*]) {
} -> (%q)
"""

BLOCKS = """program(CoreML5)
func main(%x: fp32[2], %p: bool[]) {
  %r: fp32[2] = cond(pred=%p) {
    block() {
      %t: fp32[2] = relu(x=%x)
    } -> (%t)
    block() {
    } -> (%x)
  }
  (%i: int32[], %acc: fp32[2]) = while_loop(loop_vars=(%p, %r)) {
    block(%i0: int32[], %a0: fp32[2]) {
      %lim: int32[] = const(val=3)
      %c: bool[] = less(x=%i0, y=%lim)
    } -> (%c)
    block(%i1: int32[], %a1: fp32[2]) {
      %a2: fp32[2] = add(x=%a1, y=%r)
    } -> (%i1, %a2)
  }
  () = custom_thing(x=%acc) [name="side"]
} -> (%acc)
"""


@pytest.mark.parametrize("text", [CONV, MULTI, BLOCKS], ids=["conv", "multi", "blocks"])
def test_round_trip(text):
    p = _core.parse(text)
    assert p.text(max_const=-1) == text
    # printing is stable through a second round trip
    assert _core.parse(p.text(max_const=-1)).text(max_const=-1) == text


def test_elided_payload():
    p = _core.parse(CONV)
    t = p.text(max_const=4)
    assert "%w: fp32[4,3,1,1] = const(val=<12 elements>)" in t
    assert '%pt: string[] = const(val="valid")' in t
    with pytest.raises(ValueError, match="elided"):
        _core.parse(t)


def test_io_and_symbols():
    p = _core.parse(MULTI)
    ins, outs = p.io()
    assert ins == [("x", ("fp32", (None, 6))), ("m", ("bool", (None, 6)))]
    assert outs[0] == ("weird name/1", ("fp32", (None, 6)))


def test_floats_exact():
    vals = ["1.1754944e-38", "3.4028235e+38", "1.4013e-45", "-0", "0.33333334", "16777216", "1e+10"]
    text = "program(CoreML5)\nfunc main() {\n  %%c: fp32[7] = const(val=[%s])\n} -> (%%c)\n" % ", ".join(vals)
    assert _core.parse(text).text(max_const=-1) == text


BAD = [
    ("", "line 1:1: expected 'program"),
    ("program(CoreML5)\nfunc main() {\n  %y: fp32[2] = relu(x=%nope)\n} -> (%y)\n", "line 3:24: undefined value"),
    ("program(CoreML5)\nfunc main(%x: fp32[2]) {\n  %x: fp32[2] = relu(x=%x)\n} -> (%x)\n", "line 3:3: duplicate"),
    ("program(CoreML5)\nfunc main() {\n  %c: int32[2] = const(val=[1])\n} -> (%c)\n", "1 elements, its type holds 2"),
    ("program(CoreML5)\nfunc main() {\n  %c: int32[2] = const(val=[1, 2, 3])\n} -> (%c)\n", "more const"),
    ("program(CoreML5)\nfunc main() {\n  %c: int8[] = const(val=300)\n} -> (%c)\n", "out of range"),
    ("program(CoreML5)\nfunc main() {\n  %c: int32[] = const(val=1.5)\n} -> (%c)\n", "expected an integer"),
    ("program(CoreML5)\nfunc main() {\n  %c: foo[] = const(val=1)\n} -> (%c)\n", "unknown dtype"),
    ("program(CoreML5)\nfunc main(%x: fp32[1,2,3,4,5,6,7,8,9]) {\n} -> (%x)\n", "rank exceeds"),
    ("program(CoreML5)\nfunc main(%x: fp32[2]) {\n  %y: fp32[2] = relu(x=%x\n} -> (%y)\n", "line 4:1: expected ','"),
    ("program(CoreML5)\nfunc main(%x: fp32[2]) {\n  %s: string[] = const(val=\"abc)\n} -> (%x)\n", "line 3"),
    ("program(CoreML5)\nfunc main(%x: fp32[2], %p: bool[]) {\n  %r: fp32[2] = cond(pred=%p) {\n"
     "    block() {\n      %t: fp32[2] = relu(x=%x)\n    } -> (%t)\n  }\n  %u: fp32[2] = relu(x=%t)\n} -> (%u)\n",
     "line 8:24: value used out of its block's scope"),
    ("program(CoreML5)\nfunc main(%x: fp32[s]) {\n} -> (%x)\n", "dimension"),
    ("program(CoreML5)\nfunc main(%x: fp32[2]) {\n} -> (%x) trailing", "expected 'func' or end"),
    ("program(CoreML5)\nfunc main(%x: fp32[2]) {\n  %y: fp32[2] = relu(x=%x, x=%x)\n} -> (%y)\n", "given twice"),
    ("program(CoreML5)\nfunc main(%x: fp32[2]) {\n  %c: fp32[s0] = const(val=[1])\n} -> (%x)\n", "static"),
    # dims whose product overflows int64 (found by fuzz_ir_text)
    ("program(CoreML5)\nfunc main(%x: fp32[2]) {\n  %c: int64[3333333333333333333,6] = const(val=[1])\n} -> (%x)\n",
     "line 3:7: shape too large"),
    ("program(CoreML5)\nfunc main(%x: fp32[4294967296,4294967296]) {\n} -> (%x)\n", "shape too large"),
]


@pytest.mark.parametrize("text,msg", BAD)
def test_parse_errors(text, msg):
    with pytest.raises(ValueError) as ei:
        _core.parse(text)
    assert msg in str(ei.value)


def test_truncations_never_crash():
    # every prefix of valid text either parses or raises ValueError
    for text in (CONV, MULTI, BLOCKS):
        for n in range(0, len(text), 3):
            try:
                _core.parse(text[:n])
            except ValueError:
                pass
