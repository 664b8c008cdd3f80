/* host.c — placeholder; the host table is being written. */
#include "session.h"

static const ptq_host host = {.abi = PTQ_VERSION_INIT, .struct_size = sizeof(ptq_host)};
const ptq_host *ptq_host_table(void) { return &host; }
