/* border.h — AQuant's learned activation rounding (METHODS.md card 7): v = x / s rounds up
 * from floor(v) when its fraction reaches a border B[c][k] of its channel c and integer
 * bin k, instead of 0.5.  This is the rounding function installed on an activation
 * quantizer while the unit reading it is reconstructed; once learned, the borders are
 * frozen into the quantizer as a table (host->quantizer_set_borders), which the
 * executor, the report and the QDQ export run natively.
 *
 * Parameterisation ("border"):
 *   table   one learned border per (channel, bin), initialised to 0.5;
 *   linear  B[c][k] = a_c + b_c * u_k with u_k = k / (bins - 1) - 1/2, a = 0.5, b = 0:
 *           two numbers per channel, a border that moves with the activation's value.
 * Relaxation of the step 1[frac > B] while learning ("relaxation"):
 *   ste      the forward is the hard step (what deployment computes); d r / d B = -1 for
 *            every element of the bin: the exact derivative of the expected rounding when
 *            fractions are uniform in the bin;
 *   sigmoid  r = floor(v) + sigmoid((frac - B) / T), T annealed geometrically from
 *            tau_start to tau_end; d r / d B = -sigmoid'(.) / T, so the elements near the
 *            border, the ones a move of B flips, carry the gradient.
 * d r / d v is straight-through (1) in both, as for round-to-nearest, so the engine's
 * activation-step (LSQ) gradient is unchanged. */
#ifndef AQUANT_BORDER_H
#define AQUANT_BORDER_H

#include <stdbool.h>

#include <ptq/ptq_plugin.h>

#define AQ_BORDER_TABLE 0
#define AQ_BORDER_LINEAR 1
#define AQ_RELAX_STE 0
#define AQ_RELAX_SIGMOID 1

/* How the borders of a quantizer are learned. */
typedef struct aq_border_cfg {
    int32_t form;            /* AQ_BORDER_* */
    int32_t relaxation;      /* AQ_RELAX_* */
    double lr;               /* Adam on the border parameters */
    double tau_start, tau_end;
    int64_t iterations;      /* of the unit: the schedules' T */
    int64_t batch;           /* samples per step: the size of the sigmoid's memo */
} aq_border_cfg;

/* One activation quantizer's borders while its reading unit is reconstructed. */
typedef struct aq_border {
    const ptq_host *host;
    aq_border_cfg cfg;
    int64_t channels;        /* border rows: the value's channels (axis 1), or 1 */
    int64_t plane;           /* elements per channel and sample (H * W; 1 for [N, K]) */
    int64_t value_channels;  /* the value's channel count (axis 1) */
    int64_t bins;            /* qmax - qmin */
    float z_lo;              /* zero point - qmin: bin = floor(v) + z_lo */
    float tau;               /* this step's temperature (sigmoid) */
    int64_t n_params;        /* channels * bins (table) or 2 * channels (linear) */
    float *param;            /* the learned numbers */
    float *grad;             /* d loss / d param */
    float *b;                /* the borders as of the last step, clamped to [0, 1] */
    float *gb;               /* d loss / d border, accumulated by backward_state */
    int64_t *count;          /* elements seen per border this step (for the report) */
    int64_t clamped;         /* borders that a step left outside [0, 1], summed over steps */
    ptq_optim *opt;
    /* The sigmoid relaxation's values of this step by element (batch x sample): the
     * engine's forward computes them, its backward and backward_state read them back
     * instead of calling expf twice more.  An entry counts when its generation is this
     * step's and its v is the one asked about. */
    int64_t memo_cap;
    float *memo_v, *memo_step;
    uint32_t *memo_gen;
    uint32_t gen;
} aq_border;

extern const ptq_rounding aq_border_rounding;

/* A border state for activation quantizer q of the session (its grid and value's shape
 * read through the host), every border 0.5 (round-to-nearest but for ties): a row per
 * channel (axis 1) or, without per_channel, one row shared by every channel.  NULL after
 * an error (recorded). */
aq_border *aq_border_new(const ptq_host *h, ptq_session *s, int32_t q, bool per_channel,
                         const aq_border_cfg *cfg);
/* The step hook's part: turns the accumulated border gradients into parameter gradients,
 * steps Adam, clamps the borders (counting the ones a step pushed outside [0, 1]) and
 * sets the temperature of step t + 1.  Returns 0, or NaN for a non-finite gradient. */
double aq_border_step(aq_border *b, int64_t t, int64_t total);
/* b->grad = d loss / d parameters from the accumulated d loss / d border (b->gb). */
void aq_border_param_grad(aq_border *b);
/* The borders as frozen: [channels, bins] into out, each in [0, 1]. */
void aq_border_table(const aq_border *b, float *out);
/* Borders of bin k, channel c (as frozen). */
float aq_border_at(const aq_border *b, int64_t c, int64_t k);

/* The relaxed step and its derivative with respect to the border, for f = frac(v):
 * exposed for the tests. */
float aq_relaxed_step(const aq_border *b, float f, float border, float *d_border);

#endif
