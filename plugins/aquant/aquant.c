/* aquant.c — the aquant plugin: adaptive activation rounding borders (AQuant, Li et al.,
 * arXiv 2208.11945; METHODS.md card 7) on the core's block reconstruction.
 *
 *   for each unit (the session's blocks: residual blocks, or a ModCap grouping), in order:
 *       AdaRound's soft rounding on the unit's weights (adaround/unit.c);
 *       a border rounding (border.c) on every activation quantizer the unit READS (its
 *           input and the ones inside it) that has none yet: the unit that multiplies a
 *           quantized value by its weights is the one that can tell how to round it, so
 *           the border sees the weights' error, the activation's own error and what
 *           earlier units propagate (the engine runs a pulled-in input quantizer inside
 *           the unit, SDK 0.7);
 *       reconstruct: L_rec + lambda f_reg(V), the activation steps (LSQ) and QDrop's
 *           mixing as in adaround.reconstruct, the borders by their own Adam;
 *       freeze: V >= 0 for the weights, the borders clamped to [0, 1] into the quantizer
 *           (host->quantizer_set_borders), which the executor and the export then run.
 *
 * An activation quantizer no unit reads (the logits' or one behind an unquantized
 * consumer) or with more bins than max_bins keeps round-to-nearest, logged and listed in
 * the report's `borders` table with the reason. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <ptq/ptq_util.h>

#include "../adaround/unit.h"
#include "border.h"

typedef struct aq_params {
    ada_schedule sched;      /* iterations, lr, reg_weight, beta schedule of V */
    int64_t batch;
    double drop_prob;
    double act_lr;
    int32_t act_grad_scale;
    int64_t images;
    int32_t border;          /* AQ_BORDER_* */
    int32_t relaxation;      /* AQ_RELAX_* */
    double border_lr;
    double tau_start, tau_end;
    int32_t per_channel;
    int64_t max_bins;
} aq_params;

/* A quantizer whose borders a unit learns. */
typedef struct aq_learned {
    int32_t quantizer;
    aq_border *state;        /* owned by the quantizer once installed */
} aq_learned;

/* One unit being reconstructed: AdaRound's state and the borders. */
typedef struct aq_unit {
    ada_unit ada;
    aq_learned *b;
    int32_t n_b;
} aq_unit;

static double aq_step(void *user, int64_t t, int64_t total) {
    aq_unit *u = user;
    double extra = ada_unit_step(&u->ada, t, total);
    for (int32_t i = 0; i < u->n_b; i++) extra += aq_border_step(u->b[i].state, t, total);
    return extra;
}

/* Why quantizer q keeps nearest rounding (status per quantizer of the session). */
#define Q_UNSEEN 0           /* read by no unit so far */
#define Q_LEARNED 1
#define Q_TOO_MANY_BINS 2

/* The activation quantizers read by nodes[0..k) that have no borders yet. */
static int32_t readable_quantizers(const ptq_host *h, ptq_session *s, const int32_t *nodes, int32_t k,
                                   int32_t *out, int32_t cap) {
    int32_t n = 0;
    for (int32_t i = 0; i < k; i++) {
        ptq_node_info ni = {.struct_size = sizeof ni};
        if (h->node_info(s, nodes[i], &ni)) continue;
        for (int32_t j = 0; j < ni.n_inputs && j < 8; j++) {
            const int32_t v = ni.inputs[j];
            const int32_t q = v >= 0 ? h->quantizer_of(s, v) : -1;
            if (q < 0) continue;
            ptq_quant_view qv = {.struct_size = sizeof qv};
            if (h->quantizer_view(s, q, &qv) || qv.is_weight) continue;
            bool seen = false;
            for (int32_t m = 0; m < n; m++) seen |= out[m] == q;
            if (!seen && n < cap) out[n++] = q;
        }
    }
    return n;
}

static void borders_restore(aq_unit *u, const ptq_host *h, ptq_session *s) {
    for (int32_t i = 0; i < u->n_b; i++) h->quantizer_set_rounding(s, u->b[i].quantizer, NULL, NULL);
    u->n_b = 0;
}

/* Report row for quantizer q's frozen borders. */
static void report_borders(const ptq_host *h, ptq_session *s, int32_t q, const char *unit_label,
                           const aq_border *b, double status) {
    ptq_quant_view qv = {.struct_size = sizeof qv};
    if (h->quantizer_view(s, q, &qv)) return;
    double mean = 0.0, lo = 1.0, hi = 0.0, dev = 0.0, seen = 0.0;
    int64_t n = 0, bound = 0;
    for (int64_t c = 0; b && c < b->channels; c++)
        for (int64_t k = 0; k < b->bins; k++, n++) {
            const double x = aq_border_at(b, c, k);
            mean += x, dev += fabs(x - 0.5);
            lo = fmin(lo, x), hi = fmax(hi, x);
            bound += x == 0.0 || x == 1.0;
            seen += b->count[c * b->bins + k] > 0;
        }
    const char *cols[] = {"status", "bits", "bins", "channels", "mean", "min", "max",
                          "mean_abs_from_half", "at_bound", "clamp_events", "trained_pct"};
    const double vals[] = {status, qv.bits, (double)qv.qmax - qv.qmin, b ? (double)b->channels : 0,
                           n ? mean / (double)n : NAN, n ? lo : NAN, n ? hi : NAN,
                           n ? dev / (double)n : NAN, (double)bound, b ? (double)b->clamped : 0,
                           n ? 100.0 * seen / (double)n : NAN};
    char row[512];
    snprintf(row, sizeof row, "%s%s%s", h->value_name(s, qv.value), unit_label ? " @ " : "",
             unit_label ? unit_label : "");
    h->report_row(s, "borders", row, cols, vals, 11);
}

/* Installs the border rounding on the unit's readable quantizers (status says which are
 * learned already or skipped). */
static ptq_status borders_install(aq_unit *u, const aq_params *p, int32_t *status, const int32_t *nodes,
                                  int32_t k, int32_t *qs, int32_t cap) {
    const ptq_host *h = u->ada.h;
    ptq_session *s = u->ada.s;
    const int32_t n = readable_quantizers(h, s, nodes, k, qs, cap);
    const aq_border_cfg cfg = {p->border, p->relaxation, p->border_lr, p->tau_start, p->tau_end,
                               p->sched.iterations, p->batch};
    for (int32_t i = 0; i < n; i++) {
        const int32_t q = qs[i];
        if (status[q] != Q_UNSEEN) continue;
        ptq_quant_view qv = {.struct_size = sizeof qv};
        ptq_status st = h->quantizer_view(s, q, &qv);
        if (st) return st;
        if ((int64_t)qv.qmax - qv.qmin > p->max_bins) {
            status[q] = Q_TOO_MANY_BINS;
            h->log(s, PTQ_LOG_INFO, "'%s' (%d bits, %d bins) keeps round-to-nearest: more bins than "
                   "max_bins %lld", h->value_name(s, qv.value), qv.bits, qv.qmax - qv.qmin,
                   (long long)p->max_bins);
            continue;
        }
        aq_border *b = aq_border_new(h, s, q, p->per_channel, &cfg);
        if (!b) return PTQ_ERR_INVALID; /* the message is recorded (or out of memory) */
        if ((st = h->quantizer_set_rounding(s, q, &aq_border_rounding, b))) {
            aq_border_rounding.destroy(b);
            return st;
        }
        u->b[u->n_b++] = (aq_learned){q, b};
    }
    return PTQ_OK;
}

/* Freezes the learned borders into the quantizers and reports them. */
static ptq_status borders_freeze(aq_unit *u, int32_t *status, const char *label) {
    const ptq_host *h = u->ada.h;
    ptq_session *s = u->ada.s;
    for (int32_t i = 0; i < u->n_b; i++) {
        const aq_border *b = u->b[i].state;
        float *table = h->alloc((size_t)(b->channels * b->bins) * sizeof(float));
        if (!table) return h->error(s, PTQ_ERR_NOMEM, "out of memory");
        aq_border_table(b, table);
        report_borders(h, s, u->b[i].quantizer, label, b, Q_LEARNED);
        ptq_status st = h->quantizer_set_borders(s, u->b[i].quantizer, table, b->channels, b->bins);
        h->free(table);
        if (st) return st;
        status[u->b[i].quantizer] = Q_LEARNED;
    }
    borders_restore(u, h, s); /* the rounding function goes: the frozen table takes over */
    for (int32_t i = 0; i < u->n_b; i++) h->quantizer_changed(s, u->b[i].quantizer);
    return PTQ_OK;
}

static ptq_status reconstruct_unit(aq_unit *u, const aq_params *p, int32_t *status, const int32_t *nodes,
                                   int32_t k, int32_t *qs, int32_t index, int32_t count) {
    const ptq_host *h = u->ada.h;
    ptq_session *s = u->ada.s;
    char label[256];
    ptq_util_nodes_label(h, s, nodes, k, label, sizeof label);
    ptq_recon_options o = {.struct_size = sizeof o};
    o.activations = PTQ_RECON_ACT_QUANT;
    o.iterations = p->sched.iterations;
    o.batch = p->batch;
    o.images = p->images;
    o.loss_p = 2.0;
    o.drop_prob = p->drop_prob;
    o.act_lr = p->act_lr;
    o.act_grad_scale = p->act_grad_scale;
    o.label = label;
    o.unit_index = index;
    o.unit_count = count;
    o.nodes = nodes;
    o.n_nodes = k;
    o.user = u;
    o.step = aq_step;
    ptq_recon_result r = {.struct_size = sizeof r};
    int64_t flipped = 0, total = 0;
    u->n_b = 0;
    ptq_status st = ada_unit_install(&u->ada, nodes, k);
    if (!st) st = borders_install(u, p, status, nodes, k, qs, h->quantizer_count(s));
    if (!st && u->ada.n_w == 0 && u->n_b == 0) return PTQ_OK; /* nothing to learn */
    if (!st) st = h->reconstruct(s, &o, &r);
    if (st) {
        ada_unit_restore(&u->ada);
        borders_restore(u, h, s);
        return st;
    }
    const int32_t learned = u->n_b;
    st = ada_unit_harden(&u->ada, &flipped, &total);
    if (!st) st = borders_freeze(u, status, label);
    if (st) return st;
    const char *cols[] = {"weights", "borders", "loss_first", "loss_last", "reg_last", "flipped_pct",
                          "seconds", "peak_mb"};
    const double vals[] = {r.n_weights, learned, r.loss_first, r.loss_last, r.extra_last,
                           total ? 100.0 * (double)flipped / (double)total : 0.0, r.seconds,
                           (double)r.peak_bytes / 1048576.0};
    h->report_row(s, "units", label, cols, vals, 8);
    h->log(s, PTQ_LOG_INFO, "%s: loss %.4g -> %.4g, %d activation quantizers' borders learned, %.1f%% "
           "of weights rounded away from nearest, %.1f s", label, r.loss_first, r.loss_last, learned,
           total ? 100.0 * (double)flipped / (double)total : 0.0, r.seconds);
    return PTQ_OK;
}

static ptq_status aq_reconstruct(const ptq_host *h, ptq_session *s, const void *params) {
    const aq_params *p = params;
    if (p->tau_end > p->tau_start)
        return h->error(s, PTQ_ERR_INVALID, "tau_end %g is above tau_start %g: the temperature "
                        "anneals down", p->tau_end, p->tau_start);
    const int32_t n = h->node_count(s), nq = h->quantizer_count(s);
    int32_t *unit_of = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *unit_of);
    int32_t *nodes = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *nodes);
    ada_unit_weight *w = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *w);
    aq_learned *b = h->alloc((size_t)(nq > 0 ? nq : 1) * sizeof *b);
    int32_t *qs = h->alloc((size_t)(nq > 0 ? nq : 1) * sizeof *qs);
    int32_t *status = h->alloc((size_t)(nq > 0 ? nq : 1) * sizeof *status);
    ptq_status st = PTQ_OK;
    if (!unit_of || !nodes || !w || !b || !qs || !status) st = h->error(s, PTQ_ERR_NOMEM, "out of memory");
    const int32_t units = st ? -1 : h->node_blocks(s, unit_of, n);
    if (!st && units < 0) st = PTQ_ERR_INVALID;
    /* Quantizers with borders from an earlier pass keep them. */
    for (int32_t q = 0; !st && q < nq; q++) {
        const float *have = NULL;
        h->quantizer_borders(s, q, &have, NULL, NULL);
        if (have) status[q] = Q_LEARNED;
    }
    aq_unit u = {{h, s, &p->sched, w, 0}, b, 0};
    int32_t count = 0, done = 0;
    for (int32_t walk = 0; walk < 2 && !st; walk++)
        for (int32_t unit = 0; unit < units && !st; unit++) {
            int32_t k = 0;
            for (int32_t i = 0; i < n; i++)
                if (unit_of[i] == unit) nodes[k++] = i;
            if (k == 0) continue;
            if (walk == 0) {
                count++;
                continue;
            }
            st = reconstruct_unit(&u, p, status, nodes, k, qs, ++done, count);
        }
    /* What keeps round-to-nearest, and why. */
    int32_t unseen = 0, too_many = 0;
    char names[512] = "";
    size_t len = 0;
    for (int32_t q = 0; !st && q < nq; q++) {
        ptq_quant_view qv = {.struct_size = sizeof qv};
        if (h->quantizer_view(s, q, &qv) || qv.is_weight || status[q] == Q_LEARNED) continue;
        report_borders(h, s, q, NULL, NULL, status[q]);
        if (status[q] == Q_TOO_MANY_BINS) {
            too_many++;
            continue;
        }
        unseen++;
        if (len < sizeof names - 1)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s'%s'", unseen > 1 ? ", " : "",
                                    h->value_name(s, qv.value));
    }
    if (unseen)
        h->log(s, PTQ_LOG_WARN, "%d activation quantizer%s outside every unit keep%s round-to-nearest "
               "(no unit reads %s): %s", unseen, unseen > 1 ? "s" : "", unseen > 1 ? "" : "s",
               unseen > 1 ? "them" : "it", names);
    if (too_many)
        h->log(s, PTQ_LOG_INFO, "%d activation quantizer%s with more than max_bins %lld bins keep%s "
               "round-to-nearest", too_many, too_many > 1 ? "s" : "", (long long)p->max_bins,
               too_many > 1 ? "" : "s");
    h->free(unit_of), h->free(nodes), h->free(w), h->free(b), h->free(qs), h->free(status);
    return st;
}

/* ---- the plugin's tables ------------------------------------------------------------ */

static const char *const forms[] = {"table", "linear", NULL};
static const char *const relaxations[] = {"ste", "sigmoid", NULL};

#define P(field) offsetof(aq_params, field)
static const ptq_param_def aq_param_defs[] = {
    ADA_SCHEDULE_PARAM_DEFS(aq_params),
    ADA_QDROP_PARAM_DEFS(aq_params),
    {"border", PTQ_PARAM_ENUM, 0, P(border), 0, 0, 0, NULL, forms,
     "table: one border per channel and integer bin; linear: a_c + b_c * bin position, two "
     "numbers per channel"},
    {"relaxation", PTQ_PARAM_ENUM, 0, P(relaxation), 0, 0, 1, NULL, relaxations,
     "ste: hard step forward, d/dB = -1 over the bin; sigmoid: sigmoid((frac - B) / T) "
     "forward, T annealed tau_start -> tau_end"},
    {"border_lr", PTQ_PARAM_FLOAT, 0, P(border_lr), 0, 1, 1e-3, NULL, NULL,
     "Adam learning rate of the borders, cosine to 0"},
    {"tau_start", PTQ_PARAM_FLOAT, 0, P(tau_start), 1e-4, 10, 0.2, NULL, NULL,
     "sigmoid relaxation: temperature at the first step"},
    {"tau_end", PTQ_PARAM_FLOAT, 0, P(tau_end), 1e-4, 10, 0.01, NULL, NULL,
     "sigmoid relaxation: temperature at the last step (geometric decay)"},
    {"per_channel", PTQ_PARAM_BOOL, 0, P(per_channel), 0, 1, 1, NULL, NULL,
     "a border row per channel (axis 1); false: one row shared by every channel"},
    {"max_bins", PTQ_PARAM_INT, 0, P(max_bins), 1, 65535, 16, NULL, NULL,
     "quantizers with more bins (qmax - qmin) keep round-to-nearest (16: up to 4-bit "
     "activations; the 8-bit ones around the first and last layer are left alone)"},
    {0},
};
#undef P

static const char *const aq_reads[] = {"graph.bn_folded", "quant.weights", "quant.activations",
                                       "calib.data", NULL};
static const char *const aq_reads_optional[] = {"graph.blocks", NULL};
static const char *const aq_writes[] = {"quant.rounding", "quant.activations.tuned",
                                        "quant.activations.rounding", NULL};

static const ptq_pass_def reconstruct_pass = {
    sizeof(ptq_pass_def), "aquant.reconstruct",
    "block reconstruction learning activation rounding borders (per channel and bin) jointly "
    "with AdaRound weight rounding and activation steps",
    aq_param_defs, sizeof(aq_params), aq_reads, aq_reads_optional, aq_writes, aq_reconstruct, NULL,
};

static const ptq_pass_def *const passes[] = {&reconstruct_pass, NULL};

static ptq_status aq_init(const ptq_host *h) {
    if (!PTQ_HOST_HAS(h, quantizer_borders))
        return h->error(NULL, PTQ_ERR_UNSUPPORTED, "aquant needs a host with SDK 0.7 or later "
                        "(this one is %u.%u)", h->abi.major, h->abi.minor);
    return PTQ_OK;
}

static const ptq_plugin_desc desc = {
    PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT, "aquant", "0.1.0",
    "AQuant: learned activation rounding borders on block reconstruction",
    aq_init, NULL, passes,
};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
