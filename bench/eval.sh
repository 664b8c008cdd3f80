#!/usr/bin/env bash
# bench/eval.sh — float inference throughput: ptq vs onnxruntime (npm onnxruntime-node).
#
# For each model in models/, runs `ptq eval` and the onnxruntime reference on the 10k
# Fashion-MNIST test images at batch 256 with 2 threads, REPS times each, interleaved,
# and prints the median images/s of each and their ratio.  Both time inference only.
# This is a benchmark, not a test: numbers depend on the machine and its load.
#
# usage: bench/eval.sh [BUILD_DIR] [REPS]      (defaults: build, 5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
reps=${2:-5}
ptq=$build/ptq
data=/usr/share/datasets/fashion-mnist
images=$data/t10k-images-idx3-ubyte.gz
labels=$data/t10k-labels-idx1-ubyte.gz

[ -x "$ptq" ] || { echo "bench: $ptq not built (cmake --build $build)" >&2; exit 1; }
if [ ! -d "$here/node_modules/onnxruntime-node" ]; then
    # --ignore-scripts: the package's install script only fetches optional GPU binaries
    # from the internet; the CPU runtime ships inside the npm tarball.
    (cd "$here" && npm install --no-audit --no-fund --ignore-scripts >/dev/null)
fi

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -E "s/.*\"$1\": ?([0-9.eE+-]+).*/\1/"; }

printf '%-26s %8s %14s %14s %8s\n' model top1 "ptq img/s" "ort img/s" ratio
for model in "$root"/models/*.onnx; do
    name=$(basename "$model" .onnx)
    ptq_runs=() ort_runs=()
    top1=""
    for ((r = 0; r < reps; r++)); do
        out=$("$ptq" eval "$model" --images "$images" --labels "$labels" --batch 256 --threads 2 --json)
        ptq_runs+=("$(echo "$out" | field images_per_second)")
        top1=$(echo "$out" | field top1)
        out=$(node "$here/ort_eval.mjs" "$model" "$images" "$labels" --batch 256 --threads 2)
        ort_runs+=("$(echo "$out" | field images_per_second)")
    done
    p=$(printf '%s\n' "${ptq_runs[@]}" | median)
    o=$(printf '%s\n' "${ort_runs[@]}" | median)
    printf "%-26s %8.4f %14.0f %14.0f %8.2f\n" "$name" "$top1" "$p" "$o" "$(awk "BEGIN {print $p / $o}")"
done
echo "(median of $reps runs each; batch 256, 2 threads; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
