/* pool.c — MaxPool, AveragePool (1-D and 2-D, pads, dilation, ceil mode) and the global
 * pools.  Windows that reach into the padding ignore it for max; for average they count
 * it only with count_include_pad, and then only up to the padded edge (PyTorch's rule:
 * a ceil-mode window hanging past the padding does not count the overhang). */
#include <omp.h>

#include "internal.h"

void ptq_fwd_pool(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_pool_attrs *a = &node->attrs.pool;
    const ptq_kt *X = &in[0];
    const bool one_d = a->n_spatial == 1;
    const int64_t h = one_d ? 1 : X->ne[2], w = one_d ? X->ne[2] : X->ne[3];
    const int64_t oh = one_d ? 1 : out->ne[2], ow = one_d ? out->ne[2] : out->ne[3];
    const int64_t kh = one_d ? 1 : a->kernel[0], kw = one_d ? a->kernel[0] : a->kernel[1];
    const int64_t sh = one_d ? 1 : a->stride[0], sw = one_d ? a->stride[0] : a->stride[1];
    const int64_t dh = one_d ? 1 : a->dilation[0], dw = one_d ? a->dilation[0] : a->dilation[1];
    const int64_t ph = one_d ? 0 : a->pad_begin[0], pw = one_d ? a->pad_begin[0] : a->pad_begin[1];
    const int64_t peh = one_d ? 0 : a->pad_end[0], pew = one_d ? a->pad_end[0] : a->pad_end[1];
    const bool is_max = node->op == PTQ_OP_MAX_POOL;
    const int64_t planes = X->ne[0] * X->ne[1];
    const float *x = X->data;
    float *y = out->data;
#pragma omp parallel for num_threads(kc->threads) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * h * w;
        float *yp = y + p * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++) {
            for (int64_t ox = 0; ox < ow; ox++) {
                const int64_t y0 = oy * sh - ph, x0 = ox * sw - pw;
                float acc = is_max ? -INFINITY : 0.0f;
                int64_t cnt = 0;
                for (int64_t ki = 0; ki < kh; ki++) {
                    int64_t iy = y0 + ki * dh;
                    if (iy < 0 || iy >= h) continue;
                    for (int64_t kj = 0; kj < kw; kj++) {
                        int64_t ix = x0 + kj * dw;
                        if (ix < 0 || ix >= w) continue;
                        float v = xp[iy * w + ix];
                        if (is_max) acc = v > acc ? v : acc;
                        else acc += v;
                        cnt++;
                    }
                }
                if (!is_max) {
                    if (a->count_include_pad) {
                        int64_t ye = PTQ_MIN(y0 + kh, h + peh), xe = PTQ_MIN(x0 + kw, w + pew);
                        cnt = (ye - y0) * (xe - x0);
                    }
                    acc = cnt ? acc / (float)cnt : 0.0f;
                }
                yp[oy * ow + ox] = acc;
            }
        }
    }
}

void ptq_fwd_global_pool(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *X = &in[0];
    const int64_t planes = X->ne[0] * X->ne[1];
    int64_t inner = 1;
    for (int32_t i = 2; i < X->ndim; i++) inner *= X->ne[i];
    const bool is_max = node->op == PTQ_OP_GLOBAL_MAX_POOL;
    const float *x = X->data;
    float *y = out->data;
    int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, planes * inner / 16384));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * inner;
        float acc = is_max ? -INFINITY : 0.0f;
        if (is_max) {
            for (int64_t i = 0; i < inner; i++) acc = xp[i] > acc ? xp[i] : acc;
        } else {
            for (int64_t i = 0; i < inner; i++) acc += xp[i];
            acc /= (float)inner;
        }
        y[p] = acc;
    }
}
