#!/usr/bin/env bash
# pipelines.sh — `ptq run` as a user runs it: the example pipelines, W8A8 accuracy on every
# bundled model, the report's stable keys, --dry-run, --force, and the exported QDQ model
# re-imported by ptq itself giving the simulated accuracy.
#
# PTQ_E2E_LIMIT=N (the sanitizer suite) evaluates N images and calibrates on 128.
. "$(dirname "$0")/lib.sh"
limit=${PTQ_E2E_LIMIT:-0}
calib=$([ "$limit" -gt 0 ] && echo 128 || echo 512)

# --- W8A8 within 0.5 points of float on every bundled model
for model in "$SRC"/models/*.onnx; do
    name=$(basename "$model" .onnx)
    pipeline_yaml "$model" "$TMP/$name.yaml" 8 8 minmax "$limit" "$calib"
    if ! out=$("$PTQ" run "$TMP/$name.yaml" --out "$TMP/run_$name" 2>&1); then
        bad "$name W8A8: ptq run failed: $out"
        continue
    fi
    r=$TMP/run_$name/report.json
    f=$(json_get "$r" float top1)
    q=$(json_get "$r" quantized top1)
    if awk -v f="$f" -v q="$q" 'BEGIN { exit !(f - q <= 0.005) }'; then
        ok "$name W8A8: float $f, quantized $q"
    elif [ "$name" = resnet20imb_fmnist ]; then
        # Built to break round-to-nearest: channel ranges differ by up to 900x along the
        # second conv's input channels, which neither per-output-channel weights nor
        # per-tensor activations can represent (W8A16 still loses ~16 points, W16A8 ~30).
        # Cross-layer equalization (DFQ, the next issue) is the fix; not an error here.
        echo "note $name W8A8: float $f, quantized $q (expected collapse without DFQ)"
    else
        bad "$name W8A8: quantized $q is more than 0.5 points below float $f"
    fi
done

# --- the report: stable keys, passes with before/after SQNR, layers
r=$TMP/run_resnet20_fmnist/report.json
missing=""
for k in '"float": {' '"quantized": {' '"passes": \[' '"layers": \[' '"config": {' '"seed": ' \
         '"layers_before": \[' '"layers_after": \[' '"weight_sqnr_db"' '"output_sqnr_db"' \
         '"name": "core.fold_bn"' '"name": "core.calibrate"' '"seconds"'; do
    grep -q "$k" "$r" || missing="$missing $k"
done
if [ -z "$missing" ]; then ok "report.json has the stable keys"; else bad "report.json lacks:$missing"; fi
[ -s "$TMP/run_resnet20_fmnist/model.qdq.onnx" ] && [ -s "$TMP/run_resnet20_fmnist/pipeline.yaml" ] &&
    ok "output holds model.qdq.onnx and pipeline.yaml" || bad "outputs missing: $(ls "$TMP/run_resnet20_fmnist")"

# --- the exported QDQ model, re-imported by ptq, gives the simulated accuracy
q=$(json_get "$r" quantized top1)
limit_args=()
[ "$limit" -gt 0 ] && limit_args=(--limit "$limit")
e=$("$PTQ" eval "$TMP/run_resnet20_fmnist/model.qdq.onnx" --images "$DATA/t10k-images-idx3-ubyte.gz" \
    --labels "$DATA/t10k-labels-idx1-ubyte.gz" --mean 0.286 --std 0.353 --json "${limit_args[@]}" 2>&1)
t=$(echo "$e" | sed -nE 's/.*"top1": *([0-9.]+).*/\1/p')
if [ -n "$t" ] && awk -v a="$t" -v b="$q" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 1e-9) }'; then
    ok "QDQ export re-imported: top1 $t equals the simulation's $q"
else
    bad "QDQ export re-imported: top1 '$t' vs simulated $q ($e)"
fi

# --- existing output needs --force; --force replaces it atomically
expect_error "output exists" "exists: pass --force" -- "$PTQ" run "$TMP/resnet20_fmnist.yaml" --out "$TMP/run_resnet20_fmnist"
echo stale > "$TMP/run_resnet20_fmnist/stale.txt"
if "$PTQ" run "$TMP/resnet20_fmnist.yaml" --out "$TMP/run_resnet20_fmnist" --force >/dev/null 2>&1 &&
   [ ! -e "$TMP/run_resnet20_fmnist/stale.txt" ] && [ -s "$TMP/run_resnet20_fmnist/report.json" ] &&
   [ -z "$(ls -d "$TMP"/run_resnet20_fmnist.* 2>/dev/null)" ]; then
    ok "--force replaces the output directory, no temporary left behind"
else
    bad "--force did not replace the output cleanly: $(ls "$TMP")"
fi

# --- a failing run leaves no partial output
cat > "$TMP/fails.yaml" <<YAML
model: $SRC/models/resnet20_fmnist.onnx
calibration: {images: $TMP/does-not-exist.gz}
YAML
expect_error "missing calibration file" "does-not-exist.gz" -- "$PTQ" run "$TMP/fails.yaml" --out "$TMP/never"
[ ! -e "$TMP/never" ] && [ -z "$(ls -d "$TMP"/never.* 2>/dev/null)" ] && ok "no partial output after a failure" ||
    bad "partial output left: $(ls -d "$TMP"/never* 2>/dev/null)"

# --- --dry-run prints the resolved plan with defaults and implicit passes
d=$("$PTQ" run "$SRC/examples/rtn_w8a8.yaml" --dry-run 2>&1)
if echo "$d" | grep -q "core.fold_bn" && echo "$d" | grep -q "implicit" && echo "$d" | grep -q "observer: minmax"; then
    ok "--dry-run shows the resolved plan"
else
    bad "--dry-run output: $d"
fi

# --- the examples themselves (the model line is the only thing to change)
for ex in mse_w4a8 mse_w4a4; do
    sed -e "s#^model: .*#model: $SRC/models/resnet20_fmnist.onnx#" "$SRC/examples/$ex.yaml" > "$TMP/$ex.yaml"
    if [ "$limit" -gt 0 ]; then
        sed -i -e "s#count: 1024#count: $calib#" -e "s#labels: \(.*t10k-labels.*\)#labels: \1\n  count: $limit#" "$TMP/$ex.yaml"
    fi
    if out=$("$PTQ" run "$TMP/$ex.yaml" --out "$TMP/run_$ex" 2>&1); then
        ok "$ex: float $(json_get "$TMP/run_$ex/report.json" float top1), quantized $(json_get "$TMP/run_$ex/report.json" quantized top1)"
    else
        bad "$ex failed: $out"
    fi
done

# --- bad pipelines: a clear FILE:LINE:COLUMN message, never a crash
printf 'model: %s\nquantization:\n  weights: {bits: 9}\n' "$SRC/models/resnet20_fmnist.onnx" > "$TMP/bits.yaml"
expect_error "bits out of range" "bits.yaml:3:[0-9]+:" -- "$PTQ" run "$TMP/bits.yaml" --dry-run
printf 'model: %s\ncalibraton: {images: x}\n' "$SRC/models/resnet20_fmnist.onnx" > "$TMP/typo.yaml"
expect_error "unknown key with suggestion" "typo.yaml:2:1:.*did you mean 'calibration'" -- "$PTQ" run "$TMP/typo.yaml" --dry-run
printf 'model: %s\npasses:\n  - nosuch.pass: {}\n' "$SRC/models/resnet20_fmnist.onnx" > "$TMP/pass.yaml"
expect_error "unknown plugin" "pass.yaml:3:[0-9]+:.*nosuch" -- "$PTQ" run "$TMP/pass.yaml" --dry-run
printf 'model: [unclosed\n' > "$TMP/broken.yaml"
expect_error "malformed YAML" "broken.yaml:[0-9]+:[0-9]+:" -- "$PTQ" run "$TMP/broken.yaml" --dry-run
finish
