/* tensor.c — owned dense tensors and shape helpers. */
#include <inttypes.h>

#include "internal.h"

size_t ptq_dtype_size(ptq_dtype dtype) {
    switch (dtype) {
    case PTQ_DTYPE_F32: return 4;
    case PTQ_DTYPE_U8: return 1;
    case PTQ_DTYPE_I8: return 1;
    case PTQ_DTYPE_I32: return 4;
    case PTQ_DTYPE_I64: return 8;
    default: return 0;
    }
}

const char *ptq_dtype_name(ptq_dtype dtype) {
    /* Names of every ONNX TensorProto.DataType, so errors can say what was found. */
    static const char *names[] = {"undefined", "float32", "uint8",   "int8",     "uint16",
                                  "int16",     "int32",   "int64",   "string",   "bool",
                                  "float16",   "double",  "uint32",  "uint64",   "complex64",
                                  "complex128", "bfloat16"};
    return dtype < PTQ_COUNTOF(names) ? names[dtype] : "unknown";
}

int64_t ptq_shape_numel(int32_t ndim, const int64_t *ne) {
    if (ndim < 0 || ndim > PTQ_MAX_DIMS) return -1;
    int64_t n = 1;
    bool empty = false;
    for (int32_t i = 0; i < ndim; i++) {
        if (ne[i] < 0) return -1;
        if (ne[i] == 0) empty = true; /* legal, but every other dim must still be valid */
        else if (n > PTQ_MAX_ELEMENTS / ne[i]) return -1;
        else n *= ne[i];
    }
    return empty ? 0 : n;
}

ptq_tensor *ptq_tensor_new(ptq_dtype dtype, int32_t ndim, const int64_t *ne, ptq_error *err) {
    size_t es = ptq_dtype_size(dtype);
    if (es == 0) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "tensor of type %s is not supported",
                      ptq_dtype_name(dtype));
        return NULL;
    }
    int64_t n = ptq_shape_numel(ndim, ne);
    if (n < 0) {
        char buf[160];
        ptq_error_set(err, PTQ_ERR_INVALID, "tensor shape %s is invalid or too large",
                      ptq_shape_str(ndim, ne, buf, sizeof buf));
        return NULL;
    }
    ptq_tensor *t = calloc(1, sizeof *t);
    if (!t) goto nomem;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int32_t i = 0; i < ndim; i++) t->ne[i] = ne[i];
    t->data = ptq_calloc_array((size_t)n, es);
    if (!t->data) goto nomem;
    return t;
nomem:
    free(t);
    ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory allocating a tensor of %" PRId64
                  " elements", n);
    return NULL;
}

ptq_tensor *ptq_tensor_clone(const ptq_tensor *t, ptq_error *err) {
    ptq_tensor *c = ptq_tensor_new(t->dtype, t->ndim, t->ne, err);
    if (c) memcpy(c->data, t->data, (size_t)ptq_tensor_numel(t) * ptq_dtype_size(t->dtype));
    return c;
}

void ptq_tensor_free(ptq_tensor *t) {
    if (!t) return;
    free(t->data);
    free(t);
}

int64_t ptq_tensor_numel(const ptq_tensor *t) { return ptq_shape_numel(t->ndim, t->ne); }

const char *ptq_shape_str(int32_t ndim, const int64_t *ne, char *buf, size_t size) {
    size_t off = 0;
    off += (size_t)snprintf(buf + off, size - off, "[");
    for (int32_t i = 0; i < ndim && off < size; i++) {
        if (ne[i] == PTQ_DIM_BATCH)
            off += (size_t)snprintf(buf + off, size - off, "%sN", i ? "," : "");
        else
            off += (size_t)snprintf(buf + off, size - off, "%s%" PRId64, i ? "," : "", ne[i]);
    }
    if (off < size) snprintf(buf + off, size - off, "]");
    return buf;
}
