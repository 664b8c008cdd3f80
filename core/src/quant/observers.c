/* observers.c — choosing quantization ranges: minmax, percentile, MSE and KL.
 *
 * Weights are known in full, so their observers work on the exact values (per output
 * channel or per tensor).  Activations arrive in calibration batches: pass 1 records the
 * range, and the searching observers (percentile, MSE, KL) then build a 2048-bin
 * histogram over that range in pass 2 and search it.  Every candidate range is scored
 * through ptq_qparams_from_range and ptq_fake_quant, the grid the simulation and the
 * exported model use, so the choice is made on the arithmetic that will actually run.
 *
 * The MSE search comes in the reference codes' variants (METHODS.md 0.2): the error
 * exponent p (mean |x - x_hat|^p; BRECQ and QDrop score p = 2.4) and the candidate set
 * (PTQ_SEARCH_*: BRECQ's 80 shrink factors of (min, max), MQBench's range fractions with
 * every zero point).  Activation searches score the histogram, each bin's count at its
 * centre; weights are scored exactly. */
#include "internal.h"

#define HIST_BINS 2048
/* BRECQ's search: shrink both ends by (1 - 0.01 i), i = 0..MSE_SHRINK_STEPS-1. */
#define MSE_SHRINK_STEPS 80
/* QDrop/MQBench's one-sided search: max = range * i / 100, i = 1..100. */
#define MSE_ONE_SIDED_STEPS 100

/* ================================================================== shared ====== */

static ptq_status check_spec(const ptq_qspec *spec, ptq_error *err) {
    if (spec->observer < 0 || spec->observer >= PTQ_OBSERVER_COUNT)
        return ptq_error_set(err, PTQ_ERR_INVALID, "unknown observer %d", spec->observer);
    if (spec->search < 0 || spec->search >= PTQ_SEARCH_COUNT)
        return ptq_error_set(err, PTQ_ERR_INVALID, "unknown MSE search %d", spec->search);
    if (!(spec->mse_p == 0.0f || (spec->mse_p >= 1.0f && spec->mse_p <= 8.0f)))
        return ptq_error_set(err, PTQ_ERR_INVALID, "MSE exponent p %g is outside [1, 8] (0: 2)",
                             (double)spec->mse_p);
    if (spec->observer == PTQ_OBSERVER_PERCENTILE &&
        !(spec->percentile > 0.0f && spec->percentile <= 100.0f))
        return ptq_error_set(err, PTQ_ERR_INVALID,
                             "percentile %g is outside (0, 100] (percent of values kept)",
                             (double)spec->percentile);
    return PTQ_OK;
}

/* |d|^p, the error one value contributes; p = 2 without a pow call. */
static inline double err_pow(double d, double p) {
    return p == 2.0 ? d * d : pow(fabs(d), p);
}

static double spec_p(const ptq_qspec *spec) { return spec->mse_p > 0.0f ? spec->mse_p : 2.0; }

/* Mean |x - x_hat|^p of n values x fake-quantized with (s, z); y is n floats of scratch.
 * Summed in double: a float sum over a large channel would lose the small differences
 * between candidates. */
static double fq_err_sz(const float *x, int64_t n, float s, int32_t z, const ptq_qparams *qp,
                        double p, float *y) {
    ptq_fake_quant(x, y, n, s, z, qp->qmin, qp->qmax);
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) e += err_pow((double)x[i] - (double)y[i], p);
    return e / (double)n;
}

/* The same on the grid covering [lo, hi]. */
static double fq_err(const float *x, int64_t n, float lo, float hi, const ptq_qparams *qp,
                     bool symmetric, double p, float *y) {
    float s;
    int32_t z;
    ptq_qparams_from_range(lo, hi, qp->qmin, qp->qmax, symmetric, &s, &z);
    return fq_err_sz(x, n, s, z, qp, p, y);
}

/* A candidate scorer: the error of the grid covering [lo, hi] on the data in ctx. */
typedef double (*range_score)(void *ctx, float lo, float hi);

/* BRECQ's candidates: both ends of [lo0, hi0] times (1 - 0.01 i), i = 0..79; only a strict
 * improvement replaces the best, so i = 0 (the full range) wins ties. */
static void search_shrink(range_score score, void *ctx, float lo0, float hi0, float *lo,
                          float *hi) {
    double best = score(ctx, lo0, hi0);
    *lo = lo0, *hi = hi0;
    for (int32_t i = 1; i < MSE_SHRINK_STEPS; i++) {
        const float f = 1.0f - 0.01f * (float)i;
        const double e = score(ctx, lo0 * f, hi0 * f);
        if (e < best) best = e, *lo = lo0 * f, *hi = hi0 * f;
    }
}

/* Which side of zero a tensor's values lie on, as MQBench's observer decides it once per
 * tensor (not per channel): SIDE_BOTH searches range and zero point, the others one
 * threshold. */
#define SIDE_BOTH 0
#define SIDE_POS 1
#define SIDE_NEG 2
#define SIDE_SYMMETRIC 3

static int side_of(float lo, float hi, bool symmetric) {
    return symmetric ? SIDE_SYMMETRIC : lo >= 0.0f ? SIDE_POS : hi <= 0.0f ? SIDE_NEG : SIDE_BOTH;
}

/* MQBench's MSEObserver (QDrop's code): one-sided data (or any data on a symmetric grid)
 * search one threshold t = max(|lo0|, hi0) * i / 100, i = 1..100, the range [0, t],
 * [-t, 0] or [-t, t]; two-sided data on an asymmetric grid search every pair of a range
 * r = (hi0 - lo0) * i / 100 and a zero point u in [0, qmax - qmin]: [-u d, r - u d] with
 * d = r / (qmax - qmin), lo0 <= 0 <= hi0.  First strict minimum wins (smallest range). */
static void search_mqbench(range_score score, void *ctx, float lo0, float hi0, int side,
                           const ptq_qparams *qp, float *lo, float *hi) {
    double best = INFINITY;
    *lo = lo0, *hi = hi0;
    if (side != SIDE_BOTH) {
        const float range = fmaxf(fabsf(lo0), hi0);
        for (int32_t i = 1; i <= MSE_ONE_SIDED_STEPS; i++) {
            const float t = range / (float)MSE_ONE_SIDED_STEPS * (float)i;
            const float clo = side == SIDE_POS ? 0.0f : -t, chi = side == SIDE_NEG ? 0.0f : t;
            const double e = score(ctx, clo, chi);
            if (e < best) best = e, *lo = clo, *hi = chi;
        }
        return;
    }
    const float range = hi0 - lo0;
    const float levels = (float)(qp->qmax - qp->qmin);
    for (int32_t i = 1; i <= MSE_ONE_SIDED_STEPS; i++) {
        const float r = range / (float)MSE_ONE_SIDED_STEPS * (float)i, d = r / levels;
        /* u: the zero point counted from the grid's lowest code (MQBench's grid is
         * unsigned, [0, 2^b - 1]; a signed grid's zero point is u + qmin). */
        for (int32_t u = 0; u <= qp->qmax - qp->qmin; u++) {
            const float clo = -(float)u * d, chi = r - (float)u * d;
            const double e = score(ctx, clo, chi);
            if (e < best) best = e, *lo = clo, *hi = chi;
        }
    }
}

/* ================================================================= weights ====== */

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of n sorted values, interpolating linearly between neighbouring
 * order statistics (numpy's default), so a percentile does not jump by a whole value
 * when n changes by one. */
static float sorted_quantile(const float *s, int64_t n, double q) {
    const double pos = q * (double)(n - 1);
    const int64_t i = (int64_t)floor(pos);
    if (i >= n - 1) return s[n - 1];
    if (i < 0) return s[0];
    const double f = pos - (double)i;
    return (float)((double)s[i] + f * ((double)s[i + 1] - (double)s[i]));
}

static void minmax_of(const float *x, int64_t n, float *lo, float *hi) {
    float a = x[0], b = x[0];
    for (int64_t i = 1; i < n; i++) {
        a = fminf(a, x[i]);
        b = fmaxf(b, x[i]);
    }
    *lo = a;
    *hi = b;
}

/* Exact percentile clipping: for symmetric grids the p-th percentile of |x|; otherwise
 * the (100-p)-th and p-th percentiles of x.  tmp holds n floats. */
static void percentile_range(const float *x, int64_t n, const ptq_qspec *spec, float *tmp,
                             float *lo, float *hi) {
    const double q = (double)spec->percentile / 100.0;
    for (int64_t i = 0; i < n; i++) tmp[i] = spec->symmetric ? fabsf(x[i]) : x[i];
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_float);
    if (spec->symmetric) {
        *hi = sorted_quantile(tmp, n, q);
        *lo = -*hi;
    } else {
        *lo = sorted_quantile(tmp, n, 1.0 - q);
        *hi = sorted_quantile(tmp, n, q);
    }
}

typedef struct weight_ctx {
    const float *x;
    int64_t n;
    const ptq_qparams *qp;
    bool symmetric;
    double p;
    float *y;
} weight_ctx;

static double weight_score(void *ctx, float lo, float hi) {
    const weight_ctx *w = ctx;
    return fq_err(w->x, w->n, lo, hi, w->qp, w->symmetric, w->p, w->y);
}

/* The MSE search over the n values of one channel: AUTO and SHRINK shrink (min, max) as
 * BRECQ does, MQBENCH searches as MQBench's observer.  MQBench widens a channel's range to
 * contain 0 before searching; BRECQ's search does not, but its grid (like every grid here)
 * contains 0, so both start from the range widened to 0. */
static void mse_range(const float *x, int64_t n, const ptq_qspec *spec, const ptq_qparams *qp,
                      int side, float *tmp, float *lo, float *hi) {
    weight_ctx w = {x, n, qp, spec->symmetric, spec_p(spec), tmp};
    const float lo0 = fminf(*lo, 0.0f), hi0 = fmaxf(*hi, 0.0f);
    if (spec->search == PTQ_SEARCH_MQBENCH)
        search_mqbench(weight_score, &w, lo0, hi0, side, qp, lo, hi);
    else
        search_shrink(weight_score, &w, *lo, *hi, lo, hi);
}

/* The range the observer picks for the n values of one channel (or the whole tensor). */
static void weight_range(const float *x, int64_t n, const ptq_qspec *spec, const ptq_qparams *qp,
                         int side, float *tmp, float *lo, float *hi) {
    switch (spec->observer) {
    case PTQ_OBSERVER_PERCENTILE: percentile_range(x, n, spec, tmp, lo, hi); return;
    case PTQ_OBSERVER_MSE:
    case PTQ_OBSERVER_KL:
        /* KL (TensorRT's entropy calibration) is defined for activation histograms;
         * TensorRT itself takes weights at max|w|.  A weight is small and fully known,
         * so the exact MSE search is the better stand-in. */
        minmax_of(x, n, lo, hi);
        mse_range(x, n, spec, qp, side, tmp, lo, hi);
        return;
    default: minmax_of(x, n, lo, hi); return;
    }
}

ptq_status ptq_observe_weights(const ptq_tensor *w, const ptq_qspec *spec, ptq_qparams *qp,
                               ptq_error *err) {
    memset(qp, 0, sizeof *qp);
    ptq_status st = check_spec(spec, err);
    if (st) return st;
    if (w->dtype != PTQ_DTYPE_F32)
        return ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "weights must be float32, not %s",
                             ptq_dtype_name(w->dtype));
    const int64_t numel = ptq_tensor_numel(w);
    if (numel <= 0) return ptq_error_set(err, PTQ_ERR_INVALID, "empty weight tensor");
    const float *x = w->data;
    for (int64_t i = 0; i < numel; i++)
        if (!isfinite(x[i]))
            return ptq_error_set(err, PTQ_ERR_NUMERIC, "weight contains NaN/Inf at index %ld (%g)",
                                 (long)i, (double)x[i]);
    /* A scalar has no channel axis: it gets one scale whatever the spec says. */
    const bool per_channel = spec->per_channel && w->ndim >= 1;
    const int64_t channels = per_channel ? w->ne[0] : 1, inner = numel / channels;
    st = ptq_qparams_init(qp, spec->bits, spec->symmetric, true, per_channel ? 0 : -1, channels,
                          err);
    if (st) return st;
    ptq_qparams_limit(qp, spec->max_code);
    float *tmp = NULL;
    if (spec->observer != PTQ_OBSERVER_MINMAX) {
        tmp = ptq_calloc_array((size_t)inner, sizeof *tmp);
        if (!tmp) {
            ptq_qparams_free(qp);
            return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        }
    }
    float all_lo, all_hi;
    minmax_of(x, numel, &all_lo, &all_hi);
    const int side = side_of(all_lo, all_hi, spec->symmetric);
    for (int64_t c = 0; c < channels; c++) {
        float lo, hi;
        weight_range(x + c * inner, inner, spec, qp, side, tmp, &lo, &hi);
        ptq_qparams_from_range(lo, hi, qp->qmin, qp->qmax, spec->symmetric, &qp->scale[c],
                               &qp->zero_point[c]);
    }
    free(tmp);
    return PTQ_OK;
}

/* ============================================================= activations ====== */

struct ptq_act_observer {
    ptq_qspec spec;
    /* pass 1 */
    int64_t seen;      /* values seen, NaN/Inf included */
    float lo, hi;      /* range of the finite ones */
    int64_t bad_at;    /* index over all values seen of the first NaN/Inf, -1 if none */
    float bad_value;
    /* pass 2: bin b counts values in [h_lo + b w, h_lo + (b + 1) w), the last bin also
     * its upper end; for symmetric specs the values are |x|. */
    bool hist_ready;
    double h_lo, h_hi, h_w;
    int64_t hist_seen;
    double zeros;      /* exact zeros (all in bin 0 when h_lo is 0): KL leaves them out */
    double hist[HIST_BINS];
};

ptq_act_observer *ptq_act_observer_new(const ptq_qspec *spec) {
    ptq_act_observer *o = ptq_calloc_array(1, sizeof *o);
    if (!o) return NULL;
    o->spec = *spec;
    o->lo = INFINITY;
    o->hi = -INFINITY;
    o->bad_at = -1;
    return o;
}

void ptq_act_observer_free(ptq_act_observer *obs) { free(obs); }

/* Remembers the first non-finite value for finish(), which reports it. */
static void note_bad(ptq_act_observer *o, int64_t at, float v) {
    if (o->bad_at >= 0) return;
    o->bad_at = at;
    o->bad_value = v;
}

void ptq_act_observer_range(ptq_act_observer *obs, const float *x, int64_t n) {
    float lo = obs->lo, hi = obs->hi;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            note_bad(obs, obs->seen + i, x[i]);
            continue;
        }
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    obs->lo = lo;
    obs->hi = hi;
    obs->seen += n;
}

bool ptq_act_observer_wants_histogram(const ptq_act_observer *obs) {
    const int32_t k = obs->spec.observer;
    return k == PTQ_OBSERVER_PERCENTILE || k == PTQ_OBSERVER_MSE || k == PTQ_OBSERVER_KL;
}

/* Fixes the histogram's domain from pass 1: [0, max|x|] for symmetric specs (a symmetric
 * grid's error depends only on |x|), else [min, max] widened to include 0 as
 * ptq_qparams_from_range will widen it (and KL needs the unsigned case to start at 0). */
static void hist_setup(ptq_act_observer *o) {
    const bool any = o->lo <= o->hi; /* some finite value was seen */
    const double lo = any ? o->lo : 0.0, hi = any ? o->hi : 0.0;
    if (o->spec.symmetric) {
        o->h_lo = 0.0;
        o->h_hi = fmax(fabs(lo), fabs(hi));
    } else {
        o->h_lo = fmin(lo, 0.0);
        o->h_hi = fmax(hi, 0.0);
    }
    o->h_w = (o->h_hi - o->h_lo) / HIST_BINS;
    o->hist_ready = true;
}

static int64_t hist_bin(const ptq_act_observer *o, double v) {
    if (!(o->h_w > 0.0)) return 0;
    const double t = (v - o->h_lo) / o->h_w;
    if (!(t >= 0.0)) return 0;                  /* below the pass-1 range */
    if (t >= HIST_BINS) return HIST_BINS - 1;   /* the maximum, or beyond pass 1's */
    return (int64_t)t;
}

void ptq_act_observer_histogram(ptq_act_observer *obs, const float *x, int64_t n) {
    if (!obs->hist_ready) hist_setup(obs);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            /* Pass 2 should see pass 1's data; a NaN only here is still an error. */
            note_bad(obs, obs->hist_seen + i, x[i]);
            continue;
        }
        const double v = obs->spec.symmetric ? fabs((double)x[i]) : (double)x[i];
        obs->hist[hist_bin(obs, v)] += 1.0;
        obs->zeros += x[i] == 0.0f;
    }
    obs->hist_seen += n;
}

/* The value below which a fraction q of the histogram's mass lies, assuming the values
 * of a bin spread evenly across it. */
static double hist_quantile(const ptq_act_observer *o, double q) {
    double total = 0.0;
    for (int64_t b = 0; b < HIST_BINS; b++) total += o->hist[b];
    const double target = q * total;
    double cum = 0.0;
    for (int64_t b = 0; b < HIST_BINS; b++) {
        if (o->hist[b] > 0.0 && cum + o->hist[b] >= target)
            return o->h_lo + ((double)b + (target - cum) / o->hist[b]) * o->h_w;
        cum += o->hist[b];
    }
    return o->h_hi;
}

static void hist_percentile_range(const ptq_act_observer *o, float *lo, float *hi) {
    const double q = (double)o->spec.percentile / 100.0;
    if (o->spec.symmetric) {
        *hi = (float)fmin(hist_quantile(o, q), o->h_hi);
        *lo = -*hi;
    } else {
        *lo = (float)fmax(hist_quantile(o, 1.0 - q), o->h_lo);
        *hi = (float)fmin(hist_quantile(o, q), o->h_hi);
    }
}

/* Expected |x - x_hat|^p of fake-quantizing the histogram on the grid covering [lo, hi],
 * every value standing at its bin's centre. */
typedef struct hist_ctx {
    const ptq_act_observer *o;
    const ptq_qparams *qp;
    const float *centers;
    float *y;
    double p;
} hist_ctx;

static double hist_score(void *ctx, float lo, float hi) {
    const hist_ctx *h = ctx;
    float s;
    int32_t z;
    ptq_qparams_from_range(lo, hi, h->qp->qmin, h->qp->qmax, h->o->spec.symmetric, &s, &z);
    ptq_fake_quant(h->centers, h->y, HIST_BINS, s, z, h->qp->qmin, h->qp->qmax);
    double e = 0.0;
    for (int64_t b = 0; b < HIST_BINS; b++)
        if (h->o->hist[b] > 0.0) e += h->o->hist[b] * err_pow((double)h->centers[b] - (double)h->y[b], h->p);
    return e;
}

/* MSE search on the histogram.  AUTO: one-sided data (|x| for symmetric grids, or
 * min >= 0) have a single end to choose, max = range * i / 100, tried from the full range
 * down so that ties keep the wider range; two-sided data on an asymmetric grid shrink both
 * ends by (1 - 0.01 i) as BRECQ does.  SHRINK and MQBENCH as for weights.  A symmetric
 * histogram holds |x|: its candidates are [-t, t]. */
static void hist_mse_range(const ptq_act_observer *o, const ptq_qparams *qp, float *lo,
                           float *hi) {
    float centers[HIST_BINS], y[HIST_BINS];
    for (int64_t b = 0; b < HIST_BINS; b++)
        centers[b] = (float)(o->h_lo + ((double)b + 0.5) * o->h_w);
    hist_ctx h = {o, qp, centers, y, spec_p(&o->spec)};
    const float top = (float)o->h_hi, bottom = (float)o->h_lo;
    const float lo0 = o->spec.symmetric ? -top : bottom;
    if (o->spec.search == PTQ_SEARCH_SHRINK) {
        search_shrink(hist_score, &h, lo0, top, lo, hi);
        return;
    }
    if (o->spec.search == PTQ_SEARCH_MQBENCH) {
        search_mqbench(hist_score, &h, lo0, top, side_of(lo0, top, o->spec.symmetric), qp, lo, hi);
        return;
    }
    const bool one_sided = o->spec.symmetric || o->h_lo >= 0.0;
    if (!one_sided) {
        search_shrink(hist_score, &h, lo0, top, lo, hi);
        return;
    }
    *lo = lo0;
    *hi = top;
    double best = hist_score(&h, *lo, *hi);
    for (int32_t i = 1; i < MSE_ONE_SIDED_STEPS; i++) {
        const float f = (float)(MSE_ONE_SIDED_STEPS - i) / MSE_ONE_SIDED_STEPS;
        const float clo = o->spec.symmetric ? -top * f : bottom * f, chi = top * f;
        const double e = hist_score(&h, clo, chi);
        if (e < best) best = e, *lo = clo, *hi = chi;
    }
}

/* KL(P || Q) for one candidate i, as TensorRT defines it: P is d[0..i) with the outliers
 * (everything from bin i on, `tail`) added into bin i-1; Q is d[0..i) *without* them,
 * merged into `levels` equal groups (bins split at group boundaries by their overlap, as
 * ncnn does when i is not a multiple of levels) and spread back evenly over the nonzero
 * bins of P.  (Merging P itself would make Q equal P at i = levels, a divergence of 0.)
 * A bin of P that Q leaves empty (outliers folded into an empty stretch) makes the
 * divergence infinite: that candidate is never chosen.  p and q hold i doubles. */
static double kl_candidate(const double *d, double tail, int64_t i, int64_t levels, double *p,
                           double *q) {
    double sp = 0.0;
    for (int64_t j = 0; j < i; j++) {
        p[j] = d[j] + (j == i - 1 ? tail : 0.0);
        q[j] = 0.0;
        sp += p[j];
    }
    if (!(sp > 0.0)) return INFINITY;
    const double per = (double)i / (double)levels;
    for (int64_t k = 0; k < levels; k++) {
        const double start = (double)k * per, end = start + per;
        const int64_t j0 = (int64_t)floor(start), j1 = PTQ_MIN((int64_t)ceil(end), i);
        double mass = 0.0, nonzero = 0.0;
        for (int64_t j = j0; j < j1; j++) {
            const double ov = fmin(end, (double)j + 1.0) - fmax(start, (double)j);
            if (ov <= 0.0) continue;
            mass += ov * d[j];
            nonzero += p[j] > 0.0 ? ov : 0.0;
        }
        if (!(nonzero > 0.0)) continue;
        for (int64_t j = j0; j < j1; j++) {
            const double ov = fmin(end, (double)j + 1.0) - fmax(start, (double)j);
            if (ov > 0.0 && p[j] > 0.0) q[j] += ov * mass / nonzero;
        }
    }
    double sq = 0.0;
    for (int64_t j = 0; j < i; j++) sq += q[j];
    double kl = 0.0;
    for (int64_t j = 0; j < i; j++) {
        if (!(p[j] > 0.0)) continue;
        if (!(q[j] > 0.0)) return INFINITY;
        const double pj = p[j] / sp, qj = q[j] / sq;
        kl += pj * log(pj / qj);
    }
    return kl;
}

/* TensorRT's entropy calibration on the one-sided histogram (|x|, or x >= 0): the
 * threshold (i + 0.5) * bin width of the i in [levels, 2048] with the smallest KL.
 * levels = qmax + 1, the grid's non-negative levels: 128 at 8 bits symmetric, as in
 * TensorRT, ncnn and EasyQuant (METHODS.md, card 5), and 256 for unsigned 8-bit.  Exact
 * zeros are left out, as ncnn's calibrator does: they quantize without error, and a
 * post-ReLU tensor's zeros would otherwise dominate bin 0 and the divergence.  With more
 * levels than bins (16 bits) no candidate exists and the full range is kept. */
static double hist_kl_threshold(const ptq_act_observer *o, int32_t qmax) {
    const int64_t levels = (int64_t)qmax + 1;
    double d[HIST_BINS], p[HIST_BINS], q[HIST_BINS];
    memcpy(d, o->hist, sizeof d);
    d[0] = fmax(d[0] - o->zeros, 0.0);
    double tail = 0.0; /* mass of d[i..] for the current i */
    for (int64_t j = levels; j < HIST_BINS; j++) tail += d[j];
    int64_t best_i = HIST_BINS;
    double best = INFINITY;
    for (int64_t i = levels; i <= HIST_BINS; i++) {
        const double kl = kl_candidate(d, tail, i, levels, p, q);
        if (kl < best) {
            best = kl;
            best_i = i;
        }
        if (i < HIST_BINS) tail -= d[i];
    }
    /* ncnn's formula; past the largest value seen a wider grid gains nothing. */
    return fmin(((double)best_i + 0.5) * o->h_w, o->h_hi);
}

/* The range of a finished activation observer (pass 1 and, if wanted, pass 2 done). */
static void act_range(const ptq_act_observer *o, const ptq_qparams *qp, float *lo, float *hi) {
    *lo = o->lo;
    *hi = o->hi;
    /* All values equal (a histogram of zero width): nothing to search. */
    if (!ptq_act_observer_wants_histogram(o) || !(o->h_w > 0.0)) return;
    switch (o->spec.observer) {
    case PTQ_OBSERVER_PERCENTILE: hist_percentile_range(o, lo, hi); return;
    case PTQ_OBSERVER_KL:
        /* KL is defined for a one-sided distribution against a grid starting at 0.  Data
         * with negative values on an asymmetric grid have two ends and a zero point to
         * choose, which TensorRT's method does not cover; splitting the levels between
         * the sides would be an invention of ours, so those take the MSE search. */
        if (o->spec.symmetric || o->h_lo >= 0.0) {
            const float t = (float)hist_kl_threshold(o, qp->qmax);
            *lo = o->spec.symmetric ? -t : 0.0f;
            *hi = t;
            return;
        }
        hist_mse_range(o, qp, lo, hi);
        return;
    default: hist_mse_range(o, qp, lo, hi); return;
    }
}

ptq_status ptq_act_observer_finish(ptq_act_observer *obs, ptq_qparams *qp, ptq_error *err) {
    memset(qp, 0, sizeof *qp);
    ptq_status st = check_spec(&obs->spec, err);
    if (st) return st;
    if (obs->bad_at >= 0)
        return ptq_error_set(err, PTQ_ERR_NUMERIC,
                             "activation contains NaN/Inf (%g) at index %ld of the calibration "
                             "data", (double)obs->bad_value, (long)obs->bad_at);
    if (obs->seen == 0)
        return ptq_error_set(err, PTQ_ERR_INVALID, "no calibration data reached this quantizer");
    if (ptq_act_observer_wants_histogram(obs) && obs->hist_seen == 0)
        return ptq_error_set(err, PTQ_ERR_INVALID,
                             "the %s observer needs the histogram pass "
                             "(ptq_act_observer_histogram) before finish",
                             ptq_observer_name(obs->spec.observer));
    st = ptq_qparams_init(qp, obs->spec.bits, obs->spec.symmetric, false, -1, 1, err);
    if (st) return st;
    float lo, hi;
    act_range(obs, qp, &lo, &hi);
    ptq_qparams_from_range(lo, hi, qp->qmin, qp->qmax, obs->spec.symmetric, &qp->scale[0],
                           &qp->zero_point[0]);
    return PTQ_OK;
}
