/* imagefile.c — .npy and PNG writers (see imagefile.h).
 *
 * PNG through zlib, which the core already depends on: the format is a signature and
 * three chunks (IHDR, IDAT, IEND), each with a CRC zlib computes, the image data being
 * zlib-compressed scanlines with filter type 0.  libpng would add a dependency for the
 * ~40 lines below. */
#include "imagefile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The .npy header: magic, version 1.0, a little-endian header length, and a Python dict
 * padded with spaces and a newline so the data starts on a 64-byte boundary. */
static int npy_write(const char *path, const char *descr, const void *data, size_t elem,
                     const int64_t *shape, int32_t ndim) {
    char dict[256], dims[160] = "";
    size_t numel = 1;
    for (int32_t d = 0; d < ndim; d++) {
        char one[32];
        snprintf(one, sizeof one, "%lld%s", (long long)shape[d], ndim == 1 || d + 1 < ndim ? ", " : "");
        strncat(dims, one, sizeof dims - strlen(dims) - 1);
        numel *= (size_t)shape[d];
    }
    if (ndim == 1) dims[strlen(dims) - 1] = 0; /* "(N,)" */
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                       descr, dims);
    const size_t total = (10 + (size_t)len + 1 + 63) / 64 * 64;
    const size_t hlen = total - 10;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
    for (size_t i = (size_t)len; ok && i + 1 < hlen; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF && fwrite(data, elem, numel, f) == numel;
    const int e = errno;
    if (fclose(f) != 0) ok = 0;
    if (!ok) errno = e ? e : EIO;
    return ok ? 0 : -1;
}

int npy_write_f32(const char *path, const float *data, const int64_t *shape, int32_t ndim) {
    return npy_write(path, "<f4", data, sizeof(float), shape, ndim);
}

int npy_write_i64(const char *path, const int64_t *data, const int64_t *shape, int32_t ndim) {
    return npy_write(path, "<i8", data, sizeof(int64_t), shape, ndim);
}

static void be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static int chunk(FILE *f, const char *type, const unsigned char *data, uint32_t n) {
    unsigned char len[4], crc[4];
    be32(len, n);
    uLong c = crc32(0L, (const Bytef *)type, 4);
    if (n) c = crc32(c, data, n);
    be32(crc, (uint32_t)c);
    return fwrite(len, 1, 4, f) == 4 && fwrite(type, 1, 4, f) == 4 &&
           (n == 0 || fwrite(data, 1, n, f) == n) && fwrite(crc, 1, 4, f) == 4;
}

int png_write(const char *path, const uint8_t *pixels, int32_t width, int32_t height,
              int32_t channels) {
    if ((channels != 1 && channels != 3) || width < 1 || height < 1) {
        errno = EINVAL;
        return -1;
    }
    const size_t row = (size_t)width * (size_t)channels, raw_n = (row + 1) * (size_t)height;
    unsigned char *raw = malloc(raw_n);
    uLongf z_n = compressBound((uLong)raw_n);
    unsigned char *z = malloc(z_n);
    if (!raw || !z) {
        free(raw), free(z);
        errno = ENOMEM;
        return -1;
    }
    for (int32_t y = 0; y < height; y++) {
        raw[(size_t)y * (row + 1)] = 0; /* filter: none */
        memcpy(raw + (size_t)y * (row + 1) + 1, pixels + (size_t)y * row, row);
    }
    int ok = compress2(z, &z_n, raw, (uLong)raw_n, 6) == Z_OK;
    free(raw);
    unsigned char ihdr[13];
    be32(ihdr, (uint32_t)width);
    be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;                         /* bits per sample */
    ihdr[9] = channels == 1 ? 0 : 2;     /* grey or RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;  /* deflate, filter set 0, no interlace */
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    FILE *f = ok ? fopen(path, "wb") : NULL;
    ok = f && fwrite(sig, 1, 8, f) == 8 && chunk(f, "IHDR", ihdr, 13) &&
         chunk(f, "IDAT", z, (uint32_t)z_n) && chunk(f, "IEND", NULL, 0);
    const int e = errno;
    if (f && fclose(f) != 0) ok = 0;
    free(z);
    if (!ok) errno = e ? e : EIO;
    return ok ? 0 : -1;
}
