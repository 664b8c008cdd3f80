/* testutil.c — helpers shared by the unit tests. */
#define _DEFAULT_SOURCE /* mkstemps */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

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
        if (a[i] == b[i]) continue; /* also equal infinities, where the formula gives NaN */
        double v = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(v <= worst)) worst = v; /* NaN counts as a violation */
    }
    return worst;
}

/* Every temporary file this process created, removed when it exits (each test runs in
 * its own forked process, so files do not pile up in /tmp). */
static char **temp_files;
static size_t n_temp_files;

static void remove_temp_files(void) {
    for (size_t i = 0; i < n_temp_files; i++) {
        unlink(temp_files[i]);
        free(temp_files[i]);
    }
    free(temp_files);
    temp_files = NULL;
    n_temp_files = 0;
}

static void remember_temp(const char *path) {
    if (n_temp_files == 0) atexit(remove_temp_files);
    char **p = realloc(temp_files, (n_temp_files + 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    temp_files = p;
    temp_files[n_temp_files] = strdup(path);
    ck_assert_ptr_nonnull(temp_files[n_temp_files]);
    n_temp_files++;
}

static char *temp_path(const char *suffix) {
    static char paths[8][256];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, 256, "/tmp/ptq-test-XXXXXX%s", suffix);
    return p;
}

const char *test_write_temp(const void *data, size_t len, const char *suffix) {
    char *p = temp_path(suffix);
    int fd = mkstemps(p, (int)strlen(suffix));
    ck_assert_int_ge(fd, 0);
    remember_temp(p);
    ck_assert_int_eq((long)write(fd, data, len), (long)len);
    close(fd);
    return p;
}

const char *test_write_temp_gz(const void *data, size_t len, const char *suffix) {
    char *p = temp_path(suffix);
    int fd = mkstemps(p, (int)strlen(suffix));
    ck_assert_int_ge(fd, 0);
    remember_temp(p);
    gzFile f = gzdopen(fd, "wb");
    ck_assert_ptr_nonnull(f);
    if (len) ck_assert_int_eq(gzwrite(f, data, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(f), Z_OK);
    return p;
}

bool test_limit_address_space(size_t extra) {
#if defined(__SANITIZE_ADDRESS__)
    (void)extra;
    return false;
#else
    /* VmSize in /proc/self/status is the current address-space size in kB. */
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1) break;
    fclose(f);
    ck_assert_uint_gt(kb, 0);
    struct rlimit rl = {(rlim_t)(kb * 1024 + extra), (rlim_t)(kb * 1024 + extra)};
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
    return true;
#endif
}

bool test_contains(const char *haystack, const char *needle) {
    return haystack && needle && strstr(haystack, needle) != NULL;
}

static void push_id(int32_t **list, int32_t *n, int32_t id) {
    int32_t *p = realloc(*list, (size_t)(*n + 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    p[(*n)++] = id;
    *list = p;
}

int32_t test_graph_input(ptq_graph *g, const char *name, int32_t ndim, const int64_t *ne) {
    ptq_error err = {0};
    int32_t id = ptq_graph_add_value(g, name, PTQ_DTYPE_F32, ndim, ne, &err);
    ck_assert_msg(id >= 0, "%s", err.msg);
    g->values[id].flags |= PTQ_VALUE_INPUT;
    push_id(&g->inputs, &g->n_inputs, id);
    return id;
}

int32_t test_graph_const(ptq_graph *g, const char *name, int32_t ndim, const int64_t *ne,
                         const float *data) {
    ptq_error err = {0};
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, ndim, ne, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    if (data) memcpy(t->data, data, (size_t)ptq_tensor_numel(t) * sizeof *data);
    int32_t id = ptq_graph_add_constant(g, name, t, &err);
    ck_assert_msg(id >= 0, "%s", err.msg);
    return id;
}

int32_t test_graph_node(ptq_graph *g, ptq_op op, const char *name, int32_t n_in,
                        const int32_t *in, const char *out_name) {
    ptq_error err = {0};
    int32_t out = ptq_graph_add_value(g, out_name, PTQ_DTYPE_F32, 0, NULL, &err);
    ck_assert_msg(out >= 0, "%s", err.msg);
    int32_t id = ptq_graph_add_node(g, op, name, n_in, in, 1, &out, &err);
    ck_assert_msg(id >= 0, "%s", err.msg);
    return id;
}

void test_graph_output(ptq_graph *g, int32_t id) {
    g->values[id].flags |= PTQ_VALUE_OUTPUT;
    push_id(&g->outputs, &g->n_outputs, id);
}

int32_t test_count_op(const ptq_graph *g, ptq_op op) {
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) n += g->nodes[i].op == op;
    return n;
}

float *test_run_graph(const ptq_graph *g, const float *x, int64_t batch, int64_t *numel) {
    ptq_error err = {0};
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = batch;
    ptq_exec *ex = ptq_exec_new(g, &eo, &err);
    ck_assert_msg(ex != NULL, "%s", err.msg);
    ck_assert_int_eq(ptq_exec_bind(ex, g->inputs[0], x), PTQ_OK);
    ck_assert_msg(ptq_exec_run(ex, batch, &err) == PTQ_OK, "%s", err.msg);
    int32_t nd;
    int64_t ne[PTQ_MAX_DIMS];
    ptq_exec_shape(ex, g->outputs[0], &nd, ne);
    const int64_t n = ptq_shape_numel(nd, ne);
    float *y = malloc((size_t)n * sizeof *y + 1);
    ck_assert_ptr_nonnull(y);
    memcpy(y, ptq_exec_data(ex, g->outputs[0]), (size_t)n * sizeof *y);
    ptq_exec_free(ex);
    *numel = n;
    return y;
}

int test_run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
