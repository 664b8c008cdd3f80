/* rounding.c — AdaRound's soft and hard rounding functions (see rounding.h).
 *
 *   h(V)   = clamp(sigmoid(V) (zeta - gamma) + gamma, 0, 1)     zeta 1.1, gamma -0.1
 *   soft:  round(v) = floor(v) + h(V)
 *   hard:  round(v) = floor(v) + [V >= 0]
 * The stretch beyond [0, 1] lets h reach exactly 0 or 1 with a finite V, where its
 * gradient then vanishes: a decided element stays decided. */
#include <math.h>
#include <string.h>

#include "rounding.h"

float ada_h(float v) {
    const float h = (ADA_ZETA - ADA_GAMMA) / (1.0f + expf(-v)) + ADA_GAMMA;
    return h < 0.0f ? 0.0f : (h > 1.0f ? 1.0f : h);
}

/* h and dh/dV together, from one exp. */
static void h_and_dh(float v, float *h, float *dh) {
    const float sg = 1.0f / (1.0f + expf(-v));
    const float x = (ADA_ZETA - ADA_GAMMA) * sg + ADA_GAMMA;
    *h = x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
    *dh = x <= 0.0f || x >= 1.0f ? 0.0f : (ADA_ZETA - ADA_GAMMA) * sg * (1.0f - sg);
}

static void soft_forward(void *state, const float *v, float *out, int64_t n, int64_t index) {
    ada_soft *st = state;
    for (int64_t i = 0; i < n; i++) {
        h_and_dh(st->V[index + i], &st->h[index + i], &st->dh[index + i]);
        out[i] = floorf(v[i]) + st->h[index + i];
    }
}

static void soft_backward_state(void *state, const float *v, const float *grad_out, int64_t n,
                                int64_t index) {
    ada_soft *st = state;
    for (int64_t i = 0; i < n; i++) st->grad[index + i] += grad_out[i] * st->dh[index + i];
}

static void soft_destroy(void *state) {
    ada_soft *st = state;
    if (!st) return;
    if (st->opt) st->host->optim_free(st->opt);
    st->host->free(st->V);
    st->host->free(st->grad);
    st->host->free(st->h);
    st->host->free(st->dh);
    st->host->free(st);
}

static void hard_forward(void *state, const float *v, float *out, int64_t n, int64_t index) {
    const ada_hard *st = state;
    for (int64_t i = 0; i < n; i++) out[i] = floorf(v[i]) + (float)st->up[index + i];
}

static void hard_destroy(void *state) {
    ada_hard *st = state;
    if (!st) return;
    st->host->free(st->up);
    st->host->free(st);
}

/* backward (d out / d v) stays NULL: straight-through, and weights are not learned. */
const ptq_rounding ada_soft_rounding = {sizeof(ptq_rounding), "adaround.soft", soft_forward,
                                        NULL, soft_destroy, soft_backward_state};
/* No backward_state: a hardened weight keeps its value in later reconstructions. */
const ptq_rounding ada_hard_rounding = {sizeof(ptq_rounding), "adaround.hard", hard_forward,
                                        NULL, hard_destroy, NULL};

ada_soft *ada_soft_new(const ptq_host *h, ptq_session *s, const float *w, const float *scale,
                       int64_t channels, int64_t inner, double lr, int64_t iterations) {
    ada_soft *st = h->alloc(sizeof *st);
    if (!st) return NULL;
    st->host = h;
    st->n = channels * inner;
    st->V = h->alloc((size_t)st->n * sizeof(float));
    st->grad = h->alloc((size_t)st->n * sizeof(float));
    st->h = h->alloc((size_t)st->n * sizeof(float));
    st->dh = h->alloc((size_t)st->n * sizeof(float));
    st->opt = h->optim_new(s, st->n, lr, PTQ_SCHEDULE_CONSTANT, iterations);
    if (!st->V || !st->grad || !st->h || !st->dh || !st->opt) {
        soft_destroy(st);
        return NULL;
    }
    for (int64_t c = 0; c < channels; c++)
        for (int64_t i = 0; i < inner; i++) {
            const float v = w[c * inner + i] / scale[c];
            const float frac = v - floorf(v);
            /* sigmoid(V) = (frac - gamma) / (zeta - gamma): frac in [0, 1) keeps the
             * ratio inside (1/12, 11/12), so V is finite. */
            st->V[c * inner + i] = -logf((ADA_ZETA - ADA_GAMMA) / (frac - ADA_GAMMA) - 1.0f);
        }
    return st;
}

ada_hard *ada_hard_from(const ptq_host *h, const ada_soft *soft) {
    ada_hard *st = h->alloc(sizeof *st);
    if (!st) return NULL;
    st->host = h;
    st->n = soft->n;
    st->up = h->alloc((size_t)(soft->n > 0 ? soft->n : 1));
    if (!st->up) {
        hard_destroy(st);
        return NULL;
    }
    for (int64_t i = 0; i < soft->n; i++) st->up[i] = soft->V[i] >= 0.0f;
    return st;
}

double ada_regularize(ada_soft *st, double beta, double lambda) {
    /* Uses h and dh/dV of this step's forward (V has not moved since).  Blocks of a
     * fixed size are summed in order, so the value does not depend on the threads. */
    enum { BLOCK = 4096 };
    const int64_t blocks = (st->n + BLOCK - 1) / BLOCK;
    double sums[256];
    double reg = 0.0;
    const float b = (float)beta, lam = (float)lambda;
    for (int64_t b0 = 0; b0 < blocks; b0 += 256) {
        const int64_t nb = blocks - b0 < 256 ? blocks - b0 : 256;
#pragma omp parallel for schedule(static) if (st->n > 2 * BLOCK)
        for (int64_t k = 0; k < nb; k++) {
            const int64_t lo = (b0 + k) * BLOCK, hi = lo + BLOCK < st->n ? lo + BLOCK : st->n;
            double part = 0.0;
            for (int64_t i = lo; i < hi; i++) {
                const float x = 2.0f * st->h[i] - 1.0f, ax = fabsf(x);
                /* |x|^(beta - 1) by exp/log: x is in [-1, 1], 0 only at h = 1/2 */
                const float pw = ax > 0.0f ? expf((b - 1.0f) * logf(ax)) : 0.0f;
                part += 1.0 - (double)(pw * ax);
                /* d/dV (1 - |2h - 1|^beta) = -beta |2h - 1|^(beta - 1) sign(2h - 1) 2 dh/dV */
                st->grad[i] += lam * (-b * pw * (x < 0.0f ? -1.0f : 1.0f) * 2.0f * st->dh[i]);
            }
            sums[k] = part;
        }
        for (int64_t k = 0; k < nb; k++) reg += sums[k];
    }
    return lambda * reg;
}

double ada_beta_at(double beta_start, double beta_end, double warmup, int32_t anneal, int64_t t,
                   int64_t total) {
    const double warm = warmup * (double)total;
    if ((double)t < warm) return beta_start;
    const double rel = ((double)t - warm) / fmax((double)total - warm, 1.0);
    const double f = anneal == 1 ? 0.5 * (1.0 + cos(3.14159265358979323846 * rel)) : 1.0 - rel;
    return beta_end + (beta_start - beta_end) * fmax(f, 0.0);
}
