package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// ArpConfig selects the devices the arp collector reports.
type ArpConfig struct {
	DeviceInclude string // regexp; when set only matching devices are kept
	DeviceExclude string // regexp of devices to drop
}

func init() { register("arp", true, newArp) }

// arpCollector counts the entries of the kernel's ARP table per device, from
// /proc/net/arp as node_exporter 1.5 does (1.6 moved to netlink).
type arpCollector struct {
	cfg     Config
	filter  *collector.Filter
	entries collector.TypedDesc
}

func newArp(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	f, err := collector.NewFilter(cfg.Arp.DeviceInclude, cfg.Arp.DeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("arp device filter: %w", err)
	}
	return &arpCollector{
		cfg:     cfg,
		filter:  f,
		entries: collector.NewTypedDesc("arp", "entries", "ARP entries by device", prometheus.GaugeValue, "device"),
	}, nil
}

func (c *arpCollector) Update(_ context.Context, ch *collector.Sink) error {
	entries, err := parseFile(c.cfg.procPath("net", "arp"), parseARPEntries)
	if err != nil {
		return err
	}
	for dev, n := range entries {
		if c.filter.Ignored(dev) {
			continue
		}
		ch.Send(c.entries.Metric(float64(n), dev))
	}
	return nil
}

// errARPFormat is returned for a line of /proc/net/arp with too few columns.
var errARPFormat = errors.New("unexpected ARP table format")

// parseARPEntries counts the entries of /proc/net/arp per device (the last
// column). Every entry counts, incomplete ones too, as in node_exporter; the
// header is the line whose first column is "IP".
func parseARPEntries(r io.Reader) (map[string]uint32, error) {
	entries := make(map[string]uint32)
	s := bufio.NewScanner(r)
	for s.Scan() {
		cols := strings.Fields(s.Text())
		if len(cols) < 6 {
			return nil, fmt.Errorf("%w: %d columns in %q", errARPFormat, len(cols), s.Text())
		}
		if cols[0] == "IP" {
			continue
		}
		entries[cols[len(cols)-1]]++
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return entries, nil
}
