/* ab_table.c — the comparison as the terminal shows it: variants with mean and spread of
 * top-1, the pairs (every pair up to 15, else each variant against the best), the winner
 * marked only where the tests back it, and what was shared. */
#include "ab.h"

static void print_pair(FILE *f, const ptq_ab_report *r, const ptq_ab_pair *p) {
    char name[80];
    snprintf(name, sizeof name, "%s - %s", r->variants[p->b].name, r->variants[p->a].name);
    if (!p->seeds) {
        fprintf(f, "  %-40s (no seed finished on both sides)\n", name);
        return;
    }
    fprintf(f, "  %-40s %+6.2f  [%+6.2f, %+6.2f]   %6lld / %-6lld  %9.2g  %9.2g  %s\n", name,
            100.0 * p->diff, 100.0 * p->lo, 100.0 * p->hi, (long long)p->only_b, (long long)p->only_a,
            p->p, p->p_holm, p->significant ? "*" : "");
}

void ab_print_table(FILE *f, const ptq_ab_report *r) {
    const int32_t win = ab_winner(r);
    fprintf(f, "\nA/B %s%s\n", r->title, r->complete ? "" : "   (INCOMPLETE: interrupted)");
    int64_t images = 0;
    for (int32_t i = 0; i < r->n_runs && !images; i++)
        if (r->runs[i].status == PTQ_AB_OK) images = r->runs[i].images;
    fprintf(f, "model       %s\nevaluation  %s (%lld images)\n", r->model, r->evaluation, (long long)images);
    fprintf(f, "\n  %-28s %5s  %8s  %6s  %17s\n", "variant", "runs", "top-1 %", "sd", "min - max");
    for (int32_t v = 0; v < r->n_variants; v++) {
        const ptq_ab_variant *va = &r->variants[v];
        fprintf(f, "%c %-28s %2d/%-2d", v == win ? '*' : ' ', va->name, va->n_ok, va->n_runs);
        if (va->n_ok)
            fprintf(f, "  %8.2f  %6.2f  %7.2f - %7.2f\n", 100.0 * va->mean, 100.0 * va->sd,
                    100.0 * va->min, 100.0 * va->max);
        else
            fprintf(f, "  %8s\n", "-");
    }
    for (int32_t i = 0; i < r->n_runs; i++)
        if (r->runs[i].status == PTQ_AB_FAILED)
            fprintf(f, "  failed: %s: %s\n", r->runs[i].dir, r->runs[i].error ? r->runs[i].error : "?");
    if (r->n_pairs) {
        int32_t best = win;
        for (int32_t v = 0; best < 0 && v < r->n_variants; v++) best = v;
        for (int32_t v = 0; v < r->n_variants; v++)
            if (r->variants[v].n_ok && r->variants[v].mean > r->variants[best].mean) best = v;
        const bool all = r->n_pairs <= 15;
        fprintf(f, "\n  %-40s %6s  %16s   %15s  %9s  %9s\n", all ? "pair (b - a)" : "against the best (b - a)",
                "points", "95 % interval", "only b / only a", "McNemar p", "Holm p");
        for (int32_t i = 0; i < r->n_pairs; i++)
            if (all || r->pairs[i].a == best || r->pairs[i].b == best) print_pair(f, r, &r->pairs[i]);
        fprintf(f, "  * significant: Holm-corrected p < 0.05 over all %d pairs, and the interval (which\n"
                   "    also carries the seed-to-seed spread) excludes zero\n", r->n_pairs);
    }
    if (win >= 0)
        fprintf(f, "\nwinner      %s: better than every other variant, each significantly\n",
                r->variants[win].name);
    else if (r->n_variants > 1)
        fprintf(f, "\nwinner      none: no variant is significantly better than all the others\n");
    for (int32_t i = 0; i < r->n_shared; i++)
        fprintf(f, "%-11s %s: %.1f s once for %d runs\n", i ? "" : "shared", r->shared[i].what,
                r->shared[i].seconds, r->shared[i].n_runs);
    fprintf(f, "time        %.1f s, %d processes at a time%s, peak memory %.0f MB (largest process %.0f MB)\n",
            r->seconds, r->jobs, r->ranks > 1 ? " per rank" : "", r->sum_peak_rss_mb, r->peak_rss_mb);
}
