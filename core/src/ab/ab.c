/* ab.c — `ptq ab`: compares pipelines on one model and one evaluation set.
 *
 * The coordinator (this process) checks the whole plan, opens the evaluation data and
 * evaluates the float model once, then hands the step tree to a root worker (ab_exec.c)
 * and only watches: it draws every run's progress from the workers' messages, samples
 * the memory of the process tree, and stops the workers on Ctrl-C.  When they are done it
 * reads every run's run.txt and predictions back, computes the statistics (abstats.c),
 * writes ab.json and ab.html, prints the comparison table and moves the directory into
 * place — also after an interruption, then marked incomplete, with the finished runs
 * kept. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <omp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ab.h"
#include "abstats.h"
#include "pipeline/outdir.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

/* ---- what the coordinator knows of each run while it runs ---------------------------- */

typedef struct run_view {
    char what[160];         /* the step it is in, or its end state */
    double fraction;        /* of that step */
    int32_t steps_done, steps;
    bool started, done, failed;
} run_view;

typedef struct watch {
    ab_plan *pl;
    run_view *v;
    double *node_seconds;   /* per tree node: how long its step took */
    pid_t live[256];        /* workers seen and not yet gone */
    int32_t n_live;
    double peak_single_mb, peak_total_mb;
    bool tty;
    int lines_drawn;
    double t_drawn, t_sampled, t0;
} watch;

static void track_pid(watch *w, pid_t pid, bool gone) {
    for (int32_t i = 0; i < w->n_live; i++)
        if (w->live[i] == pid) {
            if (gone) w->live[i] = w->live[--w->n_live];
            return;
        }
    if (!gone && w->n_live < (int32_t)(sizeof w->live / sizeof w->live[0])) w->live[w->n_live++] = pid;
}

/* Proportional set size in MB (shared copy-on-write pages split between the processes
 * that share them), or 0 when the process is gone. */
static double pss_mb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Pss:", 4)) kb = strtod(line + 4, NULL);
    fclose(f);
    return kb / 1024.0;
}

static void sample_memory(watch *w) {
    double total = pss_mb(getpid());
    for (int32_t i = 0; i < w->n_live; i++) total += pss_mb(w->live[i]);
    if (total > w->peak_total_mb) w->peak_total_mb = total;
}

static void on_message(watch *w, const ab_msg *m) {
    const ab_plan *pl = w->pl;
    track_pid(w, m->pid, m->kind == AB_MSG_BYE);
    if (m->kind == AB_MSG_BYE) {
        if (m->value > w->peak_single_mb) w->peak_single_mb = m->value;
        return;
    }
    if (m->node < 0 || m->node >= pl->n_nodes) return;
    const ab_node *nd = &pl->nodes[m->node];
    if (m->kind == AB_MSG_RUN_DONE && m->run >= 0 && m->run < pl->n_runs) {
        run_view *v = &w->v[m->run];
        v->done = true;
        v->failed = m->status != PTQ_AB_OK;
        snprintf(v->what, sizeof v->what, "%s", v->failed ? "failed" : "done");
        v->fraction = 1;
        if (!w->tty)
            fprintf(stderr, "[ab] %-28s %s%s\n", pl->runs[m->run].dir, v->failed ? "FAILED: " : "done",
                    v->failed ? m->text : "");
        return;
    }
    if (m->kind == AB_MSG_STEP_DONE) w->node_seconds[m->node] = m->value;
    for (int32_t i = 0; i < nd->n_runs; i++) {
        run_view *v = &w->v[nd->runs[i]];
        if (v->done) continue;
        if (m->run >= 0 && m->run != nd->runs[i]) continue;
        v->started = true;
        if (m->kind == AB_MSG_STEP) {
            snprintf(v->what, sizeof v->what, "%s", m->text);
            v->fraction = 0;
        } else if (m->kind == AB_MSG_PROGRESS && m->total > 0) {
            snprintf(v->what, sizeof v->what, "%.60s: %.95s", ab_node_label(pl, m->node), m->text);
            v->fraction = (double)m->done / (double)m->total;
        } else if (m->kind == AB_MSG_STEP_DONE) {
            v->steps_done++;
        }
    }
    if (!w->tty && m->kind == AB_MSG_STEP && m->run < 0) {
        if (nd->n_runs > 1)
            fprintf(stderr, "[ab] %-28s %s, shared by %d runs\n", "", ab_node_label(pl, m->node), nd->n_runs);
        else
            fprintf(stderr, "[ab] %-28s %s\n", pl->runs[nd->runs[0]].dir, ab_node_label(pl, m->node));
    }
}

/* One line per run: "dir  [#####.....] 3/6 nwq.reconstruct: reconstructing 45%". */
static void draw(watch *w, bool final) {
    const double t = ptq_now_seconds();
    if (!w->tty || (!final && t - w->t_drawn < 0.2)) return;
    w->t_drawn = t;
    const ab_plan *pl = w->pl;
    const int32_t shown = pl->n_runs < 40 ? pl->n_runs : 40;
    if (w->lines_drawn) fprintf(stderr, "\033[%dA", w->lines_drawn);
    for (int32_t r = 0; r < shown; r++) {
        const run_view *v = &w->v[r];
        const double f = v->steps ? (v->steps_done + (v->done ? 0 : v->fraction)) / (double)v->steps : 0;
        const int width = 20, filled = (int)(width * (v->done ? 1.0 : f > 1 ? 1 : f));
        fprintf(stderr, "\033[2K  %-30.30s [%.*s%*s] %-40.40s\n", pl->runs[r].dir, filled,
                "####################", width - filled, "",
                !v->started ? "waiting" : v->what);
    }
    if (pl->n_runs > shown) fprintf(stderr, "\033[2K  (and %d more runs)\n", pl->n_runs - shown);
    fprintf(stderr, "\033[2K  %.0f s, memory %.0f MB\n", t - w->t0, w->peak_total_mb);
    w->lines_drawn = shown + (pl->n_runs > shown) + 1;
}

/* ---- the workers, watched ------------------------------------------------------------- */

/* Runs the plan's tree (the runs `mine` selects) in worker processes under root_dir and
 * watches them until every one is gone.  Returns the signal that stopped it (0: none). */
static int run_workers(ab_plan *pl, ab_exec *x, int32_t jobs, watch *w) {
    int tok[2], msg[2];
    if (pipe2(tok, O_CLOEXEC) != 0 || pipe2(msg, O_CLOEXEC) != 0) return -1;
    for (int32_t j = 0; j < jobs; j++) (void)!write(tok[1], "t", 1);
    x->token_rd = tok[0], x->token_wr = tok[1], x->msg_wr = msg[1];
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fflush(NULL);
    const pid_t root = fork();
    if (root == 0) {
        close(msg[0]);
        ab_exec_root(x);
    }
    close(msg[1]);
    close(tok[0]);
    close(tok[1]);
    w->t0 = ptq_now_seconds();
    bool killed = false;
    for (;;) {
        if (g_stop && !killed && root > 0) {
            kill(-root, SIGTERM);
            kill(root, SIGTERM);
            killed = true;
        }
        struct pollfd pf = {msg[0], POLLIN, 0};
        const int k = root > 0 ? poll(&pf, 1, 200) : 0;
        if (k > 0) {
            ab_msg m;
            const ssize_t got = read(msg[0], &m, sizeof m);
            if (got == 0) break; /* every worker is gone */
            if (got == (ssize_t)sizeof m) on_message(w, &m);
        } else if (k < 0 && errno != EINTR) {
            break;
        } else if (root <= 0) {
            break;
        }
        const double t = ptq_now_seconds();
        if (t - w->t_sampled > 0.5) {
            w->t_sampled = t;
            sample_memory(w);
        }
        draw(w, false);
    }
    draw(w, true);
    close(msg[0]);
    int status = 0;
    while (root > 0 && waitpid(root, &status, 0) < 0 && errno == EINTR) {
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return root < 0 ? -1 : (int)g_stop;
}

/* ---- the report ------------------------------------------------------------------------- */

/* "setup, core.fold_bn, core.calibrate": a chain of nodes that served the same runs is one
 * piece of shared work. */
static ptq_status shared_work(const ab_plan *pl, const double *node_seconds, ptq_ab_report *r) {
    for (int32_t n = 1; n < pl->n_nodes; n++) {
        const ab_node *nd = &pl->nodes[n];
        if (nd->n_runs < 2) continue;
        const ab_node *up = nd->parent > 0 ? &pl->nodes[nd->parent] : NULL;
        if (up && up->n_runs == nd->n_runs) continue; /* part of the chain above */
        ptq_ab_shared *ns = realloc(r->shared, (size_t)(r->n_shared + 1) * sizeof *ns);
        if (!ns) return PTQ_ERR_NOMEM;
        r->shared = ns;
        ptq_ab_shared *sh = &ns[r->n_shared++];
        memset(sh, 0, sizeof *sh);
        char what[1024] = "";
        double secs = 0;
        for (int32_t c = n;;) {
            size_t len = strlen(what);
            snprintf(what + len, sizeof what - len, "%s%s", len ? ", " : "", ab_node_label(pl, c));
            secs += node_seconds[c];
            const ab_node *cn = &pl->nodes[c];
            if (cn->n_kids != 1 || pl->nodes[cn->kids[0]].n_runs != cn->n_runs) break;
            c = cn->kids[0];
        }
        sh->what = ptq_strdup(what);
        sh->seconds = secs;
        sh->runs = malloc((size_t)nd->n_runs * sizeof *sh->runs);
        if (!sh->what || !sh->runs) return PTQ_ERR_NOMEM;
        memcpy(sh->runs, nd->runs, (size_t)nd->n_runs * sizeof *sh->runs);
        sh->n_runs = nd->n_runs;
    }
    return PTQ_OK;
}

static ptq_status build_report(const ab_plan *pl, const char *dir, const ptq_dataset *eval,
                               const run_view *views, const watch *w, bool complete, ptq_ab_report *r) {
    memset(r, 0, sizeof *r);
    r->title = ptq_strdup(pl->title);
    r->model = ptq_strdup(pl->runs[0].p->model);
    r->evaluation = ptq_strdup(pl->runs[0].p->evaluation.images);
    r->complete = complete;
    r->seeds = pl->seeds;
    r->runs = calloc((size_t)pl->n_runs, sizeof *r->runs);
    r->variants = calloc((size_t)pl->n_variants, sizeof *r->variants);
    if (!r->title || !r->model || !r->evaluation || !r->runs || !r->variants) return PTQ_ERR_NOMEM;
    r->n_runs = pl->n_runs;
    r->n_variants = pl->n_variants;
    for (int32_t i = 0; i < pl->n_runs; i++) {
        const ab_run *run = &pl->runs[i];
        ptq_ab_run *o = &r->runs[i];
        o->variant = ptq_strdup(run->variant);
        o->dir = ptq_strdup(run->dir);
        if (!o->variant || !o->dir) return PTQ_ERR_NOMEM;
        o->variant_index = run->variant_index;
        o->seed_index = run->seed_index;
        o->seed = run->p->seed;
        o->top1 = o->float_top1 = o->model_sqnr_db = NAN;
        if (ab_read_run(dir, run, eval->n, eval->labels, o) != PTQ_OK) {
            o->status = views && views[i].started ? PTQ_AB_INTERRUPTED : PTQ_AB_NOT_RUN;
            if (complete) { /* every worker finished, yet no result: say so */
                o->status = PTQ_AB_FAILED;
                o->error = ptq_strdup("no result was written (its process ended without one)");
            }
        }
    }
    for (int32_t v = 0; v < pl->n_variants; v++) {
        ptq_ab_variant *va = &r->variants[v];
        if (!(va->name = ptq_strdup(pl->variants[v]))) return PTQ_ERR_NOMEM;
        va->runs = malloc((size_t)pl->seeds * sizeof *va->runs);
        if (!va->runs) return PTQ_ERR_NOMEM;
        for (int32_t k = 0; k < pl->seeds; k++) va->runs[k] = -1;
        va->n_runs = pl->seeds;
        for (int32_t i = 0; i < pl->n_runs; i++)
            if (pl->runs[i].variant_index == v) va->runs[pl->runs[i].seed_index] = i;
    }
    if (ptq_ab_compare(r) != 0) return PTQ_ERR_NOMEM;
    r->peak_rss_mb = w->peak_single_mb;
    r->sum_peak_rss_mb = w->peak_total_mb;
    return w->node_seconds ? shared_work(pl, w->node_seconds, r) : PTQ_OK;
}

static int write_ab_html(FILE *f, const void *r) { return ptq_ab_html_write(f, r); }
static int write_ab_json(FILE *f, const void *r) { return ab_json_write(f, r) ? -1 : 0; }

/* ---- planning output (--dry-run) -------------------------------------------------------- */

static void print_plan(const ab_plan *pl, FILE *out) {
    fprintf(out, "A/B %s: %d variants x %d seeds = %d runs\n", pl->title, pl->n_variants, pl->seeds,
            pl->n_runs);
    for (int32_t i = 0; i < pl->n_runs; i++) {
        const ab_run *r = &pl->runs[i];
        fprintf(out, "  %-32s seed %" PRIu64 ", %d passes:", r->dir, r->p->seed, r->p->n_passes);
        for (int32_t k = 0; k < r->p->n_passes; k++) fprintf(out, " %s", r->p->passes[k].def->name);
        fputc('\n', out);
    }
    int32_t steps = 0, once = 0;
    for (int32_t i = 0; i < pl->n_runs; i++) steps += pl->runs[i].p->n_passes + 1;
    once = pl->n_nodes - 1;
    fprintf(out, "steps: %d in all, %d to run (%d shared)\n", steps, once, steps - once);
    for (int32_t n = 1; n < pl->n_nodes; n++) {
        const ab_node *nd = &pl->nodes[n];
        if (nd->n_runs < 2) continue;
        fprintf(out, "  shared by %d runs: %s\n", nd->n_runs, ab_node_label(pl, n));
    }
}

/* ---- the command ------------------------------------------------------------------------- */

static int32_t cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int32_t)n : 1;
}

/* Runs in plan order are grouped by what they share: rank k takes the k-th slice of the
 * runs in the order the tree visits them, so shared prefixes mostly stay on one rank. */
static void assign_ranks(const ab_plan *pl, const ab_ranks *rk, bool *mine) {
    int32_t *order = malloc((size_t)pl->n_runs * sizeof *order), n = 0;
    int32_t *stack = malloc((size_t)(pl->n_nodes + 1) * sizeof *stack), top = 0;
    if (!order || !stack) {
        for (int32_t i = 0; i < pl->n_runs; i++) mine[i] = i % rk->size == rk->rank;
        free(order);
        free(stack);
        return;
    }
    stack[top++] = 0;
    while (top) {
        const ab_node *nd = &pl->nodes[stack[--top]];
        for (int32_t e = 0; e < nd->n_ends; e++) order[n++] = nd->ends[e];
        for (int32_t k = nd->n_kids - 1; k >= 0; k--) stack[top++] = nd->kids[k];
    }
    for (int32_t i = 0; i < n; i++) mine[order[i]] = (int64_t)i * rk->size / n == rk->rank;
    free(order);
    free(stack);
}

ptq_status ptq_ab_files(const char *const *paths, int32_t n_paths, const ptq_ab_options *o,
                        ptq_error *err) {
    ab_ranks rk;
    ab_mpi_init(&rk, NULL, NULL);
    const double t_start = ptq_now_seconds();
    /* This process forks the workers, and GNU OpenMP's thread pool does not survive a fork
     * (ab_exec.c): nothing here may run a parallel region on more than one thread, not
     * even the importer's constant folding, which takes the default thread count. */
    setenv("PTQ_THREADS", "1", 1);
    omp_set_num_threads(1);
    ptq_registry *reg = ptq_registry_load(o->plugin_dir, err);
    if (!reg) {
        ab_mpi_finalize(&rk);
        return err->status;
    }
    if (rk.rank == 0)
        for (int32_t i = 0; i < reg->n_rejected; i++) fprintf(stderr, "warning: plugin not loaded: %s\n", reg->rejected[i]);
    ab_plan *pl = ab_plan_build(paths, n_paths, o->seeds, reg, err);
    ptq_status st = pl ? PTQ_OK : err->status;
    bool *mine = NULL;
    run_view *views = NULL;
    double *node_seconds = NULL;
    ptq_outdir od = {0};
    char private_dir[4096] = "";
    ptq_run_state rs = {0};
    ptq_ab_report rep = {0};
    int stopped = 0;
    const char *out = o->out_dir;
    char default_out[4096];
    if (!st && !out) {
        /* one file: its output.dir; several: runs/ab */
        snprintf(default_out, sizeof default_out, "%s", n_paths == 1 ? pl->runs[0].p->out_dir : "runs/ab");
        out = default_out;
    }
    if (!st) st = ab_plan_tree(pl, NULL, err);
    if (!st && o->dry_run) {
        if (rk.rank == 0) {
            print_plan(pl, stdout);
            st = ptq_outdir_check(out, o->force, err);
            if (!st) printf("output: %s\n", out);
        }
        goto done;
    }
    if (!st && !(mine = calloc((size_t)pl->n_runs, sizeof *mine))) st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    if (!st) {
        assign_ranks(pl, &rk, mine);
        st = ab_plan_tree(pl, mine, err);
    }
    /* The A/B's directory (rank 0), or a private one for the runs this rank sends. */
    if (!st && rk.rank == 0) st = ptq_outdir_begin(&od, out, o->force, err);
    if (!st && rk.rank != 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(private_dir, sizeof private_dir, "%s/ptq-ab-rank%d-XXXXXX", tmp && *tmp ? tmp : "/tmp", rk.rank);
        if (!mkdtemp(private_dir)) st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot create: %s", private_dir, strerror(errno));
    }
    const char *dir = rk.rank == 0 ? od.tmp : private_dir;
    /* Work every run shares: the evaluation set and the float model's top-1, once (on one
     * thread, see above). */
    const ptq_run_given one_thread = {.threads = 1};
    if (!st) st = ptq_run_begin(&rs, pl->runs[0].p, NULL, 0, &one_thread, err);
    if (!st && !rs.eval) st = ptq_error_set(err, PTQ_ERR_INVALID, "no evaluation data");
    const int32_t cores = cpu_count(), per_node = rk.local_size > 0 ? rk.local_size : 1;
    const int32_t jobs = o->jobs > 0 ? o->jobs : (cores / per_node > 0 ? cores / per_node : 1);
    const int32_t threads = o->threads > 0 ? o->threads : (cores / per_node / jobs > 0 ? cores / per_node / jobs : 1);
    if (!st) {
        views = calloc((size_t)pl->n_runs, sizeof *views);
        node_seconds = calloc((size_t)pl->n_nodes, sizeof *node_seconds);
        if (!views || !node_seconds) st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    }
    if (!st) {
        for (int32_t i = 0; i < pl->n_runs; i++) {
            views[i].steps = pl->runs[i].p->n_passes + 2;
            snprintf(views[i].what, sizeof views[i].what, "%s", mine[i] ? "waiting" : "on another rank");
        }
        int32_t n_mine = 0;
        for (int32_t i = 0; i < pl->n_runs; i++) n_mine += mine[i];
        fprintf(stderr, "A/B: %d variants x %d seeds = %d runs%s; %d processes at a time, %d thread%s each\n",
                pl->n_variants, pl->seeds, pl->n_runs, "", jobs, threads, threads == 1 ? "" : "s");
        if (rk.size > 1) fprintf(stderr, "rank %d of %d: %d runs\n", rk.rank, rk.size, n_mine);
        ab_exec x = {.pl = pl, .root_dir = dir, .final_dir = out, .threads = threads};
        x.given.eval = rs.eval;
        x.given.float_eval = &rs.r.fl;
        watch w = {.pl = pl, .v = views, .node_seconds = node_seconds, .tty = isatty(2) && rk.size == 1};
        if (n_mine) stopped = run_workers(pl, &x, jobs, &w);
        if (stopped < 0) st = ptq_error_set(err, PTQ_ERR_IO, "cannot start the worker processes: %s", strerror(errno));
        if (!st) st = ab_mpi_gather(&rk, dir, pl, mine, err);
        if (!st && rk.rank == 0) {
            char work[8300];
            snprintf(work, sizeof work, "%s/.work", dir);
            ptq_remove_tree(work);
            st = build_report(pl, dir, rs.eval, views, &w, stopped == 0, &rep);
            if (st == PTQ_ERR_NOMEM) ptq_error_set(err, st, "out of memory");
            rep.jobs = jobs;
            rep.ranks = rk.size;
            rep.seconds = ptq_now_seconds() - t_start;
            if (!st) st = ptq_write_file_with(dir, "ab.json", write_ab_json, &rep, err);
            if (!st) st = ptq_write_file_with(dir, "ab.html", write_ab_html, &rep, err);
            if (!st) st = ptq_outdir_commit(&od, err);
            if (!st) {
                ab_print_table(stdout, &rep);
                printf("output      %s  (ab.json, ab.html, one directory per run)\n", out);
            }
        }
    }
    if (o->stopped_by) *o->stopped_by = stopped > 0 ? stopped : 0;
    if (!st && stopped > 0)
        st = ptq_error_set(err, PTQ_ERR_INVALID, "interrupted (%s): the finished runs are kept in %s, "
                           "marked incomplete", strsignal(stopped), out);
    if (!st && rk.rank == 0) {
        int32_t failed = 0;
        for (int32_t i = 0; i < rep.n_runs; i++) failed += rep.runs[i].status != PTQ_AB_OK;
        if (failed)
            st = ptq_error_set(err, PTQ_ERR_INVALID, "%d of %d runs failed (ab.json and ab.html "
                               "say why; their logs are in their directories)", failed, rep.n_runs);
    }
done:
    if (private_dir[0]) ptq_remove_tree(private_dir);
    ptq_outdir_abort(&od);
    ptq_ab_report_free(&rep);
    ptq_run_state_free(&rs);
    free(views);
    free(node_seconds);
    free(mine);
    ab_plan_free(pl);
    ptq_registry_free(reg);
    ab_mpi_finalize(&rk);
    return st;
}
