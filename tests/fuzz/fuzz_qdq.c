/* fuzz_qdq.c — the QDQ import path: QuantizeLinear/DequantizeLinear pairs become fake
 * quantizers (scales, zero points, axes, 8- and 16-bit types, per-channel grids), and the
 * imported model runs once on zeros, so fuzzed grids reach the quantization kernels.
 * Seeds: ptq's own QDQ exports of the bundled models (tests/fuzz/corpus/qdq). */
#include "fuzz.h"
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_model(data, size, true);
    return 0;
}
