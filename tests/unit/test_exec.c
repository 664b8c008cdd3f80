/* test_exec.c — the executor's planning and running: buffer reuse, what stays readable
 * after a run (outputs, keep, keep_all, fused values), node subsets, batch sizes and
 * the errors of bind/run.  Kernel numerics are test_kernels.c's job; here the graphs are
 * chains whose values are easy to compute in the test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define B PTQ_DIM_BATCH
#define WIDTH 256 /* per-sample floats of every value in the chains */
#define CHAIN 10

/* ================================================================ chains ====== */

/* x -> Relu -> Relu -> ... (n nodes); the last value is the graph output.  ids[i] is
 * node i's output. */
static ptq_graph *relu_chain(int n, int32_t *ids) {
    ptq_graph *g = ptq_graph_new();
    int64_t ne[2] = {B, WIDTH};
    int32_t prev = test_graph_input(g, "x", 2, ne);
    for (int i = 0; i < n; i++) {
        char name[16], out[16];
        snprintf(name, sizeof name, "relu%d", i);
        snprintf(out, sizeof out, "v%d", i);
        int32_t id = test_graph_node(g, PTQ_OP_RELU, name, 1, &prev, out);
        prev = ids[i] = g->nodes[id].outputs[0];
    }
    test_graph_output(g, prev);
    ptq_error err = {0};
    ck_assert_msg(ptq_graph_infer_shapes(g, &err) == PTQ_OK, "%s", err.msg);
    return g;
}

/* A chain whose values all differ: node i (i even) adds a scalar constant, node i (odd)
 * is a LeakyRelu with its own slope.  Add followed by an activation is also what the
 * executor fuses, so the default plan never stores the Adds' outputs. */
static float chain_step(int i, float v) {
    if (i % 2 == 0) return v + (float)(0.25 * i - 1.0);
    const float alpha = 0.05f * (float)i;
    return v >= 0.0f ? v : v * alpha;
}

static ptq_graph *distinct_chain(int32_t *ids) {
    ptq_graph *g = ptq_graph_new();
    int64_t ne[2] = {B, WIDTH}, one[1] = {1};
    int32_t prev = test_graph_input(g, "x", 2, ne);
    for (int i = 0; i < CHAIN; i++) {
        char name[16], out[16];
        snprintf(name, sizeof name, "n%d", i);
        snprintf(out, sizeof out, "v%d", i);
        int32_t id;
        if (i % 2 == 0) {
            char cname[16];
            snprintf(cname, sizeof cname, "c%d", i);
            const float c = (float)(0.25 * i - 1.0);
            int32_t in[2] = {prev, test_graph_const(g, cname, 1, one, &c)};
            id = test_graph_node(g, PTQ_OP_ADD, name, 2, in, out);
        } else {
            id = test_graph_node(g, PTQ_OP_LEAKY_RELU, name, 1, &prev, out);
            g->nodes[id].attrs.alpha = 0.05f * (float)i;
        }
        prev = ids[i] = g->nodes[id].outputs[0];
    }
    test_graph_output(g, prev);
    ptq_error err = {0};
    ck_assert_msg(ptq_graph_infer_shapes(g, &err) == PTQ_OK, "%s", err.msg);
    return g;
}

/* Expected value of chain value `upto` (node index) for input x. */
static float chain_value(float x, int upto) {
    for (int i = 0; i <= upto; i++) x = chain_step(i, x);
    return x;
}

static float *random_input(int64_t batch, uint64_t seed) {
    test_rng r = {seed};
    float *x = malloc((size_t)(batch * WIDTH) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    test_fill_uniform(&r, x, batch * WIDTH, -4.0f, 4.0f);
    return x;
}

/* Checks value `upto` of the distinct chain against the formula for batch samples. */
static void expect_chain(const float *got, const float *x, int64_t batch, int upto) {
    ck_assert_ptr_nonnull(got);
    for (int64_t i = 0; i < batch * WIDTH; i++) {
        float want = chain_value(x[i], upto);
        ck_assert_msg(fabsf(got[i] - want) <= 1e-6f * (1.0f + fabsf(want)),
                      "value v%d element %ld: %g, expected %g", upto, (long)i, (double)got[i],
                      (double)want);
    }
}

static ptq_exec *plan(const ptq_graph *g, const ptq_exec_options *eo) {
    ptq_error err = {0};
    ptq_exec *ex = ptq_exec_new(g, eo, &err);
    ck_assert_msg(ex != NULL, "ptq_exec_new: %s", err.msg);
    return ex;
}

static void run(ptq_exec *ex, int64_t batch) {
    ptq_error err = {0};
    ck_assert_msg(ptq_exec_run(ex, batch, &err) == PTQ_OK, "run: %s", err.msg);
}

/* ========================================================== buffer reuse ====== */

START_TEST(reuse_shrinks_arena) {
    int32_t ids[CHAIN];
    ptq_graph *g = relu_chain(CHAIN, ids);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 8;
    ptq_exec *ex = plan(g, &eo);
    size_t without = 0, with = ptq_exec_arena_bytes(ex, &without);
    const size_t one = 8 * WIDTH * sizeof(float);
    ck_assert_uint_eq(without, CHAIN * one);
    /* A chain needs its output plus two ping-pong buffers at most. */
    ck_assert_msg(with <= 3 * one, "arena %zu bytes for a chain of %d values of %zu", with,
                  CHAIN, one);
    float *x = random_input(8, 1);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    run(ex, 8);
    const float *y = ptq_exec_data(ex, ids[CHAIN - 1]);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < 8 * WIDTH; i++) ck_assert_float_eq(y[i], fmaxf(x[i], 0.0f));
    ptq_exec_free(ex);

    /* keep_all keeps every value: no reuse at all. */
    eo.keep_all = true;
    ex = plan(g, &eo);
    ck_assert_uint_eq(ptq_exec_arena_bytes(ex, &without), without);
    ck_assert_uint_eq(without, CHAIN * one);
    ptq_exec_free(ex);
    free(x);
    ptq_graph_free(g);
}
END_TEST

START_TEST(keep_all_keeps_every_value) {
    int32_t ids[CHAIN];
    ptq_graph *g = distinct_chain(ids);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 4;
    eo.keep_all = true;
    ptq_exec *ex = plan(g, &eo);
    float *x = random_input(4, 2);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    run(ex, 4);
    for (int i = 0; i < CHAIN; i++) expect_chain(ptq_exec_data(ex, ids[i]), x, 4, i);
    /* The bound input reads back as the caller's pointer. */
    ck_assert_ptr_eq(ptq_exec_data(ex, g->inputs[0]), x);
    ptq_exec_free(ex);
    free(x);
    ptq_graph_free(g);
}
END_TEST

START_TEST(default_drops_intermediates) {
    int32_t ids[CHAIN];
    ptq_graph *g = distinct_chain(ids);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 4;
    ptq_exec *ex = plan(g, &eo);
    float *x = random_input(4, 3);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    run(ex, 4);
    /* Reused (or fused, never stored) intermediates are NULL; the output is there. */
    for (int i = 0; i < CHAIN - 1; i++)
        ck_assert_msg(ptq_exec_data(ex, ids[i]) == NULL, "v%d is still readable", i);
    expect_chain(ptq_exec_data(ex, ids[CHAIN - 1]), x, 4, CHAIN - 1);
    /* Constants read back as their data; ids out of range as NULL. */
    int32_t c0 = ptq_graph_find_value(g, "c0");
    ck_assert_ptr_eq(ptq_exec_data(ex, c0), g->values[c0].data->data);
    ck_assert_ptr_null(ptq_exec_data(ex, -1));
    ck_assert_ptr_null(ptq_exec_data(ex, g->n_values));
    ptq_exec_free(ex);
    free(x);
    ptq_graph_free(g);
}
END_TEST

START_TEST(keep_list) {
    int32_t ids[CHAIN];
    ptq_graph *g = distinct_chain(ids);
    /* v3 is a LeakyRelu's output; v6 an Add's that would be fused into n7 if not kept. */
    const int32_t keep[2] = {ids[3], ids[6]};
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 4;
    eo.keep = keep;
    eo.n_keep = 2;
    ptq_exec *ex = plan(g, &eo);
    float *x = random_input(4, 4);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    run(ex, 3);
    for (int i = 0; i < CHAIN; i++) {
        const float *d = ptq_exec_data(ex, ids[i]);
        if (i == 3 || i == 6 || i == CHAIN - 1) expect_chain(d, x, 3, i);
        else ck_assert_msg(d == NULL, "v%d is readable but was not kept", i);
    }
    ptq_exec_free(ex);
    free(x);
    ptq_graph_free(g);
}
END_TEST

/* ================================================================ subsets ====== */

/* Nodes 3..6 alone, fed with v2 from a full run, give the full run's v6. */
START_TEST(subset_matches_full_run) {
    int32_t ids[CHAIN];
    ptq_graph *g = distinct_chain(ids);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 5;
    eo.keep_all = true;
    ptq_exec *full = plan(g, &eo);
    float *x = random_input(5, 5);
    ck_assert_int_eq(ptq_exec_bind(full, g->inputs[0], x), PTQ_OK);
    run(full, 5);
    const float *v2 = ptq_exec_data(full, ids[2]), *v6 = ptq_exec_data(full, ids[6]);
    ck_assert(v2 && v6);

    const int32_t nodes[4] = {3, 4, 5, 6};
    ptq_exec_options so = ptq_exec_options_default();
    so.max_batch = 5;
    so.nodes = nodes;
    so.n_nodes = 4;
    ptq_exec *sub = plan(g, &so);
    /* Only the value entering node 3 is an input of the subset. */
    ck_assert_int_eq(ptq_exec_bind(sub, g->inputs[0], x), PTQ_ERR_INVALID);
    ck_assert_int_eq(ptq_exec_bind(sub, ids[3], v2), PTQ_ERR_INVALID);
    ck_assert_int_eq(ptq_exec_bind(sub, ids[2], v2), PTQ_OK);
    run(sub, 5);
    /* v6 is read by node 7, outside the subset, so it survives the run. */
    const float *s6 = ptq_exec_data(sub, ids[6]);
    ck_assert_ptr_nonnull(s6);
    ck_assert_mem_eq(s6, v6, 5 * WIDTH * sizeof(float));
    /* Nodes outside the subset did not run: their values are not part of the plan. */
    ck_assert_ptr_null(ptq_exec_data(sub, ids[7]));
    ck_assert_ptr_null(ptq_exec_data(sub, ids[CHAIN - 1]));
    /* At a smaller batch too. */
    run(sub, 2);
    ck_assert_mem_eq(ptq_exec_data(sub, ids[6]), v6, 2 * WIDTH * sizeof(float));
    ptq_exec_free(sub);
    ptq_exec_free(full);
    free(x);
    ptq_graph_free(g);
}
END_TEST

START_TEST(subset_out_of_order_refused) {
    int32_t ids[CHAIN];
    ptq_graph *g = distinct_chain(ids);
    const int32_t nodes[3] = {3, 5, 4}; /* 5 reads v4, which 4 only writes afterwards */
    ptq_exec_options so = ptq_exec_options_default();
    so.nodes = nodes;
    so.n_nodes = 3;
    ptq_error err = {0};
    ck_assert_ptr_null(ptq_exec_new(g, &so, &err));
    ck_assert_int_eq(err.status, PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "'n4'") && test_contains(err.msg, "topological"), "%s",
                  err.msg);
    ptq_graph_free(g);
}
END_TEST

/* ========================================================== batch and bind ====== */

START_TEST(smaller_batches) {
    int32_t ids[CHAIN];
    ptq_graph *g = distinct_chain(ids);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 8;
    ptq_exec *ex = plan(g, &eo);
    float *x = random_input(8, 6);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    static const int64_t batches[] = {3, 8, 1, 5};
    for (size_t i = 0; i < 4; i++) {
        run(ex, batches[i]);
        int32_t nd;
        int64_t ne[8];
        ptq_exec_shape(ex, ids[CHAIN - 1], &nd, ne);
        ck_assert_int_eq(nd, 2);
        ck_assert_int_eq(ne[0], batches[i]);
        ck_assert_int_eq(ne[1], WIDTH);
        expect_chain(ptq_exec_data(ex, ids[CHAIN - 1]), x, batches[i], CHAIN - 1);
    }
    /* A new bind replaces the data; the next run reads it. */
    float *x2 = random_input(8, 7);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x2), PTQ_OK);
    run(ex, 2);
    expect_chain(ptq_exec_data(ex, ids[CHAIN - 1]), x2, 2, CHAIN - 1);
    ptq_exec_free(ex);
    free(x);
    free(x2);
    ptq_graph_free(g);
}
END_TEST

START_TEST(batch_out_of_range) {
    int32_t ids[CHAIN];
    ptq_graph *g = distinct_chain(ids);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 4;
    ptq_exec *ex = plan(g, &eo);
    float *x = random_input(4, 8);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    ptq_error e0 = {0}, e5 = {0}, en = {0};
    ck_assert_int_eq(ptq_exec_run(ex, 0, &e0), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(e0.msg, "batch 0"), "%s", e0.msg);
    ck_assert_int_eq(ptq_exec_run(ex, 5, &e5), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(e5.msg, "5") && test_contains(e5.msg, "1..4"), "%s", e5.msg);
    ck_assert_int_eq(ptq_exec_run(ex, -3, &en), PTQ_ERR_INVALID);
    run(ex, 4); /* still usable */
    ptq_exec_free(ex);
    /* The planned maximum must be sane too. */
    static const int64_t bad[] = {0, -1, ((int64_t)1 << 24) + 1};
    for (size_t i = 0; i < 3; i++) {
        ptq_error err = {0};
        eo.max_batch = bad[i];
        ck_assert_ptr_null(ptq_exec_new(g, &eo, &err));
        ck_assert_int_eq(err.status, PTQ_ERR_INVALID);
    }
    free(x);
    ptq_graph_free(g);
}
END_TEST

START_TEST(unbound_input_named) {
    ptq_graph *g = ptq_graph_new();
    int64_t ne[2] = {B, 4};
    int32_t in[2] = {test_graph_input(g, "left_image", 2, ne),
                     test_graph_input(g, "right_image", 2, ne)};
    int32_t n = test_graph_node(g, PTQ_OP_ADD, "sum", 2, in, "y");
    test_graph_output(g, g->nodes[n].outputs[0]);
    ptq_error err = {0};
    ck_assert_int_eq(ptq_graph_infer_shapes(g, &err), PTQ_OK);
    ptq_exec *ex = plan(g, NULL); /* NULL options: the defaults */
    const float a[4] = {1, 2, 3, 4};
    ck_assert_int_eq(ptq_exec_bind(ex, in[0], a), PTQ_OK);
    ck_assert_int_eq(ptq_exec_run(ex, 1, &err), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "'right_image'"), "%s", err.msg);
    /* Binding something that is not an input of the plan is refused. */
    ck_assert_int_eq(ptq_exec_bind(ex, g->nodes[n].outputs[0], a), PTQ_ERR_INVALID);
    ck_assert_int_eq(ptq_exec_bind(ex, -1, a), PTQ_ERR_INVALID);
    ck_assert_int_eq(ptq_exec_bind(ex, g->n_values, a), PTQ_ERR_INVALID);
    ck_assert_int_eq(ptq_exec_bind(ex, in[1], a), PTQ_OK);
    ptq_error e2 = {0};
    ck_assert_int_eq(ptq_exec_run(ex, 1, &e2), PTQ_OK);
    const float *y = ptq_exec_data(ex, g->nodes[n].outputs[0]);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(y[i], 2.0f * a[i]);
    ptq_exec_free(ex);
    ptq_exec_free(NULL);
    ptq_graph_free(g);
}
END_TEST

START_TEST(options_default) {
    ptq_exec_options o = ptq_exec_options_default();
    ck_assert_ptr_null(o.nodes);
    ck_assert_int_eq(o.n_nodes, 0);
    ck_assert_int_eq(o.max_batch, 1);
    ck_assert_ptr_null(o.keep);
    ck_assert_int_eq(o.n_keep, 0);
    ck_assert(!o.keep_all);
    ck_assert_int_eq(o.threads, 0);
}
END_TEST

START_TEST(default_threads_from_env) {
    setenv("PTQ_THREADS", "3", 1);
    ck_assert_int_eq(ptq_default_threads(), 3);
    /* Nonsense falls back to the CPU count. */
    static const char *const bad[] = {"0", "-2", "abc", "", "5000"};
    for (size_t i = 0; i < 5; i++) {
        setenv("PTQ_THREADS", bad[i], 1);
        int32_t t = ptq_default_threads();
        ck_assert_msg(t >= 1 && t <= 1024, "PTQ_THREADS=%s gave %d", bad[i], t);
    }
    unsetenv("PTQ_THREADS");
    ck_assert_int_ge(ptq_default_threads(), 1);
}
END_TEST

/* ================================================================= fusion ====== */

/* x -> Conv -> BatchNormalization -> Relu -> Add(+x2) -> Clip.  The default plan fuses
 * Conv+BN+Relu and Add+Clip: the fused values are never stored, yet every result must
 * equal the unfused (keep_all) run bit for bit.  Keeping a value turns its fusion off. */
static ptq_graph *fusion_graph(int32_t *conv_out, int32_t *bn_out, int32_t *add_out) {
    ptq_graph *g = ptq_graph_new();
    test_rng r = {99};
    int64_t xne[4] = {B, 3, 9, 9}, wne[4] = {6, 3, 3, 3}, cne[1] = {6}, sne[4] = {B, 6, 9, 9};
    float w[162], p[4][6];
    test_fill_uniform(&r, w, 162, -0.5f, 0.5f);
    for (int k = 0; k < 4; k++) test_fill_uniform(&r, p[k], 6, k == 3 ? 0.2f : -1.0f, 1.0f);
    int32_t in[5] = {test_graph_input(g, "x", 4, xne), test_graph_const(g, "w", 4, wne, w),
                     test_graph_const(g, "bias", 1, cne, p[0])};
    int32_t nc = test_graph_node(g, PTQ_OP_CONV, "conv", 3, in, "conv_out");
    g->nodes[nc].attrs.conv.pad_begin[0] = g->nodes[nc].attrs.conv.pad_begin[1] = 1;
    g->nodes[nc].attrs.conv.pad_end[0] = g->nodes[nc].attrs.conv.pad_end[1] = 1;
    *conv_out = in[0] = g->nodes[nc].outputs[0];
    in[1] = test_graph_const(g, "gamma", 1, cne, p[1]);
    in[2] = test_graph_const(g, "beta", 1, cne, p[2]);
    in[3] = test_graph_const(g, "mean", 1, cne, p[0]);
    in[4] = test_graph_const(g, "var", 1, cne, p[3]);
    int32_t nb = test_graph_node(g, PTQ_OP_BATCH_NORM, "bn", 5, in, "bn_out");
    *bn_out = g->nodes[nb].outputs[0];
    int32_t nr = test_graph_node(g, PTQ_OP_RELU, "relu", 1, bn_out, "relu_out");
    int32_t ad[2] = {g->nodes[nr].outputs[0], test_graph_input(g, "x2", 4, sne)};
    int32_t na = test_graph_node(g, PTQ_OP_ADD, "add", 2, ad, "add_out");
    *add_out = g->nodes[na].outputs[0];
    int32_t ncl = test_graph_node(g, PTQ_OP_CLIP, "clip", 1, add_out, "y");
    g->nodes[ncl].attrs.clip_min = -0.5f;
    g->nodes[ncl].attrs.clip_max = 1.5f;
    test_graph_output(g, g->nodes[ncl].outputs[0]);
    ptq_error err = {0};
    ck_assert_msg(ptq_graph_infer_shapes(g, &err) == PTQ_OK, "%s", err.msg);
    return g;
}

static ptq_exec *fusion_run(const ptq_graph *g, bool keep_all, const int32_t *keep,
                            const float *x, const float *x2) {
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 3;
    eo.threads = 2;
    eo.keep_all = keep_all;
    eo.keep = keep;
    eo.n_keep = keep ? 1 : 0;
    ptq_exec *ex = plan(g, &eo);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[1], x2), PTQ_OK);
    run(ex, 3);
    return ex;
}

START_TEST(fusion_matches_unfused) {
    int32_t conv_out, bn_out, add_out;
    ptq_graph *g = fusion_graph(&conv_out, &bn_out, &add_out);
    const int32_t y = g->outputs[0];
    test_rng r = {5};
    float x[3 * 3 * 81], x2[3 * 6 * 81];
    test_fill_uniform(&r, x, 3 * 3 * 81, -1.0f, 1.0f);
    test_fill_uniform(&r, x2, 3 * 6 * 81, -1.0f, 1.0f);
    const size_t ybytes = 3 * 6 * 81 * sizeof(float);

    ptq_exec *plain = fusion_run(g, true, NULL, x, x2);
    ptq_exec *fused = fusion_run(g, false, NULL, x, x2);
    ck_assert_mem_eq(ptq_exec_data(fused, y), ptq_exec_data(plain, y), ybytes);
    ck_assert_ptr_null(ptq_exec_data(fused, conv_out));
    ck_assert_ptr_null(ptq_exec_data(fused, bn_out));
    ck_assert_ptr_null(ptq_exec_data(fused, add_out));
    ck_assert_ptr_nonnull(ptq_exec_data(plain, conv_out));

    /* Keeping the conv's output stores it (and still gives the same bits). */
    ptq_exec *kept = fusion_run(g, false, &conv_out, x, x2);
    ck_assert_ptr_nonnull(ptq_exec_data(kept, conv_out));
    ck_assert_mem_eq(ptq_exec_data(kept, conv_out), ptq_exec_data(plain, conv_out), ybytes);
    ck_assert_mem_eq(ptq_exec_data(kept, y), ptq_exec_data(plain, y), ybytes);
    ptq_exec_free(kept);

    /* So does keeping the BatchNormalization's. */
    kept = fusion_run(g, false, &bn_out, x, x2);
    ck_assert_mem_eq(ptq_exec_data(kept, bn_out), ptq_exec_data(plain, bn_out), ybytes);
    ck_assert_mem_eq(ptq_exec_data(kept, y), ptq_exec_data(plain, y), ybytes);
    ptq_exec_free(kept);

    ptq_exec_free(plain);
    ptq_exec_free(fused);
    ptq_graph_free(g);
}
END_TEST

/* A conv output read by two nodes is not fused away: the second reader needs it. */
START_TEST(fusion_needs_sole_reader) {
    int32_t conv_out, bn_out, add_out;
    ptq_graph *g = fusion_graph(&conv_out, &bn_out, &add_out);
    /* A second reader of the conv output, itself a graph output. */
    int32_t n = test_graph_node(g, PTQ_OP_SIGMOID, "side", 1, &conv_out, "side_out");
    int32_t side = g->nodes[n].outputs[0];
    test_graph_output(g, side);
    ptq_error err = {0};
    ck_assert_int_eq(ptq_graph_infer_shapes(g, &err), PTQ_OK);
    float x[3 * 3 * 81], x2[3 * 6 * 81];
    test_rng r = {6};
    test_fill_uniform(&r, x, 3 * 3 * 81, -1.0f, 1.0f);
    test_fill_uniform(&r, x2, 3 * 6 * 81, -1.0f, 1.0f);
    ptq_exec *plain = fusion_run(g, true, NULL, x, x2);
    ptq_exec *fused = fusion_run(g, false, NULL, x, x2);
    const size_t bytes = 3 * 6 * 81 * sizeof(float);
    ck_assert_mem_eq(ptq_exec_data(fused, side), ptq_exec_data(plain, side), bytes);
    ck_assert_mem_eq(ptq_exec_data(fused, g->outputs[0]), ptq_exec_data(plain, g->outputs[0]),
                     bytes);
    ptq_exec_free(plain);
    ptq_exec_free(fused);
    ptq_graph_free(g);
}
END_TEST

/* A subset that ends inside a fusable chain: the BatchNormalization's output is read by
 * the Relu outside the subset, so it must be stored, and equal the full run's. */
START_TEST(fusion_inside_subset) {
    int32_t conv_out, bn_out, add_out;
    ptq_graph *g = fusion_graph(&conv_out, &bn_out, &add_out);
    float x[3 * 3 * 81], x2[3 * 6 * 81];
    test_rng r = {7};
    test_fill_uniform(&r, x, 3 * 3 * 81, -1.0f, 1.0f);
    test_fill_uniform(&r, x2, 3 * 6 * 81, -1.0f, 1.0f);
    ptq_exec *plain = fusion_run(g, true, NULL, x, x2);
    const int32_t nodes[2] = {0, 1}; /* conv, bn */
    ptq_exec_options so = ptq_exec_options_default();
    so.max_batch = 3;
    so.nodes = nodes;
    so.n_nodes = 2;
    ptq_exec *sub = plan(g, &so);
    ck_assert_int_eq(ptq_exec_bind(sub, g->inputs[0], x), PTQ_OK);
    run(sub, 3);
    ck_assert_ptr_nonnull(ptq_exec_data(sub, bn_out));
    ck_assert_mem_eq(ptq_exec_data(sub, bn_out), ptq_exec_data(plain, bn_out),
                     3 * 6 * 81 * sizeof(float));
    ptq_exec_free(sub);
    ptq_exec_free(plain);
    ptq_graph_free(g);
}
END_TEST

START_TEST(profile_lists_steps) {
    int32_t conv_out, bn_out, add_out;
    ptq_graph *g = fusion_graph(&conv_out, &bn_out, &add_out);
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 2;
    eo.profile = true;
    ptq_exec *ex = plan(g, &eo);
    float x[2 * 3 * 81] = {0}, x2[2 * 6 * 81] = {0};
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[1], x2), PTQ_OK);
    run(ex, 2);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ptq_exec_profile(ex, f);
    fclose(f);
    /* Two kernel calls: Conv+BN+Relu and Add+Clip. */
    ck_assert_msg(test_contains(text, "conv") && test_contains(text, "Conv+BN+Relu"), "%s", text);
    ck_assert_msg(test_contains(text, "Add+Clip") && test_contains(text, "2 kernel calls"), "%s",
                  text);
    free(text);
    ptq_exec_free(ex);
    ptq_graph_free(g);
}
END_TEST

int main(void) {
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("reuse");
    tcase_add_test(tc, reuse_shrinks_arena);
    tcase_add_test(tc, keep_all_keeps_every_value);
    tcase_add_test(tc, default_drops_intermediates);
    tcase_add_test(tc, keep_list);
    suite_add_tcase(s, tc);

    tc = tcase_create("subset");
    tcase_add_test(tc, subset_matches_full_run);
    tcase_add_test(tc, subset_out_of_order_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("run");
    tcase_add_test(tc, smaller_batches);
    tcase_add_test(tc, batch_out_of_range);
    tcase_add_test(tc, unbound_input_named);
    tcase_add_test(tc, options_default);
    tcase_add_test(tc, default_threads_from_env);
    suite_add_tcase(s, tc);

    tc = tcase_create("fusion");
    tcase_add_test(tc, fusion_matches_unfused);
    tcase_add_test(tc, fusion_needs_sole_reader);
    tcase_add_test(tc, fusion_inside_subset);
    tcase_add_test(tc, profile_lists_steps);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
