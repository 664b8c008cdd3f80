/* cmd_inspect.c — `ptq inspect`: what the importer made of a model. */
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

static const cli_opt inspect_opts[] = {{0}};

const cli_command cli_inspect_command = {
    "inspect",
    "MODEL",
    "Load MODEL (ONNX), infer its shapes and print inputs, outputs, op counts, the\n"
    "parameter count and every node with its output shape (N is the batch size).",
    "Constant subgraphs (Constant, Identity, and the Shape/Gather/Unsqueeze/Concat\n"
    "arithmetic of exported flattens) are folded at import and do not appear.",
    inspect_opts,
    1,
    "MODEL",
    0,
};

int cmd_inspect(int argc, char **argv) {
    const char *model = NULL;
    bool help;
    int rc = cli_parse(&cli_inspect_command, argc, argv, &model, &help);
    if (rc || help) return rc;
    ptq_error err = {0};
    ptq_graph *g = ptq_onnx_load(model, NULL, &err);
    if (!g) {
        fprintf(stderr, "ptq inspect: %s\n", err.msg);
        return 1;
    }
    printf("model %s\n", model);
    ptq_graph_print(g, stdout);
    ptq_graph_free(g);
    return 0;
}
