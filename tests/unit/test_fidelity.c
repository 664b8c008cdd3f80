/* test_fidelity.c — fidelity metrics without labels (exec/fidelity.h, ptq.h): the sums
 * against hand-computed values, the conventions for identical, zero and NaN outputs, the
 * top-1 agreement rules, and ptq_fidelity_evaluate on a two-output graph whose SQNR is
 * known in closed form, for several batch sizes and thread counts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/fidelity.h"
#include "testutil.h"

#define B PTQ_DIM_BATCH

static ptq_fidelity_output start(int32_t ndim, const int64_t *ne) {
    ptq_fidelity_output o;
    ck_assert(ptq_fidelity_output_init(&o, "out", ndim, ne));
    return o;
}

/* ========================================================================= sums ==== */

START_TEST(identical_is_inf_and_cosine_one) {
    const int64_t ne[2] = {B, 4};
    ptq_fidelity_output o = start(2, ne);
    const float x[8] = {1, -2, 3, 0.5f, 0, 0, 7, -1};
    ptq_fidelity_accumulate(&o, x, x, 2, 4);
    ptq_fidelity_finish(&o);
    ck_assert(o.sqnr_db == INFINITY);
    ck_assert_double_eq(o.cosine, 1.0);
    ck_assert_double_eq(o.mean_sample_cosine, 1.0);
    ck_assert_double_eq(o.max_abs_err, 0.0);
    ck_assert_double_eq(o.mean_abs_err, 0.0);
    ck_assert_double_eq(o.top1_agreement, 1.0);
    ck_assert_int_eq(o.samples, 2);
    ck_assert_int_eq(o.elements, 8);
    free(o.name);
}
END_TEST

/* x = (3, 4), xq = (3, 5): signal 25, noise 1 -> 10 log10 25 = 13.979 dB; cosine
 * (9 + 20) / (5 * sqrt 34); max and mean |err| 1 and 0.5. */
START_TEST(known_noise_known_sqnr) {
    const int64_t ne[3] = {B, 1, 2};
    ptq_fidelity_output o = start(3, ne);
    ck_assert(!o.classes);
    const float x[2] = {3, 4}, q[2] = {3, 5};
    ptq_fidelity_accumulate(&o, x, q, 1, 2);
    ptq_fidelity_finish(&o);
    ck_assert_double_eq_tol(o.sqnr_db, 10.0 * log10(25.0), 1e-12);
    ck_assert_double_eq_tol(o.cosine, 29.0 / (5.0 * sqrt(34.0)), 1e-12);
    ck_assert_double_eq_tol(o.mean_sample_cosine, 29.0 / (5.0 * sqrt(34.0)), 1e-12);
    ck_assert_double_eq(o.max_abs_err, 1.0);
    ck_assert_double_eq(o.mean_abs_err, 0.5);
    ck_assert(isnan(o.top1_agreement)); /* not a class output */
    free(o.name);
}
END_TEST

/* Uniform noise of a known power: SQNR = 10 log10(P_signal / P_noise) within sampling. */
START_TEST(random_noise_matches_power_ratio) {
    const int64_t ne[2] = {B, 1000};
    ptq_fidelity_output o = start(2, ne);
    enum { N = 40, K = 1000 };
    float *x = malloc(N * K * sizeof *x), *q = malloc(N * K * sizeof *q);
    test_rng r = {42};
    double sig = 0.0, noise = 0.0;
    for (int i = 0; i < N * K; i++) {
        x[i] = test_rng_uniform(&r, -1.0f, 1.0f);
        q[i] = x[i] + test_rng_uniform(&r, -0.01f, 0.01f);
        sig += (double)x[i] * x[i];
        noise += ((double)q[i] - x[i]) * ((double)q[i] - x[i]);
    }
    ptq_fidelity_accumulate(&o, x, q, N, K);
    ptq_fidelity_finish(&o);
    ck_assert_double_eq_tol(o.sqnr_db, 10.0 * log10(sig / noise), 1e-9);
    /* and the expected value: (1/3) / (0.01^2 / 3) = 1e4 -> 40 dB */
    ck_assert_double_eq_tol(o.sqnr_db, 40.0, 0.2);
    free(x);
    free(q);
    free(o.name);
}
END_TEST

START_TEST(sign_flip_cosine_minus_one) {
    const int64_t ne[2] = {B, 3};
    ptq_fidelity_output o = start(2, ne);
    const float x[6] = {1, 2, 3, -4, 5, 0.5f}, q[6] = {-1, -2, -3, 4, -5, -0.5f};
    ptq_fidelity_accumulate(&o, x, q, 2, 3);
    ptq_fidelity_finish(&o);
    ck_assert_double_eq_tol(o.cosine, -1.0, 1e-12);
    ck_assert_double_eq_tol(o.mean_sample_cosine, -1.0, 1e-12);
    /* noise = 4 x signal: 10 log10(1/4) */
    ck_assert_double_eq_tol(o.sqnr_db, -10.0 * log10(4.0), 1e-12);
    ck_assert_double_eq(o.max_abs_err, 10.0);
    ck_assert_double_eq(o.top1_agreement, 0.0); /* argmax 2 vs 0, 1 vs 0 */
    free(o.name);
}
END_TEST

/* Per-sample cosine is a mean of per-sample values, not the whole output's: one sample
 * exact and one orthogonal give 0.5, while the whole-output cosine weighs by norm. */
START_TEST(mean_sample_cosine_is_per_sample) {
    const int64_t ne[2] = {B, 2};
    ptq_fidelity_output o = start(2, ne);
    const float x[4] = {10, 0, 1, 0}, q[4] = {10, 0, 0, 1};
    ptq_fidelity_accumulate(&o, x, q, 2, 2);
    ptq_fidelity_finish(&o);
    ck_assert_double_eq_tol(o.mean_sample_cosine, 0.5, 1e-12);
    ck_assert_double_eq_tol(o.cosine, 100.0 / sqrt(101.0 * 101.0), 1e-12);
    free(o.name);
}
END_TEST

/* Zero vectors: both zero is a match (cosine 1, SQNR inf); a zero reference against a
 * non-zero output gives SQNR -inf and cosine 0. */
START_TEST(zero_outputs_conventions) {
    const int64_t ne[2] = {B, 2};
    ptq_fidelity_output o = start(2, ne);
    const float z[2] = {0, 0}, one[2] = {0, 1};
    ptq_fidelity_accumulate(&o, z, z, 1, 2);
    ptq_fidelity_finish(&o);
    ck_assert(o.sqnr_db == INFINITY);
    ck_assert_double_eq(o.cosine, 1.0);
    ptq_fidelity_accumulate(&o, z, one, 1, 2);
    ptq_fidelity_finish(&o);
    ck_assert(o.sqnr_db == -INFINITY);
    ck_assert_double_eq(o.cosine, 0.0);
    ck_assert_double_eq_tol(o.mean_sample_cosine, 0.5, 1e-12);
    free(o.name);
}
END_TEST

/* NaN and inf are counted per side and left out of the sums; the rest still measures. */
START_TEST(nan_counted_not_summed) {
    const int64_t ne[2] = {B, 4};
    ptq_fidelity_output o = start(2, ne);
    const float x[4] = {3, 4, 1, NAN}, q[4] = {3, 5, INFINITY, 2};
    ptq_fidelity_accumulate(&o, x, q, 1, 4);
    ptq_fidelity_finish(&o);
    ck_assert_int_eq(o.nonfinite_reference, 1);
    ck_assert_int_eq(o.nonfinite_model, 1);
    ck_assert_int_eq(o.elements, 2);
    ck_assert_double_eq_tol(o.sqnr_db, 10.0 * log10(25.0), 1e-12);
    ck_assert_double_eq(o.max_abs_err, 1.0);
    ck_assert(isfinite(o.cosine));
    /* top-1 ignores NaN: reference argmax 1 (4), model argmax 2 (+inf) */
    ck_assert_double_eq(o.top1_agreement, 0.0);
    char buf[512];
    ptq_fidelity_output_str(&o, buf, sizeof buf);
    ck_assert_msg(test_contains(buf, "NaN/inf values: 1 in the reference, 1 in the model"), "%s", buf);
    free(o.name);
}
END_TEST

/* All NaN: nothing to compare, every metric undefined (NaN, JSON null), no crash. */
START_TEST(all_nan_undefined) {
    const int64_t ne[2] = {B, 2};
    ptq_fidelity_output o = start(2, ne);
    const float x[2] = {NAN, NAN}, q[2] = {1, 2};
    ptq_fidelity_accumulate(&o, x, q, 1, 2);
    ptq_fidelity_finish(&o);
    ck_assert(isnan(o.sqnr_db));
    ck_assert(isnan(o.cosine));
    ck_assert(isnan(o.max_abs_err));
    ck_assert(isnan(o.mean_abs_err));
    ck_assert_double_eq(o.mean_sample_cosine, 0.0);
    ck_assert_double_eq(o.top1_agreement, 0.0); /* an all-NaN row never agrees */
    free(o.name);
}
END_TEST

/* Which outputs are class scores: rank 2 with at least two columns. */
START_TEST(class_output_rule) {
    const int64_t k10[2] = {B, 10}, k1[2] = {B, 1}, img[4] = {B, 10, 1, 1}, fixed[2] = {4, 3};
    ptq_fidelity_output o;
    ck_assert(ptq_fidelity_output_init(&o, "a", 2, k10) && o.classes);
    free(o.name);
    ck_assert(ptq_fidelity_output_init(&o, "b", 2, k1) && !o.classes);
    free(o.name);
    ck_assert(ptq_fidelity_output_init(&o, "c", 4, img) && !o.classes);
    free(o.name);
    ck_assert(ptq_fidelity_output_init(&o, "d", 2, fixed) && o.classes);
    free(o.name);
}
END_TEST

/* Top-1 ties take the first largest score, in both models alike. */
START_TEST(top1_ties_and_agreement) {
    const int64_t ne[2] = {B, 3};
    ptq_fidelity_output o = start(2, ne);
    const float x[12] = {1, 1, 0, /**/ 0, 2, 1, /**/ 5, 4, 3, /**/ 0, 0, 1};
    const float q[12] = {1, 1, 0, /**/ 0, 1, 2, /**/ 5, 5, 3, /**/ 0, 0, 1};
    ptq_fidelity_accumulate(&o, x, q, 4, 3);
    ptq_fidelity_finish(&o);
    ck_assert_double_eq(o.top1_agreement, 0.75); /* rows 0, 2 (tie -> 0), 3 agree */
    free(o.name);
}
END_TEST

/* Split into blocks of any size, the sums are the same to the last bit. */
START_TEST(block_split_independent) {
    enum { N = 37, K = 50 };
    const int64_t ne[2] = {B, K};
    float *x = malloc(N * K * sizeof *x), *q = malloc(N * K * sizeof *q);
    test_rng r = {7};
    test_fill_uniform(&r, x, N * K, -3.0f, 3.0f);
    for (int i = 0; i < N * K; i++) q[i] = x[i] + test_rng_uniform(&r, -0.1f, 0.1f);
    ptq_fidelity_output whole = start(2, ne);
    ptq_fidelity_accumulate(&whole, x, q, N, K);
    ptq_fidelity_finish(&whole);
    const int blocks[] = {1, 5, 16, 36};
    for (size_t b = 0; b < PTQ_COUNTOF(blocks); b++) {
        ptq_fidelity_output o = start(2, ne);
        for (int at = 0; at < N; at += blocks[b])
            ptq_fidelity_accumulate(&o, x + at * K, q + at * K, PTQ_MIN(blocks[b], N - at), K);
        ptq_fidelity_finish(&o);
        ck_assert_double_eq(o.sqnr_db, whole.sqnr_db);
        ck_assert_double_eq(o.cosine, whole.cosine);
        ck_assert_double_eq(o.mean_sample_cosine, whole.mean_sample_cosine);
        ck_assert_double_eq(o.mean_abs_err, whole.mean_abs_err);
        ck_assert_double_eq(o.max_abs_err, whole.max_abs_err);
        ck_assert_double_eq(o.top1_agreement, whole.top1_agreement);
        free(o.name);
    }
    free(whole.name);
    free(x);
    free(q);
}
END_TEST

/* ===================================================================== evaluate ==== */

/* x [N,1,2,3] -> Flatten -> Mul(c) = "scores" [N,6], and Relu(x) = "map" [N,1,2,3]: with
 * c = 1 + d against c = 1, the scores' noise is d x the signal, so SQNR = -20 log10 d
 * exactly (up to float rounding of the product), and "map" is identical. */
static ptq_graph *two_outputs(float c) {
    ptq_graph *g = ptq_graph_new();
    const int64_t ne[4] = {B, 1, 2, 3}, one[1] = {1};
    int32_t x = test_graph_input(g, "x", 4, ne);
    int32_t fl = test_graph_node(g, PTQ_OP_FLATTEN, "flat", 1, &x, "flat");
    g->nodes[fl].attrs.axis = 1;
    int32_t in[2] = {g->nodes[fl].outputs[0], test_graph_const(g, "c", 1, one, &c)};
    int32_t mul = test_graph_node(g, PTQ_OP_MUL, "mul", 2, in, "scores");
    int32_t relu = test_graph_node(g, PTQ_OP_RELU, "relu", 1, &x, "map");
    test_graph_output(g, g->nodes[mul].outputs[0]);
    test_graph_output(g, g->nodes[relu].outputs[0]);
    ptq_error err = {0};
    ck_assert_msg(ptq_graph_infer_shapes(g, &err) == PTQ_OK, "%s", err.msg);
    return g;
}

static ptq_dataset *random_images(int64_t n) {
    ptq_dataset *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->c = 1, ds->h = 2, ds->w = 3;
    ds->images = malloc((size_t)n * 6 * sizeof(float));
    test_rng r = {3};
    test_fill_uniform(&r, ds->images, n * 6, -1.0f, 1.0f);
    return ds;
}

START_TEST(evaluate_two_outputs_known_sqnr) {
    ptq_graph *ref = two_outputs(1.0f), *m = two_outputs(1.01f);
    ptq_dataset *ds = random_images(101);
    ptq_fidelity f;
    ptq_error err = {0};
    ck_assert_msg(ptq_fidelity_evaluate(ref, m, ds, 16, 2, &f, &err) == PTQ_OK, "%s", err.msg);
    ck_assert_int_eq(f.images, 101);
    ck_assert_int_eq(f.n_outputs, 2);
    ck_assert_str_eq(f.outputs[0].name, "scores");
    ck_assert_str_eq(f.outputs[1].name, "map");
    ck_assert(f.outputs[0].classes && !f.outputs[1].classes);
    ck_assert_double_eq_tol(f.outputs[0].sqnr_db, -20.0 * log10(0.01), 0.01);
    ck_assert_double_eq(f.outputs[0].top1_agreement, 1.0); /* a positive scale keeps argmax */
    ck_assert_double_eq_tol(f.outputs[0].cosine, 1.0, 1e-9);
    ck_assert(f.outputs[1].sqnr_db == INFINITY);
    ck_assert(isnan(f.outputs[1].top1_agreement));
    char buf[512];
    ptq_fidelity_output_str(&f.outputs[0], buf, sizeof buf);
    ck_assert_msg(test_contains(buf, "[N,6]: SQNR 40.0 dB") && test_contains(buf, "top-1 agreement 100.0 %"),
                  "%s", buf);
    ptq_fidelity_output_str(&f.outputs[1], buf, sizeof buf);
    ck_assert_msg(test_contains(buf, "[N,1,2,3]: SQNR inf dB (identical)") && !test_contains(buf, "top-1"),
                  "%s", buf);
    ptq_fidelity_free(&f);
    ptq_dataset_free(ds);
    ptq_graph_free(ref);
    ptq_graph_free(m);
}
END_TEST

/* Batch size and thread count change nothing, bit for bit. */
START_TEST(evaluate_batch_and_threads_independent) {
    ptq_graph *ref = two_outputs(1.0f), *m = two_outputs(0.97f);
    ptq_dataset *ds = random_images(53);
    ptq_fidelity a, b;
    ptq_error err = {0};
    ck_assert(ptq_fidelity_evaluate(ref, m, ds, 53, 1, &a, &err) == PTQ_OK);
    const int64_t batches[] = {1, 7, 32};
    for (size_t i = 0; i < PTQ_COUNTOF(batches); i++) {
        ck_assert(ptq_fidelity_evaluate(ref, m, ds, batches[i], 2, &b, &err) == PTQ_OK);
        for (int k = 0; k < 2; k++) {
            ck_assert_double_eq(a.outputs[k].sum_err2, b.outputs[k].sum_err2);
            ck_assert_double_eq(a.outputs[k].sum_ref2, b.outputs[k].sum_ref2);
            ck_assert_double_eq(a.outputs[k].sum_sample_cos, b.outputs[k].sum_sample_cos);
            ck_assert_double_eq(a.outputs[k].max_abs_err, b.outputs[k].max_abs_err);
        }
        ptq_fidelity_free(&b);
    }
    ptq_fidelity_free(&a);
    ptq_dataset_free(ds);
    ptq_graph_free(ref);
    ptq_graph_free(m);
}
END_TEST

/* Models that do not pair up are refused with what differs, not compared wrongly. */
START_TEST(evaluate_mismatch_named) {
    ptq_graph *ref = two_outputs(1.0f);
    ptq_graph *one = ptq_graph_new();
    const int64_t ne[4] = {B, 1, 2, 3};
    int32_t x = test_graph_input(one, "x", 4, ne);
    int32_t relu = test_graph_node(one, PTQ_OP_RELU, "relu", 1, &x, "map");
    test_graph_output(one, one->nodes[relu].outputs[0]);
    ptq_error err = {0};
    ck_assert(ptq_graph_infer_shapes(one, &err) == PTQ_OK);
    ptq_dataset *ds = random_images(4);
    ptq_fidelity f;
    ck_assert_int_eq(ptq_fidelity_evaluate(ref, one, ds, 4, 1, &f, &err), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "2 outputs and the model 1"), "%s", err.msg);
    ptq_fidelity_free(&f);
    /* images of another size */
    ds->c = 3;
    ds->h = ds->w = 1;
    memset(&err, 0, sizeof err);
    ck_assert_int_ne(ptq_fidelity_evaluate(ref, ref, ds, 4, 1, &f, &err), PTQ_OK);
    ck_assert_msg(test_contains(err.msg, "the reference model"), "%s", err.msg);
    ptq_fidelity_free(&f);
    ptq_dataset_free(ds);
    ptq_graph_free(ref);
    ptq_graph_free(one);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fidelity");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, identical_is_inf_and_cosine_one);
    tcase_add_test(tc, known_noise_known_sqnr);
    tcase_add_test(tc, random_noise_matches_power_ratio);
    tcase_add_test(tc, sign_flip_cosine_minus_one);
    tcase_add_test(tc, mean_sample_cosine_is_per_sample);
    tcase_add_test(tc, zero_outputs_conventions);
    tcase_add_test(tc, nan_counted_not_summed);
    tcase_add_test(tc, all_nan_undefined);
    tcase_add_test(tc, class_output_rule);
    tcase_add_test(tc, top1_ties_and_agreement);
    tcase_add_test(tc, block_split_independent);
    suite_add_tcase(s, tc);
    tc = tcase_create("evaluate");
    tcase_add_test(tc, evaluate_two_outputs_known_sqnr);
    tcase_add_test(tc, evaluate_batch_and_threads_independent);
    tcase_add_test(tc, evaluate_mismatch_named);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
