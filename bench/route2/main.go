// Command route2 is a measurement for issue 18's route 2, not a storage
// engine of Panoptes: Prometheus's scrape manager (the scraper `panoptes
// server` runs, scrape cache included) appending into VictoriaMetrics'
// lib/storage used as a library (v1.151.0), instead of Prometheus's TSDB. It
// answers the question route 2 turns on: how much of VictoriaMetrics' memory
// per series would Panoptes get by swapping the storage behind Prometheus's
// interfaces while keeping Prometheus's scraper.
//
// It takes the flags bench/server.sh gives `panoptes server` and exports the
// metrics that script reads under the same names
// (prometheus_tsdb_head_series from VictoriaMetrics' created-series count,
// prometheus_tsdb_head_samples_appended_total), so that
//
//	go build -C bench/route2 -o ../../bin/route2 . &&
//	  PANOPTES_CMD=bin/route2 VM= bench/server.sh
//
// measures it side by side with Prometheus in the place of Panoptes. It
// serves no query API (the battery's queries fail), takes float samples
// only, and keeps no WAL: it is a memory and CPU probe.
//
// It is its own module, so that Panoptes' go.mod does not take
// VictoriaMetrics as a dependency for a measurement.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	vmprompb "github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
)

type appendable struct {
	s       *vmstorage.Storage
	samples atomic.Int64
	pool    sync.Pool
}

func (a *appendable) AppenderV2(context.Context) storage.AppenderV2 {
	if ap, ok := a.pool.Get().(*appender); ok {
		return ap
	}
	return &appender{a: a}
}

// appender collects a scrape's rows and hands them to the storage at Commit,
// as vminsert does with a request's rows.
type appender struct {
	a    *appendable
	rows []vmstorage.MetricRow
	buf  []byte
	ls   []vmprompb.Label
}

func (ap *appender) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, _ storage.AOptions) (storage.SeriesRef, error) {
	if h != nil || fh != nil {
		return 0, errors.New("route2: native histograms are not taken by this probe")
	}
	ap.ls = ap.ls[:0]
	ls.Range(func(l labels.Label) { ap.ls = append(ap.ls, vmprompb.Label{Name: l.Name, Value: l.Value}) })
	// Earlier rows keep pointing into the old array when buf grows: it is
	// only appended to.
	start := len(ap.buf)
	ap.buf = vmstorage.MarshalMetricNameRaw(ap.buf, ap.ls)
	ap.rows = append(ap.rows, vmstorage.MetricRow{MetricNameRaw: ap.buf[start:len(ap.buf):len(ap.buf)], Timestamp: t, Value: v})
	// The scrape cache keeps this ref and passes the labels with it again;
	// the storage finds the series from the labels (its own TSID cache).
	return storage.SeriesRef(ls.Hash()), nil
}

func (ap *appender) Commit() error {
	ap.a.s.AddRows(ap.rows, 64)
	ap.a.samples.Add(int64(len(ap.rows)))
	ap.reset()
	return nil
}

func (ap *appender) Rollback() error {
	ap.reset()
	return nil
}

func (ap *appender) reset() {
	clear(ap.rows)
	ap.rows, ap.buf = ap.rows[:0], ap.buf[:0]
	ap.a.pool.Put(ap)
}

func main() {
	configFile := flag.String("config.file", "prometheus.yml", "the scrape configuration")
	dataDir := flag.String("storage.tsdb.path", "data", "VictoriaMetrics' storage directory")
	retention := flag.String("storage.tsdb.retention.time", "15d", "retention")
	listen := flag.String("web.listen-address", "127.0.0.1:9090", "where /metrics and /debug/pprof are served")
	gogc := flag.Int("runtime.gogc", 50, "GOGC (Panoptes' default), unless the GOGC variable is set")
	flag.Bool("web.enable-pprof", true, "accepted; /debug/pprof is always served")
	flag.Duration("query.timeout", 0, "accepted and ignored: no query API")
	flag.Int("query.max-samples", 0, "accepted and ignored: no query API")
	flag.Parse()
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(*gogc)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(logger, *configFile, *dataDir, *retention, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "route2:", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger, configFile, dataDir, retention, listen string) error {
	ret, err := model.ParseDuration(retention)
	if err != nil {
		return fmt.Errorf("--storage.tsdb.retention.time: %w", err)
	}
	s := vmstorage.MustOpenStorage(dataDir, vmstorage.OpenOptions{Retention: time.Duration(ret)})
	defer s.MustClose()
	app := &appendable{s: s}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "prometheus_tsdb_head_series", Help: "Series created in the storage."},
		func() float64 {
			var m vmstorage.Metrics
			s.UpdateMetrics(&m)
			return float64(m.NewTimeseriesCreated)
		}))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "prometheus_tsdb_head_samples_appended_total", Help: "Samples handed to the storage."},
		func() float64 { return float64(app.samples.Load()) }))

	cfg, err := config.LoadFile(configFile, false, logger)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	sdMetrics, err := discovery.CreateAndRegisterSDMetrics(reg)
	if err != nil {
		return err
	}
	disc := discovery.NewManager(ctx, logger, reg, sdMetrics, discovery.Name("scrape"))
	mgr, err := scrape.NewManager(&scrape.Options{}, logger, nil, nil, app, reg)
	if err != nil {
		return err
	}
	if err := mgr.ApplyConfig(cfg); err != nil {
		return err
	}
	scfgs, err := cfg.GetScrapeConfigs()
	if err != nil {
		return err
	}
	sd := map[string]discovery.Configs{}
	for _, sc := range scfgs {
		sd[sc.JobName] = sc.ServiceDiscoveryConfigs
	}
	if err := disc.ApplyConfig(sd); err != nil {
		return err
	}
	go func() { _ = disc.Run() }()
	go func() { _ = mgr.Run(disc.SyncCh()) }()

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		mgr.Stop()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
