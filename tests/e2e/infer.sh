#!/usr/bin/env bash
# infer.sh — `ptq infer` and image folders end to end: the same Fashion-MNIST images as a
# .npy and as PNG files give the same outputs and the same accuracy as `ptq eval`; every
# output with a manifest; a model of symbolic size at the images' size; pipelines on image
# folders; and the errors a user with a folder of real images meets.
. "$(dirname "$0")/lib.sh"

# Fixtures and .npy checks in Python's standard library (no numpy needed).
FIX() { python3 "$SRC/tests/e2e/make_images.py" "$@"; }
M=$SRC/models/resnet20_fmnist.onnx
SYM=$SRC/tests/data/symbolic_hw.onnx # x: ['N', 1, 'height', 'width'] -> y: [N, 4]
FX=$TMP/fx
N=64
FIX fmnist "$DATA/t10k-images-idx3-ubyte.gz" "$DATA/t10k-labels-idx1-ubyte.gz" $N "$FX" ||
    { bad "fixtures"; finish; exit 1; }

# shape_is NAME FILE "DTYPE SHAPE": the .npy's dtype and shape, e.g. "<f4 64,10".
shape_is() {
    local got
    got=$(FIX shape "$2" 2>&1)
    [ "$got" = "$3" ] && ok "$1: $got" || bad "$1: '$got', expected '$3'"
}
# same_npy NAME A B: the two .npy files hold the same array, bit for bit.
same_npy() { FIX equal "$2" "$3" && ok "$1" || bad "$1: $2 and $3 differ"; }

# --- the same images as .npy and as PNGs
if "$PTQ" infer "$M" --input "$FX/images.npy" --output "$TMP/a.npy" 2> "$TMP/a.log"; then
    ok "infer on .npy: $(grep normalize "$TMP/a.log")"
else
    bad "infer on .npy: $(cat "$TMP/a.log")"
fi
shape_is "logits" "$TMP/a.npy" "<f4 $N,10"
"$PTQ" infer "$M" --input "$FX/flat" --output "$TMP/b.npy" --all-outputs "$TMP/all" --batch 7 \
    2> "$TMP/b.log" || bad "infer on a PNG folder: $(cat "$TMP/b.log")"
grep -q "stretched to 28x28 (the model's input size)" "$TMP/b.log" && ok "default resize said" ||
    bad "default resize not said: $(cat "$TMP/b.log")"
same_npy "PNG folder = .npy, bit for bit (batch 7 vs 64)" "$TMP/a.npy" "$TMP/b.npy"
same_npy "--all-outputs" "$TMP/all/logits.npy" "$TMP/a.npy"
if [ "$(grep -c '^input ' "$TMP/all/manifest.txt")" = $N ] &&
   grep -q '^input 3 .*/flat/00003.png$' "$TMP/all/manifest.txt" &&
   grep -q '^output logits.npy \[64,10\] logits$' "$TMP/all/manifest.txt"; then
    ok "manifest lists the output and the $N inputs in order"
else
    bad "manifest: $(head -3 "$TMP/all/manifest.txt")"
fi
ls "$TMP"/*.tmp* "$TMP/all"/*.tmp* >/dev/null 2>&1 && bad "temporary files left" || ok "no temporary files left"

# --- against ptq eval: top-1 from the saved logits, eval on the .npy, eval on class folders
top_npy=$("$PTQ" eval "$M" --images "$FX/images.npy" --labels "$FX/labels.npy" --json | sed -nE 's/.*"correct": ([0-9]+).*/\1/p')
top_dir=$("$PTQ" eval "$M" --images "$FX/classes" --labels folders --json 2>/dev/null | sed -nE 's/.*"correct": ([0-9]+).*/\1/p')
top_inf=$(FIX correct "$TMP/a.npy" "$FX/labels.npy")
if [ -n "$top_npy" ] && [ "$top_npy" = "$top_dir" ] && [ "$top_npy" = "$top_inf" ]; then
    ok "eval on .npy, eval on class folders and infer's logits agree: $top_npy / $N correct"
else
    bad "correct: eval .npy '$top_npy', eval folders '$top_dir', infer '$top_inf'"
fi

# --- a model of symbolic height and width
expect_error "symbolic dims without a shape" "input 'x' has symbolic dims height, width \(axes 2, 3\).*input_shape" -- "$PTQ" inspect "$SYM"
"$PTQ" infer "$SYM" --input "$FX/flat" --output "$TMP/s28.npy" 2>/dev/null &&
"$PTQ" infer "$SYM" --input "$FX/flat" --resize 40x30 --output "$TMP/s40.npy" 2> "$TMP/s40.log" &&
    grep -q "input 'x' \[N,1,40,30\]" "$TMP/s40.log" && ok "symbolic model at the images' size and at --resize" ||
    bad "symbolic model: $(cat "$TMP/s40.log")"
shape_is "symbolic model at 28x28" "$TMP/s28.npy" "<f4 $N,4"
shape_is "symbolic model at 40x30" "$TMP/s40.npy" "<f4 $N,4"
FIX equal "$TMP/s28.npy" "$TMP/s40.npy" && bad "the two sizes gave the same outputs" || ok "the two sizes differ"
expect_error "--input-shape against the data" "model input 'x' is \[N,1,32,32\], the images are 1 x 28 x 28" -- \
    "$PTQ" infer "$SYM" --input "$FX/images.npy" --input-shape 1,32,32 --output "$TMP/x.npy"
expect_error "--input-shape against a static dim" "axis 1 is 1 in the model but the input shape given makes it 3" -- \
    "$PTQ" infer "$SYM" --input "$FX/images.npy" --input-shape 3,28,28 --output "$TMP/x.npy"

# --- bad input
mkdir -p "$TMP/mixed" "$TMP/bad"
cp "$FX/flat/00000.png" "$FX/flat/00001.png" "$TMP/bad/"
head -c 300 "$FX/flat/00002.png" > "$TMP/bad/00002.png"
expect_error "corrupt image named" "bad/00002.png: libpng" -- "$PTQ" infer "$M" --input "$TMP/bad" --output "$TMP/x.npy"
if "$PTQ" infer "$M" --input "$TMP/bad" --skip-bad --output "$TMP/skip.npy" 2> "$TMP/skip.log" &&
   grep -q "warning: skipping .*00002.png" "$TMP/skip.log"; then
    shape_is "--skip-bad: the 2 readable images" "$TMP/skip.npy" "<f4 2,10"
else
    bad "--skip-bad: $(cat "$TMP/skip.log")"
fi
cp "$FX/flat/00000.png" "$TMP/mixed/"
FIX png "$TMP/mixed/small.png" 20 10 7
expect_error "mixed sizes name two files" "mixed/00000.png is 28x28.*mixed/small.png is 20x10" -- \
    "$PTQ" infer "$SYM" --input "$TMP/mixed" --output "$TMP/x.npy"
expect_error "missing folder" "nowhere/: cannot open" -- "$PTQ" infer "$M" --input "$TMP/nowhere/" --output "$TMP/x.npy"
echo "text" > "$TMP/notes.png"
expect_error "non-image file" "notes.png: not a PNG or JPEG" -- "$PTQ" infer "$M" --input "$TMP/notes.png" --output "$TMP/x.npy"
expect_error "no output asked" "give --output" -- "$PTQ" infer "$M" --input "$FX/images.npy"
expect_error "bad --resize" "resize 'big' must be HxW" -- "$PTQ" infer "$M" --input "$FX/flat" --resize big --output "$TMP/x.npy"
expect_error "image flags on a .npy" "apply to PNG and JPEG" -- "$PTQ" infer "$M" --input "$FX/images.npy" --letterbox --output "$TMP/x.npy"

# --- pipelines on image folders
cat > "$TMP/p.yaml" <<YAML
model: $M
calibration:
  images: $FX/flat
  count: 32
evaluation:
  images: $FX/classes
  labels: folders
YAML
if "$PTQ" run "$TMP/p.yaml" --dry-run --out "$TMP/run" > "$TMP/plan.yaml" 2> "$TMP/plan.log" &&
   grep -q "resize: {mode: stretch, size: \[28, 28\]}  # the model's input size" "$TMP/plan.yaml" &&
   grep -q "checked      evaluation: $N labelled images, 10 classes seen" "$TMP/plan.log"; then
    ok "dry run: image folders, default resize shown"
else
    bad "dry run: $(cat "$TMP/plan.log" "$TMP/plan.yaml")"
fi
cat > "$TMP/sym.yaml" <<YAML
model: $SYM
calibration:
  images: $FX/flat
  count: 16
  resize: {size: [36, 20], mode: letterbox}
quantization:
  weights: {bits: 8}
YAML
"$PTQ" run "$TMP/sym.yaml" --dry-run --out "$TMP/run" > /dev/null 2> "$TMP/sym.log" &&
    grep -q "model input 'x': \[N,1,36,20\]" "$TMP/sym.log" && ok "dry run: the shape from the calibration images" ||
    bad "symbolic dry run: $(cat "$TMP/sym.log")"
printf 'model: %s\ninput_shape: [1, 24, 24]\ncalibration:\n  images: %s\n  count: 8\nevaluation:\n  images: %s\n  labels: folders\n  resize: {mode: none}\n' \
    "$SYM" "$FX/flat" "$FX/classes" > "$TMP/sym2.yaml"
expect_error "evaluation size against input_shape" "evaluation data .*is \[N,1,24,24\], the images are 1 x 28 x 28 \(set evaluation.resize" -- \
    "$PTQ" run "$TMP/sym2.yaml" --dry-run --out "$TMP/run"
printf 'model: %s\ncalibration:\n  images: %s\n  resize: {size: 3}\n' "$M" "$FX/images.npy" > "$TMP/npyresize.yaml"
expect_error "resize on an array file" "npyresize.yaml:4:3: 'resize' applies to image folders" -- \
    "$PTQ" run "$TMP/npyresize.yaml" --dry-run --out "$TMP/run"

# A model exported with a fixed batch (2 here) runs 2 images at a time, the last batch
# padded: 5 images give the same 5 rows of every output as the dynamic-batch export.
npy_images "$DATA/t10k-images-idx3-ubyte.gz" "$TMP/five.npy" 5
if "$PTQ" infer "$SRC/tests/data/two_outputs.onnx" --input "$TMP/five.npy" --all-outputs "$TMP/dyn" 2>/dev/null &&
   "$PTQ" infer "$SRC/tests/data/two_outputs_batch2.onnx" --input "$TMP/five.npy" --all-outputs "$TMP/fix" 2>/dev/null &&
   cmp -s "$TMP/dyn/mask.npy" "$TMP/fix/mask.npy" && cmp -s "$TMP/dyn/logits.npy" "$TMP/fix/logits.npy" &&
   grep -q "mask.npy \[5,1,14,14\]" "$TMP/fix/manifest.txt"; then
    ok "a fixed-batch export: 5 images in batches of 2 give the dynamic export's outputs"
else
    bad "fixed-batch export: $(cat "$TMP/fix/manifest.txt" 2>&1)"
fi

finish
