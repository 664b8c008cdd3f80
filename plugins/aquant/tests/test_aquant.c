/* test_aquant.c — AQuant's border rounding and its pass through the real plugin and host:
 *   - the learned rounding's forward: at 0.5 it is round-to-nearest (ties aside); with
 *     the STE relaxation it is bit for bit the core's frozen border rounding (the table
 *     the quantizer keeps afterwards), per channel and shared, in and off the grid;
 *   - its gradient: sigmoid relaxation against central differences of the forward, per
 *     border and per parameter of the linear form; STE: minus the sum over the bin, none
 *     for elements whose bin is off the table;
 *   - a step clamps borders pushed outside [0, 1] and counts it; a NaN gradient is
 *     reported as NaN (the engine then stops);
 *   - aquant.reconstruct on ResNet-20 at W2A2: every 2-bit activation quantizer a unit
 *     reads has frozen borders in the session (the input quantizers of units too: the
 *     engine pulled them in and passed them gradients), the 8-bit one keeps nearest, the
 *     report has its rows, the quantized model runs the borders (clearing them changes
 *     the outputs), and the linear form and the sigmoid relaxation run;
 *   - refusals: quantizer_set_borders on a weight, with the wrong bins, with a border
 *     outside [0, 1]; tau_end above tau_start; max_bins below every grid leaves every
 *     quantizer at nearest with a row saying why. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"
#include "plugin/plugin.h"
/* White-box: the rounding is compiled in (the plugin exports only its entry). */
#include "../border.c"

#define ITERS (kit_quick() ? 4 : 40)
#define CALIB (kit_quick() ? 64 : 256)

static const char *pipeline(int abits, const char *pass) { return kit_resnet20_w2(CALIB, abits, pass); }

/* The first activation quantizer of 2 bits in k's session whose value has channels. */
static int32_t some_activation_quantizer(kit *k, int32_t bits) {
    const ptq_host *h = ptq_host_table();
    for (int32_t q = 0; q < h->quantizer_count(k->s); q++) {
        ptq_quant_view qv = {.struct_size = sizeof qv};
        ptq_tensor_view vv = {.struct_size = sizeof vv};
        if (h->quantizer_view(k->s, q, &qv) || qv.is_weight || qv.bits != bits) continue;
        if (h->value_view(k->s, qv.value, &vv) || vv.ndim != 4) continue;
        return q;
    }
    ck_abort_msg("no %d-bit activation quantizer", bits);
    return -1;
}

/* A session with calibrated quantizers, stopped before the pass. */
static kit *calibrated(int abits, int32_t *at) {
    return kit_open_before(pipeline(abits, "aquant.reconstruct: {iterations: 1}"), "aquant.reconstruct", at);
}

/* Pseudo-random values in [lo, hi). */
static void fill(float *x, int64_t n, float lo, float hi, uint64_t seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = lo + (hi - lo) * (float)(seed >> 40) / (float)(1 << 24);
    }
}

static const aq_border_cfg ste_table = {AQ_BORDER_TABLE, AQ_RELAX_STE, 1e-2, 0.2, 0.01, 100, 0};

/* ---- forward ---------------------------------------------------------------------------- */

START_TEST(half_borders_round_to_nearest) {
    int32_t at;
    kit *k = calibrated(2, &at);
    const ptq_host *h = ptq_host_table();
    const int32_t q = some_activation_quantizer(k, 2);
    aq_border *b = aq_border_new(h, k->s, q, true, &ste_table);
    ck_assert_ptr_nonnull(b);
    enum { N = 4096 };
    static float v[N], out[N];
    fill(v, N, -3.0f, 8.0f, 3);
    aq_border_rounding.forward(b, v, out, N, 0);
    for (int i = 0; i < N; i++)
        if (fabsf(v[i] - floorf(v[i]) - 0.5f) > 1e-4f) ck_assert_float_eq(out[i], rintf(v[i]));
    aq_border_rounding.destroy(b);
    kit_close(k);
}
END_TEST

/* The learned (STE) forward equals the core's frozen rounding of the same table, element
 * for element, for a per-channel and a shared table, starting at any index. */
START_TEST(ste_forward_is_the_frozen_rounding) {
    int32_t at;
    kit *k = calibrated(2, &at);
    const ptq_host *h = ptq_host_table();
    const int32_t q = some_activation_quantizer(k, 2);
    ptq_quant_view qv = {.struct_size = sizeof qv};
    ck_assert_int_eq(h->quantizer_view(k->s, q, &qv), PTQ_OK);
    for (int per = 0; per < 2; per++) {
        aq_border *b = aq_border_new(h, k->s, q, per, &ste_table);
        ck_assert_ptr_nonnull(b);
        fill(b->param, b->n_params, 0.0f, 1.0f, 11 + (uint64_t)per);
        b->param[0] = 0.0f, b->param[1] = 1.0f;
        aq_border_table(b, b->b);
        const int64_t n = 3 * b->value_channels * b->plane; /* three samples */
        float *v = malloc((size_t)n * sizeof *v), *out = malloc((size_t)n * sizeof *out);
        fill(v, n, -2.0f, (float)(qv.qmax - qv.qmin) + 2.0f, 5);
        for (int64_t i = 0; i < n; i += 97) v[i] = floorf(v[i]) + b->b[0]; /* on a border */
        const int64_t from = b->plane + 7; /* a chunk starting inside a channel */
        aq_border_rounding.forward(b, v + from, out + from, n - from, from);
        for (int64_t i = from; i < n; i++) {
            const int64_t c = per ? (i / b->plane) % b->value_channels : 0;
            const float want = ptq_border_round(v[i], b->b + c * b->bins, qv.zero_point[0], qv.qmin, qv.qmax);
            ck_assert_msg(out[i] == want, "per_channel %d, element %lld: v %g learned %g frozen %g", per,
                          (long long)i, v[i], out[i], want);
        }
        free(v), free(out);
        aq_border_rounding.destroy(b);
    }
    kit_close(k);
}
END_TEST

/* ---- gradients -------------------------------------------------------------------------- */

static double probe(aq_border *b, const float *v, const float *g, float *out, int64_t n) {
    aq_border_table(b, b->b);
    aq_border_rounding.forward(b, v, out, n, 0);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)g[i] * out[i];
    return sum;
}

/* Sigmoid relaxation: d (sum g out) / d parameter, table and linear, against central
 * differences of the forward. */
START_TEST(sigmoid_gradient_matches_differences) {
    int32_t at;
    kit *k = calibrated(2, &at);
    const ptq_host *h = ptq_host_table();
    const int32_t q = some_activation_quantizer(k, 2);
    for (int form = 0; form < 2; form++) {
        const aq_border_cfg cfg = {form, AQ_RELAX_SIGMOID, 1e-2, 0.3, 0.3, 100, 0};
        aq_border *b = aq_border_new(h, k->s, q, false, &cfg);
        ck_assert_ptr_nonnull(b);
        /* Parameters off 0.5 and inside (0, 1) everywhere. */
        for (int64_t i = 0; i < b->n_params; i++)
            b->param[i] = form == AQ_BORDER_TABLE ? 0.3f + 0.13f * (float)i : (i % 2 ? 0.2f : 0.45f);
        enum { N = 600 };
        float v[N], g[N], out[N];
        /* Inside the table: off it, the grid's clamp cuts the gradient (the host hands 0). */
        fill(v, N, -b->z_lo, (float)b->bins - b->z_lo, 21);
        fill(g, N, -1.0f, 1.0f, 22);
        probe(b, v, g, out, N);
        memset(b->gb, 0, (size_t)(b->channels * b->bins) * sizeof(float));
        aq_border_rounding.backward_state(b, v, g, N, 0);
        aq_border_param_grad(b);
        for (int64_t j = 0; j < b->n_params; j++) {
            const float keep = b->param[j], eps = 1e-3f;
            b->param[j] = keep + eps;
            const double up = probe(b, v, g, out, N);
            b->param[j] = keep - eps;
            const double down = probe(b, v, g, out, N);
            b->param[j] = keep;
            const double numeric = (up - down) / (2.0 * eps);
            ck_assert_msg(fabs(numeric - b->grad[j]) < 2e-2 + 2e-2 * fabs(numeric),
                          "form %d, parameter %lld: analytic %g, numeric %g", form, (long long)j,
                          b->grad[j], numeric);
        }
        aq_border_rounding.destroy(b);
    }
    kit_close(k);
}
END_TEST

/* The sigmoid's memo (one expf per element and step instead of three) changes nothing:
 * forward, the backward's second forward and the gradient equal those computed without
 * it, bit for bit, and a step (new borders, new temperature) invalidates it. */
START_TEST(sigmoid_memo_is_exact) {
    int32_t at;
    kit *k = calibrated(2, &at);
    const ptq_host *h = ptq_host_table();
    const int32_t q = some_activation_quantizer(k, 2);
    const aq_border_cfg with = {AQ_BORDER_TABLE, AQ_RELAX_SIGMOID, 1e-2, 0.2, 0.01, 10, 2};
    aq_border_cfg without = with;
    without.batch = 0;
    aq_border *a = aq_border_new(h, k->s, q, true, &with), *b = aq_border_new(h, k->s, q, true, &without);
    ck_assert_ptr_nonnull(a->memo_gen);
    ck_assert_ptr_null(b->memo_gen);
    const int64_t n = 2 * a->value_channels * a->plane;
    float *v = malloc((size_t)n * sizeof *v), *g = malloc((size_t)n * sizeof *g);
    float *oa = malloc((size_t)n * sizeof *oa), *ob = malloc((size_t)n * sizeof *ob);
    for (int t = 0; t < 3; t++) {
        fill(v, n, -a->z_lo, (float)a->bins - a->z_lo, 40 + (uint64_t)(t % 2)); /* the same v twice */
        fill(g, n, -1.0f, 1.0f, 50 + (uint64_t)t);
        for (int pass = 0; pass < 2; pass++) { /* the tape's forward, then its backward's */
            aq_border_rounding.forward(a, v, oa, n, 0);
            aq_border_rounding.forward(b, v, ob, n, 0);
            ck_assert_int_eq(memcmp(oa, ob, (size_t)n * sizeof *oa), 0);
        }
        aq_border_rounding.backward_state(a, v, g, n, 0);
        aq_border_rounding.backward_state(b, v, g, n, 0);
        ck_assert_int_eq(memcmp(a->gb, b->gb, (size_t)(a->channels * a->bins) * sizeof(float)), 0);
        aq_border_step(a, t, 10);
        aq_border_step(b, t, 10);
        ck_assert_int_eq(memcmp(a->b, b->b, (size_t)(a->channels * a->bins) * sizeof(float)), 0);
    }
    free(v), free(g), free(oa), free(ob);
    aq_border_rounding.destroy(a);
    aq_border_rounding.destroy(b);
    kit_close(k);
}
END_TEST

/* STE: d / d B[bin] is minus the sum of the gradients of the bin's elements; elements off
 * the table (below the grid, at its top) give none. */
START_TEST(ste_gradient_is_minus_the_bin_sum) {
    int32_t at;
    kit *k = calibrated(2, &at);
    const ptq_host *h = ptq_host_table();
    const int32_t q = some_activation_quantizer(k, 2);
    aq_border *b = aq_border_new(h, k->s, q, false, &ste_table);
    ck_assert_ptr_nonnull(b);
    enum { N = 500 };
    float v[N], g[N];
    fill(v, N, -3.0f, (float)b->bins + 3.0f, 31);
    fill(g, N, -1.0f, 1.0f, 32);
    double want[64] = {0};
    for (int i = 0; i < N; i++) {
        const float raw = floorf(v[i]) + b->z_lo;
        if (raw >= 0.0f && raw <= (float)(b->bins - 1)) want[(int)raw] -= g[i];
    }
    aq_border_rounding.backward_state(b, v, g, N, 0);
    for (int64_t j = 0; j < b->bins; j++) ck_assert_double_eq_tol(b->gb[j], want[j], 1e-4);
    aq_border_rounding.destroy(b);
    kit_close(k);
}
END_TEST

START_TEST(step_clamps_and_counts_and_catches_nan) {
    int32_t at;
    kit *k = calibrated(2, &at);
    const ptq_host *h = ptq_host_table();
    const int32_t q = some_activation_quantizer(k, 2);
    const aq_border_cfg fast = {AQ_BORDER_TABLE, AQ_RELAX_STE, 0.9, 0.2, 0.01, 2, 0};
    aq_border *b = aq_border_new(h, k->s, q, false, &fast);
    ck_assert_ptr_nonnull(b);
    b->gb[0] = -5.0f; /* pushes border 0 up by lr: 0.5 + 0.9 > 1 */
    b->gb[1] = 5.0f;  /* and border 1 below 0 */
    ck_assert_double_eq(aq_border_step(b, 0, 2), 0.0);
    ck_assert_int_eq(b->clamped, 2);
    ck_assert_float_eq(aq_border_at(b, 0, 0), 1.0f);
    ck_assert_float_eq(aq_border_at(b, 0, 1), 0.0f);
    for (int64_t j = 0; j < b->bins; j++) ck_assert(b->b[j] >= 0.0f && b->b[j] <= 1.0f);
    b->gb[2] = NAN;
    ck_assert(isnan(aq_border_step(b, 1, 2)));
    aq_border_rounding.destroy(b);
    kit_close(k);
}
END_TEST

/* ---- the engine (SDK 0.7) ---------------------------------------------------------------- */

/* A rounding that rounds to nearest and records what the engine hands its backward_state. */
typedef struct probe_state {
    int64_t elements, nonzero, max_index, calls;
} probe_state;

static void probe_forward(void *st, const float *v, float *out, int64_t n, int64_t index) {
    (void)st, (void)index;
    for (int64_t i = 0; i < n; i++) out[i] = rintf(v[i]);
}

static void probe_backward_state(void *st, const float *v, const float *g, int64_t n, int64_t index) {
    probe_state *p = st;
    (void)v;
    p->calls++;
    p->elements += n;
    for (int64_t i = 0; i < n; i++) p->nonzero += g[i] != 0.0f;
    if (index + n - 1 > p->max_index) p->max_index = index + n - 1;
}

static const ptq_rounding probe_rounding = {sizeof(ptq_rounding), "probe", probe_forward, NULL, NULL,
                                            probe_backward_state};

/* A unit whose input quantizer has a learned rounding runs that quantizer inside itself:
 * its backward_state sees every element of every step's batch (indices within the batch's
 * tensor), nothing for the elements QDrop kept float, and its scale is not learned there,
 * while the unit's own output quantizer's is. */
START_TEST(engine_learns_the_input_quantizers_rounding) {
    int32_t at;
    kit *k = calibrated(2, &at);
    const ptq_host *h = ptq_host_table();
    const int32_t n = h->node_count(k->s);
    int32_t *unit_of = malloc((size_t)n * sizeof *unit_of), *nodes = malloc((size_t)n * sizeof *nodes);
    ck_assert_int_gt(h->node_blocks(k->s, unit_of, n), 3);
    int32_t cnt = 0;
    for (int32_t i = 0; i < n; i++)
        if (unit_of[i] == 2) nodes[cnt++] = i; /* a residual block */
    /* Its input quantizer: on a value one of its nodes reads and an earlier node makes. */
    int32_t q_in = -1, q_out = -1;
    int64_t per = 1;
    for (int32_t i = 0; i < cnt; i++) {
        ptq_node_info ni = {.struct_size = sizeof ni};
        h->node_info(k->s, nodes[i], &ni);
        for (int32_t j = 0; j < ni.n_inputs && j < 8; j++) {
            const int32_t v = ni.inputs[j], p = v >= 0 ? h->value_producer(k->s, v) : -1;
            const int32_t q = v >= 0 ? h->quantizer_of(k->s, v) : -1;
            if (q >= 0 && p >= 0 && unit_of[p] < 2) q_in = q;
        }
        for (int32_t j = 0; j < ni.n_outputs; j++) {
            const int32_t q = h->quantizer_of(k->s, ni.outputs[j]);
            int32_t readers[4];
            const int32_t nr = h->value_readers(k->s, ni.outputs[j], readers, 4);
            if (q >= 0 && nr > 0 && unit_of[readers[0]] > 2) q_out = q;
        }
    }
    ck_assert_int_ge(q_in, 0);
    ck_assert_int_ge(q_out, 0);
    ptq_quant_view in_v = {.struct_size = sizeof in_v}, out_v = {.struct_size = sizeof out_v};
    ptq_tensor_view vv = {.struct_size = sizeof vv};
    h->quantizer_view(k->s, q_in, &in_v);
    h->quantizer_view(k->s, q_out, &out_v);
    h->value_view(k->s, in_v.value, &vv);
    for (int32_t d = 1; d < vv.ndim; d++) per *= vv.ne[d];
    const float in_scale = in_v.scale[0], out_scale = out_v.scale[0];
    for (int drop = 0; drop < 2; drop++) {
        probe_state *ps = h->alloc(sizeof *ps);
        ck_assert_int_eq(h->quantizer_set_rounding(k->s, q_in, &probe_rounding, ps), PTQ_OK);
        ptq_recon_options o = {.struct_size = sizeof o};
        o.nodes = nodes, o.n_nodes = cnt, o.activations = PTQ_RECON_ACT_QUANT;
        o.iterations = 3, o.batch = 8, o.loss_p = 2.0, o.act_lr = 1e-2, o.label = "block";
        o.drop_prob = drop ? 0.5 : 0.0;
        ptq_recon_result r = {.struct_size = sizeof r};
        ck_assert_int_eq(h->reconstruct(k->s, &o, &r), PTQ_OK);
        ck_assert_int_eq(ps->elements, 3 * 8 * per);
        ck_assert_int_lt(ps->max_index, 8 * per);
        const double share = (double)ps->nonzero / (double)ps->elements;
        /* Off-grid elements (the ReLU's zeros are on it) give 0 anyway; QDrop halves the rest. */
        ck_assert_msg(share > 0.05, "share of elements with a gradient %g", share);
        static double share0;
        if (!drop) share0 = share;
        else ck_assert_msg(share < 0.7 * share0, "with QDrop %g, without %g", share, share0);
        ck_assert_float_eq(in_v.scale[0], in_scale); /* the producing unit's, not learned here */
        ck_assert_float_ne(out_v.scale[0], out_scale);
        h->quantizer_set_rounding(k->s, q_in, NULL, NULL);
        h->free(ps);
    }
    free(unit_of), free(nodes);
    kit_close(k);
}
END_TEST

/* ---- the pass --------------------------------------------------------------------------- */

static void check_pass(const char *params) {
    char pass[512];
    snprintf(pass, sizeof pass, "aquant.reconstruct: {iterations: %d, drop_prob: 0.5, act_lr: 4.0e-5, "
             "act_grad_scale: true%s}", ITERS, params);
    int32_t at;
    kit *k = kit_open_before(pipeline(2, pass), "aquant.reconstruct", &at);
    const ptq_host *h = ptq_host_table();
    float *x = kit_images(k, 16);
    int64_t numel;
    float *before = kit_forward(k, true, x, 16, &numel);
    ck_assert_int_eq(kit_run(k, at, at + 1), PTQ_OK);
    /* Every 2-bit activation quantizer has borders, the 8-bit one none. */
    int32_t with = 0, without = 0, moved = 0;
    for (int32_t q = 0; q < h->quantizer_count(k->s); q++) {
        ptq_quant_view qv = {.struct_size = sizeof qv};
        ck_assert_int_eq(h->quantizer_view(k->s, q, &qv), PTQ_OK);
        if (qv.is_weight) continue;
        const float *bt = NULL;
        int64_t ch = 0, bins = 0;
        ck_assert_int_eq(h->quantizer_borders(k->s, q, &bt, &ch, &bins), PTQ_OK);
        if (qv.bits == 8) {
            ck_assert_ptr_null(bt);
            without++;
            continue;
        }
        ck_assert_msg(bt != NULL, "'%s' has no borders", h->value_name(k->s, qv.value));
        ck_assert_int_eq(bins, 3);
        bool any = false;
        for (int64_t i = 0; i < ch * bins; i++) {
            ck_assert(bt[i] >= 0.0f && bt[i] <= 1.0f);
            any |= bt[i] != 0.5f;
        }
        moved += any;
        with++;
    }
    ck_assert_int_gt(with, 10);
    ck_assert_int_eq(without, 1);
    ck_assert_int_eq(moved, with); /* every one got gradients, the pulled-in inputs too */
    ck_assert_int_eq(kit_count_rows(k, "borders", at), with + without);
    ck_assert_int_gt(kit_count_rows(k, "units", at), 5);
    /* The quantized model runs the borders: without them the outputs change. */
    float *learned = kit_forward(k, true, x, 16, &numel);
    ck_assert_double_gt(kit_rel_diff(learned, before, numel), 0.0);
    const int32_t q = some_activation_quantizer(k, 2);
    const float *bt;
    int64_t ch, bins;
    h->quantizer_borders(k->s, q, &bt, &ch, &bins);
    float *keep = malloc((size_t)(ch * bins) * sizeof *keep);
    memcpy(keep, bt, (size_t)(ch * bins) * sizeof *keep);
    ck_assert_int_eq(h->quantizer_set_borders(k->s, q, NULL, 0, 0), PTQ_OK);
    float *cleared = kit_forward(k, true, x, 16, &numel);
    ck_assert_double_gt(kit_rel_diff(cleared, learned, numel), 0.0);
    ck_assert_int_eq(h->quantizer_set_borders(k->s, q, keep, ch, bins), PTQ_OK);
    float *again = kit_forward(k, true, x, 16, &numel);
    ck_assert_int_eq(memcmp(again, learned, (size_t)numel * sizeof(float)), 0);
    free(keep), free(x), free(before), free(learned), free(cleared), free(again);
    kit_close(k);
}

START_TEST(pass_learns_every_low_bit_border) { check_pass(""); }
END_TEST

START_TEST(pass_linear_ste_shared) { check_pass(", border: linear, relaxation: ste, per_channel: false"); }
END_TEST

/* ---- refusals --------------------------------------------------------------------------- */

START_TEST(set_borders_refusals) {
    int32_t at;
    kit *k = calibrated(2, &at);
    const ptq_host *h = ptq_host_table();
    const int32_t q = some_activation_quantizer(k, 2);
    const float ok[3] = {0.2f, 0.5f, 0.9f}, bad[3] = {0.2f, 1.5f, 0.9f};
    ck_assert_int_eq(h->quantizer_set_borders(k->s, q, ok, 1, 3), PTQ_OK);
    ck_assert_int_ne(h->quantizer_set_borders(k->s, q, ok, 1, 2), PTQ_OK);
    ck_assert_ptr_nonnull(strstr(k->s->err.msg, "bins"));
    memset(&k->s->err, 0, sizeof k->s->err); /* the session keeps a pass's first message */
    ck_assert_int_ne(h->quantizer_set_borders(k->s, q, bad, 1, 3), PTQ_OK);
    ck_assert_ptr_nonnull(strstr(k->s->err.msg, "outside [0, 1]"));
    ck_assert_int_ne(h->quantizer_set_borders(k->s, q, ok, 7, 3), PTQ_OK);
    memset(&k->s->err, 0, sizeof k->s->err);
    int32_t wq = -1;
    for (int32_t i = 0; i < h->quantizer_count(k->s) && wq < 0; i++) {
        ptq_quant_view qv = {.struct_size = sizeof qv};
        if (!h->quantizer_view(k->s, i, &qv) && qv.is_weight) wq = i;
    }
    ck_assert_int_ne(h->quantizer_set_borders(k->s, wq, ok, 1, 3), PTQ_OK);
    ck_assert_ptr_nonnull(strstr(k->s->err.msg, "activation"));
    kit_close(k);
}
END_TEST

START_TEST(pass_refusals_and_max_bins) {
    int32_t at;
    kit *k = kit_open_before(pipeline(2, "aquant.reconstruct: {iterations: 2, tau_start: 0.01, tau_end: 0.1}"),
                             "aquant.reconstruct", &at);
    ck_assert_int_ne(kit_run(k, at, at + 1), PTQ_OK);
    ck_assert_ptr_nonnull(strstr(k->msg, "tau_end"));
    kit_close(k);
    /* Every grid above max_bins: nothing learned but the weights, a row per quantizer. */
    k = kit_open_before(pipeline(2, "aquant.reconstruct: {iterations: 2, max_bins: 2}"), "aquant.reconstruct", &at);
    ck_assert_int_eq(kit_run(k, at, at + 1), PTQ_OK);
    const ptq_host *h = ptq_host_table();
    int32_t acts = 0;
    for (int32_t q = 0; q < h->quantizer_count(k->s); q++) {
        ptq_quant_view qv = {.struct_size = sizeof qv};
        const float *bt = NULL;
        h->quantizer_view(k->s, q, &qv);
        h->quantizer_borders(k->s, q, &bt, NULL, NULL);
        ck_assert_ptr_null(bt);
        acts += !qv.is_weight;
    }
    ck_assert_int_eq(kit_count_rows(k, "borders", at), acts);
    ck_assert_double_eq(kit_row_value(kit_first_row(k, "borders", at), "status"), 2.0);
    kit_close(k);
}
END_TEST

int main(void) {
    Suite *s = suite_create("aquant");
    TCase *t = tcase_create("rounding");
    tcase_add_test(t, half_borders_round_to_nearest);
    tcase_add_test(t, ste_forward_is_the_frozen_rounding);
    tcase_add_test(t, sigmoid_gradient_matches_differences);
    tcase_add_test(t, ste_gradient_is_minus_the_bin_sum);
    tcase_add_test(t, sigmoid_memo_is_exact);
    tcase_add_test(t, step_clamps_and_counts_and_catches_nan);
    tcase_add_test(t, engine_learns_the_input_quantizers_rounding);
    suite_add_tcase(s, t);
    t = tcase_create("pass");
    tcase_add_test(t, pass_learns_every_low_bit_border);
    tcase_add_test(t, pass_linear_ste_shared);
    tcase_add_test(t, set_borders_refusals);
    tcase_add_test(t, pass_refusals_and_max_bins);
    suite_add_tcase(s, t);
    return test_run_suite(s);
}
