// Package cgroup makes real cgroup v1 cgroups for the tests that watch
// the container collector see them (test/e2e, test/ui): created under every
// v1 controller mount of the host, a process moved in, and removed, deepest
// first, when the test ends. Only tests import it.
package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// V1Controllers are the cgroup v1 hierarchies the test cgroups are made in.
var V1Controllers = []string{"cpu", "cpuacct", "memory", "pids", "blkio"}

// RequireRoot skips a test that needs root to make cgroups (and network
// namespaces), or fails it under CI=true, where the tests run as root
// (testkit.RequireRoot).
func RequireRoot(t testing.TB) {
	t.Helper()
	testkit.RequireRoot(t, "to make cgroups (and network namespaces)")
}

// RequireV1 returns the mounts of the V1Controllers that exist and are
// writable, after RequireRoot; with none, the test skips, or fails under
// CI=true (testkit.Missing).
func RequireV1(t testing.TB) []string {
	t.Helper()
	RequireRoot(t)
	var mounts []string
	for _, c := range V1Controllers {
		m := filepath.Join("/sys/fs/cgroup", c)
		if syscall.Access(filepath.Join(m, "cgroup.procs"), 2 /* W_OK */) == nil {
			mounts = append(mounts, m)
		}
	}
	if len(mounts) == 0 {
		testkit.Missing(t, "cgroup v1", "no writable cgroup v1 controller under /sys/fs/cgroup (the test makes its cgroups in the v1 hierarchies "+strings.Join(V1Controllers, ", ")+")")
	}
	return mounts
}

// Make creates path (relative, e.g. kubepods/burstable/pod<uid>/<id>) under
// every writable v1 controller mount (RequireV1) and removes it, deepest
// first, when the test ends (after the cleanups registered later, such as
// killing the process inside). It returns the mounts used.
func Make(t testing.TB, path string) []string {
	t.Helper()
	mounts := RequireV1(t)
	var made []string
	parts := strings.Split(path, "/")
	for i := range parts {
		if _, err := os.Stat(filepath.Join(mounts[0], filepath.Join(parts[:i+1]...))); err != nil {
			made = append(made, "/"+filepath.Join(parts[:i+1]...))
		}
	}
	if err := record(made); err != nil {
		t.Fatalf("record the test's cgroups: %v", err)
	}
	for _, m := range mounts {
		if err := os.MkdirAll(filepath.Join(m, path), 0o755); err != nil {
			t.Fatalf("create cgroup %s: %v", filepath.Join(m, path), err)
		}
	}
	t.Cleanup(func() {
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

// madeLog is where Make writes down, before creating them, the cgroups it
// creates (as the container collector's id label has them, one a line), so
// that a test watching the whole host tells the cgroups the tests made —
// limited, throttled and filled on purpose, from any test binary — from the
// host's own. It only grows, so that a cgroup gone before the watcher looked
// is still known.
func madeLog() string { return filepath.Join(os.TempDir(), "panoptes-test-cgroups.log") }

func record(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	f, err := os.OpenFile(madeLog(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o666)
	if err != nil {
		return err
	}
	// One write of a few lines: O_APPEND keeps the writers of several
	// test binaries from interleaving within it.
	if _, err := f.WriteString(strings.Join(paths, "\n") + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// MadeByTests returns the cgroups (as /kubepods/...) that Make created on this
// host, in this test run or an earlier one.
func MadeByTests() (map[string]bool, error) {
	b, err := os.ReadFile(madeLog())
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out[l] = true
		}
	}
	return out, nil
}
