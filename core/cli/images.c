/* images.c — what `ptq eval` and `ptq infer` share: a model and its input images, loaded
 * in the order a model of symbolic size needs (peek at the model's input, read the
 * images at the size the flags or the model fix, import the model at the images' size),
 * then normalised with the flags' or the model's mean and std. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

/* "1,2,3" or "1x2x3" into up to max positive integers; false on anything else. */
bool cli_parse_dims(const char *s, int64_t *v, int32_t max, int32_t *n) {
    *n = 0;
    while (*s) {
        char *end;
        errno = 0;
        const long long x = strtoll(s, &end, 10);
        if (end == s || errno || x <= 0 || x > (1 << 20) || *n == max) return false;
        v[(*n)++] = x;
        s = end;
        if (*s == ',' || *s == 'x' || *s == 'X') {
            s++;
            if (!*s) return false;
        } else if (*s) {
            return false;
        }
    }
    return *n > 0;
}

void cli_loaded_free(cli_loaded *l) {
    ptq_graph_free(l->g);
    ptq_dataset_free(l->ds);
    l->g = NULL;
    l->ds = NULL;
}

/* (x - mean[c]) / std[c] in place: the same float operations ptq_dataset_load does after
 * scaling, so normalising after loading gives the same bits as normalising while loading. */
static bool normalize(ptq_dataset *ds, const cli_loaded *l) {
    if ((l->n_mean > 1 && l->n_mean != ds->c) || (l->n_std > 1 && l->n_std != ds->c)) return false;
    const int64_t plane = (int64_t)ds->h * ds->w;
    for (int32_t ch = 0; ch < ds->c; ch++) {
        const float mean = l->n_mean ? l->mean[l->n_mean > 1 ? ch : 0] : 0.0f;
        const float std = l->n_std ? l->std[l->n_std > 1 ? ch : 0] : 1.0f;
        for (int64_t i = 0; i < ds->n; i++) {
            float *x = ds->images + (i * ds->c + ch) * plane;
            for (int64_t k = 0; k < plane; k++) x[k] = (x[k] - mean) / std;
        }
    }
    return true;
}

int cli_load_model_and_images(const char *cmd, const char *model, const char *images,
                              const char *labels, int64_t limit, const cli_image_args *a,
                              cli_loaded *out) {
    memset(out, 0, sizeof *out);
    ptq_error err = {0};
    ptq_input_info info;
    if (ptq_onnx_input_info(model, &info, &err)) {
        fprintf(stderr, "ptq %s: %s\n", cmd, err.msg);
        return 1;
    }
    /* --input-shape: C,H,W (or with the batch first). */
    int64_t shape[PTQ_MAX_DIMS];
    int32_t n_shape = 0;
    if (a->input_shape && !cli_parse_dims(a->input_shape, shape, PTQ_MAX_DIMS, &n_shape)) {
        fprintf(stderr, "ptq %s: --input-shape '%s' must be positive integers such as 3,640,640\n",
                cmd, a->input_shape);
        return 2;
    }
    /* The model's channels and size as far as the model and --input-shape fix them. */
    int64_t mc = -1, mh = -1, mw = -1;
    if (info.ndim == 4) mc = info.ne[1], mh = info.ne[2], mw = info.ne[3];
    if (n_shape >= 3) mc = shape[n_shape - 3], mh = shape[n_shape - 2], mw = shape[n_shape - 1];
    ptq_preprocess pp = {0};
    if (a->n_scale) {
        if (!(a->scale[0] > 0)) {
            fprintf(stderr, "ptq %s: --scale must be positive\n", cmd);
            return 2;
        }
        pp.scale = a->scale[0];
    }
    const bool image_files = ptq_is_image_source(images);
    if (image_files) {
        if (a->channels) {
            pp.channels = !strcmp(a->channels, "rgb") ? PTQ_CHANNELS_RGB
                        : !strcmp(a->channels, "bgr") ? PTQ_CHANNELS_BGR
                        : !strcmp(a->channels, "gray") || !strcmp(a->channels, "grey")
                            ? PTQ_CHANNELS_GRAY : -1;
            if (pp.channels < 0) {
                fprintf(stderr, "ptq %s: --channels '%s' is not one of rgb, bgr, gray\n", cmd,
                        a->channels);
                return 2;
            }
        } else {
            pp.channels = mc == 1 ? PTQ_CHANNELS_GRAY : PTQ_CHANNELS_RGB;
        }
        int64_t hw[2] = {mh, mw};
        int32_t n_hw = 0;
        if (a->resize) {
            if (!cli_parse_dims(a->resize, hw, 2, &n_hw)) {
                fprintf(stderr, "ptq %s: --resize '%s' must be HxW (such as 224x224) or one "
                        "number for a square\n", cmd, a->resize);
                return 2;
            }
            if (n_hw == 1) hw[1] = hw[0];
        }
        if (hw[0] > 0 && hw[1] > 0) {
            pp.resize = a->letterbox ? PTQ_RESIZE_LETTERBOX : PTQ_RESIZE_STRETCH;
            pp.resize_h = (int32_t)hw[0], pp.resize_w = (int32_t)hw[1];
            pp.pad_value = 114.0f;
            snprintf(out->resize_note, sizeof out->resize_note, "%s to %" PRId64 "x%" PRId64 "%s",
                     a->letterbox ? "letterboxed" : "stretched", hw[0], hw[1],
                     a->resize ? "" : " (the model's input size)");
        } else if (a->letterbox) {
            fprintf(stderr, "ptq %s: --letterbox needs --resize HxW: the model's input size is "
                    "not fixed\n", cmd);
            return 2;
        } else {
            snprintf(out->resize_note, sizeof out->resize_note, "none (all images one size)");
        }
        pp.skip_bad = a->skip_bad;
        if (labels && !strcmp(labels, "folders")) pp.labels_from_folders = true, labels = NULL;
    } else if (a->resize || a->letterbox || a->channels || a->skip_bad) {
        fprintf(stderr, "ptq %s: --resize, --letterbox, --channels and --skip-bad apply to PNG "
                "and JPEG images (a folder or a file); %s is not one\n", cmd, images);
        return 2;
    }
    out->ds = ptq_dataset_load(images, labels, &pp, limit, &err);
    if (!out->ds) {
        fprintf(stderr, "ptq %s: %s\n", cmd, err.msg);
        return 1;
    }
    if (out->ds->n_skipped)
        fprintf(stderr, "warning: %" PRId64 " unreadable image files skipped\n", out->ds->n_skipped);
    /* The import: --input-shape, else the images' size for a model of symbolic size. */
    ptq_import_options opts = {0};
    int64_t from_data[3] = {out->ds->c, out->ds->h, out->ds->w};
    if (n_shape) {
        opts.input_ndim = n_shape;
        opts.input_shape = shape;
    } else if (info.n_symbolic && info.ndim == 4) {
        opts.input_ndim = 3;
        opts.input_shape = from_data;
    }
    out->g = ptq_onnx_load(model, &opts, &err);
    if (!out->g) {
        fprintf(stderr, "ptq %s: %s\n", cmd, err.msg);
        cli_loaded_free(out);
        return 1;
    }
    /* The normalization: the command line's, else what the model carries. */
    ptq_preprocess norm = {0};
    out->n_mean = a->n_mean, out->n_std = a->n_std;
    memcpy(out->mean, a->mean, sizeof out->mean);
    memcpy(out->std, a->std, sizeof out->std);
    for (int32_t i = 0; i < a->n_std; i++) {
        if (!(a->std[i] > 0)) {
            fprintf(stderr, "ptq %s: --std values must be positive\n", cmd);
            cli_loaded_free(out);
            return 2;
        }
    }
    out->norm_from_flags = out->norm_known = a->n_mean || a->n_std;
    snprintf(out->norm_source, sizeof out->norm_source, "--mean/--std");
    if (!out->norm_known &&
        ptq_model_normalization(model, out->g, &norm, out->norm_source, sizeof out->norm_source)) {
        out->norm_known = true;
        out->n_mean = norm.n_mean, out->n_std = norm.n_std;
        memcpy(out->mean, norm.mean, sizeof out->mean);
        memcpy(out->std, norm.std, sizeof out->std);
    }
    if (!out->norm_known) snprintf(out->norm_source, sizeof out->norm_source, "none known");
    if (!normalize(out->ds, out)) {
        fprintf(stderr, "ptq %s: %s: images have %d channels but %d means and %d stds were "
                "given (%s)\n", cmd, images, out->ds->c, out->n_mean, out->n_std, out->norm_source);
        cli_loaded_free(out);
        return 1;
    }
    return 0;
}

int cli_load_reference(const char *cmd, const char *reference, cli_loaded *l,
                       struct ptq_graph **ref) {
    ptq_error err = {0};
    /* The reference reads the same tensors: import it at the loaded images' size. */
    int64_t shape[3] = {l->ds->c, l->ds->h, l->ds->w};
    ptq_input_info info = {0};
    ptq_import_options opts = {0};
    if (ptq_onnx_input_info(reference, &info, &err) == PTQ_OK && info.n_symbolic && info.ndim == 4) {
        opts.input_ndim = 3;
        opts.input_shape = shape;
    }
    err = (ptq_error){0};
    *ref = ptq_onnx_load(reference, &opts, &err);
    if (!*ref) {
        fprintf(stderr, "ptq %s: --reference: %s\n", cmd, err.msg);
        return 1;
    }
    /* A float original's normalization serves its export too: both get the same tensors.
     * The images were left as scaled ([0, 1]) when none was known, so normalising now gives
     * the same bits as normalising while loading. */
    ptq_preprocess norm = {0};
    if (!l->norm_known &&
        ptq_model_normalization(reference, *ref, &norm, l->norm_source, sizeof l->norm_source)) {
        l->norm_known = true;
        l->n_mean = norm.n_mean, l->n_std = norm.n_std;
        memcpy(l->mean, norm.mean, sizeof l->mean);
        memcpy(l->std, norm.std, sizeof l->std);
        if (!normalize(l->ds, l)) {
            fprintf(stderr, "ptq %s: images have %d channels but %s gives %d means and %d "
                    "stds\n", cmd, l->ds->c, l->norm_source, l->n_mean, l->n_std);
            ptq_graph_free(*ref);
            *ref = NULL;
            return 1;
        }
    }
    return 0;
}
