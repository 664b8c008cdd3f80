/* window.h — sliding windows over NCHW planes in "flat polyphase" layout, shared by the
 * convolution and pooling kernels.
 *
 * A channel is copied into zero-padded (or -inf-padded) polyphase planes: phase (a, b)
 * of a stride (sh, sw) window holds padded rows a, a+sh, ... and columns b, b+sw, ...
 * In that layout every tap of the window reads a contiguous run of one phase plane, and
 * consecutive output rows are adjacent (wq - ow junk columns apart), so a windowed
 * operation becomes a 1-D one over flat positions p = oy * wq + ox:
 *
 *     out[p] = reduce over taps t of planes[p + offset[t]]
 *
 * which vector code can run at full width with no bounds checks. */
#ifndef PTQ_WINDOW_H
#define PTQ_WINDOW_H

#include "internal.h"

typedef struct ptq_window {
    int64_t h, w, oh, ow;          /* input and output plane */
    int64_t kh, kw, sh, sw, dh, dw; /* window */
    int64_t ph, pw;                /* leading padding */
    int64_t taps;                  /* kh * kw */
    int64_t hq, wq;                /* one phase plane (covers every window, ceil mode too) */
    int64_t chan;                  /* floats per channel: sh*sw planes + over-read slack */
    int64_t npos;                  /* flat output positions: (oh - 1) * wq + ow */
    int64_t npos_r;                /* npos rounded up to whole vectors */
} ptq_window;

void ptq_window_init(ptq_window *g, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t kh,
                     int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t ph,
                     int64_t pw);

/* Copies one channel's plane x into its phase planes at dst.  Writes only positions that
 * map inside the image: the padding keeps whatever the caller filled it with (once per
 * call), which is what makes the copy cheap. */
void ptq_window_copy_in(const ptq_window *g, const float *x, float *dst);

/* Offset of each tap inside a channel's phase planes (g->taps entries). */
void ptq_window_offsets(const ptq_window *g, int64_t *offs);

#endif
