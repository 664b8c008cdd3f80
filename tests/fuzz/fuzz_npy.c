/* fuzz_npy.c — NumPy .npy reading: the magic, version, header dict (descr, fortran_order,
 * shape), element types and the data's length. */
#include "fuzz.h"

#include "ptq/ptq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_temp_file(data, size, ".npy");
    if (!path) return 0;
    ptq_error err = {0};
    ptq_tensor_free(ptq_npy_read(path, &err));
    return 0;
}
