/* fakequant.c — the FAKE_QUANT op: a QuantizeLinear -> DequantizeLinear pair imported
 * from a QDQ model, computed by the same ptq_fake_quant as the simulation.  An optional
 * fourth input holds learned rounding borders (AQuant): a [C or 1, qmax - qmin] float
 * table, one border per channel (axis 1) and integer bin, used in place of 0.5. */
#include <inttypes.h>

#include "internal.h"
#include "ptq/ptq_plugin.h"

ptq_status ptq_infer_fake_quant(ptq_graph *g, ptq_node *n, ptq_error *err) {
    const ptq_value *x = &g->values[n->inputs[0]];
    const ptq_value *s = &g->values[n->inputs[1]], *z = &g->values[n->inputs[2]];
    const int32_t axis = n->attrs.q_axis;
    const int64_t count = ptq_tensor_numel(s->data);
    if (axis >= x->ndim || (axis >= 0 && (x->ne[axis] == PTQ_DIM_BATCH || x->ne[axis] != count)) ||
        (axis < 0 && count != 1) || ptq_tensor_numel(z->data) != count)
        return ptq_error_set(err, PTQ_ERR_INVALID,
                             "node '%s' (QuantizeLinear/DequantizeLinear): scale and zero point "
                             "do not match the input and axis %d", n->name, axis);
    const float *sc = s->data->data;
    for (int64_t i = 0; i < count; i++)
        if (!(sc[i] > 0.0f) || !isfinite(sc[i]))
            return ptq_error_set(err, PTQ_ERR_INVALID, "node '%s': scale %g is not positive",
                                 n->name, (double)sc[i]);
    if (n->attrs.qmin > n->attrs.qmax)
        return ptq_error_set(err, PTQ_ERR_INVALID, "node '%s': empty integer range", n->name);
    if (n->n_inputs > 3 && n->inputs[3] >= 0) {
        const ptq_tensor *b = g->values[n->inputs[3]].data;
        const int64_t bins = (int64_t)n->attrs.qmax - n->attrs.qmin;
        const int64_t ch = x->ndim >= 2 ? x->ne[1] : -1;
        if (axis >= 0 && axis != 1 && count > 1)
            return ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "node '%s': rounding borders need "
                                 "per-tensor scales or scales on axis 1", n->name);
        if (bins < 1 || b->ndim != 2 || b->ne[1] != bins || ch == PTQ_DIM_BATCH ||
            (b->ne[0] != 1 && b->ne[0] != ch))
            return ptq_error_set(err, PTQ_ERR_INVALID, "node '%s': the rounding border table "
                                 "must be [1 or %" PRId64 " channels, %" PRId64 " bins]", n->name,
                                 ch, bins);
        const float *bv = b->data;
        for (int64_t i = 0; i < ptq_tensor_numel(b); i++)
            if (!(bv[i] >= 0.0f && bv[i] <= 1.0f))
                return ptq_error_set(err, PTQ_ERR_INVALID, "node '%s': rounding border %g at "
                                     "%" PRId64 " is outside [0, 1]", n->name, (double)bv[i], i);
    }
    ptq_value *o = &g->values[n->outputs[0]];
    o->ndim = x->ndim;
    memcpy(o->ne, x->ne, sizeof o->ne);
    return PTQ_OK;
}

void ptq_fwd_fake_quant(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)kc;
    const int32_t axis = n->attrs.q_axis;
    /* A view of the node's scale and zero point inputs; nothing is written through it. */
    const ptq_qparams qp = {
        .qmin = n->attrs.qmin,
        .qmax = n->attrs.qmax,
        .axis = axis,
        .n = axis >= 0 ? out->ne[axis] : 1,
        .scale = in[1].data,
        .zero_point = in[2].data,
    };
    if (n->n_inputs > 3 && in[3].data && !n->attrs.q_rounding)
        ptq_fake_quant_tensor_border(&qp, out->ndim, out->ne, in[0].data, out->data, in[3].data,
                                     in[3].ne[0]);
    else
        ptq_fake_quant_tensor_rounded(&qp, out->ndim, out->ne, in[0].data, out->data,
                                      n->attrs.q_rounding, n->attrs.q_rounding_state);
}
