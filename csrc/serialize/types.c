/* types.c: the three type-code tables of the format (MIL DataType, blob storage
 * dtype, ArrayFeatureType.ArrayDataType) against our IR dtypes. */
#include "serialize/ser_int.h"

static const struct { int code; ir_dtype t; const char *name; } mil_codes[] = {
    {1, IR_BOOL, "bool"},      {2, IR_STRING, "string"},  {10, IR_FP16, "fp16"},     {11, IR_FP32, "fp32"},
    {12, IR_FP64, "fp64"},     {13, IR_DT_INVALID, "bf16"}, {21, IR_INT8, "int8"},   {22, IR_INT16, "int16"},
    {23, IR_INT32, "int32"},   {24, IR_INT64, "int64"},   {25, IR_DT_INVALID, "int4"}, {31, IR_UINT8, "uint8"},
    {32, IR_UINT16, "uint16"}, {33, IR_UINT32, "uint32"}, {34, IR_UINT64, "uint64"}, {35, IR_DT_INVALID, "uint4"},
    {36, IR_DT_INVALID, "uint2"}, {37, IR_DT_INVALID, "uint1"}, {38, IR_DT_INVALID, "uint6"},
    {39, IR_DT_INVALID, "uint3"}, {40, IR_DT_INVALID, "fp8e4m3fn"}, {41, IR_DT_INVALID, "fp8e5m2"},
};

/* Sub-byte MIL types (iOS18 compressed weights): in memory one byte per element, int4 as int8 and the
 * unsigned ones as uint8; in a file packed LSB first (MIL code, bits, signed, blob code). */
static const struct { int code, bits, sgn, blob; } sub_codes[] = {
    {25, 4, 1, 8}, {35, 4, 0, 11}, {36, 2, 0, 10}, {37, 1, 0, 9}, {38, 6, 0, 13}, {39, 3, 0, 12},
};

int ser_mil_subbyte(int code, int *sgn, int *blob_code) {
    for (int i = 0; i < PC_ARRAY_LEN(sub_codes); i++)
        if (sub_codes[i].code == code) {
            *sgn = sub_codes[i].sgn;
            *blob_code = sub_codes[i].blob;
            return sub_codes[i].bits;
        }
    return 0;
}

void ser_unpack_bits(const uint8_t *src, int64_t n, int bits, int sgn, uint8_t *dst) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t bit = (uint64_t)i * (uint64_t)bits, byte = bit / 8;
        unsigned v = src[byte] | (bit % 8 + (unsigned)bits > 8 ? (unsigned)src[byte + 1] << 8 : 0u);
        v = (v >> (bit % 8)) & ((1u << bits) - 1);
        dst[i] = (uint8_t)(sgn && (v >> (bits - 1)) ? v | (0xFFu << bits) : v); /* two's complement sign */
    }
}

int ser_mil_code(ir_dtype t) {
    if (t == IR_DT_INVALID) return -1;
    for (int i = 0; i < PC_ARRAY_LEN(mil_codes); i++)
        if (mil_codes[i].t == t) return mil_codes[i].code;
    return -1;
}

ir_dtype ser_mil_dtype(int code) {
    for (int i = 0; i < PC_ARRAY_LEN(mil_codes); i++)
        if (mil_codes[i].code == code) return mil_codes[i].t;
    return IR_DT_INVALID;
}

const char *ser_mil_code_name(int code) {
    for (int i = 0; i < PC_ARRAY_LEN(mil_codes); i++)
        if (mil_codes[i].code == code) return mil_codes[i].name;
    return NULL;
}

/* Blob storage codes; sub-byte and bf16 codes exist in the format but not in our IR. */
static const struct { int code; ir_dtype t; } blob_codes[] = {
    {1, IR_FP16}, {2, IR_FP32}, {3, IR_UINT8}, {4, IR_INT8}, {6, IR_INT16}, {7, IR_UINT16}, {14, IR_INT32}, {15, IR_UINT32},
};

int ser_blob_code(ir_dtype t) {
    for (int i = 0; i < PC_ARRAY_LEN(blob_codes); i++)
        if (blob_codes[i].t == t) return blob_codes[i].code;
    return -1;
}

ir_dtype ser_blob_dtype(int code) {
    for (int i = 0; i < PC_ARRAY_LEN(blob_codes); i++)
        if (blob_codes[i].code == code) return blob_codes[i].t;
    return IR_DT_INVALID;
}

static const struct { int code; ir_dtype t; } array_codes[] = {
    {65568, IR_FP32}, {65600, IR_FP64}, {131104, IR_INT32}, {65552, IR_FP16}, {131080, IR_INT8},
};

int ser_array_code(ir_dtype t) {
    for (int i = 0; i < PC_ARRAY_LEN(array_codes); i++)
        if (array_codes[i].t == t) return array_codes[i].code;
    return -1;
}

ir_dtype ser_array_dtype(int code) {
    for (int i = 0; i < PC_ARRAY_LEN(array_codes); i++)
        if (array_codes[i].code == code) return array_codes[i].t;
    return IR_DT_INVALID;
}

const char *ser_subbyte_op(const ir_op *op) {
    switch (op->kind) {
    case IR_OP_CONSTEXPR_LUT_TO_DENSE: {
        const ir_arg *lut = ir_op_arg(op, "lut");
        if (ir_op_arg(op, "shape") || !lut || lut->n != 1) return NULL; /* iOS16: uint8 bytes */
        const ir_type *t = &lut->v[0]->type;
        return t->rank >= 2 && t->dims[t->rank - 2] == 256 ? NULL : "its indices";
    }
    case IR_OP_CONSTEXPR_SPARSE_TO_DENSE: return ir_op_arg(op, "shape") ? NULL : "its mask";
    case IR_OP_CONSTEXPR_LUT_TO_SPARSE: return "its masks and indices";
    case IR_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE: return "its masks";
    default: return NULL;
    }
}
