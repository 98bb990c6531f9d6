package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("time", true, newTime) }

type timeCollector struct {
	cfg                Config
	now, zone          collector.TypedDesc
	available, current collector.TypedDesc

	mu   sync.Mutex
	dirs []string // clocksource directories, once listed
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

func (c *timeCollector) Update(_ context.Context, ch *collector.Sink) error {
	now := c.cfg.system().Now()
	zone, offset := now.Zone()
	ch.Send(c.now.Metric(float64(now.UnixNano()) / 1e9))
	ch.Send(c.zone.Metric(float64(offset), zone))
	return c.clocksources(ch)
}

// clocksources reports sysfs devices/system/clocksource/clocksource<N>. The
// device label is the position in name order, as node_exporter numbers it.
// The set of clocksource devices is fixed at boot, so the directory is listed
// once; the files are read on every scrape (the current source can change).
func (c *timeCollector) clocksources(ch *collector.Sink) error {
	dirs, err := c.clocksourceDirs()
	if err != nil {
		return err
	}
	var buf [512]byte
	for i, dir := range dirs {
		avail, err := readSmallFile(dir+"available_clocksource", buf[:])
		if err != nil {
			return fmt.Errorf("read clocksource: %w", err)
		}
		dev := strconv.Itoa(i)
		for _, name := range strings.Fields(avail) {
			ch.Send(c.available.Metric(1, dev, name))
		}
		cur, err := readSmallFile(dir+"current_clocksource", buf[:])
		if err != nil {
			return fmt.Errorf("read clocksource: %w", err)
		}
		ch.Send(c.current.Metric(1, dev, strings.TrimSpace(cur)))
	}
	return nil
}

// clocksourceDirs lists the clocksource[0-9]* directories (with a trailing
// slash), caching the first successful listing.
func (c *timeCollector) clocksourceDirs() ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirs != nil {
		return c.dirs, nil
	}
	dir := c.cfg.sysPath("devices", "system", "clocksource")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read clocksources: %w: %w", collector.ErrNoData, err)
		}
		return nil, fmt.Errorf("read clocksources: %w", err)
	}
	dirs := []string{}
	for _, e := range entries {
		if isClocksourceDir(e.Name()) {
			dirs = append(dirs, dir+"/"+e.Name()+"/")
		}
	}
	if len(dirs) > 0 {
		c.dirs = dirs
	}
	return dirs, nil
}

// readSmallFile reads a short sysfs attribute into buf; longer content is
// truncated to len(buf).
func readSmallFile(path string, buf []byte) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", err
	}
	return string(buf[:n]), nil
}

// isClocksourceDir matches clocksource[0-9]*, the glob node_exporter uses.
func isClocksourceDir(name string) bool {
	rest, ok := strings.CutPrefix(name, "clocksource")
	return ok && rest != "" && rest[0] >= '0' && rest[0] <= '9'
}
