#!/bin/bash
# reproducible.sh — the same pipeline with the same seed and thread count gives the same
# bytes: model.qdq.onnx, its sidecar and pipeline.yaml identical (cmp), report.json
# identical once its timings ("seconds") are removed.  The pipeline draws random numbers
# everywhere it can: a sampled calibration set, QDrop's random dropping and AdaRound's
# random batches (block reconstruction).  Then the thread count changes (1 vs 2): what
# docs/RELIABILITY.md says changes is checked too (the thread count and peak memory only).
source "$(dirname "$0")/lib.sh"

# The float-evaluation cache would make the second run report "float_evaluation_cached":
# true; off, both runs compute everything.
export PTQ_CACHE_DIR=off
if [ "${PTQ_E2E_LIMIT:-0}" -gt 0 ]; then calib=32 evalc=32 iters=2; else calib=64 evalc=100 iters=8; fi
cat > "$TMP/p.yaml" <<YAML
model: $SRC/models/resnet20_fmnist.onnx
calibration: # the test set's 10,000 images: a sample drawn faster than from the 60,000
  images: $DATA/t10k-images-idx3-ubyte.gz
  count: $calib
  sample: true
evaluation:
  images: $DATA/t10k-images-idx3-ubyte.gz
  labels: $DATA/t10k-labels-idx1-ubyte.gz
  count: $evalc
quantization:
  weights:     {bits: 4, granularity: channel, symmetric: false, observer: mse}
  activations: {bits: 4, granularity: tensor, symmetric: false, observer: mse}
  target: none
passes:
  - adaround.reconstruct: {granularity: block, iterations: $iters, drop_prob: 0.5, batch: 16}
seed: 7
YAML

# run NAME THREADS: the pipeline with THREADS workers, into $TMP/NAME.  Every run writes to
# the same --out (pipeline.yaml records it), moved aside afterwards.
run() {
    if PTQ_THREADS=$2 "$PTQ" run "$TMP/p.yaml" --out "$TMP/out" --threads "$2" >"$TMP/$1.log" 2>&1 &&
       mv "$TMP/out" "$TMP/$1"; then
        ok "run $1 ($2 threads)"
    else
        bad "run $1 ($2 threads): $(tail -n 3 "$TMP/$1.log")"
    fi
}

# strip FILE [KEYS]: report.json or pipeline.yaml (one key per line, as ptq writes them)
# without the lines of the timing key "seconds" and of KEYS (an extended regex of names).
strip() {
    grep -vE "^ *\"?(seconds${2:+|$2})\"?: " "$1"
}

# same A B WHAT [KEYS]: the outputs of runs A and B are identical: model.qdq.onnx and its
# sidecar byte for byte, report.json and pipeline.yaml but for the timings and KEYS.
same() {
    local a=$TMP/$1 b=$TMP/$2 f diffs=""
    for f in model.qdq.onnx model.qdq.json; do
        cmp -s "$a/$f" "$b/$f" || diffs="$diffs $f"
    done
    for f in report.json pipeline.yaml; do
        strip "$a/$f" "${4:-}" > "$TMP/a.txt"
        strip "$b/$f" "${4:-}" > "$TMP/b.txt"
        cmp -s "$TMP/a.txt" "$TMP/b.txt" ||
            diffs="$diffs $f: $(diff "$TMP/a.txt" "$TMP/b.txt" | head -n 4 | tr '\n' ' ')"
    done
    if [ -z "$diffs" ] && [ -s "$a/model.qdq.onnx" ]; then
        ok "$3: model.qdq.onnx ($(stat -c %s "$a/model.qdq.onnx") bytes) and model.qdq.json identical, report.json and pipeline.yaml identical but for${4:+ $4 and} the timings"
    else
        bad "$3: differ:$diffs"
    fi
}

run a 2
run b 2
same a b "same seed, 2 threads twice"
run c 1
# What the thread count changes: the thread count itself, and each reconstruction unit's
# peak memory (the per-thread scratch); no number of the model (docs/RELIABILITY.md).
same a c "same seed, 1 thread vs 2" "threads|peak_mb"
# And the randomness is real: another seed gives another model (else the checks above
# would hold for a pipeline that draws nothing).  A check of the test, made in the
# release pass only: the sanitizers find nothing more in a fourth run.
if [ "${PTQ_E2E_LIMIT:-0}" -eq 0 ]; then
    sed -i 's/^seed: 7$/seed: 8/' "$TMP/p.yaml"
    run d 2
    if [ -s "$TMP/d/model.qdq.onnx" ] && ! cmp -s "$TMP/a/model.qdq.onnx" "$TMP/d/model.qdq.onnx"; then
        ok "seed 8 gives another model.qdq.onnx than seed 7"
    else
        bad "seed 8 gives the same model.qdq.onnx as seed 7: the pipeline draws no random numbers"
    fi
fi
grep -q '"threads": 2' "$TMP/a/report.json" && grep -q '"threads": 1' "$TMP/c/report.json" &&
    ok "report.json records the thread count (2 and 1)" || bad "report.json does not record the thread count"
finish
