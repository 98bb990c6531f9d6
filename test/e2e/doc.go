// Package e2e starts the real panoptes binaries, the full one and the lean
// agent build the DaemonSet ships (both built once with -race by
// internal/testkit), and the real peers they replace (Debian's
// prometheus-node-exporter, prometheus and promtool; cAdvisor, Prometheus,
// VictoriaMetrics, kube-state-metrics and metrics-server built by
// hack/test-deps.sh; a real kube-apiserver) on loopback ports and compares
// what they serve. A missing peer skips its test with a one-line reason,
// "missing <what>: <how to get it>", or fails it when CI=true.
package e2e
