/* session.c — one run of one pipeline: datasets, BatchNormalization folding, quantizer
 * placement and calibration, and the simulated (fake-quantized) model.
 *
 * The working graph is always the float model after the host's rewrites.  The quantized
 * model is built from it on demand (ptq_session_sim_graph): a copy whose quantized
 * weights hold their fake-quantized values and in which a FAKE_QUANT node follows every
 * quantized activation, feeding exactly the consumers that quantize it.  It is the same
 * graph the QDQ export writes, which is why simulation and deployment agree. */
#include <inttypes.h>
#include <stdarg.h>

#include "session.h"

/* ------------------------------------------------------------------ basics ---- */

uint64_t ptq_session_rng(ptq_session *s) {
    /* splitmix64: simple, seedable, reproducible across platforms */
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Seconds as "42 s", "3 min 05 s" or "1 h 02 min". */
static void fmt_duration(double t, char *buf, size_t size) {
    if (!(t >= 0)) t = 0;
    const long sec = (long)(t + 0.5);
    if (sec < 60) snprintf(buf, size, "%ld s", sec);
    else if (sec < 3600) snprintf(buf, size, "%ld min %02ld s", sec / 60, sec % 60);
    else snprintf(buf, size, "%ld h %02ld min", sec / 3600, sec / 60 % 60);
}

void ptq_session_progress(ptq_session *s, const char *what, int64_t done, int64_t total) {
    if (s->progress_sink) {
        s->progress_sink(s->progress_sink_ctx, what, done, total);
        return;
    }
    if (!s->tty || total <= 0) return;
    const double t = ptq_now_seconds();
    /* A new step starts when the label changes or the count goes back. */
    if (what != s->progress_what || done < s->progress_last) {
        s->progress_t0 = t;
        s->progress_what = what;
    }
    s->progress_last = done;
    /* Only for steps that run longer than a second: short ones would just flicker; and at
     * most ten redraws a second. */
    if (t - s->progress_t0 < 1.0 && !s->progress_drawn) return;
    if (done >= total) {
        if (s->progress_drawn) fprintf(stderr, "\r%*s\r", s->progress_width, "");
        s->progress_drawn = false;
        fflush(stderr);
        return;
    }
    if (s->progress_drawn && t - s->progress_t_drawn < 0.1) return;
    s->progress_t_drawn = t;
    const double elapsed = t - s->progress_t0, rate = elapsed > 0 ? (double)done / elapsed : 0;
    char el[32], eta[32];
    fmt_duration(elapsed, el, sizeof el);
    fmt_duration(rate > 0 ? (double)(total - done) / rate : 0, eta, sizeof eta);
    const int width = 24, filled = (int)(width * done / total);
    char line[512];
    int n = snprintf(line, sizeof line, "  %s [%.*s%*s] %3d%%  %s, %.3g/s, ETA %s", what, filled,
                     "########################", width - filled, "", (int)(100 * done / total), el,
                     rate, done > 0 ? eta : "?");
    if (n < 0) return;
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    /* Pad over what the last, longer line left on screen. */
    fprintf(stderr, "\r%s%*s", line, s->progress_width > n ? s->progress_width - n : 0, "");
    s->progress_width = n;
    s->progress_drawn = true;
    fflush(stderr);
}

/* ---------------------------------------------------------------- datasets ---- */

/* Which rows a dataset section selects. */
typedef struct row_choice {
    ptq_session *s;
    const ptq_dataset_cfg *c;
    bool past_end;          /* offset beyond the file */
} row_choice;

/* The file's row indices in the order a selection scans them: shuffled with the
 * pipeline's random stream when sampling (a partial Fisher-Yates of `want` rows, or all),
 * else from the offset on. */
static int64_t *scan_order(row_choice *rc, int64_t n, int64_t want, int64_t *n_scan) {
    const ptq_dataset_cfg *c = rc->c;
    int64_t *idx = ptq_calloc_array((size_t)PTQ_MAX(n, 1), sizeof *idx);
    if (!idx) return NULL;
    if (!c->sample) {
        *n_scan = PTQ_MAX(n - c->offset, 0);
        for (int64_t i = 0; i < *n_scan; i++) idx[i] = c->offset + i;
        return idx;
    }
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    for (int64_t i = 0; i < want; i++) {
        int64_t j = i + (int64_t)(ptq_session_rng(rc->s) % (uint64_t)(n - i));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    *n_scan = want;
    return idx;
}

/* per_class: the first per_class rows of every class label 0..max in scan order; a
 * class with fewer is an error (the data-scarce setting promises every class). */
static int64_t *choose_per_class(row_choice *rc, int64_t n, const int32_t *labels,
                                 int64_t *n_rows, ptq_error *err) {
    const ptq_dataset_cfg *c = rc->c;
    if (!labels) {
        ptq_error_set(err, PTQ_ERR_INVALID, "'per_class' needs labels and %s has none", c->images);
        return NULL;
    }
    int32_t classes = 0;
    for (int64_t i = 0; i < n; i++) classes = PTQ_MAX(classes, labels[i] + 1);
    int64_t n_scan = 0;
    int64_t *idx = scan_order(rc, n, n, &n_scan);
    int64_t *taken = ptq_calloc_array((size_t)PTQ_MAX(classes, 1), sizeof *taken);
    int64_t *rows = ptq_calloc_array((size_t)PTQ_MAX(classes * c->per_class, 1), sizeof *rows);
    if (!idx || !taken || !rows) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int64_t got = 0;
    for (int64_t i = 0; i < n_scan; i++) {
        const int32_t l = labels[idx[i]];
        if (l >= 0 && taken[l] < c->per_class) taken[l]++, rows[got++] = idx[i];
    }
    for (int32_t l = 0; l < classes; l++) {
        if (taken[l] == c->per_class) continue;
        ptq_error_set(err, PTQ_ERR_INVALID, "per_class: %" PRId64 " asks for %" PRId64 " images "
                      "of every class, and %s has %s%" PRId64 " of class %d%s", c->per_class,
                      c->per_class, c->labels ? c->labels : c->images, taken[l] ? "only " : "", taken[l], l,
                      c->sample ? "" : " from the offset on");
        goto fail;
    }
    free(idx);
    free(taken);
    *n_rows = got;
    return rows;
fail:
    free(idx);
    free(taken);
    free(rows);
    return NULL;
}

static int64_t *choose_rows(int64_t n, const int32_t *labels, void *ctx, int64_t *n_rows,
                            ptq_error *err) {
    row_choice *rc = ctx;
    const ptq_dataset_cfg *c = rc->c;
    if (c->per_class > 0) return choose_per_class(rc, n, labels, n_rows, err);
    int64_t want = c->count > 0 ? PTQ_MIN(c->count, n) : n;
    if (!c->sample) {
        rc->past_end = c->offset >= n;
        want = rc->past_end ? 0 : PTQ_MIN(want, n - c->offset);
    }
    int64_t n_scan = 0;
    int64_t *rows = scan_order(rc, n, want, &n_scan);
    if (!rows) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *n_rows = want;
    return rows;
}

void ptq_dataset_cfg_preprocess(const ptq_dataset_cfg *c, ptq_preprocess *pp) {
    memset(pp, 0, sizeof *pp);
    pp->n_mean = c->n_mean;
    pp->n_std = c->n_std;
    memcpy(pp->mean, c->mean, sizeof pp->mean);
    memcpy(pp->std, c->std, sizeof pp->std);
    pp->resize = c->resize;
    pp->resize_h = c->resize_h;
    pp->resize_w = c->resize_w;
    pp->pad_value = c->pad_value;
    pp->channels = c->channels;
    pp->scale = c->scale;
    pp->labels_from_folders = c->labels_folders;
    pp->skip_bad = c->skip_bad;
}

ptq_dataset *ptq_session_load_dataset(ptq_session *s, const ptq_dataset_cfg *c, const char *what,
                                      ptq_error *err) {
    ptq_preprocess pp;
    ptq_dataset_cfg_preprocess(c, &pp);
    row_choice rc = {s, c, false};
    ptq_dataset *ds = ptq_dataset_load_select(c->images, c->labels, &pp, choose_rows, &rc, err);
    if (!ds) {
        ptq_error_prefix(err, "%s data", what);
        return NULL;
    }
    if (rc.past_end) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s data: offset %" PRId64 " is past the images of "
                      "%s", what, c->offset, c->images);
        ptq_dataset_free(ds);
        return NULL;
    }
    return ds;
}

/* --------------------------------------------------------------- lifecycle ---- */

static void artifact_clear(ptq_artifact *a) {
    if (a->destroy) a->destroy(a->data);
    free(a->name);
    memset(a, 0, sizeof *a);
}

static void quantizer_clear(ptq_quantizer *q) {
    ptq_qparams_free(&q->qp);
    if (q->rounding.struct_size && q->rounding.destroy) q->rounding.destroy(q->rounding_state);
    ptq_tensor_free(q->borders);
    memset(q, 0, sizeof *q);
}

static void bn_clear(ptq_bn_stats *b) {
    free(b->bn_name);
    free(b->node_name);
    ptq_tensor_free(b->gamma);
    ptq_tensor_free(b->beta);
    ptq_tensor_free(b->mean);
    ptq_tensor_free(b->var);
}

void ptq_report_row_clear(ptq_report_row *r) {
    for (int32_t k = 0; k < r->n; k++) free(r->cols[k]);
    free(r->cols);
    free(r->values);
    free(r->table);
    free(r->name);
    memset(r, 0, sizeof *r);
}

void ptq_session_free(ptq_session *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->n_q; i++) quantizer_clear(&s->q[i]);
    for (int32_t i = 0; i < s->n_bn; i++) bn_clear(&s->bn[i]);
    for (int32_t i = 0; i < s->n_art; i++) artifact_clear(&s->art[i]);
    for (int32_t i = 0; i < s->n_rows; i++) ptq_report_row_clear(&s->rows[i]);
    for (int32_t i = 0; i < s->n_notes; i++) free(s->notes[i]);
    free(s->notes);
    free(s->rows);
    free(s->q);
    free(s->bn);
    free(s->art);
    ptq_graph_free(s->g);
    ptq_dataset_free(s->calib);
    free(s);
}

ptq_session *ptq_session_new(const ptq_session_config *p, ptq_error *err) {
    ptq_session *s = calloc(1, sizeof *s);
    if (!s) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->cfg = *p;
    s->rng = p->seed ^ 0x5EEDULL;
    s->threads = p->threads > 0 ? p->threads : ptq_default_threads();
    s->batch = p->batch;
    /* The calibration data first: a model with symbolic height and width takes their size
     * when the pipeline gives no input_shape (no random draws happen in between, so the
     * images drawn are the same either way). */
    if (p->calibration->present && !(s->calib = ptq_session_load_dataset(s, p->calibration, "calibration", err)))
        goto fail;
    ptq_import_options opts = {.input_ndim = p->input_ndim, .input_shape = p->input_shape};
    int64_t from_data[3];
    if (!p->input_ndim && s->calib) {
        ptq_input_info info;
        if (ptq_onnx_input_info(p->model, &info, err)) goto fail;
        if (info.n_symbolic && info.ndim == 4) {
            from_data[0] = s->calib->c, from_data[1] = s->calib->h, from_data[2] = s->calib->w;
            opts.input_ndim = 3;
            opts.input_shape = from_data;
        }
    }
    s->g = ptq_onnx_load(p->model, &opts, err);
    if (!s->g) goto fail;
    if (s->g->n_inputs != 1) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: the model has %d inputs; pipelines take "
                      "models with one image input", p->model, s->g->n_inputs);
        goto fail;
    }
    return s;
fail:
    ptq_session_free(s);
    return NULL;
}

/* ------------------------------------------------------------------ errors ---- */

ptq_status ptq_session_error(ptq_session *s, ptq_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ptq_error_setv(&s->err, st, fmt, ap);
    va_end(ap);
    return st;
}

/* ------------------------------------------------------------------ BN folding ---- */

ptq_bn_stats *ptq_session_bn_of(ptq_session *s, int32_t node) {
    if (node < 0 || node >= s->g->n_nodes) return NULL;
    for (int32_t i = 0; i < s->n_bn; i++)
        if (!strcmp(s->bn[i].node_name, s->g->nodes[node].name)) return &s->bn[i];
    return NULL;
}

/* A constant value private to node `user` (copied if others read it too), or -1. */
static int32_t private_constant(ptq_graph *g, int32_t value, int32_t user, const char *suffix,
                                ptq_error *err) {
    int32_t readers = ptq_graph_readers(g, value, NULL, 0);
    bool shared = readers > 1 || (g->values[value].flags & PTQ_VALUE_OUTPUT);
    if (!shared) return value;
    char name[512];
    snprintf(name, sizeof name, "%s%s", g->values[value].name, suffix);
    for (int k = 2; ptq_graph_find_value(g, name) >= 0; k++)
        snprintf(name, sizeof name, "%s%s_%d", g->values[value].name, suffix, k);
    ptq_tensor *t = ptq_tensor_clone(g->values[value].data, err);
    if (!t) return -1;
    int32_t id = ptq_graph_add_constant(g, name, t, err);
    if (id < 0) return -1;
    ptq_node *n = &g->nodes[user];
    for (int32_t k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] == value) n->inputs[k] = id;
    return id;
}

/* Folds BN node `bn` into the Conv or Gemm `prod` producing its input. */
static ptq_status fold_one(ptq_session *s, int32_t prod, int32_t bn) {
    ptq_graph *g = s->g;
    ptq_error *err = &s->err;
    ptq_node *pn = &g->nodes[prod], *bnn = &g->nodes[bn];
    const int64_t c = g->values[bnn->inputs[1]].ne[0];
    const float *gamma = g->values[bnn->inputs[1]].data->data;
    const float *beta = g->values[bnn->inputs[2]].data->data;
    const float *mean = g->values[bnn->inputs[3]].data->data;
    const float *var = g->values[bnn->inputs[4]].data->data;
    /* Keep the statistics for DFQ and FDDA (they are views into the BN's constants,
     * which stay alive until compaction: copy them). */
    ptq_bn_stats st = {0};
    st.bn_name = ptq_strdup(bnn->name);
    st.node_name = ptq_strdup(pn->name);
    st.epsilon = bnn->attrs.epsilon;
    st.gamma = ptq_tensor_clone(g->values[bnn->inputs[1]].data, err);
    st.beta = ptq_tensor_clone(g->values[bnn->inputs[2]].data, err);
    st.mean = ptq_tensor_clone(g->values[bnn->inputs[3]].data, err);
    st.var = ptq_tensor_clone(g->values[bnn->inputs[4]].data, err);
    if (!st.bn_name || !st.node_name || !st.gamma || !st.beta || !st.mean || !st.var) {
        bn_clear(&st);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory folding '%s'", bnn->name);
    }
    ptq_bn_stats *nb = realloc(s->bn, ((size_t)s->n_bn + 1) * sizeof *nb);
    if (!nb) {
        bn_clear(&st);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    s->bn = nb;
    s->bn[s->n_bn++] = st;

    /* Weights: scale output channel m by a[m] = gamma / sqrt(var + eps). */
    int32_t w = private_constant(g, pn->inputs[1], prod, "_bnfolded", err);
    if (w < 0) return err->status;
    pn = &g->nodes[prod];
    ptq_tensor *wt = g->values[w].data;
    const bool gemm = pn->op == PTQ_OP_GEMM;
    const bool trans_b = gemm && pn->attrs.gemm.trans_b;
    /* Gemm without transB stores B as [K, M]: the channel is the column. */
    const int64_t rows = gemm && !trans_b ? wt->ne[0] : c;
    const int64_t per = ptq_tensor_numel(wt) / c;
    float *wd = wt->data;
    double *a = ptq_calloc_array((size_t)c, sizeof *a);
    if (!a) return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    for (int64_t m = 0; m < c; m++) a[m] = (double)gamma[m] / sqrt((double)var[m] + (double)bnn->attrs.epsilon);
    if (gemm && !trans_b) {
        for (int64_t k = 0; k < rows; k++)
            for (int64_t m = 0; m < c; m++) wd[k * c + m] = (float)(wd[k * c + m] * a[m]);
    } else if (pn->op == PTQ_OP_CONV_TRANSPOSE) {
        /* [C_in, M / group, taps]: input channel i of group i / (C_in / group) feeds output
         * channel group * (M / group) + j through its row j. */
        const int64_t cin = wt->ne[0], mg = wt->ne[1], taps = ptq_tensor_numel(wt) / (cin * mg);
        const int64_t cg = cin / pn->attrs.conv.group;
        for (int64_t i = 0; i < cin; i++)
            for (int64_t j = 0; j < mg; j++) {
                const double am = a[(i / cg) * mg + j];
                float *row = wd + (i * mg + j) * taps;
                for (int64_t t = 0; t < taps; t++) row[t] = (float)(row[t] * am);
            }
    } else {
        for (int64_t m = 0; m < c; m++)
            for (int64_t i = 0; i < per; i++) wd[m * per + i] = (float)(wd[m * per + i] * a[m]);
    }
    /* Bias: b' = (b - mean) * a + beta; a missing bias counts as zeros. */
    const int32_t bias_slot = 2;
    int32_t b = pn->n_inputs > bias_slot ? pn->inputs[bias_slot] : -1;
    ptq_tensor *bt = NULL;
    if (b >= 0 && gemm && ptq_tensor_numel(g->values[b].data) != c) {
        /* A broadcast Gemm C (scalar or [1, M]...) becomes a per-channel [M] bias. */
        const ptq_tensor *old = g->values[b].data;
        int64_t ne = c;
        bt = ptq_tensor_new(PTQ_DTYPE_F32, 1, &ne, err);
        if (!bt) return err->status;
        for (int64_t m = 0; m < c; m++) ((float *)bt->data)[m] = ((const float *)old->data)[0];
        b = -1;
    }
    if (b >= 0) {
        b = private_constant(g, b, prod, "_bnfolded", err);
        if (b < 0) return err->status;
        pn = &g->nodes[prod];
    } else {
        if (!bt) {
            int64_t ne = c;
            bt = ptq_tensor_new(PTQ_DTYPE_F32, 1, &ne, err);
            if (!bt) return err->status;
        }
        char name[512];
        snprintf(name, sizeof name, "%s.bias_bnfolded", pn->name);
        for (int k = 2; ptq_graph_find_value(g, name) >= 0; k++)
            snprintf(name, sizeof name, "%s.bias_bnfolded_%d", pn->name, k);
        b = ptq_graph_add_constant(g, name, bt, err);
        if (b < 0) return err->status;
        pn = &g->nodes[prod];
        if (pn->n_inputs < 3) {
            int32_t *in = realloc(pn->inputs, 3 * sizeof *in);
            if (!in) return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
            pn->inputs = in;
            for (int32_t k = pn->n_inputs; k < 3; k++) in[k] = -1;
            pn->n_inputs = 3;
        }
        pn->inputs[bias_slot] = b;
        if (gemm) pn->attrs.gemm.beta = 1.0f;
    }
    float *bd = g->values[b].data->data;
    const float beta_mul = gemm ? pn->attrs.gemm.beta : 1.0f;
    for (int64_t m = 0; m < c; m++)
        bd[m] = (float)(((double)bd[m] * beta_mul - mean[m]) * a[m] + beta[m]);
    if (gemm) pn->attrs.gemm.beta = 1.0f;
    /* Gemm's alpha multiplies A*B: keep it; the weights already carry a. */
    free(a);
    /* The producer now writes the BN's output; the BN disappears. */
    const int32_t old_out = pn->outputs[0], new_out = bnn->outputs[0];
    g->values[old_out].producer = -1;
    pn->outputs[0] = new_out;
    g->values[new_out].producer = prod;
    bnn = &g->nodes[bn];
    bnn->op = PTQ_OP_NONE;
    return PTQ_OK;
}

ptq_status ptq_pass_fold_bn(const ptq_host *host, ptq_session *s, const void *params) {
    (void)host, (void)params;
    ptq_graph *g = s->g;
    int32_t folded = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        ptq_node *bn = &g->nodes[i];
        if (bn->op != PTQ_OP_BATCH_NORM) continue;
        const int32_t x = bn->inputs[0], prod = g->values[x].producer;
        if (prod < 0) continue;
        const ptq_node *pn = &g->nodes[prod];
        /* Only when the BN is the sole reader of a Conv/Gemm output with a constant weight. */
        if (pn->op != PTQ_OP_CONV && pn->op != PTQ_OP_GEMM && pn->op != PTQ_OP_CONV_TRANSPOSE)
            continue;
        if (!ptq_is_const(g, pn->inputs[1]) || g->values[x].flags & PTQ_VALUE_OUTPUT) continue;
        if (ptq_graph_readers(g, x, NULL, 0) != 1) continue;
        if (pn->op == PTQ_OP_GEMM && (pn->attrs.gemm.trans_a || g->values[x].ndim != 2)) continue;
        if (pn->n_inputs > 2 && pn->inputs[2] >= 0 && !ptq_is_const(g, pn->inputs[2])) continue;
        ptq_status st = fold_one(s, prod, i);
        if (st) return st;
        folded++;
    }
    ptq_status st = ptq_graph_compact(g, &s->err);
    if (!st) st = ptq_graph_validate(g, &s->err);
    if (st) return st;
    fprintf(stderr, "  folded %d BatchNormalization node%s\n", folded, folded == 1 ? "" : "s");
    return ptq_session_place_quantizers(s);
}

/* ----------------------------------------------------------- quantizer placement ---- */

/* The node an override keyword or name designates; -1 if none. */
static int32_t override_node(const ptq_graph *g, const char *name) {
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        const bool first = name[0] == 'f';
        int32_t found = -1;
        for (int32_t i = 0; i < g->n_nodes; i++)
            if (ptq_op_has_weights(g->nodes[i].op)) {
                found = i;
                if (first) break;
            }
        return found;
    }
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op != PTQ_OP_NONE && !strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

static void apply_fields(ptq_qspec *dst, const ptq_qspec *src, uint32_t fields) {
    if (fields & PTQ_QF_BITS) dst->bits = src->bits;
    if (fields & PTQ_QF_SYMMETRIC) dst->symmetric = src->symmetric;
    if (fields & PTQ_QF_GRANULARITY) dst->per_channel = src->per_channel;
    if (fields & PTQ_QF_OBSERVER) dst->observer = src->observer;
    if (fields & PTQ_QF_PERCENTILE) dst->percentile = src->percentile;
    if (fields & PTQ_QF_MSE_P) dst->mse_p = src->mse_p;
    if (fields & PTQ_QF_SEARCH) dst->search = src->search;
    if (fields & PTQ_QF_IMAGES) dst->images = src->images;
}

/* The weight and activation specs for node `node` after the overrides; *keep_float when
 * an override keeps it in float.  Bits 32 means "not quantized". */
static void node_specs(const ptq_session *s, int32_t node, ptq_qspec *w, ptq_qspec *a,
                       bool *keep_float) {
    const ptq_quant_config *p = s->cfg.quant;
    *w = p->weights;
    *a = p->activations;
    if (!p->quantize_weights) w->bits = 32;
    if (!p->quantize_activations) a->bits = 32;
    *keep_float = false;
    for (int32_t i = 0; i < p->n_overrides; i++) {
        const ptq_override *o = &p->overrides[i];
        bool hit = false;
        for (int32_t k = 0; k < o->n_nodes && !hit; k++) hit = override_node(s->g, o->nodes[k]) == node;
        if (!hit) continue;
        if (o->keep_float) *keep_float = true;
        apply_fields(w, &o->w, o->w_fields);
        apply_fields(a, &o->a, o->a_fields);
    }
    /* What the deployment target multiplies exactly bounds the weight grid, where integer
     * kernels run: with float or 16-bit activations the weights are dequantized. */
    w->max_code = w->bits <= 8 && a->bits <= 8 ? ptq_target_max_code(p->target) : 0;
}

static int32_t add_quantizer(ptq_session *s, int32_t value, bool is_weight, int32_t node,
                             const ptq_qspec *spec) {
    ptq_quantizer *q = realloc(s->q, ((size_t)s->n_q + 1) * sizeof *q);
    if (!q) return -1;
    s->q = q;
    memset(&q[s->n_q], 0, sizeof *q);
    q[s->n_q].value = value;
    q[s->n_q].is_weight = is_weight;
    q[s->n_q].node = node;
    q[s->n_q].spec = *spec;
    return s->n_q++;
}

int32_t ptq_session_quantizer_of(const ptq_session *s, int32_t value) {
    for (int32_t i = 0; i < s->n_q; i++)
        if (s->q[i].value == value) return i;
    return -1;
}

/* An activation quantizer with the default spec on each of the n values that has none
 * (graph inputs or outputs); -1 when out of memory. */
static int32_t add_value_quantizers(ptq_session *s, const int32_t *values, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (ptq_session_quantizer_of(s, values[i]) < 0 &&
            add_quantizer(s, values[i], false, -1, &s->cfg.quant->activations) < 0)
            return -1;
    return 0;
}

static bool is_residual_add(const ptq_graph *g, const ptq_node *n) {
    return n->op == PTQ_OP_ADD && !ptq_is_const(g, n->inputs[0]) && !ptq_is_const(g, n->inputs[1]);
}

static ptq_status place_paper(ptq_session *s);

/* Masks are not quantized: the 0/1 outputs of comparisons and the integer values of a
 * Cast to an integer type or bool (Where's condition, attention masks) are exact already,
 * and a grid over them would only blur 0 and 1.  Every other computing op's output
 * (ReduceMean, LayerNormalization, Exp, Erf, Pow, ...) is quantized like any activation
 * where a weighted layer or a residual add reads it. */
static bool is_mask_value(const ptq_graph *g, int32_t v) {
    const int32_t p = g->values[v].producer;
    if (p < 0) return false;
    const ptq_node *n = &g->nodes[p];
    return n->op == PTQ_OP_EQUAL || n->op == PTQ_OP_LESS || n->op == PTQ_OP_GREATER ||
           (n->op == PTQ_OP_CAST && n->attrs.cast_to != PTQ_DTYPE_F32 && n->attrs.cast_to != 11);
}

/* DEPLOY: weights of every Conv/Gemm/MatMul; activations at the inputs of Conv/Gemm/MatMul
 * and of Adds of two run-time values (residual adds), the network input if configured, and
 * the output if configured: where a QDQ deployment puts them.  PAPER: place_paper. */
ptq_status ptq_session_place_quantizers(ptq_session *s) {
    ptq_graph *g = s->g;
    const ptq_quant_config *p = s->cfg.quant;
    for (int32_t i = 0; i < s->n_q; i++) quantizer_clear(&s->q[i]);
    s->n_q = 0;
    for (int32_t i = 0; i < s->n_notes; i++) free(s->notes[i]);
    s->n_notes = 0;
    if (p->placement == PTQ_PLACEMENT_PAPER) return place_paper(s);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        const bool residual_add = is_residual_add(g, n);
        if (!ptq_op_has_weights(n->op) && !residual_add) continue;
        ptq_qspec w, a;
        bool keep_float;
        node_specs(s, i, &w, &a, &keep_float);
        if (keep_float) continue;
        if (ptq_op_has_weights(n->op) && ptq_is_const(g, n->inputs[1]) && w.bits != 32) {
            if (add_quantizer(s, n->inputs[1], true, i, &w) < 0) goto nomem;
        }
        if (a.bits == 32) continue;
        const int32_t n_act = residual_add ? 2 : 1;
        for (int32_t k = 0; k < n_act; k++) {
            const int32_t v = n->inputs[k];
            if (ptq_is_const(g, v) || ptq_session_quantizer_of(s, v) >= 0 || is_mask_value(g, v))
                continue;
            if ((g->values[v].flags & PTQ_VALUE_INPUT) && !p->quantize_input) continue;
            if (add_quantizer(s, v, false, -1, &a) < 0) goto nomem;
        }
    }
    if (p->quantize_output && p->quantize_activations &&
        add_value_quantizers(s, g->outputs, g->n_outputs) < 0)
        goto nomem;
    return PTQ_OK;
nomem:
    return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory placing quantizers");
}

/* Records a choice the placement made, and says it on stderr. */
static ptq_status placement_note(ptq_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ptq_status placement_note(ptq_session *s, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **n = realloc(s->notes, ((size_t)s->n_notes + 1) * sizeof *n);
    if (!n) return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    s->notes = n;
    if (!(s->notes[s->n_notes] = ptq_strdup(buf))) return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    s->n_notes++;
    fprintf(stderr, "note: placement paper: %s\n", buf);
    return PTQ_OK;
}

/* The single reader of value v, or -1 (none, or several). */
static int32_t sole_reader(const ptq_graph *g, int32_t v, int32_t *count) {
    int32_t r[2];
    *count = ptq_graph_readers(g, v, r, 2);
    return *count == 1 ? r[0] : -1;
}

/* v followed through the activation function that alone reads it (ReLU, ReLU6, ...). */
static int32_t through_activation(const ptq_graph *g, int32_t v) {
    int32_t cnt;
    const int32_t r = sole_reader(g, v, &cnt);
    return r >= 0 && ptq_is_activation(g->nodes[r].op) ? g->nodes[r].outputs[0] : v;
}

/* Ops a quantized value passes through unchanged in grid (pooling, reshaping, ReLU,
 * Expand's broadcast copy): the weighted layer after them reads the unit output before
 * them. */
static bool passes_grid(const ptq_node *n) {
    const ptq_op op = n->op;
    /* A linear Resize interpolates between grid points: only nearest keeps the grid. */
    if (op == PTQ_OP_RESIZE) return n->attrs.resize.mode == PTQ_RESIZE_NEAREST;
    return op == PTQ_OP_EXPAND || op == PTQ_OP_MAX_POOL || op == PTQ_OP_AVERAGE_POOL || op == PTQ_OP_GLOBAL_AVERAGE_POOL ||
           op == PTQ_OP_GLOBAL_MAX_POOL || op == PTQ_OP_FLATTEN || op == PTQ_OP_RESHAPE ||
           op == PTQ_OP_TRANSPOSE || op == PTQ_OP_PAD || op == PTQ_OP_RELU || op == PTQ_OP_CLIP ||
           op == PTQ_OP_SLICE || op == PTQ_OP_SPLIT;
}

/* Whether value x is computed from value v. */
static bool depends_on(const ptq_graph *g, int32_t x, int32_t v) {
    uint8_t *seen = calloc((size_t)g->n_values + 1, 1);
    int32_t *stack = ptq_calloc_array((size_t)g->n_values + 1, sizeof *stack);
    bool found = false;
    int32_t top = 0;
    /* Each value is pushed once (marked when pushed), so the stack never overflows. */
    if (seen && stack && x >= 0) stack[top++] = x, seen[x] = 1;
    while (top > 0 && !found) {
        const int32_t u = stack[--top];
        if (u == v) found = true;
        const int32_t p = g->values[u].producer;
        for (int32_t k = 0; p >= 0 && k < g->nodes[p].n_inputs; k++) {
            const int32_t in = g->nodes[p].inputs[k];
            if (in >= 0 && !seen[in]) stack[top++] = in, seen[in] = 1;
        }
    }
    free(seen);
    free(stack);
    return found;
}

/* The unit output of weighted node i: its output through its activation; if that feeds
 * a residual add alone, the add's output through its activation (the branch before an
 * add is not quantized).  Returns -1 when the output is a graph output (logits). */
static int32_t unit_output(ptq_session *s, int32_t i, ptq_status *st) {
    const ptq_graph *g = s->g;
    int32_t v = through_activation(g, g->nodes[i].outputs[0]);
    int32_t cnt;
    int32_t r = sole_reader(g, v, &cnt);
    /* Through an add chain: a residual add reading v (alone) moves the unit output to the
     * add's (activated) output; adds of adds (a branch joining twice) keep moving. */
    while (r >= 0 && is_residual_add(g, &g->nodes[r])) {
        v = through_activation(g, g->nodes[r].outputs[0]);
        r = sole_reader(g, v, &cnt);
    }
    if (cnt > 1) {
        /* Read by several nodes.  A residual add among them whose other input does not
         * come from v (v is not the fork of an identity shortcut) makes v a branch end
         * that other nodes read too: is the unit output the add's, or v?  It is quantized
         * at v, where every reader sees the same grid. */
        int32_t rd[16];
        const int32_t n = PTQ_MIN(ptq_graph_readers(g, v, rd, 16), 16);
        for (int32_t k = 0; k < n; k++) {
            const ptq_node *a = &g->nodes[rd[k]];
            if (!is_residual_add(g, a)) continue;
            const int32_t other = a->inputs[0] == v ? a->inputs[1] : a->inputs[0];
            if (depends_on(g, other, v)) continue;
            *st = placement_note(s, "'%s' ends a branch of the residual add '%s' and is read by %d "
                                 "nodes; quantized at '%s' itself, not after the add",
                                 g->values[v].name, a->name, n, g->values[v].name);
            if (*st) return -1;
            break;
        }
    }
    if (g->values[v].flags & PTQ_VALUE_OUTPUT) return -1;
    return v;
}

/* The quantized value weighted node i reads as its data input: back from inputs[0]
 * through grid-preserving ops to a value with an activation quantizer, or -1. */
static int32_t quantized_source(const ptq_session *s, int32_t i) {
    const ptq_graph *g = s->g;
    int32_t v = g->nodes[i].inputs[0];
    for (int32_t hops = 0; v >= 0 && hops < g->n_nodes; hops++) {
        const int32_t q = ptq_session_quantizer_of(s, v);
        if (q >= 0 && !s->q[q].is_weight) return q;
        const int32_t p = g->values[v].producer;
        if (p < 0 || !passes_grid(&g->nodes[p])) return -1;
        v = g->nodes[p].inputs[0];
    }
    return -1;
}

/* PAPER (METHODS.md 0.3, the placement of BRECQ's, QDrop's and MRECG's code): weights as
 * in DEPLOY; one activation quantizer at each unit output (unit_output), none on the
 * network input (unless quant.input) or the logits (unless quant.output).  A quantizer's
 * spec is the activation spec of the weighted layers that read it (through pooling and
 * reshapes: "the activation feeding the last layer is 8-bit" is an override of the last
 * layer), the widest where several disagree. */
static ptq_status place_paper(ptq_session *s) {
    ptq_graph *g = s->g;
    const ptq_quant_config *p = s->cfg.quant;
    ptq_status st = PTQ_OK;
    for (int32_t i = 0; i < g->n_nodes && !st; i++) {
        const ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_NONE || !ptq_op_has_weights(n->op)) continue;
        ptq_qspec w, a;
        bool keep_float;
        node_specs(s, i, &w, &a, &keep_float);
        if (keep_float) continue;
        if (ptq_is_const(g, n->inputs[1]) && w.bits != 32 && add_quantizer(s, n->inputs[1], true, i, &w) < 0)
            goto nomem;
        if (!p->quantize_activations) continue;
        const int32_t v = unit_output(s, i, &st);
        if (st) return st;
        if (v >= 0 && ptq_session_quantizer_of(s, v) < 0 && !is_mask_value(g, v) &&
            add_quantizer(s, v, false, -1, &p->activations) < 0)
            goto nomem;
    }
    if (p->quantize_activations && p->quantize_input && add_value_quantizers(s, g->inputs, g->n_inputs) < 0)
        goto nomem;
    if (p->quantize_activations && p->quantize_output &&
        add_value_quantizers(s, g->outputs, g->n_outputs) < 0)
        goto nomem;
    /* Specs from the readers. */
    uint8_t *set = calloc((size_t)s->n_q + 1, 1);
    if (!set) goto nomem;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == PTQ_OP_NONE || !ptq_op_has_weights(g->nodes[i].op)) continue;
        ptq_qspec w, a;
        bool keep_float;
        node_specs(s, i, &w, &a, &keep_float);
        const int32_t q = quantized_source(s, i);
        if (q < 0 || keep_float) continue;
        if (!set[q] || a.bits > s->q[q].spec.bits) s->q[q].spec = a;
        set[q] = 1;
    }
    free(set);
    /* A reader that keeps its input in float (bits 32) removes the quantizer. */
    int32_t kept = 0;
    for (int32_t i = 0; i < s->n_q; i++) {
        if (!s->q[i].is_weight && s->q[i].spec.bits == 32) {
            quantizer_clear(&s->q[i]);
            continue;
        }
        s->q[kept++] = s->q[i];
    }
    s->n_q = kept;
    return PTQ_OK;
nomem:
    return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory placing quantizers");
}

/* ------------------------------------------------------------- mixed precision ---- */

/* The activation width under weighted node `node`'s input, as placement limits its weight
 * grid: the quantizer it reads (through pooling and reshapes), else the configured one. */
static int32_t input_act_bits(const ptq_session *s, int32_t node) {
    const int32_t src = quantized_source(s, node);
    if (src >= 0) return s->q[src].spec.bits;
    ptq_qspec w, a;
    bool keep_float;
    node_specs(s, node, &w, &a, &keep_float);
    return a.bits;
}

/* The grid limit of a weight of `bits` under activations of `act_bits` (node_specs' rule). */
static int32_t weight_max_code(const ptq_session *s, int32_t bits, int32_t act_bits) {
    return bits <= 8 && act_bits <= 8 ? ptq_target_max_code(s->cfg.quant->target) : 0;
}

/* Whether weight quantizer w at `bits` under activations of `act_bits` is a grid the
 * pipeline accepts (pipeline.c's bad_weight_grid: zero-point-free codes of asymmetric
 * per-channel weights must fit the target's integer kernels); else an error. */
static ptq_status weight_grid_ok(ptq_session *s, int32_t w, int32_t bits, int32_t act_bits) {
    const ptq_quantizer *z = &s->q[w];
    const int32_t target = s->cfg.quant->target, max_bits = ptq_target_max_asym_channel_bits(target);
    if (act_bits > 8 || z->spec.symmetric || !z->spec.per_channel || bits <= max_bits) return PTQ_OK;
    return ptq_session_error(s, PTQ_ERR_UNSUPPORTED, "'%s': asymmetric per-channel weights of %d "
                             "bits need %d-bit zero-point-free codes, more than target %s allows "
                             "(%d bits at most); use symmetric weights or target: none",
                             s->g->values[z->value].name, bits, bits + 1, ptq_target_name(target),
                             max_bits);
}

/* Rebuilds quantizer i's grid at spec.bits (uncalibrated, scales 1) and drops what was
 * learned for the old one. */
static ptq_status regrid(ptq_session *s, int32_t i) {
    ptq_quantizer *z = &s->q[i];
    if (z->rounding.struct_size && z->rounding.destroy) z->rounding.destroy(z->rounding_state);
    memset(&z->rounding, 0, sizeof z->rounding);
    z->rounding_state = NULL;
    ptq_tensor_free(z->borders);
    z->borders = NULL;
    ptq_qparams_free(&z->qp);
    z->calibrated = false;
    const int32_t axis = ptq_session_weight_axis(s, i);
    const int64_t n = axis >= 0 ? s->g->values[z->value].ne[axis] : 1;
    ptq_status st = ptq_qparams_init(&z->qp, z->spec.bits, z->spec.symmetric, z->is_weight, axis, n,
                                     &s->err);
    if (st) return st;
    if (z->is_weight) ptq_qparams_limit(&z->qp, z->spec.max_code);
    return PTQ_OK;
}

ptq_status ptq_session_set_bits(ptq_session *s, int32_t i, int32_t bits) {
    ptq_quantizer *z = &s->q[i];
    const char *name = s->g->values[z->value].name;
    if (bits < 2 || (bits > 8 && bits != 16))
        return ptq_session_error(s, PTQ_ERR_INVALID, "'%s': %d bits: quantizers have 2 to 8 or 16 "
                                 "bits", name, bits);
    if (bits == z->spec.bits) return PTQ_OK;
    /* Check every grid that changes before changing any. */
    ptq_status st = PTQ_OK;
    if (z->is_weight) st = weight_grid_ok(s, i, bits, input_act_bits(s, z->node));
    for (int32_t w = 0; w < s->n_q && !st && !z->is_weight; w++)
        if (s->q[w].is_weight && quantized_source(s, s->q[w].node) == i)
            st = weight_grid_ok(s, w, s->q[w].spec.bits, bits);
    if (st) return st;
    z->spec.bits = bits;
    if (z->is_weight) z->spec.max_code = weight_max_code(s, bits, input_act_bits(s, z->node));
    if ((st = regrid(s, i))) return st;
    /* An activation crossing 8 bits moves the grid limit of the weights that read it. */
    for (int32_t w = 0; w < s->n_q && !st && !z->is_weight; w++) {
        ptq_quantizer *y = &s->q[w];
        if (!y->is_weight || quantized_source(s, y->node) != i) continue;
        const int32_t mc = weight_max_code(s, y->spec.bits, bits);
        if (mc == y->spec.max_code) continue;
        const bool was = y->calibrated;
        y->spec.max_code = mc;
        st = regrid(s, w);
        if (!st && was) st = ptq_session_calibrate_weight(s, w);
    }
    return st;
}

/* ---------------------------------------------------------------- calibration ---- */

int32_t ptq_session_weight_axis(const ptq_session *s, int32_t i) {
    const ptq_quantizer *q = &s->q[i];
    if (!q->is_weight || !q->spec.per_channel) return -1;
    const ptq_node *n = &s->g->nodes[q->node];
    /* ConvTranspose's weight is [C_in, M / group, k...]: output channels on axis 1. */
    if (n->op == PTQ_OP_CONV_TRANSPOSE) return 1;
    const bool columns = (n->op == PTQ_OP_GEMM && !n->attrs.gemm.trans_b) || n->op == PTQ_OP_MATMUL;
    if (!columns) return 0;
    return s->g->values[q->value].ndim == 2 ? 1 : -1;
}

/* Weight quantizer i from the current weights. */
ptq_status ptq_session_calibrate_weight(ptq_session *s, int32_t i) {
    ptq_quantizer *q = &s->q[i];
    ptq_qparams qp;
    const ptq_value *v = &s->g->values[q->value];
    ptq_qspec spec = q->spec;
    const int32_t axis = ptq_session_weight_axis(s, i);
    ptq_status st;
    if (axis == 1) {
        /* Observe with axes 0 and 1 swapped (a ConvTranspose weight keeps its taps
         * together), then keep axis 1. */
        int64_t ne[PTQ_MAX_DIMS];
        memcpy(ne, v->ne, sizeof ne);
        ne[0] = v->ne[1], ne[1] = v->ne[0];
        const int64_t inner = ptq_shape_numel(v->ndim, v->ne) / (v->ne[0] * v->ne[1]);
        ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, v->ndim, ne, &s->err);
        if (!t) return s->err.status;
        const float *src = v->data->data;
        float *dst = t->data;
        for (int64_t r = 0; r < v->ne[0]; r++)
            for (int64_t c = 0; c < v->ne[1]; c++)
                memcpy(dst + (c * v->ne[0] + r) * inner, src + (r * v->ne[1] + c) * inner,
                       (size_t)inner * sizeof *dst);
        st = ptq_observe_weights(t, &spec, &qp, &s->err);
        ptq_tensor_free(t);
        if (!st) qp.axis = 1;
    } else {
        if (axis < 0) spec.per_channel = false;
        st = ptq_observe_weights(v->data, &spec, &qp, &s->err);
    }
    if (st) {
        ptq_error_prefix(&s->err, "weight '%s'", v->name);
        return st;
    }
    ptq_qparams_free(&q->qp);
    q->qp = qp;
    q->calibrated = true;
    return PTQ_OK;
}

/* Activation quantizers `which` (all when NULL) from calibration images [0, n) of graph g
 * (the float working graph, or a quantized model built from it, whose values keep their
 * ids): ranges, then histograms if an observer needs them. */
static ptq_status calibrate_on(ptq_session *s, const ptq_graph *g, const int32_t *which,
                               int32_t n_which, int64_t images) {
    if (!s->calib) return ptq_session_error(s, PTQ_ERR_INVALID,
                                            "activation quantizers need calibration data (add a "
                                            "calibration: section to the pipeline)");
    int32_t *ids = ptq_calloc_array((size_t)s->n_q, sizeof *ids);
    ptq_act_observer **obs = ptq_calloc_array((size_t)s->n_q, sizeof *obs);
    int32_t *keep = ptq_calloc_array((size_t)s->n_q, sizeof *keep);
    ptq_status st = PTQ_OK;
    ptq_exec *ex = NULL;
    int32_t *sub = NULL;
    int32_t n = 0;
    if (!ids || !obs || !keep) {
        st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int32_t i = 0; i < s->n_q; i++) {
        if (s->q[i].is_weight) continue;
        bool want = !which;
        for (int32_t k = 0; which && k < n_which; k++) want |= which[k] == i;
        if (!want) continue;
        obs[n] = ptq_act_observer_new(&s->q[i].spec);
        if (!obs[n]) {
            st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
            goto out;
        }
        ids[n] = i;
        keep[n] = s->q[i].value;
        n++;
    }
    if (n == 0) goto out;
    int64_t total = images > 0 ? PTQ_MIN(images, s->calib->n) : s->calib->n;
    /* No need to run past the most images any observer asks for. */
    int64_t most = 0;
    for (int32_t k = 0; k < n && most >= 0; k++)
        most = s->q[ids[k]].spec.images > 0 ? PTQ_MAX(most, s->q[ids[k]].spec.images) : -1;
    if (most > 0) total = PTQ_MIN(total, most);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = PTQ_MIN(s->batch, total);
    eo.threads = s->threads;
    eo.keep = keep;
    eo.n_keep = n;
    /* Only the nodes the observed values depend on: the quantized-model calibration
     * observes one quantizer at a time and would otherwise run the whole model each. */
    sub = ptq_calloc_array((size_t)g->n_nodes + 1, sizeof *sub);
    const int32_t n_sub = sub ? ptq_graph_nodes_for(g, keep, n, sub) : -1;
    if (n_sub < 0) {
        st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (n_sub > 0) eo.nodes = sub, eo.n_nodes = n_sub;
    ex = ptq_exec_new(g, &eo, &s->err);
    if (!ex) {
        st = s->err.status;
        goto out;
    }
    bool hist = false;
    for (int32_t k = 0; k < n; k++) hist |= ptq_act_observer_wants_histogram(obs[k]);
    const int64_t per = (int64_t)s->calib->c * s->calib->h * s->calib->w;
    for (int pass = 0; pass < (hist ? 2 : 1) && !st; pass++) {
        for (int64_t at = 0; at < total && !st; at += eo.max_batch) {
            const int64_t nb = PTQ_MIN(eo.max_batch, total - at);
            ptq_exec_bind(ex, s->g->inputs[0], s->calib->images + at * per);
            st = ptq_exec_run(ex, nb, &s->err);
            for (int32_t k = 0; k < n && !st; k++) {
                /* A quantizer's `images` limits what its observer sees to the first ones. */
                const int64_t lim = s->q[ids[k]].spec.images;
                if (lim > 0 && at >= lim) continue;
                const int64_t use = lim > 0 ? PTQ_MIN(nb, lim - at) : nb;
                int32_t nd;
                int64_t ne[PTQ_MAX_DIMS];
                ptq_exec_shape(ex, keep[k], &nd, ne);
                const float *d = ptq_exec_data(ex, keep[k]);
                const int64_t cnt = ptq_shape_numel(nd, ne) / nb * use;
                if (pass == 0) ptq_act_observer_range(obs[k], d, cnt);
                else if (ptq_act_observer_wants_histogram(obs[k])) ptq_act_observer_histogram(obs[k], d, cnt);
            }
            ptq_session_progress(s, pass ? "calibrating (histograms)" : "calibrating", at + nb, total);
        }
    }
    for (int32_t k = 0; k < n && !st; k++) {
        ptq_qparams qp;
        st = ptq_act_observer_finish(obs[k], &qp, &s->err);
        if (st) {
            ptq_error_prefix(&s->err, "activation '%s'", s->g->values[keep[k]].name);
            break;
        }
        ptq_qparams_free(&s->q[ids[k]].qp);
        s->q[ids[k]].qp = qp;
        s->q[ids[k]].calibrated = true;
    }
out:
    for (int32_t k = 0; k < n; k++) ptq_act_observer_free(obs[k]);
    ptq_exec_free(ex);
    free(sub);
    free(ids);
    free(obs);
    free(keep);
    return st;
}

ptq_status ptq_session_calibrate_activations(ptq_session *s, const int32_t *which, int32_t n_which,
                                             int64_t images) {
    return calibrate_on(s, s->g, which, n_which, images);
}

ptq_status ptq_session_calibrate_activations_quantized(ptq_session *s, int64_t images) {
    /* Topological order of the activation quantizers: by the node producing the value
     * (graph inputs, produced by none, first). */
    int32_t *order = ptq_calloc_array((size_t)s->n_q + 1, sizeof *order);
    ptq_quantizer *use = ptq_calloc_array((size_t)s->n_q + 1, sizeof *use);
    if (!order || !use) {
        free(order), free(use);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    int32_t n_act = 0, n_use = 0;
    for (int32_t i = 0; i < s->n_q; i++) {
        if (s->q[i].is_weight) {
            use[n_use++] = s->q[i];
            continue;
        }
        int32_t k = n_act++;
        const int32_t pi = s->g->values[s->q[i].value].producer;
        while (k > 0 && s->g->values[s->q[order[k - 1]].value].producer > pi) order[k] = order[k - 1], k--;
        order[k] = i;
    }
    ptq_status st = PTQ_OK;
    for (int32_t k = 0; k < n_act && !st; k++) {
        /* The model with the weights and the quantizers calibrated so far; quantizer k
         * observes its (not yet quantized) value in it. */
        ptq_graph *qg = ptq_session_sim_graph(s, use, n_use, &s->err);
        if (!qg) {
            st = s->err.status;
            break;
        }
        st = calibrate_on(s, qg, &order[k], 1, images);
        ptq_graph_free(qg);
        if (!st) use[n_use++] = s->q[order[k]];
        ptq_session_progress(s, "calibrating on the quantized model", k + 1, n_act);
    }
    free(order);
    free(use);
    return st;
}

ptq_status ptq_pass_calibrate(const ptq_host *host, ptq_session *s, const void *params) {
    (void)host;
    const ptq_calibrate_params *p = params;
    if (p->weights)
        for (int32_t i = 0; i < s->n_q; i++)
            if (s->q[i].is_weight) {
                ptq_status st = ptq_session_calibrate_weight(s, i);
                if (st) return st;
            }
    if (p->activations) {
        /* Activation ranges a pass has already set (dfq.bn_ranges) are kept. */
        bool need = false;
        for (int32_t i = 0; i < s->n_q; i++) need |= !s->q[i].is_weight && !s->q[i].calibrated;
        bool any = false;
        for (int32_t i = 0; i < s->n_q; i++) any |= !s->q[i].is_weight;
        if (any && (need || s->calib)) {
            if (!s->calib && need)
                return ptq_session_error(s, PTQ_ERR_INVALID, "activation quantizers need "
                                         "calibration data (add a calibration: section)");
            if (s->calib) return ptq_session_calibrate_activations(s, NULL, 0, p->images);
        }
    }
    return PTQ_OK;
}

/* ------------------------------------------------------------ the quantized model ---- */

/* y = fake-quantized weights of quantizer q, with its rounding function if it has one. */
static void fake_quant_weight(const ptq_quantizer *q, const ptq_value *v, float *y) {
    ptq_fake_quant_tensor_rounded(&q->qp, v->ndim, v->ne, v->data->data, y,
                                  q->rounding.struct_size ? &q->rounding : NULL,
                                  q->rounding_state);
}

ptq_status ptq_session_weight_codes(const ptq_session *s, int32_t i, int32_t *codes) {
    const ptq_quantizer *q = &s->q[i];
    const ptq_value *v = &s->g->values[q->value];
    const int64_t total = ptq_tensor_numel(v->data);
    float *y = ptq_calloc_array((size_t)total, sizeof *y);
    if (!y) return PTQ_ERR_NOMEM;
    fake_quant_weight(q, v, y);
    /* Recover the integer codes from the dequantized values (exact: y = (q - zp) * s). */
    int64_t inner = total, c = 1;
    if (q->qp.axis >= 0) {
        inner = 1;
        for (int32_t d = q->qp.axis + 1; d < v->ndim; d++) inner *= v->ne[d];
        c = v->ne[q->qp.axis];
    }
    for (int64_t k = 0; k < total; k++) {
        const int64_t ch = q->qp.axis >= 0 ? (k / inner) % c : 0;
        codes[k] = (int32_t)lrintf(y[k] / q->qp.scale[ch]) + q->qp.zero_point[ch];
    }
    free(y);
    return PTQ_OK;
}

/* Adds the per-quantizer constants (scale, zero point) a FAKE_QUANT node reads. */
static int32_t qparam_constant(ptq_graph *g, const char *base, const char *suffix, ptq_dtype dt,
                               const void *data, int64_t n, ptq_error *err) {
    char name[512];
    snprintf(name, sizeof name, "%s%s", base, suffix);
    for (int k = 2; ptq_graph_find_value(g, name) >= 0; k++)
        snprintf(name, sizeof name, "%s%s_%d", base, suffix, k);
    ptq_tensor *t = ptq_tensor_new(dt, 1, &n, err);
    if (!t) return -1;
    memcpy(t->data, data, (size_t)n * ptq_dtype_size(dt));
    return ptq_graph_add_constant(g, name, t, err);
}

/* Appends a FAKE_QUANT node for each activation quantizer on value `defined` (just
 * defined by the last node added, or a graph input) and records its output in fq_of. */
static ptq_status emit_fake_quants(const ptq_session *s, ptq_graph *g, const ptq_quantizer *qs,
                                   int32_t n_q, int32_t defined, int32_t *fq_of, ptq_error *err) {
    const ptq_graph *src = s->g;
    for (int32_t i = 0; i < n_q; i++) {
        const ptq_quantizer *q = &qs[i];
        if (q->is_weight || q->value != defined) continue;
        if (!q->calibrated)
            return ptq_error_set(err, PTQ_ERR_INVALID,
                                 "the quantizer of activation '%s' has no scale yet",
                                 src->values[q->value].name);
        char nm[512];
        snprintf(nm, sizeof nm, "%s_qdq", src->values[q->value].name);
        for (int k = 2; ptq_graph_find_value(g, nm) >= 0; k++)
            snprintf(nm, sizeof nm, "%s_qdq_%d", src->values[q->value].name, k);
        const int32_t sc = qparam_constant(g, nm, "_scale", PTQ_DTYPE_F32, q->qp.scale, q->qp.n, err);
        if (sc < 0) return err->status;
        const int32_t zp = qparam_constant(g, nm, "_zero_point", PTQ_DTYPE_I32, q->qp.zero_point,
                                           q->qp.n, err);
        if (zp < 0) return err->status;
        const int32_t out = ptq_graph_add_value(g, nm, PTQ_DTYPE_F32, 0, NULL, err);
        if (out < 0) return err->status;
        const int32_t in3[3] = {q->value, sc, zp};
        const int32_t id = ptq_graph_add_node(g, PTQ_OP_FAKE_QUANT, nm, 3, in3, 1, &out, err);
        if (id < 0) return err->status;
        ptq_node_attrs *a = &g->nodes[id].attrs;
        a->qmin = q->qp.qmin;
        a->qmax = q->qp.qmax;
        a->q_axis = q->qp.axis;
        if (q->rounding.struct_size) {
            /* The node keeps a pointer to the rounding: the session's own quantizer's,
             * which outlives the graph, not the caller's copy qs may be. */
            const int32_t own = ptq_session_quantizer_of(s, q->value);
            a->q_rounding = own >= 0 ? &s->q[own].rounding : &q->rounding;
            a->q_rounding_state = q->rounding_state;
        }
        if (q->borders) { /* the fourth input: learned rounding borders */
            ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, q->borders->ndim, q->borders->ne, err);
            if (!t) return err->status;
            memcpy(t->data, q->borders->data, (size_t)ptq_tensor_numel(t) * sizeof(float));
            char bn[560];
            snprintf(bn, sizeof bn, "%s_borders", nm);
            for (int k = 2; ptq_graph_find_value(g, bn) >= 0; k++) snprintf(bn, sizeof bn, "%s_borders_%d", nm, k);
            const int32_t b = ptq_graph_add_constant(g, bn, t, err);
            if (b < 0) return err->status;
            ptq_node *fq = &g->nodes[id];
            int32_t *ins = realloc(fq->inputs, 4 * sizeof *ins);
            if (!ins) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
            ins[3] = b;
            fq->inputs = ins;
            fq->n_inputs = 4;
        }
        ptq_status st = ptq_graph_infer_node(g, id, err);
        if (st) return st;
        fq_of[q->value] = out;
    }
    return PTQ_OK;
}

/* The quantizer in qs of value v (a weight when `weight`), or NULL. */
static const ptq_quantizer *quantizer_in(const ptq_quantizer *qs, int32_t n_q, int32_t v,
                                         bool weight) {
    for (int32_t i = 0; i < n_q; i++)
        if (qs[i].value == v && qs[i].is_weight == weight && qs[i].calibrated) return &qs[i];
    return NULL;
}

/* A bias code |k| >= 2^31 does not fit the int32 accumulator (16-bit activations and
 * weights make sx * sw ~ 1e-9): no deployment can add it that way, and onnxruntime's
 * own Cast to int32 overflows, so such a channel keeps its float bias. */
#define BIAS_CODE_LIMIT 2147483648.0f

/* An integer deployment adds a Conv/ConvTranspose/Gemm's bias to its int32 accumulator,
 * so it rounds the bias to the accumulator's grid sx * sw (per output channel when the
 * weights are per channel) first.  onnxruntime does it to a QDQ model's float bias at
 * every optimisation level from `basic` (WeightBiasQuantization: round(b / (sx * sw)) in
 * float32, half to even) whenever the input comes from a per-tensor DequantizeLinear and
 * the weights from one.  A bias error of up to half a step sx * sw per channel is far
 * below one output step, but it is the same offset on every pixel of a channel, so on a
 * deep detector it flipped 0.1 % of the codes of each layer, always the same way, and
 * cost 0.6 dB (textdet_op9: 36.1 dB simulated, 35.5 dB in onnxruntime).  The simulation
 * therefore computes with the bias on that grid, and the export carries it so (float
 * values k * sx * sw that onnxruntime's rounding gives back unchanged).  Target `none`
 * keeps the papers' float bias.
 *
 * The bias of node `node` of g that is put on the grid, or -1 (it keeps its float bias);
 * *qx and *qw are the quantizers of its input and weight among qs. */
static int32_t grid_bias_of(const ptq_session *s, const ptq_graph *g, const ptq_quantizer *qs,
                            int32_t n_q, int32_t node, const ptq_quantizer **qx,
                            const ptq_quantizer **qw) {
    if (!s->cfg.quant || s->cfg.quant->target == PTQ_TARGET_NONE) return -1;
    const ptq_node *n = &g->nodes[node];
    if (n->op != PTQ_OP_CONV && n->op != PTQ_OP_CONV_TRANSPOSE && n->op != PTQ_OP_GEMM) return -1;
    if (n->n_inputs < 3 || n->inputs[2] < 0 || !ptq_is_const(g, n->inputs[2])) return -1;
    *qx = quantizer_in(qs, n_q, n->inputs[0], false);
    *qw = quantizer_in(qs, n_q, n->inputs[1], true);
    if (!*qx || !*qw || (*qx)->qp.n != 1) return -1;
    const ptq_tensor *b = g->values[n->inputs[2]].data;
    if (b->dtype != PTQ_DTYPE_F32 || b->ndim != 1) return -1;
    /* A grouped ConvTranspose's per-channel scales cover M / group channels, not M. */
    if ((*qw)->qp.n != 1 && (*qw)->qp.n != b->ne[0]) return -1;
    return n->inputs[2];
}

/* bias[o] (c channels) onto the grid sx * sw[o] (sw: n_sw = 1 or c scales), in place. */
static void bias_to_grid(float sx, const float *sw, int64_t n_sw, float *bias, int64_t c) {
    for (int64_t o = 0; o < c; o++) {
        const float step = sx * sw[n_sw == 1 ? 0 : o];
        if (!(step > 0.0f) || !isfinite(step)) continue;
        const float k = rintf(bias[o] / step);
        if (!(fabsf(k) < BIAS_CODE_LIMIT)) continue;
        bias[o] = k * step;
    }
}

/* Node `node` of g (a clone of s->g: the same node ids) with its bias on the accumulator's
 * grid, in a constant of its own. */
static ptq_status bias_on_accumulator_grid(const ptq_session *s, ptq_graph *g,
                                           const ptq_quantizer *qs, int32_t n_q, int32_t node,
                                           ptq_error *err) {
    const ptq_quantizer *qx, *qw;
    const int32_t b = grid_bias_of(s, g, qs, n_q, node, &qx, &qw);
    if (b < 0) return PTQ_OK;
    const int32_t own = private_constant(g, b, node, "_accgrid", err);
    if (own < 0) return err->status;
    ptq_tensor *t = g->values[own].data;
    bias_to_grid(qx->qp.scale[0], qw->qp.scale, qw->qp.n, t->data, t->ne[0]);
    return PTQ_OK;
}

int32_t ptq_session_bias_to_grid(const ptq_session *s, int32_t node, float in_scale,
                                 const float *w_scales, int64_t n_scales, float *bias) {
    if (node < 0 || node >= s->g->n_nodes) return 0;
    const ptq_quantizer *qx, *qw;
    const int32_t b = grid_bias_of(s, s->g, s->q, s->n_q, node, &qx, &qw);
    if (b < 0 || n_scales != qw->qp.n) return 0;
    bias_to_grid(in_scale, w_scales, n_scales, bias, s->g->values[b].data->ne[0]);
    return 1;
}

ptq_graph *ptq_session_sim_graph(ptq_session *s, const ptq_quantizer *qs, int32_t n_q,
                                 ptq_error *err) {
    const ptq_graph *src = s->g;
    ptq_graph *g = ptq_graph_clone(src, err);
    if (!g) return NULL;
    /* Biases on the int32 accumulator's grid, as the deployment targets compute them
     * (`none` keeps the papers' float bias). */
    for (int32_t i = 0; i < src->n_nodes; i++)
        if (bias_on_accumulator_grid(s, g, qs, n_q, i, err)) goto fail;
    /* Weights: fake-quantized values in place. */
    for (int32_t i = 0; i < n_q; i++) {
        const ptq_quantizer *q = &qs[i];
        if (!q->is_weight) continue;
        if (!q->calibrated) {
            ptq_error_set(err, PTQ_ERR_INVALID, "the quantizer of weight '%s' has no scale yet",
                          src->values[q->value].name);
            goto fail;
        }
        fake_quant_weight(q, &src->values[q->value], g->values[q->value].data->data);
    }
    /* Activations: rebuild the node list with a FAKE_QUANT after each quantized value. */
    ptq_node *old = g->nodes;
    const int32_t n_old = g->n_nodes;
    g->nodes = NULL;
    g->n_nodes = g->cap_nodes = 0;
    for (int32_t v = 0; v < g->n_values; v++) g->values[v].producer = -1;
    int32_t *fq_of = ptq_calloc_array((size_t)src->n_values + 1, sizeof *fq_of);
    if (!fq_of) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        for (int32_t i = 0; i < n_old; i++) {
            free(old[i].name), free(old[i].inputs), free(old[i].outputs);
        }
        free(old);
        goto fail;
    }
    for (int32_t v = 0; v < src->n_values; v++) fq_of[v] = -1;
    ptq_status st = PTQ_OK;
    for (int32_t k = 0; k < src->n_inputs && !st; k++)
        st = emit_fake_quants(s, g, qs, n_q, src->inputs[k], fq_of, err);
    for (int32_t i = 0; i < n_old && !st; i++) {
        ptq_node *n = &old[i];
        if (n->op == PTQ_OP_NONE) continue;
        /* Consumers read the quantized version of a quantized value... */
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0 && fq_of[n->inputs[k]] >= 0) n->inputs[k] = fq_of[n->inputs[k]];
        int32_t id = ptq_graph_add_node(g, n->op, n->name, n->n_inputs, n->inputs, n->n_outputs,
                                        n->outputs, err);
        if (id < 0) {
            st = err->status;
            break;
        }
        g->nodes[id].attrs = n->attrs;
        for (int32_t k = 0; k < n->n_outputs && !st; k++)
            st = emit_fake_quants(s, g, qs, n_q, n->outputs[k], fq_of, err);
    }
    /* ...and so does the graph output when it is quantized. */
    for (int32_t k = 0; k < g->n_outputs && !st; k++) {
        const int32_t v = g->outputs[k];
        if (fq_of[v] >= 0) {
            g->values[v].flags &= ~PTQ_VALUE_OUTPUT;
            g->outputs[k] = fq_of[v];
            g->values[fq_of[v]].flags |= PTQ_VALUE_OUTPUT;
        }
    }
    for (int32_t i = 0; i < n_old; i++) {
        free(old[i].name);
        free(old[i].inputs);
        free(old[i].outputs);
    }
    free(old);
    free(fq_of);
    if (!st) st = ptq_graph_validate(g, err);
    if (st) goto fail;
    return g;
fail:
    ptq_graph_free(g);
    return NULL;
}

ptq_status ptq_session_set_borders(ptq_session *s, int32_t q, const float *borders,
                                   int64_t channels, int64_t bins) {
    ptq_quantizer *z = &s->q[q];
    const ptq_value *v = &s->g->values[z->value];
    if (!borders) {
        ptq_tensor_free(z->borders);
        z->borders = NULL;
        return PTQ_OK;
    }
    if (z->is_weight)
        return ptq_session_error(s, PTQ_ERR_INVALID, "'%s': rounding borders are for activation "
                                 "quantizers (a weight's codes come from its rounding function)", v->name);
    int32_t lo, hi;
    bool is_signed;
    ptq_qrange(z->spec.bits, z->spec.symmetric, false, &is_signed, &lo, &hi);
    const int64_t ch = v->ndim >= 2 ? v->ne[1] : -1;
    if (bins != (int64_t)hi - lo || (channels != 1 && (channels != ch || ch == PTQ_DIM_BATCH)))
        return ptq_session_error(s, PTQ_ERR_INVALID, "'%s': a border table of [%" PRId64 ", %" PRId64
                                 "]; its grid has %d bins and the value %" PRId64 " channels (axis 1)",
                                 v->name, channels, bins, hi - lo, ch);
    if (z->qp.scale && z->qp.axis >= 0 && z->qp.axis != 1 && z->qp.n > 1)
        return ptq_session_error(s, PTQ_ERR_UNSUPPORTED, "'%s': rounding borders need per-tensor "
                                 "scales or scales on axis 1", v->name);
    for (int64_t i = 0; i < channels * bins; i++)
        if (!(borders[i] >= 0.0f && borders[i] <= 1.0f))
            return ptq_session_error(s, PTQ_ERR_INVALID, "'%s': rounding border %g (channel %" PRId64
                                     ", bin %" PRId64 ") is outside [0, 1]", v->name,
                                     (double)borders[i], i / bins, i % bins);
    const int64_t ne[2] = {channels, bins};
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, 2, ne, &s->err);
    if (!t) return s->err.status;
    memcpy(t->data, borders, (size_t)(channels * bins) * sizeof(float));
    ptq_tensor_free(z->borders);
    z->borders = t;
    return PTQ_OK;
}

/* --------------------------------------------------------------- artifacts ---- */

ptq_status ptq_session_artifact_set(ptq_session *s, const char *name, void *data, size_t size,
                                    void (*destroy)(void *)) {
    for (int32_t i = 0; i < s->n_art; i++) {
        if (strcmp(s->art[i].name, name)) continue;
        if (s->art[i].destroy) s->art[i].destroy(s->art[i].data);
        s->art[i].data = data;
        s->art[i].size = size;
        s->art[i].destroy = destroy;
        return PTQ_OK;
    }
    ptq_artifact *a = realloc(s->art, ((size_t)s->n_art + 1) * sizeof *a);
    char *n = ptq_strdup(name);
    if (!a || !n) {
        if (a) s->art = a;
        free(n);
        if (destroy) destroy(data);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    s->art = a;
    a[s->n_art++] = (ptq_artifact){n, data, size, destroy};
    return PTQ_OK;
}

void *ptq_session_artifact_get(ptq_session *s, const char *name, size_t *size) {
    for (int32_t i = 0; i < s->n_art; i++)
        if (!strcmp(s->art[i].name, name)) {
            if (size) *size = s->art[i].size;
            return s->art[i].data;
        }
    if (size) *size = 0;
    return NULL;
}
