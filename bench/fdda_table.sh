#!/usr/bin/env bash
# bench/fdda_table.sh — FDDA in the data-scarce setting (docs/BENCHMARKS.md "FDDA").
#
# For each model and number of real labelled images per class (SHOTS), the calibration
# sets of the table's rows:
#   real      the SHOTS x classes real images alone
#   gbns      real + synthetic images from the global BNS loss alone (ZeroQ-style: no
#             label, no class centres; fdda.synthesize with ce/c_bns/d_bns weights 0)
#   fdda_px   real + FDDA synthetic images, pixels optimised directly
#   fdda_gen  real + FDDA synthetic images from the trained class-conditional generator
#   real1024  1024 real images (the upper bound)
# each then quantized by BRECQ and QDrop (bench/baselines_table.sh's cells, the papers'
# placement, the same number of reconstruction steps in every row) at each width, and the
# top-1 on the 10,000 test images printed with the synthesis' seconds and images/second.
# The synthetic sets are made once per model and SHOTS (an fdda.synthesize run whose
# fdda/calibration.npy, real + synthetic, is every method's calibration source).
# Then DFQ (MobileNetV2 and ResNet-20, per-tensor): no data at all (bn ranges, analytic
# bias correction) against the empirical bias correction and observed ranges on
# 1 real image per class, on that + FDDA images, and on 1024 real images.
#
# usage: bench/fdda_table.sh [BUILD_DIR] [ITERATIONS] > table.tsv
#   MODELS, SHOTS, BITS, METHODS, ROWS choose the grid (defaults: the whole table);
#   IPC synthetic images per class (64), PX_ITERS / GEN_ITERS synthesis steps (2000 / 1000);
#   DFQ=0 skips the DFQ rows, DFQ_ONLY=1 runs only them.
set -euo pipefail
# Idle OpenMP threads sleep: with anything else on the machine, spinning ones made runs
# several times slower (and the seconds below meaningless).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
iters=${2:-500}
models=${MODELS:-"resnet20_fmnist mobilenetv2_fmnist"}
shots_list=${SHOTS:-"1 10"}
bits_list=${BITS:-"W4A4 W2A4"}
methods=${METHODS:-"brecq qdrop"}
rows=${ROWS:-"real gbns fdda_px fdda_gen real1024"}
ipc=${IPC:-64}
px_iters=${PX_ITERS:-2000}
gen_iters=${GEN_ITERS:-1000}
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "# $cpu, $(nproc) cores, PTQ_THREADS=${PTQ_THREADS:-2}; $iters steps per unit" >&2

real_calib() { # SHOTS
    echo "{images: $data/train-images-idx3-ubyte.gz, labels: $data/train-labels-idx1-ubyte.gz, per_class: $1}"
}

# Synthesis alone: the fdda pass on an 8-bit model (its quantization is irrelevant here).
synthesize() { # MODEL SHOTS VARIANT OUTDIR
    local opts
    case $3 in
        gbns)     opts="generator: pixels, iterations: $px_iters, ce_weight: 0, c_bns_weight: 0, d_bns_weight: 0" ;;
        fdda_px)  opts="generator: pixels, iterations: $px_iters" ;;
        fdda_gen) opts="generator: network, iterations: $gen_iters" ;;
    esac
    cat > "$tmp/syn.yaml" <<EOF
model: $root/models/$1.onnx
calibration: $(real_calib "$2")
quantization: {weights: {bits: 8}, activations: {bits: 8}}
passes:
  - fdda.synthesize: {images_per_class: $ipc, $opts}
seed: 0
EOF
    PTQ_THREADS=${PTQ_THREADS:-2} "$build/ptq" run "$tmp/syn.yaml" --out "$4" --force > "$tmp/syn.log" 2>&1 ||
        { echo "synthesis failed: $(tail -1 "$tmp/syn.log")" >&2; return 1; }
    /usr/bin/python3 - "$4/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = [p for p in r["passes"] if p["name"] == "fdda.synthesize"][0]["tables"]
row, cls, last = t["synthesis"][0], t["classes"], t["losses"][1]
# The float model's top-1 on the synthetic images, their final global BNS loss and the
# real images' (the same weighting): how class-like and how BN-like the set came out.
top1 = sum(c["synthetic_top1"] * c["synthetic_images"] for c in cls) / sum(c["synthetic_images"] for c in cls)
print("%.0f\t%.1f\t%.1f\t%.4f\t%.4f" % (row["seconds"], row["images_per_second"], top1, last["bns"], row["real_bns"]))
PY
}

npy_calib() { # DIR
    echo "{images: $1/fdda/calibration.npy, labels: $1/fdda/calibration_labels.npy, count: 0, sample: false}"
}

if [ "${DFQ_ONLY:-0}" != 1 ]; then
printf 'model\tshots\tbits\tmethod\tdata\tcalib_images\ttop1\tfloat\trecon_s\tsynth_s\tsynth_img_per_s\tsyn_teacher_top1\tsyn_bns\treal_bns\n'
for model in $models; do
    for shots in $shots_list; do
        declare -A syn=()
        for row in $rows; do
            case $row in
                real) calib=$(real_calib "$shots"); n=$((shots * 10)); syn[$row]="-	-	-	-	-" ;;
                real1024) calib="{images: $data/train-images-idx3-ubyte.gz, count: 1024}"; n=1024; syn[$row]="-	-	-	-	-" ;;
                *) out="$tmp/syn-$model-$shots-$row"
                   syn[$row]=$(synthesize "$model" "$shots" "$row" "$out") || continue
                   calib=$(npy_calib "$out"); n=$((shots * 10 + ipc * 10)) ;;
            esac
            for bits in $bits_list; do
                for method in $methods; do
                    line=$(CALIB="$calib" CELLS="$model:$bits:paper:$method" \
                           bash "$here/baselines_table.sh" "$build" "$iters" | tail -1)
                    IFS=$'\t' read -r _ _ _ _ _ top1 float secs _ <<<"$line"
                    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$shots" "$bits" \
                        "$method" "$row" "$n" "$top1" "$float" "$secs" "${syn[$row]}"
                done
            done
        done
    done
done
fi

[ "${DFQ:-1}" = 0 ] && exit 0
# DFQ, the data-free method, with and without data for its bias correction and ranges.
printf '\nmodel\tbits\tdfq_data\ttop1\tfloat\n'
for model in mobilenetv2_fmnist resnet20_fmnist; do
    syn_out="$tmp/syn-$model-1-fdda_px"
    [ -f "$syn_out/fdda/calibration.npy" ] || synthesize "$model" 1 fdda_px "$syn_out" > /dev/null
    for bits in 8 6; do
        for kind in none real1 fdda real1024; do
            case $kind in
                none) calib=""; passes="  - dfq.bn_ranges: {}
  - dfq.correct_bias: {mode: analytic}" ;;
                real1) calib="calibration: $(real_calib 1)" ;;
                fdda) calib="calibration: $(npy_calib "$syn_out")" ;;
                real1024) calib="calibration: {images: $data/train-images-idx3-ubyte.gz, count: 1024}" ;;
            esac
            [ "$kind" = none ] || passes="  - dfq.correct_bias: {mode: empirical}"
            cat > "$tmp/dfq.yaml" <<EOF
model: $root/models/$model.onnx
$calib
evaluation: {images: $data/t10k-images-idx3-ubyte.gz, labels: $data/t10k-labels-idx1-ubyte.gz}
quantization:
  weights:     {bits: $bits, granularity: tensor, symmetric: false, observer: minmax}
  activations: {bits: $bits, granularity: tensor, symmetric: false, observer: minmax}
passes:
  - dfq.replace_relu6: {mode: relu}
  - dfq.equalize: {}
  - dfq.absorb_bias: {}
$passes
seed: 0
EOF
            if PTQ_THREADS=${PTQ_THREADS:-2} "$build/ptq" run "$tmp/dfq.yaml" --out "$tmp/dfq" --force > "$tmp/dfq.log" 2>&1; then
                /usr/bin/python3 - "$tmp/dfq/report.json" "$model" "W${bits}A${bits}" "$kind" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("\t".join(sys.argv[2:5] + ["%.2f" % (100 * r["quantized"]["top1"]), "%.2f" % (100 * r["float"]["top1"])]))
PY
            else
                printf '%s\tW%sA%s\t%s\tfailed: %s\n' "$model" "$bits" "$bits" "$kind" "$(tail -1 "$tmp/dfq.log")"
            fi
        done
    done
done
