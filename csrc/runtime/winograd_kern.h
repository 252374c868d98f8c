/* winograd_kern.h: the vector kernels of winograd.c, included twice (a generic
 * build and, on x86, an AVX2/FMA build chosen at run time). Before including,
 * define WK(name) (the function-name suffixer) and WK_ATTR (function attributes).
 *
 * Every kernel works on 8 tiles (or 8 channels) per vector and may read up to 7
 * floats past the last useful element: callers give their rows that slack.
 * The 1-D transforms are those of F(4, 3) with interpolation points 0, 1, -1,
 * 2, -2 and infinity:
 *   input  B^T z: 4z0-5z2+z4, -4z1-4z2+z3+z4, 4z1-4z2-z3+z4, -2z1-z2+2z3+z4,
 *                 2z1-z2-2z3+z4, 4z1-5z3+z5
 *   filter G g:   g0/4, -(g0+g1+g2)/6, -(g0-g1+g2)/6, g0/24+g1/12+g2/6,
 *                 g0/24-g1/12+g2/6, g2
 *   output A^T m: m0+m1+m2+m3+m4, m1-m2+2m3-2m4, m1+m2+4m3+4m4, m1-m2+8m3-8m4+m5 */

/* B^T z on six vectors z[0..5], results in o[0..5]. */
#define WK_BT(z, o)                                                                                            \
    do {                                                                                                       \
        v8 p_ = z[4] - 4.0f * z[2], q_ = z[3] - 4.0f * z[1], r_ = z[4] - z[2], s_ = 2.0f * (z[3] - z[1]);      \
        o[0] = 4.0f * z[0] - 5.0f * z[2] + z[4];                                                                \
        o[1] = p_ + q_;                                                                                        \
        o[2] = p_ - q_;                                                                                        \
        o[3] = r_ + s_;                                                                                        \
        o[4] = r_ - s_;                                                                                        \
        o[5] = 4.0f * z[1] - 5.0f * z[3] + z[5];                                                                \
    } while (0)

/* Vertical input transform of one tile row: T[o][x] = (B^T (R[0..5][x]))[o] for
 * x < n8 (a multiple of 8); T rows are ld floats apart. */
WK_ATTR static void WK(wk_vert)(const float *const R[6], float *T, int64_t ld, int64_t n8) {
    for (int64_t x = 0; x < n8; x += 8) {
        v8 z[6], o[6];
        for (int u = 0; u < 6; u++) z[u] = *(const v8u *)(R[u] + x);
        WK_BT(z, o);
        for (int u = 0; u < 6; u++) *(v8u *)(T + u * ld + x) = o[u];
    }
}

/* Horizontal input transform: L[s][x] = (B^T (Trow[off[0..5] + x]))[s], x < n8. */
WK_ATTR static void WK(wk_horz)(const float *Trow, const int64_t off[6], float *L, int64_t ld, int64_t n8) {
    for (int64_t x = 0; x < n8; x += 8) {
        v8 z[6], o[6];
        for (int u = 0; u < 6; u++) z[u] = *(const v8u *)(Trow + off[u] + x);
        WK_BT(z, o);
        for (int u = 0; u < 6; u++) *(v8u *)(L + u * ld + x) = o[u];
    }
}

/* Filter transform of 8 channels at a time: gt holds the 9 taps as rows of ldg
 * floats (gt[e * ldg + c], e = kh * 3 + kw); U[(6i + j) * ldu + c] = (G g G^T)[i][j]
 * for c < n8. */
WK_ATTR static void WK(wk_filter)(const float *gt, int64_t ldg, float *U, int64_t ldu, int64_t n8) {
    const float q4 = 0.25f, s6 = 1.0f / 6.0f, t12 = 1.0f / 12.0f, f24 = 1.0f / 24.0f;
    for (int64_t c = 0; c < n8; c += 8) {
        v8 g[9], t[6][3];
        for (int e = 0; e < 9; e++) g[e] = *(const v8u *)(gt + e * ldg + c);
        for (int j = 0; j < 3; j++) { /* G g, one column at a time */
            v8 g0 = g[j], g1 = g[3 + j], g2 = g[6 + j], a = g0 + g2, b = f24 * g0 + s6 * g2;
            t[0][j] = q4 * g0;
            t[1][j] = -s6 * (a + g1);
            t[2][j] = s6 * (g1 - a);
            t[3][j] = b + t12 * g1;
            t[4][j] = b - t12 * g1;
            t[5][j] = g2;
        }
        for (int i = 0; i < 6; i++) { /* (G g) G^T, one row at a time */
            v8 g0 = t[i][0], g1 = t[i][1], g2 = t[i][2], a = g0 + g2, b = f24 * g0 + s6 * g2;
            float *u = U + 6 * i * ldu + c;
            *(v8u *)(u) = q4 * g0;
            *(v8u *)(u + ldu) = -s6 * (a + g1);
            *(v8u *)(u + 2 * ldu) = s6 * (g1 - a);
            *(v8u *)(u + 3 * ldu) = b + t12 * g1;
            *(v8u *)(u + 4 * ldu) = b - t12 * g1;
            *(v8u *)(u + 5 * ldu) = g2;
        }
    }
}

/* A^T m on six vectors m[0..5], results in y[0..3]. */
#define WK_AT(m, y)                                                                                            \
    do {                                                                                                       \
        v8 p_ = m[1] + m[2], q_ = m[1] - m[2], r_ = m[3] + m[4], s_ = m[3] - m[4];                              \
        y[0] = m[0] + p_ + r_;                                                                                 \
        y[1] = q_ + 2.0f * s_;                                                                                 \
        y[2] = p_ + 4.0f * r_;                                                                                 \
        y[3] = q_ + 8.0f * s_ + m[5];                                                                          \
    } while (0)

/* Output transform of one tile row for one output channel: M[xi] points at the 36
 * products of the row's tiles (contiguous over tiles); O[r * ldo + q * n8 + x] =
 * (A^T m A)[r][q] of tile x, for x < n8 (ldo >= 4 * n8). */
WK_ATTR static void WK(wk_out)(const float *const M[36], float *O, int64_t ldo, int64_t n8) {
    for (int64_t x = 0; x < n8; x += 8) {
        v8 h[6][4];
        for (int i = 0; i < 6; i++) {
            v8 m[6], y[4];
            for (int s = 0; s < 6; s++) m[s] = *(const v8u *)(M[6 * i + s] + x);
            WK_AT(m, y);
            for (int q = 0; q < 4; q++) h[i][q] = y[q];
        }
        for (int q = 0; q < 4; q++) {
            v8 m[6], y[4];
            for (int i = 0; i < 6; i++) m[i] = h[i][q];
            WK_AT(m, y);
            for (int r = 0; r < 4; r++) *(v8u *)(O + r * ldo + q * n8 + x) = y[r];
        }
    }
}
