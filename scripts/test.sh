#!/usr/bin/env bash
# test.sh — the README's second command: installs the Debian packages, then builds and
# runs the whole test suite twice:
#   1. a release build with -Werror (what users run), all tests;
#   2. a debug build under AddressSanitizer + UndefinedBehaviorSanitizer, all tests.
# Exits non-zero if anything fails.  Takes a few minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
"$root/scripts/install-deps.sh"

run_suite() { # build_dir, extra cmake args...
    local dir=$1
    shift
    echo "=== configure $dir $*"
    cmake -S "$root" -B "$dir" -DPTQ_WERROR=ON "$@" >/dev/null
    echo "=== build $dir"
    cmake --build "$dir" -j"$jobs"
    echo "=== test $dir"
    (cd "$dir" && ctest --output-on-failure -j"$jobs")
}

run_suite "$root/build" -DCMAKE_BUILD_TYPE=Release
# detect_leaks: every allocation has an owner; halt_on_error: a report fails the test.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DPTQ_SANITIZE=ON
echo "=== all tests passed (release and ASan/UBSan builds)"
