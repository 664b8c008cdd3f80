#!/usr/bin/env bash
# plugin_faults.sh — plugins that misbehave, and signals during `ptq run`
# (docs/RELIABILITY.md): `ptq plugins --check` on each faulty test plugin
# (tests/plugins/faulty/), discovery that survives a plugin crashing or hanging at load,
# a pass that crashes during a run, SIGINT and SIGTERM sent to a running `ptq run`.
# Usage: plugin_faults.sh PTQ SOURCE_DIR FAULTY_PLUGIN_DIR TEST_PLUGIN_DIR
. "$(dirname "$0")/lib.sh"
FAULTY=${3:?usage: $0 PTQ SOURCE_DIR FAULTY_PLUGIN_DIR TEST_PLUGIN_DIR}
GOOD=${4:?usage: $0 PTQ SOURCE_DIR FAULTY_PLUGIN_DIR TEST_PLUGIN_DIR}/good.so
# A hanging plugin is killed after this many seconds (default 10): keep the test short.
export PTQ_PLUGIN_TIMEOUT=1
unset PTQ_PLUGIN_PATH

sanitized() { echo "$1" | grep -qE 'AddressSanitizer|runtime error|LeakSanitizer'; }

# expect_check NAME RC PATTERN...: `ptq plugins --check FAULTY/NAME.so` exits RC and
# prints every PATTERN (grep -E) on stdout.
expect_check() {
    local name=$1 want=$2 out rc p
    shift 2
    out=$("$PTQ" plugins --check "$FAULTY/$name.so" 2>&1)
    rc=$?
    if [ "$rc" -ne "$want" ]; then bad "check $name: exit $rc (expected $want): $out"; return; fi
    if sanitized "$out"; then bad "check $name: sanitizer report: $out"; return; fi
    for p in "$@"; do
        if ! echo "$out" | grep -qE -- "$p"; then bad "check $name: no /$p/ in: $out"; return; fi
    done
    ok "check $name: $(echo "$out" | head -n 1 | sed "s#$FAULTY/##")"
}

# --- ptq plugins --check, one faulty plugin at a time
expect_check crash_entry 1 "crashed in entry \(ptq_plugin_entry\) with signal 11 \(SIGSEGV\)"
expect_check crash_ctor 1 "crashed in load \(dlopen: a constructor.*\) with signal 11 \(SIGSEGV\)"
expect_check crash_init 1 "crashed in init with signal 11 \(SIGSEGV\)"
expect_check hang_init 1 "hung in init \(no answer within 1 s; killed\)"
expect_check bad_names 1 "pass 'other.x' must be named 'bad_names.<name>'" \
    "pass 'bad_names.Tune' must be named" "parameter 0 of pass 'bad_names.Tune': name 'dry-run' is not"
expect_check dup_param 1 "parameter 'steps' of pass 'dup_param.x' is defined twice"
expect_check default_range 1 "parameter 'lr' of pass 'default_range.x': default 2.5 outside its range \[0, 1\]" \
    "parameter 'mode' .*default index 5 is not one of its 2 choices" "parameter 'n' .*range \[10, 1\] is empty"
expect_check unsatisfiable_read 1 "pass 'unsatisfiable_read.x' reads 'quant.weight', which neither the host nor any pass"
expect_check no_terminator 1 "pass 'no_terminator.x': its parameter table has no \{0\} terminator within 256 entries"
expect_check crash_pass 0 "ok \(plugin 'crash_pass' 1.0, 1 pass\)"
out=$("$PTQ" plugins --check "$GOOD" "$(dirname "$GOOD")/wrong_abi.so" 2>&1); rc=$?
if [ "$rc" -eq 1 ] && echo "$out" | grep -q "good.so: ok (plugin 'good' 1.2.3, 1 pass)" &&
   echo "$out" | grep -q "wrong_abi.so: built for plugin ABI 99"; then
    ok "check two files: one ok, one of another ABI"
else
    bad "check two files: exit $rc: $out"
fi

# --- discovery: crashing and hanging plugins in the search path are named and skipped
mkdir -p "$TMP/mixed"
for p in crash_entry crash_ctor crash_init hang_init crash_pass; do cp "$FAULTY/$p.so" "$TMP/mixed/"; done
cp "$GOOD" "$TMP/mixed/"
out=$(PTQ_PLUGIN_PATH="$TMP/mixed" "$PTQ" plugins 2>&1); rc=$?
if [ "$rc" -eq 0 ] && ! sanitized "$out" && echo "$out" | grep -q "^good 1.2.3" &&
   echo "$out" | grep -q "crash_entry.so: crashed at load (signal 11, SIGSEGV, in entry); skipped" &&
   echo "$out" | grep -q "crash_ctor.so: crashed at load (signal 11, SIGSEGV, in dlopen (a constructor)); skipped" &&
   echo "$out" | grep -q "crash_init.so: crashed at load (signal 11, SIGSEGV, in init); skipped" &&
   echo "$out" | grep -q "hang_init.so: hung at load (in init, no answer within 1 s; killed); skipped"; then
    ok "ptq plugins survives plugins that crash or hang at load"
else
    bad "ptq plugins with crashing plugins: exit $rc: $out"
fi
out=$(PTQ_PLUGIN_PATH="$TMP/mixed" "$PTQ" plugins --check 2>&1); rc=$?
if [ "$rc" -eq 1 ] && echo "$out" | grep -q "good.so: ok" && echo "$out" | grep -q "crash_init.so: crashed in init" &&
   [ "$(echo "$out" | grep -c "$TMP/mixed/")" -ge 6 ]; then
    ok "ptq plugins --check without files checks every plugin found"
else
    bad "ptq plugins --check without files: exit $rc: $out"
fi

cut_example rtn_w8a8 "$TMP/rtn.yaml" 32 100 1000
out=$(cd "$TMP" && PTQ_PLUGIN_PATH="$TMP/mixed" "$PTQ" run "$TMP/rtn.yaml" --out "$TMP/rtn" 2>&1); rc=$?
if [ "$rc" -eq 0 ] && [ -s "$TMP/rtn/report.json" ] &&
   echo "$out" | grep -q "warning: plugin not loaded: .*crash_init.so: crashed at load (signal 11, SIGSEGV, in init)"; then
    ok "ptq run with crashing plugins in PTQ_PLUGIN_PATH: named, skipped, the run succeeds"
else
    bad "ptq run with crashing plugins: exit $rc: $out"
fi

# --- a pass that crashes: named with its plugin, no output directory, dies of SIGSEGV
sed -e 's#^passes: .*#passes:\n  - crash_pass.boom: {}#' "$TMP/rtn.yaml" > "$TMP/crash.yaml"
mkdir -p "$TMP/runs"
out=$(PTQ_PLUGIN_PATH="$FAULTY" "$PTQ" run "$TMP/crash.yaml" --out "$TMP/runs/crash" 2>&1); rc=$?
left=$(ls -A "$TMP/runs")
if echo "$out" | grep -q "ptq: fatal signal 11 (SIGSEGV) in pass 'crash_pass.boom' of plugin 'crash_pass' ($FAULTY/crash_pass.so); no output written" &&
   [ -z "$left" ] && { [ "$rc" -eq 139 ] || { sanitized "$out" && [ "$rc" -ne 0 ]; }; }; then
    ok "crash in a pass: plugin and pass named, status $rc, nothing left in the output's parent"
else
    bad "crash in a pass: exit $rc, left: '$left': $out"
fi

# --- SIGINT and SIGTERM during a run: temporary directory removed, status 128 + signal
cut_example adaround_w4a32 "$TMP/long.yaml" 128 100 100000
for sig in INT TERM; do
    rm -rf "$TMP/sig"; mkdir -p "$TMP/sig"
    # Job control on: a background job of a script otherwise starts with SIGINT ignored,
    # which ptq (as any program) leaves ignored.
    set -m
    "$PTQ" run "$TMP/long.yaml" --out "$TMP/sig/out" > "$TMP/sig.log" 2>&1 &
    pid=$!
    set +m
    # Wait until the run is inside its reconstruction (the temporary directory exists).
    for _ in $(seq 1 200); do
        grep -q "running .* passes" "$TMP/sig.log" 2>/dev/null && ls -d "$TMP/sig/out.tmp-"* >/dev/null 2>&1 && break
        sleep 0.1
    done
    sleep 1
    kill -s "$sig" "$pid"
    wait "$pid"; rc=$?
    want=$((128 + $(kill -l "$sig")))
    left=$(ls -A "$TMP/sig")
    if [ "$rc" -eq "$want" ] && [ -z "$left" ] &&
       grep -q "ptq: interrupted by SIG$sig; no output written" "$TMP/sig.log"; then
        ok "SIG$sig during ptq run: status $rc, no output and no temporary directory left"
    else
        bad "SIG$sig during ptq run: exit $rc (expected $want), left: '$left': $(tail -n 3 "$TMP/sig.log")"
    fi
done
finish
