#!/usr/bin/env bash
# fuzz.sh — the fuzz harnesses of tests/fuzz (docs/RELIABILITY.md).
#   scripts/fuzz.sh                 lists the harnesses, one name per line
#   scripts/fuzz.sh NAME SECONDS    fuzzes NAME for SECONDS with libFuzzer (clang, ASan+UBSan)
# The fuzzers are built in build-fuzz/ (clang and its libFuzzer runtime are installed
# from Debian when missing).  Each run starts from the committed corpus
# tests/fuzz/corpus/NAME plus what earlier runs on this machine found
# (build-fuzz/corpus/NAME), uses the format's dictionary tests/fuzz/NAME.dict, and writes
# any crashing input to build-fuzz/crashes/NAME/.  Exit 0 when it found nothing, 1 when
# it found a crash, leak, timeout or out-of-memory (the reproducer's path is printed:
# once fixed, commit it to tests/fuzz/crashes/NAME/, where the suite replays it).
# One line per run is appended to tests/fuzz/results.tsv (name, wall seconds, CPU
# seconds, executions, edges, new crash files, exit status, date, CPU model), the figures
# docs/RELIABILITY.md quotes (scripts/fuzz_report.sh makes its table from them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
names=$(sed -n 's/^set(PTQ_FUZZERS \(.*\))$/\1/p' "$root/tests/fuzz/CMakeLists.txt")

if [ $# -eq 0 ]; then
    printf '%s\n' $names
    exit 0
fi
if [ $# -ne 2 ] || ! printf '%s\n' $names | grep -qx -- "$1" || ! [[ $2 =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/fuzz.sh [NAME SECONDS]   (NAME: $(echo $names))" >&2
    exit 2
fi
name=$1
seconds=$2
build=${PTQ_FUZZ_BUILD:-$root/build-fuzz}

if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q --no-install-recommends clang libclang-rt-dev >/dev/null
fi
"$root/scripts/install-deps.sh" >/dev/null
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPTQ_SANITIZE=ON -DPTQ_FUZZ=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target fuzzers >/dev/null

work=$build/corpus/$name
crashes=$build/crashes/$name
mkdir -p "$work" "$crashes" "$build/logs"
log=$build/logs/$name-$(date -u +%Y%m%dT%H%M%S).log
before=$(ls "$crashes" | wc -l)
# allocator_may_return_null: a failed allocation must come back as NULL and be handled
# (a model may ask for more than there is); the limits turn a runaway allocation into a
# finding instead of a machine out of memory.
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PTQ_THREADS=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
set +e
TIMEFORMAT='%R %U %S'
{ time "$build/tests/fuzz/fuzz_$name" "$work" "$root/tests/fuzz/corpus/$name" \
    -dict="$root/tests/fuzz/$name.dict" -max_total_time="$seconds" -timeout=30 \
    -rss_limit_mb=3072 -malloc_limit_mb=3072 -print_final_stats=1 \
    -artifact_prefix="$crashes/" > "$log" 2>&1; } 2> "$log.time"
status=$?
set -e
# the last line: bash reports a fuzzer killed by a signal on the lines before it
read -r wall user sys < <(tail -1 "$log.time")
rm -f "$log.time"
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
found=$(( $(ls "$crashes" | wc -l) - before ))
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
printf '%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$wall" "$(awk "BEGIN { print $user + $sys }")" \
    "${execs:-0}" "${edges:-0}" "$found" "$status" "$(date -u +%Y-%m-%dT%H:%MZ)" "$cpu" \
    >> "$root/tests/fuzz/results.tsv"
echo "$name: ${wall%.*} s (CPU ${user%.*}+${sys%.*} s), ${execs:-0} executions, ${edges:-0} edges, $found new crash file(s); log $log"
if [ "$found" -gt 0 ] || [ $status -ne 0 ]; then
    ls -t "$crashes" | head -"$(( found > 0 ? found : 1 ))" | sed "s|^|  reproducer: $crashes/|"
    exit 1
fi
