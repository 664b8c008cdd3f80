#!/usr/bin/env bash
# methods.sh — the method plugins' example pipelines, run as a user runs them (only the
# evaluation is cut to a subset, and the calibration set under the sanitizers): each must
# finish, export, report its per-layer tables, and stay near float accuracy where the
# method claims to.  The DFQ export also goes through onnxruntime when it is installed.
. "$(dirname "$0")/lib.sh"
limit=${PTQ_E2E_LIMIT:-0}
eval_count=$([ "$limit" -gt 0 ] && echo "$limit" || echo 2000)
calib=$([ "$limit" -gt 0 ] && echo 256 || echo 1024)
# Under the sanitizers (~25x slower) EasyQuant searches a coarser grid on fewer images:
# the same code paths, a fraction of the candidates.
eq_quick=$([ "$limit" -gt 0 ] && echo "{images: 16, n: 20, rounds: 2}" || echo "{}")

# The AdaRound/BRECQ/QDrop examples run 1000 steps per unit; here 100 (and 3 under the
# sanitizers, where only the paths matter): the same code, a tenth of the steps.
ada_iters=$([ "$limit" -gt 0 ] && echo 3 || echo 100)
# ...on 256 of the 1024 calibration images (32 under the sanitizers): caching a unit's
# inputs runs the model up to it, once per unit, and with 100 steps that dominates (the
# release runs took 42 s each on 1024 images, 17 s on 256, ResNet-20 W4: 93.20 -> 93.15 %).
ada_images=$([ "$limit" -gt 0 ] && echo "images: 32, " || echo "images: 256, ")

# run_example NAME MAX_DROP [MODEL]: runs examples/NAME.yaml (on MODEL if given) and
# checks quantized >= float - MAX_DROP (fractions) on the evaluated subset.
run_example() {
    local ex=$1 drop=$2 model=${3:-}
    local tag=$ex${model:+ on $model} out_dir=$TMP/out_$ex${model:+_$model}
    cut_example "$ex" "$TMP/$ex.yaml" "$calib" "$eval_count" "$ada_iters" "$model"
    sed -i -e "s#easyquant.search_scales: {}#easyquant.search_scales: $eq_quick#" \
        -e "s#adaround.reconstruct: {#adaround.reconstruct: {$ada_images#" "$TMP/$ex.yaml"
    rm -rf "$out_dir"
    if ! out=$("$PTQ" run "$TMP/$ex.yaml" --out "$out_dir" 2>&1); then
        bad "$tag failed: $out"
        return
    fi
    local f q
    f=$(json_get "$out_dir/report.json" float top1)
    q=$(json_get "$out_dir/report.json" quantized top1)
    if [ ! -s "$out_dir/model.qdq.onnx" ]; then
        bad "$tag: no exported model"
    elif ! grep -q '"tables"' "$out_dir/report.json"; then
        bad "$tag: report.json has no per-layer tables"
    elif awk -v f="$f" -v q="$q" -v d="$drop" 'BEGIN { exit !(q >= f - d - 1e-9) }'; then
        ok "$tag: float $f, quantized $q (allowed drop $drop)"
    else
        bad "$tag: float $f, quantized $q: more than $drop below float"
    fi
}

# DFQ's claim on the model built to break per-tensor quantization: within 0.5 points.
run_example dfq_w8a8_pertensor 0.005
# No calibration section at all.
run_example dfq_datafree 0.01
if grep -q '^calibration' "$SRC/examples/dfq_datafree.yaml"; then bad "dfq_datafree configures data"; fi
run_example easyquant_w7a7 0.01
run_example dfq_then_easyquant 0.01

# Learned rounding.  Release suite: AdaRound at W2 per layer (where nearest collapses:
# 75.7 % on ResNet-20; 100 steps per layer reach ~85 %, 1000 reach 91 %, so a 12-point
# drop is still far above nearest), BRECQ at W4A4 per block, and QDrop on MobileNetV2 at
# W2A4 in the papers' placement.  Sanitizers: the BRECQ example (block units, the
# activation phase), accuracy unchecked; plugin.adaround covers layer units and QDrop there.
if [ "$limit" -gt 0 ]; then
    run_example brecq_w4a4 1
else
    run_example adaround_w2a32 0.12
    run_example brecq_w4a4 0.03
    # The 100-step run on 256 images here reaches 49 % (the 1000-step runs are in
    # docs/BENCHMARKS.md); the bound says only that it did not collapse to chance (10 %):
    # the paths, the export and the recorded placement are what this checks.
    run_example qdrop_w2a4 0.62
    if [ -s "$TMP/out_qdrop_w2a4/report.json" ]; then
        if grep -q '"placement": *"paper"' "$TMP/out_qdrop_w2a4/report.json" &&
           grep -q '^  placement: paper' "$TMP/out_qdrop_w2a4/pipeline.yaml"; then
            ok "qdrop_w2a4: report.json and pipeline.yaml say placement paper"
        else
            bad "qdrop_w2a4: the placement is not recorded"
        fi
    fi
fi
# These run nothing the others do not (W4 and W3 per layer, W2 per block, BRECQ at W2A4
# in the paper placement, QDrop at W4A4); the suite's 25 minutes keep them to validation
# (bench/adaround_table.sh and bench/baselines_table.sh measure them).
ptq_abs=$(cd "$(dirname "$PTQ")" && pwd)/$(basename "$PTQ")
for ex in adaround_w4a32 adaround_w3a32 brecq_w2a32 brecq_w2a4 qdrop_w4a4; do
    if (cd "$SRC/examples" && "$ptq_abs" run "$ex.yaml" --dry-run > "$TMP/dry_$ex.log" 2>&1); then
        ok "$ex validates as shipped"
    else
        bad "$ex: $(tail -2 "$TMP/dry_$ex.log")"
    fi
done
if [ -s "$TMP/out_brecq_w4a4/model.qdq.onnx" ] && ! grep -q '"units"' "$TMP/out_brecq_w4a4/report.json"; then
    bad "brecq_w4a4: report.json has no units table"
fi

# The data-free export in onnxruntime: the replaced ReLU6 (a Clip without max) and the
# corrected biases must mean the same there.
ort_agrees dfq_datafree "$TMP/out_dfq_datafree" 0.006 "$eval_count"
finish
