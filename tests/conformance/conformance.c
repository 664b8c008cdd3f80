/* conformance.c — the official ONNX operator conformance cases, run through the real
 * importer and executor.
 *
 * Every case under the node/ directory of libonnx-testdata whose nodes all use op types
 * qcraft claims is loaded, run on each of its test_data_set_* inputs and compared with
 * the expected outputs (|got - want| <= atol + rtol * |want|, rtol 1e-4, atol 1e-5).
 * A claimed case may be skipped only if tests/conformance/skips.txt names it with a
 * reason; every other claimed case must pass.  The run ends with a table of passed /
 * failed / skipped cases per op type.
 *
 * Inputs that fill attribute-like slots (a Reshape's shape, Clip's bounds, Pad's pads,
 * BatchNormalization's statistics, Gather's indices, ...) are bound as constants at
 * import, because the IR keeps those as constants; every other input is fed at run time.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx.pb-c.h"
#include "ptq/ptq.h"

#define RTOL 1e-4
#define ATOL 1e-5

static const char *claimed_ops[] = {
    "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Clip", "LeakyRelu",
    "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "BatchNormalization", "MaxPool",
    "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Transpose",
    "Concat", "Softmax", "Pad", "Identity", "Constant", "Shape", "Gather", "Unsqueeze",
    "Squeeze",
    /* spatial ops */
    "Resize", "Upsample", "ConvTranspose", "Slice", "Split",
    /* elementwise, comparison and reduction ops */
    "Cast", "Pow", "Sqrt", "Exp", "Erf", "Neg", "Reciprocal", "Min", "Max", "Equal", "Less",
    "Greater", "Where", "Expand", "ReduceMean", "ReduceSum", "ReduceMax", "LayerNormalization",
    "ConstantOfShape", NULL};

/* (op, input slot) pairs the IR needs as constants. */
static const struct {
    const char *op;
    unsigned slots;
} const_slots[] = {
    {"Clip", 0x6},    {"Pad", 0xE},    {"BatchNormalization", 0x1E},
    {"Reshape", 0x2}, {"Unsqueeze", 0x2}, {"Squeeze", 0x2}, {"Gather", 0x2},
    /* spatial ops */
    {"Resize", 0xE},  {"Upsample", 0x2}, {"Slice", 0x1E}, {"Split", 0x2},
};

typedef struct test_case {
    char name[256];
    char op[64];      /* op type of the case (its first node's) */
    int status;       /* 0 pass, 1 fail, 2 skip */
    char detail[600]; /* why it failed or was skipped */
} test_case;

static const char *data_dir;
static test_case *cases;
static int n_cases;
static char skip_names[512][128];
static char skip_reasons[512][256];
static int n_skips;

static bool claimed(const char *op) {
    for (const char **c = claimed_ops; *c; c++)
        if (!strcmp(*c, op)) return true;
    return false;
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static const char *skip_reason(const char *name) {
    for (int i = 0; i < n_skips; i++)
        if (!strcmp(skip_names[i], name)) return skip_reasons[i];
    return NULL;
}

static void load_skips(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conformance: cannot open %s\n", path);
        exit(1);
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (n_skips == (int)(sizeof skip_names / sizeof skip_names[0])) break;
        char *sp = strpbrk(line, " \t");
        if (!sp) continue;
        *sp++ = '\0';
        while (*sp == ' ' || *sp == '\t') sp++;
        sp[strcspn(sp, "\n")] = '\0';
        snprintf(skip_names[n_skips], sizeof skip_names[0], "%.127s", line);
        snprintf(skip_reasons[n_skips], sizeof skip_reasons[0], "%.255s", sp);
        n_skips++;
    }
    fclose(f);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(((const test_case *)a)->name, ((const test_case *)b)->name);
}

/* Finds the cases whose every node is a claimed op. */
static void discover(void) {
    DIR *d = opendir(data_dir);
    if (!d) {
        fprintf(stderr, "conformance: %s is missing (install libonnx-testdata)\n", data_dir);
        exit(1);
    }
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_", 5)) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/model.onnx", data_dir, e->d_name);
        size_t len;
        uint8_t *buf = slurp(path, &len);
        if (!buf) continue;
        Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
        free(buf);
        if (!mp) continue;
        bool all = mp->graph && mp->graph->n_node > 0;
        for (size_t i = 0; all && i < mp->graph->n_node; i++) {
            const Onnx__NodeProto *np = mp->graph->node[i];
            all = claimed(np->op_type) && (!np->domain || !*np->domain);
        }
        if (all) {
            if (n_cases == cap) {
                cap = cap ? cap * 2 : 256;
                cases = realloc(cases, (size_t)cap * sizeof *cases);
            }
            test_case *c = &cases[n_cases++];
            memset(c, 0, sizeof *c);
            snprintf(c->name, sizeof c->name, "%s", e->d_name);
            /* Report expanded (function body) cases under the op they test. */
            const char *op = mp->graph->node[0]->op_type;
            if (strstr(e->d_name, "_expanded")) op = "(expanded)";
            snprintf(c->op, sizeof c->op, "%s", op);
        }
        onnx__model_proto__free_unpacked(mp, NULL);
    }
    closedir(d);
    qsort(cases, (size_t)n_cases, sizeof *cases, cmp_names);
}

/* Element i of an integer buffer of type dt (uint8 also holds bool). */
static double int_elem(ptq_dtype dt, const void *p, int64_t i) {
    switch (dt) {
    case PTQ_DTYPE_U8: return ((const uint8_t *)p)[i];
    case PTQ_DTYPE_I8: return ((const int8_t *)p)[i];
    case PTQ_DTYPE_I32: return ((const int32_t *)p)[i];
    default: return (double)((const int64_t *)p)[i];
    }
}

/* Runs one test_data_set directory against an already-unpacked model description. */
static bool run_data_set(test_case *c, const uint8_t *model, size_t model_len,
                         const Onnx__GraphProto *gp, const char *set_dir) {
    /* Runtime inputs of the graph, in order (initializers are not inputs to feed). */
    const char *names[64];
    ptq_tensor *vals[64] = {0};
    int n_in = 0;
    for (size_t i = 0; i < gp->n_input && n_in < 64; i++) {
        bool init = false;
        for (size_t k = 0; k < gp->n_initializer; k++)
            init |= !strcmp(gp->initializer[k]->name, gp->input[i]->name);
        if (init) continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/input_%d.pb", set_dir, n_in);
        ptq_error err = {0};
        vals[n_in] = ptq_onnx_load_tensor(p, &err);
        if (!vals[n_in]) {
            snprintf(c->detail, sizeof c->detail, "input %d: %.500s", n_in, err.msg);
            for (int k = 0; k < n_in; k++) ptq_tensor_free(vals[k]);
            return false;
        }
        names[n_in++] = gp->input[i]->name;
    }
    /* Which inputs to bind as constants. */
    const char *bind_names[64];
    const ptq_tensor *bind_vals[64];
    bool bound[64] = {false};
    int n_bind = 0;
    for (int k = 0; k < n_in; k++) {
        bool b = vals[k]->dtype != PTQ_DTYPE_F32;
        for (size_t ni = 0; !b && ni < gp->n_node; ni++) {
            const Onnx__NodeProto *np = gp->node[ni];
            for (size_t s = 0; s < sizeof const_slots / sizeof const_slots[0]; s++) {
                if (strcmp(const_slots[s].op, np->op_type)) continue;
                for (size_t slot = 0; slot < np->n_input && slot < 8; slot++)
                    if ((const_slots[s].slots >> slot) & 1u && !strcmp(np->input[slot], names[k]))
                        b = true;
            }
        }
        if (b) {
            bound[k] = true;
            bind_names[n_bind] = names[k];
            bind_vals[n_bind++] = vals[k];
        }
    }
    ptq_import_options io = {.n_bind = n_bind, .bind_names = bind_names, .bind_values = bind_vals};
    ptq_error err = {0};
    bool ok = false;
    ptq_exec *ex = NULL;
    ptq_graph *g = ptq_onnx_load_buffer(model, model_len, c->name, &io, &err);
    if (!g) {
        snprintf(c->detail, sizeof c->detail, "import: %.500s", err.msg);
        goto out;
    }
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = 1;
    eo.threads = 2;
    ex = ptq_exec_new(g, &eo, &err);
    if (!ex) {
        snprintf(c->detail, sizeof c->detail, "plan: %.500s", err.msg);
        goto out;
    }
    for (int k = 0; k < n_in; k++) {
        if (bound[k]) continue;
        int32_t id = -1;
        for (int32_t i = 0; i < g->n_inputs; i++)
            if (!strcmp(g->values[g->inputs[i]].name, names[k])) id = g->inputs[i];
        if (id < 0) continue; /* an input nothing reads after folding */
        const ptq_value *v = &g->values[id];
        bool same = v->ndim == vals[k]->ndim;
        for (int32_t d = 0; same && d < v->ndim; d++)
            same = v->ne[d] == vals[k]->ne[d] || (d == 0 && v->ne[d] == PTQ_DIM_BATCH);
        if (!same) {
            snprintf(c->detail, sizeof c->detail, "input '%s' data does not match its declared shape",
                     names[k]);
            goto out;
        }
        ptq_exec_bind(ex, id, vals[k]->data);
    }
    if (ptq_exec_run(ex, 1, &err)) {
        snprintf(c->detail, sizeof c->detail, "run: %.500s", err.msg);
        goto out;
    }
    for (int32_t o = 0; o < g->n_outputs; o++) {
        char p[1400];
        snprintf(p, sizeof p, "%s/output_%d.pb", set_dir, o);
        ptq_tensor *want = ptq_onnx_load_tensor(p, &err);
        if (!want) {
            snprintf(c->detail, sizeof c->detail, "expected output %d: %.500s", o, err.msg);
            goto out;
        }
        int32_t ndim;
        int64_t ne[PTQ_MAX_DIMS];
        int32_t id = g->outputs[o];
        ptq_exec_shape(ex, id, &ndim, ne);
        const void *got = ptq_exec_data(ex, id);
        ptq_dtype gdt = g->values[id].dtype;
        bool same = ndim == want->ndim && gdt == want->dtype && got;
        for (int32_t d = 0; same && d < ndim; d++) same = ne[d] == want->ne[d];
        if (!same) {
            char b1[160], b2[160];
            snprintf(c->detail, sizeof c->detail, "output %d: got %s %s, expected %s %s", o,
                     ptq_dtype_name(gdt), ptq_shape_str(ndim, ne, b1, sizeof b1),
                     ptq_dtype_name(want->dtype), ptq_shape_str(want->ndim, want->ne, b2, sizeof b2));
            ptq_tensor_free(want);
            goto out;
        }
        int64_t n = ptq_tensor_numel(want);
        for (int64_t i = 0; i < n; i++) {
            double a, b;
            if (gdt == PTQ_DTYPE_F32) {
                a = ((const float *)got)[i];
                b = ((const float *)want->data)[i];
            } else { /* integer outputs (folded constants) of their own type */
                a = int_elem(gdt, got, i);
                b = int_elem(want->dtype, want->data, i);
            }
            bool close = fabs(a - b) <= ATOL + RTOL * fabs(b) || (isnan(a) && isnan(b)) ||
                         (isinf(a) && a == b);
            if (!close) {
                snprintf(c->detail, sizeof c->detail, "output %d element %lld: got %.8g, expected %.8g",
                         o, (long long)i, a, b);
                ptq_tensor_free(want);
                goto out;
            }
        }
        ptq_tensor_free(want);
    }
    ok = true;
out:
    ptq_exec_free(ex);
    ptq_graph_free(g);
    for (int k = 0; k < n_in; k++) ptq_tensor_free(vals[k]);
    return ok;
}

START_TEST(test_case_run) {
    test_case *c = &cases[_i];
    const char *why = skip_reason(c->name);
    if (why) {
        c->status = 2;
        snprintf(c->detail, sizeof c->detail, "%s", why);
        return;
    }
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/%s", data_dir, c->name);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    size_t len;
    uint8_t *model = slurp(path, &len);
    ck_assert_ptr_nonnull(model);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, model);
    ck_assert_ptr_nonnull(mp);
    int sets = 0;
    bool ok = true;
    for (int s = 0; ok; s++) {
        char set_dir[1200];
        struct stat st;
        snprintf(set_dir, sizeof set_dir, "%s/test_data_set_%d", dir, s);
        if (stat(set_dir, &st) != 0) break;
        sets++;
        ok = run_data_set(c, model, len, mp->graph, set_dir);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    free(model);
    c->status = ok && sets > 0 ? 0 : 1;
    ck_assert_msg(c->status == 0, "%s: %s", c->name, sets ? c->detail : "no test data");
}
END_TEST

static void print_table(void) {
    /* One row per op type, in first-seen (alphabetical by case) order. */
    char ops[128][64];
    int n_ops = 0, tot[3] = {0};
    for (int i = 0; i < n_cases; i++) {
        bool seen = false;
        for (int k = 0; k < n_ops; k++) seen |= !strcmp(ops[k], cases[i].op);
        if (!seen && n_ops < 128) snprintf(ops[n_ops++], 64, "%s", cases[i].op);
    }
    printf("\nONNX conformance (%s), rtol %g atol %g\n", data_dir, RTOL, ATOL);
    printf("%-22s %7s %7s %7s\n", "op", "passed", "failed", "skipped");
    for (int k = 0; k < n_ops; k++) {
        int cnt[3] = {0};
        for (int i = 0; i < n_cases; i++)
            if (!strcmp(cases[i].op, ops[k])) cnt[cases[i].status]++;
        printf("%-22s %7d %7d %7d\n", ops[k], cnt[0], cnt[1], cnt[2]);
        for (int s = 0; s < 3; s++) tot[s] += cnt[s];
    }
    printf("%-22s %7d %7d %7d\n", "total", tot[0], tot[1], tot[2]);
    for (int i = 0; i < n_cases; i++)
        if (cases[i].status) printf("  %s %s: %s\n", cases[i].status == 1 ? "FAILED " : "skipped",
                                    cases[i].name, cases[i].detail);
    printf("conformance: %d passed, %d failed, %d skipped\n", tot[0], tot[1], tot[2]);
}

int main(int argc, char **argv) {
    data_dir = argc > 1 ? argv[1] : "/usr/share/libonnx-testdata/data/node";
    load_skips(argc > 2 ? argv[2] : SKIPS_FILE);
    discover();
    Suite *s = suite_create("onnx-conformance");
    TCase *tc = tcase_create("node");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_case_run, 0, n_cases);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* In-process, so the results land in cases[] for the table. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    print_table();
    free(cases);
    return failed ? 1 : 0;
}
