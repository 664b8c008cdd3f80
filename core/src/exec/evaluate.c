/* evaluate.c — top-1 accuracy of a classifier over a labelled dataset. */
#include <inttypes.h>

#include "exec/fidelity.h"

static ptq_progress_fn g_progress;
static void *g_progress_ctx;

void ptq_set_eval_progress(ptq_progress_fn fn, void *ctx) {
    g_progress = fn;
    g_progress_ctx = ctx;
}

void ptq_eval_progress_report(const char *what, int64_t done, int64_t total) {
    if (g_progress) g_progress(g_progress_ctx, what, done, total);
}

ptq_status ptq_dataset_fits_model(const ptq_graph *g, const ptq_dataset *ds, bool classify,
                                  ptq_error *err) {
    if (classify && !ds->labels) return ptq_error_set(err, PTQ_ERR_INVALID, "the dataset has no labels");
    if (g->n_inputs != 1 || g->n_outputs < 1)
        return ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "the model has %d inputs; ptq takes models "
                             "with one image input%s", g->n_inputs, classify ? " and a logits output" : "");
    const ptq_value *in = &g->values[g->inputs[0]];
    const ptq_value *out = &g->values[g->outputs[0]];
    char b1[160];
    /* The model's input must be N x C x H x W matching the images. */
    int64_t want[4] = {PTQ_DIM_BATCH, ds->c, ds->h, ds->w};
    bool fits = in->ndim == 4;
    for (int32_t i = 1; fits && i < 4; i++) fits = in->ne[i] == want[i];
    if (!fits)
        return ptq_error_set(err, PTQ_ERR_INVALID, "model input '%s' is %s, the images are "
                             "%d x %d x %d", in->name, ptq_shape_str(in->ndim, in->ne, b1, sizeof b1),
                             ds->c, ds->h, ds->w);
    if (!classify) return PTQ_OK;
    if (out->ndim != 2 || out->ne[0] != in->ne[0] || out->ne[1] < 1 || out->ne[1] == PTQ_DIM_BATCH)
        return ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "output '%s' is %s, not batch x classes: "
                             "top-1 reads class scores from output 0 (fidelity to a float model, "
                             "which needs no labels, compares any outputs)", out->name,
                             ptq_shape_str(out->ndim, out->ne, b1, sizeof b1));
    if (ds->n_classes > out->ne[1])
        return ptq_error_set(err, PTQ_ERR_INVALID, "labels go up to %d but the model has %" PRId64
                             " classes", ds->n_classes - 1, out->ne[1]);
    return PTQ_OK;
}

ptq_status ptq_evaluate(const ptq_graph *g, const ptq_dataset *ds, int64_t batch, int32_t threads,
                        FILE *profile, ptq_eval_result *res, ptq_error *err) {
    return ptq_evaluate_predict(g, ds, batch, threads, profile, NULL, res, err);
}

ptq_status ptq_evaluate_predict(const ptq_graph *g, const ptq_dataset *ds, int64_t batch,
                                int32_t threads, FILE *profile, int32_t *predicted,
                                ptq_eval_result *res, ptq_error *err) {
    memset(res, 0, sizeof *res);
    ptq_status fit = ptq_dataset_fits_model(g, ds, true, err);
    if (fit) return fit;
    const ptq_value *in = &g->values[g->inputs[0]];
    const int64_t classes = g->values[g->outputs[0]].ne[1];
    if (in->ne[0] != PTQ_DIM_BATCH) batch = in->ne[0]; /* a fixed-batch model */
    if (batch < 1) batch = 1;
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = batch;
    eo.threads = threads;
    eo.profile = profile != NULL;
    ptq_exec *ex = ptq_exec_new(g, &eo, err);
    if (!ex) return err->status;
    const int64_t per = (int64_t)ds->c * ds->h * ds->w;
    ptq_status st = PTQ_OK;
    float *tail = NULL; /* a fixed-batch model's last partial batch, padded */
    for (int64_t at = 0; at < ds->n && !st; at += batch) {
        int64_t nb = PTQ_MIN(batch, ds->n - at);
        const float *src = ds->images + at * per;
        int64_t run = nb;
        if (in->ne[0] != PTQ_DIM_BATCH && nb < batch) {
            tail = ptq_calloc_array((size_t)(batch * per), sizeof *tail);
            if (!tail) {
                st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(tail, src, (size_t)(nb * per) * sizeof *tail);
            src = tail;
            run = batch;
        }
        ptq_exec_bind(ex, g->inputs[0], src);
        double t0 = ptq_now_seconds();
        st = ptq_exec_run(ex, run, err);
        res->seconds += ptq_now_seconds() - t0;
        if (st) break;
        const float *logits = ptq_exec_data(ex, g->outputs[0]);
        for (int64_t i = 0; i < nb; i++) {
            const float *l = logits + i * classes;
            int64_t best = 0;
            bool finite = true;
            for (int64_t k = 0; k < classes; k++) {
                finite &= isfinite(l[k]) != 0;
                if (l[k] > l[best]) best = k;
            }
            if (!finite) {
                st = ptq_error_set(err, PTQ_ERR_NUMERIC, "the model produced a NaN or infinite "
                                   "logit for image %" PRId64, at + i);
                break;
            }
            res->correct += best == ds->labels[at + i];
            if (predicted) predicted[at + i] = (int32_t)best;
        }
        res->images += nb;
        if (g_progress) g_progress(g_progress_ctx, "evaluating", res->images, ds->n);
    }
    free(tail);
    if (profile && !st) ptq_exec_profile(ex, profile);
    ptq_exec_free(ex);
    if (!st) res->top1 = res->images ? (double)res->correct / (double)res->images : 0.0;
    return st;
}
