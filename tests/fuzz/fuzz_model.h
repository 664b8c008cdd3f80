/* fuzz_model.h — the ONNX harnesses' shared body (fuzz_model.c). */
#ifndef PTQ_FUZZ_MODEL_H
#define PTQ_FUZZ_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Imports data as an ONNX model (which infers shapes and validates it), plans its
 * execution, and when run is set and the plan is small, runs it once on a batch of
 * zeros.  Everything is freed before returning. */
void fuzz_model(const uint8_t *data, size_t size, bool run);

#endif
