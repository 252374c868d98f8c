"""Quantized TorchScript graphs made readable by the C core (called from _frontend.forward_graph).

Eager-mode quantized modules keep their weights in packed-parameter objects (torch ScriptObjects such as
Conv2dPackedParamsBase) and sometimes quantized tensor constants; the C reader sees neither. Here each
such constant is replaced, in place in the frozen graph, by plain constants:

- a conv packed object -> prim::TupleConstruct(weight, bias or None, stride, padding, dilation, groups,
  transposed), the weight dequantized to fp32 ((q - zero_point) * scale, per tensor or per channel);
- a linear packed object -> prim::TupleConstruct(weight, bias or None);
- an embedding packed object (8 or 4 bit, float scale / zero point per row) -> its dequantized weight
  (every row looked up with torch's own op, so the values are exactly torch's);
- a quantized tensor constant -> aten::quantize_per_tensor / quantize_per_channel of its dequantized
  values, so the C lowering tracks its quantization parameters like any other quantized value.

The quantized ops themselves (quantized::conv2d, ...) are lowered in C (csrc/lower/quant.c).

int4 weight-only linear layers (aten::_weight_int4pack_mm_for_cpu) read a weight packed by
aten::_convert_weight_to_int4pack_for_cpu in a backend-specific byte layout, which freezing folds into a
constant. unpack_int4_weights puts the plain [N, K] int values (0..15) in its place, recovered with torch's own
op; csrc/lower/int4.c lowers both ops on that plain form.
"""

_CONV_UNPACK = {"Conv2dPackedParamsBase": "conv2d_unpack", "Conv3dPackedParamsBase": "conv3d_unpack"}


def _const(graph, value):
    return graph.insertConstant(value)


def _tuple(torch, graph, items):
    node = graph.create("prim::TupleConstruct", items)
    node.output().setType(torch._C.TupleType([v.type() for v in items]))
    graph.insertNode(node)
    return node.output()


def _float_weight(w):
    return w.dequantize().float().contiguous()


def _packed(torch, graph, obj, cls):
    """Plain-constant replacement of packed parameters, or None when the class is not one we read."""
    if cls in _CONV_UNPACK:
        w, b = getattr(torch.ops.quantized, _CONV_UNPACK[cls])(obj)
        items = [_const(graph, _float_weight(w)),
                 _const(graph, None if b is None else b.detach().float().contiguous()),
                 _const(graph, [int(v) for v in obj.stride()]), _const(graph, [int(v) for v in obj.padding()]),
                 _const(graph, [int(v) for v in obj.dilation()]), _const(graph, int(obj.groups())),
                 _const(graph, bool(obj.transpose()))]
        return _tuple(torch, graph, items)
    if cls == "LinearPackedParamsBase":
        w, b = torch.ops.quantized.linear_unpack(obj)
        items = [_const(graph, _float_weight(w)),
                 _const(graph, None if b is None else b.detach().float().contiguous())]
        return _tuple(torch, graph, items)
    if cls == "EmbeddingPackedParamsBase":
        # every row through torch's own lookup (the 4-bit form keeps its scales in fp16)
        w = torch.ops.quantized.embedding_bag_unpack(obj)
        lookup = torch.ops.quantized.embedding_4bit if w.dtype == torch.quint4x2 else torch.ops.quantized.embedding_byte
        rows = lookup(obj, torch.arange(w.shape[0], dtype=torch.int64))
        return _const(graph, rows.float().contiguous())
    return None


def _qtensor(torch, graph, t):
    """A quantized tensor constant as quantize_per_tensor / quantize_per_channel of its real values."""
    real = _const(graph, _float_weight(t))
    dtype = _const(graph, t.dtype)
    scheme = t.qscheme()
    if scheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        args = [real, _const(graph, float(t.q_scale())), _const(graph, int(t.q_zero_point())), dtype]
        kind = "aten::quantize_per_tensor"
    elif scheme in (torch.per_channel_affine, torch.per_channel_symmetric):
        args = [real, _const(graph, t.q_per_channel_scales().double().contiguous()),
                _const(graph, t.q_per_channel_zero_points().long().contiguous()),
                _const(graph, int(t.q_per_channel_axis())), dtype]
        kind = "aten::quantize_per_channel"
    else:
        return real  # float qparams (embedding rows): only ever dequantized, so its real values serve
    node = graph.create(kind, args)
    node.output().setType(torch._C.TensorType.get())
    graph.insertNode(node)
    return node.output()


def _int4_plain(torch, packed, group_size):
    """The [N, K] int32 values (0..15) of a weight packed by _convert_weight_to_int4pack_for_cpu, or None.
    Torch's own matmul against the identity with scale 1 and zero 8 per group gives q - 8 + 8 = q exactly."""
    if packed.dtype != torch.uint8 or packed.dim() != 2 or group_size <= 0:
        return None
    n, k = packed.shape[0], packed.shape[1] * 2
    if k % group_size:
        return None
    unit = torch.empty(k // group_size, n, 2)
    unit[..., 0] = 1.0
    unit[..., 1] = 8.0
    try:
        with torch.no_grad():
            wt = torch.ops.aten._weight_int4pack_mm_for_cpu(torch.eye(k), packed, group_size, unit)
    except RuntimeError:
        return None
    return wt.round().t().to(torch.int32).contiguous()


def unpack_int4_weights(torch, graph):
    """Give each aten::_weight_int4pack_mm_for_cpu whose packed weight and group size are constants the plain
    [N, K] int weight instead (see the module doc). A weight it cannot read is left as it is: the C lowering
    then reports it. Returns True when something was replaced."""
    changed = False
    stack = [graph.nodes()]
    while stack:
        for node in list(stack.pop()):
            for b in node.blocks():
                stack.append(b.nodes())
            if node.kind() != "aten::_weight_int4pack_mm_for_cpu":
                continue
            ins = list(node.inputs())
            wn, gn = ins[1].node(), ins[2].node()
            if wn.kind() != "prim::Constant" or gn.kind() != "prim::Constant" or not wn.hasAttribute("value") \
                    or wn.kindOf("value") != "t" or not gn.hasAttribute("value") or gn.kindOf("value") != "i":
                continue
            plain = _int4_plain(torch, wn.t("value"), gn.i("value"))
            if plain is None:
                continue
            with graph.insert_point_guard(node):
                node.replaceInput(1, graph.insertConstant(plain))
            changed = True
    if changed:
        torch._C._jit_pass_dce(graph)
    return changed


def rewrite_quantized_constants(torch, graph):
    """Replace packed-parameter objects and quantized tensor constants in `graph` (see the module doc).
    Returns True when something was replaced."""
    changed = False
    for node in list(graph.nodes()):
        if node.kind() != "prim::Constant" or not node.hasAttribute("value"):
            continue
        out = node.output()
        ty = out.type()
        new = None
        if ty.kind() == "ClassType":
            cls = ty.str().rsplit(".", 1)[-1]
            if "PackedParams" not in cls:
                continue
            with graph.insert_point_guard(node):
                new = _packed(torch, graph, node.ival("value"), cls)
        elif node.kindOf("value") == "t":
            t = node.t("value")
            if not t.is_quantized:
                continue
            with graph.insert_point_guard(node):
                new = _qtensor(torch, graph, t)
        if new is None:
            continue
        out.replaceAllUsesWith(new)
        node.destroy()
        changed = True
    return unpack_int4_weights(torch, graph) or changed
