/* shape_spatial.c — shape inference of the spatial ops of detectors and segmenters:
 * Resize (and Upsample), ConvTranspose, Slice, Split.
 *
 * The batch symbol PTQ_DIM_BATCH may only pass through untouched: a Resize must keep the
 * batch axis (scale 1 or size N), a Slice must take all of it, a Split may not cut it.
 * Everything a kernel needs that depends only on shapes (ConvTranspose pads from
 * output_shape, a Slice's first index and step per axis) is resolved here, once. */
#include <inttypes.h>

#include "shape_util.h"

/* ---- Resize ---------------------------------------------------------------------------- */

/* Whether axis maps every output index to the same input index with weight 1 (no
 * interpolation): then the axis may hold the batch or sit outside the linear axes. */
static bool resize_axis_identity(const ptq_node *n, int32_t axis, int64_t len) {
    const float s = n->attrs.resize.scales[axis];
    if (s != 1.0f) return false;
    /* (x + 0.5) / 1 is x only once rounded down. */
    if (n->attrs.resize.coord == PTQ_RESIZE_COORD_TF_HALF_PIXEL) {
        const int32_t m = n->attrs.resize.nearest_mode;
        return len == 1 || (n->attrs.resize.mode == PTQ_RESIZE_NEAREST &&
                            (m == PTQ_RESIZE_ROUND_PREFER_FLOOR || m == PTQ_RESIZE_FLOOR ||
                             m == PTQ_RESIZE_SIMPLE));
    }
    return true;
}

ptq_status ptq_infer_resize(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160];
    const ptq_value *x = in_v(g, n, 0);
    struct ptq_resize_attrs *a = &n->attrs.resize;
    if (a->ndim != x->ndim)
        FAIL(err, n, PTQ_ERR_INVALID, "%s has %d entries, input '%s' %s has rank %d",
             a->from_sizes ? "sizes" : "scales", a->ndim, x->name, shp(x, buf, sizeof buf),
             x->ndim);
    if (x->ndim < 1) FAIL(err, n, PTQ_ERR_INVALID, "input '%s' is a scalar", x->name);
    int64_t out[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < x->ndim; i++) {
        const int64_t len = x->ne[i];
        if (a->from_sizes) {
            if (len == B || a->sizes[i] == B) {
                if (len != a->sizes[i])
                    FAIL(err, n, PTQ_ERR_UNSUPPORTED, "sizes[%d] must keep the batch size of "
                         "input '%s' %s", i, x->name, shp(x, buf, sizeof buf));
                a->scales[i] = 1.0f;
                out[i] = B;
                if (!resize_axis_identity(n, i, B))
                    FAIL(err, n, PTQ_ERR_UNSUPPORTED, "the coordinate transformation would mix "
                         "samples of the batch axis");
                continue;
            }
            if (a->sizes[i] < 1 || a->sizes[i] > PTQ_MAX_ELEMENTS)
                FAIL(err, n, PTQ_ERR_INVALID, "sizes[%d] = %" PRId64 " is out of range", i,
                     a->sizes[i]);
            if (len < 1) FAIL(err, n, PTQ_ERR_INVALID, "input '%s' is empty", x->name);
            a->scales[i] = (float)a->sizes[i] / (float)len;
            out[i] = a->sizes[i];
        } else {
            const float s = a->scales[i];
            if (!(s > 0.0f) || !isfinite(s) || s > 65536.0f)
                FAIL(err, n, PTQ_ERR_INVALID, "scales[%d] = %g is not a positive finite number",
                     i, (double)s);
            if (len == B) {
                if (s != 1.0f)
                    FAIL(err, n, PTQ_ERR_UNSUPPORTED, "scales[%d] = %g would resize the batch "
                         "axis", i, (double)s);
                out[i] = B;
            } else {
                out[i] = (int64_t)floor((double)len * (double)s);
                if (out[i] < 1)
                    FAIL(err, n, PTQ_ERR_INVALID, "scales[%d] = %g leaves axis %d of input '%s' "
                         "%s empty", i, (double)s, i, x->name, shp(x, buf, sizeof buf));
            }
            a->sizes[i] = out[i];
        }
        if (len == B && !resize_axis_identity(n, i, B))
            FAIL(err, n, PTQ_ERR_UNSUPPORTED, "the coordinate transformation would mix samples "
                 "of the batch axis");
        /* Linear interpolation is bilinear over the last two axes; the others must keep
         * their indices. */
        if (a->mode == PTQ_RESIZE_LINEAR && i < x->ndim - 2 && len != B &&
            !(out[i] == len && resize_axis_identity(n, i, len)))
            FAIL(err, n, PTQ_ERR_UNSUPPORTED, "linear interpolation along axis %d: only the "
                 "last two axes may be interpolated", i);
    }
    set_shape(&g->values[n->outputs[0]], x->ndim, out);
    return PTQ_OK;
}

/* ---- ConvTranspose --------------------------------------------------------------------- */

ptq_status ptq_infer_conv_transpose(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160], buf2[160];
    ptq_conv_attrs *a = &n->attrs.conv;
    const ptq_value *x = in_v(g, n, 0), *w = in_v(g, n, 1), *b = in_v(g, n, 2);
    if (w->ndim < 3 || w->ndim > 4)
        FAIL(err, n, PTQ_ERR_UNSUPPORTED, "weight '%s' has shape %s: only 1-D and 2-D "
             "transposed convolutions are supported", w->name, shp(w, buf, sizeof buf));
    const int32_t nsp = w->ndim - 2;
    if (a->n_spatial == 0) a->n_spatial = nsp;
    if (a->n_spatial != nsp)
        FAIL(err, n, PTQ_ERR_INVALID, "attributes describe %d spatial dims, weight '%s' has %d",
             a->n_spatial, w->name, nsp);
    if (x->ndim != nsp + 2)
        FAIL(err, n, PTQ_ERR_INVALID, "input '%s' has shape %s: expected rank %d", x->name,
             shp(x, buf, sizeof buf), nsp + 2);
    for (int32_t i = 1; i < x->ndim; i++)
        if (x->ne[i] == B || x->ne[i] < 1)
            FAIL(err, n, PTQ_ERR_UNSUPPORTED, "input '%s' has shape %s", x->name,
                 shp(x, buf, sizeof buf));
    for (int32_t i = 0; i < w->ndim; i++)
        if (w->ne[i] == B || w->ne[i] < 1)
            FAIL(err, n, PTQ_ERR_INVALID, "weight '%s' has shape %s", w->name,
                 shp(w, buf, sizeof buf));
    const int64_t c = x->ne[1];
    if (a->group < 1)
        FAIL(err, n, PTQ_ERR_INVALID, "attribute group=%" PRId64 " must be >= 1", a->group);
    if (c % a->group) /* also refuses group > c */
        FAIL(err, n, PTQ_ERR_INVALID, "attribute group=%" PRId64 " does not divide the %" PRId64
             " channels of input '%s' %s", a->group, c, x->name, shp(x, buf, sizeof buf));
    if (w->ne[0] != c)
        FAIL(err, n, PTQ_ERR_INVALID, "weight '%s' %s has %" PRId64 " input channels, input "
             "'%s' %s has %" PRId64, w->name, shp(w, buf, sizeof buf), w->ne[0], x->name,
             shp(x, buf2, sizeof buf2), c);
    const int64_t m = w->ne[1] * a->group; /* group <= c: no overflow */
    if (b && (b->ndim != 1 || b->ne[0] != m))
        FAIL(err, n, PTQ_ERR_INVALID, "bias '%s' has shape %s, expected [%" PRId64 "]", b->name,
             shp(b, buf, sizeof buf), m);
    int64_t out[4] = {x->ne[0], m, 0, 0};
    for (int32_t i = 0; i < nsp; i++) {
        if (a->kernel[i] == 0) a->kernel[i] = w->ne[2 + i];
        if (a->kernel[i] != w->ne[2 + i])
            FAIL(err, n, PTQ_ERR_INVALID, "kernel_shape disagrees with weight '%s' shape %s",
                 w->name, shp(w, buf, sizeof buf));
        if (a->stride[i] == 0) a->stride[i] = 1;
        if (a->dilation[i] == 0) a->dilation[i] = 1;
        const int64_t s = a->stride[i], d = a->dilation[i], k = a->kernel[i];
        const int64_t op = n->attrs.convt.output_padding[i];
        if (s < 1 || s > 1 << 16 || d < 1 || d > 1 << 16)
            FAIL(err, n, PTQ_ERR_INVALID, "strides %" PRId64 " or dilations %" PRId64
                 " is out of range", s, d);
        if (op < 0 || (op >= s && op >= d))
            FAIL(err, n, PTQ_ERR_INVALID, "output_padding %" PRId64 " must be smaller than the "
                 "stride or the dilation", op);
        const int64_t full = s * (x->ne[2 + i] - 1) + op + (k - 1) * d + 1;
        int64_t want = n->attrs.convt.output_shape[i];
        if (a->auto_pad == PTQ_AUTO_PAD_SAME_UPPER || a->auto_pad == PTQ_AUTO_PAD_SAME_LOWER)
            if (want == 0) want = x->ne[2 + i] * s;
        if (a->auto_pad == PTQ_AUTO_PAD_VALID) {
            a->pad_begin[i] = a->pad_end[i] = 0;
        } else if (want > 0) {
            /* The spec's rule: the odd pixel of the total goes to the end for SAME_UPPER,
             * to the beginning otherwise. */
            const int64_t total = full - want;
            /* Halves rounded down: a larger output_shape (negative total) extends the end. */
            const int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);
            const bool upper = a->auto_pad == PTQ_AUTO_PAD_SAME_UPPER;
            a->pad_begin[i] = upper ? half : total - half;
            a->pad_end[i] = total - a->pad_begin[i];
        }
        /* Negative pads (from output_shape) add zeros: the kernel only adds what lands. */
        if (a->pad_begin[i] < -(1 << 16) || a->pad_end[i] < -(1 << 16) ||
            a->pad_begin[i] > 1 << 16 || a->pad_end[i] > 1 << 16)
            FAIL(err, n, PTQ_ERR_INVALID, "padding %" PRId64 "/%" PRId64 " is out of range",
                 a->pad_begin[i], a->pad_end[i]);
        out[2 + i] = full - a->pad_begin[i] - a->pad_end[i];
        if (out[2 + i] < 1)
            FAIL(err, n, PTQ_ERR_INVALID, "the padding leaves no output for input '%s' %s",
                 x->name, shp(x, buf, sizeof buf));
    }
    a->auto_pad = PTQ_AUTO_PAD_NOTSET;
    n->attrs.convt.output_shape[0] = n->attrs.convt.output_shape[1] = 0; /* now in the pads */
    set_shape(&g->values[n->outputs[0]], nsp + 2, out);
    return PTQ_OK;
}

/* ---- Slice ----------------------------------------------------------------------------- */

ptq_status ptq_infer_slice(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160];
    const ptq_value *x = in_v(g, n, 0);
    struct ptq_slice_attrs *a = &n->attrs.slice;
    int64_t out[PTQ_MAX_DIMS];
    uint32_t seen = 0;
    for (int32_t i = 0; i < x->ndim; i++) {
        a->first[i] = 0;
        a->step[i] = 1;
        out[i] = x->ne[i];
    }
    for (int32_t k = 0; k < a->n; k++) {
        int64_t axis = a->axes[k] < 0 ? a->axes[k] + x->ndim : a->axes[k];
        if (axis < 0 || axis >= x->ndim || (seen >> axis) & 1u)
            FAIL(err, n, PTQ_ERR_INVALID, "axes[%d] = %" PRId64 " is out of range or repeated "
                 "for input '%s' of rank %d", k, a->axes[k], x->name, x->ndim);
        seen |= 1u << axis;
        const int64_t step = a->steps[k], len = x->ne[axis];
        int64_t start = a->starts[k], end = a->ends[k];
        if (step == 0) FAIL(err, n, PTQ_ERR_INVALID, "steps[%d] is 0", k);
        if (len == B) {
            /* All of the batch, whatever its size: start 0 (or -N), step 1, end N or past. */
            const bool from0 = start == 0 || start == B || start <= -PTQ_MAX_ELEMENTS;
            const bool to_end = end == B || end >= PTQ_MAX_ELEMENTS;
            if (step != 1 || !from0 || !to_end)
                FAIL(err, n, PTQ_ERR_UNSUPPORTED, "slicing the batch axis of input '%s' %s "
                     "(only the whole of it may be taken)", x->name, shp(x, buf, sizeof buf));
            continue;
        }
        /* INT64_MIN is both the batch symbol and the spec's "to the front" end of a
         * backward slice: on a fixed axis it can only mean the latter (clamped below). */
        if (start == B) start = step < 0 ? INT64_MIN + 1 : 0;
        if (end == B) end = step < 0 ? -len - 1 : 0;
        /* The spec's clamping: negative indices count from the end; starts clamp to
         * [0, len] (len - 1 going backwards), ends to [0, len] ([-1, len - 1] backwards). */
        if (start < 0) start += len;
        if (end < 0) end += len;
        int64_t cnt;
        if (step > 0) {
            start = PTQ_MAX(0, PTQ_MIN(start, len));
            end = PTQ_MAX(0, PTQ_MIN(end, len));
            cnt = end > start ? (end - start - 1) / step + 1 : 0; /* no overflow for huge steps */
        } else {
            start = PTQ_MAX(-1, PTQ_MIN(start, len - 1));
            end = PTQ_MAX(-1, PTQ_MIN(end, len - 1));
            /* step < 0; step == INT64_MIN must not be negated */
            cnt = start > end ? (start - end - 1) / (step == INT64_MIN ? INT64_MAX : -step) + 1 : 0;
        }
        a->first[axis] = cnt ? start : 0;
        a->step[axis] = step;
        out[axis] = cnt;
    }
    set_shape(&g->values[n->outputs[0]], x->ndim, out);
    return PTQ_OK;
}

/* ---- Split ----------------------------------------------------------------------------- */

ptq_status ptq_infer_split(ptq_graph *g, ptq_node *n, ptq_error *err) {
    char buf[160];
    const ptq_value *x = in_v(g, n, 0);
    struct ptq_split_attrs *a = &n->attrs.split;
    int64_t axis = n->attrs.axis;
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim)
        FAIL(err, n, PTQ_ERR_INVALID, "axis %" PRId64 " is out of range for rank %d",
             n->attrs.axis, x->ndim);
    n->attrs.axis = axis;
    const int64_t len = x->ne[axis];
    if (len == B) FAIL(err, n, PTQ_ERR_UNSUPPORTED, "splitting along the batch axis");
    const int32_t k = n->n_outputs;
    if (k < 1 || k > PTQ_SPLIT_MAX)
        FAIL(err, n, PTQ_ERR_UNSUPPORTED, "%d outputs (1 to %d are supported)", k, PTQ_SPLIT_MAX);
    if (a->n == 0) {
        /* Equal parts; since opset 18 (num_outputs) the last may be smaller. */
        const int64_t part = (len + k - 1) / k;
        if (len % k && (part * (k - 1) >= len))
            FAIL(err, n, PTQ_ERR_INVALID, "input '%s' %s cannot be split into %d parts along "
                 "axis %" PRId64, x->name, shp(x, buf, sizeof buf), k, axis);
        for (int32_t i = 0; i < k; i++) a->sizes[i] = PTQ_MIN(part, len - part * i);
        a->n = k;
    }
    if (a->n != k)
        FAIL(err, n, PTQ_ERR_INVALID, "split has %d entries for %d outputs", a->n, k);
    int64_t total = 0;
    for (int32_t i = 0; i < k; i++) {
        if (a->sizes[i] < 0) FAIL(err, n, PTQ_ERR_INVALID, "split[%d] is negative", i);
        /* Bounded first, so the sum cannot wrap around and pass the check below. */
        if (a->sizes[i] > len)
            FAIL(err, n, PTQ_ERR_INVALID, "split[%d] = %" PRId64 " is longer than axis %" PRId64
                 " (%" PRId64 ")", i, a->sizes[i], axis, len);
        total += a->sizes[i];
    }
    if (total != len)
        FAIL(err, n, PTQ_ERR_INVALID, "split sizes sum to %" PRId64 ", but axis %" PRId64
             " of input '%s' %s has %" PRId64, total, axis, x->name, shp(x, buf, sizeof buf), len);
    for (int32_t i = 0; i < k; i++) {
        int64_t out[PTQ_MAX_DIMS];
        memcpy(out, x->ne, sizeof out);
        out[axis] = a->sizes[i];
        set_shape(&g->values[n->outputs[i]], x->ndim, out);
    }
    return PTQ_OK;
}
