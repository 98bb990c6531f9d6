package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/panoptes-dev/panoptes/internal/agent"
	"github.com/panoptes-dev/panoptes/internal/collector/host"
)

func newAgentCommand(logOpts *logOptions) *cobra.Command {
	o := agent.NewOptions()
	o.Kubelet.NewGuard = newKubeletGuard
	names := flagNames{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Serve this host's metrics on :9100, compatible with node_exporter",
		Long: `Serve this host's metrics for Prometheus to scrape, with node_exporter's metric
names, labels, types and HELP, so dashboards and alert rules written for
node_exporter work unchanged. Run it on every node (a DaemonSet in Kubernetes,
with the host's /proc, /sys and / mounted and --path.* pointing at them).

Endpoints:
  /metrics   metrics (gzip and OpenMetrics negotiated; ?collect[]=cpu or
             ?exclude[]=filesystem select collectors, as in node_exporter)
  /healthz   liveness
  /readyz    readiness

Each collector is switched with --collector.<name> / --no-collector.<name>;
each runs concurrently on every scrape, and one that fails or hangs past
--collector.timeout reports node_scrape_collector_success 0 without holding
back the others.`,
		Example: `  # Serve on the node_exporter port, all default collectors:
  panoptes agent

  # In a container, with the host mounted under /host:
  panoptes agent --path.procfs=/host/proc --path.sysfs=/host/sys --path.rootfs=/host/root

  # Only CPU and memory, on loopback:
  panoptes agent --listen=127.0.0.1:9100 --collector.disable-defaults --collector.cpu --collector.meminfo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logOpts.logger()
			if err != nil {
				return err
			}
			return names.rename(agent.Run(cmd.Context(), o, logger))
		},
	}
	bindAgentFlags(cmd.Flags(), o, names)
	return cmd
}

// bindAgentFlags binds the agent's flags, node_exporter's names, to o and
// records them in names.
func bindAgentFlags(fs *pflag.FlagSet, o *agent.Options, names flagNames) {
	fs.StringVar(&o.Listen, "listen", o.Listen, "Address to serve metrics on. The default listens on every interface, as node_exporter does, because Prometheus scrapes it from another host; use 127.0.0.1:9100 to keep it local.")
	fs.StringVar(&o.Listen, "web.listen-address", o.Listen, "Alias of --listen, node_exporter's name.")
	_ = fs.MarkHidden("web.listen-address")
	fs.StringVar(&o.MetricsPath, "web.telemetry-path", o.MetricsPath, "Path under which to expose metrics.")
	fs.StringVar(&o.WebConfigFile, "web.config.file", o.WebConfigFile, "Path to a configuration file that can enable TLS or authentication (exporter-toolkit format; see https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md). Applies to every route of --listen, /healthz and /readyz included; empty serves plain HTTP.")
	fs.IntVar(&o.MaxRequests, "web.max-requests", o.MaxRequests, "Maximum number of concurrent requests on every route but /healthz and /readyz (scrapes, /stats/summary, /metrics/resource), on each listener; more get HTTP 503. 0 means no limit.")
	fs.BoolVar(&o.DisableExporterMetrics, "web.disable-exporter-metrics", o.DisableExporterMetrics, "Leave out the metrics about the agent itself (go_*, process_*, promhttp_*, panoptes_build_info, node_exporter_build_info).")

	fs.IntVar(&o.GOMAXPROCS, "runtime.gomaxprocs", o.GOMAXPROCS, "How many CPUs the Go runtime may run on at once (GOMAXPROCS). The collectors wait on the kernel more than they compute, and one keeps the agent's footprint on a busy node small, as node_exporter does; 0 keeps Go's default (all CPUs).")

	fs.StringVar(&o.Kubelet.Address, "kubelet-address", o.Kubelet.Address, "Also serve the kubelet-shaped endpoints (/metrics/resource, /stats/summary) over HTTPS on this HOST:PORT, as a kubelet does on :10250, for panoptes metrics-api --source=agents or metrics-server. Needs the container collector.")
	fs.StringVar(&o.Kubelet.CertFile, "tls-cert-file", o.Kubelet.CertFile, "Serving certificate of --kubelet-address (PEM); a self-signed one is made when empty.")
	fs.StringVar(&o.Kubelet.KeyFile, "tls-private-key-file", o.Kubelet.KeyFile, "Private key of --tls-cert-file (PEM).")
	bindKubeletAuthFlags(fs, &o.Kubelet.Auth, names)
	fs.BoolVar(&o.EnableKubeletEndpointsOnListen, "web.enable-kubelet-endpoints", o.EnableKubeletEndpointsOnListen, "Also serve /metrics/resource and /stats/summary on --listen, WITHOUT Kubernetes authentication (they list every pod on the node): for `panoptes top --agent` on a host without Kubernetes. --kubelet-address serves them with the kubelet's authentication and authorization.")

	fs.IntVar(&o.GOGC, "runtime.gogc", o.GOGC, "Garbage collection target percentage (GOGC): lower keeps the heap, and so the agent's memory on every node, smaller at some CPU cost; 100 is Go's default. The GOGC environment variable, when set, takes precedence.")
	for field, flag := range map[string]string{
		"Listen": "listen", "MetricsPath": "web.telemetry-path", "MaxRequests": "web.max-requests", "WebConfigFile": "web.config.file",
		"GOMAXPROCS": "runtime.gomaxprocs", "GOGC": "runtime.gogc",
		"Kubelet.Address": "kubelet-address", "Kubelet.CertFile": "tls-cert-file", "Kubelet.KeyFile": "tls-private-key-file",
	} {
		names[field] = flag
	}
	bindCollectorFlags(fs, &o.Collectors, names)
}

// bindKubeletAuthFlags binds the kubelet's authentication and authorization
// flags of --kubelet-address, with the kubelet's names.
func bindKubeletAuthFlags(fs *pflag.FlagSet, o *agent.KubeletAuthOptions, names flagNames) {
	fs.BoolVar(&o.Anonymous, "anonymous-auth", o.Anonymous, "Let requests to --kubelet-address without accepted credentials through as system:anonymous (group system:unauthenticated), to be authorized as such. Off by default, unlike the kubelet's flag.")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "CA bundle (PEM) of --kubelet-address's clients: a client certificate it signed authenticates as its CommonName, with its Organizations as groups.")
	fs.BoolVar(&o.TokenWebhook, "authentication-token-webhook", o.TokenWebhook, "Check bearer tokens sent to --kubelet-address with a TokenReview to the API server (the agent's service account needs system:auth-delegator).")
	fs.DurationVar(&o.TokenWebhookCacheTTL, "authentication-token-webhook-cache-ttl", o.TokenWebhookCacheTTL, "How long a TokenReview's answer is kept.")
	fs.StringVar(&o.AuthorizationMode, "authorization-mode", o.AuthorizationMode, "How requests to --kubelet-address are authorized: Webhook (a SubjectAccessReview for get on nodes/metrics or nodes/stats of --node-name, as the kubelet asks) or AlwaysAllow (any authenticated client).")
	fs.DurationVar(&o.AuthorizedTTL, "authorization-webhook-cache-authorized-ttl", o.AuthorizedTTL, "How long a SubjectAccessReview's allow is kept.")
	fs.DurationVar(&o.UnauthorizedTTL, "authorization-webhook-cache-unauthorized-ttl", o.UnauthorizedTTL, "How long a SubjectAccessReview's deny is kept.")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the API server the reviews go to, and of the agent's credentials; empty uses the in-cluster service account.")
	for field, flag := range map[string]string{
		"AuthorizationMode": "authorization-mode", "TokenWebhook": "authentication-token-webhook",
		"TokenWebhookCacheTTL": "authentication-token-webhook-cache-ttl",
		"AuthorizedTTL":        "authorization-webhook-cache-authorized-ttl", "UnauthorizedTTL": "authorization-webhook-cache-unauthorized-ttl",
	} {
		names["Kubelet.Auth."+field] = flag
	}
}

// bindCollectorFlags binds the flags that choose and configure collectors,
// shared by the agent and the all-in-one default, to o, and records them in
// names under "Collectors.".
func bindCollectorFlags(fs *pflag.FlagSet, o *agent.CollectorOptions, names flagNames) {
	fs.DurationVar(&o.Timeout, "collector.timeout", o.Timeout, "Cut off a collector that has not finished after this long (a hung NFS mount); it reports node_scrape_collector_success 0. 0 disables the timeout.")
	fs.StringVar(&o.Host.ProcRoot, "path.procfs", o.Host.ProcRoot, "procfs mount point (the host's /proc, e.g. /host/proc in a container).")
	fs.StringVar(&o.Host.SysRoot, "path.sysfs", o.Host.SysRoot, "sysfs mount point (the host's /sys).")
	fs.StringVar(&o.Host.RootFS, "path.rootfs", o.Host.RootFS, "Root file system mount point (the host's /), used by the filesystem and os collectors.")

	fs.StringVar(&o.Host.Filesystem.MountPointsExclude, "collector.filesystem.mount-points-exclude", o.Host.Filesystem.MountPointsExclude, "Regexp of mount points to leave out of the filesystem collector.")
	fs.StringVar(&o.Host.Filesystem.FSTypesExclude, "collector.filesystem.fs-types-exclude", o.Host.Filesystem.FSTypesExclude, "Regexp of file system types to leave out of the filesystem collector.")
	fs.DurationVar(&o.Host.Filesystem.MountTimeout, "collector.filesystem.mount-timeout", o.Host.Filesystem.MountTimeout, "How long statfs may block on one mount before it is reported with node_filesystem_device_error 1 and skipped until it answers.")
	fs.StringVar(&o.Host.Diskstats.DeviceExclude, "collector.diskstats.device-exclude", o.Host.Diskstats.DeviceExclude, "Regexp of block devices to leave out of the diskstats collector.")
	fs.StringVar(&o.Host.Diskstats.DeviceInclude, "collector.diskstats.device-include", o.Host.Diskstats.DeviceInclude, "Regexp of block devices to keep in the diskstats collector (excludes all others; cannot be combined with a non-default --collector.diskstats.device-exclude).")
	fs.StringVar(&o.Host.Netdev.DeviceExclude, "collector.netdev.device-exclude", o.Host.Netdev.DeviceExclude, "Regexp of network devices to leave out of the netdev collector.")
	fs.StringVar(&o.Host.Netdev.DeviceInclude, "collector.netdev.device-include", o.Host.Netdev.DeviceInclude, "Regexp of network devices to keep in the netdev collector (excludes all others).")
	fs.StringVar(&o.Host.Netstat.Fields, "collector.netstat.fields", o.Host.Netstat.Fields, "Regexp of /proc/net/{netstat,snmp,snmp6} fields (Protocol_Field) to report.")
	fs.StringVar(&o.Host.Vmstat.Fields, "collector.vmstat.fields", o.Host.Vmstat.Fields, "Regexp of /proc/vmstat fields to report.")
	fs.StringVar(&o.Host.Arp.DeviceInclude, "collector.arp.device-include", o.Host.Arp.DeviceInclude, "Regexp of devices whose ARP entries are counted (excludes all others; cannot be combined with --collector.arp.device-exclude).")
	fs.StringVar(&o.Host.Arp.DeviceExclude, "collector.arp.device-exclude", o.Host.Arp.DeviceExclude, "Regexp of devices whose ARP entries are not counted (cannot be combined with --collector.arp.device-include).")
	fs.StringVar(&o.Host.Netclass.IgnoredDevices, "collector.netclass.ignored-devices", o.Host.Netclass.IgnoredDevices, "Regexp of network devices to leave out of the netclass collector (node_network_info, _up, _speed_bytes, ...).")
	fs.BoolVar(&o.Host.Netclass.IgnoreInvalidSpeed, "collector.netclass.ignore-invalid-speed", o.Host.Netclass.IgnoreInvalidSpeed, "Leave out node_network_speed_bytes of devices whose speed is unknown (-1: virtual NICs, links that are down) instead of reporting -125000, as node_exporter 2.x will.")
	fs.StringVar(&o.Host.IPVS.BackendLabels, "collector.ipvs.backend-labels", o.Host.IPVS.BackendLabels, "Comma-separated labels of the node_ipvs_backend_* series, from local_address, local_port, remote_address, remote_port, proto, local_mark; backends that differ only in the labels left out are summed.")
	fs.StringVar(&o.Host.Ethtool.DeviceInclude, "collector.ethtool.device-include", o.Host.Ethtool.DeviceInclude, "Regexp of network devices the ethtool collector asks (excludes all others; cannot be combined with --collector.ethtool.device-exclude).")
	fs.StringVar(&o.Host.Ethtool.DeviceExclude, "collector.ethtool.device-exclude", o.Host.Ethtool.DeviceExclude, "Regexp of network devices the ethtool collector leaves out (cannot be combined with --collector.ethtool.device-include).")
	fs.StringVar(&o.Host.Ethtool.MetricsInclude, "collector.ethtool.metrics-include", o.Host.Ethtool.MetricsInclude, "Regexp of driver statistic names (as ethtool -S prints them) the ethtool collector reports.")
	fs.StringVar(&o.Host.Tapestats.IgnoredDevices, "collector.tapestats.ignored-devices", o.Host.Tapestats.IgnoredDevices, "Regexp of SCSI tape devices (st0, st1, ...) to leave out of the tapestats collector.")
	fs.StringVar(&o.Host.Systemd.UnitInclude, "collector.systemd.unit-include", o.Host.Systemd.UnitInclude, "Regexp of systemd units to report; a unit must match it and not match --collector.systemd.unit-exclude.")
	fs.StringVar(&o.Host.Systemd.UnitExclude, "collector.systemd.unit-exclude", o.Host.Systemd.UnitExclude, "Regexp of systemd units to leave out (node_systemd_units still counts them).")
	fs.BoolVar(&o.Host.Systemd.EnableTaskMetrics, "collector.systemd.enable-task-metrics", o.Host.Systemd.EnableTaskMetrics, "Also report node_systemd_unit_tasks_current and _max per service (one D-Bus call each per scrape).")
	fs.BoolVar(&o.Host.Systemd.EnableRestartsMetrics, "collector.systemd.enable-restarts-metrics", o.Host.Systemd.EnableRestartsMetrics, "Also report node_systemd_service_restart_total per service.")
	fs.BoolVar(&o.Host.Systemd.EnableStartTimeMetrics, "collector.systemd.enable-start-time-metrics", o.Host.Systemd.EnableStartTimeMetrics, "Also report node_systemd_unit_start_time_seconds per unit.")
	fs.StringArrayVar(&o.Host.Textfile.Directories, "collector.textfile.directory", o.Host.Textfile.Directories, "Directory to read *.prom text files with metrics from (cron jobs, scripts); a glob matches several. Repeat the flag for more directories, as node_exporter 1.6+ allows. Files over 16 MiB are refused with node_textfile_scrape_error 1. Not given, the all-in-one reads ./textfile when it exists.")
	fs.BoolVar(&o.Host.Bcache.PriorityStats, "collector.bcache.priorityStats", o.Host.Bcache.PriorityStats, "Also report each bcache cache device's priority_stats (unused and metadata percent); reading it makes the kernel walk every bucket, which is slow on large caches.")
	fs.StringVar(&o.Host.PowerSupplyClass.IgnoredSupplies, "collector.powersupply.ignored-supplies", o.Host.PowerSupplyClass.IgnoredSupplies, "Regexp of power supplies (/sys/class/power_supply entries: AC, BAT0, ...) to leave out of the powersupplyclass collector.")
	fs.BoolVar(&o.Host.Rapl.EnableZoneLabel, "collector.rapl.enable-zone-label", o.Host.Rapl.EnableZoneLabel, "Report RAPL energy as one family, node_rapl_joules_total, with the zone (package, dram, ...) in a rapl_zone label, instead of one node_rapl_<zone>_joules_total family per zone.")

	choice(fs, o.Enable, agent.ContainerName, "collector.container", true, "Report containers, pods and systemd services from the cgroup hierarchy with cAdvisor's metric names (container_*, machine_*), and serve the kubelet's /metrics/resource and /stats/summary. Reports no data on a host without cgroups.")
	choice(fs, o.Disable, agent.ContainerName, "no-collector.container", false, "Disable the container collector and the kubelet-shaped endpoints.")
	fs.BoolVar(&o.Container.AllCgroups, "collector.container.all-cgroups", o.Container.AllCgroups, "Report every cgroup, not only the root, pods, containers and services (more series).")
	fs.StringVar(&o.Container.CRIEndpoint, "container-runtime-endpoint", o.Container.CRIEndpoint, "CRI socket that names containers (pod, namespace, container, image); empty tries containerd's and then CRI-O's socket under --path.rootfs. Without an answering runtime, containers are named by their ID from the cgroup path.")
	fs.DurationVar(&o.Container.CRITimeout, "container-runtime-timeout", o.Container.CRITimeout, "Longest a CRI call may take; a slow or dead runtime never holds a scrape longer.")
	fs.StringVar(&o.Container.NodeName, "node-name", o.Container.NodeName, "This node's name, as /stats/summary reports it.")
	fs.DurationVar(&o.Container.FsUsagePeriod, "volume-stats-agg-period", o.Container.FsUsagePeriod, "How often to measure the containers' disk use (the runtime's writable layers over CRI, and a du of each container's log directory under /var/log/pods), as the kubelet's flag of this name does for volumes; scrapes serve the last measurement (container_fs_*, /stats/summary rootfs, logs, ephemeral-storage). A negative value turns it off.")
	fs.BoolVar(&o.DisableDefaults, "collector.disable-defaults", o.DisableDefaults, "Disable every collector that is not explicitly enabled with --collector.<name>.")
	for _, info := range host.Collectors() {
		choice(fs, o.Enable, info.Name, "collector."+info.Name, info.DefaultEnabled, fmt.Sprintf("Enable the %s collector.", info.Name))
		choice(fs, o.Disable, info.Name, "no-collector."+info.Name, false, fmt.Sprintf("Disable the %s collector.", info.Name))
		names["Collectors.Disable."+info.Name] = "no-collector." + info.Name
	}
	names["Collectors.Disable."+agent.ContainerName] = "no-collector." + agent.ContainerName
	for field, flag := range map[string]string{
		"Collectors.Timeout": "collector.timeout", "Collectors.Enable": "collector.<name>",
		"Collectors.Container.CRITimeout":    "container-runtime-timeout",
		"Collectors.Container.FsUsagePeriod": "volume-stats-agg-period",
	} {
		names[field] = flag
	}
}

// choice binds a boolean flag that, when given, records its value in
// m[name]; not given, m has no entry and the collector keeps its default
// (--collector.disable-defaults turns off those not given).
func choice(fs *pflag.FlagSet, m map[string]bool, name, flag string, byDefault bool, usage string) {
	fs.VarPF(choiceValue{m: m, name: name, byDefault: byDefault}, flag, "", usage).NoOptDefVal = "true"
}

type choiceValue struct {
	m         map[string]bool
	name      string
	byDefault bool
}

func (c choiceValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	c.m[c.name] = v
	return nil
}

func (c choiceValue) String() string {
	if v, ok := c.m[c.name]; ok {
		return strconv.FormatBool(v)
	}
	return strconv.FormatBool(c.byDefault)
}

func (c choiceValue) Type() string     { return "bool" }
func (c choiceValue) IsBoolFlag() bool { return true }
