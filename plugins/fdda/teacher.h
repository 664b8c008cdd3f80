/* teacher.h — the float model as FDDA's teacher: per-class BN-statistic centres from the
 * real labelled images, and one loss evaluation of a synthetic batch with the gradient
 * of that loss with respect to the batch's pixels (SDK 0.8's differentiable run).
 *
 * The losses (METHODS.md card 9, the paper's weights as the pass's defaults):
 *   a mixed batch (labels of every class):  ce_w * CE + bns_w * mean_l BNS_l(running stats)
 *   a pure batch (one class c):             ce_w * CE + c_w * mean_{l >= l0} BNS_l(centre_c)
 *                                                     + d_w * mean_{l >= l0} BNS_l(centre_c + noise)
 * where BNS_l is bns_align_loss (the batch's BN-input mean and variance against the
 * targets) and the noise N(0, noise_mean^2) on the means, N(0, noise_var^2) on the
 * variances is drawn afresh for every pure batch. */
#ifndef FDDA_TEACHER_H
#define FDDA_TEACHER_H

#include "bns.h"

typedef struct teacher_weights {
    double ce, bns, c_bns, d_bns;  /* the four loss weights */
    double noise_mean, noise_var;  /* D-BNS: std of the noise on the centres' means, vars */
    int32_t all_layers;            /* 1: C-/D-BNS on every BN layer, not the deeper half */
} teacher_weights;

/* The parts of one evaluation, weighted as they enter the loss. */
typedef struct teacher_loss {
    double ce, bns, c_bns, d_bns;
    int64_t correct;               /* argmax == label in the batch */
} teacher_loss;

typedef struct teacher {
    const ptq_host *h;
    ptq_session *s;
    int32_t input, logits;         /* graph values */
    int64_t channels, height, width, sample; /* the input's C, H, W and C*H*W */
    int64_t classes;               /* the logits' width */
    bns_layer *layers;
    int32_t n_layers, deep_start;
    float **centre_mean, **centre_var; /* per layer: [classes, C] from the real images */
    int64_t *real_count;           /* per class: real images */
    int64_t *real_correct;         /* per class: the teacher's right answers on them */
    float *noisy_mean, *noisy_var; /* scratch: one layer's D-BNS targets */
    ptq_grad_run *run;
    int64_t max_batch;
    teacher_weights w;
} teacher;

/* Finds the model's input, logits and BN layers, plans the differentiable run for
 * batches up to max_batch and computes every class's centres from the calibration
 * images and labels.  Errors (named through h->error): no BN statistics, logits that are
 * not [N, classes], labels out of range, a class without a real image. */
ptq_status teacher_init(teacher *t, const ptq_host *h, ptq_session *s, int64_t max_batch,
                        const teacher_weights *w);
void teacher_free(teacher *t);

/* The loss of `batch` images (batch x sample floats, normalized model input) with their
 * labels; pure_class >= 0 makes it a pure batch of that class, -1 a mixed one.  Writes
 * d loss / d images into grad (may be NULL: no backward).  Returns the total (NaN or
 * inf when non-finite: the caller stops). */
double teacher_eval(teacher *t, const float *images, const int32_t *labels, int64_t batch,
                    int32_t pure_class, float *grad, teacher_loss *parts);

/* A standard normal draw from the session's random stream (Box-Muller). */
double teacher_normal(const ptq_host *h, ptq_session *s);

#endif
