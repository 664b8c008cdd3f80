/* conv_grad.c — Conv backward (grad.h conventions): the weight gradient AdaRound needs at
 * every step, the input gradient block reconstruction needs, the bias gradient.
 *
 * Weight gradient.  Each image is laid out as the forward kernel lays it out (window.h:
 * zero-padded polyphase planes, flat positions p = oy * wq + ox) and dY in the same flat
 * positions, zero in the junk columns.  Then for output channel o, input channel c, tap t
 *
 *     dW[o][c][t] = sum over p of dYf[o][p] * planes[c][p + offset[t]]
 *
 * is a dot product of two contiguous runs, whatever the stride, dilation and padding.
 * A register tile of DW_MR output channels x DW_NR (channel, tap) pairs accumulates
 * those products a vector at a time over a few images, then reduces across lanes once.
 * No im2col copy, and every load feeds several FMAs: 2-4x faster than im2col + OpenBLAS
 * sgemm at 16-64 channels on 7x7-28x28 planes.  (A non-finite input value that no window
 * reads can meet a junk column's zero and make dW NaN: finite activations never do.)
 *
 * Input gradient.  dX is a unit-stride convolution of dY (spread out by the stride,
 * zeros between) with the weights flipped in space and transposed within each group, so
 * the forward kernel computes it, a few images at a time, into scratch planes that are
 * then added to dX.  A strided conv pays s^2 times the multiply-adds there (most of them
 * on zeros), still faster than im2col's col2im scatter, and only a unit whose strided
 * conv is not its first layer needs it.
 *
 * Depthwise convolutions (one output channel per group) have no two rows sharing an
 * input channel, so their tile is one output channel x DT_NT taps.
 *
 * Determinism: the batch is cut into slots by its size alone; one thread computes a slot,
 * image after image, into the slot's own partial dW, and the slots are summed in order at
 * the end.  An image's dX is written by the one thread that owns the image.  So results
 * do not depend on the thread count. */
#include <omp.h>

#include "grad.h"
#include "exec/kernels/simd.h"
#include "exec/kernels/window.h"

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

#define DW_MR 4 /* output channels per weight-gradient tile */
#if VL == 16
#define DW_NR 6 /* (channel, tap) pairs per tile: 24 accumulators of 32 registers */
#else
#define DW_NR 2
#endif
#define DT_NT 8 /* taps per depthwise tile */
#define SUB_POSITIONS 1024 /* flat positions a tile runs over (across images) per reduction */
#define MAX_SUB 8          /* ... but at most this many images at a time */
#define MAX_SLOTS 8        /* partial weight gradients: enough to keep 8 threads busy */
#define ALIGN 16           /* floats: scratch regions start on 64-byte boundaries */

typedef struct conv_geom {
    int64_t N, C, H, W, O, OH, OW, G, Cg, Og, kh, kw, sh, sw, dh, dw, ph, pw, peh, pew;
    int64_t taps, R, P;  /* R: (channel, tap) rows of one group; P: output positions */
    ptq_window win;      /* the forward's flat layout of one input channel */
    int64_t sub;         /* images laid out together for the weight-gradient tiles */
    int64_t per_slot, slots; /* images per weight-gradient slot, and slots */
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
    g->peh = d1 ? 0 : a->pad_end[0], g->pew = a->pad_end[d1 ? 0 : 1];
    g->OH = ptq_window_out(g->H, g->kh, g->sh, g->dh, g->ph, g->peh, 0);
    g->OW = ptq_window_out(g->W, g->kw, g->sw, g->dw, g->pw, g->pew, 0);
    g->taps = g->kh * g->kw;
    g->R = g->Cg * g->taps;
    g->P = g->OH * g->OW;
    ptq_window_init(&g->win, g->H, g->W, g->OH, g->OW, g->kh, g->kw, g->sh, g->sw, g->dh, g->dw,
                    g->ph, g->pw);
    /* Small planes take several images per tile so the lane reductions stay rare. */
    g->sub = PTQ_MIN(PTQ_MAX((SUB_POSITIONS + g->win.npos_r - 1) / g->win.npos_r, 1), MAX_SUB);
    g->per_slot = PTQ_MAX((g->N + MAX_SLOTS - 1) / MAX_SLOTS, PTQ_MIN(g->sub, g->N));
    g->slots = (g->N + g->per_slot - 1) / g->per_slot;
}

static size_t aligned(int64_t floats) { return (size_t)((floats + ALIGN - 1) / ALIGN * ALIGN); }

/* ---- the input gradient as a forward convolution ---------------------------------------- */

/* dX[y] = sum over taps i of W[i] dY[(y + p - i d) / s], over the i where that divides.
 * Spread dY out to U[z] = dY[z / s] at multiples of s (zeros between) and flip the kernel:
 * dX is then the unit-stride convolution of U with W'[i] = W[k - 1 - i], padded by
 * (k - 1) d - p before and H + p - 1 - (OH - 1) s after.  A negative pad crops U instead
 * (what it would drop reaches no dX position).  Per axis: */
typedef struct tr_axis {
    int64_t crop, len; /* U[crop .. crop + len) is what the forward reads */
    int64_t pb, pe;    /* its padding */
} tr_axis;

static tr_axis transposed_axis(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t p) {
    const int64_t before = (k - 1) * d - p, after = in + p - 1 - (out - 1) * s;
    tr_axis a;
    a.crop = before < 0 ? -before : 0;
    a.len = (out - 1) * s + 1 - a.crop - (after < 0 ? -after : 0);
    a.pb = before > 0 ? before : 0;
    a.pe = after > 0 ? after : 0;
    return a;
}

/* The Conv that maps U to dX: input channels O, output channels C, same groups and
 * dilations, weights W'[g Cg + c][o][i][j] = W[g Og + o][c][kh-1-i][kw-1-j]. */
typedef struct dx_conv {
    ptq_node node;
    ptq_kt in[3], out;   /* U (one image), W', no bias; dX (one image) */
    tr_axis ax[2];       /* H and W axes (H: a unit axis for 1-D) */
    bool spread;         /* U differs from dY (strided or cropped): built in the scratch */
    bool empty;          /* no dY position reaches dX (pads past every window) */
    size_t work, shared; /* the forward's scratch: per thread, and its packed weights */
} dx_conv;

static void dx_conv_init(const ptq_node *n, const conv_geom *g, dx_conv *t) {
    memset(t, 0, sizeof *t);
    t->ax[0] = transposed_axis(g->H, g->OH, g->kh, g->sh, g->dh, g->ph);
    t->ax[1] = transposed_axis(g->W, g->OW, g->kw, g->sw, g->dw, g->pw);
    t->empty = t->ax[0].len < 1 || t->ax[1].len < 1;
    t->spread = g->sh != 1 || g->sw != 1 || t->ax[0].crop || t->ax[1].crop ||
                t->ax[0].len != g->OH || t->ax[1].len != g->OW;
    t->node.op = PTQ_OP_CONV;
    t->node.n_inputs = 2;
    ptq_conv_attrs *a = &t->node.attrs.conv;
    *a = n->attrs.conv;
    const int32_t nsp = a->n_spatial;
    t->in[0].ndim = t->in[1].ndim = t->out.ndim = 2 + nsp;
    t->in[0].ne[0] = t->out.ne[0] = 1;
    t->in[0].ne[1] = g->O;
    t->out.ne[1] = t->in[1].ne[0] = g->C;
    t->in[1].ne[1] = g->Og;
    const int64_t sp_out[2] = {g->H, g->W}, k[2] = {g->kh, g->kw};
    for (int32_t i = 0; i < nsp; i++) { /* 1-D: the W axis only */
        const int32_t d = nsp == 1 ? 1 : i;
        a->stride[i] = 1;
        a->pad_begin[i] = t->ax[d].pb;
        a->pad_end[i] = t->ax[d].pe;
        t->in[0].ne[2 + i] = PTQ_MAX(t->ax[d].len, 1);
        t->out.ne[2 + i] = sp_out[d];
        t->in[1].ne[2 + i] = k[d];
    }
    t->in[2].ndim = 0;
    t->work = aligned((int64_t)ptq_work_conv(&t->node, t->in));
    t->shared = aligned((int64_t)ptq_work_conv_shared(&t->node, t->in));
}

static int64_t u_floats(const conv_geom *g, const dx_conv *t) {
    return t->spread ? g->O * t->ax[0].len * t->ax[1].len : 0;
}

static void flip_weights(const conv_geom *g, const float *w, float *wt) {
    for (int64_t grp = 0; grp < g->G; grp++)
        for (int64_t o = 0; o < g->Og; o++)
            for (int64_t c = 0; c < g->Cg; c++) {
                const float *src = w + ((grp * g->Og + o) * g->Cg + c) * g->taps;
                float *dst = wt + ((grp * g->Cg + c) * g->Og + o) * g->taps;
                for (int64_t t = 0; t < g->taps; t++) dst[t] = src[g->taps - 1 - t];
            }
}

/* U of one image from its dY: only the positions holding a dY value are written (the
 * zeros between them were filled once). */
static void spread_image(const conv_geom *g, const dx_conv *t, const float *dy, float *u) {
    const tr_axis *ay = &t->ax[0], *ax = &t->ax[1];
    for (int64_t o = 0; o < g->O; o++)
        for (int64_t oy = 0; oy < g->OH; oy++) {
            const int64_t z = oy * g->sh - ay->crop;
            if (z < 0 || z >= ay->len) continue;
            float *row = u + (o * ay->len + z) * ax->len;
            const float *src = dy + o * g->P + oy * g->OW;
            for (int64_t ox = 0; ox < g->OW; ox++) {
                const int64_t zx = ox * g->sw - ax->crop;
                if (zx >= 0 && zx < ax->len) row[zx] = src[ox];
            }
        }
}

/* dx (nimg images) += the forward convolution of their U with the flipped weights.  The
 * scratch holds U, the forward's packed weights and work area, and the result planes. */
static void dx_by_forward(const conv_geom *g, const dx_conv *t, const float *wt, const float *dy,
                          int64_t nimg, float *dx, float *scratch) {
    float *u = scratch;
    float *fwd = u + aligned(g->sub * u_floats(g, t));
    float *planes = fwd + t->shared + t->work;
    for (int64_t i = 0; t->spread && i < nimg; i++) spread_image(g, t, dy + i * g->O * g->P, u + i * u_floats(g, t));
    ptq_kt in[3] = {t->in[0], t->in[1], t->in[2]}, out = t->out;
    in[0].ne[0] = out.ne[0] = nimg;
    in[0].data = t->spread ? u : (void *)dy;
    in[1].data = (void *)wt;
    out.data = planes;
    const ptq_kctx kc = {.threads = 1, .work = fwd + t->shared, .work_floats = t->work, .shared = fwd};
    ptq_fwd_conv(&t->node, &kc, in, &out);
    const int64_t m = nimg * g->C * g->H * g->W;
    for (int64_t i = 0; i < m; i++) dx[i] += planes[i];
}

/* ---- the weight gradient over flat planes ------------------------------------------------- */

static inline vf vfma(vf a, vf b, vf c) {
#if defined(__AVX512F__)
    return (vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif defined(__FMA__) && VL == 8
    return (vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
    return a * b + c; /* this file is not built with FMA contraction */
#endif
}

static inline float vsum(vf v) {
#if defined(__AVX512F__)
    return _mm512_reduce_add_ps((__m512)v);
#else
    float s = 0.0f;
    for (int i = 0; i < VL; i++) s += v[i];
    return s;
#endif
}

/* dw[r * ldw + j] += sum over images i < nimg and positions p < npos of
 * dy[r][i * dy_img + p] * x[j][i * x_img + p], for r < mr, j < nr.  All DW_MR x DW_NR
 * products are computed (rows and runs past mr, nr repeat the last real one) so the
 * accumulators stay in registers; only the real ones are stored. */
static void dw_tile(const float *const *dy, const float *const *x, int64_t npos, int64_t nimg,
                    int64_t dy_img, int64_t x_img, float *dw, int64_t ldw, int64_t mr, int64_t nr) {
    vf acc[DW_MR][DW_NR];
    for (int r = 0; r < DW_MR; r++)
        for (int j = 0; j < DW_NR; j++) acc[r][j] = (vf){0};
    for (int64_t i = 0; i < nimg; i++)
        for (int64_t p = 0; p < npos; p += VL) {
            vf d[DW_MR];
            for (int r = 0; r < DW_MR; r++) d[r] = vload(dy[r] + i * dy_img + p);
            for (int j = 0; j < DW_NR; j++) {
                vf xv = vload(x[j] + i * x_img + p);
#if defined(__x86_64__) || defined(__i386__)
                /* Held in a register: left to itself GCC reloads it as a memory operand of
                 * each of the DW_MR FMAs, and the loop becomes load-bound (1.5x slower). */
                __asm__("" : "+v"(xv));
#endif
                for (int r = 0; r < DW_MR; r++) acc[r][j] = vfma(d[r], xv, acc[r][j]);
            }
        }
    for (int64_t r = 0; r < mr; r++)
        for (int64_t j = 0; j < nr; j++) dw[r * ldw + j] += vsum(acc[r][j]);
}

/* dw[j] += sum over images i < nimg and positions p < npos of dy[i * dy_img + p] *
 * x[j][i * x_img + p], for j < nt (runs past nt repeat the last real one). */
static void dw_tile_row(const float *dy, const float *const *x, int64_t npos, int64_t nimg,
                        int64_t dy_img, int64_t x_img, float *dw, int64_t nt) {
    vf acc[DT_NT];
    for (int j = 0; j < DT_NT; j++) acc[j] = (vf){0};
    for (int64_t i = 0; i < nimg; i++)
        for (int64_t p = 0; p < npos; p += VL) {
            const vf d = vload(dy + i * dy_img + p);
            for (int j = 0; j < DT_NT; j++) acc[j] = vfma(d, vload(x[j] + i * x_img + p), acc[j]);
        }
    for (int64_t j = 0; j < nt; j++) dw[j] += vsum(acc[j]);
}

/* Per-thread buffer of the weight gradient: g->sub images' planes, then their dY in flat
 * positions. */
static int64_t planes_floats(const conv_geom *g) { return g->C * g->win.chan; }
static int64_t dyf_floats(const conv_geom *g) { return g->O * g->win.npos_r; }

/* Lays out image i of a sub-batch: its planes (padding already zero) and flat dY (junk
 * columns already zero). */
static void flat_image(const conv_geom *g, const float *x, const float *dy, float *buf, int64_t i) {
    float *planes = buf + i * planes_floats(g);
    float *dyf = buf + g->sub * planes_floats(g) + i * dyf_floats(g);
    for (int64_t c = 0; c < g->C; c++) ptq_window_copy_in(&g->win, x + c * g->H * g->W, planes + c * g->win.chan);
    for (int64_t o = 0; o < g->O; o++)
        for (int64_t oy = 0; oy < g->OH; oy++)
            memcpy(dyf + o * g->win.npos_r + oy * g->win.wq, dy + o * g->P + oy * g->OW,
                   (size_t)g->OW * sizeof(float));
}

/* slot (O x R, like W) += the weight gradient of the nimg images laid out in buf. */
static void dw_images(const conv_geom *g, const int64_t *offs, const float *buf, int64_t nimg, float *slot) {
    const float *planes = buf, *dyf = buf + g->sub * planes_floats(g);
    for (int64_t grp = 0; grp < g->G; grp++) {
        if (g->Og == 1) { /* depthwise (or one output channel per group) */
            const float *dy = dyf + grp * g->win.npos_r;
            for (int64_t q0 = 0; q0 < g->R; q0 += DT_NT) {
                const int64_t nt = PTQ_MIN(DT_NT, g->R - q0);
                const float *x[DT_NT];
                for (int64_t j = 0; j < DT_NT; j++) {
                    const int64_t q = q0 + PTQ_MIN(j, nt - 1), c = q / g->taps, t = q % g->taps;
                    x[j] = planes + (grp * g->Cg + c) * g->win.chan + offs[t];
                }
                dw_tile_row(dy, x, g->win.npos_r, nimg, dyf_floats(g), planes_floats(g),
                            slot + grp * g->R + q0, nt);
            }
            continue;
        }
        for (int64_t o0 = 0; o0 < g->Og; o0 += DW_MR) {
            const int64_t mr = PTQ_MIN(DW_MR, g->Og - o0);
            const float *dy[DW_MR];
            for (int64_t r = 0; r < DW_MR; r++)
                dy[r] = dyf + (grp * g->Og + o0 + PTQ_MIN(r, mr - 1)) * g->win.npos_r;
            for (int64_t q0 = 0; q0 < g->R; q0 += DW_NR) {
                const int64_t nr = PTQ_MIN(DW_NR, g->R - q0);
                const float *x[DW_NR];
                for (int64_t j = 0; j < DW_NR; j++) {
                    const int64_t q = q0 + PTQ_MIN(j, nr - 1), c = q / g->taps, t = q % g->taps;
                    x[j] = planes + (grp * g->Cg + c) * g->win.chan + offs[t];
                }
                dw_tile(dy, x, g->win.npos_r, nimg, dyf_floats(g), planes_floats(g),
                        slot + (grp * g->Og + o0) * g->R + q0, g->R, mr, nr);
            }
        }
    }
}

/* ---- scratch -------------------------------------------------------------------------------- */

/* Where each part of the scratch goes (floats from its start; every part 64-byte aligned). */
typedef struct conv_scratch {
    size_t wt;         /* flipped weights for dX (after the dW slots) */
    size_t thread;     /* start of the per-thread areas */
    size_t per_thread; /* floats per thread: dW's flat images, then dX's U and forward */
    size_t dx_at;      /* dX's part of a thread's area */
    size_t total;
} conv_scratch;

static void scratch_layout(const conv_geom *g, const dx_conv *t, bool want_dx, bool want_dw,
                           int32_t threads, conv_scratch *s) {
    memset(s, 0, sizeof *s);
    const bool dx = want_dx && !t->empty;
    s->wt = want_dw ? aligned(g->slots * g->O * g->R) : 0;
    s->thread = s->wt + (dx ? aligned(g->C * g->Og * g->taps) : 0);
    const size_t dw_need = want_dw ? aligned(g->sub * (planes_floats(g) + dyf_floats(g))) : 0;
    const size_t dx_need = dx ? aligned(g->sub * u_floats(g, t)) + t->shared + t->work +
                                    aligned(g->sub * g->C * g->H * g->W)
                              : 0;
    s->dx_at = dw_need;
    s->per_thread = dw_need + dx_need;
    s->total = s->thread + s->per_thread * (size_t)threads;
}

size_t ptq_bwd_work_conv(const ptq_node *n, const ptq_kt *in, uint32_t want, int32_t threads) {
    conv_geom g;
    geometry(n, &in[0], &in[1], &g);
    dx_conv t = {0};
    const bool want_dx = want & 1u, want_dw = want & 2u;
    if (want_dx) dx_conv_init(n, &g, &t);
    conv_scratch s;
    scratch_layout(&g, &t, want_dx, want_dw, threads, &s);
    return s.total;
}

/* ---- bias -------------------------------------------------------------------------------- */

/* Sum of n floats, VL partial sums in a fixed order. */
static float plane_sum(const float *x, int64_t n) {
    vf acc = (vf){0};
    int64_t i = 0;
    for (; i + VL <= n; i += VL) acc += vload(x + i);
    float s = vsum(acc);
    for (; i < n; i++) s += x[i];
    return s;
}

static void bias_grad(const conv_geom *g, const float *dy, float *db, int32_t threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (g->N * g->O * g->P > 65536)
    for (int64_t o = 0; o < g->O; o++) {
        double s = 0.0;
        for (int64_t b = 0; b < g->N; b++) s += plane_sum(dy + (b * g->O + o) * g->P, g->P);
        db[o] += (float)s;
    }
}

/* ---- the kernel ------------------------------------------------------------------------------- */

void ptq_bwd_conv(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                  const ptq_kt *dout, ptq_kt *din) {
    (void)out;
    conv_geom g;
    geometry(n, &in[0], &in[1], &g);
    const float *x = in[0].data, *w = in[1].data, *dy = dout[0].data;
    float *dx = din[0].data, *dW = din[1].data;
    float *db = n->n_inputs > 2 ? din[2].data : NULL;
    if (db) bias_grad(&g, dy, db, gc->threads);
    if (!dx && !dW) return;
    dx_conv t = {0};
    if (dx) dx_conv_init(n, &g, &t);
    const bool do_dx = dx && !t.empty;
    conv_scratch s;
    scratch_layout(&g, &t, dx != NULL, dW != NULL, gc->threads, &s);
    PTQ_ASSERT(s.total <= gc->work_floats);
    float *work = gc->work;
    const int64_t xs = g.C * g.H * g.W, ys = g.O * g.P, wsz = g.O * g.R;
    if (dW) memset(work, 0, (size_t)(g.slots * wsz) * sizeof(float));
    if (do_dx) flip_weights(&g, w, work + s.wt);
    int64_t offs_stack[256];
    int64_t *offs = g.taps <= 256 ? offs_stack : malloc((size_t)g.taps * sizeof *offs);
    PTQ_ASSERT(offs);
    ptq_window_offsets(&g.win, offs);

    if (dW || do_dx) {
#pragma omp parallel num_threads(gc->threads)
        {
            float *mine = work + s.thread + s.per_thread * (size_t)omp_get_thread_num();
            /* Padding, junk columns and U's gaps stay zero: only positions that hold a
             * value are ever written. */
            if (dW) memset(mine, 0, (size_t)(g.sub * (planes_floats(&g) + dyf_floats(&g))) * sizeof(float));
            if (do_dx) memset(mine + s.dx_at, 0, (size_t)(g.sub * u_floats(&g, &t)) * sizeof(float));
#pragma omp for schedule(dynamic, 1)
            for (int64_t k = 0; k < g.slots; k++) {
                const int64_t b_end = PTQ_MIN(g.N, (k + 1) * g.per_slot);
                for (int64_t b0 = k * g.per_slot; b0 < b_end; b0 += g.sub) {
                    const int64_t nimg = PTQ_MIN(g.sub, b_end - b0);
                    if (dW) {
                        for (int64_t i = 0; i < nimg; i++) flat_image(&g, x + (b0 + i) * xs, dy + (b0 + i) * ys, mine, i);
                        dw_images(&g, offs, mine, nimg, work + k * wsz);
                    }
                    if (do_dx) dx_by_forward(&g, &t, work + s.wt, dy + b0 * ys, nimg, dx + b0 * xs, mine + s.dx_at);
                }
            }
        }
    }
    if (dW) { /* slots summed in order, whatever thread computed them */
#pragma omp parallel for num_threads(gc->threads) schedule(static) if (wsz > 4096)
        for (int64_t e = 0; e < wsz; e++) {
            float sum = 0.0f;
            for (int64_t k = 0; k < g.slots; k++) sum += work[k * wsz + e];
            dW[e] += sum;
        }
    }
    if (offs != offs_stack) free(offs);
}
