/* nwq.c — the nwq plugin: network-wise quantization (NWQ, Zheng et al., NeurIPS 2022).
 * One optimisation of every weight's rounding and every activation step of the network
 * (or of a contiguous range of its units) at once, on the core's reconstruction engine:
 *
 *   install the soft rounding on every weight in range: ASoftmax (asoftmax.c), or
 *       AdaRound's rectified sigmoid with its regulariser (the ablation)
 *   reconstruct the whole range as one unit, the loss the sum of L_rec at the
 *       checkpoints (activation regularisation, AR): the host's unit outputs, or every
 *       weighted layer's output, plus an optional logits term;
 *       tau linear 1 -> 0.01, AMixup's float share linear 0.5 -> 0 (the engine's
 *       per-iteration mixing probability), activation steps learned with LSQ
 *   freeze: each weight's most probable offset (ASoftmax) or V >= 0 (AdaRound)
 *
 * With `ar: false` the same rounding and mixing run unit by unit instead (the usual
 * block reconstruction), which is the ablation's baseline.  METHODS.md card 4 is the
 * specification; README.md says what was chosen where it leaves room. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptq/ptq_util.h>

#include "../adaround/rounding.h"
#include "asoftmax.h"

#define ROUND_ASOFTMAX 0
#define ROUND_ADAROUND 1
#define MIX_AMIXUP 0
#define MIX_QDROP 1
#define MIX_NONE 2

typedef struct nwq_params {
    int64_t iterations;
    int64_t batch;
    double lr;
    int32_t rounding;
    int64_t offset_min, offset_max;
    double tau_start, tau_end;
    double reg_weight;
    int32_t mixing;
    double mix_start, mix_end;
    int32_t mix_target;
    int32_t ar;
    int32_t checkpoints;     /* 0 units, 1 layers */
    int32_t logits_loss;     /* PTQ_RECON_LOGITS_* */
    double logits_weight;
    double act_lr;
    int32_t act_grad_scale;
    int64_t images;
    const char *from, *to;
    int32_t targets;         /* PTQ_RECON_TARGETS_* */
    int64_t cache_mb;
} nwq_params;

/* One weight whose rounding the pass learns. */
typedef struct nwq_weight {
    int32_t quantizer;
    asm_soft *asm_state;     /* one of the two, owned by the quantizer once installed */
    ada_soft *ada_state;
} nwq_weight;

/* An activation quantizer's grid as the pass found it (restored after a failure). */
typedef struct saved_scale {
    int32_t quantizer;
    int64_t n;
    float *scale;
} saved_scale;

typedef struct nwq_run {
    const ptq_host *h;
    ptq_session *s;
    const nwq_params *p;
    nwq_weight *w;           /* every weight the pass touched */
    int32_t n_w, first_w;    /* weights of the current optimisation: first_w .. n_w - 1 */
    saved_scale *saved;
    int32_t n_saved;
} nwq_run;

/* ---- the engine's hooks ------------------------------------------------------------- */

/* Each iteration: the rounding's own step (Adam on the logits or V, AdaRound's
 * regulariser), then the temperature of the next forward. */
static double nwq_step(void *user, int64_t t, int64_t total) {
    nwq_run *r = user;
    const nwq_params *p = r->p;
    const double beta = ada_beta_at(20.0, 2.0, 0.2, 0, t, total);
    const bool warm = (double)t < 0.2 * (double)total;
    const float tau = (float)nwq_linear(p->tau_start, p->tau_end, t + 1, total);
    double reg = 0.0;
    for (int32_t i = r->first_w; i < r->n_w; i++) {
        nwq_weight *w = &r->w[i];
        float *param, *grad;
        int64_t m;
        if (w->asm_state) {
            asm_soft *st = w->asm_state;
            param = st->logits, grad = st->grad, m = st->n * st->k;
            st->tau = tau;
        } else {
            ada_soft *st = w->ada_state;
            if (!warm) reg += ada_regularize(st, beta, p->reg_weight);
            param = st->V, grad = st->grad, m = st->n;
        }
        /* A non-finite gradient (a NaN in the data) must stop the pass: a ReLU would
         * swallow the NaN weights it leads to, and the loss would never show it. */
        float sum = 0.0f;
        for (int64_t j = 0; j < m; j++) sum += grad[j] * 0.0f;
        if (sum != 0.0f) return NAN;
        r->h->optim_step(w->asm_state ? w->asm_state->opt : w->ada_state->opt, param, grad);
        memset(grad, 0, (size_t)m * sizeof(float));
    }
    return reg;
}

/* AMixup: the float share falls linearly from mix_start to mix_end. */
static double nwq_mix_at(void *user, int64_t t, int64_t total) {
    const nwq_run *r = user;
    return nwq_linear(r->p->mix_start, r->p->mix_end, t, total);
}

/* ---- units and checkpoints ---------------------------------------------------------- */

/* Resolves `from` / `to`: empty (the first or last unit), a 1-based unit number, or the
 * name of a node in the unit.  -1 after an error. */
static int32_t resolve_unit(const ptq_host *h, ptq_session *s, const char *spec, const char *key,
                            int32_t fallback, const int32_t *unit_of, int32_t n, int32_t units) {
    if (!spec || !*spec) return fallback;
    char *end = NULL;
    const long k = strtol(spec, &end, 10);
    if (end && *end == '\0') {
        if (k >= 1 && k <= units) return (int32_t)(k - 1);
        h->error(s, PTQ_ERR_INVALID, "%s: %s names unit %ld, but the model has units 1..%d", key, spec, k, units);
        return -1;
    }
    for (int32_t i = 0; i < n; i++) {
        const char *name = h->node_name(s, i);
        if (name && !strcmp(name, spec) && unit_of[i] >= 0) return unit_of[i];
    }
    h->error(s, PTQ_ERR_INVALID, "%s: '%s' names no unit (give a unit number 1..%d or the name of a node)",
             key, spec, units);
    return -1;
}

/* The outputs of unit u: values its nodes produce that another unit reads, or that
 * nothing reads (the graph's outputs). */
static int32_t unit_outputs(const ptq_host *h, ptq_session *s, const int32_t *unit_of, int32_t n, int32_t u,
                            int32_t *out, int32_t max) {
    int32_t k = 0;
    int32_t readers[64];
    for (int32_t i = 0; i < n; i++) {
        if (unit_of[i] != u) continue;
        ptq_node_info ni = {.struct_size = sizeof ni};
        if (h->node_info(s, i, &ni)) continue;
        for (int32_t o = 0; o < ni.n_outputs && o < 4; o++) {
            const int32_t v = ni.outputs[o];
            const int32_t m = h->value_readers(s, v, readers, 64);
            bool outside = m == 0;
            for (int32_t j = 0; j < m && j < 64; j++) outside |= unit_of[readers[j]] != u;
            if (outside && k < max) out[k++] = v;
        }
    }
    return k;
}

/* Checkpoints over units lo..hi: each unit's outputs, or each weighted layer's output
 * (after the activation that alone reads it).  Returns how many. */
static int32_t find_checkpoints(const ptq_host *h, ptq_session *s, const nwq_params *p, const int32_t *unit_of,
                                int32_t n, int32_t lo, int32_t hi, int32_t *out, int32_t max) {
    int32_t k = 0;
    if (p->checkpoints == 0) {
        for (int32_t u = lo; u <= hi; u++) k += unit_outputs(h, s, unit_of, n, u, out + k, max - k);
        return k;
    }
    for (int32_t i = 0; i < n && k < max; i++) {
        if (unit_of[i] < lo || unit_of[i] > hi || ptq_util_weight_quantizer(h, s, i) < 0) continue;
        ptq_node_info ni = {.struct_size = sizeof ni};
        if (h->node_info(s, i, &ni)) continue;
        int32_t v = ni.outputs[0], readers[2];
        if (h->value_readers(s, v, readers, 2) == 1 && unit_of[readers[0]] >= lo && unit_of[readers[0]] <= hi) {
            ptq_node_info ai = {.struct_size = sizeof ai};
            if (!h->node_info(s, readers[0], &ai) && ptq_util_is_activation(ai.op)) v = ai.outputs[0];
        }
        out[k++] = v;
    }
    return k;
}

/* ---- rounding state ------------------------------------------------------------------ */

/* Installs the soft rounding on the weights of nodes[0..k). */
static ptq_status install_soft(nwq_run *r, const int32_t *nodes, int32_t k) {
    const ptq_host *h = r->h;
    const nwq_params *p = r->p;
    r->first_w = r->n_w;
    for (int32_t i = 0; i < k; i++) {
        const int32_t q = ptq_util_weight_quantizer(h, r->s, nodes[i]);
        if (q < 0) continue;
        ptq_quant_view qv = {.struct_size = sizeof qv};
        ptq_tensor_view wv = {.struct_size = sizeof wv};
        ptq_status st = h->quantizer_view(r->s, q, &qv);
        if (!st) st = h->value_view(r->s, qv.value, &wv);
        if (st) return st;
        if (qv.axis > 0 && qv.n > 1)
            return h->error(r->s, PTQ_ERR_UNSUPPORTED, "weight '%s' has per-channel scales on axis %d; only "
                            "axis 0 (Conv, Gemm with transB) is supported", h->value_name(r->s, qv.value), qv.axis);
        int64_t numel = 1;
        for (int32_t d = 0; d < wv.ndim; d++) numel *= wv.ne[d];
        const int64_t channels = qv.n > 1 ? qv.n : 1;
        nwq_weight *w = &r->w[r->n_w];
        memset(w, 0, sizeof *w);
        w->quantizer = q;
        if (p->rounding == ROUND_ASOFTMAX) {
            w->asm_state = asm_soft_new(h, r->s, wv.data, qv.scale, channels, numel / channels,
                                        (int32_t)p->offset_min, (int32_t)p->offset_max, p->tau_start, p->lr,
                                        p->iterations);
            st = w->asm_state ? h->quantizer_set_rounding(r->s, q, &asm_soft_rounding, w->asm_state) : PTQ_ERR_NOMEM;
            if (st && w->asm_state) asm_soft_rounding.destroy(w->asm_state);
        } else {
            w->ada_state = ada_soft_new(h, r->s, wv.data, qv.scale, channels, numel / channels, p->lr,
                                        p->iterations);
            st = w->ada_state ? h->quantizer_set_rounding(r->s, q, &ada_soft_rounding, w->ada_state) : PTQ_ERR_NOMEM;
            if (st && w->ada_state) ada_soft_rounding.destroy(w->ada_state);
        }
        if (st == PTQ_ERR_NOMEM) return h->error(r->s, st, "out of memory for the rounding of '%s'",
                                                 h->value_name(r->s, qv.value));
        if (st) return st;
        r->n_w++;
    }
    return PTQ_OK;
}

/* Freezes the current weights; counts elements whose code differs from nearest. */
static ptq_status harden(nwq_run *r, int64_t *flipped, int64_t *total) {
    const ptq_host *h = r->h;
    for (int32_t i = r->first_w; i < r->n_w; i++) {
        nwq_weight *w = &r->w[i];
        ptq_quant_view qv = {.struct_size = sizeof qv};
        ptq_tensor_view wv = {.struct_size = sizeof wv};
        ptq_status st = h->quantizer_view(r->s, w->quantizer, &qv);
        if (!st) st = h->value_view(r->s, qv.value, &wv);
        if (st) return st;
        const float *wd = wv.data;
        const int64_t n = w->asm_state ? w->asm_state->n : w->ada_state->n;
        const int64_t inner = n / (qv.n > 1 ? qv.n : 1);
        void *hard = NULL;
        const ptq_rounding *rounding;
        if (w->asm_state) {
            asm_hard *a = asm_hard_from(h, w->asm_state);
            hard = a, rounding = &asm_hard_rounding;
            for (int64_t e = 0; a && e < n; e++) {
                const float v = wd[e] / qv.scale[e / inner];
                *flipped += floorf(v) + (float)a->off[e] != rintf(v);
            }
        } else {
            ada_hard *a = ada_hard_from(h, w->ada_state);
            hard = a, rounding = &ada_hard_rounding;
            for (int64_t e = 0; a && e < n; e++) {
                const float v = wd[e] / qv.scale[e / inner];
                *flipped += floorf(v) + (float)a->up[e] != rintf(v);
            }
        }
        if (!hard) return h->error(r->s, PTQ_ERR_NOMEM, "out of memory");
        *total += n;
        /* Replacing the rounding destroys the soft state. */
        st = h->quantizer_set_rounding(r->s, w->quantizer, rounding, hard);
        w->asm_state = NULL, w->ada_state = NULL;
        if (st) {
            rounding->destroy(hard);
            return st;
        }
        h->quantizer_changed(r->s, w->quantizer);
    }
    return PTQ_OK;
}

/* The model as it was before the pass: nearest rounding on every weight it touched,
 * the activation grids it found. */
static void restore(nwq_run *r) {
    for (int32_t i = 0; i < r->n_w; i++) {
        r->h->quantizer_set_rounding(r->s, r->w[i].quantizer, NULL, NULL);
        r->h->quantizer_changed(r->s, r->w[i].quantizer);
    }
    for (int32_t i = 0; i < r->n_saved; i++) {
        ptq_quant_view qv = {.struct_size = sizeof qv};
        if (r->h->quantizer_view(r->s, r->saved[i].quantizer, &qv)) continue;
        memcpy(qv.scale, r->saved[i].scale, (size_t)r->saved[i].n * sizeof(float));
        r->h->quantizer_changed(r->s, r->saved[i].quantizer);
    }
}

/* Copies every calibrated activation grid; returns how many activation quantizers
 * there are (-1 out of memory). */
static int32_t save_scales(nwq_run *r) {
    const int32_t nq = r->h->quantizer_count(r->s);
    r->saved = r->h->alloc((size_t)(nq > 0 ? nq : 1) * sizeof *r->saved);
    if (!r->saved) return -1;
    int32_t acts = 0;
    for (int32_t q = 0; q < nq; q++) {
        ptq_quant_view qv = {.struct_size = sizeof qv};
        if (r->h->quantizer_view(r->s, q, &qv) || qv.is_weight) continue;
        acts++;
        if (!qv.calibrated) continue;
        saved_scale *sv = &r->saved[r->n_saved];
        if (!(sv->scale = r->h->alloc((size_t)qv.n * sizeof(float)))) return -1;
        memcpy(sv->scale, qv.scale, (size_t)qv.n * sizeof(float));
        sv->quantizer = q, sv->n = qv.n;
        r->n_saved++;
    }
    return acts;
}

/* ---- one optimisation ----------------------------------------------------------------- */

/* Reconstructs nodes[0..k) with the current soft weights, then freezes them and reports.
 * checkpoints NULL: the unit's outputs (ar: false). */
static ptq_status optimise(nwq_run *r, const int32_t *nodes, int32_t k, const int32_t *cps, int32_t n_cps,
                           const char *label, int32_t index, int32_t count) {
    const ptq_host *h = r->h;
    ptq_session *s = r->s;
    const nwq_params *p = r->p;
    ptq_status st = install_soft(r, nodes, k);
    if (st) return st;
    if (r->n_w == r->first_w) return PTQ_OK; /* nothing learnable in this unit */
    double *cp_loss = n_cps ? h->alloc((size_t)n_cps * sizeof *cp_loss) : NULL;
    if (n_cps && !cp_loss) return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    ptq_recon_options o = {.struct_size = sizeof o};
    o.nodes = nodes;
    o.n_nodes = k;
    o.activations = PTQ_RECON_ACT_QUANT;
    o.iterations = p->iterations;
    o.batch = p->batch;
    o.images = p->images;
    o.loss_p = 2.0;
    o.drop_prob = p->mixing == MIX_QDROP ? p->mix_start : 0.0;
    o.drop_at = p->mixing == MIX_AMIXUP ? nwq_mix_at : NULL;
    o.mix_checkpoints = p->mixing != MIX_NONE && p->mix_target && cps != NULL;
    o.act_lr = p->act_lr;
    o.act_grad_scale = p->act_grad_scale;
    o.label = label;
    o.user = r;
    o.step = nwq_step;
    o.unit_index = index;
    o.unit_count = count;
    o.checkpoints = cps;
    o.n_checkpoints = n_cps;
    o.logits_loss = p->logits_loss;
    o.logits_weight = p->logits_weight;
    o.targets = p->targets;
    o.cache_limit_mb = p->cache_mb;
    o.checkpoint_loss = cp_loss;
    ptq_recon_result res = {.struct_size = sizeof res};
    st = h->reconstruct(s, &o, &res);
    int64_t flipped = 0, total = 0;
    if (!st) st = harden(r, &flipped, &total);
    if (st) {
        h->free(cp_loss);
        return st;
    }
    const double pct = total ? 100.0 * (double)flipped / (double)total : 0.0;
    const char *cols[] = {"weights", "checkpoints", "iterations", "loss_first", "loss_last", "reg_last",
                          "flipped_pct", "seconds", "seconds_per_iteration", "peak_mb", "targets_cached"};
    const double vals[] = {res.n_weights, n_cps, (double)p->iterations, res.loss_first, res.loss_last,
                           res.extra_last, pct, res.seconds, res.loop_seconds / (double)p->iterations,
                           (double)res.peak_bytes / 1048576.0, res.targets_cached};
    h->report_row(s, "units", label, cols, vals, 11);
    const char *ccols[] = {"loss_last"};
    for (int32_t i = 0; i < n_cps; i++) h->report_row(s, "checkpoints", h->value_name(s, cps[i]), ccols, &cp_loss[i], 1);
    h->log(s, PTQ_LOG_INFO, "%s: %d weights, %d checkpoints, loss %.4g -> %.4g, %.1f%% rounded away from "
           "nearest, %.1f s (%.1f ms per iteration), %.0f MB, float targets %s",
           label, res.n_weights, n_cps, res.loss_first, res.loss_last, pct, res.seconds,
           1e3 * res.loop_seconds / (double)p->iterations, (double)res.peak_bytes / 1048576.0,
           res.targets_cached ? "cached" : "computed per batch");
    h->free(cp_loss);
    return PTQ_OK;
}

static ptq_status check_params(const ptq_host *h, ptq_session *s, const nwq_params *p, int32_t activations) {
    if (p->offset_min > p->offset_max)
        return h->error(s, PTQ_ERR_INVALID, "offset_min %lld > offset_max %lld: the offsets n..m need n <= m",
                        (long long)p->offset_min, (long long)p->offset_max);
    if (p->offset_min > 0 || p->offset_max < 1)
        return h->error(s, PTQ_ERR_INVALID, "offsets %lld..%lld must include 0 and 1 (floor and ceil of w / s), so "
                        "the soft weight can start at the float weight", (long long)p->offset_min,
                        (long long)p->offset_max);
    if (p->rounding == ROUND_ADAROUND && (p->offset_min != 0 || p->offset_max != 1))
        return h->error(s, PTQ_ERR_INVALID, "rounding: adaround has offsets 0..1 only (offsets %lld..%lld)",
                        (long long)p->offset_min, (long long)p->offset_max);
    if (p->tau_end > p->tau_start)
        return h->error(s, PTQ_ERR_INVALID, "tau_end %g > tau_start %g: the temperature is annealed downwards",
                        p->tau_end, p->tau_start);
    if (p->mixing != MIX_NONE && activations == 0)
        return h->error(s, PTQ_ERR_INVALID, "mixing: %s needs activation quantization (the pipeline quantizes "
                        "no activation); use mixing: none", p->mixing == MIX_AMIXUP ? "amixup" : "qdrop");
    if (p->mix_target && p->mixing == MIX_NONE)
        return h->error(s, PTQ_ERR_INVALID, "mix_target needs mixing: amixup or qdrop");
    if (p->mix_target && !p->ar)
        return h->error(s, PTQ_ERR_INVALID, "mix_target mixes at the checkpoints of ar: true");
    if (p->act_lr > 0.0 && activations == 0)
        return h->error(s, PTQ_ERR_INVALID, "act_lr > 0 learns activation steps, but no activation is quantized; "
                        "set act_lr: 0");
    return PTQ_OK;
}

static ptq_status nwq_reconstruct(const ptq_host *h, ptq_session *s, const void *params) {
    const nwq_params *p = params;
    const int32_t n = h->node_count(s);
    const size_t cap = (size_t)(n > 0 ? n : 1);
    int32_t *unit_of = h->alloc(cap * sizeof *unit_of);
    int32_t *nodes = h->alloc(cap * sizeof *nodes);
    int32_t *cps = h->alloc(4 * cap * sizeof *cps);
    nwq_run r = {h, s, p, h->alloc(cap * sizeof(nwq_weight)), 0, 0, NULL, 0};
    ptq_status st = PTQ_OK;
    const int32_t acts = unit_of && nodes && cps && r.w ? save_scales(&r) : -1;
    if (acts < 0) st = h->error(s, PTQ_ERR_NOMEM, "out of memory");
    if (!st) st = check_params(h, s, p, acts);
    const int32_t units = st ? -1 : h->node_blocks(s, unit_of, n);
    if (!st && units < 1) st = units < 0 ? PTQ_ERR_INVALID : h->error(s, PTQ_ERR_INVALID, "the model has no unit");
    int32_t lo = 0, hi = units - 1;
    if (!st && ((lo = resolve_unit(h, s, p->from, "from", 0, unit_of, n, units)) < 0 ||
                (hi = resolve_unit(h, s, p->to, "to", units - 1, unit_of, n, units)) < 0))
        st = PTQ_ERR_INVALID;
    if (!st && lo > hi)
        st = h->error(s, PTQ_ERR_INVALID, "from '%s' (unit %d) comes after to '%s' (unit %d): the range names no "
                      "unit", p->from, lo + 1, p->to, hi + 1);
    char label[512];
    if (!st && p->ar) {
        /* Network-wise: one unit of everything in range. */
        int32_t k = 0;
        for (int32_t i = 0; i < n; i++)
            if (unit_of[i] >= lo && unit_of[i] <= hi) nodes[k++] = i;
        const int32_t n_cps = find_checkpoints(h, s, p, unit_of, n, lo, hi, cps, (int32_t)(4 * cap));
        ptq_util_nodes_label(h, s, nodes, k, label, sizeof label);
        if (n_cps == 0) st = h->error(s, PTQ_ERR_INVALID, "units %d..%d have no checkpoint", lo + 1, hi + 1);
        else st = optimise(&r, nodes, k, cps, n_cps, label, 0, 0);
    } else if (!st) {
        /* The ablation without AR: the same rounding and mixing, unit by unit. */
        for (int32_t u = lo; u <= hi && !st; u++) {
            int32_t k = 0;
            for (int32_t i = 0; i < n; i++)
                if (unit_of[i] == u) nodes[k++] = i;
            if (k == 0) continue;
            ptq_util_nodes_label(h, s, nodes, k, label, sizeof label);
            st = optimise(&r, nodes, k, NULL, 0, label, u - lo + 1, hi - lo + 1);
        }
    }
    if (st) restore(&r);
    for (int32_t i = 0; i < r.n_saved; i++) h->free(r.saved[i].scale);
    h->free(r.saved);
    h->free(r.w);
    h->free(unit_of);
    h->free(nodes);
    h->free(cps);
    return st;
}

/* ---- the plugin's tables ---------------------------------------------------------------- */

static const char *const roundings[] = {"asoftmax", "adaround", NULL};
static const char *const mixings[] = {"amixup", "qdrop", "none", NULL};
static const char *const checkpoint_kinds[] = {"units", "layers", NULL};
static const char *const logits_kinds[] = {"none", "mse", "kl", NULL};
static const char *const target_kinds[] = {"auto", "cache", "recompute", NULL};

#define P(field) offsetof(nwq_params, field)
static const ptq_param_def nwq_param_defs[] = {
    {"iterations", PTQ_PARAM_INT, 0, P(iterations), 1, 1e7, 20000, NULL, NULL,
     "optimisation steps (of the whole range with ar: true, of each unit without)"},
    {"batch", PTQ_PARAM_INT, 0, P(batch), 1, 4096, 32, NULL, NULL, "calibration samples per step"},
    {"lr", PTQ_PARAM_FLOAT, 0, P(lr), 0, 10, 1e-3, NULL, NULL,
     "Adam learning rate of the rounding variables (ASoftmax logits or AdaRound's V)"},
    {"rounding", PTQ_PARAM_ENUM, 0, P(rounding), 0, 0, 0, NULL, roundings,
     "asoftmax: annealed softmax over offsets, no regulariser (NWQ); adaround: rectified "
     "sigmoid with its regulariser (the ablation)"},
    {"offset_min", PTQ_PARAM_INT, 0, P(offset_min), -8, 8, 0, NULL, NULL,
     "ASoftmax: lowest integer offset n from floor(w / s) (must be <= 0)"},
    {"offset_max", PTQ_PARAM_INT, 0, P(offset_max), -8, 8, 1, NULL, NULL,
     "ASoftmax: highest integer offset m from floor(w / s) (must be >= 1; -1..2 is the "
     "paper's expanded range)"},
    {"tau_start", PTQ_PARAM_FLOAT, 0, P(tau_start), 1e-4, 100, 1, NULL, NULL,
     "ASoftmax temperature at the first step (1: the soft weight starts at the float one)"},
    {"tau_end", PTQ_PARAM_FLOAT, 0, P(tau_end), 1e-4, 100, 0.01, NULL, NULL,
     "ASoftmax temperature at the last step (linear in between)"},
    {"reg_weight", PTQ_PARAM_FLOAT, 0, P(reg_weight), 0, 1e3, 0.01, NULL, NULL,
     "rounding: adaround: lambda of AdaRound's regulariser (beta 20 -> 2 after a 20 % warm-up)"},
    {"mixing", PTQ_PARAM_ENUM, 0, P(mixing), 0, 0, 0, NULL, mixings,
     "amixup: each activation element keeps its float value with probability falling "
     "linearly mix_start -> mix_end; qdrop: fixed mix_start; none"},
    {"mix_start", PTQ_PARAM_FLOAT, 0, P(mix_start), 0, 0.99, 0.5, NULL, NULL,
     "float share at the first step (AMixup), or QDrop's fixed probability"},
    {"mix_end", PTQ_PARAM_FLOAT, 0, P(mix_end), 0, 0.99, 0, NULL, NULL, "AMixup: float share at the last step"},
    {"mix_target", PTQ_PARAM_BOOL, 0, P(mix_target), 0, 1, 0, NULL, NULL,
     "the mixed-target variant: mix the float model's activations into the quantized ones at "
     "the checkpoints (passed on to the rest of the network) instead of at every activation "
     "quantizer"},
    {"ar", PTQ_PARAM_BOOL, 0, P(ar), 0, 1, 1, NULL, NULL,
     "activation regularisation: one optimisation of the whole range with a loss at every "
     "checkpoint (false: unit-by-unit reconstruction, the ablation's baseline)"},
    {"checkpoints", PTQ_PARAM_ENUM, 0, P(checkpoints), 0, 0, 0, NULL, checkpoint_kinds,
     "where AR takes L_rec: units (the outputs of the session's units, graph.blocks when a "
     "pass set it) or layers (every weighted layer's output, after its activation)"},
    {"logits_loss", PTQ_PARAM_ENUM, 0, P(logits_loss), 0, 0, 0, NULL, logits_kinds,
     "an extra term on the network's output: none, mse, or kl (KL of the softmaxes)"},
    {"logits_weight", PTQ_PARAM_FLOAT, 0, P(logits_weight), 0, 1e6, 1, NULL, NULL, "weight of the logits term"},
    {"act_lr", PTQ_PARAM_FLOAT, 0, P(act_lr), 0, 1, 4e-5, NULL, NULL,
     "learn the activation steps jointly at this Adam rate, cosine to 0 (LSQ; 0 = off)"},
    {"act_grad_scale", PTQ_PARAM_BOOL, 0, P(act_grad_scale), 0, 1, 1, NULL, NULL,
     "LSQ gradient scaling 1/sqrt(numel * qmax) of the activation steps"},
    {"images", PTQ_PARAM_INT, 0, P(images), 0, 1 << 24, 0, NULL, NULL,
     "calibration images to reconstruct on (0 = all)"},
    {"from", PTQ_PARAM_STRING, 0, P(from), 0, 0, 0, "", NULL,
     "first unit of the range: a unit number (1-based) or a node's name (empty: the first)"},
    {"to", PTQ_PARAM_STRING, 0, P(to), 0, 0, 0, "", NULL,
     "last unit of the range, likewise (empty: the last)"},
    {"targets", PTQ_PARAM_ENUM, 0, P(targets), 0, 0, 0, NULL, target_kinds,
     "float targets at the checkpoints: auto (cached when within cache_mb, else computed "
     "per batch), cache, recompute"},
    {"cache_mb", PTQ_PARAM_INT, 0, P(cache_mb), 1, 1 << 20, 1024, NULL, NULL,
     "targets: auto caches the float targets up to this many MB"},
    {0},
};
#undef P

static const char *const nwq_reads[] = {"graph.bn_folded", "quant.weights", "quant.activations", "calib.data",
                                        NULL};
static const char *const nwq_reads_optional[] = {"graph.blocks", NULL};
static const char *const nwq_writes[] = {"quant.rounding", "quant.activations.tuned", NULL};

static const ptq_pass_def reconstruct_pass = {
    sizeof(ptq_pass_def), "nwq.reconstruct",
    "network-wise reconstruction: every weight's rounding (annealed softmax) and activation "
    "step learned at once, with annealed mixup",
    nwq_param_defs, sizeof(nwq_params), nwq_reads, nwq_reads_optional, nwq_writes, nwq_reconstruct, NULL,
};

static const ptq_pass_def *const passes[] = {&reconstruct_pass, NULL};

static ptq_status nwq_init(const ptq_host *h) {
    if (h->abi.major != PTQ_VERSION_MAJOR || h->abi.minor < 6 || !PTQ_HOST_HAS(h, activations_calibrate))
        return h->error(NULL, PTQ_ERR_UNSUPPORTED, "nwq needs a host with SDK 0.6 or later (this one is %u.%u)",
                        h->abi.major, h->abi.minor);
    return PTQ_OK;
}

static const ptq_plugin_desc desc = {
    PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT, "nwq", "0.1.0",
    "NWQ: network-wise reconstruction with annealed softmax rounding and annealed mixup",
    nwq_init, NULL, passes,
};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
