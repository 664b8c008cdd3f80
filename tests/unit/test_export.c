/* test_export.c — ONNX export, and the importer's QuantizeLinear/DequantizeLinear forms.
 *
 * The round trips compare results bit for bit: every bundled model, a graph using every
 * exportable op, and a ResNet-20 with fake quantizers (8-bit, 4-bit narrow, symmetric,
 * per channel) and quantized weights, exported as QDQ and re-imported.  The file itself
 * is inspected with the generated protobuf-c reader (opset, metadata, initializer types),
 * and the atomic write is checked on failure paths.  Models for the importer checks are
 * built in memory with the shared builder (onnx_builder.h).  Fake quantizers with learned
 * rounding borders are checked against their formula, and their export both through a
 * small evaluator of the ONNX ops it writes and through ptq's re-import. */
#include <dirent.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "onnx_builder.h"

#define B PTQ_DIM_BATCH
#define FMNIST_IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#define N_IMAGES 64
#define ONNX_UINT16 4
#define ONNX_INT16 5

/* ========================================================= temporary files ====== */

static char temp_dir[64];

static void remove_temp_dir(void) {
    DIR *d = opendir(temp_dir);
    if (!d) return;
    char p[600];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", temp_dir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    closedir(d);
    rmdir(temp_dir);
}

/* `name` in this test's own temporary directory, created on first use and removed with
 * its contents when the (forked) test exits.  Four rotating buffers. */
static const char *temp_path(const char *name) {
    static char paths[4][600];
    static int slot;
    if (!temp_dir[0]) {
        snprintf(temp_dir, sizeof temp_dir, "/tmp/ptq-export-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(temp_dir));
        atexit(remove_temp_dir);
    }
    char *p = paths[slot++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", temp_dir, name);
    return p;
}

/* Entries in the temporary directory: a failed export must leave nothing behind. */
static int temp_dir_entries(void) {
    temp_path("");
    DIR *d = opendir(temp_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ============================================================ graph helpers ====== */

/* The first 64 Fashion-MNIST test images as the models expect them (mean 0.286, std
 * 0.353), or random images in the same range when the dataset is not installed. */
static float *test_images(void) {
    float *x = malloc(N_IMAGES * 28 * 28 * sizeof *x);
    ck_assert_ptr_nonnull(x);
    if (access(FMNIST_IMAGES, R_OK) != 0) {
        fprintf(stderr, "test_export: %s not found, using random images\n", FMNIST_IMAGES);
        test_rng r = {99};
        test_fill_uniform(&r, x, N_IMAGES * 28 * 28, -0.81f, 2.02f);
        return x;
    }
    ptq_preprocess pp = {0};
    pp.n_mean = pp.n_std = 1;
    pp.mean[0] = 0.286f;
    pp.std[0] = 0.353f;
    ptq_error err = {0};
    ptq_dataset *ds = ptq_dataset_load(FMNIST_IMAGES, NULL, &pp, N_IMAGES, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ck_assert_int_eq(ds->n, N_IMAGES);
    memcpy(x, ds->images, N_IMAGES * 28 * 28 * sizeof *x);
    ptq_dataset_free(ds);
    return x;
}

/* a and b give bitwise-identical outputs on x. */
static void expect_same_outputs(const ptq_graph *a, const ptq_graph *b, const float *x,
                                int64_t batch, const char *what) {
    int64_t na, nb;
    float *ya = test_run_graph(a, x, batch, &na), *yb = test_run_graph(b, x, batch, &nb);
    ck_assert_int_eq(na, nb);
    if (memcmp(ya, yb, (size_t)na * sizeof *ya) != 0) {
        int64_t i = 0;
        while (!memcmp(&ya[i], &yb[i], sizeof *ya)) i++;
        ck_abort_msg("%s: output %lld differs: %.9g exported vs %.9g original", what,
                     (long long)i, (double)yb[i], (double)ya[i]);
    }
    free(ya);
    free(yb);
}

static void export_ok(const ptq_graph *g, const ptq_export_weight *w, int32_t n_w,
                      const char *path) {
    ptq_error err = {0};
    ptq_status st = ptq_onnx_export(g, w, n_w, NULL, NULL, 0, path, &err);
    ck_assert_msg(st == PTQ_OK, "%s", err.msg);
}

static ptq_graph *load_ok(const char *path) {
    ptq_error err = {0};
    ptq_graph *g = ptq_onnx_load(path, NULL, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_OK);
    return g;
}

static const ptq_node *node_named(const ptq_graph *g, const char *name) {
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return &g->nodes[i];
    ck_abort_msg("no node '%s'", name);
    return NULL;
}

static int32_t add_const_i64(ptq_graph *g, const char *name, int64_t n, const int64_t *v) {
    ptq_error err = {0};
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I64, 1, &n, &err);
    ck_assert_ptr_nonnull(t);
    memcpy(t->data, v, (size_t)n * sizeof *v);
    int32_t id = ptq_graph_add_constant(g, name, t, &err);
    ck_assert_msg(id >= 0, "%s", err.msg);
    return id;
}

/* A FAKE_QUANT of x called name on [qmin, qmax]: n scales scale * (1 + c / 8) and zero
 * points zp, per channel along axis (-1: per tensor).  Returns its output's id. */
static int32_t add_fq(ptq_graph *g, const char *name, int32_t x, int32_t qmin, int32_t qmax,
                      int32_t axis, int64_t n, float scale, int32_t zp) {
    ptq_error err = {0};
    char nm[300];
    float s[256];
    ck_assert_int_le(n, 256);
    for (int64_t c = 0; c < n; c++) s[c] = scale * (1.0f + (float)c / 8.0f);
    snprintf(nm, sizeof nm, "%s.scale", name);
    const int32_t sid = test_graph_const(g, nm, 1, &n, s);
    ptq_tensor *z = ptq_tensor_new(PTQ_DTYPE_I32, 1, &n, &err);
    ck_assert_ptr_nonnull(z);
    for (int64_t c = 0; c < n; c++) ((int32_t *)z->data)[c] = zp;
    snprintf(nm, sizeof nm, "%s.zero_point", name);
    const int32_t zid = ptq_graph_add_constant(g, nm, z, &err);
    ck_assert_int_ge(zid, 0);
    snprintf(nm, sizeof nm, "%s.out", name);
    const int32_t id = test_graph_node(g, PTQ_OP_FAKE_QUANT, name, 3, (int32_t[]){x, sid, zid}, nm);
    ptq_node_attrs *a = &g->nodes[id].attrs;
    a->qmin = qmin;
    a->qmax = qmax;
    a->q_axis = axis;
    ck_assert_msg(ptq_graph_infer_node(g, id, &err) == PTQ_OK, "%s", err.msg);
    return g->nodes[id].outputs[0];
}

/* Where a test puts a fake quantizer: after node `node`'s output (-1: the graph input). */
typedef struct fq_spec {
    int32_t node;
    int32_t qmin, qmax, axis; /* axis >= 0: one scale per channel of that axis */
    float scale;
    int32_t zp;
} fq_spec;

static void apply_specs(ptq_graph *c, int32_t node, const char *base, int32_t *id,
                        const fq_spec *specs, int n_specs) {
    for (int k = 0; k < n_specs; k++) {
        const fq_spec *s = &specs[k];
        if (s->node != node) continue;
        char nm[300];
        snprintf(nm, sizeof nm, "%s/fq", base);
        const int64_t n = s->axis >= 0 ? c->values[*id].ne[s->axis] : 1;
        *id = add_fq(c, nm, *id, s->qmin, s->qmax, s->axis, n, s->scale, s->zp);
    }
}

/* A copy of g with a FAKE_QUANT after each spec's value, read by every later reader of
 * that value; built node by node so the order stays topological. */
static ptq_graph *with_fake_quant(const ptq_graph *g, const fq_spec *specs, int n_specs) {
    ptq_error err = {0};
    ptq_graph *c = ptq_graph_new();
    ck_assert_ptr_nonnull(c);
    c->opset = g->opset;
    int32_t *map = malloc((size_t)g->n_values * sizeof *map);
    ck_assert_ptr_nonnull(map);
    for (int32_t v = 0; v < g->n_values; v++) {
        map[v] = -1;
        if (!g->values[v].data) continue;
        map[v] = ptq_graph_add_constant(c, g->values[v].name,
                                        ptq_tensor_clone(g->values[v].data, &err), &err);
        ck_assert_int_ge(map[v], 0);
    }
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const ptq_value *v = &g->values[g->inputs[i]];
        map[g->inputs[i]] = test_graph_input(c, v->name, v->ndim, v->ne);
    }
    apply_specs(c, -1, g->values[g->inputs[0]].name, &map[g->inputs[0]], specs, n_specs);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        int32_t in[64];
        for (int32_t k = 0; k < n->n_inputs; k++) in[k] = n->inputs[k] < 0 ? -1 : map[n->inputs[k]];
        const int32_t id = test_graph_node(c, n->op, n->name, n->n_inputs, in,
                                           g->values[n->outputs[0]].name);
        c->nodes[id].attrs = n->attrs;
        ck_assert_msg(ptq_graph_infer_node(c, id, &err) == PTQ_OK, "%s", err.msg);
        map[n->outputs[0]] = c->nodes[id].outputs[0];
        apply_specs(c, i, n->name, &map[n->outputs[0]], specs, n_specs);
    }
    for (int32_t i = 0; i < g->n_outputs; i++) test_graph_output(c, map[g->outputs[i]]);
    ck_assert_msg(ptq_graph_validate(c, &err) == PTQ_OK, "%s", err.msg);
    free(map);
    return c;
}

/* Quantizes constant w in place on a `bits` weight grid (per channel along axis 0, or
 * per tensor) and returns its codes (caller frees): afterwards w holds exactly what its
 * codes dequantize to, as a quantization pass leaves a weight. */
static int32_t *quantize_weight(ptq_graph *g, int32_t w, int32_t bits, bool symmetric,
                                bool per_channel, ptq_qparams *qp) {
    ptq_error err = {0};
    ptq_tensor *t = g->values[w].data;
    const int64_t n = ptq_tensor_numel(t), ch = per_channel ? t->ne[0] : 1, inner = n / ch;
    ck_assert_int_eq(ptq_qparams_init(qp, bits, symmetric, true, per_channel ? 0 : -1, ch, &err),
                     PTQ_OK);
    int32_t *codes = malloc((size_t)n * sizeof *codes);
    ck_assert_ptr_nonnull(codes);
    float *x = t->data;
    for (int64_t c = 0; c < ch; c++) {
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < inner; i++) {
            lo = fminf(lo, x[c * inner + i]);
            hi = fmaxf(hi, x[c * inner + i]);
        }
        ptq_qparams_from_range(lo, hi, qp->qmin, qp->qmax, symmetric, &qp->scale[c],
                               &qp->zero_point[c]);
        ptq_quantize(x + c * inner, codes + c * inner, inner, qp->scale[c], qp->zero_point[c],
                     qp->qmin, qp->qmax);
    }
    ptq_fake_quant_tensor(qp, t->ndim, t->ne, x, x);
    return codes;
}

/* ============================================================ model files ====== */

static Onnx__ModelProto *read_model(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    fseek(f, 0, SEEK_END);
    const long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, (size_t)len, buf);
    free(buf);
    ck_assert_msg(m != NULL, "%s is not a ModelProto", path);
    ck_assert_ptr_nonnull(m->graph);
    return m;
}

static int64_t model_opset(const Onnx__ModelProto *m) {
    ck_assert_uint_eq(m->n_opset_import, 1);
    ck_assert_str_eq(m->opset_import[0]->domain, "");
    return m->opset_import[0]->version;
}

static int count_onnx_op(const Onnx__ModelProto *m, const char *op) {
    int n = 0;
    for (size_t i = 0; i < m->graph->n_node; i++) n += !strcmp(m->graph->node[i]->op_type, op);
    return n;
}

static const Onnx__TensorProto *find_init(const Onnx__ModelProto *m, const char *name) {
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        if (!strcmp(m->graph->initializer[i]->name, name)) return m->graph->initializer[i];
    ck_abort_msg("no initializer '%s'", name);
    return NULL;
}

/* Element i of an 8-bit integer initializer, read as its type says (uint8 or int8). */
static int32_t init_int8(const Onnx__TensorProto *t, size_t i) {
    return t->data_type == PTQ_DTYPE_U8 ? t->raw_data.data[i] : (int8_t)t->raw_data.data[i];
}

static const Onnx__NodeProto *producer_of(const Onnx__ModelProto *m, const char *value) {
    for (size_t i = 0; i < m->graph->n_node; i++)
        if (!strcmp(m->graph->node[i]->output[0], value)) return m->graph->node[i];
    ck_abort_msg("nothing produces '%s'", value);
    return NULL;
}

static int64_t onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name)) return n->attribute[i]->i;
    return def;
}

static float init_float(const Onnx__ModelProto *m, const char *name) {
    const Onnx__TensorProto *t = find_init(m, name);
    ck_assert_int_eq(t->data_type, PTQ_DTYPE_F32);
    ck_assert_uint_eq(t->raw_data.len, 4);
    float v;
    memcpy(&v, t->raw_data.data, 4);
    return v;
}

/* ======================================================== round trips ====== */

/* Every bundled model exports and re-imports into the same graph (node names, ops,
 * interface, parameters) computing the same logits bit for bit. */
START_TEST(bundled_models_round_trip) {
    glob_t gl;
    ck_assert_int_eq(glob(PTQ_SOURCE_DIR "/models/*.onnx", 0, NULL, &gl), 0);
    ck_assert_uint_ge(gl.gl_pathc, 4);
    float *x = test_images();
    for (size_t m = 0; m < gl.gl_pathc; m++) {
        const char *src = gl.gl_pathv[m];
        ptq_graph *g = load_ok(src);
        const char *out = temp_path(strrchr(src, '/') + 1);
        export_ok(g, NULL, 0, out);
        ptq_graph *g2 = load_ok(out);
        ck_assert_int_eq(g2->n_nodes, g->n_nodes);
        for (int32_t i = 0; i < g->n_nodes; i++) {
            ck_assert_str_eq(g2->nodes[i].name, g->nodes[i].name);
            ck_assert_int_eq(g2->nodes[i].op, g->nodes[i].op);
        }
        ck_assert_str_eq(g2->values[g2->inputs[0]].name, g->values[g->inputs[0]].name);
        ck_assert_str_eq(g2->values[g2->outputs[0]].name, g->values[g->outputs[0]].name);
        ck_assert_int_eq(ptq_graph_param_count(g2), ptq_graph_param_count(g));
        expect_same_outputs(g, g2, x, N_IMAGES, src);
        Onnx__ModelProto *mp = read_model(out);
        ck_assert_int_eq(model_opset(mp), 13);
        ck_assert_int_eq(mp->ir_version, 8);
        onnx__model_proto__free_unpacked(mp, NULL);
        ptq_graph_free(g2);
        ptq_graph_free(g);
    }
    free(x);
    globfree(&gl);
}
END_TEST

/* Building by hand: a node's output value, and one- and two-input nodes whose output is
 * "<name>.out" (attributes are set on the returned node before shapes are inferred). */
static int32_t node_out(ptq_graph *g, int32_t node) { return g->nodes[node].outputs[0]; }

static int32_t unary(ptq_graph *g, ptq_op op, const char *name, int32_t x) {
    char out[128];
    snprintf(out, sizeof out, "%s.out", name);
    return test_graph_node(g, op, name, 1, &x, out);
}

static int32_t binary(ptq_graph *g, ptq_op op, const char *name, int32_t a, int32_t b) {
    char out[128];
    snprintf(out, sizeof out, "%s.out", name);
    return test_graph_node(g, op, name, 2, (int32_t[]){a, b}, out);
}

static int32_t rand_const(ptq_graph *g, test_rng *r, const char *name, int32_t ndim,
                          const int64_t *ne, float lo, float hi) {
    float v[512];
    const int64_t n = ptq_shape_numel(ndim, ne);
    ck_assert_int_le(n, 512);
    test_fill_uniform(r, v, n, lo, hi);
    return test_graph_const(g, name, ndim, ne, v);
}

/* A graph that uses every op the exporter writes, each with non-default attributes
 * where it has any: [N,3,8,8] -> [N,2,5]. */
static ptq_graph *all_ops_graph(void) {
    test_rng r = {7};
    ptq_graph *g = ptq_graph_new();
    g->opset = 13;
    const int32_t x = test_graph_input(g, "x", 4, (int64_t[]){B, 3, 8, 8});
    int32_t n = test_graph_node(g, PTQ_OP_CONV, "conv", 3,
                                (int32_t[]){x, rand_const(g, &r, "conv.w", 4, (int64_t[]){4, 3, 3, 3}, -1, 1),
                                            rand_const(g, &r, "conv.b", 1, (int64_t[]){4}, -.5f, .5f)},
                                "c1");
    g->nodes[n].attrs.conv = (ptq_conv_attrs){.n_spatial = 2, .pad_begin = {1, 1}, .pad_end = {1, 1}};
    const int32_t c1 = node_out(g, n);
    const int64_t c4[1] = {4};
    n = test_graph_node(g, PTQ_OP_BATCH_NORM, "bn", 5,
                        (int32_t[]){c1, rand_const(g, &r, "bn.g", 1, c4, .5f, 1.5f),
                                    rand_const(g, &r, "bn.b", 1, c4, -.5f, .5f),
                                    rand_const(g, &r, "bn.m", 1, c4, -.5f, .5f),
                                    rand_const(g, &r, "bn.v", 1, c4, .5f, 2)},
                        "b1");
    g->nodes[n].attrs.epsilon = 1e-3f;
    const int32_t b1 = node_out(g, n);
    const int32_t hs = node_out(g, unary(g, PTQ_OP_HARD_SWISH, "hswish", b1));
    const int32_t sg = node_out(g, unary(g, PTQ_OP_SIGMOID, "sigmoid", b1));
    const int32_t th = node_out(g, unary(g, PTQ_OP_TANH, "tanh", b1));
    n = unary(g, PTQ_OP_HARD_SIGMOID, "hsigmoid", b1);
    g->nodes[n].attrs.alpha = 0.25f;
    g->nodes[n].attrs.beta = 0.4f;
    const int32_t hsg = node_out(g, n);
    n = unary(g, PTQ_OP_LEAKY_RELU, "lrelu", b1);
    g->nodes[n].attrs.alpha = 0.1f;
    const int32_t lr = node_out(g, n);
    const int32_t add = node_out(g, binary(g, PTQ_OP_ADD, "add", hs, sg));
    const int32_t sub = node_out(g, binary(g, PTQ_OP_SUB, "sub", th, hsg));
    const int32_t mul = node_out(g, binary(g, PTQ_OP_MUL, "mul", add, sub));
    const int32_t dv = node_out(g, binary(g, PTQ_OP_DIV, "div", mul,
                                          rand_const(g, &r, "div.c", 4, (int64_t[]){1, 4, 1, 1}, 1, 2)));
    n = unary(g, PTQ_OP_CLIP, "clip_hi", dv); /* only an upper bound */
    g->nodes[n].attrs.clip_max = 0.5f;
    const int32_t cl1 = node_out(g, n);
    n = unary(g, PTQ_OP_CLIP, "clip_both", lr);
    g->nodes[n].attrs.clip_min = -1.0f;
    g->nodes[n].attrs.clip_max = 1.0f;
    const int32_t cl2 = node_out(g, n);
    n = unary(g, PTQ_OP_PAD, "pad", cl1);
    const int64_t pads[8] = {0, 0, 1, 2, 0, 0, 2, 1};
    memcpy(g->nodes[n].attrs.pads, pads, sizeof pads);
    g->nodes[n].attrs.pad_value = 0.25f;
    const int32_t pd = node_out(g, n);
    n = unary(g, PTQ_OP_MAX_POOL, "maxpool", pd);
    g->nodes[n].attrs.pool = (ptq_pool_attrs){.n_spatial = 2, .ceil_mode = 1, .kernel = {3, 3},
                                              .stride = {2, 2}, .dilation = {2, 1},
                                              .pad_begin = {1, 1}, .pad_end = {1, 1}};
    const int32_t mp = node_out(g, n);
    n = unary(g, PTQ_OP_AVERAGE_POOL, "avgpool", cl2);
    g->nodes[n].attrs.pool = (ptq_pool_attrs){.n_spatial = 2, .count_include_pad = 1,
                                              .kernel = {3, 3}, .stride = {2, 2},
                                              .pad_begin = {1, 1}, .pad_end = {1, 1}};
    const int32_t ap = node_out(g, n);
    const int32_t gmp = node_out(g, unary(g, PTQ_OP_GLOBAL_MAX_POOL, "gmp", mp));
    const int32_t gap = node_out(g, unary(g, PTQ_OP_GLOBAL_AVERAGE_POOL, "gap", ap));
    n = binary(g, PTQ_OP_CONCAT, "cat", gmp, gap);
    g->nodes[n].attrs.axis = 1;
    const int32_t cat = node_out(g, n);
    n = unary(g, PTQ_OP_FLATTEN, "flat", cat);
    g->nodes[n].attrs.axis = 1;
    const int32_t fl = node_out(g, n);
    /* A 1-D convolution on the BN output seen as [N, 32, 8]. */
    n = unary(g, PTQ_OP_RESHAPE, "to1d", b1);
    g->nodes[n].attrs.ndim = 3;
    memcpy(g->nodes[n].attrs.shape, (int64_t[]){0, 32, -1}, 3 * sizeof(int64_t));
    const int32_t r1 = node_out(g, n);
    n = test_graph_node(g, PTQ_OP_CONV, "conv1d", 2,
                        (int32_t[]){r1, rand_const(g, &r, "conv1d.w", 3, (int64_t[]){2, 32, 3}, -.3f, .3f)},
                        "c1d");
    g->nodes[n].attrs.conv = (ptq_conv_attrs){.n_spatial = 1, .stride = {2}, .pad_begin = {1},
                                              .pad_end = {1}};
    const int32_t gap1 = node_out(g, unary(g, PTQ_OP_GLOBAL_AVERAGE_POOL, "gap1d", node_out(g, n)));
    n = unary(g, PTQ_OP_FLATTEN, "flat1d", gap1);
    g->nodes[n].attrs.axis = 1;
    n = binary(g, PTQ_OP_CONCAT, "cat2", fl, node_out(g, n));
    g->nodes[n].attrs.axis = 1;
    const int32_t cat2 = node_out(g, n);
    n = test_graph_node(g, PTQ_OP_GEMM, "gemm", 3,
                        (int32_t[]){cat2, rand_const(g, &r, "gemm.w", 2, (int64_t[]){6, 10}, -1, 1),
                                    rand_const(g, &r, "gemm.b", 1, (int64_t[]){6}, -1, 1)},
                        "gm");
    g->nodes[n].attrs.gemm = (ptq_gemm_attrs){0.5f, 2.0f, 0, 1};
    n = unary(g, PTQ_OP_RESHAPE, "reshape", node_out(g, n));
    g->nodes[n].attrs.ndim = 3;
    memcpy(g->nodes[n].attrs.shape, (int64_t[]){-1, 2, 3}, 3 * sizeof(int64_t));
    const int32_t rs = node_out(g, n);
    n = unary(g, PTQ_OP_TRANSPOSE, "transpose", rs);
    g->nodes[n].attrs.ndim = 3;
    memcpy(g->nodes[n].attrs.perm, (int64_t[]){0, 2, 1}, 3 * sizeof(int64_t));
    const int32_t mm = node_out(g, binary(g, PTQ_OP_MATMUL, "matmul", node_out(g, n),
                                          rand_const(g, &r, "mm.w", 2, (int64_t[]){2, 5}, -1, 1)));
    n = binary(g, PTQ_OP_GATHER, "gather", mm, add_const_i64(g, "gather.idx", 2, (int64_t[]){2, 0}));
    g->nodes[n].attrs.axis = 1;
    n = unary(g, PTQ_OP_SOFTMAX, "softmax_legacy", node_out(g, n));
    g->nodes[n].attrs.axis = 1;
    g->nodes[n].attrs.softmax_legacy = 1;
    const int32_t rl = node_out(g, unary(g, PTQ_OP_RELU, "relu", node_out(g, n)));
    n = unary(g, PTQ_OP_SOFTMAX, "softmax", rl);
    g->nodes[n].attrs.axis = 1;
    test_graph_output(g, node_out(g, n));
    ptq_error err = {0};
    ck_assert_msg(ptq_graph_infer_shapes(g, &err) == PTQ_OK, "%s", err.msg);
    ck_assert_msg(ptq_graph_validate(g, &err) == PTQ_OK, "%s", err.msg);
    return g;
}

START_TEST(all_ops_round_trip) {
    ptq_graph *g = all_ops_graph();
    char buf[64];
    const ptq_value *y = &g->values[g->outputs[0]];
    ck_assert_str_eq(ptq_shape_str(y->ndim, y->ne, buf, sizeof buf), "[N,2,5]");
    const char *path = temp_path("all_ops.onnx");
    export_ok(g, NULL, 0, path);

    Onnx__ModelProto *m = read_model(path);
    ck_assert_int_eq(model_opset(m), 14); /* HardSwish */
    static const char *const ops[] = {"Conv", "BatchNormalization", "HardSwish", "Sigmoid", "Tanh",
                                      "HardSigmoid", "LeakyRelu", "Add", "Sub", "Mul", "Div",
                                      "Clip", "Pad", "MaxPool", "AveragePool", "GlobalMaxPool",
                                      "GlobalAveragePool", "Concat", "Flatten", "Reshape", "Gemm",
                                      "Transpose", "MatMul", "Gather", "Softmax", "Relu", NULL};
    for (const char *const *op = ops; *op; op++)
        ck_assert_msg(count_onnx_op(m, *op) > 0, "no %s in the file", *op);
    /* The legacy Softmax over [2, 5] as one row: Flatten -> Softmax(1) -> Reshape. */
    ck_assert_int_eq(count_onnx_op(m, "Softmax"), 2);
    ck_assert_int_eq(count_onnx_op(m, "Flatten"), 3);
    const Onnx__NodeProto *back = producer_of(m, "softmax_legacy.out");
    ck_assert_str_eq(back->op_type, "Reshape");
    const Onnx__TensorProto *shape = find_init(m, back->input[1]);
    const int64_t *sv = (const int64_t *)shape->raw_data.data;
    ck_assert_int_eq(shape->dims[0], 3);
    ck_assert(sv[0] == 0 && sv[1] == 2 && sv[2] == 5);
    /* A Reshape keeping the batch where it is copies it (0). */
    shape = find_init(m, producer_of(m, "to1d.out")->input[1]);
    sv = (const int64_t *)shape->raw_data.data;
    ck_assert(sv[0] == 0 && sv[1] == 32 && sv[2] == 8);
    /* Clip without a lower bound leaves that input empty. */
    const Onnx__NodeProto *clip = producer_of(m, "clip_hi.out");
    ck_assert_uint_eq(clip->n_input, 3);
    ck_assert_str_eq(clip->input[1], "");
    ck_assert_float_eq(init_float(m, clip->input[2]), 0.5f);
    ck_assert_int_eq(onnx_attr_int(producer_of(m, "maxpool.out"), "ceil_mode", 0), 1);
    ck_assert_int_eq(onnx_attr_int(producer_of(m, "avgpool.out"), "count_include_pad", 0), 1);
    /* The input keeps a symbolic batch. */
    const Onnx__TensorShapeProto *in_shape = m->graph->input[0]->type->tensor_type->shape;
    ck_assert_str_eq(in_shape->dim[0]->dim_param, "N");
    ck_assert_int_eq(in_shape->dim[1]->dim_value, 3);
    onnx__model_proto__free_unpacked(m, NULL);

    ptq_graph *g2 = load_ok(path);
    float x[5 * 3 * 8 * 8];
    test_rng r = {3};
    test_fill_uniform(&r, x, 5 * 3 * 8 * 8, -2, 2);
    expect_same_outputs(g, g2, x, 5, "all ops");
    ptq_graph_free(g2);
    ptq_graph_free(g);
}
END_TEST

/* ResNet-20 with fake quantizers on its input (int8, zero point -10), after the stem ReLU
 * (uint8, zero point 3), after a ReLU (4 bits: narrow, Clip inserted), after a
 * BatchNormalization (symmetric int8: narrow too) and after an Add (per channel int8),
 * and two quantized weights (per-channel symmetric and per-tensor asymmetric int8). */
START_TEST(qdq_round_trip) {
    ptq_graph *f = load_ok(PTQ_SOURCE_DIR "/models/resnet20_fmnist.onnx");
    ck_assert_str_eq(f->nodes[2].name, "/stem/stem.2/Relu");
    ck_assert_int_eq(f->nodes[68].op, PTQ_OP_ADD);
    const fq_spec specs[] = {
        {-1, -128, 127, -1, 0.02f, -10}, {2, 0, 255, -1, 0.02f, 3}, {5, 0, 15, -1, 0.1f, 0},
        {7, -127, 127, -1, 0.01f, 0},    {68, -128, 127, 1, 0.05f, 2}};
    ptq_graph *g = with_fake_quant(f, specs, 5);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_FAKE_QUANT), 5);
    const int32_t w0 = node_named(g, "/stem/stem.0/Conv")->inputs[1];
    const int32_t w1 = node_named(g, "/layers/layers.0/c1/Conv")->inputs[1];
    ptq_qparams q0, q1;
    int32_t *codes0 = quantize_weight(g, w0, 8, true, true, &q0);
    int32_t *codes1 = quantize_weight(g, w1, 8, false, false, &q1);
    const ptq_export_weight weights[2] = {{w0, &q0, codes0, false}, {w1, &q1, codes1, false}};
    const char *keys[2] = {"ptq.pipeline", "ptq.note"}, *vals[2] = {"test", "qdq round trip"};
    const char *path = temp_path("resnet20_qdq.onnx");
    ptq_error err = {0};
    ck_assert_msg(ptq_onnx_export(g, weights, 2, keys, vals, 2, path, &err) == PTQ_OK, "%s", err.msg);

    Onnx__ModelProto *m = read_model(path);
    ck_assert_int_eq(model_opset(m), 13);
    ck_assert_int_eq(m->ir_version, 8);
    ck_assert_str_eq(m->producer_name, "ptq");
    ck_assert_str_eq(m->producer_version, ptq_version_string());
    ck_assert_uint_eq(m->n_metadata_props, 2);
    ck_assert_str_eq(m->metadata_props[1]->key, "ptq.note");
    ck_assert_str_eq(m->metadata_props[1]->value, "qdq round trip");
    ck_assert_int_eq(count_onnx_op(m, "QuantizeLinear"), 5);
    ck_assert_int_eq(count_onnx_op(m, "DequantizeLinear"), 7);
    ck_assert_int_eq(count_onnx_op(m, "Clip"), 2);
    /* The per-channel weight: int8 codes, 16 scales on axis 0, its DequantizeLinear
     * producing the weight's own name. */
    char nm[300];
    const char *w0name = g->values[w0].name;
    snprintf(nm, sizeof nm, "%s_quantized", w0name);
    const Onnx__TensorProto *c0 = find_init(m, nm);
    ck_assert_int_eq(c0->data_type, PTQ_DTYPE_I8);
    ck_assert_uint_eq(c0->raw_data.len, (size_t)ptq_tensor_numel(g->values[w0].data));
    for (size_t i = 0; i < c0->raw_data.len; i++) ck_assert_int_eq((int8_t)c0->raw_data.data[i], codes0[i]);
    const Onnx__NodeProto *dq0 = producer_of(m, w0name);
    ck_assert_str_eq(dq0->op_type, "DequantizeLinear");
    ck_assert_int_eq(onnx_attr_int(dq0, "axis", -99), 0);
    ck_assert_uint_eq(find_init(m, dq0->input[1])->n_dims, 1);
    ck_assert_int_eq(find_init(m, dq0->input[1])->dims[0], 16);
    const Onnx__NodeProto *dq1 = producer_of(m, g->values[w1].name);
    ck_assert_int_eq(onnx_attr_int(dq1, "axis", -99), -99);
    ck_assert_uint_eq(find_init(m, dq1->input[2])->n_dims, 0);
    ck_assert_int_eq(find_init(m, dq1->input[2])->data_type, PTQ_DTYPE_I8);
    /* The 4-bit quantizer: uint8 Q/DQ, then Clip to [(0 - 0) * 0.1, (15 - 0) * 0.1]. */
    const Onnx__NodeProto *clip = producer_of(m, "/layers/layers.0/Relu/fq.out");
    ck_assert_str_eq(clip->op_type, "Clip");
    const Onnx__NodeProto *dq4 = producer_of(m, clip->input[0]);
    ck_assert_str_eq(dq4->op_type, "DequantizeLinear");
    const Onnx__NodeProto *q4 = producer_of(m, dq4->input[0]);
    ck_assert_str_eq(q4->op_type, "QuantizeLinear");
    ck_assert_str_eq(q4->name, "/layers/layers.0/Relu/fq");
    ck_assert_int_eq(find_init(m, q4->input[2])->data_type, PTQ_DTYPE_U8);
    ck_assert_float_eq(init_float(m, clip->input[1]), 0.0f);
    ck_assert_float_eq(init_float(m, clip->input[2]), 15.0f * 0.1f);
    /* Per channel on the Add: int8 zero points, axis 1. */
    const Onnx__NodeProto *dqc = producer_of(m, "/layers/layers.8/Add/fq.out");
    ck_assert_int_eq(onnx_attr_int(dqc, "axis", -99), 1);
    ck_assert_int_eq(find_init(m, dqc->input[2])->data_type, PTQ_DTYPE_I8);
    ck_assert_int_eq(find_init(m, dqc->input[2])->dims[0], 64);
    onnx__model_proto__free_unpacked(m, NULL);

    ptq_graph *g2 = load_ok(path);
    ck_assert_int_eq(test_count_op(g2, PTQ_OP_FAKE_QUANT), 5);
    ck_assert_int_eq(test_count_op(g2, PTQ_OP_CLIP), 2);
    const ptq_node *fq = node_named(g2, "/layers/layers.0/Relu/fq");
    ck_assert(fq->attrs.qmin == 0 && fq->attrs.qmax == 255 && fq->attrs.q_axis == -1);
    fq = node_named(g2, "/layers/layers.8/Add/fq");
    ck_assert(fq->attrs.qmin == -128 && fq->attrs.qmax == 127 && fq->attrs.q_axis == 1);
    float *x = test_images();
    expect_same_outputs(g, g2, x, N_IMAGES, "QDQ ResNet-20");
    /* The quantizers do change the logits (so the comparison above means something). */
    int64_t nf, nq;
    float *yf = test_run_graph(f, x, N_IMAGES, &nf), *yq = test_run_graph(g2, x, N_IMAGES, &nq);
    ck_assert(memcmp(yf, yq, (size_t)nf * sizeof *yf) != 0);
    free(yf);
    free(yq);
    free(x);
    free(codes0);
    free(codes1);
    ptq_qparams_free(&q0);
    ptq_qparams_free(&q1);
    ptq_graph_free(g2);
    ptq_graph_free(g);
    ptq_graph_free(f);
}
END_TEST

/* Asymmetric per-channel weights: onnxruntime's QLinearConv takes one weight zero point,
 * so the export writes code - zero point with zero point 0 (same values); 8-bit
 * asymmetric codes do not fit int8 that way and keep their zero points. */
START_TEST(zero_point_free_weights) {
    ptq_graph *g = load_ok(PTQ_SOURCE_DIR "/models/resnet20_fmnist.onnx");
    const int32_t w4 = node_named(g, "/layers/layers.0/c1/Conv")->inputs[1];
    const int32_t w8 = node_named(g, "/stem/stem.0/Conv")->inputs[1];
    ptq_qparams q4, q8;
    int32_t *codes4 = quantize_weight(g, w4, 4, false, true, &q4);
    int32_t *codes8 = quantize_weight(g, w8, 8, false, true, &q8);
    bool differ = false;
    for (int64_t c = 1; c < q4.n; c++) differ |= q4.zero_point[c] != q4.zero_point[0];
    ck_assert_msg(differ, "the test needs per-channel zero points that differ");
    const ptq_export_weight weights[2] = {{w4, &q4, codes4, false}, {w8, &q8, codes8, false}};
    const char *path = temp_path("resnet20_zpfree.onnx");
    ptq_error err = {0};
    ck_assert_msg(ptq_onnx_export(g, weights, 2, NULL, NULL, 0, path, &err) == PTQ_OK, "%s", err.msg);
    Onnx__ModelProto *m = read_model(path);
    const Onnx__NodeProto *dq = producer_of(m, g->values[w4].name);
    const Onnx__TensorProto *codes = find_init(m, dq->input[0]), *zps = find_init(m, dq->input[2]);
    ck_assert_int_eq(codes->data_type, PTQ_DTYPE_I8);
    ck_assert_int_eq(zps->data_type, PTQ_DTYPE_I8);
    for (size_t c = 0; c < zps->raw_data.len; c++) ck_assert_int_eq((int8_t)zps->raw_data.data[c], 0);
    const int64_t inner = ptq_tensor_numel(g->values[w4].data) / q4.n;
    for (size_t i = 0; i < codes->raw_data.len; i++)
        ck_assert_int_eq((int8_t)codes->raw_data.data[i],
                         codes4[i] - q4.zero_point[(int64_t)i / inner]);
    dq = producer_of(m, g->values[w8].name);
    zps = find_init(m, dq->input[2]);
    bool kept = false;
    for (size_t c = 0; c < zps->raw_data.len; c++) kept |= zps->raw_data.data[c] != 0;
    ck_assert_msg(kept, "8-bit asymmetric weights keep their zero points");
    onnx__model_proto__free_unpacked(m, NULL);
    /* literal_grid (target none): the 4-bit grid as it is, uint8 codes and zero points. */
    const ptq_export_weight literal[1] = {{w4, &q4, codes4, true}};
    const char *lpath = temp_path("resnet20_literal.onnx");
    ck_assert_msg(ptq_onnx_export(g, literal, 1, NULL, NULL, 0, lpath, &err) == PTQ_OK, "%s", err.msg);
    m = read_model(lpath);
    dq = producer_of(m, g->values[w4].name);
    codes = find_init(m, dq->input[0]), zps = find_init(m, dq->input[2]);
    ck_assert_int_eq(zps->data_type, codes->data_type);
    for (size_t c = 0; c < zps->raw_data.len; c++) ck_assert_int_eq(init_int8(zps, c), q4.zero_point[c]);
    for (size_t i = 0; i < codes->raw_data.len; i++) ck_assert_int_eq(init_int8(codes, i), codes4[i]);
    onnx__model_proto__free_unpacked(m, NULL);
    ptq_graph *g2 = load_ok(path);
    float *x = test_images();
    expect_same_outputs(g, g2, x, N_IMAGES, "zero-point-free weights");
    free(x);
    free(codes4);
    free(codes8);
    ptq_qparams_free(&q4);
    ptq_qparams_free(&q8);
    ptq_graph_free(g2);
    ptq_graph_free(g);
}
END_TEST

/* [N,4] -> FAKE_QUANT (16-bit unsigned) -> Gemm with a 16-bit per-channel weight. */
static ptq_graph *sixteen_bit_graph(ptq_qparams *qp, int32_t **codes, int32_t *w) {
    test_rng r = {5};
    ptq_graph *g = ptq_graph_new();
    const int32_t x = test_graph_input(g, "x", 2, (int64_t[]){B, 4});
    const int32_t q = add_fq(g, "fq16", x, 0, 65535, -1, 1, 1e-4f, 30000);
    *w = rand_const(g, &r, "w", 2, (int64_t[]){3, 4}, -1, 1);
    const int32_t n = test_graph_node(g, PTQ_OP_GEMM, "gemm", 2, (int32_t[]){q, *w}, "y");
    g->nodes[n].attrs.gemm.trans_b = 1;
    test_graph_output(g, node_out(g, n));
    ptq_error err = {0};
    ck_assert_msg(ptq_graph_infer_shapes(g, &err) == PTQ_OK, "%s", err.msg);
    *codes = quantize_weight(g, *w, 16, true, true, qp);
    return g;
}

START_TEST(sixteen_bit_needs_opset_21) {
    ptq_qparams qp;
    int32_t *codes, w;
    ptq_graph *g = sixteen_bit_graph(&qp, &codes, &w);
    ck_assert_int_eq(qp.qmax, 32767);
    const ptq_export_weight wt = {w, &qp, codes, false};
    const char *path = temp_path("sixteen.onnx");
    export_ok(g, &wt, 1, path);
    Onnx__ModelProto *m = read_model(path);
    ck_assert_int_eq(model_opset(m), 21);
    ck_assert_int_eq(m->ir_version, 10);
    ck_assert_int_eq(find_init(m, "w_quantized")->data_type, ONNX_INT16);
    ck_assert_int_eq(find_init(m, producer_of(m, "fq16.out")->input[2])->data_type, ONNX_UINT16);
    onnx__model_proto__free_unpacked(m, NULL);
    ptq_graph *g2 = load_ok(path);
    const ptq_node *fq = node_named(g2, "fq16");
    ck_assert(fq->attrs.qmin == 0 && fq->attrs.qmax == 65535);
    float x[7 * 4];
    test_rng r = {1};
    test_fill_uniform(&r, x, 28, -1, 6);
    expect_same_outputs(g, g2, x, 7, "16-bit");
    free(codes);
    ptq_qparams_free(&qp);
    ptq_graph_free(g2);
    ptq_graph_free(g);
}
END_TEST

/* ======================================================== failures ====== */

static ptq_graph *tiny_graph(void) {
    ptq_graph *g = ptq_graph_new();
    const int32_t x = test_graph_input(g, "x", 2, (int64_t[]){B, 4});
    test_graph_output(g, node_out(g, unary(g, PTQ_OP_RELU, "relu", x)));
    ptq_error err = {0};
    ck_assert_int_eq(ptq_graph_infer_shapes(g, &err), PTQ_OK);
    return g;
}

/* A refused export reports the path and leaves no file, not even a temporary one. */
static void expect_refused(const ptq_graph *g, const ptq_export_weight *w, int32_t n_w,
                           ptq_status status, const char *what) {
    const char *path = temp_path("refused.onnx");
    const int before = temp_dir_entries();
    ptq_error err = {0};
    ck_assert_int_eq(ptq_onnx_export(g, w, n_w, NULL, NULL, 0, path, &err), status);
    ck_assert_msg(!strncmp(err.msg, path, strlen(path)), "%s", err.msg);
    ck_assert_msg(test_contains(err.msg, what), "'%s' lacks '%s'", err.msg, what);
    ck_assert(!file_exists(path));
    ck_assert_int_eq(temp_dir_entries(), before);
}

START_TEST(unexportable_refused) {
    /* A per-channel grid narrower than int8 cannot be expressed in QDQ. */
    ptq_graph *g = ptq_graph_new();
    const int32_t x = test_graph_input(g, "x", 2, (int64_t[]){B, 4});
    test_graph_output(g, add_fq(g, "narrow_pc", x, -127, 127, 1, 4, 0.1f, 0));
    expect_refused(g, NULL, 0, PTQ_ERR_UNSUPPORTED, "'narrow_pc'");
    /* A plugin's rounding is not QuantizeLinear's. */
    static int dummy_rounding;
    g->nodes[0].attrs.q_axis = -1;
    ptq_error err = {0};
    g->values[g->nodes[0].inputs[1]].data->ne[0] = 1; /* one scale: per tensor */
    g->values[g->nodes[0].inputs[1]].ne[0] = 1;
    g->values[g->nodes[0].inputs[2]].data->ne[0] = 1;
    g->values[g->nodes[0].inputs[2]].ne[0] = 1;
    ck_assert_int_eq(ptq_graph_infer_node(g, 0, &err), PTQ_OK);
    g->nodes[0].attrs.q_rounding = &dummy_rounding;
    expect_refused(g, NULL, 0, PTQ_ERR_UNSUPPORTED, "rounding");
    g->nodes[0].attrs.q_rounding = NULL;
    /* A grid no 16-bit type holds. */
    g->nodes[0].attrs.qmax = 70000;
    expect_refused(g, NULL, 0, PTQ_ERR_UNSUPPORTED, "fits no");
    ptq_graph_free(g);

    /* Weights: codes outside the grid, a grid that does not fit the shape. */
    ptq_qparams qp;
    int32_t *codes, w;
    g = sixteen_bit_graph(&qp, &codes, &w);
    ptq_export_weight wt = {w, &qp, codes, false};
    codes[5] = 40000;
    expect_refused(g, &wt, 1, PTQ_ERR_INVALID, "outside");
    codes[5] = 0;
    qp.n = 2;
    expect_refused(g, &wt, 1, PTQ_ERR_INVALID, "scales");
    qp.n = 3;
    const ptq_export_weight twice[2] = {wt, wt};
    expect_refused(g, twice, 2, PTQ_ERR_INVALID, "twice");
    wt.value = g->inputs[0];
    expect_refused(g, &wt, 1, PTQ_ERR_INVALID, "not a float32 constant");
    free(codes);
    ptq_qparams_free(&qp);
    ptq_graph_free(g);
}
END_TEST

START_TEST(atomic_write) {
    ptq_graph *g = tiny_graph();
    ptq_error err = {0};
    const int base = temp_dir_entries(); /* other tests' files, with CK_FORK=no */
    /* A directory that does not exist: an I/O error naming the path, and no file. */
    const char *bad = temp_path("no/such/dir/model.onnx");
    ck_assert_int_eq(ptq_onnx_export(g, NULL, 0, NULL, NULL, 0, bad, &err), PTQ_ERR_IO);
    ck_assert_msg(!strncmp(err.msg, bad, strlen(bad)), "%s", err.msg);
    ck_assert_msg(test_contains(err.msg, "No such file or directory"), "%s", err.msg);
    ck_assert(!file_exists(bad));
    ck_assert_int_eq(temp_dir_entries(), base);
    /* Over a directory: the rename fails and the temporary file is removed. */
    const char *dir = temp_path("a_directory");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ptq_error e2 = {0};
    ck_assert_int_eq(ptq_onnx_export(g, NULL, 0, NULL, NULL, 0, dir, &e2), PTQ_ERR_IO);
    ck_assert_msg(test_contains(e2.msg, "rename"), "%s", e2.msg);
    ck_assert_int_eq(temp_dir_entries(), base + 1);
    /* Over an existing file: replaced, keeping its permissions, nothing left beside it. */
    const char *path = temp_path("model.onnx");
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("not a model", f);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0640), 0);
    export_ok(g, NULL, 0, path);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    ck_assert_int_eq(temp_dir_entries(), base + 2);
    ptq_graph *g2 = load_ok(path);
    ck_assert_str_eq(g2->nodes[0].name, "relu");
    ptq_graph_free(g2);
    /* A new file gets the usual 0644. */
    const char *fresh = temp_path("fresh.onnx");
    export_ok(g, NULL, 0, fresh);
    ck_assert_int_eq(stat(fresh, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0644);
    ptq_graph_free(g);
}
END_TEST

/* ============================================= importing QDQ (in-memory models) ====== */

static void mb_scalar_f32(mb *b, const char *name, float v) {
    mb_init_raw(b, name, PTQ_DTYPE_F32, 0, NULL, &v, 4);
}

static void mb_io(mb *b, const char *in, const char *out, size_t ndim, const int64_t *dims) {
    mb_input(b, in, ndim, dims);
    mb_output(b, out, ndim, dims);
}

static ptq_graph *mb_load_ok(mb *b) {
    ptq_error err = {0};
    ptq_graph *g = mb_load(b, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_int_eq(ptq_graph_validate(g, &err), PTQ_OK);
    return g;
}

static void mb_refused(mb *b, ptq_status status, const char *what1, const char *what2) {
    ptq_error err = {0};
    ptq_graph *g = mb_load(b, &err);
    ck_assert_msg(g == NULL, "the model was accepted");
    ck_assert_msg(err.status == status, "status %d (%s), expected %d", err.status, err.msg, status);
    ck_assert_msg(test_contains(err.msg, what1) && test_contains(err.msg, what2),
                  "message '%s' lacks '%s' or '%s'", err.msg, what1, what2);
}

/* Clip -> Q/DQ uint8 -> Relu -> Q/DQ int8 per channel (axis -3) -> Q/DQ without a zero
 * point: three FAKE_QUANT nodes computing what ptq_fake_quant computes. */
START_TEST(import_qdq_pairs) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[4] = {B, 2, 3, 3}, two[1] = {2};
    mb_io(&b, "x", "y", 4, xd);
    mb_scalar_f32(&b, "lo", -1.0f);
    mb_scalar_f32(&b, "hi", 1.5f);
    mb_scalar_f32(&b, "s", 0.05f);
    const uint8_t z = 7;
    mb_init_raw(&b, "z", PTQ_DTYPE_U8, 0, NULL, &z, 1);
    const float sc[2] = {0.01f, 0.02f};
    const int8_t zc[2] = {-3, 4};
    mb_init_raw(&b, "sc", PTQ_DTYPE_F32, 1, two, sc, 8);
    mb_init_raw(&b, "zc", PTQ_DTYPE_I8, 1, two, zc, 2);
    mb_node(&b, "Clip", "clip", "x,lo,hi", "c");
    mb_node(&b, "QuantizeLinear", "q1", "c,s,z", "c_q");
    mb_node(&b, "DequantizeLinear", "dq1", "c_q,s,z", "c_dq");
    mb_node(&b, "Relu", "relu", "c_dq", "r");
    Onnx__NodeProto *q2 = mb_node(&b, "QuantizeLinear", "q2", "r,sc,zc", "r_q");
    mb_attr_int(&b, q2, "axis", -3);
    Onnx__NodeProto *dq2 = mb_node(&b, "DequantizeLinear", "dq2", "r_q,sc,zc", "r_dq");
    mb_attr_int(&b, dq2, "axis", 1);
    mb_node(&b, "QuantizeLinear", "q3", "r_dq,s", "y_q");
    mb_node(&b, "DequantizeLinear", "dq3", "y_q,s", "y");
    ptq_graph *g = mb_load_ok(&b);
    mb_free(&b);
    ck_assert_int_eq(g->n_nodes, 5);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_CLIP), 1);
    ck_assert_int_eq(test_count_op(g, PTQ_OP_FAKE_QUANT), 3);
    const ptq_node *f1 = node_named(g, "q1"), *f2 = node_named(g, "q2"), *f3 = node_named(g, "q3");
    ck_assert(f1->attrs.qmin == 0 && f1->attrs.qmax == 255 && f1->attrs.q_axis == -1);
    ck_assert(f2->attrs.qmin == -128 && f2->attrs.qmax == 127 && f2->attrs.q_axis == 1);
    ck_assert(f3->attrs.qmin == 0 && f3->attrs.qmax == 255 && f3->attrs.q_axis == -1);
    ck_assert_int_eq(((const int32_t *)g->values[f1->inputs[2]].data->data)[0], 7);
    ck_assert_int_eq(((const int32_t *)g->values[f2->inputs[2]].data->data)[0], -3);
    ck_assert_int_eq(((const int32_t *)g->values[f3->inputs[2]].data->data)[0], 0);
    ck_assert_str_eq(g->values[g->outputs[0]].name, "y");

    float x[3 * 18], want[3 * 18];
    test_rng r = {9};
    test_fill_uniform(&r, x, 54, -1.5f, 2.0f);
    for (int i = 0; i < 54; i++) want[i] = fminf(fmaxf(x[i], -1.0f), 1.5f);
    ptq_fake_quant(want, want, 54, 0.05f, 7, 0, 255);
    for (int i = 0; i < 54; i++) want[i] = fmaxf(want[i], 0.0f);
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 2; c++)
            ptq_fake_quant(want + s * 18 + c * 9, want + s * 18 + c * 9, 9, sc[c], zc[c], -128, 127);
    ptq_fake_quant(want, want, 54, 0.05f, 0, 0, 255);
    int64_t n;
    float *y = test_run_graph(g, x, 3, &n);
    ck_assert_int_eq(n, 54);
    ck_assert(memcmp(y, want, sizeof want) == 0);
    free(y);
    ptq_graph_free(g);
}
END_TEST

/* DequantizeLinear of integer initializers folds into float constants: an int8 weight
 * per channel, and (opset 21) a uint16 one per tensor. */
START_TEST(import_dq_folded) {
    for (int v = 0; v < 2; v++) {
        mb b;
        mb_init(&b, v ? 21 : 13);
        const int64_t xd[4] = {B, 1, 2, 2}, cd[4] = {B, 2, 2, 2}, wd[4] = {2, 1, 1, 1}, two[1] = {2};
        mb_input(&b, "x", 4, xd);
        mb_output(&b, "c", 4, cd);
        const int8_t q8[2] = {-100, 27}, z8[2] = {3, -1};
        const uint16_t q16[2] = {60000, 5}, z16 = 40000;
        const float s8[2] = {0.5f, 0.125f}, s16 = 1e-3f;
        if (v) {
            mb_init_raw(&b, "wq", ONNX_UINT16, 4, wd, q16, 4);
            mb_init_raw(&b, "ws", PTQ_DTYPE_F32, 0, NULL, &s16, 4);
            mb_init_raw(&b, "wz", ONNX_UINT16, 0, NULL, &z16, 2);
        } else {
            mb_init_raw(&b, "wq", PTQ_DTYPE_I8, 4, wd, q8, 2);
            mb_init_raw(&b, "ws", PTQ_DTYPE_F32, 1, two, s8, 8);
            mb_init_raw(&b, "wz", PTQ_DTYPE_I8, 1, two, z8, 2);
        }
        Onnx__NodeProto *dq = mb_node(&b, "DequantizeLinear", "dq_w", "wq,ws,wz", "w");
        if (!v) mb_attr_int(&b, dq, "axis", 0);
        mb_node(&b, "Conv", "conv", "x,w", "c");
        ptq_graph *g = mb_load_ok(&b);
        mb_free(&b);
        ck_assert_int_eq(g->n_nodes, 1);
        const ptq_tensor *w = g->values[g->nodes[0].inputs[1]].data;
        ck_assert_int_eq(w->dtype, PTQ_DTYPE_F32);
        const float *wv = w->data;
        for (int c = 0; c < 2; c++) {
            const float want = v ? (float)((int32_t)q16[c] - (int32_t)z16) * s16
                                 : (float)(q8[c] - z8[c]) * s8[c];
            ck_assert_msg(wv[c] == want, "weight %d: %.9g, expected %.9g", c, (double)wv[c],
                          (double)want);
        }
        ptq_graph_free(g);
    }
}
END_TEST

/* A model with one Q/DQ-related node pattern; x [N,4] -> ... -> y. */
static void mb_qdq_base(mb *b, int64_t opset) {
    const int64_t xd[2] = {B, 4};
    mb_init(b, opset);
    mb_io(b, "x", "y", 2, xd);
    mb_scalar_f32(b, "s", 0.1f);
    mb_scalar_f32(b, "s2", 0.2f);
}

START_TEST(import_qdq_refused) {
    mb b;
    /* QuantizeLinear read by something other than a DequantizeLinear. */
    mb_qdq_base(&b, 13);
    mb_node(&b, "QuantizeLinear", "q_alone", "x,s", "q");
    mb_node(&b, "Relu", "relu", "q", "y");
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, "'q_alone'", "exactly one DequantizeLinear");
    mb_free(&b);
    /* ... by two DequantizeLinear nodes. */
    mb_qdq_base(&b, 13);
    mb_node(&b, "QuantizeLinear", "q_two", "x,s", "q");
    mb_node(&b, "DequantizeLinear", "dq_a", "q,s", "a");
    mb_node(&b, "DequantizeLinear", "dq_b", "q,s", "bb");
    mb_node(&b, "Add", "add", "a,bb", "y");
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, "'q_two'", "QuantizeLinear -> DequantizeLinear");
    mb_free(&b);
    /* ... as a graph output. */
    mb_qdq_base(&b, 13);
    mb_node(&b, "QuantizeLinear", "q_out", "x,s", "y");
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, "'q_out'", "'y'");
    mb_free(&b);
    /* DequantizeLinear of a run-time value. */
    mb_qdq_base(&b, 13);
    mb_node(&b, "DequantizeLinear", "dq_rt", "x,s", "y");
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, "'dq_rt'", "run-time value 'x'");
    mb_free(&b);
    /* A pair on two grids. */
    mb_qdq_base(&b, 13);
    mb_node(&b, "QuantizeLinear", "q_s", "x,s", "q");
    mb_node(&b, "DequantizeLinear", "dq_s2", "q,s2", "y");
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, "'dq_s2'", "'q_s'");
    mb_free(&b);
    /* Blocked quantization (opset 21). */
    mb_qdq_base(&b, 21);
    Onnx__NodeProto *q = mb_node(&b, "QuantizeLinear", "q_block", "x,s", "q");
    mb_attr_int(&b, q, "block_size", 2);
    mb_node(&b, "DequantizeLinear", "dq", "q,s", "y");
    mb_refused(&b, PTQ_ERR_UNSUPPORTED, "'q_block'", "block_size");
    mb_free(&b);
    /* 16-bit types before opset 21. */
    mb_qdq_base(&b, 13);
    const uint16_t z = 100;
    mb_init_raw(&b, "z16", ONNX_UINT16, 0, NULL, &z, 2);
    mb_node(&b, "QuantizeLinear", "q16", "x,s,z16", "q");
    mb_node(&b, "DequantizeLinear", "dq16", "q,s,z16", "y");
    mb_refused(&b, PTQ_ERR_INVALID, "'q16'", "opset 21");
    /* ... which opset 21 accepts. */
    b.opset.version = 21;
    ptq_graph *g = mb_load_ok(&b);
    ck_assert_int_eq(node_named(g, "q16")->attrs.qmax, 65535);
    ptq_graph_free(g);
    mb_free(&b);
}
END_TEST

/* ================================================ learned rounding borders ====== */

/* A FAKE_QUANT called name with rounding borders: [qmin, qmax], n scales and zero points
 * (per channel on axis 1 when axis is 1), and table[rows, bins] as its fourth input
 * (bins is qmax - qmin unless a test wants it wrong).  Shapes are not inferred. */
static int32_t add_border_fq(ptq_graph *g, const char *name, int32_t x, int32_t qmin,
                             int32_t qmax, int32_t axis, int64_t n, const float *scales,
                             const int32_t *zps, int64_t rows, int64_t bins, const float *table) {
    ptq_error err = {0};
    char nm[300];
    snprintf(nm, sizeof nm, "%s.scale", name);
    const int32_t sid = test_graph_const(g, nm, 1, &n, scales);
    ptq_tensor *z = ptq_tensor_new(PTQ_DTYPE_I32, 1, &n, &err);
    ck_assert_ptr_nonnull(z);
    memcpy(z->data, zps, (size_t)n * sizeof *zps);
    snprintf(nm, sizeof nm, "%s.zero_point", name);
    const int32_t zid = ptq_graph_add_constant(g, nm, z, &err);
    ck_assert_int_ge(zid, 0);
    snprintf(nm, sizeof nm, "%s.borders", name);
    const int32_t bid = test_graph_const(g, nm, 2, (int64_t[]){rows, bins}, table);
    snprintf(nm, sizeof nm, "%s.out", name);
    const int32_t id =
        test_graph_node(g, PTQ_OP_FAKE_QUANT, name, 4, (int32_t[]){x, sid, zid, bid}, nm);
    ptq_node_attrs *a = &g->nodes[id].attrs;
    a->qmin = qmin;
    a->qmax = qmax;
    a->q_axis = axis;
    return id;
}

static void infer_ok(ptq_graph *g, int32_t node) {
    ptq_error err = {0};
    ck_assert_msg(ptq_graph_infer_node(g, node, &err) == PTQ_OK, "%s", err.msg);
}

/* rows x bins borders: 0, 1, 0.5 and random multiples of 1/1024 in turn. */
static float *border_table(test_rng *r, int64_t rows, int64_t bins) {
    float *t = malloc((size_t)(rows * bins) * sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < rows * bins; i++) {
        const int64_t m = i % 5;
        t[i] = m == 0   ? 0.0f
               : m == 1 ? 1.0f
               : m == 2 ? 0.5f
                        : (float)test_rng_int(r, 0, 1024) / 1024.0f;
    }
    return t;
}

/* The formula, written out: v = x / s, k = floor(v), the bin k + zp - qmin clamped into
 * the row, r = k + (v - k > border), q = clamp(r + zp), y = (q - zp) * s. */
static float border_reference(float x, float s, int32_t zp, int32_t qmin, int32_t qmax,
                              const float *row) {
    const float v = x / s, k = floorf(v);
    const double bin = (double)k + zp - qmin;
    const int64_t b = !(bin >= 0.0) ? 0 : bin > qmax - qmin - 1 ? qmax - qmin - 1 : (int64_t)bin;
    const float r = k + (v - k > row[b] ? 1.0f : 0.0f);
    float q = r + (float)zp;
    q = q < (float)qmin ? (float)qmin : q > (float)qmax ? (float)qmax : q;
    return (q - (float)zp) * s;
}

/* ---- an evaluator of the ONNX ops the export writes ---- */

/* The ONNX semantics of the ops a quantizer with borders is written as (numpy
 * broadcasting, float32 arithmetic, QuantizeLinear as round-half-to-even of x / scale
 * then saturation), every value held as float (indices, booleans and integer codes are
 * exact), so the export's meaning is checked, not only that ptq reads its own chain
 * back.  onnxruntime is not a test dependency. */
typedef struct ev_val {
    const char *name;
    int32_t ndim, type; /* type: the ONNX element type */
    int64_t ne[PTQ_MAX_DIMS];
    float *d;
} ev_val;

typedef struct ev {
    ev_val v[160];
    int n;
} ev;

static int64_t ev_numel(const ev_val *v) {
    int64_t n = 1;
    for (int32_t d = 0; d < v->ndim; d++) n *= v->ne[d];
    return n;
}

static ev_val *ev_get(ev *e, const char *name) {
    for (int i = 0; i < e->n; i++)
        if (!strcmp(e->v[i].name, name)) return &e->v[i];
    ck_abort_msg("evaluator: no value '%s'", name);
    return NULL;
}

static ev_val *ev_new(ev *e, const char *name, int32_t ndim, const int64_t *ne, int32_t type) {
    ck_assert_int_lt(e->n, 160);
    ev_val *v = &e->v[e->n++];
    *v = (ev_val){name, ndim, type, {0}, NULL};
    if (ndim) memcpy(v->ne, ne, (size_t)ndim * sizeof *ne);
    v->d = malloc((size_t)ev_numel(v) * sizeof *v->d + 1);
    ck_assert_ptr_nonnull(v->d);
    return v;
}

static void ev_initializer(ev *e, const Onnx__TensorProto *t) {
    ev_val *v = ev_new(e, t->name, (int32_t)t->n_dims, t->dims, t->data_type);
    const uint8_t *raw = t->raw_data.data;
    ck_assert(t->has_raw_data);
    for (int64_t i = 0; i < ev_numel(v); i++) {
        switch (t->data_type) {
        case PTQ_DTYPE_F32: memcpy(&v->d[i], raw + 4 * i, 4); break;
        case PTQ_DTYPE_U8: v->d[i] = raw[i]; break;
        case PTQ_DTYPE_I8: v->d[i] = (int8_t)raw[i]; break;
        case ONNX_UINT16: v->d[i] = (uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8); break;
        case ONNX_INT16: v->d[i] = (int16_t)(uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8); break;
        default: ck_abort_msg("evaluator: initializer '%s' of type %d", t->name, t->data_type);
        }
    }
}

static float ev_scalar(ev *e, const Onnx__NodeProto *n, size_t i, float def) {
    if (i >= n->n_input || !*n->input[i]) return def;
    const ev_val *v = ev_get(e, n->input[i]);
    ck_assert_int_eq(ev_numel(v), 1);
    return v->d[0];
}

static int64_t ev_attr(const Onnx__NodeProto *n, const char *name, int64_t def) {
    return onnx_attr_int(n, name, def);
}

/* Element-wise binary op with numpy broadcasting. */
static void ev_binary(ev *e, const Onnx__NodeProto *n) {
    const ev_val *a = ev_get(e, n->input[0]), *b = ev_get(e, n->input[1]);
    const int32_t r = PTQ_MAX(a->ndim, b->ndim);
    int64_t ne[PTQ_MAX_DIMS];
    for (int32_t d = 0; d < r; d++) {
        const int32_t da = d - (r - a->ndim), db = d - (r - b->ndim);
        const int64_t na = da >= 0 ? a->ne[da] : 1, nb = db >= 0 ? b->ne[db] : 1;
        ck_assert_msg(na == nb || na == 1 || nb == 1, "evaluator: %s does not broadcast", n->name);
        ne[d] = PTQ_MAX(na, nb);
    }
    ev_val *o = ev_new(e, n->output[0], r, ne, a->type);
    const char *op = n->op_type;
    for (int64_t i = 0; i < ev_numel(o); i++) {
        int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int32_t d = r - 1; d >= 0; d--) {
            const int64_t coord = rem % ne[d];
            rem /= ne[d];
            const int32_t da = d - (r - a->ndim), db = d - (r - b->ndim);
            if (da >= 0) {
                ia += (a->ne[da] == 1 ? 0 : coord) * sa;
                sa *= a->ne[da];
            }
            if (db >= 0) {
                ib += (b->ne[db] == 1 ? 0 : coord) * sb;
                sb *= b->ne[db];
            }
        }
        const float x = a->d[ia], y = b->d[ib];
        float z;
        if (!strcmp(op, "Add")) z = x + y;
        else if (!strcmp(op, "Sub")) z = x - y;
        else if (!strcmp(op, "Mul")) z = x * y;
        else if (!strcmp(op, "Div")) z = x / y;
        else z = x > y ? 1.0f : 0.0f; /* Greater */
        o->d[i] = z;
    }
}

/* QuantizeLinear / DequantizeLinear, per tensor or per channel along `axis`. */
static void ev_qdq(ev *e, const Onnx__NodeProto *n, bool quantize) {
    const ev_val *x = ev_get(e, n->input[0]), *s = ev_get(e, n->input[1]),
                 *z = ev_get(e, n->input[2]);
    ev_val *o = ev_new(e, n->output[0], x->ndim, x->ne, quantize ? z->type : PTQ_DTYPE_F32);
    int64_t axis = ev_attr(n, "axis", 1), inner = 1;
    if (axis < 0) axis += x->ndim;
    for (int32_t d = (int32_t)axis + 1; d < x->ndim; d++) inner *= x->ne[d];
    const int64_t ch = ev_numel(s);
    float lo = 0, hi = 255;
    if (z->type == PTQ_DTYPE_I8) lo = -128, hi = 127;
    else if (z->type == ONNX_UINT16) lo = 0, hi = 65535;
    else if (z->type == ONNX_INT16) lo = -32768, hi = 32767;
    for (int64_t i = 0; i < ev_numel(o); i++) {
        const int64_t c = ch > 1 ? (i / inner) % ch : 0;
        if (quantize) {
            float q = nearbyintf(x->d[i] / s->d[c]) + z->d[c];
            o->d[i] = q < lo ? lo : q > hi ? hi : q;
        } else {
            o->d[i] = (x->d[i] - z->d[c]) * s->d[c];
        }
    }
}

/* Runs model m on x (its input's shape ne[ndim], the batch included); returns a copy of
 * its output (caller frees) with its element count. */
static float *ev_run(const Onnx__ModelProto *m, const float *x, int32_t ndim, const int64_t *ne,
                     int64_t *numel) {
    ev e = {.n = 0};
    const Onnx__GraphProto *gp = m->graph;
    for (size_t i = 0; i < gp->n_initializer; i++) ev_initializer(&e, gp->initializer[i]);
    ev_val *in = ev_new(&e, gp->input[0]->name, ndim, ne, PTQ_DTYPE_F32);
    memcpy(in->d, x, (size_t)ev_numel(in) * sizeof *x);
    for (size_t k = 0; k < gp->n_node; k++) {
        const Onnx__NodeProto *n = gp->node[k];
        const char *op = n->op_type;
        if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") ||
            !strcmp(op, "Div") || !strcmp(op, "Greater")) {
            ev_binary(&e, n);
        } else if (!strcmp(op, "QuantizeLinear") || !strcmp(op, "DequantizeLinear")) {
            ev_qdq(&e, n, op[0] == 'Q');
        } else if (!strcmp(op, "Floor") || !strcmp(op, "Clip") || !strcmp(op, "Cast")) {
            const float lo = ev_scalar(&e, n, 1, -INFINITY), hi = ev_scalar(&e, n, 2, INFINITY);
            const int64_t to = ev_attr(n, "to", PTQ_DTYPE_F32);
            const ev_val *a = ev_get(&e, n->input[0]);
            ev_val *o = ev_new(&e, n->output[0], a->ndim, a->ne, op[1] == 'a' ? (int32_t)to : a->type);
            for (int64_t i = 0; i < ev_numel(o); i++) {
                const float v = a->d[i];
                if (op[0] == 'F') o->d[i] = floorf(v);
                else if (op[1] == 'l') o->d[i] = v < lo ? lo : v > hi ? hi : v;
                else o->d[i] = to == PTQ_DTYPE_I64 ? (float)(int64_t)v : v;
            }
        } else if (!strcmp(op, "Gather")) {
            ck_assert_int_eq(ev_attr(n, "axis", 0), 0);
            const ev_val *data = ev_get(&e, n->input[0]), *ind = ev_get(&e, n->input[1]);
            ck_assert_int_eq(data->ndim, 1);
            ev_val *o = ev_new(&e, n->output[0], ind->ndim, ind->ne, data->type);
            for (int64_t i = 0; i < ev_numel(o); i++) {
                const int64_t j = (int64_t)ind->d[i];
                ck_assert_msg(j >= 0 && j < data->ne[0], "evaluator: Gather index %lld of %lld",
                              (long long)j, (long long)data->ne[0]);
                o->d[i] = data->d[j];
            }
        } else {
            ck_abort_msg("evaluator: op %s", op);
        }
    }
    const ev_val *y = ev_get(&e, gp->output[0]->name);
    *numel = ev_numel(y);
    float *out = malloc((size_t)*numel * sizeof *out + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, y->d, (size_t)*numel * sizeof *out);
    for (int i = 0; i < e.n; i++) free(e.v[i].d);
    return out;
}

/* ---- round trips ---- */

static void expect_identical(const float *want, const float *got, int64_t n, const float *x,
                             const char *what) {
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(!memcmp(&want[i], &got[i], sizeof *got),
                      "%s: output %lld (x = %.9g) is %.9g, expected %.9g", what, (long long)i,
                      x ? (double)x[i] : 0.0, (double)got[i], (double)want[i]);
}

/* Exports g (input x of shape ne[ndim], batch included), and checks that the ONNX ops,
 * evaluated as ONNX defines them, and ptq's re-import give exactly g's outputs.  Returns
 * the re-imported graph and the model (caller frees both). */
static ptq_graph *border_export_check(const ptq_graph *g, const float *x, int32_t ndim,
                                      const int64_t *ne, const char *file,
                                      Onnx__ModelProto **model) {
    const char *path = temp_path(file);
    export_ok(g, NULL, 0, path);
    int64_t n, n_onnx, n_back;
    float *want = test_run_graph(g, x, ne[0], &n);
    Onnx__ModelProto *m = read_model(path);
    float *onnx = ev_run(m, x, ndim, ne, &n_onnx);
    ck_assert_int_eq(n_onnx, n);
    expect_identical(want, onnx, n, x, "the ONNX ops");
    ptq_graph *g2 = load_ok(path);
    float *back = test_run_graph(g2, x, ne[0], &n_back);
    ck_assert_int_eq(n_back, n);
    expect_identical(want, back, n, x, "the re-imported graph");
    free(want);
    free(onnx);
    free(back);
    *model = m;
    return g2;
}

/* The re-imported node `name` is the original one: a FAKE_QUANT with the same grid,
 * scales and zero points (a single one comes back as a scalar), and border table. */
static void expect_same_fq(const ptq_graph *g, const ptq_graph *g2, const char *name) {
    const ptq_node *a = node_named(g, name), *b = node_named(g2, name);
    ck_assert_int_eq(b->op, PTQ_OP_FAKE_QUANT);
    ck_assert_int_eq(b->n_inputs, a->n_inputs);
    ck_assert(b->attrs.qmin == a->attrs.qmin && b->attrs.qmax == a->attrs.qmax);
    ck_assert_int_eq(b->attrs.q_axis, ptq_tensor_numel(g->values[a->inputs[1]].data) > 1 ? 1 : -1);
    for (int32_t k = 1; k < a->n_inputs; k++) {
        const ptq_tensor *ta = g->values[a->inputs[k]].data, *tb = g2->values[b->inputs[k]].data;
        ck_assert_int_eq(tb->dtype, ta->dtype);
        ck_assert_int_eq(ptq_tensor_numel(tb), ptq_tensor_numel(ta));
        if (k == 3) {
            ck_assert_int_eq(tb->ndim, 2);
            ck_assert(tb->ne[0] == ta->ne[0] && tb->ne[1] == ta->ne[1]);
        }
        const size_t bytes = (size_t)ptq_tensor_numel(ta) * ptq_dtype_size(ta->dtype);
        ck_assert_msg(!memcmp(tb->data, ta->data, bytes),
                      "%s: input %d differs", name, k);
    }
}

typedef struct border_case {
    const char *name;
    int32_t ndim;
    int64_t ne[4];            /* ne[0] is the batch */
    int32_t qmin, qmax, axis; /* axis 1: scales and zero points per channel */
    bool shared;              /* one row of borders for all channels */
    float scale[5];
    int32_t zp[5];
} border_case;

static const border_case border_cases[] = {
    {"u4_rows_4d", 4, {B, 3, 2, 2}, 0, 15, -1, false, {0.125f}, {3}},
    {"s8_symmetric_shared_4d", 4, {B, 3, 2, 2}, -127, 127, -1, true, {0.03f}, {0}},
    {"i8_per_channel_rows_4d", 4, {B, 3, 2, 2}, -128, 127, 1, false, {0.05f, 0.0625f, 0.2f},
     {-3, 0, 5}},
    {"u8_per_channel_shared_4d", 4, {B, 3, 2, 2}, 0, 255, 1, true, {0.02f, 0.25f, 0.1f}, {128, 0, 17}},
    {"s4_rows_2d", 2, {B, 5}, -8, 7, -1, false, {0.25f}, {-1}},
    {"u4_shared_2d", 2, {B, 5}, 0, 15, -1, true, {0.1f}, {8}},
    {"i8_per_channel_rows_2d", 2, {B, 5}, -128, 127, 1, false,
     {0.5f, 0.01f, 0.3f, 0.125f, 2.0f}, {0, -128, 127, 10, -7}},
    {"u16_shared_2d", 2, {B, 5}, 0, 65535, -1, true, {1e-3f}, {30000}},
};

/* x for a case: values on the borders of their bins (x = (k + border) * scale, exact
 * where the scale is a power of two), on integers, anywhere from below to above the
 * grid, far outside it, and signed zeros. */
static void border_inputs(test_rng *r, const border_case *bc, const float *table, float *x,
                          int64_t count) {
    const int64_t ch = bc->ne[1], inner = bc->ndim == 4 ? bc->ne[2] * bc->ne[3] : 1;
    const int64_t bins = (int64_t)bc->qmax - bc->qmin;
    for (int64_t i = 0; i < count; i++) {
        const int64_t c = (i / inner) % ch, sc = bc->axis == 1 ? c : 0;
        const float s = bc->scale[sc];
        const int32_t z = bc->zp[sc];
        const float *row = table + (bc->shared ? 0 : c) * bins;
        const int64_t kmin = (int64_t)bc->qmin - z - 3, kmax = (int64_t)bc->qmax - z + 2;
        const int64_t k = test_rng_int(r, kmin, kmax);
        const int64_t bin = PTQ_MIN(PTQ_MAX(k + z - bc->qmin, 0), bins - 1);
        switch (test_rng_int(r, 0, 9)) {
        case 0:
        case 1:
        case 2: x[i] = (float)((double)k + row[bin]) * s; break;
        case 3: x[i] = (float)k * s; break;
        case 4: x[i] = (test_rng_int(r, 0, 1) ? 1e4f : -1e4f) * s * (float)bins; break;
        case 5: x[i] = test_rng_int(r, 0, 1) ? 0.0f : -0.0f; break;
        default: x[i] = test_rng_uniform(r, (float)kmin, (float)kmax + 1.0f) * s;
        }
    }
}

/* Every case: the forward against the formula, then export -> ONNX semantics and
 * re-import -> ptq, both bit-identical, the re-imported node one FAKE_QUANT with the
 * same table, and the ONNX chain as the export writes it. */
START_TEST(border_round_trip) {
    for (size_t ci = 0; ci < PTQ_COUNTOF(border_cases); ci++) {
        const border_case *bc = &border_cases[ci];
        test_rng r = {1000 + ci};
        const int64_t ch = bc->ne[1], bins = (int64_t)bc->qmax - bc->qmin;
        const int64_t rows = bc->shared ? 1 : ch, n = bc->axis == 1 ? ch : 1;
        float *table = border_table(&r, rows, bins);
        char name[128];
        snprintf(name, sizeof name, "%s/fq", bc->name);
        ptq_graph *g = ptq_graph_new();
        const int32_t x = test_graph_input(g, "x", bc->ndim, bc->ne);
        const int32_t id = add_border_fq(g, name, x, bc->qmin, bc->qmax, bc->axis, n, bc->scale,
                                         bc->zp, rows, bins, table);
        infer_ok(g, id);
        test_graph_output(g, node_out(g, id));

        int64_t ne[4];
        memcpy(ne, bc->ne, sizeof ne);
        ne[0] = bc->ndim == 4 ? 9 : 40;
        const int64_t count = ptq_shape_numel(bc->ndim, ne);
        float *in = malloc((size_t)count * sizeof *in);
        ck_assert_ptr_nonnull(in);
        border_inputs(&r, bc, table, in, count);
        /* The forward is the formula. */
        int64_t ny;
        float *y = test_run_graph(g, in, ne[0], &ny);
        ck_assert_int_eq(ny, count);
        const int64_t inner = bc->ndim == 4 ? ne[2] * ne[3] : 1;
        for (int64_t i = 0; i < count; i++) {
            const int64_t c = (i / inner) % ch, sc = bc->axis == 1 ? c : 0;
            const float want = border_reference(in[i], bc->scale[sc], bc->zp[sc], bc->qmin,
                                                bc->qmax, table + (bc->shared ? 0 : c) * bins);
            ck_assert_msg(!memcmp(&want, &y[i], sizeof want), "%s: x = %.9g gives %.9g, the "
                          "formula %.9g", bc->name, (double)in[i], (double)y[i], (double)want);
        }

        char file[160];
        snprintf(file, sizeof file, "%s.onnx", bc->name);
        Onnx__ModelProto *m;
        ptq_graph *g2 = border_export_check(g, in, bc->ndim, ne, file, &m);
        /* The chain: one of each helper op, the narrowing Clip only on a narrow grid. */
        const bool narrow = !(bc->qmin == 0 && (bc->qmax == 255 || bc->qmax == 65535)) &&
                            !(bc->qmin == -128 && bc->qmax == 127);
        ck_assert_int_eq(model_opset(m), bc->qmax == 65535 ? 21 : 13);
        ck_assert_int_eq(count_onnx_op(m, "Floor"), 1);
        ck_assert_int_eq(count_onnx_op(m, "Greater"), 1);
        ck_assert_int_eq(count_onnx_op(m, "Gather"), 1);
        ck_assert_int_eq(count_onnx_op(m, "Clip"), narrow ? 2 : 1);
        ck_assert_int_eq(count_onnx_op(m, "QuantizeLinear"), 1);
        const Onnx__NodeProto *q = NULL, *gather = NULL;
        for (size_t i = 0; i < m->graph->n_node; i++) {
            const Onnx__NodeProto *o = m->graph->node[i];
            if (!strcmp(o->op_type, "QuantizeLinear")) q = o;
            if (!strcmp(o->op_type, "Gather")) gather = o;
        }
        ck_assert_str_eq(q->name, name);
        const Onnx__NodeProto *mul = producer_of(m, q->input[0]);
        ck_assert_str_eq(mul->op_type, "Mul");
        ck_assert(!strncmp(mul->name, name, strlen(name)));
        const Onnx__TensorProto *tt = find_init(m, gather->input[0]);
        ck_assert_int_eq(tt->data_type, PTQ_DTYPE_F32);
        ck_assert_uint_eq(tt->n_dims, 1);
        ck_assert_int_eq(tt->dims[0], rows * bins);
        ck_assert(!memcmp(tt->raw_data.data, table, (size_t)(rows * bins) * sizeof *table));
        onnx__model_proto__free_unpacked(m, NULL);
        /* Re-imported: the one node, borders and all. */
        ck_assert_int_eq(g2->n_nodes, 1);
        ck_assert_int_eq(g2->nodes[0].n_inputs, 4);
        expect_same_fq(g, g2, name);
        ck_assert_str_eq(g2->values[g2->outputs[0]].name, g->values[g->outputs[0]].name);

        free(y);
        free(in);
        free(table);
        ptq_graph_free(g2);
        ptq_graph_free(g);
    }
}
END_TEST

/* Hand-picked values on x [N, 4], grid [0, 15], zero point 2, scale 0.25 (x / 0.25 is
 * exact); row c of the table is all 0, all 1, all 0.3, all 0.5. */
START_TEST(border_hand_picked) {
    float table[4 * 15];
    const float fill[4] = {0.0f, 1.0f, 0.3f, 0.5f};
    for (int i = 0; i < 60; i++) table[i] = fill[i / 15];
    /* v = x / scale; r = floor(v) + (frac(v) > border); y = (clamp(r + 2, 0, 15) - 2) * 0.25.
     * Row 0: border 0 rounds up off the grid, 1 down (floor), 0.35 > 0.3 up, 0.5 > 0.5 not
     * (half to even would give 2 too).  Row 1: a value on the grid stays under border 0,
     * stays under 1, 0.25 < 0.3 stays, 3.5 stays at 3 under 0.5.  Row 2: -1 + 1, -1, below
     * the grid (bin clamped to 0, code to 0), 0.49 < 0.5 stays.  Row 3: the last bin: 12
     * stays, clamped code 15, 11.5 stays at 11. */
    const float v[4][4] = {
        {2.25f, 2.75f, 2.35f, 2.5f},
        {2.0f, 2.0f, 2.25f, 3.5f},
        {-0.75f, -0.25f, -3.0f, 2.49f},
        {12.0f, 12.0f, 12.35f, 11.5f},
    };
    const float want[4][4] = {{0.75f, 0.5f, 0.75f, 0.5f},
                              {0.5f, 0.5f, 0.5f, 0.75f},
                              {0.0f, -0.25f, -0.5f, 0.5f},
                              {3.0f, 3.0f, 3.25f, 2.75f}};
    const float r_want[4][4] = {{3, 2, 3, 2}, {2, 2, 2, 3}, {0, -1, -3, 2}, {12, 12, 13, 11}};
    float x[16];
    for (int i = 0; i < 16; i++) {
        x[i] = v[i / 4][i % 4] * 0.25f;
        ck_assert(x[i] / 0.25f == v[i / 4][i % 4]);
        ck_assert_float_eq(ptq_border_round(v[i / 4][i % 4], table + (i % 4) * 15, 2, 0, 15),
                           r_want[i / 4][i % 4]);
    }
    ptq_graph *g = ptq_graph_new();
    const int32_t in = test_graph_input(g, "x", 2, (int64_t[]){B, 4});
    const int32_t id = add_border_fq(g, "hand", in, 0, 15, -1, 1, (const float[]){0.25f},
                                     (const int32_t[]){2}, 4, 15, table);
    infer_ok(g, id);
    test_graph_output(g, node_out(g, id));
    int64_t n;
    float *y = test_run_graph(g, x, 4, &n);
    ck_assert_int_eq(n, 16);
    expect_identical(&want[0][0], y, 16, x, "hand-picked");
    Onnx__ModelProto *m;
    ptq_graph *g2 = border_export_check(g, x, 2, (int64_t[]){4, 4}, "hand.onnx", &m);
    onnx__model_proto__free_unpacked(m, NULL);
    expect_same_fq(g, g2, "hand");
    free(y);
    ptq_graph_free(g2);
    ptq_graph_free(g);
}
END_TEST

/* Quantizers in a row: borders on a narrow grid (its Clip feeding the next chain's Div),
 * a plain pair, borders per channel; each keeps its own chain and names. */
START_TEST(border_chains_in_a_row) {
    test_rng r = {77};
    ptq_graph *g = ptq_graph_new();
    const int32_t x = test_graph_input(g, "x", 4, (int64_t[]){B, 3, 4, 4});
    float *t1 = border_table(&r, 3, 15), *t3 = border_table(&r, 1, 255);
    const int32_t a = add_border_fq(g, "a", x, 0, 15, -1, 1, (const float[]){0.125f},
                                    (const int32_t[]){3}, 3, 15, t1);
    infer_ok(g, a);
    const int32_t b = add_fq(g, "b", node_out(g, a), -128, 127, -1, 1, 0.07f, -5);
    const int32_t c = add_border_fq(g, "c", b, -128, 127, 1, 3, (const float[]){0.05f, 0.1f, 0.02f},
                                    (const int32_t[]){1, -2, 0}, 1, 255, t3);
    infer_ok(g, c);
    test_graph_output(g, node_out(g, c));
    float in[5 * 48];
    test_fill_uniform(&r, in, 5 * 48, -1.0f, 3.0f);
    Onnx__ModelProto *m;
    ptq_graph *g2 = border_export_check(g, in, 4, (int64_t[]){5, 3, 4, 4}, "row.onnx", &m);
    ck_assert_int_eq(count_onnx_op(m, "Floor"), 2);
    ck_assert_int_eq(count_onnx_op(m, "QuantizeLinear"), 3);
    onnx__model_proto__free_unpacked(m, NULL);
    ck_assert_int_eq(g2->n_nodes, 3);
    ck_assert_int_eq(test_count_op(g2, PTQ_OP_FAKE_QUANT), 3);
    expect_same_fq(g, g2, "a");
    expect_same_fq(g, g2, "c");
    ck_assert_int_eq(node_named(g2, "b")->n_inputs, 3);
    free(t1);
    free(t3);
    ptq_graph_free(g2);
    ptq_graph_free(g);
}
END_TEST

/* A table that does not fit its node is refused by shape inference and by the export,
 * both naming the node; so are borders outside [0, 1], a plugin rounding and a
 * per-channel narrow grid with borders. */
START_TEST(border_table_refused) {
    float table[3 * 15];
    for (int i = 0; i < 45; i++) table[i] = 0.5f;
    const int64_t ne[4] = {B, 3, 2, 2};
    struct {
        const char *name;
        int64_t rows, bins;
        const char *what;
    } bad[] = {{"bad_bins", 1, 14, "bins"}, {"bad_rows", 2, 15, "channels"}};
    for (int k = 0; k < 2; k++) {
        ptq_graph *g = ptq_graph_new();
        const int32_t x = test_graph_input(g, "x", 4, ne);
        const int32_t id = add_border_fq(g, bad[k].name, x, 0, 15, -1, 1, (const float[]){0.1f},
                                         (const int32_t[]){0}, bad[k].rows, bad[k].bins, table);
        test_graph_output(g, node_out(g, id));
        ptq_error err = {0};
        ck_assert_int_eq(ptq_graph_infer_shapes(g, &err), PTQ_ERR_INVALID);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", bad[k].name);
        ck_assert_msg(test_contains(err.msg, quoted) && test_contains(err.msg, bad[k].what),
                      "%s", err.msg);
        expect_refused(g, NULL, 0, PTQ_ERR_INVALID, quoted);
        ptq_graph_free(g);
    }
    /* A border outside [0, 1]. */
    ptq_graph *g = ptq_graph_new();
    const int32_t x = test_graph_input(g, "x", 4, ne);
    const int32_t id = add_border_fq(g, "bad_border", x, 0, 15, -1, 1, (const float[]){0.1f},
                                     (const int32_t[]){0}, 3, 15, table);
    test_graph_output(g, node_out(g, id));
    infer_ok(g, id);
    float *bv = g->values[g->nodes[id].inputs[3]].data->data;
    bv[7] = 1.5f;
    ptq_error err = {0};
    ck_assert_int_eq(ptq_graph_infer_node(g, id, &err), PTQ_ERR_INVALID);
    ck_assert_msg(test_contains(err.msg, "'bad_border'") && test_contains(err.msg, "[0, 1]"),
                  "%s", err.msg);
    expect_refused(g, NULL, 0, PTQ_ERR_INVALID, "'bad_border'");
    bv[7] = 0.5f;
    /* A plugin's rounding stays refused with borders too. */
    static int dummy_rounding;
    g->nodes[id].attrs.q_rounding = &dummy_rounding;
    expect_refused(g, NULL, 0, PTQ_ERR_UNSUPPORTED, "rounding");
    g->nodes[id].attrs.q_rounding = NULL;
    export_ok(g, NULL, 0, temp_path("fine.onnx"));
    ptq_graph_free(g);
    /* Per-channel scales on a grid narrower than its type: no QDQ form, borders or not. */
    g = ptq_graph_new();
    const int32_t x2 = test_graph_input(g, "x", 4, ne);
    const int32_t id2 = add_border_fq(g, "narrow_pc", x2, 0, 15, 1, 3,
                                      (const float[]){0.1f, 0.2f, 0.3f}, (const int32_t[]){0, 1, 2},
                                      3, 15, table);
    infer_ok(g, id2);
    test_graph_output(g, node_out(g, id2));
    expect_refused(g, NULL, 0, PTQ_ERR_UNSUPPORTED, "'narrow_pc'");
    ptq_graph_free(g);
}
END_TEST

/* The importer takes the chain only exactly as the export writes it: with a constant
 * changed, the model is what it would be without the recognition, and its Floor of a
 * run-time value is refused (Floor is folded on constants only). */
START_TEST(border_chain_must_match) {
    test_rng r = {3};
    float *table = border_table(&r, 3, 15);
    ptq_graph *g = ptq_graph_new();
    const int32_t x = test_graph_input(g, "x", 4, (int64_t[]){B, 3, 2, 2});
    const int32_t id = add_border_fq(g, "fq", x, 0, 15, -1, 1, (const float[]){0.125f},
                                     (const int32_t[]){3}, 3, 15, table);
    infer_ok(g, id);
    test_graph_output(g, node_out(g, id));
    const char *path = temp_path("tamper.onnx");
    export_ok(g, NULL, 0, path);
    /* Each: an initializer, the element to change and its new value. */
    const struct {
        const char *init;
        int64_t at;
        float value;
    } edits[] = {
        {"fq/borders/zero_point", 0, 4.0f}, /* not zero point - qmin */
        {"fq/borders/offset", 2, 31.0f},    /* not c * bins */
        {"fq/borders/table", 5, 1.5f},      /* a border outside [0, 1] */
        {"fq/borders/bin_max", 0, 13.0f},   /* bins other than qmax - qmin */
    };
    for (size_t k = 0; k < PTQ_COUNTOF(edits); k++) {
        Onnx__ModelProto *m = read_model(path);
        const Onnx__TensorProto *t = find_init(m, edits[k].init);
        ck_assert_int_eq(t->data_type, PTQ_DTYPE_F32);
        memcpy(t->raw_data.data + 4 * edits[k].at, &edits[k].value, 4);
        size_t len = onnx__model_proto__get_packed_size(m);
        uint8_t *buf = malloc(len);
        ck_assert_ptr_nonnull(buf);
        onnx__model_proto__pack(m, buf);
        onnx__model_proto__free_unpacked(m, NULL);
        ptq_error err = {0};
        ptq_graph *bad = ptq_onnx_load_buffer(buf, len, "tampered", NULL, &err);
        free(buf);
        ck_assert_msg(bad == NULL, "%s: the changed chain was accepted", edits[k].init);
        ck_assert_int_eq(err.status, PTQ_ERR_UNSUPPORTED);
        ck_assert_msg(test_contains(err.msg, "(Floor)") && test_contains(err.msg, "run time"),
                      "%s: %s", edits[k].init, err.msg);
    }
    /* Unchanged, it loads. */
    ptq_graph_free(load_ok(path));
    free(table);
    ptq_graph_free(g);
}
END_TEST

/* ---- elementwise, comparison and reduction ops ---- */

/* Every new op written back and read again: the same outputs bit for bit.  Masks go to
 * ONNX as Cast-to-integer/bool and comparisons followed by a Cast to float, Where's
 * condition as a Cast to bool; Expand to the batch size reads it from the input's shape;
 * Reduce axes as attributes at opset 13 (ReduceSum's as an input). */
START_TEST(math_ops_round_trip) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[3] = {B, 4, 6}, cd[3] = {1, 1, 6}, one[1] = {1}, two[1] = {2};
    const int64_t ax2 = 2, target[3] = {B, 1, 6};
    (void)target;
    mb_input(&b, "x", 3, xd);
    mb_init_f32(&b, "zero", 0, NULL, (float[]){0.0f});
    mb_init_f32(&b, "neg", 0, NULL, (float[]){-3.0f});
    mb_init_f32(&b, "lim", 0, NULL, (float[]){1.5f});
    mb_init_f32(&b, "p2", 0, NULL, (float[]){2.0f});
    mb_init_f32(&b, "cls", 3, cd, (float[]){1, -2, 3, -4, 5, -6});
    mb_init_i64(&b, "axes2", 1, one, &ax2);
    mb_init_i64(&b, "zero_i", 1, one, (int64_t[]){0});
    mb_init_i64(&b, "rest", 1, two, (int64_t[]){1, 6});
    mb_attr_int(&b, mb_node(&b, "Cast", "cast", "x", "xi"), "to", PTQ_DTYPE_I32);
    mb_attr_int(&b, mb_node(&b, "Cast", "", "xi", "xf"), "to", PTQ_DTYPE_F32);
    mb_node(&b, "Less", "less", "xf,zero", "lt");
    mb_node(&b, "Where", "where", "lt,x,neg", "w");
    mb_node(&b, "ReduceSum", "rsum", "w,axes2", "rs");
    mb_node(&b, "Max", "max", "rs,x", "mx");
    mb_node(&b, "Min", "min", "mx,x,lim", "mn");
    /* cls expanded to [N, 1, 6]: the target from the input's shape. */
    mb_node(&b, "Shape", "", "x", "s");
    mb_node(&b, "Gather", "", "s,zero_i", "n");
    mb_attr_int(&b, mb_node(&b, "Concat", "", "n,rest", "tshape"), "axis", 0);
    mb_node(&b, "Expand", "expand", "cls,tshape", "ex");
    mb_attr_int(&b, mb_node(&b, "Concat", "cat", "ex,mn", "c"), "axis", 1);
    Onnx__NodeProto *rm = mb_node(&b, "ReduceMax", "rmax", "c", "r");
    mb_attr_ints(&b, rm, "axes", 1, one);
    mb_attr_int(&b, rm, "keepdims", 0);
    mb_node(&b, "Pow", "pow", "r,p2", "p");
    mb_node(&b, "Sqrt", "sqrt", "p", "q");
    mb_node(&b, "Neg", "negate", "q", "e0");
    mb_node(&b, "Exp", "exp", "e0", "e");
    mb_node(&b, "Erf", "erf", "e", "f");
    mb_node(&b, "Equal", "eq", "f,p2", "fe");
    mb_node(&b, "Add", "", "f,fe", "f2");
    mb_node(&b, "Reciprocal", "recip", "f2", "y");
    mb_output(&b, "y", 2, (int64_t[]){B, 6});
    ptq_error err = {0};
    ptq_graph *g = mb_load(&b, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    mb_free(&b);
    const char *path = temp_path("math_ops.onnx");
    export_ok(g, NULL, 0, path);
    Onnx__ModelProto *m = read_model(path);
    ck_assert_int_eq(model_opset(m), 13);
    static const char *const ops[] = {"Cast", "Less", "Where", "ReduceSum", "Max", "Min", "Expand",
                                      "ReduceMax", "Pow", "Sqrt", "Neg", "Exp", "Erf", "Equal",
                                      "Reciprocal", "Shape", NULL};
    for (const char *const *op = ops; *op; op++)
        ck_assert_msg(count_onnx_op(m, *op) > 0, "no %s in the file", *op);
    /* int32 and back, Less's and Equal's bools to float, Where's condition to bool */
    ck_assert_int_eq(count_onnx_op(m, "Cast"), 5);
    onnx__model_proto__free_unpacked(m, NULL);
    ptq_graph *g2 = load_ok(path);
    float x[3 * 24];
    test_rng r = {8};
    test_fill_uniform(&r, x, 72, -3, 3);
    expect_same_outputs(g, g2, x, 3, "math ops");
    ptq_graph_free(g2);
    ptq_graph_free(g);
    /* The attention fixtures: LayerNormalization (fused at import from opset 13's pattern,
     * or native) raises the opset to 17. */
    for (int k = 0; k < 2; k++) {
        g = load_ok(k ? PTQ_SOURCE_DIR "/tests/data/math_attention17.onnx"
                      : PTQ_SOURCE_DIR "/tests/data/math_attention13.onnx");
        const char *p2 = temp_path(k ? "att17.onnx" : "att13.onnx");
        export_ok(g, NULL, 0, p2);
        m = read_model(p2);
        ck_assert_int_eq(model_opset(m), 17);
        ck_assert_int_eq(count_onnx_op(m, "LayerNormalization"), 2);
        onnx__model_proto__free_unpacked(m, NULL);
        g2 = load_ok(p2);
        float xa[2 * 32];
        test_fill_uniform(&r, xa, 64, -2, 2);
        expect_same_outputs(g, g2, xa, 2, "attention");
        ptq_graph_free(g2);
        ptq_graph_free(g);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, bundled_models_round_trip);
    tcase_add_test(tc, all_ops_round_trip);
    tcase_add_test(tc, math_ops_round_trip);
    tcase_add_test(tc, qdq_round_trip);
    tcase_add_test(tc, zero_point_free_weights);
    tcase_add_test(tc, sixteen_bit_needs_opset_21);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_add_test(tc, unexportable_refused);
    tcase_add_test(tc, atomic_write);
    suite_add_tcase(s, tc);

    tc = tcase_create("import_qdq");
    tcase_add_test(tc, import_qdq_pairs);
    tcase_add_test(tc, import_dq_folded);
    tcase_add_test(tc, import_qdq_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("borders");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, border_round_trip);
    tcase_add_test(tc, border_hand_picked);
    tcase_add_test(tc, border_chains_in_a_row);
    tcase_add_test(tc, border_table_refused);
    tcase_add_test(tc, border_chain_must_match);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
