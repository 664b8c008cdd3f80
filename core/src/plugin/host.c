/* host.c — the function table plugins call (ptq_host in sdk/include/ptq/ptq_plugin.h):
 * the plugins' whole view of a session, checked at the boundary (ids in range, types
 * as documented) so a plugin bug becomes an error message, not a corrupted session. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "train/optim.h"
#include "train/recon.h"
#include "plugin/plugin.h"
#include "quant/session.h"

ptq_status ptq_host_init_error(ptq_status status, const char *msg);

/* ---- diagnostics ------------------------------------------------------------------ */

static void host_log(ptq_session *s, int32_t level, const char *fmt, ...) {
    static const char *tag[] = {"error", "warning", "", "debug"};
    if (level >= PTQ_LOG_DEBUG && !getenv("PTQ_DEBUG")) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *pass = s && s->pass_name ? s->pass_name : "plugin";
    /* The pass is named here; a plugin that names it (or its plugin) again is not echoed. */
    const char *body = msg, *dot = strchr(pass, '.');
    const size_t full = strlen(pass), plugin = dot ? (size_t)(dot - pass) : full;
    if (!strncmp(body, pass, full) && !strncmp(body + full, ": ", 2)) body += full + 2;
    else if (!strncmp(body, pass, plugin) && !strncmp(body + plugin, ": ", 2)) body += plugin + 2;
    fprintf(stderr, "  %s%s%s: %s\n", pass, level >= 0 && level <= 3 && *tag[level] ? " " : "",
            level >= 0 && level <= 3 ? tag[level] : "", body);
}

static ptq_status host_error(ptq_session *s, ptq_status status, const char *fmt, ...) {
    char m[PTQ_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (status >= 0) status = PTQ_ERR_INTERNAL; /* an error must be an error */
    if (!s) return ptq_host_init_error(status, m);
    return ptq_session_error(s, status, "%s", m);
}

static void host_progress(ptq_session *s, const char *what, int64_t done, int64_t total) {
    ptq_session_progress(s, what, done, total);
}

static void *host_alloc(size_t size) { return calloc(1, size ? size : 1); }
static void host_free(void *p) { free(p); }

/* ---- graph ---------------------------------------------------------------------------- */

static bool node_ok(ptq_session *s, int32_t node) {
    if (node >= 0 && node < s->g->n_nodes && s->g->nodes[node].op != PTQ_OP_NONE) return true;
    ptq_session_error(s, PTQ_ERR_INVALID, "node id %d is out of range", node);
    return false;
}

static bool value_ok(ptq_session *s, int32_t value) {
    if (value >= 0 && value < s->g->n_values) return true;
    ptq_session_error(s, PTQ_ERR_INVALID, "value id %d is out of range", value);
    return false;
}

static int32_t host_node_count(ptq_session *s) { return s->g->n_nodes; }

static ptq_status host_node_info(ptq_session *s, int32_t node, ptq_node_info *info) {
    if (!node_ok(s, node)) return PTQ_ERR_INVALID;
    const ptq_node *n = &s->g->nodes[node];
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    info->op = n->op;
    info->n_inputs = n->n_inputs;
    info->n_outputs = n->n_outputs;
    for (int32_t k = 0; k < 8; k++) info->inputs[k] = k < n->n_inputs ? n->inputs[k] : -1;
    for (int32_t k = 0; k < 4; k++) info->outputs[k] = k < n->n_outputs ? n->outputs[k] : -1;
    info->clip_min = n->attrs.clip_min;
    info->clip_max = n->attrs.clip_max;
    /* Conv and pooling attributes name their window geometry alike. */
#define COPY_WINDOW(a)                                                                     \
    do {                                                                                   \
        info->n_spatial = (a)->n_spatial;                                                  \
        for (int i = 0; i < 2; i++) {                                                      \
            info->kernel[i] = (a)->kernel[i], info->stride[i] = (a)->stride[i];            \
            info->dilation[i] = (a)->dilation[i], info->pad_begin[i] = (a)->pad_begin[i];  \
            info->pad_end[i] = (a)->pad_end[i];                                            \
        }                                                                                  \
    } while (0)
    if (n->op == PTQ_OP_CONV || n->op == PTQ_OP_CONV_TRANSPOSE) {
        info->group = n->attrs.conv.group;
        COPY_WINDOW(&n->attrs.conv);
    } else if (n->op == PTQ_OP_GEMM) {
        info->trans_b = n->attrs.gemm.trans_b;
    } else if (n->op == PTQ_OP_MAX_POOL || n->op == PTQ_OP_AVERAGE_POOL) {
        COPY_WINDOW(&n->attrs.pool);
    }
#undef COPY_WINDOW
    return PTQ_OK;
}

static const char *host_node_name(ptq_session *s, int32_t node) {
    return node_ok(s, node) ? s->g->nodes[node].name : NULL;
}

static int32_t host_value_count(ptq_session *s) { return s->g->n_values; }

static const char *host_value_name(ptq_session *s, int32_t v) {
    return value_ok(s, v) ? s->g->values[v].name : NULL;
}

static int32_t host_value_readers(ptq_session *s, int32_t v, int32_t *nodes, int32_t max) {
    return value_ok(s, v) ? ptq_graph_readers(s->g, v, nodes, max) : 0;
}

static int32_t host_value_producer(ptq_session *s, int32_t v) {
    return value_ok(s, v) ? s->g->values[v].producer : -1;
}

static ptq_status host_value_view(ptq_session *s, int32_t v, ptq_tensor_view *view) {
    if (!value_ok(s, v)) return PTQ_ERR_INVALID;
    const ptq_value *val = &s->g->values[v];
    memset(view, 0, sizeof *view);
    view->struct_size = sizeof *view;
    view->dtype = val->dtype;
    view->ndim = val->ndim;
    memcpy(view->ne, val->ne, sizeof view->ne);
    view->data = val->data ? val->data->data : NULL;
    return PTQ_OK;
}

static void host_value_changed(ptq_session *s, int32_t v) {
    /* Quantized copies are rebuilt from the working graph on every run_new, so nothing is
     * cached yet; kept as the hook later caches will need. */
    (void)s, (void)v;
}

static int32_t host_node_add_bias(ptq_session *s, int32_t node) {
    if (!node_ok(s, node)) return -1;
    ptq_graph *g = s->g;
    ptq_node *n = &g->nodes[node];
    if (n->op != PTQ_OP_CONV && n->op != PTQ_OP_GEMM && n->op != PTQ_OP_CONV_TRANSPOSE) {
        ptq_session_error(s, PTQ_ERR_INVALID, "node '%s' is not a Conv, ConvTranspose or Gemm",
                          n->name);
        return -1;
    }
    if (n->n_inputs > 2 && n->inputs[2] >= 0) return n->inputs[2];
    const ptq_value *o = &g->values[n->outputs[0]];
    int64_t c = o->ne[1];
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, 1, &c, &s->err);
    if (!t) return -1;
    char name[512];
    snprintf(name, sizeof name, "%s.bias", n->name);
    for (int k = 2; ptq_graph_find_value(g, name) >= 0; k++) snprintf(name, sizeof name, "%s.bias_%d", n->name, k);
    int32_t id = ptq_graph_add_constant(g, name, t, &s->err);
    if (id < 0) return -1;
    n = &g->nodes[node];
    if (n->n_inputs < 3) {
        int32_t *in = realloc(n->inputs, 3 * sizeof *in);
        if (!in) {
            ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
            return -1;
        }
        for (int32_t k = n->n_inputs; k < 3; k++) in[k] = -1;
        n->inputs = in;
        n->n_inputs = 3;
    }
    n->inputs[2] = id;
    if (n->op == PTQ_OP_GEMM) n->attrs.gemm.beta = 1.0f;
    return id;
}

static void view_of(const ptq_tensor *t, ptq_tensor_view *v) {
    memset(v, 0, sizeof *v);
    v->struct_size = sizeof *v;
    v->dtype = t->dtype;
    v->ndim = t->ndim;
    memcpy(v->ne, t->ne, sizeof v->ne);
    v->data = t->data;
}

static ptq_status host_bn_stats(ptq_session *s, int32_t node, ptq_tensor_view *gamma,
                                ptq_tensor_view *beta, ptq_tensor_view *mean, ptq_tensor_view *var) {
    if (!node_ok(s, node)) return PTQ_ERR_INVALID;
    const ptq_bn_stats *b = ptq_session_bn_of(s, node);
    if (!b && !gamma && !beta && !mean && !var) return PTQ_ERR_INVALID; /* a question */
    if (!b)
        return ptq_session_error(s, PTQ_ERR_INVALID, "no BatchNormalization was folded into '%s'",
                                 s->g->nodes[node].name);
    if (gamma) view_of(b->gamma, gamma);
    if (beta) view_of(b->beta, beta);
    if (mean) view_of(b->mean, mean);
    if (var) view_of(b->var, var);
    return PTQ_OK;
}

/* ---- quantizers ------------------------------------------------------------------- */

static bool q_ok(ptq_session *s, int32_t q) {
    if (q >= 0 && q < s->n_q) return true;
    ptq_session_error(s, PTQ_ERR_INVALID, "quantizer id %d is out of range", q);
    return false;
}

static int32_t host_quantizer_count(ptq_session *s) { return s->n_q; }

static int32_t host_quantizer_of(ptq_session *s, int32_t value) {
    return ptq_session_quantizer_of(s, value);
}

static ptq_status host_quantizer_view(ptq_session *s, int32_t q, ptq_quant_view *v) {
    if (!q_ok(s, q)) return PTQ_ERR_INVALID;
    ptq_quantizer *z = &s->q[q];
    /* An uncalibrated quantizer still has its grid, so passes can set the scales. */
    if (!z->qp.scale) {
        const int32_t axis = ptq_session_weight_axis(s, q);
        const int64_t n = axis >= 0 ? s->g->values[z->value].ne[axis] : 1;
        ptq_status st = ptq_qparams_init(&z->qp, z->spec.bits, z->spec.symmetric, z->is_weight,
                                         axis, n, &s->err);
        if (st) return st;
        if (z->is_weight) ptq_qparams_limit(&z->qp, z->spec.max_code);
    }
    memset(v, 0, sizeof *v);
    v->struct_size = sizeof *v;
    v->value = z->value;
    v->is_weight = z->is_weight;
    v->bits = z->qp.bits;
    v->qmin = z->qp.qmin;
    v->qmax = z->qp.qmax;
    v->axis = z->qp.axis;
    v->n = z->qp.n;
    v->scale = z->qp.scale;
    v->zero_point = z->qp.zero_point;
    v->calibrated = z->calibrated;
    return PTQ_OK;
}

static ptq_status host_quantizer_calibrate(ptq_session *s, int32_t q) {
    if (!q_ok(s, q)) return PTQ_ERR_INVALID;
    if (s->q[q].is_weight) return ptq_session_calibrate_weight(s, q);
    return ptq_session_calibrate_activations(s, &q, 1, 0);
}

static void host_quantizer_changed(ptq_session *s, int32_t q) {
    if (q >= 0 && q < s->n_q && s->q[q].qp.scale) {
        /* A pass that wrote a grid made it meaningful. */
        bool ok = true;
        for (int64_t i = 0; i < s->q[q].qp.n; i++) ok &= s->q[q].qp.scale[i] > 0.0f;
        s->q[q].calibrated = ok;
    }
}

static ptq_status host_quantizer_set_rounding(ptq_session *s, int32_t q, const ptq_rounding *r,
                                              void *state) {
    if (!q_ok(s, q)) return PTQ_ERR_INVALID;
    ptq_quantizer *z = &s->q[q];
    if (z->rounding.struct_size && z->rounding.destroy) z->rounding.destroy(z->rounding_state);
    memset(&z->rounding, 0, sizeof z->rounding);
    z->rounding_state = NULL;
    if (!r) return PTQ_OK;
    /* A plugin built against SDK 0.1/0.2 passes the struct without backward_state. */
    if (r->struct_size < offsetof(ptq_rounding, backward_state) || !r->forward)
        return ptq_session_error(s, PTQ_ERR_INVALID, "rounding function '%s' is incomplete",
                                 r->name ? r->name : "?");
    memcpy(&z->rounding, r, PTQ_MIN((size_t)r->struct_size, sizeof z->rounding));
    z->rounding.struct_size = sizeof z->rounding;
    z->rounding_state = state;
    return PTQ_OK;
}

/* ---- artifacts and data ------------------------------------------------------------ */

static ptq_status host_artifact_set(ptq_session *s, const char *name, void *data, size_t size,
                                    void (*destroy)(void *)) {
    return ptq_session_artifact_set(s, name, data, size, destroy);
}

static void *host_artifact_get(ptq_session *s, const char *name, size_t *size) {
    return ptq_session_artifact_get(s, name, size);
}

static ptq_status host_calib_view(ptq_session *s, ptq_tensor_view *images, const int32_t **labels) {
    if (!s->calib) return ptq_session_error(s, PTQ_ERR_INVALID, "the pipeline has no calibration data");
    memset(images, 0, sizeof *images);
    images->struct_size = sizeof *images;
    images->dtype = PTQ_DTYPE_F32;
    images->ndim = 4;
    images->ne[0] = s->calib->n, images->ne[1] = s->calib->c;
    images->ne[2] = s->calib->h, images->ne[3] = s->calib->w;
    images->data = s->calib->images;
    if (labels) *labels = s->calib->labels;
    return PTQ_OK;
}

static ptq_status host_calib_replace(ptq_session *s, const ptq_tensor_view *images,
                                     const int32_t *labels) {
    if (!images || images->ndim != 4 || images->dtype != PTQ_DTYPE_F32 || images->ne[0] < 1)
        return ptq_session_error(s, PTQ_ERR_INVALID, "calibration images must be float N x C x H x W");
    const ptq_value *in = &s->g->values[s->g->inputs[0]];
    for (int d = 1; d < 4; d++)
        if (in->ndim != 4 || images->ne[d] != in->ne[d])
            return ptq_session_error(s, PTQ_ERR_INVALID, "calibration images do not match the model input");
    ptq_dataset *ds = calloc(1, sizeof *ds);
    const int64_t n = images->ne[0], per = images->ne[1] * images->ne[2] * images->ne[3];
    if (ds) ds->images = ptq_calloc_array((size_t)(n * per), sizeof(float));
    if (ds && labels) ds->labels = ptq_calloc_array((size_t)n, sizeof(int32_t));
    if (!ds || !ds->images || (labels && !ds->labels)) {
        ptq_dataset_free(ds);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    ds->n = n;
    ds->c = (int32_t)images->ne[1], ds->h = (int32_t)images->ne[2], ds->w = (int32_t)images->ne[3];
    memcpy(ds->images, images->data, (size_t)(n * per) * sizeof(float));
    if (labels) memcpy(ds->labels, labels, (size_t)n * sizeof(int32_t));
    ptq_dataset_free(s->calib);
    s->calib = ds;
    return PTQ_OK;
}

/* ---- runs -------------------------------------------------------------------------- */

struct ptq_run {
    ptq_session *s;
    ptq_graph *sim;  /* owned quantized copy, or NULL for the float model */
    const ptq_graph *g;
    ptq_exec *ex;
    int32_t *map;    /* working-graph value id -> id in g */
};

static void host_run_free(ptq_run *r) {
    if (!r) return;
    ptq_exec_free(r->ex);
    ptq_graph_free(r->sim);
    free(r->map);
    free(r);
}

static int32_t run_value(ptq_run *r, int32_t v) {
    return v >= 0 && v < r->s->g->n_values ? r->map[v] : -1;
}

/* The nodes of model graph g (the working graph or its quantized copy) that a plugin's
 * subset of working-graph node ids stands for, in topological order, into *sub (caller
 * frees): value ids of the quantized copy equal the working graph's (it only appends
 * values) but node ids shift, so nodes are matched by name, and the fake quantizers on
 * the subset's inputs and outputs come with it (a subset of the quantized model reads
 * and writes quantized values, as the whole model does).  nodes NULL: every node. */
ptq_status ptq_host_subset(ptq_session *s, const ptq_graph *g, const int32_t *nodes,
                           int32_t n_nodes, int32_t **sub, int32_t *n_sub) {
    *sub = ptq_calloc_array((size_t)g->n_nodes + 1, sizeof **sub);
    uint8_t *mark = calloc((size_t)g->n_nodes + 1, 1);
    if (!*sub || !mark) {
        free(*sub), free(mark);
        *sub = NULL;
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    for (int32_t j = 0; !nodes && j < g->n_nodes; j++) mark[j] = 1;
    for (int32_t i = 0; nodes && i < n_nodes; i++) {
        if (!node_ok(s, nodes[i])) {
            free(*sub), free(mark);
            *sub = NULL;
            return PTQ_ERR_INVALID;
        }
        const char *name = s->g->nodes[nodes[i]].name;
        for (int32_t j = 0; j < g->n_nodes; j++) {
            const ptq_node *nd = &g->nodes[j];
            if (strcmp(nd->name, name)) continue;
            mark[j] = 1;
            for (int32_t k = 0; k < nd->n_inputs; k++) {
                const int32_t p = nd->inputs[k] >= 0 ? g->values[nd->inputs[k]].producer : -1;
                if (p >= 0 && g->nodes[p].op == PTQ_OP_FAKE_QUANT) mark[p] = 1;
            }
            for (int32_t k = 0; k < g->n_nodes; k++)
                if (g->nodes[k].op == PTQ_OP_FAKE_QUANT && g->nodes[k].inputs[0] == nd->outputs[0])
                    mark[k] = 1;
            break;
        }
    }
    *n_sub = 0;
    for (int32_t j = 0; j < g->n_nodes; j++)
        if (mark[j]) (*sub)[(*n_sub)++] = j;
    free(mark);
    return PTQ_OK;
}

/* A run of the float model (qs NULL) or of the quantized model with the n_q quantizers
 * qs applied (copies of the session's or a subset of them). */
static ptq_run *run_new_with(ptq_session *s, const ptq_quantizer *qs, int32_t n_q,
                             const int32_t *nodes, int32_t n_nodes, const int32_t *keep,
                             int32_t n_keep, int64_t max_batch) {
    ptq_run *r = calloc(1, sizeof *r);
    if (!r) {
        ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->s = s;
    if (qs) {
        r->sim = ptq_session_sim_graph(s, qs, n_q, &s->err);
        if (!r->sim) goto fail;
        r->g = r->sim;
    } else {
        r->g = s->g;
    }
    r->map = ptq_calloc_array((size_t)s->g->n_values, sizeof *r->map);
    int32_t *kv = ptq_calloc_array((size_t)n_keep + 1, sizeof *kv);
    if (!r->map || !kv) {
        free(kv);
        ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int32_t v = 0; v < s->g->n_values; v++) r->map[v] = v;
    int32_t *sub = NULL, n_sub = 0;
    if (nodes && ptq_host_subset(s, r->g, nodes, n_nodes, &sub, &n_sub)) {
        free(kv);
        goto fail;
    }
    for (int32_t i = 0; i < n_keep; i++) kv[i] = run_value(r, keep[i]);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.nodes = nodes ? sub : NULL;
    eo.n_nodes = n_sub;
    eo.keep = kv;
    eo.n_keep = n_keep;
    eo.max_batch = max_batch;
    eo.threads = s->threads;
    r->ex = ptq_exec_new(r->g, &eo, &s->err);
    free(sub);
    free(kv);
    if (!r->ex) goto fail;
    return r;
fail:
    host_run_free(r);
    return NULL;
}

static ptq_run *host_run_new(ptq_session *s, int32_t model, const int32_t *nodes, int32_t n_nodes,
                             const int32_t *keep, int32_t n_keep, int64_t max_batch) {
    /* An empty quantizer list is still the quantized model (a copy), not the float one. */
    static const ptq_quantizer none;
    const ptq_quantizer *qs = model == PTQ_MODEL_QUANT ? (s->n_q ? s->q : &none) : NULL;
    return run_new_with(s, qs, s->n_q, nodes, n_nodes, keep, n_keep, max_batch);
}

static ptq_status host_run_bind(ptq_run *r, int32_t value, const float *data) {
    int32_t v = run_value(r, value);
    if (v < 0 || ptq_exec_bind(r->ex, v, data))
        return ptq_session_error(r->s, PTQ_ERR_INVALID, "value %d is not an input of this run", value);
    return PTQ_OK;
}

static ptq_status host_run_exec(ptq_run *r, int64_t batch) {
    return ptq_exec_run(r->ex, batch, &r->s->err);
}

static const float *host_run_data(ptq_run *r, int32_t value) {
    int32_t v = run_value(r, value);
    return v < 0 ? NULL : ptq_exec_data(r->ex, v);
}

/* ---- since 0.2 ------------------------------------------------------------------------ */

static ptq_status host_node_set_clip(ptq_session *s, int32_t node, float lo, float hi) {
    if (!node_ok(s, node)) return PTQ_ERR_INVALID;
    ptq_node *n = &s->g->nodes[node];
    if (n->op != PTQ_OP_CLIP)
        return ptq_session_error(s, PTQ_ERR_INVALID, "node '%s' is not a Clip", n->name);
    if (isnan(lo) || isnan(hi) || lo > hi)
        return ptq_session_error(s, PTQ_ERR_INVALID, "Clip bounds [%g, %g] for '%s' are not a "
                                 "range", (double)lo, (double)hi, n->name);
    n->attrs.clip_min = lo;
    n->attrs.clip_max = hi;
    return PTQ_OK;
}

/* The normalization the pipeline applies: the calibration section's, else the
 * evaluation section's, else the model's .json (mean 0, std 1 without one). */
static void pipeline_normalization(const ptq_session *s, ptq_preprocess *pp) {
    memset(pp, 0, sizeof *pp);
    const ptq_session_config *p = &s->cfg;
    const ptq_dataset_cfg *c = p->calibration->present ? p->calibration
                               : p->evaluation->present ? p->evaluation : NULL;
    if (c) ptq_dataset_cfg_preprocess(c, pp);
    else ptq_sidecar_normalization(p->model, pp, NULL, 0);
}

static ptq_status host_input_range(ptq_session *s, int32_t value, float *lo, float *hi) {
    if (!value_ok(s, value)) return PTQ_ERR_INVALID;
    bool input = false;
    for (int32_t i = 0; i < s->g->n_inputs; i++) input |= s->g->inputs[i] == value;
    if (!input)
        return ptq_session_error(s, PTQ_ERR_INVALID, "value '%s' is not an input of the graph",
                                 s->g->values[value].name);
    ptq_preprocess pp;
    pipeline_normalization(s, &pp);
    const int32_t n = pp.n_mean > pp.n_std ? pp.n_mean : pp.n_std;
    float a = INFINITY, b = -INFINITY;
    for (int32_t c = 0; c < (n > 0 ? n : 1); c++) {
        const float m = pp.n_mean ? pp.mean[pp.n_mean > 1 ? c : 0] : 0.0f;
        const float d = pp.n_std ? pp.std[pp.n_std > 1 ? c : 0] : 1.0f;
        a = fminf(a, (0.0f - m) / d);
        b = fmaxf(b, (1.0f - m) / d);
    }
    *lo = a, *hi = b;
    return PTQ_OK;
}

static char *dup_str(const char *x) {
    return x ? strdup(x) : strdup("");
}

static ptq_status host_report_row(ptq_session *s, const char *table, const char *row,
                                  const char *const *cols, const double *values, int32_t n) {
    if (!table || !*table || n < 0 || n > 64 || (n && (!cols || !values)))
        return ptq_session_error(s, PTQ_ERR_INVALID, "report_row: a table name and 0 to 64 "
                                 "named columns are required");
    ptq_report_row *rows = realloc(s->rows, ((size_t)s->n_rows + 1) * sizeof *rows);
    if (!rows) {
        s->rows_lost = true;
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory recording a report row");
    }
    s->rows = rows;
    ptq_report_row *r = &rows[s->n_rows];
    memset(r, 0, sizeof *r);
    r->pass = s->pass_index;
    r->table = dup_str(table);
    r->name = dup_str(row);
    r->cols = ptq_calloc_array((size_t)n + 1, sizeof *r->cols);
    r->values = ptq_calloc_array((size_t)n + 1, sizeof *r->values);
    bool ok = r->table && r->name && r->cols && r->values;
    for (int32_t k = 0; ok && k < n; k++) {
        ok = (r->cols[k] = dup_str(cols[k])) != NULL;
        r->values[k] = values[k];
        r->n = k + 1;
    }
    if (!ok) {
        ptq_report_row_clear(r);
        s->rows_lost = true;
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory recording a report row");
    }
    s->n_rows++;
    return PTQ_OK;
}

static ptq_status host_quantizer_set_range(ptq_session *s, int32_t q, int64_t channel, float lo,
                                           float hi) {
    ptq_quant_view v;
    ptq_status st = host_quantizer_view(s, q, &v);
    if (st) return st;
    if (channel < -1 || channel >= v.n || isnan(lo) || isnan(hi) || lo > hi)
        return ptq_session_error(s, PTQ_ERR_INVALID, "quantizer_set_range: channel %lld of %lld, "
                                 "range [%g, %g]", (long long)channel, (long long)v.n,
                                 (double)lo, (double)hi);
    ptq_quantizer *z = &s->q[q];
    const bool symmetric = z->spec.symmetric;
    for (int64_t c = channel < 0 ? 0 : channel; c < (channel < 0 ? v.n : channel + 1); c++)
        ptq_qparams_from_range(lo, hi, z->qp.qmin, z->qp.qmax, symmetric, &z->qp.scale[c],
                               &z->qp.zero_point[c]);
    host_quantizer_changed(s, q);
    return PTQ_OK;
}

static ptq_status host_quantizer_apply(ptq_session *s, int32_t q, const float *x, float *y,
                                       int64_t batch) {
    if (!q_ok(s, q)) return PTQ_ERR_INVALID;
    const ptq_quantizer *z = &s->q[q];
    const ptq_value *val = &s->g->values[z->value];
    if (!z->qp.scale)
        return ptq_session_error(s, PTQ_ERR_INVALID, "the quantizer of '%s' has no grid yet",
                                 val->name);
    int64_t ne[PTQ_MAX_DIMS];
    memcpy(ne, val->ne, sizeof ne);
    if (batch < 1 || (z->is_weight && batch != 1))
        return ptq_session_error(s, PTQ_ERR_INVALID, "quantizer_apply: batch %lld for '%s'",
                                 (long long)batch, val->name);
    for (int32_t d = 0; d < val->ndim; d++)
        if (ne[d] == PTQ_DIM_BATCH) ne[d] = batch;
    if (z->borders && !z->rounding.struct_size)
        ptq_fake_quant_tensor_border(&z->qp, val->ndim, ne, x, y, z->borders->data, z->borders->ne[0]);
    else
        ptq_fake_quant_tensor_rounded(&z->qp, val->ndim, ne, x, y,
                                      z->rounding.struct_size ? &z->rounding : NULL, z->rounding_state);
    return PTQ_OK;
}

static int32_t host_node_blocks(ptq_session *s, int32_t *unit_of, int32_t n) {
    if (!unit_of || n != s->g->n_nodes) {
        ptq_session_error(s, PTQ_ERR_INVALID, "node_blocks: room for %d nodes given, the graph "
                          "has %d", n, s->g->n_nodes);
        return -1;
    }
    size_t size = 0;
    const int32_t *set = ptq_session_artifact_get(s, "graph.blocks", &size);
    if (!set) return ptq_graph_blocks(s->g, unit_of, &s->err);
    if (size != (size_t)n * sizeof *set) {
        ptq_session_error(s, PTQ_ERR_INVALID, "artifact 'graph.blocks' holds %zu bytes, not one "
                          "int32 per node (%d)", size, n);
        return -1;
    }
    int32_t units = 0;
    for (int32_t i = 0; i < n; i++) {
        if (set[i] < 0 || set[i] > units || (i > 0 && set[i] < set[i - 1])) {
            ptq_session_error(s, PTQ_ERR_INVALID, "artifact 'graph.blocks': node %d has unit %d "
                              "(units must run 0, 1, 2, ... in node order)", i, set[i]);
            return -1;
        }
        unit_of[i] = set[i];
        if (set[i] == units) units++;
    }
    return units;
}

/* ---- misc ---------------------------------------------------------------------------- */

static uint64_t host_rng_next(ptq_session *s) { return ptq_session_rng(s); }
static int32_t host_threads(ptq_session *s) { return s->threads; }

/* ---- reconstruction and optimizers (0.3) ------------------------------------------- */

static ptq_status host_reconstruct(ptq_session *s, const ptq_recon_options *o, ptq_recon_result *res) {
    if (!o) return ptq_session_error(s, PTQ_ERR_INVALID, "reconstruct: no options");
    return ptq_reconstruct(s, o, res);
}

/* The SDK's opaque ptq_optim is the core's Adam. */
static ptq_optim *host_optim_new(ptq_session *s, int64_t n, double lr, int32_t schedule, int64_t total) {
    if (n < 1 || !(lr >= 0.0) || schedule < PTQ_SCHEDULE_CONSTANT || schedule > PTQ_SCHEDULE_LINEAR) {
        ptq_session_error(s, PTQ_ERR_INVALID, "optim_new: n %" PRId64 ", lr %g, schedule %d out of range",
                          n, lr, schedule);
        return NULL;
    }
    ptq_adam *a = ptq_adam_new(n, lr, schedule, total);
    if (!a) ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    return (ptq_optim *)a;
}

static void host_optim_step(ptq_optim *o, float *param, const float *grad) {
    ptq_adam_step((ptq_adam *)o, param, grad);
}

static void host_optim_free(ptq_optim *o) { ptq_adam_free((ptq_adam *)o); }

static ptq_status host_activations_calibrate(ptq_session *s, int32_t model, int64_t images) {
    if (model != PTQ_MODEL_FLOAT && model != PTQ_MODEL_QUANT)
        return ptq_session_error(s, PTQ_ERR_INVALID, "activations_calibrate: model %d is neither "
                                 "PTQ_MODEL_FLOAT nor PTQ_MODEL_QUANT", model);
    if (images < 0)
        return ptq_session_error(s, PTQ_ERR_INVALID, "activations_calibrate: images %" PRId64 " < 0", images);
    return model == PTQ_MODEL_QUANT ? ptq_session_calibrate_activations_quantized(s, images)
                                    : ptq_session_calibrate_activations(s, NULL, 0, images);
}

static ptq_status host_quantizer_set_borders(ptq_session *s, int32_t q, const float *borders,
                                             int64_t channels, int64_t bins) {
    if (!q_ok(s, q)) return PTQ_ERR_INVALID;
    return ptq_session_set_borders(s, q, borders, channels, bins);
}

static ptq_status host_quantizer_borders(ptq_session *s, int32_t q, const float **borders,
                                         int64_t *channels, int64_t *bins) {
    if (!q_ok(s, q)) return PTQ_ERR_INVALID;
    const ptq_tensor *t = s->q[q].borders;
    if (borders) *borders = t ? t->data : NULL;
    if (channels) *channels = t ? t->ne[0] : 0;
    if (bins) *bins = t ? t->ne[1] : 0;
    return PTQ_OK;
}

static ptq_status host_bn_epsilon(ptq_session *s, int32_t node, float *epsilon) {
    if (!node_ok(s, node)) return PTQ_ERR_INVALID;
    const ptq_bn_stats *b = ptq_session_bn_of(s, node);
    if (!b)
        return ptq_session_error(s, PTQ_ERR_INVALID, "no BatchNormalization was folded into '%s'",
                                 s->g->nodes[node].name);
    *epsilon = b->epsilon;
    return PTQ_OK;
}

static ptq_status host_calib_normalization(ptq_session *s, int32_t channels, float *mean, float *std) {
    if (channels < 1 || !mean || !std)
        return ptq_session_error(s, PTQ_ERR_INVALID, "calib_normalization: %d channels", channels);
    ptq_preprocess pp;
    pipeline_normalization(s, &pp);
    if ((pp.n_mean > 1 && pp.n_mean != channels) || (pp.n_std > 1 && pp.n_std != channels))
        return ptq_session_error(s, PTQ_ERR_INVALID, "the pipeline normalizes %d channels, not %d",
                                 PTQ_MAX(pp.n_mean, pp.n_std), channels);
    for (int32_t c = 0; c < channels; c++) {
        mean[c] = pp.n_mean ? pp.mean[pp.n_mean > 1 ? c : 0] : 0.0f;
        std[c] = pp.n_std ? pp.std[pp.n_std > 1 ? c : 0] : 1.0f;
    }
    return PTQ_OK;
}

/* A name of one or more '/'-separated segments of [A-Za-z0-9_.-], none "." or "..". */
static bool output_name_ok(const char *name) {
    if (!name || !*name || strlen(name) > 256) return false;
    for (const char *seg = name; *seg;) {
        const char *end = strchr(seg, '/');
        const size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && !strncmp(seg, "..", 2))) return false;
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)seg[i]) && !strchr("_.-", seg[i])) return false;
        seg += n + (end != NULL);
        if (end && !*seg) return false; /* a trailing '/' */
    }
    return true;
}

static ptq_status host_output_path(ptq_session *s, const char *name, char *path, size_t size) {
    if (!output_name_ok(name))
        return ptq_session_error(s, PTQ_ERR_INVALID, "output_path: '%s' is not a relative file "
                                 "name ([A-Za-z0-9_.-] segments separated by '/')", name ? name : "");
    if (!s->out_dir)
        return ptq_session_error(s, PTQ_ERR_INVALID, "output_path: this run writes no output "
                                 "directory");
    if (!path || (size_t)snprintf(path, size, "%s/%s", s->out_dir, name) >= size)
        return ptq_session_error(s, PTQ_ERR_INVALID, "output_path: the path does not fit in %zu "
                                 "bytes", size);
    /* The parents below the output directory (which exists): the name was checked, so
     * each is one mkdir. */
    for (char *slash = path + strlen(s->out_dir) + 1; (slash = strchr(slash, '/')); slash++) {
        *slash = 0;
        const int rc = mkdir(path, 0777) && errno != EEXIST ? -1 : 0;
        *slash = '/';
        if (rc) return ptq_session_error(s, PTQ_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    return host_report_row(s, "files", name, NULL, NULL, 0);
}

/* ---- since 0.9 ---------------------------------------------------------------------- */

static ptq_run *host_run_new_bypass(ptq_session *s, const int32_t *nodes, int32_t n_nodes,
                                    const int32_t *keep, int32_t n_keep, int64_t max_batch,
                                    const uint8_t *bypass, int32_t n_bypass) {
    if (!bypass || n_bypass != s->n_q) {
        ptq_session_error(s, PTQ_ERR_INVALID, "run_new_bypass: a mask of %d entries; the session "
                          "has %d quantizers", bypass ? n_bypass : 0, s->n_q);
        return NULL;
    }
    /* Shallow copies: the quantized model only reads them (a rounding function is taken
     * from the session's own quantizer, which outlives the run). */
    ptq_quantizer *use = ptq_calloc_array((size_t)s->n_q + 1, sizeof *use);
    if (!use) {
        ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    int32_t n_use = 0;
    for (int32_t i = 0; i < s->n_q; i++)
        if (!bypass[i]) use[n_use++] = s->q[i];
    ptq_run *r = run_new_with(s, use, n_use, nodes, n_nodes, keep, n_keep, max_batch);
    free(use);
    return r;
}

static ptq_status host_quantizer_set_bits(ptq_session *s, int32_t q, int32_t bits) {
    if (!q_ok(s, q)) return PTQ_ERR_INVALID;
    return ptq_session_set_bits(s, q, bits);
}

static int32_t host_bias_to_grid(ptq_session *s, int32_t node, float in_scale,
                                 const float *w_scales, int64_t n_scales, float *bias) {
    if (!w_scales || !bias || n_scales < 1) return 0;
    return ptq_session_bias_to_grid(s, node, in_scale, w_scales, n_scales, bias);
}

static const ptq_host host = {
    .abi = PTQ_VERSION_INIT,
    .struct_size = sizeof(ptq_host),
    .log = host_log,
    .error = host_error,
    .progress = host_progress,
    .alloc = host_alloc,
    .free = host_free,
    .node_count = host_node_count,
    .node_info = host_node_info,
    .node_name = host_node_name,
    .value_count = host_value_count,
    .value_name = host_value_name,
    .value_readers = host_value_readers,
    .value_producer = host_value_producer,
    .value_view = host_value_view,
    .value_changed = host_value_changed,
    .node_add_bias = host_node_add_bias,
    .bn_stats = host_bn_stats,
    .quantizer_count = host_quantizer_count,
    .quantizer_of = host_quantizer_of,
    .quantizer_view = host_quantizer_view,
    .quantizer_calibrate = host_quantizer_calibrate,
    .quantizer_changed = host_quantizer_changed,
    .quantizer_set_rounding = host_quantizer_set_rounding,
    .artifact_set = host_artifact_set,
    .artifact_get = host_artifact_get,
    .calib_view = host_calib_view,
    .calib_replace = host_calib_replace,
    .run_new = host_run_new,
    .run_bind = host_run_bind,
    .run_exec = host_run_exec,
    .run_data = host_run_data,
    .run_free = host_run_free,
    .rng_next = host_rng_next,
    .threads = host_threads,
    .node_set_clip = host_node_set_clip,
    .input_range = host_input_range,
    .report_row = host_report_row,
    .quantizer_set_range = host_quantizer_set_range,
    .quantizer_apply = host_quantizer_apply,
    .node_blocks = host_node_blocks,
    .reconstruct = host_reconstruct,
    .optim_new = host_optim_new,
    .optim_step = host_optim_step,
    .optim_free = host_optim_free,
    .activations_calibrate = host_activations_calibrate,
    .quantizer_set_borders = host_quantizer_set_borders,
    .quantizer_borders = host_quantizer_borders,
    .grad_run_new = ptq_host_grad_run_new,
    .grad_run_input = ptq_host_grad_run_input,
    .grad_run_forward = ptq_host_grad_run_forward,
    .grad_run_value = ptq_host_grad_run_value,
    .grad_run_seed = ptq_host_grad_run_seed,
    .grad_run_backward = ptq_host_grad_run_backward,
    .grad_run_gradient = ptq_host_grad_run_gradient,
    .grad_run_free = ptq_host_grad_run_free,
    .bn_epsilon = host_bn_epsilon,
    .calib_normalization = host_calib_normalization,
    .output_path = host_output_path,
    .run_new_bypass = host_run_new_bypass,
    .quantizer_set_bits = host_quantizer_set_bits,
    .bias_to_grid = host_bias_to_grid,
};

const ptq_host *ptq_host_table(void) { return &host; }
