// Package gogc sets the garbage collector's target percentage from a role's
// option, and its memory limit from the container's, the one way every role
// does it. It imports only the standard library, so the lean agent build can
// use it.
package gogc

import (
	"os"
	"runtime/debug"
	"strconv"
)

// MemoryLimitRatio is the share of a container's memory limit that
// MemoryLimit gives the Go runtime: the rest is for what the runtime does
// not count (the binary's mapped pages, cgo, the kernel's socket buffers
// charged to the cgroup) and for the GC's lag, so that the GC works harder
// before the kernel's OOM killer steps in, not after. automemlimit, which
// Prometheus uses for --auto-gomemlimit, defaults to the same 0.9.
const MemoryLimitRatio = 0.9

// Apply sets GOGC to percent unless the GOGC environment variable is set
// (the operator's word wins) or percent is 0 or less (Go's default stays).
// It also sets the variable, as Prometheus does, so that the runtime
// information a role reports (/api/v1/status/runtimeinfo) shows the value in
// force. It returns the percentage in force, -1 when GC is off. It applies
// the memory limit too (MemoryLimit): every role calls Apply at start.
func Apply(percent int) int {
	MemoryLimit()
	return applyPercent(percent)
}

// MemoryLimit sets the Go runtime's soft memory limit from GOMEMLIMIT when
// that holds a bare number of bytes, as Kubernetes writes a container's
// memory limit into it (env valueFrom resourceFieldRef limits.memory, as
// deploy/ does): MemoryLimitRatio of it. GOMEMLIMIT with a unit
// ("900MiB"), "off" or unset is the operator's exact word, which the runtime
// applied at start: it stays. It returns the limit in force, in bytes
// (math.MaxInt64: none).
func MemoryLimit() int64 {
	v := os.Getenv("GOMEMLIMIT")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return debug.SetMemoryLimit(-1)
	}
	limit := int64(float64(n) * MemoryLimitRatio)
	debug.SetMemoryLimit(limit)
	return limit
}

func applyPercent(percent int) int {
	if v, set := os.LookupEnv("GOGC"); set {
		if v == "off" {
			return -1
		}
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		return 100
	}
	if percent <= 0 {
		return 100
	}
	debug.SetGCPercent(percent)
	_ = os.Setenv("GOGC", strconv.Itoa(percent))
	return percent
}
