/* shape.c — shape inference and input checking, one function per op family.
 *
 * Shapes may hold PTQ_DIM_BATCH, the symbolic batch size.  It flows through ops that
 * move it intact (Conv keeps dim 0, Flatten at axis 1 keeps it, Transpose permutes it);
 * any computation that would multiply it with another size or broadcast it against a
 * fixed size is refused with PTQ_ERR_UNSUPPORTED, so every value's size stays
 * "batch x per-sample size" or fixed, which is what the executor's planner needs. */
#include <inttypes.h>
#include <stdarg.h>

#include "shape_util.h"

ptq_status ptq_infer_same(ptq_graph *g, ptq_node *n, ptq_error *err) {
    const ptq_value *x = in_v(g, n, 0);
    set_shape(out_v(g, n, 0), x->ndim, x->ne);
    return PTQ_OK;
}

int64_t ptq_window_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe,
                          int ceil_mode) {
    int64_t span = d * (k - 1) + 1;
    int64_t avail = in + pb + pe - span;
    if (avail < 0) return -1;
    int64_t out = (ceil_mode ? (avail + s - 1) / s : avail / s) + 1;
    /* PyTorch (and onnxruntime) drop a last window that would start in the end padding. */
    if (ceil_mode && (out - 1) * s >= in + pb) out--;
    return out;
}

/* Resolves auto_pad SAME_* / VALID into explicit pads for one axis. */
static void resolve_auto_pad(int32_t mode, int64_t in, int64_t k, int64_t s, int64_t d,
                             int64_t *pb, int64_t *pe) {
    if (mode == PTQ_AUTO_PAD_VALID) {
        *pb = *pe = 0;
    } else if (mode == PTQ_AUTO_PAD_SAME_UPPER || mode == PTQ_AUTO_PAD_SAME_LOWER) {
        int64_t out = (in + s - 1) / s;
        int64_t total = (out - 1) * s + d * (k - 1) + 1 - in;
        if (total < 0) total = 0;
        int64_t small = total / 2, big = total - total / 2;
        *pb = mode == PTQ_AUTO_PAD_SAME_UPPER ? small : big;
        *pe = total - *pb;
    }
}

static ptq_status check_window(const ptq_node *n, int32_t nsp, const int64_t *k, const int64_t *s,
                               const int64_t *d, const int64_t *pb, const int64_t *pe,
                               ptq_error *err) {
    for (int32_t i = 0; i < nsp; i++) {
        if (k[i] < 1 || k[i] > 1 << 16)
            FAIL(err, n, PTQ_ERR_INVALID, "kernel_shape %" PRId64 " is out of range", k[i]);
        if (s[i] < 1 || s[i] > 1 << 16)
            FAIL(err, n, PTQ_ERR_INVALID, "strides %" PRId64 " is out of range", s[i]);
        if (d[i] < 1 || d[i] > 1 << 16)
            FAIL(err, n, PTQ_ERR_INVALID, "dilations %" PRId64 " is out of range", d[i]);
        if (pb[i] < 0 || pe[i] < 0 || pb[i] > 1 << 16 || pe[i] > 1 << 16)
            FAIL(err, n, PTQ_ERR_INVALID, "pads %" PRId64 "/%" PRId64 " are out of range",
                 pb[i], pe[i]);
    }
    return PTQ_OK;
}

static ptq_status check_spatial_input(const ptq_node *n, const ptq_value *x, int32_t nsp,
                                      ptq_error *err) {
    char buf[160];
    if (x->ndim != nsp + 2)
        FAIL(err, n, PTQ_ERR_UNSUPPORTED,
             "input '%s' has shape %s: expected rank %d (N, C and %d spatial dimension%s)",
             x->name, shp(x, buf, sizeof buf), nsp + 2, nsp, nsp == 1 ? "" : "s");
    for (int32_t i = 1; i < x->ndim; i++)
        if (x->ne[i] == B)
            FAIL(err, n, PTQ_ERR_UNSUPPORTED, "input '%s' has the batch size at dimension %d",
                 x->name, i);
    return PTQ_OK;
}

ptq_status ptq_infer_conv(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160], buf2[160];
    ptq_conv_attrs *a = &n->attrs.conv;
    const ptq_value *x = in_v(g, n, 0), *w = in_v(g, n, 1), *b = in_v(g, n, 2);
    if (w->ndim < 3 || w->ndim > 4)
        FAIL(err, n, PTQ_ERR_UNSUPPORTED, "weight '%s' has shape %s: only 1-D and 2-D "
             "convolutions are supported", w->name, shp(w, buf, sizeof buf));
    int32_t nsp = w->ndim - 2;
    if (a->n_spatial == 0) a->n_spatial = nsp;
    if (a->n_spatial != nsp)
        FAIL(err, n, PTQ_ERR_INVALID, "attributes describe %d spatial dims, weight '%s' has %d",
             a->n_spatial, w->name, nsp);
    /* X and W of different ranks break the spec (1-D X with a 2-D kernel); a rank qcraft
     * does not run at all is refused above, as unsupported. */
    if (x->ndim != w->ndim)
        FAIL(err, n, PTQ_ERR_INVALID, "input '%s' %s and weight '%s' %s differ in rank", x->name,
             shp(x, buf, sizeof buf), w->name, shp(w, buf2, sizeof buf2));
    ptq_status st = check_spatial_input(n, x, nsp, err);
    if (st) return st;
    for (int32_t i = 0; i < w->ndim; i++)
        if (w->ne[i] == B || w->ne[i] < 1)
            FAIL(err, n, PTQ_ERR_INVALID, "weight '%s' has shape %s", w->name,
                 shp(w, buf, sizeof buf));
    for (int32_t i = 0; i < nsp; i++) {
        if (a->kernel[i] == 0) a->kernel[i] = w->ne[2 + i];
        if (a->kernel[i] != w->ne[2 + i])
            FAIL(err, n, PTQ_ERR_INVALID, "kernel_shape disagrees with weight '%s' shape %s",
                 w->name, shp(w, buf, sizeof buf));
        if (a->stride[i] == 0) a->stride[i] = 1;
        if (a->dilation[i] == 0) a->dilation[i] = 1;
    }
    int64_t c = x->ne[1], m = w->ne[0];
    if (a->group == 0) a->group = 1; /* a graph built in code; the importer refuses 0 */
    const int64_t grp = a->group;
    if (grp < 1) FAIL(err, n, PTQ_ERR_INVALID, "attribute group=%" PRId64 " must be >= 1", grp);
    if (c % grp)
        FAIL(err, n, PTQ_ERR_INVALID, "attribute group=%" PRId64 " does not divide the %" PRId64
             " channels of input '%s' %s", grp, c, x->name, shp(x, buf, sizeof buf));
    if (m % grp)
        FAIL(err, n, PTQ_ERR_INVALID, "attribute group=%" PRId64 " does not divide the %" PRId64
             " output channels of weight '%s' %s", grp, m, w->name, shp(w, buf, sizeof buf));
    if (w->ne[1] * grp != c)
        FAIL(err, n, PTQ_ERR_INVALID, "weight '%s' %s has %" PRId64 " input channels per group; "
             "input '%s' %s with attribute group=%" PRId64 " needs %" PRId64, w->name,
             shp(w, buf, sizeof buf), w->ne[1], x->name, shp(x, buf2, sizeof buf2), grp, c / grp);
    if (b && (b->ndim != 1 || b->ne[0] != m))
        FAIL(err, n, PTQ_ERR_INVALID, "bias '%s' has shape %s, expected [%" PRId64 "]", b->name,
             shp(b, buf, sizeof buf), m);
    int64_t out[4] = {x->ne[0], m, 0, 0};
    for (int32_t i = 0; i < nsp; i++) {
        resolve_auto_pad(a->auto_pad, x->ne[2 + i], a->kernel[i], a->stride[i], a->dilation[i],
                         &a->pad_begin[i], &a->pad_end[i]);
    }
    a->auto_pad = PTQ_AUTO_PAD_NOTSET;
    st = check_window(n, nsp, a->kernel, a->stride, a->dilation, a->pad_begin, a->pad_end, err);
    if (st) return st;
    for (int32_t i = 0; i < nsp; i++) {
        out[2 + i] = ptq_window_out(x->ne[2 + i], a->kernel[i], a->stride[i], a->dilation[i],
                                a->pad_begin[i], a->pad_end[i], 0);
        if (out[2 + i] < 1)
            FAIL(err, n, PTQ_ERR_INVALID, "the kernel does not fit input '%s' %s", x->name,
                 shp(x, buf, sizeof buf));
    }
    set_shape(out_v(g, n, 0), nsp + 2, out);
    return PTQ_OK;
}

ptq_status ptq_infer_pool(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160];
    ptq_pool_attrs *a = &n->attrs.pool;
    const ptq_value *x = in_v(g, n, 0);
    int32_t nsp = a->n_spatial;
    if (nsp < 1 || nsp > 2)
        FAIL(err, n, PTQ_ERR_UNSUPPORTED, "%d-D pooling is not supported (1-D and 2-D are)",
             x->ndim - 2);
    ptq_status st = check_spatial_input(n, x, nsp, err);
    if (st) return st;
    for (int32_t i = 0; i < nsp; i++) {
        if (a->stride[i] == 0) a->stride[i] = 1;
        if (a->dilation[i] == 0) a->dilation[i] = 1;
        resolve_auto_pad(a->auto_pad, x->ne[2 + i], a->kernel[i], a->stride[i], a->dilation[i],
                         &a->pad_begin[i], &a->pad_end[i]);
    }
    a->auto_pad = PTQ_AUTO_PAD_NOTSET;
    st = check_window(n, nsp, a->kernel, a->stride, a->dilation, a->pad_begin, a->pad_end, err);
    if (st) return st;
    int64_t out[4] = {x->ne[0], x->ne[1], 0, 0};
    for (int32_t i = 0; i < nsp; i++) {
        if (a->pad_begin[i] >= a->kernel[i] || a->pad_end[i] >= a->kernel[i])
            FAIL(err, n, PTQ_ERR_INVALID, "pads %" PRId64 "/%" PRId64 " of axis %d must be "
                 "smaller than kernel_shape %" PRId64, a->pad_begin[i], a->pad_end[i], 2 + i,
                 a->kernel[i]);
        out[2 + i] = ptq_window_out(x->ne[2 + i], a->kernel[i], a->stride[i], a->dilation[i],
                                a->pad_begin[i], a->pad_end[i], a->ceil_mode);
        if (out[2 + i] < 1)
            FAIL(err, n, PTQ_ERR_INVALID, "the window does not fit input '%s' %s", x->name,
                 shp(x, buf, sizeof buf));
    }
    set_shape(out_v(g, n, 0), nsp + 2, out);
    return PTQ_OK;
}

ptq_status ptq_infer_global_pool(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160];
    const ptq_value *x = in_v(g, n, 0);
    if (x->ndim < 3)
        FAIL(err, n, PTQ_ERR_INVALID, "input '%s' has shape %s: expected N x C x spatial",
             x->name, shp(x, buf, sizeof buf));
    int64_t out[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < x->ndim; i++) {
        if (i > 0 && x->ne[i] == B)
            FAIL(err, n, PTQ_ERR_UNSUPPORTED, "batch size at dimension %d", i);
        out[i] = i < 2 ? x->ne[i] : 1;
    }
    set_shape(out_v(g, n, 0), x->ndim, out);
    return PTQ_OK;
}

ptq_status ptq_infer_batch_norm(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160];
    const ptq_value *x = in_v(g, n, 0);
    if (x->ndim < 2 || x->ne[1] == B)
        FAIL(err, n, PTQ_ERR_INVALID, "input '%s' has shape %s: expected N x C x ...", x->name,
             shp(x, buf, sizeof buf));
    for (int32_t i = 1; i < 5; i++) {
        const ptq_value *p = in_v(g, n, i);
        if (p->ndim != 1 || p->ne[0] != x->ne[1])
            FAIL(err, n, PTQ_ERR_INVALID, "parameter '%s' has shape %s, expected [%" PRId64 "]",
                 p->name, shp(p, buf, sizeof buf), x->ne[1]);
    }
    if (!(n->attrs.epsilon >= 0.0f) || !isfinite(n->attrs.epsilon))
        FAIL(err, n, PTQ_ERR_INVALID, "epsilon %g is invalid", (double)n->attrs.epsilon);
    set_shape(out_v(g, n, 0), x->ndim, x->ne);
    return PTQ_OK;
}

/* Numpy broadcasting of two shapes into out; the batch symbol broadcasts only with 1
 * or itself. */
static ptq_status broadcast2(const ptq_node *n, const ptq_value *a, const ptq_value *b,
                             int32_t *ndim, int64_t *out, ptq_error *err) {
    char buf[160], buf2[160];
    int32_t r = PTQ_MAX(a->ndim, b->ndim);
    for (int32_t i = 0; i < r; i++) {
        int32_t ia = i - (r - a->ndim), ib = i - (r - b->ndim);
        int64_t da = ia >= 0 ? a->ne[ia] : 1, db = ib >= 0 ? b->ne[ib] : 1;
        if (da == db || db == 1) out[i] = da;
        else if (da == 1) out[i] = db;
        else if (da == B || db == B)
            FAIL(err, n, PTQ_ERR_UNSUPPORTED,
                 "'%s' %s and '%s' %s broadcast the batch size against a fixed size", a->name,
                 shp(a, buf, sizeof buf), b->name, shp(b, buf2, sizeof buf2));
        else
            FAIL(err, n, PTQ_ERR_INVALID, "'%s' %s and '%s' %s do not broadcast", a->name,
                 shp(a, buf, sizeof buf), b->name, shp(b, buf2, sizeof buf2));
    }
    *ndim = r;
    return PTQ_OK;
}

ptq_status ptq_infer_broadcast(ptq_graph *g, ptq_node *n, ptq_error *err) {
    int32_t r;
    int64_t out[PTQ_MAX_DIMS];
    ptq_status st = broadcast2(n, in_v(g, n, 0), in_v(g, n, 1), &r, out, err);
    if (st) return st;
    set_shape(out_v(g, n, 0), r, out);
    return PTQ_OK;
}

ptq_status ptq_infer_gemm(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160], buf2[160];
    const ptq_value *a = in_v(g, n, 0), *b = in_v(g, n, 1), *c = in_v(g, n, 2);
    const ptq_gemm_attrs *at = &n->attrs.gemm;
    if (a->ndim != 2 || b->ndim != 2)
        FAIL(err, n, PTQ_ERR_INVALID, "A '%s' %s and B '%s' %s must be matrices", a->name,
             shp(a, buf, sizeof buf), b->name, shp(b, buf2, sizeof buf2));
    int64_t m = at->trans_a ? a->ne[1] : a->ne[0], k = at->trans_a ? a->ne[0] : a->ne[1];
    int64_t k2 = at->trans_b ? b->ne[1] : b->ne[0], nn = at->trans_b ? b->ne[0] : b->ne[1];
    if (k == B || k2 == B || nn == B || (at->trans_a && m == B))
        FAIL(err, n, PTQ_ERR_UNSUPPORTED, "only A's rows may follow the batch size");
    if (k != k2)
        FAIL(err, n, PTQ_ERR_INVALID, "inner dimensions differ under transA=%d, transB=%d: A "
             "'%s' %s gives K=%" PRId64 ", B '%s' %s gives K=%" PRId64, at->trans_a, at->trans_b,
             a->name, shp(a, buf, sizeof buf), k, b->name, shp(b, buf2, sizeof buf2), k2);
    int64_t out[2] = {m, nn};
    if (c) {
        /* C broadcasts one way, onto [M, N]. */
        for (int32_t i = 0; i < c->ndim; i++) {
            int32_t j = i + 2 - c->ndim;
            int64_t d = c->ne[i];
            if (c->ndim > 2 || !(d == 1 || d == out[j]))
                FAIL(err, n, PTQ_ERR_INVALID, "C '%s' %s does not broadcast to [M, N]",
                     c->name, shp(c, buf, sizeof buf));
        }
    }
    set_shape(out_v(g, n, 0), 2, out);
    return PTQ_OK;
}

ptq_status ptq_infer_matmul(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160], buf2[160];
    const ptq_value *a = in_v(g, n, 0), *b = in_v(g, n, 1);
    if (a->ndim < 1 || b->ndim < 1)
        FAIL(err, n, PTQ_ERR_INVALID, "MatMul operands must have rank >= 1");
    /* Promote 1-D operands as numpy does, then broadcast the batch dimensions. */
    ptq_value pa = *a, pb = *b;
    if (a->ndim == 1) { pa.ndim = 2; pa.ne[0] = 1; pa.ne[1] = a->ne[0]; }
    if (b->ndim == 1) { pb.ndim = 2; pb.ne[0] = b->ne[0]; pb.ne[1] = 1; }
    int64_t k = pa.ne[pa.ndim - 1], k2 = pb.ne[pb.ndim - 2];
    if (k == B || k2 == B || pb.ne[pb.ndim - 1] == B)
        FAIL(err, n, PTQ_ERR_UNSUPPORTED, "the batch size must not be a matrix dimension of B");
    if (k != k2)
        FAIL(err, n, PTQ_ERR_INVALID, "inner dimensions differ: '%s' %s, '%s' %s", a->name,
             shp(a, buf, sizeof buf), b->name, shp(b, buf2, sizeof buf2));
    ptq_value ba = pa, bb = pb;
    ba.ndim -= 2;
    bb.ndim -= 2;
    int32_t r;
    int64_t out[PTQ_MAX_DIMS];
    ptq_status st = broadcast2(n, &ba, &bb, &r, out, err);
    if (st) return st;
    if (r + 2 > PTQ_MAX_DIMS) FAIL(err, n, PTQ_ERR_UNSUPPORTED, "rank too large");
    out[r++] = pa.ne[pa.ndim - 2];
    out[r++] = pb.ne[pb.ndim - 1];
    /* Undo the promotion in the output. */
    if (b->ndim == 1) r--;
    if (a->ndim == 1) { out[r - (b->ndim == 1 ? 1 : 2)] = out[r - 1]; r--; }
    set_shape(out_v(g, n, 0), r, out);
    return PTQ_OK;
}

/* Product of dims [lo, hi) as "batch^e x k".  Returns -1 in *e if unsupported. */
static void dim_product(const ptq_value *x, int32_t lo, int32_t hi, int *e, int64_t *k) {
    *e = 0;
    *k = 1;
    for (int32_t i = lo; i < hi; i++) {
        if (x->ne[i] == B) (*e)++;
        else *k *= x->ne[i];
    }
}

ptq_status ptq_infer_flatten(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160];
    const ptq_value *x = in_v(g, n, 0);
    int64_t axis = n->attrs.axis;
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis > x->ndim)
        FAIL(err, n, PTQ_ERR_INVALID, "axis %" PRId64 " is out of range for %s", n->attrs.axis,
             shp(x, buf, sizeof buf));
    n->attrs.axis = axis;
    int64_t out[2];
    for (int part = 0; part < 2; part++) {
        int e;
        int64_t k;
        dim_product(x, part ? (int32_t)axis : 0, part ? x->ndim : (int32_t)axis, &e, &k);
        if (e > 1 || (e == 1 && k != 1))
            FAIL(err, n, PTQ_ERR_UNSUPPORTED,
                 "flattening %s at axis %" PRId64 " multiplies the batch size with other "
                 "dimensions", shp(x, buf, sizeof buf), axis);
        out[part] = e ? B : k;
    }
    set_shape(out_v(g, n, 0), 2, out);
    return PTQ_OK;
}

ptq_status ptq_reshape_resolve(const ptq_node *n, const ptq_value *x, int64_t *out,
                               ptq_error *err) {
    char buf[160], buf2[160];
    const ptq_node_attrs *a = &n->attrs;
    int32_t infer_at = -1;
    int in_e, out_e = 0;
    int64_t in_k, out_k = 1;
    dim_product(x, 0, x->ndim, &in_e, &in_k);
    if (a->allowzero) { /* a 0 that stays 0 leaves a -1 undefined */
        bool zero = false, infer = false;
        for (int32_t i = 0; i < a->ndim; i++) {
            zero |= a->shape[i] == 0;
            infer |= a->shape[i] == -1;
        }
        if (zero && infer)
            FAIL(err, n, PTQ_ERR_INVALID, "input shape holds both 0 and -1, which attribute "
                 "allowzero=1 forbids");
    }
    for (int32_t i = 0; i < a->ndim; i++) {
        int64_t t = a->shape[i];
        if (t == 0 && !a->allowzero) {
            if (i >= x->ndim)
                FAIL(err, n, PTQ_ERR_INVALID, "shape entry %d is 0 but the input has rank %d",
                     i, x->ndim);
            t = x->ne[i];
        }
        if (t == -1) {
            if (infer_at >= 0) FAIL(err, n, PTQ_ERR_INVALID, "more than one -1 in the shape");
            infer_at = i;
            continue;
        }
        if (t == B) {
            if (in_e == 0)
                FAIL(err, n, PTQ_ERR_INVALID, "the shape follows the batch size but the input "
                     "has none");
            out_e++;
        } else if (t < 0) {
            FAIL(err, n, PTQ_ERR_INVALID, "shape entry %" PRId64 " is invalid", t);
        } else {
            if (t > 0 && out_k > PTQ_MAX_ELEMENTS / t)
                FAIL(err, n, PTQ_ERR_INVALID, "shape is too large");
            out_k *= t;
        }
        out[i] = t;
    }
    if (infer_at >= 0) {
        if (out_k == 0 || in_k % out_k || out_e > in_e || (in_e - out_e == 1 && in_k != out_k))
            FAIL(err, n, PTQ_ERR_INVALID, "cannot reshape %s into the requested shape",
                 shp(x, buf, sizeof buf));
        out[infer_at] = in_e - out_e == 1 ? B : in_k / out_k;
    } else if (out_e != in_e || out_k != in_k) {
        ptq_value tmp = *x;
        tmp.ndim = a->ndim;
        memcpy(tmp.ne, out, sizeof tmp.ne);
        FAIL(err, n, in_e != out_e ? PTQ_ERR_UNSUPPORTED : PTQ_ERR_INVALID,
             "cannot reshape %s into %s", shp(x, buf, sizeof buf), shp(&tmp, buf2, sizeof buf2));
    }
    return PTQ_OK;
}

ptq_status ptq_infer_reshape(ptq_graph *g, ptq_node *n, ptq_error *err) {
    int64_t out[PTQ_MAX_DIMS];
    ptq_status st = ptq_reshape_resolve(n, in_v(g, n, 0), out, err);
    if (st) return st;
    set_shape(out_v(g, n, 0), n->attrs.ndim, out);
    return PTQ_OK;
}

ptq_status ptq_infer_transpose(ptq_graph *g, ptq_node *n, ptq_error *err) {
    const ptq_value *x = in_v(g, n, 0);
    ptq_node_attrs *a = &n->attrs;
    if (a->ndim == 0) { /* default: reverse the dimensions */
        a->ndim = x->ndim;
        for (int32_t i = 0; i < x->ndim; i++) a->perm[i] = x->ndim - 1 - i;
    }
    if (a->ndim != x->ndim)
        FAIL(err, n, PTQ_ERR_INVALID, "perm has %d entries, input '%s' has rank %d", a->ndim,
             x->name, x->ndim);
    int64_t out[PTQ_MAX_DIMS];
    uint32_t seen = 0;
    for (int32_t i = 0; i < a->ndim; i++) {
        int64_t p = a->perm[i];
        if (p < 0 || p >= x->ndim || (seen >> p) & 1u)
            FAIL(err, n, PTQ_ERR_INVALID, "perm is not a permutation of 0..%d", x->ndim - 1);
        seen |= 1u << p;
        out[i] = x->ne[p];
    }
    set_shape(out_v(g, n, 0), x->ndim, out);
    return PTQ_OK;
}

ptq_status ptq_infer_concat(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160], buf2[160];
    const ptq_value *x0 = in_v(g, n, 0);
    int64_t axis = n->attrs.axis;
    if (axis < 0) axis += x0->ndim;
    if (axis < 0 || axis >= x0->ndim)
        FAIL(err, n, PTQ_ERR_INVALID, "axis %" PRId64 " is out of range for rank %d",
             n->attrs.axis, x0->ndim);
    n->attrs.axis = axis;
    int64_t out[PTQ_MAX_DIMS];
    memcpy(out, x0->ne, sizeof out);
    for (int32_t k = 1; k < n->n_inputs; k++) {
        const ptq_value *x = in_v(g, n, k);
        if (!x) FAIL(err, n, PTQ_ERR_INVALID, "input %d is missing", k);
        if (x->ndim != x0->ndim)
            FAIL(err, n, PTQ_ERR_INVALID, "'%s' %s and '%s' %s have different ranks", x0->name,
                 shp(x0, buf, sizeof buf), x->name, shp(x, buf2, sizeof buf2));
        for (int32_t i = 0; i < x->ndim; i++) {
            if (i == axis) {
                if (x->ne[i] == B || out[i] == B)
                    FAIL(err, n, PTQ_ERR_UNSUPPORTED, "concatenating along the batch axis");
                out[i] += x->ne[i];
            } else if (x->ne[i] != x0->ne[i]) {
                FAIL(err, n, PTQ_ERR_INVALID, "'%s' %s and '%s' %s differ off the axis",
                     x0->name, shp(x0, buf, sizeof buf), x->name, shp(x, buf2, sizeof buf2));
            }
        }
    }
    set_shape(out_v(g, n, 0), x0->ndim, out);
    return PTQ_OK;
}

ptq_status ptq_infer_softmax(ptq_graph *g, ptq_node *n, ptq_error *err) {
    const ptq_value *x = in_v(g, n, 0);
    int64_t axis = n->attrs.axis;
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim)
        FAIL(err, n, PTQ_ERR_INVALID, "axis %" PRId64 " is out of range for rank %d",
             n->attrs.axis, x->ndim);
    n->attrs.axis = axis;
    /* Normalising over the batch would mix samples: refuse it. */
    int32_t hi = n->attrs.softmax_legacy ? x->ndim : (int32_t)axis + 1;
    for (int32_t i = (int32_t)axis; i < hi; i++)
        if (x->ne[i] == B) FAIL(err, n, PTQ_ERR_UNSUPPORTED, "softmax over the batch axis");
    set_shape(out_v(g, n, 0), x->ndim, x->ne);
    return PTQ_OK;
}

ptq_status ptq_infer_pad(ptq_graph *g, ptq_node *n, ptq_error *err) {
    const ptq_value *x = in_v(g, n, 0);
    const int64_t *p = n->attrs.pads;
    int64_t out[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < x->ndim; i++) {
        int64_t b = p[i], e = p[x->ndim + i];
        if (x->ne[i] == B) {
            if (b || e) FAIL(err, n, PTQ_ERR_UNSUPPORTED, "padding the batch axis");
            out[i] = B;
            continue;
        }
        if (b < -(1 << 20) || e < -(1 << 20) || b > 1 << 20 || e > 1 << 20 || x->ne[i] + b + e < 0)
            FAIL(err, n, PTQ_ERR_INVALID, "pads %" PRId64 "/%" PRId64 " are out of range for "
                 "dimension %d of size %" PRId64, b, e, i, x->ne[i]);
        out[i] = x->ne[i] + b + e;
    }
    set_shape(out_v(g, n, 0), x->ndim, out);
    return PTQ_OK;
}

ptq_status ptq_infer_gather(ptq_graph *g, ptq_node *n, ptq_error *err) {
    const ptq_value *x = in_v(g, n, 0), *ind = in_v(g, n, 1);
    int64_t axis = n->attrs.axis;
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim)
        FAIL(err, n, PTQ_ERR_INVALID, "axis %" PRId64 " is out of range for rank %d",
             n->attrs.axis, x->ndim);
    n->attrs.axis = axis;
    if (x->ne[axis] == B) FAIL(err, n, PTQ_ERR_UNSUPPORTED, "gathering along the batch axis");
    if (x->ndim - 1 + ind->ndim > PTQ_MAX_DIMS) FAIL(err, n, PTQ_ERR_UNSUPPORTED, "rank too large");
    /* Indices are constant: check their range once, here. */
    const ptq_tensor *t = ind->data;
    int64_t cnt = ptq_tensor_numel(t);
    for (int64_t i = 0; i < cnt; i++) {
        int64_t v = t->dtype == PTQ_DTYPE_I64 ? ((const int64_t *)t->data)[i]
                                              : ((const int32_t *)t->data)[i];
        if (v < -x->ne[axis] || v >= x->ne[axis])
            FAIL(err, n, PTQ_ERR_INVALID, "index %" PRId64 " is out of range for size %" PRId64,
                 v, x->ne[axis]);
    }
    int64_t out[PTQ_MAX_DIMS];
    int32_t r = 0;
    for (int32_t i = 0; i < axis; i++) out[r++] = x->ne[i];
    for (int32_t i = 0; i < ind->ndim; i++) out[r++] = ind->ne[i];
    for (int32_t i = (int32_t)axis + 1; i < x->ndim; i++) out[r++] = x->ne[i];
    set_shape(out_v(g, n, 0), r, out);
    return PTQ_OK;
}
