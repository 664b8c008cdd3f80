/* test_modcap.c — ModCap's rules and its pass through the real plugin and host:
 *   - the merge rule on plain arrays: differentials, which pairs may merge, the auto k,
 *     top-k with ties and chains, the groups, and the parsing of k and hand-written
 *     merges with their refusals (not adjacent, overlapping, out of range);
 *   - the base modules of ResNet-20: stem, nine residual blocks of one kind (identity
 *     and projection shortcuts alike), the head; sub-sampling 4 at the two stage
 *     transitions, where the data-free rule merges, as MRECG's ResNet-18 scheme does;
 *   - the engine on a unit spanning two residual blocks: its input is the first block's,
 *     its target the last block's output (the loss it reports is the measured error
 *     there, not at the inner boundary);
 *   - a merged unit reconstructs under adaround's block mode; the data-dependent probe
 *     and the before/after comparison leave every weight at round-to-nearest;
 *   - refusals: k above the possible merges, non-adjacent merges, malformed k, k with
 *     merges, no calibration data, and modcap after learned rounding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_kit.h"
#include "plugin/plugin.h"
/* White-box: the plugin's sources are compiled in (it exports only its entry). */
#include "../select.c"
#include "../modules.c"
#include "../probe.c"
#include "../../adaround/unit.c"
#include "../../adaround/rounding.c"

#define ITERS (kit_quick() ? 4 : 60)
#define CALIB (kit_quick() ? 64 : 256)

/* ResNet-20 with `wbits`/`abits` (32: float activations) and the passes given. */
static const char *pipeline(int wbits, int abits, const char *passes) {
    static char buf[2048];
    char acts[200];
    if (abits == 32) snprintf(acts, sizeof acts, "{bits: 32}");
    else snprintf(acts, sizeof acts, "{bits: %d, granularity: tensor, symmetric: false, observer: mse, images: 64}", abits);
    snprintf(buf, sizeof buf,
             "model: @MODELS@/resnet20_fmnist.onnx\n"
             "calibration:\n  images: @FMNIST@/train-images-idx3-ubyte.gz\n  count: %d\n"
             "quantization:\n"
             "  weights: {bits: %d, granularity: channel, symmetric: false, observer: mse}\n"
             "  activations: %s\n"
             "  placement: paper\n  target: none\n"
             "  overrides:\n    - nodes: [first, last]\n      weights: {bits: 8}\n"
             "passes:\n%s",
             CALIB, wbits, acts, passes);
    return buf;
}

/* ---- the merge rule -------------------------------------------------------------------- */

START_TEST(differentials_and_eligibility) {
    const double cap[] = {100, 50, 50, 80, 20};
    double d[4];
    mc_differentials(cap, 5, true, d);
    ck_assert_double_eq_tol(d[0], 0.5, 1e-12);
    ck_assert_double_eq_tol(d[1], 0.0, 1e-12);
    ck_assert_double_eq_tol(d[2], -0.6, 1e-12);
    ck_assert_double_eq_tol(d[3], 0.75, 1e-12);
    mc_differentials(cap, 5, false, d);
    ck_assert_double_eq(d[0], 50);
    ck_assert_double_eq(d[3], 60);
    /* Kinds: stem, three blocks, head.  Ends stay alone unless asked. */
    const int32_t kind[] = {0, 1, 1, 1, 2};
    bool ok[4];
    ck_assert_int_eq(mc_eligible(kind, 5, true, false, ok), 2);
    ck_assert(!ok[0] && ok[1] && ok[2] && !ok[3]);
    ck_assert_int_eq(mc_eligible(kind, 5, true, true, ok), 2); /* the ends differ in kind */
    ck_assert_int_eq(mc_eligible(kind, 5, false, true, ok), 4);
    ck_assert_int_eq(mc_eligible(kind, 5, false, false, ok), 2);
    ck_assert_int_eq(mc_eligible(kind, 1, true, true, ok), 0);
}
END_TEST

START_TEST(top_k_chains_into_groups) {
    /* Eight modules: pairs 2, 3 and 5 have the largest differentials; 3 ties 5 and
     * the earlier wins; pair 0 is not eligible. */
    const double d[] = {9, 0.1, 0.5, 0.3, -1, 0.3, 0.2};
    bool ok[7] = {false, true, true, true, true, true, true}, merge[7];
    ck_assert_int_eq(mc_select(d, ok, 8, 2, merge), 2);
    ck_assert(merge[2] && merge[3] && !merge[5] && !merge[0]);
    int32_t group[8];
    ck_assert_int_eq(mc_groups(merge, 8, group), 6);
    const int32_t want[] = {0, 1, 2, 2, 2, 3, 4, 5};
    for (int m = 0; m < 8; m++) ck_assert_int_eq(group[m], want[m]);
    /* k = 0 keeps every module alone; k up to the eligible count takes negatives too. */
    ck_assert_int_eq(mc_select(d, ok, 8, 0, merge), 0);
    ck_assert_int_eq(mc_groups(merge, 8, group), 8);
    ck_assert_int_eq(mc_select(d, ok, 8, 6, merge), 6);
    ck_assert_int_eq(mc_groups(merge, 8, group), 2);
    /* auto: a quarter of the modules (2 of 8), at most the positive eligible pairs. */
    ck_assert_int_eq(mc_auto_k(d, ok, 8), 2);
    const double flat[] = {0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(mc_auto_k(flat, ok, 8), 0);
    const double one[] = {0, 0, 0.2, 0, 0, 0, 0};
    ck_assert_int_eq(mc_auto_k(one, ok, 8), 1);
}
END_TEST

START_TEST(parsing_k_and_merges) {
    int32_t k;
    ck_assert(mc_parse_k("auto", &k) && k == -1);
    ck_assert(mc_parse_k("", &k) && k == -1);
    ck_assert(mc_parse_k("3", &k) && k == 3);
    ck_assert(!mc_parse_k("three", &k));
    ck_assert(!mc_parse_k("-1", &k));
    ck_assert(!mc_parse_k("2x", &k));
    bool merge[9];
    char err[256];
    ck_assert_msg(mc_parse_merges("2-3, 5+6+7", 10, merge, err, sizeof err), "%s", err);
    const bool want[] = {false, true, false, false, true, true, false, false, false};
    for (int i = 0; i < 9; i++) ck_assert_int_eq(merge[i], want[i]);
    const struct {
        const char *text, *why;
    } bad[] = {
        {"3+5", "not adjacent"}, {"2-4, 4-5", "two groups"}, {"0-1", "out of range"},
        {"9-11", "out of range"}, {"4-2", "after the first"}, {"4", "merges nothing"},
        {"2-3;", "expected ','"}, {"x", "module number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(!mc_parse_merges(bad[i].text, 10, merge, err, sizeof err), "'%s' accepted", bad[i].text);
        ck_assert_msg(strstr(err, bad[i].why), "'%s': %s", bad[i].text, err);
    }
}
END_TEST

/* ---- modules on a real network --------------------------------------------------------- */

START_TEST(resnet20_modules_and_data_free_groups) {
    int32_t at;
    kit *k = kit_open_before(pipeline(2, 4, "  - modcap.group: {compare: false}\n"), "modcap.group", &at);
    const ptq_host *h = ptq_host_table();
    mc_modules mods;
    ck_assert_int_eq(mc_modules_read(h, k->s, 0.25, &mods), PTQ_OK);
    ck_assert_int_eq(mods.n, 11);
    ck_assert_str_eq(mods.kinds[mods.m[0].kind], "conv act");
    ck_assert_str_eq(mods.kinds[mods.m[1].kind], "conv act conv add act");
    ck_assert_str_eq(mods.kinds[mods.m[10].kind], "fc");
    for (int32_t m = 1; m < 10; m++) {
        ck_assert_int_eq(mods.m[m].kind, mods.m[1].kind);
        /* The blocks opening stages 2 and 3 halve height and width (a 1x1 projection
         * shortcut on top of the two 3x3 convolutions); the last one's global pooling is
         * not sub-sampling. */
        const bool transition = m == 4 || m == 7;
        ck_assert_double_eq(mods.m[m].subsample, transition ? 4 : 1);
        ck_assert_int_eq(mods.m[m].weighted, transition ? 3 : 2);
    }
    /* 2-bit weights, 8-bit first and last layer: capacity = elements x bits. */
    ck_assert_double_eq(mods.m[0].bit_params, mods.m[0].params * 8);
    ck_assert_double_eq(mods.m[1].bit_params, mods.m[1].params * 2);
    ck_assert_double_eq_tol(mods.m[4].capacity, mods.m[4].bit_params * 0.25, 1e-9);
    mc_modules_free(h, &mods);

    ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
    ck_assert_int_eq(kit_count_rows(k, "modules", at), 11);
    ck_assert_int_eq(kit_count_rows(k, "depth", at), 0); /* compare: false */
    /* k auto = round(11 / 4) = 3, but only the two stage transitions lose capacity. */
    int32_t merged = 0;
    for (int32_t i = 0; i < k->s->n_rows; i++) {
        const ptq_report_row *r = &k->s->rows[i];
        if (r->pass != at || strcmp(r->table, "modules")) continue;
        const int32_t idx = (int32_t)kit_row_value(r, "index");
        const bool want = idx == 4 || idx == 7; /* merged with 5 and 8 */
        ck_assert_msg(kit_row_value(r, "merged_with_next") == want, "module %d", idx);
        merged += want;
    }
    ck_assert_int_eq(merged, 2);
    /* The grouping reaches every later pass through the host. */
    int32_t *unit_of = malloc((size_t)k->s->g->n_nodes * sizeof *unit_of);
    ck_assert_int_eq(h->node_blocks(k->s, unit_of, k->s->g->n_nodes), 9);
    free(unit_of);
    kit_close(k);
}
END_TEST

/* ---- the engine on a multi-block unit --------------------------------------------------- */

START_TEST(engine_unit_spans_blocks) {
    /* Weights only (activations float), nothing learned: the engine's loss on the unit of
     * blocks 4 and 5 (modules 4-5, the stage-2 transition) must be the quantized model's
     * error at block 5's output, its input block 4's input as the quantized model makes it. */
    int32_t at;
    kit *k = kit_open_before(pipeline(2, 32, "  - modcap.group: {compare: false}\n"), "modcap.group", &at);
    const ptq_host *h = ptq_host_table();
    mc_modules mods;
    ck_assert_int_eq(mc_modules_read(h, k->s, 0.25, &mods), PTQ_OK);
    double err[11], power[11];
    mc_depth depth = {err, power};
    ck_assert_int_eq(mc_measure_depth(h, k->s, &mods, 0, &depth), PTQ_OK);
    int32_t *nodes = malloc((size_t)mods.n_nodes * sizeof *nodes);
    const int32_t n = mc_module_nodes(&mods, 3, 4, nodes);
    ptq_recon_options o = {.struct_size = sizeof o};
    o.nodes = nodes, o.n_nodes = n, o.activations = PTQ_RECON_ACT_QUANT;
    o.iterations = kit_quick() ? 100 : 400, o.batch = 32, o.loss_p = 2.0, o.label = "blocks 4-5";
    ptq_recon_result r = {.struct_size = sizeof r};
    ck_assert_int_eq(h->reconstruct(k->s, &o, &r), PTQ_OK);
    ck_assert_int_eq(r.n_weights, 0);
    const double engine = 0.5 * (r.loss_first + r.loss_last);
    /* Sampling noise of a few batches: within 30 %; the inner boundary's error differs
     * by more than that. */
    ck_assert_msg(fabs(engine / err[4] - 1.0) < 0.3, "engine %g, measured at block 5 %g", engine, err[4]);
    ck_assert_msg(fabs(err[3] / err[4] - 1.0) > 0.3, "blocks 4 and 5: %g and %g", err[3], err[4]);
    free(nodes);
    mc_modules_free(h, &mods);
    kit_close(k);
}
END_TEST

/* ---- the pass with a base method after it ----------------------------------------------- */

START_TEST(merged_unit_reconstructs) {
    char passes[400];
    snprintf(passes, sizeof passes,
             "  - modcap.group: {k: \"1\", compare: false}\n"
             "  - adaround.reconstruct: {granularity: block, iterations: %d, drop_prob: 0.5}\n", ITERS);
    int32_t at;
    kit *k = kit_open_before(pipeline(2, 4, passes), "modcap.group", &at);
    ck_assert_msg(kit_run(k, at, -1) == PTQ_OK, "%s", k->msg);
    /* One merge: ten units, one of them spanning two residual blocks. */
    ck_assert_int_eq(kit_count_rows(k, "units", at + 1), 10);
    bool spanning = false;
    for (int32_t i = 0; i < k->s->n_rows; i++) {
        const ptq_report_row *r = &k->s->rows[i];
        if (r->pass != at + 1 || strcmp(r->table, "units")) continue;
        if (!strstr(r->name, "layers.2/") || !strstr(r->name, "layers.3/")) continue;
        spanning = true;
        ck_assert_double_eq(kit_row_value(r, "weights"), 5);
        ck_assert(isfinite(kit_row_value(r, "loss_last")));
        if (!kit_quick()) ck_assert(kit_row_value(r, "loss_last") < kit_row_value(r, "loss_first"));
    }
    ck_assert_msg(spanning, "no unit spans blocks 3 and 4 (layers.2, layers.3)");
    kit_close(k);
}
END_TEST

START_TEST(probe_leaves_nearest) {
    char passes[300];
    snprintf(passes, sizeof passes,
             "  - modcap.group: {capacity: data_dependent, probe_iterations: %d, depth_images: 64}\n",
             ITERS);
    int32_t at;
    kit *k = kit_open_before(pipeline(2, 4, passes), "modcap.group", &at);
    float *x = kit_images(k, 16);
    int64_t numel, numel2;
    float *before = kit_forward(k, true, x, 16, &numel);
    ck_assert_msg(kit_run(k, at, at + 1) == PTQ_OK, "%s", k->msg);
    float *after = kit_forward(k, true, x, 16, &numel2);
    ck_assert_int_eq(numel, numel2);
    /* Two probes (base and merged units) ran and put round-to-nearest back. */
    ck_assert_double_eq(kit_rel_diff(after, before, numel), 0.0);
    for (int32_t i = 0; i < k->s->n_q; i++) ck_assert_int_eq(k->s->q[i].rounding.struct_size, 0);
    ck_assert_int_eq(kit_count_rows(k, "depth", at), 11);
    ck_assert_int_eq(kit_count_rows(k, "summary", at), 2); /* before, after */
    for (int32_t i = 0; i < k->s->n_rows; i++) {
        const ptq_report_row *r = &k->s->rows[i];
        if (r->pass != at || strcmp(r->table, "depth")) continue;
        ck_assert(isfinite(kit_row_value(r, "loss_before")) && kit_row_value(r, "loss_before") > 0);
        ck_assert(isfinite(kit_row_value(r, "loss_after")) && kit_row_value(r, "loss_after") > 0);
        ck_assert(isfinite(kit_row_value(r, "unit_loss_before")));
    }
    free(x), free(before), free(after);
    kit_close(k);
}
END_TEST

/* ---- refusals --------------------------------------------------------------------------- */

static void refused(const char *passes, const char *why) {
    int32_t at;
    kit *k = kit_open_before(pipeline(2, 4, passes), "modcap.group", &at);
    ck_assert_int_ne(kit_run(k, at, at + 1), PTQ_OK);
    ck_assert_msg(strstr(k->msg, why), "%s: %s", passes, k->msg);
    kit_close(k);
}

START_TEST(refusals) {
    refused("  - modcap.group: {k: \"12\", compare: false}\n", "only 8 pairs");
    refused("  - modcap.group: {merges: \"3+5\", compare: false}\n", "not adjacent");
    refused("  - modcap.group: {k: many}\n", "neither 'auto' nor an integer");
    refused("  - modcap.group: {k: \"2\", merges: \"3-4\"}\n", "not both");
    char msg[PTQ_ERROR_SIZE + 256];
    /* No calibration data (weights only, so the pipeline itself needs none). */
    const char *nodata =
        "model: @MODELS@/resnet20_fmnist.onnx\n"
        "quantization:\n  weights: {bits: 4, granularity: channel, observer: minmax}\n"
        "  activations: {bits: 32}\n"
        "passes:\n  - modcap.group: {capacity: data_dependent}\n";
    int32_t at;
    kit *k = kit_open_before(nodata, "modcap.group", &at);
    ck_assert_int_ne(kit_run(k, at, at + 1), PTQ_OK);
    ck_assert_msg(strstr(k->msg, "calibration"), "%s", k->msg);
    kit_close(k);
    /* After learned rounding: the probe would reset it, so the file is refused. */
    ck_assert_ptr_null(kit_try_open(pipeline(2, 4, "  - adaround.reconstruct: {iterations: 2}\n"
                                               "  - modcap.group: {}\n"), msg, sizeof msg));
    ck_assert_msg(strstr(msg, "modcap.group") && strstr(msg, "adaround.reconstruct"), "%s", msg);
}
END_TEST

int main(void) {
    Suite *s = suite_create("modcap");
    TCase *tc = tcase_create("modcap");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, differentials_and_eligibility);
    tcase_add_test(tc, top_k_chains_into_groups);
    tcase_add_test(tc, parsing_k_and_merges);
    tcase_add_test(tc, resnet20_modules_and_data_free_groups);
    tcase_add_test(tc, engine_unit_spans_blocks);
    tcase_add_test(tc, merged_unit_reconstructs);
    tcase_add_test(tc, probe_leaves_nearest);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
