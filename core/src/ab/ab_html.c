/* ab_html.c — ab.html (ab_report.h): an A/B comparison as one self-contained page.  The
 * summary and the pairs first (what a reader came for), then the charts that explain a
 * difference (per-layer SQNR, time, reconstruction loss along depth, each from the
 * variant's first finished run), then what was shared and every run with a link to its
 * own report.html. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ab_report.h"
#include "pipeline/html.h"

static const char *status_name(ptq_ab_status st) {
    switch (st) {
    case PTQ_AB_OK: return "ok";
    case PTQ_AB_FAILED: return "failed";
    case PTQ_AB_INTERRUPTED: return "interrupted";
    case PTQ_AB_NOT_RUN: return "not run";
    }
    return "?";
}

/* The variant's first run that finished, or NULL. */
static const ptq_ab_run *first_ok_run(const ptq_ab_report *r, const ptq_ab_variant *v) {
    for (int32_t k = 0; k < v->n_runs; k++) {
        const int32_t i = v->runs[k];
        if (i >= 0 && i < r->n_runs && r->runs[i].status == PTQ_AB_OK) return &r->runs[i];
    }
    return NULL;
}

/* The variant with the highest mean top-1 when the pairs say it is significantly better
 * than every other variant that finished a run; else -1 (no mark: a higher mean alone
 * is not a finding). */
static int32_t significant_best(const ptq_ab_report *r) {
    int32_t best = -1;
    for (int32_t v = 0; v < r->n_variants; v++)
        if (r->variants[v].n_ok > 0 && (best < 0 || r->variants[v].mean > r->variants[best].mean))
            best = v;
    if (best < 0) return -1;
    int32_t others = 0;
    for (int32_t v = 0; v < r->n_variants; v++) {
        if (v == best || r->variants[v].n_ok == 0) continue;
        others++;
        bool beaten = false;
        for (int32_t k = 0; k < r->n_pairs && !beaten; k++) {
            const ptq_ab_pair *pr = &r->pairs[k];
            /* diff is b's top-1 minus a's */
            beaten = pr->significant && ((pr->a == best && pr->b == v && pr->diff < 0) ||
                                         (pr->b == best && pr->a == v && pr->diff > 0));
        }
        if (!beaten) return -1;
    }
    return others > 0 ? best : -1;
}

static const char *variant_name(const ptq_ab_report *r, int32_t v) {
    return v >= 0 && v < r->n_variants && r->variants[v].name ? r->variants[v].name : "?";
}

static void table_variants(FILE *f, const ptq_ab_report *r) {
    const int32_t best = significant_best(r);
    static const char *const head[] = {"variant",     "runs ok", "mean top-1 %",
                                       "sd (points)", "min %",   "max %"};
    ptq_html_table_begin(f, 6, head, "lrrrrr");
    for (int32_t v = 0; v < r->n_variants; v++) {
        const ptq_ab_variant *va = &r->variants[v];
        const unsigned mark = v == best ? PTQ_HTML_BEST : 0;
        const bool ok = va->n_ok > 0;
        ptq_html_row_begin(f);
        ptq_html_cell(f, mark, "%s%s", variant_name(r, v), v == best ? " (best)" : "");
        ptq_html_cell(f, PTQ_HTML_NUM | (va->n_ok < va->n_runs ? PTQ_HTML_BAD : 0), "%d / %d",
                      (int)va->n_ok, (int)va->n_runs);
        ptq_html_cell_num(f, mark, ok ? 100 * va->mean : NAN, 2);
        ptq_html_cell_num(f, 0, ok ? 100 * va->sd : NAN, 2);
        ptq_html_cell_num(f, 0, ok ? 100 * va->min : NAN, 2);
        ptq_html_cell_num(f, 0, ok ? 100 * va->max : NAN, 2);
        ptq_html_row_end(f);
    }
    ptq_html_table_end(f);
    if (best >= 0)
        ptq_html_paragraph(
            f, "note",
            "Marked: %s, significantly better than every other variant (in every pair "
            "Holm-adjusted p < 0.05 and the 95 %% interval excluding zero).",
            variant_name(r, best));
    else if (r->n_variants > 1)
        ptq_html_paragraph(f, "note", "No variant is significantly better than all the others.");
}

static void chart_top1(FILE *f, const ptq_ab_report *r) {
    const size_t n = (size_t)r->n_variants + 1;
    const char **labels = calloc(n, sizeof *labels);
    double *mean = calloc(n, sizeof *mean), *lo = calloc(n, sizeof *lo),
           *hi = calloc(n, sizeof *hi);
    const int32_t count = labels && mean && lo && hi ? r->n_variants : 0;
    if (!count && r->n_variants) ptq_html_out_of_memory();
    for (int32_t v = 0; v < count; v++) {
        const ptq_ab_variant *va = &r->variants[v];
        const bool ok = va->n_ok > 0;
        labels[v] = variant_name(r, v);
        mean[v] = ok ? 100 * va->mean : NAN;
        lo[v] = ok ? 100 * va->min : NAN;
        hi[v] = ok ? 100 * va->max : NAN;
    }
    ptq_html_bar_chart(f, "Mean top-1 per variant (bars: min to max over seeds)", "top-1 %", count,
                       labels, mean, lo, hi);
    free(labels);
    free(mean);
    free(lo);
    free(hi);
}

static void table_pairs(FILE *f, const ptq_ab_report *r) {
    if (r->n_pairs == 0) {
        ptq_html_paragraph(f, "note",
                           "No pairs to compare (fewer than two variants finished a run).");
        return;
    }
    static const char *const head[] = {"a",     "b",      "b - a (points)", "95 % interval",
                                       "seeds", "images", "only a right",   "only b right",
                                       "p",     "Holm p", "significant"};
    ptq_html_table_begin(f, 11, head, "llrrrrrrrrl");
    for (int32_t k = 0; k < r->n_pairs; k++) {
        const ptq_ab_pair *pr = &r->pairs[k];
        const unsigned mark = pr->significant ? PTQ_HTML_BEST : 0;
        ptq_html_row_begin(f);
        ptq_html_cell(f, 0, "%s", variant_name(r, pr->a));
        ptq_html_cell(f, 0, "%s", variant_name(r, pr->b));
        ptq_html_cell_num(f, mark, 100 * pr->diff, 2);
        ptq_html_cell(f, PTQ_HTML_NUM, "[%.2f, %.2f]", 100 * pr->lo, 100 * pr->hi);
        ptq_html_cell(f, PTQ_HTML_NUM, "%d", (int)pr->seeds);
        ptq_html_cell(f, PTQ_HTML_NUM, "%lld", (long long)pr->n);
        ptq_html_cell(f, PTQ_HTML_NUM, "%lld", (long long)pr->only_a);
        ptq_html_cell(f, PTQ_HTML_NUM, "%lld", (long long)pr->only_b);
        ptq_html_cell(f, PTQ_HTML_NUM, "%.3g", pr->p);
        ptq_html_cell(f, PTQ_HTML_NUM | mark, "%.3g", pr->p_holm);
        ptq_html_cell(f, mark, "%s", pr->significant ? "yes" : "no");
        ptq_html_row_end(f);
    }
    ptq_html_table_end(f);
    ptq_html_paragraph(
        f, "note",
        "Pooled over the seeds both variants finished; p: McNemar's exact test on the "
        "discordant images, Holm-adjusted over all pairs; significant: Holm p < 0.05 and the interval "
        "(which also carries the seed-to-seed spread) excludes zero.");
}

/* Line charts of a per-run sequence (layers, units), one series per variant from its
 * first finished run; `layers` picks which. */
static void chart_per_variant(FILE *f, const ptq_ab_report *r, bool layers) {
    ptq_html_series *se = calloc((size_t)r->n_variants + 1, sizeof *se);
    if (!se) ptq_html_out_of_memory();
    int32_t n = 0;
    for (int32_t v = 0; se && v < r->n_variants; v++) {
        const ptq_ab_run *run = first_ok_run(r, &r->variants[v]);
        if (!run) continue;
        const int32_t count = layers ? run->n_layers : run->n_units;
        if (count <= 0) continue;
        se[n].name = variant_name(r, v);
        se[n].n = count;
        se[n].x = (const char *const *)(layers ? run->layer_names : run->unit_names);
        se[n].y = layers ? run->layer_sqnr_db : run->unit_loss;
        if (se[n].x && se[n].y) n++;
    }
    if (layers)
        ptq_html_line_chart(f, "Per-layer output SQNR after the last pass", "output SQNR (dB)",
                            false, n, se);
    else if (n > 0)
        ptq_html_line_chart(f, "Final reconstruction loss per unit along depth", "final loss", true,
                            n, se);
    else
        ptq_html_paragraph(f, "note", "No variant reconstructed units.");
    free(se);
}

/* Time per pass: the passes of each variant's first finished run. */
static void chart_pass_time(FILE *f, const ptq_ab_report *r) {
    int32_t total = 0;
    for (int32_t v = 0; v < r->n_variants; v++) {
        const ptq_ab_run *run = first_ok_run(r, &r->variants[v]);
        if (run && run->pass_names && run->pass_seconds) total += run->n_passes;
    }
    const char **labels = calloc((size_t)total + 1, sizeof *labels);
    char(*text)[200] = calloc((size_t)total + 1, sizeof *text);
    double *sec = calloc((size_t)total + 1, sizeof *sec);
    if (!labels || !text || !sec) ptq_html_out_of_memory();
    int32_t n = 0;
    for (int32_t v = 0; labels && text && sec && v < r->n_variants; v++) {
        const ptq_ab_run *run = first_ok_run(r, &r->variants[v]);
        if (!run || !run->pass_names || !run->pass_seconds) continue;
        for (int32_t k = 0; k < run->n_passes; k++) {
            const bool shared = run->pass_shared && run->pass_shared[k];
            snprintf(text[n], sizeof text[n], "%s: %s%s", variant_name(r, v),
                     run->pass_names[k] ? run->pass_names[k] : "?", shared ? " (shared)" : "");
            labels[n] = text[n];
            sec[n++] = run->pass_seconds[k];
        }
    }
    ptq_html_hbar_chart(f, "Time per pass (first finished run of each variant)", "s", n, labels,
                        sec);
    free(labels);
    free(text);
    free(sec);
}

static void table_shared(FILE *f, const ptq_ab_report *r) {
    if (r->n_shared == 0) return;
    ptq_html_heading(f, 2, "Shared work");
    static const char *const head[] = {"what", "runs served", "seconds"};
    ptq_html_table_begin(f, 3, head, "lrr");
    for (int32_t k = 0; k < r->n_shared; k++) {
        const ptq_ab_shared *sh = &r->shared[k];
        ptq_html_row_begin(f);
        ptq_html_cell(f, 0, "%s", sh->what ? sh->what : "");
        ptq_html_cell(f, PTQ_HTML_NUM, "%d", (int)sh->n_runs);
        ptq_html_cell_num(f, 0, sh->seconds, 2);
        ptq_html_row_end(f);
    }
    ptq_html_table_end(f);
}

static void table_runs(FILE *f, const ptq_ab_report *r) {
    static const char *const head[] = {"variant", "seed",          "status",
                                       "top-1 %", "float top-1 %", "network output SQNR (dB)",
                                       "seconds", "report",        "error"};
    ptq_html_table_begin(f, 9, head, "lrlrrrrll");
    for (int32_t i = 0; i < r->n_runs; i++) {
        const ptq_ab_run *run = &r->runs[i];
        const bool ok = run->status == PTQ_AB_OK;
        ptq_html_row_begin(f);
        ptq_html_cell(f, 0, "%s",
                      run->variant ? run->variant : variant_name(r, run->variant_index));
        ptq_html_cell(f, PTQ_HTML_NUM, "%llu", (unsigned long long)run->seed);
        ptq_html_cell(f, ok ? 0 : PTQ_HTML_BAD, "%s", status_name(run->status));
        ptq_html_cell_num(f, 0, ok ? 100 * run->top1 : NAN, 2);
        ptq_html_cell_num(f, 0, ok ? 100 * run->float_top1 : NAN, 2);
        ptq_html_cell_num(f, 0, ok ? run->model_sqnr_db : NAN, 2);
        ptq_html_cell_num(f, 0, run->seconds, 1);
        if (ok && run->dir) {
            char href[4096];
            snprintf(href, sizeof href, "%s/report.html", run->dir);
            ptq_html_cell_link(f, 0, href, run->dir);
        } else {
            ptq_html_cell(f, PTQ_HTML_MUTED, "%s", run->dir ? run->dir : "");
        }
        ptq_html_cell(f, run->error ? PTQ_HTML_BAD : 0, "%s", run->error ? run->error : "");
        ptq_html_row_end(f);
    }
    ptq_html_table_end(f);
}

int ptq_ab_html_write(FILE *f, const ptq_ab_report *r) {
    char title[512];
    snprintf(title, sizeof title, "ptq ab: %s", r->title ? r->title : "comparison");
    ptq_html_begin(f, title);
    if (!r->complete)
        ptq_html_paragraph(f, "banner",
                           "INCOMPLETE: interrupted; some runs are missing and the statistics "
                           "cover only the runs that finished.");
    ptq_html_kv_begin(f);
    ptq_html_kv(f, "model", "%s", r->model ? r->model : "");
    ptq_html_kv(f, "evaluation", "%s", r->evaluation ? r->evaluation : "");
    ptq_html_kv(f, "variants x seeds", "%d x %d = %d runs", (int)r->n_variants, (int)r->seeds,
                (int)r->n_runs);
    ptq_html_kv(f, "complete", "%s", r->complete ? "yes" : "no (interrupted)");
    ptq_html_kv(f, "processes", "%d at once, %d rank%s", (int)r->jobs, (int)r->ranks,
                r->ranks == 1 ? "" : "s");
    ptq_html_kv(f, "wall time", "%.1f s", r->seconds);
    ptq_html_kv(f, "peak memory", "%.0f MB per process, %.0f MB summed over processes",
                r->peak_rss_mb, r->sum_peak_rss_mb);
    ptq_html_kv_end(f);

    ptq_html_heading(f, 2, "Variants");
    table_variants(f, r);
    chart_top1(f, r);
    ptq_html_heading(f, 2, "Pairs");
    table_pairs(f, r);
    ptq_html_heading(f, 2, "Per-layer output SQNR");
    chart_per_variant(f, r, true);
    ptq_html_heading(f, 2, "Time per pass");
    chart_pass_time(f, r);
    ptq_html_heading(f, 2, "Reconstruction loss per unit");
    chart_per_variant(f, r, false);
    table_shared(f, r);
    ptq_html_heading(f, 2, "Runs");
    table_runs(f, r);
    return ptq_html_end(f);
}
