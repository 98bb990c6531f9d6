// Package metricsapi is the resource metrics API (metrics.k8s.io/v1beta1)
// that `kubectl top` and the HorizontalPodAutoscaler read: it collects the
// CPU and memory usage of every node and pod from the kubelets' (or panoptes
// agents') /metrics/resource, keeps the last two points of each in memory,
// and serves them as an aggregated API server built on k8s.io/apiserver, with
// metrics-server's importable API group (sigs.k8s.io/metrics-server/pkg/api)
// so that the JSON is metrics-server's own.
//
// It is a Kubernetes package: it may import k8s.io/*, client-go and
// k8s.io/apiserver. It must not be imported by the agent (internal/agent,
// internal/kubelet), which is built without Kubernetes libraries.
package metricsapi
