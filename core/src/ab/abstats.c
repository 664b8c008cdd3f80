/* abstats.c — the statistics of an A/B comparison (see abstats.h). */
#include "abstats.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Two-sided 95 %: the standard normal's 0.975 quantile. */
#define PTQ_Z975 1.959963984540054
/* M_PI and M_LN2 are XSI, not C11 (the build is -std=c11 with only _POSIX_C_SOURCE). */
#define LN2 0.693147180559945309417
#define LN_2PI 1.83787706640934548356

/* ================================================================ McNemar ====== */

/* log(n!) - log(sqrt(2 pi n) (n/e)^n), the error of Stirling's formula.  Small n directly
 * from lgamma (the values are small, so the cancellation costs ~1e-15 absolute); large n
 * from the asymptotic series, cut where each form is good to double precision (the
 * cut-offs are Loader's, as in R's stirlerr). */
static double stirlerr(double n) {
    const double s0 = 1.0 / 12, s1 = 1.0 / 360, s2 = 1.0 / 1260, s3 = 1.0 / 1680,
                 s4 = 1.0 / 1188;
    if (n <= 15) return lgamma(n + 1) - (n + 0.5) * log(n) + n - 0.5 * LN_2PI;
    double nn = n * n;
    if (n > 500) return (s0 - s1 / nn) / n;
    if (n > 80) return (s0 - (s1 - s2 / nn) / nn) / n;
    if (n > 35) return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n;
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n;
}

/* x log(x / np) + np - x without the cancellation that formula has when x is near np
 * (there it is a small difference of numbers ~ x log x): the series in v = (x-np)/(x+np). */
static double bd0(double x, double np) {
    if (fabs(x - np) >= 0.1 * (x + np)) return x * log(x / np) + np - x;
    double v = (x - np) / (x + np), s = (x - np) * v, ej = 2 * x * v;
    v *= v;
    for (int j = 1; j < 1000; j++) {
        ej *= v;
        double s1 = s + ej / (2 * j + 1);
        if (s1 == s) break;
        s = s1;
    }
    return s;
}

/* log P(X = k) for X ~ Bin(n, 1/2).  Not lgamma(n+1) - lgamma(k+1) - lgamma(n-k+1): for n
 * in the millions those are ~1e8 and one ulp of each is already 1e-8 of the answer.
 * Loader's saddle-point form keeps only small terms, so it stays at ~1e-15 relative. */
static double log_binom_half(double n, double k) {
    if (k == 0 || k == n) return -n * LN2;
    double lc = stirlerr(n) - stirlerr(k) - stirlerr(n - k) - bd0(k, 0.5 * n) -
                bd0(n - k, 0.5 * n);
    double lf = LN_2PI + log(k) + log1p(-k / n);
    return lc - 0.5 * lf;
}

/* P(X <= k) / P(X = k) for X ~ Bin(n, 1/2), k < n/2: the terms below k relative to the
 * largest one (a log-sum-exp with the maximum factored out, so nothing overflows or
 * underflows).  t(i-1)/t(i) = i/(n-i+1) < 1 and falls with i, so the terms shrink faster
 * than geometrically; stop once they no longer change the sum. */
static double tail_over_top(double n, double k) {
    double s = 1, t = 1;
    for (double i = k; i >= 1; i--) {
        t *= i / (n - i + 1);
        s += t;
        if (t < 1e-20 * s) break;
    }
    return s;
}

double ptq_mcnemar_exact_p(int64_t b, int64_t c) {
    if (b < 0 || c < 0) return NAN;
    int64_t k = b < c ? b : c;
    int64_t n = b + c;
    /* b = c (n = 0 included): P(X <= n/2) >= 1/2, so p is capped at 1. */
    if (2 * k >= n) return 1;
    double dn = (double)n, dk = (double)k;
    double lp = LN2 + log_binom_half(dn, dk) + log(tail_over_top(dn, dk));
    return lp >= 0 ? 1 : exp(lp);
}

/* ======================================================= paired interval ====== */

/* Agresti and Min (2005): the Wald interval for p21 - p12 after adding 0.5 to each of
 * the four cells (n11, n12, n21, n22), so N = n + 2, p12 = (only_a + .5)/N,
 * p21 = (only_b + .5)/N, and var = ((p12 + p21) - (p21 - p12)^2) / N.  The concordant
 * cells n11 and n22 enter only through N, i.e. through their sum n - only_a - only_b:
 * that is why the caller need not (and the A/B runner cannot cheaply) keep them apart.
 * The +0.5 keeps var > 0 and the coverage near 95 % when the discordant counts are 0 or
 * tiny, where the plain Wald interval collapses to a point. */
static void agresti_min(int64_t n, int64_t only_a, int64_t only_b, double *center,
                        double *half) {
    double N = (double)n + 2;
    double p12 = ((double)only_a + 0.5) / N, p21 = ((double)only_b + 0.5) / N;
    double d = p21 - p12;
    *center = d;
    *half = PTQ_Z975 * sqrt(((p12 + p21) - d * d) / N);
}

static double clamp1(double x) { return x < -1 ? -1 : x > 1 ? 1 : x; }

void ptq_paired_diff_ci(int64_t n, int64_t only_a, int64_t only_b, double *diff, double *lo,
                        double *hi) {
    if (n <= 0 || only_a < 0 || only_b < 0 || only_a > n - only_b) {
        *diff = *lo = *hi = NAN;
        return;
    }
    double center, half;
    agresti_min(n, only_a, only_b, &center, &half);
    *diff = (double)(only_b - only_a) / (double)n;
    *lo = clamp1(center - half);
    *hi = clamp1(center + half);
}

/* ====================================================================== Holm ====== */

/* Rank of p[i] among the non-NaN entries, ties broken by index so ranks are distinct. */
static int32_t holm_rank(const double *p, int32_t n, int32_t i) {
    int32_t r = 0;
    for (int32_t j = 0; j < n; j++)
        if (!isnan(p[j]) && (p[j] < p[i] || (p[j] == p[i] && j < i))) r++;
    return r;
}

void ptq_holm_adjust(const double *p, int32_t n, double *out) {
    /* Pass 1 parks each rank r in out as -(r + 1): adjusted values are >= 0 or NaN, so the
     * two never collide and no scratch array is needed. */
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (isnan(p[i])) {
            out[i] = NAN;
            continue;
        }
        out[i] = -(double)(holm_rank(p, n, i) + 1);
        m++;
    }
    /* Pass 2, in rank order: (m - r) p_(r), made monotone by a running maximum. */
    double run = 0;
    for (int32_t r = 0; r < m; r++) {
        for (int32_t i = 0; i < n; i++) {
            if (out[i] != -(double)(r + 1)) continue;
            double v = (double)(m - r) * p[i];
            if (v > 1) v = 1;
            if (v > run) run = v;
            out[i] = run;
            break;
        }
    }
}

/* ============================================================== mean / sd ====== */

/* Welford's running mean and sum of squared deviations: one pass, no cancellation, and
 * no buffer, so ptq_ab_compare can summarize runs and seeds in place. */
typedef struct stat_acc {
    int32_t n;
    double mean, m2, min, max;
} stat_acc;

static void acc_push(stat_acc *a, double x) {
    a->n++;
    double d = x - a->mean;
    a->mean += d / a->n;
    a->m2 += d * (x - a->mean);
    if (a->n == 1 || x < a->min) a->min = x;
    if (a->n == 1 || x > a->max) a->max = x;
}

static void acc_finish(const stat_acc *a, double *mean, double *sd, double *min, double *max) {
    bool none = a->n <= 0;
    if (mean) *mean = none ? NAN : a->mean;
    if (sd) *sd = none ? NAN : a->n == 1 ? 0 : sqrt(a->m2 / (a->n - 1));
    if (min) *min = none ? NAN : a->min;
    if (max) *max = none ? NAN : a->max;
}

void ptq_mean_sd(const double *x, int32_t n, double *mean, double *sd, double *min,
                 double *max) {
    stat_acc a = {0};
    for (int32_t i = 0; i < n; i++) acc_push(&a, x[i]);
    acc_finish(&a, mean, sd, min, max);
}

/* ============================================================ the report ====== */

/* Student's t 0.975 quantile for df = 1..30; beyond, the normal's (within 2 % at df 31,
 * and the seed count K is small in practice). */
static double t975(int32_t df) {
    static const double t[30] = {
        12.7062047362, 4.30265272975, 3.18244630528, 2.7764451052,  2.57058183564,
        2.44691185114, 2.36462425159, 2.3060041352,  2.2621571628,  2.22813885199,
        2.20098516009, 2.17881282967, 2.16036865646, 2.14478668792, 2.13144954556,
        2.11990529922, 2.10981557783, 2.10092204024, 2.09302405441, 2.08596344727,
        2.07961384473, 2.0738730679,  2.06865761042, 2.06389856163, 2.05953855275,
        2.05552943864, 2.05183051648, 2.0484071418,  2.04522964213, 2.0422724563};
    if (df < 1) return NAN;
    return df <= 30 ? t[df - 1] : 1.96;
}

/* Variant v's run for seed k if it finished, else NULL (missing, out of range, failed,
 * interrupted or never run). */
static const ptq_ab_run *ok_run(const ptq_ab_report *r, int32_t v, int32_t k) {
    const ptq_ab_variant *var = &r->variants[v];
    if (k >= var->n_runs || !var->runs) return NULL;
    int32_t i = var->runs[k];
    if (i < 0 || i >= r->n_runs || r->runs[i].status != PTQ_AB_OK) return NULL;
    return &r->runs[i];
}

static void variant_stats(ptq_ab_report *r, int32_t v) {
    ptq_ab_variant *var = &r->variants[v];
    stat_acc a = {0};
    for (int32_t k = 0; k < var->n_runs; k++) {
        const ptq_ab_run *run = ok_run(r, v, k);
        if (run) acc_push(&a, run->top1);
    }
    var->n_ok = a.n;
    acc_finish(&a, &var->mean, &var->sd, &var->min, &var->max);
}

/* Two finished runs can be compared image by image only on the same image list. */
static bool comparable(const ptq_ab_run *ra, const ptq_ab_run *rb) {
    return ra && rb && ra->images > 0 && ra->images == rb->images && ra->correct &&
           rb->correct;
}

static void add_discordant(const ptq_ab_run *ra, const ptq_ab_run *rb, ptq_ab_pair *pr) {
    int64_t oa = 0, ob = 0;
    for (int64_t i = 0; i < ra->images; i++) {
        bool ca = ra->correct[i] != 0, cb = rb->correct[i] != 0;
        oa += ca && !cb;
        ob += cb && !ca;
    }
    pr->only_a += oa;
    pr->only_b += ob;
    pr->n += ra->images;
}

/* One pair, pooled over the seeds both variants finished.
 *
 * Why two different poolings: McNemar on the discordant images summed over seeds tests
 * "does b classify these images differently from a" — the seeds are more paired
 * observations of the same question, and more of them give the test more power.  The
 * interval is about the top-1 difference a user would see on another seed, so with
 * S >= 2 seeds it is centred on the mean per-seed difference and its half-width adds, in
 * quadrature, the image-sampling error (Agresti-Min's half-width on the pooled counts)
 * and the seed-to-seed spread (t_{0.975,S-1} s_d / sqrt(S)).  With one seed there is no
 * spread to measure and the interval is Agresti-Min's alone. */
static void compare_pair(const ptq_ab_report *r, int32_t a, int32_t b, ptq_ab_pair *pr) {
    memset(pr, 0, sizeof *pr);
    pr->a = a;
    pr->b = b;
    int32_t K = r->variants[a].n_runs < r->variants[b].n_runs ? r->variants[a].n_runs
                                                              : r->variants[b].n_runs;
    stat_acc d = {0};
    for (int32_t k = 0; k < K; k++) {
        const ptq_ab_run *ra = ok_run(r, a, k), *rb = ok_run(r, b, k);
        if (!comparable(ra, rb)) continue;
        add_discordant(ra, rb, pr);
        acc_push(&d, rb->top1 - ra->top1);
    }
    pr->seeds = d.n;
    if (d.n == 0) {
        pr->diff = pr->lo = pr->hi = pr->p = pr->p_holm = NAN;
        return;
    }
    pr->p = ptq_mcnemar_exact_p(pr->only_a, pr->only_b);
    if (d.n == 1) {
        ptq_paired_diff_ci(pr->n, pr->only_a, pr->only_b, &pr->diff, &pr->lo, &pr->hi);
        return;
    }
    double center, h_img, mean, sd;
    agresti_min(pr->n, pr->only_a, pr->only_b, &center, &h_img);
    acc_finish(&d, &mean, &sd, NULL, NULL);
    double h_seed = t975(d.n - 1) * sd / sqrt((double)d.n);
    double half = sqrt(h_img * h_img + h_seed * h_seed);
    pr->diff = mean;
    pr->lo = clamp1(mean - half);
    pr->hi = clamp1(mean + half);
}

/* Holm over all pairs' p; the pairs without a comparable seed (p NaN) are no tests. */
static int holm_pairs(ptq_ab_report *r) {
    double *buf = malloc(2 * (size_t)r->n_pairs * sizeof *buf);
    if (!buf) return -1;
    double *p = buf, *adj = buf + r->n_pairs;
    for (int32_t i = 0; i < r->n_pairs; i++) p[i] = r->pairs[i].p;
    ptq_holm_adjust(p, r->n_pairs, adj);
    for (int32_t i = 0; i < r->n_pairs; i++) {
        r->pairs[i].p_holm = adj[i];
        /* Both, or no claim: McNemar pooled over seeds treats the images of different
         * seeds as independent and can be small while the seed-to-seed spread (which the
         * interval carries) still allows either sign; "b beats a" needs both to agree. */
        const ptq_ab_pair *pr = &r->pairs[i];
        r->pairs[i].significant = adj[i] < 0.05 && (pr->lo > 0.0 || pr->hi < 0.0); /* false for NaN */
    }
    free(buf);
    return 0;
}

int ptq_ab_compare(ptq_ab_report *r) {
    for (int32_t v = 0; v < r->n_variants; v++) variant_stats(r, v);
    free(r->pairs);
    r->pairs = NULL;
    r->n_pairs = 0;
    int32_t V = r->n_variants;
    if (V < 2) return 0;
    int32_t np = (int32_t)((int64_t)V * (V - 1) / 2);
    r->pairs = calloc((size_t)np, sizeof *r->pairs);
    if (!r->pairs) return -1;
    r->n_pairs = np;
    int32_t i = 0;
    for (int32_t a = 0; a < V; a++)
        for (int32_t b = a + 1; b < V; b++) compare_pair(r, a, b, &r->pairs[i++]);
    if (holm_pairs(r) == 0) return 0;
    free(r->pairs);
    r->pairs = NULL;
    r->n_pairs = 0;
    return -1;
}

/* ================================================================== free ====== */

static void free_strings(char **s, int32_t n) {
    if (!s) return;
    for (int32_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

static void free_run(ptq_ab_run *run) {
    free(run->variant);
    free(run->dir);
    free(run->error);
    free(run->correct);
    free_strings(run->layer_names, run->n_layers);
    free(run->layer_sqnr_db);
    free_strings(run->pass_names, run->n_passes);
    free(run->pass_seconds);
    free(run->pass_shared);
    free_strings(run->unit_names, run->n_units);
    free(run->unit_loss);
}

void ptq_ab_report_free(ptq_ab_report *r) {
    if (!r) return;
    free(r->title);
    free(r->model);
    free(r->evaluation);
    for (int32_t i = 0; r->runs && i < r->n_runs; i++) free_run(&r->runs[i]);
    free(r->runs);
    for (int32_t i = 0; r->variants && i < r->n_variants; i++) {
        free(r->variants[i].name);
        free(r->variants[i].runs);
    }
    free(r->variants);
    free(r->pairs);
    for (int32_t i = 0; r->shared && i < r->n_shared; i++) {
        free(r->shared[i].what);
        free(r->shared[i].runs);
    }
    free(r->shared);
    memset(r, 0, sizeof *r);
}
