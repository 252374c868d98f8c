"""MIL ops that other tools write and our lowering never emits: each is written into an .mlpackage by
coremltools' own MIL builder (`coremltools.converters.mil.Builder`, ct.convert of the program, saved
without loading), loaded with pt2coreml.models.MLModel and predicted in our runtime; the result is
compared with a numpy reference written from the op's MIL documentation (coremltools ops/defs),
not from our kernel; then saved again by us and reloaded, with the same results (or, for sub-byte types,
refused clearly). Skipped when coremltools is not importable (it is a test reference only)."""
import warnings

import numpy as np
import pytest

import pt2coreml

pytest.importorskip("coremltools")

RNG = np.random.default_rng(7)


def _ct():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import coremltools as ct
        from coremltools.converters.mil import Builder as mb
    return ct, mb


def run_mil(tmp_path, build, inputs, target="iOS17", fp16=False, passes=True, resave=True):
    """build(mb, *vars) -> output Var(s) of a program over `inputs` (name -> array, fp32 inputs);
    write it with coremltools, load and predict with pt2coreml; returns the outputs in order."""
    ct, mb = _ct()
    tgt = getattr(ct.target, target)
    specs = [mb.TensorSpec(shape=a.shape, dtype=ct.converters.mil.mil.types.numpy_type_to_builtin_type(a.dtype.type))
             for a in inputs.values()]

    # coremltools names the program's inputs after the function's parameters: x, y, z in that order
    assert list(inputs) == ["x", "y", "z"][:len(inputs)], "inputs are named x, y, z"
    body = [lambda x: build(mb, x), lambda x, y: build(mb, x, y), lambda x, y, z: build(mb, x, y, z)][len(inputs) - 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = mb.program(input_specs=specs, opset_version=tgt)(body)
        kw = dict(convert_to="mlprogram", minimum_deployment_target=tgt, skip_model_load=True,
                  compute_precision=ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32)
        if not passes:
            kw["pass_pipeline"] = ct.PassPipeline.EMPTY
        mm = ct.convert(prog, **kw)
    path = str(tmp_path / "m.mlpackage")
    mm.save(path)
    ops = {op.type for f in mm.get_spec().mlProgram.functions.values()
           for blk in f.block_specializations.values() for op in blk.operations}
    m = pt2coreml.models.MLModel(path)
    outs = m.predict(dict(inputs))
    names = [o.name for o in mm.get_spec().description.output]
    if resave == "refused":  # sub-byte types we hold as bytes: saving them again fails clearly, nothing written
        with pytest.raises(ValueError, match="sub-byte type is not supported"):
            m.save(str(tmp_path / "again.mlpackage"))
        assert not (tmp_path / "again.mlpackage").exists()
    elif resave:  # saved again by us, loaded again: the same results
        again = str(tmp_path / "again.mlpackage")
        m.save(again)
        outs2 = pt2coreml.models.MLModel(again).predict(dict(inputs))
        for n in names:
            np.testing.assert_array_equal(outs2[n], outs[n])
    return [outs[n] for n in names], ops


# ---------------------------------------------------------------- elementwise
def test_threshold(tmp_path):
    x = RNG.standard_normal((2, 3, 5)).astype(np.float32)
    x[0, 0, 0] = np.nan
    (y,), ops = run_mil(tmp_path, lambda mb, x: mb.threshold(x=x, alpha=0.25), {"x": x})
    assert "threshold" in ops
    np.testing.assert_array_equal(y, np.where(np.isnan(x), x, np.maximum(x, np.float32(0.25))))


def test_atanh(tmp_path):
    x = RNG.uniform(-0.95, 0.95, (4, 6)).astype(np.float32)
    (y,), ops = run_mil(tmp_path, lambda mb, x: mb.atanh(x=x), {"x": x}, target="iOS15")
    assert "atanh" in ops
    np.testing.assert_allclose(y, 0.5 * np.log((1 + x.astype(np.float64)) / (1 - x)), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- compressed weights (iOS16 constexpr ops)
def _unpack_bits(packed, nbits, n):
    """LSB-first bit fields of `nbits` bits, as the MIL docs describe the packing."""
    bits = np.unpackbits(packed, bitorder="little")
    fields = bits[: n * nbits].reshape(n, nbits)
    return (fields * (1 << np.arange(nbits))).sum(axis=1)


def _pack_bits(vals, nbits):
    bits = ((np.asarray(vals)[:, None] >> np.arange(nbits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(bits, bitorder="little")


@pytest.mark.parametrize("zp_dtype", [np.int8, np.float32])
@pytest.mark.parametrize("per_channel", [False, True])
def test_constexpr_affine_dequantize(tmp_path, per_channel, zp_dtype):
    q = RNG.integers(-128, 128, (4, 6)).astype(np.int8)
    scale = (RNG.random(4).astype(np.float32) + 0.1) if per_channel else np.float32(0.05)
    zp = (np.arange(4) - 2).astype(zp_dtype) if per_channel else zp_dtype(3)
    x = RNG.standard_normal((3, 6)).astype(np.float32)

    def build(mb, x):
        w = mb.constexpr_affine_dequantize(quantized_data=q, zero_point=zp, scale=scale, axis=0)
        return mb.linear(x=x, weight=w)

    (y,), ops = run_mil(tmp_path, build, {"x": x}, target="iOS16")
    assert "constexpr_affine_dequantize" in ops
    ax = (slice(None), None)
    w = (np.asarray(scale)[ax] if per_channel else scale) * (q.astype(np.float32) - (np.asarray(zp)[ax] if per_channel else zp))
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-5, atol=1e-5)


def test_constexpr_cast(tmp_path):
    w = RNG.standard_normal((5, 4)).astype(np.float16)
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    (y,), ops = run_mil(tmp_path, lambda mb, x: mb.linear(x=x, weight=mb.constexpr_cast(source_val=w, output_dtype="fp32")),
                        {"x": x}, target="iOS16")
    assert "constexpr_cast" in ops
    np.testing.assert_allclose(y, x @ w.astype(np.float32).T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nbits", [1, 2, 4, 6, 8])
def test_constexpr_lut_to_dense(tmp_path, nbits):
    shape = (3, 7)  # 21 indices: fields straddle byte boundaries for 6 bits and leave padding bits
    idx = RNG.integers(0, 1 << nbits, int(np.prod(shape)))
    lut = RNG.standard_normal(1 << nbits).astype(np.float32)
    packed = _pack_bits(idx, nbits)
    assert np.array_equal(_unpack_bits(packed, nbits, idx.size), idx)
    x = RNG.standard_normal(shape).astype(np.float32)

    def build(mb, x):
        return mb.add(x=x, y=mb.constexpr_lut_to_dense(indices=packed, lut=lut, shape=np.array(shape, np.uint32)))

    (y,), ops = run_mil(tmp_path, build, {"x": x}, target="iOS16")
    assert "constexpr_lut_to_dense" in ops
    np.testing.assert_allclose(y, x + lut[idx].reshape(shape), rtol=1e-6)


def test_constexpr_sparse_to_dense(tmp_path):
    shape = (4, 5)
    dense = RNG.standard_normal(shape).astype(np.float32)
    dense[RNG.random(shape) < 0.6] = 0
    mask = np.packbits((dense != 0).reshape(-1).astype(np.uint8), bitorder="little")
    nz = dense[dense != 0]
    x = RNG.standard_normal(shape).astype(np.float32)

    def build(mb, x):
        return mb.mul(x=x, y=mb.constexpr_sparse_to_dense(nonzero_data=nz, mask=mask, shape=np.array(shape, np.uint32)))

    (y,), ops = run_mil(tmp_path, build, {"x": x}, target="iOS16")
    assert "constexpr_sparse_to_dense" in ops
    np.testing.assert_array_equal(y, x * dense)


def test_compressed_weights_in_fp16(tmp_path):
    """An fp16 program: lut of fp16 values feeding an fp16 linear."""
    idx = RNG.integers(0, 16, 24)
    lut = RNG.standard_normal(16).astype(np.float16)
    x = RNG.standard_normal((2, 4)).astype(np.float32)

    def build(mb, x):
        w = mb.constexpr_lut_to_dense(indices=_pack_bits(idx, 4), lut=lut, shape=np.array([6, 4], np.uint32))
        return mb.cast(x=mb.linear(x=mb.cast(x=x, dtype="fp16"), weight=w), dtype="fp32")

    (y,), ops = run_mil(tmp_path, build, {"x": x}, target="iOS16", fp16=True)
    assert "constexpr_lut_to_dense" in ops
    ref = x.astype(np.float16).astype(np.float32) @ lut[idx].reshape(6, 4).astype(np.float32).T
    np.testing.assert_allclose(y, ref, rtol=1e-2, atol=1e-2)


# ---------------------------------------------------------------- iOS17 quantize / dequantize
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_dequantize(tmp_path, dtype, per_channel):
    x = (RNG.standard_normal((3, 4)) * 4).astype(np.float32)
    x[0, :2] = [0.25, 0.75]  # exact halves of the scale: ties round to even
    npdt = np.dtype(dtype).type
    scale = np.array([0.5, 0.25, 1.0], np.float32) if per_channel else np.float32(0.5)
    zp = np.array([0, 3, -2] if dtype == "int8" else [128, 120, 130], npdt) if per_channel else npdt(1 if dtype == "int8" else 128)

    def build(mb, x):
        kw = dict(axis=0) if per_channel else {}
        q = mb.quantize(input=x, scale=scale, zero_point=zp, output_dtype=dtype, **kw)
        return mb.dequantize(input=q, scale=scale, zero_point=zp, **kw)

    (y,), ops = run_mil(tmp_path, build, {"x": x}, passes=False)
    assert {"quantize", "dequantize"} <= ops
    s = np.asarray(scale).reshape(-1, 1) if per_channel else scale
    z = np.asarray(zp).astype(np.float32).reshape(-1, 1) if per_channel else np.float32(zp)
    info = np.iinfo(npdt)
    q = np.clip(np.round(x / s) + z, info.min, info.max)
    np.testing.assert_allclose(y, s * (q - z), rtol=1e-6)


# ---------------------------------------------------------------- iOS18 slice_update, scaled_dot_product_attention
@pytest.mark.parametrize("case", [
    dict(begin=[1, 0, 1], end=[3, 4, 5], stride=[1, 2, 2]),
    dict(begin=[0, 3, 0], end=[2, 0, 6], stride=[1, -1, 3], begin_mask=[True, False, False], end_mask=[False, True, True]),
    dict(begin=[2, 1, 0], end=[3, 2, 6], squeeze_mask=[True, False, False]),
])
def test_slice_update(tmp_path, case):
    x = RNG.standard_normal((4, 5, 6)).astype(np.float32)
    # the reference slice, from slice_by_index's documented rules
    sl = []
    for i in range(3):
        b = None if case.get("begin_mask", [False] * 3)[i] else case["begin"][i]
        e = None if case.get("end_mask", [False] * 3)[i] else case["end"][i]
        sl.append(b if case.get("squeeze_mask", [False] * 3)[i] else slice(b, e, case.get("stride", [1] * 3)[i]))
    ref = x.copy()
    upd = RNG.standard_normal(ref[tuple(sl)].shape).astype(np.float32)
    ref[tuple(sl)] = upd
    params = {k: np.array(v, np.int32 if k in ("begin", "end", "stride") else bool) for k, v in case.items()}

    def build(mb, x, y):
        return mb.slice_update(x=x, update=y, **params)

    (y,), ops = run_mil(tmp_path, build, {"x": x, "y": upd}, target="iOS18")
    assert "slice_update" in ops
    np.testing.assert_array_equal(y, ref)


def _softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("mask", [None, "bool", "float"])
@pytest.mark.parametrize("fp16", [False, True])
def test_scaled_dot_product_attention(tmp_path, mask, fp16):
    B, H, L, S, E, EV = 2, 3, 5, 7, 8, 4
    q = RNG.standard_normal((B, H, L, E)).astype(np.float32)
    k = RNG.standard_normal((B, H, S, E)).astype(np.float32)
    v = RNG.standard_normal((B, H, S, EV)).astype(np.float32)
    m = None
    if mask == "bool":
        m = RNG.random((L, S)) < 0.7
        m[:, 0] = True  # no row fully masked
    elif mask == "float":
        m = RNG.standard_normal((1, H, 1, S)).astype(np.float32)

    def build(mb, x, y, z):
        kw = {} if m is None else {"attn_mask": m}
        return mb.scaled_dot_product_attention(query=x, key=y, value=z, **kw)

    (y,), ops = run_mil(tmp_path, build, {"x": q, "y": k, "z": v}, target="iOS18", fp16=fp16)
    assert "scaled_dot_product_attention" in ops
    s = q.astype(np.float64) @ np.swapaxes(k, -1, -2) / np.sqrt(E)
    if mask == "bool":
        s = np.where(m, s, -np.inf)
    elif mask == "float":
        s = s + m
    ref = _softmax(s) @ v
    tol = 2e-2 if fp16 else 1e-5
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


# ---------------------------------------------------------------- iOS18 compression (sub-byte storage)
def _np_sub(name):
    from coremltools.converters.mil.mil import types
    return getattr(types, f"np_{name}_dtype")


def _block_repeat(t, shape):
    """A per-block table repeated up to the data's shape (each data dim a multiple of the table's)."""
    for ax, (d, g) in enumerate(zip(shape, t.shape)):
        t = np.repeat(t, d // g, axis=ax)
    return t


@pytest.mark.parametrize("dtype", ["int4", "uint4", "int8"])
@pytest.mark.parametrize("size", ["small", "large"])  # an immediate value, and a blob in weight.bin
def test_constexpr_blockwise_shift_scale(tmp_path, dtype, size):
    shape = (4, 6) if size == "small" else (32, 64)
    lo, hi = {"int4": (-8, 8), "uint4": (0, 16), "int8": (-128, 128)}[dtype]
    npdt = np.int8 if dtype == "int8" else _np_sub(dtype)
    data = RNG.integers(lo, hi, shape)
    scale = (RNG.random((shape[0], 2)) + 0.5).astype(np.float32)  # blocks of 1 x (cols / 2)
    offset = RNG.integers(lo, hi, scale.shape)
    x = RNG.standard_normal((3, shape[1])).astype(np.float32)

    def build(mb, x):
        w = mb.constexpr_blockwise_shift_scale(data=data.astype(npdt), scale=scale, offset=offset.astype(npdt))
        return mb.linear(x=x, weight=w)

    (y,), ops = run_mil(tmp_path, build, {"x": x}, target="iOS18")
    assert "constexpr_blockwise_shift_scale" in ops
    w = _block_repeat(scale, shape) * (data - _block_repeat(offset, shape))
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("nbits,vector", [(1, 1), (2, 1), (3, 1), (4, 1), (6, 1), (8, 1), (4, 2)])
@pytest.mark.parametrize("size", ["small", "large"])
def test_constexpr_lut_to_dense_ios18(tmp_path, nbits, vector, size):
    rows, cols = (4, 6) if size == "small" else (32, 48)
    ishape = (rows // vector, cols)  # vector palettization along axis 0
    idx = RNG.integers(0, 1 << nbits, ishape)
    lut = RNG.standard_normal((2, 1, 1 << nbits, vector)).astype(np.float32)  # one table per half of the rows
    npdt = np.uint8 if nbits == 8 else _np_sub(f"uint{nbits}")
    x = RNG.standard_normal((rows, cols)).astype(np.float32)

    def build(mb, x):
        kw = {"vector_axis": 0} if vector > 1 else {}
        return mb.add(x=x, y=mb.constexpr_lut_to_dense(indices=idx.astype(npdt), lut=lut, **kw))

    (y,), ops = run_mil(tmp_path, build, {"x": x}, target="iOS18", resave=True if nbits == 8 else "refused")
    assert "constexpr_lut_to_dense" in ops
    dense = np.zeros((rows, cols), np.float32)
    for i in range(ishape[0]):
        for j in range(cols):
            g = i // (ishape[0] // 2)
            dense[i * vector:(i + 1) * vector, j] = lut[g, 0, idx[i, j], :]
    np.testing.assert_allclose(y, x + dense, rtol=1e-6)


def test_constexpr_sparse_ops_ios18(tmp_path):
    """sparse_to_dense of a uint1 mask, fed by lut_to_sparse and by sparse_blockwise_shift_scale."""
    shape = (4, 8)
    mask = RNG.random(shape) < 0.5
    D = int(mask.sum())
    nz = RNG.standard_normal(D).astype(np.float32)
    q = RNG.integers(0, 4, D)
    lut = RNG.standard_normal((1, 1, 4, 1)).astype(np.float32)
    qd = RNG.integers(-8, 8, D)
    scale = (RNG.random((1, 2)) + 0.5).astype(np.float32)
    u1 = _np_sub("uint1")
    x = RNG.standard_normal(shape).astype(np.float32)

    def build(mb, x):
        a = mb.constexpr_sparse_to_dense(nonzero_data=nz, mask=mask.astype(u1))
        m1, v1 = mb.constexpr_lut_to_sparse(indices_mask=mask.astype(u1), indices_nonzero_data=q.astype(_np_sub("uint2")), lut=lut)
        b = mb.constexpr_sparse_to_dense(nonzero_data=v1, mask=m1)
        m2, v2 = mb.constexpr_sparse_blockwise_shift_scale(data_mask=mask.astype(u1), nonzero_data=qd.astype(_np_sub("int4")), scale=scale)
        d = mb.constexpr_sparse_to_dense(nonzero_data=v2, mask=m2)
        return mb.add(x=mb.add(x=x, y=a), y=mb.mul(x=b, y=d))

    (y,), ops = run_mil(tmp_path, build, {"x": x}, target="iOS18", resave="refused")
    assert {"constexpr_sparse_to_dense", "constexpr_lut_to_sparse", "constexpr_sparse_blockwise_shift_scale"} <= ops
    a = np.zeros(shape, np.float32)
    a[mask] = nz
    b = np.zeros(shape, np.float32)
    b[mask] = lut[0, 0, q, 0]
    d = np.zeros(shape, np.float32)
    d[mask] = (_block_repeat(scale, shape)[mask] * qd)
    np.testing.assert_allclose(y, x + a + b * d, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- data movement: crop, sliding_windows, reverse_sequence, reshape_like
def test_crop(tmp_path):
    x = RNG.standard_normal((1, 2, 6, 7)).astype(np.float32)
    (y,), ops = run_mil(tmp_path, lambda mb, x: mb.crop(x=x, crop_height=[1, 2], crop_width=[0, 3]), {"x": x}, passes=False)
    assert "crop" in ops
    np.testing.assert_array_equal(y, x[..., 1:6 - 2, 0:7 - 3])


@pytest.mark.parametrize("axis,size,stride", [(1, 3, 1), (-1, 2, 2), (0, 4, 3)])
def test_sliding_windows(tmp_path, axis, size, stride):
    x = RNG.standard_normal((5, 6, 4)).astype(np.float32)
    (y,), ops = run_mil(tmp_path, lambda mb, x: mb.sliding_windows(x=x, axis=axis, size=size, stride=stride), {"x": x},
                        passes=False)
    assert "sliding_windows" in ops
    ax = axis % 3
    n = (x.shape[ax] - size) // stride + 1
    ref = np.stack([np.take(x, range(w * stride, w * stride + size), axis=ax) for w in range(n)], axis=ax)
    np.testing.assert_array_equal(y, ref)


def test_reverse_sequence(tmp_path):
    x = RNG.standard_normal((3, 5, 2)).astype(np.float32)
    lengths = np.array([2, 5, 0], np.int32)
    (y,), ops = run_mil(tmp_path, lambda mb, x: mb.reverse_sequence(x=x, lengths=lengths, seq_axis=1, batch_axis=0),
                        {"x": x}, passes=False)
    assert "reverse_sequence" in ops
    ref = x.copy()
    for b, n in enumerate(lengths):
        ref[b, :n] = x[b, :n][::-1]
    np.testing.assert_array_equal(y, ref)


def test_reshape_like(tmp_path):
    x = RNG.standard_normal((6, 10)).astype(np.float32)
    a = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    b = RNG.standard_normal((1, 5, 2)).astype(np.float32)

    def build(mb, x, y, z):
        return mb.reshape_like(x=x, ref_tensors=(y, z), begins=(0, 1), ends=(2, 0), end_masks=(False, True))

    (y,), ops = run_mil(tmp_path, build, {"x": x, "y": a, "z": b}, target="iOS16", passes=False)
    assert "reshape_like" in ops
    np.testing.assert_array_equal(y, x.reshape(2, 3, 5, 2))


# ---------------------------------------------------------------- l2_pool, einsum
@pytest.mark.parametrize("case", [
    dict(shape=(1, 2, 7, 6), kernel_sizes=[3, 2], strides=[2, 1], pad_type="valid"),
    dict(shape=(2, 3, 5, 5), kernel_sizes=[3, 3], strides=[2, 2], pad_type="custom", pad=[1, 1, 0, 1]),
    dict(shape=(1, 2, 9), kernel_sizes=[4], strides=[3], pad_type="valid"),
])
def test_l2_pool(tmp_path, case):
    case = dict(case)
    x = RNG.standard_normal(case.pop("shape")).astype(np.float32)
    (y,), ops = run_mil(tmp_path, lambda mb, x: mb.l2_pool(x=x, **case), {"x": x}, passes=False)
    assert "l2_pool" in ops
    # reference: zero padding, then the root of the sum of squares over each window
    k, s = case["kernel_sizes"], case["strides"]
    pad = case.get("pad", [0] * (2 * len(k)))
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(pad[2 * i], pad[2 * i + 1]) for i in range(len(k))])
    outs = [(xp.shape[2 + i] - k[i]) // s[i] + 1 for i in range(len(k))]
    ref = np.zeros(x.shape[:2] + tuple(outs))
    for idx in np.ndindex(*outs):
        win = tuple(slice(idx[i] * s[i], idx[i] * s[i] + k[i]) for i in range(len(k)))
        ref[(...,) + idx] = np.sqrt((xp[(..., ) + win] ** 2).reshape(x.shape[:2] + (-1,)).sum(-1))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eq,sa,sb", [
    ("nchw,nwhu->nchu", (2, 3, 4, 5), (2, 5, 4, 6)),
    ("abcd,adce->abce", (1, 3, 4, 5), (2, 5, 1, 6)),  # B and H broadcast
    ("chw,whr->chr", (3, 4, 5), (5, 4, 2)),
])
def test_einsum(tmp_path, eq, sa, sb):
    a = RNG.standard_normal(sa).astype(np.float32)
    b = RNG.standard_normal(sb).astype(np.float32)
    (y,), ops = run_mil(tmp_path, lambda mb, x, y: mb.einsum(values=(x, y), equation=eq), {"x": a, "y": b}, passes=False)
    assert "einsum" in ops
    if len(sa) == 4:  # numpy's einsum does not broadcast size-1 dims: expand them first
        B, H = max(sa[0], sb[0]), max(sa[2], sb[2])
        a = np.broadcast_to(a, (B, sa[1], H, sa[3]))
        b = np.broadcast_to(b, (B, sb[1], H, sb[3]))
    np.testing.assert_allclose(y, np.einsum(eq, a, b), rtol=1e-5, atol=1e-5)
