#!/usr/bin/env bash
# bench/qdq_table.sh — round-to-nearest baselines on every bundled model: top-1 of ptq's
# simulation and of the exported QDQ model in onnxruntime (npm onnxruntime-node), for
# W8A8, W4A8 and W4A4 with min/max and MSE ranges.  Weights per channel (symmetric),
# activations per tensor (asymmetric), first and last layer at 8 bits, 1024 calibration
# images drawn from the training split (seed 0), all 10,000 test images.
#
# Each row for a deployment target (quantization.target): portable (the default, 8-bit
# weight grids cut to [-64, 64] where integer kernels run) and vnni (full grids, exact only
# where the CPU has VNNI).  onnxruntime runs with its full graph optimisation (QDQ fused
# into its integer kernels); "basic" is its float path (DequantizeLinear then float ops).
#
# usage: bench/qdq_table.sh [BUILD_DIR]
#   env MODELS="resnet20_fmnist ...", BITS="8 8,4 8,4 4", OBSERVERS="minmax mse",
#       TARGETS="portable vnni" narrow the table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ptq=${1:-$root/build}/ptq
# pipeline_yaml, json_get, int8_kernel_path, $DATA and a self-cleaning $TMP, as the
# end-to-end tests use them.
source "$root/tests/e2e/lib.sh" "$ptq" "$root"
[ -d "$here/node_modules/onnxruntime-node" ] ||
    (cd "$here" && npm install --no-audit --no-fund --ignore-scripts >/dev/null)
models=${MODELS:-$(for m in "$root"/models/*.onnx; do basename "$m" .onnx; done)}
IFS=, read -r -a bits_list <<< "${BITS:-8 8,4 8,4 4}"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); onnxruntime int8 path: $(int8_kernel_path || true)"
ort_top1() { # MODEL OPT
    node "$here/ort_eval.mjs" "$1" "$DATA/t10k-images-idx3-ubyte.gz" "$DATA/t10k-labels-idx1-ubyte.gz" \
        --opt "$2" 2>/dev/null | sed -nE 's/.*"top1":([0-9.]+).*/\1/p'
}
printf '%-20s %-6s %-7s %-9s %7s %8s %8s %8s %8s\n' model bits ranges target float ptq ort-all ort-basic diff
for name in $models; do
    model=$root/models/$name.onnx
    for bits in "${bits_list[@]}"; do
        set -- $bits
        for obs in ${OBSERVERS:-minmax mse}; do
            for target in ${TARGETS:-portable vnni}; do
                pipeline_yaml "$model" "$TMP/p.yaml" "$1" "$2" "$obs" 0 1024 "$target"
                "$ptq" run "$TMP/p.yaml" --out "$TMP/out" --force >/dev/null 2>&1
                q=$(json_get "$TMP/out/report.json" quantized top1)
                f=$(json_get "$TMP/out/report.json" float top1)
                o=$(ort_top1 "$TMP/out/model.qdq.onnx" all)
                b=$(ort_top1 "$TMP/out/model.qdq.onnx" basic)
                printf '%-20s %-6s %-7s %-9s %7.4f %8.4f %8.4f %8.4f %+8.4f\n' "$name" "W$1A$2" "$obs" \
                    "$target" "$f" "$q" "$o" "$b" "$(awk "BEGIN {print $o - $q}")"
            done
        done
    done
done
