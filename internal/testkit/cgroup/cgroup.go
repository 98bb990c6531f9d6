// Package cgroup makes real cgroup v1 cgroups for the tests that watch
// the container collector see them (test/e2e, test/ui): created under every
// v1 controller mount of the host, a process moved in, and removed, deepest
// first, when the test ends. Only tests import it.
package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// V1Controllers are the cgroup v1 hierarchies the test cgroups are made in.
var V1Controllers = []string{"cpu", "cpuacct", "memory", "pids", "blkio"}

// RequireRoot skips a test that needs root to make cgroups (and network
// namespaces), or fails it under CI=true, where the tests run as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root to make cgroups (and network namespaces); CI runs as root")
	}
	t.Skip("needs root to make cgroups (and network namespaces)")
}

// Make creates path (relative, e.g. kubepods/burstable/pod<uid>/<id>) under
// every v1 controller mount that exists and removes it, deepest first, when
// the test ends (after the cleanups registered later, such as killing the
// process inside). It returns the mounts used; with none, the test skips.
func Make(t testing.TB, path string) []string {
	t.Helper()
	var mounts []string
	for _, c := range V1Controllers {
		m := filepath.Join("/sys/fs/cgroup", c)
		if _, err := os.Stat(filepath.Join(m, "cgroup.procs")); err != nil {
			continue
		}
		mounts = append(mounts, m)
		if err := os.MkdirAll(filepath.Join(m, path), 0o755); err != nil {
			t.Fatalf("create cgroup %s: %v", filepath.Join(m, path), err)
		}
	}
	if len(mounts) == 0 {
		t.Skip("no writable cgroup v1 controllers on this machine")
	}
	t.Cleanup(func() {
		parts := strings.Split(path, "/")
		for i := len(parts); i > 0; i-- {
			for _, m := range mounts {
				_ = os.Remove(filepath.Join(m, filepath.Join(parts[:i]...)))
			}
		}
	})
	return mounts
}

// Join moves pid into path under every mount.
func Join(t testing.TB, mounts []string, path string, pid int) {
	t.Helper()
	for _, m := range mounts {
		if err := os.WriteFile(filepath.Join(m, path, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatalf("move %d into %s: %v", pid, filepath.Join(m, path), err)
		}
	}
}
