/* crash_pass.c — loads and initialises fine; its pass crashes when run, with the
 * temporary output directory already made: ptq must name the pass and its plugin, remove
 * the directory and die of the signal. */
#include "crash.h"
#include "ptq/ptq_plugin.h"

static ptq_status run(const ptq_host *host, ptq_session *s, const void *p) {
    (void)p;
    host->log(s, PTQ_LOG_INFO, "about to crash");
    crash_now();
    return PTQ_OK;
}
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "crash_pass.boom", "crashes when run",
                                  NULL, 0, NULL, NULL, NULL, run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "crash_pass", "1.0", "a pass that crashes", NULL, NULL, passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
