/* onnx_export.c — placeholder; the exporter is being written. */
#include "internal.h"
