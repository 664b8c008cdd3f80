/* variants.c — an A/B's variants: the `variants:` section read and checked, and each
 * variant loaded as the base pipeline with its overlays merged into the YAML document
 * before validation (variants.h). */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <yaml.h>

#include "variants.h"

#define MAX_AXES 8
#define MAX_VARIANTS 4096
#define JOIN "+"

static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static yaml_node_t *node(yaml_document_t *doc, int index) {
    return yaml_document_get_node(doc, index);
}

static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *v = sval(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null");
}

static bool is_key(const yaml_node_t *k, const char *name) {
    return k->type == YAML_SCALAR_NODE && !strcmp(sval(k), name);
}

/* Every problem of a read, one "FILE:LINE:COLUMN: message" per line. */
typedef struct problems {
    const char *file;
    ptq_error *err;
    size_t len;
    int32_t n;
} problems;

static ptq_status problem(problems *pr, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ptq_status problem(problems *pr, const yaml_node_t *at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *buf = pr->err->msg;
    const size_t cap = sizeof pr->err->msg;
    if (pr->len < cap) {
        int k = snprintf(buf + pr->len, cap - pr->len, "%s%s:%zu:%zu: %s", pr->n ? "\n" : "",
                         pr->file, at ? at->start_mark.line + 1 : 1,
                         at ? at->start_mark.column + 1 : 1, msg);
        pr->len += k > 0 ? (size_t)k : 0;
    }
    pr->n++;
    pr->err->status = PTQ_ERR_INVALID;
    return PTQ_ERR_INVALID;
}

bool ptq_variant_name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.') return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-' || *c == '+'))
            return false;
    return true;
}

/* ---- reading the section ------------------------------------------------------------- */

/* The keys an overlay may hold: the pipeline's own sections and the two edits. */
static const char *const overlay_keys[] = {"model", "calibration", "evaluation", "quantization",
                                           "passes", "seed", "batch", "threads", "without",
                                           "params", NULL};

static void check_overlay(problems *pr, yaml_document_t *doc, const char *name, yaml_node_t *ov) {
    if (is_null(ov)) return;
    if (ov->type != YAML_MAPPING_NODE) {
        problem(pr, ov, "variant '%s': expected a mapping of what it changes ({} for the base "
                "pipeline as it is)", name);
        return;
    }
    for (yaml_node_pair_t *q = ov->data.mapping.pairs.start; q < ov->data.mapping.pairs.top; q++) {
        yaml_node_t *k = node(doc, q->key), *v = node(doc, q->value);
        if (k->type != YAML_SCALAR_NODE) {
            problem(pr, k, "variant '%s': keys are names", name);
            continue;
        }
        bool known = false;
        for (int i = 0; overlay_keys[i]; i++) known |= !strcmp(sval(k), overlay_keys[i]);
        if (!strcmp(sval(k), "output"))
            problem(pr, k, "variant '%s': 'output' cannot differ between variants: the A/B "
                    "writes every run under its own directory (ptq ab --out)", name);
        else if (!strcmp(sval(k), "variants"))
            problem(pr, k, "variant '%s': variants do not nest (use a matrix of axes)", name);
        else if (!known)
            problem(pr, k, "variant '%s': unknown key '%s' (a variant may set model, "
                    "calibration, evaluation, quantization, passes, seed, batch, threads, and "
                    "edit passes with 'without' and 'params')", name, sval(k));
        else if (!strcmp(sval(k), "without") && v->type != YAML_SEQUENCE_NODE &&
                 v->type != YAML_SCALAR_NODE)
            problem(pr, v, "variant '%s': 'without' takes a pass name or a list of them", name);
        else if (!strcmp(sval(k), "params") && v->type != YAML_MAPPING_NODE)
            problem(pr, v, "variant '%s': 'params' takes a mapping of pass name -> {param: "
                    "value}", name);
    }
}

/* One axis: a mapping of name -> overlay (reserved keys skipped by the caller). */
typedef struct axis {
    yaml_node_pair_t *pairs;
    int32_t n;
} axis;

static ptq_status add_variant(ptq_variant_set *set, const char *name, const int32_t *ov, int32_t n,
                              const yaml_node_t *at) {
    ptq_variant *nv = realloc(set->v, (size_t)(set->n + 1) * sizeof *nv);
    if (!nv) return PTQ_ERR_NOMEM;
    set->v = nv;
    ptq_variant *v = &set->v[set->n];
    memset(v, 0, sizeof *v);
    v->name = ptq_strdup(name);
    v->overlays = malloc((size_t)(n ? n : 1) * sizeof *v->overlays);
    if (!v->name || !v->overlays) {
        free(v->name);
        free(v->overlays);
        return PTQ_ERR_NOMEM;
    }
    memcpy(v->overlays, ov, (size_t)n * sizeof *ov);
    v->n_overlays = n;
    v->pos = (ptq_src_pos){(int32_t)at->start_mark.line + 1, (int32_t)at->start_mark.column + 1};
    set->n++;
    return PTQ_OK;
}

/* Checks one axis's names and overlays; the names must be unique within it. */
static void check_axis(problems *pr, yaml_document_t *doc, const axis *a, const char *what) {
    for (int32_t i = 0; i < a->n; i++) {
        yaml_node_t *k = node(doc, a->pairs[i].key);
        if (k->type != YAML_SCALAR_NODE || !ptq_variant_name_ok(sval(k))) {
            problem(pr, k, "%s: a variant's name is 1-64 of [A-Za-z0-9._+-], not starting with "
                    "'.' (it names its directory)", what);
            continue;
        }
        for (int32_t j = 0; j < i; j++) {
            yaml_node_t *o = node(doc, a->pairs[j].key);
            if (o->type == YAML_SCALAR_NODE && !strcmp(sval(o), sval(k)))
                problem(pr, k, "%s: two variants named '%s' (the first at line %zu)", what,
                        sval(k), o->start_mark.line + 1);
        }
        check_overlay(pr, doc, sval(k), node(doc, a->pairs[i].value));
    }
}

static int32_t read_seeds(problems *pr, yaml_node_t *v) {
    char *end = NULL;
    long x = v->type == YAML_SCALAR_NODE ? strtol(sval(v), &end, 10) : 0;
    if (!end || *end || x < 1 || x > 1000) {
        problem(pr, v, "variants.seeds: expected a whole number in [1, 1000]");
        return 0;
    }
    return (int32_t)x;
}

/* The product of the axes, in order: the last axis varies fastest. */
static ptq_status expand(ptq_variant_set *set, yaml_document_t *doc, const axis *axes, int32_t n_axes,
                         const yaml_node_t *at, problems *pr) {
    int64_t total = 1;
    for (int32_t a = 0; a < n_axes; a++) total *= axes[a].n;
    if (total > MAX_VARIANTS) return problem(pr, at, "the matrix makes %lld variants (at most %d)",
                                             (long long)total, MAX_VARIANTS);
    int32_t idx[MAX_AXES] = {0}, ov[MAX_AXES];
    for (int64_t t = 0; t < total; t++) {
        char name[MAX_AXES * 66] = "";
        for (int32_t a = 0, rem = (int32_t)t; a < n_axes; a++) {
            int32_t stride = 1;
            for (int32_t b = a + 1; b < n_axes; b++) stride *= axes[b].n;
            idx[a] = rem / stride;
            rem %= stride;
            const yaml_node_pair_t *q = &axes[a].pairs[idx[a]];
            ov[a] = q->value;
            if (a) strcat(name, JOIN);
            strncat(name, sval(node(doc, q->key)), 64);
        }
        if (add_variant(set, name, ov, n_axes, node(doc, axes[0].pairs[idx[0]].key)))
            return PTQ_ERR_NOMEM;
    }
    return PTQ_OK;
}

ptq_status ptq_variants_read(const char *path, ptq_variant_set *set, ptq_error *err) {
    memset(set, 0, sizeof *set);
    if (!(set->path = ptq_strdup(path))) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    yaml_document_t doc;
    if (ptq_pipeline_parse(path, &doc, err)) return err->status;
    memset(err, 0, sizeof *err);
    problems pr = {.file = path, .err = err};
    ptq_status st = PTQ_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc), *sec = NULL;
    if (root && root->type == YAML_MAPPING_NODE)
        for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < root->data.mapping.pairs.top; q++)
            if (is_key(node(&doc, q->key), "variants")) sec = node(&doc, q->value);
    if (!sec) goto out;
    if (sec->type != YAML_MAPPING_NODE) {
        st = problem(&pr, sec, "variants: expected a mapping of variant name -> overlay (or "
                     "'matrix:' of axes, and 'seeds:')");
        goto out;
    }
    axis one = {0}, axes[MAX_AXES];
    int32_t n_axes = 0;
    yaml_node_t *matrix = NULL;
    one.pairs = calloc(sec->data.mapping.pairs.top - sec->data.mapping.pairs.start + 1, sizeof *one.pairs);
    if (!one.pairs) {
        st = ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (yaml_node_pair_t *q = sec->data.mapping.pairs.start; q < sec->data.mapping.pairs.top; q++) {
        yaml_node_t *k = node(&doc, q->key), *v = node(&doc, q->value);
        if (is_key(k, "seeds")) set->seeds = read_seeds(&pr, v);
        else if (is_key(k, "matrix")) matrix = k;
        else one.pairs[one.n++] = *q;
    }
    if (matrix) {
        yaml_node_t *m = NULL;
        for (yaml_node_pair_t *q = sec->data.mapping.pairs.start; q < sec->data.mapping.pairs.top; q++)
            if (node(&doc, q->key) == matrix) m = node(&doc, q->value);
        if (one.n) problem(&pr, node(&doc, one.pairs[0].key), "variants: name variants either in "
                           "one list or as a 'matrix' of axes, not both");
        if (m->type != YAML_MAPPING_NODE || m->data.mapping.pairs.top == m->data.mapping.pairs.start)
            problem(&pr, m, "variants.matrix: expected a mapping of axis name -> {variant name: "
                    "overlay}");
        else
            for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < m->data.mapping.pairs.top; q++) {
                yaml_node_t *an = node(&doc, q->value);
                char what[128];
                snprintf(what, sizeof what, "variants.matrix.%s",
                         node(&doc, q->key)->type == YAML_SCALAR_NODE ? sval(node(&doc, q->key)) : "?");
                if (n_axes == MAX_AXES) {
                    problem(&pr, an, "variants.matrix: at most %d axes", MAX_AXES);
                    break;
                }
                if (an->type != YAML_MAPPING_NODE || an->data.mapping.pairs.top == an->data.mapping.pairs.start) {
                    problem(&pr, an, "%s: expected a mapping of variant name -> overlay", what);
                    continue;
                }
                axes[n_axes] = (axis){an->data.mapping.pairs.start,
                                      (int32_t)(an->data.mapping.pairs.top - an->data.mapping.pairs.start)};
                check_axis(&pr, &doc, &axes[n_axes], what);
                n_axes++;
            }
    } else if (!one.n) {
        problem(&pr, sec, "variants: none named");
    } else {
        axes[n_axes++] = one;
        check_axis(&pr, &doc, &one, "variants");
    }
    if (!pr.n) st = expand(set, &doc, axes, n_axes, sec, &pr);
    if (!st && pr.n) st = PTQ_ERR_INVALID;
    free(one.pairs);
out:
    yaml_document_delete(&doc);
    if (!st && pr.n) st = PTQ_ERR_INVALID;
    if (st == PTQ_ERR_NOMEM) ptq_error_set(err, st, "out of memory");
    return st;
}

void ptq_variant_set_free(ptq_variant_set *set) {
    for (int32_t i = 0; i < set->n; i++) {
        free(set->v[i].name);
        free(set->v[i].overlays);
    }
    free(set->v);
    free(set->path);
    memset(set, 0, sizeof *set);
}

/* ---- overlays merged into the document ----------------------------------------------- */

typedef struct edit_ctx {
    const ptq_variant_set *set;
    int32_t i;
} edit_ctx;

static yaml_node_pair_t *find_pair(yaml_document_t *doc, yaml_node_t *map, const char *key) {
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < map->data.mapping.pairs.top; q++)
        if (is_key(node(doc, q->key), key)) return q;
    return NULL;
}

/* Mappings merge key by key; anything else replaces (a list of passes, a scalar). */
static ptq_status merge(yaml_document_t *doc, int base_i, int over_i) {
    yaml_node_t *over = node(doc, over_i);
    for (int32_t k = 0; k < (int32_t)(over->data.mapping.pairs.top - over->data.mapping.pairs.start); k++) {
        yaml_node_pair_t q = node(doc, over_i)->data.mapping.pairs.start[k];
        /* A key that is not a name is appended: validation then reports it where it is. */
        yaml_node_t *key = node(doc, q.key);
        yaml_node_pair_t *b = key->type == YAML_SCALAR_NODE ? find_pair(doc, node(doc, base_i), sval(key)) : NULL;
        if (b && node(doc, b->value)->type == YAML_MAPPING_NODE &&
            node(doc, q.value)->type == YAML_MAPPING_NODE) {
            if (merge(doc, b->value, q.value)) return PTQ_ERR_NOMEM;
        } else if (b) {
            b->value = q.value;
        } else if (!yaml_document_append_mapping_pair(doc, base_i, q.key, q.value)) {
            return PTQ_ERR_NOMEM;
        }
    }
    return PTQ_OK;
}

/* The name of a `passes:` item ({name: params}), or NULL. */
static const char *pass_item_name(yaml_document_t *doc, yaml_node_t *item, yaml_node_pair_t **pair) {
    if (item->type != YAML_MAPPING_NODE || item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1)
        return NULL;
    *pair = item->data.mapping.pairs.start;
    yaml_node_t *k = node(doc, (*pair)->key);
    return k->type == YAML_SCALAR_NODE ? sval(k) : NULL;
}

static ptq_status edit_without(problems *pr, yaml_document_t *doc, yaml_node_t *passes, yaml_node_t *names,
                               const char *variant) {
    const bool list = names->type == YAML_SEQUENCE_NODE;
    const int32_t n = list ? (int32_t)(names->data.sequence.items.top - names->data.sequence.items.start) : 1;
    for (int32_t j = 0; j < n; j++) {
        yaml_node_t *nm = list ? node(doc, names->data.sequence.items.start[j]) : names;
        if (nm->type != YAML_SCALAR_NODE) {
            problem(pr, nm, "variant '%s': 'without' lists pass names", variant);
            continue;
        }
        int32_t removed = 0;
        yaml_node_item_t *it = passes ? passes->data.sequence.items.start : NULL;
        while (passes && it < passes->data.sequence.items.top) {
            yaml_node_pair_t *pair;
            const char *pn = pass_item_name(doc, node(doc, *it), &pair);
            if (pn && !strcmp(pn, sval(nm))) {
                memmove(it, it + 1, (size_t)(passes->data.sequence.items.top - it - 1) * sizeof *it);
                passes->data.sequence.items.top--;
                removed++;
            } else {
                it++;
            }
        }
        if (!removed)
            problem(pr, nm, "variant '%s': without: the base pipeline has no pass '%s'", variant, sval(nm));
    }
    return PTQ_OK;
}

static ptq_status edit_params(problems *pr, yaml_document_t *doc, yaml_node_t *passes, int params_i,
                              const char *variant) {
    for (int32_t k = 0; k < (int32_t)(node(doc, params_i)->data.mapping.pairs.top -
                                      node(doc, params_i)->data.mapping.pairs.start); k++) {
        yaml_node_pair_t q = node(doc, params_i)->data.mapping.pairs.start[k];
        yaml_node_t *pk = node(doc, q.key), *pv = node(doc, q.value);
        if (pk->type != YAML_SCALAR_NODE || pv->type != YAML_MAPPING_NODE) {
            problem(pr, pk, "variant '%s': params: expected pass name: {param: value}", variant);
            continue;
        }
        int32_t found = 0;
        for (int32_t j = 0; passes && j < (int32_t)(passes->data.sequence.items.top - passes->data.sequence.items.start); j++) {
            yaml_node_pair_t *pair;
            const char *pn = pass_item_name(doc, node(doc, passes->data.sequence.items.start[j]), &pair);
            if (!pn || strcmp(pn, sval(pk))) continue;
            found++;
            if (node(doc, pair->value)->type == YAML_MAPPING_NODE) {
                if (merge(doc, pair->value, q.value)) return PTQ_ERR_NOMEM;
            } else {
                pair->value = q.value; /* `- pass:` with nothing: the overlay's parameters */
            }
        }
        if (!found)
            problem(pr, pk, "variant '%s': params: the pipeline has no pass '%s'", variant, sval(pk));
    }
    return PTQ_OK;
}

/* Applies one overlay to the document's root mapping. */
static ptq_status apply_overlay(problems *pr, yaml_document_t *doc, int over_i, const char *variant) {
    const int root_i = 1;
    yaml_node_t *over = node(doc, over_i);
    if (is_null(over)) return PTQ_OK;
    for (int32_t k = 0; k < (int32_t)(over->data.mapping.pairs.top - over->data.mapping.pairs.start); k++) {
        yaml_node_pair_t q = node(doc, over_i)->data.mapping.pairs.start[k];
        yaml_node_t *key = node(doc, q.key);
        if (is_key(key, "without") || is_key(key, "params")) continue; /* after the merge */
        yaml_node_pair_t *b = find_pair(doc, node(doc, root_i), sval(key));
        if (b && node(doc, b->value)->type == YAML_MAPPING_NODE && node(doc, q.value)->type == YAML_MAPPING_NODE) {
            if (merge(doc, b->value, q.value)) return PTQ_ERR_NOMEM;
        } else if (b) {
            b->value = q.value;
        } else if (!yaml_document_append_mapping_pair(doc, root_i, q.key, q.value)) {
            return PTQ_ERR_NOMEM;
        }
    }
    yaml_node_pair_t *pp = find_pair(doc, node(doc, root_i), "passes");
    yaml_node_t *passes = pp && node(doc, pp->value)->type == YAML_SEQUENCE_NODE ? node(doc, pp->value) : NULL;
    over = node(doc, over_i);
    for (int32_t k = 0; k < (int32_t)(over->data.mapping.pairs.top - over->data.mapping.pairs.start); k++) {
        yaml_node_pair_t q = node(doc, over_i)->data.mapping.pairs.start[k];
        ptq_status st = PTQ_OK;
        if (is_key(node(doc, q.key), "without")) st = edit_without(pr, doc, passes, node(doc, q.value), variant);
        else if (is_key(node(doc, q.key), "params")) st = edit_params(pr, doc, passes, q.value, variant);
        if (st) return st;
    }
    return PTQ_OK;
}

static ptq_status edit_variant(void *vctx, yaml_document_t *doc, ptq_error *err) {
    const edit_ctx *e = vctx;
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE) return PTQ_OK; /* the load says what is wrong */
    /* The section itself is the A/B's, not the pipeline's. */
    for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < root->data.mapping.pairs.top; q++)
        if (is_key(node(doc, q->key), "variants")) {
            memmove(q, q + 1, (size_t)(root->data.mapping.pairs.top - q - 1) * sizeof *q);
            root->data.mapping.pairs.top--;
            break;
        }
    if (e->i < 0) return PTQ_OK;
    problems pr = {.file = e->set->path, .err = err};
    const ptq_variant *v = &e->set->v[e->i];
    for (int32_t k = 0; k < v->n_overlays; k++)
        if (apply_overlay(&pr, doc, v->overlays[k], v->name)) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    return pr.n ? PTQ_ERR_INVALID : PTQ_OK;
}

ptq_pipeline *ptq_variant_load(const ptq_variant_set *set, int32_t i, const ptq_registry *reg,
                               ptq_error *err) {
    edit_ctx e = {set, i};
    return ptq_pipeline_load_edited(set->path, reg, edit_variant, &e, err);
}
