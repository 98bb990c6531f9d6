//go:build !agentonly

package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/panoptes-dev/panoptes/internal/server"
	"github.com/panoptes-dev/panoptes/internal/server/allinone"
)

func newServerCommand(logOpts *logOptions) *cobra.Command {
	o := server.NewOptions()
	names := flagNames{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Scrape, store and query metrics on :9090, compatible with Prometheus",
		Long: `Scrape targets, store their samples in a local time-series database, answer
PromQL over the Prometheus HTTP API v1 and forward to remote_write endpoints
(Thanos, Mimir, Cortex, VictoriaMetrics) — built on Prometheus's own packages,
so an existing prometheus.yml, its flags, and the clients of its API work
unchanged.

Endpoints:
  /               the web UI: dashboards (host, containers, Kubernetes, your
                  own from --web.dashboards-dir), Explore, targets, status
  /api/v1/...     the Prometheus HTTP API (query, query_range, series, labels,
                  metadata, targets, status/*, format_query, write, ...)
  /federate       the latest samples of match[] selectors, for federation
  /api/v1/rules   the recording and alerting rules (rule_files, --rules.builtin)
  /api/v1/alerts  the alerts pending and firing, sent to alerting.alertmanagers
  /-/reload       POST: reload the config and rule files (also on SIGHUP)
  /-/healthy      liveness
  /-/ready        readiness
  /metrics        the server's own metrics`,
		Example: `  # Scrape what prometheus.yml says, keep 30 days in ./data:
  panoptes server --config.file=prometheus.yml --storage.tsdb.retention.time=30d

  # Only receive remote_write from agents, on loopback:
  panoptes server --web.listen-address=127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logOpts.logger()
			if err != nil {
				return err
			}
			o.Flags = flagValues(cmd.Flags())
			return names.rename(server.Run(cmd.Context(), o, logger, nil))
		},
	}
	bindServerFlags(cmd.Flags(), o, "", names)
	return cmd
}

// bindServerFlags binds the server's flags, Prometheus's names, to o and
// records them in names, each field under prefix.
func bindServerFlags(fs *pflag.FlagSet, o *server.Options, prefix string, names flagNames) {
	fs.StringVar(&o.ConfigFile, "config.file", o.ConfigFile, "Prometheus configuration file (global, scrape_configs with relabelling, rule_files, alerting, remote_write, ...); an existing prometheus.yml works unchanged. Empty: no scrape jobs of its own. Reloaded with its rule files on SIGHUP and POST /-/reload; a config or rule file that does not load is rejected as a whole and the running one stays.")
	fs.StringVar(&o.ListenAddress, "web.listen-address", o.ListenAddress, "Address to serve the API and UI on.")
	fs.StringVar(&o.ListenAddress, "listen", o.ListenAddress, "Alias of --web.listen-address.")
	fs.StringVar(&o.WebConfigFile, "web.config.file", o.WebConfigFile, "Path to a configuration file that can enable TLS or authentication (exporter-toolkit format; see https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md). It applies to every route, /-/healthy and /-/ready included, as in Prometheus; read again for every connection and request, and checked on SIGHUP and POST /-/reload. Empty serves plain HTTP.")
	fs.StringVar(&o.ExternalURL, "web.external-url", o.ExternalURL, "URL under which the server is reached from outside (for links); derived from the listen address when empty.")
	fs.BoolVar(&o.EnableRemoteWriteReceiver, "web.enable-remote-write-receiver", o.EnableRemoteWriteReceiver, "Accept Prometheus remote_write (1.0 and 2.0) on POST /api/v1/write, so that agents and other servers can push. Off in panoptes server, as in Prometheus: without authentication (--web.config.file) anyone who reaches the port can write; on in the all-in-one, which listens on loopback. Requests must carry the protocol's Content-Type: application/x-protobuf and Content-Encoding: snappy (415 otherwise), and none from another site's web page (Origin) is accepted.")
	fs.IntVar(&o.RemoteWriteMaxConcurrentRequests, "web.remote-write-receiver.max-concurrent-requests", o.RemoteWriteMaxConcurrentRequests, "Most remote-write requests handled at once (each may hold 32 MiB decoded); more are answered 503 with Retry-After, which senders retry. Default: 2 x GOMAXPROCS, at least 10.")
	fs.BoolVar(&o.EnableLifecycle, "web.enable-lifecycle", o.EnableLifecycle, "Serve POST /-/reload (SIGHUP reloads regardless). Off in panoptes server, as in Prometheus; on in the all-in-one, which listens on loopback.")
	fs.BoolVar(&o.EnableAdminAPI, "web.enable-admin-api", o.EnableAdminAPI, "Serve the TSDB admin endpoints under /api/v1/admin (delete series, snapshot).")
	fs.BoolVar(&o.EnablePprof, "web.enable-pprof", o.EnablePprof, "Serve the CPU profile and the execution trace (/debug/pprof/profile, /debug/pprof/trace), which keep the server busy for as long as the caller asks; 403 without it. The other profiles under /debug/pprof/ are served regardless, as Prometheus serves them.")
	fs.DurationVar(&o.ReadTimeout, "web.read-timeout", o.ReadTimeout, "Maximum duration before timing out read of the request, body included (Prometheus's flag). 0: no limit.")
	fs.IntVar(&o.MaxConnections, "web.max-connections", o.MaxConnections, "Maximum number of simultaneous connections; more wait to be accepted (Prometheus's flag). 0: no limit.")
	fs.StringVar(&o.StoragePath, "storage.tsdb.path", o.StoragePath, "Directory of the time-series database (write-ahead log, head chunks, blocks).")
	fs.StringVar(&o.StoragePath, "storage.path", o.StoragePath, "Alias of --storage.tsdb.path.")
	fs.StringVar(&o.RetentionTime, "storage.tsdb.retention.time", o.RetentionTime, "How long to keep samples (e.g. 15d, 12h). Default 15d, unless only --storage.tsdb.retention.size is given.")
	fs.StringVar(&o.RetentionSize, "storage.tsdb.retention.size", o.RetentionSize, "Most bytes of blocks to keep (e.g. 512MB, 10GB); the oldest blocks go first. Default: no size limit.")
	fs.StringVar(&o.MinFreeSpace, "storage.tsdb.min-free-space", o.MinFreeSpace, "Stop ingesting (scrapes and remote_write fail with an error that says why) while the storage's file system has less free than this, and resume by itself when space is freed: a write-ahead log that meets a full disk can be torn and lose data on the next start. 0 disables.")
	fs.BoolVar(&o.WALCompression, "storage.tsdb.wal-compression", o.WALCompression, "Compress the write-ahead log (snappy).")
	fs.DurationVar(&o.QueryTimeout, "query.timeout", o.QueryTimeout, "Longest a query may run before it is cut off with errorType \"timeout\".")
	fs.IntVar(&o.QueryMaxSamples, "query.max-samples", o.QueryMaxSamples, "Most samples a query may hold in memory at once; more fails it with errorType \"execution\".")
	fs.IntVar(&o.QueryMaxConcurrency, "query.max-concurrency", o.QueryMaxConcurrency, "Most queries running at once; more wait.")
	fs.DurationVar(&o.LookbackDelta, "query.lookback-delta", o.LookbackDelta, "How far back an instant vector selector looks for the latest sample.")
	fs.StringVar(&o.DashboardsDir, "web.dashboards-dir", o.DashboardsDir, "Directory of your own UI dashboards (*.yaml, *.yml, *.json in the format of web/dashboards/README.md), shown beside the built-in ones; a file with a built-in dashboard's id replaces it. Read again on every page load.")
	fs.BoolVar(&o.BuiltinRules, "rules.builtin", o.BuiltinRules, "Evaluate the rules that come with Panoptes (host, containers, Kubernetes, the server's own health; listed in the README) beside the config's rule_files. A group in your rule files with a built-in group's name (panoptes-...) replaces that group.")
	fs.DurationVar(&o.RulesAlertForOutageTolerance, "rules.alert.for-outage-tolerance", o.RulesAlertForOutageTolerance, "Max time to tolerate an outage of the server for restoring the \"for\" state of alerts (from ALERTS_FOR_STATE).")
	fs.DurationVar(&o.RulesAlertForGracePeriod, "rules.alert.for-grace-period", o.RulesAlertForGracePeriod, "Minimum duration between an alert and its restored \"for\" state; kept only for alerts whose \"for\" is longer than the grace period.")
	fs.DurationVar(&o.RulesAlertResendDelay, "rules.alert.resend-delay", o.RulesAlertResendDelay, "Minimum time to wait before sending a firing alert to the Alertmanagers again.")
	fs.Int64Var(&o.RulesMaxConcurrentEvals, "rules.max-concurrent-evals", o.RulesMaxConcurrentEvals, "Most independent rules evaluated at once.")
	fs.BoolVar(&o.KubernetesRules, "rules.kubernetes", o.KubernetesRules, "Also evaluate the rules of the cluster's PrometheusRule objects (monitoring.coreos.com/v1; their spec.groups is a rule file), following their changes, as prometheus-operator does. Without the CRD (deploy/crds: kubectl apply -k deploy/crds) it logs one line and looks again every minute. Needs list/watch on prometheusrules (and namespaces with --rules.kubernetes.namespace-selector).")
	fs.StringVar(&o.Kubernetes.LabelSelector, "rules.kubernetes.selector", o.Kubernetes.LabelSelector, "Label selector on the PrometheusRule objects, as a Prometheus resource's ruleSelector (e.g. role=alert-rules); empty selects all of them.")
	fs.StringVar(&o.Kubernetes.NamespaceSelector, "rules.kubernetes.namespace-selector", o.Kubernetes.NamespaceSelector, "Label selector on namespaces, as ruleNamespaceSelector: only objects in matching namespaces load; empty means every namespace.")
	fs.StringSliceVar(&o.Kubernetes.Namespaces, "rules.kubernetes.namespaces", o.Kubernetes.Namespaces, "Watch only these namespaces (comma-separated; RBAC in them suffices); empty watches all.")
	fs.StringVar(&o.Kubernetes.Kubeconfig, "rules.kubernetes.kubeconfig", o.Kubernetes.Kubeconfig, "Kubeconfig for --rules.kubernetes; empty uses the pod's ServiceAccount (in cluster).")
	fs.BoolVar(&o.KubernetesMonitors, "kubernetes.monitors", o.KubernetesMonitors, "Also scrape what the cluster's ServiceMonitor, PodMonitor and Probe (static targets) objects declare (monitoring.coreos.com/v1), as the jobs prometheus-operator generates (serviceMonitor/<ns>/<name>/<i>, podMonitor/..., probe/<ns>/<name>) appended to the config file's scrape_configs, following their changes. An object that does not convert is logged and left out. Without a CRD (deploy/crds: kubectl apply -k deploy/crds) that kind is off, logged once and looked for again every minute. Needs list/watch on servicemonitors, podmonitors, probes, get on the Secrets and ConfigMaps they name, and the discovery's own RBAC (endpointslices, services, pods).")
	fs.StringVar(&o.Monitors.ServiceMonitorSelector, "kubernetes.monitors.service-monitor-selector", o.Monitors.ServiceMonitorSelector, "Label selector on ServiceMonitors, as a Prometheus resource's serviceMonitorSelector (e.g. release=prod); empty selects all of them.")
	fs.StringVar(&o.Monitors.ServiceMonitorNamespaceSelector, "kubernetes.monitors.service-monitor-namespace-selector", o.Monitors.ServiceMonitorNamespaceSelector, "Label selector on namespaces, as serviceMonitorNamespaceSelector: only ServiceMonitors in matching namespaces apply; empty means every namespace.")
	fs.StringVar(&o.Monitors.PodMonitorSelector, "kubernetes.monitors.pod-monitor-selector", o.Monitors.PodMonitorSelector, "Label selector on PodMonitors, as podMonitorSelector; empty selects all of them.")
	fs.StringVar(&o.Monitors.PodMonitorNamespaceSelector, "kubernetes.monitors.pod-monitor-namespace-selector", o.Monitors.PodMonitorNamespaceSelector, "Label selector on the PodMonitors' namespaces, as podMonitorNamespaceSelector; empty means every namespace.")
	fs.StringVar(&o.Monitors.ProbeSelector, "kubernetes.monitors.probe-selector", o.Monitors.ProbeSelector, "Label selector on Probes, as probeSelector; empty selects all of them.")
	fs.StringVar(&o.Monitors.ProbeNamespaceSelector, "kubernetes.monitors.probe-namespace-selector", o.Monitors.ProbeNamespaceSelector, "Label selector on the Probes' namespaces, as probeNamespaceSelector; empty means every namespace.")
	fs.StringSliceVar(&o.Monitors.Namespaces, "kubernetes.monitors.namespaces", o.Monitors.Namespaces, "Watch the objects of these namespaces only (comma-separated; RBAC in them suffices for the watch); empty watches all. Where the jobs discover targets is each object's namespaceSelector.")
	fs.StringVar(&o.Monitors.Role, "kubernetes.monitors.role", o.Monitors.Role, "Kubernetes discovery role of the ServiceMonitors' jobs: endpointslice (discovery.k8s.io/v1; __meta_kubernetes_endpointslice_* labels) or endpoints (the deprecated v1 Endpoints, prometheus-operator's default).")
	fs.StringVar(&o.Monitors.Kubeconfig, "kubernetes.monitors.kubeconfig", o.Monitors.Kubeconfig, "Kubeconfig for --kubernetes.monitors, used by the watch and by the generated jobs' discovery; empty uses the pod's ServiceAccount (in cluster).")
	fs.IntVar(&o.NotificationQueueCapacity, "alertmanager.notification-queue-capacity", o.NotificationQueueCapacity, "Capacity of the queue of alerts waiting for the Alertmanagers; alerts beyond it are dropped and counted in prometheus_notifications_dropped_total, and evaluation never waits.")
	fs.IntVar(&o.NotificationBatchSize, "alertmanager.notification-batch-size", o.NotificationBatchSize, "Most alerts sent to an Alertmanager in one request.")
	fs.BoolVar(&o.NotificationDrainOnShutdown, "alertmanager.drain-notification-queue-on-shutdown", o.NotificationDrainOnShutdown, "Send the queued alerts before exiting; if false they are dropped.")
	fs.IntVar(&o.GOGC, "runtime.gogc", o.GOGC, "Garbage collection target percentage (GOGC). 50 keeps the heap, and RSS per series, smaller than Prometheus's 75 for a few percent of CPU (bench/server.sh); the GOGC environment variable, when set, takes precedence.")
	for field, flag := range map[string]string{
		"ListenAddress": "web.listen-address", "ExternalURL": "web.external-url", "WebConfigFile": "web.config.file",
		"StoragePath": "storage.tsdb.path", "RetentionTime": "storage.tsdb.retention.time",
		"RetentionSize": "storage.tsdb.retention.size", "MinFreeSpace": "storage.tsdb.min-free-space",
		"QueryTimeout": "query.timeout", "QueryMaxSamples": "query.max-samples",
		"QueryMaxConcurrency": "query.max-concurrency", "LookbackDelta": "query.lookback-delta",
		"GOGC": "runtime.gogc", "BuiltinRules": "rules.builtin",
		"RemoteWriteMaxConcurrentRequests": "web.remote-write-receiver.max-concurrent-requests",
		"ReadTimeout":                      "web.read-timeout", "MaxConnections": "web.max-connections",
		"RulesAlertForOutageTolerance":             "rules.alert.for-outage-tolerance",
		"RulesAlertForGracePeriod":                 "rules.alert.for-grace-period",
		"RulesAlertResendDelay":                    "rules.alert.resend-delay",
		"RulesMaxConcurrentEvals":                  "rules.max-concurrent-evals",
		"NotificationQueueCapacity":                "alertmanager.notification-queue-capacity",
		"NotificationBatchSize":                    "alertmanager.notification-batch-size",
		"Kubernetes.LabelSelector":                 "rules.kubernetes.selector",
		"Kubernetes.NamespaceSelector":             "rules.kubernetes.namespace-selector",
		"Kubernetes.Namespaces":                    "rules.kubernetes.namespaces",
		"Kubernetes.Kubeconfig":                    "rules.kubernetes.kubeconfig",
		"Monitors.ServiceMonitorSelector":          "kubernetes.monitors.service-monitor-selector",
		"Monitors.ServiceMonitorNamespaceSelector": "kubernetes.monitors.service-monitor-namespace-selector",
		"Monitors.PodMonitorSelector":              "kubernetes.monitors.pod-monitor-selector",
		"Monitors.PodMonitorNamespaceSelector":     "kubernetes.monitors.pod-monitor-namespace-selector",
		"Monitors.ProbeSelector":                   "kubernetes.monitors.probe-selector",
		"Monitors.ProbeNamespaceSelector":          "kubernetes.monitors.probe-namespace-selector",
		"Monitors.Namespaces":                      "kubernetes.monitors.namespaces",
		"Monitors.Role":                            "kubernetes.monitors.role",
		"Monitors.Kubeconfig":                      "kubernetes.monitors.kubeconfig",
	} {
		names[prefix+field] = flag
	}
}

// flagValues are every flag's value, for /api/v1/status/flags.
func flagValues(fs *pflag.FlagSet) map[string]string {
	m := map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) { m[f.Name] = f.Value.String() })
	return m
}

// bindAllInOneFlags binds the all-in-one default's flags: the server's and
// the agent's collectors', under their names.
func bindAllInOneFlags(fs *pflag.FlagSet, o *allinone.Options, names flagNames) {
	bindServerFlags(fs, &o.Server, "Server.", names)
	bindCollectorFlags(fs, &o.Collectors, names)
	bindAlertmanagerFlags(fs, &o.Alertmanager, "alertmanager.", "Alertmanager.", names)
	// The built-in Alertmanager is served at /alertmanager of the server's
	// listener, whatever a prefix flag would say.
	_ = fs.MarkHidden("alertmanager.web.route-prefix")
	fs.Lookup("alertmanager.config.file").Usage = "Run the built-in Alertmanager with this alertmanager.yml (route, receivers, inhibit_rules, templates; an existing one works unchanged): served at /alertmanager on this listener (amtool --alertmanager.url=http://127.0.0.1:9090/alertmanager), it receives this server's alerts with no URL to configure. Empty: no built-in Alertmanager."
	fs.Lookup("alertmanager.storage.path").Usage = "Directory of the built-in Alertmanager's silences and notification log; empty: alertmanager/ under --storage.tsdb.path."
	fs.DurationVar(&o.Interval, "collector.interval", o.Interval, "How often this host's collectors and the server's own metrics are collected into the storage (targets of --config.file follow its scrape_interval).")
	names["Interval"] = "collector.interval"
}
