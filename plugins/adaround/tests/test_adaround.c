/* test_adaround.c — adaround.reconstruct through the real plugin and host on the bundled
 * ResNet-20: learned rounding beats round-to-nearest where it should (W2A32, by a wide
 * margin), every weighted layer is a unit of the report, the frozen codes are floor or ceil of
 * w / s and are what the quantized model uses, the float model is untouched, block
 * granularity follows the session's blocks, QDrop and activation-step learning move the
 * activation scales, and a NaN in the data stops with an error naming the unit and the
 * iteration while leaving every weight at round-to-nearest. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"

/* Full suite: enough steps for the accuracy claims; sanitizers: the same paths, briefly. */
#define ITERS (kit_quick() ? 10 : 300)
#define CALIB (kit_quick() ? 64 : 512)

static const char *pipeline(int wbits, int abits, const char *pass) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "model: @MODELS@/resnet20_fmnist.onnx\n"
             "calibration:\n  images: @FMNIST@/train-images-idx3-ubyte.gz\n  count: %d\n"
             "quantization:\n"
             "  weights: {bits: %d, granularity: channel, symmetric: false, observer: mse}\n"
             "  activations: {bits: %d, granularity: tensor, symmetric: false, observer: mse}\n"
             "  target: none\n" /* the papers' grids: asymmetric per-channel 8-bit ends */
             "  overrides:\n    - nodes: [first, last]\n      weights: {bits: 8}\n"
             "      activations: {bits: 8}\n"
             "passes:\n  - %s\n",
             CALIB, wbits, abits, pass);
    return buf;
}

START_TEST(w2a32_layer_beats_nearest) {
    char pass[128];
    snprintf(pass, sizeof pass, "adaround.reconstruct: {iterations: %d}", ITERS);
    int32_t at;
    kit *k = kit_open_before(pipeline(2, 32, pass), "adaround.reconstruct", &at);
    const int64_t test_images = kit_quick() ? 100 : 1000;
    const double rtn = kit_accuracy(k, true, test_images);
    /* The float weights, to show they are untouched. */
    const ptq_graph *g = k->s->g;
    float **before = calloc((size_t)k->s->n_q, sizeof *before);
    for (int32_t i = 0; i < k->s->n_q; i++) {
        const ptq_tensor *w = g->values[k->s->q[i].value].data;
        if (!k->s->q[i].is_weight) continue;
        before[i] = malloc((size_t)ptq_tensor_numel(w) * sizeof(float));
        memcpy(before[i], w->data, (size_t)ptq_tensor_numel(w) * sizeof(float));
    }
    ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
    const double ada = kit_accuracy(k, true, test_images);
    fprintf(stderr, "W2A32 ResNet-20, %d steps/layer, %d test images: nearest %.2f%%, AdaRound %.2f%%\n",
            ITERS, (int)test_images, 100 * rtn, 100 * ada);
    if (!kit_quick()) ck_assert_msg(ada >= rtn + 0.08, "AdaRound %.3f vs nearest %.3f", ada, rtn);
    /* One report row per weighted layer (21 Conv + 1 Gemm), every loss falling. */
    ck_assert_int_eq(kit_count_rows(k, "units", at), 22);
    for (int32_t i = 0; i < k->s->n_rows; i++) {
        const ptq_report_row *r = &k->s->rows[i];
        if (r->pass != at) continue;
        ck_assert_double_eq(kit_row_value(r, "weights"), 1);
        /* (loss_first is the soft start, h(V) = frac(w/s): the float weight itself, so
         * the hard end need not be below it; the accuracy above is the claim.) */
        ck_assert(isfinite(kit_row_value(r, "loss_first")) && isfinite(kit_row_value(r, "loss_last")));
        ck_assert(kit_row_value(r, "peak_mb") > 0 || !strcmp(r->name, "/fc/Gemm"));
    }
    /* Frozen codes: floor or ceil of w / s (never further), some away from nearest, and
     * the float weights bit for bit as they were. */
    int64_t flipped = 0;
    for (int32_t i = 0; i < k->s->n_q; i++) {
        const ptq_quantizer *q = &k->s->q[i];
        if (!q->is_weight) continue;
        ck_assert_str_eq(q->rounding.name, "adaround.hard");
        const ptq_tensor *w = g->values[q->value].data;
        const int64_t n = ptq_tensor_numel(w), inner = n / q->qp.n;
        ck_assert_mem_eq(w->data, before[i], (size_t)n * sizeof(float));
        int32_t *codes = malloc((size_t)n * sizeof *codes);
        ck_assert_int_eq(ptq_session_weight_codes(k->s, i, codes), PTQ_OK);
        const float *x = w->data;
        for (int64_t e = 0; e < n; e++) {
            const int64_t c = q->qp.n > 1 ? e / inner : 0;
            const float v = x[e] / q->qp.scale[c];
            const int32_t z = q->qp.zero_point[c];
            const int32_t lo = (int32_t)floorf(v) + z, hi = lo + 1;
            const int32_t code = codes[e];
            const bool clamped = code == q->qp.qmin || code == q->qp.qmax;
            ck_assert_msg(clamped || code == lo || code == hi, "weight %d[%ld]: code %d for v %g", i,
                          (long)e, code, (double)v);
            flipped += code != PTQ_MIN(PTQ_MAX((int32_t)rintf(v) + z, q->qp.qmin), q->qp.qmax);
        }
        free(codes);
        free(before[i]);
    }
    free(before);
    ck_assert_int_gt(flipped, 0);
    kit_close(k);
}
END_TEST

START_TEST(block_granularity_follows_blocks) {
    char pass[160];
    snprintf(pass, sizeof pass, "adaround.reconstruct: {granularity: block, iterations: %d}",
             kit_quick() ? 5 : 50);
    int32_t at;
    kit *k = kit_open_before(pipeline(3, 32, pass), "adaround.reconstruct", &at);
    ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
    /* ResNet-20's grouping: stem, 9 residual blocks, head (blocks.c). */
    ck_assert_int_eq(kit_count_rows(k, "units", at), 11);
    int32_t multi = 0;
    for (int32_t i = 0; i < k->s->n_rows; i++)
        if (k->s->rows[i].pass == at) multi += kit_row_value(&k->s->rows[i], "weights") >= 2;
    ck_assert_int_ge(multi, 9);
    kit_close(k);
}
END_TEST

START_TEST(qdrop_learns_activation_steps) {
    char pass[200];
    snprintf(pass, sizeof pass,
             "adaround.reconstruct: {granularity: block, iterations: %d, drop_prob: 0.5, "
             "act_lr: 1.0e-3, act_grad_scale: true}", kit_quick() ? 5 : 40);
    int32_t at;
    kit *k = kit_open_before(pipeline(4, 4, pass), "adaround.reconstruct", &at);
    float *scales = calloc((size_t)k->s->n_q, sizeof *scales);
    for (int32_t i = 0; i < k->s->n_q; i++) scales[i] = k->s->q[i].qp.scale[0];
    ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
    int32_t moved = 0, acts = 0;
    for (int32_t i = 0; i < k->s->n_q; i++) {
        if (k->s->q[i].is_weight) continue;
        acts++;
        moved += k->s->q[i].qp.scale[0] != scales[i];
        ck_assert(k->s->q[i].qp.scale[0] > 0.0f);
    }
    /* Every activation quantizer inside a block moves; the network input's does not
     * (no unit owns it). */
    ck_assert_int_ge(moved, acts - 2);
    free(scales);
    kit_close(k);
}
END_TEST

/* BRECQ's order: with act_recalibrate the activation ranges are observed again on the
 * quantized model after the weight phase, so they differ from the float calibration; the
 * paper placement and skip_first (the stem stays at nearest in block mode) hold. */
static const char *paper_pipeline(const char *pass) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "model: @MODELS@/resnet20_fmnist.onnx\n"
             "calibration:\n  images: @FMNIST@/train-images-idx3-ubyte.gz\n  count: %d\n"
             "quantization:\n"
             "  weights: {bits: 2, granularity: channel, symmetric: false, observer: mse, p: 2.4, search: shrink}\n"
             "  activations: {bits: 4, granularity: tensor, symmetric: false, observer: mse, p: 2.4,\n"
             "                search: shrink, images: 32}\n"
             "  placement: paper\n  target: none\n"
             "  overrides:\n    - nodes: [first, last]\n      weights: {bits: 8}\n"
             "      activations: {bits: 8}\n"
             "passes:\n  - %s\n",
             CALIB, pass);
    return buf;
}

START_TEST(brecq_order_recalibrates) {
    char pass[256];
    snprintf(pass, sizeof pass,
             "adaround.reconstruct: {granularity: block, iterations: %d, activations: float, "
             "act_recalibrate: true, skip_first: true}", kit_quick() ? 5 : 40);
    int32_t at;
    kit *k = kit_open_before(paper_pipeline(pass), "adaround.reconstruct", &at);
    float *scales = calloc((size_t)k->s->n_q, sizeof *scales);
    for (int32_t i = 0; i < k->s->n_q; i++) scales[i] = k->s->q[i].qp.scale[0];
    ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
    int32_t moved = 0, acts = 0;
    for (int32_t i = 0; i < k->s->n_q; i++) {
        if (k->s->q[i].is_weight) {
            /* skip_first: the stem's weights keep nearest (no rounding installed). */
            if (!strcmp(k->s->g->nodes[k->s->q[i].node].name, "/stem/stem.0/Conv"))
                ck_assert_int_eq(k->s->q[i].rounding.struct_size, 0);
            continue;
        }
        acts++;
        moved += k->s->q[i].qp.scale[0] != scales[i];
    }
    /* 2-bit weights change what every deeper quantizer sees. */
    ck_assert_int_eq(acts, 19);
    ck_assert_int_ge(moved, acts - 2);
    free(scales);
    kit_close(k);
    /* skip_first in block mode needs a first unit of one layer: ResNet-20's stem is. */
}
END_TEST

START_TEST(nan_stops_and_restores) {
    int32_t at;
    kit *k = kit_open_before(pipeline(3, 32, "adaround.reconstruct: {iterations: 5}"), "adaround.reconstruct", &at);
    /* A NaN pixel in every calibration image: the first unit's loss is NaN at once. */
    const ptq_dataset *ds = k->s->calib;
    const int64_t per = (int64_t)ds->c * ds->h * ds->w;
    for (int64_t i = 0; i < ds->n; i++) ds->images[i * per + 100] = NAN;
    ck_assert_int_eq(kit_run(k, at, at + 1), PTQ_ERR_NUMERIC);
    /* The ReLU turns the NaN into 0 in the forward pass, but the weight gradient is NaN:
     * V goes NaN in the first step and the regulariser reports it in the second. */
    ck_assert_msg(test_contains(k->msg, "iteration 2 of 5") && test_contains(k->msg, "/stem/stem.0/Conv") &&
                  test_contains(k->msg, "NaN") && test_contains(k->msg, "left as it was"), "%s", k->msg);
    for (int32_t i = 0; i < k->s->n_q; i++) ck_assert_int_eq(k->s->q[i].rounding.struct_size, 0);
    kit_close(k);
}
END_TEST

START_TEST(refusals) {
    char msg[1600];
    /* QDrop mixes float into quantized activations: meaningless with float activations. */
    kit *k = kit_open(pipeline(4, 4, "adaround.reconstruct: {activations: float, drop_prob: 0.5}"));
    int32_t at = kit_pass(k, "adaround.reconstruct", 0);
    ck_assert_int_eq(kit_run(k, 0, at), PTQ_OK);
    ck_assert_int_eq(kit_run(k, at, at + 1), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(k->msg, "drop_prob"), "%s", k->msg);
    kit_close(k);
    /* Out-of-range parameters are refused when the pipeline loads. */
    ck_assert_ptr_null(kit_try_open(pipeline(4, 32, "adaround.reconstruct: {drop_prob: 1.5}"), msg, sizeof msg));
    ck_assert_msg(test_contains(msg, "drop_prob"), "%s", msg);
    ck_assert_ptr_null(kit_try_open(pipeline(4, 32, "adaround.reconstruct: {granularity: net}"), msg, sizeof msg));
    ck_assert_msg(test_contains(msg, "granularity"), "%s", msg);
}
END_TEST

int main(void) {
    Suite *s = suite_create("adaround");
    TCase *tc = tcase_create("adaround");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, w2a32_layer_beats_nearest);
    tcase_add_test(tc, block_granularity_follows_blocks);
    tcase_add_test(tc, qdrop_learns_activation_steps);
    tcase_add_test(tc, brecq_order_recalibrates);
    tcase_add_test(tc, nan_stops_and_restores);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
