/* fuse_layernorm.c — the LayerNormalization that exporters before opset 17 write as nine
 * ops, fused back into one PTQ_OP_LAYER_NORM node so quantization sees one op:
 *
 *     m = ReduceMean(x, axes = the last k axes, keepdims = 1)
 *     d = Sub(x, m)                 v = ReduceMean(Pow(d, 2), same axes, keepdims = 1)
 *     y = Div(d, Sqrt(Add(v, eps)))  [then Mul by w] [then Add b]   (w, b either side)
 *
 * Only the exact pattern fuses: every intermediate value is read by the pattern alone and
 * is no graph output, eps is a constant scalar, w and b broadcast onto the normalised dims
 * only.  The fused kernel gives the same result within float rounding: its sums run in
 * the same order as ReduceMean's, but it multiplies by 1 / sqrt(var + eps) where the
 * pattern divides by sqrt(var + eps) (a difference of an ulp or so per element). */
#include "internal.h"

/* The single live reader of value v that is no graph output, or -1. */
static int32_t only_reader(const ptq_graph *g, int32_t v) {
    if (v < 0 || g->values[v].flags & PTQ_VALUE_OUTPUT) return -1;
    int32_t r[2];
    return ptq_graph_readers(g, v, r, 2) == 1 ? r[0] : -1;
}

static bool scalar_const(const ptq_graph *g, int32_t v, float *out) {
    if (!ptq_is_const(g, v)) return false;
    const ptq_tensor *t = g->values[v].data;
    if (t->dtype != PTQ_DTYPE_F32 || ptq_tensor_numel(t) != 1) return false;
    *out = *(const float *)t->data;
    return true;
}

/* The first axis of a keepdims ReduceMean over a suffix of x's dims, or -1. */
static int32_t suffix_axis(const ptq_node *n, int32_t ndim) {
    if (n->attrs.keepdims != 1 || n->attrs.n_axes <= 0) return -1;
    const uint32_t m = ptq_reduce_mask(n, ndim);
    for (int32_t a = 0; a < ndim; a++)
        if (m == ((1u << ndim) - 1) - ((1u << a) - 1)) return a;
    return -1;
}

/* p broadcasts onto x's dims from axis on without widening them. */
static bool trailing(const ptq_graph *g, int32_t p, int32_t x, int32_t axis) {
    const ptq_value *pv = &g->values[p], *xv = &g->values[x];
    if (pv->ndim > xv->ndim - axis) return false;
    for (int32_t i = 0; i < pv->ndim; i++) {
        const int64_t d = xv->ne[xv->ndim - pv->ndim + i];
        if (pv->ne[i] != d && pv->ne[i] != 1) return false;
    }
    return true;
}

/* The operand of binary node n other than v. */
static int32_t other(const ptq_node *n, int32_t v) {
    return n->inputs[0] == v ? n->inputs[1] : n->inputs[0];
}

/* Tries to fuse the pattern whose first ReduceMean is node i; true if it did. */
static bool fuse_at(ptq_graph *g, int32_t i, ptq_error *err, ptq_status *st) {
    const ptq_node *mean = &g->nodes[i];
    const int32_t x = mean->inputs[0];
    const int32_t ndim = g->values[x].ndim;
    const int32_t axis = suffix_axis(mean, ndim);
    if (axis < 0) return false;
    int32_t r = only_reader(g, mean->outputs[0]);
    const ptq_node *sub = r >= 0 && g->nodes[r].op == PTQ_OP_SUB ? &g->nodes[r] : NULL;
    if (!sub || sub->inputs[0] != x || sub->inputs[1] != mean->outputs[0]) return false;
    const int32_t d = sub->outputs[0];
    if (g->values[d].flags & PTQ_VALUE_OUTPUT) return false;
    int32_t rd[3];
    if (ptq_graph_readers(g, d, rd, 3) != 2) return false;
    const ptq_node *pw = NULL, *div = NULL;
    for (int k = 0; k < 2; k++) {
        const ptq_node *n = &g->nodes[rd[k]];
        if (n->op == PTQ_OP_POW && n->inputs[0] == d) pw = n;
        if (n->op == PTQ_OP_DIV && n->inputs[0] == d) div = n;
    }
    float two, eps;
    if (!pw || !div || !scalar_const(g, pw->inputs[1], &two) || two != 2.0f) return false;
    r = only_reader(g, pw->outputs[0]);
    const ptq_node *var = r >= 0 && g->nodes[r].op == PTQ_OP_REDUCE_MEAN ? &g->nodes[r] : NULL;
    if (!var || suffix_axis(var, ndim) != axis) return false;
    r = only_reader(g, var->outputs[0]);
    const ptq_node *add = r >= 0 && g->nodes[r].op == PTQ_OP_ADD ? &g->nodes[r] : NULL;
    if (!add || !scalar_const(g, other(add, var->outputs[0]), &eps) || !(eps >= 0.0f)) return false;
    r = only_reader(g, add->outputs[0]);
    const ptq_node *sq = r >= 0 && g->nodes[r].op == PTQ_OP_SQRT ? &g->nodes[r] : NULL;
    if (!sq || only_reader(g, sq->outputs[0]) != (int32_t)(div - g->nodes) ||
        div->inputs[1] != sq->outputs[0])
        return false;
    /* Optional Mul by the scale, then optional Add of the bias. */
    int32_t last = (int32_t)(div - g->nodes), scale = -1, bias = -1;
    r = only_reader(g, g->nodes[last].outputs[0]);
    if (r >= 0 && g->nodes[r].op == PTQ_OP_MUL) {
        const int32_t w = other(&g->nodes[r], g->nodes[last].outputs[0]);
        if (trailing(g, w, x, axis)) scale = w, last = r;
    }
    r = only_reader(g, g->nodes[last].outputs[0]);
    if (r >= 0 && g->nodes[r].op == PTQ_OP_ADD) {
        const int32_t b = other(&g->nodes[r], g->nodes[last].outputs[0]);
        if (trailing(g, b, x, axis)) bias = b, last = r;
    }
    if (scale < 0) { /* y = xhat (+ b): a scale of ones */
        int64_t one = 1;
        ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, 1, &one, err);
        if (!t) return *st = err->status, false;
        *(float *)t->data = 1.0f;
        char nm[512];
        snprintf(nm, sizeof nm, "%s/scale_ones", g->nodes[last].name);
        if ((scale = ptq_graph_add_constant(g, nm, t, err)) < 0) return *st = err->status, false;
    }
    /* The last node becomes the LayerNormalization; the others die unread. */
    ptq_node *ln = &g->nodes[last];
    int32_t *ins = realloc(ln->inputs, 3 * sizeof *ins);
    if (!ins) return *st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory"), false;
    ins[0] = x, ins[1] = scale, ins[2] = bias;
    ln->inputs = ins;
    ln->n_inputs = bias >= 0 ? 3 : 2;
    ln->op = PTQ_OP_LAYER_NORM;
    memset(&ln->attrs, 0, sizeof ln->attrs);
    ln->attrs.axis = axis;
    ln->attrs.epsilon = eps;
    ln->attrs.n_axes = -1;
    *st = ptq_graph_infer_node(g, last, err);
    return *st == PTQ_OK;
}

ptq_status ptq_fuse_layer_norm(ptq_graph *g, int32_t *fused, ptq_error *err) {
    ptq_status st = PTQ_OK;
    *fused = 0;
    for (int32_t i = 0; i < g->n_nodes && !st; i++) {
        if (g->nodes[i].op != PTQ_OP_REDUCE_MEAN) continue;
        if (fuse_at(g, i, err, &st)) {
            (*fused)++;
            st = ptq_graph_remove_dead(g, err); /* the pattern's other nodes, now unread */
        }
    }
    return st;
}
