/* dup_param.c — a parameter table that defines 'steps' twice. */
#include <stddef.h>

#include "trivial.h"

typedef struct params { int64_t steps, more; } params;
static const ptq_param_def defs[] = {
    {"steps", PTQ_PARAM_INT, 0, offsetof(params, steps), 1, 100, 10, NULL, NULL, "steps"},
    {"steps", PTQ_PARAM_INT, 0, offsetof(params, more), 1, 100, 20, NULL, NULL, "again"},
    {0},
};
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "dup_param.x", "x", defs, sizeof(params),
                                  NULL, NULL, NULL, trivial_run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "dup_param", "1.0", "a parameter defined twice", NULL, NULL,
                                     passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
