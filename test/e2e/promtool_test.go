package e2e

import (
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPromtoolQueries has Debian's promtool (2.42, an older client than the
// embedded packages) query the system under test holding the oracle's data
// set, and checks what it prints against the generated samples: every
// series and value, not only the exit status.
func TestPromtoolQueries(t *testing.T) {
	promtool := requirePeer(t, "promtool")
	sut := startSUT(t, oracleConfig(t))
	d := oracleGenerate(time.Now().Add(-time.Minute).Truncate(time.Minute))
	oracleWrite(t, sut, d)
	end := strconv.FormatInt(d.end.Unix(), 10)

	t.Run("instant", func(t *testing.T) {
		out := runPromtool(t, promtool, "query", "instant", "--time="+end, sut, "oracle_memory_used_bytes")
		want := map[string]string{}
		for _, s := range d.series {
			if s.name() == "oracle_memory_used_bytes" {
				want[promtoolMetric(s)] = promtoolSample(oracleValueAt(t, s, d.end), d.end)
			}
		}
		got := map[string]string{}
		for _, line := range promtoolLines(out) {
			m := promtoolVectorRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("unexpected line %q in:\n%s", line, out)
			}
			got[m[1]] = m[2]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("promtool query instant (-want +got):\n%s\noutput:\n%s", diff, out)
		}
	})

	t.Run("instant_aggregation", func(t *testing.T) {
		out := runPromtool(t, promtool, "query", "instant", "--time="+end, sut, "sum by (job) (oracle_build_info)")
		at := promtoolTime(d.end)
		want := []string{`{job="api"} => 3 @[` + at + `]`, `{job="worker"} => 2 @[` + at + `]`}
		if diff := cmp.Diff(want, promtoolSorted(promtoolLines(out))); diff != "" {
			t.Errorf("promtool query instant (-want +got):\n%s", diff)
		}
	})

	t.Run("range", func(t *testing.T) {
		const selector = `oracle_memory_used_bytes{instance="api-0:8080"}`
		from := d.end.Add(-10 * time.Minute)
		out := runPromtool(t, promtool, "query", "range", "--start="+strconv.FormatInt(from.Unix(), 10),
			"--end="+end, "--step=1m", sut, selector)
		var s *oracleSeries
		for _, c := range d.series {
			if c.name() == "oracle_memory_used_bytes" && c.label("instance") == "api-0:8080" {
				s = c
			}
		}
		want := []string{promtoolMetric(s) + " =>"}
		for at := from; !at.After(d.end); at = at.Add(time.Minute) {
			want = append(want, promtoolSample(oracleValueAt(t, s, at), at))
		}
		if diff := cmp.Diff(want, promtoolLines(out)); diff != "" {
			t.Errorf("promtool query range (-want +got):\n%s", diff)
		}
	})

	t.Run("series", func(t *testing.T) {
		out := runPromtool(t, promtool, "query", "series", "--match=oracle_build_info",
			"--start="+strconv.FormatInt(d.start.Unix(), 10), "--end="+end, sut)
		var want []string
		for _, s := range d.series {
			if s.name() == "oracle_build_info" {
				want = append(want, promtoolLabelSet(s))
			}
		}
		if diff := cmp.Diff(promtoolSorted(want), promtoolSorted(promtoolLines(out))); diff != "" {
			t.Errorf("promtool query series (-want +got):\n%s", diff)
		}
	})

	// The label queries are restricted to the generated series, so that
	// whatever else the server stores (its own metrics) does not count.
	for _, label := range []string{"job", "__name__"} {
		t.Run("labels_"+label, func(t *testing.T) {
			out := runPromtool(t, promtool, "query", "labels", `--match={__name__=~"oracle_.+"}`,
				"--start="+strconv.FormatInt(d.start.Unix(), 10), "--end="+end, sut, label)
			seen := map[string]bool{}
			for _, s := range d.series {
				seen[s.label(label)] = true
			}
			var want []string
			for v := range seen {
				want = append(want, v)
			}
			if diff := cmp.Diff(promtoolSorted(want), promtoolLines(out)); diff != "" {
				t.Errorf("promtool query labels %s (-want +got):\n%s", label, diff)
			}
		})
	}
}

// promtoolVectorRE is one sample of an instant vector as promtool prints it.
var promtoolVectorRE = regexp.MustCompile(`^(\S+\{.*\}) => (.+)$`)

// runPromtool runs promtool and returns its standard output.
func runPromtool(t *testing.T, promtool string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("promtool %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// promtoolLines splits output into its non-empty lines.
func promtoolLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// promtoolSorted returns a sorted copy.
func promtoolSorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// oracleValueAt is the value an instant query at t sees for s: its newest sample
// no later than t within the 5-minute lookback. The tests ask only where
// there is one.
func oracleValueAt(t *testing.T, s *oracleSeries, at time.Time) float64 {
	t.Helper()
	ms := at.UnixMilli()
	for i := len(s.samples) - 1; i >= 0; i-- {
		smp := s.samples[i]
		if smp.Timestamp <= ms {
			if smp.Timestamp <= ms-(5*time.Minute).Milliseconds() || math.IsNaN(smp.Value) {
				break
			}
			return smp.Value
		}
	}
	t.Fatalf("series %s has no sample at %s", promtoolMetric(s), at)
	return 0
}

// The formats of github.com/prometheus/common/model's String methods,
// which promtool prints with: a metric is name{a="b", c="d"}, a label set
// {__name__="n", a="b"}, a sample "value @[unix seconds]".

func promtoolMetric(s *oracleSeries) string {
	var parts []string
	for _, l := range s.labels {
		if l.Name != "__name__" {
			parts = append(parts, fmt.Sprintf("%s=%q", l.Name, l.Value))
		}
	}
	return s.name() + "{" + strings.Join(parts, ", ") + "}"
}

func promtoolLabelSet(s *oracleSeries) string {
	parts := make([]string, len(s.labels))
	for i, l := range s.labels {
		parts[i] = fmt.Sprintf("%s=%q", l.Name, l.Value)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func promtoolSample(v float64, at time.Time) string {
	return strconv.FormatFloat(v, 'f', -1, 64) + " @[" + promtoolTime(at) + "]"
}

func promtoolTime(at time.Time) string {
	return strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', -1, 64)
}
