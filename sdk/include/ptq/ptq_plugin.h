/*
 * ptq_plugin.h — the qcraft plugin ABI.  A method plugin (AdaRound, DFQ, yours) is a
 * shared object that includes only the SDK headers and exports one function:
 *
 *     PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void);
 *
 * returning a pointer to a static descriptor: the ABI version it was built against, its
 * name and version, and its passes.  Each pass declares a static table of typed
 * parameters (from which `ptq plugins` prints help and the YAML loader validates a
 * pipeline before anything runs), the session artifacts it reads and writes, and `run`.
 *
 * The plugin never links against the core: everything it can do to a session arrives as
 * the ptq_host function table handed to `init` and then to every `run` (build with
 * -Wl,-z,defs so a direct call into the core fails to link).  Rationale: the boundary
 * enforces itself, and the core stays free to change its internals.
 *
 * Minimal plugin (see sdk/template/ for a complete, commented one):
 *
 *     #include <ptq/ptq_plugin.h>
 *     typedef struct { int64_t iterations; double lr; } my_params;
 *     static const ptq_param_def my_param_defs[] = {
 *         {"iterations", PTQ_PARAM_INT, 0, offsetof(my_params, iterations), 1, 1e6, 1000,
 *          NULL, NULL, "optimisation steps"},
 *         {"lr", PTQ_PARAM_FLOAT, 0, offsetof(my_params, lr), 0, 1, 1e-3, NULL, NULL,
 *          "learning rate"},
 *         {0}};
 *     static ptq_status my_run(const ptq_host *host, ptq_session *s, const void *params) {
 *         const my_params *p = params;
 *         host->log(s, PTQ_LOG_INFO, "running %lld iterations", (long long)p->iterations);
 *         return PTQ_OK;
 *     }
 *     static const char *const my_reads[] = {"quant.weights", NULL};
 *     static const ptq_pass_def my_pass = {sizeof(ptq_pass_def), "mine.tune", "tunes",
 *         my_param_defs, sizeof(my_params), my_reads, NULL, NULL, my_run};
 *     static const ptq_pass_def *const my_passes[] = {&my_pass, NULL};
 *     static const ptq_plugin_desc desc = {PTQ_VERSION_INIT, sizeof(ptq_plugin_desc),
 *         PTQ_ABI_FINGERPRINT, "mine", "0.1.0", "my method", NULL, NULL, my_passes};
 *     PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &desc; }
 *
 * ABI rules: fixed-width types only; every struct that crosses the boundary carries its
 * size or sits behind a versioned descriptor; the host table and the constants only grow
 * by appending (new behaviour gets new names, never a changed meaning).  The host refuses
 * a plugin whose ABI major version or fingerprint differs from its own, naming both.
 *
 * Threading: the host calls init, run and deinit from one thread.  Ownership is stated
 * at each pointer; "borrowed" means valid until the call returns unless said otherwise.
 */
#ifndef PTQ_PLUGIN_H
#define PTQ_PLUGIN_H

#include "ptq/ptq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define PTQ_PLUGIN_EXPORT __declspec(dllexport)
#else
#define PTQ_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Name of the one symbol the host looks up in a plugin. */
#define PTQ_PLUGIN_ENTRY_NAME "ptq_plugin_entry"

/* ----------------------------------------------------------------- handles ---- */

/* One run of one pipeline (the host's; opaque to plugins).  Valid during run(). */
typedef struct ptq_session ptq_session;
/* A planned forward run over (part of) the float or the quantized model. */
typedef struct ptq_run ptq_run;
/* A planned differentiable run (since 0.8): forward keeping every value, backward from
 * the plugin's own loss gradients. */
typedef struct ptq_grad_run ptq_grad_run;

/* --------------------------------------------------------------- parameters ---- */

typedef uint32_t ptq_param_type;
#define PTQ_PARAM_BOOL 1   /* int32_t in the params struct: 0 or 1 */
#define PTQ_PARAM_INT 2    /* int64_t */
#define PTQ_PARAM_FLOAT 3  /* double */
#define PTQ_PARAM_STRING 4 /* const char *, owned by the host, valid until the session ends */
#define PTQ_PARAM_ENUM 5   /* int32_t: index into `choices` */

#define PTQ_PARAM_REQUIRED 1u /* no default: the pipeline must give a value */

/* One parameter of a pass.  Tables end with an all-zero entry ({0}).  Parameter names
 * are stable: never rename or reuse one. */
typedef struct ptq_param_def {
    const char *name;          /* YAML key, [a-z0-9_]+ */
    ptq_param_type type;
    uint32_t flags;            /* PTQ_PARAM_* */
    size_t offset;             /* offsetof(the pass's params struct, field) */
    double min, max;           /* INT and FLOAT: inclusive range */
    double def;                /* default for BOOL, INT, FLOAT, ENUM (the index) */
    const char *def_string;    /* default for STRING (may be NULL: empty) */
    const char *const *choices; /* ENUM: NULL-terminated names */
    const char *help;          /* one line */
} ptq_param_def;

/* ------------------------------------------------------------------- passes ---- */

/* Artifacts are named results in the session that passes leave for later passes.  The
 * host provides these itself:
 *   "calib.data"         calibration images (when the pipeline configures a dataset)
 *   "calib.labels"       their labels (since 0.8: when the dataset names a labels file)
 *   "graph.bn_folded"    BatchNormalization folded into convolutions, statistics kept
 *   "quant.weights"      every weight quantizer has a scale and zero point
 *   "quant.activations"  every activation quantizer has a scale and zero point
 * and these name results of methods, so passes can say what they make stale:
 *   "quant.weights.tuned"      weight scales set by a search or learning (not an observer)
 *   "quant.activations.tuned"  activation scales set by a search or learning
 *   "quant.rounding"           learned weight rounding (AdaRound, NWQ, ...)
 *   "graph.bias_corrected"     biases corrected for the quantization error (DFQ)
 * Third-party names take the plugin's prefix ("mine.groups").
 *
 * The pipeline inserts the host's own passes (core.fold_bn, core.calibrate) where the
 * declared reads need them, and refuses a pipeline in which a pass reads something no
 * earlier pass writes.
 *
 * Invalidation (since 0.4): a pass lists in `invalidates` the artifacts whose values no
 * longer hold once it has run, because it changes what they were computed from: a pass
 * that rewrites weights invalidates "quant.weights" (ranges of the old weights) and
 * "quant.rounding" (rounding learned for them); one that changes what a layer outputs
 * invalidates "quant.activations".  Before anything runs, the pipeline then
 *   - refuses the file when a listed (explicit) earlier pass produced the artifact: its
 *     result would be silently thrown away or, worse, applied to the wrong weights (e.g.
 *     adaround.reconstruct then dfq.equalize; dfq.correct_bias then dfq.equalize), naming
 *     both passes and the order that works;
 *   - when only the host's implicit core.calibrate produced it, recomputes it: the
 *     artifact is dropped and core.calibrate is inserted again before the next pass that
 *     reads it (or at the end), with a note saying why.
 * A pass that does not declare what it changes is caught at run time where the host can
 * see it (weights changed under calibrated quantizers: a warning naming the pass). */

typedef struct ptq_host ptq_host;

typedef struct ptq_pass_def {
    uint32_t struct_size;           /* sizeof(ptq_pass_def) as the plugin compiled it */
    const char *name;               /* "plugin.pass": the plugin's name, a dot, [a-z0-9_]+ */
    const char *summary;            /* one line */
    const ptq_param_def *params;    /* NULL or a {0}-terminated table */
    size_t params_size;             /* sizeof the struct the table's offsets point into */
    const char *const *reads;       /* NULL-terminated artifacts required, or NULL */
    const char *const *reads_optional; /* used if present, or NULL */
    const char *const *writes;      /* NULL-terminated artifacts produced, or NULL */
    /* Runs the pass.  params points at a params_size struct the host filled from the
     * pipeline (defaults made explicit); borrowed for the call.  On failure return a
     * negative status after host->error() has recorded what went wrong. */
    ptq_status (*run)(const ptq_host *host, ptq_session *s, const void *params);

    /* ---- since 0.4 (read only when struct_size covers it: PTQ_PASS_HAS) ---- */
    const char *const *invalidates; /* NULL-terminated artifacts made stale, or NULL */
} ptq_pass_def;

/* The size of ptq_pass_def in its 0.1 layout (up to `run`): the least struct_size the
 * host accepts, and what the fingerprint folds in, so appending members keeps plugins
 * built against older minor versions loadable. */
#define PTQ_PASS_DEF_SIZE_0_1 (offsetof(ptq_pass_def, run) + sizeof(((ptq_pass_def *)0)->run))

/* Whether pass definition d has a member added in a later minor version. */
#define PTQ_PASS_HAS(d, member)                                                            \
    ((d)->struct_size >= offsetof(ptq_pass_def, member) + sizeof((d)->member))

/* ------------------------------------------------------------------ plugins ---- */

/* sizeof of the ABI's key structs folded into one number: a plugin compiled with a
 * different layout (compiler, packing, a mismatched header) is refused at load. */
#define PTQ_ABI_FINGERPRINT                                                                \
    ((uint32_t)(sizeof(ptq_tensor_view) * 1000003u + sizeof(ptq_param_def) * 10007u +      \
                PTQ_PASS_DEF_SIZE_0_1 * 101u + sizeof(void *)))

typedef struct ptq_plugin_desc {
    ptq_version abi;          /* PTQ_VERSION_INIT: the SDK this plugin was built against */
    uint32_t struct_size;     /* sizeof(ptq_plugin_desc) */
    uint32_t fingerprint;     /* PTQ_ABI_FINGERPRINT */
    const char *name;         /* [a-z0-9_]+, unique among loaded plugins */
    const char *version;      /* the plugin's own version, e.g. "0.1.0" */
    const char *summary;      /* one line */
    /* Optional.  Called once after loading, before any run.  A failure (negative
     * status) unloads the plugin with the message given to host->error(NULL, ...). */
    ptq_status (*init)(const ptq_host *host);
    /* Optional.  Called once before unloading. */
    void (*deinit)(void);
    const ptq_pass_def *const *passes; /* NULL-terminated */
} ptq_plugin_desc;

typedef const ptq_plugin_desc *(*ptq_plugin_entry_fn)(void);

/* The entry point every plugin defines (declared here so its signature is checked). */
PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void);

/* ---------------------------------------------------------------- the host ---- */

#define PTQ_LOG_ERROR 0
#define PTQ_LOG_WARN 1
#define PTQ_LOG_INFO 2
#define PTQ_LOG_DEBUG 3

/* Which model a run or a view refers to. */
#define PTQ_MODEL_FLOAT 0 /* the float model after the host's rewrites (BN folded) */
#define PTQ_MODEL_QUANT 1 /* the same with every quantizer applied (fake quantization) */

/* Description of one node, as far as passes need it. */
typedef struct ptq_node_info {
    uint32_t struct_size;
    ptq_op op;
    int32_t n_inputs, n_outputs;
    int32_t inputs[8];      /* value ids (first 8), -1 for an omitted optional input */
    int32_t outputs[4];
    int64_t group;          /* CONV (and CONV_TRANSPOSE since 0.10) */
    int32_t n_spatial;      /* CONV, CONV_TRANSPOSE, pools: 1 or 2 */
    int32_t trans_b;        /* GEMM (since 0.2): 1 when B is stored [N, K], 0 for [K, N] */
    int64_t kernel[2], stride[2], dilation[2], pad_begin[2], pad_end[2];
    float clip_min, clip_max; /* CLIP (and fused ReLU6) */
} ptq_node_info;

/* A quantizer's grid.  scale and zero_point are owned by the session; a pass may write
 * them in place (then call quantizer_changed).  Dequantized value: (q - zero_point) *
 * scale, q clamped to [qmin, qmax]. */
typedef struct ptq_quant_view {
    uint32_t struct_size;
    int32_t value;          /* the graph value it quantizes */
    int32_t is_weight;      /* 1 for a weight (constant), 0 for an activation */
    int32_t bits;
    int32_t qmin, qmax;
    int32_t axis;           /* -1 per tensor, else the channel axis of the value */
    int64_t n;              /* number of scales: 1 or the channel count */
    float *scale;
    int32_t *zero_point;
    int32_t calibrated;     /* scale and zero_point hold meaningful values */
} ptq_quant_view;

/* A rounding function for one quantizer: the extension point of AdaRound, NWQ and
 * AQuant.  The quantizer computes v = x / scale (per element, with its channel's scale),
 * calls forward to turn v into an integer-valued float, then adds the zero point and
 * clamps.  `index` is the element's position in the quantized tensor (C order), so a
 * plugin can keep per-element state.  The default is round-half-to-even, as ONNX
 * QuantizeLinear does. */
typedef struct ptq_rounding {
    uint32_t struct_size;
    const char *name;
    void (*forward)(void *state, const float *v, float *out, int64_t n, int64_t index);
    /* d out / d v for the backward pass (straight-through when NULL); later ABI minor
     * versions add the gradient of the state. */
    void (*backward)(void *state, const float *v, const float *grad_out, float *grad_v,
                     int64_t n, int64_t index);
    void (*destroy)(void *state); /* frees state when the quantizer drops it; may be NULL */
    /* ---- since 0.3 ---- */
    /* The gradient of the state, for learned rounding (AdaRound's V; since 0.7 also on
     * activation quantizers, AQuant's borders, with `index` the element's flat position
     * in the batch's tensor, so the channel is index / (H * W) % C): grad_out[i] is
     * d loss / d out[i] for the n elements from `index` on, where out is what forward
     * returned for v (the host passes 0 where the zero point and clamp cut the element
     * off the grid).  Accumulate it into the state's own gradient buffer; the plugin's
     * step hook (ptq_recon_options.step) applies it.  NULL: the state is not learned
     * (a weight whose rounding has no backward_state keeps its value during
     * reconstruction). */
    void (*backward_state)(void *state, const float *v, const float *grad_out, int64_t n,
                           int64_t index);
} ptq_rounding;

/* ---------------------------------------------------- reconstruction (0.3) ---- */

/* Which model a reconstruction unit's input cache comes from (ptq_recon_options). */
#define PTQ_RECON_ACT_QUANT 1  /* activation quantizers on (inside the unit and upstream) */
#define PTQ_RECON_ACT_FLOAT 0  /* every activation float: weights-only (BRECQ's weight phase) */

/* One call of host->reconstruct: optimise the learnable quantizer state of a unit (a
 * set of nodes: one layer, a block, a group of blocks, the whole network) so that its
 * output on the calibration images matches the float model's.  The engine caches the
 * unit's inputs from the quantized model as it stands (earlier units already
 * finished) and the float model's outputs, then for t = 0..iterations-1: draws a batch
 * (uniform, with replacement), fake-quantizes the unit's weights through their rounding
 * functions, runs the unit forward, takes the loss
 *     L_rec = mean over (batch, spatial positions) of sum over channels |y - y_float|^p
 * backpropagates it (straight-through through activation quantizers), hands each
 * weight's gradient to its rounding's backward_state, calls `step` (where the plugin
 * adds its own terms and steps its optimizer), and steps the activation scales when
 * act_lr > 0.
 *
 * Learned activation rounding (since 0.7): an activation quantizer whose rounding has a
 * backward_state is learned by the unit that reads it.  When one sits on the unit's
 * input, the engine caches the value before that quantizer and runs the quantizer
 * inside the unit (its scale stays as it is; QDrop's mixing there takes the float
 * model's value), so its rounding sees the weights that read it; quantizers inside the
 * unit are run there anyway.  Each step their backward_state gets d loss / d rounding
 * output (elements a QDrop mask kept float give 0). */
typedef struct ptq_recon_options {
    uint32_t struct_size;      /* sizeof(ptq_recon_options) */
    const int32_t *nodes;      /* node ids of the unit (any order); borrowed */
    int32_t n_nodes;
    int32_t activations;       /* PTQ_RECON_ACT_QUANT or PTQ_RECON_ACT_FLOAT */
    int64_t iterations;
    int64_t batch;             /* samples per step (32) */
    int64_t images;            /* calibration images to cache, 0 = all */
    double loss_p;             /* exponent p of L_rec (2) */
    /* QDrop: each element of the unit's input and of every activation quantizer's
     * output inside the unit keeps its float value with this probability (0.5 in QDrop,
     * 0 = always quantized).  Only with PTQ_RECON_ACT_QUANT. */
    double drop_prob;
    /* > 0: also learn the scales of the activation quantizers inside the unit (LSQ),
     * Adam at this learning rate with cosine decay to 0; the learned scales are kept. */
    double act_lr;
    int32_t act_grad_scale;    /* 1: LSQ's gradient scaling 1/sqrt(numel * qmax) (QDrop) */
    int32_t reserved;
    const char *label;         /* names the unit in progress lines and errors */
    void *user;                /* passed to step */
    /* Called every iteration after the backward pass: add the plugin's loss terms'
     * gradients to its state gradients, step its optimizer, zero its gradients.
     * Returns the value of its own loss terms (added to the reported loss), or NaN to
     * stop with an error.  t counts from 0; total is `iterations`.  May be NULL. */
    double (*step)(void *user, int64_t t, int64_t total);

    /* ---- since 0.4 (the host reads them when struct_size covers them) ---- */
    int32_t unit_index, unit_count; /* this unit's place among the pass's units, 1-based,
                                     * for progress ("unit 3 of 11"); 0 when not given */

    /* ---- since 0.6: network-wise reconstruction (NWQ) ---- */
    /* Checkpoints: values (ids as the host numbers them) produced inside the unit at
     * which L_rec is taken, the loss being its sum over them, in place of the unit's
     * outputs: NWQ's activation regularisation over a unit that is the whole network.
     * Where a checkpoint has an activation quantizer inside the unit, its quantized
     * value is compared with the float one.  NULL: the unit's outputs (as before). */
    const int32_t *checkpoints;
    int32_t n_checkpoints;
    /* An extra term on the unit's graph outputs (the logits), times logits_weight:
     * PTQ_RECON_LOGITS_MSE is L_rec with p = 2 on them; PTQ_RECON_LOGITS_KL is
     * KL(softmax(float) || softmax(quant)) over axis 1, mean over the batch ([batch,
     * classes] outputs only). */
    int32_t logits_loss;
    double logits_weight;
    /* Per-iteration mixing probability: when set, called before iteration t's forward;
     * its value (in [0, 1)) replaces drop_prob for that iteration (NWQ's AMixup: 0.5
     * falling linearly to 0).  Only with PTQ_RECON_ACT_QUANT. */
    double (*drop_at)(void *user, int64_t t, int64_t total);
    /* 0: the drop probability applies at every activation quantizer and the unit's
     * input (QDrop).  1: it applies at the checkpoints instead: each element of a
     * checkpoint's quantized value is replaced by the float model's (its target) with
     * that probability before the rest of the unit reads it, and passes no gradient
     * back (NWQ's mixed-target variant of AMixup). */
    int32_t mix_checkpoints;
    /* The float targets: PTQ_RECON_TARGETS_AUTO caches them for every calibration image
     * when they fit in cache_limit_mb (0: 1024) and otherwise computes them for each
     * batch from the float model (bounded memory at the cost of one float forward per
     * step); _CACHE and _RECOMPUTE force one way. */
    int32_t targets;
    int64_t cache_limit_mb;
    /* Out, optional (n_checkpoints doubles, borrowed): each checkpoint's L_rec over the
     * last 1 % of the steps, for a loss-along-depth report. */
    double *checkpoint_loss;
} ptq_recon_options;

#define PTQ_RECON_LOGITS_NONE 0
#define PTQ_RECON_LOGITS_MSE 1
#define PTQ_RECON_LOGITS_KL 2

#define PTQ_RECON_TARGETS_AUTO 0
#define PTQ_RECON_TARGETS_CACHE 1
#define PTQ_RECON_TARGETS_RECOMPUTE 2

/* The size of ptq_recon_options up to the 0.4 members: the least struct_size the host
 * accepts (members after struct_size are read as zero). */
#define PTQ_RECON_OPTIONS_SIZE_0_4                                                         \
    (offsetof(ptq_recon_options, unit_count) + sizeof(((ptq_recon_options *)0)->unit_count))

/* ------------------------------------------------ differentiable runs (0.8) ---- */

/* A run of (part of) the float or the quantized model that can be differentiated: the
 * plugin writes the subset's inputs, runs it forward (every value it reads or writes is
 * kept), computes its own loss on any of those values, writes d loss / d value into
 * their gradient buffers, and runs it backward to get the gradient with respect to the
 * inputs it asked for (a graph input: data synthesis, adversarial or sensitivity
 * analysis) and to the constants it named (weights: distillation, fine-tuning).
 *
 *     int32_t in = graph input, logits = graph output;
 *     ptq_grad_run_options o = {sizeof o, PTQ_MODEL_FLOAT, NULL, 0, 64, &in, 1, NULL, 0};
 *     ptq_grad_run *r = host->grad_run_new(s, &o);
 *     memcpy(host->grad_run_input(r, in), images, batch * sample * sizeof(float));
 *     host->grad_run_forward(r, batch);
 *     const float *y = host->grad_run_value(r, logits);
 *     float *dy = host->grad_run_seed(r, logits);    -- zeroed by the forward
 *     ... dy[i] = d loss / d y[i] ...                 (seed any number of values)
 *     host->grad_run_backward(r, batch);
 *     const float *dx = host->grad_run_gradient(r, in);
 *
 * Gradients follow the op table's backward passes (docs/PLUGINS.md lists them; a subset
 * with an op that has none is refused at grad_run_new, naming the node).  In the
 * quantized model the activation quantizers pass the gradient straight through inside
 * their grid and their rounding functions' backward where they have one. */
typedef struct ptq_grad_run_options {
    uint32_t struct_size;       /* sizeof(ptq_grad_run_options) */
    int32_t model;              /* PTQ_MODEL_FLOAT or PTQ_MODEL_QUANT */
    const int32_t *nodes;       /* node ids (any order), NULL: the whole model; borrowed */
    int32_t n_nodes;
    int64_t max_batch;          /* samples per forward, at most */
    /* Run-time inputs of the subset whose gradient is wanted (graph inputs, or values a
     * node outside the subset produces); a value needs a gradient buffer, and so can be
     * seeded, only downstream of one of these or of a trainable constant. */
    const int32_t *grad_inputs;
    int32_t n_grad_inputs;
    /* Constants (weights, biases) whose gradient is wanted; may be none.  In the float
     * model the run reads their data when it executes, so a plugin may update a weight
     * in place between steps (then call value_changed). */
    const int32_t *trainable;
    int32_t n_trainable;
} ptq_grad_run_options;

/* What a reconstruction did (host->reconstruct fills it). */
typedef struct ptq_recon_result {
    uint32_t struct_size;
    int32_t n_weights;         /* weights whose rounding was learned */
    double loss_first;         /* L_rec of the first batches (mean of the first 1 %) */
    double loss_last;          /* L_rec of the last batches (mean of the last 1 %) */
    double extra_last;         /* the plugin's own terms at the last step */
    double seconds;            /* caching and optimisation */
    int64_t peak_bytes;        /* caches and the training tape at their largest */
    /* ---- since 0.6 ---- */
    int32_t targets_cached;    /* 1: float targets were cached, 0: computed per batch */
    int32_t reserved;
    double loop_seconds;       /* the optimisation loop alone (seconds less the caching) */
} ptq_recon_result;

/* An Adam optimizer over n floats (host->optim_new); opaque. */
typedef struct ptq_optim ptq_optim;

#define PTQ_SCHEDULE_CONSTANT 0
#define PTQ_SCHEDULE_COSINE 1  /* lr * (1 + cos(pi t / T)) / 2, as torch's CosineAnnealingLR */
#define PTQ_SCHEDULE_LINEAR 2  /* lr * (1 - t / T) */

/* Everything a plugin can ask of the host.  Append-only: new members go at the end and
 * raise the minor version; check host->struct_size before using a member added later
 * than the version you require.
 *
 * Errors: functions returning ptq_status have recorded a message in the session already
 * when they fail; a pass returns that status.  Functions returning pointers return NULL
 * on failure, likewise with a message. */
struct ptq_host {
    ptq_version abi;
    uint32_t struct_size;

    /* ---- diagnostics ---- */
    /* Logs a line (printf format) on stderr as "  <pass>: <message>" (with the level after
     * the pass name for warnings and errors): the host names the running pass itself, so
     * do not start the message with it (a leading "<pass>: " or "<plugin>: " is dropped
     * rather than shown twice).  PTQ_LOG_DEBUG lines appear only with PTQ_DEBUG set.
     * s may be NULL outside a run. */
    void (*log)(ptq_session *s, int32_t level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Records why the pass fails and returns status, so `return host->error(...)` works.
     * Only the first message of a pass is kept.  s may be NULL in init. */
    ptq_status (*error)(ptq_session *s, ptq_status status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Progress of a long step (a bar on a terminal): done of total units. */
    void (*progress)(ptq_session *s, const char *what, int64_t done, int64_t total);

    /* ---- memory: allocate through the host so it is counted ---- */
    void *(*alloc)(size_t size); /* zeroed; NULL on failure */
    void (*free)(void *p);

    /* ---- the graph (the float model after the host's rewrites) ---- */
    int32_t (*node_count)(ptq_session *s);
    /* Fills info for node id (0 <= id < node_count, topological order). */
    ptq_status (*node_info)(ptq_session *s, int32_t node, ptq_node_info *info);
    const char *(*node_name)(ptq_session *s, int32_t node); /* borrowed until the run ends */
    int32_t (*value_count)(ptq_session *s);
    const char *(*value_name)(ptq_session *s, int32_t value);
    /* Nodes reading value (their ids into nodes[], at most max); returns how many read it. */
    int32_t (*value_readers)(ptq_session *s, int32_t value, int32_t *nodes, int32_t max);
    /* Node producing value, or -1 for inputs and constants. */
    int32_t (*value_producer)(ptq_session *s, int32_t value);
    /* Shape (PTQ_DIM_BATCH marks the batch) and, for constants, the float data, which the
     * pass may modify in place (then call value_changed).  data is NULL otherwise. */
    ptq_status (*value_view)(ptq_session *s, int32_t value, ptq_tensor_view *view);
    /* Tells the host a constant's data changed (cached quantized copies are dropped). */
    void (*value_changed)(ptq_session *s, int32_t value);
    /* Adds a bias input to a Conv, ConvTranspose (since 0.10) or Gemm that has none
     * (zeros, one per output channel); returns the new value id or -1. */
    int32_t (*node_add_bias)(ptq_session *s, int32_t node);
    /* Statistics of the BatchNormalization folded into node (after core.fold_bn): views
     * of gamma, beta, mean, var, each [C]; borrowed.  PTQ_ERR_INVALID if none was.
     * gamma and beta describe the node's output as BN left it: channel c is distributed
     * about N(beta_c, gamma_c^2).  A pass that rewrites the node's output channels
     * (rescales them, shifts its bias) updates gamma and beta in place so they keep
     * saying that (DFQ's equalization and bias absorption do); mean and var stay the
     * statistics of the original convolution's output.  With all four views NULL
     * (since 0.2) it only asks: PTQ_OK when node has statistics, else PTQ_ERR_INVALID
     * without recording an error. */
    ptq_status (*bn_stats)(ptq_session *s, int32_t node, ptq_tensor_view *gamma,
                           ptq_tensor_view *beta, ptq_tensor_view *mean, ptq_tensor_view *var);

    /* ---- quantizers ---- */
    int32_t (*quantizer_count)(ptq_session *s);
    /* Quantizer of value (weight or activation), or -1 if the value is not quantized. */
    int32_t (*quantizer_of)(ptq_session *s, int32_t value);
    ptq_status (*quantizer_view)(ptq_session *s, int32_t q, ptq_quant_view *view);
    /* (Re)computes q's scale and zero point with its configured observer (weights from
     * their current values; activations from the calibration data). */
    ptq_status (*quantizer_calibrate)(ptq_session *s, int32_t q);
    /* Tells the host q's scale/zero point/state changed. */
    void (*quantizer_changed)(ptq_session *s, int32_t q);
    /* Installs a rounding function with plugin-owned state (NULL restores nearest).  The
     * quantizer calls r->destroy(state) when replaced or when the session ends. */
    ptq_status (*quantizer_set_rounding)(ptq_session *s, int32_t q, const ptq_rounding *r,
                                         void *state);

    /* ---- artifacts ---- */
    /* Stores a named result; the session owns data from then on and calls destroy(data)
     * (if non-NULL) when it is replaced or the session ends. */
    ptq_status (*artifact_set)(ptq_session *s, const char *name, void *data, size_t size,
                               void (*destroy)(void *data));
    /* The named result, or NULL (size 0) if absent.  Borrowed. */
    void *(*artifact_get)(ptq_session *s, const char *name, size_t *size);

    /* ---- calibration data ---- */
    /* The calibration images, [N, C, H, W] float, preprocessed; borrowed.  labels may be
     * NULL (then none are known). */
    ptq_status (*calib_view)(ptq_session *s, ptq_tensor_view *images, const int32_t **labels);
    /* Replaces the calibration set (copied).  labels may be NULL. */
    ptq_status (*calib_replace)(ptq_session *s, const ptq_tensor_view *images,
                                const int32_t *labels);

    /* ---- running the model ---- */
    /* Plans a forward run of the float or quantized model over nodes (all when NULL),
     * for batches up to max_batch, keeping the listed values readable after each run.
     * Free with run_free. */
    ptq_run *(*run_new)(ptq_session *s, int32_t model, const int32_t *nodes, int32_t n_nodes,
                        const int32_t *keep, int32_t n_keep, int64_t max_batch);
    /* Feeds an input value of the run: batch x sample floats, borrowed until run_exec. */
    ptq_status (*run_bind)(ptq_run *r, int32_t value, const float *data);
    /* Runs the planned nodes on `batch` samples.  A float-model run reads constants
     * (weights, biases) when it executes, not when it is planned: a pass may overwrite a
     * constant's data between run_exec calls to try a candidate (EasyQuant's quantized
     * weights) and must put it back afterwards.  A quantized-model run works on a copy
     * made by run_new. */
    ptq_status (*run_exec)(ptq_run *r, int64_t batch);
    /* A kept or output value after run_exec (batch x sample floats), borrowed until the
     * next run_exec or run_free; NULL if not kept. */
    const float *(*run_data)(ptq_run *r, int32_t value);
    void (*run_free)(ptq_run *r);

    /* ---- misc ---- */
    /* The pipeline's seeded random stream (uniform 64-bit). */
    uint64_t (*rng_next)(ptq_session *s);
    /* Number of worker threads the session uses. */
    int32_t (*threads)(ptq_session *s);

    /* ---- since 0.2 (check host->struct_size before use) ---- */
    /* Sets the bounds of a CLIP node (ReLU6 is Clip(0, 6)); -INFINITY / INFINITY for no
     * bound, so Clip(0, INFINITY) is a ReLU.  PTQ_ERR_INVALID for another op or lo > hi. */
    ptq_status (*node_set_clip)(ptq_session *s, int32_t node, float lo, float hi);
    /* The range of a graph input's values as the pipeline feeds them: 8-bit pixels
     * scaled to [0, 1], then normalized with the pipeline's (or the model's .json) mean
     * and std, widest over the channels.  Data-free passes use it for the input's
     * quantizer.  PTQ_ERR_INVALID if value is not a graph input. */
    ptq_status (*input_range)(ptq_session *s, int32_t value, float *lo, float *hi);
    /* Adds a row to a table in this pass's entry of report.json:
     * passes[i].tables.<table> is a list of {"name": row, cols[k]: values[k], ...}
     * (non-finite values are written as null).  Everything is copied.  Tables let a
     * pass report what it did per layer (EasyQuant's cosine before and after, DFQ's
     * equalized ranges). */
    ptq_status (*report_row)(ptq_session *s, const char *table, const char *row,
                             const char *const *cols, const double *values, int32_t n);
    /* Sets q's scale and zero point from a float range [lo, hi] the way its observers
     * do (widened to contain 0; symmetric grids use max(|lo|, |hi|)), for one channel
     * (0 <= channel < view.n) or all of them (channel -1), and marks q calibrated. */
    ptq_status (*quantizer_set_range)(ptq_session *s, int32_t q, int64_t channel, float lo,
                                      float hi);
    /* Fake-quantizes x (the whole quantized value: numel of its shape, or batch x sample
     * for an activation) into y through q's grid and rounding function, exactly as the
     * quantized model does.  x and y may be the same.  batch is 1 for weights. */
    ptq_status (*quantizer_apply)(ptq_session *s, int32_t q, const float *x, float *y,
                                  int64_t batch);
    /* The session's grouping of nodes into reconstruction units: writes each node's unit
     * (0-based, in topological order) into unit_of (n = node_count entries) and returns
     * the number of units, or -1 after an error.  By default the residual blocks: a new
     * unit starts where one value carries the whole activation, and every unit holds at
     * least one weighted layer (a plain chain gives one unit per layer, a ResNet one per
     * residual block).  A pass that stores the artifact "graph.blocks" (n int32_t, the
     * same meaning) replaces the grouping for the passes after it. */
    int32_t (*node_blocks)(ptq_session *s, int32_t *unit_of, int32_t n);

    /* ---- since 0.3 (check with PTQ_HOST_HAS) ---- */
    /* Runs the reconstruction engine on one unit (see ptq_recon_options).  On a
     * non-finite loss it stops with PTQ_ERR_NUMERIC naming the unit and the iteration
     * and keeps no learned activation scale; the plugin puts its own state back. */
    ptq_status (*reconstruct)(ptq_session *s, const ptq_recon_options *o, ptq_recon_result *res);
    /* Adam with PyTorch's defaults and semantics (betas 0.9/0.999, eps 1e-8, bias
     * correction) over n parameters, learning rate lr under a PTQ_SCHEDULE_* over
     * `total` steps.  NULL after an error. */
    ptq_optim *(*optim_new)(ptq_session *s, int64_t n, double lr, int32_t schedule, int64_t total);
    /* One step: param[i] -= update(grad[i]) for the n parameters. */
    void (*optim_step)(ptq_optim *o, float *param, const float *grad);
    void (*optim_free)(ptq_optim *o);

    /* ---- since 0.5 (check with PTQ_HOST_HAS) ---- */
    /* Observes every activation quantizer's range again with its configured observer.
     * model PTQ_MODEL_FLOAT: on the float model, as core.calibrate does.  PTQ_MODEL_QUANT:
     * on the quantized model, in topological order, each quantizer seeing its value with
     * the weights (their rounding included) and the activation quantizers before it
     * applied: BRECQ initialises its activation ranges this way after its weight phase.
     * images: the first N calibration images (0: all); a quantizer's own `images` limits
     * it further. */
    ptq_status (*activations_calibrate)(ptq_session *s, int32_t model, int64_t images);

    /* ---- since 0.7 (check with PTQ_HOST_HAS): learned activation rounding ---- */
    /* Sets rounding borders on activation quantizer q (AQuant): v = x / scale is rounded
     * to floor(v) + 1 when frac(v) > B[c][k] and to floor(v) otherwise (so a value on the grid,
     * a ReLU's zeros, stays), in place of
     * round-half-to-even, where k = floor(v) + zero_point - qmin is v's bin (clamped into
     * [0, bins - 1]: values off the grid are clamped whatever their border) and c the
     * channel (axis 1 of the value; row 0 for every channel when channels is 1).
     * borders is [channels, bins] row-major with bins = qmax - qmin, channels 1 or the
     * value's channel count, every border in [0, 1] (0: up unless on the grid, 1: down); it is
     * copied.  NULL clears them.  The borders are part of the quantizer from then on:
     * the quantized model, the report and the QDQ export (as standard ONNX ops around
     * the QuantizeLinear) use them.  A rounding function installed with
     * quantizer_set_rounding takes precedence over them while it is there.  Weights:
     * PTQ_ERR_INVALID (give weights their codes through a rounding function). */
    ptq_status (*quantizer_set_borders)(ptq_session *s, int32_t q, const float *borders,
                                        int64_t channels, int64_t bins);
    /* q's borders (borrowed until they are set again or the session ends) with their
     * shape, or *borders NULL (channels and bins 0) when q rounds half to even. */
    ptq_status (*quantizer_borders)(ptq_session *s, int32_t q, const float **borders,
                                    int64_t *channels, int64_t *bins);

    /* ---- since 0.8 (check with PTQ_HOST_HAS): differentiable runs, data synthesis ---- */
    /* Plans a differentiable run (see ptq_grad_run_options).  NULL after an error (a
     * node without a backward pass, a bad value id, out of memory).  Free with
     * grad_run_free. */
    ptq_grad_run *(*grad_run_new)(ptq_session *s, const ptq_grad_run_options *o);
    /* The buffer of a run-time input of the subset (max_batch x sample floats): write
     * the batch there before grad_run_forward.  NULL if value is not one. */
    float *(*grad_run_input)(ptq_grad_run *r, int32_t value);
    /* Runs the subset forward on batch samples and zeroes every gradient buffer. */
    ptq_status (*grad_run_forward)(ptq_grad_run *r, int64_t batch);
    /* Any value the subset reads or writes, after grad_run_forward (batch x sample
     * floats; a constant's data).  Borrowed until the next forward; NULL if not there. */
    const float *(*grad_run_value)(ptq_grad_run *r, int32_t value);
    /* The gradient buffer of a run-time value of the subset (batch x sample floats), to
     * which the plugin adds d loss / d value before grad_run_backward; zeroed by each
     * forward.  NULL when value is not downstream of a grad input or a trainable
     * constant (its gradient would reach nothing wanted). */
    float *(*grad_run_seed)(ptq_grad_run *r, int32_t value);
    /* Propagates the seeded gradients back through the subset. */
    ptq_status (*grad_run_backward)(ptq_grad_run *r, int64_t batch);
    /* d loss / d value after grad_run_backward, for a grad input (batch x sample floats)
     * or a trainable constant (its numel); NULL for anything else. */
    const float *(*grad_run_gradient)(ptq_grad_run *r, int32_t value);
    void (*grad_run_free)(ptq_grad_run *r);
    /* The epsilon of the BatchNormalization folded into node (see bn_stats), so that
     * a pass can map the node's output back to the BN's input exactly:
     * x = (y - beta) * sqrt(var + eps) / gamma + mean.  PTQ_ERR_INVALID if none was. */
    ptq_status (*bn_epsilon)(ptq_session *s, int32_t node, float *epsilon);
    /* The normalization the pipeline applies to the calibration images (pixels scaled
     * to [0, 1], then (x - mean[c]) / std[c]), per channel of the graph input: fills
     * channels entries of mean and std (0 and 1 when none is known), so a pass that
     * writes images (synthetic calibration data) can write them as pixels. */
    ptq_status (*calib_normalization)(ptq_session *s, int32_t channels, float *mean, float *std);
    /* A path (into path, size bytes) for a file the pass writes into the run's output
     * directory: name is relative ("fdda/images.npy": segments of [A-Za-z0-9_.-], no
     * "..", parents made).  The directory is the temporary one that becomes the output
     * only when the whole run succeeds, so a failed run leaves nothing half-written.  The
     * file is listed in the pass's entry of report.json (tables.files).  PTQ_ERR_INVALID
     * for a bad name or when the run writes no output directory. */
    ptq_status (*output_path)(ptq_session *s, const char *name, char *path, size_t size);

    /* ---- since 0.9 (check with PTQ_HOST_HAS): sensitivity, mixed precision ---- */
    /* Plans a forward run of the quantized model (as run_new with PTQ_MODEL_QUANT) in
     * which the quantizers q with bypass[q] != 0 are left out: their weights or
     * activations stay float, every other quantizer applies as usual.  bypass has
     * n_bypass = quantizer_count entries (borrowed for the call); the run is a copy made
     * here, like run_new's, so changing quantizers or the mask afterwards does not touch
     * it.  Only the quantizers that apply need to be calibrated.  Every entry set is the
     * float model exactly (same graph, same kernels); none set is run_new's quantized
     * model.  Per-layer sensitivity (each layer alone in float, each layer alone
     * quantized) is written with it.  NULL after an error (a mask of the wrong length,
     * an uncalibrated quantizer that applies). */
    ptq_run *(*run_new_bypass)(ptq_session *s, const int32_t *nodes, int32_t n_nodes,
                               const int32_t *keep, int32_t n_keep, int64_t max_batch,
                               const uint8_t *bypass, int32_t n_bypass);
    /* Gives quantizer q another bit width: 2 to 8 or 16, as the pipeline's `bits`
     * (PTQ_ERR_INVALID otherwise, naming the value; 32, "keep float", is a placement
     * decision and not a width).  The grid is rebuilt for the new width (a weight's
     * signed, an activation's unsigned when asymmetric; the deployment target's limit
     * on 8-bit weights under integer activations applies as at placement), q is marked
     * uncalibrated (quantizer_calibrate recomputes it with its observer, or a pass sets
     * it with quantizer_set_range), and what was learned for the old grid goes: a
     * rounding function (its destroy is called) and rounding borders.  The width stays
     * q's from then on: the quantized model, later calibrations, the report's per-layer
     * bits and the QDQ export (each quantizer's own container and range) use it, so
     * layers of one model can have different widths.  When an activation crosses 8 bits
     * the weights of the layers reading it change grid too (integer kernels run only
     * under activations of 8 bits or fewer), and calibrated ones are recalibrated at
     * once.  Refused (PTQ_ERR_UNSUPPORTED, nothing changed) where the pipeline would
     * refuse the width: asymmetric per-channel weights wider than the target's
     * zero-point-free codes allow.  Setting the width q has is a no-op that keeps its
     * calibration.  A pass that changes widths lists what they invalidate
     * ("quant.rounding", the searched scales) in its `invalidates`. */
    ptq_status (*quantizer_set_bits)(ptq_session *s, int32_t q, int32_t bits);

    /* ---- since 0.10 (check with PTQ_HOST_HAS): the deployment's bias ---- */
    /* The quantized model adds a Conv/ConvTranspose/Gemm's bias on the int32 accumulator's
     * grid in_scale * w_scale[o], as an integer deployment (and onnxruntime) does, when
     * the target is a deployment target, the node's input is quantized per tensor, its
     * weights are quantized and its bias is a 1-D constant.  Then this rounds bias (the
     * node's output channels, e.g. a copy of the float bias) to that grid for the given
     * candidate scales (n_scales: the weight quantizer's count) exactly as the quantized
     * model will, and returns 1; else it returns 0 and leaves bias alone.  A pass that
     * scores candidate scales on a float run of the layer (EasyQuant) writes it into the
     * bias constant to score what the quantized model computes. */
    int32_t (*bias_to_grid)(ptq_session *s, int32_t node, float in_scale, const float *w_scales,
                            int64_t n_scales, float *bias);
};

/* Offset-based check that a host provides a member added in a later minor version:
 *     if (!PTQ_HOST_HAS(host, report_row)) ... */
#define PTQ_HOST_HAS(host, member)                                                         \
    ((host)->struct_size >= offsetof(ptq_host, member) + sizeof((host)->member) &&           \
     (host)->member != NULL)

#ifdef __cplusplus
}
#endif

#endif /* PTQ_PLUGIN_H */
