/* exec.c — the executor: plans a node subset once (order, buffer offsets with reuse of
 * dead buffers, per-thread scratch), then runs it any number of times for batches up to
 * the planned maximum.
 *
 * Every run-time value's size is "batch x per-sample size" or fixed (shape.c keeps it
 * so), so one plan at the largest batch serves every smaller one.  Buffers live in one
 * arena; a value's slot is reused once its last reader has run, unless the caller keeps
 * it (graph outputs, `keep`, values read outside the subset, or keep_all for the
 * backward pass that will need every activation). */
#include <inttypes.h>
#include <omp.h>

#include "internal.h"

#define ALIGN_FLOATS 16 /* 64 bytes: a cache line, and what AVX-512 loads like */

enum { ROLE_NONE = 0, ROLE_INPUT, ROLE_CONST, ROLE_COMPUTED };

struct ptq_exec {
    const ptq_graph *g;
    int32_t *order; /* node ids to run */
    int32_t n_order;
    int64_t max_batch;
    int32_t threads;
    uint8_t *role;      /* per value: ROLE_* */
    uint8_t *kept;      /* per value: contents valid after a run */
    int64_t *offset;    /* per computed value: float offset in the arena */
    const void **bound; /* per input value: caller memory */
    float *arena;
    size_t arena_floats, no_reuse_floats;
    float *work;
    size_t work_floats; /* per thread */
    int64_t batch;      /* of the last run, 0 before any */
    ptq_kt *kin, *kout; /* operand scratch for the widest node */
    int32_t max_in, max_out;
};

ptq_exec_options ptq_exec_options_default(void) {
    ptq_exec_options o;
    memset(&o, 0, sizeof o);
    o.max_batch = 1;
    return o;
}

/* Concrete shape of v at batch n. */
static void concrete(const ptq_value *v, int64_t n, ptq_kt *kt) {
    kt->ndim = v->ndim;
    for (int32_t i = 0; i < v->ndim; i++) kt->ne[i] = v->ne[i] == PTQ_DIM_BATCH ? n : v->ne[i];
}

static size_t value_floats(const ptq_value *v, int64_t batch) {
    ptq_kt kt;
    concrete(v, batch, &kt);
    int64_t n = ptq_kt_numel(&kt);
    return ((size_t)n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

typedef struct slot {
    int32_t value;
    int32_t first, last; /* positions in order[] */
    size_t size;
} slot;

static int cmp_slot_size(const void *a, const void *b) {
    const slot *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->first - y->first; /* stable for equal sizes: deterministic plans */
}

/* Greedy offset assignment: biggest buffers first, each at the lowest offset that does
 * not overlap a placed buffer whose lifetime intersects its own. */
static size_t assign_offsets(slot *s, int32_t n, int64_t *offset) {
    qsort(s, (size_t)n, sizeof *s, cmp_slot_size);
    size_t total = 0;
    int32_t *placed = malloc(((size_t)n + 1) * sizeof *placed);
    PTQ_ASSERT(placed);
    int32_t n_placed = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t at = 0;
        bool moved = true;
        while (moved) {
            moved = false;
            for (int32_t k = 0; k < n_placed; k++) {
                const slot *p = &s[placed[k]];
                if (p->last < s[i].first || s[i].last < p->first) continue; /* disjoint in time */
                size_t po = (size_t)offset[p->value];
                if (at < po + p->size && po < at + s[i].size) {
                    at = po + p->size;
                    moved = true;
                }
            }
        }
        offset[s[i].value] = (int64_t)at;
        total = PTQ_MAX(total, at + s[i].size);
        placed[n_placed++] = i;
    }
    free(placed);
    return total;
}

void ptq_exec_free(ptq_exec *ex) {
    if (!ex) return;
    free(ex->order);
    free(ex->role);
    free(ex->kept);
    free(ex->offset);
    free(ex->bound);
    free(ex->arena);
    free(ex->work);
    free(ex->kin);
    free(ex->kout);
    free(ex);
}

ptq_exec *ptq_exec_new(const ptq_graph *g, const ptq_exec_options *opts, ptq_error *err) {
    ptq_threads_init();
    ptq_exec_options o = opts ? *opts : ptq_exec_options_default();
    if (o.max_batch < 1 || o.max_batch > (1 << 24)) {
        ptq_error_set(err, PTQ_ERR_INVALID, "batch size %" PRId64 " is out of range", o.max_batch);
        return NULL;
    }
    ptq_exec *ex = calloc(1, sizeof *ex);
    if (!ex) goto nomem;
    ex->g = g;
    ex->max_batch = o.max_batch;
    ex->threads = o.threads > 0 ? o.threads : ptq_default_threads();
    size_t nv = (size_t)g->n_values + 1;
    ex->role = calloc(nv, 1);
    ex->kept = calloc(nv, 1);
    ex->offset = malloc(nv * sizeof *ex->offset);
    ex->bound = calloc(nv, sizeof *ex->bound);
    int32_t *pos_first = malloc(nv * sizeof *pos_first), *pos_last = malloc(nv * sizeof *pos_last);
    uint8_t *in_subset = calloc((size_t)g->n_nodes + 1, 1);
    if (!ex->role || !ex->kept || !ex->offset || !ex->bound || !pos_first || !pos_last || !in_subset) {
        free(pos_first);
        free(pos_last);
        free(in_subset);
        goto nomem;
    }
    /* The node order: the subset as given (checked to be topological), or all. */
    int32_t n_order = o.nodes ? o.n_nodes : g->n_nodes;
    ex->order = ptq_calloc_array((size_t)n_order, sizeof *ex->order);
    if (!ex->order) {
        free(pos_first);
        free(pos_last);
        free(in_subset);
        goto nomem;
    }
    for (int32_t i = 0; i < n_order; i++) {
        int32_t id = o.nodes ? o.nodes[i] : i;
        PTQ_ASSERT(id >= 0 && id < g->n_nodes);
        if (g->nodes[id].op == PTQ_OP_NONE || in_subset[id]) continue;
        in_subset[id] = 1;
        ex->order[ex->n_order++] = id;
    }
    for (size_t v = 0; v < nv; v++) {
        ex->offset[v] = -1;
        pos_first[v] = -1;
        pos_last[v] = -1;
    }
    /* Roles and lifetimes. */
    ptq_status st = PTQ_OK;
    for (int32_t p = 0; p < ex->n_order && !st; p++) {
        const ptq_node *n = &g->nodes[ex->order[p]];
        ex->max_in = PTQ_MAX(ex->max_in, n->n_inputs);
        ex->max_out = PTQ_MAX(ex->max_out, n->n_outputs);
        for (int32_t k = 0; k < n->n_inputs; k++) {
            int32_t v = n->inputs[k];
            if (v < 0) continue;
            if (ex->role[v] == ROLE_NONE)
                ex->role[v] = g->values[v].data ? ROLE_CONST : ROLE_INPUT;
            pos_last[v] = p;
        }
        for (int32_t k = 0; k < n->n_outputs; k++) {
            int32_t v = n->outputs[k];
            if (ex->role[v] != ROLE_NONE)
                st = ptq_error_set(err, PTQ_ERR_INVALID, "node '%s' is not in topological "
                                   "order in the subset (its output '%s' is read earlier)",
                                   n->name, g->values[v].name);
            ex->role[v] = ROLE_COMPUTED;
            pos_first[v] = p;
            if (pos_last[v] < p) pos_last[v] = p;
        }
    }
    if (st) {
        free(pos_first);
        free(pos_last);
        free(in_subset);
        ptq_exec_free(ex);
        return NULL;
    }
    /* What must survive the run. */
    for (int32_t v = 0; v < g->n_values; v++)
        if (ex->role[v] == ROLE_COMPUTED && (o.keep_all || (g->values[v].flags & PTQ_VALUE_OUTPUT)))
            ex->kept[v] = 1;
    for (int32_t i = 0; i < o.n_keep; i++)
        if (o.keep[i] >= 0 && o.keep[i] < g->n_values) ex->kept[o.keep[i]] = 1;
    for (int32_t i = 0; i < g->n_nodes; i++) { /* read by nodes outside the subset */
        if (in_subset[i] || g->nodes[i].op == PTQ_OP_NONE) continue;
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++) {
            int32_t v = g->nodes[i].inputs[k];
            if (v >= 0 && ex->role[v] == ROLE_COMPUTED) ex->kept[v] = 1;
        }
    }
    /* Buffers. */
    slot *slots = ptq_calloc_array(nv, sizeof *slots);
    if (!slots) {
        free(pos_first);
        free(pos_last);
        free(in_subset);
        goto nomem;
    }
    int32_t n_slots = 0;
    for (int32_t v = 0; v < g->n_values; v++) {
        if (ex->role[v] != ROLE_COMPUTED) continue;
        slot *s = &slots[n_slots++];
        s->value = v;
        s->first = pos_first[v];
        s->last = ex->kept[v] ? ex->n_order : pos_last[v];
        s->size = value_floats(&g->values[v], ex->max_batch);
        ex->no_reuse_floats += s->size;
    }
    ex->arena_floats = assign_offsets(slots, n_slots, ex->offset);
    free(slots);
    free(pos_first);
    free(pos_last);
    free(in_subset);
    /* Scratch per thread: the largest any node needs at the largest batch. */
    /* Kernels read optional inputs (a Conv's bias) as in[k].data == NULL when absent, so
     * the operand array is at least as wide as any op's largest arity. */
    ex->max_in = PTQ_MAX(ex->max_in, 8);
    ex->kin = ptq_calloc_array((size_t)ex->max_in + 1, sizeof *ex->kin);
    ex->kout = ptq_calloc_array((size_t)ex->max_out + 1, sizeof *ex->kout);
    if (!ex->kin || !ex->kout) goto nomem;
    for (int32_t p = 0; p < ex->n_order; p++) {
        const ptq_node *n = &g->nodes[ex->order[p]];
        const ptq_op_traits *t = &ptq_op_table[n->op];
        if (!t->work) continue;
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) concrete(&g->values[n->inputs[k]], ex->max_batch, &ex->kin[k]);
        ex->work_floats = PTQ_MAX(ex->work_floats, t->work(n, ex->kin));
    }
    ex->work_floats = (ex->work_floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    size_t arena_bytes = PTQ_MAX(ex->arena_floats, 1) * sizeof(float);
    size_t work_bytes = PTQ_MAX(ex->work_floats * (size_t)ex->threads, 1) * sizeof(float);
    if ((double)arena_bytes + (double)work_bytes > 64.0 * (1u << 30)) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "the plan needs %.1f GiB of buffers at batch %" PRId64
                      "; use a smaller batch", ((double)arena_bytes + (double)work_bytes) / (1u << 30),
                      ex->max_batch);
        ptq_exec_free(ex);
        return NULL;
    }
    ex->arena = aligned_alloc(64, (arena_bytes + 63) / 64 * 64);
    ex->work = aligned_alloc(64, (work_bytes + 63) / 64 * 64);
    if (!ex->arena || !ex->work) goto nomem;
    return ex;
nomem:
    ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory planning the executor");
    ptq_exec_free(ex);
    return NULL;
}

ptq_status ptq_exec_bind(ptq_exec *ex, int32_t id, const void *data) {
    if (id < 0 || id >= ex->g->n_values || ex->role[id] != ROLE_INPUT) return PTQ_ERR_INVALID;
    ex->bound[id] = data;
    return PTQ_OK;
}

static void *value_ptr(const ptq_exec *ex, int32_t v) {
    switch (ex->role[v]) {
    case ROLE_CONST: return ex->g->values[v].data->data;
    case ROLE_INPUT: return (void *)ex->bound[v];
    case ROLE_COMPUTED: return ex->arena + ex->offset[v];
    default: return NULL;
    }
}

ptq_status ptq_exec_run(ptq_exec *ex, int64_t batch, ptq_error *err) {
    const ptq_graph *g = ex->g;
    if (batch < 1 || batch > ex->max_batch)
        return ptq_error_set(err, PTQ_ERR_INVALID, "batch %" PRId64 " is outside 1..%" PRId64,
                             batch, ex->max_batch);
    for (int32_t v = 0; v < g->n_values; v++)
        if (ex->role[v] == ROLE_INPUT && !ex->bound[v])
            return ptq_error_set(err, PTQ_ERR_INVALID, "input '%s' was not given any data",
                                 g->values[v].name);
    ex->batch = batch;
    ptq_kctx kc = {ex->threads, ex->work, ex->work_floats};
    for (int32_t p = 0; p < ex->n_order; p++) {
        const ptq_node *n = &g->nodes[ex->order[p]];
        for (int32_t k = 0; k < ex->max_in; k++) {
            int32_t v = k < n->n_inputs ? n->inputs[k] : -1;
            if (v < 0) {
                memset(&ex->kin[k], 0, sizeof ex->kin[k]);
                continue;
            }
            concrete(&g->values[v], batch, &ex->kin[k]);
            ex->kin[k].data = value_ptr(ex, v);
        }
        for (int32_t k = 0; k < n->n_outputs; k++) {
            int32_t v = n->outputs[k];
            concrete(&g->values[v], batch, &ex->kout[k]);
            ex->kout[k].data = value_ptr(ex, v);
        }
        ptq_op_table[n->op].forward(n, &kc, ex->kin, ex->kout);
    }
    return PTQ_OK;
}

const void *ptq_exec_data(const ptq_exec *ex, int32_t id) {
    if (id < 0 || id >= ex->g->n_values) return NULL;
    if (ex->role[id] == ROLE_COMPUTED && !ex->kept[id]) return NULL;
    if (ex->role[id] == ROLE_NONE) return ex->g->values[id].data ? ex->g->values[id].data->data : NULL;
    return value_ptr(ex, id);
}

void ptq_exec_shape(const ptq_exec *ex, int32_t id, int32_t *ndim, int64_t *ne) {
    ptq_kt kt;
    concrete(&ex->g->values[id], ex->batch ? ex->batch : ex->max_batch, &kt);
    *ndim = kt.ndim;
    memcpy(ne, kt.ne, (size_t)kt.ndim * sizeof *ne);
}

size_t ptq_exec_arena_bytes(const ptq_exec *ex, size_t *without_reuse) {
    if (without_reuse) *without_reuse = ex->no_reuse_floats * sizeof(float);
    return ex->arena_floats * sizeof(float);
}
