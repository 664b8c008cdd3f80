/* data_npy.c — NumPy .npy files (format versions 1 to 3), float32 and integer arrays in
 * C order.  The header is a Python dict literal; only the three keys NumPy writes are
 * understood, and anything unexpected is an error rather than a guess. */
#define _DEFAULT_SOURCE /* mkstemp, fdopen */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <zlib.h>

#include <sys/stat.h>

#include "internal.h"

static const char *skip_ws(const char *p) {
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

/* Finds 'key' in the header dict and returns a pointer just past its colon. */
static const char *find_key(const char *hdr, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p) return NULL;
    p = skip_ws(p + strlen(pat));
    return *p == ':' ? skip_ws(p + 1) : NULL;
}

ptq_tensor *ptq_npy_read(const char *path, ptq_error *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        ptq_error_set(err, PTQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    ptq_tensor *t = NULL;
    char *hdr = NULL;
    uint8_t pre[10];
    if (gzread(f, pre, 10) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: not a .npy file (bad magic)", path);
        goto out;
    }
    uint32_t hlen;
    if (pre[6] == 1) {
        hlen = pre[8] | (uint32_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        uint8_t more[2];
        if (gzread(f, more, 2) != 2) {
            ptq_error_set(err, PTQ_ERR_INVALID, "%s: truncated .npy header", path);
            goto out;
        }
        hlen = pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)more[0] << 16 | (uint32_t)more[1] << 24;
    } else {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: .npy format version %d is not supported",
                      path, pre[6]);
        goto out;
    }
    if (hlen > 1 << 20) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: .npy header length %u is absurd", path, hlen);
        goto out;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory reading the .npy header", path);
        goto out;
    }
    if (gzread(f, hdr, hlen) != (int)hlen) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: truncated .npy header", path);
        goto out;
    }
    hdr[hlen] = '\0';
    /* descr */
    const char *p = find_key(hdr, "descr");
    ptq_dtype dt = PTQ_DTYPE_UNDEFINED;
    char descr[16] = "";
    if (p && (*p == '\'' || *p == '"')) {
        size_t i = 0;
        char q = *p++;
        while (*p && *p != q && i < sizeof descr - 1) descr[i++] = *p++;
        descr[i] = '\0';
    }
    if (!strcmp(descr, "<f4")) dt = PTQ_DTYPE_F32;
    else if (!strcmp(descr, "|u1") || !strcmp(descr, "<u1")) dt = PTQ_DTYPE_U8;
    else if (!strcmp(descr, "|i1") || !strcmp(descr, "<i1")) dt = PTQ_DTYPE_I8;
    else if (!strcmp(descr, "<i4")) dt = PTQ_DTYPE_I32;
    else if (!strcmp(descr, "<i8")) dt = PTQ_DTYPE_I64;
    if (dt == PTQ_DTYPE_UNDEFINED) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported (float32 "
                      "'<f4', uint8 '|u1', int8, int32 and int64 are)", path,
                      descr[0] ? descr : "(missing)");
        goto out;
    }
    p = find_key(hdr, "fortran_order");
    if (!p || strncmp(p, "False", 5) != 0) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: .npy array is not in C order "
                      "(fortran_order must be False)", path);
        goto out;
    }
    p = find_key(hdr, "shape");
    if (!p || *p != '(') {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: .npy header has no shape", path);
        goto out;
    }
    p++;
    int64_t ne[PTQ_MAX_DIMS];
    int32_t rank = 0;
    for (;;) {
        p = skip_ws(p);
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p) || rank == PTQ_MAX_DIMS) {
            ptq_error_set(err, PTQ_ERR_INVALID, "%s: .npy shape is malformed or has more than "
                          "%d dimensions", path, PTQ_MAX_DIMS);
            goto out;
        }
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0 || v > PTQ_MAX_ELEMENTS) {
            ptq_error_set(err, PTQ_ERR_INVALID, "%s: .npy dimension is out of range", path);
            goto out;
        }
        ne[rank++] = v;
        p = skip_ws(end);
        if (*p == ',') p++;
    }
    int64_t n = ptq_shape_numel(rank, ne);
    size_t es = ptq_dtype_size(dt);
    if (n < 0 || (size_t)n * es > PTQ_MAX_DATA_BYTES) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: .npy shape is absurd", path);
        goto out;
    }
    size_t want = (size_t)n * es, len = 0;
    uint8_t *data = NULL;
    if (ptq_gz_read_upto(f, path, want, &data, &len, err)) goto out;
    if (len != want) {
        free(data);
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: truncated: the header promises %zu data bytes, "
                      "the file holds %zu", path, want, len);
        goto out;
    }
    t = calloc(1, sizeof *t);
    if (!t) {
        free(data);
        ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    t->dtype = dt;
    t->ndim = rank;
    memcpy(t->ne, ne, sizeof ne);
    t->data = data;
out:
    free(hdr);
    gzclose(f);
    return t;
}

ptq_status ptq_npy_write_f32(const char *path, int32_t ndim, const int64_t *ne, const float *data,
                             ptq_error *err) {
    char shape[PTQ_MAX_DIMS * 24 + 8] = "";
    size_t at = 0;
    int64_t n = 1;
    for (int32_t d = 0; d < ndim; d++) {
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%" PRId64 "%s", ne[d],
                               ndim == 1 || d + 1 < ndim ? "," : "");
        n *= ne[d];
    }
    char dict[PTQ_MAX_DIMS * 24 + 96];
    const int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, "
                             "'shape': (%s), }", shape);
    const int total = ((10 + len + 1 + 63) / 64) * 64; /* magic, version, length, dict, '\n' */
    const uint16_t hl = (uint16_t)(total - 10);
    /* A temporary file beside the target, renamed over it when complete: a reader never
     * sees half an array. */
    const size_t plen = strlen(path) + 16;
    char *tmp = malloc(plen);
    if (!tmp) return ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, plen, "%s.tmp.XXXXXX", path);
    const int fd = mkstemp(tmp);
    if (fd < 0) {
        ptq_status st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    /* mkstemp creates the file 0600; outputs are not secrets: keep the mode of the file
     * being replaced, else the usual 0644 (as the model export does). */
    struct stat sb;
    const mode_t mode = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_mode & 07777 : 0644;
    if (fchmod(fd, mode) != 0) {
        ptq_status st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot set its permissions: %s",
                                      path, strerror(errno));
        close(fd), unlink(tmp);
        free(tmp);
        return st;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        ptq_status st = ptq_error_set(err, PTQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        close(fd), unlink(tmp);
        free(tmp);
        return st;
    }
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hl & 0xff, f), fputc(hl >> 8, f);
    fprintf(f, "%s%*s\n", dict, total - 10 - len - 1, "");
    fwrite(data, sizeof *data, (size_t)n, f); /* little-endian, as every machine we target */
    bool bad = ferror(f) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        ptq_status st = ptq_error_set(err, PTQ_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return PTQ_OK;
}
