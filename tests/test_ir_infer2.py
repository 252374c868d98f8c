"""Shape inference for the second op table (activations, reductions, normalization,
indexing, pixel and resampling ops): each program declares what MIL's op
definitions give; reinfer recomputes it and must agree."""
import pytest

from test_ir_infer import prog, reinfer

CASES = {
    "activations": ("%x: fp32[2,s0,4], %b: bool[3], %c: bool[3]", """
        %a: fp32[] = const(val=0.2)
        %be: fp32[] = const(val=0.5)
        %y1: fp32[2,s0,4] = sigmoid_hard(x=%x, alpha=%a, beta=%be)
        %y2: fp32[2,s0,4] = scaled_tanh(x=%y1, alpha=%a, beta=%be)
        %y3: fp32[2,s0,4] = clamped_relu(x=%y2, alpha=%a, beta=%be)
        %y4: fp32[2,s0,4] = linear_activation(x=%y3, alpha=%a, beta=%be)
        %y5: fp32[2,s0,4] = thresholded_relu(x=%y4, alpha=%a)
        %y6: fp32[2,s0,4] = softsign(x=%y5)
        %z: bool[3] = logical_xor(x=%b, y=%c)"""),
    "prelu": ("%x: fp16[1,3,8,8]", """
        %a: fp16[3] = const(val=[0.1, 0.2, 0.3])
        %y: fp16[1,3,8,8] = prelu(x=%x, alpha=%a)"""),
    "softplus_parametric": ("%x: fp32[s0,2,5]", """
        %a: fp32[2] = const(val=[1, 2])
        %y: fp32[s0,2,5] = softplus_parametric(x=%x, alpha=%a, beta=%a)"""),
    "reduce2": ("%x: fp32[2,3,4]", """
        %ax: int32[2] = const(val=[0, -1])
        %k: bool[] = const(val=true)
        %a: fp32[1,3,1] = reduce_l2_norm(x=%x, axes=%ax, keep_dims=%k)
        %b: fp32[3] = reduce_log_sum_exp(x=%x, axes=%ax)
        %c: fp32[] = reduce_l1_norm(x=%x)
        %d: fp32[3] = reduce_sum_square(x=%x, axes=%ax)
        %e: fp32[3] = reduce_log_sum(x=%x, axes=%ax)"""),
    "norms": ("%x: fp32[s0,3,5,5], %s: fp32[2,3,4,5,6]", """
        %g: fp32[3] = const(val=[1, 2, 3])
        %e: fp32[] = const(val=0.001)
        %a: fp32[s0,3,5,5] = instance_norm(x=%x, gamma=%g, beta=%g, epsilon=%e)
        %n: int32[] = const(val=3)
        %b: fp32[s0,3,5,5] = local_response_norm(x=%a, size=%n)
        %c: fp32[2,3,4,5,6] = l2_norm(x=%s, epsilon=%e)"""),
}

BAD = [
    ("%x: fp32[1,3,4,4]", "%g: fp32[2] = const(val=[1, 2])\n%y: fp32[1,3,4,4] = instance_norm(x=%x, gamma=%g)",
     r"gamma fp32\[2\] does not match 3 channels"),
    ("%x: fp32[4,4]", "%y: fp32[4,4] = l2_norm(x=%x)", "must have rank >= 3"),
    ("%x: fp32[1,3,4,4]", "%y: fp32[1,3,4,4] = local_response_norm(x=%x)", "missing required input 'size'"),
    ("%x: fp32[1,3,4]", "%a: fp32[3] = const(val=[1, 2, 3])\n%y: fp32[1,3,4] = prelu(x=%x, alpha=%a)",
     "rank-3 x needs one alpha value"),
    ("%x: fp32[1,3,4,4]", "%a: fp32[2] = const(val=[1, 2])\n%y: fp32[1,3,4,4] = prelu(x=%x, alpha=%a)",
     r"alpha fp32\[2\] does not match 3 channels"),
    ("%x: fp32[3]", "%a: fp32[] = const(val=1.0)\n%y: fp32[3] = scaled_tanh(x=%x, alpha=%a)",
     "missing required input 'beta'"),
    ("%x: fp32[3], %a: fp32[]", "%y: fp32[3] = thresholded_relu(x=%x, alpha=%a)", "parameter 'alpha' must be a constant"),
]


@pytest.mark.parametrize("name", sorted(CASES))
def test_infer_ok(name):
    reinfer(prog(*CASES[name]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_infer_detects_wrong_declaration(name):
    text = prog(*CASES[name])
    lines = text.splitlines()
    i = max(k for k, l in enumerate(lines) if " = " in l)
    l = lines[i]
    lb = l.index("[")
    rb = l.index("]", lb)
    dims = l[lb + 1:rb]
    lines[i] = l[:lb + 1] + (dims + ",99" if dims else "99") + l[rb:]
    with pytest.raises(ValueError, match="reinfer: .* output 0 declared"):
        reinfer("\n".join(lines) + "\n")


@pytest.mark.parametrize("inputs,body,msg", BAD)
def test_infer_errors(inputs, body, msg):
    with pytest.raises(ValueError, match=msg):
        reinfer(prog(inputs, body))
