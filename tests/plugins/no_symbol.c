/* no_symbol.c — a shared object without ptq_plugin_entry: not a plugin. */
#include "ptq/ptq_plugin.h"

PTQ_PLUGIN_EXPORT int something_else(void);
PTQ_PLUGIN_EXPORT int something_else(void) { return 42; }
