package state

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"k8s.io/kube-state-metrics/v2/pkg/allowdenylist"
	generator "k8s.io/kube-state-metrics/v2/pkg/metric_generator"
	"k8s.io/kube-state-metrics/v2/pkg/optin"
	"k8s.io/kube-state-metrics/v2/pkg/options"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// Options are what `panoptes state` is asked to do: kube-state-metrics'
// options, which cmd/panoptes binds to its flags under its names (the
// set-valued ones are kube-state-metrics' own flag value types), so that
// its Deployment's arguments work unchanged.
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster (the pod's
	// ServiceAccount).
	Kubeconfig string
	// Resources to serve; empty means DefaultResources.
	Resources options.ResourceSet
	// Namespaces to watch (empty or [""] for all), and namespaces left out.
	Namespaces         options.NamespaceList
	NamespacesDenylist options.NamespaceList
	// LabelsAllowList and AnnotationsAllowList: resource -> keys exported
	// in kube_<resource>_labels / _annotations ("*" for every resource
	// served, or every key).
	LabelsAllowList      options.LabelsAllowList
	AnnotationsAllowList options.LabelsAllowList
	// MetricAllowlist, MetricDenylist (mutually exclusive) and MetricOptIn
	// filter families by name or regular expression.
	MetricAllowlist, MetricDenylist, MetricOptIn options.MetricSet
	// Shard of TotalShards: objects whose UID hashes to another shard are
	// left to it. Pod and PodNamespace, when both set, take the shard and
	// the number of shards from the StatefulSet that owns the pod instead
	// (its ordinal and replicas).
	Shard        int32
	TotalShards  int
	Pod          string
	PodNamespace string
	// CustomResourceConfig is a custom-resource-state config (YAML,
	// kube-state-metrics' format), or CustomResourceConfigFile a file
	// holding one; not both.
	CustomResourceConfig     string
	CustomResourceConfigFile string
	// Host and Port serve /metrics, unless Listen (host:port) is set.
	Host   string
	Port   int
	Listen string
	// TelemetryHost and TelemetryPort serve the self metrics and /readyz;
	// port 0 picks a free one.
	TelemetryHost string
	TelemetryPort int
	// WebConfigFile is an exporter-toolkit web config file (TLS, client
	// certificates, bcrypt basic auth, response headers) for both
	// listeners, /metrics and the telemetry one, as kube-state-metrics'
	// --tls-config; empty serves plain HTTP. Run reads it.
	WebConfigFile string
	// EnableGZIP compresses /metrics for clients that accept gzip.
	EnableGZIP bool
	// KeepManagedFields keeps metadata.managedFields on decoded objects
	// (they are stripped by default: no metric reads them).
	KeepManagedFields bool
	// GOGC is the garbage collector's target percentage; the GOGC
	// environment variable, when set, wins (see internal/gogc).
	GOGC int
}

// NewOptions returns kube-state-metrics' defaults (and panoptes' GOGC).
func NewOptions() *Options {
	return &Options{
		Resources:            options.ResourceSet{},
		LabelsAllowList:      options.LabelsAllowList{},
		AnnotationsAllowList: options.LabelsAllowList{},
		MetricAllowlist:      options.MetricSet{},
		MetricDenylist:       options.MetricSet{},
		MetricOptIn:          options.MetricSet{},
		TotalShards:          1,
		Host:                 "::",
		Port:                 8080,
		TelemetryHost:        "::",
		TelemetryPort:        8081,
		GOGC:                 50,
	}
}

// Validate reports contradicting or malformed options, each as an
// *option.Error naming its Options field. It reads no file: Run reads
// CustomResourceConfigFile.
func (o *Options) Validate() error {
	var errs []error
	invalid := func(field, format string, args ...any) {
		errs = append(errs, option.Invalid(field, format, args...))
	}
	if err := CheckResources(o.resourceNames()); err != nil {
		invalid("Resources", "%w", err)
	}
	for _, ns := range o.NamespacesDenylist {
		if ns == "" {
			invalid("NamespacesDenylist", "empty namespace name")
		}
	}
	if _, err := o.familyFilter(); err != nil {
		errs = append(errs, err)
	}
	if o.TotalShards < 1 {
		invalid("TotalShards", "%d: must be at least 1", o.TotalShards)
	} else if o.Shard < 0 || int(o.Shard) >= o.TotalShards {
		invalid("Shard", "%d: must be at least 0 and below TotalShards (%d)", o.Shard, o.TotalShards)
	}
	if (o.Pod == "") != (o.PodNamespace == "") {
		invalid("Pod", "goes together with PodNamespace (automatic sharding from the StatefulSet ordinal)")
	}
	if o.CustomResourceConfig != "" && o.CustomResourceConfigFile != "" {
		invalid("CustomResourceConfig", "excludes CustomResourceConfigFile")
	} else if o.CustomResourceConfig != "" {
		if _, err := ParseCustomResourceConfig(o.CustomResourceConfig); err != nil {
			invalid("CustomResourceConfig", "%w", err)
		}
	}
	if o.Listen != "" {
		if _, _, err := net.SplitHostPort(o.Listen); err != nil {
			invalid("Listen", "%w", err)
		}
	}
	return errors.Join(errs...)
}

// resourceNames are the resources asked for, sorted; DefaultResources when
// none are.
func (o *Options) resourceNames() []string {
	if len(o.Resources) == 0 {
		return DefaultResources()
	}
	names := o.Resources.AsSlice()
	sort.Strings(names)
	return names
}

// namespaces are the namespaces to watch: options.DefaultNamespaces (all)
// when none are given. kube-state-metrics' helper logs which, through klog.
func (o *Options) namespaces() options.NamespaceList {
	return o.Namespaces.GetNamespaces()
}

// familyFilter is the filter of metric families that MetricAllowlist,
// MetricDenylist and MetricOptIn ask for.
func (o *Options) familyFilter() (generator.FamilyGeneratorFilter, error) {
	if len(o.MetricAllowlist) > 0 && len(o.MetricDenylist) > 0 {
		return nil, option.Invalid("MetricAllowlist", "excludes MetricDenylist: set one of them")
	}
	ad, err := allowdenylist.New(o.MetricAllowlist, o.MetricDenylist)
	if err != nil {
		return nil, option.Invalid("MetricAllowlist", "%w", err)
	}
	if err := ad.Parse(); err != nil {
		field := "MetricDenylist"
		if len(o.MetricAllowlist) > 0 {
			field = "MetricAllowlist"
		}
		return nil, option.Invalid(field, "%w", err)
	}
	oi, err := optin.NewMetricFamilyFilter(o.MetricOptIn)
	if err != nil {
		return nil, option.Invalid("MetricOptIn", "%w", err)
	}
	return generator.NewCompositeFamilyGeneratorFilter(ad, oi), nil
}

// customResourceConfig is the custom-resource-state config, inline or read
// from CustomResourceConfigFile; "" when there is none.
func (o *Options) customResourceConfig() (string, error) {
	if o.CustomResourceConfigFile == "" {
		return o.CustomResourceConfig, nil
	}
	b, err := os.ReadFile(filepath.Clean(o.CustomResourceConfigFile))
	if err != nil {
		return "", option.Invalid("CustomResourceConfigFile", "%w", err)
	}
	if _, err := ParseCustomResourceConfig(string(b)); err != nil {
		return "", option.Invalid("CustomResourceConfigFile", "%w", err)
	}
	return string(b), nil
}

// metricsAddress is where /metrics is served: Listen, or Host and Port.
func (o *Options) metricsAddress() string {
	if o.Listen != "" {
		return o.Listen
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
}

// telemetryAddress is where the self metrics and /readyz are served.
func (o *Options) telemetryAddress() string {
	return net.JoinHostPort(o.TelemetryHost, strconv.Itoa(o.TelemetryPort))
}
