#!/usr/bin/env bash
# Side-by-side benchmark of `panoptes agent` against Debian's node_exporter
# on this machine, in one run: CPU seconds per scrape, p50/p99 scrape
# latency, RSS and series count (see bench/scrapebench), then each side's
# mean duration per collector (node_scrape_collector_duration_seconds), to
# find the collector that costs most. Usage:
# bench/agent.sh [rounds] [scrapes-per-round];
# BENCH_COLLECTORS=defaults (the default) runs each side with ALL its default
# collectors, as users run them; BENCH_COLLECTORS=same asks node_exporter for
# exactly the collectors panoptes enables by default.
# PANOPTES_ARGS adds agent flags (e.g. --runtime.gogc=100); PANOPTES_TAGS
# picks the build tags (default agentonly, the lean DaemonSet build).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${1:-10}
PER_ROUND=${2:-50}
NE=${NODE_EXPORTER:-$(command -v prometheus-node-exporter || command -v node_exporter || true)}
[ -n "$NE" ] || { echo "bench: node_exporter not found (apt-get install prometheus-node-exporter)" >&2; exit 1; }

# The lean agent build the DaemonSet runs (static, -tags agentonly, as the
# image ships it); PANOPTES_TAGS= (empty) measures the full binary instead.
CGO_ENABLED=0 go build -tags "${PANOPTES_TAGS-agentonly}" -trimpath -o bin/panoptes-agent ./cmd/panoptes
go build -o bin/scrapebench ./bench/scrapebench


# The collectors panoptes enables by default.
collectors=$(bin/panoptes-agent agent --help | sed -n 's/^ *--collector\.\([a-z_]*\) .*Enable the .* collector\..*(default true).*/\1/p')
# Both sides read the same, empty, textfile directory: Debian's default
# (/var/lib/prometheus/node-exporter) may not exist, ours is unset.
textdir=$(mktemp -d)
case ${BENCH_COLLECTORS:-defaults} in
same)
	ne_args=(--collector.disable-defaults)
	for c in $collectors; do ne_args+=("--collector.$c"); done
	;;
defaults)
	# node_exporter's defaults, less systemd: Debian's package turns it on
	# by a patch, upstream 1.5 (and panoptes) leave it off.
	ne_args=(--no-collector.systemd)
	;;
*) echo "bench: BENCH_COLLECTORS is defaults or same" >&2; exit 1 ;;
esac
ne_args+=(--collector.textfile.directory="$textdir")

# Both binaries read back from disk, as an image's is (bench/lib.sh).
uncache bin/panoptes-agent "$NE"
pp=$(free_port); np=$(free_port)
bin/panoptes-agent agent --listen "127.0.0.1:$pp" --no-collector.container --collector.textfile.directory="$textdir" --log.level=warn ${PANOPTES_ARGS:-} & ppid=$!
"$NE" --web.listen-address="127.0.0.1:$np" "${ne_args[@]}" --log.level=warn & npid=$!
trap 'kill $ppid $npid 2>/dev/null; wait $ppid $npid 2>/dev/null || true; rm -rf "$textdir"' EXIT
for _ in $(seq 50); do
	curl -sf "127.0.0.1:$pp/metrics" >/dev/null && curl -sf "127.0.0.1:$np/metrics" >/dev/null && break
	sleep 0.1
done

echo "machine: $(nproc) cores, $(uname -r); node_exporter: $("$NE" --version 2>&1 | head -1)"
ran() { curl -sf "$1" | sed -n 's/^node_scrape_collector_success{collector="\([a-z_]*\)"}.*/\1/p' | sort | tr '\n' ' '; }
echo "panoptes collectors (${BENCH_COLLECTORS:-defaults}): $(ran "127.0.0.1:$pp/metrics")"
echo "node_exporter collectors: $(ran "127.0.0.1:$np/metrics")"
bin/scrapebench -rounds "$ROUNDS" -n "$PER_ROUND" \
	-target "panoptes=http://127.0.0.1:$pp/metrics@$ppid" \
	-target "node_exporter=http://127.0.0.1:$np/metrics@$npid"

# Per collector: the mean of node_scrape_collector_duration_seconds over 20
# scrapes, in ms, side by side, slowest first. Collectors run concurrently,
# so these are wall times, not CPU; they still show where a scrape goes.
durations() {
	for _ in $(seq 20); do curl -sf "$1"; done |
		sed -n 's/^node_scrape_collector_duration_seconds{collector="\([a-z_]*\)"} \(.*\)/\1 \2/p' |
		awk '{s[$1]+=$2; n[$1]++} END {for (c in s) printf "%s %.3f\n", c, 1000*s[c]/n[c]}' | sort
}
echo
echo "collector duration (mean ms over 20 scrapes): collector panoptes node_exporter"
join -a1 -a2 -e - -o 0,1.2,2.2 <(durations "127.0.0.1:$pp/metrics") <(durations "127.0.0.1:$np/metrics") |
	sort -k2,2 -gr | column -t
