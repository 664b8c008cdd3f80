/* cmd_eval.c — `ptq eval`: top-1 accuracy of a model on a labelled image set, and with
 * --reference its fidelity to another model (a QDQ export against its float original),
 * every output compared, labels optional. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

static struct {
    const char *images, *labels, *reference;
    cli_image_args img;
    int64_t limit, batch, threads;
    bool json, profile;
} o;

static const cli_opt eval_opts[] = {
    {"--images", "FILE|DIR", CLI_STRING, &o.images, NULL, 0, 0, 0, true,
     "images: IDX (MNIST family, .gz or plain), NumPy .npy (float32 or uint8), or a folder "
     "of PNG/JPEG images (searched recursively)"},
    {"--labels", "FILE", CLI_STRING, &o.labels, NULL, 0, 0, 0, false,
     "labels: IDX or .npy, one integer per image; 'folders' for an image folder's class "
     "subfolders (sorted names give the class indices); top-1, needed without --reference"},
    {"--reference", "MODEL", CLI_STRING, &o.reference, NULL, 0, 0, 0, false,
     "compare every output of MODEL with this model's (e.g. the float original of a QDQ "
     "export): SQNR, cosine, errors, top-1 agreement; no labels needed"},
    CLI_IMAGE_OPTS(o.img),
    {"--limit", "N", CLI_INT, &o.limit, NULL, 0, 1, INT64_C(1) << 40, false,
     "evaluate only the first N images"},
    {"--batch", "B", CLI_INT, &o.batch, NULL, 0, 1, 1 << 16, false, "batch size (default 256)"},
    {"--threads", "T", CLI_INT, &o.threads, NULL, 0, 1, 1024, false,
     "worker threads (default: $PTQ_THREADS or the number of CPUs)"},
    {"--json", NULL, CLI_FLAG, &o.json, NULL, 0, 0, 0, false,
     "print one JSON object instead of text"},
    {"--profile", NULL, CLI_FLAG, &o.profile, NULL, 0, 0, 0, false,
     "print the time spent in each node (on stderr), slowest first"},
    {0},
};

const cli_command cli_eval_command = {
    "eval",
    "MODEL --images FILE|DIR (--labels FILE|folders | --reference MODEL | both) [--mean M..]\n"
    "         [--std S..] [--limit N] [--batch B] [--json]",
    "Evaluate MODEL (ONNX: a float model, or a QDQ export of ptq run) on images: its top-1\n"
    "accuracy with labels, and with --reference how closely each of its outputs follows the\n"
    "reference model's (fidelity, labels optional).",
    "Normalisation: pixels are scaled to [0,1] (uint8 data is divided by 255), then\n"
    "x = (x - mean) / std per channel.  Without --mean/--std: the qcraft.normalize.mean/std\n"
    "metadata a `ptq run` export carries, else the \"mean\" and \"std\" of a MODEL.json\n"
    "beside the model (the bundled models and exports have one); the output says which\n"
    "was applied, and warns when none is known.\n"
    "The reference gets the same input tensors as MODEL.  Fidelity per output: SQNR\n"
    "10 log10(sum x^2 / sum (x - x_model)^2) in dB (inf: identical), cosine over the\n"
    "whole output and its mean per image, max and mean |error|, and for class scores\n"
    "([N, K], K >= 2) the share of images whose top-1 class agrees.\n"
    "`seconds` counts inference only, not reading or decoding the files.\n"
    "Image folders are resized to the model's input size unless --resize says otherwise;\n"
    "a model with symbolic height and width runs at the images' size (--input-shape fixes it).\n\n"
    "example:\n"
    "  ptq eval models/resnet20_fmnist.onnx \\\n"
    "      --images /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \\\n"
    "      --labels /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\n"
    "  ptq eval runs/w8a8/model.qdq.onnx --reference models/resnet20_fmnist.onnx \\\n"
    "      --images /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
    eval_opts,
    1,
    "MODEL",
    0,
};

/* A JSON number, null when not finite (JSON has no inf or NaN). */
static void json_num(const char *key, double v, const char *after) {
    if (isfinite(v)) printf("\"%s\": %.9g%s", key, v, after);
    else printf("\"%s\": null%s", key, after);
}

/* A JSON string: quotes, backslashes and control characters escaped (output names are
 * whatever the ONNX file says). */
static void json_str(const char *v) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if (*c == '"' || *c == '\\') printf("\\%c", *c);
        else if (*c < 0x20) printf("\\u%04x", *c);
        else putchar(*c);
    }
    putchar('"');
}

/* One JSON object: top-1 (null without labels) and, with --reference, "fidelity" in the
 * form of report.json's. */
static void print_json(const char *model, const ptq_eval_result *res, const ptq_fidelity *fid,
                       int32_t threads, const char *mean, const char *std, const char *norm) {
    const double ips = res->seconds > 0 ? (double)res->images / res->seconds : 0.0;
    printf("{\"model\": \"%s\", \"images\": %" PRId64 ", ", model,
           o.labels ? res->images : fid->images);
    if (o.labels)
        printf("\"correct\": %" PRId64 ", \"top1\": %.6f, \"seconds\": %.6f, \"images_per_second\": "
               "%.1f, ", res->correct, res->top1, res->seconds, ips);
    else
        printf("\"correct\": null, \"top1\": null, \"seconds\": %.6f, ", fid->seconds);
    printf("\"batch\": %" PRId64 ", \"threads\": %d, \"normalize\": {\"mean\": [%s], \"std\": [%s], "
           "\"source\": \"%s\"}, \"fidelity\": ", o.batch, threads, mean, std, norm);
    if (!o.reference) {
        printf("null}\n");
        return;
    }
    printf("{\"images\": %" PRId64 ", \"reference\": ", fid->images);
    json_str(o.reference);
    printf(", \"outputs\": [");
    for (int32_t k = 0; k < fid->n_outputs; k++) {
        const ptq_fidelity_output *f = &fid->outputs[k];
        char shape[160];
        printf("%s{\"name\": ", k ? ", " : "");
        json_str(f->name);
        printf(", \"shape\": \"%s\", \"class_scores\": %s, ",
               ptq_shape_str(f->ndim, f->ne, shape, sizeof shape), f->classes ? "true" : "false");
        json_num("sqnr_db", f->sqnr_db, ", ");
        printf("\"identical\": %s, ", f->sqnr_db == INFINITY ? "true" : "false");
        json_num("cosine", f->cosine, ", ");
        json_num("mean_sample_cosine", f->mean_sample_cosine, ", ");
        json_num("max_abs_err", f->max_abs_err, ", ");
        json_num("mean_abs_err", f->mean_abs_err, ", ");
        if (f->classes) json_num("top1_agreement", f->top1_agreement, ", ");
        printf("\"nonfinite_reference\": %" PRId64 ", \"nonfinite_model\": %" PRId64 "}",
               f->nonfinite_reference, f->nonfinite_model);
    }
    printf("]}}\n");
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL;
    bool help;
    memset(&o, 0, sizeof o);
    o.batch = 256;
    int rc = cli_parse(&cli_eval_command, argc, argv, &model, &help);
    if (rc || help) return rc;
    if (!o.labels && !o.reference) {
        fprintf(stderr, "ptq eval: give --labels FILE (top-1 accuracy) or --reference MODEL "
                "(fidelity to another model, no labels needed), or both\n"
                "usage: ptq eval %s\n(see 'ptq eval --help')\n", cli_eval_command.synopsis);
        return 2;
    }
    cli_loaded l;
    if ((rc = cli_load_model_and_images("eval", model, o.images, o.labels, o.limit, &o.img, &l)))
        return rc;
    ptq_graph *ref = NULL;
    if (o.reference && (rc = cli_load_reference("eval", o.reference, &l, &ref))) {
        cli_loaded_free(&l);
        return rc;
    }
    ptq_graph *g = l.g;
    ptq_dataset *ds = l.ds;
    ptq_error err = {0};
    /* The normalization applied is said either way, and warned about when unknown, since
     * a wrong one gives a plausible-looking wrong accuracy. */
    const bool known = l.norm_known;
    const char *source = l.norm_source;
    if (!known)
        fprintf(stderr, "warning: %s carries no input normalization (no %s metadata, no sidecar "
                "JSON beside it) and none was given: images are fed as scaled to [0,1]; pass "
                "--mean/--std if the model was trained otherwise\n", model, PTQ_META_NORM_MEAN);
    char mean[256] = "0", std[256] = "1";
    if (l.n_mean) ptq_format_floats(l.mean, l.n_mean, mean, sizeof mean);
    if (l.n_std) ptq_format_floats(l.std, l.n_std, std, sizeof std);
    if (l.resize_note[0]) fprintf(stderr, "resize: %s\n", l.resize_note);
    int32_t threads = o.threads ? (int32_t)o.threads : ptq_default_threads();
    ptq_eval_result res = {0};
    ptq_fidelity fid = {0};
    ptq_status st = PTQ_OK;
    if (o.labels) st = ptq_evaluate(g, ds, o.batch, threads, o.profile ? stderr : NULL, &res, &err);
    if (!st && ref) st = ptq_fidelity_evaluate(ref, g, ds, o.batch, threads, &fid, &err);
    if (st) {
        fprintf(stderr, "ptq eval: %s: %s\n", model, err.msg);
    } else if (o.json) {
        print_json(model, &res, &fid, threads, mean, std,
                   known ? (l.norm_from_flags ? "command line" : "model") : "none");
    } else {
        const int64_t images = o.labels ? res.images : fid.images;
        printf("model      %s\n", model);
        if (ref) printf("reference  %s\n", o.reference);
        printf("images     %" PRId64 "  (%s)\n", images, o.images);
        printf("normalize  mean %s, std %s  (%s)\n", mean, std, source);
        if (o.labels)
            printf("top-1      %.2f %%  (%" PRId64 " / %" PRId64 ")\n", res.top1 * 100.0, res.correct,
                   res.images);
        for (int32_t k = 0; k < fid.n_outputs; k++) {
            char line[1024];
            printf("fidelity   output '%s' %s\n", fid.outputs[k].name,
                   ptq_fidelity_output_str(&fid.outputs[k], line, sizeof line));
        }
        if (o.labels)
            printf("inference  %.3f s, %.0f images/s  (batch %" PRId64 ", %d threads)\n", res.seconds,
                   res.seconds > 0 ? (double)res.images / res.seconds : 0.0, o.batch, threads);
        else
            printf("inference  %.3f s for both models  (batch %" PRId64 ", %d threads)\n",
                   fid.seconds, o.batch, threads);
    }
    ptq_fidelity_free(&fid);
    ptq_graph_free(ref);
    cli_loaded_free(&l);
    return st ? 1 : 0;
}
