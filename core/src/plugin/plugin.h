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

#endif
