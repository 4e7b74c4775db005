#!/usr/bin/env bash
# Renders a `balgul diff --report FILE.html` page in headless Chromium and saves a PNG, to see
# that the self-contained report renders (charts, Korean labels) without a network.
#
#   scripts/screenshot-report.sh REPORT.html [OUT.png]
#
# Installs Debian's chromium and a Korean font (fonts-noto-cjk) when missing (needs root).
set -euo pipefail
report=${1:?usage: scripts/screenshot-report.sh REPORT.html [OUT.png]}
out=${2:-${report%.html}.png}
if ! command -v chromium >/dev/null; then
    apt-get install -y chromium >/dev/null
fi
if ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then
    apt-get install -y fonts-noto-cjk >/dev/null
fi
abs=$(realpath "$report")
# --no-sandbox: CI containers run as root. No network is needed: the page loads nothing.
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1000,2400 --screenshot="$out" "file://$abs" 2>/dev/null
test -s "$out"
echo "wrote $out"
