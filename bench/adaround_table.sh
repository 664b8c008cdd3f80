#!/usr/bin/env bash
# bench/adaround_table.sh — learned rounding against round-to-nearest on the bundled
# models: top-1 on all 10,000 Fashion-MNIST test images and the pass's seconds, for
#   W3A32, W2A32      nearest | AdaRound (layer) | BRECQ (block)
#   W4A4, W2A4        nearest | BRECQ (block, then activation steps) | QDrop
# Per-channel asymmetric weights with MSE-initialised grids, per-tensor asymmetric MSE
# activations, first and last layer (and the activations they read) at 8 bits, 1024
# calibration images drawn from the training split with seed 0 - the issue's setting.
#
# usage: bench/adaround_table.sh [BUILD_DIR] [ITERATIONS] [MODEL ...]
#   ITERATIONS per unit (default 1000; the cards' default is 20000); MODELS default to
#   resnet20_fmnist mobilenetv2_fmnist vgg7_fmnist.  BITS="W3A32 W2A32 W4A4 W2A4" to
#   choose rows.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
iters=${2:-1000}
shift 2 || shift $# || true
models=${*:-resnet20_fmnist mobilenetv2_fmnist vgg7_fmnist}
bits_list=${BITS:-W3A32 W2A32 W4A4 W2A4}
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

yaml() { # MODEL WBITS ABITS [PASS]
    {
        echo "model: $root/models/$1.onnx"
        printf 'calibration: {images: %s/train-images-idx3-ubyte.gz, count: 1024}\n' "$data"
        printf 'evaluation: {images: %s/t10k-images-idx3-ubyte.gz, labels: %s/t10k-labels-idx1-ubyte.gz}\n' \
            "$data" "$data"
        echo "quantization:"
        echo "  weights: {bits: $2, granularity: channel, symmetric: false, observer: mse}"
        echo "  activations: {bits: $3, granularity: tensor, symmetric: false, observer: mse}"
        echo "  target: none   # the papers' grids (asymmetric per-channel 8-bit first/last)"
        echo "  overrides:"
        echo "    - {nodes: [first, last], weights: {bits: 8}, activations: {bits: 8}}"
        if [ $# -ge 4 ]; then printf 'passes:\n  - %s\n' "$4"; else echo "passes: []"; fi
        echo "output: {onnx: false}"
        echo "seed: 0"
    } > "$tmp/p.yaml"
}

run() { # prints "quantized_top1 float_top1 pass_seconds"
    PTQ_THREADS=${PTQ_THREADS:-2} "$build/ptq" run "$tmp/p.yaml" --out "$tmp/out" --force > "$tmp/log" 2>&1 ||
        { tail -3 "$tmp/log" >&2; echo "n/a n/a n/a"; return; }
    python3 - "$tmp/out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
secs = [p["seconds"] for p in r["passes"] if p["name"].startswith("adaround.")]
print("%.2f %.2f %s" % (100 * r["quantized"]["top1"], 100 * r["float"]["top1"],
                        "%.0f" % secs[0] if secs else "-"))
PY
}

cell() { # MODEL WBITS ABITS PASS -> "top1 (s)"
    yaml "$1" "$2" "$3" "$4"
    read -r q _ s < <(run)
    echo "$q ($s s)"
}

T="iterations: $iters"
echo "Iterations per unit: $iters.  Cells: top-1 % (seconds of the reconstruction pass)."
echo
echo "| model (float) | bits | nearest | AdaRound (layer) | BRECQ (block) | QDrop (block) |"
echo "|---|---|---|---|---|---|"
for model in $models; do
    for b in $bits_list; do
        w=${b#W}; w=${w%A*}; a=${b#*A}
        yaml "$model" "$w" "$a"; read -r rtn fl _ < <(run)
        if [ "$a" = 32 ]; then
            ada=$(cell "$model" "$w" "$a" "adaround.reconstruct: {granularity: layer, $T}")
            brecq=$(cell "$model" "$w" "$a" "adaround.reconstruct: {granularity: block, $T}")
            qdrop="-"
        else
            ada="-"
            brecq=$(cell "$model" "$w" "$a" "adaround.reconstruct: {granularity: block, $T, activations: float, act_iterations: $iters, act_lr: 4.0e-5}")
            qdrop=$(cell "$model" "$w" "$a" "adaround.reconstruct: {granularity: block, $T, drop_prob: 0.5, act_lr: 4.0e-5, act_grad_scale: true}")
        fi
        echo "| $model ($fl) | $b | $rtn | $ada | $brecq | $qdrop |"
    done
done
