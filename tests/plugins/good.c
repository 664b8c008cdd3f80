/* good.c — a well-formed test plugin with one parameter of every type and a pass that
 * exercises the host table (used by test_plugins.c and the pipeline tests). */
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#include "ptq/ptq_plugin.h"

typedef struct params {
    int32_t flag;
    int64_t count;
    double rate;
    const char *label;
    int32_t mode;
} params;

static const char *const modes[] = {"fast", "slow", NULL};

static const ptq_param_def defs[] = {
    {"flag", PTQ_PARAM_BOOL, 0, offsetof(params, flag), 0, 1, 1, NULL, NULL, "a flag"},
    {"count", PTQ_PARAM_INT, 0, offsetof(params, count), 1, 100, 10, NULL, NULL, "a count"},
    {"rate", PTQ_PARAM_FLOAT, 0, offsetof(params, rate), 0, 1, 0.5, NULL, NULL, "a rate"},
    {"label", PTQ_PARAM_STRING, 0, offsetof(params, label), 0, 0, 0, "none", NULL, "a label"},
    {"mode", PTQ_PARAM_ENUM, 0, offsetof(params, mode), 0, 0, 1, NULL, modes, "a mode"},
    {0},
};

static ptq_status run(const ptq_host *host, ptq_session *s, const void *p) {
    const params *q = p;
    /* Misbehaviour on request, for the tests of what a run does when a pass fails
     * (label "fail") or its process dies (label "abort"). */
    if (q->label && !strcmp(q->label, "fail")) return host->error(s, PTQ_ERR_INVALID, "asked to fail");
    if (q->label && !strcmp(q->label, "abort")) abort();
    int64_t *c = host->alloc(sizeof *c);
    if (!c) return host->error(s, PTQ_ERR_NOMEM, "out of memory");
    *c = q->count;
    return host->artifact_set(s, "good.count", c, sizeof *c, host->free);
}

static const char *const writes[] = {"good.count", NULL};
static const ptq_pass_def pass = {sizeof(ptq_pass_def), "good.count", "stores its count",
                                  defs, sizeof(params), NULL, NULL, writes, run, NULL};
static const ptq_pass_def *const passes[] = {&pass, NULL};
static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc), PTQ_ABI_FINGERPRINT,
                                     "good", "1.2.3", "a test plugin", NULL, NULL, passes};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
