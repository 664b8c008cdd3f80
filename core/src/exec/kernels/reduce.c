/* reduce.c — ReduceMean, ReduceSum, ReduceMax over any set of axes.
 *
 * The input's dims are merged into runs that are all reduced or all kept.  The common
 * shapes get a fast path each, threaded over the kept outer elements:
 *   [K, R]      reduce the last axes: one contiguous row per output (8 partial sums so
 *               the loop vectorises),
 *   [K, R, I]   reduce a middle block: accumulate rows of I contiguous floats.
 * Any other pattern ([R, K, R, ...]) goes through a single general loop that walks the
 * input once and accumulates into the output through merged strides. */
#include <omp.h>

#include "internal.h"

/* Sum or max of a contiguous row. */
static float row_reduce(const float *x, int64_t n, bool is_max) {
    if (is_max) {
        float m = -INFINITY;
        for (int64_t i = 0; i < n; i++) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
        return m;
    }
    return ptq_row_sum(x, n);
}

float ptq_row_sum(const float *x, int64_t n) {
    float acc[8] = {0}; /* 8 partial sums: the loop vectorises, the order is fixed */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j];
    float s = 0.0f;
    for (; i < n; i++) s += x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + s;
}

void ptq_fwd_reduce(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *X = &in[0];
    const uint32_t mask = ptq_reduce_mask(n, X->ndim);
    const bool is_max = n->op == PTQ_OP_REDUCE_MAX, is_mean = n->op == PTQ_OP_REDUCE_MEAN;
    const float *x = X->data;
    float *y = out->data;
    const int64_t total_out = ptq_kt_numel(out);
    if (mask == 0) { /* noop_with_empty_axes: identity */
        memcpy(y, x, (size_t)total_out * sizeof(float));
        return;
    }
    /* Merge runs of dims with the same reduce flag (size-1 dims join any run). */
    int32_t m = 0;
    int64_t ne[PTQ_MAX_DIMS];
    bool red[PTQ_MAX_DIMS];
    int64_t count = 1; /* elements reduced into each output */
    for (int32_t i = 0; i < X->ndim; i++) {
        bool r = (mask >> i) & 1u;
        if (r) count *= X->ne[i];
        if (X->ne[i] == 1) continue;
        if (m > 0 && red[m - 1] == r) {
            ne[m - 1] *= X->ne[i];
        } else {
            ne[m] = X->ne[i];
            red[m++] = r;
        }
    }
    const float empty = is_max ? -INFINITY : 0.0f;
    if (count == 0 || ptq_kt_numel(X) == 0) {
        for (int64_t i = 0; i < total_out; i++) y[i] = is_mean ? NAN : empty;
        return;
    }
    int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, ptq_kt_numel(X) / 16384));
    /* Normalise the pattern to [outer kept] [reduced] [inner kept]. */
    int64_t outer = 1, r = 1, inner = 1;
    bool simple = true;
    if (m == 0) {
        /* every dim has size 1 */
    } else if (m == 1) {
        if (red[0]) r = ne[0];
        else outer = ne[0];
    } else if (m == 2) {
        if (red[1]) outer = ne[0], r = ne[1];
        else r = ne[0], inner = ne[1];
    } else if (m == 3 && red[1]) {
        outer = ne[0], r = ne[1], inner = ne[2];
    } else {
        simple = false;
    }
    if (simple && inner == 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t o = 0; o < outer; o++) {
            float v = row_reduce(x + o * r, r, is_max);
            y[o] = is_mean ? v / (float)count : v;
        }
        return;
    }
    if (simple) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t o = 0; o < outer; o++) {
            float *yo = y + o * inner;
            const float *xo = x + o * r * inner;
            for (int64_t i = 0; i < inner; i++) yo[i] = xo[i];
            for (int64_t j = 1; j < r; j++) {
                const float *xr = xo + j * inner;
                if (is_max)
                    for (int64_t i = 0; i < inner; i++)
                        yo[i] = (xr[i] > yo[i] || xr[i] != xr[i]) ? xr[i] : yo[i];
                else
                    for (int64_t i = 0; i < inner; i++) yo[i] += xr[i];
            }
            if (is_mean)
                for (int64_t i = 0; i < inner; i++) yo[i] /= (float)count;
        }
        return;
    }
    /* General: output strides over the merged dims (0 on reduced ones). */
    int64_t ost[PTQ_MAX_DIMS], acc = 1;
    for (int32_t i = m - 1; i >= 0; i--) {
        ost[i] = red[i] ? 0 : acc;
        if (!red[i]) acc *= ne[i];
    }
    for (int64_t i = 0; i < total_out; i++) y[i] = empty;
    const int64_t last = ne[m - 1], rows = ptq_kt_numel(X) / last;
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, oo = 0;
        for (int32_t i = m - 2; i >= 0; i--) {
            oo += (rem % ne[i]) * ost[i];
            rem /= ne[i];
        }
        const float *xr = x + row * last;
        if (red[m - 1]) {
            float v = row_reduce(xr, last, is_max);
            y[oo] = is_max ? ((v > y[oo] || v != v) ? v : y[oo]) : y[oo] + v;
        } else if (is_max) {
            for (int64_t i = 0; i < last; i++)
                y[oo + i] = (xr[i] > y[oo + i] || xr[i] != xr[i]) ? xr[i] : y[oo + i];
        } else {
            for (int64_t i = 0; i < last; i++) y[oo + i] += xr[i];
        }
    }
    if (is_mean)
        for (int64_t i = 0; i < total_out; i++) y[i] /= (float)count;
}
