package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("fibrechannel", true, newFibrechannel) }

// fcCounter is one statistics file of an fc_host and the family it feeds.
type fcCounter struct {
	desc collector.TypedDesc
	get  func(*sysfs.FibreChannelCounters) *uint64
}

// fibrechannelCollector reports the Fibre Channel HBAs in /sys/class/fc_host.
type fibrechannelCollector struct {
	cfg      Config
	info     collector.TypedDesc
	counters []fcCounter
}

func newFibrechannel(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	c := &fibrechannelCollector{
		cfg: cfg,
		info: collector.NewTypedDesc("fibrechannel", "info", "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.", prometheus.GaugeValue,
			"fc_host", "speed", "port_state", "port_type", "port_id", "port_name", "fabric_name", "symbolic_name", "supported_classes", "supported_speeds", "dev_loss_tmo"),
	}
	type k = sysfs.FibreChannelCounters
	for _, ctr := range []struct {
		name, help string
		get        func(*k) *uint64
	}{
		{"dumped_frames_total", "Number of dumped frames", func(k *k) *uint64 { return k.DumpedFrames }},
		{"error_frames_total", "Number of errors in frames", func(k *k) *uint64 { return k.ErrorFrames }},
		{"invalid_crc_total", "Invalid Cyclic Redundancy Check count", func(k *k) *uint64 { return k.InvalidCRCCount }},
		{"rx_frames_total", "Number of frames received", func(k *k) *uint64 { return k.RXFrames }},
		{"rx_words_total", "Number of words received by host port", func(k *k) *uint64 { return k.RXWords }},
		{"tx_frames_total", "Number of frames transmitted by host port", func(k *k) *uint64 { return k.TXFrames }},
		{"tx_words_total", "Number of words transmitted by host port", func(k *k) *uint64 { return k.TXWords }},
		{"seconds_since_last_reset_total", "Number of seconds since last host port reset", func(k *k) *uint64 { return k.SecondsSinceLastReset }},
		{"invalid_tx_words_total", "Number of invalid words transmitted by host port", func(k *k) *uint64 { return k.InvalidTXWordCount }},
		{"link_failure_total", "Number of times the host port link has failed", func(k *k) *uint64 { return k.LinkFailureCount }},
		{"loss_of_sync_total", "Number of failures on either bit or transmission word boundaries", func(k *k) *uint64 { return k.LossOfSyncCount }},
		{"loss_of_signal_total", "Number of times signal has been lost", func(k *k) *uint64 { return k.LossOfSignalCount }},
		{"nos_total", "Number Not_Operational Primitive Sequence received by host port", func(k *k) *uint64 { return k.NosCount }},
		{"fcp_packet_aborts_total", "Number of aborted packets", func(k *k) *uint64 { return k.FCPPacketAborts }},
	} {
		c.counters = append(c.counters, fcCounter{
			desc: collector.NewTypedDesc("fibrechannel", ctr.name, ctr.help, prometheus.CounterValue, "fc_host"),
			get:  ctr.get,
		})
	}
	return c, nil
}

// Update reports every fc_host. Drivers print 0xffffffffffffffff for a
// statistic they do not keep: it is left out, as in node_exporter. A
// statistic with no file at all reads as 0, as node_exporter 1.5 (procfs
// 0.8, whose counters were plain integers) reported it.
func (c *fibrechannelCollector) Update(_ context.Context, ch *collector.Sink) error {
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	hosts, err := sfs.FibreChannelClass()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read %s: %w: %w", c.cfg.sysPath("class", "fc_host"), collector.ErrNoData, err)
		}
		return fmt.Errorf("read %s: %w", c.cfg.sysPath("class", "fc_host"), err)
	}
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	for _, h := range hosts {
		name := str(h.Name)
		ch.Send(c.info.Metric(1, name, str(h.Speed), str(h.PortState), str(h.PortType), str(h.PortID), str(h.PortName),
			str(h.FabricName), str(h.SymbolicName), str(h.SupportedClasses), str(h.SupportedSpeeds), str(h.DevLossTMO)))
		counters := h.Counters
		if counters == nil {
			counters = &sysfs.FibreChannelCounters{}
		}
		for _, ctr := range c.counters {
			var v uint64
			if p := ctr.get(counters); p != nil {
				v = *p
			}
			if v == math.MaxUint64 {
				continue
			}
			ch.Send(ctr.desc.Metric(float64(v), name))
		}
	}
	return nil
}
