/* shape_math.c — shape inference of the elementwise, comparison and reduction ops
 * (variadic broadcasting, Expand, Reduce*, LayerNormalization).  Same rules as shape.c:
 * the batch symbol PTQ_DIM_BATCH broadcasts only against 1 or itself, and no op may
 * reduce or normalise over it (that would mix samples). */
#include <inttypes.h>

#include "shape_util.h"

/* Broadcasts shape (nd, ne) into (r, out) in place, numpy rules. */
static ptq_status broadcast_into(const ptq_node *n, const ptq_value *x, int32_t *r, int64_t *out,
                                 ptq_error *err) {
    char buf[160], buf2[160];
    int32_t nr = PTQ_MAX(*r, x->ndim);
    int64_t res[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < nr; i++) {
        int32_t ia = i - (nr - *r), ib = i - (nr - x->ndim);
        int64_t da = ia >= 0 ? out[ia] : 1, db = ib >= 0 ? x->ne[ib] : 1;
        if (da == db || db == 1) res[i] = da;
        else if (da == 1) res[i] = db;
        else if (da == B || db == B)
            FAIL(err, n, PTQ_ERR_UNSUPPORTED,
                 "'%s' %s broadcasts the batch size against a fixed size (other operands "
                 "give %s)", x->name, ptq_shape_str(x->ndim, x->ne, buf, sizeof buf),
                 ptq_shape_str(*r, out, buf2, sizeof buf2));
        else
            FAIL(err, n, PTQ_ERR_INVALID, "'%s' %s does not broadcast with %s", x->name,
                 ptq_shape_str(x->ndim, x->ne, buf, sizeof buf),
                 ptq_shape_str(*r, out, buf2, sizeof buf2));
    }
    *r = nr;
    memcpy(out, res, sizeof res);
    return PTQ_OK;
}

ptq_status ptq_infer_nary_broadcast(ptq_graph *g, ptq_node *n, ptq_error *err) {
    int32_t r = 0;
    int64_t out[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < n->n_inputs; i++) {
        if (n->inputs[i] < 0) FAIL(err, n, PTQ_ERR_INVALID, "input %d is missing", i);
        ptq_status st = broadcast_into(n, &g->values[n->inputs[i]], &r, out, err);
        if (st) return st;
    }
    set_shape(&g->values[n->outputs[0]], r, out);
    return PTQ_OK;
}

ptq_status ptq_infer_expand(ptq_graph *g, ptq_node *n, ptq_error *err) {
    ptq_value tgt = {0};
    tgt.name = "shape";
    tgt.ndim = n->attrs.expand_ndim;
    if (tgt.ndim < 0 || tgt.ndim > PTQ_MAX_DIMS)
        FAIL(err, n, PTQ_ERR_UNSUPPORTED, "target rank %d", tgt.ndim);
    for (int32_t i = 0; i < tgt.ndim; i++) {
        tgt.ne[i] = n->attrs.expand_shape[i];
        if (tgt.ne[i] != B && (tgt.ne[i] < 0 || tgt.ne[i] > PTQ_MAX_ELEMENTS))
            FAIL(err, n, PTQ_ERR_INVALID, "target dimension %d is %" PRId64, i, tgt.ne[i]);
    }
    const ptq_value *x = &g->values[n->inputs[0]];
    int32_t r = x->ndim;
    int64_t out[PTQ_MAX_DIMS];
    memcpy(out, x->ne, sizeof out);
    ptq_status st = broadcast_into(n, &tgt, &r, out, err);
    if (st) return st;
    /* The executor's values are batch x per-sample: one batch axis, at most. */
    int32_t n_batch = 0;
    for (int32_t i = 0; i < r; i++) n_batch += out[i] == B;
    if (n_batch > 1 || (n_batch == 1 && out[0] != B))
        FAIL(err, n, PTQ_ERR_UNSUPPORTED, "the target puts the batch size on an axis other "
             "than the first, or on several");
    set_shape(&g->values[n->outputs[0]], r, out);
    return PTQ_OK;
}

uint32_t ptq_reduce_mask(const ptq_node *n, int32_t ndim) {
    const ptq_node_attrs *a = &n->attrs;
    if (a->n_axes <= 0) return a->n_axes == 0 && a->noop_with_empty_axes ? 0 : (1u << ndim) - 1;
    uint32_t m = 0;
    for (int32_t i = 0; i < a->n_axes; i++) m |= 1u << a->axes[i];
    return m;
}

ptq_status ptq_infer_reduce(ptq_graph *g, ptq_node *n, ptq_error *err) {
    const ptq_value *x = &g->values[n->inputs[0]];
    ptq_node_attrs *a = &n->attrs;
    uint32_t seen = 0;
    for (int32_t i = 0; i < a->n_axes; i++) {
        int64_t ax = a->axes[i] < 0 ? a->axes[i] + x->ndim : a->axes[i];
        if (ax < 0 || ax >= x->ndim || (seen >> ax) & 1u)
            FAIL(err, n, PTQ_ERR_INVALID, "axes[%d]=%" PRId64 " is out of range or repeated "
                 "for rank %d", i, a->axes[i], x->ndim);
        seen |= 1u << ax;
        a->axes[i] = ax;
    }
    const uint32_t m = ptq_reduce_mask(n, x->ndim);
    int64_t out[PTQ_MAX_DIMS];
    int32_t r = 0;
    for (int32_t i = 0; i < x->ndim; i++) {
        if (!((m >> i) & 1u)) {
            out[r++] = x->ne[i];
            continue;
        }
        if (x->ne[i] == B)
            FAIL(err, n, PTQ_ERR_UNSUPPORTED, "reducing over the batch axis %d mixes samples", i);
        if (x->ne[i] == 0 && n->op == PTQ_OP_REDUCE_MAX)
            FAIL(err, n, PTQ_ERR_INVALID, "ReduceMax over an empty axis %d", i);
        if (a->keepdims) out[r++] = 1;
    }
    set_shape(&g->values[n->outputs[0]], r, out);
    return PTQ_OK;
}

ptq_status ptq_infer_layer_norm(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160], buf2[160];
    const ptq_value *x = &g->values[n->inputs[0]];
    int64_t axis = n->attrs.axis;
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim)
        FAIL(err, n, PTQ_ERR_INVALID, "axis %" PRId64 " is out of range for rank %d",
             n->attrs.axis, x->ndim);
    n->attrs.axis = axis;
    for (int32_t i = (int32_t)axis; i < x->ndim; i++)
        if (x->ne[i] == B) FAIL(err, n, PTQ_ERR_UNSUPPORTED, "normalising over the batch axis");
    if (!(n->attrs.epsilon >= 0.0f) || !isfinite(n->attrs.epsilon))
        FAIL(err, n, PTQ_ERR_INVALID, "epsilon %g is invalid", (double)n->attrs.epsilon);
    /* Scale and bias broadcast onto the normalised dims x.shape[axis:] (unidirectional). */
    for (int32_t k = 1; k < n->n_inputs; k++) {
        if (n->inputs[k] < 0) continue;
        const ptq_value *p = &g->values[n->inputs[k]];
        bool ok = p->ndim <= x->ndim - axis;
        for (int32_t i = 0; ok && i < p->ndim; i++) {
            int64_t d = x->ne[x->ndim - p->ndim + i];
            ok = p->ne[i] == d || p->ne[i] == 1;
        }
        if (!ok)
            FAIL(err, n, PTQ_ERR_INVALID, "%s '%s' %s does not broadcast onto the normalised "
                 "dimensions of %s", k == 1 ? "scale" : "bias", p->name,
                 ptq_shape_str(p->ndim, p->ne, buf, sizeof buf),
                 ptq_shape_str(x->ndim, x->ne, buf2, sizeof buf2));
    }
    set_shape(&g->values[n->outputs[0]], x->ndim, x->ne);
    return PTQ_OK;
}
