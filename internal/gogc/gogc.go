// Package gogc sets the garbage collector's target percentage from a role's
// option, the one way every role does it. It imports only the standard
// library, so the lean agent build can use it.
package gogc

import (
	"os"
	"runtime/debug"
	"strconv"
)

// Apply sets GOGC to percent unless the GOGC environment variable is set
// (the operator's word wins) or percent is 0 or less (Go's default stays).
// It also sets the variable, as Prometheus does, so that the runtime
// information a role reports (/api/v1/status/runtimeinfo) shows the value in
// force. It returns the percentage in force, -1 when GC is off.
func Apply(percent int) int {
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
