/* observers.c — choosing quantization ranges: minmax, percentile, MSE, KL (stub: the
 * helper replaces this file). */
#include "internal.h"
