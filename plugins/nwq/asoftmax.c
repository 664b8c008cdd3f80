/* asoftmax.c — NWQ's annealed-softmax rounding (asoftmax.h).
 *
 *   p      = softmax(a / tau)                       over the k offsets o_j = lo + j
 *   soft:  round(v) = floor(v) + E,  E = sum_j p_j o_j
 *   dE / d a_j = p_j (o_j - E) / tau
 *   hard:  round(v) = floor(v) + o_argmax(a)
 * The argmax of a does not depend on tau, so the frozen code is the limit the annealing
 * approaches. */
#include <math.h>
#include <string.h>

#include "asoftmax.h"

#define ASM_FLOOR 1e-6f

double nwq_linear(double start, double end, int64_t t, int64_t total) {
    if (total <= 1) return end;
    return start + (end - start) * (double)t / (double)(total - 1);
}

/* p = softmax(a / tau) for one element, returning E. */
static float element_soft(const float *a, float *p, int32_t k, int32_t lo, float inv_tau) {
    float m = a[0];
    for (int32_t j = 1; j < k; j++) m = fmaxf(m, a[j]);
    float z = 0.0f;
    for (int32_t j = 0; j < k; j++) z += (p[j] = expf((a[j] - m) * inv_tau));
    float e = 0.0f;
    for (int32_t j = 0; j < k; j++) e += (p[j] /= z) * (float)(lo + j);
    return e;
}

static void soft_forward(void *state, const float *v, float *out, int64_t n, int64_t index) {
    asm_soft *st = state;
    const int32_t k = st->k;
    const float inv_tau = 1.0f / st->tau;
    for (int64_t i = 0; i < n; i++) {
        const int64_t at = (index + i) * k;
        out[i] = floorf(v[i]) + element_soft(st->logits + at, st->prob + at, k, st->lo, inv_tau);
    }
}

static void soft_backward_state(void *state, const float *v, const float *grad_out, int64_t n,
                                int64_t index) {
    (void)v;
    asm_soft *st = state;
    const int32_t k = st->k;
    const float inv_tau = 1.0f / st->tau;
    for (int64_t i = 0; i < n; i++) {
        const float g = grad_out[i];
        if (g == 0.0f) continue;
        const int64_t at = (index + i) * k;
        const float *p = st->prob + at;
        float e = 0.0f;
        for (int32_t j = 0; j < k; j++) e += p[j] * (float)(st->lo + j);
        for (int32_t j = 0; j < k; j++) st->grad[at + j] += g * p[j] * ((float)(st->lo + j) - e) * inv_tau;
    }
}

static void soft_destroy(void *state) {
    asm_soft *st = state;
    if (!st) return;
    if (st->opt) st->host->optim_free(st->opt);
    st->host->free(st->logits);
    st->host->free(st->grad);
    st->host->free(st->prob);
    st->host->free(st);
}

static void hard_forward(void *state, const float *v, float *out, int64_t n, int64_t index) {
    const asm_hard *st = state;
    for (int64_t i = 0; i < n; i++) out[i] = floorf(v[i]) + (float)st->off[index + i];
}

static void hard_destroy(void *state) {
    asm_hard *st = state;
    if (!st) return;
    st->host->free(st->off);
    st->host->free(st);
}

/* No backward (straight-through d out / d v); the soft state is learned. */
const ptq_rounding asm_soft_rounding = {sizeof(ptq_rounding), "nwq.asoftmax", soft_forward, NULL,
                                        soft_destroy, soft_backward_state};
/* No backward_state: a frozen weight keeps its codes in later reconstructions. */
const ptq_rounding asm_hard_rounding = {sizeof(ptq_rounding), "nwq.asoftmax_hard", hard_forward,
                                        NULL, hard_destroy, NULL};

asm_soft *asm_soft_new(const ptq_host *h, ptq_session *s, const float *w, const float *scale,
                       int64_t channels, int64_t inner, int32_t lo, int32_t hi, double tau,
                       double lr, int64_t iterations) {
    if (lo > 0 || hi < 1 || hi - lo + 1 > 64) return NULL;
    asm_soft *st = h->alloc(sizeof *st);
    if (!st) return NULL;
    st->host = h;
    st->n = channels * inner;
    st->lo = lo;
    st->k = hi - lo + 1;
    st->tau = (float)tau;
    const size_t m = (size_t)st->n * (size_t)st->k;
    st->logits = h->alloc(m * sizeof(float));
    st->grad = h->alloc(m * sizeof(float));
    st->prob = h->alloc(m * sizeof(float));
    st->opt = h->optim_new(s, (int64_t)m, lr, PTQ_SCHEDULE_CONSTANT, iterations);
    if (!st->logits || !st->grad || !st->prob || !st->opt) {
        soft_destroy(st);
        return NULL;
    }
    /* At tau = 1, softmax(log p) = p: the soft code starts at floor(v) + frac = v. */
    const float log_floor = logf(ASM_FLOOR);
    for (int64_t c = 0; c < channels; c++)
        for (int64_t i = 0; i < inner; i++) {
            const int64_t e = c * inner + i;
            const float v = w[e] / scale[c], frac = v - floorf(v);
            float *a = st->logits + e * st->k;
            for (int32_t j = 0; j < st->k; j++) a[j] = log_floor;
            a[-lo] = logf(fmaxf(1.0f - frac, ASM_FLOOR));
            a[1 - lo] = logf(fmaxf(frac, ASM_FLOOR));
        }
    return st;
}

int32_t asm_argmax(const asm_soft *st, int64_t i) {
    const float *a = st->logits + i * st->k;
    int32_t best = 0;
    for (int32_t j = 1; j < st->k; j++)
        if (a[j] > a[best]) best = j;
    return st->lo + best;
}

asm_hard *asm_hard_from(const ptq_host *h, const asm_soft *soft) {
    asm_hard *st = h->alloc(sizeof *st);
    if (!st) return NULL;
    st->host = h;
    st->n = soft->n;
    st->off = h->alloc((size_t)(soft->n > 0 ? soft->n : 1));
    if (!st->off) {
        hard_destroy(st);
        return NULL;
    }
    for (int64_t i = 0; i < soft->n; i++) st->off[i] = (int8_t)asm_argmax(soft, i);
    return st;
}
