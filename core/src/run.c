/* run.c — running a pipeline end to end: float evaluation, the passes (each measured
 * before and after: per-layer SQNR of the quantized model against the float one),
 * quantized evaluation, QDQ export and report.json, all written into a temporary
 * directory that replaces the output directory only when everything succeeded. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "session.h"

ptq_status ptq_pipeline_execute(const ptq_pipeline *p, const ptq_registry *reg, const char *out_dir,
                                bool force, ptq_error *err);

#define MEASURE_IMAGES 256

/* ---- per-layer measurement -------------------------------------------------------------- */

typedef struct layer_sqnr {
    int32_t node;          /* working-graph node id */
    double weight_db, output_db;
} layer_sqnr;

typedef struct measurement {
    layer_sqnr *layers;
    int32_t n;
    bool valid;
} measurement;

/* Images used to measure: the first MEASURE_IMAGES calibration images (or evaluation
 * images when there is no calibration set). */
static const ptq_dataset *measure_set(const ptq_session *s, const ptq_dataset *eval) {
    return s->calib ? s->calib : eval;
}

/* Runs graph g on the measurement images and accumulates, for each layer output,
 * sum(x^2) (float run) or sum((x - ref)^2) against the float run's outputs. */
static ptq_status run_layers(ptq_session *s, const ptq_graph *g, const ptq_dataset *ds,
                             const int32_t *vals, int32_t n, float **ref, double *acc,
                             bool is_ref) {
    ptq_exec_options eo = ptq_exec_options_default();
    const int64_t total = PTQ_MIN(ds->n, MEASURE_IMAGES);
    eo.max_batch = total;
    eo.threads = s->threads;
    eo.keep = vals;
    eo.n_keep = n;
    ptq_exec *ex = ptq_exec_new(g, &eo, &s->err);
    if (!ex) return s->err.status;
    ptq_exec_bind(ex, g->inputs[0], ds->images);
    ptq_status st = ptq_exec_run(ex, total, &s->err);
    for (int32_t k = 0; k < n && !st; k++) {
        int32_t nd;
        int64_t ne[PTQ_MAX_DIMS];
        ptq_exec_shape(ex, vals[k], &nd, ne);
        const int64_t cnt = ptq_shape_numel(nd, ne);
        const float *d = ptq_exec_data(ex, vals[k]);
        if (is_ref) {
            ref[k] = malloc((size_t)cnt * sizeof(float));
            if (!ref[k]) {
                st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory measuring");
                break;
            }
            memcpy(ref[k], d, (size_t)cnt * sizeof(float));
        } else {
            double sig = 0.0, noise = 0.0;
            for (int64_t i = 0; i < cnt; i++) {
                const double x = ref[k][i], e = (double)d[i] - x;
                sig += x * x;
                noise += e * e;
            }
            acc[k] = noise == 0.0 ? INFINITY : (sig == 0.0 ? -INFINITY : 10.0 * log10(sig / noise));
        }
    }
    ptq_exec_free(ex);
    return st;
}

static void measurement_free(measurement *m) {
    free(m->layers);
    memset(m, 0, sizeof *m);
}

/* Per-layer weight and output SQNR of the quantized model as it stands.  Quantizers not
 * calibrated yet are calibrated provisionally for the measurement and restored after,
 * so "before" numbers exist even for passes that run before core.calibrate. */
static ptq_status measure(ptq_session *s, const ptq_dataset *eval, measurement *m) {
    memset(m, 0, sizeof *m);
    const ptq_dataset *ds = measure_set(s, eval);
    if (s->n_q == 0 || !ds) return PTQ_OK;
    ptq_graph *g = s->g;
    ptq_qparams *saved = ptq_calloc_array((size_t)s->n_q, sizeof *saved);
    bool *was = ptq_calloc_array((size_t)s->n_q, sizeof *was);
    int32_t *vals = ptq_calloc_array((size_t)g->n_nodes, sizeof *vals);
    float **ref = ptq_calloc_array((size_t)g->n_nodes, sizeof *ref);
    double *acc = ptq_calloc_array((size_t)g->n_nodes, sizeof *acc);
    m->layers = ptq_calloc_array((size_t)g->n_nodes, sizeof *m->layers);
    ptq_graph *sim = NULL;
    ptq_status st = PTQ_OK;
    if (!saved || !was || !vals || !ref || !acc || !m->layers) {
        st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory measuring");
        goto out;
    }
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
        st = which ? ptq_session_calibrate_activations(s, which, nw, MEASURE_IMAGES)
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
        layer_sqnr *l = &m->layers[m->n];
        l->node = i;
        l->weight_db = NAN;
        const int32_t wv = g->nodes[i].inputs[1];
        if (ptq_session_quantizer_of(s, wv) >= 0)
            l->weight_db = ptq_sqnr_db(g->values[wv].data->data, sim->values[wv].data->data,
                                       ptq_tensor_numel(g->values[wv].data));
        vals[m->n++] = g->nodes[i].outputs[0];
    }
    st = run_layers(s, g, ds, vals, m->n, ref, acc, true);
    if (!st) st = run_layers(s, sim, ds, vals, m->n, ref, acc, false);
    for (int32_t k = 0; k < m->n && !st; k++) m->layers[k].output_db = acc[k];
    m->valid = !st;
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
    for (int32_t k = 0; ref && k < g->n_nodes; k++) free(ref[k]);
    ptq_graph_free(sim);
    free(saved), free(was), free(vals), free(ref), free(acc);
    if (st) measurement_free(m);
    return st;
}

static double mean_db(const measurement *m, bool weights) {
    double sum = 0.0;
    int n = 0;
    for (int32_t k = 0; k < m->n; k++) {
        double v = weights ? m->layers[k].weight_db : m->layers[k].output_db;
        if (isfinite(v)) sum += v, n++;
    }
    return n ? sum / n : NAN;
}

/* ---- output directory ----------------------------------------------------------------- */

static int remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        rc |= remove_tree(child);
    }
    closedir(d);
    return rc | rmdir(path);
}

static int mkdir_p(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* The directory that holds `path`, created if needed. */
static ptq_status ensure_parent(const char *path, ptq_error *err) {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (!slash) return PTQ_OK;
    if (slash == parent) return PTQ_OK;
    *slash = '\0';
    if (mkdir_p(parent) != 0)
        return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot create directory: %s", parent, strerror(errno));
    return PTQ_OK;
}

/* ---- the report ------------------------------------------------------------------------ */

typedef struct pass_record {
    const ptq_pass_cfg *cfg;
    double seconds;
    measurement before, after;
} pass_record;

typedef struct run_results {
    ptq_eval_result fl, qu;
    bool have_eval;
    pass_record *passes;
    int32_t n_passes;
    measurement final;
    double seconds_total;
    const char *onnx_name;
} run_results;

static const char *gran(bool per_channel) { return per_channel ? "channel" : "tensor"; }

/* "key": {"top1": ..., "images": ..., "seconds": ...}; top1 null without evaluation. */
static void json_eval(ptq_json *j, const char *key, const ptq_eval_result *e, bool have_eval) {
    ptq_json_key(j, key);
    ptq_json_begin_object(j);
    ptq_json_key(j, "top1");
    if (have_eval) ptq_json_number(j, e->top1);
    else ptq_json_null(j);
    ptq_json_key(j, "images");
    ptq_json_int(j, e->images);
    ptq_json_key(j, "seconds");
    ptq_json_number(j, e->seconds);
    ptq_json_end_object(j);
}

static void json_spec(ptq_json *j, const ptq_qspec *q, bool on) {
    ptq_json_begin_object(j);
    ptq_json_key(j, "bits");
    ptq_json_int(j, on ? q->bits : 32);
    ptq_json_key(j, "granularity");
    ptq_json_string(j, gran(q->per_channel));
    ptq_json_key(j, "symmetric");
    ptq_json_bool(j, q->symmetric);
    ptq_json_key(j, "observer");
    ptq_json_string(j, ptq_observer_name(q->observer));
    ptq_json_key(j, "percentile");
    ptq_json_number(j, q->percentile);
    ptq_json_end_object(j);
}

static void json_measurement(ptq_json *j, const ptq_session *s, const measurement *m) {
    ptq_json_begin_array(j);
    for (int32_t k = 0; m->valid && k < m->n; k++) {
        ptq_json_begin_object(j);
        ptq_json_key(j, "name");
        ptq_json_string(j, s->g->nodes[m->layers[k].node].name);
        ptq_json_key(j, "weight_sqnr_db");
        ptq_json_number(j, m->layers[k].weight_db);
        ptq_json_key(j, "output_sqnr_db");
        ptq_json_number(j, m->layers[k].output_db);
        ptq_json_end_object(j);
    }
    ptq_json_end_array(j);
}

/* "tables": {name: [rows]} of what pass i added with host->report_row, tables in the
 * order they first appeared; nothing when it added none. */
static void json_tables(ptq_json *j, const ptq_session *s, int32_t pass) {
    bool any = false;
    for (int32_t a = 0; a < s->n_rows; a++) {
        const ptq_report_row *ra = &s->rows[a];
        if (ra->pass != pass) continue;
        bool seen = false;
        for (int32_t b = 0; b < a && !seen; b++)
            seen = s->rows[b].pass == pass && !strcmp(s->rows[b].table, ra->table);
        if (seen) continue;
        if (!any) {
            ptq_json_key(j, "tables");
            ptq_json_begin_object(j);
            any = true;
        }
        ptq_json_key(j, ra->table);
        ptq_json_begin_array(j);
        for (int32_t b = a; b < s->n_rows; b++) {
            const ptq_report_row *rb = &s->rows[b];
            if (rb->pass != pass || strcmp(rb->table, ra->table)) continue;
            ptq_json_begin_object(j);
            ptq_json_key(j, "name");
            ptq_json_string(j, rb->name);
            for (int32_t k = 0; k < rb->n; k++) {
                ptq_json_key(j, rb->cols[k]);
                ptq_json_number(j, rb->values[k]);
            }
            ptq_json_end_object(j);
        }
        ptq_json_end_array(j);
    }
    if (any) ptq_json_end_object(j);
}

static void json_params(ptq_json *j, const ptq_pass_cfg *pc) {
    ptq_json_begin_object(j);
    for (const ptq_param_def *d = pc->def->params; d && d->name; d++) {
        const char *at = (const char *)pc->params + d->offset;
        ptq_json_key(j, d->name);
        switch (d->type) {
        case PTQ_PARAM_BOOL: ptq_json_bool(j, *(const int32_t *)at != 0); break;
        case PTQ_PARAM_INT: ptq_json_int(j, *(const int64_t *)at); break;
        case PTQ_PARAM_FLOAT: ptq_json_number(j, *(const double *)at); break;
        case PTQ_PARAM_STRING: ptq_json_string(j, *(const char *const *)at); break;
        case PTQ_PARAM_ENUM: ptq_json_string(j, d->choices[*(const int32_t *)at]); break;
        default: ptq_json_null(j);
        }
    }
    ptq_json_end_object(j);
}

/* Activation bits at a layer's input (0 when not quantized). */
static int32_t act_bits(const ptq_session *s, int32_t node) {
    const int32_t q = ptq_session_quantizer_of(s, s->g->nodes[node].inputs[0]);
    return q >= 0 ? s->q[q].qp.bits : 0;
}

static int32_t weight_bits(const ptq_session *s, int32_t node) {
    const int32_t q = ptq_session_quantizer_of(s, s->g->nodes[node].inputs[1]);
    return q >= 0 ? s->q[q].qp.bits : 0;
}

static void write_report(FILE *f, const ptq_session *s, const run_results *r) {
    const ptq_pipeline *p = s->pipe;
    ptq_json j;
    ptq_json_init(&j, f);
    ptq_json_begin_object(&j);
    ptq_json_key(&j, "ptq_version");
    ptq_json_string(&j, ptq_version_string());
    ptq_json_key(&j, "pipeline");
    ptq_json_string(&j, p->path);
    ptq_json_key(&j, "model");
    ptq_json_string(&j, p->model);
    ptq_json_key(&j, "seed");
    ptq_json_int(&j, (int64_t)p->seed);
    json_eval(&j, "float", &r->fl, r->have_eval);
    json_eval(&j, "quantized", &r->qu, r->have_eval);
    ptq_json_key(&j, "config");
    ptq_json_begin_object(&j);
    ptq_json_key(&j, "weights");
    json_spec(&j, &p->weights, p->quantize_weights);
    ptq_json_key(&j, "activations");
    json_spec(&j, &p->activations, p->quantize_activations);
    ptq_json_key(&j, "quantize_input");
    ptq_json_bool(&j, p->quantize_input);
    ptq_json_key(&j, "quantize_output");
    ptq_json_bool(&j, p->quantize_output);
    ptq_json_key(&j, "calibration_images");
    ptq_json_int(&j, s->calib ? s->calib->n : 0);
    ptq_json_key(&j, "evaluation_images");
    ptq_json_int(&j, r->qu.images);
    ptq_json_key(&j, "batch");
    ptq_json_int(&j, p->batch);
    ptq_json_key(&j, "threads");
    ptq_json_int(&j, s->threads);
    ptq_json_key(&j, "passes");
    ptq_json_begin_array(&j);
    for (int32_t i = 0; i < p->n_passes; i++) {
        ptq_json_begin_object(&j);
        ptq_json_key(&j, "name");
        ptq_json_string(&j, p->passes[i].def->name);
        ptq_json_key(&j, "implicit");
        ptq_json_bool(&j, p->passes[i].implicit);
        ptq_json_key(&j, "params");
        json_params(&j, &p->passes[i]);
        ptq_json_end_object(&j);
    }
    ptq_json_end_array(&j);
    ptq_json_end_object(&j);
    ptq_json_key(&j, "passes");
    ptq_json_begin_array(&j);
    for (int32_t i = 0; i < r->n_passes; i++) {
        const pass_record *pr = &r->passes[i];
        ptq_json_begin_object(&j);
        ptq_json_key(&j, "name");
        ptq_json_string(&j, pr->cfg->def->name);
        ptq_json_key(&j, "implicit");
        ptq_json_bool(&j, pr->cfg->implicit);
        ptq_json_key(&j, "seconds");
        ptq_json_number(&j, pr->seconds);
        ptq_json_key(&j, "mean_output_sqnr_db_before");
        ptq_json_number(&j, pr->before.valid ? mean_db(&pr->before, false) : NAN);
        ptq_json_key(&j, "mean_output_sqnr_db_after");
        ptq_json_number(&j, pr->after.valid ? mean_db(&pr->after, false) : NAN);
        ptq_json_key(&j, "layers_before");
        json_measurement(&j, s, &pr->before);
        ptq_json_key(&j, "layers_after");
        json_measurement(&j, s, &pr->after);
        json_tables(&j, s, i);
        ptq_json_end_object(&j);
    }
    ptq_json_end_array(&j);
    ptq_json_key(&j, "layers");
    ptq_json_begin_array(&j);
    for (int32_t k = 0; r->final.valid && k < r->final.n; k++) {
        const layer_sqnr *l = &r->final.layers[k];
        ptq_json_begin_object(&j);
        ptq_json_key(&j, "name");
        ptq_json_string(&j, s->g->nodes[l->node].name);
        ptq_json_key(&j, "op");
        ptq_json_string(&j, ptq_op_name(s->g->nodes[l->node].op));
        ptq_json_key(&j, "weight_bits");
        ptq_json_int(&j, weight_bits(s, l->node));
        ptq_json_key(&j, "input_bits");
        ptq_json_int(&j, act_bits(s, l->node));
        ptq_json_key(&j, "weight_sqnr_db");
        ptq_json_number(&j, l->weight_db);
        ptq_json_key(&j, "output_sqnr_db");
        ptq_json_number(&j, l->output_db);
        ptq_json_end_object(&j);
    }
    ptq_json_end_array(&j);
    ptq_json_key(&j, "outputs");
    ptq_json_begin_object(&j);
    ptq_json_key(&j, "onnx");
    if (r->onnx_name) ptq_json_string(&j, r->onnx_name);
    else ptq_json_null(&j);
    ptq_json_key(&j, "report");
    ptq_json_string(&j, "report.json");
    ptq_json_end_object(&j);
    ptq_json_key(&j, "seconds");
    ptq_json_number(&j, r->seconds_total);
    ptq_json_end_object(&j);
}

/* ---- export -------------------------------------------------------------------------- */

static ptq_status export_qdq(ptq_session *s, const char *path) {
    ptq_graph *sim = ptq_session_sim_graph(s, s->q, s->n_q, &s->err);
    if (!sim) return s->err.status;
    ptq_export_weight *w = ptq_calloc_array((size_t)s->n_q, sizeof *w);
    int32_t **codes = ptq_calloc_array((size_t)s->n_q, sizeof *codes);
    int32_t nw = 0;
    ptq_status st = PTQ_OK;
    char wb[32], ab[32];
    snprintf(wb, sizeof wb, "%d", s->pipe->quantize_weights ? s->pipe->weights.bits : 32);
    snprintf(ab, sizeof ab, "%d", s->pipe->quantize_activations ? s->pipe->activations.bits : 32);
    if (!w || !codes) {
        st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory exporting");
        goto out;
    }
    for (int32_t i = 0; i < s->n_q && !st; i++) {
        if (!s->q[i].is_weight) continue;
        codes[nw] = ptq_calloc_array((size_t)ptq_tensor_numel(s->g->values[s->q[i].value].data),
                                     sizeof(int32_t));
        if (!codes[nw] || ptq_session_weight_codes(s, i, codes[nw])) {
            st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory exporting");
            break;
        }
        w[nw] = (ptq_export_weight){s->q[i].value, &s->q[i].qp, codes[nw]};
        nw++;
    }
    if (!st) {
        const char *keys[] = {"qcraft.version", "qcraft.weights.bits", "qcraft.activations.bits",
                              "qcraft.pipeline"};
        const char *vals[] = {ptq_version_string(), wb, ab, s->pipe->path};
        st = ptq_onnx_export(sim, w, nw, keys, vals, 4, path, &s->err);
    }
out:
    for (int32_t i = 0; codes && i < nw; i++) free(codes[i]);
    free(codes);
    free(w);
    ptq_graph_free(sim);
    return st;
}

/* ---- the run -------------------------------------------------------------------------- */

static void print_measure_line(const pass_record *pr) {
    double b = pr->before.valid ? mean_db(&pr->before, false) : NAN;
    double a = pr->after.valid ? mean_db(&pr->after, false) : NAN;
    fprintf(stderr, "  %-24s %8.2f s", pr->cfg->def->name, pr->seconds);
    if (isfinite(a) && isfinite(b))
        fprintf(stderr, "   mean layer-output SQNR %.1f dB -> %.1f dB", b, a);
    else if (isfinite(a))
        fprintf(stderr, "   mean layer-output SQNR -> %.1f dB", a);
    fprintf(stderr, "%s\n", pr->cfg->implicit ? "   (implicit)" : "");
}

static void eval_progress(void *ctx, const char *what, int64_t done, int64_t total) {
    ptq_session_progress(ctx, what, done, total);
}

ptq_status ptq_pipeline_execute(const ptq_pipeline *p, const ptq_registry *reg, const char *out_dir,
                                bool force, ptq_error *err) {
    (void)reg;
    const double t_start = ptq_now_seconds();
    struct stat stt;
    if (stat(out_dir, &stt) == 0 && !force)
        return ptq_error_set(err, PTQ_ERR_INVALID, "%s exists: pass --force to replace it, or "
                             "choose another --out", out_dir);
    ptq_session *s = ptq_session_new(p, err);
    if (!s) return err->status;
    s->tty = isatty(2);
    ptq_set_eval_progress(eval_progress, s);
    run_results r;
    memset(&r, 0, sizeof r);
    r.passes = ptq_calloc_array((size_t)p->n_passes + 1, sizeof *r.passes);
    ptq_dataset *eval = NULL;
    char tmp[4096] = "";
    ptq_status st = PTQ_OK;
    if (!r.passes) {
        st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (p->evaluation.present) {
        eval = ptq_session_load_dataset(s, &p->evaluation, "evaluation", err);
        if (!eval) {
            st = err->status;
            goto done;
        }
        fprintf(stderr, "evaluating the float model on %" PRId64 " images\n", eval->n);
        st = ptq_evaluate(s->g, eval, p->batch, s->threads, NULL, &r.fl, err);
        if (st) goto done;
        r.have_eval = true;
    }
    fprintf(stderr, "running %d passes\n", p->n_passes);
    for (int32_t i = 0; i < p->n_passes; i++) {
        const ptq_pass_cfg *pc = &p->passes[i];
        pass_record *pr = &r.passes[r.n_passes++];
        pr->cfg = pc;
        memset(&s->err, 0, sizeof s->err);
        if ((st = measure(s, eval, &pr->before))) break;
        s->pass_name = pc->def->name;
        s->pass_index = i;
        const double t0 = ptq_now_seconds();
        st = pc->def->run(ptq_host_table(), s, pc->params);
        pr->seconds = ptq_now_seconds() - t0;
        s->pass_name = NULL;
        if (st) {
            ptq_error_set(err, st, "pass '%s' failed: %s", pc->def->name,
                          s->err.msg[0] ? s->err.msg : ptq_status_name(st));
            goto done;
        }
        memset(&s->err, 0, sizeof s->err);
        if ((st = measure(s, eval, &pr->after))) break;
        print_measure_line(pr);
    }
    if (st) {
        ptq_error_set(err, st, "measuring: %s", s->err.msg);
        goto done;
    }
    for (int32_t i = 0; i < s->n_q; i++)
        if (!s->q[i].calibrated) {
            st = ptq_error_set(err, PTQ_ERR_INVALID, "quantizer of '%s' was never calibrated",
                               s->g->values[s->q[i].value].name);
            goto done;
        }
    memset(&s->err, 0, sizeof s->err);
    if ((st = measure(s, eval, &r.final))) {
        ptq_error_set(err, st, "measuring: %s", s->err.msg);
        goto done;
    }
    if (eval) {
        ptq_graph *sim = ptq_session_sim_graph(s, s->q, s->n_q, err);
        if (!sim) {
            st = err->status;
            goto done;
        }
        fprintf(stderr, "evaluating the quantized model on %" PRId64 " images\n", eval->n);
        st = ptq_evaluate(sim, eval, p->batch, s->threads, NULL, &r.qu, err);
        ptq_graph_free(sim);
        if (st) goto done;
    }
    /* Everything goes into a fresh directory beside the target, renamed into place at
     * the end: a failed or interrupted run never leaves a half-written output. */
    if ((st = ensure_parent(out_dir, err))) goto done;
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out_dir);
    if (!mkdtemp(tmp)) {
        st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot create a temporary directory: %s", tmp,
                           strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    if (p->export_onnx) {
        char path[4096 + 256];
        snprintf(path, sizeof path, "%s/%s", tmp, p->onnx_name);
        memset(&s->err, 0, sizeof s->err);
        if ((st = export_qdq(s, path))) {
            ptq_error_set(err, st, "exporting the QDQ model: %s", s->err.msg);
            goto done;
        }
        r.onnx_name = p->onnx_name;
    }
    {
        char path[4096 + 64];
        snprintf(path, sizeof path, "%s/pipeline.yaml", tmp);
        FILE *f = fopen(path, "w");
        if (f) {
            ptq_pipeline_print(p, f);
            if (fclose(f) != 0) f = NULL;
        }
        if (!f) {
            st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
            goto done;
        }
        r.seconds_total = ptq_now_seconds() - t_start;
        snprintf(path, sizeof path, "%s/report.json", tmp);
        f = fopen(path, "w");
        if (f) {
            write_report(f, s, &r);
            if (fclose(f) != 0) f = NULL;
        }
        if (!f) {
            st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
            goto done;
        }
    }
    if (stat(out_dir, &stt) == 0) {
        char old[4096 + 32];
        snprintf(old, sizeof old, "%s.old-XXXXXX", out_dir);
        if (!mkdtemp(old) || rmdir(old) != 0 || rename(out_dir, old) != 0) {
            st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot move the old output aside: %s", out_dir,
                               strerror(errno));
            goto done;
        }
        if (rename(tmp, out_dir) != 0) {
            st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot rename into place: %s", out_dir,
                               strerror(errno));
            rename(old, out_dir);
            goto done;
        }
        remove_tree(old);
    } else if (rename(tmp, out_dir) != 0) {
        st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot rename into place: %s", out_dir, strerror(errno));
        goto done;
    }
    tmp[0] = '\0';
    /* The summary. */
    printf("\nqcraft %s — %s\n", ptq_version_string(), p->path);
    printf("model       %s\n", p->model);
    printf("quantized   weights %s, activations %s; %d quantizers\n",
           p->quantize_weights ? (p->weights.per_channel ? "per-channel" : "per-tensor") : "float",
           p->quantize_activations ? "per-tensor" : "float", s->n_q);
    if (r.have_eval)
        printf("top-1       float %.2f %%  ->  quantized %.2f %%   (%+.2f points, %" PRId64 " images)\n",
               100.0 * r.fl.top1, 100.0 * r.qu.top1, 100.0 * (r.qu.top1 - r.fl.top1), r.qu.images);
    else
        printf("top-1       (no evaluation data configured)\n");
    printf("layers      mean weight SQNR %.1f dB, mean output SQNR %.1f dB\n", mean_db(&r.final, true),
           mean_db(&r.final, false));
    printf("output      %s/%s%s\n", out_dir, r.onnx_name ? r.onnx_name : "report.json",
           r.onnx_name ? "  (+ report.json, pipeline.yaml)" : "");
    printf("time        %.1f s\n", ptq_now_seconds() - t_start);
done:
    ptq_set_eval_progress(NULL, NULL);
    if (tmp[0]) remove_tree(tmp);
    for (int32_t i = 0; r.passes && i < r.n_passes; i++) {
        measurement_free(&r.passes[i].before);
        measurement_free(&r.passes[i].after);
    }
    measurement_free(&r.final);
    free(r.passes);
    ptq_dataset_free(eval);
    ptq_session_free(s);
    return st;
}

/* ---- entry points ----------------------------------------------------------------------- */

ptq_status ptq_run_file(const char *path, const ptq_run_options *opts, ptq_error *err) {
    ptq_run_options o = {0};
    if (opts) o = *opts;
    ptq_registry *reg = ptq_registry_load(o.plugin_dir, err);
    if (!reg) return err->status;
    for (int32_t i = 0; i < reg->n_rejected; i++) fprintf(stderr, "warning: plugin not loaded: %s\n", reg->rejected[i]);
    ptq_pipeline *p = ptq_pipeline_load(path, reg, err);
    ptq_status st = p ? PTQ_OK : err->status;
    if (!st && o.threads > 0) p->threads = o.threads;
    if (!st && o.dry_run) {
        ptq_pipeline_print(p, stdout);
    } else if (!st) {
        st = ptq_pipeline_execute(p, reg, o.out_dir ? o.out_dir : p->out_dir, o.force, err);
    }
    ptq_pipeline_free(p);
    ptq_registry_free(reg);
    return st;
}

static const char *type_name(ptq_param_type t) {
    switch (t) {
    case PTQ_PARAM_BOOL: return "bool";
    case PTQ_PARAM_INT: return "int";
    case PTQ_PARAM_FLOAT: return "float";
    case PTQ_PARAM_STRING: return "string";
    case PTQ_PARAM_ENUM: return "enum";
    default: return "?";
    }
}

static void print_list(FILE *out, const char *label, const char *const *items) {
    if (!items || !items[0]) return;
    fprintf(out, "      %-9s", label);
    for (int i = 0; items[i]; i++) fprintf(out, "%s%s", i ? ", " : "", items[i]);
    fputc('\n', out);
}

static void print_pass(FILE *out, const ptq_pass_def *d) {
    fprintf(out, "  %s\n      %s\n", d->name, d->summary ? d->summary : "");
    print_list(out, "reads:", d->reads);
    print_list(out, "uses:", d->reads_optional);
    print_list(out, "writes:", d->writes);
    for (const ptq_param_def *q = d->params; q && q->name; q++) {
        char def[128] = "", range[96] = "";
        switch (q->type) {
        case PTQ_PARAM_BOOL: snprintf(def, sizeof def, "%s", q->def != 0 ? "true" : "false"); break;
        case PTQ_PARAM_INT:
            snprintf(def, sizeof def, "%.0f", q->def);
            snprintf(range, sizeof range, " [%.0f..%.0f]", q->min, q->max);
            break;
        case PTQ_PARAM_FLOAT:
            snprintf(def, sizeof def, "%g", q->def);
            snprintf(range, sizeof range, " [%g..%g]", q->min, q->max);
            break;
        case PTQ_PARAM_STRING: snprintf(def, sizeof def, "\"%s\"", q->def_string ? q->def_string : ""); break;
        case PTQ_PARAM_ENUM: {
            snprintf(def, sizeof def, "%s", q->choices[(int)q->def]);
            size_t at = 0;
            at += (size_t)snprintf(range + at, sizeof range - at, " {");
            for (int i = 0; q->choices[i] && at < sizeof range; i++)
                at += (size_t)snprintf(range + at, sizeof range - at, "%s%s", i ? "|" : "", q->choices[i]);
            if (at < sizeof range) snprintf(range + at, sizeof range - at, "}");
            break;
        }
        default: break;
        }
        fprintf(out, "      %-16s %-6s %s%s%s  %s\n", q->name, type_name(q->type),
                (q->flags & PTQ_PARAM_REQUIRED) ? "(required)" : "= ",
                (q->flags & PTQ_PARAM_REQUIRED) ? "" : def, range, q->help ? q->help : "");
    }
}

ptq_status ptq_list_plugins(const char *name, const char *plugin_dir, FILE *out, ptq_error *err) {
    ptq_registry *reg = ptq_registry_load(plugin_dir, err);
    if (!reg) return err->status;
    ptq_status st = PTQ_OK;
    bool shown = false;
    for (int32_t i = 0; i < reg->n_plugins; i++) {
        const ptq_loaded_plugin *pl = &reg->plugins[i];
        const bool whole = !name || !strcmp(name, pl->desc->name);
        bool any = whole;
        for (int32_t k = 0; !any && pl->desc->passes[k]; k++) any = !strcmp(name, pl->desc->passes[k]->name);
        if (!any) continue;
        shown = true;
        fprintf(out, "%s %s — %s\n  (%s)\n", pl->desc->name, pl->desc->version, pl->desc->summary ? pl->desc->summary : "",
                pl->path);
        for (int32_t k = 0; pl->desc->passes[k]; k++)
            if (whole || !strcmp(name, pl->desc->passes[k]->name)) print_pass(out, pl->desc->passes[k]);
        fputc('\n', out);
    }
    if (name && !shown) st = ptq_error_set(err, PTQ_ERR_INVALID, "no plugin or pass named '%s' is loaded", name);
    if (!name) {
        fprintf(out, "searched:");
        for (int32_t i = 0; i < reg->n_searched; i++) fprintf(out, " %s", reg->searched[i]);
        fprintf(out, "%s\n", reg->n_searched ? "" : " (no plugin directory found; set PTQ_PLUGIN_PATH)");
    }
    for (int32_t i = 0; i < reg->n_rejected; i++) fprintf(out, "not loaded: %s\n", reg->rejected[i]);
    ptq_registry_free(reg);
    return st;
}
