/* report_html.c — report.html: the run report.json describes, as a page to read (charts
 * of the per-layer SQNR through the passes, the time they took, the reconstruction
 * losses along depth; the tables behind them).  It reads what report.c reads and nothing
 * else, so the two never disagree; measurements may be invalid (nothing to measure) and
 * are then left out, not drawn as zeros. */
#include "html.h"
#include "report.h"

static const char *node_name(const ptq_session *s, int32_t node) {
    return node >= 0 && node < s->g->n_nodes && s->g->nodes[node].name ? s->g->nodes[node].name
                                                                       : "?";
}

static const char *pass_name(const ptq_pipeline *p, const ptq_run_results *r, int32_t i) {
    if (i >= 0 && i < r->n_passes) return r->passes[i].cfg->def->name;
    if (i >= 0 && i < p->n_passes) return p->passes[i].def->name;
    return "?";
}

/* Two measurements with the same per-layer output SQNRs (a pass that changed nothing
 * the chart would show). */
static bool same_output_db(const ptq_measurement *a, const ptq_measurement *b) {
    if (a->n != b->n) return false;
    for (int32_t k = 0; k < a->n; k++) {
        const double x = a->layers[k].output_db, y = b->layers[k].output_db;
        if (a->layers[k].node != b->layers[k].node || (x != y && !(isnan(x) && isnan(y))))
            return false;
    }
    return true;
}

/* A measurement's per-layer output SQNR as a chart series; the arrays are the caller's
 * to free (n = 0 when out of memory). */
static ptq_html_series layer_series(const ptq_session *s, const ptq_measurement *m,
                                    const char *name) {
    ptq_html_series se = {.name = name};
    const char **x = calloc((size_t)m->n + 1, sizeof *x);
    double *y = calloc((size_t)m->n + 1, sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        ptq_html_out_of_memory();
        return se;
    }
    for (int32_t k = 0; k < m->n; k++) {
        x[k] = node_name(s, m->layers[k].node);
        y[k] = m->layers[k].output_db;
    }
    se.n = m->n;
    se.x = x;
    se.y = y;
    return se;
}

static void free_series(ptq_html_series *se, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        free((void *)se[i].x);
        free((void *)se[i].y);
    }
}

/* Per-layer output SQNR before the first pass and after every pass that changed it; a
 * pass that changed nothing joins the series it left as it was ("after a, b"), so every
 * pass is on the chart. */
static void chart_layer_sqnr(FILE *f, const ptq_session *s, const ptq_run_results *r) {
    ptq_html_series *se = calloc((size_t)r->n_passes + 1, sizeof *se);
    char(*names)[256] = calloc((size_t)r->n_passes + 1, sizeof *names);
    if (!se || !names) ptq_html_out_of_memory();
    int32_t n = 0;
    const ptq_measurement *last = NULL;
    bool last_is_before = false;
    for (int32_t i = 0; se && names && i < r->n_passes; i++) {
        const ptq_pass_record *pr = &r->passes[i];
        const char *name = pr->cfg->def->name;
        if (i == 0 && pr->before.valid) {
            snprintf(names[n], sizeof names[n], "before %s", name);
            se[n] = layer_series(s, &pr->before, names[n]);
            n++;
            last = &pr->before;
            last_is_before = true;
        }
        if (!pr->after.valid) continue;
        if (last && same_output_db(last, &pr->after)) {
            char *to = names[n - 1];
            const size_t used = strlen(to);
            snprintf(to + used, sizeof names[n - 1] - used, last_is_before ? " = after %s" : ", %s",
                     name);
            last_is_before = false;
            continue;
        }
        snprintf(names[n], sizeof names[n], "after %s", name);
        se[n] = layer_series(s, &pr->after, names[n]);
        n++;
        last = &pr->after;
        last_is_before = false;
    }
    ptq_html_line_chart(f, "Per-layer output SQNR through the passes", "output SQNR (dB)", false, n,
                        se);
    if (se) free_series(se, n);
    free(se);
    free(names);
}

static void chart_pass_time(FILE *f, const ptq_run_results *r) {
    const char **labels = calloc((size_t)r->n_passes + 1, sizeof *labels);
    char(*text)[160] = calloc((size_t)r->n_passes + 1, sizeof *text);
    double *sec = calloc((size_t)r->n_passes + 1, sizeof *sec);
    const int32_t n = labels && text && sec ? r->n_passes : 0;
    if (!labels || !text || !sec) ptq_html_out_of_memory();
    for (int32_t i = 0; i < n; i++) {
        const ptq_pass_record *pr = &r->passes[i];
        snprintf(text[i], sizeof text[i], "%s%s", pr->cfg->def->name,
                 pr->cfg->implicit ? " (implicit)" : "");
        labels[i] = text[i];
        sec[i] = pr->seconds;
    }
    ptq_html_hbar_chart(f, "Time per pass", "s", n, labels, sec);
    free(labels);
    free(text);
    free(sec);
}

/* The column named col of a report row (NaN when it has none). */
static double row_value(const ptq_report_row *row, const char *col) {
    for (int32_t k = 0; k < row->n; k++)
        if (!strcmp(row->cols[k], col)) return row->values[k];
    return NAN;
}

static bool is_unit_loss_row(const ptq_report_row *row) {
    if (strcmp(row->table, "units")) return false;
    for (int32_t k = 0; k < row->n; k++)
        if (!strcmp(row->cols[k], "loss_last")) return true;
    return false;
}

/* The final reconstruction loss of every unit along depth, one line per pass that
 * reported units (log axis: losses span decades from the first block to the last). */
static void chart_unit_loss(FILE *f, const ptq_pipeline *p, const ptq_session *s,
                            const ptq_run_results *r) {
    int32_t max_pass = -1;
    for (int32_t i = 0; i < s->n_rows; i++)
        if (is_unit_loss_row(&s->rows[i]) && s->rows[i].pass > max_pass) max_pass = s->rows[i].pass;
    if (max_pass < 0) return; /* no reconstruction in this pipeline: no chart */
    const size_t np = (size_t)max_pass + 1;
    ptq_html_series *se = calloc(np, sizeof *se);
    char(*names)[160] = calloc(np, sizeof *names);
    const char **x = calloc((size_t)s->n_rows, sizeof *x);
    double *y = calloc((size_t)s->n_rows, sizeof *y);
    if (!se || !names || !x || !y) ptq_html_out_of_memory();
    int32_t n = 0, used = 0;
    for (int32_t pass = 0; se && names && x && y && pass <= max_pass; pass++) {
        ptq_html_series *cur = &se[n];
        cur->x = x + used;
        cur->y = y + used;
        for (int32_t i = 0; i < s->n_rows; i++) {
            const ptq_report_row *row = &s->rows[i];
            if (row->pass != pass || !is_unit_loss_row(row)) continue;
            x[used] = row->name;
            y[used++] = row_value(row, "loss_last");
            cur->n++;
        }
        if (!cur->n) continue;
        snprintf(names[n], sizeof names[n], "pass %d: %s", (int)pass + 1, pass_name(p, r, pass));
        cur->name = names[n++];
    }
    ptq_html_heading(f, 2, "Reconstruction loss per unit");
    ptq_html_line_chart(f, "Final reconstruction loss per unit along depth", "final loss", true, n,
                        se);
    free(se);
    free(names);
    free(x);
    free(y);
}

static void table_passes(FILE *f, const ptq_run_results *r) {
    static const char *const head[] = {"#",          "pass",
                                       "seconds",    "mean layer output SQNR before (dB)",
                                       "after (dB)", "network output SQNR after (dB)"};
    ptq_html_table_begin(f, 6, head, "rlrrrr");
    for (int32_t i = 0; i < r->n_passes; i++) {
        const ptq_pass_record *pr = &r->passes[i];
        const unsigned muted = pr->cfg->implicit ? PTQ_HTML_MUTED : 0;
        ptq_html_row_begin(f);
        ptq_html_cell(f, PTQ_HTML_NUM | muted, "%d", (int)i + 1);
        ptq_html_cell(f, muted, "%s%s", pr->cfg->def->name, pr->cfg->implicit ? " (implicit)" : "");
        ptq_html_cell_num(f, muted, pr->seconds, 2);
        ptq_html_cell_num(f, muted,
                          pr->before.valid ? ptq_measurement_mean_db(&pr->before, false) : NAN, 2);
        ptq_html_cell_num(f, muted,
                          pr->after.valid ? ptq_measurement_mean_db(&pr->after, false) : NAN, 2);
        ptq_html_cell_num(f, muted, pr->after.valid ? pr->after.model_db : NAN, 2);
        ptq_html_row_end(f);
    }
    ptq_html_table_end(f);
}

/* Bits of the quantizer on a layer's input `which` (0 when not quantized). */
static int32_t input_bits(const ptq_session *s, int32_t node, int32_t which) {
    const ptq_node *nd = &s->g->nodes[node];
    if (which >= nd->n_inputs || nd->inputs[which] < 0) return 0;
    const int32_t q = ptq_session_quantizer_of(s, nd->inputs[which]);
    return q >= 0 ? s->q[q].qp.bits : 0;
}

/* The final per-layer SQNRs, the worst output marked. */
static void table_layers(FILE *f, const ptq_session *s, const ptq_measurement *m) {
    if (!m->valid || m->n == 0) {
        ptq_html_paragraph(f, "note", "No per-layer measurement (nothing quantized or no images).");
        return;
    }
    int32_t worst = -1;
    for (int32_t k = 0; k < m->n; k++)
        if (isfinite(m->layers[k].output_db) &&
            (worst < 0 || m->layers[k].output_db < m->layers[worst].output_db))
            worst = k;
    static const char *const head[] = {
        "layer", "op", "weight bits", "input bits", "weight SQNR (dB)", "output SQNR (dB)"};
    ptq_html_table_begin(f, 6, head, "llrrrr");
    for (int32_t k = 0; k < m->n; k++) {
        const int32_t node = m->layers[k].node;
        const bool known = node >= 0 && node < s->g->n_nodes;
        ptq_html_row_begin(f);
        ptq_html_cell(f, 0, "%s", node_name(s, node));
        ptq_html_cell(f, 0, "%s", known ? ptq_op_name(s->g->nodes[node].op) : "?");
        ptq_html_cell(f, PTQ_HTML_NUM, "%d", known ? (int)input_bits(s, node, 1) : 0);
        ptq_html_cell(f, PTQ_HTML_NUM, "%d", known ? (int)input_bits(s, node, 0) : 0);
        ptq_html_cell_num(f, 0, m->layers[k].weight_db, 2);
        ptq_html_cell_num(f, k == worst ? PTQ_HTML_BAD : 0, m->layers[k].output_db, 2);
        ptq_html_row_end(f);
    }
    ptq_html_table_end(f);
    if (worst >= 0) ptq_html_paragraph(f, "note", "Marked: the lowest output SQNR.");
}

/* One table a pass added (host->report_row): the rows of (pass, table), columns in
 * order of first appearance. */
static void report_table(FILE *f, const ptq_session *s, int32_t pass, const char *table) {
    int32_t n_cols = 1, cap = 1;
    for (int32_t i = 0; i < s->n_rows; i++)
        if (s->rows[i].pass == pass && !strcmp(s->rows[i].table, table)) cap += s->rows[i].n;
    const char **cols = calloc((size_t)cap, sizeof *cols);
    char *align = calloc((size_t)cap + 1, 1);
    if (!cols || !align) {
        free(cols);
        free(align);
        ptq_html_out_of_memory();
        return;
    }
    cols[0] = "name";
    align[0] = 'l';
    for (int32_t i = 0; i < s->n_rows; i++) {
        const ptq_report_row *row = &s->rows[i];
        if (row->pass != pass || strcmp(row->table, table)) continue;
        for (int32_t k = 0; k < row->n; k++) {
            int32_t c = 1;
            while (c < n_cols && strcmp(cols[c], row->cols[k])) c++;
            if (c == n_cols) {
                align[n_cols] = 'r';
                cols[n_cols++] = row->cols[k];
            }
        }
    }
    ptq_html_table_begin(f, n_cols, cols, align);
    for (int32_t i = 0; i < s->n_rows; i++) {
        const ptq_report_row *row = &s->rows[i];
        if (row->pass != pass || strcmp(row->table, table)) continue;
        ptq_html_row_begin(f);
        ptq_html_cell(f, 0, "%s", row->name);
        for (int32_t c = 1; c < n_cols; c++) {
            const double v = row_value(row, cols[c]);
            if (isfinite(v))
                ptq_html_cell(f, PTQ_HTML_NUM, "%.6g", v);
            else
                ptq_html_cell_num(f, 0, v, 0);
        }
        ptq_html_row_end(f);
    }
    ptq_html_table_end(f);
    free(cols);
    free(align);
}

/* Every table every pass added, in order of first appearance (rows come pass by pass,
 * as the passes ran). */
static void report_tables(FILE *f, const ptq_pipeline *p, const ptq_session *s,
                          const ptq_run_results *r) {
    for (int32_t a = 0; a < s->n_rows; a++) {
        const ptq_report_row *ra = &s->rows[a];
        bool seen = false;
        for (int32_t b = 0; b < a && !seen; b++)
            seen = s->rows[b].pass == ra->pass && !strcmp(s->rows[b].table, ra->table);
        if (seen) continue;
        char title[320];
        snprintf(title, sizeof title, "pass %d (%s): %s", (int)ra->pass + 1,
                 pass_name(p, r, ra->pass), ra->table);
        ptq_html_heading(f, 3, title);
        report_table(f, s, ra->pass, ra->table);
    }
}

/* Every graph output of the quantized model against the float model on the evaluation
 * set: one row per output, the numbers of report.json's "fidelity" ("per image": the
 * mean per-image cosine; the last column counts NaN/inf elements, float and quantized). */
static void table_fidelity(FILE *f, const ptq_fidelity *fid) {
    char h[160];
    snprintf(h, sizeof h, "Fidelity to the float model (%lld evaluation images)",
             (long long)fid->images);
    ptq_html_heading(f, 2, h);
    static const char *const heads[] = {"output", "shape", "SQNR (dB)", "cosine",
                                        "per image", "max |err|", "mean |err|",
                                        "top-1 agree (%)", "NaN/inf fl, q"};
    ptq_html_table_begin(f, 9, heads, "llrrrrrrr");
    for (int32_t k = 0; k < fid->n_outputs; k++) {
        const ptq_fidelity_output *o = &fid->outputs[k];
        ptq_html_row_begin(f);
        ptq_html_cell(f, 0, "%s", o->name);
        ptq_html_cell(f, 0, "%s", ptq_shape_str(o->ndim, o->ne, h, sizeof h));
        const bool bad = o->nonfinite_reference || o->nonfinite_model;
        ptq_html_cell_num(f, PTQ_HTML_NUM, o->sqnr_db, 2); /* identical: "∞" */
        ptq_html_cell_num(f, PTQ_HTML_NUM, o->cosine, 6);
        ptq_html_cell_num(f, PTQ_HTML_NUM, o->mean_sample_cosine, 6);
        ptq_html_cell(f, PTQ_HTML_NUM, "%.4g", o->max_abs_err);
        ptq_html_cell(f, PTQ_HTML_NUM, "%.4g", o->mean_abs_err);
        if (o->classes) ptq_html_cell_num(f, PTQ_HTML_NUM, 100.0 * o->top1_agreement, 2);
        else ptq_html_cell(f, PTQ_HTML_MUTED, "not class scores");
        ptq_html_cell(f, PTQ_HTML_NUM | (bad ? PTQ_HTML_BAD : 0), "%lld, %lld",
                      (long long)o->nonfinite_reference, (long long)o->nonfinite_model);
        ptq_html_row_end(f);
    }
    ptq_html_table_end(f);
}

int ptq_report_html_write(FILE *f, const ptq_pipeline *p, const ptq_session *s,
                          const ptq_run_results *r) {
    char title[512];
    const char *base = p->path ? strrchr(p->path, '/') : NULL;
    snprintf(title, sizeof title, "ptq run: %s", base ? base + 1 : p->path ? p->path : "pipeline");
    ptq_html_begin(f, title);
    ptq_html_kv_begin(f);
    ptq_html_kv(f, "pipeline", "%s", p->path ? p->path : "");
    ptq_html_kv(f, "model", "%s", p->model ? p->model : "");
    ptq_html_kv(f, "quantization", "W%dA%d, %s placement",
                p->quant.quantize_weights ? (int)p->quant.weights.bits : 32,
                p->quant.quantize_activations ? (int)p->quant.activations.bits : 32,
                ptq_placement_name(p->quant.placement));
    if (r->have_eval)
        ptq_html_kv(f, "top-1", "float %.2f %% -> quantized %.2f %% (%+.2f points, %lld images)%s",
                    100 * r->fl.top1, 100 * r->qu.top1, 100 * (r->qu.top1 - r->fl.top1),
                    (long long)r->qu.images, r->float_cached ? "; float from the cache" : "");
    else if (r->have_fidelity)
        ptq_html_kv(f, "top-1", "no labels: fidelity to the float model on %lld images below",
                    (long long)r->fid.images);
    else
        ptq_html_kv(f, "top-1", "not evaluated");
    if (r->final.valid && isfinite(r->final.model_agree))
        ptq_html_kv(f, "network output SQNR", "%.2f dB (top-1 agreement with float %.1f %%)",
                    r->final.model_db, 100 * r->final.model_agree);
    else if (r->final.valid)
        ptq_html_kv(f, "network output SQNR", "%.2f dB (output 0, calibration images)",
                    r->final.model_db);
    else
        ptq_html_kv(f, "network output SQNR", "not measured");
    ptq_html_kv(f, "calibration images", "%lld", (long long)(s->calib ? s->calib->n : 0));
    ptq_html_kv(f, "seed", "%llu", (unsigned long long)p->seed);
    ptq_html_kv(f, "time", "%.1f s", r->seconds_total);
    ptq_html_kv(f, "outputs", "%s%sreport.json, pipeline.yaml", r->onnx_name ? r->onnx_name : "",
                r->onnx_name ? ", " : "");
    ptq_html_kv(f, "ptq", "%s", ptq_version_string());
    ptq_html_kv_end(f);
    for (int32_t i = 0; i < p->n_notes; i++) ptq_html_paragraph(f, "note", "%s", p->notes[i]);
    for (int32_t i = 0; i < s->n_notes; i++) ptq_html_paragraph(f, "note", "%s", s->notes[i]);

    if (r->have_fidelity) table_fidelity(f, &r->fid);
    ptq_html_heading(f, 2, "Passes");
    chart_layer_sqnr(f, s, r);
    chart_pass_time(f, r);
    table_passes(f, r);
    chart_unit_loss(f, p, s, r);
    ptq_html_heading(f, 2, "Layers after the last pass");
    table_layers(f, s, &r->final);
    if (s->n_rows > 0) {
        ptq_html_heading(f, 2, "Tables the passes reported");
        report_tables(f, p, s, r);
    }
    return ptq_html_end(f);
}
