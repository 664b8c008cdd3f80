/* test_generator.c — FDDA's conditional generator (plugins/fdda/generator.c), alone:
 *   - the forward is the network of generator.h: a plain double-precision reference
 *     written here (explicit upsampling, direct convolution, batch norms) gives the same
 *     output, for C = 1 and C = 3;
 *   - the backward is the forward's gradient: central differences (eps 1e-2) of a random
 *     projection of the output (loss = sum(out * R), summed in double), for parameters of
 *     every group and for z, taken on the LeakyReLUs' smooth piece around the point (see
 *     grad_check); R is random because the last, affine-free BN makes sum(out) constant;
 *   - the class rows of the CondBN tables that no sample of the batch has get no gradient;
 *     backward accumulates; grad_z is optional;
 *   - the output has mean 0 and variance 1 per channel (the last BN);
 *   - the seed decides the parameters and the output, bit for bit;
 *   - a bad config is refused with a message that names the field. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
/* White-box: the generator is compiled in, so its layout (the parameter groups) is visible. */
#include "../generator.c"

static const char *const group_names[GEN_GROUP_COUNT] = {
    "linear.weight", "linear.bias", "bn0.gamma", "bn0.beta", "conv0.weight", "conv0.bias",
    "bn1.gamma", "bn1.beta", "conv1.weight", "conv1.bias", "bn2.gamma", "bn2.beta",
    "conv2.weight", "conv2.bias",
};

/* The gradient checks' batch: classes 0 and 2, class 0 twice; class 1 is absent. */
#define SMALL_B 3
static const int32_t small_labels[SMALL_B] = {2, 0, 0};

static fdda_gen *small_gen(int32_t channels, uint64_t seed) {
    const fdda_gen_config c = {.z_dim = 5, .classes = 3, .channels = channels, .height = 8,
                               .width = 8, .base = 4, .max_batch = 4, .seed = seed};
    char err[256] = "";
    fdda_gen *g = fdda_gen_new(&c, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    return g;
}

/* Moves gamma and beta off 1 and 0, so their gradient (and the other groups' through
 * them) is checked at a general point rather than at the identity affine. */
static void perturb_affines(fdda_gen *g, test_rng *r) {
    for (int i = 0; i < 3; i++) {
        const gen_group *gm = &g->group[g->bn[i].gamma], *bt = &g->group[g->bn[i].beta];
        for (int64_t k = 0; k < gm->count; k++) g->params[gm->offset + k] += test_rng_uniform(r, -0.3f, 0.3f);
        for (int64_t k = 0; k < bt->count; k++) g->params[bt->offset + k] += test_rng_uniform(r, -0.3f, 0.3f);
    }
}

static int64_t out_count(const fdda_gen *g, int64_t B) {
    return B * g->cfg.channels * g->cfg.height * g->cfg.width;
}

/* A central-difference check of d sum(out * R) / d x against the backward.
 *
 * The LeakyReLUs make the loss piecewise smooth, and in this small network some of the
 * ~600 LeakyReLU inputs always lie within a step of eps of 0: a difference across such a
 * kink measures the kink, not the derivative (up to 20% off here at eps 1e-2, still 4% at
 * 1e-3).  So the differences are taken on the smooth piece that holds the check's base
 * point: the same forward with each LeakyReLU's slope fixed by the sign its input had at
 * the base point.  That function equals the network near the base point (no input there
 * is exactly 0), so it has the same gradient; the test asserts that at the base point its
 * output is the real forward's, bit for bit. */
typedef struct grad_check {
    fdda_gen *g;
    float *z, *R, *out;
    int64_t n_out, n1, n2;         /* elements of out, r1, r2 */
    unsigned char *pos1, *pos2;    /* LeakyReLU input > 0, at the base point */
} grad_check;

static void record_signs(const float *r, unsigned char *pos, int64_t n) {
    for (int64_t i = 0; i < n; i++) pos[i] = r[i] > 0.0f;  /* r has the sign of its input */
}

static void leaky_relu_on_piece(float *x, const unsigned char *pos, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!pos[i]) x[i] *= GEN_LRELU_SLOPE;
}

/* fdda_gen_forward's steps (generator.c), with leaky_relu_on_piece for leaky_relu. */
static void forward_on_piece(grad_check *k) {
    fdda_gen *g = k->g;
    const int64_t B = SMALL_B;
    memcpy(g->labels, small_labels, sizeof small_labels);
    linear_forward(g, k->z, B, g->bn[0].xhat);
    bn_forward(g, &g->bn[0], g->bn[0].xhat, B, g->y0);
    conv_forward(g, &g->conv[0], g->y0, B, g->bn[1].xhat);
    bn_forward(g, &g->bn[1], g->bn[1].xhat, B, g->r1);
    leaky_relu_on_piece(g->r1, k->pos1, k->n1);
    conv_forward(g, &g->conv[1], g->r1, B, g->bn[2].xhat);
    bn_forward(g, &g->bn[2], g->bn[2].xhat, B, g->r2);
    leaky_relu_on_piece(g->r2, k->pos2, k->n2);
    conv_forward(g, &g->conv[2], g->r2, B, g->t);
    tanh_forward(g->t, k->n_out);
    bn_forward(g, &g->bn[3], g->t, B, k->out);
}

/* sum(out * R) in double, on the base point's piece. */
static double projected_loss(grad_check *k) {
    forward_on_piece(k);
    double loss = 0.0;
    for (int64_t i = 0; i < k->n_out; i++) loss += (double)k->out[i] * k->R[i];
    return loss;
}

/* Central difference of the loss in *x, eps 1e-2. */
static double numeric_grad(grad_check *k, float *x) {
    const float eps = 1e-2f, saved = *x;
    *x = saved + eps;
    const double up = projected_loss(k);
    *x = saved - eps;
    const double down = projected_loss(k);
    *x = saved;
    return (up - down) / (2.0 * (double)eps);
}

/* Worst errors of a group of checks, for the log. */
typedef struct grad_errors {
    double abs, rel;
    int checked;
} grad_errors;

/* Accepts |a - n| < 1e-3 or a relative error below 2e-2; records the errors (the relative
 * one only where the absolute one is not already small). */
static void compare(grad_errors *e, const char *what, int64_t index, double analytic, double numeric) {
    const double diff = fabs(analytic - numeric);
    const double scale = fmax(fabs(analytic), fabs(numeric));
    const double rel = scale > 0.0 ? diff / scale : 0.0;
    e->abs = fmax(e->abs, diff);
    if (diff >= 1e-3) e->rel = fmax(e->rel, rel);
    e->checked++;
    ck_assert_msg(diff < 1e-3 || rel < 2e-2, "%s[%lld]: analytic %.6g, numeric %.6g (rel %.3g)",
                  what, (long long)index, analytic, numeric, rel);
}

/* Indices to check in group gr: random ones, but for the CondBN tables only rows of
 * classes present in the batch (an absent class's row has no effect on the loss). */
static int64_t sample_index(const fdda_gen *g, int gr, test_rng *r) {
    for (int i = 0; i < 3; i++)
        if (gr == g->bn[i].gamma || gr == g->bn[i].beta) {
            const int32_t cls = small_labels[test_rng_int(r, 0, SMALL_B - 1)];
            return cls * g->bn[i].ch + test_rng_int(r, 0, g->bn[i].ch - 1);
        }
    return test_rng_int(r, 0, g->group[gr].count - 1);
}

static void print_errors(int32_t channels, const char *what, const grad_errors *e) {
    printf("  C=%d %-13s %2d checked, max abs err %.2e, max rel err (where abs >= 1e-3) %.2e\n",
           channels, what, e->checked, e->abs, e->rel);
}

#define SAMPLES_PER_GROUP 10

static void check_gradients(int32_t channels) {
    fdda_gen *g = small_gen(channels, 7);
    test_rng r = {0x5eed + (uint64_t)channels};
    perturb_affines(g, &r);
    const int64_t zd = g->cfg.z_dim;
    grad_check k = {.g = g, .n_out = out_count(g, SMALL_B),
                    .n1 = SMALL_B * conv_out_size(&g->conv[0]), .n2 = SMALL_B * conv_out_size(&g->conv[1])};
    float z[SMALL_B * 5], dz[SMALL_B * 5];
    k.z = z;
    k.R = malloc((size_t)k.n_out * sizeof *k.R);
    k.out = malloc((size_t)k.n_out * sizeof *k.out);
    k.pos1 = malloc((size_t)k.n1);
    k.pos2 = malloc((size_t)k.n2);
    float *base_out = malloc((size_t)k.n_out * sizeof *base_out);
    test_fill_uniform(&r, z, SMALL_B * zd, -2.0f, 2.0f);
    test_fill_uniform(&r, k.R, k.n_out, -1.0f, 1.0f);

    fdda_gen_zero_grad(g);
    fdda_gen_forward(g, z, small_labels, SMALL_B, base_out);
    record_signs(g->r1, k.pos1, k.n1);
    record_signs(g->r2, k.pos2, k.n2);
    fdda_gen_backward(g, k.R, dz);
    /* A copy: the differences below run forwards, which must not disturb the analytic. */
    float *analytic = malloc((size_t)g->n_params * sizeof *analytic);
    memcpy(analytic, g->grads, (size_t)g->n_params * sizeof *analytic);
    forward_on_piece(&k);
    ck_assert_msg(memcmp(k.out, base_out, (size_t)k.n_out * sizeof *k.out) == 0,
                  "the piecewise forward is not the forward at the base point");

    grad_errors all = {0};
    for (int gr = 0; gr < GEN_GROUP_COUNT; gr++) {
        grad_errors e = {0};
        for (int s = 0; s < SAMPLES_PER_GROUP; s++) {
            const int64_t i = sample_index(g, gr, &r);
            const double num = numeric_grad(&k, &g->params[g->group[gr].offset + i]);
            compare(&e, group_names[gr], i, analytic[g->group[gr].offset + i], num);
        }
        print_errors(channels, group_names[gr], &e);
        all.abs = fmax(all.abs, e.abs);
        all.rel = fmax(all.rel, e.rel);
        all.checked += e.checked;
    }
    grad_errors e = {0};
    for (int64_t i = 0; i < SMALL_B * zd; i++) compare(&e, "z", i, dz[i], numeric_grad(&k, &z[i]));
    print_errors(channels, "z", &e);
    printf("  C=%d overall: %d checked, max abs err %.2e, max rel err (where abs >= 1e-3) %.2e\n",
           channels, all.checked + e.checked, fmax(all.abs, e.abs), fmax(all.rel, e.rel));
    free(analytic);
    free(base_out);
    free(k.R);
    free(k.out);
    free(k.pos1);
    free(k.pos2);
    fdda_gen_free(g);
}

START_TEST(gradient_matches_differences_one_channel) { check_gradients(1); }
END_TEST

START_TEST(gradient_matches_differences_three_channels) { check_gradients(3); }
END_TEST

/* ---- a plain reference of the forward ------------------------------------------------ */

/* x [B, ch, plane] normalised per channel over (B, plane), biased variance; then the class
 * affine of gamma/beta [classes, ch] if given. */
static void ref_bn(double *x, int64_t B, int64_t ch, int64_t plane, double eps, const float *gamma,
                   const float *beta, const int32_t *labels) {
    for (int64_t c = 0; c < ch; c++) {
        double mean = 0.0, var = 0.0;
        for (int64_t s = 0; s < B; s++)
            for (int64_t p = 0; p < plane; p++) mean += x[(s * ch + c) * plane + p];
        mean /= (double)(B * plane);
        for (int64_t s = 0; s < B; s++)
            for (int64_t p = 0; p < plane; p++) {
                const double d = x[(s * ch + c) * plane + p] - mean;
                var += d * d;
            }
        var /= (double)(B * plane);
        for (int64_t s = 0; s < B; s++)
            for (int64_t p = 0; p < plane; p++) {
                double *v = &x[(s * ch + c) * plane + p];
                *v = (*v - mean) / sqrt(var + eps);
                if (gamma) *v = gamma[labels[s] * ch + c] * *v + beta[labels[s] * ch + c];
            }
    }
}

/* [B, ch, h, w] -> [B, ch, 2h, 2w], each pixel copied to its 2x2 block. */
static double *ref_upsample(const double *x, int64_t B, int64_t ch, int64_t h, int64_t w) {
    double *y = malloc((size_t)(B * ch * 4 * h * w) * sizeof *y);
    for (int64_t sc = 0; sc < B * ch; sc++)
        for (int64_t oy = 0; oy < 2 * h; oy++)
            for (int64_t ox = 0; ox < 2 * w; ox++)
                y[(sc * 2 * h + oy) * 2 * w + ox] = x[(sc * h + oy / 2) * w + ox / 2];
    return y;
}

/* Direct 3x3 convolution, pad 1: [B, cin, h, w] -> [B, cout, h, w]; weight [cout, cin, 3, 3]. */
static double *ref_conv(const double *x, int64_t B, int64_t cin, int64_t cout, int64_t h, int64_t w,
                        const float *weight, const float *bias) {
    double *y = malloc((size_t)(B * cout * h * w) * sizeof *y);
    for (int64_t s = 0; s < B; s++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oy = 0; oy < h; oy++)
                for (int64_t ox = 0; ox < w; ox++) {
                    double acc = bias[co];
                    for (int64_t ci = 0; ci < cin; ci++)
                        for (int64_t ky = 0; ky < 3; ky++)
                            for (int64_t kx = 0; kx < 3; kx++) {
                                const int64_t iy = oy + ky - 1, ix = ox + kx - 1;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                acc += weight[((co * cin + ci) * 3 + ky) * 3 + kx] *
                                       x[((s * cin + ci) * h + iy) * w + ix];
                            }
                    y[((s * cout + co) * h + oy) * w + ox] = acc;
                }
    return y;
}

static void ref_lrelu(double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0 ? x[i] : 0.2 * x[i];
}

/* The network of generator.h, step by step, in double, from g's parameters. */
static double *ref_forward(fdda_gen *g, const float *z, const int32_t *labels, int64_t B) {
    const int64_t F = g->cfg.base, F2 = F / 2, C = g->cfg.channels, zd = g->cfg.z_dim;
    const int64_t H = g->cfg.height, W = g->cfg.width, h0 = H / 4, w0 = W / 4, n0 = F * h0 * w0;
    double *a0 = malloc((size_t)(B * n0) * sizeof *a0);
    for (int64_t s = 0; s < B; s++)
        for (int64_t o = 0; o < n0; o++) {
            double acc = param(g, GEN_LIN_B)[o];
            for (int64_t k = 0; k < zd; k++) acc += param(g, GEN_LIN_W)[o * zd + k] * z[s * zd + k];
            a0[s * n0 + o] = acc;
        }
    ref_bn(a0, B, F, h0 * w0, 1e-5, param(g, GEN_BN0_GAMMA), param(g, GEN_BN0_BETA), labels);
    double *u0 = ref_upsample(a0, B, F, h0, w0);
    double *a1 = ref_conv(u0, B, F, F, 2 * h0, 2 * w0, param(g, GEN_CONV0_W), param(g, GEN_CONV0_B));
    ref_bn(a1, B, F, 4 * h0 * w0, 0.8, param(g, GEN_BN1_GAMMA), param(g, GEN_BN1_BETA), labels);
    ref_lrelu(a1, B * F * 4 * h0 * w0);
    double *u1 = ref_upsample(a1, B, F, 2 * h0, 2 * w0);
    double *a2 = ref_conv(u1, B, F, F2, H, W, param(g, GEN_CONV1_W), param(g, GEN_CONV1_B));
    ref_bn(a2, B, F2, H * W, 1e-5, param(g, GEN_BN2_GAMMA), param(g, GEN_BN2_BETA), labels);
    ref_lrelu(a2, B * F2 * H * W);
    double *a3 = ref_conv(a2, B, F2, C, H, W, param(g, GEN_CONV2_W), param(g, GEN_CONV2_B));
    for (int64_t i = 0; i < B * C * H * W; i++) a3[i] = tanh(a3[i]);
    ref_bn(a3, B, C, H * W, 1e-5, NULL, NULL, labels);
    free(a0);
    free(u0);
    free(a1);
    free(u1);
    free(a2);
    return a3;
}

static void check_forward(int32_t channels) {
    fdda_gen *g = small_gen(channels, 11);
    test_rng r = {0xf0 + (uint64_t)channels};
    perturb_affines(g, &r);
    float z[SMALL_B * 5];
    test_fill_uniform(&r, z, SMALL_B * 5, -2.0f, 2.0f);
    const int64_t n = out_count(g, SMALL_B);
    float *out = malloc((size_t)n * sizeof *out);
    fdda_gen_forward(g, z, small_labels, SMALL_B, out);
    double *ref = ref_forward(g, z, small_labels, SMALL_B);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(out[i] - ref[i]));
    printf("  C=%d forward vs double reference: max abs diff %.2e\n", channels, worst);
    ck_assert_msg(worst < 1e-4, "forward differs from the reference by %g", worst);
    free(ref);
    free(out);
    fdda_gen_free(g);
}

START_TEST(forward_matches_reference_one_channel) { check_forward(1); }
END_TEST

START_TEST(forward_matches_reference_three_channels) { check_forward(3); }
END_TEST

/* ---- gradient bookkeeping ------------------------------------------------------------ */

START_TEST(absent_class_rows_get_no_gradient) {
    fdda_gen *g = small_gen(3, 3);
    test_rng r = {99};
    const int64_t n = out_count(g, SMALL_B);
    float z[SMALL_B * 5], *R = malloc((size_t)n * sizeof *R), *out = malloc((size_t)n * sizeof *out);
    test_fill_uniform(&r, z, SMALL_B * 5, -2.0f, 2.0f);
    test_fill_uniform(&r, R, n, -1.0f, 1.0f);
    fdda_gen_zero_grad(g);
    fdda_gen_forward(g, z, small_labels, SMALL_B, out);
    fdda_gen_backward(g, R, NULL);  /* grad_z is optional */
    for (int i = 0; i < 3; i++) {
        const int64_t ch = g->bn[i].ch;
        const int groups[2] = {g->bn[i].gamma, g->bn[i].beta};
        for (int k = 0; k < 2; k++) {
            const float *gr = grad(g, groups[k]);
            double present = 0.0;
            for (int64_t c = 0; c < ch; c++) {
                ck_assert_msg(gr[1 * ch + c] == 0.0f, "%s: class 1 is absent but its row has %g",
                              group_names[groups[k]], gr[1 * ch + c]);
                present += fabs(gr[0 * ch + c]) + fabs(gr[2 * ch + c]);
            }
            ck_assert_msg(present > 0.0, "%s: the present classes got no gradient",
                          group_names[groups[k]]);
        }
    }
    free(R);
    free(out);
    fdda_gen_free(g);
}
END_TEST

START_TEST(backward_accumulates) {
    fdda_gen *g = small_gen(1, 5);
    test_rng r = {1234};
    const int64_t n = out_count(g, SMALL_B), np = fdda_gen_param_count(g);
    float z[SMALL_B * 5], *R = malloc((size_t)n * sizeof *R), *out = malloc((size_t)n * sizeof *out);
    test_fill_uniform(&r, z, SMALL_B * 5, -2.0f, 2.0f);
    test_fill_uniform(&r, R, n, -1.0f, 1.0f);
    fdda_gen_zero_grad(g);
    fdda_gen_forward(g, z, small_labels, SMALL_B, out);
    fdda_gen_backward(g, R, NULL);
    float *once = malloc((size_t)np * sizeof *once);
    memcpy(once, fdda_gen_grads(g), (size_t)np * sizeof *once);
    fdda_gen_backward(g, R, NULL);
    for (int64_t i = 0; i < np; i++)
        ck_assert_float_eq_tol(fdda_gen_grads(g)[i], 2.0f * once[i], 1e-5f + 1e-5f * fabsf(once[i]));
    fdda_gen_zero_grad(g);
    for (int64_t i = 0; i < np; i++) ck_assert_float_eq(fdda_gen_grads(g)[i], 0.0f);
    free(once);
    free(R);
    free(out);
    fdda_gen_free(g);
}
END_TEST

/* z 5, classes 3, C 1, 8 x 8, F 4 (h0 = w0 = 2): the parameter count by hand. */
START_TEST(parameter_count_and_bytes) {
    fdda_gen *g = small_gen(1, 1);
    const int64_t linear = 16 * 5 + 16, bn0 = 2 * 3 * 4, conv0 = 4 * 4 * 9 + 4, bn1 = 2 * 3 * 4;
    const int64_t conv1 = 2 * 4 * 9 + 2, bn2 = 2 * 3 * 2, conv2 = 1 * 2 * 9 + 1;
    ck_assert_int_eq(fdda_gen_param_count(g), linear + bn0 + conv0 + bn1 + conv1 + bn2 + conv2);
    ck_assert_uint_gt(fdda_gen_bytes(g), 2 * (size_t)fdda_gen_param_count(g) * sizeof(float));
    /* The defaults: gamma 1, beta 0, weights inside the PyTorch bound. */
    for (int64_t k = 0; k < g->group[GEN_BN1_GAMMA].count; k++) ck_assert_float_eq(param(g, GEN_BN1_GAMMA)[k], 1.0f);
    for (int64_t k = 0; k < g->group[GEN_BN1_BETA].count; k++) ck_assert_float_eq(param(g, GEN_BN1_BETA)[k], 0.0f);
    const float bound = 1.0f / sqrtf(4 * 9);
    for (int64_t k = 0; k < g->group[GEN_CONV0_W].count; k++)
        ck_assert(fabsf(param(g, GEN_CONV0_W)[k]) <= bound);
    fdda_gen_free(g);
}
END_TEST

/* ---- output statistics, seeds, configs ------------------------------------------------ */

START_TEST(output_is_normalised_per_channel) {
    const fdda_gen_config c = {.z_dim = 10, .classes = 4, .channels = 3, .height = 16, .width = 12,
                               .base = 8, .max_batch = 4, .seed = 42};
    fdda_gen *g = fdda_gen_new(&c, NULL, 0);
    ck_assert_ptr_nonnull(g);
    test_rng r = {77};
    const int64_t B = 4, plane = 16 * 12;
    float z[4 * 10], out[4 * 3 * 16 * 12];
    const int32_t labels[4] = {3, 1, 0, 1};
    test_fill_uniform(&r, z, B * 10, -2.0f, 2.0f);
    fdda_gen_forward(g, z, labels, B, out);
    for (int64_t ch = 0; ch < 3; ch++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t s = 0; s < B; s++)
            for (int64_t p = 0; p < plane; p++) sum += out[(s * 3 + ch) * plane + p];
        const double mean = sum / (double)(B * plane);
        for (int64_t s = 0; s < B; s++)
            for (int64_t p = 0; p < plane; p++) {
                const double d = out[(s * 3 + ch) * plane + p] - mean;
                sq += d * d;
            }
        const double var = sq / (double)(B * plane);
        ck_assert_msg(fabs(mean) < 1e-5, "channel %lld: mean %g", (long long)ch, mean);
        ck_assert_msg(fabs(var - 1.0) < 1e-2, "channel %lld: variance %g", (long long)ch, var);
    }
    fdda_gen_free(g);
}
END_TEST

START_TEST(seed_decides_parameters_and_output) {
    fdda_gen *a = small_gen(3, 2024), *b = small_gen(3, 2024), *c = small_gen(3, 2025);
    const int64_t np = fdda_gen_param_count(a), n = out_count(a, SMALL_B);
    ck_assert_int_eq(memcmp(fdda_gen_params(a), fdda_gen_params(b), (size_t)np * sizeof(float)), 0);
    ck_assert_int_ne(memcmp(fdda_gen_params(a), fdda_gen_params(c), (size_t)np * sizeof(float)), 0);
    test_rng r = {5};
    float z[SMALL_B * 5];
    test_fill_uniform(&r, z, SMALL_B * 5, -2.0f, 2.0f);
    float *oa = malloc((size_t)n * sizeof *oa), *ob = malloc((size_t)n * sizeof *ob),
          *oc = malloc((size_t)n * sizeof *oc);
    fdda_gen_forward(a, z, small_labels, SMALL_B, oa);
    fdda_gen_forward(b, z, small_labels, SMALL_B, ob);
    fdda_gen_forward(c, z, small_labels, SMALL_B, oc);
    ck_assert_int_eq(memcmp(oa, ob, (size_t)n * sizeof *oa), 0);
    ck_assert_int_ne(memcmp(oa, oc, (size_t)n * sizeof *oa), 0);
    free(oa);
    free(ob);
    free(oc);
    fdda_gen_free(a);
    fdda_gen_free(b);
    fdda_gen_free(c);
}
END_TEST

/* A batch of one runs (each BN normalises over the sample's own pixels) and stays finite. */
START_TEST(batch_of_one_runs) {
    fdda_gen *g = small_gen(1, 8);
    float z[5] = {0.5f, -1.0f, 0.25f, 2.0f, -0.75f}, out[64], grad_out[64], dz[5];
    const int32_t label = 1;
    for (int i = 0; i < 64; i++) grad_out[i] = (float)(i % 7) - 3.0f;
    fdda_gen_forward(g, z, &label, 1, out);
    fdda_gen_backward(g, grad_out, dz);
    for (int i = 0; i < 64; i++) ck_assert(isfinite(out[i]));
    for (int i = 0; i < 5; i++) ck_assert(isfinite(dz[i]));
    fdda_gen_free(g);
}
END_TEST

/* fdda_gen_new on cfg must fail with a message containing field. */
static void refused(fdda_gen_config cfg, const char *field) {
    char err[256] = "";
    fdda_gen *g = fdda_gen_new(&cfg, err, sizeof err);
    ck_assert_msg(g == NULL, "config with a bad %s accepted", field);
    ck_assert_msg(test_contains(err, field), "message \"%s\" does not name %s", err, field);
    ck_assert_ptr_null(fdda_gen_new(&cfg, NULL, 0));  /* no error buffer: still refused */
}

START_TEST(bad_configs_are_refused) {
    const fdda_gen_config ok = {.z_dim = 5, .classes = 3, .channels = 1, .height = 8, .width = 8,
                                .base = 4, .max_batch = 2, .seed = 1};
    fdda_gen_config c = ok;
    c.height = 30;
    refused(c, "height");
    c = ok;
    c.width = 10;
    refused(c, "width");
    c = ok;
    c.classes = 0;
    refused(c, "classes");
    c = ok;
    c.base = 5;
    refused(c, "base");
    c = ok;
    c.base = 0;
    refused(c, "base");
    c = ok;
    c.base = 1 << 14;
    c.height = c.width = 1 << 14;
    refused(c, "base * (height / 4) * (width / 4)");
    c = ok;
    c.z_dim = 0;
    refused(c, "z_dim");
    c = ok;
    c.channels = 0;
    refused(c, "channels");
    c = ok;
    c.max_batch = 0;
    refused(c, "max_batch");
    char err[8];
    ck_assert_ptr_null(fdda_gen_new(NULL, err, sizeof err));  /* truncated, not overrun */
    fdda_gen *g = fdda_gen_new(&ok, NULL, 0);
    ck_assert_ptr_nonnull(g);
    fdda_gen_free(g);
    fdda_gen_free(NULL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fdda.generator");
    TCase *t = tcase_create("gradient");
    tcase_add_test(t, gradient_matches_differences_one_channel);
    tcase_add_test(t, gradient_matches_differences_three_channels);
    tcase_add_test(t, absent_class_rows_get_no_gradient);
    tcase_add_test(t, backward_accumulates);
    suite_add_tcase(s, t);
    t = tcase_create("forward");
    tcase_add_test(t, forward_matches_reference_one_channel);
    tcase_add_test(t, forward_matches_reference_three_channels);
    tcase_add_test(t, output_is_normalised_per_channel);
    tcase_add_test(t, batch_of_one_runs);
    suite_add_tcase(s, t);
    t = tcase_create("config");
    tcase_add_test(t, parameter_count_and_bytes);
    tcase_add_test(t, seed_decides_parameters_and_output);
    tcase_add_test(t, bad_configs_are_refused);
    suite_add_tcase(s, t);
    return test_run_suite(s);
}
