#!/usr/bin/env bash
# bench/nwq_speed.sh — seconds per iteration of ptq's network-wise reconstruction
# (nwq.reconstruct) against the PyTorch reference bench/nwq_torch.py, which does the same
# work per iteration with torch.autograd: ASoftmax soft rounding of every Conv/Gemm
# weight, the quantized forward with LSQ activation quantizers and AMixup, the loss at
# ptq's checkpoints against cached float targets, backward, Adam on the rounding logits
# and on the activation scales.  Speed only: neither side's accuracy is compared.
#
# Setup, the same on both sides: W2A4 (weights per channel, asymmetric, 2-bit, MSE
# observer; activations per tensor, asymmetric, 4-bit, MSE observer), first and last
# layer (weights and activations) 8-bit, paper placement, target none, calibration on the
# FIRST 1024 Fashion-MNIST training images, batch 32.  Per model:
#   1. ptq with `passes: []` exports the round-to-nearest QDQ model: the torch side reads
#      the grids and which tensors are quantized from it;
#   2. ptq runs nwq.reconstruct for N iterations; the report's seconds_per_iteration is
#      the optimisation loop's time over N (the one-time caching of the float targets and
#      planning excluded), peak_mb the engine's own account of its memory (caches + tape);
#      the process's maximum RSS is measured beside it;
#   3. the torch script on the export, with the checkpoints named in the N run's report:
#      float targets cached first (untimed), 5 warm-up iterations, then N iterations
#      timed one by one, the median reported; its peak is the process's maximum RSS
#      (torch's own libraries, about 230 MB, included).
# Both sides get THREADS threads (PTQ_THREADS, torch.set_num_threads).  Timings on a
# loaded machine are noisy: run it when nothing else is.
#
# usage: bench/nwq_speed.sh BUILD_DIR [ITERATIONS]      (N, default 50)
# env:   THREADS (2)  MODELS ("resnet20_fmnist mobilenetv2_fmnist vgg7_fmnist")
#        PYTHON (/usr/bin/python3: Debian's, with python3-torch, python3-onnx, python3-numpy)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [ITERATIONS]" >&2; exit 2; }
ptq=$(cd "$1" && pwd)/ptq
iters=${2:-50}
threads=${THREADS:-2}
models=${MODELS:-resnet20_fmnist mobilenetv2_fmnist vgg7_fmnist}
py=${PYTHON:-/usr/bin/python3}
export PTQ_THREADS=$threads
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

yaml() { # MODEL OUT_DIR ONNX(true|false) [PASS]
    {
        echo "model: $root/models/$1.onnx"
        printf 'calibration: {images: %s/train-images-idx3-ubyte.gz, count: 1024, sample: false}\n' "$data"
        echo "quantization:"
        echo "  weights: {bits: 2, granularity: channel, symmetric: false, observer: mse}"
        echo "  activations: {bits: 4, granularity: tensor, symmetric: false, observer: mse}"
        echo "  placement: paper"
        echo "  target: none   # the same grids as the PyTorch side"
        echo "  overrides:"
        echo "    - {nodes: [first, last], weights: {bits: 8}, activations: {bits: 8}}"
        if [ $# -ge 4 ]; then printf 'passes:\n  - %s\n' "$4"; else echo "passes: []"; fi
        echo "output: {dir: $2, onnx: $3}"
        echo "seed: 0"
    } > "$tmp/p.yaml"
}

run_ptq() { # what: runs the pipeline in $tmp/p.yaml (max RSS into $tmp/rss), showing the log's tail on failure
    "$py" - "$ptq" "$tmp/p.yaml" "$tmp/log" "$tmp/rss" <<'PY' && return 0
import resource, subprocess, sys
with open(sys.argv[3], "w") as log:
    rc = subprocess.call([sys.argv[1], "run", sys.argv[2], "--force"], stdout=log, stderr=log)
open(sys.argv[4], "w").write("%.1f" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0))
sys.exit(rc)
PY
    echo "ptq failed ($1):" >&2
    tail -n 5 "$tmp/log" >&2
    return 1
}

unit_row() { # REPORT.JSON -> "seconds_per_iteration peak_mb" of nwq.reconstruct's units[0]
    "$py" - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
row = [p for p in r["passes"] if p["name"] == "nwq.reconstruct"][0]["tables"]["units"][0]
print("%.4f %.1f" % (row["seconds_per_iteration"], row["peak_mb"]))
PY
}

measure() { # MODEL: sets ptq_s, peak, ptq_rss, torch_s and rss; returns 1 after a failure
    yaml "$1" "$tmp/rtn_$1" true
    run_ptq "$1, round-to-nearest export" || return 1
    yaml "$1" "$tmp/nwq_$1" false "nwq.reconstruct: {iterations: $iters}"
    run_ptq "$1, $iters iterations" || return 1
    ptq_rss=$(cat "$tmp/rss")
    read -r ptq_s peak < <(unit_row "$tmp/nwq_$1/report.json")
    if ! "$py" "$here/nwq_torch.py" --model "$root/models/$1.onnx" \
        --init "$tmp/rtn_$1/model.qdq.onnx" --checkpoints "$tmp/nwq_$1/report.json" \
        --iterations "$iters" --warmup 5 --batch 32 --threads "$threads" \
        > "$tmp/torch.json" 2> "$tmp/torch.err"; then
        echo "nwq_torch.py failed on $1:" >&2
        tail -n 5 "$tmp/torch.err" >&2
        return 1
    fi
    read -r torch_s rss < <("$py" - "$tmp/torch.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("%.4f %.1f" % (r["seconds_per_iteration"], r["peak_rss_mb"]))
PY
)
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
avx512=no; grep -qw avx512f /proc/cpuinfo && avx512=yes
echo "CPU: $cpu (avx512f: $avx512), $threads threads; W2A4, first/last layer 8-bit, batch 32, 1024 calibration images"
echo "ptq: the loop's seconds over N = $iters iterations; torch: median of $iters timed iterations after 5 warm-up"
echo
echo "| model | ptq s/iter | torch s/iter | ratio torch/ptq | ptq engine MB | ptq peak RSS MB | torch peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for model in $models; do
    ptq_s=n/a torch_s=n/a peak=n/a rss=n/a ptq_rss=n/a
    measure "$model" || true
    ratio=$(awk -v t="$torch_s" -v p="$ptq_s" 'BEGIN { if (t + 0 > 0 && p + 0 > 0) printf "%.2f", t / p; else print "n/a" }')
    echo "| $model | $ptq_s | $torch_s | $ratio | $peak | $ptq_rss | $rss |"
done
