/* grad.h — the backward pass of the IR ops: one row per op, beside the forward table in
 * ops.c.  The training tape (tape.c) runs a node subset forward keeping every value,
 * then walks it in reverse calling these.
 *
 * Conventions, the same for every op:
 *   - in[] are the node's inputs exactly as the forward saw them (constants included:
 *     in[1] of a Conv is its weight as used in the forward), out[] its forward outputs,
 *     dout[] the gradients of the loss with respect to those outputs (same shapes).
 *   - din[i].data, when not NULL, receives the gradient with respect to input i, ADDED to
 *     what is there (a value read by two nodes sums its gradients; the tape zeroes the
 *     buffers once per backward).  din[i].data == NULL: that gradient is not wanted, so
 *     skip computing it (AdaRound needs a Conv's weight gradient but not its input's).
 *     din[i] shapes equal in[i] shapes.
 *   - Integer and shape inputs (Gather indices, FAKE_QUANT zero point) never get one.
 *   - Results do not depend on the thread count: partial sums from different threads
 *     are combined in a fixed order.
 */
#ifndef PTQ_GRAD_H
#define PTQ_GRAD_H

#include "internal.h"

/* Per-call context of a backward kernel. */
typedef struct ptq_gctx {
    int32_t threads;    /* OpenMP workers the kernel may use */
    float *work;        /* scratch, 64-byte aligned: as many floats as the op's work() said */
    size_t work_floats;
} ptq_gctx;

typedef void (*ptq_backward_fn)(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                                const ptq_kt *out, const ptq_kt *dout, ptq_kt *din);
/* Scratch floats (in total, for all `threads`) a backward call needs for these input
 * shapes when the gradients flagged in `want` (bit i: din[i] wanted) are computed. */
typedef size_t (*ptq_backward_work_fn)(const ptq_node *n, const ptq_kt *in, uint32_t want,
                                       int32_t threads);

typedef struct ptq_grad_traits {
    ptq_backward_fn backward;      /* NULL: the op has no backward (the tape refuses it) */
    ptq_backward_work_fn work;     /* NULL: no scratch */
} ptq_grad_traits;

extern const ptq_grad_traits ptq_grad_table[PTQ_OP_COUNT];

/* FAKE_QUANT's backward (the straight-through estimator, or the node's rounding
 * function's backward when it has one): dx = dy where x / s + z, rounded, lies inside
 * [qmin, qmax], else 0.  With din[1] wanted, also the LSQ gradient of the scale:
 * d y / d s = (q - z) - x / s inside the range, qmin - z or qmax - z where clamped
 * (summed per channel; the caller applies any LSQ gradient scaling). */
void ptq_bwd_fake_quant(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                        const ptq_kt *out, const ptq_kt *dout, ptq_kt *din);

/* Conv (kernels/conv_grad.c): weight gradient by register tiles over the forward's flat
 * planes, input gradient by the forward kernel on the flipped weights, bias gradient by
 * summing dY. */
void ptq_bwd_conv(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                  const ptq_kt *dout, ptq_kt *din);
size_t ptq_bwd_work_conv(const ptq_node *n, const ptq_kt *in, uint32_t want, int32_t threads);

/* The spatial ops (spatial_grad.c). */
void ptq_bwd_resize(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                    const ptq_kt *dout, ptq_kt *din);
size_t ptq_bwd_work_resize(const ptq_node *n, const ptq_kt *in, uint32_t want, int32_t threads);
void ptq_bwd_conv_transpose(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                            const ptq_kt *out, const ptq_kt *dout, ptq_kt *din);
size_t ptq_bwd_work_conv_transpose(const ptq_node *n, const ptq_kt *in, uint32_t want,
                                   int32_t threads);
void ptq_bwd_slice(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                   const ptq_kt *dout, ptq_kt *din);
void ptq_bwd_split(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                   const ptq_kt *dout, ptq_kt *din);
/* ---- elementwise, comparison and reduction ops (math_grad.c) ---- */
void ptq_bwd_math_unary(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                        const ptq_kt *out, const ptq_kt *dout, ptq_kt *din);
void ptq_bwd_math_binary(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                         const ptq_kt *out, const ptq_kt *dout, ptq_kt *din);
void ptq_bwd_where(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                   const ptq_kt *dout, ptq_kt *din);
void ptq_bwd_expand(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                    const ptq_kt *dout, ptq_kt *din);
void ptq_bwd_reduce(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in, const ptq_kt *out,
                    const ptq_kt *dout, ptq_kt *din);
size_t ptq_bwd_work_reduce(const ptq_node *n, const ptq_kt *in, uint32_t want, int32_t threads);
void ptq_bwd_layer_norm(const ptq_node *n, const ptq_gctx *gc, const ptq_kt *in,
                        const ptq_kt *out, const ptq_kt *dout, ptq_kt *din);
size_t ptq_bwd_work_layer_norm(const ptq_node *n, const ptq_kt *in, uint32_t want,
                               int32_t threads);

#endif
