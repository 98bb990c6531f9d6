#!/usr/bin/env bash
# Side-by-side benchmark of `panoptes agent` against Debian's node_exporter
# with the same collectors, on this machine, in one run: CPU seconds per
# scrape, p50/p99 scrape latency, RSS and series count (see
# bench/scrapebench). Usage: bench/agent.sh [rounds] [scrapes-per-round];
# PANOPTES_ARGS adds agent flags (e.g. --runtime.gogc=100); PANOPTES_TAGS
# picks the build tags (default agentonly, the lean DaemonSet build).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-10}
PER_ROUND=${2:-50}
NE=${NODE_EXPORTER:-$(command -v prometheus-node-exporter || command -v node_exporter || true)}
[ -n "$NE" ] || { echo "bench: node_exporter not found (apt-get install prometheus-node-exporter)" >&2; exit 1; }

# The lean agent build the DaemonSet runs (static, -tags agentonly, as the
# image ships it); PANOPTES_TAGS= (empty) measures the full binary instead.
CGO_ENABLED=0 go build -tags "${PANOPTES_TAGS-agentonly}" -trimpath -o bin/panoptes-agent ./cmd/panoptes
go build -o bin/scrapebench ./bench/scrapebench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# The collectors panoptes enables by default, asked of node_exporter too.
collectors=$(bin/panoptes-agent agent --help | sed -n 's/^ *--collector\.\([a-z_]*\) .*Enable the .* collector\..*/\1/p')
ne_args=(--collector.disable-defaults)
for c in $collectors; do ne_args+=("--collector.$c"); done

pp=$(free_port); np=$(free_port)
bin/panoptes-agent agent --listen "127.0.0.1:$pp" --no-collector.container --log.level=warn ${PANOPTES_ARGS:-} & ppid=$!
"$NE" --web.listen-address="127.0.0.1:$np" "${ne_args[@]}" --log.level=warn & npid=$!
trap 'kill $ppid $npid 2>/dev/null; wait $ppid $npid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	curl -sf "127.0.0.1:$pp/metrics" >/dev/null && curl -sf "127.0.0.1:$np/metrics" >/dev/null && break
	sleep 0.1
done

echo "machine: $(nproc) cores, $(uname -r); node_exporter: $("$NE" --version 2>&1 | head -1)"
echo "collectors: $(echo $collectors)"
bin/scrapebench -rounds "$ROUNDS" -n "$PER_ROUND" \
	-target "panoptes=http://127.0.0.1:$pp/metrics@$ppid" \
	-target "node_exporter=http://127.0.0.1:$np/metrics@$npid"
