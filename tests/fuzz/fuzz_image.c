/* fuzz_image.c — the image loaders: PNG (libpng: every colour type, bit depth, palette,
 * interlacing) and JPEG (libjpeg-turbo), their size limits and error recovery, then
 * channel conversion and resizing.  The input's length picks the preprocessing (stretch
 * or letterbox, RGB or grey), so both paths see every kind of file. */
#include "fuzz.h"

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_temp_file(data, size, ".png"); /* the decoder goes by magic */
    if (!path) return 0;
    ptq_preprocess pp = {0};
    pp.resize = (size & 1) ? PTQ_RESIZE_LETTERBOX : PTQ_RESIZE_STRETCH;
    pp.resize_h = 24;
    pp.resize_w = 20;
    pp.channels = (size & 2) ? PTQ_CHANNELS_GRAY : PTQ_CHANNELS_RGB;
    ptq_error err = {0};
    ptq_dataset_free(ptq_image_dataset_load(path, &pp, 1, NULL, NULL, &err));
    return 0;
}
