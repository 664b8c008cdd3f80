/* test_kernels.c — every op of ptq_op_table against a naive reference.
 *
 * Each case builds a small graph through the public graph API (inputs, constants, node
 * attributes), infers its shapes and runs it through the real executor at every batch
 * size 1..MAX_BATCH with 1 and 2 threads.  A one-node case also calls the kernel
 * directly with exactly sized buffers and guard floats (kc_direct); a chain (Conv ->
 * BatchNormalization -> activation, Add -> activation) must also match the unfused
 * run bit for bit.  The references below are written for clarity, not speed: one
 * output element at a time, sums in double.  They also compute the expected output
 * shape, so shape inference is checked against an independent formula (the
 * PyTorch/ONNX one) rather than against itself.
 *
 * Shapes, attributes and data come from test_rng seeded by the loop index, so a failure
 * message ("conv2d seed 7 case 3: ...") names a case that reproduces exactly.
 * Regression tests for fixed bugs name the bug they guard against. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/kernels/vmath.h"
#include "internal.h"
#include "train/tape.h"
#include "testutil.h"

#define B PTQ_DIM_BATCH
#define MAX_BATCH 5
#define RTOL 1e-4
#define ATOL 1e-5
#define MAX_IN 16

/* ================================================================ harness ====== */

/* A reference: fills ne[] with the output shape for the concrete operands in[] (at one
 * batch size) and returns its rank; if out is non-NULL, also computes the values. */
typedef int32_t (*ref_fn)(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out);

static ref_fn ref_of(ptq_op op); /* the reference of each op, at the end of the refs */
static int32_t ref_output_index;   /* which output of a several-output node (Split) */
static int64_t ref_batch; /* the batch size ref_eval runs at (Expand's target may name it) */

typedef struct kcase {
    ptq_graph *g;
    test_rng *rng;
    int32_t y;          /* output of the last node added: the graph output */
    int32_t n_names;    /* for generated value names */
    bool avoid_zero;    /* random data in +-[0.5, 1.5] instead of [-1, 1] (divisors) */
    float scale;        /* random data is multiplied by this (saturating activations) */
    bool check_unfused; /* also run with keep_all (no fusion) and require equal bits */
    char desc[512];     /* what the case is, for failure messages */
} kcase;

static void kc_begin(kcase *kc, test_rng *rng, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kc_begin(kcase *kc, test_rng *rng, const char *fmt, ...) {
    memset(kc, 0, sizeof *kc);
    kc->g = ptq_graph_new();
    ck_assert_ptr_nonnull(kc->g);
    kc->rng = rng;
    kc->y = -1;
    kc->scale = 1.0f;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kc->desc, sizeof kc->desc, fmt, ap);
    va_end(ap);
}

/* Appends to the description (the builders add shapes and attributes as they pick them). */
static void kc_note(kcase *kc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void kc_note(kcase *kc, const char *fmt, ...) {
    size_t len = strlen(kc->desc);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kc->desc + len, sizeof kc->desc - len, fmt, ap);
    va_end(ap);
}

static float kc_random(kcase *kc) {
    float u = test_rng_uniform(kc->rng, -1.0f, 1.0f);
    if (kc->avoid_zero) u = u < 0 ? u - 0.5f : u + 0.5f;
    return u * kc->scale;
}

static void shape_note(kcase *kc, const char *what, int32_t ndim, const int64_t *ne) {
    char buf[160];
    kc_note(kc, " %s%s", what, ptq_shape_str(ndim, ne, buf, sizeof buf));
}

/* Appends id to a graph's input or output list (plain malloc'd arrays the graph frees). */
static void push_id(int32_t **list, int32_t *n, int32_t id) {
    *list = realloc(*list, (size_t)(*n + 1) * sizeof **list);
    ck_assert_ptr_nonnull(*list);
    (*list)[(*n)++] = id;
}

/* A run-time graph input (fed with random data by kc_run). */
static int32_t kc_input(kcase *kc, int32_t ndim, const int64_t *ne) {
    char name[32];
    ptq_error err = {0};
    snprintf(name, sizeof name, "x%d", kc->n_names++);
    int32_t id = ptq_graph_add_value(kc->g, name, PTQ_DTYPE_F32, ndim, ne, &err);
    ck_assert_msg(id >= 0, "%s", err.msg);
    kc->g->values[id].flags |= PTQ_VALUE_INPUT;
    push_id(&kc->g->inputs, &kc->g->n_inputs, id);
    shape_note(kc, "in", ndim, ne);
    return id;
}

static int32_t kc_const_tensor(kcase *kc, ptq_tensor *t) {
    char name[32];
    ptq_error err = {0};
    snprintf(name, sizeof name, "c%d", kc->n_names++);
    int32_t id = ptq_graph_add_constant(kc->g, name, t, &err);
    ck_assert_msg(id >= 0, "%s", err.msg);
    return id;
}

/* A float32 constant with random contents. */
static int32_t kc_const(kcase *kc, int32_t ndim, const int64_t *ne) {
    ptq_error err = {0};
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, ndim, ne, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    float *d = t->data;
    for (int64_t i = 0; i < ptq_tensor_numel(t); i++) d[i] = kc_random(kc);
    shape_note(kc, "const", ndim, ne);
    return kc_const_tensor(kc, t);
}

/* Either an input or a constant, at random; constants cannot hold the batch size. */
static int32_t kc_operand(kcase *kc, int32_t ndim, const int64_t *ne, bool may_be_const) {
    bool batched = false;
    for (int32_t i = 0; i < ndim; i++) batched |= ne[i] == B;
    if (!batched && may_be_const && test_rng_int(kc->rng, 0, 1))
        return kc_const(kc, ndim, ne);
    return kc_input(kc, ndim, ne);
}

/* Adds a node with one fresh output value; the last node added is the one whose output
 * kc_run checks.  The pointer is valid until the next node is added. */
static ptq_node *kc_node(kcase *kc, ptq_op op, int32_t n_in, const int32_t *in) {
    ptq_graph *g = kc->g;
    ptq_error err = {0};
    char name[32];
    snprintf(name, sizeof name, "v%d", kc->n_names++);
    int32_t y = ptq_graph_add_value(g, name, PTQ_DTYPE_F32, 0, NULL, &err);
    ck_assert_msg(y >= 0, "%s", err.msg);
    snprintf(name, sizeof name, "%s_%d", ptq_op_name(op), g->n_nodes);
    int32_t id = ptq_graph_add_node(g, op, name, n_in, in, 1, &y, &err);
    ck_assert_msg(id >= 0, "%s", err.msg);
    kc->y = y;
    return &g->nodes[id];
}

/* Concrete shape of value v at batch b. */
static void concrete(const ptq_value *v, int64_t b, ptq_kt *kt) {
    kt->ndim = v->ndim;
    for (int32_t i = 0; i < v->ndim; i++) kt->ne[i] = v->ne[i] == B ? b : v->ne[i];
}

static int64_t numel(int32_t ndim, const int64_t *ne) {
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; i++) n *= ne[i];
    return n;
}

/* The whole graph evaluated with the reference kernels at batch b: returns the contents
 * of value `want` (caller frees) and its shape. */
static float *ref_eval(const ptq_graph *g, int64_t b, float *const *data, int32_t want,
                       ptq_kt *shape) {
    ref_batch = b;
    ptq_kt *val = calloc((size_t)g->n_values, sizeof *val);
    bool *owned = calloc((size_t)g->n_values, sizeof *owned);
    ck_assert(val && owned);
    for (int32_t v = 0; v < g->n_values; v++) {
        concrete(&g->values[v], b, &val[v]);
        if (g->values[v].data) val[v].data = g->values[v].data->data;
    }
    for (int32_t i = 0; i < g->n_inputs; i++) val[g->inputs[i]].data = data[i];
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        ptq_kt kin[MAX_IN];
        memset(kin, 0, sizeof kin);
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) kin[k] = val[n->inputs[k]];
        for (int32_t k = 0; k < n->n_outputs; k++) { /* Split: ref_output_index says which */
            ref_output_index = k;
            ptq_kt *o = &val[n->outputs[k]];
            o->ndim = ref_of(n->op)(n, kin, o->ne, NULL);
            o->data = malloc((size_t)ptq_kt_numel(o) * sizeof(float) + 1);
            ck_assert_ptr_nonnull(o->data);
            owned[n->outputs[k]] = true;
            ref_of(n->op)(n, kin, o->ne, o->data);
        }
    }
    *shape = val[want];
    const size_t bytes = (size_t)ptq_kt_numel(shape) * sizeof(float);
    float *out = malloc(bytes + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, val[want].data, bytes);
    for (int32_t v = 0; v < g->n_values; v++)
        if (owned[v]) free(val[v].data);
    free(val);
    free(owned);
    shape->data = NULL;
    return out;
}

/* Index of the element that violates the tolerance most, for failure messages. */
static int64_t worst_index(const float *a, const float *b, int64_t n) {
    int64_t at = 0;
    double worst = -1.0;
    for (int64_t i = 0; i < n; i++) {
        double v = test_max_violation(a + i, b + i, 1, RTOL, ATOL);
        if (!(v <= worst)) {
            worst = v;
            at = i;
            if (isnan(v)) break;
        }
    }
    return at;
}

/* Runs one executor at every batch size and compares each result with the reference.
 * If out is non-NULL it receives the output at MAX_BATCH. */
static void kc_run_exec(kcase *kc, float *const *data, int32_t threads, bool keep_all,
                        float *out) {
    ptq_graph *g = kc->g;
    ptq_error err = {0};
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = MAX_BATCH;
    eo.threads = threads;
    eo.keep_all = keep_all;
    ptq_exec *ex = ptq_exec_new(g, &eo, &err);
    ck_assert_msg(ex != NULL, "%s: ptq_exec_new: %s", kc->desc, err.msg);
    for (int32_t i = 0; i < g->n_inputs; i++)
        ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[i], data[i]), PTQ_OK);
    for (int64_t b = 1; b <= MAX_BATCH; b++) {
        ck_assert_msg(ptq_exec_run(ex, b, &err) == PTQ_OK, "%s: run: %s", kc->desc, err.msg);
        ptq_kt want_shape;
        float *want = ref_eval(g, b, data, kc->y, &want_shape);
        int64_t got_ne[PTQ_MAX_DIMS];
        int32_t got_nd;
        ptq_exec_shape(ex, kc->y, &got_nd, got_ne);
        char b1[160], b2[160];
        ck_assert_msg(got_nd == want_shape.ndim &&
                          !memcmp(got_ne, want_shape.ne, (size_t)got_nd * sizeof *got_ne),
                      "%s: batch %ld: output shape %s, expected %s", kc->desc, (long)b,
                      ptq_shape_str(got_nd, got_ne, b1, sizeof b1),
                      ptq_shape_str(want_shape.ndim, want_shape.ne, b2, sizeof b2));
        const int64_t cnt = ptq_kt_numel(&want_shape);
        const float *got = ptq_exec_data(ex, kc->y);
        ck_assert_ptr_nonnull(got);
        double viol = test_max_violation(got, want, cnt, RTOL, ATOL);
        if (!(viol <= 1.0)) {
            int64_t at = worst_index(got, want, cnt);
            ck_abort_msg("%s: batch %ld threads %d%s: element %ld of %ld is %.8g, expected "
                         "%.8g (violation %.3g)", kc->desc, (long)b, threads,
                         keep_all ? " keep_all" : "", (long)at, (long)cnt, (double)got[at],
                         (double)want[at], viol);
        }
        if (out && b == MAX_BATCH) memcpy(out, got, (size_t)cnt * sizeof *out);
        free(want);
    }
    ptq_exec_free(ex);
}

/* Makes the last node's output the graph output, infers shapes and validates. */
static void kc_infer(kcase *kc) {
    ptq_error err = {0};
    ptq_graph *g = kc->g;
    g->values[kc->y].flags |= PTQ_VALUE_OUTPUT;
    push_id(&g->outputs, &g->n_outputs, kc->y);
    ck_assert_msg(ptq_graph_infer_shapes(g, &err) == PTQ_OK, "%s: shape inference: %s",
                  kc->desc, err.msg);
    ck_assert_msg(ptq_graph_validate(g, &err) == PTQ_OK, "%s: validate: %s", kc->desc, err.msg);
}

/* Random data for every graph input at the largest batch. */
static float **kc_data(kcase *kc) {
    ptq_graph *g = kc->g;
    float **data = calloc((size_t)g->n_inputs + 1, sizeof *data);
    ck_assert_ptr_nonnull(data);
    for (int32_t i = 0; i < g->n_inputs; i++) {
        ptq_kt kt;
        concrete(&g->values[g->inputs[i]], MAX_BATCH, &kt);
        int64_t cnt = ptq_kt_numel(&kt);
        data[i] = malloc((size_t)cnt * sizeof(float) + 1);
        ck_assert_ptr_nonnull(data[i]);
        for (int64_t k = 0; k < cnt; k++) data[i][k] = kc_random(kc);
    }
    return data;
}

static void kc_free(kcase *kc, float **data) {
    for (int32_t i = 0; data && i < kc->g->n_inputs; i++) free(data[i]);
    free(data);
    ptq_graph_free(kc->g);
    kc->g = NULL;
}

static int64_t kc_out_numel(const kcase *kc) {
    ptq_kt kt;
    concrete(&kc->g->values[kc->y], MAX_BATCH, &kt);
    return ptq_kt_numel(&kt);
}

static void require_same_bits(const kcase *kc, const float *a, const float *b, int64_t cnt,
                              const char *what) {
    for (int64_t i = 0; i < cnt; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof *a) == 0,
                      "%s: element %ld differs %s: %.9g vs %.9g", kc->desc, (long)i, what,
                      (double)a[i], (double)b[i]);
}

/* Calls the node's kernel directly, outside the executor, with every operand in its own
 * exactly sized buffer: the sanitizer build then catches any read past an input, and in
 * every build the output is followed by guard floats that must stay untouched (in the
 * executor's arena a stray write would land in a neighbouring value unseen). */
#define GUARD 64
static void kc_direct(kcase *kc, float *const *data) {
    const ptq_graph *g = kc->g;
    const ptq_node *n = &g->nodes[g->n_nodes - 1];
    const ptq_op_traits *t = &ptq_op_table[n->op];
    ptq_kt kin[MAX_IN];
    void *owned[MAX_IN] = {0};
    memset(kin, 0, sizeof kin);
    for (int32_t k = 0; k < n->n_inputs; k++) {
        const int32_t v = n->inputs[k];
        if (v < 0) continue;
        concrete(&g->values[v], MAX_BATCH, &kin[k]);
        const void *src = g->values[v].data ? g->values[v].data->data : NULL;
        for (int32_t i = 0; i < g->n_inputs; i++)
            if (g->inputs[i] == v) src = data[i];
        ck_assert_ptr_nonnull(src);
        const size_t bytes = (size_t)ptq_kt_numel(&kin[k]) *
                             (g->values[v].dtype == PTQ_DTYPE_I64 ? 8 : 4);
        ck_assert_int_eq(posix_memalign(&owned[k], 64, bytes ? bytes : 1), 0);
        memcpy(owned[k], src, bytes);
        kin[k].data = owned[k];
    }
    ptq_kt kout;
    concrete(&g->values[n->outputs[0]], MAX_BATCH, &kout);
    const int64_t cnt = ptq_kt_numel(&kout);
    float *y;
    ck_assert_int_eq(posix_memalign((void **)&y, 64, (size_t)(cnt + GUARD) * sizeof *y), 0);
    const uint32_t sentinel = 0x7FC0DEADu; /* a NaN no kernel computes */
    for (int64_t i = 0; i < cnt + GUARD; i++) memcpy(&y[i], &sentinel, sizeof sentinel);
    kout.data = y;
    const int32_t threads = 2;
    const size_t wf = t->work ? t->work(n, kin) : 0, sf = t->work_shared ? t->work_shared(n, kin) : 0;
    float *work = NULL, *shared = NULL;
    ck_assert_int_eq(posix_memalign((void **)&work, 64, (wf * threads + 1) * sizeof(float)), 0);
    ck_assert_int_eq(posix_memalign((void **)&shared, 64, (sf + 1) * sizeof(float)), 0);
    ptq_kctx kctx = {.threads = threads, .work = work, .work_floats = wf, .shared = shared};
    t->forward(n, &kctx, kin, &kout);
    for (int64_t i = cnt; i < cnt + GUARD; i++)
        ck_assert_msg(memcmp(&y[i], &sentinel, sizeof sentinel) == 0,
                      "%s: the kernel wrote %ld floats past its %ld-float output", kc->desc,
                      (long)(i - cnt + 1), (long)cnt);
    for (int64_t i = 0; i < cnt; i++)
        ck_assert_msg(memcmp(&y[i], &sentinel, sizeof sentinel) != 0,
                      "%s: the kernel left output element %ld unwritten", kc->desc, (long)i);
    ptq_kt want_shape;
    float *want = ref_eval(g, MAX_BATCH, data, kc->y, &want_shape);
    const double viol = test_max_violation(y, want, cnt, RTOL, ATOL);
    ck_assert_msg(viol <= 1.0, "%s: direct call: violation %g", kc->desc, viol);
    free(want);
    free(work);
    free(shared);
    free(y);
    for (int32_t k = 0; k < MAX_IN; k++) free(owned[k]);
}

/* ---- the backward pass of the same case (grad_ops.c, kernels/conv_grad.c) ---- */

/* sum(r * y) after a tape forward. */
static double grad_loss(ptq_tape *t, int32_t y, const float *r, int64_t m) {
    ptq_tape_forward(t, MAX_BATCH);
    const float *out = ptq_tape_value(t, y);
    double s = 0.0;
    for (int64_t i = 0; i < m; i++) s += (double)r[i] * out[i];
    return s;
}

/* Gradients of sum(r * y) by the tape with respect to every float input and constant of
 * the case, at batch MAX_BATCH: identical bits with 1 and 2 threads, and equal to central
 * differences at sampled coordinates.  A coordinate whose two difference quotients (steps
 * 1e-3 and 1e-4, relative) disagree sits on a kink (ReLU, max, clip) and proves nothing; FAKE_QUANT is
 * piecewise constant, so there the straight-through rule is checked directly instead. */
static void kc_grad(kcase *kc, float *const *data) {
    /* Under the sanitizers (PTQ_E2E_LIMIT set, see scripts/test.sh) every eighth case:
     * the same code paths (unit.grad checks every op there too) at an eighth of the cost. */
    static int64_t calls;
    if (getenv("PTQ_E2E_LIMIT") && calls++ % 8) return;
    const ptq_graph *g = kc->g;
    int32_t *nodes = malloc((size_t)g->n_nodes * sizeof *nodes), *consts = malloc((size_t)g->n_values * sizeof *consts);
    int32_t n_consts = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) nodes[i] = i;
    for (int32_t v = 0; v < g->n_values; v++)
        if (g->values[v].data && g->values[v].dtype == PTQ_DTYPE_F32) consts[n_consts++] = v;
    ptq_tape *tp[2];
    for (int32_t k = 0; k < 2; k++) {
        ptq_tape_options to = {nodes, g->n_nodes, MAX_BATCH, k + 1, consts, n_consts, g->inputs, g->n_inputs};
        ptq_error err = {0};
        tp[k] = ptq_tape_new(g, &to, &err);
        ck_assert_msg(tp[k] != NULL, "%s: tape: %s", kc->desc, err.msg);
        for (int32_t i = 0; i < g->n_inputs; i++) {
            ptq_kt kt;
            concrete(&g->values[g->inputs[i]], MAX_BATCH, &kt);
            memcpy(ptq_tape_value(tp[k], g->inputs[i]), data[i], (size_t)ptq_kt_numel(&kt) * sizeof(float));
        }
    }
    const int64_t m = kc_out_numel(kc);
    float *r = malloc((size_t)m * sizeof *r);
    test_fill_uniform(kc->rng, r, m, -1.0f, 1.0f);
    for (int32_t k = 0; k < 2; k++) {
        ptq_tape_forward(tp[k], MAX_BATCH);
        ptq_tape_zero_grad(tp[k], MAX_BATCH);
        memcpy(ptq_tape_grad(tp[k], kc->y), r, (size_t)m * sizeof *r);
        ptq_tape_backward(tp[k], MAX_BATCH);
    }
    ptq_tape *t = tp[0];
    /* A window entirely in padding gives -inf, and then the loss is not a number. */
    bool finite = true;
    const float *y0 = ptq_tape_value(t, kc->y);
    for (int64_t i = 0; i < m; i++) finite &= isfinite(y0[i]) != 0;
    const bool fq = g->nodes[g->n_nodes - 1].op == PTQ_OP_FAKE_QUANT && g->n_nodes == 1;
    int misses = 0;
    for (int32_t w = 0; w < g->n_inputs + n_consts; w++) {
        const int32_t v = w < g->n_inputs ? g->inputs[w] : consts[w - g->n_inputs];
        ptq_kt kt;
        concrete(&g->values[v], MAX_BATCH, &kt);
        const int64_t cnt = ptq_kt_numel(&kt);
        const float *g0 = ptq_tape_grad(tp[0], v), *g1 = ptq_tape_grad(tp[1], v);
        if (!g0) continue; /* not on a path to the output */
        require_same_bits(kc, g0, g1, cnt, "in the gradient between 1 and 2 threads");
        if (!finite) continue;
        if (fq) {
            /* STE: dx = dy inside the grid; the scale's LSQ gradient is summed per channel. */
            if (w >= g->n_inputs) continue;
            const ptq_node *n = &g->nodes[0];
            const float *x = data[0], *sc = g->values[n->inputs[1]].data->data;
            const int32_t *zp = g->values[n->inputs[2]].data->data;
            int64_t inner = 1, c = 1;
            if (n->attrs.q_axis >= 0) {
                c = kt.ne[n->attrs.q_axis];
                for (int32_t d = n->attrs.q_axis + 1; d < kt.ndim; d++) inner *= kt.ne[d];
            }
            for (int64_t i = 0; i < cnt; i++) {
                const int64_t ch = n->attrs.q_axis >= 0 ? (i / inner) % c : 0;
                const float q = rintf(x[i] / sc[ch]) + (float)zp[ch];
                const float want = q >= (float)n->attrs.qmin && q <= (float)n->attrs.qmax ? r[i] : 0.0f;
                ck_assert_msg(g0[i] == want, "%s: FAKE_QUANT dx[%ld] = %g, want %g", kc->desc, (long)i,
                              (double)g0[i], (double)want);
            }
            continue;
        }
        float *val = ptq_tape_value(t, v);
        float *gcopy = malloc((size_t)cnt * sizeof *gcopy);
        memcpy(gcopy, g0, (size_t)cnt * sizeof *gcopy);
        for (int c = 0; c < 5; c++) {
            const int64_t i = test_rng_int(kc->rng, 0, cnt - 1);
            const float keep = val[i];
            double fd[2];
            for (int e = 0; e < 2; e++) {
                const float h = (e ? 1e-4f : 1e-3f) * fmaxf(1.0f, fabsf(keep));
                val[i] = keep + h;
                const double lp = grad_loss(t, kc->y, r, m);
                val[i] = keep - h;
                const double lm = grad_loss(t, kc->y, r, m);
                val[i] = keep;
                fd[e] = (lp - lm) / (2.0 * (double)h);
            }
            /* A weight moves many outputs, so a kink inside both steps is likelier there. */
            const double rtol = w >= g->n_inputs && g->n_nodes > 1 ? 2e-2 : 1e-2;
            const double tol = rtol * fmax(fabs(fd[1]), fabs(gcopy[i])) + 5e-3;
            /* The long step is exact for linear ops but may straddle a kink, the short one
             * is kink-safe but noisier in float: agreeing with either is agreeing. */
            if (fabs(fd[0] - gcopy[i]) <= tol || fabs(fd[1] - gcopy[i]) <= tol) continue;
            if (fabs(fd[0] - fd[1]) > tol) continue; /* a kink, or noise: no verdict */
            /* In a chain (Conv -> ReLU), moving one weight shifts hundreds of outputs, and
             * one of them crossing a kink inside both steps is no rare event: one such
             * miss per case is tolerated there, never in a lone op. */
            ck_assert_msg(w >= g->n_inputs && g->n_nodes > 1 && misses++ == 0,
                          "%s: d/d %s[%ld]: backward %.6g, differences %.6g", kc->desc, g->values[v].name,
                          (long)i, (double)gcopy[i], fd[1]);
        }
        free(gcopy);
    }
    free(r);
    ptq_tape_free(tp[0]);
    ptq_tape_free(tp[1]);
    free(nodes);
    free(consts);
}

/* Infers; runs with 1 and 2 threads at every batch size against the reference; calls a
 * lone node's kernel directly (kc_direct); with check_unfused, also requires the fused
 * plan's bits from an unfused one; frees. */
static void kc_run(kcase *kc) {
    kc_infer(kc);
    float **data = kc_data(kc);
    const int64_t cnt = kc_out_numel(kc);
    float *fused = malloc((size_t)cnt * sizeof(float) + 1);
    float *plain = malloc((size_t)cnt * sizeof(float) + 1);
    ck_assert(fused && plain);
    kc_run_exec(kc, data, 1, false, fused);
    kc_run_exec(kc, data, 2, false, NULL);
    if (kc->g->n_nodes == 1) kc_direct(kc, data);
    kc_grad(kc, data);
    if (kc->check_unfused) {
        kc_run_exec(kc, data, 1, true, plain);
        require_same_bits(kc, fused, plain, cnt, "between the fused and unfused (keep_all) runs");
    }
    free(fused);
    free(plain);
    kc_free(kc, data);
}

/* ======================================================= reference helpers ====== */

/* Offset into t of the output multi-index idx (rank r) under numpy broadcasting: t's
 * dims are right-aligned, and a dim of size 1 always reads index 0. */
static int64_t bcast_offset(const ptq_kt *t, const int64_t *idx, int32_t r) {
    int64_t off = 0;
    for (int32_t i = 0; i < t->ndim; i++) {
        int64_t j = idx[r - t->ndim + i];
        off = off * t->ne[i] + (t->ne[i] == 1 ? 0 : j);
    }
    return off;
}

static void unravel(int64_t flat, int32_t r, const int64_t *ne, int64_t *idx) {
    for (int32_t i = r - 1; i >= 0; i--) {
        idx[i] = flat % ne[i];
        flat /= ne[i];
    }
}

static int64_t ravel(int32_t r, const int64_t *ne, const int64_t *idx) {
    int64_t off = 0;
    for (int32_t i = 0; i < r; i++) off = off * ne[i] + idx[i];
    return off;
}

static int32_t copy_shape(const ptq_kt *t, int64_t *ne) {
    memcpy(ne, t->ne, (size_t)t->ndim * sizeof *ne);
    return t->ndim;
}

/* ==================================================================== Conv ====== */

/* Output size of a sliding window (floor mode, and PyTorch's ceil mode that drops a
 * last window starting in the end padding). */
static int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe,
                          bool ceil_mode) {
    int64_t span = d * (k - 1) + 1, avail = in + pb + pe - span;
    int64_t out = (ceil_mode ? (avail + s - 1) / s : avail / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + pb) out--;
    return out;
}

/* Spatial geometry of a 1-D or 2-D window op, with the 1-D case as H = 1. */
typedef struct win {
    int64_t h, w, kh, kw, sh, sw, dh, dw, ph, pw, peh, pew, oh, ow;
} win;

static void win_geom(const ptq_kt *x, int32_t nsp, const int64_t *k, const int64_t *s,
                     const int64_t *d, const int64_t *pb, const int64_t *pe, bool ceil_mode,
                     win *q) {
    const bool one = nsp == 1;
    q->h = one ? 1 : x->ne[2];
    q->w = x->ne[nsp + 1];
    q->kh = one ? 1 : k[0];
    q->kw = k[nsp - 1];
    q->sh = one ? 1 : s[0];
    q->sw = s[nsp - 1];
    q->dh = one ? 1 : d[0];
    q->dw = d[nsp - 1];
    q->ph = one ? 0 : pb[0];
    q->pw = pb[nsp - 1];
    q->peh = one ? 0 : pe[0];
    q->pew = pe[nsp - 1];
    q->oh = window_out(q->h, q->kh, q->sh, q->dh, q->ph, q->peh, ceil_mode);
    q->ow = window_out(q->w, q->kw, q->sw, q->dw, q->pw, q->pew, ceil_mode);
}

static int32_t ref_conv(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_conv_attrs *a = &n->attrs.conv;
    const ptq_kt *x = &in[0], *w = &in[1];
    const float *bias = in[2].data;
    const int32_t nsp = x->ndim - 2;
    int64_t k[2] = {w->ne[2], nsp == 2 ? w->ne[3] : 0};
    win q;
    win_geom(x, nsp, k, a->stride, a->dilation, a->pad_begin, a->pad_end, false, &q);
    const int64_t N = x->ne[0], C = x->ne[1], M = w->ne[0], cg = w->ne[1];
    const int64_t mg = M / a->group;
    ne[0] = N;
    ne[1] = M;
    if (nsp == 2) ne[2] = q.oh;
    ne[nsp + 1] = q.ow;
    if (!out) return nsp + 2;
    const float *xd = x->data, *wd = w->data;
    for (int64_t img = 0; img < N; img++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t oy = 0; oy < q.oh; oy++)
                for (int64_t ox = 0; ox < q.ow; ox++) {
                    double acc = bias ? bias[m] : 0.0;
                    const int64_t c0 = (m / mg) * cg;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t ki = 0; ki < q.kh; ki++)
                            for (int64_t kj = 0; kj < q.kw; kj++) {
                                int64_t iy = oy * q.sh - q.ph + ki * q.dh;
                                int64_t ix = ox * q.sw - q.pw + kj * q.dw;
                                if (iy < 0 || iy >= q.h || ix < 0 || ix >= q.w) continue;
                                acc += (double)xd[((img * C + c0 + c) * q.h + iy) * q.w + ix] *
                                       wd[((m * cg + c) * q.kh + ki) * q.kw + kj];
                            }
                    out[((img * M + m) * q.oh + oy) * q.ow + ox] = (float)acc;
                }
    return nsp + 2;
}

typedef enum { CONV_REGULAR, CONV_GROUPED, CONV_DEPTHWISE, CONV_POINTWISE } conv_kind;

static const char *const conv_kind_names[] = {"regular", "grouped", "depthwise", "pointwise"};

/* Adds one random convolution reading a new batched input.  kmin..kmax bounds the
 * kernel size: the flat direct path takes kernels of up to 64 taps and im2col + sgemm
 * the rest, so kernels over 8 reach the second. */
static ptq_node *conv_build(kcase *kc, int32_t nsp, conv_kind kind, int64_t kmin, int64_t kmax,
                            int64_t extra) {
    test_rng *r = kc->rng;
    int64_t g = 1, cg, mg;
    switch (kind) {
    case CONV_REGULAR: cg = test_rng_int(r, 1, 6); mg = test_rng_int(r, 1, extra ? 20 : 9); break;
    case CONV_GROUPED:
        g = test_rng_int(r, 2, 4);
        cg = test_rng_int(r, 2, 3);
        mg = test_rng_int(r, 1, 4);
        break;
    case CONV_DEPTHWISE: /* one input channel per group; mg > 1 is a channel multiplier */
        g = test_rng_int(r, 1, 6);
        cg = 1;
        mg = test_rng_int(r, 1, 3);
        break;
    default: cg = test_rng_int(r, 1, 9); mg = test_rng_int(r, 1, 9); break;
    }
    ptq_conv_attrs a = {0};
    int64_t sp[2] = {1, 1};
    for (int32_t i = 0; i < nsp; i++) {
        if (kind == CONV_POINTWISE) {
            a.kernel[i] = a.stride[i] = a.dilation[i] = 1;
        } else {
            a.kernel[i] = test_rng_int(r, kmin, kmax);
            a.stride[i] = test_rng_int(r, 1, 3);
            a.dilation[i] = test_rng_int(r, 1, 2);
            a.pad_begin[i] = test_rng_int(r, 0, 2);
            a.pad_end[i] = test_rng_int(r, 0, 2);
        }
        /* An input at least as large as the (padded) window, up to a few strides more. */
        int64_t span = a.dilation[i] * (a.kernel[i] - 1) + 1;
        int64_t lo = PTQ_MAX(1, span - a.pad_begin[i] - a.pad_end[i]);
        sp[i] = test_rng_int(r, lo, lo + 3 * a.stride[i] + 2 + extra);
    }
    const bool bias = test_rng_int(r, 0, 1);
    kc_note(kc, " %s g=%ld cg=%ld mg=%ld k=%ldx%ld s=%ldx%ld d=%ldx%ld pads=%ld,%ld/%ld,%ld%s",
            conv_kind_names[kind], (long)g, (long)cg, (long)mg, (long)a.kernel[0],
            (long)a.kernel[1], (long)a.stride[0], (long)a.stride[1], (long)a.dilation[0],
            (long)a.dilation[1], (long)a.pad_begin[0], (long)a.pad_begin[1],
            (long)a.pad_end[0], (long)a.pad_end[1], bias ? " bias" : "");
    int64_t xne[4] = {B, g * cg, sp[0], sp[1]};
    int64_t wne[4] = {g * mg, cg, a.kernel[0], a.kernel[1]};
    int64_t bne[1] = {g * mg};
    int32_t in[3];
    in[0] = kc_input(kc, nsp + 2, xne);
    in[1] = kc_const(kc, nsp + 2, wne);
    if (bias) in[2] = kc_const(kc, 1, bne);
    ptq_node *n = kc_node(kc, PTQ_OP_CONV, bias ? 3 : 2, in);
    a.group = g;
    n->attrs.conv = a;
    /* Leave some attributes at 0 so inference fills them from the weight. */
    if (test_rng_int(r, 0, 1)) n->attrs.conv.n_spatial = 0;
    else n->attrs.conv.n_spatial = nsp;
    if (test_rng_int(r, 0, 1)) memset(n->attrs.conv.kernel, 0, sizeof n->attrs.conv.kernel);
    return n;
}

/* extra > 0 makes planes up to `extra` pixels wider (several register tiles per row of
 * positions) and output channel counts up to 20 (several channel blocks). */
static void conv_case(kcase *kc, int32_t nsp, conv_kind kind, int64_t kmin, int64_t kmax,
                      int64_t extra) {
    conv_build(kc, nsp, kind, kmin, kmax, extra);
    kc_run(kc);
}

static const conv_kind all_conv_kinds[] = {CONV_REGULAR, CONV_GROUPED, CONV_DEPTHWISE,
                                           CONV_POINTWISE};

START_TEST(conv2d_random) {
    test_rng r = {0x9E3779B97F4A7C15ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 40; c++) {
        kcase kc;
        conv_kind kind = all_conv_kinds[c % 4];
        kc_begin(&kc, &r, "conv2d seed %d case %d:", _i, c);
        conv_case(&kc, 2, kind, 1, 5, 0);
    }
}
END_TEST

START_TEST(conv1d_random) {
    test_rng r = {0xC0FFEE1234567ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 24; c++) {
        kcase kc;
        kc_begin(&kc, &r, "conv1d seed %d case %d:", _i, c);
        conv_case(&kc, 1, all_conv_kinds[c % 4], 1, 5, (c / 4) % 2 ? 60 : 0);
    }
}
END_TEST

/* Planes of up to ~24 x 24: many register tiles per image, channel blocks, and the
 * in-place 1x1 path's full tiles. */
START_TEST(conv2d_large_planes) {
    test_rng r = {0x1A26E97ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 16; c++) {
        kcase kc;
        kc_begin(&kc, &r, "conv2d large plane seed %d case %d:", _i, c);
        conv_case(&kc, 2, all_conv_kinds[c % 4], 1, 5, 16);
    }
}
END_TEST

/* Kernels of more than 64 taps take the im2col + sgemm path. */
START_TEST(conv_large_kernel) {
    test_rng r = {0xABCDEF987ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 3; c++) {
        kcase kc;
        kc_begin(&kc, &r, "conv large kernel seed %d case %d:", _i, c);
        conv_case(&kc, 2, all_conv_kinds[c], 9, 10, 0);
        kc_begin(&kc, &r, "conv1d large kernel seed %d case %d:", _i, c);
        conv_case(&kc, 1, all_conv_kinds[c], 65, 70, 0);
    }
}
END_TEST

/* =================================================================== Gemm ====== */

static int32_t ref_gemm(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_gemm_attrs *at = &n->attrs.gemm;
    const ptq_kt *A = &in[0], *Bm = &in[1], *C = &in[2];
    const int64_t m = at->trans_a ? A->ne[1] : A->ne[0], k = at->trans_a ? A->ne[0] : A->ne[1];
    const int64_t nn = at->trans_b ? Bm->ne[0] : Bm->ne[1];
    ne[0] = m;
    ne[1] = nn;
    if (!out) return 2;
    const float *a = A->data, *b = Bm->data, *c = C->data;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < nn; j++) {
            double acc = 0.0;
            for (int64_t p = 0; p < k; p++)
                acc += (double)(at->trans_a ? a[p * m + i] : a[i * k + p]) *
                       (at->trans_b ? b[j * k + p] : b[p * nn + j]);
            acc *= at->alpha;
            if (c) {
                int64_t idx[2] = {i, j};
                acc += (double)at->beta * c[bcast_offset(C, idx, 2)];
            }
            out[i * nn + j] = (float)acc;
        }
    return 2;
}

/* C shapes Gemm accepts: none, [], [N], [1,N], [M,1], [M,N]. */
enum { C_NONE, C_SCALAR, C_N, C_1N, C_M1, C_MN, C_SHAPES };
static const char *const c_shape_names[] = {"none", "[]", "[N]", "[1,N]", "[M,1]", "[M,N]"};

static void gemm_case(kcase *kc, bool batched_rows, int c_shape, int64_t mmax, int64_t kmax,
                      int64_t nmax) {
    test_rng *r = kc->rng;
    const int64_t m = test_rng_int(r, 1, mmax), k = test_rng_int(r, 1, kmax);
    const int64_t nn = test_rng_int(r, 1, nmax);
    ptq_gemm_attrs at = {1.0f, 1.0f, 0, 0};
    static const float alphas[] = {1.0f, 0.5f, -1.25f, 2.0f};
    static const float betas[] = {1.0f, 0.0f, 0.75f, -2.0f};
    at.alpha = alphas[test_rng_int(r, 0, 3)];
    at.beta = betas[test_rng_int(r, 0, 3)];
    /* Only A's rows may follow the batch size, so transA needs fixed rows. */
    at.trans_a = batched_rows ? 0 : (int32_t)test_rng_int(r, 0, 1);
    at.trans_b = (int32_t)test_rng_int(r, 0, 1);
    const int64_t rows = batched_rows ? B : m;
    kc_note(kc, " M=%ld%s K=%ld N=%ld transA=%d transB=%d alpha=%g beta=%g C=%s", (long)m,
            batched_rows ? "(batch)" : "", (long)k, (long)nn, at.trans_a, at.trans_b,
            (double)at.alpha, (double)at.beta, c_shape_names[c_shape]);
    int64_t ane[2] = {at.trans_a ? k : rows, at.trans_a ? rows : k};
    int64_t bne[2] = {at.trans_b ? nn : k, at.trans_b ? k : nn};
    int32_t in[3];
    in[0] = kc_input(kc, 2, ane);
    in[1] = kc_operand(kc, 2, bne, true);
    int32_t n_in = 2;
    int64_t cne[2] = {0, 0};
    switch (c_shape) {
    case C_SCALAR: in[n_in++] = kc_operand(kc, 0, cne, true); break;
    case C_N: cne[0] = nn; in[n_in++] = kc_operand(kc, 1, cne, true); break;
    case C_1N: cne[0] = 1; cne[1] = nn; in[n_in++] = kc_operand(kc, 2, cne, true); break;
    case C_M1: cne[0] = m; cne[1] = 1; in[n_in++] = kc_operand(kc, 2, cne, true); break;
    case C_MN: cne[0] = m; cne[1] = nn; in[n_in++] = kc_operand(kc, 2, cne, true); break;
    default: break;
    }
    ptq_node *n = kc_node(kc, PTQ_OP_GEMM, n_in, in);
    n->attrs.gemm = at;
    kc_run(kc);
}

START_TEST(gemm_random) {
    test_rng r = {0x1234ABCDULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 5 * C_SHAPES; c++) {
        kcase kc;
        /* Fixed rows take every C shape; batched rows only those without M. */
        kc_begin(&kc, &r, "gemm seed %d case %d:", _i, c);
        gemm_case(&kc, false, c % C_SHAPES, 9, 17, 17);
        if (c % C_SHAPES == C_M1 || c % C_SHAPES == C_MN) continue;
        kc_begin(&kc, &r, "gemm seed %d case %d batched:", _i, c);
        gemm_case(&kc, true, c % C_SHAPES, 9, 17, 17);
    }
    /* Enough rows for the kernel to split them across threads. */
    kcase kc;
    kc_begin(&kc, &r, "gemm seed %d tall:", _i);
    gemm_case(&kc, false, (int)test_rng_int(&r, 0, C_SHAPES - 1), 70, 33, 20);
}
END_TEST

/* ================================================================= MatMul ====== */

static int32_t ref_matmul(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    (void)n;
    const ptq_kt *A = &in[0], *Bm = &in[1];
    /* numpy: promote 1-D operands, broadcast the batch dims, drop the promoted dims. */
    ptq_kt pa = *A, pb = *Bm;
    if (A->ndim == 1) { pa.ndim = 2; pa.ne[0] = 1; pa.ne[1] = A->ne[0]; }
    if (Bm->ndim == 1) { pb.ndim = 2; pb.ne[0] = Bm->ne[0]; pb.ne[1] = 1; }
    const int64_t m = pa.ne[pa.ndim - 2], k = pa.ne[pa.ndim - 1], nn = pb.ne[pb.ndim - 1];
    ptq_kt ba = pa, bb = pb; /* the batch parts */
    ba.ndim -= 2;
    bb.ndim -= 2;
    const int32_t nb = PTQ_MAX(ba.ndim, bb.ndim);
    int64_t bat[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < nb; i++) {
        int32_t ia = i - (nb - ba.ndim), ib = i - (nb - bb.ndim);
        int64_t da = ia >= 0 ? ba.ne[ia] : 1, db = ib >= 0 ? bb.ne[ib] : 1;
        bat[i] = da == 1 ? db : da;
    }
    int32_t r = 0;
    for (int32_t i = 0; i < nb; i++) ne[r++] = bat[i];
    if (A->ndim > 1) ne[r++] = m;
    if (Bm->ndim > 1) ne[r++] = nn;
    if (!out) return r;
    const float *a = A->data, *b = Bm->data;
    const int64_t total = numel(nb, bat);
    for (int64_t t = 0; t < total; t++) {
        int64_t idx[PTQ_MAX_DIMS];
        unravel(t, nb, bat, idx);
        const int64_t oa = bcast_offset(&ba, idx, nb) * m * k;
        const int64_t ob = bcast_offset(&bb, idx, nb) * k * nn;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < nn; j++) {
                double acc = 0.0;
                for (int64_t p = 0; p < k; p++)
                    acc += (double)a[oa + i * k + p] * b[ob + p * nn + j];
                out[(t * m + i) * nn + j] = (float)acc;
            }
    }
    return r;
}

START_TEST(matmul_random) {
    test_rng r = {0x5151AAAAULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 64; c++) {
        kcase kc;
        kc_begin(&kc, &r, "matmul seed %d case %d:", _i, c);
        const int32_t ra = (int32_t)test_rng_int(&r, 1, 4), rb = (int32_t)test_rng_int(&r, 1, 4);
        const int64_t m = test_rng_int(&r, 1, 6), k = test_rng_int(&r, 1, 7);
        const int64_t nn = test_rng_int(&r, 1, 6);
        int64_t ane[4], bne[4], bat[2];
        for (int i = 0; i < 2; i++) bat[i] = test_rng_int(&r, 1, 3);
        /* Batch dims (right-aligned) are the full size or 1, at random. */
        for (int32_t i = 0; i < ra - 2; i++)
            ane[i] = test_rng_int(&r, 0, 2) ? bat[i + 4 - ra] : 1;
        for (int32_t i = 0; i < rb - 2; i++)
            bne[i] = test_rng_int(&r, 0, 2) ? bat[i + 4 - rb] : 1;
        if (ra == 1) ane[0] = k;
        else { ane[ra - 2] = m; ane[ra - 1] = k; }
        if (rb == 1) bne[0] = k;
        else { bne[rb - 2] = k; bne[rb - 1] = nn; }
        /* The batch symbol: A's first dim (rows or a batch dim) or B's first batch dim;
         * the other operand's dim aligned with it must then be 1 or absent. */
        int which = (int)test_rng_int(&r, 0, 2);
        if (which == 1 && ra >= 2) {
            ane[0] = B;
            int32_t j = rb - ra; /* B's dim aligned with A's dim 0 */
            if (ra >= 3 && j >= 0 && j < rb - 2) bne[j] = 1;
        } else if (which == 2 && rb >= 3) {
            bne[0] = B;
            int32_t j = ra - rb;
            if (ra >= 3 && j >= 0 && j < ra - 2) ane[j] = 1;
        }
        int32_t in[2];
        in[0] = kc_operand(&kc, ra, ane, true);
        in[1] = kc_operand(&kc, rb, bne, true);
        kc_node(&kc, PTQ_OP_MATMUL, 2, in);
        kc_run(&kc);
    }
}
END_TEST

/* ======================================================= Add Sub Mul Div ====== */

static int32_t ref_binary(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *A = &in[0], *Bt = &in[1];
    const int32_t r = PTQ_MAX(A->ndim, Bt->ndim);
    for (int32_t i = 0; i < r; i++) {
        int32_t ia = i - (r - A->ndim), ib = i - (r - Bt->ndim);
        int64_t da = ia >= 0 ? A->ne[ia] : 1, db = ib >= 0 ? Bt->ne[ib] : 1;
        ne[i] = da == 1 ? db : da;
    }
    if (!out) return r;
    const float *a = A->data, *b = Bt->data;
    const int64_t total = numel(r, ne);
    for (int64_t t = 0; t < total; t++) {
        int64_t idx[PTQ_MAX_DIMS];
        unravel(t, r, ne, idx);
        /* Computed in float, as the kernel must: one rounding, no double slack needed. */
        const float x = a[bcast_offset(A, idx, r)], y = b[bcast_offset(Bt, idx, r)];
        switch (n->op) {
        case PTQ_OP_ADD: out[t] = x + y; break;
        case PTQ_OP_SUB: out[t] = x - y; break;
        case PTQ_OP_MUL: out[t] = x * y; break;
        default: out[t] = x / y; break;
        }
    }
    return r;
}

static const ptq_op binary_ops[] = {PTQ_OP_ADD, PTQ_OP_SUB, PTQ_OP_MUL, PTQ_OP_DIV};

/* Two operands of random ranks 0..4 that broadcast: dims are the full size or 1. */
static void binary_case(kcase *kc, ptq_op op, int64_t dmax) {
    test_rng *r = kc->rng;
    const int32_t rank = (int32_t)test_rng_int(r, 0, 4);
    int64_t full[4];
    for (int32_t i = 0; i < rank; i++) full[i] = test_rng_int(r, 1, dmax);
    int32_t ra = (int32_t)test_rng_int(r, 0, rank), rb = (int32_t)test_rng_int(r, 0, rank);
    if (test_rng_int(r, 0, 1)) ra = rank;
    else rb = rank;
    int64_t ane[4], bne[4];
    for (int32_t i = 0; i < ra; i++) ane[i] = test_rng_int(r, 0, 2) ? full[rank - ra + i] : 1;
    for (int32_t i = 0; i < rb; i++) bne[i] = test_rng_int(r, 0, 2) ? full[rank - rb + i] : 1;
    /* The batch symbol at dim 0 of every full-rank operand whose dim 0 is not 1. */
    if (rank >= 1 && test_rng_int(r, 0, 1)) {
        bool any = false;
        if (ra == rank && ane[0] != 1) {
            ane[0] = B;
            any = true;
        }
        if (rb == rank && bne[0] != 1) {
            bne[0] = B;
            any = true;
        }
        if (!any) {
            if (ra == rank) ane[0] = B;
            else bne[0] = B;
        }
    }
    kc->avoid_zero = op == PTQ_OP_DIV;
    int32_t in[2];
    in[0] = kc_operand(kc, ra, ane, true);
    in[1] = kc_operand(kc, rb, bne, true);
    kc_node(kc, op, 2, in);
    kc_run(kc);
}

START_TEST(binary_random) {
    test_rng r = {0xB1B1B1B1ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 96; c++) {
        kcase kc;
        ptq_op op = binary_ops[c % 4];
        kc_begin(&kc, &r, "%s seed %d case %d:", ptq_op_name(op), _i, c);
        binary_case(&kc, op, 5);
    }
}
END_TEST

/* Long rows: the kernel splits them across threads only above 16384 elements. */
START_TEST(binary_large) {
    test_rng r = {0xB16ULL};
    for (int c = 0; c < 4; c++) {
        kcase kc;
        kc_begin(&kc, &r, "%s large:", ptq_op_name(binary_ops[c]));
        int64_t ane[2] = {B, 20000}, bne[1] = {20000}, cne[3] = {B, 300, 130}, dne[3] = {1, 300, 1};
        int32_t in[2];
        kc.avoid_zero = binary_ops[c] == PTQ_OP_DIV;
        if (c % 2 == 0) {
            in[0] = kc_input(&kc, 2, ane);
            in[1] = kc_operand(&kc, 1, bne, true);
        } else {
            in[0] = kc_input(&kc, 3, cne);
            in[1] = kc_operand(&kc, 3, dne, true);
        }
        kc_node(&kc, binary_ops[c], 2, in);
        kc_run(&kc);
    }
}
END_TEST

/* ============================================================ activations ====== */

static int32_t ref_unary(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const int32_t r = copy_shape(&in[0], ne);
    if (!out) return r;
    const ptq_node_attrs *a = &n->attrs;
    const float *x = in[0].data;
    for (int64_t i = 0; i < numel(r, ne); i++) {
        const double v = x[i];
        double y;
        switch (n->op) {
        case PTQ_OP_RELU: y = v > 0 ? v : 0; break;
        case PTQ_OP_CLIP: y = fmin(fmax(v, a->clip_min), a->clip_max); break;
        case PTQ_OP_LEAKY_RELU: y = v >= 0 ? v : v * a->alpha; break;
        case PTQ_OP_SIGMOID: y = 1.0 / (1.0 + exp(-v)); break;
        case PTQ_OP_HARD_SIGMOID: y = fmin(1.0, fmax(0.0, (double)a->alpha * v + a->beta)); break;
        case PTQ_OP_HARD_SWISH: y = v * fmin(6.0, fmax(0.0, v + 3.0)) / 6.0; break;
        case PTQ_OP_TANH: y = tanh(v); break;
        default: ck_abort_msg("no unary reference for %s", ptq_op_name(n->op)); return 0;
        }
        out[i] = (float)y;
    }
    return r;
}

static const ptq_op unary_ops[] = {PTQ_OP_RELU,         PTQ_OP_CLIP,       PTQ_OP_LEAKY_RELU,
                                   PTQ_OP_SIGMOID,      PTQ_OP_HARD_SIGMOID, PTQ_OP_HARD_SWISH,
                                   PTQ_OP_TANH};

/* Random attributes for op; for Clip `variant` picks min only, max only, both, or a min
 * above the max (numpy's clip then gives the max everywhere). */
static void unary_attrs(kcase *kc, ptq_node *n, int variant) {
    test_rng *r = kc->rng;
    ptq_node_attrs *a = &n->attrs;
    switch (n->op) {
    case PTQ_OP_CLIP: {
        float lo = test_rng_uniform(r, -3.0f, 0.5f), hi = test_rng_uniform(r, 0.5f, 3.0f);
        switch (variant % 4) {
        case 0: a->clip_min = lo; break; /* max stays +inf */
        case 1: a->clip_max = hi; break; /* min stays -inf */
        case 2: a->clip_min = lo; a->clip_max = hi; break;
        default: a->clip_min = hi; a->clip_max = lo; break;
        }
        kc_note(kc, " min=%g max=%g", (double)a->clip_min, (double)a->clip_max);
        break;
    }
    case PTQ_OP_LEAKY_RELU:
        a->alpha = test_rng_uniform(r, -0.5f, 1.5f);
        kc_note(kc, " alpha=%g", (double)a->alpha);
        break;
    case PTQ_OP_HARD_SIGMOID:
        a->alpha = test_rng_uniform(r, 0.05f, 0.5f);
        a->beta = test_rng_uniform(r, 0.2f, 0.8f);
        kc_note(kc, " alpha=%g beta=%g", (double)a->alpha, (double)a->beta);
        break;
    default: break;
    }
}

START_TEST(unary_random) {
    test_rng r = {0x0A0A0A0AULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 63; c++) {
        kcase kc;
        ptq_op op = unary_ops[c % 7];
        kc_begin(&kc, &r, "%s seed %d case %d:", ptq_op_name(op), _i, c);
        kc.scale = 6.0f; /* reach the saturated parts of Clip, HardSigmoid, HardSwish */
        int32_t rank = (int32_t)test_rng_int(&r, 1, 4);
        int64_t ne[4] = {B, 1, 1, 1};
        for (int32_t i = 1; i < rank; i++) ne[i] = test_rng_int(&r, 1, 6);
        int32_t x = kc_input(&kc, rank, ne);
        ptq_node *n = kc_node(&kc, op, 1, &x);
        unary_attrs(&kc, n, c / 7 + _i);
        kc_run(&kc);
    }
}
END_TEST

/* Large enough that the kernel splits the elements across threads. */
START_TEST(unary_large) {
    test_rng r = {0x1A26EULL};
    for (int c = 0; c < 7; c++) {
        kcase kc;
        kc_begin(&kc, &r, "%s large:", ptq_op_name(unary_ops[c]));
        kc.scale = 6.0f;
        int64_t ne[2] = {B, 20000};
        int32_t x = kc_input(&kc, 2, ne);
        ptq_node *n = kc_node(&kc, unary_ops[c], 1, &x);
        unary_attrs(&kc, n, 2);
        kc_run(&kc);
    }
}
END_TEST

/* ====================================================== BatchNormalization ====== */

static int32_t ref_batch_norm(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const int32_t r = copy_shape(&in[0], ne);
    if (!out) return r;
    const float *x = in[0].data, *gamma = in[1].data, *beta = in[2].data, *mean = in[3].data,
                *var = in[4].data;
    const int64_t c = ne[1], inner = numel(r - 2, ne + 2);
    for (int64_t i = 0; i < numel(r, ne); i++) {
        const int64_t ch = (i / inner) % c;
        out[i] = (float)(((double)x[i] - mean[ch]) / sqrt((double)var[ch] + n->attrs.epsilon) *
                             gamma[ch] + beta[ch]);
    }
    return r;
}

static void batch_norm_case(kcase *kc, int32_t rank, int64_t c, int64_t dmax) {
    test_rng *r = kc->rng;
    int64_t ne[4] = {B, c, 1, 1}, pne[1] = {c};
    for (int32_t i = 2; i < rank; i++) ne[i] = test_rng_int(r, 1, dmax);
    int32_t in[5];
    in[0] = kc_input(kc, rank, ne);
    for (int k = 1; k < 5; k++) in[k] = kc_const(kc, 1, pne);
    /* The variance must be positive. */
    float *var = kc->g->values[in[4]].data->data;
    for (int64_t i = 0; i < c; i++) var[i] = test_rng_uniform(r, 0.05f, 3.0f);
    ptq_node *n = kc_node(kc, PTQ_OP_BATCH_NORM, 5, in);
    n->attrs.epsilon = test_rng_int(r, 0, 1) ? 1e-5f : test_rng_uniform(r, 1e-4f, 0.1f);
    kc_note(kc, " eps=%g", (double)n->attrs.epsilon);
    kc_run(kc);
}

START_TEST(batch_norm_random) {
    test_rng r = {0xBA7C4ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 24; c++) {
        kcase kc;
        kc_begin(&kc, &r, "BatchNormalization seed %d case %d:", _i, c);
        batch_norm_case(&kc, (int32_t)test_rng_int(&r, 2, 4), test_rng_int(&r, 1, 7), 6);
    }
    kcase kc;
    kc_begin(&kc, &r, "BatchNormalization seed %d large:", _i);
    batch_norm_case(&kc, 4, 8, 70);
}
END_TEST

/* ================================================================= pools ====== */

static int32_t ref_pool(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_pool_attrs *a = &n->attrs.pool;
    const ptq_kt *x = &in[0];
    const int32_t nsp = a->n_spatial;
    win q;
    win_geom(x, nsp, a->kernel, a->stride, a->dilation, a->pad_begin, a->pad_end,
             a->ceil_mode != 0, &q);
    ne[0] = x->ne[0];
    ne[1] = x->ne[1];
    if (nsp == 2) ne[2] = q.oh;
    ne[nsp + 1] = q.ow;
    if (!out) return nsp + 2;
    const bool is_max = n->op == PTQ_OP_MAX_POOL;
    const float *xd = x->data;
    for (int64_t p = 0; p < x->ne[0] * x->ne[1]; p++)
        for (int64_t oy = 0; oy < q.oh; oy++)
            for (int64_t ox = 0; ox < q.ow; ox++) {
                const int64_t y0 = oy * q.sh - q.ph, x0 = ox * q.sw - q.pw;
                double acc = is_max ? -INFINITY : 0.0;
                int64_t cnt = 0;
                for (int64_t ki = 0; ki < q.kh; ki++)
                    for (int64_t kj = 0; kj < q.kw; kj++) {
                        int64_t iy = y0 + ki * q.dh, ix = x0 + kj * q.dw;
                        if (iy < 0 || iy >= q.h || ix < 0 || ix >= q.w) continue; /* padding */
                        double v = xd[(p * q.h + iy) * q.w + ix];
                        acc = is_max ? fmax(acc, v) : acc + v;
                        cnt++;
                    }
                if (!is_max) {
                    /* PyTorch: with count_include_pad the divisor is the window clipped
                     * to the padded input, so a ceil-mode overhang does not count. */
                    if (a->count_include_pad)
                        cnt = (PTQ_MIN(y0 + q.kh, q.h + q.peh) - y0) *
                              (PTQ_MIN(x0 + q.kw, q.w + q.pew) - x0);
                    acc /= (double)cnt;
                }
                out[(p * q.oh + oy) * q.ow + ox] = (float)acc;
            }
    return nsp + 2;
}

static void pool_case(kcase *kc, ptq_op op, int32_t nsp) {
    test_rng *r = kc->rng;
    ptq_pool_attrs a = {0};
    a.n_spatial = nsp;
    a.ceil_mode = (int32_t)test_rng_int(r, 0, 1);
    a.count_include_pad = op == PTQ_OP_AVERAGE_POOL ? (int32_t)test_rng_int(r, 0, 1) : 0;
    int64_t sp[2] = {1, 1};
    for (int32_t i = 0; i < nsp; i++) {
        a.kernel[i] = test_rng_int(r, 1, 4);
        a.stride[i] = test_rng_int(r, 1, 3);
        a.dilation[i] = op == PTQ_OP_MAX_POOL ? test_rng_int(r, 1, 2) : 1;
        /* Padding must be smaller than the kernel. */
        a.pad_begin[i] = test_rng_int(r, 0, a.kernel[i] - 1);
        a.pad_end[i] = test_rng_int(r, 0, a.kernel[i] - 1);
        int64_t span = a.dilation[i] * (a.kernel[i] - 1) + 1;
        int64_t lo = PTQ_MAX(1, span - a.pad_begin[i] - a.pad_end[i]);
        sp[i] = test_rng_int(r, lo, lo + 3 * a.stride[i] + 2);
    }
    kc_note(kc, " k=%ldx%ld s=%ldx%ld d=%ldx%ld pads=%ld,%ld/%ld,%ld ceil=%d incl_pad=%d",
            (long)a.kernel[0], (long)a.kernel[1], (long)a.stride[0], (long)a.stride[1],
            (long)a.dilation[0], (long)a.dilation[1], (long)a.pad_begin[0],
            (long)a.pad_begin[1], (long)a.pad_end[0], (long)a.pad_end[1], a.ceil_mode,
            a.count_include_pad);
    int64_t ne[4] = {B, test_rng_int(r, 1, 4), sp[0], sp[1]};
    int32_t x = kc_input(kc, nsp + 2, ne);
    ptq_node *n = kc_node(kc, op, 1, &x);
    n->attrs.pool = a;
    kc_run(kc);
}

START_TEST(pool_random) {
    test_rng r = {0x9001ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 64; c++) {
        kcase kc;
        ptq_op op = c % 2 ? PTQ_OP_AVERAGE_POOL : PTQ_OP_MAX_POOL;
        int32_t nsp = c % 4 < 2 ? 2 : 1;
        kc_begin(&kc, &r, "%s %dd seed %d case %d:", ptq_op_name(op), nsp, _i, c);
        pool_case(&kc, op, nsp);
    }
}
END_TEST

static int32_t ref_global_pool(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *x = &in[0];
    for (int32_t i = 0; i < x->ndim; i++) ne[i] = i < 2 ? x->ne[i] : 1;
    if (!out) return x->ndim;
    const int64_t planes = x->ne[0] * x->ne[1], inner = numel(x->ndim - 2, x->ne + 2);
    const float *xd = x->data;
    for (int64_t p = 0; p < planes; p++) {
        double acc = n->op == PTQ_OP_GLOBAL_MAX_POOL ? -INFINITY : 0.0;
        for (int64_t i = 0; i < inner; i++)
            acc = n->op == PTQ_OP_GLOBAL_MAX_POOL ? fmax(acc, xd[p * inner + i])
                                                   : acc + xd[p * inner + i];
        out[p] = (float)(n->op == PTQ_OP_GLOBAL_MAX_POOL ? acc : acc / (double)inner);
    }
    return x->ndim;
}

START_TEST(global_pool_random) {
    test_rng r = {0x610BULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 12; c++) {
        kcase kc;
        ptq_op op = c % 2 ? PTQ_OP_GLOBAL_AVERAGE_POOL : PTQ_OP_GLOBAL_MAX_POOL;
        kc_begin(&kc, &r, "%s seed %d case %d:", ptq_op_name(op), _i, c);
        int32_t rank = (int32_t)test_rng_int(&r, 3, 5);
        int64_t ne[5] = {B, test_rng_int(&r, 1, 6)};
        /* The last cases are large enough to be split across threads (more than 16384
         * elements); rank 5 up to 30 per axis, since 90^3 per plane made this one test
         * take 20 s without covering anything more. */
        const int64_t big = rank == 5 ? 30 : 90;
        for (int32_t i = 2; i < rank; i++) ne[i] = test_rng_int(&r, 1, c >= 10 ? big : 7);
        int32_t x = kc_input(&kc, rank, ne);
        kc_node(&kc, op, 1, &x);
        kc_run(&kc);
    }
}
END_TEST

/* ============================================================== layout ops ====== */

/* Flatten and Reshape move no data: the output is the input, reshaped. */
static int32_t ref_flatten(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *x = &in[0];
    ne[0] = numel((int32_t)n->attrs.axis, x->ne);
    ne[1] = numel(x->ndim - (int32_t)n->attrs.axis, x->ne + n->attrs.axis);
    if (out) memcpy(out, x->data, (size_t)ptq_kt_numel(x) * sizeof *out);
    return 2;
}

START_TEST(flatten_every_axis) {
    test_rng r = {0xF1A7ULL ^ (uint64_t)(_i + 1)};
    for (int32_t rank = 1; rank <= 4; rank++) {
        for (int32_t axis = -rank; axis <= rank; axis++) {
            /* Fixed shapes take every axis; with the batch only axis 1 keeps it whole. */
            for (int batched = 0; batched < 2; batched++) {
                int32_t norm = axis < 0 ? axis + rank : axis;
                if (batched && (norm != 1 || rank < 2)) continue;
                kcase kc;
                kc_begin(&kc, &r, "Flatten seed %d rank %d axis %d%s:", _i, rank, axis,
                         batched ? " batched" : "");
                int64_t ne[4];
                for (int32_t i = 0; i < rank; i++) ne[i] = test_rng_int(&r, 1, 5);
                if (batched) ne[0] = B;
                int32_t x = kc_input(&kc, rank, ne);
                ptq_node *n = kc_node(&kc, PTQ_OP_FLATTEN, 1, &x);
                n->attrs.axis = axis;
                kc_run(&kc);
            }
        }
    }
}
END_TEST

static int32_t ref_reshape(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    /* Resolve 0 (copy the input's dim) and -1 (whatever is left) independently. */
    const ptq_kt *x = &in[0];
    const ptq_node_attrs *a = &n->attrs;
    int64_t known = 1;
    int32_t infer_at = -1;
    for (int32_t i = 0; i < a->ndim; i++) {
        int64_t t = a->shape[i];
        if (t == 0 && !a->allowzero) t = x->ne[i];
        if (t == B) t = x->ne[0]; /* only used with the batch at dim 0 of the input */
        if (t == -1) infer_at = i;
        else known *= t;
        ne[i] = t;
    }
    if (infer_at >= 0) ne[infer_at] = ptq_kt_numel(x) / known;
    if (out) memcpy(out, x->data, (size_t)ptq_kt_numel(x) * sizeof *out);
    return a->ndim;
}

/* Splits a list of small factors into consecutive groups: a random shape with the given
 * element count. */
static int32_t group_factors(test_rng *r, const int64_t *f, int32_t nf, int64_t *ne, int32_t max_rank) {
    int32_t rank = 0;
    for (int32_t i = 0; i < nf; i++) {
        if (rank == 0 || (rank < max_rank && test_rng_int(r, 0, 1))) ne[rank++] = 1;
        ne[rank - 1] *= f[i];
    }
    if (rank == 0) ne[rank++] = 1;
    return rank;
}

START_TEST(reshape_random) {
    test_rng r = {0x2E5AAEULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 48; c++) {
        kcase kc;
        kc_begin(&kc, &r, "Reshape seed %d case %d:", _i, c);
        int64_t f[6];
        int32_t nf = (int32_t)test_rng_int(&r, 1, 6);
        for (int32_t i = 0; i < nf; i++) f[i] = test_rng_int(&r, 1, 4);
        /* Two groupings of the same factors: input and target shapes of one size.  With
         * the batch, both lead with it and the factors make the per-sample size. */
        const int32_t bt = c % 2;
        int64_t xne[PTQ_MAX_DIMS], tne[PTQ_MAX_DIMS] = {0};
        int32_t xr = bt + group_factors(&r, f, nf, xne + bt, 4);
        int32_t tr = bt + group_factors(&r, f, nf, tne + bt, 4);
        if (bt) {
            xne[0] = B;
            /* The batch is kept by a 0, by the batch symbol, or by a leading -1. */
            tne[0] = (int64_t[]){0, B, -1}[test_rng_int(&r, 0, 2)];
        }
        /* Dims equal to the input's may be given as 0; one dim may be -1. */
        for (int32_t i = bt; i < tr; i++)
            if (i < xr && tne[i] == xne[i] && test_rng_int(&r, 0, 1)) tne[i] = 0;
        if (tne[0] != -1) {
            int32_t at = (int32_t)test_rng_int(&r, bt - 1, tr - 1);
            if (at >= bt) tne[at] = -1;
        }
        shape_note(&kc, "target", tr, tne);
        int32_t x = kc_input(&kc, xr, xne);
        ptq_node *n = kc_node(&kc, PTQ_OP_RESHAPE, 1, &x);
        n->attrs.ndim = tr;
        memcpy(n->attrs.shape, tne, sizeof tne);
        kc_run(&kc);
    }
}
END_TEST

static int32_t ref_transpose(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *x = &in[0];
    const int32_t r = x->ndim;
    int64_t perm[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < r; i++) perm[i] = n->attrs.ndim ? n->attrs.perm[i] : r - 1 - i;
    for (int32_t i = 0; i < r; i++) ne[i] = x->ne[perm[i]];
    if (!out) return r;
    const float *xd = x->data;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t oi[PTQ_MAX_DIMS], ii[PTQ_MAX_DIMS];
        unravel(t, r, ne, oi);
        for (int32_t i = 0; i < r; i++) ii[perm[i]] = oi[i];
        out[t] = xd[ravel(r, x->ne, ii)];
    }
    return r;
}

START_TEST(transpose_random) {
    test_rng r = {0x7A5ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 48; c++) {
        kcase kc;
        kc_begin(&kc, &r, "Transpose seed %d case %d:", _i, c);
        int32_t rank = (int32_t)test_rng_int(&r, 1, 6);
        int64_t ne[6], perm[6];
        /* Every third case has dims past the kernel's 16 x 16 blocks (ragged ones too). */
        const int64_t hi = c % 3 == 2 ? (rank <= 3 ? 40 : 7) : 4;
        for (int32_t i = 0; i < rank; i++) ne[i] = test_rng_int(&r, 1, hi);
        if (c % 2) ne[0] = B; /* the batch moves wherever the permutation puts it */
        for (int32_t i = 0; i < rank; i++) perm[i] = i;
        for (int32_t i = rank - 1; i > 0; i--) { /* Fisher-Yates */
            int32_t j = (int32_t)test_rng_int(&r, 0, i);
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        int32_t x = kc_input(&kc, rank, ne);
        ptq_node *n = kc_node(&kc, PTQ_OP_TRANSPOSE, 1, &x);
        if (c % 5 == 4) {
            kc_note(&kc, " perm=default");
            n->attrs.ndim = 0; /* ONNX default: reverse the dims */
        } else {
            kc_note(&kc, " perm=");
            for (int32_t i = 0; i < rank; i++) kc_note(&kc, "%ld", (long)perm[i]);
            n->attrs.ndim = rank;
            memcpy(n->attrs.perm, perm, sizeof perm);
        }
        kc_run(&kc);
    }
}
END_TEST

static int32_t ref_concat(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const int64_t axis = n->attrs.axis;
    const int32_t r = copy_shape(&in[0], ne);
    for (int32_t k = 1; k < n->n_inputs; k++) ne[axis] += in[k].ne[axis];
    if (!out) return r;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t idx[PTQ_MAX_DIMS] = {0};
        unravel(t, r, ne, idx);
        int32_t k = 0;
        while (idx[axis] >= in[k].ne[axis]) idx[axis] -= in[k++].ne[axis];
        out[t] = ((const float *)in[k].data)[ravel(r, in[k].ne, idx)];
    }
    return r;
}

START_TEST(concat_every_axis) {
    test_rng r = {0xC0CA7ULL ^ (uint64_t)(_i + 1)};
    for (int32_t rank = 1; rank <= 4; rank++) {
        for (int32_t axis = -rank; axis < rank; axis++) {
            kcase kc;
            const int32_t norm = axis < 0 ? axis + rank : axis;
            const bool batched = norm > 0 && test_rng_int(&r, 0, 1);
            const int32_t n_in = (int32_t)test_rng_int(&r, 1, 4);
            kc_begin(&kc, &r, "Concat seed %d rank %d axis %d inputs %d%s:", _i, rank, axis,
                     n_in, batched ? " batched" : "");
            int64_t ne[4];
            for (int32_t i = 0; i < rank; i++) ne[i] = test_rng_int(&r, 1, 4);
            if (batched) ne[0] = B;
            int32_t in[4];
            for (int32_t k = 0; k < n_in; k++) {
                ne[norm] = test_rng_int(&r, 1, 4);
                in[k] = kc_operand(&kc, rank, ne, true);
            }
            ptq_node *n = kc_node(&kc, PTQ_OP_CONCAT, n_in, in);
            n->attrs.axis = axis;
            kc_run(&kc);
        }
    }
}
END_TEST

static int32_t ref_softmax(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const int32_t r = copy_shape(&in[0], ne);
    if (!out) return r;
    const int64_t axis = n->attrs.axis;
    /* Opset 13: along one axis.  Legacy: the input coerced to 2-D at axis, per row. */
    int64_t outer = numel((int32_t)axis, ne), d, inner;
    if (n->attrs.softmax_legacy) {
        d = numel(r - (int32_t)axis, ne + axis);
        inner = 1;
    } else {
        d = ne[axis];
        inner = numel(r - (int32_t)axis - 1, ne + axis + 1);
    }
    const float *x = in[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const int64_t base = o * d * inner + i;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j < d; j++) mx = fmax(mx, x[base + j * inner]);
            for (int64_t j = 0; j < d; j++) sum += exp((double)x[base + j * inner] - mx);
            for (int64_t j = 0; j < d; j++)
                out[base + j * inner] = (float)(exp((double)x[base + j * inner] - mx) / sum);
        }
    return r;
}

START_TEST(softmax_every_axis) {
    test_rng r = {0x50F7ULL ^ (uint64_t)(_i + 1)};
    for (int32_t rank = 1; rank <= 4; rank++) {
        for (int32_t axis = -rank; axis < rank; axis++) {
            for (int legacy = 0; legacy < 2; legacy++) {
                kcase kc;
                const int32_t norm = axis < 0 ? axis + rank : axis;
                /* Normalising over the batch is refused, so batch only off the axes. */
                const bool batched = norm > 0 && test_rng_int(&r, 0, 1);
                kc_begin(&kc, &r, "Softmax seed %d rank %d axis %d%s%s:", _i, rank, axis,
                         legacy ? " legacy" : "", batched ? " batched" : "");
                kc.scale = 5.0f;
                int64_t ne[4];
                for (int32_t i = 0; i < rank; i++) ne[i] = test_rng_int(&r, 1, 5);
                if (batched) ne[0] = B;
                int32_t x = kc_input(&kc, rank, ne);
                ptq_node *n = kc_node(&kc, PTQ_OP_SOFTMAX, 1, &x);
                n->attrs.axis = axis;
                n->attrs.softmax_legacy = legacy;
                kc_run(&kc);
            }
        }
    }
    /* Large enough for the kernel's threads. */
    kcase kc;
    kc_begin(&kc, &r, "Softmax seed %d large:", _i);
    int64_t ne[3] = {B, 1000, 40};
    int32_t x = kc_input(&kc, 3, ne);
    ptq_node *n = kc_node(&kc, PTQ_OP_SOFTMAX, 1, &x);
    n->attrs.axis = 1 + _i % 2;
    kc_run(&kc);
}
END_TEST

static int32_t ref_pad(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *x = &in[0];
    const int32_t r = x->ndim;
    const int64_t *p = n->attrs.pads;
    for (int32_t i = 0; i < r; i++) ne[i] = x->ne[i] + p[i] + p[r + i];
    if (!out) return r;
    const float *xd = x->data;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t idx[PTQ_MAX_DIMS];
        bool inside = true;
        unravel(t, r, ne, idx);
        for (int32_t i = 0; i < r; i++) {
            idx[i] -= p[i]; /* negative pads crop */
            inside &= idx[i] >= 0 && idx[i] < x->ne[i];
        }
        out[t] = inside ? xd[ravel(r, x->ne, idx)] : n->attrs.pad_value;
    }
    return r;
}

START_TEST(pad_random) {
    test_rng r = {0x9ADULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 48; c++) {
        kcase kc;
        kc_begin(&kc, &r, "Pad seed %d case %d:", _i, c);
        const int32_t rank = (int32_t)test_rng_int(&r, c == 0 ? 0 : 1, 4);
        const bool batched = rank > 0 && c % 2;
        int64_t ne[4], pads[2 * PTQ_MAX_DIMS] = {0};
        for (int32_t i = 0; i < rank; i++) {
            ne[i] = test_rng_int(&r, 1, 5);
            if (batched && i == 0) continue; /* the batch axis is never padded */
            /* Negative pads crop; keep at least one element. */
            do {
                pads[i] = test_rng_int(&r, -2, 3);
                pads[rank + i] = test_rng_int(&r, -2, 3);
            } while (ne[i] + pads[i] + pads[rank + i] < 1);
        }
        if (batched) ne[0] = B;
        kc_note(&kc, " pads=");
        for (int32_t i = 0; i < 2 * rank; i++) kc_note(&kc, "%ld,", (long)pads[i]);
        int32_t x = kc_input(&kc, rank, ne);
        ptq_node *n = kc_node(&kc, PTQ_OP_PAD, 1, &x);
        memcpy(n->attrs.pads, pads, sizeof pads);
        n->attrs.pad_value = c % 3 ? test_rng_uniform(&r, -2.0f, 2.0f) : 0.0f;
        kc_run(&kc);
    }
}
END_TEST

static int32_t ref_gather(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *x = &in[0], *ind = &in[1];
    const int32_t axis = (int32_t)n->attrs.axis;
    int32_t r = 0;
    for (int32_t i = 0; i < axis; i++) ne[r++] = x->ne[i];
    for (int32_t i = 0; i < ind->ndim; i++) ne[r++] = ind->ne[i];
    for (int32_t i = axis + 1; i < x->ndim; i++) ne[r++] = x->ne[i];
    if (!out) return r;
    const float *xd = x->data;
    const int64_t *id = ind->data;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t oi[PTQ_MAX_DIMS], xi[PTQ_MAX_DIMS];
        unravel(t, r, ne, oi);
        for (int32_t i = 0; i < axis; i++) xi[i] = oi[i];
        int64_t k = id[ravel(ind->ndim, ind->ne, oi + axis)];
        xi[axis] = k < 0 ? k + x->ne[axis] : k;
        for (int32_t i = axis + 1; i < x->ndim; i++) xi[i] = oi[i - 1 + ind->ndim];
        out[t] = xd[ravel(x->ndim, x->ne, xi)];
    }
    return r;
}

START_TEST(gather_every_axis) {
    test_rng r = {0x6A7ULL ^ (uint64_t)(_i + 1)};
    for (int32_t rank = 1; rank <= 4; rank++) {
        for (int32_t axis = -rank; axis < rank; axis++) {
            kcase kc;
            const int32_t norm = axis < 0 ? axis + rank : axis;
            const bool batched = norm > 0 && test_rng_int(&r, 0, 1);
            const int32_t irank = (int32_t)test_rng_int(&r, 0, 2);
            kc_begin(&kc, &r, "Gather seed %d rank %d axis %d index rank %d%s:", _i, rank,
                     axis, irank, batched ? " batched" : "");
            int64_t ne[4], ine[2];
            for (int32_t i = 0; i < rank; i++) ne[i] = test_rng_int(&r, 1, 5);
            if (batched) ne[0] = B;
            for (int32_t i = 0; i < irank; i++) ine[i] = test_rng_int(&r, 1, 3);
            ptq_error err = {0};
            ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I64, irank, ine, &err);
            ck_assert_ptr_nonnull(t);
            /* Indices in [-d, d): negative ones count from the end. */
            kc_note(&kc, " indices=");
            for (int64_t i = 0; i < ptq_tensor_numel(t); i++) {
                int64_t v = test_rng_int(&r, -ne[norm], ne[norm] - 1);
                ((int64_t *)t->data)[i] = v;
                kc_note(&kc, "%ld,", (long)v);
            }
            int32_t in[2];
            in[0] = kc_operand(&kc, rank, ne, true);
            in[1] = kc_const_tensor(&kc, t);
            ptq_node *n = kc_node(&kc, PTQ_OP_GATHER, 2, in);
            n->attrs.axis = axis;
            kc_run(&kc);
        }
    }
}
END_TEST

/* ============================================================= FakeQuant ====== */

/* QuantizeLinear -> DequantizeLinear: q = clamp(round_half_even(x / s) + zp, qmin, qmax),
 * y = (q - zp) * s.  The quotient is taken in float32, as ONNX specifies: a double
 * quotient can land on the other side of a rounding tie.  The rest is in double. */
static int32_t ref_fake_quant(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const int32_t r = copy_shape(&in[0], ne);
    if (!out) return r;
    const float *x = in[0].data, *s = in[1].data;
    const int32_t *z = in[2].data, axis = n->attrs.q_axis;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t idx[PTQ_MAX_DIMS];
        unravel(t, r, ne, idx);
        const int64_t c = axis < 0 ? 0 : idx[axis];
        const float v = x[t] / s[c];
        const double q = fmin(fmax(nearbyint((double)v) + z[c], n->attrs.qmin), n->attrs.qmax);
        out[t] = (float)((q - z[c]) * s[c]);
    }
    return r;
}

/* Random grids (2..8 and 16 bits; symmetric, signed and unsigned ranges) per tensor or
 * along a random non-batch axis.  A grid spans 1.5 to 4.5 while the data span [-2, 2],
 * so values both round and saturate. */
START_TEST(fake_quant_random) {
    test_rng r = {0xFA4E0ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 24; c++) {
        kcase kc;
        kc_begin(&kc, &r, "FakeQuant seed %d case %d:", _i, c);
        kc.scale = 2.0f;
        const int32_t rank = (int32_t)test_rng_int(&r, 1, 4);
        const bool batched = c % 2;
        int64_t ne[4];
        for (int32_t i = 0; i < rank; i++) ne[i] = test_rng_int(&r, 1, 5);
        if (batched) ne[0] = B;
        const int32_t axis =
            c % 3 && rank > batched ? (int32_t)test_rng_int(&r, batched, rank - 1) : -1;
        const int32_t bits = c % 8 == 7 ? 16 : (int32_t)test_rng_int(&r, 2, 8);
        const int kind = (int)test_rng_int(&r, 0, 2); /* symmetric, weight, activation */
        bool is_signed;
        int32_t qmin, qmax;
        ptq_qrange(bits, kind == 0, kind == 1, &is_signed, &qmin, &qmax);
        /* Per tensor, the parameters are sometimes scalars (rank 0) as ONNX allows. */
        const int64_t pne[1] = {axis < 0 ? 1 : ne[axis]};
        const int32_t prank = axis < 0 && test_rng_int(&r, 0, 1) ? 0 : 1;
        ptq_error err = {0};
        ptq_tensor *st = ptq_tensor_new(PTQ_DTYPE_F32, prank, pne, &err);
        ptq_tensor *zt = ptq_tensor_new(PTQ_DTYPE_I32, prank, pne, &err);
        ck_assert_msg(st && zt, "%s", err.msg);
        kc_note(&kc, " bits=%d qmin=%d qmax=%d axis=%d params", bits, qmin, qmax, axis);
        for (int64_t k = 0; k < pne[0]; k++) {
            float *sk = &((float *)st->data)[k];
            int32_t *zk = &((int32_t *)zt->data)[k];
            *sk = test_rng_uniform(&r, 1.5f, 4.5f) / (float)(qmax - qmin);
            *zk = kind == 0 ? 0 : qmin + (int32_t)((qmax - qmin) * test_rng_uniform(&r, 0.25f, 0.75f));
            kc_note(&kc, " %g/%d", (double)*sk, *zk);
        }
        int32_t in[3];
        in[0] = kc_input(&kc, rank, ne);
        in[1] = kc_const_tensor(&kc, st);
        in[2] = kc_const_tensor(&kc, zt);
        ptq_node *n = kc_node(&kc, PTQ_OP_FAKE_QUANT, 3, in);
        n->attrs.qmin = qmin;
        n->attrs.qmax = qmax;
        n->attrs.q_axis = axis;
        kc_run(&kc);
    }
}
END_TEST

/* ======================================================= spatial ops ====== */

/* Resize: each output coordinate mapped back by the spec's formulas, then the nearest
 * input (by nearest_mode) or, on the last two axes in linear mode, the two neighbours of
 * the coordinate clamped into the axis, weighted by distance. */
static double ref_resize_coord(const ptq_node *n, int32_t axis, int64_t o, int64_t in, int64_t out) {
    const struct ptq_resize_attrs *a = &n->attrs.resize;
    const double s = a->from_sizes ? (double)(float)((float)out / (float)in) : (double)a->scales[axis];
    const double len = a->from_sizes ? (double)out : (double)in * s;
    switch (a->coord) {
    case PTQ_RESIZE_COORD_ASYMMETRIC: return (double)o / s;
    case PTQ_RESIZE_COORD_PYTORCH_HALF_PIXEL: return len > 1.0 ? ((double)o + 0.5) / s - 0.5 : 0.0;
    case PTQ_RESIZE_COORD_ALIGN_CORNERS: return len == 1.0 ? 0.0 : (double)o * (double)(in - 1) / (len - 1.0);
    case PTQ_RESIZE_COORD_TF_HALF_PIXEL: return ((double)o + 0.5) / s;
    default: return ((double)o + 0.5) / s - 0.5;
    }
}

static int64_t ref_resize_nearest(const ptq_node *n, int32_t axis, double x, int64_t in) {
    const double f = floor(x), frac = x - f;
    double r;
    switch (n->attrs.resize.nearest_mode) {
    case PTQ_RESIZE_ROUND_PREFER_CEIL: r = frac >= 0.5 ? f + 1.0 : f; break;
    case PTQ_RESIZE_FLOOR: r = f; break;
    case PTQ_RESIZE_CEIL: r = ceil(x); break;
    case PTQ_RESIZE_SIMPLE: r = n->attrs.resize.scales[axis] < 1.0f ? ceil(x) : f; break;
    default: r = frac > 0.5 ? f + 1.0 : f; break;
    }
    return r < 0 ? 0 : (r > (double)(in - 1) ? in - 1 : (int64_t)r);
}

static int32_t ref_resize(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *x = &in[0];
    const int32_t r = x->ndim;
    for (int32_t i = 0; i < r; i++) {
        const struct ptq_resize_attrs *a = &n->attrs.resize;
        if (a->sizes[i] == B) ne[i] = x->ne[i];
        else if (a->from_sizes) ne[i] = a->sizes[i];
        else ne[i] = (int64_t)floor((double)x->ne[i] * a->scales[i]);
    }
    if (!out) return r;
    const bool linear = n->attrs.resize.mode == PTQ_RESIZE_LINEAR;
    const float *xd = x->data;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t oi[PTQ_MAX_DIMS], lo[PTQ_MAX_DIMS], hi[PTQ_MAX_DIMS];
        double w[PTQ_MAX_DIMS];
        unravel(t, r, ne, oi);
        for (int32_t i = 0; i < r; i++) {
            const double c = ref_resize_coord(n, i, oi[i], x->ne[i], ne[i]);
            if (linear && i >= r - 2) {
                const double cc = fmin(fmax(c, 0.0), (double)(x->ne[i] - 1));
                lo[i] = (int64_t)floor(cc);
                hi[i] = PTQ_MIN(lo[i] + 1, x->ne[i] - 1);
                w[i] = cc - (double)lo[i];
            } else {
                lo[i] = hi[i] = ref_resize_nearest(n, i, c, x->ne[i]);
                w[i] = 0.0;
            }
        }
        /* Sum over the corners of the (at most two) interpolated axes. */
        double acc = 0.0;
        for (int corner = 0; corner < 4; corner++) {
            int64_t xi[PTQ_MAX_DIMS];
            double wt = 1.0;
            memcpy(xi, lo, sizeof xi);
            for (int32_t b = 0; b < 2; b++) {
                const int32_t i = r - 1 - b;
                const bool up = (corner >> b) & 1;
                if (i < 0) {
                    if (up) wt = 0.0; /* rank 1: no second axis, one corner per bit 0 */
                    continue;
                }
                wt *= up ? w[i] : 1.0 - w[i];
                if (up) xi[i] = hi[i];
            }
            if (wt != 0.0) acc += wt * xd[ravel(r, x->ne, xi)];
        }
        out[t] = (float)acc;
    }
    return r;
}

START_TEST(resize_random) {
    static const float scale_choices[] = {0.5f, 0.6f, 0.75f, 1.0f, 1.5f, 2.0f, 3.0f, 1.7f};
    test_rng r = {0x2E512EULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 40; c++) {
        kcase kc;
        const bool linear = c % 2;
        const int32_t rank = (int32_t)test_rng_int(&r, 1, 4);
        const bool batched = rank > 1 && test_rng_int(&r, 0, 1);
        const bool sizes = test_rng_int(&r, 0, 1);
        const int32_t coord = (int32_t)test_rng_int(&r, 0, linear ? 3 : 4);
        int32_t nmode = (int32_t)test_rng_int(&r, 0, 4);
        /* (x + 0.5) rounded up would move samples across the batch: refused (below). */
        if (batched && coord == PTQ_RESIZE_COORD_TF_HALF_PIXEL &&
            (nmode == PTQ_RESIZE_ROUND_PREFER_CEIL || nmode == PTQ_RESIZE_CEIL))
            nmode = PTQ_RESIZE_FLOOR;
        kc_begin(&kc, &r, "Resize seed %d case %d %s coord %d nearest %d %s:", _i, c,
                 linear ? "linear" : "nearest", coord, nmode, sizes ? "sizes" : "scales");
        int64_t ne[4];
        struct ptq_resize_attrs a = {0};
        a.mode = linear ? PTQ_RESIZE_LINEAR : PTQ_RESIZE_NEAREST;
        a.coord = coord;
        a.nearest_mode = nmode;
        a.ndim = rank;
        a.from_sizes = sizes;
        for (int32_t i = 0; i < rank; i++) {
            ne[i] = test_rng_int(&r, 1, 6);
            const bool fixed = (batched && i == 0) || (linear && i < rank - 2);
            a.scales[i] = fixed ? 1.0f : scale_choices[test_rng_int(&r, 0, 7)];
            if (a.scales[i] * (float)ne[i] < 1.0f) a.scales[i] = 1.0f;
            a.sizes[i] = fixed ? ne[i] : test_rng_int(&r, 1, 9);
            kc_note(&kc, " %g/%ld", (double)a.scales[i], (long)a.sizes[i]);
        }
        if (batched) ne[0] = a.sizes[0] = B;
        if (!sizes)
            for (int32_t i = 0; i < rank; i++) a.sizes[i] = 0;
        int32_t x = kc_input(&kc, rank, ne);
        ptq_node *n = kc_node(&kc, PTQ_OP_RESIZE, 1, &x);
        n->attrs.resize = a;
        kc_run(&kc);
    }
}
END_TEST

/* ConvTranspose: every input pixel scattered through every tap, sums in double. */
static int32_t ref_conv_transpose(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_conv_attrs *a = &n->attrs.conv;
    const ptq_kt *x = &in[0], *w = &in[1];
    const float *bias = in[2].data;
    const int32_t nsp = x->ndim - 2;
    const int64_t N = x->ne[0], C = x->ne[1], G = a->group, cg = C / G, mg = w->ne[1], M = mg * G;
    int64_t isz[2] = {1, 1}, ksz[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, p[2] = {0, 0}, osz[2];
    for (int32_t i = 0; i < nsp; i++) {
        const int32_t j = 2 - nsp + i;
        isz[j] = x->ne[2 + i];
        ksz[j] = w->ne[2 + i];
        s[j] = a->stride[i];
        d[j] = a->dilation[i];
        p[j] = a->pad_begin[i];
        osz[j] = s[j] * (isz[j] - 1) + n->attrs.convt.output_padding[i] + (ksz[j] - 1) * d[j] + 1 -
                 a->pad_begin[i] - a->pad_end[i];
        ne[2 + i] = osz[j];
    }
    if (nsp == 1) osz[0] = 1;
    ne[0] = N;
    ne[1] = M;
    if (!out) return nsp + 2;
    const int64_t plane = osz[0] * osz[1];
    double *acc = calloc((size_t)(N * M * plane) + 1, sizeof *acc);
    ck_assert_ptr_nonnull(acc);
    const float *xd = x->data, *wd = w->data;
    for (int64_t b = 0; b < N; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t iy = 0; iy < isz[0]; iy++)
                for (int64_t ix = 0; ix < isz[1]; ix++)
                    for (int64_t mm = 0; mm < mg; mm++)
                        for (int64_t ky = 0; ky < ksz[0]; ky++)
                            for (int64_t kx = 0; kx < ksz[1]; kx++) {
                                const int64_t oy = iy * s[0] - p[0] + ky * d[0];
                                const int64_t ox = ix * s[1] - p[1] + kx * d[1];
                                if (oy < 0 || oy >= osz[0] || ox < 0 || ox >= osz[1]) continue;
                                const int64_t m = (c / cg) * mg + mm;
                                acc[(b * M + m) * plane + oy * osz[1] + ox] +=
                                    (double)xd[((b * C + c) * isz[0] + iy) * isz[1] + ix] *
                                    wd[((c * mg + mm) * ksz[0] + ky) * ksz[1] + kx];
                            }
    for (int64_t t = 0; t < N * M * plane; t++)
        out[t] = (float)(acc[t] + (bias ? bias[(t / plane) % M] : 0.0));
    free(acc);
    return nsp + 2;
}

START_TEST(conv_transpose_random) {
    test_rng r = {0xC0DE7ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 30; c++) {
        kcase kc;
        const int32_t nsp = 1 + c % 2;
        kc_begin(&kc, &r, "ConvTranspose seed %d case %d %d-D:", _i, c, nsp);
        const int64_t g = test_rng_int(&r, 1, 3), cg = test_rng_int(&r, 1, 3), mg = test_rng_int(&r, 1, 3);
        ptq_conv_attrs a = {0};
        struct ptq_convt_attrs t = {{0}, {0}};
        const int variant = (int)test_rng_int(&r, 0, 4); /* 0-1 pads, 2 output_shape, 3 SAME_UPPER, 4 SAME_LOWER */
        int64_t sp[2] = {1, 1};
        for (int32_t i = 0; i < nsp; i++) {
            a.kernel[i] = test_rng_int(&r, 1, 4);
            a.stride[i] = test_rng_int(&r, 1, 3);
            a.dilation[i] = test_rng_int(&r, 1, 2);
            sp[i] = test_rng_int(&r, 1, 5);
            t.output_padding[i] = test_rng_int(&r, 0, PTQ_MAX(a.stride[i], a.dilation[i]) - 1);
            const int64_t full = a.stride[i] * (sp[i] - 1) + t.output_padding[i] +
                                 (a.kernel[i] - 1) * a.dilation[i] + 1;
            if (variant < 2) {
                a.pad_begin[i] = test_rng_int(&r, 0, PTQ_MIN(2, (full - 1) / 2));
                a.pad_end[i] = test_rng_int(&r, 0, PTQ_MIN(2, (full - 1) / 2));
            } else if (variant == 2) {
                t.output_shape[i] = test_rng_int(&r, PTQ_MAX(1, full - 3), full + 1);
            }
        }
        a.auto_pad = variant == 3 ? PTQ_AUTO_PAD_SAME_UPPER : variant == 4 ? PTQ_AUTO_PAD_SAME_LOWER : 0;
        a.group = g;
        const bool bias = test_rng_int(&r, 0, 1);
        kc_note(&kc, " g=%ld cg=%ld mg=%ld k=%ldx%ld s=%ldx%ld d=%ldx%ld pads=%ld,%ld/%ld,%ld "
                "opad=%ld,%ld oshape=%ld,%ld auto=%d%s", (long)g, (long)cg, (long)mg,
                (long)a.kernel[0], (long)a.kernel[1], (long)a.stride[0], (long)a.stride[1],
                (long)a.dilation[0], (long)a.dilation[1], (long)a.pad_begin[0],
                (long)a.pad_begin[1], (long)a.pad_end[0], (long)a.pad_end[1],
                (long)t.output_padding[0], (long)t.output_padding[1], (long)t.output_shape[0],
                (long)t.output_shape[1], a.auto_pad, bias ? " bias" : "");
        int64_t xne[4] = {B, g * cg, sp[0], sp[1]};
        int64_t wne[4] = {g * cg, mg, a.kernel[0], a.kernel[1]};
        int64_t bne[1] = {g * mg};
        int32_t in[3];
        in[0] = kc_input(&kc, nsp + 2, xne);
        in[1] = kc_const(&kc, nsp + 2, wne);
        if (bias) in[2] = kc_const(&kc, 1, bne);
        ptq_node *n = kc_node(&kc, PTQ_OP_CONV_TRANSPOSE, bias ? 3 : 2, in);
        n->attrs.conv = a;
        n->attrs.convt = t;
        if (c % 3 == 0) memset(n->attrs.conv.kernel, 0, sizeof n->attrs.conv.kernel);
        kc_run(&kc);
    }
}
END_TEST

/* Slice: the spec's clamping written as a walk from the clamped start while before the
 * clamped end. */
static int32_t ref_slice_axis(const ptq_node *n, int32_t axis, int64_t len, int64_t *idx) {
    const struct ptq_slice_attrs *a = &n->attrs.slice;
    int64_t cnt = 0;
    for (int32_t k = 0; k < a->n; k++) {
        const int64_t ax = a->axes[k] < 0 ? a->axes[k] + n->attrs.ndim : a->axes[k];
        if (ax != axis) continue;
        const int64_t st = a->steps[k];
        int64_t b = a->starts[k] < 0 ? a->starts[k] + len : a->starts[k];
        int64_t e = a->ends[k] < 0 ? a->ends[k] + len : a->ends[k];
        if (st > 0) {
            b = b < 0 ? 0 : (b > len ? len : b);
            e = e < 0 ? 0 : (e > len ? len : e);
            for (int64_t i = b; i < e; i += st) idx[cnt++] = i;
        } else {
            b = b < -1 ? -1 : (b > len - 1 ? len - 1 : b);
            e = e < -1 ? -1 : (e > len - 1 ? len - 1 : e);
            for (int64_t i = b; i > e; i += st) idx[cnt++] = i;
        }
        return (int32_t)cnt;
    }
    for (int64_t i = 0; i < len; i++) idx[cnt++] = i;
    return (int32_t)cnt;
}

static int32_t ref_slice(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *x = &in[0];
    const int32_t r = x->ndim;
    int64_t idx[PTQ_MAX_DIMS][64];
    for (int32_t i = 0; i < r; i++) {
        ck_assert(x->ne[i] <= 64);
        ne[i] = ref_slice_axis(n, i, x->ne[i], idx[i]);
    }
    if (!out) return r;
    const float *xd = x->data;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t oi[PTQ_MAX_DIMS], xi[PTQ_MAX_DIMS];
        unravel(t, r, ne, oi);
        for (int32_t i = 0; i < r; i++) xi[i] = idx[i][oi[i]];
        out[t] = xd[ravel(r, x->ne, xi)];
    }
    return r;
}

START_TEST(slice_random) {
    test_rng r = {0x511CEULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 48; c++) {
        kcase kc;
        kc_begin(&kc, &r, "Slice seed %d case %d:", _i, c);
        const int32_t rank = (int32_t)test_rng_int(&r, 1, 4);
        const bool batched = rank > 1 && c % 2;
        int64_t ne[4];
        for (int32_t i = 0; i < rank; i++) ne[i] = test_rng_int(&r, 1, 7);
        struct ptq_slice_attrs s;
        memset(&s, 0, sizeof s);
        /* A random subset of the axes, in random order, some negative. */
        int32_t order[4] = {0, 1, 2, 3};
        for (int32_t i = rank - 1; i > 0; i--) {
            const int32_t j = (int32_t)test_rng_int(&r, 0, i), tmp = order[i];
            order[i] = order[j], order[j] = tmp;
        }
        for (int32_t k = 0; k < rank; k++) {
            const int32_t ax = order[k];
            if (test_rng_int(&r, 0, 3) == 0) continue;
            const int64_t len = ne[ax];
            if (batched && ax == 0) {
                /* The whole batch: the forms exports use. */
                s.starts[s.n] = 0;
                s.ends[s.n] = test_rng_int(&r, 0, 1) ? INT64_MAX : B;
                s.steps[s.n] = 1;
            } else {
                s.steps[s.n] = test_rng_int(&r, 0, 1) ? test_rng_int(&r, 1, 3) : -test_rng_int(&r, 1, 3);
                s.starts[s.n] = test_rng_int(&r, -len - 2, len + 2);
                s.ends[s.n] = test_rng_int(&r, 0, 5) == 0 ? (s.steps[s.n] > 0 ? INT64_MAX : INT64_MIN + 1)
                                                          : test_rng_int(&r, -len - 2, len + 2);
            }
            s.axes[s.n] = test_rng_int(&r, 0, 1) ? ax : ax - rank;
            kc_note(&kc, " ax%ld:%ld..%ld/%ld", (long)s.axes[s.n], (long)s.starts[s.n],
                    (long)s.ends[s.n], (long)s.steps[s.n]);
            s.n++;
        }
        if (batched) ne[0] = B;
        int32_t x = kc_input(&kc, rank, ne);
        ptq_node *n = kc_node(&kc, PTQ_OP_SLICE, 1, &x);
        n->attrs.slice = s;
        n->attrs.ndim = rank; /* for ref_slice's negative axes only */
        /* An empty result is legal but leaves nothing to compare: widen to the whole axis. */
        ptq_kt kt;
        concrete(&kc.g->values[x], 1, &kt);
        int64_t ref_ne[PTQ_MAX_DIMS];
        ref_slice(n, &kt, ref_ne, NULL);
        if (numel(rank, ref_ne) == 0) {
            n->attrs.slice.n = 0;
            kc_note(&kc, " (empty: whole)");
        }
        kc_run(&kc);
    }
}
END_TEST

/* Split: output k is the k-th block of the axis; ref_eval asks for each output in turn. */

static int32_t ref_split(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *x = &in[0];
    const int32_t r = x->ndim, k = ref_output_index;
    const int64_t axis = n->attrs.axis;
    int64_t at = 0, len;
    const int64_t part = (x->ne[axis] + n->n_outputs - 1) / n->n_outputs;
    for (int32_t i = 0; i < k; i++) at += n->attrs.split.n ? n->attrs.split.sizes[i] : part;
    len = n->attrs.split.n ? n->attrs.split.sizes[k] : PTQ_MIN(part, x->ne[axis] - at);
    copy_shape(x, ne);
    ne[axis] = len;
    if (!out) return r;
    const float *xd = x->data;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t oi[PTQ_MAX_DIMS];
        unravel(t, r, ne, oi);
        oi[axis] += at;
        out[t] = xd[ravel(r, x->ne, oi)];
    }
    return r;
}

START_TEST(split_random) {
    test_rng r = {0x5B117ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 32; c++) {
        kcase kc;
        const int32_t rank = (int32_t)test_rng_int(&r, 1, 4);
        const bool batched = rank > 1 && c % 2;
        const int32_t axis = (int32_t)test_rng_int(&r, batched ? 1 : 0, rank - 1);
        const int32_t k = (int32_t)test_rng_int(&r, 1, 4);
        const bool equal = test_rng_int(&r, 0, 2) == 0;
        kc_begin(&kc, &r, "Split seed %d case %d axis %d outputs %d%s:", _i, c, axis, k,
                 equal ? " equal" : "");
        int64_t ne[4];
        for (int32_t i = 0; i < rank; i++) ne[i] = test_rng_int(&r, 1, 5);
        struct ptq_split_attrs s;
        memset(&s, 0, sizeof s);
        if (equal) {
            const int64_t m = test_rng_int(&r, 1, 3);
            ne[axis] = k * m - (k > 1 && m > 1 ? test_rng_int(&r, 0, 1) : 0); /* last part smaller */
        } else {
            s.n = k;
            ne[axis] = 0;
            for (int32_t i = 0; i < k; i++) {
                s.sizes[i] = test_rng_int(&r, c % 5 == 0 ? 0 : 1, 3);
                ne[axis] += s.sizes[i];
                kc_note(&kc, " %ld", (long)s.sizes[i]);
            }
            if (ne[axis] == 0) ne[axis] = s.sizes[0] = 1;
        }
        if (batched) ne[0] = B;
        int32_t x = kc_input(&kc, rank, ne);
        /* Split, then the outputs concatenated back in reverse order: every output checked. */
        ptq_error err = {0};
        int32_t outs[4];
        for (int32_t i = 0; i < k; i++) {
            char name[32];
            snprintf(name, sizeof name, "part%d", i);
            outs[i] = ptq_graph_add_value(kc.g, name, PTQ_DTYPE_F32, 0, NULL, &err);
            ck_assert_msg(outs[i] >= 0, "%s", err.msg);
        }
        int32_t id = ptq_graph_add_node(kc.g, PTQ_OP_SPLIT, "split", 1, &x, k, outs, &err);
        ck_assert_msg(id >= 0, "%s", err.msg);
        kc.g->nodes[id].attrs.axis = axis - (test_rng_int(&r, 0, 1) ? rank : 0);
        kc.g->nodes[id].attrs.split = s;
        int32_t rev[4];
        for (int32_t i = 0; i < k; i++) rev[i] = outs[k - 1 - i];
        ptq_node *cat = kc_node(&kc, PTQ_OP_CONCAT, k, rev);
        cat->attrs.axis = axis;
        kc_run(&kc);
    }
}
END_TEST

/* ============================ elementwise, comparison and reduction ops ====== */

/* Cast of one value in double: truncation toward zero, saturation at the target type's
 * range, bool as != 0 (NaN -> 0 for integers), float and double a copy. */
static double ref_cast(double v, int32_t to) {
    double lo, hi;
    switch (to) {
    case 9: return v != 0.0 ? 1.0 : 0.0;
    case 2: lo = 0, hi = 255; break;
    case 3: lo = -128, hi = 127; break;
    case 4: lo = 0, hi = 65535; break;
    case 5: lo = -32768, hi = 32767; break;
    case 6: lo = -2147483648.0, hi = 2147483647.0; break;
    case 12: lo = 0, hi = 4294967295.0; break;
    default: return v; /* 1, 11 */
    }
    if (isnan(v)) return 0.0;
    return fmin(fmax(trunc(v), lo), hi);
}

static int32_t ref_math_unary(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const int32_t r = copy_shape(&in[0], ne);
    if (!out) return r;
    const float *x = in[0].data;
    for (int64_t i = 0; i < numel(r, ne); i++) {
        const double v = x[i];
        double y;
        switch (n->op) {
        case PTQ_OP_CAST: y = ref_cast(v, n->attrs.cast_to); break;
        case PTQ_OP_SQRT: y = sqrt(v); break;
        case PTQ_OP_EXP: y = exp(v); break;
        case PTQ_OP_ERF: y = erf(v); break;
        case PTQ_OP_NEG: y = -v; break;
        case PTQ_OP_RECIPROCAL: y = 1.0 / v; break;
        default: ck_abort_msg("no reference for %s", ptq_op_name(n->op)); return 0;
        }
        out[i] = (float)y;
    }
    return r;
}

/* Numpy broadcast of the shapes of in[0..k). */
static int32_t bcast_shape(const ptq_kt *in, int32_t k, int64_t *ne) {
    int32_t r = 0;
    for (int32_t j = 0; j < k; j++) r = PTQ_MAX(r, in[j].ndim);
    for (int32_t i = 0; i < r; i++) {
        ne[i] = 1;
        for (int32_t j = 0; j < k; j++) {
            const int32_t ij = i - (r - in[j].ndim);
            if (ij >= 0 && in[j].ne[ij] != 1) ne[i] = in[j].ne[ij];
        }
    }
    return r;
}

static int32_t ref_math_binary(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const int32_t r = bcast_shape(in, n->n_inputs, ne);
    if (!out) return r;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t idx[PTQ_MAX_DIMS];
        unravel(t, r, ne, idx);
        double v[MAX_IN] = {0};
        for (int32_t j = 0; j < n->n_inputs; j++)
            v[j] = ((const float *)in[j].data)[bcast_offset(&in[j], idx, r)];
        double y = v[0];
        switch (n->op) {
        case PTQ_OP_POW: y = pow(v[0], v[1]); break;
        case PTQ_OP_EQUAL: y = v[0] == v[1]; break;
        case PTQ_OP_LESS: y = v[0] < v[1]; break;
        case PTQ_OP_GREATER: y = v[0] > v[1]; break;
        case PTQ_OP_MIN: for (int32_t j = 1; j < n->n_inputs; j++) y = fmin(y, v[j]); break;
        case PTQ_OP_MAX: for (int32_t j = 1; j < n->n_inputs; j++) y = fmax(y, v[j]); break;
        default: ck_abort_msg("no reference for %s", ptq_op_name(n->op));
        }
        out[t] = (float)y;
    }
    return r;
}

static int32_t ref_where(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    (void)n;
    const int32_t r = bcast_shape(in, 3, ne);
    if (!out) return r;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t idx[PTQ_MAX_DIMS];
        unravel(t, r, ne, idx);
        const float c = ((const float *)in[0].data)[bcast_offset(&in[0], idx, r)];
        const int32_t k = c != 0.0f ? 1 : 2;
        out[t] = ((const float *)in[k].data)[bcast_offset(&in[k], idx, r)];
    }
    return r;
}

static int32_t ref_expand(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    ptq_kt two[2] = {in[0], {.ndim = n->attrs.expand_ndim}};
    for (int32_t i = 0; i < two[1].ndim; i++) /* the batch symbol: the input's size there */
        two[1].ne[i] = n->attrs.expand_shape[i] == B ? ref_batch : n->attrs.expand_shape[i];
    const int32_t r = bcast_shape(two, 2, ne);
    if (!out) return r;
    for (int64_t t = 0; t < numel(r, ne); t++) {
        int64_t idx[PTQ_MAX_DIMS];
        unravel(t, r, ne, idx);
        out[t] = ((const float *)in[0].data)[bcast_offset(&in[0], idx, r)];
    }
    return r;
}

static int32_t ref_reduce(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const ptq_kt *X = &in[0];
    bool red[PTQ_MAX_DIMS] = {false};
    const ptq_node_attrs *a = &n->attrs;
    bool any = false;
    for (int32_t i = 0; i < a->n_axes; i++) red[a->axes[i] < 0 ? a->axes[i] + X->ndim : a->axes[i]] = any = true;
    if (a->n_axes < 0 || (a->n_axes == 0 && !a->noop_with_empty_axes))
        for (int32_t i = 0; i < X->ndim; i++) red[i] = any = true;
    int32_t r = 0;
    int64_t kne[PTQ_MAX_DIMS]; /* the output with kept dims, for indexing */
    for (int32_t i = 0; i < X->ndim; i++) {
        kne[i] = red[i] ? 1 : X->ne[i];
        if (!red[i] || a->keepdims) ne[r++] = kne[i];
    }
    if (!any) r = copy_shape(X, ne);
    if (!out) return r;
    const int64_t no = numel(X->ndim, kne);
    double *acc = malloc((size_t)no * sizeof *acc);
    for (int64_t o = 0; o < no; o++) acc[o] = n->op == PTQ_OP_REDUCE_MAX ? -INFINITY : 0.0;
    const float *x = X->data;
    for (int64_t t = 0; t < numel(X->ndim, X->ne); t++) {
        int64_t idx[PTQ_MAX_DIMS];
        unravel(t, X->ndim, X->ne, idx);
        for (int32_t i = 0; i < X->ndim; i++) if (red[i]) idx[i] = 0;
        const int64_t o = ravel(X->ndim, kne, idx);
        acc[o] = n->op == PTQ_OP_REDUCE_MAX ? fmax(acc[o], x[t]) : acc[o] + x[t];
    }
    const double cnt = (double)numel(X->ndim, X->ne) / (double)no;
    for (int64_t o = 0; o < no; o++)
        out[o] = (float)(n->op == PTQ_OP_REDUCE_MEAN ? acc[o] / cnt : acc[o]);
    free(acc);
    return r;
}

static int32_t ref_layer_norm(const ptq_node *n, const ptq_kt *in, int64_t *ne, float *out) {
    const int32_t r = copy_shape(&in[0], ne);
    if (!out) return r;
    const int32_t axis = (int32_t)n->attrs.axis;
    const int64_t d = numel(r - axis, ne + axis), rows = numel(axis, ne);
    const bool bias = n->n_inputs > 2 && n->inputs[2] >= 0;
    const float *x = in[0].data;
    for (int64_t row = 0; row < rows; row++) {
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < d; i++) mean += x[row * d + i];
        mean /= (double)d;
        for (int64_t i = 0; i < d; i++) var += (x[row * d + i] - mean) * (x[row * d + i] - mean);
        var /= (double)d;
        for (int64_t i = 0; i < d; i++) {
            int64_t idx[PTQ_MAX_DIMS];
            unravel(row * d + i, r, ne, idx);
            const double s = ((const float *)in[1].data)[bcast_offset(&in[1], idx, r)];
            const double b = bias ? ((const float *)in[2].data)[bcast_offset(&in[2], idx, r)] : 0.0;
            out[row * d + i] = (float)((x[row * d + i] - mean) / sqrt(var + n->attrs.epsilon) * s + b);
        }
    }
    return r;
}

/* A random shape of rank 1..4 with the batch at dim 0 and dims up to dmax. */
static int32_t math_shape(test_rng *r, int64_t *ne, int64_t dmax) {
    const int32_t rank = (int32_t)test_rng_int(r, 1, 4);
    ne[0] = B;
    for (int32_t i = 1; i < rank; i++) ne[i] = test_rng_int(r, 1, dmax);
    return rank;
}

static const ptq_op math_unary_ops[] = {PTQ_OP_CAST, PTQ_OP_SQRT, PTQ_OP_EXP, PTQ_OP_ERF,
                                        PTQ_OP_NEG, PTQ_OP_RECIPROCAL};

START_TEST(math_unary_random) {
    static const int32_t cast_types[] = {1, 2, 3, 4, 5, 6, 9, 11, 12};
    test_rng r = {0x3A7401ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 48; c++) {
        kcase kc;
        const ptq_op op = math_unary_ops[c % 6];
        kc_begin(&kc, &r, "%s seed %d case %d:", ptq_op_name(op), _i, c);
        int64_t ne[4];
        const int32_t rank = math_shape(&r, ne, 6);
        int32_t x = kc_input(&kc, rank, ne);
        if (op == PTQ_OP_SQRT) x = kc.y = kc_node(&kc, PTQ_OP_EXP, 1, &x)->outputs[0]; /* > 0 */
        kc.avoid_zero = op == PTQ_OP_RECIPROCAL;
        kc.scale = op == PTQ_OP_CAST ? (c % 2 ? 400.0f : 3.0f) : 1.0f; /* reach saturation */
        ptq_node *n = kc_node(&kc, op, 1, &x);
        if (op == PTQ_OP_CAST) {
            n->attrs.cast_to = cast_types[test_rng_int(&r, 0, 8)];
            kc_note(&kc, " to=%d", n->attrs.cast_to);
        }
        kc_run(&kc);
    }
}
END_TEST

/* Up to k operands that broadcast to a random shape with the batch at dim 0. */
static void math_operands(kcase *kc, int32_t k, int32_t *in, bool may_be_const) {
    test_rng *r = kc->rng;
    int64_t full[4];
    const int32_t rank = math_shape(r, full, 5);
    for (int32_t j = 0; j < k; j++) {
        int32_t rj = j == 0 ? rank : (int32_t)test_rng_int(r, 0, rank);
        int64_t ne[4];
        for (int32_t i = 0; i < rj; i++) {
            const int32_t fi = rank - rj + i;
            ne[i] = fi == 0 ? (j == 0 || test_rng_int(r, 0, 1) ? B : 1)
                            : (test_rng_int(r, 0, 2) ? full[fi] : 1);
        }
        in[j] = kc_operand(kc, rj, ne, may_be_const);
    }
}

START_TEST(math_binary_random) {
    static const ptq_op ops[] = {PTQ_OP_POW, PTQ_OP_MIN, PTQ_OP_MAX, PTQ_OP_EQUAL, PTQ_OP_LESS,
                                 PTQ_OP_GREATER};
    test_rng r = {0x3A7402ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 48; c++) {
        kcase kc;
        const ptq_op op = ops[c % 6];
        kc_begin(&kc, &r, "%s seed %d case %d:", ptq_op_name(op), _i, c);
        const int32_t k = op == PTQ_OP_MIN || op == PTQ_OP_MAX ? (int32_t)test_rng_int(&r, 1, 4) : 2;
        int32_t in[4];
        math_operands(&kc, k, in, true);
        if (op == PTQ_OP_POW && kc.g->values[in[0]].data == NULL) /* a positive base */
            in[0] = kc_node(&kc, PTQ_OP_EXP, 1, &in[0])->outputs[0];
        if (op == PTQ_OP_EQUAL) { /* integers, so that some are equal */
            kc.scale = 2.0f;
            for (int32_t j = 0; j < 2; j++) {
                if (kc.g->values[in[j]].data) continue;
                ptq_node *cn = kc_node(&kc, PTQ_OP_CAST, 1, &in[j]);
                cn->attrs.cast_to = PTQ_DTYPE_I32;
                in[j] = cn->outputs[0];
            }
        }
        kc_node(&kc, op, k, in);
        kc_run(&kc);
    }
}
END_TEST

/* Pow's fast paths: a constant exponent 2 or 0.5. */
START_TEST(math_pow_fast_paths) {
    test_rng r = {0x3A7403ULL};
    for (int c = 0; c < 8; c++) {
        kcase kc;
        const float e = c % 2 ? 0.5f : 2.0f;
        kc_begin(&kc, &r, "Pow exponent %g case %d:", (double)e, c);
        int64_t ne[4];
        const int32_t rank = math_shape(&r, ne, 40);
        int32_t in[2] = {kc_input(&kc, rank, ne), -1};
        /* A positive base: the exponent's gradient (a constant's) needs ln(base). */
        in[0] = kc_node(&kc, PTQ_OP_EXP, 1, &in[0])->outputs[0];
        ptq_error err = {0};
        ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, 0, NULL, &err);
        *(float *)t->data = e;
        in[1] = kc_const_tensor(&kc, t);
        kc_node(&kc, PTQ_OP_POW, 2, in);
        kc_run(&kc);
    }
}
END_TEST

START_TEST(math_where_random) {
    test_rng r = {0x3A7404ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 24; c++) {
        kcase kc;
        kc_begin(&kc, &r, "Where seed %d case %d:", _i, c);
        int32_t in[3];
        math_operands(&kc, 3, in, true);
        kc.scale = 2.0f; /* the condition: Cast to int32 gives -1, 0 or 1 */
        if (!kc.g->values[in[0]].data) {
            ptq_node *cn = kc_node(&kc, PTQ_OP_CAST, 1, &in[0]);
            cn->attrs.cast_to = PTQ_DTYPE_I32;
            in[0] = cn->outputs[0];
        }
        kc_node(&kc, PTQ_OP_WHERE, 3, in);
        kc_run(&kc);
    }
}
END_TEST

START_TEST(math_expand_random) {
    test_rng r = {0x3A7405ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 24; c++) {
        kcase kc;
        kc_begin(&kc, &r, "Expand seed %d case %d:", _i, c);
        int64_t full[4];
        const int32_t rank = math_shape(&r, full, 5);
        const int32_t rx = (int32_t)test_rng_int(&r, 1, rank);
        int64_t ne[4];
        for (int32_t i = 0; i < rx; i++) {
            const int32_t fi = rank - rx + i;
            ne[i] = fi == 0 ? B : (test_rng_int(&r, 0, 1) ? full[fi] : 1);
        }
        int32_t x = kc_input(&kc, rx, ne);
        ptq_node *n = kc_node(&kc, PTQ_OP_EXPAND, 1, &x);
        /* The target may be shorter than the input, and may say 1 where the input is wider. */
        const int32_t rt = (int32_t)test_rng_int(&r, 1, rank);
        n->attrs.expand_ndim = rt;
        for (int32_t i = 0; i < rt; i++) {
            const int32_t fi = rank - rt + i;
            n->attrs.expand_shape[i] = fi == 0 ? (test_rng_int(&r, 0, 1) ? B : 1)
                                                : (test_rng_int(&r, 0, 2) ? full[fi] : 1);
        }
        kc_run(&kc);
    }
}
END_TEST

START_TEST(math_reduce_random) {
    static const ptq_op ops[] = {PTQ_OP_REDUCE_MEAN, PTQ_OP_REDUCE_SUM, PTQ_OP_REDUCE_MAX};
    test_rng r = {0x3A7406ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 60; c++) {
        kcase kc;
        const ptq_op op = ops[c % 3];
        kc_begin(&kc, &r, "%s seed %d case %d:", ptq_op_name(op), _i, c);
        /* Every fifth case large enough (rank 3, dims to 64) for the kernel's threads. */
        int64_t ne[5] = {B, 1, 1, 1, 1};
        const bool large = c % 5 == 0;
        const int32_t rank = large ? 3 : (int32_t)test_rng_int(&r, 2, 5);
        for (int32_t i = 1; i < rank; i++) ne[i] = test_rng_int(&r, large ? 32 : 1, large ? 64 : 5);
        int32_t x = kc_input(&kc, rank, ne);
        ptq_node *n = kc_node(&kc, op, 1, &x);
        ptq_node_attrs *a = &n->attrs;
        a->keepdims = (int32_t)test_rng_int(&r, 0, 1);
        a->n_axes = 0;
        for (int32_t i = 1; i < rank; i++)
            if (test_rng_int(&r, 0, 1)) a->axes[a->n_axes++] = test_rng_int(&r, 0, 1) ? i : i - rank;
        if (a->n_axes == 0 && test_rng_int(&r, 0, 1)) a->noop_with_empty_axes = 1;
        else if (a->n_axes == 0) a->axes[a->n_axes++] = rank - 1;
        kc_note(&kc, " axes %d keepdims %d noop %d", a->n_axes, a->keepdims, a->noop_with_empty_axes);
        kc_run(&kc);
    }
}
END_TEST

START_TEST(math_layer_norm_random) {
    test_rng r = {0x3A7407ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 24; c++) {
        kcase kc;
        kc_begin(&kc, &r, "LayerNormalization seed %d case %d:", _i, c);
        int64_t ne[4] = {B, 1, 1, 1};
        const int32_t rank = (int32_t)test_rng_int(&r, 2, 4);
        for (int32_t i = 1; i < rank; i++) ne[i] = test_rng_int(&r, 1, c % 4 == 0 ? 64 : 6);
        const int32_t axis = (int32_t)test_rng_int(&r, 1, rank - 1);
        int32_t in[3];
        in[0] = kc_input(&kc, rank, ne);
        /* Scale (and bias) over a suffix of the normalised dims, some of them 1. */
        const int32_t n_in = test_rng_int(&r, 0, 1) ? 3 : 2;
        for (int32_t k = 1; k < n_in; k++) {
            const int32_t rs = (int32_t)test_rng_int(&r, 0, rank - axis);
            int64_t sne[4];
            for (int32_t i = 0; i < rs; i++)
                sne[i] = test_rng_int(&r, 0, 3) ? ne[rank - rs + i] : 1;
            in[k] = kc_operand(&kc, rs, sne, true);
        }
        ptq_node *n = kc_node(&kc, PTQ_OP_LAYER_NORM, n_in, in);
        n->attrs.axis = test_rng_int(&r, 0, 1) ? axis : axis - rank;
        n->attrs.epsilon = c % 2 ? 1e-5f : 0.1f;
        kc_note(&kc, " axis %d", axis);
        kc_run(&kc);
    }
}
END_TEST

/* The reference of every op: ref_eval's dispatch, and the list op_table_complete checks
 * (NULL: an op without a reference, so without a test here). */
static ref_fn ref_of(ptq_op op) {
    switch (op) {
    case PTQ_OP_CONV: return ref_conv;
    case PTQ_OP_GEMM: return ref_gemm;
    case PTQ_OP_MATMUL: return ref_matmul;
    case PTQ_OP_ADD:
    case PTQ_OP_SUB:
    case PTQ_OP_MUL:
    case PTQ_OP_DIV: return ref_binary;
    case PTQ_OP_RELU:
    case PTQ_OP_CLIP:
    case PTQ_OP_LEAKY_RELU:
    case PTQ_OP_SIGMOID:
    case PTQ_OP_HARD_SIGMOID:
    case PTQ_OP_HARD_SWISH:
    case PTQ_OP_TANH: return ref_unary;
    case PTQ_OP_BATCH_NORM: return ref_batch_norm;
    case PTQ_OP_MAX_POOL:
    case PTQ_OP_AVERAGE_POOL: return ref_pool;
    case PTQ_OP_GLOBAL_AVERAGE_POOL:
    case PTQ_OP_GLOBAL_MAX_POOL: return ref_global_pool;
    case PTQ_OP_FLATTEN: return ref_flatten;
    case PTQ_OP_RESHAPE: return ref_reshape;
    case PTQ_OP_TRANSPOSE: return ref_transpose;
    case PTQ_OP_CONCAT: return ref_concat;
    case PTQ_OP_SOFTMAX: return ref_softmax;
    case PTQ_OP_PAD: return ref_pad;
    case PTQ_OP_GATHER: return ref_gather;
    case PTQ_OP_FAKE_QUANT: return ref_fake_quant;
    case PTQ_OP_RESIZE: return ref_resize;
    case PTQ_OP_CONV_TRANSPOSE: return ref_conv_transpose;
    case PTQ_OP_SLICE: return ref_slice;
    case PTQ_OP_SPLIT: return ref_split;
    /* ---- elementwise, comparison and reduction ops ---- */
    case PTQ_OP_CAST:
    case PTQ_OP_SQRT:
    case PTQ_OP_EXP:
    case PTQ_OP_ERF:
    case PTQ_OP_NEG:
    case PTQ_OP_RECIPROCAL: return ref_math_unary;
    case PTQ_OP_POW:
    case PTQ_OP_MIN:
    case PTQ_OP_MAX:
    case PTQ_OP_EQUAL:
    case PTQ_OP_LESS:
    case PTQ_OP_GREATER: return ref_math_binary;
    case PTQ_OP_WHERE: return ref_where;
    case PTQ_OP_EXPAND: return ref_expand;
    case PTQ_OP_REDUCE_MEAN:
    case PTQ_OP_REDUCE_SUM:
    case PTQ_OP_REDUCE_MAX: return ref_reduce;
    case PTQ_OP_LAYER_NORM: return ref_layer_norm;
    default: return NULL;
    }
}

/* ============================================================ determinism ====== */

/* Results must not depend on the thread count: the kernels split whole images (or row
 * blocks) across threads, and each is computed the same way whoever computes it. */
static void check_threads_bitwise(kcase *kc) {
    kc_infer(kc);
    float **data = kc_data(kc);
    const int64_t cnt = kc_out_numel(kc);
    float *one = malloc((size_t)cnt * sizeof *one + 1), *two = malloc((size_t)cnt * sizeof *two + 1);
    ck_assert(one && two);
    kc_run_exec(kc, data, 1, false, one);
    kc_run_exec(kc, data, 2, false, two);
    require_same_bits(kc, one, two, cnt, "between 1 and 2 threads");
    free(one);
    free(two);
    kc_free(kc, data);
}

START_TEST(conv_threads_bitwise) {
    test_rng r = {0xD57ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 5; c++) {
        kcase kc;
        kc_begin(&kc, &r, "conv bitwise seed %d case %d:", _i, c);
        /* Layers shaped like the bundled CNNs': regular, grouped, depthwise, 1x1, and
         * a 9x9 kernel for the im2col path; kernel size and rank left for inference. */
        int64_t g = c == 2 ? 8 : (c == 1 ? 2 : 1), cg = c == 2 ? 1 : 4, mg = c == 2 ? 2 : 6;
        int64_t k = c == 4 ? 9 : (c == 3 ? 1 : 3);
        int64_t xne[4] = {B, g * cg, 12, 13}, wne[4] = {g * mg, cg, k, k}, bne[1] = {g * mg};
        int32_t in[3];
        in[0] = kc_input(&kc, 4, xne);
        in[1] = kc_const(&kc, 4, wne);
        in[2] = kc_const(&kc, 1, bne);
        ptq_node *n = kc_node(&kc, PTQ_OP_CONV, 3, in);
        n->attrs.conv.group = g;
        for (int i = 0; i < 2; i++) {
            n->attrs.conv.stride[i] = 1 + c % 2;
            n->attrs.conv.dilation[i] = 1;
            n->attrs.conv.pad_begin[i] = n->attrs.conv.pad_end[i] = k / 2;
        }
        check_threads_bitwise(&kc);
    }
}
END_TEST

/* Regression (gemm.c): rows used to be split across threads as separate sgemm calls,
 * and OpenBLAS does not round a row the same way in a 64-row product as in a 32-row
 * one, so results changed with the thread count. */
START_TEST(gemm_threads_bitwise) {
    test_rng r = {0x6E44ULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 4; c++) {
        kcase kc;
        kc_begin(&kc, &r, "gemm bitwise seed %d case %d:", _i, c);
        /* Enough rows that the kernel splits them across 2 threads. */
        int64_t ane[2] = {c % 2 ? 93 : 64, 57}, bne[2] = {57, 31}, cne[1] = {31};
        int32_t in[3];
        in[0] = kc_input(&kc, 2, ane);
        in[1] = kc_const(&kc, 2, bne);
        in[2] = kc_const(&kc, 1, cne);
        ptq_node *n = kc_node(&kc, PTQ_OP_GEMM, 3, in);
        n->attrs.gemm.beta = c < 2 ? 1.0f : 0.5f;
        check_threads_bitwise(&kc);
    }
}
END_TEST

/* Regression (window.c, ptq_window_copy_in, which the flat conv and the pools share): x is 1 x 2 x 1 (two channels of one pixel), a depthwise 1-D conv with
 * kernel 2, stride 2 and one pixel of end padding.  Each output is x[c] * w[c][0]; the
 * second tap only ever sees padding.  The copy's upper bound (w - 1 + pw - b) / sw + 1
 * truncated a negative numerator towards zero instead of flooring it, so polyphase
 * plane 1 got a "pixel" from column 1: the next channel's, or past the tensor (the
 * sanitizer build reported a heap-buffer-overflow read).  Rows had the same bug. */
START_TEST(conv_stride_past_input) {
    test_rng r = {1};
    kcase kc;
    kc_begin(&kc, &r, "conv stride past input:");
    int64_t xne[3] = {B, 2, 1}, wne[3] = {2, 1, 2};
    int32_t in[2];
    in[0] = kc_input(&kc, 3, xne);
    in[1] = kc_const(&kc, 3, wne);
    ptq_node *n = kc_node(&kc, PTQ_OP_CONV, 2, in);
    n->attrs.conv.group = 2;
    n->attrs.conv.stride[0] = 2;
    n->attrs.conv.pad_end[0] = 1;
    kc_run(&kc);
}
END_TEST

/* Regression, the same bug through MaxPool: kernel 2, stride 2, end pad 1 on
 * a 1-pixel input; the window holds x[c] and padding, so y[c] = x[c]. */
START_TEST(pool_stride_past_input) {
    test_rng r = {2};
    kcase kc;
    kc_begin(&kc, &r, "pool stride past input:");
    int64_t xne[3] = {B, 2, 1};
    int32_t x = kc_input(&kc, 3, xne);
    ptq_node *n = kc_node(&kc, PTQ_OP_MAX_POOL, 1, &x);
    n->attrs.pool.n_spatial = 1;
    n->attrs.pool.kernel[0] = 2;
    n->attrs.pool.stride[0] = 2;
    n->attrs.pool.pad_end[0] = 1;
    kc_run(&kc);
}
END_TEST

/* ================================================================ fusion ====== */

/* Conv -> [BatchNormalization] -> activation and Add -> activation run as one kernel
 * call with an epilogue.  The fused result must match the reference and, bit for bit,
 * the unfused run (keep_all turns fusion off). */
START_TEST(fused_random) {
    test_rng r = {0xF05EDULL ^ (uint64_t)(_i + 1)};
    for (int c = 0; c < 40; c++) {
        kcase kc;
        /* Three in four Conv (half of them with a BatchNormalization), one in four Add. */
        const bool with_conv = c % 4 != 3, with_bn = test_rng_int(&r, 0, 1);
        const ptq_op act = unary_ops[test_rng_int(&r, 0, 6)];
        kc_begin(&kc, &r, "fused %s%s+%s seed %d case %d:", with_conv ? "Conv" : "Add",
                 with_bn && with_conv ? "+BN" : "", ptq_op_name(act), _i, c);
        kc.check_unfused = true;
        if (with_conv) {
            const conv_kind kind = all_conv_kinds[test_rng_int(&r, 0, 3)];
            ptq_node *conv = conv_build(&kc, (int32_t)test_rng_int(&r, 1, 2), kind, 1, 4,
                                        test_rng_int(&r, 0, 1) ? 12 : 0);
            if (with_bn) {
                int64_t pne[1] = {kc.g->values[conv->inputs[1]].ne[0]};
                int32_t in[5] = {kc.y};
                for (int k = 1; k < 5; k++) in[k] = kc_const(&kc, 1, pne);
                float *var = kc.g->values[in[4]].data->data;
                for (int64_t i = 0; i < pne[0]; i++) var[i] = test_rng_uniform(&r, 0.05f, 3.0f);
                kc_node(&kc, PTQ_OP_BATCH_NORM, 5, in);
            }
        } else {
            int64_t ane[3] = {B, test_rng_int(&r, 1, 5), test_rng_int(&r, 1, 40)};
            int64_t bne[3] = {1, ane[1], test_rng_int(&r, 0, 1) ? ane[2] : 1};
            int32_t in[2];
            in[0] = kc_input(&kc, 3, ane);
            in[1] = kc_operand(&kc, 3, bne, true);
            kc_node(&kc, PTQ_OP_ADD, 2, in);
        }
        int32_t x = kc.y;
        ptq_node *n = kc_node(&kc, act, 1, &x);
        unary_attrs(&kc, n, c);
        kc.scale = 2.0f;
        kc_run(&kc);
    }
}
END_TEST

/* ============================================================== op table ====== */

START_TEST(op_table_complete) {
    for (ptq_op op = 1; op < PTQ_OP_COUNT; op++) {
        const ptq_op_traits *t = &ptq_op_table[op];
        ck_assert_msg(t->name != NULL, "op %u has no name", op);
        ck_assert_msg(t->infer != NULL, "op %s has no shape inference", t->name);
        ck_assert_msg(t->forward != NULL, "op %s has no forward kernel", t->name);
        ck_assert_msg(t->n_outputs >= 1 || t->n_outputs == -1, "op %s has no outputs", t->name);
        ck_assert_msg(t->min_inputs >= 1 && (t->max_inputs < 0 || t->max_inputs >= t->min_inputs),
                      "op %s has arity %d..%d", t->name, t->min_inputs, t->max_inputs);
        ck_assert_str_eq(ptq_op_name(op), t->name);
        /* FAKE_QUANT is imported from QuantizeLinear/DequantizeLinear pairs, not by name. */
        if (op != PTQ_OP_FAKE_QUANT)
            ck_assert_msg(ptq_op_from_name(ptq_op_name(op)) == op, "op %s does not round-trip",
                          t->name);
        /* Every reference has a random test above; a new op without one fails here. */
        ck_assert_msg(ref_of(op) != NULL, "op %s has no reference (and so no kernel test) "
                      "in test_kernels.c", t->name);
    }
    ck_assert_uint_eq(ptq_op_from_name("NoSuchOp"), PTQ_OP_NONE);
    ck_assert_uint_eq(ptq_op_from_name("None"), PTQ_OP_NONE);
    ck_assert_str_eq(ptq_op_name(PTQ_OP_COUNT), "?");
}
END_TEST

/* ================================================================= suite ====== */

static TCase *tcase(Suite *s, const char *name, int timeout) {
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    suite_add_tcase(s, tc);
    return tc;
}

/* The vector exponential of Softmax against double exp over its domain r <= 0. */
START_TEST(exp_nonpos_within_ulps) {
    double worst = 0.0;
    float worst_r = 0.0f;
    for (uint32_t bits = 0; bits <= 0x42aeffffu; bits += 997u) { /* 0 .. 87.5 */
        float r;
        memcpy(&r, &bits, sizeof r);
        r = -r;
        float lanes[VL], got[VL];
        for (int i = 0; i < VL; i++) lanes[i] = r;
        vstore(got, ptq_vexp_nonpos(vload(lanes)));
        const double ref = exp((double)r);
        if (r < -87.33f) {
            ck_assert_msg(got[0] == 0.0f && ref < 1.19e-38, "exp(%.9g) = %g", r, got[0]);
            continue;
        }
        const float rf = (float)ref;
        const double e = fabs((double)got[0] - ref) / fabs((double)nextafterf(rf, INFINITY) - rf);
        if (e > worst) worst = e, worst_r = r;
    }
    ck_assert_msg(worst <= 2.0, "exp is %.3f ulp off at %.9g", worst, worst_r);
    float sp[VL], out[VL];
    for (int i = 0; i < VL; i++) sp[i] = i % 3 == 0 ? -INFINITY : (i % 3 == 1 ? NAN : 0.0f);
    vstore(out, ptq_vexp_nonpos(vload(sp)));
    for (int i = 0; i < VL; i++)
        ck_assert(i % 3 == 0 ? out[i] == 0.0f : (i % 3 == 1 ? isnan(out[i]) : out[i] == 1.0f));
}
END_TEST

/* The vectorised erf against double erf: within 1.5 ulp over a sweep of every binade
 * (both signs, every vector-tail length), and exact at the special values. */
START_TEST(erf_within_ulps) {
    enum { NX = 1027 }; /* not a whole number of vectors: the tail path runs too */
    static float x[NX], y[NX];
    double worst = 0.0;
    float worst_x = 0.0f;
    for (uint32_t bits = 0; bits < 0x41000000u; bits += 7919u * NX) {
        for (int i = 0; i < NX; i++) {
            uint32_t v = bits + (uint32_t)i * 7919u;
            memcpy(&x[i], &v, sizeof v);
            if (i & 1) x[i] = -x[i];
        }
        ptq_erf_f32(x, y, NX);
        for (int i = 0; i < NX; i++) {
            const double ref = erf((double)x[i]);
            const float r = (float)ref;
            const double ulp = r == 0.0f ? 1.4e-45 : fabs((double)nextafterf(r, INFINITY) - r);
            const double e = fabs((double)y[i] - ref) / ulp;
            if (e > worst) worst = e, worst_x = x[i];
        }
    }
    ck_assert_msg(worst <= 1.5, "erf is %.3f ulp off at %.9g", worst, worst_x);
    const float sx[7] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e30f, -1e30f};
    float sy[7];
    ptq_erf_f32(sx, sy, 7);
    ck_assert(sy[0] == 0.0f && !signbit(sy[0]) && sy[1] == 0.0f && signbit(sy[1]));
    ck_assert(sy[2] == 1.0f && sy[3] == -1.0f && isnan(sy[4]) && sy[5] == 1.0f && sy[6] == -1.0f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kernels");
    tcase_add_test(tcase(s, "op_table", 10), op_table_complete);
    tcase_add_loop_test(tcase(s, "conv2d", 300), conv2d_random, 0, 12);
    tcase_add_loop_test(tcase(s, "conv1d", 300), conv1d_random, 0, 10);
    tcase_add_loop_test(tcase(s, "conv2d_large_planes", 300), conv2d_large_planes, 0, 5);
    tcase_add_loop_test(tcase(s, "conv_large_kernel", 300), conv_large_kernel, 0, 4);
    tcase_add_loop_test(tcase(s, "conv_bitwise", 300), conv_threads_bitwise, 0, 3);
    tcase_add_loop_test(tcase(s, "gemm", 300), gemm_random, 0, 6);
    tcase_add_loop_test(tcase(s, "matmul", 300), matmul_random, 0, 6);
    tcase_add_loop_test(tcase(s, "binary", 300), binary_random, 0, 6);
    tcase_add_test(tcase(s, "binary_large", 300), binary_large);
    tcase_add_loop_test(tcase(s, "unary", 300), unary_random, 0, 4);
    tcase_add_test(tcase(s, "unary_large", 300), unary_large);
    tcase_add_loop_test(tcase(s, "batch_norm", 300), batch_norm_random, 0, 4);
    tcase_add_loop_test(tcase(s, "pool", 300), pool_random, 0, 10);
    tcase_add_loop_test(tcase(s, "global_pool", 300), global_pool_random, 0, 4);
    tcase_add_loop_test(tcase(s, "flatten", 300), flatten_every_axis, 0, 3);
    tcase_add_loop_test(tcase(s, "reshape", 300), reshape_random, 0, 4);
    tcase_add_loop_test(tcase(s, "transpose", 300), transpose_random, 0, 4);
    tcase_add_loop_test(tcase(s, "concat", 300), concat_every_axis, 0, 4);
    tcase_add_loop_test(tcase(s, "softmax", 300), softmax_every_axis, 0, 4);
    tcase_add_loop_test(tcase(s, "pad", 300), pad_random, 0, 4);
    tcase_add_loop_test(tcase(s, "gather", 300), gather_every_axis, 0, 4);
    tcase_add_loop_test(tcase(s, "fake_quant", 300), fake_quant_random, 0, 4);
    tcase_add_loop_test(tcase(s, "fused", 300), fused_random, 0, 5);
    tcase_add_loop_test(tcase(s, "resize", 300), resize_random, 0, 4);
    tcase_add_loop_test(tcase(s, "conv_transpose", 300), conv_transpose_random, 0, 4);
    tcase_add_loop_test(tcase(s, "slice", 300), slice_random, 0, 4);
    tcase_add_loop_test(tcase(s, "split", 300), split_random, 0, 4);
    /* ---- elementwise, comparison and reduction ops ---- */
    tcase_add_loop_test(tcase(s, "math_unary", 300), math_unary_random, 0, 3);
    tcase_add_loop_test(tcase(s, "math_binary", 300), math_binary_random, 0, 4);
    tcase_add_test(tcase(s, "math_pow_fast", 300), math_pow_fast_paths);
    tcase_add_test(tcase(s, "erf_ulps", 300), erf_within_ulps);
    tcase_add_test(tcase(s, "exp_ulps", 300), exp_nonpos_within_ulps);
    tcase_add_loop_test(tcase(s, "math_where", 300), math_where_random, 0, 3);
    tcase_add_loop_test(tcase(s, "math_expand", 300), math_expand_random, 0, 3);
    tcase_add_loop_test(tcase(s, "math_reduce", 300), math_reduce_random, 0, 3);
    tcase_add_loop_test(tcase(s, "math_layer_norm", 300), math_layer_norm_random, 0, 3);
    {
        TCase *tc = tcase(s, "regressions", 300);
        tcase_add_loop_test(tc, gemm_threads_bitwise, 0, 2);
        tcase_add_test(tc, conv_stride_past_input);
        tcase_add_test(tc, pool_stride_past_input);
    }
    return test_run_suite(s);
}
