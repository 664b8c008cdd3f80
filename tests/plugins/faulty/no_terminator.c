/* no_terminator.c — a parameter table without its {0} terminator.  To keep the walk
 * that looks for it safe, the table has 300 well-formed entries (more than the 256 the
 * host looks at) in one static array, so what it reads is mapped and valid. */
#include <stddef.h>

#include "trivial.h"

typedef struct params { int32_t on; } params;
#define E(n) {#n, PTQ_PARAM_BOOL, 0, offsetof(params, on), 0, 1, 0, NULL, NULL, "x"},
#define E10(a) E(a##0) E(a##1) E(a##2) E(a##3) E(a##4) E(a##5) E(a##6) E(a##7) E(a##8) E(a##9)
#define E100(a) E10(a##0) E10(a##1) E10(a##2) E10(a##3) E10(a##4) E10(a##5) E10(a##6) \
                E10(a##7) E10(a##8) E10(a##9)
static const ptq_param_def defs[300] = {E100(p0) E100(p1) E100(p2)};
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "no_terminator.x", "x", defs,
                                  sizeof(params), NULL, NULL, NULL, trivial_run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "no_terminator", "1.0", "a table without its end", NULL, NULL,
                                     passes};
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
