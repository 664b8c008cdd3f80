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
 * if non-NULL, is searched first.  Returns NULL only when out of memory. */
ptq_registry *ptq_registry_load(const char *extra_dir, ptq_error *err);
void ptq_registry_free(ptq_registry *r);

/* Loads one plugin file into r (used by the loader and by tests).  PTQ_OK, or a status
 * with the reason in err (the file is then not registered). */
ptq_status ptq_registry_add_file(ptq_registry *r, const char *path, ptq_error *err);

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
