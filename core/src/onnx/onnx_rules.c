/* onnx_rules.c — the ONNX operator spec's rules on attribute values (onnx_rules.h). */
#include "onnx_rules.h"

#include <inttypes.h>
#include <stdarg.h>

ptq_status ptq_rule_fail(const ptq_rule_node *rn, ptq_status st, const char *fmt, ...) {
    char m[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return ptq_error_set(rn->err, st, "node '%s' (%s): %s", rn->name, rn->op, m);
}

ptq_status ptq_rule_int_min(const ptq_rule_node *rn, const char *what, int64_t v, int64_t min) {
    if (v >= min) return PTQ_OK;
    return ptq_rule_fail(rn, PTQ_ERR_INVALID, "%s=%" PRId64 " must be >= %" PRId64, what, v, min);
}

ptq_status ptq_rule_ints_min(const ptq_rule_node *rn, const char *what, const int64_t *v,
                             int32_t n, int64_t min) {
    for (int32_t i = 0; i < n; i++)
        if (v[i] < min)
            return ptq_rule_fail(rn, PTQ_ERR_INVALID, "%s[%d]=%" PRId64 " must be >= %" PRId64,
                                 what, i, v[i], min);
    return PTQ_OK;
}

ptq_status ptq_rule_floats_min(const ptq_rule_node *rn, const char *what, const float *v,
                               int32_t n, float min) {
    for (int32_t i = 0; i < n; i++)
        if (!(v[i] >= min)) /* NaN fails too */
            return ptq_rule_fail(rn, PTQ_ERR_INVALID, "%s[%d]=%g must be >= %g", what, i,
                                 (double)v[i], (double)min);
    return PTQ_OK;
}

ptq_status ptq_rule_axis(const ptq_rule_node *rn, const char *what, int64_t axis, int32_t r,
                         bool end_ok) {
    const int64_t hi = end_ok ? r : r - 1;
    if (axis >= -(int64_t)r && axis <= hi) return PTQ_OK;
    return ptq_rule_fail(rn, PTQ_ERR_INVALID, "%s=%" PRId64 " is out of range for rank %d "
                         "(%d to %" PRId64 ")", what, axis, r, -r, hi);
}

ptq_status ptq_rule_axes(const ptq_rule_node *rn, const char *what, const int64_t *axes,
                         int32_t n, int32_t r, bool unique) {
    uint64_t seen = 0;
    for (int32_t i = 0; i < n; i++) {
        if (axes[i] < -(int64_t)r || axes[i] >= r)
            return ptq_rule_fail(rn, PTQ_ERR_INVALID, "%s[%d]=%" PRId64 " is out of range for "
                                 "rank %d (%d to %d)", what, i, axes[i], r, -r, r - 1);
        const int64_t a = axes[i] < 0 ? axes[i] + r : axes[i];
        if (unique && ((seen >> a) & 1u))
            return ptq_rule_fail(rn, PTQ_ERR_INVALID, "%s[%d]=%" PRId64 " repeats axis %" PRId64,
                                 what, i, axes[i], a);
        seen |= (uint64_t)1 << a;
    }
    return PTQ_OK;
}
