//go:build !agentonly

package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/panoptes-dev/panoptes/internal/state"
)

func init() { moreRoles = append(moreRoles, newStateCommand) }

// stateFlags are the flags bound to state.Options' fields: kube-state-metrics'
// names, so that its Deployment's arguments work unchanged.
var stateFlags = flagNames{
	"Kubeconfig":               "kubeconfig",
	"Resources":                "resources",
	"LabelsAllowList":          "metric-labels-allowlist",
	"AnnotationsAllowList":     "metric-annotations-allowlist",
	"MetricAllowlist":          "metric-allowlist",
	"MetricDenylist":           "metric-denylist",
	"MetricOptIn":              "metric-opt-in-list",
	"Namespaces":               "namespaces",
	"NamespacesDenylist":       "namespaces-denylist",
	"Shard":                    "shard",
	"TotalShards":              "total-shards",
	"Pod":                      "pod",
	"PodNamespace":             "pod-namespace",
	"CustomResourceConfig":     "custom-resource-state-config",
	"CustomResourceConfigFile": "custom-resource-state-config-file",
	"Host":                     "host",
	"Port":                     "port",
	"Listen":                   "listen",
	"TelemetryHost":            "telemetry-host",
	"TelemetryPort":            "telemetry-port",
	"WebConfigFile":            "tls-config",
	"EnableGZIP":               "enable-gzip-encoding",
	"KeepManagedFields":        "keep-managed-fields",
	"GOGC":                     "runtime.gogc",
}

func addStateFlags(fs *pflag.FlagSet, o *state.Options) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig file of the cluster to watch. Empty: the in-cluster configuration (the pod's ServiceAccount).")
	fs.Var(&o.Resources, "resources", "Comma-separated resources to serve (plural, lower case). Default: kube-state-metrics' default set: "+strings.Join(state.DefaultResources(), ",")+". Also known: "+strings.Join(state.OtherResources(), ",")+".")
	fs.Var(&o.LabelsAllowList, "metric-labels-allowlist", "Kubernetes labels exported as labels of kube_<resource>_labels, per resource: 'pods=[app,team],namespaces=[*]'. '*' as resource means every served resource; '*' as label means every label (costly: each distinct label set is a series). None by default.")
	fs.Var(&o.AnnotationsAllowList, "metric-annotations-allowlist", "Annotations exported in kube_<resource>_annotations, in the form of --metric-labels-allowlist. None by default.")
	fs.Var(&o.MetricAllowlist, "metric-allowlist", "Comma-separated metric names or regular expressions to export, and only those. Excludes --metric-denylist.")
	fs.Var(&o.MetricDenylist, "metric-denylist", "Comma-separated metric names or regular expressions not to export.")
	fs.Var(&o.MetricOptIn, "metric-opt-in-list", "Comma-separated opt-in metrics to export beside the default ones (as kube-state-metrics').")
	fs.Var(&o.Namespaces, "namespaces", "Comma-separated namespaces to watch. Default: all.")
	fs.Var(&o.NamespacesDenylist, "namespaces-denylist", "Comma-separated namespaces not to watch.")
	fs.Int32Var(&o.Shard, "shard", o.Shard, "This instance's shard (0-based) of --total-shards: objects are assigned to shards by a hash of their UID.")
	fs.IntVar(&o.TotalShards, "total-shards", o.TotalShards, "The number of shards; 1 disables sharding.")
	fs.StringVar(&o.Pod, "pod", o.Pod, "Name of this pod, for automatic sharding: with --pod-namespace, the shard is the ordinal of the StatefulSet that owns the pod and the number of shards its replicas (set both from the downward API).")
	fs.StringVar(&o.PodNamespace, "pod-namespace", o.PodNamespace, "Namespace of --pod, for automatic sharding.")
	fs.StringVar(&o.CustomResourceConfig, "custom-resource-state-config", o.CustomResourceConfig, "Inline custom-resource-state config (YAML, kube-state-metrics' format): metrics from fields of custom resources.")
	fs.StringVar(&o.CustomResourceConfigFile, "custom-resource-state-config-file", o.CustomResourceConfigFile, "File of a custom-resource-state config (kube-state-metrics' format).")
	fs.StringVar(&o.Host, "host", o.Host, "Host to serve /metrics on.")
	fs.IntVar(&o.Port, "port", o.Port, "Port to serve /metrics on.")
	fs.StringVar(&o.Listen, "listen", o.Listen, "host:port to serve /metrics on (e.g. :8080); overrides --host and --port.")
	fs.StringVar(&o.TelemetryHost, "telemetry-host", o.TelemetryHost, "Host to serve the self metrics (/metrics) and /readyz on.")
	fs.IntVar(&o.TelemetryPort, "telemetry-port", o.TelemetryPort, "Port to serve the self metrics and /readyz on; 0 picks a free port.")
	fs.StringVar(&o.WebConfigFile, "tls-config", o.WebConfigFile, "Path to a configuration file that can enable TLS or authentication (exporter-toolkit format; see https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md). Applies to both listeners, /metrics and the telemetry port with /readyz, as kube-state-metrics' --tls-config (its name). Empty serves plain HTTP.")
	fs.StringVar(&o.WebConfigFile, "web.config.file", o.WebConfigFile, "Alias of --tls-config, Prometheus's and node_exporter's name.")
	fs.BoolVar(&o.EnableGZIP, "enable-gzip-encoding", o.EnableGZIP, "Gzip /metrics for clients that send Accept-Encoding: gzip.")
	fs.BoolVar(&o.KeepManagedFields, "keep-managed-fields", o.KeepManagedFields, "Keep metadata.managedFields on decoded objects (no metric reads them; they are dropped before the generators run).")
	_ = fs.MarkHidden("keep-managed-fields")
	fs.IntVar(&o.GOGC, "runtime.gogc", o.GOGC, "Garbage collection target percentage (GOGC); the GOGC environment variable, when set, takes precedence.")
}

func newStateCommand(logOpts *logOptions) *cobra.Command {
	o := state.NewOptions()
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
			return stateFlags.rename(state.Run(cmd.Context(), o, logger))
		},
	}
	addStateFlags(cmd.Flags(), o)
	return cmd
}
