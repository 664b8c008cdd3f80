/* border.c — AQuant's learned border rounding on an activation quantizer (border.h). */
#include <math.h>
#include <string.h>

#include "border.h"

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

float aq_relaxed_step(const aq_border *b, float f, float border, float *d_border) {
    if (b->cfg.relaxation == AQ_RELAX_SIGMOID) {
        const float sg = sigmoidf((f - border) / b->tau);
        if (d_border) *d_border = -sg * (1.0f - sg) / b->tau;
        return sg;
    }
    if (d_border) *d_border = -1.0f;
    return f > border ? 1.0f : 0.0f;
}

/* Walks elements index.. of the batch's tensor by channel: c is the border row of the
 * current element, advanced without a division per element. */
typedef struct chan_walk {
    int64_t c, at, plane, channels;
    bool shared;
} chan_walk;

static chan_walk walk_start(const aq_border *b, int64_t index) {
    chan_walk w = {(index / b->plane) % b->value_channels, index % b->plane, b->plane,
                   b->value_channels, b->channels == 1};
    return w;
}

static inline int64_t walk_row(const chan_walk *w) { return w->shared ? 0 : w->c; }

static inline void walk_next(chan_walk *w) {
    if (++w->at == w->plane) {
        w->at = 0;
        if (++w->c == w->channels) w->c = 0;
    }
}

/* The bin of v (floor(v) + z_lo clamped into the table, as the core's frozen rounding
 * does) and whether v's own bin is inside the table (the border matters). */
static inline int64_t bin_of(const aq_border *b, float k, bool *inside) {
    const float raw = k + b->z_lo;
    *inside = raw >= 0.0f && raw <= (float)(b->bins - 1);
    if (!(raw >= 0.0f)) return 0;
    return raw > (float)(b->bins - 1) ? b->bins - 1 : (int64_t)raw;
}

/* The relaxed step of element e (v, its border): from the memo when this step computed
 * it already, else computed (and remembered). */
static inline float memo_step(aq_border *b, int64_t e, float v, float f, float border) {
    if (!b->memo_gen || e >= b->memo_cap) return aq_relaxed_step(b, f, border, NULL);
    if (b->memo_gen[e] == b->gen && b->memo_v[e] == v) return b->memo_step[e];
    const float st = aq_relaxed_step(b, f, border, NULL);
    b->memo_gen[e] = b->gen, b->memo_v[e] = v, b->memo_step[e] = st;
    return st;
}

static void border_forward(void *state, const float *v, float *out, int64_t n, int64_t index) {
    aq_border *b = state;
    chan_walk w = walk_start(b, index);
    for (int64_t i = 0; i < n; i++, walk_next(&w)) {
        const float k = floorf(v[i]);
        bool inside;
        const int64_t bin = bin_of(b, k, &inside);
        out[i] = k + memo_step(b, index + i, v[i], v[i] - k, b->b[walk_row(&w) * b->bins + bin]);
    }
}

static void border_backward_state(void *state, const float *v, const float *grad_out, int64_t n,
                                  int64_t index) {
    aq_border *b = state;
    chan_walk w = walk_start(b, index);
    for (int64_t i = 0; i < n; i++, walk_next(&w)) {
        if (grad_out[i] == 0.0f) continue; /* off the grid, or kept float by QDrop */
        const float k = floorf(v[i]);
        bool inside;
        const int64_t bin = bin_of(b, k, &inside);
        if (!inside) continue; /* clamped whatever its border says */
        const int64_t at = walk_row(&w) * b->bins + bin;
        float d;
        if (b->cfg.relaxation == AQ_RELAX_SIGMOID) { /* sigmoid' = s (1 - s) */
            const float sg = memo_step(b, index + i, v[i], v[i] - k, b->b[at]);
            d = -sg * (1.0f - sg) / b->tau;
        } else {
            aq_relaxed_step(b, v[i] - k, b->b[at], &d);
        }
        b->gb[at] += grad_out[i] * d;
        b->count[at]++;
    }
}

static void border_destroy(void *state) {
    aq_border *b = state;
    if (!b) return;
    const ptq_host *h = b->host;
    if (b->opt) h->optim_free(b->opt);
    h->free(b->param);
    h->free(b->grad);
    h->free(b->b);
    h->free(b->gb);
    h->free(b->count);
    h->free(b->memo_v);
    h->free(b->memo_step);
    h->free(b->memo_gen);
    h->free(b);
}

const ptq_rounding aq_border_rounding = {
    sizeof(ptq_rounding), "aquant-border", border_forward, NULL, border_destroy, border_backward_state,
};

static inline float unit_pos(const aq_border *b, int64_t k) {
    return b->bins > 1 ? (float)k / (float)(b->bins - 1) - 0.5f : 0.0f;
}

/* The unclamped border of (c, k) from the parameters. */
static inline float raw_border(const aq_border *b, int64_t c, int64_t k) {
    if (b->cfg.form == AQ_BORDER_TABLE) return b->param[c * b->bins + k];
    return b->param[2 * c] + b->param[2 * c + 1] * unit_pos(b, k);
}

float aq_border_at(const aq_border *b, int64_t c, int64_t k) {
    const float r = raw_border(b, c, k);
    return r < 0.0f ? 0.0f : (r > 1.0f ? 1.0f : r);
}

void aq_border_table(const aq_border *b, float *out) {
    for (int64_t c = 0; c < b->channels; c++)
        for (int64_t k = 0; k < b->bins; k++) out[c * b->bins + k] = aq_border_at(b, c, k);
}

static float tau_at(const aq_border_cfg *cfg, int64_t t, int64_t total) {
    const double x = total > 1 ? (double)t / (double)(total - 1) : 1.0;
    return (float)(cfg->tau_start * pow(cfg->tau_end / cfg->tau_start, x > 1.0 ? 1.0 : x));
}

aq_border *aq_border_new(const ptq_host *h, ptq_session *s, int32_t q, bool per_channel,
                         const aq_border_cfg *cfg) {
    ptq_quant_view qv = {.struct_size = sizeof qv};
    ptq_tensor_view vv = {.struct_size = sizeof vv};
    if (h->quantizer_view(s, q, &qv) || h->value_view(s, qv.value, &vv)) return NULL;
    const char *name = h->value_name(s, qv.value);
    if (qv.is_weight || qv.n != 1) {
        h->error(s, PTQ_ERR_UNSUPPORTED, "'%s': borders are learned on per-tensor activation "
                 "grids (this quantizer has %lld scales)", name, (long long)qv.n);
        return NULL;
    }
    int64_t vc = vv.ndim >= 2 ? vv.ne[1] : 1, plane = 1;
    for (int32_t d = 2; d < vv.ndim; d++) plane *= vv.ne[d];
    if (vc == PTQ_DIM_BATCH || vc < 1 || plane < 1 || (vv.ndim >= 1 && vv.ne[0] != PTQ_DIM_BATCH)) {
        h->error(s, PTQ_ERR_UNSUPPORTED, "'%s': borders need a [batch, channels, ...] activation",
                 name);
        return NULL;
    }
    aq_border *b = h->alloc(sizeof *b);
    if (!b) {
        h->error(s, PTQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    b->host = h;
    b->cfg = *cfg;
    b->channels = per_channel ? vc : 1;
    b->value_channels = vc;
    b->plane = plane;
    b->bins = (int64_t)qv.qmax - qv.qmin;
    b->z_lo = (float)(qv.zero_point[0] - qv.qmin);
    b->tau = tau_at(cfg, 0, cfg->iterations);
    const int64_t nb = b->channels * b->bins;
    b->n_params = cfg->form == AQ_BORDER_TABLE ? nb : 2 * b->channels;
    b->param = h->alloc((size_t)b->n_params * sizeof(float));
    b->grad = h->alloc((size_t)b->n_params * sizeof(float));
    b->b = h->alloc((size_t)nb * sizeof(float));
    b->gb = h->alloc((size_t)nb * sizeof(float));
    b->count = h->alloc((size_t)nb * sizeof(int64_t));
    b->opt = b->param && b->grad && b->b && b->gb && b->count
                 ? h->optim_new(s, b->n_params, cfg->lr, PTQ_SCHEDULE_COSINE, cfg->iterations)
                 : NULL;
    if (!b->opt) {
        border_destroy(b);
        h->error(s, PTQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (cfg->relaxation == AQ_RELAX_SIGMOID && cfg->batch > 0) {
        b->memo_cap = cfg->batch * vc * plane;
        b->memo_v = h->alloc((size_t)b->memo_cap * sizeof(float));
        b->memo_step = h->alloc((size_t)b->memo_cap * sizeof(float));
        b->memo_gen = h->alloc((size_t)b->memo_cap * sizeof(uint32_t));
        if (!b->memo_v || !b->memo_step || !b->memo_gen) {
            border_destroy(b);
            h->error(s, PTQ_ERR_NOMEM, "out of memory");
            return NULL;
        }
        b->gen = 1;
    }
    for (int64_t i = 0; i < b->n_params; i++)
        b->param[i] = cfg->form == AQ_BORDER_TABLE || i % 2 == 0 ? 0.5f : 0.0f;
    aq_border_table(b, b->b);
    return b;
}

void aq_border_param_grad(aq_border *b) {
    const int64_t nb = b->channels * b->bins;
    if (b->cfg.form == AQ_BORDER_TABLE) {
        memcpy(b->grad, b->gb, (size_t)nb * sizeof(float));
    } else {
        memset(b->grad, 0, (size_t)b->n_params * sizeof(float));
        for (int64_t c = 0; c < b->channels; c++)
            for (int64_t k = 0; k < b->bins; k++) {
                const float r = raw_border(b, c, k);
                if (!(r >= 0.0f && r <= 1.0f)) continue; /* clamped: no gradient through it */
                const float g = b->gb[c * b->bins + k];
                b->grad[2 * c] += g;
                b->grad[2 * c + 1] += g * unit_pos(b, k);
            }
    }
}

double aq_border_step(aq_border *b, int64_t t, int64_t total) {
    const int64_t nb = b->channels * b->bins;
    float bad = 0.0f;
    aq_border_param_grad(b);
    for (int64_t i = 0; i < b->n_params; i++) bad += b->grad[i] * 0.0f;
    if (bad != 0.0f) return NAN;
    b->host->optim_step(b->opt, b->param, b->grad);
    /* Clamp: a border outside [0, 1] means "always up" or "always down" already. */
    for (int64_t c = 0; c < b->channels; c++)
        for (int64_t k = 0; k < b->bins; k++) {
            const float r = raw_border(b, c, k);
            if (r >= 0.0f && r <= 1.0f) continue;
            b->clamped++;
            if (b->cfg.form == AQ_BORDER_TABLE) b->param[c * b->bins + k] = r < 0.0f ? 0.0f : 1.0f;
        }
    aq_border_table(b, b->b);
    memset(b->gb, 0, (size_t)nb * sizeof(float));
    b->tau = tau_at(&b->cfg, t + 1, total);
    b->gen++; /* the borders and the temperature changed: the memo is stale */
    return 0.0;
}
