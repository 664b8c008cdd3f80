/* rewrite.c — a test plugin whose passes change the float model's weights, to test what
 * the host does about it: `rewrite.clip` clips every layer's weights to a fraction of
 * their largest magnitude (a harmful "outlier clipping" that makes the quantization error
 * against the clipped model look smaller) and declares what it invalidates;
 * `rewrite.undeclared` scales them by 1.5 and declares nothing, which the host must
 * notice at run time. */
#include <stddef.h>

#include "ptq/ptq_plugin.h"

typedef struct params {
    double fraction;
} params;

static const ptq_param_def defs[] = {
    {"fraction", PTQ_PARAM_FLOAT, 0, offsetof(params, fraction), 0.01, 1, 0.3, NULL, NULL,
     "clip to this fraction of each layer's largest |weight|"},
    {0},
};

static ptq_status rewrite(const ptq_host *host, ptq_session *s, double fraction, float scale) {
    for (int32_t i = 0; i < host->node_count(s); i++) {
        ptq_node_info info;
        if (host->node_info(s, i, &info)) continue;
        if (info.op != PTQ_OP_CONV && info.op != PTQ_OP_GEMM && info.op != PTQ_OP_MATMUL) continue;
        ptq_tensor_view w;
        if (host->value_view(s, info.inputs[1], &w) || !w.data) continue;
        int64_t n = 1;
        for (int32_t d = 0; d < w.ndim; d++) n *= w.ne[d];
        float *x = w.data, m = 0.0f;
        for (int64_t k = 0; k < n; k++) m = x[k] > m ? x[k] : (-x[k] > m ? -x[k] : m);
        const float c = (float)fraction * m;
        for (int64_t k = 0; k < n; k++) {
            x[k] *= scale;
            if (fraction < 1.0) x[k] = x[k] > c ? c : (x[k] < -c ? -c : x[k]);
        }
        host->value_changed(s, info.inputs[1]);
    }
    return PTQ_OK;
}

static ptq_status clip_run(const ptq_host *host, ptq_session *s, const void *p) {
    return rewrite(host, s, ((const params *)p)->fraction, 1.0f);
}

static ptq_status undeclared_run(const ptq_host *host, ptq_session *s, const void *p) {
    (void)p;
    return rewrite(host, s, 1.0, 1.5f);
}

static const char *const invalidates[] = {"quant.weights", "quant.weights.tuned",
                                          "quant.activations", "quant.activations.tuned",
                                          "quant.rounding", "graph.bias_corrected", NULL};
static const char *const reads[] = {"graph.bn_folded", NULL};
static const ptq_pass_def clip = {sizeof(ptq_pass_def), "rewrite.clip", "clips weights",
                                  defs, sizeof(params), reads, NULL, NULL, clip_run, invalidates};
static const ptq_pass_def undeclared = {sizeof(ptq_pass_def), "rewrite.undeclared",
                                        "scales weights, declaring nothing", NULL, 0, reads, NULL,
                                        NULL, undeclared_run, NULL};
static const ptq_pass_def *const passes[] = {&clip, &undeclared, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "rewrite", "0.1.0", "weight-rewriting test passes", NULL,
                                     NULL, passes};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
