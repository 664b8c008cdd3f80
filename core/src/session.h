/* session.h — one run of one pipeline: the working graph, its quantizers, the datasets,
 * the artifacts passes leave for each other.  The host table (host.c) is the plugins'
 * view of it. */
#ifndef PTQ_SESSION_H
#define PTQ_SESSION_H

#include "pipeline.h"
#include "plugin.h"

typedef struct ptq_quantizer {
    int32_t value;          /* the quantized value (a weight constant or an activation) */
    bool is_weight;
    int32_t node;           /* weights: the Conv/Gemm/MatMul using them; else -1 */
    ptq_qspec spec;         /* what the configuration asks for */
    ptq_qparams qp;         /* the grid (owned) */
    bool calibrated;
    ptq_rounding rounding;  /* copy of a plugin's rounding functions (struct_size 0: nearest) */
    void *rounding_state;   /* plugin-owned, destroyed through rounding.destroy */
} ptq_quantizer;

typedef struct ptq_bn_stats {
    int32_t node;           /* the Conv/Gemm the BatchNormalization was folded into */
    char *bn_name;          /* owned: the folded node's name, for reports */
    ptq_tensor *gamma, *beta, *mean, *var; /* owned, [C] */
    float epsilon;
} ptq_bn_stats;

typedef struct ptq_artifact {
    char *name;
    void *data;
    size_t size;
    void (*destroy)(void *);
} ptq_artifact;

struct ptq_session {
    const ptq_pipeline *pipe;
    ptq_graph *g;            /* the working model (float; BN folded once fold_bn ran) */
    ptq_dataset *calib;      /* may be NULL */
    ptq_quantizer *q;
    int32_t n_q;
    ptq_bn_stats *bn;
    int32_t n_bn;
    ptq_artifact *art;
    int32_t n_art;
    uint64_t rng;
    int32_t threads;
    int64_t batch;
    ptq_error err;           /* the current pass's error */
    const char *pass_name;   /* the pass running, for log lines */
    bool tty;                /* stderr is a terminal: draw progress bars */
    double progress_t0;
};

typedef struct ptq_calibrate_params {
    int64_t images;
    int32_t weights, activations;
} ptq_calibrate_params;

/* The core passes' run functions. */
ptq_status ptq_pass_fold_bn(const ptq_host *host, ptq_session *s, const void *params);
ptq_status ptq_pass_calibrate(const ptq_host *host, ptq_session *s, const void *params);

#endif
