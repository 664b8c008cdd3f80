/* check.c — `ptq plugins --check`: each plugin file loaded, entered, checked and
 * initialised in a child process (probe.c), with every problem reported per file. */
#include "plugin.h"

/* What the child was doing in each stage, as the report says it. */
static const char *stage_phrase(const char *stage) {
    if (!strcmp(stage, "load")) return "load (dlopen: a constructor or a library it needs)";
    if (!strcmp(stage, "entry")) return "entry (" PTQ_PLUGIN_ENTRY_NAME ")";
    if (!strcmp(stage, "descriptor")) return "descriptor (reading its tables)";
    if (!strcmp(stage, "reads")) return "reads (reading its pass tables)";
    return stage;
}

/* Prints the findings for one file; true when there were none. */
static bool report(FILE *out, const char *path, const ptq_probe *p) {
    for (int32_t i = 0; i < p->n_problems; i++) fprintf(out, "%s: %s\n", path, p->problems[i]);
    if (p->signal)
        fprintf(out, "%s: crashed in %s with signal %d (%s)\n", path, stage_phrase(p->stage),
                p->signal, ptq_signal_abbrev(p->signal));
    else if (p->hung)
        fprintf(out, "%s: hung in %s (no answer within %g s; killed)\n", path,
                stage_phrase(p->stage), p->timeout);
    else if (p->exited)
        fprintf(out, "%s: exited with status %d in %s (a plugin must return errors, not exit)\n",
                path, p->exit_code, stage_phrase(p->stage));
    const bool ok = !p->n_problems && !p->signal && !p->hung && !p->exited;
    if (ok)
        fprintf(out, "%s: ok (plugin '%s' %s, %d pass%s)\n", path, p->plugin, p->version,
                p->n_passes, p->n_passes == 1 ? "" : "es");
    return ok;
}

ptq_status ptq_check_plugins(const char *const *files, int32_t n_files, const char *plugin_dir,
                             FILE *out, int32_t *n_bad, ptq_error *err) {
    *n_bad = 0;
    /* The loaded plugins (each probed, so none can crash this) are what other passes'
     * reads may come from. */
    ptq_registry *reg = ptq_registry_load(plugin_dir, err);
    if (!reg) return err->status;
    ptq_plugin_search s = {0};
    if (n_files == 0) {
        ptq_plugin_search_run(&s, plugin_dir);
        if (s.nomem) {
            ptq_plugin_search_free(&s);
            ptq_registry_free(reg);
            return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory listing plugins");
        }
        if (!s.n_files) {
            fprintf(out, "no plugin files found; searched:");
            for (int32_t i = 0; i < s.n_dirs; i++) fprintf(out, " %s", s.dirs[i]);
            fprintf(out, "%s\n", s.n_dirs ? "" : " nothing (no plugin directory; set PTQ_PLUGIN_PATH)");
        }
    }
    const int32_t n = n_files ? n_files : s.n_files;
    ptq_status st = PTQ_OK;
    for (int32_t i = 0; i < n && !st; i++) {
        const char *given = n_files ? files[i] : s.files[i];
        /* dlopen takes a name without a slash as a library to look up, not a file here. */
        char path[4096];
        snprintf(path, sizeof path, "%s%s", strchr(given, '/') ? "" : "./", given);
        ptq_probe p;
        st = ptq_plugin_probe(reg, path, true, &p, err);
        if (st) break;
        if (!report(out, given, &p)) ++*n_bad;
        ptq_probe_free(&p);
    }
    ptq_plugin_search_free(&s);
    ptq_registry_free(reg);
    return st;
}
