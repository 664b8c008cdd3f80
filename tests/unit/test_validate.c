/* test_validate.c — model validation at import: one test case per ONNX spec rule on an
 * op's attributes or input shapes.  Each case builds a tiny model that breaks the rule,
 * loads it through ptq_onnx_load_buffer and checks the refusal (PTQ_ERR_INVALID, naming
 * the node and the attribute), then loads a variant that keeps the rule and checks it is
 * accepted, so the rule is no stricter than the spec.
 *
 * Every case is annotated `/ * rule: Op | the rule * /` just above its START_TEST; the
 * first refused() call in its body holds the text the refusal must contain.
 * scripts/validation_table.sh builds docs/RELIABILITY.md's table from these. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "onnx_builder.h"

#define B PTQ_DIM_BATCH

/* ---- helpers ----------------------------------------------------------------------- */

/* The model is refused as invalid, with a message naming node `node` and containing
 * attr (the attribute or input the rule is about) and text. */
static void refused(mb *b, const char *node, const char *attr, const char *text) {
    ptq_error err = {0};
    ptq_graph *g = mb_load(b, &err);
    ck_assert_msg(g == NULL, "the model was accepted (expected '%s')", text);
    char quoted[128];
    snprintf(quoted, sizeof quoted, "'%s'", node);
    ck_assert_msg(err.status == PTQ_ERR_INVALID, "status %d: %s", err.status, err.msg);
    ck_assert_msg(test_contains(err.msg, quoted), "'%s' does not name node %s", err.msg, quoted);
    ck_assert_msg(test_contains(err.msg, attr), "'%s' does not name '%s'", err.msg, attr);
    ck_assert_msg(test_contains(err.msg, text), "'%s' lacks '%s'", err.msg, text);
    mb_free(b);
}

/* The model imports; returns the graph (caller frees) after freeing the builder. */
static ptq_graph *accepted(mb *b) {
    ptq_error err = {0};
    ptq_graph *g = mb_load(b, &err);
    ck_assert_msg(g != NULL, "the valid variant was refused: %s", err.msg);
    mb_free(b);
    return g;
}

static void accepted_free(mb *b) { ptq_graph_free(accepted(b)); }

/* A float32 graph output whose shape the model does not declare (inference decides). */
static void out(mb *b, const char *name) {
    mb_output(b, name, 0, NULL);
    b->graph.output[b->graph.n_output - 1]->type->tensor_type->shape = NULL;
}

static void ints1(mb *b, const char *name, int64_t v) {
    const int64_t one = 1;
    mb_init_i64(b, name, 1, &one, &v);
}

static void ints(mb *b, const char *name, int64_t n, const int64_t *v) {
    mb_init_i64(b, name, 1, &n, v);
}

/* x [1, c, 6, 6] -> Conv "conv1" with weight [m, wc, 3, 3] (and bias [nb] if nb > 0). */
static Onnx__NodeProto *conv(mb *b, int64_t c, int64_t m, int64_t wc, int64_t nb) {
    const int64_t xd[4] = {1, c, 6, 6}, wd[4] = {m, wc, 3, 3};
    mb_init(b, 13);
    mb_input(b, "x", 4, xd);
    mb_init_f32(b, "w", 4, wd, NULL);
    if (nb > 0) mb_init_f32(b, "bias", 1, &nb, NULL);
    Onnx__NodeProto *n = mb_node(b, "Conv", "conv1", nb > 0 ? "x,w,bias" : "x,w", "y");
    out(b, "y");
    return n;
}

/* x [1, c, 4, 4] -> ConvTranspose "convt1" with weight [wc, mpg, 3, 3]. */
static Onnx__NodeProto *convt(mb *b, int64_t c, int64_t wc, int64_t mpg) {
    const int64_t xd[4] = {1, c, 4, 4}, wd[4] = {wc, mpg, 3, 3};
    mb_init(b, 13);
    mb_input(b, "x", 4, xd);
    mb_init_f32(b, "w", 4, wd, NULL);
    Onnx__NodeProto *n = mb_node(b, "ConvTranspose", "convt1", "x,w", "y");
    out(b, "y");
    return n;
}

/* x [1, 2, 6, 6] -> op "pool1" with kernel_shape [k, k] (k 0: no kernel_shape). */
static Onnx__NodeProto *pool(mb *b, const char *op, int64_t k) {
    const int64_t xd[4] = {1, 2, 6, 6}, ks[2] = {k, k};
    mb_init(b, 13);
    mb_input(b, "x", 4, xd);
    Onnx__NodeProto *n = mb_node(b, op, "pool1", "x", "y");
    if (k) mb_attr_ints(b, n, "kernel_shape", 2, ks);
    out(b, "y");
    return n;
}

/* x of shape xd (rank r) -> op `name` reading x (and extra inputs), attributes added by
 * the caller. */
static Onnx__NodeProto *unary(mb *b, int64_t opset, const char *op, const char *name,
                              int32_t r, const int64_t *xd, const char *ins) {
    mb_init(b, opset);
    mb_input(b, "x", (size_t)r, xd);
    Onnx__NodeProto *n = mb_node(b, op, name, ins ? ins : "x", "y");
    out(b, "y");
    return n;
}

static const int64_t X4[4] = {1, 2, 3, 4};

/* ---- Conv -------------------------------------------------------------------------- */

/* rule: Conv | group >= 1 (0 is not the default: an absent attribute is) */
START_TEST(conv_group_min) {
    mb b;
    mb_attr_int(&b, conv(&b, 4, 4, 4, 0), "group", 0);
    refused(&b, "conv1", "group", "attribute group=0 must be >= 1");
    mb_attr_int(&b, conv(&b, 4, 4, 4, 0), "group", 1);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | group divides the input channels C */
START_TEST(conv_group_divides_c) {
    mb b;
    mb_attr_int(&b, conv(&b, 4, 6, 1, 0), "group", 3);
    refused(&b, "conv1", "group", "group=3 does not divide the 4 channels");
    mb_attr_int(&b, conv(&b, 6, 6, 2, 0), "group", 3);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | group divides the output channels M (weight dim 0) */
START_TEST(conv_group_divides_m) {
    mb b;
    mb_attr_int(&b, conv(&b, 4, 3, 2, 0), "group", 2);
    refused(&b, "conv1", "group", "group=2 does not divide the 3 output channels");
    mb_attr_int(&b, conv(&b, 4, 4, 2, 0), "group", 2);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | weight dim 1 is C / group */
START_TEST(conv_weight_channels) {
    mb b;
    mb_attr_int(&b, conv(&b, 4, 4, 4, 0), "group", 2);
    refused(&b, "conv1", "group", "has 4 input channels per group");
    mb_attr_int(&b, conv(&b, 4, 4, 2, 0), "group", 2);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | strides >= 1 */
START_TEST(conv_strides_min) {
    mb b;
    const int64_t bad[2] = {1, 0}, good[2] = {1, 2};
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "strides", 2, bad);
    refused(&b, "conv1", "strides", "attribute strides[1]=0 must be >= 1");
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "strides", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | dilations >= 1 */
START_TEST(conv_dilations_min) {
    mb b;
    const int64_t bad[2] = {0, 0}, good[2] = {2, 1};
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "dilations", 2, bad);
    refused(&b, "conv1", "dilations", "attribute dilations[0]=0 must be >= 1");
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "dilations", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | pads >= 0 */
START_TEST(conv_pads_min) {
    mb b;
    const int64_t bad[4] = {1, 1, -1, 1}, good[4] = {1, 1, 0, 1};
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "pads", 4, bad);
    refused(&b, "conv1", "pads", "attribute pads[2]=-1 must be >= 0");
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "pads", 4, good);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | pads has 2 entries per spatial axis */
START_TEST(conv_pads_length) {
    mb b;
    const int64_t p[4] = {1, 1, 1, 1};
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "pads", 2, p);
    refused(&b, "conv1", "pads", "pads has 2 entries");
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "pads", 4, p);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | pads are not used with auto_pad (explicit zeros are tolerated) */
START_TEST(conv_pads_with_auto_pad) {
    mb b;
    const int64_t p1[4] = {1, 1, 1, 1}, p0[4] = {0, 0, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        Onnx__NodeProto *n = conv(&b, 2, 2, 2, 0);
        mb_attr_ints(&b, n, "pads", 4, pass ? p0 : p1);
        Onnx__AttributeProto *a = mb_attr(&b, n, "auto_pad",
                                          ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
        a->has_s = 1;
        a->s.len = strlen("SAME_UPPER");
        a->s.data = (uint8_t *)mb_str(&b, "SAME_UPPER");
        if (!pass) refused(&b, "conv1", "auto_pad", "pads (nonzero) cannot be used with attribute auto_pad='SAME_UPPER'");
    }
    ptq_graph *g = accepted(&b);
    const ptq_value *y = &g->values[ptq_graph_find_value(g, "y")];
    ck_assert_int_eq(y->ne[2], 6); /* SAME keeps the 6 x 6 */
    ptq_graph_free(g);
}
END_TEST

/* rule: Conv | kernel_shape >= 1 (0 is not "take the weight's") */
START_TEST(conv_kernel_min) {
    mb b;
    const int64_t bad[2] = {0, 0}, good[2] = {3, 3};
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "kernel_shape", 2, bad);
    refused(&b, "conv1", "kernel_shape", "attribute kernel_shape[0]=0 must be >= 1");
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "kernel_shape", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | kernel_shape equals the weight's spatial dims */
START_TEST(conv_kernel_matches_weight) {
    mb b;
    const int64_t bad[2] = {3, 2}, good[2] = {3, 3};
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "kernel_shape", 2, bad);
    refused(&b, "conv1", "kernel_shape", "kernel_shape disagrees with weight 'w'");
    mb_attr_ints(&b, conv(&b, 2, 2, 2, 0), "kernel_shape", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | bias B has M entries */
START_TEST(conv_bias_length) {
    mb b;
    conv(&b, 2, 4, 2, 3);
    refused(&b, "conv1", "bias", "bias 'bias' has shape [3], expected [4]");
    conv(&b, 2, 4, 2, 4);
    accepted_free(&b);
}
END_TEST

/* rule: Conv | X has the weight's rank (N, C and as many spatial dims) */
START_TEST(conv_input_rank) {
    mb b;
    const int64_t x3[3] = {1, 2, 6}, wd[4] = {2, 2, 3, 3}, w3[3] = {2, 2, 3};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 3, x3);
        mb_init_f32(&b, "w", pass ? 3 : 4, pass ? w3 : wd, NULL);
        mb_node(&b, "Conv", "conv1", "x,w", "y");
        out(&b, "y");
        if (!pass) refused(&b, "conv1", "weight 'w'", "differ in rank");
    }
    accepted_free(&b);
}
END_TEST

/* ---- ConvTranspose ------------------------------------------------------------------ */

/* rule: ConvTranspose | group >= 1 */
START_TEST(convt_group_min) {
    mb b;
    mb_attr_int(&b, convt(&b, 2, 2, 1), "group", 0);
    refused(&b, "convt1", "group", "attribute group=0 must be >= 1");
    mb_attr_int(&b, convt(&b, 2, 2, 1), "group", 2);
    accepted_free(&b);
}
END_TEST

/* rule: ConvTranspose | group divides the input channels C */
START_TEST(convt_group_divides_c) {
    mb b;
    mb_attr_int(&b, convt(&b, 3, 3, 1), "group", 2);
    refused(&b, "convt1", "group", "group=2 does not divide the 3 channels");
    mb_attr_int(&b, convt(&b, 4, 4, 1), "group", 2);
    accepted_free(&b);
}
END_TEST

/* rule: ConvTranspose | weight dim 0 is C */
START_TEST(convt_weight_channels) {
    mb b;
    convt(&b, 2, 3, 1);
    refused(&b, "convt1", "weight", "weight 'w' [3,1,3,3] has 3 input channels");
    convt(&b, 3, 3, 1);
    accepted_free(&b);
}
END_TEST

/* rule: ConvTranspose | strides >= 1 */
START_TEST(convt_strides_min) {
    mb b;
    const int64_t bad[2] = {0, 1}, good[2] = {2, 1};
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "strides", 2, bad);
    refused(&b, "convt1", "strides", "attribute strides[0]=0 must be >= 1");
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "strides", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: ConvTranspose | dilations >= 1 */
START_TEST(convt_dilations_min) {
    mb b;
    const int64_t bad[2] = {1, 0}, good[2] = {1, 2};
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "dilations", 2, bad);
    refused(&b, "convt1", "dilations", "attribute dilations[1]=0 must be >= 1");
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "dilations", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: ConvTranspose | pads >= 0 (output_shape may imply negative ones; the attribute may not) */
START_TEST(convt_pads_min) {
    mb b;
    const int64_t bad[4] = {-1, 0, 0, 0}, good[4] = {1, 0, 0, 0};
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "pads", 4, bad);
    refused(&b, "convt1", "pads", "attribute pads[0]=-1 must be >= 0");
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "pads", 4, good);
    accepted_free(&b);
}
END_TEST

/* rule: ConvTranspose | output_padding is smaller than the stride or the dilation */
START_TEST(convt_output_padding) {
    mb b;
    const int64_t op[2] = {1, 1}, s2[2] = {2, 2};
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "output_padding", 2, op);
    refused(&b, "convt1", "output_padding", "output_padding 1 must be smaller");
    Onnx__NodeProto *n = convt(&b, 2, 2, 1);
    mb_attr_ints(&b, n, "output_padding", 2, op);
    mb_attr_ints(&b, n, "strides", 2, s2);
    accepted_free(&b);
}
END_TEST

/* rule: ConvTranspose | kernel_shape equals the weight's spatial dims */
START_TEST(convt_kernel_matches_weight) {
    mb b;
    const int64_t bad[2] = {2, 3}, good[2] = {3, 3};
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "kernel_shape", 2, bad);
    refused(&b, "convt1", "kernel_shape", "kernel_shape disagrees with weight 'w'");
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "kernel_shape", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: ConvTranspose | output_shape >= 1 */
START_TEST(convt_output_shape_min) {
    mb b;
    const int64_t bad[2] = {0, 6}, good[2] = {6, 6};
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "output_shape", 2, bad);
    refused(&b, "convt1", "output_shape", "output_shape[0] = 0");
    mb_attr_ints(&b, convt(&b, 2, 2, 1), "output_shape", 2, good);
    accepted_free(&b);
}
END_TEST

/* ---- pools -------------------------------------------------------------------------- */

/* rule: MaxPool | kernel_shape is required */
START_TEST(maxpool_kernel_required) {
    mb b;
    pool(&b, "MaxPool", 0);
    refused(&b, "pool1", "kernel_shape", "kernel_shape is required");
    pool(&b, "MaxPool", 2);
    accepted_free(&b);
}
END_TEST

/* rule: MaxPool | kernel_shape >= 1 */
START_TEST(maxpool_kernel_min) {
    mb b;
    pool(&b, "MaxPool", -1);
    refused(&b, "pool1", "kernel_shape", "attribute kernel_shape[0]=-1 must be >= 1");
    pool(&b, "MaxPool", 1);
    accepted_free(&b);
}
END_TEST

/* rule: MaxPool | strides >= 1 */
START_TEST(maxpool_strides_min) {
    mb b;
    const int64_t bad[2] = {0, 0}, good[2] = {2, 2};
    mb_attr_ints(&b, pool(&b, "MaxPool", 2), "strides", 2, bad);
    refused(&b, "pool1", "strides", "attribute strides[0]=0 must be >= 1");
    mb_attr_ints(&b, pool(&b, "MaxPool", 2), "strides", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: MaxPool | dilations >= 1 */
START_TEST(maxpool_dilations_min) {
    mb b;
    const int64_t bad[2] = {1, 0}, good[2] = {1, 2};
    mb_attr_ints(&b, pool(&b, "MaxPool", 2), "dilations", 2, bad);
    refused(&b, "pool1", "dilations", "attribute dilations[1]=0 must be >= 1");
    mb_attr_ints(&b, pool(&b, "MaxPool", 2), "dilations", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: MaxPool | pads >= 0 */
START_TEST(maxpool_pads_min) {
    mb b;
    const int64_t bad[4] = {0, 0, 0, -1}, good[4] = {0, 0, 0, 1};
    mb_attr_ints(&b, pool(&b, "MaxPool", 2), "pads", 4, bad);
    refused(&b, "pool1", "pads", "attribute pads[3]=-1 must be >= 0");
    mb_attr_ints(&b, pool(&b, "MaxPool", 2), "pads", 4, good);
    accepted_free(&b);
}
END_TEST

/* rule: MaxPool | pads are smaller than kernel_shape (a window of padding only) */
START_TEST(maxpool_pads_below_kernel) {
    mb b;
    const int64_t bad[4] = {2, 0, 0, 0}, good[4] = {1, 0, 0, 0};
    mb_attr_ints(&b, pool(&b, "MaxPool", 2), "pads", 4, bad);
    refused(&b, "pool1", "kernel_shape", "pads 2/0 of axis 2 must be smaller than kernel_shape");
    mb_attr_ints(&b, pool(&b, "MaxPool", 2), "pads", 4, good);
    accepted_free(&b);
}
END_TEST

/* rule: AveragePool | strides >= 1 */
START_TEST(avgpool_strides_min) {
    mb b;
    const int64_t bad[2] = {-1, 1}, good[2] = {1, 1};
    mb_attr_ints(&b, pool(&b, "AveragePool", 3), "strides", 2, bad);
    refused(&b, "pool1", "strides", "attribute strides[0]=-1 must be >= 1");
    mb_attr_ints(&b, pool(&b, "AveragePool", 3), "strides", 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: AveragePool | kernel_shape >= 1 */
START_TEST(avgpool_kernel_min) {
    mb b;
    pool(&b, "AveragePool", 0);
    const int64_t bad[2] = {2, 0};
    mb_attr_ints(&b, b.graph.node[0], "kernel_shape", 2, bad);
    refused(&b, "pool1", "kernel_shape", "attribute kernel_shape[1]=0 must be >= 1");
    pool(&b, "AveragePool", 2);
    accepted_free(&b);
}
END_TEST

/* rule: GlobalAveragePool | X is N x C x spatial (rank >= 3) */
START_TEST(global_pool_rank) {
    mb b;
    const int64_t x2[2] = {1, 4};
    unary(&b, 13, "GlobalAveragePool", "gap1", 2, x2, NULL);
    refused(&b, "gap1", "input 'x'", "expected N x C x spatial");
    unary(&b, 13, "GlobalAveragePool", "gap1", 4, X4, NULL);
    accepted_free(&b);
}
END_TEST

/* ---- Gemm, MatMul ---------------------------------------------------------------- */

/* x [2, ad1] -> Gemm "gemm1" with constant B of shape bd. */
static Onnx__NodeProto *gemm(mb *b, const int64_t *ad, const int64_t *bd) {
    mb_init(b, 13);
    mb_input(b, "a", 2, ad);
    mb_init_f32(b, "w", 2, bd, NULL);
    Onnx__NodeProto *n = mb_node(b, "Gemm", "gemm1", "a,w", "y");
    out(b, "y");
    return n;
}

/* rule: Gemm | K of A agrees with K of B under transA/transB */
START_TEST(gemm_k_under_trans) {
    mb b;
    const int64_t ad[2] = {2, 3}, bd[2] = {3, 5};
    mb_attr_int(&b, gemm(&b, ad, bd), "transB", 1);
    refused(&b, "gemm1", "transB", "inner dimensions differ under transA=0, transB=1");
    gemm(&b, ad, bd);
    accepted_free(&b);
    const int64_t at[2] = {3, 2};
    mb_attr_int(&b, gemm(&b, at, bd), "transA", 1);
    accepted_free(&b);
}
END_TEST

/* rule: Gemm | C broadcasts onto [M, N] */
START_TEST(gemm_c_broadcast) {
    mb b;
    const int64_t ad[2] = {2, 3}, bd[2] = {3, 5}, c4 = 4, c5 = 5;
    gemm(&b, ad, bd);
    mb_init_f32(&b, "c", 1, &c4, NULL);
    b.graph.node[0]->n_input = 3;
    b.graph.node[0]->input = mb_alloc(&b, 3 * sizeof(char *));
    b.graph.node[0]->input[0] = mb_str(&b, "a");
    b.graph.node[0]->input[1] = mb_str(&b, "w");
    b.graph.node[0]->input[2] = mb_str(&b, "c");
    refused(&b, "gemm1", "C 'c'", "does not broadcast to [M, N]");
    mb_init(&b, 13);
    mb_input(&b, "a", 2, ad);
    mb_init_f32(&b, "w", 2, bd, NULL);
    mb_init_f32(&b, "c", 1, &c5, NULL);
    mb_node(&b, "Gemm", "gemm1", "a,w,c", "y");
    out(&b, "y");
    accepted_free(&b);
}
END_TEST

/* rule: MatMul | the inner dimensions agree */
START_TEST(matmul_inner) {
    mb b;
    const int64_t ad[2] = {2, 3}, bad[2] = {4, 5}, good[2] = {3, 5};
    mb_init(&b, 13);
    mb_input(&b, "a", 2, ad);
    mb_init_f32(&b, "w", 2, bad, NULL);
    mb_node(&b, "MatMul", "mm1", "a,w", "y");
    out(&b, "y");
    refused(&b, "mm1", "'w'", "inner dimensions differ");
    mb_init(&b, 13);
    mb_input(&b, "a", 2, ad);
    mb_init_f32(&b, "w", 2, good, NULL);
    mb_node(&b, "MatMul", "mm1", "a,w", "y");
    out(&b, "y");
    accepted_free(&b);
}
END_TEST

/* ---- BatchNormalization -------------------------------------------------------------- */

/* x [1, 3, 2, 2] -> BatchNormalization "bn1" with parameters of length c (mean: cm). */
static Onnx__NodeProto *bn(mb *b, int64_t c, int64_t cm) {
    const int64_t xd[4] = {1, 3, 2, 2};
    mb_init(b, 13);
    mb_input(b, "x", 4, xd);
    mb_init_f32(b, "scale", 1, &c, NULL);
    mb_init_f32(b, "bias", 1, &c, NULL);
    mb_init_f32(b, "mean", 1, &cm, NULL);
    mb_init_f32(b, "var", 1, &c, NULL);
    Onnx__NodeProto *n = mb_node(b, "BatchNormalization", "bn1", "x,scale,bias,mean,var", "y");
    out(b, "y");
    return n;
}

/* rule: BatchNormalization | scale, B, mean and var have C entries */
START_TEST(bn_param_length) {
    mb b;
    bn(&b, 3, 2);
    refused(&b, "bn1", "mean", "parameter 'mean' has shape [2], expected [3]");
    bn(&b, 3, 3);
    accepted_free(&b);
}
END_TEST

/* rule: BatchNormalization | epsilon >= 0 */
START_TEST(bn_epsilon) {
    mb b;
    mb_attr_float(&b, bn(&b, 3, 3), "epsilon", -1e-5f);
    refused(&b, "bn1", "epsilon", "epsilon -1e-05 is invalid");
    mb_attr_float(&b, bn(&b, 3, 3), "epsilon", 0.0f);
    accepted_free(&b);
}
END_TEST

/* ---- Reshape, Flatten, Transpose, Squeeze, Unsqueeze ------------------------------- */

/* x [1, 2, 3, 4] -> Reshape "reshape1" to the constant shape s (n entries). */
static Onnx__NodeProto *reshape(mb *b, int64_t n, const int64_t *s) {
    mb_init(b, 14);
    mb_input(b, "x", 4, X4);
    ints(b, "shape", n, s);
    Onnx__NodeProto *nd = mb_node(b, "Reshape", "reshape1", "x,shape", "y");
    out(b, "y");
    return nd;
}

/* rule: Reshape | at most one -1 in shape */
START_TEST(reshape_one_infer) {
    mb b;
    const int64_t bad[3] = {-1, 2, -1}, good[3] = {-1, 2, 6};
    reshape(&b, 3, bad);
    refused(&b, "reshape1", "shape", "more than one -1 in the shape");
    reshape(&b, 3, good);
    accepted_free(&b);
}
END_TEST

/* rule: Reshape | with allowzero=1, shape does not hold both 0 and -1 */
START_TEST(reshape_allowzero_infer) {
    mb b;
    const int64_t s[3] = {0, -1, 12};
    mb_attr_int(&b, reshape(&b, 3, s), "allowzero", 1);
    refused(&b, "reshape1", "allowzero", "holds both 0 and -1, which attribute allowzero=1 forbids");
    mb_attr_int(&b, reshape(&b, 3, s), "allowzero", 0); /* 0 copies the input's 1 */
    accepted_free(&b);
}
END_TEST

/* rule: Reshape | shape entries are >= -1 */
START_TEST(reshape_entry_min) {
    mb b;
    const int64_t bad[2] = {2, -12}, good[2] = {2, 12};
    reshape(&b, 2, bad);
    refused(&b, "reshape1", "shape", "shape entry -12 is invalid");
    reshape(&b, 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: Reshape | the element count is kept */
START_TEST(reshape_count) {
    mb b;
    const int64_t bad[2] = {5, 5}, good[2] = {4, 6};
    reshape(&b, 2, bad);
    refused(&b, "reshape1", "reshape", "cannot reshape [1,2,3,4] into [5,5]");
    reshape(&b, 2, good);
    accepted_free(&b);
}
END_TEST

/* rule: Flatten | axis in [-r, r] */
START_TEST(flatten_axis) {
    mb b;
    mb_attr_int(&b, unary(&b, 13, "Flatten", "flat1", 4, X4, NULL), "axis", 5);
    refused(&b, "flat1", "axis", "axis 5 is out of range");
    mb_attr_int(&b, unary(&b, 13, "Flatten", "flat1", 4, X4, NULL), "axis", 4);
    accepted_free(&b);
}
END_TEST

/* rule: Transpose | perm is a permutation of 0..r-1 */
START_TEST(transpose_perm) {
    mb b;
    const int64_t bad[4] = {0, 1, 1, 3}, good[4] = {0, 3, 1, 2};
    mb_attr_ints(&b, unary(&b, 13, "Transpose", "tr1", 4, X4, NULL), "perm", 4, bad);
    refused(&b, "tr1", "perm", "perm is not a permutation of 0..3");
    mb_attr_ints(&b, unary(&b, 13, "Transpose", "tr1", 4, X4, NULL), "perm", 4, good);
    accepted_free(&b);
}
END_TEST

/* rule: Transpose | perm has r entries */
START_TEST(transpose_perm_length) {
    mb b;
    const int64_t bad[3] = {0, 2, 1}, good[4] = {0, 1, 3, 2};
    mb_attr_ints(&b, unary(&b, 13, "Transpose", "tr1", 4, X4, NULL), "perm", 3, bad);
    refused(&b, "tr1", "perm", "perm has 3 entries, input 'x' has rank 4");
    mb_attr_ints(&b, unary(&b, 13, "Transpose", "tr1", 4, X4, NULL), "perm", 4, good);
    accepted_free(&b);
}
END_TEST

/* rule: Squeeze | axes in [-r, r-1] */
START_TEST(squeeze_axes_range) {
    mb b;
    const int64_t xd[3] = {2, 1, 3};
    unary(&b, 13, "Squeeze", "sq1", 3, xd, "x,axes");
    ints1(&b, "axes", 3);
    refused(&b, "sq1", "axes", "input axes[0]=3 is out of range for rank 3");
    unary(&b, 13, "Squeeze", "sq1", 3, xd, "x,axes");
    const int64_t twice[2] = {-2, 1}; /* a repeat is not against the spec */
    ints(&b, "axes", 2, twice);
    accepted_free(&b);
}
END_TEST

/* rule: Squeeze | the squeezed dimensions have size 1 */
START_TEST(squeeze_size_one) {
    mb b;
    const int64_t xd[3] = {2, 1, 3};
    unary(&b, 13, "Squeeze", "sq1", 3, xd, "x,axes");
    ints1(&b, "axes", 2);
    refused(&b, "sq1", "axes", "input axes[0]=2 names dimension 2 of size 3, not 1");
    unary(&b, 13, "Squeeze", "sq1", 3, xd, "x,axes");
    ints1(&b, "axes", 1);
    accepted_free(&b);
}
END_TEST

/* rule: Unsqueeze | axes in range of the output rank and not repeated */
START_TEST(unsqueeze_axes) {
    mb b;
    const int64_t xd[2] = {2, 3}, rep[2] = {1, -3}, ok[2] = {0, 3};
    mb_attr_ints(&b, unary(&b, 11, "Unsqueeze", "unsq1", 2, xd, NULL), "axes", 2, rep);
    refused(&b, "unsq1", "axes", "attribute axes[1]=-3 repeats axis 1");
    mb_attr_ints(&b, unary(&b, 11, "Unsqueeze", "unsq1", 2, xd, NULL), "axes", 2, ok);
    accepted_free(&b);
    const int64_t far[1] = {4};
    mb_attr_ints(&b, unary(&b, 11, "Unsqueeze", "unsq1", 2, xd, NULL), "axes", 1, far);
    refused(&b, "unsq1", "axes", "attribute axes[0]=4 is out of range for rank 3");
}
END_TEST

/* ---- Concat, Split, Slice, Gather ------------------------------------------------- */

/* a [1, 2, 3] and b (rank rb: [1, 2, 3] or [1, 2]) -> Concat "cat1" on axis. */
static void concat(mb *b, int64_t axis, int32_t rb, int64_t b2) {
    const int64_t ad[3] = {1, 2, 3}, bd[3] = {1, 2, b2};
    mb_init(b, 13);
    mb_input(b, "a", 3, ad);
    mb_input(b, "b", (size_t)rb, bd);
    mb_attr_int(b, mb_node(b, "Concat", "cat1", "a,b", "y"), "axis", axis);
    out(b, "y");
}

/* rule: Concat | axis in [-r, r-1] */
START_TEST(concat_axis) {
    mb b;
    concat(&b, 3, 3, 3);
    refused(&b, "cat1", "axis", "axis 3 is out of range for rank 3");
    concat(&b, -1, 3, 3);
    accepted_free(&b);
}
END_TEST

/* rule: Concat | axis is required */
START_TEST(concat_axis_required) {
    mb b;
    concat(&b, 1, 3, 3);
    b.graph.node[0]->n_attribute = 0;
    refused(&b, "cat1", "axis", "attribute 'axis' is required");
    concat(&b, 0, 3, 3);
    accepted_free(&b);
}
END_TEST

/* rule: Concat | the inputs have one rank */
START_TEST(concat_ranks) {
    mb b;
    concat(&b, 1, 2, 3);
    refused(&b, "cat1", "'b'", "have different ranks");
    concat(&b, 1, 3, 3);
    accepted_free(&b);
}
END_TEST

/* rule: Concat | the inputs agree off the axis */
START_TEST(concat_off_axis) {
    mb b;
    concat(&b, 1, 3, 4);
    refused(&b, "cat1", "'b'", "differ off the axis");
    concat(&b, 2, 3, 4);
    accepted_free(&b);
}
END_TEST

/* rule: Concat | axis in range when shape vectors are concatenated at import */
START_TEST(concat_shape_axis) {
    mb b;
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 4, X4);
        ints1(&b, "minus1", -1);
        mb_node(&b, "Shape", "shape1", "x", "s");
        mb_attr_int(&b, mb_node(&b, "Concat", "cat1", "s,minus1", "t"), "axis", pass ? 0 : 1);
        mb_node(&b, "Reshape", "reshape1", "x,t", "y");
        out(&b, "y");
        if (!pass) refused(&b, "cat1", "axis", "attribute axis=1 is out of range for rank 1");
    }
    /* [1, 2, 3, 4, -1]: a rank-5 view. */
    ptq_graph *g = accepted(&b);
    const ptq_value *y = &g->values[ptq_graph_find_value(g, "y")];
    ck_assert_int_eq(y->ndim, 5);
    ptq_graph_free(g);
}
END_TEST

/* x [1, 6, 4] -> Split "split1" into `outs` along axis, with the split input (n > 0). */
static void split(mb *b, int64_t axis, const char *outs, int64_t n, const int64_t *sizes) {
    const int64_t xd[3] = {1, 6, 4};
    mb_init(b, 13);
    mb_input(b, "x", 3, xd);
    if (n > 0) ints(b, "split", n, sizes);
    mb_attr_int(b, mb_node(b, "Split", "split1", n > 0 ? "x,split" : "x", outs), "axis", axis);
    out(b, "a");
}

/* rule: Split | axis in [-r, r-1] */
START_TEST(split_axis) {
    mb b;
    split(&b, -4, "a,b", 0, NULL);
    refused(&b, "split1", "axis", "axis -4 is out of range for rank 3");
    split(&b, -2, "a,b", 0, NULL);
    accepted_free(&b);
}
END_TEST

/* rule: Split | split sizes sum to the axis length */
START_TEST(split_sizes) {
    mb b;
    const int64_t bad[2] = {2, 3}, good[2] = {2, 4};
    split(&b, 1, "a,b", 2, bad);
    refused(&b, "split1", "split", "split sizes sum to 5");
    split(&b, 1, "a,b", 2, good);
    accepted_free(&b);
}
END_TEST

/* x [1, 6, 4] -> Slice "slice1" of [1, 3) on `axis` with step `step`. */
static void slice(mb *b, int64_t axis, int64_t step) {
    const int64_t xd[3] = {1, 6, 4};
    mb_init(b, 13);
    mb_input(b, "x", 3, xd);
    ints1(b, "starts", 1);
    ints1(b, "ends", 3);
    ints1(b, "axes", axis);
    ints1(b, "steps", step);
    mb_node(b, "Slice", "slice1", "x,starts,ends,axes,steps", "y");
    out(b, "y");
}

/* rule: Slice | axes in [-r, r-1] */
START_TEST(slice_axes) {
    mb b;
    slice(&b, 3, 1);
    refused(&b, "slice1", "axes", "axes[0] = 3 is out of range");
    slice(&b, -1, 1);
    accepted_free(&b);
}
END_TEST

/* rule: Slice | steps != 0 */
START_TEST(slice_steps) {
    mb b;
    slice(&b, 1, 0);
    refused(&b, "slice1", "steps", "steps[0] is 0");
    slice(&b, 1, -1);
    accepted_free(&b);
}
END_TEST

/* rule: Split | num_outputs (opset 18) equals the number of outputs */
START_TEST(split_num_outputs) {
    mb b;
    const int64_t xd[3] = {1, 6, 4};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 18);
        mb_input(&b, "x", 3, xd);
        Onnx__NodeProto *n = mb_node(&b, "Split", "split1", "x", "a,b");
        mb_attr_int(&b, n, "axis", 1);
        mb_attr_int(&b, n, "num_outputs", pass ? 2 : 3);
        out(&b, "a");
        if (!pass) refused(&b, "split1", "num_outputs", "num_outputs is 3 but the node has 2 outputs");
    }
    accepted_free(&b);
}
END_TEST

/* rule: Slice | starts, ends, axes and steps have one length */
START_TEST(slice_lengths) {
    mb b;
    const int64_t xd[3] = {1, 6, 4}, two[2] = {1, 1}, ax[2] = {1, 2};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 3, xd);
        ints(&b, "starts", 2, two);
        ints(&b, "ends", pass ? 2 : 1, two);
        ints(&b, "axes", 2, ax);
        mb_node(&b, "Slice", "slice1", "x,starts,ends,axes", "y");
        out(&b, "y");
        if (!pass) refused(&b, "slice1", "ends", "starts, ends, axes and steps have different lengths");
    }
    accepted_free(&b);
}
END_TEST

/* x [1, 2, 3, 4] -> Gather "gather1" with constant indices ind on axis. */
static void gather(mb *b, int64_t axis, int64_t ind) {
    mb_init(b, 13);
    mb_input(b, "x", 4, X4);
    ints1(b, "ind", ind);
    mb_attr_int(b, mb_node(b, "Gather", "gather1", "x,ind", "y"), "axis", axis);
    out(b, "y");
}

/* rule: Gather | axis in [-r, r-1] */
START_TEST(gather_axis) {
    mb b;
    gather(&b, 4, 0);
    refused(&b, "gather1", "axis", "axis 4 is out of range for rank 4");
    gather(&b, -1, 0);
    accepted_free(&b);
}
END_TEST

/* rule: Gather | indices in [-s, s-1] for the axis' size s */
START_TEST(gather_indices) {
    mb b;
    gather(&b, 2, 3);
    refused(&b, "gather1", "index", "index 3 is out of range for size 3");
    gather(&b, 2, -3);
    accepted_free(&b);
}
END_TEST

/* rule: Gather | axis in range when a shape vector is gathered at import */
START_TEST(gather_shape_axis) {
    mb b;
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 4, X4);
        ints1(&b, "ind", 3);
        mb_node(&b, "Shape", "shape1", "x", "s");
        mb_attr_int(&b, mb_node(&b, "Gather", "gather1", "s,ind", "t"), "axis", pass ? 0 : 1);
        out(&b, "t");
        if (!pass) refused(&b, "gather1", "axis", "attribute axis=1 is out of range for rank 1");
    }
    ptq_graph *g = accepted(&b);
    const ptq_value *t = &g->values[ptq_graph_find_value(g, "t")];
    ck_assert_int_eq(((const int64_t *)t->data->data)[0], 4); /* x's last dimension */
    ptq_graph_free(g);
}
END_TEST

/* ---- Softmax, reductions, LayerNormalization --------------------------------------- */

/* rule: Softmax | axis in [-r, r-1] */
START_TEST(softmax_axis) {
    mb b;
    mb_attr_int(&b, unary(&b, 13, "Softmax", "sm1", 4, X4, NULL), "axis", -5);
    refused(&b, "sm1", "axis", "axis -5 is out of range for rank 4");
    mb_attr_int(&b, unary(&b, 13, "Softmax", "sm1", 4, X4, NULL), "axis", -4);
    accepted_free(&b);
}
END_TEST

/* rule: ReduceMean | axes in [-r, r-1] and not repeated */
START_TEST(reduce_axes) {
    mb b;
    const int64_t rep[2] = {1, -3}, ok[2] = {1, -1};
    mb_attr_ints(&b, unary(&b, 13, "ReduceMean", "rm1", 4, X4, NULL), "axes", 2, rep);
    refused(&b, "rm1", "axes", "axes[1]=-3 is out of range or repeated for rank 4");
    mb_attr_ints(&b, unary(&b, 13, "ReduceMean", "rm1", 4, X4, NULL), "axes", 2, ok);
    accepted_free(&b);
}
END_TEST

/* rule: ReduceSum | axes (an input since opset 13) in [-r, r-1] */
START_TEST(reduce_sum_axes) {
    mb b;
    unary(&b, 13, "ReduceSum", "rs1", 4, X4, "x,axes");
    ints1(&b, "axes", 4);
    refused(&b, "rs1", "axes", "axes[0]=4 is out of range or repeated for rank 4");
    unary(&b, 13, "ReduceSum", "rs1", 4, X4, "x,axes");
    ints1(&b, "axes", 3);
    accepted_free(&b);
}
END_TEST

/* rule: LayerNormalization | axis in [-r, r-1] */
START_TEST(layer_norm_axis) {
    mb b;
    const int64_t sd[1] = {4};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 17);
        mb_input(&b, "x", 4, X4);
        mb_init_f32(&b, "scale", 1, sd, NULL);
        mb_attr_int(&b, mb_node(&b, "LayerNormalization", "ln1", "x,scale", "y"), "axis",
                    pass ? -1 : 4);
        out(&b, "y");
        if (!pass) refused(&b, "ln1", "axis", "axis 4 is out of range for rank 4");
    }
    accepted_free(&b);
}
END_TEST

/* rule: LayerNormalization | epsilon >= 0 */
START_TEST(layer_norm_epsilon) {
    mb b;
    const int64_t sd[1] = {4};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 17);
        mb_input(&b, "x", 4, X4);
        mb_init_f32(&b, "scale", 1, sd, NULL);
        mb_attr_float(&b, mb_node(&b, "LayerNormalization", "ln1", "x,scale", "y"), "epsilon",
                      pass ? 1e-6f : -1.0f);
        out(&b, "y");
        if (!pass) refused(&b, "ln1", "epsilon", "epsilon -1 is invalid");
    }
    accepted_free(&b);
}
END_TEST

/* rule: Cast | attribute to is required */
START_TEST(cast_to_required) {
    mb b;
    Onnx__NodeProto *n = unary(&b, 13, "Cast", "cast1", 4, X4, NULL);
    refused(&b, "cast1", "to", "attribute 'to' is required");
    n = unary(&b, 13, "Cast", "cast1", 4, X4, NULL);
    mb_attr_int(&b, n, "to", PTQ_DTYPE_I8);
    accepted_free(&b);
}
END_TEST

/* ---- Pad, Clip, Resize, Upsample, elementwise -------------------------------------- */

/* x [1, 2, 3, 4] -> Pad "pad1" with constant pads p (n entries). */
static void pad(mb *b, int64_t n, const int64_t *p) {
    mb_init(b, 13);
    mb_input(b, "x", 4, X4);
    ints(b, "pads", n, p);
    mb_node(b, "Pad", "pad1", "x,pads", "y");
    out(b, "y");
}

/* rule: Pad | pads has 2 entries per input axis */
START_TEST(pad_length) {
    mb b;
    const int64_t p[8] = {0, 0, 1, 1, 0, 0, 1, 1};
    pad(&b, 4, p);
    refused(&b, "pad1", "pads", "pads has 4 entries for rank 4");
    pad(&b, 8, p);
    accepted_free(&b);
}
END_TEST

/* rule: Pad | negative pads remove at most the whole axis */
START_TEST(pad_negative) {
    mb b;
    const int64_t bad[8] = {0, 0, -2, 0, 0, 0, -2, 0}, good[8] = {0, 0, -1, 0, 0, 0, -2, 0};
    pad(&b, 8, bad);
    refused(&b, "pad1", "pads", "pads -2/-2 are out of range for dimension 2 of size 3");
    pad(&b, 8, good);
    ptq_graph *g = accepted(&b);
    const ptq_value *y = &g->values[ptq_graph_find_value(g, "y")];
    ck_assert_int_eq(y->ne[2], 0); /* the spec allows an empty result */
    ptq_graph_free(g);
}
END_TEST

/* rule: Clip | min > max is valid (the spec: every output is max) */
START_TEST(clip_min_above_max) {
    mb b;
    const int64_t xd[2] = {1, 4}, one = 1;
    const float lo = 2.0f, hi = -1.0f;
    mb_init(&b, 13);
    mb_input(&b, "x", 2, xd);
    mb_init_f32(&b, "lo", 0, &one, &lo);
    mb_init_f32(&b, "hi", 0, &one, &hi);
    mb_node(&b, "Clip", "clip1", "x,lo,hi", "y");
    out(&b, "y");
    ptq_graph *g = accepted(&b);
    const float x[4] = {-5.0f, 0.0f, 1.5f, 7.0f};
    int64_t n;
    float *y = test_run_graph(g, x, 1, &n);
    ck_assert_int_eq(n, 4);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(y[i], hi);
    free(y);
    ptq_graph_free(g);
}
END_TEST

/* x [1, 2, 4, 4] -> Resize "rs1" with constant scales s (4 entries). */
static Onnx__NodeProto *resize(mb *b, int64_t opset, const float *s) {
    const int64_t xd[4] = {1, 2, 4, 4}, sd[1] = {4};
    mb_init(b, opset);
    mb_input(b, "x", 4, xd);
    mb_init_f32(b, "scales", 1, sd, s);
    Onnx__NodeProto *n = mb_node(b, "Resize", "rs1", "x,,scales", "y");
    out(b, "y");
    return n;
}

/* rule: Resize | scales > 0 */
START_TEST(resize_scales) {
    mb b;
    const float bad[4] = {1, 1, 0, 2}, good[4] = {1, 1, 0.5f, 2};
    resize(&b, 13, bad);
    refused(&b, "rs1", "scales", "scales[2] = 0 is not a positive finite number");
    resize(&b, 13, good);
    accepted_free(&b);
}
END_TEST

/* rule: Resize | axes in [-r, r-1] and not repeated */
START_TEST(resize_axes) {
    mb b;
    const float s2[2] = {2, 2};
    const int64_t rep[2] = {2, -2}, ok[2] = {2, -1};
    for (int pass = 0; pass < 2; pass++) {
        const int64_t xd[4] = {1, 2, 4, 4}, sd[1] = {2};
        mb_init(&b, 18);
        mb_input(&b, "x", 4, xd);
        mb_init_f32(&b, "scales", 1, sd, s2);
        mb_attr_ints(&b, mb_node(&b, "Resize", "rs1", "x,,scales", "y"), "axes", 2,
                     pass ? ok : rep);
        out(&b, "y");
        if (!pass) refused(&b, "rs1", "axes", "attribute axes[1]=-2 repeats axis 2");
    }
    accepted_free(&b);
}
END_TEST

/* rule: Resize | sizes >= 1 */
START_TEST(resize_sizes) {
    mb b;
    const int64_t xd[4] = {1, 2, 4, 4}, sd[1] = {4}, bad[4] = {1, 2, 0, 8}, good[4] = {1, 2, 1, 8};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 4, xd);
        mb_init_i64(&b, "sizes", 1, sd, pass ? good : bad);
        mb_node(&b, "Resize", "rs1", "x,,,sizes", "y");
        out(&b, "y");
        if (!pass) refused(&b, "rs1", "sizes", "sizes[2] = 0 is out of range");
    }
    accepted_free(&b);
}
END_TEST

/* rule: Resize | scales has one entry per input axis (without axes) */
START_TEST(resize_scales_length) {
    mb b;
    const int64_t xd[4] = {1, 2, 4, 4};
    const float s[4] = {1, 1, 2, 2};
    for (int pass = 0; pass < 2; pass++) {
        const int64_t n = pass ? 4 : 3;
        mb_init(&b, 13);
        mb_input(&b, "x", 4, xd);
        mb_init_f32(&b, "scales", 1, &n, s);
        mb_node(&b, "Resize", "rs1", "x,,scales", "y");
        out(&b, "y");
        if (!pass) refused(&b, "rs1", "scales", "scales has 3 entries for input rank 4");
    }
    accepted_free(&b);
}
END_TEST

/* rule: Upsample | scales >= 1 */
START_TEST(upsample_scales) {
    mb b;
    const float bad[4] = {1, 1, 0.5f, 2}, good[4] = {1, 1, 1, 2};
    const int64_t xd[4] = {1, 2, 4, 4}, sd[1] = {4};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 9);
        mb_input(&b, "x", 4, xd);
        mb_init_f32(&b, "scales", 1, sd, pass ? good : bad);
        mb_node(&b, "Upsample", "up1", "x,scales", "y");
        out(&b, "y");
        if (!pass) refused(&b, "up1", "scales", "input scales[2]=0.5 must be >= 1");
    }
    accepted_free(&b);
}
END_TEST

/* rule: Add | the inputs broadcast (numpy rules) */
START_TEST(add_broadcast) {
    mb b;
    const int64_t bad[1] = {3}, good[2] = {3, 1};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 4, X4);
        mb_init_f32(&b, "c", pass ? 2 : 1, pass ? good : bad, NULL);
        mb_node(&b, "Add", "add1", "x,c", "y");
        out(&b, "y");
        if (!pass) refused(&b, "add1", "'c'", "'c' [3] do not broadcast");
    }
    accepted_free(&b);
}
END_TEST

/* rule: Expand | the target shape broadcasts with the input */
START_TEST(expand_shape) {
    mb b;
    const int64_t bad[2] = {5, 4}, good[2] = {3, 4};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 4, X4);
        ints(&b, "shape", 2, pass ? good : bad);
        mb_node(&b, "Expand", "ex1", "x,shape", "y");
        out(&b, "y");
        if (!pass) refused(&b, "ex1", "'shape'", "'shape' [5,4] does not broadcast");
    }
    accepted_free(&b);
}
END_TEST

/* rule: Where | condition, X and Y broadcast together */
START_TEST(where_broadcast) {
    mb b;
    const int64_t bad[1] = {2}, good[1] = {4};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 4, X4);
        mb_init_f32(&b, "c", 1, pass ? good : bad, NULL);
        mb_node(&b, "Where", "where1", "x,x,c", "y");
        out(&b, "y");
        if (!pass) refused(&b, "where1", "'c'", "'c' [2] does not broadcast");
    }
    accepted_free(&b);
}
END_TEST

/* rule: LayerNormalization | Scale broadcasts onto the normalised dimensions */
START_TEST(layer_norm_scale) {
    mb b;
    const int64_t bad[1] = {3}, good[1] = {4};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 17);
        mb_input(&b, "x", 4, X4);
        mb_init_f32(&b, "scale", 1, pass ? good : bad, NULL);
        mb_attr_int(&b, mb_node(&b, "LayerNormalization", "ln1", "x,scale", "y"), "axis", -1);
        out(&b, "y");
        if (!pass) refused(&b, "ln1", "scale 'scale'", "does not broadcast onto the normalised");
    }
    accepted_free(&b);
}
END_TEST

/* rule: DequantizeLinear | the zero point has the scale's shape */
START_TEST(dequantize_zero_point) {
    mb b;
    const int64_t two = 2, one = 1, wd[2] = {3, 2};
    const float sc[2] = {0.1f, 0.2f};
    const uint8_t q[6] = {1, 2, 3, 4, 5, 6}, zp[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 2, (int64_t[]){1, 3});
        mb_init_raw(&b, "wq", 2 /* uint8 */, 2, wd, q, 6);
        mb_init_f32(&b, "s", 1, &two, sc);
        mb_init_raw(&b, "z", 2, 1, pass ? &two : &one, zp, pass ? 2 : 1);
        mb_attr_int(&b, mb_node(&b, "DequantizeLinear", "dq1", "wq,s,z", "w"), "axis", 1);
        mb_node(&b, "MatMul", "mm1", "x,w", "y");
        out(&b, "y");
        if (!pass) refused(&b, "dq1", "zero point", "the zero point's shape differs from the scale's");
    }
    accepted_free(&b);
}
END_TEST

/* rule: QuantizeLinear | a per-channel axis in [-r, r-1] */
START_TEST(quantize_axis) {
    mb b;
    const int64_t two = 2;
    const float sc[2] = {0.1f, 0.2f};
    for (int pass = 0; pass < 2; pass++) {
        mb_init(&b, 13);
        mb_input(&b, "x", 4, X4);
        mb_init_f32(&b, "s", 1, &two, sc);
        const uint8_t zp[2] = {0, 0};
        mb_init_raw(&b, "z", 2 /* uint8 */, 1, &two, zp, 2);
        mb_attr_int(&b, mb_node(&b, "QuantizeLinear", "q1", "x,s,z", "xq"), "axis", pass ? 1 : 4);
        mb_attr_int(&b, mb_node(&b, "DequantizeLinear", "dq1", "xq,s,z", "y"), "axis", pass ? 1 : 4);
        out(&b, "y");
        if (!pass) refused(&b, "q1", "axis", "axis 4 is out of range for rank 4");
    }
    accepted_free(&b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("conv");
    tcase_add_test(tc, conv_group_min);
    tcase_add_test(tc, conv_group_divides_c);
    tcase_add_test(tc, conv_group_divides_m);
    tcase_add_test(tc, conv_weight_channels);
    tcase_add_test(tc, conv_strides_min);
    tcase_add_test(tc, conv_dilations_min);
    tcase_add_test(tc, conv_pads_min);
    tcase_add_test(tc, conv_pads_length);
    tcase_add_test(tc, conv_pads_with_auto_pad);
    tcase_add_test(tc, conv_kernel_min);
    tcase_add_test(tc, conv_kernel_matches_weight);
    tcase_add_test(tc, conv_bias_length);
    tcase_add_test(tc, conv_input_rank);
    tcase_add_test(tc, convt_group_min);
    tcase_add_test(tc, convt_group_divides_c);
    tcase_add_test(tc, convt_weight_channels);
    tcase_add_test(tc, convt_strides_min);
    tcase_add_test(tc, convt_dilations_min);
    tcase_add_test(tc, convt_pads_min);
    tcase_add_test(tc, convt_output_padding);
    tcase_add_test(tc, convt_kernel_matches_weight);
    tcase_add_test(tc, convt_output_shape_min);
    suite_add_tcase(s, tc);
    tc = tcase_create("pool");
    tcase_add_test(tc, maxpool_kernel_required);
    tcase_add_test(tc, maxpool_kernel_min);
    tcase_add_test(tc, maxpool_strides_min);
    tcase_add_test(tc, maxpool_dilations_min);
    tcase_add_test(tc, maxpool_pads_min);
    tcase_add_test(tc, maxpool_pads_below_kernel);
    tcase_add_test(tc, avgpool_strides_min);
    tcase_add_test(tc, avgpool_kernel_min);
    tcase_add_test(tc, global_pool_rank);
    suite_add_tcase(s, tc);
    tc = tcase_create("matrix");
    tcase_add_test(tc, gemm_k_under_trans);
    tcase_add_test(tc, gemm_c_broadcast);
    tcase_add_test(tc, matmul_inner);
    tcase_add_test(tc, bn_param_length);
    tcase_add_test(tc, bn_epsilon);
    suite_add_tcase(s, tc);
    tc = tcase_create("shape");
    tcase_add_test(tc, reshape_one_infer);
    tcase_add_test(tc, reshape_allowzero_infer);
    tcase_add_test(tc, reshape_entry_min);
    tcase_add_test(tc, reshape_count);
    tcase_add_test(tc, flatten_axis);
    tcase_add_test(tc, transpose_perm);
    tcase_add_test(tc, transpose_perm_length);
    tcase_add_test(tc, squeeze_axes_range);
    tcase_add_test(tc, squeeze_size_one);
    tcase_add_test(tc, unsqueeze_axes);
    tcase_add_test(tc, concat_axis);
    tcase_add_test(tc, concat_axis_required);
    tcase_add_test(tc, concat_ranks);
    tcase_add_test(tc, concat_off_axis);
    tcase_add_test(tc, concat_shape_axis);
    tcase_add_test(tc, split_axis);
    tcase_add_test(tc, split_sizes);
    tcase_add_test(tc, split_num_outputs);
    tcase_add_test(tc, slice_lengths);
    tcase_add_test(tc, slice_axes);
    tcase_add_test(tc, slice_steps);
    tcase_add_test(tc, gather_axis);
    tcase_add_test(tc, gather_indices);
    tcase_add_test(tc, gather_shape_axis);
    suite_add_tcase(s, tc);
    tc = tcase_create("other");
    tcase_add_test(tc, softmax_axis);
    tcase_add_test(tc, reduce_axes);
    tcase_add_test(tc, reduce_sum_axes);
    tcase_add_test(tc, layer_norm_axis);
    tcase_add_test(tc, layer_norm_epsilon);
    tcase_add_test(tc, cast_to_required);
    tcase_add_test(tc, pad_length);
    tcase_add_test(tc, pad_negative);
    tcase_add_test(tc, clip_min_above_max);
    tcase_add_test(tc, resize_scales);
    tcase_add_test(tc, resize_axes);
    tcase_add_test(tc, resize_sizes);
    tcase_add_test(tc, resize_scales_length);
    tcase_add_test(tc, upsample_scales);
    tcase_add_test(tc, add_broadcast);
    tcase_add_test(tc, expand_shape);
    tcase_add_test(tc, where_broadcast);
    tcase_add_test(tc, layer_norm_scale);
    tcase_add_test(tc, dequantize_zero_point);
    tcase_add_test(tc, quantize_axis);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
