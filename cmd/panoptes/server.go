//go:build !agentonly

package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/server"
	"github.com/panoptes-dev/panoptes/internal/version"
	"github.com/panoptes-dev/panoptes/internal/web"
)

// serverOptions are the server's flags, under Prometheus's names so that a
// Prometheus Deployment's arguments work unchanged.
type serverOptions struct {
	opts          server.Options
	retentionTime string
	retentionSize string
	minFree       string
	gogc          int
	dashboardsDir string
}

func (o *serverOptions) addFlags(fs *pflag.FlagSet, listen, storage string) {
	fs.StringVar(&o.opts.ConfigFile, "config.file", "", "Prometheus configuration file (global, scrape_configs with relabelling, remote_write, ...); an existing prometheus.yml works unchanged. Empty: no scrape jobs of its own. Reloaded on SIGHUP and POST /-/reload; a config that does not load is rejected and the running one stays.")
	fs.StringVar(&o.opts.ListenAddress, "web.listen-address", listen, "Address to serve the API and UI on.")
	fs.StringVar(&o.opts.ListenAddress, "listen", listen, "Alias of --web.listen-address.")
	fs.StringVar(&o.opts.ExternalURL, "web.external-url", "", "URL under which the server is reached from outside (for links); derived from the listen address when empty.")
	fs.BoolVar(&o.opts.EnableRemoteWriteReceiver, "web.enable-remote-write-receiver", true, "Accept Prometheus remote_write (1.0 and 2.0) on POST /api/v1/write, so that agents and other servers can push.")
	fs.BoolVar(&o.opts.EnableLifecycle, "web.enable-lifecycle", true, "Serve POST /-/reload.")
	fs.BoolVar(&o.opts.EnableAdminAPI, "web.enable-admin-api", false, "Serve the TSDB admin endpoints under /api/v1/admin (delete series, snapshot).")
	fs.StringVar(&o.opts.StoragePath, "storage.tsdb.path", storage, "Directory of the time-series database (write-ahead log, head chunks, blocks).")
	fs.StringVar(&o.opts.StoragePath, "storage.path", storage, "Alias of --storage.tsdb.path.")
	fs.StringVar(&o.retentionTime, "storage.tsdb.retention.time", "", "How long to keep samples (e.g. 15d, 12h). Default 15d, unless only --storage.tsdb.retention.size is given.")
	fs.StringVar(&o.retentionSize, "storage.tsdb.retention.size", "", "Most bytes of blocks to keep (e.g. 512MB, 10GB); the oldest blocks go first. Default: no size limit.")
	fs.StringVar(&o.minFree, "storage.tsdb.min-free-space", "64MB", "Stop ingesting (scrapes and remote_write fail with an error that says why) while the storage's file system has less free than this, and resume by itself when space is freed: a write-ahead log that meets a full disk can be torn and lose data on the next start. 0 disables.")
	fs.BoolVar(&o.opts.WALCompression, "storage.tsdb.wal-compression", true, "Compress the write-ahead log (snappy).")
	fs.DurationVar(&o.opts.QueryTimeout, "query.timeout", 2*time.Minute, "Longest a query may run before it is cut off with errorType \"timeout\".")
	fs.IntVar(&o.opts.QueryMaxSamples, "query.max-samples", 50_000_000, "Most samples a query may hold in memory at once; more fails it with errorType \"execution\".")
	fs.IntVar(&o.opts.QueryMaxConcurrency, "query.max-concurrency", 20, "Most queries running at once; more wait.")
	fs.DurationVar(&o.opts.LookbackDelta, "query.lookback-delta", 5*time.Minute, "How far back an instant vector selector looks for the latest sample.")
	fs.StringVar(&o.dashboardsDir, "web.dashboards-dir", "", "Directory of your own UI dashboards (*.yaml, *.yml, *.json in the format of web/dashboards/README.md), shown beside the built-in ones; a file with a built-in dashboard's id replaces it. Read again on every page load.")
	fs.IntVar(&o.gogc, "runtime.gogc", 50, "Garbage collection target percentage (GOGC). 50 keeps the heap, and RSS per series, smaller than Prometheus's 75 for a few percent of CPU (bench/server.sh); the GOGC environment variable, when set, takes precedence.")
}

// resolve parses the flags that need it and records every flag for
// /api/v1/status/flags.
func (o *serverOptions) resolve(fs *pflag.FlagSet) error {
	if o.retentionTime != "" {
		d, err := model.ParseDuration(o.retentionTime)
		if err != nil {
			return fmt.Errorf("--storage.tsdb.retention.time: %w", err)
		}
		o.opts.RetentionTime = time.Duration(d)
	}
	if o.retentionSize != "" {
		b, err := units.ParseBase2Bytes(o.retentionSize)
		if err != nil {
			return fmt.Errorf("--storage.tsdb.retention.size: %q is not a size like 512MB or 10GB", o.retentionSize)
		}
		o.opts.RetentionSize = int64(b)
	}
	if o.minFree != "" && o.minFree != "0" {
		b, err := units.ParseBase2Bytes(o.minFree)
		if err != nil {
			return fmt.Errorf("--storage.tsdb.min-free-space: %q is not a size like 64MB", o.minFree)
		}
		o.opts.MinFreeSpace = int64(b)
	}
	if _, _, err := net.SplitHostPort(o.opts.ListenAddress); err != nil {
		return fmt.Errorf("--web.listen-address: %w", err)
	}
	o.opts.Flags = map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) {
		o.opts.Flags[f.Name] = f.Value.String()
	})
	if _, set := os.LookupEnv("GOGC"); !set && o.gogc > 0 {
		debug.SetGCPercent(o.gogc)
		// As Prometheus does, so that /api/v1/status/runtimeinfo shows it.
		_ = os.Setenv("GOGC", strconv.Itoa(o.gogc))
	}
	return nil
}

// run starts the server and blocks until the command's context ends.
func (o *serverOptions) run(cmd *cobra.Command, logger *slog.Logger, onListen func(net.Addr)) error {
	ui, err := web.New(web.Options{DashboardsDir: o.dashboardsDir, Logger: logger.With("component", "web")})
	if err != nil {
		return err
	}
	if o.opts.Handlers == nil {
		o.opts.Handlers = map[string]http.Handler{}
	}
	o.opts.Handlers["/"] = ui
	s, err := server.New(o.opts)
	if err != nil {
		return err
	}
	return s.Run(cmd.Context(), onListen)
}

// selfRegistry is the server's own metrics: Go runtime, process, build, and
// what the prometheus/prometheus packages register (prometheus_tsdb_*,
// prometheus_engine_*, prometheus_remote_storage_*, ...). Prometheus's
// names are kept: the dashboards and alerts written for them work.
func selfRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		version.NewCollector(),
	)
	return reg
}

func newServerCommand(logOpts *logOptions) *cobra.Command {
	o := &serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Scrape, store and query metrics on :9090, compatible with Prometheus",
		Long: `Scrape targets, store their samples in a local time-series database, answer
PromQL over the Prometheus HTTP API v1 and forward to remote_write endpoints
(Thanos, Mimir, Cortex, VictoriaMetrics) — built on Prometheus's own packages,
so an existing prometheus.yml, its flags, and the clients of its API work
unchanged.

Endpoints:
  /               the web UI: dashboards (host, containers, Kubernetes, your
                  own from --web.dashboards-dir), Explore, targets, status
  /api/v1/...     the Prometheus HTTP API (query, query_range, series, labels,
                  metadata, targets, status/*, format_query, write, ...)
  /federate       the latest samples of match[] selectors, for federation
  /-/reload       POST: reload the config file (also on SIGHUP)
  /-/healthy      liveness
  /-/ready        readiness
  /metrics        the server's own metrics`,
		Example: `  # Scrape what prometheus.yml says, keep 30 days in ./data:
  panoptes server --config.file=prometheus.yml --storage.tsdb.retention.time=30d

  # Only receive remote_write from agents, on loopback:
  panoptes server --web.listen-address=127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logOpts.logger()
			if err != nil {
				return err
			}
			if err := o.resolve(cmd.Flags()); err != nil {
				return err
			}
			reg := selfRegistry()
			o.opts.Registerer, o.opts.Gatherer, o.opts.Logger = reg, reg, logger
			return o.run(cmd, logger, func(addr net.Addr) {
				logger.Info("listening", "address", addr.String())
			})
		},
	}
	o.addFlags(cmd.Flags(), ":9090", "data/")
	return cmd
}

// allInOne is `panoptes` with no subcommand: this host's collectors and the
// server in one process, the collectors appended straight into the storage.
type allInOne struct {
	server   serverOptions
	agent    agentOptions
	interval time.Duration
}

func (a *allInOne) addFlags(fs *pflag.FlagSet) {
	a.server.addFlags(fs, "127.0.0.1:9090", "data")
	a.agent.addCollectorFlags(fs)
	fs.DurationVar(&a.interval, "collector.interval", 15*time.Second, "How often this host's collectors and the server's own metrics are collected into the storage (targets of --config.file follow its scrape_interval).")
}

func (a *allInOne) run(cmd *cobra.Command, logOpts *logOptions) error {
	logger, err := logOpts.logger()
	if err != nil {
		return err
	}
	fs := cmd.Flags()
	if err := a.server.resolve(fs); err != nil {
		return err
	}
	named, names, own, _, err := a.agent.buildCollectors(fs, logger)
	if err != nil {
		return err
	}
	self := selfRegistry()
	self.MustRegister(own...)
	hostReg := prometheus.NewRegistry()
	hostReg.MustRegister(collector.NewRunner(named, a.agent.agent.CollectorTimeout, logger))
	host, _ := os.Hostname()
	a.server.opts.Registerer, a.server.opts.Gatherer, a.server.opts.Logger = self, self, logger
	a.server.opts.InProcess = []server.InProcessTarget{
		{Job: "node", Instance: host, Gatherer: hostReg, Interval: a.interval},
		{Job: "panoptes", Gatherer: self, Interval: a.interval},
	}
	logger.Info("starting panoptes (all in one)", "collectors", strings.Join(names, ","),
		"storage", a.server.opts.StoragePath, "config", a.server.opts.ConfigFile)
	return a.server.run(cmd, logger, func(addr net.Addr) {
		logger.Info("listening", "address", addr.String())
		fmt.Fprintf(cmd.ErrOrStderr(), "\nPanoptes is monitoring this host. Open http://%s/\n\n", browsable(addr))
	})
}

// browsable turns a bound address into one a browser can open.
func browsable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
