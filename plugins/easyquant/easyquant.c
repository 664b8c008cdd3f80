/*
 * easyquant.c — EasyQuant (Wu, Wang, Zhang, Zhang, Liu, Huang; "EasyQuant: Post-training
 * Quantization via Scale Optimization", 2020): choose every layer's quantization scales
 * so that the layer's OUTPUT in the partially quantized network points the same way as
 * in the float network (cosine similarity), instead of choosing each scale in isolation
 * from its own tensor's range.
 *
 * One pass, easyquant.search_scales.  The starting scales S0 are whatever the quantizers
 * hold when the pass begins (core.calibrate runs first: max |W| per channel for weights,
 * KL or min/max for activations, as the pipeline's `observer:` says).
 *
 * Layers are the Conv/Gemm/MatMul nodes whose weight is quantized, in topological order
 * (node ids are).  A layer's output O is its activation's output when the conv's output
 * has exactly one reader and it is a Relu or Clip (the activation is then part of the
 * layer), else the conv's output.  For each layer, alternately:
 *   (a) weights: input scale fixed, per output channel c the candidates
 *       S = linspace(alpha S0_c, beta S0_c, n).  Output channel c depends only on the
 *       weights of channel c, so one run of the layer with candidate k in every channel
 *       scores all channels at once; each channel keeps its best candidate;
 *   (b) input activation: weights fixed, the layer's input quantizer (per tensor) on
 *       linspace(alpha S0, beta S0, n), scored by the cosine of the whole output;
 * until a round improves the layer's score by no more than `tolerance`, or `rounds`
 * rounds ran.  A step is kept only when it raises the layer's score, so every layer ends
 * at least as similar to float as it started (the report shows cos_before, cos_after).
 *
 * The scores.  The layer's score (for (b), acceptance, convergence and the report) is
 * the paper's: the cosine between O and its quantized counterpart for each image,
 * averaged over the images.  A weight channel's score in (a) is ONE cosine over that
 * output channel flattened across all images and positions, not a per-image average:
 * for a Gemm (the classifier) a channel holds one number per image, so a per-image cosine
 * would only compare signs, and after a ReLU a channel is often all zero in some images,
 * where a per-image cosine is undefined.  (A per-tensor weight quantizer has one "channel"
 * and uses the layer score.)  Cosine of two all-zero vectors is 1, of one zero vector 0.
 *
 * What "partially quantized" means here: the layer's input is taken from the quantized
 * network with every earlier layer at the scales this pass already chose (so each layer
 * corrects for the error upstream of it), before the layer's own input quantizer; O is
 * from the float network.  Both are computed once per layer over the first `images`
 * calibration images and cached; each candidate then re-runs only the layer's own nodes
 * (a float run of conv [+ activation]) with the candidate fake-quantized weights written
 * into the weight constant and the cached input fake-quantized with the candidate input
 * scale.  The float weights are put back bit for bit when the layer is done, on every
 * path, errors included: the float model is unchanged by this pass.
 *
 * Fake quantization is the core's nearest rounding: q = clamp(rint(x / s) + z, qmin,
 * qmax), x_hat = (q - z) s, per channel along the quantizer's axis, computed in float
 * exactly as the core computes it.  Zero points stay as calibrated (an asymmetric grid
 * keeps its zero point while its scale moves).  A quantizer carrying a plugin rounding
 * function (AdaRound and kin) is not reproduced by this search, which is why EasyQuant
 * belongs before such passes, as a scale provider.
 *
 * Which quantizers are searched:
 *  - every searched layer's weight quantizer, and the quantizer of its input;
 *  - an input quantizer shared by several layers (a ResNet block's input, read by its
 *    first conv and by the downsample conv) is searched once, at its first consumer in
 *    topological order, and kept at later ones: searching it again would undo the first
 *    layer's choice for the second's sake, and the alternation never settles;
 *  - quantizers that feed no weight layer (the second input of a residual Add, the
 *    network's output) keep their calibrated scales.  A value read both by a layer and
 *    by an Add has one quantizer, so the Add reads it at the layer's chosen scale.
 *
 * Where the paper and the official code differ, and what we do:
 *  - the official code (deepglint/EasyQuant, tools/scale_fine_tuning.py) searches weights
 *    only on thresholds >= max |W| (multipliers linspace(1, S0) in ncnn's 1/step
 *    convention) and activations only on thresholds [T_KL, 1.25 T_KL], once each (all
 *    weights first, then all activations).  We use the paper's grid linspace(alpha S0,
 *    beta S0, n), which contains both, and the paper's alternation per layer;
 *  - the official code quantizes symmetrically; here the grids are whatever the pipeline
 *    configured (symmetric or not), with zero points kept;
 *  - calibration images are the pipeline's (the training split in the examples), the
 *    first `images` of them; the paper's 50 images are the default.
 *
 * Parameters:
 *   alpha      grid's lower end as a fraction of S0, in [0.001, 1]        (0.5)
 *              (the paper's (0, 1]; a scale of 0 would be no grid at all)
 *   beta       grid's upper end as a multiple of S0, in [1, 16]            (2.0)
 *              alpha must be below beta.
 *   n          candidates per grid, 2..10000                              (100)
 *   images     calibration images the search scores on, at most the
 *              calibration set's size                                     (50)
 *   rounds     most (a),(b) alternations per layer, 1..100                (3)
 *   tolerance  a round that raises the layer's mean cosine by no more than
 *              this ends the layer's search                               (1e-6)
 *   search     both | weights | activations: which scales to search     (both)
 *
 * Cost: per layer, rounds x (2n + 2) runs of that layer alone on `images` images, all
 * images in one run; plus one run of the quantized network per layer (to cache its input)
 * and one float run at the start (to cache every layer's O).  Memory: every layer's O over
 * `images` images (about 29 MB for ResNet-20 at 50 images) plus one layer's input twice.
 * A round that changed nothing lets the next step be skipped (it would find the same
 * optimum), which is exact, not an approximation.  Measured on ResNet-20 (22 layers) with
 * the defaults, 2 threads of a shared 2-vCPU VM: 4-6 s for the pass; most layers settle
 * in 2 rounds.  Nearly all of it is the layers' convolutions; the cosines are computed
 * image-parallel with vectorised sums.
 *
 * Report: a table "layers" in the pass's entry of report.json, one row per layer:
 * cos_before, cos_after (the layer score before and after its search, with earlier
 * layers already at their new scales), weight_scale_ratio_mean (mean over channels of
 * chosen / S0), act_scale_ratio (chosen / S0; null when this layer did not search its
 * input: none, shared and searched at an earlier layer, or search: weights), rounds.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <ptq/ptq_util.h>
#include <ptq/ptq_util.h>

/* ---- parameters ------------------------------------------------------------------------ */

enum { SEARCH_BOTH = 0, SEARCH_WEIGHTS = 1, SEARCH_ACTIVATIONS = 2 };

typedef struct eq_params {
    double alpha, beta;
    int64_t n;
    int64_t images;
    int64_t rounds;
    double tolerance;
    int32_t search;
} eq_params;

static const char *const search_choices[] = {"both", "weights", "activations", NULL};

static const ptq_param_def eq_param_defs[] = {
    {"alpha", PTQ_PARAM_FLOAT, 0, offsetof(eq_params, alpha), 1e-3, 1, 0.5, NULL, NULL,
     "lower end of the scale grid, as a fraction of the starting scale S0"},
    {"beta", PTQ_PARAM_FLOAT, 0, offsetof(eq_params, beta), 1, 16, 2.0, NULL, NULL,
     "upper end of the scale grid, as a multiple of S0 (must exceed alpha)"},
    {"n", PTQ_PARAM_INT, 0, offsetof(eq_params, n), 2, 10000, 100, NULL, NULL,
     "candidate scales per grid: linspace(alpha S0, beta S0, n)"},
    {"images", PTQ_PARAM_INT, 0, offsetof(eq_params, images), 1, 1e9, 50, NULL, NULL,
     "calibration images the cosine is measured on (at most the calibration set)"},
    {"rounds", PTQ_PARAM_INT, 0, offsetof(eq_params, rounds), 1, 100, 3, NULL, NULL,
     "most weight/activation alternations per layer"},
    {"tolerance", PTQ_PARAM_FLOAT, 0, offsetof(eq_params, tolerance), 0, 1, 1e-6, NULL, NULL,
     "stop a layer when a round raises its mean cosine by no more than this"},
    {"search", PTQ_PARAM_ENUM, 0, offsetof(eq_params, search), 0, 0, SEARCH_BOTH, NULL,
     search_choices, "which scales to search: both, weights (per channel) or activations"},
    {0},
};

/* Candidate k's scale as a multiple of S0: linspace(alpha, beta, n)[k]. */
static double grid_ratio(const eq_params *p, int64_t k) {
    return p->alpha + (p->beta - p->alpha) * (double)k / (double)(p->n - 1);
}

/* ---- layers -------------------------------------------------------------------------- */

typedef struct eq_layer {
    int32_t conv;            /* the Conv/Gemm/MatMul node */
    int32_t act;             /* the Relu/Clip that is part of the layer, or -1 */
    int32_t input;           /* value the conv reads: the input before its quantizer */
    int32_t weight;          /* the weight constant */
    int32_t output;          /* O: the activation's output, else the conv's */
    int32_t wq, aq;          /* weight and input quantizers (aq -1: input not quantized) */
    int64_t in_sample;       /* floats per image of the input */
    int64_t out_sample;      /* ... and of O */
    int64_t channels;        /* output channels of O */
    int64_t inner;           /* floats per channel per row of O (H x W for a conv) */
} eq_layer;

/* Floats per sample of a batched value, or -1 if its first dimension is not the batch. */
static int64_t sample_floats(const ptq_tensor_view *v) {
    if (v->ndim < 2 || v->ne[0] != PTQ_DIM_BATCH) return -1;
    int64_t n = 1;
    for (int32_t d = 1; d < v->ndim; d++) n *= v->ne[d];
    return n;
}

/* The Relu or Clip that is the conv output's only reader, or -1. */
static int32_t fused_activation(const ptq_host *h, ptq_session *s, int32_t conv_out) {
    int32_t reader;
    if (h->value_readers(s, conv_out, &reader, 1) != 1) return -1;
    ptq_node_info ni;
    if (h->node_info(s, reader, &ni)) return -1;
    if (ni.op != PTQ_OP_RELU && ni.op != PTQ_OP_CLIP) return -1;
    return ni.inputs[0] == conv_out ? reader : -1;
}

/* Fills l for node when it is a layer this pass searches: a Conv/Gemm/MatMul with a
 * quantized constant weight and batched input and output. */
static bool describe_layer(const ptq_host *h, ptq_session *s, int32_t node, eq_layer *l) {
    ptq_node_info ni;
    if (h->node_info(s, node, &ni)) return false;
    if (ni.op != PTQ_OP_CONV && ni.op != PTQ_OP_GEMM && ni.op != PTQ_OP_MATMUL) return false;
    if (ni.n_inputs < 2 || ni.inputs[0] < 0 || ni.inputs[1] < 0) return false;
    const int32_t wq = h->quantizer_of(s, ni.inputs[1]);
    if (wq < 0) return false;
    ptq_tensor_view w, in, out;
    if (h->value_view(s, ni.inputs[1], &w) || !w.data || w.dtype != PTQ_DTYPE_F32) return false;
    memset(l, 0, sizeof *l);
    l->conv = node;
    l->act = fused_activation(h, s, ni.outputs[0]);
    l->input = ni.inputs[0];
    l->weight = ni.inputs[1];
    if (l->act >= 0) {
        ptq_node_info ai;
        if (h->node_info(s, l->act, &ai)) return false;
        l->output = ai.outputs[0];
    } else {
        l->output = ni.outputs[0];
    }
    l->wq = wq;
    l->aq = h->quantizer_of(s, l->input);
    if (h->value_view(s, l->input, &in) || h->value_view(s, l->output, &out)) return false;
    l->in_sample = sample_floats(&in);
    l->out_sample = sample_floats(&out);
    if (l->in_sample < 1 || l->out_sample < 1) return false;
    /* Output channels: dimension 1 of a Conv or Gemm output, the last one of a MatMul's. */
    const int32_t cd = ni.op == PTQ_OP_MATMUL ? out.ndim - 1 : 1;
    l->channels = out.ne[cd];
    l->inner = 1;
    for (int32_t d = cd + 1; d < out.ndim; d++) l->inner *= out.ne[d];
    return l->channels >= 1;
}

/* Every searchable layer in topological order into *out (host-allocated); the count, or
 * -1 when out of memory. */
static int32_t find_layers(const ptq_host *h, ptq_session *s, eq_layer **out) {
    const int32_t n_nodes = h->node_count(s);
    *out = h->alloc((size_t)(n_nodes > 0 ? n_nodes : 1) * sizeof **out);
    if (!*out) return -1;
    int32_t n = 0;
    for (int32_t node = 0; node < n_nodes; node++)
        if (describe_layer(h, s, node, &(*out)[n])) n++;
    return n;
}

/* ---- fake quantization and similarity ---------------------------------------------------- */

/* y = x through the grid (scale, zero_point, [qmin, qmax]) with nearest rounding, in the
 * core's arithmetic (rintf rounds half to even, as ONNX QuantizeLinear does). */
static void fake_quant(const float *x, float *y, int64_t n, float scale, int32_t zero_point,
                       int32_t qmin, int32_t qmax) {
    const float zp = (float)zero_point, lo = (float)qmin, hi = (float)qmax;
    for (int64_t i = 0; i < n; i++) {
        float q = rintf(x[i] / scale) + zp;
        q = q < lo ? lo : q;
        q = q > hi ? hi : q;
        y[i] = (q - zp) * scale;
    }
}

static bool all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

static double cosine(double dot, double norm_a, double norm_b) {
    if (norm_a == 0.0 && norm_b == 0.0) return 1.0;
    if (norm_a == 0.0 || norm_b == 0.0) return 0.0;
    return dot / sqrt(norm_a * norm_b);
}

/* ---- one layer's search --------------------------------------------------------------- */

/* Everything the pass shares across layers. */
typedef struct eq_pass {
    const ptq_host *h;
    ptq_session *s;
    const eq_params *p;
    int32_t input;            /* the graph input */
    const float *images;      /* the first p->images calibration images (the session's) */
    ptq_run *reference;       /* float run that kept every layer's O */
    uint8_t *act_searched;    /* per quantizer: searched at an earlier layer */
    int32_t threads;          /* the session's worker threads */
} eq_pass;

/* One layer's working state.  w points into the session's weight constant; w0 holds its
 * float values until they are put back. */
typedef struct eq_work {
    const eq_layer *l;
    const char *name;
    const float *ref;         /* O in the float network: images x out_sample (borrowed) */
    ptq_run *run;             /* float run of the layer's nodes, reading xq */
    float *x;                 /* the quantized network's input to the layer, pre-quantizer */
    float *xq;                /* x through the input quantizer at the current input scale */
    float *w, *w0;
    int64_t w_numel;
    int64_t w_outer, w_channels, w_inner; /* the weight around its quantizer's axis */
    ptq_quant_view wv, av;    /* av.struct_size 0: the input is not quantized */
    bool search_w, search_a;
    bool weights_written;     /* w differs from w0 until put back */
    float *w_s0, *w_scale;    /* per weight channel: start and current */
    float *w_cand, *w_trial;  /* per weight channel: candidate k, best so far */
    double *best, *score;     /* per weight channel: best and candidate channel cosines */
    double *ref_image_norm;   /* per image: |O_i|^2 */
    double *ref_channel_norm; /* per output channel: |O_c|^2 over all images */
    double *image_cos;        /* per image: scratch */
    double *part_dot, *part_norm; /* per image x output channel: scratch */
    float a_s0, a_scale;
    float a_cur;              /* the input scale xq holds */
    /* The bias, when the quantized model adds it on the accumulator's grid (the host's
     * bias_to_grid): b points into the session's constant, b0 holds its float values
     * until they are put back, b_try a candidate's. */
    int32_t bias;             /* its value, or -1 */
    float *b, *b0, *b_try;
    int64_t b_n;
    bool bias_written;
    int32_t rounds;
    double cos_before, cos_after;
} eq_work;

/* |O|^2 per image and per output channel, once per layer: the candidates' cosines then
 * need only the dot product and the candidate's own norm. */
static void reference_norms(const eq_pass *ps, eq_work *w) {
    const eq_layer *l = w->l;
    const int64_t c_n = l->channels, inner = l->inner, rows = l->out_sample / (c_n * inner);
    for (int64_t i = 0; i < ps->p->images; i++) {
        const float *a = w->ref + i * l->out_sample;
        double total = 0.0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < c_n; c++) {
                const float *x = a + (r * c_n + c) * inner;
                double norm = 0.0;
                for (int64_t k = 0; k < inner; k++) norm += (double)x[k] * x[k];
                w->ref_channel_norm[c] += norm;
                total += norm;
            }
        w->ref_image_norm[i] = total;
    }
}

/* The layer score of output out (images x out_sample): the cosine with O image by image,
 * averaged.  Images run in parallel; the sum is taken in image order, so the score does
 * not depend on the number of threads.  `omp simd reduction` lets the compiler vectorise
 * the double sums (a fixed order for a given build); without it they run one add at a
 * time and cost as much as the layer's convolution. */
static double layer_cosine(const eq_pass *ps, eq_work *w, const float *out) {
    const int64_t images = ps->p->images, sample = w->l->out_sample;
#pragma omp parallel for num_threads(ps->threads) schedule(static)
    for (int64_t i = 0; i < images; i++) {
        const float *a = w->ref + i * sample, *b = out + i * sample;
        double dot = 0.0, norm = 0.0;
#pragma omp simd reduction(+ : dot, norm)
        for (int64_t k = 0; k < sample; k++) {
            dot += (double)a[k] * b[k];
            norm += (double)b[k] * b[k];
        }
        w->image_cos[i] = cosine(dot, w->ref_image_norm[i], norm);
    }
    double sum = 0.0;
    for (int64_t i = 0; i < images; i++) sum += w->image_cos[i];
    return sum / (double)images;
}

/* One cosine per output channel over all images and positions.  Per-image partial sums
 * in parallel, then added in image order (the result does not depend on the threads). */
static void channel_cosines(const eq_pass *ps, eq_work *w, const float *out, double *score) {
    const eq_layer *l = w->l;
    const int64_t images = ps->p->images, c_n = l->channels, inner = l->inner;
    const int64_t rows = l->out_sample / (c_n * inner);
#pragma omp parallel for num_threads(ps->threads) schedule(static)
    for (int64_t i = 0; i < images; i++) {
        double *dot = w->part_dot + i * c_n, *norm = w->part_norm + i * c_n;
        for (int64_t c = 0; c < c_n; c++) dot[c] = norm[c] = 0.0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < c_n; c++) {
                const int64_t at = i * l->out_sample + (r * c_n + c) * inner;
                const float *a = w->ref + at, *b = out + at;
                double d = 0.0, n = 0.0;
#pragma omp simd reduction(+ : d, n)
                for (int64_t k = 0; k < inner; k++) {
                    d += (double)a[k] * b[k];
                    n += (double)b[k] * b[k];
                }
                dot[c] += d, norm[c] += n;
            }
    }
    for (int64_t c = 0; c < c_n; c++) {
        double dot = 0.0, norm = 0.0;
        for (int64_t i = 0; i < images; i++)
            dot += w->part_dot[i * c_n + c], norm += w->part_norm[i * c_n + c];
        score[c] = cosine(dot, w->ref_channel_norm[c], norm);
    }
}

/* The weight channels' scores: per output channel, or the layer score when the weights
 * have one scale. */
static void channel_scores(const eq_pass *ps, eq_work *w, const float *out, double *score) {
    if (w->wv.n == 1) score[0] = layer_cosine(ps, w, out);
    else channel_cosines(ps, w, out, score);
}

/* Writes the weights fake-quantized with per-channel scales into the weight constant. */
static void write_weights(eq_work *w, const float *scales) {
    const ptq_quant_view *q = &w->wv;
    for (int64_t o = 0; o < w->w_outer; o++)
        for (int64_t c = 0; c < w->w_channels; c++) {
            const int64_t at = (o * w->w_channels + c) * w->w_inner;
            const int64_t ch = q->n == 1 ? 0 : c;
            fake_quant(w->w0 + at, w->w + at, w->w_inner, scales[ch], q->zero_point[ch], q->qmin,
                       q->qmax);
        }
    w->weights_written = true;
}

/* xq = the cached input through the input quantizer at scale a (a copy without one). */
static void set_input_scale(const eq_pass *ps, eq_work *w, float a) {
    const int64_t n = ps->p->images * w->l->in_sample;
    w->a_cur = a;
    if (!w->av.struct_size) {
        memcpy(w->xq, w->x, (size_t)n * sizeof *w->xq);
        return;
    }
    fake_quant(w->x, w->xq, n, a, w->av.zero_point[0], w->av.qmin, w->av.qmax);
}

/* Runs the layer with the weights at `scales` and the input as xq holds it; *out is O. */
static ptq_status run_layer(const eq_pass *ps, eq_work *w, const float *scales, const float **out) {
    write_weights(w, scales);
    if (w->bias >= 0) { /* the bias on the grid these scales give, as the quantized model adds it */
        memcpy(w->b_try, w->b0, (size_t)w->b_n * sizeof *w->b_try);
        if (ps->h->bias_to_grid(ps->s, w->l->conv, w->a_cur, scales, w->wv.n, w->b_try)) {
            memcpy(w->b, w->b_try, (size_t)w->b_n * sizeof *w->b);
            w->bias_written = true;
        }
    }
    ptq_status st = ps->h->run_exec(w->run, ps->p->images);
    if (st) return st;
    *out = ps->h->run_data(w->run, w->l->output);
    if (!*out)
        return ps->h->error(ps->s, PTQ_ERR_INTERNAL, "layer '%s': its output was not kept", w->name);
    return PTQ_OK;
}

/* The layer score at the current weight and input scales. */
static ptq_status layer_score(const eq_pass *ps, eq_work *w, double *score) {
    const float *out;
    ptq_status st = run_layer(ps, w, w->w_scale, &out);
    if (!st) *score = layer_cosine(ps, w, out);
    return st;
}

/* Step (a): every weight channel's best scale on its grid, the input fixed.  Kept only
 * if the layer score rises; *changed says whether it was. */
static ptq_status search_weights(const eq_pass *ps, eq_work *w, double *score, bool *changed) {
    const int64_t groups = w->wv.n;
    const float *out;
    *changed = false;
    ptq_status st = run_layer(ps, w, w->w_scale, &out);
    if (st) return st;
    channel_scores(ps, w, out, w->best);
    memcpy(w->w_trial, w->w_scale, (size_t)groups * sizeof *w->w_trial);
    for (int64_t k = 0; k < ps->p->n; k++) {
        const double r = grid_ratio(ps->p, k);
        for (int64_t c = 0; c < groups; c++) w->w_cand[c] = (float)(w->w_s0[c] * r);
        if ((st = run_layer(ps, w, w->w_cand, &out))) return st;
        channel_scores(ps, w, out, w->score);
        for (int64_t c = 0; c < groups; c++)
            if (w->score[c] > w->best[c]) w->best[c] = w->score[c], w->w_trial[c] = w->w_cand[c];
    }
    if ((st = run_layer(ps, w, w->w_trial, &out))) return st;
    const double trial = layer_cosine(ps, w, out);
    if (trial > *score) {
        memcpy(w->w_scale, w->w_trial, (size_t)groups * sizeof *w->w_scale);
        *score = trial;
        *changed = true;
    }
    return PTQ_OK;
}

/* Step (b): the input quantizer's best scale on its grid, the weights fixed.  Kept only
 * if the layer score rises. */
static ptq_status search_input(const eq_pass *ps, eq_work *w, double *score, bool *changed) {
    float best = w->a_scale;
    double best_score = *score;
    for (int64_t k = 0; k < ps->p->n; k++) {
        const float a = (float)(w->a_s0 * grid_ratio(ps->p, k));
        set_input_scale(ps, w, a);
        const float *out;
        ptq_status st = run_layer(ps, w, w->w_scale, &out);
        if (st) return st;
        const double sc = layer_cosine(ps, w, out);
        if (sc > best_score) best_score = sc, best = a;
    }
    *changed = best != w->a_scale;
    w->a_scale = best;
    *score = best_score;
    set_input_scale(ps, w, best);
    return PTQ_OK;
}

/* Alternates (a) and (b) until a round gains no more than the tolerance.  A step whose
 * other side did not change since it last ran would find the same optimum: skipped. */
static ptq_status search_layer(const eq_pass *ps, eq_work *w) {
    double score;
    set_input_scale(ps, w, w->a_scale);
    ptq_status st = layer_score(ps, w, &score);
    if (st) return st;
    w->cos_before = score;
    bool need_w = w->search_w, need_a = w->search_a;
    for (int64_t r = 0; r < ps->p->rounds && (need_w || need_a); r++) {
        const double start = score;
        bool changed;
        if (need_w) {
            if ((st = search_weights(ps, w, &score, &changed))) return st;
            need_w = false;
            need_a |= changed && w->search_a;
        }
        if (need_a) {
            if ((st = search_input(ps, w, &score, &changed))) return st;
            need_a = false;
            need_w |= changed && w->search_w;
        }
        w->rounds = (int32_t)r + 1;
        if (score - start <= ps->p->tolerance) break;
    }
    w->cos_after = score;
    return PTQ_OK;
}

/* ---- a layer's setup and teardown ------------------------------------------------------- */

static void *alloc_array(const ptq_host *h, int64_t n, size_t size) {
    return h->alloc((size_t)(n > 0 ? n : 1) * size);
}

/* Puts the float weights back (if candidates were written) and frees the layer's state. */
static void work_free(const eq_pass *ps, eq_work *w) {
    const ptq_host *h = ps->h;
    if (w->weights_written) {
        memcpy(w->w, w->w0, (size_t)w->w_numel * sizeof *w->w);
        h->value_changed(ps->s, w->l->weight);
        w->weights_written = false;
    }
    if (w->bias_written) {
        memcpy(w->b, w->b0, (size_t)w->b_n * sizeof *w->b);
        h->value_changed(ps->s, w->bias);
        w->bias_written = false;
    }
    if (w->run) h->run_free(w->run);
    void *arrays[] = {w->x, w->xq, w->w0, w->w_s0, w->w_scale, w->w_cand, w->w_trial,
                      w->best, w->score, w->ref_image_norm, w->ref_channel_norm,
                      w->image_cos, w->part_dot, w->part_norm, w->b0, w->b_try};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) h->free(arrays[i]);
    memset(w, 0, sizeof *w);
}

/* The layer's input as the quantized network computes it with every earlier layer at its
 * current scales, before the layer's own input quantizer, into w->x. */
static ptq_status cache_quantized_input(const eq_pass *ps, eq_work *w) {
    const ptq_host *h = ps->h;
    const int64_t images = ps->p->images;
    ptq_run *r = h->run_new(ps->s, PTQ_MODEL_QUANT, NULL, 0, &w->l->input, 1, images);
    if (!r) return PTQ_ERR_INVALID;
    ptq_status st = h->run_bind(r, ps->input, ps->images);
    if (!st) st = h->run_exec(r, images);
    const float *x = st ? NULL : h->run_data(r, w->l->input);
    if (!st && !x)
        st = h->error(ps->s, PTQ_ERR_INTERNAL, "layer '%s': the quantized run did not keep its "
                      "input", w->name);
    if (!st) memcpy(w->x, x, (size_t)(images * w->l->in_sample) * sizeof *w->x);
    h->run_free(r);
    if (!st && !all_finite(w->x, images * w->l->in_sample))
        st = h->error(ps->s, PTQ_ERR_NUMERIC, "layer '%s': its input in the quantized network "
                      "has NaN or Inf", w->name);
    return st;
}

/* The weight's shape around its quantizer's axis (outer x channels x inner). */
static ptq_status weight_layout(const eq_pass *ps, eq_work *w) {
    ptq_tensor_view v;
    ptq_status st = ps->h->value_view(ps->s, w->l->weight, &v);
    if (st) return st;
    w->w = v.data;
    w->w_numel = 1;
    for (int32_t d = 0; d < v.ndim; d++) w->w_numel *= v.ne[d];
    w->w_outer = 1, w->w_channels = 1, w->w_inner = w->w_numel;
    if (w->wv.n > 1) {
        if (w->wv.axis < 0 || w->wv.axis >= v.ndim || v.ne[w->wv.axis] != w->wv.n)
            return ps->h->error(ps->s, PTQ_ERR_UNSUPPORTED, "layer '%s': %lld weight scales do "
                                "not match the weight's shape", w->name, (long long)w->wv.n);
        w->w_channels = w->wv.n, w->w_inner = 1;
        for (int32_t d = 0; d < w->wv.axis; d++) w->w_outer *= v.ne[d];
        for (int32_t d = w->wv.axis + 1; d < v.ndim; d++) w->w_inner *= v.ne[d];
    }
    if (w->wv.n > 1 && w->wv.n != w->l->channels)
        return ps->h->error(ps->s, PTQ_ERR_UNSUPPORTED, "layer '%s': %lld weight scales for %lld "
                            "output channels", w->name, (long long)w->wv.n,
                            (long long)w->l->channels);
    return PTQ_OK;
}

/* The quantizer views; the starting scales must exist. */
static ptq_status read_quantizers(const eq_pass *ps, eq_work *w) {
    const ptq_host *h = ps->h;
    const eq_layer *l = w->l;
    ptq_status st = h->quantizer_view(ps->s, l->wq, &w->wv);
    if (st) return st;
    if (!w->wv.calibrated || w->wv.n < 1)
        return h->error(ps->s, PTQ_ERR_INVALID, "layer '%s': its weight quantizer has no scale "
                        "yet", w->name);
    memset(&w->av, 0, sizeof w->av);
    if (l->aq < 0) return PTQ_OK;
    if ((st = h->quantizer_view(ps->s, l->aq, &w->av))) return st;
    if (!w->av.calibrated)
        return h->error(ps->s, PTQ_ERR_INVALID, "layer '%s': its input quantizer has no scale yet",
                        w->name);
    if (w->av.n != 1)
        return h->error(ps->s, PTQ_ERR_UNSUPPORTED, "layer '%s': its input quantizer has %lld "
                        "scales; EasyQuant searches per-tensor activation scales", w->name,
                        (long long)w->av.n);
    return PTQ_OK;
}

static ptq_status alloc_work(const eq_pass *ps, eq_work *w) {
    const ptq_host *h = ps->h;
    const int64_t groups = w->wv.n, c_n = w->l->channels, images = ps->p->images;
    const int64_t in = images * w->l->in_sample;
    w->x = alloc_array(h, in, sizeof *w->x);
    w->xq = alloc_array(h, in, sizeof *w->xq);
    w->w0 = alloc_array(h, w->w_numel, sizeof *w->w0);
    w->w_s0 = alloc_array(h, groups, sizeof *w->w_s0);
    w->w_scale = alloc_array(h, groups, sizeof *w->w_scale);
    w->w_cand = alloc_array(h, groups, sizeof *w->w_cand);
    w->w_trial = alloc_array(h, groups, sizeof *w->w_trial);
    w->best = alloc_array(h, groups, sizeof *w->best);
    w->score = alloc_array(h, groups, sizeof *w->score);
    w->ref_image_norm = alloc_array(h, images, sizeof *w->ref_image_norm);
    w->ref_channel_norm = alloc_array(h, c_n, sizeof *w->ref_channel_norm);
    w->image_cos = alloc_array(h, images, sizeof *w->image_cos);
    w->part_dot = alloc_array(h, images * c_n, sizeof *w->part_dot);
    w->part_norm = alloc_array(h, images * c_n, sizeof *w->part_norm);
    if (!w->x || !w->xq || !w->w0 || !w->w_s0 || !w->w_scale || !w->w_cand || !w->w_trial ||
        !w->best || !w->score || !w->ref_image_norm || !w->ref_channel_norm || !w->image_cos ||
        !w->part_dot || !w->part_norm)
        return h->error(ps->s, PTQ_ERR_NOMEM, "layer '%s': out of memory (%lld input floats)",
                        w->name, (long long)in);
    return PTQ_OK;
}

/* The layer's bias, when the host rounds it as the quantized model does (w->bias -1: the
 * float run keeps it as it is, which is what the quantized model adds then too). */
static ptq_status bias_layout(const eq_pass *ps, eq_work *w) {
    const ptq_host *h = ps->h;
    w->bias = -1;
    if (!PTQ_HOST_HAS(h, bias_to_grid)) return PTQ_OK;
    ptq_node_info ni = {.struct_size = sizeof ni};
    ptq_status st = h->node_info(ps->s, w->l->conv, &ni);
    if (st) return st;
    if (ni.n_inputs < 3 || ni.inputs[2] < 0) return PTQ_OK;
    ptq_tensor_view v;
    if (h->value_view(ps->s, ni.inputs[2], &v) || !v.data || v.dtype != PTQ_DTYPE_F32 || v.ndim != 1)
        return PTQ_OK;
    w->b_n = v.ne[0];
    w->b = v.data;
    w->b0 = alloc_array(h, w->b_n, sizeof *w->b0);
    w->b_try = alloc_array(h, w->b_n, sizeof *w->b_try);
    if (!w->b0 || !w->b_try)
        return h->error(ps->s, PTQ_ERR_NOMEM, "layer '%s': out of memory", w->name);
    memcpy(w->b0, w->b, (size_t)w->b_n * sizeof *w->b0);
    w->bias = ni.inputs[2];
    return PTQ_OK;
}

/* Everything layer l's search needs: views, buffers, the cached input and O, the
 * starting scales, and the planned run of its own nodes. */
static ptq_status prepare_layer(const eq_pass *ps, const eq_layer *l, eq_work *w) {
    const ptq_host *h = ps->h;
    memset(w, 0, sizeof *w);
    w->bias = -1;
    w->l = l;
    w->name = h->node_name(ps->s, l->conv);
    ptq_status st;
    if ((st = read_quantizers(ps, w)) || (st = weight_layout(ps, w)) || (st = alloc_work(ps, w)))
        return st;
    memcpy(w->w0, w->w, (size_t)w->w_numel * sizeof *w->w0);
    if ((st = bias_layout(ps, w))) return st;
    memcpy(w->w_s0, w->wv.scale, (size_t)w->wv.n * sizeof *w->w_s0);
    memcpy(w->w_scale, w->w_s0, (size_t)w->wv.n * sizeof *w->w_scale);
    w->a_s0 = w->a_scale = l->aq >= 0 ? w->av.scale[0] : 1.0f;
    w->search_w = ps->p->search != SEARCH_ACTIVATIONS;
    w->search_a = ps->p->search != SEARCH_WEIGHTS && l->aq >= 0 && !ps->act_searched[l->aq];
    w->ref = h->run_data(ps->reference, l->output); /* checked by run_reference */
    reference_norms(ps, w);
    if ((st = cache_quantized_input(ps, w))) return st;
    const int32_t nodes[2] = {l->conv, l->act};
    w->run = h->run_new(ps->s, PTQ_MODEL_FLOAT, nodes, l->act >= 0 ? 2 : 1, &l->output, 1,
                        ps->p->images);
    if (!w->run) return PTQ_ERR_INVALID;
    return h->run_bind(w->run, l->input, w->xq);
}

/* Writes the chosen scales into the quantizers (views re-read: the session owns them). */
static ptq_status commit_scales(const eq_pass *ps, eq_work *w) {
    const ptq_host *h = ps->h;
    ptq_quant_view v;
    ptq_status st = h->quantizer_view(ps->s, w->l->wq, &v);
    if (st) return st;
    memcpy(v.scale, w->w_scale, (size_t)v.n * sizeof *v.scale);
    h->quantizer_changed(ps->s, w->l->wq);
    if (!w->search_a) return PTQ_OK;
    if ((st = h->quantizer_view(ps->s, w->l->aq, &v))) return st;
    v.scale[0] = w->a_scale;
    h->quantizer_changed(ps->s, w->l->aq);
    ps->act_searched[w->l->aq] = 1;
    return PTQ_OK;
}

static ptq_status report_layer(const eq_pass *ps, const eq_work *w) {
    if (!PTQ_HOST_HAS(ps->h, report_row)) return PTQ_OK;
    double ratio = 0.0;
    for (int64_t c = 0; c < w->wv.n; c++) ratio += (double)w->w_scale[c] / w->w_s0[c];
    static const char *const cols[] = {"cos_before", "cos_after", "weight_scale_ratio_mean",
                                       "act_scale_ratio", "rounds"};
    const double values[] = {w->cos_before, w->cos_after,
                             w->search_w ? ratio / (double)w->wv.n : NAN,
                             w->search_a ? (double)w->a_scale / w->a_s0 : NAN, (double)w->rounds};
    return ps->h->report_row(ps->s, "layers", w->name, cols, values, 5);
}

/* Searches layer l; the float weights are back in place whatever happens. */
static ptq_status search_one(const eq_pass *ps, const eq_layer *l, double *before, double *after) {
    eq_work w;
    ptq_status st = prepare_layer(ps, l, &w);
    if (!st) st = search_layer(ps, &w);
    if (!st) st = commit_scales(ps, &w);
    if (!st) st = report_layer(ps, &w);
    if (!st) {
        *before = w.cos_before, *after = w.cos_after;
        ps->h->log(ps->s, PTQ_LOG_DEBUG, "%s: cosine %.6f -> %.6f in %d rounds", w.name,
                   w.cos_before, w.cos_after, w.rounds);
    }
    work_free(ps, &w);
    return st;
}

/* ---- the pass ------------------------------------------------------------------------- */

/* Refusals that depend on more than one parameter or on the session. */
static ptq_status check_params(const ptq_host *h, ptq_session *s, const eq_params *p,
                               ptq_tensor_view *calib) {
    if (p->alpha >= p->beta)
        return h->error(s, PTQ_ERR_INVALID, "alpha (%g) must be less than beta (%g): the grid is "
                        "linspace(alpha S0, beta S0, n)", p->alpha, p->beta);
    ptq_status st = h->calib_view(s, calib, NULL);
    if (st) return st;
    if (p->images > calib->ne[0])
        return h->error(s, PTQ_ERR_INVALID, "images (%lld) is larger than the calibration set "
                        "(%lld images)", (long long)p->images, (long long)calib->ne[0]);
    return PTQ_OK;
}

/* The float network on the images, keeping every layer's O: the search's targets,
 * checked finite before any layer is touched. */
static ptq_status run_reference(eq_pass *ps, const eq_layer *layers, int32_t n) {
    const ptq_host *h = ps->h;
    int32_t *keep = h->alloc((size_t)n * sizeof *keep);
    if (!keep) return h->error(ps->s, PTQ_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < n; i++) keep[i] = layers[i].output;
    ps->reference = h->run_new(ps->s, PTQ_MODEL_FLOAT, NULL, 0, keep, n, ps->p->images);
    h->free(keep);
    if (!ps->reference) return PTQ_ERR_INVALID;
    ptq_status st = h->run_bind(ps->reference, ps->input, ps->images);
    if (!st) st = h->run_exec(ps->reference, ps->p->images);
    for (int32_t i = 0; i < n && !st; i++) {
        const char *name = h->node_name(ps->s, layers[i].conv);
        const float *o = h->run_data(ps->reference, layers[i].output);
        if (!o)
            st = h->error(ps->s, PTQ_ERR_INTERNAL, "layer '%s': the float run did not keep its "
                          "output", name);
        else if (!all_finite(o, ps->p->images * layers[i].out_sample))
            st = h->error(ps->s, PTQ_ERR_NUMERIC, "layer '%s': its output in the float network "
                          "has NaN or Inf", name);
    }
    return st;
}

static ptq_status search_scales_run(const ptq_host *h, ptq_session *s, const void *params) {
    const eq_params *p = params;
    const double t0 = ptq_util_seconds();
    ptq_tensor_view calib;
    ptq_status st = check_params(h, s, p, &calib);
    if (st) return st;
    eq_pass ps = {h, s, p, -1, calib.data, NULL, NULL, h->threads(s) > 0 ? h->threads(s) : 1};
    if ((ps.input = ptq_util_graph_input(h, s, "EasyQuant")) < 0) return PTQ_ERR_UNSUPPORTED;
    ptq_tensor_view in;
    if ((st = h->value_view(s, ps.input, &in))) return st;
    if (sample_floats(&in) != calib.ne[1] * calib.ne[2] * calib.ne[3])
        return h->error(s, PTQ_ERR_INVALID, "the calibration images do not match the model's "
                        "input '%s'", h->value_name(s, ps.input));
    eq_layer *layers;
    const int32_t n = find_layers(h, s, &layers);
    if (n < 0) return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    ps.act_searched = h->alloc((size_t)(h->quantizer_count(s) + 1));
    if (!ps.act_searched) st = h->error(s, PTQ_ERR_NOMEM, "out of memory");
    if (!st && n == 0) h->log(s, PTQ_LOG_WARN, "no layer has a quantized weight: nothing to do");
    if (!st && n > 0) st = run_reference(&ps, layers, n);
    double before = 0.0, after = 0.0;
    for (int32_t i = 0; i < n && !st; i++) {
        double b = 0.0, a = 0.0;
        st = search_one(&ps, &layers[i], &b, &a);
        before += b, after += a;
        h->progress(s, "easyquant: layers", i + 1, n);
    }
    if (!st && n > 0)
        h->log(s, PTQ_LOG_INFO, "%d layers, mean output cosine %.6f -> %.6f (%lld images, %lld "
               "candidates per grid, %.1f s)", n, before / n, after / n, (long long)p->images,
               (long long)p->n, ptq_util_seconds() - t0);
    if (ps.reference) h->run_free(ps.reference);
    h->free(ps.act_searched);
    h->free(layers);
    return st;
}

/* ---- the plugin's tables --------------------------------------------------------------- */

static const char *const search_reads[] = {"quant.weights", "quant.activations", "calib.data",
                                           NULL};
static const char *const search_writes[] = {"quant.weights", "quant.activations",
                                            "quant.weights.tuned", "quant.activations.tuned",
                                            NULL};
/* New weight scales move every weight's grid: rounding learned on the old one is void. */
static const char *const search_invalidates[] = {"quant.rounding", NULL};

static const ptq_pass_def search_scales_pass = {
    sizeof(ptq_pass_def),
    "easyquant.search_scales",
    "per-layer weight (per channel) and input scales maximising the output's cosine similarity",
    eq_param_defs,
    sizeof(eq_params),
    search_reads,
    NULL,
    search_writes,
    search_scales_run,
    search_invalidates,
};

static ptq_status easyquant_init(const ptq_host *host) {
    /* Everything used beyond SDK 0.1 (report_row) is checked where it is used. */
    if (host->struct_size < offsetof(ptq_host, node_set_clip))
        return host->error(NULL, PTQ_ERR_UNSUPPORTED, "needs a ptq with plugin ABI >= 0.1");
    return PTQ_OK;
}

static const ptq_pass_def *const easyquant_passes[] = {&search_scales_pass, NULL};

static const ptq_plugin_desc easyquant_desc = {
    PTQ_VERSION_INIT,
    sizeof(ptq_plugin_desc),
    PTQ_ABI_FINGERPRINT,
    "easyquant",
    "0.1.0",
    "EasyQuant (Wu et al. 2020): scale search by layer-output cosine similarity",
    easyquant_init,
    NULL,
    easyquant_passes,
};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &easyquant_desc; }
