/* conv.c — 1-D and 2-D convolution, NCHW.
 *
 * Three paths, chosen per node:
 *
 *   - stride 1 with more than one input channel per group: the "flat" direct kernel.
 *     Each input plane is copied once into a zero-padded plane of width Wp = W + pads;
 *     in that layout every output row is contiguous with its neighbours (Wp - OW junk
 *     columns between rows), so the convolution becomes a 1-D one over the flattened
 *     plane: out[p] = sum over (c, tap) of w * xpad[c][p + tap offset].  A register
 *     tile of MR output channels x NV vectors of positions accumulates over every
 *     (channel, tap) with one broadcast weight per FMA row; junk columns are dropped
 *     when the tile is written back.  No im2col, no packing of the image, full-width
 *     vector loads: on these CNNs it runs about 3x faster than im2col + sgemm.
 *   - one input channel per group (depthwise, any channel multiplier): a direct loop
 *     per output channel; no GEMM and no multiplications by zero.
 *   - everything else (strided convs): im2col of one group of one image into per-thread
 *     scratch, then one sgemm per group, so grouped convs never multiply by the zero
 *     blocks of a block-diagonal weight.
 *
 * Work is split across images (and across channels for depthwise); each image is
 * computed the same way whatever the thread count, so results are bitwise reproducible.
 * The summation order over (channel, tap) is the same as a naive loop's. */
#include <omp.h>

#include "internal.h"

/* Register tile of the flat kernel: MR output channels x NV vectors of VL floats.
 * Sized to the vector ISA the build targets: 24 accumulators + NV loads + 1 broadcast
 * fit AVX-512's 32 registers; AVX2 and SSE get fewer. */
#if defined(__AVX512F__)
#define VL 16
#define NV 6
#elif defined(__AVX__)
#define VL 8
#define NV 3
#else
#define VL 4
#define NV 3
#endif
#define MR 4

typedef float vf __attribute__((vector_size(VL * 4)));
typedef float vf_u __attribute__((vector_size(VL * 4), aligned(4))); /* unaligned access */

typedef struct conv_geom {
    int64_t n, c, h, w;    /* input */
    int64_t m, oh, ow;     /* output */
    int64_t kh, kw, sh, sw, dh, dw, ph, pw, peh, pew;
    int64_t group, cg, mg; /* channels per group in and out */
    int64_t k;             /* reduction length: cg * kh * kw */
    int64_t taps;          /* kh * kw */
    /* flat path: each input channel as sh*sw polyphase planes of hq x wq */
    int64_t hq, wq;
    int64_t chan;          /* floats per channel: sh*sw*hq*wq plus slack for over-reads */
    int64_t npos;          /* flat output positions: (oh - 1) * wq + ow */
    int64_t npos_r;        /* npos rounded up to whole vectors */
    int64_t mblocks;       /* ceil(mg / MR) */
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
    const int64_t hp = q->h + q->ph + q->peh, wp = q->w + q->pw + q->pew;
    q->hq = (hp + q->sh - 1) / q->sh;
    q->wq = (wp + q->sw - 1) / q->sw;
    q->npos = (q->oh - 1) * q->wq + q->ow;
    q->npos_r = (q->npos + VL - 1) / VL * VL;
    /* Over-reads of the last vector of a tile stay within VL floats past the channel. */
    q->chan = (q->sh * q->sw * q->hq * q->wq + VL + 15) / 16 * 16;
    q->mblocks = (q->mg + MR - 1) / MR;
}

/* Output spatial dims of a conv from its attributes (the work query has no output). */
static void out_spatial(const ptq_node *n, const ptq_kt *in, int64_t *sp) {
    const ptq_conv_attrs *a = &n->attrs.conv;
    for (int32_t i = 0; i < a->n_spatial; i++) {
        int64_t span = a->dilation[i] * (a->kernel[i] - 1) + 1;
        sp[i] = (in[0].ne[2 + i] + a->pad_begin[i] + a->pad_end[i] - span) / a->stride[i] + 1;
    }
}

/* The flat kernel takes every conv but those whose tap table would not fit the stack. */
static bool use_flat(const conv_geom *q) { return q->taps <= 64; }

size_t ptq_work_conv(const ptq_node *n, const ptq_kt *in) {
    int64_t sp[2];
    conv_geom q;
    out_spatial(n, in, sp);
    geom(n, in, sp, &q);
    if (use_flat(&q)) return (size_t)(q.cg * q.chan + MR * q.npos_r);
    return (size_t)(q.k * q.oh * q.ow);
}

size_t ptq_work_conv_shared(const ptq_node *n, const ptq_kt *in) {
    int64_t sp[2];
    conv_geom q;
    out_spatial(n, in, sp);
    geom(n, in, sp, &q);
    return use_flat(&q) && q.cg > 1 ? (size_t)(q.group * q.mblocks * MR * q.k) : 0;
}

/* ---- flat direct kernel ------------------------------------------------------------- */

/* Packs the weights as [group][mblock][c][tap][MR], zero rows past mg, so the tile's
 * MR broadcasts for one (channel, tap) are adjacent. */
static void pack_weights(const conv_geom *q, const float *w, float *pk) {
    for (int64_t g = 0; g < q->group; g++) {
        for (int64_t mb = 0; mb < q->mblocks; mb++) {
            float *dst = pk + (g * q->mblocks + mb) * MR * q->k;
            for (int64_t c = 0; c < q->cg; c++)
                for (int64_t t = 0; t < q->taps; t++)
                    for (int64_t r = 0; r < MR; r++) {
                        int64_t oc = mb * MR + r;
                        *dst++ = oc < q->mg ? w[((g * q->mg + oc) * q->cg + c) * q->taps + t] : 0.0f;
                    }
        }
    }
}

/* Copies one input channel into its zero-padded polyphase planes: phase (a, b) holds
 * padded rows a, a+sh, ... and columns b, b+sw, ...  With stride 1 that is just the
 * zero-padded plane.  Every tap then reads a contiguous run of one phase plane. */
static void pad_channel(const conv_geom *q, const float *x, float *dst) {
    const int64_t pq = q->hq * q->wq;
    for (int64_t a = 0; a < q->sh; a++) {
        for (int64_t b = 0; b < q->sw; b++) {
            float *ph = dst + (a * q->sw + b) * pq;
            for (int64_t r = 0; r < q->hq; r++) {
                float *row = ph + r * q->wq;
                const int64_t iy = r * q->sh + a - q->ph;
                if (iy < 0 || iy >= q->h) {
                    memset(row, 0, (size_t)q->wq * sizeof *row);
                    continue;
                }
                const float *xr = x + iy * q->w;
                if (q->sw == 1) {
                    /* columns: pw zeros, the row, then zeros to wq */
                    int64_t lead = PTQ_MIN(q->pw, q->wq), n = PTQ_MIN(q->w, q->wq - lead);
                    memset(row, 0, (size_t)lead * sizeof *row);
                    memcpy(row + lead, xr, (size_t)n * sizeof *row);
                    memset(row + lead + n, 0, (size_t)(q->wq - lead - n) * sizeof *row);
                } else {
                    for (int64_t j = 0; j < q->wq; j++) {
                        const int64_t ix = j * q->sw + b - q->pw;
                        row[j] = ix >= 0 && ix < q->w ? xr[ix] : 0.0f;
                    }
                }
            }
        }
    }
    memset(dst + q->sh * q->sw * pq, 0, (size_t)(q->chan - q->sh * q->sw * pq) * sizeof *dst);
}

/* Offset of each tap inside a channel's polyphase planes. */
static void tap_offsets(const conv_geom *q, int64_t *offs) {
    const int64_t pq = q->hq * q->wq;
    for (int64_t ki = 0; ki < q->kh; ki++)
        for (int64_t kj = 0; kj < q->kw; kj++) {
            const int64_t ry = ki * q->dh, rx = kj * q->dw;
            offs[ki * q->kw + kj] =
                ((ry % q->sh) * q->sw + rx % q->sw) * pq + (ry / q->sh) * q->wq + rx / q->sw;
        }
}

/* One register tile: MR channels x nv vectors starting at flat position p0.  nv is a
 * compile-time constant in every call (see flat_tile_dispatch), so the accumulator
 * array lives in registers. */
static inline __attribute__((always_inline)) void flat_tile(const float *xp, int64_t chan,
                                                            int64_t cg, const int64_t *offs,
                                                            int64_t taps, const float *wpk,
                                                            float *out, int64_t ostride,
                                                            int64_t p0, const int nv) {
    vf acc[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = (vf){0};
    const float *w = wpk;
    for (int64_t c = 0; c < cg; c++) {
        const float *xc = xp + c * chan + p0;
        for (int64_t t = 0; t < taps; t++, w += MR) {
            const float *xs = xc + offs[t];
            vf xv[NV];
            for (int v = 0; v < nv; v++) xv[v] = *(const vf_u *)(xs + v * VL);
            for (int r = 0; r < MR; r++) {
                const float wr = w[r];
                for (int v = 0; v < nv; v++) acc[r][v] += xv[v] * wr;
            }
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < nv; v++) *(vf_u *)(out + r * ostride + p0 + v * VL) = acc[r][v];
}

static void flat_tile_dispatch(const float *xp, int64_t chan, int64_t cg, const int64_t *offs,
                               int64_t taps, const float *wpk, float *out, int64_t ostride,
                               int64_t p0, int nv) {
    switch (nv) {
#define CASE(k)                                                                            \
    case k: flat_tile(xp, chan, cg, offs, taps, wpk, out, ostride, p0, k); break;
        CASE(1)
        CASE(2)
        CASE(3)
#if NV > 3
        CASE(4)
        CASE(5)
        CASE(6)
#endif
#undef CASE
    default: PTQ_ABORT("flat conv tile of %d vectors", nv);
    }
}

/* Depthwise tile: one output channel reading one input channel, nv vectors. */
static inline __attribute__((always_inline)) void dw_tile(const float *xc, const int64_t *offs,
                                                          int64_t taps, const float *w,
                                                          float *out, int64_t p0, const int nv) {
    vf acc[NV];
    for (int v = 0; v < nv; v++) acc[v] = (vf){0};
    for (int64_t t = 0; t < taps; t++) {
        const float *xs = xc + p0 + offs[t];
        const float wt = w[t];
        for (int v = 0; v < nv; v++) acc[v] += *(const vf_u *)(xs + v * VL) * wt;
    }
    for (int v = 0; v < nv; v++) *(vf_u *)(out + p0 + v * VL) = acc[v];
}

static void dw_tile_dispatch(const float *xc, const int64_t *offs, int64_t taps, const float *w,
                             float *out, int64_t p0, int nv) {
    switch (nv) {
#define CASE(k)                                                                            \
    case k: dw_tile(xc, offs, taps, w, out, p0, k); break;
        CASE(1)
        CASE(2)
        CASE(3)
#if NV > 3
        CASE(4)
        CASE(5)
        CASE(6)
#endif
#undef CASE
    default: PTQ_ABORT("depthwise tile of %d vectors", nv);
    }
}

/* Writes the valid columns of one channel's flat outputs (plus the bias) into NCHW,
 * then the fused epilogue if there is one. */
static void store_channel(const conv_geom *q, const float *restrict flat, float bias,
                          float *restrict y, const ptq_epilogue *ep, int64_t oc) {
    for (int64_t i = 0; i < q->oh; i++) {
        const float *restrict src = flat + i * q->wq;
        float *restrict dst = y + i * q->ow;
        for (int64_t j = 0; j < q->ow; j++) dst[j] = src[j] + bias;
    }
    if (ep) ptq_epilogue_apply(ep, oc, y, q->oh * q->ow);
}

/* Runs tiles over all flat positions: full NV-vector tiles, then one narrower tail. */
#define FOR_TILES(q, CALL)                                                                 \
    do {                                                                                   \
        int64_t p0 = 0;                                                                    \
        for (; p0 + NV * VL <= (q)->npos_r; p0 += NV * VL) CALL(p0, NV);                   \
        if (p0 < (q)->npos_r) CALL(p0, (int)(((q)->npos_r - p0) / VL));                    \
    } while (0)

/* One image: for each group, lay out its channels as padded polyphase planes, then
 * for each block of MR output channels run tiles over all positions and store. */
static void conv_flat_image(const conv_geom *q, const float *x, const float *w,
                            const float *wpk, const float *b, float *y, float *scratch,
                            const ptq_epilogue *ep) {
    float *xp = scratch;                     /* cg channels of polyphase planes */
    float *tile = scratch + q->cg * q->chan; /* MR rows of npos_r flat outputs */
    const int64_t ihw = q->h * q->w, ohw = q->oh * q->ow;
    int64_t offs[64];
    tap_offsets(q, offs);
    for (int64_t g = 0; g < q->group; g++) {
        for (int64_t c = 0; c < q->cg; c++)
            pad_channel(q, x + (g * q->cg + c) * ihw, xp + c * q->chan);
        if (q->cg == 1) {
            for (int64_t r = 0; r < q->mg; r++) {
                const int64_t oc = g * q->mg + r;
                const float *wo = w + oc * q->taps;
#define DW(p0, nv) dw_tile_dispatch(xp, offs, q->taps, wo, tile, p0, nv)
                FOR_TILES(q, DW);
#undef DW
                store_channel(q, tile, b ? b[oc] : 0.0f, y + oc * ohw, ep, oc);
            }
            continue;
        }
        for (int64_t mb = 0; mb < q->mblocks; mb++) {
            const float *wb = wpk + (g * q->mblocks + mb) * MR * q->k;
#define TILE(p0, nv) flat_tile_dispatch(xp, q->chan, q->cg, offs, q->taps, wb, tile, q->npos_r, p0, nv)
            FOR_TILES(q, TILE);
#undef TILE
            for (int64_t r = 0; r < MR && mb * MR + r < q->mg; r++) {
                const int64_t oc = g * q->mg + mb * MR + r;
                store_channel(q, tile + r * q->npos_r, b ? b[oc] : 0.0f, y + oc * ohw, ep, oc);
            }
        }
    }
}

/* ---- im2col + sgemm --------------------------------------------------------------- */

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

static void conv_gemm_image(const conv_geom *q, const float *x, const float *w, const float *b,
                            float *y, float *col, const ptq_epilogue *ep) {
    const int64_t ihw = q->h * q->w, ohw = q->oh * q->ow;
    for (int64_t g = 0; g < q->group; g++) {
        const float *xg = x + g * q->cg * ihw;
        float *yg = y + g * q->mg * ohw;
        im2col(q, xg, col);
        ptq_sgemm(0, 0, q->mg, ohw, q->k, 1.0f, w + g * q->mg * q->k, q->k, col, ohw, 0.0f, yg, ohw);
        for (int64_t oc = 0; oc < q->mg; oc++) {
            float *yr = yg + oc * ohw;
            if (b) {
                const float bv = b[g * q->mg + oc];
                for (int64_t i = 0; i < ohw; i++) yr[i] += bv;
            }
            if (ep) ptq_epilogue_apply(ep, g * q->mg + oc, yr, ohw);
        }
    }
}

void ptq_fwd_conv(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    conv_geom q;
    geom(node, in, out->ne + 2, &q);
    const float *x = in[0].data, *w = in[1].data, *b = in[2].data;
    float *y = out->data;
    const int64_t ihw = q.h * q.w, ohw = q.oh * q.ow;
    if (use_flat(&q)) {
        if (q.cg > 1) pack_weights(&q, w, kc->shared);
#pragma omp parallel for num_threads(kc->threads) schedule(static)
        for (int64_t img = 0; img < q.n; img++)
            conv_flat_image(&q, x + img * q.c * ihw, w, kc->shared, b, y + img * q.m * ohw,
                            kc->work + (size_t)omp_get_thread_num() * kc->work_floats, kc->ep);
        return;
    }
#pragma omp parallel for num_threads(kc->threads) schedule(static)
    for (int64_t img = 0; img < q.n; img++)
        conv_gemm_image(&q, x + img * q.c * ihw, w, b, y + img * q.m * ohw,
                        kc->work + (size_t)omp_get_thread_num() * kc->work_floats, kc->ep);
}
