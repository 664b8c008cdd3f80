/* crash.h — a real invalid memory access, which the compiler cannot see coming (the
 * address is read at run time), for the test plugins that crash on purpose. */
#ifndef PTQ_TEST_CRASH_H
#define PTQ_TEST_CRASH_H
#include <stdint.h>

static volatile uintptr_t crash_address; /* 0, but not known to be 0 at compile time */

static inline void crash_now(void) { *(volatile int *)crash_address = 1; }
#endif
