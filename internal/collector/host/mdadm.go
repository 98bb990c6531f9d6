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

func init() { register("mdadm", true, newMdadm) }

// mdadmCollector reports software RAID (md) arrays from /proc/mdstat. The
// node-mixin alerts NodeRAIDDegraded and NodeRAIDDiskFailure read
// node_md_disks_required, node_md_disks{state="active"} and
// node_md_disks{state="failed"}.
type mdadmCollector struct {
	cfg    Config
	logger *slog.Logger

	state, disks, disksRequired, blocks, blocksSynced collector.TypedDesc
}

func newMdadm(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &mdadmCollector{
		cfg:    cfg,
		logger: logger,
		// node_exporter declares one descriptor per state with a constant
		// state label; a variable label renders the same series.
		state:         collector.NewTypedDesc("md", "state", "Indicates the state of md-device.", prometheus.GaugeValue, "device", "state"),
		disks:         collector.NewTypedDesc("md", "disks", "Number of active/failed/spare disks of device.", prometheus.GaugeValue, "device", "state"),
		disksRequired: collector.NewTypedDesc("md", "disks_required", "Total number of disks of device.", prometheus.GaugeValue, "device"),
		blocks:        collector.NewTypedDesc("md", "blocks", "Total number of blocks on device.", prometheus.GaugeValue, "device"),
		blocksSynced:  collector.NewTypedDesc("md", "blocks_synced", "Number of blocks synced on device.", prometheus.GaugeValue, "device"),
	}, nil
}

// mdStates are the states node_exporter 1.5 reports, each with the name
// procfs gives it.
var mdStates = []struct{ label, procfs string }{
	{"active", "active"},
	{"inactive", "inactive"},
	{"recovering", "recovering"},
	{"resync", "resyncing"},
	{"check", "checking"},
}

func (c *mdadmCollector) Update(_ context.Context, ch *collector.Sink) error {
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	path := c.cfg.procPath("mdstat")
	arrays, err := pfs.MDStat()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// No md driver loaded: node_exporter reports no data.
			return fmt.Errorf("read %s: %w: %w", path, collector.ErrNoData, err)
		}
		return fmt.Errorf("parse %s: %w", path, err)
	}
	for _, md := range arrays {
		state, synced := md.ActivityState, md.BlocksSynced
		if state == "reshaping" {
			// procfs learnt "reshaping" after node_exporter 1.5's procfs
			// (0.8), which left a reshaping array "active" and fully synced.
			state, synced = "active", md.BlocksTotal
		}
		ch.Send(c.disksRequired.Metric(float64(md.DisksTotal), md.Name))
		ch.Send(c.disks.Metric(float64(md.DisksActive), md.Name, "active"))
		ch.Send(c.disks.Metric(float64(md.DisksFailed), md.Name, "failed"))
		ch.Send(c.disks.Metric(float64(md.DisksSpare), md.Name, "spare"))
		for _, s := range mdStates {
			v := 0.0
			if state == s.procfs {
				v = 1
			}
			ch.Send(c.state.Metric(v, md.Name, s.label))
		}
		ch.Send(c.blocks.Metric(float64(md.BlocksTotal), md.Name))
		ch.Send(c.blocksSynced.Metric(float64(synced), md.Name))
	}
	return nil
}
