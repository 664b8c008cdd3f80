/* onnx_builder.h — ONNX models built in memory for tests, with the generated protobuf-c
 * structs: a few lines per model, serialized and loaded through the real importer.
 *
 * The builder (mb_*) owns every allocation of the proto tree in one list, so a test frees
 * a model with one call.  Shapes use PTQ_DIM_BATCH for the dynamic batch (written as
 * dim_param "N") and MB_SYM_H for another symbolic dimension (dim_param "H"). */
#ifndef PTQ_ONNX_BUILDER_H
#define PTQ_ONNX_BUILDER_H

#include "onnx.pb-c.h"
#include "testutil.h"

#define MB_SYM_H (-2) /* a symbolic dimension other than the batch */
#define MB_CAP 64     /* nodes, initializers, inputs, outputs per model */

typedef struct mb {
    void **allocs;
    size_t n_allocs, cap_allocs;
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
} mb;

void *mb_alloc(mb *b, size_t size); /* zeroed, owned by b */
char *mb_str(mb *b, const char *s);
void mb_free(mb *b);
/* An empty model importing the default-domain opset. */
void mb_init(mb *b, int64_t opset);
/* A node "op" named name (may be "") reading ins and writing outs (comma-separated; an
 * empty entry is an omitted optional input). */
Onnx__NodeProto *mb_node(mb *b, const char *op, const char *name, const char *ins,
                         const char *outs);
Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name,
                              Onnx__AttributeProto__AttributeType type);
void mb_attr_int(mb *b, Onnx__NodeProto *n, const char *name, int64_t v);
void mb_attr_float(mb *b, Onnx__NodeProto *n, const char *name, float v);
void mb_attr_ints(mb *b, Onnx__NodeProto *n, const char *name, size_t cnt, const int64_t *v);
/* A tensor with float_data (f32) or int64_data (i64); data may be NULL for zeros. */
Onnx__TensorProto *mb_tensor(mb *b, const char *name, ptq_dtype dt, size_t ndim,
                             const int64_t *dims, const void *data);
Onnx__TensorProto *mb_init_f32(mb *b, const char *name, size_t ndim, const int64_t *dims,
                               const float *data);
void mb_init_i64(mb *b, const char *name, size_t ndim, const int64_t *dims, const int64_t *data);
/* An initializer of ONNX type `type` holding `bytes` raw little-endian bytes. */
void mb_init_raw(mb *b, const char *name, int32_t type, size_t ndim, const int64_t *dims,
                 const void *data, size_t bytes);
/* A tensor ValueInfo; dims may hold PTQ_DIM_BATCH ("N") and MB_SYM_H ("H"). */
Onnx__ValueInfoProto *mb_value_info(mb *b, const char *name, ptq_dtype dt, size_t ndim,
                                    const int64_t *dims);
void mb_input(mb *b, const char *name, size_t ndim, const int64_t *dims);  /* float32 */
void mb_output(mb *b, const char *name, size_t ndim, const int64_t *dims); /* float32 */
/* The serialized model (caller frees). */
uint8_t *mb_pack(mb *b, size_t *len);
ptq_graph *mb_load_opts(mb *b, const ptq_import_options *opts, ptq_error *err);
ptq_graph *mb_load(mb *b, ptq_error *err);

#endif
