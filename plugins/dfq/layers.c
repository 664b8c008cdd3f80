/* layers.c — weighted layers and the pairs of them that DFQ rewrites.
 *
 * A pair is (first, second) where scaling output channel c of `first` by 1/s and input
 * channel c of `second` by s leaves the network's function unchanged.  That holds when
 * everything between them applies the same function to every channel and commutes with
 * a positive scale: f(x / s) = f(x) / s.  ReLU, LeakyReLU and Clip(0, inf) do; ReLU6
 * (Clip(0, 6)) does not, because its bound would have to become 6 / s per channel.
 * Pooling and Flatten do.  Anything with a second reader is a branch: the other reader
 * would see the rescaled channels, so the walk refuses it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfq.h"

static int64_t numel_from(const ptq_tensor_view *v, int32_t from) {
    int64_t n = 1;
    for (int32_t d = from; d < v->ndim; d++) n *= v->ne[d];
    return n;
}

bool dfq_layer_get(const ptq_host *h, ptq_session *s, int32_t node, dfq_layer *l) {
    ptq_node_info ni;
    if (h->node_info(s, node, &ni) || (ni.op != PTQ_OP_CONV && ni.op != PTQ_OP_GEMM) ||
        ni.n_inputs < 2)
        return false;
    ptq_tensor_view w, out;
    if (h->value_view(s, ni.inputs[1], &w) || !w.data || w.dtype != PTQ_DTYPE_F32) return false;
    if (h->value_view(s, ni.outputs[0], &out) || out.ndim < 2) return false;
    memset(l, 0, sizeof *l);
    l->node = node;
    l->op = ni.op;
    l->input = ni.inputs[0];
    l->output = ni.outputs[0];
    l->weight = ni.inputs[1];
    l->bias = ni.n_inputs > 2 ? ni.inputs[2] : -1;
    l->w = w.data;
    if (ni.op == PTQ_OP_CONV) {
        if (w.ndim < 3 || ni.group < 1) return false;
        l->group = ni.group;
        l->out_ch = w.ne[0];
        l->in_per_group = w.ne[1];
        l->in_ch = w.ne[1] * ni.group;
        l->out_per_group = w.ne[0] / ni.group;
        l->taps = numel_from(&w, 2);
    } else {
        if (w.ndim != 2) return false;
        l->trans_b = ni.trans_b;
        l->group = 1;
        l->out_ch = ni.trans_b ? w.ne[0] : w.ne[1];
        l->in_ch = ni.trans_b ? w.ne[1] : w.ne[0];
        l->in_per_group = l->in_ch;
        l->out_per_group = l->out_ch;
        l->taps = 1;
    }
    return l->out_ch == out.ne[1];
}

int64_t dfq_w_index(const dfq_layer *l, int64_t o, int64_t i, int64_t k) {
    if (l->op == PTQ_OP_CONV) return (o * l->in_per_group + i) * l->taps + k;
    return l->trans_b ? o * l->in_ch + i : i * l->out_ch + o;
}

float dfq_out_range(const dfq_layer *l, int64_t o) {
    float r = 0.0f;
    for (int64_t i = 0; i < l->in_per_group; i++)
        for (int64_t k = 0; k < l->taps; k++) r = fmaxf(r, fabsf(l->w[dfq_w_index(l, o, i, k)]));
    return r;
}

/* The outputs that read input feature f: those of f's group. */
static void outputs_of_input(const dfq_layer *l, int64_t f, int64_t *o0, int64_t *o1) {
    const int64_t g = f / l->in_per_group;
    *o0 = g * l->out_per_group;
    *o1 = *o0 + l->out_per_group;
}

float dfq_in_range(const dfq_layer *l, int64_t c, int64_t block) {
    float r = 0.0f;
    for (int64_t f = c * block; f < (c + 1) * block; f++) {
        int64_t o0, o1;
        outputs_of_input(l, f, &o0, &o1);
        const int64_t i = f % l->in_per_group;
        for (int64_t o = o0; o < o1; o++)
            for (int64_t k = 0; k < l->taps; k++)
                r = fmaxf(r, fabsf(l->w[dfq_w_index(l, o, i, k)]));
    }
    return r;
}

double dfq_in_sum(const dfq_layer *l, const float *w, int64_t o, int64_t c, int64_t block) {
    double sum = 0.0;
    for (int64_t f = c * block; f < (c + 1) * block; f++) {
        int64_t o0, o1;
        outputs_of_input(l, f, &o0, &o1);
        if (o < o0 || o >= o1) continue;
        const int64_t i = f % l->in_per_group;
        for (int64_t k = 0; k < l->taps; k++) sum += w[dfq_w_index(l, o, i, k)];
    }
    return sum;
}

int32_t dfq_graph_input(const ptq_host *h, ptq_session *s) {
    for (int32_t v = 0; v < h->value_count(s); v++) {
        ptq_tensor_view vv;
        if (h->value_producer(s, v) < 0 && !h->value_view(s, v, &vv) && !vv.data) return v;
    }
    return -1;
}

float *dfq_bias(const ptq_host *h, ptq_session *s, const dfq_layer *l) {
    ptq_tensor_view b;
    if (l->bias < 0 || h->value_view(s, l->bias, &b) || !b.data) return NULL;
    return b.data;
}

/* ---- the walk from one layer's output to the next layer ------------------------------ */

typedef enum { WALK_PAIR, WALK_END, WALK_REFUSED } walk_result;

/* Follows first's output through channel-wise, scale-commuting ops.  On WALK_PAIR fills
 * p; on WALK_REFUSED writes why into `why`. */
static walk_result walk(const ptq_host *h, ptq_session *s, const dfq_layer *first, dfq_pair *p,
                        char *why, size_t why_size) {
    memset(p, 0, sizeof *p);
    p->first = first->node;
    p->block = 1;
    int32_t v = first->output;
    for (int32_t steps = 0; steps < 64; steps++) {
        int32_t readers[2];
        const int32_t n = h->value_readers(s, v, readers, 2);
        if (n == 0) return WALK_END;
        if (n > 1) {
            snprintf(why, why_size, "'%s' has %d readers (a branch)", h->value_name(s, v), n);
            return WALK_REFUSED;
        }
        ptq_node_info ni;
        if (h->node_info(s, readers[0], &ni)) return WALK_REFUSED;
        const char *name = h->node_name(s, readers[0]);
        switch (ni.op) {
        case PTQ_OP_RELU: p->relu = true; break;
        case PTQ_OP_LEAKY_RELU: p->other_act = true; break;
        case PTQ_OP_CLIP:
            if (ni.clip_min == 0.0f && isinf(ni.clip_max)) {
                p->relu = true;
                break;
            }
            snprintf(why, why_size, "'%s' is Clip(%g, %g), not positively homogeneous%s", name,
                     (double)ni.clip_min, (double)ni.clip_max,
                     ni.clip_min == 0.0f && ni.clip_max == 6.0f
                         ? " (ReLU6: run dfq.replace_relu6 first to equalize across it)"
                         : "");
            return WALK_REFUSED;
        case PTQ_OP_MAX_POOL:
        case PTQ_OP_AVERAGE_POOL:
        case PTQ_OP_GLOBAL_AVERAGE_POOL:
        case PTQ_OP_GLOBAL_MAX_POOL: break;
        case PTQ_OP_FLATTEN: {
            ptq_tensor_view in, out;
            if (h->value_view(s, ni.inputs[0], &in) || h->value_view(s, ni.outputs[0], &out))
                return WALK_REFUSED;
            const int64_t spatial = numel_from(&in, 2);
            if (out.ndim != 2 || in.ndim < 2 || out.ne[1] != in.ne[1] * spatial) {
                snprintf(why, why_size, "'%s' does not keep channels contiguous", name);
                return WALK_REFUSED;
            }
            p->block *= spatial;
            break;
        }
        case PTQ_OP_CONV:
        case PTQ_OP_GEMM: {
            dfq_layer second;
            if (ni.inputs[0] != v || !dfq_layer_get(h, s, readers[0], &second)) {
                snprintf(why, why_size, "'%s' does not read it as its data input", name);
                return WALK_REFUSED;
            }
            if (second.in_ch != first->out_ch * p->block) {
                snprintf(why, why_size, "'%s' has %lld inputs for %lld channels", name,
                         (long long)second.in_ch, (long long)first->out_ch);
                return WALK_REFUSED;
            }
            p->second = readers[0];
            return WALK_PAIR;
        }
        default:
            snprintf(why, why_size, "'%s' (op %u) does not act on each channel alone", name,
                     (unsigned)ni.op);
            return WALK_REFUSED;
        }
        v = ni.outputs[0];
    }
    snprintf(why, why_size, "the chain is too long");
    return WALK_REFUSED;
}

int32_t dfq_find_pairs(const ptq_host *h, ptq_session *s, dfq_pair **pairs) {
    const int32_t n_nodes = h->node_count(s);
    *pairs = h->alloc(((size_t)n_nodes + 1) * sizeof **pairs);
    if (!*pairs) return h->error(s, PTQ_ERR_NOMEM, "out of memory"), -1;
    int32_t n = 0, refused = 0;
    for (int32_t node = 0; node < n_nodes; node++) {
        dfq_layer l;
        if (!dfq_layer_get(h, s, node, &l)) continue;
        char why[512] = "";
        const walk_result r = walk(h, s, &l, &(*pairs)[n], why, sizeof why);
        if (r == WALK_PAIR) {
            n++;
        } else if (r == WALK_REFUSED) {
            refused++;
            h->log(s, PTQ_LOG_DEBUG, "'%s' is not paired: %s", h->node_name(s, node), why);
        }
    }
    h->log(s, PTQ_LOG_INFO, "%d layer pairs; %d layers not paired (branches, non-homogeneous "
           "activations; PTQ_DEBUG=1 lists them)", n, refused);
    return n;
}
