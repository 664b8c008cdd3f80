/* testutil.c — helpers shared by the unit tests. */
#define _DEFAULT_SOURCE /* mkstemps */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t test_rng_next(test_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

float test_rng_uniform(test_rng *r, float lo, float hi) {
    double u = (double)(test_rng_next(r) >> 11) / (double)(1ULL << 53);
    return (float)(lo + (hi - lo) * u);
}

int64_t test_rng_int(test_rng *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(test_rng_next(r) % (uint64_t)(hi - lo + 1));
}

void test_fill_uniform(test_rng *r, float *x, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) x[i] = test_rng_uniform(r, lo, hi);
}

double test_max_violation(const float *a, const float *b, int64_t n, double rtol, double atol) {
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double v = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(v <= worst)) worst = v; /* NaN counts as a violation */
    }
    return worst;
}

const char *test_write_temp(const void *data, size_t len, const char *suffix) {
    static char paths[8][256];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, 256, "/tmp/ptq-test-XXXXXX%s", suffix);
    int fd = mkstemps(p, (int)strlen(suffix));
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((long)write(fd, data, len), (long)len);
    close(fd);
    return p;
}

int test_run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
