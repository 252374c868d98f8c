/* nms.c: non_maximum_suppression, class-agnostic or per class.
 *
 * MIL iOS15 form: boxes [n, B, 4] as (center x, center y, width, height), scores [n, B, K],
 * score_threshold given; outputs the kept boxes [n, M, 4], their scores [n, M, K], their
 * indices [n, M] (padded with -1; padded boxes and scores are 0) and the kept count [n].
 * MIL iOS17 form (no score_threshold): boxes [n, 4, B], scores [n, K, B], outputs
 * [n, 4, M], [n, K, M], [n, M].
 *
 * A box's score is its best class score; boxes scoring below score_threshold are dropped.
 * The rest are visited by decreasing score (equal scores in index order) and each one
 * not yet suppressed is kept and suppresses the later ones whose IoU with it is above
 * iou_threshold (per_class_suppression: only boxes of its own best class). The IoU is
 * computed in fp32 from the corners (center -/+ half the size) as
 * inter / (area_a + area_b - inter), the order of operations torchvision's CPU nms uses.
 */
#include "runtime/rt_internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    float s;
    int64_t i;
} cand;

static int by_score(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

int rt_k_NON_MAXIMUM_SUPPRESSION(rt_ctx *c) {
    const rt_tensor *bx = rt_in_req(c, "boxes"), *sc = bx ? rt_in_req(c, "scores") : NULL;
    if (!sc) return -1;
    int ios17 = rt_in(c, "score_threshold") == NULL;
    double iou, sthr;
    int64_t M;
    int per_class;
    if (rt_param_float(c, "iou_threshold", &iou) || rt_param_float(c, "score_threshold", &sthr) ||
        rt_param_int(c, "max_boxes", &M) || rt_param_bool(c, "per_class_suppression", &per_class))
        return -1;
    if (bx->rank != 3 || sc->rank != 3) return rt_fail(c, "boxes and scores must have rank 3");
    int cax = ios17 ? 1 : 2, bax = ios17 ? 2 : 1;
    int64_t N = bx->dims[0], B = bx->dims[bax], K = sc->dims[cax];
    if (bx->dims[cax] != 4) return rt_fail(c, "boxes must hold 4 coordinates on axis %d", cax);
    if (sc->dims[0] != N || sc->dims[bax] != B) return rt_fail(c, "boxes and scores disagree on the batch or box count");
    if (M < 1) return rt_fail(c, "max_boxes must be >= 1");
    if (K < 1) return rt_fail(c, "scores have no class");
    if (c->op->nout != (ios17 ? 3 : 4)) return rt_fail(c, "has %d outputs, expected %d", c->op->nout, ios17 ? 3 : 4);
    const float *bf = rt_f32(c, bx), *sf = bf ? rt_f32(c, sc) : NULL;
    if (!sf) return -1;
    int64_t d[3] = {N, ios17 ? 4 : M, ios17 ? M : 4};
    float *ob = rt_out(c, 0, 3, d, IR_FP32);
    d[1] = ios17 ? K : M;
    d[2] = ios17 ? M : K;
    float *os = ob ? rt_out(c, 1, 3, d, IR_FP32) : NULL;
    int32_t *oi = os ? rt_out(c, 2, 2, (int64_t[]){N, M}, IR_INT32) : NULL;
    int32_t *on = oi && !ios17 ? rt_out(c, 3, 1, &N, IR_INT32) : NULL;
    if (!oi || (!ios17 && !on)) return -1;
    size_t nb = (size_t)(B ? B : 1);
    cand *cs = rt_scratch(c, sizeof(cand) * nb, 0);
    float *corner = cs ? rt_scratch(c, sizeof(float) * 5 * nb, 0) : NULL;
    int64_t *cls = corner ? rt_scratch(c, sizeof(int64_t) * nb, 0) : NULL;
    unsigned char *gone = cls ? rt_scratch(c, nb, 0) : NULL;
    if (!gone) return -1;
    memset(ob, 0, sizeof(float) * (size_t)(N * 4 * M));
    memset(os, 0, sizeof(float) * (size_t)(N * K * M));
    float thr = (float)iou;
    for (int64_t b = 0; b < N; b++) {
        /* element (box j, coordinate / class k) of batch b */
#define BOX(j, k) bf[ios17 ? (b * 4 + (k)) * B + (j) : (b * B + (j)) * 4 + (k)]
#define SCORE(j, k) sf[ios17 ? (b * K + (k)) * B + (j) : (b * B + (j)) * K + (k)]
        int64_t nc = 0;
        for (int64_t j = 0; j < B; j++) {
            float best = SCORE(j, 0);
            int64_t bk = 0;
            for (int64_t k = 1; k < K; k++)
                if (SCORE(j, k) > best) best = SCORE(j, k), bk = k;
            cls[j] = bk;
            float cx = BOX(j, 0), cy = BOX(j, 1), hw = BOX(j, 2) / 2, hh = BOX(j, 3) / 2;
            float *q = corner + 5 * j;
            q[0] = cx - hw, q[1] = cy - hh, q[2] = cx + hw, q[3] = cy + hh;
            q[4] = (q[2] - q[0]) * (q[3] - q[1]);
            gone[j] = 0;
            if (!((double)best < sthr)) cs[nc++] = (cand){best, j};
        }
        qsort(cs, (size_t)nc, sizeof(cand), by_score);
        int64_t kept = 0;
        for (int64_t a = 0; a < nc && kept < M; a++) {
            int64_t i = cs[a].i;
            if (gone[i]) continue;
            oi[b * M + kept] = (int32_t)i;
            for (int k = 0; k < 4; k++) ob[ios17 ? (b * 4 + k) * M + kept : (b * M + kept) * 4 + k] = BOX(i, k);
            for (int64_t k = 0; k < K; k++) os[ios17 ? (b * K + k) * M + kept : (b * M + kept) * K + k] = SCORE(i, k);
            kept++;
            const float *p = corner + 5 * i;
            for (int64_t z = a + 1; z < nc; z++) {
                int64_t j = cs[z].i;
                if (gone[j] || (per_class && cls[j] != cls[i])) continue;
                const float *q = corner + 5 * j;
                float xx1 = p[0] > q[0] ? p[0] : q[0], yy1 = p[1] > q[1] ? p[1] : q[1];
                float xx2 = p[2] < q[2] ? p[2] : q[2], yy2 = p[3] < q[3] ? p[3] : q[3];
                float w = xx2 - xx1 > 0 ? xx2 - xx1 : 0, h = yy2 - yy1 > 0 ? yy2 - yy1 : 0;
                float inter = w * h, ovr = inter / (p[4] + q[4] - inter);
                if (ovr > thr) gone[j] = 1;
            }
        }
        for (int64_t k = kept; k < M; k++) oi[b * M + k] = -1;
        if (on) on[b] = (int32_t)kept;
#undef BOX
#undef SCORE
    }
    return 0;
}
