/* ptq_util.h — small helpers for method plugins, written only against the host table
 * (ptq_plugin.h): what every reconstruction-style plugin asks of the graph.  Static
 * inline, so they add nothing to the ABI: a plugin compiles them in. */
#ifndef PTQ_UTIL_H
#define PTQ_UTIL_H

#include <stdio.h>
#include <time.h>

#include "ptq/ptq_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The quantizer of node's weight (input 1 of a Conv, Gemm or MatMul), or -1 when the
 * node has none or it is not quantized. */
static inline int32_t ptq_util_weight_quantizer(const ptq_host *h, ptq_session *s, int32_t node) {
    ptq_node_info ni;
    ni.struct_size = sizeof ni;
    if (h->node_info(s, node, &ni)) return -1;
    if (ni.op != PTQ_OP_CONV && ni.op != PTQ_OP_GEMM && ni.op != PTQ_OP_MATMUL) return -1;
    if (ni.n_inputs < 2 || ni.inputs[1] < 0) return -1;
    const int32_t q = h->quantizer_of(s, ni.inputs[1]);
    if (q < 0) return -1;
    ptq_quant_view qv;
    qv.struct_size = sizeof qv;
    if (h->quantizer_view(s, q, &qv) || !qv.is_weight) return -1;
    return q;
}

/* Whether op is an elementwise activation (what a layer unit takes in after its Conv). */
static inline int ptq_util_is_activation(ptq_op op) {
    return op == PTQ_OP_RELU || op == PTQ_OP_CLIP || op == PTQ_OP_LEAKY_RELU || op == PTQ_OP_SIGMOID ||
           op == PTQ_OP_HARD_SIGMOID || op == PTQ_OP_HARD_SWISH || op == PTQ_OP_TANH;
}

/* A set of nodes' name for logs and reports: "first..last" (or the one node's name). */
static inline void ptq_util_nodes_label(const ptq_host *h, ptq_session *s, const int32_t *nodes, int32_t k,
                                        char *buf, size_t size) {
    if (k == 1) snprintf(buf, size, "%s", h->node_name(s, nodes[0]));
    else snprintf(buf, size, "%s..%s", h->node_name(s, nodes[0]), h->node_name(s, nodes[k - 1]));
}

/* The graph's one run-time input, the value the calibration images feed: the one value
 * that no node produces, holds no constant data and is read.  -1 after h->error naming
 * `who` when the model has none or several. */
static inline int32_t ptq_util_graph_input(const ptq_host *h, ptq_session *s, const char *who) {
    int32_t found = -1, count = 0;
    for (int32_t v = 0; v < h->value_count(s); v++) {
        ptq_tensor_view view;
        view.struct_size = sizeof view;
        if (h->value_producer(s, v) >= 0 || h->value_view(s, v, &view) || view.data) continue;
        if (h->value_readers(s, v, NULL, 0) == 0) continue;
        found = v, count++;
    }
    if (count != 1) {
        h->error(s, PTQ_ERR_UNSUPPORTED, "%s feeds the calibration images to the model's one "
                 "input; this model has %d inputs", who, count);
        return -1;
    }
    return found;
}

/* Seconds on a steady clock, for the durations passes report: CLOCK_MONOTONIC where
 * POSIX provides it, else C11's timespec_get (strict ISO builds). */
static inline double ptq_util_seconds(void) {
    struct timespec t;
#ifdef CLOCK_MONOTONIC
    clock_gettime(CLOCK_MONOTONIC, &t);
#else
    timespec_get(&t, TIME_UTC);
#endif
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#ifdef __cplusplus
}
#endif

#endif /* PTQ_UTIL_H */
