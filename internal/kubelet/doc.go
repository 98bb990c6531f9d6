// Package kubelet serves the kubelet's resource endpoints from the container
// collector's snapshots, so that the consumers of a kubelet's cAdvisor-backed
// statistics (metrics-server, the Horizontal Pod Autoscaler through it,
// kubectl top, dashboards reading the Summary API) work unchanged when the
// Panoptes agent stands in for cAdvisor:
//
//   - /metrics/resource (NewResourceHandler): the kubelet's resource metrics
//     collector (pkg/kubelet/metrics/collectors/resource_metrics.go, Kubernetes
//     v1.37): the node's, pods' and containers' cumulative CPU time, memory
//     working set and swap usage, each stamped with the time its cgroup was
//     read, the containers' start times and resource_scrape_error, in the
//     Prometheus text format 0.0.4 with the "[STABLE] " and "[ALPHA] " help
//     prefixes that k8s.io/component-base adds.
//   - /stats/summary (NewSummaryHandler): the Summary API
//     (k8s.io/kubelet/pkg/apis/stats/v1alpha1) as JSON, with usageNanoCores
//     computed from the last two readings of each cgroup, and the
//     only_cpu_and_memory=true form metrics-server used to ask for.
//
// Both are built the way the kubelet's cAdvisor stats provider builds them:
// the node from the root cgroup, a pod from its pod cgroup and its
// containers' cgroups, a container from its own cgroup, the pod sandbox
// (pause container, named "POD" or "") only lending the pod its start time.
//
// Differences from the kubelet, all from data the snapshot does not carry:
// no filesystem, volume, ephemeral-storage, rlimit, PSI or system-container
// ("kubelet", "runtime", "pods", "misc") statistics; no page fault counters;
// no swap limit (so no container_swap_limit_bytes and no swapAvailableBytes);
// usageNanoCores is left out, rather than reported as 0, until a cgroup has
// been read twice; a pod's start time is its sandbox's creation time rather
// than the API server's status.startTime.
//
// The package must not import any k8s.io module outside its tests: the agent
// runs on every node and stays small. TestNoKubernetesImports enforces it;
// the Summary API types are mirrored here field for field, and a test decodes
// the output into the real types with unknown fields disallowed.
package kubelet
