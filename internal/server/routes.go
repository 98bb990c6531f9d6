package server

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/grafana/regexp"
	"github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/route"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/tsdb"
	apiv1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/panoptes-dev/panoptes/internal/version"
)

// routes builds the HTTP surface: Prometheus's API v1 (its own package, so
// paths, parameters and JSON are Prometheus's), the lifecycle and health
// endpoints, /federate, the server's own /metrics and the extra routes,
// all behind the webGuard (cross-origin writes, remote write's headers and
// limits, the CPU profile).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	api := s.newAPI()
	r := route.New()
	api.Register(r)
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", compressRanges(r)))
	mux.Handle(BatchRangePath, batchRanges(r))

	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Panoptes Server is Healthy.")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Panoptes Server is Ready.")
	})
	mux.HandleFunc("/-/reload", s.handleReload)
	mux.Handle("/federate", &federation{
		queryable: s.db,
		lookback:  s.opts.LookbackDelta,
		external:  func() map[string]string { return s.currentConfig().GlobalConfig.ExternalLabels.Map() },
		logger:    s.logger,
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{ErrorLog: nil}))
	// Profiles, as Prometheus serves them: what bench/server.sh's
	// PROFILE_DIR and `go tool pprof` read. The CPU profile and the trace
	// need --web.enable-pprof (webGuard).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if am := s.opts.LocalAlertmanager; am != nil {
		mux.Handle(LocalAlertmanagerPrefix+"/", am)
	}
	for pattern, h := range s.opts.Handlers {
		mux.Handle(pattern, h)
	}
	if _, ok := s.opts.Handlers["/"]; !ok {
		mux.HandleFunc("/{$}", s.landing)
	}
	return newWebGuard(mux, &s.opts, s.externalURL(), s.appendable.g, s.opts.Registerer)
}

// handleReload is POST /-/reload, as Prometheus's --web.enable-lifecycle.
func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	if !s.opts.EnableLifecycle {
		http.Error(w, "Lifecycle API is not enabled.", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "This endpoint requires a POST or PUT request.", http.StatusMethodNotAllowed)
		return
	}
	if err := s.Reload(); err != nil {
		http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "config reloaded")
}

func (s *Server) landing(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html><head><title>Panoptes</title></head><body><h1>Panoptes server</h1>
<p>%s</p><ul>
<li><a href="api/v1/targets">api/v1/targets</a></li>
<li><a href="api/v1/status/buildinfo">api/v1/status/buildinfo</a></li>
<li><a href="api/v1/query?query=up">api/v1/query?query=up</a></li>
<li><a href="metrics">metrics</a></li>
</ul></body></html>`, html.EscapeString(version.Get().Version))
}

// newAPI wires prometheus/web/api/v1 to our parts.
func (s *Server) newAPI() *apiv1.API {
	externalURL := s.externalURL()
	targets := &targetRetriever{scrape: s.scrape, inProcess: s.inProcess}
	vi := version.Get()
	build := &apiv1.PrometheusVersion{
		Version:   vi.Version,
		Revision:  vi.Revision,
		Branch:    "",
		BuildUser: "",
		BuildDate: vi.BuildDate,
		GoVersion: vi.GoVersion,
	}
	flags := s.opts.Flags
	if flags == nil {
		flags = map[string]string{}
	}
	api := apiv1.NewAPI(
		s.engine,
		s.fanout,
		s.appendable, // remote_write receiver; only used when rwEnabled
		s.db,
		func(context.Context) apiv1.ScrapePoolsRetriever { return targets },
		func(context.Context) apiv1.TargetRetriever { return targets },
		func(context.Context) apiv1.AlertmanagerRetriever { return s.notifier },
		func() config.Config { return *s.currentConfig() },
		flags,
		apiv1.GlobalURLOptions{ListenAddress: s.opts.ListenAddress, Host: externalURL.Host, Scheme: externalURL.Scheme},
		func(f http.HandlerFunc) http.HandlerFunc { return f },
		adminStats{s.db, s.dbStats},
		s.opts.StoragePath,
		s.opts.EnableAdminAPI,
		false, 0, // search API
		s.logger.With("component", "api"),
		func(context.Context) apiv1.RulesRetriever { return s.rules },
		5e7, 10, 1048576, // remote read: sample limit, concurrency, bytes per frame
		false,        // not agent mode
		noCORSOrigin, // no other site's page may read the answers
		s.runtimeInfo,
		build,
		nil, nil, // notifications
		s.opts.Gatherer,
		s.opts.Registerer,
		nil, // default stats renderer
		s.opts.EnableRemoteWriteReceiver,
		remote.MessageTypes{remote.WriteV1MessageType, remote.WriteV2MessageType},
		false, false, false, // OTLP receiver
		s.opts.LookbackDelta,
		false, // type and unit labels
		false, // append metadata
		nil,   // error code override
		nil,   // feature registry
		apiv1.OpenAPIOptions{ExternalURL: externalURL.String(), Version: vi.Version},
		parser.NewParser(parser.Options{}),
		false, // query cost
		s.opts.QueryTimeout,
	)
	// After the JSON codec, which stays the default: the web UI's compact
	// matrices, for the clients that ask for them.
	api.InstallCodec(matrixCodec{})
	return api
}

// noCORSOrigin matches no Origin: the API grants no other site's page the
// Access-Control-Allow-Origin to read its answers (Prometheus's
// --web.cors.origin defaults to every site). A nil one would panic on any
// request with an Origin header.
var noCORSOrigin = regexp.MustCompile(`^$`)

func (s *Server) externalURL() *url.URL {
	if s.opts.ExternalURL != "" {
		if u, err := url.Parse(s.opts.ExternalURL); err == nil {
			return u
		}
	}
	host, port, err := net.SplitHostPort(s.opts.ListenAddress)
	if err != nil {
		return &url.URL{Scheme: "http", Host: s.opts.ListenAddress, Path: "/"}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host, _ = os.Hostname()
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/"}
}

func (s *Server) runtimeInfo() (apiv1.RuntimeInfo, error) {
	cwd, _ := os.Getwd()
	host, _ := os.Hostname()
	info := apiv1.RuntimeInfo{
		StartTime:      s.birth,
		CWD:            cwd,
		Hostname:       host,
		ServerTime:     time.Now().UTC(),
		GoroutineCount: runtime.NumGoroutine(),
		GOMAXPROCS:     runtime.GOMAXPROCS(0),
		GOMEMLIMIT:     debug.SetMemoryLimit(-1),
		GOGC:           os.Getenv("GOGC"),
		GODEBUG:        os.Getenv("GODEBUG"),
	}
	var parts []string
	if s.limits.retention != 0 {
		parts = append(parts, model.Duration(s.limits.retention).String())
	}
	if s.limits.retentionSize != 0 {
		parts = append(parts, fmt.Sprintf("%dB", s.limits.retentionSize))
	}
	info.StorageRetention = strings.Join(parts, " or ")
	mfs, err := s.opts.Gatherer.Gather()
	if err != nil {
		return info, fmt.Errorf("gather runtime status: %w", err)
	}
	for _, mf := range mfs {
		v := 0.0
		if ms := mf.GetMetric(); len(ms) > 0 {
			v = ms[0].GetGauge().GetValue() + ms[0].GetCounter().GetValue()
		}
		switch mf.GetName() {
		case "prometheus_tsdb_wal_corruptions_total":
			info.CorruptionCount = int64(v)
		case "prometheus_config_last_reload_successful":
			info.ReloadConfigSuccess = v != 0
		case "prometheus_config_last_reload_success_timestamp_seconds":
			info.LastConfigTime = time.Unix(int64(v), 0).UTC()
		}
	}
	return info, nil
}

// targetRetriever adds the in-process targets to the scrape manager's.
type targetRetriever struct {
	scrape    *scrape.Manager
	inProcess *inProcessManager
}

func (t *targetRetriever) ScrapePools() []string {
	pools := t.scrape.ScrapePools()
	for job := range t.inProcess.active() {
		pools = append(pools, job)
	}
	return pools
}

func (t *targetRetriever) TargetsActive() map[string][]*scrape.Target {
	out := t.scrape.TargetsActive()
	for job, ts := range t.inProcess.active() {
		out[job] = append(out[job], ts...)
	}
	return out
}

func (t *targetRetriever) TargetsDropped() map[string][]*scrape.Target {
	return t.scrape.TargetsDropped()
}

func (t *targetRetriever) TargetsDroppedCounts() map[string]int {
	return t.scrape.TargetsDroppedCounts()
}

func (t *targetRetriever) ScrapePoolConfig(job string) (*config.ScrapeConfig, error) {
	if sc, ok := t.inProcess.scrapeConfig(job); ok {
		return sc, nil
	}
	return t.scrape.ScrapePoolConfig(job)
}

// adminStats gives the API the TSDB's statistics and admin operations.
type adminStats struct {
	db    *tsdb.DB
	stats *tsdb.DBStats
}

func (a adminStats) CleanTombstones() error { return a.db.CleanTombstones() }
func (a adminStats) Delete(ctx context.Context, mint, maxt int64, ms ...*labels.Matcher) error {
	return a.db.Delete(ctx, mint, maxt, ms...)
}
func (a adminStats) Snapshot(dir string, withHead bool) error { return a.db.Snapshot(dir, withHead) }
func (a adminStats) Stats(name string, limit int) (*tsdb.Stats, error) {
	return a.db.Head().Stats(name, limit), nil
}
func (a adminStats) WALReplayStatus() (tsdb.WALReplayStatus, error) {
	return a.stats.Head.WALReplayStatus.GetWALReplayStatus(), nil
}
func (a adminStats) BlockMetas() ([]tsdb.BlockMeta, error) { return a.db.BlockMetas(), nil }
