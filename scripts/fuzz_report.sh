#!/usr/bin/env bash
# fuzz_report.sh [RESULTS.tsv] — the fuzzing table of docs/RELIABILITY.md, from the lines
# scripts/fuzz.sh appends to tests/fuzz/results.tsv (committed with the runs the doc
# quotes): per harness, the runs' wall and CPU hours and executions summed, the most
# edges any run reached, the crash files found.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tsv=${1:-$root/tests/fuzz/results.tsv}
[ -f "$tsv" ] || { echo "fuzz_report: $tsv not found (run scripts/fuzz.sh NAME SECONDS first)" >&2; exit 2; }
echo "| harness | runs | wall hours | CPU hours | executions | edges | findings (crash, timeout, slow input) | reproducers kept |"
echo "|---|---|---|---|---|---|---|---|"
for name in $("$root/scripts/fuzz.sh"); do
    kept=$(find "$root/tests/fuzz/crashes/$name" -type f ! -name '.*' | wc -l)
    awk -F'\t' -v n="$name" -v kept="$kept" '
        $1 == n { runs++; wall += $2; cpu += $3; ex += $4; if ($5 > edges) edges = $5; crashes += $6 }
        END { if (runs) printf "| %s | %d | %.2f | %.2f | %d | %d | %d | %d |\n", n, runs, wall / 3600, cpu / 3600, ex, edges, crashes, kept
              else printf "| %s | 0 | - | - | - | - | - | %d |\n", n, kept }' "$tsv"
done
cpu=$(cut -f9 "$tsv" | sort -u | paste -sd';')
first=$(cut -f8 "$tsv" | sort | head -1)
last=$(cut -f8 "$tsv" | sort | tail -1)
echo
echo "Runs ended between $first and $last, on: $cpu."
