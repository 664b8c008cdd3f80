/* tape.c */
#include "internal.h"
