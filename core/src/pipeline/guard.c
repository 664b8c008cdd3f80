/* guard.c — signal handlers of `ptq run` (see guard.h). */
#define _GNU_SOURCE /* syscall, SYS_getdents64, SYS_gettid, SYS_tgkill */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guard.h"

static const int g_fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static const int g_stop[] = {SIGINT, SIGTERM};

static bool g_installed;
static const ptq_registry *g_reg;
static struct sigaction g_old_fatal[PTQ_COUNTOF(g_fatal)], g_old_stop[PTQ_COUNTOF(g_stop)];
static long g_main_tid;

/* The temporary directory: strings written while g_dir is 0, then g_dir set. */
enum { DIR_NONE = 0, DIR_FILLING = 1, DIR_COMMITTING = 2 };
static _Atomic int g_dir;
static char g_tmp[sizeof(((ptq_outdir *)0)->tmp)];
static char g_target[sizeof(((ptq_outdir *)0)->target)];
static char g_created[sizeof(((ptq_outdir *)0)->created)];
static volatile sig_atomic_t g_pending; /* a SIGINT/SIGTERM that waits for the commit */
static volatile sig_atomic_t g_committed; /* the output is in place: a signal keeps it */

/* The pass running: strings written while g_in_pass is 0. */
static _Atomic int g_in_pass;
static char g_pass[256], g_plugin[128], g_path[4096];

static _Atomic int g_dying; /* one thread reports a fatal signal, the others wait */

/* ---- async-signal-safe helpers ------------------------------------------------------- */

typedef struct msg {
    char b[6000];
    size_t n;
} msg;

static void put(msg *m, const char *s) {
    while (*s && m->n < sizeof m->b - 1) m->b[m->n++] = *s++;
}

static void put_int(msg *m, int v) {
    char d[16];
    int k = 0;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do d[k++] = (char)('0' + u % 10); while ((u /= 10) && k < 15);
    if (v < 0) put(m, "-");
    while (k > 0 && m->n < sizeof m->b - 1) m->b[m->n++] = d[--k];
}

static void flush(msg *m) {
    for (size_t at = 0; at < m->n;) {
        const ssize_t w = write(2, m->b + at, m->n - at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        at += (size_t)w;
    }
}

struct dirent64_raw {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* rm -r of name under dirfd with system calls only; a few rounds, since entries removed
 * while reading a directory may hide others from the same read. */
static void remove_at(int dirfd, const char *name, int depth) {
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT || depth > 16) return;
    for (int round = 0; round < 4; round++) {
        const int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return;
        _Alignas(8) char buf[2048];
        long n;
        while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
            for (long off = 0; off < n;) {
                const struct dirent64_raw *e = (const void *)(buf + off);
                const char *c = e->name;
                if (!(c[0] == '.' && (c[1] == '\0' || (c[1] == '.' && c[2] == '\0'))))
                    remove_at(fd, c, depth + 1);
                off += e->reclen;
            }
        close(fd);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) return;
    }
}

/* The temporary directory, then the parents this run made if they are empty (as
 * ptq_outdir_abort does).  Async-signal-safe. */
static void remove_outdir(void) {
    if (atomic_load(&g_dir) == DIR_NONE) return;
    if (g_tmp[0]) remove_at(AT_FDCWD, g_tmp, 0);
    if (!g_created[0]) return;
    char d[sizeof g_target];
    size_t n = 0;
    while (g_target[n] && n < sizeof d - 1) d[n] = g_target[n], n++;
    d[n] = '\0';
    for (;;) {
        char *slash = NULL;
        for (char *p = d; *p; p++)
            if (*p == '/') slash = p;
        if (!slash || slash == d) return;
        *slash = '\0'; /* d is now the parent */
        if (rmdir(d) != 0) return;
        bool last = true;
        for (size_t i = 0; d[i] || g_created[i]; i++)
            if (d[i] != g_created[i]) {
                last = false;
                break;
            }
        if (last) return;
    }
}

static long my_tid(void) { return syscall(SYS_gettid); }

/* ---- the handlers --------------------------------------------------------------------- */

static void on_stop(int sig) {
    /* Handled on the main thread, which then runs no pass code of its own: an OpenMP
     * worker that caught it hands it over. */
    if (g_main_tid && my_tid() != g_main_tid) {
        syscall(SYS_tgkill, (long)getpid(), g_main_tid, (long)sig);
        return;
    }
    if (atomic_load(&g_dir) == DIR_COMMITTING) {
        g_pending = sig;
        return;
    }
    remove_outdir();
    msg m = {.n = 0};
    put(&m, "\nptq: interrupted by ");
    put(&m, ptq_signal_abbrev(sig));
    if (g_committed) {
        put(&m, "; the output ");
        put(&m, g_target);
        put(&m, " was complete and is kept\n");
    } else {
        put(&m, "; no output written\n");
    }
    flush(&m);
    _exit(128 + sig);
}

static const struct sigaction *old_action(int sig) {
    for (size_t i = 0; i < PTQ_COUNTOF(g_fatal); i++)
        if (g_fatal[i] == sig) return &g_old_fatal[i];
    return NULL;
}

/* The default action for sig, now: the process ends with it. */
static void die_of(int sig) {
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

static void on_fatal(int sig, siginfo_t *info, void *uctx) {
    static _Atomic long reporter;
    if (atomic_exchange(&g_dying, 1)) {
        /* The reporting thread itself, again: the handler it chained to (a sanitizer's
         * report) ends with abort().  Let that end the process. */
        if (atomic_load(&reporter) == my_tid()) {
            die_of(sig);
            return;
        }
        for (;;) pause(); /* another thread is reporting; it ends the process */
    }
    atomic_store(&reporter, my_tid());
    msg m = {.n = 0};
    put(&m, "\nptq: fatal signal ");
    put_int(&m, sig);
    put(&m, " (");
    put(&m, ptq_signal_abbrev(sig));
    put(&m, ")");
    if (atomic_load(&g_in_pass)) {
        put(&m, " in pass '");
        put(&m, g_pass);
        put(&m, "' of plugin '");
        put(&m, g_plugin);
        put(&m, "' (");
        put(&m, g_path);
        put(&m, ")");
    } else {
        put(&m, " outside any pass");
    }
    put(&m, atomic_load(&g_dir) == DIR_FILLING ? "; no output written\n" : "\n");
    flush(&m);
    remove_outdir();
    /* Then what was there before (a sanitizer's report), else the default action: the
     * signal stays pending while this handler runs, and kills on return. */
    const struct sigaction *old = old_action(sig);
    if (old && (old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
        old->sa_sigaction(sig, info, uctx);
    } else if (old && old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    }
    die_of(sig);
}

/* ---- setting up ----------------------------------------------------------------------- */

void ptq_guard_install(const ptq_registry *reg) {
    if (g_installed) return;
    g_reg = reg;
    g_main_tid = my_tid();
    /* A stack overflow in a pass is a SIGSEGV too: give the handler a stack of its own
     * on this thread, unless one is set (a sanitizer's). */
    static char alt[64 * 1024];
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) {
        stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
        sigaltstack(&ss, NULL);
    }
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < PTQ_COUNTOF(g_fatal); i++) sigaction(g_fatal[i], &sa, &g_old_fatal[i]);
    struct sigaction st = {0};
    st.sa_handler = on_stop;
    sigemptyset(&st.sa_mask);
    for (size_t i = 0; i < PTQ_COUNTOF(g_stop); i++) sigaddset(&st.sa_mask, g_stop[i]);
    /* A signal the caller ignores stays ignored: a shell starts background jobs with
     * SIGINT ignored, so that Ctrl-C meant for the foreground leaves them running. */
    for (size_t i = 0; i < PTQ_COUNTOF(g_stop); i++) {
        sigaction(g_stop[i], NULL, &g_old_stop[i]);
        if (g_old_stop[i].sa_handler != SIG_IGN) sigaction(g_stop[i], &st, NULL);
    }
    g_installed = true;
}

void ptq_guard_uninstall(void) {
    if (!g_installed) return;
    for (size_t i = 0; i < PTQ_COUNTOF(g_stop); i++) sigaction(g_stop[i], &g_old_stop[i], NULL);
    for (size_t i = 0; i < PTQ_COUNTOF(g_fatal); i++) sigaction(g_fatal[i], &g_old_fatal[i], NULL);
    atomic_store(&g_dir, DIR_NONE);
    atomic_store(&g_in_pass, 0);
    g_committed = 0;
    g_reg = NULL;
    g_main_tid = 0;
    g_installed = false;
}

void ptq_guard_outdir(const ptq_outdir *o) {
    atomic_store(&g_dir, DIR_NONE);
    if (!o || !o->tmp[0]) return;
    g_committed = 0;
    snprintf(g_tmp, sizeof g_tmp, "%s", o->tmp);
    snprintf(g_target, sizeof g_target, "%s", o->target);
    snprintf(g_created, sizeof g_created, "%s", o->created);
    atomic_store(&g_dir, DIR_FILLING);
}

void ptq_guard_commit_begin(void) {
    if (atomic_load(&g_dir) == DIR_FILLING) atomic_store(&g_dir, DIR_COMMITTING);
}

void ptq_guard_commit_end(bool committed) {
    if (atomic_load(&g_dir) != DIR_COMMITTING) return;
    g_committed = committed;
    atomic_store(&g_dir, committed ? DIR_NONE : DIR_FILLING);
    const int sig = g_pending;
    if (sig) on_stop(sig); /* the output is kept if it is in place, else removed */
}

void ptq_guard_pass(const ptq_pass_def *d) {
    if (!g_installed) return;
    atomic_store(&g_in_pass, 0);
    if (!d) return;
    const ptq_loaded_plugin *pl = g_reg ? ptq_registry_plugin_of(g_reg, d) : NULL;
    snprintf(g_pass, sizeof g_pass, "%s", d->name);
    snprintf(g_plugin, sizeof g_plugin, "%s", pl ? pl->desc->name : "?");
    snprintf(g_path, sizeof g_path, "%s", pl ? pl->path : "?");
    atomic_store(&g_in_pass, 1);
}
