/* report.c — writes report.json (report.h). */
#include "json.h"
#include "report.h"


static const char *gran(bool per_channel) { return per_channel ? "channel" : "tensor"; }

/* "key": {"top1": ..., "images": ..., "seconds": ...}; top1 null without evaluation. */
static void json_eval(ptq_json *j, const char *key, const ptq_eval_result *e, bool have_eval) {
    ptq_json_key(j, key);
    ptq_json_begin_object(j);
    ptq_json_key(j, "top1");
    if (have_eval) ptq_json_number(j, e->top1);
    else ptq_json_null(j);
    ptq_json_key(j, "images");
    ptq_json_int(j, e->images);
    ptq_json_key(j, "seconds");
    ptq_json_number(j, e->seconds);
    ptq_json_end_object(j);
}

static void json_spec(ptq_json *j, const ptq_qspec *q, bool on, bool activations) {
    ptq_json_begin_object(j);
    ptq_json_key(j, "bits");
    ptq_json_int(j, on ? q->bits : 32);
    ptq_json_key(j, "granularity");
    ptq_json_string(j, gran(q->per_channel));
    ptq_json_key(j, "symmetric");
    ptq_json_bool(j, q->symmetric);
    ptq_json_key(j, "observer");
    ptq_json_string(j, ptq_observer_name(q->observer));
    ptq_json_key(j, "percentile");
    ptq_json_float(j, q->percentile);
    ptq_json_key(j, "p");
    ptq_json_float(j, q->mse_p > 0.0f ? q->mse_p : 2.0f);
    ptq_json_key(j, "search");
    ptq_json_string(j, ptq_search_name(q->search));
    if (activations) {
        ptq_json_key(j, "images");
        ptq_json_int(j, q->images);
    }
    ptq_json_end_object(j);
}

static void json_measurement(ptq_json *j, const ptq_session *s, const ptq_measurement *m) {
    ptq_json_begin_array(j);
    for (int32_t k = 0; m->valid && k < m->n; k++) {
        ptq_json_begin_object(j);
        ptq_json_key(j, "name");
        ptq_json_string(j, s->g->nodes[m->layers[k].node].name);
        ptq_json_key(j, "weight_sqnr_db");
        ptq_json_number(j, m->layers[k].weight_db);
        ptq_json_key(j, "output_sqnr_db");
        ptq_json_number(j, m->layers[k].output_db);
        ptq_json_end_object(j);
    }
    ptq_json_end_array(j);
}

/* "tables": {name: [rows]} of what pass i added with host->report_row, tables in the
 * order they first appeared; nothing when it added none. */
static void json_tables(ptq_json *j, const ptq_session *s, int32_t pass) {
    bool any = false;
    for (int32_t a = 0; a < s->n_rows; a++) {
        const ptq_report_row *ra = &s->rows[a];
        if (ra->pass != pass) continue;
        bool seen = false;
        for (int32_t b = 0; b < a && !seen; b++)
            seen = s->rows[b].pass == pass && !strcmp(s->rows[b].table, ra->table);
        if (seen) continue;
        if (!any) {
            ptq_json_key(j, "tables");
            ptq_json_begin_object(j);
            any = true;
        }
        ptq_json_key(j, ra->table);
        ptq_json_begin_array(j);
        for (int32_t b = a; b < s->n_rows; b++) {
            const ptq_report_row *rb = &s->rows[b];
            if (rb->pass != pass || strcmp(rb->table, ra->table)) continue;
            ptq_json_begin_object(j);
            ptq_json_key(j, "name");
            ptq_json_string(j, rb->name);
            for (int32_t k = 0; k < rb->n; k++) {
                ptq_json_key(j, rb->cols[k]);
                ptq_json_number(j, rb->values[k]);
            }
            ptq_json_end_object(j);
        }
        ptq_json_end_array(j);
    }
    if (any) ptq_json_end_object(j);
}

static void json_params(ptq_json *j, const ptq_pass_cfg *pc) {
    ptq_json_begin_object(j);
    for (const ptq_param_def *d = pc->def->params; d && d->name; d++) {
        const char *at = (const char *)pc->params + d->offset;
        ptq_json_key(j, d->name);
        switch (d->type) {
        case PTQ_PARAM_BOOL: ptq_json_bool(j, *(const int32_t *)at != 0); break;
        case PTQ_PARAM_INT: ptq_json_int(j, *(const int64_t *)at); break;
        case PTQ_PARAM_FLOAT: ptq_json_number(j, *(const double *)at); break;
        case PTQ_PARAM_STRING: ptq_json_string(j, *(const char *const *)at); break;
        case PTQ_PARAM_ENUM: ptq_json_string(j, d->choices[*(const int32_t *)at]); break;
        default: ptq_json_null(j);
        }
    }
    ptq_json_end_object(j);
}

/* The network output against the original float model (measure.h): the quantized
 * model's SQNR and top-1 agreement, and how far the float model itself has moved. */
static void json_model_output(ptq_json *j, const ptq_measurement *m) {
    ptq_json_begin_object(j);
    ptq_json_key(j, "sqnr_db");
    ptq_json_number(j, m->valid ? m->model_db : NAN);
    ptq_json_key(j, "top1_agreement");
    ptq_json_number(j, m->valid ? m->model_agree : NAN);
    ptq_json_key(j, "float_changed");
    ptq_json_bool(j, m->valid && !(m->float_db >= PTQ_FLOAT_MOVED_DB)); /* beyond float rounding */
    ptq_json_key(j, "float_sqnr_db");
    ptq_json_number(j, m->valid ? m->float_db : NAN);
    ptq_json_key(j, "float_top1_agreement");
    ptq_json_number(j, m->valid ? m->float_agree : NAN);
    ptq_json_end_object(j);
}

/* "fidelity": every graph output of the quantized model against the float model as
 * imported, on the evaluation set (null when not computed).  SQNR is null when it is not
 * a finite number: "identical" says whether that is because there was no error at all. */
static void json_fidelity(ptq_json *j, const ptq_run_results *r) {
    ptq_json_key(j, "fidelity");
    if (!r->have_fidelity) {
        ptq_json_null(j);
        return;
    }
    ptq_json_begin_object(j);
    ptq_json_key(j, "images");
    ptq_json_int(j, r->fid.images);
    ptq_json_key(j, "reference");
    ptq_json_string(j, "float model as imported");
    ptq_json_key(j, "outputs");
    ptq_json_begin_array(j);
    for (int32_t k = 0; k < r->fid.n_outputs; k++) {
        const ptq_fidelity_output *o = &r->fid.outputs[k];
        char shape[160];
        ptq_json_begin_object(j);
        ptq_json_key(j, "name");
        ptq_json_string(j, o->name);
        ptq_json_key(j, "shape");
        ptq_json_string(j, ptq_shape_str(o->ndim, o->ne, shape, sizeof shape));
        ptq_json_key(j, "class_scores");
        ptq_json_bool(j, o->classes);
        ptq_json_key(j, "sqnr_db");
        ptq_json_number(j, o->sqnr_db);
        ptq_json_key(j, "identical");
        ptq_json_bool(j, o->sqnr_db == INFINITY);
        ptq_json_key(j, "cosine");
        ptq_json_number(j, o->cosine);
        ptq_json_key(j, "mean_sample_cosine");
        ptq_json_number(j, o->mean_sample_cosine);
        ptq_json_key(j, "max_abs_err");
        ptq_json_number(j, o->max_abs_err);
        ptq_json_key(j, "mean_abs_err");
        ptq_json_number(j, o->mean_abs_err);
        if (o->classes) {
            ptq_json_key(j, "top1_agreement");
            ptq_json_number(j, o->top1_agreement);
        }
        ptq_json_key(j, "nonfinite_float");
        ptq_json_int(j, o->nonfinite_reference);
        ptq_json_key(j, "nonfinite_quantized");
        ptq_json_int(j, o->nonfinite_model);
        ptq_json_end_object(j);
    }
    ptq_json_end_array(j);
    ptq_json_key(j, "seconds");
    ptq_json_number(j, r->fid.seconds);
    ptq_json_end_object(j);
}

/* Only the fields an override sets. */
static void json_override_spec(ptq_json *j, uint32_t fields, const ptq_qspec *q) {
    ptq_json_begin_object(j);
    if (fields & PTQ_QF_BITS) {
        ptq_json_key(j, "bits");
        ptq_json_int(j, q->bits);
    }
    if (fields & PTQ_QF_GRANULARITY) {
        ptq_json_key(j, "granularity");
        ptq_json_string(j, gran(q->per_channel));
    }
    if (fields & PTQ_QF_SYMMETRIC) {
        ptq_json_key(j, "symmetric");
        ptq_json_bool(j, q->symmetric);
    }
    if (fields & PTQ_QF_OBSERVER) {
        ptq_json_key(j, "observer");
        ptq_json_string(j, ptq_observer_name(q->observer));
    }
    if (fields & PTQ_QF_PERCENTILE) {
        ptq_json_key(j, "percentile");
        ptq_json_float(j, q->percentile);
    }
    if (fields & PTQ_QF_MSE_P) {
        ptq_json_key(j, "p");
        ptq_json_float(j, q->mse_p > 0.0f ? q->mse_p : 2.0f);
    }
    if (fields & PTQ_QF_SEARCH) {
        ptq_json_key(j, "search");
        ptq_json_string(j, ptq_search_name(q->search));
    }
    if (fields & PTQ_QF_IMAGES) {
        ptq_json_key(j, "images");
        ptq_json_int(j, q->images);
    }
    ptq_json_end_object(j);
}

static void json_overrides(ptq_json *j, const ptq_pipeline *p) {
    ptq_json_begin_array(j);
    for (int32_t i = 0; i < p->quant.n_overrides; i++) {
        const ptq_override *ov = &p->quant.overrides[i];
        ptq_json_begin_object(j);
        ptq_json_key(j, "nodes");
        ptq_json_begin_array(j);
        for (int32_t k = 0; k < ov->n_nodes; k++) ptq_json_string(j, ov->nodes[k]);
        ptq_json_end_array(j);
        ptq_json_key(j, "float");
        ptq_json_bool(j, ov->keep_float);
        ptq_json_key(j, "weights");
        json_override_spec(j, ov->w_fields, &ov->w);
        ptq_json_key(j, "activations");
        json_override_spec(j, ov->a_fields, &ov->a);
        ptq_json_end_object(j);
    }
    ptq_json_end_array(j);
}

/* Activation bits at a layer's input (0 when not quantized). */
static int32_t act_bits(const ptq_session *s, int32_t node) {
    const int32_t q = ptq_session_quantizer_of(s, s->g->nodes[node].inputs[0]);
    return q >= 0 ? s->q[q].qp.bits : 0;
}

static int32_t weight_bits(const ptq_session *s, int32_t node) {
    const int32_t q = ptq_session_quantizer_of(s, s->g->nodes[node].inputs[1]);
    return q >= 0 ? s->q[q].qp.bits : 0;
}

void ptq_report_write(FILE *f, const ptq_pipeline *p, const ptq_session *s,
                      const ptq_run_results *r) {
    ptq_json j;
    ptq_json_init(&j, f);
    ptq_json_begin_object(&j);
    ptq_json_key(&j, "ptq_version");
    ptq_json_string(&j, ptq_version_string());
    ptq_json_key(&j, "pipeline");
    ptq_json_string(&j, p->path);
    ptq_json_key(&j, "model");
    ptq_json_string(&j, p->model);
    ptq_json_key(&j, "seed");
    ptq_json_int(&j, (int64_t)p->seed);
    json_eval(&j, "float", &r->fl, r->have_eval);
    ptq_json_key(&j, "float_evaluation_cached");
    ptq_json_bool(&j, r->float_cached);
    json_eval(&j, "quantized", &r->qu, r->have_eval);
    json_fidelity(&j, r);
    ptq_json_key(&j, "config");
    ptq_json_begin_object(&j);
    ptq_json_key(&j, "weights");
    json_spec(&j, &p->quant.weights, p->quant.quantize_weights, false);
    ptq_json_key(&j, "activations");
    json_spec(&j, &p->quant.activations, p->quant.quantize_activations, true);
    ptq_json_key(&j, "placement");
    ptq_json_string(&j, ptq_placement_name(p->quant.placement));
    ptq_json_key(&j, "placement_notes");
    ptq_json_begin_array(&j);
    for (int32_t i = 0; i < s->n_notes; i++) ptq_json_string(&j, s->notes[i]);
    ptq_json_end_array(&j);
    ptq_json_key(&j, "quantize_input");
    ptq_json_bool(&j, p->quant.quantize_input);
    ptq_json_key(&j, "quantize_output");
    ptq_json_bool(&j, p->quant.quantize_output);
    ptq_json_key(&j, "target");
    ptq_json_string(&j, ptq_target_name(p->quant.target));
    ptq_json_key(&j, "overrides");
    json_overrides(&j, p);
    ptq_json_key(&j, "calibration_images");
    ptq_json_int(&j, s->calib ? s->calib->n : 0);
    ptq_json_key(&j, "evaluation_images");
    ptq_json_int(&j, r->have_eval ? r->qu.images : r->fid.images);
    ptq_json_key(&j, "skipped_image_files"); /* on_bad_image: skip */
    ptq_json_begin_object(&j);
    ptq_json_key(&j, "calibration");
    ptq_json_int(&j, r->skipped_images[0]);
    ptq_json_key(&j, "evaluation");
    ptq_json_int(&j, r->skipped_images[1]);
    ptq_json_end_object(&j);
    ptq_json_key(&j, "batch");
    ptq_json_int(&j, p->batch);
    ptq_json_key(&j, "threads");
    ptq_json_int(&j, s->threads);
    ptq_json_key(&j, "passes");
    ptq_json_begin_array(&j);
    for (int32_t i = 0; i < p->n_passes; i++) {
        ptq_json_begin_object(&j);
        ptq_json_key(&j, "name");
        ptq_json_string(&j, p->passes[i].def->name);
        ptq_json_key(&j, "implicit");
        ptq_json_bool(&j, p->passes[i].implicit);
        ptq_json_key(&j, "params");
        json_params(&j, &p->passes[i]);
        ptq_json_end_object(&j);
    }
    ptq_json_end_array(&j);
    ptq_json_end_object(&j);
    ptq_json_key(&j, "passes");
    ptq_json_begin_array(&j);
    for (int32_t i = 0; i < r->n_passes; i++) {
        const ptq_pass_record *pr = &r->passes[i];
        ptq_json_begin_object(&j);
        ptq_json_key(&j, "name");
        ptq_json_string(&j, pr->cfg->def->name);
        ptq_json_key(&j, "implicit");
        ptq_json_bool(&j, pr->cfg->implicit);
        ptq_json_key(&j, "seconds");
        ptq_json_number(&j, pr->seconds);
        ptq_json_key(&j, "mean_output_sqnr_db_before");
        ptq_json_number(&j, pr->before.valid ? ptq_measurement_mean_db(&pr->before, false) : NAN);
        ptq_json_key(&j, "mean_output_sqnr_db_after");
        ptq_json_number(&j, pr->after.valid ? ptq_measurement_mean_db(&pr->after, false) : NAN);
        ptq_json_key(&j, "model_output_before");
        json_model_output(&j, &pr->before);
        ptq_json_key(&j, "model_output_after");
        json_model_output(&j, &pr->after);
        /* How far this pass moved the float function (its own change, not the total). */
        const double moved = ptq_measurement_drift_db(&pr->before, &pr->after);
        ptq_json_key(&j, "float_changed_by_pass");
        ptq_json_bool(&j, pr->before.valid && pr->after.valid && !(moved >= PTQ_FLOAT_MOVED_DB));
        ptq_json_key(&j, "float_change_sqnr_db");
        ptq_json_number(&j, moved);
        ptq_json_key(&j, "layers_before");
        json_measurement(&j, s, &pr->before);
        ptq_json_key(&j, "layers_after");
        json_measurement(&j, s, &pr->after);
        json_tables(&j, s, i);
        ptq_json_end_object(&j);
    }
    ptq_json_end_array(&j);
    ptq_json_key(&j, "model_output");
    json_model_output(&j, &r->final);
    ptq_json_key(&j, "layers");
    ptq_json_begin_array(&j);
    for (int32_t k = 0; r->final.valid && k < r->final.n; k++) {
        const ptq_layer_sqnr *l = &r->final.layers[k];
        ptq_json_begin_object(&j);
        ptq_json_key(&j, "name");
        ptq_json_string(&j, s->g->nodes[l->node].name);
        ptq_json_key(&j, "op");
        ptq_json_string(&j, ptq_op_name(s->g->nodes[l->node].op));
        ptq_json_key(&j, "weight_bits");
        ptq_json_int(&j, weight_bits(s, l->node));
        ptq_json_key(&j, "input_bits");
        ptq_json_int(&j, act_bits(s, l->node));
        ptq_json_key(&j, "weight_sqnr_db");
        ptq_json_number(&j, l->weight_db);
        ptq_json_key(&j, "output_sqnr_db");
        ptq_json_number(&j, l->output_db);
        ptq_json_end_object(&j);
    }
    ptq_json_end_array(&j);
    ptq_json_key(&j, "outputs");
    ptq_json_begin_object(&j);
    ptq_json_key(&j, "onnx");
    if (r->onnx_name) ptq_json_string(&j, r->onnx_name);
    else ptq_json_null(&j);
    ptq_json_key(&j, "report");
    ptq_json_string(&j, "report.json");
    ptq_json_end_object(&j);
    ptq_json_key(&j, "seconds");
    ptq_json_number(&j, r->seconds_total);
    ptq_json_end_object(&j);
}

