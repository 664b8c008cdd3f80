#!/usr/bin/env bash
# bench/adaround_vs_torch.sh — ptq's AdaRound (adaround.reconstruct, granularity: layer)
# against the PyTorch reference bench/adaround_torch.py, which implements the same layer
# loop independently: accuracy on all 10,000 Fashion-MNIST test images and the time of
# the reconstruction itself (every layer, input/target caching included; model loading
# and evaluation excluded on both sides).
#
# Both start from the same grids: ptq runs once with `passes: []` (round-to-nearest) and
# exports the QDQ model; the torch script reads its scales and zero points from that
# export and checks that its own round-to-nearest codes are ptq's (it stops when more than
# 1 % differ, and warns about any difference).
# Setup: weights per channel, asymmetric, MSE-searched ranges, $WEIGHT_BITS bits (first
# and last layer 8-bit), activations float (A32), calibration on the FIRST 1024 training
# images (`sample: false`, so both sides see the same images), batch 32, Adam lr 1e-3,
# lambda 0.01, beta 20 -> 2 after a 20 % warm-up.  Minibatches are drawn by different
# generators, so top-1 agrees up to run-to-run noise, not bit for bit.
#
# usage: bench/adaround_vs_torch.sh BUILD_DIR [ITERATIONS]      (default 1000)
# env:   WEIGHT_BITS (4)  THREADS (2, both sides: PTQ_THREADS and torch.set_num_threads)
#        MODELS ("resnet20_fmnist mobilenetv2_fmnist")  PYTHON (/usr/bin/python3, Debian's,
#        with python3-torch, python3-onnx, python3-numpy)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [ITERATIONS]" >&2; exit 2; }
ptq=$(cd "$1" && pwd)/ptq
iters=${2:-1000}
bits=${WEIGHT_BITS:-4}
threads=${THREADS:-2}
models=${MODELS:-resnet20_fmnist mobilenetv2_fmnist}
py=${PYTHON:-/usr/bin/python3}
export PTQ_THREADS=$threads
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

yaml() { # MODEL OUT_DIR [PASS]
    {
        echo "model: $root/models/$1.onnx"
        printf 'calibration: {images: %s/train-images-idx3-ubyte.gz, count: 1024, sample: false}\n' "$data"
        printf 'evaluation: {images: %s/t10k-images-idx3-ubyte.gz, labels: %s/t10k-labels-idx1-ubyte.gz, count: 0}\n' \
            "$data" "$data"
        echo "quantization:"
        echo "  weights: {bits: $bits, granularity: channel, symmetric: false, observer: mse}"
        echo "  activations: {bits: 32, granularity: tensor, symmetric: false}"
        echo "  target: none   # the same grids as the PyTorch side"
        echo "  overrides:"
        echo "    - nodes: [first, last]"
        echo "      weights: {bits: 8}"
        if [ $# -ge 3 ]; then printf 'passes:\n  - %s\n' "$3"; else echo "passes: []"; fi
        echo "output: {dir: $2, onnx: true}"
        echo "seed: 0"
    } > "$tmp/p.yaml"
}

report() { # REPORT.JSON -> "quantized_top1_% float_top1_% adaround_seconds"
    "$py" - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
secs = [p["seconds"] for p in r["passes"] if p["name"] == "adaround.reconstruct"]
print("%.2f %.2f %s" % (100 * r["quantized"]["top1"], 100 * r["float"]["top1"],
                        "%.1f" % secs[0] if secs else "n/a"))
PY
}

echo "W${bits}A32, first/last layer W8, $threads threads, batch 32, 1024 calibration images, 10,000 test images"
echo
echo "| model (float top-1 %) | iterations | round-to-nearest ptq / torch | ptq top-1 | torch top-1 | ptq s | torch s | speed ratio (torch/ptq) |"
echo "|---|---|---|---|---|---|---|---|"
for model in $models; do
    # Round-to-nearest: the grids both sides start from.
    yaml "$model" "$tmp/rtn_$model"
    "$ptq" run "$tmp/p.yaml" --force > "$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
    read -r rtn fl _ < <(report "$tmp/rtn_$model/report.json")

    # ptq's AdaRound (hyper-parameters written out, in case the pass's defaults change).
    yaml "$model" "$tmp/ada_$model" \
        "adaround.reconstruct: {granularity: layer, iterations: $iters, batch: 32, lr: 0.001, reg_weight: 0.01}"
    if "$ptq" run "$tmp/p.yaml" --force > "$tmp/log" 2>&1; then
        read -r ada _ ptq_s < <(report "$tmp/ada_$model/report.json")
    else
        echo "ptq adaround.reconstruct failed on $model:" >&2
        tail -5 "$tmp/log" >&2
        ada=n/a ptq_s=n/a
    fi

    # The torch reference on the same grids and images.
    "$py" "$here/adaround_torch.py" --model "$root/models/$model.onnx" \
        --init "$tmp/rtn_$model/model.qdq.onnx" --iterations "$iters" --threads "$threads" \
        --calib-count 1024 --batch 32 --lr 1e-3 --reg-weight 0.01 --seed 0 > "$tmp/torch.json"
    read -r trtn tada tsec < <("$py" - "$tmp/torch.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("%.2f %.2f %.1f" % (100 * r["top1_rtn"], 100 * r["top1"], r["seconds_recon"]))
PY
)
    ratio=$(awk -v t="$tsec" -v p="$ptq_s" 'BEGIN { if (p + 0 > 0) printf "%.2f", t / p; else print "n/a" }')
    echo "| $model ($fl) | $iters | $rtn / $trtn | $ada | $tada | $ptq_s | $tsec | $ratio |"
done
