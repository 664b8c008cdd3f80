/* pipeline.c — the pipeline file: YAML in, a validated and resolved plan out.
 *
 * The file is parsed whole with libyaml's document API, then walked against a fixed
 * schema: each mapping has a table of its keys with one handler per key, so every value
 * is checked where it sits and a message can point at it ("file:line:column").  Pass
 * parameters are checked against the pass's own table (ptq_param_def), which is why a
 * plugin never sees a malformed value.  The first problem stops the load: nothing runs
 * on a file that is wrong anywhere.
 *
 * After the walk the plan is completed: defaults made explicit (normalization from the
 * model's sidecar JSON), the host's passes inserted where the declared reads need them,
 * and every pass's required reads checked against what the passes before it write. */
#define _DEFAULT_SOURCE /* realpath */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "pipeline.h"
#include "quant/session.h" /* ptq_calibrate_params, for the implicit calibration */

/* A pipeline is a few hundred bytes; anything much larger is not one. */
#define PTQ_PIPELINE_MAX_BYTES ((size_t)1 << 20)
/* The schema nests 5 levels deep; libyaml's scanner spends O(depth) per token inside
 * brackets, so a file of nested brackets would take hours without a cap. */
#define MAX_DEPTH 32
/* Most keys a schema mapping has (the top level has 9). */
#define MAX_FIELDS 16

#define TRY(x)                                                                             \
    do {                                                                                   \
        ptq_status st_ = (x);                                                              \
        if (st_) return st_;                                                               \
    } while (0)

/* Everything the walk needs. */
typedef struct ctx {
    const char *file;          /* as given: messages name it so */
    yaml_document_t *doc;
    const ptq_registry *reg;
    ptq_error *err;
    ptq_pipeline *p;
    char *base;                /* owned: absolute directory of the file */
    const yaml_node_t *model_key, *quant_key;
    bool normalize_given[2];   /* calibration, evaluation */
    const yaml_node_t *image_key[2];  /* the first image-only key of each data section */
    const yaml_node_t *resize_key[2]; /* `resize:` of each data section */
    const yaml_node_t *input_shape_key;
    ptq_pass_cfg *listed;      /* owned: the passes as the file lists them */
    int32_t n_listed;
    int32_t cap_passes;        /* room in p->passes */
    char *errors;              /* owned: every error found, one "FILE:L:C: msg" per line */
    size_t errors_len;
    int32_t n_errors;
} ctx;

/* Validation goes on after an error (the next key, parameter, pass or override), so a
 * file's problems are reported together; only running out of memory stops at once. */
#define KEEP_GOING(st, first)                                                              \
    do {                                                                                   \
        if ((st) == PTQ_ERR_NOMEM) return (st);                                            \
        if ((st) && !(first)) (first) = (st);                                              \
    } while (0)

/* ===================================================================== messages ===== */

static ptq_src_pos node_pos(const yaml_node_t *n) {
    ptq_src_pos pos = {1, 1};
    if (n) {
        /* libyaml counts from 0; editors and compilers from 1. */
        pos.line = (int32_t)n->start_mark.line + 1;
        pos.column = (int32_t)n->start_mark.column + 1;
    }
    return pos;
}

static ptq_status fail_pos(ctx *c, ptq_src_pos pos, ptq_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ptq_status fail_pos(ctx *c, ptq_src_pos pos, ptq_status st, const char *fmt, ...) {
    char msg[PTQ_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char line[PTQ_ERROR_SIZE + 64];
    const int n = snprintf(line, sizeof line, "%s:%d:%d: %s\n", c->file, pos.line, pos.column, msg);
    char *grown = n > 0 ? realloc(c->errors, c->errors_len + (size_t)n + 1) : NULL;
    if (grown) {
        memcpy(grown + c->errors_len, line, (size_t)n + 1);
        c->errors = grown;
        c->errors_len += (size_t)n;
        c->n_errors++;
    }
    return ptq_error_set(c->err, st, "%s:%d:%d: %s", c->file, pos.line, pos.column, msg);
}

static ptq_status fail(ctx *c, const yaml_node_t *n, ptq_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ptq_status fail(ctx *c, const yaml_node_t *n, ptq_status st, const char *fmt, ...) {
    char msg[PTQ_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail_pos(c, node_pos(n), st, "%s", msg);
}

static ptq_status nomem(ctx *c) { return ptq_error_set(c->err, PTQ_ERR_NOMEM, "out of memory"); }

/* A value quoted in a message: shortened, control characters replaced, so a hostile
 * scalar cannot garble the terminal or the message. */
static const char *clip(const char *s, char *buf, size_t size) {
    size_t n = strlen(s), max = size - 4;
    bool cut = n > max;
    if (cut) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--; /* whole UTF-8 chars */
    }
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    strcpy(buf + n, cut ? "..." : "");
    return buf;
}

/* ===================================================================== did you mean == */

/* Edit distance ignoring case, a swap of two neighbours counting as one edit ("dri"
 * for "dir" is one slip of the fingers): the optimal string alignment distance. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), r0[64], r1[64], r2[64];
    if (la >= 63 || lb >= 63) return 99;
    size_t *prev2 = r0, *prev = r1, *cur = r2;
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            int ai = tolower((unsigned char)a[i - 1]), bj = tolower((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + (ai != bj);
            if (prev[j] + 1 < best) best = prev[j] + 1;
            if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == bj && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = prev2;
        prev2 = prev, prev = cur, cur = t;
    }
    return prev[lb];
}

/* The closest of a set of candidates, and the set as a list for when none is close. */
typedef struct suggest {
    const char *word;
    const char *best;
    size_t dist;
    char list[640];
    size_t len;
    bool full;
} suggest;

static void suggest_init(suggest *s, const char *word) {
    s->word = word;
    s->best = NULL;
    s->dist = SIZE_MAX;
    s->list[0] = '\0';
    s->len = 0;
    s->full = false;
}

static void suggest_add_dist(suggest *s, const char *cand, size_t d) {
    if (d < s->dist) s->dist = d, s->best = cand;
    if (s->full) return;
    if (s->len + strlen(cand) + 8 >= sizeof s->list) { /* room for ", ..." stays */
        s->len += (size_t)snprintf(s->list + s->len, sizeof s->list - s->len, ", ...");
        s->full = true;
        return;
    }
    s->len += (size_t)snprintf(s->list + s->len, sizeof s->list - s->len, "%s%s",
                               s->len ? ", " : "", cand);
}

static void suggest_add(suggest *s, const char *cand) {
    suggest_add_dist(s, cand, edit_distance(s->word, cand));
}

/* The best candidate if it is close enough to be what was meant: a third of the word's
 * length in edits at most, so short words do not "match" everything. */
static const char *suggest_best(const suggest *s) {
    size_t n = strlen(s->word), limit = n <= 3 ? 1 : n <= 6 ? 2 : 3;
    return s->best && s->dist <= limit ? s->best : NULL;
}

/* " (did you mean 'x'?)", else " (<label>: a, b, c)" when label is given, else "". */
static const char *suggest_hint(const suggest *s, const char *label, char *buf, size_t size) {
    const char *best = suggest_best(s);
    if (best)
        snprintf(buf, size, " (did you mean '%s'?)", best);
    else if (label && s->len)
        snprintf(buf, size, " (%s: %s)", label, s->list);
    else
        buf[0] = '\0';
    return buf;
}

/* ===================================================================== YAML nodes === */

static const yaml_node_t *node_at(ctx *c, int index) {
    return yaml_document_get_node(c->doc, index);
}

static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static bool is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* `key:`, `key: ~` and `key: null` (YAML's null); a quoted "null" is a string. */
static bool is_null(const yaml_node_t *n) {
    if (!is_plain(n)) return false;
    const char *v = sval(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

/* A scalar whose text is a proper C string (a "\0" escape would cut it short). */
static bool clean_scalar(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && strlen(sval(n)) == n->data.scalar.length;
}

/* What a node is, for "expected X, got Y". */
static const char *describe(const yaml_node_t *n, char *buf, size_t size) {
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (n->type != YAML_SCALAR_NODE || (is_null(n) && !*sval(n))) return "nothing";
    if (is_null(n)) return "null";
    char v[72];
    snprintf(buf, size, "%s'%s'", is_plain(n) ? "" : "the quoted string ",
             clip(sval(n), v, sizeof v));
    return buf;
}

static ptq_status expected(ctx *c, const yaml_node_t *n, const char *what) {
    char buf[128];
    return fail(c, n, PTQ_ERR_INVALID, "expected %s, got %s", what, describe(n, buf, sizeof buf));
}

static ptq_status key_name(ctx *c, const yaml_node_t *key, const char **name) {
    if (!clean_scalar(key) || is_null(key)) return expected(c, key, "a key name");
    *name = sval(key);
    return PTQ_OK;
}

/* ===================================================================== scalars ====== */

static ptq_status get_string(ctx *c, const yaml_node_t *v, const char *what, const char **out) {
    if (!clean_scalar(v) || is_null(v)) return expected(c, v, what);
    *out = sval(v);
    return PTQ_OK;
}

/* Numbers and booleans must be plain: a quoted "8" is a string in YAML, and accepting it
 * here would make the same text mean different things in different places. */
static ptq_status parse_int(ctx *c, const yaml_node_t *v, int64_t *out, bool *overflow) {
    *overflow = false;
    if (!is_plain(v) || is_null(v)) return expected(c, v, "an integer");
    const char *s = sval(v);
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || isspace((unsigned char)*s)) return expected(c, v, "an integer");
    *overflow = errno == ERANGE;
    *out = x;
    return PTQ_OK;
}

/* An integer in [min, max]; the message names the key and shows the range. */
static ptq_status get_int(ctx *c, const yaml_node_t *key, const yaml_node_t *v, int64_t min,
                          int64_t max, int64_t *out) {
    bool overflow = false;
    TRY(parse_int(c, v, out, &overflow));
    if (overflow || *out < min || *out > max) {
        char buf[72];
        return fail(c, v, PTQ_ERR_INVALID, "'%s' = %s is out of range [%" PRId64 ", %" PRId64 "]",
                    sval(key), clip(sval(v), buf, sizeof buf), min, max);
    }
    return PTQ_OK;
}

static ptq_status get_number(ctx *c, const yaml_node_t *v, double *out) {
    if (!is_plain(v) || is_null(v)) return expected(c, v, "a number");
    const char *s = sval(v);
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || isspace((unsigned char)*s) || !isfinite(x))
        return expected(c, v, "a number");
    *out = x;
    return PTQ_OK;
}

/* YAML 1.1's booleans, which is what people write in configuration files. */
static ptq_status get_bool(ctx *c, const yaml_node_t *v, bool *out) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    if (is_plain(v))
        for (size_t i = 0; i < 3; i++) {
            if (!strcasecmp(sval(v), yes[i])) return *out = true, PTQ_OK;
            if (!strcasecmp(sval(v), no[i])) return *out = false, PTQ_OK;
        }
    return expected(c, v, "a boolean (true or false)");
}

/* ===================================================================== paths ======== */

/* Absolute directory of the pipeline file, so resolved paths stay valid wherever the
 * printed plan is saved. */
static char *file_dir(const char *path) {
    char *dir = ptq_strdup(path);
    if (!dir) return NULL;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    char *real = realpath(dir, NULL);
    if (real) {
        free(dir);
        return real;
    }
    return dir; /* unreachable in practice: the file was just read from there */
}

/* base joined with a relative s; leading "./" and "../" are folded into base, which is
 * canonical (realpath), so its parent is the real parent. */
static char *resolve_path(const char *base, const char *s) {
    if (s[0] == '/') return ptq_strdup(s);
    size_t blen = strlen(base);
    for (;;) {
        if (s[0] == '.' && (s[1] == '/' || !s[1])) {
            s += 1;
        } else if (s[0] == '.' && s[1] == '.' && (s[2] == '/' || !s[2])) {
            s += 2;
            while (blen > 1 && base[blen - 1] != '/') blen--;
            if (blen > 1) blen--; /* drop the slash, keep "/" itself */
        } else {
            break;
        }
        while (*s == '/') s++;
    }
    bool slash = blen > 0 && base[blen - 1] != '/' && *s;
    size_t n = blen + slash + strlen(s) + 1;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%.*s%s%s", (int)blen, base, slash ? "/" : "", s);
    return out;
}

static ptq_status get_path(ctx *c, const yaml_node_t *v, char **out) {
    const char *s = NULL;
    TRY(get_string(c, v, "a path", &s));
    if (!*s) return expected(c, v, "a path");
    free(*out);
    *out = resolve_path(c->base, s);
    return *out ? PTQ_OK : nomem(c);
}

/* ===================================================================== mappings ===== */

/* One key of a schema mapping and its handler; obj is the struct being filled. */
typedef ptq_status (*field_fn)(ctx *c, const yaml_node_t *key, const yaml_node_t *val, void *obj);
typedef struct field {
    const char *name;
    field_fn fn;
} field;

static ptq_status unknown_key(ctx *c, const yaml_node_t *key, const char *name,
                              const field *fields) {
    suggest s;
    suggest_init(&s, name);
    for (const field *f = fields; f->name; f++) suggest_add(&s, f->name);
    char v[72], hint[720];
    return fail(c, key, PTQ_ERR_INVALID, "unknown key '%s'%s", clip(name, v, sizeof v),
                suggest_hint(&s, "valid keys", hint, sizeof hint));
}

static ptq_status duplicate_key(ctx *c, const yaml_node_t *key, const char *name,
                                const yaml_node_t *first) {
    ptq_src_pos at = node_pos(first);
    return fail(c, key, PTQ_ERR_INVALID, "duplicate key '%s' (first given at line %d)", name,
                at.line);
}

/* Walks a mapping in document order, calling each key's handler.  seen (MAX_FIELDS
 * entries, may be NULL) receives the key node of every field given, for the caller's
 * "required" checks. */
static ptq_status walk_mapping(ctx *c, const yaml_node_t *map, const field *fields, void *obj,
                               const yaml_node_t **seen) {
    const yaml_node_t *local[MAX_FIELDS] = {0};
    if (!seen) seen = local;
    if (map->type != YAML_MAPPING_NODE) return expected(c, map, "a mapping");
    ptq_status first = PTQ_OK;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        const yaml_node_t *key = node_at(c, pr->key), *val = node_at(c, pr->value);
        const char *name = NULL;
        ptq_status st = key_name(c, key, &name);
        if (!st) {
            int i = 0;
            while (fields[i].name && strcmp(fields[i].name, name)) i++;
            if (!fields[i].name) st = unknown_key(c, key, name, fields);
            else if (seen[i]) st = duplicate_key(c, key, name, seen[i]);
            else seen[i] = key, st = fields[i].fn(c, key, val, obj);
        }
        KEEP_GOING(st, first);
    }
    return first;
}

/* Reported at the key of the mapping that lacks it (or at the document for top level). */
static ptq_status missing_key(ctx *c, const yaml_node_t *where, const char *name, const char *in) {
    return fail(c, where, PTQ_ERR_INVALID, "missing required key '%s'%s%s%s", name,
                in ? " in '" : "", in ? in : "", in ? "'" : "");
}

/* A scalar naming one of a fixed set (from_name: index or -1) into *out; else an error
 * "'key' = 'value' is not one of: choices". */
static ptq_status get_name(ctx *c, const yaml_node_t *v, const char *key, const char *what,
                           int32_t (*from_name)(const char *), const char *choices, int32_t *out) {
    const char *s = NULL;
    TRY(get_string(c, v, what, &s));
    const int32_t m = from_name(s);
    if (m < 0) {
        char buf[72];
        return fail(c, v, PTQ_ERR_INVALID, "'%s' = '%s' is not one of: %s", key,
                    clip(s, buf, sizeof buf), choices);
    }
    *out = m;
    return PTQ_OK;
}

/* ===================================================================== datasets ===== */

/* A list of 1..16 numbers (one per channel), or one bare number. */
static ptq_status get_floats(ctx *c, const yaml_node_t *key, const yaml_node_t *v, bool positive,
                             float *dst, int32_t *n) {
    int32_t count = 1;
    yaml_node_item_t *list = NULL;
    if (v->type == YAML_SEQUENCE_NODE) {
        list = v->data.sequence.items.start;
        count = (int32_t)(v->data.sequence.items.top - list);
        if (count == 0) return fail(c, v, PTQ_ERR_INVALID, "'%s' needs 1 to 16 numbers, got an "
                                    "empty list", sval(key));
    } else if (v->type != YAML_SCALAR_NODE) {
        return expected(c, v, "a number or a list of numbers");
    }
    for (int32_t i = 0; i < count; i++) {
        const yaml_node_t *it = list ? node_at(c, list[i]) : v;
        if (i == 16)
            return fail(c, it, PTQ_ERR_INVALID, "'%s' takes at most 16 numbers (one per channel)",
                        sval(key));
        double x = 0;
        TRY(get_number(c, it, &x));
        if (positive && !(x > 0)) {
            char buf[72];
            return fail(c, it, PTQ_ERR_INVALID, "'%s' must be > 0, got %s", sval(key),
                        clip(sval(it), buf, sizeof buf));
        }
        if (!isfinite((float)x)) return expected(c, it, "a number in float range");
        dst[i] = (float)x;
    }
    *n = count;
    return PTQ_OK;
}

static ptq_status f_norm_mean(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_dataset_cfg *ds = obj;
    return get_floats(c, k, v, false, ds->mean, &ds->n_mean);
}

static ptq_status f_norm_std(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_dataset_cfg *ds = obj;
    return get_floats(c, k, v, true, ds->std, &ds->n_std);
}

static const field normalize_fields[] = {{"mean", f_norm_mean}, {"std", f_norm_std}, {0}};

static ptq_status f_ds_normalize(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_dataset_cfg *ds = obj;
    const yaml_node_t *seen[MAX_FIELDS] = {0};
    TRY(walk_mapping(c, v, normalize_fields, ds, seen));
    /* 1 value applies to every channel; otherwise both lists are per channel. */
    if (ds->n_mean > 1 && ds->n_std > 1 && ds->n_mean != ds->n_std)
        return fail(c, seen[1], PTQ_ERR_INVALID, "'std' has %d values but 'mean' has %d (give "
                    "one value, or one per channel in both)", ds->n_std, ds->n_mean);
    return PTQ_OK;
}

static ptq_status f_ds_images(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_path(c, v, &((ptq_dataset_cfg *)obj)->images);
}

/* A path, or the keyword `folders` (an image folder's class subfolders); a file really
 * named "folders" is written ./folders. */
static ptq_status f_ds_labels(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_dataset_cfg *ds = obj;
    if (is_plain(v) && !strcmp(sval(v), "folders")) {
        ds->labels_folders = true;
        return PTQ_OK;
    }
    return get_path(c, v, &ds->labels);
}

/* ---- image folders: resize, channels, scale, on_bad_image ---- */

static int32_t ds_index(ctx *c, const void *ds) { return ds == &c->p->evaluation; }

static void image_key(ctx *c, const yaml_node_t *k, const void *ds) {
    if (!c->image_key[ds_index(c, ds)]) c->image_key[ds_index(c, ds)] = k;
}

static int32_t resize_mode_from_name(const char *s) {
    return !strcmp(s, "none") ? PTQ_RESIZE_NONE : !strcmp(s, "stretch") ? PTQ_RESIZE_STRETCH
         : !strcmp(s, "letterbox") ? PTQ_RESIZE_LETTERBOX : -1;
}

static const char *resize_mode_name(int32_t m) {
    return m == PTQ_RESIZE_STRETCH ? "stretch" : m == PTQ_RESIZE_LETTERBOX ? "letterbox" : "none";
}

static int32_t channels_from_name(const char *s) {
    return !strcmp(s, "rgb") ? PTQ_CHANNELS_RGB : !strcmp(s, "bgr") ? PTQ_CHANNELS_BGR
         : !strcmp(s, "gray") || !strcmp(s, "grey") ? PTQ_CHANNELS_GRAY : -1;
}

static const char *channels_name(int32_t ch) {
    return ch == PTQ_CHANNELS_BGR ? "bgr" : ch == PTQ_CHANNELS_GRAY ? "gray" : "rgb";
}

/* `size: 224` (square) or `size: [H, W]`. */
static ptq_status f_resize_size(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_dataset_cfg *ds = obj;
    int64_t hw[2];
    if (v->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it = v->data.sequence.items.start;
        if (v->data.sequence.items.top - it != 2)
            return fail(c, v, PTQ_ERR_INVALID, "'size' is [height, width] (or one number for a "
                        "square)");
        TRY(get_int(c, k, node_at(c, it[0]), 1, 16384, &hw[0]));
        TRY(get_int(c, k, node_at(c, it[1]), 1, 16384, &hw[1]));
    } else {
        TRY(get_int(c, k, v, 1, 16384, &hw[0]));
        hw[1] = hw[0];
    }
    ds->resize_h = (int32_t)hw[0];
    ds->resize_w = (int32_t)hw[1];
    return PTQ_OK;
}

static ptq_status f_resize_mode(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_name(c, v, "mode", "a resize mode", resize_mode_from_name, "stretch, letterbox, none",
                    &((ptq_dataset_cfg *)obj)->resize);
}

static ptq_status f_resize_pad(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    double x = 0;
    TRY(get_number(c, v, &x));
    if (x < 0 || x > 255)
        return fail(c, v, PTQ_ERR_INVALID, "'pad_value' is a pixel value in [0, 255]");
    ((ptq_dataset_cfg *)obj)->pad_value = (float)x;
    return PTQ_OK;
}

static const field resize_fields[] = {
    {"size", f_resize_size}, {"mode", f_resize_mode}, {"pad_value", f_resize_pad}, {0}};

static ptq_status f_ds_resize(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_dataset_cfg *ds = obj;
    image_key(c, k, ds);
    c->resize_key[ds_index(c, ds)] = k;
    const yaml_node_t *seen[MAX_FIELDS] = {0};
    ds->resize = -1; /* mode not given yet */
    TRY(walk_mapping(c, v, resize_fields, ds, seen));
    if (ds->resize < 0) ds->resize = PTQ_RESIZE_STRETCH;
    if (ds->resize == PTQ_RESIZE_NONE && seen[0])
        return fail(c, seen[0], PTQ_ERR_INVALID, "'size' does nothing with 'mode: none'");
    if (ds->resize != PTQ_RESIZE_LETTERBOX && seen[2])
        return fail(c, seen[2], PTQ_ERR_INVALID, "'pad_value' applies to 'mode: letterbox' only");
    return PTQ_OK;
}

static ptq_status f_ds_channels(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    image_key(c, k, obj);
    return get_name(c, v, "channels", "a channel order", channels_from_name, "rgb, bgr, gray",
                    &((ptq_dataset_cfg *)obj)->channels);
}

static ptq_status f_ds_scale(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    image_key(c, k, obj);
    double x = 0;
    TRY(get_number(c, v, &x));
    if (!(x > 0) || !isfinite((float)x))
        return fail(c, v, PTQ_ERR_INVALID, "'scale' must be a positive number (pixel values are "
                    "multiplied by it; the default is 1/255)");
    ((ptq_dataset_cfg *)obj)->scale = (float)x;
    return PTQ_OK;
}

static int32_t on_bad_from_name(const char *s) {
    return !strcmp(s, "fail") ? 0 : !strcmp(s, "skip") ? 1 : -1;
}

static ptq_status f_ds_on_bad(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    image_key(c, k, obj);
    int32_t x = 0;
    TRY(get_name(c, v, "on_bad_image", "fail or skip", on_bad_from_name, "fail, skip", &x));
    ((ptq_dataset_cfg *)obj)->skip_bad = x == 1;
    return PTQ_OK;
}

static ptq_status f_ds_count(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_int(c, k, v, 0, INT64_MAX, &((ptq_dataset_cfg *)obj)->count);
}

static ptq_status f_ds_offset(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_int(c, k, v, 0, INT64_MAX, &((ptq_dataset_cfg *)obj)->offset);
}

static ptq_status f_ds_sample(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_bool(c, v, &((ptq_dataset_cfg *)obj)->sample);
}

static ptq_status f_ds_per_class(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_int(c, k, v, 1, INT32_MAX, &((ptq_dataset_cfg *)obj)->per_class);
}

static ptq_status f_ds_fidelity(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_bool(c, v, &((ptq_dataset_cfg *)obj)->fidelity);
}

static const field dataset_fields[] = {
    {"images", f_ds_images}, {"labels", f_ds_labels}, {"count", f_ds_count},
    {"offset", f_ds_offset}, {"sample", f_ds_sample}, {"normalize", f_ds_normalize},
    {"per_class", f_ds_per_class}, {"fidelity", f_ds_fidelity}, {"resize", f_ds_resize},
    {"channels", f_ds_channels}, {"scale", f_ds_scale}, {"on_bad_image", f_ds_on_bad}, {0}};
#define DS_FIDELITY 7 /* its index in dataset_fields */

static ptq_status parse_dataset(ctx *c, const yaml_node_t *key, const yaml_node_t *val,
                                ptq_dataset_cfg *ds, bool eval) {
    /* Calibration draws a random subset by default; evaluation uses the whole test set
     * in order, so accuracies are comparable between runs. */
    ds->present = true;
    ds->count = eval ? 0 : 1024;
    ds->offset = 0;
    ds->sample = !eval;
    ds->pos = node_pos(key);
    ds->pad_value = 114.0f; /* the YOLO family's grey border */
    const yaml_node_t *seen[MAX_FIELDS] = {0};
    TRY(walk_mapping(c, val, dataset_fields, ds, seen));
    if (!seen[0]) return missing_key(c, key, "images", sval(key));
    /* Evaluation without labels compares every output with the float model instead. */
    if (seen[DS_FIDELITY] && !eval)
        return fail(c, seen[DS_FIDELITY], PTQ_ERR_INVALID, "'fidelity' applies to the "
                    "evaluation section (the quantized model against the float one)");
    /* The data-scarce setting is defined per class: N labelled images of every class. */
    if (seen[6] && eval)
        return fail(c, seen[6], PTQ_ERR_INVALID, "'per_class' applies to calibration data; "
                    "evaluation uses its images in order");
    if (seen[6] && !seen[1])
        return fail(c, seen[6], PTQ_ERR_INVALID, "'per_class' selects images by their label, "
                    "and '%s' names no 'labels' file", sval(key));
    if (seen[6] && seen[2])
        return fail(c, seen[2], PTQ_ERR_INVALID, "give 'count' or 'per_class', not both "
                    "('per_class: N' takes N images of every class)");
    if (seen[6]) ds->count = 0;
    if (ds->labels_folders && !ptq_is_image_source(ds->images))
        return fail(c, seen[1], PTQ_ERR_INVALID, "'labels: folders' takes the labels from the "
                    "class subfolders of an image folder, and %s is not a folder of images",
                    ds->images);
    c->normalize_given[eval] = seen[5] != NULL;
    return PTQ_OK;
}

/* ===================================================================== quantization = */



/* A quantizer spec being filled: the defaults' or an override's (fields given). */
typedef struct qspec_obj {
    ptq_qspec *spec;
    uint32_t *fields;
    bool activations;
} qspec_obj;

static ptq_status f_q_bits(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    qspec_obj *q = obj;
    int64_t bits = 0;
    bool overflow = false;
    TRY(parse_int(c, v, &bits, &overflow));
    if (overflow || !((bits >= 2 && bits <= 8) || bits == 16 || bits == 32)) {
        char buf[72];
        return fail(c, v, PTQ_ERR_INVALID, "'bits' = %s is not supported: use 2 to 8, 16, or 32 "
                    "(keep float)", clip(sval(v), buf, sizeof buf));
    }
    q->spec->bits = (int32_t)bits;
    *q->fields |= PTQ_QF_BITS;
    return PTQ_OK;
}

static ptq_status f_q_granularity(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    qspec_obj *q = obj;
    const char *s = NULL;
    TRY(get_string(c, v, "'tensor' or 'channel'", &s));
    bool channel = !strcmp(s, "channel");
    if (!channel && strcmp(s, "tensor")) {
        char buf[72];
        return fail(c, v, PTQ_ERR_INVALID, "'granularity' = '%s' is not one of: tensor, channel",
                    clip(s, buf, sizeof buf));
    }
    /* An activation's channel count depends on the layout of every consumer; the
     * executor and the export only know per-tensor activation grids. */
    if (channel && q->activations)
        return fail(c, v, PTQ_ERR_UNSUPPORTED, "per-channel activation quantization is not "
                    "supported");
    q->spec->per_channel = channel;
    *q->fields |= PTQ_QF_GRANULARITY;
    return PTQ_OK;
}

static ptq_status f_q_symmetric(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    qspec_obj *q = obj;
    TRY(get_bool(c, v, &q->spec->symmetric));
    *q->fields |= PTQ_QF_SYMMETRIC;
    return PTQ_OK;
}

static ptq_status f_q_observer(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    qspec_obj *q = obj;
    const char *s = NULL;
    TRY(get_string(c, v, "an observer name", &s));
    int32_t o = ptq_observer_from_name(s);
    if (o < 0) {
        suggest sg;
        suggest_init(&sg, s);
        for (int32_t i = 0; i < PTQ_OBSERVER_COUNT; i++) suggest_add(&sg, ptq_observer_name(i));
        char buf[72], hint[128];
        return fail(c, v, PTQ_ERR_INVALID, "'observer' = '%s' is not one of: %s%s",
                    clip(s, buf, sizeof buf), sg.list, suggest_best(&sg) ?
                    suggest_hint(&sg, NULL, hint, sizeof hint) : "");
    }
    q->spec->observer = o;
    *q->fields |= PTQ_QF_OBSERVER;
    return PTQ_OK;
}

static ptq_status f_q_percentile(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    qspec_obj *q = obj;
    double x = 0;
    TRY(get_number(c, v, &x));
    if (!(x > 50 && x <= 100)) {
        char buf[72];
        return fail(c, v, PTQ_ERR_INVALID, "'percentile' = %s is out of range (50, 100]",
                    clip(sval(v), buf, sizeof buf));
    }
    q->spec->percentile = (float)x;
    *q->fields |= PTQ_QF_PERCENTILE;
    return PTQ_OK;
}

static ptq_status f_q_mse_p(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    qspec_obj *q = obj;
    double x = 0;
    TRY(get_number(c, v, &x));
    if (!(x >= 1 && x <= 8)) {
        char buf[72];
        return fail(c, v, PTQ_ERR_INVALID, "'p' = %s is out of range [1, 8] (the exponent of "
                    "the error the MSE search scores; BRECQ and QDrop use 2.4)",
                    clip(sval(v), buf, sizeof buf));
    }
    q->spec->mse_p = (float)x;
    *q->fields |= PTQ_QF_MSE_P;
    return PTQ_OK;
}

static ptq_status f_q_search(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    qspec_obj *q = obj;
    TRY(get_name(c, v, "search", "a search name", ptq_search_from_name,
                 "auto, shrink (BRECQ), mqbench (QDrop/MQBench)", &q->spec->search));
    *q->fields |= PTQ_QF_SEARCH;
    return PTQ_OK;
}

static ptq_status f_q_images(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    qspec_obj *q = obj;
    if (!q->activations)
        return fail(c, k, PTQ_ERR_INVALID, "'images' applies to activations only: weights are "
                    "observed in full, without data");
    int64_t n = 0;
    bool overflow = false;
    TRY(parse_int(c, v, &n, &overflow));
    if (overflow || n < 0) {
        char buf[72];
        return fail(c, v, PTQ_ERR_INVALID, "'images' = %s is out of range (0 = every "
                    "calibration image, else how many of the first)", clip(sval(v), buf, sizeof buf));
    }
    q->spec->images = n;
    *q->fields |= PTQ_QF_IMAGES;
    return PTQ_OK;
}

static const field qspec_fields[] = {
    {"bits", f_q_bits}, {"granularity", f_q_granularity}, {"symmetric", f_q_symmetric},
    {"observer", f_q_observer}, {"percentile", f_q_percentile}, {"p", f_q_mse_p},
    {"search", f_q_search}, {"images", f_q_images}, {0}};

/* A quantizer spec: the defaults (fields NULL: every field is known afterwards) or an
 * override (the fields given).  The MSE search's options need the mse observer; an
 * override that sets them without naming its observer is checked when it is applied to
 * a node (ptq_session_place_quantizers reports it). */
static ptq_status parse_qspec(ctx *c, const yaml_node_t *v, ptq_qspec *spec, uint32_t *fields,
                              bool activations) {
    uint32_t given = 0;
    qspec_obj q = {spec, &given, activations};
    TRY(walk_mapping(c, v, qspec_fields, &q, NULL));
    if (fields) *fields |= given;
    const bool observer_known = !fields || (given & PTQ_QF_OBSERVER);
    if ((given & (PTQ_QF_MSE_P | PTQ_QF_SEARCH)) && observer_known &&
        spec->observer != PTQ_OBSERVER_MSE)
        return fail(c, v, PTQ_ERR_INVALID, "'%s' sets the MSE search, but this quantizer's "
                    "observer is %s: add 'observer: mse'",
                    given & PTQ_QF_SEARCH ? "search" : "p", ptq_observer_name(spec->observer));
    return PTQ_OK;
}

static ptq_status f_quant_weights(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_pipeline *p = obj;
    p->quant.weights_pos = node_pos(v);
    TRY(parse_qspec(c, v, &p->quant.weights, NULL, false));
    p->quant.quantize_weights = p->quant.weights.bits != 32;
    return PTQ_OK;
}

static ptq_status f_quant_acts(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_pipeline *p = obj;
    TRY(parse_qspec(c, v, &p->quant.activations, NULL, true));
    p->quant.quantize_activations = p->quant.activations.bits != 32;
    return PTQ_OK;
}

static ptq_status f_quant_input(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ((ptq_pipeline *)obj)->quant.input_given = true;
    return get_bool(c, v, &((ptq_pipeline *)obj)->quant.quantize_input);
}

static ptq_status f_quant_placement(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_name(c, v, "placement", "a placement", ptq_placement_from_name,
                    "deploy (inputs of weighted layers and of residual adds: integer QDQ), paper "
                    "(outputs of units, as BRECQ/QDrop)", &((ptq_pipeline *)obj)->quant.placement);
}

static ptq_status f_quant_output(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_bool(c, v, &((ptq_pipeline *)obj)->quant.quantize_output);
}

static ptq_status f_quant_target(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_pipeline *p = obj;
    TRY(get_name(c, v, "target", "a deployment target", ptq_target_from_name,
                 "portable (exact on every CPU), vnni (exact with VNNI or on ARM), none (simulation "
                 "only)", &p->quant.target));
    p->quant.target_pos = node_pos(v);
    return PTQ_OK;
}

/* ---- overrides ---- */

static ptq_status add_node_name(ctx *c, ptq_override *ov, const yaml_node_t *v) {
    const char *s = NULL;
    TRY(get_string(c, v, "a node name", &s));
    if (!*s) return expected(c, v, "a node name");
    char *copy = ptq_strdup(s);
    if (!copy) return nomem(c);
    ov->nodes[ov->n_nodes++] = copy;
    return PTQ_OK;
}

static ptq_status f_ov_nodes(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_override *ov = obj;
    if (v->type == YAML_SCALAR_NODE) { /* one name needs no brackets */
        ov->nodes = calloc(1, sizeof *ov->nodes);
        return ov->nodes ? add_node_name(c, ov, v) : nomem(c);
    }
    if (v->type != YAML_SEQUENCE_NODE) return expected(c, v, "a list of node names");
    yaml_node_item_t *it = v->data.sequence.items.start, *end = v->data.sequence.items.top;
    if (it == end) return fail(c, v, PTQ_ERR_INVALID, "'nodes' is empty: name at least one node");
    ov->nodes = ptq_calloc_array((size_t)(end - it), sizeof *ov->nodes);
    if (!ov->nodes) return nomem(c);
    for (; it < end; it++) TRY(add_node_name(c, ov, node_at(c, *it)));
    return PTQ_OK;
}

static ptq_status f_ov_weights(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_override *ov = obj;
    return parse_qspec(c, v, &ov->w, &ov->w_fields, false);
}

static ptq_status f_ov_acts(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_override *ov = obj;
    return parse_qspec(c, v, &ov->a, &ov->a_fields, true);
}

static ptq_status f_ov_float(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_bool(c, v, &((ptq_override *)obj)->keep_float);
}

static const field override_fields[] = {{"nodes", f_ov_nodes}, {"weights", f_ov_weights},
                                        {"activations", f_ov_acts}, {"float", f_ov_float}, {0}};

static ptq_status parse_override(ctx *c, const yaml_node_t *item, ptq_override *ov) {
    ov->pos = node_pos(item);
    const yaml_node_t *seen[MAX_FIELDS] = {0};
    TRY(walk_mapping(c, item, override_fields, ov, seen));
    if (!seen[0]) return missing_key(c, item, "nodes", "overrides");
    /* An override that changes nothing is almost certainly a mistake in indentation. */
    if (!ov->w_fields && !ov->a_fields && !seen[3])
        return fail(c, item, PTQ_ERR_INVALID, "this override changes nothing: give 'weights', "
                    "'activations' or 'float'");
    return PTQ_OK;
}

static ptq_status f_quant_overrides(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_pipeline *p = obj;
    if (is_null(v)) return PTQ_OK;
    if (v->type != YAML_SEQUENCE_NODE) return expected(c, v, "a list of overrides");
    yaml_node_item_t *it = v->data.sequence.items.start, *end = v->data.sequence.items.top;
    p->quant.overrides = ptq_calloc_array((size_t)(end - it), sizeof *p->quant.overrides);
    if (!p->quant.overrides) return nomem(c);
    ptq_status first = PTQ_OK;
    for (; it < end; it++) {
        ptq_override *ov = &p->quant.overrides[p->quant.n_overrides++];
        ptq_status st = parse_override(c, node_at(c, *it), ov);
        KEEP_GOING(st, first);
    }
    return first;
}

static const field quant_fields[] = {
    {"weights", f_quant_weights}, {"activations", f_quant_acts}, {"input", f_quant_input},
    {"output", f_quant_output},   {"overrides", f_quant_overrides}, {"target", f_quant_target},
    {"placement", f_quant_placement},
    {0}};

/* ===================================================================== pass params == */

static void free_pass_cfg(ptq_pass_cfg *pc) {
    free(pc->params);
    for (int32_t i = 0; i < pc->n_strings; i++) free(pc->strings[i]);
    free(pc->strings);
    memset(pc, 0, sizeof *pc);
}

static size_t param_size(ptq_param_type t) {
    switch (t) {
    case PTQ_PARAM_BOOL:
    case PTQ_PARAM_ENUM: return sizeof(int32_t);
    case PTQ_PARAM_INT: return sizeof(int64_t);
    case PTQ_PARAM_FLOAT: return sizeof(double);
    case PTQ_PARAM_STRING: return sizeof(const char *);
    default: return 0;
    }
}

static int32_t n_choices(const ptq_param_def *d) {
    int32_t n = 0;
    while (d->choices && d->choices[n]) n++;
    return n;
}

/* Stores a string parameter: an owned copy, its pointer written into the params. */
static ptq_status set_string_param(ctx *c, ptq_pass_cfg *pc, const ptq_param_def *d,
                                   const char *s) {
    char **a = realloc(pc->strings, ((size_t)pc->n_strings + 1) * sizeof *a);
    if (!a) return nomem(c);
    pc->strings = a;
    char *copy = ptq_strdup(s);
    if (!copy) return nomem(c);
    a[pc->n_strings++] = copy;
    const char *ptr = copy;
    memcpy((char *)pc->params + d->offset, &ptr, sizeof ptr);
    return PTQ_OK;
}

/* Writes a parameter's default (memcpy: the plugin's struct may place fields anywhere). */
static ptq_status set_default_param(ctx *c, ptq_pass_cfg *pc, const ptq_param_def *d) {
    char *dst = (char *)pc->params + d->offset;
    if (d->type == PTQ_PARAM_BOOL || d->type == PTQ_PARAM_ENUM) {
        int32_t x = d->type == PTQ_PARAM_BOOL ? d->def != 0 : (int32_t)d->def;
        memcpy(dst, &x, sizeof x);
    } else if (d->type == PTQ_PARAM_INT) {
        int64_t x = (int64_t)d->def;
        memcpy(dst, &x, sizeof x);
    } else if (d->type == PTQ_PARAM_FLOAT) {
        memcpy(dst, &d->def, sizeof d->def);
    } else {
        return set_string_param(c, pc, d, d->def_string ? d->def_string : "");
    }
    return PTQ_OK;
}

/* A range bound as a reader expects it: INT bounds as integers. */
static const char *fmt_bound(double x, bool integer, char *buf, size_t size) {
    if (integer && fabs(x) < 9e18)
        snprintf(buf, size, "%" PRId64, (int64_t)x);
    else
        snprintf(buf, size, "%g", x);
    return buf;
}

static ptq_status out_of_range(ctx *c, const yaml_node_t *v, const ptq_param_def *d) {
    char a[40], b[40], buf[72];
    bool integer = d->type == PTQ_PARAM_INT;
    return fail(c, v, PTQ_ERR_INVALID, "'%s' = %s is out of range [%s, %s]", d->name,
                clip(sval(v), buf, sizeof buf), fmt_bound(d->min, integer, a, sizeof a),
                fmt_bound(d->max, integer, b, sizeof b));
}

static ptq_status bad_choice(ctx *c, const yaml_node_t *v, const ptq_param_def *d, const char *s) {
    suggest sg;
    suggest_init(&sg, s);
    for (int32_t i = 0; d->choices[i]; i++) suggest_add(&sg, d->choices[i]);
    char buf[72], hint[128];
    return fail(c, v, PTQ_ERR_INVALID, "'%s' = '%s' is not one of: %s%s", d->name,
                clip(s, buf, sizeof buf), sg.list,
                suggest_best(&sg) ? suggest_hint(&sg, NULL, hint, sizeof hint) : "");
}

/* Parses one parameter value by its declared type and writes it at its offset. */
static ptq_status set_param(ctx *c, ptq_pass_cfg *pc, const ptq_param_def *d,
                            const yaml_node_t *v) {
    char *dst = (char *)pc->params + d->offset;
    if (d->type == PTQ_PARAM_BOOL) {
        bool b = false;
        TRY(get_bool(c, v, &b));
        int32_t x = b;
        memcpy(dst, &x, sizeof x);
    } else if (d->type == PTQ_PARAM_INT) {
        int64_t x = 0;
        bool overflow = false;
        TRY(parse_int(c, v, &x, &overflow));
        if (overflow || (double)x < d->min || (double)x > d->max) return out_of_range(c, v, d);
        memcpy(dst, &x, sizeof x);
    } else if (d->type == PTQ_PARAM_FLOAT) {
        double x = 0;
        TRY(get_number(c, v, &x));
        if (x < d->min || x > d->max) return out_of_range(c, v, d);
        memcpy(dst, &x, sizeof x);
    } else if (d->type == PTQ_PARAM_ENUM) {
        const char *s = NULL;
        TRY(get_string(c, v, "one of the parameter's choices", &s));
        int32_t i = 0;
        while (d->choices[i] && strcmp(d->choices[i], s)) i++;
        if (!d->choices[i]) return bad_choice(c, v, d, s);
        memcpy(dst, &i, sizeof i);
    } else {
        const char *s = NULL;
        if (v->type != YAML_SCALAR_NODE || !clean_scalar(v)) return expected(c, v, "a string");
        s = sval(v);
        return set_string_param(c, pc, d, s);
    }
    return PTQ_OK;
}

/* The table's entries must fit the struct they are written into: a malformed plugin
 * must not make the host write out of bounds. */
static ptq_status check_param_table(ctx *c, const yaml_node_t *key, const ptq_pass_def *def) {
    for (const ptq_param_def *d = def->params; d && d->name; d++) {
        size_t sz = param_size(d->type);
        bool ok = sz && d->offset + sz <= def->params_size &&
                  (d->type != PTQ_PARAM_ENUM || n_choices(d) > 0);
        if (!ok)
            return fail(c, key, PTQ_ERR_INTERNAL, "pass '%s': parameter '%s' is malformed in the "
                        "plugin's table", def->name, d->name);
    }
    return PTQ_OK;
}

static ptq_status unknown_param(ctx *c, const yaml_node_t *key, const char *name,
                                const ptq_pass_def *def) {
    suggest s;
    suggest_init(&s, name);
    for (const ptq_param_def *d = def->params; d && d->name; d++) suggest_add(&s, d->name);
    char v[72], hint[720];
    if (!s.len)
        return fail(c, key, PTQ_ERR_INVALID, "unknown parameter '%s': pass '%s' takes no "
                    "parameters", clip(name, v, sizeof v), def->name);
    return fail(c, key, PTQ_ERR_INVALID, "unknown parameter '%s' of pass '%s'%s",
                clip(name, v, sizeof v), def->name,
                suggest_hint(&s, "parameters", hint, sizeof hint));
}

/* Fills pc->params from a mapping (null, or v NULL: every default), checking every value. */
static ptq_status parse_params(ctx *c, const yaml_node_t *pass_key, const yaml_node_t *v,
                               ptq_pass_cfg *pc) {
    const ptq_pass_def *def = pc->def;
    TRY(check_param_table(c, pass_key, def));
    pc->params = calloc(1, def->params_size ? def->params_size : 1);
    if (!pc->params) return nomem(c);
    int32_t n = 0;
    while (def->params && def->params[n].name) n++;
    const yaml_node_t **seen = ptq_calloc_array((size_t)n, sizeof *seen);
    if (!seen) return nomem(c);
    ptq_status st = PTQ_OK, first = PTQ_OK;
    bool map = v && v->type == YAML_MAPPING_NODE;
    if (v && !map && !is_null(v)) first = expected(c, v, "a mapping of parameters ({} for none)");
    for (yaml_node_pair_t *pr = map ? v->data.mapping.pairs.start : NULL;
         first != PTQ_ERR_NOMEM && pr && pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *key = node_at(c, pr->key), *val = node_at(c, pr->value);
        const char *name = NULL;
        if (!(st = key_name(c, key, &name))) {
            int32_t i = 0;
            while (i < n && strcmp(def->params[i].name, name)) i++;
            if (i == n)
                st = unknown_param(c, key, name, def);
            else if (seen[i])
                st = duplicate_key(c, key, name, seen[i]);
            else
                seen[i] = key, st = set_param(c, pc, &def->params[i], val);
        }
        if (st && !first) first = st;
    }
    for (int32_t i = 0; first != PTQ_ERR_NOMEM && i < n; i++) {
        const ptq_param_def *d = &def->params[i];
        if (seen[i]) continue;
        if (d->flags & PTQ_PARAM_REQUIRED)
            st = fail(c, pass_key, PTQ_ERR_INVALID, "pass '%s' needs parameter '%s' (it has no "
                      "default)", def->name, d->name);
        else
            st = set_default_param(c, pc, d);
        if (st && !first) first = st;
    }
    free(seen);
    return first;
}

/* ===================================================================== passes ======= */

/* "unknown pass" with everything that helps: the closest name, which directories were
 * searched, and why a plugin of that name was refused if one was. */
static ptq_status no_such_plugin(ctx *c, const yaml_node_t *key, const char *name,
                                 const char *plugin) {
    const ptq_registry *r = c->reg;
    bool dotted = strchr(name, '.') != NULL;
    suggest s;
    suggest_init(&s, name);
    for (int32_t i = 0; i < r->n_passes; i++) {
        const char *pn = r->passes[i]->name, *dot = strchr(pn, '.');
        size_t d = edit_distance(name, pn);
        /* "calibrate" means "core.calibrate": compare with the part after the dot too. */
        if (!dotted && dot && edit_distance(name, dot + 1) < d) d = edit_distance(name, dot + 1);
        suggest_add_dist(&s, pn, d);
    }
    char where[512] = "", refused[600] = "", hint[720], v[72], pv[72];
    size_t len = 0;
    for (int32_t i = 0; i < r->n_searched && len < sizeof where; i++)
        len += (size_t)snprintf(where + len, sizeof where - len, "%s%s", i ? ", " : "",
                                r->searched[i]);
    for (int32_t i = 0; i < r->n_rejected; i++)
        if (*plugin && strstr(r->rejected[i], plugin)) {
            snprintf(refused, sizeof refused, "; a plugin file was refused: %s", r->rejected[i]);
            break;
        }
    suggest_hint(&s, NULL, hint, sizeof hint);
    if (!dotted)
        return fail(c, key, PTQ_ERR_INVALID, "unknown pass '%s': pass names have the form "
                    "'plugin.pass'%s", clip(name, v, sizeof v), hint);
    return fail(c, key, PTQ_ERR_INVALID, "unknown pass '%s': no plugin '%s' is loaded%s%s%s%s",
                clip(name, v, sizeof v), clip(plugin, pv, sizeof pv), hint,
                r->n_searched ? "; plugin directories searched: "
                              : " (no plugin directories found)",
                where, refused);
}

static ptq_status unknown_pass(ctx *c, const yaml_node_t *key, const char *name) {
    const char *dot = strchr(name, '.');
    size_t plen = dot ? (size_t)(dot - name) : strlen(name);
    char plugin[128];
    snprintf(plugin, sizeof plugin, "%.*s", (int)(plen < 127 ? plen : 127), name);
    if (!dot || !ptq_registry_find_plugin(c->reg, plugin))
        return no_such_plugin(c, key, name, plugin);
    suggest s;
    suggest_init(&s, name);
    for (int32_t i = 0; i < c->reg->n_passes; i++) {
        const char *pn = c->reg->passes[i]->name;
        if (!strncmp(pn, plugin, plen) && pn[plen] == '.') suggest_add(&s, pn);
    }
    char v[72], hint[720];
    return fail(c, key, PTQ_ERR_INVALID, "plugin '%s' has no pass '%s'%s", plugin,
                clip(dot + 1, v, sizeof v), suggest_hint(&s, "its passes", hint, sizeof hint));
}

/* One list item: `- plugin.pass: {params}`. */
static ptq_status parse_pass_item(ctx *c, const yaml_node_t *item, ptq_pass_cfg *pc) {
    if (item->type != YAML_MAPPING_NODE) {
        char buf[128];
        if (item->type == YAML_SCALAR_NODE && !is_null(item))
            return fail(c, item, PTQ_ERR_INVALID, "expected '- plugin.pass: {params}', got %s "
                        "(write '- %s: {}' for the defaults)", describe(item, buf, sizeof buf),
                        sval(item));
        return expected(c, item, "'- plugin.pass: {params}'");
    }
    yaml_node_pair_t *pr = item->data.mapping.pairs.start;
    if (pr == item->data.mapping.pairs.top)
        return fail(c, item, PTQ_ERR_INVALID, "expected '- plugin.pass: {params}', got an empty "
                    "mapping");
    if (pr + 1 < item->data.mapping.pairs.top) {
        const yaml_node_t *second = node_at(c, pr[1].key);
        return fail(c, second, PTQ_ERR_INVALID, "one pass per list item: start a new item "
                    "'- ...' for this one (or indent it under the pass as a parameter)");
    }
    const yaml_node_t *key = node_at(c, pr->key), *val = node_at(c, pr->value);
    const char *name = NULL;
    TRY(key_name(c, key, &name));
    pc->def = ptq_registry_find_pass(c->reg, name);
    if (!pc->def) return unknown_pass(c, key, name);
    pc->pos = node_pos(key);
    return parse_params(c, key, val, pc);
}

static ptq_status f_passes(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    if (is_null(v)) return PTQ_OK;
    if (v->type != YAML_SEQUENCE_NODE) return expected(c, v, "a list of passes");
    yaml_node_item_t *it = v->data.sequence.items.start, *end = v->data.sequence.items.top;
    c->listed = ptq_calloc_array((size_t)(end - it), sizeof *c->listed);
    if (!c->listed) return nomem(c);
    ptq_status first = PTQ_OK;
    for (; it < end; it++) {
        ptq_status st = parse_pass_item(c, node_at(c, *it), &c->listed[c->n_listed++]);
        KEEP_GOING(st, first);
    }
    return first;
}

/* ===================================================================== top level ==== */

static ptq_status f_model(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    c->model_key = k;
    return get_path(c, v, &((ptq_pipeline *)obj)->model);
}

static ptq_status f_calibration(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return parse_dataset(c, k, v, &((ptq_pipeline *)obj)->calibration, false);
}

static ptq_status f_evaluation(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return parse_dataset(c, k, v, &((ptq_pipeline *)obj)->evaluation, true);
}

static ptq_status f_quantization(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    c->quant_key = k;
    ptq_pipeline *p = obj;
    TRY(walk_mapping(c, v, quant_fields, obj, NULL));
    /* The papers' placement leaves the network input in float unless asked. */
    if (p->quant.placement == PTQ_PLACEMENT_PAPER && !p->quant.input_given) p->quant.quantize_input = false;
    return PTQ_OK;
}

static ptq_status f_out_dir(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_pipeline *p = obj;
    const char *s = NULL;
    TRY(get_string(c, v, "a directory", &s));
    if (!*s) return expected(c, v, "a directory");
    /* Relative to where ptq runs, like any output path on a command line. */
    free(p->out_dir);
    p->out_dir = ptq_strdup(s);
    return p->out_dir ? PTQ_OK : nomem(c);
}

static ptq_status f_out_onnx(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_bool(c, v, &((ptq_pipeline *)obj)->export_onnx);
}

static ptq_status f_out_name(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_pipeline *p = obj;
    const char *s = NULL;
    TRY(get_string(c, v, "a file name", &s));
    if (!*s || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..")) {
        char buf[72];
        return fail(c, v, PTQ_ERR_INVALID, "'name' = '%s' must be a plain file name (it is "
                    "written inside 'dir')", clip(s, buf, sizeof buf));
    }
    free(p->onnx_name);
    p->onnx_name = ptq_strdup(s);
    return p->onnx_name ? PTQ_OK : nomem(c);
}

static const field output_fields[] = {
    {"dir", f_out_dir}, {"onnx", f_out_onnx}, {"name", f_out_name}, {0}};

static ptq_status f_output(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return walk_mapping(c, v, output_fields, obj, NULL);
}

static ptq_status f_seed(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    int64_t x = 0;
    TRY(get_int(c, k, v, 0, INT64_MAX, &x));
    ((ptq_pipeline *)obj)->seed = (uint64_t)x;
    return PTQ_OK;
}

static ptq_status f_batch(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    return get_int(c, k, v, 1, 65536, &((ptq_pipeline *)obj)->batch);
}

static ptq_status f_threads(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    int64_t x = 0;
    TRY(get_int(c, k, v, 0, 1024, &x));
    ((ptq_pipeline *)obj)->threads = (int32_t)x;
    return PTQ_OK;
}

/* `input_shape: [3, 640, 640]` (C, H, W) or with the batch first: fixes a model's
 * symbolic dims; checked against the model in fill_defaults. */
static ptq_status f_input_shape(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    ptq_pipeline *p = obj;
    c->input_shape_key = k;
    if (v->type != YAML_SEQUENCE_NODE) return expected(c, v, "a list [C, H, W] or [N, C, H, W]");
    yaml_node_item_t *it = v->data.sequence.items.start;
    const int32_t n = (int32_t)(v->data.sequence.items.top - it);
    if (n < 1 || n > PTQ_MAX_DIMS)
        return fail(c, v, PTQ_ERR_INVALID, "'input_shape' takes 1 to %d dims ([C, H, W] for "
                    "images)", PTQ_MAX_DIMS);
    for (int32_t i = 0; i < n; i++) TRY(get_int(c, k, node_at(c, it[i]), 1, 1 << 20, &p->input_shape[i]));
    p->input_ndim = n;
    return PTQ_OK;
}

static ptq_status add_note(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A file with variants is an A/B (ptq ab checks and expands them, variants.c); read as
 * one pipeline, it is its base pipeline, and the reader is told. */
static ptq_status f_variants(ctx *c, const yaml_node_t *k, const yaml_node_t *v, void *obj) {
    (void)k, (void)v, (void)obj;
    return add_note(c, "%s: its 'variants' are run by `ptq ab %s`; this runs the base pipeline",
                    c->file, c->file);
}

static const field top_fields[] = {
    {"model", f_model},   {"calibration", f_calibration}, {"evaluation", f_evaluation},
    {"quantization", f_quantization}, {"passes", f_passes}, {"output", f_output},
    {"seed", f_seed},     {"batch", f_batch},             {"threads", f_threads},
    {"variants", f_variants}, {"input_shape", f_input_shape}, {0}};

/* ===================================================================== defaults ===== */

static void set_defaults(ptq_pipeline *p) {
    p->quant.weights = (ptq_qspec){.bits = 8, .symmetric = true, .per_channel = true,
                                   .observer = PTQ_OBSERVER_MINMAX, .percentile = 99.99f};
    p->quant.activations = (ptq_qspec){.bits = 8, .observer = PTQ_OBSERVER_MINMAX,
                                       .percentile = 99.99f};
    p->quant.quantize_weights = p->quant.quantize_activations = true;
    p->quant.quantize_input = true;
    p->quant.quantize_output = false;
    p->export_onnx = true;
    p->seed = 0;
    p->batch = 256;
    p->threads = 0;
}

/* The bundled models carry their training normalization in MODEL.json; without it images
 * are used as they are (mean 0, std 1). */
static void sidecar_normalization(const ptq_pipeline *p, ptq_dataset_cfg *out) {
    ptq_preprocess pp = {0};
    if (!ptq_sidecar_normalization(p->model, &pp, NULL, 0)) return;
    out->norm_from = PTQ_NORM_SIDECAR;
    out->n_mean = pp.n_mean;
    out->n_std = pp.n_std;
    memcpy(out->mean, pp.mean, sizeof out->mean);
    memcpy(out->std, pp.std, sizeof out->std);
}

static void apply_normalization(const ptq_dataset_cfg *from, ptq_dataset_cfg *to) {
    to->norm_from = from->norm_from;
    to->n_mean = from->n_mean;
    to->n_std = from->n_std;
    memcpy(to->mean, from->mean, sizeof to->mean);
    memcpy(to->std, from->std, sizeof to->std);
}

void ptq_pipeline_session_config(const ptq_pipeline *p, ptq_session_config *cfg) {
    *cfg = (ptq_session_config){.path = p->path, .model = p->model,
                                .calibration = &p->calibration, .evaluation = &p->evaluation,
                                .quant = &p->quant, .seed = p->seed, .batch = p->batch,
                                .threads = p->threads, .input_ndim = p->input_ndim,
                                .input_shape = p->input_shape};
}

/* "runs/<file name without extension>". */
static char *default_out_dir(const char *path) {
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    const char *dot = strrchr(name, '.');
    size_t n = dot && dot > name ? (size_t)(dot - name) : strlen(name);
    char *dir = malloc(n + 6);
    if (dir) snprintf(dir, n + 6, "runs/%.*s", (int)n, name);
    return dir;
}

/* A weight grid the target cannot run exactly: asymmetric per-channel weights wider than
 * the zero-point-free form allows (onnxruntime's QLinearConv takes one weight zero point
 * for all channels).  Only nodes with integer activations (8 bits or fewer) run integer
 * kernels; with float or 16-bit activations the weights are dequantized and any grid is
 * exact.  Returns true (and reports, at the line that makes the grid) when it is bad. */
static bool bad_weight_grid(ctx *c, const ptq_qspec *w, int32_t act_bits, ptq_src_pos pos,
                            const char *where) {
    const ptq_pipeline *p = c->p;
    const int32_t max_bits = ptq_target_max_asym_channel_bits(p->quant.target);
    if (w->bits > 16 || act_bits > 8 || w->symmetric || !w->per_channel || w->bits <= max_bits)
        return false;
    fail_pos(c, pos, PTQ_ERR_UNSUPPORTED,
             "%s: asymmetric per-channel %d-bit weights do not run exactly on target '%s': "
             "onnxruntime's integer Conv takes one weight zero point for all channels, and "
             "written without zero points these codes need %d bits, more than the %d the "
             "target allows; use symmetric: true, granularity: tensor, at most %d bits, or "
             "target: none (simulation only)",
             where, w->bits, ptq_target_name(p->quant.target), w->bits + 1, max_bits + 1, max_bits);
    return true;
}

static ptq_status check_target(ctx *c) {
    const ptq_pipeline *p = c->p;
    const int32_t w_bits = p->quant.quantize_weights ? p->quant.weights.bits : 32;
    const int32_t a_bits = p->quant.quantize_activations ? p->quant.activations.bits : 32;
    ptq_qspec dw = p->quant.weights;
    dw.bits = w_bits;
    const bool default_bad = bad_weight_grid(c, &dw, a_bits, p->quant.weights_pos, "quantization.weights");
    bool any_bad = default_bad;
    for (int32_t i = 0; i < p->quant.n_overrides; i++) {
        const ptq_override *o = &p->quant.overrides[i];
        if (o->keep_float || (!o->w_fields && !o->a_fields)) continue;
        ptq_qspec w = dw;
        int32_t ab = a_bits;
        if (o->w_fields & PTQ_QF_BITS) w.bits = o->w.bits;
        if (o->w_fields & PTQ_QF_SYMMETRIC) w.symmetric = o->w.symmetric;
        if (o->w_fields & PTQ_QF_GRANULARITY) w.per_channel = o->w.per_channel;
        if (o->a_fields & PTQ_QF_BITS) ab = o->a.bits;
        const bool same_as_default = w.bits == dw.bits && w.symmetric == dw.symmetric &&
                                     w.per_channel == dw.per_channel && ab == a_bits;
        if (same_as_default && default_bad) continue; /* reported once, above */
        any_bad |= bad_weight_grid(c, &w, ab, o->pos, "this override");
    }
    return any_bad ? PTQ_ERR_UNSUPPORTED : PTQ_OK;
}

/* The model's input against `input_shape:`, and the image-folder defaults that depend on
 * the model: images are resized (stretched) to its static height and width when no
 * `resize:` is given, decoded to grey for a 1-channel input.  A model that cannot be read
 * is left for the session to report. */
static ptq_status image_defaults(ctx *c) {
    ptq_pipeline *p = c->p;
    ptq_input_info info = {0};
    ptq_error ignored = {0};
    if (ptq_onnx_input_info(p->model, &info, &ignored)) info.ndim = 0;
    int64_t shape[PTQ_MAX_DIMS]; /* the model's input with input_shape applied, -1 unknown */
    const int32_t nd = info.ndim ? info.ndim : p->input_ndim;
    for (int32_t d = 0; d < nd; d++) shape[d] = info.ndim ? info.ne[d] : -1;
    if (p->input_ndim && info.ndim) {
        if (p->input_ndim != nd && p->input_ndim != nd - 1)
            return fail(c, c->input_shape_key, PTQ_ERR_INVALID, "'input_shape' has %d dims but "
                        "input '%s' of %s has rank %d (give %d, or %d without the batch)",
                        p->input_ndim, info.name, p->model, nd, nd, nd - 1);
        const int32_t skip = nd - p->input_ndim;
        for (int32_t d = skip; d < nd; d++) {
            const int64_t want = p->input_shape[d - skip];
            if (info.ne[d] > 0 && want != info.ne[d] && !(d == 0 && skip == 0))
                return fail(c, c->input_shape_key, PTQ_ERR_INVALID, "'input_shape' makes axis %d "
                            "of input '%s' %" PRId64 " but the model fixes it at %" PRId64, d,
                            info.name, want, info.ne[d]);
            if (d > 0) shape[d] = want;
        }
    } else if (p->input_ndim) {
        for (int32_t d = 0; d < p->input_ndim; d++) shape[d] = p->input_shape[d];
    }
    const bool nchw = nd >= 3;
    const int64_t mh = nchw ? shape[nd - 2] : -1, mw = nchw ? shape[nd - 1] : -1;
    const int64_t mc = nd == 4 || (!info.ndim && nd == 3) ? shape[nd - 3] : -1;
    ptq_dataset_cfg *sets[2] = {&p->calibration, &p->evaluation};
    static const char *const names[2] = {"calibration", "evaluation"};
    for (int32_t i = 0; i < 2; i++) {
        ptq_dataset_cfg *ds = sets[i];
        if (!ds->present || !ds->images) continue;
        if (!ptq_is_image_source(ds->images)) {
            if (c->image_key[i] && access(ds->images, F_OK) == 0)
                return fail(c, c->image_key[i], PTQ_ERR_INVALID, "'%s' applies to image folders "
                            "and files (PNG, JPEG); %s is an array file",
                            sval(c->image_key[i]), ds->images);
            continue;
        }
        if (!ds->channels) ds->channels = mc == 1 ? PTQ_CHANNELS_GRAY : PTQ_CHANNELS_RGB;
        const bool sized = mh > 0 && mw > 0;
        if (!c->resize_key[i] && sized) {
            ds->resize = PTQ_RESIZE_STRETCH;
            ds->resize_h = (int32_t)mh, ds->resize_w = (int32_t)mw;
            ds->resize_default = true;
            TRY(add_note(c, "%s: images are resized (stretched) to %" PRId64 "x%" PRId64 ", the "
                         "model's input size; set 'resize' to choose how", names[i], mh, mw));
        } else if (c->resize_key[i] && ds->resize != PTQ_RESIZE_NONE && !ds->resize_h) {
            if (!sized)
                return fail(c, c->resize_key[i], PTQ_ERR_INVALID, "'resize' needs 'size': the "
                            "model's input height and width are not fixed (nor set by "
                            "'input_shape')");
            ds->resize_h = (int32_t)mh, ds->resize_w = (int32_t)mw;
        }
    }
    return PTQ_OK;
}

static ptq_status fill_defaults(ctx *c) {
    ptq_pipeline *p = c->p;
    ptq_dataset_cfg side = {0};
    if ((p->calibration.present && !c->normalize_given[0]) ||
        (p->evaluation.present && !c->normalize_given[1]))
        sidecar_normalization(p, &side);
    if (c->normalize_given[0]) p->calibration.norm_from = PTQ_NORM_FILE;
    if (c->normalize_given[1]) p->evaluation.norm_from = PTQ_NORM_FILE;
    if (p->calibration.present && !c->normalize_given[0])
        apply_normalization(&side, &p->calibration);
    if (p->evaluation.present && !c->normalize_given[1])
        apply_normalization(&side, &p->evaluation);
    TRY(image_defaults(c));
    if (!p->out_dir && !(p->out_dir = default_out_dir(c->file))) return nomem(c);
    if (!p->onnx_name && !(p->onnx_name = ptq_strdup("model.qdq.onnx"))) return nomem(c);
    return PTQ_OK;
}

/* ===================================================================== plan ========= */

/* The artifacts available at a point of the pass list, each with the plan index of the
 * pass that last wrote it (-1: the host, e.g. calib.data).  Names are borrowed from the
 * pass tables. */
typedef struct artifact_entry {
    const char *name;
    int32_t producer;
} artifact_entry;

typedef struct artifacts {
    artifact_entry *v;
    int32_t n, cap;
} artifacts;

static bool list_has(const char *const *list, const char *name) {
    for (int32_t i = 0; list && list[i]; i++)
        if (!strcmp(list[i], name)) return true;
    return false;
}

static int32_t art_find(const artifacts *a, const char *name) {
    for (int32_t i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].name, name)) return i;
    return -1;
}

static bool art_has(const artifacts *a, const char *name) { return art_find(a, name) >= 0; }

/* Records that `producer` wrote name (the latest writer wins). */
static int art_add(artifacts *a, const char *name, int32_t producer) {
    const int32_t i = art_find(a, name);
    if (i >= 0) {
        a->v[i].producer = producer;
        return 0;
    }
    if (ptq_grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v)) return -1;
    a->v[a->n++] = (artifact_entry){name, producer};
    return 0;
}

static void art_drop(artifacts *a, int32_t i) {
    memmove(&a->v[i], &a->v[i + 1], (size_t)(a->n - i - 1) * sizeof *a->v);
    a->n--;
}

/* The artifacts core.calibrate itself writes: a pass reading one that is missing gets an
 * implicit calibration before it. */
static bool calibrate_makes(const char *name) {
    return !strcmp(name, "quant.weights") || !strcmp(name, "quant.activations");
}

/* Whether pass d reads (required or optional) something core.calibrate makes that is
 * not available. */
static bool needs_calibration(const ptq_pass_def *d, const artifacts *made) {
    const char *const *lists[2] = {d->reads, d->reads_optional};
    for (int k = 0; k < 2; k++)
        for (int32_t i = 0; lists[k] && lists[k][i]; i++)
            if (calibrate_makes(lists[k][i]) && !art_has(made, lists[k][i])) return true;
    return false;
}

/* A BOOL parameter of a configured pass, by name (false if it has none). */
static bool param_flag(const ptq_pass_cfg *pc, const char *name);

/* What pc makes stale (sdk: "Invalidation"), at most `cap` names.  core.calibrate's own
 * list depends on its parameters: recomputing weight ranges invalidates searched weight
 * scales and rounding learned on the old grid, recomputing activation ranges the
 * searched or learned activation steps. */
static int32_t invalidated_by(const ptq_registry *reg, const ptq_pass_cfg *pc, const char **out,
                              int32_t cap) {
    int32_t n = 0;
    if (pc->def == ptq_registry_find_pass(reg, "core.calibrate")) {
        if (param_flag(pc, "weights")) out[n++] = "quant.weights.tuned", out[n++] = "quant.rounding";
        if (param_flag(pc, "activations"))
            out[n++] = "quant.activations.tuned", out[n++] = "quant.activations.rounding";
        return n;
    }
    if (!PTQ_PASS_HAS(pc->def, invalidates)) return 0;
    for (int32_t i = 0; pc->def->invalidates && pc->def->invalidates[i] && n < cap; i++)
        out[n++] = pc->def->invalidates[i];
    return n;
}

/* What an artifact holds, for the messages. */
static const char *artifact_meaning(const char *name) {
    static const char *const known[][2] = {
        {"quant.weights", "the weight ranges"},
        {"quant.activations", "the activation ranges"},
        {"quant.weights.tuned", "the searched or learned weight scales"},
        {"quant.activations.tuned", "the searched or learned activation scales"},
        {"quant.rounding", "the learned weight rounding"},
        {"quant.activations.rounding", "the learned activation rounding borders"},
        {"graph.bias_corrected", "the bias correction"},
    };
    for (size_t i = 0; i < PTQ_COUNTOF(known); i++)
        if (!strcmp(known[i][0], name)) return known[i][1];
    return "the result";
}

/* The passes of the registry that write `name` (other than `self`), for the message. */
static void producers(const ptq_registry *r, const char *name, const ptq_pass_def *self,
                      char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < r->n_passes && len < size; i++)
        if (r->passes[i] != self && list_has(r->passes[i]->writes, name))
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
                                    r->passes[i]->name);
}

static ptq_status add_note(ctx *c, const char *fmt, ...) {
    ptq_pipeline *p = c->p;
    char buf[PTQ_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **n = realloc(p->notes, ((size_t)p->n_notes + 1) * sizeof *n);
    if (!n) return nomem(c);
    p->notes = n;
    if (!(p->notes[p->n_notes] = ptq_strdup(buf))) return nomem(c);
    p->n_notes++;
    return PTQ_OK;
}

/* Applies what pc invalidates to `made`: an explicit earlier pass's result is an error
 * (the order throws it away), naming everything of that pass it would make stale; the
 * implicit calibration's results are dropped, to be recomputed. */
static ptq_status apply_invalidation(ctx *c, artifacts *made, const ptq_pass_cfg *pc) {
    const char *inv[64];
    const int32_t n = invalidated_by(c->reg, pc, inv, (int32_t)PTQ_COUNTOF(inv));
    int32_t culprit = -1; /* the first explicit earlier pass whose result goes stale */
    for (int32_t k = 0; k < n && culprit < 0; k++) {
        const int32_t i = art_find(made, inv[k]);
        const int32_t by = i >= 0 ? made->v[i].producer : -1;
        if (by >= 0 && !c->p->passes[by].implicit && c->p->passes[by].def != pc->def) culprit = by;
    }
    if (culprit >= 0) {
        const ptq_pass_cfg *q = &c->p->passes[culprit];
        char what[600] = "";
        size_t len = 0;
        for (int32_t k = 0; k < n && len < sizeof what; k++) {
            const int32_t i = art_find(made, inv[k]);
            if (i >= 0 && made->v[i].producer == culprit)
                len += (size_t)snprintf(what + len, sizeof what - len, "%s%s ('%s')",
                                        len ? ", " : "", artifact_meaning(inv[k]), inv[k]);
        }
        char at[64] = "";
        if (q->pos.line) snprintf(at, sizeof at, " (line %d)", q->pos.line);
        return fail_pos(c, pc->pos, PTQ_ERR_INVALID, "'%s' makes stale what '%s'%s produced "
                        "before it: %s.  Put '%s' before '%s'%s", pc->def->name, q->def->name, at,
                        what, pc->def->name, q->def->name,
                        !strcmp(pc->def->name, "core.calibrate")
                            ? ", or leave core.calibrate out (it is inserted where needed)"
                            : "");
    }
    for (int32_t k = 0; k < n; k++) {
        const int32_t i = art_find(made, inv[k]);
        if (i < 0) continue;
        const int32_t by = made->v[i].producer;
        if (by >= 0 && c->p->passes[by].implicit && calibrate_makes(inv[k]))
            TRY(add_note(c, "'%s' changes what the ranges of '%s' were computed from: the "
                         "implicit core.calibrate runs again after it", pc->def->name, inv[k]));
        art_drop(made, i);
    }
    return PTQ_OK;
}

/* Appends pc to the plan after checking its required reads against what is produced,
 * and applying what it invalidates. */
/* For an artifact the host itself provides from the pipeline file, what is missing in
 * the file and how to add it (NULL: no plugin-independent advice; the caller then names
 * the passes that produce it). */
static const char *host_artifact_hint(const ptq_pipeline *p, const char *name) {
    if (!strcmp(name, "calib.labels") && p->calibration.present)
        return "the labels of the calibration images, and the 'calibration' section names "
               "none: add 'labels: FILE' (IDX or .npy, one integer per image)";
    return NULL;
}

static ptq_status plan_add(ctx *c, artifacts *made, ptq_pass_cfg *pc) {
    const ptq_pass_def *d = pc->def;
    for (int32_t i = 0; d->reads && d->reads[i]; i++) {
        if (art_has(made, d->reads[i])) continue;
        const char *hint = host_artifact_hint(c->p, d->reads[i]);
        if (hint) return fail_pos(c, pc->pos, PTQ_ERR_INVALID, "pass '%s' needs %s", d->name, hint);
        char who[600];
        producers(c->reg, d->reads[i], d, who, sizeof who);
        return fail_pos(c, pc->pos, PTQ_ERR_INVALID, "pass '%s' needs '%s', which no earlier "
                        "pass produces (%s%s)", d->name, d->reads[i],
                        who[0] ? "passes that produce it: " : "no loaded plugin produces it", who);
    }
    TRY(apply_invalidation(c, made, pc));
    PTQ_ASSERT(c->p->n_passes < c->cap_passes);
    const int32_t at = c->p->n_passes;
    for (int32_t i = 0; d->writes && d->writes[i]; i++)
        if (art_add(made, d->writes[i], at)) return nomem(c);
    c->p->passes[c->p->n_passes++] = *pc;
    memset(pc, 0, sizeof *pc); /* the plan owns it now */
    return PTQ_OK;
}

/* A pass the host inserts, with every parameter at its default. */
static ptq_status plan_add_implicit(ctx *c, artifacts *made, const char *name) {
    ptq_pass_cfg pc = {0};
    pc.def = ptq_registry_find_pass(c->reg, name);
    if (!pc.def)
        return ptq_error_set(c->err, PTQ_ERR_INTERNAL, "%s: the registry has no '%s'", c->file,
                             name);
    pc.implicit = true;
    ptq_status st = parse_params(c, NULL, NULL, &pc);
    /* The implicit calibration computes only what is missing: activation ranges an earlier
     * pass set (dfq.bn_ranges, data-free; EasyQuant's search) are its result, and weight
     * ranges still valid are kept when only activations went stale. */
    if (!st && pc.def == ptq_registry_find_pass(c->reg, "core.calibrate")) {
        ptq_calibrate_params *cp = pc.params;
        if (art_has(made, "quant.activations")) cp->activations = 0;
        if (art_has(made, "quant.weights")) cp->weights = 0;
    }
    if (!st) st = plan_add(c, made, &pc);
    free_pass_cfg(&pc);
    return st;
}

/* Builds the run order: core.fold_bn first, core.calibrate where quantizers are first
 * needed (again after a pass that invalidates its ranges) or at the end, every required
 * read produced by an earlier pass, nothing an explicit pass produced made stale later. */
static ptq_status build_plan(ctx *c, artifacts *made) {
    ptq_pipeline *p = c->p;
    const ptq_pass_def *fold = ptq_registry_find_pass(c->reg, "core.fold_bn");
    bool fold_listed = c->n_listed > 0 && c->listed[0].def == fold;
    for (int32_t i = fold_listed; i < c->n_listed; i++)
        if (c->listed[i].def == fold)
            return fail_pos(c, c->listed[i].pos, PTQ_ERR_INVALID, "'core.fold_bn' must be the "
                            "first pass (the others work on the model with batch normalization "
                            "folded); it is inserted there when not listed");
    /* Insertions: fold_bn, and a calibrate before each listed pass at most (one before a
     * reader after every invalidation) and one at the end. */
    c->cap_passes = 2 * c->n_listed + 2;
    p->passes = ptq_calloc_array((size_t)c->cap_passes, sizeof *p->passes);
    if (!p->passes) return nomem(c);
    if (p->calibration.present && art_add(made, "calib.data", -1)) return nomem(c);
    if (p->calibration.present && p->calibration.labels && art_add(made, "calib.labels", -1))
        return nomem(c);
    TRY(fold_listed ? plan_add(c, made, &c->listed[0])
                    : plan_add_implicit(c, made, "core.fold_bn"));
    for (int32_t i = fold_listed; i < c->n_listed; i++) {
        if (needs_calibration(c->listed[i].def, made))
            TRY(plan_add_implicit(c, made, "core.calibrate"));
        TRY(plan_add(c, made, &c->listed[i]));
    }
    const bool quantized = p->quant.quantize_weights || p->quant.quantize_activations;
    if (quantized && (!art_has(made, "quant.weights") || !art_has(made, "quant.activations")))
        TRY(plan_add_implicit(c, made, "core.calibrate"));
    return PTQ_OK;
}

/* A BOOL parameter of a configured pass, by name (false if it has none). */
static bool param_flag(const ptq_pass_cfg *pc, const char *name) {
    for (const ptq_param_def *d = pc->def->params; d && d->name; d++)
        if (d->type == PTQ_PARAM_BOOL && !strcmp(d->name, name)) {
            int32_t x;
            memcpy(&x, (const char *)pc->params + d->offset, sizeof x);
            return x != 0;
        }
    return false;
}

/* Activation ranges come from data: a calibrate pass asked to set them needs images. */
static ptq_status check_activation_data(ctx *c) {
    const ptq_pipeline *p = c->p;
    if (!p->quant.quantize_activations) return PTQ_OK;
    const ptq_pass_def *calib = ptq_registry_find_pass(c->reg, "core.calibrate");
    bool data = p->calibration.present, acts_set = false;
    for (int32_t i = 0; i < p->n_passes; i++) {
        const ptq_pass_cfg *pc = &p->passes[i];
        if (pc->def == calib && param_flag(pc, "activations") && !data && !acts_set)
            return fail(c, c->quant_key ? c->quant_key : c->model_key, PTQ_ERR_INVALID,
                        "activations are quantized but %s has no calibration data to set their "
                        "ranges: add a 'calibration' dataset (or a pass producing 'calib.data'), "
                        "or keep activations in float with 'activations: {bits: 32}'",
                        pc->implicit ? "the implicit core.calibrate" : "core.calibrate");
        data = data || list_has(pc->def->writes, "calib.data");
        acts_set = acts_set || list_has(pc->def->writes, "quant.activations");
    }
    return PTQ_OK;
}

/* ===================================================================== loading ====== */

/* Reads the whole file; libyaml then parses from memory, and a reader error's byte
 * offset can be turned into a line and column. */
static ptq_status read_file(const char *path, char **buf, size_t *len, ptq_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap || cap > PTQ_PIPELINE_MAX_BYTES) break;
        char *nb = realloc(b, cap * 2);
        if (!nb) free(b);
        b = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    int e = errno;
    fclose(f);
    if (!b) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    if (bad || n > PTQ_PIPELINE_MAX_BYTES) {
        free(b);
        if (bad) return ptq_error_set(err, PTQ_ERR_IO, "%s: cannot read: %s", path, strerror(e));
        return ptq_error_set(err, PTQ_ERR_INVALID, "%s: larger than %zu bytes: not a pipeline "
                             "file", path, PTQ_PIPELINE_MAX_BYTES);
    }
    *buf = b;
    *len = n;
    return PTQ_OK;
}

/* libyaml's own message, at its position ("did not find expected key", ...). */
static ptq_status syntax_error(const char *path, const yaml_parser_t *ps, const char *buf,
                               ptq_error *err) {
    if (ps->error == YAML_MEMORY_ERROR) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    size_t line = ps->problem_mark.line, col = ps->problem_mark.column;
    if (ps->error == YAML_READER_ERROR) { /* only a byte offset is known */
        line = col = 0;
        for (size_t i = 0; i < ps->problem_offset; i++)
            if (buf[i] == '\n') line++, col = 0;
            else col++;
    }
    const char *problem = ps->problem ? ps->problem : "malformed YAML";
    if (ps->context && ps->error != YAML_READER_ERROR)
        return ptq_error_set(err, PTQ_ERR_INVALID, "%s:%zu:%zu: %s (%s at %zu:%zu)", path,
                             line + 1, col + 1, problem, ps->context, ps->context_mark.line + 1,
                             ps->context_mark.column + 1);
    return ptq_error_set(err, PTQ_ERR_INVALID, "%s:%zu:%zu: %s", path, line + 1, col + 1, problem);
}

/* A first pass over the events, stopping at the first collection nested deeper than
 * MAX_DEPTH, before libyaml's scanner can get slow on it.  Syntax errors are found here
 * too (the same parser, so the same messages). */
static ptq_status check_depth(const char *path, const char *buf, size_t len, ptq_error *err) {
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&ps, (const unsigned char *)buf, len);
    ptq_status st = PTQ_OK;
    for (int depth = 0; !st;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&ps, &ev)) {
            st = syntax_error(path, &ps, buf, err);
            break;
        }
        yaml_event_type_t type = ev.type;
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) depth++;
        if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) depth--;
        if (depth > MAX_DEPTH)
            st = ptq_error_set(err, PTQ_ERR_INVALID, "%s:%zu:%zu: nested deeper than %d levels: "
                               "not a pipeline", path, ev.start_mark.line + 1,
                               ev.start_mark.column + 1, MAX_DEPTH);
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&ps);
    return st;
}

/* Parses the one document of the file; a second one is an error (the rest of the
 * file would be silently ignored). */
static ptq_status parse_yaml(const char *path, const char *buf, size_t len, yaml_document_t *doc,
                             ptq_error *err) {
    TRY(check_depth(path, buf, len, err));
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) return ptq_error_set(err, PTQ_ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&ps, (const unsigned char *)buf, len);
    ptq_status st = PTQ_OK;
    if (!yaml_parser_load(&ps, doc)) {
        st = syntax_error(path, &ps, buf, err);
        yaml_parser_delete(&ps);
        return st;
    }
    yaml_document_t next;
    if (!yaml_parser_load(&ps, &next)) {
        st = syntax_error(path, &ps, buf, err);
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&next);
        if (root)
            st = ptq_error_set(err, PTQ_ERR_INVALID, "%s:%zu:%zu: a second YAML document: a "
                               "pipeline file holds one", path, next.start_mark.line + 1,
                               next.start_mark.column + 1);
        yaml_document_delete(&next);
    }
    if (st) yaml_document_delete(doc);
    yaml_parser_delete(&ps);
    return st;
}

static ptq_status load_document(ctx *c) {
    const yaml_node_t *root = yaml_document_get_root_node(c->doc);
    if (!root)
        return ptq_error_set(c->err, PTQ_ERR_INVALID, "%s:1:1: the file is empty (a pipeline "
                             "needs at least 'model')", c->file);
    if (root->type != YAML_MAPPING_NODE) {
        char buf[128];
        return fail(c, root, PTQ_ERR_INVALID, "expected a mapping of pipeline keys (model, "
                    "calibration, passes, ...), got %s", describe(root, buf, sizeof buf));
    }
    ptq_status st_walk = walk_mapping(c, root, top_fields, c->p, NULL);
    if (st_walk == PTQ_ERR_NOMEM) return st_walk;
    if (!c->p->model && !(st_walk && c->model_key)) return missing_key(c, root, "model", NULL);
    TRY(st_walk);
    TRY(fill_defaults(c));
    TRY(check_target(c));
    artifacts made = {0};
    ptq_status st = build_plan(c, &made);
    free(made.v);
    TRY(st);
    return check_activation_data(c);
}

ptq_status ptq_pipeline_parse(const char *path, yaml_document_t *doc, ptq_error *err) {
    char *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len, err)) return err->status;
    ptq_status st = parse_yaml(path, buf, len, doc, err);
    free(buf);
    return st;
}

ptq_pipeline *ptq_pipeline_load(const char *path, const ptq_registry *reg, ptq_error *err) {
    return ptq_pipeline_load_edited(path, reg, NULL, NULL, err);
}

ptq_pipeline *ptq_pipeline_load_edited(const char *path, const ptq_registry *reg,
                                       ptq_pipeline_edit_fn edit, void *edit_ctx, ptq_error *err) {
    if (!path || !reg) {
        ptq_error_set(err, PTQ_ERR_INVALID, "ptq_pipeline_load: no %s", path ? "registry" : "path");
        return NULL;
    }
    yaml_document_t doc;
    if (ptq_pipeline_parse(path, &doc, err)) return NULL;
    ptq_status st = edit ? edit(edit_ctx, &doc, err) : PTQ_OK;
    if (st) {
        yaml_document_delete(&doc);
        return NULL;
    }
    ctx c = {.file = path, .doc = &doc, .reg = reg, .err = err};
    c.p = calloc(1, sizeof *c.p);
    c.base = file_dir(path);
    if (!c.p || !c.base || !(c.p->path = ptq_strdup(path))) {
        st = nomem(&c);
    } else {
        set_defaults(c.p);
        st = load_document(&c);
    }
    /* Several problems: all of them, one per line, in the order of the file's walk. */
    if (st && st != PTQ_ERR_NOMEM && c.n_errors > 1) {
        char *e = c.errors;
        e[c.errors_len - 1] = '\0'; /* the last newline */
        if (c.errors_len > sizeof err->msg - 1) {
            /* keep whole lines, and say how many did not fit */
            size_t cut = sizeof err->msg - 48;
            while (cut > 0 && e[cut] != '\n') cut--;
            int32_t shown = 0;
            for (size_t i = 0; i < cut; i++) shown += e[i] == '\n';
            snprintf(e + cut, c.errors_len - cut, "\n(and %d more errors)", c.n_errors - shown - 1);
        }
        snprintf(err->msg, sizeof err->msg, "%s", e);
    }
    free(c.errors);
    for (int32_t i = 0; i < c.n_listed; i++) free_pass_cfg(&c.listed[i]);
    free(c.listed);
    free(c.base);
    yaml_document_delete(&doc);
    if (st) {
        ptq_pipeline_free(c.p);
        return NULL;
    }
    return c.p;
}

static void free_dataset(ptq_dataset_cfg *ds) {
    free(ds->images);
    free(ds->labels);
}

void ptq_pipeline_free(ptq_pipeline *p) {
    if (!p) return;
    free(p->path);
    free(p->model);
    free_dataset(&p->calibration);
    free_dataset(&p->evaluation);
    for (int32_t i = 0; i < p->quant.n_overrides; i++) {
        for (int32_t j = 0; j < p->quant.overrides[i].n_nodes; j++) free(p->quant.overrides[i].nodes[j]);
        free(p->quant.overrides[i].nodes);
    }
    free(p->quant.overrides);
    for (int32_t i = 0; i < p->n_passes; i++) free_pass_cfg(&p->passes[i]);
    free(p->passes);
    free(p->out_dir);
    free(p->onnx_name);
    for (int32_t i = 0; i < p->n_notes; i++) free(p->notes[i]);
    free(p->notes);
    free(p);
}

/* ===================================================================== printing ===== */

/* A YAML double-quoted string: whatever the text, it reads back the same. */
static void print_quoted(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q == '"' || *q == '\\')
            fprintf(out, "\\%c", *q);
        else if (*q == '\n')
            fputs("\\n", out);
        else if (*q == '\t')
            fputs("\\t", out);
        else if (*q < 0x20 || *q == 0x7f)
            fprintf(out, "\\x%02x", *q);
        else
            fputc(*q, out);
    }
    fputc('"', out);
}

/* Plain when the text cannot be mistaken for anything else, quoted otherwise. */
static void print_name(FILE *out, const char *s) {
    bool plain = *s && isalpha((unsigned char)*s);
    for (const char *q = s; plain && *q; q++)
        plain = isalnum((unsigned char)*q) || *q == '_' || *q == '-' || *q == '.';
    static const char *const reserved[] = {"true", "false", "yes", "no", "on", "off", "null"};
    for (size_t i = 0; plain && i < PTQ_COUNTOF(reserved); i++) plain = strcasecmp(s, reserved[i]);
    if (plain)
        fputs(s, out);
    else
        print_quoted(out, s);
}

/* The shortest decimal that reads back as the same float. */
static void print_float(FILE *out, float x) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    fputs(buf, out);
}

static void print_double(FILE *out, double x) {
    char buf[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, out);
}

static void print_floats(FILE *out, const float *v, int32_t n) {
    fputc('[', out);
    for (int32_t i = 0; i < n; i++) {
        if (i) fputs(", ", out);
        print_float(out, v[i]);
    }
    fputc(']', out);
}

static const char *yes_no(bool b) { return b ? "true" : "false"; }

static void print_dataset(FILE *out, const char *name, const ptq_dataset_cfg *ds) {
    if (!ds->present) {
        fprintf(out, "# %s: none\n", name);
        return;
    }
    fprintf(out, "%s:\n  images: ", name);
    print_quoted(out, ds->images);
    if (ds->labels) {
        fputs("\n  labels: ", out);
        print_quoted(out, ds->labels);
    }
    if (ds->fidelity) fputs("\n  fidelity: true", out);
    if (ds->per_class > 0) fprintf(out, "\n  per_class: %" PRId64, ds->per_class);
    else fprintf(out, "\n  count: %" PRId64, ds->count);
    fprintf(out, "\n  offset: %" PRId64 "\n  sample: %s\n", ds->offset, yes_no(ds->sample));
    /* No normalization is mean 0, std 1: written out so the plan does not depend on
     * the model's sidecar file any more. */
    static const float zero = 0.0f, one = 1.0f;
    fputs("  normalize: {mean: ", out);
    print_floats(out, ds->n_mean ? ds->mean : &zero, ds->n_mean ? ds->n_mean : 1);
    fputs(", std: ", out);
    print_floats(out, ds->n_std ? ds->std : &one, ds->n_std ? ds->n_std : 1);
    fputs("}\n", out);
    if (!ptq_is_image_source(ds->images)) return;
    if (ds->labels_folders) fputs("  labels: folders\n", out);
    fprintf(out, "  resize: {mode: %s", resize_mode_name(ds->resize));
    if (ds->resize != PTQ_RESIZE_NONE) fprintf(out, ", size: [%d, %d]", ds->resize_h, ds->resize_w);
    if (ds->resize == PTQ_RESIZE_LETTERBOX) {
        fputs(", pad_value: ", out);
        print_float(out, ds->pad_value);
    }
    fprintf(out, "}%s\n  channels: %s\n", ds->resize_default ? "  # the model's input size"
            : "", channels_name(ds->channels));
    /* The default divides by 255, which no printed multiplier reproduces bit for bit. */
    if (ds->scale > 0) {
        fputs("  scale: ", out);
        print_float(out, ds->scale);
        fputc('\n', out);
    } else {
        fputs("  # scale: 1/255 (pixels divided by 255)\n", out);
    }
    fprintf(out, "  on_bad_image: %s\n", ds->skip_bad ? "skip" : "fail");
}

/* A spec's fields (all, or those in `fields` for an override) as a flow mapping, in the
 * order the schema documents them. */
static void print_qspec(FILE *out, const ptq_qspec *q, uint32_t fields) {
    const char *sep = "";
    fputc('{', out);
    if (fields & PTQ_QF_BITS) {
        fprintf(out, "%sbits: %d", sep, q->bits);
        sep = ", ";
    }
    if (fields & PTQ_QF_GRANULARITY) {
        fprintf(out, "%sgranularity: %s", sep, q->per_channel ? "channel" : "tensor");
        sep = ", ";
    }
    if (fields & PTQ_QF_SYMMETRIC) {
        fprintf(out, "%ssymmetric: %s", sep, yes_no(q->symmetric));
        sep = ", ";
    }
    if (fields & PTQ_QF_OBSERVER) {
        fprintf(out, "%sobserver: %s", sep, ptq_observer_name(q->observer));
        sep = ", ";
    }
    if (fields & PTQ_QF_PERCENTILE) {
        fprintf(out, "%spercentile: ", sep);
        print_float(out, q->percentile);
        sep = ", ";
    }
    /* The search's options only where they apply (a full spec with another observer
     * would not load again). */
    const bool mse = !(fields & PTQ_QF_OBSERVER) || q->observer == PTQ_OBSERVER_MSE;
    if ((fields & PTQ_QF_MSE_P) && mse) {
        fprintf(out, "%sp: ", sep);
        print_float(out, q->mse_p > 0.0f ? q->mse_p : 2.0f);
        sep = ", ";
    }
    if ((fields & PTQ_QF_SEARCH) && mse) {
        fprintf(out, "%ssearch: %s", sep, ptq_search_name(q->search));
        sep = ", ";
    }
    if (fields & PTQ_QF_IMAGES) fprintf(out, "%simages: %" PRId64, sep, q->images);
    fputc('}', out);
}

#define QF_ALL                                                                             \
    (PTQ_QF_BITS | PTQ_QF_SYMMETRIC | PTQ_QF_GRANULARITY | PTQ_QF_OBSERVER |                 \
     PTQ_QF_PERCENTILE | PTQ_QF_MSE_P | PTQ_QF_SEARCH)

static void print_override(FILE *out, const ptq_override *ov) {
    fputs("    - nodes: [", out);
    for (int32_t i = 0; i < ov->n_nodes; i++) {
        if (i) fputs(", ", out);
        print_quoted(out, ov->nodes[i]);
    }
    fputs("]\n", out);
    if (ov->w_fields) {
        fputs("      weights: ", out);
        print_qspec(out, &ov->w, ov->w_fields);
        fputc('\n', out);
    }
    if (ov->a_fields) {
        fputs("      activations: ", out);
        print_qspec(out, &ov->a, ov->a_fields);
        fputc('\n', out);
    }
    fprintf(out, "      float: %s\n", yes_no(ov->keep_float));
}

static void print_quantization(FILE *out, const ptq_pipeline *p) {
    fputs("quantization:\n  weights: ", out);
    print_qspec(out, &p->quant.weights, QF_ALL);
    fputs("\n  activations: ", out);
    print_qspec(out, &p->quant.activations, QF_ALL | PTQ_QF_IMAGES);
    fprintf(out, "\n  placement: %s\n  input: %s\n  output: %s\n  target: %s\n",
            ptq_placement_name(p->quant.placement), yes_no(p->quant.quantize_input),
            yes_no(p->quant.quantize_output), ptq_target_name(p->quant.target));
    fprintf(out, "  overrides:%s\n", p->quant.n_overrides ? "" : " []");
    for (int32_t i = 0; i < p->quant.n_overrides; i++) print_override(out, &p->quant.overrides[i]);
}

static void print_param(FILE *out, const ptq_param_def *d, const void *params) {
    const char *src = (const char *)params + d->offset;
    int32_t i32;
    int64_t i64;
    double f;
    const char *s = NULL;
    fprintf(out, "%s: ", d->name);
    switch (d->type) {
    case PTQ_PARAM_BOOL:
        memcpy(&i32, src, sizeof i32);
        fputs(yes_no(i32), out);
        break;
    case PTQ_PARAM_INT:
        memcpy(&i64, src, sizeof i64);
        fprintf(out, "%" PRId64, i64);
        break;
    case PTQ_PARAM_FLOAT:
        memcpy(&f, src, sizeof f);
        print_double(out, f);
        break;
    case PTQ_PARAM_ENUM:
        memcpy(&i32, src, sizeof i32);
        print_name(out, i32 >= 0 && i32 < n_choices(d) ? d->choices[i32] : "?");
        break;
    default:
        memcpy(&s, src, sizeof s);
        print_quoted(out, s ? s : "");
        break;
    }
}

/* "name: {p: v, ...}" with every parameter. */
static void print_pass_params(FILE *out, const ptq_pass_cfg *pc) {
    fprintf(out, "%s: {", pc->def->name);
    for (const ptq_param_def *d = pc->def->params; d && d->name; d++) {
        if (d != pc->def->params) fputs(", ", out);
        print_param(out, d, pc->params);
    }
    fputc('}', out);
}

static void print_pass(FILE *out, const ptq_pass_cfg *pc) {
    fputs("  - ", out);
    print_pass_params(out, pc);
    fprintf(out, "%s\n", pc->implicit ? "  # implicit" : "");
}

/* What a session starts from: the model, the data, the quantization. */
static void print_inputs(FILE *out, const ptq_pipeline *p) {
    fputs("model: ", out);
    print_quoted(out, p->model);
    fputc('\n', out);
    if (p->input_ndim) {
        fputs("input_shape: [", out);
        for (int32_t d = 0; d < p->input_ndim; d++)
            fprintf(out, "%s%" PRId64, d ? ", " : "", p->input_shape[d]);
        fputs("]\n", out);
    }
    print_dataset(out, "calibration", &p->calibration);
    print_dataset(out, "evaluation", &p->evaluation);
    print_quantization(out, p);
}

void ptq_pipeline_print(const ptq_pipeline *p, FILE *out) { ptq_pipeline_print_as(p, NULL, out); }

char *ptq_pipeline_fingerprint(const ptq_pipeline *p, int32_t step) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) return NULL;
    if (step == 0) {
        print_inputs(out, p);
        fprintf(out, "seed: %" PRIu64 "\nbatch: %" PRId64 "\n", p->seed, p->batch);
    } else if (step <= p->n_passes) {
        print_pass_params(out, &p->passes[step - 1]);
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

void ptq_pipeline_print_as(const ptq_pipeline *p, const char *out_dir, FILE *out) {
    fputs("# ptq pipeline: ", out);
    for (const char *q = p->path; *q; q++) fputc((unsigned char)*q < 0x20 ? '?' : *q, out);
    fputs("\n# resolved: every default explicit, implicit passes marked\n", out);
    print_inputs(out, p);
    fprintf(out, "passes:%s\n", p->n_passes ? "" : " []");
    for (int32_t i = 0; i < p->n_passes; i++) print_pass(out, &p->passes[i]);
    fputs("output: {dir: ", out);
    print_quoted(out, out_dir ? out_dir : p->out_dir);
    fprintf(out, ", onnx: %s, name: ", yes_no(p->export_onnx));
    print_quoted(out, p->onnx_name);
    fprintf(out, "}\nseed: %" PRIu64 "\nbatch: %" PRId64 "\nthreads: %d\n", p->seed, p->batch,
            p->threads);
}
