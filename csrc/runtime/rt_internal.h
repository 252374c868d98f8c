/* rt_internal.h: what the runtime's files share (not a contract for other stages).
 *
 * Every op kind in ir/ops.def has exactly one kernel `int rt_k_<ENUM>(rt_ctx *c)`;
 * the dispatch table in interp.c is built from the same X-macro, so an op without a
 * kernel does not compile. A kernel reads its inputs by MIL parameter name through
 * the context, computes its outputs' shapes from the actual input shapes, asks for
 * output buffers with rt_out() and returns 0, or -1 with c->e set.
 *
 * Values at run time are rt_val: the tensor in its logical dtype (fp16 as uint16
 * halves, bool as uint8) plus, for prepared float constants, an fp32 copy kernels
 * can use directly (not for large fp16 constants: see RT_F32_COPY_MAX). Float
 * kernels compute in fp32; rt_out() hands them an fp32 buffer and the interpreter
 * rounds it into the declared output dtype afterwards, so fp16 rounding happens
 * exactly at the op boundaries the program declares. The kernels of the big
 * tensors (conv, linear, pools, unary and binary elementwise) instead stream fp16
 * through small fp32 tiles and write fp16 outputs themselves, with the same
 * rounding, so an fp16 model never holds fp32 copies of its largest tensors.
 */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H

#include "runtime/rt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct rt_val {
    rt_tensor t;        /* must stay first: kernels see &val->t */
    const float *f32;   /* fp32 view of a float constant (prepared once), else NULL */
} rt_val;

/* ---- buffer pool (bufpool.c): idle blocks of one run, reused best-fit ---- */
#define RT_POOL_SLOTS 64
#define RT_POOL_MIN 65536 /* smaller blocks go straight to malloc/free */
typedef struct rt_bufpool {
    int n;
    size_t idle, limit; /* bytes held idle; at most the largest block asked for so far */
    void *p[RT_POOL_SLOTS];
    size_t cap[RT_POOL_SLOTS];
} rt_bufpool;
/* A block of at least `bytes` (an idle one when it fits, else malloc); NULL on OOM.
 * bp may be NULL (plain malloc). */
void *rt_pool_get(rt_bufpool *bp, size_t bytes);
/* Give a block back for reuse (freed when small, the pool is full or bp is NULL). */
void rt_pool_put(rt_bufpool *bp, void *p);
/* Free every idle block. A pool starts zeroed. */
void rt_pool_clear(rt_bufpool *bp);

#define RT_MAX_SCRATCH 16
#define RT_MAX_OUTS 64

typedef struct rt_ctx rt_ctx;
struct rt_ctx {
    const ir_op *op;
    pc_err *e;
    /* Input lookup: the interpreter's slot table, or const payloads for rt_eval_op. */
    const rt_val *(*lookup)(rt_ctx *c, const ir_value *v);
    void *lookup_ctx;
    const void *const *sub;       /* plans of the op's nested blocks (interp.c), NULL outside rt_run */
    rt_tensor *outs;              /* op->nout tensors, filled by rt_out() */
    void *pending[RT_MAX_OUTS];   /* kernel-dtype buffer to convert into outs[i], or NULL */
    ir_dtype pending_dt[RT_MAX_OUTS];
    rt_bufpool *pool;              /* the run's buffer pool (NULL: plain malloc) */
    void **scratch;                /* freed after the op (starts as scratch0) */
    void *scratch0[RT_MAX_SCRATCH];
    int nscratch, capscratch;
};

/* ---- kernels: one per op kind ---- */
#define IR_OP(E, NAME, ...) int rt_k_##E(rt_ctx *c);
#include "ir/ops.def"
#undef IR_OP

/* ---- errors ---- */
/* Fail the current op with a message (the interpreter prefixes the op's name). */
int rt_fail(rt_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for a failed allocation: "out of memory (<what>)", error kind PC_E_NOMEM. */
int rt_fail_nomem(rt_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether PT2COREML_RT_PORTABLE asks for the portable kernel loops instead of the
 * AVX2 ones (tests run both on one machine); read once per kernel call. */
int rt_portable_kernels(void);

/* ---- inputs ---- */
/* Input bound to parameter `name` (binding j), or NULL when absent. */
const rt_tensor *rt_in(rt_ctx *c, const char *name);
const rt_tensor *rt_in_at(rt_ctx *c, const char *name, int j);
int rt_in_count(rt_ctx *c, const char *name); /* number of bindings (0 if absent) */
/* Required input: NULL with an error set when absent. */
const rt_tensor *rt_in_req(rt_ctx *c, const char *name);

/* fp32 view of t's elements (t itself, the prepared copy, or a converted scratch copy).
 * NULL with an error on OOM / non-numeric dtype. */
const float *rt_f32(rt_ctx *c, const rt_tensor *t);
/* Whether t's fp32 elements are at hand without a copy (fp32 data or a prepared copy). */
int rt_has_f32(const rt_tensor *t);
/* fp32 elements [off, off + n) of t: a pointer into fp32 data when rt_has_f32(t),
 * else converted into buf (n floats) and buf returned. t must be a float tensor. */
const float *rt_f32_part(const rt_tensor *t, int64_t off, int64_t n, float *buf);
/* Whether output i is declared fp16: kernels that convert in tiles write it directly
 * (rt_out(c, i, ..., IR_FP16)) instead of through a full fp32 pending buffer. */
int rt_out_f16(rt_ctx *c, int i);
/* Elements per fp32 tile when kernels stream fp16 tensors (bounds scratch memory). */
#define RT_F16_TILE 16384
/* fp16 constants with more elements than this get no prepared fp32 copy: kernels
 * convert them in blocks while running, so a model's weights stay fp16 in memory. */
#define RT_F32_COPY_MAX 16384
/* int64 copy of t's elements (scratch). */
const int64_t *rt_i64(rt_ctx *c, const rt_tensor *t);

/* Parameter readers, through the running op's ops.def row. A missing parameter yields the row's
 * default; a missing required one, or a missing optional one the row gives no default, is an
 * error, and so is a name the row lacks. The _or forms take the default given here, for a
 * default the row cannot state (computed from another input, or a value meaning "not given").
 * Ints: *n gets the count (-1 when absent and optional; per-spatial-dim defaults are the
 * caller's to apply); more than max elements is an error. */
int rt_param_ints(rt_ctx *c, const char *name, int64_t *dst, int max, int *n);
int rt_param_int(rt_ctx *c, const char *name, int64_t *out);
int rt_param_bool(rt_ctx *c, const char *name, int *out);
int rt_param_float(rt_ctx *c, const char *name, double *out);
int rt_param_int_or(rt_ctx *c, const char *name, int64_t def, int64_t *out);
int rt_param_bool_or(rt_ctx *c, const char *name, int def, int *out);
int rt_param_float_or(rt_ctx *c, const char *name, double def, double *out);
/* String parameter (the row's default when absent); NULL with an error when not a string. */
const char *rt_param_str(rt_ctx *c, const char *name);

/* ---- nested blocks (cond / while_loop, control.c) ---- */
/* Run nested block k of the current op with its inputs bound to `in` (borrowed) and
 * hand its outputs to `out` (owned, b->nout of them; moved when the block made them,
 * copied otherwise). -1 with an error naming the failing op. */
int rt_block_run(rt_ctx *c, int k, int nin, const rt_tensor *in, rt_tensor *out);

/* ---- outputs and scratch ---- */
/* Allocate output i with the given shape. The buffer returned holds elements of
 * `kdt` (what the kernel writes); when the declared output dtype differs, it is a
 * scratch buffer converted after the kernel returns. The shape is checked against
 * the declared output type (rank and known dims). NULL with an error on failure. */
void *rt_out(rt_ctx *c, int i, int rank, const int64_t *dims, ir_dtype kdt);
/* Whether a value of shape (rank, dims) fits declared type ty (known dims equal; a list's value is its
 * elements stacked on a new first axis, so it has one dim more than the list's element type). */
int rt_fits_type(const ir_type *ty, int rank, const int64_t *dims);
/* Scratch memory freed after the op (zeroed when zero != 0). */
void *rt_scratch(rt_ctx *c, size_t bytes, int zero);

/* ---- tensor helpers (tensor.c) ---- */
int64_t rt_numel(const rt_tensor *t);
/* Element strides of t's dims in C order (last dim 1). */
void rt_c_strides(const rt_tensor *t, int64_t *st);
int64_t rt_numel_dims(int rank, const int64_t *dims);
/* Normalize an axis in [-rank, rank) to [0, rank); -1 with an error when out of range. */
int rt_axis(rt_ctx *c, int64_t axis, int rank, const char *what);
/* Convert n elements between numeric dtypes (fp16 rounds to nearest even; float->int
 * truncates toward zero, saturating at the int64 range, then wraps to the width). */
void rt_convert(void *dst, ir_dtype ddt, const void *src, ir_dtype sdt, int64_t n);
/* rt_convert, split over the runtime's threads when large (fp16 <-> fp32 only). */
void rt_convert_par(void *dst, ir_dtype ddt, const void *src, ir_dtype sdt, int64_t n);
/* Shape string "[1,3,8,8]" into buf. */
const char *rt_dims_str(int rank, const int64_t *dims, char *buf, size_t n);
/* Broadcast two shapes (numpy rules); -1 with an error if incompatible. */
int rt_broadcast_shape(rt_ctx *c, int ra, const int64_t *da, int rb, const int64_t *db, int *rank,
                       int64_t *dims);
/* Element strides of a (rank ra) aligned to an output of rank r, 0 on broadcast dims. */
void rt_bcast_strides(int ra, const int64_t *da, int r, const int64_t *dout, int64_t *strides);
/* Generic strided copy: out[idx] = in[sum idx_k * strides[k]], elem bytes each,
 * iterating dims of the output in C order (rank <= 2 * IR_MAX_RANK; strides may
 * be negative or zero). */
void rt_strided_copy(void *out, const void *in, size_t elem, int rank, const int64_t *dims,
                     const int64_t *strides);

/* ---- threads (threads.c) ---- */
/* Split [0, n) into one contiguous range per worker thread and run f(ctx, lo, hi)
 * on each (inline when the work is small or one thread is configured). `cost` is
 * the rough work per item in flops. Returns when every range is done. */
void rt_parallel_for(int64_t n, double cost, void (*f)(void *ctx, int64_t lo, int64_t hi), void *ctx);
int rt_threads(void);
void rt_threads_set(int n); /* 0 = number of online CPUs */

/* ---- GEMM (gemm.c): row-major C = alpha op(A) op(B) + beta C, op = transpose when t* ---- */
/* Split over the runtime's threads, each part a single-threaded BLAS call. */
void rt_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* The same on the calling thread only: for code already inside rt_parallel_for.
 * BLAS is set to one thread before its first call. */
void rt_sgemm_serial(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* ---- spatial geometry shared by conv, conv_transpose and pools (conv.c) ---- */
/* Spatial dims are kept as 3 (D, H, W): 1-D and 2-D ops pad the front with 1s. */
typedef struct rt_geom {
    int nsp;                 /* spatial dims of the op (1..3) */
    int64_t N, C;            /* batch and channels of x */
    int64_t in[3], k[3], s[3], dil[3], pb[3], pa[3], out[3];
} rt_geom;

/* Read x's spatial dims, `kernel` (nsp sizes), strides, dilations, pad_type and pad
 * into g and compute the padding (valid / custom / same / same_lower). Output
 * sizes are left to the caller (conv and pools differ). */
int rt_geom_read(rt_ctx *c, const rt_tensor *x, const int64_t *kernel, int use_dilations, rt_geom *g);
/* Output spatial sizes for conv / pool (floor, or ceil_mode per MIL). */
int rt_geom_out(rt_ctx *c, rt_geom *g, int ceil_mode);

/* The conv op's computation with the given x, weight and bias (NULL: none); strides, padding, dilations
 * and groups come from the op's parameters (conv.c; conv_quantized passes its dequantized weight). w must
 * be an rt_val's tensor (an input, or a wrapper with f32 = NULL). */
int rt_conv_run(rt_ctx *c, const rt_tensor *x, const rt_tensor *w, const rt_tensor *b);

/* Depthwise conv (groups == C_in, one input channel per group, 1-D/2-D): y gets
 * [N, Cout, OH, OW] with Cout = C_in * multiplier (depthwise.c). */
int rt_conv_depthwise(rt_ctx *c, const float *x, const float *w, const float *bias, const rt_geom *g, int64_t Cout,
                      float *y);

/* 2-D 3x3 stride-1 conv by Winograd F(4x4, 3x3) (winograd.c): any dilation, padding
 * and groups; x, w and y (o16: fp16) may be fp16; scratch stays within `budget`
 * floats. Returns 1 (nothing done) when the geometry does not suit it or would not
 * pay, 0 when y is written, -1 with an error. */
int rt_conv_winograd(rt_ctx *c, const rt_tensor *x, const rt_tensor *w, const float *bias, const rt_geom *g,
                     int64_t groups, int64_t Cout, void *y, int o16, int64_t budget);

/* dst[q] = row[q * s + c0] for q in [lo, hi), every read inside the row of W floats
 * (vectorized for s <= 2; depthwise.c). */
void rt_row_gather(float *dst, const float *row, int64_t W, int64_t lo, int64_t hi, int64_t s, int64_t c0);

/* ---- image sampling shared by resample, resize, crop_resize and affine (resample.c) ---- */
/* resize_bilinear's sampling modes (MIL names STRICT_ALIGN_CORNERS ... UNALIGN_CORNERS). */
enum { RT_SM_STRICT, RT_SM_ALIGN, RT_SM_DEFAULT, RT_SM_OFFSET, RT_SM_UNALIGN };
/* Read the op's "sampling_mode" (default DEFAULT) into *mode. */
int rt_sampling_mode(rt_ctx *c, int *mode);
/* Source position of output index o when X input points are sampled into Y (unclamped; callers clamp to [0, X-1]). */
double rt_grid_point(int mode, int64_t o, double X, double Y);
enum { RT_PAD_CONSTANT, RT_PAD_BORDER, RT_PAD_REFLECTION, RT_PAD_SYMMETRIC };
enum { RT_COORD_UNNORMALIZED, RT_COORD_MINUS_ONE_TO_ONE, RT_COORD_ZERO_TO_ONE };
typedef struct rt_grid_spec {
    int nearest, pmode, cmode, ac;
    float fill; /* outside the image, RT_PAD_CONSTANT */
} rt_grid_spec;
/* y[B, C, OH, OW] = x[B, C, H, W] sampled at grid[B, OH, OW, 2] ((x, y) pairs), all fp32. */
void rt_grid_sample(const float *x, int64_t B, int64_t C, int64_t H, int64_t W, const float *grid, int64_t OH, int64_t OW,
                    const rt_grid_spec *s, float *y);

/* Most buffers rt_const_value allocates for one constant: a scaled payload's fp32
 * values, their copy in the logical dtype, and that copy's fp32 view. */
#define RT_CONST_ALLOCS 3

/* Const payload -> value in its logical dtype (used by prepare and eval_op).
 * Memory comes from malloc and is appended to allocs[*nallocs..cap) (freed by the
 * owner, also on failure); a full list fails with PC_E_INTERNAL before allocating.
 * cap - *nallocs >= RT_CONST_ALLOCS always suffices. */
int rt_const_value(const ir_value *v, rt_val *out, void **allocs, int *nallocs, int cap, pc_err *e);

#endif
