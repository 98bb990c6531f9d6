package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSortByVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{
			name: "minor versions compare as numbers, not strings",
			in:   []string{"prometheus-v0.10.0/prometheus", "prometheus-v0.9.0/prometheus", "prometheus-v0.316.0/prometheus"},
			want: []string{"prometheus-v0.9.0/prometheus", "prometheus-v0.10.0/prometheus", "prometheus-v0.316.0/prometheus"},
		},
		{
			name: "a pre-release comes before its release",
			in:   []string{"ksm-v2.20.0/ksm", "ksm-v2.20.0-rc.1/ksm", "ksm-v2.3.0/ksm"},
			want: []string{"ksm-v2.3.0/ksm", "ksm-v2.20.0-rc.1/ksm", "ksm-v2.20.0/ksm"},
		},
		{
			name: "files, without v, and names without a version first",
			in:   []string{"cadvisor-0.60.6", "cadvisor-v0.9.1", "cadvisor-dev", "cadvisor-v0.60.10"},
			want: []string{"cadvisor-dev", "cadvisor-v0.9.1", "cadvisor-0.60.6", "cadvisor-v0.60.10"},
		},
		{
			name: "only the first element holds the version",
			in:   []string{"vm-v1.151.0/bin-v9", "vm-v1.99.0/bin-v10"},
			want: []string{"vm-v1.99.0/bin-v10", "vm-v1.151.0/bin-v9"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := slices.Clone(tc.in)
			SortByVersion(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("SortByVersion(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestCachedPeerNewest: the newest executable wins; a newer directory
// without the executable, or with a file that is not executable, does not.
func TestCachedPeerNewest(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("PANOPTES_CACHE", cache)
	for path, mode := range map[string]os.FileMode{
		"prometheus-v0.9.0/prometheus":   0o755,
		"prometheus-v0.10.0/prometheus":  0o755,
		"prometheus-v0.11.0/prometheus":  0o644,
		"prometheus-v0.12.0/promtool":    0o755,
		"victoria-metrics-v1.2.0/ignore": 0o755,
	} {
		p := filepath.Join(cache, "peers", path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	want := filepath.Join(cache, "peers", "prometheus-v0.10.0", "prometheus")
	if got := CachedPeer(t, "prometheus-v*/prometheus"); got != want {
		t.Errorf("CachedPeer = %s, want %s", got, want)
	}
}

// fakeTB records how Missing ends a test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Skipf(format string, a ...any)  { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		ci         string
		skip, fail bool
	}{
		{ci: "", skip: true},
		{ci: "false", skip: true},
		{ci: "true", fail: true},
		{ci: "1", fail: true},
	} {
		t.Setenv("CI", tc.ci)
		f := &fakeTB{}
		Missing(f, "promtool", "`make deps` as root installs Debian's prometheus")
		const want = "missing promtool: `make deps` as root installs Debian's prometheus"
		switch {
		case tc.skip && (f.skipped != want || f.failed != ""):
			t.Errorf("CI=%q: skipped %q failed %q, want a skip %q", tc.ci, f.skipped, f.failed, want)
		case tc.fail && (!strings.HasPrefix(f.failed, want) || !strings.Contains(f.failed, "CI=true") || f.skipped != ""):
			t.Errorf("CI=%q: skipped %q failed %q, want a failure starting %q", tc.ci, f.skipped, f.failed, want)
		}
	}
}

func TestPeerNamesTheDebianPackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CI", "")
	f := &fakeTB{}
	Peer(f, "promtool")
	if want := "missing promtool: not on $PATH; `make deps` as root installs Debian's prometheus"; f.skipped != want {
		t.Errorf("Peer skipped with %q, want %q", f.skipped, want)
	}
}

// TestProcessStop: a started process is stopped by its pid.
func TestProcessStop(t *testing.T) {
	t.Parallel()
	p := Start(t, "sleep", "600")
	p.Stop()
	select {
	case <-p.Done:
	default:
		t.Fatal("Stop returned before the process exited")
	}
	if p.Cmd.ProcessState.Success() {
		t.Errorf("sleep 600 exited successfully after Stop: %v", p.Cmd.ProcessState)
	}
}

// TestBurner: the burner burns the CPU time it was asked for and holds its
// memory while it does.
func TestBurner(t *testing.T) {
	t.Parallel()
	b := StartBurner(t, BurnOptions{MiB: 16, CPUSeconds: 0.3})
	before := b.CPUSeconds(t)
	b.Go(t)
	b.WaitDone(t)
	if got := b.CPUSeconds(t) - before; got < 0.25 {
		t.Errorf("the burner burnt %.2f s of CPU, want about 0.3", got)
	}
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(b.Pid()), "status"))
	if err != nil {
		t.Fatal(err)
	}
	_, rss, _ := strings.Cut(string(status), "VmRSS:")
	kb, _ := strconv.Atoi(strings.Fields(rss + " 0")[0])
	if kb < 16<<10 {
		t.Errorf("the burner's resident set is %d kB, want at least the 16 MiB it holds", kb)
	}
	b.Stop(t)
	if !b.Cmd.ProcessState.Success() {
		t.Errorf("burner exit: %v", b.Cmd.ProcessState)
	}
}
