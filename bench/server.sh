#!/usr/bin/env bash
# Side-by-side benchmark of `panoptes server` against the Prometheus peer
# (the same version hack/test-deps.sh builds into $PANOPTES_CACHE/peers) and
# the VictoriaMetrics single-node peer (built there too), on this machine,
# in one run: all scrape the same bench/loadgen targets (avalanche-style,
# SERIES active series over TARGETS targets) every INTERVAL for DURATION
# seconds with the same prometheus.yml (Panoptes and Prometheus with the
# same flags; VictoriaMetrics through -promscrape.config, its rollup cache
# off so that the repeated queries are evaluated each time), then answer the
# same PromQL battery (bench/server-queries.txt) QUERY_RUNS times. Reports
# per server, Panoptes/Prometheus and Panoptes/VictoriaMetrics: samples/s
# ingested, CPU seconds per million samples, peak and steady RSS, RSS per
# active series, bytes on disk per sample and query latency p50/p90/p99.
#
# MODE=concurrent (the default) runs all at once against one loadgen: on a
# shared 2-core VM whose background load drifts from minute to minute, that
# gives all the same scrape bodies at the same instants and the same
# neighbours, and the query battery alternates between them under the same
# noise. CPU is measured as CPU time (/proc/PID/stat), not wall time, and
# memory does not depend on the other processes, so sharing the cores costs
# the ingestion figures little while the load (a few % of a core each at
# 20k samples/s) stays far from saturating them. MODE=sequential runs one
# after the other, each alone with a fresh loadgen of the same seed (each
# then sees the machine's noise of its own window).
#
# Usage: bench/server.sh [duration-seconds]   (or DURATION=180)
# Env: SERIES (100000), TARGETS (10), METRICS (100), INTERVAL (5s scrape
# interval), VALUE_INTERVAL (= INTERVAL), SERIES_INTERVAL (0: no churn),
# QUERY_RUNS (5), QUERY_RANGE (seconds, DURATION-20), QUERY_STEP (INTERVAL),
# MODE, PANOPTES_ARGS / PROM_ARGS / VM_ARGS (extra flags, e.g.
# --runtime.gogc=50), PROM and VM (the peer binaries; VM= leaves
# VictoriaMetrics out), PANOPTES_CMD (the command instead of
# `bin/panoptes server`, e.g. the peer itself for an A/A check of the
# script), PROFILE_DIR (save heap and 20 s CPU pprof profiles of each there
# after the ingestion window; PANOPTES_PPROF_URL if Panoptes serves
# /debug/pprof elsewhere than its web address), KEEP=1 (keep the temp dir:
# logs, data dirs).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${1:-${DURATION:-180}}
SERIES=${SERIES:-100000}
TARGETS=${TARGETS:-10}
METRICS=${METRICS:-100}
INTERVAL=${INTERVAL:-5s}
VALUE_INTERVAL=${VALUE_INTERVAL:-$INTERVAL}
SERIES_INTERVAL=${SERIES_INTERVAL:-0}
QUERY_RUNS=${QUERY_RUNS:-5}
QUERY_RANGE=${QUERY_RANGE:-$((DURATION > 40 ? DURATION - 20 : 20))}
QUERY_STEP=${QUERY_STEP:-$INTERVAL}
QUERIES=${QUERIES:-bench/server-queries.txt}
MODE=${MODE:-concurrent}
CACHE=${PANOPTES_CACHE:-$HOME/.cache/panoptes}
PROM=${PROM:-$(ls -d "$CACHE"/peers/prometheus-v*/prometheus 2>/dev/null | sort -V | tail -1 || true)}
[ -n "$PROM" ] && [ -x "$PROM" ] || { echo "bench: no Prometheus peer in $CACHE/peers (hack/test-deps.sh builds it) and PROM unset" >&2; exit 1; }
VM=${VM-$(ls -d "$CACHE"/peers/victoria-metrics-v*/victoria-metrics 2>/dev/null | sort -V | tail -1 || true)}
[ -z "$VM" ] || [ -x "$VM" ] || { echo "bench: VM=$VM is not an executable (VM= leaves VictoriaMetrics out)" >&2; exit 1; }
case $MODE in concurrent | sequential) ;; *) echo "bench: MODE is concurrent or sequential" >&2; exit 2 ;; esac
command -v jq >/dev/null || { echo "bench: needs jq" >&2; exit 1; }

go build -o bin/loadgen ./bench/loadgen
# Static, as the image ships it; built even for a PANOPTES_CMD, which may
# wrap it (env GOMEMLIMIT=... bin/panoptes server).
CGO_ENABLED=0 go build -trimpath -o bin/panoptes ./cmd/panoptes || [ -n "${PANOPTES_CMD:-}" ]
if [ -z "${PANOPTES_CMD:-}" ]; then
	bin/panoptes server --help >/dev/null 2>&1 || { echo "bench: bin/panoptes has no server subcommand yet" >&2; exit 1; }
	# --web.enable-pprof: PROFILE_DIR's CPU profile (/debug/pprof/profile
	# answers 403 without it).
	PANOPTES_CMD="bin/panoptes server --web.enable-pprof"
fi
want_series=$((TARGETS * METRICS * (SERIES / (TARGETS * METRICS)))) # what the loadgen serves
interval_s=${INTERVAL%s}
[[ $interval_s =~ ^[0-9]+$ ]] || { echo "bench: INTERVAL must be whole seconds (5s)" >&2; exit 2; }

bench_tmp serverbench

now() { date +%s.%N; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# metric URL NAME: the sum of a metric's samples on a /metrics page.
metric() { curl -sf "$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $NF} END {printf "%.0f\n", s}'; }
# disk_bytes DIR: the bytes a TSDB wrote: file sizes under wal/, blocks and
# chunks_head/, whose files are preallocated (their zero tail is not counted);
# for VictoriaMetrics' directory, every file's size.
disk_bytes() {
	python3 - "$1" <<-'EOF'
		import os, sys
		total = 0
		for root, _, files in os.walk(sys.argv[1]):
		    for f in files:
		        p = os.path.join(root, f)
		        if root == sys.argv[1] and os.path.isdir(os.path.join(root, "wal")):
		            continue  # a TSDB's lock, queries.active
		        try:
		            if os.path.basename(root) == "chunks_head":
		                with open(p, "rb") as fh:
		                    total += len(fh.read().rstrip(b"\0"))
		            else:
		                total += os.path.getsize(p)
		        except OSError:
		            pass
		print(total)
	EOF
}

# start_loadgen DIR: a loadgen; sets lg_targets (YAML list of host:port).
start_loadgen() {
	bin/loadgen --targets "$TARGETS" --metrics "$METRICS" --series "$SERIES" \
		--value-interval "$VALUE_INTERVAL" --series-interval "$SERIES_INTERVAL" 2>"$1/loadgen.log" &
	pids+=($!)
	for _ in $(seq 100); do
		[ "$(grep -c '^listening address=' "$1/loadgen.log")" = "$TARGETS" ] && break
		sleep 0.1
	done
	lg_targets=$(sed -n 's/^listening address=\([^ ]*\).*/"\1"/p' "$1/loadgen.log" | paste -sd, -)
	[ -n "$lg_targets" ] || { cat "$1/loadgen.log" >&2; exit 1; }
	cat >"$1/prometheus.yml" <<-EOF
		global:
		  scrape_interval: $INTERVAL
		  scrape_timeout: $INTERVAL
		scrape_configs:
		  - job_name: avalanche
		    static_configs:
		      - targets: [$lg_targets]
	EOF
}

declare -A R # results, keyed name.field
names=(panoptes prometheus)
[ -z "$VM" ] || names+=(victoriametrics)
# The same figures under each system's names: active series, samples
# stored, GOGC.
series_metric() { if [ "$1" = victoriametrics ]; then echo vm_new_timeseries_created_total; else echo prometheus_tsdb_head_series; fi; }
samples_metric() { if [ "$1" = victoriametrics ]; then echo vm_rows_added_to_storage_total; else echo prometheus_tsdb_head_samples_appended_total; fi; }
gogc_metric() { if [ "$1" = victoriametrics ]; then echo vm_gogc; else echo go_gc_gogc_percent; fi; }

# start NAME CONFIG-DIR: start a server; sets R[NAME.pid], R[NAME.url].
start() {
	local name=$1 dir=$2 cmd args port
	if [ "$name" = panoptes ]; then cmd=$PANOPTES_CMD args=${PANOPTES_ARGS:-}; else cmd=$PROM args=${PROM_ARGS:-}; fi
	port=$(free_port)
	mkdir -p "$tmp/$name/data"
	# shellcheck disable=SC2086 # cmd is a word list
	if [ "$name" = victoriametrics ]; then uncache "$VM"; else uncache $cmd; fi
	if [ "$name" = victoriametrics ]; then
		# shellcheck disable=SC2086 # VM_ARGS is a word list
		"$VM" -promscrape.config="$dir/prometheus.yml" -storageDataPath="$tmp/$name/data" \
			-retentionPeriod=1d -httpListenAddr="127.0.0.1:$port" -search.latencyOffset=0s \
			-search.disableCache -search.maxQueryDuration=2m -search.maxSamplesPerQuery=50000000 \
			-loggerLevel=WARN ${VM_ARGS:-} >"$tmp/$name/log" 2>&1 &
	else
		# shellcheck disable=SC2086 # cmd and args are word lists
		$cmd --config.file="$dir/prometheus.yml" --storage.tsdb.path="$tmp/$name/data" \
			--storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$port" \
			--query.timeout=2m --query.max-samples=50000000 $args >"$tmp/$name/log" 2>&1 &
	fi
	pids+=($!)
	R[$name.pid]=$! R[$name.url]="http://127.0.0.1:$port" R[$name.start]=$(now)
}

# ready NAME: wait for the first full scrape of every target (head series >=
# SERIES); records the start of the steady window.
ready() {
	local name=$1 url=${R[$1.url]} pid=${R[$1.pid]} series=0
	for _ in $(seq 240); do
		kill -0 "$pid" 2>/dev/null || { echo "bench: $name exited:" >&2; tail -20 "$tmp/$name/log" >&2; exit 1; }
		series=$(metric "$url" "$(series_metric "$name")" 2>/dev/null || true)
		[ "${series:-0}" -ge "$want_series" ] && break
		sleep 0.5
	done
	[ "${series:-0}" -ge "$want_series" ] || { echo "bench: $name has ${series:-no} active series after 120 s, want $want_series" >&2; tail -20 "$tmp/$name/log" >&2; exit 1; }
	R[$name.t0]=$(now) R[$name.ticks0]=$(ticks "$pid") R[$name.samples0]=$(metric "$url" "$(samples_metric "$name")")
}

# finish NAME: the end-of-ingestion snapshot.
finish() {
	local name=$1 url=${R[$1.url]} pid=${R[$1.pid]}
	R[$name.t1]=$(now) R[$name.ticks1]=$(ticks "$pid")
	R[$name.samples1]=$(metric "$url" "$(samples_metric "$name")")
	R[$name.series]=$(metric "$url" "$(series_metric "$name")")
	R[$name.heap]=$(metric "$url" go_memstats_heap_inuse_bytes) R[$name.gogc]=$(metric "$url" "$(gogc_metric "$name")")
	R[$name.rss]=$(status_kib "$pid" VmRSS) R[$name.hwm]=$(status_kib "$pid" VmHWM)
	R[$name.anon]=$(status_kib "$pid" RssAnon) R[$name.file]=$(status_kib "$pid" RssFile)
	R[$name.disk]=$(disk_bytes "$tmp/$name/data")
	# The mean VmRSS over the second half of the steady window.
	R[$name.rssmean]=$(awk -v from="$(awk -v a="${R[$name.t0]}" -v b="${R[$name.t1]}" 'BEGIN { printf "%.3f", (a + b) / 2 }')" \
		'$1 >= from { s += $2; n++ } END { printf "%.0f\n", n ? s / n : 0 }' "$tmp/$name/rss")
}

# The end of the steady window: a whole number of scrape intervals after
# ready, DURATION seconds after the start.
window_end() {
	awk -v s="${R[$1.start]}" -v t0="${R[$1.t0]}" -v d="$DURATION" -v i="$interval_s" \
		'BEGIN { n = int((s + d - t0) / i); if (n < 1) n = 1; printf "%.3f\n", t0 + n * i }'
}
sleep_until() { local d; d=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; printf "%.3f", (d > 0 ? d : 0) }'); sleep "$d"; }
# watch_until END NAME...: sleep until END, sampling the servers' VmRSS
# every second into $tmp/NAME/rss (a single VmRSS depends on where in its GC
# cycle the process happens to be).
watch_until() {
	local end=$1 n t
	shift
	while t=$(now) && awk -v t="$t" -v e="$end" 'BEGIN { exit !(t + 1 < e) }'; do
		for n in "$@"; do echo "$t $(status_kib "${R[$n.pid]}" VmRSS)" >>"$tmp/$n/rss"; done
		sleep 1
	done
	sleep_until "$end"
}

profile() {
	[ -n "${PROFILE_DIR:-}" ] || return 0
	mkdir -p "$PROFILE_DIR"
	local name url cpu=()
	for name in "$@"; do
		url=${R[$name.url]}
		[ "$name" = panoptes ] && url=${PANOPTES_PPROF_URL:-$url}
		curl -sf -o "$PROFILE_DIR/$name.heap.pb.gz" "$url/debug/pprof/heap" || echo "bench: $name serves no /debug/pprof/heap" >&2
		curl -sf -o "$PROFILE_DIR/$name.cpu.pb.gz" "$url/debug/pprof/profile?seconds=20" &
		cpu+=($!)
	done
	for p in "${cpu[@]}"; do wait "$p" || echo "bench: no CPU profile" >&2; done
}

# queries NAME...: the battery at a fixed time T, QUERY_RUNS rounds. A round
# is one curl over kept-alive connections (a curl per query would add its
# start-up and a connect, several ms, to every latency), the servers' order
# alternating every query (ABBA). Latencies (s) go to $tmp/q/NAME.N, the
# first round's status and result count to $tmp/q/NAME.N.n.
queries() {
	mkdir -p "$tmp/q"
	local T start run i kind expr name order args
	T=$(date +%s) start=$(($(date +%s) - QUERY_RANGE))
	i=0
	while read -r kind expr; do
		case $kind in '#'* | '') continue ;; esac
		i=$((i + 1))
		printf '%s\t%s\n' "$kind" "$expr" >"$tmp/q/query.$i"
	done <"$QUERIES"
	nqueries=$i
	order=("$@")
	for run in $(seq "$QUERY_RUNS"); do
		args=()
		for name in "${order[@]}"; do # open the connections
			args+=(--next -o /dev/null -w '' "${R[$name.url]}/api/v1/status/buildinfo")
		done
		for i in $(seq "$nqueries"); do
			IFS=$'\t' read -r kind expr <"$tmp/q/query.$i"
			for name in "${order[@]}"; do
				args+=(--next -o "$tmp/q/body.$name.$i" -w "$name $i %{time_total} %{http_code}\n" --data-urlencode "query=$expr")
				if [ "$kind" = range ]; then
					args+=(-d "start=$start" -d "end=$T" -d "step=$QUERY_STEP" "${R[$name.url]}/api/v1/query_range")
				else
					args+=(-d "time=$T" "${R[$name.url]}/api/v1/query")
				fi
			done
			order=($(printf '%s\n' "${order[@]}" | tac))
		done
		curl -s "${args[@]:1}" </dev/null >"$tmp/q/times" || true
		while read -r name i t _; do echo "$t" >>"$tmp/q/$name.$i"; done <"$tmp/q/times"
		[ "$run" = 1 ] || continue
		for name in "$@"; do
			for i in $(seq "$nqueries"); do
				jq -r '"\(.status) \(if .data.resultType == "vector" or .data.resultType == "matrix" then (.data.result | length) else 1 end) \(.error // "")"' \
					<"$tmp/q/body.$name.$i" >"$tmp/q/$name.$i.n" 2>/dev/null || echo "bad-json 0" >"$tmp/q/$name.$i.n"
			done
		done
	done
}

echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); mode $MODE"
echo "panoptes: $PANOPTES_CMD ${PANOPTES_ARGS:-}"
echo "prometheus: $PROM ${PROM_ARGS:-} ($("$PROM" --version 2>&1 | head -1))"
[ -z "$VM" ] || echo "victoriametrics: $VM ${VM_ARGS:-} ($("$VM" -version 2>&1 | head -1))"
echo "load: $want_series series = $TARGETS targets x $METRICS metrics, scrape every $INTERVAL, values change every $VALUE_INTERVAL, churn ${SERIES_INTERVAL}; ingest ${DURATION}s; $QUERY_RUNS x $(grep -vcE '^(#|$)' "$QUERIES") queries (range ${QUERY_RANGE}s step $QUERY_STEP)"

if [ "$MODE" = concurrent ]; then
	mkdir -p "$tmp/lg"
	start_loadgen "$tmp/lg"
	for n in "${names[@]}"; do start "$n" "$tmp/lg"; done
	for n in "${names[@]}"; do ready "$n"; done
	# All scrape at about the same wall-clock phase (Prometheus offsets a
	# target's scrapes by a hash of it and the host), so one end serves
	# every window.
	watch_until "$(for n in "${names[@]}"; do window_end "$n"; done | sort -g | tail -1)" "${names[@]}"
	for n in "${names[@]}"; do finish "$n"; done
	echo "ingestion done at load average $(cut -d' ' -f1-3 /proc/loadavg); querying"
	profile "${names[@]}"
	queries "${names[@]}"
else
	for n in "${names[@]}"; do
		mkdir -p "$tmp/lg-$n"
		start_loadgen "$tmp/lg-$n"
		lgpid=${pids[-1]}
		start "$n" "$tmp/lg-$n"
		ready "$n"
		watch_until "$(window_end "$n")" "$n"
		finish "$n"
		echo "$n: ingestion done at load average $(cut -d' ' -f1-3 /proc/loadavg); querying"
		profile "$n"
		queries "$n"
		kill "${R[$n.pid]}" "$lgpid"
		wait "${R[$n.pid]}" "$lgpid" 2>/dev/null || true
	done
fi

# pct P FILE: the nearest-rank percentile of a column of numbers.
pct() { sort -g "$2" | awk -v p="$1" '{v[NR] = $1} END {i = int(p * NR + 0.999999); if (i < 1) i = 1; print v[i]}'; }

# peers: the systems panoptes is compared with.
peers=("${names[@]:1}")

echo
echo "query latency, p50 over $QUERY_RUNS runs (ms), first run's result count (panoptes/each peer):"
{
	printf '#\tkind'
	for n in "${names[@]}"; do printf '\t%s' "$n"; done
	for n in "${peers[@]}"; do printf '\t/%s' "$n"; done
	printf '\tresults\tquery\n'
	for i in $(seq "$nqueries"); do
		IFS=$'\t' read -r kind expr <"$tmp/q/query.$i"
		printf '%d\t%s' "$i" "$kind"
		declare -A p50=()
		for n in "${names[@]}"; do
			p50[$n]=$(pct 0.5 "$tmp/q/$n.$i")
			awk -v a="${p50[$n]}" 'BEGIN { printf "\t%.2f", a*1000 }'
		done
		for n in "${peers[@]}"; do
			awk -v a="${p50[panoptes]}" -v b="${p50[$n]}" 'BEGIN { printf "\t%.2fx", (b > 0 ? a/b : 0) }'
		done
		read -r sa na ea <"$tmp/q/panoptes.$i.n" || true
		res="$na" bad=""
		[ "$sa" = success ] || bad="panoptes:$sa ${ea:0:40}"
		for n in "${peers[@]}"; do
			read -r sb nb eb <"$tmp/q/$n.$i.n" || true
			res="$res/$nb"
			[ "$sb" = success ] || bad="$bad $n:$sb ${eb:0:40}"
			[ "$sa $na" = "$sb $nb" ] || bad="$bad MISMATCH($n)"
		done
		printf '\t%s\t%s\n' "$res$bad" "$expr"
		line=""
		for n in "${names[@]}"; do line="$line ${p50[$n]}"; done
		echo "$line" >>"$tmp/q/p50s"
	done
} | column -t -s $'\t'
for n in "${names[@]}"; do
	for i in $(seq "$nqueries"); do cat "$tmp/q/$n.$i"; done >"$tmp/q/$n.all"
done

echo
echo "summary (ratio = panoptes / peer; lower is better except samples/s):"
{
	printf 'metric'
	for n in "${names[@]}"; do printf '\t%s' "$n"; done
	for n in "${peers[@]}"; do printf '\t/%s' "$n"; done
	printf '\n'
	# row LABEL FORMAT FIELD: a figure of every system, then the ratios.
	row() {
		local label=$1 f=$2 key=$3 n
		printf '%s' "$label"
		for n in "${names[@]}"; do awk -v a="${x[$n.$key]}" -v f="$f" 'BEGIN { printf "\t" f, a }'; done
		for n in "${peers[@]}"; do awk -v a="${x[panoptes.$key]}" -v b="${x[$n.$key]}" 'BEGIN { printf "\t%.2fx", (b != 0 ? a/b : 0) }'; done
		printf '\n'
	}
	v() { awk "BEGIN { print $1 }"; }
	declare -A x
	for n in "${names[@]}"; do
		dt=$(v "${R[$n.t1]} - ${R[$n.t0]}")
		x[$n.series]=${R[$n.series]} x[$n.samples]=${R[$n.samples1]} x[$n.gogc]=${R[$n.gogc]}
		x[$n.sps]=$(v "(${R[$n.samples1]} - ${R[$n.samples0]}) / $dt")
		x[$n.cpu]=$(v "${R[$n.ticks1]} / 100")
		x[$n.cpum]=$(v "${R[$n.ticks1]} / 100 / (${R[$n.samples1]} / 1e6)")
		x[$n.cpums]=$(v "(${R[$n.ticks1]} - ${R[$n.ticks0]}) / 100 / ((${R[$n.samples1]} - ${R[$n.samples0]}) / 1e6)")
		x[$n.core]=$(v "(${R[$n.ticks1]} - ${R[$n.ticks0]}) / $dt")
		x[$n.hwm]=$(v "${R[$n.hwm]} / 1024")
		x[$n.rss]=$(v "${R[$n.rss]} / 1024")
		x[$n.rssm]=$(v "${R[$n.rssmean]} / 1024")
		x[$n.rsss]=$(v "${R[$n.rssmean]} * 1024 / ${R[$n.series]}")
		x[$n.heap]=$(v "${R[$n.heap]} / 1048576")
		x[$n.anon]=$(v "${R[$n.anon]} / 1024")
		x[$n.file]=$(v "${R[$n.file]} / 1024")
		x[$n.disk]=$(v "${R[$n.disk]} / 1048576")
		x[$n.bps]=$(v "${R[$n.disk]} / ${R[$n.samples1]}")
		x[$n.p50]=$(v "$(pct 0.5 "$tmp/q/$n.all") * 1000")
		x[$n.p90]=$(v "$(pct 0.9 "$tmp/q/$n.all") * 1000")
		x[$n.p99]=$(v "$(pct 0.99 "$tmp/q/$n.all") * 1000")
	done
	row "active series" %d series
	row "samples stored" %d samples
	row "samples/s ingested (steady)" %.0f sps
	row "CPU s (whole run)" %.2f cpu
	row "CPU s / M samples (whole run)" %.3f cpum
	row "CPU s / M samples (steady)" %.3f cpums
	row "CPU % of a core (steady)" %.1f core
	row "peak RSS MiB (VmHWM)" %.1f hwm
	row "steady RSS MiB (VmRSS at end)" %.1f rss
	row "mean RSS MiB (2nd half of window)" %.1f rssm
	row "RSS bytes / active series" %.0f rsss
	row "  of which anonymous MiB (RssAnon)" %.1f anon
	row "  of which file-backed MiB (RssFile)" %.1f file
	row "Go heap in use MiB (at end)" %.1f heap
	row "GOGC" %d gogc
	row "disk MiB (TSDB: wal + chunks_head)" %.2f disk
	row "disk bytes / sample" %.3f bps
	row "query p50 ms (all runs)" %.2f p50
	row "query p90 ms (all runs)" %.2f p90
	row "query p99 ms (all runs)" %.2f p99
	for j in "${!peers[@]}"; do
		awk -v col=$((j + 2)) -v n="${peers[$j]}" '$1 > 0 && $col > 0 { s += log($1 / $col); n2++ } END { if (n2) printf "query p50 geomean ratio panoptes/%s\t%.2fx\n", n, exp(s / n2) }' "$tmp/q/p50s"
	done
} | column -t -s $'\t'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
