package agent

import (
	"io"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/version"
)

// scrapeOwn builds an agent as `panoptes agent` does (only the loadavg
// collector, for speed) and returns its parsed /metrics.
func scrapeOwn(t *testing.T, disableExporterMetrics bool) map[string]*dto.MetricFamily {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	o := NewCollectorOptions()
	o.DisableDefaults = true
	o.Enable["loadavg"] = true
	built, err := o.Build(logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Collectors: built.Collectors, Own: built.Own, CollectorTimeout: 5 * time.Second,
		DisableExporterMetrics: disableExporterMetrics}, logger)
	if err != nil {
		t.Fatal(err)
	}
	text := body(t, request(t, a.Handler(), "/metrics"))
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

func gauge(t *testing.T, mfs map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok || len(mf.GetMetric()) != 1 {
		t.Fatalf("%s: want one series, have %v", name, mf)
	}
	m := mf.GetMetric()[0]
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s is a %s", name, mf.GetType())
	return 0
}

// TestOwnProcessMetrics checks the agent's process_* against what the
// kernel says of this process, and node_exporter_build_info's labels
// against node_exporter 1.5's and this build.
func TestOwnProcessMetrics(t *testing.T) {
	self, err := procfs.Self()
	if err != nil {
		t.Fatal(err)
	}
	// The kernel counts CPU time in 10 ms ticks: a test binary run for
	// this test alone may not have used one yet. Work until it has, so
	// that process_cpu_seconds_total has something to agree with.
	before, err := self.Stat()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; before.CPUTime() < 0.02; i++ {
		if i%(1<<16) == 0 {
			if before, err = self.Stat(); err != nil {
				t.Fatal(err)
			}
		}
	}
	mfs := scrapeOwn(t, false)
	stat, err := self.Stat()
	if err != nil {
		t.Fatal(err)
	}
	start, err := stat.StartTime()
	if err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, mfs, "process_start_time_seconds"); math.Abs(got-start) > 0.5 {
		t.Errorf("process_start_time_seconds = %v, the kernel says %v", got, start)
	}
	limits, err := self.Limits()
	if err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, mfs, "process_max_fds"); got != float64(limits.OpenFiles) {
		t.Errorf("process_max_fds = %v, the kernel says %d", got, limits.OpenFiles)
	}
	if got := gauge(t, mfs, "process_open_fds"); got < 3 || got > float64(limits.OpenFiles) {
		t.Errorf("process_open_fds = %v", got)
	}
	if got := gauge(t, mfs, "process_resident_memory_bytes"); got < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v, under 1 MiB", got)
	}
	if got := gauge(t, mfs, "process_cpu_seconds_total"); got < before.CPUTime() || got > stat.CPUTime() {
		t.Errorf("process_cpu_seconds_total = %v, the kernel says between %v and %v", got, before.CPUTime(), stat.CPUTime())
	}
	for _, name := range []string{"process_virtual_memory_bytes", "process_virtual_memory_max_bytes", "go_goroutines"} {
		if got := gauge(t, mfs, name); got <= 0 {
			t.Errorf("%s = %v", name, got)
		}
	}

	bi := mfs["node_exporter_build_info"]
	if bi == nil || len(bi.GetMetric()) != 1 {
		t.Fatalf("node_exporter_build_info: want one series, have %v", bi)
	}
	if want := "A metric with a constant '1' value labeled by version, revision, branch, goversion from which node_exporter was built, and the goos and goarch for the build."; bi.GetHelp() != want || bi.GetType() != dto.MetricType_GAUGE {
		t.Errorf("node_exporter_build_info: %s %q, want node_exporter 1.5's gauge %q", bi.GetType(), bi.GetHelp(), want)
	}
	labels := map[string]string{}
	for _, l := range bi.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	info := version.Get()
	// branch is empty (absent, to Prometheus): a Go build does not record one.
	for name, want := range map[string]string{"version": info.Version, "revision": info.Revision,
		"goversion": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH} {
		if labels[name] != want {
			t.Errorf("node_exporter_build_info{%s=%q}, want %q", name, labels[name], want)
		}
	}
	if len(labels) > 6 || bi.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("node_exporter_build_info: %v", bi.GetMetric()[0])
	}
	if mfs["panoptes_build_info"] == nil {
		t.Error("panoptes_build_info is missing")
	}
}

// TestOwnMetricsDisabled: --web.disable-exporter-metrics drops process_*,
// go_* and node_exporter_build_info, as in node_exporter.
func TestOwnMetricsDisabled(t *testing.T) {
	mfs := scrapeOwn(t, true)
	for name := range mfs {
		if strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "go_") || strings.HasSuffix(name, "_build_info") {
			t.Errorf("%s exported with DisableExporterMetrics", name)
		}
	}
	if mfs["node_load1"] == nil {
		t.Error("node_load1 missing: the collectors must still be served")
	}
}
