/* bns.h — batch-normalization statistics of a BN-folded model, and the losses that align
 * a batch's statistics with targets (FDDA, METHODS.md card 9; ZeroQ/GDFQ's BNS loss).
 *
 * The session folds every BatchNormalization into the Conv/Gemm before it and keeps its
 * statistics (host->bn_stats, host->bn_epsilon).  The folded layer outputs
 *     y = a (x - mean) + beta,   a = gamma / sqrt(var + eps)
 * per channel, where x is what the BN read (the unfolded layer's output).  The losses
 * are defined on x, as in the papers (a batch's per-channel mean and biased variance of
 * the BN input against the running statistics or a class's centre), so they are
 * computed from y through that map:
 *     mean_x = (mean_y - beta) / a + mean,    var_x = var_y / a^2.
 * A channel with a = 0 (gamma 0: the BN switched it off) carries no information about x
 * and is left out of every loss ("dead").
 *
 * Pure functions over plain arrays: the plugin's tests check them against central
 * differences and against statistics PyTorch printed for the unfolded model. */
#ifndef FDDA_BNS_H
#define FDDA_BNS_H

#include <stdint.h>

#include <ptq/ptq_plugin.h>

typedef struct bns_layer {
    int32_t node;            /* the Conv/Gemm the BN was folded into */
    int32_t value;           /* its output y */
    int64_t channels;        /* C */
    int64_t spatial;         /* elements per channel per sample (H * W; 1 for a Gemm) */
    float *a, *beta;         /* owned [C]: the map y = a (x - mean) + beta */
    float *mean, *var;       /* owned [C]: the BN's running statistics (of x) */
    int64_t live;            /* channels with a != 0 */
} bns_layer;

/* Every BN-folded node of the session in topological order, into *out (host->alloc'd
 * array of *n; free with bns_layers_free).  PTQ_OK with *n = 0 when there is none. */
ptq_status bns_layers_find(const ptq_host *h, ptq_session *s, bns_layer **out, int32_t *n);
void bns_layers_free(const ptq_host *h, bns_layer *l, int32_t n);

/* The first layer of the "deeper" ones the class-centre losses use, from FDDA's code:
 * floor((L + 1) / 2) - 2, clamped into [0, L - 1]. */
int32_t bns_deep_start(int32_t n_layers);

/* Accumulates the per-channel sums of y over `batch` samples (sum, sum of squares, in
 * double: the centres pool many images) for bns_moments. */
void bns_accumulate(const bns_layer *l, const float *y, int64_t batch, double *sum, double *sum2);
/* The BN-input moments (mean_x, biased var_x) of `count` elements per channel summed by
 * bns_accumulate (count = samples x spatial). */
void bns_moments(const bns_layer *l, const double *sum, const double *sum2, double count,
                 float *mean_x, float *var_x);

/* weight * [ sum_c (mean_x - t_mean)^2 + sum_c (var_x - t_var)^2 ] / live over the live
 * channels of the batch y ([batch, C, spatial]); adds d/dy into dy (may be NULL: value
 * only).  The batch's moments are its own (training-mode BN statistics). */
double bns_align_loss(const bns_layer *l, const float *y, int64_t batch, const float *t_mean,
                      const float *t_var, double weight, float *dy);

/* The index of the largest of n scores (the first on ties). */
int64_t bns_argmax(const float *z, int64_t n);

/* weight * mean over the batch of -log softmax(logits)[label]; adds d/dlogits into
 * dlogits (may be NULL).  *correct (may be NULL) counts argmax == label. */
double bns_cross_entropy(const float *logits, int64_t batch, int64_t classes,
                         const int32_t *labels, double weight, float *dlogits, int64_t *correct);

#endif
