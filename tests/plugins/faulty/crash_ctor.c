/* crash_ctor.c — a constructor that crashes: it runs inside dlopen, before the entry. */
#include "crash.h"
#include "trivial.h"

__attribute__((constructor)) static void crash_at_load(void) { crash_now(); }

static const ptq_pass_def pass = {sizeof(ptq_pass_def), "crash_ctor.x", "x", NULL, 0, NULL, NULL,
                                  NULL, trivial_run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "crash_ctor", "1.0", "crashes in a constructor", NULL, NULL,
                                     passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
