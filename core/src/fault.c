/* fault.c — the counters behind fault.h: fail the N-th allocation, put the N-th file
 * written on a full disk (PTQ_FAULT_INJECT builds only; see fault.h). */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"

#if defined(__SANITIZE_ADDRESS__)
void __sanitizer_print_stack_trace(void); /* <sanitizer/common_interface_defs.h> */
#endif

/* The wrappers, declared here as the system headers declare them for everyone else. */
void *ptq_fault_malloc(size_t size);
void *ptq_fault_calloc(size_t n, size_t size);
void *ptq_fault_realloc(void *p, size_t size);
char *ptq_fault_strdup(const char *s);
void *ptq_fault_aligned_alloc(size_t align, size_t size);
int ptq_fault_posix_memalign(void **p, size_t align, size_t size);
FILE *ptq_fault_fopen(const char *path, const char *mode);
int ptq_fault_mkstemp(char *tmpl);
int ptq_fault_fchmod(int fd, mode_t mode);

static long fail_alloc, fail_write; /* 0: never */
static bool persist, count_at_exit, trace;
static atomic_long n_allocs, n_writes;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static long env_long(const char *name) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : 0;
}

static void report(void) {
    fprintf(stderr, "ptq: %ld allocations, %ld files written\n", atomic_load(&n_allocs),
            atomic_load(&n_writes));
}

static void setup(void) {
    fail_alloc = env_long("PTQ_FAIL_ALLOC");
    fail_write = env_long("PTQ_FAIL_WRITE");
    persist = env_long("PTQ_FAIL_ALLOC_PERSIST") != 0;
    count_at_exit = env_long("PTQ_FAIL_ALLOC_COUNT") != 0;
    trace = env_long("PTQ_FAIL_ALLOC_TRACE") != 0;
    if (count_at_exit) atexit(report);
}

/* PTQ_FAIL_ALLOC_TRACE=1: where the failing allocation was made (the sanitizers'
 * symbolised stack in a sanitized build, raw addresses otherwise). */
static void print_site(long k) {
    fprintf(stderr, "ptq: allocation %ld fails here:\n", k);
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_print_stack_trace();
#else
    void *frames[32];
    backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
#endif
}

/* True when this allocation is the one (or, persisting, one of those) to fail. */
static bool alloc_fails(void) {
    pthread_once(&once, setup);
    const long k = atomic_fetch_add(&n_allocs, 1) + 1;
    const bool fails = fail_alloc > 0 && (k == fail_alloc || (persist && k > fail_alloc));
    if (fails && trace && k == fail_alloc) print_site(k);
    return fails;
}

void *ptq_fault_malloc(size_t size) { return alloc_fails() ? NULL : malloc(size); }

void *ptq_fault_calloc(size_t n, size_t size) { return alloc_fails() ? NULL : calloc(n, size); }

/* A failed realloc leaves the block as it was, as the real one does. */
void *ptq_fault_realloc(void *p, size_t size) { return alloc_fails() ? NULL : realloc(p, size); }

char *ptq_fault_strdup(const char *s) { return alloc_fails() ? NULL : strdup(s); }

void *ptq_fault_aligned_alloc(size_t align, size_t size) {
    return alloc_fails() ? NULL : aligned_alloc(align, size);
}

int ptq_fault_posix_memalign(void **p, size_t align, size_t size) {
    return alloc_fails() ? ENOMEM : posix_memalign(p, align, size);
}

/* The file behind fd now sits on a full disk: fd becomes a descriptor of /dev/full, on
 * which every write fails with ENOSPC (the file itself stays, empty, as it would). */
static void fill_disk(int fd) {
    const int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (full < 0) {
        fprintf(stderr, "ptq: PTQ_FAIL_WRITE needs /dev/full: %s\n", strerror(errno));
        return;
    }
    dup2(full, fd);
    close(full);
}

static bool write_fails(void) {
    pthread_once(&once, setup);
    return atomic_fetch_add(&n_writes, 1) + 1 == fail_write;
}

FILE *ptq_fault_fopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (f && strpbrk(mode, "wa+") && write_fails()) {
        fflush(f);
        fill_disk(fileno(f));
    }
    return f;
}

int ptq_fault_mkstemp(char *tmpl) {
    const int fd = mkstemp(tmpl);
    if (fd >= 0 && write_fails()) fill_disk(fd);
    return fd;
}

/* A file put on /dev/full keeps its permissions: the device's own must not change. */
int ptq_fault_fchmod(int fd, mode_t mode) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode)) return 0;
    return fchmod(fd, mode);
}
