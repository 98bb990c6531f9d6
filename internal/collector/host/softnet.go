package host

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("softnet", true, newSoftnet) }

// softnetCollector reports /proc/net/softnet_stat, one row per CPU.
type softnetCollector struct {
	cfg                              Config
	processed, dropped, timeSqueezed collector.TypedDesc
}

func newSoftnet(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	c := prometheus.CounterValue
	return &softnetCollector{
		cfg:          cfg,
		processed:    collector.NewTypedDesc("softnet", "processed_total", "Number of processed packets", c, "cpu"),
		dropped:      collector.NewTypedDesc("softnet", "dropped_total", "Number of dropped packets", c, "cpu"),
		timeSqueezed: collector.NewTypedDesc("softnet", "times_squeezed_total", "Number of times processing packets ran out of quota", c, "cpu"),
	}, nil
}

// Update reports each row's counters. The cpu label is the row's position,
// as in node_exporter 1.5, not the CPU id that kernels >= 5.14 print in the
// 13th column: with offline CPUs the two differ, and dashboards built on 1.5
// expect the position.
func (c *softnetCollector) Update(_ context.Context, ch *collector.Sink) error {
	fs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	stats, err := fs.NetSoftnetStat()
	if err != nil {
		return fmt.Errorf("read %s: %w", c.cfg.procPath("net", "softnet_stat"), err)
	}
	for i, s := range stats {
		cpu := strconv.Itoa(i)
		ch.Send(c.processed.Metric(float64(s.Processed), cpu))
		ch.Send(c.dropped.Metric(float64(s.Dropped), cpu))
		ch.Send(c.timeSqueezed.Metric(float64(s.TimeSqueezed), cpu))
	}
	return nil
}
