/* data_idx.c — IDX files (the MNIST family's format), plain or gzip-compressed.
 *
 * Layout: two zero bytes, a type byte, a rank byte, rank big-endian uint32 dims, then
 * the data in big-endian order.  zlib's gzread reads both compressed and plain files.
 * The data is read in chunks, growing the buffer as bytes actually arrive, so a tiny
 * file that claims absurd dimensions fails as "truncated" without a huge allocation. */
#include <errno.h>
#include <inttypes.h>
#include <zlib.h>

#include "internal.h"

ptq_tensor *ptq_idx_read(const char *path, ptq_error *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        ptq_error_set(err, PTQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    ptq_tensor *t = NULL;
    uint8_t hdr[4], *data = NULL;
    size_t got = 0;
    if (gzread(f, hdr, 4) != 4) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: too short to be an IDX file", path);
        goto out;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: bad IDX magic %02x %02x %02x %02x (expected "
                      "00 00 <type> <rank>)", path, hdr[0], hdr[1], hdr[2], hdr[3]);
        goto out;
    }
    ptq_dtype dt;
    size_t es;
    switch (hdr[2]) {
    case 0x08: dt = PTQ_DTYPE_U8; es = 1; break;
    case 0x09: dt = PTQ_DTYPE_I8; es = 1; break;
    case 0x0C: dt = PTQ_DTYPE_I32; es = 4; break;
    case 0x0D: dt = PTQ_DTYPE_F32; es = 4; break;
    default:
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: IDX element type 0x%02x is not supported "
                      "(uint8, int8, int32 and float32 are)", path, hdr[2]);
        goto out;
    }
    int32_t rank = hdr[3];
    if (rank < 1 || rank > PTQ_MAX_DIMS) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: IDX rank %d is out of range 1..%d", path, rank,
                      PTQ_MAX_DIMS);
        goto out;
    }
    int64_t ne[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < rank; i++) {
        uint8_t d[4];
        if (gzread(f, d, 4) != 4) {
            ptq_error_set(err, PTQ_ERR_INVALID, "%s: truncated IDX header", path);
            goto out;
        }
        ne[i] = ((int64_t)d[0] << 24) | ((int64_t)d[1] << 16) | ((int64_t)d[2] << 8) | d[3];
    }
    int64_t n = ptq_shape_numel(rank, ne);
    if (n < 0 || (size_t)n * es > PTQ_MAX_DATA_BYTES) {
        char buf[160];
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: IDX dimensions %s are absurd", path,
                      ptq_shape_str(rank, ne, buf, sizeof buf));
        goto out;
    }
    size_t want = (size_t)n * es;
    if (ptq_gz_read_upto(f, path, want, &data, &got, err)) goto out;
    if (got != want) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: truncated: the header promises %zu data bytes, "
                      "the file holds %zu", path, want, got);
        goto out;
    }
    uint8_t extra;
    if (gzread(f, &extra, 1) == 1) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: trailing bytes after the %zu data bytes the "
                      "header promises", path, want);
        goto out;
    }
    t = calloc(1, sizeof *t);
    if (!t) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    t->dtype = dt;
    t->ndim = rank;
    memcpy(t->ne, ne, sizeof ne);
    if (es == 4) { /* big-endian to host */
        uint32_t *w = (uint32_t *)data;
        for (int64_t i = 0; i < n; i++) w[i] = __builtin_bswap32(w[i]);
    }
    t->data = data;
    data = NULL;
out:
    free(data);
    gzclose(f);
    return t;
}
