package collector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
// guard any state they keep between scrapes. Update should return promptly
// when ctx is done; the Runner stops waiting for it at its deadline in any
// case.
type Collector interface {
	Update(ctx context.Context, sink *Sink) error
}

// Sink receives one collector's metrics for one scrape. It is a growing slice
// rather than a channel so that a collector hands over its samples without a
// goroutine switch per sample. Once the Runner has given up on the collector
// (deadline passed) Send drops what comes late.
type Sink struct {
	mu        sync.Mutex
	metrics   []prometheus.Metric
	abandoned bool
}

// Send adds a metric to the scrape.
func (s *Sink) Send(m prometheus.Metric) {
	s.mu.Lock()
	if !s.abandoned {
		s.metrics = append(s.metrics, m)
	}
	s.mu.Unlock()
}

// Metrics returns the metrics sent so far.
func (s *Sink) Metrics() []prometheus.Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metrics
}

// abandon drops the metrics and makes later Sends no-ops.
func (s *Sink) abandon() {
	s.mu.Lock()
	s.abandoned, s.metrics = true, nil
	s.mu.Unlock()
}

// Named is a collector together with the name used in
// node_scrape_collector_*{collector="..."} and in --collector.<name> flags.
type Named struct {
	Name      string
	Collector Collector
}

// TypedDesc pairs a descriptor with its value type so that collectors declare
// each family once, at construction, instead of calling prometheus.NewDesc on
// every scrape (which validates and hashes the names each time). It also keeps
// the family's metadata in the plain form the fast exposition path needs.
type TypedDesc struct {
	Desc      *prometheus.Desc
	ValueType prometheus.ValueType
	meta      *familyMeta
}

// familyMeta is what the exposition writer needs to know of a family.
type familyMeta struct {
	desc       *prometheus.Desc
	name, help string
	valueType  prometheus.ValueType
	labelNames []string
	// order lists label indexes sorted by label name: the exposition formats
	// print labels in that order, and series are sorted by it.
	order []int
}

func newTypedDesc(fqName, help string, t prometheus.ValueType, labels []string) TypedDesc {
	m := &familyMeta{
		desc:       prometheus.NewDesc(fqName, help, labels, nil),
		name:       fqName,
		help:       help,
		valueType:  t,
		labelNames: labels,
		order:      make([]int, len(labels)),
	}
	for i := range m.order {
		m.order[i] = i
	}
	sort.SliceStable(m.order, func(i, j int) bool { return labels[m.order[i]] < labels[m.order[j]] })
	return TypedDesc{Desc: m.desc, ValueType: t, meta: m}
}

// NewTypedDesc builds a descriptor named namespace_subsystem_name.
func NewTypedDesc(subsystem, name, help string, t prometheus.ValueType, labels ...string) TypedDesc {
	return newTypedDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, t, labels)
}

// NewRawTypedDesc builds a descriptor with a full metric name, for families
// outside the node_ namespace (cAdvisor's container_* and machine_*).
func NewRawTypedDesc(fqName, help string, t prometheus.ValueType, labels ...string) TypedDesc {
	return newTypedDesc(fqName, help, t, labels)
}

// Metric returns a sample of this family. It panics, like
// prometheus.MustNewConstMetric, when the number of label values is wrong,
// which is a programming error; a label value that is not valid UTF-8 (a
// mount point with odd bytes) is repaired rather than failing the collector.
func (d TypedDesc) Metric(value float64, labelValues ...string) prometheus.Metric {
	if d.meta == nil {
		panic("BUG: TypedDesc not built with NewTypedDesc")
	}
	if len(labelValues) != len(d.meta.labelNames) {
		panic(fmt.Sprintf("BUG: %s takes %d label values, got %d", d.meta.name, len(d.meta.labelNames), len(labelValues)))
	}
	for i, v := range labelValues {
		if !utf8.ValidString(v) {
			labelValues[i] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	return &Sample{meta: d.meta, Value: value, LabelValues: labelValues}
}

// MetricAt is Metric with an explicit sample timestamp, for families whose
// consumers expect one: cAdvisor and the kubelet's /metrics/resource stamp
// each sample with the time its stats were read, and metrics-server computes
// rates from those stamps.
func (d TypedDesc) MetricAt(t time.Time, value float64, labelValues ...string) prometheus.Metric {
	s := d.Metric(value, labelValues...).(*Sample)
	s.TimestampMs = t.UnixMilli()
	return s
}

// Sample is the metric our collectors emit: a constant value with its label
// values. It implements prometheus.Metric, so any registry can gather it, and
// exposes its fields so that WriteFamilies can render it without the
// protobuf round trip.
type Sample struct {
	meta        *familyMeta
	Value       float64
	LabelValues []string
	// TimestampMs is the sample's timestamp in milliseconds since the epoch;
	// 0 means none (the scrape time applies).
	TimestampMs int64
}

var _ prometheus.Metric = (*Sample)(nil)

// Desc implements prometheus.Metric.
func (s *Sample) Desc() *prometheus.Desc { return s.meta.desc }

// Write implements prometheus.Metric.
func (s *Sample) Write(m *dto.Metric) error {
	cm, err := prometheus.NewConstMetric(s.meta.desc, s.meta.valueType, s.Value, s.LabelValues...)
	if err != nil {
		return err
	}
	if s.TimestampMs != 0 {
		cm = prometheus.NewMetricWithTimestamp(time.UnixMilli(s.TimestampMs), cm)
	}
	return cm.Write(m)
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
	d := newTypedDesc(fqName, help, t, labels)
	c.descs[fqName] = d
	return d
}

// scrapeMemoKey is the context key of the per-scrape memo.
type scrapeMemoKey struct{}

// scrapeMemo holds values computed once per scrape and shared by the
// collectors of that scrape.
type scrapeMemo struct {
	mu     sync.Mutex
	values map[string]*memoEntry
}

type memoEntry struct {
	once  sync.Once
	value any
	err   error
}

// withScrapeMemo returns a context carrying a fresh per-scrape memo.
func withScrapeMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, scrapeMemoKey{}, &scrapeMemo{values: map[string]*memoEntry{}})
}

// Memo returns the value of compute for key, computed at most once per
// scrape: two collectors that read the same file (cpu and stat both parse
// /proc/stat) share one read. Outside a Runner's scrape it just computes.
func Memo[T any](ctx context.Context, key string, compute func() (T, error)) (T, error) {
	m, _ := ctx.Value(scrapeMemoKey{}).(*scrapeMemo)
	if m == nil {
		return compute()
	}
	m.mu.Lock()
	e := m.values[key]
	if e == nil {
		e = &memoEntry{}
		m.values[key] = e
	}
	m.mu.Unlock()
	e.once.Do(func() { e.value, e.err = compute() })
	v, _ := e.value.(T)
	return v, e.err
}
