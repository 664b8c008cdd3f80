/* onnx_export.c — graph IR -> ONNX ModelProto, written atomically.
 *
 * Every IR node becomes the ONNX op it was imported from, with its resolved attributes
 * (explicit pads, normalised axes, static Reshape targets), so a re-import gives the same
 * graph and the same results bit for bit.  Quantization is written in the QDQ form
 * onnxruntime and TensorRT read: a FAKE_QUANT node becomes QuantizeLinear ->
 * DequantizeLinear (with a Clip after it when its grid is narrower than the integer
 * type, since QuantizeLinear saturates to the type's range), and a quantized weight
 * becomes an integer initializer of its codes -> DequantizeLinear whose output keeps the
 * weight's name, so the node reading it is written unchanged.
 *
 * The proto tree borrows the graph's names and constant data and allocates the rest in
 * one list freed at the end.  Builder functions record the first failure in x->st and do
 * nothing once it is set, so a node's export is a straight sequence of calls with one
 * status check at the end. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "onnx.pb-c.h"

#define B PTQ_DIM_BATCH
#define ONNX_UINT16 4 /* TensorProto types the IR has no constant for */
#define ONNX_INT16 5
#define IR_VERSION 8        /* ONNX 1.13, what opsets 13 and 14 need */
#define IR_VERSION_OPSET21 10 /* ONNX 1.16: opset 21, whose Q/DQ take 16-bit types */
#define MAX_NODE_ATTRS 8

/* How a constant is written: as it is, or in the shape and type QuantizeLinear and
 * DequantizeLinear want for their scale and zero point (scalar per tensor, 1-D per
 * channel; the zero point in the integer type of the grid). */
enum { AS_IS, AS_SCALE, AS_ZERO_POINT };

typedef struct written { /* a constant already written as an initializer */
    int32_t value, form;
    ptq_dtype type; /* AS_ZERO_POINT: the integer type */
    bool vec;       /* AS_SCALE, AS_ZERO_POINT: 1-D (per channel) rather than a scalar */
    const char *name;
} written;

typedef struct exporter {
    const ptq_graph *g;
    ptq_error *err;
    ptq_status st; /* the first failure; builders do nothing once it is set */
    int64_t opset;
    const ptq_export_weight **weight_of; /* per value: its weights[] entry, or NULL */
    uint8_t *plain_use; /* per value: read as it is (by a node or as a graph output) */
    void **allocs;      /* everything allocated for the proto tree */
    int32_t n_allocs, cap_allocs;
    Onnx__NodeProto **nodes;
    int32_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    int32_t n_inits, cap_inits;
    written *done;
    int32_t n_done, cap_done;
    const char **names; /* generated names, kept unique */
    int32_t n_names, cap_names;
} exporter;

/* --------------------------------------------------------------- helpers ---- */

static ptq_status ex_fail(exporter *x, ptq_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ptq_status ex_fail(exporter *x, ptq_status st, const char *fmt, ...) {
    if (x->st) return x->st;
    va_list ap;
    va_start(ap, fmt);
    x->st = ptq_error_setv(x->err, st, fmt, ap);
    va_end(ap);
    return x->st;
}

/* Makes room for one more element in a list (ptq_grow with the error recorded). */
static bool grow(exporter *x, void **arr, int32_t *cap, int32_t n, size_t size) {
    if (!ptq_grow(arr, cap, n + 1, size)) return true;
    ex_fail(x, PTQ_ERR_NOMEM, "out of memory building the ONNX model");
    return false;
}

/* Zeroed memory owned by the exporter; NULL (and x->st set) on failure or earlier failure. */
static void *ex_alloc(exporter *x, size_t size) {
    if (x->st) return NULL;
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        ex_fail(x, PTQ_ERR_NOMEM, "out of memory building the ONNX model");
        return NULL;
    }
    if (!grow(x, (void **)&x->allocs, &x->cap_allocs, x->n_allocs, sizeof *x->allocs)) {
        free(p);
        return NULL;
    }
    x->allocs[x->n_allocs++] = p;
    return p;
}

static bool name_taken(const exporter *x, const char *name) {
    if (ptq_graph_find_value(x->g, name) >= 0) return true;
    for (int32_t i = 0; i < x->g->n_nodes; i++)
        if (x->g->nodes[i].name && !strcmp(x->g->nodes[i].name, name)) return true;
    for (int32_t i = 0; i < x->n_names; i++)
        if (!strcmp(x->names[i], name)) return true;
    return false;
}

/* A new name, base + suffix, with "_2", "_3", ... appended until no value, node or
 * earlier generated name has it. */
static const char *fresh_name(exporter *x, const char *base, const char *suffix) {
    size_t size = strlen(base) + strlen(suffix) + 24;
    char *s = ex_alloc(x, size);
    if (!s) return NULL;
    snprintf(s, size, "%s%s", base, suffix);
    for (int k = 2; name_taken(x, s); k++) snprintf(s, size, "%s%s_%d", base, suffix, k);
    if (!grow(x, (void **)&x->names, &x->cap_names, x->n_names, sizeof *x->names)) return NULL;
    x->names[x->n_names++] = s;
    return s;
}

/* ---------------------------------------------------------- proto pieces ---- */

/* Adds initializer `name` of ONNX type `type`, shape dims[ndim], holding the bytes at
 * data (borrowed from the graph or the exporter) as raw little-endian data.  Returns the
 * name, NULL on failure. */
static const char *add_init(exporter *x, const char *name, int32_t type, int32_t ndim,
                            const int64_t *dims, const void *data, size_t nbytes) {
    Onnx__TensorProto *t = ex_alloc(x, sizeof *t);
    int64_t *d = ex_alloc(x, (size_t)PTQ_MAX(ndim, 1) * sizeof *d);
    if (!t || !d || !name) return NULL;
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = (size_t)ndim;
    t->dims = d;
    if (ndim) memcpy(d, dims, (size_t)ndim * sizeof *d);
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    t->raw_data.data = (uint8_t *)data;
    if (!grow(x, (void **)&x->inits, &x->cap_inits, x->n_inits, sizeof *x->inits)) return NULL;
    x->inits[x->n_inits++] = t;
    return name;
}

static const char *float_scalar(exporter *x, const char *base, const char *suffix, float v) {
    float *d = ex_alloc(x, sizeof *d);
    if (!d) return NULL;
    *d = v;
    return add_init(x, fresh_name(x, base, suffix), PTQ_DTYPE_F32, 0, NULL, d, sizeof *d);
}

/* A float32 initializer of shape dims[ndim] holding v[n] (copied). */
static const char *float_tensor(exporter *x, const char *base, const char *suffix, int32_t ndim,
                                const int64_t *dims, int64_t n, const float *v) {
    float *d = ex_alloc(x, (size_t)PTQ_MAX(n, 1) * sizeof *d);
    if (!d) return NULL;
    memcpy(d, v, (size_t)n * sizeof *d);
    return add_init(x, fresh_name(x, base, suffix), PTQ_DTYPE_F32, ndim, dims, d,
                    (size_t)n * sizeof *d);
}

static const char *int64_vector(exporter *x, const char *base, const char *suffix, int32_t n,
                                const int64_t *v) {
    int64_t *d = ex_alloc(x, (size_t)PTQ_MAX(n, 1) * sizeof *d);
    if (!d) return NULL;
    memcpy(d, v, (size_t)n * sizeof *d);
    const int64_t dim = n;
    return add_init(x, fresh_name(x, base, suffix), PTQ_DTYPE_I64, 1, &dim, d,
                    (size_t)n * sizeof *d);
}

/* Appends node op_type called name, reading ins[n_in] ("" for an omitted optional input)
 * and writing out.  NULL on failure. */
static Onnx__NodeProto *add_node(exporter *x, const char *op_type, const char *name,
                                 int32_t n_in, const char *const *ins, const char *out) {
    Onnx__NodeProto *n = ex_alloc(x, sizeof *n);
    char **in = ex_alloc(x, (size_t)PTQ_MAX(n_in, 1) * sizeof *in);
    char **o = ex_alloc(x, sizeof *o);
    Onnx__AttributeProto **attrs = ex_alloc(x, MAX_NODE_ATTRS * sizeof *attrs);
    if (!n || !in || !o || !attrs || !name || !out) return NULL;
    for (int32_t i = 0; i < n_in; i++) {
        if (!ins[i]) return NULL; /* a failed initializer: x->st is set */
        in[i] = (char *)ins[i];
    }
    *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    n->op_type = (char *)op_type;
    n->name = (char *)name;
    n->n_input = (size_t)n_in;
    n->input = in;
    n->n_output = 1;
    o[0] = (char *)out;
    n->output = o;
    n->attribute = attrs;
    if (!grow(x, (void **)&x->nodes, &x->cap_nodes, x->n_nodes, sizeof *x->nodes)) return NULL;
    x->nodes[x->n_nodes++] = n;
    return n;
}

static Onnx__AttributeProto *new_attr(exporter *x, Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type) {
    if (!n) return NULL;
    PTQ_ASSERT(n->n_attribute < MAX_NODE_ATTRS);
    Onnx__AttributeProto *a = ex_alloc(x, sizeof *a);
    if (!a) return NULL;
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void attr_int(exporter *x, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = new_attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return;
    a->has_i = 1;
    a->i = v;
}

static void attr_float(exporter *x, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *a = new_attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a) return;
    a->has_f = 1;
    a->f = v;
}

static void attr_ints(exporter *x, Onnx__NodeProto *n, const char *name, int32_t cnt,
                      const int64_t *v) {
    int64_t *d = ex_alloc(x, (size_t)PTQ_MAX(cnt, 1) * sizeof *d);
    Onnx__AttributeProto *a = d ? new_attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
                                : NULL;
    if (!a) return;
    memcpy(d, v, (size_t)cnt * sizeof *d);
    a->n_ints = (size_t)cnt;
    a->ints = d;
}

static void attr_string(exporter *x, Onnx__NodeProto *n, const char *name, const char *s) {
    Onnx__AttributeProto *a = new_attr(x, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (!a) return;
    a->has_s = 1;
    a->s.len = strlen(s);
    a->s.data = (uint8_t *)s;
}

/* -------------------------------------------------------------- integers ---- */

static void type_range(ptq_dtype t, int32_t *lo, int32_t *hi) {
    switch (t) {
    case PTQ_DTYPE_U8: *lo = 0, *hi = 255; break;
    case PTQ_DTYPE_I8: *lo = -128, *hi = 127; break;
    case ONNX_UINT16: *lo = 0, *hi = 65535; break;
    default: *lo = -32768, *hi = 32767; break;
    }
}

/* The integer type a grid [qmin, qmax] is stored in: unsigned when qmin >= 0, 8 bits when
 * they suffice; 0 when no 8- or 16-bit type holds it. */
static ptq_dtype container_of(int32_t qmin, int32_t qmax) {
    if (qmin > qmax) return 0;
    if (qmin >= 0) return qmax <= 255 ? PTQ_DTYPE_U8 : qmax <= 65535 ? ONNX_UINT16 : 0;
    if (qmin >= -128 && qmax <= 127) return PTQ_DTYPE_I8;
    return qmin >= -32768 && qmax <= 32767 ? ONNX_INT16 : 0;
}

static bool is_16bit(ptq_dtype t) { return t == ONNX_UINT16 || t == ONNX_INT16; }

static const char *type_name(ptq_dtype t) {
    return t == ONNX_UINT16 ? "uint16" : t == ONNX_INT16 ? "int16" : ptq_dtype_name(t);
}

/* n int32 values (already checked to fit) as an array of type t, owned by the exporter. */
static void *pack_ints(exporter *x, const int32_t *v, int64_t n, ptq_dtype t, size_t *bytes) {
    const size_t es = is_16bit(t) ? 2 : 1;
    uint8_t *d = ex_alloc(x, (size_t)n * es);
    if (!d) return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (es == 1) {
            d[i] = (uint8_t)v[i]; /* the two's-complement byte for int8 */
        } else {
            const uint16_t u = (uint16_t)v[i];
            d[2 * i] = (uint8_t)(u & 0xff); /* little-endian, as raw_data is */
            d[2 * i + 1] = (uint8_t)(u >> 8);
        }
    }
    *bytes = (size_t)n * es;
    return d;
}

/* --------------------------------------------------------------- values ---- */

/* Writes constant `id` in the given form (once per form) and returns its initializer's
 * name: the value's own name when that form is how nodes read it as it is, a fresh one
 * otherwise. */
static const char *written_const(exporter *x, int32_t id, int32_t form, ptq_dtype type, bool vec) {
    if (x->st) return NULL;
    const ptq_value *v = &x->g->values[id];
    bool own_free = form == AS_IS || !x->plain_use[id];
    for (int32_t i = 0; i < x->n_done; i++) {
        const written *w = &x->done[i];
        if (w->value != id) continue;
        if (w->form == form && w->type == type && w->vec == vec) return w->name;
        if (w->name == v->name) own_free = false;
    }
    const ptq_tensor *t = v->data;
    const int64_t n = ptq_tensor_numel(t);
    const char *name = own_free ? v->name
                                : fresh_name(x, v->name, form == AS_SCALE ? "_scale" : "_zero_point");
    const char *r = NULL;
    if (form == AS_IS) {
        if (t->dtype == PTQ_DTYPE_I64)
            for (int64_t i = 0; i < n; i++)
                if (((const int64_t *)t->data)[i] == B) {
                    ex_fail(x, PTQ_ERR_UNSUPPORTED, "constant '%s' holds the symbolic batch "
                            "size", v->name);
                    return NULL;
                }
        r = add_init(x, name, (int32_t)t->dtype, t->ndim, t->ne, t->data,
                     (size_t)n * ptq_dtype_size(t->dtype));
    } else if (form == AS_SCALE) {
        r = add_init(x, name, PTQ_DTYPE_F32, vec ? 1 : 0, &n, t->data, (size_t)n * sizeof(float));
    } else {
        size_t bytes = 0;
        const void *d = pack_ints(x, t->data, n, type, &bytes);
        r = d ? add_init(x, name, (int32_t)type, vec ? 1 : 0, &n, d, bytes) : NULL;
    }
    if (!r) return NULL;
    if (ptq_grow((void **)&x->done, &x->cap_done, x->n_done + 1, sizeof *x->done)) {
        ex_fail(x, PTQ_ERR_NOMEM, "out of memory building the ONNX model");
        return NULL;
    }
    x->done[x->n_done++] = (written){id, form, type, vec, r};
    return r;
}

/* The name a node reads value id by: a run-time value's (or a quantized weight's, which
 * its DequantizeLinear produces) own name, a constant's initializer, "" when omitted. */
static const char *input_name(exporter *x, int32_t id) {
    if (id < 0) return "";
    const ptq_value *v = &x->g->values[id];
    if (!v->data || x->weight_of[id]) return v->name;
    return written_const(x, id, AS_IS, 0, false);
}

/* The ONNX shape of a Reshape from src[src_ndim] to dst[dst_ndim]: the batch as 0 ("copy
 * the input's") where the input has it at the same position, else as -1 (inferred,
 * which only the batch is); every other dimension as its static size.  A 0-size
 * dimension needs allowzero, under which 0 means 0, so then the batch is always -1. */
static void reshape_target(int32_t src_ndim, const int64_t *src, int32_t dst_ndim,
                           const int64_t *dst, bool allowzero, int64_t *shape) {
    for (int32_t i = 0; i < dst_ndim; i++) {
        if (dst[i] != B) shape[i] = dst[i];
        else shape[i] = !allowzero && i < src_ndim && src[i] == B ? 0 : -1;
    }
}

static bool has_zero_dim(const ptq_value *v) {
    for (int32_t i = 0; i < v->ndim; i++)
        if (v->ne[i] == 0) return true;
    return false;
}

/* ----------------------------------------------------------------- nodes ---- */

/* The node as its ONNX op with the same inputs and output. */
static Onnx__NodeProto *plain_node(exporter *x, const ptq_node *n, const char *op_type) {
    const char **ins = ex_alloc(x, (size_t)PTQ_MAX(n->n_inputs, 1) * sizeof *ins);
    if (!ins) return NULL;
    for (int32_t i = 0; i < n->n_inputs; i++) ins[i] = input_name(x, n->inputs[i]);
    return add_node(x, op_type, n->name, n->n_inputs, ins, x->g->values[n->outputs[0]].name);
}

/* kernel_shape, strides, pads (begins then ends) and, when wanted, dilations. */
static void window_attrs(exporter *x, Onnx__NodeProto *o, int32_t nsp, const int64_t *kernel,
                         const int64_t *stride, const int64_t *dilation, const int64_t *pb,
                         const int64_t *pe) {
    int64_t pads[4];
    for (int32_t i = 0; i < nsp; i++) {
        pads[i] = pb[i];
        pads[nsp + i] = pe[i];
    }
    attr_ints(x, o, "kernel_shape", nsp, kernel);
    attr_ints(x, o, "strides", nsp, stride);
    attr_ints(x, o, "pads", 2 * nsp, pads);
    if (dilation) attr_ints(x, o, "dilations", nsp, dilation);
}

static void export_conv(exporter *x, const ptq_node *n) {
    const ptq_conv_attrs *a = &n->attrs.conv;
    Onnx__NodeProto *o = plain_node(x, n, "Conv");
    window_attrs(x, o, a->n_spatial, a->kernel, a->stride, a->dilation, a->pad_begin, a->pad_end);
    attr_int(x, o, "group", a->group);
}

static void export_pool(exporter *x, const ptq_node *n) {
    const ptq_pool_attrs *a = &n->attrs.pool;
    const bool max = n->op == PTQ_OP_MAX_POOL;
    Onnx__NodeProto *o = plain_node(x, n, ptq_op_name(n->op));
    window_attrs(x, o, a->n_spatial, a->kernel, a->stride, max ? a->dilation : NULL,
                 a->pad_begin, a->pad_end);
    attr_int(x, o, "ceil_mode", a->ceil_mode);
    if (!max) attr_int(x, o, "count_include_pad", a->count_include_pad);
}

/* Clip's bounds are inputs since opset 11; an infinite one is left out. */
static void export_clip(exporter *x, const ptq_node *n) {
    const ptq_node_attrs *a = &n->attrs;
    const char *ins[3] = {input_name(x, n->inputs[0]), "", ""};
    if (!(isinf(a->clip_min) && a->clip_min < 0)) ins[1] = float_scalar(x, n->name, "_min", a->clip_min);
    if (!(isinf(a->clip_max) && a->clip_max > 0)) ins[2] = float_scalar(x, n->name, "_max", a->clip_max);
    const int32_t n_in = ins[2] && !*ins[2] ? (ins[1] && !*ins[1] ? 1 : 2) : 3;
    add_node(x, "Clip", n->name, n_in, ins, x->g->values[n->outputs[0]].name);
}

static void export_reshape(exporter *x, const ptq_node *n) {
    const ptq_value *src = &x->g->values[n->inputs[0]], *dst = &x->g->values[n->outputs[0]];
    const bool allowzero = has_zero_dim(dst);
    int64_t shape[PTQ_MAX_DIMS];
    reshape_target(src->ndim, src->ne, dst->ndim, dst->ne, allowzero, shape);
    const char *ins[2] = {input_name(x, n->inputs[0]), int64_vector(x, dst->name, "_shape",
                                                                      dst->ndim, shape)};
    Onnx__NodeProto *o = add_node(x, "Reshape", n->name, 2, ins, dst->name);
    if (allowzero) attr_int(x, o, "allowzero", 1);
}

/* Softmax before opset 13 normalised over everything from `axis` on, as one row.  Where
 * that is the last axis alone it is today's Softmax; otherwise it is written as that
 * definition: Flatten(axis) -> Softmax(axis 1) -> Reshape back. */
static void export_softmax(exporter *x, const ptq_node *n) {
    const ptq_value *in = &x->g->values[n->inputs[0]], *out = &x->g->values[n->outputs[0]];
    const int32_t axis = (int32_t)n->attrs.axis;
    if (!n->attrs.softmax_legacy || axis == in->ndim - 1) {
        attr_int(x, plain_node(x, n, "Softmax"), "axis", axis);
        return;
    }
    /* The 2-D shape (shape inference kept the batch among the rows).  Its first dimension
     * is the batch itself only when nothing else is flattened into it; otherwise the
     * Reshape back must infer the batch (-1) rather than copy that dimension (0). */
    int64_t rows = 1, cols = 1;
    bool batch = false;
    for (int32_t i = 0; i < in->ndim; i++) {
        if (in->ne[i] == B) batch = true;
        else if (i < axis) rows *= in->ne[i];
        else cols *= in->ne[i];
    }
    const int64_t flat_ne[2] = {batch && rows == 1 ? B : rows, cols};
    int64_t shape[PTQ_MAX_DIMS];
    reshape_target(2, flat_ne, out->ndim, out->ne, false, shape);
    const char *flat = fresh_name(x, out->name, "_flat");
    const char *rows_out = fresh_name(x, out->name, "_softmax2d");
    const char *f_in[1] = {input_name(x, n->inputs[0])};
    attr_int(x, add_node(x, "Flatten", fresh_name(x, n->name, "/Flatten"), 1, f_in, flat), "axis",
             axis);
    attr_int(x, add_node(x, "Softmax", n->name, 1, &flat, rows_out), "axis", 1);
    const char *r_in[2] = {rows_out, int64_vector(x, out->name, "_shape", out->ndim, shape)};
    add_node(x, "Reshape", fresh_name(x, n->name, "/Reshape"), 2, r_in, out->name);
}

/* Pad since opset 11: pads and the constant as inputs. */
static void export_pad(exporter *x, const ptq_node *n) {
    const ptq_value *in = &x->g->values[n->inputs[0]];
    const char *ins[3] = {input_name(x, n->inputs[0]),
                          int64_vector(x, n->name, "_pads", 2 * in->ndim, n->attrs.pads),
                          float_scalar(x, n->name, "_value", n->attrs.pad_value)};
    attr_string(x, add_node(x, "Pad", n->name, 3, ins, x->g->values[n->outputs[0]].name), "mode",
                "constant");
}

/* ---- spatial ops: Resize, ConvTranspose, Slice, Split (opset 13 forms) ---------------- */

static void export_conv_transpose(exporter *x, const ptq_node *n) {
    const ptq_conv_attrs *a = &n->attrs.conv;
    const int32_t nsp = a->n_spatial;
    Onnx__NodeProto *o = plain_node(x, n, "ConvTranspose");
    bool negative = false;
    for (int32_t i = 0; i < nsp; i++) negative |= a->pad_begin[i] < 0 || a->pad_end[i] < 0;
    if (negative) {
        /* A larger output_shape than the full result: write that back, not pads below 0. */
        const ptq_value *y = &x->g->values[n->outputs[0]];
        attr_ints(x, o, "kernel_shape", nsp, a->kernel);
        attr_ints(x, o, "strides", nsp, a->stride);
        attr_ints(x, o, "dilations", nsp, a->dilation);
        attr_ints(x, o, "output_shape", nsp, y->ne + 2);
    } else {
        window_attrs(x, o, nsp, a->kernel, a->stride, a->dilation, a->pad_begin, a->pad_end);
    }
    attr_int(x, o, "group", a->group);
    if (n->attrs.convt.output_padding[0] || n->attrs.convt.output_padding[1])
        attr_ints(x, o, "output_padding", nsp, n->attrs.convt.output_padding);
}

/* Resize-13: X, roi (omitted), scales or sizes.  Sizes holding the batch are rebuilt the
 * way exporters write them, Concat(Shape(X)[axis], the fixed sizes), which the importer
 * folds back. */
static void export_resize(exporter *x, const ptq_node *n) {
    static const char *const coords[] = {"half_pixel", "asymmetric", "pytorch_half_pixel",
                                         "align_corners", NULL, NULL};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                           "ceil"};
    const struct ptq_resize_attrs *a = &n->attrs.resize;
    const ptq_value *in = &x->g->values[n->inputs[0]], *out = &x->g->values[n->outputs[0]];
    const char *coord = a->coord >= 0 && a->coord < 6 ? coords[a->coord] : NULL;
    if (!coord) {
        ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': Resize's coordinate transformation has no "
                "opset 13 form", n->name);
        return;
    }
    int32_t nearest = a->nearest_mode;
    if (nearest == PTQ_RESIZE_SIMPLE) {
        /* Upsample / Resize-10: floor where enlarging, ceiling where shrinking. */
        bool up = false, down = false;
        for (int32_t i = 0; i < a->ndim; i++) up |= a->scales[i] > 1.0f, down |= a->scales[i] < 1.0f;
        if (up && down && a->mode == PTQ_RESIZE_NEAREST) {
            ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': a nearest Upsample that enlarges one axis "
                    "and shrinks another has no opset 13 form", n->name);
            return;
        }
        nearest = down ? PTQ_RESIZE_CEIL : PTQ_RESIZE_FLOOR;
    }
    const char *ins[4] = {input_name(x, n->inputs[0]), "", "", ""};
    int32_t n_in = 3;
    if (!a->from_sizes) {
        const int64_t dim = a->ndim;
        ins[2] = float_tensor(x, n->name, "_scales", 1, &dim, a->ndim, a->scales);
    } else {
        n_in = 4;
        int32_t batch = -1;
        for (int32_t i = 0; i < out->ndim; i++)
            if (out->ne[i] == B) batch = i;
        if (batch < 0) {
            ins[3] = int64_vector(x, n->name, "_sizes", out->ndim, out->ne);
        } else {
            const char *shape = fresh_name(x, n->name, "_input_shape");
            const char *s_in[1] = {input_name(x, n->inputs[0])};
            add_node(x, "Shape", fresh_name(x, n->name, "/Shape"), 1, s_in, shape);
            const int64_t lo = batch, hi = batch + 1;
            const char *sl_in[3] = {shape, int64_vector(x, n->name, "_batch_start", 1, &lo),
                                    int64_vector(x, n->name, "_batch_end", 1, &hi)};
            const char *nb = fresh_name(x, n->name, "_batch");
            add_node(x, "Slice", fresh_name(x, n->name, "/Slice"), 3, sl_in, nb);
            const char *parts[3];
            int32_t np = 0;
            if (batch > 0) parts[np++] = int64_vector(x, n->name, "_sizes_head", batch, out->ne);
            parts[np++] = nb;
            if (batch + 1 < out->ndim)
                parts[np++] = int64_vector(x, n->name, "_sizes_tail", out->ndim - batch - 1,
                                           out->ne + batch + 1);
            ins[3] = fresh_name(x, n->name, "_sizes");
            attr_int(x, add_node(x, "Concat", fresh_name(x, n->name, "/Concat"), np, parts, ins[3]),
                     "axis", 0);
        }
    }
    (void)in;
    Onnx__NodeProto *o = add_node(x, "Resize", n->name, n_in, ins, out->name);
    attr_string(x, o, "mode", a->mode == PTQ_RESIZE_LINEAR ? "linear" : "nearest");
    attr_string(x, o, "coordinate_transformation_mode", coord);
    if (a->mode == PTQ_RESIZE_NEAREST) attr_string(x, o, "nearest_mode", nearests[nearest]);
}

/* Slice-13 with the model's starts/ends/axes/steps; a batch axis is written "all of it". */
static void export_slice(exporter *x, const ptq_node *n) {
    const struct ptq_slice_attrs *s = &n->attrs.slice;
    const ptq_value *in = &x->g->values[n->inputs[0]];
    int64_t st[PTQ_MAX_DIMS], en[PTQ_MAX_DIMS], ax[PTQ_MAX_DIMS], sp[PTQ_MAX_DIMS];
    int32_t k = 0;
    for (int32_t i = 0; i < s->n; i++) {
        const int64_t a = s->axes[i] < 0 ? s->axes[i] + in->ndim : s->axes[i];
        const bool batch = a >= 0 && a < in->ndim && in->ne[a] == B;
        st[k] = batch ? 0 : s->starts[i];
        en[k] = batch ? INT64_MAX : s->ends[i];
        ax[k] = a;
        sp[k] = batch ? 1 : s->steps[i];
        k++;
    }
    const char *ins[5] = {input_name(x, n->inputs[0]), int64_vector(x, n->name, "_starts", k, st),
                          int64_vector(x, n->name, "_ends", k, en),
                          int64_vector(x, n->name, "_axes", k, ax),
                          int64_vector(x, n->name, "_steps", k, sp)};
    add_node(x, "Slice", n->name, 5, ins, x->g->values[n->outputs[0]].name);
}

/* Split-13: the sizes as an input, every output. */
static void export_split(exporter *x, const ptq_node *n) {
    const struct ptq_split_attrs *s = &n->attrs.split;
    const char *ins[2] = {input_name(x, n->inputs[0]),
                          int64_vector(x, n->name, "_split", s->n, s->sizes)};
    Onnx__NodeProto *o = add_node(x, "Split", n->name, 2, ins, x->g->values[n->outputs[0]].name);
    char **outs = ex_alloc(x, (size_t)n->n_outputs * sizeof *outs);
    if (!o || !outs) return;
    for (int32_t k = 0; k < n->n_outputs; k++) outs[k] = x->g->values[n->outputs[k]].name;
    o->output = outs;
    o->n_output = (size_t)n->n_outputs;
    attr_int(x, o, "axis", n->attrs.axis);
}

/* One step of a node's helper chain: op `op_type` reading ins[n_in], named
 * "<node>/borders/<op_name>", writing a fresh "<node>/borders/<value>".  Returns the
 * output's name (NULL on failure); *o, when given, the node for attributes. */
static const char *border_step(exporter *x, const ptq_node *n, const char *op_type,
                               const char *op_name, const char *value, int32_t n_in,
                               const char *const *ins, Onnx__NodeProto **o) {
    char nb[64], vb[64];
    snprintf(nb, sizeof nb, "/borders/%s", op_name);
    snprintf(vb, sizeof vb, "/borders/%s", value);
    const char *out = fresh_name(x, n->name, vb);
    Onnx__NodeProto *node = add_node(x, op_type, fresh_name(x, n->name, nb), n_in, ins, out);
    if (o) *o = node;
    return node ? out : NULL;
}

/* Learned rounding borders (the node's fourth input, [Cb, bins]) as standard ops in
 * front of the QuantizeLinear, which rounds half to even and so cannot apply them:
 *
 *   v = Div(x, s)   k = Floor(v)   f = Sub(v, k)
 *   bin = Clip(Add(k, zp - qmin), 0, bins - 1)
 *   b = Gather(table, Cast(Add(bin, c * bins), INT64))   (the table flattened)
 *   x' = Mul(Add(k, Cast(Greater(f, b), FLOAT)), s)
 *
 * the same float32 arithmetic as ptq_fake_quant_tensor_border, step for step, so the
 * rounded r = floor(v) + up is bit-identical.  x' / s is r to within an ulp, which
 * QuantizeLinear then rounds back to r exactly and saturates as the simulation clamps.
 * Per-channel scales and zero points (axis 1), and per-channel rows of the table, are
 * written as [1, C, 1, ...] constants that broadcast over axis 1 of x.  The index sum
 * is exact in float32 because check_graph keeps the table within 2^24 entries.
 * Returns the name of x', which the QuantizeLinear reads in place of x. */
static const char *export_borders(exporter *x, const ptq_node *n, const char *in,
                                  const char *scale, bool per_channel) {
    const ptq_graph *g = x->g;
    const ptq_node_attrs *a = &n->attrs;
    const ptq_value *xv = &g->values[n->inputs[0]];
    const ptq_tensor *st = g->values[n->inputs[1]].data, *zt = g->values[n->inputs[2]].data;
    const ptq_tensor *bt = g->values[n->inputs[3]].data;
    const int32_t *zp = zt->data;
    const int64_t bins = (int64_t)a->qmax - a->qmin, rows = bt->ne[0];
    const int64_t chans = per_channel ? ptq_tensor_numel(st) : rows;
    const int32_t rank = xv->ndim;
    int64_t bc[PTQ_MAX_DIMS]; /* [1, C, 1, ...]: broadcasts along axis 1 of x */
    for (int32_t i = 0; i < rank; i++) bc[i] = i == 1 ? chans : 1;
    float *tmp = ex_alloc(x, (size_t)PTQ_MAX(chans, 1) * sizeof *tmp);
    if (!tmp) return NULL;

    const char *s = scale, *zlo, *offset;
    if (per_channel) {
        s = float_tensor(x, n->name, "/borders/scale", rank, bc, chans, st->data);
        for (int64_t c = 0; c < chans; c++) tmp[c] = (float)(zp[c] - a->qmin);
        zlo = float_tensor(x, n->name, "/borders/zero_point", rank, bc, chans, tmp);
    } else {
        zlo = float_scalar(x, n->name, "/borders/zero_point", (float)(zp[0] - a->qmin));
    }
    if (rows > 1) {
        for (int64_t c = 0; c < rows; c++) tmp[c] = (float)(c * bins);
        offset = float_tensor(x, n->name, "/borders/offset", rank, bc, rows, tmp);
    } else {
        const int64_t one = 1;
        const float zero = 0.0f;
        offset = float_tensor(x, n->name, "/borders/offset", 1, &one, 1, &zero);
    }
    const int64_t len = rows * bins;
    const char *table = add_init(x, fresh_name(x, n->name, "/borders/table"), PTQ_DTYPE_F32, 1,
                                 &len, bt->data, (size_t)len * sizeof(float));

    Onnx__NodeProto *cast_idx = NULL, *gather = NULL, *cast_up = NULL;
    const char *v = border_step(x, n, "Div", "Div", "scaled", 2, (const char *[]){in, s}, NULL);
    const char *k = border_step(x, n, "Floor", "Floor", "floor", 1, (const char *[]){v}, NULL);
    const char *f = border_step(x, n, "Sub", "Sub", "fraction", 2, (const char *[]){v, k}, NULL);
    const char *code = border_step(x, n, "Add", "AddZeroPoint", "code", 2,
                                   (const char *[]){k, zlo}, NULL);
    const char *bin = border_step(x, n, "Clip", "Clip", "bin", 3,
                                  (const char *[]){code,
                                                   float_scalar(x, n->name, "/borders/bin_min", 0.0f),
                                                   float_scalar(x, n->name, "/borders/bin_max",
                                                                (float)(bins - 1))},
                                  NULL);
    const char *entry = border_step(x, n, "Add", "AddOffset", "entry", 2,
                                    (const char *[]){bin, offset}, NULL);
    const char *idx = border_step(x, n, "Cast", "CastIndex", "index", 1, (const char *[]){entry},
                                  &cast_idx);
    attr_int(x, cast_idx, "to", PTQ_DTYPE_I64);
    const char *b = border_step(x, n, "Gather", "Gather", "border", 2, (const char *[]){table, idx},
                                &gather);
    attr_int(x, gather, "axis", 0);
    const char *ge = border_step(x, n, "Greater", "Greater", "round_up", 2,
                                 (const char *[]){f, b}, NULL);
    const char *up = border_step(x, n, "Cast", "CastUp", "up", 1, (const char *[]){ge}, &cast_up);
    attr_int(x, cast_up, "to", PTQ_DTYPE_F32);
    const char *r = border_step(x, n, "Add", "AddUp", "rounded", 2, (const char *[]){k, up}, NULL);
    return border_step(x, n, "Mul", "Mul", "rescaled", 2, (const char *[]){r, s}, NULL);
}

/* FAKE_QUANT -> QuantizeLinear -> DequantizeLinear [-> Clip].  QuantizeLinear saturates
 * to its type's range, so a grid narrower than that (4 bits in uint8, symmetric
 * [-127, 127] in int8) is clipped to the grid's dequantized end values, computed as the
 * simulation computes them: every x ends on the value the grid gives it.  Learned
 * rounding borders (a fourth input) put export_borders' chain in front. */
static void export_fake_quant(exporter *x, const ptq_node *n) {
    const ptq_graph *g = x->g;
    const ptq_node_attrs *a = &n->attrs;
    const ptq_tensor *st = g->values[n->inputs[1]].data, *zt = g->values[n->inputs[2]].data;
    /* One scale is per tensor whatever the axis, as the importer reads it. */
    const bool per_channel = a->q_axis >= 0 && ptq_tensor_numel(st) > 1;
    const ptq_dtype type = container_of(a->qmin, a->qmax);
    if (a->q_rounding) {
        ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': a fake quantizer with a plugin's rounding "
                "cannot be written as QuantizeLinear, which rounds half to even (export the "
                "codes as a quantized weight instead)", n->name);
        return;
    }
    int32_t lo, hi;
    type_range(type, &lo, &hi);
    const bool narrow = a->qmin != lo || a->qmax != hi;
    if (narrow && per_channel) {
        ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': the per-channel grid [%d, %d] is narrower "
                "than its %s type, and a QDQ model cannot narrow it per channel (the Clip that "
                "does it per tensor has one pair of bounds)", n->name, a->qmin, a->qmax,
                type_name(type));
        return;
    }
    for (int64_t i = 0; i < ptq_tensor_numel(zt); i++) {
        const int32_t z = ((const int32_t *)zt->data)[i];
        if (z < lo || z > hi) {
            ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': zero point %d does not fit its %s type",
                    n->name, z, type_name(type));
            return;
        }
    }
    const char *out = g->values[n->outputs[0]].name;
    const char *in = input_name(x, n->inputs[0]);
    /* The narrowing Clip goes after the DequantizeLinear, on the dequantized grid: the same
     * values as clipping before it (the bounds are exactly the dequantized end codes), but
     * out of reach of onnxruntime's Conv/activation/QuantizeLinear fusions, which were
     * measured to drop a Clip between an activation and a QuantizeLinear (MobileNetV2 W4A4:
     * 86.2 % with graph optimisations, 82.0 % without, 82.0 % in ptq). */
    const char *dq_out = out;
    if (narrow) dq_out = fresh_name(x, out, "_dequantized");
    const char *scale = written_const(x, n->inputs[1], AS_SCALE, PTQ_DTYPE_F32, per_channel);
    const char *zp = written_const(x, n->inputs[2], AS_ZERO_POINT, type, per_channel);
    if (n->n_inputs > 3 && n->inputs[3] >= 0) in = export_borders(x, n, in, scale, per_channel);
    const char *q = fresh_name(x, out, "_quantized");
    const char *q_in[3] = {in, scale, zp}, *dq_in[3] = {q, scale, zp};
    Onnx__NodeProto *qn = add_node(x, "QuantizeLinear", n->name, 3, q_in, q);
    Onnx__NodeProto *dn =
        add_node(x, "DequantizeLinear", fresh_name(x, n->name, "/DequantizeLinear"), 3, dq_in, dq_out);
    if (per_channel) {
        attr_int(x, qn, "axis", a->q_axis);
        attr_int(x, dn, "axis", a->q_axis);
    }
    if (narrow) {
        const float sc = ((const float *)st->data)[0];
        const int32_t z = ((const int32_t *)zt->data)[0];
        const char *c_in[3] = {dq_out, float_scalar(x, n->name, "_clip_min", (float)(a->qmin - z) * sc),
                               float_scalar(x, n->name, "_clip_max", (float)(a->qmax - z) * sc)};
        add_node(x, "Clip", fresh_name(x, n->name, "/Clip"), 3, c_in, out);
    }
}

/* ---- elementwise, comparison and reduction ops ---- */

/* Values stay float32 in the IR; in ONNX a Cast to an integer type or bool, and the bool
 * result of a comparison, are followed by a Cast back to float, and Where's condition is
 * cast to bool: the same values, and every edge keeps the type its reader needs. */
static void export_to_float(exporter *x, const ptq_node *n, const char *op_type, int64_t to) {
    const char *out = x->g->values[n->outputs[0]].name;
    const char *mid = fresh_name(x, out, to == 9 || to < 0 ? "_bool" : "_cast");
    const char **ins = ex_alloc(x, (size_t)PTQ_MAX(n->n_inputs, 1) * sizeof *ins);
    if (!ins) return;
    for (int32_t i = 0; i < n->n_inputs; i++) ins[i] = input_name(x, n->inputs[i]);
    Onnx__NodeProto *o = add_node(x, op_type, n->name, n->n_inputs, ins, mid);
    if (to >= 0) attr_int(x, o, "to", to);
    attr_int(x, add_node(x, "Cast", fresh_name(x, n->name, "/ToFloat"), 1, &mid, out), "to",
             PTQ_DTYPE_F32);
}

static void export_cast(exporter *x, const ptq_node *n) {
    const int32_t to = n->attrs.cast_to;
    if (to == PTQ_DTYPE_F32 || to == 11) attr_int(x, plain_node(x, n, "Cast"), "to", PTQ_DTYPE_F32);
    else export_to_float(x, n, "Cast", to);
}

static void export_where(exporter *x, const ptq_node *n) {
    const char *out = x->g->values[n->outputs[0]].name;
    const char *c_in[1] = {input_name(x, n->inputs[0])};
    const char *cond = fresh_name(x, out, "_condition");
    attr_int(x, add_node(x, "Cast", fresh_name(x, n->name, "/ToBool"), 1, c_in, cond), "to", 9);
    const char *ins[3] = {cond, input_name(x, n->inputs[1]), input_name(x, n->inputs[2])};
    add_node(x, "Where", n->name, 3, ins, out);
}

/* Expand's target: static sizes as they are; the batch as 1 where the input has it there
 * (1 broadcasts to the input's size), else read at run time from a graph input's dim 0. */
static void export_expand(exporter *x, const ptq_node *n) {
    const ptq_node_attrs *a = &n->attrs;
    const ptq_value *in = &x->g->values[n->inputs[0]];
    int64_t shape[PTQ_MAX_DIMS];
    bool runtime = false;
    int32_t at = -1;
    for (int32_t i = 0; i < a->expand_ndim; i++) {
        shape[i] = a->expand_shape[i];
        if (shape[i] != B) continue;
        const int32_t ii = i - (a->expand_ndim - in->ndim);
        if (ii >= 0 && in->ne[ii] == B) shape[i] = 1;
        else runtime = true, at = i, shape[i] = 1;
    }
    const char *ins[2] = {input_name(x, n->inputs[0]), NULL};
    if (!runtime) {
        ins[1] = int64_vector(x, n->name, "_shape", a->expand_ndim, shape);
    } else {
        /* The batch of the first graph input with the batch at dim 0. */
        int32_t src = -1;
        for (int32_t i = 0; i < x->g->n_inputs && src < 0; i++)
            if (x->g->values[x->g->inputs[i]].ndim > 0 && x->g->values[x->g->inputs[i]].ne[0] == B)
                src = x->g->inputs[i];
        if (src < 0) {
            ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s' (Expand): no graph input holds the batch "
                    "size at dimension 0 to expand to", n->name);
            return;
        }
        const char *s_in[1] = {x->g->values[src].name};
        const char *shp = fresh_name(x, n->name, "/input_shape");
        add_node(x, "Shape", fresh_name(x, n->name, "/Shape"), 1, s_in, shp);
        const int64_t zero = 0;
        const char *g_in[2] = {shp, int64_vector(x, n->name, "_batch_index", 1, &zero)};
        const char *batch = fresh_name(x, n->name, "/batch");
        attr_int(x, add_node(x, "Gather", fresh_name(x, n->name, "/Gather"), 2, g_in, batch), "axis", 0);
        /* Concat(static before, batch, static after); shape[at] is never read. */
        const char *parts[3];
        int32_t np = 0;
        if (at > 0) parts[np++] = int64_vector(x, n->name, "_shape_head", at, shape);
        parts[np++] = batch;
        if (at + 1 < a->expand_ndim)
            parts[np++] = int64_vector(x, n->name, "_shape_tail", a->expand_ndim - at - 1, shape + at + 1);
        ins[1] = fresh_name(x, n->name, "/target");
        attr_int(x, add_node(x, "Concat", fresh_name(x, n->name, "/Concat"), np, parts, ins[1]), "axis", 0);
    }
    add_node(x, "Expand", n->name, 2, ins, x->g->values[n->outputs[0]].name);
}

/* Axes as an attribute before opset 18 (ReduceSum: 13), as an input from then on. */
static void export_reduce(exporter *x, const ptq_node *n) {
    const ptq_node_attrs *a = &n->attrs;
    const bool input_form = x->opset >= 18 || (n->op == PTQ_OP_REDUCE_SUM && x->opset >= 13);
    const char *ins[2] = {input_name(x, n->inputs[0]), NULL};
    int32_t n_in = 1;
    if (input_form && a->n_axes > 0) ins[n_in++] = int64_vector(x, n->name, "_axes", a->n_axes, a->axes);
    Onnx__NodeProto *o = add_node(x, ptq_op_name(n->op), n->name, n_in, ins,
                                  x->g->values[n->outputs[0]].name);
    if (!input_form && a->n_axes > 0) attr_ints(x, o, "axes", a->n_axes, a->axes);
    attr_int(x, o, "keepdims", a->keepdims);
    /* Before the input form there is no noop: empty axes meant all axes, as here. */
    if (input_form && a->n_axes == 0 && a->noop_with_empty_axes) attr_int(x, o, "noop_with_empty_axes", 1);
    if (!input_form && a->n_axes == 0 && a->noop_with_empty_axes)
        ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': noop_with_empty_axes needs the input form",
                n->name);
}

static void export_node(exporter *x, const ptq_node *n) {
    const ptq_node_attrs *a = &n->attrs;
    Onnx__NodeProto *o;
    switch (n->op) {
    case PTQ_OP_CONV: export_conv(x, n); break;
    case PTQ_OP_GEMM:
        o = plain_node(x, n, "Gemm");
        attr_float(x, o, "alpha", a->gemm.alpha);
        attr_float(x, o, "beta", a->gemm.beta);
        attr_int(x, o, "transA", a->gemm.trans_a);
        attr_int(x, o, "transB", a->gemm.trans_b);
        break;
    case PTQ_OP_CLIP: export_clip(x, n); break;
    case PTQ_OP_LEAKY_RELU: attr_float(x, plain_node(x, n, "LeakyRelu"), "alpha", a->alpha); break;
    case PTQ_OP_HARD_SIGMOID:
        o = plain_node(x, n, "HardSigmoid");
        attr_float(x, o, "alpha", a->alpha);
        attr_float(x, o, "beta", a->beta);
        break;
    case PTQ_OP_BATCH_NORM:
        attr_float(x, plain_node(x, n, "BatchNormalization"), "epsilon", a->epsilon);
        break;
    case PTQ_OP_MAX_POOL:
    case PTQ_OP_AVERAGE_POOL: export_pool(x, n); break;
    case PTQ_OP_FLATTEN:
    case PTQ_OP_CONCAT:
    case PTQ_OP_GATHER: attr_int(x, plain_node(x, n, ptq_op_name(n->op)), "axis", a->axis); break;
    case PTQ_OP_RESHAPE: export_reshape(x, n); break;
    case PTQ_OP_TRANSPOSE: attr_ints(x, plain_node(x, n, "Transpose"), "perm", a->ndim, a->perm); break;
    case PTQ_OP_SOFTMAX: export_softmax(x, n); break;
    case PTQ_OP_PAD: export_pad(x, n); break;
    case PTQ_OP_FAKE_QUANT: export_fake_quant(x, n); break;
    case PTQ_OP_RESIZE: export_resize(x, n); break;
    case PTQ_OP_CONV_TRANSPOSE: export_conv_transpose(x, n); break;
    case PTQ_OP_SLICE: export_slice(x, n); break;
    case PTQ_OP_SPLIT: export_split(x, n); break;
    case PTQ_OP_MATMUL:
    case PTQ_OP_ADD:
    case PTQ_OP_SUB:
    case PTQ_OP_MUL:
    case PTQ_OP_DIV:
    case PTQ_OP_RELU:
    case PTQ_OP_SIGMOID:
    case PTQ_OP_HARD_SWISH:
    case PTQ_OP_TANH:
    case PTQ_OP_GLOBAL_AVERAGE_POOL:
    case PTQ_OP_GLOBAL_MAX_POOL: plain_node(x, n, ptq_op_name(n->op)); break;
    /* ---- elementwise, comparison and reduction ops ---- */
    case PTQ_OP_CAST: export_cast(x, n); break;
    case PTQ_OP_EQUAL:
    case PTQ_OP_LESS:
    case PTQ_OP_GREATER: export_to_float(x, n, ptq_op_name(n->op), -1); break;
    case PTQ_OP_WHERE: export_where(x, n); break;
    case PTQ_OP_EXPAND: export_expand(x, n); break;
    case PTQ_OP_REDUCE_MEAN:
    case PTQ_OP_REDUCE_SUM:
    case PTQ_OP_REDUCE_MAX: export_reduce(x, n); break;
    case PTQ_OP_LAYER_NORM:
        o = plain_node(x, n, "LayerNormalization");
        attr_int(x, o, "axis", a->axis);
        attr_float(x, o, "epsilon", a->epsilon);
        break;
    case PTQ_OP_POW:
    case PTQ_OP_SQRT:
    case PTQ_OP_EXP:
    case PTQ_OP_ERF:
    case PTQ_OP_NEG:
    case PTQ_OP_RECIPROCAL:
    case PTQ_OP_MIN:
    case PTQ_OP_MAX: plain_node(x, n, ptq_op_name(n->op)); break;
    default:
        ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': op %s has no ONNX form", n->name,
                ptq_op_name(n->op));
    }
}

/* A quantized weight: its codes as an integer initializer "<name>_quantized" ->
 * DequantizeLinear, whose output keeps the weight's name. */
/* Per-channel zero points that differ: onnxruntime's QLinearConv takes one weight zero
 * point for all channels, so such a weight is written zero-point-free (code - zero point,
 * zero point 0: the same dequantized values) when those codes fit int8.  NULL otherwise
 * (uniform zero points, or codes too wide: then the grid is written as it is). */
static int32_t *zero_point_free(exporter *x, const ptq_value *v, const ptq_export_weight *w) {
    const ptq_qparams *qp = w->qp;
    if (w->literal_grid || qp->axis < 0 || qp->n < 2) return NULL;
    bool uniform = true;
    for (int64_t c = 1; c < qp->n; c++) uniform = uniform && qp->zero_point[c] == qp->zero_point[0];
    if (uniform) return NULL;
    int64_t inner = 1;
    for (int32_t d = qp->axis + 1; d < v->ndim; d++) inner *= v->ne[d];
    const int64_t n = ptq_tensor_numel(v->data);
    int32_t *out = ex_alloc(x, (size_t)n * sizeof *out);
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++) {
        out[i] = w->codes[i] - qp->zero_point[(i / inner) % qp->n];
        if (out[i] < -128 || out[i] > 127) return NULL;
    }
    return out;
}

static void export_weight(exporter *x, const ptq_export_weight *w) {
    const ptq_value *v = &x->g->values[w->value];
    const ptq_qparams *qp = w->qp;
    ptq_dtype type = container_of(qp->qmin, qp->qmax);
    const bool per_channel = qp->axis >= 0;
    size_t code_bytes = 0, zp_bytes = 0;
    const int32_t *code_src = w->codes, *zp_src = qp->zero_point;
    const int32_t *shifted = zero_point_free(x, v, w);
    if (shifted) {
        int32_t *zeros = ex_alloc(x, (size_t)qp->n * sizeof *zeros);
        if (!zeros) return;
        memset(zeros, 0, (size_t)qp->n * sizeof *zeros);
        code_src = shifted, zp_src = zeros, type = PTQ_DTYPE_I8;
    }
    const void *codes = pack_ints(x, code_src, ptq_tensor_numel(v->data), type, &code_bytes);
    const void *zps = pack_ints(x, zp_src, qp->n, type, &zp_bytes);
    float *scales = ex_alloc(x, (size_t)qp->n * sizeof *scales);
    if (!codes || !zps || !scales) return;
    memcpy(scales, qp->scale, (size_t)qp->n * sizeof *scales);
    const char *ins[3] = {
        add_init(x, fresh_name(x, v->name, "_quantized"), (int32_t)type, v->ndim, v->ne, codes,
                 code_bytes),
        add_init(x, fresh_name(x, v->name, "_scale"), PTQ_DTYPE_F32, per_channel, &qp->n, scales,
                 (size_t)qp->n * sizeof *scales),
        add_init(x, fresh_name(x, v->name, "_zero_point"), (int32_t)type, per_channel, &qp->n,
                 zps, zp_bytes)};
    Onnx__NodeProto *o =
        add_node(x, "DequantizeLinear", fresh_name(x, v->name, "/DequantizeLinear"), 3, ins, v->name);
    if (per_channel) attr_int(x, o, "axis", qp->axis);
}

/* ------------------------------------------------------------ checks ---- */

static ptq_status check_weight(exporter *x, const ptq_export_weight *w) {
    const ptq_graph *g = x->g;
    if (w->value < 0 || w->value >= g->n_values || !g->values[w->value].data ||
        g->values[w->value].data->dtype != PTQ_DTYPE_F32)
        return ex_fail(x, PTQ_ERR_INVALID, "quantized weight %d is not a float32 constant",
                       w->value);
    const ptq_value *v = &g->values[w->value];
    const ptq_qparams *qp = w->qp;
    if (x->weight_of[w->value])
        return ex_fail(x, PTQ_ERR_INVALID, "weight '%s' is listed twice", v->name);
    if (!qp || !w->codes || qp->n < 1 || !qp->scale || !qp->zero_point)
        return ex_fail(x, PTQ_ERR_INVALID, "weight '%s' has no codes or grid", v->name);
    if (qp->axis >= 0 ? qp->axis >= v->ndim || v->ne[qp->axis] != qp->n : qp->n != 1)
        return ex_fail(x, PTQ_ERR_INVALID, "weight '%s': %" PRId64 " scales do not fit axis %d "
                       "of its shape", v->name, qp->n, qp->axis);
    const ptq_dtype type = container_of(qp->qmin, qp->qmax);
    if (!type)
        return ex_fail(x, PTQ_ERR_UNSUPPORTED, "weight '%s': the integer range [%d, %d] fits no "
                       "8- or 16-bit type", v->name, qp->qmin, qp->qmax);
    int32_t lo, hi;
    type_range(type, &lo, &hi);
    for (int64_t c = 0; c < qp->n; c++)
        if (!(qp->scale[c] > 0.0f) || !isfinite(qp->scale[c]) || qp->zero_point[c] < lo ||
            qp->zero_point[c] > hi)
            return ex_fail(x, PTQ_ERR_INVALID, "weight '%s': channel %" PRId64 " has scale %g "
                           "and zero point %d", v->name, c, (double)qp->scale[c],
                           qp->zero_point[c]);
    const int64_t n = ptq_tensor_numel(v->data);
    for (int64_t i = 0; i < n; i++)
        if (w->codes[i] < qp->qmin || w->codes[i] > qp->qmax)
            return ex_fail(x, PTQ_ERR_INVALID, "weight '%s': code %d at %" PRId64 " is outside "
                           "[%d, %d]", v->name, w->codes[i], i, qp->qmin, qp->qmax);
    x->weight_of[w->value] = w;
    return PTQ_OK;
}

/* opset 13; 14 for HardSwish and Reshape's allowzero; 17 for LayerNormalization (kept
 * one op rather than written as its 9-op expansion: onnxruntime fuses it back anyway, and
 * 17 changed nothing else this exporter writes); 21 for 16-bit QuantizeLinear. */
static int64_t choose_opset(const exporter *x, const ptq_export_weight *weights, int32_t n_weights) {
    const ptq_graph *g = x->g;
    bool v14 = false, v17 = false, v21 = false;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_HARD_SWISH) v14 = true;
        if (n->op == PTQ_OP_LAYER_NORM) v17 = true;
        if (n->op == PTQ_OP_RESHAPE && has_zero_dim(&g->values[n->outputs[0]])) v14 = true;
        if (n->op == PTQ_OP_FAKE_QUANT) v21 |= is_16bit(container_of(n->attrs.qmin, n->attrs.qmax));
    }
    for (int32_t i = 0; i < n_weights; i++)
        v21 |= is_16bit(container_of(weights[i].qp->qmin, weights[i].qp->qmax));
    return v21 ? 21 : v17 ? 17 : v14 ? 14 : 13;
}

static ptq_status check_graph(exporter *x) {
    const ptq_graph *g = x->g;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const ptq_node *n = &g->nodes[i];
        if (n->op == PTQ_OP_NONE) continue;
        if (n->n_outputs != 1 && n->op != PTQ_OP_SPLIT)
            return ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s' has %d outputs", n->name,
                           n->n_outputs);
        if (n->op == PTQ_OP_FAKE_QUANT) {
            const bool three = (n->n_inputs == 3 || n->n_inputs == 4) && n->inputs[1] >= 0 &&
                               n->inputs[2] >= 0;
            const ptq_tensor *s = three ? g->values[n->inputs[1]].data : NULL;
            const ptq_tensor *z = three ? g->values[n->inputs[2]].data : NULL;
            if (!s || !z || s->dtype != PTQ_DTYPE_F32 || z->dtype != PTQ_DTYPE_I32)
                return ex_fail(x, PTQ_ERR_INVALID, "node '%s': the scale and zero point must "
                               "be float32 and int32 constants", n->name);
            if (three && n->n_inputs == 4 && n->inputs[3] >= 0) {
                /* Shape inference checks the table too, but a graph given here need not
                 * have been inferred since it was edited, and export_borders reads
                 * [rows, qmax - qmin] floats from it. */
                const ptq_tensor *b = g->values[n->inputs[3]].data;
                const ptq_value *xv = &g->values[n->inputs[0]];
                const int64_t bins = (int64_t)n->attrs.qmax - n->attrs.qmin;
                if (!b || b->dtype != PTQ_DTYPE_F32 || b->ndim != 2 || b->ne[1] != bins ||
                    (b->ne[0] != 1 && (xv->ndim < 2 || b->ne[0] != xv->ne[1])))
                    return ex_fail(x, PTQ_ERR_INVALID, "node '%s': the rounding borders must be "
                                   "a float32 [1 or channels, %" PRId64 " bins] constant",
                                   n->name, bins);
                for (int64_t e = 0; e < ptq_tensor_numel(b); e++) {
                    const float bv = ((const float *)b->data)[e];
                    if (!(bv >= 0.0f && bv <= 1.0f))
                        return ex_fail(x, PTQ_ERR_INVALID, "node '%s': rounding border %g at "
                                       "%" PRId64 " is outside [0, 1]", n->name, (double)bv, e);
                }
                if (n->attrs.q_axis >= 0 && n->attrs.q_axis != 1 && ptq_tensor_numel(s) > 1)
                    return ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': rounding borders need "
                                   "per-tensor scales or scales on axis 1", n->name);
                /* export_borders indexes the flattened table with a float32 sum. */
                if (ptq_tensor_numel(b) > ((int64_t)1 << 24))
                    return ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': %" PRId64 " rounding "
                                   "borders are more than the 2^24 a float32 index reaches "
                                   "exactly", n->name, ptq_tensor_numel(b));
            }
            if (!container_of(n->attrs.qmin, n->attrs.qmax))
                return ex_fail(x, PTQ_ERR_UNSUPPORTED, "node '%s': the integer range [%d, %d] "
                               "fits no 8- or 16-bit type", n->name, n->attrs.qmin, n->attrs.qmax);
        }
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0 && !(n->op == PTQ_OP_FAKE_QUANT && k > 0))
                x->plain_use[n->inputs[k]] = 1;
    }
    for (int32_t i = 0; i < g->n_outputs; i++) x->plain_use[g->outputs[i]] = 1;
    return PTQ_OK;
}

/* ------------------------------------------------------------ the model ---- */

static Onnx__ValueInfoProto *value_info(exporter *x, const ptq_value *v) {
    Onnx__ValueInfoProto *vi = ex_alloc(x, sizeof *vi);
    Onnx__TypeProto *tp = ex_alloc(x, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ex_alloc(x, sizeof *tt);
    Onnx__TensorShapeProto *sh = ex_alloc(x, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = ex_alloc(x, (size_t)PTQ_MAX(v->ndim, 1) * sizeof *dims);
    if (!vi || !tp || !tt || !sh || !dims) return NULL;
    *vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    *sh = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    for (int32_t i = 0; i < v->ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = ex_alloc(x, sizeof *d);
        if (!d) return NULL;
        *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (v->ne[i] == B) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = v->ne[i];
        }
        dims[i] = d;
    }
    sh->n_dim = (size_t)v->ndim;
    sh->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = (int32_t)v->dtype;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = v->name;
    vi->type = tp;
    return vi;
}

static Onnx__ValueInfoProto **value_infos(exporter *x, int32_t n, const int32_t *ids) {
    Onnx__ValueInfoProto **list = ex_alloc(x, (size_t)PTQ_MAX(n, 1) * sizeof *list);
    for (int32_t i = 0; list && i < n; i++)
        if (!(list[i] = value_info(x, &x->g->values[ids[i]]))) return NULL;
    return list;
}

/* The graph's nodes and initializers: quantized weights' DequantizeLinear nodes first,
 * then every node in order. */
static ptq_status build_graph(exporter *x, const ptq_export_weight *weights, int32_t n_weights,
                              Onnx__GraphProto *gp) {
    const ptq_graph *g = x->g;
    uint8_t *needed = ex_alloc(x, (size_t)g->n_values + 1);
    if (!needed) return x->st;
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; g->nodes[i].op != PTQ_OP_NONE && k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] >= 0) needed[g->nodes[i].inputs[k]] = 1;
    for (int32_t i = 0; i < g->n_outputs; i++) needed[g->outputs[i]] = 1;
    for (int32_t i = 0; i < n_weights && !x->st; i++)
        if (needed[weights[i].value]) export_weight(x, &weights[i]);
    for (int32_t i = 0; i < g->n_nodes && !x->st; i++)
        if (g->nodes[i].op != PTQ_OP_NONE) export_node(x, &g->nodes[i]);
    for (int32_t i = 0; i < g->n_outputs && !x->st; i++) /* a constant output */
        if (g->values[g->outputs[i]].producer < 0 && !(g->values[g->outputs[i]].flags & PTQ_VALUE_INPUT))
            input_name(x, g->outputs[i]);
    gp->input = value_infos(x, g->n_inputs, g->inputs);
    gp->output = value_infos(x, g->n_outputs, g->outputs);
    if (x->st) return x->st;
    gp->name = g->name ? g->name : "ptq";
    gp->n_input = (size_t)g->n_inputs;
    gp->n_output = (size_t)g->n_outputs;
    gp->n_node = (size_t)x->n_nodes;
    gp->node = x->nodes;
    gp->n_initializer = (size_t)x->n_inits;
    gp->initializer = x->inits;
    return PTQ_OK;
}

/* Serializes the model: ir_version, opset, producer, graph and metadata. */
static ptq_status pack_model(exporter *x, Onnx__GraphProto *gp, const char *const *keys,
                             const char *const *values, int32_t n_meta, uint8_t **buf,
                             size_t *len) {
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    Onnx__StringStringEntryProto *entries = ex_alloc(x, (size_t)PTQ_MAX(n_meta, 1) * sizeof *entries);
    Onnx__StringStringEntryProto **props = ex_alloc(x, (size_t)PTQ_MAX(n_meta, 1) * sizeof *props);
    if (!entries || !props) return x->st;
    for (int32_t i = 0; i < n_meta; i++) {
        if (!keys[i] || !values[i])
            return ex_fail(x, PTQ_ERR_INVALID, "metadata entry %d has no key or value", i);
        entries[i] = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
        entries[i].key = (char *)keys[i];
        entries[i].value = (char *)values[i];
        props[i] = &entries[i];
    }
    opset.domain = "";
    opset.has_version = 1;
    opset.version = x->opset;
    m.has_ir_version = 1;
    m.ir_version = x->opset >= 21 ? IR_VERSION_OPSET21 : IR_VERSION;
    m.n_opset_import = 1;
    m.opset_import = opsets;
    m.producer_name = "ptq";
    m.producer_version = (char *)ptq_version_string();
    m.graph = gp;
    m.n_metadata_props = (size_t)n_meta;
    m.metadata_props = props;
    *len = onnx__model_proto__get_packed_size(&m);
    if (*len > PTQ_MAX_MODEL_BYTES)
        return ex_fail(x, PTQ_ERR_UNSUPPORTED, "the model would take %zu bytes, more than the "
                       "%zu a protobuf file may hold", *len, PTQ_MAX_MODEL_BYTES);
    *buf = malloc(*len ? *len : 1);
    if (!*buf) return ex_fail(x, PTQ_ERR_NOMEM, "out of memory serializing %zu bytes", *len);
    onnx__model_proto__pack(&m, *buf);
    return PTQ_OK;
}

/* ------------------------------------------------------------ the file ---- */

static ptq_status write_all(int fd, const uint8_t *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return PTQ_ERR_IO;
        buf += w;
        len -= (size_t)w;
    }
    return PTQ_OK;
}

/* Makes a rename durable: fsync the directory holding path (best effort; some file
 * systems refuse to sync a directory, and the data itself is already synced). */
static void sync_parent(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash == path ? 1 : slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

/* Writes buf to path atomically: a temporary file in the same directory (so the rename
 * cannot cross file systems), synced, then renamed over path.  Readers see the old file
 * or the new one, never a partial one; on failure the temporary file is removed. */
static ptq_status write_atomically(const char *path, const uint8_t *buf, size_t len,
                                   ptq_error *err) {
    size_t size = strlen(path) + 16;
    char *tmp = malloc(size);
    if (!tmp) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    snprintf(tmp, size, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ptq_status st = ptq_error_set(err, PTQ_ERR_IO, "cannot create a temporary file next to "
                                      "it: %s", strerror(errno));
        free(tmp);
        return st;
    }
    /* mkstemp creates the file 0600; a model is not a secret: keep the mode of the file
     * being replaced, else use the usual 0644. */
    struct stat sb;
    mode_t mode = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_mode & 07777 : 0644;
    const char *what = NULL;
    if (write_all(fd, buf, len)) what = "cannot write";
    else if (fchmod(fd, mode) != 0) what = "cannot set the permissions of";
    else if (fsync(fd) != 0) what = "cannot sync";
    int saved = errno;
    if (close(fd) != 0 && !what) {
        what = "cannot close";
        saved = errno;
    }
    if (!what && rename(tmp, path) != 0) {
        what = "cannot rename into place";
        saved = errno;
    }
    ptq_status st = PTQ_OK;
    if (what) {
        st = ptq_error_set(err, PTQ_ERR_IO, "%s the temporary file %s: %s", what, tmp,
                           strerror(saved));
        unlink(tmp);
    } else {
        sync_parent(path);
    }
    free(tmp);
    return st;
}

static void exporter_free(exporter *x) {
    for (int32_t i = 0; i < x->n_allocs; i++) free(x->allocs[i]);
    free(x->allocs);
    free(x->nodes);
    free(x->inits);
    free(x->done);
    free(x->names);
    free(x->weight_of);
    free(x->plain_use);
}

ptq_status ptq_onnx_export(const ptq_graph *g, const ptq_export_weight *weights,
                           int32_t n_weights, const char *const *meta_keys,
                           const char *const *meta_values, int32_t n_meta, const char *path,
                           ptq_error *err) {
    exporter x = {0};
    x.g = g;
    x.err = err;
    x.weight_of = ptq_calloc_array((size_t)g->n_values + 1, sizeof *x.weight_of);
    x.plain_use = ptq_calloc_array((size_t)g->n_values + 1, 1);
    Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
    uint8_t *buf = NULL;
    size_t len = 0;
    ptq_status st;
    if (!x.weight_of || !x.plain_use) st = ex_fail(&x, PTQ_ERR_NOMEM, "out of memory");
    else st = ptq_graph_validate(g, err);
    if (!st) st = check_graph(&x);
    for (int32_t i = 0; !st && i < n_weights; i++) st = check_weight(&x, &weights[i]);
    if (!st) {
        x.opset = choose_opset(&x, weights, n_weights);
        st = build_graph(&x, weights, n_weights, &gp);
    }
    if (!st) st = pack_model(&x, &gp, meta_keys, meta_values, n_meta, &buf, &len);
    if (!st) st = write_atomically(path, buf, len, err);
    free(buf);
    exporter_free(&x);
    if (st) ptq_error_prefix(err, "%s", path);
    return st;
}
