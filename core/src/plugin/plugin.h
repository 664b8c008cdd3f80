/* plugin.h — the plugin registry: loading method plugins (.so) through the ABI of
 * sdk/include/ptq/ptq_plugin.h, and the passes the core itself provides ("core.*"). */
#ifndef PTQ_PLUGIN_REGISTRY_H
#define PTQ_PLUGIN_REGISTRY_H

#include "internal.h"
#include "ptq/ptq_plugin.h"

typedef struct ptq_loaded_plugin {
    char *path;                  /* owned; "built in" for the core's own passes */
    void *handle;                /* dlopen handle, NULL for built-ins */
    const ptq_plugin_desc *desc; /* the plugin's static descriptor */
} ptq_loaded_plugin;

typedef struct ptq_registry {
    ptq_loaded_plugin *plugins;
    int32_t n_plugins;
    const ptq_pass_def **passes; /* every pass of every plugin, built-ins first */
    int32_t n_passes;
    char **rejected;             /* one message per plugin file that was refused */
    int32_t n_rejected;
    char **searched;             /* the directories searched, in order */
    int32_t n_searched;
} ptq_registry;

/* Loads the built-in passes and every plugin found, in order, in: each directory of
 * $PTQ_PLUGIN_PATH (colon-separated), then, when ptq_set_program_path() was called,
 * <libdir>/ptq/plugins relative to the program's installed bindir, or if there is none
 * the build tree's plugins/ beside the program.  A file that cannot be loaded (no entry symbol, another
 * ABI major version or fingerprint, a failing init, a duplicate plugin or pass name) is
 * recorded in `rejected` with the file and the reason, and loading goes on.  extra_dir,
 * if non-NULL, is searched first.  Returns NULL only when out of memory.
 * Every file is first loaded in a forked child (probe.c): call this before the process
 * has threads (OpenMP regions), as ptq's commands do; a plugin whose init enters OpenMP
 * in the copy of a process that already has would hang there and be reported hung. */
ptq_registry *ptq_registry_load(const char *extra_dir, ptq_error *err);
void ptq_registry_free(ptq_registry *r);

/* Loads one plugin file into r (used by the loader and by tests).  The file is first
 * loaded, entered and initialised in a child process (ptq_plugin_probe): one that crashes,
 * hangs or exits there is refused ("crashed at load (signal 11, SIGSEGV, in init)") and
 * never loaded here.  PTQ_OK, or a status with the reason in err (the file is then not
 * registered). */
ptq_status ptq_registry_add_file(ptq_registry *r, const char *path, ptq_error *err);

/* The plugin files discovery would load, in order (see ptq_registry_load), and the
 * directories searched. */
typedef struct ptq_plugin_search {
    char **files;
    int32_t n_files;
    char **dirs;
    int32_t n_dirs;
    bool nomem; /* an allocation failed: the lists are incomplete */
} ptq_plugin_search;
void ptq_plugin_search_run(ptq_plugin_search *s, const char *extra_dir);
void ptq_plugin_search_free(ptq_plugin_search *s);

/* ---- the descriptor's rules ---- */

/* How far a walk over a descriptor's table goes looking for its terminator. */
#define PTQ_PLUGIN_TABLE_LIMIT 256

/* Receives each problem found in a descriptor; returns false to stop the check. */
typedef bool (*ptq_desc_problem_fn)(void *ctx, ptq_status status, const char *msg);

/* Checks d against every rule of ptq_plugin.h: the ABI (major version, fingerprint: the
 * check stops there when they differ), names ([a-z0-9_]+, passes "<plugin>.<name>",
 * unique among r's plugins and passes and within the plugin), every table terminated
 * within PTQ_PLUGIN_TABLE_LIMIT entries, parameters (names unique, a known type, offsets
 * inside params_size, ranges not empty, defaults inside them, enum defaults among their
 * choices).  r may be NULL (no uniqueness against loaded plugins).  Returns the number of
 * problems reported. */
int32_t ptq_plugin_desc_problems(const ptq_registry *r, const ptq_plugin_desc *d,
                                 ptq_desc_problem_fn fn, void *ctx);

/* Calls d->init (if any) with the host table; a failure's message names the plugin and
 * says what init reported through host->error(NULL, ...). */
ptq_status ptq_plugin_init(const ptq_plugin_desc *d, ptq_error *err);

/* ---- probe.c: loading a plugin where its crash cannot hurt ---- */

/* What a child process that loaded one plugin file reported. */
typedef struct ptq_probe {
    char stage[32];        /* the last stage the child entered: load, entry, descriptor, init,
                            * reads, deinit */
    int signal;            /* > 0: the child died of this signal in `stage` */
    bool hung;             /* no answer within the timeout: the child was killed */
    bool exited;           /* the child exited (the plugin called exit()) in `stage`... */
    int exit_code;         /* ... with this status */
    char **problems;       /* full check: every rule broken, one sentence each */
    int32_t n_problems;
    char plugin[64], version[64]; /* what the descriptor says (full check, when read) */
    int32_t n_passes;
    double timeout;        /* seconds the child was given */
} ptq_probe;

/* Forks a child that loads path (dlopen: its constructors), calls its entry, checks the
 * descriptor, calls init and deinit, telling the parent over a pipe which stage it is
 * entering and what it found.  full: every problem of the descriptor, and whether each
 * pass's reads can be produced (by the host, or a pass of r or of the plugin itself);
 * without, the child stops at the first problem (the caller's own check reports it) and
 * only the stages' survival counts.  The child is killed after $PTQ_PLUGIN_TIMEOUT seconds
 * (default 10).  PTQ_OK with *out filled, or an error when no child could be started. */
ptq_status ptq_plugin_probe(const ptq_registry *r, const char *path, bool full, ptq_probe *out,
                            ptq_error *err);
/* ptq_plugin_probe of n files into out[n], in as few children as they allow: one child
 * goes through the files in order, and when it dies or hangs on one, the next child
 * starts after it (discovery: one fork for a directory of healthy plugins). */
ptq_status ptq_plugin_probe_files(const ptq_registry *r, char *const *paths, int32_t n, bool full,
                                  ptq_probe *out, ptq_error *err);
void ptq_probe_free(ptq_probe *p);
/* "signal 11, SIGSEGV, in init", "in init, no answer within 10 s; killed", "status 3, in
 * init": how the child ended, when it did not end well. */
void ptq_probe_describe(const ptq_probe *p, char *buf, size_t size);
/* "SIGSEGV" for 11 (async-signal-safe: a static table), "signal" when unknown. */
const char *ptq_signal_abbrev(int sig);

const ptq_pass_def *ptq_registry_find_pass(const ptq_registry *r, const char *name);
const ptq_loaded_plugin *ptq_registry_find_plugin(const ptq_registry *r, const char *name);
/* The plugin a pass belongs to (the part of its name before the dot). */
const ptq_loaded_plugin *ptq_registry_plugin_of(const ptq_registry *r, const ptq_pass_def *pass);

/* The host's function table handed to plugins. */
const ptq_host *ptq_host_table(void);

/* host.c: the nodes of g (the working graph or its quantized copy) a plugin's subset of
 * working-graph node ids stands for, with the fake quantizers on its edges, in
 * topological order (*sub malloc'd); nodes NULL: all of g. */
ptq_status ptq_host_subset(ptq_session *s, const ptq_graph *g, const int32_t *nodes,
                           int32_t n_nodes, int32_t **sub, int32_t *n_sub);

/* grad_run.c: the differentiable runs of the host table (SDK 0.8). */
ptq_grad_run *ptq_host_grad_run_new(ptq_session *s, const ptq_grad_run_options *o);
float *ptq_host_grad_run_input(ptq_grad_run *r, int32_t value);
ptq_status ptq_host_grad_run_forward(ptq_grad_run *r, int64_t batch);
const float *ptq_host_grad_run_value(ptq_grad_run *r, int32_t value);
float *ptq_host_grad_run_seed(ptq_grad_run *r, int32_t value);
ptq_status ptq_host_grad_run_backward(ptq_grad_run *r, int64_t batch);
const float *ptq_host_grad_run_gradient(ptq_grad_run *r, int32_t value);
void ptq_host_grad_run_free(ptq_grad_run *r);

#endif
