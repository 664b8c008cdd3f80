/* window.c — the flat polyphase layout of window.h. */
#include "window.h"

#include "simd.h"

void ptq_window_init(ptq_window *g, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t kh,
                     int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t ph,
                     int64_t pw) {
    g->h = h, g->w = w, g->oh = oh, g->ow = ow;
    g->kh = kh, g->kw = kw, g->sh = sh, g->sw = sw, g->dh = dh, g->dw = dw;
    g->ph = ph, g->pw = pw;
    g->taps = kh * kw;
    /* The padded extent every window reaches: ceil-mode windows may hang past the
     * declared end padding, and read padding there too. */
    const int64_t hp = PTQ_MAX(h + ph, (oh - 1) * sh + dh * (kh - 1) + 1);
    const int64_t wp = PTQ_MAX(w + pw, (ow - 1) * sw + dw * (kw - 1) + 1);
    g->hq = (hp + sh - 1) / sh;
    g->wq = (wp + sw - 1) / sw;
    g->npos = (oh - 1) * g->wq + ow;
    g->npos_r = (g->npos + VL - 1) / VL * VL;
    /* The last vector of a row of tiles reads at most VL - 1 floats past the planes. */
    g->chan = (sh * sw * g->hq * g->wq + VL + 15) / 16 * 16;
}

/* Floor and ceiling of n / d for d > 0 and any sign of n (C division truncates). */
static int64_t floor_div(int64_t n, int64_t d) { return n >= 0 ? n / d : -((-n + d - 1) / d); }
static int64_t ceil_div(int64_t n, int64_t d) { return -floor_div(-n, d); }

/* Lanes p, p + 2, p + 4, ... of two vectors side by side (p = 0: even, 1: odd).  GCC
 * takes the lane indices as a vector, clang (the fuzz build) as constants. */
#if VL == 16
#define DEALT_LANES(p) 0 + p, 2 + p, 4 + p, 6 + p, 8 + p, 10 + p, 12 + p, 14 + p, 16 + p, \
    18 + p, 20 + p, 22 + p, 24 + p, 26 + p, 28 + p, 30 + p
#elif VL == 8
#define DEALT_LANES(p) 0 + p, 2 + p, 4 + p, 6 + p, 8 + p, 10 + p, 12 + p, 14 + p
#else
#define DEALT_LANES(p) 0 + p, 2 + p, 4 + p, 6 + p
#endif
#if defined(__clang__)
#define DEAL(a, b, p) __builtin_shufflevector(a, b, DEALT_LANES(p))
#else
#define DEAL(a, b, p) __builtin_shuffle(a, b, (vi){DEALT_LANES(p)})
#endif

/* Stride 2 across: one pass over each input row deals its elements to the two column
 * phases (input column ix lands in phase (ix + pw) % 2, column (ix + pw) / 2), whole
 * vectors at a time, instead of two strided scalar passes. */
static void copy_rows_sw2(const ptq_window *g, const float *restrict x, float *restrict p0,
                          float *restrict p1, int64_t a, int64_t r_lo, int64_t r_hi) {
    /* Columns no window reaches (past phase column wq - 1) are not copied. */
    const int64_t w = PTQ_MIN(g->w, 2 * g->wq - g->pw);
    for (int64_t r = r_lo; r < r_hi; r++) {
        const float *restrict xr = x + (r * g->sh + a - g->ph) * g->w;
        float *restrict q0 = p0 + r * g->wq, *restrict q1 = p1 + r * g->wq;
        int64_t ix = 0;
        if (g->pw % 2 && w > 0) { /* column 0 is odd: vectors start at an even one */
            q1[g->pw / 2] = xr[0];
            ix = 1;
        }
        for (; ix + 2 * VL <= w; ix += 2 * VL) {
            const vf v0 = vload(xr + ix), v1 = vload(xr + ix + VL);
            const int64_t j = (ix + g->pw) / 2;
            vstore(q0 + j, DEAL(v0, v1, 0));
            vstore(q1 + j, DEAL(v0, v1, 1));
        }
        for (; ix < w; ix++) {
            const int64_t t = ix + g->pw;
            (t % 2 ? q1 : q0)[t / 2] = xr[ix];
        }
    }
}

void ptq_window_copy_in(const ptq_window *g, const float *restrict x, float *restrict dst) {
    const int64_t pq = g->hq * g->wq;
    for (int64_t a = 0; a < g->sh; a++) {
        /* phase rows r with 0 <= r*sh + a - ph <= h - 1 */
        const int64_t r_lo = PTQ_MAX(0, ceil_div(g->ph - a, g->sh));
        const int64_t r_hi = PTQ_MIN(g->hq, floor_div(g->h - 1 + g->ph - a, g->sh) + 1);
        if (g->sw == 2) {
            copy_rows_sw2(g, x, dst + a * 2 * pq, dst + (a * 2 + 1) * pq, a, r_lo, r_hi);
            continue;
        }
        for (int64_t b = 0; b < g->sw; b++) {
            const int64_t j_lo = PTQ_MAX(0, ceil_div(g->pw - b, g->sw));
            const int64_t j_hi = PTQ_MIN(g->wq, floor_div(g->w - 1 + g->pw - b, g->sw) + 1);
            float *restrict ph = dst + (a * g->sw + b) * pq;
            for (int64_t r = r_lo; r < r_hi; r++) {
                const float *restrict xr = x + (r * g->sh + a - g->ph) * g->w + b - g->pw;
                float *restrict row = ph + r * g->wq;
                /* Plain stores: the tiles load these rows right away, and masked vector
                 * stores would stall that store-to-load forwarding (measured: +10-20%). */
                if (g->sw == 1) {
                    for (int64_t j = j_lo; j < j_hi; j++) row[j] = xr[j];
                } else {
                    for (int64_t j = j_lo; j < j_hi; j++) row[j] = xr[j * g->sw];
                }
            }
        }
    }
}

void ptq_window_offsets(const ptq_window *g, int64_t *offs) {
    const int64_t pq = g->hq * g->wq;
    for (int64_t ki = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++) {
            const int64_t ry = ki * g->dh, rx = kj * g->dw;
            offs[ki * g->kw + kj] =
                ((ry % g->sh) * g->sw + rx % g->sw) * pq + (ry / g->sh) * g->wq + rx / g->sw;
        }
}
