/* sdk_headers.c — the SDK headers compile on their own as strict C (C11 and C17, with
 * -pedantic -Werror), and their ABI constants hold.  A C++17 twin is sdk_headers.cpp. */
#include "ptq/ptq_types.h"
#include "ptq/ptq_util.h" /* and through it ptq_plugin.h */

#include <stdio.h>

_Static_assert(sizeof(ptq_version) == 12, "ptq_version is three uint32");
_Static_assert(sizeof(ptq_tensor_view) == 8 + 4 + 4 + 8 * PTQ_MAX_DIMS + 8, "tensor view layout");
_Static_assert(PTQ_OP_COUNT == 50, "op numbers are ABI: append only");
_Static_assert(PTQ_OP_FAKE_QUANT == 27 && PTQ_OP_LAYER_NORM == 49, "op numbers are ABI: append only");

int main(void) {
    ptq_version v = PTQ_VERSION_INIT;
    if (!PTQ_VERSION_GE(v, 0, 1, 0) || PTQ_VERSION_GE(v, 99, 0, 0)) return 1;
    printf("sdk headers: C %ld ok, version %u.%u.%u\n", (long)__STDC_VERSION__, v.major, v.minor,
           v.patch);
    return 0;
}
