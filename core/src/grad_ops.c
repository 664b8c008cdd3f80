/* grad_ops.c — backward of every IR op (see grad.h for the conventions). */
#include "grad.h"

const ptq_grad_traits ptq_grad_table[PTQ_OP_COUNT] = {{0}};
