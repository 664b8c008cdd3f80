/* onnx_builder.c — in-memory ONNX models for tests (see onnx_builder.h). */
#include "onnx_builder.h"

#include <stdlib.h>
#include <string.h>

void *mb_alloc(mb *b, size_t size) {
    if (b->n_allocs == b->cap_allocs) {
        b->cap_allocs = b->cap_allocs ? 2 * b->cap_allocs : 64;
        b->allocs = realloc(b->allocs, b->cap_allocs * sizeof *b->allocs);
        ck_assert_ptr_nonnull(b->allocs);
    }
    void *p = calloc(1, size ? size : 1);
    ck_assert_ptr_nonnull(p);
    b->allocs[b->n_allocs++] = p;
    return p;
}

char *mb_str(mb *b, const char *s) {
    char *d = mb_alloc(b, strlen(s) + 1);
    memcpy(d, s, strlen(s) + 1);
    return d;
}

void mb_free(mb *b) {
    for (size_t i = 0; i < b->n_allocs; i++) free(b->allocs[i]);
    free(b->allocs);
    memset(b, 0, sizeof *b);
}

/* An empty model importing the default-domain opset. */
void mb_init(mb *b, int64_t opset) {
    memset(b, 0, sizeof *b);
    b->model = (Onnx__ModelProto)ONNX__MODEL_PROTO__INIT;
    b->graph = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    b->opset = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    b->opset.domain = mb_str(b, "");
    b->opset.has_version = 1;
    b->opset.version = opset;
    b->opsets[0] = &b->opset;
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.producer_name = mb_str(b, "test_import");
    b->model.graph = &b->graph;
    b->graph.name = mb_str(b, "test_graph");
    b->graph.node = mb_alloc(b, MB_CAP * sizeof *b->graph.node);
    b->graph.initializer = mb_alloc(b, MB_CAP * sizeof *b->graph.initializer);
    b->graph.input = mb_alloc(b, MB_CAP * sizeof *b->graph.input);
    b->graph.output = mb_alloc(b, MB_CAP * sizeof *b->graph.output);
    b->graph.value_info = mb_alloc(b, MB_CAP * sizeof *b->graph.value_info);
}

/* Splits "a,b,,c" into strings (empty entries are omitted optional inputs). */
static size_t mb_names(mb *b, const char *list, char ***out) {
    if (!*list) {
        *out = NULL;
        return 0;
    }
    size_t n = 1;
    for (const char *p = list; *p; p++) n += *p == ',';
    char **v = mb_alloc(b, n * sizeof *v);
    const char *start = list;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(start, ',');
        size_t len = end ? (size_t)(end - start) : strlen(start);
        v[i] = mb_alloc(b, len + 1);
        memcpy(v[i], start, len);
        start = end ? end + 1 : start + len;
    }
    *out = v;
    return n;
}

/* A node "op" named name (may be "") reading ins and writing outs (comma-separated). */
Onnx__NodeProto *mb_node(mb *b, const char *op, const char *name, const char *ins,
                                const char *outs) {
    ck_assert_uint_lt(b->graph.n_node, MB_CAP);
    Onnx__NodeProto *n = mb_alloc(b, sizeof *n);
    *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    n->op_type = mb_str(b, op);
    n->name = mb_str(b, name);
    n->n_input = mb_names(b, ins, &n->input);
    n->n_output = mb_names(b, outs, &n->output);
    n->attribute = mb_alloc(b, 16 * sizeof *n->attribute);
    b->graph.node[b->graph.n_node++] = n;
    return n;
}

Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name,
                                     Onnx__AttributeProto__AttributeType type) {
    ck_assert_uint_lt(n->n_attribute, 16);
    Onnx__AttributeProto *a = mb_alloc(b, sizeof *a);
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = mb_str(b, name);
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

void mb_attr_int(mb *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

void mb_attr_float(mb *b, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

void mb_attr_ints(mb *b, Onnx__NodeProto *n, const char *name, size_t cnt,
                         const int64_t *v) {
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = cnt;
    a->ints = mb_alloc(b, cnt * sizeof *v);
    memcpy(a->ints, v, cnt * sizeof *v);
}

/* A tensor with float_data (f32) or int64_data (i64); data may be NULL for zeros. */
Onnx__TensorProto *mb_tensor(mb *b, const char *name, ptq_dtype dt, size_t ndim,
                                    const int64_t *dims, const void *data) {
    Onnx__TensorProto *t = mb_alloc(b, sizeof *t);
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = mb_str(b, name);
    t->has_data_type = 1;
    t->data_type = (int32_t)dt;
    t->n_dims = ndim;
    t->dims = mb_alloc(b, ndim * sizeof *dims);
    size_t n = 1;
    for (size_t i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    if (dt == PTQ_DTYPE_F32) {
        t->n_float_data = n;
        t->float_data = mb_alloc(b, n * sizeof(float));
        if (data) memcpy(t->float_data, data, n * sizeof(float));
    } else {
        ck_assert_uint_eq(dt, PTQ_DTYPE_I64);
        t->n_int64_data = n;
        t->int64_data = mb_alloc(b, n * sizeof(int64_t));
        if (data) memcpy(t->int64_data, data, n * sizeof(int64_t));
    }
    return t;
}

Onnx__TensorProto *mb_init_f32(mb *b, const char *name, size_t ndim, const int64_t *dims,
                                      const float *data) {
    Onnx__TensorProto *t = mb_tensor(b, name, PTQ_DTYPE_F32, ndim, dims, data);
    ck_assert_uint_lt(b->graph.n_initializer, MB_CAP);
    b->graph.initializer[b->graph.n_initializer++] = t;
    return t;
}

void mb_init_i64(mb *b, const char *name, size_t ndim, const int64_t *dims,
                        const int64_t *data) {
    ck_assert_uint_lt(b->graph.n_initializer, MB_CAP);
    b->graph.initializer[b->graph.n_initializer++] = mb_tensor(b, name, PTQ_DTYPE_I64, ndim, dims, data);
}

void mb_init_raw(mb *b, const char *name, int32_t type, size_t ndim, const int64_t *dims,
                 const void *data, size_t bytes) {
    ck_assert_uint_lt(b->graph.n_initializer, MB_CAP);
    Onnx__TensorProto *t = mb_alloc(b, sizeof *t);
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = mb_str(b, name);
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = ndim;
    t->dims = mb_alloc(b, ndim * sizeof *dims);
    if (ndim) memcpy(t->dims, dims, ndim * sizeof *dims);
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = mb_alloc(b, bytes);
    memcpy(t->raw_data.data, data, bytes);
    b->graph.initializer[b->graph.n_initializer++] = t;
}

/* A tensor ValueInfo; dims may hold B ("N") and MB_SYM_H ("H"). */
Onnx__ValueInfoProto *mb_value_info(mb *b, const char *name, ptq_dtype dt, size_t ndim,
                                           const int64_t *dims) {
    Onnx__ValueInfoProto *vi = mb_alloc(b, sizeof *vi);
    *vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    vi->name = mb_str(b, name);
    Onnx__TypeProto *tp = mb_alloc(b, sizeof *tp);
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    Onnx__TypeProto__Tensor *tt = mb_alloc(b, sizeof *tt);
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    tt->has_elem_type = 1;
    tt->elem_type = (int32_t)dt;
    Onnx__TensorShapeProto *sh = mb_alloc(b, sizeof *sh);
    *sh = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    sh->n_dim = ndim;
    sh->dim = mb_alloc(b, ndim * sizeof *sh->dim);
    for (size_t i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = mb_alloc(b, sizeof *d);
        *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (dims[i] == PTQ_DIM_BATCH || dims[i] == MB_SYM_H) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = mb_str(b, dims[i] == PTQ_DIM_BATCH ? "N" : "H");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        sh->dim[i] = d;
    }
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

void mb_input(mb *b, const char *name, size_t ndim, const int64_t *dims) {
    ck_assert_uint_lt(b->graph.n_input, MB_CAP);
    b->graph.input[b->graph.n_input++] = mb_value_info(b, name, PTQ_DTYPE_F32, ndim, dims);
}

void mb_output(mb *b, const char *name, size_t ndim, const int64_t *dims) {
    ck_assert_uint_lt(b->graph.n_output, MB_CAP);
    b->graph.output[b->graph.n_output++] = mb_value_info(b, name, PTQ_DTYPE_F32, ndim, dims);
}

/* The serialized model (caller frees). */
uint8_t *mb_pack(mb *b, size_t *len) {
    *len = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(*len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(onnx__model_proto__pack(&b->model, buf), *len);
    return buf;
}

ptq_graph *mb_load_opts(mb *b, const ptq_import_options *opts, ptq_error *err) {
    size_t len;
    uint8_t *buf = mb_pack(b, &len);
    ptq_graph *g = ptq_onnx_load_buffer(buf, len, "test.onnx", opts, err);
    free(buf);
    return g;
}

ptq_graph *mb_load(mb *b, ptq_error *err) { return mb_load_opts(b, NULL, err); }

