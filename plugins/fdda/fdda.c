/* fdda.c — the fdda plugin: synthetic calibration images aligned to per-class BN
 * statistics (FDDA, Zhong et al., ECCV 2022; METHODS.md card 9), as a DATA pass.
 *
 *   1. every class's BN-statistic centres from the labelled real calibration images
 *      (teacher.c: the BN input's mean and variance, recovered from the folded layers);
 *   2. synthesis, each step a mixed batch (labels of every class: CE + the global BNS
 *      loss) and a pure batch of one class (CE + the centralised and distorted BNS losses
 *      on the deeper layers), by one of two generators:
 *        pixels   the images themselves are the parameters (Adam per image, each image
 *                 updated when a batch draws it) - no network to train, the default;
 *        network  the paper's class-conditional generator (generator.c) is trained, then
 *                 sampled;
 *   3. the synthetic images with their labels join the session's calibration set (append,
 *      the data-scarce setting: real + synthetic; or replace), so every later pass uses
 *      them unchanged, and are written to the output directory (fdda/images.npy,
 *      fdda/labels.npy: a calibration source; fdda/grid.png: samples per class).
 *
 * The paper then fine-tunes the quantized network by distillation on real + synthetic
 * images; here that role belongs to whichever reconstruction pass follows (BRECQ, QDrop,
 * NWQ, ...).  Choices where the card leaves room are in README.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <ptq/ptq_util.h>

#include "generator.h"
#include "imagefile.h"
#include "teacher.h"

#define FD_GEN_PIXELS 0
#define FD_GEN_NETWORK 1
#define FD_MODE_APPEND 0
#define FD_MODE_REPLACE 1

typedef struct fd_params {
    int32_t generator;
    int32_t mode;
    int64_t images_per_class;
    int64_t iterations;
    int64_t batch;
    double lr;                /* pixels: Adam on the pixels, cosine to 0 */
    double gen_lr;            /* network: Adam (0.5, 0.999), x0.1 at 25/50/75 % */
    double ce_weight, bns_weight, c_bns_weight, d_bns_weight;
    double noise_mean, noise_var;
    int32_t all_layers;
    int32_t clamp;
    int64_t z_dim, gen_width;
    int32_t save;
} fd_params;

/* Running sums of the loss parts over the first and the last 5 % of the steps. */
typedef struct fd_trace {
    teacher_loss first, last;
    int64_t n_first, n_last;
} fd_trace;

typedef struct fd_ctx {
    const ptq_host *h;
    ptq_session *s;
    const fd_params *p;
    teacher t;
    int64_t n;                /* synthetic images */
    float *images;            /* [n, sample], the normalized model input */
    int32_t *labels;          /* [n] */
    float *batch_img, *batch_grad; /* [batch, sample] */
    int32_t *batch_lab;
    int64_t *pick;            /* scratch: indices */
    float lo, hi;             /* the input's valid range (clamp) */
    fd_trace trace;
    double real_bns;          /* the real images' global BNS loss, weighted as the trace's */
} fd_ctx;

static void add_loss(teacher_loss *dst, const teacher_loss *l) {
    dst->ce += l->ce, dst->bns += l->bns, dst->c_bns += l->c_bns, dst->d_bns += l->d_bns;
}

/* (A step can be in both: a run of fewer than 20 steps.) */
static void trace_add(fd_trace *tr, const teacher_loss *l, int64_t t, int64_t total) {
    const int64_t edge = total / 20 > 0 ? total / 20 : 1;
    if (t < edge) add_loss(&tr->first, l), tr->n_first++;
    if (t >= total - edge) add_loss(&tr->last, l), tr->n_last++;
}

/* One teacher evaluation with its error check: a non-finite loss stops the pass naming
 * where (nothing has been handed to the session yet). */
static ptq_status eval_batch(fd_ctx *f, int64_t b, int32_t pure, int64_t t, float *grad,
                             teacher_loss *sum) {
    teacher_loss parts;
    const double loss = teacher_eval(&f->t, f->batch_img, f->batch_lab, b, pure, grad, &parts);
    if (!isfinite(loss))
        return f->h->error(f->s, PTQ_ERR_NUMERIC, "non-finite loss at iteration %lld (%s batch%s): "
                           "CE %g, BNS %g, C-BNS %g, D-BNS %g; try a lower learning rate",
                           (long long)t, pure < 0 ? "mixed" : "pure", pure < 0 ? "" : " of one class",
                           parts.ce, parts.bns, parts.c_bns, parts.d_bns);
    add_loss(sum, &parts);
    sum->correct += parts.correct;
    return PTQ_OK;
}

/* k distinct indices from [0, n) into out (a partial Fisher-Yates on the scratch). */
static void draw_distinct(fd_ctx *f, const int64_t *from, int64_t n, int64_t k, int64_t *out) {
    int64_t *idx = f->pick;
    memcpy(idx, from, (size_t)n * sizeof *idx);
    for (int64_t i = 0; i < k; i++) {
        const int64_t j = i + (int64_t)(f->h->rng_next(f->s) % (uint64_t)(n - i));
        const int64_t x = idx[i];
        idx[i] = idx[j], idx[j] = x;
        out[i] = idx[i];
    }
}

/* Adam (torch's semantics) on n floats with step t (1-based) and the given betas.  Not
 * the host's optim_*: the pixels need a step count per image (an image not drawn keeps
 * its bias correction) and the generator the paper's betas (0.5, 0.999). */
static void adam_update(float *p, const float *g, float *m, float *v, int64_t n, double lr,
                        double b1, double b2, int64_t t) {
    const double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    for (int64_t i = 0; i < n; i++) {
        m[i] = (float)(b1 * m[i] + (1.0 - b1) * g[i]);
        v[i] = (float)(b2 * v[i] + (1.0 - b2) * (double)g[i] * g[i]);
        p[i] -= (float)(lr * (m[i] / c1) / (sqrt(v[i] / c2) + 1e-8));
    }
}

static double cosine_lr(double lr, int64_t t, int64_t total) {
    return 0.5 * lr * (1.0 + cos(3.141592653589793 * (double)t / (double)total));
}

/* ---------------------------------------------------------------- pixels ---- */

/* The images are the parameters.  Each step draws a mixed batch from the whole set and a
 * pure batch from one class (classes in turn, reshuffled every round), and each drawn
 * image takes one Adam step of its own (per-image step counts for the bias correction),
 * clamped into the input's valid range so the result stays an image. */
static ptq_status synth_pixels(fd_ctx *f) {
    const ptq_host *h = f->h;
    const fd_params *p = f->p;
    const int64_t S = f->t.sample, K = f->t.classes, per = p->images_per_class;
    float *m = h->alloc((size_t)(f->n * S) * sizeof(float));
    float *v = h->alloc((size_t)(f->n * S) * sizeof(float));
    int64_t *steps = h->alloc((size_t)f->n * sizeof *steps);
    int64_t *all = h->alloc((size_t)f->n * sizeof *all), *drawn = h->alloc((size_t)f->n * sizeof *drawn);
    int64_t *order = h->alloc((size_t)K * sizeof *order);
    ptq_status st = m && v && steps && all && drawn && order ? PTQ_OK : h->error(f->s, PTQ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < f->n; i++) all[i] = i;
    for (int64_t i = 0; i < f->n * S; i++) {
        const float x = (float)teacher_normal(h, f->s);
        f->images[i] = p->clamp ? fminf(fmaxf(x, f->lo), f->hi) : x;
    }
    for (int64_t t = 0; !st && t < p->iterations; t++) {
        const double lr = cosine_lr(p->lr, t, p->iterations);
        if (t % K == 0) draw_distinct(f, all, K, K, order); /* a new order of the classes */
        teacher_loss sum = {0};
        for (int32_t kind = 0; !st && kind < 2; kind++) {
            /* kind 0: mixed over every image; 1: pure, the images of one class (stored
             * contiguously: class c holds [c * per, (c + 1) * per)). */
            const int32_t pure = kind ? (int32_t)order[t % K] : -1;
            const int64_t pool = kind ? per : f->n, b = p->batch < pool ? p->batch : pool;
            draw_distinct(f, kind ? all + pure * per : all, pool, b, drawn);
            for (int64_t i = 0; i < b; i++) {
                memcpy(f->batch_img + i * S, f->images + drawn[i] * S, (size_t)S * sizeof(float));
                f->batch_lab[i] = f->labels[drawn[i]];
            }
            if ((st = eval_batch(f, b, pure, t, f->batch_grad, &sum))) break;
            for (int64_t i = 0; i < b; i++) {
                const int64_t at = drawn[i] * S;
                adam_update(f->images + at, f->batch_grad + i * S, m + at, v + at, S, lr, 0.9,
                            0.999, ++steps[drawn[i]]);
                for (int64_t e = 0; p->clamp && e < S; e++)
                    f->images[at + e] = fminf(fmaxf(f->images[at + e], f->lo), f->hi);
            }
        }
        trace_add(&f->trace, &sum, t, p->iterations);
        h->progress(f->s, "synthesizing", t + 1, p->iterations);
    }
    h->free(m), h->free(v), h->free(steps), h->free(all), h->free(drawn), h->free(order);
    return st;
}

/* --------------------------------------------------------------- network ---- */

/* The paper's generator step: a mixed batch (random labels) and a pure batch of one
 * class, both generated from fresh noise; their gradients accumulate in the generator,
 * which then takes one Adam step (betas 0.5, 0.999; the rate x0.1 at 25, 50, 75 % of the
 * run, the paper's epochs 100/200/300 of 400). */
static ptq_status train_generator(fd_ctx *f, fdda_gen *g, float *z) {
    const ptq_host *h = f->h;
    const fd_params *p = f->p;
    const int64_t K = f->t.classes, np = fdda_gen_param_count(g), b = p->batch;
    float *m = h->alloc((size_t)np * sizeof(float)), *v = h->alloc((size_t)np * sizeof(float));
    if (!m || !v) {
        h->free(m), h->free(v);
        return h->error(f->s, PTQ_ERR_NOMEM, "out of memory");
    }
    ptq_status st = PTQ_OK;
    for (int64_t t = 0; !st && t < p->iterations; t++) {
        fdda_gen_zero_grad(g);
        teacher_loss sum = {0};
        const int32_t c = (int32_t)(h->rng_next(f->s) % (uint64_t)K);
        for (int32_t kind = 0; !st && kind < 2; kind++) {
            for (int64_t i = 0; i < b * p->z_dim; i++) z[i] = (float)teacher_normal(h, f->s);
            for (int64_t i = 0; i < b; i++)
                f->batch_lab[i] = kind ? c : (int32_t)(h->rng_next(f->s) % (uint64_t)K);
            fdda_gen_forward(g, z, f->batch_lab, b, f->batch_img);
            if ((st = eval_batch(f, b, kind ? c : -1, t, f->batch_grad, &sum))) break;
            fdda_gen_backward(g, f->batch_grad, NULL);
        }
        const int64_t quarter = 4 * t / p->iterations;
        adam_update(fdda_gen_params(g), fdda_gen_grads(g), m, v, np,
                    p->gen_lr * pow(0.1, (double)quarter), 0.5, 0.999, t + 1);
        trace_add(&f->trace, &sum, t, p->iterations);
        h->progress(f->s, "training the generator", t + 1, p->iterations);
    }
    h->free(m), h->free(v);
    return st;
}

/* Samples the set from the trained generator: full batches of shuffled labels (its BNs
 * use the batch's statistics, so batches look like the training's mixed ones), each
 * image stored in its label's slot (the set stays sorted by class), the labels of the
 * last batch padded with random ones whose images are dropped. */
static ptq_status sample_generator(fd_ctx *f, fdda_gen *g, float *z) {
    const ptq_host *h = f->h;
    const int64_t S = f->t.sample, b = f->p->batch, K = f->t.classes;
    int64_t *order = h->alloc((size_t)f->n * sizeof *order), *all = h->alloc((size_t)f->n * sizeof *all);
    if (!order || !all) {
        h->free(order), h->free(all);
        return h->error(f->s, PTQ_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < f->n; i++) all[i] = i;
    draw_distinct(f, all, f->n, f->n, order);
    for (int64_t at = 0; at < f->n; at += b) {
        const int64_t k = f->n - at < b ? f->n - at : b;
        for (int64_t i = 0; i < b; i++)
            f->batch_lab[i] = i < k ? f->labels[order[at + i]] : (int32_t)(h->rng_next(f->s) % (uint64_t)K);
        for (int64_t i = 0; i < b * f->p->z_dim; i++) z[i] = (float)teacher_normal(h, f->s);
        fdda_gen_forward(g, z, f->batch_lab, b, f->batch_img);
        for (int64_t i = 0; i < k; i++)
            memcpy(f->images + order[at + i] * S, f->batch_img + i * S, (size_t)S * sizeof(float));
    }
    h->free(order), h->free(all);
    return PTQ_OK;
}

static ptq_status synth_network(fd_ctx *f) {
    const ptq_host *h = f->h;
    const fd_params *p = f->p;
    char why[256] = "";
    const fdda_gen_config gc = {(int32_t)p->z_dim, (int32_t)f->t.classes, (int32_t)f->t.channels,
                                (int32_t)f->t.height, (int32_t)f->t.width, (int32_t)p->gen_width,
                                p->batch, h->rng_next(f->s)};
    fdda_gen *g = fdda_gen_new(&gc, why, sizeof why);
    if (!g)
        return h->error(f->s, PTQ_ERR_UNSUPPORTED, "generator: network cannot be built for this "
                        "model (input %lld x %lld x %lld): %s; 'generator: pixels' works for any "
                        "input", (long long)f->t.channels, (long long)f->t.height,
                        (long long)f->t.width, why[0] ? why : "out of memory");
    float *z = h->alloc((size_t)(p->batch * p->z_dim) * sizeof(float));
    ptq_status st = z ? train_generator(f, g, z) : h->error(f->s, PTQ_ERR_NOMEM, "out of memory");
    if (!st) st = sample_generator(f, g, z);
    h->log(f->s, PTQ_LOG_INFO, "generator: %lld parameters, %.1f MB", (long long)fdda_gen_param_count(g),
           (double)fdda_gen_bytes(g) / 1e6);
    h->free(z);
    fdda_gen_free(g);
    return st;
}

/* ----------------------------------------------------------------- output ---- */

/* The weighted global BNS loss of the real calibration images in batches like the
 * mixed ones: the yardstick for the synthetic images' (report and log). */
static double real_bns(fd_ctx *f) {
    ptq_tensor_view real = {.struct_size = sizeof real};
    const int32_t *labels = NULL;
    if (f->h->calib_view(f->s, &real, &labels)) return NAN;
    const int64_t S = f->t.sample, b = f->t.max_batch, n = real.ne[0];
    double sum = 0.0;
    int64_t batches = 0;
    for (int64_t at = 0; at + 2 <= n; at += b, batches++) {
        const int64_t k = n - at < b ? n - at : b;
        memcpy(f->batch_img, (const float *)real.data + at * S, (size_t)(k * S) * sizeof(float));
        teacher_loss parts;
        teacher_eval(&f->t, f->batch_img, labels + at, k, -1, NULL, &parts);
        sum += parts.bns;
    }
    return batches ? sum / (double)batches : NAN;
}

/* The teacher's top-1 on each class's synthetic images, for the report. */
static ptq_status synthetic_accuracy(fd_ctx *f, int64_t *right) {
    const int64_t S = f->t.sample, b = f->t.max_batch;
    for (int64_t at = 0; at < f->n; at += b) {
        const int64_t k = f->n - at < b ? f->n - at : b;
        memcpy(f->batch_img, f->images + at * S, (size_t)(k * S) * sizeof(float));
        teacher_loss parts;
        if (!isfinite(teacher_eval(&f->t, f->batch_img, f->labels + at, k, -1, NULL, &parts)))
            return f->h->error(f->s, PTQ_ERR_NUMERIC, "the synthetic images give non-finite "
                               "teacher outputs");
        const float *zl = f->h->grad_run_value(f->t.run, f->t.logits);
        for (int64_t i = 0; i < k; i++)
            right[f->labels[at + i]] += bns_argmax(zl + i * f->t.classes, f->t.classes) == f->labels[at + i];
    }
    return PTQ_OK;
}

/* n images (normalized model input) as pixels, the pipeline's normalization undone. */
static ptq_status to_pixels(fd_ctx *f, const float *images, int64_t n, float *out) {
    const int64_t C = f->t.channels, plane = f->t.height * f->t.width;
    float mean[64], std[64];
    if (C > 64) return f->h->error(f->s, PTQ_ERR_UNSUPPORTED, "more than 64 input channels");
    ptq_status st = f->h->calib_normalization(f->s, (int32_t)C, mean, std);
    if (st) return st;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t e = 0; e < plane; e++) {
                const int64_t at = (i * C + c) * plane + e;
                out[at] = images[at] * std[c] + mean[c];
            }
    return PTQ_OK;
}

/* A contact sheet: one row of up to 10 samples per class, 1-pixel gaps; grey for one
 * channel, RGB for three, the first channel otherwise. */
static int write_grid(fd_ctx *f, const float *pixels, const char *path) {
    const int64_t K = f->t.classes, H = f->t.height, W = f->t.width, C = f->t.channels;
    const int64_t cols = f->p->images_per_class < 10 ? f->p->images_per_class : 10;
    const int32_t ch = C == 3 ? 3 : 1;
    const int64_t gw = cols * (W + 1) + 1, gh = K * (H + 1) + 1;
    uint8_t *img = f->h->alloc((size_t)(gw * gh * ch));
    if (!img) {
        errno = ENOMEM;
        return -1;
    }
    memset(img, 255, (size_t)(gw * gh * ch));
    for (int64_t c = 0; c < K; c++)
        for (int64_t j = 0; j < cols; j++) {
            const float *src = pixels + (c * f->p->images_per_class + j) * C * H * W;
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++)
                    for (int32_t k = 0; k < ch; k++) {
                        const float v = src[(k * H + y) * W + x] * 255.0f;
                        const int64_t at = ((c * (H + 1) + 1 + y) * gw + j * (W + 1) + 1 + x) * ch + k;
                        img[at] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v + 0.5f);
                    }
        }
    const int rc = png_write(path, img, (int32_t)gw, (int32_t)gh, ch);
    f->h->free(img);
    return rc;
}

/* The calibration set the pass hands on: the real images first (append) and the
 * synthetic ones, with their labels (host->alloc'd). */
static ptq_status combined_set(fd_ctx *f, float **img, int32_t **lab, int64_t *total) {
    const ptq_host *h = f->h;
    ptq_tensor_view real = {.struct_size = sizeof real};
    const int32_t *real_labels = NULL;
    ptq_status st = h->calib_view(f->s, &real, &real_labels);
    if (st) return st;
    const int64_t S = f->t.sample, nr = f->p->mode == FD_MODE_APPEND ? real.ne[0] : 0;
    *total = nr + f->n;
    *img = h->alloc((size_t)(*total * S) * sizeof(float));
    *lab = h->alloc((size_t)*total * sizeof **lab);
    if (!*img || !*lab) {
        h->free(*img), h->free(*lab);
        *img = NULL, *lab = NULL;
        return h->error(f->s, PTQ_ERR_NOMEM, "out of memory");
    }
    memcpy(*img, real.data, (size_t)(nr * S) * sizeof(float));
    memcpy(*lab, real_labels, (size_t)nr * sizeof **lab);
    memcpy(*img + nr * S, f->images, (size_t)(f->n * S) * sizeof(float));
    memcpy(*lab + nr, f->labels, (size_t)f->n * sizeof **lab);
    return PTQ_OK;
}

/* NAME.npy / LABELS.npy: n images as pixels (the pipeline's normalization undone, so a
 * calibration section with the same normalization reads them back as they were). */
static ptq_status save_npy(fd_ctx *f, const float *images, const int32_t *labels, int64_t n,
                           const char *img_name, const char *lab_name, float *pixels) {
    const ptq_host *h = f->h;
    int64_t *lab64 = h->alloc((size_t)n * sizeof *lab64);
    if (!lab64) return h->error(f->s, PTQ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) lab64[i] = labels[i];
    ptq_status st = to_pixels(f, images, n, pixels);
    const int64_t shape[4] = {n, f->t.channels, f->t.height, f->t.width};
    for (int32_t k = 0; !st && k < 2; k++) {
        char path[4096];
        if ((st = h->output_path(f->s, k ? lab_name : img_name, path, sizeof path))) break;
        if (k ? npy_write_i64(path, lab64, shape, 1) : npy_write_f32(path, pixels, shape, 4))
            st = h->error(f->s, PTQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    h->free(lab64);
    return st;
}

/* fdda/calibration.npy + calibration_labels.npy (what later passes calibrate on: real +
 * synthetic when appending), fdda/images.npy + labels.npy (the synthetic set) and
 * fdda/grid.png (from the synthetic pixels save_npy left in the buffer). */
static ptq_status save_set(fd_ctx *f, const float *all, const int32_t *all_labels, int64_t total) {
    const ptq_host *h = f->h;
    float *pixels = h->alloc((size_t)(total * f->t.sample) * sizeof(float));
    if (!pixels) return h->error(f->s, PTQ_ERR_NOMEM, "out of memory");
    ptq_status st = save_npy(f, all, all_labels, total, "fdda/calibration.npy",
                             "fdda/calibration_labels.npy", pixels);
    if (!st) st = save_npy(f, f->images, f->labels, f->n, "fdda/images.npy", "fdda/labels.npy", pixels);
    char path[4096];
    if (!st) st = h->output_path(f->s, "fdda/grid.png", path, sizeof path);
    if (!st && write_grid(f, pixels, path))
        st = h->error(f->s, PTQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    h->free(pixels);
    return st;
}

static void report(fd_ctx *f, const int64_t *syn_right, double seconds) {
    const ptq_host *h = f->h;
    static const char *const cls_cols[] = {"real_images", "real_top1", "synthetic_images",
                                           "synthetic_top1"};
    for (int64_t c = 0; c < f->t.classes; c++) {
        char name[32];
        snprintf(name, sizeof name, "class %lld", (long long)c);
        const double per = (double)f->p->images_per_class;
        const double v[4] = {(double)f->t.real_count[c],
                             100.0 * (double)f->t.real_correct[c] / (double)f->t.real_count[c], per,
                             100.0 * (double)syn_right[c] / per};
        h->report_row(f->s, "classes", name, cls_cols, v, 4);
    }
    static const char *const loss_cols[] = {"ce", "bns", "c_bns", "d_bns"};
    const fd_trace *tr = &f->trace;
    for (int32_t k = 0; k < 2; k++) {
        const teacher_loss *l = k ? &tr->last : &tr->first;
        const double n = (double)(k ? tr->n_last : tr->n_first);
        const double v[4] = {l->ce / n, l->bns / n, l->c_bns / n, l->d_bns / n};
        h->report_row(f->s, "losses", k ? "last 5 % of steps" : "first 5 % of steps", loss_cols, v, 4);
    }
    static const char *const syn_cols[] = {"images", "seconds", "images_per_second", "bn_layers",
                                           "deep_from", "real_bns"};
    const double v[6] = {(double)f->n, seconds, (double)f->n / seconds, f->t.n_layers,
                         f->t.deep_start, f->real_bns};
    h->report_row(f->s, "synthesis", f->p->generator == FD_GEN_NETWORK ? "network" : "pixels",
                  syn_cols, v, 6);
}

static void fd_free(fd_ctx *f) {
    const ptq_host *h = f->h;
    teacher_free(&f->t);
    h->free(f->images), h->free(f->labels), h->free(f->batch_img), h->free(f->batch_grad);
    h->free(f->batch_lab), h->free(f->pick);
}

static ptq_status fd_synthesize(const ptq_host *h, ptq_session *s, const void *params) {
    const fd_params *p = params;
    fd_ctx f = {.h = h, .s = s, .p = p};
    const double t0 = ptq_util_seconds();
    const teacher_weights w = {p->ce_weight, p->bns_weight, p->c_bns_weight, p->d_bns_weight,
                               p->noise_mean, p->noise_var, p->all_layers};
    ptq_status st = teacher_init(&f.t, h, s, p->batch, &w);
    if (!st) st = h->input_range(s, f.t.input, &f.lo, &f.hi);
    if (!st) {
        const int64_t K = f.t.classes, S = f.t.sample;
        f.n = K * p->images_per_class;
        f.images = h->alloc((size_t)(f.n * S) * sizeof(float));
        f.labels = h->alloc((size_t)f.n * sizeof *f.labels);
        f.batch_img = h->alloc((size_t)(p->batch * S) * sizeof(float));
        f.batch_grad = h->alloc((size_t)(p->batch * S) * sizeof(float));
        f.batch_lab = h->alloc((size_t)p->batch * sizeof *f.batch_lab);
        f.pick = h->alloc((size_t)(f.n > K ? f.n : K) * sizeof *f.pick);
        if (!f.images || !f.labels || !f.batch_img || !f.batch_grad || !f.batch_lab || !f.pick)
            st = h->error(s, PTQ_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; !st && i < f.n; i++) f.labels[i] = (int32_t)(i / p->images_per_class);
        if (!st)
            h->log(s, PTQ_LOG_INFO, "%d BN layers (class-centre losses from layer %d on), %lld "
                   "classes, %lld synthetic images by %s, %lld steps", f.t.n_layers, f.t.deep_start,
                   (long long)K, (long long)f.n, p->generator == FD_GEN_NETWORK ? "a generator network"
                   : "pixel optimisation", (long long)p->iterations);
    }
    if (!st) st = p->generator == FD_GEN_NETWORK ? synth_network(&f) : synth_pixels(&f);
    int64_t *right = st ? NULL : h->alloc((size_t)f.t.classes * sizeof *right);
    if (!st && !right) st = h->error(s, PTQ_ERR_NOMEM, "out of memory");
    if (!st) st = synthetic_accuracy(&f, right);
    if (!st) f.real_bns = real_bns(&f);
    const double seconds = ptq_util_seconds() - t0;
    float *all = NULL;
    int32_t *all_labels = NULL;
    int64_t total = 0;
    if (!st) st = combined_set(&f, &all, &all_labels, &total);
    if (!st && p->save) st = save_set(&f, all, all_labels, total);
    if (!st) {
        report(&f, right, seconds);
        int64_t r = 0, real_right = 0, real_n = 0;
        for (int64_t c = 0; c < f.t.classes; c++)
            r += right[c], real_right += f.t.real_correct[c], real_n += f.t.real_count[c];
        h->log(s, PTQ_LOG_INFO, "%lld images in %.1f s (%.1f / s); the float model calls %.1f %% "
               "of them their class (%.1f %% of the %lld real ones); CE %.3f -> %.3f, BNS %.4f -> "
               "%.4f (real images: %.4f)", (long long)f.n, seconds, (double)f.n / seconds, 100.0 * (double)r / (double)f.n,
               100.0 * (double)real_right / (double)real_n, (long long)real_n,
               f.trace.first.ce / (double)f.trace.n_first, f.trace.last.ce / (double)f.trace.n_last,
               f.trace.first.bns / (double)f.trace.n_first, f.trace.last.bns / (double)f.trace.n_last,
               f.real_bns);
        /* Last, once nothing can fail any more: the session's calibration set. */
        ptq_tensor_view view = {.struct_size = sizeof view, .dtype = PTQ_DTYPE_F32, .ndim = 4,
                                .ne = {total, f.t.channels, f.t.height, f.t.width}, .data = all};
        st = h->calib_replace(s, &view, all_labels);
    }
    h->free(all), h->free(all_labels);
    h->free(right);
    fd_free(&f);
    return st;
}

/* ------------------------------------------------------------- the plugin ---- */

static const char *const generators[] = {"pixels", "network", NULL};
static const char *const modes[] = {"append", "replace", NULL};

#define P(field) offsetof(fd_params, field)
static const ptq_param_def fd_param_defs[] = {
    {"generator", PTQ_PARAM_ENUM, 0, P(generator), 0, 0, FD_GEN_PIXELS, NULL, generators,
     "pixels: optimise the images directly; network: train the paper's class-conditional "
     "generator and sample it"},
    {"mode", PTQ_PARAM_ENUM, 0, P(mode), 0, 0, FD_MODE_APPEND, NULL, modes,
     "append: calibrate on real + synthetic images (the data-scarce setting); replace: on the "
     "synthetic ones alone"},
    {"images_per_class", PTQ_PARAM_INT, 0, P(images_per_class), 1, 100000, 64, NULL, NULL,
     "synthetic images of every class"},
    {"iterations", PTQ_PARAM_INT, 0, P(iterations), 1, 10000000, 2000, NULL, NULL,
     "optimisation steps, each a mixed and a pure batch"},
    {"batch", PTQ_PARAM_INT, 0, P(batch), 2, 4096, 16, NULL, NULL,
     "images per batch (the paper's 16)"},
    {"lr", PTQ_PARAM_FLOAT, 0, P(lr), 0, 100, 0.05, NULL, NULL,
     "pixels: Adam learning rate on the normalized pixels, cosine to 0"},
    {"gen_lr", PTQ_PARAM_FLOAT, 0, P(gen_lr), 0, 10, 1e-3, NULL, NULL,
     "network: the generator's Adam learning rate (betas 0.5, 0.999; x0.1 at 25, 50, 75 %)"},
    {"ce_weight", PTQ_PARAM_FLOAT, 0, P(ce_weight), 0, 1e6, 0.5, NULL, NULL,
     "cross-entropy of the teacher on the synthetic label"},
    {"bns_weight", PTQ_PARAM_FLOAT, 0, P(bns_weight), 0, 1e6, 0.2, NULL, NULL,
     "global BNS loss: a mixed batch's BN statistics against the running ones"},
    {"c_bns_weight", PTQ_PARAM_FLOAT, 0, P(c_bns_weight), 0, 1e6, 0.01, NULL, NULL,
     "BNS-centralised loss: a pure batch's statistics against its class's centre"},
    {"d_bns_weight", PTQ_PARAM_FLOAT, 0, P(d_bns_weight), 0, 1e6, 0.9, NULL, NULL,
     "BNS-distorted loss: against the centre plus fresh Gaussian noise"},
    {"noise_mean", PTQ_PARAM_FLOAT, 0, P(noise_mean), 0, 1e3, 0.5, NULL, NULL,
     "D-BNS: std of the noise on the centres' means"},
    {"noise_var", PTQ_PARAM_FLOAT, 0, P(noise_var), 0, 1e3, 1.0, NULL, NULL,
     "D-BNS: std of the noise on the centres' variances"},
    {"all_layers", PTQ_PARAM_BOOL, 0, P(all_layers), 0, 1, 0, NULL, NULL,
     "class-centre losses on every BN layer (default: the deeper ones, from floor((L+1)/2)-2)"},
    {"clamp", PTQ_PARAM_BOOL, 0, P(clamp), 0, 1, 1, NULL, NULL,
     "pixels: keep every pixel in the input's valid range (0..1 before normalization)"},
    {"z_dim", PTQ_PARAM_INT, 0, P(z_dim), 1, 4096, 100, NULL, NULL, "network: noise dimensions"},
    {"gen_width", PTQ_PARAM_INT, 0, P(gen_width), 2, 1024, 128, NULL, NULL,
     "network: channels of the generator's first layers (the paper's 128; even)"},
    {"save", PTQ_PARAM_BOOL, 0, P(save), 0, 1, 1, NULL, NULL,
     "write fdda/images.npy, fdda/labels.npy and fdda/grid.png into the output directory"},
    {0},
};
#undef P

static const char *const fd_reads[] = {"graph.bn_folded", "calib.data", "calib.labels", NULL};
static const char *const fd_writes[] = {"calib.data", "calib.labels", NULL};
/* Ranges observed on the old calibration set no longer describe the new one. */
static const char *const fd_invalidates[] = {"quant.activations", NULL};

static const ptq_pass_def synthesize_pass = {
    sizeof(ptq_pass_def), "fdda.synthesize",
    "labelled synthetic calibration images aligned to every class's BN statistics (FDDA)",
    fd_param_defs, sizeof(fd_params), fd_reads, NULL, fd_writes, fd_synthesize, fd_invalidates,
};

static const ptq_pass_def *const passes[] = {&synthesize_pass, NULL};

static ptq_status fd_init(const ptq_host *h) {
    if (!PTQ_HOST_HAS(h, output_path))
        return h->error(NULL, PTQ_ERR_UNSUPPORTED, "fdda needs a host with SDK 0.8 or later "
                        "(this one is %u.%u)", h->abi.major, h->abi.minor);
    return PTQ_OK;
}

static const ptq_plugin_desc desc = {
    PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT, "fdda", "0.1.0",
    "FDDA: synthetic calibration data aligned to per-class BN statistics",
    fd_init, NULL, passes,
};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
