/* testutil.h — helpers shared by the unit tests. */
#ifndef PTQ_TESTUTIL_H
#define PTQ_TESTUTIL_H

#include <check.h>
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

/* max |a - b| / (atol + rtol * |b|) over n elements: <= 1 means "close". */
double test_max_violation(const float *a, const float *b, int64_t n, double rtol, double atol);

/* Writes bytes to a fresh temporary file and returns its path (static buffer rotated
 * over 8 slots).  suffix such as ".onnx" or ".npy". */
const char *test_write_temp(const void *data, size_t len, const char *suffix);

/* Runs a suite with CK_FORK and returns the process exit code. */
int test_run_suite(Suite *s);

#endif
