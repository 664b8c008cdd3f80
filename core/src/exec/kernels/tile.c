/* tile.c — the register tiles of tile.h.  Compiled with FMA contraction: each
 * accumulator is a chain of fused multiply-adds in reduction order. */
#include "tile.h"

/* mr output channels x nv vectors: x points at the tile's first position in channel 0
 * (channels `chan` floats apart), out at its first output in row 0 (rows `ostride`
 * apart).  mr and nv are compile-time constants in every instantiation below, so the
 * accumulators live in registers. */
static inline __attribute__((always_inline)) void tile(const float *x, int64_t chan, int64_t cg,
                                                       const int64_t *offs, int64_t taps,
                                                       const float *wpk, float *out,
                                                       int64_t ostride, const int mr,
                                                       const int nv) {
    vf acc[MR_MAX][NV_MAX];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = (vf){0};
    const float *w = wpk;
    for (int64_t c = 0; c < cg; c++) {
        const float *xc = x + c * chan;
        for (int64_t t = 0; t < taps; t++, w += mr) {
            const float *xs = xc + offs[t];
            vf xv[NV_MAX];
            for (int v = 0; v < nv; v++) xv[v] = *(const vf_u *)(xs + v * VL);
            for (int r = 0; r < mr; r++) {
                const float wr = w[r];
                for (int v = 0; v < nv; v++) acc[r][v] += xv[v] * wr;
            }
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) *(vf_u *)(out + r * ostride + v * VL) = acc[r][v];
}

#define TILE_FN(MR_, NV_)                                                                  \
    static void tile_##MR_##x##NV_(const float *x, int64_t chan, int64_t cg,                \
                                   const int64_t *offs, int64_t taps, const float *wpk,     \
                                   float *out, int64_t ostride) {                           \
        tile(x, chan, cg, offs, taps, wpk, out, ostride, MR_, NV_);                        \
    }
TILE_FN(4, 1)
TILE_FN(4, 2)
TILE_FN(4, 3)
#if NV_MAX > 3
TILE_FN(4, 4)
TILE_FN(4, 5)
TILE_FN(4, 6)
TILE_FN(8, 1)
TILE_FN(8, 2)
TILE_FN(8, 3)
TILE_FN(16, 1)
#endif

ptq_tile_fn ptq_tile_pick(int mr, int nv) {
    switch (mr * 16 + nv) {
    case 4 * 16 + 1: return tile_4x1;
    case 4 * 16 + 2: return tile_4x2;
    case 4 * 16 + 3: return tile_4x3;
#if NV_MAX > 3
    case 4 * 16 + 4: return tile_4x4;
    case 4 * 16 + 5: return tile_4x5;
    case 4 * 16 + 6: return tile_4x6;
    case 8 * 16 + 1: return tile_8x1;
    case 8 * 16 + 2: return tile_8x2;
    case 8 * 16 + 3: return tile_8x3;
    case 16 * 16 + 1: return tile_16x1;
#endif
    default: PTQ_ABORT("no %dx%d conv tile", mr, nv);
    }
}


void ptq_tile_shape(int64_t nvec, int64_t rows, int *mr, int *nv) {
    /* Enough independent accumulators to hide FMA latency whatever the width: narrow
     * outputs get more rows per tile instead of more vectors. */
#if defined(__AVX512F__)
    if (nvec >= 4 || rows <= 4) *mr = 4, *nv = NV_MAX;
    else if (nvec >= 2 || rows <= 8) *mr = 8, *nv = 3;
    else *mr = 16, *nv = 1;
#else
    (void)nvec, (void)rows;
    *mr = 4, *nv = NV_MAX;
#endif
}
