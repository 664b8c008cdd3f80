#!/usr/bin/env bash
# eval_models.sh — every bundled model, evaluated by `ptq eval` on all 10,000
# Fashion-MNIST test images, must reach the PyTorch top-1 in its .json (fp32_top1)
# within 0.05 percentage points.
#
# PTQ_E2E_LIMIT=N (set by scripts/test.sh for the sanitizer build, where evaluation is
# ~30x slower) evaluates only the first N images: the same code paths, checked for memory
# errors, with a loose accuracy bar since PyTorch's figure is for the full set.
. "$(dirname "$0")/lib.sh"
limit=${PTQ_E2E_LIMIT:-0}

for model in "$SRC"/models/*.onnx; do
    name=$(basename "$model" .onnx)
    json=${model%.onnx}.json
    want=$(sed -nE 's/.*"fp32_top1": *([0-9.]+).*/\1/p' "$json")
    limit_args=()
    [ "$limit" -gt 0 ] && limit_args=(--limit "$limit")
    out=$("$PTQ" eval "$model" --images "$DATA/t10k-images-idx3-ubyte.gz" \
          --labels "$DATA/t10k-labels-idx1-ubyte.gz" --batch 256 --json "${limit_args[@]}" 2>&1)
    rc=$?
    got=$(echo "$out" | sed -nE 's/.*"top1": *([0-9.]+).*/\1/p')
    images=$(echo "$out" | sed -nE 's/.*"images": *([0-9]+).*/\1/p')
    if [ $rc -ne 0 ] || [ -z "$got" ]; then
        bad "$name: ptq eval failed (rc $rc): $out"
    elif [ "$limit" -gt 0 ]; then
        if [ "$images" = "$limit" ] && awk -v a="$got" -v b="$want" 'BEGIN { exit !(a > b - 0.03) }'; then
            ok "$name: top1 $got on the first $limit images (PyTorch, all 10000: $want)"
        else
            bad "$name: top1 $got on $images images, far from PyTorch's $want"
        fi
    elif [ "$images" != 10000 ]; then
        bad "$name: evaluated $images images, expected 10000"
    elif awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.0005) }'; then
        ok "$name: top1 $got, PyTorch $want"
    else
        bad "$name: top1 $got differs from PyTorch's $want by more than 0.05 points"
    fi
done

# Batch size and thread count must not change the answer.
m=$SRC/models/resnet20_fmnist.onnx
a=$("$PTQ" eval "$m" --images "$DATA/t10k-images-idx3-ubyte.gz" --labels "$DATA/t10k-labels-idx1-ubyte.gz" --limit 1000 --batch 7 --threads 1 --json | sed -nE 's/.*"correct": *([0-9]+).*/\1/p')
b=$("$PTQ" eval "$m" --images "$DATA/t10k-images-idx3-ubyte.gz" --labels "$DATA/t10k-labels-idx1-ubyte.gz" --limit 1000 --batch 256 --threads 2 --json | sed -nE 's/.*"correct": *([0-9]+).*/\1/p')
if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "batch 7 x 1 thread and batch 256 x 2 threads agree ($a/1000)"; else bad "batch/threads change the result: $a vs $b"; fi

# inspect shows the folded graph with the symbolic batch.
out=$("$PTQ" inspect "$m")
if echo "$out" | grep -q "parameters: 272186" && echo "$out" | grep -q "\[N,10\]" &&
   echo "$out" | grep -qE "^  Conv +21$"; then
    ok "inspect: 21 Conv, [N,10] output, 272186 parameters"
else
    bad "inspect output unexpected: $(echo "$out" | head -n 20)"
fi
finish
