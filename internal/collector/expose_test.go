package collector

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// viaExpfmt renders samples the slow, reference way: a registry's Gather and
// expfmt's encoder.
func viaExpfmt(t *testing.T, samples []*Sample, format expfmt.Format) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(Replay(samples))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// viaFast renders samples with GroupFamilies and Append*.
func viaFast(samples []*Sample, openMetrics bool) string {
	fams, _ := GroupFamilies(samples)
	var b []byte
	for _, f := range fams {
		if openMetrics {
			b = f.AppendOpenMetrics(b)
		} else {
			b = f.AppendText(b)
		}
	}
	return string(b)
}

func samplesOf(ms ...prometheus.Metric) []*Sample {
	out := make([]*Sample, len(ms))
	for i, m := range ms {
		out[i] = m.(*Sample)
	}
	return out
}

// exposeCases cover label sorting, escaping, every float special case and
// the OpenMetrics naming rules for counters.
func exposeCases() []*Sample {
	counter := NewTypedDesc("disk", "reads_total", "Reads \\ with a backslash\nand a newline.", prometheus.CounterValue, "device", "cpu")
	bare := NewTypedDesc("", "intr", `A counter without "_total".`, prometheus.CounterValue)
	gauge := NewTypedDesc("filesystem", "size_bytes", "Size.", prometheus.GaugeValue, "mountpoint", "fstype", "device")
	untyped := NewTypedDesc("netstat", "Tcp_InErrs", "Statistic TcpInErrs.", prometheus.UntypedValue)
	var out []*Sample
	for i, v := range []float64{0, 1, -1, 42, 3.5, 1e21, 1.5e-7, -2.25, math.Inf(1), math.Inf(-1), math.NaN(), 123456789012} {
		out = append(out, samplesOf(counter.Metric(v, string(rune('z'-i)), "1"))...)
	}
	out = append(out, samplesOf(
		bare.Metric(7),
		gauge.Metric(1e9, "/mnt/a \"quoted\" \\ path\n", "ext4", "/dev/b"),
		gauge.Metric(2e9, "/", "ext4", "/dev/a"),
		gauge.Metric(3e9, "/", "xfs", "/dev/a"),
		untyped.Metric(12),
	)...)
	stamped := NewTypedDesc("container", "cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", prometheus.CounterValue, "id")
	for i, ms := range []int64{1_700_000_000_123, 1_700_000_001_000, 5} {
		out = append(out, samplesOf(stamped.MetricAt(time.UnixMilli(ms), 1.5*float64(i), string(rune('a'+i))))...)
	}
	return out
}

func TestFastExpositionMatchesExpfmt(t *testing.T) {
	t.Parallel()
	samples := exposeCases()
	for _, tc := range []struct {
		format      expfmt.Format
		openMetrics bool
	}{
		{expfmt.NewFormat(expfmt.TypeTextPlain), false},
		{expfmt.NewFormat(expfmt.TypeOpenMetrics), true},
	} {
		want := viaExpfmt(t, samples, tc.format)
		got := viaFast(samples, tc.openMetrics)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: fast path differs from expfmt (-expfmt +fast):\n%s", tc.format, diff)
		}
	}
}

func TestGroupFamiliesDropsDuplicates(t *testing.T) {
	t.Parallel()
	d := NewTypedDesc("", "x", "X.", prometheus.GaugeValue, "a")
	fams, dups := GroupFamilies(samplesOf(d.Metric(1, "v"), d.Metric(2, "w"), d.Metric(3, "v")))
	if dups != 1 || len(fams) != 1 || fams[0].Len() != 2 {
		t.Fatalf("got %d families, %d dups", len(fams), dups)
	}
	if got := viaFast(fams[0].samples, false); got != "# HELP node_x X.\n# TYPE node_x gauge\nnode_x{a=\"v\"} 1\nnode_x{a=\"w\"} 2\n" {
		t.Errorf("kept the wrong series:\n%s", got)
	}
}

func TestMetricRepairsInvalidUTF8(t *testing.T) {
	t.Parallel()
	d := NewTypedDesc("", "x", "X.", prometheus.GaugeValue, "mountpoint")
	s := d.Metric(1, "/mnt/\xff").(*Sample)
	if s.LabelValues[0] != "/mnt/\uFFFD" {
		t.Errorf("label value %q not repaired", s.LabelValues[0])
	}
	// The slow path must accept it too.
	_ = viaExpfmt(t, []*Sample{s}, expfmt.NewFormat(expfmt.TypeTextPlain))
}

func BenchmarkFastExposition(b *testing.B) {
	samples := exposeCases()
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		fams, _ := GroupFamilies(samples)
		buf = buf[:0]
		for _, f := range fams {
			buf = f.AppendText(buf)
		}
	}
}
