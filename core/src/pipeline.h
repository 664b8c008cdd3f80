/* pipeline.h — a pipeline: the YAML file parsed, validated against the pass tables and
 * resolved (every default explicit, the host's implicit passes inserted). */
#ifndef PTQ_PIPELINE_H
#define PTQ_PIPELINE_H

#include "internal.h"
#include "plugin.h"

/* A position in the YAML file, for messages ("file:line:column"), 1-based. */
typedef struct ptq_src_pos {
    int32_t line, column;
} ptq_src_pos;

typedef struct ptq_dataset_cfg {
    bool present;
    char *images, *labels;  /* owned, resolved paths (labels may be NULL) */
    int64_t count;          /* images to use, 0 = all */
    int64_t offset;         /* skip this many first (when not sampling) */
    bool sample;            /* draw `count` images at random with the pipeline's seed */
    int32_t n_mean, n_std;
    float mean[16], std[16];
    int32_t norm_from;      /* where mean/std came from: PTQ_NORM_* */
    ptq_src_pos pos;
} ptq_dataset_cfg;

#define PTQ_NORM_NONE 0     /* none known: images used as scaled to [0,1] */
#define PTQ_NORM_FILE 1     /* the pipeline's `normalize` */
#define PTQ_NORM_SIDECAR 2  /* the model's MODEL.json */

/* Which fields of a quantizer spec an override sets. */
#define PTQ_QF_BITS 1u
#define PTQ_QF_SYMMETRIC 2u
#define PTQ_QF_GRANULARITY 4u
#define PTQ_QF_OBSERVER 8u
#define PTQ_QF_PERCENTILE 16u

typedef struct ptq_override {
    char **nodes;           /* owned: node names, or the keywords "first" / "last" */
    int32_t n_nodes;
    bool keep_float;        /* `float: true`: no quantizers on this node at all */
    uint32_t w_fields, a_fields; /* PTQ_QF_* given for weights / activations */
    ptq_qspec w, a;         /* the given fields (others unset) */
    ptq_src_pos pos;
} ptq_override;

typedef struct ptq_pass_cfg {
    const ptq_pass_def *def; /* borrowed from the registry */
    void *params;            /* owned, def->params_size bytes, every field filled */
    char **strings;          /* owned copies of string parameters (params point at them) */
    int32_t n_strings;
    bool implicit;           /* inserted by the pipeline, not written in the file */
    ptq_src_pos pos;
} ptq_pass_cfg;

typedef struct ptq_pipeline {
    char *path;              /* owned: the YAML file */
    char *model;             /* owned: resolved path of the ONNX model */
    ptq_dataset_cfg calibration, evaluation;
    ptq_qspec weights, activations; /* defaults for every quantizer */
    bool quantize_weights, quantize_activations; /* false with bits: 32 (float) */
    bool quantize_input;     /* the network input (input of the first layer) */
    bool quantize_output;    /* the network output */
    int32_t target;          /* PTQ_TARGET_*: what the export must run exactly on */
    ptq_src_pos weights_pos, target_pos; /* where quantization.weights / target were given */
    ptq_override *overrides;
    int32_t n_overrides;
    ptq_pass_cfg *passes;    /* in run order, implicit ones included */
    int32_t n_passes;
    char *out_dir;           /* owned */
    bool export_onnx;
    char *onnx_name;         /* owned, file name inside out_dir */
    uint64_t seed;
    int64_t batch;           /* evaluation and calibration batch size */
    int32_t threads;         /* 0 = default */
    char **notes;            /* owned: what planning decided that the user should know */
    int32_t n_notes;
} ptq_pipeline;

/* The preprocessing a dataset section asks for (its normalization; pixel scaling
 * automatic). */
void ptq_dataset_cfg_preprocess(const ptq_dataset_cfg *c, ptq_preprocess *pp);

/* Parses and validates a pipeline file against the registry's pass tables.  Every
 * problem is reported as "FILE:LINE:COLUMN: message" (the first one found; nothing runs
 * on an invalid file).  Relative paths in the file are resolved against the directory
 * of the file.  Returns NULL with err set. */
ptq_pipeline *ptq_pipeline_load(const char *path, const ptq_registry *reg, ptq_error *err);
void ptq_pipeline_free(ptq_pipeline *p);

/* Prints the resolved plan as YAML with every default explicit (what `ptq run
 * --dry-run` shows): it can be fed back to ptq run. */
void ptq_pipeline_print(const ptq_pipeline *p, FILE *out);
/* The same with output.dir replaced by the directory actually used (--out), NULL: the
 * file's. */
void ptq_pipeline_print_as(const ptq_pipeline *p, const char *out_dir, FILE *out);

#endif
