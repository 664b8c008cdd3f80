/* recon.h — the reconstruction engine (recon.c); plugins reach it as host->reconstruct. */
#ifndef PTQ_RECON_H
#define PTQ_RECON_H

#include "quant/session.h"

/* Optimises the learnable quantizer state of one unit (see ptq_recon_options). */
ptq_status ptq_reconstruct(ptq_session *s, const ptq_recon_options *o, ptq_recon_result *res);

#endif
