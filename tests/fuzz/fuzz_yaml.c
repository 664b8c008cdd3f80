/* fuzz_yaml.c — pipeline YAML: text -> libyaml document -> a plan validated against the
 * real plugins' parameter tables (every method plugin of the build is loaded once), then
 * printed back and fingerprinted as `ptq run --dry-run` and `ptq ab` do.  The file sits
 * in a scratch examples/ folder beside a link to the source tree's models/, so the
 * relative paths of the seeds (the examples) resolve as they do for users. */
#include "fuzz.h"

#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ptq_registry *g_reg;
static char g_dir[512], g_file[600], g_models[600], g_examples[600], g_data[600];

static void cleanup(void) {
    unlink(g_file);
    unlink(g_data);
    rmdir(g_examples);
    unlink(g_models);
    rmdir(g_dir);
    ptq_registry_free(g_reg);
}

static bool setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/ptq-fuzz-yaml-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) return false;
    snprintf(g_models, sizeof g_models, "%s/models", g_dir);
    snprintf(g_examples, sizeof g_examples, "%s/examples", g_dir);
    snprintf(g_data, sizeof g_data, "%s/examples/data", g_dir);
    snprintf(g_file, sizeof g_file, "%s/examples/fuzz.yaml", g_dir);
    if (symlink(PTQ_SOURCE_DIR "/models", g_models) || mkdir(g_examples, 0700) ||
        symlink(PTQ_SOURCE_DIR "/examples/data", g_data))
        return false;
    ptq_error err = {0};
    g_reg = ptq_registry_load(PTQ_FUZZ_PLUGIN_DIR, &err);
    atexit(cleanup);
    if (!g_reg || g_reg->n_plugins < 2) {
        fprintf(stderr, "fuzz_yaml: no plugins in %s: %s\n", PTQ_FUZZ_PLUGIN_DIR, err.msg);
        exit(2); /* a harness without the real tables would fuzz nothing that matters */
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready = -1;
    if (ready < 0) ready = setup();
    if (!ready) {
        fprintf(stderr, "fuzz_yaml: cannot set up the scratch folder in %s\n", g_dir);
        exit(2); /* passing without parsing anything would be a test that cannot fail */
    }
    FILE *f = fopen(g_file, "wb");
    if (!f) return 0;
    const bool written = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0 || !written) return 0;
    ptq_error err = {0};
    ptq_pipeline *p = ptq_pipeline_load(g_file, g_reg, &err);
    if (!p) return 0;
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        ptq_pipeline_print(p, null);
        fclose(null);
    }
    for (int32_t step = 0; step <= p->n_passes; step++) free(ptq_pipeline_fingerprint(p, step));
    ptq_pipeline_free(p);
    return 0;
}
