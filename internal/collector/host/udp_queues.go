package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("udp_queues", true, newUDPQueues) }

// udpQueuesCollector sums the tx and rx queues of every UDP socket in
// /proc/net/udp and /proc/net/udp6.
type udpQueuesCollector struct {
	cfg    Config
	logger *slog.Logger
	queues collector.TypedDesc
}

func newUDPQueues(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &udpQueuesCollector{
		cfg:    cfg,
		logger: logger,
		queues: collector.NewTypedDesc("udp", "queues", "Number of allocated memory in the kernel for UDP datagrams in bytes.", prometheus.GaugeValue, "queue", "ip"),
	}, nil
}

// Update reports each address family whose file exists; a kernel without
// IPv6 has no udp6 and that is not an error. Only when both are missing is
// there no data, as in node_exporter.
func (c *udpQueuesCollector) Update(_ context.Context, ch *collector.Sink) error {
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	missing := 0
	for _, fam := range []struct {
		ip, file string
		read     func() (*procfs.NetUDPSummary, error)
	}{
		{"v4", "udp", pfs.NetUDPSummary},
		{"v6", "udp6", pfs.NetUDP6Summary},
	} {
		s, err := fam.read()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			c.logger.Debug("not collecting UDP queues", "ip", fam.ip, "err", err)
			missing++
			continue
		case err != nil:
			return fmt.Errorf("read %s: %w", c.cfg.procPath("net", fam.file), err)
		}
		ch.Send(c.queues.Metric(float64(s.TxQueueLength), "tx", fam.ip))
		ch.Send(c.queues.Metric(float64(s.RxQueueLength), "rx", fam.ip))
	}
	if missing == 2 {
		return fmt.Errorf("no %s or udp6: %w", c.cfg.procPath("net", "udp"), collector.ErrNoData)
	}
	return nil
}
