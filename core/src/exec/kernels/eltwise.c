/* eltwise.c — element-wise kernels: broadcast arithmetic, activations, inference
 * BatchNormalization, Softmax.  Formulas follow PyTorch's CPU kernels where they differ
 * in rounding from the textbook (BatchNorm as x * a + b with a = gamma / sqrt(var + eps)),
 * so evaluations match PyTorch's to the last few ulps. */
#include <omp.h>

#include "internal.h"
#include "simd.h"
#include "vmath.h"

/* ---- binary with numpy broadcasting -------------------------------------------- */

static inline float apply(ptq_op op, float a, float b) {
    switch (op) {
    case PTQ_OP_ADD: return a + b;
    case PTQ_OP_SUB: return a - b;
    case PTQ_OP_MUL: return a * b;
    default: return a / b;
    }
}

/* Runs op over n elements with strides 0 or 1 for each operand. */
static void run_row(ptq_op op, const float *a, int64_t sa, const float *b, int64_t sb, float *y,
                    int64_t n) {
    if (sa && sb) {
        switch (op) {
        case PTQ_OP_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i]; break;
        case PTQ_OP_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i]; break;
        case PTQ_OP_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i]; break;
        default: for (int64_t i = 0; i < n; i++) y[i] = a[i] / b[i]; break;
        }
    } else if (sa) {
        const float bv = *b;
        for (int64_t i = 0; i < n; i++) y[i] = apply(op, a[i], bv);
    } else if (sb) {
        const float av = *a;
        for (int64_t i = 0; i < n; i++) y[i] = apply(op, av, b[i]);
    } else {
        const float v = apply(op, *a, *b);
        for (int64_t i = 0; i < n; i++) y[i] = v;
    }
}

void ptq_fwd_binary(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *A = &in[0], *Bt = &in[1];
    const int32_t r = out->ndim;
    /* Broadcast strides of each operand over the output's dims, then merge adjacent dims
     * that broadcast the same way so the inner loop is as long as possible. */
    int64_t ne[PTQ_MAX_DIMS], sa[PTQ_MAX_DIMS], sb[PTQ_MAX_DIMS];
    int64_t ka = 1, kb = 1;
    for (int32_t i = r - 1; i >= 0; i--) {
        int32_t ia = i - (r - A->ndim), ib = i - (r - Bt->ndim);
        int64_t da = ia >= 0 ? A->ne[ia] : 1, db = ib >= 0 ? Bt->ne[ib] : 1;
        ne[i] = out->ne[i];
        sa[i] = da == 1 ? 0 : ka;
        sb[i] = db == 1 ? 0 : kb;
        ka *= da;
        kb *= db;
    }
    int32_t m = 0;
    int64_t mne[PTQ_MAX_DIMS + 1], msa[PTQ_MAX_DIMS + 1], msb[PTQ_MAX_DIMS + 1];
    for (int32_t i = 0; i < r; i++) {
        if (ne[i] == 1) continue;
        if (m > 0 && (msa[m - 1] == 0) == (sa[i] == 0) && (msb[m - 1] == 0) == (sb[i] == 0) &&
            (msa[m - 1] == 0 || msa[m - 1] == sa[i] * ne[i]) &&
            (msb[m - 1] == 0 || msb[m - 1] == sb[i] * ne[i])) {
            mne[m - 1] *= ne[i];
            msa[m - 1] = sa[i];
            msb[m - 1] = sb[i];
            continue;
        }
        mne[m] = ne[i];
        msa[m] = sa[i];
        msb[m] = sb[i];
        m++;
    }
    if (m == 0) { /* a single element */
        mne[0] = 1;
        msa[0] = msb[0] = 1;
        m = 1;
    }
    const int64_t inner = mne[m - 1];
    const int64_t isa = msa[m - 1] ? 1 : 0, isb = msb[m - 1] ? 1 : 0;
    int64_t rows = 1;
    for (int32_t i = 0; i < m - 1; i++) rows *= mne[i];
    const float *a = A->data, *b = Bt->data;
    float *y = out->data;
    const ptq_op op = node->op;
    int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, rows * inner / 16384));
    if (rows == 1) {
        /* One long row: split it. */
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            int64_t lo = inner * t / T, hi = inner * (t + 1) / T;
            run_row(op, a + lo * isa, isa, b + lo * isb, isb, y + lo, hi - lo);
            if (kc->ep) ptq_epilogue_apply(kc->ep, -1, y + lo, hi - lo);
        }
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, oa = 0, ob = 0;
        for (int32_t i = m - 2; i >= 0; i--) {
            int64_t idx = rem % mne[i];
            rem /= mne[i];
            oa += idx * msa[i];
            ob += idx * msb[i];
        }
        run_row(op, a + oa, isa, b + ob, isb, y + row * inner, inner);
        if (kc->ep) ptq_epilogue_apply(kc->ep, -1, y + row * inner, inner);
    }
}

/* ---- activations ------------------------------------------------------------------ */

bool ptq_is_activation(ptq_op op) {
    switch (op) {
    case PTQ_OP_RELU:
    case PTQ_OP_CLIP:
    case PTQ_OP_LEAKY_RELU:
    case PTQ_OP_SIGMOID:
    case PTQ_OP_HARD_SIGMOID:
    case PTQ_OP_HARD_SWISH:
    case PTQ_OP_TANH: return true;
    default: return false;
    }
}

static void unary_range(const ptq_node *node, const float *x, float *y, int64_t n) {
    const ptq_node_attrs *a = &node->attrs;
    switch (node->op) {
    case PTQ_OP_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case PTQ_OP_CLIP: {
        const float lo = a->clip_min, hi = a->clip_max;
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < lo ? lo : x[i];
            y[i] = v > hi ? hi : v;
        }
        break;
    }
    case PTQ_OP_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] >= 0.0f ? x[i] : x[i] * a->alpha;
        break;
    case PTQ_OP_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case PTQ_OP_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = a->alpha * x[i] + a->beta;
            y[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
        break;
    case PTQ_OP_HARD_SWISH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] + 3.0f;
            v = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
            y[i] = x[i] * v / 6.0f;
        }
        break;
    case PTQ_OP_TANH:
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    default: PTQ_ABORT("unary kernel called for %s", ptq_op_name(node->op));
    }
}

void ptq_fwd_unary(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const int64_t n = ptq_kt_numel(out);
    const float *x = in[0].data;
    float *y = out->data;
    int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, n / 16384));
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t lo = n * t / T, hi = n * (t + 1) / T;
        unary_range(node, x + lo, y + lo, hi - lo);
    }
}

/* ---- BatchNormalization (inference) --------------------------------------------- */

void ptq_fwd_batch_norm(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *X = &in[0];
    const float *gamma = in[1].data, *beta = in[2].data, *mean = in[3].data, *var = in[4].data;
    const int64_t n = X->ne[0], c = X->ne[1];
    int64_t inner = 1;
    for (int32_t i = 2; i < X->ndim; i++) inner *= X->ne[i];
    const float *x = X->data;
    float *y = out->data;
    /* The coefficients go in the shared scratch (2 * C floats, see ops.c). */
    float *a = kc->shared, *b = kc->shared + c;
    ptq_bn_coefficients(node, gamma, beta, mean, var, c, a, b);
    int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, n * c * inner / 16384));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t it = 0; it < n * c; it++) {
        const int64_t ch = it % c;
        const float *xs = x + it * inner;
        float *ys = y + it * inner;
        for (int64_t i = 0; i < inner; i++) ys[i] = xs[i] * a[ch] + b[ch];
    }
}

void ptq_bn_coefficients(const ptq_node *bn, const float *gamma, const float *beta,
                         const float *mean, const float *var, int64_t channels, float *a,
                         float *b) {
    const float eps = bn->attrs.epsilon;
    for (int64_t ch = 0; ch < channels; ch++) {
        const float invstd = 1.0f / sqrtf(var[ch] + eps);
        a[ch] = gamma[ch] * invstd;
        b[ch] = beta[ch] - mean[ch] * a[ch];
    }
}

size_t ptq_work_batch_norm_shared(const ptq_node *n, const ptq_kt *in) {
    (void)n;
    return (size_t)(2 * in[0].ne[1]);
}

/* The epilogue of one element, exactly as the separate kernels compute it: Add (or the
 * conv's bias), BatchNormalization's x * a + b, then Relu or Clip. */
#define EPILOGUE_SCALAR(x)                                                                 \
    do {                                                                                   \
        float v_ = (x) + bias;                                                             \
        if (affine) v_ = v_ * a + b;                                                       \
        if (act == PTQ_OP_RELU) v_ = v_ > 0.0f ? v_ : 0.0f;                                \
        if (act == PTQ_OP_CLIP) {                                                          \
            v_ = v_ < lo ? lo : v_;                                                        \
            v_ = v_ > hi ? hi : v_;                                                        \
        }                                                                                  \
        (x) = v_;                                                                          \
    } while (0)

/* One row, vectorised; the flags are loop-invariant and the function is inlined per
 * combination below, so the vector loop is branch-free.  With `spill`, the ragged end is
 * done as one more whole vector whose extra lanes land in d[n .. n+VL): the caller
 * guarantees that memory belongs to rows it stores afterwards, and that s may be read
 * that far. */
static inline __attribute__((always_inline)) void store_row(float *d, const float *s, int64_t n,
                                                            bool spill, float bias, bool affine,
                                                            float a, float b, ptq_op act,
                                                            float lo, float hi) {
    const vf vb = vsplat(bias), va = vsplat(a), vsh = vsplat(b), vlo = vsplat(lo),
             vhi = vsplat(hi), zero = vsplat(0.0f);
    int64_t j = 0;
    const int64_t vec_end = spill ? n : n - VL + 1;
    for (; j < vec_end; j += VL) {
        vf v = vload(s + j) + vb;
        if (affine) v = v * va + vsh;
        if (act == PTQ_OP_RELU) v = vselect(v > zero, v, zero);
        if (act == PTQ_OP_CLIP) {
            v = vselect(v < vlo, vlo, v);
            v = vselect(v > vhi, vhi, v);
        }
        vstore(d + j, v);
    }
#if PTQ_HAVE_MASKED
    if (j < n) { /* the ragged end as one masked vector, same lane arithmetic */
        vf v = vload_n(s + j, n - j) + vb;
        if (affine) v = v * va + vsh;
        if (act == PTQ_OP_RELU) v = vselect(v > zero, v, zero);
        if (act == PTQ_OP_CLIP) {
            v = vselect(v < vlo, vlo, v);
            v = vselect(v > vhi, vhi, v);
        }
        vstore_n(d + j, v, n - j);
    }
#else
    for (; j < n; j++) {
        float x = s[j];
        EPILOGUE_SCALAR(x);
        d[j] = x;
    }
#endif
}

void ptq_store_plane(float *dst, const float *src, int64_t rows, int64_t cols, int64_t src_stride,
                     float bias, const ptq_epilogue *ep, int64_t channel) {
    const bool affine = ep && ep->scale;
    const float a = affine ? ep->scale[channel] : 1.0f, b = affine ? ep->shift[channel] : 0.0f;
    ptq_op act = ep && ep->act ? ep->act->op : PTQ_OP_NONE;
    const float lo = act == PTQ_OP_CLIP ? ep->act->attrs.clip_min : 0.0f;
    const float hi = act == PTQ_OP_CLIP ? ep->act->attrs.clip_max : 0.0f;
    const bool other = act != PTQ_OP_NONE && act != PTQ_OP_RELU && act != PTQ_OP_CLIP;
    if (other) act = PTQ_OP_NONE; /* applied afterwards by the activation's own kernel */
    /* A dense block is one long row. */
    if (src_stride == cols) {
        cols *= rows;
        rows = 1;
    }
    for (int64_t i = 0; i < rows; i++) {
        float *d = dst + i * cols;
        const float *s = src + i * src_stride;
        /* Short rows may spill a vector into the rows after them, which are stored later;
         * the last rows of the block may not.  src rows are read up to VL floats past. */
        const bool spill = src != dst && (rows - 1 - i) * cols >= VL;
#define ROW(AFF, ACT) store_row(d, s, cols, spill, bias, AFF, a, b, ACT, lo, hi)
        switch ((affine ? 4 : 0) + (act == PTQ_OP_RELU ? 1 : act == PTQ_OP_CLIP ? 2 : 0)) {
        case 0: ROW(false, PTQ_OP_NONE); break;
        case 1: ROW(false, PTQ_OP_RELU); break;
        case 2: ROW(false, PTQ_OP_CLIP); break;
        case 4: ROW(true, PTQ_OP_NONE); break;
        case 5: ROW(true, PTQ_OP_RELU); break;
        default: ROW(true, PTQ_OP_CLIP); break;
        }
#undef ROW
        if (other) unary_range(ep->act, d, d, cols);
    }
}

void ptq_epilogue_apply(const ptq_epilogue *ep, int64_t channel, float *y, int64_t n) {
    if (ep->scale) {
        const float a = ep->scale[channel], b = ep->shift[channel];
        for (int64_t i = 0; i < n; i++) y[i] = y[i] * a + b;
    }
    if (ep->act) unary_range(ep->act, y, y, n);
}

/* ---- Softmax ------------------------------------------------------------------------ */

void ptq_fwd_softmax(const ptq_node *node, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *X = &in[0];
    const int64_t axis = node->attrs.axis;
    /* [outer, d, inner]: opset >= 13 normalises along one axis; older opsets coerce the
     * input to 2-D at `axis` and normalise each row. */
    int64_t outer = 1, d = 1, inner = 1;
    for (int32_t i = 0; i < X->ndim; i++) {
        if (i < axis) outer *= X->ne[i];
        else if (i == axis || node->attrs.softmax_legacy) d *= X->ne[i];
        else inner *= X->ne[i];
    }
    const float *x = X->data;
    float *y = out->data;
    int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, outer * d * inner / 16384));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t it = 0; it < outer * inner; it++) {
        const int64_t o = it / inner, i = it % inner;
        const float *xs = x + o * d * inner + i;
        float *ys = y + o * d * inner + i;
        float mx = -INFINITY;
        for (int64_t j = 0; j < d; j++) mx = xs[j * inner] > mx ? xs[j * inner] : mx;
        float sum = 0.0f;
        if (inner == 1) { /* a contiguous row: the exponentials a vector at a time */
            const vf vmx = vsplat(mx);
            int64_t j = 0;
            for (; j + VL <= d; j += VL) vstore(ys + j, ptq_vexp_nonpos(vload(xs + j) - vmx));
            if (j < d) vstore_n(ys + j, ptq_vexp_nonpos(vload_n(xs + j, d - j) - vmx), d - j);
            for (j = 0; j < d; j++) sum += ys[j];
        } else {
            for (int64_t j = 0; j < d; j++) {
                float e = expf(xs[j * inner] - mx);
                ys[j * inner] = e;
                sum += e;
            }
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < d; j++) ys[j * inner] *= inv;
    }
}
