#!/usr/bin/env bash
# math_models.sh — a real PyTorch export of an attention model through ptq: the row
# transformer of tests/data/make_rowvit.py (opset 13: the class token's expand pattern,
# LayerNorm as nine ops, GELU through Erf, a Where mask, mean pooling) must load (the
# LayerNorms fused, the shape arithmetic folded), evaluate in float as torch did, quantize
# W8A8 with little loss, and its QDQ export must give in onnxruntime the top-1 ptq's
# simulation reported (on 1000 test images: within 3 images).  The onnxruntime check is
# skipped, with the reason, where node or onnxruntime-node is missing.
. "$(dirname "$0")/lib.sh"
M=$SRC/tests/data/math_rowvit_fmnist.onnx
COUNT=${PTQ_E2E_LIMIT:-1000}
[ "$COUNT" -gt 1000 ] && COUNT=1000

out=$("$PTQ" inspect "$M" 2>&1)
if echo "$out" | grep -qE '^ +LayerNormalization +2$' && ! echo "$out" | grep -qE '^ +(ReduceMean +[2-9]|Shape|ConstantOfShape|Equal)'; then
    ok "inspect: both LayerNorms fused, the expand's shape arithmetic folded"
else
    bad "inspect: $out"
fi

# Float: ptq's top-1 is torch's (the sidecar records it on the first 1000 test images).
torch=$(sed -nE 's/.*"torch_top1_1000": ([0-9.]+).*/\1/p' "$SRC/tests/data/math_rowvit_fmnist.json")
f=$("$PTQ" eval "$M" --images "$DATA/t10k-images-idx3-ubyte.gz" --labels "$DATA/t10k-labels-idx1-ubyte.gz" \
    --limit 1000 --json 2>/dev/null | sed -nE 's/.*"top1": ?([0-9.]+).*/\1/p')
if [ -n "$f" ] && awk -v a="$f" -v b="$torch" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.0015) }'; then
    ok "float top-1 $f, torch $torch"
else
    bad "float top-1 '$f' vs torch $torch"
fi

# W8A8, then the export in onnxruntime.
pipeline_yaml "$M" "$TMP/w8a8.yaml" 8 8 minmax "$COUNT" 256
if out=$("$PTQ" run "$TMP/w8a8.yaml" --out "$TMP/w8a8" 2>&1); then
    q=$(json_get "$TMP/w8a8/report.json" quantized top1)
    fl=$(json_get "$TMP/w8a8/report.json" float top1)
    if awk -v a="$q" -v b="$fl" 'BEGIN { exit !(b - a <= 0.02) }'; then
        ok "w8a8: quantized top-1 $q, float $fl"
    else
        bad "w8a8: quantized top-1 $q, float $fl (lost more than 2 points)"
    fi
    ort_agrees "w8a8 row transformer" "$TMP/w8a8" 0.003 "$COUNT"
else
    bad "w8a8: ptq run failed: $out"
fi
finish
