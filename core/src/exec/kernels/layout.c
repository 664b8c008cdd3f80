/* layout.c — kernels that only move data: Reshape/Flatten (a copy), Transpose, Concat,
 * constant Pad and Gather. */
#include <omp.h>

#include "internal.h"

void ptq_fwd_copy(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)node;
    (void)kc;
    if (out->data != in[0].data)
        memcpy(out->data, in[0].data, (size_t)ptq_kt_numel(out) * sizeof(float));
}

void ptq_fwd_transpose(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *X = &in[0];
    const int32_t r = X->ndim;
    /* Input strides, visited in output order. */
    int64_t xs[PTQ_MAX_DIMS], ps[PTQ_MAX_DIMS];
    int64_t s = 1;
    for (int32_t i = r - 1; i >= 0; i--) {
        xs[i] = s;
        s *= X->ne[i];
    }
    for (int32_t i = 0; i < r; i++) ps[i] = xs[node->attrs.perm[i]];
    const int64_t inner = r ? out->ne[r - 1] : 1, istride = r ? ps[r - 1] : 1;
    const int64_t rows = inner ? ptq_kt_numel(out) / inner : 0;
    const float *x = X->data;
    float *y = out->data;
#pragma omp parallel for num_threads(kc->threads) schedule(static)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, off = 0;
        for (int32_t i = r - 2; i >= 0; i--) {
            int64_t idx = rem % out->ne[i];
            rem /= out->ne[i];
            off += idx * ps[i];
        }
        float *yr = y + row * inner;
        for (int64_t j = 0; j < inner; j++) yr[j] = x[off + j * istride];
    }
}

void ptq_fwd_concat(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)kc;
    const int64_t axis = node->attrs.axis;
    int64_t outer = 1, inner = 1;
    for (int32_t i = 0; i < out->ndim; i++) {
        if (i < axis) outer *= out->ne[i];
        if (i > axis) inner *= out->ne[i];
    }
    float *y = out->data;
    const int64_t orow = out->ne[axis] * inner;
    int64_t at = 0;
    for (int32_t k = 0; k < node->n_inputs; k++) {
        const int64_t len = in[k].ne[axis] * inner;
        const float *x = in[k].data;
        for (int64_t o = 0; o < outer; o++)
            memcpy(y + o * orow + at, x + o * len, (size_t)len * sizeof(float));
        at += len;
    }
}

void ptq_fwd_pad(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)kc;
    const ptq_kt *X = &in[0];
    const int32_t r = X->ndim;
    const int64_t *pads = node->attrs.pads;
    const float v = node->attrs.pad_value;
    float *y = out->data;
    const float *x = X->data;
    const int64_t n = ptq_kt_numel(out);
    if (r == 0) {
        if (n) y[0] = x[0];
        return;
    }
    /* Walk the output row by row (last dim); each row is fill, copy, fill. */
    const int64_t inner = out->ne[r - 1];
    const int64_t rows = inner ? n / inner : 0;
    int64_t xs[PTQ_MAX_DIMS];
    int64_t s = 1;
    for (int32_t i = r - 1; i >= 0; i--) {
        xs[i] = s;
        s *= X->ne[i];
    }
    for (int64_t row = 0; row < rows; row++) {
        float *yr = y + row * inner;
        int64_t rem = row, off = 0;
        bool inside = true;
        for (int32_t i = r - 2; i >= 0; i--) {
            int64_t idx = rem % out->ne[i] - pads[i];
            rem /= out->ne[i];
            if (idx < 0 || idx >= X->ne[i]) inside = false;
            off += idx * xs[i];
        }
        for (int64_t j = 0; j < inner; j++) {
            int64_t ix = j - pads[r - 1];
            yr[j] = (inside && ix >= 0 && ix < X->ne[r - 1]) ? x[off + ix] : v;
        }
    }
}

void ptq_fwd_gather(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)kc;
    const ptq_kt *X = &in[0], *I = &in[1];
    const int64_t axis = node->attrs.axis;
    int64_t outer = 1, inner = 1;
    for (int32_t i = 0; i < X->ndim; i++) {
        if (i < axis) outer *= X->ne[i];
        if (i > axis) inner *= X->ne[i];
    }
    const int64_t d = X->ne[axis], ni = ptq_kt_numel(I);
    /* Indices are int64 constants (import widens int32 ones); shape.c checked the range. */
    const float *x = X->data;
    float *y = out->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t k = 0; k < ni; k++) {
            int64_t idx = ((const int64_t *)I->data)[k];
            if (idx < 0) idx += d;
            memcpy(y + (o * ni + k) * inner, x + (o * d + idx) * inner, (size_t)inner * sizeof(float));
        }
    }
}
