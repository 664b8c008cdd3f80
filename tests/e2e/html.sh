#!/usr/bin/env bash
# html.sh — report.html beside a real `ptq run` (ResNet-20, round-to-nearest W8A8, a few
# hundred images): written, self-contained, with its charts and tables, and rendered by
# headless Chromium with no console error and a screenshot that is not blank
# (check_html.sh).  64 calibration images: the per-pass measurements run on them.  Exits 77 (skipped) after the other checks when Chromium is absent.
. "$(dirname "$0")/lib.sh"
check="$(dirname "$0")/check_html.sh"

cut_example rtn_w8a8 "$TMP/rtn.yaml" 64 200 1000
if ! out=$("$PTQ" run "$TMP/rtn.yaml" --out "$TMP/run" 2>&1); then
    bad "ptq run failed: $out"
    finish
    exit
fi
page=$TMP/run/report.html
if [ -s "$page" ]; then ok "report.html written beside report.json"; else bad "no report.html in $(ls "$TMP/run")"; fi

# What the page must hold: the run's numbers, one chart per question, the tables.
missing=""
# (Before core.fold_bn there are no quantizers to measure; core.calibrate keeps the
# ranges the measurement after core.fold_bn calibrated provisionally: one series.)
for k in '<svg ' 'Per-layer output SQNR through the passes' '>after core.fold_bn, core.calibrate<' \
         'Time per pass' 'core.fold_bn \(implicit\)' \
         'Layers after the last pass' '<td>/layers/layers.8/c2/Conv</td>' \
         'float [0-9.]+ % -&gt; quantized [0-9.]+ %'; do
    grep -qE "$k" "$page" 2>/dev/null || missing="$missing [$k]"
done
if [ -z "$missing" ]; then ok "report.html has the run's charts and tables"; else bad "report.html lacks:$missing"; fi
if grep -qiE '<script|https?://' "$page" 2>/dev/null; then bad "report.html has a script or a web address"; else ok "report.html: no script, no web address"; fi

# The checker itself fails what it must: a page that loads something (no browser needed).
printf '<!DOCTYPE html><html><body><img src="https://example.com/x.png"/></body></html>' >"$TMP/loads.html"
if bash "$check" "$TMP/loads.html" >/dev/null; then bad "check_html.sh accepted a page that loads a resource"; else ok "check_html.sh refuses a page that loads a resource"; fi

skipped=0
if [ -s "$page" ]; then
    msg=$(bash "$check" "$page" "$TMP/report.png" 2>&1)
    case $? in
    0) ok "$(echo "$msg" | tail -n 1) ($(echo "$msg" | head -n 1))" ;;
    77) echo "$msg"; skipped=1 ;;
    *) bad "$msg" ;;
    esac
    if [ "$skipped" = 0 ]; then
        # ... and a page whose script throws, which only the browser can tell.
        printf '<!DOCTYPE html><html><body><p>text</p><script>nonexistent()</script></body></html>' >"$TMP/throws.html"
        if msg=$(bash "$check" "$TMP/throws.html" 2>&1); then bad "check_html.sh accepted a page whose script throws"
        elif echo "$msg" | grep -q 'Uncaught'; then ok "check_html.sh catches the uncaught exception"
        else bad "check_html.sh failed a throwing page for another reason: $msg"; fi
    fi
fi
finish || exit 1
[ "$skipped" = 0 ] || exit 77
