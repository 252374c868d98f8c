/* cplx.h: complex values inside the lowering (fft.c, stft.c, complex.c). Not a stage contract.
 *
 * Core ML has no complex dtype, so a complex TorchScript tensor of shape S lives only inside the
 * lowering, as an lv of kind LV_COMPLEX whose `v` is a real tensor of shape S + [2] (real part at
 * [..., 0], imaginary part at [..., 1]: torch.view_as_real's layout). Consumers read the pair;
 * a complex value reaching a graph output or an op without complex support fails naming the node.
 * A DFT of a static length is a matmul with a constant cos / sin matrix (fft.c) or, for stft /
 * istft, a strided conv / conv_transpose with the windowed basis as its weight (stft.c). */
#ifndef LOWER_CPLX_H
#define LOWER_CPLX_H

#include "lower/build.h"

/* An LV_COMPLEX lv over a pair tensor (shape S + [2]). */
lv *lc_new(lower_ctx *cx, ir_value *pair);
/* Input i of n: 1 when it is a complex tensor. */
int lc_is_complex(lower_ctx *cx, const ts_node *n, int i);

/* The transform of one axis. sign: -1 forward (e^{-i..}), +1 inverse. */
typedef enum {
    LC_C2C = 1, /* complex (or real) -> complex, n bins */
    LC_R2C,     /* real -> complex, n / 2 + 1 bins (rfft, ihfft) */
    LC_C2R      /* the Hermitian half -> real of length n (irfft, hfft) */
} lc_kind;

/* Transform `axis` (of the complex shape when in_pair) of x, a pair tensor (in_pair) or a real
 * tensor, to signal length n (crop / zero-pad), every element scaled by `scale`. Returns a pair
 * tensor (C2C, R2C) or a real one (C2R). The axis length and the other dims must be static. */
ir_value *lc_dft(lower_ctx *cx, ir_value *x, int in_pair, int axis, int64_t n, lc_kind kind, int sign, double scale);

/* The scale of a transform of length n for torch's norm ("backward" / None, "forward", "ortho"),
 * inverse: the transform is an inverse one (ifft, irfft, ihfft). -1 with a failure for other names. */
int lc_norm(lower_ctx *cx, const ts_node *n, int i, int64_t len, int inverse, double *scale);

/* A float const (of dtype dt) over data already in the program's arena (not copied). */
ir_value *lc_const(lower_ctx *cx, ir_dtype dt, int rank, const int64_t *dims, float *data, const char *suffix);

/* cos / sin of 2 pi k t / n, exact in k t (reduced mod n first). */
double lc_cos(int64_t k, int64_t t, int64_t n);
double lc_sin(int64_t k, int64_t t, int64_t n);

#endif
