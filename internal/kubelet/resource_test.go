package kubelet

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/panoptes-dev/panoptes/internal/collector/container"
	"github.com/panoptes-dev/panoptes/internal/testkit"
)

func parseText(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, b)
	}
	return fams
}

// labels renders a sample's labels as name=value,... in label-name order.
func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

// TestResourceParse parses /metrics/resource with expfmt and checks each
// sample's value and timestamp against the fixture.
func TestResourceParse(t *testing.T) {
	snap := fixtureSnapshot(0)
	h := NewResourceHandler(&fakeSource{snaps: []container.Snapshot{snap}}, discard())
	fams := parseText(t, body(t, get(t, h, "/metrics/resource")))

	ms := func(readMs int) int64 { return t0.Add(time.Duration(readMs) * time.Millisecond).UnixMilli() }
	type want struct {
		value float64
		ts    int64 // 0: no timestamp
	}
	wants := map[string]map[string]want{
		"node_cpu_usage_seconds_total":  {"": {123456.789012345, ms(0)}},
		"node_memory_working_set_bytes": {"": {6 << 30, ms(0)}},
		"node_swap_usage_bytes":         {"": {256 << 20, ms(0)}},
		"pod_cpu_usage_seconds_total": {
			"namespace=default,pod=web-0":                        {300.5, ms(1)},
			"namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {4000, ms(5)},
		},
		"pod_memory_working_set_bytes": {
			"namespace=default,pod=web-0":                        {200 << 20, ms(1)},
			"namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {50 << 20, ms(5)},
		},
		"pod_swap_usage_bytes": {
			"namespace=default,pod=web-0":                        {0, ms(1)},
			"namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {0, ms(5)},
		},
		"container_cpu_usage_seconds_total": {
			"container=app,namespace=default,pod=web-0":                            {250.25, ms(2)},
			"container=sidecar,namespace=default,pod=web-0":                        {50.125, ms(3)},
			"container=coredns,namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {3900, ms(6)},
			"container=metrics,namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {99.5, ms(7)},
		},
		"container_memory_working_set_bytes": {
			"container=app,namespace=default,pod=web-0":                            {180 << 20, ms(2)},
			"container=sidecar,namespace=default,pod=web-0":                        {19 << 20, ms(3)},
			"container=coredns,namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {45 << 20, ms(6)},
			"container=metrics,namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {0, ms(7)},
		},
		"container_swap_usage_bytes": {
			"container=app,namespace=default,pod=web-0":                            {1 << 20, ms(2)},
			"container=sidecar,namespace=default,pod=web-0":                        {0, ms(3)},
			"container=coredns,namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {0, ms(6)},
		},
		"container_start_time_seconds": {
			"container=app,namespace=default,pod=web-0":                            {float64(time.Date(2026, 5, 1, 9, 0, 2, 500_000_000, time.UTC).UnixNano()) / 1e9, 0},
			"container=sidecar,namespace=default,pod=web-0":                        {float64(time.Date(2026, 5, 1, 9, 0, 3, 0, time.UTC).Unix()), 0},
			"container=coredns,namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {float64(time.Date(2026, 4, 30, 8, 1, 5, 0, time.UTC).Unix()), 0},
			"container=metrics,namespace=kube-system,pod=coredns-7db6d8ff4d-x2x9k": {float64(time.Date(2026, 4, 30, 8, 1, 6, 0, time.UTC).Unix()), 0},
		},
		"resource_scrape_error": {"": {0, 0}},
	}
	types := map[string]dto.MetricType{
		"node_cpu_usage_seconds_total": dto.MetricType_COUNTER, "pod_cpu_usage_seconds_total": dto.MetricType_COUNTER,
		"container_cpu_usage_seconds_total": dto.MetricType_COUNTER,
	}
	for name := range fams {
		if _, ok := wants[name]; !ok {
			t.Errorf("unexpected family %s", name)
		}
	}
	for name, series := range wants {
		f := fams[name]
		if f == nil {
			t.Errorf("missing family %s", name)
			continue
		}
		wantType := dto.MetricType_GAUGE
		if tt, ok := types[name]; ok {
			wantType = tt
		}
		if f.GetType() != wantType {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), wantType)
		}
		if !strings.HasPrefix(f.GetHelp(), "[STABLE] ") && !strings.HasPrefix(f.GetHelp(), "[ALPHA] ") {
			t.Errorf("%s: help %q lacks component-base's stability prefix", name, f.GetHelp())
		}
		got := map[string]*dto.Metric{}
		for _, m := range f.GetMetric() {
			got[labels(m)] = m
		}
		if len(got) != len(series) {
			t.Errorf("%s: %d series, want %d", name, len(got), len(series))
		}
		for l, w := range series {
			m := got[l]
			if m == nil {
				t.Errorf("%s{%s}: missing", name, l)
				continue
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if v != w.value {
				t.Errorf("%s{%s} = %v, want %v", name, l, v, w.value)
			}
			if m.GetTimestampMs() != w.ts {
				t.Errorf("%s{%s}: timestamp %d, want %d", name, l, m.GetTimestampMs(), w.ts)
			}
		}
	}
}

// TestResourceScrapeError: a failed snapshot serves resource_scrape_error 1
// alone, as the kubelet does; so does one without the root cgroup.
func TestResourceScrapeError(t *testing.T) {
	noRoot := fixtureSnapshot(0)
	noRoot.Containers = noRoot.Containers[1:]
	for name, src := range map[string]*fakeSource{
		"error":   {err: errFake},
		"no root": {snaps: []container.Snapshot{noRoot}},
	} {
		t.Run(name, func(t *testing.T) {
			b := body(t, get(t, NewResourceHandler(src, discard()), "/metrics/resource"))
			want := "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n" +
				"# TYPE resource_scrape_error gauge\nresource_scrape_error 1\n"
			if string(b) != want {
				t.Errorf("got\n%s\nwant\n%s", b, want)
			}
		})
	}
}

// TestGzip: both endpoints gzip when asked, and only then.
func TestGzip(t *testing.T) {
	src := &fakeSource{snaps: []container.Snapshot{fixtureSnapshot(0)}}
	for path, hh := range map[string]http.Handler{
		"/metrics/resource": NewResourceHandler(src, discard()),
		"/stats/summary":    newSummary(src),
	} {
		plain := body(t, get(t, hh, path))
		resp := get(t, hh, path, "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: not gzipped", path)
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		unz, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(unz, plain) {
			t.Errorf("%s: gzipped body differs from the plain one", path)
		}
		if r := get(t, hh, path, "Accept-Encoding", "gzip;q=0"); r.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: gzipped despite q=0", path)
		}
	}
}

// TestPromtool pipes /metrics/resource through promtool check metrics. The
// only lint findings allowed are about names the kubelet itself serves (none
// at the time of writing; allowedLint lists them should promtool's rules
// change).
func TestPromtool(t *testing.T) {
	promtool := testkit.Peer(t, "promtool")
	h := NewResourceHandler(&fakeSource{snaps: []container.Snapshot{fixtureSnapshot(0)}}, discard())
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body(t, get(t, h, "/metrics/resource")))
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("promtool: %v", err)
	}
	// Names the kubelet serves as they are, whatever a linter thinks.
	allowedLint := []string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		allowed := false
		for _, a := range allowedLint {
			if strings.HasPrefix(line, a+" ") {
				allowed = true
			}
		}
		if !allowed {
			t.Errorf("promtool: %s", line)
		}
	}
	if err != nil && len(allowedLint) == 0 {
		t.Errorf("promtool exited with %v:\n%s", err, out)
	}
}
