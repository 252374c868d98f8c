"""Shape inference for the indexing and image ops (gather / scatter, sorting, pixel and
resampling ops) with parametric activations, norm / log reductions and the image normalizations:
each program declares what MIL's op definitions give; reinfer recomputes it and must agree."""
import pytest

from test_ir_infer import prog, reinfer, wrong_declaration

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
    "gathers": ("%x: fp32[4,5,6], %i: int32[4,2,6], %j: int32[3,2], %k: int32[4,3,1]", """
        %ax: int32[] = const(val=-2)
        %a: fp32[4,2,6] = gather_along_axis(x=%x, indices=%i, axis=%ax)
        %b: fp32[3,6] = gather_nd(x=%x, indices=%j)
        %bd: int32[] = const(val=1)
        %c: fp32[4,3,6] = gather_nd(x=%x, indices=%k, batch_dims=%bd)"""),
    "scatters": ("%d: fp32[4,5], %i: int32[3], %u: fp32[4,3], %i2: int32[2,5], %u2: fp32[2,5], %i3: int32[6,1], %u3: fp32[6,5]", """
        %ax: int32[] = const(val=1)
        %m: string[] = const(val="max")
        %a: fp32[4,5] = scatter(data=%d, indices=%i, updates=%u, axis=%ax, mode=%m)
        %b: fp32[4,5] = scatter_along_axis(data=%a, indices=%i2, updates=%u2)
        %c: fp32[4,5] = scatter_nd(data=%b, indices=%i3, updates=%u3)"""),
    "slice_by_size": ("%x: fp32[5,s0,7], %b: int32[3]", """
        %bc: int32[3] = const(val=[1, 0, -3])
        %s: int32[3] = const(val=[2, -1, -1])
        %a: fp32[2,s0,3] = slice_by_size(x=%x, begin=%bc, size=%s)
        %z: int32[3] = const(val=[0, 0, 0])
        %c: fp32[2,s0,7] = slice_by_size(x=%x, begin=%z, size=%s)
        %d: fp32[2,s2,s3] = slice_by_size(x=%x, begin=%b, size=%s)
        %e: fp32[s4,s5,s6] = slice_by_size(x=%x, begin=%b, size=%b)"""),
    "same_shape_ops": ("%x: fp32[3,s0,5]", """
        %ax: int32[2] = const(val=[0, -1])
        %a: fp32[3,s0,5] = reverse(x=%x, axes=%ax)
        %l: int32[] = const(val=-1)
        %b: fp32[3,s0,5] = band_part(x=%a, lower=%l)
        %t: bool[] = const(val=true)
        %c: fp32[3,s0,5] = cumsum(x=%b, axis=%l, exclusive=%t, reverse=%t)
        %d: int32[3,s0,5] = argsort(x=%c, ascending=%t)"""),
    "topk": ("%x: fp32[3,10], %y: int32[4,6]", """
        %k: int32[] = const(val=4)
        %ax: int32[] = const(val=0)
        (%v: fp32[3,4], %i: int32[3,4]) = topk(x=%x, k=%k)
        %m: int32[] = const(val=-1)
        %f: bool[] = const(val=false)
        %w: int32[4,6] = topk(x=%y, k=%m, axis=%ax, return_indices=%f)
        %u: string[] = const(val="uint16")
        (%v2: fp32[3,4], %i2: uint16[3,4]) = topk(x=%x, k=%k, output_indices_dtype=%u)"""),
    "one_hot": ("%i: int32[2,3], %n: int32[]", """
        %d: int32[] = const(val=5)
        %a: int32[2,3,5] = one_hot(indices=%i, one_hot_vector_size=%d)
        %ax: int32[] = const(val=1)
        %on: fp16[] = const(val=2.0)
        %b: fp16[2,5,3] = one_hot(indices=%i, one_hot_vector_size=%d, axis=%ax, on_value=%on, off_value=%on)
        %c: int32[s0,2,3] = one_hot(indices=%i, one_hot_vector_size=%n, axis=%ax0)""".replace("%ax0", "%z")
        .replace('%c: int32', '%z: int32[] = const(val=0)\n        %c: int32')),
    "non_zero": ("%x: fp32[s0,4,2]", "%y: int32[s1,3] = non_zero(x=%x)"),
    "fill": ("%s: int32[3], %r: fp16[2,s0]", """
        %sc: int32[2] = const(val=[4, 2])
        %v: int32[] = const(val=7)
        %a: int32[4,2] = fill(shape=%sc, value=%v)
        %b: fp32[s1,s2,s3] = fill(shape=%s)
        %c: fp32[2,s0] = fill_like(ref_tensor=%r)
        %vb: bool[] = const(val=true)
        %d: bool[2,s0] = fill_like(ref_tensor=%r, value=%vb)"""),
    "range_1d": ("%e: fp32[]", """
        %s: int32[] = const(val=2)
        %e2: int32[] = const(val=11)
        %d: int32[] = const(val=3)
        %a: int32[3] = range_1d(start=%s, end=%e2, step=%d)
        %sf: fp32[] = const(val=0.5)
        %b: fp32[s0] = range_1d(start=%sf, end=%e, step=%sf)
        %nd: int32[] = const(val=-1)
        %c: int32[0] = range_1d(start=%s, end=%e2, step=%nd)"""),
    "flatten2d": ("%x: fp32[2,3,4,5], %y: fp32[s0,3,4]", """
        %a: fp32[2,60] = flatten2d(x=%x)
        %m: int32[] = const(val=-1)
        %b: fp32[24,5] = flatten2d(x=%x, axis=%m)
        %z: int32[] = const(val=0)
        %c: fp32[1,120] = flatten2d(x=%x, axis=%z)
        %d: fp32[s1,12] = flatten2d(x=%y)"""),
    "pixel": ("%x: fp32[2,18,4,s0], %y: fp32[s1,8,6,4]", """
        %f: int32[] = const(val=3)
        %a: fp32[2,2,12,s2] = pixel_shuffle(x=%x, upscale_factor=%f)
        %u: uint32[] = const(val=2)
        %b: fp32[s1,32,3,2] = pixel_unshuffle(x=%y, downscale_factor=%u)
        %c: fp32[2,2,12,s3] = depth_to_space(x=%x, block_size=%f)
        %bs: int32[] = const(val=2)
        %d: fp32[s1,32,3,2] = space_to_depth(x=%y, block_size=%bs)
        %bl: int32[2] = const(val=[2, 3])
        %pd: int32[2,2] = const(val=[1, 1, 1, 1])
        %e: fp32[s4,8,4,2] = space_to_batch(x=%y, block_shape=%bl, paddings=%pd)
        %g: fp32[s5,8,6,4] = batch_to_space(x=%e, block_shape=%bl, crops=%pd)"""),
    "resampling": ("%x: fp32[1,3,7,6], %s: fp16[2,4,s0], %g: fp32[1,5,9,2]", """
        %sh: fp32[] = const(val=1.5)
        %sw: int32[] = const(val=2)
        %a: fp32[1,3,10,12] = upsample_nearest_neighbor(x=%x, scale_factor_height=%sh, scale_factor_width=%sw)
        %f: bool[] = const(val=false)
        %b: fp32[1,3,10,12] = upsample_bilinear(x=%x, scale_factor_height=%sh, scale_factor_width=%sw, align_corners=%f, half_pixel_centers=%f)
        %c: fp16[2,4,s1] = upsample_bilinear(x=%s, scale_factor_width=%sw)
        %d: fp16[2,4,s0] = upsample_nearest_neighbor(x=%s)
        %th: int32[] = const(val=5)
        %tw: int32[] = const(val=3)
        %e: fp16[2,5,3] = resize_nearest_neighbor(x=%s, target_size_height=%th, target_size_width=%tw)
        %m: string[] = const(val="OFFSET_CORNERS")
        %h: fp32[1,3,5,3] = resize_bilinear(x=%x, target_size_height=%th, target_size_width=%tw, sampling_mode=%m)
        %sm: string[] = const(val="bilinear")
        %pm: string[] = const(val="symmetric")
        %pv: fp32[] = const(val=0.0)
        %cm: string[] = const(val="normalized_minus_one_to_one")
        %r: fp32[1,3,5,9] = resample(x=%x, coordinates=%g, sampling_mode=%sm, padding_mode=%pm, padding_value=%pv, coordinates_mode=%cm, align_corners=%f)"""),
}

BAD = [
    ("%x: fp32[1,8,4,4]", "%f: int32[] = const(val=3)\n%y: fp32[1,1,12,12] = pixel_shuffle(x=%x, upscale_factor=%f)",
     "channel count 8 is not divisible by 9"),
    ("%x: fp32[1,8,5,4]", "%f: int32[] = const(val=2)\n%y: fp32[1,32,2,2] = space_to_depth(x=%x, block_size=%f)",
     "height 5 is not divisible by 2"),
    ("%x: fp32[8,4]", "%y: fp32[8,4] = upsample_nearest_neighbor(x=%x)", "must have rank >= 3"),
    ("%x: fp32[1,3,4,4]", "%m: string[] = const(val=\"BICUBIC\")\n%y: fp32[1,3,1,1] = resize_bilinear(x=%x, sampling_mode=%m)",
     "unknown sampling_mode 'BICUBIC'"),
    ("%x: fp32[1,3,4,4]", "%t: int32[] = const(val=2)\n%y: fp32[1,3,2,4] = resize_nearest_neighbor(x=%x, target_size_height=%t)",
     "missing required input 'target_size_width'"),
    ("%x: fp32[1,3,4,4], %g: fp32[1,2,2,2]", "%y: fp32[1,3,2,2] = resample(x=%x, coordinates=%g)",
     "missing required input 'sampling_mode'"),
    ("%x: fp32[4,5], %i: int32[3,5]", "%y: fp32[3,5] = gather_along_axis(x=%x, indices=%i, axis=%x)",
     "parameter 'axis' must be a constant"),
    ("%x: fp32[4,5], %i: int32[3,4]", "%y: fp32[3,4] = gather_along_axis(x=%x, indices=%i)", "differ in dim 1"),
    ("%x: fp32[4,5], %i: int32[3,3]", "%y: fp32[3] = gather_nd(x=%x, indices=%i)", "do not fit"),
    ("%d: fp32[4,5], %i: int32[3], %u: fp32[3,4]", "%y: fp32[4,5] = scatter(data=%d, indices=%i, updates=%u)",
     r"updates fp32\[3,4\] should have shape fp32\[3,5\]"),
    ("%d: fp32[4,5], %i: int32[3], %u: fp32[3,5]",
     "%m: string[] = const(val=\"avg\")\n%y: fp32[4,5] = scatter(data=%d, indices=%i, updates=%u, mode=%m)", "unknown mode 'avg'"),
    ("%x: fp32[3,4]", "%k: int32[] = const(val=5)\n(%v: fp32[3,5], %i: int32[3,5]) = topk(x=%x, k=%k)", "k = 5 is invalid"),
    ("%x: fp32[3,4]", "%a: int32[] = const(val=-2)\n%y: fp32[3,4] = cumsum(x=%x, axis=%a)", r"axis -2 must be in \[-1, 1\]"),
    ("%x: fp32[5]", "%y: fp32[5] = band_part(x=%x)", "needs rank >= 2"),
    ("%s: int32[], %e: fp32[]", "%y: int32[s0] = range_1d(start=%s, end=%e, step=%s)", "must have one dtype"),
    ("%x: fp32[4,5]", "%b: int32[2] = const(val=[3, 0])\n%s: int32[2] = const(val=[2, 5])\n"
     "%y: fp32[2,5] = slice_by_size(x=%x, begin=%b, size=%s)", "out of range for dim 0"),
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
    with pytest.raises(ValueError, match="reinfer: .* output 0 declared"):
        reinfer(wrong_declaration(prog(*CASES[name])))


@pytest.mark.parametrize("inputs,body,msg", BAD)
def test_infer_errors(inputs, body, msg):
    with pytest.raises(ValueError, match=msg):
        reinfer(prog(inputs, body))
