/* run.h — running a plan in stages: begin (session, data, the float evaluation), one
 * pass at a time (each measured before and after), finish (quantized evaluation, export,
 * report.json, report.html, pipeline.yaml into a directory).  `ptq run` calls them in a
 * row; an A/B (ab.c) runs a shared prefix once and forks the state for each run that
 * continues from it, so a run's stages may belong to different pipelines that agree on
 * what was run (ptq_pipeline_fingerprint). */
#ifndef PTQ_RUN_H
#define PTQ_RUN_H

#include "report.h"

typedef struct ptq_run_state {
    ptq_session *s;
    ptq_dataset *eval;          /* owned unless eval_borrowed */
    bool eval_borrowed;
    ptq_graph *reference;       /* the model as imported: what passes are measured against */
    ptq_measurer mr;
    ptq_run_results r;          /* r.passes has room for cap_passes */
    int32_t cap_passes;
    double t_start;
    ptq_preprocess norm;        /* the normalization the export carries (have_norm) */
    bool have_norm;
    char norm_from[64];
} ptq_run_state;

/* What a caller may hand to ptq_run_begin so work done once is not done again. */
typedef struct ptq_run_given {
    ptq_dataset *eval;          /* the evaluation set, loaded and checked (borrowed) */
    const ptq_eval_result *float_eval; /* the float model's evaluation on it */
    int32_t threads;            /* > 0: the session's threads, whatever the pipeline says */
} ptq_run_given;

/* Opens the model and data and checks them, evaluates the float model (or takes the
 * given result, or the cache's).  work_dir receives what passes write (output_path).
 * max_passes: room for that many pass records. */
ptq_status ptq_run_begin(ptq_run_state *rs, const ptq_pipeline *p, const char *work_dir,
                         int32_t max_passes, const ptq_run_given *given, ptq_error *err);
/* Runs pass `index` of p (measured before and after; a failure names the pass). */
ptq_status ptq_run_pass(ptq_run_state *rs, const ptq_pipeline *p, int32_t index, ptq_error *err);
/* The end of p: checks every quantizer was calibrated, measures, evaluates the quantized
 * model (writing each image's top-1 class into predicted[] when non-NULL), exports, and
 * writes report.json, report.html and pipeline.yaml into dir; shown_dir is what
 * pipeline.yaml names as its output directory. */
ptq_status ptq_run_finish(ptq_run_state *rs, const ptq_pipeline *p, const char *dir,
                          const char *shown_dir, int32_t *predicted, ptq_error *err);
void ptq_run_state_free(ptq_run_state *rs);

#endif
