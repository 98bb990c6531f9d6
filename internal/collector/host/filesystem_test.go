package host

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestParseMountLine(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    mountEntry
		wantErr bool
	}{
		{line: "/dev/vda / ext4 rw,relatime 0 0", want: mountEntry{device: "/dev/vda", mountPoint: "/", fsType: "ext4"}},
		{line: "/dev/vdb /srv ext4 ro 0 0", want: mountEntry{device: "/dev/vdb", mountPoint: "/srv", fsType: "ext4", roOption: true}},
		{line: "/dev/vdb /srv ext4 rw,nosuid,ro", want: mountEntry{device: "/dev/vdb", mountPoint: "/srv", fsType: "ext4", roOption: true}},
		{line: "/dev/vdb /srv ext4 rw,errors=remount-ro 0 0", want: mountEntry{device: "/dev/vdb", mountPoint: "/srv", fsType: "ext4"}},
		{line: `/dev/sdb1 /media/my\040disk vfat rw 0 0`, want: mountEntry{device: "/dev/sdb1", mountPoint: "/media/my disk", fsType: "vfat"}},
		{line: `x /a\011b\012c\134d t rw 0 0`, want: mountEntry{device: "x", mountPoint: "/a\tb\nc\\d", fsType: "t"}},
		{line: `x /bad\9\04\400\ t rw 0 0`, want: mountEntry{device: "x", mountPoint: `/bad\9\04\400\`, fsType: "t"}},
		{line: "  tmpfs\t/tmp  tmpfs   rw  ", want: mountEntry{device: "tmpfs", mountPoint: "/tmp", fsType: "tmpfs"}},
		{line: "only three fields", wantErr: true},
		{line: "a b", wantErr: true},
	} {
		got, err := parseMountLine([]byte(tc.line))
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: want error, got %+v", tc.line, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.line, got, tc.want)
		}
	}
}

func TestParseMountsFixture(t *testing.T) {
	f, err := os.Open("testdata/filesystem/proc/1/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := parseMounts(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 23 {
		t.Errorf("got %d mounts, want 23", len(ms))
	}
	if _, err := parseMounts(strings.NewReader("/dev/vda / ext4 rw 0 0\ngarbage\n")); err == nil {
		t.Error("malformed line: want error")
	}
}

// TestFilesystemSelfMountsAndRootfs checks the fallback to self/mounts and
// that mount points under the root-fs prefix are reported as host paths.
func TestFilesystemSelfMountsAndRootfs(t *testing.T) {
	dir := t.TempDir()
	cfg := fixtureConfig(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "proc", "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := cfg.RootFS
	mounts := "/dev/vda " + root + " ext4 rw 0 0\n/dev/vdb " + root + "/srv xfs rw 0 0\n/dev/vdc /other xfs rw 0 0\n"
	if err := os.WriteFile(filepath.Join(dir, "proc", "self", "mounts"), []byte(mounts), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.System = &fixtureSystem{rootfs: root, FS: map[string]fsStat{
		"/":      {Statfs: Statfs{Blocks: 1, BlockSize: 1}},
		"/srv":   {Statfs: Statfs{Blocks: 2, BlockSize: 1}},
		"/other": {Statfs: Statfs{Blocks: 3, BlockSize: 1}},
	}}
	out, err := render(t, "filesystem", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`node_filesystem_size_bytes{device="/dev/vda",fstype="ext4",mountpoint="/"} 1`,
		`node_filesystem_size_bytes{device="/dev/vdb",fstype="xfs",mountpoint="/srv"} 2`,
		`node_filesystem_size_bytes{device="/dev/vdc",fstype="xfs",mountpoint="/other"} 3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}

// blockingSystem is a System whose Statfs on one path blocks until released.
type blockingSystem struct {
	fixtureSystem
	block   string
	release chan struct{}
	calls   atomic.Int32
	// entered is closed once that Statfs has been called (newBlockingSystem).
	entered     chan struct{}
	enteredOnce sync.Once
}

func newBlockingSystem(block string) *blockingSystem {
	return &blockingSystem{block: block, release: make(chan struct{}), entered: make(chan struct{})}
}

func (s *blockingSystem) Statfs(path string) (Statfs, error) {
	if filepath.Base(path) == s.block {
		s.calls.Add(1)
		s.enteredOnce.Do(func() { close(s.entered) })
		<-s.release
		return Statfs{Blocks: 7, BlockSize: 1}, nil
	}
	return Statfs{Blocks: 1, BlockSize: 1}, nil
}

// TestFilesystemStuckMount checks the stuck-mount protection: a statfs that
// does not return within MountTimeout gives device_error 1; later scrapes
// skip the mount without a new statfs until the pending call returns. The
// test says when the timeout expires (filesystemCollector.expired): once
// the stuck statfs has been called, so that no real timer races either
// mount's statfs.
func TestFilesystemStuckMount(t *testing.T) {
	sys := newBlockingSystem("nfs")
	var once sync.Once
	release := func() { once.Do(func() { close(sys.release) }) }
	defer release()
	c := newStuckMountCollector(t, "/dev/vda / ext4 rw 0 0\nsrv:/x /nfs nfs4 rw 0 0\n", sys, time.Hour)
	var expireNFS atomic.Bool
	timedOut := make(chan time.Time)
	go func() {
		<-sys.entered
		close(timedOut)
	}()
	c.expired = func(mp string) <-chan time.Time {
		if mp == "/nfs" && expireNFS.Load() {
			return timedOut
		}
		return nil // never: the statfs must return by itself
	}

	expireNFS.Store(true)
	got := scrapeFilesystem(t, c, "first scrape")
	want := map[string]float64{
		`node_filesystem_device_error{/nfs}`: 1,
		`node_filesystem_device_error{/}`:    0,
		`node_filesystem_readonly{/}`:        0,
		`node_filesystem_size_bytes{/}`:      1,
	}
	if diff := cmp.Diff(want, pick(got, "device_error", "readonly", "size_bytes")); diff != "" {
		t.Errorf("first scrape (-want +got):\n%s", diff)
	}

	// Still stuck: reported at once, no second statfs. The timeout no longer
	// expires, so a scrape that waited for the stuck mount again would block
	// (and fail) rather than merely be slow.
	expireNFS.Store(false)
	got = scrapeFilesystem(t, c, "second scrape")
	if diff := cmp.Diff(want, pick(got, "device_error", "readonly", "size_bytes")); diff != "" {
		t.Errorf("second scrape (-want +got):\n%s", diff)
	}
	if n := sys.calls.Load(); n != 1 {
		t.Errorf("statfs on the stuck mount called %d times, want 1", n)
	}

	// The pending call returns: the mount recovers once its goroutine has
	// cleared the mark; poll for that, with a deadline against a hang.
	release()
	deadline := time.Now().Add(time.Minute)
	for {
		got = scrapeFilesystem(t, c, "recovery scrape")
		if got[`node_filesystem_device_error{/nfs}`] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got[`node_filesystem_device_error{/nfs}`] != 0 || got[`node_filesystem_size_bytes{/nfs}`] != 7 {
		t.Errorf("mount did not recover: %v", got)
	}
}

// TestFilesystemMountTimeout checks the real MountTimeout timer: a scrape of
// a mount whose statfs never returns ends, and reports device_error 1.
func TestFilesystemMountTimeout(t *testing.T) {
	sys := newBlockingSystem("nfs")
	defer close(sys.release)
	c := newStuckMountCollector(t, "srv:/x /nfs nfs4 rw 0 0\n", sys, time.Millisecond)
	got := scrapeFilesystem(t, c, "scrape")
	if diff := cmp.Diff(map[string]float64{`node_filesystem_device_error{/nfs}`: 1}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// newStuckMountCollector returns a filesystem collector reading mounts (the
// content of proc/1/mounts) and calling statfs on sys.
func newStuckMountCollector(t *testing.T, mounts string, sys System, timeout time.Duration) *filesystemCollector {
	t.Helper()
	dir := t.TempDir()
	cfg := fixtureConfig(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "proc", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "proc", "1", "mounts"), []byte(mounts), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.System = sys
	cfg.Filesystem.MountTimeout = timeout
	cs, err := New([]string{"filesystem"}, cfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	return cs[0].Collector.(*filesystemCollector)
}

// scrapeFilesystem runs one Update and fails the test if it blocks: the
// statfs on a stuck mount never returns before the test releases it, so a
// scrape that waited for it would never end. The deadline only stops such a
// hang; it is no measure of how long a scrape may take.
func scrapeFilesystem(t *testing.T, c *filesystemCollector, what string) map[string]float64 {
	t.Helper()
	var sink collector.Sink
	done := make(chan error, 1)
	go func() { done <- c.Update(context.Background(), &sink) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s: blocked on the stuck mount", what)
	}
	ch := make(chan prometheus.Metric, len(sink.Metrics()))
	for _, m := range sink.Metrics() {
		ch <- m
	}
	close(ch)
	return summarize(t, ch)
}

// summarize maps "name{mountpoint}" to value.
func summarize(t *testing.T, ch <-chan prometheus.Metric) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for m := range ch {
		desc := m.Desc().String()
		name := desc[strings.Index(desc, `fqName: "`)+len(`fqName: "`):]
		name = name[:strings.IndexByte(name, '"')]
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		mp := ""
		for _, l := range pb.GetLabel() {
			if l.GetName() == "mountpoint" {
				mp = l.GetValue()
			}
		}
		out[name+"{"+mp+"}"] = pb.GetGauge().GetValue()
	}
	return out
}

func pick(m map[string]float64, suffixes ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		for _, s := range suffixes {
			if strings.HasPrefix(k, "node_filesystem_"+s+"{") {
				out[k] = v
			}
		}
	}
	return out
}

func FuzzParseMounts(f *testing.F) {
	for _, p := range []string{"testdata/filesystem/proc/1/mounts", "/proc/self/mounts"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`a /x\040y\1\\\777 t ro,rw`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		ms, err := parseMounts(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.device == "" || m.mountPoint == "" || m.fsType == "" {
				t.Fatalf("empty field in %+v", m)
			}
		}
	})
}
