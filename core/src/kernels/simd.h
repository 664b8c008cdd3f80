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

#endif
