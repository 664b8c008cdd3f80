/* imagefile.h — writing a synthetic calibration set: NumPy .npy arrays (what ptq reads
 * back as a calibration source) and a PNG contact sheet people can look at. */
#ifndef FDDA_IMAGEFILE_H
#define FDDA_IMAGEFILE_H

#include <stddef.h>
#include <stdint.h>

/* Writes a C-order .npy (format 1.0) of float32 ('<f4') or int64 ('<i8') with the given
 * shape.  0, or -1 with errno (the caller names the file). */
int npy_write_f32(const char *path, const float *data, const int64_t *shape, int32_t ndim);
int npy_write_i64(const char *path, const int64_t *data, const int64_t *shape, int32_t ndim);

/* Writes an 8-bit PNG, grey (channels 1) or RGB (channels 3), width x height pixels,
 * row-major interleaved.  Compressed with zlib; 0, or -1 with errno. */
int png_write(const char *path, const uint8_t *pixels, int32_t width, int32_t height,
              int32_t channels);

#endif
