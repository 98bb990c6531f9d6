package host

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("stat", true, newStat) }

type statCollector struct {
	cfg                                      Config
	intr, ctxt, forks, btime, running, block collector.TypedDesc
}

func newStat(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &statCollector{
		cfg:     cfg,
		intr:    collector.NewTypedDesc("", "intr_total", "Total number of interrupts serviced.", prometheus.CounterValue),
		ctxt:    collector.NewTypedDesc("", "context_switches_total", "Total number of context switches.", prometheus.CounterValue),
		forks:   collector.NewTypedDesc("", "forks_total", "Total number of forks.", prometheus.CounterValue),
		btime:   collector.NewTypedDesc("", "boot_time_seconds", "Node boot time, in unixtime.", prometheus.GaugeValue),
		running: collector.NewTypedDesc("procs", "running", "Number of processes in runnable state.", prometheus.GaugeValue),
		block:   collector.NewTypedDesc("procs", "blocked", "Number of processes blocked waiting for I/O to complete.", prometheus.GaugeValue),
	}, nil
}

func (c *statCollector) Update(ctx context.Context, ch *collector.Sink) error {
	s, err := procStat(ctx, c.cfg)
	if err != nil {
		return err
	}
	ch.Send(c.intr.Metric(float64(s.IRQTotal)))
	ch.Send(c.ctxt.Metric(float64(s.ContextSwitches)))
	ch.Send(c.forks.Metric(float64(s.ProcessCreated)))
	ch.Send(c.btime.Metric(float64(s.BootTime)))
	ch.Send(c.running.Metric(float64(s.ProcessesRunning)))
	ch.Send(c.block.Metric(float64(s.ProcessesBlocked)))
	return nil
}

// procStat reads and parses /proc/stat once per scrape for the stat and cpu
// collectors.
func procStat(ctx context.Context, cfg Config) (procfs.Stat, error) {
	return collector.Memo(ctx, "procfs.Stat "+cfg.ProcRoot, func() (procfs.Stat, error) {
		fs, err := cfg.procFS()
		if err != nil {
			return procfs.Stat{}, err
		}
		s, err := fs.Stat()
		if err != nil {
			return procfs.Stat{}, fmt.Errorf("read stat: %w", err)
		}
		return s, nil
	})
}
