package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("pressure", true, newPressure) }

type pressureCollector struct {
	cfg                                 Config
	cpu, io, ioFull, memory, memoryFull collector.TypedDesc
}

func newPressure(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	c := prometheus.CounterValue
	return &pressureCollector{
		cfg:        cfg,
		cpu:        collector.NewTypedDesc("pressure", "cpu_waiting_seconds_total", "Total time in seconds that processes have waited for CPU time", c),
		io:         collector.NewTypedDesc("pressure", "io_waiting_seconds_total", "Total time in seconds that processes have waited due to IO congestion", c),
		ioFull:     collector.NewTypedDesc("pressure", "io_stalled_seconds_total", "Total time in seconds no process could make progress due to IO congestion", c),
		memory:     collector.NewTypedDesc("pressure", "memory_waiting_seconds_total", "Total time in seconds that processes have waited for memory", c),
		memoryFull: collector.NewTypedDesc("pressure", "memory_stalled_seconds_total", "Total time in seconds no process could make progress due to memory congestion", c),
	}, nil
}

// Update reports the PSI "some" totals of cpu, io and memory and the "full"
// totals of io and memory (node_exporter 1.5 does not report cpu "full"),
// converted from microseconds to seconds.
func (c *pressureCollector) Update(_ context.Context, ch *collector.Sink) error {
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	for _, r := range [...]struct {
		resource   string
		some, full *collector.TypedDesc
	}{
		{"cpu", &c.cpu, nil},
		{"io", &c.io, &c.ioFull},
		{"memory", &c.memory, &c.memoryFull},
	} {
		path := c.cfg.procPath("pressure", r.resource)
		st, err := pfs.PSIStatsForResource(r.resource)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("read %s: pressure stall information needs Linux >= 4.20 with CONFIG_PSI: %w", path, collector.ErrNoData)
			}
			return fmt.Errorf("read %s: %w", path, err)
		}
		if st.Some == nil || (r.full != nil && st.Full == nil) {
			return fmt.Errorf("read %s: missing some or full line", path)
		}
		ch.Send(r.some.Metric(float64(st.Some.Total) / 1000 / 1000))
		if r.full != nil {
			ch.Send(r.full.Metric(float64(st.Full.Total) / 1000 / 1000))
		}
	}
	return nil
}
