#!/usr/bin/env bash
# Side-by-side benchmark of `panoptes state` against kube-state-metrics (the
# v2.20.0 peer hack/test-deps.sh builds into $PANOPTES_CACHE/peers), in one
# run, against a real kube-apiserver + etcd from hack/k8s-testenv: creates
# PODS pods (on the nodes, status patched Running), DEPLOYMENTS deployments
# (status patched) and NODES nodes (status patched) with concurrent requests
# (bench/state), starts both with the same flags
# (--resources=pods,deployments,nodes,namespaces), and reports for each and
# as a ratio: time to the first complete exposition, steady RSS (mean over
# WINDOW after SETTLE), peak RSS, CPU time per scrape and scrape p50/p99 over
# SCRAPES full scrapes (alternating, uncompressed), the exposition size, and
# the time from a pod phase change to the metric change (CHANGES changes,
# each /metrics?resources=pods polled by both until the line flips).
#
# Usage: bench/state.sh
# Env: PODS (10000), DEPLOYMENTS (1000), NODES (100), SCRAPES (50),
# CHANGES (10), SETTLE (15s), WINDOW (20s), KSM (the peer binary),
# PANOPTES_BIN (a built panoptes instead of building bin/panoptes),
# PANOPTES_ARGS / KSM_ARGS (extra flags), BENCH_KUBECONFIG (use that API
# server, objects already created there are reused, instead of starting one).
set -euo pipefail
cd "$(dirname "$0")/.."

PODS=${PODS:-10000}
DEPLOYMENTS=${DEPLOYMENTS:-1000}
NODES=${NODES:-100}
SCRAPES=${SCRAPES:-50}
CHANGES=${CHANGES:-10}
SETTLE=${SETTLE:-15s}
WINDOW=${WINDOW:-20s}
CACHE=${PANOPTES_CACHE:-$HOME/.cache/panoptes}
KSM=${KSM:-$(ls -d "$CACHE"/peers/kube-state-metrics-v*/kube-state-metrics 2>/dev/null | sort -V | tail -1 || true)}
[ -n "$KSM" ] && [ -x "$KSM" ] || { echo "bench: no kube-state-metrics peer in $CACHE/peers (hack/test-deps.sh builds it) and KSM unset" >&2; exit 1; }

go build -o bin/statebench ./bench/state
# bin/panoptes, a scratch $TMP and the API server (KUBECONFIG_PATH).
source bench/k8s-testenv.sh

bin/statebench -kubeconfig "$KUBECONFIG_PATH" -panoptes "$PANOPTES_BIN" -ksm "$KSM" \
	-pods "$PODS" -deployments "$DEPLOYMENTS" -nodes "$NODES" -scrapes "$SCRAPES" -changes "$CHANGES" \
	-settle "$SETTLE" -window "$WINDOW" -panoptes-args "${PANOPTES_ARGS:-}" -ksm-args "${KSM_ARGS:-}"
