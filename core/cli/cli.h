/* cli.h — the ptq command line: a table of options per command, parsed and documented
 * from that one table (usage text, validation and errors all come from it). */
#ifndef PTQ_CLI_H
#define PTQ_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cli_kind {
    CLI_FLAG,   /* bool, no value */
    CLI_STRING, /* const char * */
    CLI_INT,    /* int64_t within [min, max] */
    CLI_FLOATS, /* up to max_count floats: "--mean 0.4 0.5" or "--mean 0.4,0.5" */
};

typedef struct cli_opt {
    const char *name;    /* "--images" */
    const char *metavar; /* "FILE"; NULL for flags */
    enum cli_kind kind;
    void *dest;          /* bool *, const char **, int64_t *, float * */
    int32_t *count;      /* CLI_FLOATS: number of values read */
    int32_t max_count;   /* CLI_FLOATS */
    int64_t min, max;    /* CLI_INT */
    bool required;
    const char *help;
} cli_opt;

typedef struct cli_command {
    const char *name;     /* "eval" */
    const char *synopsis; /* "MODEL --images FILE --labels FILE [options]" */
    const char *summary;  /* one line */
    const char *details;  /* paragraph after the options, or NULL */
    const cli_opt *opts;  /* terminated by {0} */
    int32_t n_positional; /* required positional arguments */
    const char *positional_names;
    int32_t max_positional; /* more may follow, up to this many (0: exactly n_positional) */
} cli_command;

/* Parses argv (after the command name) into the option table's destinations and the
 * positional arguments.  Returns 0, or 2 after printing a usage error; on --help, prints
 * the command's usage on stdout and sets *help (the caller then exits 0). */
int cli_parse(const cli_command *cmd, int argc, char **argv, const char **positional,
              bool *help);
void cli_usage(const cli_command *cmd, FILE *out);
/* An error on stderr, "ptq COMMAND: " before each line: a pipeline's validation errors
 * come all at once, one per line. */
void cli_print_error(const char *command, const char *msg);

/* ---- model + images, shared by eval and infer (images.c) ---- */

struct ptq_graph;
struct ptq_dataset;

/* The image preprocessing flags (for PNG/JPEG folders and files) and normalization. */
typedef struct cli_image_args {
    const char *resize, *channels, *input_shape;
    bool letterbox, skip_bad;
    float scale[1], mean[16], std[16];
    int32_t n_scale, n_mean, n_std;
} cli_image_args;

#define CLI_IMAGE_OPTS(a)                                                                  \
    {"--resize", "HxW", CLI_STRING, &(a).resize, NULL, 0, 0, 0, false,                     \
     "image files: resize to H x W (bilinear, antialiased when shrinking; default: the "   \
     "model's input size when it is fixed)"},                                              \
    {"--letterbox", NULL, CLI_FLAG, &(a).letterbox, NULL, 0, 0, 0, false,                  \
     "image files: keep the aspect ratio when resizing, centre, pad with grey 114"},       \
    {"--channels", "rgb|bgr|gray", CLI_STRING, &(a).channels, NULL, 0, 0, 0, false,        \
     "image files: channel order (default: gray for a 1-channel model, else rgb)"},        \
    {"--scale", "S", CLI_FLOATS, (a).scale, &(a).n_scale, 1, 0, 0, false,                  \
     "multiply pixel values by S before normalising (default: divide 8-bit data by 255)"}, \
    {"--mean", "M..", CLI_FLOATS, (a).mean, &(a).n_mean, 16, 0, 0, false,                  \
     "per-channel mean subtracted after scaling (one value, or one per channel)"},         \
    {"--std", "S..", CLI_FLOATS, (a).std, &(a).n_std, 16, 0, 0, false,                     \
     "per-channel standard deviation to divide by"},                                       \
    {"--input-shape", "C,H,W", CLI_STRING, &(a).input_shape, NULL, 0, 0, 0, false,         \
     "fix a model's symbolic input dims (default: the images' size)"},                     \
    {"--skip-bad", NULL, CLI_FLAG, &(a).skip_bad, NULL, 0, 0, 0, false,                    \
     "warn about and skip unreadable image files (default: stop with an error)"}

/* A model and its images, loaded per the flags. */
typedef struct cli_loaded {
    struct ptq_graph *g;
    struct ptq_dataset *ds;
    float mean[16], std[16];
    int32_t n_mean, n_std;
    bool norm_known, norm_from_flags;
    char norm_source[4200]; /* "--mean/--std", the metadata or sidecar, "none known" */
    char resize_note[200];  /* what was done to image files' size, or "" */
} cli_loaded;

/* Reads `images` (IDX, .npy, an image folder or file; labels may be NULL or "folders"),
 * then imports MODEL at the images' size (a model with symbolic height and width takes
 * it from --input-shape, else from the images), then normalises the images with
 * --mean/--std, else what the model carries.  Returns 0, or 1 (2 for a bad flag) after
 * printing the error as "ptq CMD: ...". */
int cli_load_model_and_images(const char *cmd, const char *model, const char *images,
                              const char *labels, int64_t limit, const cli_image_args *a,
                              cli_loaded *out);
void cli_loaded_free(cli_loaded *l);
/* "1,2,3" or "1x2x3" into up to max positive integers (*n of them); false on anything else. */
bool cli_parse_dims(const char *s, int64_t *v, int32_t max, int32_t *n);

/* Imports `reference` (the float model a --reference compares with) at l's images' size;
 * when l knows no normalization, takes the reference's and applies it to l's images.
 * Returns 0, or 1 after printing the error. */
int cli_load_reference(const char *cmd, const char *reference, cli_loaded *l,
                       struct ptq_graph **ref);

int cmd_eval(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_ab(int argc, char **argv);

extern const cli_command cli_eval_command;
extern const cli_command cli_infer_command;
extern const cli_command cli_inspect_command;
extern const cli_command cli_run_command;
extern const cli_command cli_plugins_command;
extern const cli_command cli_ab_command;

#endif
