package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("infiniband", true, newInfiniband) }

// ibCounter is one port counter file and the family it feeds.
type ibCounter struct {
	desc collector.TypedDesc
	get  func(*sysfs.InfiniBandCounters) *uint64
}

// infinibandCollector reports the ports of the InfiniBand HCAs in
// /sys/class/infiniband: state, rate and the port counters.
type infinibandCollector struct {
	cfg                    Config
	info, state, physState collector.TypedDesc
	rate                   collector.TypedDesc
	counters               []ibCounter
}

func newInfiniband(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	g := prometheus.GaugeValue
	desc := func(name, help string, t prometheus.ValueType) collector.TypedDesc {
		return collector.NewTypedDesc("infiniband", name, help, t, "device", "port")
	}
	c := &infinibandCollector{
		cfg:       cfg,
		info:      collector.NewTypedDesc("infiniband", "info", "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.", g, "device", "board_id", "firmware_version", "hca_type"),
		state:     desc("state_id", "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)", g),
		physState: desc("physical_state_id", "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)", g),
		rate:      desc("rate_bytes_per_second", "Maximum signal transfer rate", g),
	}
	type k = sysfs.InfiniBandCounters
	for _, ctr := range []struct {
		name, help string
		get        func(*k) *uint64
	}{
		{"legacy_multicast_packets_received_total", "Number of multicast packets received", func(k *k) *uint64 { return k.LegacyPortMulticastRcvPackets }},
		{"legacy_multicast_packets_transmitted_total", "Number of multicast packets transmitted", func(k *k) *uint64 { return k.LegacyPortMulticastXmitPackets }},
		{"legacy_data_received_bytes_total", "Number of data octets received on all links", func(k *k) *uint64 { return k.LegacyPortRcvData64 }},
		{"legacy_packets_received_total", "Number of data packets received on all links", func(k *k) *uint64 { return k.LegacyPortRcvPackets64 }},
		{"legacy_unicast_packets_received_total", "Number of unicast packets received", func(k *k) *uint64 { return k.LegacyPortUnicastRcvPackets }},
		{"legacy_unicast_packets_transmitted_total", "Number of unicast packets transmitted", func(k *k) *uint64 { return k.LegacyPortUnicastXmitPackets }},
		{"legacy_data_transmitted_bytes_total", "Number of data octets transmitted on all links", func(k *k) *uint64 { return k.LegacyPortXmitData64 }},
		// node_exporter 1.5's HELP says "received" here too; kept for parity.
		{"legacy_packets_transmitted_total", "Number of data packets received on all links", func(k *k) *uint64 { return k.LegacyPortXmitPackets64 }},
		{"excessive_buffer_overrun_errors_total", "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error.", func(k *k) *uint64 { return k.ExcessiveBufferOverrunErrors }},
		{"link_downed_total", "Number of times the link failed to recover from an error state and went down", func(k *k) *uint64 { return k.LinkDowned }},
		{"link_error_recovery_total", "Number of times the link successfully recovered from an error state", func(k *k) *uint64 { return k.LinkErrorRecovery }},
		{"local_link_integrity_errors_total", "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors.", func(k *k) *uint64 { return k.LocalLinkIntegrityErrors }},
		{"multicast_packets_received_total", "Number of multicast packets received (including errors)", func(k *k) *uint64 { return k.MulticastRcvPackets }},
		{"multicast_packets_transmitted_total", "Number of multicast packets transmitted (including errors)", func(k *k) *uint64 { return k.MulticastXmitPackets }},
		{"port_constraint_errors_received_total", "Number of packets received on the switch physical port that are discarded", func(k *k) *uint64 { return k.PortRcvConstraintErrors }},
		{"port_constraint_errors_transmitted_total", "Number of packets not transmitted from the switch physical port", func(k *k) *uint64 { return k.PortXmitConstraintErrors }},
		{"port_data_received_bytes_total", "Number of data octets received on all links", func(k *k) *uint64 { return k.PortRcvData }},
		{"port_data_transmitted_bytes_total", "Number of data octets transmitted on all links", func(k *k) *uint64 { return k.PortXmitData }},
		{"port_discards_received_total", "Number of inbound packets discarded by the port because the port is down or congested", func(k *k) *uint64 { return k.PortRcvDiscards }},
		{"port_discards_transmitted_total", "Number of outbound packets discarded by the port because the port is down or congested", func(k *k) *uint64 { return k.PortXmitDiscards }},
		{"port_errors_received_total", "Number of packets containing an error that were received on this port", func(k *k) *uint64 { return k.PortRcvErrors }},
		{"port_packets_received_total", "Number of packets received on all VLs by this port (including errors)", func(k *k) *uint64 { return k.PortRcvPackets }},
		{"port_packets_transmitted_total", "Number of packets transmitted on all VLs from this port (including errors)", func(k *k) *uint64 { return k.PortXmitPackets }},
		{"port_transmit_wait_total", "Number of ticks during which the port had data to transmit but no data was sent during the entire tick", func(k *k) *uint64 { return k.PortXmitWait }},
		{"unicast_packets_received_total", "Number of unicast packets received (including errors)", func(k *k) *uint64 { return k.UnicastRcvPackets }},
		{"unicast_packets_transmitted_total", "Number of unicast packets transmitted (including errors)", func(k *k) *uint64 { return k.UnicastXmitPackets }},
		{"port_receive_remote_physical_errors_total", "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port.", func(k *k) *uint64 { return k.PortRcvRemotePhysicalErrors }},
		{"port_receive_switch_relay_errors_total", "Number of packets that could not be forwarded by the switch.", func(k *k) *uint64 { return k.PortRcvSwitchRelayErrors }},
		{"symbol_error_total", "Number of minor link errors detected on one or more physical lanes.", func(k *k) *uint64 { return k.SymbolError }},
		{"vl15_dropped_total", "Number of incoming VL15 packets dropped due to resource limitations.", func(k *k) *uint64 { return k.VL15Dropped }},
	} {
		c.counters = append(c.counters, ibCounter{desc: desc(ctr.name, ctr.help, prometheus.CounterValue), get: ctr.get})
	}
	return c, nil
}

// Update reports every HCA and port. Without /sys/class/infiniband (no HCA,
// or a file of one missing) there is no data, as in node_exporter; a counter
// the driver does not provide is left out.
func (c *infinibandCollector) Update(_ context.Context, ch *collector.Sink) error {
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	devices, err := sfs.InfiniBandClass()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read %s: %w: %w", c.cfg.sysPath("class", "infiniband"), collector.ErrNoData, err)
		}
		return fmt.Errorf("read %s: %w", c.cfg.sysPath("class", "infiniband"), err)
	}
	for _, dev := range devices {
		ch.Send(c.info.Metric(1, dev.Name, dev.BoardID, dev.FirmwareVersion, dev.HCAType))
		for _, port := range dev.Ports {
			p := strconv.FormatUint(uint64(port.Port), 10)
			ch.Send(c.state.Metric(float64(port.StateID), port.Name, p))
			ch.Send(c.physState.Metric(float64(port.PhysStateID), port.Name, p))
			ch.Send(c.rate.Metric(float64(port.Rate), port.Name, p))
			for _, ctr := range c.counters {
				if v := ctr.get(&port.Counters); v != nil {
					ch.Send(ctr.desc.Metric(float64(*v), port.Name, p))
				}
			}
		}
	}
	return nil
}
