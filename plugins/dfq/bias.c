/* bias.c — bias correction (DFQ step 4) and data-free activation ranges (step 5).
 *
 * Quantizing weights moves each layer's output mean: with eps = W_q - W, output o shifts
 * by sum_c (sum of eps[o, c, taps]) E[x_c].  Bias correction subtracts that shift.
 *   analytic:  E[x_c] from the BN statistics (stats.c: the clipped-normal mean after a
 *              ReLU/ReLU6, sums over residual adds); no data at all.
 *   empirical: the shift itself, measured: mean over images and positions of the layer's
 *              output in the quantized model minus the float model, layer by layer in
 *              order, so each layer is corrected with its input as the already corrected
 *              layers before it produce it.
 * The quantized weights come from the host (quantizer_apply), so eps is exactly what
 * the exported model will use. */
#include <math.h>
#include <string.h>

#include "dfq.h"

/* Layers whose weights are quantized, in topological order. */
static int32_t quantized_layers(const ptq_host *h, ptq_session *s, dfq_layer **out) {
    const int32_t n_nodes = h->node_count(s);
    *out = h->alloc(((size_t)n_nodes + 1) * sizeof **out);
    if (!*out) return h->error(s, PTQ_ERR_NOMEM, "out of memory"), -1;
    int32_t n = 0;
    for (int32_t node = 0; node < n_nodes; node++) {
        dfq_layer l;
        if (dfq_layer_get(h, s, node, &l) && h->quantizer_of(s, l.weight) >= 0) (*out)[n++] = l;
    }
    return n;
}

/* The layer's bias, added (zeros) when it has none. */
static float *bias_of(const ptq_host *h, ptq_session *s, dfq_layer *l) {
    if (l->bias < 0 && (l->bias = h->node_add_bias(s, l->node)) < 0) return NULL;
    float *b = dfq_bias(h, s, l);
    if (!b) h->error(s, PTQ_ERR_INTERNAL, "'%s' has no bias data", h->node_name(s, l->node));
    return b;
}

static void report_correction(const ptq_host *h, ptq_session *s, const dfq_layer *l,
                              const double *shift) {
    double mean_abs = 0.0, max_abs = 0.0;
    for (int64_t o = 0; o < l->out_ch; o++) {
        mean_abs += fabs(shift[o]) / (double)l->out_ch;
        max_abs = fmax(max_abs, fabs(shift[o]));
    }
    static const char *const cols[] = {"mean_abs_shift", "max_abs_shift"};
    const double v[2] = {mean_abs, max_abs};
    h->report_row(s, "corrected", h->node_name(s, l->node), cols, v, 2);
}

/* b -= shift, then tell the host. */
static ptq_status apply_shift(const ptq_host *h, ptq_session *s, dfq_layer *l, const double *shift) {
    float *b = bias_of(h, s, l);
    if (!b) return PTQ_ERR_INVALID;
    for (int64_t o = 0; o < l->out_ch; o++) {
        if (!isfinite(shift[o]))
            return h->error(s, PTQ_ERR_NUMERIC, "the bias correction of '%s' is not finite "
                            "(channel %lld)", h->node_name(s, l->node), (long long)o);
        b[o] -= (float)shift[o];
    }
    h->value_changed(s, l->bias);
    report_correction(h, s, l, shift);
    return PTQ_OK;
}

/* ---- analytic ---------------------------------------------------------------------- */

static ptq_status weight_error(const ptq_host *h, ptq_session *s, const dfq_layer *l, float *eps) {
    ptq_tensor_view wv;
    ptq_status st = h->value_view(s, l->weight, &wv);
    if (st) return st;
    int64_t n = 1;
    for (int32_t d = 0; d < wv.ndim; d++) n *= wv.ne[d];
    const int32_t q = h->quantizer_of(s, l->weight);
    if ((st = h->quantizer_apply(s, q, l->w, eps, 1))) return st;
    for (int64_t i = 0; i < n; i++) eps[i] -= l->w[i];
    return PTQ_OK;
}

static int64_t weight_numel(const ptq_host *h, ptq_session *s, const dfq_layer *l) {
    ptq_tensor_view wv;
    if (h->value_view(s, l->weight, &wv)) return 0;
    int64_t n = 1;
    for (int32_t d = 0; d < wv.ndim; d++) n *= wv.ne[d];
    return n;
}

static ptq_status correct_analytic(const ptq_host *h, ptq_session *s, dfq_layer *layers, int32_t n) {
    dfq_stats st;
    ptq_status rc = dfq_stats_init(&st, h, s, 6.0);
    if (rc) return rc;
    if (!st.any_bn) {
        dfq_stats_free(&st);
        return h->error(s, PTQ_ERR_INVALID, "mode: analytic needs the statistics of "
                        "BatchNormalization layers, and this model has none folded: use "
                        "mode: empirical (with a calibration: section)");
    }
    int32_t done = 0, skipped = 0;
    for (int32_t i = 0; i < n && !rc; i++) {
        dfq_layer *l = &layers[i];
        const dfq_chan *x = dfq_stats_of(&st, l->input);
        if (!x || x->c * x->block != l->in_ch) {
            h->log(s, PTQ_LOG_WARN, "'%s' left uncorrected: %s", h->node_name(s, l->node),
                   x ? "its input's channels do not match its weights" : st.why);
            skipped++;
            continue;
        }
        float *eps = h->alloc((size_t)weight_numel(h, s, l) * sizeof *eps);
        double *shift = h->alloc((size_t)l->out_ch * sizeof *shift);
        if (!eps || !shift) rc = h->error(s, PTQ_ERR_NOMEM, "out of memory");
        if (!rc) rc = weight_error(h, s, l, eps);
        for (int64_t o = 0; !rc && o < l->out_ch; o++)
            for (int64_t c = 0; c < x->c; c++)
                shift[o] += dfq_in_sum(l, eps, o, c, x->block) * x->mean[c];
        if (!rc) rc = apply_shift(h, s, l, shift);
        h->free(eps), h->free(shift);
        done++;
    }
    dfq_stats_free(&st);
    if (!rc)
        h->log(s, PTQ_LOG_INFO, "corrected %d layers analytically%s", done - skipped,
               skipped ? " (see the warnings for the ones left)" : "");
    return rc;
}

/* ---- empirical ---------------------------------------------------------------------- */

/* Per-channel means of the values `v[0..nv)` (layer outputs, `channels[k]` each) of the
 * float or quantized model over `n` images, in one run covering nodes 0..last
 * (topological order: everything the values depend on). */
static ptq_status channel_means(const ptq_host *h, ptq_session *s, int32_t model, int32_t last,
                                const int32_t *v, const int64_t *channels, int32_t nv,
                                const float *images, int64_t n, int64_t per_image, int32_t input,
                                double **mean) {
    int32_t *nodes = h->alloc(((size_t)last + 2) * sizeof *nodes);
    if (!nodes) return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    int32_t n_nodes = 0;
    for (int32_t i = 0; i <= last; i++) nodes[n_nodes++] = i;
    const int64_t batch = n < 64 ? n : 64;
    ptq_run *r = h->run_new(s, model, nodes, n_nodes, v, nv, batch);
    h->free(nodes);
    if (!r) return PTQ_ERR_INVALID;
    ptq_status st = PTQ_OK;
    for (int32_t k = 0; k < nv; k++) memset(mean[k], 0, (size_t)channels[k] * sizeof **mean);
    for (int64_t at = 0; at < n && !st; at += batch) {
        const int64_t b = n - at < batch ? n - at : batch;
        if ((st = h->run_bind(r, input, images + at * per_image))) break;
        if ((st = h->run_exec(r, b))) break;
        for (int32_t k = 0; k < nv && !st; k++) {
            const float *y = h->run_data(r, v[k]);
            ptq_tensor_view vv;
            if (!y) st = h->error(s, PTQ_ERR_INTERNAL, "the run did not keep '%s'", h->value_name(s, v[k]));
            if (!st) st = h->value_view(s, v[k], &vv);
            if (st) break;
            int64_t spatial = 1;
            for (int32_t d = 2; d < vv.ndim; d++) spatial *= vv.ne[d];
            for (int64_t i = 0; i < b; i++)
                for (int64_t c = 0; c < channels[k]; c++) {
                    const float *p = y + (i * channels[k] + c) * spatial;
                    double sum = 0.0;
                    for (int64_t j = 0; j < spatial; j++) sum += p[j];
                    mean[k][c] += sum;
                }
        }
    }
    h->run_free(r);
    for (int32_t k = 0; k < nv && !st; k++) {
        ptq_tensor_view vv;
        if ((st = h->value_view(s, v[k], &vv))) break;
        int64_t spatial = 1;
        for (int32_t d = 2; d < vv.ndim; d++) spatial *= vv.ne[d];
        for (int64_t c = 0; c < channels[k]; c++) mean[k][c] /= (double)n * (double)spatial;
    }
    return st;
}

static ptq_status correct_empirical(const ptq_host *h, ptq_session *s, dfq_layer *layers, int32_t n,
                                    int64_t images) {
    ptq_tensor_view cv;
    if (h->calib_view(s, &cv, NULL))
        return h->error(s, PTQ_ERR_INVALID, "mode: empirical measures the shift on data: add a "
                        "calibration: section (or use mode: analytic)");
    const int64_t count = images < cv.ne[0] ? images : cv.ne[0];
    const int64_t per = cv.ne[1] * cv.ne[2] * cv.ne[3];
    const int32_t input = dfq_graph_input(h, s);
    if (input < 0) return h->error(s, PTQ_ERR_INVALID, "the model has no image input");
    /* The float targets first, all in one run: correcting a layer changes its bias in the
     * working graph, which float runs made after it would see. */
    double **fp = h->alloc(((size_t)n + 1) * sizeof *fp);
    int32_t *outs = h->alloc(((size_t)n + 1) * sizeof *outs);
    int64_t *chans = h->alloc(((size_t)n + 1) * sizeof *chans);
    ptq_status rc = fp && outs && chans ? PTQ_OK : h->error(s, PTQ_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < n && !rc; i++) {
        outs[i] = layers[i].output, chans[i] = layers[i].out_ch;
        if (!(fp[i] = h->alloc((size_t)layers[i].out_ch * sizeof **fp)))
            rc = h->error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    if (!rc && n > 0)
        rc = channel_means(h, s, PTQ_MODEL_FLOAT, layers[n - 1].node, outs, chans, n, cv.data,
                           count, per, input, fp);
    for (int32_t i = 0; i < n && !rc; i++) {
        dfq_layer *l = &layers[i];
        double *qu = h->alloc((size_t)l->out_ch * sizeof *qu);
        if (!qu) rc = h->error(s, PTQ_ERR_NOMEM, "out of memory");
        if (!rc) rc = channel_means(h, s, PTQ_MODEL_QUANT, l->node, &l->output, &l->out_ch, 1,
                                    cv.data, count, per, input, &qu);
        for (int64_t o = 0; !rc && o < l->out_ch; o++) qu[o] -= fp[i][o];
        if (!rc) rc = apply_shift(h, s, l, qu);
        h->free(qu);
        h->progress(s, "bias correction", i + 1, n);
    }
    for (int32_t i = 0; fp && i < n; i++) h->free(fp[i]);
    h->free(fp), h->free(outs), h->free(chans);
    if (!rc) h->log(s, PTQ_LOG_INFO, "corrected %d layers on %lld images", n, (long long)count);
    return rc;
}

ptq_status dfq_correct_bias(const ptq_host *h, ptq_session *s, const void *params) {
    const dfq_correct_params *p = params;
    dfq_layer *layers;
    const int32_t n = quantized_layers(h, s, &layers);
    if (n < 0) return PTQ_ERR_NOMEM;
    for (int32_t i = 0; i < n; i++) {
        ptq_quant_view qv;
        const int32_t q = h->quantizer_of(s, layers[i].weight);
        if (h->quantizer_view(s, q, &qv) || !qv.calibrated) {
            h->free(layers);
            return h->error(s, PTQ_ERR_INVALID, "the weights of '%s' have no quantization grid "
                            "yet", h->node_name(s, layers[i].node));
        }
    }
    ptq_status st = p->mode == 0 ? correct_analytic(h, s, layers, n)
                                 : correct_empirical(h, s, layers, n, p->images);
    h->free(layers);
    return st;
}

/* ---- data-free activation ranges ---------------------------------------------------- */

ptq_status dfq_bn_ranges(const ptq_host *h, ptq_session *s, const void *params) {
    const dfq_ranges_params *p = params;
    dfq_stats st;
    ptq_status rc = dfq_stats_init(&st, h, s, p->sigmas);
    if (rc) return rc;
    int32_t set = 0;
    for (int32_t q = 0; q < h->quantizer_count(s) && !rc; q++) {
        ptq_quant_view qv;
        if ((rc = h->quantizer_view(s, q, &qv)) || qv.is_weight) continue;
        const dfq_chan *x = dfq_stats_of(&st, qv.value);
        if (!x) {
            rc = h->error(s, PTQ_ERR_UNSUPPORTED, "%s; dfq.bn_ranges sets every activation range "
                          "from BatchNormalization statistics, so this model needs "
                          "calibration data instead", st.why);
            break;
        }
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t c = 0; c < x->c; c++) lo = fmin(lo, x->lo[c]), hi = fmax(hi, x->hi[c]);
        if (!isfinite(lo) || !isfinite(hi)) {
            rc = h->error(s, PTQ_ERR_NUMERIC, "the data-free range of '%s' is not finite",
                          h->value_name(s, qv.value));
            break;
        }
        if ((rc = h->quantizer_set_range(s, q, -1, (float)lo, (float)hi))) break;
        static const char *const cols[] = {"lo", "hi"};
        const double v[2] = {lo, hi};
        h->report_row(s, "ranges", h->value_name(s, qv.value), cols, v, 2);
        set++;
    }
    dfq_stats_free(&st);
    if (!rc) h->log(s, PTQ_LOG_INFO, "set %d activation ranges from BN statistics (+-%.1f sigma)",
                    set, p->sigmas);
    return rc;
}
