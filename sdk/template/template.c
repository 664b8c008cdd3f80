/*
 * template.c — a minimal, complete qcraft plugin.  Copy this folder, rename "template"
 * everywhere, and fill in your method.
 *
 * The plugin includes only the SDK header and exports one function, ptq_plugin_entry,
 * returning a static descriptor.  Everything it does to the model goes through the
 * ptq_host table the host passes to init() and to every run() (the plugin is linked
 * with -Wl,-z,defs and no libptq: a direct call into the core would not link).
 *
 * This one has a single pass, template.weight_stats, which reads the weight of every
 * Conv/Gemm/MatMul, logs the `top` layers with the largest weight range, and leaves a
 * per-layer table for later passes as the artifact "template.weight_ranges".  With
 * `clip` > 0 it also clips weights to +-clip standard deviations (a crude outlier
 * treatment: it shows how a pass changes a model, and the report's per-layer SQNR
 * before/after tells whether it helped).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <ptq/ptq_plugin.h>

/* The host's function table, handed to init(); valid until deinit(). */
static const ptq_host *H;

/* ---- parameters: a struct, and a table describing each field ------------------------ */

typedef struct weight_stats_params {
    int64_t top;     /* layers to log */
    double clip;     /* clip weights to +-clip sigma; 0 = leave them alone */
    int32_t verbose; /* log every layer */
} weight_stats_params;

static const ptq_param_def weight_stats_param_defs[] = {
    {"top", PTQ_PARAM_INT, 0, offsetof(weight_stats_params, top), 0, 1000, 3, NULL, NULL,
     "how many layers with the widest weight range to log"},
    {"clip", PTQ_PARAM_FLOAT, 0, offsetof(weight_stats_params, clip), 0, 100, 0, NULL, NULL,
     "clip weights to +-clip standard deviations of their layer (0: no clipping)"},
    {"verbose", PTQ_PARAM_BOOL, 0, offsetof(weight_stats_params, verbose), 0, 1, 0, NULL, NULL,
     "log every layer"},
    {0},
};

/* ---- the pass ------------------------------------------------------------------------ */

typedef struct layer_range {
    int32_t node;
    float min, max, sigma;
} layer_range;

static ptq_status weight_stats_run(const ptq_host *host, ptq_session *s, const void *params) {
    const weight_stats_params *p = params;
    const int32_t n_nodes = host->node_count(s);
    layer_range *ranges = host->alloc((size_t)n_nodes * sizeof *ranges);
    if (!ranges) return host->error(s, PTQ_ERR_NOMEM, "out of memory");
    int32_t n = 0;
    for (int32_t i = 0; i < n_nodes; i++) {
        ptq_node_info info;
        if (host->node_info(s, i, &info)) continue;
        if (info.op != PTQ_OP_CONV && info.op != PTQ_OP_GEMM && info.op != PTQ_OP_MATMUL) continue;
        ptq_tensor_view w;
        if (host->value_view(s, info.inputs[1], &w) || !w.data || w.dtype != PTQ_DTYPE_F32) continue;
        int64_t count = 1;
        for (int32_t d = 0; d < w.ndim; d++) count *= w.ne[d];
        float *x = w.data, lo = INFINITY, hi = -INFINITY;
        double sum = 0.0, sum2 = 0.0;
        for (int64_t k = 0; k < count; k++) {
            lo = fminf(lo, x[k]);
            hi = fmaxf(hi, x[k]);
            sum += x[k];
            sum2 += (double)x[k] * x[k];
        }
        const double mean = sum / (double)count;
        const float sigma = (float)sqrt(fmax(sum2 / (double)count - mean * mean, 0.0));
        if (p->clip > 0) {
            const float c = (float)(p->clip * sigma);
            int64_t clipped = 0;
            for (int64_t k = 0; k < count; k++) {
                if (x[k] > c) x[k] = c, clipped++;
                if (x[k] < -c) x[k] = -c, clipped++;
            }
            host->value_changed(s, info.inputs[1]); /* the host drops cached copies */
            if (p->verbose)
                host->log(s, PTQ_LOG_INFO, "%s: clipped %lld weights", host->node_name(s, i),
                          (long long)clipped);
        }
        ranges[n++] = (layer_range){i, lo, hi, sigma};
        if (p->verbose)
            host->log(s, PTQ_LOG_INFO, "%s: weights in [%g, %g], sigma %g", host->node_name(s, i),
                      lo, hi, sigma);
    }
    /* The `top` widest ranges (a small selection sort: n is the number of layers). */
    for (int64_t t = 0; t < p->top && t < n; t++) {
        int32_t best = (int32_t)t;
        for (int32_t k = (int32_t)t + 1; k < n; k++)
            if (ranges[k].max - ranges[k].min > ranges[best].max - ranges[best].min) best = k;
        layer_range tmp = ranges[t];
        ranges[t] = ranges[best];
        ranges[best] = tmp;
        host->log(s, PTQ_LOG_INFO, "widest weight range #%lld: %s [%g, %g]", (long long)t + 1,
                  host->node_name(s, ranges[t].node), ranges[t].min, ranges[t].max);
    }
    /* The session owns the table from here and frees it with host->free. */
    return host->artifact_set(s, "template.weight_ranges", ranges, (size_t)n * sizeof *ranges,
                              host->free);
}

static const char *const weight_stats_writes[] = {"template.weight_ranges", NULL};
/* With `clip` the pass rewrites weights, so it declares what that makes stale: the ranges
 * computed from the old weights, rounding learned for them, activation ranges and a bias
 * correction downstream (ptq_plugin.h, "Invalidation").  The table is static, so it is
 * declared even when clip = 0; the pipeline then refuses an explicit earlier pass whose
 * result it would throw away, and recomputes the host's own calibration after it. */
static const char *const weight_stats_invalidates[] = {
    "quant.weights", "quant.weights.tuned", "quant.activations", "quant.activations.tuned",
    "quant.rounding", "graph.bias_corrected", NULL};

static const ptq_pass_def weight_stats_pass = {
    sizeof(ptq_pass_def),
    "template.weight_stats",
    "log the widest weight ranges, optionally clip outlier weights",
    weight_stats_param_defs,
    sizeof(weight_stats_params),
    NULL, /* reads: nothing beyond the model */
    NULL, /* reads_optional */
    weight_stats_writes,
    weight_stats_run,
    weight_stats_invalidates, /* since SDK 0.4 */
};

/* ---- the plugin ------------------------------------------------------------------------ */

static ptq_status template_init(const ptq_host *host) {
    /* The host checked the major version; a host of an older minor version has a shorter
     * table.  Everything this plugin calls is in the 0.1 table, so it runs on any 0.x host;
     * a plugin that calls a later member checks that one (and only that one):
     *     if (!PTQ_HOST_HAS(host, report_row)) return host->error(NULL, ...);
     * Comparing struct_size with sizeof(ptq_host) would refuse every older host, even
     * those that have all it needs. */
    if (!PTQ_HOST_HAS(host, artifact_set) || !PTQ_HOST_HAS(host, value_changed))
        return host->error(NULL, PTQ_ERR_UNSUPPORTED, "needs a ptq with plugin ABI >= 0.1");
    H = host;
    return PTQ_OK;
}

static void template_deinit(void) { H = NULL; }

static const ptq_pass_def *const template_passes[] = {&weight_stats_pass, NULL};

static const ptq_plugin_desc template_desc = {
    PTQ_VERSION_INIT,
    sizeof(ptq_plugin_desc),
    PTQ_ABI_FINGERPRINT,
    "template",
    "0.1.0",
    "a template plugin: weight statistics and optional outlier clipping",
    template_init,
    template_deinit,
    template_passes,
};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &template_desc; }
