//go:build !agentonly

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/kube-state-metrics/v2/pkg/options"

	"github.com/panoptes-dev/panoptes/internal/state"
	"github.com/panoptes-dev/panoptes/internal/version"
)

func init() { moreRoles = append(moreRoles, newStateCommand) }

// stateOptions are kube-state-metrics' flags, under its names, so that its
// Deployment's arguments work unchanged.
type stateOptions struct {
	kubeconfig           string
	resources            options.ResourceSet
	labelsAllowList      options.LabelsAllowList
	annotationsAllowList options.LabelsAllowList
	metricAllowlist      options.MetricSet
	metricDenylist       options.MetricSet
	metricOptIn          options.MetricSet
	namespaces           options.NamespaceList
	namespacesDenylist   options.NamespaceList
	shard                int32
	totalShards          int
	pod, podNamespace    string
	crConfig, crFile     string
	host                 string
	port                 int
	listen               string
	telemetryHost        string
	telemetryPort        int
	gzip                 bool
	keepManagedFields    bool
	gogc                 int
}

func (o *stateOptions) addFlags(fs *pflag.FlagSet) {
	o.resources, o.metricAllowlist, o.metricDenylist, o.metricOptIn = options.ResourceSet{}, options.MetricSet{}, options.MetricSet{}, options.MetricSet{}
	o.labelsAllowList, o.annotationsAllowList = options.LabelsAllowList{}, options.LabelsAllowList{}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Kubeconfig file of the cluster to watch. Empty: the in-cluster configuration (the pod's ServiceAccount).")
	fs.Var(&o.resources, "resources", "Comma-separated resources to serve (plural, lower case). Default: kube-state-metrics' default set: "+strings.Join(state.DefaultResources(), ",")+". Also known: "+strings.Join(extraResources(), ",")+".")
	fs.Var(&o.labelsAllowList, "metric-labels-allowlist", "Kubernetes labels exported as labels of kube_<resource>_labels, per resource: 'pods=[app,team],namespaces=[*]'. '*' as resource means every served resource; '*' as label means every label (costly: each distinct label set is a series). None by default.")
	fs.Var(&o.annotationsAllowList, "metric-annotations-allowlist", "Annotations exported in kube_<resource>_annotations, in the form of --metric-labels-allowlist. None by default.")
	fs.Var(&o.metricAllowlist, "metric-allowlist", "Comma-separated metric names or regular expressions to export, and only those. Excludes --metric-denylist.")
	fs.Var(&o.metricDenylist, "metric-denylist", "Comma-separated metric names or regular expressions not to export.")
	fs.Var(&o.metricOptIn, "metric-opt-in-list", "Comma-separated opt-in metrics to export beside the default ones (as kube-state-metrics').")
	fs.Var(&o.namespaces, "namespaces", "Comma-separated namespaces to watch. Default: all.")
	fs.Var(&o.namespacesDenylist, "namespaces-denylist", "Comma-separated namespaces not to watch.")
	fs.Int32Var(&o.shard, "shard", 0, "This instance's shard (0-based) of --total-shards: objects are assigned to shards by a hash of their UID.")
	fs.IntVar(&o.totalShards, "total-shards", 1, "The number of shards; 1 disables sharding.")
	fs.StringVar(&o.pod, "pod", "", "Name of this pod, for automatic sharding: with --pod-namespace, the shard is the ordinal of the StatefulSet that owns the pod and the number of shards its replicas (set both from the downward API).")
	fs.StringVar(&o.podNamespace, "pod-namespace", "", "Namespace of --pod, for automatic sharding.")
	fs.StringVar(&o.crConfig, "custom-resource-state-config", "", "Inline custom-resource-state config (YAML, kube-state-metrics' format): metrics from fields of custom resources.")
	fs.StringVar(&o.crFile, "custom-resource-state-config-file", "", "File of a custom-resource-state config (kube-state-metrics' format).")
	fs.StringVar(&o.host, "host", "::", "Host to serve /metrics on.")
	fs.IntVar(&o.port, "port", 8080, "Port to serve /metrics on.")
	fs.StringVar(&o.listen, "listen", "", "host:port to serve /metrics on (e.g. :8080); overrides --host and --port.")
	fs.StringVar(&o.telemetryHost, "telemetry-host", "::", "Host to serve the self metrics (/metrics) and /readyz on.")
	fs.IntVar(&o.telemetryPort, "telemetry-port", 8081, "Port to serve the self metrics and /readyz on; 0 picks a free port.")
	fs.BoolVar(&o.gzip, "enable-gzip-encoding", false, "Gzip /metrics for clients that send Accept-Encoding: gzip.")
	fs.BoolVar(&o.keepManagedFields, "keep-managed-fields", false, "Keep metadata.managedFields on decoded objects (no metric reads them; they are dropped before the generators run).")
	_ = fs.MarkHidden("keep-managed-fields")
	fs.IntVar(&o.gogc, "runtime.gogc", 50, "Garbage collection target percentage (GOGC); the GOGC environment variable, when set, takes precedence.")
}

// extraResources are the known resources beyond the default set.
func extraResources() []string {
	def := map[string]bool{}
	for _, r := range state.DefaultResources() {
		def[r] = true
	}
	var out []string
	for _, r := range state.Resources() {
		if !def[r] {
			out = append(out, r)
		}
	}
	return out
}

func keys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (o *stateOptions) config() (state.Config, error) {
	cfg := state.Config{
		Kubeconfig:           o.kubeconfig,
		Resources:            o.resources.AsSlice(),
		Namespaces:           o.namespaces,
		NamespacesDenylist:   o.namespacesDenylist,
		LabelsAllowList:      o.labelsAllowList,
		AnnotationsAllowList: o.annotationsAllowList,
		MetricAllowlist:      keys(o.metricAllowlist),
		MetricDenylist:       keys(o.metricDenylist),
		MetricOptIn:          keys(o.metricOptIn),
		Shard:                o.shard,
		TotalShards:          o.totalShards,
		Pod:                  o.pod,
		PodNamespace:         o.podNamespace,
		CustomResourceConfig: o.crConfig,
		EnableGZIP:           o.gzip,
		KeepManagedFields:    o.keepManagedFields,
	}
	if len(cfg.Resources) > 0 {
		sort.Strings(cfg.Resources)
		if err := state.CheckResources(cfg.Resources); err != nil {
			return cfg, fmt.Errorf("--resources: %w", err)
		}
	}
	if o.totalShards < 1 {
		return cfg, fmt.Errorf("--total-shards %d: must be at least 1", o.totalShards)
	}
	if o.shard < 0 || int(o.shard) >= o.totalShards {
		return cfg, fmt.Errorf("--shard %d: must be in [0, --total-shards=%d)", o.shard, o.totalShards)
	}
	if o.crConfig != "" && o.crFile != "" {
		return cfg, fmt.Errorf("--custom-resource-state-config and --custom-resource-state-config-file exclude each other")
	}
	if o.crFile != "" {
		b, err := os.ReadFile(filepath.Clean(o.crFile))
		if err != nil {
			return cfg, fmt.Errorf("--custom-resource-state-config-file: %w", err)
		}
		cfg.CustomResourceConfig = string(b)
	}
	if cfg.CustomResourceConfig != "" {
		if _, err := state.ParseCustomResourceConfig(cfg.CustomResourceConfig); err != nil {
			return cfg, err
		}
	}
	cfg.ListenAddress = net.JoinHostPort(o.host, strconv.Itoa(o.port))
	if o.listen != "" {
		if _, _, err := net.SplitHostPort(o.listen); err != nil {
			return cfg, fmt.Errorf("--listen: %w", err)
		}
		cfg.ListenAddress = o.listen
	}
	cfg.TelemetryAddress = net.JoinHostPort(o.telemetryHost, strconv.Itoa(o.telemetryPort))
	return cfg, nil
}

func newStateCommand(logOpts *logOptions) *cobra.Command {
	o := &stateOptions{}
	cmd := &cobra.Command{
		Use:   "state",
		Short: "The state of Kubernetes objects as metrics on :8080, compatible with kube-state-metrics",
		Long: `Watch the Kubernetes API server and serve the state of its objects (is the
pod Running, how many replicas does the deployment want and have, ...) as
metrics: kube-state-metrics' families, with its names, labels, types and
values, computed by its own generators (kube-state-metrics v2.20.0 as a
library). Its flags keep their names, so a kube-state-metrics Deployment's
arguments work unchanged.

Each object's metrics are rendered when it changes; a scrape writes the
pre-rendered bytes. A resource the API server does not serve, or that RBAC
forbids this identity to list and watch, is disabled at start with one log
line. While the API server cannot be reached the last known state is served,
panoptes_state_staleness_seconds{resource} grows, and watching resumes by
itself when it is back.

Endpoints, on --port (8080):
  /metrics    the state metrics (kube_pod_status_phase, kube_deployment_*, ...)
  /healthz    liveness of this process
  /livez      liveness of the API server, as seen from here
On --telemetry-port (8081):
  /metrics    self metrics: panoptes_state_*, kube_state_metrics_list_total,
              kube_state_metrics_watch_total, http_request_duration_seconds,
              Go and process metrics
  /readyz     200 once every served resource has been listed`,
		Example: `  # In a cluster (see deploy/state): the pod's ServiceAccount, default resources:
  panoptes state

  # From a workstation, a few resources, pod labels app and team exported:
  panoptes state --kubeconfig ~/.kube/config --resources pods,deployments,nodes \
    --metric-labels-allowlist 'pods=[app,team]'

  # Two shards of a big cluster (or a StatefulSet with --pod/--pod-namespace):
  panoptes state --shard 0 --total-shards 2
  panoptes state --shard 1 --total-shards 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logOpts.logger()
			if err != nil {
				return err
			}
			cfg, err := o.config()
			if err != nil {
				return err
			}
			if _, set := os.LookupEnv("GOGC"); !set && o.gogc > 0 {
				debug.SetGCPercent(o.gogc)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(
				collectors.NewGoCollector(),
				collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
				version.NewCollector(),
			)
			cfg.Registerer, cfg.Gatherer, cfg.Logger = reg, reg, logger
			return state.Run(cmd.Context(), cfg, func(a state.Addrs) {
				logger.Info("listening", "metrics", a.Metrics.String(), "telemetry", fmt.Sprint(a.Telemetry))
			})
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}
