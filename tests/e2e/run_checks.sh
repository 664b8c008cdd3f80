#!/usr/bin/env bash
# run_checks.sh — what `ptq run` checks and says before, during and after a run, as a new
# user meets it: the output location and every input file checked before any work (and by
# --dry-run), pass orders that would throw a result away refused, the input normalization
# carried by the export and read back by `ptq eval`, passes judged against the original
# float model, the float evaluation cached, and the small things (count above the data,
# directory modes, the --out recorded in pipeline.yaml, all validation errors at once).
. "$(dirname "$0")/lib.sh"
M=$SRC/models/resnet20_fmnist.onnx
# The weight-rewriting test plugin (built beside ptq with the other test plugins, some
# deliberately broken, so it is copied alone into a plugin directory of its own).
PLUG=$TMP/plugins
mkdir -p "$PLUG" && cp "$(dirname "$PTQ")/tests/plugins/rewrite.so" "$PLUG/"
export PTQ_CACHE_DIR=$TMP/cache

# base OUT [PASSES...]: a small pipeline (64 calibration, 500 evaluation images).
base() {
    local out=$1
    shift
    {
        echo "model: $M"
        echo "calibration: {images: $DATA/train-images-idx3-ubyte.gz, count: 64}"
        echo "evaluation: {images: $DATA/t10k-images-idx3-ubyte.gz, labels: $DATA/t10k-labels-idx1-ubyte.gz, count: 500}"
        echo "quantization: {weights: {bits: 4, granularity: channel}, activations: {bits: 8}}"
        if [ $# -gt 0 ]; then echo "passes:"; for p in "$@"; do echo "  - $p"; done; fi
    } > "$out"
}
base "$TMP/p.yaml"

# --- the output location is checked before any work
touch "$TMP/a_file"
out=$( { time -p "$PTQ" run "$TMP/p.yaml" --out "$TMP/a_file/sub/out"; } 2>&1)
rc=$?
secs=$(echo "$out" | sed -n 's/^real //p')
if echo "$out" | grep -q "a_file is not a directory" && ! echo "$out" | grep -q "evaluating"; then
    ok "--out under a file fails before any work (${secs}s): $(echo "$out" | head -n 1)"
else
    bad "--out under a file: $out"
fi
mkdir -p "$TMP/exists"
expect_error "existing output without --force" "exists: pass --force" -- "$PTQ" run "$TMP/p.yaml" --out "$TMP/exists"

# --- --dry-run opens and checks everything it can, runs no pass
expect_error "dry run: existing output" "exists: pass --force" -- "$PTQ" run "$TMP/p.yaml" --out "$TMP/exists" --dry-run
sed "s#^model: .*#model: $TMP/nope.onnx#" "$TMP/p.yaml" > "$TMP/nomodel.yaml"
expect_error "dry run: missing model" "nope.onnx: cannot open" -- "$PTQ" run "$TMP/nomodel.yaml" --dry-run --out "$TMP/o1"
echo "not a model" > "$TMP/text.onnx"
sed "s#^model: .*#model: $TMP/text.onnx#" "$TMP/p.yaml" > "$TMP/textmodel.yaml"
expect_error "dry run: not an ONNX file" "text.onnx: not a valid ONNX" -- "$PTQ" run "$TMP/textmodel.yaml" --dry-run --out "$TMP/o1"
head -c 100000 "$DATA/train-images-idx3-ubyte.gz" > "$TMP/cut.gz"
sed "s#train-images-idx3-ubyte.gz#../cut.gz#; s#images: $DATA/../cut.gz#images: $TMP/cut.gz#" "$TMP/p.yaml" > "$TMP/cut.yaml"
expect_error "dry run: truncated calibration data" "calibration data.*cut.gz.*truncated" -- "$PTQ" run "$TMP/cut.yaml" --dry-run --out "$TMP/o1"
sed "s#labels: $DATA/t10k-labels-idx1-ubyte.gz#labels: $DATA/train-labels-idx1-ubyte.gz#" "$TMP/p.yaml" > "$TMP/badlabels.yaml"
expect_error "dry run: labels that do not match the images" "labels" -- "$PTQ" run "$TMP/badlabels.yaml" --dry-run --out "$TMP/o1"
if d=$("$PTQ" run "$TMP/p.yaml" --dry-run --out "$TMP/o1" 2>&1) && echo "$d" | grep -q "checked      calibration: 64 images" &&
   echo "$d" | grep -q "checked      output" && [ ! -e "$TMP/o1" ]; then
    ok "dry run checks model, data and output, creates nothing"
else
    bad "dry run of a good pipeline: $d"
fi

# --- count above the images available is said
sed 's/count: 64/count: 100000/' "$TMP/p.yaml" > "$TMP/many.yaml"
d=$("$PTQ" run "$TMP/many.yaml" --dry-run --out "$TMP/o1" 2>&1)
echo "$d" | grep -q "warning: calibration count 100000 asks for more images than .* using its 60000" &&
    ok "count above the data is warned about" || bad "no warning for count 100000: $d"

# --- pass orders that make a result stale are refused before anything runs
order() { # NAME PATTERN PASS...
    local name=$1 pattern=$2
    shift 2
    base "$TMP/order.yaml" "$@"
    expect_error "order: $name" "$pattern" -- "$PTQ" run "$TMP/order.yaml" --dry-run --out "$TMP/o1" --plugins "$PLUG"
}
order "adaround then equalize" "order.yaml:[0-9]+:[0-9]+: 'dfq.equalize' makes stale what 'adaround.reconstruct'.*quant.rounding" \
    "adaround.reconstruct: {iterations: 10}" "dfq.equalize: {}"
order "easyquant then core.calibrate" "'core.calibrate' makes stale what 'easyquant.search_scales'.*quant.weights.tuned" \
    "easyquant.search_scales: {}" "core.calibrate: {}"
order "weights rewritten after calibration" "'rewrite.clip' makes stale what 'core.calibrate'.*quant.weights" \
    "core.calibrate: {}" "rewrite.clip: {}"
order "correct_bias before equalize" "'dfq.equalize' makes stale what 'dfq.correct_bias'.*graph.bias_corrected" \
    "dfq.correct_bias: {}" "dfq.equalize: {}"
base "$TMP/good_order.yaml" "dfq.equalize: {}" "dfq.correct_bias: {}" "adaround.reconstruct: {iterations: 10}"
"$PTQ" run "$TMP/good_order.yaml" --dry-run --out "$TMP/o1" >/dev/null 2>&1 && ok "order: equalize, correct_bias, adaround is accepted" ||
    bad "order: a sensible order is refused"

# --- all validation errors of a file at once
cat > "$TMP/many_errors.yaml" <<YAML
model: $M
calibration: {images: $DATA/train-images-idx3-ubyte.gz, cuont: 5}
quantization:
  weights: {bits: 9}
  activations: {observer: nosuch}
passes:
  - adaround.reconstruct: {iterations: -1}
seed: abc
YAML
out=$("$PTQ" run "$TMP/many_errors.yaml" --dry-run 2>&1)
n=$(echo "$out" | grep -c "many_errors.yaml:[0-9]*:[0-9]*:")
[ "$n" -ge 5 ] && ok "all $n validation errors reported at once" || bad "only $n errors reported: $out"

# --- a run: normalization carried by the export, read back by ptq eval
if out=$("$PTQ" run "$TMP/p.yaml" --out "$TMP/run" 2>&1); then ok "small pipeline runs"; else bad "small pipeline: $out"; fi
q=$(json_get "$TMP/run/report.json" quantized top1)
e=$("$PTQ" eval "$TMP/run/model.qdq.onnx" --images "$DATA/t10k-images-idx3-ubyte.gz" --labels "$DATA/t10k-labels-idx1-ubyte.gz" --limit 500 2>&1)
t=$(echo "$e" | sed -nE 's/^top-1 +([0-9.]+) %.*/\1/p')
if echo "$e" | grep -q "normalize  mean 0.286, std 0.353  (the qcraft.normalize.mean metadata" &&
   awk -v a="$t" -v b="$q" 'BEGIN { d = a / 100 - b; if (d < 0) d = -d; exit !(d < 1e-9) }'; then
    ok "ptq eval of the export alone applies the carried normalization: top-1 $t % = report's $q"
else
    bad "ptq eval of the export: $e (report: $q)"
fi
grep -q '"mean": \[0.286\]' "$TMP/run/model.qdq.json" && ok "sidecar model.qdq.json beside the export" || bad "no sidecar: $(ls "$TMP/run")"
e=$("$PTQ" eval "$M" --images "$DATA/t10k-images-idx3-ubyte.gz" --labels "$DATA/t10k-labels-idx1-ubyte.gz" --limit 10 2>&1)
echo "$e" | grep -q "normalize  mean 0.286, std 0.353  (.*resnet20_fmnist.json)" && ok "the bundled model's sidecar is named as the source" || bad "source not named: $e"
cp "$M" "$TMP/bare.onnx"
e=$("$PTQ" eval "$TMP/bare.onnx" --images "$DATA/t10k-images-idx3-ubyte.gz" --labels "$DATA/t10k-labels-idx1-ubyte.gz" --limit 10 2>&1)
echo "$e" | grep -q "warning: .*bare.onnx carries no input normalization" && echo "$e" | grep -q "(none known)" &&
    ok "a model with no known normalization is warned about" || bad "no warning: $e"

# --- outputs: ordinary directory mode, the --out used recorded, overrides in the config
mode=$(stat -c %a "$TMP/run")
want=$(printf '%o' $(( 0777 & ~$(umask) )))
[ "$mode" = "$want" ] && ok "output directory mode $mode (as mkdir makes it)" || bad "output directory mode $mode, expected $want"
grep -q "output: {dir: \"\?$TMP/run\"\?" "$TMP/run/pipeline.yaml" && ok "pipeline.yaml records the --out used" ||
    bad "pipeline.yaml output: $(grep output: "$TMP/run/pipeline.yaml")"
grep -q '"overrides": \[' "$TMP/run/report.json" && ok "report config lists the overrides" || bad "no overrides in report config"
grep -qE '"percentile": 99.99,?$' "$TMP/run/report.json" && ok "floats in shortest form (99.99)" || bad "percentile printed as: $(grep percentile "$TMP/run/report.json" | head -1)"

# --- the float evaluation is cached: a second run reuses it and says so
out=$("$PTQ" run "$TMP/p.yaml" --out "$TMP/run2" 2>&1)
if echo "$out" | grep -q "float model: top-1 .* (cached" && grep -q '"float_evaluation_cached": true' "$TMP/run2/report.json" &&
   [ "$(json_get "$TMP/run2/report.json" float top1)" = "$(json_get "$TMP/run/report.json" float top1)" ]; then
    ok "second run reuses the cached float evaluation"
else
    bad "float evaluation not cached: $out"
fi
sed 's/count: 500/count: 400/' "$TMP/p.yaml" > "$TMP/p400.yaml"
out=$("$PTQ" run "$TMP/p400.yaml" --out "$TMP/run3" 2>&1)
echo "$out" | grep -q "evaluating the float model on 400 images" && ok "other evaluation images: evaluated again" || bad "cache hit for different data: $out"

# --- a pass that changes the float function is judged against the original model
base "$TMP/clip.yaml" "rewrite.clip: {fraction: 0.3}"
if out=$("$PTQ" run "$TMP/clip.yaml" --out "$TMP/clip" --plugins "$PLUG" 2>&1); then
    r=$TMP/clip/report.json
    before=$(awk '/"name": "rewrite.clip"/ { f++ } f == 2 && /"model_output_before"/ { g = 1 } g && /"sqnr_db"/ { gsub(/[^0-9.-]/, "", $2); print $2; exit }' "$r")
    after=$(awk '/"name": "rewrite.clip"/ { f++ } f == 2 && /"model_output_after"/ { g = 1 } g && /"sqnr_db"/ { gsub(/[^0-9.-]/, "", $2); print $2; exit }' "$r")
    if echo "$out" | grep -q "rewrite.clip .*output SQNR [0-9.-]* -> [0-9.-]* dB" && echo "$out" | grep -q "changed the float model" &&
       awk -v b="$before" -v a="$after" 'BEGIN { exit !(a < b - 10) }' && grep -q '"float_changed_by_pass": true' "$r"; then
        ok "weight clipping: output SQNR against the original falls $before -> $after dB, float change reported"
    else
        bad "weight clipping not shown as harmful: before '$before' after '$after': $out"
    fi
else
    bad "clip pipeline failed: $out"
fi

# --- weights changed under calibrated quantizers by a pass that does not declare it
base "$TMP/undeclared.yaml" "easyquant.search_scales: {search: activations, rounds: 1, images: 16}" "rewrite.undeclared: {}"
out=$("$PTQ" run "$TMP/undeclared.yaml" --out "$TMP/undeclared" --plugins "$PLUG" 2>&1)
echo "$out" | grep -q "warning: pass 'rewrite.undeclared' changed the weights of 22 layers" && ok "undeclared weight change warned about at run time" ||
    bad "undeclared weight change: $out"
finish
