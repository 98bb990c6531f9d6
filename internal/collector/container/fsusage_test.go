package container

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/testkit"
)

const (
	fixtureID  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	fixtureUID = "6b0c5e1a-3f2d-4c8e-9a41-2d7e5f0b9c13"
)

// fakeLayers is an FsSource answering a fixed list, or an error.
type fakeLayers struct {
	layers []Layer
	err    error
}

func (f fakeLayers) WritableLayers(context.Context) ([]Layer, error) { return f.layers, f.err }

// writeFile writes n bytes of data to a new file.
func writeFile(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("x", n)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// du runs the real du on dir: bytes in 1-byte blocks (allocated blocks,
// not apparent size) and inodes, on one filesystem.
func du(t *testing.T, dir string) (bytes, inodes uint64) {
	t.Helper()
	path, err := exec.LookPath("du")
	if err != nil {
		testkit.Missing(t, "du", "Debian package coreutils")
		return 0, 0
	}
	run := func(args ...string) uint64 {
		out, err := exec.Command(path, append(args, dir)...).Output()
		if err != nil {
			t.Fatalf("du %v: %v", args, err)
		}
		v, err := strconv.ParseUint(strings.Fields(string(out))[0], 10, 64)
		if err != nil {
			t.Fatalf("du %v: %q: %v", args, out, err)
		}
		return v
	}
	return run("-sx", "--block-size=1"), run("-sx", "--inodes")
}

// logTree makes a container log directory as the kubelet does, with
// rotated, compressed-size and sparse files, a hard link and a subdirectory.
func logTree(t *testing.T, dir string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "0.log"), 10_000)
	writeFile(t, filepath.Join(dir, "0.log.20261205-120000"), 123_457)
	writeFile(t, filepath.Join(dir, "1.log"), 1)
	writeFile(t, filepath.Join(dir, "sub", "x"), 5000)
	if err := os.Link(filepath.Join(dir, "1.log"), filepath.Join(dir, "1.log.link")); err != nil {
		t.Fatal(err)
	}
	// A sparse file: 1 MiB apparent, one block allocated.
	f, err := os.Create(filepath.Join(dir, "sparse.log"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("y"), 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestDirUsageMatchesDu(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logTree(t, dir)
	bytes, inodes, err := DirUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes, wantInodes := du(t, dir)
	if bytes != wantBytes || inodes != wantInodes {
		t.Errorf("DirUsage = %d bytes, %d inodes; du says %d bytes, %d inodes", bytes, inodes, wantBytes, wantInodes)
	}
	// Blocks, not apparent size: the sparse MiB is not counted.
	if bytes >= 1<<20 {
		t.Errorf("DirUsage = %d bytes: counts the sparse file's apparent size", bytes)
	}
	if _, _, err := DirUsage(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DirUsage(missing) = %v, want ErrNotExist", err)
	}
}

// measured returns a collector over the v2 fixture whose fs usage has been
// measured once, synchronously.
func measured(t *testing.T, root string, src FsSource) *Collector {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := New(Config{ProcRoot: "testdata/v2/proc", SysRoot: "testdata/v2/sys", RootFS: root, Fs: src}, fakeNamer{}, nil, logger)
	tr := c.fsTracker()
	u := tr.measure(context.Background())
	tr.mu.Lock()
	tr.cur, tr.started = u, time.Now() // not due again: no background run
	tr.mu.Unlock()
	return c
}

func TestFsUsageCollector(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	podDir := filepath.Join(root, PodLogsDir, "shop_web-0_"+fixtureUID)
	logTree(t, filepath.Join(podDir, "app"))
	writeFile(t, filepath.Join(podDir, "sandbox.log"), 3000) // a pod-level log
	layerDir := filepath.Join(root, "var/lib/containerd/io.containerd.snapshotter.v1.overlayfs")
	if err := os.MkdirAll(layerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	used, inodesUsed := uint64(4_321_000), uint64(17)
	c := measured(t, root, fakeLayers{layers: []Layer{{
		ID: fixtureID, Container: "app", Pod: "web-0", Namespace: "shop", PodUID: fixtureUID,
		Mountpoint: "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs",
		UsedBytes:  &used, InodesUsed: &inodesUsed,
	}}})
	snap, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ct *Container
	for i := range snap.Containers {
		if snap.Containers[i].Ref.ContainerID == fixtureID {
			ct = &snap.Containers[i]
		}
	}
	if ct == nil || ct.Fs == nil || ct.Fs.Rootfs == nil || ct.Fs.Logs == nil {
		t.Fatalf("container %s has no rootfs and logs: %+v", fixtureID, ct)
	}
	logBytes, logInodes := du(t, filepath.Join(podDir, "app"))
	if got := ct.Fs.Logs; *got.UsedBytes != logBytes || *got.InodesUsed != logInodes {
		t.Errorf("logs = %d bytes, %d inodes; du says %d, %d", *got.UsedBytes, *got.InodesUsed, logBytes, logInodes)
	}
	if got := ct.Fs.Rootfs; *got.UsedBytes != used || *got.InodesUsed != inodesUsed {
		t.Errorf("rootfs = %d bytes, %d inodes; the runtime said %d, %d", *got.UsedBytes, *got.InodesUsed, used, inodesUsed)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	if capacity := uint64(st.Frsize) * st.Blocks; *ct.Fs.Rootfs.CapacityBytes != capacity || *ct.Fs.Logs.CapacityBytes != capacity {
		t.Errorf("capacity = %d, %d; statfs says %d", *ct.Fs.Rootfs.CapacityBytes, *ct.Fs.Logs.CapacityBytes, capacity)
	}
	podBytes, _ := du(t, filepath.Join(podDir, "sandbox.log"))
	if pl := snap.Fs.PodLogs[fixtureUID]; pl == nil || *pl.UsedBytes != podBytes {
		t.Errorf("pod logs = %+v, want %d bytes", pl, podBytes)
	}

	// The families: one device (the layer and the logs share the
	// filesystem), the usage summed.
	var sink collector.Sink
	if err := c.Update(context.Background(), &sink); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	device := ""
	names := map[*prometheus.Desc]string{
		c.fs.usage.Desc: "container_fs_usage_bytes", c.fs.limit.Desc: "container_fs_limit_bytes",
		c.fs.inodesFree.Desc: "container_fs_inodes_free", c.fs.inodes.Desc: "container_fs_inodes_total",
	}
	for _, m := range sink.Metrics() {
		s := m.(*collector.Sample)
		name, ok := names[m.Desc()]
		if !ok {
			continue
		}
		// container, id, image, name, namespace, pod, device
		if id := s.LabelValues[1]; !strings.Contains(id, fixtureID) {
			t.Errorf("%s on another container: %v", name, s.LabelValues)
		}
		if _, dup := got[name]; dup {
			t.Errorf("%s: more than one series: %v", name, s.LabelValues)
		}
		device = s.LabelValues[6]
		got[name] = s.Value
	}
	want := map[string]float64{
		"container_fs_usage_bytes":  float64(used + logBytes),
		"container_fs_limit_bytes":  float64(uint64(st.Frsize) * st.Blocks),
		"container_fs_inodes_total": float64(st.Files),
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	if _, ok := got["container_fs_inodes_free"]; !ok {
		t.Error("no container_fs_inodes_free")
	}
	if device == "" {
		t.Error("no device label")
	}
}

func TestFsUsageRuntimeFails(t *testing.T) {
	t.Parallel()
	c := measured(t, t.TempDir(), fakeLayers{err: errors.New("rpc error: code = Unavailable desc = gone")})
	var sink collector.Sink
	if err := c.Update(context.Background(), &sink); err != nil {
		t.Fatalf("a runtime without stats failed the scrape: %v", err)
	}
	for _, m := range sink.Metrics() {
		if d := m.Desc(); d == c.fs.usage.Desc || d == c.fs.limit.Desc {
			t.Errorf("%s reported without a measurement", d)
		}
	}
}
