/* passes_core.c — the passes the core itself provides, registered like a plugin named
 * "core" so the pipeline, `ptq plugins` and the report treat them like any other.
 * The pipeline inserts them where the declared reads need them. */
#include <stddef.h>

#include "plugin/plugin.h"
#include "quant/session.h"

/* ---- core.fold_bn -------------------------------------------------------------- */

static const char *const fold_writes[] = {"graph.bn_folded", NULL};

static const ptq_pass_def fold_bn = {
    sizeof(ptq_pass_def),
    "core.fold_bn",
    "fold every BatchNormalization into the Conv/Gemm before it, keeping its statistics",
    NULL,
    0,
    NULL,
    NULL,
    fold_writes,
    ptq_pass_fold_bn,
    NULL,
};

/* ---- core.calibrate ---------------------------------------------------------------- */

static const ptq_param_def calibrate_params[] = {
    {"images", PTQ_PARAM_INT, 0, offsetof(ptq_calibrate_params, images), 0, 1 << 20, 0, NULL,
     NULL, "calibration images for the activation observers (0: all of the calibration set)"},
    {"weights", PTQ_PARAM_BOOL, 0, offsetof(ptq_calibrate_params, weights), 0, 1, 1, NULL, NULL,
     "(re)compute weight quantizers from the current weights"},
    {"activations", PTQ_PARAM_BOOL, 0, offsetof(ptq_calibrate_params, activations), 0, 1, 1, NULL,
     NULL, "(re)compute activation quantizers from the calibration data"},
    {0},
};
static const char *const calibrate_reads_opt[] = {"calib.data", "graph.bn_folded", NULL};
static const char *const calibrate_writes[] = {"quant.weights", "quant.activations", NULL};

static const ptq_pass_def calibrate = {
    sizeof(ptq_pass_def),
    "core.calibrate",
    "set every quantizer's scale and zero point with its observer (weights, then activations "
    "on calibration data)",
    calibrate_params,
    sizeof(ptq_calibrate_params),
    NULL,
    calibrate_reads_opt,
    calibrate_writes,
    ptq_pass_calibrate,
    NULL, /* what it invalidates depends on its parameters: the pipeline knows (pipeline.c) */
};

static const ptq_pass_def *const core_passes[] = {&fold_bn, &calibrate, NULL};

const ptq_plugin_desc ptq_core_plugin = {
    PTQ_VERSION_INIT,
    sizeof(ptq_plugin_desc),
    PTQ_ABI_FINGERPRINT,
    "core",
    PTQ_VERSION_STRING,
    "the passes built into ptq",
    NULL,
    NULL,
    core_passes,
};
