/* pipeline.h — a pipeline: the YAML file parsed, validated against the pass tables and
 * resolved (every default explicit, the host's implicit passes inserted). */
#ifndef PTQ_PIPELINE_H
#define PTQ_PIPELINE_H

#include "internal.h"
#include "plugin/plugin.h"
#include "quant/config.h"

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
    ptq_quant_config quant;  /* the quantization section */
    ptq_pass_cfg *passes;    /* in run order, implicit ones included */
    int32_t n_passes;
    char *out_dir;           /* owned */
    bool export_onnx;
    char *onnx_name;         /* owned, file name inside out_dir */
    uint64_t seed;
    int64_t batch;           /* evaluation and calibration batch size */
    int32_t threads;         /* 0 = default */
    int32_t input_ndim;      /* `input_shape:` (C,H,W or N,C,H,W), 0 when not given */
    int64_t input_shape[PTQ_MAX_DIMS];
    char **notes;            /* owned: what planning decided that the user should know */
    int32_t n_notes;
} ptq_pipeline;

/* The session's view of the pipeline: borrowed pointers into p, valid while p lives. */
void ptq_pipeline_session_config(const ptq_pipeline *p, ptq_session_config *cfg);

/* Parses and validates a pipeline file against the registry's pass tables.  Every
 * problem is reported as "FILE:LINE:COLUMN: message" (the first one found; nothing runs
 * on an invalid file).  Relative paths in the file are resolved against the directory
 * of the file.  Returns NULL with err set. */
ptq_pipeline *ptq_pipeline_load(const char *path, const ptq_registry *reg, ptq_error *err);
void ptq_pipeline_free(ptq_pipeline *p);

/* The file's YAML document, with the same limits a load applies (size, nesting, one
 * document); messages are "FILE:LINE:COLUMN: ...".  Delete with yaml_document_delete. */
struct yaml_document_s;
ptq_status ptq_pipeline_parse(const char *path, struct yaml_document_s *doc, ptq_error *err);

/* ptq_pipeline_load with the document edited between parsing and validation (an A/B
 * variant's overlays, variants.c).  Edited nodes keep their own marks, so messages still
 * point into the file. */
typedef ptq_status (*ptq_pipeline_edit_fn)(void *ctx, struct yaml_document_s *doc, ptq_error *err);
ptq_pipeline *ptq_pipeline_load_edited(const char *path, const ptq_registry *reg,
                                       ptq_pipeline_edit_fn edit, void *edit_ctx, ptq_error *err);

/* What step `step` of the plan computes, as text: step 0 everything a session starts from
 * (model, data, quantization, seed, batch), step i the i-th pass with every parameter.
 * Two runs whose steps 0..i have equal texts are in the same state after step i (what an
 * A/B shares).  Thread counts are left out: results do not depend on them.  Owned by the
 * caller; NULL when out of memory. */
char *ptq_pipeline_fingerprint(const ptq_pipeline *p, int32_t step);

/* Prints the resolved plan as YAML with every default explicit (what `ptq run
 * --dry-run` shows): it can be fed back to ptq run. */
void ptq_pipeline_print(const ptq_pipeline *p, FILE *out);
/* The same with output.dir replaced by the directory actually used (--out), NULL: the
 * file's. */
void ptq_pipeline_print_as(const ptq_pipeline *p, const char *out_dir, FILE *out);

#endif
