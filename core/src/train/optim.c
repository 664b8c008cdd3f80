/* optim.c — Adam and learning-rate schedules.
 *
 * PyTorch's Adam is the reference every method card quotes its learning rates for, so
 * the update follows torch.optim.Adam (non-amsgrad, no weight decay) operation for
 * operation: bias corrections applied as torch does (step size lr / bc1, denominator
 * sqrt(v) / sqrt(bc2) + eps), moments in float, the scalar factors in double.  A
 * schedule sets the learning rate of each step the way torch's LR schedulers stepped
 * once per iteration do. */
#include <math.h>

#include "optim.h"

ptq_adam *ptq_adam_new(int64_t n, double lr, int32_t schedule, int64_t total) {
    ptq_adam *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->n = n;
    a->lr = lr;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    a->schedule = schedule;
    a->total = total > 0 ? total : 1;
    a->m = ptq_calloc_array((size_t)PTQ_MAX(n, 1), sizeof *a->m);
    a->v = ptq_calloc_array((size_t)PTQ_MAX(n, 1), sizeof *a->v);
    if (!a->m || !a->v) {
        ptq_adam_free(a);
        return NULL;
    }
    return a;
}

void ptq_adam_free(ptq_adam *a) {
    if (!a) return;
    free(a->m);
    free(a->v);
    free(a);
}

double ptq_schedule_lr(double lr, int32_t schedule, int64_t t, int64_t total) {
    const double f = total > 0 ? (double)t / (double)total : 0.0;
    switch (schedule) {
    case PTQ_SCHEDULE_COSINE: return lr * 0.5 * (1.0 + cos(3.14159265358979323846 * f));
    case PTQ_SCHEDULE_LINEAR: return lr * (1.0 - f);
    default: return lr;
    }
}

void ptq_adam_step(ptq_adam *a, float *param, const float *grad) {
    const double lr = ptq_schedule_lr(a->lr, a->schedule, a->t, a->total);
    a->t++;
    const double bc1 = 1.0 - pow(a->beta1, (double)a->t);
    const double bc2 = 1.0 - pow(a->beta2, (double)a->t);
    /* The factors as torch passes them: Python floats computed in double, then used on
     * float tensors. */
    const float b1 = (float)a->beta1, b2 = (float)a->beta2;
    const float a1 = (float)(1.0 - a->beta1), a2 = (float)(1.0 - a->beta2);
    const float step = (float)(lr / bc1), sqrt_bc2 = (float)sqrt(bc2);
    const float eps = (float)a->eps;
    for (int64_t i = 0; i < a->n; i++) {
        const float g = grad[i];
        a->m[i] = a->m[i] * b1 + g * a1;
        a->v[i] = a->v[i] * b2 + a2 * g * g;
        param[i] -= step * (a->m[i] / (sqrtf(a->v[i]) / sqrt_bc2 + eps));
    }
}
