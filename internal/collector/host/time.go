package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("time", true, newTime) }

type timeCollector struct {
	cfg                Config
	now, zone          collector.TypedDesc
	available, current collector.TypedDesc
}

func newTime(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &timeCollector{
		cfg:  cfg,
		now:  collector.NewTypedDesc("time", "seconds", "System time in seconds since epoch (1970).", prometheus.GaugeValue),
		zone: collector.NewTypedDesc("time", "zone_offset_seconds", "System time zone offset in seconds.", prometheus.GaugeValue, "time_zone"),
		available: collector.NewTypedDesc("time", "clocksource_available_info",
			"Available clocksources read from '/sys/devices/system/clocksource'.", prometheus.GaugeValue, "device", "clocksource"),
		current: collector.NewTypedDesc("time", "clocksource_current_info",
			"Current clocksource read from '/sys/devices/system/clocksource'.", prometheus.GaugeValue, "device", "clocksource"),
	}, nil
}

func (c *timeCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	now := c.cfg.system().Now()
	zone, offset := now.Zone()
	ch <- c.now.Metric(float64(now.UnixNano()) / 1e9)
	ch <- c.zone.Metric(float64(offset), zone)
	return c.clocksources(ch)
}

// clocksources reports sysfs devices/system/clocksource/clocksource<N>. The
// device label is the position in name order, as node_exporter numbers it.
func (c *timeCollector) clocksources(ch chan<- prometheus.Metric) error {
	dir := c.cfg.sysPath("devices", "system", "clocksource")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read clocksources: %w: %w", collector.ErrNoData, err)
		}
		return fmt.Errorf("read clocksources: %w", err)
	}
	i := 0
	for _, e := range entries {
		if !isClocksourceDir(e.Name()) {
			continue
		}
		base := dir + "/" + e.Name() + "/"
		avail, err := os.ReadFile(base + "available_clocksource")
		if err != nil {
			return fmt.Errorf("read clocksource: %w", err)
		}
		cur, err := os.ReadFile(base + "current_clocksource")
		if err != nil {
			return fmt.Errorf("read clocksource: %w", err)
		}
		dev := strconv.Itoa(i)
		i++
		for _, name := range strings.Fields(string(avail)) {
			ch <- c.available.Metric(1, dev, name)
		}
		ch <- c.current.Metric(1, dev, string(bytes.TrimSpace(cur)))
	}
	return nil
}

// isClocksourceDir matches clocksource[0-9]*, the glob node_exporter uses.
func isClocksourceDir(name string) bool {
	rest, ok := strings.CutPrefix(name, "clocksource")
	return ok && rest != "" && rest[0] >= '0' && rest[0] <= '9'
}
