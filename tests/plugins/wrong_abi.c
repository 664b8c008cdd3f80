/* wrong_abi.c — claims plugin ABI 99.0.0: the host must refuse it, naming both versions. */
#include "ptq/ptq_plugin.h"

static ptq_status run(const ptq_host *host, ptq_session *s, const void *p) {
    (void)host, (void)s, (void)p;
    return PTQ_OK;
}
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "wrong_abi.x", "x", NULL, 0, NULL, NULL, NULL, run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {{99, 0, 0}, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "wrong_abi", "1.0", "built for another ABI", NULL, NULL, passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
