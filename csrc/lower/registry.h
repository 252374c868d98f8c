/* registry.h: a row of the lowering registry (registry.def) and the codes of its payload.
 *
 * A row names a TorchScript kind, its lowering function and the payload that function reads from
 * cx->row, so that no lowering function compares the kind string again: the MIL op the kind maps onto
 * (.mil), a variant code of the function's family (.sub, the enums below, each named after the function
 * that reads it), a constant (.c), a fold for numbers known at conversion time (.fold) and flags (LR_*).
 * A second backend adds its column to struct lower_row (see registry.def). Included by lower_int.h. */
#ifndef LOWER_REGISTRY_H
#define LOWER_REGISTRY_H

#include "lower/lower.h"

typedef int (*lower_fn)(lower_ctx *cx, const ts_node *n);

enum {
    LR_INPLACE = 1 << 0,      /* the in-place spelling "ns::op_" is this row too (lower_row_find) */
    LR_KEEPS_INT = 1 << 1,    /* unary / activation: an int tensor stays int (bools become int32) */
    LR_INT_IDENTITY = 1 << 2, /* unary: an int tensor is its own result (floor, round, ...) */
    LR_FOLD_INT = 1 << 3,     /* unary: .fold of a number known at conversion time gives an int */
    LR_DTYPE_ARG = 1 << 4,    /* softmax: input 2 is dtype= */
    LR_BITWISE = 1 << 5,      /* lower_logical: bitwise (integers bit by bit), not logical */
    LR_RELU = 1 << 6,         /* quantized ops: a fused relu */
    LR_ADAPTIVE = 1 << 7,     /* pools: adaptive (an output size, not a kernel) */
};
/* .sub of lower_binary_op (elementwise.c): what the operator computes (its fold and composition) */
typedef enum { BIN_ADD, BIN_SUB, BIN_RSUB, BIN_MUL, BIN_DIV, BIN_FLOORDIV, BIN_MOD, BIN_POW, BIN_MAX, BIN_MIN, BIN_FMOD,
               BIN_ATAN2, BIN_TRUNCDIV, BIN_FMAX, BIN_FMIN, BIN_EQ, BIN_NE, BIN_LT, BIN_LE, BIN_GT, BIN_GE } lower_binop;
/* .sub of lower_unary_op (elementwise.c): UN_MIL is the row's .mil on the tensor; the others compose */
enum { UN_MIL, UN_ABS, UN_NEG, UN_RECIPROCAL, UN_TRUNC, UN_RSQRT, UN_ROUND, UN_LOGBASE, UN_LOG1P, UN_EXPM1, UN_ISNAN,
       UN_ISINF, UN_ISFINITE };
/* .sub of lower_activation (activation.c): ACT_MIL is the row's .mil; the others read arguments or compose */
enum { ACT_MIL, ACT_HARDTANH, ACT_GELU, ACT_LEAKY_RELU, ACT_ELU, ACT_SOFTPLUS, ACT_SELU, ACT_CELU, ACT_MISH,
       ACT_HARDSIGMOID, ACT_HARDSWISH, ACT_LOG_SIGMOID, ACT_THRESHOLD, ACT_PRELU, ACT_RRELU, ACT_HARDSHRINK,
       ACT_SOFTSHRINK, ACT_GLU };
enum { SOFTMAX_PLAIN, SOFTMAX_LOG };                /* lower_softmax */
enum { CLAMP_BOTH, CLAMP_MIN, CLAMP_MAX };          /* lower_clamp: the bounds the inputs give */
enum { MU_SGN, MU_ACOSH, MU_ASINH, MU_ATANH, MU_FRAC, MU_SINC, MU_SCALE, MU_LOGIT }; /* lower_math_unary */
enum { MB_FLOAT_POWER, MB_XLOGY, MB_HYPOT, MB_LOGADDEXP, MB_LOGADDEXP2, MB_COPYSIGN, MB_HEAVISIDE }; /* lower_math_binary */
enum { WIN_HANN, WIN_HAMMING, WIN_BLACKMAN, WIN_BARTLETT, WIN_KAISER }; /* lower_window */
/* lower_logical (compare.c): the operator; LR_BITWISE for the bitwise_* and __and__ forms */
enum { LOGIC_AND, LOGIC_OR, LOGIC_XOR, LOGIC_NOT };
/* lower_convolution (conv.c): the overload's argument layout */
enum { CONV_PLAIN, CONV_TRANSPOSE, CONV_GENERIC /* _convolution: transposed is an argument */ };
/* lower_fill_like (creation.c), bits; .c is the fill value where the kind fixes one (ones: 1) */
enum { FILL_LIKE = 1, FILL_NEW = 2, FILL_SELF = 4 /* fill_, zero_: the input's shape and dtype */,
       FILL_VALUE = 8 /* a value argument */,
       FILL_STRIDED = 16 /* an int list after the size (empty_strided's strides, empty_permuted's layout): ignored */ };
enum { CTOR_TENSOR, CTOR_SCALAR };                       /* lower_tensor_ctor */
enum { DET_DET, DET_INV, DET_SLOGDET, DET_LOGDET };       /* lower_det_inv (diag.c) */
enum { LOSS_MSE, LOSS_L1, LOSS_SMOOTH_L1, LOSS_HUBER };   /* lower_regression_loss (loss.c) */
/* lower_pad (pad.c): the mode a kind fixes; PAD_GENERIC (aten::pad) reads it */
enum { PAD_GENERIC, PAD_CONSTANT, PAD_REFLECT, PAD_REPLICATE, PAD_CIRCULAR };
/* lower_norm (reduce.c) */
enum { NORM_P, NORM_FROBENIUS, NORM_MATRIX, NORM_VECTOR, NORM_LINALG };
enum { CUM_SUM, CUM_PROD, CUM_LOGSUMEXP };                /* lower_cumulative (reduce.c) */
enum { VAR_STD = 1, VAR_WITH_MEAN = 2 };                  /* lower_var_std (reduce.c), bits */
enum { QP_SCALE, QP_ZERO_POINT, QP_INT_REPR };            /* lower_qparam (quant.c) */
enum { QD_DEQUANTIZE = 1, QD_CHANNEL = 2, QD_TOKEN = 4 }; /* lower_qdecomposed (quant.c), bits */
/* layout.c: lower_expand, lower_repeat, lower_flip, lower_movedim, lower_tri; lower_hvstack's .sub is
 * the stack's letter ('h', 'v', 'd', 'c': column_stack) */
enum { EXPAND_SIZES, EXPAND_AS };
enum { REPEAT_SIZES, REPEAT_TILE };
enum { FLIP_DIMS, FLIP_LR, FLIP_UD };
enum { MOVE_DIMS, MOVE_SWAP };
enum { TRI_LOWER, TRI_UPPER };
/* plumbing.c: lower_list_construct, lower_is; lower_scalar_convert's .sub is the lv kind made (0: the
 * input's own); lower_scalar_minmax's .mil is maximum or minimum */
enum { LIST_LIST, LIST_TUPLE };
enum { IS_IS, IS_ISNOT };
/* pool.c, pool_idx.c: a pool's .sub is its number of spatial dims; the adaptive pools (LR_ADAPTIVE) have .mil
 * max_pool or avg_pool */
/* lower_fft (fft.c): the transform; lower_fftshift (ifftshift) and lower_fftfreq (rfftfreq) read .sub 1 */
enum { FFT_FFT, FFT_IFFT, FFT_RFFT, FFT_IRFFT, FFT_HFFT, FFT_IHFFT, FFT_FFTN, FFT_IFFTN, FFT_RFFTN, FFT_IRFFTN, FFT_FFT2,
       FFT_IFFT2, FFT_RFFT2, FFT_IRFFT2 };
/* .cplx (complex.c, lower_complex_node): what a node with a complex input does. 0: refused; CPLX_OWN: the row's
 * function takes complex values; the others are complex.c's own lowerings (unary, binary reading the row's .sub,
 * size, dim, to) or the row's function on the pair tensor with its dims mapped (CPLX_VIEW_*); CPLX_INPLACE: the
 * in-place spelling too */
enum { CPLX_OWN = 1, CPLX_UNARY, CPLX_BINARY, CPLX_SIZE, CPLX_DIM, CPLX_TO, CPLX_VIEW_DIM, CPLX_VIEW_DIMS,
       CPLX_VIEW_UNSQUEEZE, CPLX_VIEW_PERMUTE, CPLX_VIEW_SHAPE, CPLX_VIEW_CAT, CPLX_VIEW_STACK, CPLX_INPLACE = 0x80 };
enum { CELL_LSTM, CELL_GRU, CELL_TANH, CELL_RELU };   /* lower_rnn, lower_rnn_cell (rnn.c) */
enum { SCATTER_PLAIN, SCATTER_ADD, SCATTER_REDUCE };   /* lower_scatter (scatter.c) */
enum { SORT_SORT, SORT_ARG, SORT_M };                    /* lower_sort (sort.c): sort, argsort, msort */
/* lower_unique (sort.c) and lower_unique_dim (unique.c), which lower_unique calls for unique_consecutive's dim */
enum { UNIQUE_SORTED, UNIQUE_CONSECUTIVE, UNIQUE_DIM, UNIQUE_DIM_CONSECUTIVE };
/* Functions with two forms read .sub 1 as the second: lower_bce (with_logits), lower_nll (cross_entropy_loss),
 * lower_qprepack (conv*_prepack), lower_gather_op (take_along_dim), lower_addmm (addbmm: summed over the batch),
 * lower_solve_triangular (triangular_solve), lower_matrix_transpose (numpy_T), lower_native_batch_norm
 * (_no_training), lower_rand / lower_rand_like (randn*), lower_normal (normal_), lower_index_add_fill
 * (index_fill), lower_slice_scatter (select_scatter), lower_transpose_op (t, t_copy), lower_cat (stack),
 * lower_split (chunk, unsafe_chunk), lower_searchsorted (bucketize), lower_slice_copy (select_copy), lower_complex
 * (polar), lower_real_imag (imag), lower_conj (resolve_conj, resolve_neg).
 * lower_atleast's .sub is N of atleast_Nd; lower_reduce reads .mil (reduce_mean, reduce_sum). Quantized ops with a fused relu have LR_RELU; lower_qbinary reads .mil
 * (add, mul, matmul), lower_qactivation .sub (ACT_*, with .mil for ACT_MIL). */
#define LOWER_PI 3.14159265358979323846

typedef struct lower_row {
    const char *kind;         /* "ns::op" as TorchScript spells it (torch.export: "ns.op.overload") */
    lower_fn fn;              /* in the file of its op family */
    const char *note;         /* limits, for the op table, docs/ops.md ("" if none) */
    unsigned flags;           /* LR_* */
    const char *inplace_note; /* LR_INPLACE: the in-place spelling's note when it differs (NULL: note) */
    ir_opkind mil;            /* the MIL op the kind maps onto, where the function reads one */
    int sub;                  /* variant code of the function's family (above) */
    double c;                 /* a constant the kind needs (scale, cap, default) */
    double (*fold)(double);   /* the kind on a number known at conversion time, where it has one */
    unsigned char cplx;       /* complex inputs: CPLX_* (complex.c) */
    /* A second backend adds its column here (e.g. the NeuralNetwork layer a row maps onto). */
} lower_row;

#endif
