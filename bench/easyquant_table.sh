#!/usr/bin/env bash
# bench/easyquant_table.sh — EasyQuant (Wu et al. 2020) against the scale choices it
# replaces, on every bundled model: top-1 on all 10,000 Fashion-MNIST test images at
# W8A8, W7A7, W6A6 and W4A4, every layer at that width, symmetric grids as EasyQuant uses
# (weights per channel, activations per tensor), 1024 calibration images from the
# training split (seed 0).  Columns: min/max ranges, KL (TensorRT entropy) activation
# ranges with max weights, and EasyQuant's cosine search (its defaults: 50 images,
# linspace(0.5 S0, 2 S0, 100), up to 3 alternation rounds) started from the KL ranges
# (the paper's initialisation) and from the min/max ones, with the pass's run time.
#
# usage: bench/easyquant_table.sh [BUILD_DIR] [MODEL ...]   (default: every bundled model)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
shift || true
models=${*:-$(cd "$root/models" && ls *.onnx | sed 's/\.onnx$//')}
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

yaml() { # MODEL BITS ACT_OBSERVER [PASS]
    {
        echo "model: $root/models/$1.onnx"
        printf 'calibration: {images: %s/train-images-idx3-ubyte.gz, count: 1024}\n' "$data"
        printf 'evaluation: {images: %s/t10k-images-idx3-ubyte.gz, labels: %s/t10k-labels-idx1-ubyte.gz}\n' \
            "$data" "$data"
        echo "quantization:"
        echo "  weights: {bits: $2, granularity: channel, symmetric: true, observer: minmax}"
        echo "  activations: {bits: $2, granularity: tensor, symmetric: true, observer: $3}"
        if [ $# -ge 4 ]; then printf 'passes:\n  - %s\n' "$4"; else echo "passes: []"; fi
        echo "seed: 0"
    } > "$tmp/p.yaml"
}

run() { # prints "quantized_top1 float_top1 pass_seconds"
    "$build/ptq" run "$tmp/p.yaml" --out "$tmp/out" --force > "$tmp/log" 2>&1 ||
        { cat "$tmp/log" >&2; echo "n/a n/a n/a"; return; }
    python3 - "$tmp/out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
secs = [p["seconds"] for p in r["passes"] if p["name"].startswith("easyquant.")]
print("%.2f %.2f %s" % (100 * r["quantized"]["top1"], 100 * r["float"]["top1"],
                        "%.1f" % secs[0] if secs else "-"))
PY
}

echo "| model (float top-1 %) | bits | min/max | KL | EasyQuant from KL | EasyQuant from min/max | pass s |"
echo "|---|---|---|---|---|---|---|"
for model in $models; do
    for bits in 8 7 6 4; do
        yaml "$model" "$bits" minmax; read -r mm fl _ < <(run)
        yaml "$model" "$bits" kl; read -r kl _ _ < <(run)
        yaml "$model" "$bits" kl "easyquant.search_scales: {}"; read -r eqk _ _ < <(run)
        yaml "$model" "$bits" minmax "easyquant.search_scales: {}"; read -r eqm _ secs < <(run)
        echo "| $model ($fl) | W${bits}A${bits} | $mm | $kl | $eqk | $eqm | $secs |"
    done
done
