#!/usr/bin/env bash
# Side-by-side benchmark of `panoptes metrics-api` against metrics-server
# (the v0.8.0 peer hack/test-deps.sh builds into $PANOPTES_CACHE/peers), in
# one run, against a real kube-apiserver + etcd from hack/k8s-testenv:
# NODES Node objects with PODS running pods each, their kubelets faked by one
# process (bench/metricsapi) on 127.2.x.y addresses over TLS. Each server in
# turn is registered as v1beta1.metrics.k8s.io, and measured over CYCLES
# collection cycles: RSS (mean and max), CPU per cycle and per node, cycle
# duration (each one's own histogram), then TOPS runs of the real
# `kubectl top pods -A` through the aggregator (p50/p99), of the list it
# makes, and of the same list straight from the server. Targets: <= 1 MB and <= 0.5 mCPU per node, cycle < 5 s, top p99 <
# 200 ms at 1,000 nodes; ratios to metrics-server are printed.
#
# Usage: bench/metricsapi.sh
# Env: NODES (1000), PODS (30), CYCLES (4), TOPS (30), RESOLUTION (15s),
# METRICS_SERVER (the peer binary; empty string: panoptes only),
# PANOPTES_BIN (a built panoptes), PANOPTES_ARGS / MS_ARGS (extra flags),
# PROFILE_DIR (write each server's CPU profile over the list runs there),
# BENCH_KUBECONFIG (use that API server instead of starting one).
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=${NODES:-1000}
PODS=${PODS:-30}
CYCLES=${CYCLES:-4}
TOPS=${TOPS:-30}
RESOLUTION=${RESOLUTION:-15s}
CACHE=${PANOPTES_CACHE:-$HOME/.cache/panoptes}
MS=${METRICS_SERVER-$(ls -d "$CACHE"/peers/metrics-server-v*/metrics-server 2>/dev/null | sort -V | tail -1 || true)}
KUBECTL=${KUBECTL:-${K8S_TESTENV_BIN:-$CACHE/k8s-testenv/bin}/kubectl}
[ -x "$KUBECTL" ] || { echo "bench: no kubectl at $KUBECTL (hack/k8s-testenv/build.sh builds it)" >&2; exit 1; }
if [ -z "$MS" ]; then echo "bench: no metrics-server peer in $CACHE/peers (hack/test-deps.sh builds it): panoptes only" >&2; fi

# One process listens on NODES addresses and both servers keep a
# connection to each.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

go build -o bin/metricsapibench ./bench/metricsapi
# bin/panoptes, a scratch $TMP and the API server (KUBECONFIG_PATH).
source bench/k8s-testenv.sh

bin/metricsapibench -kubeconfig "$KUBECONFIG_PATH" -panoptes "$PANOPTES_BIN" -metrics-server "$MS" -kubectl "$KUBECTL" \
	-nodes "$NODES" -pods "$PODS" -cycles "$CYCLES" -tops "$TOPS" -resolution "$RESOLUTION" \
	-panoptes-args "${PANOPTES_ARGS:-}" -ms-args "${MS_ARGS:-}" -profile-dir "${PROFILE_DIR:-}"
