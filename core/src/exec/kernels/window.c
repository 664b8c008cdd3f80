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

void ptq_window_copy_in(const ptq_window *g, const float *restrict x, float *restrict dst) {
    const int64_t pq = g->hq * g->wq;
    for (int64_t a = 0; a < g->sh; a++) {
        /* phase rows r with 0 <= r*sh + a - ph <= h - 1 */
        const int64_t r_lo = PTQ_MAX(0, ceil_div(g->ph - a, g->sh));
        const int64_t r_hi = PTQ_MIN(g->hq, floor_div(g->h - 1 + g->ph - a, g->sh) + 1);
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
