package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("nvme", true, newNVMe) }

// nvmeCollector reports node_nvme_info for each NVMe controller in
// /sys/class/nvme: model, serial, firmware and controller state.
type nvmeCollector struct {
	cfg    Config
	logger *slog.Logger
	info   collector.TypedDesc
}

func newNVMe(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &nvmeCollector{
		cfg:    cfg,
		logger: logger,
		info: collector.NewTypedDesc("nvme", "info", "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
			prometheus.GaugeValue, "device", "firmware_revision", "model", "serial", "state"),
	}, nil
}

// Update reads every controller. No nvme class (no NVMe driver) is no data,
// as in node_exporter, and so is a controller whose attribute files vanish
// mid-read (a hot-removed drive: ENOENT); any other read error fails the
// collector.
func (c *nvmeCollector) Update(_ context.Context, ch *collector.Sink) error {
	dir := c.cfg.sysPath("class", "nvme")
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	devs, err := sfs.NVMeClass()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("nvme statistics not found in %s: %w: %w", dir, collector.ErrNoData, err)
		}
		return fmt.Errorf("read NVMe class info in %s: %w", dir, err)
	}
	for _, d := range devs {
		ch.Send(c.info.Metric(1, d.Name, d.FirmwareRevision, d.Model, d.Serial, d.State))
	}
	return nil
}
