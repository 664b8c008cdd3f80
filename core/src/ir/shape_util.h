/* shape_util.h — what the shape-inference files (shape.c, shape_spatial.c, shape_math.c)
 * share: value access, setting a shape, and errors that name the node and op first. */
#ifndef PTQ_SHAPE_UTIL_H
#define PTQ_SHAPE_UTIL_H

#include "internal.h"

#define B PTQ_DIM_BATCH

/* Input i of n, or NULL when absent (omitted optional inputs are -1). */
static inline const ptq_value *in_v(const ptq_graph *g, const ptq_node *n, int32_t i) {
    return (i < n->n_inputs && n->inputs[i] >= 0) ? &g->values[n->inputs[i]] : NULL;
}

static inline ptq_value *out_v(ptq_graph *g, const ptq_node *n, int32_t i) {
    return &g->values[n->outputs[i]];
}

static inline void set_shape(ptq_value *v, int32_t ndim, const int64_t *ne) {
    v->ndim = ndim;
    for (int32_t i = 0; i < ndim; i++) v->ne[i] = ne[i];
}

static inline const char *shp(const ptq_value *v, char *buf, size_t size) {
    return ptq_shape_str(v->ndim, v->ne, buf, size);
}

/* Errors name the node and op first, then what is wrong. */
#define FAIL(err, n, st, ...)                                                              \
    do {                                                                                   \
        char _m[768];                                                                      \
        snprintf(_m, sizeof _m, __VA_ARGS__);                                              \
        return ptq_error_set(err, st, "node '%s' (%s): %s", (n)->name,                     \
                             ptq_op_name((n)->op), _m);                                    \
    } while (0)

#endif
