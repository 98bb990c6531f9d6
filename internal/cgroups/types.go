package cgroups

import "time"

// Kind says what a cgroup holds, judged from its path.
type Kind int

// The kinds of cgroup Discover reports.
const (
	// KindOther is any other cgroup (a slice, a user session).
	KindOther Kind = iota
	// KindRoot is the root cgroup, "/": the whole machine.
	KindRoot
	// KindPod is a pod's cgroup (kubepods/.../pod<uid>), parent of its containers.
	KindPod
	// KindPodContainer is a container of a Kubernetes pod, including the pause
	// (sandbox) container.
	KindPodContainer
	// KindContainer is a container outside Kubernetes (docker, containerd, CRI-O).
	KindContainer
	// KindService is a systemd service (system.slice/<name>.service).
	KindService
)

// Ref identifies one cgroup and what its path tells about it.
type Ref struct {
	// Path is the cgroup's path relative to the hierarchy root, beginning
	// with "/" ("/" for the root): cAdvisor's "id" label, e.g.
	// /kubepods/burstable/pod6b0c.../0123abcd... or
	// /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b0c....slice/cri-containerd-0123abcd....scope
	Path string
	Kind Kind
	// PodUID is the pod's UID, with dashes (6b0c5e1a-...), for KindPod and
	// KindPodContainer; the systemd driver writes it with underscores in the
	// path, which Classify turns back into dashes.
	PodUID string
	// QOSClass is "guaranteed", "burstable" or "besteffort" for pod cgroups.
	QOSClass string
	// ContainerID is the runtime's container ID (64 hex digits) for
	// KindPodContainer and KindContainer.
	ContainerID string
	// Runtime is "docker", "containerd" or "crio" when the path says so
	// (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope), else "".
	Runtime string
	// Service is the unit name ("sshd.service") for KindService.
	Service string
}

// Stats is one cgroup's resource usage at one moment. A field whose file is
// missing keeps its zero value and its Has* flag false; cumulative values are
// in seconds and bytes, as cAdvisor exports them.
type Stats struct {
	// Timestamp is when the stats were read.
	Timestamp time.Time

	HasCPU bool
	CPU    CPUStats

	HasMemory bool
	Memory    MemoryStats

	HasIO bool
	// IO is per block device.
	IO []IOStats

	HasPids bool
	// Processes is the number of processes (cgroup.procs), Threads the number
	// of tasks (tasks / cgroup.threads, or pids.current).
	Processes, Threads uint64

	// PID is one process of the cgroup, 0 if none: its /proc/<pid>/net/dev
	// gives the cgroup's network namespace statistics.
	PID int
}

// CPUStats are cpu and cpuacct figures.
type CPUStats struct {
	UsageSeconds, UserSeconds, SystemSeconds float64
	Periods, ThrottledPeriods                uint64
	ThrottledSeconds                         float64
	// Quota and Period are the CFS bandwidth limit in microseconds, as
	// cAdvisor's container_spec_cpu_quota/period report them; Quota is 0
	// when unlimited (v1 -1, v2 "max").
	QuotaMicros, PeriodMicros int64
	// Shares is cpu.shares (v1) or converted from cpu.weight (v2) the way
	// the kubelet converts (weight 1..10000 <-> shares 2..262144).
	Shares uint64
	// HasSpec is true when the cgroup has a directory in the cpu
	// controller's hierarchy, where the quota, period and shares live; a v1
	// cgroup made in cpuacct but not cpu has usage without them. cAdvisor
	// exports container_spec_cpu_* only then (its Spec.HasCpu).
	HasSpec bool
}

// MemoryStats are memory controller figures, in bytes.
type MemoryStats struct {
	// Usage is memory.usage_in_bytes (v1) or memory.current (v2).
	Usage uint64
	// WorkingSet is Usage minus inactive file pages (never below 0), as
	// cAdvisor computes container_memory_working_set_bytes.
	WorkingSet uint64
	RSS        uint64 // v1 total_rss; v2 anon
	Cache      uint64 // v1 total_cache; v2 file
	MappedFile uint64 // v1 total_mapped_file; v2 file_mapped
	Swap       uint64 // v1 total_swap; v2 memory.swap.current
	Failcnt    uint64 // v1 memory.failcnt; v2 0
	// Limit is memory.limit_in_bytes / memory.max; 0 when unlimited (v1's
	// huge page-aligned number and v2's "max" both mean unlimited).
	Limit uint64
	// OOMKills is the number of OOM kills (v2 memory.events oom_kill; v1
	// memory.oom_control oom_kill where the kernel has it).
	OOMKills uint64
}

// IOStats are one block device's totals.
type IOStats struct {
	Major, Minor                         uint64
	ReadBytes, WriteBytes, Reads, Writes uint64
}

// Hierarchy is where a host's cgroup controllers are mounted, as seen from
// this process (paths already re-rooted under the configured sysfs root).
type Hierarchy struct {
	// Unified is the cgroup v2 mount ("/sys/fs/cgroup" on a v2 host,
	// "/sys/fs/cgroup/unified" on a hybrid one), "" if none.
	Unified string
	// UnifiedControllers are the controllers enabled in the unified
	// hierarchy (cgroup.controllers at its root): "cpu", "memory", "io", "pids".
	UnifiedControllers []string
	// V1 maps a cgroup v1 controller name ("cpu", "cpuacct", "memory",
	// "blkio", "pids") to its mount path; co-mounted controllers
	// ("cpu,cpuacct") appear under each name with the same path.
	V1 map[string]string
}
