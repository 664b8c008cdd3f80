/* asoftmax.h — NWQ's annealed-softmax rounding (METHODS.md card 4): each weight element
 * holds logits over the integer offsets lo..hi from floor(w / s), its soft code is
 * floor(w / s) + sum_k softmax(logits / tau)_k * (lo + k), tau falls during the
 * optimisation so the choice becomes one-hot, and the frozen code takes the argmax.
 * No regulariser: the temperature alone drives the decision. */
#ifndef NWQ_ASOFTMAX_H
#define NWQ_ASOFTMAX_H

#include <ptq/ptq_plugin.h>

/* Soft state of one weight tensor while it is learned. */
typedef struct asm_soft {
    const ptq_host *host;
    int64_t n;          /* weight elements */
    int32_t lo, k;      /* offsets lo .. lo + k - 1 */
    float tau;          /* temperature of the next forward */
    float *logits;      /* n x k, learned */
    float *grad;        /* n x k, d loss / d logits, accumulated by backward_state */
    float *prob;        /* n x k, softmax(logits / tau) as of the last forward */
    ptq_optim *opt;     /* Adam on the logits */
} asm_soft;

/* Frozen: code = floor(w / s) + off[i]. */
typedef struct asm_hard {
    const ptq_host *host;
    int64_t n;
    int8_t *off;
} asm_hard;

extern const ptq_rounding asm_soft_rounding;
extern const ptq_rounding asm_hard_rounding;

/* A soft state whose first soft code equals w / s: the logits are the log of AdaRound's
 * initial probabilities (1 - frac at offset 0, frac at offset 1, a floor of 1e-6
 * elsewhere), so at tau = 1 the soft weight is the float weight.  w per element, scale
 * per channel (channels x inner elements); lo <= 0 < 1 <= hi. */
asm_soft *asm_soft_new(const ptq_host *h, ptq_session *s, const float *w, const float *scale,
                       int64_t channels, int64_t inner, int32_t lo, int32_t hi, double tau,
                       double lr, int64_t iterations);
/* The frozen state: each element's most probable offset. */
asm_hard *asm_hard_from(const ptq_host *h, const asm_soft *soft);
/* Offset of element i's largest logit (ties: the smaller offset). */
int32_t asm_argmax(const asm_soft *st, int64_t i);

/* A linear schedule from start (t = 0) to end (t = total - 1): tau and the mixing
 * probability both follow it. */
double nwq_linear(double start, double end, int64_t t, int64_t total);

#endif
