/* report.h — report.json: what a run did and measured.  The keys DESIGN.md lists are
 * stable (scripts read them): float.top1, quantized.top1, passes[], layers[], config,
 * seed; docs/PIPELINES.md describes every key. */
#ifndef PTQ_REPORT_H
#define PTQ_REPORT_H

#include "pipeline.h"
#include "quant/measure.h"

typedef struct ptq_pass_record {
    const ptq_pass_cfg *cfg;
    double seconds;
    ptq_measurement before, after;
} ptq_pass_record;

typedef struct ptq_run_results {
    ptq_eval_result fl, qu;
    bool have_eval;
    bool float_cached;        /* the float evaluation came from the cache */
    ptq_fidelity fid;         /* every output against the float model on the evaluation set:
                                 without labels, or with evaluation.fidelity (have_fidelity) */
    bool have_fidelity;
    ptq_pass_record *passes;
    int32_t n_passes;
    ptq_measurement final;
    double seconds_total;
    const char *onnx_name;
    int64_t skipped_images[2]; /* unreadable image files skipped: calibration, evaluation */
} ptq_run_results;

void ptq_report_write(FILE *f, const ptq_pipeline *p, const ptq_session *s,
                      const ptq_run_results *r);

/* report.html: the same run as a self-contained page (report_html.c).  0, or -1 when
 * writing failed. */
int ptq_report_html_write(FILE *f, const ptq_pipeline *p, const ptq_session *s,
                          const ptq_run_results *r);

#endif
