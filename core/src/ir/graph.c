/* graph.c — the graph IR: values and nodes in topological order, and the structural
 * edits every rewrite needs (add, remove, compact) with their invariants checked. */
#include <inttypes.h>

#include "internal.h"

ptq_graph *ptq_graph_new(void) { return calloc(1, sizeof(ptq_graph)); }

static void node_clear(ptq_node *n) {
    free(n->name);
    free(n->inputs);
    free(n->outputs);
    memset(n, 0, sizeof *n);
}

void ptq_graph_free(ptq_graph *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        ptq_tensor_free(g->values[i].data);
    }
    for (int32_t i = 0; i < g->n_nodes; i++) node_clear(&g->nodes[i]);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->name);
    for (int32_t i = 0; i < g->n_meta; i++) free(g->meta_keys[i]), free(g->meta_values[i]);
    free(g->meta_keys);
    free(g->meta_values);
    free(g);
}

const char *ptq_graph_meta(const ptq_graph *g, const char *key) {
    for (int32_t i = 0; i < g->n_meta; i++)
        if (!strcmp(g->meta_keys[i], key)) return g->meta_values[i];
    return NULL;
}

int ptq_graph_set_meta(ptq_graph *g, const char *key, const char *value) {
    char *v = ptq_strdup(value);
    if (!v) return -1;
    for (int32_t i = 0; i < g->n_meta; i++)
        if (!strcmp(g->meta_keys[i], key)) {
            free(g->meta_values[i]);
            g->meta_values[i] = v;
            return 0;
        }
    char *k = ptq_strdup(key);
    char **nk = k ? realloc(g->meta_keys, ((size_t)g->n_meta + 1) * sizeof *nk) : NULL;
    if (nk) g->meta_keys = nk;
    char **nv = nk ? realloc(g->meta_values, ((size_t)g->n_meta + 1) * sizeof *nv) : NULL;
    if (!nv) {
        free(k), free(v);
        return -1;
    }
    g->meta_values = nv;
    g->meta_keys[g->n_meta] = k;
    g->meta_values[g->n_meta++] = v;
    return 0;
}

int32_t ptq_graph_find_value(const ptq_graph *g, const char *name) {
    /* Linear: graphs here have hundreds of values and lookups happen at import only. */
    for (int32_t i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0) return i;
    return -1;
}

int32_t ptq_graph_add_value(ptq_graph *g, const char *name, ptq_dtype dtype, int32_t ndim,
                            const int64_t *ne, ptq_error *err) {
    if (ndim < 0 || ndim > PTQ_MAX_DIMS) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "value '%s' has rank %d (at most %d supported)",
                      name, ndim, PTQ_MAX_DIMS);
        return -1;
    }
    if (ptq_graph_find_value(g, name) >= 0) {
        ptq_error_set(err, PTQ_ERR_INVALID, "value '%s' is defined twice", name);
        return -1;
    }
    if (ptq_grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof *g->values)) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory adding value '%s'", name);
        return -1;
    }
    ptq_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = ptq_strdup(name);
    if (!v->name) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory adding value '%s'", name);
        return -1;
    }
    v->dtype = dtype;
    v->ndim = ndim;
    for (int32_t i = 0; i < ndim; i++) v->ne[i] = ne ? ne[i] : 0;
    v->producer = -1;
    return g->n_values++;
}

int32_t ptq_graph_add_constant(ptq_graph *g, const char *name, ptq_tensor *t, ptq_error *err) {
    int32_t id = ptq_graph_add_value(g, name, t->dtype, t->ndim, t->ne, err);
    if (id < 0) {
        ptq_tensor_free(t);
        return -1;
    }
    g->values[id].data = t;
    return id;
}

int32_t ptq_graph_add_node(ptq_graph *g, ptq_op op, const char *name, int32_t n_inputs,
                           const int32_t *inputs, int32_t n_outputs, const int32_t *outputs,
                           ptq_error *err) {
    PTQ_ASSERT(op > PTQ_OP_NONE && op < PTQ_OP_COUNT);
    for (int32_t i = 0; i < n_inputs; i++) PTQ_ASSERT(inputs[i] >= -1 && inputs[i] < g->n_values);
    for (int32_t i = 0; i < n_outputs; i++) {
        PTQ_ASSERT(outputs[i] >= 0 && outputs[i] < g->n_values);
        if (g->values[outputs[i]].producer >= 0 || g->values[outputs[i]].data ||
            (g->values[outputs[i]].flags & PTQ_VALUE_INPUT)) {
            ptq_error_set(err, PTQ_ERR_INVALID, "node '%s': output '%s' is already defined",
                          name, g->values[outputs[i]].name);
            return -1;
        }
    }
    if (ptq_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory adding node '%s'", name);
        return -1;
    }
    ptq_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = ptq_strdup(name);
    n->inputs = ptq_calloc_array((size_t)n_inputs, sizeof *n->inputs);
    n->outputs = ptq_calloc_array((size_t)n_outputs, sizeof *n->outputs);
    if (!n->name || !n->inputs || !n->outputs) {
        node_clear(n);
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory adding node '%s'", name);
        return -1;
    }
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    if (n_inputs) memcpy(n->inputs, inputs, (size_t)n_inputs * sizeof *inputs);
    if (n_outputs) memcpy(n->outputs, outputs, (size_t)n_outputs * sizeof *outputs);
    /* Defaults that differ from zero. */
    n->attrs.clip_min = -INFINITY;
    n->attrs.clip_max = INFINITY;
    n->attrs.epsilon = 1e-5f;
    n->attrs.gemm.alpha = 1.0f;
    n->attrs.gemm.beta = 1.0f;
    int32_t id = g->n_nodes++;
    for (int32_t i = 0; i < n_outputs; i++) g->values[outputs[i]].producer = id;
    return id;
}

ptq_status ptq_graph_infer_node(ptq_graph *g, int32_t id, ptq_error *err) {
    ptq_node *n = &g->nodes[id];
    const ptq_op_traits *t = &ptq_op_table[n->op];
    if (n->n_inputs < t->min_inputs || (t->max_inputs >= 0 && n->n_inputs > t->max_inputs))
        return ptq_error_set(err, PTQ_ERR_INVALID, "node '%s' (%s): %d inputs, expected %d to %d",
                             n->name, t->name, n->n_inputs, t->min_inputs, t->max_inputs);
    if (t->n_outputs >= 0 ? n->n_outputs != t->n_outputs : n->n_outputs < 1)
        return ptq_error_set(err, PTQ_ERR_INVALID, "node '%s' (%s): %d outputs, expected %d",
                             n->name, t->name, n->n_outputs, t->n_outputs);
    for (int32_t i = 0; i < n->n_inputs; i++) {
        int32_t v = n->inputs[i];
        if (v < 0) {
            if (i < t->min_inputs)
                return ptq_error_set(err, PTQ_ERR_INVALID,
                                     "node '%s' (%s): required input %d is missing", n->name,
                                     t->name, i);
            continue;
        }
        if ((t->const_inputs >> i) & 1u && !ptq_is_const(g, v))
            return ptq_error_set(err, PTQ_ERR_UNSUPPORTED,
                                 "node '%s' (%s): input %d ('%s') must be a constant "
                                 "(an initializer), not a run-time value",
                                 n->name, t->name, i, g->values[v].name);
        /* Gather's indices are int64, a fake quantizer's zero points int32; all data
         * inputs are float32. */
        ptq_dtype want = (n->op == PTQ_OP_GATHER && i == 1)       ? PTQ_DTYPE_I64
                         : (n->op == PTQ_OP_FAKE_QUANT && i == 2) ? PTQ_DTYPE_I32
                                                                  : PTQ_DTYPE_F32;
        ptq_dtype have = g->values[v].dtype;
        if (have != want)
            return ptq_error_set(err, PTQ_ERR_UNSUPPORTED,
                                 "node '%s' (%s): input '%s' has type %s, only %s is supported",
                                 n->name, t->name, g->values[v].name, ptq_dtype_name(have),
                                 ptq_dtype_name(want));
    }
    ptq_status st = t->infer(g, n, err);
    if (st) return st;
    for (int32_t i = 0; i < n->n_outputs; i++) {
        ptq_value *o = &g->values[n->outputs[i]];
        o->dtype = PTQ_DTYPE_F32;
        /* The batch dimension counts as 1 here: the per-sample size must be sane. */
        int64_t ne1[PTQ_MAX_DIMS];
        for (int32_t d = 0; d < o->ndim; d++) ne1[d] = o->ne[d] == PTQ_DIM_BATCH ? 1 : o->ne[d];
        if (ptq_shape_numel(o->ndim, ne1) < 0) {
            char buf[160];
            return ptq_error_set(err, PTQ_ERR_INVALID,
                                 "node '%s' (%s): output '%s' would have shape %s, which is "
                                 "invalid or too large",
                                 n->name, t->name, o->name, ptq_shape_str(o->ndim, o->ne, buf, sizeof buf));
        }
    }
    return PTQ_OK;
}

ptq_status ptq_graph_infer_shapes(ptq_graph *g, ptq_error *err) {
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == PTQ_OP_NONE) continue;
        ptq_status st = ptq_graph_infer_node(g, i, err);
        if (st) return st;
    }
    return PTQ_OK;
}

ptq_status ptq_graph_validate(const ptq_graph *g, ptq_error *err) {
    uint8_t *ready = calloc((size_t)g->n_values + 1, 1);
    if (!ready) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    ptq_status st = PTQ_OK;
    for (int32_t i = 0; i < g->n_values; i++) {
        const ptq_value *v = &g->values[i];
        int kinds = (v->data != NULL) + ((v->flags & PTQ_VALUE_INPUT) != 0) + (v->producer >= 0);
        if (kinds > 1) {
            st = ptq_error_set(err, PTQ_ERR_INTERNAL, "value '%s' has more than one definition",
                               v->name);
            goto out;
        }
        if (v->data || (v->flags & PTQ_VALUE_INPUT)) ready[i] = 1;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_NONE) continue;
        for (int32_t k = 0; k < n->n_inputs; k++) {
            int32_t v = n->inputs[k];
            if (v < 0) continue;
            if (v >= g->n_values || !ready[v]) {
                st = ptq_error_set(err, PTQ_ERR_INVALID,
                                   "node '%s' reads '%s' before anything defines it", n->name,
                                   v < g->n_values ? g->values[v].name : "?");
                goto out;
            }
        }
        for (int32_t k = 0; k < n->n_outputs; k++) {
            int32_t v = n->outputs[k];
            if (g->values[v].producer != i) {
                st = ptq_error_set(err, PTQ_ERR_INTERNAL, "value '%s' producer mismatch",
                                   g->values[v].name);
                goto out;
            }
            ready[v] = 1;
        }
    }
    for (int32_t i = 0; i < g->n_outputs; i++) {
        if (!ready[g->outputs[i]]) {
            st = ptq_error_set(err, PTQ_ERR_INVALID, "graph output '%s' is never computed",
                               g->values[g->outputs[i]].name);
            goto out;
        }
    }
out:
    free(ready);
    return st;
}

ptq_status ptq_graph_remove_dead(ptq_graph *g, ptq_error *err) {
    /* Walk backwards: a node is live if a graph output or a live node reads its output. */
    uint8_t *used = calloc((size_t)g->n_values + 1, 1);
    if (!used) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory removing dead nodes");
    for (int32_t i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = 1;
    for (int32_t i = g->n_nodes - 1; i >= 0; i--) {
        ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_NONE) continue;
        bool live = false;
        for (int32_t k = 0; k < n->n_outputs; k++) live |= used[n->outputs[k]] != 0;
        if (!live) {
            for (int32_t k = 0; k < n->n_outputs; k++) g->values[n->outputs[k]].producer = -1;
            n->op = PTQ_OP_NONE;
            continue;
        }
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) used[n->inputs[k]] = 1;
    }
    free(used);
    return PTQ_OK;
}

ptq_status ptq_graph_compact(ptq_graph *g, ptq_error *err) {
    int32_t *remap = malloc(((size_t)g->n_values + 1) * sizeof *remap);
    uint8_t *used = calloc((size_t)g->n_values + 1, 1);
    if (!remap || !used) {
        free(remap);
        free(used);
        return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    }
    for (int32_t i = 0; i < g->n_inputs; i++) used[g->inputs[i]] = 1;
    for (int32_t i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = 1;
    int32_t nn = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_NONE) {
            node_clear(n);
            continue;
        }
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) used[n->inputs[k]] = 1;
        for (int32_t k = 0; k < n->n_outputs; k++) used[n->outputs[k]] = 1;
        g->nodes[nn++] = *n;
    }
    g->n_nodes = nn;
    int32_t nv = 0;
    for (int32_t i = 0; i < g->n_values; i++) {
        if (!used[i]) {
            free(g->values[i].name);
            ptq_tensor_free(g->values[i].data);
            remap[i] = -1;
            continue;
        }
        remap[i] = nv;
        g->values[nv++] = g->values[i];
    }
    g->n_values = nv;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        ptq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) n->inputs[k] = remap[n->inputs[k]];
        for (int32_t k = 0; k < n->n_outputs; k++) {
            n->outputs[k] = remap[n->outputs[k]];
            g->values[n->outputs[k]].producer = i;
        }
    }
    for (int32_t i = 0; i < g->n_inputs; i++) g->inputs[i] = remap[g->inputs[i]];
    for (int32_t i = 0; i < g->n_outputs; i++) g->outputs[i] = remap[g->outputs[i]];
    free(remap);
    free(used);
    return PTQ_OK;
}

int64_t ptq_graph_param_count(const ptq_graph *g) {
    /* Counted per use, as PyTorch counts parameters: an exporter may share one
     * initializer between two modules whose tensors happened to be equal. */
    int64_t total = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_NONE) continue;
        for (int32_t k = 0; k < n->n_inputs; k++) {
            int32_t v = n->inputs[k];
            if (v < 0 || !g->values[v].data) continue;
            /* BN running statistics are buffers, not parameters (as PyTorch counts). */
            if (n->op == PTQ_OP_BATCH_NORM && k >= 3) continue;
            if (g->values[v].dtype != PTQ_DTYPE_F32) continue;
            total += ptq_tensor_numel(g->values[v].data);
        }
    }
    return total;
}

ptq_graph *ptq_graph_clone(const ptq_graph *g, ptq_error *err) {
    ptq_graph *c = ptq_graph_new();
    if (!c) goto nomem;
    c->opset = g->opset;
    if (g->name && !(c->name = ptq_strdup(g->name))) goto nomem;
    for (int32_t i = 0; i < g->n_meta; i++)
        if (ptq_graph_set_meta(c, g->meta_keys[i], g->meta_values[i])) goto nomem;
    for (int32_t i = 0; i < g->n_values; i++) {
        const ptq_value *v = &g->values[i];
        if (ptq_graph_add_value(c, v->name, v->dtype, v->ndim, v->ne, err) < 0) goto fail;
        c->values[i].flags = v->flags;
        if (v->data && !(c->values[i].data = ptq_tensor_clone(v->data, err))) goto fail;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_NONE) { /* keep ids aligned: a removed node stays removed */
            if (ptq_grow((void **)&c->nodes, &c->cap_nodes, c->n_nodes + 1, sizeof *c->nodes))
                goto nomem;
            memset(&c->nodes[c->n_nodes], 0, sizeof c->nodes[0]);
            if (!(c->nodes[c->n_nodes].name = ptq_strdup(n->name))) goto nomem;
            c->n_nodes++;
            continue;
        }
        int32_t id = ptq_graph_add_node(c, n->op, n->name, n->n_inputs, n->inputs, n->n_outputs,
                                        n->outputs, err);
        if (id < 0) goto fail;
        c->nodes[id].attrs = n->attrs;
    }
    c->inputs = ptq_calloc_array((size_t)g->n_inputs, sizeof *c->inputs);
    c->outputs = ptq_calloc_array((size_t)g->n_outputs, sizeof *c->outputs);
    if (!c->inputs || !c->outputs) goto nomem;
    memcpy(c->inputs, g->inputs, (size_t)g->n_inputs * sizeof *c->inputs);
    memcpy(c->outputs, g->outputs, (size_t)g->n_outputs * sizeof *c->outputs);
    c->n_inputs = g->n_inputs;
    c->n_outputs = g->n_outputs;
    return c;
nomem:
    ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory copying the graph");
fail:
    ptq_graph_free(c);
    return NULL;
}

int32_t ptq_graph_readers(const ptq_graph *g, int32_t id, int32_t *nodes, int32_t max) {
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *nd = &g->nodes[i];
        if (nd->op == PTQ_OP_NONE) continue;
        for (int32_t k = 0; k < nd->n_inputs; k++) {
            if (nd->inputs[k] != id) continue;
            if (n < max) nodes[n] = i;
            n++;
            break;
        }
    }
    return n;
}

int32_t ptq_graph_nodes_for(const ptq_graph *g, const int32_t *want, int32_t n_want, int32_t *sub) {
    uint8_t *need = calloc((size_t)g->n_values + 1, 1);
    if (!need) return -1;
    for (int32_t k = 0; k < n_want; k++)
        if (want[k] >= 0) need[want[k]] = 1;
    /* Walking back from the wanted values: a node is needed when one of its outputs is. */
    int32_t n_sub = 0;
    for (int32_t j = g->n_nodes - 1; j >= 0; j--) {
        const ptq_node *n = &g->nodes[j];
        if (n->op == PTQ_OP_NONE) continue;
        bool used = false;
        for (int32_t k = 0; k < n->n_outputs; k++) used |= need[n->outputs[k]];
        if (!used) continue;
        sub[n_sub++] = j;
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) need[n->inputs[k]] = 1;
    }
    free(need);
    for (int32_t a = 0, b = n_sub - 1; a < b; a++, b--) {
        const int32_t t = sub[a];
        sub[a] = sub[b];
        sub[b] = t;
    }
    return n_sub;
}
