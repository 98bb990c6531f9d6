#!/usr/bin/env bash
# Soak and abuse run of `panoptes server --web.enable-remote-write-receiver`
# (issue 16, item 7): for DURATION it ingests, at once,
#   - the 100k-series scrape load of bench/loadgen with churn: CHURN_TARGETS
#     of the TARGETS targets replace all their series every CHURN_INTERVAL
#     (a second loadgen with --series-interval; 1 of 10: 10% of the series),
#   - dashboards' queries: QUERY_CLIENTS clients looping over
#     bench/server-queries.txt (QUERY_PAUSE between queries), each latency
#     recorded,
#   - a remote-write flood from WRITERS concurrent writers (bench/soak: each
#     writer owns RW_SERIES series, sends one sample per series per request
#     with increasing timestamps and retries a request, identical, until it
#     is answered 2xx; RW_INTERVAL between requests, 0: as fast as answered),
# while it kills the server with SIGKILL RESTARTS times at random moments
# (SEED) and starts it again on the same port and data directory, and, near
# the end, holds SLOWLORIS_CONNS idle and slow connections for
# SLOWLORIS_DURATION while probing GET / and a query_range.
#
# Then the writers stop (each finishing the request it holds), the server is
# killed once more and restarted (FINAL_CRASH=1), and every series is
# checked: the samples the server acknowledged must be the samples it
# stores, exactly (count_over_time per series, bench/soak verify). The run
# fails if they differ.
#
# Reports: acknowledged vs stored samples, RSS sampled every 10 s (min, mean,
# max and a table), query p50/p99, each restart's time to /-/ready and the
# TSDB's own WAL replay time (its "WAL replay completed" log line), and the
# UI's latency before and under slowloris. RESULTS=FILE also writes the
# report there.
#
# Usage: bench/soak.sh [duration]   (or DURATION=10m; default 1h)
# Env: SERIES (100000), TARGETS (10), METRICS (100), INTERVAL (10s),
# CHURN_TARGETS (1), CHURN_INTERVAL (DURATION/6), WRITERS (20), RW_SERIES
# (100), RW_INTERVAL (0), QUERY_CLIENTS (4), QUERY_PAUSE (1s), RESTARTS (10),
# SEED (1), SLOWLORIS_CONNS (1000), SLOWLORIS_DURATION (60s), FINAL_CRASH
# (1), PANOPTES_BIN (a built binary instead of building bin/panoptes),
# PANOPTES_ARGS (extra server flags), KEEP=1 (keep the temp dir: logs,
# data, acked.json, queries.tsv, rss.tsv).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

# secs D: a duration (90, 90s, 10m, 1h) in seconds.
secs() {
	case $1 in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
DURATION=$(secs "${1:-${DURATION:-1h}}")
SERIES=${SERIES:-100000}
TARGETS=${TARGETS:-10}
METRICS=${METRICS:-100}
INTERVAL=${INTERVAL:-10s}
CHURN_TARGETS=${CHURN_TARGETS:-1}
CHURN_INTERVAL=$(secs "${CHURN_INTERVAL:-$((DURATION / 6))}")
WRITERS=${WRITERS:-20}
RW_SERIES=${RW_SERIES:-100}
RW_INTERVAL=${RW_INTERVAL:-0}
QUERY_CLIENTS=${QUERY_CLIENTS:-4}
QUERY_PAUSE=${QUERY_PAUSE:-1s}
RESTARTS=${RESTARTS:-10}
SEED=${SEED:-1}
SLOWLORIS_CONNS=${SLOWLORIS_CONNS:-1000}
SLOWLORIS_DURATION=$(secs "${SLOWLORIS_DURATION:-60}")
FINAL_CRASH=${FINAL_CRASH:-1}
RANDOM=$SEED
[[ $DURATION =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 120 ] || { echo "soak: DURATION must be 2m or more" >&2; exit 2; }
[ "$CHURN_TARGETS" -lt "$TARGETS" ] || { echo "soak: CHURN_TARGETS must be below TARGETS" >&2; exit 2; }
[ "$SLOWLORIS_CONNS" -lt "$(($(ulimit -n) - 200))" ] || ulimit -n $((SLOWLORIS_CONNS + 1000)) || { echo "soak: ulimit -n too small for $SLOWLORIS_CONNS connections" >&2; exit 1; }

go build -o bin/loadgen ./bench/loadgen
go build -o bin/soak ./bench/soak
PANOPTES_BIN=${PANOPTES_BIN:-bin/panoptes}
[ "$PANOPTES_BIN" != bin/panoptes ] || go build -o bin/panoptes ./cmd/panoptes

tmp=$(mktemp -d /tmp/panoptes-soak.XXXXXX)
pids=()
server_pid=
cleanup() {
	[ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}" $server_pid; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-}" = 1 ]; then echo "soak: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
metric() { curl -sf "$url/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $NF} END {printf "%.0f\n", s}'; }

# loadgen NAME TARGETS SERIES SERIES-INTERVAL: a loadgen; appends its
# targets to lg_targets.
lg_targets=
loadgen() {
	bin/loadgen --targets "$2" --metrics "$METRICS" --series "$3" --value-interval "$INTERVAL" \
		--series-interval "$4" --seed "$SEED" 2>"$tmp/$1.log" &
	pids+=($!)
	for _ in $(seq 100); do
		[ "$(grep -c '^listening address=' "$tmp/$1.log")" = "$2" ] && break
		sleep 0.1
	done
	[ "$(grep -c '^listening address=' "$tmp/$1.log")" = "$2" ] || { cat "$tmp/$1.log" >&2; exit 1; }
	lg_targets=${lg_targets:+$lg_targets,}$(sed -n 's/^listening address=\([^ ]*\).*/"\1"/p' "$tmp/$1.log" | paste -sd, -)
}
per_target=$((SERIES / TARGETS))
loadgen steady $((TARGETS - CHURN_TARGETS)) $((per_target * (TARGETS - CHURN_TARGETS))) 0
loadgen churn "$CHURN_TARGETS" $((per_target * CHURN_TARGETS)) "${CHURN_INTERVAL}s"
want_series=$((TARGETS * METRICS * (per_target / METRICS)))
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: $INTERVAL
  scrape_timeout: $INTERVAL
scrape_configs:
  - job_name: avalanche
    static_configs:
      - targets: [$lg_targets]
EOF

port=$(free_port)
url="http://127.0.0.1:$port"
mkdir -p "$tmp/data"
starts=0
# start: the server on the same port and data directory; its log is
# $tmp/server.N.log. Sets server_pid and start_t.
start() {
	starts=$((starts + 1))
	# shellcheck disable=SC2086 # PANOPTES_ARGS is a word list
	"$PANOPTES_BIN" server --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
		--storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$port" \
		--web.enable-remote-write-receiver ${PANOPTES_ARGS:-} >"$tmp/server.$starts.log" 2>&1 &
	server_pid=$! start_t=$(now)
}
# ready: wait up to 10 minutes for /-/ready; prints the seconds it took.
ready() {
	for _ in $(seq 6000); do
		kill -0 "$server_pid" 2>/dev/null || { echo "soak: the server exited:" >&2; tail -20 "$tmp/server.$starts.log" >&2; exit 1; }
		curl -sf -o /dev/null --max-time 2 "$url/-/ready" && { elapsed "$start_t"; return; }
		sleep 0.1
	done
	echo "soak: the server is not ready after 10 minutes" >&2
	tail -20 "$tmp/server.$starts.log" >&2
	exit 1
}
# replay N: the WAL replay time the TSDB logged in start N's log.
replay() {
	sed -n 's/.*msg="WAL replay completed".*total_replay_duration=\([^ ]*\).*/\1/p' "$tmp/server.$1.log" | tail -1
}
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || true; }

echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load: $want_series series = $TARGETS targets x $METRICS metrics, scrape every $INTERVAL, $CHURN_TARGETS target(s) replacing their series every ${CHURN_INTERVAL}s;" \
	"$WRITERS remote-write writers x $RW_SERIES series (pause $RW_INTERVAL); $QUERY_CLIENTS query clients (pause $QUERY_PAUSE);" \
	"$RESTARTS kill -9 restarts; slowloris $SLOWLORIS_CONNS connections for ${SLOWLORIS_DURATION}s; ${DURATION}s in all; seed $SEED"
echo "server: $PANOPTES_BIN ($("$PANOPTES_BIN" --version 2>&1 | head -1)) server --web.enable-remote-write-receiver ${PANOPTES_ARGS:-}"

start
ready >/dev/null
for _ in $(seq 600); do
	[ "$(metric prometheus_tsdb_head_series 2>/dev/null || echo 0)" -ge "$want_series" ] && break
	sleep 0.5
done
t0=$(now)
bin/soak load --url "$url" --writers "$WRITERS" --series "$RW_SERIES" --write-interval "$RW_INTERVAL" \
	--query-clients "$QUERY_CLIENTS" --query-pause "$QUERY_PAUSE" --query-range 10m --query-step "$INTERVAL" \
	--out "$tmp" 2>"$tmp/load.log" &
load_pid=$!
pids+=($load_pid)

# The schedule, in seconds after t0: the restarts at random moments between
# 5% and 80% of the run, the slowloris run from 83%.
mapfile -t kills < <(for _ in $(seq "$RESTARTS"); do echo $((DURATION * 5 / 100 + (RANDOM * 32768 + RANDOM) % (DURATION * 75 / 100))); done | sort -n)
slow_at=$((DURATION * 83 / 100))
echo "restarts at (s): ${kills[*]:-none}; slowloris at ${slow_at}s"
: >"$tmp/restarts.tsv"
: >"$tmp/rss.tsv"
next_rss=0 k=0 slow_pid=
while :; do
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", b - a }')
	[ "$t" -lt "$DURATION" ] || break
	if [ "$t" -ge "$next_rss" ]; then
		printf '%d\t%s\t%s\n' "$t" "$(kib "$server_pid" VmRSS)" "$(metric prometheus_tsdb_head_series 2>/dev/null || echo)" >>"$tmp/rss.tsv"
		next_rss=$((t + 10))
	fi
	if [ "$k" -lt "${#kills[@]}" ] && [ "$t" -ge "${kills[$k]}" ]; then
		k=$((k + 1))
		rss=$(kib "$server_pid" VmRSS)
		kill -9 "$server_pid"
		wait "$server_pid" 2>/dev/null || true
		start
		r=$(ready) || exit 1
		printf '%d\t%d\t%s\t%s\t%s\n' "$k" "$t" "$r" "$(replay "$starts")" "$rss" >>"$tmp/restarts.tsv"
		echo "restart $k at ${t}s: ready after ${r}s, WAL replay $(replay "$starts")"
		continue
	fi
	if [ -z "$slow_pid" ] && [ "$t" -ge "$slow_at" ]; then
		bin/soak slowloris --url "$url" --conns "$SLOWLORIS_CONNS" --duration "${SLOWLORIS_DURATION}s" >"$tmp/slowloris.txt" 2>&1 &
		slow_pid=$!
		pids+=($slow_pid)
	fi
	sleep 1
done
slow_rc=0
[ -z "$slow_pid" ] || wait "$slow_pid" || slow_rc=$?
kill -TERM "$load_pid"
wait "$load_pid" || { echo "soak: the load driver failed:" >&2; tail -20 "$tmp/load.log" >&2; exit 1; }
rss_end=$(kib "$server_pid" VmRSS) hwm_end=$(kib "$server_pid" VmHWM)

verify_rc=0
bin/soak verify --url "$url" --acked "$tmp/acked.json" >"$tmp/verify.txt" 2>&1 || verify_rc=$?
final=
if [ "$FINAL_CRASH" = 1 ]; then
	kill -9 "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	start
	r=$(ready) || exit 1
	final="after a final kill -9 (ready after ${r}s, WAL replay $(replay "$starts")): "
	bin/soak verify --url "$url" --acked "$tmp/acked.json" >"$tmp/verify-final.txt" 2>&1 || verify_rc=$((verify_rc + $?))
fi

pct() { sort -g | awk -v p="$1" '{v[NR] = $1} END {i = int(p * NR + 0.999999); if (i < 1) i = 1; printf "%.1f", v[i]}'; }
report() {
	echo
	echo "samples acknowledged vs stored (per writer; every series must hold exactly its writer's acknowledged requests):"
	grep -v '^total:' "$tmp/verify.txt" | column -t -s $'\t'
	grep '^total:' "$tmp/verify.txt" || true
	if [ -n "$final" ]; then
		echo "${final}$(tail -1 "$tmp/verify-final.txt")"
	fi
	echo
	echo "remote-write answers (all writers): $(jq -r '[.writers[].status_counts | to_entries[]] | group_by(.key) | map("\(.[0].key): \(map(.value) | add)") | join(", ")' "$tmp/acked.json"), connection errors $(jq '[.writers[].conn_errors] | add' "$tmp/acked.json")"
	echo
	echo "RSS (VmRSS every 10 s; MiB): $(awk '$2 != "" { v = $2 / 1024; s += v; n++; if (n == 1 || v < lo) lo = v; if (v > hi) hi = v } END { printf "min %.0f, mean %.0f, max %.0f over %d samples", lo, s / n, hi, n }' "$tmp/rss.tsv"); at the end $((rss_end / 1024)), peak of the last process (VmHWM) $((hwm_end / 1024))"
	{
		printf 'from s\tto s\tmin MiB\tmean MiB\tmax MiB\thead series (last)\n'
		awk -v d="$DURATION" '$2 != "" { b = int($1 * 10 / d); v = $2 / 1024; if (!(b in n) || v < lo[b]) lo[b] = v; if (v > hi[b]) hi[b] = v; s[b] += v; n[b]++; hs[b] = $3 }
			END { for (b = 0; b < 10; b++) if (b in n) printf "%d\t%d\t%.0f\t%.0f\t%.0f\t%s\n", b * d / 10, (b + 1) * d / 10, lo[b], s[b] / n[b], hi[b], hs[b] }' "$tmp/rss.tsv"
	} | column -t -s $'\t'
	echo
	ok=$(awk '$5 == 200' "$tmp/queries.tsv" | wc -l) all=$(wc -l <"$tmp/queries.tsv")
	echo "dashboard queries: $all sent, $ok answered 200, $(awk '$5 == 0' "$tmp/queries.tsv" | wc -l) unanswered (server down), $(awk '$5 != 0 && $5 != 200' "$tmp/queries.tsv" | wc -l) errors"
	for kind in instant range; do
		echo "  $kind: p50 $(awk -v k=$kind '$2 == k && $5 == 200 {print $4}' "$tmp/queries.tsv" | pct 0.5) ms, p99 $(awk -v k=$kind '$2 == k && $5 == 200 {print $4}' "$tmp/queries.tsv" | pct 0.99) ms"
	done
	echo "  all: p50 $(awk '$5 == 200 {print $4}' "$tmp/queries.tsv" | pct 0.5) ms, p99 $(awk '$5 == 200 {print $4}' "$tmp/queries.tsv" | pct 0.99) ms"
	echo
	echo "restarts (kill -9 at a random moment, then the same command again):"
	{
		printf '#\tat s\tto /-/ready s\tWAL replay (TSDB log)\tRSS before MiB\n'
		awk -F'\t' '{ printf "%s\t%s\t%s\t%s\t%.0f\n", $1, $2, $3, $4, $5 / 1024 }' "$tmp/restarts.tsv"
	} | column -t -s $'\t'
	[ -s "$tmp/restarts.tsv" ] && echo "  to /-/ready: mean $(awk -F'\t' '{ s += $3 } END { printf "%.1f", s / NR }' "$tmp/restarts.tsv") s, max $(cut -f3 "$tmp/restarts.tsv" | sort -g | tail -1) s"
	echo
	echo "slowloris (UI probed with fresh connections, before and while the connections are held; ms):"
	if [ -s "$tmp/slowloris.txt" ]; then
		grep -E '^slowloris[: ]' "$tmp/slowloris.txt" || true
		grep -vE '^slowloris[: ]' "$tmp/slowloris.txt" | column -t -s $'\t'
		[ "$slow_rc" = 0 ] || echo "  the UI failed probes under slowloris (exit $slow_rc)"
	else
		echo "  not run"
	fi
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
}
report | tee ${RESULTS:+"$RESULTS"}
if [ "$verify_rc" != 0 ]; then
	echo "soak: ACKNOWLEDGED AND STORED SAMPLES DIFFER (data loss or duplicates)" >&2
	KEEP=1
	exit 1
fi
