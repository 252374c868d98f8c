"""Op coverage, box selection: torchvision::nms (torchvision.ops.nms, and batched_nms, which traces to
the coordinate-offset trick around nms) -> MIL non_maximum_suppression + the first `count` kept
indices, a length known only at run time. Parity with torchvision on random boxes with overlaps and
score ties, several IoU thresholds, boxes whose IoU equals the threshold exactly (kept: suppression
is IoU > threshold), one converted model run on inputs with different kept counts, a box count
known only at run time, the iOS17 form of the MIL op, and fp16."""
import numpy as np
import pytest
import torch
import torch.nn as nn

torchvision = pytest.importorskip("torchvision")

import pt2coreml as ct  # noqa: E402
from cov_common import run  # noqa: E402


class Nms(nn.Module):
    def __init__(self, iou):
        super().__init__()
        self.iou = iou

    def forward(self, boxes, scores):
        return torchvision.ops.nms(boxes, scores, self.iou)


class BatchedNms(nn.Module):
    def __init__(self, iou):
        super().__init__()
        self.iou = iou

    def forward(self, boxes, scores, idxs):
        return torchvision.ops.batched_nms(boxes, scores, idxs, self.iou)


def boxes_scores(n, seed, integer=False, tie_levels=None):
    """n boxes in a 100 x 100 field, many overlapping; scores rounded to `tie_levels` values (ties)."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 80
    wh = torch.rand(n, 2, generator=g) * 30 + 2
    if integer:
        xy, wh = xy.floor(), wh.floor()
    b = torch.cat([xy, xy + wh], 1)
    s = torch.rand(n, generator=g)
    if tie_levels:
        s = (s * tie_levels).floor() / tie_levels
    return b, s


def convert(module, example, precision="fp32", shapes=None, **kw):
    sm = torch.jit.trace(module.eval(), example, check_trace=False)
    types = [ct.TensorType(name=f"x{i}", shape=shapes[i] if shapes else tuple(x.shape),
                           dtype=np.float32 if x.is_floating_point() else np.int32) for i, x in enumerate(example)]
    prec = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    return ct.convert(sm, inputs=types, compute_precision=prec, **kw)


def predict(ml, inputs):
    out = ml.predict({f"x{i}": x.numpy() for i, x in enumerate(inputs)})
    return list(out.values())[0]


@pytest.mark.parametrize("iou", [0.0, 0.2, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_nms_random(iou, seed):
    b, s = boxes_scores(60, seed, tie_levels=12)
    run(Nms(iou), [b, s])


def test_nms_two_inputs_different_counts():
    """One model, two inputs: the kept counts differ and each result equals torchvision's."""
    ml = convert(Nms(0.4), boxes_scores(50, 3))
    counts = set()
    for seed in (3, 4, 5, 6):
        b, s = boxes_scores(50, seed, tie_levels=8)
        if seed == 6:  # disjoint boxes: all kept
            b = torch.tensor([[10.0 * i, 0, 10.0 * i + 5, 5] for i in range(50)])
        want = torchvision.ops.nms(b, s, 0.4).numpy()
        got = predict(ml, [b, s])
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.int32
        counts.add(len(want))
    assert len(counts) >= 3, counts


def test_nms_exact_threshold_and_ties():
    """Integer boxes with IoU exactly 1/3 and 1/2 (not suppressed at that threshold, suppressed just
    below it), and equal scores (the lower index goes first, as torchvision's stable order)."""
    b = torch.tensor([[0, 0, 2, 2], [1, 0, 3, 2],      # IoU 1/3
                      [10, 0, 14, 1], [10, 0, 12, 1],  # IoU 1/2
                      [20, 0, 22, 2], [20, 0, 22, 2],  # the same box, equal scores
                      [30, 0, 32, 2]], dtype=torch.float32)
    s = torch.tensor([0.5, 0.9, 0.8, 0.7, 0.6, 0.6, 0.6])
    for iou in (1 / 3, 0.5, 0.3333, 0.4999, 0.0, 0.99):
        run(Nms(iou), [b, s])


def test_nms_batched():
    b, s = boxes_scores(40, 7, tie_levels=10)
    idx = torch.randint(0, 3, (40,), generator=torch.Generator().manual_seed(1))
    for iou in (0.3, 0.6):
        run(BatchedNms(iou), [b, s, idx])


def test_nms_runtime_box_count():
    """The number of boxes is known only at run time: max_boxes is 10000 and the result still exact."""
    b, s = boxes_scores(30, 8)
    shapes = [ct.Shape(shape=(ct.RangeDim(1, 500, default=30), 4)), ct.Shape(shape=(ct.RangeDim(1, 500, default=30),))]
    ml = convert(Nms(0.5), (b, s), shapes=shapes)
    for n, seed in ((30, 8), (77, 9), (5, 10)):
        b, s = boxes_scores(n, seed, tie_levels=6)
        np.testing.assert_array_equal(predict(ml, [b, s]), torchvision.ops.nms(b, s, 0.5).numpy())


def test_nms_ios17():
    """iOS17 opset: the iOS17 signature of the op (boxes [n, 4, B], three outputs); coremltools'
    reader loads it with that opset."""
    b, s = boxes_scores(40, 11, tie_levels=10)
    ml, _ = run(Nms(0.45), [b, s], minimum_deployment_target=ct.target.iOS17), None
    assert "non_maximum_suppression" in ml._prog.histogram()


def test_nms_fp16():
    """fp16: integer boxes (exact in fp16), distinct scores on a 1/64 grid, thresholds at least 0.01
    from every pairwise IoU (fp16 rounding of the threshold cannot move a decision)."""
    b, _ = boxes_scores(40, 12, integer=True)
    s = torch.randperm(40, generator=torch.Generator().manual_seed(2)).float() / 64
    ious = torchvision.ops.box_iou(b, b).numpy().ravel()
    thresholds = [t for t in np.arange(0.05, 0.95, 0.05) if np.abs(ious - t).min() > 0.01][:4]
    assert len(thresholds) >= 2
    for t in thresholds:
        run(Nms(float(t)), [b, s], precision="fp16")


def test_nms_runtime_threshold_is_refused():
    """An IoU threshold known only at run time cannot be MIL's const iou_threshold: a clear error."""
    g = torch._C.parse_ir("""graph(%b : Float(5, 4), %s : Float(5), %t : Float()):
      %i : float = aten::Float(%t)
      %k : Tensor = torchvision::nms(%b, %s, %i)
      return (%k)""")
    fn = torch._C._create_function_from_graph("nms_dyn", g)
    types = [ct.TensorType(name="b", shape=(5, 4)), ct.TensorType(name="s", shape=(5,)),
             ct.TensorType(name="t", shape=())]
    with pytest.raises(ct.ConversionError, match=r"torchvision::nms"):
        ct.convert(fn, inputs=types)
