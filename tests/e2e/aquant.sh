#!/usr/bin/env bash
# aquant.sh — the AQuant examples as a user runs them: examples/aquant_w2a2.yaml on
# ResNet-20 (the model line swapped) against examples/qdrop_w2a2.yaml cut the same way
# (the same file but for the pass: the difference is the activation rounding) and against
# no pass at all (round-to-nearest on the same grids); the report's borders table; the
# export re-imported by `ptq eval` at the simulated accuracy; and the pass's refusals,
# named, leaving no output directory.  onnxruntime on the export: e2e.ort_interop.
. "$(dirname "$0")/lib.sh"
limit=${PTQ_E2E_LIMIT:-0}
eval_count=$([ "$limit" -gt 0 ] && echo "$limit" || echo 2000)
# The examples run 1000 steps per unit on 1024 images; here 100 on 256 (4 on 32 under the
# sanitizers, where only the paths matter).
iters=$([ "$limit" -gt 0 ] && echo 4 || echo 100)
calib=$([ "$limit" -gt 0 ] && echo 32 || echo 256)

# example NAME OUT [MODEL] [PASSES]: examples/NAME.yaml cut to this test's budget.
example() {
    local ex=$1 out=$2 model=${3:-} passes=${4:-}
    cut_example "$ex" "$out" "$calib" "$eval_count" "$iters" "$model"
    # ResNet's lambda (the examples are MobileNetV2's, 0.1), the same for both methods.
    [ -n "$model" ] && sed -i 's/reg_weight: 0.1/reg_weight: 0.01/' "$out"
    [ -n "$passes" ] && sed -i "/^passes:/,/^output:/c\\passes: $passes\\noutput: {onnx: true}" "$out"
    return 0
}

for ex in aquant_w2a2 aquant_w3a3 aquant_w2a4; do
    if "$PTQ" run "$SRC/examples/$ex.yaml" --dry-run > "$TMP/dry.log" 2>&1; then ok "$ex.yaml validates"
    else bad "$ex.yaml does not validate: $(tail -2 "$TMP/dry.log")"; fi
done

example aquant_w2a2 "$TMP/near.yaml" resnet20_fmnist "[]"
example qdrop_w2a2 "$TMP/qdrop.yaml" resnet20_fmnist
example aquant_w2a2 "$TMP/aq.yaml" resnet20_fmnist
if "$PTQ" run "$TMP/near.yaml" --out "$TMP/near" > "$TMP/near.log" 2>&1 &&
   "$PTQ" run "$TMP/qdrop.yaml" --out "$TMP/qdrop" > "$TMP/qdrop.log" 2>&1 &&
   "$PTQ" run "$TMP/aq.yaml" --out "$TMP/aq" > "$TMP/aq.log" 2>&1; then
    n=$(json_get "$TMP/near/report.json" quantized top1)
    d=$(json_get "$TMP/qdrop/report.json" quantized top1)
    a=$(json_get "$TMP/aq/report.json" quantized top1)
    # Measured (release, 100 steps per unit, 256 images, 2000 test images): nearest 0.680,
    # QDrop 0.812, AQuant 0.826 (0.837 with relaxation: ste).  The bounds: far above
    # nearest, and not below QDrop by more than run-to-run noise (the size of the gain is
    # the benchmark's business).
    if [ "$limit" -gt 0 ]; then
        ok "aquant_w2a2 on resnet20 ran ($n, QDrop $d, AQuant $a; accuracy unchecked under the sanitizers)"
    elif awk -v n="$n" -v d="$d" -v a="$a" 'BEGIN { exit !(a >= n + 0.10 && a >= d - 0.01) }'; then
        ok "aquant_w2a2 on resnet20: nearest $n, QDrop $d, AQuant $a (needs nearest + 0.10 and QDrop - 0.01)"
    else
        bad "aquant_w2a2 on resnet20: nearest $n, QDrop $d, AQuant $a"
    fi
    if grep -q '"borders"' "$TMP/aq/report.json" && grep -q '"trained_pct"' "$TMP/aq/report.json" &&
       grep -q "keeps round-to-nearest: more bins than max_bins" "$TMP/aq.log"; then
        ok "aquant_w2a2: borders table in the report, the 8-bit quantizer named as kept at nearest"
    else
        bad "aquant_w2a2: borders table or the max_bins note missing"
    fi
    # ptq re-imports its own export (the borders as ONNX ops) at the simulated accuracy.
    e=$("$PTQ" eval "$TMP/aq/model.qdq.onnx" --images "$DATA/t10k-images-idx3-ubyte.gz" \
        --labels "$DATA/t10k-labels-idx1-ubyte.gz" --limit "$eval_count" --json 2>&1)
    t=$(echo "$e" | sed -nE 's/.*"top1": *([0-9.]+).*/\1/p')
    if [ -n "$t" ] && awk -v a="$t" -v b="$a" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-9) }'; then
        ok "aquant_w2a2 export re-imported: ptq eval top1 $t, the simulation's $a"
    else
        bad "aquant_w2a2 export re-imported: ptq eval '$t' vs simulation $a: $e"
    fi
else
    bad "aquant_w2a2 on resnet20 failed: $(tail -3 "$TMP/near.log" "$TMP/qdrop.log" "$TMP/aq.log")"
fi

# Refusals: named, exit 1, nothing written.
refuse() { # NAME PATTERN PASS
    example aquant_w2a2 "$TMP/bad.yaml" resnet20_fmnist "[{aquant.reconstruct: $3}]"
    expect_error "$1" "$2" -- "$PTQ" run "$TMP/bad.yaml" --out "$TMP/bad"
    [ ! -e "$TMP/bad" ] || bad "$1: left an output directory"
}
refuse "a temperature annealing up" "aquant.reconstruct.*tau_end 0.5 is above tau_start 0.1" \
    "{iterations: 2, relaxation: sigmoid, tau_start: 0.1, tau_end: 0.5}"
example aquant_w2a2 "$TMP/form.yaml" resnet20_fmnist "[{aquant.reconstruct: {border: cubic}}]"
expect_error "an unknown border form" "form.yaml:[0-9]+.*border" -- "$PTQ" run "$TMP/form.yaml" --out "$TMP/form"
example aquant_w2a2 "$TMP/bins.yaml" resnet20_fmnist "[{aquant.reconstruct: {max_bins: 0}}]"
expect_error "max_bins out of range" "bins.yaml:[0-9]+.*max_bins" -- "$PTQ" run "$TMP/bins.yaml" --out "$TMP/bins"
finish
