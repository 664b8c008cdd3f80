/* gemm.c — Gemm and MatMul through one sgemm wrapper.  Rows are split across threads,
 * each calling the single-threaded BLAS on its slice (see threads.c for why). */
#include <cblas.h>
#include <omp.h>

#include "internal.h"

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

/* Rows [lo, hi) of thread t when m rows are split into nt near-equal slices. */
static void split(int64_t m, int t, int nt, int64_t *lo, int64_t *hi) {
    *lo = m * t / nt;
    *hi = m * (t + 1) / nt;
}

void ptq_fwd_gemm(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_gemm_attrs *at = &node->attrs.gemm;
    const ptq_kt *A = &in[0], *Bm = &in[1], *C = &in[2];
    const int64_t m = out->ne[0], n = out->ne[1];
    const int64_t k = at->trans_a ? A->ne[0] : A->ne[1];
    const float *a = A->data, *b = Bm->data, *c = C->data;
    float *y = out->data;
    const bool has_c = c != NULL && at->beta != 0.0f;
    /* Few rows (a single sample) are not worth a thread each. */
    int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, m / 4));
#pragma omp parallel num_threads(nt)
    {
        int64_t lo, hi;
        split(m, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        if (hi > lo) {
            if (has_c) {
                /* C broadcasts onto [M, N]: scalar, [N], [1, N], [M, 1] or [M, N]. */
                int64_t cr = C->ndim == 2 ? C->ne[0] : 1, cc = C->ndim >= 1 ? C->ne[C->ndim - 1] : 1;
                for (int64_t i = lo; i < hi; i++)
                    for (int64_t j = 0; j < n; j++)
                        y[i * n + j] = at->beta * c[(cr == 1 ? 0 : i) * cc + (cc == 1 ? 0 : j)];
            }
            const float *ai = at->trans_a ? a + lo : a + lo * k;
            ptq_sgemm(at->trans_a, at->trans_b, hi - lo, n, k, at->alpha, ai, at->trans_a ? m : k,
                      b, at->trans_b ? k : n, has_c ? 1.0f : 0.0f, y + lo * n, n);
        }
    }
}

void ptq_fwd_matmul(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *A = &in[0], *Bm = &in[1];
    /* Promote 1-D operands as numpy does. */
    int64_t ar = A->ndim, br = Bm->ndim;
    int64_t m = ar == 1 ? 1 : A->ne[ar - 2], k = A->ne[ar - 1];
    int64_t n = br == 1 ? 1 : Bm->ne[br - 1];
    /* Batch dims of each operand, right-aligned to the output's. */
    int64_t abat = ar > 2 ? ar - 2 : 0, bbat = br > 2 ? br - 2 : 0;
    int64_t nbat = PTQ_MAX(abat, bbat);
    int64_t ne[PTQ_MAX_DIMS], sa[PTQ_MAX_DIMS], sb[PTQ_MAX_DIMS];
    int64_t total = 1, stride_a = m * k, stride_b = k * n;
    for (int64_t i = nbat - 1; i >= 0; i--) {
        int64_t ia = i - (nbat - abat), ib = i - (nbat - bbat);
        int64_t da = ia >= 0 ? A->ne[ia] : 1, db = ib >= 0 ? Bm->ne[ib] : 1;
        ne[i] = PTQ_MAX(da, db);
        sa[i] = da == 1 ? 0 : stride_a;
        sb[i] = db == 1 ? 0 : stride_b;
        stride_a *= da;
        stride_b *= db;
        total *= ne[i];
    }
    const float *a = A->data, *b = Bm->data;
    float *y = out->data;
    if (total == 1) {
        int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, m / 4));
#pragma omp parallel num_threads(nt)
        {
            int64_t lo, hi;
            split(m, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            if (hi > lo) ptq_sgemm(0, 0, hi - lo, n, k, 1.0f, a + lo * k, k, b, n, 0.0f, y + lo * n, n);
        }
        return;
    }
#pragma omp parallel for num_threads(kc->threads) schedule(static)
    for (int64_t t = 0; t < total; t++) {
        int64_t rem = t, oa = 0, ob = 0;
        for (int64_t i = nbat - 1; i >= 0; i--) {
            int64_t idx = rem % ne[i];
            rem /= ne[i];
            oa += idx * sa[i];
            ob += idx * sb[i];
        }
        ptq_sgemm(0, 0, m, n, k, 1.0f, a + oa, k, b + ob, n, 0.0f, y + t * m * n, n);
    }
}
