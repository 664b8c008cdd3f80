/* tape.h — the training-mode executor: runs a node subset forward keeping every value,
 * then backward through it in reverse (grad.h), for the reconstruction engine and any
 * method that needs gradients through (part of) the quantized network.
 *
 * Unlike the inference executor (exec.c) it never fuses or reuses buffers: the backward
 * pass needs each node's inputs and outputs as the forward left them.  Kernels still
 * parallelise internally over the batch, so one tape step uses every thread. */
#ifndef PTQ_TAPE_H
#define PTQ_TAPE_H

#include "grad.h"

typedef struct ptq_tape ptq_tape;

typedef struct ptq_tape_options {
    const int32_t *nodes;     /* ids in the graph, topological order */
    int32_t n_nodes;
    int64_t max_batch;
    int32_t threads;
    /* Constants whose gradient is wanted (weights being learned, learnable scales). */
    const int32_t *trainable;
    int32_t n_trainable;
    /* Run-time inputs of the subset whose gradient is wanted (may be none). */
    const int32_t *grad_inputs;
    int32_t n_grad_inputs;
} ptq_tape_options;

/* NULL with err set (an op without a backward, out of memory). */
ptq_tape *ptq_tape_new(const ptq_graph *g, const ptq_tape_options *o, ptq_error *err);
void ptq_tape_free(ptq_tape *t);

/* The buffer of value v: max_batch samples for run-time values (write a subset input
 * here before forward; read any value after it), the data of a constant.  NULL when v
 * is not part of the tape. */
float *ptq_tape_value(ptq_tape *t, int32_t v);
/* Makes the tape read constant v from data (borrowed) instead of the graph's copy: how
 * the engine feeds a weight's current fake-quantized value or a learned scale. */
void ptq_tape_set_const(ptq_tape *t, int32_t v, float *data);
/* The gradient buffer of v (same size as its value), or NULL if v needs none. */
float *ptq_tape_grad(ptq_tape *t, int32_t v);

/* QDrop: FAKE_QUANT nodes keep the float value of each element with probability p
 * (fresh uniform draws from *rng each forward); p = 0 quantizes everything. */
void ptq_tape_set_drop(ptq_tape *t, double p, uint64_t *rng);

/* QDrop at an activation quantizer the unit pulled in from its input (a learned
 * activation rounding): the elements FAKE_QUANT node producing v keeps unquantized take
 * src's value (the float model's, max_batch samples, borrowed; the caller refills it
 * before each forward) instead of the quantizer's input, and pass no gradient to that
 * input.  PTQ_ERR_INVALID when no FAKE_QUANT node of the tape produces v. */
ptq_status ptq_tape_set_drop_source(ptq_tape *t, int32_t v, const float *src);

/* NWQ's mixed targets: after the node producing run-time value v runs, each element of
 * v is replaced by src's (max_batch samples, borrowed; the caller refills it before each
 * forward) with probability p (ptq_tape_set_mix_prob), and a replaced element passes
 * no gradient back.  PTQ_ERR_INVALID when no node of the tape produces v. */
ptq_status ptq_tape_set_mix(ptq_tape *t, int32_t v, const float *src);
void ptq_tape_set_mix_prob(ptq_tape *t, double p);

void ptq_tape_forward(ptq_tape *t, int64_t batch);
/* Marks v's gradient as written whole by the caller before each backward (the loss's
 * seed), so zero_grad leaves it alone: no clearing of what is overwritten next. */
void ptq_tape_seeded(ptq_tape *t, int32_t v);
/* Zeroes every gradient buffer but the seeded ones (call before seeding the outputs'). */
void ptq_tape_zero_grad(ptq_tape *t, int64_t batch);
/* Backward from the gradients the caller wrote into the outputs' gradient buffers. */
void ptq_tape_backward(ptq_tape *t, int64_t batch);

/* Bytes the tape holds (values, gradients, scratch). */
size_t ptq_tape_bytes(const ptq_tape *t);

/* One splitmix64 step. */
static inline uint64_t ptq_splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
/* keep[i] = 1 with probability p, for n elements: QDrop's per-element coin.  Four 16-bit
 * draws per 64-bit step (p is resolved to 1/65536, plenty for a keep probability): the
 * coin is drawn for every activation element of every step, so it must be cheap. */
static inline void ptq_bernoulli_mask(uint64_t *s, double p, uint8_t *keep, int64_t n) {
    const uint32_t thr = (uint32_t)(p * 65536.0 + 0.5);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint64_t r = ptq_splitmix64(s);
        keep[i] = (uint32_t)(r & 0xFFFF) < thr;
        keep[i + 1] = (uint32_t)((r >> 16) & 0xFFFF) < thr;
        keep[i + 2] = (uint32_t)((r >> 32) & 0xFFFF) < thr;
        keep[i + 3] = (uint32_t)(r >> 48) < thr;
    }
    for (; i < n; i++) keep[i] = (uint32_t)(ptq_splitmix64(s) & 0xFFFF) < thr;
}

#endif
