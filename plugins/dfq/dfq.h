/* dfq.h — the parts of the DFQ plugin (Nagel et al., "Data-Free Quantization Through
 * Weight Equalization and Bias Correction", ICCV 2019) that its passes share: weighted
 * layers as the plugin sees them, the conv -> activation -> conv pairs that equalization
 * and bias absorption rewrite, and per-channel activation statistics derived from the
 * BatchNormalization parameters kept by core.fold_bn.  Built against the SDK only. */
#ifndef PTQ_DFQ_H
#define PTQ_DFQ_H

#include <ptq/ptq_plugin.h>

/* ---------------------------------------------------------------- layers ---- */

/* A Conv or Gemm with constant weights.  Weights are addressed as (output channel o,
 * input channel within the group i, kernel tap k), whatever the storage order. */
typedef struct dfq_layer {
    int32_t node;
    ptq_op op;
    int32_t input, output;  /* value ids */
    int32_t weight, bias;   /* value ids; bias -1 when the node has none */
    float *w;               /* the weight constant's data (writable, owned by the host) */
    int64_t out_ch, in_ch;  /* output channels; input channels (all groups) */
    int64_t group, in_per_group, out_per_group;
    int64_t taps;           /* kernel elements per (o, i): kh * kw, 1 for Gemm */
    int32_t trans_b;        /* Gemm: weights stored [out, in] (else [in, out]) */
} dfq_layer;

/* Fills l for node; returns false (no error recorded) if node is not a Conv/Gemm with
 * constant weights. */
bool dfq_layer_get(const ptq_host *h, ptq_session *s, int32_t node, dfq_layer *l);
/* Index into l->w of (o, i, k), i within o's group. */
int64_t dfq_w_index(const dfq_layer *l, int64_t o, int64_t i, int64_t k);
/* max |w| over output channel o. */
float dfq_out_range(const dfq_layer *l, int64_t o);
/* max |w| over the weights reading input channel c, where each channel of the value
 * feeding the layer spans `block` consecutive inputs (a Flatten between: H x W). */
float dfq_in_range(const dfq_layer *l, int64_t c, int64_t block);
/* Sum over the taps and the block of weights w[o, inputs of channel c]: what a constant
 * c-th input channel contributes to output o per unit (0 if c is not in o's group). */
double dfq_in_sum(const dfq_layer *l, const float *w, int64_t o, int64_t c, int64_t block);
/* The graph's image input: the value with no producer and no constant data (-1 if none). */
int32_t dfq_graph_input(const ptq_host *h, ptq_session *s);
/* The bias data (NULL when the node has none). */
float *dfq_bias(const ptq_host *h, ptq_session *s, const dfq_layer *l);

/* ----------------------------------------------------------------- pairs ---- */

/* Two weighted layers where every channel of the first's output reaches the second
 * through ops that commute with a positive per-channel scale: activations that are
 * positively homogeneous (ReLU, Clip(0, inf), LeakyReLU), pooling, Flatten.  No other
 * reader anywhere along the way (a branch would see the rescaled channels). */
typedef struct dfq_pair {
    int32_t first, second;  /* node ids */
    int64_t block;          /* inputs of `second` per channel of `first` (Flatten) */
    bool relu;              /* a ReLU sits between (absorption clips at 0) */
    bool other_act;         /* another homogeneous activation (LeakyReLU): no absorption */
} dfq_pair;

/* Finds every pair in the graph (in topological order of `first`).  Each rejected
 * candidate is logged (INFO) with the reason: a branch, a non-homogeneous activation
 * (ReLU6 until dfq.replace_relu6 ran), an op that mixes channels.  *pairs is allocated
 * with h->alloc (free with h->free); returns the count, or -1 after an error. */
int32_t dfq_find_pairs(const ptq_host *h, ptq_session *s, dfq_pair **pairs);

/* ---------------------------------------------------- activation statistics ---- */

/* Per-channel statistics of one graph value, data-free: mean and variance (a Gaussian
 * approximation after non-linearities) and a range [lo, hi] expected to hold all but a
 * negligible fraction of the values ("sigmas" standard deviations of the Gaussian
 * implied by BatchNormalization, clipped by activations, passed through pooling). */
typedef struct dfq_chan {
    bool known;
    int64_t c, block;       /* channels; consecutive elements per channel after Flatten */
    double *mean, *var, *lo, *hi;
} dfq_chan;

typedef struct dfq_stats {
    const ptq_host *h;
    ptq_session *s;
    double sigmas;
    int32_t n_values;
    dfq_chan *v;            /* per value, computed on demand */
    int32_t *state;         /* 0 not yet, 1 in progress, 2 done */
    bool any_bn;            /* some node has BatchNormalization statistics */
    int32_t input;          /* the graph's image input */
    char why[512];          /* why the last dfq_stats_of failed */
} dfq_stats;

ptq_status dfq_stats_init(dfq_stats *st, const ptq_host *h, ptq_session *s, double sigmas);
void dfq_stats_free(dfq_stats *st);
/* The statistics of value v, or NULL with st->why naming the value and the node whose
 * output cannot be described without data (no error is recorded: the caller decides). */
const dfq_chan *dfq_stats_of(dfq_stats *st, int32_t v);

/* Mean and variance of clamp(y, a, b) for y ~ N(mu, sd^2); a, b may be infinite. */
void dfq_clipped_normal(double mu, double sd, double a, double b, double *mean, double *var);

/* ----------------------------------------------------------------- passes ---- */

typedef struct dfq_relu6_params {
    int32_t mode; /* 0 relu, 1 keep */
} dfq_relu6_params;

typedef struct dfq_equalize_params {
    double tolerance;
    int64_t max_iterations;
} dfq_equalize_params;

typedef struct dfq_absorb_params {
    double sigmas;
} dfq_absorb_params;

typedef struct dfq_correct_params {
    int32_t mode; /* 0 analytic, 1 empirical */
    int64_t images;
} dfq_correct_params;

typedef struct dfq_ranges_params {
    double sigmas;
} dfq_ranges_params;

ptq_status dfq_replace_relu6(const ptq_host *h, ptq_session *s, const void *params);
ptq_status dfq_equalize(const ptq_host *h, ptq_session *s, const void *params);
ptq_status dfq_absorb_bias(const ptq_host *h, ptq_session *s, const void *params);
ptq_status dfq_correct_bias(const ptq_host *h, ptq_session *s, const void *params);
ptq_status dfq_bn_ranges(const ptq_host *h, ptq_session *s, const void *params);


#endif
