/* ops.c — the op table: every IR op declared once, with its arity, shape inference,
 * forward kernel and scratch needs.  Adding an op means adding a row here; the static
 * assertion below fails the build until the table and PTQ_OP_COUNT agree. */
#include "internal.h"

#define CONST_IN(i) (1u << (i))

const ptq_op_traits ptq_op_table[PTQ_OP_COUNT] = {
    [PTQ_OP_NONE] = {"None", 0, 0, 0, 0, NULL, NULL, NULL},
    [PTQ_OP_CONV] = {"Conv", 2, 3, 1, 0, ptq_infer_conv, ptq_fwd_conv, ptq_work_conv,
                   ptq_work_conv_shared},
    [PTQ_OP_GEMM] = {"Gemm", 2, 3, 1, 0, ptq_infer_gemm, ptq_fwd_gemm, ptq_work_gemm,
                     ptq_work_gemm_shared},
    [PTQ_OP_MATMUL] = {"MatMul", 2, 2, 1, 0, ptq_infer_matmul, ptq_fwd_matmul, ptq_work_matmul,
                       ptq_work_matmul_shared},
    [PTQ_OP_ADD] = {"Add", 2, 2, 1, 0, ptq_infer_broadcast, ptq_fwd_binary, NULL},
    [PTQ_OP_SUB] = {"Sub", 2, 2, 1, 0, ptq_infer_broadcast, ptq_fwd_binary, NULL},
    [PTQ_OP_MUL] = {"Mul", 2, 2, 1, 0, ptq_infer_broadcast, ptq_fwd_binary, NULL},
    [PTQ_OP_DIV] = {"Div", 2, 2, 1, 0, ptq_infer_broadcast, ptq_fwd_binary, NULL},
    [PTQ_OP_RELU] = {"Relu", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_unary, NULL},
    [PTQ_OP_CLIP] = {"Clip", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_unary, NULL},
    [PTQ_OP_LEAKY_RELU] = {"LeakyRelu", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_unary, NULL},
    [PTQ_OP_SIGMOID] = {"Sigmoid", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_unary, NULL},
    [PTQ_OP_HARD_SIGMOID] = {"HardSigmoid", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_unary, NULL},
    [PTQ_OP_HARD_SWISH] = {"HardSwish", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_unary, NULL},
    [PTQ_OP_TANH] = {"Tanh", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_unary, NULL},
    /* BatchNormalization: scale, B, mean, var must be constants (inference form). */
    [PTQ_OP_BATCH_NORM] = {"BatchNormalization", 5, 5, 1,
                           CONST_IN(1) | CONST_IN(2) | CONST_IN(3) | CONST_IN(4),
                           ptq_infer_batch_norm, ptq_fwd_batch_norm, NULL,
                           ptq_work_batch_norm_shared},
    [PTQ_OP_MAX_POOL] = {"MaxPool", 1, 1, 1, 0, ptq_infer_pool, ptq_fwd_pool, ptq_work_pool,
                         ptq_work_pool_shared},
    [PTQ_OP_AVERAGE_POOL] = {"AveragePool", 1, 1, 1, 0, ptq_infer_pool, ptq_fwd_pool,
                             ptq_work_pool, ptq_work_pool_shared},
    [PTQ_OP_GLOBAL_AVERAGE_POOL] = {"GlobalAveragePool", 1, 1, 1, 0, ptq_infer_global_pool,
                                    ptq_fwd_global_pool, NULL},
    [PTQ_OP_GLOBAL_MAX_POOL] = {"GlobalMaxPool", 1, 1, 1, 0, ptq_infer_global_pool,
                                ptq_fwd_global_pool, NULL},
    [PTQ_OP_FLATTEN] = {"Flatten", 1, 1, 1, 0, ptq_infer_flatten, ptq_fwd_copy, NULL},
    [PTQ_OP_RESHAPE] = {"Reshape", 1, 1, 1, 0, ptq_infer_reshape, ptq_fwd_copy, NULL},
    [PTQ_OP_TRANSPOSE] = {"Transpose", 1, 1, 1, 0, ptq_infer_transpose, ptq_fwd_transpose,
                          NULL},
    [PTQ_OP_CONCAT] = {"Concat", 1, -1, 1, 0, ptq_infer_concat, ptq_fwd_concat, NULL},
    [PTQ_OP_SOFTMAX] = {"Softmax", 1, 1, 1, 0, ptq_infer_softmax, ptq_fwd_softmax, NULL},
    [PTQ_OP_PAD] = {"Pad", 1, 1, 1, 0, ptq_infer_pad, ptq_fwd_pad, NULL},
    [PTQ_OP_GATHER] = {"Gather", 2, 2, 1, CONST_IN(1), ptq_infer_gather, ptq_fwd_gather, NULL},
    /* Not an ONNX op: a QuantizeLinear/DequantizeLinear pair; inputs x, scale, zero point,
     * and optionally learned rounding borders (fakequant.c). */
    [PTQ_OP_FAKE_QUANT] = {"QuantizeDequantize", 3, 4, 1, CONST_IN(1) | CONST_IN(2) | CONST_IN(3),
                           ptq_infer_fake_quant, ptq_fwd_fake_quant, NULL},

    /* ---- spatial ops: Resize, ConvTranspose, Slice, Split ---- */
    /* Resize and Upsample: scales/sizes are constants folded into the attributes. */
    [PTQ_OP_RESIZE] = {"Resize", 1, 1, 1, 0, ptq_infer_resize, ptq_fwd_resize, NULL,
                       ptq_work_resize_shared},
    [PTQ_OP_CONV_TRANSPOSE] = {"ConvTranspose", 2, 3, 1, 0, ptq_infer_conv_transpose,
                               ptq_fwd_conv_transpose, ptq_work_conv_transpose},
    [PTQ_OP_SLICE] = {"Slice", 1, 1, 1, 0, ptq_infer_slice, ptq_fwd_slice, NULL},
    [PTQ_OP_SPLIT] = {"Split", 1, 1, -1, 0, ptq_infer_split, ptq_fwd_split, NULL},



    /* ---- elementwise, comparison and reduction ops ---- */
    /* Run-time values are float32: Cast rounds/saturates into the target type's values,
     * comparisons give 0/1 and Where reads nonzero as true (kernels/math.c). */
    [PTQ_OP_CAST] = {"Cast", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_math_unary, NULL},
    [PTQ_OP_POW] = {"Pow", 2, 2, 1, 0, ptq_infer_broadcast, ptq_fwd_math_binary, NULL},
    [PTQ_OP_SQRT] = {"Sqrt", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_math_unary, NULL},
    [PTQ_OP_EXP] = {"Exp", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_math_unary, NULL},
    [PTQ_OP_ERF] = {"Erf", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_math_unary, NULL},
    [PTQ_OP_NEG] = {"Neg", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_math_unary, NULL},
    [PTQ_OP_RECIPROCAL] = {"Reciprocal", 1, 1, 1, 0, ptq_infer_same, ptq_fwd_math_unary, NULL},
    [PTQ_OP_MIN] = {"Min", 1, -1, 1, 0, ptq_infer_nary_broadcast, ptq_fwd_math_binary, NULL},
    [PTQ_OP_MAX] = {"Max", 1, -1, 1, 0, ptq_infer_nary_broadcast, ptq_fwd_math_binary, NULL},
    [PTQ_OP_EQUAL] = {"Equal", 2, 2, 1, 0, ptq_infer_broadcast, ptq_fwd_math_binary, NULL},
    [PTQ_OP_LESS] = {"Less", 2, 2, 1, 0, ptq_infer_broadcast, ptq_fwd_math_binary, NULL},
    [PTQ_OP_GREATER] = {"Greater", 2, 2, 1, 0, ptq_infer_broadcast, ptq_fwd_math_binary, NULL},
    [PTQ_OP_WHERE] = {"Where", 3, 3, 1, 0, ptq_infer_nary_broadcast, ptq_fwd_where, NULL},
    /* Expand: the target shape is resolved at import into attrs.expand_shape. */
    [PTQ_OP_EXPAND] = {"Expand", 1, 1, 1, 0, ptq_infer_expand, ptq_fwd_expand, NULL},
    [PTQ_OP_REDUCE_MEAN] = {"ReduceMean", 1, 1, 1, 0, ptq_infer_reduce, ptq_fwd_reduce, NULL},
    [PTQ_OP_REDUCE_SUM] = {"ReduceSum", 1, 1, 1, 0, ptq_infer_reduce, ptq_fwd_reduce, NULL},
    [PTQ_OP_REDUCE_MAX] = {"ReduceMax", 1, 1, 1, 0, ptq_infer_reduce, ptq_fwd_reduce, NULL},
    /* LayerNormalization: X, scale, optional bias (run-time or constant); output 0 only. */
    [PTQ_OP_LAYER_NORM] = {"LayerNormalization", 2, 3, 1, 0, ptq_infer_layer_norm,
                           ptq_fwd_layer_norm, NULL, ptq_work_layer_norm_shared},

};

_Static_assert(PTQ_OP_COUNT == 50, "PTQ_OP_COUNT changed: add the op to ptq_op_table");

const char *ptq_op_name(ptq_op op) {
    return op < PTQ_OP_COUNT && ptq_op_table[op].name ? ptq_op_table[op].name : "?";
}

ptq_op ptq_op_from_name(const char *onnx_op_type) {
    for (ptq_op op = 1; op < PTQ_OP_COUNT; op++)
        if (op != PTQ_OP_FAKE_QUANT) /* imported from Q/DQ pairs, not by this name */
        if (ptq_op_table[op].name && strcmp(ptq_op_table[op].name, onnx_op_type) == 0) return op;
    return PTQ_OP_NONE;
}
