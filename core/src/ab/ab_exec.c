/* ab_exec.c — the processes of an A/B.
 *
 * The plan's step tree (ab_plan.c) is walked by worker processes.  A worker holds the
 * state after its node's step (a session: the model, quantizers, calibration data, pass
 * records).  Where the tree branches, the worker forks one child per branch: each child
 * starts from the very same state in its own copy-on-write memory, so a shared prefix of
 * steps (setup, BN folding, calibration, an FDDA synthesis, ...) runs once and nothing is
 * serialised.  Where it does not branch, the worker simply goes on.
 *
 * How many workers compute at once is bounded by job tokens, one byte each in a pipe (as
 * GNU make's jobserver does): a worker holds one while it computes and gives it back while
 * it only waits for its children, so waiting never blocks progress.
 *
 * Each worker writes into a directory of its own (the files passes write, log.txt, a copy
 * of its parent's made at the fork); a run that finishes renames its directory into
 * place, so a run's directory appears whole or not at all.  Workers report to the
 * coordinator through a pipe of fixed-size messages. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ab.h"
#include "pipeline/outdir.h"

static ab_exec *X;               /* this process's view of the A/B (inherited at fork) */
static int32_t g_node;           /* the node whose step this process is running */
static char g_dir[8192];         /* this process's directory */
static double g_path_seconds;    /* compute time of the steps behind this state */
static double g_last_progress;

/* ---- messages and tokens ----------------------------------------------------------- */

static void send_msg(int32_t kind, int32_t node, int32_t run, int32_t status, int64_t done,
                     int64_t total, double value, const char *text) {
    ab_msg m;
    memset(&m, 0, sizeof m);
    m.kind = kind, m.node = node, m.run = run, m.status = status, m.pid = (int32_t)getpid();
    m.done = done, m.total = total, m.value = value;
    if (text) snprintf(m.text, sizeof m.text, "%s", text);
    const char *p = (const char *)&m;
    size_t left = sizeof m;
    while (left) {
        ssize_t k = write(X->msg_wr, p, left);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return; /* the coordinator is gone: nothing to tell */
        p += k, left -= (size_t)k;
    }
}

static void token_acquire(void) {
    char c;
    while (read(X->token_rd, &c, 1) < 0 && errno == EINTR) {
    }
}

static void token_release(void) {
    const char c = 't';
    while (write(X->token_wr, &c, 1) < 0 && errno == EINTR) {
    }
}

static void progress_sink(void *ctx, const char *what, int64_t done, int64_t total) {
    (void)ctx;
    const double t = ptq_now_seconds();
    if (done < total && t - g_last_progress < 0.25) return;
    g_last_progress = t;
    send_msg(AB_MSG_PROGRESS, g_node, -1, 0, done, total, 0, what);
}

static void __attribute__((noreturn)) leave(int code) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    send_msg(AB_MSG_BYE, g_node, -1, 0, 0, 0, (double)ru.ru_maxrss / 1024.0, NULL);
    fflush(NULL);
    _exit(code);
}

/* ---- directories ------------------------------------------------------------------- */

static int copy_file(const char *src, const char *dst) {
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    if (in < 0) return -1;
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    char buf[65536];
    ssize_t k;
    while (out >= 0 && (k = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)k) != k) goto out;
    rc = out >= 0 ? 0 : -1;
out:
    close(in);
    if (out >= 0 && close(out) != 0) rc = -1;
    return rc;
}

/* A child's directory starts as its parent's: files linked (they are never rewritten in
 * place), the log copied (each process appends to its own). */
static int clone_dir(const char *src, const char *dst) {
    if (mkdir(dst, 0777) != 0 && errno != EEXIST) return -1;
    DIR *d = opendir(src);
    if (!d) return -1;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char a[8192], b[8192];
        snprintf(a, sizeof a, "%s/%s", src, e->d_name);
        snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
        struct stat st;
        if (lstat(a, &st) != 0) rc = -1;
        else if (S_ISDIR(st.st_mode)) rc = clone_dir(a, b);
        else if (!strcmp(e->d_name, "log.txt") || link(a, b) != 0) rc = copy_file(a, b);
    }
    closedir(d);
    return rc;
}

/* This process's output: stderr (and stdout) into its directory's log.txt. */
static void enter_dir(const char *dir) {
    snprintf(g_dir, sizeof g_dir, "%s", dir);
    char log[8300];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    fflush(NULL);
    const int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd >= 0) {
        dup2(fd, 2);
        dup2(fd, 1);
        close(fd);
    }
}

/* <root>/<run dir>'s parent exists; the run's directory is moved there whole. */
static int place_dir(const char *dir, const ab_run *run) {
    char final[8192], parent[8192];
    snprintf(final, sizeof final, "%s/%s", X->root_dir, run->dir);
    snprintf(parent, sizeof parent, "%s", final);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = 0;
    if (ptq_mkdirs(parent) != 0) return -1;
    return rename(dir, final);
}

/* ---- run.txt and predictions.npy ----------------------------------------------------- */

/* A name on one line. */
static void put_name(FILE *f, const char *s) {
    for (; s && *s; s++) fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    fputc('\n', f);
}

static int write_npy_int32(const char *path, const int32_t *v, int64_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    char dict[128];
    int len = snprintf(dict, sizeof dict, "{'descr': '<i4', 'fortran_order': False, 'shape': (%" PRId64 ",), }", n);
    const int total = ((10 + len + 1 + 63) / 64) * 64; /* magic+version+len, dict, '\n' */
    const uint16_t hl = (uint16_t)(total - 10);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hl & 0xff, f), fputc(hl >> 8, f);
    fprintf(f, "%s%*s\n", dict, total - 10 - len - 1, "");
    fwrite(v, sizeof *v, (size_t)n, f); /* little-endian, as every machine we target */
    const bool bad = ferror(f) != 0;
    return fclose(f) == 0 && !bad ? 0 : -1;
}

static bool step_shared(const ab_run *run, int32_t step) {
    /* the tree node of `step` on the run's path: walk up from where it ends */
    int32_t nd = run->node;
    while (nd >= 0 && X->pl->nodes[nd].step != step) nd = X->pl->nodes[nd].parent;
    return nd >= 0 && X->pl->nodes[nd].n_runs > 1;
}

static int write_run_txt(const char *dir, const ab_run *run, const ptq_run_state *rs, const char *error) {
    char path[8300];
    snprintf(path, sizeof path, "%s/run.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "status %s\nseed %" PRIu64 "\n", error ? "failed" : "ok", run->p->seed);
    if (error) {
        fputs("error ", f);
        put_name(f, error);
    }
    if (rs && !error) {
        const ptq_run_results *r = &rs->r;
        const ptq_session *s = rs->s;
        fprintf(f, "top1 %.17g\nfloat_top1 %.17g\nimages %" PRId64 "\nmodel_sqnr %.17g\nseconds %.6f\n",
                r->qu.top1, r->fl.top1, r->qu.images, r->final.valid ? r->final.model_db : NAN,
                g_path_seconds);
        for (int32_t i = 0; r->final.valid && i < r->final.n; i++) {
            fprintf(f, "layer %.17g ", r->final.layers[i].output_db);
            put_name(f, s->g->nodes[r->final.layers[i].node].name);
        }
        for (int32_t i = 0; i < r->n_passes; i++) {
            fprintf(f, "pass %.6f %d ", r->passes[i].seconds, step_shared(run, i + 1));
            put_name(f, r->passes[i].cfg->def->name);
        }
        for (int32_t i = 0; i < s->n_rows; i++) {
            const ptq_report_row *row = &s->rows[i];
            if (strcmp(row->table, "units")) continue;
            for (int32_t k = 0; k < row->n; k++)
                if (!strcmp(row->cols[k], "loss_last")) {
                    fprintf(f, "unit %.17g ", row->values[k]);
                    put_name(f, row->name);
                }
        }
    }
    return fclose(f) == 0 ? 0 : -1;
}

static char *dup_line(const char *s) {
    char *d = ptq_strdup(s);
    if (d) d[strcspn(d, "\n")] = 0;
    return d;
}

#define GROW(arr, n) ((arr) = realloc((arr), (size_t)((n) + 1) * sizeof *(arr)))

ptq_status ab_read_run(const char *dir, const ab_run *run, int64_t images, const int32_t *labels,
                       ptq_ab_run *o) {
    char path[8300], line[4096];
    snprintf(path, sizeof path, "%s/%s/run.txt", dir, run->dir);
    FILE *f = fopen(path, "r");
    if (!f) return PTQ_ERR_IO;
    o->status = PTQ_AB_FAILED;
    while (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = 0;
        char *rest = sp + 1, *name = NULL;
        const double x = strtod(rest, &name);
        if (name && *name == ' ') name++;
        if (!strcmp(line, "status")) o->status = !strncmp(rest, "ok", 2) ? PTQ_AB_OK : PTQ_AB_FAILED;
        else if (!strcmp(line, "error")) o->error = dup_line(rest);
        else if (!strcmp(line, "top1")) o->top1 = x;
        else if (!strcmp(line, "float_top1")) o->float_top1 = x;
        else if (!strcmp(line, "images")) o->images = (int64_t)x;
        else if (!strcmp(line, "model_sqnr")) o->model_sqnr_db = x;
        else if (!strcmp(line, "seconds")) o->seconds = x;
        else if (!strcmp(line, "layer") && GROW(o->layer_names, o->n_layers) && GROW(o->layer_sqnr_db, o->n_layers)) {
            o->layer_sqnr_db[o->n_layers] = x;
            o->layer_names[o->n_layers++] = dup_line(name);
        } else if (!strcmp(line, "pass") && GROW(o->pass_names, o->n_passes) &&
                   GROW(o->pass_seconds, o->n_passes) && GROW(o->pass_shared, o->n_passes)) {
            char *after = NULL;
            const long shared = strtol(name, &after, 10);
            o->pass_seconds[o->n_passes] = x;
            o->pass_shared[o->n_passes] = shared != 0;
            o->pass_names[o->n_passes++] = dup_line(after && *after == ' ' ? after + 1 : "");
        } else if (!strcmp(line, "unit") && GROW(o->unit_names, o->n_units) && GROW(o->unit_loss, o->n_units)) {
            o->unit_loss[o->n_units] = x;
            o->unit_names[o->n_units++] = dup_line(name);
        }
    }
    fclose(f);
    if (o->status == PTQ_AB_OK) {
        snprintf(path, sizeof path, "%s/%s/predictions.npy", dir, run->dir);
        /* read back with the project's own .npy reader, which checks the header */
        ptq_error e = {0};
        ptq_tensor *t = o->images == images ? ptq_npy_read(path, &e) : NULL;
        const int32_t *pred = t && t->dtype == PTQ_DTYPE_I32 && ptq_tensor_numel(t) == images ? t->data : NULL;
        o->correct = pred ? malloc((size_t)(images ? images : 1)) : NULL;
        for (int64_t i = 0; o->correct && i < images; i++) o->correct[i] = pred[i] == labels[i];
        ptq_tensor_free(t);
        if (!o->correct) {
            o->status = PTQ_AB_FAILED;
            free(o->error);
            o->error = ptq_strdup("its predictions.npy is missing or does not match the evaluation set");
        }
    }
    return PTQ_OK;
}

/* ---- steps, runs, branches ---------------------------------------------------------- */

/* Exit codes of a worker: 0 done, AB_EXIT_FAILED its runs failed and say so (anything
 * else: it died without saying, maybe holding its token). */
#define AB_EXIT_FAILED 5

/* A run without a directory yet gets one saying it failed, and why (with this process's
 * log up to here). */
static void fail_run(int32_t r, const char *why) {
    const ab_run *run = &X->pl->runs[r];
    char final[8192], tmp[8192];
    snprintf(final, sizeof final, "%s/%s", X->root_dir, run->dir);
    if (access(final, F_OK) == 0) return;
    snprintf(tmp, sizeof tmp, "%s/.work/failed-%d", X->root_dir, r);
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return;
    char log[8300], copy[8300];
    snprintf(log, sizeof log, "%s/log.txt", g_dir);
    snprintf(copy, sizeof copy, "%s/log.txt", tmp);
    copy_file(log, copy);
    write_run_txt(tmp, run, NULL, why);
    place_dir(tmp, run);
    send_msg(AB_MSG_RUN_DONE, run->node, r, PTQ_AB_FAILED, 0, 0, 0, why);
}

static void fail_runs(int32_t node, const char *why) {
    const ab_node *nd = &X->pl->nodes[node];
    for (int32_t i = 0; i < nd->n_runs; i++) fail_run(nd->runs[i], why);
}

/* Branch b of a node: a child node (its runs), or a run ending at the node. */
static void fail_branch(int32_t node, int32_t b, const char *why) {
    const ab_node *nd = &X->pl->nodes[node];
    if (b < nd->n_kids) fail_runs(nd->kids[b], why);
    else fail_run(nd->ends[b - nd->n_kids], why);
}

/* Whether the tree forks at or below `node`. */
static bool forks_below(int32_t node) {
    const ab_node *nd = &X->pl->nodes[node];
    if (nd->n_kids + nd->n_ends > 1) return true;
    for (int32_t k = 0; k < nd->n_kids; k++)
        if (forks_below(nd->kids[k])) return true;
    return false;
}

/* GNU OpenMP's thread pool does not survive fork(): a child that enters a parallel region
 * its parent ran with more than one thread waits forever for threads that do not exist in
 * it.  So a process that will still fork computes on one thread (its OpenMP pool is never
 * started), and only a process past its last fork uses the threads it was given. */
static void set_threads(ptq_run_state *rs, bool will_fork) {
    const int32_t t = will_fork ? 1 : (X->threads > 0 ? X->threads : 1);
    omp_set_num_threads(t);
    if (rs->s) rs->s->threads = t;
}

static ptq_status run_step(int32_t node, ptq_run_state *rs, ptq_error *err) {
    const ab_node *nd = &X->pl->nodes[node];
    const ptq_pipeline *p = X->pl->runs[nd->run0].p;
    g_node = node;
    set_threads(rs, forks_below(node));
    send_msg(AB_MSG_STEP, node, -1, 0, 0, 0, 0, ab_node_label(X->pl, node));
    const double t0 = ptq_now_seconds();
    ptq_status st;
    if (nd->step == 0) {
        X->given.threads = forks_below(node) ? 1 : X->threads;
        st = ptq_run_begin(rs, p, g_dir, X->pl->max_passes, &X->given, err);
        if (rs->s) {
            rs->s->tty = false;
            rs->s->progress_sink = progress_sink;
        }
    } else {
        st = ptq_run_pass(rs, p, nd->step - 1, err);
    }
    const double dt = ptq_now_seconds() - t0;
    g_path_seconds += dt;
    send_msg(AB_MSG_STEP_DONE, node, -1, st, 0, 0, dt, ab_node_label(X->pl, node));
    return st;
}

static void __attribute__((noreturn)) finish_run(int32_t r, ptq_run_state *rs) {
    const ab_run *run = &X->pl->runs[r];
    ptq_error err = {0};
    char shown[8192];
    snprintf(shown, sizeof shown, "%s/%s", X->final_dir, run->dir);
    const int64_t n = rs->eval ? rs->eval->n : 0;
    int32_t *pred = calloc((size_t)(n ? n : 1), sizeof *pred);
    g_node = run->node;
    set_threads(rs, false);
    send_msg(AB_MSG_STEP, run->node, r, 0, 0, 0, 0, "evaluating");
    const double t0 = ptq_now_seconds();
    ptq_status st = pred ? ptq_run_finish(rs, run->p, g_dir, shown, pred, &err)
                         : ptq_error_set(&err, PTQ_ERR_NOMEM, "out of memory");
    g_path_seconds += ptq_now_seconds() - t0;
    char path[8300];
    snprintf(path, sizeof path, "%s/predictions.npy", g_dir);
    if (!st && write_npy_int32(path, pred, n) != 0) st = ptq_error_set(&err, PTQ_ERR_IO, "%s: cannot write", path);
    if (!st && write_run_txt(g_dir, run, rs, NULL) != 0) st = ptq_error_set(&err, PTQ_ERR_IO, "%s/run.txt: cannot write", g_dir);
    if (!st && place_dir(g_dir, run) != 0) st = ptq_error_set(&err, PTQ_ERR_IO, "%s: cannot move into place: %s", g_dir, strerror(errno));
    free(pred);
    if (st) {
        fprintf(stderr, "error: %s\n", err.msg);
        fail_run(r, err.msg);
        token_release();
        leave(AB_EXIT_FAILED);
    }
    send_msg(AB_MSG_RUN_DONE, run->node, r, PTQ_AB_OK, 0, 0, g_path_seconds, NULL);
    token_release();
    leave(0);
}

static void worker_at(int32_t node, ptq_run_state *rs) __attribute__((noreturn));

/* Runs branch b of `node` (a child node's step, or finishing a run that ends here). */
static void __attribute__((noreturn)) branch(int32_t node, int32_t b, ptq_run_state *rs) {
    const ab_node *nd = &X->pl->nodes[node];
    if (b < nd->n_kids) {
        ptq_error err = {0};
        const int32_t kid = nd->kids[b];
        if (run_step(kid, rs, &err)) {
            fprintf(stderr, "error: %s\n", err.msg);
            fail_runs(kid, err.msg);
            token_release();
            leave(AB_EXIT_FAILED);
        }
        worker_at(kid, rs);
    }
    finish_run(nd->ends[b - nd->n_kids], rs);
}

static void worker_at(int32_t node, ptq_run_state *rs) {
    const ab_node *nd = &X->pl->nodes[node];
    const int32_t n_branches = nd->n_kids + nd->n_ends;
    if (n_branches == 1) branch(node, 0, rs);
    /* Several: one process per branch, each from this state. */
    token_release();
    pid_t *pids = calloc((size_t)n_branches, sizeof *pids);
    for (int32_t b = 0; pids && b < n_branches; b++) {
        char dir[8192];
        snprintf(dir, sizeof dir, "%s/.work/n%d-b%d", X->root_dir, node, b);
        if (clone_dir(g_dir, dir) != 0) {
            fail_branch(node, b, "cannot create its working directory");
            continue;
        }
        fflush(NULL);
        const pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            enter_dir(dir);
            if (rs->s) rs->s->out_dir = g_dir;
            token_acquire();
            branch(node, b, rs);
        }
        pids[b] = pid;
        if (pid < 0) fail_branch(node, b, "cannot start a process (fork failed)");
    }
    for (int32_t b = 0; pids && b < n_branches; b++) {
        if (pids[b] <= 0) continue;
        int status = 0;
        while (waitpid(pids[b], &status, 0) < 0 && errno == EINTR) {
        }
        if (status == 0 || (WIFEXITED(status) && WEXITSTATUS(status) == AB_EXIT_FAILED)) continue;
        /* It died without saying (a crash, killed from outside), maybe holding its token:
         * give one back, and say what happened to the runs it owed. */
        token_release();
        char why[128];
        if (WIFSIGNALED(status))
            snprintf(why, sizeof why, "its process was killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
        else
            snprintf(why, sizeof why, "its process exited with status %d", WEXITSTATUS(status));
        fail_branch(node, b, why);
    }
    free(pids);
    leave(0);
}

void ab_exec_root(ab_exec *x) {
    X = x;
    setpgid(0, 0); /* the coordinator stops every worker with one kill */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGINT, SIG_IGN); /* Ctrl-C is the coordinator's to handle */
    signal(SIGTERM, SIG_DFL);
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/.work/root", x->root_dir);
    if (ptq_mkdirs(dir) != 0) _exit(3);
    enter_dir(dir);
    token_acquire();
    ptq_run_state rs;
    memset(&rs, 0, sizeof rs);
    worker_at(0, &rs);
}
