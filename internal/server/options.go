package server

import (
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	toolkitweb "github.com/prometheus/exporter-toolkit/web"

	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/server/kuberules"
	"github.com/panoptes-dev/panoptes/internal/server/monitors"
)

// Options configure a Server. NewOptions holds their defaults, Prometheus's
// where Prometheus has the option; cmd/panoptes binds them to Prometheus's
// flag names, so that a Prometheus Deployment's arguments work unchanged.
type Options struct {
	// ConfigFile is a Prometheus-format YAML file; empty means no scrape
	// jobs of its own (in-process targets and remote_write still work).
	ConfigFile string
	// ListenAddress is the TCP address (host:port) of the HTTP API and UI.
	ListenAddress string
	// ExternalURL is where users reach the server, for links; empty derives
	// it from the listen address.
	ExternalURL string
	// WebConfigFile is an exporter-toolkit web config file (TLS, client
	// certificates, bcrypt basic auth, response headers) for the listener,
	// every route included; empty serves plain HTTP. Read again for every
	// connection and request; SIGHUP and /-/reload check it.
	WebConfigFile string
	// StoragePath is the TSDB directory (WAL, head chunks, blocks).
	StoragePath string
	// RetentionTime is how long samples are kept, a Prometheus duration
	// ("15d", "12h"); empty means 15d unless RetentionSize is set.
	RetentionTime string
	// RetentionSize is the most bytes of blocks kept ("512MB", "10GB"; the
	// units are powers of 2, as Prometheus's); the oldest blocks go first.
	// Empty means no size limit.
	RetentionSize string
	// MinFreeSpace stops ingestion while the storage's file system has less
	// free than this ("64MB", see diskGuard); "0" or empty disables the
	// guard.
	MinFreeSpace string
	// WALCompression compresses the write-ahead log with snappy.
	WALCompression bool

	// QueryTimeout cuts off a query that runs longer.
	QueryTimeout time.Duration
	// QueryMaxSamples is the most samples one query may hold in memory.
	QueryMaxSamples int
	// QueryMaxConcurrency is the most queries running at once.
	QueryMaxConcurrency int
	// LookbackDelta is how far back an instant vector selector looks.
	LookbackDelta time.Duration

	// EnableRemoteWriteReceiver serves POST /api/v1/write. Off by default,
	// as in Prometheus: anyone who reaches the port could write.
	EnableRemoteWriteReceiver bool
	// RemoteWriteMaxConcurrentRequests is the most remote-write requests
	// handled at once; more are answered 503 with Retry-After, which
	// senders retry. Each request may hold up to 32 MiB decoded (plus its
	// compressed body), so this bounds the receiver's memory.
	RemoteWriteMaxConcurrentRequests int
	// EnableLifecycle serves POST /-/reload. Off by default, as in
	// Prometheus.
	EnableLifecycle bool
	// EnableAdminAPI serves the TSDB admin endpoints (delete series,
	// snapshot, clean tombstones).
	EnableAdminAPI bool
	// EnablePprof serves /debug/pprof/profile and /debug/pprof/trace,
	// which make the process spend CPU for as long as the caller asks; the
	// other profiles (heap, goroutine, ...) are served regardless, as
	// Prometheus serves them.
	EnablePprof bool
	// ReadTimeout is the longest the server waits for a whole request,
	// body included (http.Server's ReadTimeout); 0 means no limit.
	ReadTimeout time.Duration
	// MaxConnections is the most connections open at once; the listener
	// stops accepting beyond it (netutil.LimitListener, as Prometheus).
	// 0 means no limit.
	MaxConnections int

	// RulesAlertForOutageTolerance is the longest outage after which the
	// "for" state of alerts is still restored at start-up (from
	// ALERTS_FOR_STATE).
	RulesAlertForOutageTolerance time.Duration
	// RulesAlertForGracePeriod is the least time left of a restored "for".
	RulesAlertForGracePeriod time.Duration
	// RulesAlertResendDelay is the least time between two sends of the
	// same firing alert to the Alertmanagers.
	RulesAlertResendDelay time.Duration
	// RulesMaxConcurrentEvals is the most independent rules evaluated at
	// once.
	RulesMaxConcurrentEvals int64
	// BuiltinRules loads the rules that come with Panoptes (package
	// github.com/panoptes-dev/panoptes/rules) beside the config's
	// rule_files; a rule group of the user's with a built-in group's name
	// replaces that group.
	BuiltinRules bool
	// KubernetesRules also loads the rules of the cluster's
	// monitoring.coreos.com/v1 PrometheusRule objects that Kubernetes
	// selects, and follows their changes.
	KubernetesRules bool
	// Kubernetes selects the PrometheusRule objects.
	Kubernetes kuberules.Options
	// KubernetesMonitors also scrapes what the cluster's
	// monitoring.coreos.com/v1 ServiceMonitor, PodMonitor and Probe
	// objects declare, as jobs that prometheus-operator would generate,
	// appended to the config file's scrape_configs.
	KubernetesMonitors bool
	// Monitors selects those objects.
	Monitors monitors.Options
	// NotificationQueueCapacity is how many alerts wait for the
	// Alertmanagers; more are dropped (prometheus_notifications_dropped_total).
	NotificationQueueCapacity int
	// NotificationBatchSize is the most alerts sent in one request.
	NotificationBatchSize int
	// NotificationDrainOnShutdown sends the queued alerts before exiting.
	NotificationDrainOnShutdown bool

	// DashboardsDir holds the user's UI dashboards, beside the built-in
	// ones (Run serves the UI); empty means the built-in ones only.
	DashboardsDir string
	// GOGC is the garbage collector's target percentage that Run sets (see
	// gogc.Apply); 0 keeps Go's default.
	GOGC int

	// The fields below are not options: the caller wires them in.

	// InProcess are targets collected inside this process.
	InProcess []InProcessTarget
	// Handlers are extra routes (the UI), by pattern of http.ServeMux.
	Handlers map[string]http.Handler
	// LocalAlertmanager, when not nil, is an Alertmanager in this process
	// (the all-in-one's): it is served under LocalAlertmanagerPrefix and
	// receives the alerts, without a URL in the config.
	LocalAlertmanager http.Handler
	// Reloaders are reloaded with the config (SIGHUP, /-/reload), after
	// it: the in-process Alertmanager's config. An error fails the reload.
	Reloaders []func() error
	// BuiltinRuleFiles replaces the built-in rule files (tests); nil means
	// the ones that come with Panoptes.
	BuiltinRuleFiles fs.FS
	// RuleSources add rule files that are not on disk (PrometheusRule
	// objects); they are read again on every reload.
	RuleSources []RuleSource
	// ScrapeSources add scrape jobs that are not in the config file
	// (ServiceMonitor objects, ...); they are read again on every reload.
	ScrapeSources []ScrapeSource
	// Flags are the command line flags, shown by /api/v1/status/flags.
	Flags map[string]string
	// Registerer and Gatherer hold the server's own metrics; the
	// prometheus/prometheus packages register theirs with Registerer. Nil
	// means a registry of their own (Run's: version.NewRegistry).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// NewOptions returns the defaults: Prometheus's (port 9090, ./data/, 15 days
// of retention, its query and HTTP limits, the remote_write receiver and
// /-/reload off), at most 2×GOMAXPROCS (and at least 10) remote-write
// requests at once, and GOGC 50, which keeps the heap, and RSS per series,
// smaller than Prometheus's 75 for a few percent of CPU (bench/server.sh).
func NewOptions() *Options {
	return &Options{
		ListenAddress:       ":9090",
		StoragePath:         "data/",
		MinFreeSpace:        "64MB",
		WALCompression:      true,
		QueryTimeout:        2 * time.Minute,
		QueryMaxSamples:     50_000_000,
		QueryMaxConcurrency: 20,
		LookbackDelta:       5 * time.Minute,
		GOGC:                50,

		RemoteWriteMaxConcurrentRequests: max(10, 2*runtime.GOMAXPROCS(0)),
		ReadTimeout:                      5 * time.Minute,
		MaxConnections:                   512,

		RulesAlertForOutageTolerance: time.Hour,
		RulesAlertForGracePeriod:     10 * time.Minute,
		RulesAlertResendDelay:        time.Minute,
		RulesMaxConcurrentEvals:      4,
		NotificationQueueCapacity:    10000,
		NotificationBatchSize:        256,
		NotificationDrainOnShutdown:  true,
		Kubernetes:                   *kuberules.NewOptions(),
		Monitors:                     *monitors.NewOptions(),
	}
}

// defaultRetention is Prometheus's when neither a time nor a size is given.
const defaultRetention = 15 * 24 * time.Hour

// storageLimits are the parsed RetentionTime, RetentionSize and
// MinFreeSpace.
type storageLimits struct {
	retention     time.Duration
	retentionSize int64
	minFree       int64
}

// Validate reports options that do not parse or are out of range.
func (o *Options) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.ListenAddress); err != nil {
		errs = append(errs, option.Invalid("ListenAddress", "%w", err))
	}
	if o.ExternalURL != "" {
		if _, err := url.Parse(o.ExternalURL); err != nil {
			errs = append(errs, option.Invalid("ExternalURL", "%w", err))
		}
	}
	if err := toolkitweb.Validate(o.WebConfigFile); err != nil {
		errs = append(errs, option.Invalid("WebConfigFile", "%s: %w", o.WebConfigFile, err))
	}
	if o.StoragePath == "" {
		errs = append(errs, option.Invalid("StoragePath", "must not be empty"))
	}
	if _, err := o.storageLimits(); err != nil {
		errs = append(errs, err)
	}
	if o.QueryTimeout <= 0 {
		errs = append(errs, option.Invalid("QueryTimeout", "%v: must be positive", o.QueryTimeout))
	}
	if o.QueryMaxSamples <= 0 {
		errs = append(errs, option.Invalid("QueryMaxSamples", "%d: must be positive", o.QueryMaxSamples))
	}
	if o.QueryMaxConcurrency <= 0 {
		errs = append(errs, option.Invalid("QueryMaxConcurrency", "%d: must be positive", o.QueryMaxConcurrency))
	}
	if o.RemoteWriteMaxConcurrentRequests <= 0 {
		errs = append(errs, option.Invalid("RemoteWriteMaxConcurrentRequests", "%d: must be positive", o.RemoteWriteMaxConcurrentRequests))
	}
	if o.ReadTimeout < 0 {
		errs = append(errs, option.Invalid("ReadTimeout", "%v: must not be negative (0: no limit)", o.ReadTimeout))
	}
	if o.MaxConnections < 0 {
		errs = append(errs, option.Invalid("MaxConnections", "%d: must not be negative (0: no limit)", o.MaxConnections))
	}
	if o.LookbackDelta <= 0 {
		errs = append(errs, option.Invalid("LookbackDelta", "%v: must be positive", o.LookbackDelta))
	}
	for _, d := range []struct {
		field string
		d     time.Duration
	}{
		{"RulesAlertForOutageTolerance", o.RulesAlertForOutageTolerance},
		{"RulesAlertForGracePeriod", o.RulesAlertForGracePeriod},
		{"RulesAlertResendDelay", o.RulesAlertResendDelay},
	} {
		if d.d < 0 {
			errs = append(errs, option.Invalid(d.field, "%v: must not be negative", d.d))
		}
	}
	if o.RulesMaxConcurrentEvals <= 0 {
		errs = append(errs, option.Invalid("RulesMaxConcurrentEvals", "%d: must be positive", o.RulesMaxConcurrentEvals))
	}
	if o.KubernetesRules {
		errs = append(errs, option.Rename(o.Kubernetes.Validate(), func(f string) (string, bool) { return "Kubernetes." + f, true }, nil))
	}
	if o.KubernetesMonitors {
		errs = append(errs, option.Rename(o.Monitors.Validate(), func(f string) (string, bool) { return "Monitors." + f, true }, nil))
	}
	if o.NotificationQueueCapacity <= 0 {
		errs = append(errs, option.Invalid("NotificationQueueCapacity", "%d: must be positive", o.NotificationQueueCapacity))
	}
	if o.NotificationBatchSize <= 0 {
		errs = append(errs, option.Invalid("NotificationBatchSize", "%d: must be positive", o.NotificationBatchSize))
	}
	return errors.Join(errs...)
}

// storageLimits parses the retention and free-space options.
func (o *Options) storageLimits() (storageLimits, error) {
	var l storageLimits
	var errs []error
	if o.RetentionTime != "" {
		d, err := model.ParseDuration(o.RetentionTime)
		if err != nil {
			errs = append(errs, option.Invalid("RetentionTime", "%q is not a duration like 15d or 12h", o.RetentionTime))
		}
		l.retention = time.Duration(d)
	}
	if o.RetentionSize != "" {
		b, err := units.ParseBase2Bytes(o.RetentionSize)
		if err != nil || b < 0 {
			errs = append(errs, option.Invalid("RetentionSize", "%q is not a size like 512MB or 10GB", o.RetentionSize))
		}
		l.retentionSize = int64(b)
	}
	if o.MinFreeSpace != "" && o.MinFreeSpace != "0" {
		b, err := units.ParseBase2Bytes(o.MinFreeSpace)
		if err != nil || b < 0 {
			errs = append(errs, option.Invalid("MinFreeSpace", "%q is not a size like 64MB", o.MinFreeSpace))
		}
		l.minFree = int64(b)
	}
	if l.retention == 0 && l.retentionSize == 0 {
		l.retention = defaultRetention
	}
	return l, errors.Join(errs...)
}
