#!/usr/bin/env bash
# ab.sh — `ptq ab` as a user runs it: a variants file on ResNet-20 (rounding to nearest,
# BRECQ-style block reconstruction, and a longer one) x 2 seeds; what the runs share runs
# once (the dry run and ab.json say so); every run's top-1 equals a fresh `ptq run` of its
# own pipeline.yaml (sharing changes nothing); ab.json's statistics hang together; ab.html
# passes the browser check; a run whose pass fails or whose process dies is marked failed
# while the others finish; Ctrl-C keeps the finished runs, marked incomplete; mpirun -np 2
# gives the single-process results; and the refusals (different models, duplicate names,
# bad overlays, all reported at once) name the file, line and column.
. "$(dirname "$0")/lib.sh"
limit=${PTQ_E2E_LIMIT:-0}
count=$([ "$limit" -gt 0 ] && echo 200 || echo 400)
iters=$([ "$limit" -gt 0 ] && echo 4 || echo 20)
# Under the sanitizers one run is re-run alone (the paths), here two.
alone=$([ "$limit" -gt 0 ] && echo "brecq/seed1" || echo "brecq/seed1 longer/seed0")
plugins=$(dirname "$PTQ")/tests/plugins
check_html=$SRC/tests/e2e/check_html.sh

base() { # base OUT: a ResNet-20 W3A4 pipeline with a reconstruction pass
    cat > "$1" <<YAML
model: $SRC/models/resnet20_fmnist.onnx
calibration:
  images: $DATA/train-images-idx3-ubyte.gz
  count: 64
evaluation:
  images: $DATA/t10k-images-idx3-ubyte.gz
  labels: $DATA/t10k-labels-idx1-ubyte.gz
  count: $count
quantization:
  weights: {bits: 3, granularity: channel, symmetric: false, observer: mse}
  activations: {bits: 4, granularity: tensor, symmetric: false, observer: mse}
  target: none
  overrides:
    - nodes: [first, last]
      weights: {bits: 8}
      activations: {bits: 8}
passes:
  - adaround.reconstruct: {granularity: block, iterations: $iters, batch: 16}
output: {dir: $TMP/never}
seed: 0
YAML
}
base "$TMP/ab.yaml"
cat >> "$TMP/ab.yaml" <<YAML
variants:
  seeds: 2
  nearest: {without: adaround.reconstruct}
  brecq: {}
  longer: {params: {adaround.reconstruct: {iterations: $((iters * 2))}}}
YAML

# ---- the plan: 6 runs, the setup and calibration shared within each seed ---------------
if "$PTQ" ab "$TMP/ab.yaml" --dry-run --out "$TMP/out" > "$TMP/dry.log" 2>&1 &&
   grep -q "3 variants x 2 seeds = 6 runs" "$TMP/dry.log" &&
   grep -q "shared by 3 runs: core.calibrate" "$TMP/dry.log" &&
   grep -q "steps: 22 in all, 10 to run (12 shared)" "$TMP/dry.log" && [ ! -e "$TMP/out" ]; then
    ok "dry run: 6 runs, setup and calibration shared by 3 runs per seed, nothing written"
else
    bad "dry run: $(cat "$TMP/dry.log")"
fi

# ---- the A/B ---------------------------------------------------------------------------
if "$PTQ" ab "$TMP/ab.yaml" --out "$TMP/out" > "$TMP/ab.log" 2> "$TMP/ab.err"; then
    ok "ptq ab ran: $(grep -c . "$TMP/ab.log") lines of summary"
else
    bad "ptq ab failed: $(tail -5 "$TMP/ab.err")"
fi
J=$TMP/out/ab.json
n_ok=$(grep -c '"status": "ok"' "$J" 2>/dev/null)
[ "$n_ok" = 6 ] && ok "all 6 runs finished" || bad "runs ok: $n_ok of 6"
[ "$(json_get "$J" "" complete)" = true ] && ok "ab.json: complete" || bad "ab.json: not complete"
for d in nearest/seed0 brecq/seed1 longer/seed0; do
    for f in report.json report.html pipeline.yaml model.qdq.onnx predictions.npy run.txt log.txt; do
        [ -s "$TMP/out/$d/$f" ] || bad "$d/$f missing"
    done
done
[ ! -e "$TMP/out/.work" ] && ok "no working files left" || bad ".work left behind"
grep -q '"what": "setup, core.fold_bn, core.calibrate"' "$J" && ok "ab.json says what was shared" ||
    bad "ab.json shared: $(grep -A3 '"shared"' "$J" | head -8)"
grep -q "^winner " "$TMP/ab.log" && grep -q "McNemar p" "$TMP/ab.log" && ok "terminal table with pairs and winner line" ||
    bad "terminal table: $(cat "$TMP/ab.log")"

# Sharing changes nothing: each run's pipeline.yaml, run alone, gives its top-1 exactly.
for d in $alone; do
    a=$(sed -nE 's/^top1 (.*)/\1/p' "$TMP/out/$d/run.txt")
    "$PTQ" run "$TMP/out/$d/pipeline.yaml" --out "$TMP/alone" --force > /dev/null 2>&1
    b=$(json_get "$TMP/alone/report.json" quantized top1)
    if awk -v a="$a" -v b="$b" 'BEGIN { exit !(a != "" && (a - b < 1e-12 && b - a < 1e-12)) }'; then
        ok "$d: ptq ab top-1 $a equals ptq run's $b"
    else
        bad "$d: ptq ab top-1 '$a', ptq run '$b'"
    fi
done

# The statistics hang together: every interval holds its difference, p in [0, 1], and the
# pair's difference is the mean of its seeds' differences.
if /usr/bin/python3 - "$J" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
top = {}
for run in r["runs"]:
    top.setdefault(run["variant"], {})[run["seed"]] = run["top1"]
assert len(r["pairs"]) == 3, r["pairs"]
for p in r["pairs"]:
    lo, hi = p["ci95"]
    assert lo <= p["diff"] <= hi and 0 <= p["p"] <= 1 and p["p"] <= p["p_holm"] <= 1, p
    d = sum(top[p["b"]][s] - top[p["a"]][s] for s in (0, 1)) / 2
    assert abs(d - p["diff"]) < 1e-9, (d, p)
    assert p["images"] == 2 * r["runs"][0]["images"]
for v in r["variants"]:
    xs = list(top[v["name"]].values())
    assert abs(v["top1"]["mean"] - sum(xs) / 2) < 1e-12 and v["top1"]["min"] == min(xs)
PY
then ok "ab.json: intervals, p-values, means and pooled image counts consistent"
else bad "ab.json statistics inconsistent"
fi

if [ -x "$check_html" ] || [ -f "$check_html" ]; then
    bash "$check_html" "$TMP/out/ab.html" > "$TMP/html.log" 2>&1
    case $? in
    0) ok "ab.html loads in Chromium without console errors and is not blank" ;;
    77) echo "skipped: $(cat "$TMP/html.log")" ;;
    *) bad "ab.html: $(cat "$TMP/html.log")" ;;
    esac
fi

# ---- a run that fails, a process that dies: the others finish ----------------------------
base "$TMP/f.yaml"
sed -i 's#^passes:#passes:\n  - good.count: {}#' "$TMP/f.yaml"
cat >> "$TMP/f.yaml" <<YAML
variants:
  fine: {without: adaround.reconstruct}
  fails: {without: adaround.reconstruct, params: {good.count: {label: fail}}}
  dies: {without: adaround.reconstruct, params: {good.count: {label: abort}}}
YAML
"$PTQ" ab "$TMP/f.yaml" --plugins "$plugins" --out "$TMP/f" > "$TMP/f.log" 2> "$TMP/f.err"
rc=$?
J=$TMP/f/ab.json
if [ "$rc" = 1 ] && grep -q "2 of 3 runs failed" "$TMP/f.err" &&
   /usr/bin/python3 -c '
import json, sys
r = {x["variant"]: x for x in json.load(open(sys.argv[1]))["runs"]}
assert r["fine"]["status"] == "ok", r["fine"]
assert r["fails"]["status"] == "failed" and "asked to fail" in r["fails"]["error"], r["fails"]
assert r["dies"]["status"] == "failed" and "signal" in r["dies"]["error"], r["dies"]
' "$J"; then
    ok "a failing pass and a dying process are marked failed with their errors; the other run finished"
else
    bad "failures: rc $rc, $(tail -3 "$TMP/f.err")"
fi
[ -s "$TMP/f/fails/seed0/log.txt" ] && grep -q "asked to fail" "$TMP/f/fails/seed0/log.txt" &&
    ok "the failed run's log is kept" || bad "failed run's log missing"

# ---- Ctrl-C (release suite: signals and waiting are not what the sanitizers look at) -----
if [ "$limit" -eq 0 ]; then
base "$TMP/c.yaml"
sed -i "s#iterations: $iters,#iterations: 100000,#" "$TMP/c.yaml"
cat >> "$TMP/c.yaml" <<YAML
variants:
  nearest: {without: adaround.reconstruct}
  slow: {}
YAML
"$PTQ" ab "$TMP/c.yaml" --jobs 2 --out "$TMP/c" > "$TMP/c.log" 2> "$TMP/c.err" &
pid=$!
for _ in $(seq 900); do # until the quick run is in place (its directory appears whole)
    ls -d "$TMP"/c.tmp-*/nearest/seed0 > /dev/null 2>&1 && break
    sleep 0.2
done
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" = 130 ] && [ "$(json_get "$TMP/c/ab.json" "" complete)" = false ] &&
   grep -q '"status": "ok"' "$TMP/c/ab.json" && grep -qE '"status": "(interrupted|not_run)"' "$TMP/c/ab.json" &&
   [ ! -e "$TMP/c/.work" ] && [ -s "$TMP/c/nearest/seed0/report.json" ] && [ ! -e "$TMP/c/slow" ]; then
    ok "Ctrl-C: exit 130, the finished run kept, the other marked, ab.json incomplete"
else
    bad "Ctrl-C: rc $rc, $(tail -3 "$TMP/c.err"), $(ls -a "$TMP/c" 2>&1 | tr '\n' ' ')"
fi
pgrep -f "$TMP/c.yaml" > /dev/null && bad "workers left running after Ctrl-C" || ok "no worker left running"
fi

# ---- MPI ---------------------------------------------------------------------------------
if ! command -v mpirun > /dev/null 2>&1; then
    echo "skipped: mpirun -np 2 (Open MPI's mpirun not found: apt-get install openmpi-bin)"
elif ! ldd "$PTQ" | grep -q libmpi; then
    echo "skipped: mpirun -np 2 (this ptq was built without Open MPI: libopenmpi-dev)"
else
    # Open MPI's own allocations outlive MPI_Finalize: the leak checker is for ours.
    # In containers, cross-memory attach (the shared-memory transport's single copy) is
    # often forbidden: plain copies through shared memory work everywhere.
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader,tcp
    export OMPI_MCA_btl_vader_single_copy_mechanism=none
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    # seed 0 only: three of the single-process A/B's six runs, spread over two ranks
    if mpirun -np 2 --oversubscribe "$PTQ" ab "$TMP/ab.yaml" --seeds 1 --out "$TMP/mpi" --jobs 1 > "$TMP/mpi.log" 2>&1 &&
       /usr/bin/python3 -c '
import json, sys
a = {x["dir"]: x["top1"] for x in json.load(open(sys.argv[1]))["runs"]}
b = json.load(open(sys.argv[2]))
assert b["ranks"] == 2 and len(b["runs"]) == 3, b
for x in b["runs"]:
    assert x["status"] == "ok" and x["top1"] == a[x["dir"]], x
' "$TMP/out/ab.json" "$TMP/mpi/ab.json"; then
        ok "mpirun -np 2: the runs spread over 2 ranks, gathered on rank 0, the same top-1 as one process"
    else
        bad "mpirun: $(tail -5 "$TMP/mpi.log")"
    fi
fi

# ---- refusals ----------------------------------------------------------------------------
mkdir -p "$TMP/x" "$TMP/y"
base "$TMP/x/a.yaml"
base "$TMP/y/a.yaml"
base "$TMP/x/vgg.yaml"
sed -i "s#resnet20_fmnist#vgg7_fmnist#" "$TMP/x/vgg.yaml"
expect_error "different models" "differ in their model: an A/B compares" -- \
    "$PTQ" ab "$TMP/x/a.yaml" "$TMP/x/vgg.yaml" --out "$TMP/r"
base "$TMP/x/b.yaml"
sed -i "s#count: $count#count: 150#" "$TMP/x/b.yaml"
expect_error "different evaluation data" "differ in their evaluation data" -- \
    "$PTQ" ab "$TMP/x/a.yaml" "$TMP/x/b.yaml" --out "$TMP/r"
expect_error "duplicate names" "two variants are named 'a'" -- \
    "$PTQ" ab "$TMP/x/a.yaml" "$TMP/y/a.yaml" --out "$TMP/r"
base "$TMP/bad.yaml"
cat >> "$TMP/bad.yaml" <<YAML
variants:
  one: {quantization: {weights: {bits: 99}}}
  two: {without: nothing.here}
  two: {}
  three: {output: {dir: x}}
YAML
"$PTQ" ab "$TMP/bad.yaml" --out "$TMP/r" > /dev/null 2> "$TMP/bad.err"
if grep -qE "bad.yaml:2[0-9]:[0-9]+: variants: two variants named 'two'" "$TMP/bad.err" &&
   grep -qE "bad.yaml:2[0-9]:[0-9]+: variant 'three': 'output' cannot differ" "$TMP/bad.err" &&
   [ ! -e "$TMP/r" ]; then
    ok "bad variants section: every problem with file:line:column"
else
    bad "bad variants: $(cat "$TMP/bad.err")"
fi
sed -i '/two: {}/d; /three:/d' "$TMP/bad.yaml"
"$PTQ" ab "$TMP/bad.yaml" --out "$TMP/r" > /dev/null 2> "$TMP/bad2.err"
if grep -qE "variant 'one': .*bad.yaml:2[0-9]:[0-9]+: .*bits" "$TMP/bad2.err" &&
   grep -qE "variant 'two': .*bad.yaml:2[0-9]:[0-9]+: .*no pass 'nothing.here'" "$TMP/bad2.err" && [ ! -e "$TMP/r" ]; then
    ok "every variant's errors reported together, at the overlay's line and column"
else
    bad "variant errors: $(cat "$TMP/bad2.err")"
fi
base "$TMP/one.yaml"
expect_error "one variant, one seed" "one variant and one seed" -- "$PTQ" ab "$TMP/one.yaml" --out "$TMP/r"
finish
