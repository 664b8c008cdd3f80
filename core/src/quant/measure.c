/* measure.c — per-layer and whole-model SQNR before and after every pass (measure.h). */
#include "measure.h"

/* Images used to measure: the calibration images (or the evaluation images when there
 * is no calibration set), the first PTQ_MEASURE_IMAGES of them. */
static const ptq_dataset *measure_set(const ptq_session *s, const ptq_dataset *eval) {
    return s->calib ? s->calib : eval;
}

static double sqnr_db(const float *ref, const float *x, int64_t n) {
    double sig = 0.0, noise = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double r = ref[i], e = (double)x[i] - r;
        sig += r * r;
        noise += e * e;
    }
    if (!(noise == noise) || !(sig == sig)) return NAN;
    return noise == 0.0 ? INFINITY : (sig == 0.0 ? -INFINITY : 10.0 * log10(sig / noise));
}

/* Fraction of the n rows (of `classes` floats) whose argmax agrees. */
static double agreement(const float *a, const float *b, int64_t n, int64_t classes) {
    if (n <= 0 || classes < 2) return NAN;
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = 0, ib = 0;
        for (int64_t k = 1; k < classes; k++) {
            if (a[i * classes + k] > a[i * classes + ia]) ia = k;
            if (b[i * classes + k] > b[i * classes + ib]) ib = k;
        }
        same += ia == ib;
    }
    return (double)same / (double)n;
}

/* Runs g on the first n images of ds keeping vals[0..nv) and copies each into out[k]
 * (allocated here, *numel[k] floats). */
static ptq_status run_keep(ptq_session *s, const ptq_graph *g, const ptq_dataset *ds, int64_t n,
                           const int32_t *vals, int32_t nv, float **out, int64_t *numel) {
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = n;
    eo.threads = s->threads;
    eo.keep = vals;
    eo.n_keep = nv;
    ptq_exec *ex = ptq_exec_new(g, &eo, &s->err);
    if (!ex) return s->err.status;
    ptq_exec_bind(ex, g->inputs[0], ds->images);
    ptq_status st = ptq_exec_run(ex, n, &s->err);
    for (int32_t k = 0; k < nv && !st; k++) {
        int32_t nd;
        int64_t ne[PTQ_MAX_DIMS];
        ptq_exec_shape(ex, vals[k], &nd, ne);
        numel[k] = ptq_shape_numel(nd, ne);
        out[k] = malloc((size_t)PTQ_MAX(numel[k], 1) * sizeof(float));
        if (!out[k]) {
            st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory measuring");
            break;
        }
        memcpy(out[k], ptq_exec_data(ex, vals[k]), (size_t)numel[k] * sizeof(float));
    }
    ptq_exec_free(ex);
    return st;
}

/* The original model's output on ds, once per dataset. */
static ptq_status reference_outputs(ptq_measurer *mr, ptq_session *s, const ptq_dataset *ds,
                                    int64_t n) {
    if (mr->ref_out && mr->ds == ds && mr->n == n) return PTQ_OK;
    free(mr->ref_out);
    mr->ref_out = NULL;
    const int32_t out = mr->reference->outputs[0];
    ptq_status st = run_keep(s, mr->reference, ds, n, &out, 1, &mr->ref_out, &mr->numel);
    if (st) return st;
    mr->ds = ds;
    mr->n = n;
    /* Top-1 agreement means something for class scores only ([N, K], K >= 2, the rule of
     * fidelity.h); a detector's or segmenter's output 0 gets none (NaN, JSON null). */
    const ptq_value *v = &mr->reference->values[out];
    mr->classes = n > 0 && v->ndim == 2 && v->ne[1] >= 2 ? mr->numel / n : 0;
    return PTQ_OK;
}

void ptq_measurement_free(ptq_measurement *m) {
    free(m->layers);
    free(m->float_out);
    memset(m, 0, sizeof *m);
}

void ptq_measurer_free(ptq_measurer *mr) {
    free(mr->ref_out);
    memset(mr, 0, sizeof *mr);
}

double ptq_measurement_mean_db(const ptq_measurement *m, bool weights) {
    double sum = 0.0;
    int n = 0;
    for (int32_t k = 0; k < m->n; k++) {
        const double v = weights ? m->layers[k].weight_db : m->layers[k].output_db;
        if (isfinite(v)) sum += v, n++;
    }
    return n ? sum / n : NAN;
}

double ptq_measurement_drift_db(const ptq_measurement *before, const ptq_measurement *after) {
    if (!before->float_out || !after->float_out || before->out_numel != after->out_numel)
        return NAN;
    return sqnr_db(before->float_out, after->float_out, after->out_numel);
}

/* Runs the quantized model sim and compares, in place (no second copy of every layer's
 * output): per-layer output SQNR against the current float run fl[], and the network
 * output (vals[n_layers]) against the original model. */
static ptq_status compare_quantized(ptq_measurer *mr, ptq_session *s, const ptq_graph *sim,
                                    const ptq_dataset *ds, int64_t n, const int32_t *vals,
                                    int32_t n_layers, float **fl, const int64_t *numel,
                                    ptq_measurement *m) {
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = n;
    eo.threads = s->threads;
    /* The same values by id (the quantized model is a copy with nodes added), except the
     * network output, which is a FAKE_QUANT's when the output is quantized. */
    int32_t *sv = ptq_calloc_array((size_t)n_layers + 1, sizeof *sv);
    if (!sv) return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory measuring");
    memcpy(sv, vals, (size_t)n_layers * sizeof *sv);
    sv[n_layers] = sim->outputs[0];
    eo.keep = sv;
    eo.n_keep = n_layers + 1;
    ptq_exec *ex = ptq_exec_new(sim, &eo, &s->err);
    if (!ex) {
        free(sv);
        return s->err.status;
    }
    ptq_exec_bind(ex, sim->inputs[0], ds->images);
    ptq_status st = ptq_exec_run(ex, n, &s->err);
    for (int32_t k = 0; k < n_layers && !st; k++)
        m->layers[k].output_db = sqnr_db(fl[k], ptq_exec_data(ex, vals[k]), numel[k]);
    const int32_t o = n_layers;
    m->model_db = m->float_db = m->model_agree = m->float_agree = NAN;
    if (!st && numel[o] == mr->numel) {
        const float *q = ptq_exec_data(ex, sv[o]);
        m->model_db = sqnr_db(mr->ref_out, q, numel[o]);
        m->float_db = sqnr_db(mr->ref_out, fl[o], numel[o]);
        m->model_agree = agreement(mr->ref_out, q, mr->n, mr->classes);
        m->float_agree = agreement(mr->ref_out, fl[o], mr->n, mr->classes);
    }
    ptq_exec_free(ex);
    free(sv);
    return st;
}

ptq_status ptq_measure(ptq_measurer *mr, ptq_session *s, const ptq_dataset *eval,
                       ptq_measurement *m) {
    memset(m, 0, sizeof *m);
    const ptq_dataset *ds = measure_set(s, eval);
    if (s->n_q == 0 || !ds) return PTQ_OK;
    ptq_graph *g = s->g;
    const int64_t n = PTQ_MIN(ds->n, PTQ_MEASURE_IMAGES);
    ptq_qparams *saved = ptq_calloc_array((size_t)s->n_q, sizeof *saved);
    bool *was = ptq_calloc_array((size_t)s->n_q, sizeof *was);
    int32_t *vals = ptq_calloc_array((size_t)g->n_nodes + 1, sizeof *vals);
    float **fl = ptq_calloc_array((size_t)g->n_nodes + 1, sizeof *fl);
    int64_t *numel = ptq_calloc_array((size_t)g->n_nodes + 1, sizeof *numel);
    m->layers = ptq_calloc_array((size_t)g->n_nodes, sizeof *m->layers);
    ptq_graph *sim = NULL;
    ptq_status st = PTQ_OK;
    if (!saved || !was || !vals || !fl || !numel || !m->layers) {
        st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory measuring");
        goto out;
    }
    if ((st = reference_outputs(mr, s, ds, n))) goto out;
    for (int32_t i = 0; i < s->n_q; i++) {
        was[i] = s->q[i].calibrated;
        if (s->q[i].qp.scale && (st = ptq_qparams_copy(&saved[i], &s->q[i].qp, &s->err))) goto out;
    }
    for (int32_t i = 0; i < s->n_q && !st; i++)
        if (s->q[i].is_weight && !s->q[i].calibrated) st = ptq_session_calibrate_weight(s, i);
    bool acts = false;
    for (int32_t i = 0; i < s->n_q; i++) acts |= !s->q[i].is_weight && !s->q[i].calibrated;
    if (!st && acts) {
        if (!s->calib) goto restore; /* nothing to calibrate activations on yet */
        int32_t *which = ptq_calloc_array((size_t)s->n_q, sizeof *which);
        int32_t nw = 0;
        for (int32_t i = 0; which && i < s->n_q; i++)
            if (!s->q[i].is_weight && !s->q[i].calibrated) which[nw++] = i;
        st = which ? ptq_session_calibrate_activations(s, which, nw, PTQ_MEASURE_IMAGES)
                   : ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
        free(which);
    }
    if (st) goto restore;
    sim = ptq_session_sim_graph(s, s->q, s->n_q, &s->err);
    if (!sim) {
        st = s->err.status;
        goto restore;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (!ptq_op_has_weights(g->nodes[i].op)) continue;
        ptq_layer_sqnr *l = &m->layers[m->n];
        l->node = i;
        l->weight_db = NAN;
        const int32_t wv = g->nodes[i].inputs[1];
        if (ptq_session_quantizer_of(s, wv) >= 0)
            l->weight_db = ptq_sqnr_db(g->values[wv].data->data, sim->values[wv].data->data,
                                       ptq_tensor_numel(g->values[wv].data));
        vals[m->n++] = g->nodes[i].outputs[0];
    }
    vals[m->n] = g->outputs[0];
    st = run_keep(s, g, ds, n, vals, m->n + 1, fl, numel);
    if (!st) st = compare_quantized(mr, s, sim, ds, n, vals, m->n, fl, numel, m);
    if (!st) {
        m->float_out = fl[m->n]; /* kept: the next measurement's drift is against it */
        m->out_numel = numel[m->n];
        fl[m->n] = NULL;
        m->valid = true;
    }
restore:
    for (int32_t i = 0; i < s->n_q; i++) {
        if (was[i]) {
            ptq_qparams_free(&s->q[i].qp);
            s->q[i].qp = saved[i];
            memset(&saved[i], 0, sizeof saved[i]);
        } else {
            /* provisional: drop it, keep an uncalibrated grid of the same shape */
            s->q[i].calibrated = false;
        }
    }
out:
    for (int32_t i = 0; saved && i < s->n_q; i++) ptq_qparams_free(&saved[i]);
    for (int32_t k = 0; fl && k <= g->n_nodes; k++) free(fl[k]);
    ptq_graph_free(sim);
    free(saved), free(was), free(vals), free(fl), free(numel);
    if (st) ptq_measurement_free(m);
    return st;
}
