package collector

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace is the prefix of node_exporter-compatible metric names.
const Namespace = "node"

// ErrNoData is returned by a collector whose data source does not exist on
// this host (a kernel without PSI, no conntrack module). It is logged at
// debug level instead of error level; the collector still reports
// node_scrape_collector_success 0, as node_exporter does.
var ErrNoData = errors.New("collector returned no data")

// Collector produces metrics for one scrape. Update is called once per scrape
// and may be called concurrently by concurrent scrapes, so implementations
// guard any state they keep between scrapes. Update must return promptly when
// ctx is done; the Runner stops waiting for it at its timeout in any case.
type Collector interface {
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// Named is a collector together with the name used in
// node_scrape_collector_*{collector="..."} and in --collector.<name> flags.
type Named struct {
	Name      string
	Collector Collector
}

// TypedDesc pairs a descriptor with its value type so that collectors declare
// each family once, at construction, instead of calling prometheus.NewDesc on
// every scrape (which validates and hashes the names each time).
type TypedDesc struct {
	Desc      *prometheus.Desc
	ValueType prometheus.ValueType
}

// NewTypedDesc builds a descriptor named namespace_subsystem_name.
func NewTypedDesc(subsystem, name, help string, t prometheus.ValueType, labels ...string) TypedDesc {
	return TypedDesc{
		Desc:      prometheus.NewDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, labels, nil),
		ValueType: t,
	}
}

// Metric returns a constant metric of this family.
func (d TypedDesc) Metric(value float64, labelValues ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d.Desc, d.ValueType, value, labelValues...)
}

// DescCache memoises descriptors for families whose names come from the data
// (meminfo keys, netstat fields): the set is small and stable for a given
// kernel, so each name is built once for the life of the process.
type DescCache struct {
	mu    sync.Mutex
	descs map[string]TypedDesc
}

// Get returns the cached descriptor for fqName, creating it with help, t and
// labels on first use. The help, type and labels of a name never change.
func (c *DescCache) Get(fqName, help string, t prometheus.ValueType, labels ...string) TypedDesc {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.descs[fqName]; ok {
		return d
	}
	if c.descs == nil {
		c.descs = make(map[string]TypedDesc)
	}
	d := TypedDesc{Desc: prometheus.NewDesc(fqName, help, labels, nil), ValueType: t}
	c.descs[fqName] = d
	return d
}
