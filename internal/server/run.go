package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	toolkitweb "github.com/prometheus/exporter-toolkit/web"

	"github.com/panoptes-dev/panoptes/internal/gogc"
	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/server/kuberules"
	"github.com/panoptes-dev/panoptes/internal/server/monitors"
	"github.com/panoptes-dev/panoptes/internal/version"
	"github.com/panoptes-dev/panoptes/internal/web"
)

// kubernetesRulesSyncWait is how long the server waits for the first list
// of PrometheusRule objects (and of the monitors) before it starts without
// them.
const kubernetesRulesSyncWait = 30 * time.Second

// Run is the server role: it validates o, sets GOGC, serves the API with
// the web UI at / and runs until ctx ends. onListen, when not nil, is called
// with the bound address once it listens.
func Run(ctx context.Context, o *Options, logger *slog.Logger, onListen func(net.Addr)) error {
	if err := o.Validate(); err != nil {
		return err
	}
	gogc.Apply(o.GOGC)
	opts := *o
	if opts.Registerer == nil || opts.Gatherer == nil {
		// The server's own metrics: Go runtime, process and build, beside
		// what the prometheus/prometheus packages register
		// (prometheus_tsdb_*, prometheus_engine_*, ...) under Prometheus's
		// names, so that the dashboards and alerts written for them work.
		reg := version.NewRegistry()
		opts.Registerer, opts.Gatherer = reg, reg
	}
	ui, err := web.New(web.Options{DashboardsDir: opts.DashboardsDir, Logger: logger.With("component", "web")})
	if err != nil {
		return err
	}
	opts.Handlers = maps.Clone(opts.Handlers)
	if opts.Handlers == nil {
		opts.Handlers = map[string]http.Handler{}
	}
	opts.Handlers["/"] = ui
	if opts.WebConfigFile != "" {
		// The listener reads the web config for every connection and
		// request; SIGHUP and /-/reload check it, so that a broken edit
		// is logged and fails the reload instead of only failing requests.
		path := opts.WebConfigFile
		opts.Reloaders = append(slices.Clone(opts.Reloaders), func() error {
			if err := toolkitweb.Validate(path); err != nil {
				return fmt.Errorf("web config %s: %w", path, err)
			}
			return nil
		})
	}

	// PrometheusRule objects, and ServiceMonitor, PodMonitor and Probe
	// objects: the first lists are waited for (a while, together), so that
	// the first rule load has the rules, and their alerts' state is
	// restored, and the first scrape config has the jobs; every change
	// afterwards reloads.
	changed := make(chan struct{}, 1)
	wctx, cancelWatchers := context.WithCancel(ctx)
	defer cancelWatchers()
	var waiting []syncWait
	if opts.KubernetesRules {
		w, err := kuberules.New(&opts.Kubernetes, logger.With("component", "prometheusrule"), opts.Registerer)
		if err != nil {
			return option.Rename(err, func(f string) (string, bool) { return "Kubernetes." + f, true }, nil)
		}
		runWatcher(wctx, w, changed)
		waiting = append(waiting, syncWait{w, "PrometheusRule objects not listed yet; starting without them, they load when listed"})
		opts.RuleSources = append(opts.RuleSources, w)
	}
	if opts.KubernetesMonitors {
		w, err := monitors.New(&opts.Monitors, logger.With("component", "monitors"), opts.Registerer)
		if err != nil {
			return option.Rename(err, func(f string) (string, bool) { return "Monitors." + f, true }, nil)
		}
		runWatcher(wctx, w, changed)
		waiting = append(waiting, syncWait{w, "ServiceMonitor, PodMonitor and Probe objects not listed yet; starting without their jobs, they apply when listed"})
		opts.ScrapeSources = append(opts.ScrapeSources, w)
	}
	deadline := time.Now().Add(kubernetesRulesSyncWait)
	for _, sw := range waiting {
		for !sw.w.Synced() && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
		}
		if !sw.w.Synced() {
			logger.Warn(sw.notListed, "waited", kubernetesRulesSyncWait)
		}
	}
	s, err := New(&opts, logger)
	if err != nil {
		return err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				_ = s.Reload()
			}
		}
	}()
	return s.Run(ctx, func(addr net.Addr) {
		logger.Info("listening", "address", addr.String())
		if onListen != nil {
			onListen(addr)
		}
	})
}

// kubeWatcher is a watcher of the cluster's objects (kuberules, monitors).
type kubeWatcher interface {
	Run(ctx context.Context, onChange func()) error
	Synced() bool
}

// syncWait is a watcher whose first list Run waits for, and what it logs
// when the list is not in by then.
type syncWait struct {
	w         kubeWatcher
	notListed string
}

// runWatcher runs w until ctx is done, signalling changed (without
// blocking) on every change.
func runWatcher(ctx context.Context, w kubeWatcher, changed chan<- struct{}) {
	go func() {
		_ = w.Run(ctx, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
}
