package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/panoptes-dev/panoptes/internal/agent"
	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/collector/host"
)

// agentOptions holds the agent's flags; node_exporter's names are kept so that
// an existing DaemonSet's arguments work unchanged.
type agentOptions struct {
	agent           agent.Config
	host            host.Config
	disableDefaults bool
	gomaxprocs      int
	gogc            int
	containers      containerOptions
	enable, disable map[string]*bool
	// kubelet serves the kubelet-shaped endpoints over HTTPS too
	// (--kubelet-address), for `panoptes metrics-api --source=agents`.
	kubelet agent.KubeletConfig
}

func newAgentCommand(logOpts *logOptions) *cobra.Command {
	o := &agentOptions{
		host:    host.DefaultConfig(),
		enable:  map[string]*bool{},
		disable: map[string]*bool{},
	}
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
			if o.gomaxprocs > 0 {
				runtime.GOMAXPROCS(o.gomaxprocs)
			}
			if _, set := os.LookupEnv("GOGC"); !set && o.gogc > 0 {
				debug.SetGCPercent(o.gogc)
			}
			var names []string
			o.agent.Collectors, names, o.agent.Own, o.agent.Handlers, err = o.buildCollectors(cmd.Flags(), logger)
			if err != nil {
				return err
			}
			a, err := agent.New(o.agent, logger)
			if err != nil {
				return err
			}
			logger.Info("starting panoptes agent", "collectors", strings.Join(names, ","),
				"procfs", o.host.ProcRoot, "sysfs", o.host.SysRoot, "rootfs", o.host.RootFS)
			if o.kubelet.Address == "" {
				return a.Run(cmd.Context(), func(addr net.Addr) {
					logger.Info("listening", "address", addr.String(), "metrics", o.agent.MetricsPath)
				})
			}
			return o.runWithKubelet(cmd.Context(), a, logger)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *agentOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.agent.Listen, "listen", ":9100", "Address to serve metrics on. The default listens on every interface, as node_exporter does, because Prometheus scrapes it from another host; use 127.0.0.1:9100 to keep it local.")
	fs.StringVar(&o.agent.Listen, "web.listen-address", ":9100", "Alias of --listen, node_exporter's name.")
	_ = fs.MarkHidden("web.listen-address")
	fs.StringVar(&o.agent.MetricsPath, "web.telemetry-path", "/metrics", "Path under which to expose metrics.")
	fs.IntVar(&o.agent.MaxRequests, "web.max-requests", 40, "Maximum number of concurrent scrapes; more get HTTP 503. 0 means no limit.")
	fs.BoolVar(&o.agent.DisableExporterMetrics, "web.disable-exporter-metrics", false, "Leave out the metrics about the agent itself (go_*, process_*, promhttp_*, panoptes_build_info).")

	fs.IntVar(&o.gomaxprocs, "runtime.gomaxprocs", 1, "How many CPUs the Go runtime may run on at once (GOMAXPROCS). The collectors wait on the kernel more than they compute, and one keeps the agent's footprint on a busy node small, as node_exporter does; 0 keeps Go's default (all CPUs).")

	fs.StringVar(&o.kubelet.Address, "kubelet-address", "", "Also serve the kubelet-shaped endpoints (/metrics/resource, /stats/summary) over HTTPS on this HOST:PORT, as a kubelet does on :10250, for `panoptes metrics-api --source=agents` or metrics-server. Needs the container collector.")
	fs.StringVar(&o.kubelet.CertFile, "tls-cert-file", "", "Serving certificate of --kubelet-address (PEM); a self-signed one is made when empty.")
	fs.StringVar(&o.kubelet.KeyFile, "tls-private-key-file", "", "Private key of --tls-cert-file (PEM).")

	fs.IntVar(&o.gogc, "runtime.gogc", 60, "Garbage collection target percentage (GOGC): lower keeps the heap, and so the agent's memory on every node, smaller at some CPU cost; 100 is Go's default. The GOGC environment variable, when set, takes precedence.")
	o.addCollectorFlags(fs)
}

// addCollectorFlags adds the flags that choose and configure collectors,
// shared by the agent and the all-in-one default.
func (o *agentOptions) addCollectorFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.agent.CollectorTimeout, "collector.timeout", 8*time.Second, "Cut off a collector that has not finished after this long (a hung NFS mount); it reports node_scrape_collector_success 0. 0 disables the timeout.")
	fs.StringVar(&o.host.ProcRoot, "path.procfs", o.host.ProcRoot, "procfs mount point (the host's /proc, e.g. /host/proc in a container).")
	fs.StringVar(&o.host.SysRoot, "path.sysfs", o.host.SysRoot, "sysfs mount point (the host's /sys).")
	fs.StringVar(&o.host.RootFS, "path.rootfs", o.host.RootFS, "Root file system mount point (the host's /), used by the filesystem and os collectors.")

	fs.StringVar(&o.host.Filesystem.MountPointsExclude, "collector.filesystem.mount-points-exclude", o.host.Filesystem.MountPointsExclude, "Regexp of mount points to leave out of the filesystem collector.")
	fs.StringVar(&o.host.Filesystem.FSTypesExclude, "collector.filesystem.fs-types-exclude", o.host.Filesystem.FSTypesExclude, "Regexp of file system types to leave out of the filesystem collector.")
	fs.DurationVar(&o.host.Filesystem.MountTimeout, "collector.filesystem.mount-timeout", o.host.Filesystem.MountTimeout, "How long statfs may block on one mount before it is reported with node_filesystem_device_error 1 and skipped until it answers.")
	fs.StringVar(&o.host.Diskstats.DeviceExclude, "collector.diskstats.device-exclude", o.host.Diskstats.DeviceExclude, "Regexp of block devices to leave out of the diskstats collector.")
	fs.StringVar(&o.host.Diskstats.DeviceInclude, "collector.diskstats.device-include", "", "Regexp of block devices to keep in the diskstats collector (excludes all others; cannot be combined with a non-default --collector.diskstats.device-exclude).")
	fs.StringVar(&o.host.Netdev.DeviceExclude, "collector.netdev.device-exclude", o.host.Netdev.DeviceExclude, "Regexp of network devices to leave out of the netdev collector.")
	fs.StringVar(&o.host.Netdev.DeviceInclude, "collector.netdev.device-include", "", "Regexp of network devices to keep in the netdev collector (excludes all others).")
	fs.StringVar(&o.host.Netstat.Fields, "collector.netstat.fields", o.host.Netstat.Fields, "Regexp of /proc/net/{netstat,snmp,snmp6} fields (Protocol_Field) to report.")
	fs.StringVar(&o.host.Vmstat.Fields, "collector.vmstat.fields", o.host.Vmstat.Fields, "Regexp of /proc/vmstat fields to report.")

	o.containers.addFlags(fs)
	fs.BoolVar(&o.disableDefaults, "collector.disable-defaults", false, "Disable every collector that is not explicitly enabled with --collector.<name>.")
	for _, info := range host.Collectors() {
		o.enable[info.Name] = fs.Bool("collector."+info.Name, info.DefaultEnabled, fmt.Sprintf("Enable the %s collector.", info.Name))
		o.disable[info.Name] = fs.Bool("no-collector."+info.Name, false, fmt.Sprintf("Disable the %s collector.", info.Name))
	}
}

// buildCollectors resolves the collector flags into the collectors to run,
// their names, the metrics about them and the container collector's
// kubelet-shaped routes.
func (o *agentOptions) buildCollectors(fs *pflag.FlagSet, logger *slog.Logger) ([]collector.Named, []string, []prometheus.Collector, map[string]http.Handler, error) {
	names, err := o.enabledCollectors(fs)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	named, err := host.New(names, o.host, logger)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var own []prometheus.Collector
	var routes map[string]http.Handler
	if c, errs, r := o.containers.build(o.host.ProcRoot, o.host.SysRoot, o.host.RootFS, logger); c != nil {
		named = append(named, *c)
		own, routes = errs, r
		names = append(names, c.Name)
	}
	return named, names, own, routes, nil
}

// enabledCollectors resolves the --collector.* flags into a list of names.
func (o *agentOptions) enabledCollectors(fs *pflag.FlagSet) ([]string, error) {
	// Diskstats and netdev take either an include or an exclude pattern; an
	// include given alone replaces the default exclude, as in node_exporter.
	if fs.Changed("collector.diskstats.device-include") && !fs.Changed("collector.diskstats.device-exclude") {
		o.host.Diskstats.DeviceExclude = ""
	}
	if fs.Changed("collector.netdev.device-include") && !fs.Changed("collector.netdev.device-exclude") {
		o.host.Netdev.DeviceExclude = ""
	}
	var names []string
	for _, info := range host.Collectors() {
		on := info.DefaultEnabled && !o.disableDefaults
		if fs.Changed("collector." + info.Name) {
			on = *o.enable[info.Name]
		}
		if *o.disable[info.Name] {
			if fs.Changed("collector."+info.Name) && *o.enable[info.Name] {
				return nil, fmt.Errorf("--collector.%[1]s and --no-collector.%[1]s contradict each other", info.Name)
			}
			on = false
		}
		if on {
			names = append(names, info.Name)
		}
	}
	if o.disableDefaults && !fs.Changed("collector.container") {
		o.containers.enabled = false
	}
	if o.containers.enabled && o.containers.disabled && fs.Changed("collector.container") {
		return nil, fmt.Errorf("--collector.container and --no-collector.container contradict each other")
	}
	if len(names) == 0 && (!o.containers.enabled || o.containers.disabled) {
		return nil, fmt.Errorf("no collector is enabled: name at least one with --collector.<name>")
	}
	return names, nil
}

// runWithKubelet runs the agent and its HTTPS kubelet endpoints together;
// either failing stops both.
func (o *agentOptions) runWithKubelet(ctx context.Context, a *agent.Agent, logger *slog.Logger) error {
	o.kubelet.Handlers = o.agent.Handlers
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() {
		errc <- a.Run(ctx, func(addr net.Addr) {
			logger.Info("listening", "address", addr.String(), "metrics", o.agent.MetricsPath)
		})
	}()
	go func() {
		errc <- agent.ServeKubelet(ctx, o.kubelet, logger, func(addr net.Addr) {
			logger.Info("listening for kubelet-shaped endpoints over TLS", "kubelet_address", addr.String())
		})
	}()
	err := <-errc
	cancel()
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}
