#!/bin/bash
# reproducible.sh — the same pipeline with the same seed and thread count gives the same
# bytes: model.qdq.onnx, its sidecar and pipeline.yaml identical (cmp), report.json
# identical once its timings ("seconds") are removed.  The pipeline draws random numbers
# everywhere it can: a sampled calibration set, QDrop's random dropping and AdaRound's
# random batches (block reconstruction).  Then the thread count changes (1 vs 2): what
# docs/RELIABILITY.md says changes is checked too (nothing but the "threads" field).
source "$(dirname "$0")/lib.sh"

# The float-evaluation cache would make the second run report "float_evaluation_cached":
# true; off, both runs compute everything.
export PTQ_CACHE_DIR=off
if [ "${PTQ_E2E_LIMIT:-0}" -gt 0 ]; then calib=32 evalc=64 iters=4; else calib=128 evalc=300 iters=20; fi
cat > "$TMP/p.yaml" <<YAML
model: $SRC/models/resnet20_fmnist.onnx
calibration:
  images: $DATA/train-images-idx3-ubyte.gz
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

# run NAME THREADS: the pipeline into $TMP/NAME with THREADS workers.
run() {
    if PTQ_THREADS=$2 "$PTQ" run "$TMP/p.yaml" --out "$TMP/$1" --threads "$2" >"$TMP/$1.log" 2>&1; then
        ok "run $1 ($2 threads)"
    else
        bad "run $1 ($2 threads): $(tail -n 3 "$TMP/$1.log")"
    fi
}

# strip REPORT [KEYS]: report.json without the lines of its timing keys (one key per line,
# as ptq writes it) and of KEYS (an extended regex of key names).
strip() {
    grep -vE "^ *\"(seconds${2:+|$2})\": " "$1"
}

# same A B WHAT [KEYS]: the outputs of runs A and B are identical (report.json minus
# timings and KEYS).
same() {
    local a=$TMP/$1 b=$TMP/$2 f diffs=""
    for f in model.qdq.onnx model.qdq.json pipeline.yaml; do
        cmp -s "$a/$f" "$b/$f" || diffs="$diffs $f"
    done
    strip "$a/report.json" "${4:-}" > "$TMP/a.json"
    strip "$b/report.json" "${4:-}" > "$TMP/b.json"
    cmp -s "$TMP/a.json" "$TMP/b.json" || diffs="$diffs report.json($(diff "$TMP/a.json" "$TMP/b.json" | grep -c '^<') lines)"
    if [ -z "$diffs" ] && [ -s "$a/model.qdq.onnx" ]; then
        ok "$3: model.qdq.onnx ($(stat -c %s "$a/model.qdq.onnx") bytes), model.qdq.json, pipeline.yaml and report.json identical"
    else
        bad "$3: differ:$diffs; first report.json differences: $(diff "$TMP/a.json" "$TMP/b.json" | head -n 6)"
    fi
}

run a 2
run b 2
same a b "same seed, 2 threads twice"
run c 1
same a c "same seed, 1 thread vs 2" threads
grep -q '"threads": 2' "$TMP/a/report.json" && grep -q '"threads": 1' "$TMP/c/report.json" &&
    ok "report.json records the thread count (2 and 1)" || bad "report.json does not record the thread count"
finish
