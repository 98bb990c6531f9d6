// Package top prints the table of `kubectl top nodes|pods` (CPU(cores),
// CPU(%), MEMORY(bytes), MEMORY(%)) from the metrics API of a cluster, or
// from the local panoptes agent's kubelet-shaped /metrics/resource on a host
// without Kubernetes, like `docker stats`.
//
// It reads the API with client-go and the agent with net/http. Options
// (options.go) say what to list and where, with their defaults (NewOptions)
// and Validate; NewSource picks the metrics API or the agent, and Nodes and
// Pods print the tables. It parses no flags (cmd/panoptes binds them). It is
// a client of the metrics API, not part of its server: it must not import
// internal/metricsapi.
package top
