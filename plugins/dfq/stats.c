/* stats.c — what a value's channels look like, without data.
 *
 * BatchNormalization normalizes its input and then sets each channel to mean beta_c and
 * standard deviation |gamma_c|; after folding, the conv's output channel c is taken to be
 * N(beta_c, gamma_c^2) (the DFQ paper's assumption).  From there the statistics follow
 * the graph: an activation clamps the Gaussian (its mean and variance in closed form, its
 * range clipped); an Add of two branches adds means and variances (independence assumed)
 * and its range is the Gaussian's, but never wider than the sum of the branch ranges;
 * pooling and Flatten keep each channel's statistics (max pooling raises the mean; the
 * range, which is what quantizers need, is kept exactly).  The network input is the
 * normalized image: mean 0 and variance 1 by construction of the normalization, its
 * range from the host (8-bit pixels in [0, 1], normalized).
 *
 * Anything else (a conv without BatchNormalization, Concat, Mul, ...) has no data-free
 * description, and asking for it is an error that names the node. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfq.h"

/* 1 / sqrt(2 pi) */
static double normal_pdf(double x) { return 0.3989422804014327 * exp(-0.5 * x * x); }
static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

void dfq_clipped_normal(double mu, double sd, double a, double b, double *mean, double *var) {
    if (!(sd > 0.0)) {
        const double x = mu < a ? a : (mu > b ? b : mu);
        *mean = x, *var = 0.0;
        return;
    }
    const double al = (a - mu) / sd, be = (b - mu) / sd;
    const double Pa = isinf(a) ? 0.0 : normal_cdf(al), Pb = isinf(b) ? 1.0 : normal_cdf(be);
    const double pa = isinf(a) ? 0.0 : normal_pdf(al), pb = isinf(b) ? 0.0 : normal_pdf(be);
    const double in = Pb - Pa; /* mass inside [a, b] */
    /* Contributions of the clamped tails (a * P(y < a), b * P(y > b)) and of the inside. */
    const double ta = isinf(a) ? 0.0 : a * Pa, tb = isinf(b) ? 0.0 : b * (1.0 - Pb);
    const double m = ta + tb + mu * in + sd * (pa - pb);
    const double ta2 = isinf(a) ? 0.0 : a * a * Pa, tb2 = isinf(b) ? 0.0 : b * b * (1.0 - Pb);
    const double apa = isinf(a) ? 0.0 : al * pa, bpb = isinf(b) ? 0.0 : be * pb;
    const double m2 = ta2 + tb2 + (mu * mu + sd * sd) * in + 2.0 * mu * sd * (pa - pb) +
                      sd * sd * (apa - bpb);
    *mean = m;
    *var = fmax(m2 - m * m, 0.0);
}

ptq_status dfq_stats_init(dfq_stats *st, const ptq_host *h, ptq_session *s, double sigmas) {
    memset(st, 0, sizeof *st);
    st->h = h, st->s = s, st->sigmas = sigmas;
    st->n_values = h->value_count(s);
    st->v = h->alloc(((size_t)st->n_values + 1) * sizeof *st->v);
    st->state = h->alloc(((size_t)st->n_values + 1) * sizeof *st->state);
    if (!st->v || !st->state) {
        dfq_stats_free(st);
        return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    st->input = dfq_graph_input(h, s);
    for (int32_t n = 0; n < h->node_count(s) && !st->any_bn; n++)
        st->any_bn = h->bn_stats(s, n, NULL, NULL, NULL, NULL) == PTQ_OK;
    return PTQ_OK;
}

void dfq_stats_free(dfq_stats *st) {
    for (int32_t i = 0; st->v && i < st->n_values; i++) {
        dfq_chan *c = &st->v[i];
        st->h->free(c->mean), st->h->free(c->var), st->h->free(c->lo), st->h->free(c->hi);
    }
    if (st->h) st->h->free(st->v), st->h->free(st->state);
    memset(st, 0, sizeof *st);
}

static bool chan_alloc(dfq_stats *st, dfq_chan *c, int64_t channels, int64_t block) {
    c->c = channels, c->block = block;
    const size_t bytes = (size_t)channels * sizeof(double);
    c->mean = st->h->alloc(bytes), c->var = st->h->alloc(bytes);
    c->lo = st->h->alloc(bytes), c->hi = st->h->alloc(bytes);
    if (c->mean && c->var && c->lo && c->hi) return true;
    snprintf(st->why, sizeof st->why, "out of memory");
    return false;
}

static const dfq_chan *no_stats(dfq_stats *st, int32_t v, const char *fmt, const char *arg) {
    char msg[400];
    snprintf(msg, sizeof msg, fmt, arg);
    /* Only the reason is kept: a caller that can go on without these statistics (bias
     * correction skips the layer) must not leave an error behind, since the session keeps
     * a pass's first message.  Callers that fail report st->why. */
    snprintf(st->why, sizeof st->why, "no data-free statistics for '%s': %s",
             st->h->value_name(st->s, v), msg);
    return NULL;
}

/* Does node carry folded BatchNormalization statistics?  (Asked first, so no error is
 * recorded for a node without.) */
static bool bn_of(dfq_stats *st, int32_t node, ptq_tensor_view *gamma, ptq_tensor_view *beta) {
    return st->h->bn_stats(st->s, node, NULL, NULL, NULL, NULL) == PTQ_OK &&
           st->h->bn_stats(st->s, node, gamma, beta, NULL, NULL) == PTQ_OK;
}

static const dfq_chan *input_stats(dfq_stats *st, int32_t v, dfq_chan *c) {
    ptq_tensor_view view;
    float lo, hi;
    if (st->h->value_view(st->s, v, &view) || view.ndim < 2) return no_stats(st, v, "%s", "not an image");
    if (st->h->input_range(st->s, v, &lo, &hi))
        return no_stats(st, v, "%s", "the host gives no range for this input");
    if (!chan_alloc(st, c, view.ne[1], 1)) return NULL;
    for (int64_t k = 0; k < c->c; k++) c->mean[k] = 0.0, c->var[k] = 1.0, c->lo[k] = lo, c->hi[k] = hi;
    return c;
}

static const dfq_chan *bn_output(dfq_stats *st, dfq_chan *c, const ptq_tensor_view *gamma,
                                 const ptq_tensor_view *beta) {
    if (!chan_alloc(st, c, gamma->ne[0], 1)) return NULL;
    const float *g = gamma->data, *b = beta->data;
    for (int64_t k = 0; k < c->c; k++) {
        const double sd = fabs((double)g[k]);
        c->mean[k] = b[k], c->var[k] = sd * sd;
        c->lo[k] = b[k] - st->sigmas * sd, c->hi[k] = b[k] + st->sigmas * sd;
    }
    return c;
}

static const dfq_chan *clipped(dfq_stats *st, dfq_chan *c, const dfq_chan *in, double a, double b) {
    if (!chan_alloc(st, c, in->c, in->block)) return NULL;
    for (int64_t k = 0; k < c->c; k++) {
        dfq_clipped_normal(in->mean[k], sqrt(in->var[k]), a, b, &c->mean[k], &c->var[k]);
        c->lo[k] = fmin(fmax(in->lo[k], a), b);
        c->hi[k] = fmin(fmax(in->hi[k], a), b);
    }
    return c;
}

static const dfq_chan *copied(dfq_stats *st, dfq_chan *c, const dfq_chan *in, int64_t block) {
    if (!chan_alloc(st, c, in->c, block)) return NULL;
    const size_t bytes = (size_t)in->c * sizeof(double);
    memcpy(c->mean, in->mean, bytes), memcpy(c->var, in->var, bytes);
    memcpy(c->lo, in->lo, bytes), memcpy(c->hi, in->hi, bytes);
    return c;
}

static const dfq_chan *summed(dfq_stats *st, int32_t v, dfq_chan *c, const dfq_chan *x,
                              const dfq_chan *y) {
    if (x->c != y->c || x->block != y->block)
        return no_stats(st, v, "%s", "an Add of tensors with different channel counts");
    if (!chan_alloc(st, c, x->c, x->block)) return NULL;
    for (int64_t k = 0; k < c->c; k++) {
        c->mean[k] = x->mean[k] + y->mean[k];
        c->var[k] = x->var[k] + y->var[k];
        const double sd = sqrt(c->var[k]);
        c->lo[k] = fmax(c->mean[k] - st->sigmas * sd, x->lo[k] + y->lo[k]);
        c->hi[k] = fmin(c->mean[k] + st->sigmas * sd, x->hi[k] + y->hi[k]);
    }
    return c;
}

/* A layer without BN (a classifier's hidden Gemm) in a model that has BN elsewhere: the
 * mean goes through the weights exactly (E[Wx + b] = W E[x] + b); the variance assumes
 * independent inputs (sum of w^2 var), an approximation that is logged. */
static const dfq_chan *through_weights(dfq_stats *st, int32_t v, int32_t node, dfq_chan *c) {
    dfq_layer l;
    if (!dfq_layer_get(st->h, st->s, node, &l))
        return no_stats(st, v, "%s", "its producer has no constant weights");
    const dfq_chan *x = dfq_stats_of(st, l.input);
    if (!x) return NULL;
    if (x->c * x->block != l.in_ch) return no_stats(st, v, "%s", "its layer's inputs do not match");
    if (!chan_alloc(st, c, l.out_ch, 1)) return NULL;
    const float *bias = dfq_bias(st->h, st->s, &l);
    for (int64_t o = 0; o < l.out_ch; o++) {
        double m = bias ? bias[o] : 0.0, var = 0.0;
        for (int64_t f = 0; f < l.in_ch; f++) {
            const int64_t g = f / l.in_per_group, i = f % l.in_per_group;
            if (o / l.out_per_group != g) continue;
            const int64_t ch = f / x->block;
            for (int64_t k = 0; k < l.taps; k++) {
                const double w = l.w[dfq_w_index(&l, o, i, k)];
                m += w * x->mean[ch];
                var += w * w * x->var[ch];
            }
        }
        c->mean[o] = m, c->var[o] = var;
        c->lo[o] = m - st->sigmas * sqrt(var), c->hi[o] = m + st->sigmas * sqrt(var);
    }
    st->h->log(st->s, PTQ_LOG_INFO, "'%s' has no BatchNormalization: its output statistics "
               "are propagated through its weights (inputs assumed independent)",
               st->h->node_name(st->s, node));
    return c;
}

static const dfq_chan *compute(dfq_stats *st, int32_t v) {
    dfq_chan *c = &st->v[v];
    const ptq_host *h = st->h;
    if (v == st->input) return input_stats(st, v, c);
    const int32_t p = h->value_producer(st->s, v);
    if (p < 0) return no_stats(st, v, "%s", "it is a constant");
    ptq_node_info ni;
    if (h->node_info(st->s, p, &ni)) return NULL;
    const char *name = h->node_name(st->s, p);
    switch (ni.op) {
    case PTQ_OP_CONV:
    case PTQ_OP_GEMM: {
        ptq_tensor_view gamma, beta;
        if (bn_of(st, p, &gamma, &beta)) return bn_output(st, c, &gamma, &beta);
        if (!st->any_bn)
            return no_stats(st, v, "'%s' has no BatchNormalization statistics (nor has any "
                            "layer of this model)", name);
        return through_weights(st, v, p, c);
    }
    case PTQ_OP_RELU:
    case PTQ_OP_CLIP: {
        const dfq_chan *in = dfq_stats_of(st, ni.inputs[0]);
        if (!in) return NULL;
        const double a = ni.op == PTQ_OP_RELU ? 0.0 : ni.clip_min;
        const double b = ni.op == PTQ_OP_RELU ? INFINITY : ni.clip_max;
        return clipped(st, c, in, a, b);
    }
    case PTQ_OP_MAX_POOL:
    case PTQ_OP_AVERAGE_POOL:
    case PTQ_OP_GLOBAL_AVERAGE_POOL:
    case PTQ_OP_GLOBAL_MAX_POOL: {
        const dfq_chan *in = dfq_stats_of(st, ni.inputs[0]);
        return in ? copied(st, c, in, in->block) : NULL;
    }
    case PTQ_OP_FLATTEN: {
        const dfq_chan *in = dfq_stats_of(st, ni.inputs[0]);
        ptq_tensor_view iv;
        if (!in || h->value_view(st->s, ni.inputs[0], &iv)) return NULL;
        int64_t spatial = 1;
        for (int32_t d = 2; d < iv.ndim; d++) spatial *= iv.ne[d];
        return copied(st, c, in, in->block * spatial);
    }
    case PTQ_OP_ADD: {
        const dfq_chan *x = dfq_stats_of(st, ni.inputs[0]);
        const dfq_chan *y = x ? dfq_stats_of(st, ni.inputs[1]) : NULL;
        return y ? summed(st, v, c, x, y) : NULL;
    }
    default: return no_stats(st, v, "its producer '%s' is an op DFQ cannot describe without data", name);
    }
}

const dfq_chan *dfq_stats_of(dfq_stats *st, int32_t v) {
    if (v < 0 || v >= st->n_values) return NULL;
    if (st->state[v] == 2) return &st->v[v];
    if (st->state[v] == 1) return no_stats(st, v, "%s", "the graph has a cycle");
    st->state[v] = 1;
    const dfq_chan *c = compute(st, v);
    st->state[v] = c ? 2 : 0;
    if (c) st->v[v].known = true;
    return c;
}
