/* fuzz_onnx.c — ONNX import: protobuf parsing, every op's attribute checks, constant
 * folding, shape inference, validation, then execution planning.  Seeds: the bundled
 * float models and ONNX conformance cases (tests/fuzz/corpus/onnx). */
#include "fuzz.h"
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_model(data, size, false);
    return 0;
}
