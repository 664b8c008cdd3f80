/* math.c — elementwise math, comparisons, Where and Expand on float32 values.
 *
 * Everything here runs over a broadcast plan: the output's dims with each operand's
 * stride, adjacent dims that broadcast alike merged, so the inner loop is one long row
 * whose operand strides are 0 (broadcast scalar) or 1 (contiguous).  Each op has its own
 * loop (the op switch is outside the rows), so the rows vectorise.  Threads split the
 * rows (or one long row) as eltwise.c does. */
#include <omp.h>

#include "internal.h"

#define MAX_OPS 3

/* ---- broadcast plan ----------------------------------------------------------------- */

typedef struct bplan {
    int32_t m;                          /* merged dims */
    int64_t ne[PTQ_MAX_DIMS + 1];
    int64_t st[MAX_OPS][PTQ_MAX_DIMS + 1]; /* element strides per operand */
    int64_t rows, inner;
    int32_t k;                          /* operands */
} bplan;

static void bplan_make(bplan *p, const ptq_kt *out, const ptq_kt *const *ops, int32_t k) {
    const int32_t r = out->ndim;
    int64_t st[MAX_OPS][PTQ_MAX_DIMS];
    int64_t acc[MAX_OPS] = {1, 1, 1};
    for (int32_t i = r - 1; i >= 0; i--) {
        for (int32_t o = 0; o < k; o++) {
            int32_t io = i - (r - ops[o]->ndim);
            int64_t d = io >= 0 ? ops[o]->ne[io] : 1;
            st[o][i] = d == 1 ? 0 : acc[o];
            acc[o] *= d;
        }
    }
    p->k = k;
    p->m = 0;
    for (int32_t i = 0; i < r; i++) {
        if (out->ne[i] == 1) continue;
        int32_t m = p->m;
        bool merge = m > 0;
        for (int32_t o = 0; merge && o < k; o++) {
            int64_t prev = p->st[o][m - 1];
            merge = (prev == 0) == (st[o][i] == 0) && (prev == 0 || prev == st[o][i] * out->ne[i]);
        }
        if (merge) {
            p->ne[m - 1] *= out->ne[i];
            for (int32_t o = 0; o < k; o++) p->st[o][m - 1] = st[o][i];
            continue;
        }
        p->ne[m] = out->ne[i];
        for (int32_t o = 0; o < k; o++) p->st[o][m] = st[o][i];
        p->m++;
    }
    if (p->m == 0) { /* a single element */
        p->ne[0] = 1;
        for (int32_t o = 0; o < k; o++) p->st[o][0] = 1;
        p->m = 1;
    }
    p->inner = p->ne[p->m - 1];
    p->rows = 1;
    for (int32_t i = 0; i < p->m - 1; i++) p->rows *= p->ne[i];
}

/* Offsets of row `row` into each operand. */
static void bplan_row(const bplan *p, int64_t row, int64_t *off) {
    for (int32_t o = 0; o < p->k; o++) off[o] = 0;
    for (int32_t i = p->m - 2; i >= 0; i--) {
        int64_t idx = row % p->ne[i];
        row /= p->ne[i];
        for (int32_t o = 0; o < p->k; o++) off[o] += idx * p->st[o][i];
    }
}

/* Inner stride of operand o: 0 or 1. */
static int64_t bplan_inner(const bplan *p, int32_t o) { return p->st[o][p->m - 1] ? 1 : 0; }

static int plan_threads(const ptq_kctx *kc, int64_t n) {
    return (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, n / 16384));
}

/* ---- Expand / broadcast copy --------------------------------------------------------- */

void ptq_broadcast_copy(const ptq_kt *xs, ptq_kt *ys, int32_t threads) {
    bplan p;
    const ptq_kt *ops[1] = {xs};
    bplan_make(&p, ys, ops, 1);
    const float *x = xs->data;
    float *y = ys->data;
    const int64_t inner = p.inner, sx = bplan_inner(&p, 0);
    int nt = (int)PTQ_MIN((int64_t)threads, PTQ_MAX(1, p.rows * inner / 16384));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t row = 0; row < p.rows; row++) {
        int64_t off[MAX_OPS];
        bplan_row(&p, row, off);
        float *yr = y + row * inner;
        if (sx) memcpy(yr, x + off[0], (size_t)inner * sizeof(float));
        else for (int64_t i = 0; i < inner; i++) yr[i] = x[off[0]];
    }
}

void ptq_fwd_expand(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)n;
    ptq_broadcast_copy(&in[0], out, kc->threads);
}

/* ---- binary ops ---------------------------------------------------------------------- */

/* NaN-propagating min/max as numpy's minimum/maximum (ONNX Min/Max). */
#define F_MIN(a, b) (((a) < (b) || (a) != (a)) ? (a) : (b))
#define F_MAX(a, b) (((a) > (b) || (a) != (a)) ? (a) : (b))
#define F_EQ(a, b) ((a) == (b) ? 1.0f : 0.0f)
#define F_LT(a, b) ((a) < (b) ? 1.0f : 0.0f)
#define F_GT(a, b) ((a) > (b) ? 1.0f : 0.0f)
#define F_POW(a, b) powf((a), (b))

#define ROW_LOOPS(F)                                                                       \
    do {                                                                                   \
        if (sa && sb) {                                                                    \
            for (int64_t i = 0; i < n; i++) y[i] = F(a[i], b[i]);                          \
        } else if (sa) {                                                                   \
            const float bv = *b;                                                           \
            for (int64_t i = 0; i < n; i++) y[i] = F(a[i], bv);                            \
        } else if (sb) {                                                                   \
            const float av = *a;                                                           \
            for (int64_t i = 0; i < n; i++) y[i] = F(av, b[i]);                            \
        } else {                                                                           \
            const float v = F(*a, *b);                                                     \
            for (int64_t i = 0; i < n; i++) y[i] = v;                                      \
        }                                                                                  \
    } while (0)

static void binary_row(ptq_op op, const float *a, int64_t sa, const float *b, int64_t sb,
                       float *y, int64_t n) {
    switch (op) {
    case PTQ_OP_POW:
        /* Exponents 2 and 0.5 (variance, RMS, L2 norms) are exact as x*x and sqrt; powf
         * gives the same values (sqrt differs only at -inf, handled). */
        if (!sb && *b == 2.0f && sa) {
            for (int64_t i = 0; i < n; i++) y[i] = a[i] * a[i];
        } else if (!sb && *b == 0.5f && sa) {
            for (int64_t i = 0; i < n; i++) y[i] = a[i] == -INFINITY ? INFINITY : sqrtf(a[i]);
        } else {
            ROW_LOOPS(F_POW);
        }
        break;
    case PTQ_OP_MIN: ROW_LOOPS(F_MIN); break;
    case PTQ_OP_MAX: ROW_LOOPS(F_MAX); break;
    case PTQ_OP_EQUAL: ROW_LOOPS(F_EQ); break;
    case PTQ_OP_LESS: ROW_LOOPS(F_LT); break;
    case PTQ_OP_GREATER: ROW_LOOPS(F_GT); break;
    default: PTQ_ABORT("binary math kernel called for %s", ptq_op_name(op));
    }
}

static void binary_run(ptq_op op, const ptq_kt *A, const ptq_kt *Bt, ptq_kt *out, int32_t threads) {
    bplan p;
    const ptq_kt *ops[2] = {A, Bt};
    bplan_make(&p, out, ops, 2);
    const float *a = A->data, *b = Bt->data;
    float *y = out->data;
    const int64_t inner = p.inner, sa = bplan_inner(&p, 0), sb = bplan_inner(&p, 1);
    int nt = (int)PTQ_MIN((int64_t)threads, PTQ_MAX(1, p.rows * inner / 16384));
    if (p.rows == 1) { /* one long row: split it */
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            int64_t lo = inner * t / T, hi = inner * (t + 1) / T;
            binary_row(op, a + lo * sa, sa, b + lo * sb, sb, y + lo, hi - lo);
        }
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t row = 0; row < p.rows; row++) {
        int64_t off[MAX_OPS];
        bplan_row(&p, row, off);
        binary_row(op, a + off[0], sa, b + off[1], sb, y + row * inner, inner);
    }
}

void ptq_fwd_math_binary(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    if (n->op != PTQ_OP_MIN && n->op != PTQ_OP_MAX) {
        binary_run(n->op, &in[0], &in[1], out, kc->threads);
        return;
    }
    /* Variadic Min/Max: out = in0 broadcast, then out = op(out, in_k) in place (each
     * element is read before it is written, at the same index). */
    if (n->n_inputs == 1) {
        ptq_broadcast_copy(&in[0], out, kc->threads);
        return;
    }
    binary_run(n->op, &in[0], &in[1], out, kc->threads);
    for (int32_t k = 2; k < n->n_inputs; k++) binary_run(n->op, out, &in[k], out, kc->threads);
}

/* ---- Where ------------------------------------------------------------------------------ */

void ptq_fwd_where(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)n;
    bplan p;
    const ptq_kt *ops[3] = {&in[0], &in[1], &in[2]};
    bplan_make(&p, out, ops, 3);
    const float *c = in[0].data, *x = in[1].data, *yv = in[2].data;
    float *y = out->data;
    const int64_t inner = p.inner;
    const int64_t sc = bplan_inner(&p, 0), sx = bplan_inner(&p, 1), sy = bplan_inner(&p, 2);
    int nt = plan_threads(kc, p.rows * inner);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t row = 0; row < p.rows; row++) {
        int64_t off[MAX_OPS];
        bplan_row(&p, row, off);
        const float *cr = c + off[0], *xr = x + off[1], *yr = yv + off[2];
        float *o = y + row * inner;
        for (int64_t i = 0; i < inner; i++) o[i] = cr[i * sc] != 0.0f ? xr[i * sx] : yr[i * sy];
    }
}

/* ---- unary ops ---------------------------------------------------------------------------- */

static void unary_range(const ptq_node *n, const float *x, float *y, int64_t cnt) {
    switch (n->op) {
    case PTQ_OP_CAST: {
        const int32_t to = n->attrs.cast_to;
        float lo, hi;
        if (to == 9) {
            for (int64_t i = 0; i < cnt; i++) y[i] = x[i] != 0.0f ? 1.0f : 0.0f;
        } else if (ptq_cast_int_range(to, &lo, &hi)) {
            for (int64_t i = 0; i < cnt; i++) {
                float t = truncf(x[i]);
                t = t < lo ? lo : (t > hi ? hi : t);
                y[i] = x[i] != x[i] ? 0.0f : t;
            }
        } else if (x != y) {
            memcpy(y, x, (size_t)cnt * sizeof(float));
        }
        break;
    }
    case PTQ_OP_SQRT: for (int64_t i = 0; i < cnt; i++) y[i] = sqrtf(x[i]); break;
    case PTQ_OP_EXP: for (int64_t i = 0; i < cnt; i++) y[i] = expf(x[i]); break;
    case PTQ_OP_ERF: ptq_erf_f32(x, y, cnt); break;
    case PTQ_OP_NEG: for (int64_t i = 0; i < cnt; i++) y[i] = -x[i]; break;
    case PTQ_OP_RECIPROCAL: for (int64_t i = 0; i < cnt; i++) y[i] = 1.0f / x[i]; break;
    default: PTQ_ABORT("unary math kernel called for %s", ptq_op_name(n->op));
    }
}

void ptq_fwd_math_unary(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const int64_t cnt = ptq_kt_numel(out);
    const float *x = in[0].data;
    float *y = out->data;
    int nt = plan_threads(kc, cnt);
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t lo = cnt * t / T, hi = cnt * (t + 1) / T;
        unary_range(n, x + lo, y + lo, hi - lo);
    }
}
