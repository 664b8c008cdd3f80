/* vmath.h — vector math shared by the element-wise kernels (simd.h vectors): the same
 * operations in every lane, so a result never depends on an element's position. */
#ifndef PTQ_VMATH_H
#define PTQ_VMATH_H

#include "internal.h"
#include "simd.h"

static inline vf vabs(vf x) { return (vf)((vi)x & 0x7fffffff); }

/* e^r for r in [-87.33, 0]: r = n ln2 + f with |f| <= ln2 / 2, e^f by its Taylor series
 * to degree 7 (truncation < 5e-9 relative), 2^n built in the exponent bits.  About 1
 * ulp (with or without FMA contraction). */
static inline vf ptq_vexp_neg(vf r) {
    const vf magic = vsplat(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    vf n = (r * 1.44269504f + magic) - magic;
    vf f = r - n * 0.693145751953125f; /* ln2 split: the high part times n is exact */
    f = f - n * 1.42860677e-6f;
    vf p = vsplat(1.0f / 5040.0f);
    p = p * f + 1.0f / 720.0f;
    p = p * f + 1.0f / 120.0f;
    p = p * f + 1.0f / 24.0f;
    p = p * f + 1.0f / 6.0f;
    p = p * f + 0.5f;
    p = p * f + 1.0f;
    p = p * f + 1.0f;
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return p * (vf)e;
}

/* e^r for any r <= 0 (and NaN): below -87.33 (where e^r is under the smallest normal
 * float) the result is 0, within 1.19e-38 of the exact value; -inf gives 0. */
static inline vf ptq_vexp_nonpos(vf r) {
    const vi small = r < -87.33f;
    const vf e = ptq_vexp_neg(vselect(small, vsplat(0.0f), r));
    return vselect(r != r, r, vselect(small, vsplat(0.0f), e));
}

#endif
