/* test_easyquant.c — easyquant.search_scales through the real plugin and host on the
 * bundled ResNet-20: every layer ends at least as similar to float as it started, the
 * cosines the report claims are what the final quantized model measures, the float
 * model is untouched bit for bit, the quantized accuracy stays within half a point of
 * round-to-nearest (1000 test images cannot resolve more), and the refusals say why. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"

#define SEARCH_IMAGES (kit_quick() ? 16 : 32)

/* The quantization sections the tests use: W6A6 with per-channel symmetric weights and
 * per-tensor symmetric activations (the main one), and per-tensor asymmetric weights and
 * activations (one weight scale per layer, grids with zero points). */
static const char *const per_channel_symmetric =
    "  weights: {bits: 6, granularity: channel, symmetric: true, observer: minmax}\n"
    "  activations: {bits: 6, granularity: tensor, symmetric: true, observer: minmax}\n";
static const char *const per_tensor_asymmetric =
    "  weights: {bits: 6, granularity: tensor, symmetric: false, observer: minmax}\n"
    "  activations: {bits: 6, granularity: tensor, symmetric: false, observer: kl}\n";

/* ResNet-20 quantized as `quant` says, 256 calibration images (or none), `passes`. */
static const char *pipeline_with(const char *quant, const char *passes, bool calibration) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "model: @MODELS@/resnet20_fmnist.onnx\n"
             "%s"
             "quantization:\n%s"
             "passes:\n%s\n",
             calibration ? "calibration:\n  images: @FMNIST@/train-images-idx3-ubyte.gz\n"
                           "  count: 256\n"
                         : "",
             quant, passes);
    return buf;
}

static const char *pipeline(const char *passes, bool calibration) {
    return pipeline_with(per_channel_symmetric, passes, calibration);
}

/* SEARCH_IMAGES images, 40 candidates per grid: a few seconds on 2 cores. */
static const char *const search_pass_full = "  - easyquant.search_scales: {images: 32, n: 40}\n";
/* Under the sanitizers: the same paths on a coarser grid (see kit_quick). */
static const char *const search_pass_quick = "  - easyquant.search_scales: {images: 16, n: 16}\n";
#define search_pass (kit_quick() ? search_pass_quick : search_pass_full)

/* Opens a test pipeline and runs everything before easyquant.search_scales (BN folding,
 * calibration); returns the pass's index in *eq. */
static kit *open_quantized_before_search(const char *quant, const char *passes, int32_t *eq) {
    kit *k = kit_open(pipeline_with(quant, passes, true));
    *eq = kit_pass(k, "easyquant.search_scales", 0);
    ck_assert_msg(kit_run(k, 0, *eq) == PTQ_OK, "%s", k->msg);
    return k;
}

static kit *open_before_search(const char *passes, int32_t *eq) {
    return open_quantized_before_search(per_channel_symmetric, passes, eq);
}

/* The value a layer's cosine is measured on: the output of the Relu/Clip that is the
 * conv's only reader, else the conv's own output. */
static int32_t layer_output(const kit *k, const char *conv_name) {
    const ptq_graph *g = k->s->g;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (strcmp(g->nodes[i].name, conv_name)) continue;
        const int32_t out = g->nodes[i].outputs[0];
        int32_t reader;
        if (ptq_graph_readers(g, out, &reader, 1) == 1 &&
            (g->nodes[reader].op == PTQ_OP_RELU || g->nodes[reader].op == PTQ_OP_CLIP))
            return g->nodes[reader].outputs[0];
        return out;
    }
    ck_abort_msg("no node '%s'", conv_name);
    return -1;
}

/* Mean over images of the per-image cosine between a and b. */
static double mean_cosine(const float *a, const float *b, int64_t images, int64_t sample) {
    double sum = 0.0;
    for (int64_t i = 0; i < images; i++) {
        double d = 0.0, na = 0.0, nb = 0.0;
        for (int64_t j = i * sample; j < (i + 1) * sample; j++)
            d += (double)a[j] * b[j], na += (double)a[j] * a[j], nb += (double)b[j] * b[j];
        sum += d / sqrt(na * nb);
    }
    return sum / (double)images;
}

/* Rows the pass at index `pass` added to its "layers" table. */
static int32_t layer_rows(const kit *k, int32_t pass, const ptq_report_row **rows, int32_t max) {
    int32_t n = 0;
    for (int32_t r = 0; r < k->s->n_rows; r++) {
        const ptq_report_row *row = &k->s->rows[r];
        if (row->pass != pass || strcmp(row->table, "layers")) continue;
        ck_assert_int_lt(n, max);
        rows[n++] = row;
    }
    return n;
}

/* ---- what the search does --------------------------------------------------------------- */

/* Every one of ResNet-20's 22 layers gets a row with the documented columns; no layer's
 * cosine falls and most rise; and the cos_after each row claims is what the final
 * quantized model measures at that layer's output (to float rounding).  Per-channel
 * symmetric grids, and per-tensor asymmetric ones (one weight scale, zero points). */
START_TEST(every_layer_at_least_as_similar) {
    int32_t eq;
    kit *k = open_quantized_before_search(_i ? per_tensor_asymmetric : per_channel_symmetric,
                                          search_pass, &eq);
    ck_assert_msg(kit_run(k, eq, eq + 1) == PTQ_OK, "%s", k->msg);
    const ptq_report_row *rows[64];
    const int32_t n = layer_rows(k, eq, rows, 64);
    ck_assert_int_eq(n, 22); /* 21 convolutions and the classifier */
    static const char *const cols[] = {"cos_before", "cos_after", "weight_scale_ratio_mean",
                                       "act_scale_ratio", "rounds"};
    int32_t improved = 0;
    double before = 0.0, after = 0.0;
    for (int32_t r = 0; r < n; r++) {
        ck_assert_int_eq(rows[r]->n, 5);
        for (int32_t c = 0; c < 5; c++) ck_assert_str_eq(rows[r]->cols[c], cols[c]);
        const double *v = rows[r]->values;
        ck_assert_msg(v[1] >= v[0], "%s: cosine %.8f -> %.8f", rows[r]->name, v[0], v[1]);
        improved += v[1] > v[0];
        before += v[0] / n, after += v[1] / n;
        ck_assert(isfinite(v[2]) && v[2] >= 0.5 - 1e-6 && v[2] <= 2.0 + 1e-6);
        ck_assert(v[4] >= 1 && v[4] <= 3);
    }
    fprintf(stderr, "easyquant (%s): %d of %d layers improved, mean cosine %.6f -> %.6f\n",
            _i ? "per-tensor asymmetric" : "per-channel symmetric", improved, n, before, after);
    ck_assert_int_ge(improved, n / 2);
    /* The downsample convs read their block's input, which the block's first conv searched:
     * they report no activation ratio.  The stem searched the network input's quantizer. */
    for (int32_t r = 0; r < n; r++) {
        if (strstr(rows[r]->name, "/sc/")) ck_assert(isnan(rows[r]->values[3]));
        if (strstr(rows[r]->name, "/stem/")) ck_assert(isfinite(rows[r]->values[3]));
    }
    /* Measure every layer's output in the float and the final quantized model. */
    const ptq_host *h = ptq_host_table();
    int32_t keep[64];
    for (int32_t r = 0; r < n; r++) keep[r] = layer_output(k, rows[r]->name);
    ptq_run *fl = h->run_new(k->s, PTQ_MODEL_FLOAT, NULL, 0, keep, n, SEARCH_IMAGES);
    ptq_run *qu = h->run_new(k->s, PTQ_MODEL_QUANT, NULL, 0, keep, n, SEARCH_IMAGES);
    ck_assert_ptr_nonnull(fl);
    ck_assert_ptr_nonnull(qu);
    const int32_t in = k->s->g->inputs[0];
    ck_assert_int_eq(h->run_bind(fl, in, k->s->calib->images), PTQ_OK);
    ck_assert_int_eq(h->run_bind(qu, in, k->s->calib->images), PTQ_OK);
    ck_assert_int_eq(h->run_exec(fl, SEARCH_IMAGES), PTQ_OK);
    ck_assert_int_eq(h->run_exec(qu, SEARCH_IMAGES), PTQ_OK);
    for (int32_t r = 0; r < n; r++) {
        const ptq_value *v = &k->s->g->values[keep[r]];
        int64_t sample = 1;
        for (int32_t d = 1; d < v->ndim; d++) sample *= v->ne[d];
        const double measured =
            mean_cosine(h->run_data(fl, keep[r]), h->run_data(qu, keep[r]), SEARCH_IMAGES, sample);
        ck_assert_msg(fabs(measured - rows[r]->values[1]) < 1e-6, "%s: reported %.8f, measured %.8f",
                      rows[r]->name, rows[r]->values[1], measured);
    }
    h->run_free(fl);
    h->run_free(qu);
    kit_close(k);
}
END_TEST

/* The pass tries candidate weights in the float model's constants; afterwards every
 * constant and the float outputs are exactly what they were. */
START_TEST(float_model_unchanged) {
    int32_t eq;
    kit *k = open_before_search(search_pass, &eq);
    const ptq_graph *g = k->s->g;
    float **saved = calloc((size_t)g->n_values, sizeof *saved);
    ck_assert_ptr_nonnull(saved);
    for (int32_t v = 0; v < g->n_values; v++) {
        if (!g->values[v].data || g->values[v].dtype != PTQ_DTYPE_F32) continue;
        const size_t bytes = (size_t)ptq_tensor_numel(g->values[v].data) * sizeof(float);
        saved[v] = malloc(bytes);
        memcpy(saved[v], g->values[v].data->data, bytes);
    }
    float *x = kit_images(k, 64);
    int64_t n1, n2;
    float *before = kit_forward(k, false, x, 64, &n1);
    ck_assert_msg(kit_run(k, eq, eq + 1) == PTQ_OK, "%s", k->msg);
    float *after = kit_forward(k, false, x, 64, &n2);
    ck_assert_int_eq(n1, n2);
    ck_assert_msg(memcmp(before, after, (size_t)n1 * sizeof *before) == 0,
                  "the float outputs changed");
    for (int32_t v = 0; v < g->n_values; v++) {
        if (!saved[v]) continue;
        ck_assert_msg(memcmp(saved[v], g->values[v].data->data,
                             (size_t)ptq_tensor_numel(g->values[v].data) * sizeof(float)) == 0,
                      "constant '%s' changed", g->values[v].name);
        free(saved[v]);
    }
    free(saved), free(x), free(before), free(after);
    kit_close(k);
}
END_TEST

/* The first 1000 Fashion-MNIST test images, normalized like the bundled models. */
static ptq_dataset *test_images(void) {
    ptq_preprocess pp = {0};
    pp.n_mean = pp.n_std = 1;
    pp.mean[0] = 0.286f, pp.std[0] = 0.353f;
    ptq_error err = {0};
    ptq_dataset *ds = ptq_dataset_load("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                       "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                                       &pp, 1000, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    return ds;
}

static double top1(const float *logits, const int32_t *labels, int64_t n, int64_t classes) {
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (logits[i * classes + c] > logits[i * classes + best]) best = c;
        right += best == labels[i];
    }
    return (double)right / (double)n;
}

/* W6A6 on the first 1000 test images, against round-to-nearest with min/max ranges:
 * neither the accuracy nor the top-1 agreement with the float model falls more than
 * half a point behind.  1000 images cannot separate them (one image is 0.1 point), and
 * with these fast settings (32 images, 40 candidates) the gain is within that noise.
 * Seen with the pipeline's seed 0 (1, 2, 3, 4): top-1 float 94.0 %, RTN 93.3 % (93.5,
 * 93.3, 93.4, 93.0), EasyQuant 93.2 % (93.4, 93.2, 93.8, 93.0); agreement with float
 * 97.8 -> 98.3 % (97.9 -> 98.5, 98.4 -> 98.2, 97.5 -> 98.2, 97.9 -> 98.4).  On all
 * 10,000 test images (seed 0): 91.92 % -> 92.52 %, and 92.74 % with the defaults
 * (images: 50, n: 100). */
START_TEST(accuracy_against_round_to_nearest) {
    ptq_dataset *ds = test_images();
    kit *rtn = kit_open(pipeline("  []", true));
    ck_assert_msg(kit_run(rtn, 0, -1) == PTQ_OK, "%s", rtn->msg);
    int64_t numel;
    float *fl = kit_forward(rtn, false, ds->images, ds->n, &numel);
    float *base = kit_forward(rtn, true, ds->images, ds->n, &numel);
    kit_close(rtn);
    kit *k = kit_open(pipeline(search_pass, true));
    ck_assert_msg(kit_run(k, 0, -1) == PTQ_OK, "%s", k->msg);
    float *eq = kit_forward(k, true, ds->images, ds->n, &numel);
    kit_close(k);
    const int64_t classes = numel / ds->n;
    const double acc_fl = top1(fl, ds->labels, ds->n, classes);
    const double acc_base = top1(base, ds->labels, ds->n, classes);
    const double acc_eq = top1(eq, ds->labels, ds->n, classes);
    const double agree_base = kit_top1_agreement(base, fl, ds->n, classes);
    const double agree_eq = kit_top1_agreement(eq, fl, ds->n, classes);
    fprintf(stderr, "W6A6 on 1000 test images: top-1 float %.1f %%, min/max RTN %.1f %%, "
            "EasyQuant %.1f %%; agreement with float %.1f %% -> %.1f %%\n", 100 * acc_fl,
            100 * acc_base, 100 * acc_eq, 100 * agree_base, 100 * agree_eq);
    ck_assert_msg(acc_eq >= acc_base - 0.005, "EasyQuant %.4f vs round-to-nearest %.4f", acc_eq,
                  acc_base);
    ck_assert_msg(agree_eq >= agree_base - 0.005, "agreement with float: EasyQuant %.4f, RTN %.4f",
                  agree_eq, agree_base);
    free(fl), free(base), free(eq);
    ptq_dataset_free(ds);
}
END_TEST

/* search: weights leaves every activation quantizer as calibrated; search: activations
 * leaves every weight scale as calibrated. */
START_TEST(search_modes_touch_only_their_side) {
    static const char *const passes[] = {
        "  - easyquant.search_scales: {images: 16, n: 20, rounds: 1, search: weights}\n",
        "  - easyquant.search_scales: {images: 16, n: 20, rounds: 1, search: activations}\n"};
    int32_t eq;
    kit *k = open_before_search(passes[_i], &eq);
    const ptq_session *s = k->s;
    float **scales = calloc((size_t)s->n_q, sizeof *scales);
    for (int32_t q = 0; q < s->n_q; q++) {
        scales[q] = malloc((size_t)s->q[q].qp.n * sizeof(float));
        memcpy(scales[q], s->q[q].qp.scale, (size_t)s->q[q].qp.n * sizeof(float));
    }
    ck_assert_msg(kit_run(k, eq, eq + 1) == PTQ_OK, "%s", k->msg);
    int32_t moved = 0;
    for (int32_t q = 0; q < s->n_q; q++) {
        const bool same = !memcmp(scales[q], s->q[q].qp.scale, (size_t)s->q[q].qp.n * sizeof(float));
        const bool searched_side = _i == 0 ? s->q[q].is_weight : !s->q[q].is_weight;
        if (!searched_side) ck_assert_msg(same, "quantizer of '%s' moved", s->g->values[s->q[q].value].name);
        moved += !same;
        free(scales[q]);
    }
    free(scales);
    ck_assert_int_gt(moved, 0);
    kit_close(k);
}
END_TEST

/* ---- refusals ------------------------------------------------------------------------- */

START_TEST(alpha_not_below_beta_refused) {
    int32_t eq;
    kit *k = open_before_search("  - easyquant.search_scales: {alpha: 1.0, beta: 1.0}\n", &eq);
    ck_assert_int_eq(kit_run(k, eq, eq + 1), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(k->msg, "alpha") && test_contains(k->msg, "beta"), "%s", k->msg);
    kit_close(k);
}
END_TEST

START_TEST(more_images_than_calibration_refused) {
    int32_t eq;
    kit *k = open_before_search("  - easyquant.search_scales: {images: 300}\n", &eq);
    ck_assert_int_eq(kit_run(k, eq, eq + 1), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(k->msg, "images") && test_contains(k->msg, "300") &&
                      test_contains(k->msg, "256"), "%s", k->msg);
    kit_close(k);
}
END_TEST

/* The pass reads calib.data: a pipeline without a calibration section does not load. */
START_TEST(no_calibration_refused_at_load) {
    char msg[1024];
    kit *k = kit_try_open(pipeline(search_pass, false), msg, sizeof msg);
    ck_assert_ptr_null(k);
    ck_assert_msg(test_contains(msg, "calib.data"), "%s", msg);
}
END_TEST

/* Out-of-range parameters are refused at load, naming the parameter. */
START_TEST(bad_parameters_refused_at_load) {
    static const char *const bad[][2] = {{"{alpha: 0}", "alpha"}, {"{beta: 20}", "beta"},
                                         {"{n: 1}", "n"}, {"{rounds: 0}", "rounds"},
                                         {"{search: everything}", "everything"}};
    char passes[256], msg[1024];
    snprintf(passes, sizeof passes, "  - easyquant.search_scales: %s\n", bad[_i][0]);
    kit *k = kit_try_open(pipeline(passes, true), msg, sizeof msg);
    ck_assert_ptr_null(k);
    ck_assert_msg(test_contains(msg, bad[_i][1]), "%s", msg);
}
END_TEST

/* A NaN in the data the search caches is a numeric error naming the layer, and leaves
 * the weights as they were. */
START_TEST(nan_in_cached_tensor_refused) {
    int32_t eq;
    kit *k = open_before_search(search_pass, &eq);
    k->s->calib->images[5] = NAN; /* image 0, after calibration already happened */
    const int32_t w = k->s->g->nodes[0].inputs[1];
    const size_t bytes = (size_t)ptq_tensor_numel(k->s->g->values[w].data) * sizeof(float);
    float *saved = malloc(bytes);
    memcpy(saved, k->s->g->values[w].data->data, bytes);
    ck_assert_int_eq(kit_run(k, eq, eq + 1), PTQ_ERR_NUMERIC);
    ck_assert_msg(test_contains(k->msg, "/stem/stem.0/Conv") && test_contains(k->msg, "NaN"),
                  "%s", k->msg);
    ck_assert(memcmp(saved, k->s->g->values[w].data->data, bytes) == 0);
    free(saved);
    kit_close(k);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("easyquant");
    TCase *t = tcase_create("easyquant");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, every_layer_at_least_as_similar, 0, 2);
    tcase_add_test(t, float_model_unchanged);
    tcase_add_test(t, accuracy_against_round_to_nearest);
    tcase_add_loop_test(t, search_modes_touch_only_their_side, 0, 2);
    tcase_add_test(t, alpha_not_below_beta_refused);
    tcase_add_test(t, more_images_than_calibration_refused);
    tcase_add_test(t, no_calibration_refused_at_load);
    tcase_add_loop_test(t, bad_parameters_refused_at_load, 0, 5);
    tcase_add_test(t, nan_in_cached_tensor_refused);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
