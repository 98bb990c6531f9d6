package collector

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Family is the samples of one metric family, in exposition order.
type Family struct {
	meta    *familyMeta
	samples []*Sample
}

// Name returns the family's metric name.
func (f Family) Name() string { return f.meta.name }

// Len returns the number of series.
func (f Family) Len() int { return len(f.samples) }

// GroupFamilies groups samples into families sorted by name, each with its
// series sorted by label values in label-name order: the order client_golang's
// Gather produces, so both paths render the same bytes. A series repeated
// with the same label values is dropped (the first is kept) and counted in
// dups; a registry would refuse the whole scrape for it.
func GroupFamilies(samples []*Sample) (fams []Family, dups int) {
	index := make(map[string]int, 64)
	for _, s := range samples {
		i, ok := index[s.meta.name]
		if !ok {
			i = len(fams)
			index[s.meta.name] = i
			fams = append(fams, Family{meta: s.meta})
		}
		fams[i].samples = append(fams[i].samples, s)
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].meta.name < fams[j].meta.name })
	for i := range fams {
		f := &fams[i]
		// A family's samples may carry different label sets (node_exporter's
		// node_power_supply_info labels only the attributes a supply has):
		// each sample is read through its own meta, and compared as
		// client_golang does, by count, then value by value in label-name
		// order.
		less := func(a, b *Sample) int {
			if la, lb := len(a.LabelValues), len(b.LabelValues); la != lb {
				return la - lb
			}
			for n, k := range a.meta.order {
				if c := strings.Compare(a.LabelValues[k], b.LabelValues[b.meta.order[n]]); c != 0 {
					return c
				}
			}
			return 0
		}
		sort.SliceStable(f.samples, func(i, j int) bool { return less(f.samples[i], f.samples[j]) < 0 })
		kept := f.samples[:1]
		for _, s := range f.samples[1:] {
			if last := kept[len(kept)-1]; less(last, s) == 0 && sameLabelNames(last.meta, s.meta) {
				dups++
				continue
			}
			kept = append(kept, s)
		}
		f.samples = kept
	}
	return fams, dups
}

// sameLabelNames reports whether two metas of one family have the same
// label names.
func sameLabelNames(a, b *familyMeta) bool {
	if a == b {
		return true
	}
	if len(a.labelNames) != len(b.labelNames) {
		return false
	}
	for n, k := range a.order {
		if a.labelNames[k] != b.labelNames[b.order[n]] {
			return false
		}
	}
	return true
}

// AppendText appends the family in the Prometheus text format 0.0.4, byte for
// byte as expfmt writes it.
func (f Family) AppendText(b []byte) []byte {
	m := f.meta
	b = append(b, "# HELP "...)
	b = append(b, m.name...)
	b = append(b, ' ')
	b = appendEscaped(b, m.help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, m.name...)
	switch m.valueType {
	case prometheus.CounterValue:
		b = append(b, " counter\n"...)
	case prometheus.GaugeValue:
		b = append(b, " gauge\n"...)
	default:
		b = append(b, " untyped\n"...)
	}
	for _, s := range f.samples {
		b = f.appendSeries(b, s)
		b = appendTextFloat(b, s.Value)
		if s.TimestampMs != 0 {
			b = append(b, ' ')
			b = strconv.AppendInt(b, s.TimestampMs, 10)
		}
		b = append(b, '\n')
	}
	return b
}

// AppendOpenMetrics appends the family in OpenMetrics 1.0 text, byte for byte
// as expfmt writes it: a counter's family name drops its _total suffix, a
// counter without one and an untyped family are "unknown".
func (f Family) AppendOpenMetrics(b []byte) []byte {
	m := f.meta
	name, typ := m.name, " unknown\n"
	switch {
	case m.valueType == prometheus.CounterValue && strings.HasSuffix(name, "_total"):
		name, typ = name[:len(name)-len("_total")], " counter\n"
	case m.valueType == prometheus.GaugeValue:
		typ = " gauge\n"
	}
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, m.help, true)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, typ...)
	for _, s := range f.samples {
		b = f.appendSeries(b, s)
		b = appendOpenMetricsFloat(b, s.Value)
		if s.TimestampMs != 0 {
			// OpenMetrics timestamps are in seconds.
			b = append(b, ' ')
			b = appendOpenMetricsFloat(b, float64(s.TimestampMs)/1000)
		}
		b = append(b, '\n')
	}
	return b
}

// appendSeries appends `name{label="value",...} `.
func (f Family) appendSeries(b []byte, s *Sample) []byte {
	m := s.meta
	b = append(b, f.meta.name...)
	if len(m.order) > 0 {
		b = append(b, '{')
		for n, k := range m.order {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, m.labelNames[k]...)
			b = append(b, '=', '"')
			b = appendEscaped(b, s.LabelValues[k], true)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, ' ')
}

// appendEscaped escapes backslash and newline, and double quotes when asked.
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quote:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendTextFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, '1')
	case f == 0:
		return append(b, '0')
	case f == -1:
		return append(b, "-1"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func appendOpenMetricsFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, "1.0"...)
	case f == 0:
		return append(b, "0.0"...)
	case f == -1:
		return append(b, "-1.0"...)
	case math.IsNaN(f), math.IsInf(f, 0):
		return appendTextFloat(b, f)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	for _, c := range b[start:] {
		if c == 'e' || c == '.' {
			return b
		}
	}
	return append(b, '.', '0')
}

// Replay is a fixed set of samples as a prometheus.Collector (an unchecked
// one): it lets a client_golang registry gather what the fast path renders,
// so that both can be compared, and serves samples read elsewhere.
type Replay []*Sample

// Describe implements prometheus.Collector; it sends nothing.
func (Replay) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (r Replay) Collect(ch chan<- prometheus.Metric) {
	for _, s := range r {
		ch <- s
	}
}
