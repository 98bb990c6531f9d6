package server

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/http"

	"github.com/panoptes-dev/panoptes/internal/gogc"
	"github.com/panoptes-dev/panoptes/internal/version"
	"github.com/panoptes-dev/panoptes/internal/web"
)

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
	s, err := New(&opts, logger)
	if err != nil {
		return err
	}
	return s.Run(ctx, func(addr net.Addr) {
		logger.Info("listening", "address", addr.String())
		if onListen != nil {
			onListen(addr)
		}
	})
}
