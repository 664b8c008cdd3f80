#!/usr/bin/env bash
# bench/modcap_table.sh — the ModCap table of docs/BENCHMARKS.md: BRECQ, QDrop and NWQ
# each alone and after modcap.group (data-free capacity, k auto), on MobileNetV2,
# ResNet-20 and VGG-7 at W2A4, W3A3, W4A4 and W2A2; the same calibration set (the first
# 1024 training images), the same steps per unit (ITERATIONS, 1000) and batch (32) on
# both sides of every pair, so the gain is the grouping's alone (MRECG's own runs use
# 4096 images and 256-image batches against its baselines' 1024 and 32; not here).
# PART=seeds adds seeds 1 and 2 of QDrop and ModCap+QDrop where the loss oscillates most
# (MobileNetV2 W2A4 and W3A3), and of BRECQ and ModCap+BRECQ at MobileNetV2 W3A3, PART=dd the data-dependent capacity there, PART=any every
# adjacent pair compared whatever its kinds (same_kind: false), PART=base the baselines
# themselves (the NWQ table's cells, rerun on this binary).
#
# usage: bench/modcap_table.sh [BUILD_DIR] [ITERATIONS] > modcap.tsv
#   CELLS=... as in bench/baselines_table.sh; PART=main|seeds|dd|any|base (default: all).
#   The last column lists the merged modules (numbers of the report's modules table).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
part=${PART:-all}
models="mobilenetv2_fmnist resnet20_fmnist vgg7_fmnist"
cells=""
add() { cells="$cells $1"; }
if [ "$part" = all ] || [ "$part" = main ]; then
    for m in $models; do
        for b in W2A4 W3A3 W4A4 W2A2; do
            for x in mc_brecq mc_qdrop mc_nwq; do add "$m:$b:paper:$x"; done
        done
    done
fi
if [ "$part" = all ] || [ "$part" = seeds ]; then
    for b in W2A4 W3A3; do
        for x in qdrop mc_qdrop; do
            add "mobilenetv2_fmnist:$b:paper:$x:1"; add "mobilenetv2_fmnist:$b:paper:$x:2"
        done
    done
    # BRECQ where ModCap's loss was largest (MobileNetV2 W3A3).
    for x in brecq mc_brecq; do
        add "mobilenetv2_fmnist:W3A3:paper:$x:1"; add "mobilenetv2_fmnist:W3A3:paper:$x:2"
    done
fi
if [ "$part" = all ] || [ "$part" = dd ]; then
    for b in W2A4 W3A3; do add "mobilenetv2_fmnist:$b:paper:mc_dd_qdrop"; done
    add "resnet20_fmnist:W2A4:paper:mc_dd_qdrop"
fi
if [ "$part" = all ] || [ "$part" = any ]; then
    for b in W2A4 W3A3 W2A2; do add "mobilenetv2_fmnist:$b:paper:mc_any_qdrop"; done
fi
if [ "$part" = all ] || [ "$part" = base ]; then
    for m in $models; do
        for b in W2A4 W3A3 W4A4 W2A2; do
            for x in brecq qdrop nwq; do add "$m:$b:paper:$x"; done
        done
    done
fi
CELLS=${CELLS:-$cells} exec "$here/baselines_table.sh" "$@"
