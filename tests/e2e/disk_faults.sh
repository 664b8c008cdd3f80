#!/bin/bash
# disk_faults.sh — an output that cannot be written fails cleanly and leaves nothing:
#   - `ptq run` into an unwritable directory (chmod 555; as root, where the mode does not
#     stop writes, the run is made as user nobody through setpriv) and below a file;
#   - a full disk (a -DPTQ_FAULT_INJECT=ON build: PTQ_FAIL_WRITE=N puts the N-th file
#     written on /dev/full, so its writes fail with ENOSPC): every file `ptq run` writes in
#     turn, and `ptq infer --output` / `--all-outputs`.
# Each must exit 1 with a message naming the file and the reason, and leave neither the
# output nor a temporary file or directory beside it.
source "$(dirname "$0")/lib.sh"
export PTQ_CACHE_DIR=off PTQ_THREADS=${PTQ_THREADS:-2}
unset PTQ_FAIL_ALLOC PTQ_FAIL_ALLOC_PERSIST PTQ_FAIL_WRITE PTQ_FAIL_ALLOC_COUNT
chmod 755 "$TMP" # readable by nobody, for the setpriv case below

tiny_pipeline "$TMP/p.yaml" "{bits: 8, granularity: channel, symmetric: true, observer: minmax}"
chmod 644 "$TMP/p.yaml" "$TMP/img.npy"

# nothing_left NAME PATH: neither PATH nor PATH.tmp* / PATH.old* exists.
nothing_left() {
    local left
    left=$(ls -d "$2" "$2".tmp* "$2".old* 2>/dev/null)
    if [ -z "$left" ]; then ok "$1: nothing left behind"; else bad "$1: left behind: $left"; fi
}

# ---- an unwritable output directory ----------------------------------------------------
mkdir -p "$TMP/ro"
chmod 555 "$TMP/ro"
as=()
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null 2>&1 &&
       setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$PTQ" 2>/dev/null &&
       setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$MODEL" 2>/dev/null; then
        as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    else
        as=(skip)
    fi
fi
if [ "${as[0]:-}" = skip ]; then
    echo "skipped: unwritable directory (running as root, and user nobody cannot run $PTQ through setpriv)"
else
    expect_error "run into a read-only directory" "cannot write in $TMP/ro: Permission denied" -- \
        "${as[@]}" "$PTQ" run "$TMP/p.yaml" --out "$TMP/ro/out"
    nothing_left "run into a read-only directory" "$TMP/ro/out"
    expect_error "run into a read-only directory, two levels down" "cannot write in $TMP/ro" -- \
        "${as[@]}" "$PTQ" run "$TMP/p.yaml" --out "$TMP/ro/a/b"
    nothing_left "run into a read-only directory, two levels down" "$TMP/ro/a"
    expect_error "infer into a read-only directory" "$TMP/ro/y.npy: cannot write: Permission denied" -- \
        "${as[@]}" "$PTQ" infer "$MODEL" --input "$TMP/img.npy" --output "$TMP/ro/y.npy"
    nothing_left "infer into a read-only directory" "$TMP/ro/y.npy"
fi
touch "$TMP/file"
expect_error "run below a file" "is not a directory" -- "$PTQ" run "$TMP/p.yaml" --out "$TMP/file/out"

# ---- a full disk (fault-injection builds) ------------------------------------------------
files=$(PTQ_FAIL_ALLOC_COUNT=1 "$PTQ" run "$TMP/p.yaml" --out "$TMP/count" 2>&1 >/dev/null |
        sed -nE 's/^ptq: [0-9]+ allocations, ([0-9]+) files written$/\1/p')
if [ -z "$files" ]; then
    echo "skipped: disk full (not a -DPTQ_FAULT_INJECT=ON build: no PTQ_FAIL_WRITE)"
    finish
    exit
fi
[ "$files" -ge 4 ] && ok "ptq run writes $files files" || bad "ptq run writes $files files (expected at least 4)"
names=$(ls "$TMP/count" | tr '\n' '|')
for ((n = 1; n <= files; n++)); do
    # The message must name the file (one of the outputs' names) and say why.
    PTQ_FAIL_WRITE=$n expect_error "run, disk full at file $n of $files" \
        "(${names%|}).*No space left on device" -- "$PTQ" run "$TMP/p.yaml" --out "$TMP/full"
    nothing_left "run, disk full at file $n" "$TMP/full"
done
PTQ_FAIL_WRITE=1 expect_error "infer --output, disk full" "y.npy.*No space left on device" -- \
    "$PTQ" infer "$MODEL" --input "$TMP/img.npy" --output "$TMP/y.npy"
nothing_left "infer --output, disk full" "$TMP/y.npy"
mkdir "$TMP/all"
for n in 2 3 4; do
    PTQ_FAIL_WRITE=$n expect_error "infer --all-outputs, disk full at file $n" \
        "No space left on device" -- "$PTQ" infer "$MODEL" --input "$TMP/img.npy" \
        --output "$TMP/y.npy" --all-outputs "$TMP/all"
    left=$(ls "$TMP/all" | grep -E '\.tmp' || true)
    [ -z "$left" ] && ok "infer --all-outputs, disk full at file $n: no temporary file left" ||
        bad "infer --all-outputs, disk full at file $n: left behind: $left"
done
finish
