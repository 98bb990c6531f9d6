package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
)

// InProcessTarget is a source of metrics inside this process (the host and
// container collectors, the server's own metrics) that the server appends
// straight into its storage on every interval: no HTTP request, no text
// exposition to render and parse again. It shows in /api/v1/targets like a
// scraped target, with up, scrape_duration_seconds and staleness markers for
// series that disappear, as a scrape would give.
type InProcessTarget struct {
	// Job and Instance become the job and instance labels; an empty
	// Instance is the server's listen address once bound.
	Job, Instance string
	// Gatherer yields the metric families on each collection.
	Gatherer prometheus.Gatherer
	// Interval between collections; zero means 15 s.
	Interval time.Duration
}

type inProcessManager struct {
	app    storage.Appendable
	logger *slog.Logger
	cfgs   []InProcessTarget

	mu      sync.Mutex
	targets []*inProcessLoop
}

func newInProcessManager(app storage.Appendable, targets []InProcessTarget, logger *slog.Logger) *inProcessManager {
	return &inProcessManager{app: app, logger: logger, cfgs: targets}
}

// run collects every target until ctx is done; addr is the server's bound
// address, the instance of targets that name none.
func (m *inProcessManager) run(ctx context.Context, addr string) {
	m.mu.Lock()
	for _, c := range m.cfgs {
		if c.Instance == "" {
			c.Instance = addr
		}
		if c.Interval <= 0 {
			c.Interval = 15 * time.Second
		}
		m.targets = append(m.targets, newInProcessLoop(c, m))
	}
	loops := m.targets
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() { l.run(ctx) })
	}
	wg.Wait()
}

// active returns the in-process targets by job, for the targets API.
func (m *inProcessManager) active() map[string][]*scrape.Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]*scrape.Target, len(m.targets))
	for _, l := range m.targets {
		out[l.cfg.Job] = append(out[l.cfg.Job], l.target)
	}
	return out
}

func (m *inProcessManager) scrapeConfig(job string) (*config.ScrapeConfig, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.targets {
		if l.cfg.Job == job {
			return l.scrapeConfig, true
		}
	}
	return nil, false
}

// inProcessLoop collects one in-process target on its interval.
type inProcessLoop struct {
	cfg          InProcessTarget
	m            *inProcessManager
	target       *scrape.Target
	scrapeConfig *config.ScrapeConfig
	meta         *metadataStore
	// last holds the series of the previous collection, to write staleness
	// markers for those that are gone.
	last map[uint64]labels.Labels
}

func newInProcessLoop(t InProcessTarget, m *inProcessManager) *inProcessLoop {
	iv := model.Duration(t.Interval)
	lset := labels.FromStrings(
		model.AddressLabel, "in-process",
		model.SchemeLabel, "internal",
		model.MetricsPathLabel, "/"+t.Job,
		model.ScrapeIntervalLabel, iv.String(),
		model.ScrapeTimeoutLabel, iv.String(),
		model.JobLabel, t.Job,
		model.InstanceLabel, t.Instance,
	)
	discovered := model.LabelSet{}
	lset.Range(func(l labels.Label) { discovered[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	sc := &config.ScrapeConfig{JobName: t.Job, HonorTimestamps: true, MetricsPath: "/" + t.Job, Scheme: "internal", ScrapeInterval: iv, ScrapeTimeout: iv}
	l := &inProcessLoop{
		cfg:          t,
		m:            m,
		target:       scrape.NewTarget(lset, sc, discovered, nil),
		scrapeConfig: sc,
		meta:         &metadataStore{},
	}
	l.target.SetMetadataStore(l.meta)
	return l
}

func (l *inProcessLoop) run(ctx context.Context) {
	iv := l.cfg.Interval
	for {
		l.collect(ctx)
		// Align to the interval, as the scrape manager spreads targets
		// over theirs.
		wait := iv - time.Duration(time.Now().UnixNano()%int64(iv))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// collect gathers once and appends the samples, the report series and
// staleness markers in one transaction.
func (l *inProcessLoop) collect(ctx context.Context) {
	start := time.Now()
	ts := start.UnixMilli()
	mfs, gatherErr := l.cfg.Gatherer.Gather()
	app := l.m.app.Appender(ctx)

	cur := make(map[uint64]labels.Labels, len(l.last))
	added, appendErrs := 0, 0
	var firstAppendErr error
	add := func(lset labels.Labels, t int64, v float64) {
		if _, err := app.Append(0, lset, t, v); err != nil {
			// Out-of-order or duplicate samples (a collector that reports
			// its own timestamps) are dropped, as a scrape drops them.
			appendErrs++
			if firstAppendErr == nil {
				firstAppendErr = err
			}
			return
		}
		added++
	}
	b := labels.NewScratchBuilder(8)
	for _, mf := range mfs {
		l.meta.set(mf)
		forEachSeries(mf, &b, l.cfg.Job, l.cfg.Instance, func(lset labels.Labels, tsMs int64, v float64) {
			if tsMs == 0 {
				tsMs = ts
			}
			cur[lset.Hash()] = lset
			add(lset, tsMs, v)
		})
	}
	scraped := added + appendErrs
	for h, lset := range l.last {
		if _, ok := cur[h]; !ok {
			add(lset, ts, math.Float64frombits(value.StaleNaN))
		}
	}
	l.last = cur

	up := 1.0
	err := gatherErr
	if err == nil && firstAppendErr != nil && added == 0 {
		err = fmt.Errorf("append samples: %w", firstAppendErr)
	}
	if err != nil {
		up = 0
	}
	dur := time.Since(start)
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"up", up},
		{"scrape_duration_seconds", dur.Seconds()},
		{"scrape_samples_scraped", float64(scraped)},
		{"scrape_samples_post_metric_relabeling", float64(scraped)},
	} {
		add(labels.FromStrings(model.MetricNameLabel, r.name, model.JobLabel, l.cfg.Job, model.InstanceLabel, l.cfg.Instance), ts, r.v)
	}
	if cerr := app.Commit(); cerr != nil {
		// A full disk lands here: the samples of this collection are lost
		// and the next collection tries again.
		l.m.logger.Error("in-process target: storing samples failed", "job", l.cfg.Job, "err", cerr)
		err = errors.Join(err, fmt.Errorf("commit: %w", cerr))
	}
	if appendErrs > 0 {
		l.m.logger.Debug("in-process target: samples dropped", "job", l.cfg.Job, "count", appendErrs, "first", firstAppendErr)
	}
	l.target.Report(start, dur, err)
}

// forEachSeries turns a metric family into series the way a scrape of its
// text exposition would: histograms and summaries into their _bucket,
// _sum, _count and quantile series, and the target's job and instance
// labels attached (a metric's own job or instance label becomes
// exported_job or exported_instance, as without honor_labels).
func forEachSeries(mf *dto.MetricFamily, b *labels.ScratchBuilder, job, instance string, emit func(labels.Labels, int64, float64)) {
	name := mf.GetName()
	series := func(m *dto.Metric, metric string, extraName, extraValue string, v float64) {
		b.Reset()
		b.Add(model.MetricNameLabel, metric)
		for _, lp := range m.GetLabel() {
			n := lp.GetName()
			if n == model.JobLabel || n == model.InstanceLabel {
				n = model.ExportedLabelPrefix + n
			}
			b.Add(n, lp.GetValue())
		}
		if extraName != "" {
			b.Add(extraName, extraValue)
		}
		b.Add(model.JobLabel, job)
		b.Add(model.InstanceLabel, instance)
		b.Sort()
		emit(b.Labels(), m.GetTimestampMs(), v)
	}
	for _, m := range mf.GetMetric() {
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			series(m, name, "", "", m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			series(m, name, "", "", m.GetGauge().GetValue())
		case dto.MetricType_UNTYPED:
			series(m, name, "", "", m.GetUntyped().GetValue())
		case dto.MetricType_SUMMARY:
			s := m.GetSummary()
			for _, q := range s.GetQuantile() {
				series(m, name, model.QuantileLabel, formatFloat(q.GetQuantile()), q.GetValue())
			}
			series(m, name+"_sum", "", "", s.GetSampleSum())
			series(m, name+"_count", "", "", float64(s.GetSampleCount()))
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			h := m.GetHistogram()
			inf := false
			for _, bk := range h.GetBucket() {
				if math.IsInf(bk.GetUpperBound(), 1) {
					inf = true
				}
				series(m, name+"_bucket", model.BucketLabel, formatFloat(bk.GetUpperBound()), float64(bk.GetCumulativeCount()))
			}
			if !inf {
				series(m, name+"_bucket", model.BucketLabel, "+Inf", float64(h.GetSampleCount()))
			}
			series(m, name+"_sum", "", "", h.GetSampleSum())
			series(m, name+"_count", "", "", float64(h.GetSampleCount()))
		}
	}
}

// formatFloat renders le and quantile label values as Prometheus 3
// normalises them on ingestion.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// metadataStore keeps HELP and TYPE of an in-process target's families for
// /api/v1/metadata and the UI's autocomplete.
type metadataStore struct {
	mu sync.RWMutex
	m  map[string]scrape.MetricMetadata
}

func (s *metadataStore) set(mf *dto.MetricFamily) {
	t := model.MetricTypeUnknown
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		t = model.MetricTypeCounter
	case dto.MetricType_GAUGE:
		t = model.MetricTypeGauge
	case dto.MetricType_SUMMARY:
		t = model.MetricTypeSummary
	case dto.MetricType_HISTOGRAM:
		t = model.MetricTypeHistogram
	case dto.MetricType_GAUGE_HISTOGRAM:
		t = model.MetricTypeGaugeHistogram
	}
	md := scrape.MetricMetadata{MetricFamily: mf.GetName(), Type: t, Help: mf.GetHelp(), Unit: mf.GetUnit()}
	s.mu.RLock()
	old, ok := s.m[md.MetricFamily]
	s.mu.RUnlock()
	if ok && old == md {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]scrape.MetricMetadata{}
	}
	s.m[md.MetricFamily] = md
}

func (s *metadataStore) ListMetadata() []scrape.MetricMetadata {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]scrape.MetricMetadata, 0, len(s.m))
	for _, md := range s.m {
		out = append(out, md)
	}
	return out
}

func (s *metadataStore) GetMetadata(name string) (scrape.MetricMetadata, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	md, ok := s.m[name]
	return md, ok
}

func (s *metadataStore) SizeMetadata() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, md := range s.m {
		n += len(md.MetricFamily) + len(md.Help) + len(md.Unit) + len(md.Type)
	}
	return n
}

func (s *metadataStore) LengthMetadata() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}
