/* test_sensitivity.c — sensitivity.measure and sensitivity.keep through the real plugin
 * and host on the bundled ResNet-20 at W4A4, and the SDK 0.9 members they stand on:
 *   - the ranking names every weighted layer once, sorted by the chosen key, and the
 *     artifact says the same;
 *   - each layer alone quantized (the rest float) agrees with the float model highly;
 *     alone float helps on the whole (taking every layer's quantizers out is far better
 *     than the quantized model; most layers alone float do not lower the SQNR);
 *   - run_new_bypass really leaves quantizers out: all of them is the float model bit for
 *     bit, none is run_new's quantized model bit for bit; a wrong mask is refused;
 *   - quantizer_set_bits: widths 2..8 and 16 only, a new grid uncalibrated, the same
 *     width a no-op, asymmetric per-channel weights too wide for the target refused;
 *   - keep after measure raises the first three layers of the stored ranking to 8 bits
 *     (quantizer_view says so), recalibrated, and the output SQNR does not fall;
 *   - refusals: n above the layer count (naming it), widths out of range, keep after a
 *     reconstruction pass (at planning);
 *   - end to end: `ptq run` of the W4A4 example with keep, then the exported QDQ model
 *     evaluated again reproduces the simulated top-1 with mixed widths in it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/plugin.h"
#include "plugin_kit.h"

#define MEASURE_IMAGES (kit_quick() ? 8 : 64)
#define LAYERS 22 /* ResNet-20: 21 convolutions and the classifier */

/* ResNet-20 W4A4 (the example's grids), 128 calibration images, `passes`. */
static const char *pipeline(const char *passes) {
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "model: @MODELS@/resnet20_fmnist.onnx\n"
             "calibration:\n"
             "  images: @FMNIST@/train-images-idx3-ubyte.gz\n"
             "  labels: @FMNIST@/train-labels-idx1-ubyte.gz\n"
             "  count: %d\n"
             "quantization:\n"
             "  weights: {bits: 4, granularity: channel, symmetric: true, observer: mse}\n"
             "  activations: {bits: 4, granularity: tensor, symmetric: false, observer: mse}\n"
             "passes:\n%s\n",
             kit_quick() ? 16 : 128, passes);
    return buf;
}

/* The rows pass `pass` added to `table`, in order. */
static int32_t rows_of(const kit *k, int32_t pass, const char *table, const ptq_report_row **rows,
                       int32_t max) {
    int32_t n = 0;
    for (int32_t r = 0; r < k->s->n_rows; r++) {
        const ptq_report_row *row = &k->s->rows[r];
        if (row->pass != pass || strcmp(row->table, table)) continue;
        ck_assert_int_lt(n, max);
        rows[n++] = row;
    }
    return n;
}

static int32_t node_named(const kit *k, const char *name) {
    for (int32_t i = 0; i < k->s->g->n_nodes; i++)
        if (!strcmp(k->s->g->nodes[i].name, name)) return i;
    ck_abort_msg("no node '%s'", name);
    return -1;
}

/* The weight quantizer of node, and the activation quantizer it reads (deploy placement:
 * at its input, or behind the Flatten/pooling before it). */
static int32_t weight_q(const kit *k, int32_t node) {
    for (int32_t i = 0; i < k->s->n_q; i++)
        if (k->s->q[i].is_weight && k->s->q[i].node == node) return i;
    ck_abort_msg("node %d has no weight quantizer", node);
    return -1;
}

static int32_t input_q(const kit *k, int32_t node) {
    const ptq_graph *g = k->s->g;
    int32_t v = g->nodes[node].inputs[0];
    for (int hops = 0; hops < 8 && v >= 0; hops++) {
        const int32_t q = ptq_session_quantizer_of(k->s, v);
        if (q >= 0 && !k->s->q[q].is_weight) return q;
        const int32_t p = g->values[v].producer;
        if (p < 0) break;
        v = g->nodes[p].inputs[0];
    }
    return -1;
}

/* ---- sensitivity.measure -------------------------------------------------------------------- */

/* Opens the pipeline with one sensitivity.measure (by `by`) and runs it; *at is its index. */
static kit *measured(const char *by, int32_t *at) {
    char passes[256];
    snprintf(passes, sizeof passes, "  - sensitivity.measure: {images: %d, by: %s}\n", MEASURE_IMAGES, by);
    kit *k = kit_open_before(pipeline(passes), "sensitivity.measure", at);
    ck_assert_msg(kit_run(k, *at, *at + 1) == PTQ_OK, "%s", k->msg);
    return k;
}

/* Every weighted layer once, in the table and in the artifact, in the same order. */
static void check_every_layer_once(const kit *k, const ptq_report_row **rows, int32_t n, int32_t by) {
    ck_assert_int_eq(n, LAYERS);
    size_t size = 0;
    const int32_t *ids = ptq_session_artifact_get(k->s, "sensitivity.ranking", &size);
    const int32_t *stored_by = ptq_session_artifact_get(k->s, "sensitivity.ranking.by", NULL);
    ck_assert_ptr_nonnull(ids);
    ck_assert_ptr_nonnull(stored_by);
    ck_assert_int_eq(*stored_by, by);
    ck_assert_uint_eq(size, LAYERS * sizeof(int32_t));
    int32_t weighted = 0;
    for (int32_t i = 0; i < k->s->g->n_nodes; i++) weighted += ptq_op_has_weights(k->s->g->nodes[i].op);
    ck_assert_int_eq(weighted, LAYERS);
    for (int32_t i = 0; i < n; i++) {
        ck_assert_int_eq((int)kit_row_value(rows[i], "rank"), i + 1);
        ck_assert_int_eq(ids[i], node_named(k, rows[i]->name));
        ck_assert(ptq_op_has_weights(k->s->g->nodes[ids[i]].op));
        for (int32_t j = 0; j < i; j++) ck_assert_int_ne(ids[i], ids[j]);
        ck_assert_int_eq((int)kit_row_value(rows[i], "weight_bits"), 4);
        ck_assert_int_eq((int)kit_row_value(rows[i], "act_bits"), 4);
        /* The calibration set has labels: the top-1 columns are there. */
        const double t = kit_row_value(rows[i], "alone_quantized_top1");
        ck_assert(t >= 0.0 && t <= 1.0);
    }
}

/* by alone_quantized: sorted by that SQNR ascending; every layer alone quantized agrees
 * with float highly (a 4-bit layer among float ones). */
START_TEST(measure_alone_quantized) {
    int32_t at;
    kit *k = measured("alone_quantized", &at);
    const ptq_report_row *rows[64];
    const int32_t n = rows_of(k, at, "layers", rows, 64);
    check_every_layer_once(k, rows, n, 0);
    int32_t high = 0;
    for (int32_t i = 0; i < n; i++) {
        const double sq = kit_row_value(rows[i], "alone_quantized_sqnr_db");
        const double agree = kit_row_value(rows[i], "alone_quantized_agree");
        if (i > 0) ck_assert(sq >= kit_row_value(rows[i - 1], "alone_quantized_sqnr_db"));
        ck_assert_msg(agree >= (kit_quick() ? 0.6 : 0.85), "%s alone quantized agrees %.3f", rows[i]->name, agree);
        high += agree >= 0.97;
    }
    ck_assert_msg(high >= n * 3 / 4, "only %d of %d layers alone quantized agree >= 97 %%", high, n);
    /* The quantized model's row. */
    const ptq_report_row *m = kit_first_row(k, "model", at);
    ck_assert(kit_row_value(m, "sqnr_db") < kit_row_value(rows[n - 1], "alone_quantized_sqnr_db"));
    kit_close(k);
}
END_TEST

/* by alone_float: sorted by the gain descending; taking a layer out of quantization helps
 * on the whole: most layers do not lower the SQNR, the best gains, and every layer's
 * quantizers out together is far above the quantized model.  (Not per layer: at 4 bits
 * errors partly cancel, and a layer's input quantizer is shared with a residual Add.) */
START_TEST(measure_alone_float) {
    int32_t at;
    kit *k = measured("alone_float", &at);
    const ptq_report_row *rows[64];
    const int32_t n = rows_of(k, at, "layers", rows, 64);
    check_every_layer_once(k, rows, n, 1);
    const double base = kit_row_value(kit_first_row(k, "model", at), "sqnr_db");
    int32_t not_lower = 0;
    for (int32_t i = 0; i < n; i++) {
        const double gain = kit_row_value(rows[i], "alone_float_gain_db");
        ck_assert(fabs(kit_row_value(rows[i], "alone_float_sqnr_db") - base - gain) < 1e-9);
        if (i > 0) ck_assert(gain <= kit_row_value(rows[i - 1], "alone_float_gain_db"));
        not_lower += gain >= -0.1;
    }
    ck_assert_msg(not_lower >= n / 2, "%d of %d layers alone float lower the SQNR by > 0.1 dB",
                  n - not_lower, n);
    ck_assert(kit_row_value(rows[0], "alone_float_gain_db") > 0.0);
    /* Every layer's quantizers out at once. */
    const ptq_host *h = ptq_host_table();
    uint8_t *mask = calloc((size_t)k->s->n_q, 1);
    for (int32_t i = 0; i < k->s->g->n_nodes; i++) {
        if (!ptq_op_has_weights(k->s->g->nodes[i].op)) continue;
        mask[weight_q(k, i)] = 1;
        const int32_t a = input_q(k, i);
        if (a >= 0) mask[a] = 1;
    }
    const int64_t N = MEASURE_IMAGES;
    float *x = kit_images(k, N);
    int64_t numel;
    float *y = kit_forward(k, false, x, N, &numel);
    const int32_t in = k->s->g->inputs[0], out = k->s->g->outputs[0];
    ptq_run *r = h->run_new_bypass(k->s, NULL, 0, &out, 1, N, mask, k->s->n_q);
    ck_assert_msg(r != NULL, "%s", k->s->err.msg);
    ck_assert_int_eq(h->run_bind(r, in, x), PTQ_OK);
    ck_assert_int_eq(h->run_exec(r, N), PTQ_OK);
    const float *z = h->run_data(r, out);
    double sig = 0, noise = 0;
    for (int64_t i = 0; i < numel; i++) sig += (double)y[i] * y[i], noise += ((double)y[i] - z[i]) * ((double)y[i] - z[i]);
    const double all_out = 10.0 * log10(sig / noise);
    ck_assert_msg(all_out > base + 3.0, "every layer float: %.2f dB, quantized model %.2f dB", all_out, base);
    h->run_free(r);
    free(mask), free(x), free(y);
    kit_close(k);
}
END_TEST

/* ---- the SDK 0.9 members ------------------------------------------------------------------- */

/* run_new_bypass: every quantizer left out is the float model exactly, none is the
 * quantized model exactly, one left out differs from both; a mask of the wrong length is
 * refused with a message. */
START_TEST(bypass_really_bypasses) {
    int32_t at;
    kit *k = kit_open_before(pipeline("  - sensitivity.measure: {}\n"), "sensitivity.measure", &at);
    const ptq_host *h = ptq_host_table();
    const int64_t N = 16;
    float *x = kit_images(k, N);
    int64_t numel, numel_q;
    float *yf = kit_forward(k, false, x, N, &numel);
    float *yq = kit_forward(k, true, x, N, &numel_q);
    ck_assert_int_eq(numel, numel_q);
    const int32_t in = k->s->g->inputs[0], out = k->s->g->outputs[0];
    uint8_t *mask = calloc((size_t)k->s->n_q, 1);
    for (int variant = 0; variant < 3; variant++) {
        memset(mask, variant == 0 ? 1 : 0, (size_t)k->s->n_q);
        if (variant == 2) mask[weight_q(k, node_named(k, "/stem/stem.0/Conv"))] = 1;
        ptq_run *r = h->run_new_bypass(k->s, NULL, 0, &out, 1, N, mask, k->s->n_q);
        ck_assert_msg(r != NULL, "%s", k->s->err.msg);
        ck_assert_int_eq(h->run_bind(r, in, x), PTQ_OK);
        ck_assert_int_eq(h->run_exec(r, N), PTQ_OK);
        const float *z = h->run_data(r, out);
        ck_assert_ptr_nonnull(z);
        const size_t bytes = (size_t)numel * sizeof(float);
        if (variant == 0) ck_assert(memcmp(z, yf, bytes) == 0);
        if (variant == 1) ck_assert(memcmp(z, yq, bytes) == 0);
        if (variant == 2) ck_assert(memcmp(z, yf, bytes) != 0 && memcmp(z, yq, bytes) != 0);
        h->run_free(r);
    }
    /* A quantizer left out need not be calibrated. */
    k->s->q[0].calibrated = false;
    memset(mask, 0, (size_t)k->s->n_q);
    mask[0] = 1;
    ptq_run *r = h->run_new_bypass(k->s, NULL, 0, &out, 1, N, mask, k->s->n_q);
    ck_assert_msg(r != NULL, "%s", k->s->err.msg);
    h->run_free(r);
    mask[0] = 0;
    ck_assert_ptr_null(h->run_new_bypass(k->s, NULL, 0, &out, 1, N, mask, k->s->n_q));
    ck_assert_msg(test_contains(k->s->err.msg, "no scale"), "%s", k->s->err.msg);
    k->s->q[0].calibrated = true;
    memset(&k->s->err, 0, sizeof k->s->err);
    ck_assert_ptr_null(h->run_new_bypass(k->s, NULL, 0, &out, 1, N, mask, k->s->n_q - 1));
    ck_assert_msg(test_contains(k->s->err.msg, "quantizers"), "%s", k->s->err.msg);
    free(mask), free(x), free(yf), free(yq);
    kit_close(k);
}
END_TEST

/* quantizer_set_bits on a weight and an activation: the grid, calibration, refusals. */
START_TEST(set_bits_grids) {
    int32_t at;
    kit *k = kit_open_before(pipeline("  - sensitivity.measure: {}\n"), "sensitivity.measure", &at);
    const ptq_host *h = ptq_host_table();
    const int32_t node = node_named(k, "/layers/layers.1/c1/Conv");
    const int32_t w = weight_q(k, node), a = input_q(k, node);
    ck_assert_int_ge(a, 0);
    ptq_quant_view v = {.struct_size = sizeof v};
    /* Widths the pipeline does not take. */
    static const int32_t bad[] = {0, 1, 9, 12, 15, 17, 32};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&k->s->err, 0, sizeof k->s->err);
        ck_assert_int_eq(h->quantizer_set_bits(k->s, w, bad[i]), PTQ_ERR_INVALID);
        ck_assert_msg(test_contains(k->s->err.msg, "2 to 8 or 16"), "%s", k->s->err.msg);
    }
    ck_assert_int_eq(h->quantizer_view(k->s, w, &v), PTQ_OK);
    ck_assert(v.bits == 4 && v.calibrated);
    /* The same width: a no-op that keeps the calibration. */
    ck_assert_int_eq(h->quantizer_set_bits(k->s, w, 4), PTQ_OK);
    ck_assert_int_eq(h->quantizer_view(k->s, w, &v), PTQ_OK);
    ck_assert(v.calibrated);
    /* 8-bit weight under 4-bit activations, portable target: [-64, 64], uncalibrated. */
    ck_assert_int_eq(h->quantizer_set_bits(k->s, w, 8), PTQ_OK);
    ck_assert_int_eq(h->quantizer_view(k->s, w, &v), PTQ_OK);
    ck_assert(v.bits == 8 && v.qmin == -64 && v.qmax == 64 && !v.calibrated && v.n > 1);
    ck_assert_int_eq(h->quantizer_calibrate(k->s, w), PTQ_OK);
    ck_assert_int_eq(h->quantizer_view(k->s, w, &v), PTQ_OK);
    ck_assert(v.calibrated && v.bits == 8);
    /* Activations: unsigned asymmetric grids; 16 bits lifts the weights' limit and
     * recalibrates them at once. */
    ck_assert_int_eq(h->quantizer_set_bits(k->s, a, 8), PTQ_OK);
    ck_assert_int_eq(h->quantizer_view(k->s, a, &v), PTQ_OK);
    ck_assert(v.bits == 8 && v.qmin == 0 && v.qmax == 255 && !v.calibrated);
    ck_assert_int_eq(h->quantizer_set_bits(k->s, a, 16), PTQ_OK);
    ck_assert_int_eq(h->quantizer_view(k->s, a, &v), PTQ_OK);
    ck_assert(v.bits == 16 && v.qmax == 65535);
    ck_assert_int_eq(h->quantizer_view(k->s, w, &v), PTQ_OK);
    ck_assert(v.qmin == -127 && v.qmax == 127 && v.calibrated);
    ck_assert_int_eq(h->quantizer_calibrate(k->s, a), PTQ_OK);
    /* The quantized model runs with the new widths. */
    int64_t numel;
    float *x = kit_images(k, 4);
    free(kit_forward(k, true, x, 4, &numel));
    free(x);
    kit_close(k);

    /* Asymmetric per-channel weights: 7 bits need 8-bit zero-point-free codes, more than
     * the portable target's 7; refused, nothing changed. */
    k = kit_open_before("model: @MODELS@/resnet20_fmnist.onnx\n"
                        "calibration: {images: @FMNIST@/train-images-idx3-ubyte.gz, count: 16}\n"
                        "quantization:\n"
                        "  weights: {bits: 4, granularity: channel, symmetric: false}\n"
                        "  activations: {bits: 4}\n"
                        "passes:\n  - sensitivity.measure: {}\n",
                        "sensitivity.measure", &at);
    const int32_t w2 = weight_q(k, node_named(k, "/layers/layers.1/c1/Conv"));
    ck_assert_int_eq(h->quantizer_set_bits(k->s, w2, 7), PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(k->s->err.msg, "portable"), "%s", k->s->err.msg);
    ck_assert_int_eq(h->quantizer_view(k->s, w2, &v), PTQ_OK);
    ck_assert(v.bits == 4 && v.calibrated);
    ck_assert_int_eq(h->quantizer_set_bits(k->s, w2, 6), PTQ_OK);
    kit_close(k);
}
END_TEST

/* ---- sensitivity.keep ------------------------------------------------------------------------ */

/* measure, then keep n 3 at 8 bits: keep takes the stored ranking (no measurement of its
 * own), raises its first three layers' weight and input quantizers to 8 bits, calibrated,
 * leaves the others at 4, and the output SQNR does not fall. */
START_TEST(keep_raises_the_top_three) {
    char passes[256];
    snprintf(passes, sizeof passes, "  - sensitivity.measure: {images: %d}\n"
             "  - sensitivity.keep: {n: 3, bits: 8, images: %d}\n", MEASURE_IMAGES, MEASURE_IMAGES);
    int32_t at;
    kit *k = kit_open_before(pipeline(passes), "sensitivity.measure", &at);
    ck_assert_msg(kit_run(k, at, -1) == PTQ_OK, "%s", k->msg);
    const int32_t keep = kit_pass(k, "sensitivity.keep", at);
    ck_assert_int_eq(kit_count_rows(k, "layers", keep), 0); /* the stored ranking */
    const int32_t *ids = ptq_session_artifact_get(k->s, "sensitivity.ranking", NULL);
    size_t size = 0;
    const int32_t *kept = ptq_session_artifact_get(k->s, "sensitivity.kept", &size);
    ck_assert_uint_eq(size, 3 * sizeof(int32_t));
    const ptq_report_row *rows[8];
    ck_assert_int_eq(rows_of(k, keep, "kept", rows, 8), 3);
    uint8_t *raised = calloc((size_t)k->s->n_q, 1);
    const ptq_host *h = ptq_host_table();
    for (int32_t i = 0; i < 3; i++) {
        ck_assert_int_eq(kept[i], ids[i]);
        ck_assert_str_eq(rows[i]->name, k->s->g->nodes[ids[i]].name);
        ck_assert_int_eq((int)kit_row_value(rows[i], "rank"), i + 1);
        ck_assert_int_eq((int)kit_row_value(rows[i], "weight_bits_before"), 4);
        ck_assert_int_eq((int)kit_row_value(rows[i], "weight_bits_after"), 8);
        ck_assert_int_eq((int)kit_row_value(rows[i], "act_bits_after"), 8);
        ck_assert(kit_row_value(rows[i], "alone_quantized_sqnr_db_after") >
                  kit_row_value(rows[i], "alone_quantized_sqnr_db_before"));
        const int32_t qs[2] = {weight_q(k, ids[i]), input_q(k, ids[i])};
        for (int j = 0; j < 2; j++) {
            ptq_quant_view v = {.struct_size = sizeof v};
            ck_assert_int_eq(h->quantizer_view(k->s, qs[j], &v), PTQ_OK);
            ck_assert_int_eq(v.bits, 8);
            ck_assert(v.calibrated);
            raised[qs[j]] = 1;
        }
    }
    for (int32_t q = 0; q < k->s->n_q; q++) {
        ptq_quant_view v = {.struct_size = sizeof v};
        ck_assert_int_eq(h->quantizer_view(k->s, q, &v), PTQ_OK);
        if (!raised[q]) ck_assert_int_eq(v.bits, 4);
    }
    const ptq_report_row *mb = NULL, *ma = NULL;
    for (int32_t r = 0; r < k->s->n_rows; r++) {
        const ptq_report_row *row = &k->s->rows[r];
        if (row->pass != keep || strcmp(row->table, "model")) continue;
        if (!strcmp(row->name, "before")) mb = row;
        if (!strcmp(row->name, "after")) ma = row;
    }
    ck_assert(mb && ma);
    ck_assert_msg(kit_row_value(ma, "sqnr_db") >= kit_row_value(mb, "sqnr_db"), "%.2f -> %.2f dB",
                  kit_row_value(mb, "sqnr_db"), kit_row_value(ma, "sqnr_db"));
    /* The report's own per-layer widths follow the quantizers (report.c reads qp.bits). */
    ck_assert_int_eq(k->s->q[weight_q(k, ids[0])].qp.bits, 8);
    free(raised);
    kit_close(k);
}
END_TEST

/* Sets integer parameter `name` of planned pass `pass` through its table's offset. */
static void set_param(kit *k, int32_t pass, const char *name, int64_t value) {
    const ptq_pass_cfg *pc = &k->p->passes[pass];
    for (const ptq_param_def *d = pc->def->params; d && d->name; d++)
        if (!strcmp(d->name, name)) {
            memcpy((char *)pc->params + d->offset, &value, sizeof value);
            return;
        }
    ck_abort_msg("no parameter '%s'", name);
}

/* Refused at run time, naming what is wrong, before anything changes: n above the layer
 * count, widths between 9 and 15 (the parameters' ranges admit them). */
START_TEST(keep_refusals) {
    static const struct {
        const char *param;
        int64_t value;
        const char *says;
    } cases[] = {{"n", 30, "22 quantized layers"}, {"bits", 12, "bits: 12"},
                 {"weight_bits", 9, "weight_bits: 9"}, {"act_bits", 10, "act_bits: 10"}};
    int32_t at;
    kit *k = kit_open_before(pipeline("  - sensitivity.keep: {images: 8}\n"), "sensitivity.keep", &at);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        set_param(k, at, cases[i].param, cases[i].value);
        ck_assert_int_eq(kit_run(k, at, at + 1), PTQ_ERR_INVALID);
        ck_assert_msg(test_contains(k->msg, cases[i].says), "%s", k->msg);
        for (int32_t q = 0; q < k->s->n_q; q++) ck_assert_int_eq(k->s->q[q].qp.bits, 4);
        set_param(k, at, cases[i].param, !strcmp(cases[i].param, "n") ? 3 : !strcmp(cases[i].param, "bits") ? 8 : 0);
    }
    kit_close(k);
}
END_TEST

/* At planning: parameters out of their range, and keep after a pass that learned
 * something on the old grids (AdaRound's rounding, EasyQuant's scales), naming both and
 * the order that works; keep before them loads. */
START_TEST(keep_order_and_ranges_at_load) {
    static const char *const cases[][2] = {
        {"  - sensitivity.keep: {n: 0}\n", "n"},
        {"  - sensitivity.keep: {bits: 1}\n", "bits"},
        {"  - sensitivity.measure: {by: worst}\n", "worst"},
        {"  - adaround.reconstruct: {}\n  - sensitivity.keep: {}\n",
         "Put 'sensitivity.keep' before 'adaround.reconstruct'"},
        {"  - easyquant.search_scales: {}\n  - sensitivity.keep: {}\n",
         "Put 'sensitivity.keep' before 'easyquant.search_scales'"},
        {"  - sensitivity.keep: {}\n  - adaround.reconstruct: {}\n", NULL},
        {"  - sensitivity.keep: {}\n  - nwq.reconstruct: {iterations: 1}\n", NULL},
    };
    char msg[2048] = "";
    kit *k = kit_try_open(pipeline(cases[_i][0]), msg, sizeof msg);
    if (!cases[_i][1]) {
        ck_assert_msg(k != NULL, "%s", msg);
        kit_close(k);
        return;
    }
    ck_assert_ptr_null(k);
    ck_assert_msg(test_contains(msg, cases[_i][1]), "%s", msg);
}
END_TEST

/* ---- end to end: the example through `ptq run`, the export evaluated again ---------------- */

static double json_number_after(const char *text, const char *key1, const char *key2) {
    const char *p = strstr(text, key1);
    ck_assert_msg(p != NULL, "no %s in report.json", key1);
    p = strstr(p, key2);
    ck_assert_msg(p != NULL, "no %s after %s in report.json", key2, key1);
    return strtod(p + strlen(key2), NULL);
}

START_TEST(export_reproduces_mixed_widths) {
    const int eval = kit_quick() ? 100 : 500;
    char dir[] = "/tmp/ptq_sensitivity_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* The example with its model line swapped and its counts cut to this test's budget. */
    char path[1024], yaml[4096], out[128];
    snprintf(path, sizeof path, "%s/%s", PTQ_SOURCE_DIR, "examples/sensitivity_w4a4.yaml");
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model:", 6))
            snprintf(line, sizeof line, "model: %s/models/resnet20_fmnist.onnx\n", PTQ_SOURCE_DIR);
        else if (strstr(line, "count: 1024"))
            snprintf(line, sizeof line, "  count: %d\n", kit_quick() ? 16 : 128);
        else if (strstr(line, "sensitivity.keep:"))
            snprintf(line, sizeof line, "  - sensitivity.keep: {n: 3, bits: 8, images: %d}\n", MEASURE_IMAGES);
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "%s", line);
        if (strstr(line, "t10k-labels")) n += (size_t)snprintf(yaml + n, sizeof yaml - n, "  count: %d\n", eval);
    }
    fclose(f);
    ck_assert(strstr(yaml, "sensitivity.keep: {n: 3") != NULL);
    char ypath[128];
    snprintf(ypath, sizeof ypath, "%s/p.yaml", dir);
    f = fopen(ypath, "w");
    fputs(yaml, f);
    fclose(f);
    snprintf(out, sizeof out, "%s/run", dir);
    ptq_run_options o = {.out_dir = out, .plugin_dir = PTQ_BUILD_PLUGIN_DIR};
    ptq_error err = {0};
    unsetenv("PTQ_PLUGIN_PATH");
    ck_assert_msg(ptq_run_file(ypath, &o, &err) == PTQ_OK, "%s", err.msg);
    /* The simulated top-1 the run reported. */
    snprintf(path, sizeof path, "%s/report.json", out);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char report[1 << 20];
    const size_t len = fread(report, 1, sizeof report - 1, f);
    report[len] = 0;
    fclose(f);
    const double simulated = json_number_after(report, "\"quantized\": {", "\"top1\":");
    ck_assert(strstr(report, "\"kept\"") != NULL);
    /* The export, imported again (QuantizeLinear/DequantizeLinear back to fake quantizers):
     * 4- and 8-bit grids side by side, and the same top-1 on the same images. */
    snprintf(path, sizeof path, "%s/model.qdq.onnx", out);
    ptq_graph *g = ptq_onnx_load(path, NULL, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    int32_t act4 = 0, act8 = 0; /* uint8 activations: 4-bit ones narrowed by a Clip after */
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *fq = &g->nodes[i];
        if (fq->op != PTQ_OP_FAKE_QUANT || fq->attrs.qmin != 0 || fq->attrs.qmax != 255) continue;
        int32_t rd[16];
        const int32_t nr = ptq_graph_readers(g, fq->outputs[0], rd, 16);
        bool narrowed = false;
        for (int32_t j = 0; j < nr && j < 16; j++) narrowed |= g->nodes[rd[j]].op == PTQ_OP_CLIP;
        act4 += narrowed, act8 += !narrowed;
    }
    ck_assert_msg(act4 > 0 && act8 >= 3, "4-bit activation grids %d, 8-bit %d", act4, act8);
    ptq_preprocess pp = {0};
    ck_assert(ptq_sidecar_normalization(PTQ_SOURCE_DIR "/models/resnet20_fmnist.onnx", &pp, NULL, 0));
    ptq_dataset *ds = ptq_dataset_load("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                       "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                                       &pp, eval, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ptq_eval_result res;
    ck_assert_msg(ptq_evaluate(g, ds, 100, 2, NULL, &res, &err) == PTQ_OK, "%s", err.msg);
    ck_assert_msg(fabs(res.top1 - simulated) <= 1.5 / eval, "export %.4f, simulated %.4f", res.top1,
                  simulated);
    ptq_dataset_free(ds);
    ptq_graph_free(g);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("sensitivity");
    TCase *t = tcase_create("sensitivity");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, measure_alone_quantized);
    tcase_add_test(t, measure_alone_float);
    tcase_add_test(t, bypass_really_bypasses);
    tcase_add_test(t, set_bits_grids);
    tcase_add_test(t, keep_raises_the_top_three);
    tcase_add_test(t, keep_refusals);
    tcase_add_loop_test(t, keep_order_and_ranges_at_load, 0, 7);
    tcase_add_test(t, export_reproduces_mixed_widths);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
