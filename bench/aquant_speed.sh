#!/usr/bin/env bash
# bench/aquant_speed.sh — what learned rounding borders cost at inference: the same
# quantized model exported twice, once with AQuant's border tables and once without
# (max_bins: 1, so every activation keeps round-to-nearest), evaluated on the 10,000
# test images by ptq's executor (`ptq eval`, which imports the export: a fake quantizer
# with its table) and by onnxruntime (bench/ort_eval.mjs, all graph optimisations: the
# border chain runs as its separate ONNX ops).  Images per second, the median of RUNS
# evaluations each (inference only, as both tools time it), and the ratio.  The borders
# need only exist, so the pass runs 2 steps per unit.
#
# usage: bench/aquant_speed.sh [BUILD_DIR] [RUNS] > speed.tsv   (MODELS="resnet20_fmnist ...")
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
runs=${2:-5}
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
models=${MODELS:-resnet20_fmnist mobilenetv2_fmnist vgg7_fmnist}
echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); flags: $(grep -m1 -o 'avx512f' /proc/cpuinfo || echo 'no avx512f'); threads: 2"
printf 'model\tbits\truntime\tnearest_img_s\tborders_img_s\tborders/nearest\n'

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for model in $models; do
    for bits in 2 4; do
        for variant in nearest borders; do
            extra=""; [ "$variant" = nearest ] && extra=", max_bins: 1"
            sed -e "s#^model: .*#model: $root/models/$model.onnx#" -e "s#count: 1024#count: 256#" \
                -e "s#iterations: 1000#iterations: 2#" -e "s#act_grad_scale: true}#act_grad_scale: true$extra}#" \
                -e "s#^output: .*#output: {onnx: true}#" "$root/examples/aquant_w2a$bits.yaml" > "$tmp/$variant.yaml"
            PTQ_THREADS=2 "$build/ptq" run "$tmp/$variant.yaml" --out "$tmp/$variant" --force > "$tmp/log" 2>&1 ||
                { echo "ptq run failed: $(tail -2 "$tmp/log")" >&2; exit 1; }
        done
        for rt in ptq onnxruntime; do
            declare -A ips=()
            for variant in nearest borders; do
                f="$tmp/$variant/model.qdq.onnx"
                for _ in $(seq "$runs"); do
                    if [ "$rt" = ptq ]; then
                        PTQ_THREADS=2 "$build/ptq" eval "$f" --images "$data/t10k-images-idx3-ubyte.gz" \
                            --labels "$data/t10k-labels-idx1-ubyte.gz" --batch 256 --json
                    else
                        node "$here/ort_eval.mjs" "$f" "$data/t10k-images-idx3-ubyte.gz" \
                            "$data/t10k-labels-idx1-ubyte.gz" --threads 2
                    fi | sed -nE 's/.*"images_per_second": *([0-9.]+).*/\1/p'
                done | median > "$tmp/m"
                ips[$variant]=$(cat "$tmp/m")
            done
            awk -v m="$model" -v b="W2A$bits" -v r="$rt" -v n="${ips[nearest]}" -v x="${ips[borders]}" \
                'BEGIN { printf "%s\t%s\t%s\t%.0f\t%.0f\t%.2f\n", m, b, r, n, x, x / n }'
        done
    done
done
