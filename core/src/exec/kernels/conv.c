/* conv.c — 1-D and 2-D convolution, NCHW.
 *
 * The main path is a direct "flat" kernel.  Each input channel of an image is copied
 * once into zero-padded polyphase planes (window.h): every tap of the kernel then reads
 * a contiguous run, and consecutive output rows are adjacent (wq - OW junk columns
 * apart), so the whole convolution becomes a 1-D one over flat positions
 * p = oy * wq + ox:
 *
 *     out[m][p] = sum over (c, tap) of w[m][c][tap] * planes[c][p + offset[tap]]
 *
 * A register tile of MR output channels x NV vectors of positions accumulates over every
 * (channel, tap) with one broadcast weight per row of FMAs: no im2col, no image packing,
 * full-width loads.  Junk columns are dropped when a tile is stored, which is also where
 * the bias and any fused epilogue (BatchNormalization, activation) are applied.
 *
 *   - 1x1 stride-1 unpadded convs read the input in place (only the ragged tail of each
 *     plane is copied, so no vector ever reads past the tensor).
 *   - one input channel per group (depthwise, any channel multiplier): one output
 *     channel per tile, same planes.
 *   - kernels with more than 64 taps fall back to im2col + one sgemm per group.
 *
 * Work is split across images; each image is computed the same way whatever the thread
 * count, so results are bitwise reproducible, and the summation order over
 * (channel, tap) is a naive loop's.  This file is compiled with FMA contraction; the
 * store and epilogue live in eltwise.c, which is not, so fused and unfused runs round
 * alike. */
#include <omp.h>

#include "internal.h"

#include "simd.h"
#include "tile.h"
#include "window.h"

#define MAX_TAPS 64

typedef struct conv_geom {
    int64_t n, c, h, w;    /* input */
    int64_t m, oh, ow;     /* output */
    int64_t kh, kw, sh, sw, dh, dw, ph, pw, peh, pew;
    int64_t group, cg, mg; /* channels per group in and out */
    int64_t taps;          /* kh * kw */
    int64_t k;             /* reduction length: cg * taps */
    /* flat path */
    ptq_window win;        /* the padded polyphase layout of one input channel */
    bool in_place;         /* 1x1, stride 1, no padding: read the input planes directly */
    int64_t wq, chan;      /* row pitch and channel pitch of what the tiles read */
    int64_t npos, npos_r;  /* flat output positions, and rounded up to whole vectors */
    int mr, nv;            /* register tile: output channels x vectors */
    int64_t mblocks;       /* ceil(mg / mr) */
} conv_geom;

static void geom(const ptq_node *node, const ptq_kt *in, const int64_t *out_sp, conv_geom *q) {
    const ptq_conv_attrs *a = &node->attrs.conv;
    const ptq_kt *x = &in[0], *w = &in[1];
    const bool d1 = a->n_spatial == 1;
    q->n = x->ne[0];
    q->c = x->ne[1];
    q->h = d1 ? 1 : x->ne[2];
    q->w = d1 ? x->ne[2] : x->ne[3];
    q->m = w->ne[0];
    q->oh = d1 ? 1 : out_sp[0];
    q->ow = d1 ? out_sp[0] : out_sp[1];
    q->kh = d1 ? 1 : a->kernel[0];
    q->kw = d1 ? a->kernel[0] : a->kernel[1];
    q->sh = d1 ? 1 : a->stride[0];
    q->sw = d1 ? a->stride[0] : a->stride[1];
    q->dh = d1 ? 1 : a->dilation[0];
    q->dw = d1 ? a->dilation[0] : a->dilation[1];
    q->ph = d1 ? 0 : a->pad_begin[0];
    q->pw = d1 ? a->pad_begin[0] : a->pad_begin[1];
    q->peh = d1 ? 0 : a->pad_end[0];
    q->pew = d1 ? a->pad_end[0] : a->pad_end[1];
    q->group = a->group;
    q->cg = q->c / q->group;
    q->mg = q->m / q->group;
    q->taps = q->kh * q->kw;
    q->k = q->cg * q->taps;
    q->in_place = q->cg > 1 && q->taps == 1 && q->sh == 1 && q->sw == 1 && q->ph == 0 && q->pw == 0 &&
                  q->peh == 0 && q->pew == 0 && q->oh == q->h && q->ow == q->w;
    ptq_window_init(&q->win, q->h, q->w, q->oh, q->ow, q->kh, q->kw, q->sh, q->sw, q->dh, q->dw,
                    q->ph, q->pw);
    q->wq = q->win.wq;
    q->npos = q->win.npos;
    q->npos_r = q->win.npos_r;
    q->chan = q->in_place ? q->h * q->w : q->win.chan;
    /* Enough independent accumulators to hide FMA latency whatever the plane size:
     * small planes get more output channels per tile instead of more positions. */
    ptq_tile_shape(q->npos_r / VL, q->mg, &q->mr, &q->nv);
    q->mblocks = (q->mg + q->mr - 1) / q->mr;
}

/* Output spatial dims of a conv from its attributes (the work query has no output). */
static void out_spatial(const ptq_node *n, const ptq_kt *in, int64_t *sp) {
    const ptq_conv_attrs *a = &n->attrs.conv;
    for (int32_t i = 0; i < a->n_spatial; i++)
        sp[i] = ptq_window_out(in[0].ne[2 + i], a->kernel[i], a->stride[i], a->dilation[i],
                               a->pad_begin[i], a->pad_end[i], 0);
}

static bool use_flat(const conv_geom *q) { return q->taps <= MAX_TAPS; }

/* One input channel per group and few outputs from it (depthwise): a tile per output
 * channel.  With a channel multiplier of 4 or more (a first layer on a grey image, say)
 * the register tiles share each loaded input vector between mr output channels instead;
 * both sum the taps in the same order, so the choice does not change a bit. */
static bool use_dw(const conv_geom *q) { return q->cg == 1 && q->mg < 4; }

/* Per-thread scratch: padded planes (or the in-place tail copy) and one tile's outputs. */
size_t ptq_work_conv(const ptq_node *n, const ptq_kt *in) {
    int64_t sp[2];
    conv_geom q;
    out_spatial(n, in, sp);
    geom(n, in, sp, &q);
    if (!use_flat(&q)) return (size_t)(q.k * q.oh * q.ow);
    const int64_t planes = q.in_place ? q.cg * NV_MAX * VL : q.cg * q.chan;
    return (size_t)(planes + q.mr * q.npos_r + VL); /* + VL: the store reads past a row */
}

/* Shared scratch: the packed weights. */
size_t ptq_work_conv_shared(const ptq_node *n, const ptq_kt *in) {
    int64_t sp[2];
    conv_geom q;
    out_spatial(n, in, sp);
    geom(n, in, sp, &q);
    return use_flat(&q) && !use_dw(&q) ? (size_t)(q.group * q.mblocks * q.mr * q.k) : 0;
}

/* ---- layout --------------------------------------------------------------------------- */

/* Packs the weights as [group][mblock][c][tap][mr], zero rows past mg, so a tile's mr
 * broadcasts for one (channel, tap) are adjacent (see tile.h). */
static void pack_weights(const conv_geom *q, const float *w, float *pk) {
    for (int64_t g = 0; g < q->group; g++)
        for (int64_t mb = 0; mb < q->mblocks; mb++) {
            float *dst = pk + (g * q->mblocks + mb) * q->mr * q->k;
            for (int64_t c = 0; c < q->cg; c++)
                for (int64_t t = 0; t < q->taps; t++)
                    for (int64_t r = 0; r < q->mr; r++) {
                        const int64_t oc = mb * q->mr + r;
                        *dst++ = oc < q->mg ? w[((g * q->mg + oc) * q->cg + c) * q->taps + t] : 0.0f;
                    }
        }
}

/* Depthwise: one output channel reading one input channel, nv vectors. */
static inline __attribute__((always_inline)) void dw_tile(const float *x, const int64_t *offs,
                                                          int64_t taps, const float *w,
                                                          float *out, const int nv) {
    vf acc[NV_MAX];
    for (int v = 0; v < nv; v++) acc[v] = (vf){0};
    for (int64_t t = 0; t < taps; t++) {
        const float *xs = x + offs[t];
        const float wt = w[t];
        for (int v = 0; v < nv; v++) acc[v] += *(const vf_u *)(xs + v * VL) * wt;
    }
    for (int v = 0; v < nv; v++) *(vf_u *)(out + v * VL) = acc[v];
}

static void dw_tiles(const float *x, const int64_t *offs, int64_t taps, const float *w,
                     float *out, int64_t npos_r) {
    int64_t p0 = 0;
    for (; p0 + NV_MAX * VL <= npos_r; p0 += NV_MAX * VL) dw_tile(x + p0, offs, taps, w, out + p0, NV_MAX);
    switch ((npos_r - p0) / VL) {
    case 0: break;
    case 1: dw_tile(x + p0, offs, taps, w, out + p0, 1); break;
    case 2: dw_tile(x + p0, offs, taps, w, out + p0, 2); break;
#if NV_MAX > 3
    case 3: dw_tile(x + p0, offs, taps, w, out + p0, 3); break;
    case 4: dw_tile(x + p0, offs, taps, w, out + p0, 4); break;
    case 5: dw_tile(x + p0, offs, taps, w, out + p0, 5); break;
#endif
    default: PTQ_ABORT("depthwise tail of %d vectors", (int)((npos_r - p0) / VL));
    }
}

/* ---- one image ---------------------------------------------------------------------- */

typedef struct conv_args {
    const conv_geom *q;
    const float *w, *wpk, *b;
    const int64_t *offs;
    const ptq_epilogue *ep;
} conv_args;

/* Stores channel oc's flat outputs into NCHW with bias and epilogue. */
static void store(const conv_args *A, const float *flat, float *y, int64_t oc) {
    const conv_geom *q = A->q;
    ptq_store_plane(y + oc * q->oh * q->ow, flat, q->oh, q->ow, q->wq, A->b ? A->b[oc] : 0.0f,
                    A->ep, oc);
}

/* Runs every tile of one block of mr output channels over the flat positions. */
static void run_block(const conv_args *A, const float *planes, const float *x_in_place,
                      float *tail_buf, const float *wb, float *out) {
    const conv_geom *q = A->q;
    const int64_t step = (int64_t)q->nv * VL;
    const ptq_tile_fn full = ptq_tile_pick(q->mr, q->nv);
    int64_t p0 = 0;
    if (x_in_place) {
        /* Full tiles read the input planes directly; the ragged end of each plane is
         * copied (zero-padded) so no load runs past the tensor. */
        for (; p0 + step <= q->npos; p0 += step)
            full(x_in_place + p0, q->chan, q->cg, A->offs, 1, wb, out + p0, q->npos_r);
        const int64_t whole = (q->npos - p0) / VL; /* vectors that still fit in the plane */
        if (whole > 0) {
            ptq_tile_pick(q->mr, (int)whole)(x_in_place + p0, q->chan, q->cg, A->offs, 1, wb, out + p0,
                                         q->npos_r);
            p0 += whole * VL;
        }
        if (p0 < q->npos_r) {
            const int64_t len = q->npos - p0, nv = (q->npos_r - p0) / VL;
            for (int64_t c = 0; c < q->cg; c++) {
                float *dst = tail_buf + c * nv * VL;
                memcpy(dst, x_in_place + c * q->chan + p0, (size_t)len * sizeof *dst);
                memset(dst + len, 0, (size_t)(nv * VL - len) * sizeof *dst);
            }
            ptq_tile_pick(q->mr, (int)nv)(tail_buf, nv * VL, q->cg, A->offs, 1, wb, out + p0, q->npos_r);
        }
        return;
    }
    for (; p0 + step <= q->npos_r; p0 += step)
        full(planes + p0, q->chan, q->cg, A->offs, q->taps, wb, out + p0, q->npos_r);
    if (p0 < q->npos_r)
        ptq_tile_pick(q->mr, (int)((q->npos_r - p0) / VL))(planes + p0, q->chan, q->cg, A->offs, q->taps,
                                                       wb, out + p0, q->npos_r);
}

static void conv_flat_image(const conv_args *A, const float *x, float *y, float *scratch) {
    const conv_geom *q = A->q;
    const int64_t ihw = q->h * q->w;
    float *planes = scratch;
    float *flat = scratch + (q->in_place ? q->cg * NV_MAX * VL : q->cg * q->chan);
    for (int64_t g = 0; g < q->group; g++) {
        const float *xg = x + g * q->cg * ihw;
        if (!q->in_place)
            for (int64_t c = 0; c < q->cg; c++) ptq_window_copy_in(&q->win, xg + c * ihw, planes + c * q->chan);
        if (use_dw(q)) {
            for (int64_t r = 0; r < q->mg; r++) {
                const int64_t oc = g * q->mg + r;
                dw_tiles(q->in_place ? xg : planes, A->offs, q->taps, A->w + oc * q->taps, flat,
                         q->npos_r);
                store(A, flat, y, oc);
            }
            continue;
        }
        for (int64_t mb = 0; mb < q->mblocks; mb++) {
            run_block(A, planes, q->in_place ? xg : NULL, planes,
                      A->wpk + (g * q->mblocks + mb) * q->mr * q->k, flat);
            for (int64_t r = 0; r < q->mr && mb * q->mr + r < q->mg; r++)
                store(A, flat + r * q->npos_r, y, g * q->mg + mb * q->mr + r);
        }
    }
}

/* ---- im2col + sgemm (kernels of more than MAX_TAPS taps) -------------------------- */

/* Unfolds one group of one image: rows (c, ki, kj), columns (oy, ox). */
static void im2col(const conv_geom *q, const float *x, float *col) {
    const int64_t ohw = q->oh * q->ow;
    for (int64_t c = 0; c < q->cg; c++)
        for (int64_t ki = 0; ki < q->kh; ki++)
            for (int64_t kj = 0; kj < q->kw; kj++) {
                float *row = col + ((c * q->kh + ki) * q->kw + kj) * ohw;
                for (int64_t oy = 0; oy < q->oh; oy++) {
                    const int64_t iy = oy * q->sh - q->ph + ki * q->dh;
                    for (int64_t ox = 0; ox < q->ow; ox++) {
                        const int64_t ix = ox * q->sw - q->pw + kj * q->dw;
                        row[oy * q->ow + ox] = iy >= 0 && iy < q->h && ix >= 0 && ix < q->w
                                                   ? x[(c * q->h + iy) * q->w + ix]
                                                   : 0.0f;
                    }
                }
            }
}

static void conv_gemm_image(const conv_args *A, const float *x, float *y, float *col) {
    const conv_geom *q = A->q;
    const int64_t ihw = q->h * q->w, ohw = q->oh * q->ow;
    for (int64_t g = 0; g < q->group; g++) {
        float *yg = y + g * q->mg * ohw;
        im2col(q, x + g * q->cg * ihw, col);
        ptq_sgemm(0, 0, q->mg, ohw, q->k, 1.0f, A->w + g * q->mg * q->k, q->k, col, ohw, 0.0f, yg, ohw);
        for (int64_t r = 0; r < q->mg; r++) {
            const int64_t oc = g * q->mg + r;
            ptq_store_plane(yg + r * ohw, yg + r * ohw, 1, ohw, ohw, A->b ? A->b[oc] : 0.0f, A->ep, oc);
        }
    }
}

void ptq_fwd_conv(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    conv_geom q;
    geom(node, in, out->ne + 2, &q);
    const float *x = in[0].data;
    float *y = out->data;
    int64_t offs[MAX_TAPS];
    conv_args A = {&q, in[1].data, kc->shared, in[2].data, offs, kc->ep};
    const int64_t ihw = q.h * q.w, ohw = q.oh * q.ow;
    const bool flat = use_flat(&q);
    if (flat) {
        ptq_window_offsets(&q.win, offs);
        if (!use_dw(&q)) pack_weights(&q, A.w, kc->shared);
    }
#pragma omp parallel num_threads(kc->threads)
    {
        /* Images are handed out one at a time (dynamic), so a worker whose core is
         * busy with something else does less of the work instead of holding up the
         * others at the barrier; each image is computed the same way by any worker.
         * A worker zeroes its planes before its first image of the call, after which
         * only in-image positions are ever written. */
        float *scratch = kc->work + (size_t)omp_get_thread_num() * kc->work_floats;
        bool zeroed = !flat || q.in_place;
#pragma omp for schedule(dynamic, 1)
        for (int64_t img = 0; img < q.n; img++) {
            if (!zeroed) {
                memset(scratch, 0, (size_t)(q.cg * q.chan) * sizeof *scratch);
                zeroed = true;
            }
            if (flat) conv_flat_image(&A, x + img * q.c * ihw, y + img * q.m * ohw, scratch);
            else conv_gemm_image(&A, x + img * q.c * ihw, y + img * q.m * ohw, scratch);
        }
    }
}
