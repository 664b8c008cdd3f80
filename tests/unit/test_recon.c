/* test_recon.c — the optimizer (against numbers PyTorch printed), and the training tape
 * on the bundled models: its forward equals the inference executor's, and its gradients
 * through random node subsets of whole models agree with finite differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/optim.h"
#include "train/tape.h"
#include "testutil.h"

/* ================================================================ Adam ====== */

/* loss = sum p^3 + sum c p; its gradient 3 p^2 + c. */
static void adam_run(int32_t schedule, float *p) {
    const float c[3] = {1, 2, 3};
    ptq_adam *a = ptq_adam_new(3, 0.1, schedule, 5);
    ck_assert_ptr_nonnull(a);
    for (int t = 0; t < 5; t++) {
        float g[3];
        for (int i = 0; i < 3; i++) g[i] = 3 * p[i] * p[i] + c[i];
        ptq_adam_step(a, p, g);
    }
    ptq_adam_free(a);
}

START_TEST(adam_matches_torch) {
    /* torch.optim.Adam([p], lr=0.1), 5 steps, p0 = (0.5, -1, 2) (torch 1.13). */
    float p[3] = {0.5f, -1.0f, 2.0f};
    adam_run(PTQ_SCHEDULE_CONSTANT, p);
    const float want[3] = {0.0105192065f, -1.50222588f, 1.50501966f};
    ck_assert_double_le(test_max_violation(p, want, 3, 1e-5, 1e-6), 1.0);
}
END_TEST

START_TEST(adam_cosine_matches_torch) {
    /* The same with CosineAnnealingLR(T_max=5) stepped after every optimizer step. */
    float p[3] = {0.5f, -1.0f, 2.0f};
    adam_run(PTQ_SCHEDULE_COSINE, p);
    const float want[3] = {0.203223392f, -1.30068159f, 1.70134175f};
    ck_assert_double_le(test_max_violation(p, want, 3, 1e-5, 1e-6), 1.0);
}
END_TEST

START_TEST(schedules) {
    ck_assert_double_eq_tol(ptq_schedule_lr(1.0, PTQ_SCHEDULE_CONSTANT, 7, 10), 1.0, 1e-12);
    ck_assert_double_eq_tol(ptq_schedule_lr(1.0, PTQ_SCHEDULE_LINEAR, 5, 10), 0.5, 1e-12);
    ck_assert_double_eq_tol(ptq_schedule_lr(1.0, PTQ_SCHEDULE_COSINE, 0, 10), 1.0, 1e-12);
    ck_assert_double_eq_tol(ptq_schedule_lr(1.0, PTQ_SCHEDULE_COSINE, 5, 10), 0.5, 1e-12);
    ck_assert_double_eq_tol(ptq_schedule_lr(1.0, PTQ_SCHEDULE_COSINE, 10, 10), 0.0, 1e-12);
}
END_TEST

/* ======================================================== the tape on models ====== */

static const char *const models[] = {"resnet20_fmnist", "mobilenetv2_fmnist", "vgg7_fmnist"};

static ptq_graph *load_model(const char *name) {
    char path[512];
    snprintf(path, sizeof path, PTQ_SOURCE_DIR "/models/%s.onnx", name);
    ptq_error err = {0};
    ptq_graph *g = ptq_onnx_load(path, NULL, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    return g;
}

/* Runs nodes [lo, hi) of g with the executor on x (the graph input, batch n), keeping
 * every value; returns the executor (caller frees). */
static ptq_exec *exec_prefix(const ptq_graph *g, int32_t hi, const float *x, int64_t n) {
    int32_t *ids = malloc((size_t)(hi + 1) * sizeof *ids);
    for (int32_t i = 0; i < hi; i++) ids[i] = i;
    ptq_exec_options eo = ptq_exec_options_default();
    eo.nodes = ids;
    eo.n_nodes = hi;
    eo.keep_all = true;
    eo.max_batch = n;
    eo.threads = 2;
    ptq_error err = {0};
    ptq_exec *ex = ptq_exec_new(g, &eo, &err);
    free(ids);
    ck_assert_msg(ex != NULL, "%s", err.msg);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    ck_assert_int_eq(ptq_exec_run(ex, n, &err), PTQ_OK);
    return ex;
}

/* The run-time values nodes [lo, hi) read but do not produce. */
static int32_t subset_inputs(const ptq_graph *g, int32_t lo, int32_t hi, int32_t *in) {
    int32_t n = 0;
    for (int32_t i = lo; i < hi; i++) {
        const ptq_node *nd = &g->nodes[i];
        for (int32_t k = 0; k < nd->n_inputs; k++) {
            const int32_t v = nd->inputs[k];
            if (v < 0 || g->values[v].data) continue;
            const int32_t p = g->values[v].producer;
            if (p >= lo && p < hi) continue;
            bool seen = false;
            for (int32_t m = 0; m < n; m++) seen |= in[m] == v;
            if (!seen) in[n++] = v;
        }
    }
    return n;
}

static int64_t numel_at(const ptq_value *v, int64_t n) {
    int64_t m = 1;
    for (int32_t i = 0; i < v->ndim; i++) m *= v->ne[i] == PTQ_DIM_BATCH ? n : v->ne[i];
    return m;
}

START_TEST(tape_forward_equals_executor) {
    ptq_graph *g = load_model(models[_i]);
    const int64_t n = 3;
    const ptq_value *xv = &g->values[g->inputs[0]];
    const int64_t nx = numel_at(xv, n);
    float *x = malloc((size_t)nx * sizeof *x);
    test_rng r = {42};
    test_fill_uniform(&r, x, nx, -1.0f, 2.0f);
    ptq_exec *ex = exec_prefix(g, g->n_nodes, x, n);
    int32_t *all = malloc((size_t)g->n_nodes * sizeof *all);
    for (int32_t i = 0; i < g->n_nodes; i++) all[i] = i;
    ptq_tape_options to = {all, g->n_nodes, n, 2, NULL, 0, NULL, 0};
    ptq_error err = {0};
    ptq_tape *t = ptq_tape_new(g, &to, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    memcpy(ptq_tape_value(t, g->inputs[0]), x, (size_t)nx * sizeof *x);
    ptq_tape_forward(t, n);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const int32_t v = g->nodes[i].outputs[0];
        const int64_t m = numel_at(&g->values[v], n);
        ck_assert_msg(test_max_violation(ptq_tape_value(t, v), ptq_exec_data(ex, v), m, 1e-6, 1e-6) <= 1.0,
                      "%s: value '%s' differs", models[_i], g->values[v].name);
    }
    ptq_tape_free(t);
    ptq_exec_free(ex);
    free(all);
    free(x);
    ptq_graph_free(g);
}
END_TEST

/* loss = sum r * outputs of the subset (r fixed, random), in double. */
static double subset_loss(ptq_tape *t, const ptq_graph *g, const int32_t *outs, int32_t n_out,
                          float *const *r, int64_t n) {
    ptq_tape_forward(t, n);
    double s = 0.0;
    for (int32_t k = 0; k < n_out; k++) {
        const float *y = ptq_tape_value(t, outs[k]);
        const int64_t m = numel_at(&g->values[outs[k]], n);
        for (int64_t i = 0; i < m; i++) s += (double)r[k][i] * y[i];
    }
    return s;
}

/* A random run of nodes [lo, hi) of a model: gradients of sum(r * outputs) with respect
 * to its inputs and to a weight inside, against central differences.  The model keeps
 * its BatchNormalization nodes, so their backward is exercised too. */
START_TEST(tape_gradients_on_model_subsets) {
    ptq_graph *g = load_model(models[_i]);
    test_rng rng = {1000 + (uint64_t)_i};
    const int64_t n = 2;
    const ptq_value *xv = &g->values[g->inputs[0]];
    const int64_t nx = numel_at(xv, n);
    float *x = malloc((size_t)nx * sizeof *x);
    test_fill_uniform(&rng, x, nx, -1.0f, 2.0f);
    int32_t total_checked = 0, total_kinked = 0;
    for (int trial = 0; trial < 6; trial++) {
        const int32_t len = (int32_t)test_rng_int(&rng, 2, 8);
        const int32_t lo = (int32_t)test_rng_int(&rng, 0, g->n_nodes - len);
        const int32_t hi = lo + len;
        ptq_exec *ex = exec_prefix(g, hi, x, n);
        int32_t in[16], outs[16], n_out = 0;
        const int32_t n_in = subset_inputs(g, lo, hi, in);
        ck_assert_int_le(n_in, 16);
        /* Outputs: every value produced in the subset that nothing inside reads later
         * (so the loss sees each path once) - simply the subset's last node's output
         * plus values read after hi. */
        for (int32_t i = lo; i < hi; i++) {
            const int32_t v = g->nodes[i].outputs[0];
            bool later = i == hi - 1 || (g->values[v].flags & PTQ_VALUE_OUTPUT);
            for (int32_t j = hi; j < g->n_nodes && !later; j++)
                for (int32_t k = 0; k < g->nodes[j].n_inputs; k++) later |= g->nodes[j].inputs[k] == v;
            if (later && n_out < 16) outs[n_out++] = v;
        }
        /* A weight to differentiate: the first Conv/Gemm weight in the subset, if any. */
        int32_t wv = -1;
        for (int32_t i = lo; i < hi && wv < 0; i++)
            if (g->nodes[i].op == PTQ_OP_CONV || g->nodes[i].op == PTQ_OP_GEMM) wv = g->nodes[i].inputs[1];
        int32_t nodes[16];
        for (int32_t i = 0; i < len; i++) nodes[i] = lo + i;
        ptq_tape_options to = {nodes, len, n, 2, &wv, wv >= 0, in, n_in};
        ptq_error err = {0};
        ptq_tape *t = ptq_tape_new(g, &to, &err);
        ck_assert_msg(t != NULL, "%s", err.msg);
        for (int32_t k = 0; k < n_in; k++)
            memcpy(ptq_tape_value(t, in[k]), in[k] == g->inputs[0] ? x : ptq_exec_data(ex, in[k]),
                   (size_t)numel_at(&g->values[in[k]], n) * sizeof(float));
        float *r[16];
        for (int32_t k = 0; k < n_out; k++) {
            const int64_t m = numel_at(&g->values[outs[k]], n);
            r[k] = malloc((size_t)m * sizeof(float));
            test_fill_uniform(&rng, r[k], m, -1.0f, 1.0f);
        }
        subset_loss(t, g, outs, n_out, r, n);
        ptq_tape_zero_grad(t, n);
        for (int32_t k = 0; k < n_out; k++)
            memcpy(ptq_tape_grad(t, outs[k]), r[k], (size_t)numel_at(&g->values[outs[k]], n) * sizeof(float));
        ptq_tape_backward(t, n);
        /* Check a few coordinates of each input's and the weight's gradient against
         * central differences at two step sizes.  Near a kink (a ReLU crossing zero, a
         * max-pool tie between zeros) the two quotients disagree with each other: such a
         * coordinate says nothing and is skipped; where they agree, the tape must too. */
        int32_t checked = 0, failed = 0, kinked = 0;
        for (int32_t k = 0; k <= n_in; k++) {
            const int32_t v = k < n_in ? in[k] : wv;
            if (v < 0) continue;
            float *val = ptq_tape_value(t, v);
            const float *grad = ptq_tape_grad(t, v);
            const int64_t m = g->values[v].data ? ptq_tensor_numel(g->values[v].data) : numel_at(&g->values[v], n);
            float *gcopy = malloc((size_t)m * sizeof(float));
            memcpy(gcopy, grad, (size_t)m * sizeof(float));
            for (int c = 0; c < 6; c++) {
                const int64_t i = test_rng_int(&rng, 0, m - 1);
                const float keep = val[i];
                /* An exact zero came out of a ReLU: a max-pool tie among zeros, where
                 * either difference quotient is half the one-sided derivative. */
                if (keep == 0.0f && k < n_in) {
                    kinked++;
                    continue;
                }
                double fd[2];
                for (int e = 0; e < 2; e++) {
                    const float h = (e ? 2.5e-4f : 1e-3f) * fmaxf(1.0f, fabsf(keep));
                    val[i] = keep + h;
                    const double lp = subset_loss(t, g, outs, n_out, r, n);
                    val[i] = keep - h;
                    const double lm = subset_loss(t, g, outs, n_out, r, n);
                    val[i] = keep;
                    fd[e] = (lp - lm) / (2.0 * (double)h);
                }
                const double tol = 2e-2 * fmax(fabs(fd[0]), fabs(gcopy[i])) + 3e-3;
                if (fabs(fd[0] - fd[1]) > tol) {
                    kinked++;
                    continue;
                }
                checked++;
                if (fabs(fd[1] - gcopy[i]) > tol) {
                    failed++;
                    fprintf(stderr, "%s nodes %d..%d (%s..%s) value '%s'[%ld]: tape %g, differences %g\n",
                            models[_i], lo, hi - 1, g->nodes[lo].name, g->nodes[hi - 1].name,
                            g->values[v].name, (long)i, (double)gcopy[i], fd[1]);
                }
            }
            free(gcopy);
        }
        total_checked += checked;
        total_kinked += kinked;
        /* A kink can still sit inside both steps (a weight moves every position of its
         * channel); a wrong gradient disagrees nearly everywhere, a kink rarely. */
        ck_assert_msg(failed * 4 <= checked, "%s: %d of %d gradient coordinates disagree", models[_i],
                      failed, checked);
        for (int32_t k = 0; k < n_out; k++) free(r[k]);
        ptq_tape_free(t);
        ptq_exec_free(ex);
    }
    /* Kinks are the exception: most coordinates must have been checkable. */
    ck_assert_msg(total_checked >= 2 * total_kinked, "%s: %d coordinates checked, %d at kinks", models[_i],
                  total_checked, total_kinked);
    free(x);
    ptq_graph_free(g);
}
END_TEST

int main(void) {
    Suite *s = suite_create("recon");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, adam_matches_torch);
    tcase_add_test(tc, adam_cosine_matches_torch);
    tcase_add_test(tc, schedules);
    suite_add_tcase(s, tc);
    tc = tcase_create("tape");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, tape_forward_equals_executor, 0, 3);
    tcase_add_loop_test(tc, tape_gradients_on_model_subsets, 0, 3);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
