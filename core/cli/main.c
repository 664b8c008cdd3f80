/* main.c — `ptq`: dispatches to a command.  Each command parses its own options from
 * its table (args.c) and calls the core; nothing here knows about models. */
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

typedef struct command {
    const cli_command *desc;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {&cli_run_command, cmd_run},
    {&cli_ab_command, cmd_ab},
    {&cli_eval_command, cmd_eval},
    {&cli_infer_command, cmd_infer},
    {&cli_inspect_command, cmd_inspect},
    {&cli_plugins_command, cmd_plugins},
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: ptq COMMAND [options]\n\n"
            "qcraft %s — post-training quantization for CNNs (ONNX in, ONNX out).\n\n"
            "commands:\n",
            ptq_version_string());
    /* Each command's first sentence, whole: its summary may wrap over several lines. */
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(out, "  %-10s ", commands[i].desc->name);
        int col = 13;
        for (const char *s = commands[i].desc->summary; *s; s++) {
            const char c = *s == '\n' ? ' ' : *s;
            if (c == ' ' && col > 72) { /* wrap under the summary column */
                fprintf(out, "\n%13s", "");
                col = 13;
                continue;
            }
            fputc(c, out);
            col++;
            if (c == '.' && (s[1] == ' ' || s[1] == '\n' || !s[1])) break;
        }
        fputc('\n', out);
    }
    fprintf(out, "\n'ptq COMMAND --help' describes a command's options.\n"
                 "Environment: PTQ_THREADS sets the default number of worker threads; PTQ_PLUGIN_PATH\n"
                 "adds plugin directories; PTQ_CACHE_DIR moves the float-evaluation cache (off\n"
                 "disables it).\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    /* Plugins are found relative to this executable (installed or in its build tree). */
    if (!ptq_set_program_path("/proc/self/exe")) ptq_set_program_path(argv[0]);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("ptq %s\n", ptq_version_string());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].desc->name)) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "ptq: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
