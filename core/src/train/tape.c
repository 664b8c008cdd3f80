/* tape.c — the training-mode executor (see tape.h).
 *
 * Every run-time value of the subset gets its own buffer sized for max_batch, and every
 * value on a path from something trainable to the subset's outputs a gradient buffer of
 * the same size.  Forward calls the op table's kernels node by node; backward calls the
 * grad table in reverse, each node adding into its inputs' gradients.  A node none of
 * whose inputs needs a gradient is skipped, and a Conv whose input needs none computes
 * only its weight gradient: AdaRound on one layer costs a forward and one weight-gradient
 * product per step. */
#include "tape.h"

#define ALIGN_FLOATS 16

typedef struct tape_value {
    float *data;      /* owned (run-time values) or borrowed (constants) */
    float *grad;      /* owned, or NULL when the value needs no gradient */
    bool owned;
    bool constant;
    bool seeded;      /* the caller overwrites the whole gradient before each backward */
} tape_value;

struct ptq_tape {
    const ptq_graph *g;
    int32_t *nodes;
    int32_t n_nodes;
    int64_t max_batch;
    int32_t threads;
    tape_value *v;          /* per graph value; data NULL: not part of the tape */
    float *work;            /* forward: threads x fwd_work + fwd_shared; backward: bwd_work */
    size_t fwd_work, fwd_shared, bwd_work;
    double drop;            /* QDrop: probability of keeping an element's float value */
    uint64_t *rng;
    uint8_t **mask;         /* per tape node: FAKE_QUANT drop mask (1 = kept float) */
    const float **drop_src; /* per tape node: what a kept element takes (NULL: the input) */
    float *dscratch;        /* a masked copy of a FAKE_QUANT's output gradient */
    const float **mix_src;  /* per tape node: what its output 0 mixes in, or NULL */
    uint8_t **mix_mask;     /* per tape node: 1 = element replaced from mix_src */
    double mix_p;
    size_t bytes;
    int32_t max_in;
    ptq_kt *kin, *kout, *kdin, *kdout;
};

static int64_t value_numel(const ptq_value *v, int64_t n) {
    ptq_kt kt;
    ptq_kt_concrete(v, n, &kt);
    return ptq_kt_numel(&kt);
}

static float *buffer(ptq_tape *t, int64_t floats) {
    const size_t n = ((size_t)PTQ_MAX(floats, 1) + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    float *p = aligned_alloc(64, n * sizeof(float));
    if (p) {
        memset(p, 0, n * sizeof(float));
        t->bytes += n * sizeof(float);
    }
    return p;
}

void ptq_tape_free(ptq_tape *t) {
    if (!t) return;
    for (int32_t i = 0; t->v && i < t->g->n_values; i++) {
        if (t->v[i].owned) free(t->v[i].data);
        free(t->v[i].grad);
    }
    for (int32_t i = 0; t->mask && i < t->n_nodes; i++) free(t->mask[i]);
    for (int32_t i = 0; t->mix_mask && i < t->n_nodes; i++) free(t->mix_mask[i]);
    free(t->mask);
    free(t->mix_mask);
    free(t->mix_src);
    free(t->drop_src);
    free(t->v);
    free(t->nodes);
    free(t->work);
    free(t->dscratch);
    free(t->kin);
    free(t->kout);
    free(t->kdin);
    free(t->kdout);
    free(t);
}

/* Marks which values need a gradient: trainable constants, wanted inputs, and every
 * output of a node reading one of those. */
static void mark_gradients(const ptq_graph *g, const ptq_tape_options *o, bool *need) {
    for (int32_t i = 0; i < o->n_trainable; i++) need[o->trainable[i]] = true;
    for (int32_t i = 0; i < o->n_grad_inputs; i++) need[o->grad_inputs[i]] = true;
    for (int32_t i = 0; i < o->n_nodes; i++) {
        const ptq_node *n = &g->nodes[o->nodes[i]];
        bool any = false;
        for (int32_t k = 0; k < n->n_inputs; k++) any |= n->inputs[k] >= 0 && need[n->inputs[k]];
        for (int32_t k = 0; any && k < n->n_outputs; k++) need[n->outputs[k]] = true;
    }
}

/* Operand shapes of node n at the largest batch, with data pointers for constants. */
static void node_operands(ptq_tape *t, const ptq_node *n, int64_t batch, ptq_kt *in, ptq_kt *out) {
    const ptq_graph *g = t->g;
    for (int32_t k = 0; k < t->max_in; k++) {
        const int32_t v = k < n->n_inputs ? n->inputs[k] : -1;
        memset(&in[k], 0, sizeof in[k]);
        if (v < 0) continue;
        ptq_kt_concrete(&g->values[v], batch, &in[k]);
        in[k].data = t->v[v].data;
    }
    for (int32_t k = 0; k < n->n_outputs; k++) {
        ptq_kt_concrete(&g->values[n->outputs[k]], batch, &out[k]);
        out[k].data = t->v[n->outputs[k]].data;
    }
}

ptq_tape *ptq_tape_new(const ptq_graph *g, const ptq_tape_options *o, ptq_error *err) {
    ptq_tape *t = calloc(1, sizeof *t);
    bool *need = ptq_calloc_array((size_t)g->n_values + 1, sizeof *need);
    if (!t || !need) goto oom;
    t->g = g;
    t->max_batch = o->max_batch;
    t->threads = PTQ_MAX(o->threads, 1);
    t->n_nodes = o->n_nodes;
    t->nodes = ptq_calloc_array((size_t)PTQ_MAX(o->n_nodes, 1), sizeof *t->nodes);
    t->v = ptq_calloc_array((size_t)g->n_values, sizeof *t->v);
    t->mask = ptq_calloc_array((size_t)PTQ_MAX(o->n_nodes, 1), sizeof *t->mask);
    if (!t->nodes || !t->v || !t->mask) goto oom;
    memcpy(t->nodes, o->nodes, (size_t)o->n_nodes * sizeof *t->nodes);
    mark_gradients(g, o, need);
    int32_t max_out = 1;
    for (int32_t i = 0; i < o->n_nodes; i++) {
        const ptq_node *n = &g->nodes[o->nodes[i]];
        t->max_in = PTQ_MAX(t->max_in, n->n_inputs);
        max_out = PTQ_MAX(max_out, n->n_outputs);
        bool wants = false;
        for (int32_t k = 0; k < n->n_inputs; k++) wants |= n->inputs[k] >= 0 && need[n->inputs[k]];
        if (wants && !ptq_grad_table[n->op].backward) {
            ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "node '%s': %s has no backward pass", n->name,
                          ptq_op_name(n->op));
            goto fail;
        }
    }
    const size_t slots = (size_t)t->max_in + (size_t)max_out + 2;
    t->kin = ptq_calloc_array(slots, sizeof *t->kin);
    t->kout = ptq_calloc_array(slots, sizeof *t->kout);
    t->kdin = ptq_calloc_array(slots, sizeof *t->kdin);
    t->kdout = ptq_calloc_array(slots, sizeof *t->kdout);
    if (!t->kin || !t->kout || !t->kdin || !t->kdout) goto oom;
    /* Buffers: every value the subset reads or writes. */
    for (int32_t i = 0; i < o->n_nodes; i++) {
        const ptq_node *n = &g->nodes[o->nodes[i]];
        for (int32_t k = 0; k < n->n_inputs + n->n_outputs; k++) {
            const int32_t v = k < n->n_inputs ? n->inputs[k] : n->outputs[k - n->n_inputs];
            if (v < 0 || t->v[v].data) continue;
            const ptq_value *val = &g->values[v];
            if (val->data) {
                t->v[v].data = val->data->data;
                t->v[v].constant = true;
            } else {
                if (val->dtype != PTQ_DTYPE_F32) {
                    ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "value '%s' is not float", val->name);
                    goto fail;
                }
                if (!(t->v[v].data = buffer(t, value_numel(val, t->max_batch)))) goto oom;
                t->v[v].owned = true;
            }
            if (need[v]) {
                const int64_t m = val->data ? ptq_tensor_numel(val->data) : value_numel(val, t->max_batch);
                if (!(t->v[v].grad = buffer(t, m))) goto oom;
            }
        }
        if (n->op == PTQ_OP_FAKE_QUANT && !(t->mask[i] = calloc((size_t)PTQ_MAX(value_numel(
                                                 &g->values[n->outputs[0]], t->max_batch), 1), 1)))
            goto oom;
    }
    /* Scratch, at the largest batch: the forward's per-thread and shared needs, and the
     * backward's, whichever is larger (they never overlap in time). */
    size_t dmax = 1;
    for (int32_t i = 0; i < o->n_nodes; i++) {
        const ptq_node *n = &g->nodes[o->nodes[i]];
        node_operands(t, n, t->max_batch, t->kin, t->kout);
        const ptq_op_traits *tr = &ptq_op_table[n->op];
        if (tr->work) t->fwd_work = PTQ_MAX(t->fwd_work, tr->work(n, t->kin));
        if (tr->work_shared) t->fwd_shared = PTQ_MAX(t->fwd_shared, tr->work_shared(n, t->kin));
        uint32_t want = 0;
        for (int32_t k = 0; k < n->n_inputs && k < 32; k++)
            if (n->inputs[k] >= 0 && need[n->inputs[k]]) want |= 1u << k;
        if (want && ptq_grad_table[n->op].work)
            t->bwd_work = PTQ_MAX(t->bwd_work, ptq_grad_table[n->op].work(n, t->kin, want, t->threads));
        if (n->op == PTQ_OP_FAKE_QUANT) dmax = PTQ_MAX(dmax, (size_t)ptq_kt_numel(&t->kout[0]));
    }
    t->fwd_work = (t->fwd_work + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    const size_t total = PTQ_MAX(t->fwd_work * (size_t)t->threads + t->fwd_shared, t->bwd_work);
    if (!(t->work = buffer(t, (int64_t)total))) goto oom;
    if (!(t->dscratch = buffer(t, (int64_t)dmax))) goto oom;
    free(need);
    return t;
oom:
    ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory planning a training run");
fail:
    free(need);
    ptq_tape_free(t);
    return NULL;
}

float *ptq_tape_value(ptq_tape *t, int32_t v) {
    return v >= 0 && v < t->g->n_values ? t->v[v].data : NULL;
}

void ptq_tape_set_const(ptq_tape *t, int32_t v, float *data) {
    PTQ_ASSERT(v >= 0 && v < t->g->n_values && t->v[v].constant);
    t->v[v].data = data;
}

float *ptq_tape_grad(ptq_tape *t, int32_t v) {
    return v >= 0 && v < t->g->n_values ? t->v[v].grad : NULL;
}

void ptq_tape_set_drop(ptq_tape *t, double p, uint64_t *rng) {
    t->drop = p;
    t->rng = rng;
}

size_t ptq_tape_bytes(const ptq_tape *t) { return t->bytes; }

ptq_status ptq_tape_set_mix(ptq_tape *t, int32_t v, const float *src) {
    for (int32_t i = 0; i < t->n_nodes; i++) {
        const ptq_node *n = &t->g->nodes[t->nodes[i]];
        if (n->outputs[0] != v) continue;
        if (!t->mix_src) {
            t->mix_src = ptq_calloc_array((size_t)t->n_nodes, sizeof *t->mix_src);
            t->mix_mask = ptq_calloc_array((size_t)t->n_nodes, sizeof *t->mix_mask);
            if (!t->mix_src || !t->mix_mask) return PTQ_ERR_NOMEM;
        }
        const int64_t m = value_numel(&t->g->values[v], t->max_batch);
        if (!t->mix_mask[i] && !(t->mix_mask[i] = calloc((size_t)PTQ_MAX(m, 1), 1))) return PTQ_ERR_NOMEM;
        t->bytes += (size_t)PTQ_MAX(m, 1);
        t->mix_src[i] = src;
        return PTQ_OK;
    }
    return PTQ_ERR_INVALID;
}

void ptq_tape_set_mix_prob(ptq_tape *t, double p) { t->mix_p = p; }

ptq_status ptq_tape_set_drop_source(ptq_tape *t, int32_t v, const float *src) {
    for (int32_t i = 0; i < t->n_nodes; i++) {
        const ptq_node *n = &t->g->nodes[t->nodes[i]];
        if (n->op != PTQ_OP_FAKE_QUANT || n->outputs[0] != v) continue;
        if (!t->drop_src && !(t->drop_src = ptq_calloc_array((size_t)t->n_nodes, sizeof *t->drop_src)))
            return PTQ_ERR_NOMEM;
        t->drop_src[i] = src;
        return PTQ_OK;
    }
    return PTQ_ERR_INVALID;
}

/* QDrop: each element of FAKE_QUANT node i's output keeps its float value (the
 * quantizer's input) with probability `drop`. */
static void drop_mix(ptq_tape *t, int32_t i) {
    const int64_t m = ptq_kt_numel(&t->kout[0]);
    const float *x = t->drop_src && t->drop_src[i] ? t->drop_src[i] : t->kin[0].data;
    float *y = t->kout[0].data;
    uint8_t *mask = t->mask[i];
    ptq_bernoulli_mask(t->rng, t->drop, mask, m);
    for (int64_t e = 0; e < m; e++)
        if (mask[e]) y[e] = x[e];
}

/* NWQ's mixed targets: each element of node i's output 0 takes the float target's
 * value with probability mix_p. */
static void target_mix(ptq_tape *t, int32_t i) {
    const int64_t m = ptq_kt_numel(&t->kout[0]);
    const float *src = t->mix_src[i];
    float *y = t->kout[0].data;
    uint8_t *mask = t->mix_mask[i];
    ptq_bernoulli_mask(t->rng, t->mix_p, mask, m);
    for (int64_t e = 0; e < m; e++)
        if (mask[e]) y[e] = src[e];
}

void ptq_tape_forward(ptq_tape *t, int64_t batch) {
    PTQ_ASSERT(batch >= 1 && batch <= t->max_batch);
    for (int32_t i = 0; i < t->n_nodes; i++) {
        const ptq_node *n = &t->g->nodes[t->nodes[i]];
        node_operands(t, n, batch, t->kin, t->kout);
        const ptq_kctx kc = {t->threads, t->work, t->fwd_work,
                             t->work + t->fwd_work * (size_t)t->threads, NULL};
        ptq_op_table[n->op].forward(n, &kc, t->kin, t->kout);
        if (n->op == PTQ_OP_FAKE_QUANT && t->drop > 0.0) drop_mix(t, i);
        if (t->mix_p > 0.0 && t->mix_src && t->mix_src[i]) target_mix(t, i);
    }
}

void ptq_tape_seeded(ptq_tape *t, int32_t v) {
    PTQ_ASSERT(v >= 0 && v < t->g->n_values);
    t->v[v].seeded = true;
}

void ptq_tape_zero_grad(ptq_tape *t, int64_t batch) {
    for (int32_t v = 0; v < t->g->n_values; v++) {
        if (!t->v[v].grad || t->v[v].seeded) continue;
        const ptq_value *val = &t->g->values[v];
        const int64_t m = t->v[v].constant ? ptq_tensor_numel(val->data) : value_numel(val, batch);
        memset(t->v[v].grad, 0, (size_t)m * sizeof(float));
    }
}

void ptq_tape_backward(ptq_tape *t, int64_t batch) {
    PTQ_ASSERT(batch >= 1 && batch <= t->max_batch);
    for (int32_t i = t->n_nodes - 1; i >= 0; i--) {
        const ptq_node *n = &t->g->nodes[t->nodes[i]];
        bool wants = false;
        for (int32_t k = 0; k < n->n_inputs; k++) wants |= n->inputs[k] >= 0 && t->v[n->inputs[k]].grad;
        if (!wants) continue;
        node_operands(t, n, batch, t->kin, t->kout);
        for (int32_t k = 0; k < t->max_in; k++) {
            t->kdin[k] = t->kin[k];
            t->kdin[k].data = k < n->n_inputs && n->inputs[k] >= 0 ? t->v[n->inputs[k]].grad : NULL;
        }
        for (int32_t k = 0; k < n->n_outputs; k++) {
            t->kdout[k] = t->kout[k];
            t->kdout[k].data = t->v[n->outputs[k]].grad;
        }
        if (t->mix_p > 0.0 && t->mix_src && t->mix_src[i]) {
            /* Elements replaced by the float target do not depend on this node. */
            const uint8_t *mask = t->mix_mask[i];
            float *dy = t->kdout[0].data;
            const int64_t m = ptq_kt_numel(&t->kout[0]);
            for (int64_t e = 0; dy && e < m; e++)
                if (mask[e]) dy[e] = 0.0f;
        }
        const ptq_gctx gc = {t->threads, t->work, t->bwd_work};
        if (n->op == PTQ_OP_FAKE_QUANT && t->drop > 0.0) {
            /* Elements that kept their float value pass the gradient through unchanged
             * and take no part in the quantizer's (scale) gradient. */
            const int64_t m = ptq_kt_numel(&t->kout[0]);
            const uint8_t *mask = t->mask[i];
            const float *dy = t->kdout[0].data;
            /* A kept element read the drop source, not this node's input. */
            float *dx = t->drop_src && t->drop_src[i] ? NULL : t->kdin[0].data;
            for (int64_t e = 0; e < m; e++) {
                t->dscratch[e] = mask[e] ? 0.0f : dy[e];
                if (dx && mask[e]) dx[e] += dy[e];
            }
            t->kdout[0].data = t->dscratch;
        }
        ptq_grad_table[n->op].backward(n, &gc, t->kin, t->kout, t->kdout, t->kdin);
    }
}
