package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// RaplConfig shapes the rapl collector's output.
type RaplConfig struct {
	// EnableZoneLabel reports one family, node_rapl_joules_total, with the
	// zone in a rapl_zone label, instead of one family per zone name.
	EnableZoneLabel bool
}

func init() { register("rapl", true, newRapl) }

// raplNameBad matches what cannot be in a metric name, with the
// underscores around it, so that "a - b" becomes "a_b".
var raplNameBad = regexp.MustCompile(`_*[^0-9A-Za-z_]+_*`)

// raplCollector reports the RAPL energy counters of Intel and AMD CPUs
// (package, core, uncore, dram, psys) from /sys/class/powercap.
type raplCollector struct {
	cfg    Config
	logger *slog.Logger
	descs  collector.DescCache
	joules collector.TypedDesc
}

func newRapl(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &raplCollector{
		cfg:    cfg,
		logger: logger,
		joules: collector.NewTypedDesc("rapl", "joules_total", "Current RAPL value in joules", prometheus.CounterValue, "index", "path", "rapl_zone"),
	}, nil
}

// Update reads each zone's energy_uj. Without powercap (no intel_rapl
// driver, a VM) there is no data. Since Linux 5.10 (CVE-2020-8694) energy_uj
// is readable by root only: a non-root agent gets no data either, logged at
// debug, as node_exporter 1.5 does; run it as root or grant read access to
// report energy.
func (c *raplCollector) Update(_ context.Context, ch *collector.Sink) error {
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	zones, err := sysfs.GetRaplZones(sfs)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("no powercap files: %w: %w", collector.ErrNoData, err)
		case errors.Is(err, fs.ErrPermission):
			return fmt.Errorf("cannot read powercap files: %w: %w", collector.ErrNoData, err)
		}
		return fmt.Errorf("read rapl zones in %s: %w", c.cfg.sysPath("class", "powercap"), err)
	}
	for _, z := range zones {
		uj, err := z.GetEnergyMicrojoules()
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("cannot read %s/energy_uj (root only since Linux 5.10): %w: %w", z.Path, collector.ErrNoData, err)
			}
			return fmt.Errorf("read %s/energy_uj: %w", z.Path, err)
		}
		j := float64(uj) / 1000000.0
		index := strconv.Itoa(z.Index)
		if c.cfg.Rapl.EnableZoneLabel {
			ch.Send(c.joules.Metric(j, index, z.Path, z.Name))
			continue
		}
		d := c.descs.Get("node_rapl_"+raplNameBad.ReplaceAllString(z.Name, "_")+"_joules_total",
			"Current RAPL "+z.Name+" value in joules", prometheus.CounterValue, "index", "path")
		ch.Send(d.Metric(j, index, z.Path))
	}
	return nil
}
