/* crash_entry.c — its entry point dereferences a null pointer: discovery must name the
 * file and skip it, --check must say "crashed in entry". */
#include "crash.h"
#include "ptq/ptq_plugin.h"

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) {
    crash_now();
    return NULL;
}
