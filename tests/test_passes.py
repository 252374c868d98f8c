"""Graph passes, QBE style: textual IR in, expected textual IR out."""
import textwrap

import numpy as np
import pytest

from pt2coreml import _core


def run(text, *passes):
    p = _core.parse(textwrap.dedent(text).lstrip())
    for name in passes:
        p.run_pass(name)
    p.check()
    p.run_pass("reinfer")  # declared types still agree with shape inference
    return p.text(max_const=-1)


def expect(got, want):
    assert got == textwrap.dedent(want).lstrip()


CONV_BN_ADD = """
    program(CoreML5)
    func main(%x: fp32[1,2,4,4]) {
      %w: fp32[3,2,1,1] = const(val=[1, 2, 3, 4, 5, 6])
      %b: fp32[3] = const(val=[0.5, 0, -1])
      %y: fp32[1,3,4,4] = conv(x=%x, weight=%w, bias=%b)
      %m: fp32[3] = const(val=[1, 2, 3])
      %v: fp32[3] = const(val=[4, 0.25, 1])
      %g: fp32[3] = const(val=[2, 1, 1])
      %be: fp32[3] = const(val=[0, 1, 2])
      %eps: fp32[] = const(val=0)
      %out: fp32[1,3,4,4] = batch_norm(x=%y, mean=%m, variance=%v, gamma=%g, beta=%be, epsilon=%eps)
      %c: fp32[1,3,1,1] = const(val=[10, 20, 30])
      %z: fp32[1,3,4,4] = add(x=%c, y=%out)
      %s: fp32[1,3,4,4] = relu(x=%z)
    } -> (%s)
"""


def test_fuse_conv_bn():
    expect(run(CONV_BN_ADD, "fuse_conv_bn", "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[1,2,4,4]) {
          %y_weight_fused: fp32[3,2,1,1] = const(val=[1, 2, 6, 8, 5, 6])
          %y_bias_fused: fp32[3] = const(val=[-0.5, -3, -2])
          %out: fp32[1,3,4,4] = conv(x=%x, weight=%y_weight_fused, bias=%y_bias_fused)
          %c: fp32[1,3,1,1] = const(val=[10, 20, 30])
          %z: fp32[1,3,4,4] = add(x=%c, y=%out)
          %s: fp32[1,3,4,4] = relu(x=%z)
        } -> (%s)
    """)


def test_fuse_conv_bn_then_bias():
    expect(run(CONV_BN_ADD, "fuse_conv_bn", "fuse_conv_bias", "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[1,2,4,4]) {
          %y_weight_fused: fp32[3,2,1,1] = const(val=[1, 2, 6, 8, 5, 6])
          %out_bias_fused: fp32[3] = const(val=[9.5, 17, 28])
          %z: fp32[1,3,4,4] = conv(x=%x, weight=%y_weight_fused, bias=%out_bias_fused)
          %s: fp32[1,3,4,4] = relu(x=%z)
        } -> (%s)
    """)


def test_fuse_conv_bn_skips_shared_or_dynamic():
    text = """
        program(CoreML5)
        func main(%x: fp32[1,1,2,2], %m: fp32[1]) {
          %w: fp32[1,1,1,1] = const(val=[2])
          %y: fp32[1,1,2,2] = conv(x=%x, weight=%w)
          %v: fp32[1] = const(val=[1])
          %n: fp32[1,1,2,2] = batch_norm(x=%y, mean=%m, variance=%v)
          %y2: fp32[1,1,2,2] = conv(x=%x, weight=%w)
          %n2: fp32[1,1,2,2] = batch_norm(x=%y2, mean=%v, variance=%v)
        } -> (%n, %n2, %y2)
    """
    expect(run(text, "fuse_conv_bn"), text)


def test_fuse_conv_bias_sub_and_scalar():
    expect(run("""
        program(CoreML5)
        func main(%x: fp32[1,2,3]) {
          %w: fp32[2,2,1] = const(val=[1, 0, 0, 1])
          %y: fp32[1,2,3] = conv(x=%x, weight=%w)
          %c: fp32[2,1] = const(val=[1, 2])
          %z: fp32[1,2,3] = sub(x=%y, y=%c)
          %y2: fp32[1,2,3] = conv(x=%z, weight=%w)
          %s: fp32[] = const(val=0.25)
          %z2: fp32[1,2,3] = add(x=%y2, y=%s)
          %y3: fp32[1,2,3] = conv(x=%z2, weight=%w)
          %big: fp32[2,2,3] = const(val=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
          %z3: fp32[2,2,3] = add(x=%y3, y=%big)
        } -> (%z3)
    """, "fuse_conv_bias", "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[1,2,3]) {
          %w: fp32[2,2,1] = const(val=[1, 0, 0, 1])
          %y_bias_fused: fp32[2] = const(val=[-1, -2])
          %z: fp32[1,2,3] = conv(x=%x, weight=%w, bias=%y_bias_fused)
          %y2_bias_fused: fp32[2] = const(val=[0.25, 0.25])
          %z2: fp32[1,2,3] = conv(x=%z, weight=%w, bias=%y2_bias_fused)
          %y3: fp32[1,2,3] = conv(x=%z2, weight=%w)
          %big: fp32[2,2,3] = const(val=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
          %z3: fp32[2,2,3] = add(x=%y3, y=%big)
        } -> (%z3)
    """)


def test_dead_code_keeps_interface_and_unknown_ops():
    expect(run("""
        program(CoreML5)
        func main(%x: fp32[2], %unused: fp32[2]) {
          %a: fp32[2] = relu(x=%x)
          %b: fp32[2] = sigmoid(x=%a)
          %c: fp32[2] = tanh(x=%b)
          %keep: fp32[2] = custom(x=%a)
          %o: fp32[2] = exp(x=%x)
        } -> (%o)
    """, "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[2], %unused: fp32[2]) {
          %a: fp32[2] = relu(x=%x)
          %keep: fp32[2] = custom(x=%a)
          %o: fp32[2] = exp(x=%x)
        } -> (%o)
    """)


def test_dead_code_in_nested_blocks():
    expect(run("""
        program(CoreML5)
        func main(%x: fp32[2], %p: bool[]) {
          %r: fp32[2] = cond(pred=%p) {
            block() {
              %t: fp32[2] = relu(x=%x)
              %u: fp32[2] = exp(x=%x)
            } -> (%t)
            block() {
            } -> (%x)
          }
          %gone: fp32[2] = relu(x=%r)
        } -> (%r)
    """, "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[2], %p: bool[]) {
          %r: fp32[2] = cond(pred=%p) {
            block() {
              %t: fp32[2] = relu(x=%x)
            } -> (%t)
            block() {
            } -> (%x)
          }
        } -> (%r)
    """)


def test_const_fold_shape_and_unfoldable():
    # shape of a static value folds without the runtime; ops that read a
    # non-const input stay
    expect(run("""
        program(CoreML5)
        func main(%x: fp32[2,3]) {
          %sh: int32[2] = shape(x=%x)
          %one: int32[] = const(val=1)
          %s: int32[2] = add(x=%sh, y=%one)
          %d: fp32[2,3] = exp(x=%x)
        } -> (%sh, %d)
    """, "const_fold", "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[2,3]) {
          %sh: int32[2] = const(val=[2, 3])
          %d: fp32[2,3] = exp(x=%x)
        } -> (%sh, %d)
    """)


def test_const_fold_all_const_inputs():
    text = """
        program(CoreML5)
        func main(%x: fp32[2]) {
          %a: fp32[2] = const(val=[1, 2])
          %b: fp32[2] = const(val=[0.5, 4])
          %c: fp32[2] = mul(x=%a, y=%b)
          %o: fp32[2] = add(x=%x, y=%c)
        } -> (%o)
    """
    expect(run(text, "const_fold", "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[2]) {
          %c: fp32[2] = const(val=[0.5, 8])
          %o: fp32[2] = add(x=%x, y=%c)
        } -> (%o)
    """)


def test_const_fold_skips_big_broadcast():
    text = """
        program(CoreML5)
        func main(%x: fp32[2]) {
          %a: fp32[1] = const(val=[1])
          %s: int32[2] = const(val=[100, 100])
          %r: int32[2] = const(val=[1, 1])
          %b: fp32[100,100] = reshape(x=%a, shape=%r)
          %t: fp32[100,100] = tile(x=%b, reps=%s)
        } -> (%t)
    """.replace("fp32[100,100] = reshape", "fp32[1,1] = reshape")
    assert "tile(" in run(text, "const_fold")


FP16_IN = """
    program(CoreML5)
    func main(%x: fp32[2,3], %i: int32[2]) {
      %sh: int32[2] = shape(x=%x)
      %d: fp32[2,3] = exp(x=%x)
      %e: fp32[2,3] = add(x=%d, y=%x)
      %dt: string[] = const(val="fp32")
      %f: fp32[2] = cast(x=%i, dtype=%dt)
      %one: fp32[] = const(val=1)
      %one2: fp32[] = const(val=1)
      %g: fp32[2] = add(x=%f, y=%one)
      %h: fp32[2] = mul(x=%g, y=%one2)
    } -> (%e, %sh, %h, %e, %x)
"""


def test_fp16():
    expect(run(FP16_IN, "fp16"), """
        program(CoreML5)
        func main(%x: fp32[2,3], %i: int32[2]) {
          %x_to_fp16_dtype: string[] = const(val="fp16")
          %x_to_fp16: fp16[2,3] = cast(x=%x, dtype=%x_to_fp16_dtype)
          %sh: int32[2] = shape(x=%x_to_fp16)
          %d: fp16[2,3] = exp(x=%x_to_fp16)
          %e_cast_fp16: fp16[2,3] = add(x=%d, y=%x_to_fp16)
          %dt: string[] = const(val="fp32")
          %f: fp32[2] = cast(x=%i, dtype=%dt)
          %one: fp32[] = const(val=1)
          %one2: fp32[] = const(val=1)
          %g: fp32[2] = add(x=%f, y=%one)
          %h: fp32[2] = mul(x=%g, y=%one2)
          %e_to_fp32_dtype: string[] = const(val="fp32")
          %e: fp32[2,3] = cast(x=%e_cast_fp16, dtype=%e_to_fp32_dtype)
        } -> (%e, %sh, %h, %e, %x)
    """)


def test_fp16_keeps_index_arithmetic_fp32():
    """Positions computed from int sizes stay fp32 (fp16 would round them to other pixels); an fp16
    computation that reads one reads a cast."""
    got = run("""
        program(CoreML5)
        func main(%x: fp32[5], %n: int32[]) {
          %nf_dt: string[] = const(val="fp32")
          %nf: fp32[] = cast(x=%n, dtype=%nf_dt)
          %s: fp32[] = const(val=0.3)
          %p: fp32[] = mul(x=%nf, y=%s)
          %y: fp32[5] = add(x=%x, y=%p)
        } -> (%y)
    """, "fp16")
    assert "%p: fp32[] = mul(x=%nf, y=%s)" in got and "%s: fp32[] = const(val=0.3)" in got, got
    assert "%p_to_fp16: fp16[] = cast(x=%p" in got and "add(x=%x_to_fp16, y=%p_to_fp16)" in got, got


def test_fp16_output_names_and_dtypes_unchanged():
    before = _core.parse(textwrap.dedent(FP16_IN).lstrip())
    after = _core.parse(textwrap.dedent(FP16_IN).lstrip())
    after.run_pass("fp16")
    assert after.io() == before.io()


def test_fp16_then_dedup():
    expect(run(FP16_IN, "fp16", "dedup_const", "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[2,3], %i: int32[2]) {
          %x_to_fp16_dtype: string[] = const(val="fp16")
          %x_to_fp16: fp16[2,3] = cast(x=%x, dtype=%x_to_fp16_dtype)
          %sh: int32[2] = shape(x=%x_to_fp16)
          %d: fp16[2,3] = exp(x=%x_to_fp16)
          %e_cast_fp16: fp16[2,3] = add(x=%d, y=%x_to_fp16)
          %dt: string[] = const(val="fp32")
          %f: fp32[2] = cast(x=%i, dtype=%dt)
          %one: fp32[] = const(val=1)
          %g: fp32[2] = add(x=%f, y=%one)
          %h: fp32[2] = mul(x=%g, y=%one)
          %e: fp32[2,3] = cast(x=%e_cast_fp16, dtype=%dt)
        } -> (%e, %sh, %h, %e, %x)
    """)


def test_fp16_keeps_fp32_payload_exact():
    # the const's logical dtype is fp16; its payload stays as written (fp32)
    got = run("""
        program(CoreML5)
        func main(%x: fp32[2]) {
          %c: fp32[2] = const(val=[0.1, 3.1415927])
          %y: fp32[2] = add(x=%x, y=%c)
        } -> (%y)
    """, "fp16")
    assert "%c: fp16[2] = const(val=[0.1, 3.1415927])" in got


def test_dedup_const_respects_blocks_and_outputs():
    expect(run("""
        program(CoreML5)
        func main(%x: fp32[2], %p: bool[]) {
          %a: fp32[2] = const(val=[1, 2])
          %b: fp32[2] = const(val=[1, 2])
          %c: int32[2] = const(val=[1, 2])
          %s: fp32[2] = add(x=%a, y=%b)
          %t: fp32[2] = add(x=%s, y=%c)
          %r: fp32[2] = cond(pred=%p) {
            block() {
              %k: fp32[2] = const(val=[1, 2])
              %k2: fp32[2] = const(val=[1, 2])
              %u: fp32[2] = add(x=%k, y=%k2)
            } -> (%u)
            block() {
            } -> (%x)
          }
          %out: fp32[2] = const(val=[1, 2])
        } -> (%t, %r, %out)
    """, "dedup_const", "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[2], %p: bool[]) {
          %a: fp32[2] = const(val=[1, 2])
          %c: int32[2] = const(val=[1, 2])
          %s: fp32[2] = add(x=%a, y=%a)
          %t: fp32[2] = add(x=%s, y=%c)
          %r: fp32[2] = cond(pred=%p) {
            block() {
              %k: fp32[2] = const(val=[1, 2])
              %u: fp32[2] = add(x=%k, y=%k)
            } -> (%u)
            block() {
            } -> (%x)
          }
          %out: fp32[2] = const(val=[1, 2])
        } -> (%t, %r, %out)
    """)


def test_number_names_in_program_order():
    """Anonymous roots var_<n> are numbered by first appearance; the input's var_1 is kept and skipped."""
    expect(run("""
        program(CoreML5)
        func main(%var_1: fp32[2]) {
          %var_14_c: fp32[] = const(val=2)
          %var_14: fp32[2] = mul(x=%var_1, y=%var_14_c)
          %x_3: fp32[2] = relu(x=%var_14)
          %var_7: fp32[2] = exp(x=%x_3)
          %var_07: fp32[2] = sin(x=%var_7)
        } -> (%var_07)
    """, "number_names"), """
        program(CoreML5)
        func main(%var_1: fp32[2]) {
          %var_0_c: fp32[] = const(val=2)
          %var_0: fp32[2] = mul(x=%var_1, y=%var_0_c)
          %x_3: fp32[2] = relu(x=%var_0)
          %var_2: fp32[2] = exp(x=%x_3)
          %var_3: fp32[2] = sin(x=%var_2)
        } -> (%var_3)
    """)


def test_unknown_pass():
    p = _core.parse("program(CoreML5)\nfunc main(%x: fp32[2]) {\n} -> (%x)\n")
    with pytest.raises(ValueError, match="no pass named"):
        p.run_pass("nope")


@pytest.mark.parametrize("passes,tol", [
    (("fuse_conv_bn", "dead_code"), 1e-5),
    (("fuse_conv_bn", "fuse_conv_bias", "dead_code"), 1e-5),
    (("fuse_conv_bn", "fuse_conv_bias", "dead_code", "fp16", "dedup_const", "dead_code"), 2e-3),
])
def test_passes_keep_numerics(passes, tol):
    x = np.random.RandomState(0).randn(1, 2, 4, 4).astype(np.float32)
    ref = _core.parse(textwrap.dedent(CONV_BN_ADD).lstrip()).run([x])[0]
    p = _core.parse(textwrap.dedent(CONV_BN_ADD).lstrip())
    for name in passes:
        p.run_pass(name)
    got = p.run([x])[0]
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())


GELU_TANH = """
    program(CoreML5)
    func main(%x: fp32[2,3]) {
      %three: fp32[] = const(val=3)
      %p: fp32[2,3] = pow(x=%x, y=%three)
      %k: fp32[] = const(val=0.044715)
      %a: fp32[2,3] = mul(x=%p, y=%k)
      %s: fp32[2,3] = add(x=%x, y=%a)
      %c: fp32[] = const(val=0.7978846)
      %m: fp32[2,3] = mul(x=%c, y=%s)
      %t: fp32[2,3] = tanh(x=%m)
      %one: fp32[] = const(val=1)
      %u: fp32[2,3] = add(x=%one, y=%t)
      %half: fp32[] = const(val=0.5)
      %h: fp32[2,3] = mul(x=%x, y=%half)
      %y: fp32[2,3] = mul(x=%h, y=%u)
    } -> (%y)
"""


def test_fuse_gelu_tanh():
    expect(run(GELU_TANH, "fuse_gelu_tanh", "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[2,3]) {
          %y_gelu_mode: string[] = const(val="TANH_APPROXIMATION")
          %y: fp32[2,3] = gelu(x=%x, mode=%y_gelu_mode)
        } -> (%y)
    """)


def test_fuse_gelu_tanh_needs_its_constants():
    """0.04 in place of 0.044715 is another function: nothing changes."""
    text = GELU_TANH.replace("0.044715", "0.04")
    assert run(text, "fuse_gelu_tanh") == run(text)


def test_fuse_gelu_tanh_keeps_shared_values():
    """tanh's result read twice: the pattern's intermediate values are not its own, nothing changes."""
    text = GELU_TANH.replace("} -> (%y)", "  %z: fp32[2,3] = add(x=%y, y=%t)\n    } -> (%z)")
    assert "gelu" not in run(text, "fuse_gelu_tanh")


NOOPS = """
    program(CoreML5)
    func main(%x: fp32[2,3]) {
      %zeros: fp32[3] = const(val=[0, 0, 0])
      %a: fp32[2,3] = add(x=%x, y=%zeros)
      %ones: fp32[] = const(val=1)
      %b: fp32[2,3] = mul(x=%ones, y=%a)
      %shape: int32[2] = const(val=[2, 3])
      %c: fp32[2,3] = reshape(x=%b, shape=%shape)
      %perm: int32[2] = const(val=[0, 1])
      %d: fp32[2,3] = transpose(x=%c, perm=%perm)
      %big: fp32[4,2,3] = const(val=[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
      %e: fp32[4,2,3] = add(x=%d, y=%big)
      %f: fp32[4,2,3] = relu(x=%e)
      %g: fp32[4,2,3] = sub(x=%f, y=%zeros)
    } -> (%g)
"""


def test_noop_elim():
    """add 0, mul 1, same-shape reshape and identity transpose go; an add that broadcasts stays, and so
    does the op whose output is the function's (its name is the model's output name)."""
    expect(run(NOOPS, "noop_elim", "dead_code"), """
        program(CoreML5)
        func main(%x: fp32[2,3]) {
          %zeros: fp32[3] = const(val=[0, 0, 0])
          %big: fp32[4,2,3] = const(val=[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
          %e: fp32[4,2,3] = add(x=%x, y=%big)
          %f: fp32[4,2,3] = relu(x=%e)
          %g: fp32[4,2,3] = sub(x=%f, y=%zeros)
        } -> (%g)
    """)
