/* session.c — placeholder; the session is being written. */
#include "session.h"

ptq_status ptq_pass_fold_bn(const ptq_host *host, ptq_session *s, const void *params) {
    (void)host, (void)params;
    return ptq_error_set(&s->err, PTQ_ERR_INTERNAL, "not yet");
}
ptq_status ptq_pass_calibrate(const ptq_host *host, ptq_session *s, const void *params) {
    (void)host, (void)params;
    return ptq_error_set(&s->err, PTQ_ERR_INTERNAL, "not yet");
}
