/* conv_transpose.c — ConvTranspose (1-D and 2-D, grouped), NCHW, weight [C, M/group, kH, kW].
 *
 * Per image and group, one sgemm makes every input pixel's contribution to every tap,
 * cols[(m, ky, kx)][iy, ix] = sum over c of W[c][m][ky][kx] * X[c][iy, ix], and col2im
 * adds each into the output pixel (iy * stride - pad + ky * dilation, ...) it lands on.
 * Work items are (image, group) pairs, which write disjoint output planes, so results
 * do not depend on the thread count. */
#include <omp.h>

#include "internal.h"

void ptq_conv_transpose_geom(const ptq_node *n, const ptq_kt *x, const ptq_kt *w,
                             const ptq_kt *y, ptq_convt_geom *g) {
    const ptq_conv_attrs *a = &n->attrs.conv;
    const bool d1 = x->ndim == 3;
    g->n = x->ne[0];
    g->c = x->ne[1];
    g->h = d1 ? 1 : x->ne[2];
    g->w = x->ne[x->ndim - 1];
    g->m = y->ne[1];
    g->oh = d1 ? 1 : y->ne[2];
    g->ow = y->ne[y->ndim - 1];
    g->kh = d1 ? 1 : w->ne[2];
    g->kw = w->ne[w->ndim - 1];
    g->sh = d1 ? 1 : a->stride[0];
    g->sw = d1 ? a->stride[0] : a->stride[1];
    g->dh = d1 ? 1 : a->dilation[0];
    g->dw = d1 ? a->dilation[0] : a->dilation[1];
    g->ph = d1 ? 0 : a->pad_begin[0];
    g->pw = d1 ? a->pad_begin[0] : a->pad_begin[1];
    g->group = a->group;
    g->cg = g->c / g->group;
    g->mg = g->m / g->group;
}

/* The input positions i in [0, in) whose i * s - p + k * d lands in [0, out): [*lo, *hi). */
void ptq_conv_transpose_range(int64_t in, int64_t out, int64_t s, int64_t p, int64_t kd,
                              int64_t *lo, int64_t *hi) {
    /* i * s >= p - kd  and  i * s <= out - 1 + p - kd */
    const int64_t a = p - kd, b = out - 1 + p - kd;
    int64_t l = a <= 0 ? 0 : (a + s - 1) / s;
    int64_t h = b < 0 ? -1 : b / s;
    *lo = PTQ_MIN(l, in);
    *hi = PTQ_MAX(*lo, PTQ_MIN(h + 1, in));
}

size_t ptq_work_conv_transpose(const ptq_node *n, const ptq_kt *in) {
    const ptq_kt *x = &in[0], *w = &in[1];
    const int64_t hw = ptq_kt_numel(x) / (x->ne[0] * x->ne[1]);
    const int64_t k = w->ne[1] * (ptq_kt_numel(w) / (w->ne[0] * w->ne[1]));
    (void)n;
    return (size_t)(k * hw + 16);
}

void ptq_fwd_conv_transpose(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    ptq_convt_geom g;
    ptq_conv_transpose_geom(n, &in[0], &in[1], out, &g);
    const float *x = in[0].data, *w = in[1].data, *bias = in[2].data;
    float *y = out->data;
    const int64_t hw = g.h * g.w, ohw = g.oh * g.ow, kk = g.kh * g.kw, K = g.mg * kk;
    const int64_t items = g.n * g.group;
#pragma omp parallel for num_threads(kc->threads) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        const int64_t b = it / g.group, gr = it % g.group;
        float *cols = kc->work + (size_t)omp_get_thread_num() * kc->work_floats;
        ptq_sgemm(1, 0, K, hw, g.cg, 1.0f, w + gr * g.cg * K, K, x + (b * g.c + gr * g.cg) * hw,
                  hw, 0.0f, cols, hw);
        for (int64_t mm = 0; mm < g.mg; mm++) {
            const int64_t m = gr * g.mg + mm;
            float *yp = y + (b * g.m + m) * ohw;
            const float b0 = bias ? bias[m] : 0.0f;
            for (int64_t i = 0; i < ohw; i++) yp[i] = b0;
            for (int64_t ky = 0; ky < g.kh; ky++) {
                int64_t y0, y1;
                ptq_conv_transpose_range(g.h, g.oh, g.sh, g.ph, ky * g.dh, &y0, &y1);
                for (int64_t kx = 0; kx < g.kw; kx++) {
                    int64_t x0, x1;
                    ptq_conv_transpose_range(g.w, g.ow, g.sw, g.pw, kx * g.dw, &x0, &x1);
                    const float *col = cols + (mm * kk + ky * g.kw + kx) * hw;
                    for (int64_t iy = y0; iy < y1; iy++) {
                        const int64_t base = (iy * g.sh - g.ph + ky * g.dh) * g.ow - g.pw + kx * g.dw;
                        const float *cr = col + iy * g.w;
                        if (g.sw == 1)
                            for (int64_t ix = x0; ix < x1; ix++) yp[base + ix] += cr[ix];
                        else
                            for (int64_t ix = x0; ix < x1; ix++) yp[base + ix * g.sw] += cr[ix];
                    }
                }
            }
        }
    }
}
