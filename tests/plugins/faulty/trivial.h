/* trivial.h — a pass that does nothing, for the test plugins whose fault is elsewhere. */
#ifndef PTQ_TEST_TRIVIAL_H
#define PTQ_TEST_TRIVIAL_H
#include "ptq/ptq_plugin.h"

static ptq_status trivial_run(const ptq_host *host, ptq_session *s, const void *p) {
    (void)host, (void)s, (void)p;
    return PTQ_OK;
}
#endif
