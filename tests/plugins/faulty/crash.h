/* crash.h — a real invalid memory access, which the compiler cannot see coming (the
 * address is read at run time), for the test plugins that crash on purpose.  Not
 * instrumented in the sanitizer build: UBSan would stop at the null store with a report
 * and exit 1, and these plugins are there to die of SIGSEGV. */
#ifndef PTQ_TEST_CRASH_H
#define PTQ_TEST_CRASH_H
#include <stdint.h>

static volatile uintptr_t crash_address; /* 0, but not known to be 0 at compile time */

__attribute__((no_sanitize("undefined", "address"), noinline)) static void crash_now(void) {
    *(volatile int *)crash_address = 1;
}
#endif
