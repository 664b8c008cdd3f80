#!/usr/bin/env bash
# bench/baselines_table.sh — the learned-rounding baselines with the reference codes'
# grids (METHODS.md 0.2) in both activation placements (quantization.placement):
#   nearest | AdaRound (layer) | BRECQ (block, float activations, re-observed ranges,
#   then activation steps) | QDrop (block, drop 0.5, joint activation steps)
# top-1 on the 10,000 Fashion-MNIST test images and the pass's seconds.  Per-channel
# asymmetric weights, per-tensor asymmetric activations, first/last layer and the
# activation feeding the last at 8 bits, 1024 calibration images (the first 1024 of the
# training split).  BRECQ's grid: p 2.4, 80 shrink factors, activations on 64 images;
# QDrop's: MQBench's search, p 2.4, activations on 256 images.
#
# usage: bench/baselines_table.sh [BUILD_DIR] [ITERATIONS] > table.tsv
#   CELLS="model:WaA:placement:method[:seed] ..." chooses the cells (default: the table of
#   docs/BENCHMARKS.md); every cell prints one tab-separated line as soon as it is done.
#   Methods: nearest:brecq, nearest:qdrop (the grid), adaround, brecq, qdrop, and NWQ's
#   nwq, nwq20k, nwq_target, ar_only, ar_asoftmax, ar_amixup, noar (bench/nwq_table.sh),
#   ModCap's mc_brecq, mc_qdrop, mc_nwq, mc_dd_qdrop, mc_any_qdrop, ... (bench/modcap_table.sh),
#   and AQuant's aquant (the QDrop cell with aquant.reconstruct in place of the QDrop pass),
#   aquant_sigmoid, aquant_ste, aquant_linear, aquant_shared (bench/aquant_table.sh).
#   CALIB="{images: ..., ...}" replaces the calibration section (a YAML flow mapping;
#   bench/fdda_table.sh feeds few-shot and synthetic sets through it).
#   ORT=1 also exports each cell and adds the export's top-1 in onnxruntime (node and
#   bench/node_modules/onnxruntime-node) beside the simulated one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
iters=${2:-1000}
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

default_cells() {
    local m b pl
    for m in resnet20_fmnist; do
        for b in W2A32 W3A32; do
            for x in nearest:brecq adaround brecq; do echo "$m:$b:paper:$x"; done
        done
        for b in W4A4 W2A4 W3A3; do
            for pl in deploy paper; do
                for x in nearest:brecq nearest:qdrop brecq qdrop; do echo "$m:$b:$pl:$x"; done
            done
        done
    done
}
cells=${CELLS:-$(default_cells)}

yaml() { # MODEL WBITS ABITS PLACEMENT GRID PASS SEED
    local grid
    if [ "$5" = qdrop ]; then grid="observer: mse, p: 2.4, search: mqbench"; aimg=256
    else grid="observer: mse, p: 2.4, search: shrink"; aimg=64; fi
    {
        echo "model: $root/models/$1.onnx"
        echo "calibration: ${CALIB:-{images: $data/train-images-idx3-ubyte.gz, count: 1024\}}"
        printf 'evaluation: {images: %s/t10k-images-idx3-ubyte.gz, labels: %s/t10k-labels-idx1-ubyte.gz}\n' \
            "$data" "$data"
        echo "quantization:"
        echo "  weights: {bits: $2, granularity: channel, symmetric: false, $grid}"
        if [ "$3" = 32 ]; then echo "  activations: {bits: 32}"
        else echo "  activations: {bits: $3, granularity: tensor, symmetric: false, $grid, images: $aimg}"; fi
        echo "  placement: $4"
        echo "  target: none"
        echo "  overrides:"
        echo "    - {nodes: [first, last], weights: {bits: 8}, activations: {bits: 8}}"
        if [ -n "$6" ]; then printf 'passes:\n  - %s\n' "$6"; else echo "passes: []"; fi
        echo "output: {onnx: $([ "${ORT:-0}" = 1 ] && echo true || echo false)}"
        echo "seed: $7"
    } > "$tmp/p.yaml"
}

printf 'model\tbits\tplacement\tmethod\tseed\ttop1\tfloat\tseconds\tmerged\tort_top1\n'
for cell in $cells; do
    IFS=: read -r model bits pl method extra <<<"$cell"
    wb=${bits#W}; wb=${wb%%A*}; ab=${bits#*A}
    seed=0 grid=brecq
    case $method in nearest) grid=$extra ;; *) seed=${extra:-0} ;; esac
    reg=0.01; [ "${model#mobilenet}" != "$model" ] && reg=0.1
    act=""; [ "$ab" != 32 ] && act=", act_iterations: $iters, act_lr: 4.0e-5"
    case $method in
        nearest) pass="" ;;
        adaround) pass="adaround.reconstruct: {granularity: layer, iterations: $iters, reg_weight: $reg, skip_first: true}" ;;
        brecq) pass="adaround.reconstruct: {granularity: block, iterations: $iters, reg_weight: $reg, skip_first: true, activations: float, act_recalibrate: true$act}" ;;
        qdrop) grid=qdrop
               pass="adaround.reconstruct: {granularity: block, iterations: $iters, reg_weight: $reg, drop_prob: 0.5, act_lr: 4.0e-5, act_grad_scale: true}" ;;
        # NWQ on QDrop's grid, as the nwq examples are the qdrop ones with the pass swapped;
        # nwq20k is the plugin's default budget, the rest the ablation (plugins/nwq/README.md).
        nwq)          grid=qdrop; pass="nwq.reconstruct: {iterations: $iters}" ;;
        nwq20k)       grid=qdrop; pass="nwq.reconstruct: {iterations: 20000}" ;;
        nwq_target)   grid=qdrop; pass="nwq.reconstruct: {iterations: $iters, mix_target: true}" ;;
        ar_only)      grid=qdrop; pass="nwq.reconstruct: {iterations: $iters, rounding: adaround, reg_weight: $reg, mixing: none}" ;;
        ar_asoftmax)  grid=qdrop; pass="nwq.reconstruct: {iterations: $iters, mixing: none}" ;;
        ar_amixup)    grid=qdrop; pass="nwq.reconstruct: {iterations: $iters, rounding: adaround, reg_weight: $reg}" ;;
        noar)         grid=qdrop; pass="nwq.reconstruct: {iterations: $iters, ar: false}" ;;
        # ModCap (bench/modcap_table.sh): the base method's own cell with modcap.group first
        # (data-free capacity, k auto; no before/after probe, so the seconds are the
        # grouping's and the base method's alone).  mc_dd_*: the data-dependent capacity;
        # mc_any_*: every adjacent pair compared, whatever its kinds (same_kind: false).
        mc_*) base=${method#mc_}; opts="capacity: data_free"
              case $base in
                  dd_*) base=${base#dd_}; opts="capacity: data_dependent" ;;
                  any_*) base=${base#any_}; opts="capacity: data_free, same_kind: false" ;;
              esac
              mc="modcap.group: {$opts, compare: false}"
              case $base in
                  brecq) pass="adaround.reconstruct: {granularity: block, iterations: $iters, reg_weight: $reg, skip_first: true, activations: float, act_recalibrate: true$act}" ;;
                  qdrop) grid=qdrop
                         pass="adaround.reconstruct: {granularity: block, iterations: $iters, reg_weight: $reg, drop_prob: 0.5, act_lr: 4.0e-5, act_grad_scale: true}" ;;
                  nwq) grid=qdrop; pass="nwq.reconstruct: {iterations: $iters}" ;;
                  *) echo "unknown method '$method'" >&2; exit 2 ;;
              esac
              pass="$mc"$'\n  - '"$pass" ;;
        # AQuant (bench/aquant_table.sh): QDrop's cell with the pass swapped, so the
        # difference is the activation rounding alone.
        aquant*) grid=qdrop
                 case $method in
                     aquant) opts="" ;;
                     aquant_sigmoid) opts=", relaxation: sigmoid" ;;
                     aquant_ste) opts=", relaxation: ste" ;;
                     aquant_linear) opts=", border: linear" ;;
                     aquant_shared) opts=", per_channel: false" ;;
                     *) echo "unknown method '$method'" >&2; exit 2 ;;
                 esac
                 pass="aquant.reconstruct: {iterations: $iters, reg_weight: $reg, drop_prob: 0.5, act_lr: 4.0e-5, act_grad_scale: true$opts}" ;;
        *) echo "unknown method '$method'" >&2; exit 2 ;;
    esac
    yaml "$model" "$wb" "$ab" "$pl" "$grid" "$pass" "$seed"
    label=$method; [ "$method" = nearest ] && label="nearest ($grid grid)"
    if PTQ_THREADS=${PTQ_THREADS:-2} "$build/ptq" run "$tmp/p.yaml" --out "$tmp/out" --force > "$tmp/log" 2>&1; then
        ort="-"
        if [ "${ORT:-0}" = 1 ]; then
            ort=$(node "$here/ort_eval.mjs" "$tmp/out/model.qdq.onnx" "$data/t10k-images-idx3-ubyte.gz" \
                  "$data/t10k-labels-idx1-ubyte.gz" 2>&1 | sed -nE 's/.*"top1":([0-9.]+).*/\1/p')
            ort=$(awk -v t="${ort:-0}" 'BEGIN { printf "%.2f", 100 * t }')
        fi
        /usr/bin/python3 - "$tmp/out/report.json" "$model" "$bits" "$pl" "$label" "$seed" "$ort" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
secs = [p["seconds"] for p in r["passes"] if p["name"].startswith(("adaround.", "nwq.", "modcap.", "aquant."))]
# ModCap's merged modules as ranges of the modules table's numbers ("4-5,7-8").
groups, run = [], None
for p in r["passes"]:
    for row in p.get("tables", {}).get("modules", []):
        if row["merged_with_next"] and run is None: run = row["index"]
        elif not row["merged_with_next"] and run is not None:
            groups.append("%d-%d" % (run, row["index"])); run = None
print("\t".join(sys.argv[2:7] + ["%.2f" % (100 * r["quantized"]["top1"]), "%.2f" % (100 * r["float"]["top1"]),
                                 "%.0f" % sum(secs) if secs else "-", ",".join(groups) or "-", sys.argv[7]]))
PY
    else
        printf '%s\t%s\t%s\t%s\t%s\tfailed: %s\n' "$model" "$bits" "$pl" "$label" "$seed" "$(tail -1 "$tmp/log")"
    fi
done
