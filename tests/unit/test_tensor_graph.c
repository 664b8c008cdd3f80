/* test_tensor_graph.c — tensors, shapes, errors, the graph IR's structural edits and
 * shape inference with the symbolic batch size.
 *
 * Shape inference is where "batch x per-sample size" is enforced, so the cases below
 * check both what is accepted (and the shape it gives) and what is refused, with the
 * status and a message that names the node. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

#define B PTQ_DIM_BATCH

/* ================================================================ tensors ====== */

START_TEST(tensor_new_every_dtype) {
    static const struct {
        ptq_dtype dt;
        size_t size;
        const char *name;
    } types[] = {{PTQ_DTYPE_F32, 4, "float32"}, {PTQ_DTYPE_U8, 1, "uint8"},
                 {PTQ_DTYPE_I8, 1, "int8"},     {PTQ_DTYPE_I32, 4, "int32"},
                 {PTQ_DTYPE_I64, 8, "int64"}};
    for (size_t i = 0; i < PTQ_COUNTOF(types); i++) {
        ptq_error err = {0};
        int64_t ne[3] = {2, 3, 5};
        ptq_tensor *t = ptq_tensor_new(types[i].dt, 3, ne, &err);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(ptq_dtype_size(types[i].dt), types[i].size);
        ck_assert_str_eq(ptq_dtype_name(types[i].dt), types[i].name);
        ck_assert_uint_eq(t->dtype, types[i].dt);
        ck_assert_int_eq(t->ndim, 3);
        ck_assert_int_eq(t->ne[0], 2);
        ck_assert_int_eq(t->ne[2], 5);
        ck_assert_int_eq(ptq_tensor_numel(t), 30);
        /* Zeroed, every byte. */
        const uint8_t *p = t->data;
        for (size_t k = 0; k < 30 * types[i].size; k++) ck_assert_uint_eq(p[k], 0);
        ptq_tensor_free(t);
        ck_assert_int_eq(err.status, PTQ_OK);
    }
    ck_assert_uint_eq(ptq_dtype_size(PTQ_DTYPE_UNDEFINED), 0);
    ck_assert_uint_eq(ptq_dtype_size(11), 0); /* double: not stored by the core */
    ck_assert_str_eq(ptq_dtype_name(0), "undefined");
    ck_assert_str_eq(ptq_dtype_name(11), "double");
    ck_assert_str_eq(ptq_dtype_name(1000), "unknown");
}
END_TEST

START_TEST(tensor_new_scalar_and_empty) {
    ptq_error err = {0};
    ptq_tensor *s = ptq_tensor_new(PTQ_DTYPE_F32, 0, NULL, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ptq_tensor_numel(s), 1);
    ck_assert_float_eq(*(float *)s->data, 0.0f);
    ptq_tensor_free(s);
    int64_t ne[2] = {0, 3};
    ptq_tensor *e = ptq_tensor_new(PTQ_DTYPE_I64, 2, ne, &err);
    ck_assert_ptr_nonnull(e); /* an empty tensor is legal */
    ck_assert_int_eq(ptq_tensor_numel(e), 0);
    ck_assert_ptr_nonnull(e->data);
    ptq_tensor *c = ptq_tensor_clone(e, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(ptq_tensor_numel(c), 0);
    ptq_tensor_free(c);
    ptq_tensor_free(e);
    ptq_tensor_free(NULL); /* a no-op */
}
END_TEST

START_TEST(tensor_new_errors) {
    ptq_error err = {0};
    int64_t ne[2] = {2, 2};
    ck_assert_ptr_null(ptq_tensor_new(11, 2, ne, &err));
    ck_assert_int_eq(err.status, PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(err.msg, "double"), "%s", err.msg);

    ptq_error e2 = {0};
    int64_t neg[2] = {2, -3};
    ck_assert_ptr_null(ptq_tensor_new(PTQ_DTYPE_F32, 2, neg, &e2));
    ck_assert_int_eq(e2.status, PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(e2.msg, "[2,-3]"), "%s", e2.msg);

    /* Too large: refused before any allocation is attempted. */
    ptq_error e3 = {0};
    int64_t big[2] = {(int64_t)1 << 20, (int64_t)1 << 20};
    ck_assert_ptr_null(ptq_tensor_new(PTQ_DTYPE_F32, 2, big, &e3));
    ck_assert_int_eq(e3.status, PTQ_ERR_INVALID);

    ptq_error e4 = {0};
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_ptr_null(ptq_tensor_new(PTQ_DTYPE_F32, 9, nine, &e4));
    ck_assert_int_eq(e4.status, PTQ_ERR_INVALID);

    /* The batch symbol is not a concrete size. */
    ptq_error e5 = {0};
    int64_t batch[2] = {B, 4};
    ck_assert_ptr_null(ptq_tensor_new(PTQ_DTYPE_F32, 2, batch, &e5));
    ck_assert_int_eq(e5.status, PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(e5.msg, "[N,4]"), "%s", e5.msg);

    ck_assert_ptr_null(ptq_tensor_new(PTQ_DTYPE_F32, 2, neg, NULL)); /* err may be NULL */
}
END_TEST

START_TEST(tensor_clone_is_deep) {
    ptq_error err = {0};
    int64_t ne[2] = {3, 4};
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I32, 2, ne, &err);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < 12; i++) ((int32_t *)t->data)[i] = i * 7 - 20;
    ptq_tensor *c = ptq_tensor_clone(t, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_ne(c, t);
    ck_assert_ptr_ne(c->data, t->data);
    ck_assert_uint_eq(c->dtype, t->dtype);
    ck_assert_int_eq(c->ndim, 2);
    ck_assert_int_eq(c->ne[0], 3);
    ck_assert_int_eq(c->ne[1], 4);
    ck_assert_mem_eq(c->data, t->data, 12 * sizeof(int32_t));
    ((int32_t *)c->data)[5] = 12345;
    ck_assert_int_eq(((int32_t *)t->data)[5], 5 * 7 - 20);
    ptq_tensor_free(t);
    ptq_tensor_free(c);
}
END_TEST

/* ================================================================= shapes ====== */

START_TEST(shape_numel_cases) {
    const int64_t M = PTQ_MAX_ELEMENTS;
    static const struct {
        int32_t ndim;
        int64_t ne[9];
        int64_t want;
    } cases[] = {
        {0, {0}, 1},                                  /* a scalar */
        {3, {2, 3, 4}, 24},
        {2, {0, 5}, 0},                               /* empty */
        {2, {5, 0}, 0},
        {1, {-1}, -1},                                /* negative */
        {2, {3, -2}, -1},
        {1, {B}, -1},                                 /* the batch symbol is negative */
        {2, {4, B}, -1},
        {1, {(int64_t)1 << 31}, (int64_t)1 << 31},    /* exactly PTQ_MAX_ELEMENTS */
        {1, {((int64_t)1 << 31) + 1}, -1},            /* one more */
        {2, {(int64_t)1 << 16, (int64_t)1 << 15}, (int64_t)1 << 31},
        {2, {(int64_t)1 << 16, (int64_t)1 << 16}, -1},
        {2, {INT64_MAX, INT64_MAX}, -1},              /* would overflow int64 */
        {3, {INT64_MAX, 2, 2}, -1},
        {8, {16, 16, 16, 16, 16, 16, 16, 16}, -1},    /* 2^32 */
        {8, {2, 2, 2, 2, 2, 2, 2, 2}, 256},
        {9, {1, 1, 1, 1, 1, 1, 1, 1, 1}, -1},         /* more dims than PTQ_MAX_DIMS */
        {-1, {0}, -1},
    };
    ck_assert_int_eq(M, (int64_t)1 << 31);
    for (size_t i = 0; i < PTQ_COUNTOF(cases); i++)
        ck_assert_msg(ptq_shape_numel(cases[i].ndim, cases[i].ne) == cases[i].want,
                      "case %zu: numel %ld, expected %ld", i,
                      (long)ptq_shape_numel(cases[i].ndim, cases[i].ne), (long)cases[i].want);
    /* Regression (tensor.c): a zero dimension used to return 0 before the later
     * dimensions were checked, so [0, -1] counted as empty. */
    {
        int64_t zn[2] = {0, -1};
        ck_assert_int_eq(ptq_shape_numel(2, zn), -1);
    }
}
END_TEST

START_TEST(shape_str_cases) {
    char buf[64];
    int64_t a[4] = {B, 16, 28, 28};
    ck_assert_str_eq(ptq_shape_str(4, a, buf, sizeof buf), "[N,16,28,28]");
    ck_assert_str_eq(ptq_shape_str(0, a, buf, sizeof buf), "[]");
    int64_t b[3] = {5, B, -1};
    ck_assert_str_eq(ptq_shape_str(3, b, buf, sizeof buf), "[5,N,-1]");
    /* Truncates safely into small buffers, always terminated. */
    for (size_t size = 1; size < 14; size++) {
        char small[16];
        memset(small, 'x', sizeof small);
        ptq_shape_str(4, a, small, size);
        ck_assert_uint_lt(strlen(small), size);
        ck_assert_int_eq(strncmp(small, "[N,16,28,28]", strlen(small)), 0);
        ck_assert_int_eq(small[size], 'x'); /* nothing written past the buffer */
    }
}
END_TEST

/* ================================================================= errors ====== */

START_TEST(error_first_message_wins) {
    ptq_error err = {0};
    ck_assert_int_eq(ptq_error_set(&err, PTQ_ERR_IO, "%s: cannot open", "a.onnx"), PTQ_ERR_IO);
    ck_assert_int_eq(ptq_error_set(&err, PTQ_ERR_INVALID, "vaguer"), PTQ_ERR_INVALID);
    ck_assert_int_eq(err.status, PTQ_ERR_IO);
    ck_assert_str_eq(err.msg, "a.onnx: cannot open");
    ptq_error_prefix(&err, "loading %s", "model");
    ck_assert_str_eq(err.msg, "loading model: a.onnx: cannot open");
    ck_assert_int_eq(ptq_error_set(NULL, PTQ_ERR_NOMEM, "x"), PTQ_ERR_NOMEM);

    ptq_error empty = {0};
    ptq_error_prefix(&empty, "ctx"); /* no message: stays empty */
    ck_assert_str_eq(empty.msg, "");
    ptq_error_prefix(NULL, "ctx");

    /* A prefix longer than the buffer truncates but stays terminated. */
    char longp[3000];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    ptq_error_prefix(&err, "%s", longp);
    ck_assert_uint_lt(strlen(err.msg), PTQ_ERROR_SIZE);
    ck_assert_int_eq(err.msg[0], 'p');
}
END_TEST

START_TEST(status_names) {
    ck_assert_str_eq(ptq_status_name(PTQ_OK), "ok");
    ck_assert_str_eq(ptq_status_name(PTQ_ERR_INVALID), "invalid");
    ck_assert_str_eq(ptq_status_name(PTQ_ERR_UNSUPPORTED), "unsupported");
    ck_assert_str_eq(ptq_status_name(PTQ_ERR_IO), "i/o");
    ck_assert_str_eq(ptq_status_name(PTQ_ERR_NOMEM), "out of memory");
    ck_assert_str_eq(ptq_status_name(PTQ_ERR_NUMERIC), "numeric");
    ck_assert_str_eq(ptq_status_name(PTQ_ERR_INTERNAL), "internal");
    ck_assert_str_eq(ptq_status_name(-99), "unknown");
    ck_assert_ptr_nonnull(ptq_version_string());
}
END_TEST

/* ========================================================== graph building ====== */

START_TEST(graph_values) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t ne[2] = {B, 3};
    ck_assert_int_eq(ptq_graph_add_value(g, "a", PTQ_DTYPE_F32, 2, ne, &err), 0);
    ck_assert_int_eq(ptq_graph_add_value(g, "b", PTQ_DTYPE_F32, 2, ne, &err), 1);
    ck_assert_int_eq(ptq_graph_find_value(g, "b"), 1);
    ck_assert_int_eq(ptq_graph_find_value(g, "nope"), -1);
    ck_assert_int_eq(g->values[0].producer, -1);
    ck_assert_int_eq(g->values[0].ne[0], B);
    /* Duplicate names are refused with a message naming the value. */
    ck_assert_int_eq(ptq_graph_add_value(g, "a", PTQ_DTYPE_F32, 1, ne, &err), -1);
    ck_assert_int_eq(err.status, PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "'a'"), "%s", err.msg);
    ck_assert_int_eq(g->n_values, 2);
    /* So is a rank above PTQ_MAX_DIMS. */
    ptq_error e2 = {0};
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(ptq_graph_add_value(g, "r9", PTQ_DTYPE_F32, 9, nine, &e2), -1);
    ck_assert_int_eq(e2.status, PTQ_ERR_UNSUPPORTED);
    /* A duplicate constant is refused and its tensor freed (the sanitizer build checks
     * that nothing leaks). */
    ptq_error e3 = {0};
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, 1, ne + 1, &e3);
    ck_assert_int_eq(ptq_graph_add_constant(g, "b", t, &e3), -1);
    ck_assert_int_eq(e3.status, PTQ_ERR_INVALID);
    /* Many values: the arrays grow. */
    for (int i = 0; i < 200; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", i);
        ck_assert_int_eq(ptq_graph_add_value(g, name, PTQ_DTYPE_F32, 1, ne + 1, NULL), 2 + i);
    }
    ck_assert_int_eq(ptq_graph_find_value(g, "v199"), 201);
    ptq_graph_free(g);
    ptq_graph_free(NULL);
}
END_TEST

START_TEST(graph_add_node_defaults_and_producers) {
    ptq_graph *g = ptq_graph_new();
    int64_t ne[2] = {B, 3};
    int32_t x = test_graph_input(g, "x", 2, ne);
    int32_t n = test_graph_node(g, PTQ_OP_CLIP, "clip", 1, &x, "y");
    const ptq_node *nd = &g->nodes[n];
    ck_assert_str_eq(nd->name, "clip");
    ck_assert_uint_eq(nd->op, PTQ_OP_CLIP);
    ck_assert_int_eq(nd->n_inputs, 1);
    ck_assert_int_eq(nd->inputs[0], x);
    ck_assert_int_eq(g->values[nd->outputs[0]].producer, n);
    /* Attribute defaults that are not zero. */
    ck_assert(isinf(nd->attrs.clip_min) && nd->attrs.clip_min < 0);
    ck_assert(isinf(nd->attrs.clip_max) && nd->attrs.clip_max > 0);
    ck_assert_float_eq(nd->attrs.epsilon, 1e-5f);
    ck_assert_float_eq(nd->attrs.gemm.alpha, 1.0f);
    ck_assert_float_eq(nd->attrs.gemm.beta, 1.0f);
    ptq_graph_free(g);
}
END_TEST

START_TEST(graph_add_node_rejects_defined_output) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t ne[1] = {3};
    int32_t x = test_graph_input(g, "x", 1, ne);
    int32_t k = test_graph_const(g, "k", 1, ne, NULL);
    int32_t n0 = test_graph_node(g, PTQ_OP_RELU, "first", 1, &x, "y");
    int32_t y = g->nodes[n0].outputs[0];
    /* An output that already has a producer. */
    ck_assert_int_eq(ptq_graph_add_node(g, PTQ_OP_RELU, "second", 1, &x, 1, &y, &err), -1);
    ck_assert_int_eq(err.status, PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "'second'") && test_contains(err.msg, "'y'"), "%s",
                  err.msg);
    ck_assert_int_eq(g->n_nodes, 1);
    ck_assert_int_eq(g->values[y].producer, n0);
    /* A constant or a graph input cannot be a node's output either. */
    ptq_error e2 = {0}, e3 = {0};
    ck_assert_int_eq(ptq_graph_add_node(g, PTQ_OP_RELU, "third", 1, &x, 1, &k, &e2), -1);
    ck_assert_int_eq(e2.status, PTQ_ERR_INVALID);
    ck_assert_int_eq(ptq_graph_add_node(g, PTQ_OP_RELU, "fourth", 1, &y, 1, &x, &e3), -1);
    ck_assert_int_eq(e3.status, PTQ_ERR_INVALID);
    ck_assert_int_eq(g->n_nodes, 1);
    ptq_graph_free(g);
}
END_TEST

/* Programmer errors are assertions that abort (in every build type). */
START_TEST(graph_add_node_bad_op_aborts) {
    ptq_graph *g = ptq_graph_new();
    int64_t ne[1] = {3};
    int32_t x = test_graph_input(g, "x", 1, ne);
    int32_t y = ptq_graph_add_value(g, "y", PTQ_DTYPE_F32, 0, NULL, NULL);
    ptq_graph_add_node(g, PTQ_OP_COUNT, "bad", 1, &x, 1, &y, NULL);
}
END_TEST

START_TEST(graph_add_node_bad_input_aborts) {
    ptq_graph *g = ptq_graph_new();
    int32_t y = ptq_graph_add_value(g, "y", PTQ_DTYPE_F32, 0, NULL, NULL);
    int32_t bad = 7;
    ptq_graph_add_node(g, PTQ_OP_RELU, "bad", 1, &bad, 1, &y, NULL);
}
END_TEST

/* ================================================================ validate ====== */

START_TEST(validate_use_before_definition) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t ne[1] = {3};
    int32_t x = test_graph_input(g, "x", 1, ne);
    /* node 0 reads "late", which node 1 produces: out of order. */
    int32_t late = ptq_graph_add_value(g, "late", PTQ_DTYPE_F32, 1, ne, NULL);
    int32_t n0 = test_graph_node(g, PTQ_OP_RELU, "reader", 1, &late, "y");
    ck_assert_int_ge(ptq_graph_add_node(g, PTQ_OP_RELU, "writer", 1, &x, 1, &late, NULL), 0);
    test_graph_output(g, g->nodes[n0].outputs[0]);
    ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "'reader'") && test_contains(err.msg, "'late'"), "%s",
                  err.msg);
    ptq_graph_free(g);
}
END_TEST

START_TEST(validate_other_invariants) {
    int64_t ne[1] = {3};
    /* A valid chain passes. */
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int32_t x = test_graph_input(g, "x", 1, ne);
    int32_t n0 = test_graph_node(g, PTQ_OP_RELU, "r", 1, &x, "y");
    int32_t y = g->nodes[n0].outputs[0];
    test_graph_output(g, y);
    ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_OK);
    /* A graph output that nothing computes. */
    int32_t orphan = ptq_graph_add_value(g, "orphan", PTQ_DTYPE_F32, 1, ne, NULL);
    test_graph_output(g, orphan);
    ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "'orphan'"), "%s", err.msg);
    ptq_graph_free(g);
    /* A value that is both a constant and a run-time input. */
    g = ptq_graph_new();
    ptq_error e2 = {0};
    int32_t k = test_graph_const(g, "k", 1, ne, NULL);
    g->values[k].flags |= PTQ_VALUE_INPUT;
    ck_assert_int_eq(ptq_graph_validate(g, &e2), PTQ_ERR_INTERNAL);
    ck_assert_msg(test_contains(e2.msg, "'k'"), "%s", e2.msg);
    ptq_graph_free(g);
}
END_TEST

/* ================================================ remove_dead and compact ====== */

/* x -> a=Relu -> b=Add(a,k) -> y=Relu (output), plus a dead branch x -> d1 -> d2 and an
 * unused constant u.  Dead nodes and unused values go; ids are renumbered consistently. */
START_TEST(remove_dead_and_compact) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t ne[2] = {B, 4};
    const float kv[4] = {1.0f, -2.0f, 0.5f, 3.0f};
    int32_t x = test_graph_input(g, "x", 2, ne);
    test_graph_const(g, "u", 1, ne + 1, NULL);
    int32_t k = test_graph_const(g, "k", 1, ne + 1, kv);
    int32_t na = test_graph_node(g, PTQ_OP_RELU, "A", 1, &x, "a");
    int32_t nd1 = test_graph_node(g, PTQ_OP_RELU, "D1", 1, &x, "d1");
    int32_t ab[2] = {g->nodes[na].outputs[0], k};
    int32_t nb = test_graph_node(g, PTQ_OP_ADD, "Badd", 2, ab, "b");
    int32_t d1 = g->nodes[nd1].outputs[0];
    int32_t nd2 = test_graph_node(g, PTQ_OP_RELU, "D2", 1, &d1, "d2");
    int32_t b = g->nodes[nb].outputs[0];
    int32_t ny = test_graph_node(g, PTQ_OP_RELU, "Y", 1, &b, "y");
    test_graph_output(g, g->nodes[ny].outputs[0]);
    ck_assert_int_eq(ptq_graph_infer_shapes(g, &err), PTQ_OK);
    ck_assert_int_eq(g->n_nodes, 5);
    ck_assert_int_eq(g->n_values, 8);

    ck_assert_int_eq(ptq_graph_remove_dead(g, NULL), PTQ_OK);
    ck_assert_uint_eq(g->nodes[nd1].op, PTQ_OP_NONE);
    ck_assert_uint_eq(g->nodes[nd2].op, PTQ_OP_NONE);
    ck_assert_uint_eq(g->nodes[na].op, PTQ_OP_RELU);
    ck_assert_int_eq(g->values[d1].producer, -1);
    ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_OK);

    ck_assert_int_eq(ptq_graph_compact(g, &err), PTQ_OK);
    ck_assert_int_eq(g->n_nodes, 3);
    ck_assert_int_eq(g->n_values, 5); /* x, k, a, b, y */
    ck_assert_int_eq(ptq_graph_find_value(g, "u"), -1);
    ck_assert_int_eq(ptq_graph_find_value(g, "d1"), -1);
    ck_assert_int_eq(ptq_graph_find_value(g, "d2"), -1);
    /* Every id still means the same thing. */
    static const char *const node_names[] = {"A", "Badd", "Y"};
    static const char *const out_names[] = {"a", "b", "y"};
    for (int32_t i = 0; i < 3; i++) {
        const ptq_node *n = &g->nodes[i];
        ck_assert_str_eq(n->name, node_names[i]);
        ck_assert_str_eq(g->values[n->outputs[0]].name, out_names[i]);
        ck_assert_int_eq(g->values[n->outputs[0]].producer, i);
    }
    ck_assert_str_eq(g->values[g->nodes[0].inputs[0]].name, "x");
    ck_assert_str_eq(g->values[g->nodes[1].inputs[0]].name, "a");
    ck_assert_str_eq(g->values[g->nodes[1].inputs[1]].name, "k");
    ck_assert_str_eq(g->values[g->inputs[0]].name, "x");
    ck_assert_str_eq(g->values[g->outputs[0]].name, "y");
    ck_assert_uint_eq(g->values[g->outputs[0]].flags & PTQ_VALUE_OUTPUT, PTQ_VALUE_OUTPUT);
    ck_assert_mem_eq(g->values[ptq_graph_find_value(g, "k")].data->data, kv, sizeof kv);
    ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_OK);

    /* And it still computes y = relu(relu(x) + k). */
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 2;
    ptq_exec *ex = ptq_exec_new(g, &eo, &err);
    ck_assert_msg(ex != NULL, "%s", err.msg);
    const float xv[8] = {-1.0f, 1.0f, -3.0f, 2.0f, 0.5f, 0.25f, -0.5f, -4.0f};
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], xv), PTQ_OK);
    ck_assert_int_eq(ptq_exec_run(ex, 2, &err), PTQ_OK);
    const float *y = ptq_exec_data(ex, g->outputs[0]);
    for (int i = 0; i < 8; i++) {
        float want = fmaxf(fmaxf(xv[i], 0.0f) + kv[i % 4], 0.0f);
        ck_assert_float_eq(y[i], want);
    }
    ptq_exec_free(ex);
    ptq_graph_free(g);
}
END_TEST

/* Compact also drops nodes a rewrite marked removed in the middle of the list. */
START_TEST(compact_removed_middle_node) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t ne[1] = {4};
    int32_t x = test_graph_input(g, "x", 1, ne);
    int32_t n0 = test_graph_node(g, PTQ_OP_RELU, "r0", 1, &x, "a");
    int32_t a = g->nodes[n0].outputs[0];
    int32_t n1 = test_graph_node(g, PTQ_OP_TANH, "t1", 1, &a, "b");
    int32_t n2 = test_graph_node(g, PTQ_OP_SIGMOID, "s2", 1, &a, "c");
    test_graph_output(g, g->nodes[n2].outputs[0]);
    /* A rewrite removes t1 by hand. */
    g->values[g->nodes[n1].outputs[0]].producer = -1;
    g->nodes[n1].op = PTQ_OP_NONE;
    ck_assert_int_eq(ptq_graph_compact(g, &err), PTQ_OK);
    ck_assert_int_eq(g->n_nodes, 2);
    ck_assert_str_eq(g->nodes[1].name, "s2");
    ck_assert_int_eq(g->nodes[1].inputs[0], ptq_graph_find_value(g, "a"));
    ck_assert_int_eq(ptq_graph_find_value(g, "b"), -1);
    ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_OK);
    ptq_graph_free(g);
}
END_TEST

/* ============================================================ param count ====== */

START_TEST(param_count) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t xne[4] = {B, 1, 6, 6}, wne[4] = {4, 1, 3, 3}, cne[1] = {4}, fne[2] = {10, 4};
    int32_t x = test_graph_input(g, "x", 4, xne);
    int32_t w = test_graph_const(g, "w", 4, wne, NULL);   /* 36 */
    int32_t bias = test_graph_const(g, "b", 1, cne, NULL); /* 4 */
    int32_t in[5] = {x, w, bias};
    int32_t nc = test_graph_node(g, PTQ_OP_CONV, "conv", 3, in, "c");
    in[0] = g->nodes[nc].outputs[0];
    in[1] = test_graph_const(g, "gamma", 1, cne, NULL); /* 4 */
    in[2] = test_graph_const(g, "beta", 1, cne, NULL);  /* 4 */
    in[3] = test_graph_const(g, "mean", 1, cne, NULL);  /* running statistics: buffers, */
    in[4] = test_graph_const(g, "var", 1, cne, NULL);   /* not parameters */
    int32_t nb = test_graph_node(g, PTQ_OP_BATCH_NORM, "bn", 5, in, "bnout");
    int32_t gp = test_graph_node(g, PTQ_OP_GLOBAL_AVERAGE_POOL, "gap", 1,
                                 &g->nodes[nb].outputs[0], "p");
    int32_t nf = test_graph_node(g, PTQ_OP_FLATTEN, "flat", 1, &g->nodes[gp].outputs[0], "f");
    g->nodes[nf].attrs.axis = 1;
    int32_t fc[3] = {g->nodes[nf].outputs[0], test_graph_const(g, "fcw", 2, fne, NULL)}; /* 40 */
    int32_t ng = test_graph_node(g, PTQ_OP_GEMM, "fc", 2, fc, "logits");
    g->nodes[ng].attrs.gemm.trans_b = 1;
    /* Integer constants (Gather indices) are not parameters. */
    ptq_tensor *idx = ptq_tensor_new(PTQ_DTYPE_I64, 1, (int64_t[]){2}, &err);
    int32_t gi[2] = {g->nodes[ng].outputs[0], ptq_graph_add_constant(g, "idx", idx, &err)};
    int32_t nga = test_graph_node(g, PTQ_OP_GATHER, "pick", 2, gi, "picked");
    g->nodes[nga].attrs.axis = 1;
    /* A constant no node reads is not counted; one read twice counts twice (as PyTorch
     * counts parameters of two modules that share an exported initializer). */
    test_graph_const(g, "unused", 2, fne, NULL);
    int32_t sh = test_graph_const(g, "shared", 1, (int64_t[]){2}, NULL); /* 2 + 2 */
    int32_t ad[2] = {g->nodes[nga].outputs[0], sh};
    int32_t na = test_graph_node(g, PTQ_OP_ADD, "add1", 2, ad, "s1");
    ad[0] = g->nodes[na].outputs[0];
    int32_t na2 = test_graph_node(g, PTQ_OP_ADD, "add2", 2, ad, "s2");
    test_graph_output(g, g->nodes[na2].outputs[0]);
    ck_assert_msg(ptq_graph_infer_shapes(g, &err) == PTQ_OK, "%s", err.msg);
    ck_assert_int_eq(ptq_graph_param_count(g), 36 + 4 + 4 + 4 + 40 + 2 + 2);
    /* Removed nodes' inputs no longer count. */
    g->nodes[na2].op = PTQ_OP_NONE;
    ck_assert_int_eq(ptq_graph_param_count(g), 36 + 4 + 4 + 4 + 40 + 2);
    ptq_graph_free(g);
}
END_TEST

/* ========================================================= shape inference ====== */

/* One node of `op` over the given inputs (already in g); infers and returns the status,
 * leaving the output in *out. */
static ptq_status infer1(ptq_graph *g, ptq_op op, const char *name, int32_t n_in,
                         const int32_t *in, int32_t *out, void (*set)(ptq_node *, const void *),
                         const void *arg, ptq_error *err) {
    int32_t n = test_graph_node(g, op, name, n_in, in, name);
    *out = g->nodes[n].outputs[0];
    if (set) set(&g->nodes[n], arg);
    return ptq_graph_infer_node(g, n, err);
}

static void expect_shape(const ptq_graph *g, int32_t v, const char *want) {
    char buf[160];
    ck_assert_str_eq(ptq_shape_str(g->values[v].ndim, g->values[v].ne, buf, sizeof buf), want);
}

static void set_axis(ptq_node *n, const void *arg) { n->attrs.axis = *(const int64_t *)arg; }

static void set_group(ptq_node *n, const void *arg) {
    n->attrs.conv.group = *(const int64_t *)arg;
}

static void set_shape(ptq_node *n, const void *arg) {
    const int64_t *s = arg; /* s[0] = rank, then the dims */
    n->attrs.ndim = (int32_t)s[0];
    memcpy(n->attrs.shape, s + 1, (size_t)s[0] * sizeof *s);
}

START_TEST(infer_conv_keeps_batch) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t xne[4] = {B, 3, 8, 9}, wne[4] = {4, 3, 3, 3};
    int32_t in[3] = {test_graph_input(g, "x", 4, xne), test_graph_const(g, "w", 4, wne, NULL)};
    int32_t y;
    ck_assert_int_eq(infer1(g, PTQ_OP_CONV, "conv", 2, in, &y, NULL, NULL, &err), PTQ_OK);
    expect_shape(g, y, "[N,4,6,7]");
    /* Defaults were filled in from the weight. */
    const ptq_conv_attrs *a = &g->nodes[0].attrs.conv;
    ck_assert_int_eq(a->n_spatial, 2);
    ck_assert_int_eq(a->kernel[0], 3);
    ck_assert_int_eq(a->stride[1], 1);
    ck_assert_int_eq(a->dilation[0], 1);
    ck_assert_int_eq(a->group, 1);
    ptq_graph_free(g);
}
END_TEST

START_TEST(infer_auto_pad_resolved) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t xne[4] = {B, 2, 7, 8};
    int32_t x = test_graph_input(g, "x", 4, xne);
    int32_t n = test_graph_node(g, PTQ_OP_MAX_POOL, "pool", 1, &x, "y");
    ptq_pool_attrs *a = &g->nodes[n].attrs.pool;
    a->n_spatial = 2;
    a->kernel[0] = a->kernel[1] = 3;
    a->stride[0] = a->stride[1] = 2;
    a->auto_pad = PTQ_AUTO_PAD_SAME_UPPER;
    ck_assert_int_eq(ptq_graph_infer_node(g, n, &err), PTQ_OK);
    expect_shape(g, g->nodes[n].outputs[0], "[N,2,4,4]"); /* ceil(7/2), ceil(8/2) */
    ck_assert_int_eq(a->auto_pad, PTQ_AUTO_PAD_NOTSET);
    /* H: total pad (4-1)*2+3-7 = 2 -> 1/1; W: (4-1)*2+3-8 = 1 -> 0 begin, 1 end (UPPER). */
    ck_assert_int_eq(a->pad_begin[0], 1);
    ck_assert_int_eq(a->pad_end[0], 1);
    ck_assert_int_eq(a->pad_begin[1], 0);
    ck_assert_int_eq(a->pad_end[1], 1);
    ptq_graph_free(g);
}
END_TEST

START_TEST(infer_flatten_batch) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t xne[4] = {B, 4, 3, 2};
    int32_t x = test_graph_input(g, "x", 4, xne), y;
    int64_t axis = 1;
    ck_assert_int_eq(infer1(g, PTQ_OP_FLATTEN, "f1", 1, &x, &y, set_axis, &axis, &err), PTQ_OK);
    expect_shape(g, y, "[N,24]");
    axis = -3; /* the same axis, counted from the end */
    ck_assert_int_eq(infer1(g, PTQ_OP_FLATTEN, "f1neg", 1, &x, &y, set_axis, &axis, &err), PTQ_OK);
    expect_shape(g, y, "[N,24]");
    ck_assert_int_eq(g->nodes[1].attrs.axis, 1);
    /* Axis 0 would give [1, N*24]: the batch multiplied with other sizes. */
    axis = 0;
    ck_assert_int_eq(infer1(g, PTQ_OP_FLATTEN, "f0", 1, &x, &y, set_axis, &axis, &err),
                     PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(err.msg, "'f0'"), "%s", err.msg);
    ptq_error e2 = {0};
    axis = 2;
    ck_assert_int_eq(infer1(g, PTQ_OP_FLATTEN, "f2", 1, &x, &y, set_axis, &axis, &e2),
                     PTQ_ERR_UNSUPPORTED);
    ptq_error e3 = {0};
    axis = 5;
    ck_assert_int_eq(infer1(g, PTQ_OP_FLATTEN, "f5", 1, &x, &y, set_axis, &axis, &e3),
                     PTQ_ERR_INVALID);
    /* Without a batch any axis works, 0 included. */
    int64_t fne[3] = {2, 3, 4};
    int32_t xf = test_graph_input(g, "xf", 3, fne);
    axis = 0;
    ck_assert_int_eq(infer1(g, PTQ_OP_FLATTEN, "ff0", 1, &xf, &y, set_axis, &axis, &err), PTQ_OK);
    expect_shape(g, y, "[1,24]");
    ptq_graph_free(g);
}
END_TEST

START_TEST(infer_broadcast_batch) {
    ptq_graph *g = ptq_graph_new();
    int64_t a[2] = {B, 3}, f5[2] = {5, 3}, o3[2] = {1, 3}, v3[1] = {3}, f4[2] = {4, 3};
    int32_t xa = test_graph_input(g, "a", 2, a);
    int32_t xb = test_graph_input(g, "b", 2, a);
    int32_t c5 = test_graph_const(g, "c5", 2, f5, NULL);
    int32_t c13 = test_graph_const(g, "c13", 2, o3, NULL);
    int32_t c3 = test_graph_const(g, "c3", 1, v3, NULL);
    int32_t c4 = test_graph_const(g, "c4", 2, f4, NULL);
    int32_t y;
    ptq_error err = {0};
    int32_t in[2] = {xa, c13};
    ck_assert_int_eq(infer1(g, PTQ_OP_ADD, "n13", 2, in, &y, NULL, NULL, &err), PTQ_OK);
    expect_shape(g, y, "[N,3]");
    in[1] = xb;
    ck_assert_int_eq(infer1(g, PTQ_OP_MUL, "nn", 2, in, &y, NULL, NULL, &err), PTQ_OK);
    expect_shape(g, y, "[N,3]");
    in[0] = c3;
    in[1] = xa;
    ck_assert_int_eq(infer1(g, PTQ_OP_SUB, "n3", 2, in, &y, NULL, NULL, &err), PTQ_OK);
    expect_shape(g, y, "[N,3]");
    /* The batch against a fixed size > 1: refused as unsupported. */
    in[0] = xa;
    in[1] = c5;
    ck_assert_int_eq(infer1(g, PTQ_OP_DIV, "n5", 2, in, &y, NULL, NULL, &err), PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(err.msg, "'n5'") && test_contains(err.msg, "batch"), "%s",
                  err.msg);
    /* Two fixed sizes that differ: invalid. */
    ptq_error e2 = {0};
    in[0] = c4;
    ck_assert_int_eq(infer1(g, PTQ_OP_ADD, "n45", 2, in, &y, NULL, NULL, &e2), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(e2.msg, "'n45'"), "%s", e2.msg);
    ptq_graph_free(g);
}
END_TEST

START_TEST(infer_reshape_batch) {
    ptq_graph *g = ptq_graph_new();
    int64_t xne[4] = {B, 2, 3, 4};
    int32_t x = test_graph_input(g, "x", 4, xne), y;
    static const struct {
        int64_t shape[5]; /* rank, dims */
        const char *want; /* NULL: refused */
    } cases[] = {
        {{2, 0, -1}, "[N,24]"},
        {{2, -1, 24}, "[N,24]"},
        {{3, 0, 4, -1}, "[N,4,6]"},
        {{3, -1, 6, 4}, "[N,6,4]"},
        {{2, B, 24}, "[N,24]"},
        {{4, 0, 0, 0, 0}, "[N,2,3,4]"},
        {{2, -1, 5}, NULL},  /* 24 is not a multiple of 5 */
        {{1, -1}, NULL},     /* would multiply the batch with 24 */
        {{2, 0, 25}, NULL},  /* wrong size */
        {{2, -1, -1}, NULL}, /* two -1 */
    };
    for (size_t i = 0; i < PTQ_COUNTOF(cases); i++) {
        ptq_error err = {0};
        char name[16];
        snprintf(name, sizeof name, "r%zu", i);
        ptq_status st = infer1(g, PTQ_OP_RESHAPE, name, 1, &x, &y, set_shape, cases[i].shape, &err);
        if (cases[i].want) {
            ck_assert_msg(st == PTQ_OK, "case %zu: %s", i, err.msg);
            expect_shape(g, y, cases[i].want);
        } else {
            ck_assert_msg(st != PTQ_OK, "case %zu was accepted", i);
            ck_assert_msg(test_contains(err.msg, name), "case %zu: %s", i, err.msg);
        }
    }
    ptq_graph_free(g);
}
END_TEST

START_TEST(infer_conv_rejects_bad_channels) {
    static const struct {
        int64_t c, m, cg, group;
        int32_t bias_rank;
        int64_t bias_len;
        const char *what; /* expected in the message */
    } cases[] = {
        {3, 4, 2, 1, 0, 0, "group"},  /* weight says 2 input channels, input has 3 */
        {3, 4, 1, 2, 0, 0, "group"},  /* 3 channels do not split into 2 groups */
        {4, 3, 2, 2, 0, 0, "group"},  /* 3 output channels do not split into 2 groups */
        {4, 4, 2, 0, 0, 0, "group"},  /* group defaults to 1: 2 != 4 channels */
        {4, 4, 2, -2, 0, 0, "group"}, /* negative group */
        {3, 4, 3, 1, 1, 5, "bias"},   /* bias of the wrong length */
        {3, 4, 3, 1, 2, 4, "bias"},   /* bias of the wrong rank */
    };
    for (size_t i = 0; i < PTQ_COUNTOF(cases); i++) {
        ptq_graph *g = ptq_graph_new();
        ptq_error err = {0};
        int64_t xne[4] = {B, cases[i].c, 5, 5}, wne[4] = {cases[i].m, cases[i].cg, 3, 3};
        int64_t bne[2] = {cases[i].bias_rank == 2 ? 1 : cases[i].bias_len, cases[i].bias_len};
        int32_t in[3] = {test_graph_input(g, "x", 4, xne), test_graph_const(g, "w", 4, wne, NULL)};
        int32_t n_in = 2, y;
        if (cases[i].bias_rank) in[n_in++] = test_graph_const(g, "bias", cases[i].bias_rank, bne, NULL);
        ptq_status st = infer1(g, PTQ_OP_CONV, "my_conv", n_in, in, &y, set_group,
                               &cases[i].group, &err);
        ck_assert_msg(st == PTQ_ERR_INVALID, "case %zu: status %d (%s)", i, st, err.msg);
        ck_assert_msg(test_contains(err.msg, "'my_conv'") && test_contains(err.msg, cases[i].what),
                      "case %zu: %s", i, err.msg);
        ptq_graph_free(g);
    }
}
END_TEST

/* Every other way an op could mix samples or see a non-float input is refused. */
START_TEST(infer_refusals) {
    ptq_graph *g = ptq_graph_new();
    int64_t bne[3] = {B, 4, 5}, one[1] = {1}, mne[2] = {B, 4}, wne[2] = {4, 3};
    int32_t x = test_graph_input(g, "x", 3, bne), y;
    int32_t xm = test_graph_input(g, "xm", 2, mne);
    int32_t w = test_graph_const(g, "w", 2, wne, NULL);
    int64_t axis0 = 0;
    ptq_error e1 = {0}, e2 = {0}, e3 = {0}, e4 = {0}, e5 = {0}, e6 = {0}, e7 = {0}, e8 = {0};
    ck_assert_int_eq(infer1(g, PTQ_OP_SOFTMAX, "sm", 1, &x, &y, set_axis, &axis0, &e1),
                     PTQ_ERR_UNSUPPORTED);
    int32_t cat[2] = {x, x};
    ck_assert_int_eq(infer1(g, PTQ_OP_CONCAT, "cat", 2, cat, &y, set_axis, &axis0, &e2),
                     PTQ_ERR_UNSUPPORTED);
    ptq_tensor *idx = ptq_tensor_new(PTQ_DTYPE_I64, 1, one, NULL);
    int32_t ga[2] = {x, ptq_graph_add_constant(g, "idx", idx, NULL)};
    ck_assert_int_eq(infer1(g, PTQ_OP_GATHER, "ga", 2, ga, &y, set_axis, &axis0, &e3),
                     PTQ_ERR_UNSUPPORTED);
    /* Gather's indices must be a constant. */
    int32_t gb[2] = {x, test_graph_input(g, "runtime_idx", 1, one)};
    int64_t axis1 = 1;
    ck_assert_int_eq(infer1(g, PTQ_OP_GATHER, "gb", 2, gb, &y, set_axis, &axis1, &e4),
                     PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(e4.msg, "constant"), "%s", e4.msg);
    /* Gemm with transA would put the batch on the inner dimension. */
    int32_t gm[2] = {xm, w};
    int32_t n = test_graph_node(g, PTQ_OP_GEMM, "gemm", 2, gm, "gy");
    g->nodes[n].attrs.gemm.trans_a = 1;
    ck_assert_int_eq(ptq_graph_infer_node(g, n, &e5), PTQ_ERR_UNSUPPORTED);
    /* Arity. */
    ck_assert_int_eq(infer1(g, PTQ_OP_CONV, "conv1", 1, &x, &y, NULL, NULL, &e6), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(e6.msg, "'conv1'") && test_contains(e6.msg, "inputs"), "%s",
                  e6.msg);
    /* Only float32 data. */
    ptq_tensor *it = ptq_tensor_new(PTQ_DTYPE_I64, 1, one, NULL);
    int32_t iv = ptq_graph_add_constant(g, "ints", it, NULL);
    ck_assert_int_eq(infer1(g, PTQ_OP_RELU, "relu_int", 1, &iv, &y, NULL, NULL, &e7),
                     PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(e7.msg, "int64"), "%s", e7.msg);
    /* BatchNormalization's statistics must be constants. */
    int64_t cne[1] = {4};
    int32_t bn[5] = {x, test_graph_const(g, "s", 1, cne, NULL), test_graph_const(g, "b", 1, cne, NULL),
                     test_graph_input(g, "mean_rt", 1, cne), test_graph_const(g, "v", 1, cne, NULL)};
    ck_assert_int_eq(infer1(g, PTQ_OP_BATCH_NORM, "bn", 5, bn, &y, NULL, NULL, &e8),
                     PTQ_ERR_UNSUPPORTED);
    ck_assert_msg(test_contains(e8.msg, "mean_rt"), "%s", e8.msg);
    ptq_graph_free(g);
}
END_TEST

/* ================================================================== print ====== */

START_TEST(graph_print_lists_nodes) {
    ptq_graph *g = ptq_graph_new();
    ptq_error err = {0};
    int64_t xne[4] = {B, 3, 8, 8}, wne[4] = {4, 3, 3, 3};
    int32_t in[2] = {test_graph_input(g, "image", 4, xne), test_graph_const(g, "w", 4, wne, NULL)};
    int32_t n = test_graph_node(g, PTQ_OP_CONV, "first_conv", 2, in, "features");
    test_graph_output(g, g->nodes[n].outputs[0]);
    ck_assert_int_eq(ptq_graph_infer_shapes(g, &err), PTQ_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ptq_graph_print(g, f);
    fclose(f);
    ck_assert_msg(test_contains(text, "first_conv"), "%s", text);
    ck_assert_msg(test_contains(text, "[N,4,6,6]"), "%s", text);
    ck_assert_msg(test_contains(text, "image"), "%s", text);
    ck_assert_msg(test_contains(text, "parameters: 108"), "parameter count missing: %s", text);
    free(text);
    ptq_graph_free(g);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tensor_graph");
    TCase *tc = tcase_create("tensor");
    tcase_add_test(tc, tensor_new_every_dtype);
    tcase_add_test(tc, tensor_new_scalar_and_empty);
    tcase_add_test(tc, tensor_new_errors);
    tcase_add_test(tc, tensor_clone_is_deep);
    suite_add_tcase(s, tc);

    tc = tcase_create("shape");
    tcase_add_test(tc, shape_numel_cases);
    tcase_add_test(tc, shape_str_cases);
    suite_add_tcase(s, tc);

    tc = tcase_create("error");
    tcase_add_test(tc, error_first_message_wins);
    tcase_add_test(tc, status_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("graph_build");
    tcase_add_test(tc, graph_values);
    tcase_add_test(tc, graph_add_node_defaults_and_producers);
    tcase_add_test(tc, graph_add_node_rejects_defined_output);
    tcase_add_test_raise_signal(tc, graph_add_node_bad_op_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, graph_add_node_bad_input_aborts, SIGABRT);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_test(tc, validate_use_before_definition);
    tcase_add_test(tc, validate_other_invariants);
    suite_add_tcase(s, tc);

    tc = tcase_create("compact");
    tcase_add_test(tc, remove_dead_and_compact);
    tcase_add_test(tc, compact_removed_middle_node);
    suite_add_tcase(s, tc);

    tc = tcase_create("param_count");
    tcase_add_test(tc, param_count);
    suite_add_tcase(s, tc);

    tc = tcase_create("infer");
    tcase_add_test(tc, infer_conv_keeps_batch);
    tcase_add_test(tc, infer_auto_pad_resolved);
    tcase_add_test(tc, infer_flatten_batch);
    tcase_add_test(tc, infer_broadcast_batch);
    tcase_add_test(tc, infer_reshape_batch);
    tcase_add_test(tc, infer_conv_rejects_bad_channels);
    tcase_add_test(tc, infer_refusals);
    suite_add_tcase(s, tc);

    tc = tcase_create("print");
    tcase_add_test(tc, graph_print_lists_nodes);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
