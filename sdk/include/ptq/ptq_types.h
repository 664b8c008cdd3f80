/*
 * ptq_types.h — the plain types shared by the qcraft core and its plugins.
 *
 * This header is part of the plugin SDK: it is the vocabulary every other SDK header
 * uses, and it is what the core itself includes, so there is one definition of each
 * type.  Like every SDK header it includes only <stdint.h>, <stddef.h> and <stdbool.h>
 * and compiles as C11, C17 and C++17.
 *
 * ABI rules (docs/PLUGINS.md, "ABI rules", gives the rationale):
 *   - Only fixed-width integers cross the ABI: no C `enum` types, no bare `int` in structs.
 *     Constants are plain macros with explicit values.
 *   - Constants are never renumbered or reused.  New ops, dtypes and status codes are
 *     appended; a removed one leaves a commented-out hole.
 *   - Structs that may grow start with `uint32_t struct_size`; fields added later are
 *     appended under a `since x.y` comment, so an older plugin keeps working.
 */
#ifndef PTQ_TYPES_H
#define PTQ_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- versions ---- */

/* Version of the SDK (and of the ABI it defines).  A plugin built against major X is
 * loaded only by a host of major X; minor versions add API, never change it. */
#define PTQ_VERSION_MAJOR 0
#define PTQ_VERSION_MINOR 10
#define PTQ_VERSION_PATCH 0

typedef struct ptq_version {
    uint32_t major;
    uint32_t minor;
    uint32_t patch;
} ptq_version;

#define PTQ_VERSION_INIT {PTQ_VERSION_MAJOR, PTQ_VERSION_MINOR, PTQ_VERSION_PATCH}

/* True when the version v is at least maj.min.pat: lets a plugin opt into newer API.
 * (A function, not a macro, so comparisons against 0 draw no warnings.) */
static inline bool ptq_version_ge(ptq_version v, uint32_t maj, uint32_t min, uint32_t pat) {
    if (v.major != maj) return v.major > maj;
    if (v.minor != min) return v.minor > min;
    return v.patch >= pat;
}
#define PTQ_VERSION_GE(v, maj, min, pat) ptq_version_ge((v), (maj), (min), (pat))

/* ------------------------------------------------------------ status codes ---- */

/* Every fallible function returns a ptq_status; 0 is success, failures are negative.
 * The human-readable message travels separately (see ptq_error in ptq.h). */
typedef int32_t ptq_status;

#define PTQ_OK 0
#define PTQ_ERR_INVALID -1     /* malformed input: file, YAML, graph, argument */
#define PTQ_ERR_UNSUPPORTED -2 /* well-formed but not supported (op, dtype, attribute) */
#define PTQ_ERR_IO -3          /* a file could not be opened, read or written */
#define PTQ_ERR_NOMEM -4       /* an allocation failed or a size limit was exceeded */
#define PTQ_ERR_NUMERIC -5     /* NaN or Inf where a finite value was required */
#define PTQ_ERR_INTERNAL -6    /* a broken invariant that was caught without aborting */

/* --------------------------------------------------------------- data types ---- */

/* Element types.  Values follow ONNX TensorProto.DataType so conversions are identity. */
typedef uint32_t ptq_dtype;

#define PTQ_DTYPE_UNDEFINED 0
#define PTQ_DTYPE_F32 1
#define PTQ_DTYPE_U8 2
#define PTQ_DTYPE_I8 3
#define PTQ_DTYPE_I32 6
#define PTQ_DTYPE_I64 7

/* ----------------------------------------------------------------- tensors ---- */

/* Most dimensions a tensor may have. */
#define PTQ_MAX_DIMS 8

/* In a graph value's shape (and in folded int64 shape constants), the dimension that
 * follows the batch size: the symbolic `N` of an ONNX dim_param.  It is INT64_MIN so it
 * can never be mistaken for a real size or for Reshape's -1.  Concrete tensors never
 * contain it. */
#define PTQ_DIM_BATCH INT64_MIN

/* A borrowed view of a dense, C-ordered tensor.  ne[] lists dimensions outermost first
 * (ONNX order: N, C, H, W).  The view never owns `data`; its comment at the place it is
 * handed out says how long the pointer stays valid. */
typedef struct ptq_tensor_view {
    uint32_t struct_size; /* sizeof(ptq_tensor_view) as the producer compiled it */
    ptq_dtype dtype;
    int32_t ndim;
    int32_t reserved;
    int64_t ne[PTQ_MAX_DIMS];
    void *data;
} ptq_tensor_view;

/* ------------------------------------------------------------------ op kinds ---- */

/* Operators of the graph IR.  Names in comments are the ONNX op types they import from.
 * Append only: plugins switch on these numbers. */
typedef uint32_t ptq_op;

#define PTQ_OP_NONE 0
#define PTQ_OP_CONV 1               /* Conv (1-D and 2-D, grouped, depthwise) */
#define PTQ_OP_GEMM 2               /* Gemm */
#define PTQ_OP_MATMUL 3             /* MatMul */
#define PTQ_OP_ADD 4                /* Add */
#define PTQ_OP_SUB 5                /* Sub */
#define PTQ_OP_MUL 6                /* Mul */
#define PTQ_OP_DIV 7                /* Div */
#define PTQ_OP_RELU 8               /* Relu */
#define PTQ_OP_CLIP 9               /* Clip (bounds are constants, kept as attributes) */
#define PTQ_OP_LEAKY_RELU 10        /* LeakyRelu */
#define PTQ_OP_SIGMOID 11           /* Sigmoid */
#define PTQ_OP_HARD_SIGMOID 12      /* HardSigmoid */
#define PTQ_OP_HARD_SWISH 13        /* HardSwish */
#define PTQ_OP_TANH 14              /* Tanh */
#define PTQ_OP_BATCH_NORM 15        /* BatchNormalization (inference form) */
#define PTQ_OP_MAX_POOL 16          /* MaxPool */
#define PTQ_OP_AVERAGE_POOL 17      /* AveragePool */
#define PTQ_OP_GLOBAL_AVERAGE_POOL 18 /* GlobalAveragePool */
#define PTQ_OP_GLOBAL_MAX_POOL 19   /* GlobalMaxPool */
#define PTQ_OP_FLATTEN 20           /* Flatten */
#define PTQ_OP_RESHAPE 21           /* Reshape, Squeeze, Unsqueeze (target shape static) */
#define PTQ_OP_TRANSPOSE 22         /* Transpose */
#define PTQ_OP_CONCAT 23            /* Concat */
#define PTQ_OP_SOFTMAX 24           /* Softmax */
#define PTQ_OP_PAD 25               /* Pad (constant mode) */
#define PTQ_OP_GATHER 26            /* Gather with constant indices */
#define PTQ_OP_FAKE_QUANT 27        /* QuantizeLinear -> DequantizeLinear pair (float in/out) */
/* Spatial ops of detectors and segmenters (SDK 0.10). */
#define PTQ_OP_RESIZE 28            /* Resize, Upsample (nearest and linear) */
#define PTQ_OP_CONV_TRANSPOSE 29    /* ConvTranspose (1-D and 2-D, grouped) */
#define PTQ_OP_SLICE 30             /* Slice (starts/ends/axes/steps static) */
#define PTQ_OP_SPLIT 31             /* Split (several outputs) */
/* Elementwise, comparison and reduction ops of attention and normalisation (SDK 0.10).
 * Run-time values are float32; comparisons give 0/1 and Where reads nonzero as true. */
#define PTQ_OP_CAST 32              /* Cast (at run time: float, integer rounding, bool) */
#define PTQ_OP_POW 33               /* Pow */
#define PTQ_OP_SQRT 34              /* Sqrt */
#define PTQ_OP_EXP 35               /* Exp */
#define PTQ_OP_ERF 36               /* Erf */
#define PTQ_OP_NEG 37               /* Neg */
#define PTQ_OP_RECIPROCAL 38        /* Reciprocal */
#define PTQ_OP_MIN 39               /* Min (variadic, broadcasting) */
#define PTQ_OP_MAX 40               /* Max (variadic, broadcasting) */
#define PTQ_OP_EQUAL 41             /* Equal */
#define PTQ_OP_LESS 42              /* Less */
#define PTQ_OP_GREATER 43           /* Greater */
#define PTQ_OP_WHERE 44             /* Where */
#define PTQ_OP_EXPAND 45            /* Expand (target shape static) */
#define PTQ_OP_REDUCE_MEAN 46       /* ReduceMean */
#define PTQ_OP_REDUCE_SUM 47        /* ReduceSum */
#define PTQ_OP_REDUCE_MAX 48        /* ReduceMax */
#define PTQ_OP_LAYER_NORM 49        /* LayerNormalization */
#define PTQ_OP_COUNT 50

#ifdef __cplusplus
}
#endif

#endif /* PTQ_TYPES_H */
