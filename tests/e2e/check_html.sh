#!/usr/bin/env bash
# check_html.sh FILE.html [SCREENSHOT.png] — a self-contained report page (report.html,
# ab.html) in headless Chromium: it references nothing to load, it renders with no
# console error, and its screenshot (kept at SCREENSHOT.png when given) is not blank.
# Exit 0: ok; 1: a failure, said on stdout; 77: skipped, Chromium not installed.
#
# Console errors: with --enable-logging=stderr Chromium writes every console message as
# an "INFO:CONSOLE" line whatever its level, so levels cannot be told apart there.  The
# pages are built without any script, so nothing may write to their console: every
# CONSOLE line (an uncaught exception, a blocked or failed load, a parse problem the
# browser reports) counts as an error.  Everything else on stderr (D-Bus, GPU, sandbox
# warnings of a headless container) is Chromium's own noise and ignored.
# Failed resource loads never reach that log, so they are excluded statically instead:
# the page may not reference any resource at all (no src=, <link>, url(), @import, no
# http(s):// in any attribute), which is what "self-contained" means.
set -u
page=${1:?usage: check_html.sh FILE.html [SCREENSHOT.png]}
fail() { echo "FAIL $page: $*"; exit 1; }
[ -s "$page" ] || fail "missing or empty"

chromium=""
if [ -x /usr/bin/chromium ]; then chromium=/usr/bin/chromium
elif command -v chromium >/dev/null 2>&1; then chromium=$(command -v chromium)
fi
[ -n "$chromium" ] || { echo "skipped: chromium not found"; exit 77; }
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3) || fail "python3 not found (needed to read the screenshot)"

# --- nothing to load
refs=$(grep -noiE '(src|srcset|poster|data|action)="[^"]*"|="https?://[^"]*"|url\(|@import|<link|<iframe|<object|<embed' "$page" | head -n 5)
[ -z "$refs" ] || fail "references a resource (a self-contained page loads nothing): $refs"

# --- render
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shot=${2:-$tmp/screenshot.png}
rm -f "$shot"
url="file://$(realpath "$page")"
timeout 60 "$chromium" --headless=new --no-sandbox --disable-gpu --no-first-run \
    --enable-logging=stderr --v=0 --hide-scrollbars --user-data-dir="$tmp/profile" \
    --window-size=1280,2000 --screenshot="$shot" "$url" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
[ "$rc" -ne 124 ] || fail "chromium did not finish within 60 s"
[ "$rc" -eq 0 ] || fail "chromium exited with $rc: $(tail -n 3 "$tmp/stderr")"
console=$(grep -E ':CONSOLE|Uncaught' "$tmp/stderr" | sed -E 's/^\[[^]]*\] *//' | head -n 5)
[ -z "$console" ] || fail "console error: $console"
[ -s "$shot" ] || fail "no screenshot written ($(tail -n 2 "$tmp/stdout" "$tmp/stderr"))"

# --- not blank: at least 1 % of the pixels differ from the most common colour.  A PNG
# reader on the standard library alone (zlib): 8-bit grey/RGB/RGBA, not interlaced, which
# is what Chromium writes.
"$python" - "$shot" "$page" <<'PY' || exit 1
import collections, struct, sys, zlib

path, page = sys.argv[1], sys.argv[2]
data = open(path, 'rb').read()
if data[:8] != b'\x89PNG\r\n\x1a\n':
    sys.exit(print(f'FAIL {page}: the screenshot {path} is not a PNG') or 1)
pos, idat, ihdr = 8, [], None
while pos + 8 <= len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b'IHDR':
        ihdr = struct.unpack('>IIBBBBB', body)
    elif kind == b'IDAT':
        idat.append(body)
    elif kind == b'IEND':
        break
w, h, depth, ctype, _, _, interlace = ihdr
if depth != 8 or interlace or ctype not in (0, 2, 4, 6):
    sys.exit(print(f'FAIL {page}: screenshot PNG depth {depth}, colour type {ctype}, interlace {interlace} not read here') or 1)
bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
stride = w * bpp
raw = zlib.decompress(b''.join(idat))
prev = bytearray(stride)
counts = collections.Counter()
last = collections.Counter({bytes(bpp): w})  # the pixel counts of the row above
for y in range(h):
    f = raw[y * (stride + 1)]
    row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if (f == 2 and not any(row)) or (f == 0 and row == prev):  # the row above again
        counts.update(last)
        continue
    if f == 1:
        for i in range(bpp, stride):
            row[i] = (row[i] + row[i - bpp]) & 255
    elif f == 2:
        for i in range(stride):
            row[i] = (row[i] + prev[i]) & 255
    elif f == 3:
        for i in range(stride):
            row[i] = (row[i] + ((row[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
    elif f == 4:
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    last = collections.Counter(bytes(row[i:i + bpp]) for i in range(0, stride, bpp))
    counts.update(last)
    prev = row
colour, most = counts.most_common(1)[0]
other = 1 - most / (w * h)
if other < 0.01:
    sys.exit(print(f'FAIL {page}: blank screenshot: {100 * other:.3f} % of {w}x{h} pixels differ '
                   f'from #{colour.hex()}') or 1)
print(f'screenshot {w}x{h}: {100 * other:.1f} % of the pixels differ from the background #{colour.hex()}')
PY
echo "ok   $page: rendered in Chromium with no console error"
