/* old_layout.c — a plugin as one built against SDK 0.3 looks to the host: its pass
 * definition ends at `run` (struct_size PTQ_PASS_DEF_SIZE_0_1).  The member after it is
 * set to an address that crashes if read, so a host that reads members a plugin's
 * struct_size does not cover fails the test. */
#include <stdint.h>

#include "ptq/ptq_plugin.h"

static ptq_status run(const ptq_host *host, ptq_session *s, const void *p) {
    (void)host, (void)s, (void)p;
    return PTQ_OK;
}

static const ptq_pass_def pass = {(uint32_t)PTQ_PASS_DEF_SIZE_0_1, "old_layout.x", "0.3 layout",
                                  NULL, 0, NULL, NULL, NULL, run,
                                  (const char *const *)(uintptr_t)8 /* beyond its struct */};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {{0, 3, 0}, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "old_layout", "0.3.0", "a plugin built against SDK 0.3",
                                     NULL, NULL, passes};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
