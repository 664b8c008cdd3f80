#!/usr/bin/env bash
# bench/ab_speed.sh — what `ptq ab` saves by sharing (docs/BENCHMARKS.md "A/B").
#
# An A/B of 4 variants x 3 seeds (examples/ab_compose.yaml without its no-fdda variant:
# full, no-dfq, no-modcap, no-nwq, which within a seed all start with the same FDDA
# synthesis) against the same 12 pipelines run one by one with `ptq run` (each run's own
# pipeline.yaml from the A/B's output, so both do exactly the same work).  Prints wall
# times, their ratio, peak memory, and checks that every run's top-1 is the same both ways.
#
# usage: bench/ab_speed.sh [BUILD_DIR] [FDDA_ITERATIONS] [NWQ_ITERATIONS]
#   defaults 200 and 200 (the example's 1000 and 1000 take about 5x as long)
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
fdda_iters=${2:-200}
nwq_iters=${3:-200}
ptq=$build/ptq
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e "s#\.\./models/#$root/models/#" \
    -e "s#fdda.synthesize: {generator: pixels, images_per_class: 32, iterations: 1000}#fdda.synthesize: {generator: pixels, images_per_class: 32, iterations: $fdda_iters}#" \
    -e "s#nwq.reconstruct: {iterations: 1000}#nwq.reconstruct: {iterations: $nwq_iters}#" \
    -e "/no-fdda:/d" "$root/examples/ab_compose.yaml" > "$work/ab.yaml"
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
isa=$(grep -m1 -o -w 'avx512f' /proc/cpuinfo || grep -m1 -o -w 'avx2' /proc/cpuinfo || echo "no AVX2")
echo "# CPU: $cpu ($(nproc) cores, $isa); FDDA $fdda_iters steps, NWQ $nwq_iters iterations"

t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/ab.rss" "$ptq" ab "$work/ab.yaml" --out "$work/ab" > "$work/ab.log" 2> "$work/ab.err" ||
    { tail -5 "$work/ab.err"; exit 1; }
t_ab=$(echo "$(date +%s.%N) - $t0" | bc)
peak_ab=$(/usr/bin/python3 -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["peak_memory_mb"])' "$work/ab/ab.json")

t_runs=0
max_rss=0
for d in $(cd "$work/ab" && ls -d */seed*); do
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/run.rss" "$ptq" run "$work/ab/$d/pipeline.yaml" --out "$work/run" --force \
        > "$work/run.log" 2>&1 || { tail -5 "$work/run.log"; exit 1; }
    t_runs=$(echo "$t_runs + $(date +%s.%N) - $t0" | bc)
    rss=$(cat "$work/run.rss")
    [ "$rss" -gt "$max_rss" ] && max_rss=$rss
    a=$(sed -nE 's/^top1 (.*)/\1/p' "$work/ab/$d/run.txt")
    b=$(grep -m1 -A3 '"quantized"' "$work/run/report.json" | sed -nE 's/.*"top1": ([0-9.e-]+).*/\1/p')
    same=$(awk -v a="$a" -v b="$b" 'BEGIN { print (a - b < 1e-12 && b - a < 1e-12) ? "same" : "DIFFERENT" }')
    echo "# $d: top-1 ab $a, run $b ($same)"
done
printf "what\tseconds\tpeak memory MB\n"
printf "ptq ab (4 variants x 3 seeds, 2 jobs x 1 thread)\t%.0f\t%s (sum of PSS); coordinator RSS %s\n" "$t_ab" "$peak_ab" "$(($(cat "$work/ab.rss") / 1024))"
printf "12 x ptq run, one after another (2 threads)\t%.0f\t%s (largest run)\n" "$t_runs" "$((max_rss / 1024))"
printf "ratio\t%.2fx\n" "$(echo "$t_runs / $t_ab" | bc -l)"
grep -A8 "^shared" "$work/ab.log" | grep -E "^shared|^ " | head -8 | sed 's/^/# /'
