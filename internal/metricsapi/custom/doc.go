// Package custom serves custom.metrics.k8s.io and external.metrics.k8s.io
// from PromQL against a Prometheus-compatible API (panoptes server), as
// prometheus-adapter does: rules in prometheus-adapter's format map series
// to Kubernetes objects and name the metrics, and each API request becomes
// one instant query whose result is returned. It implements
// sigs.k8s.io/custom-metrics-apiserver's provider interfaces.
package custom
