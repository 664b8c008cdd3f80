#!/usr/bin/env bash
# cli_errors.sh — bad input gets a clear message and a non-zero exit, never a crash:
# malformed ONNX, malformed data files, bad command lines.  Run under ASan/UBSan in CI.
. "$(dirname "$0")/lib.sh"

M=$SRC/models/resnet20_fmnist.onnx
IMG=$DATA/t10k-images-idx3-ubyte.gz
LAB=$DATA/t10k-labels-idx1-ubyte.gz
F=$SRC/tests/data

# --- models
head -c 5000 "$M" > "$TMP/truncated.onnx"
head -c 4096 /dev/urandom > "$TMP/garbage.onnx"
: > "$TMP/empty.onnx"
expect_error "truncated onnx" "truncated|not a valid ONNX" -- "$PTQ" inspect "$TMP/truncated.onnx"
expect_error "garbage onnx" "not a valid ONNX|no graph|opset|invalid" -- "$PTQ" inspect "$TMP/garbage.onnx"
expect_error "empty onnx" "empty" -- "$PTQ" inspect "$TMP/empty.onnx"
expect_error "missing onnx" "cannot open" -- "$PTQ" inspect "$TMP/nope.onnx"
expect_error "unsupported ops listed" "Sin \(first used by node 'sin_first'\).*Round \(first used by node 'round_first'\)" -- "$PTQ" inspect "$F/unsupported_ops.onnx"
expect_error "dangling input" "input 'ghost' is not defined" -- "$PTQ" inspect "$F/dangling_input.onnx"
expect_error "inconsistent shapes" "conv_bad.*5 input channels per group.*group=1 needs 3" -- "$PTQ" inspect "$F/inconsistent_shapes.onnx"
expect_error "absurd dims" "absurd" -- "$PTQ" eval "$F/absurd_dims.onnx" --images "$IMG" --labels "$LAB"
for cut in 100 20000 400000 1000000; do
    head -c $cut "$M" > "$TMP/cut$cut.onnx"
    expect_error "onnx cut at $cut bytes" "." -- "$PTQ" eval "$TMP/cut$cut.onnx" --images "$IMG" --labels "$LAB"
done

# --- data files
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x1c\x00\x00\x00\x1c' > "$TMP/short.idx"
printf 'JUNKJUNKJUNKJUNK' > "$TMP/magic.idx"
printf '\x93NUMPY\x01\x00\x10\x00{garbage header}' > "$TMP/bad.npy"
printf "\x93NUMPY\x01\x00\x46\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 28, 28), }      \n" > "$TMP/f64.npy"
head -c 3000 "$IMG" > "$TMP/cut.gz"
expect_error "wrong IDX magic" "magic" -- "$PTQ" eval "$M" --images "$TMP/magic.idx" --labels "$LAB"
expect_error "truncated IDX" "truncated" -- "$PTQ" eval "$M" --images "$TMP/short.idx" --labels "$LAB"
expect_error "truncated gzip" "truncated|read error|unexpected end" -- "$PTQ" eval "$M" --images "$TMP/cut.gz" --labels "$LAB"
expect_error "bad npy header" "npy" -- "$PTQ" eval "$M" --images "$TMP/bad.npy" --labels "$LAB"
expect_error "float64 npy" "'<f8'" -- "$PTQ" eval "$M" --images "$TMP/f64.npy" --labels "$LAB"
expect_error "labels/images count mismatch" "labels but .* images" -- "$PTQ" eval "$M" --images "$IMG" --labels "$DATA/train-labels-idx1-ubyte.gz"
expect_error "missing images file" "cannot open" -- "$PTQ" eval "$M" --images "$TMP/none.idx" --labels "$LAB"

# --- command lines
expect_error "unknown command" "unknown command" -- "$PTQ" frobnicate
expect_error "unknown flag with suggestion" "did you mean '--batch'" -- "$PTQ" eval "$M" --images "$IMG" --labels "$LAB" --bacth 3
expect_error "neither labels nor reference" "give --labels FILE .* or --reference MODEL" -- "$PTQ" eval "$M" --images "$IMG"
expect_error "missing required flag" "missing required option --images" -- "$PTQ" eval "$M" --labels "$LAB"
expect_error "out of range batch" "must be an integer in 1\.\." -- "$PTQ" eval "$M" --images "$IMG" --labels "$LAB" --batch 0
expect_error "missing model" "missing MODEL" -- "$PTQ" inspect
expect_error "bad number" "is not a number" -- "$PTQ" eval "$M" --images "$IMG" --labels "$LAB" --mean abc

# --- help works and says something useful
if "$PTQ" --help | grep -q "eval" && "$PTQ" eval --help | grep -q -- "--images" &&
   "$PTQ" inspect --help | grep -q "MODEL"; then ok "help texts"; else bad "help texts"; fi
finish
