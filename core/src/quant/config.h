/* config.h — what a session is asked to do, as plain values: the model, its data
 * sections and its quantization.  The pipeline layer fills these from YAML
 * (pipeline/pipeline.c); the session and everything below it read only this header and
 * never the pipeline's own structures. */
#ifndef PTQ_QUANT_CONFIG_H
#define PTQ_QUANT_CONFIG_H

#include "internal.h"

/* A position in the YAML file, for messages ("file:line:column"), 1-based. */
typedef struct ptq_src_pos {
    int32_t line, column;
} ptq_src_pos;

typedef struct ptq_dataset_cfg {
    bool present;
    char *images, *labels;  /* owned, resolved paths (labels may be NULL) */
    int64_t count;          /* images to use, 0 = all */
    int64_t offset;         /* skip this many first (when not sampling) */
    bool sample;            /* draw `count` images at random with the pipeline's seed */
    int64_t per_class;      /* > 0: this many images of every class (labels needed), in
                               place of count */
    int32_t n_mean, n_std;
    float mean[16], std[16];
    int32_t norm_from;      /* where mean/std came from: PTQ_NORM_* */
    bool fidelity;          /* evaluation: also compare every output with the float model
                               (always done when the evaluation set has no labels) */
    /* Image folders only (ptq_preprocess has the same fields): */
    int32_t resize, resize_h, resize_w; /* PTQ_RESIZE_* and the size */
    bool resize_default;    /* no `resize:` given: stretched to the model's static size */
    float pad_value;        /* letterbox border, 0..255 */
    int32_t channels;       /* PTQ_CHANNELS_* */
    float scale;            /* 0 = 1/255 */
    bool labels_folders;    /* `labels: folders`: class subfolders give the labels */
    bool skip_bad;          /* `on_bad_image: skip` */
    ptq_src_pos pos;
} ptq_dataset_cfg;

#define PTQ_NORM_NONE 0     /* none known: images used as scaled to [0,1] */
#define PTQ_NORM_FILE 1     /* the pipeline's `normalize` */
#define PTQ_NORM_SIDECAR 2  /* the model's MODEL.json */

/* Which fields of a quantizer spec an override sets. */
#define PTQ_QF_BITS 1u
#define PTQ_QF_SYMMETRIC 2u
#define PTQ_QF_GRANULARITY 4u
#define PTQ_QF_OBSERVER 8u
#define PTQ_QF_PERCENTILE 16u
#define PTQ_QF_MSE_P 32u
#define PTQ_QF_SEARCH 64u
#define PTQ_QF_IMAGES 128u

typedef struct ptq_override {
    char **nodes;           /* owned: node names, or the keywords "first" / "last" */
    int32_t n_nodes;
    bool keep_float;        /* `float: true`: no quantizers on this node at all */
    uint32_t w_fields, a_fields; /* PTQ_QF_* given for weights / activations */
    ptq_qspec w, a;         /* the given fields (others unset) */
    ptq_src_pos pos;
} ptq_override;

/* Where activation quantizers go (quantization.placement). */
#define PTQ_PLACEMENT_DEPLOY 0 /* inputs of weighted layers and both inputs of residual adds,
                                * the network input: what an integer QDQ deployment runs */
#define PTQ_PLACEMENT_PAPER 1  /* BRECQ/QDrop/MRECG (METHODS.md 0.3): outputs of units (after
                                * the activation function, after a residual add and its
                                * activation), not the branch before the add, not the network
                                * input, not the logits */
#define PTQ_PLACEMENT_COUNT 2
const char *ptq_placement_name(int32_t placement);
int32_t ptq_placement_from_name(const char *name); /* -1 if unknown */

/* The quantization section. */
typedef struct ptq_quant_config {
    ptq_qspec weights, activations; /* defaults for every quantizer */
    bool quantize_weights, quantize_activations; /* false with bits: 32 (float) */
    bool quantize_input;     /* the network input (input of the first layer) */
    bool quantize_output;    /* the network output */
    int32_t target;          /* PTQ_TARGET_*: what the export must run exactly on */
    int32_t placement;       /* PTQ_PLACEMENT_*: where activation quantizers go */
    bool input_given;        /* `input:` was written (else the placement decides) */
    ptq_src_pos weights_pos, target_pos; /* where quantization.weights / target were given */
    ptq_override *overrides;
    int32_t n_overrides;
} ptq_quant_config;

/* Everything a session reads; pointers are borrowed and outlive the session. */
typedef struct ptq_session_config {
    const char *path;        /* the configuration file, for messages (may be NULL) */
    const char *model;       /* the ONNX model */
    const ptq_dataset_cfg *calibration, *evaluation; /* never NULL; .present says if given */
    const ptq_quant_config *quant;
    uint64_t seed;
    int64_t batch;           /* evaluation and calibration batch size */
    int32_t threads;         /* 0 = default */
    /* The model input's shape when given (`input_shape:`: C,H,W or N,C,H,W; a value
     * <= 0 keeps the model's); input_ndim 0: from the model, else the calibration data's
     * size for symbolic dims. */
    int32_t input_ndim;
    const int64_t *input_shape;
} ptq_session_config;

/* The preprocessing a dataset section asks for (its normalization; pixel scaling
 * automatic). */
void ptq_dataset_cfg_preprocess(const ptq_dataset_cfg *c, ptq_preprocess *pp);

#endif
