/* onnx_rules.h — the ONNX operator spec's rules on attribute values, checked at import.
 *
 * The IR fills absent attributes with defaults, so once a node is built an explicit
 * `group: 0` or `strides: [0, 0]` can no longer be told from "not given" (and shape
 * inference, which also serves graphs built in code, reads 0 as "the default").  These
 * checks run on the values as the file gives them, before the node is built.  One helper
 * per kind of rule; each refusal names the node, its op type and the attribute, e.g.
 *   node 'conv1' (Conv): attribute group=0 must be >= 1
 * `what` is the parameter as the spec calls it, with its kind: "attribute strides", or
 * "input axes" for what became an input in later opsets. */
#ifndef PTQ_ONNX_RULES_H
#define PTQ_ONNX_RULES_H

#include "internal.h"

/* The node a rule is checked on: its name (generated when the file has none), its ONNX
 * op type, and where a refusal goes. */
typedef struct ptq_rule_node {
    const char *name;
    const char *op;
    ptq_error *err;
} ptq_rule_node;

/* A refusal in the importer's form, "node 'name' (Op): <message>"; returns st. */
ptq_status ptq_rule_fail(const ptq_rule_node *rn, ptq_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* v >= min. */
ptq_status ptq_rule_int_min(const ptq_rule_node *rn, const char *what, int64_t v, int64_t min);

/* Every one of the n entries of v >= min (n < 0: absent, nothing to check). */
ptq_status ptq_rule_ints_min(const ptq_rule_node *rn, const char *what, const int64_t *v,
                             int32_t n, int64_t min);

/* Every one of the n entries of v >= min (Upsample's scales). */
ptq_status ptq_rule_floats_min(const ptq_rule_node *rn, const char *what, const float *v,
                               int32_t n, float min);

/* An axis of a tensor of rank r: in [-r, r - 1], or [-r, r] with end_ok (Flatten). */
ptq_status ptq_rule_axis(const ptq_rule_node *rn, const char *what, int64_t axis, int32_t r,
                         bool end_ok);

/* n axes of a tensor of rank r (r <= 64), each in [-r, r - 1]; with unique, none
 * repeated (a negative axis and its positive twin are the same axis). */
ptq_status ptq_rule_axes(const ptq_rule_node *rn, const char *what, const int64_t *axes,
                         int32_t n, int32_t r, bool unique);

#endif
