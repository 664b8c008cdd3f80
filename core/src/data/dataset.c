/* dataset.c — image datasets for calibration and evaluation: raw arrays from IDX or
 * .npy files, converted to float NCHW and normalised once at load (image folders are
 * data_image.c's). */
#include <ctype.h>
#include <inttypes.h>

#include "internal.h"

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* .npy and .npy.gz are NumPy; everything else is tried as IDX. */
static ptq_tensor *read_array(const char *path, ptq_error *err) {
    if (ends_with(path, ".npy") || ends_with(path, ".npy.gz")) return ptq_npy_read(path, err);
    return ptq_idx_read(path, err);
}

static double elem(const ptq_tensor *t, int64_t i) {
    switch (t->dtype) {
    case PTQ_DTYPE_F32: return ((const float *)t->data)[i];
    case PTQ_DTYPE_U8: return ((const uint8_t *)t->data)[i];
    case PTQ_DTYPE_I8: return ((const int8_t *)t->data)[i];
    case PTQ_DTYPE_I32: return ((const int32_t *)t->data)[i];
    case PTQ_DTYPE_I64: return (double)((const int64_t *)t->data)[i];
    default: return 0.0;
    }
}

/* Up to 16 comma-separated numbers at s (one only when !list); also refuses trailing
 * garbage when `whole`. */
static int32_t float_list(const char *s, bool list, bool whole, float *dst) {
    int32_t n = 0;
    for (; n < 16; n++) {
        char *end;
        while (isspace((unsigned char)*s)) s++;
        float x = strtof(s, &end);
        if (end == s || !isfinite(x)) return whole ? 0 : n;
        dst[n] = x;
        for (s = end; isspace((unsigned char)*s); s++) {}
        if (!list || *s != ',') {
            n++;
            break;
        }
        s++;
    }
    return whole && *s ? 0 : n;
}

/* Numbers of a JSON key: `"mean": 0.286` or `"mean": [0.4914, 0.4822, 0.4465]`. */
static int32_t json_floats(const char *json, const char *key, float *dst) {
    const char *s = strstr(json, key);
    if (!s || !(s = strchr(s + strlen(key), ':'))) return 0;
    s++;
    while (isspace((unsigned char)*s)) s++;
    const bool list = *s == '[';
    return float_list(s + list, list, false, dst);
}

bool ptq_sidecar_normalization(const char *model, ptq_preprocess *pp, char *path,
                               size_t path_size) {
    const size_t len = strlen(model) - (ends_with(model, ".onnx") ? 5 : 0);
    /* On the stack: out of memory must not pass for "no sidecar" (another normalization). */
    char json_path[4096 + 8];
    if (len + 6 > sizeof json_path) return false; /* longer than any path open() takes */
    snprintf(json_path, sizeof json_path, "%.*s.json", (int)len, model);
    FILE *f = fopen(json_path, "rb");
    char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    ptq_preprocess got = {0};
    got.n_mean = json_floats(buf, "\"mean\"", got.mean);
    got.n_std = json_floats(buf, "\"std\"", got.std);
    bool usable = got.n_mean || got.n_std;
    for (int32_t i = 0; i < got.n_std; i++) usable &= got.std[i] > 0;
    if (usable && path && path_size) snprintf(path, path_size, "%s", json_path);
    if (!usable) return false;
    pp->n_mean = got.n_mean;
    pp->n_std = got.n_std;
    memcpy(pp->mean, got.mean, sizeof pp->mean);
    memcpy(pp->std, got.std, sizeof pp->std);
    return true;
}

void ptq_format_floats(const float *v, int32_t n, char *buf, size_t size) {
    size_t at = 0;
    if (size) buf[0] = '\0';
    for (int32_t i = 0; i < n && at < size; i++) {
        char one[32];
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(one, sizeof one, "%.*g", prec, (double)v[i]);
            if (strtof(one, NULL) == v[i]) break;
        }
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? "," : "", one);
    }
}

bool ptq_model_normalization(const char *model, const ptq_graph *g, ptq_preprocess *pp,
                             char *source, size_t source_size) {
    const char *m = g ? ptq_graph_meta(g, PTQ_META_NORM_MEAN) : NULL;
    const char *sd = g ? ptq_graph_meta(g, PTQ_META_NORM_STD) : NULL;
    if (m || sd) {
        ptq_preprocess got = {0};
        if (m) got.n_mean = float_list(m, true, true, got.mean);
        if (sd) got.n_std = float_list(sd, true, true, got.std);
        bool usable = (got.n_mean || got.n_std) && (!m || got.n_mean) && (!sd || got.n_std);
        for (int32_t i = 0; i < got.n_std; i++) usable &= got.std[i] > 0;
        if (usable) {
            pp->n_mean = got.n_mean;
            pp->n_std = got.n_std;
            memcpy(pp->mean, got.mean, sizeof pp->mean);
            memcpy(pp->std, got.std, sizeof pp->std);
            if (source && source_size)
                snprintf(source, source_size, "the %s metadata of %s", PTQ_META_NORM_MEAN, model);
            return true;
        }
    }
    return ptq_sidecar_normalization(model, pp, source, source_size);
}

void ptq_dataset_free(ptq_dataset *ds) {
    if (!ds) return;
    for (int64_t i = 0; ds->files && i < ds->n; i++) free(ds->files[i]);
    free(ds->files);
    free(ds->images);
    free(ds->labels);
    free(ds);
}

/* Loads the rows `select` picks (all, or the first `limit`, when select is NULL): only
 * those are converted to float, so drawing 1024 calibration images from the 60,000 of a
 * training file costs 1024 conversions, not 60,000. */
static ptq_dataset *load_rows(const char *images, const char *labels, const ptq_preprocess *pp,
                              int64_t limit, ptq_row_select select, void *ctx, ptq_error *err) {
    ptq_preprocess def = {0};
    if (!pp) pp = &def;
    if (ptq_is_image_source(images)) {
        if (labels) {
            ptq_error_set(err, PTQ_ERR_INVALID, "%s: an image folder takes its labels from its "
                          "class subfolders ('labels: folders', --labels folders), not from %s",
                          images, labels);
            return NULL;
        }
        return ptq_image_dataset_load(images, pp, limit, select, ctx, err);
    }
    ptq_dataset *ds = NULL;
    int64_t *rows = NULL;
    ptq_tensor *lt = NULL, *it = read_array(images, err);
    if (!it) return NULL;
    int64_t n, c, h, w;
    if (it->ndim == 3) {
        n = it->ne[0], c = 1, h = it->ne[1], w = it->ne[2];
    } else if (it->ndim == 4) {
        n = it->ne[0], c = it->ne[1], h = it->ne[2], w = it->ne[3];
    } else {
        char buf[160];
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: images must be N x H x W or N x C x H x W, "
                      "this array is %s", images, ptq_shape_str(it->ndim, it->ne, buf, sizeof buf));
        goto fail;
    }
    if (it->dtype != PTQ_DTYPE_F32 && it->dtype != PTQ_DTYPE_U8) {
        ptq_error_set(err, PTQ_ERR_UNSUPPORTED, "%s: images of type %s are not supported "
                      "(float32 and uint8 are)", images, ptq_dtype_name(it->dtype));
        goto fail;
    }
    if (n == 0) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: the file holds no images", images);
        goto fail;
    }
    if ((pp->n_mean > 1 && pp->n_mean != c) || (pp->n_std > 1 && pp->n_std != c) ||
        pp->n_mean < 0 || pp->n_std < 0 || (c > 16 && (pp->n_mean > 1 || pp->n_std > 1))) {
        ptq_error_set(err, PTQ_ERR_INVALID, "%s: images have %" PRId64 " channels but %d "
                      "means and %d stds were given", images, c, pp->n_mean, pp->n_std);
        goto fail;
    }
    for (int32_t i = 0; i < pp->n_std; i++) {
        if (!(pp->std[i] > 0.0f)) {
            ptq_error_set(err, PTQ_ERR_INVALID, "std %g must be positive", (double)pp->std[i]);
            goto fail;
        }
    }
    ds = calloc(1, sizeof *ds);
    if (!ds) goto nomem;
    if (labels) {
        lt = read_array(labels, err);
        if (!lt) goto fail;
        if (lt->ndim != 1 || lt->dtype == PTQ_DTYPE_F32) {
            char buf[160];
            ptq_error_set(err, PTQ_ERR_INVALID, "%s: labels must be a 1-D integer array, this "
                          "one is %s %s", labels, ptq_dtype_name(lt->dtype),
                          ptq_shape_str(lt->ndim, lt->ne, buf, sizeof buf));
            goto fail;
        }
        if (lt->ne[0] != n) {
            ptq_error_set(err, PTQ_ERR_INVALID, "%s has %" PRId64 " labels but %s has %" PRId64
                          " images", labels, lt->ne[0], images, n);
            goto fail;
        }
    }
    if (select) {
        int64_t picked = 0;
        int32_t *file_labels = lt ? ptq_calloc_array((size_t)n, sizeof *file_labels) : NULL;
        if (lt && !file_labels) goto nomem;
        for (int64_t i = 0; lt && i < n; i++) {
            const double v = elem(lt, i);
            file_labels[i] = v >= 0 && v <= 1 << 20 ? (int32_t)v : -1;
        }
        rows = select(n, file_labels, ctx, &picked, err);
        free(file_labels);
        if (!rows) goto fail;
        n = picked;
    } else if (limit > 0 && limit < n) {
        n = limit;
    }
    ds->n = n;
    ds->c = (int32_t)c;
    ds->h = (int32_t)h;
    ds->w = (int32_t)w;
    const int64_t plane = h * w;
    ds->images = ptq_calloc_array((size_t)(n * c * plane), sizeof(float));
    if (!ds->images) goto nomem;
    /* float32 arithmetic in torchvision's order (ToTensor divides uint8 by 255, Normalize
     * subtracts the mean and divides by the std), so inputs match PyTorch's bit for bit. */
    const bool div255 = pp->scale <= 0.0f && it->dtype == PTQ_DTYPE_U8;
    const float scale = pp->scale > 0.0f ? pp->scale : 1.0f;
    for (int64_t ch = 0; ch < c; ch++) {
        const float mean = pp->n_mean ? pp->mean[pp->n_mean > 1 ? ch : 0] : 0.0f;
        const float std = pp->n_std ? pp->std[pp->n_std > 1 ? ch : 0] : 1.0f;
        for (int64_t i = 0; i < n; i++) {
            const int64_t src = ((rows ? rows[i] : i) * c + ch) * plane;
            float *dst = ds->images + (i * c + ch) * plane;
            for (int64_t k = 0; k < plane; k++) {
                float v = (float)elem(it, src + k);
                v = div255 ? v / 255.0f : v * scale;
                dst[k] = (v - mean) / std;
            }
        }
    }
    if (lt) {
        ds->labels = ptq_calloc_array((size_t)n, sizeof *ds->labels);
        if (!ds->labels) goto nomem;
        int32_t maxl = -1;
        for (int64_t i = 0; i < n; i++) {
            const int64_t at = rows ? rows[i] : i;
            double v = elem(lt, at);
            if (v < 0 || v > 1 << 20) {
                ptq_error_set(err, PTQ_ERR_INVALID, "%s: label %g at index %" PRId64 " is out "
                              "of range", labels, v, at);
                goto fail;
            }
            ds->labels[i] = (int32_t)v;
            maxl = PTQ_MAX(maxl, ds->labels[i]);
        }
        ds->n_classes = maxl + 1;
    }
    free(rows);
    ptq_tensor_free(it);
    ptq_tensor_free(lt);
    return ds;
nomem:
    ptq_error_set(err, PTQ_ERR_NOMEM, "%s: out of memory", images);
fail:
    free(rows);
    ptq_tensor_free(it);
    ptq_tensor_free(lt);
    ptq_dataset_free(ds);
    return NULL;
}

ptq_dataset *ptq_dataset_load(const char *images, const char *labels, const ptq_preprocess *pp,
                              int64_t limit, ptq_error *err) {
    return load_rows(images, labels, pp, limit, NULL, NULL, err);
}

ptq_dataset *ptq_dataset_load_select(const char *images, const char *labels,
                                     const ptq_preprocess *pp, ptq_row_select select, void *ctx,
                                     ptq_error *err) {
    return load_rows(images, labels, pp, 0, select, ctx, err);
}
