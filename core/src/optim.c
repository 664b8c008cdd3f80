/* optim.c */
#include "internal.h"
