/* modules.c — the base modules and their kinds, parameters and sub-sampling (modules.h). */
#include "modules.h"

#include <math.h>
#include <string.h>

#include <ptq/ptq_util.h>

/* The class of an op in a kind signature, or NULL for ops left out of it. */
static const char *op_class(ptq_op op) {
    switch (op) {
    case PTQ_OP_CONV: return "conv";
    case PTQ_OP_GEMM:
    case PTQ_OP_MATMUL: return "fc";
    case PTQ_OP_ADD:
    case PTQ_OP_SUB: return "add";
    case PTQ_OP_MUL: return "mul";
    case PTQ_OP_CONCAT: return "cat";
    default: return ptq_util_is_activation(op) ? "act" : NULL;
    }
}

/* Spatial positions per sample and channel of a run-time value: H x W for [N, C, H, W],
 * 1 for [N, C]. */
static double positions(const ptq_host *h, ptq_session *s, int32_t v) {
    ptq_tensor_view t = {.struct_size = sizeof t};
    if (h->value_view(s, v, &t) || t.ndim < 3) return 1.0;
    double p = 1.0;
    for (int32_t d = 2; d < t.ndim; d++) p *= (double)t.ne[d];
    return p;
}

/* The value a module's output comes from before a trailing global pooling or reshape
 * (the head's GlobalAveragePool and Flatten end the spatial part of the network; they do
 * not sub-sample it). */
static int32_t spatial_end(const ptq_host *h, ptq_session *s, const int32_t *unit_of, int32_t u,
                           int32_t v) {
    for (;;) {
        const int32_t p = h->value_producer(s, v);
        ptq_node_info ni = {.struct_size = sizeof ni};
        if (p < 0 || unit_of[p] != u || h->node_info(s, p, &ni) || ni.n_inputs < 1) return v;
        if (ni.op != PTQ_OP_GLOBAL_AVERAGE_POOL && ni.op != PTQ_OP_GLOBAL_MAX_POOL &&
            ni.op != PTQ_OP_FLATTEN && ni.op != PTQ_OP_RESHAPE)
            return v;
        v = ni.inputs[0];
    }
}

static bool is_constant(const ptq_host *h, ptq_session *s, int32_t v) {
    ptq_tensor_view t = {.struct_size = sizeof t};
    return !h->value_view(s, v, &t) && t.data != NULL;
}

/* Whether value v, produced in unit u, is read outside it or is a graph output. */
static bool leaves_unit(const ptq_host *h, ptq_session *s, const int32_t *unit_of, int32_t u,
                        int32_t v) {
    int32_t readers[64];
    const int32_t n = h->value_readers(s, v, readers, 64);
    if (n == 0) return true; /* a graph output */
    for (int32_t i = 0; i < n && i < 64; i++)
        if (unit_of[readers[i]] != u) return true;
    return n > 64;
}

/* The kind signature: the classes along the longest path (in classed ops) through the
 * module's nodes to the producer of its output. */
static void kind_of(const ptq_host *h, ptq_session *s, const mc_modules *mods, const mc_module *m,
                    int32_t *depth, int32_t *pred, char *out, size_t size) {
    const int32_t u = mods->unit_of[m->first];
    for (int32_t j = m->first; j < m->first + m->count; j++) {
        ptq_node_info ni = {.struct_size = sizeof ni};
        const int32_t k = j - m->first;
        depth[k] = 0, pred[k] = -1;
        if (h->node_info(s, j, &ni)) continue;
        for (int32_t i = 0; i < ni.n_inputs && i < 8; i++) {
            if (ni.inputs[i] < 0) continue;
            const int32_t p = h->value_producer(s, ni.inputs[i]);
            if (p < m->first || p >= j || mods->unit_of[p] != u) continue;
            if (pred[k] < 0 || depth[p - m->first] > depth[pred[k]]) pred[k] = p - m->first;
        }
        depth[k] = (pred[k] >= 0 ? depth[pred[k]] : 0) + (op_class(ni.op) != NULL);
    }
    /* Walk back from the output's producer, then write the classes in forward order. */
    const char *classes[64];
    int32_t n = 0;
    for (int32_t k = h->value_producer(s, m->output) - m->first; k >= 0 && n < 64; k = pred[k]) {
        ptq_node_info ni = {.struct_size = sizeof ni};
        const char *c = h->node_info(s, m->first + k, &ni) ? NULL : op_class(ni.op);
        if (c) classes[n++] = c;
    }
    size_t len = 0;
    out[0] = '\0';
    for (int32_t i = n - 1; i >= 0 && len < size; i--)
        len += (size_t)snprintf(out + len, size - len, "%s%s", i == n - 1 ? "" : " ", classes[i]);
}

/* Parameters and bits of node j's weight, if it has one. */
static void weight_of(const ptq_host *h, ptq_session *s, int32_t j, mc_module *m) {
    ptq_node_info ni = {.struct_size = sizeof ni};
    if (h->node_info(s, j, &ni) || ni.n_inputs < 2 || ni.inputs[1] < 0) return;
    if (ni.op != PTQ_OP_CONV && ni.op != PTQ_OP_GEMM && ni.op != PTQ_OP_MATMUL) return;
    ptq_tensor_view w = {.struct_size = sizeof w};
    if (h->value_view(s, ni.inputs[1], &w) || !w.data) return;
    double numel = 1.0;
    for (int32_t d = 0; d < w.ndim; d++) numel *= (double)w.ne[d];
    const int32_t q = ptq_util_weight_quantizer(h, s, j);
    ptq_quant_view qv = {.struct_size = sizeof qv};
    const int32_t bits = q >= 0 && !h->quantizer_view(s, q, &qv) ? qv.bits : 32;
    m->weighted += q >= 0;
    m->params += numel;
    m->bit_params += numel * bits;
}

static int32_t kind_id(mc_modules *mods, const char *sig) {
    for (int32_t i = 0; i < mods->n_kinds; i++)
        if (!strcmp(mods->kinds[i], sig)) return i;
    snprintf(mods->kinds[mods->n_kinds], MC_KIND_SIZE, "%s", sig);
    return mods->n_kinds++;
}

ptq_status mc_modules_read(const ptq_host *h, ptq_session *s, double stride_penalty, mc_modules *mods) {
    memset(mods, 0, sizeof *mods);
    const int32_t n = h->node_count(s);
    mods->n_nodes = n;
    if ((mods->input = ptq_util_graph_input(h, s, "modcap")) < 0) return PTQ_ERR_UNSUPPORTED;
    mods->unit_of = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *mods->unit_of);
    int32_t *depth = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *depth);
    int32_t *pred = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *pred);
    int32_t *nodes = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *nodes);
    ptq_status st = mods->unit_of && depth && pred && nodes ? PTQ_OK
                  : h->error(s, PTQ_ERR_NOMEM, "modcap: out of memory");
    const int32_t units = st ? -1 : h->node_blocks(s, mods->unit_of, n);
    if (!st && units < 0) st = PTQ_ERR_INVALID;
    if (!st) {
        mods->m = h->alloc((size_t)(units > 0 ? units : 1) * sizeof *mods->m);
        mods->kinds = h->alloc((size_t)(units > 0 ? units : 1) * sizeof *mods->kinds);
        if (!mods->m || !mods->kinds) st = h->error(s, PTQ_ERR_NOMEM, "modcap: out of memory");
        else memset(mods->m, 0, (size_t)units * sizeof *mods->m);
    }
    for (int32_t u = 0; u < units && !st; u++) {
        mc_module *m = &mods->m[mods->n++];
        m->first = -1, m->output = -1;
        double in_pos = 0.0;
        for (int32_t j = 0; j < n; j++) {
            if (mods->unit_of[j] != u) continue;
            if (m->first < 0) m->first = j;
            m->count = j - m->first + 1;
            weight_of(h, s, j, m);
            ptq_node_info ni = {.struct_size = sizeof ni};
            if (h->node_info(s, j, &ni)) continue;
            for (int32_t i = 0; i < ni.n_inputs && i < 8; i++) {
                const int32_t v = ni.inputs[i];
                if (v < 0 || is_constant(h, s, v)) continue;
                const int32_t p = h->value_producer(s, v);
                if (p < 0 || mods->unit_of[p] != u) in_pos = fmax(in_pos, positions(h, s, v));
            }
            for (int32_t o = 0; o < ni.n_outputs && o < 4; o++)
                if (ni.outputs[o] >= 0 && leaves_unit(h, s, mods->unit_of, u, ni.outputs[o]))
                    m->output = ni.outputs[o];
        }
        if (m->first < 0 || m->output < 0) {
            st = h->error(s, PTQ_ERR_INVALID, "modcap: unit %d of the session's grouping has %s",
                          u, m->first < 0 ? "no nodes" : "no output");
            break;
        }
        const int32_t k = mc_module_nodes(mods, u, u, nodes);
        ptq_util_nodes_label(h, s, nodes, k, m->name, sizeof m->name);
        const double out_pos = positions(h, s, spatial_end(h, s, mods->unit_of, u, m->output));
        m->subsample = in_pos > out_pos && out_pos > 0.0 ? in_pos / out_pos : 1.0;
        m->capacity = m->bit_params * pow(stride_penalty, log(m->subsample) / log(4.0));
        char sig[MC_KIND_SIZE];
        kind_of(h, s, mods, m, depth, pred, sig, sizeof sig);
        m->kind = kind_id(mods, sig);
    }
    h->free(depth), h->free(pred), h->free(nodes);
    if (st) mc_modules_free(h, mods);
    return st;
}

int32_t mc_module_nodes(const mc_modules *mods, int32_t first, int32_t last, int32_t *nodes) {
    int32_t k = 0;
    for (int32_t m = first; m <= last; m++)
        for (int32_t j = mods->m[m].first; j < mods->m[m].first + mods->m[m].count; j++) nodes[k++] = j;
    return k;
}

void mc_modules_free(const ptq_host *h, mc_modules *mods) {
    h->free(mods->m), h->free(mods->kinds), h->free(mods->unit_of);
    memset(mods, 0, sizeof *mods);
}
