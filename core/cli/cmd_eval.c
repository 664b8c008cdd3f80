/* cmd_eval.c — `ptq eval`: top-1 accuracy of a float model on a labelled image set. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ptq/ptq.h"

static struct {
    const char *images, *labels;
    cli_image_args img;
    int64_t limit, batch, threads;
    bool json, profile;
} o;

static const cli_opt eval_opts[] = {
    {"--images", "FILE|DIR", CLI_STRING, &o.images, NULL, 0, 0, 0, true,
     "images: IDX (MNIST family, .gz or plain), NumPy .npy (float32 or uint8), or a folder "
     "of PNG/JPEG images (searched recursively)"},
    {"--labels", "FILE", CLI_STRING, &o.labels, NULL, 0, 0, 0, true,
     "labels: IDX or .npy, one integer per image; 'folders' for an image folder's class "
     "subfolders (sorted names give the class indices)"},
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
    "MODEL --images FILE|DIR --labels FILE|folders [--mean M..] [--std S..] [--limit N] [--batch B] [--json]",
    "Evaluate MODEL (ONNX: a float model, or a QDQ export of ptq run) on labelled images\n"
    "and print its top-1 accuracy.",
    "Normalisation: pixels are scaled to [0,1] (uint8 data is divided by 255), then\n"
    "x = (x - mean) / std per channel.  Without --mean/--std: the qcraft.normalize.mean/std\n"
    "metadata a `ptq run` export carries, else the \"mean\" and \"std\" of a MODEL.json\n"
    "beside the model (the bundled models and exports have one); the output says which\n"
    "was applied, and warns when none is known.\n"
    "`seconds` counts inference only, not reading or decoding the files.\n"
    "Image folders are resized to the model's input size unless --resize says otherwise;\n"
    "a model with symbolic height and width runs at the images' size (--input-shape fixes it).\n\n"
    "example:\n"
    "  ptq eval models/resnet20_fmnist.onnx \\\n"
    "      --images /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \\\n"
    "      --labels /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
    eval_opts,
    1,
    "MODEL",
    0,
};

int cmd_eval(int argc, char **argv) {
    const char *model = NULL;
    bool help;
    memset(&o, 0, sizeof o);
    o.batch = 256;
    int rc = cli_parse(&cli_eval_command, argc, argv, &model, &help);
    if (rc || help) return rc;
    cli_loaded l;
    if ((rc = cli_load_model_and_images("eval", model, o.images, o.labels, o.limit, &o.img, &l)))
        return rc;
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
    ptq_eval_result res;
    ptq_status st = ptq_evaluate(g, ds, o.batch, threads, o.profile ? stderr : NULL, &res, &err);
    if (st) {
        fprintf(stderr, "ptq eval: %s: %s\n", model, err.msg);
        ptq_dataset_free(ds);
        ptq_graph_free(g);
        return 1;
    }
    double ips = res.seconds > 0 ? (double)res.images / res.seconds : 0.0;
    if (o.json) {
        printf("{\"model\": \"%s\", \"images\": %" PRId64 ", \"correct\": %" PRId64
               ", \"top1\": %.6f, \"seconds\": %.6f, \"images_per_second\": %.1f, \"batch\": %" PRId64
               ", \"threads\": %d, \"normalize\": {\"mean\": [%s], \"std\": [%s], \"source\": \"%s\"}}\n",
               model, res.images, res.correct, res.top1, res.seconds, ips, o.batch, threads, mean,
               std, known ? (l.norm_from_flags ? "command line" : "model") : "none");
    } else {
        printf("model      %s\n", model);
        printf("images     %" PRId64 "  (%s)\n", res.images, o.images);
        printf("normalize  mean %s, std %s  (%s)\n", mean, std, source);
        printf("top-1      %.2f %%  (%" PRId64 " / %" PRId64 ")\n", res.top1 * 100.0, res.correct,
               res.images);
        printf("inference  %.3f s, %.0f images/s  (batch %" PRId64 ", %d threads)\n", res.seconds,
               ips, o.batch, threads);
    }
    ptq_dataset_free(ds);
    ptq_graph_free(g);
    return 0;
}
