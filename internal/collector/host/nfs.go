package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/nfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("nfs", true, newNFS) }

// nfsCollector reports the NFS client's RPC statistics from
// /proc/net/rpc/nfs (present once the nfs module is loaded).
type nfsCollector struct {
	cfg Config

	packets, connections, rpcs, retransmissions, authRefreshes, requests collector.TypedDesc
}

func newNFS(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &nfsCollector{
		cfg:             cfg,
		packets:         collector.NewTypedDesc("nfs", "packets_total", "Total NFSd network packets (sent+received) by protocol type.", prometheus.CounterValue, "protocol"),
		connections:     collector.NewTypedDesc("nfs", "connections_total", "Total number of NFSd TCP connections.", prometheus.CounterValue),
		rpcs:            collector.NewTypedDesc("nfs", "rpcs_total", "Total number of RPCs performed.", prometheus.CounterValue),
		retransmissions: collector.NewTypedDesc("nfs", "rpc_retransmissions_total", "Number of RPC transmissions performed.", prometheus.CounterValue),
		authRefreshes:   collector.NewTypedDesc("nfs", "rpc_authentication_refreshes_total", "Number of RPC authentication refreshes performed.", prometheus.CounterValue),
		requests:        collector.NewTypedDesc("nfs", "requests_total", "Number of NFS procedures invoked.", prometheus.CounterValue, "proto", "method"),
	}, nil
}

func (c *nfsCollector) Update(_ context.Context, ch *collector.Sink) error {
	path := c.cfg.procPath("net", "rpc", "nfs")
	nfsFS, err := nfs.NewFS(c.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("open procfs: %w", err)
	}
	stats, err := nfsFS.ClientRPCStats()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// No NFS client module: no data, as node_exporter.
			return fmt.Errorf("read %s: %w: %w", path, collector.ErrNoData, err)
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	ch.Send(c.packets.Metric(float64(stats.Network.UDPCount), "udp"))
	ch.Send(c.packets.Metric(float64(stats.Network.TCPCount), "tcp"))
	ch.Send(c.connections.Metric(float64(stats.Network.TCPConnect)))
	ch.Send(c.rpcs.Metric(float64(stats.ClientRPC.RPCCount)))
	ch.Send(c.retransmissions.Metric(float64(stats.ClientRPC.Retransmissions)))
	ch.Send(c.authRefreshes.Metric(float64(stats.ClientRPC.AuthRefreshes)))
	// node_exporter names each procedure after procfs's struct field, so
	// the method label values are those field names.
	v4 := stats.ClientV4Stats
	// procfs 0.8 (node_exporter 1.5's) read the v4 client's 45th and 46th
	// counters the other way round; keep its labelling.
	v4.LayoutGet, v4.GetDeviceInfo = v4.GetDeviceInfo, v4.LayoutGet
	sendFields(ch, c.requests, "2", &stats.V2Stats)
	sendFields(ch, c.requests, "3", &stats.V3Stats)
	sendFields(ch, c.requests, "4", &v4)
	return nil
}

// sendFields sends one sample per uint64 field of the struct s points to,
// labelled with proto and the field's name.
func sendFields(ch *collector.Sink, d collector.TypedDesc, proto string, s any) {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range v.NumField() {
		ch.Send(d.Metric(float64(v.Field(i).Uint()), proto, t.Field(i).Name))
	}
}
