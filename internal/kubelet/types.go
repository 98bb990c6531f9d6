package kubelet

import "time"

// The Summary API's JSON (k8s.io/kubelet/pkg/apis/stats/v1alpha1), mirrored
// with the same field names, omitempty flags and embedding; only the fields
// this package fills are declared. TestSummaryShape decodes the output into
// the real types with unknown fields disallowed.

// Summary is a node's and its pods' statistics (v1alpha1.Summary).
type Summary struct {
	Node NodeStats  `json:"node"`
	Pods []PodStats `json:"pods"`
}

// NodeStats are the node's statistics (v1alpha1.NodeStats), from the root
// cgroup and the host.
type NodeStats struct {
	NodeName  string        `json:"nodeName"`
	StartTime Time          `json:"startTime"`
	CPU       *CPUStats     `json:"cpu,omitempty"`
	Memory    *MemoryStats  `json:"memory,omitempty"`
	Network   *NetworkStats `json:"network,omitempty"`
	Swap      *SwapStats    `json:"swap,omitempty"`
}

// PodStats are one pod's statistics (v1alpha1.PodStats).
type PodStats struct {
	PodRef     PodReference     `json:"podRef"`
	StartTime  Time             `json:"startTime"`
	Containers []ContainerStats `json:"containers"`
	CPU        *CPUStats        `json:"cpu,omitempty"`
	Memory     *MemoryStats     `json:"memory,omitempty"`
	Network    *NetworkStats    `json:"network,omitempty"`
	// EphemeralStorage is the pod's use of the node's root filesystem: its
	// containers' writable layers and logs, and its pod-level log files
	// (not its emptyDir volumes or etc-hosts, which only the kubelet knows).
	EphemeralStorage *FsStats      `json:"ephemeral-storage,omitempty"`
	ProcessStats     *ProcessStats `json:"process_stats,omitempty"`
	Swap             *SwapStats    `json:"swap,omitempty"`
}

// ContainerStats are one container's statistics (v1alpha1.ContainerStats).
type ContainerStats struct {
	Name      string       `json:"name"`
	StartTime Time         `json:"startTime"`
	CPU       *CPUStats    `json:"cpu,omitempty"`
	Memory    *MemoryStats `json:"memory,omitempty"`
	// Rootfs is the container's writable layer, Logs its log directory.
	Rootfs *FsStats   `json:"rootfs,omitempty"`
	Logs   *FsStats   `json:"logs,omitempty"`
	Swap   *SwapStats `json:"swap,omitempty"`
}

// FsStats is a use of a filesystem (v1alpha1.FsStats): the filesystem's
// size and free space, and the bytes and inodes this use takes.
type FsStats struct {
	Time           Time    `json:"time"`
	AvailableBytes *uint64 `json:"availableBytes,omitempty"`
	CapacityBytes  *uint64 `json:"capacityBytes,omitempty"`
	UsedBytes      *uint64 `json:"usedBytes,omitempty"`
	InodesFree     *uint64 `json:"inodesFree,omitempty"`
	Inodes         *uint64 `json:"inodes,omitempty"`
	InodesUsed     *uint64 `json:"inodesUsed,omitempty"`
}

// PodReference identifies a pod (v1alpha1.PodReference).
type PodReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
}

// InterfaceStats are one network interface's counters
// (v1alpha1.InterfaceStats).
type InterfaceStats struct {
	Name     string  `json:"name"`
	RxBytes  *uint64 `json:"rxBytes,omitempty"`
	RxErrors *uint64 `json:"rxErrors,omitempty"`
	TxBytes  *uint64 `json:"txBytes,omitempty"`
	TxErrors *uint64 `json:"txErrors,omitempty"`
}

// NetworkStats are a network namespace's counters (v1alpha1.NetworkStats):
// the default interface ("eth0") flattened in, and every interface listed.
type NetworkStats struct {
	Time Time `json:"time"`
	InterfaceStats
	Interfaces []InterfaceStats `json:"interfaces,omitempty"`
}

// CPUStats are a cgroup's CPU usage (v1alpha1.CPUStats).
type CPUStats struct {
	Time Time `json:"time"`
	// UsageNanoCores is the CPU usage rate over the last two readings, in
	// billionths of a core; absent until the cgroup has been read twice.
	UsageNanoCores *uint64 `json:"usageNanoCores,omitempty"`
	// UsageCoreNanoSeconds is the cumulative CPU time.
	UsageCoreNanoSeconds *uint64 `json:"usageCoreNanoSeconds,omitempty"`
}

// MemoryStats are a cgroup's memory usage (v1alpha1.MemoryStats; pageFaults
// and majorPageFaults are not read).
type MemoryStats struct {
	Time Time `json:"time"`
	// AvailableBytes is the limit (the machine's memory for the node) minus
	// the working set; absent where there is no limit.
	AvailableBytes  *uint64 `json:"availableBytes,omitempty"`
	UsageBytes      *uint64 `json:"usageBytes,omitempty"`
	WorkingSetBytes *uint64 `json:"workingSetBytes,omitempty"`
	RSSBytes        *uint64 `json:"rssBytes,omitempty"`
}

// SwapStats are a cgroup's swap usage (v1alpha1.SwapStats; the swap limit,
// hence swapAvailableBytes, is not read).
type SwapStats struct {
	Time           Time    `json:"time"`
	SwapUsageBytes *uint64 `json:"swapUsageBytes,omitempty"`
}

// ProcessStats are a pod's process count (v1alpha1.ProcessStats).
type ProcessStats struct {
	ProcessCount *uint64 `json:"process_count,omitempty"`
}

// Time is a time as metav1.Time writes it in JSON: RFC 3339 in UTC, to the
// second, and null for the zero time. The full precision is kept for the
// sample timestamps of /metrics/resource.
type Time struct {
	time.Time
}

// MarshalJSON implements json.Marshaler as metav1.Time does.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(time.RFC3339)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler as metav1.Time does.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var tt time.Time
	if err := tt.UnmarshalJSON(b); err != nil {
		return err
	}
	t.Time = tt.Local()
	return nil
}
