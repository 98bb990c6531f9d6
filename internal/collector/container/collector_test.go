package container

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

var update = flag.Bool("update", false, "rewrite testdata/*/want.prom")

// fakeNamer names the fixture's one pod container.
type fakeNamer struct{}

func (fakeNamer) Container(_ context.Context, id string) (Info, bool) {
	if id != "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		return Info{}, false
	}
	return Info{Container: "app", Pod: "web-0", Namespace: "shop", Image: "registry.example/web:1.2", Name: id}, true
}

func (fakeNamer) Pod(_ context.Context, uid string) (string, string, bool) {
	if uid != "6b0c5e1a-3f2d-4c8e-9a41-2d7e5f0b9c13" {
		return "", "", false
	}
	return "web-0", "shop", true
}

// render runs the collector once over a fixture tree and renders its output
// with the times that depend on the clock and the file system zeroed.
func render(t *testing.T, dir string) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := New(Config{
		ProcRoot: filepath.Join(dir, "proc"), SysRoot: filepath.Join(dir, "sys"), RootFS: filepath.Join(dir, "root"),
		// The fixture has no runtime socket: reported missing.
		RuntimeEndpoints: []string{filepath.Join(dir, "root/run/containerd/containerd.sock")},
	}, fakeNamer{}, nil, logger)
	var sink collector.Sink
	if err := c.Update(context.Background(), &sink); err != nil {
		t.Fatalf("update: %v", err)
	}
	var samples []*collector.Sample
	for _, m := range sink.Metrics() {
		s := m.(*collector.Sample)
		s.TimestampMs = 0
		switch m.Desc() {
		case c.lastSeen.Desc, c.startTime.Desc:
			s.Value = 0
		}
		samples = append(samples, s)
	}
	// The registry checks the samples are consistent, as a scrape would.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.Replay(samples))
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	fams, dups := collector.GroupFamilies(samples)
	if dups != 0 {
		t.Errorf("%d duplicate series", dups)
	}
	var b []byte
	for _, f := range fams {
		b = f.AppendText(b)
	}
	return string(b)
}

func TestGolden(t *testing.T) {
	for _, layout := range []string{"v2"} {
		t.Run(layout, func(t *testing.T) {
			dir := filepath.Join("testdata", layout)
			got := render(t, dir)
			want := filepath.Join(dir, "want.prom")
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if diff := cmp.Diff(string(b), got); diff != "" {
				t.Errorf("output differs from %s (-want +got):\n%s", want, diff)
			}
		})
	}
}

func TestNoCgroups(t *testing.T) {
	dir := t.TempDir()
	c := New(Config{ProcRoot: filepath.Join(dir, "proc"), SysRoot: filepath.Join(dir, "sys")}, nil, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	var sink collector.Sink
	err := c.Update(context.Background(), &sink)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("no cgroup hierarchy")) {
		t.Fatalf("Update on a host without cgroups: %v", err)
	}
}

// TestMalformedFileDropsOneFamily: a cgroup file that cannot be parsed costs
// that controller's families for that container and counts an error; the
// container's other families are still reported.
func TestMalformedFileDropsOneFamily(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "v2"))); err != nil {
		t.Fatal(err)
	}
	ctr := filepath.Join(dir, "sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice",
		"kubepods-burstable-pod6b0c5e1a_3f2d_4c8e_9a41_2d7e5f0b9c13.slice",
		"cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope")
	if err := os.WriteFile(filepath.Join(ctr, "memory.stat"), []byte("anon lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errorsTotal := prometheus.NewCounter(prometheus.CounterOpts{Name: "errors_total", Help: "h"})
	c := New(Config{ProcRoot: filepath.Join(dir, "proc"), SysRoot: filepath.Join(dir, "sys")}, fakeNamer{}, errorsTotal,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	var sink collector.Sink
	if err := c.Update(context.Background(), &sink); err != nil {
		t.Fatal(err)
	}
	var cpu, mem bool
	for _, m := range sink.Metrics() {
		s := m.(*collector.Sample)
		if len(s.LabelValues) == 0 || s.LabelValues[0] != "app" {
			continue
		}
		cpu = cpu || m.Desc() == c.cpuUsage.Desc
		mem = mem || m.Desc() == c.memWorkingSet.Desc
	}
	if !cpu || mem {
		t.Errorf("after a malformed memory.stat: cpu reported %v (want true), memory reported %v (want false)", cpu, mem)
	}
	if got := testutil.ToFloat64(errorsTotal); got != 1 {
		t.Errorf("errors counted: %v, want 1", got)
	}
}
