/* grad_ops.c — backward of every IR op (see grad.h for the conventions).
 *
 * Written for clarity first: plain loops in the forward kernels' index order, the
 * products (Gemm, MatMul) through OpenBLAS (ptq_sgemm).  The one op whose backward dominates a
 * reconstruction step, Conv, lives in kernels/conv_grad.c and is tuned.  Every loop here
 * runs on one thread, so results never depend on the thread count. */
#include <math.h>

#include "grad.h"
#include "ptq/ptq_plugin.h"

/* ---- helpers -------------------------------------------------------------------------- */

/* Strides of t's dims right-aligned to an output of rank `ndim` with dims `ne`; 0 where t
 * broadcasts (numpy rules). */
static void broadcast_strides(const ptq_kt *t, int32_t ndim, int64_t *st) {
    int64_t s = 1;
    for (int32_t i = ndim - 1; i >= 0; i--) {
        const int32_t ti = i - (ndim - t->ndim);
        const int64_t d = ti >= 0 ? t->ne[ti] : 1;
        st[i] = d == 1 ? 0 : s;
        s *= d;
    }
}

/* ---- elementwise ---------------------------------------------------------------------- */

static void bwd_binary(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                       const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    const int32_t nd = out->ndim;
    int64_t sa[PTQ_MAX_DIMS], sb[PTQ_MAX_DIMS], idx[PTQ_MAX_DIMS] = {0};
    broadcast_strides(&in[0], nd, sa);
    broadcast_strides(&in[1], nd, sb);
    const float *a = in[0].data, *b = in[1].data, *dy = dout[0].data;
    float *da = din[0].data, *db = din[1].data;
    const int64_t total = ptq_kt_numel(out);
    int64_t oa = 0, ob = 0;
    for (int64_t e = 0; e < total; e++) {
        const float g = dy[e];
        switch (n->op) {
        case PTQ_OP_ADD:
            if (da) da[oa] += g;
            if (db) db[ob] += g;
            break;
        case PTQ_OP_SUB:
            if (da) da[oa] += g;
            if (db) db[ob] -= g;
            break;
        case PTQ_OP_MUL:
            if (da) da[oa] += g * b[ob];
            if (db) db[ob] += g * a[oa];
            break;
        default: /* DIV */
            if (da) da[oa] += g / b[ob];
            if (db) db[ob] -= g * a[oa] / (b[ob] * b[ob]);
            break;
        }
        /* Advance the multi-index (last dim fastest) and both offsets. */
        for (int32_t d = nd - 1; d >= 0; d--) {
            oa += sa[d];
            ob += sb[d];
            if (++idx[d] < out->ne[d]) break;
            oa -= sa[d] * out->ne[d];
            ob -= sb[d] * out->ne[d];
            idx[d] = 0;
        }
    }
}

static void bwd_unary(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                      const ptq_kt *dout, ptq_kt *din) {
    float *dx = din[0].data;
    if (!dx) return;
    const float *x = in[0].data, *y = out[0].data, *dy = dout[0].data;
    const ptq_node_attrs *a = &n->attrs;
    const int64_t m = ptq_kt_numel(out);
    if (n->op == PTQ_OP_RELU) { /* the common case, vectorised and on every thread */
#pragma omp parallel for num_threads(gc->threads) schedule(static) if (m > 65536)
        for (int64_t i = 0; i < m; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
        return;
    }
    for (int64_t i = 0; i < m; i++) {
        float d;
        switch (n->op) {
        case PTQ_OP_RELU: d = x[i] > 0.0f ? 1.0f : 0.0f; break;
        /* torch.clamp's rule: the gradient passes on the bounds themselves. */
        case PTQ_OP_CLIP: d = x[i] >= a->clip_min && x[i] <= a->clip_max ? 1.0f : 0.0f; break;
        case PTQ_OP_LEAKY_RELU: d = x[i] >= 0.0f ? 1.0f : a->alpha; break;
        case PTQ_OP_SIGMOID: d = y[i] * (1.0f - y[i]); break;
        case PTQ_OP_TANH: d = 1.0f - y[i] * y[i]; break;
        case PTQ_OP_HARD_SIGMOID: {
            const float v = a->alpha * x[i] + a->beta;
            d = v > 0.0f && v < 1.0f ? a->alpha : 0.0f;
            break;
        }
        case PTQ_OP_HARD_SWISH: /* x * clamp(x + 3, 0, 6) / 6 */
            d = x[i] < -3.0f ? 0.0f : (x[i] > 3.0f ? 1.0f : (2.0f * x[i] + 3.0f) / 6.0f);
            break;
        default: d = 1.0f; break; /* Flatten, Reshape: a copy */
        }
        dx[i] += dy[i] * d;
    }
}

static void bwd_batch_norm(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                           const ptq_kt *dout, ptq_kt *din) {
    (void)gc, (void)out;
    const int64_t N = in[0].ne[0], C = in[0].ndim > 1 ? in[0].ne[1] : 1;
    const int64_t inner = ptq_kt_numel(&in[0]) / PTQ_MAX(N * C, 1);
    const float *x = in[0].data, *gamma = in[1].data, *mean = in[3].data, *var = in[4].data;
    const float *dy = dout[0].data;
    float *dx = din[0].data, *dg = din[1].data, *dbeta = din[2].data, *dm = din[3].data, *dv = din[4].data;
    /* y = (x - mean) gamma / sqrt(var + eps) + beta, statistics frozen (inference form). */
    for (int64_t c = 0; c < C; c++) {
        const float inv = 1.0f / sqrtf(var[c] + n->attrs.epsilon), a = gamma[c] * inv;
        double sg = 0.0, sb = 0.0;
        for (int64_t b = 0; b < N; b++) {
            const int64_t off = (b * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) {
                if (dx) dx[off + i] += dy[off + i] * a;
                sg += (double)dy[off + i] * (x[off + i] - mean[c]) * inv;
                sb += dy[off + i];
            }
        }
        if (dg) dg[c] += (float)sg;
        if (dbeta) dbeta[c] += (float)sb;
        if (dm) dm[c] -= (float)(sb * a);
        if (dv) dv[c] += (float)(sg * gamma[c] * -0.5 * inv * inv);
    }
}

/* ---- pooling ---------------------------------------------------------------------------- */

/* Geometry of a windowed pool as 2-D (a 1-D pool is H = 1). */
typedef struct pool_geom {
    int64_t H, W, OH, OW, kh, kw, sh, sw, dh, dw, ph, pw, peh, pew;
} pool_geom;

static void pool_geometry(const ptq_pool_attrs *a, const ptq_kt *x, const ptq_kt *y, pool_geom *g) {
    const bool d1 = a->n_spatial == 1;
    g->H = d1 ? 1 : x->ne[2];
    g->W = d1 ? x->ne[2] : x->ne[3];
    g->OH = d1 ? 1 : y->ne[2];
    g->OW = d1 ? y->ne[2] : y->ne[3];
    g->kh = d1 ? 1 : a->kernel[0], g->kw = a->kernel[d1 ? 0 : 1];
    g->sh = d1 ? 1 : a->stride[0], g->sw = a->stride[d1 ? 0 : 1];
    g->dh = d1 ? 1 : a->dilation[0], g->dw = a->dilation[d1 ? 0 : 1];
    g->ph = d1 ? 0 : a->pad_begin[0], g->pw = a->pad_begin[d1 ? 0 : 1];
    g->peh = d1 ? 0 : a->pad_end[0], g->pew = a->pad_end[d1 ? 0 : 1];
}

static void bwd_pool(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                     const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    float *dx = din[0].data;
    if (!dx) return;
    const ptq_pool_attrs *a = &n->attrs.pool;
    pool_geom g;
    pool_geometry(a, &in[0], out, &g);
    const int64_t planes = in[0].ne[0] * in[0].ne[1];
    const bool is_max = n->op == PTQ_OP_MAX_POOL;
    const float *x = in[0].data, *dy = dout[0].data;
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * g.H * g.W;
        float *dxp = dx + p * g.H * g.W;
        const float *dyp = dy + p * g.OH * g.OW;
        for (int64_t oy = 0; oy < g.OH; oy++)
            for (int64_t ox = 0; ox < g.OW; ox++) {
                const float gy = dyp[oy * g.OW + ox];
                const int64_t y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
                if (is_max) {
                    /* The forward's winner: the first strict maximum in tap order, above
                     * -inf (a NaN never wins); a window with none passes no gradient. */
                    float best = -INFINITY;
                    int64_t at = -1;
                    for (int64_t i = 0; i < g.kh; i++)
                        for (int64_t j = 0; j < g.kw; j++) {
                            const int64_t yy = y0 + i * g.dh, xx = x0 + j * g.dw;
                            if (yy < 0 || yy >= g.H || xx < 0 || xx >= g.W) continue;
                            if (xp[yy * g.W + xx] > best) best = xp[yy * g.W + xx], at = yy * g.W + xx;
                        }
                    if (at >= 0) dxp[at] += gy;
                    continue;
                }
                /* Average: PyTorch's divisor (see pool.c): taps inside the input, or with
                 * count_include_pad every tap up to the padded edge. */
                int64_t count = 0;
                for (int64_t i = 0; i < g.kh; i++)
                    for (int64_t j = 0; j < g.kw; j++) {
                        const int64_t yy = y0 + i * g.dh, xx = x0 + j * g.dw;
                        const bool inside = yy >= 0 && yy < g.H && xx >= 0 && xx < g.W;
                        const bool padded = yy >= -g.ph && yy < g.H + g.peh && xx >= -g.pw && xx < g.W + g.pew;
                        count += a->count_include_pad ? padded : inside;
                    }
                if (count == 0) continue;
                const float share = gy / (float)count;
                for (int64_t i = 0; i < g.kh; i++)
                    for (int64_t j = 0; j < g.kw; j++) {
                        const int64_t yy = y0 + i * g.dh, xx = x0 + j * g.dw;
                        if (yy >= 0 && yy < g.H && xx >= 0 && xx < g.W) dxp[yy * g.W + xx] += share;
                    }
            }
    }
}

static void bwd_global_pool(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                            const ptq_kt *dout, ptq_kt *din) {
    (void)gc, (void)out;
    float *dx = din[0].data;
    if (!dx) return;
    const int64_t planes = in[0].ne[0] * in[0].ne[1];
    const int64_t hw = ptq_kt_numel(&in[0]) / PTQ_MAX(planes, 1);
    const float *x = in[0].data, *dy = dout[0].data;
    for (int64_t p = 0; p < planes; p++) {
        if (n->op == PTQ_OP_GLOBAL_AVERAGE_POOL) {
            const float share = dy[p] / (float)hw;
            for (int64_t i = 0; i < hw; i++) dx[p * hw + i] += share;
        } else { /* the forward's winner, as in bwd_pool */
            float best = -INFINITY;
            int64_t at = -1;
            for (int64_t i = 0; i < hw; i++)
                if (x[p * hw + i] > best) best = x[p * hw + i], at = i;
            if (at >= 0) dx[p * hw + at] += dy[p];
        }
    }
}

/* ---- layout ---------------------------------------------------------------------------- */

static void bwd_transpose(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                          const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    float *dx = din[0].data;
    if (!dx) return;
    const int32_t nd = in[0].ndim;
    int64_t sx[PTQ_MAX_DIMS], so[PTQ_MAX_DIMS], idx[PTQ_MAX_DIMS] = {0};
    int64_t s = 1;
    for (int32_t i = nd - 1; i >= 0; i--) sx[i] = s, s *= in[0].ne[i];
    /* Output dim d walks input dim perm[d]. */
    for (int32_t d = 0; d < nd; d++) so[d] = sx[n->attrs.perm[d]];
    const float *dy = dout[0].data;
    const int64_t total = ptq_kt_numel(out);
    int64_t off = 0;
    for (int64_t e = 0; e < total; e++) {
        dx[off] += dy[e];
        for (int32_t d = nd - 1; d >= 0; d--) {
            off += so[d];
            if (++idx[d] < out->ne[d]) break;
            off -= so[d] * out->ne[d];
            idx[d] = 0;
        }
    }
}

static void bwd_concat(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                       const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    const int64_t axis = n->attrs.axis;
    int64_t outer = 1, inner = 1;
    for (int32_t i = 0; i < out->ndim; i++) {
        if (i < axis) outer *= out->ne[i];
        if (i > axis) inner *= out->ne[i];
    }
    const int64_t dtot = out->ne[axis];
    const float *dy = dout[0].data;
    int64_t at = 0;
    for (int32_t k = 0; k < n->n_inputs; k++) {
        const int64_t dk = in[k].ne[axis];
        float *dx = din[k].data;
        for (int64_t o = 0; dx && o < outer; o++)
            for (int64_t i = 0; i < dk * inner; i++) dx[o * dk * inner + i] += dy[(o * dtot + at) * inner + i];
        at += dk;
    }
}

static void bwd_softmax(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                        const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    float *dx = din[0].data;
    if (!dx) return;
    const int64_t axis = n->attrs.axis;
    int64_t outer = 1, d = 1, inner = 1;
    for (int32_t i = 0; i < in[0].ndim; i++) {
        if (i < axis) outer *= in[0].ne[i];
        else if (i == axis || n->attrs.softmax_legacy) d *= in[0].ne[i];
        else inner *= in[0].ne[i];
    }
    const float *y = out[0].data, *dy = dout[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const int64_t base = o * d * inner + i;
            double dot = 0.0;
            for (int64_t k = 0; k < d; k++) dot += (double)dy[base + k * inner] * y[base + k * inner];
            for (int64_t k = 0; k < d; k++)
                dx[base + k * inner] += y[base + k * inner] * (dy[base + k * inner] - (float)dot);
        }
}

static void bwd_pad(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                    const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    float *dx = din[0].data;
    if (!dx) return;
    const int32_t nd = in[0].ndim;
    int64_t sx[PTQ_MAX_DIMS], idx[PTQ_MAX_DIMS] = {0}, s = 1;
    for (int32_t i = nd - 1; i >= 0; i--) sx[i] = s, s *= in[0].ne[i];
    const float *dy = dout[0].data;
    const int64_t total = ptq_kt_numel(out);
    /* Walk the output: element idx came from input idx - begin pad when that is inside
     * the input (negative pads crop, so not every input element reaches the output). */
    for (int64_t e = 0; e < total; e++) {
        int64_t off = 0;
        bool inside = true;
        for (int32_t d = 0; d < nd && inside; d++) {
            const int64_t j = idx[d] - n->attrs.pads[d];
            inside = j >= 0 && j < in[0].ne[d];
            off += j * sx[d];
        }
        if (inside) dx[off] += dy[e];
        for (int32_t d = nd - 1; d >= 0; d--) {
            if (++idx[d] < out->ne[d]) break;
            idx[d] = 0;
        }
    }
}

static void bwd_gather(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                       const ptq_kt *dout, ptq_kt *din) {
    (void)gc, (void)out;
    float *dx = din[0].data;
    if (!dx) return;
    const int64_t axis = n->attrs.axis;
    int64_t outer = 1, inner = 1;
    for (int32_t i = 0; i < in[0].ndim; i++) {
        if (i < axis) outer *= in[0].ne[i];
        if (i > axis) inner *= in[0].ne[i];
    }
    const int64_t d = in[0].ne[axis], ni = ptq_kt_numel(&in[1]);
    const int64_t *ix = in[1].data;
    const float *dy = dout[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < ni; k++) {
            const int64_t idx = ix[k] < 0 ? ix[k] + d : ix[k];
            for (int64_t i = 0; i < inner; i++) dx[(o * d + idx) * inner + i] += dy[(o * ni + k) * inner + i];
        }
}

/* ---- products ---------------------------------------------------------------------------- */

/* Y = alpha op(A) op(B) + beta C, op(A) [M, K], op(B) [K, N]. */
static void bwd_gemm(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                     const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    const ptq_gemm_attrs *a = &n->attrs.gemm;
    const int64_t M = out->ne[0], N = out->ne[1];
    const int64_t K = a->trans_a ? in[0].ne[0] : in[0].ne[1];
    const float *A = in[0].data, *B = in[1].data, *dy = dout[0].data;
    const int64_t lda = in[0].ne[1], ldb = in[1].ne[1];
    if (din[0].data) { /* dA = alpha dY op(B)^T, stored as A is (transposed when trans_a) */
        if (!a->trans_a)
            ptq_sgemm(0, !a->trans_b, M, K, N, a->alpha, dy, N, B, ldb, 1.0f, din[0].data, lda);
        else /* dA^T [K, M] = alpha op(B) dY^T */
            ptq_sgemm(a->trans_b, 1, K, M, N, a->alpha, B, ldb, dy, N, 1.0f, din[0].data, lda);
    }
    if (din[1].data) { /* dB = alpha op(A)^T dY, stored as B is */
        if (!a->trans_b)
            ptq_sgemm(!a->trans_a, 0, K, N, M, a->alpha, A, lda, dy, N, 1.0f, din[1].data, ldb);
        else /* dB^T [N, K] = alpha dY^T op(A) */
            ptq_sgemm(1, a->trans_a, N, K, M, a->alpha, dy, N, A, lda, 1.0f, din[1].data, ldb);
    }
    if (n->n_inputs > 2 && din[2].data) { /* dC = beta dY summed over C's broadcast dims */
        int64_t sc[2];
        broadcast_strides(&in[2], 2, sc);
        float *dc = din[2].data;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) dc[i * sc[0] + j * sc[1]] += a->beta * dy[i * N + j];
    }
}

/* Batched numpy matmul: A [..., M, K] x B [..., K, N]; 1-D operands gain a unit dim. */
static void bwd_matmul(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                       const ptq_kt *dout, ptq_kt *din) {
    (void)n, (void)gc, (void)out;
    const ptq_kt *A = &in[0], *Bm = &in[1];
    const int64_t ar = A->ndim, br = Bm->ndim;
    const int64_t M = ar == 1 ? 1 : A->ne[ar - 2], K = A->ne[ar - 1], N = br == 1 ? 1 : Bm->ne[br - 1];
    const int64_t abat = ar > 2 ? ar - 2 : 0, bbat = br > 2 ? br - 2 : 0, nb = PTQ_MAX(abat, bbat);
    int64_t ne[PTQ_MAX_DIMS], sa[PTQ_MAX_DIMS], sb[PTQ_MAX_DIMS], total = 1;
    int64_t stride_a = M * K, stride_b = K * N;
    for (int64_t i = nb - 1; i >= 0; i--) {
        const int64_t ia = i - (nb - abat), ib = i - (nb - bbat);
        const int64_t da = ia >= 0 ? A->ne[ia] : 1, db = ib >= 0 ? Bm->ne[ib] : 1;
        ne[i] = PTQ_MAX(da, db);
        sa[i] = da == 1 ? 0 : stride_a;
        sb[i] = db == 1 ? 0 : stride_b;
        stride_a *= da;
        stride_b *= db;
        total *= ne[i];
    }
    const float *a = A->data, *b = Bm->data, *dy = dout[0].data;
    for (int64_t t = 0; t < total; t++) {
        int64_t oa = 0, ob = 0, r = t;
        for (int64_t i = nb - 1; i >= 0; i--) {
            const int64_t k = r % ne[i];
            r /= ne[i];
            oa += k * sa[i];
            ob += k * sb[i];
        }
        const float *g = dy + t * M * N;
        if (din[0].data) /* dA = dY B^T */
            ptq_sgemm(0, 1, M, K, N, 1.0f, g, N, b + ob, N, 1.0f, (float *)din[0].data + oa, K);
        if (din[1].data) /* dB = A^T dY */
            ptq_sgemm(1, 0, K, N, M, 1.0f, a + oa, K, g, N, 1.0f, (float *)din[1].data + ob, N);
    }
}

/* ---- FAKE_QUANT ---------------------------------------------------------------------------- */

void ptq_bwd_fake_quant(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                        const ptq_kt *dout, ptq_kt *din) {
    (void)gc, (void)out;
    const int32_t axis = n->attrs.q_axis;
    const float *x = in[0].data, *scale = in[1].data, *dy = dout[0].data;
    const int32_t *zp = in[2].data;
    float *dx = din[0].data, *ds = din[1].data;
    int64_t outer = 1, inner = ptq_kt_numel(&in[0]), c = 1;
    if (axis >= 0) {
        inner = 1;
        for (int32_t i = 0; i < in[0].ndim; i++) {
            if (i < axis) outer *= in[0].ne[i];
            if (i > axis) inner *= in[0].ne[i];
        }
        c = in[0].ne[axis];
    }
    const ptq_rounding *r = n->attrs.q_rounding;
    const bool custom = r && r->backward;
    /* A learned activation rounding (AQuant's borders) takes d loss / d rounding output:
     * s * dy on the grid, 0 where the clamp cut the element off (and 0 for elements a
     * QDrop mask kept float: the tape hands those in as a zero dy). */
    const bool learned = r && r->backward_state;
    /* Frozen borders (a fourth input) round like the simulation; straight-through. */
    const float *borders = !r && n->n_inputs > 3 && in[3].data ? in[3].data : NULL;
    const int64_t bins = (int64_t)n->attrs.qmax - n->attrs.qmin;
    const int64_t border_c = borders ? in[3].ne[0] : 0;
    /* Borders go by axis 1, whatever the scales' layout (fakequant.c). */
    const int64_t per = in[0].ndim >= 2 ? in[0].ne[1] : 1;
    const int64_t plane = ptq_kt_numel(&in[0]) / PTQ_MAX(in[0].ne[0] * per, 1);
    const float lo = (float)n->attrs.qmin, hi = (float)n->attrs.qmax;
    float v[256], rv[256], gv[256], gr[256];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t ch = 0; ch < c; ch++) {
            const int64_t off = (o * c + ch) * inner;
            const float s = scale[axis >= 0 ? ch : 0], z = (float)zp[axis >= 0 ? ch : 0];
            double sgrad = 0.0;
            for (int64_t at = 0; at < inner; at += 256) {
                const int64_t m = PTQ_MIN(256, inner - at);
                for (int64_t i = 0; i < m; i++) v[i] = x[off + at + i] / s;
                if (r) r->forward(n->attrs.q_rounding_state, v, rv, m, off + at);
                else if (borders) {
                    for (int64_t i = 0; i < m; i++) {
                        const int64_t bc = border_c > 1 ? ((off + at + i) / plane) % per : 0;
                        rv[i] = ptq_border_round(v[i], borders + bc * bins, (int32_t)z,
                                                 n->attrs.qmin, n->attrs.qmax);
                    }
                } else
                    for (int64_t i = 0; i < m; i++) rv[i] = rintf(v[i]);
                if (custom) {
                    for (int64_t i = 0; i < m; i++) gv[i] = dy[off + at + i];
                    r->backward(n->attrs.q_rounding_state, v, gv, gv, m, off + at);
                }
                for (int64_t i = 0; i < m; i++) {
                    const float q = rv[i] + z, g = dy[off + at + i];
                    gr[i] = 0.0f;
                    if (q < lo) sgrad += (double)g * (lo - z);
                    else if (q > hi) sgrad += (double)g * (hi - z);
                    else {
                        if (dx) dx[off + at + i] += custom ? gv[i] : g;
                        sgrad += (double)g * (rv[i] - v[i]);
                        gr[i] = g * s;
                    }
                }
                if (learned) r->backward_state(n->attrs.q_rounding_state, v, gr, m, off + at);
            }
            if (ds) ds[axis >= 0 ? ch : 0] += (float)sgrad;
        }
}

const ptq_grad_traits ptq_grad_table[PTQ_OP_COUNT] = {
    [PTQ_OP_CONV] = {ptq_bwd_conv, ptq_bwd_work_conv},
    [PTQ_OP_GEMM] = {bwd_gemm, NULL},
    [PTQ_OP_MATMUL] = {bwd_matmul, NULL},
    [PTQ_OP_ADD] = {bwd_binary, NULL},
    [PTQ_OP_SUB] = {bwd_binary, NULL},
    [PTQ_OP_MUL] = {bwd_binary, NULL},
    [PTQ_OP_DIV] = {bwd_binary, NULL},
    [PTQ_OP_RELU] = {bwd_unary, NULL},
    [PTQ_OP_CLIP] = {bwd_unary, NULL},
    [PTQ_OP_LEAKY_RELU] = {bwd_unary, NULL},
    [PTQ_OP_SIGMOID] = {bwd_unary, NULL},
    [PTQ_OP_HARD_SIGMOID] = {bwd_unary, NULL},
    [PTQ_OP_HARD_SWISH] = {bwd_unary, NULL},
    [PTQ_OP_TANH] = {bwd_unary, NULL},
    [PTQ_OP_BATCH_NORM] = {bwd_batch_norm, NULL},
    [PTQ_OP_MAX_POOL] = {bwd_pool, NULL},
    [PTQ_OP_AVERAGE_POOL] = {bwd_pool, NULL},
    [PTQ_OP_GLOBAL_AVERAGE_POOL] = {bwd_global_pool, NULL},
    [PTQ_OP_GLOBAL_MAX_POOL] = {bwd_global_pool, NULL},
    [PTQ_OP_FLATTEN] = {bwd_unary, NULL},
    [PTQ_OP_RESHAPE] = {bwd_unary, NULL},
    [PTQ_OP_TRANSPOSE] = {bwd_transpose, NULL},
    [PTQ_OP_CONCAT] = {bwd_concat, NULL},
    [PTQ_OP_SOFTMAX] = {bwd_softmax, NULL},
    [PTQ_OP_PAD] = {bwd_pad, NULL},
    [PTQ_OP_GATHER] = {bwd_gather, NULL},
    [PTQ_OP_FAKE_QUANT] = {ptq_bwd_fake_quant, NULL},
    /* spatial ops: spatial_grad.c */
    [PTQ_OP_RESIZE] = {ptq_bwd_resize, ptq_bwd_work_resize},
    [PTQ_OP_CONV_TRANSPOSE] = {ptq_bwd_conv_transpose, ptq_bwd_work_conv_transpose},
    [PTQ_OP_SLICE] = {ptq_bwd_slice, NULL},
    [PTQ_OP_SPLIT] = {ptq_bwd_split, NULL},
    /* ---- elementwise, comparison and reduction ops (math_grad.c) ---- */
    [PTQ_OP_CAST] = {ptq_bwd_math_unary, NULL},
    [PTQ_OP_POW] = {ptq_bwd_math_binary, NULL},
    [PTQ_OP_SQRT] = {ptq_bwd_math_unary, NULL},
    [PTQ_OP_EXP] = {ptq_bwd_math_unary, NULL},
    [PTQ_OP_ERF] = {ptq_bwd_math_unary, NULL},
    [PTQ_OP_NEG] = {ptq_bwd_math_unary, NULL},
    [PTQ_OP_RECIPROCAL] = {ptq_bwd_math_unary, NULL},
    [PTQ_OP_MIN] = {ptq_bwd_math_binary, NULL},
    [PTQ_OP_MAX] = {ptq_bwd_math_binary, NULL},
    [PTQ_OP_EQUAL] = {ptq_bwd_math_binary, NULL},
    [PTQ_OP_LESS] = {ptq_bwd_math_binary, NULL},
    [PTQ_OP_GREATER] = {ptq_bwd_math_binary, NULL},
    [PTQ_OP_WHERE] = {ptq_bwd_where, NULL},
    [PTQ_OP_EXPAND] = {ptq_bwd_expand, NULL},
    [PTQ_OP_REDUCE_MEAN] = {ptq_bwd_reduce, ptq_bwd_work_reduce},
    [PTQ_OP_REDUCE_SUM] = {ptq_bwd_reduce, ptq_bwd_work_reduce},
    [PTQ_OP_REDUCE_MAX] = {ptq_bwd_reduce, ptq_bwd_work_reduce},
    [PTQ_OP_LAYER_NORM] = {ptq_bwd_layer_norm, ptq_bwd_work_layer_norm},
};
