/* fakequant.c — the FAKE_QUANT op: a QuantizeLinear -> DequantizeLinear pair imported
 * from a QDQ model, computed by the same ptq_fake_quant as the simulation. */
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
    ptq_value *o = &g->values[n->outputs[0]];
    o->ndim = x->ndim;
    memcpy(o->ne, x->ne, sizeof o->ne);
    return PTQ_OK;
}

/* With a plugin's rounding function: v = x / s, r = round(v), q = clamp(r + zp). */
static void fake_quant_rounded(const ptq_node *n, const float *x, float *y, int64_t len,
                               int64_t index, float scale, int32_t zero_point) {
    const ptq_rounding *r = n->attrs.q_rounding;
    float v[256], rv[256];
    const float zp = (float)zero_point, lo = (float)n->attrs.qmin, hi = (float)n->attrs.qmax;
    for (int64_t at = 0; at < len; at += 256) {
        const int64_t m = PTQ_MIN(256, len - at);
        for (int64_t i = 0; i < m; i++) v[i] = x[at + i] / scale;
        r->forward(n->attrs.q_rounding_state, v, rv, m, index + at);
        for (int64_t i = 0; i < m; i++) {
            float q = rv[i] + zp;
            q = q < lo ? lo : (q > hi ? hi : q);
            y[at + i] = (q - zp) * scale;
        }
    }
}

void ptq_fwd_fake_quant(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)kc;
    const float *scale = in[1].data;
    const int32_t *zp = in[2].data;
    const int32_t axis = n->attrs.q_axis;
    const int64_t total = ptq_kt_numel(out);
    if (n->attrs.q_rounding) {
        int64_t outer = 1, inner = total, c = 1;
        if (axis >= 0) {
            inner = 1;
            for (int32_t i = 0; i < out->ndim; i++) {
                if (i < axis) outer *= out->ne[i];
                if (i > axis) inner *= out->ne[i];
            }
            c = out->ne[axis];
        }
        for (int64_t o = 0; o < outer; o++)
            for (int64_t ch = 0; ch < c; ch++) {
                const int64_t off = (o * c + ch) * inner;
                fake_quant_rounded(n, (const float *)in[0].data + off, (float *)out->data + off,
                                   inner, off, scale[axis >= 0 ? ch : 0], zp[axis >= 0 ? ch : 0]);
            }
        return;
    }
    if (axis < 0) {
        ptq_fake_quant(in[0].data, out->data, total, scale[0], zp[0], n->attrs.qmin, n->attrs.qmax);
        return;
    }
    int64_t outer = 1, inner = 1;
    for (int32_t i = 0; i < out->ndim; i++) {
        if (i < axis) outer *= out->ne[i];
        if (i > axis) inner *= out->ne[i];
    }
    const int64_t c = out->ne[axis];
    const float *x = in[0].data;
    float *y = out->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t ch = 0; ch < c; ch++) {
            const int64_t off = (o * c + ch) * inner;
            ptq_fake_quant(x + off, y + off, inner, scale[ch], zp[ch], n->attrs.qmin, n->attrs.qmax);
        }
}
