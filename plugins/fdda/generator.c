/* generator.c — FDDA's conditional generator, forward and backward (see generator.h).
 *
 * Shapes (per sample; F = base, F2 = F / 2, h0 = H / 4, w0 = W / 4):
 *   linear   z [z_dim] -> a0 [F, h0, w0]
 *   bn[0]    a0 -> y0 [F, h0, w0]                      CondBN, eps 1e-5
 *   conv[0]  up2(y0) -> a1 [F, 2h0, 2w0]               3x3, pad 1, bias
 *   bn[1]    a1 -> r1 = lrelu(CondBN(a1))              eps 0.8
 *   conv[1]  up2(r1) -> a2 [F2, H, W]
 *   bn[2]    a2 -> r2 = lrelu(CondBN(a2))              eps 1e-5
 *   conv[2]  r2 -> a3 [C, H, W];  t = tanh(a3)
 *   bn[3]    t -> out = BN(t), no affine               eps 1e-5
 *
 * The convolutions are im2col + one GEMM per image.  The nearest-neighbour upsampling in
 * front of conv[0] and conv[1] is never materialised: im2col reads the small input through
 * the index map (y, x) -> (y >> 1, x >> 1), and its adjoint (col2im) sums the gradients of
 * the four copies of a pixel back into it, which is the upsampling's backward.
 *
 * What the backward keeps from the forward: z and the labels (linear, CondBN), each BN's
 * xhat and 1/std, each conv's input (y0, r1, r2; im2col is recomputed), and t.  The
 * LeakyReLU's backward reads its own output: r > 0 exactly when its input was > 0.  The
 * normalisation of a BN happens in place in its xhat buffer, so the conv outputs a1, a2
 * and the linear output a0 have no buffers of their own. */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "generator.h"

#define GEN_LRELU_SLOPE 0.2f

/* The parameter groups, in their order in the flat array. */
enum {
    GEN_LIN_W, GEN_LIN_B,
    GEN_BN0_GAMMA, GEN_BN0_BETA,
    GEN_CONV0_W, GEN_CONV0_B,
    GEN_BN1_GAMMA, GEN_BN1_BETA,
    GEN_CONV1_W, GEN_CONV1_B,
    GEN_BN2_GAMMA, GEN_BN2_BETA,
    GEN_CONV2_W, GEN_CONV2_B,
    GEN_GROUP_COUNT
};

/* How a group starts: PyTorch's default uniform bound 1/sqrt(fan_in), or a constant. */
typedef struct gen_group {
    int64_t offset, count;  /* in the flat arrays */
    int64_t fan_in;         /* > 0: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); 0: `constant` */
    float constant;
} gen_group;

/* A 3x3 convolution, pad 1, stride 1, with bias, over the nearest-neighbour upsampling by
 * 2^up_shift of its input. */
typedef struct gen_conv {
    int64_t cin, cout;
    int64_t h, w;      /* the output's size, which is the upsampled input's */
    int up_shift;      /* 0: no upsampling; 1: x2 */
    int weight, bias;  /* parameter groups */
} gen_conv;

/* A batch norm over [B, ch, plane] with the batch's statistics per channel; with a
 * per-class affine when gamma >= 0. */
typedef struct gen_bn {
    int64_t ch, plane;
    float eps;
    int gamma, beta;   /* parameter groups, -1 for none */
    float *xhat;       /* [B, ch, plane] of the last forward */
    float *istd;       /* [ch]: 1 / sqrt(var + eps) of the last forward */
} gen_bn;

struct fdda_gen {
    fdda_gen_config cfg;
    int64_t lin_out;   /* F * h0 * w0 */
    gen_conv conv[3];
    gen_bn bn[4];
    gen_group group[GEN_GROUP_COUNT];
    int64_t n_params;
    float *params, *grads;

    /* The last forward (B == 0 before the first). */
    int64_t B;
    float *z;          /* [B, z_dim] */
    int32_t *labels;   /* [B] */
    float *y0;         /* [B, F, h0, w0]: conv[0]'s input */
    float *r1;         /* [B, F, 2h0, 2w0]: conv[1]'s input */
    float *r2;         /* [B, F2, H, W]: conv[2]'s input */
    float *t;          /* [B, C, H, W]: tanh's output */

    /* Scratch. */
    float *col;        /* im2col of one image for the largest conv */
    float *ga, *gb;    /* activation gradients, ping-pong, [max_batch, largest activation] */

    size_t bytes;      /* everything above, for fdda_gen_bytes */
};

/* ---- helpers ------------------------------------------------------------------------ */

static void set_error(char *err, size_t err_size, const char *fmt, ...) {
    if (!err || !err_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* splitmix64: a seeded stream with no global state. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t x = (*state += 0x9E3779B97F4A7C15ULL);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* Uniform in [-bound, bound), from the top 24 bits (exactly representable in a float). */
static float uniform_symmetric(uint64_t *state, float bound) {
    const float u = (float)(splitmix64(state) >> 40) * (1.0f / 16777216.0f);
    return bound * (2.0f * u - 1.0f);
}

/* malloc that counts what it holds; false when out of memory. */
static bool alloc_floats(fdda_gen *g, float **p, int64_t n) {
    *p = malloc((size_t)n * sizeof **p);
    g->bytes += (size_t)n * sizeof **p;
    return *p != NULL;
}

static float *param(fdda_gen *g, int group) { return g->params + g->group[group].offset; }
static float *grad(fdda_gen *g, int group) { return g->grads + g->group[group].offset; }

/* ---- configuration ------------------------------------------------------------------- */

/* Every field's range, with a message naming the field that is out of it. */
static bool config_ok(const fdda_gen_config *c, char *err, size_t err_size) {
    if (!c) {
        set_error(err, err_size, "fdda generator: no config");
        return false;
    }
    /* Upper limits keep every size computed from these far inside int64. */
    struct { const char *name; int64_t value, lo, hi; } range[] = {
        {"z_dim", c->z_dim, 1, 1 << 16},
        {"classes", c->classes, 1, 1 << 20},
        {"channels", c->channels, 1, 1 << 12},
        {"height", c->height, 4, 1 << 14},
        {"width", c->width, 4, 1 << 14},
        {"base", c->base, 2, 1 << 14},
        {"max_batch", c->max_batch, 1, 1 << 20},
    };
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
        if (range[i].value < range[i].lo || range[i].value > range[i].hi) {
            set_error(err, err_size, "fdda generator: %s is %lld, outside [%lld, %lld]",
                      range[i].name, (long long)range[i].value, (long long)range[i].lo,
                      (long long)range[i].hi);
            return false;
        }
    }
    if (c->height % 4 || c->width % 4) {
        const bool h = c->height % 4 != 0;
        set_error(err, err_size, "fdda generator: %s %d is not divisible by 4 (the generator "
                  "upsamples twice by 2)", h ? "height" : "width", h ? c->height : c->width);
        return false;
    }
    /* OpenBLAS takes int sizes; the linear layer's output is the largest of them. */
    const int64_t lin_out = (int64_t)c->base * (c->height / 4) * (c->width / 4);
    if (lin_out > INT32_MAX) {
        set_error(err, err_size, "fdda generator: base * (height / 4) * (width / 4) is %lld, "
                  "above the GEMM size limit 2^31 - 1", (long long)lin_out);
        return false;
    }
    if (c->base % 2) {
        set_error(err, err_size, "fdda generator: base %d is odd (the last block has base / 2 "
                  "channels)", c->base);
        return false;
    }
    return true;
}

/* The layers' shapes and the parameter groups' places in the flat array. */
static void lay_out(fdda_gen *g) {
    const fdda_gen_config *c = &g->cfg;
    const int64_t F = c->base, F2 = c->base / 2, K = c->classes, C = c->channels;
    const int64_t H = c->height, W = c->width, h0 = H / 4, w0 = W / 4;
    g->lin_out = F * h0 * w0;
    g->conv[0] = (gen_conv){F, F, 2 * h0, 2 * w0, 1, GEN_CONV0_W, GEN_CONV0_B};
    g->conv[1] = (gen_conv){F, F2, H, W, 1, GEN_CONV1_W, GEN_CONV1_B};
    g->conv[2] = (gen_conv){F2, C, H, W, 0, GEN_CONV2_W, GEN_CONV2_B};
    g->bn[0] = (gen_bn){F, h0 * w0, 1e-5f, GEN_BN0_GAMMA, GEN_BN0_BETA, NULL, NULL};
    g->bn[1] = (gen_bn){F, 4 * h0 * w0, 0.8f, GEN_BN1_GAMMA, GEN_BN1_BETA, NULL, NULL};
    g->bn[2] = (gen_bn){F2, H * W, 1e-5f, GEN_BN2_GAMMA, GEN_BN2_BETA, NULL, NULL};
    g->bn[3] = (gen_bn){C, H * W, 1e-5f, -1, -1, NULL, NULL};

    const int64_t fan_lin = c->z_dim, fan[3] = {9 * F, 9 * F, 9 * F2};
    g->group[GEN_LIN_W] = (gen_group){0, g->lin_out * c->z_dim, fan_lin, 0};
    g->group[GEN_LIN_B] = (gen_group){0, g->lin_out, fan_lin, 0};
    for (int i = 0; i < 3; i++) {
        const gen_conv *cv = &g->conv[i];
        g->group[cv->weight] = (gen_group){0, cv->cout * cv->cin * 9, fan[i], 0};
        g->group[cv->bias] = (gen_group){0, cv->cout, fan[i], 0};
    }
    for (int i = 0; i < 3; i++) {
        g->group[g->bn[i].gamma] = (gen_group){0, K * g->bn[i].ch, 0, 1.0f};
        g->group[g->bn[i].beta] = (gen_group){0, K * g->bn[i].ch, 0, 0.0f};
    }
    int64_t offset = 0;
    for (int i = 0; i < GEN_GROUP_COUNT; i++) {
        g->group[i].offset = offset;
        offset += g->group[i].count;
    }
    g->n_params = offset;
}

/* PyTorch's defaults, drawn group by group in the flat array's order from one stream. */
static void init_params(fdda_gen *g) {
    uint64_t state = g->cfg.seed;
    for (int i = 0; i < GEN_GROUP_COUNT; i++) {
        const gen_group *gr = &g->group[i];
        float *p = param(g, i);
        const float bound = gr->fan_in ? 1.0f / sqrtf((float)gr->fan_in) : 0.0f;
        for (int64_t k = 0; k < gr->count; k++)
            p[k] = gr->fan_in ? uniform_symmetric(&state, bound) : gr->constant;
    }
}

static int64_t max4(int64_t a, int64_t b, int64_t c, int64_t d) {
    const int64_t ab = a > b ? a : b, cd = c > d ? c : d;
    return ab > cd ? ab : cd;
}

static bool alloc_buffers(fdda_gen *g) {
    const int64_t B = g->cfg.max_batch;
    const int64_t per_sample[4] = {g->lin_out, g->conv[0].cout * g->conv[0].h * g->conv[0].w,
                                   g->conv[1].cout * g->conv[1].h * g->conv[1].w,
                                   g->conv[2].cout * g->conv[2].h * g->conv[2].w};
    int64_t col = 0;
    for (int i = 0; i < 3; i++) {
        const int64_t n = g->conv[i].cin * 9 * g->conv[i].h * g->conv[i].w;
        col = n > col ? n : col;
    }
    const int64_t largest = max4(per_sample[0], per_sample[1], per_sample[2], per_sample[3]);
    bool ok = alloc_floats(g, &g->params, g->n_params) && alloc_floats(g, &g->grads, g->n_params) &&
              alloc_floats(g, &g->z, B * g->cfg.z_dim) && alloc_floats(g, &g->y0, B * per_sample[0]) &&
              alloc_floats(g, &g->r1, B * per_sample[1]) && alloc_floats(g, &g->r2, B * per_sample[2]) &&
              alloc_floats(g, &g->t, B * per_sample[3]) && alloc_floats(g, &g->col, col) &&
              alloc_floats(g, &g->ga, B * largest) && alloc_floats(g, &g->gb, B * largest);
    for (int i = 0; ok && i < 4; i++)
        ok = alloc_floats(g, &g->bn[i].xhat, B * per_sample[i]) &&
             alloc_floats(g, &g->bn[i].istd, g->bn[i].ch);
    if (!ok) return false;
    g->labels = malloc((size_t)B * sizeof *g->labels);
    g->bytes += (size_t)B * sizeof *g->labels;
    return g->labels != NULL;
}

fdda_gen *fdda_gen_new(const fdda_gen_config *c, char *err, size_t err_size) {
    if (!config_ok(c, err, err_size)) return NULL;
    fdda_gen *g = calloc(1, sizeof *g);
    if (!g) {
        set_error(err, err_size, "fdda generator: out of memory");
        return NULL;
    }
    g->cfg = *c;
    g->bytes = sizeof *g;
    lay_out(g);
    if (!alloc_buffers(g)) {
        set_error(err, err_size, "fdda generator: out of memory (%zu bytes)", g->bytes);
        fdda_gen_free(g);
        return NULL;
    }
    init_params(g);
    fdda_gen_zero_grad(g);
    return g;
}

void fdda_gen_free(fdda_gen *g) {
    if (!g) return;
    float *buffers[] = {g->params, g->grads, g->z, g->y0, g->r1, g->r2, g->t, g->col, g->ga, g->gb};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) free(buffers[i]);
    for (int i = 0; i < 4; i++) {
        free(g->bn[i].xhat);
        free(g->bn[i].istd);
    }
    free(g->labels);
    free(g);
}

int64_t fdda_gen_param_count(const fdda_gen *g) { return g->n_params; }
float *fdda_gen_params(fdda_gen *g) { return g->params; }
float *fdda_gen_grads(fdda_gen *g) { return g->grads; }
size_t fdda_gen_bytes(const fdda_gen *g) { return g->bytes; }

void fdda_gen_zero_grad(fdda_gen *g) {
    memset(g->grads, 0, (size_t)g->n_params * sizeof *g->grads);
}

/* ---- linear ------------------------------------------------------------------------- */

/* a [B, lin_out] = z [B, z_dim] W^T + b, W [lin_out, z_dim]. */
static void linear_forward(fdda_gen *g, const float *z, int64_t B, float *a) {
    const int64_t n = g->lin_out, k = g->cfg.z_dim;
    const float *b = param(g, GEN_LIN_B);
    for (int64_t s = 0; s < B; s++) memcpy(a + s * n, b, (size_t)n * sizeof *a);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)n, (int)k, 1.0f, z, (int)k,
                param(g, GEN_LIN_W), (int)k, 1.0f, a, (int)n);
}

/* dW += da^T z, db += sum over the batch of da, dz = da W (if wanted). */
static void linear_backward(fdda_gen *g, const float *da, int64_t B, float *dz) {
    const int64_t n = g->lin_out, k = g->cfg.z_dim;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)k, (int)B, 1.0f, da, (int)n,
                g->z, (int)k, 1.0f, grad(g, GEN_LIN_W), (int)k);
    float *db = grad(g, GEN_LIN_B);
    for (int64_t s = 0; s < B; s++)
        for (int64_t i = 0; i < n; i++) db[i] += da[s * n + i];
    if (dz)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)k, (int)n, 1.0f, da,
                    (int)n, param(g, GEN_LIN_W), (int)k, 0.0f, dz, (int)k);
}

/* ---- batch norm --------------------------------------------------------------------- */

/* Normalises x [B, ch, plane] per channel with the batch's mean and biased variance into
 * bn->xhat (x may be bn->xhat itself), then y = xhat, or with the affine of each sample's
 * class.  Sums in double: a channel can hold B * H * W values. */
static void bn_forward(fdda_gen *g, gen_bn *bn, const float *x, int64_t B, float *y) {
    const int64_t ch = bn->ch, plane = bn->plane;
    const double count = (double)(B * plane);
    for (int64_t c = 0; c < ch; c++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t s = 0; s < B; s++) {
            const float *xs = x + (s * ch + c) * plane;
            for (int64_t p = 0; p < plane; p++) sum += xs[p];
        }
        const double mean = sum / count;
        for (int64_t s = 0; s < B; s++) {
            const float *xs = x + (s * ch + c) * plane;
            for (int64_t p = 0; p < plane; p++) sq += (xs[p] - mean) * (xs[p] - mean);
        }
        const float istd = (float)(1.0 / sqrt(sq / count + bn->eps));
        bn->istd[c] = istd;
        for (int64_t s = 0; s < B; s++) {
            const int64_t at = (s * ch + c) * plane;
            float gamma = 1.0f, beta = 0.0f;
            if (bn->gamma >= 0) {
                gamma = param(g, bn->gamma)[g->labels[s] * ch + c];
                beta = param(g, bn->beta)[g->labels[s] * ch + c];
            }
            for (int64_t p = 0; p < plane; p++) {
                const float xh = (float)((x[at + p] - mean) * istd);
                bn->xhat[at + p] = xh;
                y[at + p] = gamma * xh + beta;
            }
        }
    }
}

/* From dy to dx (they may be the same buffer), accumulating the class rows of gamma and
 * beta.  With dxhat = gamma * dy and N = B * plane:
 *   dx = istd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)). */
static void bn_backward(fdda_gen *g, const gen_bn *bn, const float *dy, int64_t B, float *dx) {
    const int64_t ch = bn->ch, plane = bn->plane;
    const bool affine = bn->gamma >= 0;
    const float *gamma = affine ? param(g, bn->gamma) : NULL;
    float *dgamma = affine ? grad(g, bn->gamma) : NULL, *dbeta = affine ? grad(g, bn->beta) : NULL;
    const double count = (double)(B * plane);
    for (int64_t c = 0; c < ch; c++) {
        double sum_dxh = 0.0, sum_dxh_xh = 0.0;
        for (int64_t s = 0; s < B; s++) {
            const int64_t at = (s * ch + c) * plane, row = affine ? g->labels[s] * ch + c : 0;
            const float gm = affine ? gamma[row] : 1.0f;
            double dg = 0.0, db = 0.0;
            for (int64_t p = 0; p < plane; p++) {
                dg += (double)dy[at + p] * bn->xhat[at + p];
                db += dy[at + p];
            }
            if (affine) {
                dgamma[row] += (float)dg;
                dbeta[row] += (float)db;
            }
            sum_dxh += gm * db;
            sum_dxh_xh += gm * dg;
        }
        const float mean_dxh = (float)(sum_dxh / count), mean_dxh_xh = (float)(sum_dxh_xh / count);
        const float istd = bn->istd[c];
        for (int64_t s = 0; s < B; s++) {
            const int64_t at = (s * ch + c) * plane;
            const float gm = affine ? gamma[g->labels[s] * ch + c] : 1.0f;
            for (int64_t p = 0; p < plane; p++)
                dx[at + p] = istd * (gm * dy[at + p] - mean_dxh - bn->xhat[at + p] * mean_dxh_xh);
        }
    }
}

/* ---- pointwise ----------------------------------------------------------------------- */

static void leaky_relu(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : GEN_LRELU_SLOPE * x[i];
}

/* d = d r / d x applied to d, read from the output r: r > 0 exactly when x > 0. */
static void leaky_relu_backward(const float *r, float *d, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!(r[i] > 0.0f)) d[i] *= GEN_LRELU_SLOPE;
}

static void tanh_forward(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

static void tanh_backward(const float *t, float *d, int64_t n) {
    for (int64_t i = 0; i < n; i++) d[i] *= 1.0f - t[i] * t[i];
}

/* ---- convolution --------------------------------------------------------------------- */

/* col [cin * 9, h * w]: row (ci, ky, kx) holds, at output pixel (oy, ox), the upsampled
 * input at (oy + ky - 1, ox + kx - 1), or 0 in the padding.  The upsampled pixel (iy, ix)
 * is the input's (iy >> up_shift, ix >> up_shift). */
static void im2col(const gen_conv *cv, const float *x, float *col) {
    const int64_t h = cv->h, w = cv->w, sh = cv->up_shift;
    const int64_t in_w = w >> sh, in_plane = (h >> sh) * in_w;
    for (int64_t ci = 0; ci < cv->cin; ci++)
        for (int64_t ky = 0; ky < 3; ky++)
            for (int64_t kx = 0; kx < 3; kx++) {
                float *row = col + ((ci * 3 + ky) * 3 + kx) * h * w;
                for (int64_t oy = 0; oy < h; oy++) {
                    const int64_t iy = oy + ky - 1;
                    float *out = row + oy * w;
                    if (iy < 0 || iy >= h) {
                        memset(out, 0, (size_t)w * sizeof *out);
                        continue;
                    }
                    const float *src = x + ci * in_plane + (iy >> sh) * in_w;
                    for (int64_t ox = 0; ox < w; ox++) {
                        const int64_t ix = ox + kx - 1;
                        out[ox] = ix >= 0 && ix < w ? src[ix >> sh] : 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col: dx [cin, h >> up_shift, w >> up_shift] += what col's entries read. */
static void col2im(const gen_conv *cv, const float *col, float *dx) {
    const int64_t h = cv->h, w = cv->w, sh = cv->up_shift;
    const int64_t in_w = w >> sh, in_plane = (h >> sh) * in_w;
    for (int64_t ci = 0; ci < cv->cin; ci++)
        for (int64_t ky = 0; ky < 3; ky++)
            for (int64_t kx = 0; kx < 3; kx++) {
                const float *row = col + ((ci * 3 + ky) * 3 + kx) * h * w;
                for (int64_t oy = 0; oy < h; oy++) {
                    const int64_t iy = oy + ky - 1;
                    if (iy < 0 || iy >= h) continue;
                    const float *in = row + oy * w;
                    float *dst = dx + ci * in_plane + (iy >> sh) * in_w;
                    for (int64_t ox = 0; ox < w; ox++) {
                        const int64_t ix = ox + kx - 1;
                        if (ix >= 0 && ix < w) dst[ix >> sh] += in[ox];
                    }
                }
            }
}

static int64_t conv_in_size(const gen_conv *cv) {
    return cv->cin * (cv->h >> cv->up_shift) * (cv->w >> cv->up_shift);
}

/* y [B, cout, h, w] = W [cout, cin * 9] col(x) + b, image by image. */
static void conv_forward(fdda_gen *g, const gen_conv *cv, const float *x, int64_t B, float *y) {
    const int64_t hw = cv->h * cv->w, k = cv->cin * 9, in_size = conv_in_size(cv);
    const float *b = param(g, cv->bias);
    for (int64_t s = 0; s < B; s++) {
        float *ys = y + s * cv->cout * hw;
        im2col(cv, x + s * in_size, g->col);
        for (int64_t co = 0; co < cv->cout; co++)
            for (int64_t p = 0; p < hw; p++) ys[co * hw + p] = b[co];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cv->cout, (int)hw, (int)k, 1.0f,
                    param(g, cv->weight), (int)k, g->col, (int)hw, 1.0f, ys, (int)hw);
    }
}

/* Per image: dW += dy col(x)^T, db += sum of dy over pixels, and dx = col2im(W^T dy). */
static void conv_backward(fdda_gen *g, const gen_conv *cv, const float *x, const float *dy,
                          int64_t B, float *dx) {
    const int64_t hw = cv->h * cv->w, k = cv->cin * 9, in_size = conv_in_size(cv);
    float *dw = grad(g, cv->weight), *db = grad(g, cv->bias);
    for (int64_t s = 0; s < B; s++) {
        const float *dys = dy + s * cv->cout * hw;
        im2col(cv, x + s * in_size, g->col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)cv->cout, (int)k, (int)hw, 1.0f,
                    dys, (int)hw, g->col, (int)hw, 1.0f, dw, (int)k);
        for (int64_t co = 0; co < cv->cout; co++) {
            double sum = 0.0;
            for (int64_t p = 0; p < hw; p++) sum += dys[co * hw + p];
            db[co] += (float)sum;
        }
        /* col is free again: it takes W^T dy, whose adjoint-im2col is dx. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)hw, (int)cv->cout, 1.0f,
                    param(g, cv->weight), (int)k, dys, (int)hw, 0.0f, g->col, (int)hw);
        float *dxs = dx + s * in_size;
        memset(dxs, 0, (size_t)in_size * sizeof *dxs);
        col2im(cv, g->col, dxs);
    }
}

/* ---- the network --------------------------------------------------------------------- */

static int64_t conv_out_size(const gen_conv *cv) { return cv->cout * cv->h * cv->w; }

void fdda_gen_forward(fdda_gen *g, const float *z, const int32_t *labels, int64_t B, float *out) {
    assert(B >= 1 && B <= g->cfg.max_batch);
    for (int64_t s = 0; s < B; s++) assert(labels[s] >= 0 && labels[s] < g->cfg.classes);
    g->B = B;
    memcpy(g->z, z, (size_t)(B * g->cfg.z_dim) * sizeof *z);
    memcpy(g->labels, labels, (size_t)B * sizeof *labels);

    /* Each conv output and the linear output go straight into the xhat buffer of the BN
     * after it, which normalises them in place. */
    linear_forward(g, z, B, g->bn[0].xhat);
    bn_forward(g, &g->bn[0], g->bn[0].xhat, B, g->y0);

    conv_forward(g, &g->conv[0], g->y0, B, g->bn[1].xhat);
    bn_forward(g, &g->bn[1], g->bn[1].xhat, B, g->r1);
    leaky_relu(g->r1, B * conv_out_size(&g->conv[0]));

    conv_forward(g, &g->conv[1], g->r1, B, g->bn[2].xhat);
    bn_forward(g, &g->bn[2], g->bn[2].xhat, B, g->r2);
    leaky_relu(g->r2, B * conv_out_size(&g->conv[1]));

    conv_forward(g, &g->conv[2], g->r2, B, g->t);
    tanh_forward(g->t, B * conv_out_size(&g->conv[2]));
    bn_forward(g, &g->bn[3], g->t, B, out);
}

void fdda_gen_backward(fdda_gen *g, const float *grad_out, float *grad_z) {
    assert(g->B >= 1);  /* a forward came first */
    const int64_t B = g->B;
    float *ga = g->ga, *gb = g->gb;

    bn_backward(g, &g->bn[3], grad_out, B, ga);                 /* d t */
    tanh_backward(g->t, ga, B * conv_out_size(&g->conv[2]));     /* d a3 */
    conv_backward(g, &g->conv[2], g->r2, ga, B, gb);             /* d r2 */

    leaky_relu_backward(g->r2, gb, B * conv_out_size(&g->conv[1]));
    bn_backward(g, &g->bn[2], gb, B, gb);                        /* d a2 */
    conv_backward(g, &g->conv[1], g->r1, gb, B, ga);             /* d r1 */

    leaky_relu_backward(g->r1, ga, B * conv_out_size(&g->conv[0]));
    bn_backward(g, &g->bn[1], ga, B, ga);                        /* d a1 */
    conv_backward(g, &g->conv[0], g->y0, ga, B, gb);             /* d y0 */

    bn_backward(g, &g->bn[0], gb, B, gb);                        /* d a0 */
    linear_backward(g, gb, B, grad_z);
}
