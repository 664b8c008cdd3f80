/* test_abstats.c — the statistics of an A/B comparison (ab/abstats.h).
 *
 * Every expected value was computed outside this code, with Debian's /usr/bin/python3:
 *  - McNemar: p = min(1, 2 * sum_{i<=min(b,c)} C(n,i) / 2^n) as an exact Fraction
 *    (math.comb / the integer recurrence C(n,i) = C(n,i-1)(n-i+1)/i), converted to float
 *    once at the end.  For n in the tens of millions, where the big integers get too
 *    slow, the same sum in 60-digit Decimal: ln C(n,k) from Stirling's series (checked
 *    against mpmath.loggamma to 1e-40), then the exact downward recurrence.  Both
 *    methods agree to all 17 digits on b=100000,c=101000 and b=1e6,c=1.003e6.
 *  - Agresti-Min intervals and the pooled-seed interval: mpmath at 40 digits.
 * Tolerances are relative 1e-9 unless a comment says otherwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ab/abstats.h"
#include "testutil.h"

/* |got - want| <= rel * |want| (and both NaN counts as equal). */
static void check_rel(double got, double want, double rel, const char *what) {
    if (isnan(want)) {
        ck_assert_msg(isnan(got), "%s: %.17g, expected NaN", what, got);
        return;
    }
    ck_assert_msg(fabs(got - want) <= rel * fabs(want), "%s: %.17g, expected %.17g", what,
                  got, want);
}

/* ================================================================ McNemar ====== */

START_TEST(mcnemar_small_exact) {
    /* 2 * (C(12,0)+C(12,1)+C(12,2)) / 2^12 = 2 * 79 / 4096 = 79/2048. */
    check_rel(ptq_mcnemar_exact_p(10, 2), 0.03857421875, 1e-14, "b=10 c=2");
    check_rel(ptq_mcnemar_exact_p(2, 10), 0.03857421875, 1e-14, "b=2 c=10");
    /* 2 / 2^5. */
    check_rel(ptq_mcnemar_exact_p(0, 5), 0.0625, 1e-14, "b=0 c=5");
    /* 2 / 2^20. */
    check_rel(ptq_mcnemar_exact_p(20, 0), 1.9073486328125e-06, 1e-14, "b=20 c=0");
    /* No discordant pair, or one: no evidence at all. */
    ck_assert(ptq_mcnemar_exact_p(0, 0) == 1);
    ck_assert(ptq_mcnemar_exact_p(0, 1) == 1);
    ck_assert(ptq_mcnemar_exact_p(1, 0) == 1);
    ck_assert(ptq_mcnemar_exact_p(1, 2) == 1); /* 2 * 4/8 */
    /* b = c: P(X <= n/2) >= 1/2, capped. */
    ck_assert(ptq_mcnemar_exact_p(7, 7) == 1);
    ck_assert(ptq_mcnemar_exact_p(100000, 100000) == 1);
    ck_assert(isnan(ptq_mcnemar_exact_p(-1, 3)));
}
END_TEST

START_TEST(mcnemar_large_exact) {
    /* Exact Fractions (see the file comment). */
    check_rel(ptq_mcnemar_exact_p(5000, 5200), 0.04878796312682245, 1e-9, "5000/5200");
    check_rel(ptq_mcnemar_exact_p(100000, 101000), 0.02586239243973448, 1e-9, "1e5/1.01e5");
    check_rel(ptq_mcnemar_exact_p(1000000, 1003000), 0.03408836507943938, 1e-9, "1e6");
    /* 60-digit Decimal for tens of millions of discordant pairs. */
    check_rel(ptq_mcnemar_exact_p(9997000, 10003000), 0.17978504138368162, 1e-9, "2e7");
    check_rel(ptq_mcnemar_exact_p(24990000, 25010000), 0.0046798016106272709, 1e-9, "5e7");
    check_rel(ptq_mcnemar_exact_p(30000000, 30100000), 4.5554052424400007e-38, 1e-9, "6e7");
}
END_TEST

START_TEST(mcnemar_tiny_no_false_underflow) {
    /* 2 / 2^1000 = 2^-999 = 1.8665e-301: above 1e-300's neighbourhood, must be right. */
    check_rel(ptq_mcnemar_exact_p(0, 1000), 1.8665272370064378e-301, 1e-9, "0/1000");
    check_rel(ptq_mcnemar_exact_p(1000, 0), ldexp(1.0, -999), 1e-9, "1000/0");
    /* Truly below the doubles: 0 (or a subnormal), never NaN or garbage. */
    double p = ptq_mcnemar_exact_p(5, 5000);
    ck_assert_msg(p >= 0 && p < 1e-300, "5/5000: %g", p);
    p = ptq_mcnemar_exact_p(0, 50000000);
    ck_assert_msg(p >= 0 && p < 1e-300, "0/5e7: %g", p);
}
END_TEST

START_TEST(mcnemar_symmetric_and_monotone) {
    test_rng rng = {0x9e3779b97f4a7c15ull};
    for (int t = 0; t < 200; t++) {
        int64_t b = test_rng_int(&rng, 0, 3000), c = test_rng_int(&rng, 0, 3000);
        double p = ptq_mcnemar_exact_p(b, c);
        ck_assert_msg(p == ptq_mcnemar_exact_p(c, b), "b=%lld c=%lld", (long long)b,
                      (long long)c);
        ck_assert_msg(p >= 0 && p <= 1, "b=%lld c=%lld: %g", (long long)b, (long long)c, p);
        /* Moving one pair from the smaller side to the larger one is stronger evidence. */
        if (b < c && b > 0)
            ck_assert_msg(ptq_mcnemar_exact_p(b - 1, c + 1) <= p, "b=%lld c=%lld",
                          (long long)b, (long long)c);
    }
}
END_TEST

/* ======================================================= paired interval ====== */

START_TEST(ci_agresti_min_values) {
    double d, lo, hi;
    /* N = 102, p12 = 5.5/102, p21 = 15.5/102, var = ((21/102) - (10/102)^2) / 102. */
    ptq_paired_diff_ci(100, 5, 15, &d, &lo, &hi);
    check_rel(d, 0.1, 1e-14, "diff");
    check_rel(lo, 0.012063519291229664, 1e-9, "lo");
    check_rel(hi, 0.18401491208131936, 1e-9, "hi");
    /* No discordant pair: p12 = p21 = 0.5/52, half-width z * sqrt(1/52)/sqrt(52) = z/52. */
    ptq_paired_diff_ci(50, 0, 0, &d, &lo, &hi);
    ck_assert(d == 0);
    check_rel(hi, 1.959963984540054 / 52, 1e-12, "hi (0,0)");
    check_rel(lo, -1.959963984540054 / 52, 1e-12, "lo (0,0)");
    /* Swapping a and b mirrors the interval. */
    double d2, lo2, hi2;
    ptq_paired_diff_ci(100, 15, 5, &d2, &lo2, &hi2);
    check_rel(d2, -0.1, 1e-14, "mirrored diff");
    check_rel(lo2, -0.18401491208131936, 1e-9, "mirrored lo");
    check_rel(hi2, -0.012063519291229664, 1e-9, "mirrored hi");
}
END_TEST

START_TEST(ci_clamped_and_invalid) {
    double d, lo, hi;
    /* n = 1: N = 3, d = 1/3, var = (2/3 - 1/9)/3 = 5/27; d + z sqrt(5/27) = 1.18 -> 1. */
    ptq_paired_diff_ci(1, 0, 1, &d, &lo, &hi);
    ck_assert(d == 1);
    ck_assert(hi == 1);
    check_rel(lo, -0.51010087458777336, 1e-9, "lo n=1");
    ptq_paired_diff_ci(0, 0, 0, &d, &lo, &hi);
    ck_assert(isnan(d) && isnan(lo) && isnan(hi));
    ptq_paired_diff_ci(10, 6, 5, &d, &lo, &hi); /* more discordant pairs than pairs */
    ck_assert(isnan(d) && isnan(lo) && isnan(hi));
    ptq_paired_diff_ci(10, -1, 5, &d, &lo, &hi);
    ck_assert(isnan(d) && isnan(lo) && isnan(hi));
}
END_TEST

/* ====================================================================== Holm ====== */

START_TEST(holm_worked_example) {
    /* Sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06, .04*1 = .04 -> max(.06, .04). */
    const double p[4] = {0.01, 0.04, 0.03, 0.005};
    const double want[4] = {0.03, 0.06, 0.06, 0.02};
    double out[4];
    ptq_holm_adjust(p, 4, out);
    for (int i = 0; i < 4; i++) check_rel(out[i], want[i], 1e-12, "holm");
}
END_TEST

START_TEST(holm_ties_cap_nan) {
    /* Ties: both .02 -> 3*.02 = .06 and 2*.02 = .04 -> running max .06 for both. */
    const double p[5] = {0.02, NAN, 0.02, 0.9, 0.001};
    double out[5];
    ptq_holm_adjust(p, 5, out); /* m = 4: NaN is no test */
    check_rel(out[4], 0.004, 1e-12, "smallest");
    check_rel(out[0], 0.06, 1e-12, "tie 1");
    check_rel(out[2], 0.06, 1e-12, "tie 2");
    check_rel(out[3], 0.9, 1e-12, "largest");
    ck_assert(isnan(out[1]));
    const double q[3] = {0.5, 0.6, 0.7};
    ptq_holm_adjust(q, 3, out);
    for (int i = 0; i < 3; i++) ck_assert_msg(out[i] == 1, "capped: %g", out[i]);
    ptq_holm_adjust(q, 1, out); /* one test: unadjusted */
    ck_assert(out[0] == 0.5);
    ptq_holm_adjust(q, 0, out); /* nothing, and nothing written */
}
END_TEST

/* ============================================================== mean / sd ====== */

START_TEST(mean_sd_values) {
    const double x[5] = {2, 4, 4, 5, 9}; /* mean 4.8, squared deviations 26.8, var 6.7 */
    double mean, sd, mn, mx;
    ptq_mean_sd(x, 5, &mean, &sd, &mn, &mx);
    check_rel(mean, 4.8, 1e-14, "mean");
    check_rel(sd, sqrt(6.7), 1e-14, "sd");
    ck_assert(mn == 2 && mx == 9);
    ptq_mean_sd(x + 3, 1, &mean, &sd, &mn, &mx);
    ck_assert(mean == 5 && sd == 0 && mn == 5 && mx == 5);
    ptq_mean_sd(x, 0, &mean, &sd, &mn, &mx);
    ck_assert(isnan(mean) && isnan(sd) && isnan(mn) && isnan(mx));
    /* Large offset, tiny spread: no cancellation (a naive sum of squares loses it all). */
    const double y[3] = {1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3};
    ptq_mean_sd(y, 3, &mean, NULL, NULL, NULL);
    ptq_mean_sd(y, 3, NULL, &sd, NULL, NULL);
    check_rel(mean, 1e9 + 0.2, 1e-15, "offset mean");
    check_rel(sd, 0.1, 1e-6, "offset sd");
}
END_TEST

/* ============================================================ the report ====== */

#define IMAGES 1000

static char *dupstr(const char *s) {
    char *d = malloc(strlen(s) + 1);
    ck_assert_ptr_nonnull(d);
    return strcpy(d, s);
}

/* A correct[] array right exactly on [lo0, hi0) and [lo1, hi1); top1 to match. */
static void set_correct(ptq_ab_run *run, int lo0, int hi0, int lo1, int hi1) {
    run->images = IMAGES;
    run->correct = calloc(IMAGES, 1);
    ck_assert_ptr_nonnull(run->correct);
    for (int i = lo0; i < hi0; i++) run->correct[i] = 1;
    for (int i = lo1; i < hi1; i++) run->correct[i] = 1;
    run->top1 = (double)(hi0 - lo0 + hi1 - lo1) / IMAGES;
}

/* A report whose every pointer is malloc'ed, as the runner's would be, so that
 * ptq_ab_report_free has something to free.  runs_by_seed[v][k]: run index or -1. */
static void make_report(ptq_ab_report *r, int32_t V, int32_t K, int32_t n_runs,
                        const int32_t runs_by_seed[][2]) {
    memset(r, 0, sizeof *r);
    r->title = dupstr("test.yaml");
    r->model = dupstr("model.onnx");
    r->evaluation = dupstr("1000 images");
    r->seeds = K;
    r->n_runs = n_runs;
    r->runs = calloc((size_t)n_runs, sizeof *r->runs);
    r->n_variants = V;
    r->variants = calloc((size_t)V, sizeof *r->variants);
    ck_assert(r->runs && r->variants);
    for (int32_t v = 0; v < V; v++) {
        ptq_ab_variant *var = &r->variants[v];
        var->name = dupstr(v == 0 ? "A" : v == 1 ? "B" : "C");
        var->n_runs = K;
        var->runs = malloc((size_t)K * sizeof *var->runs);
        ck_assert_ptr_nonnull(var->runs);
        for (int32_t k = 0; k < K; k++) {
            int32_t i = var->runs[k] = runs_by_seed[v][k];
            if (i < 0) continue;
            r->runs[i].variant = dupstr(var->name);
            r->runs[i].variant_index = v;
            r->runs[i].seed_index = k;
            r->runs[i].dir = dupstr("runs/x");
        }
    }
    /* Something in every other owned field. */
    ptq_ab_run *run = &r->runs[0];
    run->n_layers = 2;
    run->layer_names = calloc(2, sizeof(char *));
    run->layer_names[0] = dupstr("conv1");
    run->layer_names[1] = dupstr("fc");
    run->layer_sqnr_db = calloc(2, sizeof(double));
    run->n_passes = 1;
    run->pass_names = calloc(1, sizeof(char *));
    run->pass_names[0] = dupstr("core.fold_bn");
    run->pass_seconds = calloc(1, sizeof(double));
    run->pass_shared = calloc(1, sizeof(bool));
    run->n_units = 1;
    run->unit_names = calloc(1, sizeof(char *));
    run->unit_names[0] = dupstr("block1");
    run->unit_loss = calloc(1, sizeof(double));
    r->n_shared = 1;
    r->shared = calloc(1, sizeof *r->shared);
    r->shared[0].what = dupstr("setup");
    r->shared[0].n_runs = 2;
    r->shared[0].runs = calloc(2, sizeof(int32_t));
}

/* Three variants x two seeds; C's second run failed (with an array that would change
 * every count if it were used).
 *   seed 0: A right on [0,700); B on [0,650)+[700,800); C on [0,705)
 *   seed 1: A right on [0,710); B on [0,660)+[710,815)
 * A-B: only_a = 50+50, only_b = 100+105, n = 2000, per-seed diff .05 and .055;
 * A-C: seed 0 only: only_a = 0, only_b = 5, n = 1000;
 * B-C: seed 0 only: only_a (B right, C wrong) = [705,800) = 95, only_b = [650,700) = 50. */
START_TEST(compare_three_variants) {
    const int32_t seeds[3][2] = {{0, 1}, {2, 3}, {4, 5}};
    ptq_ab_report r;
    make_report(&r, 3, 2, 6, seeds);
    set_correct(&r.runs[0], 0, 700, 0, 0);
    set_correct(&r.runs[1], 0, 710, 0, 0);
    set_correct(&r.runs[2], 0, 650, 700, 800);
    set_correct(&r.runs[3], 0, 660, 710, 815);
    set_correct(&r.runs[4], 0, 705, 0, 0);
    set_correct(&r.runs[5], 0, IMAGES, 0, 0);
    r.runs[5].status = PTQ_AB_FAILED;
    r.runs[5].error = dupstr("boom");

    ck_assert_int_eq(ptq_ab_compare(&r), 0);

    /* Variants: top-1 over finished runs only. */
    ck_assert_int_eq(r.variants[0].n_ok, 2);
    check_rel(r.variants[0].mean, 0.705, 1e-12, "A mean");
    check_rel(r.variants[0].sd, 0.01 / sqrt(2), 1e-9, "A sd");
    ck_assert(r.variants[0].min == 0.7 && r.variants[0].max == 0.71);
    check_rel(r.variants[1].mean, 0.7575, 1e-12, "B mean");
    check_rel(r.variants[1].sd, 0.015 / sqrt(2), 1e-9, "B sd");
    ck_assert_int_eq(r.variants[2].n_ok, 1);
    ck_assert(r.variants[2].mean == 0.705 && r.variants[2].sd == 0);
    ck_assert(r.variants[2].min == 0.705 && r.variants[2].max == 0.705);

    ck_assert_int_eq(r.n_pairs, 3);
    ptq_ab_pair *ab = &r.pairs[0], *ac = &r.pairs[1], *bc = &r.pairs[2];
    ck_assert(ab->a == 0 && ab->b == 1 && ac->a == 0 && ac->b == 2 && bc->a == 1 && bc->b == 2);

    /* A-B, two seeds: pooled McNemar; the interval adds the seed spread:
     * h_img = 0.016970756521356254 (Agresti-Min on 2000/100/205), s_d = .005/sqrt 2,
     * half = sqrt(h_img^2 + (12.7062 s_d / sqrt 2)^2). */
    ck_assert_int_eq(ab->seeds, 2);
    ck_assert_int_eq(ab->n, 2000);
    ck_assert_int_eq(ab->only_a, 100);
    ck_assert_int_eq(ab->only_b, 205);
    check_rel(ab->diff, 0.0525, 1e-9, "A-B diff");
    check_rel(ab->lo, 0.016485359652051457, 1e-9, "A-B lo");
    check_rel(ab->hi, 0.088514640347948543, 1e-9, "A-B hi");
    check_rel(ab->p, 1.8144991518735285e-09, 1e-9, "A-B p");

    /* A-C, one seed (C's failed run left out): Agresti-Min alone. */
    ck_assert_int_eq(ac->seeds, 1);
    ck_assert_int_eq(ac->n, 1000);
    ck_assert_int_eq(ac->only_a, 0);
    ck_assert_int_eq(ac->only_b, 5);
    check_rel(ac->diff, 0.005, 1e-12, "A-C diff");
    check_rel(ac->lo, 0.00020866333116446892, 1e-9, "A-C lo");
    check_rel(ac->hi, 0.0097713765889952117, 1e-9, "A-C hi");
    check_rel(ac->p, 0.0625, 1e-12, "A-C p");

    ck_assert_int_eq(bc->seeds, 1);
    ck_assert_int_eq(bc->n, 1000);
    ck_assert_int_eq(bc->only_a, 95);
    ck_assert_int_eq(bc->only_b, 50);
    check_rel(bc->diff, -0.045, 1e-12, "B-C diff");
    check_rel(bc->lo, -0.068381094018767358, 1e-9, "B-C lo");
    check_rel(bc->hi, -0.021439265262669767, 1e-9, "B-C hi");
    check_rel(bc->p, 0.00023246568281792628, 1e-9, "B-C p");

    /* Holm over the three: 3 p_AB, 2 p_BC, then max(., 1 * .0625). */
    check_rel(ab->p_holm, 5.443497455620586e-09, 1e-9, "A-B p_holm");
    check_rel(bc->p_holm, 0.00046493136563585257, 1e-9, "B-C p_holm");
    check_rel(ac->p_holm, 0.0625, 1e-12, "A-C p_holm");
    ck_assert(ab->significant && bc->significant && !ac->significant);

    /* Again: the old pairs are replaced, not leaked or appended to. */
    ck_assert_int_eq(ptq_ab_compare(&r), 0);
    ck_assert_int_eq(r.n_pairs, 3);
    ck_assert_int_eq(r.pairs[0].only_b, 205);

    ptq_ab_report_free(&r);
    const ptq_ab_report zero = {0};
    ck_assert(memcmp(&r, &zero, sizeof r) == 0);
    ptq_ab_report_free(&r); /* twice is harmless */
    ptq_ab_report_free(NULL);
}
END_TEST

/* Nothing comparable: B's seed 0 is missing (-1) and its seed 1 failed; C's seed 0 has
 * another image count and its seed 1 no correct[] array. */
/* Pooled McNemar alone would call this: b right on 50 more images under seed 0, wrong on
 * 30 more under seed 1 (80 discordant, p = 0.033); the seeds disagree on the sign, so the
 * interval spans zero and no claim is made. */
START_TEST(compare_seeds_disagree) {
    const int32_t seeds[2][2] = {{0, 1}, {2, 3}};
    ptq_ab_report r;
    make_report(&r, 2, 2, 4, seeds);
    set_correct(&r.runs[0], 0, 700, 0, 0);
    set_correct(&r.runs[1], 0, 700, 0, 0);
    set_correct(&r.runs[2], 0, 750, 0, 0);
    set_correct(&r.runs[3], 0, 670, 0, 0);
    ck_assert_int_eq(ptq_ab_compare(&r), 0);
    const ptq_ab_pair *p = &r.pairs[0];
    ck_assert_int_eq(p->only_b, 50);
    ck_assert_int_eq(p->only_a, 30);
    ck_assert_msg(p->p_holm < 0.05, "p_holm %g", p->p_holm);
    ck_assert_msg(p->lo < 0 && p->hi > 0, "interval [%g, %g]", p->lo, p->hi);
    ck_assert(!p->significant);
    ptq_ab_report_free(&r);
}
END_TEST

START_TEST(compare_nothing_comparable) {
    const int32_t seeds[3][2] = {{0, 1}, {-1, 2}, {3, 4}};
    ptq_ab_report r;
    make_report(&r, 3, 2, 5, seeds);
    set_correct(&r.runs[0], 0, 700, 0, 0);
    set_correct(&r.runs[1], 0, 710, 0, 0);
    set_correct(&r.runs[2], 0, 500, 0, 0);
    r.runs[2].status = PTQ_AB_INTERRUPTED;
    set_correct(&r.runs[3], 0, 600, 0, 0);
    r.runs[3].images = IMAGES - 1;
    r.runs[4].top1 = 0.8;
    r.runs[4].images = IMAGES; /* finished, but no per-image results */

    ck_assert_int_eq(ptq_ab_compare(&r), 0);
    ck_assert_int_eq(r.variants[1].n_ok, 0);
    ck_assert(isnan(r.variants[1].mean) && isnan(r.variants[1].sd));
    ck_assert(isnan(r.variants[1].min) && isnan(r.variants[1].max));
    ck_assert_int_eq(r.variants[2].n_ok, 2); /* its runs finished: they count for top-1 */
    check_rel(r.variants[2].mean, 0.7, 1e-12, "C mean");
    ck_assert_int_eq(r.n_pairs, 3);
    for (int i = 0; i < 3; i++) {
        const ptq_ab_pair *pr = &r.pairs[i];
        ck_assert_msg(pr->seeds == 0 && pr->n == 0 && pr->only_a == 0 && pr->only_b == 0,
                      "pair %d: %d seeds", i, pr->seeds);
        ck_assert(isnan(pr->p) && isnan(pr->p_holm) && isnan(pr->diff));
        ck_assert(isnan(pr->lo) && isnan(pr->hi) && !pr->significant);
    }
    ptq_ab_report_free(&r);
}
END_TEST

START_TEST(compare_one_variant) {
    const int32_t seeds[1][2] = {{0, 1}};
    ptq_ab_report r;
    make_report(&r, 1, 2, 2, seeds);
    set_correct(&r.runs[0], 0, 700, 0, 0);
    set_correct(&r.runs[1], 0, 710, 0, 0);
    ck_assert_int_eq(ptq_ab_compare(&r), 0);
    ck_assert_int_eq(r.n_pairs, 0);
    ck_assert_ptr_null(r.pairs);
    ck_assert_int_eq(r.variants[0].n_ok, 2);
    ptq_ab_report_free(&r);
}
END_TEST

int main(void) {
    Suite *s = suite_create("abstats");
    TCase *tc = tcase_create("mcnemar");
    tcase_add_test(tc, mcnemar_small_exact);
    tcase_add_test(tc, mcnemar_large_exact);
    tcase_add_test(tc, mcnemar_tiny_no_false_underflow);
    tcase_add_test(tc, mcnemar_symmetric_and_monotone);
    suite_add_tcase(s, tc);

    tc = tcase_create("interval");
    tcase_add_test(tc, ci_agresti_min_values);
    tcase_add_test(tc, ci_clamped_and_invalid);
    suite_add_tcase(s, tc);

    tc = tcase_create("holm");
    tcase_add_test(tc, holm_worked_example);
    tcase_add_test(tc, holm_ties_cap_nan);
    suite_add_tcase(s, tc);

    tc = tcase_create("mean_sd");
    tcase_add_test(tc, mean_sd_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("compare");
    tcase_add_test(tc, compare_three_variants);
    tcase_add_test(tc, compare_seeds_disagree);
    tcase_add_test(tc, compare_nothing_comparable);
    tcase_add_test(tc, compare_one_variant);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
