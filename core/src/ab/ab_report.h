/* ab_report.h — what an A/B comparison found: the runs (variant x seed), the variants'
 * summaries, every pair's paired comparison, and what was shared.  Filled by the A/B
 * runner (ab.c) from the runs' results; written as ab.json (ab_json.c), ab.html
 * (ab_html.c) and the terminal table. */
#ifndef PTQ_AB_REPORT_H
#define PTQ_AB_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum ptq_ab_status {
    PTQ_AB_OK = 0,          /* ran to the end */
    PTQ_AB_FAILED = 1,      /* stopped with an error (error says which) */
    PTQ_AB_INTERRUPTED = 2, /* Ctrl-C / SIGTERM before it finished */
    PTQ_AB_NOT_RUN = 3      /* never started (interrupted before its turn) */
} ptq_ab_status;

/* One run: one variant with one seed. */
typedef struct ptq_ab_run {
    char *variant;          /* the variant's name */
    int32_t variant_index;
    int32_t seed_index;     /* 0..K-1 */
    uint64_t seed;          /* the pipeline seed it ran with */
    char *dir;              /* its run directory, relative to the A/B directory */
    ptq_ab_status status;
    char *error;            /* failed: the message */
    double top1;            /* quantized top-1, fraction */
    double float_top1;
    int64_t images;         /* evaluation images */
    uint8_t *correct;       /* [images]: 1 where the quantized model's top-1 is the label */
    double model_sqnr_db;   /* network output SQNR against the float model */
    int32_t n_layers;       /* per-layer output SQNR after the last pass */
    char **layer_names;
    double *layer_sqnr_db;
    int32_t n_passes;       /* the passes in order, implicit ones included */
    char **pass_names;
    double *pass_seconds;
    bool *pass_shared;      /* ran once for several runs (its time is the shared run's) */
    int32_t n_units;        /* reconstruction units in order: final loss of each */
    char **unit_names;
    double *unit_loss;
    double seconds;         /* wall time of the run, shared steps included */
} ptq_ab_run;

/* One variant: its runs' top-1 over seeds. */
typedef struct ptq_ab_variant {
    char *name;
    int32_t n_runs, n_ok;   /* runs, runs that finished */
    int32_t *runs;          /* indices into ptq_ab_report.runs, by seed */
    double mean, sd, min, max; /* top-1 over the finished runs (sd: sample, 0 for one) */
} ptq_ab_variant;

/* Variant b against variant a, pooled over the seeds both finished: b's top-1 minus a's. */
typedef struct ptq_ab_pair {
    int32_t a, b;           /* variant indices, a < b */
    int32_t seeds;          /* seed pairs compared */
    int64_t n;              /* image pairs (images x seeds) */
    int64_t only_a, only_b; /* discordant: right only under a / only under b */
    double diff;            /* mean over seeds of top1(b) - top1(a) */
    double lo, hi;          /* its 95 % interval */
    double p;               /* McNemar's exact test, two-sided */
    double p_holm;          /* Holm-adjusted over all pairs */
    bool significant;       /* p_holm < 0.05 and the interval excludes 0 */
} ptq_ab_pair;

/* Work done once for several runs. */
typedef struct ptq_ab_shared {
    char *what;             /* "setup" or the pass names, e.g. "core.fold_bn, fdda.synthesize" */
    int32_t n_runs;
    int32_t *runs;          /* the runs it served */
    double seconds;
} ptq_ab_shared;

typedef struct ptq_ab_report {
    char *title;            /* the A/B file(s) */
    char *model;
    char *evaluation;       /* evaluation images */
    bool complete;          /* false: interrupted, some runs missing */
    int32_t n_runs, n_variants, n_pairs, n_shared;
    ptq_ab_run *runs;
    ptq_ab_variant *variants;
    ptq_ab_pair *pairs;
    ptq_ab_shared *shared;
    int32_t seeds;          /* K */
    int32_t jobs;           /* processes run at once */
    int32_t ranks;          /* MPI ranks (1 without MPI) */
    double seconds;         /* wall time */
    double peak_rss_mb;     /* largest resident set of any one process */
    double sum_peak_rss_mb; /* the processes' peaks summed (an upper bound at any moment) */
} ptq_ab_report;

/* ab.html: one self-contained page (inline SVG, no script, no network). */
int ptq_ab_html_write(FILE *f, const ptq_ab_report *r);

#endif
