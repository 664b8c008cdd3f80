/* conv_grad.c — Conv backward: weight gradient and input gradient. */
#include "../grad.h"
