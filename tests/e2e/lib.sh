# lib.sh — helpers for the end-to-end tests: run the real ptq binary, check what a user
# would see.  Each test script sources this and ends with `finish`.
set -u
PTQ=${1:?usage: $0 PTQ_BINARY SOURCE_DIR}
SRC=${2:?usage: $0 PTQ_BINARY SOURCE_DIR}
DATA=/usr/share/datasets/fashion-mnist
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# expect_error NAME PATTERN -- CMD...: CMD must exit 1 or 2 (not crash: no signal, no
# sanitizer report) and print PATTERN (grep -E) on stderr.
expect_error() {
    local name=$1 pattern=$2
    shift 3
    local out rc
    out=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
        bad "$name: exit code $rc (expected 1 or 2): $out"
    elif echo "$out" | grep -qE 'AddressSanitizer|runtime error|LeakSanitizer'; then
        bad "$name: sanitizer report: $out"
    elif ! echo "$out" | grep -qE "$pattern"; then
        bad "$name: message does not match /$pattern/: $out"
    else
        ok "$name: $(echo "$out" | head -n 1)"
    fi
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# json_get FILE SECTION KEY: the value of "KEY" inside the top-level object "SECTION" of a
# report.json as ptq writes it (one key per line); json_get FILE "" KEY for top-level keys.
json_get() {
    awk -v sec="$2" -v key="$3" '
        BEGIN { depth = 0; cur = "" }
        {
            line = $0
            if (depth == 1 && match(line, /^  "[^"]+": \{/)) { cur = substr(line, 4, index(substr(line, 4), "\"") - 1) }
            if (((sec == "" && depth == 1) || (depth == 2 && cur == sec)) && index(line, "\"" key "\": ") > 0) {
                v = substr(line, index(line, "\"" key "\": ") + length(key) + 4)
                sub(/,$/, "", v); gsub(/"/, "", v); print v; exit
            }
            n = gsub(/[{[]/, "&", line); m = gsub(/[}\]]/, "&", line); depth += n - m
            if (depth == 1 && m > 0) cur = ""
        }' "$1"
}

# pipeline_yaml MODEL OUT BITS_W BITS_A OBSERVER [EVAL_COUNT] [CALIB_COUNT] [TARGET] [WSYM]:
# writes a pipeline for MODEL to OUT (absolute paths, so it can live anywhere).  TARGET is
# quantization.target (default: the default, portable); WSYM false gives asymmetric
# weights (first and last layer stay symmetric 8-bit).
pipeline_yaml() {
    local model=$1 out=$2 wb=$3 ab=$4 obs=$5 ec=${6:-0} cc=${7:-512} target=${8:-} wsym=${9:-true}
    local placement=${10:-}
    cat > "$out" <<YAML
model: $model
calibration:
  images: $DATA/train-images-idx3-ubyte.gz
  count: $cc
evaluation:
  images: $DATA/t10k-images-idx3-ubyte.gz
  labels: $DATA/t10k-labels-idx1-ubyte.gz
  count: $ec
quantization:
  weights: {bits: $wb, granularity: channel, symmetric: $wsym, observer: $obs}
  activations: {bits: $ab, granularity: tensor, symmetric: false, observer: $obs}
${target:+  target: $target
}${placement:+  placement: $placement
}  overrides:
    - nodes: [first, last]
      weights: {bits: 8, symmetric: true}
      activations: {bits: 8}
seed: 0
YAML
}

# int8_kernel_path: which u8 x s8 product onnxruntime's MLAS picks on this CPU (it decides
# from the CPU's flags at run time), and whether that path can saturate.  Prints one line;
# returns 0 when the path accumulates in int32 (VNNI, ARM dot products), 1 when it adds
# pairs of products in a saturating int16 (VPMADDUBSW: AVX2, AVX-512 without VNNI).
int8_kernel_path() {
    local flags
    flags=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || true)
    case " $flags " in
    *" avx512_vnni "*) echo "x86 AVX-512 VNNI: VPDPBUSD, int32 accumulation (exact)"; return 0 ;;
    *" avx_vnni "*) echo "x86 AVX-VNNI: VPDPBUSD, int32 accumulation (exact)"; return 0 ;;
    *" avx512bw "*) echo "x86 AVX-512BW without VNNI: VPMADDUBSW, saturating int16 pairs"; return 1 ;;
    *" avx2 "*) echo "x86 AVX2 without VNNI: VPMADDUBSW, saturating int16 pairs"; return 1 ;;
    *" asimd "*) echo "ARM NEON: widening products, int32 accumulation (exact)"; return 0 ;;
    *) echo "unknown CPU (flags not recognised)"; return 1 ;;
    esac
}

# cut_example NAME OUT CALIB EVAL_COUNT ITERATIONS [MODEL]: examples/NAME.yaml cut to a
# test's budget into OUT: absolute model paths, CALIB calibration images, EVAL_COUNT test
# images, every "iterations: 1000" made ITERATIONS, and the model swapped for
# models/MODEL.onnx when given.
cut_example() {
    local ex=$1 out=$2 calib=$3 count=$4 iters=$5 model=${6:-}
    sed -e "s#\.\./models/#$SRC/models/#" -e "s#count: 1024#count: $calib#" \
        -e "s#labels: \(.*t10k-labels.*\)#labels: \1\n  count: $count#" \
        -e "s#iterations: 1000#iterations: $iters#g" "$SRC/examples/$ex.yaml" > "$out"
    [ -z "$model" ] || sed -i "s#^model: .*#model: $SRC/models/$model.onnx#" "$out"
}

# ort_agrees NAME OUT_DIR TOLERANCE EVAL_COUNT: the QDQ export in OUT_DIR run in
# onnxruntime (bench/ort_eval.mjs) must give the report's simulated top-1 within
# TOLERANCE (a fraction); skipped with the reason without node or onnxruntime-node.
ort_agrees() {
    local name=$1 dir=$2 tol=$3 count=$4 q o t
    if ! command -v node >/dev/null 2>&1 || [ ! -d "$SRC/bench/node_modules/onnxruntime-node" ] ||
       [ ! -s "$dir/model.qdq.onnx" ]; then
        echo "skipped: $name onnxruntime check (node, bench/node_modules/onnxruntime-node or the export missing)"
        return 0
    fi
    q=$(json_get "$dir/report.json" quantized top1)
    o=$(node "$SRC/bench/ort_eval.mjs" "$dir/model.qdq.onnx" "$DATA/t10k-images-idx3-ubyte.gz" \
        "$DATA/t10k-labels-idx1-ubyte.gz" --limit "$count" 2>&1)
    t=$(echo "$o" | sed -nE 's/.*"top1":([0-9.]+).*/\1/p')
    if [ -n "$t" ] && awk -v a="$t" -v b="$q" -v e="$tol" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= e) }'; then
        ok "$name export: onnxruntime top1 $t, ptq simulation $q"
    else
        bad "$name export: onnxruntime top1 '$t' vs ptq simulation $q: $o"
    fi
}

# npy_images IDX_GZ OUT COUNT: the first COUNT images of a gzipped IDX image file (28 x 28,
# the Fashion-MNIST ones) as a uint8 COUNT x 28 x 28 .npy, no labels: an unlabelled
# evaluation set, in plain shell (the .npy header is text, the pixels are the IDX bytes).
npy_images() {
    local src=$1 out=$2 n=$3 header
    header="{'descr': '|u1', 'fortran_order': False, 'shape': ($n, 28, 28), }"
    while [ $(( (10 + ${#header} + 1) % 64 )) -ne 0 ]; do header="$header "; done
    { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $(( ${#header} + 1 )))\\x00"
      printf '%s\n' "$header"; zcat "$src" | tail -c +17 | head -c $((n * 784)); } > "$out"
}

# tiny_pipeline YAML WEIGHTS [MORE]: the fault tests' whole pipeline in little: the
# BN-free two-output test model ($MODEL), 16 images ($TMP/img.npy, written here) to
# calibrate and evaluate on, WEIGHTS as the weights' spec, minmax 8-bit activations,
# seed 0, and MORE (passes:, output:) appended.
tiny_pipeline() {
    MODEL=$SRC/tests/data/two_outputs.onnx
    npy_images "$DATA/t10k-images-idx3-ubyte.gz" "$TMP/img.npy" 16
    cat > "$1" <<YAML
model: $MODEL
calibration: {images: $TMP/img.npy, count: 16, normalize: {mean: [0.286], std: [0.353]}}
evaluation: {images: $TMP/img.npy, count: 16}
quantization:
  weights:     $2
  activations: {bits: 8, granularity: tensor, symmetric: false, observer: minmax}
seed: 0
${3:-}
YAML
}

# fidelity_get FILE INDEX KEY: KEY of output INDEX (0-based) in report.json's "fidelity"
# (one key per line, as ptq writes it); empty when absent.
fidelity_get() {
    awk -v want="$2" -v key="$3" '
        /^  "fidelity": \{/ { in_f = 1; k = -1; next }
        in_f && /^  [}"]/ { exit }
        in_f && /^        "name": / { k++ }
        in_f && k == want && index($0, "\"" key "\": ") > 0 {
            v = substr($0, index($0, "\"" key "\": ") + length(key) + 4)
            sub(/,$/, "", v); gsub(/"/, "", v); print v; exit
        }' "$1"
}
