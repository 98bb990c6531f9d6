#!/usr/bin/env bash
# Side-by-side benchmark of `panoptes alertmanager` against Alertmanager
# v0.34.1 (the peer hack/test-deps.sh builds into $PANOPTES_CACHE/peers), in
# one run on one machine: both get the same alertmanager.yml (group_by
# alertname, a webhook receiver answering 200), the same SILENCES silences,
# and the same ALERTS firing alerts (ALERTNAMES alertnames times hosts),
# posted again every RESEND as Prometheus resends its firing alerts (endsAt
# four resends ahead), for DURATION. Reports for each, and as the ratio
# panoptes / alertmanager: RSS at start, mean RSS over the rounds after the
# first with its anonymous (heap, stacks) and file-backed (the binary's
# mapped pages) parts, peak RSS, CPU seconds over the whole run, the mean time to POST a
# round of alerts, and the notifications the webhook got.
#
# Usage: bench/alertmanager.sh
# Env: ALERTS (10000), ALERTNAMES (100), SILENCES (100), RESEND (30s, in
# seconds: 30), DURATION (seconds: 180), AM (the peer binary), PANOPTES_BIN
# (a built panoptes instead of building bin/panoptes), PANOPTES_ARGS /
# AM_ARGS (extra flags).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ALERTS=${ALERTS:-10000}
ALERTNAMES=${ALERTNAMES:-100}
SILENCES=${SILENCES:-100}
RESEND=${RESEND:-30}
DURATION=${DURATION:-180}
CACHE=${PANOPTES_CACHE:-$HOME/.cache/panoptes}
AM=${AM:-$(ls -d "$CACHE"/peers/alertmanager-v*/alertmanager 2>/dev/null | sort -V | tail -1 || true)}
[ -n "$AM" ] && [ -x "$AM" ] || { echo "bench: no Alertmanager peer in $CACHE/peers (hack/test-deps.sh builds it) and AM unset" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: needs python3 (the webhook sink and the payloads)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench: needs curl" >&2; exit 1; }

if [ -z "${PANOPTES_BIN:-}" ]; then
	# As the Makefile builds it (and hack/test-deps.sh the peer).
	CGO_ENABLED=0 go build -trimpath -o bin/panoptes ./cmd/panoptes
	PANOPTES_BIN=bin/panoptes
fi
TMP=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT


# The webhook receiver: answers 200 and counts notifications per path.
SINK_PORT=$(free_port)
python3 - "$SINK_PORT" "$TMP/sink.counts" <<'PY' &
import http.server, sys, collections, json
port, out = int(sys.argv[1]), sys.argv[2]
counts = collections.Counter()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        counts[self.path] += 1
        with open(out, "w") as f:
            json.dump(counts, f)
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
pids+=($!)

for who in panoptes alertmanager; do
	mkdir -p "$TMP/$who"
	cat >"$TMP/$who/alertmanager.yml" <<EOF
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
- name: ops
  webhook_configs:
  - url: http://127.0.0.1:$SINK_PORT/$who
EOF
done

# rss_kb PID [FIELD] and cpu_s PID read /proc.
rss_kb() { awk -v f="${2:-VmRSS}:" '$1 == f {print $2}' "/proc/$1/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

P_PORT=$(free_port)
A_PORT=$(free_port)
# shellcheck disable=SC2086 # the extra flags are words
"$PANOPTES_BIN" alertmanager --config.file="$TMP/panoptes/alertmanager.yml" --storage.path="$TMP/panoptes" \
	--web.listen-address="127.0.0.1:$P_PORT" --log.level=warn ${PANOPTES_ARGS:-} 2>"$TMP/panoptes.log" &
P_PID=$!
pids+=($P_PID)
# shellcheck disable=SC2086
"$AM" --config.file="$TMP/alertmanager/alertmanager.yml" --storage.path="$TMP/alertmanager" \
	--web.listen-address="127.0.0.1:$A_PORT" --cluster.listen-address= --log.level=warn ${AM_ARGS:-} 2>"$TMP/alertmanager.log" &
A_PID=$!
pids+=($A_PID)
for port in $P_PORT $A_PORT; do
	for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.1; done
	curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null || { echo "bench: nothing ready on :$port" >&2; cat "$TMP"/*.log >&2; exit 1; }
done
sleep 2
P_RSS0=$(rss_kb $P_PID) P_ANON0=$(rss_kb $P_PID RssAnon)
A_RSS0=$(rss_kb $A_PID) A_ANON0=$(rss_kb $A_PID RssAnon)

# The silences: each mutes one alertname on a tenth of the hosts.
python3 - "$SILENCES" "$ALERTNAMES" "$TMP/silences" <<'PY'
import json, sys, datetime, os
n, names, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
now = datetime.datetime.now(datetime.timezone.utc)
for i in range(n):
    s = {"matchers": [{"name": "alertname", "value": "Bench%d" % (i % names), "isRegex": False},
                      {"name": "instance", "value": "host-[0-9]*%d" % (i % 10), "isRegex": True}],
         "startsAt": now.isoformat(), "endsAt": (now + datetime.timedelta(hours=2)).isoformat(),
         "createdBy": "bench", "comment": "bench silence %d" % i}
    json.dump(s, open("%s/%d.json" % (out, i), "w"))
PY
for f in "$TMP"/silences/*.json; do
	for port in $P_PORT $A_PORT; do
		curl -sf -XPOST -H 'Content-Type: application/json' --data-binary @"$f" "http://127.0.0.1:$port/api/v2/silences" >/dev/null
	done
done

# alerts FILE: one round of ALERTS alerts, endsAt four resends ahead (as
# Prometheus sets it), startsAt fixed for the run.
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
alerts() {
	python3 - "$ALERTS" "$ALERTNAMES" "$START" "$((4 * RESEND))" "$1" <<'PY'
import json, sys, datetime
n, names, start, ahead, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
ends = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ahead)).isoformat()
alerts = [{"labels": {"alertname": "Bench%d" % (i % names), "instance": "host-%d" % (i // names),
                      "job": "bench", "severity": "warning"},
           "annotations": {"summary": "bench alert %d is firing" % i,
                           "description": "host-%d has been bad for a while" % (i // names)},
           "startsAt": start, "endsAt": ends, "generatorURL": "http://prometheus.example/graph?g0.expr=bench"}
          for i in range(n)]
json.dump(alerts, open(out, "w"))
PY
}

echo "bench: $ALERTS alerts ($ALERTNAMES alertnames), $SILENCES silences, posted every ${RESEND}s for ${DURATION}s" >&2
end=$(($(date +%s) + DURATION))
round=0
P_POST=0 A_POST=0 P_SUM=0 A_SUM=0 SAMPLES=0 P_PEAK=0 A_PEAK=0
P_ANON=0 A_ANON=0 P_FILE=0 A_FILE=0
while [ "$(date +%s)" -lt "$end" ]; do
	round=$((round + 1))
	t0=$(date +%s)
	alerts "$TMP/alerts.json"
	# Alternate who goes first, so neither always posts onto a busier machine.
	order="$P_PORT $A_PORT"
	[ $((round % 2)) = 0 ] && order="$A_PORT $P_PORT"
	for port in $order; do
		took=$(curl -sf -o /dev/null -w '%{time_total}' -XPOST -H 'Content-Type: application/json' \
			--data-binary @"$TMP/alerts.json" "http://127.0.0.1:$port/api/v2/alerts")
		if [ "$port" = "$P_PORT" ]; then P_POST=$(echo "$P_POST + $took" | bc -l); else A_POST=$(echo "$A_POST + $took" | bc -l); fi
	done
	# Sample RSS every second until the next round.
	while [ "$(date +%s)" -lt $((t0 + RESEND)) ] && [ "$(date +%s)" -lt "$end" ]; do
		p=$(rss_kb $P_PID) a=$(rss_kb $A_PID)
		[ "$p" -gt "$P_PEAK" ] && P_PEAK=$p
		[ "$a" -gt "$A_PEAK" ] && A_PEAK=$a
		if [ "$round" -gt 1 ]; then
			P_SUM=$((P_SUM + p)) A_SUM=$((A_SUM + a)) SAMPLES=$((SAMPLES + 1))
			P_ANON=$((P_ANON + $(rss_kb $P_PID RssAnon))) A_ANON=$((A_ANON + $(rss_kb $A_PID RssAnon)))
			P_FILE=$((P_FILE + $(rss_kb $P_PID RssFile))) A_FILE=$((A_FILE + $(rss_kb $A_PID RssFile)))
		fi
		sleep 1
	done
done
P_CPU=$(cpu_s $P_PID)
A_CPU=$(cpu_s $A_PID)
[ "$SAMPLES" -gt 0 ] || { echo "bench: DURATION too short for a second round" >&2; exit 1; }
held() { curl -sf "http://127.0.0.1:$1/api/v2/alerts?silenced=false&inhibited=false" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
P_HELD=$(held $P_PORT)
A_HELD=$(held $A_PORT)
notified() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("/"+sys.argv[2], 0))' "$TMP/sink.counts" "$1" 2>/dev/null || echo 0; }

row() { # name panoptes alertmanager
	printf '%-34s %14s %14s %8s\n' "$1" "$2" "$3" "$(echo "scale=2; $2 / $3" | bc -l 2>/dev/null || echo -)"
}
printf '%-34s %14s %14s %8s\n' "($round rounds of $ALERTS alerts)" panoptes alertmanager ratio
row "RSS at start (MiB)" "$((P_RSS0 / 1024))" "$((A_RSS0 / 1024))"
row "  of which anonymous (MiB)" "$((P_ANON0 / 1024))" "$((A_ANON0 / 1024))"
row "RSS mean after round 1 (MiB)" "$((P_SUM / SAMPLES / 1024))" "$((A_SUM / SAMPLES / 1024))"
row "  anonymous: heap, stacks (MiB)" "$((P_ANON / SAMPLES / 1024))" "$((A_ANON / SAMPLES / 1024))"
row "  file: the binary's pages (MiB)" "$((P_FILE / SAMPLES / 1024))" "$((A_FILE / SAMPLES / 1024))"
row "RSS peak (MiB)" "$((P_PEAK / 1024))" "$((A_PEAK / 1024))"
row "CPU seconds (whole run)" "$P_CPU" "$A_CPU"
row "POST of a round, mean (s)" "$(echo "scale=3; $P_POST / $round" | bc -l)" "$(echo "scale=3; $A_POST / $round" | bc -l)"
row "alerts active (not silenced)" "$P_HELD" "$A_HELD"
row "notifications received" "$(notified panoptes)" "$(notified alertmanager)"
