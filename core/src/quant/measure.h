/* measure.h — how far the quantized model is from the float one, measured before and
 * after every pass on the first MEASURE_IMAGES calibration images.
 *
 * Two references, because a pass may change the float function itself (a weight
 * clipping, ReLU6 -> ReLU, a bug): per layer, the quantization error of each layer
 * against the float model as the passes left it (what a layer-wise method works on);
 * for the model as a whole, the network output against the ORIGINAL float model as
 * imported, which is what the user deploys against.  A pass that makes the per-layer
 * numbers better by moving the float function shows up in the second and in the float
 * drift (the current float model's output against the original's). */
#ifndef PTQ_MEASURE_H
#define PTQ_MEASURE_H

#include "session.h"

#define PTQ_MEASURE_IMAGES 256
/* A float model whose output moved by more than float rounding: SQNR below this against
 * the model before (BN folding, equalization and bias absorption stay far above it). */
#define PTQ_FLOAT_MOVED_DB 60.0

typedef struct ptq_layer_sqnr {
    int32_t node;           /* working-graph node id */
    double weight_db, output_db; /* against the current float model */
} ptq_layer_sqnr;

typedef struct ptq_measurement {
    ptq_layer_sqnr *layers;
    int32_t n;
    bool valid;
    /* network output (graph output 0), against the original float model */
    double model_db;        /* quantized model */
    double model_agree;     /* fraction of images whose top-1 class is the original's */
    double float_db;        /* the current float model (inf: unchanged) */
    double float_agree;
    float *float_out;       /* owned: the current float model's output, for pass drift */
    int64_t out_numel;
} ptq_measurement;

/* The original model's outputs on the measurement images, computed once per dataset. */
typedef struct ptq_measurer {
    const ptq_graph *reference;   /* borrowed: the model as imported */
    const ptq_dataset *ds;        /* the images ref_out was computed on */
    float *ref_out;               /* owned */
    int64_t n, numel, classes;    /* images, output floats, classes per image (0: output 0
                                     * is not class scores) */
} ptq_measurer;

/* Measures the quantized model as it stands.  Quantizers not calibrated yet are
 * calibrated provisionally for the measurement only and restored after, so "before"
 * numbers exist even for passes that run ahead of core.calibrate.  eval is used when
 * there is no calibration set.  A measurement with valid = false when there is nothing
 * to measure (no quantizer or no images). */
ptq_status ptq_measure(ptq_measurer *mr, ptq_session *s, const ptq_dataset *eval,
                       ptq_measurement *m);
void ptq_measurement_free(ptq_measurement *m);
void ptq_measurer_free(ptq_measurer *mr);

/* Mean of the finite per-layer weight or output SQNRs (NaN when none). */
double ptq_measurement_mean_db(const ptq_measurement *m, bool weights);

/* SQNR in dB of the current float output of `after` against that of `before` (how far
 * one pass moved the float function; inf when it did not). */
double ptq_measurement_drift_db(const ptq_measurement *before, const ptq_measurement *after);

#endif
