/* dfq.c — the DFQ plugin: its passes, their parameters, and ReLU6 replacement.
 *
 * Data-Free Quantization (Nagel, van Baalen, Blankevoort, Welling; ICCV 2019) makes a
 * network quantizable per tensor without data or training:
 *
 *   dfq.replace_relu6  ReLU6 -> ReLU, so equalization can scale across it    (step 0)
 *   dfq.equalize       cross-layer equalization of weight ranges            (step 1)
 *   dfq.absorb_bias    high-bias absorption into the next layer             (step 2)
 *   dfq.bn_ranges      activation ranges from BatchNormalization statistics (step 5)
 *   dfq.correct_bias   bias correction, analytic (no data) or empirical     (step 4)
 *
 * Equalization and absorption rewrite the float model and should run first, before any
 * quantizer is calibrated; bias correction needs the weight grids (the pipeline calibrates
 * them just before it).  A fully data-free pipeline: replace_relu6, equalize,
 * absorb_bias, bn_ranges, correct_bias {mode: analytic}, with no calibration section.
 *
 * Choices where the paper leaves room (see docs/METHODS.md card 6):
 *  - ranges are max |w| (the paper and AIMET), not max - min (an unofficial re-
 *    implementation);
 *  - equalization repeats its sweep until no channel scale moves by more than
 *    `tolerance` (AIMET does one sweep); depthwise triples reach the cube-root solution;
 *  - ReLU6 `mode: keep` leaves the ReLU6 in place and equalization refuses to scale across
 *    it: keeping it *and* equalizing would need a per-channel clip bound (6 / s_c), which
 *    the graph IR has no op for yet.
 * Requires SDK 0.2 (node_set_clip, input_range, quantizer_set_range, quantizer_apply). */
#include <math.h>
#include <stddef.h>

#include "dfq.h"

/* ---- dfq.replace_relu6 -------------------------------------------------------------- */

ptq_status dfq_replace_relu6(const ptq_host *h, ptq_session *s, const void *params) {
    const dfq_relu6_params *p = params;
    int32_t found = 0;
    for (int32_t node = 0; node < h->node_count(s); node++) {
        ptq_node_info ni;
        if (h->node_info(s, node, &ni) || ni.op != PTQ_OP_CLIP) continue;
        if (ni.clip_min != 0.0f || ni.clip_max != 6.0f) continue;
        found++;
        if (p->mode == 1) continue;
        ptq_status st = h->node_set_clip(s, node, 0.0f, INFINITY);
        if (st) return st;
    }
    h->log(s, PTQ_LOG_INFO, p->mode == 1 ? "kept %d ReLU6 (equalization will not scale across them)"
                                         : "replaced %d ReLU6 by ReLU", found);
    return PTQ_OK;
}

/* ---- the plugin's tables ------------------------------------------------------------ */

static const char *const relu6_modes[] = {"relu", "keep", NULL};
static const ptq_param_def relu6_params[] = {
    {"mode", PTQ_PARAM_ENUM, 0, offsetof(dfq_relu6_params, mode), 0, 0, 0, NULL, relu6_modes,
     "relu: replace Clip(0, 6) by ReLU (changes the float function slightly); keep: leave it"},
    {0},
};

static const ptq_param_def equalize_params[] = {
    {"tolerance", PTQ_PARAM_FLOAT, 0, offsetof(dfq_equalize_params, tolerance), 0, 1, 1e-4, NULL,
     NULL, "stop when no channel scale changes by more than this (|log s|)"},
    {"max_iterations", PTQ_PARAM_INT, 0, offsetof(dfq_equalize_params, max_iterations), 1, 100000,
     1000, NULL, NULL, "most sweeps over all layer pairs"},
    {0},
};

static const ptq_param_def absorb_params[] = {
    {"sigmas", PTQ_PARAM_FLOAT, 0, offsetof(dfq_absorb_params, sigmas), 0, 20, 3, NULL, NULL,
     "absorb max(0, beta - sigmas * |gamma|) of each channel that a ReLU follows"},
    {0},
};

static const char *const correct_modes[] = {"analytic", "empirical", NULL};
static const ptq_param_def correct_params[] = {
    {"mode", PTQ_PARAM_ENUM, 0, offsetof(dfq_correct_params, mode), 0, 0, 0, NULL, correct_modes,
     "analytic: expected inputs from BN statistics (no data); empirical: measured on "
     "calibration images"},
    {"images", PTQ_PARAM_INT, 0, offsetof(dfq_correct_params, images), 1, 1 << 20, 256, NULL,
     NULL, "calibration images for mode: empirical"},
    {0},
};

static const ptq_param_def ranges_params[] = {
    {"sigmas", PTQ_PARAM_FLOAT, 0, offsetof(dfq_ranges_params, sigmas), 0.5, 20, 6, NULL, NULL,
     "each channel's range is beta +- sigmas * |gamma|, clipped by its activation"},
    {0},
};

static const char *const reads_folded[] = {"graph.bn_folded", NULL};
static const char *const reads_weights[] = {"graph.bn_folded", "quant.weights", NULL};
static const char *const reads_calib[] = {"calib.data", NULL};
static const char *const writes_acts[] = {"quant.activations", NULL};
static const char *const writes_corrected[] = {"graph.bias_corrected", NULL};
/* What each rewrite makes stale (ptq_plugin.h, "Invalidation"): equalization rescales
 * weights, biases and the activations between the pair; ReLU6 -> ReLU and bias
 * absorption change what layers output, so ranges, learned rounding and a bias
 * correction computed before no longer hold. */
static const char *const inv_equalize[] = {"quant.weights", "quant.weights.tuned",
                                           "quant.activations", "quant.activations.tuned",
                                           "quant.rounding", "graph.bias_corrected", NULL};
static const char *const inv_outputs[] = {"quant.activations", "quant.activations.tuned",
                                          "quant.rounding", "graph.bias_corrected", NULL};
static const char *const inv_ranges[] = {"quant.activations.tuned", NULL};

static const ptq_pass_def replace_relu6_pass = {
    sizeof(ptq_pass_def), "dfq.replace_relu6",
    "replace ReLU6 (Clip 0..6) by ReLU so equalization can scale across it",
    relu6_params, sizeof(dfq_relu6_params), reads_folded, NULL, NULL, dfq_replace_relu6,
    inv_outputs,
};

static const ptq_pass_def equalize_pass = {
    sizeof(ptq_pass_def), "dfq.equalize",
    "cross-layer equalization: balance per-channel weight ranges of consecutive layers",
    equalize_params, sizeof(dfq_equalize_params), reads_folded, NULL, NULL, dfq_equalize,
    inv_equalize,
};

static const ptq_pass_def absorb_pass = {
    sizeof(ptq_pass_def), "dfq.absorb_bias",
    "high-bias absorption: move bias a ReLU passes unchanged into the next layer",
    absorb_params, sizeof(dfq_absorb_params), reads_folded, NULL, NULL, dfq_absorb_bias,
    inv_outputs,
};

static const ptq_pass_def correct_pass = {
    sizeof(ptq_pass_def), "dfq.correct_bias",
    "bias correction: remove the output-mean shift that weight quantization causes",
    correct_params, sizeof(dfq_correct_params), reads_weights, reads_calib, writes_corrected,
    dfq_correct_bias, NULL,
};

static const ptq_pass_def ranges_pass = {
    sizeof(ptq_pass_def), "dfq.bn_ranges",
    "data-free activation ranges from BatchNormalization statistics",
    ranges_params, sizeof(dfq_ranges_params), reads_folded, NULL, writes_acts, dfq_bn_ranges,
    inv_ranges,
};

static const ptq_pass_def *const passes[] = {&replace_relu6_pass, &equalize_pass, &absorb_pass,
                                             &ranges_pass, &correct_pass, NULL};

/* Every SDK 0.2 member the passes call (node_set_clip, input_range, report_row,
 * quantizer_set_range, quantizer_apply) is checked once here, not at each use. */
static ptq_status dfq_init(const ptq_host *h) {
    if (!PTQ_HOST_HAS(h, quantizer_apply))
        return h->error(NULL, PTQ_ERR_UNSUPPORTED, "dfq needs a host with SDK 0.2 or later "
                        "(this one is %u.%u)", h->abi.major, h->abi.minor);
    return PTQ_OK;
}

static const ptq_plugin_desc desc = {
    PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT, "dfq", "0.1.0",
    "data-free quantization: ReLU6 replacement, cross-layer equalization, bias absorption, "
    "bias correction, BN-based ranges",
    dfq_init, NULL, passes,
};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
