/* nms.c: torchvision::nms(boxes [N, 4] as (x1, y1, x2, y2), scores [N], iou_threshold) -> the kept
 * box indices by decreasing score, a length known only at run time (int32).
 *
 * MIL's non_maximum_suppression selects a fixed number of boxes (max_boxes, padded with -1) from
 * boxes in (center x, center y, width, height) form, so: corners -> centers (x1 + w / 2, exact for
 * the integer and half-integer coordinates where a tie at the threshold is possible), a batch axis
 * (and a class axis for the scores), max_boxes = N (10000 when N is known only at run time, as
 * coremltools does), score_threshold = -FLT_MAX (nothing is dropped for its score), then the first
 * `count` indices: range_1d(0, count) gathered. Suppression is IoU > iou_threshold, as torchvision
 * (its fp32 IoU against the double threshold: our fp32 threshold is rounded down so no decision moves).
 * Opset iOS15 / iOS16 use the iOS15 signature (4 outputs, the count is the 4th); iOS17 and later the
 * iOS17 one (boxes [1, 4, N], scores [1, 1, N], 3 outputs; the count is the number of indices >= 0).
 */
#include "lower/build.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NMS_DYNAMIC_MAX_BOXES 10000

int lower_nms(lower_ctx *cx, const ts_node *n) {
    ir_value *boxes = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *scores = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    double iou;
    if (!scores || lower_float_in(cx, n, 2, &iou)) return -1;
    ir_dtype dt = boxes->type.dtype;
    if (dt != IR_FP32 && dt != IR_FP16) return lower_fail(cx, "boxes must be floats, got %s", ir_dtype_name(dt));
    if (boxes->type.rank != 2 || boxes->type.dims[1] != 4) return lower_fail(cx, "boxes must have shape [N, 4]");
    if (scores->type.rank != 1) return lower_fail(cx, "scores must have shape [N]");
    if (!ir_dtype_is_float(scores->type.dtype)) return lower_fail(cx, "scores must be floats");
    if (scores->type.dtype != dt && !(scores = lb_cast(cx, scores, dt, "scores"))) return -1;
    const char *opset = cx->o->opset ? cx->o->opset : "CoreML5";
    int ios17 = strncmp(opset, "CoreML", 6) == 0 && atoi(opset + 6) >= 7;
    int64_t N = boxes->type.dims[0];
    int64_t maxb = IR_IS_SYM(N) ? NMS_DYNAMIC_MAX_BOXES : N;
    if (N == 0) return lower_fail(cx, "nms of no boxes");
    /* torchvision compares the fp32 IoU with the double threshold: the fp32 threshold at or below it
     * keeps every decision (IoU > thr) the same */
    float thr = (float)iou;
    if ((double)thr > iou) thr = nextafterf(thr, -INFINITY);
    /* corners -> center and size */
    ir_value *c[4];
    int64_t ones[4] = {1, 1, 1, 1};
    if (lb_split(cx, boxes, 1, 4, ones, c)) return -1;
    ir_value *w = lb_binary(cx, IR_OP_SUB, c[2], c[0], "w"), *h = lb_binary(cx, IR_OP_SUB, c[3], c[1], "h");
    ir_value *cxv = lb_binary(cx, IR_OP_ADD, c[0], lb_scalar_op(cx, IR_OP_MUL, w, 0.5), "cx");
    ir_value *cyv = lb_binary(cx, IR_OP_ADD, c[1], lb_scalar_op(cx, IR_OP_MUL, h, 0.5), "cy");
    ir_value *parts[4] = {cxv, cyv, w, h};
    ir_value *cs = lb_concat(cx, 4, parts, 1); /* [N, 4] */
    int64_t a0 = 0, a01[2] = {0, ios17 ? 1 : 2};
    ir_value *b3 = lb_expand(cx, cs, 1, &a0); /* [1, N, 4] */
    ir_value *s3 = lb_expand(cx, scores, 2, a01);          /* [1, N, 1] / [1, 1, N] */
    if (!b3 || !s3) return -1;
    if (ios17 && !(b3 = lb_transpose(cx, b3, (int64_t[]){0, 2, 1}))) return -1;
    ir_op *op = lb_op(cx, IR_OP_NON_MAXIMUM_SUPPRESSION, "nms");
    if (!op || ir_op_set_input(op, "boxes", b3) || ir_op_set_input(op, "scores", s3) ||
        lb_param_f(cx, op, "iou_threshold", thr, IR_FP32) ||
        (!ios17 && lb_param_f(cx, op, "score_threshold", -FLT_MAX, IR_FP32)) ||
        lb_param_i32(cx, op, "max_boxes", (int32_t)maxb) || lb_param_bool(cx, op, "per_class_suppression", 0) ||
        !lb_finish(cx, op))
        return -1;
    int64_t all = -1;
    ir_value *idx = lb_reshape(cx, op->out[2], 1, &all, "indices"); /* [M], -1 after the kept ones */
    ir_value *count;
    if (ios17) {
        ir_value *valid = lb_binary(cx, IR_OP_GREATER, idx, lb_const_scalar(cx, -1, IR_INT32, "neg1"), "valid");
        ir_value *vi = lb_cast(cx, valid, IR_INT32, "valid_i");
        count = lb_reduce(cx, IR_OP_REDUCE_SUM, vi, 1, &a0, 0);
    } else {
        count = lb_reshape(cx, op->out[3], 0, NULL, "count");
    }
    ir_op *r = lb_op(cx, IR_OP_RANGE_1D, "kept");
    if (!r || ir_op_set_input(r, "start", lb_const_scalar(cx, 0, IR_INT32, "start")) || ir_op_set_input(r, "end", count) ||
        ir_op_set_input(r, "step", lb_const_scalar(cx, 1, IR_INT32, "step")))
        return -1;
    ir_value *pos = lb_finish(cx, r);
    return lower_out_tensor(cx, n, 0, lb_gather(cx, idx, pos, 0));
}
