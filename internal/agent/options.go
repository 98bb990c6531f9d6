package agent

import (
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/panoptes-dev/panoptes/internal/collector/container"
	"github.com/panoptes-dev/panoptes/internal/collector/host"
	"github.com/panoptes-dev/panoptes/internal/option"
)

// Options are the agent role's options. NewOptions holds their defaults,
// node_exporter's where it has the option; cmd/panoptes binds them to
// node_exporter's flag names.
type Options struct {
	// Listen is the TCP address metrics are served on.
	Listen string
	// MetricsPath is where metrics are served; it starts with "/".
	MetricsPath string
	// MaxRequests bounds concurrent requests on every route but the probes,
	// on each listener (the metrics one, the kubelet-shaped one); more get
	// HTTP 503. 0 means no bound.
	MaxRequests int
	// WebConfigFile is an exporter-toolkit web config file (TLS, client
	// certificates, bcrypt basic auth, response headers) for the metrics
	// listener; empty serves plain HTTP. Validate reads it.
	WebConfigFile string
	// DisableExporterMetrics leaves out the metrics about the agent itself.
	DisableExporterMetrics bool
	// GOMAXPROCS is how many CPUs the Go runtime runs on at once; 0 keeps
	// Go's default (all of them).
	GOMAXPROCS int
	// GOGC is the garbage collector's target percentage (see gogc.Apply);
	// 0 keeps Go's default.
	GOGC int
	// Kubelet, when its Address is set, also serves the container
	// collector's kubelet-shaped endpoints over HTTPS, authenticated and
	// authorized as the kubelet's. Run fills in its Handlers, NodeName and
	// Guard.
	Kubelet KubeletConfig
	// EnableKubeletEndpointsOnListen also serves /metrics/resource and
	// /stats/summary on Listen, without Kubernetes authentication (for
	// `panoptes top --agent` on a host without Kubernetes).
	EnableKubeletEndpointsOnListen bool
	// Collectors choose and configure the collectors.
	Collectors CollectorOptions
}

// CollectorOptions choose and configure the collectors: the agent's, and
// the all-in-one default's in-process ones.
type CollectorOptions struct {
	// Timeout cuts off a collector that has not finished (a hung NFS
	// mount); 0 means no timeout.
	Timeout time.Duration
	// Host configures the host collectors: the /proc, /sys and / they read
	// and their filters. An include pattern given with the default exclude
	// pattern replaces it, as in node_exporter.
	Host host.Config
	// DisableDefaults turns off every collector that Enable does not turn
	// on.
	DisableDefaults bool
	// Enable and Disable are the choices made by collector name
	// (--collector.<name>, --no-collector.<name>); a name left out takes
	// the collector's default. The container collector is "container".
	Enable, Disable map[string]bool
	// Container configures the container collector.
	Container ContainerOptions
}

// ContainerName is the container collector's name (cAdvisor's metrics,
// and the kubelet-shaped endpoints).
const ContainerName = "container"

// ContainerOptions configure the container collector.
type ContainerOptions struct {
	// AllCgroups reports every cgroup, not only the root, pods, containers
	// and services.
	AllCgroups bool
	// CRIEndpoint is the CRI socket that names containers; empty tries
	// containerd's and then CRI-O's under the root file system.
	CRIEndpoint string
	// CRITimeout is the longest one CRI call may take.
	CRITimeout time.Duration
	// NodeName is this node's name in /stats/summary.
	NodeName string
	// FsUsagePeriod is how often the containers' writable layers and log
	// directories are measured (the kubelet's --volume-stats-agg-period);
	// a negative value turns the measurement off.
	FsUsagePeriod time.Duration
}

// NewOptions returns the defaults: node_exporter's port and path, every
// default collector, GOMAXPROCS 1 and GOGC 60 to keep the agent small on
// every node.
func NewOptions() *Options {
	return &Options{
		Listen:      ":9100",
		MetricsPath: "/metrics",
		MaxRequests: 40,
		GOMAXPROCS:  1,
		GOGC:        60,
		Kubelet:     KubeletConfig{Auth: NewKubeletAuthOptions()},
		Collectors:  NewCollectorOptions(),
	}
}

// NewCollectorOptions returns the collectors' defaults.
func NewCollectorOptions() CollectorOptions {
	nodeName, _ := os.Hostname()
	return CollectorOptions{
		Timeout: 8 * time.Second,
		Host:    host.DefaultConfig(),
		Enable:  map[string]bool{},
		Disable: map[string]bool{},
		Container: ContainerOptions{
			CRITimeout:    2 * time.Second,
			NodeName:      nodeName,
			FsUsagePeriod: container.DefaultFsUsagePeriod,
		},
	}
}

// Validate reports options out of range or contradicting each other.
func (o *Options) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		errs = append(errs, option.Invalid("Listen", "%w", err))
	}
	if !strings.HasPrefix(o.MetricsPath, "/") {
		errs = append(errs, option.Invalid("MetricsPath", "%q must start with /", o.MetricsPath))
	}
	if o.MaxRequests < 0 {
		errs = append(errs, option.Invalid("MaxRequests", "%d: must be 0 (no limit) or more", o.MaxRequests))
	}
	if err := web.Validate(o.WebConfigFile); err != nil {
		errs = append(errs, option.Invalid("WebConfigFile", "%s: %w", o.WebConfigFile, err))
	}
	if o.GOMAXPROCS < 0 {
		errs = append(errs, option.Invalid("GOMAXPROCS", "%d: must be 0 (Go's default) or more", o.GOMAXPROCS))
	}
	if o.Kubelet.Address != "" {
		if _, _, err := net.SplitHostPort(o.Kubelet.Address); err != nil {
			errs = append(errs, option.Invalid("Kubelet.Address", "%w", err))
		}
		if !o.Collectors.on(ContainerName, true) {
			errs = append(errs, option.Invalid("Kubelet.Address", "needs the container collector (its kubelet-shaped endpoints)"))
		}
		if (o.Kubelet.CertFile == "") != (o.Kubelet.KeyFile == "") {
			errs = append(errs, option.Invalid("Kubelet.KeyFile", "the serving certificate and its key go together"))
		}
		errs = append(errs, option.Rename(o.Kubelet.Auth.Validate(), func(field string) (string, bool) {
			return "Kubelet.Auth." + field, true
		}, nil))
	}
	errs = append(errs, option.Rename(o.Collectors.Validate(), func(field string) (string, bool) {
		return "Collectors." + field, true
	}, nil))
	return errors.Join(errs...)
}

// Validate reports contradicting choices and durations out of range.
func (o *CollectorOptions) Validate() error {
	var errs []error
	if o.Timeout < 0 {
		errs = append(errs, option.Invalid("Timeout", "%v: must be 0 (no timeout) or more", o.Timeout))
	}
	if o.Container.CRITimeout <= 0 {
		errs = append(errs, option.Invalid("Container.CRITimeout", "%v: must be positive", o.Container.CRITimeout))
	}
	if o.Container.FsUsagePeriod == 0 {
		errs = append(errs, option.Invalid("Container.FsUsagePeriod", "0: must be positive, or negative to turn the measurement off"))
	}
	var known []string
	for _, info := range host.Collectors() {
		known = append(known, info.Name)
	}
	known = append(known, ContainerName)
	for _, m := range []map[string]bool{o.Enable, o.Disable} {
		for name := range m {
			if !slices.Contains(known, name) {
				errs = append(errs, option.Invalid("Enable", "no collector is named %q (known: %s)", name, strings.Join(known, ", ")))
			}
		}
	}
	for _, name := range known {
		if o.Enable[name] && o.Disable[name] {
			errs = append(errs, option.Invalid("Disable."+name, "contradicts the choice to enable the %s collector", name))
		}
	}
	if len(errs) == 0 && len(o.names()) == 0 {
		errs = append(errs, option.Invalid("Enable", "no collector is enabled: name at least one"))
	}
	return errors.Join(errs...)
}

// names are the enabled collectors, the host's in registry order and then
// the container collector.
func (o *CollectorOptions) names() []string {
	var names []string
	for _, info := range host.Collectors() {
		if o.on(info.Name, info.DefaultEnabled) {
			names = append(names, info.Name)
		}
	}
	if o.on(ContainerName, true) {
		names = append(names, ContainerName)
	}
	return names
}

// on reports whether the named collector runs: its default unless
// DisableDefaults, then the choices.
func (o *CollectorOptions) on(name string, byDefault bool) bool {
	on := byDefault && !o.DisableDefaults
	if v, chosen := o.Enable[name]; chosen {
		on = v
	}
	return on && !o.Disable[name]
}
