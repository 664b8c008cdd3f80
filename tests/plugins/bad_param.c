/* bad_param.c — a parameter whose default lies outside its range: refused at load. */
#include <stddef.h>

#include "ptq/ptq_plugin.h"

typedef struct params { int64_t n; } params;
static const ptq_param_def defs[] = {
    {"n", PTQ_PARAM_INT, 0, offsetof(params, n), 1, 10, 50, NULL, NULL, "default out of range"},
    {0},
};
static ptq_status run(const ptq_host *host, ptq_session *s, const void *p) {
    (void)host, (void)s, (void)p;
    return PTQ_OK;
}
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "bad_param.x", "x", defs, sizeof(params),
                                  NULL, NULL, NULL, run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "bad_param", "1.0", "malformed table", NULL, NULL, passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
