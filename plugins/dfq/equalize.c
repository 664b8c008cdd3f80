/* equalize.c — cross-layer equalization and high-bias absorption (DFQ steps 1 and 2).
 *
 * Equalization.  For a pair (first, second) with r1_c the range of first's output
 * channel c and r2_c the range of second's input channel c, s_c = sqrt(r1_c / r2_c):
 * dividing first's channel c (weights, bias, and the kept BN gamma/beta) by s_c and
 * multiplying second's input channel c by s_c leaves the function unchanged and makes
 * both ranges sqrt(r1_c r2_c), which per-tensor quantization of either layer loses far
 * less to.  Pairs share layers (a chain conv -> dw -> conv), so the sweep is repeated
 * until no scale moves by more than `tolerance` (in log terms); the fixed point of a
 * depthwise triple is the cube-root solution AIMET computes in one step, and grouped
 * convs equalize per channel, which is per group.
 *
 * Absorption.  Equalization can leave large biases on first's outputs.  With BN
 * statistics, output c is about N(beta_c, gamma_c^2), so a ReLU after it passes
 * everything above c_c = max(0, beta_c - sigmas |gamma_c|) unchanged: moving c_c out of
 * first's bias and into second's (b2 += W2 c, the weights summed over their taps) keeps
 * the function for all but the clipped tail, and shrinks the activation range the
 * quantizer must cover.  Without an activation between the layers the whole beta moves
 * (exact).  Zero padding in `second` sees 0, not -c, at the border: the small error the
 * paper accepts. */
#include <math.h>
#include <string.h>

#include "dfq.h"

/* How much of the per-tensor grid an average channel uses: mean_c r_c / max_c r_c (1 is
 * balanced).  The number equalization raises. */
static double range_use(const dfq_layer *l) {
    double sum = 0.0, top = 0.0;
    for (int64_t o = 0; o < l->out_ch; o++) {
        const double r = dfq_out_range(l, o);
        sum += r, top = fmax(top, r);
    }
    return top > 0.0 ? sum / ((double)l->out_ch * top) : 1.0;
}

static void scale_out_channel(const dfq_layer *l, float *bias, float *gamma, float *beta,
                              int64_t o, float f) {
    for (int64_t i = 0; i < l->in_per_group; i++)
        for (int64_t k = 0; k < l->taps; k++) l->w[dfq_w_index(l, o, i, k)] *= f;
    if (bias) bias[o] *= f;
    if (gamma) gamma[o] *= f;
    if (beta) beta[o] *= f;
}

static void scale_in_channel(const dfq_layer *l, int64_t c, int64_t block, float f) {
    for (int64_t fe = c * block; fe < (c + 1) * block; fe++) {
        const int64_t g = fe / l->in_per_group, i = fe % l->in_per_group;
        for (int64_t o = g * l->out_per_group; o < (g + 1) * l->out_per_group; o++)
            for (int64_t k = 0; k < l->taps; k++) l->w[dfq_w_index(l, o, i, k)] *= f;
    }
}

/* The kept BN gamma and beta of node, or NULLs. */
static void bn_params(const ptq_host *h, ptq_session *s, int32_t node, float **gamma, float **beta) {
    ptq_tensor_view g, b;
    *gamma = *beta = NULL;
    if (h->bn_stats(s, node, NULL, NULL, NULL, NULL) == PTQ_OK &&
        h->bn_stats(s, node, &g, &b, NULL, NULL) == PTQ_OK)
        *gamma = g.data, *beta = b.data;
}

/* One equalization of one pair; returns the largest |log s_c|. */
static double equalize_pair(const ptq_host *h, ptq_session *s, const dfq_pair *p) {
    dfq_layer a, b;
    if (!dfq_layer_get(h, s, p->first, &a) || !dfq_layer_get(h, s, p->second, &b)) return 0.0;
    float *bias = dfq_bias(h, s, &a), *gamma, *beta;
    bn_params(h, s, p->first, &gamma, &beta);
    double moved = 0.0;
    for (int64_t c = 0; c < a.out_ch; c++) {
        const double r1 = dfq_out_range(&a, c), r2 = dfq_in_range(&b, c, p->block);
        if (!(r1 > 0.0) || !(r2 > 0.0)) continue; /* a dead channel: leave it */
        const double sc = sqrt(r1 / r2);
        if (!isfinite(sc) || !(sc > 0.0)) continue;
        scale_out_channel(&a, bias, gamma, beta, c, (float)(1.0 / sc));
        scale_in_channel(&b, c, p->block, (float)sc);
        moved = fmax(moved, fabs(log(sc)));
    }
    return moved;
}

/* Re-derives the grids of weight quantizers that were already set (a pipeline that
 * equalizes after calibrating). */
static ptq_status refresh_weight_quantizer(const ptq_host *h, ptq_session *s, int32_t weight) {
    const int32_t q = h->quantizer_of(s, weight);
    ptq_quant_view qv;
    if (q < 0 || h->quantizer_view(s, q, &qv) || !qv.calibrated) return PTQ_OK;
    return h->quantizer_calibrate(s, q);
}

static ptq_status touched_layers_done(const ptq_host *h, ptq_session *s, const dfq_pair *pairs,
                                      int32_t n, const double *use_before) {
    for (int32_t i = 0; i < n; i++) {
        for (int32_t side = 0; side < 2; side++) {
            dfq_layer l;
            if (!dfq_layer_get(h, s, side ? pairs[i].second : pairs[i].first, &l)) continue;
            h->value_changed(s, l.weight);
            if (l.bias >= 0) h->value_changed(s, l.bias);
            ptq_status st = refresh_weight_quantizer(h, s, l.weight);
            if (st) return st;
        }
        dfq_layer l;
        if (!dfq_layer_get(h, s, pairs[i].first, &l)) continue;
        static const char *const cols[] = {"range_use_before", "range_use_after"};
        const double v[2] = {use_before[i], range_use(&l)};
        h->report_row(s, "equalized", h->node_name(s, l.node), cols, v, 2);
    }
    return PTQ_OK;
}

ptq_status dfq_equalize(const ptq_host *h, ptq_session *s, const void *params) {
    const dfq_equalize_params *p = params;
    dfq_pair *pairs;
    const int32_t n = dfq_find_pairs(h, s, &pairs);
    if (n < 0) return PTQ_ERR_NOMEM;
    double *use_before = h->alloc(((size_t)n + 1) * sizeof *use_before);
    if (!use_before) {
        h->free(pairs);
        return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    for (int32_t i = 0; i < n; i++) {
        dfq_layer l;
        use_before[i] = dfq_layer_get(h, s, pairs[i].first, &l) ? range_use(&l) : 1.0;
    }
    int64_t sweeps = 0;
    double moved = INFINITY;
    while (n > 0 && moved > p->tolerance && sweeps < p->max_iterations) {
        moved = 0.0;
        for (int32_t i = 0; i < n; i++) moved = fmax(moved, equalize_pair(h, s, &pairs[i]));
        sweeps++;
        h->progress(s, "equalizing", sweeps, p->max_iterations);
    }
    if (!isfinite(moved)) moved = 0.0;
    h->log(s, PTQ_LOG_INFO, "equalized %d pairs in %lld sweeps (last largest scale change "
           "%.2g, tolerance %.2g)", n, (long long)sweeps, moved, p->tolerance);
    if (n > 0 && moved > p->tolerance)
        h->log(s, PTQ_LOG_WARN, "stopped at max_iterations = %lld before reaching the tolerance",
               (long long)p->max_iterations);
    ptq_status st = touched_layers_done(h, s, pairs, n, use_before);
    h->free(use_before);
    h->free(pairs);
    return st;
}

/* ---- high-bias absorption ---------------------------------------------------------- */

/* Moves c_c out of first's output c and into second's bias.  Returns the mean c. */
static ptq_status absorb_pair(const ptq_host *h, ptq_session *s, const dfq_pair *p, double sigmas,
                              double *mean_absorbed) {
    *mean_absorbed = 0.0;
    dfq_layer a, b;
    if (!dfq_layer_get(h, s, p->first, &a) || !dfq_layer_get(h, s, p->second, &b)) return PTQ_OK;
    float *gamma, *beta;
    bn_params(h, s, p->first, &gamma, &beta);
    float *bias_a = dfq_bias(h, s, &a);
    if (!gamma || !bias_a) return PTQ_OK; /* nothing known to absorb, or nothing to move */
    double *absorbed = h->alloc((size_t)a.out_ch * sizeof *absorbed);
    if (!absorbed) return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    bool any = false;
    for (int64_t c = 0; c < a.out_ch; c++) {
        const double lowest = (double)beta[c] - sigmas * fabs((double)gamma[c]);
        absorbed[c] = p->relu ? fmax(0.0, lowest) : (double)beta[c];
        any |= absorbed[c] != 0.0;
    }
    ptq_status st = PTQ_OK;
    if (any) {
        if (b.bias < 0 && (b.bias = h->node_add_bias(s, b.node)) < 0) st = PTQ_ERR_NOMEM;
        float *bias_b = st ? NULL : dfq_bias(h, s, &b);
        if (!st && !bias_b) st = h->error(s, PTQ_ERR_INTERNAL, "'%s' has no bias data",
                                          h->node_name(s, b.node));
        for (int64_t o = 0; !st && o < b.out_ch; o++) {
            double add = 0.0;
            for (int64_t c = 0; c < a.out_ch; c++)
                if (absorbed[c] != 0.0) add += dfq_in_sum(&b, b.w, o, c, p->block) * absorbed[c];
            bias_b[o] += (float)add;
        }
        for (int64_t c = 0; !st && c < a.out_ch; c++) {
            bias_a[c] -= (float)absorbed[c];
            beta[c] -= (float)absorbed[c];
            *mean_absorbed += absorbed[c] / (double)a.out_ch;
        }
        if (!st) h->value_changed(s, a.bias), h->value_changed(s, b.bias);
    }
    h->free(absorbed);
    return st;
}

ptq_status dfq_absorb_bias(const ptq_host *h, ptq_session *s, const void *params) {
    const dfq_absorb_params *p = params;
    dfq_pair *pairs;
    const int32_t n = dfq_find_pairs(h, s, &pairs);
    if (n < 0) return PTQ_ERR_NOMEM;
    ptq_status st = PTQ_OK;
    int32_t absorbed = 0;
    for (int32_t i = 0; i < n && !st; i++) {
        if (pairs[i].other_act) continue; /* LeakyReLU passes negatives: c would leak */
        double mean = 0.0;
        st = absorb_pair(h, s, &pairs[i], p->sigmas, &mean);
        if (!st && mean != 0.0) {
            absorbed++;
            static const char *const cols[] = {"mean_absorbed"};
            h->report_row(s, "absorbed", h->node_name(s, pairs[i].first), cols, &mean, 1);
        }
    }
    if (!st) h->log(s, PTQ_LOG_INFO, "absorbed bias from %d of %d layer pairs", absorbed, n);
    h->free(pairs);
    return st;
}
