/* unit.h — one reconstruction unit under AdaRound's soft rounding: installing it on the
 * unit's weights, the engine's step hook (regulariser, then Adam on V), freezing it
 * into the hard rounding, or putting round-to-nearest back after a failure.  The
 * adaround plugin runs its units through it; modcap's data-dependent probe (a short
 * BRECQ/QDrop pass) compiles it in too, so both learn the same rounding. */
#ifndef ADAROUND_UNIT_H
#define ADAROUND_UNIT_H

#include <ptq/ptq_plugin.h>

#include "rounding.h"

/* The rounding's optimisation settings (METHODS.md 0.4). */
typedef struct ada_schedule {
    int64_t iterations;
    double lr;               /* Adam on V */
    double reg_weight;       /* lambda */
    double beta_start, beta_end, warmup;
    int32_t anneal;          /* 0 linear, 1 cosine */
} ada_schedule;

/* One weight of the unit being optimised. */
typedef struct ada_unit_weight {
    int32_t quantizer;
    ada_soft *soft;          /* owned by the quantizer once installed */
} ada_unit_weight;

typedef struct ada_unit {
    const ptq_host *h;
    ptq_session *s;
    const ada_schedule *sched;
    ada_unit_weight *w;      /* room for one per node of the unit */
    int32_t n_w;
} ada_unit;

/* Installs soft rounding on the quantized weights among nodes[0..k) (u->n_w counts them);
 * on failure the caller restores nearest with ada_unit_restore. */
ptq_status ada_unit_install(ada_unit *u, const int32_t *nodes, int32_t k);
/* ptq_recon_options.step: the regulariser (off during the warm-up) and Adam on V;
 * user is the ada_unit. */
double ada_unit_step(void *user, int64_t t, int64_t total);
/* Replaces the soft rounding by the hard one (V >= 0 rounds up); adds to *flipped the
 * elements that now round away from nearest and to *total the elements. */
ptq_status ada_unit_harden(ada_unit *u, int64_t *flipped, int64_t *total);
/* Round-to-nearest back on the unit's weights. */
void ada_unit_restore(ada_unit *u);

/* One unit's learned rounding from start to end: installs the soft rounding on the
 * quantized weights among nodes[0..k), runs the engine with o (this function sets its
 * nodes, user and step) into r, and freezes the result, counting into *flipped and
 * *total as ada_unit_harden does.  A unit without a quantized weight runs nothing
 * (u->n_w is 0 after).  On a failure before the freeze, round-to-nearest is back. */
ptq_status ada_unit_reconstruct(ada_unit *u, const int32_t *nodes, int32_t k, ptq_recon_options *o,
                                ptq_recon_result *r, int64_t *flipped, int64_t *total);

#endif
