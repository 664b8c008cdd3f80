/* grad_run.c — differentiable runs for plugins (SDK 0.8, ptq_grad_run in ptq_plugin.h):
 * the training tape (train/tape.c) behind the plugin boundary.
 *
 * The tape already runs any node subset forward keeping every value and backward from
 * gradients written into its buffers; what this adds is the boundary: ids checked and
 * translated (the quantized model is a copy whose node ids differ), gradients zeroed by
 * each forward so that a plugin only ever adds its seeds, and errors as messages. */
#include <inttypes.h>

#include "plugin/plugin.h"
#include "quant/session.h"
#include "train/tape.h"

struct ptq_grad_run {
    ptq_session *s;
    ptq_graph *sim;      /* owned quantized copy, or NULL for the float model */
    const ptq_graph *g;  /* the graph the tape runs */
    ptq_tape *tape;
    int64_t max_batch;
    int64_t batch;       /* of the last forward (0: none yet) */
    uint8_t *is_input;   /* per value: a run-time input of the subset */
    uint8_t *wanted;     /* per value: a grad input or a trainable constant */
};

void ptq_host_grad_run_free(ptq_grad_run *r) {
    if (!r) return;
    ptq_tape_free(r->tape);
    ptq_graph_free(r->sim);
    free(r->is_input);
    free(r->wanted);
    free(r);
}

static bool value_in(const ptq_grad_run *r, int32_t v) {
    return v >= 0 && v < r->g->n_values;
}

/* Marks the run-time values the subset reads but does not produce: its inputs. */
static void mark_inputs(ptq_grad_run *r, const int32_t *sub, int32_t n_sub) {
    const ptq_graph *g = r->g;
    uint8_t *made = calloc((size_t)g->n_values + 1, 1);
    if (!made) return; /* is_input stays empty: every input is then refused, not corrupted */
    for (int32_t i = 0; i < n_sub; i++) {
        const ptq_node *n = &g->nodes[sub[i]];
        for (int32_t k = 0; k < n->n_inputs; k++) {
            const int32_t v = n->inputs[k];
            if (v >= 0 && !made[v] && !ptq_is_const(g, v)) r->is_input[v] = 1;
        }
        for (int32_t k = 0; k < n->n_outputs; k++) made[n->outputs[k]] = 1;
    }
    free(made);
}

ptq_grad_run *ptq_host_grad_run_new(ptq_session *s, const ptq_grad_run_options *o) {
    if (!o || o->struct_size < sizeof *o) {
        ptq_session_error(s, PTQ_ERR_INVALID, "grad_run_new: options missing or their struct_size "
                          "too small");
        return NULL;
    }
    if ((o->model != PTQ_MODEL_FLOAT && o->model != PTQ_MODEL_QUANT) || o->max_batch < 1 ||
        o->n_grad_inputs < 0 || o->n_trainable < 0 || (o->nodes && o->n_nodes < 1)) {
        ptq_session_error(s, PTQ_ERR_INVALID, "grad_run_new: model %d, max_batch %" PRId64
                          ", %d nodes, %d grad inputs, %d trainable: out of range", o->model,
                          o->max_batch, o->n_nodes, o->n_grad_inputs, o->n_trainable);
        return NULL;
    }
    ptq_grad_run *r = calloc(1, sizeof *r);
    int32_t *sub = NULL, n_sub = 0;
    if (!r) goto oom;
    r->s = s;
    r->max_batch = o->max_batch;
    if (o->model == PTQ_MODEL_QUANT) {
        r->sim = ptq_session_sim_graph(s, s->q, s->n_q, &s->err);
        if (!r->sim) goto fail;
        r->g = r->sim;
    } else {
        r->g = s->g;
    }
    r->is_input = calloc((size_t)r->g->n_values + 1, 1);
    r->wanted = calloc((size_t)r->g->n_values + 1, 1);
    if (!r->is_input || !r->wanted) goto oom;
    if (ptq_host_subset(s, r->g, o->nodes, o->n_nodes, &sub, &n_sub)) goto fail;
    mark_inputs(r, sub, n_sub);
    for (int32_t i = 0; i < o->n_grad_inputs; i++) {
        const int32_t v = o->grad_inputs[i];
        if (!value_in(r, v) || !r->is_input[v]) {
            ptq_session_error(s, PTQ_ERR_INVALID, "grad_run_new: value %s is not a run-time "
                              "input of the subset", value_in(r, v) ? r->g->values[v].name : "(bad id)");
            goto fail;
        }
        r->wanted[v] = 1;
    }
    for (int32_t i = 0; i < o->n_trainable; i++) {
        const int32_t v = o->trainable[i];
        if (!value_in(r, v) || !ptq_is_const(r->g, v) || r->g->values[v].dtype != PTQ_DTYPE_F32) {
            ptq_session_error(s, PTQ_ERR_INVALID, "grad_run_new: value %s is not a float constant",
                              value_in(r, v) ? r->g->values[v].name : "(bad id)");
            goto fail;
        }
        r->wanted[v] = 1;
    }
    const ptq_tape_options to = {sub, n_sub, o->max_batch, s->threads, o->trainable,
                                 o->n_trainable, o->grad_inputs, o->n_grad_inputs};
    r->tape = ptq_tape_new(r->g, &to, &s->err);
    if (!r->tape) goto fail;
    free(sub);
    return r;
oom:
    ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory");
fail:
    free(sub);
    ptq_host_grad_run_free(r);
    return NULL;
}

float *ptq_host_grad_run_input(ptq_grad_run *r, int32_t value) {
    return value_in(r, value) && r->is_input[value] ? ptq_tape_value(r->tape, value) : NULL;
}

ptq_status ptq_host_grad_run_forward(ptq_grad_run *r, int64_t batch) {
    if (batch < 1 || batch > r->max_batch)
        return ptq_session_error(r->s, PTQ_ERR_INVALID, "grad_run_forward: batch %" PRId64
                                 " is outside [1, %" PRId64 "]", batch, r->max_batch);
    ptq_tape_forward(r->tape, batch);
    ptq_tape_zero_grad(r->tape, batch);
    r->batch = batch;
    return PTQ_OK;
}

const float *ptq_host_grad_run_value(ptq_grad_run *r, int32_t value) {
    return value_in(r, value) ? ptq_tape_value(r->tape, value) : NULL;
}

float *ptq_host_grad_run_seed(ptq_grad_run *r, int32_t value) {
    if (!value_in(r, value) || ptq_is_const(r->g, value)) return NULL;
    return ptq_tape_grad(r->tape, value);
}

ptq_status ptq_host_grad_run_backward(ptq_grad_run *r, int64_t batch) {
    if (batch != r->batch)
        return ptq_session_error(r->s, PTQ_ERR_INVALID, "grad_run_backward: batch %" PRId64
                                 " is not the last forward's (%" PRId64 ")", batch, r->batch);
    ptq_tape_backward(r->tape, batch);
    return PTQ_OK;
}

const float *ptq_host_grad_run_gradient(ptq_grad_run *r, int32_t value) {
    return value_in(r, value) && r->wanted[value] ? ptq_tape_grad(r->tape, value) : NULL;
}
