package host

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("uname", true, newUname) }

// unameCollector reports uname(2). It asks the kernel on every scrape: the
// call is cheap and the node name can change at run time.
type unameCollector struct {
	cfg  Config
	info collector.TypedDesc
}

func newUname(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &unameCollector{
		cfg: cfg,
		info: collector.NewTypedDesc("uname", "info",
			"Labeled system information as provided by the uname system call.",
			prometheus.GaugeValue,
			"sysname", "release", "version", "machine", "nodename", "domainname"),
	}, nil
}

func (c *unameCollector) Update(_ context.Context, ch *collector.Sink) error {
	u, err := c.cfg.system().Uname()
	if err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	ch.Send(c.info.Metric(1, u.SysName, u.Release, u.Version, u.Machine, u.NodeName, u.DomainName))
	return nil
}
