package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	toolkitweb "github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"

	// The service discovery mechanisms a prometheus.yml may name. Each
	// registers itself with the discovery package; the cloud providers'
	// are left out on purpose (their SDKs would double the binary).
	_ "github.com/prometheus/prometheus/discovery/dns"
	_ "github.com/prometheus/prometheus/discovery/file"
	_ "github.com/prometheus/prometheus/discovery/http"
	_ "github.com/prometheus/prometheus/discovery/kubernetes"

	"github.com/panoptes-dev/panoptes/internal/connlimit"
	builtinrules "github.com/panoptes-dev/panoptes/rules"
)

// Server is a running time-series server.
type Server struct {
	opts   Options
	limits storageLimits
	logger *slog.Logger

	db      *tsdb.DB
	dbStats *tsdb.DBStats
	remote  *remote.Storage
	fanout  storage.Storage
	// appendable is the fanout behind the disk guard: every writer (scrape,
	// remote_write receiver, in-process targets) appends through it.
	appendable    guardedStorage
	engine        *promql.Engine
	scrape        *scrape.Manager
	discovery     *discovery.Manager
	inProcess     *inProcessManager
	handler       http.Handler
	reloadMetrics *reloadMetrics
	parser        parser.Parser

	// rules evaluates the recording and alerting rules; its alerts go to
	// the notifier, which sends them to the Alertmanagers that
	// notifyDiscovery finds.
	rules           *rules.Manager
	ruleLoader      *ruleLoader
	builtinRules    fs.FS
	rulesRunning    sync.Once
	rulesStopped    sync.Once
	notifier        *notifier.Manager
	notifyDiscovery *discovery.Manager

	discoveryCtx    context.Context
	discoveryCancel context.CancelFunc

	mu     sync.RWMutex
	config *config.Config
	// reloadMu serialises reloads: SIGHUP and /-/reload may race.
	reloadMu sync.Mutex

	birth time.Time

	// conns is the listener's connection limit, once Run has listened.
	conns atomic.Pointer[connlimit.Listener]
}

// New validates o, opens the storage, loads the config and builds the
// server. A bad option, a bad config or an unusable storage path is an error
// that says which. The server keeps its own copy of o.
func New(o *Options, logger *slog.Logger) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	limits, err := o.storageLimits()
	if err != nil {
		return nil, err
	}
	opts := *o
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil || opts.Gatherer == nil {
		reg := prometheus.NewRegistry()
		opts.Registerer, opts.Gatherer = reg, reg
	}
	s := &Server{opts: opts, limits: limits, logger: logger, birth: time.Now(), parser: parser.NewParser(parser.Options{})}
	if opts.BuiltinRules {
		s.builtinRules = builtinrules.Files
		if opts.BuiltinRuleFiles != nil {
			s.builtinRules = opts.BuiltinRuleFiles
		}
	}

	// Load the config before touching the disk: a typo in the YAML should
	// not need a TSDB open (and WAL replay) to be reported.
	cfg, ruleSet, err := s.load()
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(opts.StoragePath, 0o755); err != nil {
		return nil, fmt.Errorf("storage path %s: %w", opts.StoragePath, err)
	}
	s.dbStats = tsdb.NewDBStats()
	s.db, err = tsdb.Open(opts.StoragePath, s.logger.With("component", "tsdb"), opts.Registerer, s.tsdbOptions(), s.dbStats)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w (another process may hold its lock, or the directory is not writable)", opts.StoragePath, err)
	}
	s.registerTSDBMetrics()
	closeOnErr := func(err error) (*Server, error) {
		s.stopRules()
		if s.discoveryCancel != nil {
			s.discoveryCancel()
		}
		if s.remote != nil {
			_ = s.remote.Close()
		}
		_ = s.db.Close()
		return nil, err
	}

	readyScrape := &readyScrapeManager{}
	s.remote = remote.NewStorage(s.logger.With("component", "remote"), opts.Registerer, s.db.StartTime, opts.StoragePath, time.Minute, readyScrape, false)
	// Wake remote_write's WAL readers on every commit; without it they poll
	// the WAL every 15 s and the receivers lag by that much.
	s.db.SetWriteNotified(s.remote)
	s.fanout = storage.NewFanout(s.logger, s.db, s.remote)
	s.appendable = guardedStorage{s: s.fanout, g: &diskGuard{path: opts.StoragePath, minFree: uint64(max(limits.minFree, 0)), logger: s.logger}}

	if err := discovery.RegisterK8sClientMetricsWithPrometheus(opts.Registerer); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return closeOnErr(fmt.Errorf("register kubernetes client metrics: %w", err))
		}
	}
	sdMetrics, err := discovery.CreateAndRegisterSDMetrics(opts.Registerer)
	if err != nil {
		return closeOnErr(fmt.Errorf("register discovery metrics: %w", err))
	}
	s.discoveryCtx, s.discoveryCancel = context.WithCancel(context.Background())
	s.discovery = discovery.NewManager(s.discoveryCtx, s.logger.With("component", "discovery"), opts.Registerer, sdMetrics, discovery.Name("scrape"))
	if s.discovery == nil {
		return closeOnErr(errors.New("create the discovery manager"))
	}
	s.scrape, err = scrape.NewManager(&scrape.Options{}, s.logger.With("component", "scrape"), nil, nil, s.appendable, opts.Registerer)
	if err != nil {
		return closeOnErr(fmt.Errorf("create the scrape manager: %w", err))
	}
	readyScrape.set(s.scrape)

	tracker, err := promql.NewActiveQueryTracker(opts.StoragePath, opts.QueryMaxConcurrency, s.logger.With("component", "query tracker"))
	if err != nil {
		return closeOnErr(fmt.Errorf("query tracker in %s: %w", opts.StoragePath, err))
	}
	s.engine = promql.NewEngine(promql.EngineOpts{
		Logger:             s.logger.With("component", "query engine"),
		Reg:                opts.Registerer,
		MaxSamples:         opts.QueryMaxSamples,
		Timeout:            opts.QueryTimeout,
		ActiveQueryTracker: tracker,
		LookbackDelta:      opts.LookbackDelta,
		NoStepSubqueryIntervalFn: func(int64) int64 {
			return int64(time.Duration(s.currentConfig().GlobalConfig.EvaluationInterval) / time.Millisecond)
		},
		// Always on in Prometheus since 2.33.
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		Parser:               s.parser,
	})

	s.inProcess = newInProcessManager(s.appendable, opts.InProcess, s.logger.With("component", "in-process"))
	s.reloadMetrics = newReloadMetrics(opts.Registerer)
	opts.Registerer.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "panoptes_http_connections_open",
			Help: "HTTP connections open now, at most --web.max-connections.",
		}, func() float64 {
			if l := s.conns.Load(); l != nil {
				return float64(l.Open())
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "panoptes_http_connections_evicted_total",
			Help: "HTTP connections closed to make room at --web.max-connections: ones with no request in progress (slow or idle clients).",
		}, func() float64 {
			if l := s.conns.Load(); l != nil {
				return float64(l.Evicted())
			}
			return 0
		}),
	)

	// Rules and notifications, wired as Prometheus's main wires them: the
	// notifier has a discovery manager of its own ("notify"), the rule
	// manager queries through the fanout, appends through the disk guard
	// and restores the "for" state of alerts from the local TSDB.
	s.notifier = notifier.NewManager(&notifier.Options{
		QueueCapacity:   opts.NotificationQueueCapacity,
		MaxBatchSize:    opts.NotificationBatchSize,
		DrainOnShutdown: opts.NotificationDrainOnShutdown,
		Registerer:      opts.Registerer,
		Do:              s.notifierDo,
	}, cfg.GlobalConfig.MetricNameValidationScheme, s.logger.With("component", "notifier"))
	s.notifyDiscovery = discovery.NewManager(s.discoveryCtx, s.logger.With("component", "discovery manager notify"), opts.Registerer, sdMetrics, discovery.Name("notify"))
	if s.notifyDiscovery == nil {
		return closeOnErr(errors.New("create the notify discovery manager"))
	}
	s.ruleLoader = &ruleLoader{parser: s.parser, logger: s.logger.With("component", "rule manager"), builtin: s.builtinRules}
	externalURL := s.externalURL()
	s.rules = rules.NewManager(&rules.ManagerOptions{
		NameValidationScheme: cfg.GlobalConfig.MetricNameValidationScheme,
		AppendableV2:         s.appendable,
		Queryable:            s.db,
		QueryFunc:            rules.EngineQueryFunc(s.engine, s.fanout),
		NotifyFunc:           rules.SendAlerts(s.notifier, externalURL.String()),
		Context:              s.discoveryCtx,
		ExternalURL:          externalURL,
		Registerer:           opts.Registerer,
		Logger:               s.logger.With("component", "rule manager"),
		OutageTolerance:      opts.RulesAlertForOutageTolerance,
		ForGracePeriod:       opts.RulesAlertForGracePeriod,
		ResendDelay:          opts.RulesAlertResendDelay,
		MaxConcurrentEvals:   opts.RulesMaxConcurrentEvals,
		GroupLoader:          s.ruleLoader,
		DefaultRuleQueryOffset: func() time.Duration {
			return time.Duration(s.currentConfig().GlobalConfig.RuleQueryOffset)
		},
		Parser: s.parser,
	})

	if err := s.applyConfig(cfg, ruleSet); err != nil {
		return closeOnErr(err)
	}
	s.handler = s.routes()
	return s, nil
}

// tsdbOptions are Prometheus's defaults for its flags, with our retention.
func (s *Server) tsdbOptions() *tsdb.Options {
	o := tsdb.DefaultOptions()
	o.RetentionDuration = int64(s.limits.retention / time.Millisecond)
	o.MaxBytes = s.limits.retentionSize
	if s.opts.WALCompression {
		o.WALCompression = compression.Snappy
	}
	// As Prometheus does: blocks are compacted up to a tenth of the
	// retention, and at most 31 days.
	maxBlock := 31 * 24 * time.Hour
	if s.limits.retention != 0 && s.limits.retention/10 < maxBlock {
		maxBlock = s.limits.retention / 10
	}
	if ms := int64(maxBlock / time.Millisecond); ms > o.MinBlockDuration {
		o.MaxBlockDuration = ms
	}
	return o
}

// registerTSDBMetrics adds the gauges Prometheus's main registers beside the
// tsdb package's own, so dashboards built on them work.
func (s *Server) registerTSDBMetrics() {
	db := s.db
	s.opts.Registerer.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "prometheus_tsdb_lowest_timestamp_seconds",
			Help: "Lowest timestamp value stored in the database.",
		}, func() float64 {
			if bb := db.Blocks(); len(bb) > 0 {
				return float64(bb[0].Meta().MinTime / 1000)
			}
			return float64(db.Head().MinTime() / 1000)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "prometheus_tsdb_head_min_time_seconds",
			Help: "Minimum time bound of the head block.",
		}, func() float64 { return float64(db.Head().MinTime() / 1000) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "prometheus_tsdb_head_max_time_seconds",
			Help: "Maximum timestamp of the head block.",
		}, func() float64 { return float64(db.Head().MaxTime() / 1000) }),
	)
}

// Handler serves the API, the lifecycle endpoints and the extra routes.
func (s *Server) Handler() http.Handler { return s.handler }

// Storage is where samples are appended (local TSDB and remote_write).
func (s *Server) Storage() storage.Storage { return s.fanout }

// Run listens and runs discovery, scraping and in-process collection until
// ctx is done, then shuts down in order: stop taking samples, flush
// remote_write, close the TSDB (which persists the head's chunks). onListen,
// when not nil, is called with the bound address.
func (s *Server) Run(ctx context.Context, onListen func(net.Addr)) error {
	ln, err := net.Listen("tcp", s.opts.ListenAddress)
	if err != nil {
		s.closeStorage()
		return fmt.Errorf("listen on %s: %w", s.opts.ListenAddress, err)
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout:       s.opts.ReadTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelError),
	}
	if s.opts.MaxConnections > 0 {
		// Prometheus's LimitListener stops accepting at the limit, so idle
		// and slow clients can hold every slot and lock the UI out; this
		// one closes the longest-waiting of those to make room, and only
		// waits when every connection is serving a request.
		limited := connlimit.NewListener(ln, s.opts.MaxConnections, connlimit.DefaultGrace)
		s.conns.Store(limited)
		ln = limited
		srv.Handler = limited.Handler(srv.Handler)
		srv.ConnState = limited.ConnState
		srv.ConnContext = limited.ConnContext
	}

	var wg sync.WaitGroup
	httpErr := make(chan error, 1)
	wg.Go(func() {
		// exporter-toolkit reads the web config again for every connection
		// (TLS) and request (users, headers), as Prometheus's listener does.
		webCfg := s.opts.WebConfigFile
		if err := toolkitweb.Serve(ln, srv, &toolkitweb.FlagConfig{WebConfigFile: &webCfg}, s.logger.With("component", "web")); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- err
		}
	})
	wg.Go(func() {
		if err := s.discovery.Run(); err != nil && !errors.Is(err, context.Canceled) {
			s.logger.Error("discovery manager stopped", "err", err)
		}
	})
	scrapeDone := make(chan struct{})
	go func() {
		defer close(scrapeDone)
		if err := s.scrape.Run(s.discovery.SyncCh()); err != nil {
			s.logger.Error("scrape manager stopped", "err", err)
		}
	}()
	inCtx, inCancel := context.WithCancel(context.Background())
	inDone := make(chan struct{})
	go func() { defer close(inDone); s.inProcess.run(inCtx, ln.Addr().String()) }()
	notifyDone := make(chan struct{})
	go func() {
		defer close(notifyDone)
		s.notifier.Run(s.notifierTargets(s.discoveryCtx))
	}()
	wg.Go(func() {
		if err := s.notifyDiscovery.Run(); err != nil && !errors.Is(err, context.Canceled) {
			s.logger.Error("notify discovery manager stopped", "err", err)
		}
	})
	s.waitLocalAlertmanager(ctx)
	s.startRules()
	hupCtx, hupCancel := context.WithCancel(ctx)
	hupDone := make(chan struct{})
	go func() { defer close(hupDone); s.reloadOnSignal(hupCtx) }()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-httpErr:
		runErr = fmt.Errorf("serve HTTP: %w", runErr)
	}

	s.logger.Info("shutting down")
	// Stop producing samples first, so that what was acknowledged is all
	// in the WAL when the TSDB closes.
	hupCancel()
	<-hupDone
	s.discoveryCancel()
	s.scrape.Stop()
	<-scrapeDone
	inCancel()
	<-inDone
	// The rules stop before the notifier, which then sends what they
	// queued (Prometheus's order: the notifier panics otherwise).
	s.stopRules()
	s.notifier.Stop()
	<-notifyDone
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	wg.Wait()
	s.closeStorage()
	return runErr
}

func (s *Server) closeStorage() {
	s.stopRules()
	s.discoveryCancel()
	if err := s.remote.Close(); err != nil {
		s.logger.Error("close remote storage", "err", err)
	}
	if err := s.db.Close(); err != nil {
		s.logger.Error("close TSDB", "err", err)
	}
}

// startRules lets the rule groups evaluate. The rule manager holds them
// until then, so that no query runs against a storage still being set up.
func (s *Server) startRules() {
	s.rulesRunning.Do(func() { go s.rules.Run() })
}

// stopRules stops the rule groups (once). Groups wait for Run before they
// can stop, so a manager that never ran is started first.
func (s *Server) stopRules() {
	if s.rules == nil {
		return
	}
	s.rulesStopped.Do(func() {
		s.startRules()
		s.rules.Stop()
	})
}

func (s *Server) currentConfig() *config.Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.config
}

// readyScrapeManager hands remote storage the scrape manager (for metadata)
// once it exists; the two need each other at construction.
type readyScrapeManager struct {
	mu sync.Mutex
	m  *scrape.Manager
}

func (r *readyScrapeManager) set(m *scrape.Manager) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m = m
}

func (r *readyScrapeManager) Get() (*scrape.Manager, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		return nil, errors.New("scrape manager not ready")
	}
	return r.m, nil
}

// absPath makes a relative path absolute for messages and the config's
// relative file references.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
