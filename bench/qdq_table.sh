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
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -d "$here/node_modules/onnxruntime-node" ] ||
    (cd "$here" && npm install --no-audit --no-fund --ignore-scripts >/dev/null)

top1() { sed -n '/"quantized": {/,/}/p' "$1" | sed -nE 's/.*"top1": ([0-9.]+).*/\1/p'; }
ftop1() { sed -n '/"float": {/,/}/p' "$1" | sed -nE 's/.*"top1": ([0-9.]+).*/\1/p'; }

printf '%-20s %-7s %-7s %7s %10s %10s %8s\n' model bits ranges float ptq onnxrt diff
for model in "$root"/models/*.onnx; do
    name=$(basename "$model" .onnx)
    for bits in "8 8" "4 8" "4 4"; do
        set -- $bits
        for obs in minmax mse; do
            y=$tmp/p.yaml
            cat > "$y" <<YAML
model: $model
calibration: {images: $data/train-images-idx3-ubyte.gz, count: 1024}
evaluation: {images: $data/t10k-images-idx3-ubyte.gz, labels: $data/t10k-labels-idx1-ubyte.gz}
quantization:
  weights: {bits: $1, granularity: channel, symmetric: true, observer: $obs}
  activations: {bits: $2, granularity: tensor, symmetric: false, observer: $obs}
  overrides:
    - nodes: [first, last]
      weights: {bits: 8}
      activations: {bits: 8}
seed: 0
YAML
            "$ptq" run "$y" --out "$tmp/out" --force >/dev/null 2>&1
            q=$(top1 "$tmp/out/report.json")
            f=$(ftop1 "$tmp/out/report.json")
            o=$(node "$here/ort_eval.mjs" "$tmp/out/model.qdq.onnx" "$data/t10k-images-idx3-ubyte.gz" \
                "$data/t10k-labels-idx1-ubyte.gz" | sed -nE 's/.*"top1":([0-9.]+).*/\1/p')
            printf '%-20s %-7s %-7s %7.4f %10.4f %10.4f %+8.4f\n' "$name" "W$1A$2" "$obs" "$f" "$q" "$o" \
                "$(awk "BEGIN {print $o - $q}")"
        done
    done
done
