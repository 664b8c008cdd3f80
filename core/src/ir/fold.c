/* fold.c — constant folding: a node whose inputs are all constants is run once, at
 * import, by the same executor that runs the model, and replaced by its result. */
#include "internal.h"

ptq_status ptq_fold_node(ptq_graph *g, int32_t id, bool *folded, ptq_error *err) {
    ptq_node *n = &g->nodes[id];
    *folded = false;
    for (int32_t i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] >= 0 && !ptq_is_const(g, n->inputs[i])) return PTQ_OK;
    /* An output as large as the batch (an Expand of a constant to [N, ...]) is computed at
     * run time: a constant cannot hold a symbolic size. */
    for (int32_t k = 0; k < n->n_outputs; k++) {
        const ptq_value *v = &g->values[n->outputs[k]];
        for (int32_t d = 0; d < v->ndim; d++)
            if (v->ne[d] == PTQ_DIM_BATCH) return PTQ_OK;
    }
    ptq_exec_options eo = ptq_exec_options_default();
    eo.nodes = &id;
    eo.n_nodes = 1;
    eo.max_batch = 1;
    eo.threads = 1;
    eo.keep = n->outputs; /* otherwise a lone node's outputs count as dead after the run */
    eo.n_keep = n->n_outputs;
    ptq_exec *ex = ptq_exec_new(g, &eo, err);
    if (!ex) return err->status;
    ptq_status st = ptq_exec_run(ex, 1, err);
    ptq_tensor **outs = ptq_calloc_array((size_t)n->n_outputs, sizeof *outs); /* Split: several */
    if (!outs && !st) st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory folding '%s'", n->name);
    for (int32_t k = 0; !st && k < n->n_outputs; k++) {
        const ptq_value *v = &g->values[n->outputs[k]];
        outs[k] = ptq_tensor_new(PTQ_DTYPE_F32, v->ndim, v->ne, err);
        if (!outs[k]) {
            st = err->status;
            break;
        }
        memcpy(outs[k]->data, ptq_exec_data(ex, n->outputs[k]),
               (size_t)ptq_tensor_numel(outs[k]) * sizeof(float));
    }
    ptq_exec_free(ex);
    if (st) {
        for (int32_t k = 0; outs && k < n->n_outputs; k++) ptq_tensor_free(outs[k]);
        free(outs);
        return st;
    }
    for (int32_t k = 0; k < n->n_outputs; k++) {
        ptq_value *v = &g->values[n->outputs[k]];
        v->data = outs[k];
        v->producer = -1;
    }
    free(outs);
    n->op = PTQ_OP_NONE;
    *folded = true;
    return PTQ_OK;
}
