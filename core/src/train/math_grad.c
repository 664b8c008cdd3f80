/* math_grad.c — backward of the elementwise, comparison and reduction ops (grad.h has
 * the conventions).  Plain single-threaded loops, like grad_ops.c: these ops are cheap
 * next to the convolutions and products around them.
 *
 * Zero gradients, as the forward is piecewise constant there: comparisons, Cast to an
 * integer type or bool, Where's condition.  Min/Max/ReduceMax pass the gradient to the
 * element the forward picked (ties resolved exactly as the forward resolves them). */
#include <math.h>

#include "grad.h"

/* Walks every element of the output (rank nd, dims ne) keeping each operand's broadcast
 * offset in off[]: the caller's body runs once per element e. */
typedef struct bwalk {
    int32_t nd, k;
    int64_t ne[PTQ_MAX_DIMS], idx[PTQ_MAX_DIMS];
    int64_t st[64][PTQ_MAX_DIMS];
    int64_t off[64];
} bwalk;

static void bwalk_init(bwalk *w, const ptq_kt *out, const ptq_kt *ops, int32_t k) {
    w->nd = out->ndim;
    w->k = k;
    for (int32_t i = 0; i < out->ndim; i++) w->ne[i] = out->ne[i], w->idx[i] = 0;
    for (int32_t o = 0; o < k; o++) {
        int64_t s = 1;
        for (int32_t i = out->ndim - 1; i >= 0; i--) {
            const int32_t ti = i - (out->ndim - ops[o].ndim);
            const int64_t d = ti >= 0 ? ops[o].ne[ti] : 1;
            w->st[o][i] = d == 1 ? 0 : s;
            s *= d;
        }
        w->off[o] = 0;
    }
}

static void bwalk_next(bwalk *w) {
    for (int32_t d = w->nd - 1; d >= 0; d--) {
        for (int32_t o = 0; o < w->k; o++) w->off[o] += w->st[o][d];
        if (++w->idx[d] < w->ne[d]) return;
        for (int32_t o = 0; o < w->k; o++) w->off[o] -= w->st[o][d] * w->ne[d];
        w->idx[d] = 0;
    }
}

/* ---- unary ------------------------------------------------------------------------------ */

void ptq_bwd_math_unary(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                           const ptq_kt *out, const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    float *dx = din[0].data;
    if (!dx) return;
    const float *x = in[0].data, *y = out[0].data, *dy = dout[0].data;
    const int64_t m = ptq_kt_numel(out);
    switch (n->op) {
    case PTQ_OP_CAST: {
        /* To float: the identity; to an integer type or bool: piecewise constant. */
        const int32_t to = n->attrs.cast_to;
        if (to == PTQ_DTYPE_F32 || to == 11)
            for (int64_t i = 0; i < m; i++) dx[i] += dy[i];
        break;
    }
    case PTQ_OP_SQRT:
        for (int64_t i = 0; i < m; i++) dx[i] += dy[i] * 0.5f / y[i];
        break;
    case PTQ_OP_EXP:
        for (int64_t i = 0; i < m; i++) dx[i] += dy[i] * y[i];
        break;
    case PTQ_OP_ERF: {
        const float c = 1.1283791670955126f; /* 2 / sqrt(pi) */
        for (int64_t i = 0; i < m; i++) dx[i] += dy[i] * c * expf(-x[i] * x[i]);
        break;
    }
    case PTQ_OP_NEG:
        for (int64_t i = 0; i < m; i++) dx[i] -= dy[i];
        break;
    default: /* RECIPROCAL: d(1/x) = -1/x^2 = -y^2 */
        for (int64_t i = 0; i < m; i++) dx[i] -= dy[i] * y[i] * y[i];
        break;
    }
}

/* ---- binary, variadic, Where, Expand -------------------------------------------------------- */

void ptq_bwd_math_binary(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                            const ptq_kt *out, const ptq_kt *dout, ptq_kt *din) {
    (void)gc;
    if (n->op == PTQ_OP_EQUAL || n->op == PTQ_OP_LESS || n->op == PTQ_OP_GREATER) return;
    const int32_t k = n->n_inputs;
    bwalk w;
    bwalk_init(&w, out, in, k);
    const float *dy = dout[0].data, *y = out[0].data;
    const int64_t total = ptq_kt_numel(out);
    if (n->op == PTQ_OP_POW) {
        const float *a = in[0].data, *b = in[1].data;
        float *da = din[0].data, *db = din[1].data;
        for (int64_t e = 0; e < total; e++, bwalk_next(&w)) {
            const float av = a[w.off[0]], bv = b[w.off[1]], g = dy[e];
            /* d a^b / da = b a^(b-1); d / db = a^b ln a, defined for a > 0 (0 elsewhere,
             * as PyTorch for a == 0). */
            if (da) da[w.off[0]] += g * (bv == 2.0f ? 2.0f * av : bv * powf(av, bv - 1.0f));
            if (db && av > 0.0f) db[w.off[1]] += g * y[e] * logf(av);
        }
        return;
    }
    /* Min, Max: the forward folds op(op(x0, x1), x2)...; a later operand wins a tie, a NaN
     * wins over anything and stays. */
    const bool is_max = n->op == PTQ_OP_MAX;
    for (int64_t e = 0; e < total; e++, bwalk_next(&w)) {
        int32_t win = 0;
        float v = ((const float *)in[0].data)[w.off[0]];
        for (int32_t j = 1; j < k; j++) {
            const float c = ((const float *)in[j].data)[w.off[j]];
            const bool keep = is_max ? (v > c || v != v) : (v < c || v != v);
            if (!keep) win = j, v = c;
        }
        float *d = din[win].data;
        if (d) d[w.off[win]] += dy[e];
    }
}

void ptq_bwd_where(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                      const ptq_kt *out, const ptq_kt *dout, ptq_kt *din) {
    (void)n, (void)gc;
    bwalk w;
    bwalk_init(&w, out, in, 3);
    const float *c = in[0].data, *dy = dout[0].data;
    float *dx = din[1].data, *dyv = din[2].data;
    const int64_t total = ptq_kt_numel(out);
    for (int64_t e = 0; e < total; e++, bwalk_next(&w)) {
        if (c[w.off[0]] != 0.0f) {
            if (dx) dx[w.off[1]] += dy[e];
        } else if (dyv) {
            dyv[w.off[2]] += dy[e];
        }
    }
}

void ptq_bwd_expand(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                       const ptq_kt *out, const ptq_kt *dout, ptq_kt *din) {
    (void)n, (void)gc;
    float *dx = din[0].data;
    if (!dx) return;
    bwalk w;
    bwalk_init(&w, out, in, 1);
    const float *dy = dout[0].data;
    const int64_t total = ptq_kt_numel(out);
    for (int64_t e = 0; e < total; e++, bwalk_next(&w)) dx[w.off[0]] += dy[e];
}

/* ---- reductions ------------------------------------------------------------------------------- */

/* The input walked in row-major order with the output offset of each element (reduced
 * dims stride 0), so "the first maximum" is the forward's winner (reduce.c keeps the
 * first of equal maxima in row-major order, a NaN over anything). */
void ptq_bwd_reduce(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                       const ptq_kt *out, const ptq_kt *dout, ptq_kt *din) {
    float *dx = din[0].data;
    if (!dx) return;
    const ptq_kt *X = &in[0];
    const uint32_t mask = ptq_reduce_mask(n, X->ndim);
    const float *x = X->data, *y = out[0].data, *dy = dout[0].data;
    const int64_t total = ptq_kt_numel(X);
    if (mask == 0) {
        for (int64_t i = 0; i < total; i++) dx[i] += dy[i];
        return;
    }
    int64_t st[PTQ_MAX_DIMS], idx[PTQ_MAX_DIMS] = {0}, s = 1, count = 1;
    for (int32_t i = X->ndim - 1; i >= 0; i--) {
        const bool r = (mask >> i) & 1u;
        st[i] = r ? 0 : s;
        if (r) count *= X->ne[i];
        else s *= X->ne[i];
    }
    /* ReduceMax: work[] marks outputs whose winner was found (gc->work holds one float
     * per output, see ptq_bwd_work_reduce). */
    float *done = gc->work;
    if (n->op == PTQ_OP_REDUCE_MAX) memset(done, 0, (size_t)ptq_kt_numel(out) * sizeof(float));
    const float inv = 1.0f / (float)count;
    int64_t o = 0;
    for (int64_t e = 0; e < total; e++) {
        switch (n->op) {
        case PTQ_OP_REDUCE_SUM: dx[e] += dy[o]; break;
        case PTQ_OP_REDUCE_MEAN: dx[e] += dy[o] * inv; break;
        default:
            if (done[o] == 0.0f && (x[e] == y[o] || (x[e] != x[e] && y[o] != y[o]))) {
                dx[e] += dy[o];
                done[o] = 1.0f;
            }
            break;
        }
        for (int32_t d = X->ndim - 1; d >= 0; d--) {
            o += st[d];
            if (++idx[d] < X->ne[d]) break;
            o -= st[d] * X->ne[d];
            idx[d] = 0;
        }
    }
}

size_t ptq_bwd_work_reduce(const ptq_node *n, const ptq_kt *in, uint32_t want, int32_t threads) {
    (void)threads, (void)want;
    const uint32_t mask = ptq_reduce_mask(n, in[0].ndim);
    int64_t cnt = 1;
    for (int32_t i = 0; i < in[0].ndim; i++)
        if (!((mask >> i) & 1u)) cnt *= in[0].ne[i];
    return (size_t)cnt;
}

/* ---- LayerNormalization --------------------------------------------------------------------------- */

/* Per row: xhat = (x - mean) invstd, y = xhat s + b; with g = dy s,
 * dx = invstd (g - mean(g) - xhat mean(g xhat)), ds += dy xhat, db += dy, the last two
 * summed over rows into D-float scratch, then over the dims scale/bias broadcast. */
void ptq_bwd_layer_norm(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                           const ptq_kt *out, const ptq_kt *dout, ptq_kt *din) {
    (void)out;
    if (!din[0].data && !din[1].data && !(n->n_inputs > 2 && din[2].data)) return;
    const ptq_kt *X = &in[0];
    const int32_t axis = (int32_t)n->attrs.axis;
    ptq_kt row = {.ndim = X->ndim - axis};
    int64_t d = 1;
    for (int32_t i = axis; i < X->ndim; i++) row.ne[i - axis] = X->ne[i], d *= X->ne[i];
    const int64_t rows = d ? ptq_kt_numel(X) / d : 0;
    float *sfull = gc->work, *gsc = gc->work + d, *gbi = gc->work + 2 * d, *xh = gc->work + 3 * d;
    /* The scale broadcast to D floats. */
    {
        bwalk w;
        bwalk_init(&w, &row, &in[1], 1);
        const float *s = in[1].data;
        for (int64_t i = 0; i < d; i++, bwalk_next(&w)) sfull[i] = s[w.off[0]];
    }
    memset(gsc, 0, (size_t)(2 * d) * sizeof(float));
    const float *x = X->data, *dy = dout[0].data;
    float *dx = din[0].data;
    const float eps = n->attrs.epsilon;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d, *gr = dy + r * d;
        double sum = 0.0;
        for (int64_t i = 0; i < d; i++) sum += xr[i];
        const float mean = (float)(sum / (double)d);
        double sq = 0.0;
        for (int64_t i = 0; i < d; i++) sq += (double)(xr[i] - mean) * (xr[i] - mean);
        const float invstd = 1.0f / sqrtf((float)(sq / (double)d) + eps);
        double mg = 0.0, mgx = 0.0;
        for (int64_t i = 0; i < d; i++) {
            xh[i] = (xr[i] - mean) * invstd;
            const float g = gr[i] * sfull[i];
            mg += g;
            mgx += (double)g * xh[i];
            gsc[i] += gr[i] * xh[i];
            gbi[i] += gr[i];
        }
        mg /= (double)d;
        mgx /= (double)d;
        if (dx)
            for (int64_t i = 0; i < d; i++)
                dx[r * d + i] += invstd * (float)((double)gr[i] * sfull[i] - mg - (double)xh[i] * mgx);
    }
    for (int32_t k = 1; k < 3 && k < n->n_inputs; k++) {
        float *dp = din[k].data;
        if (!dp) continue;
        const float *src = k == 1 ? gsc : gbi;
        bwalk w;
        bwalk_init(&w, &row, &in[k], 1);
        for (int64_t i = 0; i < d; i++, bwalk_next(&w)) dp[w.off[0]] += src[i];
    }
}

size_t ptq_bwd_work_layer_norm(const ptq_node *n, const ptq_kt *in, uint32_t want,
                                  int32_t threads) {
    (void)want, (void)threads;
    int64_t d = 1;
    for (int32_t i = (int32_t)n->attrs.axis; i < in[0].ndim; i++) d *= in[0].ne[i];
    return (size_t)(4 * d);
}
