/* conv.c — 1-D and 2-D convolution, NCHW.
 *
 * Three paths, chosen per node:
 *   - one input channel per group (depthwise, with any channel multiplier): a direct
 *     loop per output channel; no im2col, no GEMM, no multiplications by zero.
 *   - 1x1, stride 1, no padding: the input image already is the GEMM operand.
 *   - everything else: im2col of one group of one image into per-thread scratch, then
 *     one sgemm per group ([M/g x K] x [K x OH*OW]), so grouped convolutions never
 *     multiply by the zero blocks of a block-diagonal weight.
 * Work is split across images (and across channels for depthwise), each computed the
 * same way whatever the thread count, so results are bitwise reproducible. */
#include <omp.h>

#include "internal.h"

typedef struct conv_geom {
    int64_t n, c, h, w;      /* input */
    int64_t m, oh, ow;       /* output */
    int64_t kh, kw, sh, sw, dh, dw, ph, pw;
    int64_t group, cg, mg;   /* channels per group in and out */
    int64_t k;               /* GEMM depth: cg * kh * kw */
} conv_geom;

static void geom(const ptq_node *node, const ptq_kt *in, const ptq_kt *out, conv_geom *q) {
    const ptq_conv_attrs *a = &node->attrs.conv;
    const ptq_kt *x = &in[0], *w = &in[1];
    bool one_d = a->n_spatial == 1;
    q->n = x->ne[0];
    q->c = x->ne[1];
    q->h = one_d ? 1 : x->ne[2];
    q->w = one_d ? x->ne[2] : x->ne[3];
    q->m = w->ne[0];
    q->oh = one_d ? 1 : out->ne[2];
    q->ow = one_d ? out->ne[2] : out->ne[3];
    q->kh = one_d ? 1 : a->kernel[0];
    q->kw = one_d ? a->kernel[0] : a->kernel[1];
    q->sh = one_d ? 1 : a->stride[0];
    q->sw = one_d ? a->stride[0] : a->stride[1];
    q->dh = one_d ? 1 : a->dilation[0];
    q->dw = one_d ? a->dilation[0] : a->dilation[1];
    q->ph = one_d ? 0 : a->pad_begin[0];
    q->pw = one_d ? a->pad_begin[0] : a->pad_begin[1];
    q->group = a->group;
    q->cg = q->c / q->group;
    q->mg = q->m / q->group;
    q->k = q->cg * q->kh * q->kw;
}

static bool is_pointwise(const conv_geom *q) {
    return q->kh == 1 && q->kw == 1 && q->sh == 1 && q->sw == 1 && q->ph == 0 && q->pw == 0 &&
           q->oh == q->h && q->ow == q->w;
}

size_t ptq_work_conv(const ptq_node *n, const ptq_kt *in) {
    /* Output spatial size from the input and attributes (out[] is not passed here). */
    const ptq_conv_attrs *a = &n->attrs.conv;
    ptq_kt out = {0};
    out.ndim = in[0].ndim;
    for (int32_t i = 0; i < a->n_spatial; i++) {
        int64_t span = a->dilation[i] * (a->kernel[i] - 1) + 1;
        out.ne[2 + i] = (in[0].ne[2 + i] + a->pad_begin[i] + a->pad_end[i] - span) / a->stride[i] + 1;
    }
    conv_geom q;
    geom(n, in, &out, &q);
    if (q.cg == 1 || is_pointwise(&q)) return 0;
    return (size_t)(q.k * q.oh * q.ow);
}

/* Unfolds one group of one image: rows (c, ki, kj), columns (oy, ox). */
static void im2col(const conv_geom *q, const float *x, float *col) {
    const int64_t ohw = q->oh * q->ow;
    for (int64_t c = 0; c < q->cg; c++) {
        const float *xc = x + c * q->h * q->w;
        for (int64_t ki = 0; ki < q->kh; ki++) {
            for (int64_t kj = 0; kj < q->kw; kj++) {
                float *row = col + ((c * q->kh + ki) * q->kw + kj) * ohw;
                /* Output columns whose input column is inside the image: [lo, hi). */
                int64_t off = kj * q->dw - q->pw;
                int64_t lo = off < 0 ? (-off + q->sw - 1) / q->sw : 0;
                int64_t hi = q->w - off <= 0 ? 0 : (q->w - off + q->sw - 1) / q->sw;
                if (hi > q->ow) hi = q->ow;
                if (lo > hi) lo = hi;
                for (int64_t oy = 0; oy < q->oh; oy++) {
                    float *r = row + oy * q->ow;
                    int64_t iy = oy * q->sh - q->ph + ki * q->dh;
                    if (iy < 0 || iy >= q->h) {
                        memset(r, 0, (size_t)q->ow * sizeof *r);
                        continue;
                    }
                    const float *xr = xc + iy * q->w + off;
                    for (int64_t ox = 0; ox < lo; ox++) r[ox] = 0.0f;
                    if (q->sw == 1) {
                        memcpy(r + lo, xr + lo, (size_t)(hi - lo) * sizeof *r);
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++) r[ox] = xr[ox * q->sw];
                    }
                    for (int64_t ox = hi; ox < q->ow; ox++) r[ox] = 0.0f;
                }
            }
        }
    }
}

/* One output channel of a convolution with one input channel per group. */
static void conv_direct_channel(const conv_geom *q, const float *x, const float *w, float bias,
                                float *y) {
    for (int64_t oy = 0; oy < q->oh; oy++) {
        float *yr = y + oy * q->ow;
        for (int64_t ox = 0; ox < q->ow; ox++) yr[ox] = bias;
        for (int64_t ki = 0; ki < q->kh; ki++) {
            int64_t iy = oy * q->sh - q->ph + ki * q->dh;
            if (iy < 0 || iy >= q->h) continue;
            const float *xr = x + iy * q->w;
            for (int64_t kj = 0; kj < q->kw; kj++) {
                const float wv = w[ki * q->kw + kj];
                int64_t off = kj * q->dw - q->pw;
                int64_t lo = off < 0 ? (-off + q->sw - 1) / q->sw : 0;
                int64_t hi = q->w - off <= 0 ? 0 : (q->w - off + q->sw - 1) / q->sw;
                if (hi > q->ow) hi = q->ow;
                if (q->sw == 1) {
                    const float *xs = xr + off;
                    for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xs[ox];
                } else {
                    for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * q->sw + off];
                }
            }
        }
    }
}

void ptq_fwd_conv(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    conv_geom q;
    geom(node, in, out, &q);
    const float *x = in[0].data, *w = in[1].data, *b = in[2].data;
    float *y = out->data;
    const int64_t ihw = q.h * q.w, ohw = q.oh * q.ow;

    if (q.cg == 1) {
        const int64_t items = q.n * q.m;
#pragma omp parallel for num_threads(kc->threads) schedule(static)
        for (int64_t it = 0; it < items; it++) {
            int64_t img = it / q.m, oc = it % q.m, ic = oc / q.mg;
            conv_direct_channel(&q, x + (img * q.c + ic) * ihw, w + oc * q.kh * q.kw,
                                b ? b[oc] : 0.0f, y + (img * q.m + oc) * ohw);
        }
        return;
    }

    const bool pointwise = is_pointwise(&q);
#pragma omp parallel for num_threads(kc->threads) schedule(static)
    for (int64_t img = 0; img < q.n; img++) {
        float *col = kc->work + (size_t)omp_get_thread_num() * kc->work_floats;
        for (int64_t g = 0; g < q.group; g++) {
            const float *xg = x + (img * q.c + g * q.cg) * ihw;
            float *yg = y + (img * q.m + g * q.mg) * ohw;
            const float *bmat = xg;
            if (!pointwise) {
                im2col(&q, xg, col);
                bmat = col;
            }
            float beta = 0.0f;
            if (b) {
                for (int64_t oc = 0; oc < q.mg; oc++) {
                    float bv = b[g * q.mg + oc];
                    float *yr = yg + oc * ohw;
                    for (int64_t i = 0; i < ohw; i++) yr[i] = bv;
                }
                beta = 1.0f;
            }
            ptq_sgemm(0, 0, q.mg, ohw, q.k, 1.0f, w + g * q.mg * q.k, q.k, bmat, ohw, beta, yg, ohw);
        }
    }
}
