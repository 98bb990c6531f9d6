package allinone

import (
	"errors"
	"time"

	"github.com/panoptes-dev/panoptes/internal/agent"
	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/server"
)

// Options configure the all-in-one default.
type Options struct {
	// Server is the server's options.
	Server server.Options
	// Collectors choose and configure this host's collectors.
	Collectors agent.CollectorOptions
	// Interval is how often this host's collectors and the server's own
	// metrics are collected into the storage (the targets of the config
	// file follow its scrape_interval).
	Interval time.Duration
}

// NewOptions returns the server's and the agent's defaults, but with the API
// and UI on loopback (127.0.0.1:9090): on a workstation the all-in-one is
// for this host's user, not the network. Collected every 15s, Prometheus's
// default scrape interval.
func NewOptions() *Options {
	s := server.NewOptions()
	s.ListenAddress = "127.0.0.1:9090"
	// A host monitored out of the box: the built-in alerts evaluate.
	s.BuiltinRules = true
	return &Options{Server: *s, Collectors: agent.NewCollectorOptions(), Interval: 15 * time.Second}
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
	if o.Interval <= 0 {
		errs = append(errs, option.Invalid("Interval", "%v: must be positive", o.Interval))
	}
	return errors.Join(errs...)
}
