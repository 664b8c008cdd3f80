/* exec.c — the executor: plans a node subset once (order, fusion, buffer offsets with
 * reuse of dead buffers, scratch), then runs it any number of times for batches up to
 * the planned maximum.
 *
 * Every run-time value's size is "batch x per-sample size" or fixed (shape.c keeps it
 * so), so one plan at the largest batch serves every smaller one.  Buffers live in one
 * arena; a value's slot is reused once its last reader has run, unless the caller keeps
 * it (graph outputs, `keep`, values read outside the subset, or keep_all).
 *
 * Fusion: a Conv followed by the BatchNormalization and the activation that are its
 * only readers runs as one kernel call whose epilogue applies them (as does an Add or a
 * Gemm followed by its activation).  The epilogue performs the same float operations in the
 * same order as the separate kernels, so fused and unfused runs agree bit for bit; the
 * intermediate values are simply never stored.  keep_all (and keeping a value) turns
 * fusion off where it would hide what the caller asked to see. */
#include <inttypes.h>
#include <omp.h>

#include "internal.h"

#define ALIGN_FLOATS 16 /* 64 bytes: a cache line, and what AVX-512 loads like */
/* Chunks of the batch per lane (see ptq_exec_run): enough to even out a slow core, few
 * enough that the per-call costs (weight packing, scratch set-up) stay small. */
#ifndef LANE_CHUNKS
#define LANE_CHUNKS 4
#endif

enum { ROLE_NONE = 0, ROLE_INPUT, ROLE_CONST, ROLE_COMPUTED, ROLE_FUSED };

/* One kernel call: a node, plus the nodes fused into its epilogue. */
typedef struct step {
    int32_t node; /* the node whose kernel runs */
    int32_t bn;   /* BatchNormalization applied in the epilogue, or -1 */
    int32_t act;  /* activation applied in the epilogue, or -1 */
    int32_t out;  /* the value the step writes: the last fused node's output */
    float *coef;  /* BN scale then shift, one per channel; owned; NULL without bn */
    double seconds; /* accumulated when profiling */
} step;

struct ptq_exec {
    const ptq_graph *g;
    step *steps;
    int32_t n_steps;
    int64_t max_batch;
    int32_t threads;
    /* Lanes: with a batch dimension everywhere, each worker runs the whole step list on
     * its own slice of the batch (no barrier between layers); otherwise one lane whose
     * kernels use all threads.  A lane has its own arena, scratch and operand arrays. */
    int32_t lanes;
    int64_t lane_batch;  /* most samples a lane holds */
    uint8_t *role;       /* per value: ROLE_* */
    uint8_t *kept;       /* per value: contents valid after a run */
    int64_t *offset;     /* per computed value: float offset in the arena (kept arena if kept) */
    int64_t *sample;     /* per value: floats per sample (0 without a batch dimension) */
    const void **bound;  /* per input value: caller memory */
    float *arena;        /* lanes x arena_floats: values nobody keeps, reused */
    size_t arena_floats, no_reuse_floats;
    float *kept_arena;   /* kept values, whole batches, shared by the lanes */
    size_t kept_floats;
    float *work;         /* lanes x threads-per-lane x work_floats */
    size_t work_floats;  /* per thread */
    float *shared;       /* lanes x shared_floats */
    size_t shared_floats;
    int64_t batch;       /* of the last run, 0 before any */
    ptq_kt *kin, *kout;  /* lanes x operand arrays for the widest node */
    int32_t max_in, max_out;
    bool profile;
};

ptq_exec_options ptq_exec_options_default(void) {
    ptq_exec_options o;
    memset(&o, 0, sizeof o);
    o.max_batch = 1;
    return o;
}


static size_t value_floats(const ptq_value *v, int64_t batch) {
    ptq_kt kt;
    ptq_kt_concrete(v, batch, &kt);
    int64_t n = ptq_kt_numel(&kt);
    return ((size_t)n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* ---- planning ------------------------------------------------------------------------ */

typedef struct plan {
    const ptq_exec_options *o;
    uint8_t *in_subset;  /* per node */
    int32_t *order;      /* subset node ids */
    int32_t n_order;
    int32_t *consumers;  /* per value: readers among all live nodes */
    int32_t *reader;     /* per value: one reader (meaningful when consumers == 1) */
    uint8_t *fused_node; /* per node: merged into an earlier step */
} plan;

static void plan_free(plan *p) {
    free(p->in_subset);
    free(p->order);
    free(p->consumers);
    free(p->reader);
    free(p->fused_node);
}

/* The subset in the caller's order, checked to be topological; roles of its values. */
static ptq_status plan_order(ptq_exec *ex, plan *p, ptq_error *err) {
    const ptq_graph *g = ex->g;
    const ptq_exec_options *o = p->o;
    int32_t n = o->nodes ? o->n_nodes : g->n_nodes;
    for (int32_t i = 0; i < n; i++) {
        int32_t id = o->nodes ? o->nodes[i] : i;
        PTQ_ASSERT(id >= 0 && id < g->n_nodes);
        if (g->nodes[id].op == PTQ_OP_NONE || p->in_subset[id]) continue;
        p->in_subset[id] = 1;
        p->order[p->n_order++] = id;
    }
    for (int32_t i = 0; i < p->n_order; i++) {
        const ptq_node *nd = &g->nodes[p->order[i]];
        ex->max_in = PTQ_MAX(ex->max_in, nd->n_inputs);
        ex->max_out = PTQ_MAX(ex->max_out, nd->n_outputs);
        for (int32_t k = 0; k < nd->n_inputs; k++) {
            int32_t v = nd->inputs[k];
            if (v >= 0 && ex->role[v] == ROLE_NONE)
                ex->role[v] = g->values[v].data ? ROLE_CONST : ROLE_INPUT;
        }
        for (int32_t k = 0; k < nd->n_outputs; k++) {
            int32_t v = nd->outputs[k];
            if (ex->role[v] != ROLE_NONE)
                return ptq_error_set(err, PTQ_ERR_INVALID, "node '%s' is not in topological "
                                     "order in the subset (its output '%s' is read earlier)",
                                     nd->name, g->values[v].name);
            ex->role[v] = ROLE_COMPUTED;
        }
    }
    return PTQ_OK;
}

/* Values whose contents must survive a run, and reader counts over the whole graph. */
static void plan_kept(ptq_exec *ex, plan *p) {
    const ptq_graph *g = ex->g;
    const ptq_exec_options *o = p->o;
    for (int32_t v = 0; v < g->n_values; v++)
        if (ex->role[v] == ROLE_COMPUTED && (o->keep_all || (g->values[v].flags & PTQ_VALUE_OUTPUT)))
            ex->kept[v] = 1;
    for (int32_t i = 0; i < o->n_keep; i++)
        if (o->keep[i] >= 0 && o->keep[i] < g->n_values) ex->kept[o->keep[i]] = 1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *nd = &g->nodes[i];
        if (nd->op == PTQ_OP_NONE) continue;
        for (int32_t k = 0; k < nd->n_inputs; k++) {
            int32_t v = nd->inputs[k];
            if (v < 0) continue;
            p->consumers[v]++;
            p->reader[v] = i;
            if (!p->in_subset[i] && ex->role[v] == ROLE_COMPUTED) ex->kept[v] = 1;
        }
    }
}

/* If value v's only reader is a subset node of an op accepted by `want` reading it as
 * input 0, returns that node; else -1. */
static int32_t sole_reader(const ptq_exec *ex, const plan *p, int32_t v, bool (*want)(ptq_op)) {
    if (ex->kept[v] || p->consumers[v] != 1) return -1;
    int32_t r = p->reader[v];
    const ptq_node *nd = &ex->g->nodes[r];
    if (!p->in_subset[r] || p->fused_node[r] || !want(nd->op) || nd->inputs[0] != v) return -1;
    return r;
}

static bool is_bn(ptq_op op) { return op == PTQ_OP_BATCH_NORM; }

/* Groups the order into steps, fusing epilogues where nothing else sees the values. */
static ptq_status plan_steps(ptq_exec *ex, plan *p, ptq_error *err) {
    const ptq_graph *g = ex->g;
    const bool fuse = !p->o->keep_all;
    ex->steps = ptq_calloc_array((size_t)p->n_order, sizeof *ex->steps);
    if (!ex->steps) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory planning");
    for (int32_t i = 0; i < p->n_order; i++) {
        int32_t id = p->order[i];
        if (p->fused_node[id]) continue;
        const ptq_node *nd = &g->nodes[id];
        step *s = &ex->steps[ex->n_steps++];
        s->node = id;
        s->bn = s->act = -1;
        s->out = nd->outputs[0];
        if (!fuse) continue;
        if (nd->op == PTQ_OP_CONV) {
            int32_t bn = sole_reader(ex, p, s->out, is_bn);
            if (bn >= 0) {
                int64_t c = g->values[s->out].ne[1];
                s->coef = ptq_calloc_array((size_t)(2 * c), sizeof *s->coef);
                if (!s->coef) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory planning");
                ex->role[s->out] = ROLE_FUSED;
                p->fused_node[bn] = 1;
                s->bn = bn;
                s->out = g->nodes[bn].outputs[0];
            }
        }
        if (nd->op == PTQ_OP_CONV || nd->op == PTQ_OP_ADD || nd->op == PTQ_OP_GEMM) {
            int32_t act = sole_reader(ex, p, s->out, ptq_is_activation);
            if (act >= 0) {
                ex->role[s->out] = ROLE_FUSED;
                p->fused_node[act] = 1;
                s->act = act;
                s->out = g->nodes[act].outputs[0];
            }
        }
    }
    return PTQ_OK;
}

/* Whether the batch can be split into lanes that each run every step on their own
 * samples: only if every run-time value carries the batch as its leading dimension (so a
 * slice of samples is a contiguous block) and nowhere else, which also means no kernel
 * mixes samples.  Splitting pays from two samples per worker on. */
static ptq_status plan_lanes(ptq_exec *ex, const ptq_exec_options *o, ptq_error *err) {
    const ptq_graph *g = ex->g;
    ex->sample = ptq_calloc_array((size_t)g->n_values + 1, sizeof *ex->sample);
    if (!ex->sample) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory planning");
    bool split = ex->threads > 1 && ex->max_batch >= 2 * ex->threads && !o->single_lane;
    for (int32_t v = 0; v < g->n_values; v++) {
        const ptq_value *val = &g->values[v];
        if (ex->role[v] != ROLE_INPUT && ex->role[v] != ROLE_COMPUTED && ex->role[v] != ROLE_FUSED)
            continue;
        bool leading = val->ndim > 0 && val->ne[0] == PTQ_DIM_BATCH;
        for (int32_t d = 1; d < val->ndim; d++) leading &= val->ne[d] != PTQ_DIM_BATCH;
        if (!leading) {
            split = false;
            continue;
        }
        ptq_kt one;
        ptq_kt_concrete(val, 1, &one);
        ex->sample[v] = ptq_kt_numel(&one);
    }
    ex->lanes = split ? ex->threads : 1;
    ex->lane_batch = (ex->max_batch + ex->lanes - 1) / ex->lanes;
    return PTQ_OK;
}

typedef struct slot {
    int32_t value;
    int32_t first, last; /* step positions */
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
    for (int32_t i = 0; i < n; i++) {
        size_t at = 0;
        bool moved = true;
        while (moved) {
            moved = false;
            for (int32_t k = 0; k < i; k++) {
                const slot *q = &s[k];
                if (q->last < s[i].first || s[i].last < q->first) continue; /* disjoint in time */
                size_t qo = (size_t)offset[q->value];
                if (at < qo + q->size && qo < at + s[i].size) {
                    at = qo + q->size;
                    moved = true;
                }
            }
        }
        offset[s[i].value] = (int64_t)at;
        total = PTQ_MAX(total, at + s[i].size);
    }
    return total;
}

/* Lifetimes over steps, then offsets in one arena. */
static ptq_status plan_buffers(ptq_exec *ex, ptq_error *err) {
    const ptq_graph *g = ex->g;
    const size_t nv = (size_t)g->n_values + 1;
    slot *slots = ptq_calloc_array(nv, sizeof *slots);
    int32_t *slot_of = malloc(nv * sizeof *slot_of);
    if (!slots || !slot_of) {
        free(slots);
        free(slot_of);
        return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory planning");
    }
    int32_t n_slots = 0;
    for (int32_t v = 0; v < g->n_values; v++) {
        slot_of[v] = -1;
        if (ex->role[v] != ROLE_COMPUTED) continue;
        ex->no_reuse_floats += value_floats(&g->values[v], ex->max_batch);
        if (ex->kept[v]) { /* whole batches, never reused */
            ex->offset[v] = (int64_t)ex->kept_floats;
            ex->kept_floats += value_floats(&g->values[v], ex->max_batch);
            continue;
        }
        slot *s = &slots[n_slots];
        s->value = v;
        s->first = s->last = -1;
        s->size = value_floats(&g->values[v], ex->lane_batch);
        slot_of[v] = n_slots++;
    }
    for (int32_t i = 0; i < ex->n_steps; i++) {
        const step *st = &ex->steps[i];
        const int32_t members[3] = {st->node, st->bn, st->act};
        for (int m = 0; m < 3; m++) {
            if (members[m] < 0) continue;
            const ptq_node *nd = &g->nodes[members[m]];
            for (int32_t k = 0; k < nd->n_inputs; k++) {
                int32_t v = nd->inputs[k];
                if (v >= 0 && slot_of[v] >= 0) slots[slot_of[v]].last = i;
            }
        }
        const ptq_node *nd = &g->nodes[st->node];
        for (int32_t k = 0; k < nd->n_outputs; k++)
            if (slot_of[nd->outputs[k]] >= 0) slots[slot_of[nd->outputs[k]]].first = i;
        if (slot_of[st->out] >= 0) slots[slot_of[st->out]].first = i;
    }
    for (int32_t i = 0; i < n_slots; i++) {
        slot *s = &slots[i];
        if (s->last < s->first) s->last = s->first; /* written, never read */
    }
    ex->arena_floats = assign_offsets(slots, n_slots, ex->offset);
    free(slots);
    free(slot_of);
    return PTQ_OK;
}

/* Scratch: per thread and shared, the largest any kernel needs at the largest batch. */
static ptq_status plan_scratch(ptq_exec *ex, ptq_error *err) {
    const ptq_graph *g = ex->g;
    /* Kernels read optional inputs (a Conv's bias) as in[k].data == NULL when absent, so
     * the operand array is at least as wide as any op's largest arity. */
    ex->max_in = PTQ_MAX(ex->max_in, 8);
    ex->kin = ptq_calloc_array((size_t)ex->lanes * ((size_t)ex->max_in + 1), sizeof *ex->kin);
    ex->kout = ptq_calloc_array((size_t)ex->lanes * ((size_t)ex->max_out + 1), sizeof *ex->kout);
    if (!ex->kin || !ex->kout) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory planning");
    for (int32_t i = 0; i < ex->n_steps; i++) {
        const ptq_node *n = &g->nodes[ex->steps[i].node];
        const ptq_op_traits *t = &ptq_op_table[n->op];
        if (!t->work && !t->work_shared) continue;
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) ptq_kt_concrete(&g->values[n->inputs[k]], ex->lane_batch, &ex->kin[k]);
        if (t->work) ex->work_floats = PTQ_MAX(ex->work_floats, t->work(n, ex->kin));
        if (t->work_shared) ex->shared_floats = PTQ_MAX(ex->shared_floats, t->work_shared(n, ex->kin));
    }
    ex->work_floats = (ex->work_floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    ex->shared_floats = (ex->shared_floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    const size_t lanes = (size_t)ex->lanes;
    size_t arena_bytes = PTQ_MAX(ex->arena_floats * lanes, 1) * sizeof(float);
    size_t kept_bytes = PTQ_MAX(ex->kept_floats, 1) * sizeof(float);
    /* Either one lane with `threads` workers per kernel, or `threads` lanes of one. */
    size_t work_bytes = PTQ_MAX(ex->work_floats * (size_t)ex->threads, 1) * sizeof(float);
    size_t shared_bytes = PTQ_MAX(ex->shared_floats * lanes, 1) * sizeof(float);
    double total = (double)arena_bytes + (double)kept_bytes + (double)work_bytes + (double)shared_bytes;
    if (total > 64.0 * (1u << 30))
        return ptq_error_set(err, PTQ_ERR_NOMEM, "the plan needs %.1f GiB of buffers at batch %"
                             PRId64 "; use a smaller batch", total / (1u << 30), ex->max_batch);
    ex->arena = aligned_alloc(64, (arena_bytes + 63) / 64 * 64);
    ex->kept_arena = aligned_alloc(64, (kept_bytes + 63) / 64 * 64);
    ex->work = aligned_alloc(64, (work_bytes + 63) / 64 * 64);
    ex->shared = aligned_alloc(64, (shared_bytes + 63) / 64 * 64);
    if (!ex->arena || !ex->kept_arena || !ex->work || !ex->shared)
        return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory allocating %.1f MiB of buffers",
                             total / (1u << 20));
    return PTQ_OK;
}

void ptq_exec_free(ptq_exec *ex) {
    if (!ex) return;
    for (int32_t i = 0; i < ex->n_steps; i++) free(ex->steps[i].coef);
    free(ex->steps);
    free(ex->role);
    free(ex->kept);
    free(ex->offset);
    free(ex->bound);
    free(ex->arena);
    free(ex->kept_arena);
    free(ex->sample);
    free(ex->work);
    free(ex->shared);
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
    plan p = {0};
    p.o = &o;
    if (!ex) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory planning the executor");
        return NULL;
    }
    ex->g = g;
    ex->max_batch = o.max_batch;
    ex->threads = o.threads > 0 ? o.threads : ptq_default_threads();
    ex->profile = o.profile;
    const size_t nv = (size_t)g->n_values + 1, nn = (size_t)g->n_nodes + 1;
    ex->role = calloc(nv, 1);
    ex->kept = calloc(nv, 1);
    ex->offset = malloc(nv * sizeof *ex->offset);
    ex->bound = calloc(nv, sizeof *ex->bound);
    p.in_subset = calloc(nn, 1);
    p.fused_node = calloc(nn, 1);
    p.order = ptq_calloc_array(nn, sizeof *p.order);
    p.consumers = ptq_calloc_array(nv, sizeof *p.consumers);
    p.reader = ptq_calloc_array(nv, sizeof *p.reader);
    ptq_status st = PTQ_OK;
    if (!ex->role || !ex->kept || !ex->offset || !ex->bound || !p.in_subset || !p.fused_node ||
        !p.order || !p.consumers || !p.reader)
        st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory planning the executor");
    if (!st) {
        for (size_t v = 0; v < nv; v++) ex->offset[v] = -1;
        st = plan_order(ex, &p, err);
    }
    if (!st) {
        plan_kept(ex, &p);
        st = plan_steps(ex, &p, err);
    }
    if (!st) st = plan_lanes(ex, &o, err);
    if (!st) st = plan_buffers(ex, err);
    if (!st) st = plan_scratch(ex, err);
    plan_free(&p);
    if (st) {
        ptq_exec_free(ex);
        return NULL;
    }
    return ex;
}

/* ---- running ----------------------------------------------------------------------- */

ptq_status ptq_exec_bind(ptq_exec *ex, int32_t id, const void *data) {
    if (id < 0 || id >= ex->g->n_values || ex->role[id] != ROLE_INPUT) return PTQ_ERR_INVALID;
    ex->bound[id] = data;
    return PTQ_OK;
}

/* Where value v's samples [lo, ...) of lane `lane` live. */
static void *value_ptr(const ptq_exec *ex, int32_t v, int32_t lane, int64_t lo) {
    switch (ex->role[v]) {
    case ROLE_CONST: return ex->g->values[v].data->data;
    case ROLE_INPUT: return (float *)ex->bound[v] + lo * ex->sample[v];
    case ROLE_COMPUTED:
        if (ex->kept[v]) return ex->kept_arena + ex->offset[v] + lo * ex->sample[v];
        return ex->arena + (size_t)lane * ex->arena_floats + ex->offset[v];
    default: return NULL;
    }
}

/* Runs every step for samples [lo, lo + n) in lane `lane`. */
static void run_lane(ptq_exec *ex, int32_t lane, int64_t lo, int64_t n) {
    const ptq_graph *g = ex->g;
    ptq_kt *kin = ex->kin + (size_t)lane * ((size_t)ex->max_in + 1);
    ptq_kt *kout = ex->kout + (size_t)lane * ((size_t)ex->max_out + 1);
    /* One lane: kernels use every thread.  Several: each lane is one thread. */
    const int32_t threads = ex->lanes > 1 ? 1 : ex->threads;
    float *work = ex->work + (size_t)lane * ex->work_floats;
    float *shared = ex->shared + (size_t)lane * ex->shared_floats;
    for (int32_t i = 0; i < ex->n_steps; i++) {
        const step *s = &ex->steps[i];
        const ptq_node *nd = &g->nodes[s->node];
        for (int32_t k = 0; k < ex->max_in; k++) {
            int32_t v = k < nd->n_inputs ? nd->inputs[k] : -1;
            if (v < 0) {
                memset(&kin[k], 0, sizeof kin[k]);
                continue;
            }
            ptq_kt_concrete(&g->values[v], n, &kin[k]);
            kin[k].data = value_ptr(ex, v, lane, lo);
        }
        for (int32_t k = 0; k < nd->n_outputs; k++) {
            int32_t v = k == 0 ? s->out : nd->outputs[k];
            ptq_kt_concrete(&g->values[v], n, &kout[k]);
            kout[k].data = value_ptr(ex, v, lane, lo);
        }
        ptq_epilogue ep = {NULL, NULL, NULL};
        if (s->bn >= 0) {
            const int64_t c = g->values[g->nodes[s->bn].inputs[1]].ne[0];
            ep.scale = s->coef;
            ep.shift = s->coef + c;
        }
        if (s->act >= 0) ep.act = &g->nodes[s->act];
        ptq_kctx kc = {threads, work, ex->work_floats, shared,
                       (s->bn >= 0 || s->act >= 0) ? &ep : NULL};
        if (ex->profile && lane == 0) {
            double t0 = ptq_now_seconds();
            ptq_op_table[nd->op].forward(nd, &kc, kin, kout);
            ex->steps[i].seconds += ptq_now_seconds() - t0;
        } else {
            ptq_op_table[nd->op].forward(nd, &kc, kin, kout);
        }
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
    /* Fused BatchNormalization coefficients, once per run, before any lane reads them. */
    for (int32_t i = 0; i < ex->n_steps; i++) {
        const step *s = &ex->steps[i];
        if (s->bn < 0) continue;
        const ptq_node *bn = &g->nodes[s->bn];
        const int64_t c = g->values[bn->inputs[1]].ne[0];
        const float *pv[4];
        for (int k = 0; k < 4; k++) pv[k] = g->values[bn->inputs[1 + k]].data->data;
        ptq_bn_coefficients(bn, pv[0], pv[1], pv[2], pv[3], c, s->coef, s->coef + c);
    }
    const int32_t lanes = (int32_t)PTQ_MIN((int64_t)ex->lanes, batch);
    if (lanes <= 1) {
        run_lane(ex, 0, 0, batch);
        return PTQ_OK;
    }
    /* The batch goes out in a few chunks per lane, handed to whichever lane is free: a
     * lane whose core is busy with something else then does less of the batch instead
     * of holding up the run.  Which lane computes a sample does not change its result. */
    const int64_t n_chunks = PTQ_MIN(batch, (int64_t)lanes * LANE_CHUNKS);
#pragma omp parallel num_threads(lanes)
    {
        const int32_t lane = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < n_chunks; c++) {
            const int64_t lo = batch * c / n_chunks, hi = batch * (c + 1) / n_chunks;
            if (hi > lo) run_lane(ex, lane, lo, hi - lo);
        }
    }
    return PTQ_OK;
}

static int cmp_step_time(const void *a, const void *b) {
    const step *x = *(const step *const *)a, *y = *(const step *const *)b;
    return x->seconds < y->seconds ? 1 : (x->seconds > y->seconds ? -1 : 0);
}

void ptq_exec_profile(const ptq_exec *ex, FILE *out) {
    const ptq_graph *g = ex->g;
    const step **sorted = malloc((size_t)PTQ_MAX(ex->n_steps, 1) * sizeof *sorted);
    if (!sorted) return;
    double total = 0.0;
    for (int32_t i = 0; i < ex->n_steps; i++) {
        sorted[i] = &ex->steps[i];
        total += ex->steps[i].seconds;
    }
    qsort(sorted, (size_t)ex->n_steps, sizeof *sorted, cmp_step_time);
    fprintf(out, "%9s %6s  %-24s %-16s %s\n", "seconds", "share", "op (+ fused)", "output", "node");
    for (int32_t i = 0; i < ex->n_steps; i++) {
        const step *s = sorted[i];
        const ptq_node *n = &g->nodes[s->node];
        char what[160], shape[96];
        snprintf(what, sizeof what, "%s%s%s", ptq_op_name(n->op), s->bn >= 0 ? "+BN" : "",
                 s->act >= 0 ? "+" : "");
        if (s->act >= 0) strncat(what, ptq_op_name(g->nodes[s->act].op), sizeof what - strlen(what) - 1);
        const ptq_value *v = &g->values[s->out];
        fprintf(out, "%9.4f %5.1f%%  %-24s %-16s %s\n", s->seconds,
                total > 0 ? 100.0 * s->seconds / total : 0.0, what,
                ptq_shape_str(v->ndim, v->ne, shape, sizeof shape), n->name);
    }
    fprintf(out, "%9.4f 100.0%%  total over %d kernel calls per run (lane 0 of %d%s)\n", total,
            ex->n_steps, ex->lanes, ex->lanes > 1 ? ", one thread each" : "");
    free(sorted);
}

const void *ptq_exec_data(const ptq_exec *ex, int32_t id) {
    if (id < 0 || id >= ex->g->n_values) return NULL;
    if (ex->role[id] == ROLE_FUSED) return NULL;
    if (ex->role[id] == ROLE_COMPUTED && !ex->kept[id]) return NULL;
    if (ex->role[id] == ROLE_NONE) return ex->g->values[id].data ? ex->g->values[id].data->data : NULL;
    return value_ptr(ex, id, 0, 0);
}

void ptq_exec_shape(const ptq_exec *ex, int32_t id, int32_t *ndim, int64_t *ne) {
    ptq_kt kt;
    ptq_kt_concrete(&ex->g->values[id], ex->batch ? ex->batch : ex->max_batch, &kt);
    *ndim = kt.ndim;
    memcpy(ne, kt.ne, (size_t)kt.ndim * sizeof *ne);
}

size_t ptq_exec_arena_bytes(const ptq_exec *ex, size_t *without_reuse) {
    if (without_reuse) *without_reuse = ex->no_reuse_floats * sizeof(float);
    return (ex->arena_floats * (size_t)ex->lanes + ex->kept_floats) * sizeof(float);
}
