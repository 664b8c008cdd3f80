/*
 * sensitivity.c — per-layer quantization sensitivity, and keeping the most sensitive
 * layers at a higher bit width (mixed precision).
 *
 * Two passes:
 *
 *   sensitivity.measure  for every quantized layer, the network's output with that layer
 *                        alone in float (everything else quantized) and with that layer
 *                        alone quantized (everything else float), against the float
 *                        model; the layers sorted, most sensitive first.
 *   sensitivity.keep     gives the n most sensitive layers a higher width (8 bits by
 *                        default) and recalibrates their quantizers with their observers.
 *
 * What a layer is: a Conv, Gemm or MatMul whose weight is quantized.  Its quantizers are
 * its weight quantizer and the activation quantizer on the value it reads (its data
 * input, followed back through pooling, reshapes, ReLU and Clip to the first quantized
 * value): what the layer's integer kernel multiplies, so "this layer at 8 bits" means an
 * 8 x 8 kernel, and the same activation that a pipeline override `nodes: [X],
 * activations: {bits: 8}` sets.  With `placement: deploy` that is the quantizer at the
 * layer's input; with `placement: paper` the quantizer at the output of the unit before
 * it.  A value several layers read (a ResNet block's input, read by its first conv and
 * its downsample conv) has one quantizer, which then belongs to each of them: taking one
 * of them out of quantization (or raising its width) does it for the other's input too.
 * Quantizers that belong to no layer (the branch inputs of a residual Add in deploy
 * placement, a quantized network output) stay quantized in (a), float in (b), and are
 * never raised by keep.
 *
 * The measurement, on the first `images` calibration images (all when fewer exist):
 *   reference       the float model's output (the logits) and its top-1 classes;
 *   quantized       every quantizer applied (the model as the pipeline stands);
 *   (a) alone float       every quantizer except the layer's (host->run_new_bypass);
 *   (b) alone quantized   only the layer's quantizers.
 * For each: the output SQNR in dB, 10 log10(sum y^2 / sum (y - y_q)^2) over all images
 * and classes (+inf, reported as null, when identical), and the top-1 agreement with the
 * float model's classes (robust: the calibration set need not have labels); with labels
 * also the top-1 against them.  2 x layers + 2 runs of the model on `images` images.
 *
 * Sensitivity order (`by`):
 *   alone_quantized  (default) the alone-quantized SQNR ascending: the layer whose
 *                    quantization alone hurts the output most comes first;
 *   alone_float      the gain in output SQNR when the layer alone is float, largest
 *                    first: the layer whose removal from an all-quantized model helps
 *                    most.
 * The first answers "which layer is fragile", the second "which layer, kept at higher
 * precision in this model, buys the most".  At 4 bits the second is a small difference
 * of two noisy numbers (one layer among 50 quantizers moves the output SQNR by tenths
 * of a dB, sometimes down: errors partly cancel), and on ResNet-20 W4A4 keeping its top
 * three gains less than keeping alone_quantized's (README.md): alone_quantized is the
 * default.  Ties go to the earlier layer.
 *
 * Results: table `layers` (rows in sensitivity order: rank, the SQNRs, the agreements,
 * the alone-float gain, the layer's weight and activation bits, and top-1s with labels),
 * table `model` (the quantized model's output), the log's head of the list, and the
 * artifact `sensitivity.ranking`: int32 node ids, most sensitive first, every layer once,
 * with `sensitivity.ranking.by` (one int32: 0 alone_quantized, 1 alone_float).
 *
 * sensitivity.keep takes the ranking from the artifact when an earlier
 * sensitivity.measure left one with the same `by`, else measures itself (same tables).
 * Walking the ranking from the top it raises each layer's quantizers to `weight_bits` /
 * `act_bits` (never lowers one) until n layers were raised; a layer whose quantizers are
 * all at least that wide already (an 8-bit first layer by override) is skipped and does
 * not count.  Each raised quantizer is recalibrated with its own observer (weights from
 * their values, activations on the calibration images, the float model, as
 * core.calibrate does), so keep needs calibration data.  It reports table `kept` (per
 * raised layer: its rank, widths before and after, its alone-quantized SQNR before and
 * after) and `model` (the quantized model's output before and after), and leaves the
 * raised layers' node ids as `sensitivity.kept`.
 *
 * Where keep may run: after calibration (it reads quant.weights and quant.activations),
 * before anything learned or searched on the old grids.  It declares that it invalidates
 * the learned rounding (quant.rounding, quant.activations.rounding), the searched scales
 * (quant.weights.tuned, quant.activations.tuned) and a bias correction computed for the
 * old quantization error (graph.bias_corrected): the pipeline refuses it after
 * adaround.reconstruct, nwq.reconstruct, aquant.reconstruct, easyquant.search_scales or
 * dfq.correct_bias, naming the order that works.  Widths it sets stay the quantizers'
 * own: later calibrations, the report's per-layer bits and the QDQ export use them.
 *
 * Needs SDK 0.9 (run_new_bypass, quantizer_set_bits) and 0.2 (report_row).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptq/ptq_util.h>

/* ---- parameters ------------------------------------------------------------------------ */

#define BY_ALONE_QUANTIZED 0
#define BY_ALONE_FLOAT 1

typedef struct measure_params {
    int64_t images;
    int64_t top;
    int32_t by;
    int32_t reserved;
} measure_params;

typedef struct keep_params {
    int64_t n;
    int64_t bits;
    int64_t weight_bits;
    int64_t act_bits;
    int32_t by;
    int32_t reserved;
    int64_t images;
} keep_params;

static const char *const by_choices[] = {"alone_quantized", "alone_float", NULL};

/* ---- layers ------------------------------------------------------------------------------ */

typedef struct layer {
    int32_t node;
    int32_t wq, aq;          /* weight and input-activation quantizer (aq -1: none) */
    double af_sqnr, af_agree, af_top1; /* (a) alone float */
    double aq_sqnr, aq_agree, aq_top1; /* (b) alone quantized */
} layer;

/* Ops a quantized value passes through on its way to a layer without a new grid: the
 * layer reads the quantizer before them (session.c's passes_grid, which also tells a
 * linear Resize, not a grid pass, from a nearest one; node_info cannot, so a layer after
 * a linear Resize finds no quantizer there and this finds the one before it). */
static bool passes_grid(ptq_op op) {
    return op == PTQ_OP_EXPAND || op == PTQ_OP_MAX_POOL || op == PTQ_OP_AVERAGE_POOL || op == PTQ_OP_GLOBAL_AVERAGE_POOL ||
           op == PTQ_OP_GLOBAL_MAX_POOL || op == PTQ_OP_FLATTEN || op == PTQ_OP_RESHAPE ||
           op == PTQ_OP_TRANSPOSE || op == PTQ_OP_PAD || op == PTQ_OP_RELU || op == PTQ_OP_CLIP ||
           op == PTQ_OP_RESIZE || op == PTQ_OP_SLICE || op == PTQ_OP_SPLIT;
}

/* The activation quantizer on the value node reads as its data input, or -1. */
static int32_t input_quantizer(const ptq_host *h, ptq_session *s, int32_t node) {
    ptq_node_info ni;
    if (h->node_info(s, node, &ni)) return -1;
    int32_t v = ni.inputs[0];
    for (int32_t hops = 0; v >= 0 && hops < h->node_count(s); hops++) {
        const int32_t q = h->quantizer_of(s, v);
        ptq_quant_view qv = {.struct_size = sizeof qv};
        if (q >= 0 && !h->quantizer_view(s, q, &qv) && !qv.is_weight) return q;
        const int32_t p = h->value_producer(s, v);
        if (p < 0 || h->node_info(s, p, &ni) || !passes_grid(ni.op)) return -1;
        v = ni.inputs[0];
    }
    return -1;
}

/* Every layer in topological order into *out (host memory, caller frees); the count. */
static int32_t find_layers(const ptq_host *h, ptq_session *s, layer **out) {
    const int32_t n_nodes = h->node_count(s);
    layer *l = h->alloc((size_t)(n_nodes + 1) * sizeof *l);
    if (!l) {
        h->error(s, PTQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    int32_t n = 0;
    for (int32_t node = 0; node < n_nodes; node++) {
        const int32_t wq = ptq_util_weight_quantizer(h, s, node);
        if (wq < 0) continue;
        l[n].node = node;
        l[n].wq = wq;
        l[n].aq = input_quantizer(h, s, node);
        n++;
    }
    *out = l;
    return n;
}

static int32_t bits_of(const ptq_host *h, ptq_session *s, int32_t q) {
    ptq_quant_view v = {.struct_size = sizeof v};
    return q >= 0 && !h->quantizer_view(s, q, &v) ? v.bits : 0;
}

/* ---- running the model -------------------------------------------------------------------- */

typedef struct meter {
    const ptq_host *h;
    ptq_session *s;
    int32_t input, output;
    int64_t n, sample, classes, batch;
    const float *images;
    const int32_t *labels;    /* NULL without */
    float *ref;               /* the float model's outputs, n x classes */
    int32_t *ref_class;       /* their top-1 */
    float *out;               /* the run being measured */
    uint8_t *mask;            /* quantizer_count entries */
    int32_t n_q;
} meter;

/* What a run's output is worth against the float model. */
typedef struct score {
    double sqnr_db, agree, top1;
} score;

static int64_t argmax(const float *x, int64_t k) {
    int64_t best = 0;
    for (int64_t i = 1; i < k; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* The model's one graph output (a value produced and read by nobody), [N, classes]. */
static int32_t find_output(const ptq_host *h, ptq_session *s, int64_t *classes) {
    int32_t found = -1, count = 0;
    for (int32_t v = 0; v < h->value_count(s); v++) {
        if (h->value_producer(s, v) < 0 || h->value_readers(s, v, NULL, 0) > 0) continue;
        found = v, count++;
    }
    ptq_tensor_view view = {.struct_size = sizeof view};
    if (count != 1 || h->value_view(s, found, &view) || view.ndim != 2 || view.ne[1] < 1) {
        h->error(s, PTQ_ERR_UNSUPPORTED, "sensitivity measures a classifier's output: one graph "
                 "output of class scores [N, classes]; this model has %d outputs%s", count,
                 count == 1 ? " of another shape" : "");
        return -1;
    }
    *classes = view.ne[1];
    return found;
}

/* Runs the float model (mask NULL) or the quantized model with the quantizers mask marks
 * left out, on the meter's images, into m->out. */
static ptq_status run_model(meter *m, const uint8_t *mask) {
    const ptq_host *h = m->h;
    ptq_run *r = mask ? h->run_new_bypass(m->s, NULL, 0, &m->output, 1, m->batch, mask, m->n_q)
                      : h->run_new(m->s, PTQ_MODEL_FLOAT, NULL, 0, &m->output, 1, m->batch);
    if (!r) return PTQ_ERR_INVALID; /* the host recorded why */
    ptq_status st = PTQ_OK;
    for (int64_t at = 0; at < m->n && !st; at += m->batch) {
        const int64_t b = m->n - at < m->batch ? m->n - at : m->batch;
        if ((st = h->run_bind(r, m->input, m->images + at * m->sample)) || (st = h->run_exec(r, b))) break;
        const float *y = h->run_data(r, m->output);
        if (!y) {
            st = h->error(m->s, PTQ_ERR_INTERNAL, "the run kept no output");
            break;
        }
        memcpy(m->out + at * m->classes, y, (size_t)(b * m->classes) * sizeof(float));
    }
    h->run_free(r);
    return st;
}

/* m->out against the float reference. */
static score score_of(const meter *m) {
    double signal = 0.0, noise = 0.0;
    int64_t agree = 0, correct = 0;
    for (int64_t i = 0; i < m->n; i++) {
        const float *y = m->ref + i * m->classes, *q = m->out + i * m->classes;
        for (int64_t k = 0; k < m->classes; k++) {
            const double d = (double)y[k] - (double)q[k];
            signal += (double)y[k] * y[k];
            noise += d * d;
        }
        const int64_t c = argmax(q, m->classes);
        agree += c == m->ref_class[i];
        if (m->labels) correct += c == m->labels[i];
    }
    score sc;
    sc.sqnr_db = noise > 0.0 ? 10.0 * log10(signal / noise) : INFINITY;
    sc.agree = (double)agree / (double)m->n;
    sc.top1 = m->labels ? (double)correct / (double)m->n : NAN;
    return sc;
}

/* Runs with `mask` and scores the output; a non-finite output is an error naming `what`. */
static ptq_status measure_run(meter *m, const uint8_t *mask, const char *what, score *sc) {
    ptq_status st = run_model(m, mask);
    if (st) return st;
    for (int64_t i = 0; i < m->n * m->classes; i++)
        if (!isfinite(m->out[i]))
            return m->h->error(m->s, PTQ_ERR_NUMERIC, "%s: the model's output is not finite "
                               "(image %lld)", what, (long long)(i / m->classes));
    *sc = score_of(m);
    return PTQ_OK;
}

static void meter_free(meter *m) {
    const ptq_host *h = m->h;
    h->free(m->ref);
    h->free(m->ref_class);
    h->free(m->out);
    h->free(m->mask);
}

/* The meter on the first `images` calibration images, with the float reference run. */
static ptq_status meter_open(meter *m, const ptq_host *h, ptq_session *s, int64_t images) {
    memset(m, 0, sizeof *m);
    m->h = h;
    m->s = s;
    ptq_tensor_view calib = {.struct_size = sizeof calib};
    ptq_status st = h->calib_view(s, &calib, &m->labels);
    if (st) return st;
    if ((m->input = ptq_util_graph_input(h, s, "sensitivity")) < 0) return PTQ_ERR_UNSUPPORTED;
    if ((m->output = find_output(h, s, &m->classes)) < 0) return PTQ_ERR_UNSUPPORTED;
    m->n = images < calib.ne[0] ? images : calib.ne[0];
    if (m->n < images)
        h->log(s, PTQ_LOG_INFO, "measuring on the %lld calibration images there are (images: %lld)",
               (long long)m->n, (long long)images);
    m->sample = calib.ne[1] * calib.ne[2] * calib.ne[3];
    m->images = calib.data;
    m->batch = m->n < 128 ? m->n : 128;
    m->n_q = h->quantizer_count(s);
    m->ref = h->alloc((size_t)(m->n * m->classes) * sizeof(float));
    m->out = h->alloc((size_t)(m->n * m->classes) * sizeof(float));
    m->ref_class = h->alloc((size_t)m->n * sizeof(int32_t));
    m->mask = h->alloc((size_t)m->n_q + 1);
    if (!m->ref || !m->out || !m->ref_class || !m->mask) return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    if ((st = run_model(m, NULL))) return st;
    memcpy(m->ref, m->out, (size_t)(m->n * m->classes) * sizeof(float));
    for (int64_t i = 0; i < m->n; i++) m->ref_class[i] = (int32_t)argmax(m->ref + i * m->classes, m->classes);
    return PTQ_OK;
}

/* The mask of the model with only layer l's quantizers quantized (alone = true) or with
 * every quantizer but layer l's (alone = false); l NULL: every quantizer applies. */
static void set_mask(meter *m, const layer *l, bool alone) {
    memset(m->mask, alone ? 1 : 0, (size_t)m->n_q);
    if (!l) return;
    m->mask[l->wq] = alone ? 0 : 1;
    if (l->aq >= 0) m->mask[l->aq] = alone ? 0 : 1;
}

/* ---- the measurement ------------------------------------------------------------------------ */

typedef struct ranking {
    layer *layers;           /* in sensitivity order once sorted */
    int32_t n;
    score quantized;         /* every quantizer applied */
    int32_t by;
} ranking;

static int32_t sort_by; /* the key of the comparison below (qsort has no context) */
static double sort_base;

static int cmp_layers(const void *pa, const void *pb) {
    const layer *a = pa, *b = pb;
    double ka, kb; /* smaller first */
    if (sort_by == BY_ALONE_FLOAT) ka = -(a->af_sqnr - sort_base), kb = -(b->af_sqnr - sort_base);
    else ka = a->aq_sqnr, kb = b->aq_sqnr;
    if (ka < kb) return -1;
    if (ka > kb) return 1;
    if (a->node != b->node) return a->node < b->node ? -1 : 1;
    return 0;
}

/* The whole measurement: every layer alone float and alone quantized, sorted. */
static ptq_status measure(meter *m, ranking *rk, int32_t by) {
    const ptq_host *h = m->h;
    ptq_session *s = m->s;
    memset(rk, 0, sizeof *rk);
    rk->by = by;
    rk->n = find_layers(h, s, &rk->layers);
    if (rk->n < 0) return PTQ_ERR_NOMEM;
    if (rk->n == 0)
        return h->error(s, PTQ_ERR_INVALID, "no layer has a quantized weight: nothing to measure");
    set_mask(m, NULL, false);
    ptq_status st = measure_run(m, m->mask, "the quantized model", &rk->quantized);
    for (int32_t i = 0; i < rk->n && !st; i++) {
        layer *l = &rk->layers[i];
        const char *name = h->node_name(s, l->node);
        score sc;
        set_mask(m, l, false);
        if (!(st = measure_run(m, m->mask, name, &sc)))
            l->af_sqnr = sc.sqnr_db, l->af_agree = sc.agree, l->af_top1 = sc.top1;
        set_mask(m, l, true);
        if (!st && !(st = measure_run(m, m->mask, name, &sc)))
            l->aq_sqnr = sc.sqnr_db, l->aq_agree = sc.agree, l->aq_top1 = sc.top1;
        h->progress(s, "sensitivity: layers", i + 1, rk->n);
    }
    if (st) return st;
    sort_by = by;
    sort_base = rk->quantized.sqnr_db;
    qsort(rk->layers, (size_t)rk->n, sizeof *rk->layers, cmp_layers);
    return PTQ_OK;
}

/* The ranking's report (table `layers`, and table `model` with `model_row`) and its head
 * in the log. */
static ptq_status report_ranking(const meter *m, const ranking *rk, int64_t top, bool model_row) {
    const ptq_host *h = m->h;
    ptq_session *s = m->s;
    static const char *const cols[] = {"rank", "alone_quantized_sqnr_db", "alone_quantized_agree",
                                       "alone_float_sqnr_db", "alone_float_agree",
                                       "alone_float_gain_db", "weight_bits", "act_bits",
                                       "alone_quantized_top1", "alone_float_top1"};
    const int32_t n_cols = m->labels ? 10 : 8;
    ptq_status st = PTQ_OK;
    for (int32_t i = 0; i < rk->n && !st; i++) {
        const layer *l = &rk->layers[i];
        const double v[] = {i + 1, l->aq_sqnr, l->aq_agree, l->af_sqnr, l->af_agree,
                            l->af_sqnr - rk->quantized.sqnr_db, bits_of(h, s, l->wq),
                            bits_of(h, s, l->aq), l->aq_top1, l->af_top1};
        st = h->report_row(s, "layers", h->node_name(s, l->node), cols, v, n_cols);
    }
    static const char *const mcols[] = {"images", "sqnr_db", "agree", "top1"};
    const double mv[] = {(double)m->n, rk->quantized.sqnr_db, rk->quantized.agree, rk->quantized.top1};
    if (!st && model_row) st = h->report_row(s, "model", "quantized", mcols, mv, m->labels ? 4 : 3);
    if (st) return st;
    h->log(s, PTQ_LOG_INFO, "%d layers on %lld images, by %s; the quantized model: output SQNR "
           "%.2f dB, top-1 agreement with float %.1f %%", rk->n, (long long)m->n,
           by_choices[rk->by], rk->quantized.sqnr_db, 100.0 * rk->quantized.agree);
    for (int32_t i = 0; i < rk->n && i < top; i++) {
        const layer *l = &rk->layers[i];
        h->log(s, PTQ_LOG_INFO, "  %2d. %-32s alone quantized %6.2f dB (%5.1f %%), alone float "
               "%6.2f dB (%+.2f dB, %5.1f %%)", i + 1, h->node_name(s, l->node), l->aq_sqnr,
               100.0 * l->aq_agree, l->af_sqnr, l->af_sqnr - rk->quantized.sqnr_db,
               100.0 * l->af_agree);
    }
    return PTQ_OK;
}

/* Stores the ranking as the artifacts sensitivity.ranking and sensitivity.ranking.by (the
 * session frees them with the host's free, also when storing fails). */
static ptq_status store_ranking(const ptq_host *h, ptq_session *s, const ranking *rk) {
    int32_t *ids = h->alloc((size_t)rk->n * sizeof *ids);
    int32_t *by = h->alloc(sizeof *by);
    if (!ids || !by) {
        h->free(ids), h->free(by);
        return h->error(s, PTQ_ERR_NOMEM, "out of memory");
    }
    for (int32_t i = 0; i < rk->n; i++) ids[i] = rk->layers[i].node;
    *by = rk->by;
    ptq_status st = h->artifact_set(s, "sensitivity.ranking", ids, (size_t)rk->n * sizeof *ids, h->free);
    if (!st) st = h->artifact_set(s, "sensitivity.ranking.by", by, sizeof *by, h->free);
    else h->free(by);
    return st;
}

/* ---- sensitivity.measure ------------------------------------------------------------------- */

static ptq_status measure_pass(const ptq_host *h, ptq_session *s, const void *params) {
    const measure_params *p = params;
    const double t0 = ptq_util_seconds();
    meter m;
    ranking rk = {0};
    ptq_status st = meter_open(&m, h, s, p->images);
    if (!st) st = measure(&m, &rk, p->by);
    if (!st) st = report_ranking(&m, &rk, p->top, true);
    if (!st) st = store_ranking(h, s, &rk);
    if (!st) h->log(s, PTQ_LOG_INFO, "%d runs of the model in %.1f s", 2 * rk.n + 2, ptq_util_seconds() - t0);
    meter_free(&m);
    h->free(rk.layers);
    return st;
}

/* ---- sensitivity.keep ---------------------------------------------------------------------- */

/* A width parameter as quantizers take it, or an error naming it. */
static ptq_status check_width(const ptq_host *h, ptq_session *s, const char *name, int64_t bits) {
    if ((bits >= 2 && bits <= 8) || bits == 16) return PTQ_OK;
    return h->error(s, PTQ_ERR_INVALID, "%s: %lld: quantizers have 2 to 8 or 16 bits", name,
                    (long long)bits);
}

/* The ranking an earlier sensitivity.measure stored, when it is by `by` and names every
 * layer once: the layers reordered into it (true), else false (then keep measures). */
static bool stored_ranking(const ptq_host *h, ptq_session *s, ranking *rk, int32_t by) {
    size_t size = 0, by_size = 0;
    const int32_t *ids = h->artifact_get(s, "sensitivity.ranking", &size);
    const int32_t *stored_by = h->artifact_get(s, "sensitivity.ranking.by", &by_size);
    if (!ids) return false;
    if (!stored_by || by_size != sizeof *stored_by || *stored_by != by) {
        h->log(s, PTQ_LOG_INFO, "the stored ranking is not by %s: measuring again", by_choices[by]);
        return false;
    }
    if (size != (size_t)rk->n * sizeof *ids) {
        h->log(s, PTQ_LOG_WARN, "the stored ranking has %zu layers, the model %d: measuring again",
               size / sizeof *ids, rk->n);
        return false;
    }
    layer *sorted = h->alloc((size_t)rk->n * sizeof *sorted);
    if (!sorted) return false;
    for (int32_t i = 0; i < rk->n; i++) {
        int32_t j = 0;
        while (j < rk->n && rk->layers[j].node != ids[i]) j++;
        if (j == rk->n || rk->layers[j].node < 0) {
            h->log(s, PTQ_LOG_WARN, "the stored ranking names node %d, not a quantized layer (or "
                   "twice): measuring again", ids[i]);
            h->free(sorted);
            return false;
        }
        sorted[i] = rk->layers[j];
        rk->layers[j].node = -1; /* taken */
    }
    h->free(rk->layers);
    rk->layers = sorted;
    h->log(s, PTQ_LOG_INFO, "the ranking of an earlier sensitivity.measure (by %s)", by_choices[by]);
    return true;
}

/* Raises q to `bits` (never lowers it) and recalibrates it with its observer. */
static ptq_status raise_to(const ptq_host *h, ptq_session *s, int32_t q, int32_t bits) {
    if (q < 0 || bits_of(h, s, q) >= bits) return PTQ_OK;
    ptq_status st = h->quantizer_set_bits(s, q, bits);
    return st ? st : h->quantizer_calibrate(s, q);
}

typedef struct kept_layer {
    const layer *l;
    int32_t rank;
    int32_t wb0, ab0, wb1, ab1;
    double sqnr0, sqnr1;
} kept_layer;

static ptq_status keep_pass(const ptq_host *h, ptq_session *s, const void *params) {
    const keep_params *p = params;
    const int64_t wbits = p->weight_bits ? p->weight_bits : p->bits;
    const int64_t abits = p->act_bits ? p->act_bits : p->bits;
    ptq_status st = check_width(h, s, "bits", p->bits);
    if (!st && p->weight_bits) st = check_width(h, s, "weight_bits", p->weight_bits);
    if (!st && p->act_bits) st = check_width(h, s, "act_bits", p->act_bits);
    if (st) return st;
    meter m;
    ranking rk = {0};
    kept_layer *kept = NULL;
    int32_t n_kept = 0, skipped = 0;
    score before = {0}, after = {0};
    if ((st = meter_open(&m, h, s, p->images))) goto out;
    if ((rk.n = find_layers(h, s, &rk.layers)) < 0) {
        st = PTQ_ERR_NOMEM;
        goto out;
    }
    if (p->n > rk.n) {
        st = h->error(s, PTQ_ERR_INVALID, "n: %lld layers to keep, and the model has %d quantized "
                      "layers (Conv/Gemm/MatMul with a quantized weight)", (long long)p->n, rk.n);
        goto out;
    }
    rk.by = p->by;
    if (!stored_ranking(h, s, &rk, p->by)) {
        h->free(rk.layers);
        if ((st = measure(&m, &rk, p->by)) || (st = report_ranking(&m, &rk, 5, false))) goto out;
    }
    /* The first n layers from the top with a quantizer below the widths asked for. */
    kept = h->alloc((size_t)(p->n + 1) * sizeof *kept);
    if (!kept) {
        st = h->error(s, PTQ_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int32_t i = 0; i < rk.n && n_kept < p->n; i++) {
        const layer *l = &rk.layers[i];
        const int32_t wb = bits_of(h, s, l->wq), ab = bits_of(h, s, l->aq);
        if (wb >= wbits && (l->aq < 0 || ab >= abits)) {
            h->log(s, PTQ_LOG_INFO, "%s (rank %d) is at W%dA%d already: skipped", h->node_name(s, l->node),
                   i + 1, wb, ab);
            skipped++;
            continue;
        }
        kept[n_kept++] = (kept_layer){.l = l, .rank = i + 1, .wb0 = wb, .ab0 = ab};
    }
    if (n_kept < p->n)
        h->log(s, PTQ_LOG_WARN, "only %d layers have a quantizer below W%lldA%lld: raised those",
               n_kept, (long long)wbits, (long long)abits);
    /* Before: the model, and each chosen layer alone quantized. */
    set_mask(&m, NULL, false);
    if ((st = measure_run(&m, m.mask, "the quantized model", &before))) goto out;
    for (int32_t k = 0; k < n_kept && !st; k++) {
        score sc;
        set_mask(&m, kept[k].l, true);
        if (!(st = measure_run(&m, m.mask, h->node_name(s, kept[k].l->node), &sc))) kept[k].sqnr0 = sc.sqnr_db;
    }
    /* Raise (a quantizer shared by two chosen layers is raised once) and recalibrate. */
    for (int32_t k = 0; k < n_kept && !st; k++) {
        if (!(st = raise_to(h, s, kept[k].l->wq, (int32_t)wbits))) st = raise_to(h, s, kept[k].l->aq, (int32_t)abits);
        if (st) break;
        kept[k].wb1 = bits_of(h, s, kept[k].l->wq);
        kept[k].ab1 = bits_of(h, s, kept[k].l->aq);
    }
    if (st) goto out;
    /* After. */
    set_mask(&m, NULL, false);
    if ((st = measure_run(&m, m.mask, "the quantized model", &after))) goto out;
    for (int32_t k = 0; k < n_kept && !st; k++) {
        score sc;
        set_mask(&m, kept[k].l, true);
        if (!(st = measure_run(&m, m.mask, h->node_name(s, kept[k].l->node), &sc))) kept[k].sqnr1 = sc.sqnr_db;
    }
    static const char *const cols[] = {"rank", "weight_bits_before", "weight_bits_after",
                                       "act_bits_before", "act_bits_after",
                                       "alone_quantized_sqnr_db_before", "alone_quantized_sqnr_db_after"};
    for (int32_t k = 0; k < n_kept && !st; k++) {
        const kept_layer *x = &kept[k];
        const double v[] = {x->rank, x->wb0, x->wb1, x->ab0, x->ab1, x->sqnr0, x->sqnr1};
        st = h->report_row(s, "kept", h->node_name(s, x->l->node), cols, v, 7);
        h->log(s, PTQ_LOG_INFO, "  kept %-32s (rank %2d) W%dA%d -> W%dA%d, alone quantized %.2f -> "
               "%.2f dB", h->node_name(s, x->l->node), x->rank, x->wb0, x->ab0, x->wb1, x->ab1,
               x->sqnr0, x->sqnr1);
    }
    static const char *const mcols[] = {"images", "sqnr_db", "agree", "top1"};
    const int32_t nm = m.labels ? 4 : 3;
    const double bv[] = {(double)m.n, before.sqnr_db, before.agree, before.top1};
    const double av[] = {(double)m.n, after.sqnr_db, after.agree, after.top1};
    if (!st) st = h->report_row(s, "model", "before", mcols, bv, nm);
    if (!st) st = h->report_row(s, "model", "after", mcols, av, nm);
    if (st) goto out;
    h->log(s, PTQ_LOG_INFO, "%d layers raised to W%lldA%lld%s: output SQNR %.2f -> %.2f dB, top-1 "
           "agreement with float %.1f -> %.1f %% (%lld images)", n_kept, (long long)wbits,
           (long long)abits, skipped ? " (layers already that wide skipped)" : "", before.sqnr_db,
           after.sqnr_db, 100.0 * before.agree, 100.0 * after.agree, (long long)m.n);
    int32_t *ids = h->alloc((size_t)(n_kept + 1) * sizeof *ids);
    if (!ids) {
        st = h->error(s, PTQ_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int32_t k = 0; k < n_kept; k++) ids[k] = kept[k].l->node;
    st = h->artifact_set(s, "sensitivity.kept", ids, (size_t)n_kept * sizeof *ids, h->free);
out:
    meter_free(&m);
    h->free(kept);
    h->free(rk.layers);
    return st;
}

/* ---- the plugin's tables ------------------------------------------------------------------- */

static const ptq_param_def measure_param_defs[] = {
    {"images", PTQ_PARAM_INT, 0, offsetof(measure_params, images), 1, 1e6, 256, NULL, NULL,
     "calibration images the outputs are compared on (all when fewer exist)"},
    {"by", PTQ_PARAM_ENUM, 0, offsetof(measure_params, by), 0, 0, BY_ALONE_QUANTIZED, NULL,
     by_choices, "sort by the SQNR with the layer alone quantized (ascending) or by the gain "
     "with it alone float (descending)"},
    {"top", PTQ_PARAM_INT, 0, offsetof(measure_params, top), 0, 1000, 5, NULL, NULL,
     "layers from the top of the ranking written to the log"},
    {0},
};

static const ptq_param_def keep_param_defs[] = {
    {"n", PTQ_PARAM_INT, 0, offsetof(keep_params, n), 1, 10000, 3, NULL, NULL,
     "the most sensitive layers to raise"},
    {"bits", PTQ_PARAM_INT, 0, offsetof(keep_params, bits), 2, 16, 8, NULL, NULL,
     "their width, weights and activations (2 to 8 or 16)"},
    {"weight_bits", PTQ_PARAM_INT, 0, offsetof(keep_params, weight_bits), 0, 16, 0, NULL, NULL,
     "their weights' width (0: bits)"},
    {"act_bits", PTQ_PARAM_INT, 0, offsetof(keep_params, act_bits), 0, 16, 0, NULL, NULL,
     "their input activations' width (0: bits)"},
    {"by", PTQ_PARAM_ENUM, 0, offsetof(keep_params, by), 0, 0, BY_ALONE_QUANTIZED, NULL,
     by_choices, "the sensitivity order (as sensitivity.measure's)"},
    {"images", PTQ_PARAM_INT, 0, offsetof(keep_params, images), 1, 1e6, 256, NULL, NULL,
     "calibration images the outputs are compared on (all when fewer exist)"},
    {0},
};

static const char *const reads[] = {"quant.weights", "quant.activations", "calib.data", NULL};
static const char *const measure_writes[] = {"sensitivity.ranking", "sensitivity.ranking.by", NULL};
static const char *const keep_reads_optional[] = {"sensitivity.ranking", "sensitivity.ranking.by", NULL};
static const char *const keep_writes[] = {"sensitivity.kept", NULL};
/* New widths move grids: whatever was learned, searched or corrected on the old ones is
 * void, so keep goes before those passes (the pipeline refuses it after them). */
static const char *const keep_invalidates[] = {"quant.rounding", "quant.activations.rounding",
                                               "quant.weights.tuned", "quant.activations.tuned",
                                               "graph.bias_corrected", NULL};

static const ptq_pass_def measure_def = {
    sizeof(ptq_pass_def),
    "sensitivity.measure",
    "per-layer sensitivity: the output with each layer alone in float and alone quantized, sorted",
    measure_param_defs,
    sizeof(measure_params),
    reads,
    NULL,
    measure_writes,
    measure_pass,
    NULL,
};

static const ptq_pass_def keep_def = {
    sizeof(ptq_pass_def),
    "sensitivity.keep",
    "raise the n most sensitive layers to a higher width (mixed precision) and recalibrate them",
    keep_param_defs,
    sizeof(keep_params),
    reads,
    keep_reads_optional,
    keep_writes,
    keep_pass,
    keep_invalidates,
};

static ptq_status sensitivity_init(const ptq_host *host) {
    if (!PTQ_HOST_HAS(host, run_new_bypass) || !PTQ_HOST_HAS(host, quantizer_set_bits))
        return host->error(NULL, PTQ_ERR_UNSUPPORTED, "sensitivity needs a host with SDK 0.9 or "
                           "later (run_new_bypass, quantizer_set_bits); this one has %u.%u",
                           host->abi.major, host->abi.minor);
    return PTQ_OK;
}

static const ptq_pass_def *const sensitivity_passes[] = {&measure_def, &keep_def, NULL};

static const ptq_plugin_desc sensitivity_desc = {
    PTQ_VERSION_INIT,
    sizeof(ptq_plugin_desc),
    PTQ_ABI_FINGERPRINT,
    "sensitivity",
    "0.1.0",
    "per-layer quantization sensitivity; the most sensitive layers kept at a higher width",
    sensitivity_init,
    NULL,
    sensitivity_passes,
};

PTQ_PLUGIN_EXPORT const ptq_plugin_desc *ptq_plugin_entry(void) { return &sensitivity_desc; }
