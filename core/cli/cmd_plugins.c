/* cmd_plugins.c — `ptq plugins`: what is installed, from the plugins' own tables; with
 * --check, whether each plugin file keeps the rules and survives being loaded. */
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

#define MAX_FILES 256

static struct {
    const char *plugins;
    bool check;
} o;

static const cli_opt plugins_opts[] = {
    {"--plugins", "DIR", CLI_STRING, &o.plugins, NULL, 0, 0, 0, false,
     "also load plugins from DIR (searched before $PTQ_PLUGIN_PATH)"},
    {"--check", NULL, CLI_FLAG, &o.check, NULL, 0, 0, 0, false,
     "check plugin files (default: every one found), each in a child process"},
    {0},
};

const cli_command cli_plugins_command = {
    "plugins",
    "[NAME] | --check [FILE.so ...]",
    "List every plugin, pass and parameter (type, default, range, help); with NAME, one\n"
    "plugin or pass.  With --check, check plugin files instead.",
    "Plugins are loaded from --plugins DIR, $PTQ_PLUGIN_PATH (colon-separated), then\n"
    "relative to this executable: <libdir>/ptq/plugins of its installed layout, or\n"
    "plugins/ beside it in a build tree.  Each file is first loaded in a child process:\n"
    "one that crashes or hangs there is listed as not loaded, with where and the signal.\n"
    "Files that could not be loaded are listed with the reason.\n\n"
    "--check loads each FILE (or every file found) in a child process, calls its entry,\n"
    "checks the descriptor (ABI, names, terminated tables, duplicate parameters, defaults\n"
    "inside their ranges, enum defaults among the choices), calls init and deinit, and\n"
    "checks that every pass's reads can be produced.  It prints 'ok' or each problem per\n"
    "file, and 'crashed in <stage> with signal N (SIGSEGV)' or 'hung in <stage>' (killed\n"
    "after $PTQ_PLUGIN_TIMEOUT seconds, default 10).  Exit status 0 when every file is ok.",
    plugins_opts,
    0,
    "NAME",
    MAX_FILES,
};

int cmd_plugins(int argc, char **argv) {
    const char *pos[MAX_FILES + 1] = {NULL};
    bool help;
    memset(&o, 0, sizeof o);
    int rc = cli_parse(&cli_plugins_command, argc, argv, pos, &help);
    if (rc || help) return rc;
    int32_t n = 0;
    while (n < MAX_FILES && pos[n]) n++;
    ptq_error err = {0};
    if (o.check) {
        int32_t bad = 0;
        if (ptq_check_plugins(pos, n, o.plugins, stdout, &bad, &err)) {
            fprintf(stderr, "ptq plugins: %s\n", err.msg);
            return 1;
        }
        return bad ? 1 : 0;
    }
    if (n > 1) {
        fprintf(stderr, "ptq plugins: one NAME at most (plugin files go after --check)\n");
        return 2;
    }
    if (ptq_list_plugins(pos[0], o.plugins, stdout, &err)) {
        fprintf(stderr, "ptq plugins: %s\n", err.msg);
        return 1;
    }
    return 0;
}
