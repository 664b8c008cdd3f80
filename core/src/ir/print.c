/* print.c — the human-readable summary of a graph that `ptq inspect` shows. */
#include <inttypes.h>

#include "internal.h"

static void print_value_line(const ptq_graph *g, int32_t id, FILE *out) {
    char buf[160];
    const ptq_value *v = &g->values[id];
    fprintf(out, "  %-32s %-8s %s%s\n", v->name, ptq_dtype_name(v->dtype),
            ptq_shape_str(v->ndim, v->ne, buf, sizeof buf), v->data ? "  (constant)" : "");
}

void ptq_graph_print(const ptq_graph *g, FILE *out) {
    char buf[160];
    fprintf(out, "graph %s (opset %" PRId64 ")\n", g->name && *g->name ? g->name : "(unnamed)",
            g->opset);
    fprintf(out, "inputs:\n");
    for (int32_t i = 0; i < g->n_inputs; i++) print_value_line(g, g->inputs[i], out);
    fprintf(out, "outputs:\n");
    for (int32_t i = 0; i < g->n_outputs; i++) print_value_line(g, g->outputs[i], out);

    int32_t counts[PTQ_OP_COUNT] = {0};
    int32_t live = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == PTQ_OP_NONE) continue;
        counts[g->nodes[i].op]++;
        live++;
    }
    fprintf(out, "ops (%d nodes):\n", live);
    for (ptq_op op = 1; op < PTQ_OP_COUNT; op++)
        if (counts[op]) fprintf(out, "  %-20s %d\n", ptq_op_name(op), counts[op]);
    fprintf(out, "parameters: %" PRId64 "\n", ptq_graph_param_count(g));
    fprintf(out, "nodes:\n");
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_NONE) continue;
        const ptq_value *o = &g->values[n->outputs[0]];
        fprintf(out, "  %4d  %-18s %-36s -> %s", i, ptq_op_name(n->op), n->name,
                ptq_shape_str(o->ndim, o->ne, buf, sizeof buf));
        if (n->op == PTQ_OP_CONV) {
            const ptq_conv_attrs *a = &n->attrs.conv;
            if (a->n_spatial == 2)
                fprintf(out, "  k%" PRId64 "x%" PRId64 " s%" PRId64 " p%" PRId64, a->kernel[0],
                        a->kernel[1], a->stride[0], a->pad_begin[0]);
            if (a->group > 1) fprintf(out, " g%" PRId64, a->group);
        }
        fputc('\n', out);
    }
}
