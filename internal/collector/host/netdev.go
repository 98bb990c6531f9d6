package host

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultNetdevDeviceExclude is node_exporter's default: only loopback.
const DefaultNetdevDeviceExclude = `^lo$`

// NetdevConfig selects the network devices reported.
type NetdevConfig struct {
	DeviceInclude string // regexp; when set only matching devices are kept
	DeviceExclude string // regexp of devices to drop
}

func init() { register("netdev", true, newNetdev) }

// netdevField is one /proc/net/dev column and the family it feeds.
type netdevField struct {
	desc collector.TypedDesc
	get  func(*procfs.NetDevLine) uint64
}

type netdevCollector struct {
	cfg       Config
	logger    *slog.Logger
	filter    *collector.Filter
	fields    []netdevField
	nohandler collector.TypedDesc
}

func newNetdev(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	f, err := collector.NewFilter(cfg.Netdev.DeviceInclude, cfg.Netdev.DeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("netdev device filter: %w", err)
	}
	type col struct {
		name string
		get  func(*procfs.NetDevLine) uint64
	}
	// Field names are node_exporter's legacy names (those of the
	// /proc/net/dev header), which is what it exports by default.
	cols := []col{
		{"receive_bytes", func(l *procfs.NetDevLine) uint64 { return l.RxBytes }},
		{"receive_packets", func(l *procfs.NetDevLine) uint64 { return l.RxPackets }},
		{"receive_errs", func(l *procfs.NetDevLine) uint64 { return l.RxErrors }},
		{"receive_drop", func(l *procfs.NetDevLine) uint64 { return l.RxDropped }},
		{"receive_fifo", func(l *procfs.NetDevLine) uint64 { return l.RxFIFO }},
		{"receive_frame", func(l *procfs.NetDevLine) uint64 { return l.RxFrame }},
		{"receive_compressed", func(l *procfs.NetDevLine) uint64 { return l.RxCompressed }},
		{"receive_multicast", func(l *procfs.NetDevLine) uint64 { return l.RxMulticast }},
		{"transmit_bytes", func(l *procfs.NetDevLine) uint64 { return l.TxBytes }},
		{"transmit_packets", func(l *procfs.NetDevLine) uint64 { return l.TxPackets }},
		{"transmit_errs", func(l *procfs.NetDevLine) uint64 { return l.TxErrors }},
		{"transmit_drop", func(l *procfs.NetDevLine) uint64 { return l.TxDropped }},
		{"transmit_fifo", func(l *procfs.NetDevLine) uint64 { return l.TxFIFO }},
		{"transmit_colls", func(l *procfs.NetDevLine) uint64 { return l.TxCollisions }},
		{"transmit_carrier", func(l *procfs.NetDevLine) uint64 { return l.TxCarrier }},
		{"transmit_compressed", func(l *procfs.NetDevLine) uint64 { return l.TxCompressed }},
	}
	c := &netdevCollector{cfg: cfg, logger: logger, filter: f, nohandler: netdevDesc("receive_nohandler")}
	for _, col := range cols {
		c.fields = append(c.fields, netdevField{desc: netdevDesc(col.name), get: col.get})
	}
	return c, nil
}

func netdevDesc(field string) collector.TypedDesc {
	return collector.NewTypedDesc("network", field+"_total", "Network device statistic "+field+".", prometheus.CounterValue, "device")
}

func (c *netdevCollector) Update(_ context.Context, ch *collector.Sink) error {
	fs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	devs, err := fs.NetDev()
	if err != nil {
		return fmt.Errorf("read net/dev: %w", err)
	}
	for name, line := range devs {
		if c.filter.Ignored(name) {
			continue
		}
		for _, f := range c.fields {
			ch.Send(f.desc.Metric(float64(f.get(&line)), name))
		}
		// node_exporter 1.5 reads link statistics over netlink, which adds
		// rx_nohandler (kernel 4.6+); /proc/net/dev lacks that column, sysfs
		// has the same counter.
		if v, ok := c.readNohandler(name); ok {
			ch.Send(c.nohandler.Metric(float64(v), name))
		}
	}
	return nil
}

// readNohandler reads <sys>/class/net/<dev>/statistics/rx_nohandler.
func (c *netdevCollector) readNohandler(dev string) (uint64, bool) {
	if dev == "" || dev == "." || dev == ".." || strings.ContainsRune(dev, '/') {
		return 0, false
	}
	var buf [32]byte
	f, err := os.Open(c.cfg.sysPath("class", "net", dev, "statistics", "rx_nohandler"))
	if err != nil {
		return 0, false
	}
	n, err := f.Read(buf[:])
	f.Close()
	if err != nil && n == 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
	if err != nil {
		c.logger.Debug("bad rx_nohandler", "device", dev, "err", err)
		return 0, false
	}
	return v, true
}
