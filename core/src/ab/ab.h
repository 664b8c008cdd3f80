/* ab.h — the A/B layer's own declarations: the plan (runs, and the tree of steps they
 * share), the processes that execute it, and the transport between MPI ranks.
 *
 *   ab_plan.c   variants x seeds -> runs; checks; the step tree
 *   ab_exec.c   worker processes: a shared prefix runs once, then forks per branch
 *   ab.c        the command: output directory, progress, results, statistics, reports
 *   ab_json.c   ab.json;  ab_html.c ab.html;  abstats.c the statistics
 *   ab_mpi.c    with Open MPI: runs spread over ranks, run directories gathered on rank 0 */
#ifndef PTQ_AB_H
#define PTQ_AB_H

#include "ab_report.h"
#include "pipeline/run.h"
#include "pipeline/variants.h"

/* One run of the plan: a variant's pipeline with one seed. */
typedef struct ab_run {
    ptq_pipeline *p;        /* owned */
    char *variant;          /* owned */
    int32_t variant_index, seed_index;
    char *dir;              /* owned: "<variant>/seed<seed>", relative to the A/B directory */
    char **fp;              /* owned: fingerprints of steps 0..p->n_passes */
    int32_t node;           /* the tree node where it ends */
} ab_run;

/* A node of the step tree: the state after one step of every run below it. */
typedef struct ab_node {
    int32_t parent;         /* -1 for the root (nothing done) */
    int32_t step;           /* 0: begin (session, data); i: pass i-1 */
    int32_t run0;           /* a run below: its pipeline says what the step is */
    int32_t *kids, n_kids;
    int32_t *ends, n_ends;  /* runs that finish here */
    int32_t *runs, n_runs;  /* every run below, in plan order */
} ab_node;

typedef struct ab_plan {
    ab_run *runs;
    int32_t n_runs;
    char **variants;        /* names, in order */
    int32_t n_variants;
    int32_t seeds;
    ab_node *nodes;         /* nodes[0] is the root */
    int32_t n_nodes;
    int32_t max_passes;
    char *title;            /* the files, as given */
} ab_plan;

/* Variants of every file (a file without `variants:` is one variant named after it) x
 * seeds; every pipeline validated, every error reported; the same model and evaluation
 * data required of all.  NULL with err set. */
ab_plan *ab_plan_build(const char *const *paths, int32_t n, int32_t seeds, const ptq_registry *reg,
                       ptq_error *err);
/* The step tree over a subset of the runs (all when keep is NULL). */
ptq_status ab_plan_tree(ab_plan *pl, const bool *keep, ptq_error *err);
/* "pass name" of a node's step ("setup" for step 0). */
const char *ab_node_label(const ab_plan *pl, int32_t node);
void ab_plan_free(ab_plan *pl);

/* ---- processes (ab_exec.c) ---- */

enum { AB_MSG_HELLO, AB_MSG_STEP, AB_MSG_STEP_DONE, AB_MSG_PROGRESS, AB_MSG_RUN_DONE, AB_MSG_BYE };
/* Workers -> the coordinator, one write each (below PIPE_BUF, so never interleaved). */
typedef struct ab_msg {
    int32_t kind, node, run, status;
    int32_t pid;
    int64_t done, total;
    double value;           /* STEP_DONE: seconds; BYE: peak resident MB */
    char text[96];
} ab_msg;

typedef struct ab_exec {
    const ab_plan *pl;
    const char *root_dir;   /* the A/B's temporary directory */
    const char *final_dir;  /* what pipeline.yaml files name */
    ptq_run_given given;    /* evaluation set and float result, computed once */
    int token_rd, token_wr; /* the job tokens (a pipe holding `jobs` bytes) */
    int msg_wr;             /* the coordinator's message pipe */
    int32_t threads;        /* per worker */
} ab_exec;

/* Runs in a fresh process (the root worker) and never returns: the tree from its root,
 * forking at every branch, each run's directory renamed into place when it finishes
 * (`<root_dir>/<run dir>`, with run.txt, predictions.npy and log.txt beside the run's
 * own outputs), failed runs given a directory with run.txt saying why. */
void ab_exec_root(ab_exec *x) __attribute__((noreturn));

/* run.txt: what the coordinator reads back about a finished (or failed) run. */
ptq_status ab_read_run(const char *dir, const ab_run *run, int64_t images, const int32_t *labels,
                       ptq_ab_run *out);

/* ---- transport (ab_mpi.c; without Open MPI, one rank) ---- */
typedef struct ab_ranks {
    int rank, size, local_size;
} ab_ranks;
/* Starts MPI when launched by mpirun (its environment says so); one rank otherwise. */
void ab_mpi_init(ab_ranks *r, int *argc, char ***argv);
/* Rank != 0: sends every file under `dir`/<each run dir> to rank 0; rank 0: receives the
 * other ranks' files into `dir`.  Collective. */
ptq_status ab_mpi_gather(const ab_ranks *r, const char *dir, const ab_plan *pl, const bool *mine,
                         ptq_error *err);
void ab_mpi_finalize(const ab_ranks *r);

/* ---- the command (ab.c) and its reports ---- */
ptq_status ab_json_write(FILE *f, const ptq_ab_report *r);
void ab_print_table(FILE *f, const ptq_ab_report *r);
/* The variant that beats every other, each significantly (Holm), or -1. */
int32_t ab_winner(const ptq_ab_report *r);

#endif
