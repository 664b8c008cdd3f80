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

/* Names of ada_schedule.anneal (linear, cosine), for parameter tables. */
extern const char *const ada_anneal_names[];

/* The parameter-table rows of AdaRound's schedule and of QDrop's settings, for the passes
 * that run AdaRound's rounding unit by unit (adaround, aquant): the same names mean the
 * same in each.  T is the pass's params struct, with an ada_schedule `sched`, int64_t
 * `batch` and `images`, double `drop_prob` and `act_lr`, int32_t `act_grad_scale`. */
#define ADA_SCHEDULE_PARAM_DEFS(T)                                                           \
    {"iterations", PTQ_PARAM_INT, 0, offsetof(T, sched.iterations), 1, 1e7, 20000, NULL, NULL,  \
     "optimisation steps per unit"},                                                         \
    {"lr", PTQ_PARAM_FLOAT, 0, offsetof(T, sched.lr), 0, 10, 1e-3, NULL, NULL,                 \
     "Adam learning rate of V"},                                                             \
    {"reg_weight", PTQ_PARAM_FLOAT, 0, offsetof(T, sched.reg_weight), 0, 1e3, 0.01, NULL, NULL, \
     "lambda: weight of the rounding regulariser (0.1 is the cards' value for MobileNetV2)"}, \
    {"beta_start", PTQ_PARAM_FLOAT, 0, offsetof(T, sched.beta_start), 1, 1e3, 20, NULL, NULL,  \
     "regulariser exponent at the end of the warm-up"},                                      \
    {"beta_end", PTQ_PARAM_FLOAT, 0, offsetof(T, sched.beta_end), 1, 1e3, 2, NULL, NULL,       \
     "regulariser exponent at the last step"},                                               \
    {"warmup", PTQ_PARAM_FLOAT, 0, offsetof(T, sched.warmup), 0, 0.99, 0.2, NULL, NULL,        \
     "fraction of the steps without the regulariser"},                                       \
    {"anneal", PTQ_PARAM_ENUM, 0, offsetof(T, sched.anneal), 0, 0, 0, NULL, ada_anneal_names,  \
     "beta schedule: linear (BRECQ/QDrop code) or cosine (AIMET)"}

#define ADA_QDROP_PARAM_DEFS(T)                                                              \
    {"batch", PTQ_PARAM_INT, 0, offsetof(T, batch), 1, 4096, 32, NULL, NULL,                   \
     "calibration samples per step"},                                                        \
    {"images", PTQ_PARAM_INT, 0, offsetof(T, images), 0, 1 << 24, 0, NULL, NULL,               \
     "calibration images to reconstruct on (0 = all)"},                                      \
    {"drop_prob", PTQ_PARAM_FLOAT, 0, offsetof(T, drop_prob), 0, 0.99, 0, NULL, NULL,          \
     "QDrop: probability that an activation element keeps its float value during "          \
     "optimisation (0.5 in QDrop; 0 = off)"},                                                \
    {"act_lr", PTQ_PARAM_FLOAT, 0, offsetof(T, act_lr), 0, 1, 0, NULL, NULL,                   \
     "learn the unit's activation steps with V at this Adam rate, cosine to 0 (QDrop: "     \
     "4e-5; 0 = off)"},                                                                      \
    {"act_grad_scale", PTQ_PARAM_BOOL, 0, offsetof(T, act_grad_scale), 0, 1, 0, NULL, NULL,    \
     "LSQ gradient scaling 1/sqrt(numel * qmax) of activation steps (QDrop: true)"}

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
