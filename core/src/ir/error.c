/* error.c — ptq_error: one message per failure, written where it is detected; and the
 * allocation and clock helpers every core module uses. */
#include <stdarg.h>
#include <time.h>

#include "internal.h"

ptq_status ptq_error_setv(ptq_error *err, ptq_status status, const char *fmt, va_list ap) {
    if (err && err->status == PTQ_OK && err->msg[0] == '\0') {
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        err->status = status;
    }
    return status;
}

ptq_status ptq_error_set(ptq_error *err, ptq_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ptq_error_setv(err, status, fmt, ap);
    va_end(ap);
    return status;
}

void ptq_error_prefix(ptq_error *err, const char *fmt, ...) {
    if (!err || err->msg[0] == '\0') return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[PTQ_ERROR_SIZE];
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable: the message stays a valid, if shortened, string. */
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t rest = sizeof err->msg - n - 3;
    size_t ol = strlen(old);
    if (ol > rest) ol = rest;
    memcpy(err->msg + n + 2, old, ol);
    err->msg[n + 2 + ol] = '\0';
}

const char *ptq_status_name(ptq_status status) {
    switch (status) {
    case PTQ_OK: return "ok";
    case PTQ_ERR_INVALID: return "invalid";
    case PTQ_ERR_UNSUPPORTED: return "unsupported";
    case PTQ_ERR_IO: return "i/o";
    case PTQ_ERR_NOMEM: return "out of memory";
    case PTQ_ERR_NUMERIC: return "numeric";
    case PTQ_ERR_INTERNAL: return "internal";
    default: return "unknown";
    }
}

const char *ptq_version_string(void) { return PTQ_VERSION_STRING; }

double ptq_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void *ptq_calloc_array(size_t n, size_t size) {
    if (n == 0) n = 1;
    if (size && n > SIZE_MAX / size) return NULL;
    return calloc(n, size);
}

char *ptq_strdup(const char *s) {
    if (!s) s = "";
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (d) memcpy(d, s, len);
    return d;
}

int ptq_grow(void **arr, int32_t *cap, int32_t need, size_t size) {
    if (need <= *cap) return 0;
    int64_t ncap = *cap ? (int64_t)*cap * 2 : 16;
    while (ncap < need) ncap *= 2;
    if (ncap > INT32_MAX) return -1;
    void *p = realloc(*arr, (size_t)ncap * size);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * size, 0, (size_t)(ncap - *cap) * size);
    *arr = p;
    *cap = (int32_t)ncap;
    return 0;
}
