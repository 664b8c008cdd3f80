/* probe.c — ModCap's short reconstruction and its loss-along-depth measurement
 * (probe.h).  The rounding is the adaround plugin's own (../adaround/unit.c, compiled
 * in), so the probe learns what BRECQ/QDrop will. */
#include "probe.h"

#include <math.h>
#include <string.h>

#include <ptq/ptq_util.h>

#include "../adaround/unit.h"

/* Floats per sample of a run-time value, and its spatial positions. */
static int64_t per_sample(const ptq_host *h, ptq_session *s, int32_t v, double *pos_out) {
    ptq_tensor_view t = {.struct_size = sizeof t};
    *pos_out = 1.0;
    if (h->value_view(s, v, &t)) return 0;
    int64_t n = 1;
    for (int32_t d = 1; d < t.ndim; d++) n *= t.ne[d];
    for (int32_t d = 2; d < t.ndim; d++) *pos_out *= (double)t.ne[d];
    return n;
}

ptq_status mc_measure_depth(const ptq_host *h, ptq_session *s, const mc_modules *mods,
                            int64_t images, mc_depth *depth) {
    ptq_tensor_view calib = {.struct_size = sizeof calib};
    ptq_status st = h->calib_view(s, &calib, NULL);
    if (st) return st;
    if (images <= 0 || images > calib.ne[0]) images = calib.ne[0];
    const int64_t sample = calib.ne[1] * calib.ne[2] * calib.ne[3];
    enum { CHUNK = 32 };
    int32_t *keep = h->alloc((size_t)mods->n * sizeof *keep);
    if (!keep) return h->error(s, PTQ_ERR_NOMEM, "modcap: out of memory");
    for (int32_t m = 0; m < mods->n; m++) keep[m] = mods->m[m].output, depth->err[m] = depth->power[m] = 0.0;
    ptq_run *fr = h->run_new(s, PTQ_MODEL_FLOAT, NULL, 0, keep, mods->n, CHUNK);
    ptq_run *qr = fr ? h->run_new(s, PTQ_MODEL_QUANT, NULL, 0, keep, mods->n, CHUNK) : NULL;
    if (!fr || !qr) st = PTQ_ERR_INVALID; /* run_new has recorded why */
    const float *x = calib.data;
    for (int64_t at = 0; at < images && !st; at += CHUNK) {
        const int64_t b = images - at < CHUNK ? images - at : CHUNK;
        st = h->run_bind(fr, mods->input, x + at * sample);
        if (!st) st = h->run_bind(qr, mods->input, x + at * sample);
        if (!st) st = h->run_exec(fr, b);
        if (!st) st = h->run_exec(qr, b);
        for (int32_t m = 0; m < mods->n && !st; m++) {
            const float *f = h->run_data(fr, keep[m]), *q = h->run_data(qr, keep[m]);
            double pos;
            const int64_t n = b * per_sample(h, s, keep[m], &pos);
            if (!f || !q) {
                st = h->error(s, PTQ_ERR_INTERNAL, "modcap: the runs did not keep '%s'",
                              h->value_name(s, keep[m]));
                break;
            }
            double e = 0.0, p = 0.0;
            for (int64_t i = 0; i < n; i++) {
                const double d = (double)q[i] - (double)f[i];
                e += d * d, p += (double)f[i] * (double)f[i];
            }
            depth->err[m] += e / pos, depth->power[m] += p / pos;
        }
    }
    for (int32_t m = 0; m < mods->n && !st; m++) depth->err[m] /= (double)images, depth->power[m] /= (double)images;
    if (qr) h->run_free(qr);
    if (fr) h->run_free(fr);
    h->free(keep);
    return st;
}

ptq_status mc_probe(const ptq_host *h, ptq_session *s, const mc_modules *mods, const int32_t *group,
                    int32_t n_groups, const mc_probe_cfg *cfg, double *unit_loss, mc_depth *depth,
                    double *seconds) {
    const double t0 = ptq_util_seconds();
    const int32_t n = mods->n_nodes;
    int32_t *nodes = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *nodes);
    ada_unit_weight *w = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *w);
    int32_t *learned = h->alloc((size_t)(n > 0 ? n : 1) * sizeof *learned);
    if (!nodes || !w || !learned) {
        h->free(nodes), h->free(w), h->free(learned);
        return h->error(s, PTQ_ERR_NOMEM, "modcap: out of memory");
    }
    const ada_schedule sched = {cfg->iterations, 1e-3, cfg->reg_weight, 20.0, 2.0, 0.2, 0};
    ada_unit u = {h, s, &sched, w, 0};
    int32_t n_learned = 0;
    ptq_status st = PTQ_OK;
    for (int32_t g = 0, m = 0; g < n_groups && !st; g++) {
        const int32_t first = m;
        while (m < mods->n && group[m] == g) m++;
        const int32_t k = mc_module_nodes(mods, first, m - 1, nodes);
        unit_loss[g] = NAN;
        char label[256];
        ptq_util_nodes_label(h, s, nodes, k, label, sizeof label);
        ptq_recon_options o = {.struct_size = sizeof o};
        o.activations = PTQ_RECON_ACT_QUANT;
        o.iterations = cfg->iterations;
        o.batch = cfg->batch;
        o.images = cfg->images;
        o.loss_p = 2.0;
        o.drop_prob = cfg->drop_prob;
        o.label = label;
        o.unit_index = g + 1;
        o.unit_count = n_groups;
        ptq_recon_result r = {.struct_size = sizeof r};
        int64_t flipped = 0, total = 0;
        st = ada_unit_reconstruct(&u, nodes, k, &o, &r, &flipped, &total);
        for (int32_t i = 0; i < u.n_w; i++) learned[n_learned++] = u.w[i].quantizer;
        if (st) break;
        if (u.n_w == 0) continue;
        unit_loss[g] = r.loss_last;
    }
    if (!st && depth) st = mc_measure_depth(h, s, mods, cfg->depth_images, depth);
    /* Everything back to round-to-nearest (soft or hard, whichever each weight holds). */
    for (int32_t i = 0; i < n_learned; i++) {
        h->quantizer_set_rounding(s, learned[i], NULL, NULL);
        h->quantizer_changed(s, learned[i]);
    }
    h->free(nodes), h->free(w), h->free(learned);
    *seconds = ptq_util_seconds() - t0;
    return st;
}
