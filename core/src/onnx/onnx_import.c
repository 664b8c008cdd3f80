/* onnx_import.c — ONNX ModelProto -> graph IR.
 *
 * The protobuf reader is generated at build time from Debian's onnx.proto by protoc-c.
 * Import is all or nothing: the model is checked (opset, every op type, attributes,
 * tensor sizes against their data, shapes) while the IR is built, and on the first
 * problem the partial graph is freed and the error names the file and the node.
 *
 * What the IR does not keep: Constant and Identity nodes (folded), and the integer
 * shape arithmetic PyTorch exports for flatten (Shape -> Gather -> Unsqueeze -> Concat
 * -> Reshape), which is evaluated here, with the batch size kept symbolic, into the
 * Reshape's static target shape.  Any node whose inputs are all constants is evaluated
 * once here and replaced by its result; integer constants keep integer semantics (Cast,
 * Neg, Min, Max, Equal, Less, Greater, Where, Expand, Pow, ConstantOfShape, Range), so
 * the shape patterns of PyTorch's expand(), arange() and friends fold too.  The
 * LayerNormalization pattern of exporters before opset 17 is fused into one node
 * (ir/fuse_layernorm.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>

#include "internal.h"
#include "onnx.pb-c.h"
#include "onnx_rules.h"

#define B PTQ_DIM_BATCH
/* Opsets 11 to 17 are what qcraft claims and tests with real exports.  Older models
 * load too where their ops mean the same: every version-dependent form is handled
 * (Clip/Pad attributes before 11, Squeeze/Unsqueeze attributes and legacy Softmax
 * before 13), and attributes that older versions used with another meaning
 * (consumed_inputs, broadcast, is_test, ...) are refused by the strict attribute check.
 * Opsets 18 to 21 are accepted because the exporter writes 21 for 16-bit QDQ models:
 * between 18 and 21 the supported ops only gained types, or gained forms this importer
 * already refuses (Pad's axes input, AveragePool's dilations, Q/DQ's block_size) or
 * that do not apply (Cast's saturate, for float8 targets only); the Reduce ops' axes
 * moved from attribute to input at 18 (ReduceSum at 13), which both forms follow. */
#define MIN_OPSET 1
#define MAX_OPSET 21

typedef struct alias {
    char *name;
    int32_t id;
} alias;

/* A constant whose ONNX type the IR does not store: 16-bit integers (QuantizeLinear
 * zero points, DequantizeLinear inputs) are kept widened to int32, and this remembers
 * which container they came in, since that decides the quantization range. */
typedef struct wide_const {
    int32_t id;
    ptq_dtype onnx_type;
} wide_const;

/* What a QuantizeLinear or DequantizeLinear node says about its grid. */
typedef struct qdq_grid {
    int32_t scale;  /* value id of the float32 scale constant */
    int32_t zp;     /* value id of the zero point constant, -1 when omitted (all zero) */
    ptq_dtype type; /* the integer container (ONNX type) */
    int64_t n;      /* number of scales */
    int32_t axis;   /* normalised channel axis, -1 per tensor */
} qdq_grid;

/* A QuantizeLinear waiting for the DequantizeLinear that reads its output: the pair is
 * imported there, once every input of both nodes is defined. */
typedef struct pending_q {
    const Onnx__NodeProto *np;
    char *name;     /* owned: the node's name (generated if it had none) */
    int32_t x;      /* value id of its input */
    qdq_grid grid;
    int32_t chain;  /* its rounding border chain (index in importer.chains), -1 if none */
} pending_q;

/* ptq's export of learned rounding borders (onnx_export.c, export_borders): the chain of
 * standard ops from x to a QuantizeLinear, found before import and imported with the
 * pair as one FAKE_QUANT whose fourth input is the border table. */
typedef struct border_chain {
    const Onnx__NodeProto *q;    /* the QuantizeLinear */
    const Onnx__NodeProto *clip; /* the Clip narrowing the grid after its DequantizeLinear, or NULL */
    const char *x;               /* the chain's input (the Div's x) */
    ptq_tensor *table;           /* owned until imported: [1 or C, bins] */
    int32_t qmin, qmax;          /* the grid the borders are on */
    int32_t rank;                /* rank of the [1, C, 1, ...] constants; 0 when all are scalars */
} border_chain;

typedef struct importer {
    const char *what;  /* file name for messages */
    ptq_graph *g;
    ptq_error *err;
    int64_t opset;
    const Onnx__GraphProto *gp;
    const ptq_import_options *opts;
    alias *aliases; /* ONNX names that refer to an existing value (folded Identity) */
    int32_t n_aliases, cap_aliases;
    int32_t unnamed; /* counter for generated node names */
    wide_const *wide; /* constants widened from 16-bit integers */
    int32_t n_wide, cap_wide;
    pending_q *pending; /* QuantizeLinear nodes whose DequantizeLinear is still to come */
    int32_t n_pending, cap_pending;
    border_chain *chains; /* rounding border chains found before import */
    int32_t n_chains, cap_chains;
    uint8_t *consumed; /* per ONNX node: part of a border chain, not imported by itself */
} importer;

/* ---------------------------------------------------------------- errors ---- */

static ptq_status fail(importer *im, ptq_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ptq_status fail(importer *im, ptq_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ptq_error_setv(im->err, st, fmt, ap);
    va_end(ap);
    return st;
}

static ptq_status node_fail(importer *im, const Onnx__NodeProto *np, const char *node_name,
                            ptq_status st, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static ptq_status node_fail(importer *im, const Onnx__NodeProto *np, const char *node_name,
                            ptq_status st, const char *fmt, ...) {
    char m[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return ptq_error_set(im->err, st, "node '%s' (%s): %s", node_name, np->op_type, m);
}

/* The node as the spec rules (onnx_rules.h) name it in a refusal. */
static ptq_rule_node rule_node(importer *im, const Onnx__NodeProto *np, const char *node_name) {
    return (ptq_rule_node){node_name, np->op_type, im->err};
}

/* ------------------------------------------------------------- tensors ---- */

#define ONNX_UINT16 4
#define ONNX_INT16 5

static bool is_16bit(ptq_dtype dt) { return dt == ONNX_UINT16 || dt == ONNX_INT16; }

/* Decodes a TensorProto into an owned tensor.  Checks the element count against the
 * data actually present before allocating, so absurd dims in a small file fail cleanly.
 * With widen16, uint16 and int16 tensors (which the IR has no type for) are decoded into
 * int32 tensors; the caller remembers their ONNX type. */
static ptq_tensor *tensor_from_proto(const Onnx__TensorProto *tp, const char *what,
                                     bool widen16, ptq_error *err) {
    const char *name = tp->name && *tp->name ? tp->name : "(unnamed)";
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED,
                      "%s: tensor '%s' keeps its data in an external file, which is not "
                      "supported", what, name);
        return NULL;
    }
    if (tp->segment) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: tensor '%s' is segmented", what, name);
        return NULL;
    }
    ptq_dtype dt = tp->has_data_type ? (ptq_dtype)tp->data_type : PTQ_DTYPE_UNDEFINED;
    if (dt == 9) dt = PTQ_DTYPE_U8; /* bool: one byte per element holding 0 or 1, as uint8 */
    const bool wide = widen16 && is_16bit(dt);
    size_t es = wide ? 2 : ptq_dtype_size(dt); /* bytes per element in raw_data */
    if (es == 0) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s (supported: "
                      "float32, int64, int32, int8, uint8)", what, name, ptq_dtype_name(dt));
        return NULL;
    }
    if (tp->n_dims > PTQ_MAX_DIMS) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: tensor '%s' has rank %zu (at most %d)",
                      what, name, tp->n_dims, PTQ_MAX_DIMS);
        return NULL;
    }
    int64_t n = ptq_shape_numel((int32_t)tp->n_dims, tp->dims);
    if (n < 0) {
        char buf[160];
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: tensor '%s' has invalid or absurd dims %s",
                      what, name, ptq_shape_str((int32_t)tp->n_dims, tp->dims, buf, sizeof buf));
        return NULL;
    }
    /* Where is the data, and how much of it is there? */
    size_t have;
    if (tp->has_raw_data) have = tp->raw_data.len / es;
    else if (dt == PTQ_DTYPE_F32) have = tp->n_float_data;
    else if (dt == PTQ_DTYPE_I64) have = tp->n_int64_data;
    else have = tp->n_int32_data; /* int32, int8, uint8 are stored widened */
    if (tp->has_raw_data && tp->raw_data.len != (size_t)n * es) have = (size_t)-1;
    if (have != (size_t)n) {
        ptq_error_set(err, PTQ_ERR_INVALID,
                      "%s: tensor '%s' declares %" PRId64 " elements but holds %s", what, name,
                      n, tp->has_raw_data ? "a different number of raw bytes" : "fewer or more");
        return NULL;
    }
    ptq_tensor *t = ptq_tensor_new(wide ? PTQ_DTYPE_I32 : dt, (int32_t)tp->n_dims, tp->dims, err);
    if (!t) return NULL;
    if (n == 0) return t;
    if (wide) {
        /* int32_data holds 16-bit values widened already; raw_data is little-endian. */
        int32_t *d = t->data;
        for (int64_t i = 0; i < n; i++) {
            uint16_t u = tp->has_raw_data
                             ? (uint16_t)(tp->raw_data.data[2 * i] | tp->raw_data.data[2 * i + 1] << 8)
                             : (uint16_t)tp->int32_data[i];
            d[i] = dt == ONNX_UINT16 ? (int32_t)u : (int32_t)(int16_t)u;
        }
    } else if (tp->has_raw_data) {
        memcpy(t->data, tp->raw_data.data, (size_t)n * es); /* little-endian, as x86 */
    } else if (dt == PTQ_DTYPE_F32) {
        memcpy(t->data, tp->float_data, (size_t)n * 4);
    } else if (dt == PTQ_DTYPE_I64) {
        memcpy(t->data, tp->int64_data, (size_t)n * 8);
    } else {
        for (int64_t i = 0; i < n; i++) {
            int32_t v = tp->int32_data[i];
            if (dt == PTQ_DTYPE_I32) ((int32_t *)t->data)[i] = v;
            else if (dt == PTQ_DTYPE_I8) ((int8_t *)t->data)[i] = (int8_t)v;
            else ((uint8_t *)t->data)[i] = (uint8_t)v;
        }
    }
    return t;
}

static int read_file(const char *path, uint8_t **buf, size_t *len, size_t limit, ptq_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) goto io;
    long sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0) goto io;
    if ((size_t)sz > limit) {
        fclose(f);
        return ptq_error_set(err, PTQ_ERR_NOMEM, "%s: file of %ld bytes exceeds the %zu-byte "
                             "limit", path, sz, limit);
    }
    *buf = malloc((size_t)sz + 1);
    if (!*buf) {
        fclose(f);
        return ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, sz);
    }
    if (fread(*buf, 1, (size_t)sz, f) != (size_t)sz) {
        free(*buf);
        *buf = NULL;
        goto io;
    }
    fclose(f);
    *len = (size_t)sz;
    return PTQ_OK;
io:
    fclose(f);
    return ptq_error_set(err, PTQ_ERR_IO, "%s: read error: %s", path, strerror(errno));
}

ptq_tensor *ptq_onnx_load_tensor(const char *path, ptq_error *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len, PTQ_MAX_MODEL_BYTES, err)) return NULL;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: not a serialized ONNX TensorProto", path);
        return NULL;
    }
    ptq_tensor *t = tensor_from_proto(tp, path, false, err);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return t;
}

/* ------------------------------------------------------------ name lookup ---- */

static int32_t lookup(const importer *im, const char *name) {
    for (int32_t i = 0; i < im->n_aliases; i++)
        if (strcmp(im->aliases[i].name, name) == 0) return im->aliases[i].id;
    return ptq_graph_find_value(im->g, name);
}

static ptq_status add_alias(importer *im, const char *name, int32_t id) {
    if (lookup(im, name) >= 0) return fail(im, PTQ_ERR_INVALID, "value '%s' is defined twice", name);
    if (ptq_grow((void **)&im->aliases, &im->cap_aliases, im->n_aliases + 1, sizeof *im->aliases))
        return fail(im, PTQ_ERR_NOMEM, "out of memory");
    im->aliases[im->n_aliases].name = ptq_strdup(name);
    im->aliases[im->n_aliases].id = id;
    if (!im->aliases[im->n_aliases].name) return fail(im, PTQ_ERR_NOMEM, "out of memory");
    im->n_aliases++;
    return PTQ_OK;
}

static bool is_graph_output(const importer *im, const char *name) {
    for (size_t i = 0; i < im->gp->n_output; i++)
        if (im->gp->output[i]->name && strcmp(im->gp->output[i]->name, name) == 0) return true;
    return false;
}

/* ----------------------------------------------------------- attributes ---- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *np, const char *name) {
    for (size_t i = 0; i < np->n_attribute; i++)
        if (np->attribute[i]->name && strcmp(np->attribute[i]->name, name) == 0)
            return np->attribute[i];
    return NULL;
}

/* Refuses attributes the importer does not understand: silently ignoring one could
 * change what the node computes. */
static ptq_status check_attrs(importer *im, const Onnx__NodeProto *np, const char *nname,
                              const char *const *known) {
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *a = np->attribute[i];
        /* consumed_inputs (opsets before 6) only marked in-place updates: no semantics. */
        bool ok = a->name && strcmp(a->name, "consumed_inputs") == 0;
        for (const char *const *k = known; *k; k++) ok |= a->name && strcmp(a->name, *k) == 0;
        if (!ok)
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "attribute '%s' is not supported", a->name ? a->name : "?");
        if (a->ref_attr_name && *a->ref_attr_name)
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "attribute '%s' refers to a function attribute", a->name);
    }
    return PTQ_OK;
}

static ptq_status attr_int(importer *im, const Onnx__NodeProto *np, const char *nname,
                           const char *name, int64_t def, int64_t *out) {
    const Onnx__AttributeProto *a = attr(np, name);
    *out = def;
    if (!a) return PTQ_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "attribute '%s' must be an int", name);
    *out = a->i;
    return PTQ_OK;
}

static ptq_status attr_float(importer *im, const Onnx__NodeProto *np, const char *nname,
                             const char *name, float def, float *out) {
    const Onnx__AttributeProto *a = attr(np, name);
    *out = def;
    if (!a) return PTQ_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "attribute '%s' must be a float", name);
    *out = a->f;
    return PTQ_OK;
}

/* Reads an ints attribute of at most `max` entries; *n = -1 when absent. */
static ptq_status attr_ints(importer *im, const Onnx__NodeProto *np, const char *nname,
                            const char *name, int64_t *out, int32_t max, int32_t *n) {
    const Onnx__AttributeProto *a = attr(np, name);
    *n = -1;
    if (!a) return PTQ_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "attribute '%s' must be ints", name);
    if (a->n_ints > (size_t)max)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "attribute '%s' has %zu entries (at most %d supported)", name,
                         a->n_ints, max);
    for (size_t i = 0; i < a->n_ints; i++) out[i] = a->ints[i];
    *n = (int32_t)a->n_ints;
    return PTQ_OK;
}

/* A string attribute compared against a list; returns the index in *out (def when absent). */
static ptq_status attr_enum(importer *im, const Onnx__NodeProto *np, const char *nname,
                            const char *name, const char *const *choices, int32_t def,
                            int32_t *out) {
    const Onnx__AttributeProto *a = attr(np, name);
    *out = def;
    if (!a) return PTQ_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "attribute '%s' must be a string", name);
    for (int32_t i = 0; choices[i]; i++) {
        if (strlen(choices[i]) == a->s.len && memcmp(choices[i], a->s.data, a->s.len) == 0) {
            *out = i;
            return PTQ_OK;
        }
    }
    return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "attribute %s='%.*s' is not supported",
                     name, (int)PTQ_MIN(a->s.len, 64), (const char *)a->s.data);
}

/* -------------------------------------------------------- value helpers ---- */

/* Value id of input i of np, -1 if omitted (empty name) or absent. */
static int32_t input_id(const importer *im, const Onnx__NodeProto *np, size_t i) {
    if (i >= np->n_input || !np->input[i] || !*np->input[i]) return -1;
    return lookup(im, np->input[i]);
}

/* The constant behind input i, or NULL (with an error) if it is not a constant. */
static const ptq_tensor *const_input(importer *im, const Onnx__NodeProto *np, const char *nname,
                                     size_t i, const char *what) {
    int32_t id = input_id(im, np, i);
    if (id < 0) return NULL;
    if (!im->g->values[id].data) {
        node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                  "%s ('%s') must be a constant, but it is computed at run time", what,
                  np->input[i]);
        return NULL;
    }
    return im->g->values[id].data;
}

/* Reads an int tensor (int64 or int32) into out[]; at most max entries. */
static ptq_status const_ints(importer *im, const Onnx__NodeProto *np, const char *nname,
                             const ptq_tensor *t, const char *what, int64_t *out, int32_t max,
                             int32_t *n) {
    int64_t cnt = ptq_tensor_numel(t);
    if (t->dtype != PTQ_DTYPE_I64 && t->dtype != PTQ_DTYPE_I32)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "%s must be int64, not %s", what,
                         ptq_dtype_name(t->dtype));
    if (t->ndim > 1 || cnt > max)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "%s must be a 1-D tensor of at most %d entries", what, max);
    for (int64_t i = 0; i < cnt; i++)
        out[i] = t->dtype == PTQ_DTYPE_I64 ? ((const int64_t *)t->data)[i]
                                           : ((const int32_t *)t->data)[i];
    *n = (int32_t)cnt;
    return PTQ_OK;
}

/* Reads a scalar float constant (shape [] or [1]). */
static ptq_status const_float(importer *im, const Onnx__NodeProto *np, const char *nname,
                              const ptq_tensor *t, const char *what, float *out) {
    if (t->dtype != PTQ_DTYPE_F32 || ptq_tensor_numel(t) != 1)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "%s must be a float32 scalar", what);
    *out = *(const float *)t->data;
    return PTQ_OK;
}

static ptq_status new_constant(importer *im, const char *name, ptq_tensor *t) {
    int32_t id = ptq_graph_add_constant(im->g, name, t, im->err);
    return id < 0 ? im->err->status : PTQ_OK;
}

/* new_constant for a tensor decoded from a TensorProto of type onnx_type: remembers the
 * 16-bit ones, which tensor_from_proto widened. */
static ptq_status proto_constant(importer *im, const char *name, ptq_tensor *t,
                                 int32_t onnx_type) {
    ptq_status st = new_constant(im, name, t);
    if (st || !is_16bit((ptq_dtype)onnx_type)) return st;
    if (ptq_grow((void **)&im->wide, &im->cap_wide, im->n_wide + 1, sizeof *im->wide))
        return ptq_error_set(im->err, PTQ_ERR_NOMEM, "out of memory");
    im->wide[im->n_wide++] = (wide_const){im->g->n_values - 1, (ptq_dtype)onnx_type};
    return PTQ_OK;
}

/* The ONNX element type of constant id (16-bit for a widened one). */
static ptq_dtype onnx_type_of(const importer *im, int32_t id) {
    for (int32_t i = 0; i < im->n_wide; i++)
        if (im->wide[i].id == id) return im->wide[i].onnx_type;
    return im->g->values[id].data->dtype;
}

/* Makes ONNX name `out` refer to value `id`: an alias, or a copy when `out` is a graph
 * output (outputs keep their own names so an exported model keeps its interface). */
static ptq_status alias_or_copy(importer *im, const char *nname, const char *out, int32_t id) {
    ptq_graph *g = im->g;
    if (!is_graph_output(im, out)) return add_alias(im, out, id);
    if (g->values[id].data) {
        ptq_tensor *t = ptq_tensor_clone(g->values[id].data, im->err);
        return t ? new_constant(im, out, t) : im->err->status;
    }
    int32_t o = ptq_graph_add_value(g, out, PTQ_DTYPE_F32, 0, NULL, im->err);
    if (o < 0) return im->err->status;
    int32_t nid = ptq_graph_add_node(g, PTQ_OP_RESHAPE, nname, 1, &id, 1, &o, im->err);
    if (nid < 0) return im->err->status;
    ptq_node *n = &g->nodes[nid];
    n->attrs.ndim = g->values[id].ndim;
    n->attrs.allowzero = 1;
    memcpy(n->attrs.shape, g->values[id].ne, sizeof n->attrs.shape);
    return ptq_graph_infer_node(g, nid, im->err);
}

/* ------------------------------------------------- integer shape folding ---- */

static int64_t iget(const ptq_tensor *t, int64_t i) {
    return t->dtype == PTQ_DTYPE_I64 ? ((const int64_t *)t->data)[i]
                                     : ((const int32_t *)t->data)[i];
}

static bool is_int(const ptq_tensor *t) {
    return t && (t->dtype == PTQ_DTYPE_I64 || t->dtype == PTQ_DTYPE_I32);
}

/* Shape: a constant, with the batch size kept symbolic. */
static ptq_status import_shape(importer *im, const Onnx__NodeProto *np, const char *nname) {
    static const char *const known[] = {"start", "end", NULL};
    ptq_status st = check_attrs(im, np, nname, known);
    if (st) return st;
    int32_t x = input_id(im, np, 0);
    const ptq_value *v = &im->g->values[x];
    int64_t start, end, r = v->ndim;
    if ((st = attr_int(im, np, nname, "start", 0, &start))) return st;
    if ((st = attr_int(im, np, nname, "end", r, &end))) return st;
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = PTQ_MAX(0, PTQ_MIN(start, r));
    end = PTQ_MAX(start, PTQ_MIN(end, r));
    int64_t len = end - start;
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I64, 1, &len, im->err);
    if (!t) return im->err->status;
    for (int64_t i = 0; i < len; i++) ((int64_t *)t->data)[i] = v->ne[start + i];
    return new_constant(im, np->output[0], t);
}

/* Gather, Concat, Unsqueeze/Squeeze/Reshape/Identity, Cast and arithmetic on int64
 * constants: the shape computations of exported models.  The batch symbol may be moved
 * around but not computed with. */
static bool const_broadcast(const ptq_tensor *const *ts, int32_t k, int32_t *ndim, int64_t *ne);
static int64_t bcast_index(const ptq_tensor *t, int32_t r, const int64_t *ne, int64_t flat);

static ptq_status fold_int_binary(importer *im, const Onnx__NodeProto *np, const char *nname,
                                  const ptq_tensor *a, const ptq_tensor *b) {
    /* Numpy broadcasting, any rank: position grids (arange(T)[None] - arange(T)[:, None])
     * are computed this way too, not only shape vectors. */
    const ptq_tensor *ab[2] = {a, b};
    int32_t nd;
    int64_t ne[PTQ_MAX_DIMS];
    if (!const_broadcast(ab, 2, &nd, ne))
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "constant inputs do not broadcast");
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I64, nd, ne, im->err);
    if (!t) return im->err->status;
    const int64_t n = ptq_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        int64_t x = iget(a, bcast_index(a, nd, ne, i)), y = iget(b, bcast_index(b, nd, ne, i)), z;
        if (x == B || y == B) {
            ptq_tensor_free(t);
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "computes with the batch size; only static shapes can be folded");
        }
        const char *op = np->op_type;
        if (!strcmp(op, "Add")) z = x + y;
        else if (!strcmp(op, "Sub")) z = x - y;
        else if (!strcmp(op, "Mul")) z = x * y;
        else {
            if (y == 0) {
                ptq_tensor_free(t);
                return node_fail(im, np, nname, PTQ_ERR_INVALID, "integer division by zero");
            }
            z = x / y;
        }
        ((int64_t *)t->data)[i] = z;
    }
    return new_constant(im, np->output[0], t);
}

static ptq_status fold_int_gather(importer *im, const Onnx__NodeProto *np, const char *nname,
                                  const ptq_tensor *data, const ptq_tensor *ind, int64_t axis) {
    const ptq_rule_node rn = rule_node(im, np, nname);
    ptq_status st = ptq_rule_axis(&rn, "attribute axis", axis, data->ndim, false);
    if (st) return st;
    if (data->ndim != 1)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "gathering from an integer tensor of rank %d", data->ndim);
    int64_t n = ptq_tensor_numel(ind), len = data->ne[0];
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I64, ind->ndim, ind->ne, im->err);
    if (!t) return im->err->status;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = iget(ind, i);
        if (k < 0) k += len;
        if (k < 0 || k >= len) {
            ptq_tensor_free(t);
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "index %" PRId64 " out of range",
                             iget(ind, i));
        }
        ((int64_t *)t->data)[i] = iget(data, k);
    }
    return new_constant(im, np->output[0], t);
}

static ptq_status fold_int_concat(importer *im, const Onnx__NodeProto *np, const char *nname) {
    int64_t total = 0, axis;
    ptq_status st = attr_int(im, np, nname, "axis", 0, &axis);
    if (st) return st;
    for (size_t i = 0; i < np->n_input; i++) {
        const ptq_tensor *t = const_input(im, np, nname, i, "input");
        if (!t) return im->err->status ? im->err->status
                                       : node_fail(im, np, nname, PTQ_ERR_INVALID, "missing input");
        if (!is_int(t) || t->ndim != 1)
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "mixes integer and other inputs or is not 1-D");
        total += t->ne[0];
    }
    /* Every input is 1-D here. */
    const ptq_rule_node rn = rule_node(im, np, nname);
    if ((st = ptq_rule_axis(&rn, "attribute axis", axis, 1, false))) return st;
    ptq_tensor *out = ptq_tensor_new(PTQ_DTYPE_I64, 1, &total, im->err);
    if (!out) return im->err->status;
    int64_t k = 0;
    for (size_t i = 0; i < np->n_input; i++) {
        const ptq_tensor *t = im->g->values[input_id(im, np, i)].data;
        for (int64_t j = 0; j < t->ne[0]; j++) ((int64_t *)out->data)[k++] = iget(t, j);
    }
    return new_constant(im, np->output[0], out);
}

/* ------------------------------------------------------- node translation ---- */

/* Creates the IR node for np with the given inputs (value ids) and a fresh value per
 * output; returns its id or -1. */
static int32_t emit(importer *im, const Onnx__NodeProto *np, const char *nname, ptq_op op,
                    int32_t n_in, const int32_t *in) {
    int32_t out[1];
    ptq_graph *g = im->g;
    if (np->n_output < 1 || !np->output[0] || !*np->output[0]) {
        node_fail(im, np, nname, PTQ_ERR_INVALID, "has no output");
        return -1;
    }
    for (size_t i = 1; i < np->n_output; i++) {
        if (np->output[i] && *np->output[i]) {
            node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "optional output %zu ('%s') is not "
                      "supported", i, np->output[i]);
            return -1;
        }
    }
    if (lookup(im, np->output[0]) >= 0) {
        node_fail(im, np, nname, PTQ_ERR_INVALID, "output '%s' is already defined", np->output[0]);
        return -1;
    }
    out[0] = ptq_graph_add_value(g, np->output[0], PTQ_DTYPE_F32, 0, NULL, im->err);
    if (out[0] < 0) return -1;
    return ptq_graph_add_node(g, op, nname, n_in, in, 1, out, im->err);
}

/* Infers node id's shapes, then folds it if every input is a constant. */
static ptq_status finish(importer *im, int32_t id) {
    if (id < 0) return im->err->status ? im->err->status : PTQ_ERR_INTERNAL;
    ptq_status st = ptq_graph_infer_node(im->g, id, im->err);
    if (st) return st;
    bool folded;
    return ptq_fold_node(im->g, id, &folded, im->err);
}

/* Collects the node's inputs as value ids, checking every named input exists. */
static ptq_status gather_inputs(importer *im, const Onnx__NodeProto *np, const char *nname,
                                int32_t *in, int32_t max, int32_t *n_in) {
    if (np->n_input > (size_t)max)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "has %zu inputs (at most %d)",
                         np->n_input, max);
    for (size_t i = 0; i < np->n_input; i++) {
        in[i] = input_id(im, np, i);
        if (in[i] < 0 && np->input[i] && *np->input[i])
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "input '%s' is not defined",
                             np->input[i]);
    }
    *n_in = (int32_t)np->n_input;
    while (*n_in > 0 && in[*n_in - 1] < 0) (*n_in)--; /* trailing omitted optionals */
    return PTQ_OK;
}

static ptq_status read_window(importer *im, const Onnx__NodeProto *np, const char *nname,
                              int32_t nsp, int64_t *kernel, int64_t *stride, int64_t *dilation,
                              int64_t *pb, int64_t *pe, int32_t *auto_pad, bool kernel_required) {
    static const char *const pad_modes[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", NULL};
    int64_t buf[8];
    int32_t n;
    ptq_status st;
    if ((st = attr_ints(im, np, nname, "kernel_shape", buf, 2, &n))) return st;
    if (n >= 0 && n != nsp)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "kernel_shape has %d entries; 1-D and 2-D windows are supported", n);
    if (n < 0 && kernel_required)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "kernel_shape is required");
    /* The spec's ranges, checked on the values as given: the IR reads a 0 kernel, stride
     * or dilation as "not given", which an explicit 0 is not. */
    const ptq_rule_node rn = rule_node(im, np, nname);
    if ((st = ptq_rule_ints_min(&rn, "attribute kernel_shape", buf, n, 1))) return st;
    for (int32_t i = 0; i < nsp; i++) kernel[i] = n > 0 ? buf[i] : 0;
    if ((st = attr_ints(im, np, nname, "strides", buf, 2, &n))) return st;
    if (n >= 0 && n != nsp) return node_fail(im, np, nname, PTQ_ERR_INVALID, "strides has %d entries", n);
    if ((st = ptq_rule_ints_min(&rn, "attribute strides", buf, n, 1))) return st;
    for (int32_t i = 0; i < nsp; i++) stride[i] = n > 0 ? buf[i] : 1;
    if (dilation) {
        if ((st = attr_ints(im, np, nname, "dilations", buf, 2, &n))) return st;
        if (n >= 0 && n != nsp)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "dilations has %d entries", n);
        if ((st = ptq_rule_ints_min(&rn, "attribute dilations", buf, n, 1))) return st;
        for (int32_t i = 0; i < nsp; i++) dilation[i] = n > 0 ? buf[i] : 1;
    }
    if ((st = attr_ints(im, np, nname, "pads", buf, 4, &n))) return st;
    if (n >= 0 && n != 2 * nsp) return node_fail(im, np, nname, PTQ_ERR_INVALID, "pads has %d entries", n);
    if ((st = ptq_rule_ints_min(&rn, "attribute pads", buf, n, 0))) return st;
    for (int32_t i = 0; i < nsp; i++) {
        pb[i] = n > 0 ? buf[i] : 0;
        pe[i] = n > 0 ? buf[nsp + i] : 0;
    }
    if ((st = attr_enum(im, np, nname, "auto_pad", pad_modes, 0, auto_pad))) return st;
    /* The spec: pads "cannot be used simultaneously with auto_pad"; auto_pad would win
     * silently.  Explicit zeros, which some exporters write along, say nothing: allowed. */
    bool padded = false;
    for (int32_t i = 0; i < nsp; i++) padded |= pb[i] != 0 || pe[i] != 0;
    if (padded && *auto_pad != PTQ_AUTO_PAD_NOTSET)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "attribute pads (nonzero) cannot be "
                         "used with attribute auto_pad='%s'", pad_modes[*auto_pad]);
    return PTQ_OK;
}

/* What Conv and ConvTranspose read alike: inputs X, W and the optional bias (in, *n_in),
 * the spatial rank from W, the window attributes and `group`.  `what` names the op in
 * the refusal of other ranks. */
static ptq_status read_conv_common(importer *im, const Onnx__NodeProto *np, const char *nname,
                                   const char *what, int32_t *in, int32_t *n_in,
                                   ptq_conv_attrs *a) {
    ptq_status st = gather_inputs(im, np, nname, in, 3, n_in);
    if (st) return st;
    if (*n_in < 2 || in[0] < 0 || in[1] < 0)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "needs inputs X and W");
    const int32_t nsp = im->g->values[in[1]].ndim - 2;
    if (nsp < 1 || nsp > 2)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "%d-D %s is not supported (1-D and 2-D are)", nsp, what);
    memset(a, 0, sizeof *a);
    a->n_spatial = nsp;
    if ((st = read_window(im, np, nname, nsp, a->kernel, a->stride, a->dilation, a->pad_begin,
                          a->pad_end, &a->auto_pad, false)))
        return st;
    if ((st = attr_int(im, np, nname, "group", 1, &a->group))) return st;
    /* group 0 is not "the default" (an absent attribute is); shape inference checks that
     * it divides the channels. */
    const ptq_rule_node rn = rule_node(im, np, nname);
    return ptq_rule_int_min(&rn, "attribute group", a->group, 1);
}

static ptq_status import_conv(importer *im, const Onnx__NodeProto *np, const char *nname) {
    static const char *const known[] = {"kernel_shape", "strides", "pads", "dilations",
                                        "group", "auto_pad", NULL};
    ptq_status st = check_attrs(im, np, nname, known);
    if (st) return st;
    int32_t in[3], n_in;
    ptq_conv_attrs a;
    if ((st = read_conv_common(im, np, nname, "convolution", in, &n_in, &a))) return st;
    int32_t id = emit(im, np, nname, PTQ_OP_CONV, n_in, in);
    if (id >= 0) im->g->nodes[id].attrs.conv = a;
    return finish(im, id);
}

static ptq_status import_pool(importer *im, const Onnx__NodeProto *np, const char *nname,
                              ptq_op op) {
    static const char *const known[] = {"kernel_shape", "strides", "pads", "dilations",
                                        "auto_pad", "ceil_mode", "count_include_pad",
                                        "storage_order", NULL};
    ptq_status st = check_attrs(im, np, nname, known);
    if (st) return st;
    int32_t in[1], n_in;
    if ((st = gather_inputs(im, np, nname, in, 1, &n_in))) return st;
    if (n_in < 1) return node_fail(im, np, nname, PTQ_ERR_INVALID, "needs input X");
    int32_t nsp = im->g->values[in[0]].ndim - 2;
    if (nsp < 1 || nsp > 2)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "%d-D pooling is not supported (1-D and 2-D are)", nsp);
    ptq_pool_attrs a = {0};
    a.n_spatial = nsp;
    int64_t v;
    if (op == PTQ_OP_AVERAGE_POOL && attr(np, "dilations"))
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "dilated average pooling");
    if ((st = read_window(im, np, nname, nsp, a.kernel, a.stride,
                          op == PTQ_OP_MAX_POOL ? a.dilation : NULL, a.pad_begin, a.pad_end,
                          &a.auto_pad, true)))
        return st;
    if (op != PTQ_OP_MAX_POOL)
        for (int32_t i = 0; i < nsp; i++) a.dilation[i] = 1;
    if ((st = attr_int(im, np, nname, "ceil_mode", 0, &v))) return st;
    a.ceil_mode = v != 0;
    if ((st = attr_int(im, np, nname, "count_include_pad", 0, &v))) return st;
    a.count_include_pad = v != 0;
    if ((st = attr_int(im, np, nname, "storage_order", 0, &v))) return st;
    if (v != 0)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "attribute storage_order=%" PRId64
                         " is not supported (only 0, row major)", v);
    int32_t id = emit(im, np, nname, op, 1, in);
    if (id >= 0) im->g->nodes[id].attrs.pool = a;
    return finish(im, id);
}

/* ---- spatial ops: Resize, Upsample, ConvTranspose, Slice, Split ---------------------- */

/* Reads a 1-D float constant (Resize scales) into out[]; at most max entries. */
static ptq_status const_floats(importer *im, const Onnx__NodeProto *np, const char *nname,
                               const ptq_tensor *t, const char *what, float *out, int32_t max,
                               int32_t *n) {
    int64_t cnt = ptq_tensor_numel(t);
    if (t->dtype != PTQ_DTYPE_F32)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "%s must be float32, not %s", what,
                         ptq_dtype_name(t->dtype));
    if (t->ndim > 1 || cnt > max)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "%s must be a 1-D tensor of at most %d entries", what, max);
    for (int64_t i = 0; i < cnt; i++) out[i] = ((const float *)t->data)[i];
    *n = (int32_t)cnt;
    return PTQ_OK;
}

/* The constant behind optional input i, or NULL when omitted (err set if not constant). */
static const ptq_tensor *opt_const(importer *im, const Onnx__NodeProto *np, const char *nname,
                                   size_t i, const char *what) {
    return input_id(im, np, i) < 0 ? NULL : const_input(im, np, nname, i, what);
}

/* Resize of every opset (10: X, scales; 11+: X, roi, scales, sizes) and Upsample (7:
 * scales attribute; 9: scales input).  The scales or sizes become attributes. */
static ptq_status import_resize(importer *im, const Onnx__NodeProto *np, const char *nname,
                                bool upsample) {
    static const char *const known_up[] = {"mode", "scales", NULL};
    static const char *const known_10[] = {"mode", NULL};
    static const char *const known_11[] = {"mode", "coordinate_transformation_mode",
                                           "cubic_coeff_a", "exclude_outside",
                                           "extrapolation_value", "nearest_mode", "antialias",
                                           "axes", "keep_aspect_ratio_policy", NULL};
    static const char *const modes[] = {"nearest", "linear", "bilinear", "cubic", NULL};
    static const char *const coords[] = {"half_pixel", "asymmetric", "pytorch_half_pixel",
                                         "align_corners", "tf_half_pixel_for_nn",
                                         "half_pixel_symmetric", "tf_crop_and_resize", NULL};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                           "ceil", NULL};
    static const char *const policies[] = {"stretch", "not_larger", "not_smaller", NULL};
    const bool legacy = upsample || im->opset < 11;
    ptq_status st = check_attrs(im, np, nname, upsample ? known_up : legacy ? known_10 : known_11);
    if (st) return st;
    int32_t x = input_id(im, np, 0);
    if (x < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input X is missing");
    const ptq_value *xv = &im->g->values[x];
    struct ptq_resize_attrs a = {0};
    int32_t mode;
    if ((st = attr_enum(im, np, nname, "mode", modes, 0, &mode))) return st;
    if (mode == 3)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "attribute mode='cubic' is not supported (nearest and linear are)");
    a.mode = mode == 0 ? PTQ_RESIZE_NEAREST : PTQ_RESIZE_LINEAR;
    a.opset = (int32_t)im->opset;
    a.ndim = xv->ndim;
    float scales[PTQ_MAX_DIMS];
    int64_t sizes[PTQ_MAX_DIMS], axes[PTQ_MAX_DIMS];
    int32_t n_scales = -1, n_sizes = -1, n_axes = -1;
    if (legacy) {
        /* Upsample and Resize-10: asymmetric coordinates; nearest takes the floor when
         * enlarging and the ceiling when shrinking (onnxruntime's rule for these forms). */
        a.coord = PTQ_RESIZE_COORD_ASYMMETRIC;
        a.nearest_mode = PTQ_RESIZE_SIMPLE;
        if (upsample && im->opset < 9) {
            const Onnx__AttributeProto *sa = attr(np, "scales");
            if (!sa || sa->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS)
                return node_fail(im, np, nname, PTQ_ERR_INVALID,
                                 "attribute 'scales' (floats) is required");
            if (sa->n_floats > PTQ_MAX_DIMS)
                return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "too many scales");
            for (size_t i = 0; i < sa->n_floats; i++) scales[i] = sa->floats[i];
            n_scales = (int32_t)sa->n_floats;
        } else {
            if (upsample && attr(np, "scales"))
                return node_fail(im, np, nname, PTQ_ERR_INVALID,
                                 "scales is an input since opset 9, not an attribute");
            const ptq_tensor *t = const_input(im, np, nname, 1, "scales");
            if (!t) return im->err->status ? im->err->status
                                           : node_fail(im, np, nname, PTQ_ERR_INVALID, "scales is missing");
            if ((st = const_floats(im, np, nname, t, "scales", scales, PTQ_MAX_DIMS, &n_scales)))
                return st;
        }
    } else {
        if ((st = attr_enum(im, np, nname, "coordinate_transformation_mode", coords, 0, &a.coord)))
            return st;
        if (a.coord == 6)
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "attribute coordinate_transformation_mode='tf_crop_and_resize' is "
                             "not supported");
        if (a.coord == PTQ_RESIZE_COORD_TF_HALF_PIXEL && im->opset >= 13)
            return node_fail(im, np, nname, PTQ_ERR_INVALID,
                             "coordinate_transformation_mode='tf_half_pixel_for_nn' was removed "
                             "in opset 13");
        if (a.coord == PTQ_RESIZE_COORD_HALF_PIXEL_SYMMETRIC && im->opset < 19)
            return node_fail(im, np, nname, PTQ_ERR_INVALID,
                             "coordinate_transformation_mode='half_pixel_symmetric' needs opset 19");
        if ((st = attr_enum(im, np, nname, "nearest_mode", nearests, 0, &a.nearest_mode))) return st;
        int64_t v;
        if ((st = attr_int(im, np, nname, "exclude_outside", 0, &v))) return st;
        if (v != 0 && a.mode != PTQ_RESIZE_NEAREST)
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "attribute exclude_outside=1 is not supported");
        if ((st = attr_int(im, np, nname, "antialias", 0, &v))) return st;
        if (v != 0 && a.mode != PTQ_RESIZE_NEAREST)
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "attribute antialias=1 is not supported");
        float f;
        if ((st = attr_float(im, np, nname, "cubic_coeff_a", -0.75f, &f))) return st;
        if ((st = attr_float(im, np, nname, "extrapolation_value", 0.0f, &f))) return st;
        if ((st = attr_ints(im, np, nname, "axes", axes, PTQ_MAX_DIMS, &n_axes))) return st;
        const ptq_rule_node rn = rule_node(im, np, nname);
        /* The spec leaves a repeated axis undefined: refused. */
        if ((st = ptq_rule_axes(&rn, "attribute axes", axes, n_axes, xv->ndim, true))) return st;
        int32_t policy;
        if ((st = attr_enum(im, np, nname, "keep_aspect_ratio_policy", policies, 0, &policy)))
            return st;
        /* roi matters only for tf_crop_and_resize: ignored. */
        const ptq_tensor *ts = opt_const(im, np, nname, 2, "scales");
        if (!ts && im->err->status) return im->err->status;
        const ptq_tensor *tz = opt_const(im, np, nname, 3, "sizes");
        if (!tz && im->err->status) return im->err->status;
        if (ts && (st = const_floats(im, np, nname, ts, "scales", scales, PTQ_MAX_DIMS, &n_scales)))
            return st;
        if (tz && (st = const_ints(im, np, nname, tz, "sizes", sizes, PTQ_MAX_DIMS, &n_sizes)))
            return st;
        if (n_scales > 0 && n_sizes > 0)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "has both scales and sizes");
        if (n_scales <= 0 && n_sizes <= 0)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "needs scales or sizes");
        if (policy != 0 && n_sizes > 0) {
            /* Keep the aspect ratio: one scale for every listed axis. */
            double s = policy == 1 ? INFINITY : 0.0;
            for (int32_t k = 0; k < n_sizes; k++) {
                const int32_t ax = n_axes < 0 ? k : (int32_t)(axes[k] < 0 ? axes[k] + xv->ndim : axes[k]);
                if (ax < 0 || ax >= xv->ndim || xv->ne[ax] == B || xv->ne[ax] < 1)
                    return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                                     "keep_aspect_ratio_policy on axis %d", ax);
                const double r = (double)sizes[k] / (double)xv->ne[ax];
                s = policy == 1 ? fmin(s, r) : fmax(s, r);
            }
            for (int32_t k = 0; k < n_sizes; k++) {
                const int32_t ax = n_axes < 0 ? k : (int32_t)(axes[k] < 0 ? axes[k] + xv->ndim : axes[k]);
                sizes[k] = (int64_t)round(s * (double)xv->ne[ax]);
            }
        }
    }
    a.from_sizes = n_sizes > 0;
    const int32_t n_given = a.from_sizes ? n_sizes : n_scales;
    const ptq_rule_node rn = rule_node(im, np, nname);
    /* Upsample only enlarges: the spec has its scales >= 1. */
    if (upsample && (st = ptq_rule_floats_min(&rn, im->opset < 9 ? "attribute scales"
                                                                  : "input scales",
                                              scales, n_scales, 1.0f)))
        return st;
    if (n_axes >= 0 && n_axes != n_given)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "axes has %d entries, %s %d", n_axes,
                         a.from_sizes ? "sizes" : "scales", n_given);
    if (n_axes < 0 && n_given != xv->ndim)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "%s has %d entries for input rank %d",
                         a.from_sizes ? "sizes" : "scales", n_given, xv->ndim);
    for (int32_t i = 0; i < xv->ndim; i++) {
        a.scales[i] = 1.0f;
        a.sizes[i] = xv->ne[i];
    }
    for (int32_t k = 0; k < n_given; k++) {
        int64_t ax = k;
        if (n_axes >= 0) {
            ax = axes[k] < 0 ? axes[k] + xv->ndim : axes[k];
            if (ax < 0 || ax >= xv->ndim)
                return node_fail(im, np, nname, PTQ_ERR_INVALID, "axes[%d] = %" PRId64
                                 " is out of range", k, axes[k]);
        }
        if (a.from_sizes) a.sizes[ax] = sizes[k];
        else a.scales[ax] = scales[k];
    }
    int32_t id = emit(im, np, nname, PTQ_OP_RESIZE, 1, &x);
    if (id >= 0) im->g->nodes[id].attrs.resize = a;
    return finish(im, id);
}

static ptq_status import_conv_transpose(importer *im, const Onnx__NodeProto *np,
                                        const char *nname) {
    static const char *const known[] = {"kernel_shape", "strides", "pads", "dilations", "group",
                                        "auto_pad", "output_padding", "output_shape", NULL};
    ptq_status st = check_attrs(im, np, nname, known);
    if (st) return st;
    int32_t in[3], n_in;
    ptq_conv_attrs a;
    if ((st = read_conv_common(im, np, nname, "transposed convolution", in, &n_in, &a))) return st;
    const int32_t nsp = a.n_spatial;
    struct ptq_convt_attrs t;
    memset(&t, 0, sizeof t);
    int64_t buf[PTQ_MAX_DIMS];
    int32_t n;
    if ((st = attr_ints(im, np, nname, "output_padding", buf, PTQ_MAX_DIMS, &n))) return st;
    if (n >= 0 && n != nsp)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "output_padding has %d entries", n);
    for (int32_t i = 0; i < nsp && n > 0; i++) t.output_padding[i] = buf[i];
    if ((st = attr_ints(im, np, nname, "output_shape", buf, PTQ_MAX_DIMS, &n))) return st;
    if (n >= 0 && n != nsp && n != nsp + 2)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "output_shape has %d entries", n);
    for (int32_t i = 0; i < nsp && n > 0; i++) {
        t.output_shape[i] = buf[n - nsp + i];
        if (t.output_shape[i] < 1)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "output_shape[%d] = %" PRId64, i,
                             t.output_shape[i]);
    }
    int32_t id = emit(im, np, nname, PTQ_OP_CONV_TRANSPOSE, n_in, in);
    if (id >= 0) {
        im->g->nodes[id].attrs.conv = a;
        im->g->nodes[id].attrs.convt = t;
    }
    return finish(im, id);
}

/* Slice of a 1-D integer constant (shape arithmetic: Shape -> Slice), evaluated here so
 * the batch symbol moves along. */
static ptq_status fold_int_slice(importer *im, const Onnx__NodeProto *np, const char *nname,
                                 const ptq_tensor *data, const struct ptq_slice_attrs *s) {
    if (data->ndim != 1 || s->n > 1 || (s->n == 1 && s->axes[0] != 0 && s->axes[0] != -1))
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "slicing an integer tensor of rank %d", data->ndim);
    const int64_t len = data->ne[0];
    int64_t start = s->n ? s->starts[0] : 0, end = s->n ? s->ends[0] : len, step = s->n ? s->steps[0] : 1;
    if (step == 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "steps[0] is 0");
    /* Bounds beyond the vector (INT64_MIN/MAX, the spec's idioms) clamp; kept away from
     * the overflow of adding len. */
    start = PTQ_MAX(-len - 1, PTQ_MIN(start, len));
    end = PTQ_MAX(-len - 1, PTQ_MIN(end, len));
    if (start < 0) start += len;
    if (end < 0) end += len;
    int64_t cnt;
    if (step > 0) {
        start = PTQ_MAX(0, PTQ_MIN(start, len));
        end = PTQ_MAX(0, PTQ_MIN(end, len));
        cnt = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = PTQ_MAX(-1, PTQ_MIN(start, len - 1));
        end = PTQ_MAX(-1, PTQ_MIN(end, len - 1));
        cnt = start > end ? (start - end - 1) / (step == INT64_MIN ? INT64_MAX : -step) + 1 : 0;
    }
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I64, 1, &cnt, im->err);
    if (!t) return im->err->status;
    for (int64_t i = 0; i < cnt; i++) ((int64_t *)t->data)[i] = iget(data, start + i * step);
    return new_constant(im, np->output[0], t);
}

static ptq_status import_slice(importer *im, const Onnx__NodeProto *np, const char *nname) {
    static const char *const known_old[] = {"starts", "ends", "axes", NULL};
    static const char *const none[] = {NULL};
    ptq_status st = check_attrs(im, np, nname, im->opset < 10 ? known_old : none);
    if (st) return st;
    int32_t x = input_id(im, np, 0);
    if (x < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input data is missing");
    struct ptq_slice_attrs s;
    memset(&s, 0, sizeof s);
    int32_t ns = -1, ne = -1, na = -1, nst = -1;
    if (im->opset < 10) {
        if ((st = attr_ints(im, np, nname, "starts", s.starts, PTQ_MAX_DIMS, &ns))) return st;
        if ((st = attr_ints(im, np, nname, "ends", s.ends, PTQ_MAX_DIMS, &ne))) return st;
        if ((st = attr_ints(im, np, nname, "axes", s.axes, PTQ_MAX_DIMS, &na))) return st;
        if (ns < 0 || ne < 0)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "attributes starts and ends are required");
    } else {
        static const char *const what[] = {"starts", "ends", "axes", "steps"};
        int64_t *dst[] = {s.starts, s.ends, s.axes, s.steps};
        int32_t *cnt[] = {&ns, &ne, &na, &nst};
        for (size_t i = 1; i < 5; i++) {
            if (input_id(im, np, i) < 0) {
                if (i < 3) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input %s is missing", what[i - 1]);
                continue;
            }
            const ptq_tensor *t = const_input(im, np, nname, i, what[i - 1]);
            if (!t) return im->err->status;
            if ((st = const_ints(im, np, nname, t, what[i - 1], dst[i - 1], PTQ_MAX_DIMS, cnt[i - 1])))
                return st;
        }
    }
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return node_fail(im, np, nname, PTQ_ERR_INVALID,
                         "starts, ends, axes and steps have different lengths");
    s.n = ns;
    for (int32_t k = 0; k < ns; k++) {
        if (na < 0) s.axes[k] = k;
        if (nst < 0) s.steps[k] = 1;
    }
    const ptq_tensor *c = im->g->values[x].data;
    if (is_int(c)) return fold_int_slice(im, np, nname, c, &s);
    int32_t id = emit(im, np, nname, PTQ_OP_SLICE, 1, &x);
    if (id >= 0) im->g->nodes[id].attrs.slice = s;
    return finish(im, id);
}

static ptq_status import_split(importer *im, const Onnx__NodeProto *np, const char *nname) {
    static const char *const known_old[] = {"axis", "split", NULL};
    static const char *const known_13[] = {"axis", NULL};
    static const char *const known_18[] = {"axis", "num_outputs", NULL};
    ptq_status st = check_attrs(im, np, nname, im->opset < 13 ? known_old
                                                : im->opset < 18 ? known_13 : known_18);
    if (st) return st;
    int32_t x = input_id(im, np, 0);
    if (x < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input is missing");
    ptq_node_attrs at;
    memset(&at, 0, sizeof at);
    if ((st = attr_int(im, np, nname, "axis", 0, &at.axis))) return st;
    int32_t n = -1;
    if (np->n_output < 1 || np->n_output > PTQ_SPLIT_MAX)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "%zu outputs (1 to %d are supported)",
                         np->n_output, PTQ_SPLIT_MAX);
    if (im->opset < 13) {
        if ((st = attr_ints(im, np, nname, "split", at.split.sizes, PTQ_SPLIT_MAX, &n))) return st;
    } else if (input_id(im, np, 1) >= 0) {
        const ptq_tensor *t = const_input(im, np, nname, 1, "split");
        if (!t) return im->err->status;
        if ((st = const_ints(im, np, nname, t, "split", at.split.sizes, PTQ_SPLIT_MAX, &n))) return st;
    }
    if (im->opset >= 18) {
        int64_t k;
        if ((st = attr_int(im, np, nname, "num_outputs", 0, &k))) return st;
        if ((k != 0) == (n >= 0))
            return node_fail(im, np, nname, PTQ_ERR_INVALID,
                             "exactly one of the split input and num_outputs must be given");
        if (k != 0 && k != (int64_t)np->n_output)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "num_outputs is %" PRId64
                             " but the node has %zu outputs", k, np->n_output);
    } else if (n < 0) {
        const ptq_value *v = &im->g->values[x];
        int64_t ax = at.axis < 0 ? at.axis + v->ndim : at.axis;
        if (ax >= 0 && ax < v->ndim && v->ne[ax] != B && v->ne[ax] % (int64_t)np->n_output)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "axis %" PRId64 " of size %" PRId64
                             " does not split into %zu equal parts", at.axis, v->ne[ax],
                             np->n_output);
    }
    at.split.n = n < 0 ? 0 : n;
    int32_t out[PTQ_SPLIT_MAX];
    for (size_t i = 0; i < np->n_output; i++) {
        if (!np->output[i] || !*np->output[i])
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "output %zu has no name", i);
        if (lookup(im, np->output[i]) >= 0)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "output '%s' is already defined",
                             np->output[i]);
        out[i] = ptq_graph_add_value(im->g, np->output[i], PTQ_DTYPE_F32, 0, NULL, im->err);
        if (out[i] < 0) return im->err->status;
    }
    int32_t id = ptq_graph_add_node(im->g, PTQ_OP_SPLIT, nname, 1, &x, (int32_t)np->n_output,
                                    out, im->err);
    if (id >= 0) im->g->nodes[id].attrs.axis = at.axis, im->g->nodes[id].attrs.split = at.split;
    return finish(im, id);
}

/* Unsqueeze / Squeeze: computes the target shape; constants are reshaped in place,
 * run-time values become a Reshape with a static target. */
static ptq_status import_squeeze(importer *im, const Onnx__NodeProto *np, const char *nname,
                                 bool unsqueeze) {
    static const char *const known[] = {"axes", NULL};
    ptq_status st = check_attrs(im, np, nname, known);
    if (st) return st;
    int32_t x = input_id(im, np, 0);
    if (x < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input data is missing");
    const ptq_value *v = &im->g->values[x];
    int64_t axes[PTQ_MAX_DIMS];
    int32_t n_axes = -1;
    const char *axes_what = im->opset >= 13 ? "input axes" : "attribute axes";
    if (im->opset >= 13) {
        if (attr(np, "axes"))
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "axes is an input since opset 13");
        if (input_id(im, np, 1) >= 0) {
            const ptq_tensor *t = const_input(im, np, nname, 1, "axes");
            if (!t) return im->err->status;
            if ((st = const_ints(im, np, nname, t, "axes", axes, PTQ_MAX_DIMS, &n_axes))) return st;
        }
    } else if ((st = attr_ints(im, np, nname, "axes", axes, PTQ_MAX_DIMS, &n_axes))) {
        return st;
    }
    int64_t out[PTQ_MAX_DIMS];
    int32_t r = 0;
    if (unsqueeze) {
        if (n_axes < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "axes are required");
        int32_t rank = v->ndim + n_axes;
        if (rank > PTQ_MAX_DIMS) return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "rank too large");
        const ptq_rule_node rn = rule_node(im, np, nname);
        if ((st = ptq_rule_axes(&rn, axes_what, axes, n_axes, rank, true))) return st;
        uint32_t mark = 0;
        for (int32_t i = 0; i < n_axes; i++) mark |= 1u << (axes[i] < 0 ? axes[i] + rank : axes[i]);
        for (int32_t i = 0, k = 0; i < rank; i++) out[r++] = (mark >> i) & 1u ? 1 : v->ne[k++];
    } else {
        /* Repeats are harmless here (the spec does not forbid them; onnxruntime drops them). */
        const ptq_rule_node rn = rule_node(im, np, nname);
        if ((st = ptq_rule_axes(&rn, axes_what, axes, n_axes, v->ndim, false))) return st;
        uint32_t mark = 0;
        for (int32_t i = 0; i < n_axes; i++) {
            int64_t a = axes[i] < 0 ? axes[i] + v->ndim : axes[i];
            if (v->ne[a] != 1)
                return node_fail(im, np, nname, PTQ_ERR_INVALID, "%s[%d]=%" PRId64 " names "
                                 "dimension %" PRId64 " of size %" PRId64 ", not 1", axes_what,
                                 i, axes[i], a, v->ne[a]);
            mark |= 1u << a;
        }
        for (int32_t i = 0; i < v->ndim; i++) {
            bool drop = n_axes < 0 ? v->ne[i] == 1 : ((mark >> i) & 1u) != 0;
            if (!drop) out[r++] = v->ne[i];
        }
    }
    if (v->data) {
        ptq_tensor *t = ptq_tensor_clone(v->data, im->err);
        if (!t) return im->err->status;
        t->ndim = r;
        memcpy(t->ne, out, sizeof out);
        return new_constant(im, np->output[0], t);
    }
    int32_t id = emit(im, np, nname, PTQ_OP_RESHAPE, 1, &x);
    if (id >= 0) {
        ptq_node *n = &im->g->nodes[id];
        n->attrs.ndim = r;
        n->attrs.allowzero = 1;
        memcpy(n->attrs.shape, out, sizeof out);
    }
    return finish(im, id);
}

static ptq_status import_reshape(importer *im, const Onnx__NodeProto *np, const char *nname) {
    static const char *const known[] = {"allowzero", NULL};
    ptq_status st = check_attrs(im, np, nname, known);
    if (st) return st;
    int32_t x = input_id(im, np, 0);
    if (x < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input data is missing");
    const ptq_tensor *shape = const_input(im, np, nname, 1, "the target shape");
    if (!shape)
        return im->err->status ? im->err->status
                               : node_fail(im, np, nname, PTQ_ERR_INVALID, "shape is missing");
    ptq_node tmp = {0};
    tmp.name = (char *)nname;
    tmp.op = PTQ_OP_RESHAPE;
    if ((st = const_ints(im, np, nname, shape, "shape", tmp.attrs.shape, PTQ_MAX_DIMS,
                         &tmp.attrs.ndim)))
        return st;
    int64_t az;
    if ((st = attr_int(im, np, nname, "allowzero", 0, &az))) return st;
    tmp.attrs.allowzero = az != 0;
    const ptq_value *v = &im->g->values[x];
    if (v->data && v->dtype != PTQ_DTYPE_F32) { /* integer shape data: fold here */
        int64_t out[PTQ_MAX_DIMS];
        if ((st = ptq_reshape_resolve(&tmp, v, out, im->err))) return st;
        ptq_tensor *t = ptq_tensor_clone(v->data, im->err);
        if (!t) return im->err->status;
        t->ndim = tmp.attrs.ndim;
        memcpy(t->ne, out, sizeof out);
        return new_constant(im, np->output[0], t);
    }
    int32_t id = emit(im, np, nname, PTQ_OP_RESHAPE, 1, &x);
    if (id >= 0) {
        ptq_node *n = &im->g->nodes[id];
        n->attrs.ndim = tmp.attrs.ndim;
        n->attrs.allowzero = tmp.attrs.allowzero;
        memcpy(n->attrs.shape, tmp.attrs.shape, sizeof n->attrs.shape);
    }
    return finish(im, id);
}

static ptq_status import_constant(importer *im, const Onnx__NodeProto *np, const char *nname) {
    if (np->n_attribute != 1)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "needs exactly one value attribute");
    const Onnx__AttributeProto *a = np->attribute[0];
    ptq_tensor *t = NULL;
    int64_t one = 1;
    const char *an = a->name ? a->name : "";
    int32_t onnx_type = -1; /* of a TensorProto value; the other forms are what t says */
    if (!strcmp(an, "value") && a->t) {
        t = tensor_from_proto(a->t, "value attribute", true, im->err);
        onnx_type = a->t->data_type;
    } else if (!strcmp(an, "value_float")) {
        t = ptq_tensor_new(PTQ_DTYPE_F32, 0, NULL, im->err);
        if (t) *(float *)t->data = a->f;
    } else if (!strcmp(an, "value_int")) {
        t = ptq_tensor_new(PTQ_DTYPE_I64, 0, NULL, im->err);
        if (t) *(int64_t *)t->data = a->i;
    } else if (!strcmp(an, "value_floats")) {
        int64_t n = (int64_t)a->n_floats;
        t = ptq_tensor_new(PTQ_DTYPE_F32, 1, &n, im->err);
        if (t && n) memcpy(t->data, a->floats, (size_t)n * 4);
    } else if (!strcmp(an, "value_ints")) {
        int64_t n = (int64_t)a->n_ints;
        t = ptq_tensor_new(PTQ_DTYPE_I64, 1, &n, im->err);
        if (t && n) memcpy(t->data, a->ints, (size_t)n * 8);
    } else {
        (void)one;
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "value attribute '%s' is not "
                         "supported", an);
    }
    if (!t) {
        ptq_error_prefix(im->err, "node '%s' (Constant)", nname);
        return im->err->status;
    }
    return proto_constant(im, np->output[0], t, onnx_type >= 0 ? onnx_type : (int32_t)t->dtype);
}

/* ------------------------------------- elementwise, comparison and reduction ops ---- */

/* Cast: on constants with exact integer semantics (shape arithmetic); at run time a
 * PTQ_OP_CAST node that keeps float32 values but rounds and saturates them as the target
 * type would (float and double: a plain alias). */
#define ONNX_BOOL 9
#define ONNX_DOUBLE 11

static bool cast_target_ok(int64_t to) {
    switch (to) {
    case PTQ_DTYPE_F32: case ONNX_DOUBLE: case PTQ_DTYPE_U8: case PTQ_DTYPE_I8:
    case ONNX_UINT16: case ONNX_INT16: case PTQ_DTYPE_I32: case PTQ_DTYPE_I64:
    case 12: case 13: case ONNX_BOOL: return true; /* 12, 13: uint32, uint64 */
    default: return false;
    }
}

static int64_t int_at(const ptq_tensor *t, int64_t i); /* below, with the QDQ helpers */

/* Element i of a numeric constant as double (int64 values above 2^53 lose bits; shape
 * values never get there). */
static double num_at(const ptq_tensor *t, int64_t i) {
    return t->dtype == PTQ_DTYPE_F32 ? (double)((const float *)t->data)[i] : (double)int_at(t, i);
}

static ptq_status import_cast(importer *im, const Onnx__NodeProto *np, const char *nname) {
    const char *known[3] = {"to", NULL, NULL};
    if (im->opset >= 19) known[1] = "saturate"; /* float8 targets only, refused below */
    ptq_status st = check_attrs(im, np, nname, known);
    if (st) return st;
    int64_t to;
    if (!attr(np, "to")) return node_fail(im, np, nname, PTQ_ERR_INVALID, "attribute 'to' is required");
    if ((st = attr_int(im, np, nname, "to", 0, &to))) return st;
    if (!cast_target_ok(to))
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "attribute to=%" PRId64 " (%s): "
                         "casts to float16, bfloat16, float8, string and complex types are not "
                         "supported", to, ptq_dtype_name((ptq_dtype)to));
    int32_t x = input_id(im, np, 0);
    if (x < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input is missing");
    const ptq_value *v = &im->g->values[x];
    if (!v->data) {
        if (to == PTQ_DTYPE_F32 || to == ONNX_DOUBLE)
            return alias_or_copy(im, nname, np->output[0], x);
        int32_t id = emit(im, np, nname, PTQ_OP_CAST, 1, &x);
        if (id >= 0) im->g->nodes[id].attrs.cast_to = (int32_t)to;
        return finish(im, id);
    }
    /* A constant: int64, int32 and float32 results are stored as such (bool and the
     * other integer types become uint8 / int32 / int64 holding the cast values). */
    const ptq_tensor *s = v->data;
    ptq_dtype store = to == PTQ_DTYPE_F32 || to == ONNX_DOUBLE ? PTQ_DTYPE_F32
                      : to == ONNX_BOOL || to == PTQ_DTYPE_U8 ? PTQ_DTYPE_U8
                      : to == PTQ_DTYPE_I8 ? PTQ_DTYPE_I8
                      : to == PTQ_DTYPE_I64 || to == 12 || to == 13 ? PTQ_DTYPE_I64 : PTQ_DTYPE_I32;
    ptq_tensor *t = ptq_tensor_new(store, s->ndim, s->ne, im->err);
    if (!t) return im->err->status;
    int64_t n = ptq_tensor_numel(s);
    for (int64_t i = 0; i < n; i++) {
        if (s->dtype == PTQ_DTYPE_I64 && ((const int64_t *)s->data)[i] == B) {
            if (to != PTQ_DTYPE_I64) {
                ptq_tensor_free(t);
                return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                                 "casts the batch size; only static shapes can be folded");
            }
            ((int64_t *)t->data)[i] = B;
            continue;
        }
        if (store == PTQ_DTYPE_F32) {
            ((float *)t->data)[i] = (float)num_at(s, i);
            continue;
        }
        /* Integers: floats truncate toward zero and saturate (as the run-time kernel). */
        const double c = s->dtype == PTQ_DTYPE_F32
                             ? (double)ptq_cast_value(((const float *)s->data)[i], (int32_t)to)
                             : 0.0;
        int64_t k = s->dtype != PTQ_DTYPE_F32 ? int_at(s, i)
                    : c >= 9.2e18 ? INT64_MAX /* uint64's top, stored as int64 */
                                  : (int64_t)c;
        if (to == ONNX_BOOL) k = k != 0 || (s->dtype == PTQ_DTYPE_F32 && ((const float *)s->data)[i] != 0.0f);
        switch (store) {
        case PTQ_DTYPE_U8: ((uint8_t *)t->data)[i] = (uint8_t)k; break;
        case PTQ_DTYPE_I8: ((int8_t *)t->data)[i] = (int8_t)k; break;
        case PTQ_DTYPE_I32:
            ((int32_t *)t->data)[i] = to == ONNX_UINT16 ? (int32_t)(uint16_t)k
                                      : to == ONNX_INT16 ? (int32_t)(int16_t)k : (int32_t)k;
            break;
        default: ((int64_t *)t->data)[i] = k; break;
        }
    }
    return new_constant(im, np->output[0], t);
}

/* True if some node or graph output reads value name `name`. */
static bool name_is_read(const importer *im, const char *name) {
    if (is_graph_output(im, name)) return true;
    for (size_t i = 0; i < im->gp->n_node; i++)
        for (size_t k = 0; k < im->gp->node[i]->n_input; k++)
            if (im->gp->node[i]->input[k] && !strcmp(im->gp->node[i]->input[k], name)) return true;
    return false;
}

/* Numpy broadcast of constant shapes; false if they do not broadcast. */
static bool const_broadcast(const ptq_tensor *const *ts, int32_t k, int32_t *ndim, int64_t *ne) {
    int32_t r = 0;
    for (int32_t j = 0; j < k; j++) r = PTQ_MAX(r, ts[j]->ndim);
    for (int32_t i = 0; i < r; i++) {
        int64_t d = 1;
        for (int32_t j = 0; j < k; j++) {
            int32_t ij = i - (r - ts[j]->ndim);
            int64_t dj = ij >= 0 ? ts[j]->ne[ij] : 1;
            if (dj == d || dj == 1) continue;
            if (d != 1) return false;
            d = dj;
        }
        ne[i] = d;
    }
    *ndim = r;
    return true;
}

/* Flat index into t of output element `flat` of shape (r, ne) under broadcasting. */
static int64_t bcast_index(const ptq_tensor *t, int32_t r, const int64_t *ne, int64_t flat) {
    int64_t idx = 0, stride = 1;
    for (int32_t i = r - 1; i >= 0; i--) {
        int64_t c = flat % ne[i];
        flat /= ne[i];
        int32_t it = i - (r - t->ndim);
        if (it < 0) continue;
        if (t->ne[it] != 1) idx += c * stride;
        stride *= t->ne[it];
    }
    return idx;
}

/* Integer constant folding of Neg, Min, Max, Equal, Less, Greater, Where and Expand: the
 * shape computations PyTorch exports (e.g. Equal(shape, -1) -> Where -> Expand).  The
 * batch symbol may be selected (Where) or broadcast (Expand) but not computed with; the
 * one comparison that is decided without its value is Equal against a size < 1. */
static ptq_status fold_int_math(importer *im, const Onnx__NodeProto *np, const char *nname,
                                ptq_op ir, const ptq_tensor *const *ts, int32_t k) {
    int32_t r;
    int64_t ne[PTQ_MAX_DIMS];
    if (!const_broadcast(ts, k, &r, ne))
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "constant inputs do not broadcast");
    const bool cmp = ir == PTQ_OP_EQUAL || ir == PTQ_OP_LESS || ir == PTQ_OP_GREATER;
    /* The result keeps the operands' type when they agree (Pow: the base's). */
    ptq_dtype dt = ts[ir == PTQ_OP_WHERE ? 1 : 0]->dtype;
    for (int32_t j = ir == PTQ_OP_WHERE ? 2 : 1; j < k && ir != PTQ_OP_POW; j++)
        if (ts[j]->dtype != dt) dt = PTQ_DTYPE_I64;
    if (cmp) dt = PTQ_DTYPE_U8;
    ptq_tensor *t = ptq_tensor_new(dt, r, ne, im->err);
    if (!t) return im->err->status;
    const int64_t n = ptq_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        int64_t v[64];
        double expo = 0.0;
        bool batch = false;
        for (int32_t j = 0; j < k; j++) {
            const ptq_tensor *s = ts[j];
            int64_t e = bcast_index(s, r, ne, i);
            /* A float condition (a comparison folded as float) is read as nonzero. */
            v[j] = s->dtype == PTQ_DTYPE_F32 ? ((const float *)s->data)[e] != 0.0f : int_at(s, e);
            if (ir == PTQ_OP_POW && j == 1) expo = num_at(s, e);
            if (s->dtype == PTQ_DTYPE_F32 && !(ir == PTQ_OP_WHERE && j == 0) &&
                !(ir == PTQ_OP_POW && j == 1)) {
                ptq_tensor_free(t);
                return node_fail(im, np, nname, PTQ_ERR_INTERNAL, "float operand in integer folding");
            }
            batch |= v[j] == B && !(ir == PTQ_OP_WHERE && j == 0);
        }
        int64_t z;
        if (ir == PTQ_OP_WHERE) {
            z = v[0] != 0 ? v[1] : v[2];
        } else if (ir == PTQ_OP_EXPAND) {
            z = v[0];
        } else if (ir == PTQ_OP_EQUAL && batch && (v[0] == B) != (v[1] == B) &&
                   (v[0] == B ? v[1] : v[0]) < 1) {
            z = 0; /* the batch size is at least 1 */
        } else if (batch) {
            ptq_tensor_free(t);
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "computes with the batch size; only static shapes can be folded");
        } else {
            switch (ir) {
            case PTQ_OP_NEG: z = -v[0]; break;
            case PTQ_OP_POW: {
                const double pw = pow((double)v[0], expo);
                if (!(fabs(pw) < 9.2e18)) {
                    ptq_tensor_free(t);
                    return node_fail(im, np, nname, PTQ_ERR_INVALID, "integer power out of range");
                }
                z = (int64_t)pw;
                break;
            }
            case PTQ_OP_EQUAL: z = v[0] == v[1]; break;
            case PTQ_OP_LESS: z = v[0] < v[1]; break;
            case PTQ_OP_GREATER: z = v[0] > v[1]; break;
            case PTQ_OP_MIN: z = v[0]; for (int32_t j = 1; j < k; j++) z = PTQ_MIN(z, v[j]); break;
            default: z = v[0]; for (int32_t j = 1; j < k; j++) z = PTQ_MAX(z, v[j]); break;
            }
        }
        switch (dt) {
        case PTQ_DTYPE_U8: ((uint8_t *)t->data)[i] = (uint8_t)(cmp ? z != 0 : z); break;
        case PTQ_DTYPE_I8: ((int8_t *)t->data)[i] = (int8_t)z; break;
        case PTQ_DTYPE_I32: ((int32_t *)t->data)[i] = (int32_t)z; break;
        default: ((int64_t *)t->data)[i] = z; break;
        }
    }
    return new_constant(im, np->output[0], t);
}

/* A float32 copy of a non-float constant input, for a node computed at run time (or
 * folded by the executor), whose inputs are all float32. */
static ptq_status float_copy(importer *im, const char *nname, int32_t *id, int32_t slot) {
    const ptq_tensor *s = im->g->values[*id].data;
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, s->ndim, s->ne, im->err);
    if (!t) return im->err->status;
    int64_t n = ptq_tensor_numel(s);
    for (int64_t i = 0; i < n; i++) {
        if (s->dtype == PTQ_DTYPE_I64 && ((const int64_t *)s->data)[i] == B) {
            ptq_tensor_free(t);
            return ptq_error_set(im->err, PTQ_ERR_UNSUPPORTED, "node '%s': computes with the "
                                 "batch size; only static shapes can be folded", nname);
        }
        ((float *)t->data)[i] = (float)num_at(s, i);
    }
    char nm[512];
    snprintf(nm, sizeof nm, "%s/input%d_float32", nname, slot);
    for (int k = 2; lookup(im, nm) >= 0; k++) /* a re-imported export may hold that name */
        snprintf(nm, sizeof nm, "%s/input%d_float32_%d", nname, slot, k);
    ptq_status st = new_constant(im, nm, t);
    if (!st) *id = im->g->n_values - 1;
    return st;
}

/* Reduce* axes: an attribute before opset 18 (ReduceSum: 13), an input after. */
static ptq_status reduce_attrs(importer *im, const Onnx__NodeProto *np, const char *nname,
                               ptq_op ir, ptq_node_attrs *at) {
    const bool axes_input = im->opset >= 18 || (ir == PTQ_OP_REDUCE_SUM && im->opset >= 13);
    static const char *const known_attr[] = {"axes", "keepdims", NULL};
    static const char *const known_input[] = {"keepdims", "noop_with_empty_axes", NULL};
    ptq_status st = check_attrs(im, np, nname, axes_input ? known_input : known_attr);
    if (st) return st;
    int64_t v;
    if ((st = attr_int(im, np, nname, "keepdims", 1, &v))) return st;
    at->keepdims = v != 0;
    if ((st = attr_int(im, np, nname, "noop_with_empty_axes", 0, &v))) return st;
    at->noop_with_empty_axes = v != 0;
    if (!axes_input) {
        if (np->n_input > 1)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "axes is an attribute before "
                             "opset %d", ir == PTQ_OP_REDUCE_SUM ? 13 : 18);
        return attr_ints(im, np, nname, "axes", at->axes, PTQ_MAX_DIMS, &at->n_axes);
    }
    at->n_axes = -1;
    if (input_id(im, np, 1) < 0) return PTQ_OK;
    const ptq_tensor *t = const_input(im, np, nname, 1, "axes");
    if (!t) return im->err->status;
    return const_ints(im, np, nname, t, "axes", at->axes, PTQ_MAX_DIMS, &at->n_axes);
}

/* LayerNormalization: opset 17 attributes; only output Y is claimed. */
static ptq_status layer_norm_attrs(importer *im, const Onnx__NodeProto *np, const char *nname,
                                   ptq_node_attrs *at) {
    static const char *const known[] = {"axis", "epsilon", "stash_type", NULL};
    ptq_status st = check_attrs(im, np, nname, known);
    if (st) return st;
    if (im->opset < 17)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "LayerNormalization needs opset 17 "
                         "(the model imports %" PRId64 ")", im->opset);
    int64_t v;
    if ((st = attr_int(im, np, nname, "axis", -1, &at->axis))) return st;
    if ((st = attr_float(im, np, nname, "epsilon", 1e-5f, &at->epsilon))) return st;
    if ((st = attr_int(im, np, nname, "stash_type", 1, &v))) return st;
    if (v != 1)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "attribute stash_type=%" PRId64
                         " (only 1, float32 statistics, is supported)", v);
    for (size_t i = 1; i < np->n_output && i < 3; i++)
        if (np->output[i] && *np->output[i] && name_is_read(im, np->output[i]))
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "output %zu ('%s', %s) is read; "
                             "only output Y is supported", i, np->output[i],
                             i == 1 ? "Mean" : "InvStdDev");
    return PTQ_OK;
}

/* The elementwise, comparison and reduction ops: attributes, integer constant folding,
 * then a run-time node (folded by the executor when its inputs are float constants). */
static ptq_status import_math(importer *im, const Onnx__NodeProto *np, const char *nname,
                              ptq_op ir) {
    static const char *const none[] = {NULL};
    ptq_graph *g = im->g;
    ptq_node_attrs at;
    memset(&at, 0, sizeof at);
    at.n_axes = -1;
    at.keepdims = 1;
    ptq_status st;
    int32_t in[64], n_in;
    const bool reduce = ir == PTQ_OP_REDUCE_MEAN || ir == PTQ_OP_REDUCE_SUM || ir == PTQ_OP_REDUCE_MAX;
    if (reduce) st = reduce_attrs(im, np, nname, ir, &at);
    else if (ir == PTQ_OP_LAYER_NORM) st = layer_norm_attrs(im, np, nname, &at);
    else st = check_attrs(im, np, nname, none);
    if (st) return st;
    if ((st = gather_inputs(im, np, nname, in, (int32_t)PTQ_COUNTOF(in), &n_in))) return st;
    if (reduce && n_in > 1) n_in = 1; /* the axes input is read into attrs */
    if (n_in < 1 || in[0] < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input 0 is missing");
    if (ir == PTQ_OP_EXPAND) {
        const ptq_tensor *s = const_input(im, np, nname, 1, "the target shape");
        if (!s) return im->err->status ? im->err->status
                                       : node_fail(im, np, nname, PTQ_ERR_INVALID, "shape is missing");
        if ((st = const_ints(im, np, nname, s, "shape", at.expand_shape, PTQ_MAX_DIMS,
                             &at.expand_ndim)))
            return st;
        n_in = 1;
    }
    /* All inputs constant and some of them integers: fold with integer semantics. */
    bool all_const = true, any_int = false, values_int = true; /* Pow: the base decides */
    const ptq_tensor *ts[64];
    for (int32_t i = 0; i < n_in; i++) {
        if (in[i] < 0) { all_const = false; continue; }
        ts[i] = g->values[in[i]].data;
        all_const &= ts[i] != NULL;
        bool is_i = ts[i] && ts[i]->dtype != PTQ_DTYPE_F32;
        any_int |= is_i;
        if (!(ir == PTQ_OP_WHERE && i == 0) && !(ir == PTQ_OP_POW && i == 1)) values_int &= is_i;
    }
    if (all_const && any_int && values_int &&
        (ir == PTQ_OP_NEG || ir == PTQ_OP_MIN || ir == PTQ_OP_MAX || ir == PTQ_OP_EQUAL ||
         ir == PTQ_OP_LESS || ir == PTQ_OP_GREATER || ir == PTQ_OP_WHERE || ir == PTQ_OP_POW)) {
        return fold_int_math(im, np, nname, ir, ts, n_in);
    }
    if (ir == PTQ_OP_EXPAND && all_const && any_int) {
        ptq_tensor shape_t = {.dtype = PTQ_DTYPE_F32, .ndim = at.expand_ndim};
        for (int32_t i = 0; i < at.expand_ndim; i++) {
            shape_t.ne[i] = at.expand_shape[i];
            if (shape_t.ne[i] == B || shape_t.ne[i] < 0)
                return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                                 "expanding a constant to the batch size");
        }
        const ptq_tensor *two[2] = {ts[0], &shape_t};
        /* Values come from ts[0] only; shape_t just widens the output shape. */
        int32_t r;
        int64_t ne[PTQ_MAX_DIMS];
        if (!const_broadcast(two, 2, &r, ne))
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "shape does not broadcast");
        ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I64, r, ne, im->err);
        if (!t) return im->err->status;
        for (int64_t i = 0; i < ptq_tensor_numel(t); i++)
            ((int64_t *)t->data)[i] = int_at(ts[0], bcast_index(ts[0], r, ne, i));
        return new_constant(im, np->output[0], t);
    }
    /* Computed as float32: non-float constant inputs get a float32 copy. */
    for (int32_t i = 0; i < n_in; i++)
        if (in[i] >= 0 && g->values[in[i]].data && g->values[in[i]].dtype != PTQ_DTYPE_F32 &&
            (st = float_copy(im, nname, &in[i], i)))
            return st;
    if (ir == PTQ_OP_LAYER_NORM && n_in < 2)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "input Scale is missing");
    int32_t id;
    if (ir == PTQ_OP_LAYER_NORM && np->n_output > 1) {
        /* Mean and InvStdDev are named but unread: emit without them. */
        Onnx__NodeProto one = *np;
        one.n_output = 1;
        id = emit(im, &one, nname, ir, n_in, in);
    } else {
        id = emit(im, np, nname, ir, n_in, in);
    }
    if (id < 0) return im->err->status ? im->err->status : PTQ_ERR_INTERNAL;
    g->nodes[id].attrs = at;
    /* A constant expanded to the batch size depends on the batch: computed at run time. */
    bool batch_target = false;
    for (int32_t i = 0; ir == PTQ_OP_EXPAND && i < at.expand_ndim; i++)
        batch_target |= at.expand_shape[i] == B;
    if (batch_target) return ptq_graph_infer_node(g, id, im->err);
    return finish(im, id);
}

/* ConstantOfShape, Range, Floor and Ceil: import-only, on constants (shape arithmetic). */
static ptq_status import_const_gen(importer *im, const Onnx__NodeProto *np, const char *nname) {
    const char *op = np->op_type;
    ptq_status st;
    if (!strcmp(op, "ConstantOfShape")) {
        static const char *const known[] = {"value", NULL};
        if ((st = check_attrs(im, np, nname, known))) return st;
        const ptq_tensor *s = const_input(im, np, nname, 0, "the shape");
        if (!s) return im->err->status ? im->err->status
                                       : node_fail(im, np, nname, PTQ_ERR_INVALID, "input missing");
        int64_t ne[PTQ_MAX_DIMS];
        int32_t r;
        if ((st = const_ints(im, np, nname, s, "shape", ne, PTQ_MAX_DIMS, &r))) return st;
        bool batched = false;
        for (int32_t i = 0; i < r; i++) {
            if (ne[i] < 0 && ne[i] != B)
                return node_fail(im, np, nname, PTQ_ERR_INVALID, "shape has a negative size");
            batched |= ne[i] == B;
        }
        const Onnx__AttributeProto *a = attr(np, "value");
        ptq_tensor *val = NULL;
        if (a) {
            if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !a->t)
                return node_fail(im, np, nname, PTQ_ERR_INVALID, "attribute 'value' must be a tensor");
            val = tensor_from_proto(a->t, "value attribute", false, im->err);
            if (!val) return im->err->status;
            if (ptq_tensor_numel(val) != 1) {
                ptq_tensor_free(val);
                return node_fail(im, np, nname, PTQ_ERR_INVALID, "attribute 'value' must hold one element");
            }
        }
        if (batched) {
            /* A tensor as large as the batch (torch.full_like(x, v) on an activation): the
             * value as a float32 scalar constant, expanded at run time by an Expand node. */
            const int64_t one = 1;
            ptq_tensor *v1 = ptq_tensor_new(PTQ_DTYPE_F32, 1, &one, im->err);
            if (!v1) {
                ptq_tensor_free(val);
                return im->err->status;
            }
            ((float *)v1->data)[0] = val ? (float)num_at(val, 0) : 0.0f;
            ptq_tensor_free(val);
            char nm[512];
            snprintf(nm, sizeof nm, "%s/value", nname);
            if ((st = new_constant(im, nm, v1))) return st;
            int32_t in0 = im->g->n_values - 1;
            int32_t id = emit(im, np, nname, PTQ_OP_EXPAND, 1, &in0);
            if (id >= 0) {
                im->g->nodes[id].attrs.expand_ndim = r;
                memcpy(im->g->nodes[id].attrs.expand_shape, ne, sizeof(int64_t) * (size_t)r);
            }
            return finish(im, id);
        }
        ptq_tensor *t = ptq_tensor_new(val ? val->dtype : PTQ_DTYPE_F32, r, ne, im->err);
        if (t) {
            size_t es = ptq_dtype_size(t->dtype);
            for (int64_t i = 0; val && i < ptq_tensor_numel(t); i++)
                memcpy((char *)t->data + i * es, val->data, es);
        }
        ptq_tensor_free(val);
        return t ? new_constant(im, np->output[0], t) : im->err->status;
    }
    if ((st = check_attrs(im, np, nname, (const char *const[]){NULL}))) return st;
    if (!strcmp(op, "Range")) {
        const ptq_tensor *p[3];
        for (size_t i = 0; i < 3; i++) {
            static const char *const what[] = {"start", "limit", "delta"};
            p[i] = const_input(im, np, nname, i, what[i]);
            if (!p[i]) return im->err->status ? im->err->status
                                              : node_fail(im, np, nname, PTQ_ERR_INVALID, "%s missing", what[i]);
            if (ptq_tensor_numel(p[i]) != 1 || p[i]->dtype != p[0]->dtype)
                return node_fail(im, np, nname, PTQ_ERR_INVALID, "%s must be a scalar of the "
                                 "type of start", what[i]);
            if (p[i]->dtype == PTQ_DTYPE_I64 && int_at(p[i], 0) == B)
                return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "a range up to the batch size "
                                 "cannot be folded");
        }
        const bool fl = p[0]->dtype == PTQ_DTYPE_F32;
        double s = num_at(p[0], 0), l = num_at(p[1], 0), d = num_at(p[2], 0);
        if (d == 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "delta is 0");
        double cnt = ceil((l - s) / d);
        /* Checked as a double: converting an out-of-range double to int64 is undefined. */
        if (!(cnt <= (double)PTQ_MAX_ELEMENTS))
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "range too long");
        int64_t n = cnt > 0 ? (int64_t)cnt : 0;
        ptq_tensor *t = ptq_tensor_new(fl ? PTQ_DTYPE_F32 : PTQ_DTYPE_I64, 1, &n, im->err);
        if (!t) return im->err->status;
        for (int64_t i = 0; i < n; i++) {
            if (fl) ((float *)t->data)[i] = (float)(s + (double)i * d);
            else ((int64_t *)t->data)[i] = int_at(p[0], 0) + i * int_at(p[2], 0);
        }
        return new_constant(im, np->output[0], t);
    }
    /* Floor, Ceil */
    const ptq_tensor *x = const_input(im, np, nname, 0, "the input");
    if (!x) return im->err->status ? im->err->status
                                   : node_fail(im, np, nname, PTQ_ERR_INVALID, "input missing");
    if (x->dtype != PTQ_DTYPE_F32)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "%s of %s", op, ptq_dtype_name(x->dtype));
    ptq_tensor *t = ptq_tensor_clone(x, im->err);
    if (!t) return im->err->status;
    const bool is_floor = !strcmp(op, "Floor");
    for (int64_t i = 0; i < ptq_tensor_numel(t); i++) {
        float *f = &((float *)t->data)[i];
        *f = is_floor ? floorf(*f) : ceilf(*f);
    }
    return new_constant(im, np->output[0], t);
}

/* ------------------------------------------- QuantizeLinear / DequantizeLinear ---- */

/* A QDQ pair (QuantizeLinear whose output only its DequantizeLinear reads) becomes one
 * FAKE_QUANT node on the pair's integer container; DequantizeLinear of a constant
 * (a quantized weight) is folded into a float constant.  Anything else would need
 * integer tensors at run time, which the IR does not have. */

/* Range of an integer container type; false for types that are not one. */
static bool container_range(ptq_dtype t, int32_t *lo, int32_t *hi) {
    switch (t) {
    case PTQ_DTYPE_U8: *lo = 0, *hi = 255; return true;
    case PTQ_DTYPE_I8: *lo = -128, *hi = 127; return true;
    case ONNX_UINT16: *lo = 0, *hi = 65535; return true;
    case ONNX_INT16: *lo = -32768, *hi = 32767; return true;
    default: return false;
    }
}

/* Element i of an integer constant (uint8, int8, int32 or int64). */
static int64_t int_at(const ptq_tensor *t, int64_t i) {
    switch (t->dtype) {
    case PTQ_DTYPE_U8: return ((const uint8_t *)t->data)[i];
    case PTQ_DTYPE_I8: return ((const int8_t *)t->data)[i];
    case PTQ_DTYPE_I32: return ((const int32_t *)t->data)[i];
    default: return ((const int64_t *)t->data)[i];
    }
}

static int64_t zp_at(const importer *im, const qdq_grid *q, int64_t i) {
    return q->zp < 0 ? 0 : int_at(im->g->values[q->zp].data, i);
}

/* The attributes of a Q or DQ, each accepted from the opset that introduced it: axis 13,
 * saturate 19 (float8 only, no effect on integers), block_size and output_dtype 21. */
static ptq_status qdq_attrs(importer *im, const Onnx__NodeProto *np, const char *nname,
                            bool is_q, int64_t *axis, int64_t *out_type) {
    const char *known[5] = {NULL};
    int nk = 0;
    if (im->opset >= 13) known[nk++] = "axis";
    if (is_q && im->opset >= 19) known[nk++] = "saturate";
    if (im->opset >= 21) known[nk++] = "block_size";
    if (is_q && im->opset >= 21) known[nk++] = "output_dtype";
    ptq_status st = check_attrs(im, np, nname, known);
    if (st) return st;
    int64_t block;
    if ((st = attr_int(im, np, nname, "axis", 1, axis))) return st;
    if ((st = attr_int(im, np, nname, "block_size", 0, &block))) return st;
    if ((st = attr_int(im, np, nname, "output_dtype", 0, out_type))) return st;
    if (block != 0)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "blocked quantization (block_size %" PRId64 ") is not supported", block);
    return PTQ_OK;
}

/* Reads the grid of a Q (x_type 0: the container comes from the zero point, output_dtype
 * or the uint8 default) or a DQ (x_type: its input's type, which the zero point must
 * share) whose input has rank `rank`. */
static ptq_status read_grid(importer *im, const Onnx__NodeProto *np, const char *nname,
                            int32_t rank, ptq_dtype x_type, qdq_grid *q) {
    const bool is_q = x_type == 0;
    int64_t axis, out_type;
    ptq_status st = qdq_attrs(im, np, nname, is_q, &axis, &out_type);
    if (st) return st;
    if (np->n_output != 1 || !np->output[0] || !*np->output[0] || np->n_input > 3)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "needs 2 or 3 inputs and one output");
    for (size_t i = 1; i < np->n_input; i++)
        if (np->input[i] && *np->input[i] && input_id(im, np, i) < 0)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "input '%s' is not defined",
                             np->input[i]);
    if (input_id(im, np, 1) < 0)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "the scale input is missing");
    const ptq_tensor *s = const_input(im, np, nname, 1, "the scale");
    if (!s) return im->err->status;
    if (s->dtype != PTQ_DTYPE_F32 || s->ndim > 1 || ptq_tensor_numel(s) < 1)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "the scale must be a float32 "
                         "scalar or vector (it is %s of rank %d)", ptq_dtype_name(s->dtype), s->ndim);
    q->scale = input_id(im, np, 1);
    q->n = ptq_tensor_numel(s);
    q->zp = input_id(im, np, 2);
    q->type = is_q ? (ptq_dtype)(out_type ? out_type : PTQ_DTYPE_U8) : x_type;
    if (q->zp >= 0) {
        const ptq_tensor *z = const_input(im, np, nname, 2, "the zero point");
        if (!z) return im->err->status;
        const ptq_dtype zt = onnx_type_of(im, q->zp);
        const ptq_dtype want = is_q ? (ptq_dtype)out_type : x_type; /* 0: any */
        if (want && zt != want)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "the zero point is %s but the "
                             "quantized type is %s", ptq_dtype_name(zt), ptq_dtype_name(want));
        if (ptq_tensor_numel(z) != q->n || z->ndim != s->ndim)
            return node_fail(im, np, nname, PTQ_ERR_INVALID,
                             "the zero point's shape differs from the scale's");
        q->type = zt;
    }
    int32_t lo, hi;
    const bool int32_dq = !is_q && q->type == PTQ_DTYPE_I32; /* quantized biases */
    if (!container_range(q->type, &lo, &hi) && !int32_dq)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "the quantized type %s is not "
                         "supported (uint8, int8, uint16, int16 are)", ptq_dtype_name(q->type));
    if (is_16bit(q->type) && im->opset < 21)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "16-bit quantization needs opset 21");
    q->axis = -1;
    if (q->n > 1) { /* per channel; a one-element scale is per tensor whatever the axis */
        if (axis < -rank || axis >= rank)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "axis %" PRId64 " is out of "
                             "range for rank %d", axis, rank);
        q->axis = (int32_t)(axis < 0 ? axis + rank : axis);
    }
    return PTQ_OK;
}

static bool same_grid(const importer *im, const qdq_grid *a, const qdq_grid *b) {
    if (a->type != b->type || a->n != b->n || a->axis != b->axis) return false;
    const float *sa = im->g->values[a->scale].data->data, *sb = im->g->values[b->scale].data->data;
    if (memcmp(sa, sb, (size_t)a->n * sizeof *sa) != 0) return false;
    for (int64_t i = 0; i < a->n; i++)
        if (zp_at(im, a, i) != zp_at(im, b, i)) return false;
    return true;
}

static const pending_q *pending_of(const importer *im, const char *name) {
    for (int32_t i = 0; i < im->n_pending; i++)
        if (!strcmp(im->pending[i].np->output[0], name)) return &im->pending[i];
    return NULL;
}

/* Checks that np's output feeds exactly one DequantizeLinear (as its x) and nothing else. */
static ptq_status check_pair(importer *im, const Onnx__NodeProto *np, const char *nname) {
    const Onnx__GraphProto *gp = im->gp;
    const char *q = np->output[0];
    size_t uses = 0;
    const Onnx__NodeProto *user = NULL;
    bool as_x = false;
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t k = 0; k < gp->node[i]->n_input; k++)
            if (gp->node[i]->input[k] && !strcmp(gp->node[i]->input[k], q)) {
                uses++;
                user = gp->node[i];
                as_x = k == 0;
            }
    if (uses == 1 && as_x && !strcmp(user->op_type, "DequantizeLinear") && !is_graph_output(im, q))
        return PTQ_OK;
    return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                     "its output '%s' must be read by exactly one DequantizeLinear and nothing "
                     "else: only QuantizeLinear -> DequantizeLinear pairs are supported", q);
}

/* ----------------------------------------------- learned rounding borders ---- */

/* The chain export_borders writes in front of a QuantizeLinear q (on x' = its input):
 *
 *   v = Div(x, s)   k = Floor(v)   f = Sub(v, k)
 *   bin = Clip(Add(k, zlo), 0, bins - 1)
 *   b = Gather(table, Cast(Add(bin, offset), to=INT64))
 *   x' = Mul(Add(k, Cast(Greater(f, b), to=FLOAT)), s)
 *
 * followed, on a grid narrower than its type, by a Clip after the DequantizeLinear.  It
 * is recognised only in exactly that form, with every intermediate value read by the
 * chain alone, and with constants that make it compute FAKE_QUANT with borders: s the
 * QuantizeLinear's scales (one, or [1, C, 1, ...] on axis 1), zlo = zero point - qmin,
 * offset c * bins per table row, borders in [0, 1].  Anything else is imported as it
 * would be without this (Floor, for one, is not an IR op). */

typedef struct name_ref {
    const char *name;
    int32_t node;
} name_ref;

/* Who produces and who reads each name, sorted for lookup. */
typedef struct chain_scan {
    importer *im;
    name_ref *prod, *reads;
    size_t n_prod, n_reads;
} chain_scan;

static int cmp_ref(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

/* The range of entries named `name` in a sorted list. */
static size_t ref_range(const name_ref *refs, size_t n, const char *name, size_t *first) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (strcmp(refs[mid].name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t end = lo;
    while (end < n && !strcmp(refs[end].name, name)) end++;
    *first = lo;
    return end - lo;
}

static bool default_domain(const Onnx__NodeProto *np) {
    return !np->domain || !*np->domain || !strcmp(np->domain, "ai.onnx");
}

/* The node producing `name` when it is a default-domain `op` with n_in named inputs and
 * one output, and `name` is read exactly `uses` times and is no graph output: an
 * intermediate value of the chain.  Otherwise NULL; *idx is its index. */
static const Onnx__NodeProto *chain_node(const chain_scan *cs, const char *name, const char *op,
                                         size_t n_in, size_t uses, int32_t *idx) {
    size_t first;
    if (!name || !*name || ref_range(cs->prod, cs->n_prod, name, &first) != 1) return NULL;
    const Onnx__NodeProto *np = cs->im->gp->node[cs->prod[first].node];
    size_t r;
    if (!np->op_type || strcmp(np->op_type, op) || !default_domain(np) || np->n_input != n_in ||
        np->n_output != 1 || ref_range(cs->reads, cs->n_reads, name, &r) != uses ||
        is_graph_output(cs->im, name))
        return NULL;
    for (size_t i = 0; i < n_in; i++)
        if (!np->input[i] || !*np->input[i]) return NULL;
    *idx = cs->prod[first].node;
    return np;
}

/* True when np has no attribute but, optionally, the int `name` equal to want (which
 * may also be absent when absent_ok). */
static bool only_int_attr(const Onnx__NodeProto *np, const char *name, int64_t want,
                          bool absent_ok) {
    if (np->n_attribute == 0) return !name || absent_ok;
    const Onnx__AttributeProto *a = np->attribute[0];
    return name && np->n_attribute == 1 && a->name && !strcmp(a->name, name) &&
           a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT && a->i == want &&
           !(a->ref_attr_name && *a->ref_attr_name);
}

/* The initializer called name, decoded (the caller frees it), or NULL.  Decoding errors
 * only mean "not the chain": they go to a scratch error, not the import's. */
static ptq_tensor *chain_const(const chain_scan *cs, const char *name, int32_t *onnx_type) {
    const Onnx__GraphProto *gp = cs->im->gp;
    for (size_t i = 0; name && *name && i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || strcmp(tp->name, name)) continue;
        ptq_error scratch = {0};
        if (onnx_type) *onnx_type = tp->data_type;
        return tensor_from_proto(tp, "initializer", true, &scratch);
    }
    return NULL;
}

static bool is_f32(const ptq_tensor *t) { return t && t->dtype == PTQ_DTYPE_F32; }

/* A float32 scalar (rank 0 or [1]), which broadcasts without changing x's rank. */
static bool f32_scalar(const ptq_tensor *t) {
    return is_f32(t) && t->ndim <= 1 && ptq_tensor_numel(t) == 1;
}

/* A float32 [1, c, 1, ...] of rank >= 2: per channel along axis 1 of an x of its rank. */
static bool f32_on_axis1(const ptq_tensor *t, int64_t c) {
    if (!is_f32(t) || t->ndim < 2 || t->ne[1] != c) return false;
    for (int32_t i = 0; i < t->ndim; i++)
        if (i != 1 && t->ne[i] != 1) return false;
    return true;
}

/* Float v as an int when it is one (and small), else false. */
static bool small_int(float v, int64_t *out) {
    if (!(fabsf(v) <= 1e9f) || v != floorf(v)) return false;
    *out = (int64_t)v;
    return true;
}

/* The narrowing Clip export_fake_quant writes after the DequantizeLinear reading q's
 * output when [qmin, qmax] is narrower than the type: bounds (qmin - zp) * s and
 * (qmax - zp) * s, computed as there.  NULL when it is not exactly that. */
static const Onnx__NodeProto *narrowing_clip(const chain_scan *cs, const Onnx__NodeProto *q,
                                             float scale, int64_t zp, int32_t qmin,
                                             int32_t qmax, int32_t *clip_idx) {
    size_t first;
    const char *qo = q->n_output == 1 ? q->output[0] : NULL;
    if (!qo || !*qo || ref_range(cs->reads, cs->n_reads, qo, &first) != 1) return NULL;
    const Onnx__NodeProto *dq = cs->im->gp->node[cs->reads[first].node];
    if (!dq->op_type || strcmp(dq->op_type, "DequantizeLinear") || dq->n_input < 1 ||
        !dq->input[0] || strcmp(dq->input[0], qo) || dq->n_output != 1 || !dq->output[0] || !*dq->output[0])
        return NULL;
    const char *dqo = dq->output[0];
    if (ref_range(cs->reads, cs->n_reads, dqo, &first) != 1 || is_graph_output(cs->im, dqo))
        return NULL;
    const int32_t ci = cs->reads[first].node;
    const Onnx__NodeProto *clip = cs->im->gp->node[ci];
    if (!clip->op_type || strcmp(clip->op_type, "Clip") || !default_domain(clip) ||
        clip->n_input != 3 || !clip->input[0] || strcmp(clip->input[0], dqo) || clip->n_output != 1 ||
        clip->n_attribute != 0)
        return NULL;
    ptq_tensor *lo = chain_const(cs, clip->input[1], NULL), *hi = chain_const(cs, clip->input[2], NULL);
    const bool ok = f32_scalar(lo) && f32_scalar(hi) &&
                    *(const float *)lo->data == (float)(qmin - zp) * scale &&
                    *(const float *)hi->data == (float)(qmax - zp) * scale;
    ptq_tensor_free(lo);
    ptq_tensor_free(hi);
    *clip_idx = ci;
    return ok ? clip : NULL;
}

/* Checks the constants of a structurally matched chain (see above) against q's grid and
 * fills bc (taking the table).  False when they do not make it a FAKE_QUANT with
 * borders. */
static bool chain_constants(const chain_scan *cs, const Onnx__NodeProto *q, const char *s_name,
                            const char *zlo_name, const char *min_name, const char *max_name,
                            const char *off_name, const char *table_name, border_chain *bc,
                            int32_t *clip_idx) {
    enum { QS, QZ, S, ZLO, MIN, MAX, OFF, TABLE, N_CONST };
    const char *names[N_CONST] = {q->input[1], q->input[2], s_name, zlo_name,
                                  min_name,    max_name,    off_name, table_name};
    ptq_tensor *t[N_CONST] = {NULL};
    int32_t zp_type = 0;
    bool ok = true;
    for (int i = 0; i < N_CONST && ok; i++)
        ok = (t[i] = chain_const(cs, names[i], i == QZ ? &zp_type : NULL)) != NULL;
    int32_t lo = 0, hi = 0;
    int64_t n = ok ? ptq_tensor_numel(t[QS]) : 0, axis = 1, bins = 0, rows = 0, qmin = 0;
    const Onnx__AttributeProto *ax = attr(q, "axis");
    ok = ok && is_f32(t[QS]) && t[QS]->ndim <= 1 && n >= 1 && ptq_tensor_numel(t[QZ]) == n &&
         t[QZ]->ndim == t[QS]->ndim && container_range((ptq_dtype)zp_type, &lo, &hi) &&
         (!ax || ax->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (ok && ax) axis = ax->i;
    const bool per_channel = n > 1;
    /* The Div/Mul scale: the QuantizeLinear's, one or [1, C, 1, ...] on axis 1. */
    ok = ok && (per_channel ? axis == 1 && f32_on_axis1(t[S], n) : f32_scalar(t[S])) &&
         !memcmp(t[S]->data, t[QS]->data, (size_t)n * sizeof(float));
    int32_t rank = ok && per_channel ? t[S]->ndim : 0;
    /* The bin clamp [0, bins - 1]. */
    ok = ok && f32_scalar(t[MIN]) && *(const float *)t[MIN]->data == 0.0f && f32_scalar(t[MAX]) &&
         small_int(*(const float *)t[MAX]->data, &bins) && bins >= 0 && bins < 65535;
    bins += 1;
    /* zlo = zp - qmin for one qmin, shaped like the scale. */
    ok = ok && (per_channel ? f32_on_axis1(t[ZLO], n) && t[ZLO]->ndim == rank : f32_scalar(t[ZLO]));
    for (int64_t c = 0; ok && c < n; c++) {
        int64_t z;
        ok = small_int(((const float *)t[ZLO]->data)[c], &z);
        if (ok && c == 0) qmin = int_at(t[QZ], 0) - z;
        ok = ok && int_at(t[QZ], c) - z == qmin;
    }
    const int64_t qmax = qmin + bins;
    ok = ok && qmin >= lo && qmax <= hi;
    /* Offsets: one row, or c * bins per channel on axis 1 of x. */
    if (ok && f32_scalar(t[OFF])) {
        rows = 1;
        ok = *(const float *)t[OFF]->data == 0.0f;
    } else if (ok) {
        rows = ptq_tensor_numel(t[OFF]);
        ok = rows > 1 && f32_on_axis1(t[OFF], rows) && (!rank || t[OFF]->ndim == rank) &&
             (!per_channel || rows == n);
        if (ok) rank = t[OFF]->ndim;
        for (int64_t c = 0; ok && c < rows; c++)
            ok = ((const float *)t[OFF]->data)[c] == (float)(c * bins);
    }
    /* The table: rows * bins borders in [0, 1], indexable exactly in float32. */
    ok = ok && is_f32(t[TABLE]) && t[TABLE]->ndim == 1 && t[TABLE]->ne[0] == rows * bins &&
         rows * bins <= ((int64_t)1 << 24);
    for (int64_t i = 0; ok && i < rows * bins; i++) {
        const float b = ((const float *)t[TABLE]->data)[i];
        ok = b >= 0.0f && b <= 1.0f;
    }
    /* A grid narrower than the type needs the export's Clip after the DequantizeLinear. */
    const Onnx__NodeProto *clip = NULL;
    if (ok && (qmin != lo || qmax != hi)) {
        ok = !per_channel;
        clip = ok ? narrowing_clip(cs, q, *(const float *)t[QS]->data, int_at(t[QZ], 0),
                                   (int32_t)qmin, (int32_t)qmax, clip_idx)
                  : NULL;
        ok = clip != NULL;
    }
    if (ok) {
        t[TABLE]->ndim = 2; /* [rows, bins], the layout FAKE_QUANT reads */
        t[TABLE]->ne[0] = rows;
        t[TABLE]->ne[1] = bins;
        *bc = (border_chain){q, clip, NULL, t[TABLE], (int32_t)qmin, (int32_t)qmax, rank};
        t[TABLE] = NULL;
    }
    for (int i = 0; i < N_CONST; i++) ptq_tensor_free(t[i]);
    return ok;
}

/* Matches the chain ending in QuantizeLinear q (node qi); on success appends it to
 * im->chains and marks its nodes consumed.  Only running out of memory is an error. */
static ptq_status match_chain(chain_scan *cs, int32_t qi) {
    importer *im = cs->im;
    const Onnx__NodeProto *q = im->gp->node[qi];
    enum { MUL, ADD_UP, FLOOR, DIV, CAST_UP, GE, SUB, GATHER, CAST_IDX, ADD_OFF, CLIP, ADD_Z, N_CHAIN };
    const Onnx__NodeProto *c[N_CHAIN] = {NULL};
    int32_t idx[N_CHAIN + 1];
    if (q->n_input != 3 || !q->input[1] || !*q->input[1] || !q->input[2] || !*q->input[2])
        return PTQ_OK;
    /* Backwards from x' = Mul(r, s), r = Add(k, up), k = Floor(v), v = Div(x, s). */
    if (!(c[MUL] = chain_node(cs, q->input[0], "Mul", 2, 1, &idx[MUL])) ||
        !(c[ADD_UP] = chain_node(cs, c[MUL]->input[0], "Add", 2, 1, &idx[ADD_UP])) ||
        !(c[FLOOR] = chain_node(cs, c[ADD_UP]->input[0], "Floor", 1, 3, &idx[FLOOR])) ||
        !(c[DIV] = chain_node(cs, c[FLOOR]->input[0], "Div", 2, 2, &idx[DIV])) ||
        strcmp(c[DIV]->input[1], c[MUL]->input[1]))
        return PTQ_OK;
    const char *v = c[FLOOR]->input[0], *k = c[ADD_UP]->input[0];
    /* up = Cast(Greater(Sub(v, k), Gather(table, Cast(Add(bin, offset))))). */
    if (!(c[CAST_UP] = chain_node(cs, c[ADD_UP]->input[1], "Cast", 1, 1, &idx[CAST_UP])) ||
        !(c[GE] = chain_node(cs, c[CAST_UP]->input[0], "Greater", 2, 1, &idx[GE])) ||
        !(c[SUB] = chain_node(cs, c[GE]->input[0], "Sub", 2, 1, &idx[SUB])) ||
        strcmp(c[SUB]->input[0], v) || strcmp(c[SUB]->input[1], k) ||
        !(c[GATHER] = chain_node(cs, c[GE]->input[1], "Gather", 2, 1, &idx[GATHER])) ||
        !(c[CAST_IDX] = chain_node(cs, c[GATHER]->input[1], "Cast", 1, 1, &idx[CAST_IDX])) ||
        !(c[ADD_OFF] = chain_node(cs, c[CAST_IDX]->input[0], "Add", 2, 1, &idx[ADD_OFF])) ||
        !(c[CLIP] = chain_node(cs, c[ADD_OFF]->input[0], "Clip", 3, 1, &idx[CLIP])) ||
        !(c[ADD_Z] = chain_node(cs, c[CLIP]->input[0], "Add", 2, 1, &idx[ADD_Z])) ||
        strcmp(c[ADD_Z]->input[0], k))
        return PTQ_OK;
    for (int i = 0; i < N_CHAIN; i++) {
        const bool ok = i == CAST_UP    ? only_int_attr(c[i], "to", PTQ_DTYPE_F32, false)
                        : i == CAST_IDX ? only_int_attr(c[i], "to", PTQ_DTYPE_I64, false)
                        : i == GATHER   ? only_int_attr(c[i], "axis", 0, true)
                                        : only_int_attr(c[i], NULL, 0, false);
        if (!ok) return PTQ_OK;
    }
    border_chain bc;
    idx[N_CHAIN] = -1;
    if (!chain_constants(cs, q, c[MUL]->input[1], c[ADD_Z]->input[1], c[CLIP]->input[1],
                         c[CLIP]->input[2], c[ADD_OFF]->input[1], c[GATHER]->input[0], &bc,
                         &idx[N_CHAIN]))
        return PTQ_OK;
    bc.x = c[DIV]->input[0];
    if (ptq_grow((void **)&im->chains, &im->cap_chains, im->n_chains + 1, sizeof *im->chains)) {
        ptq_tensor_free(bc.table);
        return fail(im, PTQ_ERR_NOMEM, "out of memory");
    }
    im->chains[im->n_chains++] = bc;
    for (int i = 0; i < N_CHAIN; i++) im->consumed[idx[i]] = 1;
    if (bc.clip) im->consumed[idx[N_CHAIN]] = 1;
    return PTQ_OK;
}

/* Finds every border chain before anything is imported, so that check_op_types and the
 * main loop skip their nodes.  Only models that use Greater pay
 * for the name index. */
static ptq_status find_border_chains(importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    bool any = false;
    for (size_t i = 0; i < gp->n_node && !any; i++)
        any = gp->node[i]->op_type && !strcmp(gp->node[i]->op_type, "Greater");
    if (!any) return PTQ_OK;
    chain_scan cs = {im, NULL, NULL, 0, 0};
    size_t n_in = 0, n_out = 0;
    for (size_t i = 0; i < gp->n_node; i++) {
        n_in += gp->node[i]->n_input;
        n_out += gp->node[i]->n_output;
    }
    im->consumed = calloc(gp->n_node + 1, 1);
    cs.prod = ptq_calloc_array(n_out + 1, sizeof *cs.prod);
    cs.reads = ptq_calloc_array(n_in + 1, sizeof *cs.reads);
    ptq_status st = PTQ_OK;
    if (!im->consumed || !cs.prod || !cs.reads) st = fail(im, PTQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        for (size_t k = 0; k < np->n_output; k++)
            if (np->output[k] && *np->output[k]) cs.prod[cs.n_prod++] = (name_ref){np->output[k], (int32_t)i};
        for (size_t k = 0; k < np->n_input; k++)
            if (np->input[k] && *np->input[k]) cs.reads[cs.n_reads++] = (name_ref){np->input[k], (int32_t)i};
    }
    if (!st) {
        qsort(cs.prod, cs.n_prod, sizeof *cs.prod, cmp_ref);
        qsort(cs.reads, cs.n_reads, sizeof *cs.reads, cmp_ref);
    }
    for (size_t i = 0; !st && i < gp->n_node; i++)
        if (gp->node[i]->op_type && !strcmp(gp->node[i]->op_type, "QuantizeLinear") &&
            default_domain(gp->node[i]))
            st = match_chain(&cs, (int32_t)i);
    free(cs.prod);
    free(cs.reads);
    return st;
}

static int32_t chain_of(const importer *im, const Onnx__NodeProto *q) {
    for (int32_t i = 0; i < im->n_chains; i++)
        if (im->chains[i].q == q) return i;
    return -1;
}

/* QuantizeLinear: checked and set aside until its DequantizeLinear comes. */
static ptq_status import_quantize(importer *im, const Onnx__NodeProto *np, const char *nname) {
    if (im->opset < 10)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "QuantizeLinear needs opset 10");
    /* With a border chain in front, the pair quantizes the chain's input. */
    const int32_t chain = chain_of(im, np);
    int32_t x = chain >= 0 ? lookup(im, im->chains[chain].x) : input_id(im, np, 0);
    if (x < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input x is missing");
    if (im->g->values[x].dtype != PTQ_DTYPE_F32)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "quantizing %s data (only "
                         "float32 is supported)", ptq_dtype_name(im->g->values[x].dtype));
    /* Its [1, C, 1, ...] constants broadcast along axis 1 only at x's own rank. */
    if (chain >= 0 && im->chains[chain].rank && im->chains[chain].rank != im->g->values[x].ndim)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "its rounding border chain has "
                         "per-channel constants of rank %d for the input '%s' of rank %d",
                         im->chains[chain].rank, im->chains[chain].x, im->g->values[x].ndim);
    qdq_grid q;
    ptq_status st = read_grid(im, np, nname, im->g->values[x].ndim, 0, &q);
    if (st || (st = check_pair(im, np, nname))) return st;
    if (ptq_grow((void **)&im->pending, &im->cap_pending, im->n_pending + 1, sizeof *im->pending))
        return fail(im, PTQ_ERR_NOMEM, "out of memory");
    pending_q *p = &im->pending[im->n_pending];
    *p = (pending_q){np, ptq_strdup(nname), x, q, chain};
    if (!p->name) return fail(im, PTQ_ERR_NOMEM, "out of memory");
    im->n_pending++;
    return PTQ_OK;
}

/* The grid's zero points as the int32 [n] constant FAKE_QUANT reads: a new constant
 * named after the zero point (or after the node when it has none). */
static ptq_status zero_point_i32(importer *im, const char *nname, const qdq_grid *q, int32_t *id) {
    ptq_graph *g = im->g;
    const ptq_tensor *z = q->zp >= 0 ? g->values[q->zp].data : NULL;
    if (z && z->dtype == PTQ_DTYPE_I32 && z->ndim == 1) { /* a widened 16-bit one */
        *id = q->zp;
        return PTQ_OK;
    }
    int64_t n = q->n;
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I32, 1, &n, im->err);
    if (!t) return im->err->status;
    for (int64_t i = 0; i < n; i++) ((int32_t *)t->data)[i] = (int32_t)zp_at(im, q, i);
    char name[600];
    const char *base = z ? g->values[q->zp].name : nname;
    snprintf(name, sizeof name, "%.500s_int32", base);
    for (int k = 2; lookup(im, name) >= 0; k++)
        snprintf(name, sizeof name, "%.500s_int32_%d", base, k);
    ptq_status st = new_constant(im, name, t);
    *id = g->n_values - 1;
    return st;
}

/* The DequantizeLinear of a pending QuantizeLinear: the pair becomes one FAKE_QUANT node
 * with the QuantizeLinear's name and the DequantizeLinear's output. */
static ptq_status import_pair(importer *im, const pending_q *p, const Onnx__NodeProto *dq,
                              const char *dname) {
    qdq_grid d;
    ptq_status st = read_grid(im, dq, dname, im->g->values[p->x].ndim, p->grid.type, &d);
    if (st) return st;
    if (!same_grid(im, &p->grid, &d))
        return node_fail(im, dq, dname, PTQ_ERR_UNSUPPORTED, "its scale, zero point or axis "
                         "differ from those of QuantizeLinear '%s': only pairs on one grid are "
                         "supported", p->name);
    int32_t in[4] = {p->x, p->grid.scale, -1, -1};
    if ((st = zero_point_i32(im, p->name, &p->grid, &in[2]))) return st;
    border_chain *bc = p->chain >= 0 ? &im->chains[p->chain] : NULL;
    if (bc) { /* the border table, a constant of its own named after the node */
        char name[600];
        snprintf(name, sizeof name, "%.500s/borders", p->name);
        for (int k = 2; lookup(im, name) >= 0; k++)
            snprintf(name, sizeof name, "%.500s/borders_%d", p->name, k);
        ptq_tensor *t = bc->table;
        bc->table = NULL; /* the graph owns it now, also on failure */
        if ((st = new_constant(im, name, t))) return st;
        in[3] = im->g->n_values - 1;
    }
    /* A narrowing Clip after the DequantizeLinear is part of the node: its output is. */
    int32_t id = emit(im, bc && bc->clip ? bc->clip : dq, p->name, PTQ_OP_FAKE_QUANT,
                      bc ? 4 : 3, in);
    if (id >= 0) {
        ptq_node_attrs *a = &im->g->nodes[id].attrs;
        container_range(p->grid.type, &a->qmin, &a->qmax);
        if (bc) a->qmin = bc->qmin, a->qmax = bc->qmax;
        a->q_axis = p->grid.axis;
    }
    return finish(im, id);
}

/* DequantizeLinear of a constant: (float)(q - zero_point) * scale, per channel along the
 * axis, exactly as onnxruntime computes it. */
static ptq_status fold_dequantize(importer *im, const Onnx__NodeProto *np, const char *nname,
                                  int32_t x) {
    const ptq_tensor *xt = im->g->values[x].data;
    qdq_grid q;
    ptq_status st = read_grid(im, np, nname, xt->ndim, onnx_type_of(im, x), &q);
    if (st) return st;
    int64_t inner = 1, count = ptq_tensor_numel(xt);
    if (q.axis >= 0) {
        if (xt->ne[q.axis] != q.n)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "%" PRId64 " scales for axis %d "
                             "of size %" PRId64, q.n, q.axis, xt->ne[q.axis]);
        for (int32_t i = q.axis + 1; i < xt->ndim; i++) inner *= xt->ne[i];
    }
    ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_F32, xt->ndim, xt->ne, im->err);
    if (!t) return im->err->status;
    const float *scale = im->g->values[q.scale].data->data;
    float *y = t->data;
    for (int64_t i = 0; i < count; i++) {
        const int64_t c = q.axis < 0 ? 0 : (i / inner) % q.n;
        y[i] = (float)(int32_t)(int_at(xt, i) - zp_at(im, &q, c)) * scale[c];
    }
    return new_constant(im, np->output[0], t);
}

static ptq_status import_dequantize(importer *im, const Onnx__NodeProto *np, const char *nname) {
    if (im->opset < 10)
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "DequantizeLinear needs opset 10");
    const char *xname = np->n_input ? np->input[0] : NULL;
    const pending_q *p = xname && *xname ? pending_of(im, xname) : NULL;
    if (p) return import_pair(im, p, np, nname);
    int32_t x = input_id(im, np, 0);
    if (x < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input x is missing");
    if (!im->g->values[x].data)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                         "dequantizing the run-time value '%s' is not supported: "
                         "DequantizeLinear must read a constant (folded) or the output of a "
                         "QuantizeLinear (a QDQ pair)", xname);
    return fold_dequantize(im, np, nname, x);
}

static ptq_status import_node(importer *im, const Onnx__NodeProto *np, const char *nname) {
    ptq_graph *g = im->g;
    const char *op = np->op_type;
    ptq_status st;
    int32_t in[64], n_in = 0;

    /* Every op read here has a first output and, Constant aside, a first input: the
     * importers below index both without asking again. */
    if (np->n_output == 0 || !np->output[0] || !*np->output[0])
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "has no output (output 0 is missing)");
    if (strcmp(op, "Constant") && (np->n_input == 0 || !np->input[0] || !*np->input[0]))
        return node_fail(im, np, nname, PTQ_ERR_INVALID, "input 0 is missing");
    /* Every named input must exist (the topological sort guarantees order); the output
     * of a pending QuantizeLinear exists only for its DequantizeLinear, and a border
     * chain's output (a QuantizeLinear's x) not at all. */
    const bool chain_q = im->n_chains && chain_of(im, np) >= 0;
    for (size_t i = chain_q ? 1 : 0; i < np->n_input; i++)
        if (np->input[i] && *np->input[i] && lookup(im, np->input[i]) < 0 &&
            !pending_of(im, np->input[i]))
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "input '%s' is not defined",
                             np->input[i]);

    if (!strcmp(op, "QuantizeLinear")) return import_quantize(im, np, nname);
    if (!strcmp(op, "DequantizeLinear")) return import_dequantize(im, np, nname);
    if (!strcmp(op, "Constant")) return import_constant(im, np, nname);
    if (!strcmp(op, "Identity")) {
        if (np->n_input != 1 || np->n_output != 1)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "needs one input and one output");
        return alias_or_copy(im, nname, np->output[0], input_id(im, np, 0));
    }
    if (!strcmp(op, "Shape")) return import_shape(im, np, nname);
    if (!strcmp(op, "ConstantOfShape") || !strcmp(op, "Range") || !strcmp(op, "Floor") ||
        !strcmp(op, "Ceil"))
        return import_const_gen(im, np, nname);
    if (!strcmp(op, "Unsqueeze")) return import_squeeze(im, np, nname, true);
    if (!strcmp(op, "Squeeze")) return import_squeeze(im, np, nname, false);
    if (!strcmp(op, "Reshape")) return import_reshape(im, np, nname);
    if (!strcmp(op, "Upsample")) return import_resize(im, np, nname, true); /* IR: Resize */

    /* Integer shape arithmetic. */
    int32_t x0 = input_id(im, np, 0);
    const ptq_tensor *c0 = x0 >= 0 ? g->values[x0].data : NULL;
    if (is_int(c0)) {
        if (!strcmp(op, "Gather")) {
            const ptq_tensor *ind = const_input(im, np, nname, 1, "indices");
            if (!ind) return im->err->status;
            int64_t axis;
            if ((st = attr_int(im, np, nname, "axis", 0, &axis))) return st;
            return fold_int_gather(im, np, nname, c0, ind, axis);
        }
        if (!strcmp(op, "Concat")) return fold_int_concat(im, np, nname);
        if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div")) {
            const ptq_tensor *c1 = const_input(im, np, nname, 1, "the second operand");
            if (!c1) return im->err->status;
            if (!is_int(c1))
                return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "mixes integer and float");
            return fold_int_binary(im, np, nname, c0, c1);
        }
    }

    ptq_op ir = ptq_op_from_name(op);
    if (ir == PTQ_OP_NONE)
        return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "operator is not supported");
    switch (ir) {
    case PTQ_OP_CONV: return import_conv(im, np, nname);
    case PTQ_OP_MAX_POOL:
    case PTQ_OP_AVERAGE_POOL: return import_pool(im, np, nname, ir);
    default: break;
    }

    int32_t id = -1;
    ptq_node_attrs at;
    memset(&at, 0, sizeof at);
    at.clip_min = -INFINITY;
    at.clip_max = INFINITY;
    at.epsilon = 1e-5f;
    at.gemm.alpha = at.gemm.beta = 1.0f;
    static const char *const none[] = {NULL};
    int64_t v;
    switch (ir) {
    case PTQ_OP_GEMM: {
        /* broadcast (opsets before 7): 1 allowed C to broadcast, as C always may now. */
        static const char *const known[] = {"alpha", "beta", "transA", "transB", "broadcast", NULL};
        if ((st = check_attrs(im, np, nname, known))) return st;
        if ((st = attr_float(im, np, nname, "alpha", 1.0f, &at.gemm.alpha))) return st;
        if ((st = attr_float(im, np, nname, "beta", 1.0f, &at.gemm.beta))) return st;
        if ((st = attr_int(im, np, nname, "transA", 0, &v))) return st;
        at.gemm.trans_a = v != 0;
        if ((st = attr_int(im, np, nname, "transB", 0, &v))) return st;
        at.gemm.trans_b = v != 0;
        if ((st = gather_inputs(im, np, nname, in, 3, &n_in))) return st;
        break;
    }
    case PTQ_OP_CLIP: {
        if (im->opset < 11) {
            static const char *const known[] = {"min", "max", NULL};
            if ((st = check_attrs(im, np, nname, known))) return st;
            if ((st = attr_float(im, np, nname, "min", -INFINITY, &at.clip_min))) return st;
            if ((st = attr_float(im, np, nname, "max", INFINITY, &at.clip_max))) return st;
        } else {
            if ((st = check_attrs(im, np, nname, none))) return st;
            for (size_t i = 1; i < 3; i++) {
                if (input_id(im, np, i) < 0) continue;
                const ptq_tensor *t = const_input(im, np, nname, i, i == 1 ? "min" : "max");
                if (!t) return im->err->status;
                if ((st = const_float(im, np, nname, t, i == 1 ? "min" : "max",
                                      i == 1 ? &at.clip_min : &at.clip_max)))
                    return st;
            }
        }
        in[0] = x0;
        n_in = 1;
        break;
    }
    case PTQ_OP_LEAKY_RELU: {
        static const char *const known[] = {"alpha", NULL};
        if ((st = check_attrs(im, np, nname, known))) return st;
        if ((st = attr_float(im, np, nname, "alpha", 0.01f, &at.alpha))) return st;
        if ((st = gather_inputs(im, np, nname, in, 1, &n_in))) return st;
        break;
    }
    case PTQ_OP_HARD_SIGMOID: {
        static const char *const known[] = {"alpha", "beta", NULL};
        if ((st = check_attrs(im, np, nname, known))) return st;
        if ((st = attr_float(im, np, nname, "alpha", 0.2f, &at.alpha))) return st;
        if ((st = attr_float(im, np, nname, "beta", 0.5f, &at.beta))) return st;
        if ((st = gather_inputs(im, np, nname, in, 1, &n_in))) return st;
        break;
    }
    case PTQ_OP_BATCH_NORM: {
        static const char *const known[] = {"epsilon", "momentum", "training_mode", "spatial",
                                            "is_test", NULL};
        if ((st = check_attrs(im, np, nname, known))) return st;
        if ((st = attr_float(im, np, nname, "epsilon", 1e-5f, &at.epsilon))) return st;
        /* is_test (opsets before 7): 0 meant training-time statistics. */
        if ((st = attr_int(im, np, nname, "is_test", 1, &v))) return st;
        if (v == 0)
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "is_test=0 (training-time batch statistics) is not supported");
        if ((st = attr_int(im, np, nname, "training_mode", 0, &v))) return st;
        if (v != 0)
            return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED,
                             "training_mode=1 (training-time batch statistics) is not supported");
        if ((st = attr_int(im, np, nname, "spatial", 1, &v))) return st;
        if (v != 1) return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "spatial=0");
        if ((st = gather_inputs(im, np, nname, in, 5, &n_in))) return st;
        break;
    }
    case PTQ_OP_FLATTEN:
    case PTQ_OP_CONCAT:
    case PTQ_OP_SOFTMAX:
    case PTQ_OP_GATHER: {
        static const char *const known[] = {"axis", NULL};
        if ((st = check_attrs(im, np, nname, known))) return st;
        int64_t def = ir == PTQ_OP_FLATTEN ? 1 : 0;
        if (ir == PTQ_OP_SOFTMAX) {
            at.softmax_legacy = im->opset < 13;
            def = at.softmax_legacy ? 1 : -1;
        }
        if (ir == PTQ_OP_CONCAT && !attr(np, "axis"))
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "attribute 'axis' is required");
        if ((st = attr_int(im, np, nname, "axis", def, &at.axis))) return st;
        if ((st = gather_inputs(im, np, nname, in, (int32_t)PTQ_COUNTOF(in), &n_in))) return st;
        if (ir == PTQ_OP_GATHER && n_in == 2 && in[1] >= 0 && g->values[in[1]].data &&
            g->values[in[1]].dtype == PTQ_DTYPE_I32) {
            /* The kernel reads int64 indices: widen int32 ones into a constant of our own. */
            const ptq_tensor *s32 = g->values[in[1]].data;
            ptq_tensor *t = ptq_tensor_new(PTQ_DTYPE_I64, s32->ndim, s32->ne, im->err);
            if (!t) return im->err->status;
            for (int64_t i = 0; i < ptq_tensor_numel(t); i++)
                ((int64_t *)t->data)[i] = ((const int32_t *)s32->data)[i];
            char nm[512];
            snprintf(nm, sizeof nm, "%s/indices_int64", nname);
            if ((st = new_constant(im, nm, t))) return st;
            in[1] = g->n_values - 1;
        }
        break;
    }
    case PTQ_OP_TRANSPOSE: {
        static const char *const known[] = {"perm", NULL};
        int32_t n;
        if ((st = check_attrs(im, np, nname, known))) return st;
        if ((st = attr_ints(im, np, nname, "perm", at.perm, PTQ_MAX_DIMS, &n))) return st;
        at.ndim = n < 0 ? 0 : n;
        if (n == 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "perm is empty");
        if ((st = gather_inputs(im, np, nname, in, 1, &n_in))) return st;
        break;
    }
    case PTQ_OP_PAD: {
        static const char *const modes[] = {"constant", NULL};
        static const char *const known_new[] = {"mode", NULL};
        static const char *const known_old[] = {"mode", "pads", "value", NULL};
        int32_t mode, n = -1;
        if ((st = check_attrs(im, np, nname, im->opset >= 11 ? known_new : known_old))) return st;
        if ((st = attr_enum(im, np, nname, "mode", modes, 0, &mode))) return st;
        if (x0 < 0) return node_fail(im, np, nname, PTQ_ERR_INVALID, "input data is missing");
        int32_t r = g->values[x0].ndim;
        if (im->opset >= 11) {
            const ptq_tensor *p = const_input(im, np, nname, 1, "pads");
            if (!p) return im->err->status ? im->err->status
                                           : node_fail(im, np, nname, PTQ_ERR_INVALID, "pads missing");
            if ((st = const_ints(im, np, nname, p, "pads", at.pads, 2 * PTQ_MAX_DIMS, &n))) return st;
            if (input_id(im, np, 2) >= 0) {
                const ptq_tensor *c = const_input(im, np, nname, 2, "constant_value");
                if (!c || (st = const_float(im, np, nname, c, "constant_value", &at.pad_value)))
                    return im->err->status;
            }
            if (input_id(im, np, 3) >= 0)
                return node_fail(im, np, nname, PTQ_ERR_UNSUPPORTED, "the axes input");
        } else {
            if ((st = attr_ints(im, np, nname, "pads", at.pads, 2 * PTQ_MAX_DIMS, &n))) return st;
            if ((st = attr_float(im, np, nname, "value", 0.0f, &at.pad_value))) return st;
        }
        if (n != 2 * r)
            return node_fail(im, np, nname, PTQ_ERR_INVALID, "pads has %d entries for rank %d", n, r);
        in[0] = x0;
        n_in = 1;
        break;
    }

    /* ---- spatial ops: Resize, Upsample, ConvTranspose, Slice, Split ---- */
    case PTQ_OP_RESIZE: return import_resize(im, np, nname, false);
    case PTQ_OP_CONV_TRANSPOSE: return import_conv_transpose(im, np, nname);
    case PTQ_OP_SLICE: return import_slice(im, np, nname);
    case PTQ_OP_SPLIT: return import_split(im, np, nname);



    /* ---- elementwise, comparison and reduction ops ---- */
    case PTQ_OP_CAST: return import_cast(im, np, nname);
    case PTQ_OP_POW: case PTQ_OP_SQRT: case PTQ_OP_EXP: case PTQ_OP_ERF: case PTQ_OP_NEG:
    case PTQ_OP_RECIPROCAL: case PTQ_OP_MIN: case PTQ_OP_MAX: case PTQ_OP_EQUAL:
    case PTQ_OP_LESS: case PTQ_OP_GREATER: case PTQ_OP_WHERE: case PTQ_OP_EXPAND:
    case PTQ_OP_REDUCE_MEAN: case PTQ_OP_REDUCE_SUM: case PTQ_OP_REDUCE_MAX:
    case PTQ_OP_LAYER_NORM: return import_math(im, np, nname, ir);

    default:
        /* Ops without attributes: arithmetic, activations, MatMul, global pools. */
        if ((st = check_attrs(im, np, nname, none))) return st;
        if ((st = gather_inputs(im, np, nname, in, 2, &n_in))) return st;
        break;
    }
    id = emit(im, np, nname, ir, n_in, in);
    if (id >= 0) g->nodes[id].attrs = at;
    return finish(im, id);
}

/* ------------------------------------------------------------ the model ---- */

static const char *const import_only_ops[] = {"Constant", "Identity", "Shape",
                                              "Unsqueeze", "Squeeze", "QuantizeLinear",
                                              "DequantizeLinear", "Upsample",
                                              "ConstantOfShape", "Range",
                                              "Floor", "Ceil", NULL};

static bool op_known(const char *op_type) {
    if (ptq_op_from_name(op_type) != PTQ_OP_NONE) return true;
    for (const char *const *k = import_only_ops; *k; k++)
        if (!strcmp(*k, op_type)) return true;
    return false;
}

/* Lists every unsupported op type with the first node using it, before building
 * anything, so a user sees the whole list at once. */
static ptq_status check_op_types(importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    char list[PTQ_ERROR_SIZE - 128] = "";
    size_t len = 0;
    int n_bad = 0;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        const char *op = np->op_type ? np->op_type : "";
        bool default_domain = !np->domain || !*np->domain || !strcmp(np->domain, "ai.onnx");
        if ((default_domain && op_known(op)) || (im->consumed && im->consumed[i])) continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const Onnx__NodeProto *p = gp->node[j];
            seen = !(im->consumed && im->consumed[j]) && p->op_type && !strcmp(p->op_type, op) &&
                   !strcmp(p->domain ? p->domain : "", np->domain ? np->domain : "");
        }
        if (seen) continue;
        n_bad++;
        const char *nm = np->name && *np->name ? np->name : (np->n_output ? np->output[0] : "?");
        len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0,
                                "%s%s%s%s (first used by node '%s')", n_bad > 1 ? ", " : "",
                                default_domain ? "" : np->domain, default_domain ? "" : ".", op, nm);
        if (len >= sizeof list) len = sizeof list - 1;
    }
    if (n_bad)
        return fail(im, PTQ_ERR_UNSUPPORTED, "%d unsupported operator type%s: %s", n_bad,
                    n_bad > 1 ? "s" : "", list);
    return PTQ_OK;
}

static ptq_status add_initializers(importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    if (gp->n_sparse_initializer)
        return fail(im, PTQ_ERR_UNSUPPORTED, "sparse initializers are not supported");
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name) return fail(im, PTQ_ERR_INVALID, "initializer %zu has no name", i);
        ptq_tensor *t = tensor_from_proto(tp, "initializer", true, im->err);
        if (!t) return im->err->status;
        ptq_status st = proto_constant(im, tp->name, t, tp->data_type);
        if (st) return st;
    }
    return PTQ_OK;
}

static const ptq_tensor *bound(const importer *im, const char *name) {
    const ptq_import_options *o = im->opts;
    for (int32_t i = 0; o && i < o->n_bind; i++)
        if (!strcmp(o->bind_names[i], name)) return o->bind_values[i];
    return NULL;
}

/* The dims of a graph input with the caller's input_shape applied (the first input
 * only: `first`); symbolic dims after the batch that stay symbolic are an error that
 * says how to fix them. */
static ptq_status input_dims(importer *im, const char *name, const Onnx__TensorShapeProto *sh,
                             bool first, int64_t *ne) {
    const ptq_import_options *o = im->opts;
    const int32_t nd = (int32_t)sh->n_dim;
    const int32_t given = first && o ? o->input_ndim : 0;
    if (given && given != nd && given != nd - 1)
        return fail(im, PTQ_ERR_INVALID, "input '%s' has rank %d but the input shape given has %d "
                    "dims (give %d, or %d without the batch)", name, nd, given, nd, nd - 1);
    const int32_t skip = nd - given; /* 1 when the batch was left out */
    char names[256] = "", axes[64] = "";
    int32_t n_sym = 0;
    for (int32_t d = 0; d < nd; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = sh->dim[d];
        const int64_t want = given && d >= skip ? o->input_shape[d - skip] : 0;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (dim->dim_value < 0 || dim->dim_value > PTQ_MAX_ELEMENTS)
                return fail(im, PTQ_ERR_INVALID, "graph input '%s' has dimension %" PRId64, name,
                            dim->dim_value);
            if (want > 0 && want != dim->dim_value)
                return fail(im, PTQ_ERR_INVALID, "input '%s': axis %d is %" PRId64 " in the model "
                            "but the input shape given makes it %" PRId64, name, d,
                            dim->dim_value, want);
            ne[d] = dim->dim_value;
        } else if (d == 0) {
            ne[d] = B; /* the dynamic batch dimension */
        } else if (want > 0) {
            if (want > PTQ_MAX_ELEMENTS)
                return fail(im, PTQ_ERR_INVALID, "input '%s': axis %d = %" PRId64 " is out of "
                            "range", name, d, want);
            ne[d] = want;
        } else {
            const char *dn = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                                 && dim->dim_param && *dim->dim_param ? dim->dim_param : "?";
            size_t a = strlen(names), b = strlen(axes);
            snprintf(names + a, sizeof names - a, "%s%s", n_sym ? ", " : "", dn);
            snprintf(axes + b, sizeof axes - b, "%s%d", n_sym ? ", " : "", d);
            n_sym++;
        }
    }
    if (n_sym)
        return fail(im, PTQ_ERR_UNSUPPORTED, "input '%s' has symbolic dim%s %s (ax%s %s): set "
                    "`input_shape:` in the pipeline (--input-shape on the command line) or give "
                    "calibration images of one size", name, n_sym > 1 ? "s" : "", names,
                    n_sym > 1 ? "es" : "is", axes);
    return PTQ_OK;
}

static ptq_status add_inputs(importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    ptq_graph *g = im->g;
    bool first = true;
    g->inputs = ptq_calloc_array(gp->n_input, sizeof *g->inputs);
    if (!g->inputs) return fail(im, PTQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = vi->name ? vi->name : "";
        if (!*name) return fail(im, PTQ_ERR_INVALID, "graph input %zu has no name", i);
        if (ptq_graph_find_value(g, name) >= 0) continue; /* an initializer (IR < 4 style) */
        const ptq_tensor *b = bound(im, name);
        if (b) {
            ptq_tensor *t = ptq_tensor_clone(b, im->err);
            if (!t) return im->err->status;
            ptq_status st = new_constant(im, name, t);
            if (st) return st;
            continue;
        }
        const Onnx__TypeProto *tp = vi->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
            return fail(im, PTQ_ERR_UNSUPPORTED, "graph input '%s' is not a tensor", name);
        const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
        if (!tt->has_elem_type || tt->elem_type != PTQ_DTYPE_F32)
            return fail(im, PTQ_ERR_UNSUPPORTED, "graph input '%s' has type %s; only float32 "
                        "inputs are supported", name, ptq_dtype_name((ptq_dtype)tt->elem_type));
        if (!tt->shape)
            return fail(im, PTQ_ERR_UNSUPPORTED, "graph input '%s' has no shape", name);
        if (tt->shape->n_dim > PTQ_MAX_DIMS)
            return fail(im, PTQ_ERR_UNSUPPORTED, "graph input '%s' has rank %zu", name,
                        tt->shape->n_dim);
        int64_t ne[PTQ_MAX_DIMS];
        ptq_status dst = input_dims(im, name, tt->shape, first, ne);
        if (dst) return dst;
        first = false;
        int32_t id = ptq_graph_add_value(g, name, PTQ_DTYPE_F32, (int32_t)tt->shape->n_dim, ne, im->err);
        if (id < 0) return im->err->status;
        int64_t ne1[PTQ_MAX_DIMS];
        for (size_t d = 0; d < tt->shape->n_dim; d++) ne1[d] = ne[d] == B ? 1 : ne[d];
        if (ptq_shape_numel((int32_t)tt->shape->n_dim, ne1) < 0)
            return fail(im, PTQ_ERR_INVALID, "graph input '%s' has an absurd shape", name);
        g->values[id].flags |= PTQ_VALUE_INPUT;
        g->inputs[g->n_inputs++] = id;
    }
    return PTQ_OK;
}

/* Kahn's algorithm over node names, keeping the file's order where it is already
 * topological.  Fails on a cycle or an input nothing defines. */
static ptq_status topo_order(importer *im, size_t *order) {
    const Onnx__GraphProto *gp = im->gp;
    size_t n = gp->n_node;
    uint8_t *done = calloc(n + 1, 1);
    if (!done) return fail(im, PTQ_ERR_NOMEM, "out of memory");
    /* Names available: initializers, inputs, and outputs of emitted nodes.  A node is
     * ready when each input is one of those; checking by scanning is quadratic but the
     * graphs are small, and it runs once. */
    size_t k = 0;
    ptq_status st = PTQ_OK;
    while (k < n) {
        bool progress = false;
        for (size_t i = 0; i < n; i++) {
            if (done[i]) continue;
            const Onnx__NodeProto *np = gp->node[i];
            bool ready = true;
            for (size_t a = 0; a < np->n_input && ready; a++) {
                const char *in = np->input[a];
                if (!in || !*in) continue;
                bool found = false;
                for (size_t t = 0; t < gp->n_initializer && !found; t++)
                    found = gp->initializer[t]->name && !strcmp(gp->initializer[t]->name, in);
                for (size_t t = 0; t < gp->n_input && !found; t++)
                    found = gp->input[t]->name && !strcmp(gp->input[t]->name, in);
                for (size_t t = 0; t < k && !found; t++) {
                    const Onnx__NodeProto *p = gp->node[order[t]];
                    for (size_t o = 0; o < p->n_output && !found; o++)
                        found = p->output[o] && !strcmp(p->output[o], in);
                }
                ready = found;
            }
            if (!ready) continue;
            done[i] = 1;
            order[k++] = i;
            progress = true;
        }
        if (!progress) {
            /* Name the first stuck node and its missing input. */
            for (size_t i = 0; i < n; i++) {
                if (done[i]) continue;
                const Onnx__NodeProto *np = gp->node[i];
                const char *nm = np->name && *np->name ? np->name : "?";
                bool defined_anywhere = false;
                const char *missing = "?";
                for (size_t a = 0; a < np->n_input; a++) {
                    const char *in = np->input[a];
                    if (!in || !*in) continue;
                    bool found = false;
                    for (size_t t = 0; t < gp->n_initializer && !found; t++)
                        found = gp->initializer[t]->name && !strcmp(gp->initializer[t]->name, in);
                    for (size_t t = 0; t < gp->n_input && !found; t++)
                        found = gp->input[t]->name && !strcmp(gp->input[t]->name, in);
                    for (size_t t = 0; t < n && !found; t++)
                        for (size_t o = 0; o < gp->node[t]->n_output && !found; o++)
                            found = gp->node[t]->output[o] && !strcmp(gp->node[t]->output[o], in);
                    if (!found) {
                        missing = in;
                        break;
                    }
                    defined_anywhere = true;
                }
                if (strcmp(missing, "?"))
                    st = fail(im, PTQ_ERR_INVALID, "node '%s' (%s): input '%s' is not defined by "
                              "any initializer, graph input or node", nm, np->op_type, missing);
                else
                    st = fail(im, PTQ_ERR_INVALID, "node '%s' (%s) is part of a cycle%s", nm,
                              np->op_type, defined_anywhere ? "" : "");
                break;
            }
            break;
        }
    }
    free(done);
    return st;
}

/* Declared shapes (graph outputs, value_info) must agree with the inferred ones. */
static ptq_status check_declared(importer *im, const Onnx__ValueInfoProto *vi) {
    if (!vi->name || !vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return PTQ_OK;
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    int32_t id = lookup(im, vi->name);
    if (id < 0 || !tt || !tt->shape) return PTQ_OK;
    const ptq_value *v = &im->g->values[id];
    char b1[160], b2[160];
    int64_t decl[PTQ_MAX_DIMS];
    size_t nd = tt->shape->n_dim;
    bool mismatch = nd != (size_t)v->ndim;
    for (size_t d = 0; d < nd && d < PTQ_MAX_DIMS; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        bool fixed = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        decl[d] = fixed ? dim->dim_value : B;
        if (!mismatch && fixed && v->ne[d] != B && v->ne[d] != dim->dim_value) mismatch = true;
    }
    if (mismatch)
        return fail(im, PTQ_ERR_INVALID, "value '%s' is declared with shape %s but its "
                    "producer gives %s (inconsistent shapes)", vi->name,
                    ptq_shape_str((int32_t)PTQ_MIN(nd, PTQ_MAX_DIMS), decl, b1, sizeof b1),
                    ptq_shape_str(v->ndim, v->ne, b2, sizeof b2));
    return PTQ_OK;
}

static ptq_status import_graph(importer *im) {
    const Onnx__GraphProto *gp = im->gp;
    ptq_graph *g = im->g;
    ptq_status st;
    if ((st = find_border_chains(im))) return st;
    if ((st = check_op_types(im))) return st;
    if ((st = add_initializers(im))) return st;
    if ((st = add_inputs(im))) return st;
    size_t *order = ptq_calloc_array(gp->n_node, sizeof *order);
    if (!order) return fail(im, PTQ_ERR_NOMEM, "out of memory");
    st = topo_order(im, order);
    for (size_t k = 0; !st && k < gp->n_node; k++) {
        const Onnx__NodeProto *np = gp->node[order[k]];
        if (im->consumed && im->consumed[order[k]]) continue; /* imported with its chain */
        char gen[64];
        const char *nname = np->name;
        if (!nname || !*nname) {
            snprintf(gen, sizeof gen, "%s_%d", np->op_type, im->unnamed++);
            nname = gen;
        }
        st = import_node(im, np, nname);
    }
    free(order);
    if (st) return st;
    if (gp->n_output == 0) return fail(im, PTQ_ERR_INVALID, "the graph has no outputs");
    g->outputs = ptq_calloc_array(gp->n_output, sizeof *g->outputs);
    if (!g->outputs) return fail(im, PTQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        int32_t id = lookup(im, name);
        if (id < 0) return fail(im, PTQ_ERR_INVALID, "graph output '%s' is never computed", name);
        if ((st = check_declared(im, gp->output[i]))) return st;
        g->values[id].flags |= PTQ_VALUE_OUTPUT;
        g->outputs[g->n_outputs++] = id;
    }
    for (size_t i = 0; i < gp->n_value_info; i++)
        if ((st = check_declared(im, gp->value_info[i]))) return st;
    if ((st = ptq_graph_remove_dead(g, im->err))) return st;
    int32_t fused;
    if ((st = ptq_fuse_layer_norm(g, &fused, im->err))) return st;
    if ((st = ptq_graph_compact(g, im->err))) return st;
    return ptq_graph_validate(g, im->err);
}

ptq_graph *ptq_onnx_load_buffer(const uint8_t *buf, size_t len, const char *what,
                                const ptq_import_options *opts, ptq_error *err) {
    if (len == 0) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: the file is empty", what);
        return NULL;
    }
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp) {
        ptq_error_set(err, PTQ_ERR_INVALID,
                      "%s: not a valid ONNX model (the protobuf does not parse: the file is "
                      "truncated, corrupt, or not ONNX)", what);
        return NULL;
    }
    importer im = {0};
    im.what = what;
    im.err = err;
    im.opts = opts;
    im.gp = mp->graph;
    ptq_status st = PTQ_OK;
    if (!mp->graph) {
        st = fail(&im, PTQ_ERR_INVALID, "the model has no graph (is this an ONNX model?)");
    } else {
        im.opset = -1;
        for (size_t i = 0; i < mp->n_opset_import; i++) {
            const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
            if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) im.opset = o->version;
        }
        if (im.opset < 0)
            st = fail(&im, PTQ_ERR_INVALID, "the model imports no default-domain opset");
        else if (im.opset < MIN_OPSET || im.opset > MAX_OPSET)
            st = fail(&im, PTQ_ERR_UNSUPPORTED, "opset %" PRId64 " is not supported (%d to %d "
                      "are)", im.opset, MIN_OPSET, MAX_OPSET);
    }
    if (!st) {
        im.g = ptq_graph_new();
        if (!im.g) st = fail(&im, PTQ_ERR_NOMEM, "out of memory");
    }
    if (!st) {
        im.g->opset = im.opset;
        im.g->name = ptq_strdup(mp->graph->name);
        st = im.g->name ? import_graph(&im) : fail(&im, PTQ_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < mp->n_metadata_props; i++) {
            const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
            if (e->key && e->value && ptq_graph_set_meta(im.g, e->key, e->value))
                st = fail(&im, PTQ_ERR_NOMEM, "out of memory");
        }
    }
    for (int32_t i = 0; i < im.n_aliases; i++) free(im.aliases[i].name);
    free(im.aliases);
    for (int32_t i = 0; i < im.n_pending; i++) free(im.pending[i].name);
    free(im.pending);
    for (int32_t i = 0; i < im.n_chains; i++) ptq_tensor_free(im.chains[i].table);
    free(im.chains);
    free(im.consumed);
    free(im.wide);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (st) {
        ptq_graph_free(im.g);
        ptq_error_prefix(err, "%s", what);
        return NULL;
    }
    return im.g;
}

ptq_status ptq_onnx_input_info(const char *path, ptq_input_info *info, ptq_error *err) {
    memset(info, 0, sizeof *info);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len, PTQ_MAX_MODEL_BYTES, err)) return err->status;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!mp || !mp->graph) {
        if (mp) onnx__model_proto__free_unpacked(mp, NULL);
        return ptq_error_set(err, PTQ_ERR_INVALID, "%s: not a valid ONNX model", path);
    }
    const Onnx__GraphProto *gp = mp->graph;
    const Onnx__ValueInfoProto *vi = NULL;
    for (size_t i = 0; i < gp->n_input && !vi; i++) {
        bool init = false; /* IR < 4 models list initializers as inputs too */
        for (size_t k = 0; k < gp->n_initializer && !init; k++)
            init = gp->input[i]->name && gp->initializer[k]->name &&
                   !strcmp(gp->input[i]->name, gp->initializer[k]->name);
        if (!init) vi = gp->input[i];
    }
    const Onnx__TypeProto *tp = vi ? vi->type : NULL;
    const Onnx__TensorShapeProto *sh =
        tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type
            ? tp->tensor_type->shape : NULL;
    ptq_status st = PTQ_OK;
    if (!sh || sh->n_dim > PTQ_MAX_DIMS) {
        st = ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: the first graph input %s%s%s has no "
                           "tensor shape of rank <= %d", path, vi ? "'" : "", vi && vi->name ?
                           vi->name : "", vi ? "'" : "", PTQ_MAX_DIMS);
    } else {
        snprintf(info->name, sizeof info->name, "%s", vi->name ? vi->name : "");
        info->ndim = (int32_t)sh->n_dim;
        for (int32_t d = 0; d < info->ndim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = sh->dim[d];
            const bool fixed = dim->value_case ==
                               ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dim->dim_value > 0;
            info->ne[d] = fixed ? dim->dim_value : -1;
            if (!fixed && dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                dim->dim_param)
                snprintf(info->dim_name[d], sizeof info->dim_name[d], "%s", dim->dim_param);
            if (!fixed && d > 0) info->n_symbolic++;
        }
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return st;
}

ptq_graph *ptq_onnx_load(const char *path, const ptq_import_options *opts, ptq_error *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len, PTQ_MAX_MODEL_BYTES, err)) return NULL;
    ptq_graph *g = ptq_onnx_load_buffer(buf, len, path, opts, err);
    free(buf);
    return g;
}
