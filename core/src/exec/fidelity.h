/* fidelity.h — the running sums behind ptq_fidelity_evaluate (ptq.h), open to the tests.
 *
 * One output's metrics are built in two steps: ptq_fidelity_accumulate adds a block of
 * samples (each sample's sums in element order, then added to the totals in sample
 * order: the same numbers whatever the batch split), ptq_fidelity_finish turns the sums
 * into the metrics.  Conventions where a metric has no value:
 *   - SQNR: +inf when the outputs are identical (no noise), -inf when the reference is
 *     all zeros and the model's is not, NaN when no finite element was compared.
 *   - cosine (whole output and per sample): 1 when both vectors are zero, 0 when exactly
 *     one is; a sample with no finite element pair counts as cosine 0.
 *   - top-1 (class outputs): the first largest score, NaN scores ignored (+inf is the
 *     largest); a sample agrees when both models pick the same class and neither row is
 *     all NaN. */
#ifndef PTQ_FIDELITY_H
#define PTQ_FIDELITY_H

#include "internal.h"

/* Starts output o (name copied; NULL name allowed) with the reference's value shape;
 * classes when it is a class-score output (rank 2 [N, K], K >= 2).  false: no memory. */
bool ptq_fidelity_output_init(ptq_fidelity_output *o, const char *name, int32_t ndim,
                              const int64_t *ne);
/* Adds `samples` samples of `per_sample` floats each: ref[] from the reference, model[]
 * from the model being judged. */
void ptq_fidelity_accumulate(ptq_fidelity_output *o, const float *ref, const float *model,
                             int64_t samples, int64_t per_sample);
/* Fills the metrics from the sums (may be called again after more accumulation). */
void ptq_fidelity_finish(ptq_fidelity_output *o);

/* The evaluation progress callback of ptq_set_eval_progress, when one is set. */
void ptq_eval_progress_report(const char *what, int64_t done, int64_t total);

#endif
