// Package cgroups finds the container-like control groups of a host and
// reads their resource usage, from cgroup v1 (one hierarchy per controller)
// and cgroup v2 (the unified hierarchy), under the cgroupfs and systemd
// drivers: Kubernetes pods and their containers, plain docker, containerd and
// CRI-O containers, and systemd services.
//
// It reads files under the host's /sys/fs/cgroup and /proc only; parsers of
// cgroup files are pure functions over io.Reader and fuzzed. It knows nothing
// of metrics, names from the container runtime, or Kubernetes APIs, and must
// not import client libraries or runtime SDKs.
package cgroups
