/* hang_init.c — an init that never returns (sleeps): the probe kills it after
 * $PTQ_PLUGIN_TIMEOUT seconds and says "hung in init". */
#include <unistd.h>

#include "trivial.h"

static ptq_status init(const ptq_host *host) {
    (void)host;
    for (int i = 0; i < 120; i++) sleep(1); /* bounded, should the parent be gone */
    return PTQ_OK;
}
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "hang_init.x", "x", NULL, 0, NULL, NULL,
                                  NULL, trivial_run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "hang_init", "1.0", "hangs in init", init, NULL, passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
