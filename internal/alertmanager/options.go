package alertmanager

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/cluster"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// Options configure an Alertmanager. NewOptions holds Alertmanager's own
// defaults (v0.34.1's flags), and cmd/panoptes binds them to its flag names,
// so that an Alertmanager Deployment's arguments work unchanged.
type Options struct {
	// ConfigFile is an alertmanager.yml (route, receivers, inhibit_rules,
	// time_intervals, templates), read at start and on every reload.
	ConfigFile string
	// StoragePath is the directory of the silences and notification log
	// snapshots ("silences" and "nflog", Alertmanager's files).
	StoragePath string
	// Retention is how long silences and notification log entries are
	// kept after they expire.
	Retention time.Duration
	// MaintenanceInterval is how often silences and the notification log
	// are garbage-collected and snapshotted to StoragePath (also once at
	// shutdown).
	MaintenanceInterval time.Duration
	// MaxSilences is the most silences, expired ones included; 0 means no
	// limit.
	MaxSilences int
	// MaxSilenceSizeBytes is the largest silence accepted; 0 means no limit.
	MaxSilenceSizeBytes int
	// LogSilences logs every change of a silence's state.
	LogSilences bool
	// AlertGCInterval is how often resolved alerts are dropped from memory.
	AlertGCInterval time.Duration
	// PerAlertnameLimit is the most alerts of one alertname held; 0 means
	// no limit.
	PerAlertnameLimit int
	// DispatchMaintenanceInterval is how often the dispatcher drops empty
	// aggregation groups.
	DispatchMaintenanceInterval time.Duration
	// DispatchStartDelay holds the first notifications back for this long
	// after start (keep it in step with Prometheus's
	// --rules.alert.resend-delay).
	DispatchStartDelay time.Duration
	// EnableFeatures are Alertmanager's --enable-feature flags
	// (comma-separated, e.g. utf8-strict-mode, classic-mode).
	EnableFeatures string

	// ListenAddress is where the standalone role serves HTTP (host:port).
	// An embedded Alertmanager does not listen.
	ListenAddress string
	// WebConfigFile is an exporter-toolkit web config file (TLS, client
	// certificates, bcrypt basic auth, response headers) for the standalone
	// role's listener, as Alertmanager's --web.config.file; empty serves
	// plain HTTP. An embedded Alertmanager is served by its host's listener
	// and its web config.
	WebConfigFile string
	// ExternalURL is where users and the notifications' links reach this
	// Alertmanager; empty derives http://<hostname>:<port>/ from the
	// listener. Its path is the default RoutePrefix.
	ExternalURL string
	// RoutePrefix is the path every endpoint is served under ("/" or
	// "/alertmanager"); empty means the path of ExternalURL.
	RoutePrefix string
	// GetConcurrency is the most GET requests served at once; 0 means
	// GOMAXPROCS or 8, whichever is larger.
	GetConcurrency int
	// HTTPTimeout cuts off a request that runs longer; 0 means never.
	HTTPTimeout time.Duration

	// ClusterListenAddress is the memberlist address (host:port) that
	// gossips silences and the notification log with ClusterPeers; empty
	// (the default here, unlike Alertmanager's 0.0.0.0:9094) disables
	// clustering.
	ClusterListenAddress string
	// ClusterAdvertiseAddress is the address announced to the peers; empty
	// derives it from ClusterListenAddress.
	ClusterAdvertiseAddress string
	// ClusterPeers are the host:port of the other members to join.
	ClusterPeers []string
	// ClusterPeerName names this member; empty makes up one.
	ClusterPeerName string
	// ClusterPeerTimeout is how long each member waits, times its position
	// in the cluster, before notifying, so that one member sends.
	ClusterPeerTimeout time.Duration
	// ClusterGossipInterval and ClusterPushPullInterval pace the gossip and
	// the full state syncs.
	ClusterGossipInterval   time.Duration
	ClusterPushPullInterval time.Duration
	// ClusterSettleTimeout is the longest wait for the cluster to settle
	// before notifications go out.
	ClusterSettleTimeout time.Duration
	// ClusterReconnectInterval and ClusterReconnectTimeout: how often, and
	// for how long, a lost peer is tried again.
	ClusterReconnectInterval time.Duration
	ClusterReconnectTimeout  time.Duration
	// ClusterLabel is sent with every gossip packet; members with another
	// label are ignored.
	ClusterLabel string

	// The fields below are not options: the caller wires them in.

	// Gatherer, when not nil, is served on <RoutePrefix>/metrics (the
	// standalone role's own registry). An embedded Alertmanager leaves it
	// nil: its metrics are the host process's.
	Gatherer prometheus.Gatherer
	// Handlers are extra routes under the route prefix (path without the
	// prefix, e.g. "/debug/pprof/"), for the standalone role.
	Handlers map[string]http.Handler
}

// NewOptions returns Alertmanager v0.34.1's defaults, without clustering.
func NewOptions() *Options {
	return &Options{
		ConfigFile:                  "alertmanager.yml",
		StoragePath:                 "data/",
		Retention:                   120 * time.Hour,
		MaintenanceInterval:         15 * time.Minute,
		AlertGCInterval:             30 * time.Minute,
		DispatchMaintenanceInterval: 30 * time.Second,
		ListenAddress:               ":9093",
		ClusterPeerTimeout:          15 * time.Second,
		ClusterGossipInterval:       cluster.DefaultGossipInterval,
		ClusterPushPullInterval:     cluster.DefaultPushPullInterval,
		ClusterSettleTimeout:        cluster.DefaultPushPullInterval,
		ClusterReconnectInterval:    cluster.DefaultReconnectInterval,
		ClusterReconnectTimeout:     cluster.DefaultReconnectTimeout,
	}
}

// Validate reports every invalid option at once, by field name.
func (o *Options) Validate() error {
	var errs []error
	if o.ConfigFile == "" {
		errs = append(errs, option.Invalid("ConfigFile", "must name an alertmanager.yml"))
	}
	if o.StoragePath == "" {
		errs = append(errs, option.Invalid("StoragePath", "must not be empty: the silences and the notification log are kept there"))
	}
	// Each of these drives a ticker, which panics on a non-positive period.
	for _, d := range []struct {
		field string
		d     time.Duration
	}{
		{"Retention", o.Retention},
		{"MaintenanceInterval", o.MaintenanceInterval},
		{"AlertGCInterval", o.AlertGCInterval},
		{"DispatchMaintenanceInterval", o.DispatchMaintenanceInterval},
	} {
		if d.d <= 0 {
			errs = append(errs, option.Invalid(d.field, "%v: must be positive", d.d))
		}
	}
	for _, d := range []struct {
		field string
		d     time.Duration
	}{
		{"DispatchStartDelay", o.DispatchStartDelay},
		{"HTTPTimeout", o.HTTPTimeout},
	} {
		if d.d < 0 {
			errs = append(errs, option.Invalid(d.field, "%v: must not be negative", d.d))
		}
	}
	if _, _, err := net.SplitHostPort(o.ListenAddress); err != nil {
		errs = append(errs, option.Invalid("ListenAddress", "%w", err))
	}
	if err := web.Validate(o.WebConfigFile); err != nil {
		errs = append(errs, option.Invalid("WebConfigFile", "%s: %w", o.WebConfigFile, err))
	}
	if o.ExternalURL != "" {
		if u, err := url.Parse(o.ExternalURL); err != nil {
			errs = append(errs, option.Invalid("ExternalURL", "%w", err))
		} else if u.Scheme != "http" && u.Scheme != "https" {
			errs = append(errs, option.Invalid("ExternalURL", "%q: the scheme must be http or https", o.ExternalURL))
		}
	}
	if o.RoutePrefix != "" && strings.ContainsAny(o.RoutePrefix, "?#") {
		errs = append(errs, option.Invalid("RoutePrefix", "%q: must be a path", o.RoutePrefix))
	}
	if _, err := featurecontrol.NewFlags(nopLogger(), o.EnableFeatures); err != nil {
		errs = append(errs, option.Invalid("EnableFeatures", "%w", err))
	}
	if o.ClusterListenAddress != "" {
		if _, _, err := net.SplitHostPort(o.ClusterListenAddress); err != nil {
			errs = append(errs, option.Invalid("ClusterListenAddress", "%w", err))
		}
		if o.ClusterPeerTimeout < 0 {
			errs = append(errs, option.Invalid("ClusterPeerTimeout", "%v: must not be negative", o.ClusterPeerTimeout))
		}
		for _, d := range []struct {
			field string
			d     time.Duration
		}{
			{"ClusterGossipInterval", o.ClusterGossipInterval},
			{"ClusterPushPullInterval", o.ClusterPushPullInterval},
			{"ClusterSettleTimeout", o.ClusterSettleTimeout},
			{"ClusterReconnectInterval", o.ClusterReconnectInterval},
			{"ClusterReconnectTimeout", o.ClusterReconnectTimeout},
		} {
			if d.d <= 0 {
				errs = append(errs, option.Invalid(d.field, "%v: must be positive", d.d))
			}
		}
	} else if len(o.ClusterPeers) > 0 {
		errs = append(errs, option.Invalid("ClusterPeers", "need ClusterListenAddress: a member gossips from its own address"))
	}
	return errors.Join(errs...)
}
