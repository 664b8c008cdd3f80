// sdk_headers.cpp — the SDK headers compile as C++17 (-pedantic -Werror) for plugin
// authors who write C++.
#include "ptq/ptq_types.h"
#include "ptq/ptq_util.h" /* and through it ptq_plugin.h */

#include <cstdio>

static_assert(sizeof(ptq_version) == 12, "ptq_version is three uint32");
static_assert(PTQ_DIM_BATCH < 0, "the batch marker is negative");

int main() {
    ptq_version v = PTQ_VERSION_INIT;
    std::printf("sdk headers: C++ %ld ok, version %u.%u.%u\n", static_cast<long>(__cplusplus),
                v.major, v.minor, v.patch);
    return PTQ_VERSION_GE(v, 0, 1, 0) ? 0 : 1;
}
