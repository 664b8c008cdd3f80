/* optim.h — Adam with PyTorch's semantics and the learning-rate schedules the
 * reconstruction engine and the plugins share. */
#ifndef PTQ_OPTIM_H
#define PTQ_OPTIM_H

#include "internal.h"
#include "ptq/ptq_plugin.h"

/* Schedules: PTQ_SCHEDULE_CONSTANT, _COSINE, _LINEAR (ptq_plugin.h). */

typedef struct ptq_adam {
    int64_t n;
    double lr, beta1, beta2, eps;
    int32_t schedule;
    int64_t total;  /* T of the schedule */
    int64_t t;      /* steps taken */
    float *m, *v;   /* owned, n each */
} ptq_adam;

/* torch.optim.Adam(lr, betas=(0.9, 0.999), eps=1e-8), weight decay 0.  NULL on OOM. */
ptq_adam *ptq_adam_new(int64_t n, double lr, int32_t schedule, int64_t total);
void ptq_adam_free(ptq_adam *a);
/* The learning rate of step t (0-based) under the schedule. */
double ptq_schedule_lr(double lr, int32_t schedule, int64_t t, int64_t total);
/* One step: param -= lr_t * m_hat / (sqrt(v_hat) + eps), as torch computes it. */
void ptq_adam_step(ptq_adam *a, float *param, const float *grad);

#endif
