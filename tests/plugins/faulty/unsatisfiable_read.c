/* unsatisfiable_read.c — a pass that reads an artifact nothing writes (a typo of
 * "quant.weights"): no pipeline could ever run it. */
#include "trivial.h"

static const char *const reads[] = {"quant.weight", NULL};
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "unsatisfiable_read.x", "x", NULL, 0,
                                  reads, NULL, NULL, trivial_run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "unsatisfiable_read", "1.0", "reads what nothing writes", NULL,
                                     NULL, passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
