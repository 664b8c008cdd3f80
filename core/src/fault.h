/*
 * fault.h — fault injection for the core and the CLI (a -DPTQ_FAULT_INJECT=ON build only).
 *
 * Force-included (gcc -include) ahead of every source of libptq and of the `ptq` CLI, so
 * that every allocation and every file opened for writing goes through a counter without a
 * line of the modules changing:
 *
 *   PTQ_FAIL_ALLOC=N          the N-th allocation (1-based) returns NULL, only that one
 *                             (SQLite's "fail once"): the error path of that one site runs
 *   PTQ_FAIL_ALLOC_PERSIST=1  ... and every allocation after it fails too
 *   PTQ_FAIL_WRITE=N          the N-th file opened for writing (fopen "w"/"a"/"+", mkstemp)
 *                             is created, but lives on a full disk: its descriptor is
 *                             replaced by one of /dev/full, so every write reaching the
 *                             kernel fails with ENOSPC, through the real stdio buffering
 *   PTQ_FAIL_ALLOC_TRACE=1    print the stack of the allocation that fails
 *   PTQ_FAIL_ALLOC_COUNT=1    at exit, "ptq: N allocations, M files written" on stderr:
 *                             how many sites a command reaches, for a test to walk them
 *
 * Counted: malloc, calloc, realloc, strdup, aligned_alloc, posix_memalign as libptq and
 * the CLI call them (ptq_calloc_array, ptq_strdup, ptq_grow and the plugin host's alloc
 * are built on these).  Not counted: allocations inside other libraries (libyaml,
 * protobuf-c, OpenBLAS, zlib, libpng, libjpeg, the C library's own: fopen's buffer,
 * open_memstream, realpath) and inside plugins that call malloc themselves.
 *
 * No system header is included here: the force-include comes before a source's own
 * feature macros (_DEFAULT_SOURCE...), which must still decide what the system headers
 * declare.  The macros below are function-like, so the system headers' declarations of
 * malloc etc., read after them, become the declarations of the wrappers (with the C
 * library's attributes); fault.c itself is compiled with PTQ_FAULT_IMPL and sees the real
 * functions.  With none of the variables set a wrapper costs an atomic increment.
 */
#ifndef PTQ_FAULT_H
#define PTQ_FAULT_H

#ifndef PTQ_FAULT_IMPL
#define malloc(size) ptq_fault_malloc(size)
#define calloc(n, size) ptq_fault_calloc(n, size)
#define realloc(p, size) ptq_fault_realloc(p, size)
#define strdup(s) ptq_fault_strdup(s)
#define aligned_alloc(align, size) ptq_fault_aligned_alloc(align, size)
#define posix_memalign(p, align, size) ptq_fault_posix_memalign(p, align, size)
#define fopen(path, mode) ptq_fault_fopen(path, mode)
#define mkstemp(tmpl) ptq_fault_mkstemp(tmpl)
#define fchmod(fd, mode) ptq_fault_fchmod(fd, mode)
#endif

#endif
