//go:build !agentonly

package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/panoptes-dev/panoptes/internal/alertmanager"
)

func init() { moreRoles = append(moreRoles, newAlertmanagerCommand) }

func newAlertmanagerCommand(logOpts *logOptions) *cobra.Command {
	o := alertmanager.NewOptions()
	names := flagNames{}
	cmd := &cobra.Command{
		Use:   "alertmanager",
		Short: "Route, group, silence and deliver alerts on :9093, compatible with Alertmanager",
		Long: `Receive the alerts of Prometheus or panoptes server, group them, inhibit and
silence them, and deliver them to receivers (webhook, e-mail, Slack,
PagerDuty, Opsgenie, Microsoft Teams, Telegram, ...): Alertmanager's job, on
Alertmanager's own packages (v0.34.1), so an existing alertmanager.yml, its
flags, amtool and Prometheus's alerting configuration work unchanged.
Silences and the notification log are kept in --storage.path (Alertmanager's
snapshot files) and survive a restart.

A config that does not load fails at start with the parser's error; on a
reload (SIGHUP or POST /-/reload) it is rejected as a whole and the running
one stays (alertmanager_config_last_reload_successful says so).

Without --cluster.listen-address (the default here) this runs alone. Two or
more run as one highly available Alertmanager as Alertmanager's do: give
each --cluster.listen-address=:9094 and --cluster.peer=<other>:9094, and
list all of them in Prometheus's alerting.alertmanagers; they gossip
silences and the notification log, and only one sends each notification.

Endpoints, under --web.route-prefix (the path of --web.external-url):
  /api/v2/alerts          GET: the alerts; POST: send alerts (as Prometheus does)
  /api/v2/alerts/groups   the alerts as the route groups them
  /api/v2/silences        GET, POST: silences; /api/v2/silence/<id> GET, DELETE
  /api/v2/receivers       the receivers
  /api/v2/status          the config, the cluster, the version
  /-/reload               POST: reload the config (also on SIGHUP)
  /-/healthy, /-/ready    liveness and readiness
  /metrics                alertmanager_* metrics, Go and process metrics
  /                       a page listing these (there is no Alertmanager UI:
                          Panoptes' UI shows alerts and silences)`,
		Example: `  # An alertmanager.yml that sends everything to a webhook:
  cat > alertmanager.yml <<'YAML'
  route:
    receiver: ops
    group_by: [alertname]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
  receivers:
  - name: ops
    webhook_configs:
    - url: http://127.0.0.1:5001/alerts
  YAML
  panoptes alertmanager --config.file=alertmanager.yml --storage.path=/var/lib/alertmanager

  # amtool works against it:
  amtool alert query --alertmanager.url=http://localhost:9093
  amtool silence add alertname=DiskFull --comment=maintenance --duration=2h \
    --alertmanager.url=http://localhost:9093`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logOpts.logger()
			if err != nil {
				return err
			}
			return names.rename(alertmanager.Run(cmd.Context(), o, logger, nil))
		},
	}
	bindAlertmanagerFlags(cmd.Flags(), o, "", "", names)
	return cmd
}

// bindAlertmanagerFlags binds Alertmanager's flags, under its names after
// flagPrefix ("" for `panoptes alertmanager`, "alertmanager." for the
// all-in-one's --alertmanager.config.file, ...), to o, and records them in
// names, each field after fieldPrefix. The listen address is the
// standalone role's only: an embedded Alertmanager is served on its host's
// listener.
func bindAlertmanagerFlags(fs *pflag.FlagSet, o *alertmanager.Options, flagPrefix, fieldPrefix string, names flagNames) {
	flags := map[string]string{}
	bind := func(field, flag string) string {
		flags[field] = flagPrefix + flag
		return flagPrefix + flag
	}
	fs.StringVar(&o.ConfigFile, bind("ConfigFile", "config.file"), o.ConfigFile, "Alertmanager configuration file (route, receivers, inhibit_rules, time_intervals, templates); an existing alertmanager.yml works unchanged.")
	fs.StringVar(&o.StoragePath, bind("StoragePath", "storage.path"), o.StoragePath, "Directory of the silences and the notification log (Alertmanager's snapshot files, written every --data.maintenance-interval and at shutdown).")
	fs.DurationVar(&o.Retention, bind("Retention", "data.retention"), o.Retention, "How long to keep silences and notification log entries after they expire.")
	fs.DurationVar(&o.MaintenanceInterval, bind("MaintenanceInterval", "data.maintenance-interval"), o.MaintenanceInterval, "Interval between garbage collection and snapshotting to disk of the silences and the notification log.")
	fs.IntVar(&o.MaxSilences, bind("MaxSilences", "silences.max-silences"), o.MaxSilences, "Most silences, expired ones included; 0 means no limit.")
	fs.IntVar(&o.MaxSilenceSizeBytes, bind("MaxSilenceSizeBytes", "silences.max-silence-size-bytes"), o.MaxSilenceSizeBytes, "Largest silence in bytes; 0 means no limit.")
	fs.BoolVar(&o.LogSilences, bind("LogSilences", "log.silences"), o.LogSilences, "Log every change of a silence's state.")
	fs.DurationVar(&o.AlertGCInterval, bind("AlertGCInterval", "alerts.gc-interval"), o.AlertGCInterval, "Interval between garbage collections of resolved alerts.")
	fs.IntVar(&o.PerAlertnameLimit, bind("PerAlertnameLimit", "alerts.per-alertname-limit"), o.PerAlertnameLimit, "Most alerts of one alertname; 0 means no limit.")
	fs.DurationVar(&o.DispatchMaintenanceInterval, bind("DispatchMaintenanceInterval", "dispatch.maintenance-interval"), o.DispatchMaintenanceInterval, "Interval between maintenance of aggregation groups in the dispatcher.")
	fs.DurationVar(&o.DispatchStartDelay, bind("DispatchStartDelay", "dispatch.start-delay"), o.DispatchStartDelay, "Least time to wait after start before dispatching alerts; keep it in step with the server's --rules.alert.resend-delay.")
	fs.StringVar(&o.EnableFeatures, bind("EnableFeatures", "enable-feature"), o.EnableFeatures, "Comma-separated experimental features of Alertmanager (receiver-name-in-metrics, classic-mode, utf8-strict-mode, ...).")
	if flagPrefix == "" {
		fs.StringVar(&o.ListenAddress, bind("ListenAddress", "web.listen-address"), o.ListenAddress, "Address to serve the API on.")
		fs.StringVar(&o.WebConfigFile, bind("WebConfigFile", "web.config.file"), o.WebConfigFile, "Path to a configuration file that can enable TLS or authentication (exporter-toolkit format; see https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md). Applies to every route, /-/healthy and /-/ready included, as in Alertmanager. Empty serves plain HTTP.")
	}
	fs.StringVar(&o.ExternalURL, bind("ExternalURL", "web.external-url"), o.ExternalURL, "URL under which the Alertmanager is reached from outside (the links in notifications); its path is the default route prefix. Empty: http://<hostname>:<port>/.")
	fs.StringVar(&o.RoutePrefix, bind("RoutePrefix", "web.route-prefix"), o.RoutePrefix, "Path prefix of every endpoint. Default: the path of --web.external-url.")
	fs.IntVar(&o.GetConcurrency, bind("GetConcurrency", "web.get-concurrency"), o.GetConcurrency, "Most GET requests served at once; 0 means GOMAXPROCS or 8, whichever is larger.")
	fs.DurationVar(&o.HTTPTimeout, bind("HTTPTimeout", "web.timeout"), o.HTTPTimeout, "Timeout of HTTP requests; 0 means none.")
	fs.StringVar(&o.ClusterListenAddress, bind("ClusterListenAddress", "cluster.listen-address"), o.ClusterListenAddress, "Address (host:port) of the cluster's gossip, e.g. 0.0.0.0:9094. Empty (the default here; Alertmanager's is 0.0.0.0:9094) runs alone.")
	fs.StringVar(&o.ClusterAdvertiseAddress, bind("ClusterAdvertiseAddress", "cluster.advertise-address"), o.ClusterAdvertiseAddress, "Address announced to the other members.")
	fs.StringArrayVar(&o.ClusterPeers, bind("ClusterPeers", "cluster.peer"), o.ClusterPeers, "Initial member to join (host:port; repeat the flag for more).")
	fs.StringVar(&o.ClusterPeerName, bind("ClusterPeerName", "cluster.peer-name"), o.ClusterPeerName, "Name of this member; empty makes up one.")
	fs.DurationVar(&o.ClusterPeerTimeout, bind("ClusterPeerTimeout", "cluster.peer-timeout"), o.ClusterPeerTimeout, "Time each member waits, times its position, before sending a notification the others may have sent.")
	fs.DurationVar(&o.ClusterGossipInterval, bind("ClusterGossipInterval", "cluster.gossip-interval"), o.ClusterGossipInterval, "Interval between gossip messages.")
	fs.DurationVar(&o.ClusterPushPullInterval, bind("ClusterPushPullInterval", "cluster.pushpull-interval"), o.ClusterPushPullInterval, "Interval between full state syncs.")
	fs.DurationVar(&o.ClusterSettleTimeout, bind("ClusterSettleTimeout", "cluster.settle-timeout"), o.ClusterSettleTimeout, "Longest wait for the cluster to settle before notifications go out.")
	fs.DurationVar(&o.ClusterReconnectInterval, bind("ClusterReconnectInterval", "cluster.reconnect-interval"), o.ClusterReconnectInterval, "Interval between attempts to reconnect to a lost member.")
	fs.DurationVar(&o.ClusterReconnectTimeout, bind("ClusterReconnectTimeout", "cluster.reconnect-timeout"), o.ClusterReconnectTimeout, "How long a lost member is tried again.")
	fs.StringVar(&o.ClusterLabel, bind("ClusterLabel", "cluster.label"), o.ClusterLabel, "Label sent with every gossip message; members with another label are ignored.")
	for field, flag := range flags {
		names[fieldPrefix+field] = flag
	}
}
