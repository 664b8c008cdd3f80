/* ab_plan.c — the runs of an A/B (variants x seeds), checked whole before anything runs,
 * and the tree of steps they share (ab.h). */
#define _DEFAULT_SOURCE /* realpath */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

#include "ab.h"

/* Every problem of the plan, one per line, as long as they fit. */
static void append(ptq_error *all, int32_t *n, const char *prefix, const char *msg) {
    size_t len = strlen(all->msg);
    if (len + 8 >= sizeof all->msg) return;
    if (snprintf(all->msg + len, sizeof all->msg - len, "%s%s%s", *n ? "\n" : "", prefix, msg) < 0) return;
    (*n)++;
}

/* "dir/name.yaml" -> "name". */
static char *file_stem(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".yaml")) n -= 5;
    else if (n > 4 && !strcmp(b + n - 4, ".yml")) n -= 4;
    char *s = malloc(n + 1);
    if (s) memcpy(s, b, n), s[n] = 0;
    return s;
}

static bool same_file(const char *a, const char *b) {
    if (!a || !b) return a == b;
    char ra[PATH_MAX], rb[PATH_MAX];
    if (realpath(a, ra) && realpath(b, rb)) return !strcmp(ra, rb);
    return !strcmp(a, b);
}

static bool same_floats(const float *a, int32_t na, const float *b, int32_t nb) {
    if (na != nb) return false;
    for (int32_t i = 0; i < na; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* What makes two runs an A/B: the same model and the same evaluation images, labels and
 * preprocessing.  NULL when they agree, else what differs. */
static const char *differs(const ptq_pipeline *a, const ptq_pipeline *b) {
    if (!same_file(a->model, b->model)) return "model";
    const ptq_dataset_cfg *x = &a->evaluation, *y = &b->evaluation;
    if (x->present != y->present || !same_file(x->images, y->images) || !same_file(x->labels, y->labels) ||
        x->count != y->count || x->offset != y->offset || x->sample != y->sample)
        return "evaluation data";
    if (!same_floats(x->mean, x->n_mean, y->mean, y->n_mean) || !same_floats(x->std, x->n_std, y->std, y->n_std))
        return "evaluation normalization";
    return NULL;
}

static ptq_status add_run(ab_plan *pl, ptq_pipeline *p, const char *variant, int32_t vi, int32_t k) {
    ab_run *nr = realloc(pl->runs, (size_t)(pl->n_runs + 1) * sizeof *nr);
    if (!nr) return PTQ_ERR_NOMEM;
    pl->runs = nr;
    ab_run *r = &pl->runs[pl->n_runs];
    memset(r, 0, sizeof *r);
    r->p = p;
    r->variant_index = vi;
    r->seed_index = k;
    r->variant = ptq_strdup(variant);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/seed%" PRIu64, variant, p->seed);
    r->dir = ptq_strdup(dir);
    r->fp = calloc((size_t)p->n_passes + 1, sizeof *r->fp);
    pl->n_runs++; /* owned from here on, whatever failed */
    if (!r->variant || !r->dir || !r->fp) return PTQ_ERR_NOMEM;
    for (int32_t s = 0; s <= p->n_passes; s++)
        if (!(r->fp[s] = ptq_pipeline_fingerprint(p, s))) return PTQ_ERR_NOMEM;
    if (p->n_passes > pl->max_passes) pl->max_passes = p->n_passes;
    return PTQ_OK;
}

static ptq_status add_variant_name(ab_plan *pl, const char *name) {
    char **nv = realloc(pl->variants, (size_t)(pl->n_variants + 1) * sizeof *nv);
    if (!nv) return PTQ_ERR_NOMEM;
    pl->variants = nv;
    if (!(nv[pl->n_variants] = ptq_strdup(name))) return PTQ_ERR_NOMEM;
    pl->n_variants++;
    return PTQ_OK;
}

/* One variant of one file: its pipeline per seed, or its errors. */
static ptq_status load_variant(ab_plan *pl, const ptq_variant_set *set, int32_t i, const char *name,
                               int32_t seeds, const ptq_registry *reg, ptq_error *all, int32_t *n_bad) {
    const int32_t vi = pl->n_variants;
    if (add_variant_name(pl, name)) return PTQ_ERR_NOMEM;
    for (int32_t k = 0; k < seeds; k++) {
        ptq_error err = {0};
        ptq_pipeline *p = ptq_variant_load(set, i, reg, &err);
        if (!p) {
            if (err.status == PTQ_ERR_NOMEM) return PTQ_ERR_NOMEM;
            char prefix[256];
            if (snprintf(prefix, sizeof prefix, "variant '%s': ", name) < 0) prefix[0] = 0;
            append(all, n_bad, prefix, err.msg);
            return PTQ_OK; /* the other seeds would say the same */
        }
        p->seed += (uint64_t)k;
        if (add_run(pl, p, name, vi, k)) return PTQ_ERR_NOMEM;
    }
    return PTQ_OK;
}

ab_plan *ab_plan_build(const char *const *paths, int32_t n, int32_t seeds, const ptq_registry *reg,
                       ptq_error *err) {
    ab_plan *pl = calloc(1, sizeof *pl);
    ptq_error all = {0};
    int32_t n_bad = 0;
    ptq_status st = pl ? PTQ_OK : PTQ_ERR_NOMEM;
    size_t tlen = 0;
    for (int32_t f = 0; f < n; f++) tlen += strlen(paths[f]) + 1;
    if (!st && !(pl->title = calloc(tlen + 1, 1))) st = PTQ_ERR_NOMEM;
    for (int32_t f = 0; !st && f < n; f++) {
        if (f) strcat(pl->title, " ");
        strcat(pl->title, paths[f]);
        ptq_variant_set set;
        ptq_error e = {0};
        if (ptq_variants_read(paths[f], &set, &e)) {
            if (e.status == PTQ_ERR_NOMEM) st = PTQ_ERR_NOMEM;
            else append(&all, &n_bad, "", e.msg);
            ptq_variant_set_free(&set);
            continue;
        }
        const int32_t k = seeds > 0 ? seeds : set.seeds > 0 ? set.seeds : 1;
        if (pl->seeds && k != pl->seeds) {
            char m[256];
            snprintf(m, sizeof m, "%s: variants.seeds %d differs from the other file's %d (give "
                     "--seeds to set one count)", paths[f], k, pl->seeds);
            append(&all, &n_bad, "", m);
        }
        pl->seeds = k;
        char *stem = file_stem(paths[f]);
        if (!stem) st = PTQ_ERR_NOMEM;
        if (!st && !ptq_variant_name_ok(stem)) {
            char m[512];
            snprintf(m, sizeof m, "%s: the file's name '%s' cannot name a variant ([A-Za-z0-9._+-])",
                     paths[f], stem);
            append(&all, &n_bad, "", m);
        }
        for (int32_t i = set.n ? 0 : -1; !st && i < set.n; i++) {
            char name[200];
            if (i < 0) snprintf(name, sizeof name, "%s", stem);
            else if (n > 1) snprintf(name, sizeof name, "%s+%s", stem, set.v[i].name);
            else snprintf(name, sizeof name, "%s", set.v[i].name);
            st = load_variant(pl, &set, i, name, k, reg, &all, &n_bad);
        }
        free(stem);
        ptq_variant_set_free(&set);
    }
    /* Two variants with one name (two files called alike in different folders). */
    for (int32_t a = 0; !st && pl && a < pl->n_variants; a++)
        for (int32_t b = 0; b < a; b++)
            if (!strcmp(pl->variants[a], pl->variants[b])) {
                char m[256];
                snprintf(m, sizeof m, "two variants are named '%s': rename a file or a variant",
                         pl->variants[a]);
                append(&all, &n_bad, "", m);
            }
    /* Not an A/B unless every run is judged on the same model and images. */
    for (int32_t i = 1; !st && !n_bad && i < pl->n_runs; i++) {
        const char *what = differs(pl->runs[0].p, pl->runs[i].p);
        if (what) {
            char m[1024];
            snprintf(m, sizeof m, "variant '%s' and variant '%s' differ in their %s: an A/B "
                     "compares pipelines on one model and one evaluation set", pl->runs[0].variant,
                     pl->runs[i].variant, what);
            append(&all, &n_bad, "", m);
            break;
        }
    }
    if (!st && !n_bad && pl->n_runs && !pl->runs[0].p->evaluation.present) {
        append(&all, &n_bad, "", "the pipelines have no evaluation section: an A/B compares "
               "top-1 on labelled evaluation images");
    } else if (!st && !n_bad && pl->n_runs && !pl->runs[0].p->evaluation.labels) {
        /* ptq run takes evaluation images without labels (fidelity to the float model);
         * an A/B's statistics are paired top-1 hits and need the labels. */
        append(&all, &n_bad, "", "the evaluation section names no 'labels': an A/B compares "
               "top-1 on labelled evaluation images (without labels, `ptq run` each pipeline "
               "and compare the fidelity lines of their reports)");
    }
    if (!st && !n_bad && pl->n_variants < 2 && pl->seeds < 2)
        append(&all, &n_bad, "", "one variant and one seed: an A/B compares two or more "
               "variants (files, or a 'variants:' section) or one variant's seeds (--seeds K)");
    if (st || n_bad) {
        if (st == PTQ_ERR_NOMEM) ptq_error_set(err, st, "out of memory");
        else *err = all, err->status = PTQ_ERR_INVALID;
        ab_plan_free(pl);
        return NULL;
    }
    return pl;
}

/* ---- the step tree ------------------------------------------------------------------------ */

static ptq_status push(int32_t **a, int32_t *n, int32_t v) {
    int32_t *na = realloc(*a, (size_t)(*n + 1) * sizeof *na);
    if (!na) return PTQ_ERR_NOMEM;
    na[(*n)++] = v;
    *a = na;
    return PTQ_OK;
}

static int32_t new_node(ab_plan *pl, int32_t parent, int32_t step, int32_t run0) {
    ab_node *nn = realloc(pl->nodes, (size_t)(pl->n_nodes + 1) * sizeof *nn);
    if (!nn) return -1;
    pl->nodes = nn;
    nn[pl->n_nodes] = (ab_node){.parent = parent, .step = step, .run0 = run0};
    if (parent >= 0 && push(&nn[parent].kids, &nn[parent].n_kids, pl->n_nodes)) return -1;
    return pl->n_nodes++;
}

static void free_nodes(ab_plan *pl) {
    for (int32_t i = 0; i < pl->n_nodes; i++) {
        free(pl->nodes[i].kids);
        free(pl->nodes[i].ends);
        free(pl->nodes[i].runs);
    }
    free(pl->nodes);
    pl->nodes = NULL;
    pl->n_nodes = 0;
}

ptq_status ab_plan_tree(ab_plan *pl, const bool *keep, ptq_error *err) {
    free_nodes(pl);
    if (new_node(pl, -1, -1, -1) < 0) goto nomem;
    for (int32_t r = 0; r < pl->n_runs; r++) {
        if (keep && !keep[r]) continue;
        ab_run *run = &pl->runs[r];
        int32_t cur = 0;
        if (push(&pl->nodes[0].runs, &pl->nodes[0].n_runs, r)) goto nomem;
        for (int32_t s = 0; s <= run->p->n_passes; s++) {
            int32_t next = -1;
            for (int32_t k = 0; k < pl->nodes[cur].n_kids && next < 0; k++) {
                const ab_node *kid = &pl->nodes[pl->nodes[cur].kids[k]];
                if (!strcmp(pl->runs[kid->run0].fp[s], run->fp[s])) next = pl->nodes[cur].kids[k];
            }
            if (next < 0 && (next = new_node(pl, cur, s, r)) < 0) goto nomem;
            if (push(&pl->nodes[next].runs, &pl->nodes[next].n_runs, r)) goto nomem;
            cur = next;
        }
        run->node = cur;
        if (push(&pl->nodes[cur].ends, &pl->nodes[cur].n_ends, r)) goto nomem;
    }
    return PTQ_OK;
nomem:
    return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
}

const char *ab_node_label(const ab_plan *pl, int32_t node) {
    const ab_node *nd = &pl->nodes[node];
    if (nd->step < 0) return "start";
    if (nd->step == 0) return "setup";
    return pl->runs[nd->run0].p->passes[nd->step - 1].def->name;
}

void ab_plan_free(ab_plan *pl) {
    if (!pl) return;
    for (int32_t i = 0; i < pl->n_runs; i++) {
        ab_run *r = &pl->runs[i];
        for (int32_t s = 0; r->fp && r->p && s <= r->p->n_passes; s++) free(r->fp[s]);
        free(r->fp);
        ptq_pipeline_free(r->p);
        free(r->variant);
        free(r->dir);
    }
    free(pl->runs);
    for (int32_t i = 0; i < pl->n_variants; i++) free(pl->variants[i]);
    free(pl->variants);
    free_nodes(pl);
    free(pl->title);
    free(pl);
}
