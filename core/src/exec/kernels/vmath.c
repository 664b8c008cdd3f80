/* vmath.c — vectorised transcendental functions for the element-wise kernels.
 *
 * libm's erff is a scalar call per element (tens of nanoseconds each: it dominated GELU
 * models).  These run whole vectors (simd.h) with the same operations in every lane, so
 * an element's result does not depend on where it sits in a row, on the row split, or on
 * the thread count.  They are not bitwise libm: the error bound is stated per function
 * and checked against a double reference by test_kernels. */
#include "vmath.h"

/* erf, faithfully rounded polynomials of N. Juffa ("Efficient faithfully-rounded
 * implementation of error function erff", Stack Overflow answer 35148199): an odd
 * polynomial below |x| = 0.927734375, and 1 - exp(poly(|x|)) above it.  Past |x| = 4
 * erf is 1 in float, so |x| is clamped there (which also keeps inf finite); NaN stays
 * NaN and -0 stays -0. */
static inline vf verf(vf a) {
    const vf t = vabs(a), s = a * a;
    vf lo = vsplat(-5.96761703e-4f);
    lo = lo * s + 4.99119423e-3f;
    lo = lo * s - 2.67681349e-2f;
    lo = lo * s + 1.12819925e-1f;
    lo = lo * s - 3.76125336e-1f;
    lo = lo * s + 1.28379166e-1f;
    lo = lo * a + a;
    const vf tc = vselect(t < 4.0f, t, vsplat(4.0f)), sc = tc * tc;
    vf r = vsplat(-1.72853470e-5f) * tc + 3.83197126e-4f;
    vf u = vsplat(-3.88396438e-3f) * tc + 2.42546219e-2f;
    r = r * sc + u;
    r = r * tc - 1.06777877e-1f;
    r = r * tc - 6.34846687e-1f;
    r = r * tc - 1.28717512e-1f;
    r = r * tc - tc;
    vf hi = 1.0f - ptq_vexp_neg(r);
    hi = (vf)((vi)hi | ((vi)a & (int32_t)0x80000000)); /* hi >= 0: copysign */
    vf y = vselect(t > 0.927734375f, hi, lo);
    return vselect(a != a, a, y);
}

void ptq_erf_f32(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) vstore(y + i, verf(vload(x + i)));
    if (i < n) vstore_n(y + i, verf(vload_n(x + i, n - i)), n - i);
}
