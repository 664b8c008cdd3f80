/* test_session.c — the session's model rewrites: BatchNormalization folding (the folded
 * model computes the same function, statistics kept), quantizer placement where a QDQ
 * deployment puts them, overrides, and the simulated quantized graph. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "onnx_builder.h"
#include "plugin/plugin.h" /* ptq_host_table */
#include "quant/session.h"
#include "testutil.h"

#define N_IMAGES 32

/* A session configuration for one bundled model, W8A8 defaults, no datasets.  The quantization
 * section it points at is static (one test at a time) and returned for tests to change. */
static ptq_quant_config *make_config(const char *model, ptq_session_config *cfg) {
    static char path[1024];
    static ptq_quant_config q;
    static ptq_dataset_cfg none;
    snprintf(path, sizeof path, "%s/models/%s.onnx", PTQ_SOURCE_DIR, model);
    memset(&q, 0, sizeof q);
    q.weights = (ptq_qspec){.bits = 8, .symmetric = true, .per_channel = true, .observer = PTQ_OBSERVER_MINMAX, .percentile = 99.99f, .max_code = 0};
    q.activations = (ptq_qspec){.bits = 8, .symmetric = false, .per_channel = false, .observer = PTQ_OBSERVER_MINMAX, .percentile = 99.99f, .max_code = 0};
    q.quantize_weights = q.quantize_activations = true;
    q.quantize_input = true;
    *cfg = (ptq_session_config){.model = path, .calibration = &none, .evaluation = &none,
                                .quant = &q, .batch = N_IMAGES, .threads = 2};
    return &q;
}

/* Random normalised images of the model's input shape. */
static float *images(const ptq_graph *g, int64_t *per) {
    const ptq_value *in = &g->values[g->inputs[0]];
    *per = in->ne[1] * in->ne[2] * in->ne[3];
    float *x = malloc((size_t)(N_IMAGES * *per) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    test_rng r = {42};
    test_fill_uniform(&r, x, N_IMAGES * *per, -0.8f, 2.0f);
    return x;
}

static const char *const models[] = {"resnet20_fmnist", "mobilenetv2_fmnist", "vgg7_fmnist",
                                     "resnet20imb_fmnist"};

/* Folding BN changes no output by more than 1e-5 (relative to the logits' scale), keeps
 * every BN's statistics, and leaves no BatchNormalization behind in these models. */
START_TEST(fold_bn_preserves_function) {
    ptq_session_config p;
    make_config(models[_i], &p);
    ptq_error err = {0};
    ptq_session *s = ptq_session_new(&p, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    int64_t per, n1, n2;
    float *x = images(s->g, &per);
    const int32_t n_bn = test_count_op(s->g, PTQ_OP_BATCH_NORM);
    ck_assert_int_gt(n_bn, 0);
    float *before = test_run_graph(s->g, x, N_IMAGES, &n1);
    ck_assert_int_eq(ptq_pass_fold_bn(ptq_host_table(), s, NULL), PTQ_OK);
    ck_assert_int_eq(test_count_op(s->g, PTQ_OP_BATCH_NORM), 0);
    ck_assert_int_eq(s->n_bn, n_bn);
    float *after = test_run_graph(s->g, x, N_IMAGES, &n2);
    ck_assert_int_eq(n1, n2);
    double scale = 0.0, worst = 0.0;
    for (int64_t i = 0; i < n1; i++) scale = fmax(scale, fabs(before[i]));
    for (int64_t i = 0; i < n1; i++) worst = fmax(worst, fabs((double)before[i] - after[i]));
    ck_assert_msg(worst <= 1e-5 * fmax(scale, 1.0), "%s: folded logits differ by %g (scale %g)",
                  models[_i], worst, scale);
    /* The statistics are reachable from the conv they were folded into. */
    int32_t with_stats = 0;
    for (int32_t i = 0; i < s->g->n_nodes; i++)
        if (s->g->nodes[i].op == PTQ_OP_CONV && ptq_session_bn_of(s, i)) {
            const ptq_bn_stats *b = ptq_session_bn_of(s, i);
            ck_assert_int_eq(b->gamma->ne[0], s->g->values[s->g->nodes[i].outputs[0]].ne[1]);
            with_stats++;
        }
    ck_assert_int_eq(with_stats, n_bn);
    free(x), free(before), free(after);
    ptq_session_free(s);
}
END_TEST

/* Residual blocks: ResNet-20 has the stem, nine residual blocks and the classifier; a
 * plain chain (VGG-7: five convs, two Gemms) one block per weighted layer; every block is a contiguous run of
 * nodes holding at least one weighted layer, and no block boundary falls inside a
 * residual connection (an Add and both of its branches share a block). */
START_TEST(residual_blocks) {
    static const int32_t expected[] = {11, -1, 7, 11};
    ptq_session_config p;
    make_config(models[_i], &p);
    ptq_error err = {0};
    ptq_session *s = ptq_session_new(&p, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    const ptq_graph *g = s->g;
    int32_t *block = malloc((size_t)g->n_nodes * sizeof *block);
    const int32_t n = ptq_graph_blocks(g, block, &err);
    ck_assert_msg(n > 0, "%s", err.msg);
    if (expected[_i] > 0) ck_assert_int_eq(n, expected[_i]);
    int32_t layers = 0;
    bool *has_layer = calloc((size_t)n, sizeof *has_layer);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        ck_assert(i == 0 || block[i] == block[i - 1] || block[i] == block[i - 1] + 1);
        layers += ptq_op_has_weights(g->nodes[i].op);
        has_layer[block[i]] |= ptq_op_has_weights(g->nodes[i].op);
        if (g->nodes[i].op == PTQ_OP_ADD)
            for (int32_t k = 0; k < 2; k++) {
                const int32_t prod = g->values[g->nodes[i].inputs[k]].producer;
                ck_assert(prod < 0 || block[prod] == block[i] || block[prod] == block[i] - 1);
            }
    }
    for (int32_t b = 0; b < n; b++) ck_assert_msg(has_layer[b], "block %d has no layer", b);
    /* Plugins see the same grouping through the host, until a pass stores its own. */
    const ptq_host *h = ptq_host_table();
    int32_t *seen = malloc((size_t)g->n_nodes * sizeof *seen);
    ck_assert_int_eq(h->node_blocks(s, seen, g->n_nodes), n);
    ck_assert(memcmp(seen, block, (size_t)g->n_nodes * sizeof *seen) == 0);
    int32_t *mine = malloc((size_t)g->n_nodes * sizeof *mine);
    for (int32_t i = 0; i < g->n_nodes; i++) mine[i] = i < g->n_nodes / 2 ? 0 : 1;
    ck_assert_int_eq(h->artifact_set(s, "graph.blocks", mine, (size_t)g->n_nodes * sizeof *mine,
                                     free), PTQ_OK);
    ck_assert_int_eq(h->node_blocks(s, seen, g->n_nodes), 2);
    ck_assert_int_eq(seen[g->n_nodes - 1], 1);
    ck_assert_int_eq(h->node_blocks(s, seen, g->n_nodes - 1), -1); /* wrong size: an error */
    int32_t *bad = malloc((size_t)g->n_nodes * sizeof *bad);
    for (int32_t i = 0; i < g->n_nodes; i++) bad[i] = i == 0 ? 1 : 0; /* does not start at 0 */
    ck_assert_int_eq(h->artifact_set(s, "graph.blocks", bad, (size_t)g->n_nodes * sizeof *bad,
                                     free), PTQ_OK);
    memset(&s->err, 0, sizeof s->err); /* a pass keeps its first message */
    ck_assert_int_eq(h->node_blocks(s, seen, g->n_nodes), -1);
    ck_assert_msg(test_contains(s->err.msg, "graph.blocks"), "%s", s->err.msg);
    free(seen);
    free(has_layer);
    ck_assert_int_ge(layers, n);
    /* MobileNetV2: each inverted residual with a skip is one block, so fewer blocks than
     * weighted layers. */
    if (_i == 1) ck_assert_int_lt(n, layers);
    free(block);
    ptq_session_free(s);
}
END_TEST

/* Weights of every Conv/Gemm; activations at their inputs and at residual Adds. */
START_TEST(placement) {
    ptq_session_config p;
    make_config("resnet20_fmnist", &p);
    ptq_error err = {0};
    ptq_session *s = ptq_session_new(&p, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ptq_pass_fold_bn(ptq_host_table(), s, NULL), PTQ_OK);
    int32_t w = 0, a = 0;
    for (int32_t i = 0; i < s->n_q; i++) s->q[i].is_weight ? w++ : a++;
    const int32_t layers = test_count_op(s->g, PTQ_OP_CONV) + test_count_op(s->g, PTQ_OP_GEMM);
    ck_assert_int_eq(w, layers); /* 21 convs + the classifier */
    ck_assert_int_eq(layers, 22);
    /* The input, and every distinct value read by a layer or a residual Add. */
    ck_assert_int_ge(a, 20);
    ck_assert_int_ge(ptq_session_quantizer_of(s, s->g->inputs[0]), 0);
    ck_assert_int_lt(ptq_session_quantizer_of(s, s->g->outputs[0]), 0); /* output not by default */
    for (int32_t i = 0; i < s->g->n_nodes; i++) {
        const ptq_node *n = &s->g->nodes[i];
        if (n->op != PTQ_OP_ADD) continue;
        ck_assert_int_ge(ptq_session_quantizer_of(s, n->inputs[0]), 0);
        ck_assert_int_ge(ptq_session_quantizer_of(s, n->inputs[1]), 0);
    }
    ptq_session_free(s);
}
END_TEST

/* The papers' placement (METHODS.md 0.3): no quantizer on the network input or the
 * logits, none on a branch end read by a residual Add, one on each Add's (activated)
 * output and after each unit's activation; the activation feeding the last layer takes the
 * last layer's override (through pooling), the stem's output keeps the default. */
START_TEST(placement_paper) {
    static const char *const names[] = {"resnet20_fmnist", "mobilenetv2_fmnist"};
    ptq_session_config p;
    ptq_quant_config *q = make_config(names[_i], &p);
    q->placement = PTQ_PLACEMENT_PAPER;
    q->quantize_input = false;
    q->activations.bits = 4;
    char *last[] = {"last"};
    ptq_override o = {.nodes = last, .n_nodes = 1, .a_fields = PTQ_QF_BITS};
    o.a.bits = 8;
    q->overrides = &o;
    q->n_overrides = 1;
    ptq_error err = {0};
    ptq_session *s = ptq_session_new(&p, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_int_eq(ptq_pass_fold_bn(ptq_host_table(), s, NULL), PTQ_OK);
    const ptq_graph *g = s->g;
    ck_assert_int_lt(ptq_session_quantizer_of(s, g->inputs[0]), 0);
    ck_assert_int_lt(ptq_session_quantizer_of(s, g->outputs[0]), 0);
    int32_t adds = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        if (n->op != PTQ_OP_ADD) continue;
        adds++;
        /* The input the add does not share with anyone (the branch end) is float. */
        int32_t quantized = 0;
        for (int32_t k = 0; k < 2; k++) {
            int32_t r[4];
            const int32_t readers = ptq_graph_readers(g, n->inputs[k], r, 4);
            const bool qd = ptq_session_quantizer_of(s, n->inputs[k]) >= 0;
            if (readers == 1) ck_assert_msg(!qd, "%s: branch end quantized", n->name);
            quantized += qd;
        }
        ck_assert_int_le(quantized, 1);
        /* Its output, through a ReLU if one follows, is. */
        int32_t v = n->outputs[0], r[2];
        if (ptq_graph_readers(g, v, r, 2) == 1 && g->nodes[r[0]].op == PTQ_OP_RELU) v = g->nodes[r[0]].outputs[0];
        ck_assert_msg(ptq_session_quantizer_of(s, v) >= 0, "%s: output not quantized", n->name);
    }
    ck_assert_int_gt(adds, 0);
    /* The last layer reads (through pooling) an 8-bit quantizer; the stem's output is 4-bit. */
    int32_t first = -1, lastl = -1;
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (ptq_op_has_weights(g->nodes[i].op)) lastl = i, first = first < 0 ? i : first;
    int32_t v = g->nodes[lastl].inputs[0], qi = -1;
    while (v >= 0 && (qi = ptq_session_quantizer_of(s, v)) < 0) v = g->nodes[g->values[v].producer].inputs[0];
    ck_assert_int_ge(qi, 0);
    ck_assert_int_eq(s->q[qi].spec.bits, 8);
    int32_t sv = g->nodes[first].outputs[0], rr[2];
    if (ptq_graph_readers(g, sv, rr, 2) == 1 && ptq_is_activation(g->nodes[rr[0]].op)) sv = g->nodes[rr[0]].outputs[0];
    const int32_t qs = ptq_session_quantizer_of(s, sv);
    ck_assert_int_ge(qs, 0);
    ck_assert_int_eq(s->q[qs].spec.bits, 4);
    if (_i == 0) { /* ResNet-20: the stem and, per block, the inner ReLU and the output */
        int32_t a = 0;
        for (int32_t i = 0; i < s->n_q; i++) a += !s->q[i].is_weight;
        ck_assert_int_eq(a, 1 + 9 * 2);
    }
    ck_assert_int_eq(s->n_notes, 0); /* nothing ambiguous in these models */
    ptq_session_free(s);
}
END_TEST

/* Overrides: `first`/`last` select the first and last layer; float keeps a node whole. */
START_TEST(overrides) {
    ptq_session_config p;
    ptq_quant_config *q = make_config("vgg7_fmnist", &p);
    char *first_last[] = {"first", "last"};
    ptq_override o[2];
    memset(o, 0, sizeof o);
    o[0].nodes = first_last;
    o[0].n_nodes = 2;
    o[0].w_fields = PTQ_QF_BITS;
    o[0].w.bits = 6;
    char *fc2[] = {"/fc2/Gemm"};
    o[1].nodes = fc2;
    o[1].n_nodes = 1;
    o[1].keep_float = true;
    q->overrides = o;
    q->n_overrides = 2;
    q->weights.bits = 4;
    ptq_error err = {0};
    ptq_session *s = ptq_session_new(&p, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_int_eq(ptq_pass_fold_bn(ptq_host_table(), s, NULL), PTQ_OK);
    int32_t first = -1, last = -1;
    for (int32_t i = 0; i < s->g->n_nodes; i++)
        if (s->g->nodes[i].op == PTQ_OP_CONV || s->g->nodes[i].op == PTQ_OP_GEMM) {
            if (first < 0) first = i;
            last = i;
        }
    ck_assert_str_eq(s->g->nodes[last].name, "/fc2/Gemm");
    const int32_t qf = ptq_session_quantizer_of(s, s->g->nodes[first].inputs[1]);
    ck_assert_int_ge(qf, 0);
    ck_assert_int_eq(s->q[qf].spec.bits, 6);
    /* fc2 is kept float: no weight quantizer (the later override wins over `last`). */
    ck_assert_int_lt(ptq_session_quantizer_of(s, s->g->nodes[last].inputs[1]), 0);
    for (int32_t i = 0; i < s->n_q; i++)
        if (s->q[i].is_weight && s->q[i].node != first) ck_assert_int_eq(s->q[i].spec.bits, 4);
    ptq_session_free(s);
}
END_TEST

/* At 16 bits, the simulated model is close to the float one; at 2 bits it is not; and
 * the simulation refuses uncalibrated quantizers. */
START_TEST(sim_graph) {
    ptq_session_config p;
    ptq_quant_config *qc = make_config("resnet20_fmnist", &p);
    qc->weights.bits = qc->activations.bits = 16;
    ptq_error err = {0};
    ptq_session *s = ptq_session_new(&p, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ptq_pass_fold_bn(ptq_host_table(), s, NULL), PTQ_OK);
    ck_assert_ptr_null(ptq_session_sim_graph(s, s->q, s->n_q, &err));
    ck_assert_msg(test_contains(err.msg, "no scale yet"), "%s", err.msg);
    /* Calibrate every activation on random images in place of a dataset. */
    int64_t per, n1, n2;
    float *x = images(s->g, &per);
    ptq_dataset ds = {.n = N_IMAGES, .c = 1, .h = 28, .w = 28, .images = x};
    s->calib = &ds;
    ptq_calibrate_params cp = {0, 1, 1};
    memset(&s->err, 0, sizeof s->err);
    ck_assert_msg(ptq_pass_calibrate(ptq_host_table(), s, &cp) == PTQ_OK, "%s", s->err.msg);
    ptq_graph *sim = ptq_session_sim_graph(s, s->q, s->n_q, &err);
    ck_assert_msg(sim != NULL, "%s", err.msg);
    int32_t fq = test_count_op(sim, PTQ_OP_FAKE_QUANT), acts = 0;
    for (int32_t i = 0; i < s->n_q; i++) acts += !s->q[i].is_weight;
    ck_assert_int_eq(fq, acts);
    float *f = test_run_graph(s->g, x, N_IMAGES, &n1), *q = test_run_graph(sim, x, N_IMAGES, &n2);
    ck_assert_double_gt(ptq_sqnr_db(f, q, n1), 40.0);
    ptq_graph_free(sim);
    free(f), free(q);
    s->calib = NULL;
    free(x);
    ptq_session_free(s);
}
END_TEST

/* A quantized layer's bias is on its int32 accumulator's grid sx * sw in the simulation
 * (what an integer deployment, and onnxruntime from `basic` on, adds), rounded to the
 * nearest step; target `none` keeps the float bias. */
static int32_t check_biases(ptq_session *s, const ptq_graph *sim, bool on_grid) {
    int32_t layers = 0, moved = 0;
    for (int32_t i = 0; i < s->g->n_nodes; i++) {
        const ptq_node *n = &s->g->nodes[i];
        if ((n->op != PTQ_OP_CONV && n->op != PTQ_OP_GEMM) || n->n_inputs < 3 || n->inputs[2] < 0)
            continue;
        const int32_t qx = ptq_session_quantizer_of(s, n->inputs[0]);
        const int32_t qw = ptq_session_quantizer_of(s, n->inputs[1]);
        if (qx < 0 || qw < 0) continue;
        const ptq_node *m = &sim->nodes[sim->values[n->outputs[0]].producer];
        const ptq_tensor *b0 = s->g->values[n->inputs[2]].data, *b1 = sim->values[m->inputs[2]].data;
        const float *f = b0->data, *b = b1->data;
        const ptq_qparams *px = &s->q[qx].qp, *pw = &s->q[qw].qp;
        for (int64_t o = 0; o < b0->ne[0]; o++) {
            const float step = px->scale[0] * pw->scale[pw->n == 1 ? 0 : o];
            if (!on_grid) {
                ck_assert_float_eq(b[o], f[o]);
                continue;
            }
            /* On the grid as onnxruntime checks it: its rounding gives the value back. */
            const float k = rintf(b[o] / step);
            ck_assert_msg(k * step == b[o], "%s: bias[%" PRId64 "] = %g is not on the grid %g (%g steps)",
                          n->name, o, b[o], step, b[o] / step);
            ck_assert_msg(fabsf(b[o] - f[o]) <= 0.5f * step * (1.0f + 1e-5f), "%s: bias moved by more than half a step", n->name);
            moved += b[o] != f[o];
        }
        layers++;
    }
    ck_assert_int_gt(layers, 0);
    return moved;
}

START_TEST(sim_graph_bias_on_accumulator_grid) {
    for (int target = PTQ_TARGET_PORTABLE; target <= PTQ_TARGET_NONE; target += PTQ_TARGET_NONE) {
        ptq_session_config p;
        ptq_quant_config *qc = make_config("resnet20_fmnist", &p);
        qc->target = target;
        ptq_error err = {0};
        ptq_session *s = ptq_session_new(&p, &err);
        ck_assert_msg(s != NULL, "%s", err.msg);
        ck_assert_int_eq(ptq_pass_fold_bn(ptq_host_table(), s, NULL), PTQ_OK);
        int64_t per;
        float *x = images(s->g, &per);
        ptq_dataset ds = {.n = N_IMAGES, .c = 1, .h = 28, .w = 28, .images = x};
        s->calib = &ds;
        ptq_calibrate_params cp = {0, 1, 1};
        ck_assert_msg(ptq_pass_calibrate(ptq_host_table(), s, &cp) == PTQ_OK, "%s", s->err.msg);
        ptq_graph *sim = ptq_session_sim_graph(s, s->q, s->n_q, &err);
        ck_assert_msg(sim != NULL, "%s", err.msg);
        const int32_t moved = check_biases(s, sim, target != PTQ_TARGET_NONE);
        if (target != PTQ_TARGET_NONE) ck_assert_int_gt(moved, 0);
        ptq_graph_free(sim);
        s->calib = NULL;
        free(x);
        ptq_session_free(s);
    }
}
END_TEST

/* ---- elementwise, comparison and reduction ops ---- */

/* Masks are not quantized: the integer values of a Cast to int32 read by a MatMul get no
 * activation quantizer, while a LayerNormalization's output read by one does, as any
 * computing op's. */
START_TEST(placement_masks_unquantized) {
    mb b;
    mb_init(&b, 17);
    const int64_t xd[2] = {PTQ_DIM_BATCH, 8}, wd[2] = {8, 4}, sd[1] = {8};
    float w[32];
    test_rng r = {5};
    test_fill_uniform(&r, w, 32, -1, 1);
    mb_input(&b, "x", 2, xd);
    mb_init_f32(&b, "w1", 2, wd, w);
    mb_init_f32(&b, "w2", 2, wd, w);
    mb_init_f32(&b, "scale", 1, sd, NULL);
    mb_attr_int(&b, mb_node(&b, "Cast", "cast", "x", "xi"), "to", PTQ_DTYPE_I32);
    mb_node(&b, "MatMul", "m1", "xi,w1", "a1");
    mb_node(&b, "LayerNormalization", "ln", "x,scale", "xn");
    mb_node(&b, "MatMul", "m2", "xn,w2", "a2");
    mb_node(&b, "Add", "add", "a1,a2", "y");
    mb_output(&b, "y", 2, (int64_t[]){PTQ_DIM_BATCH, 4});
    size_t len;
    uint8_t *buf = mb_pack(&b, &len);
    mb_free(&b);
    char path[256];
    snprintf(path, sizeof path, "/tmp/ptq-test-masks-%d.onnx", (int)getpid());
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
    ptq_session_config p;
    make_config("resnet20_fmnist", &p);
    p.model = path;
    ptq_error err = {0};
    ptq_session *s = ptq_session_new(&p, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_int_eq(ptq_session_place_quantizers(s), PTQ_OK);
    const ptq_graph *g = s->g;
    ck_assert_int_lt(ptq_session_quantizer_of(s, ptq_graph_find_value(g, "xi")), 0);
    ck_assert_int_ge(ptq_session_quantizer_of(s, ptq_graph_find_value(g, "xn")), 0);
    ck_assert_int_ge(ptq_session_quantizer_of(s, ptq_graph_find_value(g, "a1")), 0); /* residual add */
    ck_assert_int_ge(ptq_session_quantizer_of(s, ptq_graph_find_value(g, "w1")), 0);
    ptq_session_free(s);
    remove(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("rewrites");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, fold_bn_preserves_function, 0, 4);
    tcase_add_loop_test(tc, residual_blocks, 0, 4);
    tcase_add_test(tc, placement);
    tcase_add_test(tc, placement_masks_unquantized);
    tcase_add_loop_test(tc, placement_paper, 0, 2);
    tcase_add_test(tc, overrides);
    tcase_add_test(tc, sim_graph);
    tcase_add_test(tc, sim_graph_bias_on_accumulator_grid);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
