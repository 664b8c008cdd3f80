/* unit.c — AdaRound's soft rounding on one unit's weights, its step hook and its
 * freezing (unit.h). */
#include <math.h>
#include <string.h>

#include <ptq/ptq_util.h>

#include "unit.h"

const char *const ada_anneal_names[] = {"linear", "cosine", NULL};

double ada_unit_step(void *user, int64_t t, int64_t total) {
    ada_unit *u = user;
    const ada_schedule *p = u->sched;
    const bool warm = (double)t < p->warmup * (double)total;
    const double beta = ada_beta_at(p->beta_start, p->beta_end, p->warmup, p->anneal, t, total);
    double reg = 0.0;
    for (int32_t i = 0; i < u->n_w; i++) {
        ada_soft *st = u->w[i].soft;
        if (!warm) reg += ada_regularize(st, beta, p->reg_weight);
        u->h->optim_step(st->opt, st->V, st->grad);
        memset(st->grad, 0, (size_t)st->n * sizeof(float));
    }
    return reg;
}

ptq_status ada_unit_install(ada_unit *u, const int32_t *nodes, int32_t k) {
    const ptq_host *h = u->h;
    u->n_w = 0;
    for (int32_t i = 0; i < k; i++) {
        const int32_t q = ptq_util_weight_quantizer(h, u->s, nodes[i]);
        if (q < 0) continue;
        ptq_quant_view qv = {.struct_size = sizeof qv};
        ptq_tensor_view wv = {.struct_size = sizeof wv};
        ptq_status st = h->quantizer_view(u->s, q, &qv);
        if (!st) st = h->value_view(u->s, qv.value, &wv);
        if (st) return st;
        if (qv.axis > 0 && qv.n > 1)
            return h->error(u->s, PTQ_ERR_UNSUPPORTED,
                            "adaround: weight '%s' has per-channel scales on axis %d; only axis 0 "
                            "(Conv, Gemm with transB) is supported", h->value_name(u->s, qv.value), qv.axis);
        int64_t numel = 1;
        for (int32_t d = 0; d < wv.ndim; d++) numel *= wv.ne[d];
        const int64_t channels = qv.n > 1 ? qv.n : 1;
        ada_soft *soft = ada_soft_new(h, u->s, wv.data, qv.scale, channels, numel / channels,
                                      u->sched->lr, u->sched->iterations);
        if (!soft) return h->error(u->s, PTQ_ERR_NOMEM, "adaround: out of memory");
        st = h->quantizer_set_rounding(u->s, q, &ada_soft_rounding, soft);
        if (st) {
            ada_soft_rounding.destroy(soft);
            return st;
        }
        u->w[u->n_w++] = (ada_unit_weight){q, soft};
    }
    return PTQ_OK;
}

ptq_status ada_unit_harden(ada_unit *u, int64_t *flipped, int64_t *total) {
    const ptq_host *h = u->h;
    for (int32_t i = 0; i < u->n_w; i++) {
        ada_soft *soft = u->w[i].soft;
        ptq_quant_view qv = {.struct_size = sizeof qv};
        ptq_tensor_view wv = {.struct_size = sizeof wv};
        ptq_status st = h->quantizer_view(u->s, u->w[i].quantizer, &qv);
        if (!st) st = h->value_view(u->s, qv.value, &wv);
        if (st) return st;
        ada_hard *hard = ada_hard_from(h, soft);
        if (!hard) return h->error(u->s, PTQ_ERR_NOMEM, "adaround: out of memory");
        const float *w = wv.data;
        const int64_t channels = qv.n > 1 ? qv.n : 1, inner = soft->n / channels;
        for (int64_t e = 0; e < soft->n; e++) {
            const float v = w[e] / qv.scale[e / inner];
            *flipped += (floorf(v) + (float)hard->up[e]) != rintf(v);
        }
        *total += soft->n;
        /* Replacing the rounding destroys the soft state. */
        st = h->quantizer_set_rounding(u->s, u->w[i].quantizer, &ada_hard_rounding, hard);
        u->w[i].soft = NULL;
        if (st) {
            ada_hard_rounding.destroy(hard);
            return st;
        }
        h->quantizer_changed(u->s, u->w[i].quantizer);
    }
    return PTQ_OK;
}

void ada_unit_restore(ada_unit *u) {
    for (int32_t i = 0; i < u->n_w; i++) {
        u->h->quantizer_set_rounding(u->s, u->w[i].quantizer, NULL, NULL);
        u->h->quantizer_changed(u->s, u->w[i].quantizer);
    }
}

ptq_status ada_unit_reconstruct(ada_unit *u, const int32_t *nodes, int32_t k, ptq_recon_options *o,
                                ptq_recon_result *r, int64_t *flipped, int64_t *total) {
    ptq_status st = ada_unit_install(u, nodes, k);
    if (!st && u->n_w == 0) return PTQ_OK; /* nothing to learn (e.g. a float layer) */
    if (!st) {
        o->nodes = nodes;
        o->n_nodes = k;
        o->user = u;
        o->step = ada_unit_step;
        st = u->h->reconstruct(u->s, o, r);
    }
    if (!st) return ada_unit_harden(u, flipped, total);
    ada_unit_restore(u);
    return st;
}
