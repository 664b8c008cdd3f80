#!/usr/bin/env bash
# bench/qdq_table.sh — round-to-nearest baselines on every bundled model: top-1 of ptq's
# simulation and of the exported QDQ model in onnxruntime (npm onnxruntime-node), for
# W8A8, W4A8 and W4A4 with min/max and MSE ranges.  Weights per channel (symmetric),
# activations per tensor (asymmetric), first and last layer at 8 bits, 1024 calibration
# images drawn from the training split (seed 0), all 10,000 test images.
#
# usage: bench/qdq_table.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ptq=${1:-$root/build}/ptq
# pipeline_yaml, json_get, $DATA and a self-cleaning $TMP, as the end-to-end tests use them.
source "$root/tests/e2e/lib.sh" "$ptq" "$root"
[ -d "$here/node_modules/onnxruntime-node" ] ||
    (cd "$here" && npm install --no-audit --no-fund --ignore-scripts >/dev/null)

printf '%-20s %-7s %-7s %7s %10s %10s %8s\n' model bits ranges float ptq onnxrt diff
for model in "$root"/models/*.onnx; do
    name=$(basename "$model" .onnx)
    for bits in "8 8" "4 8" "4 4"; do
        set -- $bits
        for obs in minmax mse; do
            pipeline_yaml "$model" "$TMP/p.yaml" "$1" "$2" "$obs" 0 1024
            "$ptq" run "$TMP/p.yaml" --out "$TMP/out" --force >/dev/null 2>&1
            q=$(json_get "$TMP/out/report.json" quantized top1)
            f=$(json_get "$TMP/out/report.json" float top1)
            o=$(node "$here/ort_eval.mjs" "$TMP/out/model.qdq.onnx" "$DATA/t10k-images-idx3-ubyte.gz" \
                "$DATA/t10k-labels-idx1-ubyte.gz" | sed -nE 's/.*"top1":([0-9.]+).*/\1/p')
            printf '%-20s %-7s %-7s %7.4f %10.4f %10.4f %+8.4f\n' "$name" "W$1A$2" "$obs" "$f" "$q" "$o" \
                "$(awk "BEGIN {print $o - $q}")"
        done
    done
done
