/* testutil.h — helpers shared by the unit tests. */
#ifndef PTQ_TESTUTIL_H
#define PTQ_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "ptq/ptq.h"

/* Deterministic pseudo-random numbers (xorshift64*), so failures reproduce. */
typedef struct test_rng {
    uint64_t s;
} test_rng;

uint64_t test_rng_next(test_rng *r);
float test_rng_uniform(test_rng *r, float lo, float hi);
int64_t test_rng_int(test_rng *r, int64_t lo, int64_t hi); /* inclusive */
void test_fill_uniform(test_rng *r, float *x, int64_t n, float lo, float hi);

/* max |a - b| / (atol + rtol * |b|) over n elements: <= 1 means "close".  Elements that
 * are exactly equal (including equal infinities) count as 0; NaN is a violation. */
double test_max_violation(const float *a, const float *b, int64_t n, double rtol, double atol);

/* Writes bytes to a fresh temporary file and returns its path (static buffer rotated
 * over 8 slots).  suffix such as ".onnx" or ".npy".  The file is removed when the
 * (forked test) process exits. */
const char *test_write_temp(const void *data, size_t len, const char *suffix);

/* Like test_write_temp, but gzip-compresses the bytes (zlib's gzwrite). */
const char *test_write_temp_gz(const void *data, size_t len, const char *suffix);

/* Caps this process's address space at its current size plus `extra` bytes, so a test
 * can show that a reader does not allocate what a lying header claims (the allocation
 * would fail and the error would say "out of memory" instead of what is wrong).  Call
 * it only in a forked test.  Returns false, and does nothing, under AddressSanitizer,
 * which reserves terabytes of address space up front. */
bool test_limit_address_space(size_t extra);

/* True if haystack contains needle (NULL-safe); for checking error messages. */
bool test_contains(const char *haystack, const char *needle);

/* Graph building for tests: each helper asserts success and returns the new id.  The
 * graph owns everything (inputs/outputs lists are grown with realloc, as it frees them). */
/* A float32 run-time input (PTQ_DIM_BATCH allowed in ne), appended to g->inputs. */
int32_t test_graph_input(ptq_graph *g, const char *name, int32_t ndim, const int64_t *ne);
/* A float32 constant holding data (zeros if data is NULL). */
int32_t test_graph_const(ptq_graph *g, const char *name, int32_t ndim, const int64_t *ne,
                         const float *data);
/* A node with one new output value named out_name; returns the node id (its output is
 * g->nodes[id].outputs[0]). */
int32_t test_graph_node(ptq_graph *g, ptq_op op, const char *name, int32_t n_in,
                        const int32_t *in, const char *out_name);
/* Marks value id as a graph output. */
void test_graph_output(ptq_graph *g, int32_t id);
/* Nodes of g with op `op`. */
int32_t test_count_op(const ptq_graph *g, ptq_op op);
/* Runs g (one input; default executor options) on `batch` samples of x and returns a copy
 * of output 0 (caller frees) with its element count in *numel.  Asserts success. */
float *test_run_graph(const ptq_graph *g, const float *x, int64_t batch, int64_t *numel);

/* Runs a suite with CK_FORK and returns the process exit code. */
int test_run_suite(Suite *s);

#endif
