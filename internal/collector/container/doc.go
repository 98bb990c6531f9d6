// Package container is the agent's cAdvisor replacement: a collector that
// reports every container, pod and service cgroup of the host with cAdvisor's
// metric names, labels, types and units (container_cpu_usage_seconds_total,
// container_memory_working_set_bytes, ...), read on demand at scrape time
// from internal/cgroups and named through a Namer (the CRI resolver).
//
// It must not import Kubernetes client libraries or runtime SDKs: names come
// through the Namer interface, which cmd/ wires to internal/cri.
package container
