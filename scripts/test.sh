#!/usr/bin/env bash
# test.sh — the README's second command: installs the Debian packages, then builds and
# runs the whole test suite twice:
#   1. a release build with -Werror (what users run), all tests;
#   2. a debug build under AddressSanitizer + UndefinedBehaviorSanitizer, all tests.
# Exits non-zero if anything fails.  About 25 minutes on 2 cores (AVX-512 EPYC), builds included.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
"$root/scripts/install-deps.sh"
# onnxruntime-node (npm) lets e2e.ort_interop check the exported models in onnxruntime;
# without node or the npm registry that test is skipped with the reason.
if command -v npm >/dev/null 2>&1 && [ ! -d "$root/bench/node_modules/onnxruntime-node" ]; then
    (cd "$root/bench" && timeout 300 npm install --ignore-scripts --no-audit --no-fund >/dev/null 2>&1) ||
        echo "note: npm install of onnxruntime-node failed; the interop test will be skipped"
fi

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
# The 10k-image accuracy checks run in the release suite above; here the same paths run
# on the first 1000 images (and fewer calibration images and steps): what the sanitizers
# check is the code paths, not the accuracy.
export PTQ_E2E_LIMIT=1000
# RelWithDebInfo (-O2) keeps every check ASan and UBSan make; the dense inner-product
# kernels are built uninstrumented at -O3 in libptq and instrumented in unit.kernels
# (core/CMakeLists.txt), which keeps this suite under the release suite's time.
run_suite "$root/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTQ_SANITIZE=ON
echo "=== all tests passed (release and ASan/UBSan builds)"
