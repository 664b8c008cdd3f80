#!/usr/bin/env bash
# ort_interop.sh — the exported QDQ model in onnxruntime (npm onnxruntime-node): it must
# load, run with onnxruntime's full graph optimisation (its QDQ fusions into integer
# kernels), and reach the accuracy ptq's simulation reported, within 0.2 points on the 10k
# Fashion-MNIST test images: W8A8 and W4A8 with symmetric weights, W4A8 with asymmetric
# per-channel weights (exported zero-point-free), W4A8 in the papers' placement (unit
# outputs: float residual branches and input), all on the default target (portable),
# which must be exact whatever the CPU.  Target vnni (full 8-bit weight grids) is checked
# where the CPU has VNNI; elsewhere its deviation is printed, not judged.  AQuant's learned
# activation rounding borders (examples/aquant_w2a4.yaml, short) are exported as ONNX ops
# around the QuantizeLinear and must agree the same way.  Skipped, with the
# reason, where node or onnxruntime-node is not available (scripts/test.sh installs it
# when npm can).
. "$(dirname "$0")/lib.sh"
ORT=$SRC/bench/node_modules/onnxruntime-node
if ! command -v node >/dev/null 2>&1; then
    echo "skipped: node is not installed"; echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
if [ ! -d "$ORT" ]; then
    echo "skipped: $ORT is missing (cd bench && npm install --ignore-scripts)"; echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
exact=1
path=$(int8_kernel_path) || exact=0
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //'); onnxruntime int8 path: $path"
limit=${PTQ_E2E_LIMIT:-0}
# 0.2 points on the 10k test set, as the issue asks; on a 1000-image subset (sanitizer
# suite) a handful of near-tie images decide more, so allow 0.6 points there.
tol=$([ "$limit" -gt 0 ] && echo 0.006 || echo 0.002)
cases=("w8a8 8 8 minmax portable true" "w4a8 4 8 mse portable true" "w4a8asym 4 8 mse portable false"
       "w8a8vnni 8 8 minmax vnni true" "w4a8paper 4 8 mse portable true paper")
# The sanitizer suite runs one case, the one with the most export code behind it (weights
# written zero-point-free): onnxruntime itself is not sanitized, and the numerics under
# test are the release build's, checked in full there.
[ "$limit" -gt 0 ] && cases=("${cases[2]}")
for cfg in "${cases[@]}"; do
    set -- $cfg
    name=$1 target=$5
    pipeline_yaml "$SRC/models/resnet20_fmnist.onnx" "$TMP/$name.yaml" "$2" "$3" "$4" "$limit" 512 "$target" "$6" "${7:-}"
    if ! out=$("$PTQ" run "$TMP/$name.yaml" --out "$TMP/$name" 2>&1); then
        bad "$name: ptq run failed: $out"
        continue
    fi
    q=$(json_get "$TMP/$name/report.json" quantized top1)
    limit_args=()
    [ "$limit" -gt 0 ] && limit_args=(--limit "$limit")
    o=$(node "$SRC/bench/ort_eval.mjs" "$TMP/$name/model.qdq.onnx" "$DATA/t10k-images-idx3-ubyte.gz" \
        "$DATA/t10k-labels-idx1-ubyte.gz" --opt all "${limit_args[@]}" 2>&1)
    t=$(echo "$o" | sed -nE 's/.*"top1":([0-9.]+).*/\1/p')
    if [ -z "$t" ]; then
        bad "$name: onnxruntime did not run the export: $o"
    elif awk -v a="$t" -v b="$q" -v t="$tol" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t + 1e-9) }'; then
        ok "$name (target $target): onnxruntime top1 $t, ptq simulation $q"
    elif [ "$target" = vnni ] && [ "$exact" = 0 ]; then
        echo "info: $name (target vnni) on a CPU without VNNI: onnxruntime top1 $t vs simulation $q" \
            "(the saturating path; use target portable here)"
    else
        bad "$name (target $target): onnxruntime top1 '$t' vs ptq simulation $q: $o"
    fi
done

# AQuant's learned rounding borders, written as standard ONNX ops in front of each
# QuantizeLinear (Div, Floor, Sub, Add, Clip, Cast, Gather, Greater, Add, Mul): the
# example on ResNet-20 with a short budget (the borders need only be learned, not good).
aq_count=$([ "$limit" -gt 0 ] && echo "$limit" || echo 10000)
cut_example aquant_w2a4 "$TMP/aquant.yaml" "$([ "$limit" -gt 0 ] && echo 32 || echo 256)" "$aq_count" \
    "$([ "$limit" -gt 0 ] && echo 2 || echo 20)" resnet20_fmnist
if out=$("$PTQ" run "$TMP/aquant.yaml" --out "$TMP/aquant" 2>&1); then
    ort_agrees "aquant_w2a4 (rounding borders)" "$TMP/aquant" "$tol" "$aq_count"
else
    bad "aquant_w2a4: ptq run failed: $out"
fi
finish
