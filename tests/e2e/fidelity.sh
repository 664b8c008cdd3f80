#!/bin/bash
# fidelity.sh — evaluation without labels: `ptq run` with an evaluation set that has no
# labels reports every output's fidelity to the float model (report.json "fidelity", one
# terminal line per output, a table in report.html); `ptq eval --reference` on the export
# gives the same numbers; a model with a class output and a per-pixel map goes through;
# labels plus `fidelity: true` give both; an A/B without labels is refused, named.
source "$(dirname "$0")/lib.sh"

export PTQ_THREADS=${PTQ_THREADS:-2}
RESNET=$SRC/models/resnet20_fmnist.onnx
TWO=$SRC/tests/data/two_outputs.onnx
# Under the sanitizers (PTQ_E2E_LIMIT set) 100 images: the same paths, a fifth of the work.
n_eval=$([ "${PTQ_E2E_LIMIT:-0}" -gt 0 ] && echo 100 || echo 500)
npy_images "$DATA/t10k-images-idx3-ubyte.gz" "$TMP/eval.npy" "$n_eval"

# above NAME VALUE BOUND: VALUE is a number > BOUND.
above() {
    if [ -n "$2" ] && awk -v a="$2" -v b="$3" 'BEGIN { exit !(a > b) }'; then ok "$1: $2 > $3"
    else bad "$1: '$2' is not > $3"; fi
}

# unlabelled YAML MODEL COUNT [EXTRA]: a W8A8 pipeline whose evaluation set is the .npy.
unlabelled() {
    cat > "$1" <<YAML
model: $2
calibration:
  images: $DATA/train-images-idx3-ubyte.gz
  count: 128
evaluation:
  images: $TMP/eval.npy
  count: $3
quantization:
  weights: {bits: 8, granularity: channel, symmetric: true, observer: minmax}
  activations: {bits: 8, granularity: tensor, symmetric: false, observer: minmax}
${4:-}
seed: 0
YAML
}

# ---- ResNet-20, W8A8, 500 unlabelled images (100 under the sanitizers) --------------------------------------------
unlabelled "$TMP/r.yaml" "$RESNET" "$n_eval"
if "$PTQ" run "$TMP/r.yaml" --out "$TMP/r" > "$TMP/r.log" 2> "$TMP/r.err"; then
    ok "resnet20 W8A8 without labels runs"
else
    bad "resnet20 W8A8 without labels failed: $(tail -n 3 "$TMP/r.err")"
fi
R=$TMP/r/report.json
[ "$(json_get "$R" fidelity images)" = "$n_eval" ] && ok "fidelity.images $n_eval" ||
    bad "fidelity.images: '$(json_get "$R" fidelity images)'"
[ "$(json_get "$R" quantized top1)" = null ] && ok "quantized.top1 null without labels" ||
    bad "quantized.top1 '$(json_get "$R" quantized top1)' without labels"
[ "$(fidelity_get "$R" 0 name)" = logits ] && [ "$(fidelity_get "$R" 0 shape)" = "[N,10]" ] &&
    [ "$(fidelity_get "$R" 0 class_scores)" = true ] && ok "output 0 is logits [N,10], class scores" ||
    bad "output 0: '$(fidelity_get "$R" 0 name)' '$(fidelity_get "$R" 0 shape)'"
SQ=$(fidelity_get "$R" 0 sqnr_db)
above "W8A8 logits SQNR (dB)" "$SQ" 25
above "W8A8 top-1 agreement" "$(fidelity_get "$R" 0 top1_agreement)" 0.95
above "W8A8 cosine" "$(fidelity_get "$R" 0 cosine)" 0.99
above "W8A8 per-image cosine" "$(fidelity_get "$R" 0 mean_sample_cosine)" 0.99
above "max|err| at least mean|err|" "$(fidelity_get "$R" 0 max_abs_err)" "$(fidelity_get "$R" 0 mean_abs_err)"
for k in identical nonfinite_float nonfinite_quantized; do
    [ -n "$(fidelity_get "$R" 0 $k)" ] && ok "fidelity key $k" || bad "fidelity key $k missing"
done
if grep -qE "^fidelity    output 'logits' \[N,10\]: SQNR [0-9.]+ dB, cosine 0\.[0-9]+ \(per image 0\.[0-9]+\), max\|err\| [0-9.e-]+, mean\|err\| [0-9.e-]+, top-1 agreement [0-9.]+ % \($n_eval evaluation images\)$" "$TMP/r.log"; then
    ok "terminal: $(grep "output 'logits'" "$TMP/r.log")"
else
    bad "terminal fidelity line missing: $(cat "$TMP/r.log")"
fi
grep -q "^top-1       (no labels" "$TMP/r.log" && ok "terminal says there are no labels" ||
    bad "terminal top-1 line: $(grep '^top-1' "$TMP/r.log")"
grep -q "Fidelity to the float model ($n_eval evaluation images)" "$TMP/r/report.html" &&
    ok "report.html has the fidelity table" || bad "report.html has no fidelity table"

# The exported QDQ model against the float model, in ptq eval: the run's numbers.
if "$PTQ" eval "$TMP/r/model.qdq.onnx" --reference "$RESNET" --images "$TMP/eval.npy" --json \
        > "$TMP/e.json" 2> "$TMP/e.err"; then
    E=$(sed -nE 's/.*"sqnr_db": ([-0-9.e]+).*/\1/p' "$TMP/e.json")
    if [ -n "$E" ] && awk -v a="$E" -v b="$SQ" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.5) }'; then
        ok "ptq eval --reference on the export: SQNR $E dB, the run's $SQ dB"
    else
        bad "ptq eval --reference SQNR '$E' vs the run's '$SQ': $(cat "$TMP/e.json")"
    fi
    grep -q '"top1": null' "$TMP/e.json" && ok "eval --json: top1 null without labels" ||
        bad "eval --json top1: $(cat "$TMP/e.json")"
else
    bad "ptq eval --reference failed: $(cat "$TMP/e.err")"
fi

# ---- two outputs: a per-pixel map (output 0) and class scores ---------------------------
unlabelled "$TMP/t.yaml" "$TWO" 200
if "$PTQ" run "$TMP/t.yaml" --out "$TMP/t" > "$TMP/t.log" 2> "$TMP/t.err"; then
    ok "two-output model without labels runs"
else
    bad "two-output model failed: $(tail -n 3 "$TMP/t.err")"
fi
T=$TMP/t/report.json
[ "$(fidelity_get "$T" 0 name)" = mask ] && [ "$(fidelity_get "$T" 0 shape)" = "[N,1,14,14]" ] &&
    [ "$(fidelity_get "$T" 0 class_scores)" = false ] && [ -z "$(fidelity_get "$T" 0 top1_agreement)" ] &&
    ok "mask [N,1,14,14]: no class scores, no top-1 agreement" ||
    bad "mask output: $(grep -A12 '"fidelity"' "$T")"
[ "$(fidelity_get "$T" 1 name)" = logits ] && above "two-output logits top-1 agreement" \
    "$(fidelity_get "$T" 1 top1_agreement)" 0.9
above "two-output mask SQNR (dB)" "$(fidelity_get "$T" 0 sqnr_db)" 15
[ "$(json_get "$T" model_output top1_agreement)" = null ] &&
    ok "model_output.top1_agreement null for a map output" ||
    bad "model_output.top1_agreement '$(json_get "$T" model_output top1_agreement)' for a map"
[ "$(grep -c "^fidelity    output '" "$TMP/t.log")" = 2 ] && ok "two terminal fidelity lines" ||
    bad "terminal: $(grep '^fidelity' "$TMP/t.log")"

# ---- labels and fidelity: true: both -----------------------------------------------------
cat > "$TMP/l.yaml" <<YAML
model: $RESNET
calibration: {images: $DATA/train-images-idx3-ubyte.gz, count: 64}
evaluation:
  images: $DATA/t10k-images-idx3-ubyte.gz
  labels: $DATA/t10k-labels-idx1-ubyte.gz
  count: 200
  fidelity: true
seed: 0
YAML
if "$PTQ" run "$TMP/l.yaml" --out "$TMP/l" > "$TMP/l.log" 2> "$TMP/l.err"; then
    L=$TMP/l/report.json
    [ "$(json_get "$L" quantized top1)" != null ] && [ "$(json_get "$L" fidelity images)" = 200 ] &&
        ok "labels + fidelity: top-1 $(json_get "$L" quantized top1) and fidelity on 200 images" ||
        bad "labels + fidelity: $(head -n 30 "$L")"
    grep -q "^  fidelity: true" "$TMP/l/pipeline.yaml" && ok "pipeline.yaml keeps fidelity: true" ||
        bad "pipeline.yaml: $(cat "$TMP/l/pipeline.yaml")"
else
    bad "labels + fidelity failed: $(tail -n 3 "$TMP/l.err")"
fi

# ---- refusals, named ---------------------------------------------------------------------
sed 's/bits: 8, granularity: channel/bits: 4, granularity: channel/' "$TMP/r.yaml" > "$TMP/r4.yaml"
expect_error "A/B without labels" "names no 'labels': an A/B compares top-1" -- \
    "$PTQ" ab "$TMP/r.yaml" "$TMP/r4.yaml" --dry-run --out "$TMP/ab"
expect_error "top-1 on a map output" "output 'mask' is \[N,1,14,14\], not batch x classes" -- \
    "$PTQ" eval "$TWO" --images "$DATA/t10k-images-idx3-ubyte.gz" --labels "$DATA/t10k-labels-idx1-ubyte.gz" --limit 10
expect_error "reference with other outputs" "2 outputs and the model 1|outputs" -- \
    "$PTQ" eval "$RESNET" --reference "$TWO" --images "$TMP/eval.npy" --limit 10
finish
