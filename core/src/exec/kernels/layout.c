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

/* Transpose over merged dims: adjacent output dims that are also adjacent, in order, in
 * the input move together, and size-1 dims are dropped, so e.g. NCHW -> NHWC is the 3-D
 * [N][HW][C] <- [N][C][HW].  When the output's last dim is contiguous in the input too,
 * each output row is one memcpy.  Otherwise the plane of the output's last dim and of
 * the dim the input has contiguous is moved in square blocks, so both the reads and the
 * writes stay within a few cache lines (a row-at-a-time gather touched a new line for
 * every element). */
#define TBLOCK 16

void ptq_fwd_transpose(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *X = &in[0];
    const int32_t r = X->ndim;
    int64_t xs[PTQ_MAX_DIMS], ne[PTQ_MAX_DIMS], ps[PTQ_MAX_DIMS];
    int64_t s = 1;
    for (int32_t i = r - 1; i >= 0; i--) {
        xs[i] = s;
        s *= X->ne[i];
    }
    /* Output dims (merged), each with its input stride. */
    int32_t m = 0;
    for (int32_t i = 0; i < r; i++) {
        const int64_t d = out->ne[i], st = xs[node->attrs.perm[i]];
        if (d == 1) continue;
        if (m > 0 && ps[m - 1] == st * d) {
            ne[m - 1] *= d;
            ps[m - 1] = st;
            continue;
        }
        ne[m] = d;
        ps[m] = st;
        m++;
    }
    const int64_t total = ptq_kt_numel(out);
    const float *x = X->data;
    float *y = out->data;
    if (total == 0) return;
    if (m == 0 || ps[m - 1] == 1) { /* rows are contiguous in both: copies */
        const int64_t inner = m ? ne[m - 1] : 1, rows = total / inner;
        const int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, total / 16384));
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t row = 0; row < rows; row++) {
            int64_t rem = row, off = 0;
            for (int32_t i = m - 2; i >= 0; i--) {
                off += rem % ne[i] * ps[i];
                rem /= ne[i];
            }
            memcpy(y + row * inner, x + off, (size_t)inner * sizeof(float));
        }
        return;
    }
    /* q: the output dim the input has contiguous (stride 1); none when the input's last
     * dim has size 1. */
    int32_t q = -1;
    for (int32_t i = 0; i < m; i++)
        if (ps[i] == 1) q = i;
    int64_t os[PTQ_MAX_DIMS]; /* output strides */
    os[m - 1] = 1;
    for (int32_t i = m - 2; i >= 0; i--) os[i] = os[i + 1] * ne[i + 1];
    if (q < 0) { /* the input's last dim was dropped or merged away: a gather per row */
        const int64_t inner = ne[m - 1], istride = ps[m - 1], rows = total / inner;
#pragma omp parallel for num_threads(kc->threads) schedule(static)
        for (int64_t row = 0; row < rows; row++) {
            int64_t rem = row, off = 0;
            for (int32_t i = m - 2; i >= 0; i--) {
                off += rem % ne[i] * ps[i];
                rem /= ne[i];
            }
            float *yr = y + row * inner;
            for (int64_t j = 0; j < inner; j++) yr[j] = x[off + j * istride];
        }
        return;
    }
    /* Planes: every index of the dims other than q and the last; blocks of each plane. */
    const int64_t nq = ne[q], nl = ne[m - 1], xl = ps[m - 1], yq = os[q];
    const int64_t bq = (nq + TBLOCK - 1) / TBLOCK, bl = (nl + TBLOCK - 1) / TBLOCK;
    const int64_t planes = total / (nq * nl), blocks = planes * bq * bl;
    const int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, total / 16384));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t jb = blk % bl * TBLOCK, ib = blk / bl % bq * TBLOCK;
        int64_t rem = blk / (bl * bq), xo = 0, yo = 0;
        for (int32_t i = m - 2; i >= 0; i--) {
            if (i == q) continue;
            const int64_t idx = rem % ne[i];
            rem /= ne[i];
            xo += idx * ps[i];
            yo += idx * os[i];
        }
        const int64_t ie = PTQ_MIN(nq, ib + TBLOCK), je = PTQ_MIN(nl, jb + TBLOCK);
        const float *xb = x + xo;
        float *yb = y + yo;
        for (int64_t i = ib; i < ie; i++)
            for (int64_t j = jb; j < je; j++) yb[i * yq + j] = xb[i + j * xl];
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
