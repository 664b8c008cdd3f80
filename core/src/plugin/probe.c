/* probe.c — loading a plugin in a child process, where its crash cannot hurt.
 *
 * A plugin's code runs when it is loaded: its constructors (dlopen), its entry, its init.
 * Any of them may crash or hang, and in the ptq process that would end the run before it
 * could even say which file was to blame.  So the file is loaded first in a forked child
 * that tells the parent, over a pipe, each stage it is about to enter ("stage init") and
 * what it found ("problem ..."); the parent reads until the child is gone or the timeout,
 * and knows from the last stage and the wait status what happened where.
 *
 * Cost: one fork and one dlopen per plugin file, a few milliseconds (docs/RELIABILITY.md);
 * a plugin's init runs twice (the child's, then the real one), so init must not have
 * effects outside the process, which ptq_plugin.h already expects. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plugin.h"

#define DEFAULT_TIMEOUT_S 10.0

const char *ptq_signal_abbrev(int sig) {
    switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGSYS: return "SIGSYS";
    default: return "signal";
    }
}

/* ---- the child ---------------------------------------------------------------------- */

/* One line to the parent: "<kind> <text>\n", newlines in text made spaces. */
static void say(int fd, const char *kind, const char *text) {
    char line[PTQ_ERROR_SIZE + 64];
    int n = snprintf(line, sizeof line - 1, "%s %s", kind, text);
    if (n < 0) return;
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    for (int i = 0; i < n; i++)
        if (line[i] == '\n') line[i] = ' ';
    line[n++] = '\n';
    for (int at = 0; at < n;) {
        const ssize_t w = write(fd, line + at, (size_t)(n - at));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        at += (int)w;
    }
}

typedef struct child_ctx {
    int fd;
    bool full;
} child_ctx;

static bool child_problem(void *vctx, ptq_status status, const char *msg) {
    child_ctx *c = vctx;
    (void)status;
    say(c->fd, "problem", msg);
    return c->full; /* without full, the first problem is enough */
}

static bool list_has(const char *const *list, const char *name) {
    for (int32_t i = 0; list && i < PTQ_PLUGIN_TABLE_LIMIT && list[i]; i++)
        if (!strcmp(list[i], name)) return true;
    return false;
}

/* Whether something can produce artifact a before a pass reads it: the host (the dataset
 * of a pipeline), a pass of a loaded plugin (the core's included), a pass of d itself. */
static bool producible(const ptq_registry *r, const ptq_plugin_desc *d, const char *a) {
    if (!strcmp(a, "calib.data") || !strcmp(a, "calib.labels")) return true;
    for (int32_t i = 0; r && i < r->n_passes; i++)
        if (list_has(r->passes[i]->writes, a)) return true;
    for (int32_t i = 0; i < PTQ_PLUGIN_TABLE_LIMIT && d->passes[i]; i++)
        if (d->passes[i]->name && list_has(d->passes[i]->writes, a)) return true;
    return false;
}

static void check_reads(const ptq_registry *r, const ptq_plugin_desc *d, int fd) {
    for (int32_t i = 0; i < PTQ_PLUGIN_TABLE_LIMIT && d->passes[i]; i++) {
        const ptq_pass_def *p = d->passes[i];
        for (int32_t k = 0; p->name && p->reads && k < PTQ_PLUGIN_TABLE_LIMIT && p->reads[k]; k++)
            if (!producible(r, d, p->reads[k])) {
                char msg[PTQ_ERROR_SIZE];
                snprintf(msg, sizeof msg, "pass '%s' reads '%s', which neither the host nor any "
                         "pass of the loaded plugins (nor of this one) writes: no pipeline can "
                         "run it", p->name, p->reads[k]);
                say(fd, "problem", msg);
            }
    }
}

/* The copy of the registry the child has (fork) without d itself: a file that discovery
 * loaded already is not its own duplicate. */
static void forget_self(ptq_registry *r, const ptq_plugin_desc *d) {
    for (int32_t i = 0; r && i < r->n_plugins; i++)
        if (r->plugins[i].desc == d) {
            memmove(&r->plugins[i], &r->plugins[i + 1], (size_t)(r->n_plugins - i - 1) * sizeof *r->plugins);
            r->n_plugins--;
            int32_t k = 0;
            for (int32_t j = 0; j < r->n_passes; j++) {
                bool own = false;
                for (int32_t q = 0; d->passes[q]; q++) own |= r->passes[j] == d->passes[q];
                if (!own) r->passes[k++] = r->passes[j];
            }
            r->n_passes = k;
            return;
        }
}

static void child(ptq_registry *r, const char *path, bool full, int fd) {
    /* A crash must end the child with its signal, whatever handlers the parent set up
     * (ptq run's, a sanitizer's): the parent reads the signal from the wait status. */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGINT, SIGTERM};
    for (size_t i = 0; i < PTQ_COUNTOF(fatal); i++) signal(fatal[i], SIG_DFL);
    child_ctx c = {fd, full};
    say(fd, "stage", "load");
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        char msg[PTQ_ERROR_SIZE];
        snprintf(msg, sizeof msg, "cannot load: %s", dlerror());
        say(fd, "problem", msg);
        say(fd, "done", "");
        return;
    }
    ptq_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, PTQ_PLUGIN_ENTRY_NAME);
    if (!entry) {
        say(fd, "problem", "no '" PTQ_PLUGIN_ENTRY_NAME "' symbol: not a ptq plugin");
        say(fd, "done", "");
        return;
    }
    say(fd, "stage", "entry");
    const ptq_plugin_desc *d = entry();
    if (!d) {
        say(fd, "problem", PTQ_PLUGIN_ENTRY_NAME "() returned NULL");
        say(fd, "done", "");
        return;
    }
    say(fd, "stage", "descriptor");
    if (full) forget_self(r, d);
    const int32_t n = ptq_plugin_desc_problems(r, d, child_problem, &c);
    const ptq_version host = PTQ_VERSION_INIT;
    const bool abi_ok = d->abi.major == host.major && d->fingerprint == PTQ_ABI_FINGERPRINT &&
                        d->struct_size >= sizeof(ptq_plugin_desc);
    /* The host never initialises a plugin whose descriptor breaks a rule; the full check
     * still does (its init may crash too), unless the layout itself is not ours. */
    if ((n && !full) || !abi_ok || !d->passes) {
        say(fd, "done", "");
        return;
    }
    if (full) {
        int32_t np = 0;
        while (np < PTQ_PLUGIN_TABLE_LIMIT && d->passes[np]) np++;
        char info[200];
        snprintf(info, sizeof info, "%d %.60s %.60s", np, d->name ? d->name : "?",
                 d->version ? d->version : "?");
        say(fd, "info", info);
    }
    say(fd, "stage", "init");
    ptq_error e = {0};
    if (ptq_plugin_init(d, &e)) {
        say(fd, "problem", e.msg);
        say(fd, "done", "");
        return;
    }
    if (full) {
        say(fd, "stage", "reads");
        check_reads(r, d, fd);
    }
    say(fd, "stage", "deinit");
    if (d->deinit) d->deinit();
    say(fd, "done", "");
}

/* ---- the parent ----------------------------------------------------------------------- */

static double probe_timeout(void) {
    const char *s = getenv("PTQ_PLUGIN_TIMEOUT");
    char *end;
    const double t = s ? strtod(s, &end) : 0;
    return s && end != s && t > 0 && t < 1e6 ? t : DEFAULT_TIMEOUT_S;
}

static void add_problem(ptq_probe *p, const char *msg) {
    char *s = ptq_strdup(msg);
    char **a = s ? realloc(p->problems, ((size_t)p->n_problems + 1) * sizeof *a) : NULL;
    if (!a) {
        free(s);
        return;
    }
    a[p->n_problems++] = s;
    p->problems = a;
}

/* Reads what the child says, line by line, into out[] ("file K" switches to out[K]),
 * until it closes the pipe (true) or says nothing for out->timeout seconds (false).
 * *current: the file it was at. */
static bool read_child(int fd, ptq_probe *out, int32_t first, int32_t n, int32_t *current,
                       bool *done) {
    char buf[PTQ_ERROR_SIZE * 4];
    size_t len = 0;
    const double timeout = out[first].timeout;
    double deadline = ptq_now_seconds() + timeout;
    *current = first;
    for (;;) {
        const double left = deadline - ptq_now_seconds();
        if (left <= 0) return false;
        struct pollfd pf = {fd, POLLIN, 0};
        const int k = poll(&pf, 1, (int)(left * 1000) + 1);
        if (k <= 0) continue; /* EINTR or the timeout: checked at the top */
        const ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return true;
        len += (size_t)got;
        deadline = ptq_now_seconds() + timeout;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', len - (size_t)(line - buf)))) {
            *nl = '\0';
            ptq_probe *p = &out[*current];
            if (!strncmp(line, "file ", 5)) {
                const int32_t f = (int32_t)atol(line + 5);
                if (f >= first && f < n) *current = f;
                *done = false;
            } else if (!strncmp(line, "stage ", 6)) {
                snprintf(p->stage, sizeof p->stage, "%s", line + 6);
            } else if (!strncmp(line, "problem ", 8)) {
                add_problem(p, line + 8);
            } else if (!strncmp(line, "info ", 5)) {
                int np = 0, used = 0;
                if (sscanf(line + 5, "%d %63s %n", &np, p->plugin, &used) >= 2) {
                    p->n_passes = np;
                    snprintf(p->version, sizeof p->version, "%s", line + 5 + used);
                }
            } else if (!strncmp(line, "done", 4)) {
                *done = true;
            }
            line = nl + 1;
        }
        len -= (size_t)(line - buf);
        memmove(buf, line, len);
        if (len == sizeof buf - 1) len = 0; /* a line longer than any the child writes */
    }
}

/* Probes paths[first..n-1] in one child, in order; returns the index of the file the
 * child did not finish (n: it finished them all). */
static ptq_status probe_run(const ptq_registry *r, char *const *paths, int32_t first, int32_t n,
                            bool full, ptq_probe *out, int32_t *stopped_at, ptq_error *err) {
    int fds[2];
    if (pipe(fds) != 0)
        return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot check the plugin: pipe: %s",
                             paths[first], strerror(errno));
    /* A process the plugin starts (system("... &")) must not inherit the write end: the
     * parent would never see end-of-file and call a healthy plugin hung. */
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    fflush(NULL); /* nothing buffered is written twice */
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
        const int e = errno;
        close(fds[0]);
        close(fds[1]);
        return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot check the plugin: fork: %s",
                             paths[first], strerror(e));
    }
    if (pid == 0) {
        /* A child stuck in a plugin dies with ptq, not orphaned under init. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        close(fds[0]);
        for (int32_t i = first; i < n; i++) {
            char line[32];
            snprintf(line, sizeof line, "%d", i);
            say(fds[1], "file", line);
            /* The child's registry is its own copy: forget_self may edit it. */
            child((ptq_registry *)r, paths[i], full, fds[1]);
        }
        _exit(0);
    }
    close(fds[1]);
    int32_t current;
    bool done = false;
    const bool answered = read_child(fds[0], out, first, n, &current, &done);
    close(fds[0]);
    /* End of file is not the child's exit (a plugin may close the pipe and then hang):
     * it gets the same timeout to exit, then is killed. */
    int status = 0;
    bool exited = false;
    const double deadline = ptq_now_seconds() + probe_timeout();
    while (answered && !exited && ptq_now_seconds() < deadline) {
        const pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) exited = true;
        else nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    const bool hung = !answered || !exited;
    if (hung) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    ptq_probe *p = &out[current];
    *stopped_at = n;
    if (hung) {
        p->hung = true;
    } else if (WIFSIGNALED(status)) {
        p->signal = WTERMSIG(status);
    } else if (WIFEXITED(status) && (!done || WEXITSTATUS(status) != 0)) {
        p->exited = true;
        p->exit_code = WEXITSTATUS(status);
    } else {
        return PTQ_OK; /* every file done */
    }
    *stopped_at = current;
    return PTQ_OK;
}

ptq_status ptq_plugin_probe_files(const ptq_registry *r, char *const *paths, int32_t n, bool full,
                                  ptq_probe *out, ptq_error *err) {
    const double timeout = probe_timeout();
    for (int32_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].timeout = timeout;
        snprintf(out[i].stage, sizeof out[i].stage, "start");
    }
    /* One child for all; after one dies (or hangs) on a file, another goes on from the
     * next file. */
    for (int32_t first = 0; first < n;) {
        int32_t stopped = n;
        ptq_status st = probe_run(r, paths, first, n, full, out, &stopped, err);
        if (st) {
            for (int32_t i = 0; i < n; i++) ptq_probe_free(&out[i]);
            return st;
        }
        first = stopped + 1;
    }
    return PTQ_OK;
}

ptq_status ptq_plugin_probe(const ptq_registry *r, const char *path, bool full, ptq_probe *out,
                            ptq_error *err) {
    char *paths[1] = {(char *)path};
    return ptq_plugin_probe_files(r, paths, 1, full, out, err);
}

void ptq_probe_free(ptq_probe *p) {
    for (int32_t i = 0; i < p->n_problems; i++) free(p->problems[i]);
    free(p->problems);
    p->problems = NULL;
    p->n_problems = 0;
}

void ptq_probe_describe(const ptq_probe *p, char *buf, size_t size) {
    /* "load" is dlopen running the file's constructors. */
    const char *stage = !strcmp(p->stage, "load") ? "dlopen (a constructor)" : p->stage;
    if (p->signal)
        snprintf(buf, size, "signal %d, %s, in %s", p->signal, ptq_signal_abbrev(p->signal),
                 stage);
    else if (p->hung)
        snprintf(buf, size, "in %s, no answer within %g s; killed", stage, p->timeout);
    else if (p->exited)
        snprintf(buf, size, "status %d, in %s", p->exit_code, stage);
    else
        snprintf(buf, size, "ok");
}
