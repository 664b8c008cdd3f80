/* crash_init.c — a well-formed descriptor whose init crashes. */
#include "crash.h"
#include "trivial.h"

static ptq_status init(const ptq_host *host) {
    (void)host;
    crash_now();
    return PTQ_OK;
}
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "crash_init.x", "x", NULL, 0, NULL, NULL,
                                  NULL, trivial_run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "crash_init", "1.0", "crashes in init", init, NULL, passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
