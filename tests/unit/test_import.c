/* test_import.c — ONNX import: models built in memory with the generated protobuf-c
 * structs, serialized, and loaded with ptq_onnx_load_buffer; plus the bundled models.
 *
 * The models come from the shared builder (onnx_builder.h). */
#include <dirent.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "onnx_builder.h"

#define B PTQ_DIM_BATCH
#define SYM_H MB_SYM_H

/* Loads a model that must be refused with `status`; every `what` (NULL-terminated list)
 * must appear in the message, which always starts with the source's name. */
static void mb_refused(mb *b, ptq_status status, const char *const *what) {
    ptq_error err = {0};
    ptq_graph *g = mb_load(b, &err);
    ck_assert_msg(g == NULL, "the model was accepted");
    ck_assert_msg(err.status == status, "status %d (%s), expected %d", err.status, err.msg, status);
    ck_assert_msg(strncmp(err.msg, "test.onnx: ", 11) == 0, "%s", err.msg);
    for (; what && *what; what++)
        ck_assert_msg(test_contains(err.msg, *what), "message '%s' lacks '%s'", err.msg, *what);
}

#define WHAT(...) ((const char *const[]){__VA_ARGS__, NULL})

static ptq_graph *load_ok(mb *b) {
    ptq_error err = {0};
    ptq_graph *g = mb_load(b, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_OK);
    return g;
}

static void expect_shape(const ptq_graph *g, int32_t v, const char *want) {
    char buf[160];
    ck_assert_str_eq(ptq_shape_str(g->values[v].ndim, g->values[v].ne, buf, sizeof buf), want);
}

/* =========================================================== valid models ====== */

/* Conv(1->2, 3x3, pad 1) -> BN -> Relu -> GlobalAveragePool -> Flatten -> Gemm(2->3). */
START_TEST(small_cnn_loads_and_runs) {
    test_rng r = {11};
    float w[18], cb[2], bn[4][2], fw[6], fb[3];
    test_fill_uniform(&r, w, 18, -1.0f, 1.0f);
    test_fill_uniform(&r, cb, 2, -0.5f, 0.5f);
    for (int k = 0; k < 4; k++) test_fill_uniform(&r, bn[k], 2, k == 3 ? 0.5f : -1.0f, 1.5f);
    test_fill_uniform(&r, fw, 6, -1.0f, 1.0f);
    test_fill_uniform(&r, fb, 3, -0.5f, 0.5f);
    mb b;
    mb_init(&b, 13);
    const int64_t xd[4] = {B, 1, 5, 5}, wd[4] = {2, 1, 3, 3}, cd[1] = {2}, fwd[2] = {3, 2},
                  fbd[1] = {3}, yd[2] = {B, 3};
    mb_input(&b, "x", 4, xd);
    mb_init_f32(&b, "conv.w", 4, wd, w);
    mb_init_f32(&b, "conv.b", 1, cd, cb);
    mb_init_f32(&b, "bn.scale", 1, cd, bn[0]);
    mb_init_f32(&b, "bn.bias", 1, cd, bn[1]);
    mb_init_f32(&b, "bn.mean", 1, cd, bn[2]);
    mb_init_f32(&b, "bn.var", 1, cd, bn[3]);
    mb_init_f32(&b, "fc.w", 2, fwd, fw);
    mb_init_f32(&b, "fc.b", 1, fbd, fb);
    Onnx__NodeProto *conv = mb_node(&b, "Conv", "conv", "x,conv.w,conv.b", "c");
    mb_attr_ints(&b, conv, "kernel_shape", 2, (int64_t[]){3, 3});
    mb_attr_ints(&b, conv, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Onnx__NodeProto *bnn = mb_node(&b, "BatchNormalization", "bn", "c,bn.scale,bn.bias,bn.mean,bn.var", "n");
    mb_attr_float(&b, bnn, "epsilon", 1e-3f);
    mb_node(&b, "Relu", "relu", "n", "r");
    mb_node(&b, "GlobalAveragePool", "gap", "r", "p");
    mb_node(&b, "Flatten", "flat", "p", "f");
    Onnx__NodeProto *fc = mb_node(&b, "Gemm", "fc", "f,fc.w,fc.b", "y");
    mb_attr_int(&b, fc, "transB", 1);
    mb_output(&b, "y", 2, yd);
    ptq_graph *g = load_ok(&b);
    mb_free(&b);

    ck_assert_int_eq(g->n_inputs, 1);
    ck_assert_int_eq(g->n_outputs, 1);
    ck_assert_str_eq(g->values[g->inputs[0]].name, "x");
    ck_assert_str_eq(g->values[g->outputs[0]].name, "y");
    expect_shape(g, g->inputs[0], "[N,1,5,5]");
    expect_shape(g, g->outputs[0], "[N,3]");
    expect_shape(g, ptq_graph_find_value(g, "c"), "[N,2,5,5]");
    expect_shape(g, ptq_graph_find_value(g, "f"), "[N,2]");
    ck_assert_int_eq(g->opset, 13);
    ck_assert_int_eq(g->n_nodes, 6);
    ck_assert_int_eq(ptq_graph_param_count(g), 18 + 2 + 2 + 2 + 6 + 3);
    ck_assert_float_eq(g->nodes[1].attrs.epsilon, 1e-3f);

    /* Run at batch 3 and compare with the model computed here. */
    float x[3 * 25];
    test_fill_uniform(&r, x, 75, -1.0f, 1.0f);
    int64_t n;
    float *y = test_run_graph(g, x, 3, &n);
    ck_assert_int_eq(n, 9);
    for (int s = 0; s < 3; s++) {
        double feat[2];
        for (int m = 0; m < 2; m++) {
            double sum = 0.0;
            for (int oy = 0; oy < 5; oy++)
                for (int ox = 0; ox < 5; ox++) {
                    double acc = cb[m];
                    for (int ki = 0; ki < 3; ki++)
                        for (int kj = 0; kj < 3; kj++) {
                            int iy = oy + ki - 1, ix = ox + kj - 1;
                            if (iy >= 0 && iy < 5 && ix >= 0 && ix < 5)
                                acc += (double)x[s * 25 + iy * 5 + ix] * w[m * 9 + ki * 3 + kj];
                        }
                    acc = (acc - bn[2][m]) / sqrt((double)bn[3][m] + 1e-3) * bn[0][m] + bn[1][m];
                    sum += acc > 0 ? acc : 0;
                }
            feat[m] = sum / 25.0;
        }
        for (int o = 0; o < 3; o++) {
            double want = fb[o] + feat[0] * fw[o * 2] + feat[1] * fw[o * 2 + 1];
            ck_assert_msg(fabs(y[s * 3 + o] - want) <= 1e-5 + 1e-4 * fabs(want),
                          "sample %d logit %d: %g, expected %g", s, o, (double)y[s * 3 + o], want);
        }
    }
    free(y);
    ptq_graph_free(g);
}
END_TEST

/* PyTorch's x.view(x.size(0), -1): Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) ->
 * Reshape.  Folded at import into one Reshape to [N, 18], which runs at any batch.
 * Loop 0 exports at opset 13 (Unsqueeze axes as an input), loop 1 at opset 11 (as an
 * attribute). */
START_TEST(pytorch_flatten_folded) {
    const int64_t opset = _i == 0 ? 13 : 11;
    mb b;
    mb_init(&b, opset);
    const int64_t xd[4] = {B, 2, 3, 3}, one[1] = {1}, scalar_zero = 0, minus_one = -1;
    mb_input(&b, "x", 4, xd);
    mb_init_i64(&b, "minus_one", 1, one, &minus_one);
    mb_node(&b, "Relu", "relu", "x", "r");
    mb_node(&b, "Shape", "shape", "r", "s");
    Onnx__NodeProto *c = mb_node(&b, "Constant", "idx", "", "zero");
    Onnx__AttributeProto *a = mb_attr(&b, c, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = mb_tensor(&b, "", PTQ_DTYPE_I64, 0, NULL, &scalar_zero);
    Onnx__NodeProto *ga = mb_node(&b, "Gather", "gather", "s,zero", "n");
    mb_attr_int(&b, ga, "axis", 0);
    if (opset >= 13) {
        mb_init_i64(&b, "axes0", 1, one, &scalar_zero);
        mb_node(&b, "Unsqueeze", "unsq", "n,axes0", "n1");
    } else {
        Onnx__NodeProto *u = mb_node(&b, "Unsqueeze", "unsq", "n", "n1");
        mb_attr_ints(&b, u, "axes", 1, &scalar_zero);
    }
    Onnx__NodeProto *cat = mb_node(&b, "Concat", "concat", "n1,minus_one", "target");
    mb_attr_int(&b, cat, "axis", 0);
    mb_node(&b, "Reshape", "view", "r,target", "y");
    mb_output(&b, "y", 2, (int64_t[]){B, 18});
    ptq_graph *g = load_ok(&b);
    mb_free(&b);
    /* Only Relu and the Reshape remain: the shape arithmetic is gone. */
    ck_assert_int_eq(g->n_nodes, 2);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_RELU), 1);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_RESHAPE), 1);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_GATHER), 0);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_CONCAT), 0);
    expect_shape(g, g->outputs[0], "[N,18]");
    for (int32_t i = 0; i < g->n_values; i++) /* no int64 shape constants are left */
        ck_assert_msg(g->values[i].dtype == PTQ_DTYPE_F32, "value '%s' survived",
                      g->values[i].name);
    float x[3 * 18];
    test_rng r = {12};
    test_fill_uniform(&r, x, 54, -1.0f, 1.0f);
    int64_t n;
    float *y = test_run_graph(g, x, 3, &n);
    ck_assert_int_eq(n, 54);
    for (int i = 0; i < 54; i++) ck_assert_float_eq(y[i], fmaxf(x[i], 0.0f));
    free(y);
    ptq_graph_free(g);
}
END_TEST

/* Softmax's default axis and meaning changed at opset 13: before, the input is coerced
 * to 2-D at axis 1 (here: one softmax over all 6 values of a sample); from 13 on, it
 * normalises along the last axis alone. */
START_TEST(softmax_opset_semantics) {
    const int64_t opset = _i == 0 ? 13 : 11;
    mb b;
    mb_init(&b, opset);
    const int64_t xd[3] = {B, 2, 3};
    mb_input(&b, "x", 3, xd);
    mb_node(&b, "Softmax", "sm", "x", "y");
    mb_output(&b, "y", 3, xd);
    ptq_graph *g = load_ok(&b);
    mb_free(&b);
    ck_assert_int_eq(g->nodes[0].attrs.softmax_legacy, opset < 13);
    ck_assert_int_eq(g->nodes[0].attrs.axis, opset < 13 ? 1 : 2);
    const float x[6] = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f, -0.5f};
    int64_t n;
    float *y = test_run_graph(g, x, 1, &n);
    const int group = opset < 13 ? 6 : 3;
    for (int s = 0; s < 6; s += group) {
        double sum = 0.0;
        for (int k = 0; k < group; k++) sum += exp((double)x[s + k]);
        for (int k = 0; k < group; k++)
            ck_assert_msg(fabs(y[s + k] - exp((double)x[s + k]) / sum) < 1e-6, "opset %ld element %d",
                          (long)opset, s + k);
    }
    free(y);
    ptq_graph_free(g);
}
END_TEST

/* Identity is an alias and Constant a constant: neither leaves a node. */
START_TEST(identity_and_constant_folded) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[2] = {B, 3}, cd[1] = {3};
    const float cv[3] = {1.0f, -2.0f, 0.5f};
    mb_input(&b, "x", 2, xd);
    mb_node(&b, "Identity", "id1", "x", "x1");
    Onnx__NodeProto *c = mb_node(&b, "Constant", "const", "", "k");
    Onnx__AttributeProto *a = mb_attr(&b, c, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = mb_tensor(&b, "", PTQ_DTYPE_F32, 1, cd, cv);
    mb_node(&b, "Identity", "id2", "k", "k1");
    mb_node(&b, "Add", "add", "x1,k1", "y");
    mb_output(&b, "y", 2, xd);
    ptq_graph *g = load_ok(&b);
    mb_free(&b);
    ck_assert_int_eq(g->n_nodes, 1);
    const ptq_node *n = &g->nodes[0];
    ck_assert_uint_eq(n->op, PTQ_OP_ADD);
    ck_assert_int_eq(n->inputs[0], g->inputs[0]); /* the Identity read x itself */
    const ptq_value *k = &g->values[n->inputs[1]];
    ck_assert_ptr_nonnull(k->data);
    ck_assert_mem_eq(k->data->data, cv, sizeof cv);
    ptq_graph_free(g);
}
END_TEST

/* An Identity that produces a graph output becomes a copy, so the output keeps its name. */
START_TEST(identity_to_output_keeps_name) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[2] = {B, 4};
    mb_input(&b, "x", 2, xd);
    mb_node(&b, "Relu", "relu", "x", "r");
    mb_node(&b, "Identity", "id", "r", "probabilities");
    mb_output(&b, "probabilities", 2, xd);
    ptq_graph *g = load_ok(&b);
    mb_free(&b);
    ck_assert_str_eq(g->values[g->outputs[0]].name, "probabilities");
    expect_shape(g, g->outputs[0], "[N,4]");
    const float x[8] = {-1, 2, -3, 4, 5, -6, 7, -8};
    int64_t n;
    float *y = test_run_graph(g, x, 2, &n);
    for (int i = 0; i < 8; i++) ck_assert_float_eq(y[i], fmaxf(x[i], 0.0f));
    free(y);
    ptq_graph_free(g);
}
END_TEST

/* Clip (opset >= 11) takes its bounds as inputs; constant ones become attributes.  An
 * omitted bound ("" input) stays infinite. */
START_TEST(clip_bounds_from_initializers) {
    static const struct {
        const char *inputs;
        float lo, hi;
    } cases[] = {
        {"x,lo,hi", -0.5f, 0.75f},
        {"x,lo", -0.5f, INFINITY},
        {"x,,hi", -INFINITY, 0.75f},
        {"x", -INFINITY, INFINITY},
    };
    for (size_t i = 0; i < PTQ_COUNTOF(cases); i++) {
        mb b;
        mb_init(&b, 13);
        const int64_t xd[2] = {B, 4};
        const float lo = -0.5f, hi = 0.75f;
        mb_input(&b, "x", 2, xd);
        mb_init_f32(&b, "lo", 0, NULL, &lo);
        mb_init_f32(&b, "hi", 0, NULL, &hi);
        mb_node(&b, "Clip", "clip", cases[i].inputs, "y");
        mb_output(&b, "y", 2, xd);
        ptq_graph *g = load_ok(&b);
        mb_free(&b);
        ck_assert_int_eq(g->n_nodes, 1);
        const ptq_node *n = &g->nodes[0];
        ck_assert_int_eq(n->n_inputs, 1);
        ck_assert_float_eq(n->attrs.clip_min, cases[i].lo);
        ck_assert_float_eq(n->attrs.clip_max, cases[i].hi);
        const float x[4] = {-2.0f, -0.25f, 0.5f, 3.0f};
        int64_t cnt;
        float *y = test_run_graph(g, x, 1, &cnt);
        for (int k = 0; k < 4; k++)
            ck_assert_float_eq(y[k], fminf(fmaxf(x[k], cases[i].lo), cases[i].hi));
        free(y);
        ptq_graph_free(g);
    }
}
END_TEST

/* A graph input that must be constant (Reshape's shape) can be bound at import. */
START_TEST(bind_input_as_constant) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[2] = {B, 6}, sd[1] = {3};
    mb_input(&b, "x", 2, xd);
    b.graph.input[b.graph.n_input++] = mb_value_info(&b, "shape", PTQ_DTYPE_I64, 1, sd);
    mb_node(&b, "Reshape", "reshape", "x,shape", "y");
    mb_output(&b, "y", 3, (int64_t[]){B, 2, 3});
    /* Unbound, the shape is an int64 run-time input: refused. */
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("'shape'", "int64"));
    ptq_error err = {0};
    int64_t dims[1] = {3};
    ptq_tensor *shape = ptq_tensor_new(PTQ_DTYPE_I64, 1, dims, &err);
    const int64_t sv[3] = {0, 2, 3};
    memcpy(shape->data, sv, sizeof sv);
    const char *names[1] = {"shape"};
    const ptq_tensor *vals[1] = {shape};
    ptq_import_options opts = {.n_bind = 1, .bind_names = names, .bind_values = vals};
    ptq_graph *g = mb_load_opts(&b, &opts, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_int_eq(g->n_inputs, 1);
    expect_shape(g, g->outputs[0], "[N,2,3]");
    ptq_graph_free(g);
    ptq_tensor_free(shape);
    mb_free(&b);
}
END_TEST

/* Before IR version 4, initializers were also listed as graph inputs: they stay
 * constants and are not run-time inputs. */
START_TEST(initializer_listed_as_input) {
    mb b;
    mb_init(&b, 9);
    b.model.ir_version = 3;
    const int64_t xd[2] = {B, 3}, kd[1] = {3};
    const float kv[3] = {1, 2, 3};
    mb_input(&b, "x", 2, xd);
    mb_input(&b, "k", 1, kd);
    mb_init_f32(&b, "k", 1, kd, kv);
    mb_node(&b, "Mul", "mul", "x,k", "y");
    mb_output(&b, "y", 2, xd);
    ptq_graph *g = load_ok(&b);
    mb_free(&b);
    ck_assert_int_eq(g->n_inputs, 1);
    ck_assert_str_eq(g->values[g->inputs[0]].name, "x");
    ck_assert_ptr_nonnull(g->values[ptq_graph_find_value(g, "k")].data);
    ptq_graph_free(g);
}
END_TEST

/* ============================================================ refusals ====== */

/* Every unsupported op type is listed at once, each with the first node using it. */
START_TEST(unsupported_ops_all_listed) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[2] = {B, 4};
    mb_input(&b, "x", 2, xd);
    mb_node(&b, "Foo", "foo_first", "x", "a");
    mb_node(&b, "Relu", "relu", "a", "b");
    mb_node(&b, "Foo", "foo_second", "b", "c");
    mb_node(&b, "LSTM", "lstm_node", "c", "y");
    mb_output(&b, "y", 2, xd);
    ptq_error err = {0};
    ck_assert_ptr_null(mb_load(&b, &err));
    ck_assert_int_eq(err.status, PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(err.msg, "Foo") && test_contains(err.msg, "'foo_first'") &&
                      test_contains(err.msg, "LSTM") && test_contains(err.msg, "'lstm_node'") &&
                      test_contains(err.msg, "2 unsupported"),
                  "%s", err.msg);
    ck_assert_msg(!test_contains(err.msg, "foo_second"), "%s", err.msg);
    /* An op of another domain is unsupported even if its name is an ONNX op's. */
    Onnx__NodeProto *n = b.graph.node[1];
    n->domain = mb_str(&b, "com.example");
    ptq_error e2 = {0};
    ck_assert_ptr_null(mb_load(&b, &e2));
    ck_assert_msg(test_contains(e2.msg, "com.example.Relu") && test_contains(e2.msg, "3 unsupported"),
                  "%s", e2.msg);
    mb_free(&b);
}
END_TEST

START_TEST(opset_out_of_range) {
    mb b;
    mb_init(&b, 22);
    const int64_t xd[2] = {B, 4};
    mb_input(&b, "x", 2, xd);
    mb_node(&b, "Relu", "relu", "x", "y");
    mb_output(&b, "y", 2, xd);
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("opset 22"));
    b.opset.version = 0;
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("opset 0"));
    b.opset.version = 21; /* the newest supported */
    ptq_graph *g = load_ok(&b);
    ptq_graph_free(g);
    /* Only another domain's opset: no default one. */
    b.opset.domain = mb_str(&b, "ai.onnx.ml");
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("opset"));
    mb_free(&b);
}
END_TEST

/* An attribute the importer does not know could change what the node computes. */
START_TEST(unknown_attribute_refused) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[4] = {B, 1, 4, 4}, wd[4] = {1, 1, 1, 1};
    mb_input(&b, "x", 4, xd);
    mb_init_f32(&b, "w", 4, wd, NULL);
    Onnx__NodeProto *n = mb_node(&b, "Conv", "my_conv", "x,w", "y");
    mb_attr_int(&b, n, "frobnicate", 1);
    mb_output(&b, "y", 4, xd);
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("'my_conv'", "'frobnicate'"));
    /* The same on an op without attributes. */
    n->op_type = mb_str(&b, "Relu");
    n->n_input = 1;
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("'my_conv'", "'frobnicate'"));
    /* A node without a name is named after its op type in messages. */
    n->name = mb_str(&b, "");
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("'Relu_0'", "'frobnicate'"));
    /* A known attribute of the wrong type. */
    n->op_type = mb_str(&b, "Conv");
    n->name = mb_str(&b, "my_conv");
    n->n_input = 2;
    n->attribute[0]->name = mb_str(&b, "group");
    n->attribute[0]->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'my_conv'", "'group'", "int"));
    mb_free(&b);
}
END_TEST

/* Only axis 0 may be symbolic. */
START_TEST(dynamic_non_batch_dim_refused) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[4] = {B, 1, SYM_H, 4};
    mb_input(&b, "image", 4, xd);
    mb_node(&b, "Relu", "relu", "image", "y");
    mb_output(&b, "y", 4, xd);
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("'image'", "symbolic dim H", "axis 2", "input_shape"));
    mb_free(&b);
}
END_TEST

/* x [N, 3, height, width] -> Conv(3->2, 3x3, stride 2, pad 1) -> Relu -> y: a detector's
 * input in miniature. */
static void symbolic_hw_model(mb *b) {
    mb_init(b, 13);
    const int64_t xd[4] = {B, 3, SYM_H, SYM_H}, wd[4] = {2, 3, 3, 3};
    mb_input(b, "x", 4, xd);
    Onnx__TensorShapeProto *sh = b->graph.input[0]->type->tensor_type->shape;
    sh->dim[2]->dim_param = mb_str(b, "height");
    sh->dim[3]->dim_param = mb_str(b, "width");
    mb_init_f32(b, "w", 4, wd, NULL);
    Onnx__NodeProto *conv = mb_node(b, "Conv", "conv", "x,w", "c");
    const int64_t k[2] = {3, 3}, st[2] = {2, 2}, pads[4] = {1, 1, 1, 1};
    mb_attr_ints(b, conv, "kernel_shape", 2, k);
    mb_attr_ints(b, conv, "strides", 2, st);
    mb_attr_ints(b, conv, "pads", 4, pads);
    mb_node(b, "Relu", "relu", "c", "y");
    const int64_t yd[4] = {B, 2, SYM_H, SYM_H};
    mb_output(b, "y", 4, yd);
}

static void expect_out_shape(mb *b, int32_t n, const int64_t *shape, const int64_t *want) {
    ptq_error err = {0};
    ptq_import_options o = {.input_ndim = n, .input_shape = shape};
    ptq_graph *g = mb_load_opts(b, &o, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    const ptq_value *y = &g->values[g->outputs[0]];
    ck_assert_int_eq(y->ndim, 4);
    for (int d = 0; d < 4; d++) ck_assert_int_eq(y->ne[d], want[d]);
    ck_assert_int_eq(g->values[g->inputs[0]].ne[0], B); /* the batch stays dynamic */
    /* and it runs at that size */
    const int64_t numel = 3 * g->values[g->inputs[0]].ne[2] * g->values[g->inputs[0]].ne[3];
    float *x = calloc((size_t)numel * 2, sizeof *x);
    int64_t got = 0;
    float *out = test_run_graph(g, x, 2, &got);
    ck_assert_int_eq(got, 2 * want[1] * want[2] * want[3]);
    free(out);
    free(x);
    ptq_graph_free(g);
}

START_TEST(input_shape_override) {
    mb b;
    symbolic_hw_model(&b);
    /* C, H, W; then N, C, H, W (a given batch leaves it dynamic; 0 keeps the model's C) */
    const int64_t chw[3] = {3, 8, 6}, nchw[4] = {1, 0, 15, 10};
    expect_out_shape(&b, 3, chw, (const int64_t[]){B, 2, 4, 3});
    expect_out_shape(&b, 4, nchw, (const int64_t[]){B, 2, 8, 5});
    /* without one: both dims named, with the fix */
    mb_refused(&b, PTQ_ERR_UNSUPPORTED,
               WHAT("input 'x' has symbolic dims height, width (axes 2, 3)", "input_shape"));
    /* a given dim that contradicts a static one, and a wrong rank */
    ptq_error err = {0};
    const int64_t bad_c[3] = {4, 8, 8}, two[2] = {8, 8};
    ptq_import_options o = {.input_ndim = 3, .input_shape = bad_c};
    ck_assert_ptr_null(mb_load_opts(&b, &o, &err));
    ck_assert_msg(test_contains(err.msg, "input 'x': axis 1 is 3 in the model") &&
                  test_contains(err.msg, "makes it 4"), "%s", err.msg);
    o = (ptq_import_options){.input_ndim = 2, .input_shape = two};
    err = (ptq_error){0};
    ck_assert_ptr_null(mb_load_opts(&b, &o, &err));
    ck_assert_msg(test_contains(err.msg, "rank 4") && test_contains(err.msg, "2 dims"), "%s", err.msg);
    /* the peek */
    size_t len = 0;
    uint8_t *buf = mb_pack(&b, &len);
    const char *path = test_write_temp(buf, len, ".onnx");
    free(buf);
    ptq_input_info info;
    err = (ptq_error){0};
    ck_assert_int_eq(ptq_onnx_input_info(path, &info, &err), PTQ_OK);
    ck_assert_str_eq(info.name, "x");
    ck_assert_int_eq(info.ndim, 4);
    ck_assert_int_eq(info.ne[0], -1);
    ck_assert_int_eq(info.ne[1], 3);
    ck_assert_int_eq(info.ne[2], -1);
    ck_assert_str_eq(info.dim_name[3], "width");
    ck_assert_int_eq(info.n_symbolic, 2);
    ck_assert_int_ne(ptq_onnx_input_info("/nonexistent.onnx", &info, &err), PTQ_OK);
    ck_assert_msg(test_contains(err.msg, "/nonexistent.onnx"), "%s", err.msg);
    mb_free(&b);
}
END_TEST

/* ============================================================ malformed ====== */

START_TEST(empty_and_garbage_buffers) {
    ptq_error err = {0};
    const uint8_t one = 0;
    ck_assert_ptr_null(ptq_onnx_load_buffer(&one, 0, "empty.onnx", NULL, &err));
    ck_assert_int_eq(err.status, PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "empty.onnx"), "%s", err.msg);
    /* Random bytes, many lengths and seeds: never a crash, never a graph. */
    test_rng r = {0xBAD};
    uint8_t buf[600];
    for (int i = 0; i < 300; i++) {
        size_t len = (size_t)test_rng_int(&r, 1, sizeof buf);
        for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)test_rng_next(&r);
        ptq_error e = {0};
        ptq_graph *g = ptq_onnx_load_buffer(buf, len, "garbage.onnx", NULL, &e);
        ck_assert_msg(g == NULL, "garbage %d loaded", i);
        ck_assert_msg(e.status != PTQ_OK && test_contains(e.msg, "garbage.onnx"), "%d: %s", i, e.msg);
    }
}
END_TEST

/* A valid model cut at every length: every prefix is refused with a message. */
START_TEST(truncated_model) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[4] = {B, 2, 4, 4}, wd[4] = {3, 2, 3, 3}, cd[1] = {3};
    mb_input(&b, "x", 4, xd);
    mb_init_f32(&b, "w", 4, wd, NULL);
    mb_init_f32(&b, "b", 1, cd, NULL);
    Onnx__NodeProto *n = mb_node(&b, "Conv", "conv", "x,w,b", "c");
    mb_attr_ints(&b, n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    mb_node(&b, "Relu", "relu", "c", "y");
    mb_output(&b, "y", 4, (int64_t[]){B, 3, 4, 4});
    size_t len;
    uint8_t *full = mb_pack(&b, &len);
    mb_free(&b);
    ptq_error ok = {0};
    ptq_graph *g = ptq_onnx_load_buffer(full, len, "full.onnx", NULL, &ok);
    ck_assert_msg(g != NULL, "%s", ok.msg);
    ptq_graph_free(g);
    for (size_t cut = 0; cut < len; cut++) {
        /* A copy of exactly `cut` bytes, so the sanitizers see any over-read. */
        uint8_t *part = malloc(cut + 1);
        memcpy(part, full, cut);
        ptq_error err = {0};
        g = ptq_onnx_load_buffer(part, cut, "cut.onnx", NULL, &err);
        ck_assert_msg(g == NULL, "the model cut at %zu of %zu bytes loaded", cut, len);
        ck_assert_msg(err.status != PTQ_OK && test_contains(err.msg, "cut.onnx"), "cut %zu: %s",
                      cut, err.msg);
        free(part);
    }
    free(full);
}
END_TEST

START_TEST(undefined_input_named) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[2] = {B, 4};
    mb_input(&b, "x", 2, xd);
    mb_node(&b, "Relu", "relu", "x", "r");
    mb_node(&b, "Add", "adder", "r,ghost_tensor", "y");
    mb_output(&b, "y", 2, xd);
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'adder'", "'ghost_tensor'"));
    mb_free(&b);
}
END_TEST

START_TEST(cycle_refused) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[2] = {B, 4};
    mb_input(&b, "x", 2, xd);
    mb_node(&b, "Add", "a", "x,q", "p");
    mb_node(&b, "Relu", "b", "p", "q");
    mb_output(&b, "q", 2, xd);
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("cycle"));
    mb_free(&b);
}
END_TEST

/* An initializer whose dims claim 2^40 elements (or 2^30, within the element limit)
 * with a few bytes of data: refused before anything that size is allocated. */
START_TEST(absurd_initializer) {
    static const int64_t claims[][2] = {{(int64_t)1 << 20, (int64_t)1 << 20},
                                        {(int64_t)1 << 15, (int64_t)1 << 15}};
    test_limit_address_space((size_t)512 << 20);
    for (int raw = 0; raw < 2; raw++)
        for (size_t i = 0; i < 2; i++) {
            mb b;
            mb_init(&b, 13);
            const int64_t xd[2] = {B, 4}, small[2] = {2, 2};
            mb_input(&b, "x", 2, xd);
            Onnx__TensorProto *t = mb_init_f32(&b, "huge", 2, small, NULL);
            t->dims[0] = claims[i][0];
            t->dims[1] = claims[i][1];
            if (raw) { /* the same claim with 16 bytes of raw_data */
                t->n_float_data = 0;
                t->has_raw_data = 1;
                t->raw_data.len = 16;
                t->raw_data.data = mb_alloc(&b, 16);
            }
            mb_node(&b, "Add", "add", "x,huge", "y");
            mb_output(&b, "y", 2, xd);
            mb_refused(&b, PTQ_ERR_INVALID, WHAT("'huge'"));
            mb_free(&b);
        }
}
END_TEST

/* An initializer with fewer values than its dims need. */
START_TEST(short_initializer) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[2] = {B, 4}, cd[1] = {4};
    mb_input(&b, "x", 2, xd);
    Onnx__TensorProto *t = mb_init_f32(&b, "k", 1, cd, NULL);
    t->n_float_data = 3;
    mb_node(&b, "Add", "add", "x,k", "y");
    mb_output(&b, "y", 2, xd);
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'k'", "4 elements"));
    /* An unsupported element type (double). */
    t->n_float_data = 4;
    t->data_type = 11;
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("'k'", "double"));
    mb_free(&b);
}
END_TEST

START_TEST(declared_shape_mismatch) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[4] = {B, 3, 4, 4};
    mb_input(&b, "x", 4, xd);
    mb_node(&b, "GlobalAveragePool", "gap", "x", "y");
    mb_output(&b, "y", 4, (int64_t[]){B, 3, 2, 1}); /* the pool gives [N,3,1,1] */
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'y'", "[N,3,2,1]", "[N,3,1,1]"));
    /* A wrong rank, and an inner value_info that disagrees. */
    b.graph.output[0] = mb_value_info(&b, "y", PTQ_DTYPE_F32, 2, (int64_t[]){B, 3});
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'y'"));
    b.graph.output[0] = mb_value_info(&b, "y", PTQ_DTYPE_F32, 4, (int64_t[]){B, 3, 1, 1});
    mb_node(&b, "Relu", "relu", "y", "z");
    b.graph.value_info[b.graph.n_value_info++] =
        mb_value_info(&b, "y", PTQ_DTYPE_F32, 4, (int64_t[]){B, 5, 1, 1});
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'y'", "inconsistent"));
    mb_free(&b);
}
END_TEST

START_TEST(structural_problems) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[2] = {B, 4};
    mb_input(&b, "x", 2, xd);
    mb_node(&b, "Relu", "relu", "x", "y");
    /* No outputs. */
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("no outputs"));
    /* An output nothing computes. */
    mb_output(&b, "nowhere", 2, xd);
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'nowhere'"));
    b.graph.n_output = 0;
    mb_output(&b, "y", 2, xd);
    /* Two nodes writing the same value. */
    mb_node(&b, "Sigmoid", "sig", "x", "y");
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'y'"));
    b.graph.n_node = 1;
    /* A model without a graph. */
    b.model.graph = NULL;
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("no graph"));
    b.model.graph = &b.graph;
    ptq_graph *g = load_ok(&b);
    ptq_graph_free(g);
    mb_free(&b);
}
END_TEST

START_TEST(missing_file) {
    ptq_error err = {0};
    const char *path = "/nonexistent/dir/model_that_is_not_there.onnx";
    ck_assert_ptr_null(ptq_onnx_load(path, NULL, &err));
    ck_assert_int_eq(err.status, PTQ_ERR_IO);
    ck_assert_msg(test_contains(err.msg, path), "%s", err.msg);
    /* A file that exists but is not ONNX names itself too. */
    const char *junk = test_write_temp("not a model", 11, ".onnx");
    ptq_error e2 = {0};
    ck_assert_ptr_null(ptq_onnx_load(junk, NULL, &e2));
    ck_assert_int_eq(e2.status, PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(e2.msg, junk), "%s", e2.msg);
}
END_TEST

/* A serialized TensorProto file (the ONNX test cases' .pb) round-trips. */
START_TEST(load_tensor_file) {
    mb b;
    mb_init(&b, 13);
    const int64_t dims[2] = {2, 3};
    const float v[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    Onnx__TensorProto *t = mb_tensor(&b, "t", PTQ_DTYPE_F32, 2, dims, v);
    size_t len = onnx__tensor_proto__get_packed_size(t);
    uint8_t *buf = malloc(len + 1);
    onnx__tensor_proto__pack(t, buf);
    const char *path = test_write_temp(buf, len, ".pb");
    free(buf);
    mb_free(&b);
    ptq_error err = {0};
    ptq_tensor *r = ptq_onnx_load_tensor(path, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(r->ndim, 2);
    ck_assert_int_eq(r->ne[1], 3);
    ck_assert_mem_eq(r->data, v, sizeof v);
    ptq_tensor_free(r);
    const uint8_t junk[5] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    const char *bad = test_write_temp(junk, sizeof junk, ".pb");
    ptq_error e2 = {0};
    ck_assert_ptr_null(ptq_onnx_load_tensor(bad, &e2));
    ck_assert_int_eq(e2.status, PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(e2.msg, bad), "%s", e2.msg);
}
END_TEST

/* ========================================================== bundled models ====== */

/* "params": N from the model's .json, or -1 if it has none. */
static int64_t json_params(const char *onnx_path) {
    char path[1024];
    snprintf(path, sizeof path, "%.*s.json", (int)(strlen(onnx_path) - 5), onnx_path);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s next to the model", path);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strstr(text, "\"params\"");
    if (!p) return -1;
    p = strchr(p, ':');
    ck_assert_ptr_nonnull(p);
    return strtoll(p + 1, NULL, 10);
}

START_TEST(bundled_models) {
    glob_t gl;
    ck_assert_int_eq(glob(PTQ_SOURCE_DIR "/models/*.onnx", 0, NULL, &gl), 0);
    ck_assert_uint_ge(gl.gl_pathc, 3);
    int checked = 0;
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        const char *path = gl.gl_pathv[i];
        ptq_error err = {0};
        ptq_graph *g = ptq_onnx_load(path, NULL, &err);
        ck_assert_msg(g != NULL, "%s", err.msg);
        ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_OK);
        ck_assert_int_eq(g->n_inputs, 1);
        ck_assert_int_eq(g->n_outputs, 1);
        char b1[160], b2[160];
        const ptq_value *in = &g->values[g->inputs[0]], *out = &g->values[g->outputs[0]];
        ck_assert_msg(!strcmp(ptq_shape_str(in->ndim, in->ne, b1, sizeof b1), "[N,1,28,28]"),
                      "%s: input %s", path, b1);
        ck_assert_msg(!strcmp(ptq_shape_str(out->ndim, out->ne, b2, sizeof b2), "[N,10]"),
                      "%s: output %s", path, b2);
        const int64_t want = json_params(path);
        if (want >= 0) {
            ck_assert_msg(ptq_graph_param_count(g) == want, "%s: %ld parameters, json says %ld",
                          path, (long)ptq_graph_param_count(g), (long)want);
            checked++;
        }
        /* The numbers the models' README lists. */
        const char *base = strrchr(path, '/') + 1;
        if (!strcmp(base, "resnet20_fmnist.onnx")) ck_assert_int_eq(want, 272186);
        if (!strcmp(base, "mobilenetv2_fmnist.onnx")) ck_assert_int_eq(want, 105290);
        if (!strcmp(base, "vgg7_fmnist.onnx")) ck_assert_int_eq(want, 436906);
        /* resnet20imb's .json has no count; the README gives resnet20's (same function,
         * same tensors rescaled). */
        if (!strcmp(base, "resnet20imb_fmnist.onnx")) {
            ck_assert_int_eq(ptq_graph_param_count(g), 272186);
            checked++;
        }
        /* And it runs: two blank images give finite logits. */
        float x[2 * 28 * 28] = {0};
        int64_t n;
        float *y = test_run_graph(g, x, 2, &n);
        ck_assert_int_eq(n, 20);
        for (int k = 0; k < 20; k++) ck_assert_msg(isfinite(y[k]), "%s: logit %d", path, k);
        free(y);
        ptq_graph_free(g);
    }
    ck_assert_int_ge(checked, 4);
    globfree(&gl);
}
END_TEST

/* ---- elementwise, comparison and reduction ops ---- */

/* PyTorch's export of cls.expand(x.size(0), -1, -1): the target shape holds the batch
 * size, Equal(shape, -1) is decided without its value (a size is >= 1), Where selects it,
 * and Expand gets a static target with the batch symbol in it. */
START_TEST(pytorch_expand_pattern) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[3] = {B, 4, 3}, cd[3] = {1, 1, 3}, one[1] = {1}, three[1] = {3};
    const int64_t zero = 0, m1 = -1;
    const float cls[3] = {0.5f, -1.0f, 2.0f};
    mb_input(&b, "x", 3, xd);
    mb_init_f32(&b, "cls", 3, cd, cls);
    mb_init_i64(&b, "zero", 0, NULL, &zero);
    mb_init_i64(&b, "axes0", 1, one, &zero);
    mb_init_i64(&b, "m1", 1, one, &m1);
    mb_init_i64(&b, "m1s", 0, NULL, &m1);
    mb_node(&b, "Shape", "", "x", "s");
    mb_node(&b, "Gather", "", "s,zero", "n");
    mb_node(&b, "Unsqueeze", "", "n,axes0", "n1");
    mb_attr_int(&b, mb_node(&b, "Concat", "", "n1,m1,m1", "target"), "axis", 0);
    mb_node(&b, "Shape", "", "target", "tlen");
    Onnx__NodeProto *cs = mb_node(&b, "ConstantOfShape", "", "tlen", "ones");
    mb_attr(&b, cs, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t =
        mb_tensor(&b, "", PTQ_DTYPE_I64, 1, one, (int64_t[]){1});
    mb_node(&b, "Equal", "", "target,m1s", "is_m1");
    mb_node(&b, "Where", "", "is_m1,ones,target", "shape");
    mb_node(&b, "Expand", "expand", "cls,shape", "c");
    mb_attr_int(&b, mb_node(&b, "Concat", "cat", "c,x", "y"), "axis", 1);
    mb_output(&b, "y", 3, (int64_t[]){B, 5, 3});
    (void)three;
    ptq_graph *g = load_ok(&b);
    mb_free(&b);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_EXPAND), 1);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_WHERE) + test_count_op(g, PTQ_OP_EQUAL), 0);
    expect_shape(g, g->outputs[0], "[N,5,3]");
    float x[2 * 12];
    test_rng r = {21};
    test_fill_uniform(&r, x, 24, -1.0f, 1.0f);
    int64_t n;
    float *y = test_run_graph(g, x, 2, &n);
    ck_assert_int_eq(n, 30);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 15; i++)
            ck_assert_float_eq(y[s * 15 + i], i < 3 ? cls[i] : x[s * 12 + i - 3]);
    free(y);
    ptq_graph_free(g);
}
END_TEST

/* PyTorch's local-attention mask: pos = arange(T); far = (pos[None] - pos[:, None])^2 > 4
 * folds as 2-D integer arithmetic; full_like(scores, -1e4) is a ConstantOfShape of the
 * scores' shape, which holds the batch size, so it runs as an Expand of its value; Where
 * picks per element. */
START_TEST(attention_mask_pattern) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[3] = {B, 5, 5}, one[1] = {1};
    const int64_t zero = 0, five = 5, step = 1, four = 4, axes0 = 0, axes1 = 1;
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "zero", 0, NULL, &zero);
    mb_init_i64(&b, "five", 0, NULL, &five);
    mb_init_i64(&b, "step", 0, NULL, &step);
    mb_init_i64(&b, "four", 0, NULL, &four);
    mb_init_i64(&b, "ax0", 1, one, &axes0);
    mb_init_i64(&b, "ax1", 1, one, &axes1);
    mb_node(&b, "Range", "", "zero,five,step", "pos");
    mb_node(&b, "Unsqueeze", "", "pos,ax0", "row");  /* [1, 5] */
    mb_node(&b, "Unsqueeze", "", "pos,ax1", "col");  /* [5, 1] */
    mb_node(&b, "Sub", "", "row,col", "dist");       /* [5, 5], integer broadcast */
    mb_node(&b, "Mul", "", "dist,dist", "d2");
    mb_node(&b, "Greater", "", "d2,four", "far");
    mb_node(&b, "Shape", "", "x", "xs");
    Onnx__NodeProto *cs = mb_node(&b, "ConstantOfShape", "full", "xs", "fill");
    mb_attr(&b, cs, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t =
        mb_tensor(&b, "", PTQ_DTYPE_F32, 1, one, (float[]){-1e4f});
    mb_node(&b, "Where", "mask", "far,fill,x", "y");
    mb_output(&b, "y", 3, xd);
    ptq_graph *g = load_ok(&b);
    mb_free(&b);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_EXPAND), 1);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_WHERE), 1);
    expect_shape(g, g->outputs[0], "[N,5,5]");
    float x[2 * 25];
    test_rng r = {7};
    test_fill_uniform(&r, x, 50, -1.0f, 1.0f);
    int64_t n;
    float *y = test_run_graph(g, x, 2, &n);
    ck_assert_int_eq(n, 50);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
                ck_assert_float_eq(y[s * 25 + i * 5 + j],
                                   (j - i) * (j - i) > 4 ? -1e4f : x[s * 25 + i * 5 + j]);
    free(y);
    ptq_graph_free(g);
}
END_TEST

/* Shape values through float and back: Cast, Div, Floor, Ceil, Range, Min, Max, Neg fold;
 * the batch size may not be computed with. */
START_TEST(shape_float_round_trip_folded) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[3] = {B, 4, 5}, one[1] = {1};
    const int64_t two = 2, zero = 0, step = 1;
    const float half = 2.0f;
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "two", 0, NULL, &two);
    mb_init_i64(&b, "zero", 0, NULL, &zero);
    mb_init_i64(&b, "step", 0, NULL, &step);
    mb_init_f32(&b, "half", 0, NULL, &half);
    mb_node(&b, "Shape", "", "x", "s");
    mb_node(&b, "Gather", "", "s,two", "w");                     /* 5 */
    mb_attr_int(&b, mb_node(&b, "Cast", "", "w", "wf"), "to", 1);
    mb_node(&b, "Div", "", "wf,half", "hf");                     /* 2.5 */
    mb_node(&b, "Floor", "", "hf", "fl");                        /* 2 */
    mb_node(&b, "Ceil", "", "hf", "ce");                         /* 3 */
    mb_attr_int(&b, mb_node(&b, "Cast", "", "fl", "fi"), "to", 7);
    mb_attr_int(&b, mb_node(&b, "Cast", "", "ce", "ci"), "to", 7);
    mb_node(&b, "Min", "", "fi,ci", "lo");                       /* 2 */
    mb_node(&b, "Max", "", "fi,ci,zero", "hi");                  /* 3 */
    mb_node(&b, "Neg", "", "lo", "neg");                         /* -2 */
    mb_node(&b, "Add", "", "hi,neg", "len");                     /* 1 */
    mb_node(&b, "Range", "", "zero,hi,step", "idx");             /* [0, 1, 2] */
    mb_attr_int(&b, mb_node(&b, "Gather", "g", "x,idx", "y0"), "axis", 2);
    mb_node(&b, "Unsqueeze", "", "len,zero", "len1");
    (void)one;
    mb_attr_int(&b, mb_node(&b, "Gather", "g2", "y0,len1", "y"), "axis", 1);
    mb_output(&b, "y", 3, (int64_t[]){B, 1, 3});
    ptq_graph *g = load_ok(&b);
    expect_shape(g, g->outputs[0], "[N,1,3]");
    ptq_graph_free(g);
    /* Casting the batch size to float is refused, naming the node. */
    b.graph.node[1]->input[1] = mb_str(&b, "zero");
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("batch size"));
    mb_free(&b);
}
END_TEST

/* Attributes are checked against the model's opset, and errors name node and attribute. */
START_TEST(math_attributes_checked) {
    const int64_t xd[3] = {B, 4, 6}, one[1] = {1}, axes = -1;
    mb b;
    /* Reduce axes: an attribute before 18, an input from 18 (ReduceSum: from 13). */
    for (int k = 0; k < 4; k++) {
        const int64_t opset = k % 2 ? 18 : 13;
        const char *op = k < 2 ? "ReduceMean" : "ReduceSum";
        const bool input_form = opset >= 18 || k >= 2;
        mb_init(&b, opset);
        mb_input(&b, "x", 3, xd);
        mb_init_i64(&b, "axes", 1, one, &axes);
        /* Both forms at once: the one of the other opsets is refused. */
        Onnx__NodeProto *n = mb_node(&b, op, "red", "x,axes", "y");
        mb_attr_ints(&b, n, "axes", 1, &axes);
        mb_output(&b, "y", 3, (int64_t[]){B, 4, 1});
        mb_refused(&b, input_form ? PTQ_ERR_UNSUPPORTED : PTQ_ERR_INVALID,
                   input_form ? WHAT("'red'", "'axes'") : WHAT("'red'", "axes"));
        /* The right form loads. */
        if (input_form) n->n_attribute = 0;
        else n->n_input = 1;
        ptq_graph *g = load_ok(&b);
        expect_shape(g, g->outputs[0], "[N,4,1]");
        ptq_graph_free(g);
        mb_free(&b);
    }
    /* LayerNormalization: opset 17, stash_type 1 only, Mean/InvStdDev not read. */
    mb_init(&b, 17);
    mb_input(&b, "x", 3, xd);
    mb_init_f32(&b, "w", 1, (int64_t[]){6}, NULL);
    Onnx__NodeProto *ln = mb_node(&b, "LayerNormalization", "ln", "x,w", "y,mean");
    mb_attr_int(&b, ln, "stash_type", 0);
    mb_output(&b, "y", 3, xd);
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("'ln'", "stash_type"));
    ln->n_attribute = 0;
    ptq_graph *g = load_ok(&b); /* mean is named but nothing reads it */
    ck_assert_int_eq(test_count_op(g, PTQ_OP_LAYER_NORM), 1);
    ptq_graph_free(g);
    mb_node(&b, "Relu", "reader", "mean", "z");
    mb_output(&b, "z", 3, (int64_t[]){B, 4, 1});
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("'ln'", "'mean'", "Mean"));
    b.graph.n_node = 1;
    b.graph.n_output = 1;
    b.opset.version = 16;
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'ln'", "opset 17"));
    mb_free(&b);
    /* Cast: `to` is required, and float16 is refused. */
    mb_init(&b, 13);
    mb_input(&b, "x", 3, xd);
    Onnx__NodeProto *c = mb_node(&b, "Cast", "cast", "x", "y");
    mb_output(&b, "y", 3, xd);
    mb_refused(&b, PTQ_ERR_INVALID, WHAT("'cast'", "'to'"));
    mb_attr_int(&b, c, "to", 10);
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, WHAT("'cast'", "float16"));
    mb_free(&b);
}
END_TEST

/* The attention-style fixtures (tests/data/make_math_models.py): the LayerNorm pattern of
 * older exporters at opset 13 and LayerNormalization at opset 17 both give the outputs
 * numpy computed in float64. */
START_TEST(attention_fixture_matches_numpy) {
    const char *model = _i == 0 ? "math_attention13.onnx" : "math_attention17.onnx";
    char path[1024];
    ptq_error err = {0};
    snprintf(path, sizeof path, "%s/tests/data/%s", PTQ_SOURCE_DIR, model);
    ptq_graph *g = ptq_onnx_load(path, NULL, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    snprintf(path, sizeof path, "%s/tests/data/math_attention_x.npy", PTQ_SOURCE_DIR);
    ptq_tensor *x = ptq_npy_read(path, &err);
    snprintf(path, sizeof path, "%s/tests/data/math_attention_y.npy", PTQ_SOURCE_DIR);
    ptq_tensor *want = ptq_npy_read(path, &err);
    ck_assert_msg(x && want, "%s", err.msg);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_WHERE), 1);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_ERF), 1);
    /* Both LayerNorms are one op, fused from the pattern at opset 13. */
    ck_assert_int_eq(test_count_op(g, PTQ_OP_LAYER_NORM), 2);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_REDUCE_MEAN), 1);
    int64_t n;
    float *y = test_run_graph(g, x->data, x->ne[0], &n);
    ck_assert_int_eq(n, ptq_tensor_numel(want));
    const float *w = want->data;
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(y[i] - w[i]) <= 1e-5f + 1e-4f * fabsf(w[i]), "%s: y[%ld] = %.7g, numpy %.7g",
                      model, (long)i, (double)y[i], (double)w[i]);
    free(y);
    ptq_tensor_free(x);
    ptq_tensor_free(want);
    ptq_graph_free(g);
}
END_TEST

/* The LayerNormalization pattern of exporters before opset 17 (ReduceMean, Sub, Pow 2,
 * ReduceMean, Add eps, Sqrt, Div, Mul, Add) fuses into one LAYER_NORM when it is exactly
 * that; when an intermediate value is read elsewhere (here: a second output), it stays
 * nine ops, and both give the same values within float rounding. */
START_TEST(layer_norm_pattern_fused_or_not) {
    const int64_t xd[3] = {B, 3, 8}, wd[1] = {8}, one[1] = {1}, m1 = -1;
    float wv[8], bv[8];
    test_rng r = {31};
    test_fill_uniform(&r, wv, 8, 0.5f, 1.5f);
    test_fill_uniform(&r, bv, 8, -0.5f, 0.5f);
    float x[2 * 24];
    test_fill_uniform(&r, x, 48, -2.0f, 2.0f);
    float *y[2];
    for (int k = 0; k < 2; k++) {
        mb b;
        mb_init(&b, 13);
        mb_input(&b, "x", 3, xd);
        mb_init_f32(&b, "w", 1, wd, wv);
        mb_init_f32(&b, "b", 1, wd, bv);
        mb_init_f32(&b, "two", 0, NULL, (float[]){2.0f});
        mb_init_f32(&b, "eps", 0, NULL, (float[]){1e-5f});
        (void)one, (void)m1;
        mb_attr_ints(&b, mb_node(&b, "ReduceMean", "", "x", "m"), "axes", 1, &m1);
        mb_node(&b, "Sub", "", "x,m", "d");
        mb_node(&b, "Pow", "", "d,two", "d2");
        mb_attr_ints(&b, mb_node(&b, "ReduceMean", "", "d2", "v"), "axes", 1, &m1);
        mb_node(&b, "Add", "", "eps,v", "ve"); /* either operand order */
        mb_node(&b, "Sqrt", "", "ve", "s");
        mb_node(&b, "Div", "", "d,s", "xh");
        mb_node(&b, "Mul", "", "w,xh", "xs");
        mb_node(&b, "Add", "ln_out", "xs,b", "y");
        mb_output(&b, "y", 3, xd);
        if (k == 1) mb_output(&b, "m", 3, (int64_t[]){B, 3, 1});
        ptq_graph *g = load_ok(&b);
        mb_free(&b);
        ck_assert_int_eq(test_count_op(g, PTQ_OP_LAYER_NORM), k == 0);
        ck_assert_int_eq(test_count_op(g, PTQ_OP_REDUCE_MEAN), k == 0 ? 0 : 2);
        if (k == 0) ck_assert_int_eq(g->n_nodes, 1);
        int64_t n;
        y[k] = test_run_graph(g, x, 2, &n);
        ck_assert_int_eq(n, 48);
        ptq_graph_free(g);
    }
    /* Against a double reference, and fused against unfused. */
    for (int row = 0; row < 6; row++) {
        double mean = 0, var = 0;
        for (int i = 0; i < 8; i++) mean += x[row * 8 + i] / 8.0;
        for (int i = 0; i < 8; i++) var += (x[row * 8 + i] - mean) * (x[row * 8 + i] - mean) / 8.0;
        for (int i = 0; i < 8; i++) {
            const double want = (x[row * 8 + i] - mean) / sqrt(var + 1e-5) * wv[i] + bv[i];
            for (int k = 0; k < 2; k++)
                ck_assert_msg(fabs(y[k][row * 8 + i] - want) < 1e-5, "%s: %g vs %g",
                              k ? "unfused" : "fused", (double)y[k][row * 8 + i], want);
            ck_assert_msg(fabsf(y[0][row * 8 + i] - y[1][row * 8 + i]) <= 4e-7f * fmaxf(1.0f, fabsf(y[1][row * 8 + i])),
                          "fused %.9g vs unfused %.9g", (double)y[0][row * 8 + i], (double)y[1][row * 8 + i]);
        }
    }
    free(y[0]);
    free(y[1]);
}
END_TEST

/* LayerNormalization against the ONNX conformance data, output Y only: the conformance
 * cases also declare Mean and InvStdDev as graph outputs, which qcraft does not claim (so
 * tests/conformance/skips.txt names them); here those two are dropped from the model and
 * Y is compared, with the conformance tolerance, on every axis and epsilon case (data set
 * 0 of each). */
START_TEST(layer_norm_conformance_y) {
    const char *root = "/usr/share/libonnx-testdata/data/node";
    DIR *d = opendir(root);
    ck_assert_msg(d != NULL, "%s: libonnx-testdata is missing (a test dependency)", root);
    int cases = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "test_layer_normalization_", 25) || strstr(e->d_name, "expanded")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/model.onnx", root, e->d_name);
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        uint8_t buf[4096];
        const size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
        ck_assert_ptr_nonnull(m);
        const size_t n_out = m->graph->n_output;
        m->graph->n_output = 1; /* Y */
        uint8_t out[4096];
        ck_assert_uint_le(onnx__model_proto__get_packed_size(m), sizeof out);
        const size_t olen = onnx__model_proto__pack(m, out);
        m->graph->n_output = n_out; /* so that all of them are freed */
        onnx__model_proto__free_unpacked(m, NULL);
        ptq_error err = {0};
        ptq_graph *g = ptq_onnx_load_buffer(out, olen, e->d_name, NULL, &err);
        ck_assert_msg(g != NULL, "%s", err.msg);
        ptq_tensor *in[3], *want;
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%d.pb", root, e->d_name, k);
            in[k] = ptq_onnx_load_tensor(path, &err);
            ck_assert_msg(in[k] != NULL, "%s", err.msg);
        }
        snprintf(path, sizeof path, "%s/%s/test_data_set_0/output_0.pb", root, e->d_name);
        want = ptq_onnx_load_tensor(path, &err);
        ck_assert_msg(want != NULL, "%s", err.msg);
        ptq_exec_options eo = ptq_exec_options_default();
        eo.max_batch = 1;
        ptq_exec *ex = ptq_exec_new(g, &eo, &err);
        ck_assert_msg(ex != NULL, "%s", err.msg);
        for (int32_t i = 0; i < g->n_inputs; i++)
            for (int k = 0; k < 3; k++)
                if (!strcmp(g->values[g->inputs[i]].name, k == 0 ? "X" : k == 1 ? "W" : "B"))
                    ptq_exec_bind(ex, g->inputs[i], in[k]->data);
        ck_assert_msg(ptq_exec_run(ex, 1, &err) == PTQ_OK, "%s", err.msg);
        const float *y = ptq_exec_data(ex, g->outputs[0]), *w = want->data;
        for (int64_t i = 0; i < ptq_tensor_numel(want); i++)
            ck_assert_msg(fabsf(y[i] - w[i]) <= 1e-5f + 1e-4f * fabsf(w[i]), "%s: y[%ld] = %g, want %g",
                          e->d_name, (long)i, (double)y[i], (double)w[i]);
        ptq_exec_free(ex);
        for (int k = 0; k < 3; k++) ptq_tensor_free(in[k]);
        ptq_tensor_free(want);
        ptq_graph_free(g);
        cases++;
    }
    closedir(d);
    ck_assert_int_eq(cases, 19);
}
END_TEST

int main(void) {
    Suite *s = suite_create("import");
    TCase *tc = tcase_create("valid");
    tcase_add_test(tc, small_cnn_loads_and_runs);
    tcase_add_loop_test(tc, pytorch_flatten_folded, 0, 2);
    tcase_add_loop_test(tc, softmax_opset_semantics, 0, 2);
    tcase_add_test(tc, initializer_listed_as_input);
    tcase_add_test(tc, identity_and_constant_folded);
    tcase_add_test(tc, identity_to_output_keeps_name);
    tcase_add_test(tc, clip_bounds_from_initializers);
    tcase_add_test(tc, bind_input_as_constant);
    suite_add_tcase(s, tc);

    tc = tcase_create("refused");
    tcase_add_test(tc, unsupported_ops_all_listed);
    tcase_add_test(tc, opset_out_of_range);
    tcase_add_test(tc, unknown_attribute_refused);
    tcase_add_test(tc, dynamic_non_batch_dim_refused);
    tcase_add_test(tc, input_shape_override);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, empty_and_garbage_buffers);
    tcase_add_test(tc, truncated_model);
    tcase_add_test(tc, undefined_input_named);
    tcase_add_test(tc, cycle_refused);
    tcase_add_test(tc, absurd_initializer);
    tcase_add_test(tc, short_initializer);
    tcase_add_test(tc, declared_shape_mismatch);
    tcase_add_test(tc, structural_problems);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, load_tensor_file);
    suite_add_tcase(s, tc);

    /* ---- elementwise, comparison and reduction ops ---- */
    tc = tcase_create("math");
    tcase_add_test(tc, pytorch_expand_pattern);
    tcase_add_test(tc, attention_mask_pattern);
    tcase_add_test(tc, shape_float_round_trip_folded);
    tcase_add_test(tc, math_attributes_checked);
    tcase_add_loop_test(tc, attention_fixture_matches_numpy, 0, 2);
    tcase_add_test(tc, layer_norm_pattern_fused_or_not);
    tcase_add_test(tc, layer_norm_conformance_y);
    suite_add_tcase(s, tc);

    tc = tcase_create("bundled");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bundled_models);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
