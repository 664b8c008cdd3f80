/* cmd_run.c — `ptq run`: run a pipeline file. */
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

static struct {
    const char *out, *plugins;
    bool force, dry_run;
    int64_t threads;
} o;

static const cli_opt run_opts[] = {
    {"--out", "DIR", CLI_STRING, &o.out, NULL, 0, 0, 0, false,
     "output directory (default: the pipeline's output.dir)"},
    {"--force", NULL, CLI_FLAG, &o.force, NULL, 0, 0, 0, false,
     "replace an existing output directory"},
    {"--dry-run", NULL, CLI_FLAG, &o.dry_run, NULL, 0, 0, 0, false,
     "validate, print the resolved plan with every default explicit, and stop"},
    {"--threads", "T", CLI_INT, &o.threads, NULL, 0, 1, 1024, false,
     "worker threads (default: the pipeline's, else $PTQ_THREADS or the CPUs)"},
    {"--plugins", "DIR", CLI_STRING, &o.plugins, NULL, 0, 0, 0, false,
     "also load plugins from DIR (searched before $PTQ_PLUGIN_PATH)"},
    {0},
};

const cli_command cli_run_command = {
    "run",
    "PIPELINE.yaml [--out DIR] [--force] [--dry-run]",
    "Run a quantization pipeline: float evaluation, the passes in order, quantized\n"
    "evaluation, QDQ ONNX export and report.json in the output directory.",
    "The whole file is validated against the plugins' parameter tables before anything\n"
    "runs; errors point at FILE:LINE:COLUMN.  Outputs are written to a temporary\n"
    "directory that replaces DIR only when the run succeeded.\n\n"
    "Signals: SIGINT (Ctrl-C) or SIGTERM removes the temporary directory, prints\n"
    "'ptq: interrupted by SIGINT; no output written' and exits with 128 + the signal\n"
    "(130, 143).  A crash inside a pass (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) names\n"
    "the pass and its plugin, removes the temporary directory and ends with the signal.\n\n"
    "examples:\n"
    "  ptq run examples/rtn_w8a8.yaml\n"
    "  ptq run examples/mse_w4a8.yaml --out runs/w4a8 --force\n"
    "  ptq run examples/mse_w4a4.yaml --dry-run",
    run_opts,
    1,
    "PIPELINE",
    0,
};

int cmd_run(int argc, char **argv) {
    const char *path = NULL;
    bool help;
    memset(&o, 0, sizeof o);
    int rc = cli_parse(&cli_run_command, argc, argv, &path, &help);
    if (rc || help) return rc;
    ptq_run_options ro = {o.out, o.force, o.dry_run, o.plugins, (int32_t)o.threads, true};
    ptq_error err = {0};
    if (ptq_run_file(path, &ro, &err)) {
        cli_print_error("run", err.msg);
        return 1;
    }
    return 0;
}
