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
