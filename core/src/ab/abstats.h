/* abstats.h — the statistics of an A/B comparison: whether variant b classifies the
 * evaluation images differently from variant a, and by how much top-1 moves.
 *
 * The evidence is paired: every variant is evaluated on the same images with the same
 * seeds, so a pair is compared image by image (McNemar's exact test on the discordant
 * images) rather than by two independent accuracies, which would throw the pairing away
 * and need far larger differences to see anything.  With several pairs the p-values are
 * Holm-adjusted, so the test stays a 5 % family-wise statement however many variants an
 * A/B file lists.  A pair is "significant" when its Holm-adjusted p < 0.05 and its 95 %
 * interval, which also carries the seed-to-seed spread, excludes zero.
 *
 * Everything here except ptq_ab_compare and ptq_ab_report_free is a pure function: no
 * I/O, no allocation, no global state. */
#ifndef PTQ_ABSTATS_H
#define PTQ_ABSTATS_H

#include <stdint.h>

#include "ab_report.h"

/* McNemar's exact test, two-sided: with n = b + c discordant pairs (b right only under
 * one side, c only under the other), p = min(1, 2 P(X <= min(b, c))), X ~ Bin(n, 1/2);
 * 1 when n = 0.  Accurate to about 1e-12 relative for n up to tens of millions; p only
 * underflows (to a subnormal or 0) when it is truly below ~1e-300.  NaN if b or c < 0. */
double ptq_mcnemar_exact_p(int64_t b, int64_t c);

/* The 95 % interval of p_b - p_a for paired proportions: n pairs, only_a of them right
 * under a only, only_b right under b only.  *diff = (only_b - only_a) / n (unadjusted);
 * [*lo, *hi] is Agresti and Min's (2005) adjusted Wald interval (0.5 added to each of
 * the four cells), clamped to [-1, 1].  It needs only the concordant cells' sum,
 * n - only_a - only_b (see abstats.c).  All three NaN when n <= 0, a count is negative
 * or only_a + only_b > n. */
void ptq_paired_diff_ci(int64_t n, int64_t only_a, int64_t only_b, double *diff, double *lo,
                        double *hi);

/* Holm-Bonferroni step-down adjusted p-values: out[i] belongs to p[i] (same order),
 * monotone in p, capped at 1.  NaN entries are not tests: they are left out of the
 * family (m = the non-NaN count) and come out NaN.  out must not alias p.  O(n^2) time
 * without scratch memory: n is the number of variant pairs, tens at most. */
void ptq_holm_adjust(const double *p, int32_t n, double *out);

/* Mean, sample standard deviation (n - 1; 0 for n = 1), min and max of x[0..n).  All
 * NaN for n <= 0.  Any pointer but x may be NULL when that number is not wanted. */
void ptq_mean_sd(const double *x, int32_t n, double *mean, double *sd, double *min,
                 double *max);

/* Fills the statistics of r from its runs:
 *  - r->variants[v].n_ok, mean, sd, min, max: top-1 over the variant's runs with status
 *    PTQ_AB_OK (variant.runs[k] = -1, or out of range, is a missing seed); NaN with none;
 *  - r->pairs, n_pairs = V(V-1)/2, in the order (0,1), (0,2), ..., (1,2), ...: see
 *    ptq_ab_pair and abstats.c for what is pooled and how the interval is made.  A pair
 *    with no seed both finished (same image count > 0, both `correct` arrays present)
 *    has seeds = 0, n = only_a = only_b = 0, diff/lo/hi/p/p_holm NaN, not significant.
 * Pairs r already had are freed first.  r->pairs is allocated with calloc and owned by
 * r (ptq_ab_report_free frees it).  Returns 0, or -1 when the pairs cannot be allocated
 * (then r->pairs is NULL and r->n_pairs 0; the variants' numbers are filled anyway). */
int ptq_ab_compare(ptq_ab_report *r);

/* Frees everything r owns (every string and array of its runs, variants, pairs and
 * shared steps, and the arrays themselves) and zeroes *r.  NULL-safe. */
void ptq_ab_report_free(ptq_ab_report *r);

#endif
