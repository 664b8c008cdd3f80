/* simd.h — the vector type the kernels are written in: GCC vector extensions sized to
 * the ISA the build targets (AVX-512, AVX, or SSE), so one source serves all three.
 * Comparisons give integer masks; blends are bitwise, which keeps every lane's result
 * identical to the scalar expression it replaces (NaN and -0.0 included). */
#ifndef PTQ_SIMD_H
#define PTQ_SIMD_H

#include <stdint.h>

#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif

typedef float vf __attribute__((vector_size(VL * 4)));
typedef float vf_u __attribute__((vector_size(VL * 4), aligned(4))); /* unaligned access */
typedef int32_t vi __attribute__((vector_size(VL * 4)));

static inline vf vload(const float *p) { return *(const vf_u *)p; }
static inline void vstore(float *p, vf v) { *(vf_u *)p = v; }
static inline vf vsplat(float x) { return (vf){0} + x; }

/* m ? a : b, lane by lane, for a mask from a vector comparison. */
static inline vf vselect(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }

/* Partial vectors: the first n (0 <= n <= VL) lanes, without touching memory past them.
 * AVX-512 and AVX2 do this with masked moves (masked-off lanes never fault); elsewhere it
 * is a short scalar loop.  These keep ragged row ends of small images vectorised. */
#if defined(__AVX512F__)
#include <immintrin.h>
static inline vf vload_n(const float *p, int64_t n) {
    return (vf)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
}
static inline void vstore_n(float *p, vf v, int64_t n) {
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), (__m512)v);
}
#define PTQ_HAVE_MASKED 1
#elif defined(__AVX2__)
/* AVX2: VMASKMOVPS, which also never faults on masked-off lanes. */
#include <immintrin.h>
static inline __m256i lanes_below(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vload_n(const float *p, int64_t n) {
    return (vf)_mm256_maskload_ps(p, lanes_below(n));
}
static inline void vstore_n(float *p, vf v, int64_t n) {
    _mm256_maskstore_ps(p, lanes_below(n), (__m256)v);
}
#define PTQ_HAVE_MASKED 1
#else
static inline vf vload_n(const float *p, int64_t n) {
    vf v = (vf){0};
    for (int64_t i = 0; i < n; i++) v[i] = p[i];
    return v;
}
static inline void vstore_n(float *p, vf v, int64_t n) {
    for (int64_t i = 0; i < n; i++) p[i] = v[i];
}
#define PTQ_HAVE_MASKED 0
#endif

#endif
