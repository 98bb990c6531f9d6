package host

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// BenchmarkCollectors runs each default collector once per iteration over
// this machine's /proc and /sys: where one scrape's CPU goes
// (bench/agent.sh measures the whole agent against node_exporter).
func BenchmarkCollectors(b *testing.B) {
	for _, info := range Collectors() {
		if !info.DefaultEnabled {
			continue
		}
		b.Run(info.Name, func(b *testing.B) {
			cs, err := New([]string{info.Name}, DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			c := cs[0].Collector
			b.ReportAllocs()
			for b.Loop() {
				var sink collector.Sink
				// A collector this machine has no hardware for returns
				// an error each time; that is part of its cost.
				_ = c.Update(context.Background(), &sink)
			}
		})
	}
}

// BenchmarkNetclassReader compares the netclass collector's reader of
// /sys/class/net/<dev> with procfs' (what node_exporter uses), over every
// interface of this machine.
func BenchmarkNetclassReader(b *testing.B) {
	sfs, err := sysfs.NewFS("/sys")
	if err != nil {
		b.Fatal(err)
	}
	devices, err := sfs.NetClassDevices()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("procfs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, dev := range devices {
				if _, err := sfs.NetClassByIface(dev); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("panoptes", func(b *testing.B) {
		buf := make([]byte, netclassBufSize)
		dir := filepath.Join("/sys", "class", "net")
		b.ReportAllocs()
		for b.Loop() {
			for _, dev := range devices {
				if _, err := readNetclassIface(dir, dev, buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
