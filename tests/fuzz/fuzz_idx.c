/* fuzz_idx.c — IDX reading (the MNIST family's format), plain or gzip-compressed: the
 * magic, the dimension count and sizes, truncated or over-long data.  Seeds hold both
 * plain and gzip files. */
#include "fuzz.h"

#include "ptq/ptq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_temp_file(data, size, ".idx");
    if (!path) return 0;
    ptq_error err = {0};
    ptq_tensor_free(ptq_idx_read(path, &err));
    return 0;
}
