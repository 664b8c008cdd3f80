/* quant.c — quantization grids and fake quantization, computed in float32 exactly as
 * ONNX QuantizeLinear and DequantizeLinear (round half to even, saturate), so a
 * simulated model and the exported QDQ model agree to the last bit. */
#include <fenv.h>
#include <float.h>

#include "internal.h"
#include "ptq/ptq_plugin.h"
#include "config.h"

void ptq_qrange(int32_t bits, bool symmetric, bool is_weight, bool *is_signed, int32_t *qmin,
                int32_t *qmax) {
    if (symmetric) {
        *is_signed = true;
        *qmax = (1 << (bits - 1)) - 1;
        *qmin = -*qmax;
    } else if (is_weight) {
        *is_signed = true;
        *qmin = -(1 << (bits - 1));
        *qmax = (1 << (bits - 1)) - 1;
    } else {
        *is_signed = false;
        *qmin = 0;
        *qmax = (1 << bits) - 1;
    }
}

ptq_status ptq_qparams_init(ptq_qparams *qp, int32_t bits, bool symmetric, bool is_weight,
                            int32_t axis, int64_t n, ptq_error *err) {
    memset(qp, 0, sizeof *qp);
    if (bits < 2 || (bits > 8 && bits != 16))
        return ptq_error_set(err, PTQ_ERR_INVALID, "%d bits: quantizers have 2 to 8 or 16 bits",
                             bits);
    qp->bits = bits;
    qp->axis = axis;
    qp->n = n;
    ptq_qrange(bits, symmetric, is_weight, &qp->is_signed, &qp->qmin, &qp->qmax);
    qp->scale = ptq_calloc_array((size_t)n, sizeof *qp->scale);
    qp->zero_point = ptq_calloc_array((size_t)n, sizeof *qp->zero_point);
    if (!qp->scale || !qp->zero_point) {
        ptq_qparams_free(qp);
        return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) qp->scale[i] = 1.0f;
    return PTQ_OK;
}

void ptq_qparams_limit(ptq_qparams *qp, int32_t max_code) {
    if (max_code <= 0) return;
    if (qp->qmax > max_code) qp->qmax = max_code;
    if (qp->qmin < -max_code) qp->qmin = -max_code;
}

/* The index of name in a table of n names, or -1 (also for NULL). */
static int32_t name_index(const char *const *names, int32_t n, const char *name) {
    for (int32_t i = 0; name && i < n; i++)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

static const char *const target_names[PTQ_TARGET_COUNT] = {"portable", "vnni", "none"};

const char *ptq_target_name(int32_t target) {
    return target >= 0 && target < PTQ_TARGET_COUNT ? target_names[target] : "?";
}

int32_t ptq_target_from_name(const char *name) {
    return name_index(target_names, PTQ_TARGET_COUNT, name);
}

int32_t ptq_target_max_asym_channel_bits(int32_t target) {
    /* Zero-point-free codes of a b-bit asymmetric grid span [-(2^b - 1), 2^b - 1]. */
    return target == PTQ_TARGET_PORTABLE ? 6 : target == PTQ_TARGET_VNNI ? 7 : 16;
}

int32_t ptq_target_max_code(int32_t target) {
    return target == PTQ_TARGET_PORTABLE ? PTQ_PORTABLE_MAX_CODE : 0;
}

void ptq_qparams_free(ptq_qparams *qp) {
    if (!qp) return;
    free(qp->scale);
    free(qp->zero_point);
    qp->scale = NULL;
    qp->zero_point = NULL;
    qp->n = 0;
}

ptq_status ptq_qparams_copy(ptq_qparams *dst, const ptq_qparams *src, ptq_error *err) {
    *dst = *src;
    dst->scale = ptq_calloc_array((size_t)src->n, sizeof *dst->scale);
    dst->zero_point = ptq_calloc_array((size_t)src->n, sizeof *dst->zero_point);
    if (!dst->scale || !dst->zero_point) {
        ptq_qparams_free(dst);
        return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    }
    memcpy(dst->scale, src->scale, (size_t)src->n * sizeof *dst->scale);
    memcpy(dst->zero_point, src->zero_point, (size_t)src->n * sizeof *dst->zero_point);
    return PTQ_OK;
}

void ptq_qparams_from_range(float lo, float hi, int32_t qmin, int32_t qmax, bool symmetric,
                            float *scale, int32_t *zero_point) {
    /* Zero must be representable exactly (padding, ReLU outputs): widen to include it. */
    if (!(lo <= 0.0f)) lo = 0.0f;
    if (!(hi >= 0.0f)) hi = 0.0f;
    const float tiny = 1e-8f;
    if (symmetric) {
        float m = fmaxf(-lo, hi);
        float s = m / (float)qmax;
        *scale = s > tiny ? s : tiny;
        if (!(*scale <= FLT_MAX)) *scale = FLT_MAX; /* an infinite bound */
        *zero_point = 0;
        return;
    }
    float s = (hi - lo) / (float)(qmax - qmin);
    /* hi - lo overflows to +inf for bounds beyond +-FLT_MAX / 2, and an infinite scale
     * would dequantize every value to 0 * inf = NaN: redo that case in double. */
    if (isinf(s)) {
        const double sd = ((double)hi - (double)lo) / (double)(qmax - qmin);
        s = sd <= FLT_MAX ? (float)sd : FLT_MAX;
    }
    if (!(s > tiny)) s = tiny;
    float z = (float)qmin - lo / s;
    long zi = lrintf(z);
    if (zi < qmin) zi = qmin;
    if (zi > qmax) zi = qmax;
    *scale = s;
    *zero_point = (int32_t)zi;
}

/* rintf rounds half to even in the default rounding mode, which the core never changes
 * (ONNX QuantizeLinear specifies round half to even). */
static inline float quantize_one(float x, float scale, float zp, float lo, float hi) {
    float q = rintf(x / scale) + zp;
    q = q < lo ? lo : q;
    return q > hi ? hi : q;
}

void ptq_fake_quant(const float *x, float *y, int64_t n, float scale, int32_t zero_point,
                    int32_t qmin, int32_t qmax) {
    const float zp = (float)zero_point, lo = (float)qmin, hi = (float)qmax;
    for (int64_t i = 0; i < n; i++) {
        /* NaN propagates through rint and the comparisons unchanged, as in onnxruntime. */
        const float q = quantize_one(x[i], scale, zp, lo, hi);
        y[i] = (q - zp) * scale;
    }
}

void ptq_quantize(const float *x, int32_t *q, int64_t n, float scale, int32_t zero_point,
                  int32_t qmin, int32_t qmax) {
    const float zp = (float)zero_point, lo = (float)qmin, hi = (float)qmax;
    for (int64_t i = 0; i < n; i++) {
        const float v = quantize_one(x[i], scale, zp, lo, hi);
        /* A NaN survives the clamp, and converting it to an integer is undefined
         * behaviour; it gets the code of zero instead. */
        q[i] = v == v ? (int32_t)v : zero_point;
    }
}

/* y[0..n) = fake-quantized x[0..n) through a plugin's rounding function: v = x / scale,
 * r = round(v), q = clamp(r + zp); index is x[0]'s flat index in its tensor. */
static void fake_quant_rounded(const ptq_rounding *r, void *state, const float *x, float *y,
                               int64_t n, int64_t index, float scale, int32_t zero_point,
                               int32_t qmin, int32_t qmax) {
    float v[256], rv[256];
    const float zp = (float)zero_point, lo = (float)qmin, hi = (float)qmax;
    for (int64_t at = 0; at < n; at += 256) {
        const int64_t m = PTQ_MIN(256, n - at);
        for (int64_t i = 0; i < m; i++) v[i] = x[at + i] / scale;
        r->forward(state, v, rv, m, index + at);
        for (int64_t i = 0; i < m; i++) {
            float q = rv[i] + zp;
            q = q < lo ? lo : (q > hi ? hi : q);
            y[at + i] = (q - zp) * scale;
        }
    }
}

void ptq_fake_quant_tensor_rounded(const ptq_qparams *qp, int32_t ndim, const int64_t *ne,
                                   const float *x, float *y, const ptq_rounding *r,
                                   void *state) {
    const int64_t total = ptq_shape_numel(ndim, ne);
    int64_t outer = 1, inner = total, c = 1;
    if (qp->axis >= 0 && qp->n > 1) {
        inner = 1;
        for (int32_t i = 0; i < ndim; i++) {
            if (i < qp->axis) outer *= ne[i];
            if (i > qp->axis) inner *= ne[i];
        }
        c = ne[qp->axis];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t ch = 0; ch < c; ch++) {
            const int64_t off = (o * c + ch) * inner;
            if (r)
                fake_quant_rounded(r, state, x + off, y + off, inner, off, qp->scale[ch],
                                   qp->zero_point[ch], qp->qmin, qp->qmax);
            else
                ptq_fake_quant(x + off, y + off, inner, qp->scale[ch], qp->zero_point[ch],
                               qp->qmin, qp->qmax);
        }
}

/* Border rounding (AQuant's learned activation rounding, frozen): v = x / scale rounds up
 * from floor(v) when its fraction exceeds the border of its bin instead of 0.5.  Strictly:
 * a value on the grid (a ReLU's zeros) stays where it is whatever the border.  The bin
 * is the code floor(v) + zp - qmin, clamped into the table (a value below the grid or at
 * its top is clamped to qmin or qmax whatever its border says); the exporter writes the
 * same arithmetic as ONNX ops, so both agree to the bit. */
static inline float border_round(float v, const float *b, float z_lo, float last) {
    const float k = floorf(v);
    float bin = k + z_lo;
    if (!(bin >= 0.0f)) bin = 0.0f; /* NaN too: v is NaN, and so is the result */
    if (bin > last) bin = last;
    return k + (v - k > b[(int64_t)bin] ? 1.0f : 0.0f);
}

float ptq_border_round(float v, const float *borders, int32_t zero_point, int32_t qmin,
                       int32_t qmax) {
    return border_round(v, borders, (float)(zero_point - qmin), (float)(qmax - qmin - 1));
}

void ptq_fake_quant_tensor_border(const ptq_qparams *qp, int32_t ndim, const int64_t *ne,
                                  const float *x, float *y, const float *borders,
                                  int64_t border_channels) {
    const int64_t outer = ndim >= 1 ? ne[0] : 1, c = ndim >= 2 ? ne[1] : 1;
    const int64_t inner = ptq_shape_numel(ndim, ne) / PTQ_MAX(outer * c, 1);
    const int64_t bins = qp->qmax - qp->qmin;
    const float lo = (float)qp->qmin, hi = (float)qp->qmax, last = (float)(bins - 1);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t ch = 0; ch < c; ch++) {
            const int64_t off = (o * c + ch) * inner;
            const int64_t sc = qp->axis == 1 && qp->n > 1 ? ch : 0;
            const float scale = qp->scale[sc], zp = (float)qp->zero_point[sc];
            const float z_lo = (float)(qp->zero_point[sc] - qp->qmin);
            const float *b = borders + (border_channels > 1 ? ch : 0) * bins;
            for (int64_t i = 0; i < inner; i++) {
                float q = border_round(x[off + i] / scale, b, z_lo, last) + zp;
                q = q < lo ? lo : (q > hi ? hi : q);
                y[off + i] = (q - zp) * scale;
            }
        }
}

void ptq_fake_quant_tensor(const ptq_qparams *qp, int32_t ndim, const int64_t *ne, const float *x,
                           float *y) {
    ptq_fake_quant_tensor_rounded(qp, ndim, ne, x, y, NULL, NULL);
}

double ptq_sqnr_db(const float *x, const float *y, int64_t n) {
    double sig = 0.0, noise = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)x[i] - (double)y[i];
        sig += (double)x[i] * (double)x[i];
        noise += d * d;
    }
    if (noise == 0.0) return INFINITY;
    if (sig == 0.0) return -INFINITY;
    return 10.0 * log10(sig / noise);
}

static const char *const observer_names[PTQ_OBSERVER_COUNT] = {"minmax", "percentile", "mse", "kl"};
static const char *const search_names[PTQ_SEARCH_COUNT] = {"auto", "shrink", "mqbench"};
static const char *const placement_names[PTQ_PLACEMENT_COUNT] = {"deploy", "paper"};

const char *ptq_observer_name(int32_t observer) {
    return observer >= 0 && observer < PTQ_OBSERVER_COUNT ? observer_names[observer] : "?";
}

int32_t ptq_observer_from_name(const char *name) {
    return name_index(observer_names, PTQ_OBSERVER_COUNT, name);
}

const char *ptq_search_name(int32_t search) {
    return search >= 0 && search < PTQ_SEARCH_COUNT ? search_names[search] : "?";
}

int32_t ptq_search_from_name(const char *name) {
    return name_index(search_names, PTQ_SEARCH_COUNT, name);
}

const char *ptq_placement_name(int32_t placement) {
    return placement >= 0 && placement < PTQ_PLACEMENT_COUNT ? placement_names[placement] : "?";
}

int32_t ptq_placement_from_name(const char *name) {
    return name_index(placement_names, PTQ_PLACEMENT_COUNT, name);
}
