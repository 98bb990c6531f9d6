package agent

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/version"
)

// Config configures an Agent.
type Config struct {
	// Listen is the TCP address to serve on, e.g. ":9100".
	Listen string
	// MetricsPath is where metrics are served, "/metrics" by default.
	MetricsPath string
	// Collectors run on each scrape.
	Collectors []collector.Named
	// CollectorTimeout cuts off a collector that has not finished (a hung
	// NFS mount); zero means no timeout.
	CollectorTimeout time.Duration
	// MaxRequests bounds concurrent requests on every route but the
	// probes (/healthz, /readyz); more get HTTP 503. Zero means no bound.
	MaxRequests int
	// DisableExporterMetrics drops the go_*, process_* and promhttp_* metrics
	// about the agent itself.
	DisableExporterMetrics bool
	// Own are extra metrics about the agent itself (error counters),
	// served with the go_* and process_* ones.
	Own []prometheus.Collector
	// Handlers are extra routes (the kubelet-shaped /metrics/resource and
	// /stats/summary), by path.
	Handlers map[string]http.Handler
	// WebConfigFile is an exporter-toolkit web config (TLS, client
	// certificates, basic auth, headers) applied to every route; empty
	// serves plain HTTP without authentication.
	WebConfigFile string
}

// Agent serves metrics for one node.
type Agent struct {
	cfg     Config
	logger  *slog.Logger
	runner  *collector.Runner
	handler http.Handler
	ready   atomic.Bool
}

// New builds an Agent. It does not listen yet.
func New(cfg Config, logger *slog.Logger) (*Agent, error) {
	if cfg.MetricsPath == "" {
		cfg.MetricsPath = "/metrics"
	}
	if !strings.HasPrefix(cfg.MetricsPath, "/") {
		return nil, fmt.Errorf("metrics path %q must start with /", cfg.MetricsPath)
	}
	a := &Agent{cfg: cfg, logger: logger}
	a.runner = collector.NewRunner(cfg.Collectors, cfg.CollectorTimeout, logger)

	a.handler = a.metricsHandler()
	return a, nil
}

// metricsHandler serves the collectors' samples through the fast exposer,
// with the agent's own metrics (go_*, process_*, promhttp_*, build info)
// from a registry of their own unless disabled.
func (a *Agent) metricsHandler() http.Handler {
	errorLog := slog.NewLogLogger(a.logger.Handler(), slog.LevelError)
	runnerReg := prometheus.NewRegistry()
	runnerReg.MustRegister(a.runner)
	full := &exposer{runner: a.runner, logger: a.logger}
	var handler http.Handler = full
	if a.cfg.DisableExporterMetrics {
		full.fallback = promhttp.HandlerFor(runnerReg, promhttp.HandlerOpts{ErrorLog: errorLog, ErrorHandling: promhttp.ContinueOnError})
	} else {
		own := version.NewRegistry()
		own.MustRegister(a.cfg.Own...)
		full.registry = own
		full.fallback = promhttp.HandlerFor(prometheus.Gatherers{own, runnerReg},
			promhttp.HandlerOpts{ErrorLog: errorLog, ErrorHandling: promhttp.ContinueOnError})
		handler = promhttp.InstrumentMetricHandler(own, full)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		collect, exclude := r.URL.Query()["collect[]"], r.URL.Query()["exclude[]"]
		if len(collect) == 0 && len(exclude) == 0 {
			handler.ServeHTTP(w, r)
			return
		}
		// node_exporter's collect[]/exclude[] parameters: only the selected
		// collectors, without the agent's own metrics.
		keep, err := a.selectCollectors(collect, exclude)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sub := a.runner.Subset(keep)
		subReg := prometheus.NewRegistry()
		subReg.MustRegister(sub)
		(&exposer{runner: sub, logger: a.logger,
			fallback: promhttp.HandlerFor(subReg, promhttp.HandlerOpts{ErrorLog: errorLog, ErrorHandling: promhttp.ContinueOnError}),
		}).ServeHTTP(w, r)
	})
}

// selectCollectors applies collect[] (keep only these) or exclude[] (drop
// these); naming a collector that is not enabled is an error.
func (a *Agent) selectCollectors(collect, exclude []string) (func(string) bool, error) {
	if len(collect) > 0 && len(exclude) > 0 {
		return nil, errors.New("collect[] and exclude[] cannot be combined")
	}
	names := a.runner.Names()
	for _, n := range append(slices.Clone(collect), exclude...) {
		if !slices.Contains(names, n) {
			return nil, fmt.Errorf("collector %q is not enabled (enabled: %s)", n, strings.Join(names, ", "))
		}
	}
	if len(exclude) > 0 {
		return func(name string) bool { return !slices.Contains(exclude, name) }, nil
	}
	return func(name string) bool { return slices.Contains(collect, name) }, nil
}

// Handler returns the agent's HTTP routes. MaxRequests bounds them all
// together (the metrics path with or without collect[], the kubelet-shaped
// routes, the landing page, a 404), but the probes: they do no work, and a
// liveness probe refused under a flood of scrapes would have the kubelet
// restart a healthy agent.
func (a *Agent) Handler() http.Handler {
	routes := http.NewServeMux()
	routes.Handle(a.cfg.MetricsPath, a.handler)
	for path, h := range a.cfg.Handlers {
		routes.Handle(path, h)
	}
	routes.HandleFunc("/{$}", a.landing)
	mux := http.NewServeMux()
	mux.Handle("/", newLimiter(a.cfg.MaxRequests).wrap(routes))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready: listener not started", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

func (a *Agent) landing(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString("<!doctype html><html><head><title>Panoptes agent</title></head><body><h1>Panoptes agent</h1>")
	fmt.Fprintf(&b, "<p><a href=%q>Metrics</a> &middot; <a href=\"/healthz\">healthz</a> &middot; <a href=\"/readyz\">readyz</a></p>", a.cfg.MetricsPath)
	b.WriteString("<p>Enabled collectors: ")
	b.WriteString(html.EscapeString(strings.Join(a.runner.Names(), ", ")))
	fmt.Fprintf(&b, "</p><p>%s</p></body></html>\n", html.EscapeString(version.Get().Version))
	_, _ = w.Write([]byte(b.String()))
}

// Run listens on cfg.Listen and serves until ctx is cancelled, then shuts
// down gracefully. onListen, if not nil, is called with the bound address.
func (a *Agent) Run(ctx context.Context, onListen func(net.Addr)) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	a.ready.Store(true)
	errc := make(chan error, 1)
	// exporter-toolkit reads the web config again for every connection (TLS)
	// and request (users, headers), so a changed file needs no restart.
	webCfg := a.cfg.WebConfigFile
	go func() {
		errc <- web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &webCfg}, a.logger.With("component", "web"))
	}()
	select {
	case err := <-errc:
		if webCfg != "" {
			return fmt.Errorf("serve (web config %s): %w", webCfg, err)
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.ready.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
