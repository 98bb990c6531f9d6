package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

func TestParseMountInfo(t *testing.T) {
	in := `
36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct

40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 26 0:31 /a\040b /mnt/with\040space\011tab\134back\\x\0401 rw - cgroup my\040source rw,memory
51 26 0:32 / /mnt/x rw shared:1 master:2 propagate_from:3 unbindable - tmpfs
`
	got, err := parseMountInfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mountInfo{
		{ID: 36, ParentID: 35, Root: "/mnt1", MountPoint: "/mnt2", FSType: "ext3", Source: "/dev/root", SuperOptions: "rw,errors=continue"},
		{ID: 31, ParentID: 30, Root: "/", MountPoint: "/sys/fs/cgroup/cpu,cpuacct", FSType: "cgroup", Source: "cgroup", SuperOptions: "rw,cpu,cpuacct"},
		{ID: 40, ParentID: 30, Root: "/", MountPoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Source: "cgroup2", SuperOptions: "rw"},
		{ID: 50, ParentID: 26, Root: "/a b", MountPoint: "/mnt/with space\ttab\\back\\\\x 1", FSType: "cgroup", Source: "my source", SuperOptions: "rw,memory"},
		{ID: 51, ParentID: 26, Root: "/", MountPoint: "/mnt/x", FSType: "tmpfs"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountInfo:\n got %+v\nwant %+v", got, want)
	}

	for _, bad := range []string{
		"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw\n", // no separator
		"36 35 98:0 /mnt1 /mnt2 rw,noatime -\n",                          // no filesystem type
		"36 35 98:0 /mnt1 - ext3 /dev/root rw\n",                         // too few fields
		"x 35 98:0 / /mnt rw - ext3 /dev/root rw\n",
		"36 y 98:0 / /mnt rw - ext3 /dev/root rw\n",
	} {
		if got, err := parseMountInfo(strings.NewReader(bad)); err == nil {
			t.Errorf("parseMountInfo(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestUnescapeMountField(t *testing.T) {
	for in, want := range map[string]string{
		"":           "",
		`plain`:      "plain",
		`a\040b`:     "a b",
		`\134`:       `\`,
		`\\040`:      `\ `,
		`\04`:        `\04`,
		`\400`:       `\400`, // not a byte
		`\08x`:       `\08x`,
		`end\`:       `end\`,
		`\101\102\1`: `AB\1`,
	} {
		if got := unescapeMountField(in); got != want {
			t.Errorf("unescapeMountField(%q) = %q, want %q", in, got, want)
		}
	}
}

// detectFixture writes a mount table to procRoot/<pid>/mountinfo and returns
// procRoot.
func detectFixture(t *testing.T, pid, mountinfo string) string {
	t.Helper()
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, pid, "mountinfo"), []byte(mountinfo), 0o644); err != nil {
		t.Fatal(err)
	}
	return proc
}

func TestDetect(t *testing.T) {
	sys := t.TempDir()
	if err := os.MkdirAll(filepath.Join(sys, "fs/cgroup/unified"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys, "fs/cgroup/unified/cgroup.controllers"), []byte("hugetlb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Only /proc/self/mountinfo: Detect falls back to it. The first cpu
	// mount is of a sub-tree and loses to the mount of the whole hierarchy.
	proc := detectFixture(t, "self", `
60 26 0:28 /kubepods /var/lib/kubelet/cpu rw - cgroup cgroup rw,cpu,cpuacct
61 26 0:29 / /run/memory rw - cgroup cgroup rw,memory
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
32 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:30 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio,clone_children,release_agent=/bin/x
34 30 0:31 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids,xattr
35 30 0:32 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
36 30 0:33 / /sys/fs/cgroup/net\040cls rw,relatime - cgroup cgroup rw,net_cls
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
41 26 0:37 /x /mnt/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`)
	got, err := Detect(proc, sys)
	if err != nil {
		t.Fatal(err)
	}
	cg := filepath.Join(sys, "fs/cgroup")
	want := Hierarchy{
		Unified:            filepath.Join(cg, "unified"),
		UnifiedControllers: []string{"hugetlb"},
		V1: map[string]string{
			"cpu":     filepath.Join(cg, "cpu,cpuacct"),
			"cpuacct": filepath.Join(cg, "cpu,cpuacct"),
			"memory":  filepath.Join(cg, "memory"),
			"blkio":   filepath.Join(cg, "blkio"),
			"pids":    filepath.Join(cg, "pids"),
			"net_cls": filepath.Join(cg, "net cls"),
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Detect:\n got %+v\nwant %+v", got, want)
	}

	// procRoot/1/mountinfo comes first; a cgroup2-only host; no
	// cgroup.controllers file; sysRoot "" is /sys.
	proc = detectFixture(t, "1", "30 22 0:27 / /sys/fs/cgroup/nonexistent\\040dir rw - cgroup2 cgroup2 rw\n")
	if err := os.MkdirAll(filepath.Join(proc, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "self", "mountinfo"), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = Detect(proc, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Hierarchy{Unified: "/sys/fs/cgroup/nonexistent dir"}); !reflect.DeepEqual(got, want) {
		t.Errorf("Detect:\n got %+v\nwant %+v", got, want)
	}

	// Errors.
	proc = detectFixture(t, "1", "26 1 8:1 / / rw - ext4 /dev/sda1 rw\n")
	if _, err := Detect(proc, sys); !errors.Is(err, ErrNoHierarchy) {
		t.Errorf("Detect without cgroup mounts: err = %v, want ErrNoHierarchy", err)
	}
	proc = detectFixture(t, "1", "garbage\n")
	if _, err := Detect(proc, sys); err == nil {
		t.Error("Detect of a bad mount table: no error")
	}
	if _, err := Detect(t.TempDir(), sys); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Detect without a mount table: err = %v, want ErrNotExist", err)
	}
}

// TestDetectHost runs Detect and Discover on this machine's /proc and /sys.
func TestDetectHost(t *testing.T) {
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		testkit.Missing(t, "/proc/self/mountinfo", fmt.Sprintf("%v; the test reads this machine's cgroup mounts", err))
	}
	h, err := Detect("/proc", "/sys")
	if errors.Is(err, ErrNoHierarchy) {
		testkit.Missing(t, "cgroup mounts", "this machine mounts no cgroup hierarchy under /sys/fs/cgroup")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", h)
	if len(h.V1) > 0 {
		for _, c := range []string{"cpu", "cpuacct", "memory", "blkio", "pids"} {
			if p := h.V1[c]; p == "" {
				t.Errorf("no mount for the v1 controller %q", c)
			} else if _, err := os.Stat(p); err != nil {
				t.Errorf("controller %q: %v", c, err)
			}
		}
	} else if h.Unified == "" {
		t.Error("neither v1 controllers nor a unified hierarchy")
	}
	refs, err := h.Discover(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) == 0 || refs[0] != (Ref{Path: "/", Kind: KindRoot}) {
		t.Fatalf("Discover: %+v, want the root first", refs)
	}
	t.Logf("%d cgroups of interest", len(refs))
}

func FuzzParseMountInfo(f *testing.F) {
	for _, s := range []string{
		"31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct\n",
		"50 26 0:31 /a\\040b /mnt/with\\040space rw - cgroup my\\040source rw,memory\n\n",
		"51 26 0:32 / /mnt/x rw shared:1 master:2 - tmpfs\n",
		"36 35 98:0 /mnt1 /mnt2 rw,noatime -\n",
		"\\\\1\\37\\377\\400",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 64<<10 {
			return
		}
		mounts, err := parseMountInfo(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, m := range mounts {
			if m.FSType == "" {
				t.Fatalf("parseMountInfo(%q): mount without a filesystem type: %+v", in, m)
			}
		}
		if n := strings.Count(in, "\n") + 1; len(mounts) > n {
			t.Fatalf("parseMountInfo(%q): %d mounts from %d lines", in, len(mounts), n)
		}
	})
}
