/* pipeline.c — placeholder; the YAML loader is being written. */
#include "pipeline.h"
