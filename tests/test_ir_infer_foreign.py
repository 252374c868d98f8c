"""Shape rules of the MIL ops only packages other tools write (ir/infer_foreign.c: resize, crop_resize, affine,
conv_quantized; ir/infer_list.c: make_list and the list ops): each program declares what coremltools' op
definitions give; reinfer recomputes it and must agree; bad programs fail naming the problem."""
import pytest

from test_ir_infer import prog, reinfer

CASES = {
    "resize": ("%x: fp32[2,3,4,5], %s: int32[2], %i: int32[1,4,6]", """
        %sh: int32[3] = const(val=[1, 0, 9])
        %two: uint32[] = const(val=2)
        %a: fp32[2,3,4,9] = resize(x=%x, shape=%sh, resized_dims=%two)
        %nn: string[] = const(val="NEAREST_NEIGHBOR")
        %b: int32[1,4,9] = resize(x=%i, shape=%sh, resized_dims=%two, interpolation_mode=%nn)
        %c: fp32[2,3,s0,s1] = resize(x=%x, shape=%s, resized_dims=%two)"""),
    "crop_resize": ("%x: fp16[2,3,8,8], %r4: fp16[5,1,4,1,1], %r5: fp16[5,1,5,1,1], %b: fp32[6,4], %bi: int32[6]", """
        %h: int32[] = const(val=3)
        %w: int32[] = const(val=4)
        %a: fp16[5,2,3,3,4] = crop_resize(x=%x, roi=%r4, target_height=%h, target_width=%w)
        %c: fp16[5,1,3,1,1] = crop_resize(x=%x, roi=%r5)
        %m: string[] = const(val="CENTER_SIZE_WIDTH_FIRST")
        %d: fp16[6,3,3,4] = crop_resize(x=%x, boxes=%b, box_indices=%bi, target_height=%h, target_width=%w, box_coordinate_mode=%m)"""),
    "affine": ("%x: fp32[2,3,5,5], %m: fp32[1,6]", """
        %h: int32[] = const(val=7)
        %w: int32[] = const(val=2)
        %sm: string[] = const(val="bilinear")
        %pm: string[] = const(val="constant")
        %pv: fp32[] = const(val=0.0)
        %cm: string[] = const(val="normalized_minus_one_to_one")
        %ac: bool[] = const(val=false)
        %y: fp32[2,3,7,2] = affine(x=%x, transform_matrix=%m, output_height=%h, output_width=%w, sampling_mode=%sm, padding_mode=%pm, padding_value=%pv, coordinates_mode=%cm, align_corners=%ac)"""),
    "conv_quantized": ("%x: fp32[1,4,6,6], %w: uint8[8,2,3,3]", """
        %q: string[] = const(val="linear")
        %s: fp32[] = const(val=0.5)
        %g: int32[] = const(val=2)
        %y: fp32[1,8,4,4] = conv_quantized(x=%x, weight=%w, quantization_type=%q, quant_scale=%s, quant_bias=%s, groups=%g)"""),
    "lists": ("%v: fp32[3,4], %i: int32[], %k: int32[2], %u: fp32[2,3,4]", """
        %n: int32[] = const(val=2)
        %d0: int32[] = const(val=3)
        %d1: string[] = const(val="w")
        %l: list<fp32[3,s0]> = make_list(init_length=%n, elem_shape=(%d0, %d1))
        %l2: list<fp32[3,s0]> = list_write(ls=%l, index=%i, value=%v)
        %l3: list<fp32[3,s0]> = list_scatter(ls=%l2, indices=%k, value=%u)
        %r: fp32[3,s0] = list_read(ls=%l3, index=%i)
        %len: int32[] = list_length(ls=%l3)
        %g: fp32[2,3,s0] = list_gather(ls=%l3, indices=%k)"""),
}

BAD = [
    ("%x: fp32[2,3,4,5]", "%sh: int32[2] = const(val=[3, 3])\n%r: uint32[] = const(val=3)\n"
     "%y: fp32[2,3,3,3] = resize(x=%x, shape=%sh, resized_dims=%r)", r"resized_dims 3 must be in \[0, 2\]"),
    ("%x: fp32[2,3,4,5]", "%sh: int32[2] = const(val=[3, 3])\n%y: fp32[2,3,3,3] = resize(x=%x, shape=%sh)",
     "missing required input 'resized_dims'"),
    ("%x: fp32[2,3,4,5], %b: fp32[4,4]", "%y: fp32[4,3,1,1] = crop_resize(x=%x)", "exactly one of roi"),
    ("%x: fp32[2,3,4,5], %b: fp32[4,5]", "%y: fp32[4,3,1,1] = crop_resize(x=%x, boxes=%b)", r"must be \[N, 4\]"),
    ("%x: fp32[2,3,4,5], %m: fp32[3,6]", "%h: int32[] = const(val=2)\n%s: string[] = const(val=\"bilinear\")\n"
     "%p: string[] = const(val=\"constant\")\n%v: fp32[] = const(val=0.0)\n%c: string[] = const(val=\"normalized_minus_one_to_one\")\n"
     "%a: bool[] = const(val=true)\n%y: fp32[2,3,2,2] = affine(x=%x, transform_matrix=%m, output_height=%h, output_width=%h, "
     "sampling_mode=%s, padding_mode=%p, padding_value=%v, coordinates_mode=%c, align_corners=%a)", "needs 1 or 2 rows"),
    ("%x: fp32[1,4,6,6], %w: uint8[8,4,3,3]", "%q: string[] = const(val=\"lut\")\n%s: fp32[] = const(val=0.5)\n"
     "%y: fp32[1,8,4,4] = conv_quantized(x=%x, weight=%w, quantization_type=%q, quant_scale=%s, quant_bias=%s)",
     "quantization_type 'lut' is not supported"),
    ("%v: fp32[3,5]", "%d: int32[] = const(val=4)\n%l: list<fp32[4]> = make_list(elem_shape=%d)\n"
     "%i: int32[] = const(val=0)\n%m: list<fp32[4]> = list_write(ls=%l, index=%i, value=%v)", "does not fit the list's elements"),
    ("%v: fp32[3]", "%i: int32[] = const(val=0)\n%y: fp32[3] = list_read(ls=%v, index=%i)", "ls must be a list"),
]


@pytest.mark.parametrize("name", sorted(CASES))
def test_infer_ok(name):
    reinfer(prog(*CASES[name]))


@pytest.mark.parametrize("inputs,body,msg", BAD)
def test_infer_errors(inputs, body, msg):
    with pytest.raises(ValueError, match=msg):
        reinfer(prog(inputs, body))


@pytest.mark.parametrize("name", sorted(CASES))
def test_infer_detects_wrong_declaration(name):
    # the last op's declared output gets an extra dim of 99: its shape rule must object
    lines = prog(*CASES[name]).splitlines()
    i = max(k for k, l in enumerate(lines) if " = " in l)
    lb = lines[i].index("[")
    rb = lines[i].index("]", lb)
    lines[i] = lines[i][:rb] + ",99" + lines[i][rb:]
    with pytest.raises(ValueError, match="reinfer: .* output 0 declared"):
        reinfer("\n".join(lines) + "\n")
