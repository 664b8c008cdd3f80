#!/usr/bin/env bash
# bench/nwq_table.sh — the NWQ table of docs/BENCHMARKS.md: nearest, BRECQ, QDrop and NWQ
# on ResNet-20, MobileNetV2 and VGG-7 at W4A4, W2A4, W3A3 and W2A2 (paper placement,
# first/last 8-bit, 1024 calibration images), the seeds where differences are small, and
# the ablation on MobileNetV2 (AR only, AR + ASoftmax, AR + AMixup, all three, the
# mixed-target variant, no AR).  The cells run through bench/baselines_table.sh, which
# holds the settings of every method; ITERATIONS is QDrop's steps per unit and NWQ's
# steps of the whole network (the same number of gradient evaluations per weight).
#
# usage: bench/nwq_table.sh [BUILD_DIR] [ITERATIONS] > nwq.tsv
#   CELLS=... as in baselines_table.sh to run a part; PART=main|ablation|seeds|default.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
part=${PART:-all}
cells=""
if [ "$part" = all ] || [ "$part" = main ]; then
    for m in resnet20_fmnist mobilenetv2_fmnist vgg7_fmnist; do
        for b in W4A4 W2A4 W3A3 W2A2; do
            for x in nearest:qdrop brecq qdrop nwq; do cells="$cells $m:$b:paper:$x"; done
        done
    done
fi
if [ "$part" = all ] || [ "$part" = ablation ]; then
    for b in W2A2 W2A4; do
        for x in ar_only ar_asoftmax ar_amixup nwq_target noar; do cells="$cells mobilenetv2_fmnist:$b:paper:$x"; done
    done
fi
if [ "$part" = all ] || [ "$part" = seeds ]; then
    for m in resnet20_fmnist mobilenetv2_fmnist; do
        for x in qdrop nwq; do cells="$cells $m:W2A4:paper:$x:1 $m:W2A4:paper:$x:2"; done
    done
fi
if [ "$part" = all ] || [ "$part" = default ]; then
    cells="$cells resnet20_fmnist:W2A4:paper:nwq20k"
fi
CELLS=${CELLS:-$cells} exec "$here/baselines_table.sh" "$@"
