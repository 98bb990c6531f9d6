package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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

// maxFuzzInput caps fuzz inputs: cgroup files are small.
const maxFuzzInput = 64 << 10

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
					QuotaMicros: 50000, PeriodMicros: 100000, Shares: 512,
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
					QuotaMicros: 50000, PeriodMicros: 100000, Shares: 500, // weight 20
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
				CPU:    CPUStats{UsageSeconds: 3059.008174, UserSeconds: 2129.54, SystemSeconds: 929.47},
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
					QuotaMicros: 50000, PeriodMicros: 100000, Shares: 500,
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

func TestParseUint(t *testing.T) {
	checkScalar(t, "parseUint", parseUint, []scalarCase[uint64]{
		{"0", 0, false},
		{"42\n", 42, false},
		{"  7 \t\n", 7, false},
		{"18446744073709551615", 1<<64 - 1, false},
		{"18446744073709551616", 0, true},
		{"99999999999999999999999", 0, true},
		{"9223372036854771712\n", 9223372036854771712, false},
		{"-1", 0, false}, // kernel bug: negative counters read as 0
		{"-", 0, true},
		{"-x", 0, true},
		{"", 0, true},
		{"\n", 0, true},
		{"1 2", 0, true},
		{"+1", 0, true},
		{"0x10", 0, true},
		{"max", 0, true},
	})
}

func TestParseInt(t *testing.T) {
	checkScalar(t, "parseInt", parseInt, []scalarCase[int64]{
		{"-1\n", -1, false},
		{"100000\n", 100000, false},
		{"0", 0, false},
		{"-0", 0, false},
		{"9223372036854775807", 1<<63 - 1, false},
		{"9223372036854775808", 0, true},
		{"-9223372036854775808", -1 << 63, false},
		{"-9223372036854775809", 0, true},
		{"", 0, true},
		{"-", 0, true},
		{"--1", 0, true},
		{"1.5", 0, true},
	})
}

func TestParseFlatKeyed(t *testing.T) {
	keys := []string{"a", "bb", "total_c"}
	tests := []struct {
		name      string
		in        string
		want      [3]uint64
		wantFound uint64
		wantErr   bool
	}{
		{name: "empty", in: ""},
		{name: "all", in: "a 1\nbb 2\ntotal_c 3\n", want: [3]uint64{1, 2, 3}, wantFound: 7},
		{name: "no trailing newline", in: "bb 2\ntotal_c 3", want: [3]uint64{0, 2, 3}, wantFound: 6},
		{name: "missing keys", in: "zz 1\nbb 5\n", want: [3]uint64{0, 5, 0}, wantFound: 2},
		{name: "prefix is not the key", in: "a_b 9\nbbb 9\nc 9\n"},
		{name: "unknown keys not parsed", in: "weird\nodd value here\n= =\na 4\n", want: [3]uint64{4, 0, 0}, wantFound: 1},
		{name: "blank lines and tabs", in: "\n\na\t8\r\n  \n", want: [3]uint64{8, 0, 0}, wantFound: 1},
		{name: "duplicate: last wins", in: "a 1\na 2\n", want: [3]uint64{2, 0, 0}, wantFound: 1},
		{name: "huge", in: "a 18446744073709551615\n", want: [3]uint64{1<<64 - 1, 0, 0}, wantFound: 1},
		{name: "negative reads 0", in: "a -4096\nbb 1\n", want: [3]uint64{0, 1, 0}, wantFound: 3},
		{name: "overflow", in: "a 18446744073709551616\n", wantErr: true},
		{name: "no value", in: "bb\n", wantErr: true},
		{name: "not a number", in: "total_c max\n", wantErr: true},
		{name: "extra field", in: "a 1 2\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [3]uint64
			found, err := parseFlatKeyed([]byte(tt.in), keys, got[:])
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || found != tt.wantFound {
				t.Errorf("got %v found %b, want %v found %b", got, found, tt.want, tt.wantFound)
			}
		})
	}
	if _, err := parseFlatKeyed(nil, keys, make([]uint64, 2)); err == nil {
		t.Error("short vals: no error")
	}
}

func TestParseProcs(t *testing.T) {
	tests := []struct {
		in        string
		n         uint64
		first     int
		wantError bool
	}{
		{"", 0, 0, false},
		{"\n", 0, 0, false},
		{"1\n", 1, 1, false},
		{"4242\n4310\n4311\n", 3, 4242, false},
		{"4242\n4310", 2, 4242, false},
		{"\n\n17\n\n18\n", 2, 17, false},
		{"2147483647\n", 1, 2147483647, false},
		{"2147483648\n", 0, 0, true},
		{"x\n1\n", 0, 0, true},
		{"-1\n", 0, 0, true},
		{"1\nx\n", 2, 1, false}, // only the first pid is parsed
	}
	for _, tt := range tests {
		n, first, err := parseProcs([]byte(tt.in))
		if (err != nil) != tt.wantError || n != tt.n || first != tt.first {
			t.Errorf("parseProcs(%q) = %d, %d, %v; want %d, %d, err %v", tt.in, n, first, err, tt.n, tt.first, tt.wantError)
		}
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in           string
		major, minor uint64
		wantErr      bool
	}{
		{"8:0", 8, 0, false},
		{"259:12", 259, 12, false},
		{"8:", 0, 0, true},
		{":0", 0, 0, true},
		{"8", 0, 0, true},
		{"8:0:1", 0, 0, true},
		{"a:b", 0, 0, true},
	}
	for _, tt := range tests {
		ma, mi, err := parseDevice([]byte(tt.in))
		if (err != nil) != tt.wantErr || ma != tt.major || mi != tt.minor {
			t.Errorf("parseDevice(%q) = %d, %d, %v", tt.in, ma, mi, err)
		}
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

// fixtureSeeds adds every fixture file whose name matches to f's corpus.
func fixtureSeeds(f *testing.F, match func(name string) bool) {
	f.Helper()
	for _, b := range fixtureFiles(f, match) {
		f.Add(b)
	}
}

// fixtureFiles returns the contents of the fixture files whose name matches.
func fixtureFiles(f *testing.F, match func(name string) bool) [][]byte {
	f.Helper()
	var out [][]byte
	err := filepath.WalkDir(filepath.Join("testdata", "read"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !match(d.Name()) {
			return err
		}
		b, err := os.ReadFile(p)
		out = append(out, b)
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	return out
}

func FuzzParseFlatKeyed(f *testing.F) {
	fixtureSeeds(f, func(n string) bool {
		return strings.HasSuffix(n, ".stat") || n == "memory.oom_control" || n == "memory.events"
	})
	f.Add([]byte("a 1\na 2\nb -1\n"))
	keys := append(append([]string{}, v1MemoryStatKeys...), v2CPUStatKeys...)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		vals := make([]uint64, len(keys))
		found, err := parseFlatKeyed(data, keys, vals)
		if err != nil {
			return
		}
		for i := range keys {
			if found&(1<<i) == 0 && vals[i] != 0 {
				t.Fatalf("key %s not found but set to %d", keys[i], vals[i])
			}
		}
	})
}

func FuzzParseProcs(f *testing.F) {
	fixtureSeeds(f, func(n string) bool { return n == "cgroup.procs" || n == "tasks" || n == "cgroup.threads" })
	f.Add([]byte("0001\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		n, first, err := parseProcs(data)
		if err != nil {
			return
		}
		if n == 0 && first != 0 || first < 0 {
			t.Fatalf("n %d first %d", n, first)
		}
		if n > 0 {
			line := strings.Fields(string(data))[0]
			if v, err := strconv.Atoi(line); err != nil || v != first {
				t.Fatalf("first %d is not the first line %q of %q (%v)", first, line, data, err)
			}
		}
	})
}

func FuzzParseUint(f *testing.F) {
	fixtureSeeds(f, func(n string) bool {
		return strings.HasSuffix(n, "usage") || strings.HasSuffix(n, "_in_bytes") || strings.HasSuffix(n, ".current") || strings.HasSuffix(n, "_us")
	})
	f.Add([]byte("-9223372036854775808"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		u, uerr := parseUint(data)
		s := strings.Trim(string(data), " \t\r\n")
		if uerr == nil && !strings.HasPrefix(s, "-") {
			if want, err := strconv.ParseUint(s, 10, 64); err != nil || want != u {
				t.Fatalf("parseUint(%q) = %d, strconv says %d, %v", data, u, want, err)
			}
		}
		i, ierr := parseInt(data)
		if ierr == nil && !strings.HasPrefix(s, "+") {
			if want, err := strconv.ParseInt(s, 10, 64); err != nil || want != i {
				t.Fatalf("parseInt(%q) = %d, strconv says %d, %v", data, i, want, err)
			}
		}
	})
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

// scalarCase is one input of a single-value parser and what it must give.
type scalarCase[T comparable] struct {
	in      string
	want    T
	wantErr bool
}

// checkScalar runs a single-value parser over its table.
func checkScalar[T comparable](t *testing.T, name string, parse func([]byte) (T, error), cases []scalarCase[T]) {
	t.Helper()
	for _, tt := range cases {
		got, err := parse([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s(%q) = %v, %v; want %v, err %v", name, tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
