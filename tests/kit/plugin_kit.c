/* plugin_kit.c — see plugin_kit.h. */
#include "plugin_kit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replaces every @KEY@ in text (the caller frees the result). */
static char *expand(const char *text) {
    static const char *const keys[][2] = {{"@MODELS@", PTQ_SOURCE_DIR "/models"},
                                          {"@FMNIST@", "/usr/share/datasets/fashion-mnist"}};
    size_t cap = strlen(text) * 4 + 4096, n = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    for (const char *t = text; *t;) {
        bool hit = false;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !hit; k++) {
            const size_t kl = strlen(keys[k][0]);
            if (strncmp(t, keys[k][0], kl)) continue;
            const size_t vl = strlen(keys[k][1]);
            ck_assert(n + vl < cap);
            memcpy(out + n, keys[k][1], vl);
            n += vl, t += kl, hit = true;
        }
        if (!hit) {
            ck_assert(n + 1 < cap);
            out[n++] = *t++;
        }
    }
    out[n] = '\0';
    return out;
}

kit *kit_try_open(const char *yaml, char *msg, size_t msg_size) {
    kit *k = calloc(1, sizeof *k);
    ck_assert_ptr_nonnull(k);
    ptq_error err = {0};
    unsetenv("PTQ_PLUGIN_PATH");
    k->reg = ptq_registry_load(PTQ_BUILD_PLUGIN_DIR, &err);
    ck_assert_msg(k->reg != NULL, "%s", err.msg);
    char *text = expand(yaml);
    const char *path = test_write_temp(text, strlen(text), ".yaml");
    free(text);
    k->p = ptq_pipeline_load(path, k->reg, &err);
    if (k->p) {
        ptq_session_config cfg;
        ptq_pipeline_session_config(k->p, &cfg);
        k->s = ptq_session_new(&cfg, &err);
    }
    if (!k->s) {
        if (msg) snprintf(msg, msg_size, "%s", err.msg);
        kit_close(k);
        return NULL;
    }
    return k;
}

kit *kit_open(const char *yaml) {
    char msg[1024];
    kit *k = kit_try_open(yaml, msg, sizeof msg);
    ck_assert_msg(k != NULL, "pipeline does not load: %s", msg);
    return k;
}

void kit_close(kit *k) {
    if (!k) return;
    ptq_session_free(k->s);
    ptq_pipeline_free(k->p);
    ptq_registry_free(k->reg);
    free(k);
}

int32_t kit_pass(const kit *k, const char *name, int32_t from) {
    for (int32_t i = from; i < k->p->n_passes; i++)
        if (!strcmp(k->p->passes[i].def->name, name)) return i;
    ck_abort_msg("the plan has no pass '%s' after %d", name, from);
    return -1;
}

ptq_status kit_run(kit *k, int32_t from, int32_t to) {
    if (to < 0) to = k->p->n_passes;
    for (int32_t i = from; i < to; i++) {
        const ptq_pass_cfg *pc = &k->p->passes[i];
        memset(&k->s->err, 0, sizeof k->s->err);
        k->s->pass_name = pc->def->name;
        k->s->pass_index = i;
        ptq_status st = pc->def->run(ptq_host_table(), k->s, pc->params);
        k->s->pass_name = NULL;
        if (st) {
            snprintf(k->msg, sizeof k->msg, "%s: %s", pc->def->name, k->s->err.msg);
            return st;
        }
    }
    return PTQ_OK;
}

float *kit_forward(kit *k, bool quant, const float *x, int64_t batch, int64_t *numel) {
    if (!quant) return test_run_graph(k->s->g, x, batch, numel);
    ptq_error err = {0};
    ptq_graph *sim = ptq_session_sim_graph(k->s, k->s->q, k->s->n_q, &err);
    ck_assert_msg(sim != NULL, "%s", err.msg);
    float *y = test_run_graph(sim, x, batch, numel);
    ptq_graph_free(sim);
    return y;
}

float *kit_images(kit *k, int64_t n) {
    const ptq_value *in = &k->s->g->values[k->s->g->inputs[0]];
    const int64_t per = in->ne[1] * in->ne[2] * in->ne[3];
    float *x = malloc((size_t)(n * per) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    if (k->s->calib && k->s->calib->n >= n) {
        memcpy(x, k->s->calib->images, (size_t)(n * per) * sizeof *x);
    } else {
        test_rng r = {7};
        test_fill_uniform(&r, x, n * per, -0.81f, 2.02f);
    }
    return x;
}

const char *kit_resnet20_w2(int calib, int abits, const char *pass) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "model: @MODELS@/resnet20_fmnist.onnx\n"
             "calibration:\n  images: @FMNIST@/train-images-idx3-ubyte.gz\n  count: %d\n"
             "quantization:\n"
             "  weights: {bits: 2, granularity: channel, symmetric: false, observer: mse}\n"
             "  activations: {bits: %d, granularity: tensor, symmetric: false, observer: mse, images: 64}\n"
             "  placement: paper\n  target: none\n"
             "  overrides:\n    - nodes: [first, last]\n      weights: {bits: 8}\n"
             "      activations: {bits: 8}\n"
             "passes:\n  - %s\n",
             calib, abits, pass);
    return buf;
}

bool kit_quick(void) {
    const char *e = getenv("PTQ_E2E_LIMIT");
    return e && atol(e) > 0;
}

double kit_rel_diff(const float *a, const float *b, int64_t n) {
    double scale = 0.0, worst = 0.0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst / fmax(scale, 1e-30);
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

double kit_top1_agreement(const float *a, const float *b, int64_t n, int64_t classes) {
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) same += argmax(a + i * classes, classes) == argmax(b + i * classes, classes);
    return (double)same / (double)n;
}

double kit_accuracy(kit *k, bool quant, int64_t count) {
    ptq_preprocess pp = {0};
    ck_assert_msg(ptq_sidecar_normalization(k->p->model, &pp, NULL, 0),
                  "%s has no normalization beside it", k->p->model);
    ptq_error err = {0};
    ptq_dataset *ds = ptq_dataset_load("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                       "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                                       &pp, count, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    int64_t numel;
    float *y = kit_forward(k, quant, ds->images, ds->n, &numel);
    const int64_t classes = numel / ds->n;
    int64_t right = 0;
    for (int64_t i = 0; i < ds->n; i++) right += argmax(y + i * classes, classes) == ds->labels[i];
    const double acc = (double)right / (double)ds->n;
    free(y);
    ptq_dataset_free(ds);
    return acc;
}

kit *kit_open_before(const char *yaml, const char *pass, int32_t *at) {
    kit *k = kit_open(yaml);
    *at = kit_pass(k, pass, 0);
    ck_assert_msg(kit_run(k, 0, *at) == PTQ_OK, "%s", k->msg);
    return k;
}

int32_t kit_count_rows(const kit *k, const char *table, int32_t pass) {
    int32_t n = 0;
    for (int32_t i = 0; i < k->s->n_rows; i++)
        n += k->s->rows[i].pass == pass && !strcmp(k->s->rows[i].table, table);
    return n;
}

const ptq_report_row *kit_first_row(const kit *k, const char *table, int32_t pass) {
    for (int32_t i = 0; i < k->s->n_rows; i++)
        if (k->s->rows[i].pass == pass && !strcmp(k->s->rows[i].table, table)) return &k->s->rows[i];
    ck_abort_msg("no row in table %s", table);
    return NULL;
}

double kit_row_value(const ptq_report_row *r, const char *col) {
    for (int32_t i = 0; i < r->n; i++)
        if (!strcmp(r->cols[i], col)) return r->values[i];
    ck_abort_msg("column %s missing", col);
    return NAN;
}
