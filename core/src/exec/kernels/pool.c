/* pool.c — MaxPool, AveragePool (1-D and 2-D, pads, dilation, ceil mode) and the global
 * pools.  The windowed pools use the flat polyphase layout of window.h, vectorised over
 * output positions.  Padding never wins a max; for the average it counts only with
 * count_include_pad, and then only up to the padded edge (PyTorch's rule: a ceil-mode
 * window hanging past the padding does not count the overhang). */
#include <omp.h>

#include "internal.h"
#include "simd.h"
#include "window.h"

/* Geometry of a pool node for given input/output shapes. */
static void pool_window(const ptq_node *node, const ptq_kt *x, const int64_t *out_sp,
                        ptq_window *g, int64_t *peh, int64_t *pew) {
    const ptq_pool_attrs *a = &node->attrs.pool;
    const bool d1 = a->n_spatial == 1;
    ptq_window_init(g, d1 ? 1 : x->ne[2], d1 ? x->ne[2] : x->ne[3], d1 ? 1 : out_sp[0],
                    d1 ? out_sp[0] : out_sp[1], d1 ? 1 : a->kernel[0],
                    d1 ? a->kernel[0] : a->kernel[1], d1 ? 1 : a->stride[0],
                    d1 ? a->stride[0] : a->stride[1], d1 ? 1 : a->dilation[0],
                    d1 ? a->dilation[0] : a->dilation[1], d1 ? 0 : a->pad_begin[0],
                    d1 ? a->pad_begin[0] : a->pad_begin[1]);
    *peh = d1 ? 0 : a->pad_end[0];
    *pew = d1 ? a->pad_end[0] : a->pad_end[1];
}

static void out_spatial(const ptq_node *n, const ptq_kt *in, int64_t *sp) {
    const ptq_pool_attrs *a = &n->attrs.pool;
    for (int32_t i = 0; i < a->n_spatial; i++)
        sp[i] = ptq_window_out(in[0].ne[2 + i], a->kernel[i], a->stride[i], a->dilation[i],
                               a->pad_begin[i], a->pad_end[i], a->ceil_mode);
}

size_t ptq_work_pool(const ptq_node *n, const ptq_kt *in) {
    int64_t sp[2], peh, pew;
    ptq_window g;
    out_spatial(n, in, sp);
    pool_window(n, &in[0], sp, &g, &peh, &pew);
    return (size_t)(g.chan + g.npos_r + VL);
}

size_t ptq_work_pool_shared(const ptq_node *n, const ptq_kt *in) {
    int64_t sp[2], peh, pew;
    ptq_window g;
    out_spatial(n, in, sp);
    pool_window(n, &in[0], sp, &g, &peh, &pew);
    return (size_t)(g.npos_r + VL); /* the average's divisor per position */
}

/* Max over taps: lanes keep the first maximum, NaNs never win (as `v > acc ? v : acc`). */
static void max_tiles(const float *x, const int64_t *offs, int64_t taps, float *out, int64_t npos_r) {
    for (int64_t p = 0; p < npos_r; p += VL) {
        vf acc = vsplat(-INFINITY);
        for (int64_t t = 0; t < taps; t++) {
            const vf v = vload(x + p + offs[t]);
            acc = vselect(v > acc, v, acc);
        }
        vstore(out + p, acc);
    }
}

/* Sum over taps in tap order (padding holds zeros). */
static void sum_tiles(const float *x, const int64_t *offs, int64_t taps, float *out, int64_t npos_r) {
    for (int64_t p = 0; p < npos_r; p += VL) {
        vf acc = vsplat(0.0f);
        for (int64_t t = 0; t < taps; t++) acc += vload(x + p + offs[t]);
        vstore(out + p, acc);
    }
}

/* The window's element count at each flat position: what the average divides by. */
static void average_divisors(const ptq_window *g, const ptq_pool_attrs *a, int64_t peh,
                             int64_t pew, float *div) {
    for (int64_t p = 0; p < g->npos_r; p++) div[p] = 1.0f;
    for (int64_t oy = 0; oy < g->oh; oy++)
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const int64_t y0 = oy * g->sh - g->ph, x0 = ox * g->sw - g->pw;
            int64_t cnt;
            if (a->count_include_pad) {
                /* PyTorch's rule: padding counts, a ceil-mode overhang does not. */
                cnt = (PTQ_MIN(y0 + g->kh, g->h + peh) - y0) * (PTQ_MIN(x0 + g->kw, g->w + pew) - x0);
            } else {
                const int64_t ny = PTQ_MIN(y0 + g->kh, g->h) - PTQ_MAX(y0, 0);
                const int64_t nx = PTQ_MIN(x0 + g->kw, g->w) - PTQ_MAX(x0, 0);
                cnt = PTQ_MAX(ny, 0) * PTQ_MAX(nx, 0);
            }
            div[oy * g->wq + ox] = (float)cnt;
        }
}

void ptq_fwd_pool(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_pool_attrs *a = &node->attrs.pool;
    const ptq_kt *X = &in[0];
    ptq_window g;
    int64_t peh, pew;
    pool_window(node, X, out->ne + 2, &g, &peh, &pew);
    const bool is_max = node->op == PTQ_OP_MAX_POOL;
    const int64_t planes = X->ne[0] * X->ne[1], ihw = g.h * g.w, ohw = g.oh * g.ow;
    int64_t offs[256];
    int64_t *o = g.taps <= 256 ? offs : malloc((size_t)g.taps * sizeof *o);
    PTQ_ASSERT(o);
    ptq_window_offsets(&g, o);
    float *div = kc->shared;
    if (!is_max) average_divisors(&g, a, peh, pew, div);
    const float *x = X->data;
    float *y = out->data;
#pragma omp parallel num_threads(kc->threads)
    {
        float *pad = kc->work + (size_t)omp_get_thread_num() * kc->work_floats, *flat = pad + g.chan;
        /* Padding never wins a max and adds nothing to a sum: a worker fills it before its
         * first plane of the call; planes are handed out in chunks (see conv.c). */
        const float fill = is_max ? -INFINITY : 0.0f;
        bool filled = false;
#pragma omp for schedule(dynamic, 16)
        for (int64_t p = 0; p < planes; p++) {
            if (!filled) {
                for (int64_t i = 0; i < g.chan; i++) pad[i] = fill;
                filled = true;
            }
            ptq_window_copy_in(&g, x + p * ihw, pad);
            float *yp = y + p * ohw;
            if (is_max) {
                max_tiles(pad, o, g.taps, flat, g.npos_r);
                for (int64_t i = 0; i < g.oh; i++) memcpy(yp + i * g.ow, flat + i * g.wq, (size_t)g.ow * sizeof *yp);
            } else {
                sum_tiles(pad, o, g.taps, flat, g.npos_r);
                for (int64_t i = 0; i < g.oh; i++)
                    for (int64_t j = 0; j < g.ow; j++) {
                        const float cnt = div[i * g.wq + j];
                        yp[i * g.ow + j] = cnt > 0.0f ? flat[i * g.wq + j] / cnt : 0.0f;
                    }
            }
        }
    }
    if (o != offs) free(o);
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
