/* layernorm.c — LayerNormalization (opset 17) over the dims from `axis` on.
 *
 * Per row of D = prod(shape[axis:]) elements, in the order of the ONNX reference
 * function: mean, d = x - mean, var = mean(d * d), invstd = 1 / sqrt(var + eps),
 * y = (d * invstd) * scale + bias.  Scale and bias are broadcast once into the shared
 * scratch as D floats each, so the row loop reads them contiguously. */
#include <omp.h>

#include "internal.h"

static int64_t row_size(const ptq_node *n, const ptq_kt *x) {
    int64_t d = 1;
    for (int32_t i = (int32_t)n->attrs.axis; i < x->ndim; i++) d *= x->ne[i];
    return d;
}

size_t ptq_work_layer_norm_shared(const ptq_node *n, const ptq_kt *in) {
    return (size_t)(2 * row_size(n, &in[0]));
}

static float row_sq_dev(const float *x, float mean, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            float d = x[i + j] - mean;
            acc[j] += d * d;
        }
    float s = 0.0f;
    for (; i < n; i++) {
        float d = x[i] - mean;
        s += d * d;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + s;
}

void ptq_fwd_layer_norm(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *X = &in[0];
    const int64_t d = row_size(n, X);
    const int64_t rows = d ? ptq_kt_numel(X) / d : 0;
    const bool has_bias = n->n_inputs > 2 && n->inputs[2] >= 0;
    /* Scale and bias as D floats each (broadcast onto the trailing dims). */
    float *scale = kc->shared, *bias = kc->shared + d;
    ptq_kt s = {.ndim = X->ndim - (int32_t)n->attrs.axis, .data = scale};
    for (int32_t i = 0; i < s.ndim; i++) s.ne[i] = X->ne[n->attrs.axis + i];
    ptq_broadcast_copy(&in[1], &s, 1);
    if (has_bias) {
        s.data = bias;
        ptq_broadcast_copy(&in[2], &s, 1);
    } else {
        memset(bias, 0, (size_t)d * sizeof(float));
    }
    const float eps = n->attrs.epsilon;
    const float *x = X->data;
    float *y = out->data;
    int nt = (int)PTQ_MIN((int64_t)kc->threads, PTQ_MAX(1, rows * d / 16384));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        const float mean = ptq_row_sum(xr, d) / (float)d;
        const float var = row_sq_dev(xr, mean, d) / (float)d;
        const float invstd = 1.0f / sqrtf(var + eps);
        for (int64_t i = 0; i < d; i++) yr[i] = ((xr[i] - mean) * invstd) * scale[i] + bias[i];
    }
}
