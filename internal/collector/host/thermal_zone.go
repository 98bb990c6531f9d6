package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("thermal_zone", true, newThermalZone) }

// thermalZoneCollector reports /sys/class/thermal: each thermal zone's
// temperature and each cooling device's throttle state.
type thermalZoneCollector struct {
	cfg    Config
	logger *slog.Logger

	zoneTemp, coolingCur, coolingMax collector.TypedDesc
}

func newThermalZone(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &thermalZoneCollector{
		cfg:        cfg,
		logger:     logger,
		zoneTemp:   collector.NewTypedDesc("thermal_zone", "temp", "Zone temperature in Celsius", prometheus.GaugeValue, "zone", "type"),
		coolingCur: collector.NewTypedDesc("cooling_device", "cur_state", "Current throttle state of the cooling device", prometheus.GaugeValue, "name", "type"),
		coolingMax: collector.NewTypedDesc("cooling_device", "max_state", "Maximum throttle state of the cooling device", prometheus.GaugeValue, "name", "type"),
	}, nil
}

// Update reads every zone and cooling device. No /sys/class/thermal is no
// zone, not an error (node_exporter reports success with nothing). A zone
// whose sensor answers ENODATA (a sensor that is powered off, an iwlwifi
// zone with the interface down) is skipped; any other read error fails the
// collector, as node_exporter 1.5 does.
func (c *thermalZoneCollector) Update(_ context.Context, ch *collector.Sink) error {
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	zones, err := sfs.ClassThermalZoneStats()
	if err != nil {
		return fmt.Errorf("read %s: %w", c.cfg.sysPath("class", "thermal"), err)
	}
	for _, z := range zones {
		if z.ReadErrors != nil {
			if errors.Is(z.ReadErrors, syscall.ENODATA) {
				c.logger.Debug("thermal zone has no data", "zone", z.Name, "err", z.ReadErrors)
				continue
			}
			return fmt.Errorf("read thermal_zone%s: %w", z.Name, z.ReadErrors)
		}
		ch.Send(c.zoneTemp.Metric(float64(z.Temp)/1000.0, z.Name, z.Type))
	}
	devs, err := sfs.ClassCoolingDeviceStats()
	if err != nil {
		return fmt.Errorf("read cooling devices in %s: %w", c.cfg.sysPath("class", "thermal"), err)
	}
	for _, d := range devs {
		ch.Send(c.coolingCur.Metric(float64(d.CurState), d.Name, d.Type))
		ch.Send(c.coolingMax.Metric(float64(d.MaxState), d.Name, d.Type))
	}
	return nil
}
