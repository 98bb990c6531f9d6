package server

import (
	"context"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"google.golang.org/protobuf/proto"
)

// newTestServer builds a server from the defaults, on a free port and a
// temporary storage, changed by change.
func newTestServer(t *testing.T, change func(*Options)) *Server {
	t.Helper()
	o := NewOptions()
	o.StoragePath, o.ListenAddress, o.GOGC = t.TempDir(), "127.0.0.1:0", 0
	change(o)
	s, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runServer runs s until the test ends and returns its base URL.
func runServer(t *testing.T, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(a net.Addr) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a.String()
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return ""
}

func TestForEachSeries(t *testing.T) {
	mf := func(s string) []*dto.MetricFamily {
		t.Helper()
		reg := prometheus.NewRegistry()
		switch s {
		case "histogram":
			h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "req_seconds", Help: "h", Buckets: []float64{0.5, 1}}, []string{"job"})
			h.WithLabelValues("own").Observe(0.7)
			reg.MustRegister(h)
		case "summary":
			s := prometheus.NewSummary(prometheus.SummaryOpts{Name: "lat", Help: "s", Objectives: map[float64]float64{0.5: 0.05}})
			s.Observe(2)
			reg.MustRegister(s)
		case "counter":
			c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "c"}, []string{"instance"})
			c.WithLabelValues("x").Add(3)
			reg.MustRegister(c)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		return mfs
	}
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"histogram", []string{
			`{__name__="req_seconds_bucket", exported_job="own", instance="i", job="j", le="0.5"} 0`,
			`{__name__="req_seconds_bucket", exported_job="own", instance="i", job="j", le="1"} 1`,
			`{__name__="req_seconds_bucket", exported_job="own", instance="i", job="j", le="+Inf"} 1`,
			`{__name__="req_seconds_sum", exported_job="own", instance="i", job="j"} 0.7`,
			`{__name__="req_seconds_count", exported_job="own", instance="i", job="j"} 1`,
		}},
		{"summary", []string{
			`{__name__="lat", instance="i", job="j", quantile="0.5"} 2`,
			`{__name__="lat_sum", instance="i", job="j"} 2`,
			`{__name__="lat_count", instance="i", job="j"} 1`,
		}},
		{"counter", []string{`{__name__="c_total", exported_instance="x", instance="i", job="j"} 3`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			b := labels.NewScratchBuilder(4)
			for _, f := range mf(tc.name) {
				forEachSeries(f, &b, "j", "i", func(l labels.Labels, _ int64, v float64) {
					got = append(got, l.String()+" "+formatFloat(v))
				})
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("series (-want +got):\n%s", d)
			}
		})
	}
}

// flipGatherer reports a gauge per name in its current set.
type flipGatherer struct {
	mu    sync.Mutex
	names []string
}

func (g *flipGatherer) set(names ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.names = names
}

func (g *flipGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	mf := &dto.MetricFamily{Name: proto.String("flip"), Help: proto.String("test"), Type: dto.MetricType_GAUGE.Enum()}
	for _, n := range g.names {
		mf.Metric = append(mf.Metric, &dto.Metric{
			Label: []*dto.LabelPair{{Name: proto.String("n"), Value: proto.String(n)}},
			Gauge: &dto.Gauge{Value: proto.Float64(1)},
		})
	}
	return []*dto.MetricFamily{mf}, nil
}

// TestInProcessStaleness: a series that leaves an in-process target gets a
// staleness marker, as a scraped one does, so queries stop returning it at
// once rather than five minutes later.
func TestInProcessStaleness(t *testing.T) {
	g := &flipGatherer{}
	g.set("a", "b")
	s := newTestServer(t, func(o *Options) {
		o.InProcess = []InProcessTarget{{Job: "t", Instance: "i", Gatherer: g, Interval: time.Hour}}
	})
	defer s.closeStorage()
	m := s.inProcess
	m.cfgs[0].Instance = "i"
	l := newInProcessLoop(m.cfgs[0], m)
	l.collect(context.Background())
	g.set("a")
	// Collections are timestamped in milliseconds; two in the same one
	// would make the second a duplicate.
	time.Sleep(5 * time.Millisecond)
	l.collect(context.Background())

	q, err := s.db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "flip"))
	got := map[string][]bool{} // series -> stale flags of its samples
	for ss.Next() {
		it := ss.At().Iterator(nil)
		n := ss.At().Labels().Get("n")
		for it.Next() == chunkenc.ValFloat {
			_, v := it.At()
			got[n] = append(got[n], value.IsStaleNaN(v))
		}
	}
	want := map[string][]bool{"a": {false, false}, "b": {false, true}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("samples (stale?) by series (-want +got):\n%s", d)
	}
	if h := l.target.Health(); h != "up" {
		t.Errorf("target health %q, want up", h)
	}
}

// TestReloadKeepsConfigOnError: a config that fails to load is rejected as
// a whole; the running one stays and the reload metric says so.
func TestReloadKeepsConfigOnError(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	write := func(s string) {
		if err := os.WriteFile(cfgPath, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("scrape_configs:\n  - job_name: first\n    static_configs: [{targets: ['127.0.0.1:1']}]\n")
	reg := prometheus.NewRegistry()
	s := newTestServer(t, func(o *Options) { o.ConfigFile, o.Registerer, o.Gatherer = cfgPath, reg, reg })
	runServer(t, s)

	write("scrape_configs:\n  - job_name: second\n    relabel_configs: [{regex: '('}]\n")
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), cfgPath) {
		t.Fatalf("Reload of a bad config: %v, want an error naming %s", err, cfgPath)
	}
	if job := s.currentConfig().ScrapeConfigs[0].JobName; job != "first" {
		t.Errorf("running config's job %q after a failed reload, want first", job)
	}
	if v := gaugeValue(t, reg, "prometheus_config_last_reload_successful"); v != 0 {
		t.Errorf("prometheus_config_last_reload_successful = %v after a failed reload, want 0", v)
	}

	write("scrape_configs:\n  - job_name: third\n    static_configs: [{targets: ['127.0.0.1:1']}]\n")
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if job := s.currentConfig().ScrapeConfigs[0].JobName; job != "third" {
		t.Errorf("running config's job %q, want third", job)
	}
	if v := gaugeValue(t, reg, "prometheus_config_last_reload_successful"); v != 1 {
		t.Errorf("prometheus_config_last_reload_successful = %v, want 1", v)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(path, []byte("scrape_configs: [{job_name: x, scrape_interval: banana}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(t.TempDir(), "data")
	o := NewOptions()
	o.ConfigFile, o.StoragePath, o.ListenAddress = path, storage, "127.0.0.1:0"
	_, err := New(o, nil)
	if err == nil || !strings.Contains(err.Error(), "bad.yml") {
		t.Fatalf("New with a bad config: %v, want an error naming bad.yml", err)
	}
	if _, err := os.Stat(storage); !os.IsNotExist(err) {
		t.Errorf("a bad config still created the storage directory (stat: %v)", err)
	}
}

func gaugeValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s not gathered", name)
	return 0
}

// TestDiskGuard: commits are refused while free space is under the margin
// and go through again once it is not, without touching the storage.
func TestDiskGuard(t *testing.T) {
	s := newTestServer(t, func(o *Options) { o.MinFreeSpace = "4EiB" }) // more than any disk
	defer s.closeStorage()
	app := s.appendable.Appender(context.Background())
	if _, err := app.Append(0, labels.FromStrings("__name__", "guarded"), time.Now().UnixMilli(), 1); err == nil || !strings.Contains(err.Error(), "min-free-space") {
		t.Fatalf("Append with the disk under the margin: %v, want an error naming --storage.tsdb.min-free-space", err)
	}
	if err := app.Commit(); err == nil {
		t.Fatal("Commit with the disk under the margin succeeded")
	}
	if n := s.db.Head().NumSeries(); n != 0 {
		t.Errorf("a refused append created %d series", n)
	}
	s.appendable.g.minFree = 1
	app2 := s.appendable.AppenderV2(context.Background())
	if _, err := app2.Append(0, labels.FromStrings("__name__", "guarded"), 0, time.Now().UnixMilli(), 1, nil, nil, storage.AOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := app2.(storage.ExemplarAppenderV2); !ok {
		t.Errorf("the guarded AppenderV2 (%T) hides the exemplar appender the remote_write receiver needs", app2)
	}
	if err := app2.Commit(); err != nil {
		t.Fatalf("Commit with space: %v", err)
	}
	if n := s.db.Head().NumSeries(); n != 1 {
		t.Errorf("%d series after a commit with space, want 1", n)
	}
}
