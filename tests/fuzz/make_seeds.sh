#!/usr/bin/env bash
# make_seeds.sh PTQ FUZZ_BUILD_DIR — regenerates the seed corpora in tests/fuzz/corpus/:
# gathers candidate seeds (the bundled models, their QDQ exports by PTQ, the ONNX
# conformance models, every example pipeline, written .npy/IDX/PNG/JPEG files), then keeps
# the subset that reaches every edge the whole set reaches (libFuzzer's -merge=1 with the
# harnesses of FUZZ_BUILD_DIR, built by scripts/fuzz.sh).  Run from anywhere.
set -euo pipefail
ptq=$(realpath "$1")
fuzz_build=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

/usr/bin/python3 "$here/make_seeds.py" "$stage"
cc -O1 -o "$stage/seed_images" "$here/seed_images.c" -lpng -ljpeg
mkdir -p "$stage/image" && "$stage/seed_images" "$stage/image"
cp "$root"/examples/data/scenes/calib/scene_00[0-3].png "$stage/image/"

mkdir -p "$stage/onnx"
cp "$root/models/mobilenetv2_fmnist.onnx" "$root"/models/realworld/*.onnx "$stage/onnx/"
for suite in node pytorch-converted pytorch-operator; do
    for m in /usr/share/libonnx-testdata/data/$suite/*/model.onnx; do
        cp "$m" "$stage/onnx/$suite-$(basename "$(dirname "$m")").onnx"
    done
done

mkdir -p "$stage/yaml"
cp "$root"/examples/*.yaml "$stage/yaml/"

# QDQ exports: 8-bit per channel and per tensor, 4-bit weights, 16-bit activations.
cat > "$stage/q.yaml" <<YAML
model: $root/models/realworld/convnext.onnx
calibration: {images: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz, count: 32}
quantization:
  weights: {bits: WB, granularity: GRAN, symmetric: true}
  activations: {bits: AB, granularity: tensor, symmetric: false}
output: {dir: $stage/out}
YAML
i=0
for spec in "8 channel 8" "8 tensor 8" "4 channel 8" "8 channel 16"; do
    set -- $spec
    sed "s/WB/$1/; s/GRAN/$2/; s/AB/$3/" "$stage/q.yaml" > "$stage/q$i.yaml"
    if "$ptq" run "$stage/q$i.yaml" >/dev/null 2>&1; then
        cp "$stage/out/model.qdq.onnx" "$stage/qdq/convnext_w$1_$2_a$3.onnx"
    else
        echo "make_seeds: export W$1 $2 A$3 failed (skipped)" >&2
    fi
    rm -rf "$stage/out"
    i=$((i + 1))
done

for name in $("$here/../../scripts/fuzz.sh"); do
    rm -rf "$here/corpus/$name.new" && mkdir -p "$here/corpus/$name.new"
    "$fuzz_build/tests/fuzz/fuzz_$name" -merge=1 -rss_limit_mb=4096 "$here/corpus/$name.new" \
        "$stage/$name" "$here/corpus/$name" 2>&1 | grep -E "MERGE-OUTER: [0-9]+ new files" || true
    rm -rf "$here/corpus/$name" && mv "$here/corpus/$name.new" "$here/corpus/$name"
    echo "corpus/$name: $(ls "$here/corpus/$name" | wc -l) files, $(du -sk "$here/corpus/$name" | cut -f1) KiB"
done
