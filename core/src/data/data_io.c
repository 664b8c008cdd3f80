/* data_io.c — reading data files through zlib (which reads plain files too). */
#include <zlib.h>

#include "internal.h"

/* Reads up to `want` bytes from a gz stream into a buffer that grows as bytes arrive,
 * so a header that lies about the size cannot force a huge allocation up front. */
ptq_status ptq_gz_read_upto(void *gz, const char *path, size_t want, uint8_t **out,
                               size_t *got, ptq_error *err) {
    gzFile f = gz;
    size_t cap = PTQ_MIN(want, (size_t)64 << 20), len = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", path);
    while (len < want) {
        if (len == cap) {
            size_t ncap = PTQ_MIN(want, cap * 2);
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        unsigned chunk = (unsigned)PTQ_MIN(cap - len, (size_t)1 << 30);
        int r = gzread(f, buf + len, chunk);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            free(buf);
            return ptq_error_set(err, PTQ_ERR_IO, "%s: read error: %s", path, msg);
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    *out = buf;
    *got = len;
    return PTQ_OK;
}

