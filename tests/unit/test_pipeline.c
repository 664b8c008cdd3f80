/* test_pipeline.c — the pipeline file loader: schema, messages, implicit passes, printing.
 *
 * Every pipeline is written by the test itself to a temporary file, so each expected
 * "file:line:column" is known exactly.  Passes beyond the built-in ones come from a fake
 * plugin appended to a real registry: it has parameters of every type and declares
 * reads and writes, so validation and the dependency check can be exercised without
 * building a .so. */
#define _DEFAULT_SOURCE /* mkdtemp, realpath */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ab/ab.h"
#include "pipeline/pipeline.h"
#include "pipeline/variants.h"
#include "quant/session.h" /* ptq_calibrate_params */
#include "testutil.h"

/* ============================================================ the fake plugin ===== */

typedef struct tune_params {
    int32_t flag;
    int64_t iterations;
    double lr;
    int32_t mode;
    const char *tag;
} tune_params;

static const char *const mode_choices[] = {"fast", "exact", "auto", NULL};

static const ptq_param_def tune_defs[] = {
    {"flag", PTQ_PARAM_BOOL, 0, offsetof(tune_params, flag), 0, 1, 1, NULL, NULL, "a switch"},
    {"iterations", PTQ_PARAM_INT, 0, offsetof(tune_params, iterations), 1, 1e6, 1000, NULL, NULL,
     "optimisation steps"},
    {"lr", PTQ_PARAM_FLOAT, 0, offsetof(tune_params, lr), 0, 1, 1e-3, NULL, NULL, "learning rate"},
    {"mode", PTQ_PARAM_ENUM, 0, offsetof(tune_params, mode), 0, 0, 1, NULL, mode_choices, "how"},
    {"tag", PTQ_PARAM_STRING, 0, offsetof(tune_params, tag), 0, 0, 0, "none", NULL, "a label"},
    {0}};

typedef struct recon_params {
    const char *target;
    int64_t blocks;
} recon_params;

static const ptq_param_def recon_defs[] = {
    {"target", PTQ_PARAM_STRING, PTQ_PARAM_REQUIRED, offsetof(recon_params, target), 0, 0, 0, NULL,
     NULL, "what to reconstruct"},
    {"blocks", PTQ_PARAM_INT, 0, offsetof(recon_params, blocks), 0, 64, 4, NULL, NULL, "blocks"},
    {0}};

static ptq_status fake_run(const ptq_host *host, ptq_session *s, const void *params) {
    (void)host, (void)s, (void)params;
    return PTQ_OK;
}

static const char *const reads_qw[] = {"quant.weights", NULL};
static const char *const reads_groups[] = {"fake.groups", NULL};
static const char *const reads_nothing[] = {"fake.nothing", NULL};
static const char *const writes_tuned[] = {"fake.tuned", NULL};
static const char *const writes_groups[] = {"fake.groups", NULL};
static const char *const writes_calib[] = {"calib.data", NULL};
static const char *const writes_acts[] = {"quant.activations", NULL};

static const ptq_pass_def fake_tune = {sizeof(ptq_pass_def), "fake.tune", "reads quantizers",
                                       tune_defs, sizeof(tune_params), reads_qw, NULL,
                                       writes_tuned, fake_run, NULL};
static const ptq_pass_def fake_group = {sizeof(ptq_pass_def), "fake.group", "makes groups", NULL,
                                        0, NULL, NULL, writes_groups, fake_run, NULL};
static const ptq_pass_def fake_recon = {sizeof(ptq_pass_def), "fake.recon", "needs groups",
                                        recon_defs, sizeof(recon_params), reads_groups, NULL, NULL,
                                        fake_run, NULL};
static const ptq_pass_def fake_orphan = {sizeof(ptq_pass_def), "fake.orphan", "needs nothing made",
                                         NULL, 0, reads_nothing, NULL, NULL, fake_run, NULL};
static const ptq_pass_def fake_synth = {sizeof(ptq_pass_def), "fake.synth", "makes images", NULL,
                                        0, NULL, NULL, writes_calib, fake_run, NULL};
static const ptq_pass_def fake_ranges = {sizeof(ptq_pass_def), "fake.ranges",
                                         "sets activation ranges without data", NULL, 0, NULL,
                                         reads_qw, writes_acts, fake_run, NULL};

/* Invalidation (SDK 0.4): a weight rewrite, an activation-only change, a learner. */
static const char *const inv_weights[] = {"quant.weights", "quant.activations", "quant.rounding",
                                          NULL};
static const char *const inv_acts[] = {"quant.activations", NULL};
static const char *const writes_rounding[] = {"quant.rounding", NULL};
static const ptq_pass_def fake_rewrite = {sizeof(ptq_pass_def), "fake.rewrite", "rewrites weights",
                                          NULL, 0, NULL, NULL, NULL, fake_run, inv_weights};
static const ptq_pass_def fake_shift = {sizeof(ptq_pass_def), "fake.shift", "shifts activations",
                                        NULL, 0, NULL, NULL, NULL, fake_run, inv_acts};
static const ptq_pass_def fake_learn = {sizeof(ptq_pass_def), "fake.learn", "learns rounding",
                                        NULL, 0, reads_qw, NULL, writes_rounding, fake_run, NULL};
/* A 0.3-layout definition: its `invalidates` lies beyond struct_size and must be ignored. */
static const ptq_pass_def fake_old = {(uint32_t)PTQ_PASS_DEF_SIZE_0_1, "fake.old", "0.3 layout",
                                      NULL, 0, NULL, NULL, NULL, fake_run, inv_weights};

static const ptq_pass_def *const fake_passes[] = {&fake_tune,  &fake_group,   &fake_recon,
                                                  &fake_orphan, &fake_synth,  &fake_ranges,
                                                  &fake_rewrite, &fake_shift, &fake_learn,
                                                  &fake_old, NULL};

static const ptq_plugin_desc fake_desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc),
                                          PTQ_ABI_FINGERPRINT, "fake", "0.0.1", "test passes",
                                          NULL, NULL, fake_passes};

/* The built-ins plus the fake plugin, registered the way plugin.c's add_desc does it.
 * The searched directories are replaced by a known list (NULL: none). */
static ptq_registry *g_reg;

static void set_searched(ptq_registry *r, const char *dir) {
    for (int32_t i = 0; i < r->n_searched; i++) free(r->searched[i]);
    free(r->searched);
    r->searched = NULL;
    r->n_searched = 0;
    if (dir) {
        r->searched = malloc(sizeof *r->searched);
        ck_assert_ptr_nonnull(r->searched);
        r->searched[0] = strdup(dir);
        r->n_searched = 1;
    }
}

static void setup(void) {
    ptq_error err = {0};
    g_reg = ptq_registry_load(NULL, &err);
    ck_assert_msg(g_reg != NULL, "%s", err.msg);
    ptq_loaded_plugin *pl = realloc(g_reg->plugins, ((size_t)g_reg->n_plugins + 1) * sizeof *pl);
    ck_assert_ptr_nonnull(pl);
    g_reg->plugins = pl;
    pl[g_reg->n_plugins++] = (ptq_loaded_plugin){strdup("(test)"), NULL, &fake_desc};
    int32_t np = 0;
    while (fake_passes[np]) np++;
    const ptq_pass_def **ps = realloc(g_reg->passes, ((size_t)g_reg->n_passes + np) * sizeof *ps);
    ck_assert_ptr_nonnull(ps);
    g_reg->passes = ps;
    for (int32_t i = 0; i < np; i++) ps[g_reg->n_passes++] = fake_passes[i];
    set_searched(g_reg, NULL);
}

static void teardown(void) {
    ptq_registry_free(g_reg);
    g_reg = NULL;
}

/* ============================================================ helpers ============= */

static const char *write_yaml(const char *text) {
    return test_write_temp(text, strlen(text), ".yaml");
}

static ptq_pipeline *load_ok_path(const char *path) {
    ptq_error err = {0};
    ptq_pipeline *p = ptq_pipeline_load(path, g_reg, &err);
    ck_assert_msg(p != NULL, "refused: %s", err.msg);
    ck_assert_int_eq(err.status, PTQ_OK);
    return p;
}

static ptq_pipeline *load_ok(const char *text) { return load_ok_path(write_yaml(text)); }

/* The load must fail with `status` and "FILE:LINE:COLUMN: msg" (msg exactly, or only
 * contained in the rest when !exact). */
static void refused_at(const char *text, ptq_status status, int line, int col, const char *msg,
                       bool exact) {
    const char *path = write_yaml(text);
    ptq_error err = {0};
    ptq_pipeline *p = ptq_pipeline_load(path, g_reg, &err);
    ck_assert_msg(p == NULL, "accepted:\n%s", text);
    char want[512];
    snprintf(want, sizeof want, "%s:%d:%d: ", path, line, col);
    ck_assert_msg(!strncmp(err.msg, want, strlen(want)), "message '%s' should start with '%s'",
                  err.msg, want);
    const char *rest = err.msg + strlen(want);
    if (exact)
        ck_assert_msg(!strcmp(rest, msg), "message\n  '%s'\nexpected\n  '%s'", rest, msg);
    else
        ck_assert_msg(strstr(rest, msg) != NULL, "message '%s' should contain '%s'", rest, msg);
    ck_assert_msg(err.status == status, "status %d (%s), expected %d", err.status, err.msg,
                  status);
}

#define REFUSED(text, line, col, msg) refused_at(text, PTQ_ERR_INVALID, line, col, msg, true)
#define REFUSED_HAS(text, line, col, msg) refused_at(text, PTQ_ERR_INVALID, line, col, msg, false)

static const char *pass_name(const ptq_pipeline *p, int32_t i) {
    ck_assert_int_lt(i, p->n_passes);
    return p->passes[i].def->name;
}

/* The pass list as "name,name*,..." (* marks an implicit pass), for one-line asserts. */
static const char *plan_str(const ptq_pipeline *p) {
    static char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < p->n_passes; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s%s", i ? "," : "",
                                pass_name(p, i), p->passes[i].implicit ? "*" : "");
    return buf;
}

/* Minimal valid head: most error cases append to it. */
#define HEAD "model: m.onnx\ncalibration: {images: c.gz}\n"

/* ============================================================ valid files ========= */

static const char *const FULL =
    "# a complete pipeline\n"
    "model: /models/resnet20.onnx\n"
    "calibration:\n"
    "  images: /data/train-images.gz\n"
    "  labels: /data/train-labels.gz\n"
    "  count: 512\n"
    "  offset: 7\n"
    "  sample: no\n"
    "  normalize: {mean: [0.5, 0.25, 0.125], std: 0.5}\n"
    "evaluation:\n"
    "  images: /data/test-images.gz\n"
    "  labels: /data/test-labels.gz\n"
    "  count: 100\n"
    "  normalize: {mean: 0.286, std: [0.353]}\n"
    "quantization:\n"
    "  weights: {bits: 4, granularity: tensor, symmetric: false, observer: mse}\n"
    "  activations: {bits: 6, observer: percentile, percentile: 99.9, symmetric: true}\n"
    "  input: off\n"
    "  output: yes\n"
    "  overrides:\n"
    "    - nodes: [first, last]\n"
    "      weights: {bits: 8}\n"
    "      activations: {bits: 8, observer: kl}\n"
    "    - nodes: \"conv 3\"\n"
    "      float: true\n"
    "    - nodes: [fc]\n"
    "      weights: {bits: 32, granularity: channel}\n"
    "passes:\n"
    "  - fake.group:\n"
    "  - fake.tune: {iterations: 20, lr: 0.5, mode: auto,\n"
    "                tag: \"a \\\"quoted\\\" tag\", flag: off}\n"
    "  - fake.recon: {target: blocks}\n"
    "output: {dir: out/here, onnx: false, name: q.onnx}\n"
    "seed: 42\n"
    "batch: 64\n"
    "threads: 3\n";

static void check_full(const ptq_pipeline *p) {
    ck_assert_str_eq(p->model, "/models/resnet20.onnx");
    const ptq_dataset_cfg *c = &p->calibration, *e = &p->evaluation;
    ck_assert(c->present && e->present);
    ck_assert_str_eq(c->images, "/data/train-images.gz");
    ck_assert_str_eq(c->labels, "/data/train-labels.gz");
    ck_assert_int_eq(c->count, 512);
    ck_assert_int_eq(c->offset, 7);
    ck_assert(!c->sample);
    ck_assert_int_eq(c->n_mean, 3);
    ck_assert(c->mean[0] == 0.5f && c->mean[1] == 0.25f && c->mean[2] == 0.125f);
    ck_assert_int_eq(c->n_std, 1);
    ck_assert(c->std[0] == 0.5f);
    ck_assert_str_eq(e->images, "/data/test-images.gz");
    ck_assert_str_eq(e->labels, "/data/test-labels.gz");
    ck_assert_int_eq(e->count, 100);
    ck_assert_int_eq(e->offset, 0);
    ck_assert(!e->sample); /* evaluation default */
    ck_assert(e->n_mean == 1 && e->mean[0] == 0.286f && e->n_std == 1 && e->std[0] == 0.353f);

    ck_assert_int_eq(p->quant.weights.bits, 4);
    ck_assert(!p->quant.weights.per_channel && !p->quant.weights.symmetric);
    ck_assert_int_eq(p->quant.weights.observer, PTQ_OBSERVER_MSE);
    ck_assert(p->quant.weights.percentile == 99.99f);
    ck_assert_int_eq(p->quant.activations.bits, 6);
    ck_assert(!p->quant.activations.per_channel && p->quant.activations.symmetric);
    ck_assert_int_eq(p->quant.activations.observer, PTQ_OBSERVER_PERCENTILE);
    ck_assert(p->quant.activations.percentile == 99.9f);
    ck_assert(p->quant.quantize_weights && p->quant.quantize_activations);
    ck_assert(!p->quant.quantize_input && p->quant.quantize_output);

    ck_assert_int_eq(p->quant.n_overrides, 3);
    const ptq_override *o = p->quant.overrides;
    ck_assert_int_eq(o[0].n_nodes, 2);
    ck_assert_str_eq(o[0].nodes[0], "first");
    ck_assert_str_eq(o[0].nodes[1], "last");
    ck_assert_uint_eq(o[0].w_fields, PTQ_QF_BITS);
    ck_assert_int_eq(o[0].w.bits, 8);
    ck_assert_uint_eq(o[0].a_fields, PTQ_QF_BITS | PTQ_QF_OBSERVER);
    ck_assert_int_eq(o[0].a.bits, 8);
    ck_assert_int_eq(o[0].a.observer, PTQ_OBSERVER_KL);
    ck_assert(!o[0].keep_float);
    ck_assert_int_eq(o[1].n_nodes, 1);
    ck_assert_str_eq(o[1].nodes[0], "conv 3");
    ck_assert(o[1].keep_float && !o[1].w_fields && !o[1].a_fields);
    ck_assert_uint_eq(o[2].w_fields, PTQ_QF_BITS | PTQ_QF_GRANULARITY);
    ck_assert_int_eq(o[2].w.bits, 32);
    ck_assert(o[2].w.per_channel);

    ck_assert_str_eq(p->out_dir, "out/here");
    ck_assert(!p->export_onnx);
    ck_assert_str_eq(p->onnx_name, "q.onnx");
    ck_assert_uint_eq(p->seed, 42);
    ck_assert_int_eq(p->batch, 64);
    ck_assert_int_eq(p->threads, 3);
}

static void check_full_passes(const ptq_pipeline *p) {
    ck_assert_str_eq(plan_str(p), "core.fold_bn*,fake.group,core.calibrate*,fake.tune,fake.recon");
    const tune_params *t = p->passes[3].params;
    ck_assert_int_eq(t->flag, 0);
    ck_assert_int_eq(t->iterations, 20);
    ck_assert(t->lr == 0.5);
    ck_assert_int_eq(t->mode, 2);
    ck_assert_str_eq(t->tag, "a \"quoted\" tag");
    const recon_params *r = p->passes[4].params;
    ck_assert_str_eq(r->target, "blocks");
    ck_assert_int_eq(r->blocks, 4);
    const ptq_calibrate_params *cp = p->passes[2].params;
    ck_assert(cp->images == 0 && cp->weights == 1 && cp->activations == 1);
}

START_TEST(full_file) {
    ptq_pipeline *p = load_ok(FULL);
    check_full(p);
    check_full_passes(p);
    ck_assert_int_eq(p->passes[1].pos.line, 29);
    ck_assert_int_eq(p->passes[1].pos.column, 5);
    ck_assert_int_eq(p->calibration.pos.line, 3);
    ck_assert_int_eq(p->quant.overrides[1].pos.line, 24);
    ck_assert_int_eq(p->quant.overrides[1].pos.column, 7);
    ptq_pipeline_free(p);
}
END_TEST

START_TEST(defaults) {
    ptq_pipeline *p = load_ok("model: /m/x.onnx\ncalibration: {images: /c.gz}\n");
    ck_assert(p->calibration.present && !p->evaluation.present);
    ck_assert_int_eq(p->calibration.count, 1024);
    ck_assert_int_eq(p->calibration.offset, 0);
    ck_assert(p->calibration.sample);
    ck_assert_ptr_null(p->calibration.labels);
    ck_assert(p->calibration.n_mean == 0 && p->calibration.n_std == 0); /* no /m/x.json */
    ck_assert_int_eq(p->quant.weights.bits, 8);
    ck_assert(p->quant.weights.per_channel && p->quant.weights.symmetric);
    ck_assert_int_eq(p->quant.weights.observer, PTQ_OBSERVER_MINMAX);
    ck_assert(p->quant.weights.percentile == 99.99f);
    ck_assert_int_eq(p->quant.activations.bits, 8);
    ck_assert(!p->quant.activations.per_channel && !p->quant.activations.symmetric);
    ck_assert(p->quant.quantize_weights && p->quant.quantize_activations && p->quant.quantize_input);
    ck_assert(!p->quant.quantize_output);
    ck_assert_int_eq(p->quant.n_overrides, 0);
    ck_assert(p->export_onnx);
    ck_assert_str_eq(p->onnx_name, "model.qdq.onnx");
    ck_assert_uint_eq(p->seed, 0);
    ck_assert_int_eq(p->batch, 256);
    ck_assert_int_eq(p->threads, 0);
    /* runs/<file name without .yaml>, relative to the working directory */
    const char *base = strrchr(p->path, '/') + 1;
    char want[256];
    snprintf(want, sizeof want, "runs/%.*s", (int)(strlen(base) - 5), base);
    ck_assert_str_eq(p->out_dir, want);
    ck_assert_str_eq(plan_str(p), "core.fold_bn*,core.calibrate*");
    ptq_pipeline_free(p);

    /* evaluation defaults differ: all images, in order */
    p = load_ok("model: /m.onnx\nevaluation: {images: /t.gz, labels: /l.gz}\n"
                "quantization: {activations: {bits: 32}}\n");
    ck_assert_int_eq(p->evaluation.count, 0);
    ck_assert(!p->evaluation.sample);
    ck_assert(p->quant.quantize_weights && !p->quant.quantize_activations);
    ck_assert_int_eq(p->quant.activations.bits, 32);
    ck_assert_str_eq(plan_str(p), "core.fold_bn*,core.calibrate*");
    ptq_pipeline_free(p);

    /* nothing quantized: no calibration needed, none inserted */
    p = load_ok("model: /m.onnx\nquantization:\n  weights: {bits: 32}\n  activations: {bits: 32}\n"
                "passes:\n");
    ck_assert(!p->quant.quantize_weights && !p->quant.quantize_activations);
    ck_assert_str_eq(plan_str(p), "core.fold_bn*");
    ptq_pipeline_free(p);
}
END_TEST

START_TEST(scalar_forms) {
    ptq_pipeline *p = load_ok("model: /m.onnx\ncalibration: {images: /c, sample: ON, count: +5}\n"
                              "quantization: {input: False, output: Yes}\n"
                              "passes: ~\nseed: 9223372036854775807\n");
    ck_assert(p->calibration.sample);
    ck_assert_int_eq(p->calibration.count, 5);
    ck_assert(!p->quant.quantize_input && p->quant.quantize_output);
    ck_assert_uint_eq(p->seed, 9223372036854775807ull);
    ptq_pipeline_free(p);
    /* an anchor and alias are the same value */
    p = load_ok("model: /m.onnx\ncalibration: {images: &img /c.gz}\n"
                "evaluation: {images: *img, labels: /l}\n");
    ck_assert_str_eq(p->evaluation.images, "/c.gz");
    ptq_pipeline_free(p);
}
END_TEST

/* ============================================================ paths =============== */

START_TEST(relative_paths) {
    char tmpl[] = "/tmp/ptq-pipeline-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    char *dir = realpath(tmpl, NULL);
    ck_assert_ptr_nonnull(dir);
    char sub[512], yaml[600], want[700];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(yaml, sizeof yaml, "%s/p.yaml", sub);
    const char *text = "model: ../m.onnx\n"
                       "calibration: {images: ./data/c.gz, labels: data/../l.gz}\n"
                       "evaluation: {images: /abs/t.gz, labels: ../../x/l.gz}\n"
                       "quantization: {activations: {bits: 32}}\n"
                       "output: {dir: rel/out}\n";
    FILE *f = fopen(yaml, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);

    /* Loaded by a relative path from elsewhere: resolved against the file's directory. */
    char *cwd = getcwd(NULL, 0);
    ck_assert_int_eq(chdir(dir), 0);
    ptq_pipeline *p = load_ok_path("sub/p.yaml");
    snprintf(want, sizeof want, "%s/m.onnx", dir);
    ck_assert_str_eq(p->model, want);
    snprintf(want, sizeof want, "%s/data/c.gz", sub);
    ck_assert_str_eq(p->calibration.images, want);
    snprintf(want, sizeof want, "%s/data/../l.gz", sub);
    ck_assert_str_eq(p->calibration.labels, want);
    ck_assert_str_eq(p->evaluation.images, "/abs/t.gz");
    char *parent = strdup(dir);
    *strrchr(parent, '/') = '\0';
    snprintf(want, sizeof want, "%s/x/l.gz", *parent ? parent : "");
    ck_assert_str_eq(p->evaluation.labels, want);
    ck_assert_str_eq(p->out_dir, "rel/out"); /* the output stays relative to the CWD */
    ptq_pipeline_free(p);
    ck_assert_int_eq(chdir(cwd), 0);
    unlink(yaml);
    rmdir(sub);
    rmdir(dir);
    free(parent);
    free(cwd);
    free(dir);
}
END_TEST

START_TEST(sidecar_normalization) {
    const char *json = "{\n \"arch\": \"x\",\n \"mean\": 0.286,\n \"std\": [0.353, 0.5]\n}\n";
    const char *jpath = test_write_temp(json, strlen(json), ".json");
    char model[256], text[600];
    snprintf(model, sizeof model, "%.*s.onnx", (int)(strlen(jpath) - 5), jpath);
    snprintf(text, sizeof text, "model: %s\ncalibration: {images: /c}\n"
             "evaluation: {images: /t, labels: /l, normalize: {mean: 0.5}}\n", model);
    ptq_pipeline *p = load_ok(text);
    ck_assert(p->calibration.n_mean == 1 && p->calibration.mean[0] == 0.286f);
    ck_assert(p->calibration.n_std == 2 && p->calibration.std[0] == 0.353f &&
              p->calibration.std[1] == 0.5f);
    /* an explicit normalize wins, even a partial one */
    ck_assert(p->evaluation.n_mean == 1 && p->evaluation.mean[0] == 0.5f);
    ck_assert_int_eq(p->evaluation.n_std, 0);
    ptq_pipeline_free(p);
}
END_TEST

/* A real fixture next to the sources: the bundled model's sidecar gives normalization. */
START_TEST(fixture_file) {
    ptq_pipeline *p = load_ok_path(PTQ_SOURCE_DIR "/tests/data/pipelines/resnet20_w8a8.yaml");
    char *want = realpath(PTQ_SOURCE_DIR "/models/resnet20_fmnist.onnx", NULL);
    ck_assert_ptr_nonnull(want);
    ck_assert_str_eq(p->model, want);
    free(want);
    ck_assert(p->calibration.n_mean == 1 && p->calibration.mean[0] == 0.286f);
    ck_assert(p->evaluation.n_std == 1 && p->evaluation.std[0] == 0.353f);
    ck_assert_str_eq(p->out_dir, "runs/resnet20_w8a8");
    ck_assert_str_eq(plan_str(p), "core.fold_bn*,core.calibrate");
    ptq_pipeline_free(p);
}
END_TEST

/* ============================================================ schema errors ======= */

START_TEST(unknown_keys) {
    REFUSED(HEAD "calibraton:\n  images: x\n", 3, 1,
            "unknown key 'calibraton' (did you mean 'calibration'?)");
    REFUSED("model: m.onnx\ncalibration:\n  images: x\n  cuont: 5\n", 4, 3,
            "unknown key 'cuont' (did you mean 'count'?)");
    REFUSED(HEAD "quantization:\n  weights: {bits: 4, observr: mse}\n", 4, 22,
            "unknown key 'observr' (did you mean 'observer'?)");
    REFUSED(HEAD "quantization:\n  overrides:\n    - nodes: [a]\n      flaot: true\n", 6, 7,
            "unknown key 'flaot' (did you mean 'float'?)");
    REFUSED(HEAD "output: {dri: x}\n", 3, 10, "unknown key 'dri' (did you mean 'dir'?)");
    REFUSED(HEAD "calibration: {images: x, normalize: {mean: 1, sdt: 2}}\n", 3, 1,
            "duplicate key 'calibration' (first given at line 2)");
    REFUSED("model: m.onnx\ncalibration: {images: x, normalize: {mean: 1, sdt: 2}}\n", 2, 47,
            "unknown key 'sdt' (did you mean 'std'?)");
    /* nothing close: the valid keys are listed */
    REFUSED(HEAD "colour: red\n", 3, 1,
            "unknown key 'colour' (valid keys: model, calibration, evaluation, quantization, "
            "passes, output, seed, batch, threads, variants, input_shape)");
    REFUSED(HEAD "Model: x\n", 3, 1, "unknown key 'Model' (did you mean 'model'?)");
    REFUSED(HEAD "[a]: 1\n", 3, 1, "expected a key name, got a list");
}
END_TEST

START_TEST(missing_keys) {
    REFUSED("calibration: {images: x}\n", 1, 1, "missing required key 'model'");
    REFUSED("model: m.onnx\ncalibration: {count: 3}\n", 2, 1,
            "missing required key 'images' in 'calibration'");
    /* evaluation without labels is fidelity to the float model; 'fidelity' is its key only */
    REFUSED("model: m.onnx\ncalibration: {images: c.gz, fidelity: true}\n", 2, 29,
            "'fidelity' applies to the evaluation section (the quantized model against the "
            "float one)");
    REFUSED(HEAD "quantization:\n  overrides:\n    - weights: {bits: 4}\n", 5, 7,
            "missing required key 'nodes' in 'overrides'");
    REFUSED(HEAD "quantization:\n  overrides:\n    - nodes: x\n", 5, 7,
            "this override changes nothing: give 'weights', 'activations' or 'float'");
    REFUSED(HEAD "quantization:\n  overrides:\n    - nodes: []\n      float: true\n", 5, 14,
            "'nodes' is empty: name at least one node");
}
END_TEST

/* An evaluation set without labels loads (fidelity only); 'fidelity: true' is kept and
 * written back into the resolved plan so pipeline.yaml reruns the same. */
START_TEST(evaluation_fidelity_key) {
    ptq_pipeline *p = load_ok(HEAD "evaluation: {images: t.npy}\n");
    ck_assert(p->evaluation.present && !p->evaluation.labels && !p->evaluation.fidelity);
    ptq_pipeline_free(p);
    p = load_ok(HEAD "evaluation: {images: t.npy, labels: l.npy, fidelity: true}\n");
    ck_assert(p->evaluation.labels && p->evaluation.fidelity);
    FILE *f = tmpfile();
    ptq_pipeline_print_as(p, "out", f);
    char buf[8192] = "";
    rewind(f);
    buf[fread(buf, 1, sizeof buf - 1, f)] = 0;
    fclose(f);
    ck_assert_msg(test_contains(buf, "  fidelity: true\n"), "%s", buf);
    ptq_pipeline_free(p);
    REFUSED_HAS(HEAD "evaluation: {images: t.npy, fidelity: 3}\n", 3, 39, "expected a boolean");
}
END_TEST

START_TEST(wrong_types) {
    REFUSED(HEAD "batch: abc\n", 3, 8, "expected an integer, got 'abc'");
    REFUSED(HEAD "batch: 12x\n", 3, 8, "expected an integer, got '12x'");
    REFUSED(HEAD "batch: 1.5\n", 3, 8, "expected an integer, got '1.5'");
    REFUSED(HEAD "seed: \"5\"\n", 3, 7, "expected an integer, got the quoted string '5'");
    REFUSED(HEAD "threads:\n", 3, 9, "expected an integer, got nothing");
    REFUSED("model: m.onnx\ncalibration: foo\n", 2, 14, "expected a mapping, got 'foo'");
    REFUSED("model: m.onnx\ncalibration: [a, b]\n", 2, 14, "expected a mapping, got a list");
    REFUSED("model: [a.onnx]\n", 1, 8, "expected a path, got a list");
    REFUSED("model: ~\n", 1, 8, "expected a path, got null");
    REFUSED(HEAD "output: {onnx: maybe}\n", 3, 16,
            "expected a boolean (true or false), got 'maybe'");
    REFUSED(HEAD "quantization:\n  weights: {percentile: high}\n", 4, 25,
            "expected a number, got 'high'");
    REFUSED(HEAD "quantization:\n  weights: {percentile: .nan}\n", 4, 25,
            "expected a number, got '.nan'");
    REFUSED(HEAD "quantization: [weights]\n", 3, 15, "expected a mapping, got a list");
    REFUSED(HEAD "quantization:\n  overrides: {nodes: a}\n", 4, 14,
            "expected a list of overrides, got a mapping");
    REFUSED(HEAD "quantization:\n  overrides:\n    - nodes: [a, {b: 1}]\n      float: true\n",
            5, 18, "expected a node name, got a mapping");
    REFUSED(HEAD "quantization:\n  weights: {observer: maxmin}\n", 4, 23,
            "'observer' = 'maxmin' is not one of: minmax, percentile, mse, kl");
    REFUSED(HEAD "quantization:\n  weights: {observer: mes}\n", 4, 23,
            "'observer' = 'mes' is not one of: minmax, percentile, mse, kl (did you mean 'mse'?)");
    REFUSED(HEAD "quantization:\n  weights: {granularity: layer}\n", 4, 26,
            "'granularity' = 'layer' is not one of: tensor, channel");
    REFUSED(HEAD "calibration2: 1\n", 3, 1,
            "unknown key 'calibration2' (did you mean 'calibration'?)");
    REFUSED(HEAD "output: {name: sub/m.onnx}\n", 3, 16,
            "'name' = 'sub/m.onnx' must be a plain file name (it is written inside 'dir')");
    REFUSED(HEAD "output: {dir: \"\"}\n", 3, 15, "expected a directory, got the quoted string ''");
    REFUSED("model: m.onnx\ncalibration: {images: x, normalize: {mean: [1, a]}}\n", 2, 48,
            "expected a number, got 'a'");
    REFUSED("model: m.onnx\ncalibration: {images: x, normalize: {mean: {a: 1}}}\n", 2, 44,
            "expected a number or a list of numbers, got a mapping");
}
END_TEST

START_TEST(out_of_range) {
    REFUSED(HEAD "quantization:\n  weights: {bits: 9}\n", 4, 19,
            "'bits' = 9 is not supported: use 2 to 8, 16, or 32 (keep float)");
    REFUSED(HEAD "quantization:\n  activations: {bits: 1}\n", 4, 23,
            "'bits' = 1 is not supported: use 2 to 8, 16, or 32 (keep float)");
    REFUSED(HEAD "quantization:\n  overrides:\n    - nodes: a\n      weights: {bits: 64}\n", 6,
            23, "'bits' = 64 is not supported: use 2 to 8, 16, or 32 (keep float)");
    REFUSED(HEAD "quantization:\n  weights: {bits: 99999999999999999999}\n", 4, 19,
            "'bits' = 99999999999999999999 is not supported: use 2 to 8, 16, or 32 (keep float)");
    REFUSED(HEAD "batch: 0\n", 3, 8, "'batch' = 0 is out of range [1, 65536]");
    REFUSED(HEAD "batch: 65537\n", 3, 8, "'batch' = 65537 is out of range [1, 65536]");
    REFUSED(HEAD "threads: 2000\n", 3, 10, "'threads' = 2000 is out of range [0, 1024]");
    REFUSED(HEAD "seed: -1\n", 3, 7, "'seed' = -1 is out of range [0, 9223372036854775807]");
    REFUSED(HEAD "seed: 9223372036854775808\n", 3, 7,
            "'seed' = 9223372036854775808 is out of range [0, 9223372036854775807]");
    REFUSED("model: m.onnx\ncalibration: {images: x, count: -5}\n", 2, 33,
            "'count' = -5 is out of range [0, 9223372036854775807]");
    /* The MSE search's options: the tensor kind and the observer they apply to. */
    REFUSED(HEAD "quantization:\n  weights: {observer: mse, images: 64}\n", 4, 28,
            "'images' applies to activations only: weights are observed in full, without data");
    REFUSED(HEAD "quantization:\n  weights: {bits: 4, p: 2.4}\n", 4, 12,
            "'p' sets the MSE search, but this quantizer's observer is minmax: add 'observer: mse'");
    REFUSED(HEAD "quantization:\n  activations: {observer: kl, search: shrink}\n", 4, 16,
            "'search' sets the MSE search, but this quantizer's observer is kl: add 'observer: mse'");
    REFUSED_HAS(HEAD "quantization:\n  activations: {observer: mse, p: 0.5}\n", 4, 35,
            "'p' = 0.5 is out of range [1, 8]");
    REFUSED(HEAD "quantization:\n  activations: {observer: mse, search: best}\n", 4, 40,
            "'search' = 'best' is not one of: auto, shrink (BRECQ), mqbench (QDrop/MQBench)");
    REFUSED_HAS(HEAD "quantization:\n  activations: {observer: mse, images: -1}\n", 4, 40,
            "'images' = -1 is out of range");
    REFUSED_HAS(HEAD "quantization:\n  placement: outputs\n", 4, 14,
            "'placement' = 'outputs' is not one of: deploy");
    REFUSED(HEAD "quantization:\n  activations: {percentile: 50}\n", 4, 29,
            "'percentile' = 50 is out of range (50, 100]");
    REFUSED(HEAD "quantization:\n  activations: {percentile: 100.5}\n", 4, 29,
            "'percentile' = 100.5 is out of range (50, 100]");
    REFUSED("model: m.onnx\ncalibration: {images: x, normalize: {std: [1, 0]}}\n", 2, 47,
            "'std' must be > 0, got 0");
    REFUSED("model: m.onnx\ncalibration: {images: x, normalize: {mean: [], std: 1}}\n", 2, 44,
            "'mean' needs 1 to 16 numbers, got an empty list");
    REFUSED("model: m.onnx\ncalibration: {images: x, normalize: {mean: [1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1]}}\n", 2, 77, "'mean' takes at most 16 numbers (one per channel)");
    REFUSED("model: m.onnx\ncalibration: {images: x, normalize: {mean: [1, 2, 3], std: [1, 2]}}\n",
            2, 55, "'std' has 2 values but 'mean' has 3 (give one value, or one per channel in "
            "both)");
    /* activations per channel: well-formed, not supported */
    refused_at(HEAD "quantization:\n  activations: {granularity: channel}\n", PTQ_ERR_UNSUPPORTED,
               4, 30, "per-channel activation quantization is not supported", true);
    refused_at(HEAD "quantization:\n  overrides:\n    - nodes: a\n      activations: "
               "{granularity: channel}\n", PTQ_ERR_UNSUPPORTED, 6, 34,
               "per-channel activation quantization is not supported", true);
}
END_TEST

/* ============================================================ passes ============== */

START_TEST(unknown_pass) {
    REFUSED(HEAD "passes:\n  - foo.bar: {}\n", 4, 5,
            "unknown pass 'foo.bar': no plugin 'foo' is loaded (no plugin directories found)");
    set_searched(g_reg, "/opt/ptq/plugins");
    REFUSED(HEAD "passes:\n  - foo.bar: {}\n", 4, 5,
            "unknown pass 'foo.bar': no plugin 'foo' is loaded; plugin directories searched: "
            "/opt/ptq/plugins");
    REFUSED(HEAD "passes:\n  - fak.tune: {}\n", 4, 5,
            "unknown pass 'fak.tune': no plugin 'fak' is loaded (did you mean 'fake.tune'?); "
            "plugin directories searched: /opt/ptq/plugins");
    /* a plugin file of that name that was refused is named */
    for (int32_t i = 0; i < g_reg->n_rejected; i++) free(g_reg->rejected[i]);
    free(g_reg->rejected);
    g_reg->rejected = malloc(sizeof *g_reg->rejected);
    ck_assert_ptr_nonnull(g_reg->rejected);
    g_reg->rejected[0] = strdup("/opt/ptq/plugins/zzq.so: built for plugin ABI 9.0.0");
    g_reg->n_rejected = 1;
    REFUSED_HAS(HEAD "passes:\n  - zzq.equalize: {}\n", 4, 5,
                "; a plugin file was refused: /opt/ptq/plugins/zzq.so: built for plugin ABI");
    REFUSED(HEAD "passes:\n  - core.calibrat: {}\n", 4, 5,
            "plugin 'core' has no pass 'calibrat' (did you mean 'core.calibrate'?)");
    REFUSED(HEAD "passes:\n  - core.quantize: {}\n", 4, 5,
            "plugin 'core' has no pass 'quantize' (its passes: core.fold_bn, core.calibrate)");
    REFUSED(HEAD "passes:\n  - calibrate: {}\n", 4, 5,
            "unknown pass 'calibrate': pass names have the form 'plugin.pass' (did you mean "
            "'core.calibrate'?)");
    REFUSED(HEAD "passes:\n  - fake.group\n", 4, 5,
            "expected '- plugin.pass: {params}', got 'fake.group' (write '- fake.group: {}' for "
            "the defaults)");
    REFUSED(HEAD "passes:\n  - fake.group:\n    fake.tune: {}\n", 5, 5,
            "one pass per list item: start a new item '- ...' for this one (or indent it under "
            "the pass as a parameter)");
    REFUSED(HEAD "passes:\n  - {}\n", 4, 5,
            "expected '- plugin.pass: {params}', got an empty mapping");
    REFUSED(HEAD "passes: {fake.group: {}}\n", 3, 9, "expected a list of passes, got a mapping");
}
END_TEST

START_TEST(pass_params) {
    REFUSED(HEAD "passes:\n  - fake.tune: {iterations: 0}\n", 4, 29,
            "'iterations' = 0 is out of range [1, 1000000]");
    REFUSED(HEAD "passes:\n  - fake.tune: {iterations: 1000001}\n", 4, 29,
            "'iterations' = 1000001 is out of range [1, 1000000]");
    REFUSED(HEAD "passes:\n  - fake.tune: {lr: 1.5}\n", 4, 21, "'lr' = 1.5 is out of range [0, 1]");
    REFUSED(HEAD "passes:\n  - fake.tune: {lr: fast}\n", 4, 21, "expected a number, got 'fast'");
    REFUSED(HEAD "passes:\n  - fake.tune: {iterations: 2.5}\n", 4, 29,
            "expected an integer, got '2.5'");
    REFUSED(HEAD "passes:\n  - fake.tune: {flag: 1}\n", 4, 23,
            "expected a boolean (true or false), got '1'");
    REFUSED(HEAD "passes:\n  - fake.tune: {mode: slow}\n", 4, 23,
            "'mode' = 'slow' is not one of: fast, exact, auto");
    REFUSED(HEAD "passes:\n  - fake.tune: {mode: fsat}\n", 4, 23,
            "'mode' = 'fsat' is not one of: fast, exact, auto (did you mean 'fast'?)");
    REFUSED(HEAD "passes:\n  - fake.tune: {tag: [a]}\n", 4, 22, "expected a string, got a list");
    REFUSED(HEAD "passes:\n  - fake.tune: {iteration: 5}\n", 4, 17,
            "unknown parameter 'iteration' of pass 'fake.tune' (did you mean 'iterations'?)");
    REFUSED(HEAD "passes:\n  - fake.tune: {speed: 5}\n", 4, 17,
            "unknown parameter 'speed' of pass 'fake.tune' (parameters: flag, iterations, lr, "
            "mode, tag)");
    REFUSED(HEAD "passes:\n  - fake.group: {size: 5}\n", 4, 18,
            "unknown parameter 'size': pass 'fake.group' takes no parameters");
    REFUSED(HEAD "passes:\n  - fake.tune: {lr: 0.1, lr: 0.2}\n", 4, 26,
            "duplicate key 'lr' (first given at line 4)");
    REFUSED(HEAD "passes:\n  - fake.tune: [1]\n", 4, 16,
            "expected a mapping of parameters ({} for none), got a list");
    REFUSED(HEAD "passes:\n  - fake.group: {}\n  - fake.recon: {blocks: 2}\n", 5, 5,
            "pass 'fake.recon' needs parameter 'target' (it has no default)");

    /* every type written at its offset; defaults for the rest */
    ptq_pipeline *p = load_ok(HEAD "passes:\n  - fake.tune: {lr: 0.25, tag: 123}\n"
                                   "  - fake.tune: {}\n");
    ck_assert_str_eq(plan_str(p), "core.fold_bn*,core.calibrate*,fake.tune,fake.tune");
    const tune_params *t = p->passes[2].params;
    ck_assert_int_eq(t->flag, 1);
    ck_assert_int_eq(t->iterations, 1000);
    ck_assert(t->lr == 0.25);
    ck_assert_int_eq(t->mode, 1);
    ck_assert_str_eq(t->tag, "123");
    t = p->passes[3].params;
    ck_assert(t->lr == 1e-3);
    ck_assert_str_eq(t->tag, "none");
    ck_assert_int_eq(p->passes[3].n_strings, 1);
    ptq_pipeline_free(p);
}
END_TEST

START_TEST(pass_dependencies) {
    REFUSED(HEAD "passes:\n  - fake.recon: {target: x}\n", 4, 5,
            "pass 'fake.recon' needs 'fake.groups', which no earlier pass produces (passes that "
            "produce it: fake.group)");
    REFUSED(HEAD "passes:\n  - fake.recon: {target: x}\n  - fake.group: {}\n", 4, 5,
            "pass 'fake.recon' needs 'fake.groups', which no earlier pass produces (passes that "
            "produce it: fake.group)");
    REFUSED(HEAD "passes:\n  - fake.orphan: {}\n", 4, 5,
            "pass 'fake.orphan' needs 'fake.nothing', which no earlier pass produces (no loaded "
            "plugin produces it)");
    /* core.fold_bn may be listed, but only first */
    REFUSED(HEAD "passes:\n  - fake.group: {}\n  - core.fold_bn: {}\n", 5, 5,
            "'core.fold_bn' must be the first pass (the others work on the model with batch "
            "normalization folded); it is inserted there when not listed");
    REFUSED(HEAD "passes:\n  - core.fold_bn:\n  - core.fold_bn:\n", 5, 5,
            "'core.fold_bn' must be the first pass (the others work on the model with batch "
            "normalization folded); it is inserted there when not listed");
}
END_TEST

START_TEST(implicit_passes) {
    struct {
        const char *passes, *plan;
    } cases[] = {
        {"", "core.fold_bn*,core.calibrate*"},
        /* calibrate before the first pass reading quant.*, after what comes before it */
        {"  - fake.group:\n  - fake.tune:\n  - fake.recon: {target: a}\n",
         "core.fold_bn*,fake.group,core.calibrate*,fake.tune,fake.recon"},
        /* no quant.* reader: calibrate appended at the end */
        {"  - fake.group:\n  - fake.recon: {target: a}\n",
         "core.fold_bn*,fake.group,fake.recon,core.calibrate*"},
        /* listed ones are kept where they are, not duplicated */
        {"  - core.fold_bn:\n  - fake.group:\n", "core.fold_bn,fake.group,core.calibrate*"},
        {"  - core.calibrate: {images: 64}\n  - fake.tune:\n",
         "core.fold_bn*,core.calibrate,fake.tune"},
        {"  - fake.tune:\n  - core.calibrate:\n  - fake.tune:\n",
         "core.fold_bn*,core.calibrate*,fake.tune,core.calibrate,fake.tune"},
        /* a reader of quant.* through reads_optional counts too */
        {"  - fake.ranges:\n", "core.fold_bn*,core.calibrate*,fake.ranges"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, HEAD "passes:\n%s", cases[i].passes);
        ptq_pipeline *p = load_ok(text);
        ck_assert_msg(!strcmp(plan_str(p), cases[i].plan), "case %zu: plan %s, expected %s", i,
                      plan_str(p), cases[i].plan);
        for (int32_t k = 0; k < p->n_passes; k++)
            ck_assert_msg(p->passes[k].params != NULL, "case %zu pass %d has no params", i, k);
        ptq_pipeline_free(p);
    }
    ptq_pipeline *p = load_ok(HEAD "passes:\n  - core.calibrate: {images: 64, weights: no}\n");
    const ptq_calibrate_params *cp = p->passes[1].params;
    ck_assert(cp->images == 64 && cp->weights == 0 && cp->activations == 1);
    ck_assert_int_eq(p->passes[1].pos.line, 4);
    ck_assert_int_eq(p->passes[1].pos.column, 5);
    ptq_pipeline_free(p);
}
END_TEST

START_TEST(invalidation) {
    struct {
        const char *passes, *plan;
        int32_t notes;
    } cases[] = {
        /* a rewrite after the implicit calibration: calibrated again before the next reader */
        {"  - fake.tune:\n  - fake.rewrite:\n  - fake.tune:\n",
         "core.fold_bn*,core.calibrate*,fake.tune,fake.rewrite,core.calibrate*,fake.tune", 2},
        /* ... or at the end */
        {"  - fake.tune:\n  - fake.rewrite:\n",
         "core.fold_bn*,core.calibrate*,fake.tune,fake.rewrite,core.calibrate*", 2},
        /* before any calibration it changes nothing in the plan */
        {"  - fake.rewrite:\n  - fake.learn:\n",
         "core.fold_bn*,fake.rewrite,core.calibrate*,fake.learn", 0},
        /* a 0.3 plugin declares nothing: nothing is inserted */
        {"  - fake.tune:\n  - fake.old:\n", "core.fold_bn*,core.calibrate*,fake.tune,fake.old", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, HEAD "passes:\n%s", cases[i].passes);
        ptq_pipeline *p = load_ok(text);
        ck_assert_msg(!strcmp(plan_str(p), cases[i].plan), "case %zu: plan %s, expected %s", i,
                      plan_str(p), cases[i].plan);
        ck_assert_msg(p->n_notes == cases[i].notes, "case %zu: %d notes", i, p->n_notes);
        for (int32_t k = 0; k < p->n_notes; k++)
            ck_assert_msg(strstr(p->notes[k], "'fake.rewrite' changes what the ranges of"),
                          "note: %s", p->notes[k]);
        ptq_pipeline_free(p);
    }
    /* only the activations went stale: the implicit calibration keeps the weight ranges */
    ptq_pipeline *p = load_ok(HEAD "passes:\n  - fake.tune:\n  - fake.shift:\n  - fake.tune:\n");
    /* fake.tune reads only quant.weights: the activations are recalibrated at the end */
    ck_assert_str_eq(plan_str(p), "core.fold_bn*,core.calibrate*,fake.tune,fake.shift,fake.tune,core.calibrate*");
    const ptq_calibrate_params *cp = p->passes[5].params;
    ck_assert(cp->weights == 0 && cp->activations == 1);
    ptq_pipeline_free(p);
    /* an explicit pass's result made stale: refused, naming both and the order that works */
    REFUSED(HEAD "passes:\n  - fake.learn:\n  - fake.rewrite:\n", 5, 5,
            "'fake.rewrite' makes stale what 'fake.learn' (line 4) produced before it: the "
            "learned weight rounding ('quant.rounding').  Put 'fake.rewrite' before 'fake.learn'");
    REFUSED(HEAD "passes:\n  - core.calibrate:\n  - fake.rewrite:\n", 5, 5,
            "'fake.rewrite' makes stale what 'core.calibrate' (line 4) produced before it: the "
            "weight ranges ('quant.weights'), the activation ranges ('quant.activations').  Put "
            "'fake.rewrite' before 'core.calibrate'");
    /* an explicit core.calibrate throwing away learned rounding */
    REFUSED(HEAD "passes:\n  - fake.learn:\n  - core.calibrate:\n", 5, 5,
            "'core.calibrate' makes stale what 'fake.learn' (line 4) produced before it: the "
            "learned weight rounding ('quant.rounding').  Put 'core.calibrate' before "
            "'fake.learn', or leave core.calibrate out (it is inserted where needed)");
    /* ... but not when it leaves the weights alone */
    ptq_pipeline_free(load_ok(HEAD "passes:\n  - fake.learn:\n  - core.calibrate: {weights: no}\n"));
}
END_TEST

/* Every problem of a file in one message, a line each, in file order. */
START_TEST(all_errors_at_once) {
    const char *text = "model: m.onnx\ncalibration: {images: /c.gz, cuont: 5}\n"
                       "quantization:\n  weights: {bits: 9}\n  activations: {observer: nosuch}\n"
                       "passes:\n  - fake.tune: {lr: 7}\n  - nosuch.pass: {}\nseed: abc\n";
    const char *path = write_yaml(text);
    ptq_error err = {0};
    ptq_pipeline *p = ptq_pipeline_load(path, g_reg, &err);
    ck_assert_ptr_null(p);
    const int lines[] = {2, 4, 5, 7, 8, 9};
    const char *at = err.msg;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char want[512];
        snprintf(want, sizeof want, "%s:%d:", path, lines[i]);
        ck_assert_msg(!strncmp(at, want, strlen(want)), "error %zu should start '%s': %s", i, want, at);
        const char *nl = strchr(at, '\n');
        ck_assert_msg(nl || i + 1 == sizeof lines / sizeof lines[0], "too few lines: %s", err.msg);
        at = nl ? nl + 1 : at + strlen(at);
    }
    ck_assert_msg(*at == '\0', "more errors than expected: %s", at);
    /* many errors: whole lines, and how many did not fit */
    char big[40000];
    size_t len = (size_t)snprintf(big, sizeof big, "model: m.onnx\npasses:\n");
    for (int i = 0; i < 200; i++) len += (size_t)snprintf(big + len, sizeof big - len, "  - no%d.pass: {}\n", i);
    memset(&err, 0, sizeof err);
    ck_assert_ptr_null(ptq_pipeline_load(write_yaml(big), g_reg, &err));
    ck_assert_msg(strstr(err.msg, "more errors)") != NULL, "no count of the rest: %.200s", err.msg);
}
END_TEST

START_TEST(activations_need_data) {
    const char *msg = "activations are quantized but the implicit core.calibrate has no "
                      "calibration data to set their ranges: add a 'calibration' dataset (or a "
                      "pass producing 'calib.data'), or keep activations in float with "
                      "'activations: {bits: 32}'";
    REFUSED("model: m.onnx\nquantization: {weights: {bits: 4}}\n", 2, 1, msg);
    REFUSED("seed: 1\nmodel: m.onnx\n", 2, 1, msg);
    REFUSED("model: m.onnx\npasses:\n  - core.calibrate: {}\n", 1, 1,
            "activations are quantized but core.calibrate has no calibration data to set their "
            "ranges: add a 'calibration' dataset (or a pass producing 'calib.data'), or keep "
            "activations in float with 'activations: {bits: 32}'");
    /* fine: data from a pass, ranges from a data-free pass, weights only, or told not to */
    const char *ok[] = {
        "model: m.onnx\npasses:\n  - fake.synth:\n",
        "model: m.onnx\npasses:\n  - core.calibrate: {activations: false}\n  - fake.ranges:\n"
        "  - core.calibrate:\n",
        "model: m.onnx\nquantization: {activations: {bits: 32}}\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) ptq_pipeline_free(load_ok(ok[i]));
}
END_TEST

/* ============================================================ malformed files ===== */

START_TEST(malformed_yaml) {
    REFUSED("model: m.onnx\ncalibration:\n\timages: x\n", 3, 1,
            "found character that cannot start any token (while scanning for the next token at "
            "3:1)");
    REFUSED("model: m.onnx\npasses: [a, b\nseed: 1\n", 3, 5,
            "did not find expected ',' or ']' (while parsing a flow sequence at 2:9)");
    REFUSED("model: m.onnx\n  seed: 1\n", 2, 7, "mapping values are not allowed in this context");
    REFUSED("model: \"m.onnx\n", 2, 1, "found unexpected end of stream (while scanning a quoted "
            "scalar at 1:8)");
    REFUSED("model: \xff\xfe\n", 1, 8, "invalid leading UTF-8 octet");
    REFUSED("model: m.onnx\n---\nmodel: n.onnx\n", 2, 1,
            "a second YAML document: a pipeline file holds one");
    REFUSED("model: *nowhere\n", 1, 8, "found undefined alias");
    /* deep nesting is refused early (libyaml would take seconds on the 50000 levels) */
    static char deep[50100];
    size_t n = (size_t)sprintf(deep, "model: m.onnx\nseed: ");
    for (int i = 0; i < 50000; i++) deep[n++] = i % 2 ? '[' : '{';
    deep[n] = '\0';
    REFUSED(deep, 2, 38, "nested deeper than 32 levels: not a pipeline");
}
END_TEST

START_TEST(not_a_pipeline) {
    REFUSED("", 1, 1, "the file is empty (a pipeline needs at least 'model')");
    REFUSED("# only a comment\n\n", 1, 1, "the file is empty (a pipeline needs at least 'model')");
    REFUSED("- model: m.onnx\n", 1, 1,
            "expected a mapping of pipeline keys (model, calibration, passes, ...), got a list");
    REFUSED("\n\nhello\n", 3, 1,
            "expected a mapping of pipeline keys (model, calibration, passes, ...), got 'hello'");
    ptq_error err = {0};
    ck_assert_ptr_null(ptq_pipeline_load("/nonexistent/dir/p.yaml", g_reg, &err));
    ck_assert_int_eq(err.status, PTQ_ERR_IO);
    ck_assert(test_contains(err.msg, "/nonexistent/dir/p.yaml: cannot open"));
    ptq_error err2 = {0};
    ck_assert_ptr_null(ptq_pipeline_load("/tmp", g_reg, &err2));
    ck_assert_int_eq(err2.status, PTQ_ERR_IO);
}
END_TEST

/* Hostile inputs: every one must be refused or accepted cleanly (ASan checks leaks and
 * bounds; the fork catches a crash). */
START_TEST(hostile_inputs) {
    const char *texts[] = {
        "model: m.onnx\nseed: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
        "model: m.onnx\ncalibration: &c {images: x, normalize: *c}\n",
        "model: m.onnx\nquantization:\n  overrides: &o [{nodes: *o, float: true}]\n",
        "model: m.onnx\npasses: &p [*p]\n",
        "model: m.onnx\npasses:\n  - &q fake.tune: *q\n",
        "model: \"m\\0.onnx\"\n",
        "\"mo\\0del\": m.onnx\n",
        "model: m.onnx\ncalibration: {images: x}\npasses:\n  - fake.tune: {tag: \"a\\0b\"}\n",
        "model: m.onnx\ncalibration: {images: x}\n? [a, b]\n: c\n",
        "model: m.onnx\ncalibration: {images: x}\nseed: !!binary aGVsbG8=\n",
        "%YAML 1.1\n---\nmodel: m.onnx\ncalibration: {images: x}\n...\n",
        "\xef\xbb\xbfmodel: m.onnx\ncalibration: {images: x}\n",
        "model: m.onnx\ncalibration: {images: x}\npasses:\n  - fake.tune: {tag: \"\\e[31mred\"}\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        ptq_error err = {0};
        ptq_pipeline *p = ptq_pipeline_load(write_yaml(texts[i]), g_reg, &err);
        ck_assert_msg(p != NULL || err.msg[0], "case %zu: refused without a message", i);
        for (const char *q = err.msg; *q; q++)
            ck_assert_msg((unsigned char)*q >= 0x20 || *q == '\n', /* one error per line */
                          "case %zu: control character in '%s'", i,
                          err.msg);
        if (p) {
            FILE *f = tmpfile();
            ptq_pipeline_print(p, f);
            fclose(f);
        }
        ptq_pipeline_free(p);
    }
}
END_TEST

/* ============================================================ printing ============ */

static void same_dataset(const ptq_dataset_cfg *a, const ptq_dataset_cfg *b) {
    ck_assert_int_eq(a->present, b->present);
    if (!a->present) return;
    ck_assert_str_eq(a->images, b->images);
    ck_assert_int_eq(a->labels != NULL, b->labels != NULL);
    if (a->labels) ck_assert_str_eq(a->labels, b->labels);
    ck_assert_int_eq(a->count, b->count);
    ck_assert_int_eq(a->offset, b->offset);
    ck_assert_int_eq(a->sample, b->sample);
    /* no normalization prints as mean [0], std [1]: the same preprocessing */
    for (int32_t i = 0; i < 16; i++) {
        float ma = a->n_mean ? a->mean[a->n_mean > 1 ? i % a->n_mean : 0] : 0.0f;
        float mb = b->n_mean ? b->mean[b->n_mean > 1 ? i % b->n_mean : 0] : 0.0f;
        float sa = a->n_std ? a->std[a->n_std > 1 ? i % a->n_std : 0] : 1.0f;
        float sb = b->n_std ? b->std[b->n_std > 1 ? i % b->n_std : 0] : 1.0f;
        ck_assert(ma == mb && sa == sb);
    }
}

static void same_spec(const ptq_qspec *a, const ptq_qspec *b, uint32_t fields) {
    if (fields & PTQ_QF_BITS) ck_assert_int_eq(a->bits, b->bits);
    if (fields & PTQ_QF_SYMMETRIC) ck_assert_int_eq(a->symmetric, b->symmetric);
    if (fields & PTQ_QF_GRANULARITY) ck_assert_int_eq(a->per_channel, b->per_channel);
    if (fields & PTQ_QF_OBSERVER) ck_assert_int_eq(a->observer, b->observer);
    if (fields & PTQ_QF_PERCENTILE) ck_assert(a->percentile == b->percentile);
    if (fields & PTQ_QF_MSE_P) ck_assert((a->mse_p > 0 ? a->mse_p : 2) == (b->mse_p > 0 ? b->mse_p : 2));
    if (fields & PTQ_QF_SEARCH) ck_assert_int_eq(a->search, b->search);
    if (fields & PTQ_QF_IMAGES) ck_assert_int_eq(a->images, b->images);
}

static void same_pass(const ptq_pass_cfg *a, const ptq_pass_cfg *b) {
    ck_assert_ptr_eq(a->def, b->def);
    for (const ptq_param_def *d = a->def->params; d && d->name; d++) {
        const char *pa = (const char *)a->params + d->offset;
        const char *pb = (const char *)b->params + d->offset;
        if (d->type == PTQ_PARAM_STRING)
            ck_assert_str_eq(*(const char *const *)pa, *(const char *const *)pb);
        else if (d->type == PTQ_PARAM_INT)
            ck_assert_int_eq(*(const int64_t *)pa, *(const int64_t *)pb);
        else if (d->type == PTQ_PARAM_FLOAT)
            ck_assert(*(const double *)pa == *(const double *)pb);
        else
            ck_assert_int_eq(*(const int32_t *)pa, *(const int32_t *)pb);
    }
}

static void same_pipeline(const ptq_pipeline *a, const ptq_pipeline *b) {
    ck_assert_str_eq(a->model, b->model);
    same_dataset(&a->calibration, &b->calibration);
    same_dataset(&a->evaluation, &b->evaluation);
    const uint32_t all = PTQ_QF_BITS | PTQ_QF_SYMMETRIC | PTQ_QF_GRANULARITY | PTQ_QF_OBSERVER |
                         PTQ_QF_PERCENTILE | PTQ_QF_MSE_P | PTQ_QF_SEARCH | PTQ_QF_IMAGES;
    same_spec(&a->quant.weights, &b->quant.weights, all);
    same_spec(&a->quant.activations, &b->quant.activations, all);
    ck_assert_int_eq(a->quant.quantize_weights, b->quant.quantize_weights);
    ck_assert_int_eq(a->quant.quantize_activations, b->quant.quantize_activations);
    ck_assert_int_eq(a->quant.quantize_input, b->quant.quantize_input);
    ck_assert_int_eq(a->quant.quantize_output, b->quant.quantize_output);
    ck_assert_int_eq(a->quant.n_overrides, b->quant.n_overrides);
    for (int32_t i = 0; i < a->quant.n_overrides; i++) {
        const ptq_override *x = &a->quant.overrides[i], *y = &b->quant.overrides[i];
        ck_assert_int_eq(x->n_nodes, y->n_nodes);
        for (int32_t k = 0; k < x->n_nodes; k++) ck_assert_str_eq(x->nodes[k], y->nodes[k]);
        ck_assert_int_eq(x->keep_float, y->keep_float);
        ck_assert_uint_eq(x->w_fields, y->w_fields);
        ck_assert_uint_eq(x->a_fields, y->a_fields);
        same_spec(&x->w, &y->w, x->w_fields);
        same_spec(&x->a, &y->a, x->a_fields);
    }
    ck_assert_int_eq(a->n_passes, b->n_passes);
    for (int32_t i = 0; i < a->n_passes; i++) same_pass(&a->passes[i], &b->passes[i]);
    ck_assert_str_eq(a->out_dir, b->out_dir);
    ck_assert_int_eq(a->export_onnx, b->export_onnx);
    ck_assert_str_eq(a->onnx_name, b->onnx_name);
    ck_assert_uint_eq(a->seed, b->seed);
    ck_assert_int_eq(a->batch, b->batch);
    ck_assert_int_eq(a->threads, b->threads);
}

/* Prints p, reloads the text, checks it is the same plan; returns the text (static). */
static const char *round_trip(const ptq_pipeline *p) {
    static char text[8192];
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ptq_pipeline_print(p, f);
    long len = ftell(f);
    ck_assert(len > 0 && len < (long)sizeof text);
    rewind(f);
    ck_assert_int_eq((long)fread(text, 1, (size_t)len, f), len);
    text[len] = '\0';
    fclose(f);
    ptq_error err = {0};
    ptq_pipeline *q = ptq_pipeline_load(write_yaml(text), g_reg, &err);
    ck_assert_msg(q != NULL, "printed plan refused: %s\n%s", err.msg, text);
    same_pipeline(p, q);
    /* printing is a fixed point: the reloaded plan prints the same apart from the
     * header and the implicit markers */
    ptq_pipeline_free(q);
    return text;
}

/* ============================================================ image folders ===== */

/* Image-folder keys: defaults from the model (resize to its 28x28, grey for its one
 * channel), explicit values, their errors, and the plan printed back. */
START_TEST(image_folder_keys) {
    char dir[] = "/tmp/ptq-pipe-images-XXXXXX", png[64], text[1024];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(png, sizeof png, "%s/a.png", dir);
    FILE *f = fopen(png, "wb"); /* listed by name; the loader is not reached here */
    ck_assert_ptr_nonnull(f);
    fclose(f);
    const char *model = PTQ_SOURCE_DIR "/models/resnet20_fmnist.onnx";
    snprintf(text, sizeof text, "model: %s\ncalibration: {images: %s}\n"
             "evaluation: {images: %s, labels: folders}\n", model, dir, dir);
    ptq_pipeline *p = load_ok(text);
    ck_assert_int_eq(p->calibration.resize, PTQ_RESIZE_STRETCH);
    ck_assert(p->calibration.resize_h == 28 && p->calibration.resize_w == 28);
    ck_assert(p->calibration.resize_default);
    ck_assert_int_eq(p->calibration.channels, PTQ_CHANNELS_GRAY);
    ck_assert(p->evaluation.labels_folders && !p->evaluation.labels);
    ck_assert_int_eq(p->n_notes, 2);
    ck_assert(test_contains(p->notes[0], "calibration: images are resized (stretched) to 28x28"));
    const char *printed = round_trip(p);
    ck_assert(test_contains(printed, "  resize: {mode: stretch, size: [28, 28]}  # the model's "
                                     "input size\n  channels: gray\n"));
    ck_assert(test_contains(printed, "  labels: folders\n"));
    ptq_pipeline_free(p);

    /* input_shape [1, 32, 24] contradicts the model's fixed 28x28 */
    snprintf(text, sizeof text, "model: %s\ninput_shape: [1, 32, 24]\ncalibration: {images: %s}\n",
             model, dir);
    REFUSED_HAS(text, 2, 1, "'input_shape' makes axis 2 of input 'input' 32 but the model fixes "
                "it at 28");
    snprintf(text, sizeof text, "model: %s\ninput_shape: [1, 28, 28]\ncalibration:\n"
             "  images: %s\n  resize: {mode: letterbox, pad_value: 0}\n  channels: bgr\n"
             "  scale: 0.5\n  on_bad_image: skip\n", model, dir);
    p = load_ok(text);
    ck_assert_int_eq(p->input_ndim, 3);
    ck_assert_int_eq(p->calibration.resize, PTQ_RESIZE_LETTERBOX);
    ck_assert(p->calibration.resize_h == 28 && !p->calibration.resize_default);
    ck_assert(p->calibration.pad_value == 0.0f && p->calibration.scale == 0.5f);
    ck_assert(p->calibration.channels == PTQ_CHANNELS_BGR && p->calibration.skip_bad);
    printed = round_trip(p);
    ck_assert(test_contains(printed, "input_shape: [1, 28, 28]\n"));
    ck_assert(test_contains(printed, "  resize: {mode: letterbox, size: [28, 28], pad_value: 0}\n"
                                     "  channels: bgr\n  scale: 0.5\n  on_bad_image: skip\n"));
    ptq_pipeline_free(p);

    /* the errors, each where it is */
#define IMG(extra) snprintf(text, sizeof text, "model: %s\ncalibration:\n  images: %s\n%s", \
                            model, dir, extra)
    IMG("  resize: {mode: squash}\n");
    REFUSED(text, 4, 18, "'mode' = 'squash' is not one of: stretch, letterbox, none");
    IMG("  resize: {mode: none, size: 3}\n");
    REFUSED(text, 4, 24, "'size' does nothing with 'mode: none'");
    IMG("  resize: {size: 3, pad_value: 9}\n");
    REFUSED(text, 4, 21, "'pad_value' applies to 'mode: letterbox' only");
    IMG("  resize: {size: [1, 2, 3]}\n");
    REFUSED(text, 4, 18, "'size' is [height, width] (or one number for a square)");
    IMG("  channels: cmyk\n");
    REFUSED(text, 4, 13, "'channels' = 'cmyk' is not one of: rgb, bgr, gray");
    IMG("  scale: -1\n");
    REFUSED_HAS(text, 4, 10, "'scale' must be a positive number");
    IMG("  on_bad_image: ignore\n");
    REFUSED(text, 4, 17, "'on_bad_image' = 'ignore' is not one of: fail, skip");
#undef IMG
    snprintf(text, sizeof text, "model: %s\ninput_shape: [28, 28]\ncalibration: {images: %s}\n",
             model, dir);
    REFUSED_HAS(text, 2, 1, "'input_shape' has 2 dims but input 'input'");
    /* image keys on an array file, labels: folders on one */
    snprintf(text, sizeof text, "model: %s\ncalibration:\n  images: %s\n  channels: rgb\n", model,
             PTQ_SOURCE_DIR "/models/resnet20_fmnist.json");
    REFUSED_HAS(text, 4, 3, "'channels' applies to image folders and files (PNG, JPEG)");
    snprintf(text, sizeof text, "model: %s\ncalibration:\n  images: /nowhere.npy\n  labels: folders\n",
             model);
    REFUSED_HAS(text, 4, 3, "'labels: folders' takes the labels from the class subfolders");
    unlink(png);
    rmdir(dir);
}
END_TEST

/* ============================================================ deployment target == */

START_TEST(deployment_target) {
    ptq_pipeline *p = load_ok(HEAD);
    ck_assert_int_eq(p->quant.target, PTQ_TARGET_PORTABLE); /* the default */
    ptq_pipeline_free(p);
    REFUSED_HAS(HEAD "quantization:\n  target: gpu\n", 4, 11,
                "'target' = 'gpu' is not one of: portable");
    /* asymmetric per-channel 8-bit weights: no single zero point, no 8-bit zero-point-free form */
    const char *asym8 = "quantization:\n  weights: {bits: 8, granularity: channel, symmetric: false}\n";
    char text[1024];
    snprintf(text, sizeof text, HEAD "%s", asym8);
    refused_at(text, PTQ_ERR_UNSUPPORTED, 4, 12, "quantization.weights: asymmetric per-channel "
               "8-bit weights do not run exactly on target 'portable'", false);
    snprintf(text, sizeof text, HEAD "%s  target: vnni\n", asym8);
    refused_at(text, PTQ_ERR_UNSUPPORTED, 4, 12, "at most 7 bits", false);
    snprintf(text, sizeof text, HEAD "%s  target: none\n", asym8);
    p = load_ok(text);
    ck_assert_int_eq(p->quant.target, PTQ_TARGET_NONE);
    ptq_pipeline_free(p);
    /* float activations: the weights are dequantized, any grid is exact */
    snprintf(text, sizeof text, HEAD "%s  activations: {bits: 32}\n", asym8);
    ptq_pipeline_free(load_ok(text));
    /* 6 bits fit portable's zero-point-free range, 7 fit vnni's */
    ptq_pipeline_free(load_ok(HEAD "quantization:\n  weights: {bits: 6, symmetric: false}\n"));
    refused_at(HEAD "quantization:\n  weights: {bits: 7, symmetric: false}\n",
               PTQ_ERR_UNSUPPORTED, 4, 12, "at most 6 bits", false);
    ptq_pipeline_free(load_ok(HEAD "quantization:\n  weights: {bits: 7, symmetric: false}\n"
                              "  target: vnni\n"));
    /* an override that makes the grid: reported at the override, the defaults are fine */
    refused_at(HEAD "quantization:\n  weights: {bits: 4, symmetric: false}\n  overrides:\n"
               "    - nodes: [first, last]\n      weights: {bits: 8}\n",
               PTQ_ERR_UNSUPPORTED, 6, 7, "this override: asymmetric per-channel 8-bit", false);
    ptq_pipeline_free(load_ok(HEAD "quantization:\n  weights: {bits: 4, symmetric: false}\n"
                              "  overrides:\n    - nodes: [first, last]\n"
                              "      weights: {bits: 8, symmetric: true}\n"));
}
END_TEST

START_TEST(print_round_trip) {
    ptq_pipeline *p = load_ok(FULL);
    const char *text = round_trip(p);
    ck_assert(test_contains(text, "  - core.fold_bn: {}  # implicit\n"));
    ck_assert(test_contains(text, "  - core.calibrate: {images: 0, weights: true, activations: "
                                  "true}  # implicit\n"));
    ck_assert(test_contains(text, "  - fake.tune: {flag: false, iterations: 20, lr: 0.5, mode: "
                                  "auto, tag: \"a \\\"quoted\\\" tag\"}\n"));
    ck_assert(test_contains(text, "  - fake.recon: {target: \"blocks\", blocks: 4}\n"));
    ck_assert(test_contains(text, "  weights: {bits: 4, granularity: tensor, symmetric: false, "
                                  "observer: mse, percentile: 99.99, p: 2, search: auto}\n"));
    ck_assert(test_contains(text, "  normalize: {mean: [0.5, 0.25, 0.125], std: [0.5]}\n"));
    ck_assert(test_contains(text, "      weights: {bits: 32, granularity: channel}\n"));
    ck_assert(test_contains(text, "output: {dir: \"out/here\", onnx: false, name: \"q.onnx\"}\n"));
    ptq_pipeline_free(p);

    /* defaults made explicit, no evaluation, no overrides, odd strings */
    p = load_ok("model: /m.onnx\ncalibration: {images: \"/d/\\\"x\\\"\\n\\t\\\\.gz\"}\n"
                "quantization: {overrides: [{nodes: [\"a: b\", \"#c\"], float: yes}]}\n"
                "passes:\n  - fake.tune: {lr: 0.1, tag: \"\", mode: fast}\n");
    text = round_trip(p);
    ck_assert(test_contains(text, "  count: 1024\n  offset: 0\n  sample: true\n"));
    ck_assert(test_contains(text, "  normalize: {mean: [0], std: [1]}\n"));
    ck_assert(test_contains(text, "# evaluation: none\n"));
    ck_assert(test_contains(text, "seed: 0\nbatch: 256\nthreads: 0\n"));
    ptq_pipeline_free(p);

    /* float weights and activations print as bits 32 and read back so */
    p = load_ok("model: /m.onnx\nquantization: {weights: {bits: 32}, activations: {bits: 32}}\n");
    text = round_trip(p);
    ck_assert(test_contains(text, "passes:\n  - core.fold_bn: {}  # implicit\noutput:"));
    ptq_pipeline_free(p);
}
END_TEST


/* ============================================================ variants (ptq ab) ==== */

#define VHEAD                                                                              \
    "model: m.onnx\ncalibration: {images: c.gz}\n"                                         \
    "evaluation: {images: e.gz, labels: l.gz}\n"                                           \
    "quantization:\n  weights: {bits: 8}\n"                                                \
    "passes:\n  - fake.tune: {iterations: 10}\n"

/* variant i of the file at `path`, loaded (must succeed) */
static ptq_pipeline *variant_ok(const ptq_variant_set *set, int32_t i) {
    ptq_error err = {0};
    ptq_pipeline *p = ptq_variant_load(set, i, g_reg, &err);
    ck_assert_msg(p != NULL, "variant %d refused: %s", i, err.msg);
    return p;
}

static int64_t tune_iterations(const ptq_pipeline *p) {
    for (int32_t i = 0; i < p->n_passes; i++)
        if (!strcmp(p->passes[i].def->name, "fake.tune"))
            return ((const tune_params *)p->passes[i].params)->iterations;
    return -1;
}

START_TEST(variants_matrix) {
    const char *path = write_yaml(VHEAD "variants:\n"
                                        "  seeds: 3\n"
                                        "  matrix:\n"
                                        "    method:\n"
                                        "      short: {}\n"
                                        "      long: {params: {fake.tune: {iterations: 99}}}\n"
                                        "      none: {without: fake.tune}\n"
                                        "    bits:\n"
                                        "      w8: {}\n"
                                        "      w4: {quantization: {weights: {bits: 4}}}\n");
    ptq_variant_set set;
    ptq_error err = {0};
    ck_assert_msg(ptq_variants_read(path, &set, &err) == PTQ_OK, "%s", err.msg);
    ck_assert_int_eq(set.n, 6);
    ck_assert_int_eq(set.seeds, 3);
    static const char *const names[] = {"short+w8", "short+w4", "long+w8", "long+w4", "none+w8", "none+w4"};
    static const int64_t iters[] = {10, 10, 99, 99, -1, -1};
    static const int32_t bits[] = {8, 4, 8, 4, 8, 4};
    for (int32_t i = 0; i < 6; i++) {
        ck_assert_str_eq(set.v[i].name, names[i]);
        ptq_pipeline *p = variant_ok(&set, i);
        ck_assert_int_eq(tune_iterations(p), iters[i]);
        ck_assert_int_eq(p->quant.weights.bits, bits[i]);
        ck_assert_int_eq(p->quant.activations.bits, 8); /* the merge kept the rest */
        ptq_pipeline_free(p);
    }
    /* the base, and `ptq run` on the file (the base, with a note) */
    ptq_pipeline *b = variant_ok(&set, -1);
    ck_assert_int_eq(tune_iterations(b), 10);
    ptq_pipeline_free(b);
    b = load_ok_path(path);
    bool noted = false;
    for (int32_t i = 0; i < b->n_notes; i++) noted |= strstr(b->notes[i], "ptq ab") != NULL;
    ck_assert_msg(noted, "ptq run does not say the variants are ptq ab's");
    ptq_pipeline_free(b);
    ptq_variant_set_free(&set);
}
END_TEST

/* every problem of a variants section, each at its line and column */
START_TEST(variants_refused) {
    const char *path = write_yaml(VHEAD "variants:\n"                         /* line 8 */
                                        "  a: {output: {dir: x}}\n"           /* 9 */
                                        "  b.: {}\n"                          /* 10 */
                                        "  a: {}\n"                           /* 11 */
                                        "  .hidden: {}\n"                     /* 12 */
                                        "  c: {colour: red}\n"                /* 13 */
                                        "  d: [1]\n");                        /* 14 */
    ptq_variant_set set;
    ptq_error err = {0};
    ck_assert_int_eq(ptq_variants_read(path, &set, &err), PTQ_ERR_INVALID);
    char want[600];
    snprintf(want, sizeof want, "%s:9:7: variant 'a': 'output' cannot differ", path);
    ck_assert_msg(strstr(err.msg, want), "missing '%s' in:\n%s", want, err.msg);
    snprintf(want, sizeof want, "%s:11:3: variants: two variants named 'a' (the first at line 9)", path);
    ck_assert_msg(strstr(err.msg, want), "missing '%s' in:\n%s", want, err.msg);
    snprintf(want, sizeof want, "%s:12:3: variants: a variant's name", path);
    ck_assert_msg(strstr(err.msg, want), "missing '%s' in:\n%s", want, err.msg);
    snprintf(want, sizeof want, "%s:13:7: variant 'c': unknown key 'colour'", path);
    ck_assert_msg(strstr(err.msg, want), "missing '%s' in:\n%s", want, err.msg);
    snprintf(want, sizeof want, "%s:14:6: variant 'd': expected a mapping", path);
    ck_assert_msg(strstr(err.msg, want), "missing '%s' in:\n%s", want, err.msg);
    ptq_variant_set_free(&set);

    /* an overlay that validates badly: the error is at the overlay's own position */
    path = write_yaml(VHEAD "variants:\n  x: {quantization: {weights: {bits: 99}}}\n"
                            "  y: {without: [fake.nothing]}\n  z: {params: {fake.tune: {lr: 5}}}\n");
    ck_assert_msg(ptq_variants_read(path, &set, &err) == PTQ_OK, "%s", err.msg);
    ck_assert_int_eq(set.n, 3);
    static const char *const at[] = {":9:38: ", ":10:17: variant 'y': without: the base pipeline has no pass 'fake.nothing'",
                                      ":11:32: 'lr' = 5 is out of range"};
    for (int32_t i = 0; i < 3; i++) {
        memset(&err, 0, sizeof err);
        ck_assert_ptr_null(ptq_variant_load(&set, i, g_reg, &err));
        snprintf(want, sizeof want, "%s%s", path, at[i]);
        ck_assert_msg(!strncmp(err.msg, want, strlen(want)), "variant %d: '%s' should start with '%s'",
                      i, err.msg, want);
    }
    ptq_variant_set_free(&set);
}
END_TEST

/* The step tree: what runs share, by fingerprint. */
START_TEST(variants_shared_steps) {
    const char *path = write_yaml(VHEAD "variants:\n  seeds: 2\n  plain: {without: fake.tune}\n"
                                        "  ten: {}\n  twenty: {params: {fake.tune: {iterations: 20}}}\n"
                                        "  other_model: {}\n");
    ptq_error err = {0};
    const char *paths[] = {path};
    ab_plan *pl = ab_plan_build(paths, 1, 0, g_reg, &err);
    ck_assert_msg(pl != NULL, "%s", err.msg);
    ck_assert_int_eq(pl->n_runs, 8);
    ck_assert_int_eq(pl->seeds, 2);
    ck_assert_int_eq(ab_plan_tree(pl, NULL, &err), PTQ_OK);
    /* root -> one setup per seed (the seed is part of it) */
    ck_assert_int_eq(pl->nodes[0].n_kids, 2);
    for (int32_t k = 0; k < 2; k++) {
        const ab_node *setup = &pl->nodes[pl->nodes[0].kids[k]];
        ck_assert_int_eq(setup->step, 0);
        ck_assert_int_eq(setup->n_runs, 4);
    }
    /* 'ten' and 'other_model' are the same pipeline: one path to the end, two ends */
    int32_t two_ends = 0, steps = 0;
    for (int32_t n = 1; n < pl->n_nodes; n++) two_ends += pl->nodes[n].n_ends == 2;
    for (int32_t r = 0; r < pl->n_runs; r++) steps += pl->runs[r].p->n_passes + 1;
    ck_assert_int_eq(two_ends, 2);
    ck_assert_int_lt(pl->n_nodes - 1, steps);
    /* every fake.tune with 20 iterations is alone; its parent is shared by 3 runs */
    for (int32_t r = 0; r < pl->n_runs; r++) {
        if (strcmp(pl->runs[r].variant, "twenty")) continue;
        const ab_node *end = &pl->nodes[pl->runs[r].node];
        ck_assert_int_eq(end->n_runs, 1);
        ck_assert_int_eq(pl->nodes[end->parent].n_runs, 4);
    }
    ab_plan_free(pl);

    /* a different model is not an A/B */
    const char *other = write_yaml(VHEAD);
    char text[1024];
    snprintf(text, sizeof text, VHEAD);
    char *m = strstr(text, "m.onnx");
    memcpy(m, "n", 1);
    const char *paths2[] = {other, write_yaml(text)};
    memset(&err, 0, sizeof err);
    ck_assert_ptr_null(ab_plan_build(paths2, 2, 0, g_reg, &err));
    ck_assert_msg(strstr(err.msg, "differ in their model"), "%s", err.msg);
}
END_TEST

static Suite *pipeline_suite(void) {
    Suite *s = suite_create("pipeline");
    TCase *t = tcase_create("load");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, full_file);
    tcase_add_test(t, defaults);
    tcase_add_test(t, scalar_forms);
    tcase_add_test(t, relative_paths);
    tcase_add_test(t, sidecar_normalization);
    tcase_add_test(t, fixture_file);
    tcase_add_test(t, unknown_keys);
    tcase_add_test(t, missing_keys);
    tcase_add_test(t, evaluation_fidelity_key);
    tcase_add_test(t, wrong_types);
    tcase_add_test(t, out_of_range);
    tcase_add_test(t, unknown_pass);
    tcase_add_test(t, pass_params);
    tcase_add_test(t, pass_dependencies);
    tcase_add_test(t, implicit_passes);
    tcase_add_test(t, activations_need_data);
    tcase_add_test(t, invalidation);
    tcase_add_test(t, all_errors_at_once);
    tcase_add_test(t, malformed_yaml);
    tcase_add_test(t, not_a_pipeline);
    tcase_add_test(t, hostile_inputs);
    tcase_add_test(t, deployment_target);
    tcase_add_test(t, print_round_trip);
    tcase_add_test(t, image_folder_keys);
    tcase_add_test(t, variants_matrix);
    tcase_add_test(t, variants_refused);
    tcase_add_test(t, variants_shared_steps);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(pipeline_suite()); }
