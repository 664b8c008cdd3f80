#!/usr/bin/env bash
# realworld_speed.sh — float inference throughput of the real-world-style models against
# onnxruntime (CPU, onnxruntime-node, graph optimisations on), on the same random input:
# the detector at detector size (3 x 640 x 640), batch 1 and 4, and the others at their
# sizes.  Both time inference only (ptq infer --repeat, ort_infer.mjs --repeat: the median
# over R passes of the whole input), in alternating rounds; the table gives the median of
# the rounds' medians and the ratio ptq/onnxruntime of time (< 1: ptq is faster).
#
# usage: bench/realworld_speed.sh [PTQ_BINARY] [ROUNDS] [THREADS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ptq=${1:-$root/build/ptq}
rounds=${2:-5}
threads=${3:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
m=$root/models/realworld

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) CPUs, AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no); $threads threads"
printf '| model | input | ptq (s) | onnxruntime (s) | ptq / onnxruntime |\n|---|---|---|---|---|\n'
for spec in "textdet 1,3,640,640" "textdet 4,3,640,640" "convnext 64,1,28,28" "seqrec 64,1,32,128"; do
    set -- $spec
    name=$1 shape=$2
    n=${shape%%,*}
    node "$root/bench/ort_infer.mjs" --make-input "$shape" "$tmp/in.npy"
    : > "$tmp/p" ; : > "$tmp/o"
    for r in $(seq "$rounds"); do
        "$ptq" infer "$m/$name.onnx" --input "$tmp/in.npy" --output "$tmp/out.npy" --batch "$n" \
            --threads "$threads" --repeat 5 2>&1 | sed -nE 's/^inference +([0-9.]+) s.*/\1/p' >> "$tmp/p"
        node "$root/bench/ort_infer.mjs" "$m/$name.onnx" "$tmp/in.npy" "$tmp/ort" --threads "$threads" \
            --repeat 5 | sed -nE 's/.*"seconds":([0-9.e-]+).*/\1/p' >> "$tmp/o"
    done
    p=$(median < "$tmp/p") o=$(median < "$tmp/o")
    printf '| %s | %s | %.4f | %.4f | %.2f |\n' "$name" "$shape" "$p" "$o" "$(awk -v a="$p" -v b="$o" 'BEGIN { print a / b }')"
done
