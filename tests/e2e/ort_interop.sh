#!/usr/bin/env bash
# ort_interop.sh — the exported QDQ model in onnxruntime (npm onnxruntime-node): it must
# load, run, and reach the accuracy ptq's simulation reported, within 0.2 points, at W8A8
# and W4A8 on the 10k Fashion-MNIST test images.  Skipped, with the reason, where node or
# onnxruntime-node is not available (scripts/test.sh installs it when npm can).
. "$(dirname "$0")/lib.sh"
ORT=$SRC/bench/node_modules/onnxruntime-node
if ! command -v node >/dev/null 2>&1; then
    echo "skipped: node is not installed"; echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
if [ ! -d "$ORT" ]; then
    echo "skipped: $ORT is missing (cd bench && npm install --ignore-scripts)"; echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
limit=${PTQ_E2E_LIMIT:-0}
# 0.2 points on the 10k test set, as the issue asks; on a 1000-image subset (sanitizer
# suite) a handful of near-tie images decide more, so allow 0.6 points there.
tol=$([ "$limit" -gt 0 ] && echo 0.006 || echo 0.002)
for cfg in "8 8 minmax" "4 8 mse"; do
    set -- $cfg
    name=w$1a$2
    pipeline_yaml "$SRC/models/resnet20_fmnist.onnx" "$TMP/$name.yaml" "$1" "$2" "$3" "$limit" 512
    if ! out=$("$PTQ" run "$TMP/$name.yaml" --out "$TMP/$name" 2>&1); then
        bad "$name: ptq run failed: $out"
        continue
    fi
    q=$(json_get "$TMP/$name/report.json" quantized top1)
    limit_args=()
    [ "$limit" -gt 0 ] && limit_args=(--limit "$limit")
    o=$(node "$SRC/bench/ort_eval.mjs" "$TMP/$name/model.qdq.onnx" "$DATA/t10k-images-idx3-ubyte.gz" \
        "$DATA/t10k-labels-idx1-ubyte.gz" "${limit_args[@]}" 2>&1)
    t=$(echo "$o" | sed -nE 's/.*"top1":([0-9.]+).*/\1/p')
    if [ -n "$t" ] && awk -v a="$t" -v b="$q" -v t="$tol" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t + 1e-9) }'; then
        ok "$name: onnxruntime top1 $t, ptq simulation $q"
    else
        bad "$name: onnxruntime top1 '$t' vs ptq simulation $q: $o"
    fi
done
finish
