/* gemm.c — Gemm and MatMul on the register tiles of tile.h.
 *
 * op(B) is packed once per call into rows of whole vectors ([K][N rounded up], zero
 * padded) in the shared scratch; each block of mr rows of op(A) is packed [k][mr] into
 * the worker's scratch, and tiles run over the columns.  Every output element is the
 * same chain of FMAs in k order however the rows are split, so results are bitwise the
 * same for any batch size and thread count (calling sgemm on row slices was not:
 * OpenBLAS rounds a row differently depending on the slice it is in).
 *
 * ptq_sgemm, the wrapper over OpenBLAS, remains for the convolution fallback. */
#include <cblas.h>
#include <omp.h>

#include "internal.h"
#include "simd.h"
#include "tile.h"

void ptq_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) { /* an empty product: C = beta * C */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

/* One matrix product Y[m][n] = sum_k A(m, k) B(k, n), with A(m, k) = a[m * ars + k * acs]
 * and B(k, n) = b[k * brs + n * bcs], so transposes are just strides. */
typedef struct mm_desc {
    int64_t m, n, k, nr; /* nr: n rounded up to whole vectors */
    const float *a, *b;
    int64_t ars, acs, brs, bcs;
    int mr, nv;
} mm_desc;

static void mm_init(mm_desc *d, int64_t m, int64_t n, int64_t k) {
    d->m = m, d->n = n, d->k = k;
    d->nr = (n + VL - 1) / VL * VL;
    ptq_tile_shape(d->nr / VL, m, &d->mr, &d->nv);
}

/* Shared scratch: packed B.  Per thread: a packed row block of A and its output rows. */
static size_t mm_shared(const mm_desc *d) { return (size_t)(d->k * d->nr); }
static size_t mm_per_thread(const mm_desc *d) { return (size_t)(d->mr * d->k + d->mr * d->nr + VL); }

static void pack_b(const mm_desc *d, float *bp) {
    for (int64_t k = 0; k < d->k; k++) {
        float *row = bp + k * d->nr;
        for (int64_t j = 0; j < d->n; j++) row[j] = d->b[k * d->brs + j * d->bcs];
        for (int64_t j = d->n; j < d->nr; j++) row[j] = 0.0f;
    }
}

/* Rows [m0, m0 + mr) of A as [k][mr], zero past m. */
static void pack_a(const mm_desc *d, int64_t m0, float *ap) {
    for (int64_t k = 0; k < d->k; k++)
        for (int r = 0; r < d->mr; r++) {
            const int64_t m = m0 + r;
            *ap++ = m < d->m ? d->a[m * d->ars + k * d->acs] : 0.0f;
        }
}

/* Computes row block mb into out (mr rows of nr floats). */
static void mm_block(const mm_desc *d, const float *bp, int64_t mb, float *ap, float *out) {
    static const int64_t zero_offset = 0;
    pack_a(d, mb * d->mr, ap);
    const int64_t step = (int64_t)d->nv * VL;
    const ptq_tile_fn full = ptq_tile_pick(d->mr, d->nv);
    int64_t p0 = 0;
    for (; p0 + step <= d->nr; p0 += step) full(bp + p0, d->nr, d->k, &zero_offset, 1, ap, out + p0, d->nr);
    if (p0 < d->nr)
        ptq_tile_pick(d->mr, (int)((d->nr - p0) / VL))(bp + p0, d->nr, d->k, &zero_offset, 1, ap,
                                                         out + p0, d->nr);
}

size_t ptq_work_gemm(const ptq_node *node, const ptq_kt *in) {
    const ptq_gemm_attrs *at = &node->attrs.gemm;
    mm_desc d;
    mm_init(&d, at->trans_a ? in[0].ne[1] : in[0].ne[0], at->trans_b ? in[1].ne[0] : in[1].ne[1],
            at->trans_a ? in[0].ne[0] : in[0].ne[1]);
    return mm_per_thread(&d);
}

size_t ptq_work_gemm_shared(const ptq_node *node, const ptq_kt *in) {
    const ptq_gemm_attrs *at = &node->attrs.gemm;
    mm_desc d;
    mm_init(&d, at->trans_a ? in[0].ne[1] : in[0].ne[0], at->trans_b ? in[1].ne[0] : in[1].ne[1],
            at->trans_a ? in[0].ne[0] : in[0].ne[1]);
    return mm_shared(&d);
}

void ptq_fwd_gemm(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_gemm_attrs *at = &node->attrs.gemm;
    const ptq_kt *A = &in[0], *Bm = &in[1], *C = &in[2];
    mm_desc d;
    mm_init(&d, out->ne[0], out->ne[1], at->trans_a ? A->ne[0] : A->ne[1]);
    d.a = A->data;
    d.b = Bm->data;
    d.ars = at->trans_a ? 1 : d.k;
    d.acs = at->trans_a ? d.m : 1;
    d.brs = at->trans_b ? 1 : d.n;
    d.bcs = at->trans_b ? d.k : 1;
    pack_b(&d, kc->shared);
    const float *c = C->data;
    const bool has_c = c != NULL && at->beta != 0.0f;
    /* C broadcasts onto [M, N]: scalar, [N], [1, N], [M, 1] or [M, N]. */
    const int64_t cr = has_c && C->ndim == 2 ? C->ne[0] : 1;
    const int64_t cc = has_c && C->ndim >= 1 ? C->ne[C->ndim - 1] : 1;
    const int64_t mblocks = (d.m + d.mr - 1) / d.mr;
    float *y = out->data;
    const int nt = (int)PTQ_MIN((int64_t)kc->threads, mblocks);
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        float *ap = kc->work + (size_t)t * kc->work_floats, *tile = ap + d.mr * d.k;
        for (int64_t mb = mblocks * t / T; mb < mblocks * (t + 1) / T; mb++) {
            mm_block(&d, kc->shared, mb, ap, tile);
            for (int r = 0; r < d.mr && mb * d.mr + r < d.m; r++) {
                const int64_t i = mb * d.mr + r;
                const float *acc = tile + r * d.nr;
                float *yr = y + i * d.n;
                /* Y = alpha * (A B) + beta * C, in the reference's order. */
                for (int64_t j = 0; j < d.n; j++) {
                    float v = at->alpha * acc[j];
                    if (has_c) v += at->beta * c[(cr == 1 ? 0 : i) * cc + (cc == 1 ? 0 : j)];
                    yr[j] = v;
                }
                if (kc->ep) ptq_epilogue_apply(kc->ep, -1, yr, d.n);
            }
        }
    }
}

/* MatMul's operands after numpy promotion: batch dims broadcast, 1-D promoted. */
typedef struct mm_batch {
    int64_t m, n, k, total;
    int64_t nbat, ne[PTQ_MAX_DIMS], sa[PTQ_MAX_DIMS], sb[PTQ_MAX_DIMS];
} mm_batch;

static void matmul_batch(const ptq_kt *A, const ptq_kt *Bm, mm_batch *q) {
    const int64_t ar = A->ndim, br = Bm->ndim;
    q->m = ar == 1 ? 1 : A->ne[ar - 2];
    q->k = A->ne[ar - 1];
    q->n = br == 1 ? 1 : Bm->ne[br - 1];
    const int64_t abat = ar > 2 ? ar - 2 : 0, bbat = br > 2 ? br - 2 : 0;
    q->nbat = PTQ_MAX(abat, bbat);
    int64_t stride_a = q->m * q->k, stride_b = q->k * q->n;
    q->total = 1;
    for (int64_t i = q->nbat - 1; i >= 0; i--) {
        const int64_t ia = i - (q->nbat - abat), ib = i - (q->nbat - bbat);
        const int64_t da = ia >= 0 ? A->ne[ia] : 1, db = ib >= 0 ? Bm->ne[ib] : 1;
        q->ne[i] = PTQ_MAX(da, db);
        q->sa[i] = da == 1 ? 0 : stride_a;
        q->sb[i] = db == 1 ? 0 : stride_b;
        stride_a *= da;
        stride_b *= db;
        q->total *= q->ne[i];
    }
}

size_t ptq_work_matmul(const ptq_node *node, const ptq_kt *in) {
    (void)node;
    mm_batch q;
    mm_desc d;
    matmul_batch(&in[0], &in[1], &q);
    mm_init(&d, q.m, q.n, q.k);
    /* Each worker packs its own B when the batch of matrices is split across workers. */
    return mm_per_thread(&d) + mm_shared(&d);
}

size_t ptq_work_matmul_shared(const ptq_node *node, const ptq_kt *in) {
    (void)node;
    mm_batch q;
    mm_desc d;
    matmul_batch(&in[0], &in[1], &q);
    mm_init(&d, q.m, q.n, q.k);
    return mm_shared(&d);
}

void ptq_fwd_matmul(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    (void)node;
    mm_batch q;
    matmul_batch(&in[0], &in[1], &q);
    const float *a = in[0].data, *b = in[1].data;
    float *y = out->data;
    mm_desc d;
    mm_init(&d, q.m, q.n, q.k);
    d.ars = d.k, d.acs = 1, d.brs = d.n, d.bcs = 1;
    const int64_t mblocks = (d.m + d.mr - 1) / d.mr;
    /* Split matrices across workers when there are several, else rows of the one. */
    const bool by_matrix = q.total > 1;
    const int nt = (int)PTQ_MIN((int64_t)kc->threads, by_matrix ? q.total : mblocks);
    if (!by_matrix) {
        d.a = a;
        d.b = b;
        pack_b(&d, kc->shared);
    }
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        float *ap = kc->work + (size_t)t * kc->work_floats, *tile = ap + d.mr * d.k;
        float *bp = by_matrix ? tile + d.mr * d.nr + VL : kc->shared;
        mm_desc my = d;
        const int64_t lo = by_matrix ? q.total * t / T : mblocks * t / T;
        const int64_t hi = by_matrix ? q.total * (t + 1) / T : mblocks * (t + 1) / T;
        for (int64_t it = lo; it < hi; it++) {
            int64_t mat = 0, mb_lo = it, mb_hi = it + 1;
            if (by_matrix) {
                int64_t rem = it, oa = 0, ob = 0;
                for (int64_t i = q.nbat - 1; i >= 0; i--) {
                    const int64_t idx = rem % q.ne[i];
                    rem /= q.ne[i];
                    oa += idx * q.sa[i];
                    ob += idx * q.sb[i];
                }
                my.a = a + oa;
                my.b = b + ob;
                pack_b(&my, bp);
                mat = it, mb_lo = 0, mb_hi = mblocks;
            }
            for (int64_t mb = mb_lo; mb < mb_hi; mb++) {
                mm_block(&my, bp, mb, ap, tile);
                for (int r = 0; r < d.mr && mb * d.mr + r < d.m; r++)
                    memcpy(y + (mat * d.m + mb * d.mr + r) * d.n, tile + r * d.nr,
                           (size_t)d.n * sizeof *y);
            }
        }
    }
}
