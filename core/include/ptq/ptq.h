/*
 * ptq.h — the qcraft core library (libptq): graph IR, ONNX import, executor, datasets.
 *
 * This is the API of the core for the `ptq` CLI, the tests and (later) the pipeline
 * runner.  Plugins do not include it: their ABI is sdk/include/ptq/ptq_plugin.h, which
 * hands them opaque handles and a host function table.  The structs here may change
 * between releases; the SDK's may not.
 *
 * A worked example, evaluating a model on one batch:
 *
 *     ptq_error err = {0};
 *     ptq_graph *g = ptq_onnx_load("models/resnet20_fmnist.onnx", NULL, &err);
 *     if (!g) { fprintf(stderr, "%s\n", err.msg); return 1; }
 *     ptq_exec_options eo = ptq_exec_options_default();
 *     eo.max_batch = 256;
 *     ptq_exec *ex = ptq_exec_new(g, &eo, &err);
 *     ptq_exec_bind(ex, g->inputs[0], images);            // 256 x 1 x 28 x 28 floats
 *     ptq_exec_run(ex, 256, &err);
 *     const float *logits = ptq_exec_data(ex, g->outputs[0]);
 *     ptq_exec_free(ex);
 *     ptq_graph_free(g);
 *
 * Conventions:
 *   - Functions that can fail return ptq_status (or NULL) and fill a caller-provided
 *     ptq_error.  Whoever detects an error writes the message; callers only pass it on.
 *   - "owned by X" in a comment says who frees a pointer; "borrowed" means valid until
 *     the owner is freed or changed.
 *   - Shapes are int64, outermost dimension first (NCHW).
 */
#ifndef PTQ_H
#define PTQ_H

#include <stdarg.h>
#include <stdio.h>

#include "ptq/ptq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define PTQ_API
#else
#define PTQ_API __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------ errors ---- */

#define PTQ_ERROR_SIZE 4096 /* room for a pipeline's validation errors, one per line */

/* One error message and its status.  Zero-initialise before use; the first failure
 * writes it, so a message from the place that detected the problem is never
 * overwritten by a caller's vaguer one. */
typedef struct ptq_error {
    ptq_status status;
    char msg[PTQ_ERROR_SIZE];
} ptq_error;

/* Records status and a printf-style message in err (if err is non-NULL and still
 * empty) and returns status, so detectors can write `return ptq_error_set(...)`. */
PTQ_API ptq_status ptq_error_set(ptq_error *err, ptq_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ptq_error_set with a va_list, for functions that forward their own printf arguments. */
PTQ_API ptq_status ptq_error_setv(ptq_error *err, ptq_status status, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Prefixes the message already in err with "<prefix>: " (for context such as a file
 * name); a no-op on an empty error. */
PTQ_API void ptq_error_prefix(ptq_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short name of a status code ("invalid", "unsupported", ...). */
PTQ_API const char *ptq_status_name(ptq_status status);

/* ----------------------------------------------------------------- tensors ---- */

/* A dense, C-ordered tensor that owns its data. */
typedef struct ptq_tensor {
    ptq_dtype dtype;
    int32_t ndim;
    int64_t ne[PTQ_MAX_DIMS];
    void *data; /* owned, ptq_tensor_numel() elements of ptq_dtype_size(dtype) bytes */
} ptq_tensor;

/* Bytes per element of dtype, 0 for types the core does not store. */
PTQ_API size_t ptq_dtype_size(ptq_dtype dtype);
/* "float32", "int64", ... */
PTQ_API const char *ptq_dtype_name(ptq_dtype dtype);

/* Element count of a concrete shape, or -1 when a dimension is negative or the product
 * exceeds PTQ_MAX_ELEMENTS (so callers never allocate an absurd size). */
PTQ_API int64_t ptq_shape_numel(int32_t ndim, const int64_t *ne);
#define PTQ_MAX_ELEMENTS ((int64_t)1 << 31)

/* Allocates a zeroed tensor.  Returns NULL and fills err on a bad shape or no memory.
 * Free with ptq_tensor_free(). */
PTQ_API ptq_tensor *ptq_tensor_new(ptq_dtype dtype, int32_t ndim, const int64_t *ne,
                                   ptq_error *err);
PTQ_API ptq_tensor *ptq_tensor_clone(const ptq_tensor *t, ptq_error *err);
PTQ_API void ptq_tensor_free(ptq_tensor *t);
PTQ_API int64_t ptq_tensor_numel(const ptq_tensor *t);

/* Formats a shape as "[N,16,28,28]" into buf (PTQ_DIM_BATCH prints as N). */
PTQ_API const char *ptq_shape_str(int32_t ndim, const int64_t *ne, char *buf, size_t size);

/* -------------------------------------------------------------- graph IR ---- */

/* Operator attributes, one struct per family, resolved at import (auto_pad becomes
 * explicit pads, defaults are filled in, negative axes are normalised). */
/* auto_pad as ONNX spells it; shape inference resolves it into explicit pads and
 * resets it to NOTSET, so kernels only ever read pad_begin/pad_end. */
#define PTQ_AUTO_PAD_NOTSET 0
#define PTQ_AUTO_PAD_SAME_UPPER 1
#define PTQ_AUTO_PAD_SAME_LOWER 2
#define PTQ_AUTO_PAD_VALID 3

typedef struct ptq_conv_attrs {
    int32_t n_spatial; /* 1 or 2 */
    int32_t auto_pad;
    int64_t kernel[2], stride[2], dilation[2], pad_begin[2], pad_end[2];
    int64_t group;
} ptq_conv_attrs;

typedef struct ptq_pool_attrs {
    int32_t n_spatial; /* 1 or 2; 0 for the global pools */
    int32_t auto_pad;
    int32_t ceil_mode;
    int32_t count_include_pad;
    int64_t kernel[2], stride[2], dilation[2], pad_begin[2], pad_end[2];
} ptq_pool_attrs;

typedef struct ptq_gemm_attrs {
    float alpha, beta;
    int32_t trans_a, trans_b;
} ptq_gemm_attrs;

typedef struct ptq_node_attrs {
    ptq_conv_attrs conv;  /* CONV */
    ptq_pool_attrs pool;  /* MAX_POOL, AVERAGE_POOL, GLOBAL_* */
    ptq_gemm_attrs gemm;  /* GEMM */
    float alpha, beta;    /* LEAKY_RELU (alpha), HARD_SIGMOID (alpha, beta) */
    float clip_min, clip_max; /* CLIP, -inf/+inf when absent */
    float epsilon;        /* BATCH_NORM */
    int64_t axis;         /* FLATTEN, CONCAT, SOFTMAX, GATHER (normalised, >= 0) */
    int32_t softmax_legacy; /* SOFTMAX before opset 13: coerce to 2-D at axis */
    int32_t ndim;         /* RESHAPE: rank of `shape`; TRANSPOSE: rank of `perm` */
    int32_t allowzero;    /* RESHAPE: a 0 in `shape` means 0, not "copy the input's" */
    int64_t shape[PTQ_MAX_DIMS]; /* RESHAPE: target as ONNX gives it (0, -1 allowed),
                                    PTQ_DIM_BATCH where the batch size goes */
    int64_t perm[PTQ_MAX_DIMS];  /* TRANSPOSE */
    int64_t pads[2 * PTQ_MAX_DIMS]; /* PAD: begin[0..ndim), end[0..ndim) */
    float pad_value;      /* PAD */
    int32_t qmin, qmax;   /* FAKE_QUANT: integer range (inputs: x, scale [n], zero point [n]) */
    int32_t q_axis;       /* FAKE_QUANT: channel axis of per-channel parameters, -1 per tensor */
    /* FAKE_QUANT: a plugin's rounding function (ptq_rounding *) and its state, or NULL
     * for round half to even; borrowed from the session's quantizer. */
    const void *q_rounding;
    void *q_rounding_state;

    /* ---- spatial ops: Resize, ConvTranspose, Slice, Split ---- */
#define PTQ_RESIZE_NEAREST 0
#define PTQ_RESIZE_LINEAR 1
#define PTQ_RESIZE_COORD_HALF_PIXEL 0
#define PTQ_RESIZE_COORD_ASYMMETRIC 1
#define PTQ_RESIZE_COORD_PYTORCH_HALF_PIXEL 2
#define PTQ_RESIZE_COORD_ALIGN_CORNERS 3
#define PTQ_RESIZE_COORD_TF_HALF_PIXEL 4
#define PTQ_RESIZE_COORD_HALF_PIXEL_SYMMETRIC 5
#define PTQ_RESIZE_ROUND_PREFER_FLOOR 0
#define PTQ_RESIZE_ROUND_PREFER_CEIL 1
#define PTQ_RESIZE_FLOOR 2
#define PTQ_RESIZE_CEIL 3
#define PTQ_RESIZE_SIMPLE 4 /* Upsample, Resize-10: floor enlarging, ceil shrinking */
#define PTQ_SPLIT_MAX 32 /* outputs of one Split */

    /* CONV_TRANSPOSE uses `conv` (kernel, strides, dilations, pads, group) and this.
     * output_shape, when given, is resolved into pads by shape inference. */
    struct ptq_convt_attrs {
        int64_t output_padding[2];
        int64_t output_shape[2]; /* 0: not given */
    } convt;
    /* RESIZE (and Upsample): per-axis output sizes or scales, fixed at import. */
    struct ptq_resize_attrs {
        int32_t mode;         /* PTQ_RESIZE_NEAREST, PTQ_RESIZE_LINEAR */
        int32_t coord;        /* PTQ_RESIZE_COORD_* */
        int32_t nearest_mode; /* PTQ_RESIZE_ROUND_* */
        int32_t ndim;         /* entries of scales/sizes (the input's rank) */
        int32_t opset;        /* the model's opset (export writes that form back) */
        float scales[PTQ_MAX_DIMS];  /* used by the coordinate transform */
        int64_t sizes[PTQ_MAX_DIMS]; /* output sizes (PTQ_DIM_BATCH on the batch axis);
                                        all 0 until resolved from scales */
        int32_t from_sizes;   /* the model gave sizes (scales = sizes / input) */
    } resize;
    /* SLICE: the starts/ends/axes/steps as the model gave them (n entries), and per axis
     * of the input the resolved first index and step (shape inference). */
    struct ptq_slice_attrs {
        int32_t n;
        int64_t starts[PTQ_MAX_DIMS], ends[PTQ_MAX_DIMS], axes[PTQ_MAX_DIMS],
            steps[PTQ_MAX_DIMS];
        int64_t first[PTQ_MAX_DIMS], step[PTQ_MAX_DIMS];
    } slice;
    /* SPLIT: along `axis` (normalised by shape inference), sizes per output; n 0 means
     * equal parts. */
    struct ptq_split_attrs {
        int32_t n;
        int64_t sizes[PTQ_SPLIT_MAX];
    } split;



    /* ---- elementwise, comparison and reduction ops ---- */
    int32_t cast_to;      /* CAST: ONNX element type of the result (values stay float32) */
    int32_t keepdims;     /* REDUCE_*: keep reduced axes as size 1 */
    int32_t noop_with_empty_axes; /* REDUCE_*: no axes means identity, not "all axes" */
    int32_t n_axes;       /* REDUCE_*: entries of axes[], -1 when absent (all axes) */
    int64_t axes[PTQ_MAX_DIMS]; /* REDUCE_*: as ONNX gives them; normalised by inference */
    int32_t expand_ndim;  /* EXPAND: rank of expand_shape */
    int64_t expand_shape[PTQ_MAX_DIMS]; /* EXPAND: target, PTQ_DIM_BATCH allowed */
    /* LAYER_NORM uses axis (normalised, >= 0) and epsilon above. */

} ptq_node_attrs;

typedef struct ptq_node {
    char *name;         /* owned; unique, from ONNX or generated ("Conv_3") */
    ptq_op op;          /* PTQ_OP_NONE marks a node removed by a rewrite */
    int32_t n_inputs;   /* entries of inputs[]; -1 marks an omitted optional input */
    int32_t *inputs;    /* owned; value ids */
    int32_t n_outputs;
    int32_t *outputs;   /* owned; value ids */
    ptq_node_attrs attrs;
} ptq_node;

#define PTQ_VALUE_INPUT 1u  /* a graph input fed at run time */
#define PTQ_VALUE_OUTPUT 2u /* a graph output */

typedef struct ptq_value {
    char *name;         /* owned; unique */
    ptq_dtype dtype;
    int32_t ndim;
    int64_t ne[PTQ_MAX_DIMS]; /* PTQ_DIM_BATCH marks the batch dimension */
    ptq_tensor *data;   /* owned; constant contents (initializer or folded), else NULL */
    int32_t producer;   /* id of the producing node, -1 for inputs and constants */
    uint32_t flags;     /* PTQ_VALUE_* */
} ptq_value;

/* A graph: values and nodes in topological order.  Everything is owned by the graph. */
typedef struct ptq_graph {
    ptq_value *values;
    int32_t n_values, cap_values;
    ptq_node *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t *inputs;  /* value ids of the run-time inputs, in ONNX order */
    int32_t n_inputs;
    int32_t *outputs; /* value ids of the outputs, in ONNX order */
    int32_t n_outputs;
    int64_t opset;    /* default-domain opset the model was imported with */
    char *name;       /* owned, may be NULL */
    char **meta_keys, **meta_values; /* owned: the model's metadata_props, in file order */
    int32_t n_meta;
} ptq_graph;

/* ONNX op type of an IR op ("Conv"), and back (PTQ_OP_NONE when not an IR op). */
PTQ_API const char *ptq_op_name(ptq_op op);
PTQ_API ptq_op ptq_op_from_name(const char *onnx_op_type);

PTQ_API ptq_graph *ptq_graph_new(void);
/* The value of metadata key `key` (ONNX metadata_props), or NULL. */
PTQ_API const char *ptq_graph_meta(const ptq_graph *g, const char *key);
/* Sets (adds or replaces) a metadata entry; both strings are copied.  -1 if out of memory. */
PTQ_API int ptq_graph_set_meta(ptq_graph *g, const char *key, const char *value);
PTQ_API void ptq_graph_free(ptq_graph *g);

/* Adds a value; name is copied.  Returns its id, or -1 with err set on a duplicate
 * name, a bad shape, or no memory. */
PTQ_API int32_t ptq_graph_add_value(ptq_graph *g, const char *name, ptq_dtype dtype,
                                    int32_t ndim, const int64_t *ne, ptq_error *err);
/* Adds a constant value holding t; the graph takes ownership of t (also on failure). */
PTQ_API int32_t ptq_graph_add_constant(ptq_graph *g, const char *name, ptq_tensor *t,
                                       ptq_error *err);
/* Id of the value with that name, -1 if none. */
PTQ_API int32_t ptq_graph_find_value(const ptq_graph *g, const char *name);
/* Appends a node with default attributes (caller fills node->attrs through the returned
 * id); marks its outputs as produced by it.  Returns the node id or -1. */
PTQ_API int32_t ptq_graph_add_node(ptq_graph *g, ptq_op op, const char *name,
                                   int32_t n_inputs, const int32_t *inputs, int32_t n_outputs,
                                   const int32_t *outputs, ptq_error *err);

/* Infers the output shapes of node id from its inputs and attributes, and checks the
 * inputs (ranks, channel counts, broadcastability).  Fills the output values. */
PTQ_API ptq_status ptq_graph_infer_node(ptq_graph *g, int32_t node, ptq_error *err);
/* Infers every node in order. */
PTQ_API ptq_status ptq_graph_infer_shapes(ptq_graph *g, ptq_error *err);

/* Checks the structural invariants: every input defined before use, single producer,
 * outputs reachable, shapes consistent.  Cheap; run it after every rewrite in tests. */
PTQ_API ptq_status ptq_graph_validate(const ptq_graph *g, ptq_error *err);

/* A deep copy of g (values, constants, nodes).  NULL with err set on no memory. */
PTQ_API ptq_graph *ptq_graph_clone(const ptq_graph *g, ptq_error *err);

/* Ids of the nodes reading value id (at most max written); returns how many read it. */
PTQ_API int32_t ptq_graph_readers(const ptq_graph *g, int32_t id, int32_t *nodes, int32_t max);

/* Drops removed nodes (op NONE) and values nothing uses any more, renumbering ids. */
PTQ_API ptq_status ptq_graph_compact(ptq_graph *g, ptq_error *err);

/* Number of trainable/weight parameters: elements of float constants used by nodes. */
PTQ_API int64_t ptq_graph_param_count(const ptq_graph *g);

/* Prints inputs, outputs, op counts, parameter count and every node with its output
 * shape (what `ptq inspect` shows). */
PTQ_API void ptq_graph_print(const ptq_graph *g, FILE *out);

/* ------------------------------------------------------------ ONNX import ---- */

typedef struct ptq_import_options {
    /* Graph inputs to turn into constants at import, e.g. a Reshape's shape or the
     * bounds of a Clip that a test feeds as inputs.  Names and tensors are borrowed. */
    int32_t n_bind;
    const char *const *bind_names;
    const ptq_tensor *const *bind_values;
    /* The shape of the first graph input, for models whose height, width... are symbolic
     * (`['batch', 3, 'height', 'width']`): input_ndim values, the input's rank or one
     * less (then without the batch).  A value > 0 fixes that axis (a symbolic batch stays
     * symbolic); <= 0 keeps the declared one.  A value that contradicts a static
     * dimension is an error naming the input and axis.  input_ndim 0: no override. */
    int32_t input_ndim;
    const int64_t *input_shape;
} ptq_import_options;

/* The first graph input of a model as declared, read without importing the graph (what a
 * caller needs to pick a shape for ptq_import_options.input_shape). */
typedef struct ptq_input_info {
    char name[128];
    int32_t ndim;
    int64_t ne[PTQ_MAX_DIMS];          /* > 0 static, -1 symbolic or unknown */
    char dim_name[PTQ_MAX_DIMS][64];   /* a symbolic dim's name ("" if it has none) */
    int32_t n_symbolic;                /* symbolic dims after the batch (axis 0) */
} ptq_input_info;

PTQ_API ptq_status ptq_onnx_input_info(const char *path, ptq_input_info *info, ptq_error *err);

/* Loads an ONNX model (opsets 11 to 17) into a new graph with shapes inferred and every
 * constant subgraph (Shape, Gather, Unsqueeze... of static shapes) folded.  Returns NULL
 * and fills err on any problem, naming the file and node; nothing is half-loaded.
 * opts may be NULL. */
PTQ_API ptq_graph *ptq_onnx_load(const char *path, const ptq_import_options *opts,
                                 ptq_error *err);
/* The same from memory; `what` names the source in messages. */
PTQ_API ptq_graph *ptq_onnx_load_buffer(const uint8_t *buf, size_t len, const char *what,
                                        const ptq_import_options *opts, ptq_error *err);
/* Reads a serialized TensorProto (the .pb files of ONNX test cases). */
PTQ_API ptq_tensor *ptq_onnx_load_tensor(const char *path, ptq_error *err);

/* Largest file the importer reads: ONNX models over 2 GiB need external data anyway. */
#define PTQ_MAX_MODEL_BYTES ((size_t)2 << 30)

/* -------------------------------------------------------------- executor ---- */

typedef struct ptq_exec ptq_exec;

typedef struct ptq_exec_options {
    /* Nodes to run, in topological order; NULL runs the whole graph.  Values a subset
     * reads but does not produce are its inputs (bind them); constants bind themselves. */
    const int32_t *nodes;
    int32_t n_nodes;
    /* Largest batch ptq_exec_run() will be called with; buffers are sized for it. */
    int64_t max_batch;
    /* Values whose contents must survive the run besides the graph outputs (e.g. a
     * layer's output for calibration).  Borrowed. */
    const int32_t *keep;
    int32_t n_keep;
    /* Keep every intermediate value (no buffer reuse): for debugging and, later, the
     * backward pass. */
    bool keep_all;
    /* Worker threads, 0 = ptq_default_threads(). */
    int32_t threads;
    /* Time every kernel call (see ptq_exec_profile); costs two clock reads per node. */
    bool profile;
    /* Never split the batch into per-thread lanes (see ptq_exec_new); each kernel then
     * parallelises on its own.  Results are the same either way. */
    bool single_lane;
} ptq_exec_options;

PTQ_API ptq_exec_options ptq_exec_options_default(void);

/* Plans execution: order, fusion, buffer sizes with reuse of dead buffers, scratch.
 * When every run-time value has the batch as its leading dimension and max_batch is at
 * least twice the thread count, each thread runs the whole node list on its own slice
 * of the batch ("lanes": no barrier between layers, which matters for networks of many
 * small layers); otherwise every kernel splits its work across the threads.  Each
 * sample is computed the same way in both modes, so results are bitwise identical for
 * any batch size and thread count.  The graph is borrowed and must not change while
 * the executor lives. */
PTQ_API ptq_exec *ptq_exec_new(const ptq_graph *g, const ptq_exec_options *opts,
                               ptq_error *err);
PTQ_API void ptq_exec_free(ptq_exec *ex);

/* Feeds value `id` (an input of the planned nodes) from caller memory holding `batch`
 * samples in C order.  The pointer is borrowed until the next bind or run. */
PTQ_API ptq_status ptq_exec_bind(ptq_exec *ex, int32_t id, const void *data);

/* Runs the planned nodes for `batch` samples (1..max_batch). */
PTQ_API ptq_status ptq_exec_run(ptq_exec *ex, int64_t batch, ptq_error *err);

/* Contents of value id after a run: an output, a kept value, a constant or a bound
 * input; NULL for a value whose buffer was reused.  Borrowed until the next run. */
PTQ_API const void *ptq_exec_data(const ptq_exec *ex, int32_t id);
/* Concrete shape of value id in the last run. */
PTQ_API void ptq_exec_shape(const ptq_exec *ex, int32_t id, int32_t *ndim, int64_t *ne);

/* Bytes of activation memory the plan uses (after reuse) and would use without it. */
PTQ_API size_t ptq_exec_arena_bytes(const ptq_exec *ex, size_t *without_reuse);

/* Prints, per kernel call, the accumulated wall time of all runs so far, its share, and
 * the nodes it covers (fused nodes are listed with the node that runs them), slowest
 * first.  Needs opts.profile. */
PTQ_API void ptq_exec_profile(const ptq_exec *ex, FILE *out);

/* Threads used when a caller asks for 0: $PTQ_THREADS, else the online CPU count. */
PTQ_API int32_t ptq_default_threads(void);

/* -------------------------------------------------------------- datasets ---- */

/* How image files are brought to the model's size (ptq_preprocess.resize). */
#define PTQ_RESIZE_NONE 0      /* as they are: every image must have the same size */
#define PTQ_RESIZE_STRETCH 1   /* to resize_h x resize_w, aspect ratio not kept */
#define PTQ_RESIZE_LETTERBOX 2 /* aspect kept, centred, borders filled with pad_value */
/* The channels image files are decoded to (ptq_preprocess.channels). */
#define PTQ_CHANNELS_AUTO 0    /* RGB (3 channels) */
#define PTQ_CHANNELS_RGB 1
#define PTQ_CHANNELS_BGR 2     /* OpenCV-trained models */
#define PTQ_CHANNELS_GRAY 3    /* 1 channel: ITU-R 601 luma of colour images (as PIL's "L") */

/* Preprocessing applied when images are loaded: x = (x * scale - mean[c]) / std[c].
 * The fields after std apply to image files and folders only (PNG, JPEG), which are
 * decoded to 8 bits, converted to `channels`, resized, then scaled and normalised. */
typedef struct ptq_preprocess {
    float scale; /* 0 = automatic: 1/255 for uint8 data and image files, 1 for float data */
    int32_t n_mean, n_std; /* 0, 1 (all channels) or C entries */
    float mean[16], std[16];
    int32_t resize;            /* PTQ_RESIZE_* */
    int32_t resize_h, resize_w; /* the size for STRETCH and LETTERBOX */
    float pad_value;           /* letterbox border in 0..255 pixel units (before scale) */
    int32_t channels;          /* PTQ_CHANNELS_* */
    bool labels_from_folders;  /* label = index of the image's class subfolder, sorted */
    bool skip_bad;             /* warn about and skip unreadable image files (else: fail) */
} ptq_preprocess;

/* N images of C x H x W floats, optionally with int labels.  Owns its memory. */
typedef struct ptq_dataset {
    int64_t n;
    int32_t c, h, w;
    float *images;   /* n*c*h*w floats */
    int32_t *labels; /* n labels, or NULL */
    int32_t n_classes; /* 1 + largest label, 0 without labels */
    int64_t n_skipped; /* unreadable image files skipped (ptq_preprocess.skip_bad) */
    char **files;      /* image sources: the file of each image, in order; else NULL */
} ptq_dataset;

/* Loads images from an IDX file (MNIST family, plain or gzip) or a NumPy .npy file
 * (float32 or uint8, C order; N x H x W, N x C x H x W), and labels from IDX or .npy
 * (integer types).  labels may be NULL.  limit > 0 keeps the first `limit` samples.
 * Errors name the file and what is wrong with it. */
PTQ_API ptq_dataset *ptq_dataset_load(const char *images, const char *labels,
                                      const ptq_preprocess *pp, int64_t limit, ptq_error *err);
PTQ_API void ptq_dataset_free(ptq_dataset *ds);

/* Image folders and files.  `images` may also name a directory: every *.png, *.jpg and
 * *.jpeg (any case) under it, recursively, hidden entries skipped, in byte order of their
 * paths relative to it; or one such file.  With pp->labels_from_folders each image's label
 * is the index of its first-level subfolder among the sorted subfolder names
 * (torchvision's ImageFolder layout); labels must then be NULL.  Decoding: grey PNGs are
 * replicated into RGB, alpha is dropped, 16-bit samples are scaled to 8 bits, palettes
 * expanded; CMYK JPEGs are refused. */
PTQ_API bool ptq_is_image_source(const char *path);

/* The normalization a model was trained with, from the sidecar MODEL.json beside
 * MODEL.onnx (the bundled models carry "mean" and "std": one number, or a list of one per
 * channel).  Sets pp's mean and std and returns true when the file exists and has
 * usable ones (every std positive); leaves pp alone otherwise.  `path` (may be NULL)
 * receives the sidecar's path. */
PTQ_API bool ptq_sidecar_normalization(const char *model, ptq_preprocess *pp, char *path,
                                       size_t path_size);

/* The metadata keys an exported model carries its input normalization in (comma-separated
 * floats, one per channel or one for all): what `ptq eval` applies without --mean/--std. */
#define PTQ_META_NORM_MEAN "qcraft.normalize.mean"
#define PTQ_META_NORM_STD "qcraft.normalize.std"

/* The normalization model g (loaded from `model`) expects: its PTQ_META_NORM_* metadata,
 * else the sidecar MODEL.json.  Returns true and fills pp (mean/std) and `source` (a
 * phrase for messages: "metadata of X" or the sidecar path) when one is known. */
PTQ_API bool ptq_model_normalization(const char *model, const ptq_graph *g, ptq_preprocess *pp,
                                     char *source, size_t source_size);

/* Formats n floats as "a,b,c" with the shortest form that reads back exactly. */
PTQ_API void ptq_format_floats(const float *v, int32_t n, char *buf, size_t size);

/* Lower-level readers, also used by the tests.  Each returns a tensor holding the file's
 * raw contents (uint8, int8, int32, int64 or float32) or NULL with err set. */
PTQ_API ptq_tensor *ptq_idx_read(const char *path, ptq_error *err);
PTQ_API ptq_tensor *ptq_npy_read(const char *path, ptq_error *err);
/* Writes a float32 C-order .npy atomically (a temporary file beside it, then rename). */
PTQ_API ptq_status ptq_npy_write_f32(const char *path, int32_t ndim, const int64_t *ne,
                                     const float *data, ptq_error *err);

/* Largest data file the loaders accept after decompression. */
#define PTQ_MAX_DATA_BYTES ((size_t)8 << 30)

/* ------------------------------------------------------------ evaluation ---- */

typedef struct ptq_eval_result {
    int64_t images;
    int64_t correct;
    double top1;     /* correct / images */
    double seconds;  /* inference only: wall time of the executor runs */
} ptq_eval_result;

/* Whether ds can be fed to g: one N x C x H x W input matching the images; with
 * `classify`, also labels and a batch x classes output with enough classes.  PTQ_OK, or
 * the mismatch in err. */
PTQ_API ptq_status ptq_dataset_fits_model(const ptq_graph *g, const ptq_dataset *ds,
                                          bool classify, ptq_error *err);

/* Classifies every image of ds (which must have labels) with g in batches and counts
 * top-1 hits.  threads 0 means ptq_default_threads().  With profile non-NULL, the
 * per-node time table (ptq_exec_profile) is printed there at the end. */
PTQ_API ptq_status ptq_evaluate(const ptq_graph *g, const ptq_dataset *ds, int64_t batch,
                                int32_t threads, FILE *profile, ptq_eval_result *res,
                                ptq_error *err);
/* The same, also writing each image's top-1 class into predicted[ds->n] (when non-NULL):
 * what a paired comparison of two models on the same images needs. */
PTQ_API ptq_status ptq_evaluate_predict(const ptq_graph *g, const ptq_dataset *ds, int64_t batch,
                                        int32_t threads, FILE *profile, int32_t *predicted,
                                        ptq_eval_result *res, ptq_error *err);

/* ------------------------------------------------- fidelity (no labels) ---- */

/* How closely one graph output of a model follows the same output of a reference model
 * (the float one) over a set of images.  Every sum is a double, summed per sample and
 * then in sample order, so the numbers do not depend on the batch size or the threads.
 * Elements where either model gave NaN or an infinity are counted (nonfinite_*) and left
 * out of the sums, so one bad value neither crashes nor hides the rest. */
typedef struct ptq_fidelity_output {
    char *name;                 /* owned: the reference model's output name */
    int32_t ndim;
    int64_t ne[PTQ_MAX_DIMS];   /* the reference's shape, PTQ_DIM_BATCH for the batch */
    bool classes;               /* a class-score output ([N, K], K >= 2): top-1 computed */
    int64_t samples, elements;  /* images seen, finite element pairs summed */
    int64_t nonfinite_reference, nonfinite_model; /* elements that were NaN or infinite */
    /* running sums (ptq_fidelity_finish turns them into the metrics below) */
    double sum_ref2, sum_err2, sum_model2, sum_dot, sum_abs_err, sum_sample_cos;
    int64_t agree;              /* class outputs: samples whose top-1 class agrees */
    /* the metrics; NaN where undefined (JSON null) */
    double sqnr_db;             /* 10 log10(sum x^2 / sum (x - xq)^2); +inf when identical */
    double cosine;              /* over the whole output as one vector */
    double mean_sample_cosine;  /* the mean over samples of each sample's cosine */
    double max_abs_err, mean_abs_err;
    double top1_agreement;      /* fraction of samples, class outputs only (else NaN) */
} ptq_fidelity_output;

typedef struct ptq_fidelity {
    int64_t images;
    int32_t n_outputs;
    ptq_fidelity_output *outputs; /* owned: one per graph output, in graph order */
    double seconds;               /* inference of both models */
} ptq_fidelity;

/* Runs reference and model on every image of ds (labels unused) in batches, streaming,
 * and compares graph output k of model with output k of reference for every k.  The two
 * must take the same input and have as many outputs of the same per-sample sizes (a QDQ
 * export of the reference does).  *res is filled (free it with ptq_fidelity_free, also
 * after an error). */
PTQ_API ptq_status ptq_fidelity_evaluate(const ptq_graph *reference, const ptq_graph *model,
                                         const ptq_dataset *ds, int64_t batch, int32_t threads,
                                         ptq_fidelity *res, ptq_error *err);
PTQ_API void ptq_fidelity_free(ptq_fidelity *res);
/* "[N,10]: SQNR 34.2 dB, cosine 0.9996, max|err| 0.41, mean|err| 0.021, top-1 agreement
 * 99.1 %" (and the non-finite counts when there were any) into buf: the one wording the
 * CLI and the pipeline print. */
PTQ_API const char *ptq_fidelity_output_str(const ptq_fidelity_output *o, char *buf, size_t size);

/* Progress of ptq_evaluate: called after each batch with images done and the total.
 * NULL (the default) reports nothing.  Process-wide; set it from one thread. */
typedef void (*ptq_progress_fn)(void *ctx, const char *what, int64_t done, int64_t total);
PTQ_API void ptq_set_eval_progress(ptq_progress_fn fn, void *ctx);

/* ----------------------------------------------------------- quantization ---- */

/* Observers: how a quantizer's range is chosen. */
#define PTQ_OBSERVER_MINMAX 0     /* the full range seen */
#define PTQ_OBSERVER_PERCENTILE 1 /* clip the tails at a percentile */
#define PTQ_OBSERVER_MSE 2        /* the clipping range minimising the quantization MSE */
#define PTQ_OBSERVER_KL 3         /* TensorRT's entropy (KL divergence) calibration */
#define PTQ_OBSERVER_COUNT 4

/* What the configuration asks of one quantizer. */
typedef struct ptq_qspec {
    int32_t bits;        /* 2..8 or 16 */
    bool symmetric;      /* zero point 0, signed grid */
    bool per_channel;    /* one scale per output channel (weights: axis 0) */
    int32_t observer;    /* PTQ_OBSERVER_* */
    float percentile;    /* PERCENTILE: e.g. 99.99 (percent of values kept) */
    int32_t max_code;    /* weights: the largest |integer| the deployment target multiplies
                          * exactly (the grid is cut to [-max_code, max_code]); 0: no limit */
    /* The MSE observer's search, as the reference codes define it (METHODS.md 0.2): */
    float mse_p;         /* the exponent: candidates score mean |x - x_hat|^p; 0 means 2 */
    int32_t search;      /* PTQ_SEARCH_*: the candidate ranges */
    int64_t images;      /* activations: calibration images the observer sees, 0 = all */
} ptq_qspec;

/* Candidate ranges of the MSE observer. */
#define PTQ_SEARCH_AUTO 0    /* weights: SHRINK; activations: one-sided data (min >= 0, or
                              * |x| on a symmetric grid) max = range * i / 100, i = 100..1,
                              * else SHRINK; ties keep the wider range */
#define PTQ_SEARCH_SHRINK 1  /* BRECQ: both ends of (min, max) times 1 - 0.01 i, i = 0..79 */
#define PTQ_SEARCH_MQBENCH 2 /* QDrop/MQBench MSEObserver: one-sided or symmetric data
                              * thres = max(|min|, max) * i / 100, i = 1..100; two-sided data
                              * on an asymmetric grid every (range (max - min) * i / 100,
                              * zero point) pair; ties keep the first */
#define PTQ_SEARCH_COUNT 3

/* Deployment targets (quantization.target): what the exported integers must satisfy for
 * onnxruntime's integer kernels to compute exactly what the simulation computes.
 *
 * x86 CPUs without VNNI (AVX2, AVX-512 before Cascade Lake) multiply uint8 activations by
 * int8 weights with VPMADDUBSW, which adds two u8*s8 products in a saturating int16: with
 * |w| > 64 a pair can exceed 32767 (255*127*2 = 64770) and the sum is clipped.  With every
 * |w| <= 64 no pair can (255*64*2 = 32640), so PORTABLE cuts 8-bit weight grids to
 * [-64, 64] (what onnxruntime's own quantizer calls reduce_range).  VNNI (VPDPBUSD) and
 * ARM's dot products accumulate in int32 and never saturate: VNNI keeps the full grid.
 * onnxruntime's QLinearConv takes one weight zero point for all channels, so asymmetric
 * per-channel weights are exported zero-point-free (code - zero point, zero point 0), which
 * fits the target's range only up to 6 bits (PORTABLE) or 7 bits (VNNI).  NONE applies no
 * rule: the export is exact QDQ, but onnxruntime's integer kernels may refuse it or
 * saturate. */
#define PTQ_TARGET_PORTABLE 0 /* exact on every CPU onnxruntime runs on (the default) */
#define PTQ_TARGET_VNNI 1     /* exact only with VNNI (or on ARM); full 8-bit weight grids */
#define PTQ_TARGET_NONE 2     /* simulation only: no deployment rule */
#define PTQ_TARGET_COUNT 3
#define PTQ_PORTABLE_MAX_CODE 64

PTQ_API const char *ptq_target_name(int32_t target);
PTQ_API int32_t ptq_target_from_name(const char *name); /* -1 if unknown */
/* The most bits an asymmetric per-channel weight grid may have on `target` (its
 * zero-point-free codes must fit what the target multiplies exactly); 16 for NONE. */
PTQ_API int32_t ptq_target_max_asym_channel_bits(int32_t target);
/* max_code for weights quantized for `target`. */
PTQ_API int32_t ptq_target_max_code(int32_t target);

/* A resolved quantization grid.  Dequantized value: (q - zero_point[c]) * scale[c] with
 * q = clamp(rint(x / scale[c]) + zero_point[c], qmin, qmax), in float32 exactly as ONNX
 * QuantizeLinear/DequantizeLinear compute it (so simulation and deployment agree). */
typedef struct ptq_qparams {
    int32_t bits;
    bool is_signed;      /* container: int8/int16 when true, uint8/uint16 when false */
    int32_t qmin, qmax;
    int32_t axis;        /* -1 per tensor, else the channel axis */
    int64_t n;           /* number of scales: 1 or the channel count */
    float *scale;        /* owned, n entries */
    int32_t *zero_point; /* owned, n entries */
} ptq_qparams;

/* Integer range of a grid: symmetric grids are signed and narrow ([-(2^(b-1)-1),
 * 2^(b-1)-1], so zero sits in the middle); asymmetric weights are signed
 * ([-2^(b-1), 2^(b-1)-1]); asymmetric activations unsigned ([0, 2^b-1]). */
PTQ_API void ptq_qrange(int32_t bits, bool symmetric, bool is_weight, bool *is_signed,
                        int32_t *qmin, int32_t *qmax);

/* Allocates n scales and zero points (scale 1, zero point 0). */
PTQ_API ptq_status ptq_qparams_init(ptq_qparams *qp, int32_t bits, bool symmetric,
                                    bool is_weight, int32_t axis, int64_t n, ptq_error *err);
/* Cuts the grid to [-max_code, max_code] (max_code 0: unchanged). */
PTQ_API void ptq_qparams_limit(ptq_qparams *qp, int32_t max_code);
PTQ_API void ptq_qparams_free(ptq_qparams *qp);
PTQ_API ptq_status ptq_qparams_copy(ptq_qparams *dst, const ptq_qparams *src, ptq_error *err);

/* Scale and zero point covering [lo, hi] (widened to include 0, so zero is exact).
 * Symmetric grids use max(|lo|, |hi|) and zero point 0.  A degenerate range gives a
 * tiny positive scale, never 0. */
PTQ_API void ptq_qparams_from_range(float lo, float hi, int32_t qmin, int32_t qmax,
                                    bool symmetric, float *scale, int32_t *zero_point);

/* y[i] = dequantize(quantize(x[i])) for n values on one scale/zero point; y may be x. */
PTQ_API void ptq_fake_quant(const float *x, float *y, int64_t n, float scale, int32_t zero_point,
                            int32_t qmin, int32_t qmax);
/* The integer codes: q[i] = clamp(rint(x[i] / scale) + zero_point, qmin, qmax). */
PTQ_API void ptq_quantize(const float *x, int32_t *q, int64_t n, float scale, int32_t zero_point,
                          int32_t qmin, int32_t qmax);

/* Applies qp to a tensor of shape ne (per channel along qp->axis): y = fake-quant(x). */
PTQ_API void ptq_fake_quant_tensor(const ptq_qparams *qp, int32_t ndim, const int64_t *ne,
                                   const float *x, float *y);

/* Signal-to-quantization-noise ratio in dB: 10 log10(sum x^2 / sum (x - y)^2); +inf when
 * equal, -inf... never: a zero signal with noise gives -inf. */
PTQ_API double ptq_sqnr_db(const float *x, const float *y, int64_t n);

/* Weight observers: qparams for a weight tensor w (per channel along axis 0 when
 * spec->per_channel).  qp is initialised here (free with ptq_qparams_free). */
PTQ_API ptq_status ptq_observe_weights(const ptq_tensor *w, const ptq_qspec *spec, ptq_qparams *qp,
                                       ptq_error *err);

/* Activation observers accumulate over calibration batches.  Use:
 *   obs = ptq_act_observer_new(spec);
 *   for each batch: ptq_act_observer_range(obs, x, n);        (pass 1)
 *   if (ptq_act_observer_wants_histogram(obs))
 *       for each batch: ptq_act_observer_histogram(obs, x, n); (pass 2, same data)
 *   ptq_act_observer_finish(obs, &qp, err);  (per tensor, axis -1)
 *   ptq_act_observer_free(obs); */
typedef struct ptq_act_observer ptq_act_observer;
PTQ_API ptq_act_observer *ptq_act_observer_new(const ptq_qspec *spec);
PTQ_API void ptq_act_observer_range(ptq_act_observer *obs, const float *x, int64_t n);
PTQ_API bool ptq_act_observer_wants_histogram(const ptq_act_observer *obs);
PTQ_API void ptq_act_observer_histogram(ptq_act_observer *obs, const float *x, int64_t n);
PTQ_API ptq_status ptq_act_observer_finish(ptq_act_observer *obs, ptq_qparams *qp,
                                           ptq_error *err);
PTQ_API void ptq_act_observer_free(ptq_act_observer *obs);

PTQ_API const char *ptq_observer_name(int32_t observer);
PTQ_API int32_t ptq_observer_from_name(const char *name); /* -1 if unknown */
PTQ_API const char *ptq_search_name(int32_t search);      /* PTQ_SEARCH_* */
PTQ_API int32_t ptq_search_from_name(const char *name);   /* -1 if unknown */

/* ------------------------------------------------------------ ONNX export ---- */

/* A quantized weight: stored as integer codes with a DequantizeLinear in the export. */
typedef struct ptq_export_weight {
    int32_t value;           /* the weight constant in the graph */
    const ptq_qparams *qp;   /* its grid (per channel along qp->axis or per tensor) */
    const int32_t *codes;    /* numel(value) integer codes in [qp->qmin, qp->qmax] */
    /* false (the default): per-channel zero points that differ are written zero-point-free
     * (codes - zero point, zero point 0, int8) when they fit, the form onnxruntime's
     * QLinearConv accepts.  true: the grid as it is (target none, for tools that read the
     * grid back from the file). */
    bool literal_grid;
} ptq_export_weight;

/* Writes g as an ONNX model (opset 13, or 21 when a quantizer has 16 bits) to path,
 * atomically (a temporary file in the same directory, then rename).  Every IR node is
 * written as its ONNX op (Reshape targets as initializers, the batch as 0/-1), every
 * FAKE_QUANT node as QuantizeLinear -> DequantizeLinear (with a Clip before it when the
 * grid is narrower than its 8-bit container), and every listed weight as an int8
 * initializer of its codes -> DequantizeLinear.  Graph inputs keep a symbolic batch
 * dimension "N".  metadata: n_meta key/value pairs for the model's metadata_props. */
PTQ_API ptq_status ptq_onnx_export(const ptq_graph *g, const ptq_export_weight *weights,
                                   int32_t n_weights, const char *const *meta_keys,
                                   const char *const *meta_values, int32_t n_meta,
                                   const char *path, ptq_error *err);

/* --------------------------------------------------- pipelines and plugins ---- */

typedef struct ptq_run_options {
    const char *out_dir;    /* overrides the pipeline's output.dir when non-NULL */
    bool force;             /* replace an existing output directory */
    bool dry_run;           /* print the resolved plan and stop */
    const char *plugin_dir; /* searched before $PTQ_PLUGIN_PATH when non-NULL */
    int32_t threads;        /* overrides the pipeline's threads when > 0 */
    /* The process is ptq's own (the CLI): during the run, SIGINT and SIGTERM remove the
     * temporary output directory, say so and _exit with 128 + the signal; a crash
     * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) names the pass and plugin running, removes
     * it, and dies of its signal.  Off: the caller's handlers stay. */
    bool handle_signals;
} ptq_run_options;

/* Loads the plugins, validates the pipeline file (every problem as FILE:LINE:COLUMN),
 * then runs it: float evaluation, the passes, quantized evaluation, QDQ export and
 * report.json into the output directory (replaced atomically).  Progress and the summary
 * go to stderr/stdout. */
PTQ_API ptq_status ptq_run_file(const char *path, const ptq_run_options *opts, ptq_error *err);

typedef struct ptq_ab_options {
    const char *out_dir;    /* the A/B directory; NULL: the one file's output.dir, or runs/ab */
    bool force;             /* replace an existing output directory */
    bool dry_run;           /* check everything, print the runs and what they share, stop */
    const char *plugin_dir;
    int32_t threads;        /* per run; 0: the cores shared out between the jobs */
    int32_t jobs;           /* runs computing at once; 0: one per core */
    int32_t seeds;          /* each variant this many times (seed, seed+1, ...); 0: the file's */
    int *stopped_by;        /* set to the signal that interrupted the A/B (0: none) */
} ptq_ab_options;

/* `ptq ab`: the variants of the files (each file one variant, or its `variants:`) x seeds,
 * checked whole, run on the same model and evaluation images with shared steps run once,
 * compared pairwise (McNemar's exact test, 95 % intervals); ab.json, ab.html and every
 * run's own directory written atomically.  Under mpirun the runs are spread over the
 * ranks and gathered on rank 0. */
PTQ_API ptq_status ptq_ab_files(const char *const *paths, int32_t n_paths,
                                const ptq_ab_options *opts, ptq_error *err);

/* Tells the plugin loader where the running program is (a path to it, e.g.
 * "/proc/self/exe" or argv[0]): plugins are then also searched relative to it, in
 * <libdir>/ptq/plugins of its installed layout, or in plugins/ beside it in a build tree.
 * Without it only the directory passed to the loader and $PTQ_PLUGIN_PATH are searched. */
PTQ_API bool ptq_set_program_path(const char *path); /* false: path not resolved */

/* Prints every plugin, pass and parameter (or only plugin/pass `name`), and the plugin
 * files that were refused and why. */
PTQ_API ptq_status ptq_list_plugins(const char *name, const char *plugin_dir, FILE *out,
                                    ptq_error *err);

/* `ptq plugins --check`: loads each plugin file (all that discovery would load when
 * n_files is 0) in a child process, calls its entry, checks its descriptor against every
 * rule of ptq_plugin.h, calls init and deinit, and checks that every pass's reads can be
 * produced (by the host or a pass of a loaded plugin).  Prints per file "ok", or each
 * problem, or where and with which signal it crashed ("crashed in init with signal 11
 * (SIGSEGV)"), or where it hung ($PTQ_PLUGIN_TIMEOUT seconds, default 10).  *n_bad: the
 * files that were not ok.  An error only when no check could run (fork, out of memory). */
PTQ_API ptq_status ptq_check_plugins(const char *const *files, int32_t n_files,
                                     const char *plugin_dir, FILE *out, int32_t *n_bad,
                                     ptq_error *err);

/* ---------------------------------------------------------------- version ---- */

PTQ_API const char *ptq_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* PTQ_H */
