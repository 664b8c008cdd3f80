/* ab_json.c — ab.json: an A/B's results under stable keys (docs/AB.md lists them; scripts
 * read them, so keys are only ever added). */
#include "ab.h"
#include "pipeline/json.h"

static const char *status_name(ptq_ab_status s) {
    switch (s) {
    case PTQ_AB_OK: return "ok";
    case PTQ_AB_FAILED: return "failed";
    case PTQ_AB_INTERRUPTED: return "interrupted";
    default: return "not_run";
    }
}

static void key_number(ptq_json *j, const char *k, double v) {
    ptq_json_key(j, k);
    ptq_json_number(j, v);
}

static void key_string(ptq_json *j, const char *k, const char *v) {
    ptq_json_key(j, k);
    if (v) ptq_json_string(j, v);
    else ptq_json_null(j);
}

static void write_run(ptq_json *j, const ptq_ab_run *r) {
    ptq_json_begin_object(j);
    key_string(j, "variant", r->variant);
    ptq_json_key(j, "seed");
    ptq_json_int(j, (int64_t)r->seed);
    key_string(j, "dir", r->dir);
    key_string(j, "status", status_name(r->status));
    key_string(j, "error", r->error);
    const bool ok = r->status == PTQ_AB_OK;
    key_number(j, "top1", ok ? r->top1 : NAN);
    key_number(j, "float_top1", ok ? r->float_top1 : NAN);
    ptq_json_key(j, "images");
    ptq_json_int(j, ok ? r->images : 0);
    key_number(j, "output_sqnr_db", ok ? r->model_sqnr_db : NAN);
    key_number(j, "seconds", ok ? r->seconds : NAN);
    ptq_json_key(j, "passes");
    ptq_json_begin_array(j);
    for (int32_t i = 0; i < r->n_passes; i++) {
        ptq_json_begin_object(j);
        key_string(j, "name", r->pass_names[i]);
        key_number(j, "seconds", r->pass_seconds[i]);
        ptq_json_key(j, "shared");
        ptq_json_bool(j, r->pass_shared[i]);
        ptq_json_end_object(j);
    }
    ptq_json_end_array(j);
    ptq_json_end_object(j);
}

/* The variant no other beats and that beats every other, each significantly; or -1. */
int32_t ab_winner(const ptq_ab_report *r) {
    if (r->n_variants < 2) return -1;
    for (int32_t v = 0; v < r->n_variants; v++) {
        bool wins = r->variants[v].n_ok > 0;
        for (int32_t o = 0; wins && o < r->n_variants; o++) {
            if (o == v) continue;
            const ptq_ab_pair *pr = NULL;
            for (int32_t i = 0; i < r->n_pairs; i++)
                if ((r->pairs[i].a == v && r->pairs[i].b == o) || (r->pairs[i].a == o && r->pairs[i].b == v))
                    pr = &r->pairs[i];
            /* diff is b - a: v must be the better side */
            wins = pr && pr->significant && (pr->b == v ? pr->diff > 0 : pr->diff < 0);
        }
        if (wins) return v;
    }
    return -1;
}

ptq_status ab_json_write(FILE *f, const ptq_ab_report *r) {
    ptq_json j;
    ptq_json_init(&j, f);
    ptq_json_begin_object(&j);
    ptq_json_key(&j, "ab_version");
    ptq_json_int(&j, 1);
    key_string(&j, "title", r->title);
    key_string(&j, "model", r->model);
    key_string(&j, "evaluation", r->evaluation);
    ptq_json_key(&j, "complete");
    ptq_json_bool(&j, r->complete);
    ptq_json_key(&j, "seeds");
    ptq_json_int(&j, r->seeds);
    ptq_json_key(&j, "jobs");
    ptq_json_int(&j, r->jobs);
    ptq_json_key(&j, "ranks");
    ptq_json_int(&j, r->ranks);
    key_number(&j, "seconds", r->seconds);
    key_number(&j, "peak_memory_mb", r->sum_peak_rss_mb);
    key_number(&j, "peak_process_mb", r->peak_rss_mb);
    const int32_t win = ab_winner(r);
    key_string(&j, "winner", win >= 0 ? r->variants[win].name : NULL);
    ptq_json_key(&j, "variants");
    ptq_json_begin_array(&j);
    for (int32_t v = 0; v < r->n_variants; v++) {
        const ptq_ab_variant *va = &r->variants[v];
        ptq_json_begin_object(&j);
        key_string(&j, "name", va->name);
        ptq_json_key(&j, "runs");
        ptq_json_int(&j, va->n_runs);
        ptq_json_key(&j, "ok");
        ptq_json_int(&j, va->n_ok);
        ptq_json_key(&j, "top1");
        ptq_json_begin_object(&j);
        key_number(&j, "mean", va->mean);
        key_number(&j, "sd", va->sd);
        key_number(&j, "min", va->min);
        key_number(&j, "max", va->max);
        ptq_json_end_object(&j);
        ptq_json_end_object(&j);
    }
    ptq_json_end_array(&j);
    ptq_json_key(&j, "pairs");
    ptq_json_begin_array(&j);
    for (int32_t i = 0; i < r->n_pairs; i++) {
        const ptq_ab_pair *p = &r->pairs[i];
        ptq_json_begin_object(&j);
        key_string(&j, "a", r->variants[p->a].name);
        key_string(&j, "b", r->variants[p->b].name);
        ptq_json_key(&j, "seeds");
        ptq_json_int(&j, p->seeds);
        ptq_json_key(&j, "images");
        ptq_json_int(&j, p->n);
        ptq_json_key(&j, "only_a");
        ptq_json_int(&j, p->only_a);
        ptq_json_key(&j, "only_b");
        ptq_json_int(&j, p->only_b);
        key_number(&j, "diff", p->diff);
        ptq_json_key(&j, "ci95");
        ptq_json_begin_array(&j);
        ptq_json_number(&j, p->lo);
        ptq_json_number(&j, p->hi);
        ptq_json_end_array(&j);
        key_number(&j, "p", p->p);
        key_number(&j, "p_holm", p->p_holm);
        ptq_json_key(&j, "significant");
        ptq_json_bool(&j, p->significant);
        ptq_json_end_object(&j);
    }
    ptq_json_end_array(&j);
    ptq_json_key(&j, "runs");
    ptq_json_begin_array(&j);
    for (int32_t i = 0; i < r->n_runs; i++) write_run(&j, &r->runs[i]);
    ptq_json_end_array(&j);
    ptq_json_key(&j, "shared");
    ptq_json_begin_array(&j);
    for (int32_t i = 0; i < r->n_shared; i++) {
        const ptq_ab_shared *s = &r->shared[i];
        ptq_json_begin_object(&j);
        key_string(&j, "what", s->what);
        key_number(&j, "seconds", s->seconds);
        ptq_json_key(&j, "runs");
        ptq_json_begin_array(&j);
        for (int32_t k = 0; k < s->n_runs; k++) ptq_json_string(&j, r->runs[s->runs[k]].dir);
        ptq_json_end_array(&j);
        ptq_json_end_object(&j);
    }
    ptq_json_end_array(&j);
    ptq_json_end_object(&j);
    fputc('\n', f);
    return ferror(f) ? PTQ_ERR_IO : PTQ_OK;
}
