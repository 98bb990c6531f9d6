#!/usr/bin/env bash
# Side-by-side benchmark of rule evaluation: `panoptes server` against the
# Prometheus peer (the version hack/test-deps.sh builds into
# $PANOPTES_CACHE/peers), both ingesting the same ~100k series of a
# synthetic cluster (bench/rules: node_exporter, kubelet cAdvisor and
# kube-state-metrics targets named and labelled as kube-prometheus scrapes
# them) and evaluating the same rules every EVAL_INTERVAL: the
# kube-prometheus-style rule files of the e2e tests
# (test/e2e/testdata/rules, the PrometheusRule's spec.groups as a file) and
# the built-in rules (rules/*.yaml: --rules.builtin for Panoptes, the same
# files as rule_files for Prometheus).
#
# Rule-evaluation CPU is the CPU time (/proc/PID/stat) of a server with the
# rules minus that of its twin without them, over the same window: four
# processes run at once against one generator (MODE=concurrent of
# bench/server.sh), so a twin ingests the same bodies at the same instants
# and shares the same noise, and the difference is everything the rules
# cost: queries, appending the records and alerts, and the garbage they
# leave to the GC. (The groups' own duration metrics are wall time, which
# on a 2-core machine also counts waiting for a core; they are reported
# beside it.) Evaluation duration is that of each group evaluation, read
# from prometheus_rule_group_last_duration_seconds and
# prometheus_rule_group_last_evaluation_timestamp_seconds sampled every
# second (each evaluation counted once). RSS is that of the servers with
# rules, and with rules minus without.
#
# Usage: bench/rules.sh [duration-seconds]   (or DURATION=180)
# Env: NODES (20), PODS_PER_NODE (35), CONTAINERS_PER_POD (2), CPUS (8):
# the cluster (the defaults make ~106k series); INTERVAL (5s scrape
# interval), EVAL_INTERVAL (15s), BASELINE (1: run the twins without rules;
# 0: two processes, no rule CPU row), BUILTIN (flag: --rules.builtin;
# files: rules/*.yaml as rule_files for Panoptes too), PANOPTES_ARGS /
# PROM_ARGS, PROM, PANOPTES_CMD, PROFILE_DIR (heap and 20 s CPU pprof
# profiles of both servers with rules after the window), KEEP=1 (keep the
# temp dir: configs, logs, data dirs, the sampled evaluations).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
root=$PWD

DURATION=${1:-${DURATION:-180}}
NODES=${NODES:-20}
PODS_PER_NODE=${PODS_PER_NODE:-35}
CONTAINERS_PER_POD=${CONTAINERS_PER_POD:-2}
CPUS=${CPUS:-8}
INTERVAL=${INTERVAL:-5s}
EVAL_INTERVAL=${EVAL_INTERVAL:-15s}
BASELINE=${BASELINE:-1}
BUILTIN=${BUILTIN:-flag}
CACHE=${PANOPTES_CACHE:-$HOME/.cache/panoptes}
PROM=${PROM:-$(printf '%s\n' "$CACHE"/peers/prometheus-v*/prometheus | sort -V | tail -1)}
[ -x "$PROM" ] || { echo "bench: no Prometheus peer in $CACHE/peers (hack/test-deps.sh builds it) and PROM unset" >&2; exit 1; }
case $BUILTIN in flag | files) ;; *) echo "bench: BUILTIN is flag or files" >&2; exit 2 ;; esac
command -v jq >/dev/null || { echo "bench: needs jq" >&2; exit 1; }
interval_s=${INTERVAL%s}
[[ $interval_s =~ ^[0-9]+$ ]] || { echo "bench: INTERVAL must be whole seconds (5s)" >&2; exit 2; }

go build -o bin/rulesgen ./bench/rules
CGO_ENABLED=0 go build -trimpath -o bin/panoptes ./cmd/panoptes || [ -n "${PANOPTES_CMD:-}" ]
if [ -z "${PANOPTES_CMD:-}" ]; then
	# The help is read whole first: grep -q stops at its match, and with
	# pipefail the writer's SIGPIPE would fail the test.
	help=$(bin/panoptes server --help 2>&1 || true)
	grep -q -- --rules.builtin <<<"$help" || { echo "bench: bin/panoptes server has no --rules.builtin yet" >&2; exit 1; }
	# --web.enable-pprof: PROFILE_DIR's CPU profile (/debug/pprof/profile
	# answers 403 without it).
	PANOPTES_CMD="bin/panoptes server --web.enable-pprof"
fi

bench_tmp rulesbench

now() { date +%s.%N; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# sum NAME < metrics page: the sum of a metric's samples.
sum() { awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $NF} END {printf "%.10g\n", s}'; }
metric() { curl -sf "$1/metrics" | sum "$2"; }

# The generator and its scrape configs.
bin/rulesgen --nodes "$NODES" --pods-per-node "$PODS_PER_NODE" --containers-per-pod "$CONTAINERS_PER_POD" --cpus "$CPUS" \
	--value-interval "$INTERVAL" --scrape-interval "$INTERVAL" --scrape-config "$tmp/scrape.yml" 2>"$tmp/rulesgen.log" &
pids+=($!)
for _ in $(seq 100); do grep -qs '^listening' "$tmp/rulesgen.log" && break; sleep 0.1; done
want_series=$(sed -n 's/^listening .*series=\([0-9]*\).*/\1/p' "$tmp/rulesgen.log")
[ -n "$want_series" ] || { cat "$tmp/rulesgen.log" >&2; exit 1; }

# The rule files: the e2e tests' kube-prometheus-style files, the
# PrometheusRule's spec.groups (its rule file, two spaces in), and for
# Prometheus (or BUILTIN=files) the built-in files.
rule_files=()
for f in test/e2e/testdata/rules/*.yaml; do rule_files+=("$root/$f"); done
for f in test/e2e/testdata/rules/prometheusrule/*.yaml; do
	sed -n '/^spec:/,$p' "$f" | sed '1d; s/^  //' >"$tmp/$(basename "$f")"
	rule_files+=("$tmp/$(basename "$f")")
done
builtin_files=()
for f in rules/*.yaml; do builtin_files+=("$root/$f"); done
# write_config FILE RULE-FILE...: a prometheus.yml with these rule files.
write_config() {
	local out=$1 f
	shift
	{
		printf 'global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n' "$INTERVAL" "$INTERVAL" "$EVAL_INTERVAL"
		if [ $# -gt 0 ]; then
			echo "rule_files:"
			for f in "$@"; do echo "  - \"$f\""; done
		fi
		cat "$tmp/scrape.yml"
	} >"$out"
}
write_config "$tmp/prometheus.yml" "${rule_files[@]}" "${builtin_files[@]}"
write_config "$tmp/base.yml"
if [ "$BUILTIN" = flag ]; then
	write_config "$tmp/panoptes.yml" "${rule_files[@]}"
	panoptes_rules_args=--rules.builtin
else
	cp "$tmp/prometheus.yml" "$tmp/panoptes.yml"
	panoptes_rules_args=
fi
"$PROM" --version >/dev/null 2>&1 && [ -x "$(dirname "$PROM")/promtool" ] &&
	{ "$(dirname "$PROM")/promtool" check config "$tmp/prometheus.yml" >"$tmp/promtool.log" 2>&1 || { cat "$tmp/promtool.log" >&2; exit 1; }; }

declare -A R # results, keyed name.field
names=(panoptes prometheus)
all=(panoptes prometheus)
[ "$BASELINE" = 1 ] && all+=(panoptes-base prometheus-base)

# Every binary compared is read back from disk before the servers start
# (bench/lib.sh's uncache: the twins share the pages of theirs).
# shellcheck disable=SC2086 # PANOPTES_CMD is a word list
uncache $PANOPTES_CMD "$PROM"

# start NAME: start a server; sets R[NAME.pid], R[NAME.url].
start() {
	local name=$1 cmd args config port
	case $name in
	panoptes) cmd=$PANOPTES_CMD args="$panoptes_rules_args ${PANOPTES_ARGS:-}" config=$tmp/panoptes.yml ;;
	panoptes-base) cmd=$PANOPTES_CMD args=${PANOPTES_ARGS:-} config=$tmp/base.yml ;;
	prometheus) cmd=$PROM args=${PROM_ARGS:-} config=$tmp/prometheus.yml ;;
	prometheus-base) cmd=$PROM args=${PROM_ARGS:-} config=$tmp/base.yml ;;
	esac
	port=$(free_port)
	mkdir -p "$tmp/$name/data"
	# shellcheck disable=SC2086 # cmd and args are word lists
	$cmd --config.file="$config" --storage.tsdb.path="$tmp/$name/data" \
		--storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$port" \
		--query.timeout=2m --query.max-samples=50000000 $args >"$tmp/$name/log" 2>&1 &
	pids+=($!)
	R[$name.pid]=$! R[$name.url]="http://127.0.0.1:$port" R[$name.start]=$(now)
}

# ready NAME: wait for the first full scrape of every target.
ready() {
	local name=$1 url=${R[$1.url]} pid=${R[$1.pid]} series=0
	for _ in $(seq 360); do
		kill -0 "$pid" 2>/dev/null || { echo "bench: $name exited:" >&2; tail -20 "$tmp/$name/log" >&2; exit 1; }
		series=$(metric "$url" prometheus_tsdb_head_series 2>/dev/null || true)
		[ "${series%.*}" -ge "$want_series" ] 2>/dev/null && return 0
		sleep 0.5
	done
	echo "bench: $name has ${series:-no} head series after 180 s, want $want_series" >&2
	tail -20 "$tmp/$name/log" >&2
	exit 1
}

# sample NAME T: one sample of a server: VmRSS, and for a server with rules
# each group's last evaluation (time, duration) from its /metrics.
sample() {
	local name=$1 t=$2
	echo "$t $(status_kib "${R[$name.pid]}" VmRSS)" >>"$tmp/$name/rss"
	curl -sf "${R[$name.url]}/metrics" >"$tmp/$name/metrics.txt" || return 0
	case $name in *-base) return 0 ;; esac
	awk '
		index($1, "prometheus_rule_group_last_duration_seconds{") == 1 || index($1, "prometheus_rule_group_last_evaluation_timestamp_seconds{") == 1 {
			match($1, /rule_group="[^"]*"/)
			g = substr($1, RSTART + 12, RLENGTH - 13)
			sub(/.*;/, "", g) # the group name; the file differs (builtin/ vs a path)
			if (index($1, "duration")) d[g] = $NF; else ts[g] = $NF
		}
		END { for (g in d) if (ts[g] > 0) printf "%s %.3f %s\n", g, ts[g], d[g] }' "$tmp/$name/metrics.txt" >>"$tmp/$name/evals"
}

# watch_until END: sample every server every second until END.
watch_until() {
	local end=$1 n t
	while t=$(now) && awk -v t="$t" -v e="$end" 'BEGIN { exit !(t + 1 < e) }'; do
		for n in "${all[@]}"; do sample "$n" "$t"; done
		sleep 1
	done
	local d
	d=$(awk -v e="$end" -v n="$(now)" 'BEGIN { d = e - n; printf "%.3f", (d > 0 ? d : 0) }')
	sleep "$d"
}

# snapshot NAME WHEN: CPU ticks and memory at the window's start (0) or end (1).
snapshot() {
	local name=$1 w=$2 pid=${R[$1.pid]}
	R[$name.t$w]=$(now) R[$name.ticks$w]=$(ticks "$pid")
	[ "$w" = 1 ] || return 0
	R[$name.hwm]=$(status_kib "$pid" VmHWM) R[$name.rss]=$(status_kib "$pid" VmRSS)
	curl -sf "${R[$name.url]}/metrics" >"$tmp/$name/metrics.end" || : >"$tmp/$name/metrics.end"
	R[$name.series]=$(sum prometheus_tsdb_head_series <"$tmp/$name/metrics.end")
	R[$name.heap]=$(sum go_memstats_heap_inuse_bytes <"$tmp/$name/metrics.end")
	R[$name.alloc]=$(sum go_memstats_alloc_bytes_total <"$tmp/$name/metrics.end")
	R[$name.gcs]=$(sum go_gc_duration_seconds_count <"$tmp/$name/metrics.end")
	R[$name.gogc]=$(sum go_gc_gogc_percent <"$tmp/$name/metrics.end")
}

profile() {
	[ -n "${PROFILE_DIR:-}" ] || return 0
	mkdir -p "$PROFILE_DIR"
	local name cpu=()
	for name in "$@"; do
		curl -sf -o "$PROFILE_DIR/rules-$name.heap.pb.gz" "${R[$name.url]}/debug/pprof/heap" || echo "bench: $name serves no /debug/pprof/heap" >&2
		curl -sf -o "$PROFILE_DIR/rules-$name.cpu.pb.gz" "${R[$name.url]}/debug/pprof/profile?seconds=20" &
		cpu+=($!)
	done
	for p in "${cpu[@]}"; do wait "$p" || echo "bench: no CPU profile" >&2; done
}

echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "panoptes: $PANOPTES_CMD $panoptes_rules_args ${PANOPTES_ARGS:-}"
echo "prometheus: $PROM ${PROM_ARGS:-} ($("$PROM" --version 2>&1 | head -1))"
echo "load: $(sed -n 's/^listening address=[^ ]* //p' "$tmp/rulesgen.log"), scrape every $INTERVAL; rules every $EVAL_INTERVAL: ${#rule_files[@]} kube-prometheus-style files + ${#builtin_files[@]} built-in; window ${DURATION}s from the start; baseline twins: $([ "$BASELINE" = 1 ] && echo yes || echo no)"

for n in "${all[@]}"; do start "$n"; done
for n in "${all[@]}"; do ready "$n"; done
for n in "${all[@]}"; do snapshot "$n" 0; done
t0=$(now)
end=$(awk -v s="${R[panoptes.start]}" -v t0="$t0" -v d="$DURATION" -v i="$interval_s" \
	'BEGIN { n = int((s + d - t0) / i); if (n < 1) n = 1; printf "%.3f\n", t0 + n * i }')
watch_until "$end"
for n in "${all[@]}"; do snapshot "$n" 1; done
t1=$(now)
for n in "${names[@]}"; do
	R[$n.alerts]=$(curl -sf "${R[$n.url]}/api/v1/alerts" | jq '[.data.alerts[] | select(.state == "firing")] | length' || echo "?")
	R[$n.groups]=$(curl -sf "${R[$n.url]}/api/v1/rules" | jq '.data.groups | length' || echo "?")
	R[$n.rules]=$(curl -sf "${R[$n.url]}/api/v1/rules" | jq '[.data.groups[].rules[]] | length' || echo "?")
	R[$n.unhealthy]=$(curl -sf "${R[$n.url]}/api/v1/rules" | jq '[.data.groups[].rules[] | select(.health != "ok")] | length' || echo "?")
done
echo "window done at load average $(cut -d' ' -f1-3 /proc/loadavg)"
profile "${names[@]}"

# The evaluations inside the window, each once: "group ts duration".
for n in "${names[@]}"; do
	sort -u -k1,2 "$tmp/$n/evals" | awk -v a="$t0" -v b="$t1" '$2 >= a && $2 <= b' >"$tmp/$n/evals.window"
	awk '{print $3}' "$tmp/$n/evals.window" >"$tmp/$n/durations"
done
# pct P FILE: the nearest-rank percentile of a column of numbers.
pct() { sort -g "$2" | awk -v p="$1" '{v[NR] = $1} END {i = int(p * NR + 0.999999); if (i < 1) i = 1; print (NR ? v[i] : 0)}'; }

echo
echo "rule groups: evaluations in the window, mean duration (ms):"
{
	printf 'group\tevals\tpanoptes\tprometheus\tratio\n'
	join -a1 -a2 -e 0 -o 0,1.2,1.3,2.2,2.3 \
		<(awk '{n[$1]++; s[$1] += $3} END {for (g in n) printf "%s %d %.3f\n", g, n[g], s[g] / n[g] * 1000}' "$tmp/panoptes/evals.window" | sort) \
		<(awk '{n[$1]++; s[$1] += $3} END {for (g in n) printf "%s %d %.3f\n", g, n[g], s[g] / n[g] * 1000}' "$tmp/prometheus/evals.window" | sort) |
		awk '{printf "%s\t%s/%s\t%.2f\t%.2f\t%.2fx\n", $1, $2, $4, $3, $5, ($5 > 0 ? $3 / $5 : 0)}' | sort -t $'\t' -k4,4gr
} | column -t -s $'\t'

echo
echo "summary (ratio = panoptes / prometheus; lower is better):"
{
	printf 'metric\tpanoptes\tprometheus\tratio\n'
	row() { awk -v m="$1" -v a="$2" -v b="$3" -v f="$4" 'BEGIN { printf "%s\t" f "\t" f "\t%.2fx\n", m, a, b, (b != 0 ? a/b : 0) }'; }
	info() { printf '%s\t%s\t%s\t\n' "$1" "$2" "$3"; }
	v() { awk "BEGIN { print $1 }"; }
	declare -A x
	for n in "${all[@]}"; do
		x[$n.dt]=$(v "${R[$n.t1]} - ${R[$n.t0]}")
		x[$n.cpu]=$(v "(${R[$n.ticks1]} - ${R[$n.ticks0]}) / 100")
		x[$n.rssm]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { from = (a + b) / 2 } $1 >= from { s += $2; n++ } END { printf "%.1f\n", n ? s / n / 1024 : 0 }' "$tmp/$n/rss")
	done
	for n in "${names[@]}"; do
		x[$n.evals]=$(wc -l <"$tmp/$n/durations")
		x[$n.sum]=$(awk '{s += $1} END {print s + 0}' "$tmp/$n/durations")
		x[$n.p50]=$(v "$(pct 0.5 "$tmp/$n/durations") * 1000")
		x[$n.p99]=$(v "$(pct 0.99 "$tmp/$n/durations") * 1000")
		x[$n.max]=$(v "$(pct 1 "$tmp/$n/durations") * 1000")
		x[$n.q99]=$(awk '$1 == "prometheus_rule_group_duration_seconds{quantile=\"0.99\"}" {print $2 * 1000}' "$tmp/$n/metrics.end")
		x[$n.samples]=$(sum prometheus_rule_group_last_evaluation_samples <"$tmp/$n/metrics.end")
		x[$n.fail]=$(sum prometheus_rule_evaluation_failures_total <"$tmp/$n/metrics.end")
		x[$n.evaltotal]=$(sum prometheus_rule_evaluations_total <"$tmp/$n/metrics.end")
	done
	p=panoptes q=prometheus
	info "rule groups / rules / not ok" "${R[$p.groups]} / ${R[$p.rules]} / ${R[$p.unhealthy]}" "${R[$q.groups]} / ${R[$q.rules]} / ${R[$q.unhealthy]}"
	info "alerts firing at the end" "${R[$p.alerts]}" "${R[$q.alerts]}"
	info "samples of the last evaluations" "${x[$p.samples]}" "${x[$q.samples]}"
	info "rule evaluations / failures (whole run)" "${x[$p.evaltotal]} / ${x[$p.fail]}" "${x[$q.evaltotal]} / ${x[$q.fail]}"
	row "head series" "${R[$p.series]}" "${R[$q.series]}" %d
	if [ "$BASELINE" = 1 ]; then
		row "rule CPU s (with - without rules)" "$(v "${x[$p.cpu]} - ${x[$p-base.cpu]}")" "$(v "${x[$q.cpu]} - ${x[$q-base.cpu]}")" %.2f
		row "rule CPU % of a core" "$(v "(${x[$p.cpu]} - ${x[$p-base.cpu]}) / ${x[$p.dt]} * 100")" "$(v "(${x[$q.cpu]} - ${x[$q-base.cpu]}) / ${x[$q.dt]} * 100")" %.1f
		row "  CPU s with rules" "${x[$p.cpu]}" "${x[$q.cpu]}" %.2f
		row "  CPU s without rules" "${x[$p-base.cpu]}" "${x[$q-base.cpu]}" %.2f
	else
		row "CPU s with rules" "${x[$p.cpu]}" "${x[$q.cpu]}" %.2f
	fi
	row "group evaluations in the window" "${x[$p.evals]}" "${x[$q.evals]}" %d
	row "group evaluation time s (sum, wall)" "${x[$p.sum]}" "${x[$q.sum]}" %.2f
	row "group evaluation p50 ms" "${x[$p.p50]}" "${x[$q.p50]}" %.2f
	row "group evaluation p99 ms" "${x[$p.p99]}" "${x[$q.p99]}" %.2f
	row "group evaluation max ms" "${x[$p.max]}" "${x[$q.max]}" %.2f
	row "prometheus_rule_group_duration_seconds p99 ms" "${x[$p.q99]:-0}" "${x[$q.q99]:-0}" %.2f
	row "peak RSS MiB (VmHWM)" "$(v "${R[$p.hwm]} / 1024")" "$(v "${R[$q.hwm]} / 1024")" %.1f
	row "mean RSS MiB (2nd half of window)" "${x[$p.rssm]}" "${x[$q.rssm]}" %.1f
	row "RSS MiB at the end" "$(v "${R[$p.rss]} / 1024")" "$(v "${R[$q.rss]} / 1024")" %.1f
	[ "$BASELINE" = 1 ] && row "  mean RSS MiB of the rules (with - without)" "$(v "${x[$p.rssm]} - ${x[$p-base.rssm]}")" "$(v "${x[$q.rssm]} - ${x[$q-base.rssm]}")" %.1f
	row "Go heap in use MiB (at end)" "$(v "${R[$p.heap]} / 1048576")" "$(v "${R[$q.heap]} / 1048576")" %.1f
	row "Go allocated GiB (whole run)" "$(v "${R[$p.alloc]} / 1073741824")" "$(v "${R[$q.alloc]} / 1073741824")" %.2f
	row "Go GC cycles (whole run)" "${R[$p.gcs]}" "${R[$q.gcs]}" %d
	row "GOGC" "${R[$p.gogc]}" "${R[$q.gogc]}" %d
} | column -t -s $'\t'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
