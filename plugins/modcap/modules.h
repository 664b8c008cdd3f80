/* modules.h — ModCap's base modules: the host's reconstruction units (host->node_blocks:
 * the stem, the residual blocks, the head; or a grouping an earlier pass stored), with
 * what the capacity rules need of each: its kind, its weighted layers' parameters and
 * bit widths, and how much it sub-samples.
 *
 * Kind: the ops along the module's longest path from its input to its output, each as
 * a class (conv, fc, act, add, mul, cat; depthwise and grouped convolutions count as conv,
 * kernel sizes, strides and widths are ignored, poolings and reshapes are left out).  A
 * residual block's shortcut, identity or projection, is off that path, so a block that
 * sub-samples has the kind of the blocks it follows: "topologically homogeneous" modules
 * in MRECG's sense. */
#ifndef MODCAP_MODULES_H
#define MODCAP_MODULES_H

#include <ptq/ptq_plugin.h>

#define MC_KIND_SIZE 96

typedef struct mc_module {
    int32_t first, count;    /* its nodes: first .. first + count - 1 (units are contiguous) */
    int32_t output;          /* the value that carries its result to the modules after it */
    int32_t kind;            /* index into mc_modules.kinds */
    int32_t weighted;        /* layers with a quantized weight */
    double params;           /* their weight elements */
    double bit_params;       /* sum over them of elements x bits */
    double subsample;        /* spatial positions at its input / at its output (1, 4, ...) */
    double capacity;         /* data-free: bit_params x stride_penalty^log4(subsample) */
    char name[192];
} mc_module;

typedef struct mc_modules {
    mc_module *m;
    int32_t n;
    char (*kinds)[MC_KIND_SIZE];
    int32_t n_kinds;
    int32_t *unit_of;        /* the host's unit per node */
    int32_t n_nodes;
    int32_t input;           /* the graph input */
} mc_modules;

/* Reads the session's units into mods; -1 after h->error. */
ptq_status mc_modules_read(const ptq_host *h, ptq_session *s, double stride_penalty, mc_modules *mods);
void mc_modules_free(const ptq_host *h, mc_modules *mods);

/* Node ids of the modules first..last (inclusive) into nodes; returns their count. */
int32_t mc_module_nodes(const mc_modules *mods, int32_t first, int32_t last, int32_t *nodes);

#endif
