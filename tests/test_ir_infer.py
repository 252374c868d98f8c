"""Shape inference (ir_infer) through the `reinfer` pass: each program declares the
output types MIL's op definitions give; reinfer recomputes them and must agree."""
import itertools

import pytest
import torch

from pt2coreml import _core


def prog(inputs, body):
    lines = [l.strip() for l in body.strip().splitlines()]
    last = lines[-1].split(":")[0].strip().lstrip("(")
    return "program(CoreML5)\nfunc main(%s) {\n%s\n} -> (%s)\n" % (inputs, "\n".join("  " + l for l in lines), last)


def reinfer(text):
    p = _core.parse(text)
    p.run_pass("reinfer")
    return p


CASES = {
    "conv_valid": ("%x: fp32[1,3,8,8]", """
        %w: fp32[4,3,3,3] = const(val=[ZEROS])
        %y: fp32[1,4,6,6] = conv(x=%x, weight=%w)""".replace("ZEROS", ", ".join(["0"] * 108))),
    "conv_same_stride_dil": ("%x: fp32[2,4,9,7], %w: fp32[6,2,3,3]", """
        %pt: string[] = const(val="same")
        %st: int32[2] = const(val=[2, 3])
        %dl: int32[2] = const(val=[2, 1])
        %g: int32[] = const(val=2)
        %y: fp32[2,6,5,3] = conv(x=%x, weight=%w, pad_type=%pt, strides=%st, dilations=%dl, groups=%g)"""),
    "conv_custom_sym": ("%x: fp32[s0,3,s1,10], %w: fp32[8,3,3,3], %b: fp32[8]", """
        %pt: string[] = const(val="custom")
        %pd: int32[4] = const(val=[1, 1, 0, 2])
        %y: fp32[s0,8,s2,10] = conv(x=%x, weight=%w, bias=%b, pad_type=%pt, pad=%pd)"""),
    "conv1d": ("%x: fp32[1,2,10], %w: fp32[5,2,4]", """
        %y: fp32[1,5,7] = conv(x=%x, weight=%w)"""),
    "conv_transpose": ("%x: fp32[1,4,5,5], %w: fp32[4,3,3,3]", """
        %st: int32[2] = const(val=[2, 2])
        %pt: string[] = const(val="custom")
        %pd: int32[4] = const(val=[1, 1, 1, 1])
        %g: int32[] = const(val=2)
        %y: fp32[1,6,9,9] = conv_transpose(x=%x, weight=%w, strides=%st, pad_type=%pt, pad=%pd, groups=%g)"""),
    "linear": ("%x: fp32[s0,7,16], %w: fp32[32,16]", "%y: fp32[s0,7,32] = linear(x=%x, weight=%w)"),
    "matmul_bcast": ("%x: fp32[2,1,3,4], %y: fp32[5,6,4]", """
        %t: bool[] = const(val=true)
        %z: fp32[2,5,3,6] = matmul(x=%x, y=%y, transpose_y=%t)"""),
    "matmul_vec": ("%x: fp32[4], %y: fp32[3,4,6]", "%z: fp32[3,6] = matmul(x=%x, y=%y)"),
    "matmul_vec2": ("%x: fp32[2,3,4], %y: fp32[4]", "%z: fp32[2,3] = matmul(x=%x, y=%y)"),
    "matmul_tx": ("%x: fp32[4,3], %y: fp32[4,5]", """
        %t: bool[] = const(val=true)
        %z: fp32[3,5] = matmul(x=%x, y=%y, transpose_x=%t)"""),
    "batch_norm": ("%x: fp32[1,3,4,4], %m: fp32[3], %v: fp32[3]", "%y: fp32[1,3,4,4] = batch_norm(x=%x, mean=%m, variance=%v)"),
    "layer_norm": ("%x: fp32[2,5,8]", """
        %ax: int32[1] = const(val=[-1])
        %y: fp32[2,5,8] = layer_norm(x=%x, axes=%ax)"""),
    "max_pool_ceil": ("%x: fp32[1,3,7,7]", """
        %k: int32[2] = const(val=[3, 3])
        %st: int32[2] = const(val=[2, 2])
        %pt: string[] = const(val="custom")
        %pd: int32[4] = const(val=[1, 1, 1, 1])
        %c: bool[] = const(val=true)
        %y: fp32[1,3,4,4] = max_pool(x=%x, kernel_sizes=%k, strides=%st, pad_type=%pt, pad=%pd, ceil_mode=%c)"""),
    "avg_pool_same": ("%x: fp32[1,3,7,6]", """
        %k: int32[2] = const(val=[2, 2])
        %st: int32[2] = const(val=[2, 2])
        %pt: string[] = const(val="same")
        %y: fp32[1,3,4,3] = avg_pool(x=%x, kernel_sizes=%k, strides=%st, pad_type=%pt)"""),
    "reduce": ("%x: fp32[2,3,4]", """
        %ax: int32[2] = const(val=[0, -1])
        %k: bool[] = const(val=true)
        %a: fp32[1,3,1] = reduce_mean(x=%x, axes=%ax, keep_dims=%k)
        %b: fp32[3] = reduce_sum(x=%x, axes=%ax)
        %c: fp32[] = reduce_max(x=%x)
        %i: int32[] = const(val=1)
        %d: int32[2,4] = reduce_argmax(x=%x, axis=%i)"""),
    "reshape": ("%x: fp32[2,3,4]", """
        %s: int32[3] = const(val=[0, -1, 2])
        %y: fp32[2,6,2] = reshape(x=%x, shape=%s)"""),
    "reshape_sym": ("%x: fp32[s0,3,4]", """
        %s: int32[2] = const(val=[-1, 12])
        %y: fp32[s1,12] = reshape(x=%x, shape=%s)"""),
    "transpose": ("%x: fp32[2,3,s0]", """
        %p: int32[3] = const(val=[2, 0, 1])
        %y: fp32[s0,2,3] = transpose(x=%x, perm=%p)"""),
    "concat": ("%a: fp32[2,3], %b: fp32[2,5]", """
        %ax: int32[] = const(val=-1)
        %f: bool[] = const(val=false)
        %y: fp32[2,11] = concat(values=(%a, %b, %a), axis=%ax, interleave=%f)"""),
    "concat_sym": ("%a: fp32[s0,3], %b: fp32[2,3]", """
        %ax: int32[] = const(val=0)
        %y: fp32[s1,3] = concat(values=(%a, %b), axis=%ax)"""),
    "split": ("%x: fp32[4,6]", """
        %ax: int32[] = const(val=1)
        %n: int32[] = const(val=3)
        (%a: fp32[4,2], %b: fp32[4,2], %c: fp32[4,2]) = split(x=%x, num_splits=%n, axis=%ax)"""),
    "split_sizes": ("%x: fp32[4,6]", """
        %ax: int32[] = const(val=1)
        %s: int32[2] = const(val=[1, 5])
        (%a: fp32[4,1], %b: fp32[4,5]) = split(x=%x, split_sizes=%s, axis=%ax)"""),
    "stack": ("%a: fp32[2,3], %b: fp32[2,3]", """
        %ax: int32[] = const(val=1)
        %y: fp32[2,2,3] = stack(values=(%a, %b), axis=%ax)"""),
    "squeeze_expand": ("%x: fp32[1,3,1,4]", """
        %a: fp32[3,4] = squeeze(x=%x)
        %ax: int32[1] = const(val=[2])
        %b: fp32[1,3,4] = squeeze(x=%x, axes=%ax)
        %ax2: int32[2] = const(val=[0, -1])
        %c: fp32[1,3,4,1] = expand_dims(x=%a, axes=%ax2)"""),
    "slice": ("%x: fp32[10,8,s0]", """
        %b: int32[3] = const(val=[1, -1, 0])
        %e: int32[3] = const(val=[9, 0, 0])
        %s: int32[3] = const(val=[3, -2, 1])
        %em: bool[3] = const(val=[false, true, true])
        %bm: bool[3] = const(val=[false, false, true])
        %y: fp32[3,4,s0] = slice_by_index(x=%x, begin=%b, end=%e, stride=%s, begin_mask=%bm, end_mask=%em)
        %sq: bool[3] = const(val=[true, false, false])
        %z: fp32[1,s0] = slice_by_index(x=%x, begin=%b, end=%e, squeeze_mask=%sq, begin_mask=%bm, end_mask=%em)"""),
    "gather": ("%x: fp32[5,6,7], %i: int32[2,3]", """
        %ax: int32[] = const(val=1)
        %y: fp32[5,2,3,7] = gather(x=%x, indices=%i, axis=%ax)"""),
    "gather_batch": ("%x: fp32[5,6,7], %i: int32[5,3]", """
        %ax: int32[] = const(val=1)
        %bd: int32[] = const(val=1)
        %y: fp32[5,3,7] = gather(x=%x, indices=%i, axis=%ax, batch_dims=%bd)"""),
    "tile_pad": ("%x: fp32[2,s0,3]", """
        %r: int32[3] = const(val=[2, 1, 3])
        %t: fp32[4,s0,9] = tile(x=%x, reps=%r)
        %p: int32[4] = const(val=[0, 0, 1, 2])
        %y: fp32[4,s0,12] = pad(x=%t, pad=%p)"""),
    "elementwise": ("%x: fp32[2,1,4], %y: fp32[3,1], %n: int32[]", """
        %a: fp32[2,3,4] = add(x=%x, y=%y)
        %c: bool[2,3,4] = greater(x=%a, y=%x)
        %d: bool[2,3,4] = logical_not(x=%c)
        %e: fp32[2,3,4] = select(cond=%d, a=%a, b=%x)
        %f: fp32[2,1,4] = mul(x=%x, y=%n)
        %g: fp32[2,3,4] = tanh(x=%e)
        %h: int32[3] = shape(x=%g)
        %ax: int32[] = const(val=-1)
        %s: fp32[2,3,4] = softmax(x=%g, axis=%ax)
        %dt: string[] = const(val="fp16")
        %k: fp16[2,3,4] = cast(x=%s, dtype=%dt)"""),
    "broadcast_sym": ("%x: fp32[s0,4], %y: fp32[1,4], %z: fp32[s1,4]", """
        %a: fp32[s0,4] = add(x=%x, y=%y)
        %b: fp32[s2,4] = sub(x=%a, y=%z)"""),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_infer_ok(name):
    reinfer(prog(*CASES[name]))


def wrong_declaration(text):
    """text with the last declared dim of its last op's first output changed to a wrong size (99 appended)."""
    lines = text.splitlines()
    i = max(k for k, l in enumerate(lines) if " = " in l)
    l = lines[i]
    lb = l.index("[")
    rb = l.index("]", lb)
    dims = l[lb + 1:rb]
    lines[i] = l[:lb + 1] + (dims + ",99" if dims else "99") + l[rb:]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_infer_detects_wrong_declaration(name):
    with pytest.raises(ValueError, match="reinfer: .* output 0 declared"):
        reinfer(wrong_declaration(prog(*CASES[name])))


BAD = [
    ("%x: fp32[1,3,8,8], %w: fp32[4,2,3,3]", "%y: fp32[1,4,6,6] = conv(x=%x, weight=%w)",
     r"conv 'y': x has 3 channels, weight fp32\[4,2,3,3\] expects 2"),
    ("%x: fp32[2,3], %y: fp32[4,3]", "%z: fp32[2,3] = add(x=%x, y=%y)", "shapes fp32\\[2,3\\] and fp32\\[4,3\\] do not broadcast"),
    ("%x: fp32[2,3], %y: fp32[4,3]", "%z: fp32[2,4] = matmul(x=%x, y=%y)", "inner dims differ"),
    ("%x: fp32[2,3]", "%s: int32[2] = const(val=[4, 2])\n%y: fp32[4,2] = reshape(x=%x, shape=%s)", "cannot reshape"),
    ("%x: fp32[2,3]", "%p: int32[2] = const(val=[0, 0])\n%y: fp32[2,3] = transpose(x=%x, perm=%p)", "perm repeats"),
    ("%x: fp32[2,3], %ax: int32[]", "%y: fp32[2,3] = softmax(x=%x, axis=%ax)", "parameter 'axis' must be a constant"),
    ("%x: fp32[2,3]", "%ax: int32[] = const(val=2)\n%y: fp32[2,3] = softmax(x=%x, axis=%ax)", "axis 2 out of range"),
    ("%x: fp32[4,6]", "%ax: int32[] = const(val=1)\n%n: int32[] = const(val=4)\n"
     "(%a: fp32[4,1], %b: fp32[4,5]) = split(x=%x, num_splits=%n, axis=%ax)", "does not divide"),
    ("%x: fp32[2,3]", "%y: fp32[2,3] = relu(y=%x)", "missing required input 'x'"),
    ("%x: fp32[1,3,2,2]", "%k: int32[2] = const(val=[3, 3])\n%y: fp32[1,3,1,1] = max_pool(x=%x, kernel_sizes=%k)",
     "gives no output"),
    ("%x: fp32[2,3]", "%ax: int32[1] = const(val=[0])\n%y: fp32[3] = squeeze(x=%x, axes=%ax)", "cannot squeeze axis 0"),
]


@pytest.mark.parametrize("inputs,body,msg", BAD)
def test_infer_errors(inputs, body, msg):
    with pytest.raises(ValueError, match=msg):
        reinfer(prog(inputs, body))


@pytest.mark.parametrize("ceil,pad,k,s,n", list(itertools.product([False, True], [0, 1], [2, 3], [1, 2], [5, 6, 7])))
def test_pool_shapes_match_torch(ceil, pad, k, s, n):
    if pad * 2 > k:
        return
    got = torch.nn.functional.max_pool2d(torch.zeros(1, 1, n, n), k, s, pad, ceil_mode=ceil).shape[-1]
    text = prog("%x: fp32[1,1,{n},{n}]".format(n=n), """
        %k: int32[2] = const(val=[{k}, {k}])
        %st: int32[2] = const(val=[{s}, {s}])
        %pt: string[] = const(val="custom")
        %pd: int32[4] = const(val=[{p}, {p}, {p}, {p}])
        %c: bool[] = const(val={c})
        %y: fp32[1,1,{o},{o}] = max_pool(x=%x, kernel_sizes=%k, strides=%st, pad_type=%pt, pad=%pd, ceil_mode=%c)
        """.format(k=k, s=s, p=pad, c="true" if ceil else "false", o=got))
    reinfer(text)


@pytest.mark.parametrize("b,e,s", [(1, 9, 3), (-3, 10, 1), (8, 1, -2), (0, 0, 1), (-1, -11, -1), (5, 100, 4)])
def test_slice_len_matches_python(b, e, s):
    want = len(range(10)[b:e:s])
    text = prog("%x: fp32[10]", """
        %b: int32[1] = const(val=[{b}])
        %e: int32[1] = const(val=[{e}])
        %s: int32[1] = const(val=[{s}])
        %y: fp32[{w}] = slice_by_index(x=%x, begin=%b, end=%e, stride=%s)""".format(b=b, e=e, s=s, w=want))
    reinfer(text)


def test_every_op_has_a_rule():
    for op in _core.mil_ops():
        if op == "const":
            continue
        text = "program(CoreML5)\nfunc main() {\n  %%y: fp32[] = %s()\n} -> (%%y)\n" % op
        with pytest.raises(ValueError) as ei:
            reinfer(text)
        assert "no shape inference" not in str(ei.value), op
        assert "missing required input" in str(ei.value) or "needs at least one" in str(ei.value), (op, ei.value)
