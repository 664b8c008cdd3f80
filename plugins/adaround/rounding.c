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

/* d h / d V, 0 where the clamp is active. */
static float ada_dh(float v) {
    const float sg = 1.0f / (1.0f + expf(-v));
    const float h = (ADA_ZETA - ADA_GAMMA) * sg + ADA_GAMMA;
    return h <= 0.0f || h >= 1.0f ? 0.0f : (ADA_ZETA - ADA_GAMMA) * sg * (1.0f - sg);
}

static void soft_forward(void *state, const float *v, float *out, int64_t n, int64_t index) {
    const ada_soft *st = state;
    for (int64_t i = 0; i < n; i++) out[i] = floorf(v[i]) + ada_h(st->V[index + i]);
}

static void soft_backward_state(void *state, const float *v, const float *grad_out, int64_t n,
                                int64_t index) {
    ada_soft *st = state;
    for (int64_t i = 0; i < n; i++) st->grad[index + i] += grad_out[i] * ada_dh(st->V[index + i]);
}

static void soft_destroy(void *state) {
    ada_soft *st = state;
    if (!st) return;
    if (st->opt) st->host->optim_free(st->opt);
    st->host->free(st->V);
    st->host->free(st->grad);
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
    st->opt = h->optim_new(s, st->n, lr, PTQ_SCHEDULE_CONSTANT, iterations);
    if (!st->V || !st->grad || !st->opt) {
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
    double reg = 0.0;
    const float b = (float)beta, lam = (float)lambda;
    for (int64_t i = 0; i < st->n; i++) {
        const float v = st->V[i], h = ada_h(v);
        const float x = 2.0f * h - 1.0f, ax = fabsf(x);
        const float pw = ax > 0.0f ? powf(ax, b - 1.0f) : 0.0f;
        reg += 1.0 - (double)(pw * ax);
        /* d/dV (1 - |2h - 1|^beta) = -beta |2h - 1|^(beta - 1) sign(2h - 1) 2 dh/dV */
        const float g = -b * pw * (x < 0.0f ? -1.0f : 1.0f) * 2.0f * ada_dh(v);
        st->grad[i] += lam * g;
    }
    return lambda * reg;
}
