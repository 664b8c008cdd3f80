/* cmd_inspect.c — `ptq inspect`: what the importer made of a model. */
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

static struct {
    const char *input_shape;
} o;

static const cli_opt inspect_opts[] = {
    {"--input-shape", "C,H,W", CLI_STRING, &o.input_shape, NULL, 0, 0, 0, false,
     "the size to infer shapes at, for a model whose height and width are symbolic "
     "(C,H,W or N,C,H,W; a symbolic batch stays N)"},
    {0},
};

const cli_command cli_inspect_command = {
    "inspect",
    "MODEL [--input-shape C,H,W]",
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
    memset(&o, 0, sizeof o);
    int rc = cli_parse(&cli_inspect_command, argc, argv, &model, &help);
    if (rc || help) return rc;
    ptq_import_options opts = {0};
    int64_t shape[PTQ_MAX_DIMS];
    int32_t n_shape = 0;
    if (o.input_shape && !cli_parse_dims(o.input_shape, shape, PTQ_MAX_DIMS, &n_shape)) {
        fprintf(stderr, "ptq inspect: --input-shape '%s': give C,H,W or N,C,H,W (positive "
                "integers)\n", o.input_shape);
        return 2;
    }
    opts.input_ndim = n_shape;
    opts.input_shape = shape;
    ptq_error err = {0};
    ptq_graph *g = ptq_onnx_load(model, &opts, &err);
    if (!g) {
        fprintf(stderr, "ptq inspect: %s\n", err.msg);
        return 1;
    }
    printf("model %s\n", model);
    ptq_graph_print(g, stdout);
    ptq_graph_free(g);
    return 0;
}
