/* session.h — one run of one pipeline: the working graph, its quantizers, the datasets,
 * the artifacts passes leave for each other.  The host table (host.c) is the plugins'
 * view of it. */
#ifndef PTQ_SESSION_H
#define PTQ_SESSION_H

#include "ptq/ptq_plugin.h"
#include "quant/config.h"

typedef struct ptq_quantizer {
    int32_t value;          /* the quantized value (a weight constant or an activation) */
    bool is_weight;
    int32_t node;           /* weights: the Conv/Gemm/MatMul using them; else -1 */
    ptq_qspec spec;         /* what the configuration asks for */
    ptq_qparams qp;         /* the grid (owned) */
    bool calibrated;
    ptq_rounding rounding;  /* copy of a plugin's rounding functions (struct_size 0: nearest) */
    void *rounding_state;   /* plugin-owned, destroyed through rounding.destroy */
    ptq_tensor *borders;    /* owned: learned rounding borders [1 or C, qmax - qmin] of an
                               activation (host->quantizer_set_borders), or NULL */
} ptq_quantizer;

typedef struct ptq_bn_stats {
    char *node_name;        /* owned: the Conv/Gemm it was folded into (ids change) */
    char *bn_name;          /* owned: the folded BatchNormalization's name */
    ptq_tensor *gamma, *beta, *mean, *var; /* owned, [C] */
    float epsilon;
} ptq_bn_stats;

/* One row a pass added to a table of its report (host->report_row). */
typedef struct ptq_report_row {
    int32_t pass;           /* index of the pass in the plan */
    char *table, *name;     /* owned */
    int32_t n;
    char **cols;            /* owned, n */
    double *values;         /* owned, n */
} ptq_report_row;

typedef struct ptq_artifact {
    char *name;
    void *data;
    size_t size;
    void (*destroy)(void *);
} ptq_artifact;

struct ptq_session {
    ptq_session_config cfg;   /* what to do (pointers borrowed from the caller) */
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
    int32_t pass_index;      /* its index in the plan, for report rows */
    ptq_report_row *rows;    /* what passes added to their report tables */
    int32_t n_rows;
    bool rows_lost;          /* a row could not be recorded (out of memory): the pass fails
                              * even if it ignored report_row's status (run.c) */
    char **notes;            /* owned: choices placement made that the user should know */
    int32_t n_notes;
    const char *out_dir;     /* the run's (temporary) output directory, or NULL: borrowed */
    bool tty;                /* stderr is a terminal: draw progress bars */
    double progress_t0;      /* when the step being reported started */
    const char *progress_what; /* which step */
    int64_t progress_last;   /* its last count */
    bool progress_drawn;     /* a bar is on screen */
    double progress_t_drawn; /* when it was last drawn */
    int progress_width;      /* characters the last line took */
    /* Where progress goes instead of a bar on stderr (an A/B run reports to the process
     * that draws every run's bar); NULL: the bar. */
    void (*progress_sink)(void *ctx, const char *what, int64_t done, int64_t total);
    void *progress_sink_ctx;
};

typedef struct ptq_calibrate_params {
    int64_t images;
    int32_t weights, activations;
} ptq_calibrate_params;

/* The core passes' run functions. */
ptq_status ptq_pass_fold_bn(const ptq_host *host, ptq_session *s, const void *params);
ptq_status ptq_pass_calibrate(const ptq_host *host, ptq_session *s, const void *params);

/* Loads the model and the calibration data of a configuration.  NULL with err set. */
ptq_session *ptq_session_new(const ptq_session_config *cfg, ptq_error *err);
void ptq_report_row_clear(ptq_report_row *r);
void ptq_session_free(ptq_session *s);

/* Records the current pass's error (first message wins) and returns st. */
ptq_status ptq_session_error(ptq_session *s, ptq_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t ptq_session_rng(ptq_session *s);
/* A progress bar on stderr when it is a terminal and the step takes over a second. */
void ptq_session_progress(ptq_session *s, const char *what, int64_t done, int64_t total);

/* The BN statistics folded into node (an id of the working graph), or NULL. */
ptq_bn_stats *ptq_session_bn_of(ptq_session *s, int32_t node);

/* Places every quantizer the configuration asks for on the working graph (after BN
 * folding), where quant.placement says (PTQ_PLACEMENT_*); quantizers start uncalibrated.
 * Choices the placement had to make (a unit output read by several nodes) are logged and
 * kept in s->notes. */
ptq_status ptq_session_place_quantizers(ptq_session *s);
int32_t ptq_session_quantizer_of(const ptq_session *s, int32_t value);
/* Loads a dataset section of the pipeline and keeps its `count` images: drawn at random
 * with the session's random stream when `sample` is set, else from `offset` on.  Errors
 * are prefixed with `what` ("calibration", "evaluation"). */
ptq_dataset *ptq_session_load_dataset(ptq_session *s, const ptq_dataset_cfg *c, const char *what,
                                      ptq_error *err);
ptq_status ptq_session_calibrate_weight(ptq_session *s, int32_t q);
/* The axis of weight quantizer q's per-channel scales: the output channels, axis 0, except
 * for Gemm B without transB and 2-D MatMul B ([K, N]) whose output channels are columns
 * (axis 1); -1 when q is per tensor or not a weight quantizer, and for a MatMul B of
 * another rank (quantized per tensor). */
int32_t ptq_session_weight_axis(const ptq_session *s, int32_t q);
/* Calibrates the activation quantizers listed (all when which is NULL) on the first
 * `images` calibration images (all when 0), running the float working graph. */
ptq_status ptq_session_calibrate_activations(ptq_session *s, const int32_t *which,
                                             int32_t n_which, int64_t images);
/* Calibrates every activation quantizer again on the quantized model, in topological
 * order: each one observes its value with the weights (their rounding included) and the
 * activation quantizers before it applied, as BRECQ initialises its activation ranges
 * after the weight phase.  `images` as above. */
ptq_status ptq_session_calibrate_activations_quantized(ptq_session *s, int64_t images);

/* What the quantized model does to node's bias: when it adds it on the int32
 * accumulator's grid (a deployment target, a Conv/ConvTranspose/Gemm with quantized
 * per-tensor input and quantized weights, a 1-D float bias), rounds bias (the node's
 * output channels) to the grid in_scale * w_scales[o] in place and returns 1; else 0,
 * bias untouched.  n_scales must be the weight quantizer's scale count. */
int32_t ptq_session_bias_to_grid(const ptq_session *s, int32_t node, float in_scale,
                                 const float *w_scales, int64_t n_scales, float *bias);

/* The quantized model: a copy of the working graph with the given quantizers applied
 * (fake-quantized weights, a FAKE_QUANT node after each quantized activation).  Every
 * quantizer must be calibrated.  Free with ptq_graph_free. */
ptq_graph *ptq_session_sim_graph(ptq_session *s, const ptq_quantizer *q, int32_t n_q,
                                 ptq_error *err);
/* The integer codes of weight quantizer q (numel of its value), rounding included. */
ptq_status ptq_session_weight_codes(const ptq_session *s, int32_t q, int32_t *codes);

/* Gives quantizer q another width (2 to 8 or 16; ptq_plugin.h, quantizer_set_bits, says
 * what changes with it): the spec and the grid, uncalibrated. */
ptq_status ptq_session_set_bits(ptq_session *s, int32_t q, int32_t bits);

/* Sets (copies) or clears (borders NULL) activation quantizer q's rounding borders, a
 * [channels, bins] table (ptq_plugin.h, quantizer_set_borders, says what is accepted). */
ptq_status ptq_session_set_borders(ptq_session *s, int32_t q, const float *borders,
                                   int64_t channels, int64_t bins);

ptq_status ptq_session_artifact_set(ptq_session *s, const char *name, void *data, size_t size,
                                    void (*destroy)(void *));
void *ptq_session_artifact_get(ptq_session *s, const char *name, size_t *size);

#endif
