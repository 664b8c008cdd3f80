#!/bin/bash
# alloc_faults.sh — out of memory at every allocation site a short pipeline reaches (a
# -DPTQ_FAULT_INJECT=ON build: PTQ_FAIL_ALLOC=N fails the N-th allocation of libptq and
# the CLI, see core/src/fault.h).  A counting run learns how many allocations `ptq run`
# makes; then, for the first sites and a spread over the rest, the run with that one
# allocation failing must either succeed (the allocation was optional and handled) or
# exit 1 with an "out of memory" message: no crash, no sanitizer report (under ASan: no
# leak), and neither the output directory nor its temporary directory left behind.  The
# same for `ptq infer` (ONNX import, execution, the .npy writer).
#
#   alloc_faults.sh PTQ SRC [SUMMARY]   SUMMARY: where the summary table goes (default:
#                                       alloc_faults.txt beside PTQ); docs/RELIABILITY.md
#                                       quotes it
# PTQ_FAULT_SAMPLES (default 100) bounds the `ptq run` sites tried: all of the first 50,
# then every k-th; PTQ_FAULT_SAMPLES=0 tries every site (a few minutes in a release build).
source "$(dirname "$0")/lib.sh"
SUMMARY=${3:-$(dirname "$PTQ")/alloc_faults.txt}
# One thread: allocations made inside parallel regions would otherwise reach the counter
# in a different order from run to run, and N would not name one site.
export PTQ_THREADS=1 OMP_NUM_THREADS=1
export PTQ_CACHE_DIR=off
unset PTQ_FAIL_ALLOC PTQ_FAIL_ALLOC_PERSIST PTQ_FAIL_WRITE PTQ_FAIL_ALLOC_COUNT

# A whole pipeline in little: BN-free two-output model, 16 images, minmax W4A8, AdaRound
# with 2 steps per layer (a plugin, so the host table's allocator is reached), fidelity
# on 16 unlabelled images, the export and the reports.
tiny_pipeline "$TMP/p.yaml" "{bits: 4, granularity: channel, symmetric: false, observer: minmax}" \
    "passes:
  - adaround.reconstruct: {granularity: layer, iterations: 2}
output: {dir: $TMP/o/out}"
mkdir -p "$TMP/o"

# count_sites CMD...: the allocations CMD makes (it must succeed).
count_sites() {
    local out
    out=$(PTQ_FAIL_ALLOC_COUNT=1 "$@" 2>&1 >/dev/null)
    echo "$out" | sed -nE 's/^ptq: ([0-9]+) allocations.*/\1/p' | tail -n 1
}

# sample TOTAL MAX: 1..50, then every k-th up to TOTAL (and TOTAL itself), about MAX in all.
sample() {
    local total=$1 max=$2 head=50 k n
    if [ "$max" -le 0 ] || [ "$total" -le "$max" ]; then seq 1 "$total"; return; fi
    [ "$max" -le "$head" ] && head=$((max / 2))
    seq 1 "$head"
    k=$(( (total - head + max - head - 1) / (max - head) ))
    for ((n = head + k; n < total; n += k)); do echo "$n"; done
    echo "$total"
}

# try_site LABEL N OUT_PATH CMD...: CMD with allocation N failing; OUT_PATH (a directory or
# file) must not exist after a failure, nor anything named OUT_PATH.tmp*.
clean=0 handled=0 broken=0
try_site() {
    local label=$1 n=$2 out_path=$3 err rc left
    shift 3
    rm -rf "$out_path"
    err=$(PTQ_FAIL_ALLOC=$n "$@" 2>&1 >/dev/null)
    rc=$?
    left=$(ls -d "$out_path" "$out_path".tmp* 2>/dev/null)
    if echo "$err" | grep -qE 'AddressSanitizer|LeakSanitizer|runtime error'; then
        bad "$label site $n: sanitizer report: $(echo "$err" | grep -m3 -E 'ERROR|SUMMARY|#[0-9] ')"
        broken=$((broken + 1))
    elif [ "$rc" -eq 0 ]; then
        handled=$((handled + 1))
    elif [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
        bad "$label site $n: exit status $rc (a crash): $(echo "$err" | tail -n 3)"
        broken=$((broken + 1))
    elif ! echo "$err" | grep -qi 'out of memory'; then
        bad "$label site $n: exit $rc without saying out of memory: $(echo "$err" | tail -n 2)"
        broken=$((broken + 1))
    elif [ -n "$left" ]; then
        bad "$label site $n: left behind after the failure: $left"
        broken=$((broken + 1))
    else
        clean=$((clean + 1))
    fi
    rm -rf "$out_path" "$out_path".tmp*
}

# walk LABEL MAX OUT_PATH CMD...: the counting run, then the sampled sites; one summary row.
rows=""
walk() {
    local label=$1 max=$2 out_path=$3 total tried=0 t0=$SECONDS
    shift 3
    rm -rf "$out_path"
    total=$(count_sites "$@")
    if [ -z "$total" ] || [ ! -e "$out_path" ]; then
        bad "$label: the counting run failed or wrote no $out_path (is this a PTQ_FAULT_INJECT build?)"
        return
    fi
    clean=0 handled=0 broken=0
    for n in $(sample "$total" "$max"); do
        try_site "$label" "$n" "$out_path" "$@"
        tried=$((tried + 1))
    done
    [ "$broken" -eq 0 ] && ok "$label: $tried of $total allocation sites failed in turn: $clean clean errors, $handled handled (run succeeded)"
    rows="$rows| \`$label\` | $total | $tried | $clean | $handled | $broken | $((SECONDS - t0)) s |
"
}

walk "ptq run" "${PTQ_FAULT_SAMPLES:-100}" "$TMP/o/out" "$PTQ" run "$TMP/p.yaml"
walk "ptq infer" 30 "$TMP/o/y.npy" "$PTQ" infer "$MODEL" --input "$TMP/img.npy" --output "$TMP/o/y.npy"

build=$( [ -n "${ASAN_OPTIONS:-}" ] && echo "ASan/UBSan, ASAN_OPTIONS=$ASAN_OPTIONS" || echo "no sanitizer")
{
    echo "| command | allocations | sites tried | clean error | succeeded | failed the check | time |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s' "$rows"
    echo
    echo "($build; PTQ_THREADS=1; $(date -u +%Y-%m-%d))"
} > "$SUMMARY"
cat "$SUMMARY"
finish
