/* rounding.h — AdaRound's rounding functions (METHODS.md 0.4): the learned soft
 * rounding (rectified sigmoid of V) used while a unit is optimised, and the hard
 * rounding (one bit per weight) it is frozen into. */
#ifndef ADAROUND_ROUNDING_H
#define ADAROUND_ROUNDING_H

#include <ptq/ptq_plugin.h>

#define ADA_ZETA 1.1f
#define ADA_GAMMA -0.1f

/* State of one weight tensor during optimisation. */
typedef struct ada_soft {
    const ptq_host *host;
    int64_t n;
    float *V;        /* learned, one per weight element */
    float *grad;     /* d loss / d V, accumulated by backward_state and the regulariser */
    float *h, *dh;   /* h(V) and d h / d V as of the last forward (V changes only in the
                        step after it): one exp per element per step instead of four */
    ptq_optim *opt;  /* Adam on V */
} ada_soft;

/* State once hardened: up[i] = 1 rounds element i up (floor + 1), 0 down. */
typedef struct ada_hard {
    const ptq_host *host;
    int64_t n;
    uint8_t *up;
} ada_hard;

extern const ptq_rounding ada_soft_rounding;
extern const ptq_rounding ada_hard_rounding;

/* A soft state with h(V) = frac(w / s), so optimisation starts from the float weight.
 * w and scale give v = w / scale per element (scale per channel: channels x inner). */
ada_soft *ada_soft_new(const ptq_host *h, ptq_session *s, const float *w, const float *scale,
                       int64_t channels, int64_t inner, double lr, int64_t iterations);
/* The hard state: up = V >= 0. */
ada_hard *ada_hard_from(const ptq_host *h, const ada_soft *soft);

/* h(V), the rectified sigmoid. */
float ada_h(float v);
/* Adds lambda * d f_reg / d V to st->grad and returns lambda * f_reg, with
 * f_reg = sum 1 - |2 h(V) - 1|^beta. */
double ada_regularize(ada_soft *st, double beta, double lambda);

/* beta at step t of total: beta_start through the warm-up (a fraction of the steps),
 * then annealed to beta_end, linearly (anneal 0, BRECQ/QDrop) or by a cosine (1, AIMET). */
double ada_beta_at(double beta_start, double beta_end, double warmup, int32_t anneal, int64_t t,
                   int64_t total);

#endif
