/* test_quant.c — quantization grids (quant.c) and the range observers (observers.c).
 *
 * Grid tests use hand-computed values: the integer ranges, scales and zero points of
 * small ranges, round half to even, saturation.  Observer tests check what each method
 * promises rather than its exact output: MSE never loses to minmax on the error it
 * measures, a histogram percentile lands within a bin of the exact one, KL clips a
 * Gaussian's tail but not a uniform's.  Data come from test_rng with fixed seeds.  Large
 * loops count failures and assert once: each Check assertion costs a system call. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define N_BITS 8
static const int32_t all_bits[N_BITS] = {2, 3, 4, 5, 6, 7, 8, 16};

static float *falloc(int64_t n) {
    float *p = malloc((size_t)n * sizeof *p + 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* A standard normal sample (Box-Muller). */
static float gauss(test_rng *r) {
    const double u = 1.0 - (double)test_rng_uniform(r, 0.0f, 1.0f); /* (0, 1] */
    const double v = (double)test_rng_uniform(r, 0.0f, 1.0f);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Mean squared error of x fake-quantized per tensor on qp. */
static double qp_mse(const ptq_qparams *qp, const float *x, int64_t n) {
    float *y = falloc(n);
    ptq_fake_quant(x, y, n, qp->scale[0], qp->zero_point[0], qp->qmin, qp->qmax);
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    free(y);
    return e / (double)n;
}

/* The largest value a per-tensor grid represents: (qmax - zp) * scale. */
static double qp_top(const ptq_qparams *qp) {
    return (double)(qp->qmax - qp->zero_point[0]) * (double)qp->scale[0];
}

/* ================================================================== grids ====== */

START_TEST(qrange_every_width) {
    /* bits, then [qmin, qmax] for symmetric, asymmetric weight, asymmetric activation. */
    static const int32_t want[N_BITS][7] = {
        {2, -1, 1, -2, 1, 0, 3},
        {3, -3, 3, -4, 3, 0, 7},
        {4, -7, 7, -8, 7, 0, 15},
        {5, -15, 15, -16, 15, 0, 31},
        {6, -31, 31, -32, 31, 0, 63},
        {7, -63, 63, -64, 63, 0, 127},
        {8, -127, 127, -128, 127, 0, 255},
        {16, -32767, 32767, -32768, 32767, 0, 65535},
    };
    for (int i = 0; i < N_BITS; i++) {
        const int32_t *w = want[i];
        bool sgn;
        int32_t lo, hi;
        for (int weight = 0; weight < 2; weight++) { /* symmetric ignores is_weight */
            ptq_qrange(w[0], true, weight, &sgn, &lo, &hi);
            ck_assert_msg(sgn && lo == w[1] && hi == w[2], "%d bits symmetric: [%d, %d]", w[0],
                          lo, hi);
        }
        ptq_qrange(w[0], false, true, &sgn, &lo, &hi);
        ck_assert_msg(sgn && lo == w[3] && hi == w[4], "%d bits weight: [%d, %d]", w[0], lo, hi);
        ptq_qrange(w[0], false, false, &sgn, &lo, &hi);
        ck_assert_msg(!sgn && lo == w[5] && hi == w[6], "%d bits act: [%d, %d]", w[0], lo, hi);
    }
}
END_TEST

START_TEST(qparams_init_and_copy) {
    ptq_error err = {0};
    ptq_qparams qp, cp;
    ck_assert_int_eq(ptq_qparams_init(&qp, 4, false, false, 1, 3, &err), PTQ_OK);
    ck_assert_int_eq(qp.bits, 4);
    ck_assert(!qp.is_signed);
    ck_assert_int_eq(qp.qmin, 0);
    ck_assert_int_eq(qp.qmax, 15);
    ck_assert_int_eq(qp.axis, 1);
    ck_assert_int_eq(qp.n, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_float_eq(qp.scale[i], 1.0f);
        ck_assert_int_eq(qp.zero_point[i], 0);
    }
    qp.scale[2] = 0.25f;
    qp.zero_point[1] = 7;
    ck_assert_int_eq(ptq_qparams_copy(&cp, &qp, &err), PTQ_OK);
    ck_assert_ptr_ne(cp.scale, qp.scale);
    ck_assert_float_eq(cp.scale[2], 0.25f);
    ck_assert_int_eq(cp.zero_point[1], 7);
    ptq_qparams_free(&qp);
    ptq_qparams_free(&cp);
    ptq_qparams_free(&cp); /* freeing twice is harmless */
    for (int32_t bits = -1; bits <= 17; bits++) {
        ptq_error e = {0};
        ptq_status st = ptq_qparams_init(&qp, bits, true, true, -1, 1, &e);
        const bool ok = (bits >= 2 && bits <= 8) || bits == 16;
        ck_assert_msg(ok ? st == PTQ_OK : st == PTQ_ERR_INVALID && test_contains(e.msg, "bits"),
                      "%d bits: status %d '%s'", bits, st, e.msg);
        ptq_qparams_free(&qp);
    }
}
END_TEST

START_TEST(from_range_hand_computed) {
    float s;
    int32_t z;
    /* [-1, 3] on 8-bit unsigned: scale 4/255, zero point rint(0 + 1 / (4/255)) =
     * rint(63.75) = 64. */
    ptq_qparams_from_range(-1.0f, 3.0f, 0, 255, false, &s, &z);
    ck_assert_float_eq(s, 4.0f / 255.0f);
    ck_assert_int_eq(z, 64);
    /* The same on the signed weight grid: zp = rint(-128 + 63.75) = -64. */
    ptq_qparams_from_range(-1.0f, 3.0f, -128, 127, false, &s, &z);
    ck_assert_float_eq(s, 4.0f / 255.0f);
    ck_assert_int_eq(z, -64);
    /* Symmetric: max(|lo|, |hi|) / qmax, zero point 0. */
    ptq_qparams_from_range(-1.0f, 3.0f, -127, 127, true, &s, &z);
    ck_assert_float_eq(s, 3.0f / 127.0f);
    ck_assert_int_eq(z, 0);
    ptq_qparams_from_range(-6.0f, 2.0f, -7, 7, true, &s, &z);
    ck_assert_float_eq(s, 6.0f / 7.0f);
    ck_assert_int_eq(z, 0);
    /* A range without 0 is widened to include it: [2, 5] -> [0, 5], [-5, -2] -> [-5, 0]. */
    ptq_qparams_from_range(2.0f, 5.0f, 0, 255, false, &s, &z);
    ck_assert_float_eq(s, 5.0f / 255.0f);
    ck_assert_int_eq(z, 0);
    ptq_qparams_from_range(-5.0f, -2.0f, 0, 255, false, &s, &z);
    ck_assert_float_eq(s, 5.0f / 255.0f);
    ck_assert_int_eq(z, 255);
    ptq_qparams_from_range(2.0f, 5.0f, -7, 7, true, &s, &z);
    ck_assert_float_eq(s, 5.0f / 7.0f);
    /* Zero is then exact. */
    float zero = 0.0f, y;
    ptq_qparams_from_range(-1.0f, 3.0f, 0, 255, false, &s, &z);
    ptq_fake_quant(&zero, &y, 1, s, z, 0, 255);
    ck_assert_float_eq(y, 0.0f);
}
END_TEST

/* Degenerate and extreme ranges never give a zero, negative, infinite or NaN scale. */
START_TEST(from_range_degenerate) {
    static const float cases[][2] = {
        {0.0f, 0.0f}, {-0.0f, 0.0f}, {3.0f, 3.0f}, {-2.0f, -2.0f}, {1e-30f, 1e-30f},
        {5.0f, 1.0f}, /* inverted: widened to [0, 5] */
        {-3e38f, 3e38f}, {-FLT_MAX, FLT_MAX}, /* hi - lo overflows float */
        {-INFINITY, INFINITY}, {NAN, NAN}, {NAN, 2.0f}, {INFINITY, -INFINITY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int sym = 0; sym < 2; sym++)
            for (int b = 0; b < N_BITS; b++) {
                bool sgn;
                int32_t qmin, qmax, z;
                float s;
                ptq_qrange(all_bits[b], sym, false, &sgn, &qmin, &qmax);
                ptq_qparams_from_range(cases[i][0], cases[i][1], qmin, qmax, sym, &s, &z);
                ck_assert_msg(s > 0.0f && isfinite(s) && z >= qmin && z <= qmax,
                              "[%g, %g] %d bits sym %d: scale %g zp %d", (double)cases[i][0],
                              (double)cases[i][1], all_bits[b], sym, (double)s, z);
            }
    /* Regression (quant.c): [-3e38, 3e38] used to give an infinite scale, and every value
     * then dequantized to 0 * inf = NaN. */
    float s, y, x = 1e38f;
    int32_t z;
    ptq_qparams_from_range(-3e38f, 3e38f, 0, 255, false, &s, &z);
    ptq_fake_quant(&x, &y, 1, s, z, 0, 255);
    ck_assert_msg(isfinite(y) && fabs((double)y - 1e38) <= (double)s, "y = %g", (double)y);
}
END_TEST

START_TEST(fake_quant_round_half_even) {
    /* Scale 1: x / s is x itself, exactly representable halves. */
    const float x[] = {2.5f, 3.5f, -2.5f, -3.5f, 0.5f, -0.5f, 1.5f, 2.4999998f, 2.6f};
    const float want[] = {2.0f, 4.0f, -2.0f, -4.0f, 0.0f, -0.0f, 2.0f, 2.0f, 3.0f};
    float y[9];
    ptq_fake_quant(x, y, 9, 1.0f, 0, -128, 127);
    for (int i = 0; i < 9; i++)
        ck_assert_msg(y[i] == want[i], "%g -> %g", (double)x[i], (double)y[i]);
    /* Scale 0.5 (exact division): 1.25 / 0.5 = 2.5 -> 2 -> 1.0; 1.75 -> 3.5 -> 4 -> 2.0. */
    const float x2[] = {1.25f, 1.75f, -1.25f};
    const float want2[] = {1.0f, 2.0f, -1.0f};
    ptq_fake_quant(x2, y, 3, 0.5f, 0, -128, 127);
    for (int i = 0; i < 3; i++) ck_assert_float_eq(y[i], want2[i]);
    /* The zero point is added after rounding: with zp 3, 2.5 -> 2 + 3 = 5 -> (5-3) * 1. */
    ptq_fake_quant(x, y, 1, 1.0f, 3, 0, 255);
    ck_assert_float_eq(y[0], 2.0f);
    /* In place. */
    float inplace[] = {2.5f, 3.5f};
    ptq_fake_quant(inplace, inplace, 2, 1.0f, 0, -128, 127);
    ck_assert_float_eq(inplace[0], 2.0f);
    ck_assert_float_eq(inplace[1], 4.0f);
}
END_TEST

START_TEST(fake_quant_saturates) {
    const float x[] = {1000.0f, -1000.0f, 7.4f, 7.6f, -7.6f, -8.4f, -8.6f};
    float y[7];
    /* Signed 4-bit weight grid [-8, 7] at scale 1. */
    ptq_fake_quant(x, y, 7, 1.0f, 0, -8, 7);
    const float want[] = {7.0f, -8.0f, 7.0f, 7.0f, -8.0f, -8.0f, -8.0f};
    for (int i = 0; i < 7; i++)
        ck_assert_msg(y[i] == want[i], "%g -> %g", (double)x[i], (double)y[i]);
    /* Unsigned [0, 255] with zp 64, scale 4/255 ([-1, 3]): saturates at
     * (0 - 64) s and (255 - 64) s. */
    const float s = 4.0f / 255.0f;
    ptq_fake_quant(x, y, 2, s, 64, 0, 255);
    ck_assert_float_eq(y[0], (float)(255 - 64) * s);
    ck_assert_float_eq(y[1], (float)(0 - 64) * s);
}
END_TEST

/* ptq_fake_quant_tensor applies one scale per slice of the channel axis. */
START_TEST(fake_quant_tensor_per_channel) {
    const int64_t ne[2] = {2, 3};
    const float x[6] = {0.4f, 1.6f, -2.5f, 0.3f, 0.8f, 1.1f};
    float y[6];
    ptq_error err = {0};
    ptq_qparams qp;
    /* Axis 0, scales {1, 0.5}: row 0 -> {0, 2, -2}; row 1: 0.6 -> 1, 1.6 -> 2, 2.2 -> 2. */
    ck_assert_int_eq(ptq_qparams_init(&qp, 8, false, true, 0, 2, &err), PTQ_OK);
    qp.scale[1] = 0.5f;
    ptq_fake_quant_tensor(&qp, 2, ne, x, y);
    const float want0[6] = {0.0f, 2.0f, -2.0f, 0.5f, 1.0f, 1.0f};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(y[i] == want0[i], "axis 0: y[%d] = %g", i, (double)y[i]);
    ptq_qparams_free(&qp);
    /* Axis 1, scales {1, 0.5, 0.25}: column 1 -> 3.2 -> 3, 1.6 -> 2; column 2: -10, 4.4 -> 4. */
    ck_assert_int_eq(ptq_qparams_init(&qp, 8, false, true, 1, 3, &err), PTQ_OK);
    qp.scale[1] = 0.5f;
    qp.scale[2] = 0.25f;
    ptq_fake_quant_tensor(&qp, 2, ne, x, y);
    const float want1[6] = {0.0f, 1.5f, -2.5f, 0.0f, 1.0f, 1.0f};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(y[i] == want1[i], "axis 1: y[%d] = %g", i, (double)y[i]);
    ptq_qparams_free(&qp);
    /* A 4-D tensor along axis 1, against slice-by-slice ptq_fake_quant. */
    test_rng r = {0x5CA1E};
    const int64_t ne4[4] = {3, 4, 2, 5};
    float x4[120], y4[120], w4[120];
    test_fill_uniform(&r, x4, 120, -3.0f, 3.0f);
    ck_assert_int_eq(ptq_qparams_init(&qp, 4, false, false, 1, 4, &err), PTQ_OK);
    for (int c = 0; c < 4; c++) {
        qp.scale[c] = 0.05f + 0.1f * (float)c;
        qp.zero_point[c] = 3 + c;
    }
    ptq_fake_quant_tensor(&qp, 4, ne4, x4, y4);
    for (int o = 0; o < 3; o++)
        for (int c = 0; c < 4; c++)
            ptq_fake_quant(x4 + (o * 4 + c) * 10, w4 + (o * 4 + c) * 10, 10, qp.scale[c],
                           qp.zero_point[c], qp.qmin, qp.qmax);
    ck_assert_mem_eq(y4, w4, sizeof y4);
    ptq_qparams_free(&qp);
}
END_TEST

/* Every output is on the grid, (y / s + zp) an integer in [qmin, qmax], and inside the
 * representable range the error is at most half a step; for every width and grid kind. */
START_TEST(fake_quant_on_grid) {
    test_rng r = {0x6121D};
    enum { N = 2000 };
    float x[N], y[N];
    int64_t off_grid = 0, out_of_range = 0, too_far = 0, checked = 0;
    for (int32_t bits = 2; bits <= 8; bits++)
        for (int kind = 0; kind < 3; kind++) { /* symmetric, asymmetric weight, activation */
            for (int rep = 0; rep < 4; rep++) {
                bool sgn;
                int32_t qmin, qmax, z;
                float s;
                ptq_qrange(bits, kind == 0, kind == 1, &sgn, &qmin, &qmax);
                const float lo = test_rng_uniform(&r, -5.0f, 0.5f);
                const float hi = test_rng_uniform(&r, -0.5f, 5.0f);
                ptq_qparams_from_range(lo, hi, qmin, qmax, kind == 0, &s, &z);
                test_fill_uniform(&r, x, N, -8.0f, 8.0f); /* beyond the range too */
                ptq_fake_quant(x, y, N, s, z, qmin, qmax);
                const double rlo = (double)(qmin - z) * s, rhi = (double)(qmax - z) * s;
                for (int i = 0; i < N; i++) {
                    const double k = (double)y[i] / s + z;
                    off_grid += fabs(k - rint(k)) > 1e-3;
                    out_of_range += rint(k) < qmin || rint(k) > qmax;
                    if (x[i] >= rlo && x[i] <= rhi) {
                        checked++;
                        too_far += fabs((double)y[i] - x[i]) > 0.5 * s * (1 + 1e-5);
                    }
                }
            }
        }
    ck_assert_msg(off_grid == 0 && out_of_range == 0 && too_far == 0,
                  "%ld off the grid, %ld outside [qmin, qmax], %ld more than s/2 away",
                  (long)off_grid, (long)out_of_range, (long)too_far);
    ck_assert_int_gt(checked, 10000);
}
END_TEST

START_TEST(quantize_codes) {
    /* scale 0.5, zp 3, [0, 255]: x / s = 0, 0.5, 1.5, -3, -20, 400, 2 -> codes
     * 3, 3 (half to even), 5, 0, 0 (saturated), 255, 5. */
    const float x[] = {0.0f, 0.25f, 0.75f, -1.5f, -10.0f, 200.0f, 1.0f, NAN};
    const int32_t want[] = {3, 3, 5, 0, 0, 255, 5, 3};
    int32_t q[8];
    ptq_quantize(x, q, 8, 0.5f, 3, 0, 255);
    for (int i = 0; i < 8; i++) ck_assert_msg(q[i] == want[i], "x %g: code %d, expected %d",
                                              (double)x[i], q[i], want[i]);
    /* The codes are what fake quantization dequantizes. */
    float y[7];
    ptq_fake_quant(x, y, 7, 0.5f, 3, 0, 255);
    for (int i = 0; i < 7; i++) ck_assert_float_eq(y[i], (float)(q[i] - 3) * 0.5f);
}
END_TEST

START_TEST(sqnr_known_signals) {
    const float x[] = {1.0f, 1.0f}, y[] = {1.0f, 1.1f};
    const double d = (double)1.1f - 1.0; /* the float's exact distance from 1 */
    ck_assert_double_eq_tol(ptq_sqnr_db(x, y, 2), 10.0 * log10(2.0 / (d * d)), 1e-9);
    ck_assert_double_eq_tol(ptq_sqnr_db(x, y, 2), 10.0 * log10(2.0 / 0.01), 1e-4);
    ck_assert(isinf(ptq_sqnr_db(x, x, 2)) && ptq_sqnr_db(x, x, 2) > 0);
    const float zero[] = {0.0f, 0.0f};
    ck_assert(isinf(ptq_sqnr_db(zero, x, 2)) && ptq_sqnr_db(zero, x, 2) < 0);
    /* Noise one tenth of the signal's amplitude: 20 dB. */
    const float a[] = {3.0f, -4.0f}, b[] = {3.3f, -4.4f};
    ck_assert_double_eq_tol(ptq_sqnr_db(a, b, 2), 20.0, 1e-4);
}
END_TEST

START_TEST(observer_names) {
    for (int32_t i = 0; i < PTQ_OBSERVER_COUNT; i++)
        ck_assert_int_eq(ptq_observer_from_name(ptq_observer_name(i)), i);
    ck_assert_str_eq(ptq_observer_name(PTQ_OBSERVER_KL), "kl");
    ck_assert_int_eq(ptq_observer_from_name("entropy"), -1);
    ck_assert_str_eq(ptq_observer_name(99), "?");
}
END_TEST

/* ======================================================== weight observers ====== */

static ptq_tensor *weight(int32_t ndim, const int64_t *ne, const float *data) {
    ptq_error err = {0};
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, ndim, ne, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    if (data) memcpy(t->data, data, (size_t)ptq_tensor_numel(t) * sizeof *data);
    return t;
}

static void observe_ok(const ptq_tensor *w, const ptq_qspec *spec, ptq_qparams *qp) {
    ptq_error err = {0};
    ck_assert_msg(ptq_observe_weights(w, spec, qp, &err) == PTQ_OK, "%s", err.msg);
}

START_TEST(weights_minmax) {
    /* Row 0 spans [-1, 2], row 1 [-4, 3]; the tensor [-4, 3]. */
    const int64_t ne[2] = {2, 3};
    const float data[6] = {-1.0f, 0.5f, 2.0f, -4.0f, 1.0f, 3.0f};
    ptq_tensor *w = weight(2, ne, data);
    ptq_qparams qp;
    ptq_qspec spec = {8, true, false, PTQ_OBSERVER_MINMAX, 0.0f, 0, 0, 0, 0};
    observe_ok(w, &spec, &qp);
    ck_assert(qp.n == 1 && qp.axis == -1 && qp.is_signed && qp.qmin == -127 && qp.qmax == 127);
    ck_assert_float_eq(qp.scale[0], 4.0f / 127.0f);
    ck_assert_int_eq(qp.zero_point[0], 0);
    ptq_qparams_free(&qp);
    /* Asymmetric signed weight grid: scale 7/255, zp rint(-128 + 4 / (7/255)) =
     * rint(17.71) = 18. */
    spec.symmetric = false;
    observe_ok(w, &spec, &qp);
    ck_assert(qp.qmin == -128 && qp.qmax == 127);
    ck_assert_float_eq(qp.scale[0], 7.0f / 255.0f);
    ck_assert_int_eq(qp.zero_point[0], 18);
    ptq_qparams_free(&qp);
    /* Per channel: row 0 scale 3/255, zp rint(-128 + 85) = -43; row 1 as above. */
    spec.per_channel = true;
    observe_ok(w, &spec, &qp);
    ck_assert(qp.n == 2 && qp.axis == 0);
    ck_assert_float_eq(qp.scale[0], 3.0f / 255.0f);
    ck_assert_int_eq(qp.zero_point[0], -43);
    ck_assert_float_eq(qp.scale[1], 7.0f / 255.0f);
    ck_assert_int_eq(qp.zero_point[1], 18);
    ptq_qparams_free(&qp);
    spec.symmetric = true;
    observe_ok(w, &spec, &qp);
    ck_assert_float_eq(qp.scale[0], 2.0f / 127.0f);
    ck_assert_float_eq(qp.scale[1], 4.0f / 127.0f);
    ptq_qparams_free(&qp);
    ptq_tensor_free(w);
    /* A Conv weight [M, C, kh, kw]: one scale per output channel over C * kh * kw values. */
    const int64_t cne[4] = {3, 2, 2, 2};
    float cdata[24];
    for (int i = 0; i < 24; i++) cdata[i] = (float)((i % 8) - 3) * (float)(i / 8 + 1);
    w = weight(4, cne, cdata);
    observe_ok(w, &spec, &qp); /* rows span [-3, 4] * (m + 1): max |w| 4, 8, 12 */
    ck_assert_int_eq(qp.n, 3);
    for (int m = 0; m < 3; m++) ck_assert_float_eq(qp.scale[m], 4.0f * (float)(m + 1) / 127.0f);
    ptq_qparams_free(&qp);
    ptq_tensor_free(w);
}
END_TEST

START_TEST(weights_percentile_ramp) {
    /* 0, 1, ..., 999: the 99th percentile is 0.99 * 999 = 989.01 (linear interpolation),
     * so the grid keeps ~990 and clips the top 1 %. */
    const int64_t ne[1] = {1000};
    float ramp[1000];
    for (int i = 0; i < 1000; i++) ramp[i] = (float)i;
    ptq_tensor *w = weight(1, ne, ramp);
    ptq_qparams qp;
    ptq_qspec spec = {8, true, false, PTQ_OBSERVER_PERCENTILE, 99.0f, 0, 0, 0, 0};
    observe_ok(w, &spec, &qp);
    ck_assert_double_eq_tol((double)qp.scale[0] * 127.0, 989.01, 1e-3);
    ptq_qparams_free(&qp);
    /* Asymmetric: the lower end (the 1st percentile, 9.99) is widened to 0. */
    spec.symmetric = false;
    observe_ok(w, &spec, &qp);
    ck_assert_double_eq_tol((double)qp.scale[0] * 255.0, 989.01, 1e-3);
    ck_assert_int_eq(qp.zero_point[0], -128);
    ptq_qparams_free(&qp);
    /* 100 % keeps everything: the minmax grid. */
    spec.percentile = 100.0f;
    observe_ok(w, &spec, &qp);
    ck_assert_float_eq(qp.scale[0], 999.0f / 255.0f);
    ptq_qparams_free(&qp);
    /* Two-sided and per channel: row c is the ramp -500..499 shifted by 100 c. */
    const int64_t ne2[2] = {2, 1000};
    float two[2000];
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 1000; i++) two[c * 1000 + i] = (float)(i - 500 + 100 * c);
    ptq_tensor_free(w);
    w = weight(2, ne2, two);
    spec.percentile = 99.0f;
    spec.per_channel = true;
    observe_ok(w, &spec, &qp);
    /* Row 0: percentiles 1 and 99 of -500..499 are -490.01 and 489.01: scale 979.02/255. */
    ck_assert_double_eq_tol((double)qp.scale[0] * 255.0, 979.02, 1e-3);
    ck_assert_double_eq_tol((double)qp.scale[1] * 255.0, 979.02, 1e-3);
    ptq_qparams_free(&qp);
    /* Symmetric on |x|: row 1 is -400..599, its 99th |x| percentile lies near 589. */
    spec.symmetric = true;
    observe_ok(w, &spec, &qp);
    ck_assert_msg(fabs((double)qp.scale[1] * 127.0 - 589.0) < 2.0, "T = %g",
                  (double)qp.scale[1] * 127.0);
    ptq_qparams_free(&qp);
    ptq_tensor_free(w);
}
END_TEST

/* Per-channel mean squared quantization errors of w on qp. */
static void channel_mse(const ptq_tensor *w, const ptq_qparams *qp, double *mse) {
    const int64_t n = ptq_tensor_numel(w), ch = qp->n, inner = n / ch;
    float *y = falloc(n);
    ptq_fake_quant_tensor(qp, w->ndim, w->ne, w->data, y);
    const float *x = w->data;
    for (int64_t c = 0; c < ch; c++) {
        double e = 0.0;
        for (int64_t i = c * inner; i < (c + 1) * inner; i++)
            e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        mse[c] = e / (double)inner;
    }
    free(y);
}

/* The MSE observer's search includes the minmax range, and is scored by the error it is
 * judged on here, so it can never lose; for every width, grid, granularity and shape of
 * data.  KL falls back to it for weights. */
START_TEST(weights_mse_never_worse) {
    test_rng r = {0x3E5E};
    const int64_t ne[2] = {4, 300};
    float data[1200];
    int64_t worse = 0;
    for (int dist = 0; dist < 3; dist++) {
        for (int i = 0; i < 1200; i++) {
            const float g = gauss(&r);
            data[i] = dist == 0 ? test_rng_uniform(&r, -1.0f, 2.0f)
                      : dist == 1 ? g
                                  : g * g * g; /* heavy tails */
        }
        ptq_tensor *w = weight(2, ne, data);
        for (int b = 0; b < N_BITS - 1; b++) /* 2..8 bits */
            for (int sym = 0; sym < 2; sym++)
                for (int pc = 0; pc < 2; pc++) {
                    ptq_qparams mm, ms, kl;
                    ptq_qspec spec = {all_bits[b], sym, pc, PTQ_OBSERVER_MINMAX, 0.0f, 0, 0, 0, 0};
                    observe_ok(w, &spec, &mm);
                    spec.observer = PTQ_OBSERVER_MSE;
                    observe_ok(w, &spec, &ms);
                    spec.observer = PTQ_OBSERVER_KL;
                    observe_ok(w, &spec, &kl);
                    double e_mm[4], e_ms[4];
                    channel_mse(w, &mm, e_mm);
                    channel_mse(w, &ms, e_ms);
                    for (int64_t c = 0; c < mm.n; c++) worse += e_ms[c] > e_mm[c];
                    ck_assert_mem_eq(kl.scale, ms.scale, (size_t)ms.n * sizeof *ms.scale);
                    ck_assert_mem_eq(kl.zero_point, ms.zero_point,
                                     (size_t)ms.n * sizeof *ms.zero_point);
                    ptq_qparams_free(&mm);
                    ptq_qparams_free(&ms);
                    ptq_qparams_free(&kl);
                }
        ptq_tensor_free(w);
    }
    ck_assert_int_eq(worse, 0);
}
END_TEST

/* Many small values and an outlier at 4 bits: minmax spends its 15 steps on the outlier
 * (step 5/7 for values in [-1, 1]); clipping near 1 costs the outlier ~16 but saves far
 * more over the 4000 others.  The asymmetric grid gets an outlier at each end: BRECQ's
 * search shrinks both ends by one factor, keeping their ratio, so it cannot clip a
 * lone positive outlier without clipping as much of the negative side. */
START_TEST(weights_mse_beats_minmax_heavy_tail) {
    test_rng r = {0x0D7115E4};
    const int64_t ne[1] = {4002};
    float data[4002];
    test_fill_uniform(&r, data, 4000, -1.0f, 1.0f);
    data[4000] = 5.0f;
    for (int sym = 0; sym < 2; sym++) {
        data[4001] = sym ? 0.0f : -5.0f;
        ptq_tensor *w = weight(1, ne, data);
        ptq_qparams mm, ms;
        ptq_qspec spec = {4, sym, false, PTQ_OBSERVER_MINMAX, 0.0f, 0, 0, 0, 0};
        observe_ok(w, &spec, &mm);
        spec.observer = PTQ_OBSERVER_MSE;
        observe_ok(w, &spec, &ms);
        double e_mm, e_ms;
        channel_mse(w, &mm, &e_mm);
        channel_mse(w, &ms, &e_ms);
        ck_assert_msg(e_ms < 0.7 * e_mm, "sym %d: MSE %g vs minmax %g", sym, e_ms, e_mm);
        ck_assert_float_lt(ms.scale[0], mm.scale[0]);
        ptq_qparams_free(&mm);
        ptq_qparams_free(&ms);
        ptq_tensor_free(w);
    }
}
END_TEST

/* Mean |w - w_hat|^p of a per-tensor grid (s, z). */
static double p_err(const float *x, int64_t n, const ptq_qparams *qp, float s, int32_t z, double p) {
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float y;
        ptq_fake_quant(&x[i], &y, 1, s, z, qp->qmin, qp->qmax);
        e += pow(fabs((double)x[i] - (double)y), p);
    }
    return e / (double)n;
}

/* The reference codes' searches (METHODS.md 0.2).  SHRINK with p = 2.4 is BRECQ's: its
 * choice is the best of the 80 shrink factors under |e|^2.4 (brute force here), and a
 * higher exponent keeps a wider range than p = 2 on heavy tails.  MQBENCH searches a
 * superset of SHRINK's grids, so its |e|^2.4 is no larger; on one-sided data it keeps the
 * zero point at the grid's end. */
START_TEST(weights_mse_reference_searches) {
    test_rng r = {0xB2EC};
    enum { N = 3000 };
    const int64_t ne[1] = {N};
    float data[N];
    for (int i = 0; i < N; i++) {
        const float u = test_rng_uniform(&r, -1.0f, 1.0f);
        data[i] = u * u * u * (i % 2 ? 1.0f : -0.6f);
    }
    ptq_tensor *w = weight(1, ne, data);
    for (int32_t bits = 2; bits <= 4; bits++) {
        ptq_qspec spec = {bits, false, false, PTQ_OBSERVER_MSE, 0.0f, 0, 2.4f, PTQ_SEARCH_SHRINK, 0};
        ptq_qparams b, two, mq;
        observe_ok(w, &spec, &b);
        const double eb = p_err(data, N, &b, b.scale[0], b.zero_point[0], 2.4);
        float lo = data[0], hi = data[0];
        for (int i = 1; i < N; i++) lo = fminf(lo, data[i]), hi = fmaxf(hi, data[i]);
        for (int i = 0; i < 80; i++) {
            float s;
            int32_t z;
            const float f = 1.0f - 0.01f * (float)i;
            ptq_qparams_from_range(lo * f, hi * f, b.qmin, b.qmax, false, &s, &z);
            ck_assert_msg(eb <= p_err(data, N, &b, s, z, 2.4) * (1 + 1e-9), "bits %d: shrink %d is better", bits, i);
        }
        spec.mse_p = 2.0f;
        observe_ok(w, &spec, &two);
        ck_assert_msg(b.scale[0] >= two.scale[0], "bits %d: p 2.4 range %g < p 2 range %g", bits,
                      (double)b.scale[0], (double)two.scale[0]);
        spec.mse_p = 2.4f;
        spec.search = PTQ_SEARCH_MQBENCH;
        observe_ok(w, &spec, &mq);
        ck_assert_msg(p_err(data, N, &mq, mq.scale[0], mq.zero_point[0], 2.4) <= eb * (1 + 1e-6),
                      "bits %d: MQBench's search is worse than BRECQ's", bits);
        ptq_qparams_free(&b);
        ptq_qparams_free(&two);
        ptq_qparams_free(&mq);
    }
    ptq_tensor_free(w);
    for (int i = 0; i < N; i++) data[i] = fabsf(data[i]);
    w = weight(1, ne, data);
    ptq_qspec spec = {4, false, false, PTQ_OBSERVER_MSE, 0.0f, 0, 2.4f, PTQ_SEARCH_MQBENCH, 0};
    ptq_qparams mq;
    observe_ok(w, &spec, &mq);
    ck_assert_int_eq(mq.zero_point[0], mq.qmin);
    ptq_qparams_free(&mq);
    ptq_tensor_free(w);
}
END_TEST

/* All zeros, a single value, a constant channel: every observer gives a positive,
 * finite scale and a zero point on the grid. */
START_TEST(weights_degenerate) {
    const int64_t ne[2] = {3, 4};
    const float rows[12] = {0, 0, 0, 0, 2.5f, 2.5f, 2.5f, 2.5f, -1e-30f, 0, 0, 0};
    const int64_t one_ne[1] = {1};
    const float one = -3.0f;
    ptq_tensor *ws[3] = {weight(2, ne, NULL), weight(2, ne, rows), weight(1, one_ne, &one)};
    int64_t bad = 0;
    for (int t = 0; t < 3; t++)
        for (int32_t ob = 0; ob < PTQ_OBSERVER_COUNT; ob++)
            for (int b = 0; b < N_BITS; b++)
                for (int k = 0; k < 4; k++) {
                    ptq_qparams qp;
                    ptq_qspec spec = {all_bits[b], k & 1, (k >> 1) & 1, ob, 99.0f, 0, 0, 0, 0};
                    observe_ok(ws[t], &spec, &qp);
                    for (int64_t c = 0; c < qp.n; c++)
                        bad += !(qp.scale[c] > 0.0f && isfinite(qp.scale[c]) &&
                                 qp.zero_point[c] >= qp.qmin && qp.zero_point[c] <= qp.qmax);
                    ptq_qparams_free(&qp);
                }
    ck_assert_int_eq(bad, 0);
    for (int t = 0; t < 3; t++) ptq_tensor_free(ws[t]);
    /* Values near the float limits (hi - lo overflows float) still give a finite grid. */
    const int64_t ne2[1] = {2};
    const float huge[2] = {-3e38f, 3e38f};
    ptq_tensor *w = weight(1, ne2, huge);
    for (int32_t ob = 0; ob < PTQ_OBSERVER_COUNT; ob++) {
        ptq_qparams qp;
        ptq_qspec spec = {8, false, false, ob, 99.0f, 0, 0, 0, 0};
        observe_ok(w, &spec, &qp);
        ck_assert_msg(qp.scale[0] > 0.0f && isfinite(qp.scale[0]), "%s: scale %g",
                      ptq_observer_name(ob), (double)qp.scale[0]);
        ptq_qparams_free(&qp);
    }
    ptq_tensor_free(w);
}
END_TEST

/* A deployment target's max_code cuts the weight grid: 8-bit symmetric becomes [-64, 64]
 * and the codes stay in it; grids already inside are unchanged. */
START_TEST(target_limits_grid) {
    const int64_t ne[2] = {2, 3};
    const float data[6] = {-1.0f, 0.5f, 2.0f, -4.0f, 1.0f, 3.0f};
    ptq_tensor *w = weight(2, ne, data);
    ptq_qspec spec = {8, true, true, PTQ_OBSERVER_MINMAX, 0.0f, ptq_target_max_code(PTQ_TARGET_PORTABLE), 0, 0, 0};
    ptq_qparams qp;
    observe_ok(w, &spec, &qp);
    ck_assert_int_eq(qp.qmin, -64);
    ck_assert_int_eq(qp.qmax, 64);
    ptq_qparams_free(&qp);
    spec.max_code = ptq_target_max_code(PTQ_TARGET_VNNI);
    observe_ok(w, &spec, &qp);
    ck_assert_int_eq(qp.qmax, 127);
    ptq_qparams_free(&qp);
    spec = (ptq_qspec){.bits = 4, .symmetric = false, .per_channel = true, .observer = PTQ_OBSERVER_MINMAX, .percentile = 0.0f, .max_code = 64};
    observe_ok(w, &spec, &qp);
    ck_assert(qp.qmin == -8 && qp.qmax == 7);
    ptq_qparams_free(&qp);
    ck_assert_int_eq(ptq_target_from_name("vnni"), PTQ_TARGET_VNNI);
    ck_assert_int_eq(ptq_target_from_name("avx"), -1);
    ck_assert_str_eq(ptq_target_name(PTQ_TARGET_NONE), "none");
    ptq_tensor_free(w);
}
END_TEST

START_TEST(weights_errors) {
    const int64_t ne[2] = {2, 3};
    float data[6] = {1, 2, 3, 4, 5, 6};
    ptq_qparams qp;
    ptq_qspec spec = {8, true, true, PTQ_OBSERVER_MSE, 99.0f, 0, 0, 0, 0};
    for (int k = 0; k < 3; k++) {
        data[4] = k == 0 ? NAN : k == 1 ? INFINITY : -INFINITY;
        ptq_tensor *w = weight(2, ne, data);
        ptq_error err = {0};
        ck_assert_int_eq(ptq_observe_weights(w, &spec, &qp, &err), PTQ_ERR_NUMERIC);
        ck_assert_msg(test_contains(err.msg, "weight contains NaN/Inf at index 4"), "%s", err.msg);
        ck_assert_ptr_null(qp.scale); /* nothing to free */
        ptq_tensor_free(w);
    }
    data[4] = 5;
    ptq_tensor *w = weight(2, ne, data);
    struct {
        ptq_qspec spec;
        const char *what;
    } bad[] = {
        {{9, true, true, PTQ_OBSERVER_MINMAX, 0.0f, 0, 0, 0, 0}, "bits"},
        {{8, true, true, 7, 0.0f, 0, 0, 0, 0}, "observer"},
        {{8, true, true, PTQ_OBSERVER_PERCENTILE, 0.0f, 0, 0, 0, 0}, "percentile"},
        {{8, true, true, PTQ_OBSERVER_PERCENTILE, 100.5f, 0, 0, 0, 0}, "percentile"},
        {{8, true, true, PTQ_OBSERVER_PERCENTILE, NAN, 0, 0, 0, 0}, "percentile"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ptq_error err = {0};
        ck_assert_int_eq(ptq_observe_weights(w, &bad[i].spec, &qp, &err), PTQ_ERR_INVALID);
        ck_assert_msg(test_contains(err.msg, bad[i].what), "%s", err.msg);
    }
    ptq_tensor_free(w);
    ptq_error err = {0};
    ptq_tensor *iw = ptq_tensor_new(PTQ_DTYPE_I32, 2, ne, &err);
    ck_assert_int_ne(ptq_observe_weights(iw, &spec, &qp, &err), PTQ_OK);
    ck_assert_msg(test_contains(err.msg, "float32"), "%s", err.msg);
    ptq_tensor_free(iw);
}
END_TEST

/* ==================================================== activation observers ====== */

/* Runs an observer over x in `batches` equal batches, both passes, and finishes it. */
static ptq_status act_observe(const ptq_qspec *spec, const float *x, int64_t n, int batches,
                              ptq_qparams *qp, ptq_error *err) {
    ptq_act_observer *o = ptq_act_observer_new(spec);
    ck_assert_ptr_nonnull(o);
    const int64_t per = n / batches;
    for (int b = 0; b < batches; b++)
        ptq_act_observer_range(o, x + b * per, b == batches - 1 ? n - b * per : per);
    if (ptq_act_observer_wants_histogram(o))
        for (int b = 0; b < batches; b++)
            ptq_act_observer_histogram(o, x + b * per, b == batches - 1 ? n - b * per : per);
    ptq_status st = ptq_act_observer_finish(o, qp, err);
    ptq_act_observer_free(o);
    return st;
}

static void act_ok(const ptq_qspec *spec, const float *x, int64_t n, int batches,
                   ptq_qparams *qp) {
    ptq_error err = {0};
    ck_assert_msg(act_observe(spec, x, n, batches, qp, &err) == PTQ_OK, "%s", err.msg);
    ck_assert(qp->n == 1 && qp->axis == -1);
    ck_assert_msg(qp->scale[0] > 0.0f && isfinite(qp->scale[0]), "scale %g", (double)qp->scale[0]);
}

START_TEST(act_minmax_across_batches) {
    const float b1[] = {-1.0f, 2.0f, 0.5f}, b2[] = {3.0f, -0.5f};
    ptq_qspec spec = {8, false, false, PTQ_OBSERVER_MINMAX, 0.0f, 0, 0, 0, 0};
    ptq_act_observer *o = ptq_act_observer_new(&spec);
    ck_assert_ptr_nonnull(o);
    ck_assert(!ptq_act_observer_wants_histogram(o));
    ptq_act_observer_range(o, b1, 3);
    ptq_act_observer_range(o, b2, 2);
    ptq_qparams qp;
    ptq_error err = {0};
    ck_assert_int_eq(ptq_act_observer_finish(o, &qp, &err), PTQ_OK);
    /* The global range [-1, 3] on the unsigned activation grid: 4/255, zp 64. */
    ck_assert(!qp.is_signed && qp.qmin == 0 && qp.qmax == 255 && qp.n == 1 && qp.axis == -1);
    ck_assert_float_eq(qp.scale[0], 4.0f / 255.0f);
    ck_assert_int_eq(qp.zero_point[0], 64);
    ptq_qparams_free(&qp);
    ptq_act_observer_free(o);
    /* Symmetric: max |x| = 3. */
    spec.symmetric = true;
    const float all[] = {-1.0f, 2.0f, 0.5f, 3.0f, -0.5f};
    act_ok(&spec, all, 5, 2, &qp);
    ck_assert_float_eq(qp.scale[0], 3.0f / 127.0f);
    ptq_qparams_free(&qp);
}
END_TEST

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of n sorted values, linearly interpolated. */
static double exact_quantile(const float *sorted, int64_t n, double q) {
    const double pos = q * (double)(n - 1);
    const int64_t i = (int64_t)pos;
    if (i >= n - 1) return sorted[n - 1];
    return sorted[i] + (pos - (double)i) * ((double)sorted[i + 1] - sorted[i]);
}

/* The percentile from the histogram is within one bin width of the exact one. */
START_TEST(act_percentile_histogram) {
    enum { N = 100000 };
    float *x = falloc(N), *sorted = falloc(N);
    test_rng r = {0xBE4CE47};
    for (int sym = 0; sym < 2; sym++) {
        /* Symmetric: |x| over [0, 5]; asymmetric: one-sided data in [0, 4], whose lower
         * percentile is widened to 0, so the top of the grid is the upper percentile. */
        if (sym) test_fill_uniform(&r, x, N, -3.0f, 5.0f);
        else test_fill_uniform(&r, x, N, 0.0f, 4.0f);
        for (int i = 0; i < N; i++) sorted[i] = fabsf(x[i]);
        qsort(sorted, N, sizeof *sorted, cmp_float);
        const double bin = sorted[N - 1] / 2048.0;
        for (int k = 0; k < 3; k++) {
            const float p = k == 0 ? 99.0f : k == 1 ? 99.99f : 90.0f;
            ptq_qspec spec = {8, sym, false, PTQ_OBSERVER_PERCENTILE, p, 0, 0, 0, 0};
            ptq_qparams qp;
            act_ok(&spec, x, N, 7, &qp);
            const double want = exact_quantile(sorted, N, (double)p / 100.0);
            ck_assert_int_eq(qp.zero_point[0], 0);
            ck_assert_msg(fabs(qp_top(&qp) - want) <= bin * 1.001,
                          "sym %d p %g: threshold %.6g, exact %.6g, bin %.3g", sym, (double)p,
                          qp_top(&qp), want, bin);
            ptq_qparams_free(&qp);
        }
    }
    /* Two-sided asymmetric: both ends clipped, each within a bin of its percentile. */
    test_fill_uniform(&r, x, N, -2.0f, 6.0f);
    memcpy(sorted, x, N * sizeof *x);
    qsort(sorted, N, sizeof *sorted, cmp_float);
    const double bin = ((double)sorted[N - 1] - sorted[0]) / 2048.0;
    ptq_qspec spec = {16, false, false, PTQ_OBSERVER_PERCENTILE, 99.0f, 0, 0, 0, 0};
    ptq_qparams qp;
    act_ok(&spec, x, N, 3, &qp);
    const double lo = (double)(qp.qmin - qp.zero_point[0]) * qp.scale[0];
    ck_assert_msg(fabs(qp_top(&qp) - exact_quantile(sorted, N, 0.99)) <= bin * 1.01, "top %g",
                  qp_top(&qp));
    /* At 16 bits the zero point's rounding moves the ends by under a step. */
    ck_assert_msg(fabs(lo - exact_quantile(sorted, N, 0.01)) <= bin * 1.01 + qp.scale[0],
                  "bottom %g", lo);
    ptq_qparams_free(&qp);
    free(x);
    free(sorted);
}
END_TEST

/* Heavy-tailed data (a Gaussian's cube) at 4 bits: the histogram MSE search clips the
 * tail and beats minmax on the real data, for a symmetric grid, a two-sided asymmetric
 * one (BRECQ's shrink of both ends) and one-sided data (max = range * i / 100). */
START_TEST(act_mse_beats_minmax) {
    enum { N = 50000 };
    float *x = falloc(N);
    test_rng r = {0x4EA7};
    for (int kind = 0; kind < 3; kind++) {
        for (int i = 0; i < N; i++) {
            const float g = gauss(&r);
            x[i] = kind == 2 ? fabsf(g * g * g) : g * g * g;
        }
        ptq_qspec spec = {4, kind == 0, false, PTQ_OBSERVER_MINMAX, 0.0f, 0, 0, 0, 0};
        ptq_qparams mm, ms;
        act_ok(&spec, x, N, 4, &mm);
        spec.observer = PTQ_OBSERVER_MSE;
        act_ok(&spec, x, N, 4, &ms);
        const double e_mm = qp_mse(&mm, x, N), e_ms = qp_mse(&ms, x, N);
        ck_assert_msg(e_ms < 0.5 * e_mm, "kind %d: MSE observer %g, minmax %g", kind, e_ms, e_mm);
        ptq_qparams_free(&mm);
        ptq_qparams_free(&ms);
    }
    free(x);
}
END_TEST

/* KL at 8 bits: a Gaussian's sparse tail is clipped (between 2 and 5 sigma, below the
 * largest of a million samples), a uniform's range is kept.  Post-ReLU data on the
 * unsigned grid behave the same, their zeros left out of the divergence. */
START_TEST(act_kl_thresholds) {
    enum { N = 1000000 };
    float *x = falloc(N);
    test_rng r = {0x4B1};
    float mx = 0.0f;
    for (int i = 0; i < N; i++) {
        x[i] = gauss(&r);
        mx = fmaxf(mx, fabsf(x[i]));
    }
    ptq_qspec spec = {8, true, false, PTQ_OBSERVER_KL, 0.0f, 0, 0, 0, 0};
    ptq_qparams qp;
    act_ok(&spec, x, N, 10, &qp);
    double t = qp_top(&qp);
    ck_assert_msg(t > 2.0 && t < 5.0 && t < 0.97 * mx, "Gaussian: threshold %g, max %g", t,
                  (double)mx);
    ptq_qparams_free(&qp);
    /* ReLU of the Gaussian on the unsigned grid: half the values are exact zeros. */
    for (int i = 0; i < N; i++) x[i] = fmaxf(x[i], 0.0f);
    spec.symmetric = false;
    act_ok(&spec, x, N, 10, &qp);
    t = qp_top(&qp);
    ck_assert_int_eq(qp.zero_point[0], 0);
    ck_assert_msg(t > 2.0 && t < 5.0 && t < 0.99 * mx, "ReLU: threshold %g", t);
    ptq_qparams_free(&qp);
    /* Uniform: nothing to clip. */
    test_fill_uniform(&r, x, N / 10, -1.0f, 1.0f);
    mx = 0.0f;
    for (int i = 0; i < N / 10; i++) mx = fmaxf(mx, fabsf(x[i]));
    spec.symmetric = true;
    act_ok(&spec, x, N / 10, 3, &qp);
    t = qp_top(&qp);
    ck_assert_msg(t > 0.98 * mx && t <= mx * 1.0001, "uniform: threshold %g, max %g", t,
                  (double)mx);
    ptq_qparams_free(&qp);
    free(x);
}
END_TEST

/* KL on two-sided data with an asymmetric grid falls back to the MSE search (observers.c
 * says why); at 16 bits (more levels than histogram bins) it keeps the full range. */
START_TEST(act_kl_fallbacks) {
    enum { N = 20000 };
    float *x = falloc(N);
    test_rng r = {0xFA11};
    for (int i = 0; i < N; i++) x[i] = gauss(&r) + 0.5f;
    ptq_qspec spec = {6, false, false, PTQ_OBSERVER_KL, 0.0f, 0, 0, 0, 0};
    ptq_qparams kl, ms, mm;
    act_ok(&spec, x, N, 2, &kl);
    spec.observer = PTQ_OBSERVER_MSE;
    act_ok(&spec, x, N, 2, &ms);
    ck_assert_float_eq(kl.scale[0], ms.scale[0]);
    ck_assert_int_eq(kl.zero_point[0], ms.zero_point[0]);
    ptq_qparams_free(&kl);
    ptq_qparams_free(&ms);
    spec = (ptq_qspec){.bits = 16, .symmetric = true, .per_channel = false, .observer = PTQ_OBSERVER_KL, .percentile = 0.0f, .max_code = 0};
    act_ok(&spec, x, N, 2, &kl);
    spec.observer = PTQ_OBSERVER_MINMAX;
    act_ok(&spec, x, N, 2, &mm);
    ck_assert_float_eq(kl.scale[0], mm.scale[0]);
    ptq_qparams_free(&kl);
    ptq_qparams_free(&mm);
    free(x);
}
END_TEST

/* Constant data (zero-width histograms), single values, every observer, width and grid:
 * a positive finite scale and a zero point on the grid. */
START_TEST(act_degenerate) {
    static const float consts[] = {0.0f, 2.5f, -1.0f, 1e-30f};
    int64_t bad = 0;
    for (size_t c = 0; c < sizeof consts / sizeof consts[0]; c++)
        for (int64_t n = 1; n <= 100; n *= 100) {
            float x[100];
            for (int i = 0; i < n; i++) x[i] = consts[c];
            for (int32_t ob = 0; ob < PTQ_OBSERVER_COUNT; ob++)
                for (int b = 0; b < N_BITS; b++)
                    for (int sym = 0; sym < 2; sym++) {
                        ptq_qspec spec = {all_bits[b], sym, false, ob, 99.0f, 0, 0, 0, 0};
                        ptq_qparams qp;
                        ptq_error err = {0};
                        ck_assert_msg(act_observe(&spec, x, n, 1, &qp, &err) == PTQ_OK, "%s",
                                      err.msg);
                        bad += !(qp.scale[0] > 0.0f && isfinite(qp.scale[0]) &&
                                 qp.zero_point[0] >= qp.qmin && qp.zero_point[0] <= qp.qmax);
                        ptq_qparams_free(&qp);
                    }
        }
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(act_errors) {
    const float good[] = {1.0f, -2.0f, 3.0f};
    for (int k = 0; k < 2; k++)
        for (int32_t ob = 0; ob < PTQ_OBSERVER_COUNT; ob++) {
            /* A NaN (or Inf) in the second batch is remembered and reported at finish. */
            const float badb[] = {0.5f, k ? INFINITY : NAN};
            ptq_qspec spec = {8, false, false, ob, 99.0f, 0, 0, 0, 0};
            ptq_act_observer *o = ptq_act_observer_new(&spec);
            ck_assert_ptr_nonnull(o);
            ptq_act_observer_range(o, good, 3);
            ptq_act_observer_range(o, badb, 2);
            if (ptq_act_observer_wants_histogram(o)) {
                ptq_act_observer_histogram(o, good, 3);
                ptq_act_observer_histogram(o, badb, 2);
            }
            ptq_qparams qp;
            ptq_error err = {0};
            ck_assert_int_eq(ptq_act_observer_finish(o, &qp, &err), PTQ_ERR_NUMERIC);
            ck_assert_msg(test_contains(err.msg, "NaN/Inf") && test_contains(err.msg, "index 4"),
                          "%s", err.msg);
            ck_assert_ptr_null(qp.scale);
            ptq_act_observer_free(o);
            /* No data at all. */
            o = ptq_act_observer_new(&spec);
            ptq_error e2 = {0};
            ck_assert_int_eq(ptq_act_observer_finish(o, &qp, &e2), PTQ_ERR_INVALID);
            ck_assert_str_eq(e2.msg, "no calibration data reached this quantizer");
            /* Batches of zero values are no data either. */
            ptq_act_observer_range(o, good, 0);
            ptq_error e3 = {0};
            ck_assert_int_eq(ptq_act_observer_finish(o, &qp, &e3), PTQ_ERR_INVALID);
            ptq_act_observer_free(o);
        }
    /* Which observers want the histogram pass, and what finish says without it. */
    for (int32_t ob = 0; ob < PTQ_OBSERVER_COUNT; ob++) {
        ptq_qspec spec = {8, true, false, ob, 99.0f, 0, 0, 0, 0};
        ptq_act_observer *o = ptq_act_observer_new(&spec);
        ck_assert_int_eq(ptq_act_observer_wants_histogram(o), ob != PTQ_OBSERVER_MINMAX);
        ptq_act_observer_range(o, good, 3);
        ptq_qparams qp;
        ptq_error err = {0};
        ptq_status st = ptq_act_observer_finish(o, &qp, &err);
        if (ob == PTQ_OBSERVER_MINMAX) {
            ck_assert_int_eq(st, PTQ_OK);
            ptq_qparams_free(&qp);
        } else {
            ck_assert_int_eq(st, PTQ_ERR_INVALID);
            ck_assert_msg(test_contains(err.msg, "histogram"), "%s", err.msg);
        }
        ptq_act_observer_free(o);
    }
    /* A bad spec is reported at finish. */
    ptq_qspec spec = {8, true, false, PTQ_OBSERVER_PERCENTILE, -1.0f, 0, 0, 0, 0};
    ptq_act_observer *o = ptq_act_observer_new(&spec);
    ptq_act_observer_range(o, good, 3);
    ptq_act_observer_histogram(o, good, 3);
    ptq_qparams qp;
    ptq_error err = {0};
    ck_assert_int_eq(ptq_act_observer_finish(o, &qp, &err), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "percentile"), "%s", err.msg);
    ptq_act_observer_free(o);
    ptq_act_observer_free(NULL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("grid");
    tcase_add_test(tc, qrange_every_width);
    tcase_add_test(tc, qparams_init_and_copy);
    tcase_add_test(tc, from_range_hand_computed);
    tcase_add_test(tc, from_range_degenerate);
    tcase_add_test(tc, fake_quant_round_half_even);
    tcase_add_test(tc, fake_quant_saturates);
    tcase_add_test(tc, fake_quant_tensor_per_channel);
    tcase_add_test(tc, fake_quant_on_grid);
    tcase_add_test(tc, quantize_codes);
    tcase_add_test(tc, sqnr_known_signals);
    tcase_add_test(tc, observer_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("weights");
    tcase_add_test(tc, weights_minmax);
    tcase_add_test(tc, weights_percentile_ramp);
    tcase_add_test(tc, weights_mse_never_worse);
    tcase_add_test(tc, weights_mse_beats_minmax_heavy_tail);
    tcase_add_test(tc, weights_mse_reference_searches);
    tcase_add_test(tc, weights_degenerate);
    tcase_add_test(tc, weights_errors);
    tcase_add_test(tc, target_limits_grid);
    suite_add_tcase(s, tc);

    tc = tcase_create("activations");
    tcase_add_test(tc, act_minmax_across_batches);
    tcase_add_test(tc, act_percentile_histogram);
    tcase_add_test(tc, act_mse_beats_minmax);
    tcase_add_test(tc, act_kl_thresholds);
    tcase_add_test(tc, act_kl_fallbacks);
    tcase_add_test(tc, act_degenerate);
    tcase_add_test(tc, act_errors);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
