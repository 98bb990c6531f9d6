package host

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// The cgroups collector (off by default, as in node_exporter) summarises
// /proc/cgroups: per controller, how many cgroups exist and whether the
// controller is enabled.
func init() { register("cgroups", false, newCgroups) }

type cgroupsCollector struct {
	cfg     Config
	cgroups collector.TypedDesc
	enabled collector.TypedDesc
}

func newCgroups(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &cgroupsCollector{
		cfg: cfg,
		cgroups: collector.NewTypedDesc("cgroups", "cgroups",
			"Current cgroup number of the subsystem.", prometheus.GaugeValue, "subsys_name"),
		// node_exporter 1.5 gives node_cgroups_enabled the same HELP as
		// node_cgroups_cgroups (a copy-paste slip upstream); kept, since
		// parity is on the exact text.
		enabled: collector.NewTypedDesc("cgroups", "enabled",
			"Current cgroup number of the subsystem.", prometheus.GaugeValue, "subsys_name"),
	}, nil
}

func (c *cgroupsCollector) Update(_ context.Context, ch *collector.Sink) error {
	fs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	summaries, err := fs.CgroupSummarys()
	if err != nil {
		return fmt.Errorf("read cgroups: %w", err)
	}
	for _, s := range summaries {
		ch.Send(c.cgroups.Metric(float64(s.Cgroups), s.SubsysName))
		ch.Send(c.enabled.Metric(float64(s.Enabled), s.SubsysName))
	}
	return nil
}
