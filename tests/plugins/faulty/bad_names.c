/* bad_names.c — names that break the rules: a pass without the plugin's prefix, one with
 * an upper-case letter, a parameter with a dash. */
#include <stddef.h>

#include "trivial.h"

typedef struct params { int32_t on; } params;
static const ptq_param_def defs[] = {
    {"dry-run", PTQ_PARAM_BOOL, 0, offsetof(params, on), 0, 1, 0, NULL, NULL, "a dash"},
    {0},
};
static const ptq_pass_def other = {sizeof(ptq_pass_def), "other.x", "wrong prefix", NULL, 0, NULL,
                                   NULL, NULL, trivial_run, NULL};
static const ptq_pass_def upper = {sizeof(ptq_pass_def), "bad_names.Tune", "upper case", defs,
                                   sizeof(params), NULL, NULL, NULL, trivial_run, NULL};
static const ptq_pass_def *const passes[] = {&other, &upper, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "bad_names", "1.0", "names against the rules", NULL, NULL,
                                     passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
