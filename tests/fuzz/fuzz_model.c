/* fuzz_model.c — ONNX bytes -> graph -> plan (-> one run), the path every model takes. */
#include "fuzz_model.h"

#include "ptq/ptq.h"

#include <stdlib.h>
#include <string.h>

/* Plans whose buffers exceed this are not run: a 200-byte model may legally declare a
 * 10^9-element activation, and allocating it is all a run would add.  Planning still
 * happens (it computes the sizes and must not overflow doing so). */
#define RUN_ARENA_LIMIT ((size_t)64 << 20)

static bool all_float_inputs(const ptq_graph *g) {
    for (int32_t i = 0; i < g->n_inputs; i++)
        if (g->values[g->inputs[i]].dtype != PTQ_DTYPE_F32) return false;
    return true;
}

static void run_once(const ptq_graph *g, ptq_exec *ex) {
    if (ptq_exec_arena_bytes(ex, NULL) > RUN_ARENA_LIMIT || !all_float_inputs(g)) return;
    float **bufs = calloc((size_t)g->n_inputs + 1, sizeof *bufs);
    if (!bufs) return;
    bool ok = true;
    for (int32_t i = 0; i < g->n_inputs && ok; i++) {
        const ptq_value *v = &g->values[g->inputs[i]];
        int64_t n = 1;
        for (int32_t d = 0; d < v->ndim; d++) n *= v->ne[d] == PTQ_DIM_BATCH ? 1 : v->ne[d];
        ok = n >= 0 && (size_t)n <= RUN_ARENA_LIMIT / sizeof(float) &&
             (bufs[i] = calloc((size_t)(n ? n : 1), sizeof(float)));
        if (ok) ptq_exec_bind(ex, g->inputs[i], bufs[i]);
    }
    ptq_error err = {0};
    if (ok) (void)ptq_exec_run(ex, 1, &err);
    for (int32_t i = 0; i < g->n_inputs; i++) free(bufs[i]);
    free(bufs);
}

void fuzz_model(const uint8_t *data, size_t size, bool run) {
    ptq_error err = {0};
    ptq_graph *g = ptq_onnx_load_buffer(data, size, "fuzz.onnx", NULL, &err);
    if (!g && strstr(err.msg, "symbolic dims")) {
        /* As `ptq run` does with `input_shape:` or its images' size: fix the spatial
         * axes of a C,H,W input (a declared channel count is kept). */
        static const int64_t chw[3] = {0, 32, 32};
        ptq_import_options opts = {.input_ndim = 3, .input_shape = chw};
        err = (ptq_error){0};
        g = ptq_onnx_load_buffer(data, size, "fuzz.onnx", &opts, &err);
    }
    if (!g) return;
    ptq_exec_options o = ptq_exec_options_default();
    o.max_batch = 1;
    o.threads = 1;
    ptq_exec *ex = ptq_exec_new(g, &o, &err);
    if (ex && run) run_once(g, ex);
    ptq_exec_free(ex);
    ptq_graph_free(g);
}
