/* test_grad.c — the backward pass of every op (grad_ops.c, kernels/conv_grad.c), called
 * directly, kernel by kernel, without the training tape in between.
 *
 * Each case is one node on concrete shapes.  Its forward kernel runs, the loss is
 * L = sum(r * y) for a fixed random r (so the backward receives dL/dy = r), and every
 * float input's gradient is checked:
 *   - against central differences of L, at every coordinate of a small tensor and at a
 *     sample of a larger one.  The data keep farther from every kink (ReLU at 0, clip
 *     bounds, ties in a max window) than the step, so each op is differentiable where it
 *     is probed and a mismatch is always a bug, never bad luck;
 *   - bit for bit the same with 1 and 2 threads;
 *   - added to what the gradient buffers held (the tape sums a shared value's gradients);
 *   - bit for bit the same when it is the only gradient wanted, the others passed as
 *     NULL (the kernel must skip them: the sanitizer build catches a write through NULL);
 *   - with inputs, outputs and dL/dy untouched, and nothing written past a gradient.
 * FAKE_QUANT is piecewise constant, so its straight-through and LSQ rules are checked
 * against their definitions in grad.h instead of against differences.
 *
 * Shapes, attributes and data come from test_rng seeded by the loop index, and failure
 * messages name the case ("conv2d seed 3 case 1: ..."), so failures reproduce. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/grad.h"
#include "internal.h"
#include "ptq/ptq_plugin.h"
#include "testutil.h"

#define MAX_IN 8
#define MAX_VALUES 32
#define GUARD 16           /* floats after each gradient buffer that must stay untouched */
#define FD_STEP 5e-3f      /* central-difference step, relative to max(1, |x|) */
#define FD_RTOL 1e-2
#define FD_ATOL 1e-3
#define FD_ALL 400         /* tensors up to this size are probed at every coordinate */
#define FD_SAMPLES 120     /* else this many random coordinates */

static const uint32_t SENTINEL = 0x7FC0DEADu; /* a NaN no kernel computes */

/* ================================================================ harness ====== */

typedef struct gcase {
    ptq_graph *g;
    test_rng *rng;
    int32_t node;             /* the node under test */
    float *vdata[MAX_VALUES]; /* generated contents of float inputs and constants, by value id */
    ptq_kt in[MAX_IN], out;   /* the node's operands, each in a buffer of its own */
    bool has_grad[MAX_IN];    /* float input: its gradient is wanted and checked */
    float *r;                 /* dL/dy */
    float *grad[MAX_IN];      /* gradients from zero on 1 thread (gc_check fills them) */
    float step;               /* central-difference step (FD_STEP unless the case says) */
    char desc[512];           /* what the case is, for failure messages */
} gcase;

static void gc_begin(gcase *gc, test_rng *rng, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void gc_begin(gcase *gc, test_rng *rng, const char *fmt, ...) {
    memset(gc, 0, sizeof *gc);
    gc->g = ptq_graph_new();
    ck_assert_ptr_nonnull(gc->g);
    gc->rng = rng;
    gc->node = -1;
    gc->step = FD_STEP;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(gc->desc, sizeof gc->desc, fmt, ap);
    va_end(ap);
}

static void gc_note(gcase *gc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void gc_note(gcase *gc, const char *fmt, ...) {
    const size_t len = strlen(gc->desc);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(gc->desc + len, sizeof gc->desc - len, fmt, ap);
    va_end(ap);
}

static int64_t shape_numel(int32_t ndim, const int64_t *ne) {
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; i++) n *= ne[i];
    return n;
}

static void shape_note(gcase *gc, const char *what, int32_t ndim, const int64_t *ne) {
    char buf[160];
    gc_note(gc, " %s%s", what, ptq_shape_str(ndim, ne, buf, sizeof buf));
}

/* 64-byte aligned floats, as the executor hands them to kernels. */
static float *floats(int64_t n) {
    void *p = NULL;
    ck_assert_int_eq(posix_memalign(&p, 64, (size_t)(n > 0 ? n : 1) * sizeof(float)), 0);
    return p;
}

static float *random_floats(test_rng *r, int64_t n, float lo, float hi) {
    float *x = floats(n);
    test_fill_uniform(r, x, n, lo, hi);
    return x;
}

/* A float run-time input holding uniform data in [lo, hi]. */
static int32_t gc_input(gcase *gc, int32_t ndim, const int64_t *ne, float lo, float hi) {
    char name[16];
    snprintf(name, sizeof name, "x%d", gc->g->n_values);
    const int32_t id = test_graph_input(gc->g, name, ndim, ne);
    ck_assert_int_lt(id, MAX_VALUES);
    gc->vdata[id] = random_floats(gc->rng, shape_numel(ndim, ne), lo, hi);
    shape_note(gc, "in", ndim, ne);
    return id;
}

/* A float constant (a weight, a BatchNormalization parameter) with uniform data. */
static int32_t gc_const(gcase *gc, int32_t ndim, const int64_t *ne, float lo, float hi) {
    char name[16];
    snprintf(name, sizeof name, "c%d", gc->g->n_values);
    float *data = random_floats(gc->rng, shape_numel(ndim, ne), lo, hi);
    const int32_t id = test_graph_const(gc->g, name, ndim, ne, data);
    ck_assert_int_lt(id, MAX_VALUES);
    gc->vdata[id] = data; /* the graph holds its own copy; operands come from this one */
    shape_note(gc, "const", ndim, ne);
    return id;
}

/* A constant of another type (Gather's indices, a zero point), taken over by the graph. */
static int32_t gc_const_tensor(gcase *gc, ptq_tensor *t) {
    char name[16];
    ptq_error err = {0};
    snprintf(name, sizeof name, "c%d", gc->g->n_values);
    const int32_t id = ptq_graph_add_constant(gc->g, name, t, &err);
    ck_assert_msg(id >= 0 && id < MAX_VALUES, "%s", err.msg);
    return id;
}

static float *gc_data(gcase *gc, int32_t id) { return gc->vdata[id]; }

static int64_t gc_numel(const gcase *gc, int32_t id) {
    const ptq_value *v = &gc->g->values[id];
    return shape_numel(v->ndim, v->ne);
}

/* The node under test; the pointer is valid until another node is added. */
static ptq_node *gc_node(gcase *gc, ptq_op op, int32_t n_in, const int32_t *in) {
    char name[16];
    snprintf(name, sizeof name, "y%d", gc->g->n_values);
    gc->node = test_graph_node(gc->g, op, ptq_op_name(op), n_in, in, name);
    return &gc->g->nodes[gc->node];
}

static const ptq_node *node_of(const gcase *gc) { return &gc->g->nodes[gc->node]; }

/* Resamples the elements of value id that lie within 3 steps of a kink, so that a
 * central difference never straddles one. */
static void keep_off_kinks(gcase *gc, int32_t id, const float *kinks, int32_t n_kinks, float lo,
                           float hi) {
    float *x = gc_data(gc, id);
    for (int64_t i = 0; i < gc_numel(gc, id); i++) {
        for (int tries = 0;; tries++) {
            ck_assert_int_lt(tries, 1000);
            const float margin = 3.0f * gc->step * fmaxf(1.0f, fabsf(x[i]));
            bool near = false;
            for (int32_t k = 0; k < n_kinks; k++) near |= fabsf(x[i] - kinks[k]) <= margin;
            if (!near) break;
            x[i] = test_rng_uniform(gc->rng, lo, hi);
        }
    }
}

/* Distinct values spread evenly over [-1, 1] in random order: a max has one winner by
 * a clear gap, and the step (a quarter of the gap) never changes it. */
static void spread_distinct(gcase *gc, int32_t id) {
    float *x = gc_data(gc, id);
    const int64_t n = gc_numel(gc, id);
    for (int64_t i = 0; i < n; i++) x[i] = -1.0f + 2.0f * ((float)i + 0.5f) / (float)n;
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        const int64_t j = test_rng_int(gc->rng, 0, i);
        const float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    gc->step = 0.5f / (float)n;
}

/* Values in +-[0.5, 1.5]: divisors. */
static void away_from_zero(gcase *gc, int32_t id) {
    float *x = gc_data(gc, id);
    for (int64_t i = 0; i < gc_numel(gc, id); i++) x[i] += x[i] < 0.0f ? -0.5f : 0.5f;
}

static size_t dtype_bytes(ptq_dtype t) { return t == PTQ_DTYPE_I64 ? 8 : 4; }

/* Forward on `threads` threads into gc->out, with scratch sized as the op table says. */
static void gc_forward(gcase *gc, int32_t threads) {
    const ptq_node *n = node_of(gc);
    const ptq_op_traits *t = &ptq_op_table[n->op];
    const size_t wf = t->work ? t->work(n, gc->in) : 0;
    const size_t sf = t->work_shared ? t->work_shared(n, gc->in) : 0;
    float *work = floats((int64_t)(wf * (size_t)threads)), *shared = floats((int64_t)sf);
    const ptq_kctx kc = {.threads = threads, .work = work, .work_floats = wf, .shared = shared};
    t->forward(n, &kc, gc->in, &gc->out);
    free(work);
    free(shared);
}

static double gc_loss(gcase *gc) {
    gc_forward(gc, 1);
    const float *y = gc->out.data;
    double s = 0.0;
    for (int64_t i = 0; i < ptq_kt_numel(&gc->out); i++) s += (double)gc->r[i] * y[i];
    return s;
}

/* Infers shapes, copies every operand into a buffer of its own, runs the forward, picks r. */
static void gc_prepare(gcase *gc) {
    ptq_graph *g = gc->g;
    ptq_error err = {0};
    ck_assert_msg(ptq_graph_infer_shapes(g, &err) == PTQ_OK, "%s: shape inference: %s", gc->desc,
                  err.msg);
    const ptq_node *n = node_of(gc);
    ck_assert_int_le(n->n_inputs, MAX_IN);
    for (int32_t k = 0; k < n->n_inputs; k++) {
        const ptq_value *v = &g->values[n->inputs[k]];
        ptq_kt *t = &gc->in[k];
        t->ndim = v->ndim;
        memcpy(t->ne, v->ne, sizeof t->ne);
        const size_t bytes = (size_t)ptq_kt_numel(t) * dtype_bytes(v->dtype);
        const void *src = gc->vdata[n->inputs[k]] ? (const void *)gc->vdata[n->inputs[k]] : v->data->data;
        t->data = floats((int64_t)(bytes / sizeof(float)) + 1);
        memcpy(t->data, src, bytes);
        gc->has_grad[k] = v->dtype == PTQ_DTYPE_F32;
    }
    const ptq_value *y = &g->values[n->outputs[0]];
    gc->out.ndim = y->ndim;
    memcpy(gc->out.ne, y->ne, sizeof gc->out.ne);
    const int64_t m = ptq_kt_numel(&gc->out);
    gc->out.data = floats(m);
    gc_forward(gc, 2);
    const float *yd = gc->out.data;
    for (int64_t i = 0; i < m; i++)
        ck_assert_msg(isfinite(yd[i]), "%s: output %ld is %g", gc->desc, (long)i, (double)yd[i]);
    gc->r = random_floats(gc->rng, m, -1.0f, 1.0f);
}

/* A gradient buffer for input k: its numel floats (from init, or zeros) and a guard. */
static float *grad_buffer(const gcase *gc, int32_t k, const float *init) {
    const int64_t m = ptq_kt_numel(&gc->in[k]);
    float *b = floats(m + GUARD);
    if (init) memcpy(b, init, (size_t)m * sizeof *b);
    else memset(b, 0, (size_t)m * sizeof *b);
    for (int64_t i = m; i < m + GUARD; i++) memcpy(&b[i], &SENTINEL, sizeof SENTINEL);
    return b;
}

static void check_guard(const gcase *gc, int32_t k, const float *b) {
    const int64_t m = ptq_kt_numel(&gc->in[k]);
    for (int64_t i = m; i < m + GUARD; i++)
        ck_assert_msg(memcmp(&b[i], &SENTINEL, sizeof SENTINEL) == 0,
                      "%s: the backward wrote %ld floats past input %d's %ld-float gradient",
                      gc->desc, (long)(i - m + 1), k, (long)m);
}

static uint32_t all_wanted(const gcase *gc) {
    uint32_t want = 0;
    for (int32_t k = 0; k < node_of(gc)->n_inputs; k++)
        if (gc->has_grad[k]) want |= 1u << k;
    return want;
}

/* One backward call on `threads` threads: din[k] receives input k's gradient when bit k
 * of want is set, and the kernel gets NULL for the others.  Scratch is exactly what the
 * op's work function asks for (none at all when it asks for none). */
static void gc_backward(const gcase *gc, int32_t threads, uint32_t want, float *const *din) {
    const ptq_node *n = node_of(gc);
    const ptq_grad_traits *gt = &ptq_grad_table[n->op];
    ck_assert_msg(gt->backward != NULL, "%s: no backward", gc->desc);
    ptq_kt kdin[MAX_IN], kdout = gc->out;
    kdout.data = gc->r;
    for (int32_t k = 0; k < n->n_inputs; k++) {
        kdin[k] = gc->in[k];
        kdin[k].data = (want >> k) & 1u ? din[k] : NULL;
    }
    const size_t wf = gt->work ? gt->work(n, gc->in, want, threads) : 0;
    float *work = wf ? floats((int64_t)wf) : NULL;
    const ptq_gctx ctx = {.threads = threads, .work = work, .work_floats = wf};
    gt->backward(n, &ctx, gc->in, &gc->out, &kdout, kdin);
    free(work);
}

static void require_same_bits(const gcase *gc, const float *a, const float *b, int64_t cnt,
                              int32_t k, const char *what) {
    for (int64_t i = 0; i < cnt; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof *a) == 0,
                      "%s: gradient of input %d element %ld differs %s: %.9g vs %.9g", gc->desc, k,
                      (long)i, what, (double)a[i], (double)b[i]);
}

/* Everything but the values of the gradients: thread independence, accumulation, skipped
 * gradients, untouched operands.  Leaves the 1-thread gradients in gc->grad. */
static void gc_check(gcase *gc) {
    const ptq_node *n = node_of(gc);
    const int32_t ni = n->n_inputs;
    const uint32_t want = all_wanted(gc);
    /* Snapshots of what the backward may read but not write. */
    void *keep[MAX_IN] = {0};
    size_t bytes[MAX_IN] = {0};
    for (int32_t k = 0; k < ni; k++) {
        bytes[k] = (size_t)ptq_kt_numel(&gc->in[k]) * dtype_bytes(gc->g->values[n->inputs[k]].dtype);
        keep[k] = malloc(bytes[k] + 1);
        memcpy(keep[k], gc->in[k].data, bytes[k]);
    }
    const size_t ybytes = (size_t)ptq_kt_numel(&gc->out) * sizeof(float);
    float *keep_y = malloc(ybytes + 1), *keep_r = malloc(ybytes + 1);
    memcpy(keep_y, gc->out.data, ybytes);
    memcpy(keep_r, gc->r, ybytes);

    float *two[MAX_IN] = {0}, *acc[MAX_IN] = {0}, *base[MAX_IN] = {0};
    for (int32_t k = 0; k < ni; k++) {
        if (!gc->has_grad[k]) continue;
        const int64_t m = ptq_kt_numel(&gc->in[k]);
        gc->grad[k] = grad_buffer(gc, k, NULL);
        two[k] = grad_buffer(gc, k, NULL);
        base[k] = random_floats(gc->rng, m, -1.0f, 1.0f);
        acc[k] = grad_buffer(gc, k, base[k]);
    }
    gc_backward(gc, 1, want, gc->grad);
    gc_backward(gc, 2, want, two);
    gc_backward(gc, 2, want, acc);
    for (int32_t k = 0; k < ni; k++) {
        if (!gc->has_grad[k]) continue;
        const int64_t m = ptq_kt_numel(&gc->in[k]);
        check_guard(gc, k, gc->grad[k]);
        check_guard(gc, k, two[k]);
        check_guard(gc, k, acc[k]);
        require_same_bits(gc, gc->grad[k], two[k], m, k, "between 1 and 2 threads");
        for (int64_t i = 0; i < m; i++) {
            const double want_v = (double)base[k][i] + gc->grad[k][i];
            ck_assert_msg(fabs(acc[k][i] - want_v) <= 1e-5 * (1.0 + fabs(want_v)),
                          "%s: input %d element %ld: started from %g, the gradient %g should "
                          "have been added, got %g", gc->desc, k, (long)i, (double)base[k][i],
                          (double)gc->grad[k][i], (double)acc[k][i]);
        }
        /* Alone: the others are NULL, and this one comes out the same. */
        memset(two[k], 0, (size_t)m * sizeof(float));
        gc_backward(gc, 2, 1u << k, two);
        check_guard(gc, k, two[k]);
        require_same_bits(gc, gc->grad[k], two[k], m, k, "when it is the only gradient wanted");
    }
    for (int32_t k = 0; k < ni; k++) {
        ck_assert_msg(memcmp(keep[k], gc->in[k].data, bytes[k]) == 0,
                      "%s: the backward changed input %d", gc->desc, k);
        free(keep[k]);
        free(two[k]);
        free(acc[k]);
        free(base[k]);
    }
    ck_assert_msg(memcmp(keep_y, gc->out.data, ybytes) == 0, "%s: the backward changed the output", gc->desc);
    ck_assert_msg(memcmp(keep_r, gc->r, ybytes) == 0, "%s: the backward changed dL/dy", gc->desc);
    free(keep_y);
    free(keep_r);
}

/* Each wanted gradient against central differences of the loss. */
static void gc_differences(gcase *gc) {
    const ptq_node *n = node_of(gc);
    for (int32_t k = 0; k < n->n_inputs; k++) {
        if (!gc->has_grad[k]) continue;
        float *x = gc->in[k].data;
        const int64_t m = ptq_kt_numel(&gc->in[k]);
        const int64_t probes = m <= FD_ALL ? m : FD_SAMPLES;
        for (int64_t c = 0; c < probes; c++) {
            const int64_t i = m <= FD_ALL ? c : test_rng_int(gc->rng, 0, m - 1);
            const float keep = x[i], h = gc->step * fmaxf(1.0f, fabsf(keep));
            const float xp = keep + h, xm = keep - h;
            x[i] = xp;
            const double lp = gc_loss(gc);
            x[i] = xm;
            const double lm = gc_loss(gc);
            x[i] = keep;
            /* The step as the floats actually moved, not as intended. */
            const double fd = (lp - lm) / ((double)xp - (double)xm), got = gc->grad[k][i];
            ck_assert_msg(fabs(fd - got) <= FD_ATOL + FD_RTOL * fmax(fabs(fd), fabs(got)),
                          "%s: d L / d input %d [%ld] (= %g): backward %.7g, central difference %.7g",
                          gc->desc, k, (long)i, (double)keep, got, fd);
        }
    }
}

static void gc_free(gcase *gc) {
    for (int32_t k = 0; k < MAX_IN; k++) {
        free(gc->in[k].data);
        free(gc->grad[k]);
    }
    for (int32_t v = 0; v < MAX_VALUES; v++) free(gc->vdata[v]);
    free(gc->out.data);
    free(gc->r);
    ptq_graph_free(gc->g);
    memset(gc, 0, sizeof *gc);
}

/* The whole treatment for a differentiable op. */
static void gc_run(gcase *gc) {
    gc_prepare(gc);
    gc_check(gc);
    gc_differences(gc);
    gc_free(gc);
}

/* ================================================================ Conv ====== */

typedef struct conv_spec {
    int32_t nsp;
    int64_t n, group, cg, og; /* batch, groups, input and output channels per group */
    int64_t size[2], k[2], s[2], d[2], pb[2], pe[2];
    bool bias;
} conv_spec;

static bool conv_fits(const conv_spec *cs) {
    for (int32_t i = 0; i < cs->nsp; i++)
        if (ptq_window_out(cs->size[i], cs->k[i], cs->s[i], cs->d[i], cs->pb[i], cs->pe[i], 0) < 1)
            return false;
    return true;
}

static void conv_case(test_rng *r, const conv_spec *cs, const char *label) {
    gcase gc;
    gc_begin(&gc, r, "%s: group %ld", label, (long)cs->group);
    const int64_t C = cs->group * cs->cg, O = cs->group * cs->og;
    int64_t xne[4] = {cs->n, C}, wne[4] = {O, cs->cg}, bne[1] = {O};
    for (int32_t i = 0; i < cs->nsp; i++) {
        xne[2 + i] = cs->size[i];
        wne[2 + i] = cs->k[i];
        gc_note(&gc, " k%ld s%ld d%ld p%ld/%ld", (long)cs->k[i], (long)cs->s[i], (long)cs->d[i],
                (long)cs->pb[i], (long)cs->pe[i]);
    }
    int32_t in[3] = {gc_input(&gc, 2 + cs->nsp, xne, -1.0f, 1.0f),
                     gc_const(&gc, 2 + cs->nsp, wne, -1.0f, 1.0f), -1};
    if (cs->bias) in[2] = gc_const(&gc, 1, bne, -1.0f, 1.0f);
    ptq_node *n = gc_node(&gc, PTQ_OP_CONV, cs->bias ? 3 : 2, in);
    ptq_conv_attrs *a = &n->attrs.conv;
    a->group = cs->group;
    for (int32_t i = 0; i < cs->nsp; i++) {
        a->stride[i] = cs->s[i];
        a->dilation[i] = cs->d[i];
        a->pad_begin[i] = cs->pb[i];
        a->pad_end[i] = cs->pe[i];
    }
    gc_run(&gc);
}

/* Random geometry: groups, strides, dilations, asymmetric pads, sometimes windows that
 * lie entirely in the padding; depthwise when cg == 1. */
static void conv_random_spec(test_rng *r, int32_t nsp, conv_spec *cs) {
    static const int64_t groups[] = {1, 1, 2, 3};
    do {
        memset(cs, 0, sizeof *cs);
        cs->nsp = nsp;
        cs->n = test_rng_int(r, 1, 3);
        cs->group = groups[test_rng_int(r, 0, 3)];
        cs->cg = test_rng_int(r, 1, 3);
        cs->og = test_rng_int(r, 1, 3);
        cs->bias = test_rng_int(r, 0, 2) != 0;
        for (int32_t i = 0; i < nsp; i++) {
            cs->size[i] = test_rng_int(r, 3, nsp == 1 ? 12 : 8);
            cs->k[i] = test_rng_int(r, 1, 3);
            cs->s[i] = test_rng_int(r, 1, 3);
            cs->d[i] = test_rng_int(r, 1, 2);
            cs->pb[i] = test_rng_int(r, 0, 2);
            cs->pe[i] = test_rng_int(r, 0, 2);
        }
    } while (!conv_fits(cs));
}

START_TEST(conv2d_random) {
    test_rng r = {0xC0472DULL + (uint64_t)_i};
    for (int c = 0; c < 6; c++) {
        conv_spec cs;
        conv_random_spec(&r, 2, &cs);
        char label[64];
        snprintf(label, sizeof label, "conv2d seed %d case %d", _i, c);
        conv_case(&r, &cs, label);
    }
}
END_TEST

START_TEST(conv1d_random) {
    test_rng r = {0xC0471DULL + (uint64_t)_i};
    for (int c = 0; c < 6; c++) {
        conv_spec cs;
        conv_random_spec(&r, 1, &cs);
        char label[64];
        snprintf(label, sizeof label, "conv1d seed %d case %d", _i, c);
        conv_case(&r, &cs, label);
    }
}
END_TEST

/* The shapes the reconstruction runs, scaled down, and each special path by name. */
START_TEST(conv_named) {
    test_rng r = {0xC047A3EDULL};
    const conv_spec specs[] = {
        {2, 2, 1, 4, 5, {6, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},  /* 3x3 pad 1 */
        {2, 2, 2, 3, 2, {7, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},  /* grouped */
        {2, 2, 4, 1, 1, {6, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},  /* depthwise */
        {2, 2, 3, 1, 2, {6, 7}, {3, 3}, {2, 2}, {1, 1}, {1, 0}, {0, 1}, false}, /* depthwise x2, strided */
        {2, 2, 1, 1, 3, {5, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},  /* one input channel */
        {2, 2, 1, 3, 4, {9, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, true},  /* stride 2 */
        {2, 2, 1, 3, 2, {9, 8}, {3, 2}, {1, 1}, {2, 3}, {2, 0}, {1, 2}, true},  /* dilated */
        {2, 1, 1, 5, 4, {5, 5}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, true},  /* 1x1 in place */
        {2, 1, 1, 2, 2, {10, 10}, {9, 9}, {1, 1}, {1, 1}, {2, 2}, {2, 2}, true}, /* 81 taps: im2col forward */
        {1, 3, 2, 2, 3, {11}, {3}, {2}, {2}, {2}, {1}, true},                  /* 1-D */
        {1, 2, 5, 1, 1, {9}, {5}, {1}, {1}, {2}, {2}, true},                   /* 1-D depthwise */
        {2, 1, 3, 1, 1, {8, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, true},  /* depthwise, stride 2 */
        {2, 1, 1, 1, 1, {17, 18}, {17, 17}, {1, 1}, {1, 1}, {0, 1}, {0, 0}, false}, /* 289 taps */
        {1, 2, 1, 2, 2, {2}, {1}, {4}, {1}, {1}, {0}, true},                   /* reads padding only */
        {2, 2, 1, 2, 3, {4, 5}, {1, 1}, {1, 2}, {1, 1}, {2, 1}, {2, 2}, true},  /* pads past the span */
    };
    for (size_t c = 0; c < PTQ_COUNTOF(specs); c++) {
        char label[64];
        snprintf(label, sizeof label, "conv named case %zu", c);
        conv_case(&r, &specs[c], label);
    }
}
END_TEST

/* Batches cut into several of the kernel's weight-gradient slots, a ragged last one
 * included, so the 2-thread run really splits the work (gc_check requires the same bits);
 * the larger planes also take several sub-batches per slot. */
START_TEST(conv_many_images) {
    test_rng r = {0xC0478A7ULL};
    const conv_spec specs[] = {
        {2, 17, 1, 2, 3, {24, 24}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},
        {2, 18, 2, 1, 1, {26, 25}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, false},
        {2, 19, 1, 3, 4, {5, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},
        {2, 17, 3, 1, 1, {5, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},
        {2, 9, 2, 2, 3, {4, 4}, {2, 2}, {2, 1}, {1, 1}, {0, 1}, {1, 0}, false},
        {1, 23, 1, 2, 3, {7}, {3}, {1}, {1}, {1}, {1}, true},
    };
    for (size_t c = 0; c < PTQ_COUNTOF(specs); c++) {
        char label[64];
        snprintf(label, sizeof label, "conv many images case %zu", c);
        conv_case(&r, &specs[c], label);
    }
}
END_TEST

/* ================================================================ Gemm, MatMul ====== */

/* Every transA/transB combination with every broadcast shape of C (and none). */
START_TEST(gemm_all_forms) {
    test_rng r = {0x6E33ULL + (uint64_t)_i};
    const int ta = _i & 1, tb = (_i >> 1) & 1;
    for (int ck = 0; ck < 8; ck++) {
        gcase gc;
        gc_begin(&gc, &r, "gemm transA %d transB %d C form %d:", ta, tb, ck);
        const int64_t M = test_rng_int(&r, 1, 6), N = test_rng_int(&r, 1, 6), K = test_rng_int(&r, 1, 6);
        const int64_t ane[2] = {ta ? K : M, ta ? M : K}, bne[2] = {tb ? N : K, tb ? K : N};
        /* none, scalar, [1], [N], [1, N], [M, 1], [M, N], [M, N] with beta 0 */
        const int32_t cnd[8] = {-1, 0, 1, 1, 2, 2, 2, 2};
        const int64_t cne[8][2] = {{0}, {0}, {1}, {N}, {1, N}, {M, 1}, {M, N}, {M, N}};
        int32_t in[3] = {gc_input(&gc, 2, ane, -1.0f, 1.0f), gc_const(&gc, 2, bne, -1.0f, 1.0f), -1};
        if (ck > 0) in[2] = gc_const(&gc, cnd[ck], cne[ck], -1.0f, 1.0f);
        ptq_node *n = gc_node(&gc, PTQ_OP_GEMM, ck > 0 ? 3 : 2, in);
        n->attrs.gemm.trans_a = ta;
        n->attrs.gemm.trans_b = tb;
        n->attrs.gemm.alpha = test_rng_uniform(&r, -1.5f, 1.5f);
        n->attrs.gemm.beta = ck == 7 ? 0.0f : test_rng_uniform(&r, -1.5f, 1.5f);
        gc_note(&gc, " alpha %g beta %g", (double)n->attrs.gemm.alpha, (double)n->attrs.gemm.beta);
        gc_run(&gc);
    }
}
END_TEST

/* Batched matrices with numpy broadcasting, and 1-D operands on either side. */
START_TEST(matmul_broadcast) {
    test_rng r = {0x3A73ULL};
    static const struct {
        int32_t an, bn;
        int64_t a[4], b[4];
    } forms[] = {
        {2, 2, {3, 4}, {4, 5}},          {1, 2, {4}, {4, 5}},
        {2, 1, {3, 4}, {4}},             {1, 1, {4}, {4}},
        {3, 2, {2, 3, 4}, {4, 5}},       {2, 3, {3, 4}, {2, 4, 5}},
        {3, 3, {2, 3, 4}, {2, 4, 5}},    {3, 3, {1, 3, 4}, {3, 4, 2}},
        {4, 3, {2, 1, 3, 4}, {3, 4, 2}}, {1, 3, {4}, {2, 4, 3}},
        {3, 1, {2, 3, 4}, {4}},
    };
    for (size_t c = 0; c < PTQ_COUNTOF(forms); c++) {
        gcase gc;
        gc_begin(&gc, &r, "matmul case %zu:", c);
        int32_t in[2] = {gc_input(&gc, forms[c].an, forms[c].a, -1.0f, 1.0f),
                         gc_input(&gc, forms[c].bn, forms[c].b, -1.0f, 1.0f)};
        gc_node(&gc, PTQ_OP_MATMUL, 2, in);
        gc_run(&gc);
    }
}
END_TEST

/* ================================================================ element-wise ====== */

/* Add/Sub/Mul/Div with broadcasting either way (the gradient of a broadcast operand is
 * summed over the dims it was repeated along). */
START_TEST(binary_broadcast) {
    static const ptq_op ops[] = {PTQ_OP_ADD, PTQ_OP_SUB, PTQ_OP_MUL, PTQ_OP_DIV};
    static const struct {
        int32_t an, bn;
        int64_t a[4], b[4];
    } forms[] = {
        {3, 3, {2, 3, 4}, {2, 3, 4}}, {3, 1, {2, 3, 4}, {4}},       {1, 3, {4}, {2, 3, 4}},
        {2, 2, {3, 1}, {1, 4}},       {3, 2, {2, 1, 4}, {3, 1}},    {1, 2, {1}, {2, 3}},
        {0, 1, {0}, {3}},             {2, 0, {2, 3}, {0}},          {4, 3, {2, 3, 1, 5}, {3, 4, 1}},
        {4, 4, {1, 3, 1, 2}, {2, 1, 4, 2}},
    };
    const ptq_op op = ops[_i];
    test_rng r = {0xB1AULL + (uint64_t)_i};
    for (size_t c = 0; c < PTQ_COUNTOF(forms); c++) {
        gcase gc;
        gc_begin(&gc, &r, "%s case %zu:", ptq_op_name(op), c);
        int32_t in[2] = {gc_input(&gc, forms[c].an, forms[c].a, -1.0f, 1.0f),
                         gc_input(&gc, forms[c].bn, forms[c].b, -1.0f, 1.0f)};
        if (op == PTQ_OP_DIV) away_from_zero(&gc, in[1]);
        gc_node(&gc, op, 2, in);
        gc_run(&gc);
    }
}
END_TEST

static void random_shape(test_rng *r, int32_t *ndim, int64_t *ne) {
    *ndim = (int32_t)test_rng_int(r, 1, 4);
    for (int32_t i = 0; i < *ndim; i++) ne[i] = test_rng_int(r, 1, 5);
}

/* Every activation, data kept off its kinks. */
START_TEST(unary_activations) {
    static const ptq_op ops[] = {PTQ_OP_RELU,    PTQ_OP_CLIP,         PTQ_OP_LEAKY_RELU,
                                 PTQ_OP_SIGMOID, PTQ_OP_HARD_SIGMOID, PTQ_OP_HARD_SWISH,
                                 PTQ_OP_TANH};
    test_rng r = {0x0A41ULL + (uint64_t)_i};
    for (size_t c = 0; c < PTQ_COUNTOF(ops); c++) {
        const ptq_op op = ops[c];
        gcase gc;
        gc_begin(&gc, &r, "%s seed %d:", ptq_op_name(op), _i);
        int32_t nd;
        int64_t ne[4];
        random_shape(&r, &nd, ne);
        const float span = op == PTQ_OP_HARD_SIGMOID || op == PTQ_OP_HARD_SWISH ? 5.0f : 2.0f;
        int32_t x = gc_input(&gc, nd, ne, -span, span);
        ptq_node *n = gc_node(&gc, op, 1, &x);
        float kinks[2] = {0.0f, 0.0f};
        int32_t n_kinks = 0;
        switch (op) {
        case PTQ_OP_RELU: n_kinks = 1; break;
        case PTQ_OP_LEAKY_RELU:
            n->attrs.alpha = test_rng_uniform(&r, 0.01f, 0.5f);
            n_kinks = 1;
            break;
        case PTQ_OP_CLIP:
            /* Sometimes only one bound (the other stays infinite, as when ONNX omits it). */
            if (_i % 3 != 1) kinks[n_kinks++] = n->attrs.clip_min = test_rng_uniform(&r, -1.0f, 0.0f);
            if (_i % 3 != 2) kinks[n_kinks++] = n->attrs.clip_max = test_rng_uniform(&r, 0.0f, 1.0f);
            break;
        case PTQ_OP_HARD_SIGMOID:
            n->attrs.alpha = test_rng_uniform(&r, 0.1f, 0.4f);
            n->attrs.beta = test_rng_uniform(&r, 0.3f, 0.7f);
            kinks[0] = -n->attrs.beta / n->attrs.alpha;
            kinks[1] = (1.0f - n->attrs.beta) / n->attrs.alpha;
            n_kinks = 2;
            break;
        case PTQ_OP_HARD_SWISH:
            kinks[0] = -3.0f, kinks[1] = 3.0f;
            n_kinks = 2;
            break;
        default: break;
        }
        keep_off_kinks(&gc, x, kinks, n_kinks, -span, span);
        gc_run(&gc);
    }
}
END_TEST

/* Inference form: gradients to x, scale and bias (and the frozen mean and variance,
 * which the kernel also provides). */
START_TEST(batch_norm) {
    test_rng r = {0xB4ULL + (uint64_t)_i};
    static const struct {
        int32_t nd;
        int64_t ne[4];
    } forms[] = {{2, {3, 4}}, {3, {2, 3, 5}}, {4, {2, 3, 4, 3}}, {4, {1, 5, 2, 2}}};
    for (size_t c = 0; c < PTQ_COUNTOF(forms); c++) {
        gcase gc;
        gc_begin(&gc, &r, "BatchNormalization case %zu:", c);
        const int64_t pne[1] = {forms[c].ne[1]};
        int32_t in[5] = {gc_input(&gc, forms[c].nd, forms[c].ne, -2.0f, 2.0f),
                         gc_const(&gc, 1, pne, -1.5f, 1.5f), gc_const(&gc, 1, pne, -1.0f, 1.0f),
                         gc_const(&gc, 1, pne, -0.5f, 0.5f), gc_const(&gc, 1, pne, 0.2f, 1.2f)};
        ptq_node *n = gc_node(&gc, PTQ_OP_BATCH_NORM, 5, in);
        n->attrs.epsilon = c % 2 ? 1e-3f : 1e-5f;
        gc_run(&gc);
    }
}
END_TEST

/* ================================================================ pooling ====== */

/* A random MaxPool or AveragePool, 1-D or 2-D: pads below the kernel size (ONNX's rule),
 * strides, ceil mode; dilation for MaxPool only (the importer refuses it for AveragePool,
 * and the forward's divisor assumes none). */
static void pool_run(test_rng *r, ptq_op op, const ptq_pool_attrs *a, const int64_t *xne,
                     const char *label) {
    gcase gc;
    gc_begin(&gc, r, "%s: ceil %d count_include_pad %d", label, a->ceil_mode, a->count_include_pad);
    for (int32_t i = 0; i < a->n_spatial; i++)
        gc_note(&gc, " k%ld s%ld d%ld p%ld/%ld", (long)a->kernel[i], (long)a->stride[i],
                (long)a->dilation[i], (long)a->pad_begin[i], (long)a->pad_end[i]);
    int32_t x = gc_input(&gc, 2 + a->n_spatial, xne, -1.0f, 1.0f);
    if (op == PTQ_OP_MAX_POOL) spread_distinct(&gc, x);
    ptq_node *n = gc_node(&gc, op, 1, &x);
    n->attrs.pool = *a;
    gc_run(&gc);
}

static void pool_case(test_rng *r, ptq_op op, int32_t nsp, const char *label) {
    const bool is_max = op == PTQ_OP_MAX_POOL;
    ptq_pool_attrs a;
    int64_t xne[4];
    for (;;) {
        memset(&a, 0, sizeof a);
        a.n_spatial = nsp;
        a.ceil_mode = (int32_t)test_rng_int(r, 0, 1);
        a.count_include_pad = is_max ? 0 : (int32_t)test_rng_int(r, 0, 1);
        xne[0] = test_rng_int(r, 1, 2), xne[1] = test_rng_int(r, 1, 3);
        bool ok = true;
        for (int32_t i = 0; i < nsp; i++) {
            xne[2 + i] = test_rng_int(r, 3, nsp == 1 ? 12 : 7);
            a.kernel[i] = test_rng_int(r, 1, 3);
            a.stride[i] = test_rng_int(r, 1, 3);
            a.dilation[i] = is_max ? test_rng_int(r, 1, 2) : 1;
            a.pad_begin[i] = test_rng_int(r, 0, a.kernel[i] - 1);
            a.pad_end[i] = test_rng_int(r, 0, a.kernel[i] - 1);
            ok &= ptq_window_out(xne[2 + i], a.kernel[i], a.stride[i], a.dilation[i], a.pad_begin[i],
                                 a.pad_end[i], a.ceil_mode) >= 1;
        }
        if (ok) break;
    }
    pool_run(r, op, &a, xne, label);
}

/* Ceil-mode windows that hang past the end padding: with count_include_pad the padding
 * counts in the divisor but the overhang does not (PyTorch's rule, as pool.c does it). */
START_TEST(average_pool_overhang) {
    test_rng r = {0xA760ULL};
    for (int32_t cip = 0; cip < 2; cip++)
        for (int64_t pad = 0; pad < 2; pad++) {
            const int64_t xne[4] = {1, 2, 6, 7};
            const ptq_pool_attrs a = {.n_spatial = 2, .ceil_mode = 1, .count_include_pad = cip,
                                      .kernel = {3, 3}, .stride = {2, 2}, .dilation = {1, 1},
                                      .pad_begin = {pad, pad}, .pad_end = {pad, pad}};
            char label[64];
            snprintf(label, sizeof label, "AveragePool overhang pad %ld", (long)pad);
            pool_run(&r, PTQ_OP_AVERAGE_POOL, &a, xne, label);
        }
}
END_TEST

START_TEST(max_pool) {
    test_rng r = {0x3A9ULL + (uint64_t)_i};
    for (int c = 0; c < 8; c++) {
        char label[64];
        snprintf(label, sizeof label, "MaxPool seed %d case %d", _i, c);
        pool_case(&r, PTQ_OP_MAX_POOL, c % 4 == 3 ? 1 : 2, label);
    }
}
END_TEST

START_TEST(average_pool) {
    test_rng r = {0xA76ULL + (uint64_t)_i};
    for (int c = 0; c < 8; c++) {
        char label[64];
        snprintf(label, sizeof label, "AveragePool seed %d case %d", _i, c);
        pool_case(&r, PTQ_OP_AVERAGE_POOL, c % 4 == 3 ? 1 : 2, label);
    }
}
END_TEST

START_TEST(global_pools) {
    test_rng r = {0x610ULL};
    static const struct {
        int32_t nd;
        int64_t ne[5];
    } forms[] = {{3, {2, 3, 5}}, {4, {2, 2, 3, 4}}, {4, {1, 3, 1, 1}}, {5, {1, 2, 2, 3, 2}}};
    for (int op = 0; op < 2; op++)
        for (size_t c = 0; c < PTQ_COUNTOF(forms); c++) {
            const ptq_op o = op ? PTQ_OP_GLOBAL_MAX_POOL : PTQ_OP_GLOBAL_AVERAGE_POOL;
            gcase gc;
            gc_begin(&gc, &r, "%s case %zu:", ptq_op_name(o), c);
            int32_t x = gc_input(&gc, forms[c].nd, forms[c].ne, -1.0f, 1.0f);
            if (op) spread_distinct(&gc, x);
            gc_node(&gc, o, 1, &x);
            gc_run(&gc);
        }
}
END_TEST

/* The gradient goes where the forward's maximum came from: never to a NaN (which the
 * forward skips), to the first of equal maxima, nowhere from a window of -inf. */
START_TEST(max_pool_winner) {
    test_rng r = {0x3A90ULL};
    const float data[8] = {NAN, 1.0f, 3.0f, 3.0f, -INFINITY, -INFINITY, 2.0f, NAN};
    const float want_window[8] = {0, 0, 1, 0, 0, 0, 1, 0}; /* windows {0..3}, {4..7} */
    const float want_global[8] = {0, 0, 1, 0, 0, 0, 0, 0};
    for (int global = 0; global < 2; global++) {
        gcase gc;
        gc_begin(&gc, &r, "%s winner:", global ? "GlobalMaxPool" : "MaxPool");
        const int64_t ne[3] = {1, 1, 8};
        int32_t x = gc_input(&gc, 3, ne, 0.0f, 0.0f);
        memcpy(gc_data(&gc, x), data, sizeof data);
        ptq_node *n = gc_node(&gc, global ? PTQ_OP_GLOBAL_MAX_POOL : PTQ_OP_MAX_POOL, 1, &x);
        if (!global) n->attrs.pool = (ptq_pool_attrs){.n_spatial = 1, .kernel = {4}, .stride = {4}};
        gc_prepare(&gc);
        for (int64_t i = 0; i < ptq_kt_numel(&gc.out); i++) gc.r[i] = 1.0f;
        float *dx = grad_buffer(&gc, 0, NULL);
        gc_backward(&gc, 1, 1u, &dx);
        for (int i = 0; i < 8; i++)
            ck_assert_msg(dx[i] == (global ? want_global : want_window)[i], "%s dx[%d] = %g", gc.desc, i,
                          (double)dx[i]);
        free(dx);
        gc_free(&gc);
    }
}
END_TEST

/* ================================================================ layout ====== */

START_TEST(flatten_reshape) {
    test_rng r = {0xF1A7ULL};
    const int64_t ne[4] = {2, 3, 2, 2};
    for (int64_t axis = 0; axis <= 4; axis++) {
        gcase gc;
        gc_begin(&gc, &r, "Flatten axis %ld:", (long)axis);
        int32_t x = gc_input(&gc, 4, ne, -1.0f, 1.0f);
        gc_node(&gc, PTQ_OP_FLATTEN, 1, &x)->attrs.axis = axis;
        gc_run(&gc);
    }
    static const struct {
        int32_t nd;
        int64_t shape[3];
    } targets[] = {{2, {4, -1}}, {2, {0, 12}}, {1, {24}}, {3, {3, 2, 4}}};
    for (size_t c = 0; c < PTQ_COUNTOF(targets); c++) {
        gcase gc;
        gc_begin(&gc, &r, "Reshape case %zu:", c);
        const int64_t xne[3] = {2, 3, 4};
        int32_t x = gc_input(&gc, 3, xne, -1.0f, 1.0f);
        ptq_node *n = gc_node(&gc, PTQ_OP_RESHAPE, 1, &x);
        n->attrs.ndim = targets[c].nd;
        memcpy(n->attrs.shape, targets[c].shape, sizeof targets[c].shape);
        gc_run(&gc);
    }
}
END_TEST

START_TEST(transpose) {
    test_rng r = {0x7A5ULL + (uint64_t)_i};
    for (int c = 0; c < 4; c++) {
        gcase gc;
        gc_begin(&gc, &r, "Transpose seed %d case %d:", _i, c);
        int32_t nd;
        int64_t ne[4], perm[4];
        random_shape(&r, &nd, ne);
        for (int32_t i = 0; i < nd; i++) perm[i] = i;
        for (int32_t i = nd - 1; i > 0; i--) {
            const int64_t j = test_rng_int(&r, 0, i), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        int32_t x = gc_input(&gc, nd, ne, -1.0f, 1.0f);
        ptq_node *n = gc_node(&gc, PTQ_OP_TRANSPOSE, 1, &x);
        n->attrs.ndim = nd;
        memcpy(n->attrs.perm, perm, sizeof perm);
        gc_run(&gc);
    }
}
END_TEST

START_TEST(concat) {
    test_rng r = {0xC0CA7ULL + (uint64_t)_i};
    for (int c = 0; c < 4; c++) {
        gcase gc;
        gc_begin(&gc, &r, "Concat seed %d case %d:", _i, c);
        int32_t nd;
        int64_t ne[4];
        random_shape(&r, &nd, ne);
        const int64_t axis = test_rng_int(&r, 0, nd - 1);
        const int32_t parts = (int32_t)test_rng_int(&r, 1, 3);
        int32_t in[3];
        for (int32_t k = 0; k < parts; k++) {
            ne[axis] = test_rng_int(&r, 1, 3);
            in[k] = gc_input(&gc, nd, ne, -1.0f, 1.0f);
        }
        gc_node(&gc, PTQ_OP_CONCAT, parts, in)->attrs.axis = axis;
        gc_run(&gc);
    }
}
END_TEST

/* Every axis, with and without the pre-opset-13 coercion to 2-D. */
START_TEST(softmax) {
    test_rng r = {0x50F7ULL + (uint64_t)_i};
    int32_t nd;
    int64_t ne[4];
    random_shape(&r, &nd, ne);
    for (int32_t legacy = 0; legacy < 2; legacy++)
        for (int64_t axis = 0; axis < nd; axis++) {
            gcase gc;
            gc_begin(&gc, &r, "Softmax seed %d axis %ld legacy %d:", _i, (long)axis, legacy);
            int32_t x = gc_input(&gc, nd, ne, -3.0f, 3.0f);
            ptq_node *n = gc_node(&gc, PTQ_OP_SOFTMAX, 1, &x);
            n->attrs.axis = axis;
            n->attrs.softmax_legacy = legacy;
            gc_run(&gc);
        }
}
END_TEST

/* Constant Pad, negative pads (crops) included. */
START_TEST(pad) {
    test_rng r = {0x9ADULL + (uint64_t)_i};
    for (int c = 0; c < 4; c++) {
        gcase gc;
        gc_begin(&gc, &r, "Pad seed %d case %d:", _i, c);
        int32_t nd;
        int64_t ne[4];
        random_shape(&r, &nd, ne);
        int64_t pads[2 * PTQ_MAX_DIMS] = {0};
        for (int32_t i = 0; i < nd; i++)
            do {
                pads[i] = test_rng_int(&r, -1, 2);
                pads[nd + i] = test_rng_int(&r, -1, 2);
            } while (ne[i] + pads[i] + pads[nd + i] < 1);
        for (int32_t i = 0; i < 2 * nd; i++) gc_note(&gc, " %ld", (long)pads[i]);
        int32_t x = gc_input(&gc, nd, ne, -1.0f, 1.0f);
        ptq_node *n = gc_node(&gc, PTQ_OP_PAD, 1, &x);
        memcpy(n->attrs.pads, pads, sizeof pads);
        n->attrs.pad_value = test_rng_uniform(&r, -1.0f, 1.0f);
        gc_run(&gc);
    }
}
END_TEST

/* Gather scatters its gradient back, adding where an index repeats; negative indices
 * count from the end.  The indices (a constant) get no gradient. */
START_TEST(gather) {
    test_rng r = {0x6A7ULL + (uint64_t)_i};
    for (int c = 0; c < 4; c++) {
        gcase gc;
        gc_begin(&gc, &r, "Gather seed %d case %d:", _i, c);
        int32_t nd = (int32_t)test_rng_int(&r, 1, 3);
        int64_t ne[3];
        for (int32_t i = 0; i < nd; i++) ne[i] = test_rng_int(&r, 1, 4);
        const int64_t axis = test_rng_int(&r, 0, nd - 1);
        const int32_t ind = (int32_t)test_rng_int(&r, 0, 2);
        int64_t ine[2] = {test_rng_int(&r, 1, 4), test_rng_int(&r, 1, 3)};
        ptq_error err = {0};
        ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I64, ind, ine, &err);
        ck_assert_msg(t != NULL, "%s", err.msg);
        int64_t *ix = t->data;
        for (int64_t i = 0; i < ptq_tensor_numel(t); i++) {
            ix[i] = test_rng_int(&r, -ne[axis], ne[axis] - 1);
            gc_note(&gc, " %ld", (long)ix[i]);
        }
        int32_t in[2] = {gc_input(&gc, nd, ne, -1.0f, 1.0f), gc_const_tensor(&gc, t)};
        gc_node(&gc, PTQ_OP_GATHER, 2, in)->attrs.axis = axis;
        gc_run(&gc);
    }
}
END_TEST

/* ================================================================ FAKE_QUANT ====== */

/* A plugin-style rounding function: rounds down (so the backward must ask it, not rint,
 * which elements lie on the grid) and scales the gradient by a factor that depends on the
 * element's index (so the index must be passed right). */
static int rounding_state_marker;

static void round_down(void *state, const float *v, float *out, int64_t n, int64_t index) {
    (void)index;
    ck_assert_ptr_eq(state, &rounding_state_marker);
    for (int64_t i = 0; i < n; i++) out[i] = floorf(v[i]);
}

static float index_factor(int64_t index) { return 0.5f + 0.25f * (float)(index % 3); }

static void round_down_backward(void *state, const float *v, const float *grad_out, float *grad_v,
                                int64_t n, int64_t index) {
    (void)v;
    ck_assert_ptr_eq(state, &rounding_state_marker);
    for (int64_t i = 0; i < n; i++) grad_v[i] = grad_out[i] * index_factor(index + i);
}

/* grad.h's definition, in double: dx = dy (or the rounding's own backward) where the
 * rounded value plus the zero point lies in [qmin, qmax], else 0; the scale's gradient
 * sums dy times (q - z) - x / s inside, qmin - z or qmax - z where clamped, per channel. */
static void fake_quant_expected(const gcase *gc, const ptq_rounding *rnd, float *dx, double *ds) {
    const ptq_node *n = node_of(gc);
    const ptq_kt *x = &gc->in[0];
    const float *xd = x->data, *s = gc->in[1].data;
    const int32_t *zp = gc->in[2].data, axis = n->attrs.q_axis;
    const float lo = (float)n->attrs.qmin, hi = (float)n->attrs.qmax;
    int64_t inner = 1;
    for (int32_t i = axis + 1; axis >= 0 && i < x->ndim; i++) inner *= x->ne[i];
    const int64_t channels = axis >= 0 ? x->ne[axis] : 1;
    for (int64_t c = 0; c < channels; c++) ds[c] = 0.0;
    for (int64_t i = 0; i < ptq_kt_numel(x); i++) {
        const int64_t c = axis >= 0 ? (i / inner) % channels : 0;
        const float v = xd[i] / s[c], z = (float)zp[c], g = gc->r[i];
        float q;
        if (rnd) rnd->forward(n->attrs.q_rounding_state, &v, &q, 1, i);
        else q = rintf(v);
        const bool inside = q + z >= lo && q + z <= hi;
        dx[i] = !inside ? 0.0f : rnd && rnd->backward ? g * index_factor(i) : g;
        ds[c] += (double)g * (inside ? (double)q - (double)v : (q + z < lo ? lo - z : hi - z));
    }
}

/* Per tensor (scalar or [1] parameters) and per channel along every axis, signed and
 * unsigned grids that the data both round on and overflow; with the default rounding, a
 * rounding without a backward (straight-through on its grid), and one with. */
START_TEST(fake_quant) {
    test_rng r = {0xFA4EULL + (uint64_t)_i};
    const ptq_rounding with_backward = {sizeof(ptq_rounding), "down", round_down, round_down_backward,
                                        NULL, NULL};
    const ptq_rounding without_backward = {sizeof(ptq_rounding), "down", round_down, NULL, NULL, NULL};
    const ptq_rounding *roundings[3] = {NULL, &without_backward, &with_backward};
    for (int c = 0; c < 12; c++) {
        const ptq_rounding *rnd = roundings[c % 3];
        gcase gc;
        gc_begin(&gc, &r, "FAKE_QUANT seed %d case %d rounding %s:", _i, c, rnd ? rnd->name : "rint");
        int32_t nd;
        int64_t ne[4];
        random_shape(&r, &nd, ne);
        const int32_t axis = c % 4 == 0 ? -1 : (int32_t)test_rng_int(&r, -1, nd - 1);
        const bool is_signed = test_rng_int(&r, 0, 1);
        const int32_t bits = (int32_t)test_rng_int(&r, 2, 8);
        const int32_t qmin = is_signed ? -(1 << (bits - 1)) : 0, qmax = is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
        const int64_t pne[1] = {axis >= 0 ? ne[axis] : 1};
        const int32_t prank = axis < 0 && c % 2 ? 0 : 1;
        ptq_error err = {0};
        ptq_tensor *st = ptq_tensor_new(PTQ_DTYPE_F32, prank, pne, &err);
        ptq_tensor *zt = ptq_tensor_new(PTQ_DTYPE_I32, prank, pne, &err);
        ck_assert_msg(st && zt, "%s", err.msg);
        gc_note(&gc, " bits %d qmin %d qmax %d axis %d", bits, qmin, qmax, axis);
        for (int64_t k = 0; k < pne[0]; k++) {
            /* The grid spans 1 to 3, the data [-2, 2]: values both round and saturate. */
            ((float *)st->data)[k] = test_rng_uniform(&r, 1.0f, 3.0f) / (float)(qmax - qmin);
            ((int32_t *)zt->data)[k] = is_signed ? 0 : (int32_t)test_rng_int(&r, qmin, qmax);
        }
        int32_t in[3] = {gc_input(&gc, nd, ne, -2.0f, 2.0f), gc_const_tensor(&gc, st),
                         gc_const_tensor(&gc, zt)};
        ptq_node *n = gc_node(&gc, PTQ_OP_FAKE_QUANT, 3, in);
        n->attrs.qmin = qmin;
        n->attrs.qmax = qmax;
        n->attrs.q_axis = axis;
        n->attrs.q_rounding = rnd;
        n->attrs.q_rounding_state = &rounding_state_marker;
        gc_prepare(&gc);
        gc_check(&gc);
        const int64_t m = ptq_kt_numel(&gc.in[0]);
        float *dx = floats(m);
        double ds[8];
        ck_assert_int_le(pne[0], 8);
        fake_quant_expected(&gc, rnd, dx, ds);
        for (int64_t i = 0; i < m; i++)
            ck_assert_msg(gc.grad[0][i] == dx[i], "%s: dx[%ld] = %g, want %g", gc.desc, (long)i,
                          (double)gc.grad[0][i], (double)dx[i]);
        for (int64_t k = 0; k < pne[0]; k++)
            ck_assert_msg(fabs(gc.grad[1][k] - ds[k]) <= 1e-5 * (1.0 + fabs(ds[k])),
                          "%s: d/d scale[%ld] = %.7g, want %.7g", gc.desc, (long)k,
                          (double)gc.grad[1][k], ds[k]);
        free(dx);
        gc_free(&gc);
    }
}
END_TEST

/* ============================================================ spatial ops ====== */

/* Resize: nearest scatters each output's gradient to its source, linear spreads it over
 * the (up to four) neighbours with the interpolation weights; the op is linear in x, so
 * central differences are exact. */
START_TEST(resize) {
    static const float scales[] = {0.5f, 0.75f, 1.0f, 1.5f, 2.0f, 2.5f};
    test_rng r = {0x2E5ULL + (uint64_t)_i};
    for (int c = 0; c < 6; c++) {
        gcase gc;
        const bool linear = c % 2;
        const int32_t coord = (int32_t)test_rng_int(&r, 0, 3);
        gc_begin(&gc, &r, "Resize seed %d case %d %s coord %d:", _i, c, linear ? "linear" : "nearest", coord);
        const int32_t nd = (int32_t)test_rng_int(&r, 2, 4);
        int64_t ne[4];
        struct ptq_resize_attrs a = {0};
        a.mode = linear ? PTQ_RESIZE_LINEAR : PTQ_RESIZE_NEAREST;
        a.coord = coord;
        a.nearest_mode = (int32_t)test_rng_int(&r, 0, 3);
        a.ndim = nd;
        for (int32_t i = 0; i < nd; i++) {
            ne[i] = test_rng_int(&r, 2, 5);
            a.scales[i] = i < nd - 2 ? 1.0f : scales[test_rng_int(&r, 0, 5)];
            gc_note(&gc, " %g", (double)a.scales[i]);
        }
        int32_t x = gc_input(&gc, nd, ne, -1.0f, 1.0f);
        gc_node(&gc, PTQ_OP_RESIZE, 1, &x)->attrs.resize = a;
        gc_run(&gc);
    }
}
END_TEST

/* ConvTranspose: data, weight and bias gradients, grouped, strided, dilated, padded. */
START_TEST(conv_transpose) {
    test_rng r = {0xC7ULL + (uint64_t)_i};
    for (int c = 0; c < 6; c++) {
        gcase gc;
        const int32_t nsp = 1 + c % 2;
        gc_begin(&gc, &r, "ConvTranspose seed %d case %d %d-D:", _i, c, nsp);
        const int64_t g = test_rng_int(&r, 1, 2), cg = test_rng_int(&r, 1, 3), mg = test_rng_int(&r, 1, 3);
        ptq_conv_attrs a = {0};
        a.group = g;
        int64_t sp[2] = {1, 1}, opad[2] = {0, 0};
        for (int32_t i = 0; i < nsp; i++) {
            a.kernel[i] = test_rng_int(&r, 1, 3);
            a.stride[i] = test_rng_int(&r, 1, 3);
            a.dilation[i] = test_rng_int(&r, 1, 2);
            sp[i] = test_rng_int(&r, 1, 4);
            opad[i] = test_rng_int(&r, 0, PTQ_MAX(a.stride[i], a.dilation[i]) - 1);
            const int64_t full = a.stride[i] * (sp[i] - 1) + opad[i] + (a.kernel[i] - 1) * a.dilation[i] + 1;
            a.pad_begin[i] = test_rng_int(&r, 0, (full - 1) / 2);
            a.pad_end[i] = test_rng_int(&r, 0, (full - 1) / 2);
            gc_note(&gc, " k%ld s%ld d%ld p%ld/%ld op%ld", (long)a.kernel[i], (long)a.stride[i],
                    (long)a.dilation[i], (long)a.pad_begin[i], (long)a.pad_end[i], (long)opad[i]);
        }
        const int64_t xne[4] = {2, g * cg, sp[0], sp[1]}, wne[4] = {g * cg, mg, a.kernel[0], a.kernel[1]};
        const int64_t bne[1] = {g * mg};
        const bool bias = c % 3 != 0;
        int32_t in[3];
        in[0] = gc_input(&gc, nsp + 2, xne, -1.0f, 1.0f);
        in[1] = gc_const(&gc, nsp + 2, wne, -1.0f, 1.0f);
        if (bias) in[2] = gc_const(&gc, 1, bne, -1.0f, 1.0f);
        ptq_node *n = gc_node(&gc, PTQ_OP_CONV_TRANSPOSE, bias ? 3 : 2, in);
        n->attrs.conv = a;
        n->attrs.convt.output_padding[0] = opad[0];
        n->attrs.convt.output_padding[1] = opad[1];
        gc_run(&gc);
    }
}
END_TEST

/* Slice: the gradient lands on the elements taken, with any step (negative included). */
START_TEST(slice) {
    test_rng r = {0x51CULL + (uint64_t)_i};
    for (int c = 0; c < 6; c++) {
        gcase gc;
        gc_begin(&gc, &r, "Slice seed %d case %d:", _i, c);
        int32_t nd;
        int64_t ne[4];
        random_shape(&r, &nd, ne);
        struct ptq_slice_attrs s;
        memset(&s, 0, sizeof s);
        for (int32_t i = 0; i < nd; i++) {
            s.axes[s.n] = i;
            s.steps[s.n] = test_rng_int(&r, 0, 1) ? test_rng_int(&r, 1, 2) : -test_rng_int(&r, 1, 2);
            /* Start inside the axis, so at least one element is taken. */
            s.starts[s.n] = test_rng_int(&r, 0, ne[i] - 1);
            s.ends[s.n] = s.steps[s.n] > 0 ? INT64_MAX : INT64_MIN + 1;
            gc_note(&gc, " %ld::%ld", (long)s.starts[s.n], (long)s.steps[s.n]);
            s.n++;
        }
        int32_t x = gc_input(&gc, nd, ne, -1.0f, 1.0f);
        gc_node(&gc, PTQ_OP_SLICE, 1, &x)->attrs.slice = s;
        gc_run(&gc);
    }
}
END_TEST

/* ================================================================ the table ====== */

/* Every op the executor can run can be trained through. */
/* ---- elementwise, comparison and reduction ops ---- */

/* Max/Min pass the gradient to the operand the forward picked: on a tie the later one
 * (the forward folds op(op(x0, x1), x2)).  ReduceMax to the first maximum in row-major
 * order, as its kernel keeps it. */
START_TEST(math_winners) {
    test_rng r = {0x3A7ULL};
    const int64_t ne[2] = {1, 4};
    const float a[4] = {1.0f, 3.0f, 2.0f, 4.0f}, b[4] = {1.0f, 2.0f, 2.0f, 5.0f};
    for (int k = 0; k < 2; k++) {
        gcase gc;
        gc_begin(&gc, &r, "%s winner:", k ? "Min" : "Max");
        int32_t in[2] = {gc_input(&gc, 2, ne, 0.0f, 0.0f), gc_input(&gc, 2, ne, 0.0f, 0.0f)};
        memcpy(gc_data(&gc, in[0]), a, sizeof a);
        memcpy(gc_data(&gc, in[1]), b, sizeof b);
        gc_node(&gc, k ? PTQ_OP_MIN : PTQ_OP_MAX, 2, in);
        gc_prepare(&gc);
        for (int i = 0; i < 4; i++) gc.r[i] = 1.0f;
        float *d[2] = {grad_buffer(&gc, 0, NULL), grad_buffer(&gc, 1, NULL)};
        gc_backward(&gc, 1, 3u, d);
        /* Max: b wins the ties at 0 and 2, a wins 1, b wins 3; Min: b wins the ties and 1,
         * a wins 3. */
        const float want_a[2][4] = {{0, 1, 0, 0}, {0, 0, 0, 1}};
        for (int i = 0; i < 4; i++) {
            ck_assert_msg(d[0][i] == want_a[k][i] && d[1][i] == 1.0f - want_a[k][i],
                          "%s element %d: da %g db %g", gc.desc, i, (double)d[0][i], (double)d[1][i]);
        }
        free(d[0]);
        free(d[1]);
        gc_free(&gc);
    }
    gcase gc;
    gc_begin(&gc, &r, "ReduceMax winner:");
    const int64_t ne2[2] = {2, 4};
    int32_t x = gc_input(&gc, 2, ne2, 0.0f, 0.0f);
    const float data[8] = {1.0f, 3.0f, 3.0f, 2.0f, 0.5f, 0.5f, 0.5f, 0.5f};
    memcpy(gc_data(&gc, x), data, sizeof data);
    ptq_node *n = gc_node(&gc, PTQ_OP_REDUCE_MAX, 1, &x);
    n->attrs.n_axes = 1;
    n->attrs.axes[0] = 1;
    n->attrs.keepdims = 1;
    gc_prepare(&gc);
    gc.r[0] = gc.r[1] = 1.0f;
    float *dx = grad_buffer(&gc, 0, NULL);
    gc_backward(&gc, 1, 1u, &dx);
    const float want[8] = {0, 1, 0, 0, 1, 0, 0, 0};
    for (int i = 0; i < 8; i++) ck_assert_msg(dx[i] == want[i], "ReduceMax dx[%d] = %g", i, (double)dx[i]);
    free(dx);
    gc_free(&gc);
}
END_TEST

START_TEST(every_op_has_a_backward) {
    for (int op = 1; op < PTQ_OP_COUNT; op++)
        if (ptq_op_table[op].forward)
            ck_assert_msg(ptq_grad_table[op].backward != NULL, "%s has no backward",
                          ptq_op_name((ptq_op)op));
}
END_TEST

static TCase *tcase(Suite *s, const char *name) {
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tc;
}

int main(void) {
    Suite *s = suite_create("grad");
    tcase_add_test(tcase(s, "table"), every_op_has_a_backward);
    tcase_add_loop_test(tcase(s, "conv2d"), conv2d_random, 0, 12);
    tcase_add_loop_test(tcase(s, "conv1d"), conv1d_random, 0, 6);
    tcase_add_test(tcase(s, "conv_named"), conv_named);
    tcase_add_test(tcase(s, "conv_many_images"), conv_many_images);
    tcase_add_loop_test(tcase(s, "gemm"), gemm_all_forms, 0, 4);
    tcase_add_test(tcase(s, "matmul"), matmul_broadcast);
    tcase_add_loop_test(tcase(s, "binary"), binary_broadcast, 0, 4);
    tcase_add_loop_test(tcase(s, "unary"), unary_activations, 0, 6);
    tcase_add_test(tcase(s, "batch_norm"), batch_norm);
    tcase_add_loop_test(tcase(s, "max_pool"), max_pool, 0, 8);
    tcase_add_loop_test(tcase(s, "average_pool"), average_pool, 0, 8);
    tcase_add_test(tcase(s, "average_pool_overhang"), average_pool_overhang);
    tcase_add_test(tcase(s, "global_pools"), global_pools);
    tcase_add_test(tcase(s, "max_pool_winner"), max_pool_winner);
    tcase_add_test(tcase(s, "flatten_reshape"), flatten_reshape);
    tcase_add_loop_test(tcase(s, "transpose"), transpose, 0, 3);
    tcase_add_loop_test(tcase(s, "concat"), concat, 0, 3);
    tcase_add_loop_test(tcase(s, "softmax"), softmax, 0, 3);
    tcase_add_loop_test(tcase(s, "pad"), pad, 0, 3);
    tcase_add_loop_test(tcase(s, "gather"), gather, 0, 3);
    tcase_add_loop_test(tcase(s, "fake_quant"), fake_quant, 0, 4);
    /* Split has several outputs: its backward is checked through the tape (test_kernels). */
    tcase_add_loop_test(tcase(s, "resize"), resize, 0, 4);
    tcase_add_loop_test(tcase(s, "conv_transpose"), conv_transpose, 0, 4);
    tcase_add_loop_test(tcase(s, "slice"), slice, 0, 4);
    tcase_add_test(tcase(s, "math_winners"), math_winners);
    return test_run_suite(s);
}
