#!/usr/bin/env bash
# bench/aquant_table.sh — the AQuant table of docs/BENCHMARKS.md: block reconstruction
# with round-to-nearest activations (BRECQ-style and QDrop-style, the baselines' cells)
# against AQuant's learned borders at the same budget (QDrop's cell with the pass
# swapped), on ResNet-20, MobileNetV2 and VGG-7 at W4A4, W3A3, W2A4 and W2A2 (paper
# placement, first/last 8-bit, 1024 calibration images), with the exported model's
# onnxruntime top-1 beside the simulated one; then the variants on ResNet-20 and
# MobileNetV2 at W2A2: the STE relaxation (against the default annealed sigmoid), the
# linear border and one border row shared by every channel.
# The cells run through bench/baselines_table.sh, which holds every method's settings.
#
# usage: bench/aquant_table.sh [BUILD_DIR] [ITERATIONS] > aquant.tsv
#   PART=main|base|variants (default all); CELLS=... as in baselines_table.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
part=${PART:-all}
cells=""
for m in resnet20_fmnist mobilenetv2_fmnist vgg7_fmnist; do
    for b in W4A4 W3A3 W2A4 W2A2; do
        if [ "$part" = all ] || [ "$part" = base ]; then
            for x in brecq qdrop; do cells="$cells $m:$b:paper:$x"; done
        fi
        if [ "$part" = all ] || [ "$part" = main ]; then cells="$cells $m:$b:paper:aquant"; fi
    done
done
if [ "$part" = all ] || [ "$part" = variants ]; then
    for m in resnet20_fmnist mobilenetv2_fmnist; do
        for x in aquant_ste aquant_linear aquant_shared; do cells="$cells $m:W2A2:paper:$x"; done
    done
fi
ORT=${ORT:-1} CELLS=${CELLS:-$cells} exec "$here/baselines_table.sh" "$@"
