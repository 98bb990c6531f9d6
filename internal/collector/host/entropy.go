package host

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("entropy", true, newEntropy) }

type entropyCollector struct {
	cfg             Config
	avail, poolSize collector.TypedDesc
}

func newEntropy(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &entropyCollector{
		cfg:      cfg,
		avail:    collector.NewTypedDesc("entropy", "available_bits", "Bits of available entropy.", prometheus.GaugeValue),
		poolSize: collector.NewTypedDesc("entropy", "pool_size_bits", "Bits of entropy pool.", prometheus.GaugeValue),
	}, nil
}

func (c *entropyCollector) Update(_ context.Context, ch *collector.Sink) error {
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	dir := c.cfg.procPath("sys", "kernel", "random")
	r, err := pfs.KernelRandom()
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	// KernelRandom skips missing files; both of ours must be there.
	if r.EntropyAvaliable == nil {
		return fmt.Errorf("read %s/entropy_avail: %w", dir, fs.ErrNotExist)
	}
	ch.Send(c.avail.Metric(float64(*r.EntropyAvaliable)))
	if r.PoolSize == nil {
		return fmt.Errorf("read %s/poolsize: %w", dir, fs.ErrNotExist)
	}
	ch.Send(c.poolSize.Metric(float64(*r.PoolSize)))
	return nil
}
