#!/usr/bin/env bash
# bench/dfq_table.sh — the DFQ paper's ablation (Nagel et al. 2019, table "MobileNetV2
# W8A8 per tensor") on the bundled models: top-1 on all 10,000 Fashion-MNIST test images
# for per-tensor weights and activations (asymmetric, min/max ranges, every layer at the
# given width, 1024 calibration images from the training split, seed 0), one markdown
# table per model.  Rows add DFQ's steps one at a time; "data-free" runs the full chain
# with no calibration section at all (activation ranges from BN statistics); the last row
# is per-channel round-to-nearest, the paper's reference point.  The float line under
# each table is the float model after the rewrite that changes it (ReLU6 -> ReLU).
#
# usage: bench/dfq_table.sh [BUILD_DIR] [MODEL ...]     (default: resnet20imb resnet20 mobilenetv2)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
shift || true
ptq=$build/ptq
models=${*:-resnet20imb_fmnist resnet20_fmnist mobilenetv2_fmnist}
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# yaml MODEL WBITS ABITS GRANULARITY DATA(calib|none) PASSES...
yaml() {
    local model=$1 wb=$2 ab=$3 gran=$4 data=$5
    shift 5
    {
        echo "model: $root/models/$model.onnx"
        if [ "$data" = calib ]; then
            printf 'calibration: {images: %s/train-images-idx3-ubyte.gz, count: 1024}\n' "$data_dir"
        fi
        printf 'evaluation: {images: %s/t10k-images-idx3-ubyte.gz, labels: %s/t10k-labels-idx1-ubyte.gz}\n' \
            "$data_dir" "$data_dir"
        echo "quantization:"
        echo "  weights: {bits: $wb, granularity: $gran, symmetric: false, observer: minmax}"
        echo "  activations: {bits: $ab, granularity: tensor, symmetric: false, observer: minmax}"
        echo "  target: none   # the paper's full 8-bit grids"
        if [ $# -eq 0 ]; then echo "passes: []"; else echo "passes:"; fi
        for p in "$@"; do echo "  - $p"; done
        echo "seed: 0"
    } > "$tmp/p.yaml"
}
data_dir=$data

top1() { # runs $tmp/p.yaml, prints quantized (or float, with $1 = float) top-1 in %
    "$build/ptq" run "$tmp/p.yaml" --out "$tmp/out" --force > "$tmp/log" 2>&1 ||
        { cat "$tmp/log" >&2; echo "n/a"; return; }
    python3 -c "import json,sys; r=json.load(open('$tmp/out/report.json')); print('%.2f' % (100*r['${1:-quantized}']['top1']))"
}

R6='dfq.replace_relu6: {}'
EQ='dfq.equalize: {}'
AB='dfq.absorb_bias: {}'
BCA='dfq.correct_bias: {mode: analytic}'
BCE='dfq.correct_bias: {mode: empirical}'
RANGES='dfq.bn_ranges: {}'

row() { # label granularity data passes...
    local label=$1 gran=$2 dat=$3
    shift 3
    local line="| $label |"
    for bits in 8 6 4; do
        yaml "$model" "$bits" 8 "$gran" "$dat" "$@"
        line="$line $(top1) |"
    done
    echo "$line"
}

for model in $models; do
    yaml "$model" 32 32 tensor none
    fl=$(top1 float)
    yaml "$model" 32 32 tensor none "$R6"
    fl6=$(top1 quantized)
    echo
    echo "**$model** (float $fl %; after ReLU6 -> ReLU $fl6 %)"
    echo
    echo "| per-tensor, top-1 % | W8A8 | W6A8 | W4A8 |"
    echo "|---|---|---|---|"
    row "round to nearest" tensor calib
    row "bias correction alone (analytic)" tensor calib "$BCA"
    row "+ equalize (ReLU6 -> ReLU)" tensor calib "$R6" "$EQ"
    row "+ equalize + absorb" tensor calib "$R6" "$EQ" "$AB"
    row "+ equalize + absorb + bias corr. (analytic)" tensor calib "$R6" "$EQ" "$AB" "$BCA"
    row "+ equalize + absorb + bias corr. (empirical)" tensor calib "$R6" "$EQ" "$AB" "$BCE"
    row "DFQ fully data-free (BN ranges, analytic)" tensor none "$R6" "$EQ" "$AB" "$RANGES" "$BCA"
    row "per-channel round to nearest (reference)" channel calib
done
