/* tile.h — register-tiled inner products, shared by the convolution and matrix-product
 * kernels.
 *
 * A tile computes mr output rows x nv vectors of VL outputs:
 *
 *     out[r][p] = sum over c < cg, t < taps of  w[c][t][r] * x[c * chan + offs[t] + p]
 *
 * with the weights packed so the mr values for one (c, t) are adjacent.  For a
 * convolution, rows are output channels, p flat positions, t the kernel taps; for a
 * matrix product C = A B, rows are rows of A (packed [k][mr]), p columns of C, taps = 1
 * and x the rows of B.  Every output is one chain of FMAs in (c, t) order, whatever the
 * tile shape, so results do not depend on how rows or columns are grouped: the same
 * output comes out bit for bit for any batch size or thread count. */
#ifndef PTQ_TILE_H
#define PTQ_TILE_H

#include "internal.h"
#include "simd.h"

/* AVX-512 has 32 registers: tiles of up to 24 accumulators plus the loaded vectors and a
 * broadcast; AVX and SSE get 4 x 3. */
#if defined(__AVX512F__)
#define NV_MAX 6
#else
#define NV_MAX 3
#endif
#define MR_MAX 16

typedef void (*ptq_tile_fn)(const float *x, int64_t chan, int64_t cg, const int64_t *offs,
                            int64_t taps, const float *w, float *out, int64_t ostride);

/* The tile for mr rows x nv vectors (mr 4 with nv 1..NV_MAX; with AVX-512 also mr 8 with
 * nv 1..3 and mr 16 with nv 1).  Aborts on a shape that does not exist. */
ptq_tile_fn ptq_tile_pick(int mr, int nv);

/* The tile shape for an output nvec vectors wide with `rows` rows. */
void ptq_tile_shape(int64_t nvec, int64_t rows, int *mr, int *nv);

#endif
