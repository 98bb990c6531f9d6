#!/usr/bin/env bash
# A day of history in `panoptes server`, Prometheus and VictoriaMetrics
# (the peers hack/test-deps.sh builds into $PANOPTES_CACHE/peers), in one
# run: disk per sample once each has compacted it, and the latency of the
# built-in dashboards' queries over the whole day.
#
# The history is HOSTS copies of a real scrape of `panoptes agent` on this
# machine (its node_* series, and container_* for every cgroup), every
# INTERVAL over SPAN, each series moving as it moved between two scrapes
# GAP apart (bench/history: counters at their rates, changing gauges as
# random walks, the rest constant). The same samples go into Prometheus TSDB
# blocks of 2 h, copied into Panoptes' and Prometheus' data directories, and
# into VictoriaMetrics through /api/v1/import. Then:
# - Panoptes and Prometheus compact the blocks (2 h -> 6 h -> 18 h, their
#   default ranges); VictoriaMetrics is flushed and force-merged. Disk per
#   sample is the data directory's bytes over the samples generated.
# - bench/history runs the overview and container dashboards' queries as the
#   UI sends them for a 24 h range (an 800-pixel chart: 120 s steps;
#   stats 600 s), RUNS rounds, the servers' order alternating every query.
#
# Usage: bench/history.sh
# Env: HOSTS (20), SPAN (24h), INTERVAL (15s), GAP (5s), RUNS (5),
# DASHBOARDS (overview,container), PROM, VM (the peer binaries; VM= leaves
# VictoriaMetrics out), PANOPTES_ARGS / PROM_ARGS / VM_ARGS, KEEP=1 (keep
# the temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

HOSTS=${HOSTS:-20}
SPAN=${SPAN:-24h}
INTERVAL=${INTERVAL:-15s}
GAP=${GAP:-5s}
RUNS=${RUNS:-5}
DASHBOARDS=${DASHBOARDS:-overview,container}
CACHE=${PANOPTES_CACHE:-$HOME/.cache/panoptes}
PROM=${PROM:-$(ls -d "$CACHE"/peers/prometheus-v*/prometheus 2>/dev/null | sort -V | tail -1 || true)}
[ -n "$PROM" ] && [ -x "$PROM" ] || { echo "bench: no Prometheus peer in $CACHE/peers (hack/test-deps.sh builds it) and PROM unset" >&2; exit 1; }
VM=${VM-$(ls -d "$CACHE"/peers/victoria-metrics-v*/victoria-metrics 2>/dev/null | sort -V | tail -1 || true)}
[ -z "$VM" ] || [ -x "$VM" ] || { echo "bench: VM=$VM is not an executable (VM= leaves VictoriaMetrics out)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench: needs jq" >&2; exit 1; }

go build -o bin/history ./bench/history
CGO_ENABLED=0 go build -trimpath -o bin/panoptes ./cmd/panoptes

bench_tmp historybench

metric() { curl -sf "$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $NF} END {printf "%.0f\n", s}'; }
# wait_up URL NAME PID: until URL answers, or the process is gone.
wait_up() {
	for _ in $(seq 600); do
		curl -sf -o /dev/null "$1" && return 0
		kill -0 "$3" 2>/dev/null || { echo "bench: $2 exited:" >&2; tail -20 "$tmp/$2.log" >&2; exit 1; }
		sleep 0.1
	done
	echo "bench: $2 did not answer $1 in 60 s" >&2
	exit 1
}
dir_bytes() { du -sb --apparent-size "$@" | awk '{s += $1} END {print s}'; }

echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "prometheus: $PROM ${PROM_ARGS:-}; victoriametrics: ${VM:-none} ${VM_ARGS:-}"

# 1. Two scrapes of the agent, GAP apart: the series and how they move.
port=$(free_port)
bin/panoptes agent --listen "127.0.0.1:$port" --collector.container.all-cgroups --log.level=warn >"$tmp/agent.log" 2>&1 &
apid=$!
pids+=($apid)
wait_up "http://127.0.0.1:$port/metrics" agent "$apid"
curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/a.prom"
sleep "${GAP%s}"
curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/b.prom"
kill "$apid"
wait "$apid" 2>/dev/null || true

# 2. VictoriaMetrics, to import into.
if [ -n "$VM" ]; then
	vport=$(free_port)
	mkdir -p "$tmp/victoriametrics"
	# shellcheck disable=SC2086 # VM_ARGS is a word list
	"$VM" -storageDataPath="$tmp/victoriametrics" -retentionPeriod=30d -httpListenAddr="127.0.0.1:$vport" \
		-search.latencyOffset=0s -search.disableCache -search.maxQueryDuration=5m -search.maxSamplesPerQuery=100000000 \
		-loggerLevel=WARN ${VM_ARGS:-} >"$tmp/victoriametrics.log" 2>&1 &
	vpid=$!
	pids+=($vpid)
	vurl="http://127.0.0.1:$vport"
	wait_up "$vurl/health" victoriametrics "$vpid"
fi

# 3. The history.
end=$(date +%s)
mkdir -p "$tmp/blocks"
t0=$(date +%s.%N)
bin/history gen --template "$tmp/a.prom" --template-after "$tmp/b.prom" --gap "$GAP" --hosts "$HOSTS" \
	--span "$SPAN" --interval "$INTERVAL" --end "$end" --blocks "$tmp/blocks" ${VM:+--vm "$vurl"} >"$tmp/gen.out"
samples=$(awk '$1 == "samples" {print $2}' "$tmp/gen.out")
nseries=$(awk '$1 == "series" {print $2}' "$tmp/gen.out")
echo "history: $nseries series ($HOSTS hosts), $samples samples over $SPAN every $INTERVAL; written in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}') s"

# 4. Panoptes and Prometheus open copies of the blocks and compact them.
cat >"$tmp/prometheus.yml" <<-EOF
	global:
	  scrape_interval: $INTERVAL
EOF
declare -A url pid
for name in panoptes prometheus; do
	mkdir -p "$tmp/$name"
	cp -r "$tmp/blocks" "$tmp/$name/data"
	p=$(free_port)
	if [ "$name" = panoptes ]; then cmd="bin/panoptes server" args=${PANOPTES_ARGS:-}; else cmd=$PROM args=${PROM_ARGS:-}; fi
	# shellcheck disable=SC2086 # cmd and args are word lists
	$cmd --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/$name/data" --storage.tsdb.retention.time=30d \
		--web.listen-address="127.0.0.1:$p" --query.timeout=5m --query.max-samples=100000000 $args >"$tmp/$name.log" 2>&1 &
	pid[$name]=$!
	pids+=($!)
	url[$name]="http://127.0.0.1:$p"
done
for name in panoptes prometheus; do wait_up "${url[$name]}/-/ready" "$name" "${pid[$name]}"; done

if [ -n "$VM" ]; then
	curl -sf "$vurl/internal/force_flush" >/dev/null
	# One partition a month: merge those of the span's first and last day.
	for t in "$(awk '$1 == "start" {print $2}' "$tmp/gen.out")" "$end"; do
		curl -sf "$vurl/internal/force_merge?partition_prefix=$(date -u -d "@$t" +%Y_%m)" >/dev/null
	done
	url[victoriametrics]=$vurl pid[victoriametrics]=$vpid
fi

# Settled: the compactions and loaded blocks unchanged for two minutes
# (the TSDB plans compactions once a minute, the first a minute after
# start); VictoriaMetrics with no merge running and its parts and bytes
# unchanged as long.
settled() {
	local name=$1 prev="" same=0 cur
	for _ in $(seq 600); do
		if [ "$name" = victoriametrics ]; then
			cur="$(metric "${url[$name]}" vm_active_merges) $(metric "${url[$name]}" vm_parts) $(dir_bytes "$tmp/victoriametrics")"
		else
			cur="$(metric "${url[$name]}" prometheus_tsdb_compactions_total) $(metric "${url[$name]}" prometheus_tsdb_blocks_loaded)"
		fi
		if [ "$cur" = "$prev" ]; then same=$((same + 5)); else same=0 prev=$cur; fi
		[ "$same" -ge 120 ] && return 0
		sleep 5
	done
	echo "bench: $name did not settle in 50 min ($cur)" >&2
	exit 1
}
names=(panoptes prometheus)
[ -z "$VM" ] || names+=(victoriametrics)
spids=()
for name in "${names[@]}"; do
	settled "$name" &
	spids+=($!)
done
for p in "${spids[@]}"; do wait "$p" || exit 1; done

echo
echo "disk after compaction (bytes per sample = data directory / $samples samples):"
declare -A B
printf '%-16s %12s %10s %s\n' server bytes B/sample layout
for name in "${names[@]}"; do
	if [ "$name" = victoriametrics ]; then
		bytes=$(dir_bytes "$tmp/victoriametrics")
		layout="$(metric "${url[$name]}" vm_parts) parts"
	else
		# The blocks: their chunks, index, meta and tombstones (the empty head
		# and WAL of a server that scraped nothing are not the history's).
		blocks=()
		for b in "$tmp/$name/data"/*/; do # ULIDs only: not wal/, chunks_head/ or a block being deleted
			[[ $(basename "$b") =~ ^[0-9A-Z]{26}$ ]] && blocks+=("$b")
		done
		bytes=$(dir_bytes "${blocks[@]}")
		layout="${#blocks[@]} blocks: $(for b in "${blocks[@]}"; do jq -r '((.maxTime - .minTime) / 360000 | round / 10 | tostring) + "h"' "$b/meta.json"; done | paste -sd' ')"
	fi
	B[$name]=$bytes
	printf '%-16s %12d %10.3f %s\n' "$name" "$bytes" "$(awk -v b="$bytes" -v s="$samples" 'BEGIN {print b / s}')" "$layout"
done
for name in "${names[@]:1}"; do
	echo "panoptes / $name: $(awk -v a="${B[panoptes]}" -v b="${B[$name]}" 'BEGIN {printf "%.2fx", a / b}')"
done

echo
targets=(--target "panoptes=${url[panoptes]}" --target "prometheus=${url[prometheus]}")
[ -z "$VM" ] || targets+=(--target "victoriametrics=$vurl")
bin/history query "${targets[@]}" --dashboards "$DASHBOARDS" --span "$SPAN" --end "$end" --runs "$RUNS" \
	--scrape-interval "$INTERVAL"
