package host

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

func TestBtrfsUUIDString(t *testing.T) {
	t.Parallel()
	if got := btrfsUUIDString([16]byte{}); got != "<zero>" {
		t.Errorf("zero uuid: %q", got)
	}
	u := [16]byte{0x7f, 0x3c, 0x1a, 0x52, 0x8e, 0x4b, 0x4d, 0x0c, 0x9a, 0x61, 0x3b, 0x5e, 0x2d, 0x8c, 0x4f, 0x17}
	if got := btrfsUUIDString(u); got != "7f3c1a52-8e4b-4d0c-9a61-3b5e2d8c4f17" {
		t.Errorf("uuid: %q", got)
	}
}

// TestBtrfsThisMachine: this machine has the btrfs module (/sys/fs/btrfs)
// but no Btrfs file system; node_exporter reports success and no series.
func TestBtrfsThisMachine(t *testing.T) {
	t.Parallel()
	out, err := render(t, "btrfs", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob("/sys/fs/btrfs/*-*")
	if len(matches) == 0 && strings.TrimSpace(out) != "" {
		t.Errorf("no Btrfs here, got:\n%s", out)
	}
}

// TestBtrfsIoctlNotBtrfs: a "btrfs" mount whose directory is not Btrfs (the
// ioctls fail) falls back to the sysfs device sizes, as node_exporter does.
func TestBtrfsIoctlNotBtrfs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "btrfs"))); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "root", "srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, filepath.Join(dir, "proc", "1", "mounts"), "/dev/sdb /srv btrfs rw,relatime,space_cache=v2 0 0\n")
	out, err := render(t, "btrfs", fixtureConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `node_btrfs_device_size_bytes{device="sdb",uuid="7f3c1a52-8e4b-4d0c-9a61-3b5e2d8c4f17"} 2.000398934016e+12`) ||
		strings.Contains(out, "device_errors_total") {
		t.Errorf("want the sysfs device sizes only:\n%s", out)
	}
}

// TestBtrfsIoctlLayout checks the argument sizes against the kernel's
// (struct btrfs_ioctl_fs_info_args 1024, dev_info_args 4096,
// get_dev_stats 1032 bytes) and the request numbers btrfs-progs uses.
func TestBtrfsIoctlLayout(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ got, want uintptr }{
		"fs info size":   {unsafe.Sizeof(btrfsFSInfoArgs{}), 1024},
		"dev info size":  {unsafe.Sizeof(btrfsDevInfoArgs{}), 4096},
		"dev stats size": {unsafe.Sizeof(btrfsDevStatsArgs{}), 1032},
		"FS_INFO":        {btrfsIocFSInfo, 0x8400941f},
		"DEV_INFO":       {btrfsIocDevInfo, 0xd000941e},
		"GET_DEV_STATS":  {btrfsIocGetDevStats, 0xc4089434},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", name, c.got, c.want)
		}
	}
}

// TestBtrfsRealFilesystem makes a two-device raid1 Btrfs on loop devices
// and reads it through sysfs and the ioctls. It needs root, loop devices and
// mkfs.btrfs (btrfs-progs); the fixture covers hosts without them. The same
// file system gave output identical to node_exporter 1.5's when this was
// written.
func TestBtrfsRealFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		testkit.Missing(t, "root", "the test attaches loop devices and mounts it; run the tests as root")
	}
	mkfs, err := exec.LookPath("mkfs.btrfs")
	if err != nil {
		testkit.Missing(t, "mkfs.btrfs", "apt-get install btrfs-progs (hack/test-deps.sh installs it)")
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
	var loops []string
	for i := range 2 {
		img := filepath.Join(dir, fmt.Sprintf("disk%d.img", i))
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 160<<20); err != nil {
			t.Fatal(err)
		}
		loop := run("losetup", "-f", "--show", img)
		t.Cleanup(func() { _ = exec.Command("losetup", "-d", loop).Run() })
		loops = append(loops, loop)
	}
	run(mkfs, "-q", "-f", "-L", "panoptes-test", "-d", "raid1", "-m", "raid1", loops[0], loops[1])
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run("mount", "-t", "btrfs", loops[0], mnt)
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	if err := os.WriteFile(filepath.Join(mnt, "data"), make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	run("sync")

	out, err := render(t, "btrfs", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `,label="panoptes-test",`) && !strings.Contains(out, `{label="panoptes-test",`) {
		t.Fatalf("file system not reported:\n%s", out)
	}
	for _, loop := range loops {
		dev := filepath.Base(loop)
		for _, want := range []string{
			`node_btrfs_device_errors_total{btrfs_dev_uuid="`,
			`device="` + dev + `",type="corruption",uuid=`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q for %s (the ioctl path):\n%s", want, dev, out)
			}
		}
		if !strings.Contains(out, `device="`+dev+`",uuid=`) || !strings.Contains(out, "} 1.6777216e+08\n") {
			t.Errorf("device_size_bytes of %s is not the 160 MiB image:\n%s", dev, out)
		}
	}
}
