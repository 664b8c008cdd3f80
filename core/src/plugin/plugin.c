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

/* Checks a descriptor's contents; the message says what is wrong. */
static ptq_status check_desc(const ptq_registry *r, const ptq_plugin_desc *d, const char *path,
                             ptq_error *err) {
    const ptq_version host = PTQ_VERSION_INIT;
    if (d->abi.major != host.major)
        return ptq_error_set(err, PTQ_ERR_UNSUPPORTED,
                             "%s: built for plugin ABI %u.%u.%u, this ptq has ABI %u.%u.%u "
                             "(the major versions must match: rebuild the plugin)",
                             path, d->abi.major, d->abi.minor, d->abi.patch, host.major,
                             host.minor, host.patch);
    if (d->fingerprint != PTQ_ABI_FINGERPRINT || d->struct_size < sizeof(ptq_plugin_desc))
        return ptq_error_set(err, PTQ_ERR_UNSUPPORTED,
                             "%s: ABI fingerprint %u (descriptor of %u bytes) differs from this "
                             "ptq's %u (%zu bytes): built with incompatible headers or compiler",
                             path, d->fingerprint, d->struct_size, (unsigned)PTQ_ABI_FINGERPRINT,
                             sizeof(ptq_plugin_desc));
    if (!d->name || !valid_ident(d->name, strlen(d->name)))
        return ptq_error_set(err, PTQ_ERR_INVALID, "%s: plugin name '%s' is not [a-z0-9_]+", path,
                             d->name ? d->name : "(null)");
    if (ptq_registry_find_plugin(r, d->name))
        return ptq_error_set(err, PTQ_ERR_INVALID, "%s: a plugin named '%s' is already loaded "
                             "from %s", path, d->name, ptq_registry_find_plugin(r, d->name)->path);
    if (!d->passes) return ptq_error_set(err, PTQ_ERR_INVALID, "%s: plugin '%s' has no pass table",
                                         path, d->name);
    const size_t nlen = strlen(d->name);
    for (int32_t i = 0; d->passes[i]; i++) {
        const ptq_pass_def *p = d->passes[i];
        if (p->struct_size < PTQ_PASS_DEF_SIZE_0_1 || !p->name || !p->run)
            return ptq_error_set(err, PTQ_ERR_INVALID, "%s: pass %d of '%s' is incomplete", path,
                                 i, d->name);
        if (strncmp(p->name, d->name, nlen) != 0 || p->name[nlen] != '.' ||
            !valid_ident(p->name + nlen + 1, strlen(p->name + nlen + 1)))
            return ptq_error_set(err, PTQ_ERR_INVALID, "%s: pass '%s' must be named '%s.<name>' "
                                 "with <name> in [a-z0-9_]+", path, p->name, d->name);
        if (ptq_registry_find_pass(r, p->name))
            return ptq_error_set(err, PTQ_ERR_INVALID, "%s: pass '%s' is already defined", path,
                                 p->name);
        for (const ptq_param_def *q = p->params; q && q->name; q++) {
            bool ok = valid_ident(q->name, strlen(q->name)) && q->type >= PTQ_PARAM_BOOL &&
                      q->type <= PTQ_PARAM_ENUM && q->offset < p->params_size;
            if (ok && (q->type == PTQ_PARAM_INT || q->type == PTQ_PARAM_FLOAT) &&
                !(q->flags & PTQ_PARAM_REQUIRED))
                ok = q->def >= q->min && q->def <= q->max;
            if (ok && q->type == PTQ_PARAM_ENUM) {
                int n = 0;
                while (q->choices && q->choices[n]) n++;
                ok = n > 0 && q->def >= 0 && q->def < n;
            }
            if (!ok)
                return ptq_error_set(err, PTQ_ERR_INVALID,
                                     "%s: parameter '%s' of pass '%s' is malformed (name, type, "
                                     "offset inside params_size, or default outside its range)",
                                     path, q->name, p->name);
        }
    }
    return PTQ_OK;
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

ptq_status ptq_registry_add_file(ptq_registry *r, const char *path, ptq_error *err) {
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
        ptq_error init_err = {0};
        g_init_err = &init_err;
        st = d->init(ptq_host_table());
        g_init_err = NULL;
        if (st)
            ptq_error_set(err, st, "%s: plugin '%s' failed to initialise: %s", path, d->name,
                          init_err.msg[0] ? init_err.msg : ptq_status_name(st));
        initialised = !st;
    }
    if (!st) st = add_desc(r, d, path, h, err);
    if (st) {
        if (initialised && d->deinit) d->deinit();
        dlclose(h);
    }
    return st;
}

static bool is_shared_object(const char *name) {
    size_t n = strlen(name);
    return n > 3 && !strcmp(name + n - 3, ".so");
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every .so of dir, in name order (deterministic).  A plugin that fails its checks
 * is recorded in r->rejected and loading goes on; running out of memory (here, or in a
 * plugin's init) stops the load: a registry missing plugins for want of memory would
 * otherwise turn into a misleading "unknown pass" later. */
static ptq_status load_dir(ptq_registry *r, const char *dir, ptq_error *err) {
    for (int32_t i = 0; i < r->n_searched; i++)
        if (!strcmp(r->searched[i], dir)) return PTQ_OK; /* the same directory twice */
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return PTQ_OK;
    if (push_str(&r->searched, &r->n_searched, ptq_strdup(dir)))
        return ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory listing plugins", dir);
    DIR *d = opendir(dir);
    if (!d) return PTQ_OK;
    char **names = NULL;
    int32_t n = 0;
    ptq_status status = PTQ_OK;
    struct dirent *e;
    while (!status && (e = readdir(d)))
        if (is_shared_object(e->d_name) && push_str(&names, &n, ptq_strdup(e->d_name)))
            status = ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory listing plugins", dir);
    closedir(d);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int32_t i = 0; i < n; i++) {
        char *path = status ? NULL : format("%s/%s", dir, names[i]);
        if (!status && !path)
            status = ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory loading plugins", dir);
        ptq_error perr = {0};
        if (path && ptq_registry_add_file(r, path, &perr)) {
            if (perr.status == PTQ_ERR_NOMEM)
                status = ptq_error_set(err, PTQ_ERR_NOMEM, "%s", perr.msg);
            else if (push_str(&r->rejected, &r->n_rejected, ptq_strdup(perr.msg)))
                status = ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", path);
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return status;
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
    ptq_status st = extra_dir ? load_dir(r, extra_dir, err) : PTQ_OK;
    const char *env = getenv("PTQ_PLUGIN_PATH");
    if (!st && env && *env) {
        char *copy = ptq_strdup(env), *save = NULL;
        if (!copy) st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; !st && tok;
             tok = strtok_r(NULL, ":", &save))
            st = load_dir(r, tok, err);
        free(copy);
    }
    if (!st && g_program_dir[0]) {
        /* The installed layout first; the build tree's only when there is none, so an
         * installed ptq never mixes in plugins of a build tree beside it. */
        char *inst = format("%s/%s", g_program_dir, PTQ_PLUGIN_DIR_FROM_BINDIR);
        char *build = format("%s/%s", g_program_dir, PTQ_PLUGIN_DIR_FROM_BUILD);
        struct stat sb;
        char canon[4096];
        if (!inst || !build)
            st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        else if (stat(inst, &sb) == 0 && S_ISDIR(sb.st_mode) && realpath(inst, canon))
            st = load_dir(r, canon, err);
        else
            st = load_dir(r, build, err);
        free(inst);
        free(build);
    }
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
