package host

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("loadavg", true, newLoadavg) }

type loadavgCollector struct {
	cfg  Config
	load [3]collector.TypedDesc
}

func newLoadavg(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &loadavgCollector{cfg: cfg, load: [3]collector.TypedDesc{
		collector.NewTypedDesc("", "load1", "1m load average.", prometheus.GaugeValue),
		collector.NewTypedDesc("", "load5", "5m load average.", prometheus.GaugeValue),
		collector.NewTypedDesc("", "load15", "15m load average.", prometheus.GaugeValue),
	}}, nil
}

func (c *loadavgCollector) Update(_ context.Context, ch *collector.Sink) error {
	fs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	l, err := fs.LoadAvg()
	if err != nil {
		return fmt.Errorf("read loadavg: %w", err)
	}
	ch.Send(c.load[0].Metric(l.Load1))
	ch.Send(c.load[1].Metric(l.Load5))
	ch.Send(c.load[2].Metric(l.Load15))
	return nil
}
