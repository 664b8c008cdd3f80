/* blocks.c — the residual blocks of a graph, the default reconstruction units of BRECQ,
 * QDrop and their successors: the nodes between two points where the whole activation
 * flows through one value.
 *
 * Walking the nodes in topological order, the boundary after node i is a cut when exactly
 * one run-time value is live across it (produced at or before i, read after i, or a graph
 * output).  Inside a residual block the block input stays live until the Add reads it
 * again, so no boundary inside the block is a cut; in a plain chain every boundary is.
 * Segments between cuts that hold no weighted layer (a lone ReLU, a pooling, a Flatten)
 * join the segment before them (the first ones join the segment after), so each block
 * has at least one Conv/Gemm/MatMul: a chain of conv+ReLU layers gives one block per
 * layer, a ResNet one block per residual block. */
#include "internal.h"

/* Live run-time values across each boundary: live[i] for the boundary after node i. */
static ptq_status count_live(const ptq_graph *g, int32_t *live, ptq_error *err) {
    /* last[v]: the last node reading v (graph outputs stay live to the end). */
    int32_t *last = ptq_calloc_array((size_t)g->n_values + 1, sizeof *last);
    if (!last) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory finding blocks");
    for (int32_t v = 0; v < g->n_values; v++) last[v] = -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_NONE) continue;
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0 && !ptq_is_const(g, n->inputs[k])) last[n->inputs[k]] = i;
    }
    for (int32_t k = 0; k < g->n_outputs; k++) last[g->outputs[k]] = g->n_nodes;
    memset(live, 0, (size_t)g->n_nodes * sizeof *live);
    for (int32_t v = 0; v < g->n_values; v++) {
        if (ptq_is_const(g, v) || last[v] < 0) continue;
        const int32_t from = g->values[v].producer; /* -1 for a graph input */
        for (int32_t i = from < 0 ? 0 : from; i < last[v] && i < g->n_nodes; i++) live[i]++;
    }
    free(last);
    return PTQ_OK;
}

int32_t ptq_graph_blocks(const ptq_graph *g, int32_t *block_of, ptq_error *err) {
    if (g->n_nodes == 0) return 0;
    int32_t *live = ptq_calloc_array((size_t)g->n_nodes, sizeof *live);
    if (!live) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory finding blocks"), -1;
    if (count_live(g, live, err)) {
        free(live);
        return -1;
    }
    /* Raw segments: a new one starts after every cut. */
    int32_t seg = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        block_of[i] = seg;
        if (live[i] == 1 && i + 1 < g->n_nodes) seg++;
    }
    free(live);
    const int32_t n_seg = seg + 1;
    /* Segments without a weighted layer join their neighbour. */
    bool *weighted = calloc((size_t)n_seg, sizeof *weighted);
    int32_t *map = ptq_calloc_array((size_t)n_seg, sizeof *map);
    if (!weighted || !map) {
        free(weighted), free(map);
        return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory finding blocks"), -1;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) weighted[block_of[i]] |= ptq_op_has_weights(g->nodes[i].op);
    /* Everything up to the first weighted segment is block 0; each later weighted segment
     * opens a block; a segment without weights stays in the block before it. */
    int32_t first = -1;
    for (int32_t s = 0; s < n_seg && first < 0; s++)
        if (weighted[s]) first = s;
    int32_t b = 0;
    for (int32_t s = 0; s < n_seg; s++) {
        if (weighted[s] && s != first) b++;
        map[s] = b;
    }
    const int32_t n_blocks = b + 1;
    for (int32_t i = 0; i < g->n_nodes; i++) block_of[i] = map[block_of[i]];
    free(weighted), free(map);
    return n_blocks;
}
