package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The fixture cgroup of a burstable pod's container, under every v1
// controller of testdata/read/v1 and, with systemd-driver names, in
// testdata/read/v2.
const (
	fixtureV1Container = "/kubepods/burstable/pod6b0c5e1a-3f2d-4c8e-9a41-2d7e5f0b9c13/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	fixtureV1Service   = "/system.slice/containerd.service"
	fixtureV2Container = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b0c5e1a_3f2d_4c8e_9a41_2d7e5f0b9c13.slice/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope"
)

func v1Fixture(t testing.TB, root string) Hierarchy {
	t.Helper()
	h := Hierarchy{V1: map[string]string{}}
	for _, c := range []string{"cpu", "cpuacct", "memory", "blkio", "pids"} {
		h.V1[c] = filepath.Join(root, c)
	}
	return h
}

func v2Fixture(root string) Hierarchy {
	return Hierarchy{Unified: root, UnifiedControllers: []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}}
}

func absTestdata(t testing.TB, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "read", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var ignoreTimestamp = cmpopts.IgnoreFields(Stats{}, "Timestamp")

func TestReadFixtures(t *testing.T) {
	v1 := v1Fixture(t, absTestdata(t, "v1"))
	v2 := v2Fixture(absTestdata(t, "v2"))
	tests := []struct {
		name string
		h    Hierarchy
		path string
		want Stats
	}{
		{
			name: "v1 container",
			h:    v1,
			path: fixtureV1Container,
			want: Stats{
				HasCPU: true,
				CPU: CPUStats{
					UsageSeconds: 123.456789012, UserSeconds: 98.76, SystemSeconds: 23.45,
					Periods: 18345, ThrottledPeriods: 421, ThrottledSeconds: 30.512345678,
					QuotaMicros: 50000, PeriodMicros: 100000, Shares: 512, HasSpec: true,
				},
				HasMemory: true,
				Memory: MemoryStats{
					Usage: 25264128, WorkingSet: 25264128 - 3162112,
					RSS: 1847296, Cache: 21934080, MappedFile: 1003520, Swap: 0,
					Failcnt: 3, Limit: 536870912, OOMKills: 2,
				},
				HasIO: true,
				// The bfq files are empty and the cfq ones absent, so the
				// throttle *_recursive pair is used.
				IO: []IOStats{
					{Major: 8, Minor: 0, ReadBytes: 40960, Reads: 10},
					{Major: 259, Minor: 0, ReadBytes: 4591616, WriteBytes: 1228800, Reads: 312, Writes: 97},
				},
				HasPids: true, Processes: 2, Threads: 5, PID: 4242,
			},
		},
		{
			name: "v1 service only in memory and pids",
			h:    v1,
			path: fixtureV1Service,
			want: Stats{
				HasMemory: true,
				Memory: MemoryStats{
					// total_inactive_file exceeds usage: working set floors at 0.
					Usage: 104857600, WorkingSet: 0,
					RSS: 1847296, Cache: 21934080, MappedFile: 1003520,
				},
				HasPids: true, Processes: 1, Threads: 3, PID: 812,
			},
		},
		{
			name: "v1 path without a leading slash",
			h:    Hierarchy{V1: map[string]string{"memory": v1.V1["memory"]}},
			path: strings.TrimPrefix(fixtureV1Service, "/"),
			want: Stats{
				HasMemory: true,
				Memory:    MemoryStats{Usage: 104857600, RSS: 1847296, Cache: 21934080, MappedFile: 1003520},
				HasPids:   true, Processes: 1, Threads: 3, PID: 812,
			},
		},
		{
			name: "v2 container",
			h:    v2,
			path: fixtureV2Container,
			want: Stats{
				HasCPU: true,
				CPU: CPUStats{
					UsageSeconds: 123.456789, UserSeconds: 98.765432, SystemSeconds: 23.456789,
					Periods: 18345, ThrottledPeriods: 421, ThrottledSeconds: 30.512345,
					QuotaMicros: 50000, PeriodMicros: 100000, Shares: 500, HasSpec: true, // weight 20
				},
				HasMemory: true,
				Memory: MemoryStats{
					Usage: 25264128, WorkingSet: 25264128 - 3162112,
					RSS: 1847296, Cache: 21934080, MappedFile: 1003520, Swap: 1048576,
					Limit: 536870912, OOMKills: 2,
				},
				HasIO: true,
				IO: []IOStats{
					{Major: 8, Minor: 0, ReadBytes: 40960, Reads: 10},
					{Major: 259, Minor: 0, ReadBytes: 4591616, WriteBytes: 1228800, Reads: 312, Writes: 97},
				},
				HasPids: true, Processes: 2, Threads: 5, PID: 4242,
			},
		},
		{
			name: "v2 root",
			h:    v2,
			path: "/",
			want: Stats{
				HasCPU: true,
				CPU:    CPUStats{UsageSeconds: 3059.008174, UserSeconds: 2129.54, SystemSeconds: 929.47, HasSpec: true},
				HasIO:  true,
				IO: []IOStats{
					{Major: 8, Minor: 0, ReadBytes: 2301440, Reads: 127},
					{Major: 259, Minor: 0, ReadBytes: 23180824576, WriteBytes: 94125547520, Reads: 1214563, Writes: 5283917},
				},
				HasPids: true, Processes: 3, Threads: 4, PID: 1,
			},
		},
		{
			name: "v2 without the io and memory controllers",
			h:    Hierarchy{Unified: v2.Unified, UnifiedControllers: []string{"cpu", "pids"}},
			path: fixtureV2Container,
			want: Stats{
				HasCPU: true,
				CPU: CPUStats{
					UsageSeconds: 123.456789, UserSeconds: 98.765432, SystemSeconds: 23.456789,
					Periods: 18345, ThrottledPeriods: 421, ThrottledSeconds: 30.512345,
					QuotaMicros: 50000, PeriodMicros: 100000, Shares: 500, HasSpec: true,
				},
				HasPids: true, Processes: 2, Threads: 5, PID: 4242,
			},
		},
	}
	// A hybrid host: v1 controllers plus a unified mount with none of them,
	// where the container's cgroup does not exist.
	hybrid := v1Fixture(t, absTestdata(t, "v1"))
	hybrid.Unified, hybrid.UnifiedControllers = absTestdata(t, "v2"), []string{"hugetlb"}
	tests = append(tests, struct {
		name string
		h    Hierarchy
		path string
		want Stats
	}{"v1 container on a hybrid host", hybrid, fixtureV1Container, tests[0].want})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.h.Read(tt.path)
			if err != nil {
				t.Fatalf("Read(%q): %v", tt.path, err)
			}
			if got.Timestamp.IsZero() {
				t.Error("Timestamp not set")
			}
			if diff := cmp.Diff(tt.want, got, ignoreTimestamp); diff != "" {
				t.Errorf("Read(%q) mismatch (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestReadMissingCgroup(t *testing.T) {
	for name, h := range map[string]Hierarchy{
		"v1":    v1Fixture(t, absTestdata(t, "v1")),
		"v2":    v2Fixture(absTestdata(t, "v2")),
		"empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := h.Read("/kubepods/besteffort/podgone/feedface")
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Read of a missing cgroup: got %v, want an error wrapping fs.ErrNotExist", err)
			}
		})
	}
}

// copyTree copies the fixture directory src into a new temporary directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestReadMalformedFileNamed(t *testing.T) {
	// dropped names the controller the bad file takes out; the others are
	// still read.
	tests := []struct {
		v2         bool
		controller string
		file       string
		content    string
		dropped    string
	}{
		{false, "cpuacct", "cpuacct.usage", "12x\n", "cpu"},
		{false, "cpuacct", "cpuacct.stat", "user ten\nsystem 1\n", "cpu"},
		{false, "cpu", "cpu.stat", "nr_periods 1 2\n", "cpu"},
		{false, "cpu", "cpu.cfs_quota_us", "\n", "cpu"},
		{false, "memory", "memory.stat", "total_rss 1\ntotal_cache -x\n", "memory"},
		{false, "memory", "memory.usage_in_bytes", "99999999999999999999999\n", "memory"},
		{false, "memory", "memory.oom_control", "oom_kill\n", "memory"},
		{false, "blkio", "blkio.throttle.io_serviced_recursive", "8:0 Read\n", "io"},
		{false, "cpu", "cgroup.procs", "abc\n", "pids"},
		{true, "", "cpu.max", "50000 100000 7\n", "cpu"},
		{true, "", "cpu.weight", "0\n", "cpu"},
		{true, "", "memory.max", "unlimited\n", "memory"},
		{true, "", "memory.events", "oom_kill many\n", "memory"},
		{true, "", "io.stat", "8:0 rbytes\n", "io"},
		{true, "", "cgroup.threads", "-1\n", "pids"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var h Hierarchy
			var file string
			if tt.v2 {
				root := copyTree(t, absTestdata(t, "v2"))
				h = v2Fixture(root)
				file = filepath.Join(root, fixtureV2Container, tt.file)
			} else {
				root := copyTree(t, absTestdata(t, "v1"))
				h = v1Fixture(t, root)
				file = filepath.Join(root, tt.controller, fixtureV1Container, tt.file)
			}
			if err := os.WriteFile(file, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			p := fixtureV1Container
			if tt.v2 {
				p = fixtureV2Container
			}
			st, err := h.Read(p)
			if err == nil {
				t.Fatalf("Read with a malformed %s: no error", tt.file)
			}
			has := map[string]bool{"cpu": st.HasCPU, "memory": st.HasMemory, "io": st.HasIO, "pids": st.HasPids}
			for c, ok := range has {
				if want := c != tt.dropped; ok != want {
					t.Errorf("after a malformed %s: %s read = %v, want %v", tt.file, c, ok, want)
				}
			}
			if !strings.Contains(err.Error(), file) {
				t.Errorf("error %q does not name %s", err, file)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %q wraps fs.ErrNotExist", err)
			}
		})
	}
}

// A controller whose files are missing is left out, not an error.
func TestReadMissingFiles(t *testing.T) {
	root := copyTree(t, absTestdata(t, "v1"))
	h := v1Fixture(t, root)
	for _, f := range []string{"cpu/cpu.stat", "cpu/cpu.shares", "cpuacct/cpuacct.usage", "cpuacct/cpuacct.stat", "memory/memory.oom_control", "memory/memory.stat"} {
		c, name := filepath.Split(f)
		if err := os.Remove(filepath.Join(root, c, fixtureV1Container, name)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.Read(fixtureV1Container)
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasCPU || got.CPU.QuotaMicros != 50000 || got.CPU.UsageSeconds != 0 || got.CPU.Shares != 0 {
		t.Errorf("CPU with only the quota files: HasCPU %v %+v", got.HasCPU, got.CPU)
	}
	if want := (MemoryStats{Usage: 25264128, WorkingSet: 25264128, Failcnt: 3, Limit: 536870912}); got.Memory != want {
		t.Errorf("Memory without memory.stat: got %+v, want %+v", got.Memory, want)
	}

	// No cpu files at all: HasCPU false.
	for _, f := range []string{"cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us"} {
		c, name := filepath.Split(f)
		if err := os.Remove(filepath.Join(root, c, fixtureV1Container, name)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err = h.Read(fixtureV1Container); err != nil {
		t.Fatal(err)
	}
	if got.HasCPU {
		t.Errorf("HasCPU with no cpu file: %+v", got.CPU)
	}
}

// Read must not climb out of the hierarchy with "..".
func TestReadDotDot(t *testing.T) {
	h := Hierarchy{V1: map[string]string{"memory": absTestdata(t, "v1/memory/system.slice")}}
	_, err := h.Read("/../../v1/memory/system.slice/containerd.service")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read with ..: got %v, want fs.ErrNotExist", err)
	}
}

func TestWorkingSet(t *testing.T) {
	if got := workingSet(100, 30); got != 70 {
		t.Errorf("workingSet(100, 30) = %d", got)
	}
	if got := workingSet(100, 300); got != 0 {
		t.Errorf("workingSet(100, 300) = %d", got)
	}
}

func BenchmarkRead(b *testing.B) {
	h := v1Fixture(b, absTestdata(b, "v1"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Read(fixtureV1Container); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadV2(b *testing.B) {
	h := v2Fixture(absTestdata(b, "v2"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Read(fixtureV2Container); err != nil {
			b.Fatal(err)
		}
	}
}
