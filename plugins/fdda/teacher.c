/* teacher.c — FDDA's teacher: class centres and the synthetic batches' losses (teacher.h). */
#include "teacher.h"

#include <math.h>
#include <string.h>

#include <ptq/ptq_util.h>

double teacher_normal(const ptq_host *h, ptq_session *s) {
    /* 53-bit uniforms in (0, 1]: log never sees 0. */
    const double u1 = ((double)(h->rng_next(s) >> 11) + 1.0) / 9007199254740992.0;
    const double u2 = (double)(h->rng_next(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void teacher_free(teacher *t) {
    if (!t->h) return;
    const ptq_host *h = t->h;
    for (int32_t l = 0; l < t->n_layers; l++) {
        if (t->centre_mean) h->free(t->centre_mean[l]);
        if (t->centre_var) h->free(t->centre_var[l]);
    }
    h->free(t->centre_mean);
    h->free(t->centre_var);
    h->free(t->real_count);
    h->free(t->real_correct);
    h->free(t->noisy_mean);
    h->free(t->noisy_var);
    if (t->run) h->grad_run_free(t->run);
    bns_layers_free(h, t->layers, t->n_layers);
    memset(t, 0, sizeof *t);
}

/* The model's one graph output, which must be [N, classes] scores. */
static ptq_status find_logits(teacher *t) {
    const ptq_host *h = t->h;
    ptq_session *s = t->s;
    int32_t found = -1, count = 0;
    for (int32_t v = 0; v < h->value_count(s); v++) {
        if (h->value_producer(s, v) < 0 || h->value_readers(s, v, NULL, 0) > 0) continue;
        found = v, count++;
    }
    ptq_tensor_view view = {.struct_size = sizeof view};
    if (count != 1 || h->value_view(s, found, &view) || view.ndim != 2 || view.ne[1] < 2)
        return h->error(s, PTQ_ERR_UNSUPPORTED, "FDDA needs a classifier: one graph output of "
                        "class scores [N, classes]%s", count == 1 ? ", and this output is not" : "");
    t->logits = found;
    t->classes = view.ne[1];
    return PTQ_OK;
}

/* Every class's centre at every layer: the BN-input mean and variance over all of the
 * class's real images (pooled over images and positions: with one image per class that
 * is the paper's per-image statistics), through the plain forward executor. */
static ptq_status class_centres(teacher *t, const float *images, const int32_t *labels, int64_t n) {
    const ptq_host *h = t->h;
    ptq_session *s = t->s;
    const int64_t K = t->classes, batch = t->max_batch;
    int32_t *keep = h->alloc((size_t)(t->n_layers + 1) * sizeof *keep);
    float *buf = h->alloc((size_t)(batch * t->sample) * sizeof(float));
    int64_t *rows = h->alloc((size_t)n * sizeof *rows);
    double **sum = h->alloc((size_t)t->n_layers * sizeof *sum);
    double **sum2 = h->alloc((size_t)t->n_layers * sizeof *sum2);
    ptq_status st = keep && buf && rows && sum && sum2 ? PTQ_OK : h->error(s, PTQ_ERR_NOMEM, "out of memory");
    for (int32_t l = 0; !st && l < t->n_layers; l++) {
        keep[l] = t->layers[l].value;
        sum[l] = h->alloc((size_t)t->layers[l].channels * sizeof(double));
        sum2[l] = h->alloc((size_t)t->layers[l].channels * sizeof(double));
        if (!sum[l] || !sum2[l]) st = h->error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    ptq_run *run = st ? NULL : h->run_new(s, PTQ_MODEL_FLOAT, NULL, 0, keep, t->n_layers, batch);
    if (!st && !run) st = PTQ_ERR_INVALID;
    for (int64_t c = 0; !st && c < K; c++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (labels[i] == c) rows[m++] = i;
        t->real_count[c] = m;
        for (int32_t l = 0; l < t->n_layers; l++) {
            memset(sum[l], 0, (size_t)t->layers[l].channels * sizeof(double));
            memset(sum2[l], 0, (size_t)t->layers[l].channels * sizeof(double));
        }
        for (int64_t at = 0; !st && at < m; at += batch) {
            const int64_t b = m - at < batch ? m - at : batch;
            for (int64_t i = 0; i < b; i++)
                memcpy(buf + i * t->sample, images + rows[at + i] * t->sample, (size_t)t->sample * sizeof(float));
            if ((st = h->run_bind(run, t->input, buf)) || (st = h->run_exec(run, b))) break;
            for (int32_t l = 0; l < t->n_layers; l++)
                bns_accumulate(&t->layers[l], h->run_data(run, t->layers[l].value), b, sum[l], sum2[l]);
            const float *z = h->run_data(run, t->logits);
            for (int64_t i = 0; i < b; i++) t->real_correct[c] += bns_argmax(z + i * K, K) == c;
        }
        for (int32_t l = 0; !st && l < t->n_layers && m > 0; l++) {
            const bns_layer *L = &t->layers[l];
            bns_moments(L, sum[l], sum2[l], (double)m * (double)L->spatial,
                        t->centre_mean[l] + c * L->channels, t->centre_var[l] + c * L->channels);
        }
    }
    if (run) h->run_free(run);
    for (int32_t l = 0; sum && sum2 && l < t->n_layers; l++) h->free(sum[l]), h->free(sum2[l]);
    h->free(sum), h->free(sum2), h->free(rows), h->free(buf), h->free(keep);
    return st;
}

ptq_status teacher_init(teacher *t, const ptq_host *h, ptq_session *s, int64_t max_batch,
                        const teacher_weights *w) {
    memset(t, 0, sizeof *t);
    t->h = h;
    t->s = s;
    t->w = *w;
    t->max_batch = max_batch;
    ptq_status st = bns_layers_find(h, s, &t->layers, &t->n_layers);
    if (st) return st;
    if (t->n_layers == 0)
        return h->error(s, PTQ_ERR_UNSUPPORTED, "the model has no batch normalization statistics "
                        "(no BatchNormalization was folded into a layer): FDDA aligns synthetic "
                        "images to them and has nothing to align to");
    t->deep_start = w->all_layers ? 0 : bns_deep_start(t->n_layers);
    if ((t->input = ptq_util_graph_input(h, s, "fdda.synthesize")) < 0) return PTQ_ERR_UNSUPPORTED;
    if ((st = find_logits(t))) return st;
    ptq_tensor_view in = {.struct_size = sizeof in}, calib = in;
    const int32_t *labels = NULL;
    if ((st = h->value_view(s, t->input, &in)) || (st = h->calib_view(s, &calib, &labels))) return st;
    if (!labels)
        return h->error(s, PTQ_ERR_INVALID, "the calibration images have no labels: FDDA computes "
                        "each class's statistics from labelled real images (add 'labels:' to the "
                        "calibration section)");
    if (in.ndim != 4)
        return h->error(s, PTQ_ERR_UNSUPPORTED, "FDDA synthesizes images: the model input must be "
                        "N x C x H x W, this one has %d dimensions", in.ndim);
    t->channels = in.ne[1], t->height = in.ne[2], t->width = in.ne[3];
    t->sample = t->channels * t->height * t->width;
    const int64_t n = calib.ne[0], K = t->classes;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return h->error(s, PTQ_ERR_INVALID, "calibration label %d (image %lld) is not one of "
                            "the model's %lld classes", labels[i], (long long)i, (long long)K);
    int64_t widest = 1;
    for (int32_t l = 0; l < t->n_layers; l++)
        widest = t->layers[l].channels > widest ? t->layers[l].channels : widest;
    t->centre_mean = h->alloc((size_t)t->n_layers * sizeof *t->centre_mean);
    t->centre_var = h->alloc((size_t)t->n_layers * sizeof *t->centre_var);
    t->real_count = h->alloc((size_t)K * sizeof *t->real_count);
    t->real_correct = h->alloc((size_t)K * sizeof *t->real_correct);
    t->noisy_mean = h->alloc((size_t)widest * sizeof(float));
    t->noisy_var = h->alloc((size_t)widest * sizeof(float));
    if (!t->centre_mean || !t->centre_var || !t->real_count || !t->real_correct ||
        !t->noisy_mean || !t->noisy_var)
        return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    for (int32_t l = 0; l < t->n_layers; l++) {
        t->centre_mean[l] = h->alloc((size_t)(K * t->layers[l].channels) * sizeof(float));
        t->centre_var[l] = h->alloc((size_t)(K * t->layers[l].channels) * sizeof(float));
        if (!t->centre_mean[l] || !t->centre_var[l]) return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    if ((st = class_centres(t, calib.data, labels, n))) return st;
    for (int64_t c = 0; c < K; c++)
        if (t->real_count[c] == 0)
            return h->error(s, PTQ_ERR_INVALID, "class %lld has no real calibration image: FDDA "
                            "needs at least one labelled image of every one of the model's %lld "
                            "classes (select them with 'per_class: N' in the calibration section)",
                            (long long)c, (long long)K);
    const ptq_grad_run_options o = {sizeof o, PTQ_MODEL_FLOAT, NULL, 0, max_batch, &t->input, 1,
                                    NULL, 0};
    if (!(t->run = h->grad_run_new(s, &o))) return PTQ_ERR_INVALID;
    return PTQ_OK;
}

double teacher_eval(teacher *t, const float *images, const int32_t *labels, int64_t batch,
                    int32_t pure_class, float *grad, teacher_loss *parts) {
    const ptq_host *h = t->h;
    memset(parts, 0, sizeof *parts);
    memcpy(h->grad_run_input(t->run, t->input), images, (size_t)(batch * t->sample) * sizeof(float));
    if (h->grad_run_forward(t->run, batch)) return NAN;
    const bool back = grad != NULL;
    parts->ce = bns_cross_entropy(h->grad_run_value(t->run, t->logits), batch, t->classes, labels,
                                  t->w.ce, back ? h->grad_run_seed(t->run, t->logits) : NULL,
                                  &parts->correct);
    const int32_t L = t->n_layers, deep = L - t->deep_start;
    for (int32_t l = 0; l < L; l++) {
        const bns_layer *bl = &t->layers[l];
        const float *y = h->grad_run_value(t->run, bl->value);
        float *dy = back ? h->grad_run_seed(t->run, bl->value) : NULL;
        if (pure_class < 0) {
            parts->bns += bns_align_loss(bl, y, batch, bl->mean, bl->var, t->w.bns / L, dy);
            continue;
        }
        if (l < t->deep_start) continue;
        const float *cm = t->centre_mean[l] + pure_class * bl->channels;
        const float *cv = t->centre_var[l] + pure_class * bl->channels;
        if (t->w.c_bns > 0)
            parts->c_bns += bns_align_loss(bl, y, batch, cm, cv, t->w.c_bns / deep, dy);
        if (t->w.d_bns > 0) {
            for (int64_t c = 0; c < bl->channels; c++) {
                t->noisy_mean[c] = cm[c] + (float)(t->w.noise_mean * teacher_normal(h, t->s));
                t->noisy_var[c] = cv[c] + (float)(t->w.noise_var * teacher_normal(h, t->s));
            }
            parts->d_bns += bns_align_loss(bl, y, batch, t->noisy_mean, t->noisy_var,
                                           t->w.d_bns / deep, dy);
        }
    }
    const double total = parts->ce + parts->bns + parts->c_bns + parts->d_bns;
    if (!back || !isfinite(total)) return total;
    if (h->grad_run_backward(t->run, batch)) return NAN;
    memcpy(grad, h->grad_run_gradient(t->run, t->input), (size_t)(batch * t->sample) * sizeof(float));
    return total;
}
