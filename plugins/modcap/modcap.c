/* modcap.c — the modcap plugin: MRECG's module capacity (Ma et al., CVPR 2023) decides
 * which adjacent reconstruction units are optimised jointly.
 *
 *   base modules = the session's units (stem, residual blocks, head: modules.c)
 *   capacity     = data_free: weight elements x bits, x stride_penalty per 2x2 of
 *                  sub-sampling; or data_dependent: -log of each module's relative loss
 *                  after a short reconstruction of the base method (probe.c)
 *   differential = the capacity lost from each module to the next (select.c)
 *   the top-k pairs of the same kind merge (chaining), written as "graph.blocks"
 *
 * so BRECQ/QDrop (adaround's block mode), NWQ's checkpoints and any third-party
 * reconstruction after it reconstruct the merged units unchanged.  With `compare` the
 * pass also runs the short reconstruction on both groupings and reports the loss at
 * every module's output before and after merging: the oscillation along depth that
 * MRECG is about.  METHODS.md card 8 is the specification; README.md has the choices. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <ptq/ptq_util.h>

#include "modules.h"
#include "probe.h"
#include "select.h"

typedef struct mc_params {
    int32_t capacity;        /* 0 data_free, 1 data_dependent */
    const char *k;           /* "auto" or an integer */
    const char *merges;      /* hand-written groups, or empty */
    double stride_penalty;
    int32_t same_kind;
    int32_t merge_ends;
    int32_t compare;
    int64_t probe_iterations;
    int64_t probe_batch;
    int64_t probe_images;
    double probe_drop_prob;
    double probe_reg_weight;
    int64_t depth_images;
} mc_params;

/* Everything the pass holds, freed in one place. */
typedef struct mc_state {
    mc_modules mods;
    double *cap, *diff, *loss_base, *loss_merged;
    bool *ok, *merge;
    int32_t *base_group, *group;
    mc_depth before, after;
} mc_state;

static void state_free(const ptq_host *h, mc_state *t) {
    mc_modules_free(h, &t->mods);
    void *all[] = {t->cap, t->diff, t->loss_base, t->loss_merged, t->ok, t->merge, t->base_group,
                   t->group, t->before.err, t->before.power, t->after.err, t->after.power};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) h->free(all[i]);
}

static bool state_alloc(const ptq_host *h, mc_state *t) {
    const size_t n = (size_t)(t->mods.n > 0 ? t->mods.n : 1);
    t->cap = h->alloc(n * sizeof(double)), t->diff = h->alloc(n * sizeof(double));
    t->loss_base = h->alloc(n * sizeof(double)), t->loss_merged = h->alloc(n * sizeof(double));
    t->ok = h->alloc(n * sizeof(bool)), t->merge = h->alloc(n * sizeof(bool));
    t->base_group = h->alloc(n * sizeof(int32_t)), t->group = h->alloc(n * sizeof(int32_t));
    t->before.err = h->alloc(n * sizeof(double)), t->before.power = h->alloc(n * sizeof(double));
    t->after.err = h->alloc(n * sizeof(double)), t->after.power = h->alloc(n * sizeof(double));
    return t->cap && t->diff && t->loss_base && t->loss_merged && t->ok && t->merge &&
           t->base_group && t->group && t->before.err && t->before.power && t->after.err &&
           t->after.power;
}

static mc_probe_cfg probe_cfg(const mc_params *p) {
    return (mc_probe_cfg){p->probe_iterations, p->probe_batch, p->probe_images,
                          p->probe_drop_prob, p->probe_reg_weight, p->depth_images};
}

/* Refusals that need no model run. */
static ptq_status check_params(const ptq_host *h, ptq_session *s, const mc_params *p, int32_t *k) {
    if (!mc_parse_k(p->k, k))
        return h->error(s, PTQ_ERR_INVALID, "modcap: k '%s' is neither 'auto' nor an integer >= 0",
                        p->k);
    if (p->merges && *p->merges && *k >= 0)
        return h->error(s, PTQ_ERR_INVALID, "modcap: give k or merges, not both (merges "
                        "'%s' names the groups itself)", p->merges);
    const bool probes = p->capacity == 1 || p->compare;
    ptq_tensor_view calib = {.struct_size = sizeof calib};
    if (!probes) return PTQ_OK;
    /* The host records its own error ("no calibration data"); the log line says why this
     * pass wants the images and what to do. */
    const ptq_status st = h->calib_view(s, &calib, NULL);
    if (st)
        h->log(s, PTQ_LOG_ERROR, "modcap: %s runs a short reconstruction on the calibration "
               "images, and this pipeline has none: add a calibration: section, or use "
               "capacity: data_free with compare: false",
               p->capacity == 1 ? "capacity: data_dependent" : "compare: true");
    return st;
}

/* The capacities and differentials, by the configured rule. */
static ptq_status capacities(const ptq_host *h, ptq_session *s, const mc_params *p, mc_state *t) {
    const mc_modules *mods = &t->mods;
    if (p->capacity == 0) {
        for (int32_t m = 0; m < mods->n; m++) t->cap[m] = mods->m[m].capacity;
        mc_differentials(t->cap, mods->n, true, t->diff);
        return PTQ_OK;
    }
    const mc_probe_cfg cfg = probe_cfg(p);
    double secs;
    h->log(s, PTQ_LOG_INFO, "modcap: data-dependent capacity: a %lld-step reconstruction of "
           "each of the %d base modules", (long long)cfg.iterations, mods->n);
    ptq_status st = mc_probe(h, s, mods, t->base_group, mods->n, &cfg, t->loss_base, &t->before, &secs);
    if (st) return st;
    /* The engine's final loss relative to its target's power: modules of different widths
     * and activation scales compare on one scale; a larger loss is a smaller capacity. */
    for (int32_t m = 0; m < mods->n; m++) {
        const double rel = t->before.power[m] > 0.0 ? t->loss_base[m] / t->before.power[m] : NAN;
        t->cap[m] = isfinite(rel) ? -log(fmax(rel, 1e-12)) : 0.0;
    }
    mc_differentials(t->cap, mods->n, false, t->diff);
    h->log(s, PTQ_LOG_INFO, "modcap: probe took %.1f s", secs);
    return PTQ_OK;
}

/* merge[] from k (or the hand-written merges). */
static ptq_status choose(const ptq_host *h, ptq_session *s, const mc_params *p, int32_t k, mc_state *t) {
    const mc_modules *mods = &t->mods;
    if (mods->n < 2) {
        if (k > 0)
            return h->error(s, PTQ_ERR_INVALID, "modcap: k = %d, but the model has %d module: "
                            "nothing to merge", k, mods->n);
        return PTQ_OK;
    }
    int32_t *kind = h->alloc((size_t)mods->n * sizeof *kind);
    if (!kind) return h->error(s, PTQ_ERR_NOMEM, "modcap: out of memory");
    for (int32_t m = 0; m < mods->n; m++) kind[m] = mods->m[m].kind;
    const int32_t possible = mc_eligible(kind, mods->n, p->same_kind, p->merge_ends, t->ok);
    h->free(kind);
    if (p->merges && *p->merges) {
        char why[256];
        if (!mc_parse_merges(p->merges, mods->n, t->merge, why, sizeof why))
            return h->error(s, PTQ_ERR_INVALID, "modcap: merges '%s': %s", p->merges, why);
        return PTQ_OK;
    }
    if (k < 0) k = mc_auto_k(t->diff, t->ok, mods->n);
    if (k > possible)
        return h->error(s, PTQ_ERR_INVALID, "modcap: k = %d, but only %d pairs of adjacent "
                        "modules can merge (%d modules%s%s); the modules table of a run with "
                        "k: 0 lists them", k, possible, mods->n,
                        p->same_kind ? ", same kind only" : "",
                        p->merge_ends ? "" : ", the first and last stay alone");
    mc_select(t->diff, t->ok, mods->n, k, t->merge);
    return PTQ_OK;
}

/* Stores graph.blocks: each node's group. */
static ptq_status write_blocks(const ptq_host *h, ptq_session *s, const mc_state *t) {
    const mc_modules *mods = &t->mods;
    int32_t *blocks = h->alloc((size_t)(mods->n_nodes > 0 ? mods->n_nodes : 1) * sizeof *blocks);
    if (!blocks) return h->error(s, PTQ_ERR_NOMEM, "modcap: out of memory");
    for (int32_t j = 0; j < mods->n_nodes; j++) blocks[j] = t->group[mods->unit_of[j]];
    return h->artifact_set(s, "graph.blocks", blocks, (size_t)mods->n_nodes * sizeof *blocks, h->free);
}

static void report(const ptq_host *h, ptq_session *s, const mc_params *p, const mc_state *t,
                   int32_t n_groups, bool measured) {
    const mc_modules *mods = &t->mods;
    for (int32_t i = 0; i < mods->n_kinds; i++) {
        const char *cols[] = {"kind"};
        const double v[] = {i};
        h->report_row(s, "kinds", mods->kinds[i], cols, v, 1);
    }
    for (int32_t m = 0; m < mods->n; m++) {
        const mc_module *mm = &mods->m[m];
        const bool last = m + 1 == mods->n;
        const char *cols[] = {"index", "kind", "weighted", "params", "bit_params", "subsample",
                              "capacity", "differential", "eligible", "merged_with_next", "group"};
        const double v[] = {m + 1, mm->kind, mm->weighted, mm->params, mm->bit_params,
                            mm->subsample, t->cap[m], last ? NAN : t->diff[m],
                            last ? 0 : t->ok[m], last ? 0 : t->merge[m], t->group[m] + 1};
        h->report_row(s, "modules", mm->name, cols, v, 11);
    }
    if (measured)
        for (int32_t m = 0; m < mods->n; m++) {
            const bool ends_group = m + 1 == mods->n || t->group[m + 1] != t->group[m];
            const char *cols[] = {"index", "group", "loss_before", "loss_after", "rel_before",
                                  "rel_after", "unit_loss_before", "unit_loss_after"};
            const double v[] = {m + 1, t->group[m] + 1, t->before.err[m], t->after.err[m],
                                t->before.err[m] / t->before.power[m],
                                t->after.err[m] / t->after.power[m], t->loss_base[m],
                                ends_group ? t->loss_merged[t->group[m]] : NAN};
            h->report_row(s, "depth", mods->m[m].name, cols, v, 8);
        }
    if (measured) {
        /* The oscillation as one number: how far the relative loss falls back along depth
         * in all (a loss that only accumulates has none), before and after. */
        for (int pass = 0; pass < 2; pass++) {
            const mc_depth *d = pass ? &t->after : &t->before;
            double fall = 0.0;
            for (int32_t m = 0; m + 1 < mods->n; m++)
                fall += fmax(0.0, d->err[m] / d->power[m] - d->err[m + 1] / d->power[m + 1]);
            const double last = d->err[mods->n - 1] / d->power[mods->n - 1];
            const char *cols[] = {"rel_last", "oscillation"};
            const double v[] = {last, fall};
            h->report_row(s, "summary", pass ? "after" : "before", cols, v, 2);
            h->log(s, PTQ_LOG_INFO, "modcap: %s merging: relative loss at the output %.4g, falls "
                   "along depth (the oscillation) %.4g", pass ? "after" : "before", last, fall);
        }
    }
    /* The groups, one log line each for the merged ones. */
    int32_t merges = 0;
    for (int32_t m = 0; m + 1 < mods->n; m++) merges += t->merge[m];
    h->log(s, PTQ_LOG_INFO, "modcap: %d base modules, %d merge%s (%s), %d reconstruction units",
           mods->n, merges, merges == 1 ? "" : "s",
           p->merges && *p->merges ? "as given" : p->capacity ? "data-dependent" : "data-free",
           n_groups);
    for (int32_t m = 0; m < mods->n;) {
        int32_t e = m;
        while (e + 1 < mods->n && t->merge[e]) e++;
        if (e > m) h->log(s, PTQ_LOG_INFO, "  merged: modules %d-%d, %s .. %s", m + 1, e + 1,
                          mods->m[m].name, mods->m[e].name);
        m = e + 1;
    }
}

static ptq_status mc_group(const ptq_host *h, ptq_session *s, const void *params) {
    const mc_params *p = params;
    int32_t k;
    ptq_status st = check_params(h, s, p, &k);
    if (st) return st;
    mc_state t;
    memset(&t, 0, sizeof t);
    if ((st = mc_modules_read(h, s, p->stride_penalty, &t.mods))) return st;
    if (!state_alloc(h, &t)) {
        state_free(h, &t);
        return h->error(s, PTQ_ERR_NOMEM, "modcap: out of memory");
    }
    const int32_t n = t.mods.n;
    for (int32_t m = 0; m < n; m++) t.base_group[m] = m, t.loss_base[m] = t.loss_merged[m] = NAN;
    memset(t.merge, 0, (size_t)(n > 0 ? n : 1) * sizeof *t.merge);
    memset(t.ok, 0, (size_t)(n > 0 ? n : 1) * sizeof *t.ok);
    st = capacities(h, s, p, &t);
    if (!st) st = choose(h, s, p, k, &t);
    const int32_t n_groups = st ? 0 : mc_groups(t.merge, n, t.group);
    const mc_probe_cfg cfg = probe_cfg(p);
    double secs = 0.0;
    if (!st && p->compare && p->capacity == 0)
        st = mc_probe(h, s, &t.mods, t.base_group, n, &cfg, t.loss_base, &t.before, &secs);
    if (!st && p->compare) {
        h->log(s, PTQ_LOG_INFO, "modcap: the same short reconstruction on the %d merged units, "
               "for the loss along depth after merging", n_groups);
        st = mc_probe(h, s, &t.mods, t.group, n_groups, &cfg, t.loss_merged, &t.after, &secs);
    }
    if (!st) st = write_blocks(h, s, &t);
    if (!st) report(h, s, p, &t, n_groups, p->compare);
    state_free(h, &t);
    return st;
}

/* ---- the plugin's tables ------------------------------------------------------------ */

static const char *const capacity_modes[] = {"data_free", "data_dependent", NULL};

#define P(field) offsetof(mc_params, field)
static const ptq_param_def mc_param_defs[] = {
    {"capacity", PTQ_PARAM_ENUM, 0, P(capacity), 0, 0, 0, NULL, capacity_modes,
     "data_free: weight elements x bits, less per sub-sampling; data_dependent: each "
     "module's relative loss after a short reconstruction (probe_*)"},
    {"k", PTQ_PARAM_STRING, 0, P(k), 0, 0, 0, "auto", NULL,
     "pairs of adjacent modules to merge, those of largest differential; auto: a quarter "
     "of the modules, among the pairs whose capacity falls"},
    {"merges", PTQ_PARAM_STRING, 0, P(merges), 0, 0, 0, "", NULL,
     "hand-written groups in the modules table's numbers, e.g. \"3-4, 7+8+9\" (in place of "
     "the capacity rule, as the official code's per-network schemes)"},
    {"stride_penalty", PTQ_PARAM_FLOAT, 0, P(stride_penalty), 0, 1, 0.25, NULL, NULL,
     "data-free capacity factor per 2x2 sub-sampling between a module's input and output "
     "(0.25: the fraction of positions kept)"},
    {"same_kind", PTQ_PARAM_BOOL, 0, P(same_kind), 0, 1, 1, NULL, NULL,
     "compare only adjacent modules of the same kind (the ops on their main path), as "
     "MRECG requires"},
    {"merge_ends", PTQ_PARAM_BOOL, 0, P(merge_ends), 0, 1, 0, NULL, NULL,
     "let the first and the last module merge (BRECQ's skip_first needs the first alone)"},
    {"compare", PTQ_PARAM_BOOL, 0, P(compare), 0, 1, 1, NULL, NULL,
     "run the short reconstruction on the base and the merged units and report the loss "
     "at every module's output before and after merging (table depth)"},
    {"probe_iterations", PTQ_PARAM_INT, 0, P(probe_iterations), 1, 1e7, 200, NULL, NULL,
     "steps per unit of the short reconstruction"},
    {"probe_batch", PTQ_PARAM_INT, 0, P(probe_batch), 1, 4096, 32, NULL, NULL,
     "calibration samples per step of the short reconstruction"},
    {"probe_images", PTQ_PARAM_INT, 0, P(probe_images), 0, 1 << 24, 0, NULL, NULL,
     "calibration images the short reconstruction caches (0 = all)"},
    {"probe_drop_prob", PTQ_PARAM_FLOAT, 0, P(probe_drop_prob), 0, 0.99, 0.5, NULL, NULL,
     "QDrop's probability of keeping an activation element float in the short "
     "reconstruction (0: BRECQ-style, always quantized)"},
    {"probe_reg_weight", PTQ_PARAM_FLOAT, 0, P(probe_reg_weight), 0, 1e3, 0.01, NULL, NULL,
     "AdaRound's lambda in the short reconstruction"},
    {"depth_images", PTQ_PARAM_INT, 0, P(depth_images), 1, 1 << 24, 256, NULL, NULL,
     "calibration images the loss along depth is measured on"},
    {0},
};
#undef P

static const char *const mc_reads[] = {"graph.bn_folded", "quant.weights", "quant.activations", NULL};
static const char *const mc_reads_optional[] = {"calib.data", "graph.blocks", NULL};
static const char *const mc_writes[] = {"graph.blocks", NULL};
/* The probe leaves every weight at round-to-nearest: rounding learned before this pass
 * would be lost, so the pipeline refuses that order. */
static const char *const mc_invalidates[] = {"quant.rounding", NULL};

static const ptq_pass_def group_pass = {
    sizeof(ptq_pass_def), "modcap.group",
    "MRECG's module capacity: merge adjacent reconstruction units where capacity falls",
    mc_param_defs, sizeof(mc_params), mc_reads, mc_reads_optional, mc_writes, mc_group,
    mc_invalidates,
};

static const ptq_pass_def *const passes[] = {&group_pass, NULL};

static ptq_status mc_init(const ptq_host *h) {
    if (!PTQ_HOST_HAS(h, activations_calibrate))
        return h->error(NULL, PTQ_ERR_UNSUPPORTED, "modcap needs a host with SDK 0.5 or later "
                        "(this one is %u.%u)", h->abi.major, h->abi.minor);
    return PTQ_OK;
}

static const ptq_plugin_desc desc = {
    PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT, "modcap", "0.1.0",
    "ModCap / MRECG: which adjacent reconstruction units are optimised jointly",
    mc_init, NULL, passes,
};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
