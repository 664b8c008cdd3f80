/* run.c — running a pipeline end to end: the checks (files, data, output location)
 * before anything runs, float evaluation, the passes (each measured before and after,
 * measure.h), quantized evaluation, then the QDQ export, its normalization sidecar,
 * report.json and pipeline.yaml, written into a temporary directory that replaces the
 * output directory only when everything succeeded (outdir.h). */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "evalcache.h"
#include "guard.h"
#include "html.h"
#include "outdir.h"
#include "run.h"

ptq_status ptq_pipeline_execute(const ptq_pipeline *p, const ptq_registry *reg, const char *out_dir,
                                bool force, ptq_error *err);

/* ---- normalization that travels with the export ---------------------------------------- */

/* The input normalization the quantized model expects: the calibration set's (its ranges
 * were computed on it), else the evaluation set's, else the model's own sidecar. */
static bool export_normalization(const ptq_pipeline *p, ptq_preprocess *pp, char *from,
                                 size_t size) {
    static const char *const names[] = {"", "the pipeline's normalize", "the model's sidecar"};
    const ptq_dataset_cfg *c = p->calibration.present && p->calibration.norm_from
                                   ? &p->calibration
                                   : (p->evaluation.present && p->evaluation.norm_from ? &p->evaluation
                                                                                       : NULL);
    memset(pp, 0, sizeof *pp);
    if (c) {
        ptq_dataset_cfg_preprocess(c, pp);
        snprintf(from, size, "%s", names[c->norm_from]);
        return true;
    }
    if (ptq_sidecar_normalization(p->model, pp, NULL, 0)) {
        snprintf(from, size, "%s", names[PTQ_NORM_SIDECAR]);
        return true;
    }
    return false;
}

/* The sidecar beside the export (MODEL.json for MODEL.onnx), in the form the bundled
 * models' sidecars take, so `ptq eval` and a later pipeline find the normalization even
 * where the ONNX metadata is dropped. */
static ptq_status write_sidecar(ptq_session *s, const ptq_run_results *r, const char *onnx_path,
                                const ptq_preprocess *pp, ptq_error *err) {
    char path[8192];
    const size_t len = strlen(onnx_path) - 5; /* ".onnx" */
    snprintf(path, sizeof path, "%.*s.json", (int)len, onnx_path);
    FILE *f = fopen(path, "w");
    if (!f) return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    char mean[512], std[512];
    static const float zero = 0.0f, one = 1.0f;
    ptq_format_floats(pp->n_mean ? pp->mean : &zero, pp->n_mean ? pp->n_mean : 1, mean, sizeof mean);
    ptq_format_floats(pp->n_std ? pp->std : &one, pp->n_std ? pp->n_std : 1, std, sizeof std);
    fprintf(f, "{\n \"mean\": [%s],\n \"std\": [%s],\n \"quantized_by\": \"qcraft %s\",\n",
            mean, std, ptq_version_string());
    fprintf(f, " \"float_top1\": ");
    if (r->have_eval) fprintf(f, "%.4f,\n \"quantized_top1\": %.4f\n}\n", r->fl.top1, r->qu.top1);
    else fprintf(f, "null,\n \"quantized_top1\": null\n}\n");
    (void)s;
    /* A write that failed earlier (and lost its bytes) need not make fclose fail. */
    const bool lost = ferror(f) != 0;
    if (fclose(f) != 0 || lost)
        return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return PTQ_OK;
}

/* ---- export -------------------------------------------------------------------------- */

static ptq_status export_qdq(ptq_session *s, const char *path, const ptq_preprocess *norm) {
    ptq_graph *sim = ptq_session_sim_graph(s, s->q, s->n_q, &s->err);
    if (!sim) return s->err.status;
    ptq_export_weight *w = ptq_calloc_array((size_t)s->n_q, sizeof *w);
    int32_t **codes = ptq_calloc_array((size_t)s->n_q, sizeof *codes);
    int32_t nw = 0;
    ptq_status st = PTQ_OK;
    char wb[32], ab[32], mean[512] = "", std[512] = "";
    snprintf(wb, sizeof wb, "%d", s->cfg.quant->quantize_weights ? s->cfg.quant->weights.bits : 32);
    snprintf(ab, sizeof ab, "%d", s->cfg.quant->quantize_activations ? s->cfg.quant->activations.bits : 32);
    if (!w || !codes) {
        st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory exporting");
        goto out;
    }
    for (int32_t i = 0; i < s->n_q && !st; i++) {
        if (!s->q[i].is_weight) continue;
        codes[nw] = ptq_calloc_array((size_t)ptq_tensor_numel(s->g->values[s->q[i].value].data),
                                     sizeof(int32_t));
        if (!codes[nw] || ptq_session_weight_codes(s, i, codes[nw])) {
            free(codes[nw]); /* not counted in nw yet */
            st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory exporting");
            break;
        }
        w[nw] = (ptq_export_weight){s->q[i].value, &s->q[i].qp, codes[nw],
                                    s->cfg.quant->target == PTQ_TARGET_NONE};
        nw++;
    }
    if (!st) {
        const char *keys[7] = {"qcraft.version", "qcraft.weights.bits", "qcraft.activations.bits",
                               "qcraft.pipeline", "qcraft.target"};
        const char *vals[7] = {ptq_version_string(), wb, ab, s->cfg.path,
                               ptq_target_name(s->cfg.quant->target)};
        int32_t n = 5;
        if (norm) {
            static const float zero = 0.0f, one = 1.0f;
            ptq_format_floats(norm->n_mean ? norm->mean : &zero, norm->n_mean ? norm->n_mean : 1,
                              mean, sizeof mean);
            ptq_format_floats(norm->n_std ? norm->std : &one, norm->n_std ? norm->n_std : 1, std,
                              sizeof std);
            keys[n] = PTQ_META_NORM_MEAN, vals[n++] = mean;
            keys[n] = PTQ_META_NORM_STD, vals[n++] = std;
        }
        st = ptq_onnx_export(sim, w, nw, keys, vals, n, path, &s->err);
    }
out:
    for (int32_t i = 0; codes && i < nw; i++) free(codes[i]);
    free(codes);
    free(w);
    ptq_graph_free(sim);
    return st;
}

/* ---- the run -------------------------------------------------------------------------- */

/* "  pass   1.23 s   model output SQNR 14.1 -> 17.9 dB (vs the original float model)", and
 * the float function's own change when a pass moved it beyond float rounding. */
static void print_measure_line(const ptq_pass_record *pr) {
    const double b = pr->before.valid ? pr->before.model_db : NAN;
    const double a = pr->after.valid ? pr->after.model_db : NAN;
    fprintf(stderr, "  %-24s %8.2f s", pr->cfg->def->name, pr->seconds);
    if (isfinite(a) && isfinite(b))
        fprintf(stderr, "   output SQNR %.1f -> %.1f dB", b, a);
    else if (isfinite(a))
        fprintf(stderr, "   output SQNR -> %.1f dB", a);
    if (pr->cfg->implicit) fprintf(stderr, "   (implicit)");
    const double moved = ptq_measurement_drift_db(&pr->before, &pr->after);
    if (isfinite(moved) && moved < PTQ_FLOAT_MOVED_DB)
        fprintf(stderr, "\n  %-24s            changed the float model: its output SQNR %.1f dB "
                "against before the pass, top-1 agreement with the original %.1f %%", "",
                moved, 100.0 * pr->after.float_agree);
    fputc('\n', stderr);
}

/* ---- weights a pass changed without saying so ---------------------------------------- */

/* A hash of each calibrated weight quantizer's float weights (0 for the others). */
static void weight_hashes(const ptq_session *s, uint64_t *h, int32_t n) {
    for (int32_t i = 0; i < n && i < s->n_q; i++) {
        h[i] = 0;
        if (!s->q[i].is_weight || !s->q[i].calibrated) continue;
        const ptq_tensor *t = s->g->values[s->q[i].value].data;
        uint64_t x = 0xcbf29ce484222325ULL;
        const uint32_t *w = t->data;
        for (int64_t k = 0; k < ptq_tensor_numel(t); k++) x = (x ^ w[k]) * 0x100000001b3ULL;
        h[i] = x | 1;
    }
}

static bool declares(const ptq_pass_def *d, const char *artifact) {
    if (!PTQ_PASS_HAS(d, invalidates)) return false;
    for (int32_t i = 0; d->invalidates && d->invalidates[i]; i++)
        if (!strcmp(d->invalidates[i], artifact)) return true;
    return false;
}

/* After a pass: weights under already calibrated quantizers changed although the pass
 * does not declare it invalidates quant.weights (a plugin of an older SDK, or a bug): the
 * planner could not recompute those ranges, so say so. */
static void check_undeclared(const ptq_session *s, const ptq_pass_def *d, const uint64_t *before,
                             uint64_t *after, int32_t n) {
    if (!before || !after || declares(d, "quant.weights") || s->n_q < n) return;
    weight_hashes(s, after, n);
    int32_t changed = 0, first = -1;
    for (int32_t i = 0; i < n; i++)
        if (before[i] && after[i] != before[i]) changed++, first = first < 0 ? i : first;
    if (changed)
        fprintf(stderr, "warning: pass '%s' changed the weights of %d layer%s (first: '%s') after "
                "their quantizers were calibrated, and does not declare that it invalidates "
                "'quant.weights': their ranges are stale (the export uses them as they are).  "
                "Run it before calibration, or have it declare 'invalidates'\n", d->name, changed,
                changed == 1 ? "" : "s", s->g->nodes[s->q[first].node].name);
}

static void eval_progress(void *ctx, const char *what, int64_t done, int64_t total) {
    ptq_session_progress(ctx, what, done, total);
}

/* Everything a run reads, opened and checked against the model before any work: the
 * model, the calibration and evaluation data (their shapes against the model's input,
 * labels against its classes).  Loads `*eval` when the pipeline has an evaluation set. */
static ptq_status open_inputs(const ptq_pipeline *p, ptq_session *s, ptq_dataset **eval,
                              ptq_error *err) {
    if (s->calib && ptq_dataset_fits_model(s->g, s->calib, false, err)) {
        ptq_error_prefix(err, "calibration data %s", p->calibration.images);
        return err->status;
    }
    if (!p->evaluation.present) return PTQ_OK;
    *eval = ptq_session_load_dataset(s, &p->evaluation, "evaluation", err);
    if (!*eval) return err->status;
    /* Labels: top-1 needs class scores; without, fidelity takes any outputs. */
    if (ptq_dataset_fits_model(s->g, *eval, (*eval)->labels != NULL, err)) {
        ptq_error_prefix(err, "evaluation data %s", p->evaluation.images);
        if (ptq_is_image_source(p->evaluation.images) && s->g->n_inputs == 1) {
            const size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof err->msg - n, " (set evaluation.resize to the model's "
                     "input size%s)", p->calibration.present ? ", which the calibration images "
                     "or input_shape fixed" : "");
        }
        return err->status;
    }
    return PTQ_OK;
}

/* The model's input as imported, and unreadable image files skipped: for the check and
 * the run's log. */
static void print_loaded(const ptq_session *s, const ptq_dataset *eval, bool shape) {
    const ptq_value *in = &s->g->values[s->g->inputs[0]];
    char b[160];
    if (shape)
        fprintf(stderr, "checked      model input '%s': %s\n", in->name,
                ptq_shape_str(in->ndim, in->ne, b, sizeof b));
    if (s->calib && s->calib->n_skipped)
        fprintf(stderr, "warning: calibration: %" PRId64 " unreadable image files skipped\n",
                s->calib->n_skipped);
    if (eval && eval->n_skipped)
        fprintf(stderr, "warning: evaluation: %" PRId64 " unreadable image files skipped\n",
                eval->n_skipped);
}

/* `count` above what the file has is cut to what exists: said, not silent. */
static void warn_short(const ptq_dataset_cfg *c, const ptq_dataset *ds, const char *what) {
    if (ds && c->count > 0 && ds->n < c->count)
        fprintf(stderr, "warning: %s count %" PRId64 " asks for more images than %s has from "
                "offset %" PRId64 ": using its %" PRId64 "\n", what, c->count, c->images,
                c->sample ? 0 : c->offset, ds->n);
}

static void print_norm(const char *what, const ptq_dataset_cfg *c) {
    static const char *const from[] = {"none known: images used as scaled to [0,1]",
                                       "from the pipeline", "from the model's sidecar"};
    char mean[256] = "0", std[256] = "1";
    if (c->n_mean) ptq_format_floats(c->mean, c->n_mean, mean, sizeof mean);
    if (c->n_std) ptq_format_floats(c->std, c->n_std, std, sizeof std);
    fprintf(stderr, "%-12s %s, normalize mean %s std %s (%s)\n", what, c->images, mean, std,
            from[c->norm_from]);
}

ptq_status ptq_pipeline_check(const ptq_pipeline *p, const char *out_dir, bool force,
                              ptq_error *err);
ptq_status ptq_pipeline_check(const ptq_pipeline *p, const char *out_dir, bool force,
                              ptq_error *err) {
    ptq_status st = ptq_outdir_check(out_dir, force, err);
    if (st) return st;
    ptq_session_config cfg;
    ptq_pipeline_session_config(p, &cfg);
    ptq_session *s = ptq_session_new(&cfg, err);
    if (!s) return err->status;
    ptq_dataset *eval = NULL;
    st = open_inputs(p, s, &eval, err);
    if (!st) {
        fprintf(stderr, "checked      model %s: %d nodes\n", p->model, s->g->n_nodes);
        print_loaded(s, eval, true);
        if (s->calib) {
            warn_short(&p->calibration, s->calib, "calibration");
            fprintf(stderr, "checked      calibration: %" PRId64 " images of %d x %d x %d\n",
                    s->calib->n, s->calib->c, s->calib->h, s->calib->w);
        }
        if (eval) {
            warn_short(&p->evaluation, eval, "evaluation");
            if (eval->labels)
                fprintf(stderr, "checked      evaluation: %" PRId64 " labelled images, %d classes "
                        "seen%s\n", eval->n, eval->n_classes,
                        p->evaluation.fidelity ? ", and fidelity to the float model" : "");
            else
                fprintf(stderr, "checked      evaluation: %" PRId64 " images without labels: "
                        "fidelity of every output to the float model\n", eval->n);
        }
        fprintf(stderr, "checked      output %s: %s\n", out_dir,
                access(out_dir, F_OK) == 0 ? "exists, --force replaces it" : "can be created");
    }
    ptq_dataset_free(eval);
    ptq_session_free(s);
    return st;
}

/* ---- the run, in stages (run.h) --------------------------------------------------------- */

ptq_status ptq_run_begin(ptq_run_state *rs, const ptq_pipeline *p, const char *work_dir,
                         int32_t max_passes, const ptq_run_given *given, ptq_error *err) {
    memset(rs, 0, sizeof *rs);
    rs->t_start = ptq_now_seconds();
    ptq_session_config cfg;
    ptq_pipeline_session_config(p, &cfg);
    if (!(rs->s = ptq_session_new(&cfg, err))) return err->status;
    ptq_session *s = rs->s;
    s->tty = isatty(2);
    s->out_dir = work_dir;
    if (given && given->threads > 0) s->threads = given->threads;
    ptq_set_eval_progress(eval_progress, s); /* until ptq_run_state_free */
    rs->cap_passes = max_passes;
    if (!(rs->r.passes = ptq_calloc_array((size_t)max_passes + 1, sizeof *rs->r.passes)))
        return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    ptq_status st;
    if (given && given->eval) {
        rs->eval = given->eval;
        rs->eval_borrowed = true;
        if (s->calib && ptq_dataset_fits_model(s->g, s->calib, false, err)) {
            ptq_error_prefix(err, "calibration data %s", p->calibration.images);
            return err->status;
        }
    } else if ((st = open_inputs(p, s, &rs->eval, err))) {
        return st;
    }
    ptq_dataset *eval = rs->eval;
    warn_short(&p->calibration, s->calib, "calibration");
    warn_short(&p->evaluation, eval, "evaluation");
    if (s->calib) print_norm("calibration", &p->calibration);
    if (eval) print_norm("evaluation", &p->evaluation);
    print_loaded(s, eval, false);
    rs->r.skipped_images[0] = s->calib ? s->calib->n_skipped : 0;
    rs->r.skipped_images[1] = eval ? eval->n_skipped : 0;
    /* The model as imported: what every pass is measured against (measure.h). */
    if (!(rs->reference = ptq_graph_clone(s->g, err))) return err->status;
    rs->mr.reference = rs->reference;
    ptq_run_results *r = &rs->r;
    if (eval && given && given->float_eval) {
        r->fl = *given->float_eval;
        r->float_cached = true;
        r->have_eval = true;
    } else if (eval && eval->labels) {
        ptq_float_eval_key key;
        const bool keyed = ptq_float_eval_key_make(&key, p->model, eval);
        if (keyed && ptq_float_eval_cache_get(&key, &r->fl)) {
            r->float_cached = true;
            fprintf(stderr, "float model: top-1 %.2f %% on %" PRId64 " images (cached: same model "
                    "file, images and preprocessing)\n", 100.0 * r->fl.top1, r->fl.images);
        } else {
            fprintf(stderr, "evaluating the float model on %" PRId64 " images\n", eval->n);
            st = ptq_evaluate(s->g, eval, p->batch, s->threads, NULL, &r->fl, err);
            if (st) return st;
            if (keyed) ptq_float_eval_cache_put(&key, &r->fl);
        }
        r->have_eval = true;
    }
    return PTQ_OK;
}

ptq_status ptq_run_pass(ptq_run_state *rs, const ptq_pipeline *p, int32_t i, ptq_error *err) {
    ptq_session *s = rs->s;
    const ptq_pass_cfg *pc = &p->passes[i];
    if (rs->r.n_passes >= rs->cap_passes) return ptq_error_set(err, PTQ_ERR_INVALID, "more passes than planned");
    ptq_pass_record *pr = &rs->r.passes[rs->r.n_passes++];
    pr->cfg = pc;
    memset(&s->err, 0, sizeof s->err);
    ptq_status st = ptq_measure(&rs->mr, s, rs->eval, &pr->before);
    if (st) goto measuring;
    s->pass_name = pc->def->name;
    s->pass_index = i;
    const int32_t nq = s->n_q; /* quantizers a pass adds (core.fold_bn) are new */
    uint64_t *hb = ptq_calloc_array((size_t)nq + 1, sizeof *hb);
    uint64_t *ha = ptq_calloc_array((size_t)nq + 1, sizeof *ha);
    if (hb) weight_hashes(s, hb, nq);
    const double t0 = ptq_now_seconds();
    s->rows_lost = false;
    ptq_guard_pass(pc->def); /* a crash in it names it (guard.h) */
    st = pc->def->run(ptq_host_table(), s, pc->params);
    ptq_guard_pass(NULL);
    pr->seconds = ptq_now_seconds() - t0;
    s->pass_name = NULL;
    /* Plugins may ignore report_row's status; a report missing rows is not a success. */
    if (!st && s->rows_lost)
        st = ptq_session_error(s, PTQ_ERR_NOMEM, "out of memory recording a report row");
    if (!st) check_undeclared(s, pc->def, hb, ha, nq);
    free(hb);
    free(ha);
    if (st)
        return ptq_error_set(err, st, "pass '%s' failed: %s", pc->def->name,
                             s->err.msg[0] ? s->err.msg : ptq_status_name(st));
    memset(&s->err, 0, sizeof s->err);
    if ((st = ptq_measure(&rs->mr, s, rs->eval, &pr->after))) goto measuring;
    print_measure_line(pr);
    return PTQ_OK;
measuring:
    return ptq_error_set(err, st, "measuring: %s", s->err.msg);
}

typedef struct finish_ctx {
    const ptq_pipeline *p;
    const ptq_run_state *rs;
    const char *shown_dir;
} finish_ctx;

static int write_pipeline_yaml(FILE *f, const void *vctx) {
    const finish_ctx *c = vctx;
    ptq_pipeline_print_as(c->p, c->shown_dir, f);
    return 0;
}

static int write_report_json(FILE *f, const void *vctx) {
    const finish_ctx *c = vctx;
    ptq_report_write(f, c->p, c->rs->s, &c->rs->r);
    return 0;
}

static int write_report_html(FILE *f, const void *vctx) {
    const finish_ctx *c = vctx;
    const int rc = ptq_report_html_write(f, c->p, c->rs->s, &c->rs->r);
    return rc == PTQ_HTML_INCOMPLETE ? rc : 0; /* a write error is in f */
}

ptq_status ptq_run_finish(ptq_run_state *rs, const ptq_pipeline *p, const char *dir,
                          const char *shown_dir, int32_t *predicted, ptq_error *err) {
    ptq_session *s = rs->s;
    ptq_run_results *r = &rs->r;
    ptq_status st;
    for (int32_t i = 0; i < s->n_q; i++)
        if (!s->q[i].calibrated)
            return ptq_error_set(err, PTQ_ERR_INVALID, "quantizer of '%s' was never calibrated",
                                 s->g->values[s->q[i].value].name);
    memset(&s->err, 0, sizeof s->err);
    st = ptq_measure(&rs->mr, s, rs->eval, &r->final);
    if (st) return ptq_error_set(err, st, "measuring: %s", s->err.msg);
    if (rs->eval) {
        ptq_graph *sim = ptq_session_sim_graph(s, s->q, s->n_q, err);
        if (!sim) st = err->status;
        if (!st && rs->eval->labels) {
            fprintf(stderr, "evaluating the quantized model on %" PRId64 " images\n", rs->eval->n);
            st = ptq_evaluate_predict(sim, rs->eval, p->batch, s->threads, NULL, predicted, &r->qu, err);
        }
        /* Fidelity runs the float model (as imported) beside the quantized one, so the
         * float evaluation cache, which holds top-1 counts only, has nothing for it. */
        if (!st && (!rs->eval->labels || p->evaluation.fidelity)) {
            fprintf(stderr, "comparing every output of the quantized model with the float model "
                    "on %" PRId64 " images\n", rs->eval->n);
            st = ptq_fidelity_evaluate(rs->reference, sim, rs->eval, p->batch, s->threads, &r->fid, err);
            if (!st) r->have_fidelity = true;
            else ptq_error_prefix(err, "fidelity on the evaluation set");
        }
        ptq_graph_free(sim);
    }
    if (st) return st;
    rs->have_norm = export_normalization(p, &rs->norm, rs->norm_from, sizeof rs->norm_from);
    if (p->export_onnx) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, p->onnx_name);
        memset(&s->err, 0, sizeof s->err);
        if ((st = export_qdq(s, path, rs->have_norm ? &rs->norm : NULL)))
            return ptq_error_set(err, st, "exporting the QDQ model: %s", s->err.msg);
        if (rs->have_norm && (st = write_sidecar(s, r, path, &rs->norm, err))) return st;
        if (!rs->have_norm)
            fprintf(stderr, "warning: no input normalization is known (no 'normalize' in the "
                    "pipeline, no %.*s.json beside the model): the export carries none, and "
                    "whoever runs it must know what the model expects\n",
                    (int)(strlen(p->model) - 5), p->model);
        r->onnx_name = p->onnx_name;
    }
    const finish_ctx c = {p, rs, shown_dir};
    if ((st = ptq_write_file_with(dir, "pipeline.yaml", write_pipeline_yaml, &c, err))) return st;
    r->seconds_total = ptq_now_seconds() - rs->t_start;
    if ((st = ptq_write_file_with(dir, "report.json", write_report_json, &c, err))) return st;
    return ptq_write_file_with(dir, "report.html", write_report_html, &c, err);
}

void ptq_run_state_free(ptq_run_state *rs) {
    ptq_run_results *r = &rs->r;
    if (rs->s) ptq_set_eval_progress(NULL, NULL);
    for (int32_t i = 0; r->passes && i < r->n_passes; i++) {
        ptq_measurement_free(&r->passes[i].before);
        ptq_measurement_free(&r->passes[i].after);
    }
    ptq_measurement_free(&r->final);
    ptq_fidelity_free(&r->fid);
    ptq_measurer_free(&rs->mr);
    ptq_graph_free(rs->reference);
    free(r->passes);
    if (!rs->eval_borrowed) ptq_dataset_free(rs->eval);
    ptq_session_free(rs->s);
    memset(rs, 0, sizeof *rs);
}

/* The summary `ptq run` prints once the output is in place. */
static void print_summary(const ptq_pipeline *p, const ptq_run_state *rs, const char *out_dir) {
    const ptq_run_results *r = &rs->r;
    const ptq_session *s = rs->s;
    printf("\nqcraft %s — %s\n", ptq_version_string(), p->path);
    printf("model       %s\n", p->model);
    printf("quantized   weights %s, activations %s; %d quantizers\n",
           p->quant.quantize_weights ? (p->quant.weights.per_channel ? "per-channel" : "per-tensor") : "float",
           p->quant.quantize_activations ? "per-tensor" : "float", s->n_q);
    if (r->have_eval)
        printf("top-1       float %.2f %%  ->  quantized %.2f %%   (%+.2f points, %" PRId64 " images)\n",
               100.0 * r->fl.top1, 100.0 * r->qu.top1, 100.0 * (r->qu.top1 - r->fl.top1), r->qu.images);
    else if (r->have_fidelity)
        printf("top-1       (no labels: the fidelity lines compare with the float model)\n");
    else
        printf("top-1       (no evaluation data configured)\n");
    if (r->final.valid) {
        printf("fidelity    output SQNR %.1f dB against the original float model", r->final.model_db);
        if (isfinite(r->final.model_agree))
            printf(", top-1 agreement %.1f %%", 100.0 * r->final.model_agree);
        printf(" (%" PRId64 " calibration images)\n", rs->mr.n);
    }
    for (int32_t k = 0; r->have_fidelity && k < r->fid.n_outputs; k++) {
        char line[1024];
        printf("fidelity    output '%s' %s (%" PRId64 " evaluation images)\n", r->fid.outputs[k].name,
               ptq_fidelity_output_str(&r->fid.outputs[k], line, sizeof line), r->fid.images);
    }
    printf("layers      mean weight SQNR %.1f dB, mean output SQNR %.1f dB\n",
           ptq_measurement_mean_db(&r->final, true), ptq_measurement_mean_db(&r->final, false));
    if (rs->have_norm && r->onnx_name) {
        char mean[256], std[256];
        static const float zero = 0.0f, one = 1.0f;
        const ptq_preprocess *n = &rs->norm;
        ptq_format_floats(n->n_mean ? n->mean : &zero, n->n_mean ? n->n_mean : 1, mean, sizeof mean);
        ptq_format_floats(n->n_std ? n->std : &one, n->n_std ? n->n_std : 1, std, sizeof std);
        printf("input       normalize mean %s std %s (%s), carried in the export\n", mean, std,
               rs->norm_from);
    }
    printf("output      %s/%s%s\n", out_dir, r->onnx_name ? r->onnx_name : "report.json",
           r->onnx_name ? "  (+ report.json, report.html, pipeline.yaml)" : "  (+ report.html)");
    printf("time        %.1f s\n", ptq_now_seconds() - rs->t_start);
}

ptq_status ptq_pipeline_execute(const ptq_pipeline *p, const ptq_registry *reg, const char *out_dir,
                                bool force, ptq_error *err) {
    (void)reg;
    /* The output location first: an unwritable --out fails before any work. */
    ptq_outdir od;
    ptq_status st = ptq_outdir_begin(&od, out_dir, force, err);
    if (st) return st;
    ptq_guard_outdir(&od); /* a signal removes it (guard.h) */
    ptq_run_state rs;
    st = ptq_run_begin(&rs, p, od.tmp, p->n_passes, NULL, err);
    if (!st) fprintf(stderr, "running %d passes\n", p->n_passes);
    for (int32_t i = 0; !st && i < p->n_passes; i++) st = ptq_run_pass(&rs, p, i, err);
    if (!st) st = ptq_run_finish(&rs, p, od.tmp, out_dir, NULL, err);
    if (!st) {
        ptq_guard_commit_begin();
        st = ptq_outdir_commit(&od, err);
        ptq_guard_commit_end(!st);
    }
    if (!st) print_summary(p, &rs, out_dir);
    ptq_outdir_abort(&od);
    ptq_guard_outdir(NULL);
    ptq_run_state_free(&rs);
    return st;
}

/* ---- entry points ----------------------------------------------------------------------- */

ptq_status ptq_run_file(const char *path, const ptq_run_options *opts, ptq_error *err) {
    ptq_run_options o = {0};
    if (opts) o = *opts;
    ptq_registry *reg = ptq_registry_load(o.plugin_dir, err);
    if (!reg) return err->status;
    if (o.handle_signals) ptq_guard_install(reg);
    for (int32_t i = 0; i < reg->n_rejected; i++) fprintf(stderr, "warning: plugin not loaded: %s\n", reg->rejected[i]);
    ptq_pipeline *p = ptq_pipeline_load(path, reg, err);
    ptq_status st = p ? PTQ_OK : err->status;
    if (!st && o.threads > 0) p->threads = o.threads;
    for (int32_t i = 0; !st && i < p->n_notes; i++) fprintf(stderr, "note: %s\n", p->notes[i]);
    const char *out = o.out_dir ? o.out_dir : (p ? p->out_dir : NULL);
    if (!st && o.dry_run) {
        /* Everything that can be checked without running a pass: the files open, the data
         * fit the model, the output can be written. */
        st = ptq_pipeline_check(p, out, o.force, err);
        if (!st) ptq_pipeline_print_as(p, out, stdout);
    } else if (!st) {
        st = ptq_pipeline_execute(p, reg, out, o.force, err);
    }
    ptq_pipeline_free(p);
    if (o.handle_signals) ptq_guard_uninstall();
    ptq_registry_free(reg);
    return st;
}

static const char *type_name(ptq_param_type t) {
    switch (t) {
    case PTQ_PARAM_BOOL: return "bool";
    case PTQ_PARAM_INT: return "int";
    case PTQ_PARAM_FLOAT: return "float";
    case PTQ_PARAM_STRING: return "string";
    case PTQ_PARAM_ENUM: return "enum";
    default: return "?";
    }
}

static void print_list(FILE *out, const char *label, const char *const *items) {
    if (!items || !items[0]) return;
    fprintf(out, "      %-9s", label);
    for (int i = 0; items[i]; i++) fprintf(out, "%s%s", i ? ", " : "", items[i]);
    fputc('\n', out);
}

static void print_pass(FILE *out, const ptq_pass_def *d) {
    fprintf(out, "  %s\n      %s\n", d->name, d->summary ? d->summary : "");
    print_list(out, "reads:", d->reads);
    print_list(out, "uses:", d->reads_optional);
    print_list(out, "writes:", d->writes);
    if (PTQ_PASS_HAS(d, invalidates)) print_list(out, "stales:", d->invalidates);
    for (const ptq_param_def *q = d->params; q && q->name; q++) {
        char def[128] = "", range[96] = "";
        switch (q->type) {
        case PTQ_PARAM_BOOL: snprintf(def, sizeof def, "%s", q->def != 0 ? "true" : "false"); break;
        case PTQ_PARAM_INT:
            snprintf(def, sizeof def, "%.0f", q->def);
            snprintf(range, sizeof range, " [%.0f..%.0f]", q->min, q->max);
            break;
        case PTQ_PARAM_FLOAT:
            snprintf(def, sizeof def, "%g", q->def);
            snprintf(range, sizeof range, " [%g..%g]", q->min, q->max);
            break;
        case PTQ_PARAM_STRING: snprintf(def, sizeof def, "\"%s\"", q->def_string ? q->def_string : ""); break;
        case PTQ_PARAM_ENUM: {
            snprintf(def, sizeof def, "%s", q->choices[(int)q->def]);
            size_t at = 0;
            at += (size_t)snprintf(range + at, sizeof range - at, " {");
            for (int i = 0; q->choices[i] && at < sizeof range; i++)
                at += (size_t)snprintf(range + at, sizeof range - at, "%s%s", i ? "|" : "", q->choices[i]);
            if (at < sizeof range) snprintf(range + at, sizeof range - at, "}");
            break;
        }
        default: break;
        }
        fprintf(out, "      %-16s %-6s %s%s%s  %s\n", q->name, type_name(q->type),
                (q->flags & PTQ_PARAM_REQUIRED) ? "(required)" : "= ",
                (q->flags & PTQ_PARAM_REQUIRED) ? "" : def, range, q->help ? q->help : "");
    }
}

ptq_status ptq_list_plugins(const char *name, const char *plugin_dir, FILE *out, ptq_error *err) {
    ptq_registry *reg = ptq_registry_load(plugin_dir, err);
    if (!reg) return err->status;
    ptq_status st = PTQ_OK;
    bool shown = false;
    for (int32_t i = 0; i < reg->n_plugins; i++) {
        const ptq_loaded_plugin *pl = &reg->plugins[i];
        const bool whole = !name || !strcmp(name, pl->desc->name);
        bool any = whole;
        for (int32_t k = 0; !any && pl->desc->passes[k]; k++) any = !strcmp(name, pl->desc->passes[k]->name);
        if (!any) continue;
        shown = true;
        fprintf(out, "%s %s — %s\n  (%s)\n", pl->desc->name, pl->desc->version, pl->desc->summary ? pl->desc->summary : "",
                pl->path);
        for (int32_t k = 0; pl->desc->passes[k]; k++)
            if (whole || !strcmp(name, pl->desc->passes[k]->name)) print_pass(out, pl->desc->passes[k]);
        fputc('\n', out);
    }
    if (name && !shown) st = ptq_error_set(err, PTQ_ERR_INVALID, "no plugin or pass named '%s' is loaded", name);
    if (!name) {
        fprintf(out, "searched:");
        for (int32_t i = 0; i < reg->n_searched; i++) fprintf(out, " %s", reg->searched[i]);
        fprintf(out, "%s\n", reg->n_searched ? "" : " (no plugin directory found; set PTQ_PLUGIN_PATH)");
    }
    for (int32_t i = 0; i < reg->n_rejected; i++) fprintf(out, "not loaded: %s\n", reg->rejected[i]);
    ptq_registry_free(reg);
    return st;
}
