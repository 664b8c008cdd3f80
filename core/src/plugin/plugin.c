/* plugin.c — finding, loading and checking method plugins.
 *
 * Every shared object in a plugin directory is opened with dlopen(RTLD_NOW | RTLD_LOCAL);
 * its one entry symbol gives the static descriptor, which is checked (ABI major version,
 * fingerprint, names, pass tables) before anything in it is called.  A plugin that fails
 * any check is unloaded and recorded with the reason; loading goes on with the others:
 * one bad plugin never stops a run that does not need it. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "plugin.h"

/* Where plugins sit relative to the ptq executable: its installed layout (bindir to
 * <libdir>/ptq/plugins, computed by CMake) and the build tree's (ptq beside plugins/).
 * Nothing absolute is compiled in, so an installed tree can move and a removed build
 * tree is never searched. */
#ifndef PTQ_PLUGIN_DIR_FROM_BINDIR
#define PTQ_PLUGIN_DIR_FROM_BINDIR "../lib/ptq/plugins"
#endif
#define PTQ_PLUGIN_DIR_FROM_BUILD "plugins"

static char g_program_dir[4096];

bool ptq_set_program_path(const char *path) {
    g_program_dir[0] = '\0';
    char resolved[4096];
    if (!path || !*path || !realpath(path, resolved)) return false;
    char *slash = strrchr(resolved, '/');
    if (!slash) return false;
    *slash = '\0';
    snprintf(g_program_dir, sizeof g_program_dir, "%s", slash == resolved ? "/" : resolved);
    return true;
}

/* The core's own passes (passes_core.c). */
extern const ptq_plugin_desc ptq_core_plugin;

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static int push_str(char ***arr, int32_t *n, char *s) {
    if (!s) return -1;
    char **a = realloc(*arr, ((size_t)*n + 1) * sizeof *a);
    if (!a) {
        free(s);
        return -1;
    }
    a[(*n)++] = s;
    *arr = a;
    return 0;
}

/* [a-z0-9_]+ */
static bool valid_ident(const char *s, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

const ptq_pass_def *ptq_registry_find_pass(const ptq_registry *r, const char *name) {
    for (int32_t i = 0; i < r->n_passes; i++)
        if (!strcmp(r->passes[i]->name, name)) return r->passes[i];
    return NULL;
}

const ptq_loaded_plugin *ptq_registry_find_plugin(const ptq_registry *r, const char *name) {
    for (int32_t i = 0; i < r->n_plugins; i++)
        if (!strcmp(r->plugins[i].desc->name, name)) return &r->plugins[i];
    return NULL;
}

const ptq_loaded_plugin *ptq_registry_plugin_of(const ptq_registry *r, const ptq_pass_def *pass) {
    const char *dot = strchr(pass->name, '.');
    size_t len = dot ? (size_t)(dot - pass->name) : strlen(pass->name);
    for (int32_t i = 0; i < r->n_plugins; i++) {
        const char *n = r->plugins[i].desc->name;
        if (strlen(n) == len && !strncmp(n, pass->name, len)) return &r->plugins[i];
    }
    return NULL;
}

/* ---- descriptor rules ------------------------------------------------------------ */

/* Tables in a descriptor end with NULL or {0}; a walk stops here instead of reading on
 * through whatever follows a table that lacks its terminator. */
#define TABLE_LIMIT PTQ_PLUGIN_TABLE_LIMIT

typedef struct problems {
    ptq_desc_problem_fn fn;
    void *ctx;
    int32_t n;
    bool stop;
} problems;

static void problem(problems *pb, ptq_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(problems *pb, ptq_status status, const char *fmt, ...) {
    if (pb->stop) return;
    char msg[PTQ_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pb->n++;
    if (!pb->fn(pb->ctx, status, msg)) pb->stop = true;
}

/* Entries of a NULL-terminated list, or -1 when there is no NULL within TABLE_LIMIT. */
static int32_t list_length(const char *const *list) {
    int32_t n = 0;
    while (list && n < TABLE_LIMIT && list[n]) n++;
    return list && n == TABLE_LIMIT ? -1 : n;
}

/* The bytes a parameter of this type takes in the params struct (0: unknown type). */
static size_t param_size(ptq_param_type t) {
    switch (t) {
    case PTQ_PARAM_BOOL: case PTQ_PARAM_ENUM: return sizeof(int32_t);
    case PTQ_PARAM_INT: return sizeof(int64_t);
    case PTQ_PARAM_FLOAT: return sizeof(double);
    case PTQ_PARAM_STRING: return sizeof(const char *);
    default: return 0;
    }
}

static void check_param(problems *pb, const ptq_pass_def *p, const ptq_param_def *q, int32_t k) {
    const char *pn = p->name;
    if (!valid_ident(q->name, strlen(q->name))) {
        problem(pb, PTQ_ERR_INVALID, "parameter %d of pass '%s': name '%s' is not [a-z0-9_]+",
                k, pn, q->name);
        return;
    }
    for (int32_t j = 0; j < k; j++)
        if (!strcmp(p->params[j].name, q->name)) {
            problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s' is defined twice (entries "
                    "%d and %d)", q->name, pn, j, k);
            return;
        }
    const size_t size = param_size(q->type);
    if (!size) {
        problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s' has an unknown type %u",
                q->name, pn, q->type);
        return;
    }
    if (q->offset > p->params_size || p->params_size - q->offset < size)
        problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s': offset %zu (+%zu bytes) lies "
                "outside its params struct of %zu bytes", q->name, pn, q->offset, size,
                p->params_size);
    const bool required = q->flags & PTQ_PARAM_REQUIRED;
    if (q->type == PTQ_PARAM_INT || q->type == PTQ_PARAM_FLOAT) {
        if (!(q->min <= q->max))
            problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s': range [%g, %g] is empty",
                    q->name, pn, q->min, q->max);
        else if (!required && !(q->def >= q->min && q->def <= q->max))
            problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s': default %g outside its "
                    "range [%g, %g]", q->name, pn, q->def, q->min, q->max);
        else if (!required && q->type == PTQ_PARAM_INT && q->def != floor(q->def))
            problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s': default %g of an int "
                    "parameter is not an integer", q->name, pn, q->def);
    }
    if (q->type == PTQ_PARAM_BOOL && !required && q->def != 0 && q->def != 1)
        problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s': bool default %g is neither 0 "
                "nor 1", q->name, pn, q->def);
    if (q->type == PTQ_PARAM_ENUM) {
        const int32_t n = list_length(q->choices);
        if (n < 0)
            problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s': its choices have no NULL "
                    "terminator within %d entries", q->name, pn, TABLE_LIMIT);
        else if (n == 0)
            problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s': an enum without choices",
                    q->name, pn);
        else if (!required && !(q->def >= 0 && q->def < n && q->def == floor(q->def)))
            problem(pb, PTQ_ERR_INVALID, "parameter '%s' of pass '%s': default index %g is not "
                    "one of its %d choices", q->name, pn, q->def, n);
    }
}

static void check_list(problems *pb, const ptq_pass_def *p, const char *what,
                       const char *const *list) {
    if (list_length(list) < 0)
        problem(pb, PTQ_ERR_INVALID, "pass '%s': its %s list has no NULL terminator within %d "
                "entries", p->name, what, TABLE_LIMIT);
}

static void check_pass(problems *pb, const ptq_registry *r, const ptq_plugin_desc *d,
                       const ptq_pass_def *p, int32_t i) {
    if (p->struct_size < PTQ_PASS_DEF_SIZE_0_1 || !p->name || !p->run) {
        problem(pb, PTQ_ERR_INVALID, "pass %d of '%s' is incomplete (%s)", i, d->name,
                p->struct_size < PTQ_PASS_DEF_SIZE_0_1 ? "struct_size smaller than SDK 0.1's"
                : !p->name ? "no name" : "no run function");
        return;
    }
    const size_t nlen = strlen(d->name);
    if (strncmp(p->name, d->name, nlen) != 0 || p->name[nlen] != '.' ||
        !valid_ident(p->name + nlen + 1, strlen(p->name + nlen + 1)))
        problem(pb, PTQ_ERR_INVALID, "pass '%s' must be named '%s.<name>' with <name> in "
                "[a-z0-9_]+", p->name, d->name);
    if (r && ptq_registry_find_pass(r, p->name))
        problem(pb, PTQ_ERR_INVALID, "pass '%s' is already defined", p->name);
    for (int32_t j = 0; j < i; j++)
        if (d->passes[j]->name && !strcmp(d->passes[j]->name, p->name))
            problem(pb, PTQ_ERR_INVALID, "pass '%s' is defined twice in the plugin", p->name);
    check_list(pb, p, "reads", p->reads);
    check_list(pb, p, "reads_optional", p->reads_optional);
    check_list(pb, p, "writes", p->writes);
    if (PTQ_PASS_HAS(p, invalidates)) check_list(pb, p, "invalidates", p->invalidates);
    int32_t k = 0;
    for (; p->params && k < TABLE_LIMIT && p->params[k].name && !pb->stop; k++)
        check_param(pb, p, &p->params[k], k);
    if (k == TABLE_LIMIT)
        problem(pb, PTQ_ERR_INVALID, "pass '%s': its parameter table has no {0} terminator "
                "within %d entries", p->name, TABLE_LIMIT);
}

int32_t ptq_plugin_desc_problems(const ptq_registry *r, const ptq_plugin_desc *d,
                                 ptq_desc_problem_fn fn, void *ctx) {
    problems pb = {fn, ctx, 0, false};
    const ptq_version host = PTQ_VERSION_INIT;
    /* The layout of everything past the version is only known for our ABI: stop there. */
    if (d->abi.major != host.major) {
        problem(&pb, PTQ_ERR_UNSUPPORTED, "built for plugin ABI %u.%u.%u, this ptq has ABI "
                "%u.%u.%u (the major versions must match: rebuild the plugin)", d->abi.major,
                d->abi.minor, d->abi.patch, host.major, host.minor, host.patch);
        return pb.n;
    }
    if (d->fingerprint != PTQ_ABI_FINGERPRINT || d->struct_size < sizeof(ptq_plugin_desc)) {
        problem(&pb, PTQ_ERR_UNSUPPORTED, "ABI fingerprint %u (descriptor of %u bytes) differs "
                "from this ptq's %u (%zu bytes): built with incompatible headers or compiler",
                d->fingerprint, d->struct_size, (unsigned)PTQ_ABI_FINGERPRINT,
                sizeof(ptq_plugin_desc));
        return pb.n;
    }
    const bool named = d->name && valid_ident(d->name, strlen(d->name));
    if (!named)
        problem(&pb, PTQ_ERR_INVALID, "plugin name '%s' is not [a-z0-9_]+",
                d->name ? d->name : "(null)");
    else if (r && ptq_registry_find_plugin(r, d->name))
        problem(&pb, PTQ_ERR_INVALID, "a plugin named '%s' is already loaded from %s", d->name,
                ptq_registry_find_plugin(r, d->name)->path);
    if (!d->version)
        problem(&pb, PTQ_ERR_INVALID, "plugin '%s' gives no version string",
                named ? d->name : "(unnamed)");
    if (!d->passes) {
        problem(&pb, PTQ_ERR_INVALID, "plugin '%s' has no pass table", named ? d->name : "(unnamed)");
        return pb.n;
    }
    if (!named) return pb.n; /* pass names are checked against the plugin's */
    int32_t i = 0;
    for (; i < TABLE_LIMIT && d->passes[i] && !pb.stop; i++) check_pass(&pb, r, d, d->passes[i], i);
    if (i == TABLE_LIMIT)
        problem(&pb, PTQ_ERR_INVALID, "plugin '%s': its pass table has no NULL terminator within "
                "%d entries", d->name, TABLE_LIMIT);
    return pb.n;
}

/* The first problem, as the load's error ("<path>: <problem>"). */
typedef struct first_problem {
    ptq_error *err;
    const char *path;
} first_problem;

static bool keep_first(void *ctx, ptq_status status, const char *msg) {
    first_problem *f = ctx;
    ptq_error_set(f->err, status, "%s: %s", f->path, msg);
    return false;
}

/* Checks a descriptor's contents; the message says what is wrong. */
static ptq_status check_desc(const ptq_registry *r, const ptq_plugin_desc *d, const char *path,
                             ptq_error *err) {
    first_problem f = {err, path};
    return ptq_plugin_desc_problems(r, d, keep_first, &f) ? err->status : PTQ_OK;
}

/* Registers a checked descriptor. */
static ptq_status add_desc(ptq_registry *r, const ptq_plugin_desc *d, const char *path,
                           void *handle, ptq_error *err) {
    ptq_loaded_plugin *pl = realloc(r->plugins, ((size_t)r->n_plugins + 1) * sizeof *pl);
    if (!pl) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    r->plugins = pl;
    int32_t np = 0;
    while (d->passes[np]) np++;
    const ptq_pass_def **ps = realloc(r->passes, ((size_t)r->n_passes + (size_t)np) * sizeof *ps);
    if (!ps) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    r->passes = ps;
    char *p = ptq_strdup(path);
    if (!p) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    pl[r->n_plugins++] = (ptq_loaded_plugin){p, handle, d};
    for (int32_t i = 0; i < np; i++) ps[r->n_passes++] = d->passes[i];
    return PTQ_OK;
}

/* Messages from a plugin's init land here (there is no session yet). */
static _Thread_local ptq_error *g_init_err;

ptq_status ptq_host_init_error(ptq_status status, const char *msg);
ptq_status ptq_host_init_error(ptq_status status, const char *msg) {
    return ptq_error_set(g_init_err, status, "%s", msg);
}

ptq_status ptq_plugin_init(const ptq_plugin_desc *d, ptq_error *err) {
    if (!d->init) return PTQ_OK;
    ptq_error init_err = {0};
    g_init_err = &init_err;
    const ptq_status st = d->init(ptq_host_table());
    g_init_err = NULL;
    if (st)
        ptq_error_set(err, st, "plugin '%s' failed to initialise: %s", d->name,
                      init_err.msg[0] ? init_err.msg : ptq_status_name(st));
    return st;
}

/* The refusal of a file whose probe did not end well; PTQ_OK if it did. */
static ptq_status probe_verdict(const ptq_probe *pr, const char *path, ptq_error *err) {
    if (!pr->signal && !pr->hung && !pr->exited) return PTQ_OK;
    char why[256];
    ptq_probe_describe(pr, why, sizeof why);
    return ptq_error_set(err, PTQ_ERR_INVALID, "%s: %s at load (%s); skipped", path,
                         pr->signal ? "crashed" : pr->hung ? "hung" : "exited", why);
}

/* Loads a file whose probe ended well. */
static ptq_status add_probed_file(ptq_registry *r, const char *path, ptq_error *err) {
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) return ptq_error_set(err, PTQ_ERR_INVALID, "%s: cannot load: %s", path, dlerror());
    ptq_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, PTQ_PLUGIN_ENTRY_NAME);
    if (!entry) {
        dlclose(h);
        return ptq_error_set(err, PTQ_ERR_INVALID, "%s: no '%s' symbol: not a ptq plugin", path,
                             PTQ_PLUGIN_ENTRY_NAME);
    }
    const ptq_plugin_desc *d = entry();
    ptq_status st = d ? check_desc(r, d, path, err)
                      : ptq_error_set(err, PTQ_ERR_INVALID, "%s: %s() returned NULL", path,
                                      PTQ_PLUGIN_ENTRY_NAME);
    bool initialised = false;
    if (!st && d->init) {
        st = ptq_plugin_init(d, err);
        if (st) ptq_error_prefix(err, "%s", path);
        initialised = !st;
    }
    if (!st) st = add_desc(r, d, path, h, err);
    if (st) {
        if (initialised && d->deinit) d->deinit();
        dlclose(h);
    }
    return st;
}

ptq_status ptq_registry_add_file(ptq_registry *r, const char *path, ptq_error *err) {
    /* A plugin that dies while loading (a constructor, its entry, its init) must not take
     * ptq down with it: it is first loaded in a child process (probe.c), and only one that
     * survived there is loaded here. */
    ptq_probe pr;
    if (ptq_plugin_probe(r, path, false, &pr, err)) return err->status;
    ptq_status st = probe_verdict(&pr, path, err);
    ptq_probe_free(&pr);
    return st ? st : add_probed_file(r, path, err);
}

static bool is_shared_object(const char *name) {
    size_t n = strlen(name);
    return n > 3 && !strcmp(name + n - 3, ".so");
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every .so of dir to s, in name order (deterministic).  Running out of memory
 * sets s->nomem: a search missing plugins for want of memory would otherwise turn into
 * a misleading "unknown pass" later. */
static void search_dir(ptq_plugin_search *s, const char *dir) {
    for (int32_t i = 0; i < s->n_dirs; i++)
        if (!strcmp(s->dirs[i], dir)) return; /* the same directory twice */
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return;
    if (push_str(&s->dirs, &s->n_dirs, ptq_strdup(dir))) {
        s->nomem = true;
        return;
    }
    DIR *d = opendir(dir);
    if (!d) return;
    char **names = NULL;
    int32_t n = 0;
    struct dirent *e;
    while (!s->nomem && (e = readdir(d)))
        if (is_shared_object(e->d_name) && push_str(&names, &n, ptq_strdup(e->d_name)))
            s->nomem = true;
    closedir(d);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int32_t i = 0; i < n; i++) {
        if (!s->nomem && push_str(&s->files, &s->n_files, format("%s/%s", dir, names[i])))
            s->nomem = true;
        free(names[i]);
    }
    free(names);
}

void ptq_plugin_search_run(ptq_plugin_search *s, const char *extra_dir) {
    memset(s, 0, sizeof *s);
    if (extra_dir) search_dir(s, extra_dir);
    const char *env = getenv("PTQ_PLUGIN_PATH");
    if (env && *env) {
        char *copy = ptq_strdup(env), *save = NULL;
        if (!copy) s->nomem = true;
        for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save))
            search_dir(s, tok);
        free(copy);
    }
    if (g_program_dir[0]) {
        /* The installed layout first; the build tree's only when there is none, so an
         * installed ptq never mixes in plugins of a build tree beside it. */
        char *inst = format("%s/%s", g_program_dir, PTQ_PLUGIN_DIR_FROM_BINDIR);
        char *build = format("%s/%s", g_program_dir, PTQ_PLUGIN_DIR_FROM_BUILD);
        struct stat st;
        char canon[4096];
        if (!inst || !build)
            s->nomem = true;
        else if (stat(inst, &st) == 0 && S_ISDIR(st.st_mode) && realpath(inst, canon))
            search_dir(s, canon);
        else
            search_dir(s, build);
        free(inst);
        free(build);
    }
}

void ptq_plugin_search_free(ptq_plugin_search *s) {
    for (int32_t i = 0; i < s->n_files; i++) free(s->files[i]);
    for (int32_t i = 0; i < s->n_dirs; i++) free(s->dirs[i]);
    free(s->files);
    free(s->dirs);
    memset(s, 0, sizeof *s);
}

ptq_registry *ptq_registry_load(const char *extra_dir, ptq_error *err) {
    ptq_registry *r = calloc(1, sizeof *r);
    if (!r) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (add_desc(r, &ptq_core_plugin, "built in", NULL, err)) {
        ptq_registry_free(r);
        return NULL;
    }
    ptq_plugin_search s;
    ptq_plugin_search_run(&s, extra_dir);
    /* Every file probed first, all in one child process while none crashes (a fork per
     * file cost 10-15 ms each), then the survivors loaded here. */
    ptq_probe *pr = s.n_files ? ptq_calloc_array((size_t)s.n_files, sizeof *pr) : NULL;
    ptq_status st = s.nomem || (s.n_files && !pr)
                        ? ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory listing plugins")
                        : PTQ_OK;
    /* When no child can be made (fork refused: a process limit, strict overcommit), the
     * files load here unprobed, as before probing existed, rather than not at all. */
    ptq_error perr = {0};
    const bool probed = !st && !ptq_plugin_probe_files(r, s.files, s.n_files, false, pr, &perr);
    for (int32_t i = 0; i < s.n_files; i++) {
        ptq_error e = {0};
        ptq_status fst = st      ? PTQ_OK
                         : probed ? probe_verdict(&pr[i], s.files[i], &e)
                                  : add_probed_file(r, s.files[i], &e);
        if (!st && probed && !fst) fst = add_probed_file(r, s.files[i], &e);
        /* Out of memory (here or in a plugin's init) stops the load; any other refusal
         * is recorded and loading goes on. */
        if (fst == PTQ_ERR_NOMEM || e.status == PTQ_ERR_NOMEM)
            st = ptq_error_set(err, PTQ_ERR_NOMEM, "%s", e.msg);
        else if (fst && push_str(&r->rejected, &r->n_rejected, ptq_strdup(e.msg)))
            st = ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", s.files[i]);
        if (pr) ptq_probe_free(&pr[i]);
    }
    free(pr);
    /* The directories move over to the registry. */
    r->searched = s.dirs, r->n_searched = s.n_dirs;
    s.dirs = NULL, s.n_dirs = 0;
    ptq_plugin_search_free(&s);
    if (st) {
        ptq_registry_free(r);
        return NULL;
    }
    return r;
}

void ptq_registry_free(ptq_registry *r) {
    if (!r) return;
    for (int32_t i = r->n_plugins - 1; i >= 0; i--) {
        ptq_loaded_plugin *p = &r->plugins[i];
        if (p->handle) {
            if (p->desc->deinit) p->desc->deinit();
            dlclose(p->handle);
        }
        free(p->path);
    }
    for (int32_t i = 0; i < r->n_rejected; i++) free(r->rejected[i]);
    for (int32_t i = 0; i < r->n_searched; i++) free(r->searched[i]);
    free(r->rejected);
    free(r->searched);
    free(r->plugins);
    free(r->passes);
    free(r);
}
