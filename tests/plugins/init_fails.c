/* init_fails.c — its init reports an error: the host must unload it with that message. */
#include "ptq/ptq_plugin.h"

static ptq_status init(const ptq_host *host) {
    return host->error(NULL, PTQ_ERR_UNSUPPORTED, "no GPU found (test plugin refusing to start)");
}
static ptq_status run(const ptq_host *host, ptq_session *s, const void *p) {
    (void)host, (void)s, (void)p;
    return PTQ_OK;
}
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "init_fails.x", "x", NULL, 0, NULL, NULL, NULL, run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "init_fails", "1.0", "fails to initialise", init, NULL, passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
