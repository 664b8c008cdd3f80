/* test_fdda.c — FDDA's losses, its BN statistics and its pass through the real host:
 *   - the BN-alignment loss and the cross-entropy: gradients against central differences
 *     (in double), dead channels (gamma 0) left out;
 *   - the BN-input statistics recovered from the folded layers equal what PyTorch prints
 *     for the unfolded models (tests/data/fdda_bn_stats.py), also after DFQ's
 *     equalization rescaled the layers;
 *   - SDK 0.8's differentiable run: input gradients through every bundled model (every op
 *     they use) against central differences, with seeds at the logits and at a BN
 *     layer's output; the quantized model's; its refusals;
 *   - fdda.synthesize with both generators and both modes: the calibration set it leaves
 *     (labelled, sorted by class, in the input's range), its report tables, a falling
 *     cross-entropy;
 *   - refusals, before anything changes: no labels (at planning), a model without BN
 *     statistics, a class without a real image, a non-finite loss, bad output names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_builder.h"
#include "plugin_kit.h"
#include "plugin/plugin.h"
/* White-box: the plugin's sources are compiled in (it exports only its entry). */
#include "../bns.c"
#include "../fdda.c"
#include "../generator.c"
#include "../imagefile.c"
#include "../teacher.c"

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}
static float uniform(uint64_t *s, float lo, float hi) {
    return lo + (hi - lo) * (float)((double)lcg(s) / 9007199254740992.0);
}

/* --------------------------------------------------------------- losses ---- */

START_TEST(bns_loss_gradient_matches_differences) {
    enum { B = 3, C = 4, S = 5 };
    float a[C] = {0.7f, -1.3f, 0.0f, 2.1f}, beta[C] = {0.1f, -0.4f, 0.3f, 0.0f};
    float mean[C] = {0.2f, 0.5f, -0.1f, 1.0f}, var[C] = {0.3f, 1.2f, 0.8f, 0.05f};
    const bns_layer l = {0, 0, C, S, a, beta, mean, var, 3};
    float y[B * C * S], dy[B * C * S] = {0}, tm[C], tv[C];
    uint64_t r = 7;
    for (int i = 0; i < B * C * S; i++) y[i] = uniform(&r, -2.0f, 2.0f);
    for (int c = 0; c < C; c++) tm[c] = uniform(&r, -1, 1), tv[c] = uniform(&r, 0.1f, 2.0f);
    const double w = 0.7;
    bns_align_loss(&l, y, B, tm, tv, w, dy);
    double worst = 0;
    for (int i = 0; i < B * C * S; i++) {
        const float keep = y[i], h = 1e-2f;
        y[i] = keep + h;
        const double up = bns_align_loss(&l, y, B, tm, tv, w, NULL);
        y[i] = keep - h;
        const double down = bns_align_loss(&l, y, B, tm, tv, w, NULL);
        y[i] = keep;
        const double num = (up - down) / (2.0 * h);
        worst = fmax(worst, fabs(num - dy[i]) / fmax(fabs(num), 1e-3));
        if ((i / S) % C == 2) ck_assert_float_eq(dy[i], 0.0f); /* the dead channel */
    }
    ck_assert_msg(worst < 1e-3, "BNS gradient: worst relative error %g", worst);
    /* The loss is the MSE of the recovered moments: at the batch's own moments it is 0. */
    double sum[C] = {0}, sum2[C] = {0};
    float mx[C], vx[C];
    bns_accumulate(&l, y, B, sum, sum2);
    bns_moments(&l, sum, sum2, B * S, mx, vx);
    ck_assert_double_lt(bns_align_loss(&l, y, B, mx, vx, 1.0, NULL), 1e-9);
}
END_TEST

START_TEST(cross_entropy_gradient_matches_differences) {
    enum { B = 4, K = 6 };
    float z[B * K], dz[B * K] = {0};
    const int32_t lab[B] = {0, 5, 2, 2};
    uint64_t r = 3;
    for (int i = 0; i < B * K; i++) z[i] = uniform(&r, -3, 3);
    int64_t right = -1;
    bns_cross_entropy(z, B, K, lab, 0.5, dz, &right);
    ck_assert_int_ge(right, 0);
    for (int i = 0; i < B * K; i++) {
        const float keep = z[i], h = 1e-2f;
        z[i] = keep + h;
        const double up = bns_cross_entropy(z, B, K, lab, 0.5, NULL, NULL);
        z[i] = keep - h;
        const double down = bns_cross_entropy(z, B, K, lab, 0.5, NULL, NULL);
        z[i] = keep;
        ck_assert_double_eq_tol((up - down) / (2 * h), dz[i], 1e-4);
    }
}
END_TEST

/* ------------------------------------------------- BN statistics vs torch ---- */

/* Printed by tests/data/fdda_bn_stats.py MODEL 8 4 (torch 1.13): per-channel mean and
 * biased variance of the BN input over the first 8 Fashion-MNIST training images, for
 * the first, the middle and the last BN of each model. */
typedef struct torch_bn {
    const char *bn;
    double mean[4], var[4];
} torch_bn;

static const torch_bn resnet20_ref[] = {
    {"/stem/stem.1/BatchNormalization", {-0.01904359, -0.08222416, -0.06520238, -0.1599153},
     {0.2276848, 0.6292491, 0.3808964, 0.8711171}},
    {"/layers/layers.4/b1/BatchNormalization", {-0.0629115, -0.5297376, -0.4656968, -0.6696633},
     {0.7716768, 0.6440731, 0.4808127, 0.6562682}},
    {"/layers/layers.8/b2/BatchNormalization", {0.07276262, 0.06741488, -0.01085995, -0.1259531},
     {0.2619896, 0.06294702, 0.2303215, 0.2608171}},
};
static const torch_bn mobilenetv2_ref[] = {
    {"/f/f.1/BatchNormalization", {-0.09954713, -0.169779, -0.04445377, -0.2269732},
     {0.5829774, 1.87484, 0.2551925, 2.170202}},
    {"/f/f.8/f/f.1/BatchNormalization", {-0.03721109, 0.007039095, 0.05347351, -0.05304479},
     {0.1194168, 0.1036315, 0.1537312, 0.1836544}},
    {"/f/f.14/BatchNormalization", {0.07680467, -0.03117216, -0.03807708, -0.1788153},
     {0.1140238, 0.2839243, 0.1528707, 0.06483199}},
};

static const char *eight_images(const char *model, const char *before) {
    static char y[2048];
    snprintf(y, sizeof y,
             "model: @MODELS@/%s.onnx\n"
             "calibration: {images: @FMNIST@/train-images-idx3-ubyte.gz, labels: "
             "@FMNIST@/train-labels-idx1-ubyte.gz, count: 8, sample: false}\n"
             "quantization: {weights: {bits: 8}, activations: {bits: 8}}\n"
             "passes: [%sfdda.synthesize: {images_per_class: 1, iterations: 1, save: false}]\n",
             model, before);
    return y;
}

static void check_recovered_stats(const char *model, const char *before, const torch_bn *ref,
                                  int n_ref, double tol) {
    int32_t at = 0;
    kit *k = kit_open_before(eight_images(model, before), "fdda.synthesize", &at);
    const ptq_host *h = ptq_host_table();
    bns_layer *L = NULL;
    int32_t nl = 0;
    ck_assert_int_eq(bns_layers_find(h, k->s, &L, &nl), PTQ_OK);
    ck_assert_int_gt(nl, 2);
    int32_t *keep = calloc((size_t)nl, sizeof *keep);
    for (int32_t l = 0; l < nl; l++) keep[l] = L[l].value;
    ptq_run *run = h->run_new(k->s, PTQ_MODEL_FLOAT, NULL, 0, keep, nl, 8);
    ck_assert_ptr_nonnull(run);
    ck_assert_int_eq(h->run_bind(run, ptq_util_graph_input(h, k->s, "test"), k->s->calib->images), PTQ_OK);
    ck_assert_int_eq(h->run_exec(run, 8), PTQ_OK);
    int found = 0;
    for (int32_t l = 0; l < nl; l++) {
        const ptq_bn_stats *b = ptq_session_bn_of(k->s, L[l].node);
        for (int i = 0; i < n_ref; i++) {
            if (strcmp(b->bn_name, ref[i].bn)) continue;
            double sum[512] = {0}, sum2[512] = {0};
            float mx[512], vx[512];
            ck_assert_int_le(L[l].channels, 512);
            bns_accumulate(&L[l], h->run_data(run, L[l].value), 8, sum, sum2);
            bns_moments(&L[l], sum, sum2, 8.0 * (double)L[l].spatial, mx, vx);
            for (int c = 0; c < 4; c++) {
                ck_assert_msg(fabs(mx[c] - ref[i].mean[c]) <= tol * fmax(fabs(ref[i].mean[c]), 0.05),
                              "%s %s channel %d: mean %.7g, torch %.7g", model, ref[i].bn, c, mx[c], ref[i].mean[c]);
                ck_assert_msg(fabs(vx[c] - ref[i].var[c]) <= tol * ref[i].var[c],
                              "%s %s channel %d: var %.7g, torch %.7g", model, ref[i].bn, c, vx[c], ref[i].var[c]);
            }
            found++;
        }
    }
    ck_assert_int_eq(found, n_ref);
    h->run_free(run);
    free(keep);
    bns_layers_free(h, L, nl);
    kit_close(k);
}

START_TEST(bn_statistics_match_torch) {
    check_recovered_stats("resnet20_fmnist", "", resnet20_ref, 3, 1e-4);
    check_recovered_stats("mobilenetv2_fmnist", "", mobilenetv2_ref, 3, 1e-4);
    /* DFQ rescales the layers' output channels and keeps gamma and beta saying what they
     * are: the BN input recovered is the same. */
    check_recovered_stats("resnet20_fmnist", "dfq.equalize: {}, ", resnet20_ref, 3, 1e-3);
    check_recovered_stats("mobilenetv2_fmnist", "dfq.equalize: {}, ", mobilenetv2_ref, 3, 1e-3);
}
END_TEST

/* ----------------------------------------------------- differentiable runs ---- */

static const char *few_shot(const char *model, int per_class, const char *pass) {
    static char y[2048];
    snprintf(y, sizeof y,
             "model: @MODELS@/%s.onnx\n"
             "calibration: {images: @FMNIST@/train-images-idx3-ubyte.gz, labels: "
             "@FMNIST@/train-labels-idx1-ubyte.gz, per_class: %d}\n"
             "quantization: {weights: {bits: 8}, activations: {bits: 8}}\n"
             "passes: [%s]\n",
             model, per_class, pass);
    return y;
}


/* loss = sum R * logits + BNS at a middle BN layer, on x [2, sample], in double. */
static double grad_run_loss(const ptq_host *h, ptq_grad_run *r, int32_t in, int32_t logits,
                            const bns_layer *bl, const float *x, int64_t sample, const float *R,
                            int64_t nlog, bool seed) {
    memcpy(h->grad_run_input(r, in), x, (size_t)(2 * sample) * sizeof(float));
    ck_assert_int_eq(h->grad_run_forward(r, 2), PTQ_OK);
    const float *z = h->grad_run_value(r, logits);
    float *dz = seed ? h->grad_run_seed(r, logits) : NULL;
    double loss = 0;
    for (int64_t i = 0; i < nlog; i++) {
        loss += (double)R[i] * z[i];
        if (dz) dz[i] += R[i];
    }
    loss += bns_align_loss(bl, h->grad_run_value(r, bl->value), 2, bl->mean, bl->var, 3.0,
                           seed ? h->grad_run_seed(r, bl->value) : NULL);
    if (seed) ck_assert_int_eq(h->grad_run_backward(r, 2), PTQ_OK);
    return loss;
}

static void check_input_gradient(const char *model) {
    int32_t at = 0;
    kit *k = kit_open_before(few_shot(model, 1, "fdda.synthesize: {images_per_class: 1, iterations: 1, save: false}"),
                             "fdda.synthesize", &at);
    const ptq_host *h = ptq_host_table();
    teacher t;
    const teacher_weights w = {1, 1, 1, 1, 0, 0, 0};
    ck_assert_msg(teacher_init(&t, h, k->s, 2, &w) == PTQ_OK, "%s", k->s->err.msg);
    const int64_t S = t.sample, nlog = 2 * t.classes;
    const bns_layer *bl = &t.layers[t.n_layers / 2];
    float *x = malloc((size_t)(2 * S) * sizeof(float)), *R = malloc((size_t)nlog * sizeof(float));
    float *g = malloc((size_t)(2 * S) * sizeof(float));
    memcpy(x, k->s->calib->images, (size_t)(2 * S) * sizeof(float));
    uint64_t rs = 11;
    for (int64_t i = 0; i < nlog; i++) R[i] = uniform(&rs, -1, 1);
    grad_run_loss(h, t.run, t.input, t.logits, bl, x, S, R, nlog, true);
    memcpy(g, h->grad_run_gradient(t.run, t.input), (size_t)(2 * S) * sizeof(float));
    double gmax = 0;
    for (int64_t i = 0; i < 2 * S; i++) gmax = fmax(gmax, fabs(g[i]));
    ck_assert_msg(gmax > 0 && isfinite(gmax), "%s: input gradient max %g", model, gmax);
    /* The 12 pixels with the largest gradients (signal well above float noise); a
     * difference may straddle a ReLU kink, so 11 of 12 must agree. */
    int agree = 0;
    for (int j = 0; j < 12; j++) {
        int64_t best = 0;
        for (int64_t i = 0; i < 2 * S; i++)
            if (fabs(g[i]) > fabs(g[best])) best = i;
        const float keep = x[best], eps = 2e-3f;
        x[best] = keep + eps;
        const double up = grad_run_loss(h, t.run, t.input, t.logits, bl, x, S, R, nlog, false);
        x[best] = keep - eps;
        const double down = grad_run_loss(h, t.run, t.input, t.logits, bl, x, S, R, nlog, false);
        x[best] = keep;
        const double num = (up - down) / (2.0 * eps);
        agree += fabs(num - g[best]) <= 0.03 * fabs(g[best]) + 1e-3 * gmax;
        g[best] = 0; /* next largest */
    }
    ck_assert_msg(agree >= 11, "%s: %d of 12 input gradients agree with differences", model, agree);
    teacher_free(&t);
    free(x), free(R), free(g);
    kit_close(k);
}

START_TEST(input_gradients_through_every_model) {
    check_input_gradient("resnet20_fmnist");
    check_input_gradient("mobilenetv2_fmnist");
    check_input_gradient("vgg7_fmnist");
    /* ResNet-20 with more blocks per stage: the same ops (left out under the sanitizers). */
    if (!kit_quick()) check_input_gradient("resnet20imb_fmnist");
}
END_TEST

START_TEST(grad_run_quantized_and_refusals) {
    /* Every pass: the quantizers are calibrated at the end. */
    kit *k = kit_open(few_shot("resnet20_fmnist", 1, "fdda.synthesize: {images_per_class: 1, iterations: 1, save: false}"));
    ck_assert_int_eq(kit_run(k, 0, -1), PTQ_OK);
    const ptq_host *h = ptq_host_table();
    const int32_t in = ptq_util_graph_input(h, k->s, "test");
    /* The quantized model: straight-through gradients reach the input. */
    ptq_grad_run_options o = {sizeof o, PTQ_MODEL_QUANT, NULL, 0, 2, &in, 1, NULL, 0};
    ptq_grad_run *r = h->grad_run_new(k->s, &o);
    ck_assert_msg(r != NULL, "%s", k->s->err.msg);
    memcpy(h->grad_run_input(r, in), k->s->calib->images, 2 * 784 * sizeof(float));
    ck_assert_int_eq(h->grad_run_forward(r, 2), PTQ_OK);
    int32_t logits = -1;
    for (int32_t v = 0; v < h->value_count(k->s); v++)
        if (h->value_producer(k->s, v) >= 0 && h->value_readers(k->s, v, NULL, 0) == 0) logits = v;
    float *dz = h->grad_run_seed(r, logits);
    ck_assert_ptr_nonnull(dz);
    dz[3] = 1.0f;
    ck_assert_int_eq(h->grad_run_backward(r, 2), PTQ_OK);
    const float *gx = h->grad_run_gradient(r, in);
    double sum = 0;
    for (int i = 0; i < 2 * 784; i++) sum += fabs(gx[i]);
    ck_assert(sum > 0 && isfinite(sum));
    /* Refusals. */
    ck_assert_int_ne(h->grad_run_forward(r, 3), PTQ_OK);
    ck_assert_msg(strstr(k->s->err.msg, "batch 3 is outside [1, 2]"), "%s", k->s->err.msg);
    ck_assert_int_ne(h->grad_run_backward(r, 1), PTQ_OK);
    ck_assert_ptr_null(h->grad_run_gradient(r, logits)); /* not asked for */
    ptq_node_info ni = {.struct_size = sizeof ni};
    h->node_info(k->s, 0, &ni);
    ck_assert_ptr_null(h->grad_run_seed(r, ni.inputs[1])); /* a constant */
    h->grad_run_free(r);
    o.model = PTQ_MODEL_FLOAT;
    memset(&k->s->err, 0, sizeof k->s->err); /* a pass keeps its first message only */
    o.grad_inputs = &logits; /* produced inside: not an input */
    ck_assert_ptr_null(h->grad_run_new(k->s, &o));
    ck_assert_msg(strstr(k->s->err.msg, "not a run-time input"), "%s", k->s->err.msg);
    o.grad_inputs = &in;
    o.max_batch = 0;
    ck_assert_ptr_null(h->grad_run_new(k->s, &o));
    /* Output names. */
    char path[256];
    static const char *const bad_names[] = {"", "../x", "/abs", "a//b", "a/", "a/../b", "sp ace"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
        ck_assert_int_eq(h->output_path(k->s, bad_names[i], path, sizeof path), PTQ_ERR_INVALID);
    /* A kit session writes no output directory: said, not crashed. */
    memset(&k->s->err, 0, sizeof k->s->err);
    ck_assert_int_eq(h->output_path(k->s, "fdda/x.npy", path, sizeof path), PTQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(k->s->err.msg, "no output directory"));
    kit_close(k);
}
END_TEST

/* -------------------------------------------------------------- the pass ---- */

static void check_synthesis(const char *pass, int64_t ipc, bool append) {
    kit *k = kit_open(few_shot("resnet20_fmnist", 2, pass));
    const int32_t at = kit_pass(k, "fdda.synthesize", 0);
    ck_assert_int_eq(kit_run(k, 0, at), PTQ_OK);
    ck_assert_int_eq(k->s->calib->n, 20);
    ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
    const ptq_dataset *ds = k->s->calib;
    const int64_t real = append ? 20 : 0;
    ck_assert_int_eq(ds->n, real + 10 * ipc);
    ck_assert_ptr_nonnull(ds->labels);
    float lo, hi;
    ck_assert_int_eq(ptq_host_table()->input_range(k->s, k->s->g->inputs[0], &lo, &hi), PTQ_OK);
    for (int64_t i = real; i < ds->n; i++) {
        ck_assert_int_eq(ds->labels[i], (i - real) / ipc); /* sorted by class */
        for (int64_t e = 0; e < 784; e++) ck_assert(isfinite(ds->images[i * 784 + e]));
    }
    ck_assert_int_eq(kit_count_rows(k, "classes", at), 10);
    ck_assert_int_eq(kit_count_rows(k, "losses", at), 2);
    ck_assert_int_eq(kit_count_rows(k, "synthesis", at), 1);
    const ptq_report_row *cls = kit_first_row(k, "classes", at);
    ck_assert_double_eq(kit_row_value(cls, "real_images"), 2);
    ck_assert_double_eq(kit_row_value(cls, "synthetic_images"), (double)ipc);
    kit_close(k);
}

START_TEST(pass_pixels_appends_labelled_images) {
    check_synthesis("fdda.synthesize: {images_per_class: 3, iterations: 10, save: false}", 3, true);
    /* The cross-entropy falls as the pixels are optimised. */
    char pass[160];
    snprintf(pass, sizeof pass, "fdda.synthesize: {images_per_class: 2, iterations: %d, lr: 0.1, "
             "save: false}", kit_quick() ? 20 : 60);
    kit *k = kit_open(few_shot("resnet20_fmnist", 1, pass));
    ck_assert_int_eq(kit_run(k, 0, -1), PTQ_OK);
    const int32_t at = kit_pass(k, "fdda.synthesize", 0);
    ck_assert_int_eq(kit_count_rows(k, "losses", at), 2);
    const ptq_report_row *first = NULL, *last = NULL;
    for (int32_t i = 0; i < k->s->n_rows; i++)
        if (k->s->rows[i].pass == at && !strcmp(k->s->rows[i].table, "losses"))
            (first ? &last : &first)[0] = &k->s->rows[i];
    ck_assert_double_lt(kit_row_value(last, "ce"), kit_row_value(first, "ce"));
    /* Pixels stay in the valid range with clamp (the default). */
    float lo, hi;
    ck_assert_int_eq(ptq_host_table()->input_range(k->s, k->s->g->inputs[0], &lo, &hi), PTQ_OK);
    for (int64_t i = 10 * 784; i < k->s->calib->n * 784; i++)
        ck_assert(k->s->calib->images[i] >= lo && k->s->calib->images[i] <= hi);
    kit_close(k);
}
END_TEST

START_TEST(pass_network_and_replace) {
    check_synthesis("fdda.synthesize: {generator: network, gen_width: 8, z_dim: 6, "
                    "images_per_class: 3, iterations: 3, batch: 4, save: false}", 3, true);
    check_synthesis("fdda.synthesize: {mode: replace, images_per_class: 2, iterations: 2, save: false}",
                    2, false);
}
END_TEST

/* A conv -> relu -> pool -> gemm classifier without batch normalization, as a file. */
static void write_bn_free_model(const char *path) {
    mb b;
    mb_init(&b, 13);
    static float w[4 * 9], fw[10 * 4];
    for (int i = 0; i < 36; i++) w[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    for (int i = 0; i < 40; i++) fw[i] = (float)((i * 5) % 13) / 13.0f - 0.5f;
    const int64_t xd[4] = {PTQ_DIM_BATCH, 1, 28, 28}, wd[4] = {4, 1, 3, 3}, fwd[2] = {10, 4},
                  yd[2] = {PTQ_DIM_BATCH, 10};
    mb_input(&b, "x", 4, xd);
    mb_init_f32(&b, "conv.w", 4, wd, w);
    mb_init_f32(&b, "fc.w", 2, fwd, fw);
    Onnx__NodeProto *conv = mb_node(&b, "Conv", "conv", "x,conv.w", "c");
    mb_attr_ints(&b, conv, "kernel_shape", 2, (int64_t[]){3, 3});
    mb_node(&b, "Relu", "relu", "c", "r");
    mb_node(&b, "GlobalAveragePool", "gap", "r", "p");
    mb_node(&b, "Flatten", "flat", "p", "f");
    Onnx__NodeProto *fc = mb_node(&b, "Gemm", "fc", "f,fc.w", "y");
    mb_attr_int(&b, fc, "transB", 1);
    mb_output(&b, "y", 2, yd);
    size_t len = 0;
    uint8_t *buf = mb_pack(&b, &len);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
    mb_free(&b);
}

START_TEST(refusals) {
    char msg[PTQ_ERROR_SIZE + 256];
    /* No labels: refused when the pipeline is planned, naming the fix. */
    const char *no_labels =
        "model: @MODELS@/resnet20_fmnist.onnx\n"
        "calibration: {images: @FMNIST@/train-images-idx3-ubyte.gz, count: 64}\n"
        "quantization: {weights: {bits: 8}, activations: {bits: 8}}\n"
        "passes: [fdda.synthesize: {}]\n";
    ck_assert_ptr_null(kit_try_open(no_labels, msg, sizeof msg));
    ck_assert_msg(strstr(msg, "labels") && strstr(msg, "fdda.synthesize"), "%s", msg);
    /* per_class without labels, with count, on evaluation data. */
    const char *bad_sections[] = {
        "calibration: {images: @FMNIST@/train-images-idx3-ubyte.gz, per_class: 2}\n",
        "calibration: {images: @FMNIST@/train-images-idx3-ubyte.gz, labels: "
        "@FMNIST@/train-labels-idx1-ubyte.gz, per_class: 2, count: 5}\n",
        "evaluation: {images: @FMNIST@/t10k-images-idx3-ubyte.gz, labels: "
        "@FMNIST@/t10k-labels-idx1-ubyte.gz, per_class: 2}\n"};
    const char *why[] = {"names no 'labels'", "not both", "applies to calibration"};
    for (int i = 0; i < 3; i++) {
        char y[1024];
        snprintf(y, sizeof y, "model: @MODELS@/resnet20_fmnist.onnx\n%squantization: {weights: "
                 "{bits: 8}, activations: {bits: 32}}\n", bad_sections[i]);
        ck_assert_ptr_null(kit_try_open(y, msg, sizeof msg));
        ck_assert_msg(strstr(msg, why[i]) && strstr(msg, "per_class"), "%s", msg);
    }
    /* A class without a real image: the first 5 training images miss some. */
    kit *k = kit_open("model: @MODELS@/resnet20_fmnist.onnx\n"
                      "calibration: {images: @FMNIST@/train-images-idx3-ubyte.gz, labels: "
                      "@FMNIST@/train-labels-idx1-ubyte.gz, count: 5, sample: false}\n"
                      "quantization: {weights: {bits: 8}, activations: {bits: 8}}\n"
                      "passes: [fdda.synthesize: {iterations: 1, save: false}]\n");
    ck_assert_int_ne(kit_run(k, 0, -1), PTQ_OK);
    ck_assert_msg(strstr(k->msg, "has no real calibration image") && strstr(k->msg, "per_class"), "%s", k->msg);
    ck_assert_int_eq(k->s->calib->n, 5); /* untouched */
    kit_close(k);
    /* A model without BN statistics. */
    char path[] = "/tmp/fdda_nobn_XXXXXX";
    const int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_bn_free_model(path);
    char y[1024];
    snprintf(y, sizeof y, "model: %s\n"
             "calibration: {images: @FMNIST@/train-images-idx3-ubyte.gz, labels: "
             "@FMNIST@/train-labels-idx1-ubyte.gz, per_class: 1}\n"
             "quantization: {weights: {bits: 8}, activations: {bits: 8}}\n"
             "passes: [fdda.synthesize: {iterations: 1, save: false}]\n", path);
    k = kit_open(y);
    ck_assert_int_ne(kit_run(k, 0, -1), PTQ_OK);
    ck_assert_msg(strstr(k->msg, "no batch normalization statistics"), "%s", k->msg);
    kit_close(k);
    unlink(path);
    /* A non-finite loss stops naming the iteration and the batch. */
    k = kit_open(few_shot("resnet20_fmnist", 1, "fdda.synthesize: {images_per_class: 1, iterations: 1, save: false}"));
    const int32_t at = kit_pass(k, "fdda.synthesize", 0);
    ck_assert_int_eq(kit_run(k, 0, at), PTQ_OK);
    const fd_params *p = k->p->passes[at].params;
    fd_ctx f = {.h = ptq_host_table(), .s = k->s, .p = p};
    const teacher_weights w = {p->ce_weight, p->bns_weight, p->c_bns_weight, p->d_bns_weight,
                               p->noise_mean, p->noise_var, 0};
    ck_assert_int_eq(teacher_init(&f.t, f.h, k->s, 2, &w), PTQ_OK);
    float img[2 * 784], grad[2 * 784];
    int32_t lab[2] = {1, 1};
    /* (A NaN pixel would not do: the first ReLU turns it into 0.) */
    for (int i = 0; i < 2 * 784; i++) img[i] = 3e38f;
    f.batch_img = img, f.batch_lab = lab;
    teacher_loss sum = {0};
    ck_assert_int_eq(eval_batch(&f, 2, 1, 17, grad, &sum), PTQ_ERR_NUMERIC);
    ck_assert_msg(strstr(k->s->err.msg, "non-finite loss at iteration 17 (pure batch"), "%s", k->s->err.msg);
    teacher_free(&f.t);
    kit_close(k);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fdda");
    TCase *t = tcase_create("losses");
    tcase_add_test(t, bns_loss_gradient_matches_differences);
    tcase_add_test(t, cross_entropy_gradient_matches_differences);
    tcase_add_test(t, bn_statistics_match_torch);
    tcase_add_test(t, input_gradients_through_every_model);
    tcase_add_test(t, grad_run_quantized_and_refusals);
    suite_add_tcase(s, t);
    t = tcase_create("pass");
    tcase_add_test(t, pass_pixels_appends_labelled_images);
    tcase_add_test(t, pass_network_and_replace);
    tcase_add_test(t, refusals);
    suite_add_tcase(s, t);
    return test_run_suite(s);
}
