/* test_nwq.c — NWQ's pieces and its pass through the real plugin and host:
 *   - the ASoftmax rounding: the first soft weight is the float weight (basic and
 *     expanded offsets), its state gradient matches central differences of its
 *     forward, the frozen code is the argmax and is what a cold forward approaches;
 *   - the schedules (tau, AMixup's float share) run linearly from start to end;
 *   - nwq.reconstruct on ResNet-20 at W2A4: one optimisation of every weight with a
 *     report row per checkpoint, codes within the offsets, activation steps learned,
 *     the mixed-target variant and the per-batch float targets run, unit-by-unit without
 *     AR gives one row per unit, a range optimises only its units;
 *   - refusals (n > m, a range naming no unit, AMixup without activation quantization)
 *     and a NaN that stops the pass naming the iteration, with the model as before. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"
#include "plugin/plugin.h"
/* White-box: the rounding functions are compiled in (the plugin exports only its entry). */
#include "../asoftmax.c"

#define ITERS (kit_quick() ? 4 : 60)
#define CALIB (kit_quick() ? 64 : 256)

static const char *pipeline(int abits, const char *pass) { return kit_resnet20_w2(CALIB, abits, pass); }

/* ---- the rounding function ---------------------------------------------------------- */

/* A session for the host's optimizer. */
static kit *any_session(void) { return kit_open(pipeline(4, "nwq.reconstruct: {iterations: 1}")); }

START_TEST(asoftmax_starts_at_the_float_weight) {
    kit *k = any_session();
    const ptq_host *h = ptq_host_table();
    enum { N = 257 };
    float w[N], scale[1] = {0.37f}, v[N], out[N];
    for (int i = 0; i < N; i++) w[i] = -3.0f + 6.0f * (float)i / (N - 1), v[i] = w[i] / scale[0];
    const int32_t ranges[][2] = {{0, 1}, {-1, 2}, {-2, 3}};
    for (int r = 0; r < 3; r++) {
        asm_soft *st = asm_soft_new(h, k->s, w, scale, 1, N, ranges[r][0], ranges[r][1], 1.0, 1e-3, 10);
        ck_assert_ptr_nonnull(st);
        asm_soft_rounding.forward(st, v, out, N, 0);
        /* The other offsets carry 1e-6 each: at most a few 1e-6 of a step away. */
        for (int i = 0; i < N; i++)
            ck_assert_msg(fabsf(out[i] - v[i]) < 2e-5f * (float)(st->k + 1), "offsets %d..%d: v %g soft %g",
                          ranges[r][0], ranges[r][1], v[i], out[i]);
        /* Frozen at once, each element rounds to nearest (ties aside). */
        asm_hard *hard = asm_hard_from(h, st);
        asm_hard_rounding.forward(hard, v, out, N, 0);
        for (int i = 0; i < N; i++)
            if (fabsf(v[i] - floorf(v[i]) - 0.5f) > 1e-3f) ck_assert_float_eq(out[i], rintf(v[i]));
        asm_hard_rounding.destroy(hard);
        asm_soft_rounding.destroy(st);
    }
    /* Offsets that exclude floor or ceil are refused. */
    ck_assert_ptr_null(asm_soft_new(h, k->s, w, scale, 1, N, 1, 2, 1.0, 1e-3, 10));
    ck_assert_ptr_null(asm_soft_new(h, k->s, w, scale, 1, N, -1, 0, 1.0, 1e-3, 10));
    kit_close(k);
}
END_TEST

/* Sum of g_i * out_i: a scalar whose gradient with respect to the logits the rounding's
 * backward_state must give. */
static double probe(asm_soft *st, const float *v, const float *g, float *out, int n) {
    asm_soft_rounding.forward(st, v, out, n, 0);
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)g[i] * out[i];
    return sum;
}

START_TEST(asoftmax_gradient_matches_differences) {
    kit *k = any_session();
    const ptq_host *h = ptq_host_table();
    enum { N = 24 };
    float w[N], scale[2] = {0.5f, 0.25f}, v[N], g[N], out[N];
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        w[i] = (float)((int64_t)(rng >> 33) % 1000) / 300.0f - 1.6f;
        v[i] = w[i] / scale[i / (N / 2)];
        g[i] = (float)((int64_t)(rng >> 20) % 200) / 100.0f - 1.0f;
    }
    for (int r = 0; r < 2; r++) {
        const int32_t lo = r ? -1 : 0, hi = r ? 2 : 1;
        asm_soft *st = asm_soft_new(h, k->s, w, scale, 2, N / 2, lo, hi, 1.0, 1e-3, 10);
        st->tau = 0.6f;
        /* Logits off their initial point, so no probability is 0 or 1. */
        for (int64_t j = 0; j < st->n * st->k; j++) st->logits[j] = 0.3f * (float)((j * 7) % 11) / 11.0f - 0.1f;
        probe(st, v, g, out, N);
        memset(st->grad, 0, (size_t)(st->n * st->k) * sizeof(float));
        asm_soft_rounding.backward_state(st, v, g, N, 0);
        for (int64_t j = 0; j < st->n * st->k; j++) {
            const float keep = st->logits[j], eps = 1e-2f;
            st->logits[j] = keep + eps;
            const double up = probe(st, v, g, out, N);
            st->logits[j] = keep - eps;
            const double down = probe(st, v, g, out, N);
            st->logits[j] = keep;
            const double numeric = (up - down) / (2.0 * eps);
            ck_assert_msg(fabs(numeric - st->grad[j]) < 2e-3 + 2e-2 * fabs(numeric),
                          "offsets %d..%d, logit %lld: analytic %g, numeric %g", lo, hi, (long long)j,
                          st->grad[j], numeric);
        }
        asm_soft_rounding.destroy(st);
    }
    kit_close(k);
}
END_TEST

START_TEST(asoftmax_freezes_to_the_argmax) {
    kit *k = any_session();
    const ptq_host *h = ptq_host_table();
    enum { N = 16 };
    float w[N], scale[1] = {1.0f}, v[N], soft[N], hard[N];
    for (int i = 0; i < N; i++) w[i] = v[i] = 0.1f + 0.37f * (float)i;
    asm_soft *st = asm_soft_new(h, k->s, w, scale, 1, N, -1, 2, 1.0, 1e-3, 10);
    /* Put each element's largest logit on offset (i mod 4) - 1. */
    for (int i = 0; i < N; i++) st->logits[i * 4 + (i % 4)] = 5.0f;
    asm_hard *frozen = asm_hard_from(h, st);
    asm_hard_rounding.forward(frozen, v, hard, N, 0);
    st->tau = 0.01f; /* the end of the annealing */
    asm_soft_rounding.forward(st, v, soft, N, 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(frozen->off[i], (i % 4) - 1);
        ck_assert_float_eq(hard[i], floorf(v[i]) + (float)((i % 4) - 1));
        ck_assert_msg(fabsf(soft[i] - hard[i]) < 1e-4f, "soft %g hard %g", soft[i], hard[i]);
    }
    asm_hard_rounding.destroy(frozen);
    asm_soft_rounding.destroy(st);
    kit_close(k);
}
END_TEST

START_TEST(schedules_are_linear) {
    ck_assert_double_eq(nwq_linear(1.0, 0.01, 0, 100), 1.0);
    ck_assert_double_eq_tol(nwq_linear(1.0, 0.01, 99, 100), 0.01, 1e-12);
    ck_assert_double_eq_tol(nwq_linear(0.5, 0.0, 50, 101), 0.25, 1e-12);
    ck_assert_double_eq(nwq_linear(0.5, 0.0, 0, 1), 0.0); /* one step: the end value */
    for (int64_t t = 1; t < 100; t++) ck_assert(nwq_linear(1.0, 0.01, t, 100) < nwq_linear(1.0, 0.01, t - 1, 100));
}
END_TEST

/* ---- the pass ----------------------------------------------------------------------- */

START_TEST(network_wise_learns_every_weight) {
    char pass[200];
    snprintf(pass, sizeof pass, "nwq.reconstruct: {iterations: %d, offset_min: -1, offset_max: 2}", ITERS);
    int32_t at;
    kit *k = kit_open_before(pipeline(4, pass), "nwq.reconstruct", &at);
    float *scales = calloc((size_t)k->s->n_q, sizeof *scales);
    for (int32_t i = 0; i < k->s->n_q; i++) scales[i] = k->s->q[i].qp.scale[0];
    const double nearest = kit_quick() ? 0 : kit_accuracy(k, true, 1000);
    ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
    /* One optimisation of the whole network: one row, every weighted layer in it, a
     * checkpoint per unit (ResNet-20: stem, 9 blocks, head). */
    ck_assert_int_eq(kit_count_rows(k, "units", at), 1);
    const ptq_report_row *u = kit_first_row(k, "units", at);
    ck_assert_double_eq(kit_row_value(u, "weights"), 22);
    ck_assert_double_eq(kit_row_value(u, "checkpoints"), 11);
    ck_assert_int_eq(kit_count_rows(k, "checkpoints", at), 11);
    ck_assert(kit_row_value(u, "loss_last") < kit_row_value(u, "loss_first"));
    ck_assert(kit_row_value(u, "peak_mb") > 0);
    /* The frozen codes stay within floor - 1 .. floor + 2 and inside the grid. */
    int32_t moved = 0, acts = 0, frozen = 0;
    for (int32_t i = 0; i < k->s->n_q; i++) {
        const ptq_quantizer *q = &k->s->q[i];
        if (!q->is_weight) {
            acts++;
            moved += q->qp.scale[0] != scales[i];
            continue;
        }
        frozen += q->rounding.struct_size && !strcmp(q->rounding.name, "nwq.asoftmax_hard");
        const ptq_tensor *w = k->s->g->values[q->value].data;
        const int64_t n = ptq_tensor_numel(w), inner = n / q->qp.n;
        float *out = malloc((size_t)n * sizeof *out), *v = malloc((size_t)n * sizeof *v);
        for (int64_t e = 0; e < n; e++) v[e] = ((const float *)w->data)[e] / q->qp.scale[e / inner];
        q->rounding.forward(q->rounding_state, v, out, n, 0);
        for (int64_t e = 0; e < n; e++) {
            const float off = out[e] - floorf(v[e]);
            ck_assert_msg(off >= -1.0f && off <= 2.0f && off == rintf(off), "offset %g", off);
        }
        free(out), free(v);
    }
    ck_assert_int_eq(frozen, 22);
    ck_assert_int_ge(moved, acts - 2); /* LSQ moved the steps (the input's and the logits' aside) */
    if (!kit_quick()) {
        const double nwq = kit_accuracy(k, true, 1000);
        fprintf(stderr, "W2A4 ResNet-20, %d NWQ steps, 1000 test images: nearest %.2f%%, NWQ %.2f%%\n", ITERS,
                100 * nearest, 100 * nwq);
        ck_assert_msg(nwq > nearest + 0.05, "NWQ %.3f vs nearest %.3f", nwq, nearest);
    }
    free(scales);
    kit_close(k);
}
END_TEST

/* The mixed-target variant, layer checkpoints, a logits term and per-batch float
 * targets: the other paths of the engine, in one short run. */
START_TEST(variants_run) {
    const char *passes[] = {
        "nwq.reconstruct: {iterations: 3, mix_target: true, checkpoints: layers, logits_loss: kl, targets: recompute}",
        "nwq.reconstruct: {iterations: 3, rounding: adaround, mixing: qdrop, logits_loss: mse, targets: cache}",
    };
    for (int i = 0; i < 2; i++) {
        int32_t at;
        kit *k = kit_open_before(pipeline(4, passes[i]), "nwq.reconstruct", &at);
        ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
        const ptq_report_row *u = kit_first_row(k, "units", at);
        ck_assert_double_eq(kit_row_value(u, "targets_cached"), i == 1);
        /* layers: 22 weighted layers; units: 11. */
        ck_assert_double_eq(kit_row_value(u, "checkpoints"), i == 0 ? 22 : 11);
        ck_assert(isfinite(kit_row_value(u, "loss_last")));
        kit_close(k);
    }
}
END_TEST

START_TEST(without_ar_and_ranges) {
    int32_t at;
    kit *k = kit_open_before(pipeline(4, "nwq.reconstruct: {iterations: 2, ar: false}"), "nwq.reconstruct", &at);
    ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
    ck_assert_int_eq(kit_count_rows(k, "units", at), 11); /* unit by unit */
    kit_close(k);
    /* Units 2..4 by number and by a node's name: only their weights are learned. */
    const char *ranges[] = {"nwq.reconstruct: {iterations: 2, from: '2', to: '4'}",
                            "nwq.reconstruct: {iterations: 2, from: /layers/layers.0/c1/Conv, to: '4'}"};
    for (int r = 0; r < 2; r++) {
        k = kit_open_before(pipeline(4, ranges[r]), "nwq.reconstruct", &at);
        ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
        const ptq_report_row *u = kit_first_row(k, "units", at);
        ck_assert_double_eq(kit_row_value(u, "weights"), 6); /* three blocks of two convolutions */
        ck_assert_double_eq(kit_row_value(u, "checkpoints"), 3);
        int32_t learned = 0;
        for (int32_t i = 0; i < k->s->n_q; i++) learned += k->s->q[i].is_weight && k->s->q[i].rounding.struct_size;
        ck_assert_int_eq(learned, 6);
        kit_close(k);
    }
}
END_TEST

START_TEST(refusals) {
    const struct {
        int abits;
        const char *pass, *want;
    } cases[] = {
        {4, "nwq.reconstruct: {offset_min: 0, offset_max: -1}", "offset_min 0 > offset_max -1"},
        {4, "nwq.reconstruct: {offset_min: 1, offset_max: 2}", "must include 0 and 1"},
        {4, "nwq.reconstruct: {from: '5', to: '3'}", "names no unit"},
        {4, "nwq.reconstruct: {from: no_such_node}", "'no_such_node' names no unit"},
        {4, "nwq.reconstruct: {to: '99'}", "units 1..11"},
        {32, "nwq.reconstruct: {act_lr: 0}", "mixing: amixup needs activation quantization"},
        {4, "nwq.reconstruct: {rounding: adaround, offset_max: 2}", "offsets 0..1 only"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t at;
        kit *k = kit_open_before(pipeline(cases[i].abits, cases[i].pass), "nwq.reconstruct", &at);
        ck_assert_int_eq(kit_run(k, at, at + 1), PTQ_ERR_INVALID);
        ck_assert_msg(test_contains(k->msg, cases[i].want), "%s: %s", cases[i].pass, k->msg);
        for (int32_t q = 0; q < k->s->n_q; q++) ck_assert_int_eq(k->s->q[q].rounding.struct_size, 0);
        kit_close(k);
    }
    char msg[1600];
    ck_assert_ptr_null(kit_try_open(pipeline(4, "nwq.reconstruct: {mixing: sometimes}"), msg, sizeof msg));
    ck_assert_msg(test_contains(msg, "mixing"), "%s", msg);
}
END_TEST

START_TEST(nan_stops_and_restores) {
    int32_t at;
    kit *k = kit_open_before(pipeline(4, "nwq.reconstruct: {iterations: 5}"), "nwq.reconstruct", &at);
    float *scales = calloc((size_t)k->s->n_q, sizeof *scales);
    for (int32_t i = 0; i < k->s->n_q; i++) scales[i] = k->s->q[i].qp.scale[0];
    const ptq_dataset *ds = k->s->calib;
    const int64_t per = (int64_t)ds->c * ds->h * ds->w;
    for (int64_t i = 0; i < ds->n; i++) ds->images[i * per + 100] = NAN;
    ck_assert_int_eq(kit_run(k, at, at + 1), PTQ_ERR_NUMERIC);
    ck_assert_msg(test_contains(k->msg, "iteration") && test_contains(k->msg, "NaN"), "%s", k->msg);
    for (int32_t i = 0; i < k->s->n_q; i++) {
        ck_assert_int_eq(k->s->q[i].rounding.struct_size, 0);
        ck_assert_float_eq(k->s->q[i].qp.scale[0], scales[i]);
    }
    free(scales);
    kit_close(k);
}
END_TEST

int main(void) {
    Suite *s = suite_create("nwq");
    TCase *tc = tcase_create("nwq");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, asoftmax_starts_at_the_float_weight);
    tcase_add_test(tc, asoftmax_gradient_matches_differences);
    tcase_add_test(tc, asoftmax_freezes_to_the_argmax);
    tcase_add_test(tc, schedules_are_linear);
    tcase_add_test(tc, network_wise_learns_every_weight);
    tcase_add_test(tc, variants_run);
    tcase_add_test(tc, without_ar_and_ranges);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, nan_stops_and_restores);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
