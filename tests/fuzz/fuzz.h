/* fuzz.h — what the fuzz harnesses share.
 *
 * Each harness defines LLVMFuzzerTestOneInput, libFuzzer's entry point: one input in,
 * everything it allocated freed before returning (libFuzzer's leak check runs per input).
 * The same harness links either with libFuzzer (scripts/fuzz.sh, clang) or with
 * replay.c, a plain main() that feeds it every file of the committed corpora and crash
 * reproducers: that is how the test suite runs them on every build. */
#ifndef PTQ_FUZZ_H
#define PTQ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The readers under test take paths: writes data to a file of this process (in
 * $TMPDIR or /tmp) whose name ends with suffix, and returns its path (static storage,
 * reused by the next call), or NULL when it cannot be written. */
const char *fuzz_temp_file(const uint8_t *data, size_t size, const char *suffix);

#endif
