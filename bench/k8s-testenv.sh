# Sourced by the benchmarks of the Kubernetes roles (state.sh,
# metricsapi.sh), from the repository root, after `set -euo pipefail`.
#
# Sets PANOPTES_BIN (the given one, or bin/panoptes built static as the image
# ships it), TMP (a scratch directory removed on exit) and KUBECONFIG_PATH:
# BENCH_KUBECONFIG when given, or the admin kubeconfig of a kube-apiserver +
# etcd started from hack/k8s-testenv under $TMP/run and stopped on exit.

PANOPTES_BIN=${PANOPTES_BIN:-}
if [ -z "$PANOPTES_BIN" ]; then
	CGO_ENABLED=0 go build -trimpath -o bin/panoptes ./cmd/panoptes
	PANOPTES_BIN=bin/panoptes
fi

TMP=$(mktemp -d)
cleanup() {
	if [ -z "${BENCH_KUBECONFIG:-}" ] && [ -f "$TMP/run/kubeconfig" ]; then
		K8S_TESTENV_RUN_DIR=$TMP/run hack/k8s-testenv/down.sh >/dev/null 2>&1 || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

KUBECONFIG_PATH=${BENCH_KUBECONFIG:-}
if [ -z "$KUBECONFIG_PATH" ]; then
	K8S_TESTENV_RUN_DIR=$TMP/run hack/k8s-testenv/up.sh >"$TMP/env"
	KUBECONFIG_PATH=$TMP/run/kubeconfig
fi
