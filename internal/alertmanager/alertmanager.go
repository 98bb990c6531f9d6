package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/api"
	"github.com/prometheus/alertmanager/cluster"
	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/eventrecorder"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/marker"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/nflog"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/provider/mem"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/alertmanager/tracing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/route"
	commonversion "github.com/prometheus/common/version"

	"github.com/panoptes-dev/panoptes/internal/version"
)

// The snapshot files under StoragePath, Alertmanager's names, so that a
// data directory moves between Alertmanager and Panoptes either way.
const (
	nflogFile    = "nflog"
	silencesFile = "silences"
)

// compatOnce guards the matchers' parser of package compat, a process-wide
// setting.
var compatOnce sync.Once

// Alertmanager is one Alertmanager: what New builds is receiving alerts
// through Handler at once; Run runs the maintenance (garbage collection and
// snapshots of silences and the notification log) and, when its context
// ends, stops dispatching and writes the last snapshots.
type Alertmanager struct {
	opts        Options
	logger      *slog.Logger
	externalURL *url.URL
	routePrefix string

	peer        *cluster.Peer
	nflog       *nflog.Log
	silences    *silence.Silences
	alerts      *mem.Alerts
	tracing     *tracing.Manager
	eventRec    eventrecorder.Recorder
	coordinator *config.Coordinator
	reloader    *reloader
	handler     http.Handler

	// cleanups undo what New set up, last first (New on error, Run at the
	// end), as Alertmanager's own app tears down; leaveCluster comes after
	// the last snapshots.
	cleanups     []func()
	leaveCluster func()
	running      atomic.Bool
	stopOnce     sync.Once
}

// stampVersion sets the version Alertmanager's packages report, once.
var stampVersion sync.Once

// New builds an Alertmanager from o: it validates o, loads o.ConfigFile (a
// config that does not load fails with the parser's error and the file's
// name), opens the silences and the notification log under o.StoragePath
// (restoring their snapshots) and starts dispatching. Metrics go to reg
// under Alertmanager's names (alertmanager_*, nflog_*); nil drops them.
// The caller must call Run, which stops what New started.
func New(o *Options, logger *slog.Logger, reg prometheus.Registerer) (*Alertmanager, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	stampVersion.Do(func() {
		// Alertmanager's API v2 reports prometheus/common/version's
		// globals in /api/v2/status; amtool compares them with its own.
		v := version.Get()
		commonversion.Version, commonversion.Revision, commonversion.BuildDate = strings.TrimPrefix(v.Version, "v"), v.Revision, v.BuildDate
	})
	a := &Alertmanager{opts: *o, logger: logger}
	if err := a.setup(reg); err != nil {
		a.stop()
		a.leave()
		return nil, err
	}
	return a, nil
}

func (a *Alertmanager) onStop(f func()) { a.cleanups = append(a.cleanups, f) }

// leave leaves the cluster, if this is a member of one.
func (a *Alertmanager) leave() {
	if a.leaveCluster != nil {
		a.leaveCluster()
		a.leaveCluster = nil
	}
}

// stop runs the cleanups once, last registered first.
func (a *Alertmanager) stop() {
	a.stopOnce.Do(func() {
		for i := len(a.cleanups) - 1; i >= 0; i-- {
			a.cleanups[i]()
		}
	})
}

// setup is Alertmanager v0.34.1's app.setup without the web UI and the
// listener: the long-lived parts (cluster peer, notification log,
// silences, alerts, API) once, and the config-scoped ones (routes,
// receivers, inhibitor, dispatcher) through the reloader.
func (a *Alertmanager) setup(reg prometheus.Registerer) error {
	o, logger := &a.opts, a.logger
	ff, err := featurecontrol.NewFlags(logger, o.EnableFeatures)
	if err != nil {
		return err
	}
	// The matchers' parser (UTF-8 with the classic one as fallback, unless
	// a feature flag says otherwise) is a package variable of compat, set
	// once as Alertmanager's main sets it: the first Alertmanager of the
	// process decides (setting it again would race with parsers running).
	compatOnce.Do(func() { compat.InitFromFlags(logger, ff) })
	m := newMetrics(reg)
	startTime := time.Now()

	if err := os.MkdirAll(o.StoragePath, 0o777); err != nil {
		return fmt.Errorf("create the storage directory (--storage.path): %w", err)
	}
	conf, err := loadConfig(o.ConfigFile)
	if err != nil {
		return err
	}
	a.externalURL, err = externalURL(o.ExternalURL, o.ListenAddress)
	if err != nil {
		return fmt.Errorf("determine the external URL (set --web.external-url): %w", err)
	}
	a.routePrefix = o.RoutePrefix
	if a.routePrefix == "" {
		a.routePrefix = a.externalURL.Path
	}
	a.routePrefix = "/" + strings.Trim(a.routePrefix, "/")

	settleCancel := func() {}
	if o.ClusterListenAddress != "" {
		a.peer, err = cluster.Create(logger.With("component", "cluster"), reg,
			o.ClusterListenAddress, o.ClusterAdvertiseAddress, o.ClusterPeers, true,
			o.ClusterPushPullInterval, o.ClusterGossipInterval, cluster.DefaultTCPTimeout,
			cluster.DefaultResolvePeersTimeout, cluster.DefaultProbeTimeout, cluster.DefaultProbeInterval,
			nil, false, o.ClusterLabel, o.ClusterPeerName)
		if err != nil {
			return fmt.Errorf("start the cluster member on %s: %w", o.ClusterListenAddress, err)
		}
		a.leaveCluster = func() {
			settleCancel()
			if err := a.peer.Leave(10 * time.Second); err != nil {
				logger.Warn("leaving the cluster", "err", err)
			}
		}
		m.clusterEnabled.Set(1)
	}

	if ff.EnableEventRecorder() {
		host, _ := os.Hostname()
		a.eventRec = eventrecorder.NewRecorderFromConfig(conf.EventRecorder, host, logger.With("component", "eventrecorder"), reg)
		a.onStop(func() { _ = a.eventRec.Close() })
	}

	a.nflog, err = nflog.New(nflog.Options{
		SnapshotFile: filepath.Join(o.StoragePath, nflogFile),
		Retention:    o.Retention,
		Logger:       logger.With("component", "nflog"),
		Metrics:      reg,
	})
	if err != nil {
		return fmt.Errorf("open the notification log in %s: %w", o.StoragePath, err)
	}
	if a.peer != nil {
		a.nflog.SetBroadcast(a.peer.AddState("nfl", a.nflog, reg).Broadcast)
	}

	a.silences, err = silence.New(silence.Options{
		SnapshotFile: filepath.Join(o.StoragePath, silencesFile),
		Retention:    o.Retention,
		Limits: silence.Limits{
			MaxSilences:         func() int { return o.MaxSilences },
			MaxSilenceSizeBytes: func() int { return o.MaxSilenceSizeBytes },
		},
		Logger:        logger.With("component", "silences"),
		Metrics:       reg,
		Logging:       o.LogSilences,
		EventRecorder: a.eventRec,
	})
	if err != nil {
		return fmt.Errorf("open the silences in %s: %w", o.StoragePath, err)
	}
	if a.peer != nil {
		a.silences.SetBroadcast(a.peer.AddState("sil", a.silences, reg).Broadcast)
	}
	silencer := silence.NewSilencer(a.silences, logger, a.eventRec)

	// The states are registered: join, and settle in the background (the
	// notification pipeline waits for it).
	if a.peer != nil {
		if err := a.peer.Join(o.ClusterReconnectInterval, o.ClusterReconnectTimeout); err != nil {
			logger.Warn("unable to join the cluster", "err", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.ClusterSettleTimeout)
		settleCancel = cancel
		go a.peer.Settle(ctx, o.ClusterGossipInterval*10)
		a.eventRec.SetClusterPeer(a.peer)
	}

	a.alerts, err = mem.NewAlerts(context.Background(), o.AlertGCInterval, o.PerAlertnameLimit,
		silencer, logger, a.eventRec, reg, ff)
	if err != nil {
		return fmt.Errorf("create the alert store: %w", err)
	}
	a.onStop(a.alerts.Close)

	groupMarker := marker.NewGroupMarker()
	var clusterPeer cluster.ClusterPeer // a nil *Peer in it would read as a cluster
	if a.peer != nil {
		clusterPeer = a.peer
	}
	apih, err := api.New(api.Options{
		Alerts:          a.alerts,
		Silences:        a.silences,
		GroupMutedFunc:  groupMarker.Muted,
		Peer:            clusterPeer,
		Timeout:         o.HTTPTimeout,
		Concurrency:     o.GetConcurrency,
		Logger:          logger.With("component", "api"),
		Registry:        reg,
		RequestDuration: m.requestDuration,
		GroupFunc: func(ctx context.Context, rf func(*dispatch.Route) bool, af func(*alert.Alert, time.Time) bool) (dispatch.AlertGroups, map[model.Fingerprint][]string, error) {
			return a.reloader.groups(ctx, rf, af)
		},
	})
	if err != nil {
		return fmt.Errorf("create the API: %w", err)
	}

	// With a cluster, each member waits its position times the peer
	// timeout before notifying, so that the first one sends and the others
	// find the notification in the log.
	waitFunc := func() time.Duration { return 0 }
	if a.peer != nil {
		peer, timeout := a.peer, o.ClusterPeerTimeout
		waitFunc = func() time.Duration { return time.Duration(peer.Position()) * timeout }
	}
	a.tracing = tracing.NewManager(logger.With("component", "tracing"))
	a.onStop(a.tracing.Stop)

	a.coordinator = config.NewCoordinator(o.ConfigFile, reg, logger.With("component", "configuration"))
	a.reloader = &reloader{
		alerts:            a.alerts,
		apih:              apih,
		dispatcherMetrics: dispatch.NewDispatcherMetrics(false, reg, ff),
		eventRecorder:     a.eventRec,
		externalURL:       a.externalURL,
		groupMarker:       groupMarker,
		logger:            logger,
		metrics:           m,
		notificationLog:   a.nflog,
		peer:              a.peer,
		pipelineBuilder:   notify.NewPipelineBuilder(reg, ff, a.eventRec),
		silencer:          silencer,
		tracing:           a.tracing,
		waitFunc:          waitFunc,
		timeoutFunc: func(d time.Duration) time.Duration {
			return max(d, notify.MinTimeout) + waitFunc()
		},
		startTime:                   startTime,
		dispatchStartDelay:          o.DispatchStartDelay,
		dispatchMaintenanceInterval: o.DispatchMaintenanceInterval,
		retention:                   o.Retention,
	}
	a.onStop(a.reloader.stop)
	a.coordinator.Subscribe(a.reloader.reload)
	if err := a.coordinator.ApplyConfig(conf); err != nil {
		return a.fileError(err)
	}
	go a.tracing.Run()

	a.handler = tracing.Middleware(apih.Register(a.router(m), a.routePrefix))
	logger.Info("alertmanager ready", "config", o.ConfigFile, "storage", o.StoragePath,
		"external_url", a.externalURL.String(), "route_prefix", a.routePrefix, "cluster", a.peer != nil)
	return nil
}

// loadConfig loads an alertmanager.yml with Alertmanager's own parser; its
// errors say what and where, and this says which file.
func loadConfig(path string) (*config.Config, error) {
	conf, err := config.LoadFile(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	return conf, nil
}

func (a *Alertmanager) fileError(err error) error { return fileError(a.opts.ConfigFile, err) }

// fileError names the config file in err unless err already does (the
// file system's errors do).
func fileError(path string, err error) error {
	if strings.Contains(err.Error(), path) {
		return fmt.Errorf("load the alertmanager config: %w", err)
	}
	return fmt.Errorf("load the alertmanager config %s: %w", path, err)
}

// externalURL is the URL this Alertmanager is reached at: external, or
// http://<hostname>:<listen port>/ (Alertmanager's default), with no
// trailing slash on its path.
func externalURL(external, listen string) (*url.URL, error) {
	if external == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, err
		}
		_, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, err
		}
		external = fmt.Sprintf("http://%s/", net.JoinHostPort(host, port))
	}
	u, err := url.Parse(external)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: the scheme must be http or https", external)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	if u.Path != "" && !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
	}
	return u, nil
}

// router serves what is not the API under the route prefix: the landing
// page, the lifecycle endpoints of Alertmanager's httpserver package and,
// for the standalone role, /metrics.
func (a *Alertmanager) router(m *metrics) *route.Router {
	r := route.New().WithInstrumentation(m.instrumentHandler)
	if p := a.routePrefix; p != "/" {
		r.Get("/", func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, p+"/", http.StatusFound)
		})
		r = r.WithPrefix(p)
	}
	r.Get("/", a.landing)
	r.Post("/-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Reload(); err != nil {
			http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
		}
	})
	ok := func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusOK)
		if req.Method != http.MethodHead {
			_, _ = fmt.Fprint(w, "OK")
		}
	}
	for _, p := range []string{"/-/healthy", "/-/ready"} {
		r.Get(p, ok)
		r.Head(p, ok)
	}
	if a.opts.Gatherer != nil {
		r.Get("/metrics", promhttp.HandlerFor(a.opts.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	}
	return r
}

var landingPage = template.Must(template.New("landing").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Panoptes Alertmanager</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 2em auto">
<h1>Panoptes Alertmanager</h1>
<p>Alertmanager's routing, grouping, inhibition, silences and receivers ({{.Version}}), configured by <code>{{.Config}}</code>.
Use <code>amtool --alertmanager.url={{.URL}}</code>, or the API:</p>
<ul>
<li><a href="{{.Prefix}}api/v2/alerts">api/v2/alerts</a> (POST: send alerts, as Prometheus does)</li>
<li><a href="{{.Prefix}}api/v2/alerts/groups">api/v2/alerts/groups</a></li>
<li><a href="{{.Prefix}}api/v2/silences">api/v2/silences</a></li>
<li><a href="{{.Prefix}}api/v2/receivers">api/v2/receivers</a></li>
<li><a href="{{.Prefix}}api/v2/status">api/v2/status</a> (the config, the cluster)</li>
<li><a href="{{.Prefix}}-/healthy">-/healthy</a>, <a href="{{.Prefix}}-/ready">-/ready</a>, -/reload (POST)</li>
{{if .Metrics}}<li><a href="{{.Prefix}}metrics">metrics</a></li>{{end}}
</ul>
</body></html>
`))

func (a *Alertmanager) landing(w http.ResponseWriter, _ *http.Request) {
	prefix := strings.TrimSuffix(a.routePrefix, "/") + "/"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = landingPage.Execute(w, map[string]any{
		"Version": version.Get().Version,
		"Config":  a.opts.ConfigFile,
		"URL":     a.externalURL.String(),
		"Prefix":  prefix,
		"Metrics": a.opts.Gatherer != nil,
	})
}

// Handler serves the Alertmanager under its route prefix: the API v2
// (<prefix>/api/v2/...), /-/healthy, /-/ready, POST /-/reload, a landing
// page at <prefix>/, and /metrics when Options.Gatherer is set. Requests
// keep their whole path, prefix included, so it mounts on a mux at
// "<prefix>/" as it is.
func (a *Alertmanager) Handler() http.Handler { return a.handler }

// ExternalURL is the URL this Alertmanager is reached at, as its
// notifications link to it.
func (a *Alertmanager) ExternalURL() *url.URL { u := *a.externalURL; return &u }

// Run runs the maintenance of silences and the notification log (garbage
// collection and snapshots every MaintenanceInterval) until ctx ends, then
// stops the dispatcher, writes the last snapshots to StoragePath and
// leaves the cluster. It returns once that is done; an Alertmanager runs
// once.
func (a *Alertmanager) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("BUG: alertmanager: Run called twice")
	}
	stopc := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		a.nflog.Maintenance(a.opts.MaintenanceInterval, filepath.Join(a.opts.StoragePath, nflogFile), stopc, nil)
	})
	wg.Go(func() {
		a.silences.Maintenance(a.opts.MaintenanceInterval, filepath.Join(a.opts.StoragePath, silencesFile), stopc, nil)
	})
	<-ctx.Done()
	a.logger.Info("alertmanager stopping: last snapshots of the silences and the notification log", "storage", a.opts.StoragePath)
	// Alertmanager's order: the dispatcher and the alerts stop, the
	// maintenance loops write their final snapshots, the cluster is left.
	a.stop()
	close(stopc)
	wg.Wait()
	a.leave()
	return nil
}

// Reload reads the config file again and applies it; a config that does
// not load, or whose receivers or templates do not build, is rejected as a
// whole and the running one stays (alertmanager_config_last_reload_successful
// turns 0 and the error is logged and returned).
func (a *Alertmanager) Reload() error {
	if err := a.coordinator.Reload(); err != nil {
		return a.fileError(err)
	}
	return nil
}
