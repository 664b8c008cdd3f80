/* conv_grad.c — Conv backward (grad.h conventions): the weight gradient that AdaRound
 * needs every step, the input gradient that block reconstruction needs, the bias.
 *
 * Per image and group, the input is unfolded into columns (im2col: one row per
 * (input channel, tap), one column per output position), so
 *     dW_g += dY_g [O/G, P] x col^T [P, R]        dcol = W_g^T [R, O/G] x dY_g [O/G, P]
 * are single OpenBLAS products (over a chunk of images at once), and dX is dcol folded back (col2im).  Images are split
 * across threads; each image's weight gradient goes to its own slot and the slots are
 * summed in image order, so the result is the same for any thread count.  Depthwise
 * convolutions (one input channel per group) would make those products 1 x 9: they use
 * direct loops instead. */
#include <cblas.h>
#include <omp.h>

#include "../grad.h"

typedef struct conv_geom {
    int64_t N, C, H, W, O, OH, OW, G, Cg, Og, kh, kw, sh, sw, dh, dw, ph, pw;
    int64_t R, P; /* rows (Cg kh kw) and columns (OH OW) of one group's im2col matrix */
} conv_geom;

static void geometry(const ptq_node *n, const ptq_kt *x, const ptq_kt *w, conv_geom *g) {
    const ptq_conv_attrs *a = &n->attrs.conv;
    const bool d1 = a->n_spatial == 1;
    g->N = x->ne[0], g->C = x->ne[1];
    g->H = d1 ? 1 : x->ne[2], g->W = d1 ? x->ne[2] : x->ne[3];
    g->O = w->ne[0], g->G = a->group;
    g->Cg = g->C / g->G, g->Og = g->O / g->G;
    g->kh = d1 ? 1 : a->kernel[0], g->kw = a->kernel[d1 ? 0 : 1];
    g->sh = d1 ? 1 : a->stride[0], g->sw = a->stride[d1 ? 0 : 1];
    g->dh = d1 ? 1 : a->dilation[0], g->dw = a->dilation[d1 ? 0 : 1];
    g->ph = d1 ? 0 : a->pad_begin[0], g->pw = a->pad_begin[d1 ? 0 : 1];
    g->OH = ptq_window_out(g->H, g->kh, g->sh, g->dh, g->ph, d1 ? 0 : a->pad_end[0], 0);
    g->OW = ptq_window_out(g->W, g->kw, g->sw, g->dw, g->pw, a->pad_end[d1 ? 0 : 1], 0);
    g->R = g->Cg * g->kh * g->kw;
    g->P = g->OH * g->OW;
}

static bool is_depthwise(const conv_geom *g) { return g->Cg == 1; }

/* Images per weight-gradient product: one sgemm with K = CHUNK x positions instead of
 * one per image (far better OpenBLAS efficiency at 16-64 channels), and a fixed chunk so
 * the summation order never depends on the thread count. */
#define CHUNK 8

size_t ptq_bwd_work_conv(const ptq_node *n, const ptq_kt *in, uint32_t want, int32_t threads) {
    conv_geom g;
    geometry(n, &in[0], &in[1], &g);
    const int64_t chunks = (g.N + CHUNK - 1) / CHUNK;
    size_t floats = 0;
    if (want & 2u) floats += (size_t)((is_depthwise(&g) ? g.N : chunks) * g.O * g.R);
    if (!is_depthwise(&g) && (want & 3u))
        floats += (size_t)threads * (size_t)((g.R + g.O) * CHUNK * g.P);
    return floats;
}

/* col[r][p] for group `grp` of one image x (C x H x W): the input value each (channel,
 * tap) contributes to output position p, 0 in the padding. */
static void im2col(const conv_geom *g, const float *x, int64_t grp, float *col, int64_t ld) {
    for (int64_t c = 0; c < g->Cg; c++) {
        const float *xc = x + (grp * g->Cg + c) * g->H * g->W;
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * ld;
                for (int64_t oy = 0; oy < g->OH; oy++) {
                    const int64_t yy = oy * g->sh - g->ph + i * g->dh;
                    float *dst = row + oy * g->OW;
                    if (yy < 0 || yy >= g->H) {
                        memset(dst, 0, (size_t)g->OW * sizeof(float));
                        continue;
                    }
                    const float *src = xc + yy * g->W;
                    const int64_t x0 = j * g->dw - g->pw;
                    if (g->sw == 1) { /* a zero edge, one copied run, a zero edge */
                        const int64_t lo = PTQ_MIN(PTQ_MAX(-x0, 0), g->OW);
                        const int64_t hi = PTQ_MAX(PTQ_MIN(g->W - x0, g->OW), lo);
                        memset(dst, 0, (size_t)lo * sizeof(float));
                        memcpy(dst + lo, src + x0 + lo, (size_t)(hi - lo) * sizeof(float));
                        memset(dst + hi, 0, (size_t)(g->OW - hi) * sizeof(float));
                        continue;
                    }
                    for (int64_t ox = 0; ox < g->OW; ox++) {
                        const int64_t xx = x0 + ox * g->sw;
                        dst[ox] = xx >= 0 && xx < g->W ? src[xx] : 0.0f;
                    }
                }
            }
    }
}

/* dx (C x H x W of one image) += the columns folded back onto the input. */
static void col2im(const conv_geom *g, const float *col, int64_t ld, int64_t grp, float *dx) {
    for (int64_t c = 0; c < g->Cg; c++) {
        float *dxc = dx + (grp * g->Cg + c) * g->H * g->W;
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = col + ((c * g->kh + i) * g->kw + j) * ld;
                for (int64_t oy = 0; oy < g->OH; oy++) {
                    const int64_t yy = oy * g->sh - g->ph + i * g->dh;
                    if (yy < 0 || yy >= g->H) continue;
                    const float *src = row + oy * g->OW;
                    float *dst = dxc + yy * g->W;
                    const int64_t x0 = j * g->dw - g->pw;
                    for (int64_t ox = 0; ox < g->OW; ox++) {
                        const int64_t xx = x0 + ox * g->sw;
                        if (xx >= 0 && xx < g->W) dst[xx] += src[ox];
                    }
                }
            }
    }
}

/* Depthwise, one image: every output channel o reads input channel o / Og. */
static void depthwise_image(const conv_geom *g, const float *x, const float *w, const float *dy,
                            float *dw_img, float *dx) {
    for (int64_t o = 0; o < g->O; o++) {
        const int64_t c = o / g->Og;
        const float *xc = x + c * g->H * g->W, *dyo = dy + o * g->P;
        float *dxc = dx ? dx + c * g->H * g->W : NULL;
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const int64_t tap = i * g->kw + j;
                const float wt = w[o * g->kh * g->kw + tap];
                float acc = 0.0f;
                for (int64_t oy = 0; oy < g->OH; oy++) {
                    const int64_t yy = oy * g->sh - g->ph + i * g->dh;
                    if (yy < 0 || yy >= g->H) continue;
                    const int64_t x0 = j * g->dw - g->pw;
                    /* The output columns whose tap lands inside the row. */
                    int64_t lo = x0 >= 0 ? 0 : (-x0 + g->sw - 1) / g->sw;
                    int64_t hi = (g->W - 1 - x0) / g->sw + 1;
                    if (g->W - 1 - x0 < 0) hi = 0;
                    hi = PTQ_MIN(hi, g->OW);
                    const float *xr = xc + yy * g->W, *dyr = dyo + oy * g->OW;
                    if (dw_img)
                        for (int64_t ox = lo; ox < hi; ox++) acc += dyr[ox] * xr[x0 + ox * g->sw];
                    if (dxc) {
                        float *dxr = dxc + yy * g->W;
                        for (int64_t ox = lo; ox < hi; ox++) dxr[x0 + ox * g->sw] += wt * dyr[ox];
                    }
                }
                if (dw_img) dw_img[o * g->kh * g->kw + tap] = acc;
            }
    }
}

void ptq_bwd_conv(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                  const ptq_kt *dout, ptq_kt *din) {
    (void)out;
    conv_geom g;
    geometry(n, &in[0], &in[1], &g);
    const float *x = in[0].data, *w = in[1].data, *dy = dout[0].data;
    float *dx = din[0].data, *dW = din[1].data;
    float *db = n->n_inputs > 2 ? din[2].data : NULL;
    const int64_t xs = g.C * g.H * g.W, ys = g.O * g.P, wsz = g.O * g.R;
    const bool dwise = is_depthwise(&g);
    /* Weight-gradient slots: one per image (depthwise) or per chunk of images. */
    const int64_t slots = dwise ? g.N : (g.N + CHUNK - 1) / CHUNK;
    float *partial = dW ? gc->work : NULL;
    float *scratch = gc->work + (dW ? slots * wsz : 0);
    if (dW || dx) {
#pragma omp parallel for num_threads(gc->threads) schedule(static)
        for (int64_t k = 0; k < slots; k++) {
            if (dwise) {
                depthwise_image(&g, x + k * xs, w, dy + k * ys, dW ? partial + k * wsz : NULL,
                                dx ? dx + k * xs : NULL);
                continue;
            }
            const int64_t b0 = k * CHUNK, cn = PTQ_MIN(CHUNK, g.N - b0), ld = cn * g.P;
            float *col = scratch + (size_t)omp_get_thread_num() * (size_t)((g.R + g.O) * CHUNK * g.P);
            float *dyt = col + g.R * CHUNK * g.P;
            /* dY of the chunk as [O, images x positions]: the products' K runs over both. */
            for (int64_t o = 0; o < g.O; o++)
                for (int64_t b = 0; b < cn; b++)
                    memcpy(dyt + o * ld + b * g.P, dy + (b0 + b) * ys + o * g.P, (size_t)g.P * sizeof(float));
            for (int64_t grp = 0; grp < g.G; grp++) {
                const float *dyg = dyt + grp * g.Og * ld;
                if (dW) {
                    for (int64_t b = 0; b < cn; b++) im2col(&g, x + (b0 + b) * xs, grp, col + b * g.P, ld);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g.Og, (int)g.R, (int)ld, 1.0f,
                                dyg, (int)ld, col, (int)ld, 0.0f, partial + k * wsz + grp * g.Og * g.R,
                                (int)g.R);
                }
                if (dx) {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.R, (int)ld, (int)g.Og, 1.0f,
                                w + grp * g.Og * g.R, (int)g.R, dyg, (int)ld, 0.0f, col, (int)ld);
                    for (int64_t b = 0; b < cn; b++) col2im(&g, col + b * g.P, ld, grp, dx + (b0 + b) * xs);
                }
            }
        }
    }
    if (dW) { /* slots summed in order, whatever thread computed them */
#pragma omp parallel for num_threads(gc->threads) schedule(static)
        for (int64_t e = 0; e < wsz; e++) {
            float s = 0.0f;
            for (int64_t k = 0; k < slots; k++) s += partial[k * wsz + e];
            dW[e] += s;
        }
    }
    if (db)
        for (int64_t o = 0; o < g.O; o++) {
            double s = 0.0;
            for (int64_t b = 0; b < g.N; b++)
                for (int64_t p = 0; p < g.P; p++) s += dy[b * ys + o * g.P + p];
            db[o] += (float)s;
        }
}
