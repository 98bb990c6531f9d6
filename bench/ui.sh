#!/usr/bin/env bash
# Benchmark of the web UI in headless chromium against the all-in-one
# binary on this machine: time to the first chart of the host overview (target
# under 1 s), a dashboard of 20 charts x 5 series over 24 h at a 15 s step
# (5,761 points per series; target under 1 s), a 100-panel dashboard (time to
# the first panel and to every visible panel drawn; the others are queried when
# scrolled to or their row opened), zoom redraws, and the bundle's
# gzipped size (target under 300 KB). See bench/ui/main.go.
#
# Usage: bench/ui.sh   Env: RUNS (5), PANOPTES_BIN (default: builds bin/panoptes),
# CHROMIUM (/usr/bin/chromium), KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "bench/ui.sh: $CHROMIUM is missing (apt-get install chromium)" >&2; exit 1; }
BIN=${PANOPTES_BIN:-}
if [ -z "$BIN" ]; then
  go build -o bin/panoptes ./cmd/panoptes
  BIN=bin/panoptes
fi
go build -o bin/bench-ui ./bench/ui

TMP=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  [ "${KEEP:-}" = 1 ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP/dashboards"
bin/bench-ui -write-dashboard "$TMP/dashboards"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" --web.listen-address=127.0.0.1:$PORT --storage.tsdb.path="$TMP/data" \
  --collector.interval=2s --web.dashboards-dir="$TMP/dashboards" --log.level=warn >"$TMP/panoptes.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.2; done
# Three collections, so that every rate() of the overview has data.
sleep 7

echo "machine: $(nproc) cores, $(uname -r), $(${CHROMIUM} --version 2>/dev/null | head -1)"
bin/bench-ui -url "http://127.0.0.1:$PORT" -runs "$RUNS" -chromium "$CHROMIUM" -server-pid "$PID"
