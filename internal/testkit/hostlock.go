package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// HostOOM names the lock of tests that make the kernel's OOM killer act
// (node_vmstat_oom_kill is host-wide) and of tests that need it not to.
const HostOOM = "oom"

// HostLock holds an exclusive lock named name across every test process on
// the machine until t ends. `go test ./...` runs packages in parallel
// processes, so two tests of different packages that change (or watch) the
// same host-wide state, such as the kernel's OOM kill count, take the same
// lock instead of racing. It waits as long as the other holder runs.
func HostLock(t testing.TB, name string) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "panoptes-test-"+name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("host lock %s: %v", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("host lock %s: %v", name, fmt.Errorf("flock %s: %w", path, err))
	}
	// Closing the file releases the lock, also when the process dies.
	t.Cleanup(func() { f.Close() })
}
