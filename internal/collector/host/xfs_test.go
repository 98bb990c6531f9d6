package host

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// TestXFSThisMachine: this machine has the xfs module (global
// /sys/fs/xfs/stats) but no XFS file system; node_exporter reports success
// and no series there, and so do we.
func TestXFSThisMachine(t *testing.T) {
	t.Parallel()
	out, err := render(t, "xfs", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob("/sys/fs/xfs/*/stats/stats")
	if len(matches) == 0 && strings.TrimSpace(out) != "" {
		t.Errorf("no XFS file system here, got:\n%s", out)
	}
	if len(matches) > 0 && !strings.Contains(out, "node_xfs_read_calls_total{device=") {
		t.Errorf("XFS file systems %v not reported:\n%s", matches, out)
	}
}

func TestXFSMalformed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "sys", "fs", "xfs", "sda1", "stats", "stats"), "extent_alloc 1 2 3\n")
	writeFixture(t, filepath.Join(dir, "proc", "loadavg"), "0 0 0 1/1 1\n")
	out, err := render(t, "xfs", fixtureConfig(t, dir))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "sys", "fs", "xfs")) {
		t.Errorf("err = %v, want a parse error naming the stats path", err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("partial output:\n%s", out)
	}
}

// TestXFSRealFilesystem mounts a fresh XFS on a loop device and expects its
// statistics under its device name. It needs root, loop devices and
// mkfs.xfs (xfsprogs); the fixture covers hosts without them. On such a
// file system the agent's xfs output was identical to node_exporter 1.5's
// when this was written.
func TestXFSRealFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		testkit.Missing(t, "root", "the test attaches a loop device and mounts it; run the tests as root")
	}
	mkfs, err := exec.LookPath("mkfs.xfs")
	if err != nil {
		testkit.Missing(t, "mkfs.xfs", "apt-get install xfsprogs (hack/test-deps.sh installs it)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		testkit.Missing(t, "loop devices", "/dev/loop-control is absent: load the loop module (modprobe loop)")
	}
	dir := t.TempDir()
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 320<<20); err != nil { // XFS's minimum is 300 MB
		t.Fatal(err)
	}
	loop := run("losetup", "-f", "--show", img)
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", loop).Run() })
	run(mkfs, "-q", loop)
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run("mount", "-t", "xfs", loop, mnt)
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	if err := os.WriteFile(filepath.Join(mnt, "data"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	run("sync") // delayed allocation: the extent is allocated at writeback

	out, err := render(t, "xfs", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	dev := filepath.Base(loop)
	for _, fam := range xfsStats {
		if !strings.Contains(out, "node_xfs_"+fam.name+`{device="`+dev+`"}`) {
			t.Errorf("node_xfs_%s missing for %s", fam.name, dev)
		}
	}
	if strings.Contains(out, `node_xfs_extent_allocation_extents_allocated_total{device="`+dev+`"} 0`+"\n") {
		t.Errorf("writing a file allocated no extent on %s:\n%s", dev, out)
	}
}
