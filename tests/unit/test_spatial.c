/* test_spatial.c — the spatial ops (Resize/Upsample, ConvTranspose, Slice, Split) end to
 * end: the fixture models of tests/data/make_spatial_models.py against the outputs
 * PyTorch/NumPy computed there, the importer's refusals (each naming the node and what is
 * wrong), constant folding, and a quantized model with a ConvTranspose -> BatchNormalization
 * (folded, per-output-channel weight quantizers on axis 1) exported as QDQ and read back.
 * The op kernels themselves are tested against references in test_kernels.c and
 * test_grad.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "onnx_builder.h"
#include "plugin/plugin.h" /* ptq_host_table */
#include "quant/session.h"

#define B PTQ_DIM_BATCH
#define DATA PTQ_SOURCE_DIR "/tests/data/"

static ptq_tensor *npy(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, DATA "%s", name);
    ptq_error err = {0};
    ptq_tensor *t = ptq_npy_read(path, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    return t;
}

/* Runs model `name` on the input x.npy and compares output k with want[k].npy. */
static void check_fixture(const char *model, const char *x_npy, const char *const *outs,
                          const char *const *want_npy, int n_out) {
    char path[1024];
    snprintf(path, sizeof path, DATA "%s", model);
    ptq_error err = {0};
    ptq_graph *g = ptq_onnx_load(path, NULL, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ptq_tensor *x = npy(x_npy);
    const int64_t batch = x->ne[0];
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = batch;
    ptq_exec *ex = ptq_exec_new(g, &eo, &err);
    ck_assert_msg(ex != NULL, "%s", err.msg);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x->data), PTQ_OK);
    ck_assert_msg(ptq_exec_run(ex, batch, &err) == PTQ_OK, "%s", err.msg);
    for (int k = 0; k < n_out; k++) {
        const int32_t id = ptq_graph_find_value(g, outs[k]);
        ck_assert_int_ge(id, 0);
        ptq_tensor *want = npy(want_npy[k]);
        int32_t nd;
        int64_t ne[PTQ_MAX_DIMS];
        ptq_exec_shape(ex, id, &nd, ne);
        ck_assert_int_eq(nd, want->ndim);
        for (int32_t d = 0; d < nd; d++) ck_assert_int_eq(ne[d], want->ne[d]);
        const float *got = ptq_exec_data(ex, id), *w = want->data;
        for (int64_t i = 0; i < ptq_tensor_numel(want); i++)
            ck_assert_msg(fabsf(got[i] - w[i]) <= 1e-5f + 1e-4f * fabsf(w[i]),
                          "%s output %s element %ld: %.8g, expected %.8g", model, outs[k],
                          (long)i, (double)got[i], (double)w[i]);
        ptq_tensor_free(want);
    }
    ptq_exec_free(ex);
    ptq_tensor_free(x);
    ptq_graph_free(g);
}

/* Opset 9: Upsample with its scales input, Slice with attributes. */
START_TEST(fixture_opset9) {
    const char *outs[] = {"y"}, *want[] = {"spatial_opset9_y.npy"};
    check_fixture("spatial_opset9.onnx", "spatial_opset9_x.npy", outs, want, 1);
}
END_TEST

/* Opset 13: ConvTranspose, Resize with sizes computed from Shape (the batch symbolic),
 * Split into two outputs, Resize with scales. */
START_TEST(fixture_opset13) {
    const char *outs[] = {"y0", "y1", "z"};
    const char *want[] = {"spatial_opset13_y0.npy", "spatial_opset13_y1.npy", "spatial_opset13_z.npy"};
    check_fixture("spatial_opset13.onnx", "spatial_opset13_x.npy", outs, want, 3);
    /* The sizes were folded: one Resize keeps the batch. */
    ptq_error err = {0};
    ptq_graph *g = ptq_onnx_load(DATA "spatial_opset13.onnx", NULL, &err);
    ck_assert_ptr_nonnull(g);
    char buf[160];
    const ptq_value *y0 = &g->values[ptq_graph_find_value(g, "y0")];
    ck_assert_str_eq(ptq_shape_str(y0->ndim, y0->ne, buf, sizeof buf), "[N,1,11,13]");
    /* Its float export, for tests/e2e/spatial_ort.sh (linear Resize with sizes holding the
     * batch, ConvTranspose with output_padding, Split's two outputs in onnxruntime). */
    const char *keep = getenv("PTQ_SPATIAL_KEEP");
    if (keep) {
        char path[1024];
        snprintf(path, sizeof path, "%s/opset13.onnx", keep);
        ck_assert_msg(ptq_onnx_export(g, NULL, 0, NULL, NULL, 0, path, &err) == PTQ_OK, "%s", err.msg);
    }
    ptq_graph_free(g);
}
END_TEST

/* ---- refusals ---------------------------------------------------------------------- */

static void refused(mb *b, ptq_status status, const char *a, const char *c) {
    ptq_error err = {0};
    ptq_graph *g = mb_load(b, &err);
    ck_assert_msg(g == NULL, "the model was accepted");
    ck_assert_msg(err.status == status, "status %d: %s", err.status, err.msg);
    ck_assert_msg(test_contains(err.msg, a) && test_contains(err.msg, c), "'%s' lacks '%s'/'%s'",
                  err.msg, a, c);
    mb_free(b);
}

static void attr_str(mb *b, Onnx__NodeProto *n, const char *name, const char *v) {
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)mb_str(b, v);
}

/* x[N,2,4,4] -> Resize(scales) named "rs" with the given mode attributes. */
static void resize_model(mb *b, int64_t opset, const char *mode, const char *coord,
                         const float *scales) {
    static const float def[4] = {1, 1, 2, 2};
    const int64_t xd[4] = {B, 2, 4, 4}, sd[1] = {4};
    mb_init(b, opset);
    mb_input(b, "x", 4, xd);
    mb_init_f32(b, "scales", 1, sd, scales ? scales : def);
    Onnx__NodeProto *n = mb_node(b, "Resize", "rs", "x,,scales", "y");
    if (mode) attr_str(b, n, "mode", mode);
    if (coord) attr_str(b, n, "coordinate_transformation_mode", coord);
    mb_output(b, "y", 4, xd);
}

START_TEST(resize_refusals) {
    mb b;
    resize_model(&b, 13, "cubic", NULL, NULL);
    refused(&b, PTQ_ERR_UNSUPPORTED, "'rs'", "mode='cubic'");
    resize_model(&b, 13, "linear", "tf_crop_and_resize", NULL);
    refused(&b, PTQ_ERR_UNSUPPORTED, "'rs'", "tf_crop_and_resize");
    resize_model(&b, 13, "sideways", NULL, NULL);
    refused(&b, PTQ_ERR_UNSUPPORTED, "'rs'", "mode='sideways'");
    /* Resizing the batch would mix samples. */
    const float batch2[4] = {2, 1, 1, 1};
    resize_model(&b, 13, NULL, NULL, batch2);
    refused(&b, PTQ_ERR_UNSUPPORTED, "'rs'", "batch");
    /* Linear interpolation along the channels. */
    const float chan[4] = {1, 2, 1, 1};
    resize_model(&b, 13, "linear", NULL, chan);
    refused(&b, PTQ_ERR_UNSUPPORTED, "'rs'", "axis 1");
    /* Scales that do not match the rank. */
    const int64_t xd[4] = {B, 2, 4, 4}, sd[1] = {3};
    const float three[3] = {1, 2, 2};
    mb_init(&b, 13);
    mb_input(&b, "x", 4, xd);
    mb_init_f32(&b, "scales", 1, sd, three);
    mb_node(&b, "Resize", "rs", "x,,scales", "y");
    mb_output(&b, "y", 4, xd);
    refused(&b, PTQ_ERR_INVALID, "'rs'", "scales has 3 entries");
    /* Scales computed at run time. */
    mb_init(&b, 13);
    mb_input(&b, "x", 4, xd);
    mb_input(&b, "s", 1, sd);
    mb_node(&b, "Resize", "rs", "x,,s", "y");
    mb_output(&b, "y", 4, xd);
    refused(&b, PTQ_ERR_UNSUPPORTED, "'rs'", "must be a constant");
}
END_TEST

START_TEST(slice_split_refusals) {
    mb b;
    const int64_t xd[3] = {B, 6, 4}, one[1] = {1};
    const int64_t st[1] = {1}, en[1] = {3}, ax0[1] = {0};
    /* Slice's attribute form in an opset 13 model. */
    mb_init(&b, 13);
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "st", 1, one, st);
    mb_init_i64(&b, "en", 1, one, en);
    mb_attr_ints(&b, mb_node(&b, "Slice", "sl", "x,st,en", "y"), "starts", 1, st);
    mb_output(&b, "y", 3, xd);
    refused(&b, PTQ_ERR_UNSUPPORTED, "'sl'", "attribute 'starts'");
    /* Part of the batch. */
    mb_init(&b, 13);
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "st", 1, one, st);
    mb_init_i64(&b, "en", 1, one, en);
    mb_init_i64(&b, "ax", 1, one, ax0);
    mb_node(&b, "Slice", "sl", "x,st,en,ax", "y");
    mb_output(&b, "y", 3, xd);
    refused(&b, PTQ_ERR_UNSUPPORTED, "'sl'", "batch axis");
    /* A zero step. */
    const int64_t zero[1] = {0}, ax1[1] = {1};
    mb_init(&b, 13);
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "st", 1, one, st);
    mb_init_i64(&b, "en", 1, one, en);
    mb_init_i64(&b, "ax", 1, one, ax1);
    mb_init_i64(&b, "sp", 1, one, zero);
    mb_node(&b, "Slice", "sl", "x,st,en,ax,sp", "y");
    mb_output(&b, "y", 3, xd);
    refused(&b, PTQ_ERR_INVALID, "'sl'", "steps[0] is 0");
    /* Split sizes that do not add up. */
    const int64_t two[1] = {2}, parts[2] = {2, 3};
    mb_init(&b, 13);
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "split", 1, two, parts);
    mb_attr_int(&b, mb_node(&b, "Split", "sp", "x,split", "a,b"), "axis", 1);
    mb_output(&b, "a", 3, xd);
    refused(&b, PTQ_ERR_INVALID, "'sp'", "sum to 5");
    /* Equal parts that are not equal. */
    mb_init(&b, 13);
    mb_input(&b, "x", 3, xd);
    mb_attr_int(&b, mb_node(&b, "Split", "sp", "x", "a,b,c,d"), "axis", 1);
    mb_output(&b, "a", 3, xd);
    refused(&b, PTQ_ERR_INVALID, "'sp'", "4 equal parts");
    /* ConvTranspose's output_padding must stay below the stride. */
    const int64_t cx[4] = {B, 2, 3, 3}, cw[4] = {2, 1, 3, 3}, op[2] = {1, 1};
    mb_init(&b, 13);
    mb_input(&b, "x", 4, cx);
    mb_init_f32(&b, "w", 4, cw, NULL);
    mb_attr_ints(&b, mb_node(&b, "ConvTranspose", "ct", "x,w", "y"), "output_padding", 2, op);
    mb_output(&b, "y", 4, cx);
    refused(&b, PTQ_ERR_INVALID, "'ct'", "output_padding");
    /* group 0 is not "the default" (that is an absent attribute). */
    mb_init(&b, 13);
    mb_input(&b, "x", 4, cx);
    mb_init_f32(&b, "w", 4, cw, NULL);
    mb_attr_int(&b, mb_node(&b, "ConvTranspose", "ct", "x,w", "y"), "group", 0);
    mb_output(&b, "y", 4, cx);
    refused(&b, PTQ_ERR_INVALID, "'ct'", "group=0");
    /* Split sizes whose sum wraps around int64 to the axis length. */
    const int64_t three[1] = {3}, wrap[3] = {INT64_MAX, INT64_MAX, 8};
    mb_init(&b, 13);
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "split", 1, three, wrap);
    mb_attr_int(&b, mb_node(&b, "Split", "sp", "x,split", "a,b,c"), "axis", 1);
    mb_output(&b, "a", 3, xd);
    refused(&b, PTQ_ERR_INVALID, "'sp'", "longer than axis 1");
}
END_TEST

/* The spec's idiom for "backwards to the front": end INT64_MIN with a negative step (the
 * value that is also the batch symbol), and a step so large its count would overflow. */
START_TEST(slice_extreme_bounds) {
    mb b;
    const int64_t xd[3] = {B, 6, 4}, one[1] = {1}, ax1[1] = {1};
    const int64_t st[1] = {4}, en[1] = {INT64_MIN}, back[1] = {-1};
    mb_init(&b, 13);
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "st", 1, one, st);
    mb_init_i64(&b, "en", 1, one, en);
    mb_init_i64(&b, "ax", 1, one, ax1);
    mb_init_i64(&b, "sp", 1, one, back);
    mb_node(&b, "Slice", "sl", "x,st,en,ax,sp", "y");
    mb_output(&b, "y", 3, (int64_t[]){B, 5, 4});
    ptq_error err = {0};
    ptq_graph *g = mb_load(&b, &err);
    mb_free(&b);
    ck_assert_msg(g != NULL, "%s", err.msg);
    char buf[64];
    const ptq_value *y = &g->values[g->outputs[0]];
    ck_assert_str_eq(ptq_shape_str(y->ndim, y->ne, buf, sizeof buf), "[N,5,4]"); /* 4..0 */
    ptq_graph_free(g);
    const int64_t s0[1] = {1}, e0[1] = {6}, huge[1] = {INT64_MAX};
    mb_init(&b, 13);
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "st", 1, one, s0);
    mb_init_i64(&b, "en", 1, one, e0);
    mb_init_i64(&b, "ax", 1, one, ax1);
    mb_init_i64(&b, "sp", 1, one, huge);
    mb_node(&b, "Slice", "sl", "x,st,en,ax,sp", "y");
    mb_output(&b, "y", 3, (int64_t[]){B, 1, 4});
    g = mb_load(&b, &err);
    mb_free(&b);
    ck_assert_msg(g != NULL, "%s", err.msg);
    y = &g->values[g->outputs[0]];
    ck_assert_str_eq(ptq_shape_str(y->ndim, y->ne, buf, sizeof buf), "[N,1,4]");
    ptq_graph_free(g);
}
END_TEST

/* A Slice and a Split of constants are evaluated at import: no node is left. */
START_TEST(constants_fold) {
    mb b;
    const int64_t cd[2] = {4, 3}, one[1] = {1}, st[1] = {-1}, en[1] = {-100}, sp[1] = {-2};
    const float c[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    const int64_t xd[2] = {B, 3}, two[1] = {2}, parts[2] = {1, 1};
    mb_init(&b, 13);
    mb_input(&b, "x", 2, xd);
    mb_init_f32(&b, "c", 2, cd, c);
    mb_init_i64(&b, "st", 1, one, st);
    mb_init_i64(&b, "en", 1, one, en);
    mb_init_i64(&b, "ax", 1, one, (const int64_t[]){0});
    mb_init_i64(&b, "sp", 1, one, sp);
    mb_init_i64(&b, "split", 1, two, parts);
    mb_node(&b, "Slice", "sl", "c,st,en,ax,sp", "rows"); /* rows 3 and 1 of c */
    mb_node(&b, "Split", "split", "rows,split", "r0,r1");
    mb_node(&b, "Add", "add", "r0,r1", "sum");
    mb_node(&b, "Add", "out", "x,sum", "y");
    mb_output(&b, "y", 2, xd);
    ptq_error err = {0};
    ptq_graph *g = mb_load(&b, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_SLICE) + test_count_op(g, PTQ_OP_SPLIT), 0);
    const float x[3] = {0, 0, 0};
    int64_t n;
    float *y = test_run_graph(g, x, 1, &n);
    ck_assert_int_eq(n, 3);
    for (int k = 0; k < 3; k++) ck_assert_float_eq(y[k], c[9 + k] + c[3 + k]);
    free(y);
    ptq_graph_free(g);
    mb_free(&b);
}
END_TEST

/* The older forms: Upsample-7 (scales attribute, nearest: floor of o / scale), Resize-10
 * (scales input, asymmetric coordinates: linear at o / scale, edge clamped). */
START_TEST(legacy_forms) {
    const int64_t xd[4] = {B, 1, 1, 2}, yd[4] = {B, 1, 2, 4};
    const float x[2] = {1.0f, 3.0f};
    mb b;
    mb_init(&b, 7);
    mb_input(&b, "x", 4, xd);
    Onnx__NodeProto *n = mb_node(&b, "Upsample", "up", "x", "y");
    Onnx__AttributeProto *a = mb_attr(&b, n, "scales", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    static float sc[4] = {1, 1, 2, 2};
    a->n_floats = 4;
    a->floats = sc;
    mb_output(&b, "y", 4, yd);
    ptq_error err = {0};
    ptq_graph *g = mb_load(&b, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_RESIZE), 1);
    int64_t cnt;
    float *y = test_run_graph(g, x, 1, &cnt);
    const float up[8] = {1, 1, 3, 3, 1, 1, 3, 3};
    ck_assert_int_eq(cnt, 8);
    for (int k = 0; k < 8; k++) ck_assert_float_eq(y[k], up[k]);
    free(y);
    ptq_graph_free(g);
    mb_free(&b);

    const int64_t sd[1] = {4}, ld[4] = {B, 1, 1, 4};
    const float ls[4] = {1, 1, 1, 2};
    mb_init(&b, 10);
    mb_input(&b, "x", 4, xd);
    mb_init_f32(&b, "scales", 1, sd, ls);
    attr_str(&b, mb_node(&b, "Resize", "rs", "x,scales", "y"), "mode", "linear");
    mb_output(&b, "y", 4, ld);
    g = mb_load(&b, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    y = test_run_graph(g, x, 1, &cnt);
    const float lin[4] = {1, 2, 3, 3};
    ck_assert_int_eq(cnt, 4);
    for (int k = 0; k < 4; k++) ck_assert_float_eq(y[k], lin[k]);
    free(y);
    ptq_graph_free(g);
    mb_free(&b);
    /* Resize-10 knows no coordinate_transformation_mode. */
    mb_init(&b, 10);
    mb_input(&b, "x", 4, xd);
    mb_init_f32(&b, "scales", 1, sd, ls);
    attr_str(&b, mb_node(&b, "Resize", "rs", "x,scales", "y"), "coordinate_transformation_mode",
             "half_pixel");
    mb_output(&b, "y", 4, ld);
    refused(&b, PTQ_ERR_UNSUPPORTED, "'rs'", "coordinate_transformation_mode");
}
END_TEST

/* Opset 18: Split's num_outputs (the last part smaller when uneven) and Resize's axes
 * (scales for the listed axes only) with keep_aspect_ratio_policy. */
START_TEST(opset18_forms) {
    const int64_t xd[2] = {B, 5}, od[2] = {B, 2}, cd[2] = {B, 3};
    const float x[5] = {1, 2, 3, 4, 5};
    mb b;
    mb_init(&b, 18);
    mb_input(&b, "x", 2, xd);
    Onnx__NodeProto *n = mb_node(&b, "Split", "sp", "x", "a,b,c");
    mb_attr_int(&b, n, "axis", 1);
    mb_attr_int(&b, n, "num_outputs", 3);
    mb_node(&b, "Concat", "cat", "c,a", "y");
    mb_attr_int(&b, b.graph.node[b.graph.n_node - 1], "axis", 1);
    mb_output(&b, "y", 2, cd);
    ptq_error err = {0};
    ptq_graph *g = mb_load(&b, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    int64_t cnt;
    float *y = test_run_graph(g, x, 1, &cnt);
    const float want[3] = {5, 1, 2};
    ck_assert_int_eq(cnt, 3);
    for (int k = 0; k < 3; k++) ck_assert_float_eq(y[k], want[k]);
    free(y);
    ptq_graph_free(g);
    mb_free(&b);
    /* num_outputs and a split input together. */
    const int64_t one[1] = {2}, parts[2] = {2, 3};
    mb_init(&b, 18);
    mb_input(&b, "x", 2, xd);
    mb_init_i64(&b, "split", 1, one, parts);
    n = mb_node(&b, "Split", "sp", "x,split", "a,b");
    mb_attr_int(&b, n, "axis", 1);
    mb_attr_int(&b, n, "num_outputs", 2);
    mb_output(&b, "a", 2, od);
    refused(&b, PTQ_ERR_INVALID, "'sp'", "num_outputs");
    /* Resize over axes [2, 3] by sizes [3, 8] with not_larger: one scale, min(3/2, 8/4). */
    const int64_t rx[4] = {B, 1, 2, 4}, sd[1] = {2}, sizes[2] = {3, 8}, axes[2] = {2, 3};
    const int64_t ry[4] = {B, 1, 3, 6};
    mb_init(&b, 18);
    mb_input(&b, "x", 4, rx);
    mb_init_i64(&b, "sizes", 1, sd, sizes);
    n = mb_node(&b, "Resize", "rs", "x,,,sizes", "y");
    mb_attr_ints(&b, n, "axes", 2, axes);
    attr_str(&b, n, "keep_aspect_ratio_policy", "not_larger");
    mb_output(&b, "y", 4, ry);
    g = mb_load(&b, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    char buf[160];
    const ptq_value *v = &g->values[g->outputs[0]];
    ck_assert_str_eq(ptq_shape_str(v->ndim, v->ne, buf, sizeof buf), "[N,1,3,6]");
    ptq_graph_free(g);
    mb_free(&b);
}
END_TEST

/* ---- quantization and export ------------------------------------------------------------ */

#define N_IMAGES 16

/* spatial_quant.onnx: the ConvTranspose -> BatchNormalization folds (same function), its
 * weight gets a per-channel quantizer on axis 1 (one scale per output channel of a group),
 * the quantized model stays close to the float one, and its QDQ export (DequantizeLinear
 * axis 1 on the ConvTranspose weight) reads back and computes the same. */
START_TEST(quantize_and_export) {
    static ptq_quant_config q;
    static ptq_dataset_cfg none;
    memset(&q, 0, sizeof q);
    q.weights = (ptq_qspec){.bits = 8, .symmetric = true, .per_channel = true,
                            .observer = PTQ_OBSERVER_MINMAX, .percentile = 99.99f};
    q.activations = (ptq_qspec){.bits = 8, .symmetric = false, .per_channel = false,
                                .observer = PTQ_OBSERVER_MINMAX, .percentile = 99.99f};
    q.quantize_weights = q.quantize_activations = q.quantize_input = true;
    ptq_session_config p = {.model = DATA "spatial_quant.onnx", .calibration = &none,
                            .evaluation = &none, .quant = &q, .batch = N_IMAGES, .threads = 2};
    ptq_error err = {0};
    ptq_session *s = ptq_session_new(&p, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    float *x = malloc(N_IMAGES * 64 * sizeof *x);
    test_rng r = {7};
    test_fill_uniform(&r, x, N_IMAGES * 64, -1.0f, 1.0f);
    int64_t n1, n2, n3;
    float *before = test_run_graph(s->g, x, N_IMAGES, &n1);
    ck_assert_int_eq(ptq_pass_fold_bn(ptq_host_table(), s, NULL), PTQ_OK);
    ck_assert_int_eq(test_count_op(s->g, PTQ_OP_BATCH_NORM), 0);
    float *after = test_run_graph(s->g, x, N_IMAGES, &n2);
    for (int64_t i = 0; i < n1; i++)
        ck_assert_msg(fabsf(before[i] - after[i]) <= 1e-5f + 1e-4f * fabsf(before[i]),
                      "folding changed output %ld: %g -> %g", (long)i, (double)before[i],
                      (double)after[i]);
    /* The ConvTranspose's weight quantizer: per channel on axis 1. */
    int32_t ct = -1;
    for (int32_t i = 0; i < s->g->n_nodes; i++)
        if (s->g->nodes[i].op == PTQ_OP_CONV_TRANSPOSE) ct = i;
    ck_assert_int_ge(ct, 0);
    const int32_t wq = ptq_session_quantizer_of(s, s->g->nodes[ct].inputs[1]);
    ck_assert_int_ge(wq, 0);
    ck_assert_int_eq(ptq_session_weight_axis(s, wq), 1);
    ptq_dataset ds = {.n = N_IMAGES, .c = 1, .h = 8, .w = 8, .images = x};
    s->calib = &ds;
    ptq_calibrate_params cp = {0, 1, 1};
    ck_assert_msg(ptq_pass_calibrate(ptq_host_table(), s, &cp) == PTQ_OK, "%s", s->err.msg);
    ck_assert_int_eq(s->q[wq].qp.axis, 1);
    ck_assert_int_eq(s->q[wq].qp.n, s->g->values[s->g->nodes[ct].inputs[1]].ne[1]);
    ptq_graph *sim = ptq_session_sim_graph(s, s->q, s->n_q, &err);
    ck_assert_msg(sim != NULL, "%s", err.msg);
    float *qy = test_run_graph(sim, x, N_IMAGES, &n3);
    ck_assert_double_gt(ptq_sqnr_db(after, qy, n1), 25.0);
    /* Export as QDQ and read back. */
    ptq_export_weight w[16];
    int32_t *codes[16], nw = 0;
    for (int32_t i = 0; i < s->n_q; i++) {
        if (!s->q[i].is_weight) continue;
        ck_assert_int_lt(nw, 16);
        codes[nw] = malloc((size_t)ptq_tensor_numel(s->g->values[s->q[i].value].data) * sizeof(int32_t));
        ck_assert_int_eq(ptq_session_weight_codes(s, i, codes[nw]), PTQ_OK);
        w[nw] = (ptq_export_weight){s->q[i].value, &s->q[i].qp, codes[nw], false};
        nw++;
    }
    char path[] = "/tmp/ptq_spatial_XXXXXX";
    const int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(ptq_onnx_export(sim, w, nw, NULL, NULL, 0, path, &err) == PTQ_OK, "%s", err.msg);
    ptq_graph *back = ptq_onnx_load(path, NULL, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    ck_assert_int_eq(test_count_op(back, PTQ_OP_CONV_TRANSPOSE), 1);
    ck_assert_int_eq(test_count_op(back, PTQ_OP_RESIZE), 1);
    ck_assert_int_eq(test_count_op(back, PTQ_OP_SLICE), 1);
    ck_assert_int_eq(test_count_op(back, PTQ_OP_SPLIT), 1);
    float *by = test_run_graph(back, x, N_IMAGES, &n3);
    for (int64_t i = 0; i < n1; i++)
        ck_assert_msg(fabsf(by[i] - qy[i]) <= 1e-5f + 1e-4f * fabsf(qy[i]),
                      "export changed output %ld: %g -> %g", (long)i, (double)qy[i], (double)by[i]);
    /* For tests/e2e/spatial_ort.sh: the export, its input and qcraft's output, kept. */
    const char *keep = getenv("PTQ_SPATIAL_KEEP");
    if (keep) {
        char dst[1024];
        snprintf(dst, sizeof dst, "%s/model.qdq.onnx", keep);
        ck_assert_msg(rename(path, dst) == 0, "cannot move the export to %s", dst);
        const float *bufs[2] = {x, by};
        const int64_t counts[2] = {N_IMAGES * 64, n1};
        const char *names[2] = {"x.f32", "y.f32"};
        for (int k = 0; k < 2; k++) {
            snprintf(dst, sizeof dst, "%s/%s", keep, names[k]);
            FILE *f = fopen(dst, "wb");
            ck_assert_ptr_nonnull(f);
            ck_assert_int_eq(fwrite(bufs[k], sizeof(float), (size_t)counts[k], f), (size_t)counts[k]);
            fclose(f);
        }
    }
    unlink(path);
    for (int32_t i = 0; i < nw; i++) free(codes[i]);
    free(by), free(qy), free(before), free(after);
    ptq_graph_free(back);
    ptq_graph_free(sim);
    s->calib = NULL;
    free(x);
    ptq_session_free(s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("spatial");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fixture_opset9);
    tcase_add_test(tc, fixture_opset13);
    tcase_add_test(tc, constants_fold);
    suite_add_tcase(s, tc);
    tc = tcase_create("refused");
    tcase_add_test(tc, resize_refusals);
    tcase_add_test(tc, slice_split_refusals);
    tcase_add_test(tc, slice_extreme_bounds);
    tcase_add_test(tc, legacy_forms);
    tcase_add_test(tc, opset18_forms);
    suite_add_tcase(s, tc);
    tc = tcase_create("quantized");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, quantize_and_export);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
