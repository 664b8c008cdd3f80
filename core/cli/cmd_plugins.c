/* cmd_plugins.c — `ptq plugins`: what is installed, from the plugins' own tables. */
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

static struct {
    const char *plugins;
} o;

static const cli_opt plugins_opts[] = {
    {"--plugins", "DIR", CLI_STRING, &o.plugins, NULL, 0, 0, 0, false,
     "also load plugins from DIR (searched before $PTQ_PLUGIN_PATH)"},
    {0},
};

const cli_command cli_plugins_command = {
    "plugins",
    "[NAME]",
    "List every plugin, pass and parameter (type, default, range, help); with NAME, one\n"
    "plugin or pass.",
    "Plugins are loaded from --plugins DIR, $PTQ_PLUGIN_PATH (colon-separated), then\n"
    "relative to this executable: <libdir>/ptq/plugins of its installed layout, or\n"
    "plugins/ beside it in a build tree.  Files that could not be loaded are listed with\n"
    "the reason.",
    plugins_opts,
    0,
    "NAME",
    0,
};

int cmd_plugins(int argc, char **argv) {
    const char *name = NULL;
    bool help;
    memset(&o, 0, sizeof o);
    /* NAME is optional: accept zero or one positional argument. */
    cli_command cmd = cli_plugins_command;
    int n_pos = 0;
    for (int i = 0; i < argc; i++)
        if (argv[i][0] != '-') n_pos++;
    cmd.n_positional = n_pos > 0 ? 1 : 0;
    int rc = cli_parse(&cmd, argc, argv, &name, &help);
    if (rc || help) return rc;
    ptq_error err = {0};
    if (ptq_list_plugins(name, o.plugins, stdout, &err)) {
        fprintf(stderr, "ptq plugins: %s\n", err.msg);
        return 1;
    }
    return 0;
}
