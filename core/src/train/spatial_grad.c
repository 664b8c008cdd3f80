/* spatial_grad.c — backward of the spatial ops (see grad.h for the conventions): Resize
 * (nearest: scatter-add; linear: the transposed interpolation), ConvTranspose (input,
 * weight and bias gradients by im2col of dY and sgemm), Slice (scatter) and Split
 * (gather of the outputs' gradients).  Single-threaded loops in a fixed order, so the
 * results never depend on the thread count. */
#include "grad.h"

void ptq_bwd_resize(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                    const ptq_kt *dout, ptq_kt *din) {
    float *dx = din[0].data;
    if (!dx) return;
    const int32_t r = in[0].ndim;
    int64_t total = 0, at[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < r; i++) at[i] = total, total += out->ne[i];
    int64_t *i0 = (int64_t *)gc->work, *i1 = i0 + total;
    float *w1 = (float *)(i1 + total);
    for (int32_t i = 0; i < r; i++)
        ptq_resize_axis(n, i, in[0].ne[i], out->ne[i], i0 + at[i], i1 + at[i], w1 + at[i]);
    int64_t xs[PTQ_MAX_DIMS], s = 1;
    for (int32_t i = r - 1; i >= 0; i--) xs[i] = s, s *= in[0].ne[i];
    const float *dy = dout[0].data;
    const int64_t m = ptq_kt_numel(out);
    /* Each output element is sum over the (up to four) corners of the last two axes of
     * weight * x[corner]; the other axes (and nearest) have one corner of weight 1. */
    const int32_t ya = r >= 2 && n->attrs.resize.mode == PTQ_RESIZE_LINEAR ? r - 2 : -1;
    const int32_t xa = n->attrs.resize.mode == PTQ_RESIZE_LINEAR ? r - 1 : -1;
    int64_t idx[PTQ_MAX_DIMS] = {0};
    for (int64_t e = 0; e < m; e++) {
        int64_t base = 0;
        for (int32_t d = 0; d < r; d++)
            if (d != ya && d != xa) base += i0[at[d] + idx[d]] * xs[d];
        for (int32_t cy = 0; cy < (ya >= 0 ? 2 : 1); cy++) {
            float wyv = 1.0f;
            int64_t oy = 0;
            if (ya >= 0) {
                const float w = w1[at[ya] + idx[ya]];
                wyv = cy ? w : 1.0f - w;
                oy = (cy ? i1 : i0)[at[ya] + idx[ya]] * xs[ya];
            }
            for (int32_t cx = 0; cx < (xa >= 0 ? 2 : 1); cx++) {
                float wxv = 1.0f;
                int64_t ox = 0;
                if (xa >= 0) {
                    const float w = w1[at[xa] + idx[xa]];
                    wxv = cx ? w : 1.0f - w;
                    ox = (cx ? i1 : i0)[at[xa] + idx[xa]] * xs[xa];
                }
                dx[base + oy + ox] += dy[e] * wyv * wxv;
            }
        }
        for (int32_t d = r - 1; d >= 0; d--) {
            if (++idx[d] < out->ne[d]) break;
            idx[d] = 0;
        }
    }
}

size_t ptq_bwd_work_resize(const ptq_node *n, const ptq_kt *in, uint32_t want, int32_t threads) {
    (void)want, (void)threads;
    return ptq_work_resize_shared(n, in);
}

/* cols[(m, ky, kx)][iy, ix] = dY[m][iy * s - p + ky * d][...] (0 outside): the transposed
 * col2im of one image and group. */
static void im2col_dy(const ptq_convt_geom *g, const float *dy, float *cols) {
    const int64_t hw = g->h * g->w, kk = g->kh * g->kw;
    memset(cols, 0, (size_t)(g->mg * kk * hw) * sizeof *cols);
    for (int64_t mm = 0; mm < g->mg; mm++)
        for (int64_t ky = 0; ky < g->kh; ky++) {
            int64_t y0, y1;
            ptq_conv_transpose_range(g->h, g->oh, g->sh, g->ph, ky * g->dh, &y0, &y1);
            for (int64_t kx = 0; kx < g->kw; kx++) {
                int64_t x0, x1;
                ptq_conv_transpose_range(g->w, g->ow, g->sw, g->pw, kx * g->dw, &x0, &x1);
                float *col = cols + (mm * kk + ky * g->kw + kx) * hw;
                for (int64_t iy = y0; iy < y1; iy++) {
                    const int64_t base = (iy * g->sh - g->ph + ky * g->dh) * g->ow - g->pw + kx * g->dw;
                    const float *dp = dy + mm * g->oh * g->ow;
                    for (int64_t ix = x0; ix < x1; ix++) col[iy * g->w + ix] = dp[base + ix * g->sw];
                }
            }
        }
}

void ptq_bwd_conv_transpose(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                            const ptq_kt *out, const ptq_kt *dout, ptq_kt *din) {
    ptq_convt_geom g;
    ptq_conv_transpose_geom(n, &in[0], &in[1], out, &g);
    const float *x = in[0].data, *w = in[1].data, *dy = dout[0].data;
    float *dx = din[0].data, *dw = din[1].data, *db = n->n_inputs > 2 ? din[2].data : NULL;
    const int64_t hw = g.h * g.w, ohw = g.oh * g.ow, K = g.mg * g.kh * g.kw;
    if (db)
        for (int64_t b = 0; b < g.n; b++)
            for (int64_t m = 0; m < g.m; m++) {
                double s = 0.0;
                for (int64_t i = 0; i < ohw; i++) s += dy[(b * g.m + m) * ohw + i];
                db[m] += (float)s;
            }
    if (!dx && !dw) return;
    float *cols = gc->work;
    for (int64_t b = 0; b < g.n; b++)
        for (int64_t gr = 0; gr < g.group; gr++) {
            im2col_dy(&g, dy + (b * g.m + gr * g.mg) * ohw, cols);
            const float *wg = w + gr * g.cg * K, *xg = x + (b * g.c + gr * g.cg) * hw;
            if (dx) ptq_sgemm(0, 0, g.cg, hw, K, 1.0f, wg, K, cols, hw, 1.0f, dx + (b * g.c + gr * g.cg) * hw, hw);
            if (dw) ptq_sgemm(0, 1, g.cg, K, hw, 1.0f, xg, hw, cols, hw, 1.0f, dw + gr * g.cg * K, K);
        }
}

size_t ptq_bwd_work_conv_transpose(const ptq_node *n, const ptq_kt *in, uint32_t want,
                                   int32_t threads) {
    (void)want, (void)threads;
    return ptq_work_conv_transpose(n, in);
}

void ptq_bwd_slice(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                   const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    float *dx = din[0].data;
    if (!dx) return;
    const int32_t r = in[0].ndim;
    int64_t xs[PTQ_MAX_DIMS], s = 1, idx[PTQ_MAX_DIMS] = {0};
    for (int32_t i = r - 1; i >= 0; i--) xs[i] = s, s *= in[0].ne[i];
    const float *dy = dout[0].data;
    const int64_t m = ptq_kt_numel(out);
    for (int64_t e = 0; e < m; e++) {
        int64_t off = 0;
        for (int32_t d = 0; d < r; d++)
            off += (n->attrs.slice.first[d] + idx[d] * n->attrs.slice.step[d]) * xs[d];
        dx[off] += dy[e];
        for (int32_t d = r - 1; d >= 0; d--) {
            if (++idx[d] < out->ne[d]) break;
            idx[d] = 0;
        }
    }
}

void ptq_bwd_split(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                   const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    float *dx = din[0].data;
    if (!dx) return;
    const int64_t axis = n->attrs.axis;
    int64_t outer = 1, inner = 1;
    for (int32_t i = 0; i < in[0].ndim; i++) {
        if (i < axis) outer *= in[0].ne[i];
        if (i > axis) inner *= in[0].ne[i];
    }
    const int64_t row = in[0].ne[axis] * inner;
    int64_t at = 0;
    for (int32_t k = 0; k < n->n_outputs; k++) {
        const int64_t len = out[k].ne[axis] * inner;
        const float *dy = dout[k].data;
        for (int64_t o = 0; dy && o < outer; o++)
            for (int64_t i = 0; i < len; i++) dx[o * row + at + i] += dy[o * len + i];
        at += len;
    }
}
