package allinone

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/panoptes-dev/panoptes/internal/agent"
	"github.com/panoptes-dev/panoptes/internal/alertmanager"
	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/server"
)

// Options configure the all-in-one default.
type Options struct {
	// Server is the server's options.
	Server server.Options
	// Collectors choose and configure this host's collectors.
	Collectors agent.CollectorOptions
	// Alertmanager is the built-in Alertmanager, run in this process when
	// its ConfigFile is set: it is served at /alertmanager on the server's
	// listener and receives the alerts with no URL to configure. An empty
	// StoragePath means "alertmanager" under the server's storage path.
	Alertmanager alertmanager.Options
	// Interval is how often this host's collectors and the server's own
	// metrics are collected into the storage (the targets of the config
	// file follow its scrape_interval).
	Interval time.Duration
}

// NewOptions returns the server's and the agent's defaults, but with the API
// and UI on loopback (127.0.0.1:9090): on a workstation the all-in-one is
// for this host's user, not the network. There the remote_write receiver
// and /-/reload stay on (a local tool may push, the user may reload), which
// the server's guard keeps from web pages: a write from another site's page
// (its Origin) and a remote write without the protocol's headers are
// refused. Collected every 15s, Prometheus's default scrape interval.
func NewOptions() *Options {
	s := server.NewOptions()
	s.ListenAddress = "127.0.0.1:9090"
	s.EnableRemoteWriteReceiver, s.EnableLifecycle = true, true
	// A host monitored out of the box: the built-in alerts evaluate.
	s.BuiltinRules = true
	am := alertmanager.NewOptions()
	// Off until an alertmanager.yml is given; kept next to the TSDB.
	am.ConfigFile, am.StoragePath = "", ""
	return &Options{Server: *s, Collectors: agent.NewCollectorOptions(), Alertmanager: *am, Interval: 15 * time.Second}
}

// Validate reports bad options; the server's are named "Server.<field>",
// the collectors' "Collectors.<field>".
func (o *Options) Validate() error {
	var errs []error
	prefix := func(p string) func(string) (string, bool) {
		return func(field string) (string, bool) { return p + field, true }
	}
	errs = append(errs, option.Rename(o.Server.Validate(), prefix("Server."), nil))
	errs = append(errs, option.Rename(o.Collectors.Validate(), prefix("Collectors."), nil))
	if o.Alertmanager.ConfigFile != "" {
		am := o.alertmanagerOptions()
		errs = append(errs, option.Rename(am.Validate(), prefix("Alertmanager."), nil))
	}
	if o.Interval <= 0 {
		errs = append(errs, option.Invalid("Interval", "%v: must be positive", o.Interval))
	}
	return errors.Join(errs...)
}

// alertmanagerOptions are the built-in Alertmanager's options as it runs:
// under the server's listener at server.LocalAlertmanagerPrefix, its
// storage beside the TSDB unless given, its links under the server's URL.
func (o *Options) alertmanagerOptions() alertmanager.Options {
	am := o.Alertmanager
	am.RoutePrefix = server.LocalAlertmanagerPrefix
	if am.StoragePath == "" {
		am.StoragePath = filepath.Join(o.Server.StoragePath, "alertmanager")
	}
	if am.ExternalURL == "" {
		base := o.Server.ExternalURL
		if base == "" {
			host, port, err := net.SplitHostPort(o.Server.ListenAddress)
			if err != nil {
				host, port = "localhost", "9090"
			}
			if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
				host = "localhost"
			}
			base = "http://" + net.JoinHostPort(host, port)
		}
		am.ExternalURL = strings.TrimRight(base, "/") + server.LocalAlertmanagerPrefix
	}
	return am
}
