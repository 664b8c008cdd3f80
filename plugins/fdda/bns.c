/* bns.c — BN statistics of a folded model and the alignment losses (see bns.h). */
#include "bns.h"

#include <math.h>
#include <string.h>

void bns_layers_free(const ptq_host *h, bns_layer *l, int32_t n) {
    for (int32_t i = 0; l && i < n; i++) {
        h->free(l[i].a);
        h->free(l[i].beta);
        h->free(l[i].mean);
        h->free(l[i].var);
    }
    h->free(l);
}

/* Fills layer l of node from the session's BN statistics. */
static ptq_status layer_from_node(const ptq_host *h, ptq_session *s, int32_t node, bns_layer *l) {
    ptq_tensor_view g = {.struct_size = sizeof g}, b = g, m = g, v = g, out = g;
    ptq_node_info ni = {.struct_size = sizeof ni};
    float eps = 0.0f;
    ptq_status st = h->bn_stats(s, node, &g, &b, &m, &v);
    if (!st) st = h->bn_epsilon(s, node, &eps);
    if (!st) st = h->node_info(s, node, &ni);
    if (!st) st = h->value_view(s, ni.outputs[0], &out);
    if (st) return st;
    const int64_t c = g.ne[0];
    if (out.ndim < 2 || out.ne[1] != c)
        return h->error(s, PTQ_ERR_UNSUPPORTED, "'%s': its output does not have the %lld "
                        "channels of its batch normalization on axis 1", h->node_name(s, node),
                        (long long)c);
    l->node = node;
    l->value = ni.outputs[0];
    l->channels = c;
    l->spatial = 1;
    for (int32_t d = 2; d < out.ndim; d++) l->spatial *= out.ne[d];
    l->a = h->alloc((size_t)c * sizeof(float));
    l->beta = h->alloc((size_t)c * sizeof(float));
    l->mean = h->alloc((size_t)c * sizeof(float));
    l->var = h->alloc((size_t)c * sizeof(float));
    if (!l->a || !l->beta || !l->mean || !l->var) return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    const float *gamma = g.data, *beta = b.data, *mean = m.data, *var = v.data;
    l->live = 0;
    for (int64_t k = 0; k < c; k++) {
        l->a[k] = gamma[k] / sqrtf(var[k] + eps);
        l->beta[k] = beta[k];
        l->mean[k] = mean[k];
        l->var[k] = var[k];
        l->live += l->a[k] != 0.0f && isfinite(l->a[k]);
    }
    return PTQ_OK;
}

ptq_status bns_layers_find(const ptq_host *h, ptq_session *s, bns_layer **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    const int32_t nodes = h->node_count(s);
    int32_t count = 0;
    for (int32_t i = 0; i < nodes; i++) count += h->bn_stats(s, i, NULL, NULL, NULL, NULL) == PTQ_OK;
    if (count == 0) return PTQ_OK;
    bns_layer *l = h->alloc((size_t)count * sizeof *l);
    if (!l) return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    int32_t k = 0;
    for (int32_t i = 0; i < nodes; i++) {
        if (h->bn_stats(s, i, NULL, NULL, NULL, NULL) != PTQ_OK) continue;
        ptq_status st = layer_from_node(h, s, i, &l[k++]);
        if (st) {
            bns_layers_free(h, l, k);
            return st;
        }
    }
    *out = l;
    *n = count;
    return PTQ_OK;
}

int32_t bns_deep_start(int32_t n_layers) {
    int32_t l0 = (n_layers + 1) / 2 - 2;
    if (l0 > n_layers - 1) l0 = n_layers - 1;
    return l0 < 0 ? 0 : l0;
}

static bool live(const bns_layer *l, int64_t c) { return l->a[c] != 0.0f && isfinite(l->a[c]); }

void bns_accumulate(const bns_layer *l, const float *y, int64_t batch, double *sum, double *sum2) {
    const int64_t C = l->channels, S = l->spatial;
    for (int64_t n = 0; n < batch; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *p = y + (n * C + c) * S;
            double s1 = 0.0, s2 = 0.0;
            for (int64_t i = 0; i < S; i++) s1 += p[i], s2 += (double)p[i] * p[i];
            sum[c] += s1;
            sum2[c] += s2;
        }
}

void bns_moments(const bns_layer *l, const double *sum, const double *sum2, double count,
                 float *mean_x, float *var_x) {
    for (int64_t c = 0; c < l->channels; c++) {
        const double my = sum[c] / count, vy = fmax(sum2[c] / count - my * my, 0.0);
        const double a = l->a[c];
        mean_x[c] = live(l, c) ? (float)((my - l->beta[c]) / a + l->mean[c]) : l->mean[c];
        var_x[c] = live(l, c) ? (float)(vy / (a * a)) : l->var[c];
    }
}

double bns_align_loss(const bns_layer *l, const float *y, int64_t batch, const float *t_mean,
                      const float *t_var, double weight, float *dy) {
    const int64_t C = l->channels, S = l->spatial;
    if (l->live == 0 || batch < 1) return 0.0;
    const double m = (double)batch * (double)S, w = weight / (double)l->live;
    double loss = 0.0;
    for (int64_t c = 0; c < C; c++) {
        if (!live(l, c)) continue;
        /* Two passes over the channel: its mean first, then the centred sum of squares,
         * so a large mean does not cancel the variance away in float. */
        double s1 = 0.0;
        for (int64_t n = 0; n < batch; n++) {
            const float *p = y + (n * C + c) * S;
            for (int64_t i = 0; i < S; i++) s1 += p[i];
        }
        const double my = s1 / m;
        double s2 = 0.0;
        for (int64_t n = 0; n < batch; n++) {
            const float *p = y + (n * C + c) * S;
            for (int64_t i = 0; i < S; i++) s2 += (p[i] - my) * (p[i] - my);
        }
        const double a = l->a[c], vy = s2 / m;
        const double em = (my - l->beta[c]) / a + l->mean[c] - t_mean[c];
        const double ev = vy / (a * a) - t_var[c];
        loss += w * (em * em + ev * ev);
        if (!dy) continue;
        /* d/dy_i of em^2: 2 em / (a m); of ev^2: 2 ev * 2 (y_i - my) / (a^2 m). */
        const double g_mean = w * 2.0 * em / (a * m), g_var = w * 4.0 * ev / (a * a * m);
        for (int64_t n = 0; n < batch; n++) {
            const float *p = y + (n * C + c) * S;
            float *d = dy + (n * C + c) * S;
            for (int64_t i = 0; i < S; i++) d[i] += (float)(g_mean + g_var * (p[i] - my));
        }
    }
    return loss;
}

int64_t bns_argmax(const float *z, int64_t n) {
    int64_t arg = 0;
    for (int64_t k = 1; k < n; k++)
        if (z[k] > z[arg]) arg = k;
    return arg;
}

double bns_cross_entropy(const float *logits, int64_t batch, int64_t classes,
                         const int32_t *labels, double weight, float *dlogits, int64_t *correct) {
    double loss = 0.0;
    int64_t right = 0;
    for (int64_t n = 0; n < batch; n++) {
        const float *z = logits + n * classes;
        const int64_t arg = bns_argmax(z, classes);
        const double mx = z[arg];
        double sum = 0.0;
        for (int64_t k = 0; k < classes; k++) sum += exp(z[k] - mx);
        const double lse = mx + log(sum);
        loss += lse - z[labels[n]];
        right += arg == labels[n];
        if (!dlogits) continue;
        for (int64_t k = 0; k < classes; k++) {
            const double p = exp(z[k] - lse);
            dlogits[n * classes + k] += (float)(weight * (p - (k == labels[n])) / (double)batch);
        }
    }
    if (correct) *correct = right;
    return weight * loss / (double)batch;
}
