#!/usr/bin/env bash
# Side-by-side benchmark of `panoptes agent` (container collector only)
# against cAdvisor (the peer hack/test-deps.sh builds into
# $PANOPTES_CACHE/peers, the kubelet's embedding of cAdvisor's library) on N
# real cgroup v1 pod containers laid out as the kubelet's cgroupfs driver
# does (kubepods/burstable/pod<uid>/<64 hex>), a few with a sleeping process
# in them. For each N: each process's CPU over an idle 30 s without scrapes
# (cAdvisor reads every cgroup every housekeeping interval), then CPU per
# scrape, p50/p99 latency, RSS and series count from bench/scrapebench
# (cAdvisor is the reference for the ratios). Needs root. The cgroups are
# removed on exit.
# Usage: bench/containers.sh [rounds] [scrapes-per-round]; N=${COUNTS:-"100 500"};
# PANOPTES_ARGS adds agent flags (e.g. --runtime.gomaxprocs=2).
# FS_USAGE=1 (the default) also turns on container filesystem usage: a CRI
# runtime (bench/fakecri) names the containers and reports a writable layer
# for each, and each container gets a kubelet-style log directory
# (/var/log/pods/<ns>_<pod>_<uid>/<container>/, two files) under a scratch
# --path.rootfs, which the agent walks every --volume-stats-agg-period
# (FS_PERIOD, default the kubelet's 1m); FS_USAGE=0 runs without them.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${1:-5}
PER_ROUND=${2:-20}
COUNTS=${COUNTS:-"100 500"}
IDLE=${IDLE:-30}
HOUSEKEEPING=${HOUSEKEEPING:-10s} # the kubelet's
FS_USAGE=${FS_USAGE:-1}
FS_PERIOD=${FS_PERIOD:-1m}
CACHE=${PANOPTES_CACHE:-$HOME/.cache/panoptes}
CADVISOR=${CADVISOR:-$(ls "$CACHE"/peers/cadvisor-* 2>/dev/null | sort | tail -1 || true)}
[ "$(id -u)" = 0 ] || { echo "bench: needs root to create cgroups" >&2; exit 1; }
[ -n "$CADVISOR" ] || echo "bench: no cAdvisor in $CACHE/peers (hack/test-deps.sh builds it); Panoptes alone" >&2

CGO_ENABLED=0 go build -tags "${PANOPTES_TAGS-agentonly}" -trimpath -o bin/panoptes-agent ./cmd/panoptes # the lean DaemonSet build, static as the image ships it
go build -o bin/scrapebench ./bench/scrapebench
go build -o bin/fakecri ./bench/fakecri
fsroot=$(mktemp -d /tmp/panoptes-bench-fs.XXXXXX)
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

controllers=()
for c in cpu cpuacct memory pids blkio; do
	[ -f "/sys/fs/cgroup/$c/cgroup.procs" ] && controllers+=("/sys/fs/cgroup/$c")
done
[ ${#controllers[@]} -gt 0 ] || { echo "bench: no cgroup v1 controllers under /sys/fs/cgroup" >&2; exit 1; }

root="kubepods/burstable"
paths=() sleepers=() pids=()
cleanup() {
	for p in "${pids[@]}" "${sleepers[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}" "${sleepers[@]}"; do wait "$p" 2>/dev/null || true; done
	for ((i = ${#paths[@]} - 1; i >= 0; i--)); do
		for m in "${controllers[@]}"; do rmdir "$m/${paths[i]}" 2>/dev/null || true; done
	done
	# The kubepods parents too, unless something else is in them now.
	for m in "${controllers[@]}"; do rmdir "$m/$root" "$m/${root%%/*}" 2>/dev/null || true; done
	rm -rf "$fsroot"
}
trap cleanup EXIT

# make_containers N: N containers in N/2 pods, a sleeping process in every
# 25th container.
make_containers() {
	local n=$1 made=0 pod id uid logs
	: >"$fsroot/manifest"
	while [ "$made" -lt "$n" ]; do
		uid="$(hex 4)-$(hex 2)-$(hex 2)-$(hex 2)-$(hex 6)"
		pod="$root/pod$uid"
		paths+=("$pod")
		for m in "${controllers[@]}"; do mkdir -p "$m/$pod"; done
		for _ in 1 2; do
			[ "$made" -lt "$n" ] || break
			id="$pod/$(hex 32)"
			paths+=("$id")
			for m in "${controllers[@]}"; do mkdir "$m/$id"; done
			# Its runtime entry and log directory: a current log and a
			# rotated one, as the kubelet keeps them.
			echo "$uid ${id##*/} bench pod-$uid c$made $((made * 4096 + 8192)) $((made % 7 + 3))" >>"$fsroot/manifest"
			logs="$fsroot/var/log/pods/bench_pod-${uid}_$uid/c$made"
			mkdir -p "$logs"
			head -c 20000 /dev/zero >"$logs/0.log"
			head -c 70000 /dev/zero >"$logs/0.log.20261205-120000"
			if [ $((made % 25)) = 0 ]; then
				sleep 3600 &
				sleepers+=($!)
				for m in "${controllers[@]}"; do echo $! >"$m/$id/cgroup.procs"; done
			fi
			made=$((made + 1))
		done
	done
}

remove_containers() {
	for p in "${sleepers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	sleepers=()
	for ((i = ${#paths[@]} - 1; i >= 0; i--)); do
		for m in "${controllers[@]}"; do rmdir "$m/${paths[i]}" 2>/dev/null || true; done
	done
	paths=()
}

# containers_seen URL: the number of pod containers an exporter reports.
containers_seen() {
	curl -sf "$1" | grep '^container_memory_working_set_bytes{' | grep -cE 'id="/kubepods/burstable/pod[^/"]+/[0-9a-f]{64}"' || true
}

echo "machine: $(nproc) cores, $(uname -r); cgroup v1 controllers: ${controllers[*]##*/}"
echo "cadvisor: ${CADVISOR:-none} (--housekeeping_interval=$HOUSEKEEPING, the kubelet's metric set)"
for n in $COUNTS; do
	make_containers "$n"
	pp=$(free_port)
	fsargs=()
	if [ "$FS_USAGE" = 1 ]; then
		mkdir -p "$fsroot/var/lib/containerd"
		bin/fakecri -socket "$fsroot/cri.sock" -manifest "$fsroot/manifest" -layer-root /var/lib/containerd &
		pids+=($!)
		for _ in $(seq 50); do [ -S "$fsroot/cri.sock" ] && break; sleep 0.1; done
		fsargs=(--container-runtime-endpoint="$fsroot/cri.sock" --path.rootfs="$fsroot" --volume-stats-agg-period="$FS_PERIOD")
	fi
	bin/panoptes-agent agent --listen "127.0.0.1:$pp" --collector.disable-defaults --collector.container --log.level=warn "${fsargs[@]}" ${PANOPTES_ARGS:-} &
	ppid=$! pids+=($!)
	targets=(-target "panoptes=http://127.0.0.1:$pp/metrics@$ppid")
	urls=("http://127.0.0.1:$pp/metrics")
	if [ -n "$CADVISOR" ]; then
		cp=$(free_port)
		"$CADVISOR" --listen_ip=127.0.0.1 --port="$cp" --docker_only=false \
			--housekeeping_interval="$HOUSEKEEPING" --allow_dynamic_housekeeping=true >/dev/null 2>&1 &
		cpid=$! pids+=($!)
		targets+=(-target "cadvisor=http://127.0.0.1:$cp/metrics@$cpid")
		urls+=("http://127.0.0.1:$cp/metrics")
	fi
	for u in "${urls[@]}"; do
		for _ in $(seq 120); do
			[ "$(containers_seen "$u")" -ge "$n" ] && break
			sleep 0.5
		done
		echo "N=$n: $u reports $(containers_seen "$u") pod containers"
	done
	if [ "$FS_USAGE" = 1 ]; then
		for _ in $(seq 120); do
			[ "$(curl -sf "${urls[0]}" | grep -c '^container_fs_usage_bytes{')" -ge "$n" ] && break
			sleep 0.5
		done
		echo "N=$n: panoptes reports container_fs_usage_bytes for $(curl -sf "${urls[0]}" | grep -c '^container_fs_usage_bytes{') containers (measured every $FS_PERIOD)"
	fi

	echo "N=$n: CPU over an idle ${IDLE}s (no scrapes):"
	declare -A before=()
	for p in $ppid ${cpid:-}; do before[$p]=$(ticks "$p"); done
	sleep "$IDLE"
	for p in $ppid ${cpid:-}; do
		name=panoptes; [ "$p" = "${cpid:-}" ] && name=cadvisor
		awk -v n="$name" -v t="$(($(ticks "$p") - before[$p]))" -v s="$IDLE" \
			'BEGIN { printf "  %-9s %.2f CPU-s (%.1f%% of a core)\n", n, t/100, t/s }'
	done
	unset before

	echo "N=$n: scrapes ($ROUNDS rounds x $PER_ROUND):"
	bin/scrapebench -rounds "$ROUNDS" -n "$PER_ROUND" -warmup 5 "${targets[@]}"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	pids=() cpid=
	rm -rf "$fsroot/var" "$fsroot/cri.sock"
	remove_containers
	echo
done
