/* fuzz_common.c — the temporary file every path-based reader is fuzzed through. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[4096];

static void remove_temp(void) {
    if (g_path[0]) unlink(g_path);
}

const char *fuzz_temp_file(const uint8_t *data, size_t size, const char *suffix) {
    static int registered;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    if (g_path[0]) unlink(g_path);
    snprintf(g_path, sizeof g_path, "%s/ptq-fuzz-%ld%s", dir, (long)getpid(), suffix);
    if (!registered) registered = atexit(remove_temp) == 0;
    FILE *f = fopen(g_path, "wb");
    if (!f) return NULL;
    const int ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0 || !ok) return NULL;
    return g_path;
}
