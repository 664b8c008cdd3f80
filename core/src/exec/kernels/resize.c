/* resize.c — Resize (and Upsample): nearest and (bi)linear.
 *
 * Every axis gets an index map computed once per call from the concrete shapes: for each
 * output index the input index (nearest), or the two neighbours and the weight of the
 * second (linear).  Nearest is then a gather by the maps, linear a bilinear blend over
 * the last two axes (shape inference made sure the other axes keep their indices).
 * The coordinate transform is the ONNX spec's, in double precision. */
#include <omp.h>

#include "internal.h"

/* The input coordinate of output index o along one axis. */
static double source_coord(const struct ptq_resize_attrs *a, int32_t axis, int64_t o,
                           int64_t in, int64_t out) {
    const double s = a->scales[axis], x = (double)o;
    /* The spec's "length of the resized axis" is in * scale, not rounded down (the ONNX
     * reference and conformance data), and exactly the size when sizes were given. */
    const double len = a->from_sizes ? (double)out : (double)in * s;
    switch (a->coord) {
    case PTQ_RESIZE_COORD_ASYMMETRIC: return x / s;
    case PTQ_RESIZE_COORD_PYTORCH_HALF_PIXEL: return len > 1.0 ? (x + 0.5) / s - 0.5 : 0.0;
    case PTQ_RESIZE_COORD_ALIGN_CORNERS:
        return len == 1.0 ? 0.0 : x * ((double)(in - 1) / (len - 1.0));
    case PTQ_RESIZE_COORD_TF_HALF_PIXEL: return (x + 0.5) / s;
    case PTQ_RESIZE_COORD_HALF_PIXEL_SYMMETRIC: {
        const double adjust = (double)out / (s * (double)in), center = (double)in / 2.0;
        return center * (1.0 - adjust) + (x + 0.5) / s - 0.5;
    }
    default: return (x + 0.5) / s - 0.5; /* half_pixel */
    }
}

static int64_t clamp_index(int64_t i, int64_t in) { return i < 0 ? 0 : (i >= in ? in - 1 : i); }

void ptq_resize_axis(const ptq_node *n, int32_t axis, int64_t in, int64_t out, int64_t *i0,
                     int64_t *i1, float *w1) {
    const struct ptq_resize_attrs *a = &n->attrs.resize;
    for (int64_t o = 0; o < out; o++) {
        const double x = source_coord(a, axis, o, in, out);
        const double f = floor(x);
        if (a->mode == PTQ_RESIZE_NEAREST) {
            double r;
            switch (a->nearest_mode) {
            case PTQ_RESIZE_ROUND_PREFER_CEIL: r = x - f == 0.5 ? f + 1.0 : floor(x + 0.5); break;
            case PTQ_RESIZE_FLOOR: r = f; break;
            case PTQ_RESIZE_CEIL: r = ceil(x); break;
            case PTQ_RESIZE_SIMPLE: r = a->scales[axis] < 1.0f ? ceil(x) : f; break;
            default: r = x - f == 0.5 ? f : floor(x + 0.5); break; /* round_prefer_floor */
            }
            i0[o] = i1[o] = clamp_index((int64_t)r, in);
            w1[o] = 0.0f;
        } else {
            i0[o] = clamp_index((int64_t)f, in);
            i1[o] = clamp_index((int64_t)f + 1, in);
            w1[o] = i0[o] == i1[o] ? 0.0f : (float)(x - f);
        }
    }
}

/* The concrete output shape of a Resize for input x. */
static void out_shape(const ptq_node *n, const ptq_kt *x, int64_t *ne) {
    for (int32_t i = 0; i < x->ndim; i++)
        ne[i] = n->attrs.resize.sizes[i] == PTQ_DIM_BATCH ? x->ne[i] : n->attrs.resize.sizes[i];
}

size_t ptq_work_resize_shared(const ptq_node *n, const ptq_kt *in) {
    int64_t ne[PTQ_MAX_DIMS], total = 0;
    out_shape(n, &in[0], ne);
    for (int32_t i = 0; i < in[0].ndim; i++) total += ne[i];
    return (size_t)(5 * total + 16); /* i0, i1 (int64, two floats each) and w1 per index */
}

void ptq_fwd_resize(const ptq_node *n, const ptq_kctx *kc, const ptq_kt *in, ptq_kt *out) {
    const ptq_kt *X = &in[0];
    const int32_t r = X->ndim;
    int64_t total = 0, at[PTQ_MAX_DIMS];
    for (int32_t i = 0; i < r; i++) at[i] = total, total += out->ne[i];
    int64_t *i0 = (int64_t *)kc->shared, *i1 = i0 + total;
    float *w1 = (float *)(i1 + total);
    for (int32_t i = 0; i < r; i++)
        ptq_resize_axis(n, i, X->ne[i], out->ne[i], i0 + at[i], i1 + at[i], w1 + at[i]);
    const float *x = X->data;
    float *y = out->data;
    int64_t xs[PTQ_MAX_DIMS], s = 1;
    for (int32_t i = r - 1; i >= 0; i--) xs[i] = s, s *= X->ne[i];
    const int64_t ow = out->ne[r - 1];
    const int64_t rows = ow ? ptq_kt_numel(out) / ow : 0;
    const int64_t *mx0 = i0 + at[r - 1], *mx1 = i1 + at[r - 1];
    const float *wx = w1 + at[r - 1];
    if (n->attrs.resize.mode == PTQ_RESIZE_NEAREST || r == 1) {
        const bool nearest = n->attrs.resize.mode == PTQ_RESIZE_NEAREST;
#pragma omp parallel for num_threads(kc->threads) schedule(static) if (rows * ow > 32768)
        for (int64_t row = 0; row < rows; row++) {
            int64_t rem = row, off = 0;
            for (int32_t i = r - 2; i >= 0; i--) {
                const int64_t idx = rem % out->ne[i];
                rem /= out->ne[i];
                off += i0[at[i] + idx] * xs[i];
            }
            const float *xr = x + off;
            float *yr = y + row * ow;
            if (nearest)
                for (int64_t j = 0; j < ow; j++) yr[j] = xr[mx0[j]];
            else
                for (int64_t j = 0; j < ow; j++)
                    yr[j] = (1.0f - wx[j]) * xr[mx0[j]] + wx[j] * xr[mx1[j]];
        }
        return;
    }
    /* Bilinear over the last two axes; the outer axes map every index to itself. */
    const int64_t oh = out->ne[r - 2], ih = X->ne[r - 2], iw = X->ne[r - 1];
    const int64_t *my0 = i0 + at[r - 2], *my1 = i1 + at[r - 2];
    const float *wy = w1 + at[r - 2];
#pragma omp parallel for num_threads(kc->threads) schedule(static) if (rows * ow > 32768)
    for (int64_t row = 0; row < rows; row++) {
        const int64_t plane = row / oh, oy = row % oh;
        const float *r0 = x + (plane * ih + my0[oy]) * iw, *r1 = x + (plane * ih + my1[oy]) * iw;
        const float b = wy[oy], a = 1.0f - b;
        float *yr = y + row * ow;
        for (int64_t j = 0; j < ow; j++) {
            const float top = (1.0f - wx[j]) * r0[mx0[j]] + wx[j] * r0[mx1[j]];
            const float bot = (1.0f - wx[j]) * r1[mx0[j]] + wx[j] * r1[mx1[j]];
            yr[j] = a * top + b * bot;
        }
    }
}
