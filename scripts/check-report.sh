#!/usr/bin/env bash
# Opens report.html and comparison.html in headless Chromium, as a reader
# would, and fails when the page script breaks: a console error, a chart
# whose script did not finish (`data-ready`), a crosshair readout that shows
# nothing when the middle of a chart is hovered (`#hover-test` makes the
# page do that and write the text into `data-hover`), or too few SVG
# `<title>` tooltips. Installs Chromium with apt when it is missing.
# Usage: scripts/check-report.sh [GATESIM_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-./target/release/gatesim}"

browser=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then
    echo "chromium is missing: installing it with apt"
    if [ "$(id -u)" = 0 ]; then apt="apt-get"; else apt="sudo apt-get"; fi
    $apt update -qq && DEBIAN_FRONTEND=noninteractive $apt install -y -qq chromium >/dev/null
    browser=chromium
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" run scenarios/quickstart.ron --quiet --out "$work/run"
"$bin" compare scenarios/arch-single.ron scenarios/arch-bff.ron -r 2 --quiet --out "$work/compare"

failed=0
check() { # page, minimum number of interactive charts
    local page="$1" charts="$2" dom log
    dom="$work/dom.html"; log="$work/console.log"
    "$browser" --headless --no-sandbox --disable-gpu --window-size=1400,2000 \
        --virtual-time-budget=5000 --enable-logging=stderr --v=0 \
        --dump-dom "file://$page#hover-test" >"$dom" 2>"$log" || true
    local name errors ready hovered titles
    name="$(basename "$page")"
    errors="$(grep -E 'CONSOLE|Uncaught' "$log" | grep -ivE 'dbus|gpu' || true)"
    ready="$(grep -o 'data-ready="1"' "$dom" | wc -l)"
    hovered="$(grep -oE 'data-hover="[^"]+[0-9][^"]*"' "$dom" | wc -l)"
    titles="$(grep -o '<title>' "$dom" | wc -l)"
    echo "$name: $ready charts ready, $hovered with a hover readout, $titles tooltips"
    if [ -n "$errors" ]; then echo "  console errors:"; echo "$errors" | sed 's/^/    /'; failed=1; fi
    if [ "$ready" -lt "$charts" ]; then echo "  expected at least $charts interactive charts"; failed=1; fi
    if [ "$hovered" -lt "$charts" ]; then echo "  a chart showed no values when hovered"; failed=1; fi
    if [ "$titles" -lt 10 ]; then echo "  expected at least 10 <title> tooltips"; failed=1; fi
}
check "$work/run/report.html" 4
check "$work/compare/comparison.html" 1
if [ "$failed" != 0 ]; then echo "report check FAILED"; exit 1; fi
echo "report check passed"
