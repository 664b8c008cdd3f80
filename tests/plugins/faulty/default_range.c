/* default_range.c — defaults the tables' own ranges refuse: a float default above its
 * max, an enum default index past its choices, a range whose min exceeds its max. */
#include <stddef.h>

#include "trivial.h"

typedef struct params { double lr; int32_t mode; int64_t n; } params;
static const char *const modes[] = {"a", "b", NULL};
static const ptq_param_def defs[] = {
    {"lr", PTQ_PARAM_FLOAT, 0, offsetof(params, lr), 0, 1, 2.5, NULL, NULL, "above its max"},
    {"mode", PTQ_PARAM_ENUM, 0, offsetof(params, mode), 0, 0, 5, NULL, modes, "index 5 of 2"},
    {"n", PTQ_PARAM_INT, PTQ_PARAM_REQUIRED, offsetof(params, n), 10, 1, 0, NULL, NULL, "empty"},
    {0},
};
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "default_range.x", "x", defs,
                                  sizeof(params), NULL, NULL, NULL, trivial_run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "default_range", "1.0", "defaults outside their ranges", NULL,
                                     NULL, passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
