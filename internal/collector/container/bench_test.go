package container

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// syntheticTree writes a cgroup v2 fixture with n pod containers (two per
// pod) laid out by the systemd driver, each with the files a scrape reads,
// copied from the v2 fixture's container.
func syntheticTree(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	src := filepath.Join("testdata", "v2")
	for _, f := range []string{"proc/1/mountinfo", "proc/meminfo", "proc/stat", "sys/fs/cgroup/cgroup.controllers",
		"sys/fs/cgroup/cpu.stat", "sys/fs/cgroup/io.stat", "sys/fs/cgroup/memory.stat", "sys/fs/cgroup/cgroup.procs"} {
		copyFile(b, filepath.Join(src, f), filepath.Join(dir, f))
	}
	tmpl := filepath.Join(src, "sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice",
		"kubepods-burstable-pod6b0c5e1a_3f2d_4c8e_9a41_2d7e5f0b9c13.slice",
		"cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope")
	files, err := os.ReadDir(tmpl)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		pod := fmt.Sprintf("kubepods-burstable-pod%08x_0000_4000_8000_%012x.slice", i/2, i/2)
		ctr := fmt.Sprintf("cri-containerd-%064x.scope", i)
		d := filepath.Join(dir, "sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice", pod, ctr)
		for _, f := range files {
			copyFile(b, filepath.Join(tmpl, f.Name()), filepath.Join(d, f.Name()))
		}
	}
	return dir
}

func copyFile(b *testing.B, from, to string) {
	b.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkUpdate measures one scrape of n synthetic containers (rendering
// included), the 100- and 500-container cases.
func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			dir := syntheticTree(b, n)
			c := New(Config{ProcRoot: filepath.Join(dir, "proc"), SysRoot: filepath.Join(dir, "sys")}, nil, nil,
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var sink collector.Sink
				if err := c.Update(context.Background(), &sink); err != nil {
					b.Fatal(err)
				}
				samples := make([]*collector.Sample, 0, len(sink.Metrics()))
				for _, m := range sink.Metrics() {
					samples = append(samples, m.(*collector.Sample))
				}
				fams, _ := collector.GroupFamilies(samples)
				buf = buf[:0]
				for _, f := range fams {
					buf = f.AppendText(buf)
				}
			}
			b.ReportMetric(float64(len(buf)), "bytes/exposition")
		})
	}
}
