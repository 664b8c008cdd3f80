/* recon.c — the reconstruction engine shared by AdaRound, BRECQ, QDrop and the methods
 * after them (ptq_recon_options in the SDK says what it does; METHODS.md 0.6 is the
 * spec).
 *
 * One call handles one unit:
 *   1. the quantized model as it stands (earlier units finished) is built once; the
 *      unit's nodes are found in it by name, with the activation quantizers on their
 *      outputs (a unit quantizes its own output, as BRECQ/QDrop place them) and, since
 *      SDK 0.7, those on its inputs whose rounding is learned (AQuant: the unit reading
 *      a value learns how to round it), whose input the unit then caches instead;
 *   2. inputs (quantized model, and float model for QDrop) and float targets are cached
 *      for the calibration images by running only the nodes those values depend on;
 *   3. the loop: batch, fake-quantize the learned weights, tape forward, L_rec and its
 *      gradient, tape backward (a learned activation rounding gets its gradient there,
 *      in the fake-quant node's backward), weight gradients to the roundings'
 *      backward_state, the plugin's step, activation scales' Adam step, non-finite check;
 *   4. learned activation scales go back to their quantizers.
 * On an error (a non-finite loss included) nothing in the session has changed: the
 * engine writes only at the very end. */
#include <inttypes.h>
#include <math.h>

#include "optim.h"
#include "recon.h"
#include "tape.h"

/* A weight whose rounding the unit learns. */
typedef struct learned_weight {
    int32_t value;          /* its id (the same in the float and the quantized graph) */
    const ptq_quantizer *q;
    int64_t n, inner, channels;
    float *wq;              /* the fake-quantized weight of this step (tape reads it) */
    float *v;               /* w / scale */
    float *grad_r;          /* d loss / d rounding output */
} learned_weight;

/* An activation quantizer whose scale the unit learns. */
typedef struct learned_scale {
    int32_t scale_value;    /* the FAKE_QUANT node's scale constant in the quantized graph */
    int32_t quantizer;      /* index into s->q */
    int64_t n;
    float *scale;           /* current value (tape reads it) */
    float grad_factor;      /* LSQ gradient scaling, or 1 */
    ptq_adam *adam;
} learned_scale;

/* What a loss term compares (unit_value.kind). */
#define TERM_REC 0          /* L_rec with the unit's p: an output or a checkpoint */
#define TERM_MSE 1          /* L_rec with p = 2 on a graph output (logits_loss) */
#define TERM_KL 2           /* KL(softmax(float) || softmax(quant)) on a graph output */

/* A value the unit reads, or a loss term on a value it produces, with its cache over
 * the calibration images. */
typedef struct unit_value {
    int32_t id;             /* in the quantized graph */
    int32_t float_id;       /* the float model's counterpart */
    int64_t per;            /* floats per sample */
    float *cache;           /* images x per: quantized input or float target (NULL for a
                               target computed per batch) */
    float *cache_fp;        /* inputs under QDrop: the float model's value */
    /* Inputs only: the output of the activation quantizer the unit pulled in on this
     * input (its rounding is learned here), or -1; with QDrop its kept elements take
     * drop_src, this step's float values (batch x per). */
    int32_t pulled_fq;
    float *drop_src;
    /* Loss terms only. */
    int32_t kind;           /* TERM_* */
    float weight;
    const float *batch;     /* targets computed for this step's batch (batch x per) */
    float *mix;             /* mix_checkpoints: this step's targets, batch x per */
    double loss;            /* this step's value of the term */
    double loss_last;       /* its mean over the last 1 % of the steps */
} unit_value;

typedef struct engine {
    ptq_session *s;
    const ptq_recon_options *o; /* = &opt */
    ptq_recon_options opt;  /* the caller's options, members newer than its SDK zeroed */
    ptq_graph *qg;          /* quantized model (owned) */
    int32_t *nodes;         /* unit nodes in qg, ascending (topological) */
    int32_t n_nodes;
    unit_value *in, *out;
    int32_t n_in, n_out;
    learned_weight *w;
    int32_t n_w;
    learned_scale *sc;
    int32_t n_sc;
    int64_t images;
    size_t cache_bytes;
    ptq_tape *tape;
    uint8_t *keep;          /* QDrop's coin for one input sample */
    bool drop;              /* inputs mix float values in (QDrop, AMixup) */
    /* Float targets per batch when they are not cached. */
    ptq_exec *fx;           /* the float model up to the targets */
    float *xbatch;          /* the batch's images */
    size_t extra_bytes;     /* fx's arena, xbatch, mixing buffers */
} engine;

static void engine_free(engine *e) {
    ptq_tape_free(e->tape);
    for (int32_t i = 0; i < e->n_in; i++) free(e->in[i].cache), free(e->in[i].cache_fp), free(e->in[i].drop_src);
    for (int32_t i = 0; i < e->n_out; i++) free(e->out[i].cache), free(e->out[i].mix);
    ptq_exec_free(e->fx);
    free(e->xbatch);
    for (int32_t i = 0; i < e->n_w; i++) free(e->w[i].wq), free(e->w[i].v), free(e->w[i].grad_r);
    for (int32_t i = 0; i < e->n_sc; i++) free(e->sc[i].scale), ptq_adam_free(e->sc[i].adam);
    free(e->in);
    free(e->out);
    free(e->w);
    free(e->sc);
    free(e->nodes);
    free(e->keep);
    ptq_graph_free(e->qg);
}

static int64_t per_sample(const ptq_value *v) {
    int64_t n = 1;
    for (int32_t i = 0; i < v->ndim; i++)
        if (v->ne[i] != PTQ_DIM_BATCH) n *= v->ne[i];
    return n;
}

/* The float model's value for quantized-graph value id: a FAKE_QUANT output stands for
 * its input. */
static int32_t float_counterpart(const ptq_graph *qg, int32_t id) {
    const int32_t p = qg->values[id].producer;
    return p >= 0 && qg->nodes[p].op == PTQ_OP_FAKE_QUANT ? qg->nodes[p].inputs[0] : id;
}

/* Adds a loss term on quantized-graph value v (the float target: its counterpart). */
static void add_term(engine *e, int32_t v, int32_t kind, double weight) {
    unit_value *u = &e->out[e->n_out++];
    memset(u, 0, sizeof *u);
    u->id = v;
    u->float_id = float_counterpart(e->qg, v);
    u->per = per_sample(&e->qg->values[v]);
    u->kind = kind;
    u->weight = (float)weight;
}

/* The loss terms at the caller's checkpoints, in their order, in place of the unit's
 * outputs.  mark[j]: quantized-graph node j belongs to the unit. */
static ptq_status checkpoint_terms(engine *e, const uint8_t *mark) {
    ptq_session *s = e->s;
    const ptq_graph *qg = e->qg;
    const char *label = e->o->label ? e->o->label : "?";
    e->n_out = 0;
    for (int32_t k = 0; k < e->o->n_checkpoints; k++) {
        const int32_t v = e->o->checkpoints[k];
        if (v < 0 || v >= s->g->n_values)
            return ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s': checkpoint %d is not a value id", label, v);
        const int32_t p = qg->values[v].producer;
        if (p < 0 || !mark[p] || qg->values[v].data)
            return ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s': checkpoint '%s' is not produced inside the unit",
                                     label, s->g->values[v].name);
        /* Compare the quantized value where the unit quantizes it. */
        int32_t q = v;
        for (int32_t j = 0; j < qg->n_nodes; j++)
            if (mark[j] && qg->nodes[j].op == PTQ_OP_FAKE_QUANT && qg->nodes[j].inputs[0] == v) q = qg->nodes[j].outputs[0];
        if (qg->values[q].ndim < 1 || qg->values[q].ne[0] != PTQ_DIM_BATCH)
            return ptq_session_error(s, PTQ_ERR_UNSUPPORTED, "unit '%s': checkpoint '%s' does not lead with the batch",
                                     label, s->g->values[v].name);
        add_term(e, q, TERM_REC, 1.0);
    }
    return PTQ_OK;
}

/* The extra terms on the graph outputs produced inside the unit (the logits). */
static ptq_status logits_terms(engine *e, const uint8_t *mark) {
    ptq_session *s = e->s;
    const ptq_graph *qg = e->qg;
    const char *label = e->o->label ? e->o->label : "?";
    const int32_t n_before = e->n_out;
    for (int32_t v = 0; v < qg->n_values; v++) {
        const int32_t p = qg->values[v].producer;
        if (!(qg->values[v].flags & PTQ_VALUE_OUTPUT) || p < 0 || !mark[p]) continue;
        const ptq_value *val = &qg->values[v];
        if (e->o->logits_loss == PTQ_RECON_LOGITS_KL && (val->ndim != 2 || val->ne[0] != PTQ_DIM_BATCH))
            return ptq_session_error(s, PTQ_ERR_UNSUPPORTED,
                                     "unit '%s': logits_loss kl needs a [batch, classes] output; '%s' has %d dims",
                                     label, val->name, val->ndim);
        add_term(e, v, e->o->logits_loss == PTQ_RECON_LOGITS_KL ? TERM_KL : TERM_MSE, e->o->logits_weight);
    }
    if (e->n_out == n_before)
        return ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s': logits_loss is set but the unit produces no graph output",
                                 label);
    return PTQ_OK;
}

/* Step 1: the quantized model and the unit's nodes, inputs and outputs in it. */
static ptq_status find_unit(engine *e) {
    ptq_session *s = e->s;
    const ptq_recon_options *o = e->o;
    /* Weights-only runs leave every activation quantizer out of the model. */
    ptq_quantizer *qs = ptq_calloc_array((size_t)PTQ_MAX(s->n_q, 1), sizeof *qs);
    if (!qs) return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    int32_t nq = 0;
    for (int32_t i = 0; i < s->n_q; i++)
        if (s->q[i].is_weight || o->activations == PTQ_RECON_ACT_QUANT) qs[nq++] = s->q[i];
    e->qg = ptq_session_sim_graph(s, qs, nq, &s->err);
    free(qs);
    if (!e->qg) return s->err.status;
    const ptq_graph *qg = e->qg;
    uint8_t *mark = calloc((size_t)qg->n_nodes + 1, 1);
    if (!mark) return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < o->n_nodes; i++) {
        const int32_t id = o->nodes[i];
        if (id < 0 || id >= s->g->n_nodes || s->g->nodes[id].op == PTQ_OP_NONE) {
            free(mark);
            return ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s': node id %d is out of range",
                                     o->label ? o->label : "?", id);
        }
        const int32_t j = qg->values[s->g->nodes[id].outputs[0]].producer;
        PTQ_ASSERT(j >= 0 && !strcmp(qg->nodes[j].name, s->g->nodes[id].name));
        mark[j] = 1;
    }
    /* The activation quantizers on the unit's own values belong to it. */
    for (int32_t j = 0; j < qg->n_nodes; j++) {
        const ptq_node *n = &qg->nodes[j];
        if (n->op != PTQ_OP_FAKE_QUANT) continue;
        const int32_t p = qg->values[n->inputs[0]].producer;
        if (p >= 0 && mark[p]) mark[j] = 1;
    }
    /* So do those on its inputs whose rounding is learned (SDK 0.7): the unit that reads
     * a quantized value learns how to round it (AQuant's borders see the weights they
     * feed).  2 marks them: their scale is the producing unit's, not learned here. */
    for (int32_t j = 0; j < qg->n_nodes; j++) {
        const ptq_node *n = &qg->nodes[j];
        if (n->op != PTQ_OP_FAKE_QUANT || mark[j]) continue;
        const ptq_rounding *r = n->attrs.q_rounding;
        if (!r || !r->backward_state) continue;
        bool read = false;
        for (int32_t k = 0; k < qg->n_nodes && !read; k++)
            for (int32_t m = 0; mark[k] == 1 && m < qg->nodes[k].n_inputs; m++) read |= qg->nodes[k].inputs[m] == n->outputs[0];
        if (read) mark[j] = 2;
    }
    e->nodes = ptq_calloc_array((size_t)qg->n_nodes + 1, sizeof *e->nodes);
    e->in = ptq_calloc_array((size_t)qg->n_values + 1, sizeof *e->in);
    e->out = ptq_calloc_array((size_t)qg->n_values + (size_t)PTQ_MAX(o->n_checkpoints, 0) + 1, sizeof *e->out);
    if (!e->nodes || !e->in || !e->out) {
        free(mark);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    for (int32_t j = 0; j < qg->n_nodes; j++)
        if (mark[j]) e->nodes[e->n_nodes++] = j;
    /* Inputs: run-time values read but not produced inside; outputs: values produced
     * inside and read outside (or graph outputs). */
    for (int32_t k = 0; k < e->n_nodes; k++) {
        const ptq_node *n = &qg->nodes[e->nodes[k]];
        for (int32_t i = 0; i < n->n_inputs; i++) {
            const int32_t v = n->inputs[i];
            if (v < 0 || qg->values[v].data) continue;
            const int32_t p = qg->values[v].producer;
            if (p >= 0 && mark[p]) continue;
            bool seen = false;
            for (int32_t m = 0; m < e->n_in; m++) seen |= e->in[m].id == v;
            if (!seen)
                e->in[e->n_in++] = (unit_value){.id = v, .float_id = float_counterpart(qg, v), .per = per_sample(&qg->values[v]),
                                                .pulled_fq = mark[e->nodes[k]] == 2 ? n->outputs[0] : -1};
        }
        /* A pulled-in input quantizer's output is no loss term even when a later unit
         * reads it too: the unit is judged by what it produces. */
        for (int32_t i = 0; mark[e->nodes[k]] != 2 && i < n->n_outputs; i++) {
            const int32_t v = n->outputs[i];
            bool read_outside = (qg->values[v].flags & PTQ_VALUE_OUTPUT) != 0;
            for (int32_t j = 0; j < qg->n_nodes && !read_outside; j++) {
                if (mark[j]) continue;
                for (int32_t m = 0; m < qg->nodes[j].n_inputs; m++) read_outside |= qg->nodes[j].inputs[m] == v;
            }
            if (read_outside) add_term(e, v, TERM_REC, 1.0);
        }
    }
    ptq_status st = PTQ_OK;
    if (o->checkpoints) st = checkpoint_terms(e, mark);
    if (!st && o->logits_loss != PTQ_RECON_LOGITS_NONE) st = logits_terms(e, mark);
    free(mark);
    if (st) return st;
    if (e->n_in == 0 || e->n_out == 0)
        return ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s' has no %s", o->label ? o->label : "?",
                                 e->n_in ? "output read by the rest of the model" : "run-time input");
    for (int32_t i = 0; i < e->n_in; i++)
        if (qg->values[e->in[i].id].ndim < 1 || qg->values[e->in[i].id].ne[0] != PTQ_DIM_BATCH)
            return ptq_session_error(s, PTQ_ERR_UNSUPPORTED, "unit '%s': input '%s' does not lead with the batch",
                                     o->label ? o->label : "?", qg->values[e->in[i].id].name);
    return PTQ_OK;
}

/* Runs the nodes of g that `want` depends on over the calibration images and copies
 * each wanted value into its cache (dst[k]: images x per[k] floats). */
static ptq_status cache_values(engine *e, const ptq_graph *g, const int32_t *want, float **dst,
                               const int64_t *per, int32_t n_want) {
    ptq_session *s = e->s;
    const ptq_dataset *ds = s->calib;
    if (g->n_inputs != 1)
        return ptq_session_error(s, PTQ_ERR_UNSUPPORTED, "reconstruction needs a model with one input (it has %d)",
                                 g->n_inputs);
    const int32_t x = g->inputs[0];
    const int64_t sample = per_sample(&g->values[x]);
    int32_t *sub = ptq_calloc_array((size_t)g->n_nodes + 1, sizeof *sub);
    const int32_t n_sub = sub ? ptq_graph_nodes_for(g, want, n_want, sub) : -1;
    if (n_sub < 0) {
        free(sub);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    ptq_status st = PTQ_OK;
    ptq_exec *ex = NULL;
    const int64_t chunk = PTQ_MAX(s->batch, 1);
    if (n_sub > 0) {
        ptq_exec_options eo = ptq_exec_options_default();
        eo.nodes = sub;
        eo.n_nodes = n_sub;
        eo.keep = want;
        eo.n_keep = n_want;
        eo.max_batch = chunk;
        eo.threads = s->threads;
        ex = ptq_exec_new(g, &eo, &s->err);
        if (!ex) {
            free(sub);
            return s->err.status;
        }
    }
    free(sub);
    for (int64_t at = 0; at < e->images && !st; at += chunk) {
        const int64_t b = PTQ_MIN(chunk, e->images - at);
        const float *images = ds->images + at * sample;
        if (ex) {
            ptq_exec_bind(ex, x, images);
            st = ptq_exec_run(ex, b, &s->err);
        }
        for (int32_t k = 0; k < n_want && !st; k++) {
            const float *src = want[k] == x ? images : ptq_exec_data(ex, want[k]);
            memcpy(dst[k] + at * per[k], src, (size_t)(b * per[k]) * sizeof(float));
        }
    }
    ptq_exec_free(ex);
    return st;
}

/* The float model planned over what the targets depend on, run per batch: targets
 * without a cache. */
static ptq_status plan_float_targets(engine *e) {
    ptq_session *s = e->s;
    const ptq_graph *g = s->g;
    int32_t *want = ptq_calloc_array((size_t)e->n_out + 1, sizeof *want);
    int32_t *sub = ptq_calloc_array((size_t)g->n_nodes + 1, sizeof *sub);
    int32_t n_want = 0;
    if (!want || !sub) {
        free(want), free(sub);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    for (int32_t k = 0; k < e->n_out; k++) {
        bool seen = false;
        for (int32_t m = 0; m < n_want; m++) seen |= want[m] == e->out[k].float_id;
        if (!seen) want[n_want++] = e->out[k].float_id;
    }
    const int32_t n_sub = ptq_graph_nodes_for(g, want, n_want, sub);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.nodes = sub;
    eo.n_nodes = n_sub;
    eo.keep = want;
    eo.n_keep = n_want;
    eo.max_batch = e->o->batch;
    eo.threads = s->threads;
    e->fx = n_sub > 0 ? ptq_exec_new(g, &eo, &s->err) : NULL;
    free(want), free(sub);
    if (n_sub <= 0) return ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s': its targets depend on no node",
                                             e->o->label ? e->o->label : "?");
    if (!e->fx) return s->err.status;
    const int64_t sample = per_sample(&g->values[g->inputs[0]]);
    if (!(e->xbatch = ptq_calloc_array((size_t)(e->o->batch * sample), sizeof(float))))
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    e->extra_bytes += ptq_exec_arena_bytes(e->fx, NULL) + (size_t)(e->o->batch * sample) * sizeof(float);
    return PTQ_OK;
}

/* Step 2: the caches. */
static ptq_status fill_caches(engine *e) {
    ptq_session *s = e->s;
    const ptq_recon_options *o = e->o;
    const int32_t n_all = e->n_in * 2 + e->n_out;
    int32_t *want = ptq_calloc_array((size_t)n_all, sizeof *want);
    float **dst = ptq_calloc_array((size_t)n_all, sizeof *dst);
    int64_t *per = ptq_calloc_array((size_t)n_all, sizeof *per);
    if (!want || !dst || !per) {
        free(want), free(dst), free(per);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    ptq_status st = PTQ_OK;
    for (int32_t i = 0; i < e->n_in && !st; i++) {
        unit_value *u = &e->in[i];
        u->cache = ptq_calloc_array((size_t)(e->images * u->per), sizeof(float));
        u->cache_fp = e->drop ? ptq_calloc_array((size_t)(e->images * u->per), sizeof(float)) : NULL;
        if (!u->cache || (e->drop && !u->cache_fp)) st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory caching unit inputs");
        e->cache_bytes += (size_t)(e->images * u->per) * sizeof(float) * (e->drop ? 2 : 1);
        want[i] = u->id, dst[i] = u->cache, per[i] = u->per;
    }
    int64_t max_per = 1;
    for (int32_t i = 0; i < e->n_in; i++) max_per = PTQ_MAX(max_per, e->in[i].per);
    if (!st && e->drop && !(e->keep = calloc((size_t)max_per, 1)))
        st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    if (!st) st = cache_values(e, e->qg, want, dst, per, e->n_in);
    /* Float targets: cached for every image when they fit (one forward per image in
     * all), else computed per batch (one forward per step, bounded memory). */
    size_t target_bytes = 0;
    for (int32_t i = 0; i < e->n_out; i++) target_bytes += (size_t)(e->images * e->out[i].per) * sizeof(float);
    const int64_t limit_mb = o->cache_limit_mb > 0 ? o->cache_limit_mb : 1024;
    const bool cached = o->targets == PTQ_RECON_TARGETS_CACHE ||
                        (o->targets == PTQ_RECON_TARGETS_AUTO && target_bytes <= (size_t)limit_mb << 20);
    int32_t n = 0;
    for (int32_t i = 0; cached && i < e->n_out && !st; i++) {
        unit_value *u = &e->out[i];
        if (!(u->cache = ptq_calloc_array((size_t)(e->images * u->per), sizeof(float))))
            st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory caching unit targets (%.0f MB; "
                                   "targets: recompute needs none)", (double)target_bytes / 1048576.0);
        want[n] = u->float_id, dst[n] = u->cache, per[n] = u->per, n++;
    }
    if (cached) e->cache_bytes += target_bytes;
    for (int32_t i = 0; e->drop && i < e->n_in && !st; i++)
        want[n] = e->in[i].float_id, dst[n] = e->in[i].cache_fp, per[n] = e->in[i].per, n++;
    if (!st && n > 0) st = cache_values(e, s->g, want, dst, per, n);
    if (!st && !cached) st = plan_float_targets(e);
    for (int32_t i = 0; o->mix_checkpoints && i < e->n_out && !st; i++) {
        unit_value *u = &e->out[i];
        if (u->kind != TERM_REC) continue;
        if (!(u->mix = ptq_calloc_array((size_t)(o->batch * u->per), sizeof(float))))
            st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
        e->extra_bytes += (size_t)(o->batch * u->per) * sizeof(float);
    }
    free(want), free(dst), free(per);
    return st;
}

/* Step 3a: what the unit learns (weights with a learnable rounding, activation scales)
 * and the tape. */
static ptq_status plan_training(engine *e) {
    ptq_session *s = e->s;
    const ptq_recon_options *o = e->o;
    const ptq_graph *qg = e->qg;
    e->w = ptq_calloc_array((size_t)e->n_nodes + 1, sizeof *e->w);
    e->sc = ptq_calloc_array((size_t)e->n_nodes + 1, sizeof *e->sc);
    int32_t *trainable = ptq_calloc_array((size_t)e->n_nodes * 2 + 1, sizeof *trainable);
    if (!e->w || !e->sc || !trainable) {
        free(trainable);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    int32_t n_tr = 0;
    for (int32_t k = 0; k < e->n_nodes; k++) {
        const ptq_node *n = &qg->nodes[e->nodes[k]];
        if (n->op == PTQ_OP_FAKE_QUANT) {
            bool pulled = false;
            for (int32_t i = 0; i < e->n_in; i++) pulled |= e->in[i].pulled_fq == n->outputs[0];
            /* A learned rounding's gradient comes out of this node's backward, which runs
             * only when one of its inputs wants a gradient: its scale does. */
            const ptq_rounding *r = n->attrs.q_rounding;
            if ((o->act_lr <= 0.0 || pulled) && r && r->backward_state) trainable[n_tr++] = n->inputs[1];
            if (o->act_lr <= 0.0 || pulled) continue;
            const int32_t qi = ptq_session_quantizer_of(s, n->inputs[0]);
            if (qi < 0) continue;
            learned_scale *l = &e->sc[e->n_sc++];
            l->scale_value = n->inputs[1];
            l->quantizer = qi;
            l->n = s->q[qi].qp.n;
            l->scale = ptq_calloc_array((size_t)l->n, sizeof(float));
            l->adam = ptq_adam_new(l->n, o->act_lr, PTQ_SCHEDULE_COSINE, o->iterations);
            if (!l->scale || !l->adam) {
                free(trainable);
                return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
            }
            memcpy(l->scale, s->q[qi].qp.scale, (size_t)l->n * sizeof(float));
            const int64_t numel = per_sample(&qg->values[n->inputs[0]]) * o->batch;
            l->grad_factor = o->act_grad_scale ? (float)(1.0 / sqrt((double)numel * s->q[qi].qp.qmax)) : 1.0f;
            trainable[n_tr++] = l->scale_value;
            continue;
        }
        for (int32_t i = 0; i < n->n_inputs; i++) {
            const int32_t v = n->inputs[i];
            if (v < 0 || !qg->values[v].data) continue;
            /* A constant's quantizer is its weight quantizer (activations are never constant). */
            const int32_t qi = ptq_session_quantizer_of(s, v);
            if (qi < 0 || !s->q[qi].is_weight || !s->q[qi].rounding.backward_state) continue;
            learned_weight *w = &e->w[e->n_w++];
            const ptq_quantizer *q = &s->q[qi];
            const ptq_value *fv = &s->g->values[v];
            w->value = v;
            w->q = q;
            w->n = ptq_tensor_numel(fv->data);
            w->channels = q->qp.axis >= 0 ? q->qp.n : 1;
            w->inner = 1;
            for (int32_t d = q->qp.axis + 1; q->qp.axis >= 0 && d < fv->ndim; d++) w->inner *= fv->ne[d];
            if (q->qp.axis >= 0 && q->qp.axis != 0 && q->qp.n > 1) {
                free(trainable);
                return ptq_session_error(s, PTQ_ERR_UNSUPPORTED,
                                         "weight '%s': learned rounding needs per-tensor or axis-0 scales",
                                         fv->name);
            }
            if (q->qp.axis < 0 || q->qp.n == 1) w->inner = w->n, w->channels = 1;
            w->wq = ptq_calloc_array((size_t)w->n, sizeof(float));
            w->v = ptq_calloc_array((size_t)w->n, sizeof(float));
            w->grad_r = ptq_calloc_array((size_t)w->n, sizeof(float));
            if (!w->wq || !w->v || !w->grad_r) {
                free(trainable);
                return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
            }
            trainable[n_tr++] = v;
        }
    }
    ptq_tape_options to = {e->nodes, e->n_nodes, o->batch, s->threads, trainable, n_tr, NULL, 0};
    ptq_error terr = {0};
    e->tape = ptq_tape_new(qg, &to, &terr);
    free(trainable);
    if (!e->tape)
        return ptq_session_error(s, terr.status, "unit '%s': %s", o->label ? o->label : "?", terr.msg);
    for (int32_t i = 0; i < e->n_w; i++) ptq_tape_set_const(e->tape, e->w[i].value, e->w[i].wq);
    /* QDrop at a pulled-in input quantizer mixes in the float model's input, as it does
     * at an input the unit reads already quantized. */
    for (int32_t i = 0; e->drop && i < e->n_in; i++) {
        unit_value *u = &e->in[i];
        if (u->pulled_fq < 0) continue;
        if (!(u->drop_src = ptq_calloc_array((size_t)(o->batch * u->per), sizeof(float))) ||
            ptq_tape_set_drop_source(e->tape, u->pulled_fq, u->drop_src))
            return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
        e->extra_bytes += (size_t)(o->batch * u->per) * sizeof(float);
    }
    for (int32_t i = 0; i < e->n_sc; i++) ptq_tape_set_const(e->tape, e->sc[i].scale_value, e->sc[i].scale);
    /* loss_and_grad writes every element of the terms' gradients each step. */
    for (int32_t i = 0; i < e->n_out; i++) {
        ptq_tape_seeded(e->tape, e->out[i].id);
        if (e->out[i].mix && ptq_tape_set_mix(e->tape, e->out[i].id, e->out[i].mix))
            return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    return PTQ_OK;
}

/* Fake-quantizes learned weight w through its rounding into w->wq, keeping v = w / s
 * and the rounding's output r (in grad_r until the backward pass needs the room). */
static void quantize_weight(const engine *e, learned_weight *w) {
    const ptq_quantizer *q = w->q;
    const float *x = e->s->g->values[w->value].data->data;
    const float lo = (float)q->qp.qmin, hi = (float)q->qp.qmax;
    for (int64_t c = 0; c < w->channels; c++) {
        const int64_t off = c * w->inner;
        const float scale = q->qp.scale[c], zp = (float)q->qp.zero_point[c];
        for (int64_t i = 0; i < w->inner; i++) w->v[off + i] = x[off + i] / scale;
        q->rounding.forward(q->rounding_state, w->v + off, w->grad_r + off, w->inner, off);
        for (int64_t i = 0; i < w->inner; i++) {
            float r = w->grad_r[off + i] + zp;
            r = r < lo ? lo : (r > hi ? hi : r);
            w->wq[off + i] = (r - zp) * scale;
        }
    }
}

/* Hands d loss / d wq to the rounding as d loss / d r: wq = (clamp(r + zp) - zp) * s,
 * so the factor is s inside the grid and 0 where the clamp cut r off. */
static void weight_backward(engine *e, learned_weight *w) {
    const ptq_quantizer *q = w->q;
    const float *dwq = ptq_tape_grad(e->tape, w->value);
    const float lo = (float)q->qp.qmin, hi = (float)q->qp.qmax;
    for (int64_t c = 0; c < w->channels; c++) {
        const int64_t off = c * w->inner;
        const float scale = q->qp.scale[c], zp = (float)q->qp.zero_point[c];
        for (int64_t i = 0; i < w->inner; i++) {
            const float code = w->grad_r[off + i] + zp;
            w->grad_r[off + i] = code >= lo && code <= hi ? dwq[off + i] * scale : 0.0f;
        }
    }
    q->rounding.backward_state(q->rounding_state, w->v, w->grad_r, w->n, 0);
}

/* Term u's float target for sample b of the batch. */
static inline const float *target_of(const unit_value *u, const int64_t *idx, int64_t b) {
    return u->cache ? u->cache + idx[b] * u->per : u->batch + b * u->per;
}

/* KL(softmax(t) || softmax(y)) over n classes, and its gradient times `scale` (the
 * gradient of the KL with respect to y is softmax(y) - softmax(t)) added into g. */
static double kl_term(const float *y, const float *t, float *g, int64_t n, float scale) {
    float my = y[0], mt = t[0];
    for (int64_t i = 1; i < n; i++) my = fmaxf(my, y[i]), mt = fmaxf(mt, t[i]);
    double zy = 0.0, zt = 0.0;
    for (int64_t i = 0; i < n; i++) zy += exp((double)(y[i] - my)), zt += exp((double)(t[i] - mt));
    double kl = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double lpt = (double)(t[i] - mt) - log(zt), lpy = (double)(y[i] - my) - log(zy);
        const double pt = exp(lpt), py = exp(lpy);
        kl += pt * (lpt - lpy);
        if (g) g[i] += (float)(py - pt) * scale;
    }
    return kl;
}

/* The loss over this batch, with its gradient into the terms' (seeded) gradient
 * buffers.  L_rec per term: sum over channels (axis 1), mean over the batch and every
 * other axis; terms are weighted and summed.  Samples are split across threads; each
 * sample's sum is kept apart and they are added in order, so the loss does not depend
 * on the thread count. */
static double loss_and_grad(engine *e, const int64_t *idx, int64_t batch, double *per_sample_loss) {
    double total = 0.0;
    /* Several terms may share a value (a checkpoint that is also the logits). */
    for (int32_t k = 0; k < e->n_out; k++) {
        float *dy = ptq_tape_grad(e->tape, e->out[k].id);
        if (dy) memset(dy, 0, (size_t)(batch * e->out[k].per) * sizeof(float));
    }
    for (int32_t k = 0; k < e->n_out; k++) {
        unit_value *u = &e->out[k];
        const ptq_value *val = &e->qg->values[u->id];
        const double p = u->kind == TERM_REC ? e->o->loss_p : 2.0;
        const int64_t channels = val->ndim >= 2 ? val->ne[1] : 1;
        const double denom = u->kind == TERM_KL ? (double)batch
                                                : (double)batch * (double)(u->per / PTQ_MAX(channels, 1));
        const float scale = (float)((double)u->weight / denom);
        const float *y = ptq_tape_value(e->tape, u->id);
        float *dy = ptq_tape_grad(e->tape, u->id);
        const int32_t kind = u->kind;
#pragma omp parallel for num_threads(e->s->threads) schedule(static)
        for (int64_t b = 0; b < batch; b++) {
            const float *t = target_of(u, idx, b), *yb = y + b * u->per;
            float *g = dy ? dy + b * u->per : NULL;
            double sum = 0.0;
            if (kind == TERM_KL) {
                sum = kl_term(yb, t, g, u->per, scale);
            } else if (p == 2.0) {
                float part = 0.0f;
                for (int64_t i = 0; i < u->per; i++) {
                    const float d = yb[i] - t[i];
                    part += d * d;
                    if (g) g[i] += 2.0f * d * scale;
                }
                sum = part;
            } else {
                for (int64_t i = 0; i < u->per; i++) {
                    const float d = yb[i] - t[i], ad = fabsf(d);
                    const double pw = pow(ad, p - 1.0);
                    sum += pw * ad;
                    if (g) g[i] += (float)(p * pw * scale) * (d < 0 ? -1.0f : 1.0f);
                }
            }
            per_sample_loss[b] = sum;
        }
        double term = 0.0;
        for (int64_t b = 0; b < batch; b++) term += per_sample_loss[b] / denom;
        u->loss = term;
        total += (double)u->weight * term;
    }
    return total;
}

/* This step's float targets where they are not cached (one float forward of the
 * batch), and the copies the mixed-target variant feeds the tape. */
static ptq_status batch_targets(engine *e, const int64_t *idx, int64_t batch) {
    ptq_session *s = e->s;
    if (e->fx) {
        const int32_t x = s->g->inputs[0];
        const int64_t sample = per_sample(&s->g->values[x]);
        for (int64_t b = 0; b < batch; b++)
            memcpy(e->xbatch + b * sample, s->calib->images + idx[b] * sample, (size_t)sample * sizeof(float));
        ptq_exec_bind(e->fx, x, e->xbatch);
        const ptq_status st = ptq_exec_run(e->fx, batch, &s->err);
        if (st) return st;
        for (int32_t k = 0; k < e->n_out; k++) e->out[k].batch = ptq_exec_data(e->fx, e->out[k].float_id);
    }
    for (int32_t k = 0; k < e->n_out; k++) {
        unit_value *u = &e->out[k];
        for (int64_t b = 0; u->mix && b < batch; b++)
            memcpy(u->mix + b * u->per, target_of(u, idx, b), (size_t)u->per * sizeof(float));
    }
    return PTQ_OK;
}

/* Copies the batch's cached inputs into the tape (QDrop: mixing in float values). */
static void load_batch(engine *e, const int64_t *idx, int64_t batch, double p, uint64_t *rng) {
    for (int32_t k = 0; k < e->n_in; k++) {
        const unit_value *u = &e->in[k];
        float *dst = ptq_tape_value(e->tape, u->id);
        for (int64_t b = 0; b < batch; b++) {
            const float *q = u->cache + idx[b] * u->per;
            float *d = dst + b * u->per;
            if (u->pulled_fq >= 0) { /* not yet quantized: the quantizer mixes (tape) */
                memcpy(d, q, (size_t)u->per * sizeof(float));
                if (u->drop_src && p > 0.0)
                    memcpy(u->drop_src + b * u->per, u->cache_fp + idx[b] * u->per, (size_t)u->per * sizeof(float));
                continue;
            }
            if (!u->cache_fp || p <= 0.0) {
                memcpy(d, q, (size_t)u->per * sizeof(float));
                continue;
            }
            const float *f = u->cache_fp + idx[b] * u->per;
            ptq_bernoulli_mask(rng, p, e->keep, u->per);
            for (int64_t i = 0; i < u->per; i++) d[i] = e->keep[i] ? f[i] : q[i];
        }
    }
}

/* Step 3b: the optimisation loop. */
static ptq_status optimise(engine *e, ptq_recon_result *res) {
    ptq_session *s = e->s;
    const ptq_recon_options *o = e->o;
    const int64_t T = o->iterations, B = o->batch;
    const int64_t window = PTQ_MAX(T / 100, 1);
    int64_t *idx = ptq_calloc_array((size_t)B, sizeof *idx);
    double *sample_loss = ptq_calloc_array((size_t)B, sizeof *sample_loss);
    float *sgrad = NULL;
    int64_t max_sc = 1;
    for (int32_t i = 0; i < e->n_sc; i++) max_sc = PTQ_MAX(max_sc, e->sc[i].n);
    sgrad = ptq_calloc_array((size_t)max_sc, sizeof *sgrad);
    if (!idx || !sgrad || !sample_loss) {
        free(idx), free(sgrad), free(sample_loss);
        return ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    uint64_t rng = ptq_session_rng(s);
    double first = 0.0, last = 0.0;
    ptq_status st = PTQ_OK;
    const char *label = o->label ? o->label : "unit";
    /* The progress line says which unit of how many (SDK 0.4 options), then its name. */
    char shown[320];
    if (o->unit_count > 0)
        snprintf(shown, sizeof shown, "unit %d of %d: %s", o->unit_index, o->unit_count, label);
    else
        snprintf(shown, sizeof shown, "%s", label);
    for (int64_t t = 0; t < T; t++) {
        for (int64_t b = 0; b < B; b++) idx[b] = (int64_t)(ptq_splitmix64(&rng) % (uint64_t)e->images);
        /* This iteration's mixing probability: at every activation quantizer and the
         * input (QDrop, AMixup), or at the checkpoints (mixed targets). */
        const double pt = o->drop_at ? o->drop_at(o->user, t, T) : o->drop_prob;
        if (!(pt >= 0.0 && pt < 1.0)) {
            st = ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s': the mixing probability at iteration %" PRId64
                                   " is %g, outside [0, 1)", label, t + 1, pt);
            break;
        }
        ptq_tape_set_drop(e->tape, o->mix_checkpoints ? 0.0 : pt, &rng);
        ptq_tape_set_mix_prob(e->tape, o->mix_checkpoints ? pt : 0.0);
        if ((st = batch_targets(e, idx, B))) break;
        load_batch(e, idx, B, o->mix_checkpoints ? 0.0 : pt, &rng);
        for (int32_t i = 0; i < e->n_w; i++) quantize_weight(e, &e->w[i]);
        ptq_tape_forward(e->tape, B);
        ptq_tape_zero_grad(e->tape, B);
        double rec = loss_and_grad(e, idx, B, sample_loss);
        ptq_tape_backward(e->tape, B);
        for (int32_t i = 0; i < e->n_w; i++) weight_backward(e, &e->w[i]);
        const double extra = o->step ? o->step(o->user, t, T) : 0.0;
        for (int32_t i = 0; i < e->n_sc; i++) {
            learned_scale *l = &e->sc[i];
            const float *g = ptq_tape_grad(e->tape, l->scale_value);
            float nonfinite = 0.0f;
            for (int64_t c = 0; c < l->n; c++) sgrad[c] = g[c] * l->grad_factor, nonfinite += g[c] * 0.0f;
            /* A NaN step would be clamped to the floor below and go unnoticed. */
            if (nonfinite != 0.0f) rec = NAN;
            ptq_adam_step(l->adam, l->scale, sgrad);
            /* A step must never turn a scale non-positive (BRECQ/QDrop clamp likewise). */
            for (int64_t c = 0; c < l->n; c++) l->scale[c] = fmaxf(l->scale[c], 1e-8f);
        }
        if (!isfinite(rec) || !isfinite(extra)) {
            st = ptq_session_error(s, PTQ_ERR_NUMERIC,
                                   "unit '%s': the %s is %s at iteration %" PRId64 " of %" PRId64
                                   "; the unit is left as it was",
                                   label, isfinite(rec) ? "method's loss term (or its gradient)" : "reconstruction loss (or its gradient)",
                                   isnan(isfinite(rec) ? extra : rec) ? "NaN" : "infinite", t + 1, T);
            break;
        }
        if (t < window) first += rec / (double)window;
        if (t >= T - window) {
            last += rec / (double)window;
            for (int32_t k = 0; k < e->n_out; k++) e->out[k].loss_last += e->out[k].loss / (double)window;
        }
        res->extra_last = extra;
        ptq_session_progress(s, shown, t + 1, T);
    }
    res->loss_first = first;
    res->loss_last = last;
    for (int32_t k = 0; o->checkpoint_loss && !st && k < o->n_checkpoints && k < e->n_out; k++)
        o->checkpoint_loss[k] = e->out[k].loss_last;
    free(idx);
    free(sgrad);
    free(sample_loss);
    return st;
}

/* The caller's options with every member its SDK did not know zeroed; false after an
 * error. */
static bool normalise_options(ptq_session *s, const ptq_recon_options *user, ptq_recon_options *o) {
    memset(o, 0, sizeof *o);
    if (user->struct_size < offsetof(ptq_recon_options, unit_index)) {
        ptq_session_error(s, PTQ_ERR_INVALID, "reconstruct: options of %u bytes, fewer than SDK 0.3's",
                          user->struct_size);
        return false;
    }
    memcpy(o, user, PTQ_MIN((size_t)user->struct_size, sizeof *o));
    o->struct_size = sizeof *o;
    return true;
}

ptq_status ptq_reconstruct(ptq_session *s, const ptq_recon_options *user, ptq_recon_result *res) {
    engine e = {0};
    if (!normalise_options(s, user, &e.opt)) return s->err.status;
    const ptq_recon_options *o = &e.opt;
    const char *label = o->label ? o->label : "unit";
    if (!s->calib || s->calib->n < 1)
        return ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s': reconstruction needs calibration data", label);
    if (o->iterations < 1 || o->batch < 1 || o->n_nodes < 1 || !o->nodes || !(o->loss_p >= 1.0 && o->loss_p <= 8.0) ||
        !(o->drop_prob >= 0.0 && o->drop_prob < 1.0) || !(o->act_lr >= 0.0) || o->images < 0 ||
        o->n_checkpoints < 0 || (o->n_checkpoints > 0) != (o->checkpoints != NULL) || o->logits_loss < 0 ||
        o->logits_loss > PTQ_RECON_LOGITS_KL || !(o->logits_weight >= 0.0 && isfinite(o->logits_weight)) ||
        o->targets < 0 || o->targets > PTQ_RECON_TARGETS_RECOMPUTE || o->cache_limit_mb < 0)
        return ptq_session_error(s, PTQ_ERR_INVALID,
                                 "unit '%s': reconstruction options out of range (iterations %" PRId64
                                 ", batch %" PRId64 ", nodes %d, p %g, drop_prob %g, act_lr %g, checkpoints %d, "
                                 "logits_loss %d, targets %d)",
                                 label, o->iterations, o->batch, o->n_nodes, o->loss_p, o->drop_prob, o->act_lr,
                                 o->n_checkpoints, o->logits_loss, o->targets);
    const bool mixing = o->drop_prob > 0.0 || o->drop_at != NULL;
    if (mixing && o->activations != PTQ_RECON_ACT_QUANT)
        return ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s': drop_prob needs quantized activations", label);
    if (o->mix_checkpoints && !o->checkpoints)
        return ptq_session_error(s, PTQ_ERR_INVALID, "unit '%s': mix_checkpoints needs checkpoints", label);
    const double t0 = ptq_now_seconds();
    ptq_recon_result r = {sizeof r, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    e.s = s;
    e.o = o;
    e.drop = mixing && !o->mix_checkpoints;
    e.images = o->images > 0 ? PTQ_MIN(o->images, s->calib->n) : s->calib->n;
    ptq_status st = find_unit(&e);
    if (!st) st = fill_caches(&e);
    if (!st) st = plan_training(&e);
    if (!st) {
        r.n_weights = e.n_w;
        r.targets_cached = e.fx == NULL;
        r.peak_bytes = (int64_t)(e.cache_bytes + e.extra_bytes + ptq_tape_bytes(e.tape));
        const double t1 = ptq_now_seconds();
        st = optimise(&e, &r);
        r.loop_seconds = ptq_now_seconds() - t1;
    }
    if (!st) /* Step 4: the learned activation scales. */
        for (int32_t i = 0; i < e.n_sc; i++) {
            ptq_quantizer *q = &s->q[e.sc[i].quantizer];
            memcpy(q->qp.scale, e.sc[i].scale, (size_t)e.sc[i].n * sizeof(float));
        }
    r.seconds = ptq_now_seconds() - t0;
    engine_free(&e);
    if (res) {
        const uint32_t size = PTQ_MIN(res->struct_size ? res->struct_size : (uint32_t)sizeof r, (uint32_t)sizeof r);
        memcpy(res, &r, size);
        res->struct_size = size;
    }
    return st;
}
