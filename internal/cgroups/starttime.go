package cgroups

import (
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// StartTime returns when the cgroup at path was created, taken as its
// directory's change time in the first hierarchy that has it (cAdvisor's
// container_start_time_seconds), or the zero time when it cannot tell.
func (h Hierarchy) StartTime(path string) time.Time {
	roots := make([]string, 0, 5)
	for _, c := range []string{"cpu", "cpuacct", "memory", "pids"} {
		if m := h.V1[c]; m != "" {
			roots = append(roots, m)
		}
	}
	if h.Unified != "" {
		roots = append(roots, h.Unified)
	}
	for _, root := range roots {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(root, path), &st); err == nil {
			return time.Unix(st.Ctim.Unix())
		}
	}
	return time.Time{}
}
