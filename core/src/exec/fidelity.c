/* fidelity.c — how closely a model's outputs follow a reference model's, without labels
 * (ptq.h, fidelity.h): both run on the same batches, every graph output compared. */
#include <inttypes.h>

#include "exec/fidelity.h"

bool ptq_fidelity_output_init(ptq_fidelity_output *o, const char *name, int32_t ndim,
                              const int64_t *ne) {
    memset(o, 0, sizeof *o);
    o->ndim = PTQ_MIN(ndim, PTQ_MAX_DIMS);
    memcpy(o->ne, ne, (size_t)o->ndim * sizeof *ne);
    o->classes = ndim == 2 && ne[1] >= 2;
    o->sqnr_db = o->cosine = o->mean_sample_cosine = o->max_abs_err = o->mean_abs_err = NAN;
    o->top1_agreement = NAN;
    o->name = ptq_strdup(name ? name : "");
    return o->name != NULL;
}

/* The first largest score, NaN ignored; -1 when every score is NaN. */
static int64_t argmax(const float *x, int64_t n) {
    int64_t best = -1;
    for (int64_t k = 0; k < n; k++)
        if (!isnan(x[k]) && (best < 0 || x[k] > x[best])) best = k;
    return best;
}

/* Cosine of two vectors from their dot product and squared norms (conventions in
 * fidelity.h), clamped to [-1, 1] against rounding. */
static double cosine(double dot, double a2, double b2) {
    if (a2 == 0.0 || b2 == 0.0) return a2 == b2 ? 1.0 : 0.0;
    const double c = dot / sqrt(a2 * b2);
    return c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
}

void ptq_fidelity_accumulate(ptq_fidelity_output *o, const float *ref, const float *model,
                             int64_t samples, int64_t per_sample) {
    for (int64_t s = 0; s < samples; s++) {
        const float *r = ref + s * per_sample, *m = model + s * per_sample;
        double r2 = 0.0, m2 = 0.0, dot = 0.0, e2 = 0.0, ae = 0.0, mx = 0.0;
        int64_t finite = 0, bad_r = 0, bad_m = 0;
        for (int64_t i = 0; i < per_sample; i++) {
            const bool fr = isfinite(r[i]), fm = isfinite(m[i]);
            bad_r += !fr;
            bad_m += !fm;
            if (!fr || !fm) continue;
            const double x = r[i], y = m[i], e = y - x, a = fabs(e);
            r2 += x * x;
            m2 += y * y;
            dot += x * y;
            e2 += e * e;
            ae += a;
            mx = a > mx ? a : mx;
            finite++;
        }
        o->sum_ref2 += r2;
        o->sum_model2 += m2;
        o->sum_dot += dot;
        o->sum_err2 += e2;
        o->sum_abs_err += ae;
        if (finite && (o->elements == 0 || mx > o->max_abs_err || isnan(o->max_abs_err)))
            o->max_abs_err = mx;
        o->elements += finite;
        o->nonfinite_reference += bad_r;
        o->nonfinite_model += bad_m;
        o->sum_sample_cos += finite ? cosine(dot, r2, m2) : 0.0;
        if (o->classes) {
            const int64_t a = argmax(r, per_sample), b = argmax(m, per_sample);
            o->agree += a >= 0 && a == b;
        }
        o->samples++;
    }
}

void ptq_fidelity_finish(ptq_fidelity_output *o) {
    const double sig = o->sum_ref2, noise = o->sum_err2;
    if (o->elements == 0) o->sqnr_db = NAN;
    else if (noise == 0.0) o->sqnr_db = INFINITY;
    else if (sig == 0.0) o->sqnr_db = -INFINITY;
    else o->sqnr_db = 10.0 * log10(sig / noise);
    o->cosine = o->elements ? cosine(o->sum_dot, o->sum_ref2, o->sum_model2) : NAN;
    o->mean_sample_cosine = o->samples ? o->sum_sample_cos / (double)o->samples : NAN;
    o->mean_abs_err = o->elements ? o->sum_abs_err / (double)o->elements : NAN;
    if (!o->elements) o->max_abs_err = NAN;
    o->top1_agreement = o->classes && o->samples ? (double)o->agree / (double)o->samples : NAN;
}

void ptq_fidelity_free(ptq_fidelity *res) {
    for (int32_t k = 0; res->outputs && k < res->n_outputs; k++) free(res->outputs[k].name);
    free(res->outputs);
    memset(res, 0, sizeof *res);
}

const char *ptq_fidelity_output_str(const ptq_fidelity_output *o, char *buf, size_t size) {
    char shape[160], sq[48], top[48] = "", bad[96] = "";
    ptq_shape_str(o->ndim, o->ne, shape, sizeof shape);
    if (o->sqnr_db == INFINITY) snprintf(sq, sizeof sq, "inf dB (identical)");
    else if (isfinite(o->sqnr_db)) snprintf(sq, sizeof sq, "%.1f dB", o->sqnr_db);
    else snprintf(sq, sizeof sq, "n/a");
    if (o->classes) snprintf(top, sizeof top, ", top-1 agreement %.1f %%", 100.0 * o->top1_agreement);
    if (o->nonfinite_reference || o->nonfinite_model)
        snprintf(bad, sizeof bad, "; NaN/inf values: %" PRId64 " in the reference, %" PRId64
                 " in the model (left out)", o->nonfinite_reference, o->nonfinite_model);
    snprintf(buf, size, "%s: SQNR %s, cosine %.5f (per image %.5f), max|err| %.3g, mean|err| %.3g%s%s",
             shape, sq, o->cosine, o->mean_sample_cosine, o->max_abs_err, o->mean_abs_err, top, bad);
    return buf;
}

/* ---- running both models ------------------------------------------------------------ */

/* The batch both executors run: a fixed-batch model's own (both must agree), else the
 * caller's.  0 with err set when the two fix different batches. */
static int64_t run_batch(const ptq_graph *a, const ptq_graph *b, int64_t batch, ptq_error *err) {
    const int64_t fa = a->values[a->inputs[0]].ne[0], fb = b->values[b->inputs[0]].ne[0];
    if (fa != PTQ_DIM_BATCH && fb != PTQ_DIM_BATCH && fa != fb) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "the reference runs batches of %" PRId64 " and "
                      "the model batches of %" PRId64 ": they cannot share an input", fa, fb);
        return 0;
    }
    if (fa != PTQ_DIM_BATCH) return fa;
    if (fb != PTQ_DIM_BATCH) return fb;
    return batch < 1 ? 1 : batch;
}

/* Output k's floats per sample in both executors after a run of `run` samples; 0 with
 * err set when they differ or the batch is not the output's first dimension. */
static int64_t per_sample(const ptq_exec *er, const ptq_exec *em, const ptq_graph *ref,
                          const ptq_graph *model, int32_t k, int64_t run, ptq_error *err) {
    int32_t nr, nm;
    int64_t ner[PTQ_MAX_DIMS], nem[PTQ_MAX_DIMS];
    char b1[160], b2[160];
    ptq_exec_shape(er, ref->outputs[k], &nr, ner);
    ptq_exec_shape(em, model->outputs[k], &nm, nem);
    const char *name = ref->values[ref->outputs[k]].name;
    if (nr < 1 || ner[0] != run || nm < 1 || nem[0] != run) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "output '%s' is %s (model: %s) for a batch of "
                      "%" PRId64 ": fidelity compares per image and needs the batch first",
                      name, ptq_shape_str(nr, ner, b1, sizeof b1),
                      ptq_shape_str(nm, nem, b2, sizeof b2), run);
        return 0;
    }
    const int64_t a = ptq_shape_numel(nr, ner), b = ptq_shape_numel(nm, nem);
    if (a != b || a <= 0) {
        ptq_error_set(err, PTQ_ERR_INVALID, "output %d ('%s') is %s in the reference but %s in "
                      "the model", k, name, ptq_shape_str(nr, ner, b1, sizeof b1),
                      ptq_shape_str(nm, nem, b2, sizeof b2));
        return 0;
    }
    return a / run;
}

static ptq_exec *new_exec(const ptq_graph *g, int64_t batch, int32_t threads, ptq_error *err) {
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = batch;
    eo.threads = threads;
    return ptq_exec_new(g, &eo, err);
}

ptq_status ptq_fidelity_evaluate(const ptq_graph *reference, const ptq_graph *model,
                                 const ptq_dataset *ds, int64_t batch, int32_t threads,
                                 ptq_fidelity *res, ptq_error *err) {
    memset(res, 0, sizeof *res);
    ptq_status st = ptq_dataset_fits_model(reference, ds, false, err);
    if (st) {
        ptq_error_prefix(err, "the reference model");
        return st;
    }
    if ((st = ptq_dataset_fits_model(model, ds, false, err))) {
        ptq_error_prefix(err, "the model");
        return st;
    }
    if (reference->n_outputs != model->n_outputs)
        return ptq_error_set(err, PTQ_ERR_INVALID, "the reference model has %d outputs and the "
                             "model %d: fidelity compares them one by one", reference->n_outputs,
                             model->n_outputs);
    const int64_t run = run_batch(reference, model, batch, err);
    if (!run) return err->status;
    res->outputs = ptq_calloc_array((size_t)reference->n_outputs, sizeof *res->outputs);
    if (!res->outputs) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    res->n_outputs = reference->n_outputs;
    for (int32_t k = 0; k < res->n_outputs; k++) {
        const ptq_value *v = &reference->values[reference->outputs[k]];
        if (!ptq_fidelity_output_init(&res->outputs[k], v->name, v->ndim, v->ne))
            return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    }
    ptq_exec *er = new_exec(reference, run, threads, err);
    ptq_exec *em = er ? new_exec(model, run, threads, err) : NULL;
    const int64_t per = (int64_t)ds->c * ds->h * ds->w;
    const bool fixed = reference->values[reference->inputs[0]].ne[0] != PTQ_DIM_BATCH ||
                       model->values[model->inputs[0]].ne[0] != PTQ_DIM_BATCH;
    float *tail = NULL; /* a fixed-batch model's last partial batch, zero-padded */
    st = em ? PTQ_OK : err->status;
    for (int64_t at = 0; at < ds->n && !st; at += run) {
        const int64_t nb = PTQ_MIN(run, ds->n - at);
        const float *src = ds->images + at * per;
        int64_t n = nb;
        if (fixed && nb < run) {
            if (!(tail = ptq_calloc_array((size_t)(run * per), sizeof *tail))) {
                st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(tail, src, (size_t)(nb * per) * sizeof *tail);
            src = tail;
            n = run;
        }
        ptq_exec_bind(er, reference->inputs[0], src);
        ptq_exec_bind(em, model->inputs[0], src);
        const double t0 = ptq_now_seconds();
        if ((st = ptq_exec_run(er, n, err)) || (st = ptq_exec_run(em, n, err))) break;
        res->seconds += ptq_now_seconds() - t0;
        for (int32_t k = 0; k < res->n_outputs && !st; k++) {
            const int64_t ps = per_sample(er, em, reference, model, k, n, err);
            if (!ps) {
                st = err->status;
                break;
            }
            ptq_fidelity_accumulate(&res->outputs[k], ptq_exec_data(er, reference->outputs[k]),
                                    ptq_exec_data(em, model->outputs[k]), nb, ps);
        }
        res->images += nb;
        ptq_eval_progress_report("comparing with the float model", res->images, ds->n);
    }
    free(tail);
    ptq_exec_free(em);
    ptq_exec_free(er);
    for (int32_t k = 0; k < res->n_outputs; k++) ptq_fidelity_finish(&res->outputs[k]);
    return st;
}
