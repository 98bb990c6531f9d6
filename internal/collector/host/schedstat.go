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

func init() { register("schedstat", true, newSchedstat) }

// schedstatCollector reports per-CPU scheduler statistics from
// /proc/schedstat (kernels built with CONFIG_SCHEDSTATS).
type schedstatCollector struct {
	cfg                          Config
	running, waiting, timeslices collector.TypedDesc
}

func newSchedstat(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &schedstatCollector{
		cfg:        cfg,
		running:    collector.NewTypedDesc("schedstat", "running_seconds_total", "Number of seconds CPU spent running a process.", prometheus.CounterValue, "cpu"),
		waiting:    collector.NewTypedDesc("schedstat", "waiting_seconds_total", "Number of seconds spent by processing waiting for this CPU.", prometheus.CounterValue, "cpu"),
		timeslices: collector.NewTypedDesc("schedstat", "timeslices_total", "Number of timeslices executed by CPU.", prometheus.CounterValue, "cpu"),
	}, nil
}

func (c *schedstatCollector) Update(_ context.Context, ch *collector.Sink) error {
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	path := c.cfg.procPath("schedstat")
	stats, err := pfs.Schedstat()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// A kernel without CONFIG_SCHEDSTATS: no data, as node_exporter.
			return fmt.Errorf("read %s: %w: %w", path, collector.ErrNoData, err)
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	for _, cpu := range stats.CPUs {
		ch.Send(c.running.Metric(float64(cpu.RunningNanoseconds)/1e9, cpu.CPUNum))
		ch.Send(c.waiting.Metric(float64(cpu.WaitingNanoseconds)/1e9, cpu.CPUNum))
		ch.Send(c.timeslices.Metric(float64(cpu.RunTimeslices), cpu.CPUNum))
	}
	return nil
}
