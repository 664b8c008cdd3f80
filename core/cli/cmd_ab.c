/* cmd_ab.c — `ptq ab`: compare pipelines (A/B testing with significance). */
#include <signal.h>
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

#define MAX_FILES 64

static struct {
    const char *out, *plugins;
    bool force, dry_run;
    int64_t threads, jobs, seeds;
} o;

static const cli_opt ab_opts[] = {
    {"--out", "DIR", CLI_STRING, &o.out, NULL, 0, 0, 0, false,
     "the A/B directory (default: the file's output.dir; with several files runs/ab)"},
    {"--seeds", "K", CLI_INT, &o.seeds, NULL, 0, 1, 1000, false,
     "run each variant K times, seeds s, s+1, ... (default: variants.seeds, else 1)"},
    {"--jobs", "N", CLI_INT, &o.jobs, NULL, 0, 1, 1024, false,
     "runs computing at once, each its own process (default: one per core)"},
    {"--threads", "T", CLI_INT, &o.threads, NULL, 0, 1, 1024, false,
     "threads per run (default: the cores shared out between the jobs)"},
    {"--force", NULL, CLI_FLAG, &o.force, NULL, 0, 0, 0, false,
     "replace an existing output directory"},
    {"--dry-run", NULL, CLI_FLAG, &o.dry_run, NULL, 0, 0, 0, false,
     "validate every variant, print the runs and what they share, and stop"},
    {"--plugins", "DIR", CLI_STRING, &o.plugins, NULL, 0, 0, 0, false,
     "also load plugins from DIR (searched before $PTQ_PLUGIN_PATH)"},
    {0},
};

const cli_command cli_ab_command = {
    "ab",
    "A.yaml [B.yaml ...] [--seeds K] [--jobs N] [--out DIR] [--force] [--dry-run]",
    "Compare pipelines on one model and one evaluation set: each file is a variant (or\n"
    "its 'variants:' section names several), each run with K seeds; top-1 with its\n"
    "spread, every pair tested (McNemar's exact test, 95 % intervals), ab.json and\n"
    "ab.html.",
    "Every variant is validated before anything runs.  Steps that are the same for\n"
    "several runs (setup, BN folding, calibration, any shared prefix of passes) run once\n"
    "and the runs continue from a copy of that state in processes of their own.  Under\n"
    "mpirun the runs are spread over the ranks and gathered on rank 0.  Ctrl-C stops the\n"
    "runs and keeps the finished ones, marked incomplete.\n\n"
    "examples:\n"
    "  ptq ab examples/ab_compose.yaml\n"
    "  ptq ab examples/brecq_w2a4.yaml examples/qdrop_w2a4.yaml --seeds 3\n"
    "  mpirun -np 4 ptq ab examples/ab_compose.yaml",
    ab_opts,
    1,
    "PIPELINE",
    MAX_FILES,
};

int cmd_ab(int argc, char **argv) {
    const char *paths[MAX_FILES + 1] = {0};
    bool help;
    memset(&o, 0, sizeof o);
    int rc = cli_parse(&cli_ab_command, argc, argv, paths, &help);
    if (rc || help) return rc;
    int32_t n = 0;
    while (n < MAX_FILES && paths[n]) n++;
    int stopped = 0;
    ptq_ab_options ao = {o.out, o.force, o.dry_run, o.plugins, (int32_t)o.threads, (int32_t)o.jobs,
                         (int32_t)o.seeds, &stopped};
    ptq_error err = {0};
    if (ptq_ab_files(paths, n, &ao, &err)) {
        cli_print_error("ab", err.msg);
        return stopped ? 128 + stopped : 1;
    }
    return 0;
}
