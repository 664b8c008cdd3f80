/* plugin_kit.h — what a method plugin's unit tests need from the core: a session built
 * from a pipeline written inline (as a user would write it), the plan's passes run one by
 * one through the real host table, and forward runs of the float and the quantized model.
 * White-box (it includes core headers); the plugins themselves never do. */
#ifndef PTQ_PLUGIN_KIT_H
#define PTQ_PLUGIN_KIT_H

#include "pipeline/pipeline.h"
#include "quant/session.h"
#include "testutil.h"

typedef struct kit {
    ptq_registry *reg;
    ptq_pipeline *p;
    ptq_session *s;
    char msg[PTQ_ERROR_SIZE + 256]; /* the last error */
} kit;

/* Loads a pipeline from YAML text with the in-tree plugins and opens a session on it.
 * In the text, @MODELS@ stands for the bundled models' directory and @FMNIST@ for the
 * Fashion-MNIST directory.  Fails the test on an error. */
kit *kit_open(const char *yaml);
/* Same, but returns NULL on an error and copies the message into msg. */
kit *kit_try_open(const char *yaml, char *msg, size_t msg_size);
void kit_close(kit *k);

/* Index of the first planned pass named `name` at or after `from` (asserts it exists). */
int32_t kit_pass(const kit *k, const char *name, int32_t from);
/* Runs the planned passes [from, to) in order; stops at the first failure, whose
 * message lands in k->msg.  to = -1: to the end. */
ptq_status kit_run(kit *k, int32_t from, int32_t to);

/* Opens the pipeline and runs every planned pass before the first one named `pass`,
 * whose index goes into *at.  Fails the test on an error. */
kit *kit_open_before(const char *yaml, const char *pass, int32_t *at);

/* Rows of report table `table` that pass index `pass` added; the first of them (fails
 * the test when there is none); the value of column `col` in a row (fails when absent). */
int32_t kit_count_rows(const kit *k, const char *table, int32_t pass);
const ptq_report_row *kit_first_row(const kit *k, const char *table, int32_t pass);
double kit_row_value(const ptq_report_row *r, const char *col);

/* Runs the float working graph (quant false) or the simulated quantized model (true) on
 * `batch` samples of x and returns a copy of output 0 (caller frees). */
float *kit_forward(kit *k, bool quant, const float *x, int64_t batch, int64_t *numel);
/* `n` images: the calibration set's first n if there is one, else uniform noise in the
 * normalized pixel range (caller frees). */
float *kit_images(kit *k, int64_t n);

/* The papers' ResNet-20 setting at W2 and `abits`-bit activations (QDrop's per-tensor MSE
 * grids, paper placement, first and last layer and the activation feeding the last at 8
 * bits) on `calib` calibration images, with the one pass given (YAML flow text, e.g.
 * "nwq.reconstruct: {iterations: 4}").  A static buffer, valid until the next call. */
const char *kit_resnet20_w2(int calib, int abits, const char *pass);

/* True in the sanitizer suite (PTQ_E2E_LIMIT set, as scripts/test.sh does there): tests
 * then run the same paths with less work (coarser searches), since everything there is
 * about 25x slower. */
bool kit_quick(void);

/* max |a - b| / max |b|: the relative change of a model's outputs. */
double kit_rel_diff(const float *a, const float *b, int64_t n);

/* Top-1 agreement of two logits arrays of n rows x classes. */
double kit_top1_agreement(const float *a, const float *b, int64_t n, int64_t classes);

/* Top-1 accuracy of the float or quantized model on the first `count` Fashion-MNIST test
 * images, normalized as the model's .json says. */
double kit_accuracy(kit *k, bool quant, int64_t count);

#endif
