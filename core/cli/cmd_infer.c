/* cmd_infer.c — `ptq infer`: run a float model or a QDQ export on images and save its
 * outputs as .npy. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "ptq/ptq.h"

static struct {
    const char *input, *output, *all_outputs, *save_input;
    cli_image_args img;
    int64_t limit, batch, threads, repeat;
    bool profile;
} o;

static const cli_opt infer_opts[] = {
    {"--input", "FILE|DIR", CLI_STRING, &o.input, NULL, 0, 0, 0, true,
     "images: .npy (N,C,H,W or N,H,W; float32 or uint8), IDX, a PNG/JPEG file, or a folder "
     "of them (searched recursively, in path order)"},
    {"--output", "OUT.npy", CLI_STRING, &o.output, NULL, 0, 0, 0, false,
     "write the first graph output here (float32, batch first)"},
    {"--all-outputs", "DIR", CLI_STRING, &o.all_outputs, NULL, 0, 0, 0, false,
     "write every graph output as DIR/<output name>.npy, with DIR/manifest.txt"},
    CLI_IMAGE_OPTS(o.img),
    {"--save-input", "IN.npy", CLI_STRING, &o.save_input, NULL, 0, 0, 0, false,
     "also write the input tensor as the model got it (decoded, resized, normalised; "
     "float32 N,C,H,W): the same bits to feed another runtime"},
    {"--repeat", "R", CLI_INT, &o.repeat, NULL, 0, 1, 10000, false,
     "run the whole input R times and print the median inference time (throughput)"},
    {"--profile", NULL, CLI_FLAG, &o.profile, NULL, 0, 0, 0, false,
     "print the time spent in each kernel call, summed over every pass (first lane)"},
    {"--limit", "N", CLI_INT, &o.limit, NULL, 0, 1, INT64_C(1) << 40, false,
     "only the first N images"},
    {"--batch", "B", CLI_INT, &o.batch, NULL, 0, 1, 1 << 16, false, "batch size (default 64)"},
    {"--threads", "T", CLI_INT, &o.threads, NULL, 0, 1, 1024, false,
     "worker threads (default: $PTQ_THREADS or the number of CPUs)"},
    {0},
};

const cli_command cli_infer_command = {
    "infer",
    "MODEL --input FILE|DIR --output OUT.npy [--all-outputs DIR] [--batch N] [--threads N]\n"
    "       [--save-input IN.npy] [--repeat R] [--profile] [--input-shape C,H,W] [--resize HxW] [--letterbox] [--channels rgb|bgr|gray]\n"
    "       [--scale S] [--mean a,b,c --std a,b,c] [--skip-bad]",
    "Run MODEL (ONNX: a float model, or a QDQ export of ptq run) on images and write its\n"
    "outputs as float32 .npy files.",
    "Preprocessing of PNG/JPEG images: decoded to 8 bits (grey replicated for an RGB model,\n"
    "alpha dropped, 16-bit scaled), resized to the model's input size unless --resize says\n"
    "otherwise, divided by 255 (or multiplied by --scale), then x = (x - mean) / std.\n"
    "Normalization without --mean/--std: the qcraft.normalize.* metadata of a ptq export,\n"
    "else the \"mean\" and \"std\" of MODEL.json beside the model, else none; the output says\n"
    "which.  A model with symbolic height and width runs at the images' size (all images one\n"
    "size, or --resize), or at --input-shape.  Outputs are written atomically; the manifest\n"
    "of --all-outputs lists each output's file and shape, then the input files in order.\n\n"
    "examples:\n"
    "  ptq infer models/resnet20_fmnist.onnx --input images/ --output logits.npy\n"
    "  ptq infer yolo.onnx --input street.jpg --letterbox --resize 640x640 --all-outputs out/",
    infer_opts,
    1,
    "MODEL",
    0,
};

/* An output's name as a file name: letters, digits, '.', '-', '_'; the rest '_'. */
static void file_name(const char *name, char *buf, size_t size) {
    size_t n = 0;
    for (const char *c = name; *c && n + 1 < size; c++) {
        const bool keep = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                          (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || (*c == '.' && n);
        buf[n++] = keep ? *c : '_';
    }
    if (!n) buf[n++] = '_';
    buf[n] = '\0';
}

/* One graph output gathered over all batches. */
typedef struct gathered {
    int32_t id, ndim;
    int64_t ne[PTQ_MAX_DIMS];
    float *data;
    int64_t per_sample; /* floats per sample when batch-leading, else the whole output */
    bool batched;
} gathered;

/* Outputs not led by the batch dimension are computed in one run over all images. */
/* Monotonic wall-clock seconds. */
static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs g on every image of ds, `batch` at a time, `repeat` times (the outputs of the last
 * pass are kept); *median_seconds: the median over the passes of the time spent in
 * ptq_exec_run, decoding and copying excluded. */
static int run_all(const ptq_graph *g, const ptq_dataset *ds, int64_t batch, int32_t threads,
                   int64_t repeat, gathered *outs, int32_t n_out, double *median_seconds,
                   double *fastest_seconds) {
    /* A model exported with a fixed batch (often 1) runs batches of exactly that size, the
     * last one padded with zeros; its outputs are batch-led when they lead with that size. */
    const int64_t fixed = g->values[g->inputs[0]].ne[0] != PTQ_DIM_BATCH
                              ? g->values[g->inputs[0]].ne[0] : 0;
    bool all_batched = true;
    for (int32_t k = 0; k < n_out; k++) {
        const ptq_value *v = &g->values[g->outputs[k]];
        outs[k].id = g->outputs[k];
        outs[k].batched = v->ndim > 0 && (fixed ? v->ne[0] == fixed : v->ne[0] == PTQ_DIM_BATCH);
        all_batched &= outs[k].batched;
        if (v->dtype != PTQ_DTYPE_F32) {
            fprintf(stderr, "ptq infer: output '%s' is %s; only float32 outputs are written\n",
                    v->name, ptq_dtype_name(v->dtype));
            return 1;
        }
        if (fixed && !outs[k].batched && ds->n > fixed) {
            fprintf(stderr, "ptq infer: the model runs batches of %" PRId64 " and its output "
                    "'%s' does not lead with that batch: give at most %" PRId64 " images "
                    "(--limit)\n", fixed, v->name, fixed);
            return 1;
        }
    }
    if (fixed) batch = fixed;
    else if (!all_batched) batch = ds->n;
    else batch = batch < ds->n ? batch : ds->n;
    ptq_error err = {0};
    ptq_exec_options eo = ptq_exec_options_default();
    eo.max_batch = batch;
    eo.threads = threads;
    eo.profile = o.profile;
    ptq_exec *ex = ptq_exec_new(g, &eo, &err);
    if (!ex) {
        fprintf(stderr, "ptq infer: %s\n", err.msg);
        return 1;
    }
    const int64_t per_image = (int64_t)ds->c * ds->h * ds->w;
    int rc = 0;
    double *pass_seconds = calloc((size_t)repeat, sizeof(double));
    if (!pass_seconds) {
        fprintf(stderr, "ptq infer: out of memory\n");
        ptq_exec_free(ex);
        return 1;
    }
    float *tail = NULL; /* a fixed-batch model's last partial batch, zero-padded */
    for (int64_t r = 0; r < repeat && !rc; r++)
    for (int64_t at = 0; at < ds->n && !rc; at += batch) {
        const int64_t valid = ds->n - at < batch ? ds->n - at : batch;
        int64_t run = valid;
        const float *src = ds->images + at * per_image;
        if (fixed && valid < fixed) {
            if (!tail && !(tail = calloc((size_t)(fixed * per_image), sizeof *tail))) {
                fprintf(stderr, "ptq infer: out of memory\n");
                rc = 1;
                break;
            }
            memcpy(tail, src, (size_t)(valid * per_image) * sizeof *tail);
            src = tail;
            run = fixed;
        }
        ptq_exec_bind(ex, g->inputs[0], src);
        const double t0 = now_seconds();
        if (ptq_exec_run(ex, run, &err)) {
            fprintf(stderr, "ptq infer: %s\n", err.msg);
            rc = 1;
            break;
        }
        pass_seconds[r] += now_seconds() - t0;
        for (int32_t k = 0; k < n_out; k++) {
            gathered *go = &outs[k];
            int64_t ne[PTQ_MAX_DIMS];
            int32_t nd = 0;
            ptq_exec_shape(ex, go->id, &nd, ne);
            int64_t numel = 1;
            for (int32_t d = 0; d < nd; d++) numel *= ne[d];
            if (!go->data) {
                go->ndim = nd;
                memcpy(go->ne, ne, sizeof go->ne);
                go->per_sample = go->batched ? numel / (run ? run : 1) : numel;
                if (go->batched) go->ne[0] = ds->n;
                const int64_t total = go->batched ? go->per_sample * ds->n : numel;
                go->data = malloc((size_t)(total ? total : 1) * sizeof(float));
                if (!go->data) {
                    fprintf(stderr, "ptq infer: out of memory for output '%s'\n",
                            g->values[go->id].name);
                    rc = 1;
                    break;
                }
            }
            memcpy(go->data + (go->batched ? at * go->per_sample : 0), ptq_exec_data(ex, go->id),
                   (size_t)(go->batched ? valid * go->per_sample : numel) * sizeof(float));
        }
    }
    free(tail);
    if (o.profile && !rc) ptq_exec_profile(ex, stderr);
    qsort(pass_seconds, (size_t)repeat, sizeof(double), cmp_double);
    *median_seconds = pass_seconds[repeat / 2];
    *fastest_seconds = pass_seconds[0];
    free(pass_seconds);
    ptq_exec_free(ex);
    return rc;
}

static int write_outputs(const ptq_graph *g, const gathered *outs, int32_t n_out,
                         const ptq_dataset *ds) {
    ptq_error err = {0};
    if (o.output && ptq_npy_write_f32(o.output, outs[0].ndim, outs[0].ne, outs[0].data, &err)) {
        fprintf(stderr, "ptq infer: %s\n", err.msg);
        return 1;
    }
    if (!o.all_outputs) return 0;
    if (mkdir(o.all_outputs, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "ptq infer: %s: cannot create the folder: %s\n", o.all_outputs,
                strerror(errno));
        return 1;
    }
    const size_t dlen = strlen(o.all_outputs);
    char *path = malloc(dlen + 300), *manifest = NULL;
    size_t mlen = 0;
    FILE *mf = open_memstream(&manifest, &mlen);
    if (!path || !mf) {
        free(path);
        if (mf) fclose(mf);
        free(manifest);
        fprintf(stderr, "ptq infer: out of memory\n");
        return 1;
    }
    int rc = 0;
    char (*names)[200] = calloc((size_t)n_out, sizeof *names);
    for (int32_t k = 0; names && k < n_out && !rc; k++) {
        char base[180];
        file_name(g->values[outs[k].id].name, base, sizeof base);
        snprintf(names[k], sizeof names[k], "%s", base);
        /* Two names that sanitise alike get _2, _3... */
        for (int32_t dup = 2;; dup++) {
            bool clash = false;
            for (int32_t j = 0; j < k; j++) clash |= !strcmp(names[j], names[k]);
            if (!clash) break;
            snprintf(names[k], sizeof names[k], "%s_%d", base, dup);
        }
        snprintf(path, dlen + 300, "%s/%s.npy", o.all_outputs, names[k]);
        if (ptq_npy_write_f32(path, outs[k].ndim, outs[k].ne, outs[k].data, &err)) {
            fprintf(stderr, "ptq infer: %s\n", err.msg);
            rc = 1;
            break;
        }
        char shape[160];
        fprintf(mf, "output %s.npy %s %s\n", names[k],
                ptq_shape_str(outs[k].ndim, outs[k].ne, shape, sizeof shape),
                g->values[outs[k].id].name);
    }
    if (!names) rc = 1;
    for (int64_t i = 0; !rc && i < ds->n; i++)
        fprintf(mf, "input %" PRId64 " %s\n", i, ds->files ? ds->files[i] : o.input);
    fclose(mf);
    if (!rc) {
        snprintf(path, dlen + 300, "%s/manifest.txt", o.all_outputs);
        const size_t tlen = strlen(path) + 8;
        char *tmp = malloc(tlen);
        FILE *f = NULL;
        if (tmp) {
            snprintf(tmp, tlen, "%s.tmp", path);
            f = fopen(tmp, "w");
        }
        bool ok = f && fwrite(manifest, 1, mlen, f) == mlen;
        ok &= f && fclose(f) == 0;
        if (!ok || rename(tmp, path) != 0) {
            fprintf(stderr, "ptq infer: %s: cannot write: %s\n", path,
                    tmp ? strerror(errno) : "out of memory");
            if (tmp) remove(tmp);
            rc = 1;
        }
        free(tmp);
    }
    free(names);
    free(manifest);
    free(path);
    return rc;
}

int cmd_infer(int argc, char **argv) {
    const char *model = NULL;
    bool help;
    memset(&o, 0, sizeof o);
    o.batch = 64;
    int rc = cli_parse(&cli_infer_command, argc, argv, &model, &help);
    if (rc || help) return rc;
    if (!o.output && !o.all_outputs) {
        fprintf(stderr, "ptq infer: give --output OUT.npy, --all-outputs DIR, or both\n");
        return 2;
    }
    cli_loaded l;
    if ((rc = cli_load_model_and_images("infer", model, o.input, NULL, o.limit, &o.img, &l)))
        return rc;
    ptq_error err = {0};
    if (ptq_dataset_fits_model(l.g, l.ds, false, &err)) {
        fprintf(stderr, "ptq infer: %s: %s%s\n", o.input, err.msg,
                ptq_is_image_source(o.input) ? " (--resize sets the images' size)" : "");
        cli_loaded_free(&l);
        return 1;
    }
    char mean[256] = "0", std[256] = "1", shape[160];
    if (l.n_mean) ptq_format_floats(l.mean, l.n_mean, mean, sizeof mean);
    if (l.n_std) ptq_format_floats(l.std, l.n_std, std, sizeof std);
    const ptq_value *in = &l.g->values[l.g->inputs[0]];
    fprintf(stderr, "model      %s: input '%s' %s\n", model, in->name,
            ptq_shape_str(in->ndim, in->ne, shape, sizeof shape));
    fprintf(stderr, "images     %" PRId64 " of %d x %d x %d (%s)%s%s\n", l.ds->n, l.ds->c,
            l.ds->h, l.ds->w, o.input, l.resize_note[0] ? ", resize: " : "", l.resize_note);
    fprintf(stderr, "normalize  mean %s, std %s (%s)\n", mean, std, l.norm_source);
    const int32_t n_out = l.g->n_outputs;
    gathered *outs = calloc((size_t)(n_out ? n_out : 1), sizeof *outs);
    const int32_t threads = o.threads ? (int32_t)o.threads : ptq_default_threads();
    if (o.save_input) {
        const int64_t ne[4] = {l.ds->n, l.ds->c, l.ds->h, l.ds->w};
        if (ptq_npy_write_f32(o.save_input, 4, ne, l.ds->images, &err)) {
            fprintf(stderr, "ptq infer: %s\n", err.msg);
            rc = 1;
        }
    }
    double seconds = 0.0, fastest = 0.0;
    const int64_t repeat = o.repeat ? o.repeat : 1;
    if (!rc) rc = outs ? run_all(l.g, l.ds, o.batch, threads, repeat, outs, n_out, &seconds, &fastest) : 1;
    if (!rc) rc = write_outputs(l.g, outs, n_out, l.ds);
    /* The fastest pass: on a loaded machine, the best estimate of the uncontended speed. */
    char fastest_note[64] = "";
    if (repeat > 1) snprintf(fastest_note, sizeof fastest_note, "; fastest pass %.4f s", fastest);
    if (!rc)
        fprintf(stderr, "inference  %.4f s%s, %.1f images/s  (batch %" PRId64 ", %d threads%s)\n",
                seconds, repeat > 1 ? " (median of the passes)" : "",
                seconds > 0 ? (double)l.ds->n / seconds : 0.0, o.batch, threads, fastest_note);
    if (!rc) {
        if (o.output)
            fprintf(stderr, "wrote      %s: '%s' %s\n", o.output, l.g->values[outs[0].id].name,
                    ptq_shape_str(outs[0].ndim, outs[0].ne, shape, sizeof shape));
        if (o.all_outputs)
            fprintf(stderr, "wrote      %s/: %d output%s and manifest.txt\n", o.all_outputs, n_out,
                    n_out == 1 ? "" : "s");
    }
    for (int32_t k = 0; outs && k < n_out; k++) free(outs[k].data);
    free(outs);
    cli_loaded_free(&l);
    return rc;
}
