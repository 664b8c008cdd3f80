/* probe.h — what ModCap measures by running the model: a short reconstruction of the
 * base method over a grouping (the data-dependent capacity, and the loss along depth
 * before and after merging), and the reconstruction loss at every module's output. */
#ifndef MODCAP_PROBE_H
#define MODCAP_PROBE_H

#include "modules.h"

typedef struct mc_probe_cfg {
    int64_t iterations;      /* per unit */
    int64_t batch;
    int64_t images;          /* calibration images the engine caches (0: all) */
    double drop_prob;        /* QDrop's 0.5; 0 is BRECQ's quantized-activation form */
    double reg_weight;       /* AdaRound's lambda */
    int64_t depth_images;    /* images the loss along depth is measured on */
} mc_probe_cfg;

/* The loss at each module's output: err[m] is L_rec of the quantized model against the
 * float one (mean over images and positions of the sum over channels of the squared
 * difference), power[m] the same sum of the float values squared. */
typedef struct mc_depth {
    double *err, *power;
} mc_depth;

/* Reconstructs the units that `group` (one per module, 0, 1, ... along depth) makes, in
 * order, each with AdaRound's soft rounding through the engine as BRECQ/QDrop do
 * (activations quantized, drop_prob, no activation-step learning), keeping each unit's
 * final loss in unit_loss[g] (NaN for a unit without weights); then measures the loss
 * along depth into *depth (if non-NULL); then puts round-to-nearest back on every weight
 * it learned, so the session is as it was.  *seconds gets the time taken. */
ptq_status mc_probe(const ptq_host *h, ptq_session *s, const mc_modules *mods, const int32_t *group,
                    int32_t n_groups, const mc_probe_cfg *cfg, double *unit_loss, mc_depth *depth,
                    double *seconds);

/* The loss along depth of the quantized model as it stands, on the first `images`
 * calibration images. */
ptq_status mc_measure_depth(const ptq_host *h, ptq_session *s, const mc_modules *mods,
                            int64_t images, mc_depth *depth);

#endif
