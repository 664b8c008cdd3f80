/*
 * internal.h — what the core's modules share and nothing outside the core may see.
 */
#ifndef PTQ_INTERNAL_H
#define PTQ_INTERNAL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptq/ptq.h"

/* Broken invariants are programmer errors: abort loudly with the place, in every build
 * type (data and configuration errors return ptq_status instead). */
#define PTQ_ASSERT(x)                                                                      \
    do {                                                                                   \
        if (!(x)) {                                                                        \
            fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", __FILE__, __LINE__,       \
                    __func__, #x);                                                         \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#define PTQ_ABORT(...)                                                                     \
    do {                                                                                   \
        fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, __func__);                      \
        fprintf(stderr, __VA_ARGS__);                                                      \
        fputc('\n', stderr);                                                               \
        abort();                                                                           \
    } while (0)

#define PTQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PTQ_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PTQ_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failures in the core are reported, not fatal: these return NULL and let
 * the caller fill a ptq_error with PTQ_ERR_NOMEM. */
void *ptq_calloc_array(size_t n, size_t size);
char *ptq_strdup(const char *s);

/* Grows *arr (of *cap elements of `size` bytes) to hold at least `need`. */
int ptq_grow(void **arr, int32_t *cap, int32_t need, size_t size);

/* Monotonic wall-clock seconds, for durations. */
double ptq_now_seconds(void);

/* The layers whose input 1 is a weight that gets its own quantizer. */
static inline bool ptq_op_has_weights(ptq_op op) {
    return op == PTQ_OP_CONV || op == PTQ_OP_GEMM || op == PTQ_OP_MATMUL ||
           op == PTQ_OP_CONV_TRANSPOSE;
}

/* ptq_fake_quant_tensor, with a plugin's rounding function (and its state) in place of
 * round-half-to-even when r is not NULL: the one fake-quantizer for weights in the session
 * and FAKE_QUANT nodes in the executor, so both round alike. */
struct ptq_rounding;
void ptq_fake_quant_tensor_rounded(const ptq_qparams *qp, int32_t ndim, const int64_t *ne,
                                   const float *x, float *y, const struct ptq_rounding *r,
                                   void *state);

/* Border rounding of one value v = x / scale (per-channel table `borders` of qmax - qmin
 * bins): floor(v) + 1 when frac(v) > the border of v's bin, else floor(v). */
float ptq_border_round(float v, const float *borders, int32_t zero_point, int32_t qmin,
                       int32_t qmax);
/* Fake quantization with learned rounding borders in place of round-half-to-even: the
 * activation ne[0 (batch), 1 (channels), ...]; borders is [border_channels, qmax - qmin]
 * with border_channels 1 (shared) or ne[1]; scales per tensor or on axis 1. */
void ptq_fake_quant_tensor_border(const ptq_qparams *qp, int32_t ndim, const int64_t *ne,
                                  const float *x, float *y, const float *borders,
                                  int64_t border_channels);

/* ---- concrete tensor shapes handed to kernels -------------------------------------- */

/* A kernel operand: concrete shape (batch substituted) and its buffer. */
typedef struct ptq_kt {
    int32_t ndim;
    int64_t ne[PTQ_MAX_DIMS];
    void *data;
} ptq_kt;

static inline int64_t ptq_kt_numel(const ptq_kt *t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t->ndim; i++) n *= t->ne[i];
    return n;
}

/* The concrete shape of value v at batch n (PTQ_DIM_BATCH replaced by n); data untouched. */
static inline void ptq_kt_concrete(const ptq_value *v, int64_t n, ptq_kt *kt) {
    kt->ndim = v->ndim;
    for (int32_t i = 0; i < v->ndim; i++) kt->ne[i] = v->ne[i] == PTQ_DIM_BATCH ? n : v->ne[i];
}

/* Work a kernel applies to its output before storing it, when the executor has fused
 * the nodes that followed it (Conv -> BatchNormalization -> activation, Add -> Relu).
 * Applied through ptq_epilogue_apply so a fused run rounds exactly like an unfused one. */
typedef struct ptq_epilogue {
    const float *scale, *shift; /* per output channel (BatchNormalization), or NULL */
    const ptq_node *act;        /* activation node (Relu, Clip, ...), or NULL */
} ptq_epilogue;

/* y[0..n) of output channel `channel`: y = y * scale[c] + shift[c], then act(y). */
void ptq_epilogue_apply(const ptq_epilogue *ep, int64_t channel, float *y, int64_t n);

/* Stores a kernel's result block for output channel `channel`: dst[i][j] =
 * epilogue(src[i * src_stride + j] + bias) for rows x cols, dst dense.  dst may equal
 * src when src_stride == cols.  src may be read up to 16 floats past its last row's end
 * (kernels keep that slack in their scratch).  Kept out of the FMA-contracted conv kernels so that the
 * rounding matches the separate Add/BatchNormalization/activation kernels exactly. */
void ptq_store_plane(float *dst, const float *src, int64_t rows, int64_t cols, int64_t src_stride,
                     float bias, const ptq_epilogue *ep, int64_t channel);

/* The per-channel affine form y = x * a + b of an inference BatchNormalization, computed
 * exactly as its kernel computes it. */
void ptq_bn_coefficients(const ptq_node *bn, const float *gamma, const float *beta,
                         const float *mean, const float *var, int64_t channels, float *a,
                         float *b);

/* True if op can run as a fused epilogue activation. */
bool ptq_is_activation(ptq_op op);

/* The nodes the values `want` depend on, in topological order, into sub (room for
 * g->n_nodes): what an executor must run to compute them.  Returns their count, or -1
 * when out of memory. */
int32_t ptq_graph_nodes_for(const ptq_graph *g, const int32_t *want, int32_t n_want, int32_t *sub);

/* Per-run context of a kernel call. */
typedef struct ptq_kctx {
    int32_t threads;     /* worker threads the kernel may use */
    float *work;         /* scratch: threads * work_floats floats, 64-byte aligned */
    size_t work_floats;  /* per thread */
    float *shared;       /* scratch shared by the threads (e.g. packed weights) */
    const ptq_epilogue *ep; /* fused epilogue for this call, or NULL (Conv and binary ops) */
} ptq_kctx;

/* ---- op traits: one row per IR op, the single place ops are declared ---------------- */

typedef ptq_status (*ptq_infer_fn)(ptq_graph *g, ptq_node *n, ptq_error *err);
typedef void (*ptq_forward_fn)(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in,
                               ptq_kt *out);
/* Scratch floats per thread a node needs for the given concrete input shapes. */
typedef size_t (*ptq_work_fn)(const ptq_node *n, const ptq_kt *in);

typedef struct ptq_op_traits {
    const char *name;        /* ONNX op type */
    int32_t min_inputs, max_inputs; /* max -1: variadic */
    int32_t n_outputs;       /* -1: one or more (Split) */
    uint32_t const_inputs;   /* bit i set: input i must be a constant (weights need not) */
    ptq_infer_fn infer;
    ptq_forward_fn forward;
    ptq_work_fn work;        /* per-thread scratch floats; NULL: none */
    ptq_work_fn work_shared; /* scratch floats shared by all threads; NULL: none */
} ptq_op_traits;

extern const ptq_op_traits ptq_op_table[PTQ_OP_COUNT];

/* Output size of one spatial axis of a sliding window (ONNX/PyTorch rules, ceil mode
 * included); < 1 if the window never fits. */
int64_t ptq_window_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe,
                       int ceil_mode);

/* Shape inference per op (shape.c). */
ptq_status ptq_infer_conv(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_gemm(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_matmul(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_broadcast(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_same(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_batch_norm(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_pool(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_global_pool(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_flatten(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_reshape(ptq_graph *g, ptq_node *n, ptq_error *err);
/* The output shape (attrs.ndim dims) a Reshape node n gives input x. */
ptq_status ptq_reshape_resolve(const ptq_node *n, const ptq_value *x, int64_t *out,
                               ptq_error *err);
ptq_status ptq_infer_transpose(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_concat(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_softmax(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_pad(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_gather(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_fake_quant(ptq_graph *g, ptq_node *n, ptq_error *err);

/* Forward kernels (kernels/). */
void ptq_fwd_conv(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
size_t ptq_work_conv(const ptq_node *n, const ptq_kt *in);
size_t ptq_work_conv_shared(const ptq_node *n, const ptq_kt *in);
void ptq_fwd_gemm(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
size_t ptq_work_gemm(const ptq_node *n, const ptq_kt *in);
size_t ptq_work_gemm_shared(const ptq_node *n, const ptq_kt *in);
void ptq_fwd_matmul(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
size_t ptq_work_matmul(const ptq_node *n, const ptq_kt *in);
size_t ptq_work_matmul_shared(const ptq_node *n, const ptq_kt *in);
void ptq_fwd_binary(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_unary(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_batch_norm(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
size_t ptq_work_batch_norm_shared(const ptq_node *n, const ptq_kt *in);
void ptq_fwd_softmax(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_pool(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
size_t ptq_work_pool(const ptq_node *n, const ptq_kt *in);
size_t ptq_work_pool_shared(const ptq_node *n, const ptq_kt *in);
void ptq_fwd_global_pool(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_copy(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_transpose(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_concat(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_pad(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_gather(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_fake_quant(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);

/* ---- spatial ops: Resize, ConvTranspose, Slice, Split ---- */
ptq_status ptq_infer_resize(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_conv_transpose(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_slice(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_split(ptq_graph *g, ptq_node *n, ptq_error *err);
void ptq_fwd_resize(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
size_t ptq_work_resize_shared(const ptq_node *n, const ptq_kt *in);
void ptq_fwd_conv_transpose(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
size_t ptq_work_conv_transpose(const ptq_node *n, const ptq_kt *in);
void ptq_fwd_slice(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_split(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
/* Resize's map of one axis (in -> out elements): for output index o the input indices
 * i0[o], i1[o] and the weight w1[o] of i1 (nearest: i1 = i0, w1 = 0); shared with the
 * backward. */
void ptq_resize_axis(const ptq_node *n, int32_t axis, int64_t in, int64_t out, int64_t *i0,
                     int64_t *i1, float *w1);
/* ConvTranspose geometry (1-D as H = 1), shared with the backward. */
typedef struct ptq_convt_geom {
    int64_t n, c, h, w, m, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw, group, cg, mg;
} ptq_convt_geom;
void ptq_conv_transpose_geom(const ptq_node *n, const ptq_kt *x, const ptq_kt *w,
                             const ptq_kt *y, ptq_convt_geom *g);
/* The input positions [*lo, *hi) whose output position i * s - p + kd lies in [0, out). */
void ptq_conv_transpose_range(int64_t in, int64_t out, int64_t s, int64_t p, int64_t kd,
                              int64_t *lo, int64_t *hi);



/* ---- elementwise, comparison and reduction ops ---- */
/* Shape inference (shape_math.c). */
ptq_status ptq_infer_nary_broadcast(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_expand(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_reduce(ptq_graph *g, ptq_node *n, ptq_error *err);
ptq_status ptq_infer_layer_norm(ptq_graph *g, ptq_node *n, ptq_error *err);
/* Which axes a reduce node reduces (bit i: axis i of an input of rank ndim), after its
 * axes were normalised by inference; 0 means the node is an identity. */
uint32_t ptq_reduce_mask(const ptq_node *n, int32_t ndim);
/* Kernels (kernels/math.c, reduce.c, layernorm.c). */
/* erf of n floats, vectorised (vmath.c): under 1 ulp from the exact value with FMA,
 * 1.2 ulp without. */
void ptq_erf_f32(const float *x, float *y, int64_t n);
void ptq_fwd_math_unary(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_math_binary(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_where(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_expand(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_reduce(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
void ptq_fwd_layer_norm(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out);
size_t ptq_work_layer_norm_shared(const ptq_node *n, const ptq_kt *in);
/* Cast of one float32 value to element type `to`, as a float32 value again: integer
 * types truncate toward zero and saturate at the type's range, bool gives 0/1 (ir/cast.c). */
float ptq_cast_value(float x, int32_t to);
/* The range of integer ONNX element type `to` as floats (the largest floats inside it);
 * false for non-integer types. */
bool ptq_cast_int_range(int32_t to, float *lo, float *hi);
/* Fuses the LayerNormalization pattern of exporters before opset 17 into LAYER_NORM
 * nodes (fuse_layernorm.c); *fused says how many. */
ptq_status ptq_fuse_layer_norm(ptq_graph *g, int32_t *fused, ptq_error *err);
/* Copies x (shape xs) broadcast into y (shape ys, numpy rules, xs broadcastable). */
void ptq_broadcast_copy(const ptq_kt *xs, ptq_kt *ys, int32_t threads);

/* Sum of a contiguous row of n floats in a fixed order (8 partial sums), shared by the
 * reductions and LayerNormalization so both round alike (kernels/reduce.c). */
float ptq_row_sum(const float *x, int64_t n);

/* Single-threaded sgemm wrapper over OpenBLAS (row-major, C = alpha*op(A)*op(B) + beta*C),
 * the one place the core calls the BLAS. */
void ptq_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc);

/* Makes the BLAS single-threaded: the core parallelises over its own work items, which
 * keeps results independent of the thread count. */
void ptq_threads_init(void);

/* ---- data files ---------------------------------------------------------------------- */

/* Reads up to `want` bytes from a gzFile (passed as void * to keep zlib.h out of here)
 * into a new buffer (*out, caller frees) that grows as data arrives; *got says how many
 * bytes there were. */
ptq_status ptq_gz_read_upto(void *gz, const char *path, size_t want, uint8_t **out, size_t *got,
                            ptq_error *err);

/* ---- import helpers ------------------------------------------------------------------ */

/* Constant folding (fold.c): evaluates node id if all its inputs are constants, turning
 * its outputs into constants and removing it.  *folded says whether it did. */
ptq_status ptq_fold_node(ptq_graph *g, int32_t id, bool *folded, ptq_error *err);
/* Removes nodes whose outputs nothing reads and which are not graph outputs (PTQ_ERR_NOMEM,
 * the graph unchanged, when its scratch cannot be allocated). */
ptq_status ptq_graph_remove_dead(ptq_graph *g, ptq_error *err);

/* True if value id is a constant. */
static inline bool ptq_is_const(const ptq_graph *g, int32_t id) {
    return id >= 0 && g->values[id].data != NULL;
}

/* Chooses which rows of a dataset file to load: given the file's row count and its
 * labels (n_file of them, or NULL without a labels file), returns a malloc'd array of
 * row indices (*n_rows of them), or NULL with err set (out of memory, or rows the
 * selection cannot find). */
typedef int64_t *(*ptq_row_select)(int64_t n_file, const int32_t *labels, void *ctx,
                                   int64_t *n_rows, ptq_error *err);

/* ptq_dataset_load for the rows `select` picks, in its order; only those are converted. */
ptq_dataset *ptq_dataset_load_select(const char *images, const char *labels,
                                     const ptq_preprocess *pp, ptq_row_select select, void *ctx,
                                     ptq_error *err);

/* The image-folder half of ptq_dataset_load_select (data_image.c): `images` is a
 * directory or one image file (ptq_is_image_source); `select` may be NULL (then the first
 * `limit` images, all when limit <= 0). */
ptq_dataset *ptq_image_dataset_load(const char *images, const ptq_preprocess *pp, int64_t limit,
                                    ptq_row_select select, void *ctx, ptq_error *err);

/* The residual blocks of g (blocks.c): writes each node's block index into block_of
 * (n_nodes entries, blocks numbered in topological order, each holding at least one
 * weighted layer when the graph has any) and returns the number of blocks, or -1 with err
 * set. */
int32_t ptq_graph_blocks(const ptq_graph *g, int32_t *block_of, ptq_error *err);

#endif
