package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultIPVSBackendLabels is node_exporter's default for
// --collector.ipvs.backend-labels: every label, in this order.
const DefaultIPVSBackendLabels = "local_address,local_port,remote_address,remote_port,proto,local_mark"

// IPVSConfig chooses the labels of the per-backend families. Leaving labels
// out sums the backends that differ only in them (fewer series).
type IPVSConfig struct {
	BackendLabels string // comma-separated subset of DefaultIPVSBackendLabels
}

func init() { register("ipvs", true, newIPVS) }

// ipvsCollector reports the IPVS totals of /proc/net/ip_vs_stats and the
// per-backend connections and weights of /proc/net/ip_vs.
type ipvsCollector struct {
	cfg                                           Config
	labels                                        []string
	connections, inPackets, outPackets            collector.TypedDesc
	inBytes, outBytes                             collector.TypedDesc
	backendActive, backendInactive, backendWeight collector.TypedDesc
}

func newIPVS(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	labels, err := parseIPVSLabels(cfg.IPVS.BackendLabels)
	if err != nil {
		return nil, err
	}
	c, g := prometheus.CounterValue, prometheus.GaugeValue
	return &ipvsCollector{
		cfg:             cfg,
		labels:          labels,
		connections:     collector.NewTypedDesc("ipvs", "connections_total", "The total number of connections made.", c),
		inPackets:       collector.NewTypedDesc("ipvs", "incoming_packets_total", "The total number of incoming packets.", c),
		outPackets:      collector.NewTypedDesc("ipvs", "outgoing_packets_total", "The total number of outgoing packets.", c),
		inBytes:         collector.NewTypedDesc("ipvs", "incoming_bytes_total", "The total amount of incoming data.", c),
		outBytes:        collector.NewTypedDesc("ipvs", "outgoing_bytes_total", "The total amount of outgoing data.", c),
		backendActive:   collector.NewTypedDesc("ipvs", "backend_connections_active", "The current active connections by local and remote address.", g, labels...),
		backendInactive: collector.NewTypedDesc("ipvs", "backend_connections_inactive", "The current inactive connections by local and remote address.", g, labels...),
		backendWeight:   collector.NewTypedDesc("ipvs", "backend_weight", "The current backend weight by local and remote address.", g, labels...),
	}, nil
}

// parseIPVSLabels checks the chosen labels and puts them in the canonical
// order, whatever order they were given in, as node_exporter does.
func parseIPVSLabels(s string) ([]string, error) {
	chosen := map[string]bool{}
	for _, l := range strings.Split(s, ",") {
		if l != "" {
			chosen[l] = true
		}
	}
	var out []string
	for _, l := range strings.Split(DefaultIPVSBackendLabels, ",") {
		if chosen[l] {
			out = append(out, l)
		}
		delete(chosen, l)
	}
	if len(chosen) > 0 {
		unknown := make([]string, 0, len(chosen))
		for l := range chosen {
			unknown = append(unknown, l)
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown IPVS backend labels: %q", strings.Join(unknown, ", "))
	}
	return out, nil
}

// ipvsSum is what the backends sharing one label set add up to.
type ipvsSum struct {
	labels                   []string
	active, inactive, weight uint64
}

// Update reports the totals, then the backends. Without the ip_vs module
// there is no /proc/net/ip_vs_stats: no data, as in node_exporter.
func (c *ipvsCollector) Update(_ context.Context, ch *collector.Sink) error {
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	stats, err := pfs.IPVSStats()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no IPVS on this host: %w: %w", collector.ErrNoData, err)
		}
		return fmt.Errorf("read %s: %w", c.cfg.procPath("net", "ip_vs_stats"), err)
	}
	ch.Send(c.connections.Metric(float64(stats.Connections)))
	ch.Send(c.inPackets.Metric(float64(stats.IncomingPackets)))
	ch.Send(c.outPackets.Metric(float64(stats.OutgoingPackets)))
	ch.Send(c.inBytes.Metric(float64(stats.IncomingBytes)))
	ch.Send(c.outBytes.Metric(float64(stats.OutgoingBytes)))

	backends, err := pfs.IPVSBackendStatus()
	if err != nil {
		return fmt.Errorf("read %s: %w", c.cfg.procPath("net", "ip_vs"), err)
	}
	sums := map[string]*ipvsSum{}
	var order []string
	for _, b := range backends {
		kv := make([]string, len(c.labels))
		for i, l := range c.labels {
			switch l {
			case "local_address":
				// A firewall-mark service has no local address; net.IP(nil)
				// prints "<nil>", which node_exporter reports as "".
				if b.LocalAddress != nil {
					kv[i] = b.LocalAddress.String()
				}
			case "local_port":
				kv[i] = strconv.FormatUint(uint64(b.LocalPort), 10)
			case "remote_address":
				kv[i] = b.RemoteAddress.String()
			case "remote_port":
				kv[i] = strconv.FormatUint(uint64(b.RemotePort), 10)
			case "proto":
				kv[i] = b.Proto
			case "local_mark":
				kv[i] = b.LocalMark
			}
		}
		key := strings.Join(kv, "\xff")
		s := sums[key]
		if s == nil {
			s = &ipvsSum{labels: kv}
			sums[key] = s
			order = append(order, key)
		}
		s.active += b.ActiveConn
		s.inactive += b.InactConn
		s.weight += b.Weight
	}
	for _, key := range order {
		s := sums[key]
		ch.Send(c.backendActive.Metric(float64(s.active), s.labels...))
		ch.Send(c.backendInactive.Metric(float64(s.inactive), s.labels...))
		ch.Send(c.backendWeight.Metric(float64(s.weight), s.labels...))
	}
	return nil
}
