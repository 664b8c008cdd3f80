/* adaround.c — the adaround plugin: learned weight rounding per layer (AdaRound, Nagel
 * et al. 2020) or per residual block (BRECQ, Li et al. 2021), with QDrop's random
 * dropping of activation quantization (Wei et al. 2022) and LSQ-style activation step
 * learning as options.  The optimisation itself is the core's reconstruction engine
 * (host->reconstruct); this file decides the units, owns the rounding variables V
 * (rounding.c), their regulariser and annealing, and freezes the result.
 *
 *   for each unit (a layer with its activation, or a block), in order:
 *       install the soft rounding on the unit's weights, V so that h(V) = frac(w / s)
 *       reconstruct: L_rec + lambda f_reg(V; beta), beta 20 -> 2 after a 20 % warm-up
 *       replace the soft rounding by the hard one (one bit per weight: V >= 0)
 *   optionally (BRECQ's second phase) for each unit again: learn activation steps only
 *
 * The hard rounding stays installed on the quantizer, so the quantized model, the
 * report and the QDQ export all use the learned codes.  METHODS.md cards 1-3 and 0.4-0.6
 * are the specification; the choices made where they leave room are in README.md. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <ptq/ptq_util.h>

#include "unit.h"

typedef struct ada_params {
    int32_t granularity;     /* 0 layer, 1 block */
    ada_schedule sched;      /* iterations, lr, reg_weight, beta schedule (unit.h) */
    int64_t batch;
    int32_t activations;     /* 0 quant, 1 float */
    double drop_prob;
    double act_lr;
    int32_t act_grad_scale;
    int64_t act_iterations;
    double act_loss_p;
    int64_t images;
    int32_t skip_first;
    int32_t act_recalibrate;
} ada_params;

/* The unit being optimised: AdaRound's state (unit.h) and the pass's settings. */
typedef struct unit_run {
    ada_unit unit;
    const ada_params *p;
} unit_run;

/* ---- units ---------------------------------------------------------------------------- */

/* unit_of[node] for every node; returns the number of units (-1 after an error).  Layer
 * granularity: each weighted layer, with the activation that alone reads its output;
 * other nodes get -1 (they are not optimised).  Block: the host's grouping. */
static int32_t find_units(const ptq_host *h, ptq_session *s, const ada_params *p, int32_t *unit_of,
                          int32_t n) {
    if (p->granularity == 1) return h->node_blocks(s, unit_of, n);
    int32_t units = 0;
    for (int32_t i = 0; i < n; i++) unit_of[i] = -1;
    for (int32_t i = 0; i < n; i++) {
        if (ptq_util_weight_quantizer(h, s, i) < 0) continue;
        unit_of[i] = units;
        ptq_node_info ni;
        int32_t readers[2];
        if (!h->node_info(s, i, &ni) && h->value_readers(s, ni.outputs[0], readers, 2) == 1) {
            ptq_node_info ai;
            if (!h->node_info(s, readers[0], &ai) && ptq_util_is_activation(ai.op)) unit_of[readers[0]] = units;
        }
        units++;
    }
    return units;
}

/* ---- one unit --------------------------------------------------------------------------- */

static ptq_status reconstruct_unit(unit_run *u, const int32_t *nodes, int32_t k, const char *label,
                                   bool act_phase, int32_t index, int32_t count) {
    ada_unit *a = &u->unit;
    const ptq_host *h = a->h;
    ptq_session *s = a->s;
    const ada_params *p = u->p;
    ptq_recon_options o = {.struct_size = sizeof o};
    o.activations = act_phase || p->activations == 0 ? PTQ_RECON_ACT_QUANT : PTQ_RECON_ACT_FLOAT;
    o.iterations = act_phase ? p->act_iterations : p->sched.iterations;
    o.batch = p->batch;
    o.images = p->images;
    o.loss_p = act_phase ? p->act_loss_p : 2.0;
    o.drop_prob = act_phase || p->activations != 0 ? 0.0 : p->drop_prob;
    o.act_lr = act_phase || p->activations == 0 ? p->act_lr : 0.0;
    o.act_grad_scale = p->act_grad_scale;
    o.label = label;
    o.unit_index = index; /* SDK 0.4: "unit 3 of 11" in the progress line */
    o.unit_count = count;
    ptq_recon_result r = {.struct_size = sizeof r};
    int64_t flipped = 0, total = 0;
    ptq_status st;
    if (act_phase) { /* the activation steps alone: no rounding to learn */
        o.nodes = nodes;
        o.n_nodes = k;
        st = h->reconstruct(s, &o, &r);
    } else {
        st = ada_unit_reconstruct(a, nodes, k, &o, &r, &flipped, &total);
        if (!st && a->n_w == 0) return PTQ_OK;
    }
    if (st) return st;
    const char *cols[] = {"phase", "weights", "loss_first", "loss_last", "reg_last", "flipped_pct",
                          "seconds", "peak_mb"};
    const double vals[] = {act_phase ? 2 : 1, r.n_weights, r.loss_first, r.loss_last, r.extra_last,
                           total ? 100.0 * (double)flipped / (double)total : 0.0, r.seconds,
                           (double)r.peak_bytes / 1048576.0};
    h->report_row(s, "units", label, cols, vals, 8);
    h->log(s, PTQ_LOG_INFO, "%s%s: loss %.4g -> %.4g, %.1f%% rounded away from nearest, %.1f s, %.0f MB",
           act_phase ? "activation steps " : "", label, r.loss_first, r.loss_last,
           total ? 100.0 * (double)flipped / (double)total : 0.0, r.seconds,
           (double)r.peak_bytes / 1048576.0);
    return PTQ_OK;
}

static ptq_status ada_reconstruct(const ptq_host *h, ptq_session *s, const void *params) {
    const ada_params *p = params;
    if (p->drop_prob > 0.0 && p->activations != 0)
        return h->error(s, PTQ_ERR_INVALID, "adaround: drop_prob needs activations: quant");
    if (p->act_recalibrate && !PTQ_HOST_HAS(h, activations_calibrate))
        return h->error(s, PTQ_ERR_UNSUPPORTED, "adaround: act_recalibrate needs a host with SDK 0.5");
    if (p->act_iterations > 0 && p->act_lr <= 0.0)
        return h->error(s, PTQ_ERR_INVALID, "adaround: act_iterations needs act_lr > 0 (BRECQ: 4e-5)");
    const int32_t n = h->node_count(s);
    int32_t *unit_of = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *unit_of);
    int32_t *nodes = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *nodes);
    ada_unit_weight *w = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *w);
    if (!unit_of || !nodes || !w) {
        h->free(unit_of), h->free(nodes), h->free(w);
        return h->error(s, PTQ_ERR_NOMEM, "adaround: out of memory");
    }
    ptq_status st = PTQ_OK;
    const int32_t units = find_units(h, s, p, unit_of, n);
    if (units < 0) st = PTQ_ERR_INVALID;
    unit_run u = {{h, s, &p->sched, w, 0}, p};
    /* Two walks over the units: the first only counts what will be reconstructed, so the
     * progress line can say "unit k of N". */
    int32_t count[2] = {0, 0};
    for (int32_t walk = 0; walk < 2 && !st; walk++) {
        int32_t done[2] = {0, 0};
        for (int32_t phase = 0; phase < 2 && !st; phase++) {
            /* BRECQ's order: activation ranges observed again once the weights are learned,
             * on the quantized model (each quantizer after the ones before it). */
            if (phase == 1 && walk == 1 && p->act_recalibrate) {
                h->log(s, PTQ_LOG_INFO, "activation ranges observed again on the model with the "
                       "learned weights");
                st = h->activations_calibrate(s, PTQ_MODEL_QUANT, 0);
                if (st) break;
            }
            if (phase == 1 && p->act_iterations == 0) break;
            bool first = true;
            for (int32_t unit = 0; unit < units && !st; unit++) {
                int32_t k = 0;
                for (int32_t i = 0; i < n; i++)
                    if (unit_of[i] == unit) nodes[k++] = i;
                if (k == 0) continue;
                bool has_weight = false;
                for (int32_t i = 0; i < k; i++) has_weight |= ptq_util_weight_quantizer(h, s, nodes[i]) >= 0;
                if (!has_weight) continue;
                /* BRECQ leaves the first layer at round-to-nearest, in both phases. */
                if (first && p->skip_first) {
                    first = false;
                    int32_t weighted = 0;
                    for (int32_t i = 0; i < k; i++) weighted += ptq_util_weight_quantizer(h, s, nodes[i]) >= 0;
                    if (weighted > 1) {
                        char label[256];
                        ptq_util_nodes_label(h, s, nodes, k, label, sizeof label);
                        st = h->error(s, PTQ_ERR_INVALID, "adaround: skip_first leaves the first "
                                      "layer at nearest, but the first unit '%s' has %d weighted "
                                      "layers; use granularity: layer", label, weighted);
                    }
                    continue;
                }
                first = false;
                done[phase]++;
                if (walk == 0) continue;
                char label[256];
                ptq_util_nodes_label(h, s, nodes, k, label, sizeof label);
                st = reconstruct_unit(&u, nodes, k, label, phase == 1, done[phase], count[phase]);
            }
        }
        if (walk == 0) count[0] = done[0], count[1] = done[1];
    }
    h->free(unit_of);
    h->free(nodes);
    h->free(w);
    return st;
}

/* ---- the plugin's tables ------------------------------------------------------------ */

static const char *const granularities[] = {"layer", "block", NULL};
static const char *const act_modes[] = {"quant", "float", NULL};

#define P(field) offsetof(ada_params, field)
static const ptq_param_def ada_param_defs[] = {
    {"granularity", PTQ_PARAM_ENUM, 0, P(granularity), 0, 0, 0, NULL, granularities,
     "layer: one layer (+ its activation) at a time (AdaRound); block: the session's "
     "blocks, residual blocks by default (BRECQ)"},
    ADA_SCHEDULE_PARAM_DEFS(ada_params),
    ADA_QDROP_PARAM_DEFS(ada_params),
    {"activations", PTQ_PARAM_ENUM, 0, P(activations), 0, 0, 0, NULL, act_modes,
     "quant: the unit and its inputs see quantized activations while V is learned; float: "
     "weights only (BRECQ's first phase)"},
    {"act_iterations", PTQ_PARAM_INT, 0, P(act_iterations), 0, 1e7, 0, NULL, NULL,
     "BRECQ's second phase: after every unit's rounding is fixed, learn activation steps "
     "per unit for this many steps at act_lr (0 = off)"},
    {"act_loss_p", PTQ_PARAM_FLOAT, 0, P(act_loss_p), 1, 8, 2.4, NULL, NULL,
     "exponent of the reconstruction loss in the activation phase"},
    {"act_recalibrate", PTQ_PARAM_BOOL, 0, P(act_recalibrate), 0, 1, 0, NULL, NULL,
     "before the activation phase, observe every activation range again on the model with "
     "the learned weights, each quantizer after the ones before it (BRECQ's order)"},
    {"skip_first", PTQ_PARAM_BOOL, 0, P(skip_first), 0, 1, 0, NULL, NULL,
     "leave the first layer at round-to-nearest in both phases (BRECQ's code does); with "
     "granularity: block the first unit must be that one layer"},
    {0},
};
#undef P

static const char *const ada_reads[] = {"graph.bn_folded", "quant.weights", "quant.activations",
                                        "calib.data", NULL};
/* A grouping a pass stored (ModCap) replaces the residual blocks in block mode. */
static const char *const ada_reads_optional[] = {"graph.blocks", NULL};

/* The learned rounding, and with act_lr / act_iterations the learned activation steps. */
static const char *const ada_writes[] = {"quant.rounding", "quant.activations.tuned", NULL};

static const ptq_pass_def reconstruct_pass = {
    sizeof(ptq_pass_def), "adaround.reconstruct",
    "learned weight rounding by reconstruction, per layer (AdaRound) or block (BRECQ), "
    "with QDrop and activation-step learning as options",
    ada_param_defs, sizeof(ada_params), ada_reads, ada_reads_optional, ada_writes, ada_reconstruct, NULL,
};

static const ptq_pass_def *const passes[] = {&reconstruct_pass, NULL};

static ptq_status ada_init(const ptq_host *h) {
    if (!PTQ_HOST_HAS(h, optim_free))
        return h->error(NULL, PTQ_ERR_UNSUPPORTED, "adaround needs a host with SDK 0.3 or later "
                        "(this one is %u.%u)", h->abi.major, h->abi.minor);
    return PTQ_OK;
}

static const ptq_plugin_desc desc = {
    PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT, "adaround", "0.1.0",
    "AdaRound / BRECQ / QDrop: learned weight rounding on the reconstruction engine",
    ada_init, NULL, passes,
};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
