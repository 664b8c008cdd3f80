/* slice.c — Slice (static starts, steps per axis, negative steps included) and Split.
 *
 * Slice walks the output row by row (last axis) with the input offset of each row from
 * the resolved first index and step of every axis; Split copies each output's block of
 * the split axis, one contiguous run per outer index. */
#include <omp.h>

#include "internal.h"

void ptq_fwd_slice(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *X = &in[0];
    const int32_t r = X->ndim;
    const int64_t total = ptq_kt_numel(out);
    const float *x = X->data;
    float *y = out->data;
    if (r == 0) {
        if (total) y[0] = x[0];
        return;
    }
    int64_t xs[PTQ_MAX_DIMS], s = 1;
    for (int32_t i = r - 1; i >= 0; i--) xs[i] = s, s *= X->ne[i];
    const int64_t *first = n->attrs.slice.first, *step = n->attrs.slice.step;
    const int64_t inner = out->ne[r - 1], rows = inner ? total / inner : 0;
    const int64_t ist = step[r - 1];
#pragma omp parallel for num_threads(kc->threads) schedule(static) if (total > 65536)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, off = first[r - 1];
        for (int32_t i = r - 2; i >= 0; i--) {
            const int64_t idx = rem % out->ne[i];
            rem /= out->ne[i];
            off += (first[i] + idx * step[i]) * xs[i];
        }
        const float *xr = x + off;
        float *yr = y + row * inner;
        if (ist == 1)
            memcpy(yr, xr, (size_t)inner * sizeof *yr);
        else
            for (int64_t j = 0; j < inner; j++) yr[j] = xr[j * ist];
    }
}

void ptq_fwd_split(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)kc;
    const ptq_kt *X = &in[0];
    const int64_t axis = n->attrs.axis;
    int64_t outer = 1, inner = 1;
    for (int32_t i = 0; i < X->ndim; i++) {
        if (i < axis) outer *= X->ne[i];
        if (i > axis) inner *= X->ne[i];
    }
    const int64_t row = X->ne[axis] * inner;
    const float *x = X->data;
    int64_t at = 0;
    for (int32_t k = 0; k < n->n_outputs; k++) {
        const int64_t len = out[k].ne[axis] * inner;
        float *y = out[k].data;
        for (int64_t o = 0; len && o < outer; o++)
            memcpy(y + o * len, x + o * row + at, (size_t)len * sizeof *y);
        at += len;
    }
}
