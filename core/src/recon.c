/* recon.c */
#include "internal.h"
